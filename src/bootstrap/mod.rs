//! `distro bootstrap`: install the controller into a cluster and point it
//! at a Git repository or an OCI artifact, as `flux bootstrap` does. In
//! visible stages:
//!
//! 1. check the request (no cluster): source (from the flags, or from the
//!    platform file's `source:` and `interval:`, see [`platform_file`]),
//!    ref, path, interval, names, credentials;
//! 2. render the `distro` package built into the binary ([`package`]) as
//!    a one-release distribution (no cluster);
//! 3. apply it, then the credentials Secret and the Platform (cluster),
//!    each written only when it differs from the live object;
//! 4. optionally wait for the controller's Deployment and the Platform's
//!    `Ready` ([`wait()`]).
//!
//! The release is recorded as the Platform's own (same owner, same name as
//! the `distro` release of the default bundle), so the controller adopts it
//! when it applies the repository, and from then on upgrades itself.

pub mod package;
pub mod platform_file;
pub mod secret;
mod wait;

use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

pub use secret::GitSecret;
pub use wait::{Waited, wait};

use crate::apply::{self, Action, Context, Options, ReleaseReport};
use crate::controller::platform as platform_crd;
use crate::pipeline::{self, Invalid, Rendered};
use crate::source::git::{self, GitRef};
use crate::status::Owner;

/// What to install and where the controller should read from. Every field
/// is checked by [`Request::check`] before anything touches a cluster.
#[derive(Debug, Clone)]
pub struct Request {
    /// What the Platform follows.
    pub source: Source,
    /// The repository's directory that holds `platform.yaml`.
    pub path: String,
    /// `spec.interval`, as given (`1m`, `1h30m`).
    pub interval: String,
    /// Where the controller, the Secret and the Platform go.
    pub namespace: String,
    /// The Platform's name.
    pub name: String,
    pub secret: Option<GitSecret>,
}

/// Where the Platform reads the distribution from (`spec.source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A Git repository and the ref to follow.
    Git { url: String, reference: GitRef },
    /// An artifact pushed by `distro push`: `oci://host/repository`, and
    /// the tag or the digest to follow.
    Oci {
        url: String,
        tag: Option<String>,
        digest: Option<String>,
    },
}

impl Source {
    /// An OCI source from `oci://host/repository[:tag|@sha256:digest]`
    /// (the tag `latest` when neither is given).
    ///
    /// # Errors
    /// Not such a URL; the message says why.
    pub fn oci(url: &str) -> Result<Source, String> {
        let reference =
            crate::oci::reference::Reference::parse_oci_url(url).map_err(|e| e.to_string())?;
        Ok(Source::Oci {
            url: format!("oci://{}/{}", reference.registry, reference.repository),
            // A digest names the content; a tag next to it is only
            // informative, and the controller follows one ref.
            tag: reference.tag.filter(|_| reference.digest.is_none()),
            digest: reference.digest,
        })
    }

    /// `spec.source`, with `secret` as the Git credentials' Secret.
    fn spec(&self, secret: Option<&str>) -> Value {
        match self {
            Source::Git { url, reference } => {
                let reference = match reference {
                    GitRef::Branch(b) => json!({"branch": b}),
                    GitRef::Tag(t) => json!({"tag": t}),
                    GitRef::Semver(r) => json!({"semver": r}),
                    GitRef::Commit(c) => json!({"commit": c}),
                };
                let mut git = json!({"url": url, "ref": reference});
                if let Some(name) = secret {
                    git["secretRef"] = json!({"name": name});
                }
                json!({"git": git})
            }
            Source::Oci { url, tag, digest } => {
                let reference = match (tag, digest) {
                    (_, Some(d)) => json!({"digest": d}),
                    (Some(t), None) => json!({"tag": t}),
                    (None, None) => json!({}),
                };
                json!({"oci": {"url": url, "ref": reference}})
            }
        }
    }
}

/// Errors of the cluster stages; each names its subject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Apply(#[from] apply::Error),
    #[error("release {namespace}/{name}: {message}")]
    Release {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("{object}: {action} failed: {source}")]
    Api {
        object: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
}

