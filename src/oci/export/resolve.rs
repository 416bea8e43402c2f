//! Resolving an image: its manifest, or its index and the manifests of the
//! platforms chosen, each fetched and checked against the digest it was
//! fetched by, before anything is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::{Error, Options, Platforms, Resolved};
use crate::oci::layout::descriptor::{Index, Manifest, media};
use crate::oci::layout::{self, Descriptor, Platform, REF_NAME, SOURCE_DIGEST};
use crate::oci::reference::Reference;
use crate::oci::registry::{self, Registry};
use crate::oci::retry::retry;

/// One client per registry, shared by every request to it.
#[derive(Clone)]
pub(super) struct Clients(Arc<HashMap<String, Registry>>);

impl Clients {
    pub(super) fn new(images: &[String], options: &registry::Options) -> Result<Self, Error> {
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

    pub(super) fn get(&self, reference: &Reference) -> Result<Registry, Error> {
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
    Reference::parse(image).map_err(|e| Error::Format {
        image: image.to_string(),
        reason: e.to_string(),
    })
}

pub(super) async fn resolve(
    clients: &Clients,
    name: &str,
    options: &Options,
) -> Result<Resolved, Error> {
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
