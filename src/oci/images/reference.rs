//! Image references, parsed and normalised the way Docker reads them:
//! `nginx` is `docker.io/library/nginx:latest`.
//!
//! The grammar is the one of the distribution project's reference package
//! (`[host[:port]/]path[:tag][@digest]`), with its rule for telling a host
//! from the first path component: a host has a `.` or a `:`, is
//! `localhost`, or has an uppercase letter (path components never do).

use std::fmt;

/// The registry of references that name none.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's old name, which Docker rewrites to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// Docker Hub's namespace of official images (`nginx` is `library/nginx`).
const OFFICIAL: &str = "library";
/// Longest `host/path`, as the reference package allows.
const MAX_NAME: usize = 255;
/// Longest text looked at, so that a huge string is refused before any work.
const MAX_REFERENCE: usize = 1024;
const MAX_TAG: usize = 128;

/// A normalised image reference.
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
    /// `sha256:<64 hex>` (or `sha512:<128 hex>`).
    pub digest: Option<String>,
}

/// Why text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
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
}

impl Reference {
    /// Parses and normalises a reference.
    ///
    /// # Errors
    /// The text breaks the grammar: empty, whitespace, uppercase in the
    /// path, a bad tag, host or digest, a name over 255 characters.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        if text.len() > MAX_REFERENCE {
            return Err(ParseError::TooLong);
        }
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError::Character(c));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
            None => (text, None),
        };
        // A colon after the last slash starts the tag; one before it is a
        // port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(check_tag(&rest[at + 1..])?))
            }
            None => (rest, None),
        };
        let (registry, path) = split_registry(name);
        check_host(registry)?;
        let registry = if registry == DOCKER_HUB_LEGACY {
            DOCKER_HUB
        } else {
            registry
        };
        if path.is_empty() {
            return Err(ParseError::Component(String::new()));
        }
        for component in path.split('/') {
            check_component(component)?;
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("{OFFICIAL}/{path}")
        } else {
            path.to_string()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME {
            return Err(ParseError::NameTooLong);
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (tag, _) => tag,
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
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
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Reference::parse(s)
    }
}

/// The registry a name starts with, or Docker Hub, and the rest.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

