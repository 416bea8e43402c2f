//! One streaming pass over an air-gap file: every entry's name, offset,
//! size and sha256, with the refusals that need no layout knowledge. No
//! entry is ever extracted: later reads go back to the entry's offset in
//! the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{
    BLOBS, CHECKSUMS, Error, INDEX, MAX_CHECKSUMS_BYTES, MAX_ENTRIES, MAX_MANIFEST_BYTES,
    OCI_LAYOUT, SIGNATURE, is_sha256_hex,
};

/// The small files kept in memory; anything else is a blob, hashed and
/// skipped.
const SMALL: [(&str, u64); 4] = [
    (OCI_LAYOUT, 4 << 10),
    (INDEX, MAX_MANIFEST_BYTES),
    (CHECKSUMS, MAX_CHECKSUMS_BYTES),
    (SIGNATURE, 4 << 10),
];

/// Zero bytes a tar writer may leave after the end marker (GNU tar pads to
/// 10 KiB records); more than this is not padding.
const MAX_TRAILER: u64 = 1 << 20;

/// One regular-file entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the first data byte in the file.
    pub offset: u64,
    pub size: u64,
    /// Lower-case hex sha256 of the data.
    pub sha256: String,
}

/// What one pass found.
#[derive(Debug)]
pub struct Scan {
    pub path: PathBuf,
    /// Every regular file, by its name inside the layout.
    pub entries: BTreeMap<String, Entry>,
    /// The content of the small files ([`SMALL`]) that are present.
    pub small: BTreeMap<String, Vec<u8>>,
}

/// What a name inside the tar is.
#[derive(Debug, PartialEq, Eq)]
enum Name {
    File(String),
    /// `blobs/` or `blobs/sha256/`, which tar tools write.
    Dir,
}

/// Checks an entry name and returns it without a leading `./`.
fn classify(raw: &[u8], is_dir: bool) -> Result<Name, Error> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let unsafe_path = |reason| Error::UnsafePath {
        entry: shown.clone(),
        reason,
    };
    let name = std::str::from_utf8(raw).map_err(|_| unsafe_path("the name is not UTF-8"))?;
    if name.starts_with('/') {
        return Err(unsafe_path("absolute path"));
    }
    if name.contains('\0') || name.contains('\\') {
        return Err(unsafe_path("the name has a NUL or a backslash"));
    }
    if name.split('/').any(|part| part == "..") {
        return Err(unsafe_path("the path contains `..`"));
    }
    let name = name.strip_prefix("./").unwrap_or(name);
    if is_dir {
        return match name.trim_end_matches('/') {
            "" | "." | "blobs" | "blobs/sha256" => Ok(Name::Dir),
            _ => Err(Error::Unexpected { entry: shown }),
        };
    }
    let known = SMALL.iter().any(|(n, _)| *n == name)
        || name.strip_prefix(BLOBS).is_some_and(is_sha256_hex);
    if known {
        Ok(Name::File(name.to_string()))
    } else {
        Err(Error::Unexpected { entry: shown })
    }
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    use tar::EntryType as T;
    match kind {
        T::Symlink => "symlink",
        T::Link => "hardlink",
        T::Char | T::Block => "device",
        T::Fifo => "fifo",
        T::GNUSparse => "sparse file",
        T::XGlobalHeader => "pax global header",
        // Never read: their content is unbounded, and layout names are short.
        T::XHeader => "pax extended header",
        T::GNULongName | T::GNULongLink => "GNU long name",
        _ => "unknown type",
    }
}