impl Request {
    /// The Secret that holds the credentials.
    pub fn secret_name(&self) -> String {
        format!("{}-git", self.name)
    }

    /// Every problem of the request, each naming its flag; empty when it
    /// is good. Needs no cluster.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match &self.source {
            Source::Git { url, reference } => {
                self.check_git(url, &mut problems);
                if let Err(e) = git::check_ref(reference) {
                    problems.push(("--branch", e.to_string()));
                }
            }
            Source::Oci { .. } => {
                if self.secret.is_some() {
                    problems.push((
                        "--secret-file",
                        "Git credentials need a Git source; an OCI source reads the Secret its spec.source.oci.secretRef names".into(),
                    ));
                }
            }
        }
        if let Err(e) = git::check_path(&self.path) {
            problems.push(("--path", e.to_string()));
        }
        match crate::model::parse_duration(&self.interval) {
            Ok(d) if d < Duration::from_secs(1) => problems.push((
                "--interval",
                format!("{:?} is shorter than 1s", self.interval),
            )),
            Ok(_) => {}
            Err(e) => problems.push(("--interval", e)),
        }
        if let Err(m) = crate::names::check_label(&self.namespace) {
            problems.push((
                "--namespace",
                format!("{:?} is not a valid namespace: it {m}", self.namespace),
            ));
        }
        // The name is also the value of the releases' platform label.
        if let Err(m) = crate::names::check_label(&self.name) {
            problems.push((
                "--name",
                format!("{:?} is not a valid Platform name: it {m}", self.name),
            ));
        }
        problems
    }

    /// The problems of a Git URL, and of credentials that do not fit it.
    fn check_git(&self, url: &str, problems: &mut Vec<(&'static str, String)>) {
        match git::url_info(url) {
            Err(e) => problems.push(("--git", e.to_string())),
            Ok(info) => {
                if matches!(info.scheme, "file" | "path") {
                    problems.push((
                        "--git",
                        format!(
                            "{}: the controller runs in the cluster, where a path on this machine means nothing; use an https://, http://, ssh:// or git:// URL",
                            git::display_url(url)
                        ),
                    ));
                }
                if info.has_password {
                    problems.push((
                        "--git",
                        format!(
                            "{}: the URL holds a password, which would be stored in the Platform for anyone who can read it; put the credentials in --secret-file",
                            git::display_url(url)
                        ),
                    ));
                }
                if let Some(secret) = &self.secret
                    && !secret.fits(info.scheme)
                {
                    let expected = match secret {
                        GitSecret::Ssh { .. } => "an ssh:// URL",
                        _ => "an http:// or https:// URL",
                    };
                    problems.push((
                        "--secret-file",
                        format!("these credentials need {expected}, not {}://", info.scheme),
                    ));
                }
            }
        }
    }

    /// The Platform object, as bootstrap declares it. Fields it does not
    /// set keep their defaults (or what someone else set).
    pub fn platform_object(&self) -> Value {
        let secret = self.secret.as_ref().map(|_| self.secret_name());
        json!({
            "apiVersion": platform_crd::API_VERSION,
            "kind": platform_crd::KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {crate::render::MANAGED_BY_LABEL: crate::render::MANAGED_BY},
            },
            "spec": {
                "source": self.source.spec(secret.as_deref()),
                "path": self.path,
                "interval": self.interval,
            },
        })
    }

    /// The credentials Secret, when there are credentials.
    pub fn secret_object(&self) -> Option<Value> {
        let secret = self.secret.as_ref()?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let data: serde_json::Map<String, Value> = secret
            .data()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(b64.encode(v))))
            .collect();
        Some(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.secret_name(),
                "namespace": self.namespace,
                "labels": {crate::render::MANAGED_BY_LABEL: crate::render::MANAGED_BY},
            },
            "type": "Opaque",
            "data": data,
        }))
    }
}

/// Renders the embedded package for `request`, with `options`' values
/// (`--set`, `--values`) over the package's. `kube_version` is the
/// cluster's, or a stand-in before the cluster is asked.
///
/// # Errors
/// The values do not fit the package (schema, templates).
pub fn render(
    request: &Request,
    kube_version: &str,
    options: &pipeline::Options,
    render_options: &crate::render::Options,
) -> Result<Rendered, Invalid> {
    let snapshot = package::snapshot(&request.namespace, &request.name, kube_version);
    pipeline::render_with(snapshot, options, render_options)
}

