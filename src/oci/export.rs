//! `distro export`: the distribution artifact and every image it needs,
//! into one air-gap file (see [`super::layout`]).
//!
//! Two phases. First every image is resolved: its manifest (or index, then
//! the manifests of the platforms chosen) is fetched and verified against
//! the digest it was fetched by; nothing is written yet. Then the file is
//! laid out from the descriptors' sizes and the blobs are downloaded in
//! parallel straight into their slots, each verified against its digest
//! and size as it streams, transient failures retried with backoff. The
//! file appears under its name only when every blob is in.
//!
//! # Platforms
//! [`Platforms::All`] (the default) keeps each multi-platform index and
//! every manifest it lists, byte for byte, so the index digest a manifest
//! may pin stays valid. [`Platforms::Only`] keeps the manifests of the
//! platforms asked for; the index is then rewritten to list only those
//! (its other fields and the kept entries unchanged), because registries
//! refuse an index whose manifests they do not have. Its digest changes:
//! the source digest is recorded in the annotation
//! [`super::layout::SOURCE_DIGEST`]. Single-platform images are taken as
//! they are.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::layout::descriptor::{Index, media};
use super::layout::signature::SigningKeyFile;
use super::layout::write::Writer;
use super::layout::{
    self, CHECKSUMS, Descriptor, INDEX, OCI_LAYOUT, OCI_LAYOUT_CONTENT, Platform, REF_NAME,
    SIGNATURE, SOURCE_DIGEST, blob_entry, checksums,
};
use super::progress::Shared;
use super::reference::Reference;
use super::registry::{self, ErrorKind};

mod download;
mod resolve;

use download::{Abort, Download};
use resolve::{Clients, resolve};

/// The `ref.name` of the distribution artifact in `index.json`, so
/// `oci-archive:platform.tar:distribution` names it for other tools too.
pub const DISTRIBUTION_NAME: &str = "distribution";

/// Which platforms of a multi-platform image to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Platforms {
    /// Every manifest of the index, and the index as it is.
    #[default]
    All,
    /// The manifests of these platforms only.
    Only(Vec<Platform>),
}

/// How to export.
#[derive(Debug)]
pub struct Options {
    pub platforms: Platforms,
    /// Blobs downloaded at the same time.
    pub concurrency: usize,
    /// Tries of one request before its error counts (at least 1).
    pub attempts: u32,
    pub registry: registry::Options,
    /// Sign the checksums file with this key.
    pub sign: Option<SigningKeyFile>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            platforms: Platforms::All,
            concurrency: 4,
            attempts: 4,
            registry: registry::Options::default(),
            sign: None,
        }
    }
}

/// Errors of an export; nothing is left on disk after any of them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("image {image}: {source}")]
    Registry {
        image: String,
        #[source]
        source: registry::Error,
    },
    #[error("image {image}: {reason}")]
    Format { image: String, reason: String },
    #[error("image {image}: no manifest for {wanted} (the index has {available})")]
    NoPlatform {
        image: String,
        wanted: String,
        available: String,
    },
    #[error(transparent)]
    Layout(#[from] layout::Error),
    #[error("download stopped: {0}")]
    Task(String),
}

impl Error {
    /// Whether a registry could not be reached (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Registry { source, .. } if source.kind() == ErrorKind::Unreachable)
    }
}

/// What was exported, as `distro export -o json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub file: String,
    /// Digest of the distribution artifact's manifest.
    pub distribution: String,
    pub images: Vec<ExportedImage>,
    /// Distinct blobs in the file, manifests included.
    pub blobs: usize,
    /// Bytes of blobs.
    pub bytes: u64,
    pub signed: bool,
}

/// One image in the file.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedImage {
    pub image: String,
    /// What the image is named by in the file (and keeps when imported).
    pub digest: String,
    /// The platforms kept, for a multi-platform image.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// The index digest the source registry served, when the index was
    /// filtered to fewer platforms.
    #[serde(rename = "sourceDigest", skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
}

/// The distribution artifact's three blobs, as `distro push` builds them.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Bytes,
    pub config: Bytes,
    pub layer: Bytes,
}

impl Artifact {
    /// The manifest's digest.
    pub fn digest(&self) -> String {
        crate::source::sha256(&self.manifest)
    }
}

/// An image resolved to everything it needs.
struct Resolved {
    name: String,
    /// The repository to fetch blobs from.
    source: Reference,
    root: Descriptor,
    root_bytes: Bytes,
    children: Vec<(String, Bytes)>,
    blobs: Vec<Descriptor>,
    platforms: Vec<String>,
}

/// Where a blob's bytes come from.
enum Blob {
    Memory(Bytes),
    Remote { source: Reference, size: u64 },
}

impl Blob {
    fn size(&self) -> u64 {
        match self {
            Blob::Memory(b) => b.len() as u64,
            Blob::Remote { size, .. } => *size,
        }
    }
}

