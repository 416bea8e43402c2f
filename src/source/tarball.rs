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
        Error::Verify {
            file: file.display().to_string(),
            source,
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
