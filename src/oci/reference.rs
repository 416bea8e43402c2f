//! References to images and artifacts, parsed once, one way, for every
//! use: images found in manifests (`nginx:1.27`, normalised as Docker does
//! to `docker.io/library/nginx:1.27`), the distribution artifact's
//! `oci://host[:port]/repo[:tag|@digest]` (always with an explicit
//! registry), and registry prefixes ([`Prefix`]).
//!
//! The grammar is the distribution spec's (`[host[:port]/]path[:tag]
//! [@digest]`), with its bounds: path components of `[a-z0-9]` joined by
//! `.`, `_`, `__` or dashes, a tag of `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`,
//! a name (`host/path`) of at most 255 characters, sha256 and sha512
//! digests. Every part is checked before it reaches a URL, so a reference
//! can never smuggle a path, query or second host into a request.

use std::fmt;

mod grammar;
mod prefix;

pub(crate) use grammar::{check_component, check_digest, check_host};
pub use grammar::{host_of, is_loopback_host, is_sha256_digest, is_tag};
pub use prefix::Prefix;

use grammar::check_tag;

/// The registry of references that name none.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's old name, which Docker rewrites to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// Docker Hub's namespace of official images (`nginx` is `library/nginx`).
const OFFICIAL: &str = "library";
/// Longest `host/path` (the spec's bound on a name).
pub const MAX_NAME: usize = 255;
/// Longest text looked at, so that a huge string is refused before any
/// work (a name, a tag and a sha512 digest fit well within it).
const MAX_REFERENCE: usize = 1024;
const MAX_TAG: usize = 128;

/// Why text is not a reference. The offending part is shown escaped: it
/// is untrusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("empty reference")]
    Empty,
    #[error("longer than {MAX_REFERENCE} characters")]
    TooLong,
    #[error("contains {0:?}; references have no spaces or control characters")]
    Character(char),
    #[error("repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error(
        "{0:?} is not a valid path component (lowercase letters and digits, separated by '.', '_', '__' or dashes)"
    )]
    Component(String),
    #[error("{0:?} is not a valid registry host[:port]")]
    Host(String),
    #[error(
        "tag {0:?} is not valid (up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-')"
    )]
    Tag(String),
    #[error("digest {0:?} is not valid (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)")]
    Digest(String),
    #[error("name is longer than {MAX_NAME} characters")]
    NameTooLong,
    /// Not `oci://REGISTRY/REPOSITORY...`.
    #[error("{0:?}: expected oci://REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST]")]
    Scheme(String),
    /// A well-formed reference that the operation cannot use.
    #[error("{input}: {reason}")]
    Unusable { input: String, reason: &'static str },
}

/// A normalised reference to one manifest in one repository of one
/// registry.
///
/// # Guarantees
/// `registry` is never empty; a reference with neither tag nor digest got
/// the tag `latest`; [`Reference::parse`] of the [`Display`](fmt::Display)
/// form gives the same reference back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `docker.io`, `quay.io`, `localhost:5000`.
    pub registry: String,
    /// The path inside the registry: `library/nginx`, `cilium/cilium`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>` (or `sha512:<128 hex>`). When both are given, the
    /// digest is what is fetched and the tag is only informative.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises an image reference as Docker does: a first
    /// component with a `.` or `:`, `localhost`, or an uppercase letter is
    /// the registry; otherwise the registry is Docker Hub and a
    /// one-component name is under `library/`.
    ///
    /// # Errors
    /// The text breaks the grammar: empty, whitespace, uppercase in the
    /// path, a bad tag, host or digest, a name over 255 characters.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (name, tag, digest) = split_tail(text)?;
        let (registry, path) = split_registry(name)?;
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("{OFFICIAL}/{path}")
        } else {
            path.to_string()
        };
        build(registry.to_string(), path, repository, tag, digest)
    }

    /// Parses `oci://host[:port]/repo[:tag|@digest]`. The registry is
    /// always the first path component (no Docker Hub defaulting), in
    /// lower case. Without a tag or digest the tag is `latest`.
    ///
    /// # Errors
    /// No `oci://` scheme or no repository, or any part outside the
    /// grammar.
    pub fn parse_oci_url(input: &str) -> Result<Self, Error> {
        // Bounded: the input is untrusted and goes into a message.
        let scheme = || Error::Scheme(input.chars().take(100).collect());
        let rest = input.strip_prefix("oci://").ok_or_else(scheme)?;
        let (name, tag, digest) = split_tail(rest)?;
        let (host, path) = name.split_once('/').ok_or_else(scheme)?;
        check_host(host)?;
        build(
            host.to_ascii_lowercase(),
            path,
            path.to_string(),
            tag,
            digest,
        )
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository at another tag.
    pub fn with_tag(&self, tag: &str) -> Self {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository at a digest (the tag is kept for display).
    pub fn with_digest(&self, digest: &str) -> Self {
        Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The host without a port, for the loopback check.
    pub fn host(&self) -> &str {
        host_of(&self.registry)
    }

    /// Whether the registry is on this machine (127.0.0.0/8, `::1`,
    /// `localhost`): the only registries spoken to over plain HTTP without
    /// `--insecure`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }

    /// The `oci://` form.
    pub fn to_oci_url(&self) -> String {
        format!("oci://{self}")
    }

    /// The reference in `oci-client`'s type.
    pub fn to_client(&self) -> oci_client::Reference {
        let registry = self.registry.clone();
        let repository = self.repository.clone();
        match (&self.tag, &self.digest) {
            (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
                registry,
                repository,
                tag.clone(),
                digest.clone(),
            ),
            (None, Some(digest)) => {
                oci_client::Reference::with_digest(registry, repository, digest.clone())
            }
            (tag, None) => oci_client::Reference::with_tag(
                registry,
                repository,
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }
}

impl fmt::Display for Reference {
    /// `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Reference::parse(s)
    }
}

/// Docker's rule for a first component that is a registry.
fn looks_like_host(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

/// The registry a name starts with (checked, Docker Hub under one name),
/// or Docker Hub, and the rest.
fn split_registry(name: &str) -> Result<(&str, &str), Error> {
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if looks_like_host(first) => (first, rest),
        _ => (DOCKER_HUB, name),
    };
    Ok((registry_name(registry)?, path))
}

/// A registry, checked, and Docker Hub under one name.
fn registry_name(registry: &str) -> Result<&str, Error> {
    check_host(registry)?;
    Ok(if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        registry
    })
}

/// The bounds and characters of the whole text, then its name, tag and
/// digest: a colon after the last slash starts the tag, one before it is a
/// port.
fn split_tail(text: &str) -> Result<(&str, Option<String>, Option<String>), Error> {
    if text.is_empty() {
        return Err(Error::Empty);
    }
    if text.len() > MAX_REFERENCE {
        return Err(Error::TooLong);
    }
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Character(c));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
        None => (text, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    Ok(match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&rest[..at], Some(check_tag(&rest[at + 1..])?), digest)
        }
        None => (rest, None, digest),
    })
}

/// The checks on the path and name length, and the default tag.
fn build(
    registry: String,
    path: &str,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
) -> Result<Reference, Error> {
    if path.is_empty() {
        return Err(Error::Component(String::new()));
    }
    for component in path.split('/') {
        check_component(component)?;
    }
    if registry.len() + 1 + repository.len() > MAX_NAME {
        return Err(Error::NameTooLong);
    }
    let tag = match (tag, &digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag,
    };
    Ok(Reference {
        registry,
        repository,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests;
