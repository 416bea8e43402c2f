//! The OCI registry client, `distro push` / `distro pull` and the OCI
//! source, against real `docker-registry` instances on 127.0.0.1.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use distro::oci::Reference;
use distro::oci::credentials::Credentials;
use distro::oci::registry::{self, ErrorKind, Options, Registry};

use crate::registry::{Dedicated, source};
use crate::support::{fixture, outcome, scratch};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn reference(addr: &str, repo: &str, tag: &str) -> Reference {
    Reference::parse_oci_url(&format!("oci://{addr}/{repo}:{tag}")).unwrap()
}

/// Anonymous options, not reading the Docker config of whoever runs the
/// tests.
fn anonymous() -> Options {
    Options {
        credentials: Some(Credentials::Anonymous),
        ..Options::default()
    }
}

fn sha256(bytes: &[u8]) -> String {
    distro::source::sha256(bytes)
}

/// Pushes a one-blob image manifest; returns (manifest bytes, digest).
async fn push_small(registry: &Registry, r: &Reference, body: &[u8]) -> (Bytes, String) {
    let blob = Bytes::copy_from_slice(body);
    let digest = sha256(&blob);
    registry.push_blob(r, blob.clone(), &digest).await.unwrap();
    let config = Bytes::from_static(b"{}");
    let config_digest = sha256(&config);
    registry
        .push_blob(r, config.clone(), &config_digest)
        .await
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": digest, "size": blob.len()}],
    });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let pushed = registry
        .push_manifest(r, bytes.clone(), registry::OCI_MANIFEST)
        .await
        .unwrap();
    assert_eq!(pushed, sha256(&bytes));
    (bytes, pushed)
}

#[test]
fn registry_client_pushes_fetches_and_verifies() {
    let addr = source();
    runtime().block_on(async {
        let r = reference(addr, "it/client", "v1");
        let registry = Registry::new(&r, &anonymous()).unwrap();
        let (bytes, digest) = push_small(&registry, &r, b"hello blob").await;

        // By tag: the digest is computed from the bytes.
        let by_tag = registry.fetch_manifest(&r, &[]).await.unwrap();
        assert_eq!(by_tag.bytes, bytes);
        assert_eq!(by_tag.digest, digest);
        assert_eq!(by_tag.media_type.as_deref(), Some(registry::OCI_MANIFEST));
        // By digest.
        let by_digest = registry
            .fetch_manifest(&r.with_digest(&digest), &[])
            .await
            .unwrap();
        assert_eq!(by_digest.bytes, bytes);

        // Blobs stream into a writer, verified.
        let blob_digest = sha256(b"hello blob");
        assert!(registry.blob_exists(&r, &blob_digest).await.unwrap());
        assert!(!registry.blob_exists(&r, &sha256(b"absent")).await.unwrap());
        let mut out = Vec::new();
        let n = registry
            .fetch_blob(&r, &blob_digest, 10, &mut out)
            .await
            .unwrap();
        assert_eq!((n, out.as_slice()), (10, b"hello blob".as_slice()));
        // A size that is not the blob's is refused.
        let err = registry
            .fetch_blob(&r, &blob_digest, 4, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Content, "{err}");
        let err = registry
            .fetch_blob(&r, &blob_digest, 11, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Content, "{err}");

        // Data that does not match its digest is never uploaded.
        let err = registry
            .push_blob(&r, Bytes::from_static(b"x"), &blob_digest)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Content, "{err}");

        // A streamed upload, in chunks; the registry refuses one whose
        // bytes do not match the digest.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let big_digest = sha256(&big);
        let chunks: Vec<std::io::Result<Bytes>> = big
            .chunks(65_536)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        registry
            .push_blob_stream(
                &r,
                futures::stream::iter(chunks),
                &big_digest,
                big.len() as u64,
            )
            .await
            .unwrap();
        let mut back = Vec::new();
        registry
            .fetch_blob(&r, &big_digest, big.len() as u64, &mut back)
            .await
            .unwrap();
        assert_eq!(back, big);
        let wrong = vec![Ok(Bytes::from_static(b"not it"))];
        let err = registry
            .push_blob_stream(&r, futures::stream::iter(wrong), &sha256(b"other"), 6)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("blob upload"), "{err}");

        // Tags, and a missing tag.
        push_small(&registry, &r.with_tag("v2"), b"second").await;
        let tags = registry.list_tags(&r).await.unwrap();
        assert!(
            tags.contains(&"v1".to_string()) && tags.contains(&"v2".to_string()),
            "{tags:?}"
        );
        let err = registry
            .fetch_manifest(&r.with_tag("absent"), &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    });
}

