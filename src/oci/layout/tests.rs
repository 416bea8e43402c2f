//! Writer and reader together, and hostile files built in memory.

use std::collections::BTreeMap;
use std::path::Path;

use super::descriptor::media;
use super::*;

/// The entries of a small valid file: a distribution artifact, a
/// single-platform image with two layers, and a two-platform index.
struct Content {
    blobs: BTreeMap<String, Vec<u8>>,
    index: Vec<u8>,
}

fn digest(bytes: &[u8]) -> String {
    crate::source::sha256(bytes)
}

fn desc(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest(bytes), "size": bytes.len()})
}

fn manifest(config_type: &str, config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| desc("application/vnd.oci.image.layer.v1.tar+gzip", l))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": desc(config_type, config),
        "layers": layers,
    }))
    .unwrap()
}

fn content() -> Content {
    let mut blobs = BTreeMap::new();
    let mut add = |bytes: Vec<u8>| {
        blobs.insert(digest(&bytes), bytes.clone());
        bytes
    };
    let dist_config = add(br#"{"platform":"t"}"#.to_vec());
    let dist_layer = add(b"distribution content".to_vec());
    let dist = add(manifest(media::DISTRO_CONFIG, &dist_config, &[&dist_layer]));
    let config = add(br#"{"architecture":"amd64","os":"linux"}"#.to_vec());
    let l1 = add(vec![1u8; 3000]);
    let l2 = add(b"second layer".to_vec());
    let app = add(manifest(
        "application/vnd.oci.image.config.v1+json",
        &config,
        &[&l1, &l2],
    ));
    let arm_config = add(br#"{"architecture":"arm64","os":"linux"}"#.to_vec());
    let arm = add(manifest(
        "application/vnd.oci.image.config.v1+json",
        &arm_config,
        &[&l1],
    ));
    let mut amd_d = desc(media::OCI_MANIFEST, &app);
    amd_d["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let mut arm_d = desc(media::OCI_MANIFEST, &arm);
    arm_d["platform"] = serde_json::json!({"os": "linux", "architecture": "arm64"});
    let multi = add(serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [amd_d, arm_d]
    }))
    .unwrap());
    let named = |mut d: serde_json::Value, name: &str| {
        d["annotations"] = serde_json::json!({ REF_NAME: name });
        d
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [
            named(desc(media::OCI_MANIFEST, &dist), "distribution"),
            named(desc(media::OCI_MANIFEST, &app), "registry.test/app:1.0"),
            named(desc(media::OCI_INDEX, &multi), "registry.test/multi:2.0"),
        ]
    }))
    .unwrap();
    Content { blobs, index }
}

impl Content {
    /// Every entry, in the writer's order, with a checksums file.
    fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![
            (
                OCI_LAYOUT.to_string(),
                OCI_LAYOUT_CONTENT.as_bytes().to_vec(),
            ),
            (INDEX.to_string(), self.index.clone()),
        ];
        for (d, bytes) in &self.blobs {
            out.push((blob_entry(d), bytes.clone()));
        }
        let sums: Vec<(String, String)> = out
            .iter()
            .map(|(n, b)| (n.clone(), crate::source::hex(&sha2::Sha256::digest(b))))
            .collect();
        let text = checksums::render(sums.iter().map(|(n, h)| (n.as_str(), h.as_str())));
        out.insert(2, (CHECKSUMS.to_string(), text.into_bytes()));
        out
    }
}

use sha2::Digest;

/// Writes entries as a tar with tar::Builder (names set raw, so hostile
/// names get through).
fn tar_of(entries: &[(String, Vec<u8>, tar::EntryType)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes, kind) in entries {
        let mut h = tar::Header::new_ustar();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(bytes.len() as u64);
        h.set_entry_type(*kind);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            h.set_link_name("index.json").unwrap();
            h.set_size(0);
        }
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn regular(entries: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>, tar::EntryType)> {
    entries
        .into_iter()
        .map(|(n, b)| (n, b, tar::EntryType::Regular))
        .collect()
}

fn verify_bytes(dir: &Path, bytes: &[u8]) -> Result<Layout, Error> {
    let path = dir.join("t.tar");
    std::fs::write(&path, bytes).unwrap();
    verify(&path, None, &mut |_| {})
}

#[test]
fn written_file_verifies_and_is_deterministic() {
    let c = content();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str| {
        let entries = c.entries();
        let files: Vec<(&str, &[u8])> = entries[..3]
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let sizes = c
            .blobs
            .iter()
            .map(|(d, b)| (d.clone(), b.len() as u64))
            .collect();
        let w = write::Writer::create(&dir.path().join(name), &files, &sizes).unwrap();
        for (d, b) in &c.blobs {
            w.write_blob(d, b).unwrap();
        }
        w.finish().unwrap()
    };
    let a = write("a.tar");
    let b = write("b.tar");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Only the two results are left: no temporary file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    let layout = verify(&a, None, &mut |_| {}).unwrap();
    assert_eq!(layout.images.len(), 2);
    let multi = layout.image("registry.test/multi:2.0").unwrap();
    assert_eq!(multi.children.len(), 2);
    // Two configs and two layers: the layer both platforms share is
    // listed once.
    assert_eq!(multi.blobs.len(), 4);
    assert_eq!(
        layout.image("registry.test/app:1.0").unwrap().blobs.len(),
        3
    );
    assert_eq!(layout.distribution.layer.size, 20);
    // GNU tar reads it as an ordinary archive.
    let listed = std::process::Command::new("tar").arg("tf").arg(&a).output();
    if let Ok(out) = listed {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("oci-layout\nindex.json\nchecksums.sha256\nblobs/sha256/"));
    }
}

