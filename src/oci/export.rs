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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::io::{AsyncSeekExt, AsyncWrite};

use super::layout::descriptor::{Index, Manifest, media};
use super::layout::signature::SigningKeyFile;
use super::layout::write::{Slot, Writer};
use super::layout::{
    self, CHECKSUMS, Descriptor, INDEX, OCI_LAYOUT, OCI_LAYOUT_CONTENT, Platform, REF_NAME,
    SIGNATURE, SOURCE_DIGEST, blob_entry, checksums,
};
use super::progress::Shared;
use super::reference::Reference;
use super::registry::{self, ErrorKind, Registry};
use super::retry::{backoff, retry, transient};

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

/// One client per registry, shared by every request to it.
#[derive(Clone)]
struct Clients(Arc<HashMap<String, Registry>>);

impl Clients {
    fn new(images: &[String], options: &registry::Options) -> Result<Self, Error> {
        let mut map = HashMap::new();
        for image in images {
            let reference = parse(image)?;
            if !map.contains_key(&reference.registry) {
                let client =
                    Registry::new(&reference, options).map_err(|source| Error::Registry {
                        image: image.clone(),
                        source,
                    })?;
                map.insert(reference.registry.clone(), client);
            }
        }
        Ok(Clients(Arc::new(map)))
    }

    fn get(&self, reference: &Reference) -> Result<Registry, Error> {
        self.0
            .get(&reference.registry)
            .cloned()
            .ok_or_else(|| Error::Format {
                image: reference.to_string(),
                reason: "no client for its registry".into(),
            })
    }
}

fn parse(image: &str) -> Result<Reference, Error> {
    Reference::parse_image(image).map_err(|e| Error::Format {
        image: image.to_string(),
        reason: e.reason,
    })
}

async fn resolve(clients: &Clients, name: &str, options: &Options) -> Result<Resolved, Error> {
    let reference = parse(name)?;
    let registry = clients.get(&reference)?;
    let failed = |source| Error::Registry {
        image: name.to_string(),
        source,
    };
    let format = |reason: String| Error::Format {
        image: name.to_string(),
        reason,
    };
    let fetched = retry(options.attempts, || {
        registry.fetch_manifest(&reference, &[])
    })
    .await
    .map_err(failed)?;
    let doc: serde_json::Value = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| format(format!("manifest is not JSON: {e}")))?;
    let media_type = kind_of(fetched.media_type.as_deref(), &doc)
        .ok_or_else(|| format("neither an image manifest nor an index".into()))?;
    let pinned = reference.with_digest(&fetched.digest);
    let mut root = Descriptor {
        media_type: media_type.to_string(),
        digest: fetched.digest.clone(),
        size: fetched.bytes.len() as u64,
        artifact_type: None,
        platform: None,
        annotations: BTreeMap::from([(REF_NAME.to_string(), name.to_string())]),
    };
    if media::is_manifest(media_type) {
        let manifest: Manifest = serde_json::from_value(doc)
            .map_err(|e| format(format!("image manifest {}: {e}", fetched.digest)))?;
        for d in manifest.blobs() {
            check_digest(name, d)?;
        }
        return Ok(Resolved {
            name: name.to_string(),
            source: pinned,
            blobs: manifest.blobs().cloned().collect(),
            root,
            root_bytes: fetched.bytes,
            children: Vec::new(),
            platforms: Vec::new(),
        });
    }
    let index: Index = serde_json::from_value(doc.clone())
        .map_err(|e| format(format!("image index {}: {e}", fetched.digest)))?;
    let keep: Vec<bool> = index
        .manifests
        .iter()
        .map(|d| match &options.platforms {
            Platforms::All => true,
            Platforms::Only(wanted) => d
                .platform
                .as_ref()
                .is_some_and(|p| wanted.iter().any(|w| p.matches(w))),
        })
        .collect();
    if let Platforms::Only(wanted) = &options.platforms {
        for w in wanted {
            let found = index
                .manifests
                .iter()
                .any(|d| d.platform.as_ref().is_some_and(|p| p.matches(w)));
            if !found {
                return Err(Error::NoPlatform {
                    image: name.to_string(),
                    wanted: w.to_string(),
                    available: platform_list(&index),
                });
            }
        }
    }
    let mut children = Vec::new();
    let mut blobs = Vec::new();
    let mut platforms = Vec::new();
    for d in index
        .manifests
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(d, _)| d)
    {
        check_digest(name, d)?;
        if !media::is_manifest(&d.media_type) {
            return Err(format(format!(
                "index entry {} has media type {:?}; nested indexes are not supported",
                d.digest, d.media_type
            )));
        }
        let child = reference.with_digest(&d.digest);
        let got = retry(options.attempts, || registry.fetch_manifest(&child, &[]))
            .await
            .map_err(failed)?;
        if got.bytes.len() as u64 != d.size {
            return Err(format(format!(
                "manifest {} is {} bytes, its index says {}",
                d.digest,
                got.bytes.len(),
                d.size
            )));
        }
        let manifest: Manifest = serde_json::from_slice(&got.bytes)
            .map_err(|e| format(format!("image manifest {}: {e}", d.digest)))?;
        for b in manifest.blobs() {
            check_digest(name, b)?;
        }
        blobs.extend(manifest.blobs().cloned());
        platforms.extend(d.platform.as_ref().map(Platform::to_string));
        children.push((d.digest.clone(), got.bytes));
    }
    let root_bytes = if keep.iter().all(|k| *k) {
        fetched.bytes
    } else {
        // The index as served, minus the entries of other platforms.
        let mut doc = doc;
        if let Some(list) = doc.get_mut("manifests").and_then(|m| m.as_array_mut()) {
            let mut i = 0;
            list.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        let bytes = Bytes::from(
            serde_json::to_vec(&doc).map_err(|e| format(format!("filtered index: {e}")))?,
        );
        root.annotations
            .insert(SOURCE_DIGEST.to_string(), fetched.digest.clone());
        root.digest = crate::source::sha256(&bytes);
        root.size = bytes.len() as u64;
        bytes
    };
    Ok(Resolved {
        name: name.to_string(),
        source: pinned,
        root,
        root_bytes,
        children,
        blobs,
        platforms,
    })
}

