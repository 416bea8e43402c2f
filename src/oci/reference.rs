//! OCI references: `oci://host[:port]/repo[:tag|@sha256:hex]` (the
//! distribution artifact, always with an explicit registry) and plain image
//! references such as `nginx:1.27` or `ghcr.io/org/app@sha256:...` (images
//! found in manifests, normalised as Docker does).
//!
//! Every part is validated against the distribution spec's grammar before
//! it reaches a URL, so a reference can never smuggle a path, query or
//! second host into a request.

use std::fmt;

/// Errors parsing a reference. The input is shown escaped: it is untrusted.
#[derive(Debug, thiserror::Error)]
#[error("OCI reference {input:?}: {reason}")]
pub struct Error {
    pub input: String,
    pub reason: String,
}

/// Docker Hub, as plain image references name it implicitly.
pub const DOCKER_HUB: &str = "docker.io";

/// Longest reference accepted, whole (the spec bounds a repository name at
/// 255 characters; a tag at 128, a digest at 71 with its algorithm).
const MAX_LEN: usize = 512;

/// A reference to one manifest in one repository of one registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, as given (lower case); [`DOCKER_HUB`] for Docker Hub.
    pub registry: String,
    /// `org/app`; Docker Hub's official images are `library/<name>`.
    pub repository: String,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`, if one was given. When both are given, the digest
    /// is what is fetched and the tag is only informative.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `oci://host[:port]/repo[:tag|@sha256:hex]`. The registry is
    /// always the first path component (no Docker Hub defaulting). Without
    /// a tag or digest the tag is `latest`.
    ///
    /// # Errors
    /// No `oci://` scheme, or any part outside the spec's grammar.
    pub fn parse_oci_url(input: &str) -> Result<Self, Error> {
        let err = |reason: &str| Error {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let rest = input
            .strip_prefix("oci://")
            .ok_or_else(|| err("expected oci://REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST]"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| err("expected a repository after the registry"))?;
        let mut reference = parse_parts(input, host, path)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some("latest".into());
        }
        Ok(reference)
    }

    /// Parses a plain image reference as Docker does: a first component
    /// with a `.` or `:`, or `localhost`, is the registry; otherwise the
    /// registry is Docker Hub and a one-component name is under `library/`.
    /// Without a tag or digest the tag is `latest`.
    ///
    /// # Errors
    /// Any part outside the spec's grammar.
    pub fn parse_image(input: &str) -> Result<Self, Error> {
        let (host, path) = match input.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            Some(_) => (DOCKER_HUB.to_string(), input.to_string()),
            None => (DOCKER_HUB.to_string(), format!("library/{input}")),
        };
        let mut reference = parse_parts(input, &host, &path)?;
        if reference.registry == "index.docker.io" {
            reference.registry = DOCKER_HUB.into();
        }
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some("latest".into());
        }
        Ok(reference)
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

    /// The reference in `oci-client`'s type. Docker Hub is spelled the way
    /// that crate resolves it.
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

/// `host` of `host:port` (and of `[::1]:port`).
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => registry,
    }
}

/// 127.0.0.0/8, `::1` and `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// Whether `digest` is `sha256:` and 64 lower-case hex digits, the only
/// algorithm distro writes or accepts.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether `tag` matches `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn parse_parts(input: &str, host: &str, path: &str) -> Result<Reference, Error> {
    let err = |reason: String| Error {
        input: input.to_string(),
        reason,
    };
    if input.len() > MAX_LEN {
        return Err(err(format!("longer than {MAX_LEN} characters")));
    }
    if !is_registry(host) {
        return Err(err(format!(
            "registry {:?} is not host[:port]",
            host.escape_debug().to_string()
        )));
    }
    let (name_tag, digest) = match path.split_once('@') {
        Some((name_tag, digest)) => {
            if !is_sha256_digest(digest) {
                return Err(err(
                    "the digest must be sha256: and 64 lower-case hex digits".into(),
                ));
            }
            (name_tag, Some(digest.to_string()))
        }
        None => (path, None),
    };
    // A `:` after the last `/` starts the tag.
    let (repository, tag) = match name_tag.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag.to_string())),
        _ => (name_tag, None),
    };
    if let Some(tag) = &tag
        && !is_tag(tag)
    {
        return Err(err(format!(
            "tag {:?} is not [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}",
            tag.escape_debug().to_string()
        )));
    }
    if !is_repository(repository) {
        return Err(err(format!(
            "repository {:?} is not lower-case path components of [a-z0-9] separated by '.', '_', '__' or '-'",
            repository.escape_debug().to_string()
        )));
    }
    Ok(Reference {
        registry: host.to_ascii_lowercase(),
        repository: repository.to_string(),
        tag,
        digest,
    })
}

