//! The air-gap file: one uncompressed tar holding an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), a `checksums.sha256`
//! file (sha256sum format, one line per other entry) and optionally
//! `checksums.sha256.sig`, a raw 64-byte ed25519 signature over the checksums
//! file.
//!
//! Entries are written in a fixed order (`oci-layout`, `index.json`,
//! `checksums.sha256`, the signature, then blobs by digest) with fixed
//! metadata, so the same content gives the same bytes. Readers accept any
//! order: every check is made after one streaming pass over the whole file.
//!
//! - [`write`]: lay the tar out up front (every size is known from the
//!   descriptors) so blobs can be downloaded in parallel straight to their
//!   place in the file.
//! - [`read`]: one streaming pass: every entry's name, type, offset, size and
//!   sha256, with the tar-level refusals (unsafe names, links, duplicates,
//!   truncation).
//! - [`verify`]: the layout-level checks on top of a scan (checksums,
//!   signature, index and manifests consistent, every blob present), giving
//!   a [`Layout`] to push or render from.
//! - [`checksums`], [`signature`]: the two extra files.

pub mod blob;
pub mod checksums;
pub mod descriptor;
pub mod read;
pub mod signature;
pub mod verify;
pub mod write;

#[cfg(test)]
mod tests;

pub use descriptor::{Descriptor, Platform};
pub use verify::{Image, Layout, verify};

/// The layout marker file.
pub const OCI_LAYOUT: &str = "oci-layout";
/// The layout's index: one descriptor per image and one for the distribution.
pub const INDEX: &str = "index.json";
/// sha256sum-format checksums of every entry but itself and the signature.
pub const CHECKSUMS: &str = "checksums.sha256";
/// Detached ed25519 signature over [`CHECKSUMS`].
pub const SIGNATURE: &str = "checksums.sha256.sig";
/// Where blobs live inside the layout.
pub const BLOBS: &str = "blobs/sha256/";

/// The content of [`OCI_LAYOUT`].
pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

/// Largest index, manifest or image index read into memory, the limit
/// registries put on manifests too.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest checksums file: far more lines than any distribution needs.
pub const MAX_CHECKSUMS_BYTES: u64 = 16 << 20;
/// Most entries a file may hold.
pub const MAX_ENTRIES: usize = 200_000;

/// The annotation naming an image by its full original reference.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// On an image whose multi-platform index was filtered at export: the
/// digest of the index as the source registry served it.
pub const SOURCE_DIGEST: &str = "dev.distro.source.digest";

pub use crate::oci::layout::descriptor::media;

/// Errors reading, verifying or writing an air-gap file. Every message
/// names the entry it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a tar file: {reason}")]
    NotTar { file: String, reason: String },
    #[error("entry {entry}: the file ends {read} bytes into it, of {size} (truncated)")]
    Truncated { entry: String, read: u64, size: u64 },
    #[error("the file is truncated: its end-of-archive marker is missing after entry {entry}")]
    NoEnd { entry: String },
    #[error("the file has data after its end-of-archive marker")]
    TrailingData,
    #[error("entry {entry:?}: {reason}; refused")]
    UnsafePath { entry: String, reason: &'static str },
    #[error("entry {entry}: {kind} entries are refused (only regular files)")]
    NotAFile { entry: String, kind: &'static str },
    #[error("entry {entry}: appears twice")]
    Duplicate { entry: String },
    #[error("entry {entry:?}: not part of an OCI image layout")]
    Unexpected { entry: String },
    #[error("entry {entry}: {size} bytes, over the limit of {limit}")]
    TooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error("the file has more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("entry {entry}: its content has digest sha256:{actual}, not the one its name says")]
    Corrupt { entry: String, actual: String },
    #[error("entry {entry}: missing from the file ({needed_by})")]
    Absent { entry: String, needed_by: String },
    #[error("entry {entry}: not listed in {CHECKSUMS}")]
    NotListed { entry: String },
    #[error("entry {entry}: its sha256 is {actual}, {CHECKSUMS} says {listed}")]
    ChecksumMismatch {
        entry: String,
        listed: String,
        actual: String,
    },
    #[error("entry {entry}: {reason}")]
    Invalid { entry: String, reason: String },
    #[error("entry {entry}: descriptor {digest} says {expected} bytes, the blob has {actual}")]
    SizeMismatch {
        entry: String,
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("entry {entry}: never referenced from {INDEX}")]
    Unreferenced { entry: String },
    #[error(transparent)]
    Signature(#[from] signature::Error),
}

impl Error {
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn invalid(entry: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
}

/// The entry name of a blob: `blobs/sha256/<hex>`.
pub fn blob_entry(digest: &str) -> String {
    format!(
        "{BLOBS}{}",
        digest.strip_prefix("sha256:").unwrap_or(digest)
    )
}

/// Whether `hex` is 64 lower-case hex digits, the only digest form a layout
/// names blobs by.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hex of a `sha256:<hex>` digest, when it is one.
pub fn digest_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|h| is_sha256_hex(h))
}
