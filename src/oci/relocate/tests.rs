//! Relocation of realistic objects: built-in workloads and the custom
//! resources of the default distribution (KubeVirt, LINSTOR,
//! VictoriaMetrics).

use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::render::manifest::{Finisher, Origin, Scopes, assemble, finish};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const MIRROR: &str = "registry.local:5000/mirror";

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

/// A map relocating every one of `images` to the mirror, by one digest.
fn relocation(images: &[&str]) -> Relocation {
    let mut r = Relocation::default();
    for image in images {
        let original = reference(image);
        r.insert(&original, target(MIRROR, &original, DIGEST).unwrap());
    }
    r
}

fn relocated(yaml: &str, images: &[&str]) -> Value {
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    assert!(tree(&mut value, &relocation(images)).unwrap());
    value
}

fn at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {value}"))
}

fn moved(path: &str) -> String {
    format!("{MIRROR}/{path}@{DIGEST}")
}

#[test]
fn target_keeps_the_repository_path_and_pins_the_digest() {
    let cases = [
        (
            "quay.io/cilium/cilium:v1.16.5",
            MIRROR,
            moved("cilium/cilium"),
        ),
        ("nginx", MIRROR, moved("library/nginx")),
        ("docker.io/foo/bar:1", MIRROR, moved("foo/bar")),
        (
            &format!("quay.io/a/b:v1@{DIGEST}"),
            "127.0.0.1:5000",
            format!("127.0.0.1:5000/a/b@{DIGEST}"),
        ),
        (
            "localhost:5000/x",
            "registry.local/a/b/",
            format!("registry.local/a/b/x@{DIGEST}"),
        ),
    ];
    for (original, registry, want) in cases {
        let got = target(registry, &reference(original), DIGEST).unwrap();
        assert_eq!(got.to_string(), want, "{original}");
        assert_eq!(got.tag, None);
    }
}

#[test]
fn target_refuses_bad_registries_and_digests() {
    let nginx = reference("nginx");
    for registry in [
        "",
        "/mirror",
        "bad host/x",
        "registry.local/Mirror",
        "r:port/x",
        "r.local//x",
    ] {
        let e = target(registry, &nginx, DIGEST).unwrap_err();
        assert!(matches!(e, Error::Registry { .. }), "{registry}: {e}");
    }
    let long = format!("r.local/{}", "a".repeat(250));
    assert!(matches!(
        target(&long, &nginx, DIGEST),
        Err(Error::Registry { .. })
    ));
    for digest in ["sha256:abc", "md5:0123", "", &DIGEST.to_uppercase()] {
        let e = target(MIRROR, &nginx, digest).unwrap_err();
        assert!(
            e.to_string().contains("docker.io/library/nginx:latest"),
            "{e}"
        );
    }
}

#[test]
fn maps_take_pairs_of_references_and_copies_by_digest() {
    let r = Relocation::new([("nginx:1", moved("library/nginx"))]).unwrap();
    assert_eq!(r.len(), 1);
    // Looked up by the normalised form, however it was written.
    assert!(r.get(&reference("docker.io/library/nginx:1")).is_some());
    let e = Relocation::new([("nginx:1", "mirror.local/nginx:1")]).unwrap_err();
    assert!(e.to_string().contains("by digest"), "{e}");
    let e = Relocation::new([("Nginx", moved("library/nginx"))]).unwrap_err();
    assert!(e.to_string().contains("lowercase"), "{e}");
}

#[test]
fn deployment_containers_and_init_containers() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    image: nginx\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: busybox:1.36\n      containers:\n      - name: web\n        image: nginx:1.27\n        env:\n        - name: image\n          value: nginx:1.27\n";
    let v = relocated(yaml, &["busybox:1.36", "nginx:1.27"]);
    assert_eq!(
        at(&v, "/spec/template/spec/initContainers/0/image"),
        moved("library/busybox")
    );
    assert_eq!(
        at(&v, "/spec/template/spec/containers/0/image"),
        moved("library/nginx")
    );
    // An annotation is not an image field, and an untagged word is not a
    // mention; an environment value naming a relocated image is.
    assert_eq!(at(&v, "/metadata/annotations/image"), "nginx");
    assert_eq!(
        at(&v, "/spec/template/spec/containers/0/env/0/value"),
        moved("library/nginx")
    );
}