#[test]
fn any_entry_order_and_tar_directories_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = regular(content().entries());
    entries.reverse();
    entries.insert(
        0,
        ("./blobs/sha256/".into(), vec![], tar::EntryType::Directory),
    );
    entries.insert(0, ("./blobs/".into(), vec![], tar::EntryType::Directory));
    verify_bytes(dir.path(), &tar_of(&entries)).unwrap();
}

fn first_blob_of(entries: &[(String, Vec<u8>)], min: usize) -> usize {
    entries
        .iter()
        .position(|(n, b)| n.starts_with(BLOBS) && b.len() >= min)
        .unwrap()
}

/// Each hostile file, and the words its error must have.
#[test]
fn hostile_files_are_refused_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let good = content().entries();
    let big = first_blob_of(&good, 3000);
    let big_name = good[big].0.clone();
    let mut cases: Vec<(&str, Vec<u8>, Vec<String>)> = Vec::new();
    let expect = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();

    let mut flipped = good.clone();
    flipped[big].1[100] ^= 1;
    cases.push((
        "flipped byte",
        tar_of(&regular(flipped)),
        expect(&[&big_name, "digest"]),
    ));

    let mut missing = good.clone();
    missing.remove(big);
    cases.push((
        "missing blob",
        tar_of(&regular(missing)),
        expect(&[&big_name, "missing"]),
    ));

    let mut extra = regular(good.clone());
    extra.push(("evil.sh".into(), b"x".to_vec(), tar::EntryType::Regular));
    cases.push((
        "extra file",
        tar_of(&extra),
        expect(&["evil.sh", "not part"]),
    ));

    let mut unlisted = regular(good.clone());
    let stray = b"stray".to_vec();
    unlisted.push((blob_entry(&digest(&stray)), stray, tar::EntryType::Regular));
    cases.push(("extra blob", tar_of(&unlisted), expect(&["not listed"])));

    for (label, name) in [("dotdot", "../index.json"), ("absolute", "/etc/passwd")] {
        let mut e = regular(good.clone());
        e.push((name.into(), b"x".to_vec(), tar::EntryType::Regular));
        cases.push((label, tar_of(&e), expect(&[name, "refused"])));
    }
    for (label, kind) in [
        ("symlink", tar::EntryType::Symlink),
        ("hardlink", tar::EntryType::Link),
    ] {
        let mut e = regular(good.clone());
        e.push((blob_entry(&"b".repeat(64)), vec![], kind));
        cases.push((label, tar_of(&e), expect(&[label, "refused"])));
    }

    // A pax header in front of an entry: refused unread (its size is
    // whatever the file says).
    let mut pax = regular(good.clone());
    pax.insert(
        1,
        (
            "PaxHeaders/index.json".into(),
            b"30 path=index.json\n".to_vec(),
            tar::EntryType::XHeader,
        ),
    );
    cases.push((
        "pax header",
        tar_of(&pax),
        expect(&["pax extended header", "refused"]),
    ));

    let mut dup = regular(good.clone());
    dup.push(dup[1].clone());
    cases.push(("duplicate", tar_of(&dup), expect(&["index.json", "twice"])));

    let mut huge = good.clone();
    huge[1].1 = vec![b' '; (MAX_MANIFEST_BYTES + 1) as usize];
    cases.push((
        "oversized index",
        tar_of(&regular(huge)),
        expect(&["index.json", "limit"]),
    ));

    // A file cut inside a blob, and one cut exactly after an entry.
    let whole = tar_of(&regular(good.clone()));
    cases.push((
        "truncated",
        whole[..whole.len() - 1024 - 600].to_vec(),
        expect(&["truncated"]),
    ));
    cases.push((
        "cut in the middle",
        whole[..whole.len() / 2].to_vec(),
        expect(&["truncated"]),
    ));
    cases.push((
        "no end marker",
        whole[..whole.len() - 1024].to_vec(),
        expect(&["truncated"]),
    ));
    let mut appended = whole.clone();
    appended.extend_from_slice(b"trailing garbage");
    cases.push(("appended", appended, expect(&["end-of-archive"])));

    for (label, bytes, words) in cases {
        let e = verify_bytes(dir.path(), &bytes)
            .map(|_| ())
            .expect_err(label)
            .to_string();
        for w in &words {
            assert!(e.contains(w.as_str()), "{label}: {e:?} lacks {w:?}");
        }
    }
}