/// Refuses a descriptor whose digest is not `sha256:<64 hex>`: the digest
/// becomes an entry name in the file.
fn check_digest(image: &str, d: &Descriptor) -> Result<(), Error> {
    if layout::digest_hex(&d.digest).is_some() {
        Ok(())
    } else {
        Err(Error::Format {
            image: image.to_string(),
            reason: format!("descriptor digest {:?} is not sha256:<64 hex>", d.digest),
        })
    }
}

/// The media type of a manifest or index: its `mediaType`, or for an OCI
/// document without one, what its fields say it is.
fn kind_of<'a>(declared: Option<&'a str>, doc: &serde_json::Value) -> Option<&'a str> {
    match declared {
        Some(m) if media::is_manifest(m) || media::is_index(m) => Some(m),
        Some(_) => None,
        None if doc.get("manifests").is_some() => Some(media::OCI_INDEX),
        None if doc.get("config").is_some() => Some(media::OCI_MANIFEST),
        None => None,
    }
}

fn platform_list(index: &Index) -> String {
    let list: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
        .collect();
    if list.is_empty() {
        "none listed".into()
    } else {
        list.join(", ")
    }
}

/// One blob to fetch into its slot.
struct Download {
    registry: Registry,
    source: Reference,
    digest: String,
    slot: Slot,
    path: PathBuf,
    attempts: u32,
    progress: Shared,
}

impl Download {
    async fn run(self) -> Result<(), Error> {
        let failed = |source| Error::Registry {
            image: self.source.to_string(),
            source,
        };
        let io = |e: std::io::Error| {
            Error::Layout(layout::Error::io(
                format!("{} (blob {})", self.path.display(), self.digest),
                e,
            ))
        };
        let mut attempt = 1;
        loop {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .await
                .map_err(io)?;
            file.seek(std::io::SeekFrom::Start(self.slot.offset))
                .await
                .map_err(io)?;
            let mut out = Counting {
                inner: tokio::io::BufWriter::with_capacity(1 << 20, file),
                progress: self.progress.clone(),
                written: 0,
            };
            let result = self
                .registry
                .fetch_blob(&self.source, &self.digest, self.slot.size, &mut out)
                .await;
            match result {
                Ok(_) => return Ok(()),
                // The slot is simply written again from its start.
                Err(e) if transient(&e) && attempt < self.attempts => {
                    tracing::debug!(error = %e, attempt, "retrying blob");
                    self.progress.redo(out.written);
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }
}

/// A spawned download, stopped when dropped: when one download fails, the
/// others in flight stop instead of writing on into a file that is gone.
struct Abort<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Abort<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Counts bytes written, for progress.
struct Counting<W> {
    inner: W,
    progress: Shared,
    written: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.written += *n as u64;
            self.progress.advance(*n as u64);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_fields_when_undeclared() {
        let index = serde_json::json!({"manifests": []});
        let manifest = serde_json::json!({"config": {}});
        assert_eq!(kind_of(None, &index), Some(media::OCI_INDEX));
        assert_eq!(kind_of(None, &manifest), Some(media::OCI_MANIFEST));
        assert_eq!(kind_of(Some("text/plain"), &manifest), None);
        assert_eq!(
            kind_of(Some(media::DOCKER_LIST), &index),
            Some(media::DOCKER_LIST)
        );
    }
}