/// One object bootstrap wrote next to the release, and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// `Kind/namespace/name`.
    pub object: String,
    pub action: Action,
}

/// What [`install`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    /// The `distro` release: every object and its action.
    pub release: ReleaseReport,
    pub secret: Option<Written>,
    pub platform: Written,
}

impl Installed {
    /// Whether anything was written.
    pub fn wrote(&self) -> bool {
        self.release.changes.wrote()
            || self.platform.action != Action::Unchanged
            || self
                .secret
                .as_ref()
                .is_some_and(|s| s.action != Action::Unchanged)
    }
}

/// Applies the rendered release, then the Secret and the Platform. An
/// unchanged object is not written, so a second run writes nothing.
///
/// # Guarantees
/// The Secret and the Platform are written only after every object of the
/// release was applied: a Platform never points a missing controller at a
/// repository.
///
/// # Errors
/// The cluster refuses an object, or the release could not be applied.
pub async fn install(
    client: &kube::Client,
    request: &Request,
    rendered: &Rendered,
) -> Result<Installed, Error> {
    // The Platform's own release: the controller adopts it. No prune: the
    // Platform's other releases are not part of this run.
    let owner = Owner {
        platform: request.name.clone(),
        namespace: Some(request.namespace.clone()),
    };
    let options = Options {
        wait: false,
        prune: false,
        timeout: Duration::from_secs(120),
        ..Options::default()
    };
    let ctx = Context::new(client.clone(), owner, options);
    let report = apply::run(&ctx, &rendered.releases, &rendered.loaded.graph, None).await?;
    let Some(release) = report.releases.into_iter().next() else {
        return Err(Error::Release {
            namespace: request.namespace.clone(),
            name: package::NAME.into(),
            message: "rendered no release".into(),
        });
    };
    if !release.ready() {
        return Err(Error::Release {
            namespace: release.namespace,
            name: release.name,
            message: release.summary.message,
        });
    }
    let secret = match request.secret_object() {
        Some(value) => Some(Written {
            object: format!("Secret/{}/{}", request.namespace, request.secret_name()),
            action: apply::apply_object(client, &ctx.resolver, value).await?,
        }),
        None => None,
    };
    let platform = Written {
        object: format!(
            "{}/{}/{}",
            platform_crd::KIND,
            request.namespace,
            request.name
        ),
        action: apply::apply_object(client, &ctx.resolver, request.platform_object()).await?,
    };
    Ok(Installed {
        release,
        secret,
        platform,
    })
}