#[test]
fn oversized_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = content();
    // A manifest padded past the limit, consistently named and listed.
    let mut big = manifest("application/vnd.oci.image.config.v1+json", b"{}", &[]);
    big.pop();
    big.extend(std::iter::repeat_n(b' ', MAX_MANIFEST_BYTES as usize));
    big.push(b'}');
    c.blobs.insert(digest(b"{}"), b"{}".to_vec());
    c.blobs.insert(digest(&big), big.clone());
    let mut index: serde_json::Value = serde_json::from_slice(&c.index).unwrap();
    let mut d = desc(media::OCI_MANIFEST, &big);
    d["annotations"] = serde_json::json!({ REF_NAME: "registry.test/big:1" });
    index["manifests"].as_array_mut().unwrap().push(d);
    c.index = serde_json::to_vec(&index).unwrap();
    let e = verify_bytes(dir.path(), &tar_of(&regular(c.entries())))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&blob_entry(&digest(&big))) && e.contains("limit"),
        "{e}"
    );
}

#[test]
fn inconsistent_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A layer the manifest names is not in the file (and not listed).
    let mut c = content();
    let layer = c
        .blobs
        .iter()
        .find(|(_, b)| b.len() == 3000)
        .unwrap()
        .0
        .clone();
    c.blobs.remove(&layer);
    let e = verify_bytes(dir.path(), &tar_of(&regular(c.entries())))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&blob_entry(&layer)) && e.contains("references it"),
        "{e}"
    );

    // A blob nothing references.
    let mut c = content();
    c.blobs.insert(digest(b"orphan"), b"orphan".to_vec());
    let e = verify_bytes(dir.path(), &tar_of(&regular(c.entries())))
        .unwrap_err()
        .to_string();
    assert!(e.contains("never referenced"), "{e}");

    // No distribution artifact.
    let mut c = content();
    let mut index: serde_json::Value = serde_json::from_slice(&c.index).unwrap();
    index["manifests"].as_array_mut().unwrap().remove(0);
    c.index = serde_json::to_vec(&index).unwrap();
    let e = verify_bytes(dir.path(), &tar_of(&regular(c.entries())))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no distribution artifact") || e.contains("never referenced"),
        "{e}"
    );
}

#[test]
fn signature_is_checked_when_a_key_is_given() {
    use signature::{SigningKeyFile, VerifyingKeyFile};
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !run(&["genpkey", "-algorithm", "ed25519", "-out", "k.pem"])
        || !run(&["pkey", "-in", "k.pem", "-pubout", "-out", "k.pub"])
        || !run(&["genpkey", "-algorithm", "ed25519", "-out", "other.pem"])
        || !run(&["pkey", "-in", "other.pem", "-pubout", "-out", "other.pub"])
    {
        panic!("openssl makes ed25519 keys");
    }
    let key = SigningKeyFile::read(&dir.path().join("k.pem")).unwrap();
    let public = VerifyingKeyFile::read(&dir.path().join("k.pub")).unwrap();
    let other = VerifyingKeyFile::read(&dir.path().join("other.pub")).unwrap();
    let mut entries = content().entries();
    let sig = key.sign(&entries[2].1).to_vec();
    entries.insert(3, (SIGNATURE.to_string(), sig));
    let path = dir.path().join("signed.tar");
    std::fs::write(&path, tar_of(&regular(entries.clone()))).unwrap();
    assert!(verify(&path, Some(&public), &mut |_| {}).unwrap().signed);
    let e = verify(&path, Some(&other), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(SIGNATURE) && e.contains("does not verify"),
        "{e}"
    );
    // OpenSSL checks the same signature.
    std::fs::write(dir.path().join(CHECKSUMS), &entries[2].1).unwrap();
    std::fs::write(dir.path().join(SIGNATURE), &entries[3].1).unwrap();
    assert!(run(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", "k.pub", "-rawin", "-in", CHECKSUMS, "-sigfile",
        SIGNATURE
    ]));
    // Unsigned, with a key asked for.
    entries.remove(3);
    std::fs::write(&path, tar_of(&regular(entries))).unwrap();
    let e = verify(&path, Some(&public), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");
    assert!(!verify(&path, None, &mut |_| {}).unwrap().signed);
}
