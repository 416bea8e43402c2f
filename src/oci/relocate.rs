//! Relocation: every image reference of the rendered releases rewritten to
//! a private registry, by digest, before anything is applied.
//!
//! A relocation map takes each original (normalised) reference to its copy,
//! `REG/PREFIX/<repository path>@sha256:<digest>` ([`target`]). Rewriting
//! uses the same walker as finding ([`crate::oci::images::walk`]), so every
//! image `distro images` lists is rewritten and nothing else is.
//!
//! # Guarantees
//! All or nothing: an image that the map lacks fails the whole render,
//! naming the image, the release, the object and the field. A release's
//! digest covers its relocated bytes. Objects without images keep their
//! bytes exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::images::{self, Reference, walk};
use crate::render::manifest::{Draft, assemble};
use crate::render::{Object, RenderedRelease};
use crate::source::sha256;

/// A relocation problem.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// An image of a rendered object that the map does not relocate.
    #[error(
        "{file}: release {release}: {object}: {field}: image {image} is not in the relocation map"
    )]
    Unmapped {
        release: String,
        file: String,
        object: String,
        field: String,
        image: String,
    },
    /// An image field that does not hold a valid reference.
    #[error(transparent)]
    Image(Box<images::Error>),
    /// The `REG/PREFIX` to relocate to is not a registry and path.
    #[error("relocation target {registry:?}: {reason}")]
    Registry { registry: String, reason: String },
    /// A digest that is not `sha256:<64 hex>` (or sha512).
    #[error(
        "image {image}: digest {digest:?} is not sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
    )]
    Digest { image: String, digest: String },
    /// An entry of a relocation map that is not a pair of references, or
    /// whose copy is not by digest.
    #[error("relocation map entry {original:?} -> {target:?}: {reason}")]
    Entry {
        original: String,
        target: String,
        reason: String,
    },
}

/// Original image -> its copy in the private registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relocation {
    /// Keyed by the normalised original reference.
    map: BTreeMap<String, Reference>,
}

impl Relocation {
    /// A map from pairs of references (original as written anywhere,
    /// target by digest).
    ///
    /// # Errors
    /// A reference that does not parse, or a target without a digest.
    pub fn new<I, S, T>(entries: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, T)>,
        S: AsRef<str>,
        T: AsRef<str>,
    {
        let mut relocation = Relocation::default();
        for (original, target) in entries {
            let (original, target) = (original.as_ref(), target.as_ref());
            let entry = |reason: String| Error::Entry {
                original: original.to_string(),
                target: target.to_string(),
                reason,
            };
            let from = Reference::parse(original).map_err(|e| entry(e.to_string()))?;
            let to = Reference::parse(target).map_err(|e| entry(e.to_string()))?;
            if to.digest.is_none() {
                return Err(entry(
                    "the copy must be named by digest (name@sha256:...)".into(),
                ));
            }
            relocation.insert(&from, to);
        }
        Ok(relocation)
    }

    /// Relocates `original` to `target`.
    pub fn insert(&mut self, original: &Reference, target: Reference) {
        self.map.insert(original.to_string(), target);
    }

