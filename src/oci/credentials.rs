//! Registry credentials: the Docker client's `config.json` (in
//! `$DOCKER_CONFIG`, else `~/.docker`), and the same format in a Kubernetes
//! `kubernetes.io/dockerconfigjson` Secret.
//!
//! Inline credentials are `auths.<registry>.auth` (base64 of
//! `user:password`) or `auths.<registry>.username` / `.password`, and
//! `identitytoken` as a bearer token. The CLI's own config file may also
//! name credential helpers ([`helper`]), with Docker's precedence: the
//! registry's `credHelpers` entry, then inline `auths`, then `credsStore`.
//! A Secret's document is read inline only (see [`lookup`]).

pub mod helper;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::reference::DOCKER_HUB;
use helper::Helpers;

/// Docker Hub's key in config files, and the server a helper is asked for.
const DOCKER_HUB_INDEX: &str = "https://index.docker.io/v1/";

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
    /// Boxed: a helper's failure is large and rare, and this error travels
    /// inside every registry error.
    #[error("{origin}: {source}")]
    Helper {
        origin: String,
        #[source]
        source: Box<helper::Error>,
    },
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

/// The credentials for `registry` in the Docker client's config file,
/// running the credential helper it names for the registry (found on
/// `PATH`); anonymous when there is no file or nothing for the registry.
///
/// # Errors
/// The file exists but cannot be read or parsed, or its helper fails.
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
    resolve(
        &bytes,
        registry,
        &path.display().to_string(),
        &Helpers::from_env(),
    )
}

/// The credentials for `registry` in a `config.json` document, with
/// Docker's precedence: the registry's `credHelpers` entry, then inline
/// `auths`, then `credsStore`. Only for a document the user wrote: a
/// helper is a program it names.
///
/// # Errors
/// As [`lookup`], or the helper's name is not plain or the helper fails.
pub fn resolve(
    document: &[u8],
    registry: &str,
    origin: &str,
    helpers: &Helpers,
) -> Result<Credentials, Error> {
    let config = parse(document, origin)?;
    let ask = |name: &str| {
        helpers
            .get(name, &helper_server(registry))
            .map_err(|source| Error::Helper {
                origin: origin.to_string(),
                source: Box::new(source),
            })
    };
    let wanted = keys_for(registry);
    let per_registry = config
        .cred_helpers
        .iter()
        .find(|(key, name)| !name.is_empty() && wanted.contains(&normalise_key(key)));
    if let Some((_, name)) = per_registry {
        return ask(name);
    }
    if let Some(credentials) = inline(&config, registry, origin)? {
        return Ok(credentials);
    }
    match config.creds_store.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => ask(name),
        None => Ok(Credentials::Anonymous),
    }
}

/// The inline credentials for `registry` in a document of the
/// `config.json` / `.dockerconfigjson` format; `origin` names it in errors.
///
/// Credential helpers are never run from here: this reads Secrets from the
/// cluster, and whoever can write one there would otherwise choose a
/// program for the controller to run. A registry that only has a helper is
/// anonymous.
///
/// # Errors
/// The document is not that format, or an entry's `auth` is not base64 of
/// `user:password`.
pub fn lookup(document: &[u8], registry: &str, origin: &str) -> Result<Credentials, Error> {
    let config = parse(document, origin)?;
    let found = inline(&config, registry, origin)?;
    if found.is_none() && (config.creds_store.is_some() || !config.cred_helpers.is_empty()) {
        tracing::debug!(
            registry,
            origin,
            "credential helpers are not run for this document"
        );
    }
    Ok(found.unwrap_or_default())
}

fn parse(document: &[u8], origin: &str) -> Result<DockerConfig, Error> {
    serde_json::from_slice(document).map_err(|e| Error::Invalid {
        origin: origin.to_string(),
        reason: format!("not a Docker config file: {e}"),
    })
}

/// The `auths` entry for `registry`, when it holds credentials (`docker
/// login` with a store leaves an empty one behind).
fn inline(
    config: &DockerConfig,
    registry: &str,
    origin: &str,
) -> Result<Option<Credentials>, Error> {
    let invalid = |reason: String| Error::Invalid {
        origin: origin.to_string(),
        reason,
    };
    let wanted = keys_for(registry);
    let found = config
        .auths
        .iter()
        .find(|(key, _)| wanted.contains(&normalise_key(key)));
    let Some((key, entry)) = found else {
        return Ok(None);
    };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::Bearer(token.to_string())));
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
        return Ok(Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    Ok(match (&entry.username, &entry.password) {
        (Some(username), Some(password)) => Some(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }),
        _ => None,
    })
}