#[test]
fn a_reference_with_tag_and_digest_is_fetched_by_its_digest() {
    let addr = source();
    runtime().block_on(async {
        let r = reference(addr, "it/tag-and-digest", "a");
        let registry = Registry::new(&r, &anonymous()).unwrap();
        let (bytes_a, digest_a) = push_small(&registry, &r, b"a").await;
        let (_, digest_b) = push_small(&registry, &r.with_tag("b"), b"b").await;
        assert_ne!(digest_a, digest_b);
        // `:b@<digest of a>` is a's manifest: the digest decides, the tag
        // is only informative.
        let fetched = registry
            .fetch_manifest(&r.with_tag("b").with_digest(&digest_a), &[])
            .await
            .unwrap();
        assert_eq!((fetched.digest, fetched.bytes), (digest_a, bytes_a));
    });
}

/// The file holding blob `digest` in a registry's storage.
fn stored_blob(storage: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    storage
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// Flips one byte of the stored blob `digest`.
fn corrupt_blob(storage: &Path, digest: &str) {
    let data = stored_blob(storage, digest);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&data, bytes).unwrap();
}

/// Replaces `from` by `to` (same length) inside the stored manifest
/// `digest`, keeping it valid JSON, so that the registry serves it and only
/// its digest is wrong.
fn tamper_manifest(storage: &Path, digest: &str, from: &str, to: &str) {
    let data = stored_blob(storage, digest);
    let text = std::fs::read_to_string(&data).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&data, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn corrupted_storage_is_refused_for_manifests_and_blobs() {
    let own = Dedicated::start();
    runtime().block_on(async {
        let r = reference(&own.addr, "it/corrupt", "v1");
        let registry = Registry::new(&r, &anonymous()).unwrap();
        let (_, digest) = push_small(&registry, &r, b"precious").await;
        let blob_digest = sha256(b"precious");
        corrupt_blob(&own.storage(), &blob_digest);
        let err = registry
            .fetch_blob(&r, &blob_digest, 8, &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Content, "{err}");
        assert!(err.to_string().contains(&blob_digest), "{err}");

        tamper_manifest(&own.storage(), &digest, "octet", "octat");
        for asked in [r.clone(), r.with_digest(&digest)] {
            let err = registry.fetch_manifest(&asked, &[]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Content, "{asked}: {err}");
        }
    });
}

#[test]
fn an_unreachable_registry_is_named() {
    // A port nothing listens on: bind, then close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    runtime().block_on(async {
        let r = reference(&addr, "it/none", "v1");
        let registry = Registry::new(&r, &anonymous()).unwrap();
        let err = registry.fetch_manifest(&r, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
        assert!(err.to_string().contains(&addr), "{err}");
    });
}

/// The user of `tests/fixtures/registry/htpasswd` (bcrypt, cost 4).
const USER: &str = "distro";
const PASSWORD: &str = "distro-test-pw";

fn htpasswd() -> PathBuf {
    fixture("registry").join("htpasswd")
}

#[test]
fn basic_auth_is_used_and_a_refusal_is_clear() {
    let own = Dedicated::start_with(Some(&htpasswd()));
    runtime().block_on(async {
        let r = reference(&own.addr, "it/private", "v1");
        let with = |username: &str, password: &str| Options {
            credentials: Some(Credentials::Basic {
                username: username.into(),
                password: password.into(),
            }),
            ..Options::default()
        };
        let registry = Registry::new(&r, &with(USER, PASSWORD)).unwrap();
        let (_, digest) = push_small(&registry, &r, b"secret content").await;
        let fetched = registry.fetch_manifest(&r, &[]).await.unwrap();
        assert_eq!(fetched.digest, digest);

        for options in [with(USER, "wrong-password"), anonymous()] {
            let registry = Registry::new(&r, &options).unwrap();
            let err = registry.fetch_manifest(&r, &[]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
            let text = err.to_string();
            assert!(text.contains("authentication failed"), "{text}");
            assert!(!text.contains("wrong-password"), "{text}");
        }
    });
}

// ---------------------------------------------------------------------------
// distro push / distro pull

/// Runs `distro` in `dir` with a Docker config directory of the test's
/// own (`docker_config`, else an empty one), never the user's.
fn distro_with(
    dir: &Path,
    args: &[&str],
    docker_config: Option<&Path>,
    env: &[(&str, &str)],
) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_distro"));
    cmd.args(args)
        .current_dir(dir)
        .env("DOCKER_CONFIG", docker_config.unwrap_or(empty.path()))
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the distro binary runs")
}

