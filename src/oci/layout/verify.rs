//! Verifying a whole air-gap file before anything is taken from it.
//!
//! # Guarantees
//! [`verify`] returns a [`Layout`] only when every one of these holds:
//! every entry is a regular file with a layout name, listed once; every
//! blob's content has the digest its name says; `checksums.sha256` lists
//! every other entry with its sha256, and only those; the signature
//! verifies when a key is given; `index.json`, every manifest and every
//! image index parse, are within [`MAX_MANIFEST_BYTES`], and reference only
//! blobs that are present, with the sizes their descriptors give; every blob
//! is reachable from `index.json`; the distribution artifact is there
//! exactly once, and every image is named once.
//!
//! Reads after verification ([`Layout::read_blob`], [`Layout::blob_stream`])
//! check the digest again, so a file changed in between is caught too.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::descriptor::{Index, Manifest, media};
use super::read::{self, Entry, Scan};
use super::signature::VerifyingKeyFile;
use super::{
    BLOBS, CHECKSUMS, Descriptor, Error, INDEX, MAX_MANIFEST_BYTES, OCI_LAYOUT, REF_NAME,
    SIGNATURE, blob_entry, checksums, digest_hex,
};

/// One image of the file, ready to push: blobs first, then the manifests
/// of an index, then its root.
#[derive(Debug, Clone)]
pub struct Image {
    /// The full original reference (`org.opencontainers.image.ref.name`).
    pub name: String,
    /// The manifest or index the name resolves to.
    pub root: Descriptor,
    /// For an index: its manifests (all present in the file).
    pub children: Vec<Descriptor>,
    /// Every config and layer of the image, each once.
    pub blobs: Vec<Descriptor>,
}

impl Image {
    /// Bytes of this image's blobs and manifests.
    pub fn size(&self) -> u64 {
        self.root.size
            + self.children.iter().map(|d| d.size).sum::<u64>()
            + self.blobs.iter().map(|d| d.size).sum::<u64>()
    }
}

/// The distribution artifact of the file.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub manifest: Descriptor,
    pub config: Descriptor,
    /// The content layer (a tar+gzip of the distribution's files).
    pub layer: Descriptor,
}

/// A verified air-gap file.
#[derive(Debug)]
pub struct Layout {
    path: PathBuf,
    file: File,
    entries: BTreeMap<String, Entry>,
    /// Every image, in `index.json` order.
    pub images: Vec<Image>,
    pub distribution: Distribution,
    /// Whether the file carries a signature (checked only with a key).
    pub signed: bool,
}

/// Verifies the whole file at `path` (see the module's guarantees).
///
/// `progress` is called with the bytes read so far.
///
/// # Errors
/// The first check that fails, naming the entry.
pub fn verify(
    path: &Path,
    key: Option<&VerifyingKeyFile>,
    progress: &mut dyn FnMut(u64),
) -> Result<Layout, Error> {
    let scan = read::scan(path, progress)?;
    for (name, entry) in &scan.entries {
        if let Some(hex) = name.strip_prefix(BLOBS)
            && hex != entry.sha256
        {
            return Err(Error::Corrupt {
                entry: name.clone(),
                actual: entry.sha256.clone(),
            });
        }
    }
    check_oci_layout(&scan)?;
    check_checksums(&scan)?;
    let signature = scan.small.get(SIGNATURE).map(Vec::as_slice);
    if let Some(key) = key {
        key.verify(required(&scan, CHECKSUMS)?, signature)?;
    }
    let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let mut layout = Layout {
        path: path.to_path_buf(),
        file,
        entries: scan.entries.clone(),
        images: Vec::new(),
        distribution: Distribution {
            manifest: placeholder(),
            config: placeholder(),
            layer: placeholder(),
        },
        signed: signature.is_some(),
    };
    walk_index(&mut layout, required(&scan, INDEX)?)?;
    Ok(layout)
}

fn placeholder() -> Descriptor {
    Descriptor {
        media_type: String::new(),
        digest: String::new(),
        size: 0,
        artifact_type: None,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

fn required<'a>(scan: &'a Scan, name: &str) -> Result<&'a [u8], Error> {
    scan.small
        .get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| Error::Absent {
            entry: name.to_string(),
            needed_by: "every air-gap file has one".to_string(),
        })
}

