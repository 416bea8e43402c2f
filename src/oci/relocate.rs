//! Relocation: every image reference of the rendered releases rewritten to
//! a private registry, by digest, before anything is applied.
//!
//! A relocation map takes each original (normalised) reference to its copy,
//! `REG/PREFIX/<repository path>@sha256:<digest>` ([`target`]). Rewriting
//! uses the same walker as finding ([`crate::oci::images::walk`]), so every
//! place `distro images` lists is rewritten:
//! - image fields, to the copy by digest;
//! - references mentioned in text (environment variables, flags,
//!   ConfigMap data, documents kept in strings) that the map has, as whole
//!   tokens ([`crate::oci::images::text`]), to the copy by digest;
//! - registry prefixes (KubeVirt `imageRegistry`, the Piraeus image
//!   configuration's `base`, LINSTOR `repository`), to where the map put
//!   the images under them ([`Relocation::prefix`]). Operators join their
//!   own names and tags to a prefix, so those images are pulled by tag,
//!   which `distro import` pushes as well as the digest.
//!
//! Secrets are never read or rewritten.
//!
//! # Guarantees
//! All or nothing: an image field the map lacks, or a prefix no image of
//! the map is under, fails the whole render, naming the image, the
//! release, the object and the field. A release's digest covers its
//! relocated bytes. Objects with nothing relocated keep their bytes
//! exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::images::{self, text, walk};
use super::reference::{Prefix, Reference, check_component, check_digest, check_host};
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
    /// A registry prefix that cannot be relocated.
    #[error(transparent)]
    Prefix(Box<PrefixError>),
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

/// A registry prefix that cannot be relocated, in its place.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: release {release}: {object}: {field}: registry prefix {prefix:?}: {reason}")]
pub struct PrefixError {
    pub release: String,
    pub file: String,
    pub object: String,
    pub field: String,
    pub prefix: String,
    pub reason: String,
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

    /// Where the images under the registry prefix `prefix` went: the
    /// prefix that their copies are under in the same way
    /// (`quay.io/kubevirt` -> `registry.local:5000/mirror/kubevirt` when
    /// `quay.io/kubevirt/virt-api:v1` went to
    /// `registry.local:5000/mirror/kubevirt/virt-api@sha256:...`).
    ///
    /// # Errors
    /// No image of the map is under the prefix, or the
    /// images under it went to different places (then an operator joining
    /// names to one prefix cannot find them all), as the reason.
    pub fn prefix(&self, prefix: &Prefix) -> Result<String, String> {
        let mut places = std::collections::BTreeSet::new();
        for (original, copy) in &self.map {
            let Ok(original) = Reference::parse(original) else {
                continue;
            };
            let Some(rest) = prefix.rest(&original) else {
                continue;
            };
            let name = copy.name();
            let place = name
                .strip_suffix(rest)
                .and_then(|p| p.strip_suffix('/'))
                .map(str::to_string);
            places.insert(place);
        }
        let mut places = places.into_iter();
        match (places.next(), places.next()) {
            (None, _) => Err(
                "none of the relocated images is under it; declare the images the operator starts under images: in package.yaml".into(),
            ),
            (Some(Some(place)), None) => Ok(place),
            _ => Err("the images under it were relocated to different places, which an operator joining names to one prefix cannot follow".into()),
        }
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
    check_host(host).map_err(|e| bad(e.to_string()))?;
    let digest = check_digest(digest).map_err(|_| Error::Digest {
        image: original.to_string(),
        digest: digest.to_string(),
    })?;
    let repository = match prefix {
        Some(prefix) => {
            for component in prefix.split('/') {
                check_component(component).map_err(|e| bad(e.to_string()))?;
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

/// Rewrites every place of one object tree that names images, in place.
///
/// # Errors
/// Each image field that is not a valid reference or that the map lacks,
/// and each registry prefix that cannot be relocated; the tree is then
/// partly rewritten and must be dropped.
pub fn tree(value: &mut serde_json::Value, relocation: &Relocation) -> Result<bool, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut changed = false;
    let _ = walk::object(value, &mut |mut site: walk::Site<'_>| {
        match &mut site.field {
            walk::Field::Text(s) => {
                let copy = |r: &Reference| relocation.get(r).map(Reference::to_string);
                if let Some(new) = text::rewrite(s, copy) {
                    **s = new;
                    changed = true;
                }
                return Ok::<(), ()>(());
            }
            walk::Field::Prefix { .. } => {
                let place = site.field.prefix().and_then(|p| relocation.prefix(&p));
                match (place, &mut site.field) {
                    (Ok(place), walk::Field::Prefix { text, .. }) => {
                        changed |= **text != place;
                        **text = place;
                    }
                    (Err(reason), field) => problems.push(Problem::Prefix {
                        field: site.path,
                        prefix: field.text(),
                        reason,
                    }),
                    _ => {}
                }
                return Ok(());
            }
            _ => {}
        }
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
        Ok(())
    });
    if problems.is_empty() {
        Ok(changed)
    } else {
        Err(problems)
    }
}

/// What is wrong with one place, before it is put in context.
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
    Prefix {
        field: String,
        prefix: String,
        reason: String,
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
            Ok(Some(mut value)) => match tree(&mut value, relocation) {
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
                        Problem::Prefix {
                            field,
                            prefix,
                            reason,
                        } => Error::Prefix(Box::new(PrefixError {
                            release: rendered.name.clone(),
                            file: file.clone(),
                            object: object.key.to_string(),
                            field,
                            prefix,
                            reason,
                        })),
                    }));
                    None
                }
            },
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
            // Relocation rewrites images, never annotations.
            disabled: object.disabled(),
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
#[cfg(test)]
mod tests_default;
