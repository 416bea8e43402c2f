//! A distribution read from a directory: the platform file and everything
//! under `packages/` and `bundles/` next to it, plus `distro.lock`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{LOCK_FILE, Origin, Snapshot};

/// Errors while reading a distribution from disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A symlink points outside the distribution directory.
    #[error("{path}: symlink points outside the distribution directory")]
    SymlinkEscape { path: PathBuf },
}

/// Reads the platform file, `distro.lock` and everything under `packages/`
/// and `bundles/` next to it.
///
/// # Errors
/// An unreadable file, or a symlink that leaves the distribution directory.
pub fn read(platform_path: &Path) -> Result<Snapshot, Error> {
    let root = match platform_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::new(),
    };
    let platform_file = platform_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "platform.yaml".to_string());
    let canonical_root = fs::canonicalize(if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &root
    })
    .map_err(|source| Error::Io {
        path: root.clone(),
        source,
    })?;

    let mut files = BTreeMap::new();
    let bytes = fs::read(platform_path).map_err(|source| Error::Io {
        path: platform_path.to_path_buf(),
        source,
    })?;
    files.insert(platform_file.clone(), bytes);
    let lock_path = root.join(LOCK_FILE);
    match fs::read(&lock_path) {
        Ok(bytes) => {
            files.insert(LOCK_FILE.to_string(), bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                path: lock_path,
                source,
            });
        }
    }
    for dir in ["packages", "bundles"] {
        let abs = root.join(dir);
        if abs.is_dir() {
            read_tree(&canonical_root, &abs, dir, &mut files)?;
        }
    }
    Ok(Snapshot::new(
        Origin::Dir(root),
        None,
        &platform_file,
        files,
    ))
}

fn read_tree(
    canonical_root: &Path,
    dir: &Path,
    rel: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel_child = format!("{rel}/{name}");
        let mut file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_symlink() {
            let target = fs::canonicalize(&path).map_err(io(&path))?;
            if !target.starts_with(canonical_root) {
                return Err(Error::SymlinkEscape { path });
            }
            file_type = fs::metadata(&target).map_err(io(&path))?.file_type();
        }
        if file_type.is_dir() {
            read_tree(canonical_root, &path, &rel_child, files)?;
        } else if file_type.is_file() {
            files.insert(rel_child, fs::read(&path).map_err(io(&path))?);
        }
    }
    Ok(())
}
