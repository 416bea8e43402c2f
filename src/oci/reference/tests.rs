use super::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn oci_urls_parse_with_tag_digest_or_neither() {
    let r = Reference::parse_oci_url("oci://127.0.0.1:5000/team/platform:v1.2.0").unwrap();
    assert_eq!(r.registry, "127.0.0.1:5000");
    assert_eq!(r.repository, "team/platform");
    assert_eq!(r.tag.as_deref(), Some("v1.2.0"));
    assert!(r.is_loopback());
    let r = Reference::parse_oci_url(&format!("oci://reg.example/p@{D}")).unwrap();
    assert_eq!(r.digest.as_deref(), Some(D));
    assert_eq!(r.tag, None);
    assert!(!r.is_loopback());
    let r = Reference::parse_oci_url("oci://localhost:5000/p").unwrap();
    assert_eq!(r.tag.as_deref(), Some("latest"));
    assert!(r.is_loopback());
    let r = Reference::parse_oci_url("oci://[::1]:5000/p:t").unwrap();
    assert_eq!(r.host(), "::1");
    assert!(r.is_loopback());
    assert_eq!(r.to_oci_url(), "oci://[::1]:5000/p:t");
}

#[test]
fn hostile_references_are_refused() {
    for bad in [
        "127.0.0.1:5000/p:t",
        "oci://127.0.0.1:5000",
        "oci://127.0.0.1:5000/../etc:t",
        "oci://127.0.0.1:5000/p:t?x=1",
        "oci://127.0.0.1:5000/p#frag",
        "oci://127.0.0.1:5000/P:t",
        "oci://127.0.0.1:5000/p:-t",
        "oci://127.0.0.1:5000/p@sha256:abc",
        "oci://127.0.0.1:5000/p@sha512:abc",
        "oci://user:pw@127.0.0.1:5000/p",
        "oci://127.0.0.1:0/p",
        "oci://127.0.0.1:99999/p",
        "oci://-bad.host/p",
        "oci://127.0.0.1:5000/p//q",
        "oci://127.0.0.1:5000/p___q",
        "oci://127.0.0.1:5000/p\n:t",
    ] {
        assert!(Reference::parse_oci_url(bad).is_err(), "{bad} was accepted");
    }
}

#[test]
fn plain_images_normalise_like_docker() {
    let r = Reference::parse("nginx").unwrap();
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str()),
        (DOCKER_HUB, "library/nginx")
    );
    assert_eq!(r.tag.as_deref(), Some("latest"));
    let r = Reference::parse("bitnami/redis:7.2").unwrap();
    assert_eq!(r.registry, DOCKER_HUB);
    assert_eq!(r.repository, "bitnami/redis");
    let r = Reference::parse(&format!("ghcr.io/org/app:1.0@{D}")).unwrap();
    assert_eq!(r.registry, "ghcr.io");
    assert_eq!(r.tag.as_deref(), Some("1.0"));
    assert_eq!(r.digest.as_deref(), Some(D));
    assert_eq!(r.to_string(), format!("ghcr.io/org/app:1.0@{D}"));
    let r = Reference::parse("localhost:5000/app").unwrap();
    assert_eq!(r.registry, "localhost:5000");
}

#[test]
fn hosts_lose_their_ports() {
    assert_eq!(host_of("127.0.0.1:5000"), "127.0.0.1");
    assert_eq!(host_of("[::1]:5000"), "::1");
    assert_eq!(host_of("registry.example"), "registry.example");
    assert!(is_loopback_host("127.3.4.5"));
    assert!(!is_loopback_host("128.0.0.1"));
    assert!(!is_loopback_host("localhost.example"));
}

fn norm(text: &str) -> String {
    Reference::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .to_string()
}