/// Writes the air-gap file `dest`: `artifact` and every image of `images`
/// (normalised references).
///
/// # Errors
/// An image that cannot be resolved or downloaded (naming it), content that
/// fails verification, or the file cannot be written. The destination is
/// untouched then.
pub async fn export(
    dest: &Path,
    artifact: &Artifact,
    images: &[String],
    options: &Options,
    progress: Shared,
) -> Result<Exported, Error> {
    let clients = Clients::new(images, &options.registry)?;
    progress.phase("resolving", images.len() as u64);
    let mut resolved: Vec<Resolved> = futures::stream::iter(images.iter().cloned())
        .map(|name| {
            let clients = clients.clone();
            let progress = progress.clone();
            async move {
                let r = resolve(&clients, &name, options).await?;
                progress.advance(1);
                progress.item(&format!("resolved {} ({})", r.name, r.root.digest));
                Ok::<_, Error>(r)
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    resolved.sort_by(|a, b| a.name.cmp(&b.name));

    let mut blobs: BTreeMap<String, Blob> = BTreeMap::new();
    for bytes in [&artifact.manifest, &artifact.config, &artifact.layer] {
        blobs.insert(crate::source::sha256(bytes), Blob::Memory(bytes.clone()));
    }
    for r in &resolved {
        blobs.insert(r.root.digest.clone(), Blob::Memory(r.root_bytes.clone()));
        for (digest, bytes) in &r.children {
            blobs.insert(digest.clone(), Blob::Memory(bytes.clone()));
        }
        for d in &r.blobs {
            let blob = blobs
                .entry(d.digest.clone())
                .or_insert_with(|| Blob::Remote {
                    source: r.source.clone(),
                    size: d.size,
                });
            // One digest, one size: two manifests that disagree cannot
            // both be right.
            if blob.size() != d.size {
                return Err(Error::Format {
                    image: r.name.clone(),
                    reason: format!(
                        "blob {} is {} bytes in one manifest, {} in another",
                        d.digest,
                        blob.size(),
                        d.size
                    ),
                });
            }
        }
    }

    let index = index_json(artifact, &resolved)?;
    // A blob's name is its digest, so every checksum is known before the
    // first download: the checksums file (and its signature) can come
    // first in the tar.
    let hex = |bytes: &[u8]| crate::source::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes));
    let mut lines = vec![
        (OCI_LAYOUT.to_string(), hex(OCI_LAYOUT_CONTENT.as_bytes())),
        (INDEX.to_string(), hex(&index)),
    ];
    lines.extend(
        blobs
            .keys()
            .map(|d| (blob_entry(d), d.trim_start_matches("sha256:").to_string())),
    );
    let sums = checksums::render(lines.iter().map(|(n, h)| (n.as_str(), h.as_str())));
    let signature = options.sign.as_ref().map(|k| k.sign(sums.as_bytes()));
    let mut files: Vec<(&str, &[u8])> = vec![
        (OCI_LAYOUT, OCI_LAYOUT_CONTENT.as_bytes()),
        (INDEX, &index),
        (CHECKSUMS, sums.as_bytes()),
    ];
    if let Some(sig) = &signature {
        files.push((SIGNATURE, sig));
    }
    let sizes = blobs.iter().map(|(d, b)| (d.clone(), b.size())).collect();
    let writer = Writer::create(dest, &files, &sizes)?;

    let mut downloads = Vec::new();
    for (digest, blob) in &blobs {
        match blob {
            Blob::Memory(bytes) => writer.write_blob(digest, bytes)?,
            Blob::Remote { source, .. } => {
                let slot = writer
                    .slot(digest)
                    .ok_or_else(|| layout::Error::invalid(blob_entry(digest), "no slot"))?;
                downloads.push(Download {
                    registry: clients.get(source)?,
                    source: source.clone(),
                    digest: digest.clone(),
                    slot,
                    path: writer.temp_path().to_path_buf(),
                    attempts: options.attempts.max(1),
                    progress: progress.clone(),
                });
            }
        }
    }
    progress.phase(
        "pulling",
        downloads.iter().map(|d| d.slot.size).sum::<u64>(),
    );
    futures::stream::iter(downloads)
        .map(|d| Abort(tokio::spawn(d.run())))
        .buffer_unordered(options.concurrency.max(1))
        .map(|joined| joined.map_err(|e| Error::Task(e.to_string()))?)
        .try_collect::<Vec<()>>()
        .await?;
    let path = writer.finish()?;
    Ok(Exported {
        file: path.display().to_string(),
        distribution: artifact.digest(),
        blobs: blobs.len(),
        bytes: blobs.values().map(Blob::size).sum(),
        signed: signature.is_some(),
        images: resolved
            .into_iter()
            .map(|r| ExportedImage {
                source_digest: r.root.annotation(SOURCE_DIGEST).map(str::to_string),
                image: r.name,
                digest: r.root.digest,
                platforms: r.platforms,
            })
            .collect(),
    })
}

/// `index.json`: the distribution first, then the images by name.
fn index_json(artifact: &Artifact, resolved: &[Resolved]) -> Result<Vec<u8>, Error> {
    let mut manifests = vec![Descriptor {
        media_type: media::OCI_MANIFEST.to_string(),
        digest: artifact.digest(),
        size: artifact.manifest.len() as u64,
        artifact_type: Some(media::DISTRO_CONFIG.to_string()),
        platform: None,
        annotations: BTreeMap::from([(REF_NAME.to_string(), DISTRIBUTION_NAME.to_string())]),
    }];
    manifests.extend(resolved.iter().map(|r| r.root.clone()));
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_string()),
        manifests,
    };
    serde_json::to_vec(&index).map_err(|e| layout::Error::invalid(INDEX, e.to_string()).into())
}
