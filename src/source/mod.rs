//! Where a distribution comes from. Every source yields a [`Snapshot`]: an
//! immutable, in-memory copy of every file the later stages read, plus where
//! it came from and at which revision, so that parsing, rendering and
//! digests never touch the filesystem (or the network) again and cannot see
//! a half-edited tree.
//!
//! - [`dir`]: a directory on disk (the command line).
//! - [`git`]: a commit of a Git repository (the controller).
//! - [`oci`]: an OCI artifact pushed by `distro push` (the controller).
//! - [`tarball`]: the distribution artifact inside a verified air-gap file.

pub mod dir;

pub mod git;

pub mod oci;
pub mod tarball;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

pub use dir::Error;

/// Where a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A directory on disk; paths in messages are shown joined onto it.
    Dir(PathBuf),
    /// A Git repository: its URL (without credentials) and the directory of
    /// the repository that holds the platform file.
    Git { url: String, path: String },
    /// An OCI artifact: its repository, `oci://host/repo`.
    Oci { url: String },
    /// The distribution artifact of an air-gap file.
    Tarball(PathBuf),
    /// Files built in memory (tests, other front ends).
    Memory,
}

/// The files of one distribution, keyed by their `/`-separated path relative
/// to the distribution root (the directory holding `packages/` and
/// `bundles/`; the platform file is in it or below it).
#[derive(Debug, Clone)]
pub struct Snapshot {
    origin: Origin,
    /// What the source calls this content: `main@sha1:<hex>` for Git,
    /// `v1.2.0@sha256:<hex>` for OCI, `None` for a directory.
    revision: Option<String>,
    platform_file: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl Snapshot {
    /// A snapshot of files already read. `platform_file` is the platform
    /// file's path among `files`.
    pub fn new(
        origin: Origin,
        revision: Option<String>,
        platform_file: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        Self {
            origin,
            revision,
            platform_file: platform_file.to_string(),
            files,
        }
    }

    /// Reads a distribution from disk; see [`dir::read`].
    ///
    /// # Errors
    /// An unreadable file, or a symlink that leaves the distribution directory.
    pub fn from_dir(platform_path: &Path) -> Result<Self, Error> {
        dir::read(platform_path)
    }

    /// Where the snapshot came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The source's revision, when it has one.
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// The directory the snapshot was read from, for a directory source.
    pub fn dir(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Dir(root) => Some(root),
            _ => None,
        }
    }

    /// The platform file's path relative to the root.
    pub fn platform_file(&self) -> &str {
        &self.platform_file
    }

    /// The content of one file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The lock file's bytes, if the distribution has one: next to the
    /// platform file, named as [`crate::lock::file_name`] says.
    pub fn lock(&self) -> Option<&[u8]> {
        self.get(&crate::lock::snapshot_path(&self.platform_file))
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

    /// How a path inside the snapshot is shown in messages: joined onto the
    /// directory it was read from, or as it is in the repository.
    pub fn display(&self, path: &str) -> String {
        match &self.origin {
            Origin::Dir(root) => root.join(path).display().to_string(),
            Origin::Git { path: dir, .. } if !dir.is_empty() && dir != "." => {
                format!("{}/{path}", dir.trim_end_matches('/'))
            }
            // As tar tools name a member: `platform.tar:packages/a/...`.
            Origin::Tarball(file) => format!("{}:{path}", file.display()),
            _ => path.to_string(),
        }
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
    // By table, not `format!` per byte: digests are taken of every object
    // of every reconcile.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
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
            Snapshot::new(Origin::Memory, None, "platform.yaml", files)
        };
        let base = mk("x.yaml", "a").digest_under("packages/a/");
        assert_eq!(base, mk("x.yaml", "a").digest_under("packages/a/"));
        assert_ne!(base, mk("y.yaml", "a").digest_under("packages/a/"));
        assert_ne!(base, mk("x.yaml", "b").digest_under("packages/a/"));
    }

    #[test]
    fn git_paths_are_shown_inside_the_repository() {
        let s = Snapshot::new(
            Origin::Git {
                url: "git://127.0.0.1/p.git".into(),
                path: "clusters/prod".into(),
            },
            Some("main@sha1:0".into()),
            "platform.yaml",
            BTreeMap::new(),
        );
        assert_eq!(s.display("bundles/a.yaml"), "clusters/prod/bundles/a.yaml");
    }
}
