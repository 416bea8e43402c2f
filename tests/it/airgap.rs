//! The air-gapped install end to end, on real components: images built here
//! and pushed to a registry of this test (Debian's docker-registry on
//! 127.0.0.1), `distro export`, that registry stopped, `distro import` into
//! the shared target registry, and `distro apply --from` on the local
//! control plane. Then hostile files: each refused naming the entry, with
//! nothing pushed.

use std::path::{Path, PathBuf};
use std::process::Command;

use distro::oci::registry::{Options, Registry};
use distro::oci::{Reference, layout};
use serde_json::{Value, json};

use crate::cluster::{get_json, write_files};
use crate::registry::{self, Dedicated};
use crate::support::outcome;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// `prefix` plus a suffix unique to this run.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{:05x}", (nanos ^ std::process::id()) & 0xfffff)
}

/// Incompressible-looking bytes, the same for the same seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    distro::source::sha256(b)
}

fn desc(media_type: &str, b: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha(b), "size": b.len()})
}

/// One single-platform image: its blobs and manifest.
struct Image {
    blobs: Vec<Vec<u8>>,
    manifest: Vec<u8>,
}

fn image(arch: &str, layers: Vec<Vec<u8>>) -> Image {
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>()},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|l| desc(LAYER, l)).collect::<Vec<_>>(),
    }))
    .unwrap();
    let mut blobs = vec![config];
    blobs.extend(layers);
    Image { blobs, manifest }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Pushes the blobs and manifests of `images`, then `top` (a manifest or
/// index) under `reference`'s tag; returns the top's digest.
fn push(reference: &str, images: &[&Image], top: &[u8], media_type: &str) -> String {
    let reference = Reference::parse(reference).unwrap();
    runtime().block_on(async {
        let client = Registry::new(&reference, &Options::default()).unwrap();
        for image in images {
            for blob in &image.blobs {
                client
                    .push_blob(&reference, blob.clone().into(), &sha(blob))
                    .await
                    .unwrap();
            }
            let by_digest = Reference {
                tag: None,
                ..reference.with_digest(&sha(&image.manifest))
            };
            client
                .push_manifest(&by_digest, image.manifest.clone().into(), OCI_MANIFEST)
                .await
                .unwrap();
        }
        client
            .push_manifest(&reference, top.to_vec().into(), media_type)
            .await
            .unwrap()
    })
}

/// The images of the test: `app` (one platform, three layers) and `multi`
/// (an index of amd64 and arm64, sharing a layer). Returns their references
/// and top digests.
struct Source {
    app: String,
    app_digest: String,
    multi: String,
    multi_digest: String,
    arm_manifest: String,
}

fn build_images(addr: &str, repo: &str) -> Source {
    let app = image(
        "amd64",
        vec![bytes(1, 300_000), bytes(2, 70_000), bytes(3, 1_000)],
    );
    let app_ref = format!("{addr}/{repo}/app:v1");
    let app_digest = push(&app_ref, &[&app], &app.manifest, OCI_MANIFEST);

    let shared = bytes(10, 50_000);
    let amd = image("amd64", vec![shared.clone(), bytes(11, 120_000)]);
    let arm = image("arm64", vec![shared, bytes(12, 110_000)]);
    let mut amd_d = desc(OCI_MANIFEST, &amd.manifest);
    amd_d["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm_d = desc(OCI_MANIFEST, &arm.manifest);
    arm_d["platform"] = json!({"os": "linux", "architecture": "arm64"});
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd_d, arm_d],
    }))
    .unwrap();
    let multi_ref = format!("{addr}/{repo}/multi:v2");
    let multi_digest = push(&multi_ref, &[&amd, &arm], &index, OCI_INDEX);
    assert_eq!(multi_digest, sha(&index));
    Source {
        app: app_ref,
        app_digest,
        multi: multi_ref,
        multi_digest,
        arm_manifest: sha(&arm.manifest),
    }
}

