//! A distribution read from a directory: the platform file, its lock, and
//! everything under `packages/` and `bundles/` of the distribution root.
//!
//! The root is the nearest directory, starting with the platform file's
//! own, that holds `packages/` or `bundles/`; the search goes up through
//! parent directories as Cargo's workspace search does, and stops at a
//! repository root (a directory holding `.git`). So `staging/platform.yaml`
//! and `prod/platform.yaml` can share one `packages/` and `bundles/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::{Origin, Snapshot};

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

/// Reads the platform file, its lock (next to it) and everything under
/// `packages/` and `bundles/` of the distribution root (see the module).
///
/// # Errors
/// An unreadable file, or a symlink that leaves the distribution directory.
pub fn read(platform_path: &Path) -> Result<Snapshot, Error> {
    let platform_dir = match platform_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::new(),
    };
    let file_name = platform_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "platform.yaml".to_string());
    let canonical_dir = fs::canonicalize(non_empty(&platform_dir)).map_err(|source| Error::Io {
        path: platform_dir.clone(),
        source,
    })?;
    let (root, canonical_root, inside) = find_root(&platform_dir, &canonical_dir);
    let platform_file = match inside.as_str() {
        "" => file_name.clone(),
        dir => format!("{dir}/{file_name}"),
    };

    let mut files = BTreeMap::new();
    let bytes = fs::read(platform_path).map_err(|source| Error::Io {
        path: platform_path.to_path_buf(),
        source,
    })?;
    files.insert(platform_file.clone(), bytes);
    let lock_path = platform_dir.join(crate::lock::file_name(&file_name));
    match fs::read(&lock_path) {
        Ok(bytes) => {
            files.insert(crate::lock::snapshot_path(&platform_file), bytes);
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

fn non_empty(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}

/// The distribution root for a platform file in `dir`: the root as shown in
/// messages (relative when `dir` is), canonical, and the platform file's
/// directory inside it (`/`-separated, empty when they are the same).
fn find_root(dir: &Path, canonical_dir: &Path) -> (PathBuf, PathBuf, String) {
    let holds = |d: &Path| d.join("packages").is_dir() || d.join("bundles").is_dir();
    let mut candidate = canonical_dir;
    let mut levels = 0;
    let found = loop {
        if holds(candidate) {
            break Some(candidate);
        }
        if candidate.join(".git").exists() {
            break None;
        }
        match candidate.parent() {
            Some(parent) => {
                candidate = parent;
                levels += 1;
            }
            None => break None,
        }
    };
    let Some(canonical_root) = found.filter(|_| levels > 0) else {
        return (
            dir.to_path_buf(),
            canonical_dir.to_path_buf(),
            String::new(),
        );
    };
    let inside = canonical_dir
        .strip_prefix(canonical_root)
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    // `staging` up one is ``, `.` up one is `..`; a symlink on the way makes
    // the lexical answer wrong, and then the canonical path is shown.
    let lexical = up(dir, levels);
    let shown = match fs::canonicalize(non_empty(&lexical)) {
        Ok(c) if c == canonical_root => lexical,
        _ => canonical_root.to_path_buf(),
    };
    (shown, canonical_root.to_path_buf(), inside)
}

/// `dir` with `levels` trailing components removed, or `..` appended where
/// there is none left to remove.
fn up(dir: &Path, levels: usize) -> PathBuf {
    let mut parts: Vec<Component> = dir.components().collect();
    let mut climbs = 0;
    for _ in 0..levels {
        match parts.last() {
            Some(Component::Normal(_)) if climbs == 0 => {
                parts.pop();
            }
            _ => climbs += 1,
        }
    }
    let mut out: PathBuf = parts.iter().collect();
    for _ in 0..climbs {
        out.push("..");
    }
    out
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
