//! The distribution as one OCI image manifest:
//!
//! - config `application/vnd.distro.config.v1+json`: the platform's name and
//!   file, and every release with its package, version and digest (the
//!   lock's entries), so a registry browser shows what is inside;
//! - one layer `application/vnd.distro.content.v1.tar+gzip`: the platform
//!   file, its lock, `bundles/` and `packages/` (see [`super::content`]);
//! - annotations `org.opencontainers.image.source`, `.revision`, `.created`
//!   and any the caller adds.
//!
//! [`build`] is pure and deterministic; [`push`] uploads what it built;
//! [`pull`] fetches an artifact into memory, verifying every digest
//! against the one it was fetched by.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::content::{self, Limits};
use super::reference::{Reference, is_sha256_digest};
use super::registry::{self, OCI_MANIFEST, Registry};

/// The config blob's media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.distro.config.v1+json";
/// The content layer's media type.
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.distro.content.v1.tar+gzip";
/// Where the distribution's source lives (a repository URL).
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// The source revision (a Git commit).
pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";
/// When the content was made (RFC 3339); see [`Provenance`].
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Largest config blob accepted.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Errors building, pushing or pulling the artifact.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Content(#[from] content::Error),
    /// The manifest or config is not a distro artifact, or is malformed.
    #[error("{reference}: {reason}")]
    Format { reference: String, reason: String },
}

impl Error {
    /// Whether the registry could not be reached (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Registry(e) if e.kind() == registry::ErrorKind::Unreachable)
    }
}

/// The config blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub platform: PlatformInfo,
    pub releases: Vec<ReleaseInfo>,
}

/// The platform of the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// `name:` of the platform file.
    pub name: String,
    /// The platform file's path inside the content.
    pub file: String,
}

/// One release, as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    pub name: String,
    pub package: String,
    pub version: String,
    pub digest: String,
}

/// Where the content came from, for the annotations.
///
/// `created` must not be the wall clock, or pushing the same content twice
/// would give two digests; [`Provenance::created_for`] gives the rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    pub source: Option<String>,
    pub revision: Option<String>,
    /// RFC 3339.
    pub created: String,
}

impl Provenance {
    /// The `created` time: `SOURCE_DATE_EPOCH` when set (the reproducible
    /// builds convention), else the commit time of the checkout's HEAD,
    /// else the Unix epoch.
    pub fn created_for(source_date_epoch: Option<&str>, commit_time: Option<i64>) -> String {
        let seconds = source_date_epoch
            .and_then(|s| s.trim().parse::<i64>().ok())
            .or(commit_time)
            .unwrap_or(0);
        k8s_openapi::jiff::Timestamp::from_second(seconds)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }
}

/// A built artifact: every blob, and the manifest that ties them.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Bytes,
    /// `sha256:` of `manifest`.
    pub digest: String,
    pub config: Bytes,
    pub config_digest: String,
    pub layer: Bytes,
    pub layer_digest: String,
}

/// The files and config of a loaded (validated) distribution: every file
/// of its snapshot, with the lock as it should read now (what
/// [`crate::pipeline::write_lock`] writes next to the platform file).
pub fn contents(loaded: &crate::pipeline::Loaded) -> (BTreeMap<String, Vec<u8>>, Config) {
    let snapshot = &loaded.snapshot;
    let mut files: BTreeMap<String, Vec<u8>> = snapshot
        .under("")
        .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
        .collect();
    files.insert(
        crate::lock::snapshot_path(snapshot.platform_file()),
        loaded.lock.to_text().into_bytes(),
    );
    let config = Config {
        platform: PlatformInfo {
            name: loaded.distribution.platform.name.clone(),
            file: snapshot.platform_file().to_string(),
        },
        releases: loaded
            .lock
            .releases
            .iter()
            .map(|e| ReleaseInfo {
                name: e.name.clone(),
                package: e.package.clone(),
                version: e.version.clone(),
                digest: e.digest.clone(),
            })
            .collect(),
    };
    (files, config)
}