/// Reads `path` once, start to end, and returns its entries.
///
/// `progress` is called with the number of bytes read so far, now and then.
///
/// # Errors
/// Not a tar; an entry name that is absolute, has `..`, or is not part of
/// an OCI layout; a link, device or other non-file entry; an entry that
/// appears twice; a small file over its limit; a file cut short (inside an
/// entry, or before its end marker); data after the end marker.
pub fn scan(path: &Path, progress: &mut dyn FnMut(u64)) -> Result<Scan, Error> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&shown, e))?;
    let len = file.metadata().map_err(|e| Error::io(&shown, e))?.len();
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, &file));
    let not_tar = |reason: String| Error::NotTar {
        file: shown.clone(),
        reason,
    };
    let mut entries = BTreeMap::new();
    let mut small = BTreeMap::new();
    let mut dirs = std::collections::BTreeSet::new();
    let mut end = 0u64;
    let mut last = String::from("(none)");
    let mut buf = vec![0u8; 256 << 10];
    // Raw: the tar crate would read a GNU long name or pax header whole
    // into memory, however large; a layout needs neither (its names are
    // short), so they are refused as entries instead.
    let iter = archive
        .entries()
        .map_err(|e| not_tar(e.to_string()))?
        .raw(true);
    for entry in iter {
        let mut entry = entry.map_err(|e| {
            // A header cut short: the file ends where a header should be.
            if end + 512 > len {
                Error::NoEnd {
                    entry: last.clone(),
                }
            } else {
                not_tar(format!("after entry {last}: {e}"))
            }
        })?;
        if entries.len() + dirs.len() >= MAX_ENTRIES {
            return Err(Error::TooManyEntries { limit: MAX_ENTRIES });
        }
        let kind = entry.header().entry_type();
        let raw_name = entry.path_bytes().into_owned();
        let name = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => classify(&raw_name, false)?,
            tar::EntryType::Directory => classify(&raw_name, true)?,
            other => {
                return Err(Error::NotAFile {
                    entry: String::from_utf8_lossy(&raw_name).into_owned(),
                    kind: kind_name(other),
                });
            }
        };
        let size = entry.size();
        let offset = entry.raw_file_position();
        end = offset + size.div_ceil(512) * 512;
        let name = match name {
            Name::Dir => {
                let dir = String::from_utf8_lossy(&raw_name).into_owned();
                let key = dir
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_string();
                if !dirs.insert(key) {
                    return Err(Error::Duplicate { entry: dir });
                }
                continue;
            }
            Name::File(name) => name,
        };
        if entries.contains_key(&name) {
            return Err(Error::Duplicate { entry: name });
        }
        let keep = SMALL.iter().find(|(n, _)| *n == name).map(|(_, l)| *l);
        if let Some(limit) = keep
            && size > limit
        {
            return Err(Error::TooLarge {
                entry: name,
                size,
                limit,
            });
        }
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        let mut read = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(Error::io(format!("{shown}: entry {name}"), e)),
            };
            hasher.update(&buf[..n]);
            if keep.is_some() {
                kept.extend_from_slice(&buf[..n]);
            }
            read += n as u64;
            progress(offset + read);
        }
        if read != size {
            return Err(Error::Truncated {
                entry: name,
                read,
                size,
            });
        }
        if keep.is_some() {
            small.insert(name.clone(), kept);
        }
        entries.insert(
            name.clone(),
            Entry {
                offset,
                size,
                sha256: crate::source::hex(&hasher.finalize()),
            },
        );
        last = name;
    }
    check_end(&file, len, end, &last)?;
    progress(len);
    Ok(Scan {
        path: path.to_path_buf(),
        entries,
        small,
    })
}

/// The two zero blocks that end an archive must be there (a file cut at an
/// entry boundary reads as a shorter archive otherwise), and nothing but
/// zero padding may follow.
fn check_end(file: &File, len: u64, end: u64, last: &str) -> Result<(), Error> {
    if len < end + 1024 {
        return Err(Error::NoEnd {
            entry: last.to_string(),
        });
    }
    if len - end > MAX_TRAILER {
        return Err(Error::TrailingData);
    }
    let mut rest = vec![0u8; (len - end) as usize];
    file.read_exact_at(&mut rest, end)
        .map_err(|e| Error::io("the end of the file", e))?;
    if rest.iter().any(|&b| b != 0) {
        // Non-zero bytes in the first two blocks: a header the reader
        // stopped before; later: data appended after the archive.
        return Err(if rest[..1024].iter().any(|&b| b != 0) {
            Error::NoEnd {
                entry: last.to_string(),
            }
        } else {
            Error::TrailingData
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let file = |n: &str| classify(n.as_bytes(), false);
        let hex = "a".repeat(64);
        assert_eq!(
            file("./index.json").unwrap(),
            Name::File("index.json".into())
        );
        assert_eq!(
            file(&format!("blobs/sha256/{hex}")).unwrap(),
            Name::File(format!("blobs/sha256/{hex}"))
        );
        assert_eq!(classify(b"blobs/sha256/", true).unwrap(), Name::Dir);
        assert_eq!(classify(b"./", true).unwrap(), Name::Dir);
        for (bad, why) in [
            ("/etc/passwd", "absolute"),
            ("../index.json", "`..`"),
            ("blobs/../../x", "`..`"),
            ("blobs/sha256/A", "not part"),
            (&format!("blobs/sha512/{hex}"), "not part"),
            ("evil.sh", "not part"),
            ("blobs/sha256/a\\b", "backslash"),
        ] {
            let e = file(bad).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains(&format!("{bad:?}")),
                "{bad}: {e}"
            );
        }
        assert!(classify(b"other/", true).is_err());
        assert!(classify(&[0xff, 0xfe], false).is_err());
    }
}
