//! The OCI registry client, `distro push` / `distro pull` and the OCI
//! source, against real `docker-registry` instances on 127.0.0.1.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use distro::oci::Reference;
use distro::oci::credentials::Credentials;
use distro::oci::registry::{self, ErrorKind, Options, Registry};

use crate::registry::{Dedicated, source};
use crate::support::{fixture, outcome};

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
fn a_manifest_that_does_not_match_the_digest_asked_for_is_refused() {
    let addr = source();
    runtime().block_on(async {
        let r = reference(addr, "it/mismatch", "a");
        let registry = Registry::new(&r, &anonymous()).unwrap();
        let (_, digest_a) = push_small(&registry, &r, b"a").await;
        let (_, digest_b) = push_small(&registry, &r.with_tag("b"), b"b").await;
        assert_ne!(digest_a, digest_b);
        // Asking for tag b at digest a fetches by digest: a's bytes, which
        // match; asking for a digest the registry has under another
        // content is what a tampering registry would do, below.
        let ok = registry
            .fetch_manifest(&r.with_tag("b").with_digest(&digest_a), &[])
            .await
            .unwrap();
        assert_eq!(ok.digest, digest_a);
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

/// Changes one letter inside the stored manifest `digest`, keeping it
/// valid JSON, so that the registry serves it and only its digest is wrong.
fn tamper_manifest(storage: &Path, digest: &str) {
    let data = stored_blob(storage, digest);
    let text = std::fs::read_to_string(&data).unwrap();
    assert!(text.contains("octet"), "{text}");
    std::fs::write(&data, text.replacen("octet", "octat", 1)).unwrap();
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

        tamper_manifest(&own.storage(), &digest);
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

#[allow(dead_code)]
fn fixture_dir() -> PathBuf {
    fixture("basic")
}

#[allow(dead_code)]
fn unused(o: &std::process::Output) -> (i32, String, String) {
    outcome(o)
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
