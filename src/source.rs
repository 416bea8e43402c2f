//! Where a distribution comes from. A [`Snapshot`] is an immutable, in-memory
//! copy of every file the later stages read, so that parsing, rendering and
//! digests never touch the filesystem again and cannot see a half-edited tree.
//!
//! Only a local directory is supported as a source today; Git and OCI sources
//! yield the same `Snapshot`.

pub mod git;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

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

/// The files of one distribution, keyed by their `/`-separated path relative
/// to the distribution root (the directory holding the platform file).
#[derive(Debug, Clone)]
pub struct Snapshot {
    root: PathBuf,
    platform_file: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl Snapshot {
    /// Reads the platform file and everything under `packages/` and `bundles/`
    /// next to it.
    ///
    /// # Errors
    /// An unreadable file, or a symlink that leaves the distribution directory.
    pub fn from_dir(platform_path: &Path) -> Result<Self, Error> {
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
        for dir in ["packages", "bundles"] {
            let abs = root.join(dir);
            if abs.is_dir() {
                read_tree(&canonical_root, &abs, dir, &mut files)?;
            }
        }
        Ok(Self {
            root,
            platform_file,
            files,
        })
    }

    /// Builds a snapshot from files already in memory (tests, other sources).
    pub fn from_files(
        root: impl Into<PathBuf>,
        platform_file: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        Self {
            root: root.into(),
            platform_file: platform_file.to_string(),
            files,
        }
    }

    /// The directory the snapshot was read from; relative paths shown to
    /// users are joined onto it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The platform file's path relative to the root.
    pub fn platform_file(&self) -> &str {
        &self.platform_file
    }

    /// The content of one file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Every file whose path starts with `prefix`, in path order.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.files
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// How a path inside the snapshot is shown in messages.
    pub fn display(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }

    /// `sha256:<hex>` over the paths and contents of every file under `prefix`.
    /// Renaming, adding or changing a file changes the digest.
    pub fn digest_under(&self, prefix: &str) -> String {
        let mut hasher = Sha256::new();
        for (path, bytes) in self.under(prefix) {
            let rel = &path[prefix.len()..];
            hasher.update((rel.len() as u64).to_le_bytes());
            hasher.update(rel.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        format!("sha256:{}", hex(&hasher.finalize()))
    }
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `sha256:<hex>` of a byte string.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Joins `rel` onto the directory `base` (both `/`-separated, inside the
/// snapshot) and normalises `.` and `..`. Returns `None` when the result would
/// leave `base`: `valuesFiles: [../../etc/passwd]` must not read outside the
/// package.
pub fn join_inside(base: &str, rel: &str) -> Option<String> {
    let rel_path = Path::new(rel);
    let mut parts: Vec<String> = Vec::new();
    for component in rel_path.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        parts.join("/")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_inside_rejects_escapes() {
        assert_eq!(
            join_inside("packages/a/1.0.0", "values-ha.yaml").as_deref(),
            Some("packages/a/1.0.0/values-ha.yaml")
        );
        assert_eq!(
            join_inside("packages/a/1.0.0", "./x/../y.yaml").as_deref(),
            Some("packages/a/1.0.0/y.yaml")
        );
        assert_eq!(join_inside("packages/a/1.0.0", "../../etc/passwd"), None);
        assert_eq!(join_inside("packages/a/1.0.0", "/etc/passwd"), None);
        assert_eq!(join_inside("packages/a/1.0.0", ".."), None);
    }

    #[test]
    fn digest_depends_on_names_and_contents() {
        let mk = |name: &str, body: &str| {
            let mut files = BTreeMap::new();
            files.insert(format!("packages/a/{name}"), body.as_bytes().to_vec());
            Snapshot::from_files("", "platform.yaml", files)
        };
        let base = mk("x.yaml", "a").digest_under("packages/a/");
        assert_eq!(base, mk("x.yaml", "a").digest_under("packages/a/"));
        assert_ne!(base, mk("y.yaml", "a").digest_under("packages/a/"));
        assert_ne!(base, mk("x.yaml", "b").digest_under("packages/a/"));
    }
}
