//! Writing rendered releases: one stream for stdout, or a directory with one
//! file per release plus `index.json`.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::RenderedRelease;

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
/// # Errors
/// The directory or a file cannot be written.
pub fn write_dir(releases: &[RenderedRelease], dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let index_path = dir.join("index.json");
    let previous: Vec<IndexEntry> = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for r in releases {
        write_atomic(&dir.join(format!("{}.yaml", r.name)), r.manifest.as_bytes())?;
    }
    for old in previous {
        if !releases.iter().any(|r| r.name == old.name) {
            let stale = dir.join(format!("{}.yaml", old.name));
            match std::fs::remove_file(&stale) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    let mut json = serde_json::to_vec_pretty(&index(releases)).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_atomic(&index_path, &json)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