#[test]
fn cronjob_job_template() {
    let yaml = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: backup\nspec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: backup\n            image: registry.k8s.io/backup/tool:v2\n";
    let v = relocated(yaml, &["registry.k8s.io/backup/tool:v2"]);
    assert_eq!(
        at(
            &v,
            "/spec/jobTemplate/spec/template/spec/containers/0/image"
        ),
        moved("backup/tool")
    );
}

#[test]
fn pod_ephemeral_containers_and_image_volumes() {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: quay.io/app/app@{DIGEST}\n  ephemeralContainers:\n  - name: debug\n    image: busybox\n  volumes:\n  - name: data\n    image:\n      reference: quay.io/app/data:v1\n  - name: tmp\n    emptyDir: {{}}\n"
    );
    let images = [
        format!("quay.io/app/app@{DIGEST}"),
        "busybox".into(),
        "quay.io/app/data:v1".into(),
    ];
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    let v = relocated(&yaml, &images);
    assert_eq!(at(&v, "/spec/containers/0/image"), moved("app/app"));
    assert_eq!(
        at(&v, "/spec/ephemeralContainers/0/image"),
        moved("library/busybox")
    );
    assert_eq!(at(&v, "/spec/volumes/0/image/reference"), moved("app/data"));
}

/// KubeVirt's `imageRegistry` is a registry prefix that virt-operator
/// joins its component names and `imageTag` to: it moves to where the
/// images under it went, and the tag stays (the copies are pulled by tag).
#[test]
fn kubevirt_registry_prefix_moves_with_its_images() {
    let yaml = "apiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata:\n  name: kubevirt\nspec:\n  imageRegistry: quay.io/kubevirt\n  imageTag: v1.4.0\n  imagePullPolicy: IfNotPresent\n  configuration:\n    developerConfiguration:\n      featureGates: [Snapshot]\n  customizeComponents: {}\n";
    let v = relocated(
        yaml,
        &[
            "quay.io/kubevirt/virt-api:v1.4.0",
            "quay.io/kubevirt/virt-handler:v1.4.0",
        ],
    );
    assert_eq!(at(&v, "/spec/imageRegistry"), format!("{MIRROR}/kubevirt"));
    assert_eq!(at(&v, "/spec/imageTag"), "v1.4.0");

    // A prefix nothing relocated is under fails, naming it.
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    let problems = tree(&mut value, &relocation(&["quay.io/other/x:v1"])).unwrap_err();
    assert!(
        matches!(&problems[..], [Problem::Prefix { field, prefix, .. }] if field == "spec.imageRegistry" && prefix == "quay.io/kubevirt"),
        "{problems:?}"
    );
}

#[test]
fn linstor_pod_templates() {
    let cluster = "apiVersion: piraeus.io/v1\nkind: LinstorCluster\nmetadata:\n  name: linstorcluster\nspec:\n  controller:\n    podTemplate:\n      spec:\n        containers:\n        - name: linstor-controller\n          image: quay.io/piraeusdatastore/piraeus-server:v1.29.2\n  csiNode:\n    podTemplate:\n      spec:\n        containers:\n        - name: linstor-csi\n          resources: {}\n";
    let v = relocated(
        cluster,
        &["quay.io/piraeusdatastore/piraeus-server:v1.29.2"],
    );
    assert_eq!(
        at(&v, "/spec/controller/podTemplate/spec/containers/0/image"),
        moved("piraeusdatastore/piraeus-server")
    );
    // A container patch without an image stays one.
    assert!(
        v.pointer("/spec/csiNode/podTemplate/spec/containers/0/image")
            .is_none()
    );

    let satellites = "apiVersion: piraeus.io/v1\nkind: LinstorSatelliteConfiguration\nmetadata:\n  name: host-network\nspec:\n  podTemplate:\n    spec:\n      hostNetwork: true\n      initContainers:\n      - name: drbd-module-loader\n        image: quay.io/piraeusdatastore/drbd9-noble:v9.2.12\n";
    let v = relocated(
        satellites,
        &["quay.io/piraeusdatastore/drbd9-noble:v9.2.12"],
    );
    assert_eq!(
        at(&v, "/spec/podTemplate/spec/initContainers/0/image"),
        moved("piraeusdatastore/drbd9-noble")
    );
}

