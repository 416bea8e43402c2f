//! A distribution published as an OCI artifact (`distro push`).
//!
//! Two verbs, as for Git, so that a reconciler polls cheaply:
//!
//! - [`resolve`] turns a tag, semver range or digest into one manifest
//!   digest (a tag costs one manifest fetch; a semver range a tag list
//!   first; a digest nothing);
//! - [`fetch`] pulls the artifact at that digest into a [`Snapshot`], in
//!   memory and bounded by [`Limits`], every digest verified.
//!
//! The revision is `TAG@sha256:<hex>`, or `sha256:<hex>` for a digest ref.

use crate::oci::artifact::{self, Pulled};
use crate::oci::content::Limits;
use crate::oci::{Reference, Registry, registry};

use super::{Origin, Snapshot};

/// What to follow in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciRef {
    /// The manifest a tag points to now.
    Tag(String),
    /// The highest tag that is a version matching this requirement
    /// (`^1.2`, `>=2`); tags that are not versions are ignored.
    Semver(String),
    /// One manifest, `sha256:<hex>`.
    Digest(String),
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OciRef::Tag(t) => write!(f, "tag {}", t.escape_debug()),
            OciRef::Semver(r) => write!(f, "semver {}", r.escape_debug()),
            OciRef::Digest(d) => write!(f, "digest {}", d.escape_debug()),
        }
    }
}

/// Errors of the OCI source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Artifact(#[from] artifact::Error),
    /// The ref cannot name anything.
    #[error("{url}: {reference}: {reason}")]
    Ref {
        url: String,
        reference: String,
        reason: String,
    },
    /// No tag matches the semver requirement.
    #[error("{url}: no tag matches semver {requirement}")]
    NoMatch { url: String, requirement: String },
}

/// A ref resolved to one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The repository, with the tag (if any) and the digest.
    pub reference: Reference,
    /// `sha256:<hex>` of the manifest.
    pub digest: String,
}

impl Resolved {
    /// `v1.2.0@sha256:<hex>`, or `sha256:<hex>` for a digest ref.
    pub fn revision(&self) -> String {
        match &self.reference.tag {
            Some(tag) => format!("{tag}@{}", self.digest),
            None => self.digest.clone(),
        }
    }
}

/// Resolves `reference` in the repository `repository` (an
/// `oci://host/repo` reference; its own tag is ignored).
///
/// # Errors
/// A malformed tag or digest, a semver range that matches nothing or is
/// not a range, an unreachable or refusing registry.
pub async fn resolve(
    registry: &Registry,
    repository: &Reference,
    reference: &OciRef,
) -> Result<Resolved, Error> {
    let url = repository_url(repository);
    let bad = |reason: &str| Error::Ref {
        url: url.clone(),
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    let bare = Reference {
        tag: None,
        digest: None,
        ..repository.clone()
    };
    let tag = match reference {
        OciRef::Digest(digest) => {
            if !crate::oci::reference::is_sha256_digest(digest) {
                return Err(bad("not sha256: and 64 lower-case hex digits"));
            }
            return Ok(Resolved {
                reference: bare.with_digest(digest),
                digest: digest.clone(),
            });
        }
        OciRef::Tag(tag) => tag.clone(),
        OciRef::Semver(requirement) => {
            // A requirement that cannot parse is refused before any request.
            super::git::select_semver(&[], requirement).map_err(|e| bad(&e.to_string()))?;
            let tags = registry.list_tags(&bare).await?;
            super::git::select_semver(&tags, requirement)
                .map_err(|e| bad(&e.to_string()))?
                .ok_or_else(|| Error::NoMatch {
                    url: url.clone(),
                    requirement: requirement.clone(),
                })?
        }
    };
    if !crate::oci::reference::is_tag(&tag) {
        return Err(bad("not a valid tag"));
    }
    let tagged = bare.with_tag(&tag);
    let manifest = registry
        .fetch_manifest(&tagged, &[registry::OCI_MANIFEST])
        .await?;
    Ok(Resolved {
        reference: tagged.with_digest(&manifest.digest),
        digest: manifest.digest,
    })
}

/// Pulls the artifact `resolved` names into a snapshot (in memory,
/// bounded by `limits`); `Origin::Oci`, revision [`Resolved::revision`].
///
/// # Errors
/// As [`artifact::pull`].
pub async fn fetch(
    registry: &Registry,
    resolved: &Resolved,
    limits: Limits,
) -> Result<Snapshot, Error> {
    let Pulled {
        config,
        files,
        digest,
        ..
    } = artifact::pull(registry, &resolved.reference, limits).await?;
    debug_assert_eq!(digest, resolved.digest);
    Ok(Snapshot::new(
        Origin::Oci {
            url: repository_url(&resolved.reference),
        },
        Some(resolved.revision()),
        &config.platform.file,
        files,
    ))
}

/// `oci://host/repo`, without tag or digest.
fn repository_url(reference: &Reference) -> String {
    format!("oci://{}/{}", reference.registry, reference.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_name_the_tag_and_the_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse_oci_url("oci://127.0.0.1:5000/p:v1.2.0").unwrap();
        let tagged = Resolved {
            reference: r.with_digest(&d),
            digest: d.clone(),
        };
        assert_eq!(tagged.revision(), format!("v1.2.0@{d}"));
        let bare = Resolved {
            reference: Reference { tag: None, ..r }.with_digest(&d),
            digest: d.clone(),
        };
        assert_eq!(bare.revision(), d);
    }
}