/// The cluster's Kubernetes version (`1.34.4`), for the templates and the
/// package's constraint.
///
/// # Errors
/// The API server does not answer.
pub async fn kube_version(client: &kube::Client) -> Result<Option<String>, Error> {
    let info = client
        .apiserver_version()
        .await
        .map_err(|source| Error::Api {
            object: "the API server".into(),
            action: "GET /version",
            source,
        })?;
    Ok(crate::model::parse_kube_version(&info.git_version).map(|v| v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            source: Source::Git {
                url: "https://git.example.com/platform.git".into(),
                reference: GitRef::Branch("main".into()),
            },
            path: "clusters/prod".into(),
            interval: "5m".into(),
            namespace: "distro-system".into(),
            name: "prod".into(),
            secret: Some(GitSecret::Basic {
                username: "u".into(),
                password: "p".into(),
            }),
        }
    }

    fn flags(r: &Request) -> Vec<&'static str> {
        r.check().into_iter().map(|(flag, _)| flag).collect()
    }

    #[test]
    fn a_good_request_has_no_problems() {
        assert!(request().check().is_empty(), "{:?}", request().check());
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = [
            ("git", "not a url"),
            ("git", "/srv/git/platform"),
            ("git", "file:///srv/git/platform"),
            ("git", "https://u:hunter2@git.example.com/p.git"),
            ("git", "git://git.example.com/p.git"),
            ("branch", "a..b"),
            ("path", "../up"),
            ("path", "/abs"),
            ("interval", "soon"),
            ("interval", "0s"),
            ("namespace", "Distro"),
            ("name", "a_b"),
        ];
        for (field, value) in bad {
            let mut r = request();
            let Source::Git { url, reference } = &mut r.source else {
                unreachable!("the request above is a Git one")
            };
            match field {
                "git" => *url = value.into(),
                "branch" => *reference = GitRef::Branch(value.into()),
                "path" => r.path = value.into(),
                "interval" => r.interval = value.into(),
                "namespace" => r.namespace = value.into(),
                _ => r.name = value.into(),
            }
            let problems = r.check();
            assert!(!problems.is_empty(), "{field}={value:?} passed");
            for (_, message) in &problems {
                assert!(!message.contains("hunter2"), "{message}");
            }
            // git:// with credentials is the Secret's problem, not the URL's.
            let expected = if value.starts_with("git://") {
                "--secret-file"
            } else {
                match field {
                    "git" => "--git",
                    "branch" => "--branch",
                    "path" => "--path",
                    "interval" => "--interval",
                    "namespace" => "--namespace",
                    _ => "--name",
                }
            };
            assert!(
                flags(&r).contains(&expected),
                "{field}={value:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_platform_names_the_secret_only_when_there_is_one() {
        let p = request().platform_object();
        assert_eq!(p["spec"]["source"]["git"]["secretRef"]["name"], "prod-git");
        assert_eq!(p["spec"]["source"]["git"]["ref"]["branch"], "main");
        assert_eq!(p["spec"]["path"], "clusters/prod");
        assert_eq!(p["spec"]["interval"], "5m");
        let mut r = request();
        r.secret = None;
        assert!(
            r.platform_object()["spec"]["source"]["git"]
                .get("secretRef")
                .is_none()
        );
        assert!(r.secret_object().is_none());
        let s = request().secret_object().unwrap();
        assert_eq!(s["data"]["password"], "cA==");
    }

    #[test]
    fn other_refs_and_oci_sources_reach_the_platform() {
        let mut r = request();
        r.secret = None;
        r.source = Source::Git {
            url: "https://git.example.com/p.git".into(),
            reference: GitRef::Tag("v1.2.0".into()),
        };
        assert!(r.check().is_empty(), "{:?}", r.check());
        assert_eq!(
            r.platform_object()["spec"]["source"]["git"]["ref"],
            json!({"tag": "v1.2.0"})
        );
        r.source = Source::Git {
            url: "https://git.example.com/p.git".into(),
            reference: GitRef::Commit("abc".into()),
        };
        assert_eq!(flags(&r), ["--branch"]);

        r.source = Source::oci("oci://registry.example.com/platform:v2").unwrap();
        assert!(r.check().is_empty(), "{:?}", r.check());
        let spec = &r.platform_object()["spec"];
        assert_eq!(
            spec["source"],
            json!({"oci": {"url": "oci://registry.example.com/platform", "ref": {"tag": "v2"}}})
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        r.source = Source::oci(&format!("oci://127.0.0.1:5000/p:v2@{digest}")).unwrap();
        assert_eq!(
            r.platform_object()["spec"]["source"]["oci"]["ref"],
            json!({"digest": digest})
        );
        assert!(Source::oci("https://registry.example.com/p").is_err());
        // Git credentials do not go with an OCI source.
        let mut r = request();
        r.source = Source::oci("oci://registry.example.com/platform").unwrap();
        assert_eq!(flags(&r), ["--secret-file"]);
    }

    #[test]
    fn the_embedded_package_renders_for_the_request() {
        let rendered = render(
            &request(),
            "1.34.0",
            &pipeline::Options::default(),
            &crate::render::Options::default(),
        )
        .unwrap();
        let release = &rendered.releases[0];
        assert_eq!(
            (release.name.as_str(), release.namespace.as_str()),
            ("distro", "distro-system")
        );
        let kinds: Vec<&str> = release
            .objects
            .iter()
            .map(|o| o.key.kind.as_str())
            .collect();
        for kind in [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
        // No VictoriaMetrics operator in this distribution: no scrape object.
        assert!(!kinds.contains(&"VMServiceScrape"), "{kinds:?}");
    }
}