/// Builds the artifact of `files` (paths relative to the distribution
/// root). Deterministic: the same inputs give the same bytes.
///
/// # Errors
/// A path the content layer refuses.
pub fn build(
    files: &BTreeMap<String, Vec<u8>>,
    config: &Config,
    provenance: &Provenance,
    extra: &BTreeMap<String, String>,
) -> Result<Built, Error> {
    let layer = Bytes::from(content::pack(files)?);
    let config_bytes = Bytes::from(serde_json::to_vec(config).map_err(|e| Error::Format {
        reference: "config".into(),
        reason: e.to_string(),
    })?);
    let mut annotations = BTreeMap::new();
    if let Some(source) = &provenance.source {
        annotations.insert(ANNOTATION_SOURCE.to_string(), source.clone());
    }
    if let Some(revision) = &provenance.revision {
        annotations.insert(ANNOTATION_REVISION.to_string(), revision.clone());
    }
    annotations.insert(ANNOTATION_CREATED.to_string(), provenance.created.clone());
    annotations.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    let layer_digest = crate::source::sha256(&layer);
    let config_digest = crate::source::sha256(&config_bytes);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
        },
        layers: vec![Descriptor {
            media_type: CONTENT_MEDIA_TYPE.into(),
            digest: layer_digest.clone(),
            size: layer.len() as u64,
        }],
        annotations,
    };
    let manifest = Bytes::from(serde_json::to_vec(&manifest).map_err(|e| Error::Format {
        reference: "manifest".into(),
        reason: e.to_string(),
    })?);
    Ok(Built {
        digest: crate::source::sha256(&manifest),
        manifest,
        config: config_bytes,
        config_digest,
        layer,
        layer_digest,
    })
}

/// Uploads the blobs, then the manifest under `reference`'s tag. Returns
/// the manifest's digest.
///
/// # Errors
/// The registry is unreachable or refuses an upload.
pub async fn push(
    registry: &Registry,
    reference: &Reference,
    built: &Built,
) -> Result<String, Error> {
    registry
        .push_blob(reference, built.layer.clone(), &built.layer_digest)
        .await?;
    registry
        .push_blob(reference, built.config.clone(), &built.config_digest)
        .await?;
    let digest = registry
        .push_manifest(reference, built.manifest.clone(), OCI_MANIFEST)
        .await?;
    tracing::info!(reference = %reference, %digest, "pushed");
    Ok(digest)
}