/// A distribution with one release whose Deployment and CronJob use the
/// two images (the CronJob's in an initContainer).
fn distribution(dir: &Path, name: &str, source: &Source) {
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: {{ values.app }}
";
    let cronjob = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: \"*/5 * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          initContainers:
            - name: prepare
              image: {{ values.multi }}
          containers:
            - name: tick
              image: {{ values.app }}
";
    write_files(
        dir,
        &[
            (
                "platform.yaml",
                &format!(
                    "name: {name}\nbundle: main\nreleases:\n  app:\n    values:\n      app: {}\n      multi: {}\n",
                    source.app, source.multi
                ),
            ),
            (
                "bundles/main.yaml",
                &format!(
                    "releases:\n  - name: app\n    package: app\n    version: 1.0.0\n    namespace: {name}\n"
                ),
            ),
            (
                "packages/app/1.0.0/package.yaml",
                "name: app\nversion: 1.0.0\n",
            ),
            ("packages/app/1.0.0/values.yaml", "app: none\nmulti: none\n"),
            ("packages/app/1.0.0/templates/deployment.yaml", deployment),
            ("packages/app/1.0.0/templates/cronjob.yaml", cronjob),
        ],
    );
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(&crate::cluster::distro(dir, args))
}

/// Every repository of the registry at `addr`.
fn catalog(addr: &str) -> Vec<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "10", "--noproxy", "*"])
        .arg(format!("http://{addr}/v2/_catalog?n=1000"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "catalog of {addr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn under(addr: &str, prefix: &str) -> Vec<String> {
    catalog(addr)
        .into_iter()
        .filter(|r| r.starts_with(&format!("{prefix}/")))
        .collect()
}

/// Makes an ed25519 key pair with OpenSSL: (private, public).
fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            private.to_str().unwrap(),
        ],
        vec![
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        let status = Command::new("openssl").args(&args).status().unwrap();
        assert!(status.success(), "openssl {args:?}");
    }
    (private, public)
}

/// The images of every pod template of the namespace's Deployments and
/// CronJobs, and of its Pods.
fn pod_images(namespace: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut collect = |spec: &Value| {
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec[list].as_array().into_iter().flatten() {
                out.push(c["image"].as_str().unwrap().to_string());
            }
        }
    };
    for kind in ["deployments", "cronjobs", "pods"] {
        let list = get_json(&[kind, "-n", namespace]).expect("list");
        for item in list["items"].as_array().unwrap() {
            let spec = match kind {
                "deployments" => &item["spec"]["template"]["spec"],
                "cronjobs" => &item["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => &item["spec"],
            };
            collect(spec);
        }
    }
    out
}

