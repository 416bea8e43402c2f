//! A Platform's source, in the two steps a reconcile needs: [`resolve`]
//! the ref to a revision (cheap: a ref listing or one manifest), then,
//! only when that revision is new, [`checkout`] its files.
//!
//! Git (`spec.source.git`) and OCI (`spec.source.oci`) sources give the
//! same [`Snapshot`], so everything after the fetch is shared.

use std::collections::BTreeMap;

use super::platform::{GitSpec, OciSpec, Platform};
use super::reconcile::{Shared, secret};
use crate::oci::credentials::{self, Credentials as OciCredentials};
use crate::oci::registry::Options;
use crate::oci::{Reference, Registry};
use crate::source::git::{self, Credentials, GitRef, Limits};
use crate::source::oci::{self as oci_source, OciRef};
use crate::source::{Origin, Snapshot};

/// Why a source could not be resolved.
#[derive(Debug)]
pub enum Failure {
    /// The spec itself is unusable; only an edit helps.
    Spec(String),
    /// The source could not be reached or read; retried with backoff.
    Fetch(String),
}

/// A ref resolved to a revision, with what the checkout needs.
pub enum Pending {
    Git {
        spec: GitSpec,
        credentials: Credentials,
        resolved: git::Resolved,
    },
    Oci {
        registry: Registry,
        resolved: oci_source::Resolved,
    },
}

impl Pending {
    /// `main@sha1:<hex>`, `v1.2.0@sha256:<hex>`.
    pub fn revision(&self) -> String {
        match self {
            Pending::Git { resolved, .. } => resolved.revision(),
            Pending::Oci { resolved, .. } => resolved.revision(),
        }
    }
}

/// The kind of source, for metrics.
pub fn kind(platform: &Platform) -> &'static str {
    if platform.spec.source.oci.is_some() {
        "oci"
    } else {
        "git"
    }
}

/// Resolves the Platform's ref (network; no content is downloaded).
///
/// # Errors
/// [`Failure::Spec`] for a spec with neither or both sources, or an OCI
/// URL that does not parse; [`Failure::Fetch`] for everything the source
/// says.
pub async fn resolve(shared: &Shared, platform: &Platform) -> Result<Pending, Failure> {
    match (&platform.spec.source.git, &platform.spec.source.oci) {
        (Some(spec), None) => {
            let credentials = git_credentials(shared, platform, spec)
                .await
                .map_err(Failure::Fetch)?;
            let (url, reference, creds) = (spec.url.clone(), git_ref(spec), credentials.clone());
            let resolved = tokio::task::spawn_blocking(move || {
                git::resolve(&url, &reference, &creds, &Limits::default())
            })
            .await
            .map_err(|e| Failure::Fetch(e.to_string()))?
            .map_err(|e| Failure::Fetch(e.to_string()))?;
            Ok(Pending::Git {
                spec: spec.clone(),
                credentials,
                resolved,
            })
        }
        (None, Some(spec)) => {
            let repository = Reference::parse_oci_url(&spec.url)
                .map_err(|e| Failure::Spec(format!("spec.source.oci.url: {e}")))?;
            let credentials = oci_credentials(shared, platform, spec, &repository.registry)
                .await
                .map_err(Failure::Fetch)?;
            let options = Options {
                insecure: spec.insecure,
                timeout: platform.timeout(),
                credentials: Some(credentials),
                ..Options::default()
            };
            let registry =
                Registry::new(&repository, &options).map_err(|e| Failure::Fetch(e.to_string()))?;
            let resolved = oci_source::resolve(&registry, &repository, &oci_ref(spec))
                .await
                .map_err(|e| Failure::Fetch(e.to_string()))?;
            Ok(Pending::Oci { registry, resolved })
        }
        _ => Err(Failure::Spec(
            "exactly one of spec.source.git and spec.source.oci is required".into(),
        )),
    }
}