/// What a helper is asked for: the registry host, or for Docker Hub the
/// index URL that `docker login` stores it under.
fn helper_server(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_INDEX.to_string()
    } else {
        registry.to_string()
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
    if is_docker_hub(registry) {
        vec![
            DOCKER_HUB.into(),
            "index.docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![registry.to_ascii_lowercase()]
    }
}

fn is_docker_hub(registry: &str) -> bool {
    [DOCKER_HUB, "index.docker.io", "registry-1.docker.io"]
        .iter()
        .any(|hub| registry.eq_ignore_ascii_case(hub))
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

    /// A search path holding `docker-credential-one` and `-two`, each
    /// answering with its own name as the user.
    fn two_helpers() -> (tempfile::TempDir, Helpers) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        for name in ["one", "two"] {
            let path = dir.path().join(format!("docker-credential-{name}"));
            let script = format!(
                "#!/bin/sh\nread server\nprintf '{{\"Username\":\"{name}\",\"Secret\":\"%s\"}}' \"$server\"\n"
            );
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let helpers = Helpers {
            search_path: dir.path().as_os_str().to_owned(),
            timeout: helper::DEFAULT_TIMEOUT,
        };
        (dir, helpers)
    }

    #[test]
    fn per_registry_helper_then_inline_then_store() {
        let (_dir, helpers) = two_helpers();
        // "in:line"
        let doc = br#"{
            "auths": {"both.example": {"auth": "aW46bGluZQ=="},
                      "inline.example": {"auth": "aW46bGluZQ=="},
                      "empty.example": {}},
            "credHelpers": {"both.example": "one", "https://helper.example": "one",
                            "index.docker.io": "one", "blank.example": ""},
            "credsStore": "two"
        }"#;
        let resolve = |registry| resolve(doc, registry, "t", &helpers).unwrap();
        assert_eq!(resolve("both.example"), basic("one", "both.example"));
        assert_eq!(resolve("helper.example"), basic("one", "helper.example"));
        assert_eq!(resolve("inline.example"), basic("in", "line"));
        // An entry without credentials, or a blank helper, is no answer.
        assert_eq!(resolve("empty.example"), basic("two", "empty.example"));
        assert_eq!(resolve("blank.example"), basic("two", "blank.example"));
        assert_eq!(resolve("other.example"), basic("two", "other.example"));
        // Docker Hub is asked for under its index URL.
        assert_eq!(resolve("docker.io"), basic("one", DOCKER_HUB_INDEX));
        // Without a store, a registry with nothing is anonymous.
        let doc = br#"{"credHelpers": {"x.example": "one"}}"#;
        assert_eq!(
            super::resolve(doc, "y.example", "t", &helpers).unwrap(),
            Credentials::Anonymous
        );
    }

    #[test]
    fn a_cluster_document_never_runs_helpers() {
        let (_dir, helpers) = two_helpers();
        let doc = br#"{"auths": {"inline.example": {"auth": "aW46bGluZQ=="}},
                       "credHelpers": {"h.example": "one"}, "credsStore": "two"}"#;
        assert_eq!(
            lookup(doc, "h.example", "t").unwrap(),
            Credentials::Anonymous
        );
        assert_eq!(
            lookup(doc, "s.example", "t").unwrap(),
            Credentials::Anonymous
        );
        assert_eq!(
            lookup(doc, "inline.example", "t").unwrap(),
            basic("in", "line")
        );
        // The same document from the user's own file does run them.
        assert_eq!(
            resolve(doc, "h.example", "t", &helpers).unwrap(),
            basic("one", "h.example")
        );
    }

    #[test]
    fn a_bad_helper_name_is_named_with_the_file() {
        let (_dir, helpers) = two_helpers();
        let doc = br#"{"credsStore": "../one"}"#;
        let err = resolve(doc, "r.example", "/home/u/.docker/config.json", &helpers).unwrap_err();
        assert!(
            matches!(&err, Error::Helper { source, .. } if matches!(**source, helper::Error::Name(_))),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("/home/u/.docker/config.json"),
            "{err}"
        );
    }
}