#[test]
fn victoria_metrics_split_images_and_sidecars() {
    let single = "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMSingle\nmetadata:\n  name: vm\nspec:\n  image:\n    repository: victoriametrics/victoria-metrics\n    tag: v1.110.0\n    pullPolicy: IfNotPresent\n  retentionPeriod: 60d\n";
    let v = relocated(single, &["victoriametrics/victoria-metrics:v1.110.0"]);
    assert_eq!(
        at(&v, "/spec/image/repository"),
        format!("{MIRROR}/victoriametrics/victoria-metrics")
    );
    // The operator joins repository:tag, giving name:tag@digest.
    assert_eq!(at(&v, "/spec/image/tag"), format!("v1.110.0@{DIGEST}"));
    assert_eq!(at(&v, "/spec/image/pullPolicy"), "IfNotPresent");

    let agent = "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMAgent\nmetadata:\n  name: vm\nspec:\n  image:\n    repository: victoriametrics/vmagent\n    tag: v1.110.0\n  containers:\n  - name: proxy\n    image: quay.io/oauth2-proxy/oauth2-proxy:v7.7.1\n  - name: vmagent\n    resources: {}\n";
    let v = relocated(
        agent,
        &[
            "victoriametrics/vmagent:v1.110.0",
            "quay.io/oauth2-proxy/oauth2-proxy:v7.7.1",
        ],
    );
    assert_eq!(
        at(&v, "/spec/containers/0/image"),
        moved("oauth2-proxy/oauth2-proxy")
    );
    assert_eq!(
        at(&v, "/spec/image/repository"),
        format!("{MIRROR}/victoriametrics/vmagent")
    );

    let cluster = "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMCluster\nmetadata:\n  name: vm\nspec:\n  vmstorage:\n    image:\n      registry: docker.io\n      repository: victoriametrics/vmstorage\n      tag: v1.110.0-cluster\n";
    let v = relocated(cluster, &["victoriametrics/vmstorage:v1.110.0-cluster"]);
    assert_eq!(
        at(&v, "/spec/vmstorage/image/registry"),
        "registry.local:5000"
    );
    assert_eq!(
        at(&v, "/spec/vmstorage/image/repository"),
        "mirror/victoriametrics/vmstorage"
    );
}

#[test]
fn unmapped_and_invalid_images_are_named() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: nginx:1.27\n      - name: b\n        image: Bad:1\n      - name: c\n        image: 42\n";
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    let problems = tree(&mut value, &Relocation::default()).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        problems[0],
        Problem::Unmapped {
            field: "spec.template.spec.containers[0].image".into(),
            image: "docker.io/library/nginx:1.27".into(),
        }
    );
    assert!(
        matches!(&problems[1], Problem::Invalid { reason, .. } if reason.contains("lowercase"))
    );
    assert!(matches!(&problems[2], Problem::Invalid { reason, .. } if reason.contains("a number")));
}

/// A rendered release from YAML text, as the render stage builds one.
fn rendered(text: &str) -> RenderedRelease {
    let scopes = Scopes::new();
    let mut finisher = Finisher::new(&scopes);
    let origin = Origin {
        release: "app",
        namespace: "apps",
        source: "templates/app.yaml",
        shown: "packages/app/1.0.0/templates/app.yaml",
        rendered: true,
    };
    finish(text, &origin, &mut finisher);
    assert!(finisher.errors.is_empty(), "{:?}", finisher.errors);
    finisher.sort();
    let (objects, manifest) = assemble("app", &finisher.yaml, &finisher.drafts);
    RenderedRelease {
        name: "app".into(),
        namespace: "apps".into(),
        package: "app".into(),
        version: "1.0.0".into(),
        objects,
        digest: sha256(manifest.as_bytes()),
        manifest,
    }
}

#[test]
fn a_release_is_rewritten_only_where_images_are() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  image: nginx\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        args: [\"--port=80\"]\n";
    let before = rendered(text);
    let after = release(&before, &relocation(&["nginx:1.27"]), |o| {
        o.source.to_string()
    })
    .unwrap();
    assert_ne!(after.digest, before.digest);
    assert_eq!(after.digest, sha256(after.manifest.as_bytes()));
    assert_eq!(after.objects.len(), 2);
    // The ConfigMap keeps its bytes; the Deployment differs in its image only.
    assert_eq!(after.objects[0].yaml(), before.objects[0].yaml());
    let changed: Vec<(&str, &str)> = before
        .manifest
        .lines()
        .zip(after.manifest.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "        image: nginx:1.27",
            &*format!("        image: {}", moved("library/nginx"))
        )]
    );
    assert_eq!(
        before.manifest.lines().count(),
        after.manifest.lines().count()
    );
}