/// export -> source registry stopped -> import -> apply --from; then the
/// tamper corpus against the same file.
#[test]
fn export_import_and_apply_from_the_tarball() {
    let target = registry::target();
    let source_registry = Dedicated::start();
    let name = unique("airgap");
    let source = build_images(&source_registry.addr, "airgap");
    let dir = tempfile::tempdir().unwrap();
    distribution(dir.path(), &name, &source);
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = keypair(keys.path(), "a");
    let (_, other_public) = keypair(keys.path(), "b");

    // export, signed; and a second file with one platform of the index.
    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "export",
            "-o",
            "platform.tar",
            "--sign-key",
            private.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "export: {stderr}");
    let exported: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(exported["signed"], true);
    let images: Vec<&Value> = exported["images"].as_array().unwrap().iter().collect();
    assert_eq!(images.len(), 2, "{exported}");
    let tar = dir.path().join("platform.tar");
    let (code, _, stderr) = run(
        dir.path(),
        &["export", "-o", "arm.tar", "--image-platform", "linux/arm64"],
    );
    assert_eq!(code, 0, "export --image-platform: {stderr}");
    // Nothing but the two files is left (no temporary file).
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar") || n.contains("tmp"))
        .collect();
    left.sort();
    assert_eq!(left, ["arm.tar", "platform.tar"]);

    // The file is an OCI layout naming each image by its full reference,
    // the index whole and byte-identical by default.
    let layout = layout::verify(&tar, None, &mut |_| {}).unwrap();
    let multi = layout.image(&source.multi).expect("multi in the file");
    assert_eq!(multi.root.digest, source.multi_digest);
    assert_eq!(multi.children.len(), 2);
    assert_eq!(
        layout.image(&source.app).expect("app").root.digest,
        source.app_digest
    );
    let arm = layout::verify(&dir.path().join("arm.tar"), None, &mut |_| {}).unwrap();
    let arm_multi = arm.image(&source.multi).unwrap();
    assert_eq!(arm_multi.children.len(), 1);
    assert_eq!(arm_multi.children[0].digest, source.arm_manifest);
    assert_eq!(
        arm_multi.root.annotation(layout::SOURCE_DIGEST),
        Some(source.multi_digest.as_str())
    );
    // Blobs are stored once: the shared layer of the index is one entry.
    let listing = Command::new("tar").arg("tf").arg(&tar).output().unwrap();
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    let blobs: Vec<&str> = names.lines().filter(|l| l.starts_with("blobs/")).collect();
    let mut unique_blobs = blobs.clone();
    unique_blobs.dedup();
    assert_eq!(blobs.len(), unique_blobs.len());
    assert!(names.starts_with("oci-layout\nindex.json\nchecksums.sha256\nchecksums.sha256.sig\n"));

    // No source registry from here on.
    let source_addr = source_registry.addr.clone();
    drop(source_registry);
    // Exporting now fails, after its retries, naming the registry (exit
    // code 3), and leaves no file behind.
    let (code, _, stderr) = run(dir.path(), &["export", "-o", "again.tar"]);
    assert_eq!(code, 3, "export with the registry down: {stderr}");
    assert!(stderr.contains(&source_addr), "{stderr}");
    let stray: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("again") || n.contains("tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    tamper_corpus(dir.path(), &tar, target, &public, &other_public, &name);

    let prefix = unique("airgap-mirror");
    let registry_arg = format!("{target}/{prefix}");
    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "import",
            "platform.tar",
            "--registry",
            &registry_arg,
            "--verify-key",
            public.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "import: {stderr}");
    let imported: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let targets: Vec<(&str, &str)> = imported
        .iter()
        .map(|i| (i["image"].as_str().unwrap(), i["target"].as_str().unwrap()))
        .collect();
    assert!(targets.contains(&(
        source.app.as_str(),
        format!("{registry_arg}/airgap/app@{}", source.app_digest).as_str()
    )));
    assert!(targets.contains(&(
        source.multi.as_str(),
        format!("{registry_arg}/airgap/multi@{}", source.multi_digest).as_str()
    )));
    // The distribution artifact comes last, to REG/PREFIX/distribution by
    // the digest it was exported with.
    let last = imported.last().expect("entries");
    assert_eq!(last["kind"], "distribution", "{imported:?}");
    let exported_digest = exported["distribution"].as_str().unwrap();
    let artifact = format!("{registry_arg}/distribution@{exported_digest}");
    assert_eq!(last["target"], artifact.as_str());
    assert_eq!(last["digest"], exported_digest);
    assert!(
        imported[..imported.len() - 1]
            .iter()
            .all(|i| i["kind"] == "image"),
        "{imported:?}"
    );
    let mut repos = under(target, &prefix);
    repos.sort();
    assert_eq!(
        repos,
        [
            format!("{prefix}/airgap/app"),
            format!("{prefix}/airgap/multi"),
            format!("{prefix}/distribution"),
        ]
    );
    // What a controller in the air gap follows: it pulls as it was pushed.
    let pulled_dir = dir.path().join("pulled");
    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "pull",
            &format!("oci://{artifact}"),
            "--out",
            pulled_dir.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "pull of the imported distribution: {stderr}");
    let pulled: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(pulled["digest"], exported_digest);
    assert!(pulled_dir.join("platform.yaml").is_file());
    assert!(
        pulled_dir
            .join("packages/app/1.0.0/templates/deployment.yaml")
            .is_file()
    );
    // Again: every blob is there already.
    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "import",
            "platform.tar",
            "--registry",
            &registry_arg,
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "second import: {stderr}");
    let again: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert!(again.iter().all(|i| i["pushed"] == 0), "{again:?}");

    // render --from shows the relocated references, with no network.
    let (code, stdout, stderr) = run(
        dir.path(),
        &[
            "render",
            "--from",
            "platform.tar",
            "--registry",
            &registry_arg,
        ],
    );
    assert_eq!(code, 0, "render --from: {stderr}");
    assert!(!stdout.contains(&source.app), "{stdout}");
    assert!(stdout.contains(&format!(
        "{registry_arg}/airgap/multi@{}",
        source.multi_digest
    )));

    // apply --from: from an empty directory, so nothing but the file is read.
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(
        elsewhere.path(),
        &[
            "apply",
            "--from",
            tar.to_str().unwrap(),
            "--registry",
            &registry_arg,
            "--verify-key",
            public.to_str().unwrap(),
            "--wait=false",
        ],
    );
    assert_eq!(code, 0, "apply --from: {stdout}\n{stderr}");
    let images = pod_images(&name);
    assert!(images.len() >= 3, "{images:?}");
    for image in &images {
        assert!(
            image.starts_with(&format!("{registry_arg}/")) && image.contains("@sha256:"),
            "{image} is not relocated by digest"
        );
    }
    let _ = crate::cluster::kubectl(&["delete", "namespace", &name, "--wait=false"]);
}