    /// Where `original` goes.
    pub fn get(&self, original: &Reference) -> Option<&Reference> {
        self.map.get(&original.to_string())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every (original, copy), sorted by original.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Reference)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// The copy of `original` in the registry `registry` (`host[:port]` and an
/// optional path prefix, `registry.local:5000/mirror`):
/// `REG/PREFIX/<repository path>@<digest>`. The path is the original's
/// without its registry host, as Zarf and `docker tag` mirrors lay it out:
/// `quay.io/cilium/cilium:v1.16.5` goes to
/// `registry.local:5000/mirror/cilium/cilium@sha256:...`, and Docker Hub's
/// official images keep their `library/` (`nginx` goes to
/// `registry.local:5000/mirror/library/nginx@sha256:...`). Two originals
/// with the same path on different registries share a repository, which
/// is safe because each is pulled by its own digest.
///
/// # Errors
/// `registry` is not `host[:port][/path]`, the digest is not a sha256 or
/// sha512 digest, or the name would pass 255 characters.
pub fn target(registry: &str, original: &Reference, digest: &str) -> Result<Reference, Error> {
    let bad = |reason: String| Error::Registry {
        registry: registry.to_string(),
        reason,
    };
    let trimmed = registry.trim_end_matches('/');
    let (host, prefix) = match trimmed.split_once('/') {
        Some((host, prefix)) => (host, Some(prefix)),
        None => (trimmed, None),
    };
    if host.is_empty() {
        return Err(bad("no registry host".into()));
    }
    images::check_host(host).map_err(|e| bad(e.to_string()))?;
    let digest = images::check_digest(digest).map_err(|_| Error::Digest {
        image: original.to_string(),
        digest: digest.to_string(),
    })?;
    let repository = match prefix {
        Some(prefix) => {
            for component in prefix.split('/') {
                images::check_component(component).map_err(|e| bad(e.to_string()))?;
            }
            format!("{prefix}/{}", original.repository)
        }
        None => original.repository.clone(),
    };
    let target = Reference {
        registry: host.to_string(),
        repository,
        tag: None,
        digest: Some(digest),
    };
    // The same limits as any reference, so that the copy can be pulled.
    Reference::parse(&target.to_string()).map_err(|e| bad(format!("{target}: {e}")))?;
    Ok(target)
}

/// Rewrites the images of one object tree in place.
///
/// # Errors
/// Each image field that is not a valid reference, or that the map lacks,
/// as `(field, text, problem)`; the tree is then partly rewritten and must
/// be dropped.
pub fn tree(
    value: &mut serde_json::Value,
    custom: bool,
    relocation: &Relocation,
) -> Result<bool, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut changed = false;
    let _ = walk::object(value, custom, &mut |mut site: walk::Site<'_>| {
        match site.field.reference() {
            Err(reason) => problems.push(Problem::Invalid {
                field: site.path,
                text: site.field.text(),
                reason,
            }),
            Ok(original) => match relocation.get(&original) {
                Some(target) => {
                    site.field.set(target, &original);
                    changed = true;
                }
                None => problems.push(Problem::Unmapped {
                    field: site.path,
                    image: original.to_string(),
                }),
            },
        }
        Ok::<(), ()>(())
    });
    if problems.is_empty() {
        Ok(changed)
    } else {
        Err(problems)
    }
}

/// What is wrong with one image field, before it is put in context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Invalid {
        field: String,
        text: String,
        reason: String,
    },
    Unmapped {
        field: String,
        image: String,
    },
}

/// The release with every image relocated: new objects, manifest and
/// digest. `shown` names an object's file for messages.
///
/// # Errors
/// Every image of the release that is invalid or not in the map.
pub fn release(
    rendered: &RenderedRelease,
    relocation: &Relocation,
    shown: impl Fn(&Object) -> String,
) -> Result<RenderedRelease, Vec<Error>> {
    let mut errors = Vec::new();
    let mut yaml = String::with_capacity(rendered.manifest.len());
    let mut drafts = Vec::with_capacity(rendered.objects.len());
    for object in &rendered.objects {
        let start = yaml.len();
        let rewritten = match images::tree(&rendered.name, object) {
            Err(e) => {
                errors.push(Error::Image(e));
                None
            }
            Ok(None) => None,
            Ok(Some(mut value)) => {
                let custom = images::is_custom(&object.key.group, &object.key.kind);
                match tree(&mut value, custom, relocation) {
                    Ok(true) => Some(value),
                    Ok(false) => None,
                    Err(problems) => {
                        let file = shown(object);
                        errors.extend(problems.into_iter().map(|p| match p {
                            Problem::Invalid {
                                field,
                                text,
                                reason,
                            } => Error::Image(Box::new(images::Error::Invalid {
                                release: rendered.name.clone(),
                                file: file.clone(),
                                object: object.key.to_string(),
                                field,
                                text,
                                reason,
                            })),
                            Problem::Unmapped { field, image } => Error::Unmapped {
                                release: rendered.name.clone(),
                                file: file.clone(),
                                object: object.key.to_string(),
                                field,
                                image,
                            },
                        }));
                        None
                    }
                }
            }
        };
        match rewritten {
            Some(value) => crate::yaml::append(&mut yaml, &value),
            None => yaml.push_str(object.yaml()),
        }
        drafts.push(Draft {
            key: object.key.clone(),
            api_version: object.api_version.clone(),
            source: Arc::clone(&object.source),
            span: start..yaml.len(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (objects, manifest) = assemble(&rendered.name, &yaml, &drafts);
    Ok(RenderedRelease {
        name: rendered.name.clone(),
        namespace: rendered.namespace.clone(),
        package: rendered.package.clone(),
        version: rendered.version.clone(),
        objects,
        digest: sha256(manifest.as_bytes()),
        manifest,
    })
}

#[cfg(test)]
mod tests;