#[test]
fn a_release_with_an_unmapped_image_fails_naming_it() {
    let text = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\nspec:\n  template:\n    spec:\n      containers:\n      - name: x\n        image: quay.io/x/job:v1\n";
    let errors = release(&rendered(text), &relocation(&["nginx"]), |o| {
        format!("packages/app/1.0.0/{}", o.source)
    })
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    let message = errors[0].to_string();
    assert_eq!(
        message,
        "packages/app/1.0.0/templates/app.yaml: release app: Job.batch/apps/once: spec.template.spec.containers[0].image: image quay.io/x/job:v1 is not in the relocation map"
    );
}

#[test]
fn the_pipeline_relocates_after_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("platform.yaml", "bundle: b\n");
    write(
        "bundles/b.yaml",
        "releases:\n  - name: app\n    package: app\n    version: \"1.0.0\"\n    namespace: apps\n",
    );
    write(
        "packages/app/1.0.0/package.yaml",
        "name: app\nversion: 1.0.0\nimages: [nginx:1.27]\n",
    );
    write("packages/app/1.0.0/values.yaml", "image: nginx:1.27\n");
    write(
        "packages/app/1.0.0/templates/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: {{ values.image }}\n",
    );
    let snapshot = || crate::source::Snapshot::from_dir(&root.join("platform.yaml")).unwrap();
    let plain = crate::pipeline::render(snapshot(), &Default::default()).unwrap();
    let options = crate::pipeline::Options {
        relocation: Some(Arc::new(relocation(&["nginx:1.27"]))),
        ..Default::default()
    };
    let moved_release = crate::pipeline::render(snapshot(), &options).unwrap();
    let (a, b) = (&plain.releases[0], &moved_release.releases[0]);
    assert_ne!(a.digest, b.digest);
    assert!(
        b.manifest.contains(&moved("library/nginx")),
        "{}",
        b.manifest
    );

    let options = crate::pipeline::Options {
        relocation: Some(Arc::new(Relocation::default())),
        ..Default::default()
    };
    let Err(invalid) = crate::pipeline::render(snapshot(), &options) else {
        panic!("an unmapped image must fail the render");
    };
    let message = invalid.summary(1000);
    assert!(message.contains("templates/pod.yaml"), "{message}");
    assert!(
        message.contains("docker.io/library/nginx:1.27 is not in the relocation map"),
        "{message}"
    );
}

#[test]
fn text_mentions_are_rewritten_as_whole_tokens_only() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    built-from: quay.io/x/y:v1\ndata:\n  whole: quay.io/x/y:v1\n  longer-tag: quay.io/x/y:v1.2\n  longer-name: quay.io/x/yz:v1\n  deeper: mirror/quay.io/x/y:v1\n  flag: --image=quay.io/x/y:v1\n  list: quay.io/x/y:v1.2,quay.io/x/y:v1 quay.io/x/y:v1\n  short: --proxy=nginx:1.25 --other=docker.io/nginx:1.25 nginx\n  json: '{\"image\":\"quay.io/x/y:v1\",\"old\":\"quay.io/x/y:v0\"}'\n  yaml: |\n    # pinned quay.io/x/y:v1\n    image: quay.io/x/y:v1\n";
    let v = relocated(yaml, &["quay.io/x/y:v1", "nginx:1.25"]);
    let y = moved("x/y");
    let nginx = moved("library/nginx");
    let want = [
        ("/metadata/annotations/built-from", y.clone()),
        ("/data/whole", y.clone()),
        ("/data/longer-tag", "quay.io/x/y:v1.2".into()),
        ("/data/longer-name", "quay.io/x/yz:v1".into()),
        ("/data/deeper", "mirror/quay.io/x/y:v1".into()),
        ("/data/flag", format!("--image={y}")),
        ("/data/list", format!("quay.io/x/y:v1.2,{y} {y}")),
        (
            "/data/short",
            format!("--proxy={nginx} --other={nginx} nginx"),
        ),
        (
            "/data/json",
            format!("{{\"image\":\"{y}\",\"old\":\"quay.io/x/y:v0\"}}"),
        ),
        // Text is rewritten in place: the document keeps its comment.
        ("/data/yaml", format!("# pinned {y}\nimage: {y}\n")),
    ];
    for (pointer, text) in want {
        assert_eq!(at(&v, pointer), text, "{pointer}");
    }
}