/// Rewrites a tar with `edit` applied to its entries (names kept raw, so
/// hostile names get through); returns the new file.
fn rewrite(
    from: &Path,
    to: &Path,
    edit: impl FnOnce(&mut Vec<(String, Vec<u8>, tar::EntryType)>),
) -> PathBuf {
    let mut entries = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        entries.push((name, data, entry.header().entry_type()));
    }
    edit(&mut entries);
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for (name, data, kind) in &entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            h.set_link_name("index.json").unwrap();
            h.set_size(0);
        }
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    to.to_path_buf()
}

/// The checksums file of `entries` made afresh (and the signature dropped),
/// so that a case reaches the check it is about.
fn relist(entries: &mut Vec<(String, Vec<u8>, tar::EntryType)>) {
    entries.retain(|(n, _, _)| n != "checksums.sha256.sig");
    let text: String = entries
        .iter()
        .filter(|(n, _, _)| n != "checksums.sha256")
        .map(|(n, b, _)| format!("{}  {n}\n", sha(b).trim_start_matches("sha256:")))
        .collect();
    for e in entries.iter_mut() {
        if e.0 == "checksums.sha256" {
            e.1 = text.clone().into_bytes();
        }
    }
}

fn largest_blob(entries: &[(String, Vec<u8>, tar::EntryType)]) -> usize {
    (0..entries.len())
        .filter(|&i| entries[i].0.starts_with("blobs/"))
        .max_by_key(|&i| entries[i].1.len())
        .unwrap()
}

