//! Writing rendered releases: one stream for stdout, or a directory with one
//! file per release plus `index.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RenderedRelease;
use crate::model::check_dns_label;

/// One line of `index.json`.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: String,
    pub namespace: String,
    pub package: String,
    pub version: String,
    pub digest: String,
    pub objects: usize,
}

/// The index of a set of releases, in the order given (apply order).
pub fn index(releases: &[RenderedRelease]) -> Vec<IndexEntry> {
    releases
        .iter()
        .map(|r| IndexEntry {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            package: r.package.clone(),
            version: r.version.clone(),
            digest: r.digest.clone(),
            objects: r.objects.len(),
        })
        .collect()
}

/// Writes every release's manifest, in order, as one multi-document stream.
///
/// # Errors
/// The writer fails (a closed pipe, a full disk).
pub fn stream(releases: &[RenderedRelease], out: &mut impl Write) -> std::io::Result<()> {
    for r in releases {
        out.write_all(r.manifest.as_bytes())?;
    }
    out.flush()
}

/// Writes `DIR/<release>.yaml` per release and `DIR/index.json`. Release
/// files listed in a previous `index.json` but no longer rendered are
/// removed, so the directory always mirrors the platform. Each file is
/// written to a temporary name and renamed, so readers never see half a file.
///
/// # Guarantees
/// The previous `index.json` is untrusted (it may come from a pull request):
/// only entries whose name is a valid release name are considered, and only
/// a regular file `DIR/<name>.yaml` (never a symlink) is removed, so nothing
/// outside `DIR` can be deleted. A file that cannot be written is named in
/// the error and no temporary file is left behind.
///
/// # Errors
/// The directory or a file cannot be written.
pub fn write_dir(releases: &[RenderedRelease], dir: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(WriteError::at(dir))?;
    let index_path = dir.join("index.json");
    let previous: Vec<IndexEntry> = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for r in releases {
        write_atomic(&dir.join(format!("{}.yaml", r.name)), r.manifest.as_bytes())?;
    }
    for old in previous {
        if releases.iter().any(|r| r.name == old.name) {
            continue;
        }
        if check_dns_label(&old.name).is_err() {
            tracing::warn!(name = %old.name.escape_debug(), "ignoring invalid release name in a previous index.json");
            continue;
        }
        let stale = dir.join(format!("{}.yaml", old.name));
        match std::fs::symlink_metadata(&stale) {
            Ok(meta) if meta.file_type().is_file() => {
                std::fs::remove_file(&stale).map_err(WriteError::at(&stale))?;
            }
            _ => {}
        }
    }
    let mut json = serde_json::to_vec_pretty(&index(releases)).map_err(|e| WriteError::Io {
        path: index_path.clone(),
        source: std::io::Error::other(e),
    })?;
    json.push(b'\n');
    write_atomic(&index_path, &json)
}

/// A file of `--out` that could not be written, named.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl WriteError {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
        move |source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let tmp = path.with_extension("tmp~");
    let result = std::fs::write(&tmp, bytes)
        .map_err(WriteError::at(path))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(WriteError::at(path)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