fn check_oci_layout(scan: &Scan) -> Result<(), Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Marker {
        image_layout_version: String,
    }
    let marker: Marker = serde_json::from_slice(required(scan, OCI_LAYOUT)?)
        .map_err(|e| Error::invalid(OCI_LAYOUT, e.to_string()))?;
    if marker.image_layout_version != "1.0.0" {
        return Err(Error::invalid(
            OCI_LAYOUT,
            format!(
                "imageLayoutVersion {:?}, only \"1.0.0\" is known",
                marker.image_layout_version
            ),
        ));
    }
    Ok(())
}

fn check_checksums(scan: &Scan) -> Result<(), Error> {
    let listed = checksums::parse(required(scan, CHECKSUMS)?)?;
    for (name, hex) in &listed {
        let entry = scan.entries.get(name).ok_or_else(|| Error::Absent {
            entry: name.clone(),
            needed_by: format!("{CHECKSUMS} lists it"),
        })?;
        if &entry.sha256 != hex {
            return Err(Error::ChecksumMismatch {
                entry: name.clone(),
                listed: hex.clone(),
                actual: entry.sha256.clone(),
            });
        }
    }
    for name in scan.entries.keys() {
        if name != CHECKSUMS && name != SIGNATURE && !listed.contains_key(name) {
            return Err(Error::NotListed {
                entry: name.clone(),
            });
        }
    }
    Ok(())
}

/// What a manifest or index is, for messages.
fn owner(name: Option<&str>, digest: &str) -> String {
    match name {
        Some(n) => format!("image {n} ({digest})"),
        None => digest.to_string(),
    }
}

fn walk_index(layout: &mut Layout, bytes: &[u8]) -> Result<(), Error> {
    let index: Index =
        serde_json::from_slice(bytes).map_err(|e| Error::invalid(INDEX, e.to_string()))?;
    if index.schema_version != 2 {
        return Err(Error::invalid(INDEX, "schemaVersion is not 2"));
    }
    let mut reachable = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut distribution = None;
    for d in &index.manifests {
        let name = d.annotation(REF_NAME);
        layout.check_descriptor(d, INDEX, &mut reachable)?;
        if media::is_manifest(&d.media_type) {
            let manifest: Manifest = layout.read_json(d, name)?;
            for blob in manifest.blobs() {
                layout.check_descriptor(blob, &owner(name, &d.digest), &mut reachable)?;
            }
            if manifest.config.media_type == media::DISTRO_CONFIG {
                if distribution.is_some() {
                    return Err(Error::invalid(INDEX, "more than one distribution artifact"));
                }
                let [layer] = manifest.layers.as_slice() else {
                    return Err(Error::invalid(
                        blob_entry(&d.digest),
                        "the distribution artifact must have exactly one layer",
                    ));
                };
                distribution = Some(Distribution {
                    manifest: d.clone(),
                    config: manifest.config.clone(),
                    layer: layer.clone(),
                });
                continue;
            }
            let image = image_name(name, d, &mut names)?;
            layout.images.push(Image {
                name: image,
                root: d.clone(),
                children: Vec::new(),
                blobs: unique(manifest.blobs()),
            });
        } else if media::is_index(&d.media_type) {
            let image = image_name(name, d, &mut names)?;
            let inner: Index = layout.read_json(d, name)?;
            let mut blobs = Vec::new();
            for child in &inner.manifests {
                let parent = owner(Some(&image), &d.digest);
                if !media::is_manifest(&child.media_type) {
                    return Err(Error::invalid(
                        blob_entry(&d.digest),
                        format!(
                            "{parent}: entry {} has media type {:?}; nested indexes are not supported",
                            child.digest, child.media_type
                        ),
                    ));
                }
                layout.check_descriptor(child, &parent, &mut reachable)?;
                let manifest: Manifest = layout.read_json(child, Some(&image))?;
                for blob in manifest.blobs() {
                    layout.check_descriptor(
                        blob,
                        &owner(Some(&image), &child.digest),
                        &mut reachable,
                    )?;
                    blobs.push(blob.clone());
                }
            }
            layout.images.push(Image {
                name: image,
                root: d.clone(),
                children: inner.manifests.clone(),
                blobs: unique(blobs.iter()),
            });
        } else {
            return Err(Error::invalid(
                INDEX,
                format!("{}: unknown media type {:?}", d.digest, d.media_type),
            ));
        }
    }
    layout.distribution = distribution.ok_or_else(|| {
        Error::invalid(
            INDEX,
            format!(
                "no distribution artifact (a manifest whose config is {})",
                media::DISTRO_CONFIG
            ),
        )
    })?;
    for name in layout.entries.keys() {
        if name.starts_with(BLOBS) && !reachable.contains(name) {
            return Err(Error::Unreferenced {
                entry: name.clone(),
            });
        }
    }
    Ok(())
}

