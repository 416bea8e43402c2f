//! `distro import`: every image of a verified air-gap file into a private
//! registry, each under `REG/PREFIX/<original repository path>` and by its
//! own digest (the rule of [`crate::oci::relocate::target`]), and the
//! relocation map that `apply --from` renders with.
//!
//! Blobs the registry already has are not sent again. Blobs are uploaded
//! in parallel, streamed from the file (one chunk in memory each) and
//! checked against their digest once more on the way; manifests follow
//! once every blob of their image is in, the manifests of an index before
//! the index. An image with a tag is tagged too, for people browsing the
//! registry; what a cluster pulls is the digest.
//!
//! The distribution artifact of the file goes last, once every image it
//! refers to is in, to the fixed repository [`DISTRIBUTION_REPOSITORY`]
//! under the prefix, by its digest: a controller inside the air gap
//! follows it with `spec.source.oci` (the URL and `ref.digest`). The
//! repository is fixed because the file names the artifact only
//! `distribution`, not by where it was pushed first.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::export::DISTRIBUTION_NAME;
use super::layout::{self, Image, Layout, REF_NAME};
use super::progress::Shared;
use super::reference::Reference;
use super::registry::{self, ErrorKind, Registry};
use super::relocate::{self, Relocation};
use super::retry::{backoff, retry, transient};

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    /// Uploads at the same time.
    pub concurrency: usize,
    /// Tries of one request before its error counts (at least 1).
    pub attempts: u32,
    pub registry: registry::Options,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 4,
            attempts: 4,
            registry: registry::Options::default(),
        }
    }
}

/// Errors of an import.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Relocate(#[from] relocate::Error),
    #[error("image {image}: {source}")]
    Registry {
        image: String,
        #[source]
        source: registry::Error,
    },
    #[error(transparent)]
    Layout(#[from] layout::Error),
    #[error("image {image}: relocated reference {target}: {reason}")]
    Target {
        image: String,
        target: String,
        reason: String,
    },
    #[error("upload stopped: {0}")]
    Task(String),
}

impl Error {
    /// Whether the registry could not be reached (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Registry { source, .. } if source.kind() == ErrorKind::Unreachable)
    }
}

/// The repository, under `REG/PREFIX`, the distribution artifact is
/// pushed to.
pub const DISTRIBUTION_REPOSITORY: &str = "distribution";

/// What an [`Imported`] entry is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Image,
    /// The distribution artifact.
    Distribution,
}

/// One image (or the distribution artifact) and where it went, as
/// `distro import -o json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Imported {
    pub kind: Kind,
    /// The original reference; for the distribution artifact, its name in
    /// the file.
    pub image: String,
    /// `REG/PREFIX/<path>@sha256:...`, what manifests are rewritten to.
    pub target: String,
    pub digest: String,
    /// Blobs uploaded, and blobs the registry already had.
    pub pushed: usize,
    pub skipped: usize,
}

/// Original image -> its copy under `registry` (`REG/PREFIX`), for every
/// image of the file, in file order.
///
/// # Errors
/// `registry` is not `host[:port][/path]`, or an image name in the file is
/// not a reference.
pub fn plan(layout: &Layout, registry: &str) -> Result<Vec<(String, Reference)>, Error> {
    layout
        .images
        .iter()
        .map(|image| {
            let original = Reference::parse(&image.name).map_err(|e| relocate::Error::Entry {
                original: image.name.clone(),
                target: registry.to_string(),
                reason: e.to_string(),
            })?;
            let target = relocate::target(registry, &original, &image.root.digest)?;
            Ok((image.name.clone(), target))
        })
        .collect()
}

/// The relocation map of [`plan`], for rendering.
///
/// # Errors
/// As [`plan`].
pub fn relocation(layout: &Layout, registry: &str) -> Result<Relocation, Error> {
    let pairs = plan(layout, registry)?;
    Ok(Relocation::new(
        pairs.iter().map(|(o, t)| (o.as_str(), t.to_string())),
    )?)
}

/// An image with the reference it is pushed to.
struct Target<'a> {
    kind: Kind,
    image: &'a Image,
    reference: Reference,
    /// The original's tag, to tag the copy with.
    tag: Option<String>,
}