fn distro(dir: &Path, args: &[&str]) -> std::process::Output {
    distro_with(dir, args, None, &[])
}

/// Runs `distro`, asserting exit code 0; returns stdout.
fn distro_ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = outcome(&distro(dir, args));
    assert_eq!(code, 0, "distro {args:?}: {stderr}");
    stdout
}

/// Every file under `root` (relative `/`-separated path -> bytes).
fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = Default::default();
    walk(root, root, &mut out);
    out
}

/// The distribution's own files: what push sends.
fn distribution_files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    tree(root)
        .into_iter()
        .filter(|(p, _)| {
            p == "platform.yaml"
                || p == "distro.lock"
                || p.starts_with("bundles/")
                || p.starts_with("packages/")
        })
        .collect()
}

#[test]
fn push_then_pull_round_trips_byte_identical_and_deterministically() {
    let addr = source();
    let dist = scratch("basic");
    let url = format!("oci://{addr}/it/round-trip:v1");
    let first = distro_ok(dist.path(), &["push", &url]);
    let digest = first.trim().to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{first}"
    );
    // The lock push wrote is part of what it pushed.
    assert!(dist.path().join("distro.lock").exists());
    // Unchanged content, the same digest.
    let again: serde_json::Value =
        serde_json::from_str(&distro_ok(dist.path(), &["push", &url, "-o", "json"])).unwrap();
    assert_eq!(again["digest"], digest.as_str(), "{again}");
    assert_eq!(again["config"]["platform"]["name"], "default");
    assert_eq!(again["config"]["releases"][0]["name"], "base", "{again}");
    let yaml = distro_ok(dist.path(), &["push", &url, "-o", "yaml"]);
    assert!(yaml.contains(&format!("digest: {digest}")), "{yaml}");

    let out = tempfile::tempdir().unwrap();
    let by_tag = out.path().join("by-tag");
    let pulled = distro_ok(
        out.path(),
        &["pull", &url, "--out", by_tag.to_str().unwrap()],
    );
    assert_eq!(pulled.trim(), digest);
    let source_files = distribution_files(dist.path());
    assert_eq!(tree(&by_tag), source_files);

    // By digest, with -o json.
    let by_digest = out.path().join("by-digest");
    let pinned = format!("oci://{addr}/it/round-trip@{digest}");
    let json: serde_json::Value = serde_json::from_str(&distro_ok(
        out.path(),
        &[
            "pull",
            &pinned,
            "--out",
            by_digest.to_str().unwrap(),
            "-o",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["digest"], digest.as_str());
    assert_eq!(json["files"], source_files.len());
    assert_eq!(tree(&by_digest), source_files);

    // The pulled directory is a distribution that validates as it is.
    distro_ok(&by_tag, &["validate", "--locked"]);

    // An existing non-empty --out is refused, and left as it was.
    let (code, _, err) = outcome(&distro(
        out.path(),
        &["pull", &url, "--out", by_tag.to_str().unwrap()],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not an empty directory"), "{err}");
}

#[test]
fn push_records_the_git_revision_and_a_reproducible_time() {
    let addr = source();
    let dist = scratch("basic");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dist.path())
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://user:token@git.example.invalid/platform.git",
    ]);
    // The lock is written first so that the checkout is clean.
    distro_ok(dist.path(), &["validate"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "first"]);
    let head = git(&["rev-parse", "HEAD"]);
    let url = format!("oci://{addr}/it/provenance:v1");
    let pushed: serde_json::Value = serde_json::from_str(&distro_ok(
        dist.path(),
        &[
            "push",
            &url,
            "-o",
            "json",
            "--annotation",
            "org.example/team=infra",
        ],
    ))
    .unwrap();
    let a = &pushed["annotations"];
    assert_eq!(
        a["org.opencontainers.image.revision"],
        head.as_str(),
        "{pushed}"
    );
    assert_eq!(
        a["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    // The remote is shown without its credentials.
    assert_eq!(
        a["org.opencontainers.image.source"],
        "https://git.example.invalid/platform.git"
    );
    assert_eq!(a["org.example/team"], "infra");
    let (_, stdout, _) = outcome(&distro_with(
        dist.path(),
        &["push", &url, "-o", "json"],
        None,
        &[("SOURCE_DATE_EPOCH", "86400")],
    ));
    let epoch: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        epoch["annotations"]["org.opencontainers.image.created"],
        "1970-01-02T00:00:00Z"
    );
    assert!(!stdout.contains("token"), "{stdout}");
}

#[test]
fn an_invalid_distribution_is_not_pushed() {
    let addr = source();
    let dist = scratch("basic");
    std::fs::write(dist.path().join("bundles/main.yaml"), "releases: [\n").unwrap();
    let url = format!("oci://{addr}/it/invalid:v1");
    let (code, _, err) = outcome(&distro(dist.path(), &["push", &url]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bundles/main.yaml"), "{err}");
    runtime().block_on(async {
        let r = Reference::parse_oci_url(&url).unwrap();
        let registry = Registry::new(&r, &anonymous()).unwrap();
        let err = registry.fetch_manifest(&r, &[]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    });
    // Bad references are invalid input too.
    for bad in [
        "oci://127.0.0.1:5000/UPPER:v1",
        "127.0.0.1:5000/p:v1",
        &format!("oci://{addr}/p@sha256:{}", "0".repeat(64)),
    ] {
        let (code, _, err) = outcome(&distro(dist.path(), &["push", bad]));
        assert_eq!(code, 2, "{bad}: {err}");
    }
}

/// Nothing but `keep` is left in `dir`: no partial output of a failed pull.
fn assert_only(dir: &Path, keep: &[&str]) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn pull_refuses_tampered_content_and_leaves_nothing() {
    let own = Dedicated::start();
    let dist = scratch("basic");
    let url = format!("oci://{}/it/tamper:v1", own.addr);
    let digest = distro_ok(dist.path(), &["push", &url]).trim().to_string();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("dist");
    let target = target.to_str().unwrap();

    // The manifest the registry serves is not the one pushed: by tag the
    // registry's own digest header disagrees; by digest the bytes do not
    // match what was asked for.
    tamper_manifest(&own.storage(), &digest, "1970-01-01", "1970-01-02");
    for asked in [
        url.clone(),
        format!("oci://{}/it/tamper@{digest}", own.addr),
    ] {
        let (code, _, err) = outcome(&distro(out.path(), &["pull", &asked, "--out", target]));
        assert_eq!(code, 1, "{asked}: {err}");
        assert!(err.contains("expected"), "{err}");
        assert_only(out.path(), &[]);
    }

    // A layer whose stored bytes changed is refused against the manifest.
    // (Other content than above: the same content would be the same,
    // already tampered, manifest.)
    let dist2 = scratch("basic");
    let platform = std::fs::read_to_string(dist2.path().join("platform.yaml")).unwrap();
    std::fs::write(
        dist2.path().join("platform.yaml"),
        format!("{platform}# two\n"),
    )
    .unwrap();
    let url2 = format!("oci://{}/it/tamper-layer:v1", own.addr);
    distro_ok(dist2.path(), &["push", &url2]);
    let manifest = runtime().block_on(async {
        let r = Reference::parse_oci_url(&url2).unwrap();
        Registry::new(&r, &anonymous())
            .unwrap()
            .fetch_manifest(&r, &[])
            .await
            .unwrap()
    });
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    corrupt_blob(&own.storage(), layer);
    let (code, _, err) = outcome(&distro(out.path(), &["pull", &url2, "--out", target]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(layer), "{err}");
    assert_only(out.path(), &[]);
}

#[test]
fn pull_refuses_an_artifact_that_is_not_a_distribution() {
    let addr = source();
    let r = reference(addr, "it/foreign", "v1");
    runtime().block_on(async {
        let registry = Registry::new(&r, &anonymous()).unwrap();
        push_small(&registry, &r, b"not a distribution").await;
    });
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) = outcome(&distro(
        out.path(),
        &["pull", &r.to_oci_url(), "--out", "d"],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not a distro artifact"), "{err}");
    assert_only(out.path(), &[]);
}

#[test]
fn credentials_come_from_the_docker_config() {
    use base64::Engine as _;
    let own = Dedicated::start_with(Some(&htpasswd()));
    let dist = scratch("basic");
    let url = format!("oci://{}/it/private:v1", own.addr);
    let config = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, own.addr),
    )
    .unwrap();
    let (code, stdout, err) = outcome(&distro_with(
        dist.path(),
        &["push", &url],
        Some(config.path()),
        &[],
    ));
    assert_eq!(code, 0, "{err}");
    let out = tempfile::tempdir().unwrap();
    let (code, pulled, err) = outcome(&distro_with(
        out.path(),
        &["pull", &url, "--out", "d"],
        Some(config.path()),
        &[],
    ));
    assert_eq!(code, 0, "{err}");
    assert_eq!(pulled, stdout);

    // No credentials, or wrong ones: refused, clearly, without the secret.
    let (code, _, err) = outcome(&distro(out.path(), &["pull", &url, "--out", "e"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:not-the-password"));
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths": {{"http://{}": {{"auth": "{wrong}"}}}}}}"#,
            own.addr
        ),
    )
    .unwrap();
    let (code, _, err) = outcome(&distro_with(
        out.path(),
        &["pull", &url, "--out", "e"],
        Some(config.path()),
        &[],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("authentication failed") && !err.contains("not-the-password"),
        "{err}"
    );
    // A config file that is not one is invalid input.
    std::fs::write(config.path().join("config.json"), "[1, 2").unwrap();
    let (code, _, err) = outcome(&distro_with(
        out.path(),
        &["pull", &url, "--out", "e"],
        Some(config.path()),
        &[],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("config.json"), "{err}");
    assert_only(out.path(), &["d"]);
}

#[test]
fn credentials_come_from_a_credential_helper() {
    use std::os::unix::fs::PermissionsExt as _;
    let own = Dedicated::start_with(Some(&htpasswd()));
    let dist = scratch("basic");
    let url = format!("oci://{}/it/helped:v1", own.addr);
    let config = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    // The helper records the server it was asked for and answers for that
    // registry only.
    let asked = bin.path().join("asked");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\necho \"$server\" >> '{}'\n\
         [ \"$server\" = '{}' ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\n\
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
        asked.display(),
        own.addr
    );
    let helper = bin.path().join("docker-credential-it");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    // `distro push` with this config.json.
    let push = |config_json: &str| {
        std::fs::write(config.path().join("config.json"), config_json).unwrap();
        outcome(&distro_with(
            dist.path(),
            &["push", &url],
            Some(config.path()),
            &env,
        ))
    };
    let (code, _, err) = push(&format!(r#"{{"credHelpers": {{"{}": "it"}}}}"#, own.addr));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    let asked_for = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(asked_for.lines().next(), Some(own.addr.as_str()));

    // The same helper as the store for every registry works too; a helper
    // that is not on PATH is invalid input naming it and the registry.
    let (code, _, err) = push(r#"{"credsStore": "it"}"#);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = push(r#"{"credsStore": "absent"}"#);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("docker-credential-absent") && err.contains(&own.addr),
        "{err}"
    );
}

#[test]
fn an_unreachable_registry_exits_3_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dist = scratch("basic");
    let url = format!("oci://127.0.0.1:{port}/it/none:v1");
    for args in [
        vec!["push", url.as_str()],
        vec!["pull", url.as_str(), "--out", "x"],
    ] {
        let (code, _, err) = outcome(&distro(dist.path(), &args));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("registry 127.0.0.1:{port} unreachable")),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------
// the OCI source

#[test]
fn the_oci_source_resolves_semver_and_fetches_a_snapshot() {
    use distro::source::Origin;
    use distro::source::oci::{OciRef, fetch, resolve};
    let addr = source();
    let dist = scratch("basic");
    let repo = format!("oci://{addr}/it/semver");
    let mut digests = std::collections::BTreeMap::new();
    for tag in ["1.0.0", "1.2.0", "2.0.0", "latest"] {
        let platform = std::fs::read_to_string(dist.path().join("platform.yaml")).unwrap();
        std::fs::write(
            dist.path().join("platform.yaml"),
            format!("{platform}# {tag}\n"),
        )
        .unwrap();
        let d = distro_ok(dist.path(), &["push", &format!("{repo}:{tag}")]);
        digests.insert(tag, d.trim().to_string());
    }
    runtime().block_on(async {
        let base = Reference::parse_oci_url(&repo).unwrap();
        let registry = Registry::new(&base, &anonymous()).unwrap();
        let resolved = resolve(&registry, &base, &OciRef::Semver("^1".into()))
            .await
            .unwrap();
        assert_eq!(resolved.revision(), format!("1.2.0@{}", digests["1.2.0"]));
        let snapshot = fetch(&registry, &resolved, Default::default())
            .await
            .unwrap();
        assert_eq!(snapshot.revision(), Some(resolved.revision().as_str()));
        assert_eq!(snapshot.origin(), &Origin::Oci { url: repo.clone() });
        let platform = String::from_utf8(snapshot.get("platform.yaml").unwrap().to_vec()).unwrap();
        assert!(platform.ends_with("# 1.2.0\n"), "{platform}");
        assert!(snapshot.lock().is_some());

        let by_digest = resolve(&registry, &base, &OciRef::Digest(digests["2.0.0"].clone()))
            .await
            .unwrap();
        assert_eq!(by_digest.revision(), digests["2.0.0"]);
        let tag = resolve(&registry, &base, &OciRef::Tag("latest".into()))
            .await
            .unwrap();
        assert_eq!(tag.revision(), format!("latest@{}", digests["latest"]));
        let err = resolve(&registry, &base, &OciRef::Semver("^3".into()))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("no tag matches semver ^3"),
            "{err}"
        );
        assert!(
            resolve(&registry, &base, &OciRef::Semver("not a range".into()))
                .await
                .is_err()
        );
    });
}

// ---------------------------------------------------------------------------
// the controller following an OCI artifact

/// The `basic` fixture with its namespaces prefixed, as the controller
/// tests lay it out, in a directory of its own.
fn basic_for(prefix: &str) -> tempfile::TempDir {
    let dist = scratch("basic");
    let bundle = std::fs::read_to_string(dist.path().join("bundles/main.yaml")).unwrap();
    let bundle = bundle
        .replace(
            "namespace: base-system",
            &format!("namespace: {prefix}-base"),
        )
        .replace("namespace: apps", &format!("namespace: {prefix}-apps"))
        .replace("namespace: addons", &format!("namespace: {prefix}-addons"));
    std::fs::write(dist.path().join("bundles/main.yaml"), bundle).unwrap();
    let platform = std::fs::read_to_string(dist.path().join("platform.yaml")).unwrap();
    std::fs::write(
        dist.path().join("platform.yaml"),
        format!("enable: [addon]\n{platform}"),
    )
    .unwrap();
    dist
}

#[test]
fn controller_follows_an_oci_artifact() {
    use crate::cluster::cluster;
    use crate::controller::{
        Controller, apply_yaml, platform, resource_versions, wait_crd, wait_platform,
    };
    use std::time::Duration;

    let c = cluster();
    let ns = "ctl-oci";
    let prefix = "ocictl";
    let addr = source();
    let dist = basic_for(prefix);
    let url = format!("oci://{addr}/it/controller");
    let tagged = format!("{url}:stable");
    let first = distro_ok(dist.path(), &["push", &tagged])
        .trim()
        .to_string();

    let ctl = Controller::start(c, ns, None);
    apply_yaml(
        c,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    wait_crd(c, &ctl);
    // Both sources, or neither, are refused by the schema.
    let both = format!(
        "apiVersion: distro.dev/v1alpha1\nkind: Platform\nmetadata: {{name: both, namespace: {ns}}}\nspec:\n  source:\n    git: {{url: \"git://127.0.0.1:1/x.git\"}}\n    oci: {{url: \"{url}\"}}\n"
    );
    let file = dist.path().join("both.yaml");
    std::fs::write(&file, both).unwrap();
    let out = c.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("exactly one of spec.source.git and spec.source.oci"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    apply_yaml(
        c,
        &format!(
            r#"apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: oci, namespace: {ns}}}
spec:
  source:
    oci: {{url: "{url}", ref: {{tag: stable}}}}
  interval: 1s
  timeout: 60s
"#
        ),
    );
    let revision = format!("stable@{first}");
    let p = wait_platform(
        c,
        &ctl,
        ns,
        "oci",
        "ReconciliationSucceeded",
        Some(&revision),
    );
    assert_eq!(p["status"]["lastAppliedRevision"], revision.as_str(), "{p}");
    let app = c
        .get_json(&["release", "-n", &format!("{prefix}-apps"), "app"])
        .unwrap();
    assert_eq!(app["status"]["sourceRevision"], revision.as_str(), "{app}");

    // distro status and kubectl's printer columns show the revision.
    let (code, status, err) = outcome(&c.distro(dist.path(), &["status", "-o", "json"]));
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let row = status["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "oci" && p["namespace"] == ns)
        .cloned()
        .unwrap();
    assert_eq!(row["revision"], revision.as_str(), "{row}");
    assert_eq!(row["source"], url.as_str(), "{row}");
    let columns = c.kubectl_ok(&["get", "platforms", "-n", ns]);
    assert!(columns.contains(&revision), "{columns}");

    // Pushing the same content again keeps the digest: over several
    // intervals nothing is written, not even the Platform's status.
    let before = resource_versions(c, &format!("{prefix}-apps"));
    let platform_version = platform(c, ns, "oci")["metadata"]["resourceVersion"].clone();
    assert_eq!(distro_ok(dist.path(), &["push", &tagged]).trim(), first);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(resource_versions(c, &format!("{prefix}-apps")), before);
    assert_eq!(
        platform(c, ns, "oci")["metadata"]["resourceVersion"],
        platform_version
    );

    // Moving the tag applies the new revision.
    let platform_yaml = std::fs::read_to_string(dist.path().join("platform.yaml")).unwrap();
    assert!(platform_yaml.contains("replicas: 3"), "{platform_yaml}");
    std::fs::write(
        dist.path().join("platform.yaml"),
        platform_yaml.replace("replicas: 3", "replicas: 2"),
    )
    .unwrap();
    let second = distro_ok(dist.path(), &["push", &tagged])
        .trim()
        .to_string();
    assert_ne!(second, first);
    let revision = format!("stable@{second}");
    let p = wait_platform(
        c,
        &ctl,
        ns,
        "oci",
        "ReconciliationSucceeded",
        Some(&revision),
    );
    assert_eq!(p["status"]["lastAppliedRevision"], revision.as_str(), "{p}");
    let deployment = c
        .get_json(&[
            "deployment",
            "-n",
            &format!("{prefix}-apps"),
            "-l",
            "distro.dev/release=app",
        ])
        .unwrap();
    assert_eq!(
        deployment["items"][0]["spec"]["replicas"], 2,
        "{deployment}"
    );
}

#[test]
fn controller_pulls_with_a_dockerconfigjson_secret() {
    use crate::cluster::cluster;
    use crate::controller::{Controller, apply_yaml, wait_crd, wait_platform};
    use base64::Engine as _;

    let c = cluster();
    let ns = "ctl-oci-auth";
    let prefix = "ociauth";
    let own = Dedicated::start_with(Some(&htpasswd()));
    let dist = basic_for(prefix);
    let config = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let docker_config = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, own.addr);
    std::fs::write(config.path().join("config.json"), &docker_config).unwrap();
    let url = format!("oci://{}/it/private-controller", own.addr);
    let (code, digest, err) = outcome(&distro_with(
        dist.path(),
        &["push", &format!("{url}:v1.0.0")],
        Some(config.path()),
        &[],
    ));
    assert_eq!(code, 0, "{err}");
    let digest = digest.trim().to_string();

    let ctl = Controller::start(c, ns, None);
    apply_yaml(
        c,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    wait_crd(c, &ctl);
    let platform = |secret: &str| {
        format!(
            r#"apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: private, namespace: {ns}}}
spec:
  source:
    oci: {{url: "{url}", ref: {{semver: "^1"}}, secretRef: {{name: {secret}}}}}
  interval: 1m
  timeout: 60s
"#
        )
    };
    // A Secret without the registry's entry: a fetch failure naming it.
    apply_yaml(
        c,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: other, namespace: {ns}}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{{\"auths\":{{\"127.0.0.1:1\":{{\"auth\":\"eDp5\"}}}}}}'\n"
        ),
    );
    apply_yaml(c, &platform("other"));
    let p = wait_platform(c, &ctl, ns, "private", "FetchFailed", None);
    let message = crate::controller::ready(&p).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&format!("no entry for {}", own.addr)),
        "{message}"
    );

    apply_yaml(
        c,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: {ns}}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{docker_config}'\n"
        ),
    );
    apply_yaml(c, &platform("pull"));
    let revision = format!("v1.0.0@{digest}");
    let p = wait_platform(
        c,
        &ctl,
        ns,
        "private",
        "ReconciliationSucceeded",
        Some(&revision),
    );
    assert_eq!(p["status"]["lastAppliedRevision"], revision.as_str(), "{p}");
}
