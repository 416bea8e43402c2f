//! Registry credentials: the Docker client's `config.json` (in
//! `$DOCKER_CONFIG`, else `~/.docker`), and the same format in a Kubernetes
//! `kubernetes.io/dockerconfigjson` Secret.
//!
//! Only inline credentials are read: `auths.<registry>.auth` (base64 of
//! `user:password`) or `auths.<registry>.username` / `.password`, and
//! `identitytoken` as a bearer token. Credential helpers (`credsStore`,
//! `credHelpers`) run programs and are not used; a registry that only has
//! one is treated as anonymous, and a debug line says so.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::reference::DOCKER_HUB;

/// Largest `config.json` read (they are a few KiB; a Secret is at most 1 MiB).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Errors reading credentials. No message holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {reason}")]
    Invalid { origin: String, reason: String },
}

/// How to authenticate to one registry. `Debug` never shows a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// User name and password (HTTP Basic, or exchanged for a token).
    Basic { username: String, password: String },
    /// A bearer token used as it is.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Credentials::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

impl Credentials {
    /// In `oci-client`'s type.
    pub fn to_client(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// The directory the Docker client keeps its config in: `$DOCKER_CONFIG`,
/// else `$HOME/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| Path::new(&home).join(".docker"))
}

/// The credentials for `registry` in the Docker client's config file;
/// anonymous when there is no file or no entry for the registry.
///
/// # Errors
/// The file exists but cannot be read or parsed.
pub fn from_docker_config(registry: &str) -> Result<Credentials, Error> {
    let Some(dir) = docker_config_dir() else {
        return Ok(Credentials::Anonymous);
    };
    let path = dir.join("config.json");
    let bytes = match read_bounded(&path) {
        Ok(bytes) => bytes,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Credentials::Anonymous);
        }
        Err(e) => return Err(e),
    };
    lookup(&bytes, registry, &path.display().to_string())
}

/// The credentials for `registry` in a document of the `config.json` /
/// `.dockerconfigjson` format; `origin` names it in errors.
///
/// # Errors
/// The document is not that format, or an entry's `auth` is not base64 of
/// `user:password`.
pub fn lookup(document: &[u8], registry: &str, origin: &str) -> Result<Credentials, Error> {
    let invalid = |reason: String| Error::Invalid {
        origin: origin.to_string(),
        reason,
    };
    let config: DockerConfig = serde_json::from_slice(document)
        .map_err(|e| invalid(format!("not a Docker config file: {e}")))?;
    let wanted = keys_for(registry);
    let found = config
        .auths
        .iter()
        .find(|(key, _)| wanted.contains(&normalise_key(key)));
    let Some((key, entry)) = found else {
        if config.creds_store.is_some() || config.cred_helpers.contains_key(registry) {
            tracing::debug!(registry, "credential helpers are not used; going anonymous");
        }
        return Ok(Credentials::Anonymous);
    };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::Bearer(token.to_string()));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| invalid(format!("auths.{key}.auth is not base64")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| invalid(format!("auths.{key}.auth is not UTF-8")))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| invalid(format!("auths.{key}.auth is not user:password")))?;
        return Ok(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    match (&entry.username, &entry.password) {
        (Some(username), Some(password)) => Ok(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }),
        _ => Ok(Credentials::Anonymous),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The keys an entry for `registry` may have once normalised: Docker Hub
/// is stored under its legacy index URL.
fn keys_for(registry: &str) -> Vec<String> {
    let registry = registry.to_ascii_lowercase();
    if registry == DOCKER_HUB || registry == "index.docker.io" || registry == "registry-1.docker.io"
    {
        vec![
            DOCKER_HUB.into(),
            "index.docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![registry]
    }
}

/// `https://host:port/v1/` -> `host:port`.
fn normalise_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key).to_ascii_lowercase()
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::Invalid {
            origin: path.display().to_string(),
            reason: format!("larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> Credentials {
        Credentials::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn auth_and_username_password_entries_are_read() {
        // "ci:s3cret"
        let doc = br#"{"auths": {
            "127.0.0.1:5000": {"auth": "Y2k6czNjcmV0"},
            "https://reg.example/v2/": {"username": "u", "password": "p"},
            "https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="}
        }}"#;
        assert_eq!(
            lookup(doc, "127.0.0.1:5000", "t").unwrap(),
            basic("ci", "s3cret")
        );
        assert_eq!(lookup(doc, "reg.example", "t").unwrap(), basic("u", "p"));
        assert_eq!(lookup(doc, "docker.io", "t").unwrap(), basic("hub", "hub"));
        assert_eq!(
            lookup(doc, "127.0.0.1:5001", "t").unwrap(),
            Credentials::Anonymous
        );
    }

    #[test]
    fn bad_entries_are_named_and_secrets_are_not_shown() {
        let doc = br#"{"auths": {"r.example": {"auth": "not base64!"}}}"#;
        let err = lookup(doc, "r.example", "secret/ns/pull").unwrap_err();
        assert!(err.to_string().contains("secret/ns/pull"), "{err}");
        assert!(err.to_string().contains("auths.r.example.auth"), "{err}");
        assert!(lookup(b"\"text\"", "r.example", "f").is_err());
        let shown = format!("{:?}", basic("ci", "s3cret"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