#[test]
fn references_are_normalised_as_docker_does() {
    let cases = [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("foo/bar", "docker.io/foo/bar:latest"),
        ("foo/bar/baz:v1", "docker.io/foo/bar/baz:v1"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/library/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar:latest"),
        (
            "quay.io/cilium/cilium:v1.16.5",
            "quay.io/cilium/cilium:v1.16.5",
        ),
        ("localhost/x", "localhost/x:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("localhost:5000/x:1", "localhost:5000/x:1"),
        ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
        ("[::1]:5000/a:b", "[::1]:5000/a:b"),
        ("Registry.Example/a", "Registry.Example/a:latest"),
        // A host without dots but with uppercase is a host, as in Docker.
        ("MyHost/a", "MyHost/a:latest"),
        // A digest alone gets no tag; a tag and a digest are both kept.
        (
            &format!("nginx@{D}"),
            &format!("docker.io/library/nginx@{D}"),
        ),
        (
            &format!("quay.io/a/b:v1@{D}"),
            &format!("quay.io/a/b:v1@{D}"),
        ),
        ("a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest"),
        (
            "victoriametrics/operator:config-reloader-v0.51.3",
            "docker.io/victoriametrics/operator:config-reloader-v0.51.3",
        ),
        ("x:V1_a.b-C", "docker.io/library/x:V1_a.b-C"),
    ];
    for (text, want) in cases {
        assert_eq!(norm(text), want, "{text}");
        // Normalising is idempotent.
        assert_eq!(norm(want), want, "{want}");
    }
}

#[test]
fn invalid_references_are_refused_with_the_reason() {
    use Error as E;
    let long_tag = "a".repeat(129);
    let long_name = format!("quay.io/{}", "a".repeat(250));
    let cases: Vec<(String, Error)> = vec![
        (String::new(), E::Empty),
        ("Nginx".into(), E::Uppercase("Nginx".into())),
        (
            "quay.io/Cilium/cilium".into(),
            E::Uppercase("Cilium".into()),
        ),
        ("nginx latest".into(), E::Character(' ')),
        ("nginx\n".into(), E::Character('\n')),
        ("nginx:".into(), E::Tag(String::new())),
        ("nginx:-x".into(), E::Tag("-x".into())),
        (format!("nginx:{long_tag}"), E::Tag(long_tag.clone())),
        ("nginx:a:b".into(), E::Component("nginx:a".into())),
        ("nginx@sha256:abc".into(), E::Digest("sha256:abc".into())),
        ("nginx@md5:abc".into(), E::Digest("md5:abc".into())),
        (
            format!("nginx@{}", D.to_uppercase().replace("SHA", "sha")),
            E::Digest(D.to_uppercase().replace("SHA", "sha")),
        ),
        ("-a/b".into(), E::Component("-a".into())),
        ("a/b-".into(), E::Component("b-".into())),
        ("a//b".into(), E::Component(String::new())),
        ("quay.io/".into(), E::Component(String::new())),
        ("a/b.".into(), E::Component("b.".into())),
        ("a/b___c".into(), E::Component("b___c".into())),
        ("a/b%c".into(), E::Component("b%c".into())),
        ("quay..io/a".into(), E::Host("quay..io".into())),
        ("quay.io:port/a".into(), E::Host("quay.io:port".into())),
        ("quay.io:123456/a".into(), E::Host("quay.io:123456".into())),
        ("-quay.io/a".into(), E::Host("-quay.io".into())),
        ("[zz]:5/a".into(), E::Host("[zz]:5".into())),
        (long_name, E::NameTooLong),
        ("a".repeat(2000), E::TooLong),
    ];
    for (text, want) in cases {
        assert_eq!(Reference::parse(&text), Err(want), "{text:?}");
    }
}

#[test]
fn prefixes_are_normalised_and_hold_references() {
    let cases = [
        ("quay.io/kubevirt", "quay.io/kubevirt"),
        ("quay.io/kubevirt/", "quay.io/kubevirt"),
        ("quay.io", "quay.io"),
        ("localhost:5000", "localhost:5000"),
        ("index.docker.io/bitnami", "docker.io/bitnami"),
        ("kubevirt", "docker.io/kubevirt"),
        ("registry.k8s.io/sig-storage", "registry.k8s.io/sig-storage"),
    ];
    for (text, want) in cases {
        assert_eq!(Prefix::parse(text).unwrap().to_string(), want, "{text}");
    }
    for bad in [
        "",
        "/",
        "quay.io/Kubevirt",
        "quay..io/x",
        "a b",
        "quay.io//x",
    ] {
        assert!(Prefix::parse(bad).is_err(), "{bad:?}");
    }
    let api = Reference::parse("quay.io/kubevirt/virt-api:v1.4.0").unwrap();
    let prefix = |p: &str| Prefix::parse(p).unwrap();
    assert_eq!(prefix("quay.io/kubevirt").rest(&api), Some("virt-api"));
    assert_eq!(prefix("quay.io").rest(&api), Some("kubevirt/virt-api"));
    // Whole components only: quay.io/kube is not a prefix of kubevirt.
    assert_eq!(prefix("quay.io/kube").rest(&api), None);
    assert_eq!(prefix("ghcr.io/kubevirt").rest(&api), None);
    let nginx = Reference::parse("nginx").unwrap();
    assert_eq!(prefix("docker.io").rest(&nginx), Some("library/nginx"));
    // Names given: only those.
    let named = |names: &[&str]| Prefix {
        names: Some(names.iter().map(|n| n.to_string()).collect()),
        ..prefix("quay.io/kubevirt")
    };
    assert_eq!(named(&["virt-api"]).rest(&api), Some("virt-api"));
    assert_eq!(named(&["virt-handler"]).rest(&api), None);
}

#[test]
fn parts_are_exposed() {
    let r = Reference::parse("quay.io/cilium/cilium:v1.16.5").unwrap();
    assert_eq!(r.registry, "quay.io");
    assert_eq!(r.repository, "cilium/cilium");
    assert_eq!(r.tag.as_deref(), Some("v1.16.5"));
    assert_eq!(r.digest, None);
    assert_eq!(r.name(), "quay.io/cilium/cilium");
    let r: Reference = "nginx".parse().unwrap();
    assert_eq!(r.repository, "library/nginx");
}

#[test]
fn sha512_digests_are_accepted_and_other_lengths_are_not() {
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    let r = Reference::parse(&format!("quay.io/a/b@{sha512}")).unwrap();
    assert_eq!(r.digest.as_deref(), Some(sha512.as_str()));
    let r = Reference::parse_oci_url(&format!("oci://127.0.0.1:5000/p@{sha512}")).unwrap();
    assert_eq!(r.digest.as_deref(), Some(sha512.as_str()));
    assert!(
        !is_sha256_digest(&sha512),
        "content is verified with sha256 only"
    );
    for bad in [
        format!("sha512:{}", "ab".repeat(32)),
        format!("sha256:{}", "ab".repeat(64)),
        format!("sha384:{}", "ab".repeat(48)),
    ] {
        assert_eq!(
            Reference::parse(&format!("quay.io/a/b@{bad}")),
            Err(Error::Digest(bad.clone()))
        );
    }
}

#[test]
fn length_bounds_are_the_specs() {
    let tag = format!("_{}", "a".repeat(127));
    assert!(Reference::parse(&format!("nginx:{tag}")).is_ok());
    assert!(is_tag(&tag));
    assert!(!is_tag(&format!("{tag}a")));
    // `quay.io/` is 8 characters: a 247-character path is the longest.
    let longest = format!("quay.io/{}", "a".repeat(247));
    assert_eq!(Reference::parse(&longest).unwrap().name().len(), MAX_NAME);
    assert_eq!(
        Reference::parse(&format!("{longest}a")),
        Err(Error::NameTooLong)
    );
    assert_eq!(
        Reference::parse_oci_url(&format!("oci://{longest}a:t")),
        Err(Error::NameTooLong)
    );
    // Docker Hub's `library/` counts: the name is what is pulled.
    assert_eq!(Reference::parse(&"a".repeat(240)), Err(Error::NameTooLong));
}

#[test]
fn oci_urls_keep_their_registry_and_lower_its_case() {
    let r = Reference::parse_oci_url("oci://Registry.Example:443/p").unwrap();
    assert_eq!(r.registry, "registry.example:443");
    // No Docker Hub defaulting: the first component is the registry.
    let r = Reference::parse_oci_url("oci://nginx/p").unwrap();
    assert_eq!((r.registry.as_str(), r.repository.as_str()), ("nginx", "p"));
    assert!(matches!(
        Reference::parse_oci_url("https://reg.example/p"),
        Err(Error::Scheme(_))
    ));
    assert!(matches!(
        Reference::parse_oci_url("oci://reg.example"),
        Err(Error::Scheme(_))
    ));
    assert!(Reference::parse_oci_url("oci://127.0.0.1:65535/p").is_ok());
    assert!(Reference::parse("127.0.0.1:65536/p").is_err());
}