/// Each hostile variant of `good` is refused by import (exit 2, the entry
/// named, nothing pushed); a few by apply --from too.
fn tamper_corpus(
    dir: &Path,
    good: &Path,
    target: &str,
    public: &Path,
    other: &Path,
    namespace: &str,
) {
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let mut entries_of_good = Vec::new();
    rewrite(good, &bad.join("copy.tar"), |e| entries_of_good = e.clone());
    let big = largest_blob(&entries_of_good);
    let big_name = entries_of_good[big].0.clone();
    let zeros = format!("blobs/sha256/{}", "0".repeat(64));

    type Edit = Box<dyn FnOnce(&mut Vec<(String, Vec<u8>, tar::EntryType)>)>;
    let mut cases: Vec<(&str, Edit, String)> = vec![
        (
            "flipped",
            Box::new(move |e| e[big].1[1000] ^= 0x40),
            big_name.clone(),
        ),
        (
            "missing",
            Box::new(move |e| drop(e.remove(big))),
            big_name.clone(),
        ),
        (
            "extra-file",
            Box::new(|e| e.push(("notes.txt".into(), b"hi".to_vec(), tar::EntryType::Regular))),
            "notes.txt".into(),
        ),
        (
            "extra-blob",
            Box::new(|e| {
                let b = b"unlisted".to_vec();
                e.push((
                    format!("blobs/sha256/{}", &sha(&b)[7..]),
                    b,
                    tar::EntryType::Regular,
                ))
            }),
            format!("blobs/sha256/{}", &sha(b"unlisted")[7..]),
        ),
        (
            "dotdot",
            Box::new(|e| {
                e.push((
                    "blobs/../../evil".into(),
                    b"x".to_vec(),
                    tar::EntryType::Regular,
                ))
            }),
            "blobs/../../evil".into(),
        ),
        (
            "absolute",
            Box::new(|e| e.push(("/tmp/evil".into(), b"x".to_vec(), tar::EntryType::Regular))),
            "/tmp/evil".into(),
        ),
        (
            "symlink",
            {
                let z = zeros.clone();
                Box::new(move |e| e.push((z, vec![], tar::EntryType::Symlink)))
            },
            zeros.clone(),
        ),
        (
            "hardlink",
            {
                let z = zeros.clone();
                Box::new(move |e| e.push((z, vec![], tar::EntryType::Link)))
            },
            zeros.clone(),
        ),
        (
            "duplicate",
            Box::new(|e| {
                let first = e[1].clone();
                e.push(first)
            }),
            "index.json".into(),
        ),
        (
            "oversized-index",
            Box::new(|e| {
                let i = e.iter().position(|x| x.0 == "index.json").unwrap();
                e[i].1.resize(5 << 20, b' ');
                relist(e);
            }),
            "index.json".into(),
        ),
    ];
    // A manifest over the limit, consistently named, indexed and listed.
    let mut huge = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", b"{}"), "layers": [],
    }))
    .unwrap();
    huge.pop();
    huge.resize(huge.len() + (5 << 20), b' ');
    huge.push(b'}');
    let huge_name = format!("blobs/sha256/{}", &sha(&huge)[7..]);
    cases.push((
        "oversized-manifest",
        {
            let huge = huge.clone();
            let name = huge_name.clone();
            Box::new(move |e| {
                let i = e.iter().position(|x| x.0 == "index.json").unwrap();
                let mut index: Value = serde_json::from_slice(&e[i].1).unwrap();
                let mut d = desc(OCI_MANIFEST, &huge);
                d["annotations"] =
                    json!({"org.opencontainers.image.ref.name": "127.0.0.1:1/airgap/huge:1"});
                index["manifests"].as_array_mut().unwrap().push(d);
                e[i].1 = serde_json::to_vec(&index).unwrap();
                e.push((name, huge, tar::EntryType::Regular));
                let cfg = b"{}".to_vec();
                e.push((
                    format!("blobs/sha256/{}", &sha(&cfg)[7..]),
                    cfg,
                    tar::EntryType::Regular,
                ));
                relist(e);
            })
        },
        huge_name,
    ));

    for (case, edit, entry) in cases {
        let file = rewrite(good, &bad.join(format!("{case}.tar")), edit);
        expect_refused(dir, &file, case, &entry, target, None);
    }

    // Cut short: in the middle, and exactly where the end marker starts.
    let bytes = std::fs::read(good).unwrap();
    let cut = bad.join("truncated.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    expect_refused(dir, &cut, "truncated", "truncated", target, None);
    let cut = bad.join("no-end.tar");
    std::fs::write(&cut, &bytes[..bytes.len() - 1024]).unwrap();
    expect_refused(dir, &cut, "no-end", "truncated", target, None);

    // Signatures: another key, and an unsigned file, with --verify-key.
    expect_refused(
        dir,
        good,
        "other-key",
        "checksums.sha256.sig",
        target,
        Some(other),
    );
    let unsigned = rewrite(good, &bad.join("unsigned.tar"), |e| {
        e.retain(|(n, _, _)| n != "checksums.sha256.sig")
    });
    expect_refused(
        dir,
        &unsigned,
        "unsigned",
        "checksums.sha256.sig",
        target,
        Some(public),
    );

    // apply --from refuses a bad file before touching the cluster.
    let (code, _, stderr) = run(
        dir,
        &[
            "apply",
            "--from",
            bad.join("flipped.tar").to_str().unwrap(),
            "--registry",
            &format!("{target}/never"),
            "--wait=false",
        ],
    );
    assert_eq!(code, 2, "apply --from a flipped file: {stderr}");
    assert!(stderr.contains(&big_name), "{stderr}");
    assert!(
        get_json(&["namespace", namespace]).is_none(),
        "nothing is applied from a bad file"
    );
}

fn expect_refused(
    dir: &Path,
    file: &Path,
    case: &str,
    entry: &str,
    target: &str,
    key: Option<&Path>,
) {
    let prefix = unique(&format!("airgap-bad-{case}"));
    let registry_arg = format!("{target}/{prefix}");
    let mut args = vec![
        "import",
        file.to_str().unwrap(),
        "--registry",
        registry_arg.as_str(),
    ];
    if let Some(key) = key {
        args.extend(["--verify-key", key.to_str().unwrap()]);
    }
    let (code, _, stderr) = run(dir, &args);
    assert_eq!(code, 2, "{case}: {stderr}");
    assert!(
        stderr.contains(entry),
        "{case}: {stderr:?} does not name {entry:?}"
    );
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    assert_eq!(
        under(target, &prefix),
        Vec::<String>::new(),
        "{case}: pushed"
    );
}