/// The Piraeus operator's image ConfigMap: each document's `base` moves to
/// where the images under it went; names, tags and the per-OS `match`
/// alternatives stay, since the operator joins `base/image:tag` itself.
#[test]
fn piraeus_image_configuration_moves_its_base() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: piraeus-operator-image-config\ndata:\n  0_piraeus_datastore_images.yaml: \"base: quay.io/piraeusdatastore\\ncomponents: \\n  linstor-controller:\\n    image: piraeus-server\\n    tag: v1.29.2\\n  drbd-module-loader:\\n    image: drbd9-jammy\\n    tag: v9.2.12\\n    match:\\n    - osImage: CentOS Linux 7\\n      image: drbd9-centos7\\n    - osImage: Ubuntu 24\\\\.04\\n      image: drbd9-noble\\n\"\n";
    let v = relocated(
        yaml,
        &[
            "quay.io/piraeusdatastore/piraeus-server:v1.29.2",
            "quay.io/piraeusdatastore/drbd9-jammy:v9.2.12",
            "quay.io/piraeusdatastore/drbd9-noble:v9.2.12",
        ],
    );
    let document =
        crate::yaml::parse_value(at(&v, "/data/0_piraeus_datastore_images.yaml"), 0).unwrap();
    assert_eq!(document["base"], format!("{MIRROR}/piraeusdatastore"));
    assert_eq!(
        document["components"]["linstor-controller"]["tag"],
        "v1.29.2"
    );
    assert_eq!(
        document["components"]["drbd-module-loader"]["match"][1]["osImage"],
        "Ubuntu 24\\.04"
    );

    // No image of the configuration relocated: the render fails.
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    let problems = tree(
        &mut value,
        &relocation(&["quay.io/piraeusdatastore/piraeus-operator:v2.7.1"]),
    )
    .unwrap_err();
    assert!(
        matches!(&problems[..], [Problem::Prefix { field, reason, .. }]
            if field == "data.0_piraeus_datastore_images.yaml#base" && reason.contains("none of the relocated images")),
        "{problems:?}"
    );
}

#[test]
fn a_prefix_whose_images_went_to_different_places_fails() {
    let map = Relocation::new([
        (
            "quay.io/kubevirt/virt-api:v1",
            format!("a.local/kubevirt/virt-api@{DIGEST}"),
        ),
        (
            "quay.io/kubevirt/virt-handler:v1",
            format!("b.local/kubevirt/virt-handler@{DIGEST}"),
        ),
    ])
    .unwrap();
    let prefix = crate::oci::reference::Prefix::parse("quay.io/kubevirt").unwrap();
    let e = map.prefix(&prefix).unwrap_err();
    assert!(e.contains("different places"), "{e}");
    let one = crate::oci::reference::Prefix::parse("quay.io/kubevirt/virt-api").unwrap();
    // Under a prefix that is a whole repository, the rest is empty: not a
    // name an operator joins, so nothing is under it.
    assert!(map.prefix(&one).is_err());
    // Helm-style: the registry alone.
    let v = relocated(
        "apiVersion: x.io/v1\nkind: App\nmetadata:\n  name: a\nspec:\n  image:\n    registry: quay.io\n    tag: v1\n",
        &["quay.io/a/b:v1"],
    );
    assert_eq!(at(&v, "/spec/image/registry"), MIRROR);
}

#[test]
fn secrets_are_not_read_or_rewritten() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\nstringData:\n  config: quay.io/x/job:v1\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\nspec:\n  template:\n    spec:\n      containers:\n      - name: x\n        image: quay.io/x/job:v1\n";
    let before = rendered(text);
    let after = release(&before, &relocation(&["quay.io/x/job:v1"]), |o| {
        o.source.to_string()
    })
    .unwrap();
    let secret = |r: &RenderedRelease| {
        r.objects
            .iter()
            .find(|o| o.key.kind == "Secret")
            .map(|o| o.yaml().to_string())
            .unwrap()
    };
    assert_eq!(secret(&after), secret(&before));
    assert!(secret(&after).contains("quay.io/x/job:v1"));
}