fn image_name(
    name: Option<&str>,
    d: &Descriptor,
    names: &mut BTreeSet<String>,
) -> Result<String, Error> {
    let name = name.ok_or_else(|| {
        Error::invalid(
            INDEX,
            format!("{}: no {REF_NAME} annotation naming the image", d.digest),
        )
    })?;
    if !names.insert(name.to_string()) {
        return Err(Error::invalid(
            INDEX,
            format!("image {name} is listed twice"),
        ));
    }
    Ok(name.to_string())
}

fn unique<'a>(blobs: impl Iterator<Item = &'a Descriptor>) -> Vec<Descriptor> {
    let mut seen = BTreeSet::new();
    blobs
        .filter(|b| seen.insert(b.digest.clone()))
        .cloned()
        .collect()
}

impl Layout {
    /// The file this layout was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A descriptor's blob is present with the size it says; marks it
    /// reachable.
    fn check_descriptor(
        &self,
        d: &Descriptor,
        referenced_by: &str,
        reachable: &mut BTreeSet<String>,
    ) -> Result<(), Error> {
        if digest_hex(&d.digest).is_none() {
            return Err(Error::invalid(
                if referenced_by == INDEX {
                    INDEX.to_string()
                } else {
                    referenced_by.to_string()
                },
                format!("digest {:?} is not sha256:<64 hex>", d.digest),
            ));
        }
        let entry_name = blob_entry(&d.digest);
        let entry = self.entries.get(&entry_name).ok_or_else(|| Error::Absent {
            entry: entry_name.clone(),
            needed_by: format!("{referenced_by} references it"),
        })?;
        if entry.size != d.size {
            return Err(Error::SizeMismatch {
                entry: entry_name,
                digest: d.digest.clone(),
                expected: d.size,
                actual: entry.size,
            });
        }
        reachable.insert(entry_name);
        Ok(())
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        d: &Descriptor,
        image: Option<&str>,
    ) -> Result<T, Error> {
        let bytes = self.read_blob(&d.digest)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(
                blob_entry(&d.digest),
                format!("{}: {e}", owner(image, &d.digest)),
            )
        })
    }

    /// The bytes of a manifest or index, checked against its digest again.
    ///
    /// # Errors
    /// Not in the file, over [`MAX_MANIFEST_BYTES`], or changed since it
    /// was verified.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Error> {
        self.read_bounded(digest, MAX_MANIFEST_BYTES)
    }

    /// The bytes of a blob of at most `limit` bytes, checked against its
    /// digest again.
    ///
    /// # Errors
    /// Not in the file, over `limit`, or changed since it was verified.
    pub fn read_bounded(&self, digest: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let name = blob_entry(digest);
        let entry = self.entry(&name)?;
        if entry.size > limit {
            return Err(Error::TooLarge {
                entry: name,
                size: entry.size,
                limit,
            });
        }
        let mut bytes = vec![0u8; entry.size as usize];
        self.file
            .read_exact_at(&mut bytes, entry.offset)
            .map_err(|e| Error::io(format!("{}: entry {name}", self.path.display()), e))?;
        let actual = crate::source::hex(&Sha256::digest(&bytes));
        if actual != entry.sha256 {
            return Err(Error::Corrupt {
                entry: name,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Where a blob is in the file.
    ///
    /// # Errors
    /// The blob is not in the file.
    pub fn entry(&self, name: &str) -> Result<&Entry, Error> {
        self.entries.get(name).ok_or_else(|| Error::Absent {
            entry: name.to_string(),
            needed_by: "asked for".to_string(),
        })
    }

    /// The image named `name`.
    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.name == name)
    }

    /// Every blob, manifest and index entry with its size, for progress.
    pub fn total_bytes(&self) -> u64 {
        self.entries.values().map(|e| e.size).sum()
    }
}
