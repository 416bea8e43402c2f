//! Registry prefixes: what operators join image names under.

use std::fmt;

use super::{
    Error, MAX_NAME, Reference, check_component, looks_like_host, registry_name, split_registry,
};

/// A registry prefix (`quay.io/kubevirt` + `virt-api:v1.4.0`), normalised
/// as a reference's name is (`kubevirt` is Docker Hub's
/// `docker.io/kubevirt`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub registry: String,
    /// The path under the registry, without slashes at the ends; empty for
    /// a registry alone.
    pub path: String,
    /// The names joined to it, when the field that holds it says (the
    /// components of an image configuration); any name when `None`.
    pub names: Option<Vec<String>>,
}

impl Prefix {
    /// Parses `host[:port][/path]` or a Docker Hub `path`.
    ///
    /// # Errors
    /// The text is not a registry and path: empty, whitespace, a bad host,
    /// a path component that is not lowercase letters and digits.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let trimmed = text.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(Error::Empty);
        }
        if trimmed.len() > MAX_NAME {
            return Err(Error::NameTooLong);
        }
        if let Some(c) = trimmed
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::Character(c));
        }
        // A registry alone has no slash to tell it by: a first component
        // that looks like a host is one.
        let (registry, path) = if !trimmed.contains('/') && looks_like_host(trimmed) {
            (registry_name(trimmed)?, "")
        } else {
            split_registry(trimmed)?
        };
        if !path.is_empty() {
            for component in path.split('/') {
                check_component(component)?;
            }
        }
        Ok(Prefix {
            registry: registry.to_string(),
            path: path.to_string(),
            names: None,
        })
    }

    /// What `reference`'s repository is under this prefix (`virt-api` for
    /// `quay.io/kubevirt/virt-api:v1` under `quay.io/kubevirt`), if it is.
    pub fn rest<'r>(&self, reference: &'r Reference) -> Option<&'r str> {
        if reference.registry != self.registry {
            return None;
        }
        let rest = if self.path.is_empty() {
            reference.repository.as_str()
        } else {
            reference
                .repository
                .strip_prefix(self.path.as_str())?
                .strip_prefix('/')?
        };
        match &self.names {
            Some(names) if !names.iter().any(|n| n == rest) => None,
            _ => Some(rest),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.registry)?;
        if !self.path.is_empty() {
            write!(f, "/{}", self.path)?;
        }
        Ok(())
    }
}