/// An artifact fetched and verified.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// What was asked for, with the manifest's digest filled in.
    pub reference: Reference,
    /// `sha256:` of the manifest bytes received.
    pub digest: String,
    pub config: Config,
    pub annotations: BTreeMap<String, String>,
    /// The content's files, checked by [`content::unpack`].
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Fetches and verifies the artifact `reference` names: the manifest
/// against the digest asked for (or, for a tag, the digest of the bytes
/// received, which is then what the rest is pinned to), each blob against
/// its descriptor, and the content as [`content::unpack`] says.
///
/// # Errors
/// Unreachable or refusing registry, a digest that does not match, a
/// manifest that is not a distro artifact, hostile or oversized content.
pub async fn pull(
    registry: &Registry,
    reference: &Reference,
    limits: Limits,
) -> Result<Pulled, Error> {
    let fetched = registry.fetch_manifest(reference, &[OCI_MANIFEST]).await?;
    let shown = reference.to_string();
    let format = |reason: String| Error::Format {
        reference: shown.clone(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| format(format!("manifest is not an OCI image manifest: {e}")))?;
    if manifest.schema_version != 2 {
        return Err(format(format!(
            "manifest schemaVersion {} (expected 2)",
            manifest.schema_version
        )));
    }
    if let Some(media_type) = &manifest.media_type
        && media_type != OCI_MANIFEST
    {
        return Err(format(format!(
            "manifest media type {media_type:?} (expected {OCI_MANIFEST})"
        )));
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(format(format!(
            "config media type {:?} is not a distro artifact's ({CONFIG_MEDIA_TYPE})",
            manifest.config.media_type
        )));
    }
    let layer = match manifest.layers.as_slice() {
        [layer] if layer.media_type == CONTENT_MEDIA_TYPE => layer,
        [layer] => {
            return Err(format(format!(
                "layer media type {:?} is unknown (expected {CONTENT_MEDIA_TYPE})",
                layer.media_type
            )));
        }
        layers => {
            return Err(format(format!(
                "{} layers (a distro artifact has exactly one)",
                layers.len()
            )));
        }
    };
    for d in [&manifest.config, layer] {
        if !is_sha256_digest(&d.digest) {
            return Err(format(format!(
                "descriptor digest {:?} is not sha256",
                d.digest
            )));
        }
    }
    // Everything below is fetched by digest from this manifest.
    let pinned = reference.with_digest(&fetched.digest);
    let config_bytes = registry
        .fetch_blob_bytes(
            &pinned,
            &manifest.config.digest,
            manifest.config.size,
            MAX_CONFIG_BYTES,
        )
        .await?;
    let config: Config =
        serde_json::from_slice(&config_bytes).map_err(|e| format(format!("config blob: {e}")))?;
    content::check_path(&config.platform.file)
        .map_err(|reason| format(format!("config platform.file: {reason}")))?;
    // The compressed layer is bounded like the files it holds.
    let layer_bytes = registry
        .fetch_blob_bytes(&pinned, &layer.digest, layer.size, limits.max_bytes)
        .await?;
    let files = content::unpack(&layer_bytes, limits)?;
    if !files.contains_key(&config.platform.file) {
        return Err(format(format!(
            "the content has no platform file {:?}",
            config.platform.file
        )));
    }
    if let Some(stray) = files.keys().find(|p| !belongs(p, &config.platform.file)) {
        return Err(content::Error::Entry {
            entry: stray.clone(),
            reason: "not the platform file, its lock, or under bundles/ or packages/".into(),
        }
        .into());
    }
    Ok(Pulled {
        reference: pinned,
        digest: fetched.digest,
        config,
        annotations: manifest.annotations,
        files,
    })
}

/// The files a distribution may hold: the platform file, its lock, and
/// what is under `bundles/` and `packages/`.
fn belongs(path: &str, platform_file: &str) -> bool {
    path == platform_file
        || path == crate::lock::snapshot_path(platform_file)
        || path.starts_with("bundles/")
        || path.starts_with("packages/")
}

/// An OCI image manifest, with the fields distro writes and reads; field
/// order is the serialised order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (BTreeMap<String, Vec<u8>>, Config) {
        let mut files = BTreeMap::new();
        files.insert("platform.yaml".to_string(), b"name: p\n".to_vec());
        files.insert("bundles/main.yaml".to_string(), b"releases: []\n".to_vec());
        let config = Config {
            platform: PlatformInfo {
                name: "p".into(),
                file: "platform.yaml".into(),
            },
            releases: vec![],
        };
        (files, config)
    }

    #[test]
    fn the_same_inputs_build_the_same_digest() {
        let (files, config) = sample();
        let provenance = Provenance {
            source: Some("https://git.example/p".into()),
            revision: Some("0".repeat(40)),
            created: Provenance::created_for(None, Some(1_700_000_000)),
        };
        let a = build(&files, &config, &provenance, &BTreeMap::new()).unwrap();
        let b = build(&files, &config, &provenance, &BTreeMap::new()).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.manifest, b.manifest);
        let text = std::str::from_utf8(&a.manifest).unwrap();
        assert!(text.contains(CONFIG_MEDIA_TYPE) && text.contains(CONTENT_MEDIA_TYPE));
        assert!(
            text.contains("\"org.opencontainers.image.created\":\"2023-11-14T22:13:20Z\""),
            "{text}"
        );
        let mut changed = files.clone();
        changed.insert("bundles/main.yaml".into(), b"releases: [x]\n".to_vec());
        let c = build(&changed, &config, &provenance, &BTreeMap::new()).unwrap();
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn created_prefers_source_date_epoch_then_the_commit() {
        assert_eq!(
            Provenance::created_for(Some("86400"), Some(5)),
            "1970-01-02T00:00:00Z"
        );
        assert_eq!(
            Provenance::created_for(None, Some(0)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Provenance::created_for(Some("junk"), None),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn only_distribution_files_belong() {
        assert!(belongs("platform.yaml", "platform.yaml"));
        assert!(belongs("distro.lock", "platform.yaml"));
        assert!(belongs("prod/prod.lock", "prod/prod.yaml"));
        assert!(belongs("packages/a/1.0.0/package.yaml", "platform.yaml"));
        assert!(!belongs(".git/config", "platform.yaml"));
        assert!(!belongs("other.yaml", "platform.yaml"));
    }
}