/// The files of the resolved revision (network and, for Git, the cache
/// under `<state_dir>/git`).
///
/// # Errors
/// The source cannot be read, or its content is refused.
pub async fn checkout(
    shared: &Shared,
    platform: &Platform,
    pending: Pending,
) -> Result<Snapshot, String> {
    let revision = pending.revision();
    match pending {
        Pending::Git {
            spec,
            credentials,
            resolved,
        } => {
            let (url, cache, path) = (
                spec.url.clone(),
                shared.state_dir.join("git"),
                platform.spec.path.clone(),
            );
            let started = std::time::Instant::now();
            let distribution = tokio::task::spawn_blocking(move || {
                git::checkout_distribution(
                    &url,
                    &resolved,
                    &credentials,
                    &cache,
                    &path,
                    &Limits::default(),
                )
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            tracing::debug!(
                files = distribution.files.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "checked out"
            );
            Ok(Snapshot::new(
                Origin::Git {
                    url: spec.url.clone(),
                    path: distribution.root,
                },
                Some(revision),
                &distribution.platform_file,
                distribution.files,
            ))
        }
        Pending::Oci { registry, resolved } => {
            oci_source::fetch(&registry, &resolved, Default::default())
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// The Git ref of the spec; the branch `main` when none is given.
pub fn git_ref(spec: &GitSpec) -> GitRef {
    let r = spec.reference.clone().unwrap_or_default();
    if let Some(c) = r.commit {
        GitRef::Commit(c)
    } else if let Some(s) = r.semver {
        GitRef::Semver(s)
    } else if let Some(t) = r.tag {
        GitRef::Tag(t)
    } else {
        GitRef::Branch(r.branch.unwrap_or_else(|| "main".into()))
    }
}

/// The OCI ref of the spec; the tag `latest` when none is given.
pub fn oci_ref(spec: &OciSpec) -> OciRef {
    let r = spec.reference.clone().unwrap_or_default();
    if let Some(d) = r.digest {
        OciRef::Digest(d)
    } else if let Some(s) = r.semver {
        OciRef::Semver(s)
    } else {
        OciRef::Tag(r.tag.unwrap_or_else(|| "latest".into()))
    }
}

/// Credentials from `spec.source.git.secretRef`: `username` and
/// `password`, `bearerToken`, or `identity` and `known_hosts`.
async fn git_credentials(
    shared: &Shared,
    platform: &Platform,
    spec: &GitSpec,
) -> Result<Credentials, String> {
    let Some(secret_ref) = &spec.secret_ref else {
        return Ok(Credentials::None);
    };
    let mut data = secret(shared, &platform.namespace, &secret_ref.name).await?;
    let shown = format!("Secret/{}/{}", platform.namespace, secret_ref.name);
    if let Some(identity) = data.remove("identity") {
        let known_hosts = data
            .remove("known_hosts")
            .ok_or_else(|| format!("{shown}: identity needs known_hosts"))?;
        return Ok(Credentials::Ssh {
            identity,
            known_hosts,
            username: data.remove("username"),
        });
    }
    if let Some(token) = data.remove("bearerToken") {
        return Ok(Credentials::Bearer(token));
    }
    match (data.remove("username"), data.remove("password")) {
        (Some(username), Some(password)) => Ok(Credentials::Basic { username, password }),
        _ => Err(format!(
            "{shown}: expected username and password, bearerToken, or identity and known_hosts"
        )),
    }
}

/// Credentials from `spec.source.oci.secretRef`: a
/// `kubernetes.io/dockerconfigjson` Secret (its `.dockerconfigjson` key),
/// or `username` and `password` keys. Anonymous without a secretRef; the
/// controller's own Docker config is never read.
async fn oci_credentials(
    shared: &Shared,
    platform: &Platform,
    spec: &OciSpec,
    registry: &str,
) -> Result<OciCredentials, String> {
    let Some(secret_ref) = &spec.secret_ref else {
        return Ok(OciCredentials::Anonymous);
    };
    let data: BTreeMap<String, String> =
        secret(shared, &platform.namespace, &secret_ref.name).await?;
    let shown = format!("Secret/{}/{}", platform.namespace, secret_ref.name);
    oci_credentials_from(&data, registry, &shown)
}

fn oci_credentials_from(
    data: &BTreeMap<String, String>,
    registry: &str,
    shown: &str,
) -> Result<OciCredentials, String> {
    if let Some(config) = data.get(".dockerconfigjson") {
        return match credentials::lookup(config.as_bytes(), registry, shown) {
            Ok(OciCredentials::Anonymous) => Err(format!(
                "{shown}: .dockerconfigjson has no entry for {registry}"
            )),
            Ok(c) => Ok(c),
            Err(e) => Err(e.to_string()),
        };
    }
    match (data.get("username"), data.get("password")) {
        (Some(username), Some(password)) => Ok(OciCredentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }),
        _ => Err(format!(
            "{shown}: expected .dockerconfigjson, or username and password"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::platform::{OciRefSpec, RefSpec};

    fn spec(r: Option<RefSpec>) -> GitSpec {
        GitSpec {
            url: "git://127.0.0.1/p".into(),
            reference: r,
            secret_ref: None,
        }
    }

    #[test]
    fn refs_default_to_main_and_prefer_the_most_precise() {
        assert_eq!(git_ref(&spec(None)), GitRef::Branch("main".into()));
        let both = RefSpec {
            branch: Some("dev".into()),
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert_eq!(git_ref(&spec(Some(both))), GitRef::Tag("v1".into()));
    }

    #[test]
    fn oci_refs_default_to_latest_and_prefer_the_digest() {
        let mut s = OciSpec {
            url: "oci://127.0.0.1:5000/p".into(),
            reference: None,
            secret_ref: None,
            insecure: false,
        };
        assert_eq!(oci_ref(&s), OciRef::Tag("latest".into()));
        s.reference = Some(OciRefSpec {
            tag: Some("v1".into()),
            digest: Some("sha256:x".into()),
            ..Default::default()
        });
        assert_eq!(oci_ref(&s), OciRef::Digest("sha256:x".into()));
    }

    #[test]
    fn oci_secrets_are_docker_configs_or_user_and_password() {
        let mut data = BTreeMap::new();
        data.insert(
            ".dockerconfigjson".to_string(),
            r#"{"auths":{"127.0.0.1:5000":{"username":"u","password":"p"}}}"#.to_string(),
        );
        let basic = OciCredentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(
            oci_credentials_from(&data, "127.0.0.1:5000", "s"),
            Ok(basic.clone())
        );
        let err = oci_credentials_from(&data, "127.0.0.1:5001", "Secret/ns/pull").unwrap_err();
        assert!(err.contains("no entry for 127.0.0.1:5001"), "{err}");
        let mut plain = BTreeMap::new();
        plain.insert("username".to_string(), "u".to_string());
        plain.insert("password".to_string(), "p".to_string());
        assert_eq!(oci_credentials_from(&plain, "any", "s"), Ok(basic));
        assert!(oci_credentials_from(&BTreeMap::new(), "any", "s").is_err());
    }
}