/// `host[:port]`: DNS labels or an IPv4 address, or a bracketed IPv6
/// address, and an optional numeric port.
fn is_registry(registry: &str) -> bool {
    if registry.is_empty() || registry.len() > 255 {
        return false;
    }
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    if let Some(port) = port
        && port.parse::<u16>().map(|p| p == 0).unwrap_or(true)
    {
        return false;
    }
    if host.is_empty() {
        return registry.starts_with('[');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The spec's repository grammar: components of `[a-z0-9]+` joined by
/// `.`, `_`, `__` or `-`s, separated by `/`; 255 characters at most.
fn is_repository(repository: &str) -> bool {
    if repository.is_empty() || repository.len() > 255 {
        return false;
    }
    repository.split('/').all(|component| {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if alnum(b) {
                i += 1;
                continue;
            }
            // A separator run: `.`, `_`, `__`, or one or more `-`.
            let start = i;
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return false;
            }
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn oci_urls_parse_with_tag_digest_or_neither() {
        let r = Reference::parse_oci_url("oci://127.0.0.1:5000/team/platform:v1.2.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/platform");
        assert_eq!(r.tag.as_deref(), Some("v1.2.0"));
        assert!(r.is_loopback());
        let r = Reference::parse_oci_url(&format!("oci://reg.example/p@{D}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.tag, None);
        assert!(!r.is_loopback());
        let r = Reference::parse_oci_url("oci://localhost:5000/p").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert!(r.is_loopback());
        let r = Reference::parse_oci_url("oci://[::1]:5000/p:t").unwrap();
        assert_eq!(r.host(), "::1");
        assert!(r.is_loopback());
        assert_eq!(r.to_oci_url(), "oci://[::1]:5000/p:t");
    }

    #[test]
    fn hostile_references_are_refused() {
        for bad in [
            "127.0.0.1:5000/p:t",
            "oci://127.0.0.1:5000",
            "oci://127.0.0.1:5000/../etc:t",
            "oci://127.0.0.1:5000/p:t?x=1",
            "oci://127.0.0.1:5000/p#frag",
            "oci://127.0.0.1:5000/P:t",
            "oci://127.0.0.1:5000/p:-t",
            "oci://127.0.0.1:5000/p@sha256:abc",
            "oci://127.0.0.1:5000/p@sha512:abc",
            "oci://user:pw@127.0.0.1:5000/p",
            "oci://127.0.0.1:0/p",
            "oci://127.0.0.1:99999/p",
            "oci://-bad.host/p",
            "oci://127.0.0.1:5000/p//q",
            "oci://127.0.0.1:5000/p___q",
            "oci://127.0.0.1:5000/p\n:t",
        ] {
            assert!(Reference::parse_oci_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn plain_images_normalise_like_docker() {
        let r = Reference::parse_image("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            (DOCKER_HUB, "library/nginx")
        );
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = Reference::parse_image("bitnami/redis:7.2").unwrap();
        assert_eq!(r.registry, DOCKER_HUB);
        assert_eq!(r.repository, "bitnami/redis");
        let r = Reference::parse_image(&format!("ghcr.io/org/app:1.0@{D}")).unwrap();
        assert_eq!(r.registry, "ghcr.io");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.to_string(), format!("ghcr.io/org/app:1.0@{D}"));
        let r = Reference::parse_image("localhost:5000/app").unwrap();
        assert_eq!(r.registry, "localhost:5000");
    }

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_of("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(host_of("[::1]:5000"), "::1");
        assert_eq!(host_of("registry.example"), "registry.example");
        assert!(is_loopback_host("127.3.4.5"));
        assert!(!is_loopback_host("128.0.0.1"));
        assert!(!is_loopback_host("localhost.example"));
    }
}
