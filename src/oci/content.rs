//! The artifact's content layer: the distribution's files as a gzipped tar.
//!
//! [`pack`] is deterministic: entries in path order, regular files only
//! (directories are implied), mtime 0, uid/gid 0, no user or group names,
//! mode 0644, and a gzip header without a name or time. The same files give
//! the same bytes, so pushing an unchanged distribution gives the same
//! digest.
//!
//! [`unpack`] reads an untrusted layer into memory and refuses, naming the
//! entry: a path that is absolute, has `..`, `.` or empty components, a
//! backslash or a control character; a symlink, hardlink, device, FIFO or
//! any other non-regular entry; a duplicate path, or a path that is both a
//! file and a directory; more entries or bytes than [`Limits`] allow.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;

/// Bounds on an unpacked layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of file content, all entries together.
    pub max_bytes: u64,
    /// Entries (files and directories).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024 * 1024,
            max_entries: 20_000,
        }
    }
}

/// Longest path accepted inside the layer.
const MAX_PATH: usize = 1024;

/// Errors packing or unpacking the content layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("content entry {entry:?}: {reason}")]
    Entry { entry: String, reason: String },
    #[error("content: more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("content: more than {limit} bytes of files")]
    TooLarge { limit: u64 },
    #[error("content: not a gzipped tar: {0}")]
    Format(#[source] std::io::Error),
    #[error("content: cannot pack {path:?}: {source}")]
    Pack {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The gzipped tar of `files` (paths `/`-separated, relative).
///
/// # Errors
/// A path that [`check_path`] refuses (so a pack can always be unpacked).
pub fn pack(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, Error> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in files {
        check_path(path).map_err(|reason| Error::Entry {
            entry: path.clone(),
            reason,
        })?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, path, bytes.as_slice())
            .map_err(|source| Error::Pack {
                path: path.clone(),
                source,
            })?;
    }
    let pack_err = |source| Error::Pack {
        path: String::new(),
        source,
    };
    let gz = tar.into_inner().map_err(pack_err)?;
    gz.finish().map_err(pack_err)
}

/// The files of a gzipped tar, checked as the module says.
///
/// # Errors
/// Any entry the module refuses, or more than `limits`.
pub fn unpack(layer: &[u8], limits: Limits) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    // The decompressed stream is bounded too: headers and padding count, so
    // a bomb of empty entries stops as well.
    let cap = limits
        .max_bytes
        .saturating_add((limits.max_entries as u64 + 2).saturating_mul(2 * 1024));
    let mut archive = tar::Archive::new(GzDecoder::new(layer).take(cap));
    let mut files = BTreeMap::new();
    let mut dirs = std::collections::BTreeSet::new();
    let mut total: u64 = 0;
    let mut count = 0usize;
    for entry in archive.entries().map_err(Error::Format)? {
        let mut entry = entry.map_err(Error::Format)?;
        count += 1;
        if count > limits.max_entries {
            return Err(Error::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason: String| Error::Entry {
            entry: name.clone(),
            reason,
        };
        let path = std::str::from_utf8(&raw)
            .map_err(|_| refuse("path is not UTF-8".into()))?
            .to_string();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            let dir = path.trim_end_matches('/');
            check_path(dir).map_err(refuse)?;
            dirs.insert(dir.to_string());
            continue;
        }
        if kind != tar::EntryType::Regular && kind != tar::EntryType::Continuous {
            return Err(refuse(format!(
                "{} entries are not allowed",
                kind_name(kind)
            )));
        }
        check_path(&path).map_err(refuse)?;
        let size = entry.header().size().map_err(Error::Format)?;
        if total.saturating_add(size) > limits.max_bytes {
            return Err(Error::TooLarge {
                limit: limits.max_bytes,
            });
        }
        total += size;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(Error::Format)?;
        if bytes.len() as u64 != size {
            return Err(refuse("truncated".into()));
        }
        if files.insert(path, bytes).is_some() {
            return Err(refuse("duplicate entry".into()));
        }
    }
    // `a` as a file and `a/b` as another would not fit in one directory.
    for path in files.keys() {
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if files.contains_key(parent) {
                return Err(Error::Entry {
                    entry: parent.to_string(),
                    reason: format!("is a file and the directory of {path:?}"),
                });
            }
            ancestor = parent;
        }
    }
    if let Some(dir) = dirs.iter().find(|d| files.contains_key(*d)) {
        return Err(Error::Entry {
            entry: dir.clone(),
            reason: "is both a file and a directory".into(),
        });
    }
    Ok(files)
}

