//! A distribution read from an air-gap file: the content layer of the
//! distribution artifact inside it, unpacked in memory with the same
//! checks as `distro pull` (see [`crate::oci::content`]). The file must
//! have been verified first ([`crate::oci::layout::verify`]); the layer and
//! config are checked against their digests again as they are read.

use crate::oci::artifact::Config;
use crate::oci::content::{self, Limits};
use crate::oci::layout::{self, Layout};

use super::{Origin, Snapshot};

/// Largest artifact config read.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Why the distribution cannot be read from the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file fails verification (or a key cannot be read).
    #[error("{file}: {source}")]
    Verify {
        file: String,
        #[source]
        source: layout::Error,
    },
    #[error(transparent)]
    Layout(#[from] layout::Error),
    #[error("{file}: distribution artifact: {source}")]
    Content {
        file: String,
        #[source]
        source: content::Error,
    },
    #[error("{file}: distribution artifact: {reason}")]
    Artifact { file: String, reason: String },
    /// The relocation map cannot be made (a bad `--registry`).
    #[error(transparent)]
    Import(#[from] crate::oci::import::Error),
}

impl Error {
    /// A verification failure of `file`.
    pub fn verify(file: &std::path::Path, source: layout::Error) -> Self {
        let file = file.display().to_string();
        match source {
            // Already named: `platform.tar: No such file or directory`.
            layout::Error::Io { ref path, .. } | layout::Error::NotTar { file: ref path, .. }
                if *path == file =>
            {
                Error::Layout(source)
            }
            source => Error::Verify { file, source },
        }
    }
}

/// The snapshot of the distribution in `layout`. Its revision is
/// `<file name>@<artifact manifest digest>`.
///
/// # Errors
/// The config or layer is malformed, over the limits of
/// [`Limits::default`], changed since verification, or holds a path the
/// content rules refuse; the platform file the config names is missing.
pub fn read(layout: &Layout) -> Result<Snapshot, Error> {
    let file = layout.path().display().to_string();
    let artifact = |reason: String| Error::Artifact {
        file: file.clone(),
        reason,
    };
    let dist = &layout.distribution;
    let config: Config =
        serde_json::from_slice(&layout.read_bounded(&dist.config.digest, MAX_CONFIG_BYTES)?)
            .map_err(|e| artifact(format!("config: {e}")))?;
    let limits = Limits::default();
    let layer = layout.read_bounded(&dist.layer.digest, limits.max_bytes)?;
    let files = content::unpack(&layer, limits).map_err(|source| Error::Content {
        file: file.clone(),
        source,
    })?;
    let platform_file = config.platform.file;
    content::check_path(&platform_file)
        .map_err(|reason| artifact(format!("config platform.file: {reason}")))?;
    if !files.contains_key(&platform_file) {
        return Err(artifact(format!(
            "the content has no platform file {platform_file:?}"
        )));
    }
    let name = layout
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.clone());
    Ok(Snapshot::new(
        Origin::Tarball(layout.path().to_path_buf()),
        Some(format!("{name}@{}", dist.manifest.digest)),
        &platform_file,
        files,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::oci::artifact::{self, PlatformInfo, Provenance};
    use crate::oci::layout::descriptor::{Descriptor, Index, media};
    use crate::oci::layout::{
        CHECKSUMS, INDEX, OCI_LAYOUT, OCI_LAYOUT_CONTENT, REF_NAME, blob_entry, checksums, verify,
        write::Writer,
    };

    /// A file holding only the artifact of `files`.
    fn file_of(dir: &std::path::Path, files: &BTreeMap<String, Vec<u8>>) -> std::path::PathBuf {
        let config = artifact::Config {
            platform: PlatformInfo {
                name: "t".into(),
                file: "platform.yaml".into(),
            },
            releases: Vec::new(),
        };
        let built =
            artifact::build(files, &config, &Provenance::default(), &BTreeMap::new()).unwrap();
        let blobs: BTreeMap<String, Vec<u8>> = [&built.manifest, &built.config, &built.layer]
            .iter()
            .map(|b| (crate::source::sha256(b), b.to_vec()))
            .collect();
        let index = serde_json::to_vec(&Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: vec![Descriptor {
                media_type: media::OCI_MANIFEST.into(),
                digest: built.digest.clone(),
                size: built.manifest.len() as u64,
                artifact_type: Some(media::DISTRO_CONFIG.into()),
                platform: None,
                annotations: BTreeMap::from([(REF_NAME.to_string(), "distribution".into())]),
            }],
        })
        .unwrap();
        let hex = |b: &[u8]| crate::source::sha256(b)[7..].to_string();
        let mut lines = vec![
            (OCI_LAYOUT.to_string(), hex(OCI_LAYOUT_CONTENT.as_bytes())),
            (INDEX.to_string(), hex(&index)),
        ];
        lines.extend(blobs.iter().map(|(d, b)| (blob_entry(d), hex(b))));
        let sums = checksums::render(lines.iter().map(|(n, h)| (n.as_str(), h.as_str())));
        let files = [
            (OCI_LAYOUT, OCI_LAYOUT_CONTENT.as_bytes()),
            (INDEX, index.as_slice()),
            (CHECKSUMS, sums.as_bytes()),
        ];
        let sizes = blobs
            .iter()
            .map(|(d, b)| (d.clone(), b.len() as u64))
            .collect();
        let w = Writer::create(&dir.join("platform.tar"), &files, &sizes).unwrap();
        for (d, b) in &blobs {
            w.write_blob(d, b).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn the_snapshot_is_the_artifact_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BTreeMap::new();
        files.insert(
            "platform.yaml".to_string(),
            b"name: t\nbundle: b\n".to_vec(),
        );
        files.insert("bundles/b.yaml".to_string(), b"releases: []\n".to_vec());
        let path = file_of(dir.path(), &files);
        let layout = verify(&path, None, &mut |_| {}).unwrap();
        let snapshot = read(&layout).unwrap();
        assert_eq!(snapshot.platform_file(), "platform.yaml");
        assert_eq!(snapshot.get("bundles/b.yaml"), Some(&b"releases: []\n"[..]));
        assert_eq!(
            snapshot.revision(),
            Some(format!("platform.tar@{}", layout.distribution.manifest.digest).as_str())
        );
        assert!(
            snapshot
                .display("bundles/b.yaml")
                .ends_with("platform.tar:bundles/b.yaml")
        );
    }

    #[test]
    fn a_missing_platform_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BTreeMap::new();
        files.insert("bundles/b.yaml".to_string(), b"releases: []\n".to_vec());
        let layout = verify(&file_of(dir.path(), &files), None, &mut |_| {}).unwrap();
        let e = read(&layout).unwrap_err().to_string();
        assert!(e.contains("no platform file"), "{e}");
    }
}