/// Pushes every image of `layout` to `registry` (`REG/PREFIX`).
///
/// # Errors
/// The registry is unreachable or refuses an upload, or the file changed
/// since it was verified. Images whose manifests were not pushed are not
/// usable; running the import again resumes (blobs already there are
/// skipped).
pub async fn import(
    layout: &Layout,
    registry: &str,
    options: &Options,
    progress: Shared,
) -> Result<Vec<Imported>, Error> {
    let mut targets = Vec::new();
    for (name, target) in plan(layout, registry)? {
        let image = layout
            .image(&name)
            .ok_or_else(|| layout::Error::invalid(layout::INDEX, format!("no image {name}")))?;
        let text = target.to_string();
        let reference = Reference::parse(&text).map_err(|e| Error::Target {
            image: name.clone(),
            target: text.clone(),
            reason: e.to_string(),
        })?;
        let tag = Reference::parse(&name).ok().and_then(|r| r.tag);
        targets.push(Target {
            kind: Kind::Image,
            image,
            reference,
            tag,
        });
    }
    // The artifact as an image of two blobs, so it is pushed (and skipped
    // when already there) exactly as images are; it comes last in
    // `targets`, so its manifest is pushed after every image's.
    let artifact = distribution_image(layout);
    let text = distribution_target(registry, &artifact.root.digest);
    let reference = Reference::parse(&text).map_err(|e| Error::Target {
        image: artifact.name.clone(),
        target: text.clone(),
        reason: e.to_string(),
    })?;
    targets.push(Target {
        kind: Kind::Distribution,
        image: &artifact,
        reference,
        tag: None,
    });
    let Some(first) = targets.first() else {
        return Ok(Vec::new());
    };
    let setup = |source| Error::Registry {
        image: first.image.name.clone(),
        source,
    };
    let client = Registry::new(&first.reference, &options.registry).map_err(setup)?;

    // Each blob once per repository: images that share a repository share
    // its blobs.
    let mut uploads: BTreeMap<(String, String), (&Target, u64)> = BTreeMap::new();
    for t in &targets {
        for blob in &t.image.blobs {
            uploads
                .entry((t.reference.repository.clone(), blob.digest.clone()))
                .or_insert((t, blob.size));
        }
    }
    progress.phase("pushing", uploads.values().map(|(_, size)| size).sum());
    let pushed: Vec<(String, String, bool)> = futures::stream::iter(uploads)
        .map(|((repository, digest), (t, size))| {
            let client = client.clone();
            let progress = progress.clone();
            async move {
                let sent = upload(layout, &client, t, &digest, size, options, &progress).await?;
                Ok::<_, Error>((repository, digest, sent))
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    let sent: BTreeSet<(String, String)> = pushed
        .into_iter()
        .filter(|(_, _, sent)| *sent)
        .map(|(r, d, _)| (r, d))
        .collect();

    let mut out = Vec::new();
    for t in &targets {
        push_manifests(layout, &client, t, options).await?;
        let pushed = t
            .image
            .blobs
            .iter()
            .filter(|b| sent.contains(&(t.reference.repository.clone(), b.digest.clone())))
            .count();
        progress.item(&format!("pushed {} -> {}", t.image.name, t.reference));
        out.push(Imported {
            kind: t.kind,
            image: t.image.name.clone(),
            target: t.reference.to_string(),
            digest: t.image.root.digest.clone(),
            pushed,
            skipped: t.image.blobs.len() - pushed,
        });
    }
    Ok(out)
}

/// `REG/PREFIX/distribution@sha256:...`, where the distribution artifact
/// of a file goes.
pub fn distribution_target(registry: &str, digest: &str) -> String {
    format!(
        "{}/{DISTRIBUTION_REPOSITORY}@{digest}",
        registry.trim_end_matches('/')
    )
}

/// The distribution artifact of `layout` as an image: its manifest the
/// root, its config and layer the blobs.
fn distribution_image(layout: &Layout) -> Image {
    let d = &layout.distribution;
    Image {
        name: d
            .manifest
            .annotation(REF_NAME)
            .unwrap_or(DISTRIBUTION_NAME)
            .to_string(),
        root: d.manifest.clone(),
        children: Vec::new(),
        blobs: vec![d.config.clone(), d.layer.clone()],
    }
}

/// Uploads one blob unless the repository has it; whether it was sent.
async fn upload(
    layout: &Layout,
    client: &Registry,
    t: &Target<'_>,
    digest: &str,
    size: u64,
    options: &Options,
    progress: &Shared,
) -> Result<bool, Error> {
    let failed = |source| Error::Registry {
        image: t.image.name.clone(),
        source,
    };
    let exists = retry(options.attempts, || {
        client.blob_exists(&t.reference, digest)
    })
    .await
    .map_err(failed)?;
    if exists {
        progress.advance(size);
        return Ok(false);
    }
    let mut attempt = 1;
    loop {
        let stream = layout.blob_stream(digest)?;
        let counted = {
            let progress = progress.clone();
            stream.inspect(move |chunk| {
                if let Ok(c) = chunk {
                    progress.advance(c.len() as u64);
                }
            })
        };
        match client
            .push_blob_stream(&t.reference, counted, digest, size)
            .await
        {
            Ok(()) => return Ok(true),
            Err(e) if transient(&e) && attempt < options.attempts.max(1) => {
                tracing::debug!(error = %e, attempt, "retrying upload");
                progress.redo(size);
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(failed(e)),
        }
    }
}

/// The manifests of an index, then its root; by digest, then by tag.
async fn push_manifests(
    layout: &Layout,
    client: &Registry,
    t: &Target<'_>,
    options: &Options,
) -> Result<(), Error> {
    let failed = |source| Error::Registry {
        image: t.image.name.clone(),
        source,
    };
    let by_digest = |digest: &str| Reference {
        tag: None,
        ..t.reference.with_digest(digest)
    };
    for d in t.image.children.iter().chain([&t.image.root]) {
        let bytes = bytes::Bytes::from(layout.read_blob(&d.digest)?);
        let reference = by_digest(&d.digest);
        retry(options.attempts, || {
            client.push_manifest(&reference, bytes.clone(), &d.media_type)
        })
        .await
        .map_err(failed)?;
    }
    if let Some(tag) = &t.tag {
        let root = &t.image.root;
        let bytes = bytes::Bytes::from(layout.read_blob(&root.digest)?);
        let reference = t.reference.with_tag(tag);
        retry(options.attempts, || {
            client.push_manifest(&reference, bytes.clone(), &root.media_type)
        })
        .await
        .map_err(failed)?;
    }
    Ok(())
}
