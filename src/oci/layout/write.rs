//! Writing the air-gap file.
//!
//! Every entry's size is known before the first byte is downloaded (from
//! the descriptors), so the whole tar is laid out up front: headers and the
//! small files are written at once, and each blob gets a fixed slot that a
//! download can fill in parallel with the others, straight from the
//! network, with no spool file and no blob in memory. The file is written
//! under a temporary name beside the destination and renamed over it only
//! when complete, so a failed export leaves nothing behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Error, blob_entry};

/// Tar block size.
const BLOCK: u64 = 512;

/// Where one blob's bytes go in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Offset of the first data byte.
    pub offset: u64,
    pub size: u64,
}

/// An air-gap file being written; dropped unfinished, it is removed.
#[derive(Debug)]
pub struct Writer {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
    slots: BTreeMap<String, Slot>,
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

/// A ustar header with fixed metadata (mode 0644, owner 0:0, mtime 0), so
/// the same content gives the same bytes.
fn header(name: &str, size: u64) -> Result<[u8; 512], Error> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| Error::invalid(name, format!("cannot be a tar entry name: {e}")))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(h.as_bytes());
    Ok(out)
}

impl Writer {
    /// Creates the file beside `dest` and writes `files` (name and content,
    /// in this order) followed by one slot per blob (`sha256:<hex>` ->
    /// size, in digest order), then the end-of-archive marker.
    ///
    /// # Errors
    /// The temporary file cannot be created or written.
    pub fn create(
        dest: &Path,
        files: &[(&str, &[u8])],
        blobs: &BTreeMap<String, u64>,
    ) -> Result<Self, Error> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let shown = dest.display().to_string();
        let temp = tempfile::Builder::new()
            .prefix(".distro-export-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(&shown, e))?;
        let file = temp.as_file();
        let write = |offset: u64, bytes: &[u8]| {
            file.write_all_at(bytes, offset)
                .map_err(|e| Error::io(&shown, e))
        };
        let mut at = 0u64;
        for (name, content) in files {
            write(at, &header(name, content.len() as u64)?)?;
            write(at + BLOCK, content)?;
            at += BLOCK + padded(content.len() as u64);
        }
        let mut slots = BTreeMap::new();
        for (digest, &size) in blobs {
            write(at, &header(&blob_entry(digest), size)?)?;
            slots.insert(
                digest.clone(),
                Slot {
                    offset: at + BLOCK,
                    size,
                },
            );
            at += BLOCK + padded(size);
        }
        // Two zero blocks end the archive; set_len leaves the blob slots and
        // the padding as zeros without writing them.
        file.set_len(at + 2 * BLOCK)
            .map_err(|e| Error::io(&shown, e))?;
        Ok(Self {
            temp,
            dest: dest.to_path_buf(),
            slots,
        })
    }

    /// The slot of a blob.
    pub fn slot(&self, digest: &str) -> Option<Slot> {
        self.slots.get(digest).copied()
    }

    /// The temporary file, for downloads to open their own handle on.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Writes a blob held in memory (a manifest, the distribution's layer)
    /// into its slot.
    ///
    /// # Errors
    /// No slot for the digest, a size other than the slot's, or a write
    /// error.
    pub fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), Error> {
        let slot = self
            .slot(digest)
            .ok_or_else(|| Error::invalid(blob_entry(digest), "no slot for this blob"))?;
        if slot.size != bytes.len() as u64 {
            return Err(Error::SizeMismatch {
                entry: blob_entry(digest),
                digest: digest.to_string(),
                expected: slot.size,
                actual: bytes.len() as u64,
            });
        }
        self.temp
            .as_file()
            .write_all_at(bytes, slot.offset)
            .map_err(|e| Error::io(self.dest.display(), e))
    }

    /// Flushes the file to disk and renames it to its destination.
    ///
    /// # Errors
    /// The flush or the rename fails (the temporary file is removed).
    pub fn finish(self) -> Result<PathBuf, Error> {
        use std::os::unix::fs::PermissionsExt;
        let shown = self.dest.display().to_string();
        let file = self.temp.as_file();
        // A temporary file is private (0600); the result is an ordinary
        // file to hand on.
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(&shown, e))?;
        file.sync_all().map_err(|e| Error::io(&shown, e))?;
        self.temp
            .persist(&self.dest)
            .map_err(|e| Error::io(&shown, e.error))?;
        Ok(self.dest)
    }
}

/// Opens the file a [`Writer`] is filling, for a download to write a slot.
///
/// # Errors
/// The file cannot be opened.
pub fn open_for_slot(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().write(true).open(path)
}