/// `host[:port]`: DNS labels separated by dots, or a bracketed IPv6
/// address, then an optional port.
pub(crate) fn check_host(host: &str) -> Result<(), ParseError> {
    let bad = || ParseError::Host(host.to_string());
    let (name, port) = if let Some(inner) = host.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or_else(bad)?;
        if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad());
        }
        match after {
            "" => ("", None),
            _ => ("", Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if !host.starts_with('[') {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(label_ok) {
            return Err(bad());
        }
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
pub(crate) fn check_component(component: &str) -> Result<(), ParseError> {
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ParseError::Uppercase(component.to_string()));
    }
    let bad = || ParseError::Component(component.to_string());
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or dashes; then a letter or digit.
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return Err(bad()),
        }
        if i == start || !bytes.get(i).copied().is_some_and(alnum) {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<String, ParseError> {
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(tag.to_string())
    } else {
        Err(ParseError::Tag(tag.to_string()))
    }
}

/// Only digests a registry can verify are taken: sha256 and sha512.
pub(crate) fn check_digest(digest: &str) -> Result<String, ParseError> {
    let hex_of = |hex: &str, len: usize| {
        hex.len() == len
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    let ok = match digest.split_once(':') {
        Some(("sha256", hex)) => hex_of(hex, 64),
        Some(("sha512", hex)) => hex_of(hex, 128),
        _ => false,
    };
    if ok {
        Ok(digest.to_string())
    } else {
        Err(ParseError::Digest(digest.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn norm(text: &str) -> String {
        Reference::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .to_string()
    }

    #[test]
    fn references_are_normalised_as_docker_does() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("foo/bar", "docker.io/foo/bar:latest"),
            ("foo/bar/baz:v1", "docker.io/foo/bar/baz:v1"),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            ("docker.io/library/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/nginx:1", "docker.io/library/nginx:1"),
            ("index.docker.io/foo/bar", "docker.io/foo/bar:latest"),
            (
                "quay.io/cilium/cilium:v1.16.5",
                "quay.io/cilium/cilium:v1.16.5",
            ),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("localhost:5000/x:1", "localhost:5000/x:1"),
            ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
            ("[::1]:5000/a:b", "[::1]:5000/a:b"),
            ("Registry.Example/a", "Registry.Example/a:latest"),
            // A host without dots but with uppercase is a host, as in Docker.
            ("MyHost/a", "MyHost/a:latest"),
            // A digest alone gets no tag; a tag and a digest are both kept.
            (
                &format!("nginx@{D}"),
                &format!("docker.io/library/nginx@{D}"),
            ),
            (
                &format!("quay.io/a/b:v1@{D}"),
                &format!("quay.io/a/b:v1@{D}"),
            ),
            ("a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest"),
            (
                "victoriametrics/operator:config-reloader-v0.51.3",
                "docker.io/victoriametrics/operator:config-reloader-v0.51.3",
            ),
            ("x:V1_a.b-C", "docker.io/library/x:V1_a.b-C"),
        ];
        for (text, want) in cases {
            assert_eq!(norm(text), want, "{text}");
            // Normalising is idempotent.
            assert_eq!(norm(want), want, "{want}");
        }
    }

    #[test]
    fn invalid_references_are_refused_with_the_reason() {
        use ParseError as E;
        let long_tag = "a".repeat(129);
        let long_name = format!("quay.io/{}", "a".repeat(250));
        let cases: Vec<(String, ParseError)> = vec![
            (String::new(), E::Empty),
            ("Nginx".into(), E::Uppercase("Nginx".into())),
            (
                "quay.io/Cilium/cilium".into(),
                E::Uppercase("Cilium".into()),
            ),
            ("nginx latest".into(), E::Character(' ')),
            ("nginx\n".into(), E::Character('\n')),
            ("nginx:".into(), E::Tag(String::new())),
            ("nginx:-x".into(), E::Tag("-x".into())),
            (format!("nginx:{long_tag}"), E::Tag(long_tag.clone())),
            ("nginx:a:b".into(), E::Component("nginx:a".into())),
            ("nginx@sha256:abc".into(), E::Digest("sha256:abc".into())),
            ("nginx@md5:abc".into(), E::Digest("md5:abc".into())),
            (
                format!("nginx@{}", D.to_uppercase().replace("SHA", "sha")),
                E::Digest(D.to_uppercase().replace("SHA", "sha")),
            ),
            ("-a/b".into(), E::Component("-a".into())),
            ("a/b-".into(), E::Component("b-".into())),
            ("a//b".into(), E::Component(String::new())),
            ("quay.io/".into(), E::Component(String::new())),
            ("a/b.".into(), E::Component("b.".into())),
            ("a/b___c".into(), E::Component("b___c".into())),
            ("a/b%c".into(), E::Component("b%c".into())),
            ("quay..io/a".into(), E::Host("quay..io".into())),
            ("quay.io:port/a".into(), E::Host("quay.io:port".into())),
            ("quay.io:123456/a".into(), E::Host("quay.io:123456".into())),
            ("-quay.io/a".into(), E::Host("-quay.io".into())),
            ("[zz]:5/a".into(), E::Host("[zz]:5".into())),
            (long_name, E::NameTooLong),
            ("a".repeat(2000), E::TooLong),
        ];
        for (text, want) in cases {
            assert_eq!(Reference::parse(&text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn parts_are_exposed() {
        let r = Reference::parse("quay.io/cilium/cilium:v1.16.5").unwrap();
        assert_eq!(r.registry, "quay.io");
        assert_eq!(r.repository, "cilium/cilium");
        assert_eq!(r.tag.as_deref(), Some("v1.16.5"));
        assert_eq!(r.digest, None);
        assert_eq!(r.name(), "quay.io/cilium/cilium");
        let r: Reference = "nginx".parse().unwrap();
        assert_eq!(r.repository, "library/nginx");
    }
}