/// Checks that `path` is a plain relative path: `/`-separated components,
/// none empty, `.` or `..`, no backslash or control character, at most
/// 1024 bytes.
///
/// # Errors
/// Why it is refused.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.len() > MAX_PATH {
        return Err(format!("path longer than {MAX_PATH} bytes"));
    }
    if path.starts_with('/') {
        return Err("absolute path".into());
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err("path has a control character or a backslash".into());
    }
    for component in path.split('/') {
        match component {
            "" => return Err("path has an empty component".into()),
            "." | ".." => return Err(format!("path has a {component:?} component")),
            _ => {}
        }
    }
    Ok(())
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hardlink",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::XGlobalHeader => "pax global header",
        tar::EntryType::GNUSparse => "sparse file",
        _ => "non-regular",
    }
}

/// Writes `files` under `dir` (which must exist and be empty). Used by
/// `distro pull` on a fresh temporary directory.
///
/// # Errors
/// A file cannot be created or written.
pub fn write_tree(dir: &std::path::Path, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    for (path, bytes) in files {
        // Paths were checked by `unpack`; check again, it costs nothing.
        if check_path(path).is_err() {
            return Err(std::io::Error::other(format!("refused path {path:?}")));
        }
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // create_new: never follow or overwrite anything already there.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?;
        file.write_all(bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
            .collect()
    }

    /// One raw entry: path, type, body.
    type Raw<'a> = (&'a str, tar::EntryType, &'a [u8]);

    /// A raw tar with one entry of each given (path, type, body), gzipped;
    /// the path is written into the header as is, unchecked.
    fn hostile(entries: &[Raw]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, kind, body) in entries {
            let mut header = tar::Header::new_gnu();
            {
                let name = &mut header.as_gnu_mut().unwrap().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            header.set_entry_type(*kind);
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            if *kind == tar::EntryType::Symlink || *kind == tar::EntryType::Link {
                header.set_link_name("/etc/passwd").unwrap();
            }
            header.set_cksum();
            tar.append(&header, *body).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn pack_is_deterministic_and_round_trips() {
        let f = files(&[
            ("platform.yaml", "name: p\n"),
            ("bundles/main.yaml", "releases: []\n"),
            (
                &format!("packages/{}/1.0.0/package.yaml", "a".repeat(120)),
                "name: a\n",
            ),
        ]);
        let one = pack(&f).unwrap();
        assert_eq!(one, pack(&f).unwrap());
        assert_eq!(unpack(&one, Limits::default()).unwrap(), f);
    }

    #[test]
    fn hostile_entries_are_refused_by_name() {
        use tar::EntryType as T;
        let cases: &[(&[Raw], &str)] = &[
            (&[("../evil", T::Regular, b"x")], "\"..\" component"),
            (&[("packages/../../evil", T::Regular, b"x")], "\"..\""),
            (&[("/etc/passwd", T::Regular, b"x")], "absolute"),
            (&[("bundles/link", T::Symlink, b"")], "symlink"),
            (&[("bundles/hard", T::Link, b"")], "hardlink"),
            (&[("bundles/dev", T::Char, b"")], "character device"),
            (&[("bundles/blk", T::Block, b"")], "block device"),
            (&[("bundles/fifo", T::Fifo, b"")], "FIFO"),
            (
                &[
                    ("bundles/a.yaml", T::Regular, b"1"),
                    ("bundles/a.yaml", T::Regular, b"2"),
                ],
                "duplicate",
            ),
            (
                &[
                    ("bundles/a", T::Regular, b"1"),
                    ("bundles/a/b", T::Regular, b"2"),
                ],
                "is a file and the directory",
            ),
            (&[("bundles//a", T::Regular, b"x")], "empty component"),
            (&[("bundles\\a", T::Regular, b"x")], "backslash"),
        ];
        for (entries, expected) in cases {
            let err = unpack(&hostile(entries), Limits::default()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected), "{entries:?}: {text}");
            assert!(text.contains(&format!("{:?}", entries[0].0)), "{text}");
        }
    }

    #[test]
    fn limits_bound_entries_and_bytes() {
        let f = files(&[("a", "12345"), ("b", "12345"), ("c", "1")]);
        let layer = pack(&f).unwrap();
        let err = unpack(
            &layer,
            Limits {
                max_bytes: 10,
                max_entries: 10,
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 10 }), "{err}");
        let err = unpack(
            &layer,
            Limits {
                max_bytes: 100,
                max_entries: 2,
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooManyEntries { limit: 2 }), "{err}");
        assert!(matches!(
            unpack(b"not gzip", Limits::default()),
            Err(Error::Format(_))
        ));
    }

    #[test]
    fn a_zip_bomb_stops_at_the_byte_limit() {
        let big = vec![0u8; 4 * 1024 * 1024];
        let mut f = BTreeMap::new();
        f.insert("packages/big".to_string(), big);
        let layer = pack(&f).unwrap();
        assert!(layer.len() < 64 * 1024);
        let err = unpack(
            &layer,
            Limits {
                max_bytes: 1024 * 1024,
                max_entries: 10,
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn paths_are_checked() {
        assert!(check_path("packages/a/1.0.0/values.yaml").is_ok());
        for bad in ["", "/a", "a/../b", "./a", "a//b", "a\nb", "a\\b", "a/"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
