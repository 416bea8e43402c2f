//! `distro controller` as a process started by the test, against the real
//! local control plane (see `cluster.rs`), following repositories served by
//! a real `git daemon` on 127.0.0.1 (see `git_server.rs`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{Cluster, cluster};
use crate::git_server::{GitDaemon, Repo};
use crate::support::{fixture, outcome};

/// The controller process; SIGTERM on drop, then waited for.
pub struct Controller {
    pub child: Child,
    log: std::path::PathBuf,
    _state: tempfile::TempDir,
}

impl Controller {
    pub fn start(c: &Cluster, namespace: &str, webhook_port: Option<u16>) -> Controller {
        Controller::start_with(c, namespace, webhook_port, &[])
    }

    /// Starts the controller with `extra` flags after the usual ones.
    pub fn start_with(
        c: &Cluster,
        namespace: &str,
        webhook_port: Option<u16>,
        extra: &[&str],
    ) -> Controller {
        Controller::start_as(&c.kubeconfig, namespace, webhook_port, extra)
    }

    /// Starts the controller with the identity of `kubeconfig` (the test
    /// cluster's administrator in [`Controller::start_with`]).
    pub fn start_as(
        kubeconfig: &std::path::Path,
        namespace: &str,
        webhook_port: Option<u16>,
        extra: &[&str],
    ) -> Controller {
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("controller.log");
        let mut args = vec![
            "controller".to_string(),
            "--namespace".into(),
            namespace.into(),
            "--state-dir".into(),
            state.path().join("cache").display().to_string(),
            "--shutdown-timeout".into(),
            "10s".into(),
            // Tests run several controllers at once: no fixed ports.
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
            "--health-addr".into(),
            "127.0.0.1:0".into(),
        ];
        if let Some(port) = webhook_port {
            args.push("--webhook-addr".into());
            args.push(format!("127.0.0.1:{port}"));
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_distro"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the controller starts");
        Controller {
            child,
            log,
            _state: state,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 250 ms until it returns `Some`, or fails after `timeout`
/// with `what` and the controller's log.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    ctl: &Controller,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\ncontroller log:\n{}",
            ctl.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A ServiceAccount `tenant` in `namespace` that may do anything in
/// `allowed` and nothing elsewhere, for Platforms applying as it.
pub fn tenant_yaml(namespace: &str, allowed: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: tenant, namespace: {namespace}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: tenant, namespace: {allowed}}}
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: tenant, namespace: {allowed}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}}
subjects:
  - {{kind: ServiceAccount, name: tenant, namespace: {namespace}}}
"#
    )
}

pub fn platform(c: &Cluster, ns: &str, name: &str) -> Value {
    c.get_json(&["platform", "-n", ns, name])
        .unwrap_or(Value::Null)
}

pub fn ready(p: &Value) -> Option<&Value> {
    p["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// Waits until the Platform's Ready condition has `status` and `reason`,
/// for `revision` when given (`lastAttemptedRevision`).
pub fn wait_platform(
    c: &Cluster,
    ctl: &Controller,
    ns: &str,
    name: &str,
    reason: &str,
    revision: Option<&str>,
) -> Value {
    wait_for(
        &format!("Platform {ns}/{name} {reason} at {revision:?}"),
        Duration::from_secs(120),
        ctl,
        || {
            let p = platform(c, ns, name);
            let r = ready(&p)?;
            let at = p["status"]["lastAttemptedRevision"].as_str().unwrap_or("");
            (r["reason"] == reason && revision.is_none_or(|rev| at.ends_with(rev))).then_some(p)
        },
    )
}

/// The `basic` fixture as a distribution named for this test, with its
/// release namespaces prefixed so that tests sharing the cluster never
/// meet.
pub fn load_basic(repo: &Repo, prefix: &str) {
    repo.copy_tree(&fixture("basic"), ".");
    let bundle = std::fs::read_to_string(fixture("basic").join("bundles/main.yaml")).unwrap();
    let bundle = bundle
        .replace(
            "namespace: base-system",
            &format!("namespace: {prefix}-base"),
        )
        .replace("namespace: apps", &format!("namespace: {prefix}-apps"))
        .replace("namespace: addons", &format!("namespace: {prefix}-addons"));
    repo.write("bundles/main.yaml", bundle);
    let platform = std::fs::read_to_string(fixture("basic").join("platform.yaml")).unwrap();
    repo.write("platform.yaml", format!("enable: [addon]\n{platform}"));
}

/// Asks for a reconcile as `distro reconcile` does, through kubectl (so
/// that the request is not distro's own write); returns the value to find
/// in `status.lastHandledReconcileAt`.
pub fn request_reconcile(c: &Cluster, ns: &str, name: &str) -> String {
    let at = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    c.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "--overwrite",
        "platform",
        name,
        &format!("reconcile.distro.dev/requestedAt={at}"),
    ]);
    at
}

pub fn apply_yaml(c: &Cluster, yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("o.yaml");
    std::fs::write(&file, yaml).unwrap();
    c.kubectl_ok(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
}

pub(crate) fn resource_versions(c: &Cluster, ns: &str) -> Vec<(String, String)> {
    let list = c
        .get_json(&[
            "all,configmaps",
            "-n",
            ns,
            "-l",
            "app.kubernetes.io/managed-by=distro",
        ])
        .unwrap_or(Value::Null);
    let mut out: Vec<(String, String)> = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|o| {
                    (
                        format!(
                            "{}/{}",
                            o["kind"].as_str().unwrap_or(""),
                            o["metadata"]["name"].as_str().unwrap_or("")
                        ),
                        o["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn github_signature(token: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs `body` to `path` on 127.0.0.1:`port`; returns the status code.
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The whole life of a Platform: cold start from a Git repository, a change
/// to one release, a commit that does not validate and the one that
/// recovers, a push notification long before the interval, a wrongly
/// signed one, suspend and resume, `distro reconcile`, and a release that
/// leaves the bundle.
#[test]
fn controller_follows_a_git_repository() {
    let c = cluster();
    let ns = "ctl-life";
    let prefix = "ctl";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    load_basic(&repo, prefix);
    let first = repo.commit("first");
    repo.push();
    let daemon = GitDaemon::start(repos.path());

    let port = free_port();
    let mut ctl = Controller::start(c, ns, Some(port));
    let token = "s3cret-token";
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: {ns}}}
stringData: {{token: {token}}}
"#
        ),
    );
    // The controller installs the Platform CRD at start.
    wait_for("the Platform CRD", Duration::from_secs(60), &ctl, || {
        let crd = c.get_json(&["crd", "platforms.distro.dev"])?;
        crd["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
            .then_some(())
    });
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: life, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}", ref: {{branch: main}}}}
  interval: 10m
  timeout: 60s
  webhook: {{type: github, secretRef: {{name: hook}}}}
"#,
            url = daemon.url("platform.git")
        ),
    );

    // Cold start: every release Ready, the Platform Ready at the commit.
    let p = wait_platform(c, &ctl, ns, "life", "ReconciliationSucceeded", Some(&first));
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}"),
        "{p}"
    );
    assert_eq!(
        p["status"]["releases"]["ready"],
        p["status"]["releases"]["total"]
    );
    let app = c
        .get_json(&["release", "-n", &format!("{prefix}-apps"), "app"])
        .unwrap();
    assert_eq!(
        app["status"]["sourceRevision"],
        format!("main@sha1:{first}"),
        "{app}"
    );
    assert_eq!(
        app["metadata"]["labels"]["distro.dev/platform-namespace"],
        ns
    );
    let hook = p["status"]["webhookPath"].as_str().unwrap().to_string();
    assert!(hook.starts_with("/hook/") && hook.len() == 6 + 64, "{hook}");

    // A commit that changes one release's values changes only that release:
    // the other releases' objects keep their resourceVersion.
    let base_before = resource_versions(c, &format!("{prefix}-addons"));
    assert!(!base_before.is_empty());
    let platform_yaml = std::fs::read_to_string(repo.work().join("platform.yaml")).unwrap();
    repo.write(
        "platform.yaml",
        platform_yaml.replace("replicas: 3", "replicas: 2"),
    );
    let second = repo.commit("fewer replicas");
    repo.push();
    // Signed push notification: applied long before the 10m interval.
    let body = br#"{"ref":"refs/heads/main"}"#;
    let sig = github_signature(token, body);
    let wrong = github_signature("wrong", body);
    assert_eq!(
        post(
            port,
            &hook,
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &wrong)],
            body
        ),
        401
    );
    // Nothing happened for the wrongly signed call.
    std::thread::sleep(Duration::from_secs(2));
    let p = platform(c, ns, "life");
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );
    let pushed = Instant::now();
    assert_eq!(
        post(
            port,
            &hook,
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            body
        ),
        202
    );
    wait_platform(
        c,
        &ctl,
        ns,
        "life",
        "ReconciliationSucceeded",
        Some(&second),
    );
    eprintln!("push to applied: {:?}", pushed.elapsed());
    // Both calls are counted where Prometheus scrapes them.
    let metrics = scrape(&ctl);
    for (result, n) in [("unauthorized", 1), ("accepted", 1)] {
        let series =
            format!("distro_webhook_requests_total{{type=\"github\",result=\"{result}\"}} {n}");
        assert!(metrics.contains(&series), "{series} in:\n{metrics}");
    }
    let deployment = c
        .get_json(&[
            "deployment",
            "-n",
            &format!("{prefix}-apps"),
            "-l",
            "distro.dev/release=app",
        ])
        .unwrap();
    assert_eq!(
        deployment["items"][0]["spec"]["replicas"], 2,
        "{deployment}"
    );
    assert_eq!(
        resource_versions(c, &format!("{prefix}-addons")),
        base_before
    );
    // The changed release names the commit that changed it; the others
    // still name the one that last changed them (the new commit cost them
    // no status write).
    let app = c
        .get_json(&["release", "-n", &format!("{prefix}-apps"), "app"])
        .unwrap();
    assert_eq!(
        app["status"]["sourceRevision"],
        format!("main@sha1:{second}"),
        "{app}"
    );
    let untouched = c
        .get_json(&["releases", "-n", &format!("{prefix}-addons")])
        .unwrap();
    let untouched = untouched["items"].as_array().unwrap();
    assert!(!untouched.is_empty());
    for r in untouched {
        assert_eq!(
            r["status"]["sourceRevision"],
            format!("main@sha1:{first}"),
            "{r}"
        );
    }
    // Events say what happened, on the Platform and on the Release. They
    // are published after the Platform's status is written: wait for them.
    let events = |ns: &str, kind: &str| {
        c.get_json(&[
            "events",
            "-n",
            ns,
            "--field-selector",
            &format!("involvedObject.kind={kind}"),
        ])
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
    };
    let apps = format!("{prefix}-apps");
    wait_for(
        "an UpgradeSucceeded Event on the Release",
        Duration::from_secs(30),
        &ctl,
        || {
            events(&apps, "Release")
                .iter()
                .any(|r| r == "UpgradeSucceeded")
                .then_some(())
        },
    );
    wait_for(
        "a NewRevision Event on the Platform",
        Duration::from_secs(30),
        &ctl,
        || {
            events(ns, "Platform")
                .iter()
                .any(|r| r == "NewRevision")
                .then_some(())
        },
    );

    // A commit that does not validate changes nothing and names the file.
    repo.write("bundles/main.yaml", "releases: [\n");
    let bad = repo.commit("broken bundle");
    repo.push();
    assert_eq!(
        post(
            port,
            &hook,
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            body
        ),
        202
    );
    let p = wait_platform(c, &ctl, ns, "life", "ValidationFailed", Some(&bad));
    let message = ready(&p).unwrap()["message"].as_str().unwrap().to_string();
    assert!(message.contains("bundles/main.yaml"), "{message}");
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("main@sha1:{second}")
    );
    assert_eq!(
        resource_versions(c, &format!("{prefix}-addons")),
        base_before
    );

    // The next good commit recovers; the optional addon leaves the bundle
    // and is pruned.
    load_basic(&repo, prefix);
    let bundle = std::fs::read_to_string(repo.work().join("bundles/main.yaml")).unwrap();
    let without_addon = bundle
        .split("  - name: addon")
        .next()
        .unwrap()
        .replace("dependsOn: [base, addon]", "dependsOn: [base]");
    repo.write("bundles/main.yaml", without_addon);
    let no_addon = platform_yaml.replace("enable: [addon]\n", "");
    repo.write(
        "platform.yaml",
        no_addon.replace("replicas: 3", "replicas: 2"),
    );
    let good = repo.commit("fixed, without the addon");
    repo.push();

    // `distro reconcile platform` asks, waits and reports.
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = outcome(&c.distro(
        dir.path(),
        &["reconcile", "platform", "life", "-n", ns, "--timeout", "2m"],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{}", ctl.log());
    assert!(stdout.contains(&good), "{stdout}");
    let p = platform(c, ns, "life");
    assert!(p["status"]["lastHandledReconcileAt"].is_string(), "{p}");
    assert!(
        c.get_json(&["release", "-n", &format!("{prefix}-addons"), "addon"])
            .is_none(),
        "the removed release is still recorded"
    );

    // Suspend: a new commit is not applied; resume applies it.
    let (code, _, stderr) =
        outcome(&c.distro(dir.path(), &["suspend", "platform", "life", "-n", ns]));
    assert_eq!(code, 0, "{stderr}");
    wait_platform(c, &ctl, ns, "life", "Suspended", None);
    repo.write(
        "platform.yaml",
        no_addon.replace("replicas: 3", "replicas: 1"),
    );
    let third = repo.commit("one replica");
    repo.push();
    assert_eq!(
        post(
            port,
            &hook,
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            body
        ),
        202
    );
    std::thread::sleep(Duration::from_secs(3));
    let p = platform(c, ns, "life");
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("main@sha1:{good}"),
        "{p}"
    );
    let (code, _, stderr) =
        outcome(&c.distro(dir.path(), &["resume", "platform", "life", "-n", ns]));
    assert_eq!(code, 0, "{stderr}");
    wait_platform(c, &ctl, ns, "life", "ReconciliationSucceeded", Some(&third));

    // `distro status` shows the Platform above its releases.
    let (code, stdout, stderr) = outcome(&c.distro(dir.path(), &["status"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("{ns}/life")) && stdout.contains(&third[..12]),
        "{stdout}"
    );

    // A Release record deleted by hand is written again by the next
    // reconcile: the records a run starts from follow the cluster.
    let apps = format!("{prefix}-apps");
    c.kubectl_ok(&["-n", &apps, "delete", "release", "app", "--wait=true"]);
    let requested = request_reconcile(c, ns, "life");
    wait_for(
        "the deleted Release written again",
        Duration::from_secs(60),
        &ctl,
        || {
            let p = platform(c, ns, "life");
            let app = c.get_json(&["release", "-n", &apps, "app"])?;
            (p["status"]["lastHandledReconcileAt"] == requested.as_str()
                && ready(&p)?["status"] == "True"
                && ready(&app)?["status"] == "True")
                .then_some(())
        },
    );

    // SIGTERM: exits 0 within the bound.
    let status = ctl.stop().expect("the controller exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", ctl.log());
    assert!(!ctl.log().contains("token"), "a token was logged");
}

/// A URL nobody serves gives `FetchFailed`, retried with backoff.
#[test]
fn controller_reports_an_unreachable_source() {
    let c = cluster();
    let ns = "ctl-unreachable";
    let mut ctl = Controller::start(c, ns, None);
    wait_for("the Platform CRD", Duration::from_secs(60), &ctl, || {
        let crd = c.get_json(&["crd", "platforms.distro.dev"])?;
        crd["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
            .then_some(())
    });
    let port = free_port();
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: nowhere, namespace: {ns}}}
spec:
  source:
    git: {{url: "git://127.0.0.1:{port}/none.git"}}
"#
        ),
    );
    let p = wait_platform(c, &ctl, ns, "nowhere", "FetchFailed", None);
    let message = ready(&p).unwrap()["message"].as_str().unwrap();
    assert!(message.contains("127.0.0.1"), "{message}");
    let status = ctl.stop().expect("exits");
    assert!(status.success());
}

/// Cold start of the project's default distribution through the
/// controller, on a cluster of its own: every Release Ready and the Platform
/// Ready at the commit's revision.
#[test]
fn controller_cold_installs_the_default_distribution() {
    let own = Cluster::dedicated();
    let c = &own.cluster;
    let ns = "distro-system";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    let root = crate::support::project_root();
    repo.copy_tree(&root.join("packages"), "packages")
        .copy_tree(&root.join("bundles"), "bundles")
        .write(
            "platform.yaml",
            std::fs::read(root.join("platform.yaml")).unwrap(),
        )
        .write(
            "distro.lock",
            std::fs::read(root.join("distro.lock")).unwrap(),
        );
    let commit = repo.commit("the default distribution");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let ctl = Controller::start(c, ns, None);
    wait_crd(c, &ctl);
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: cozy, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}"}}
  timeout: 3m
"#,
            url = daemon.url("platform.git")
        ),
    );
    let started = Instant::now();
    let p = wait_for(
        "the default distribution Ready through the controller",
        Duration::from_secs(300),
        &ctl,
        || {
            let p = platform(c, ns, "cozy");
            (ready(&p)?["reason"] == "ReconciliationSucceeded").then_some(p)
        },
    );
    eprintln!(
        "cold install through the controller: {:?}",
        started.elapsed()
    );
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("main@sha1:{commit}")
    );
    let total = p["status"]["releases"]["total"].as_u64().unwrap();
    assert!(total >= 9, "{p}");
    assert_eq!(p["status"]["releases"]["ready"].as_u64(), Some(total));
    let releases = c.get_json(&["releases", "-A"]).unwrap();
    let items = releases["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, total);
    for r in items {
        let ready = r["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True", "{r}");
        assert_eq!(r["status"]["sourceRevision"], format!("main@sha1:{commit}"));
    }
}

/// Tag and semver refs through a Platform, over HTTP with Basic auth; a
/// Secret with a wrong password gives a clear FetchFailed.
#[test]
fn controller_follows_semver_tags_with_credentials() {
    let c = cluster();
    let ns = "ctl-semver";
    let prefix = "ctls";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    load_basic(&repo, prefix);
    let v1 = repo.commit("v1.0.0");
    repo.tag("v1.0.0");
    repo.push();
    let http = crate::git_server::GitHttp::start(repos.path(), "deploy", "right-password");
    let ctl = Controller::start(c, ns, None);
    wait_crd(c, &ctl);
    let platform_yaml = |secret: &str, reference: &str| {
        format!(
            r#"apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: tagged, namespace: {ns}}}
spec:
  source:
    git:
      url: "{url}"
      ref: {reference}
      secretRef: {{name: {secret}}}
  timeout: 60s
"#,
            url = http.url("platform.git")
        )
    };
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: wrong, namespace: {ns}}}
stringData: {{username: deploy, password: not-the-password}}
---
apiVersion: v1
kind: Secret
metadata: {{name: right, namespace: {ns}}}
stringData: {{username: deploy, password: right-password}}
"#
        ),
    );

    // Wrong credentials: FetchFailed that says so, without the password.
    apply_yaml(c, &platform_yaml("wrong", "{semver: \"^1.0\"}"));
    let p = wait_platform(c, &ctl, ns, "tagged", "FetchFailed", None);
    let message = ready(&p).unwrap()["message"].as_str().unwrap().to_string();
    assert!(message.contains("authentication failed"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");

    // The right Secret: the highest tag matching ^1.0 is applied.
    apply_yaml(c, &platform_yaml("right", "{semver: \"^1.0\"}"));
    let p = wait_platform(c, &ctl, ns, "tagged", "ReconciliationSucceeded", Some(&v1));
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("v1.0.0@sha1:{v1}")
    );

    // v1.1.0 moves the range; v2.0.0 is outside it.
    let platform_file = std::fs::read_to_string(repo.work().join("platform.yaml")).unwrap();
    repo.write(
        "platform.yaml",
        platform_file.replace("replicas: 3", "replicas: 2"),
    );
    let v11 = repo.commit("v1.1.0");
    repo.tag("v1.1.0");
    repo.write(
        "platform.yaml",
        platform_file.replace("replicas: 3", "replicas: 1"),
    );
    repo.commit("v2.0.0");
    repo.tag("v2.0.0");
    repo.push();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = outcome(&c.distro(
        dir.path(),
        &[
            "reconcile",
            "platform",
            "tagged",
            "-n",
            ns,
            "--timeout",
            "2m",
        ],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{}", ctl.log());
    let p = platform(c, ns, "tagged");
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("v1.1.0@sha1:{v11}"),
        "{p}"
    );

    // A plain tag ref pins exactly that tag.
    apply_yaml(c, &platform_yaml("right", "{tag: v1.0.0}"));
    let p = wait_platform(c, &ctl, ns, "tagged", "ReconciliationSucceeded", Some(&v1));
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("v1.0.0@sha1:{v1}")
    );

    // A second Platform rendering the same releases is refused with a
    // clear condition; the first keeps them (no tug of war).
    let other_ns = "ctl-semver-other";
    let other = platform_yaml("right", "{tag: v1.0.0}")
        .replace(
            &format!("namespace: {ns}"),
            &format!("namespace: {other_ns}"),
        )
        .replace("name: tagged", "name: thief");
    apply_yaml(
        c,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {other_ns}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: right, namespace: {other_ns}}}\nstringData: {{username: deploy, password: right-password}}\n---\n{other}"
        ),
    );
    let ctl_other = Controller::start(c, other_ns, None);
    let thief = wait_platform(c, &ctl_other, other_ns, "thief", "ReleasesNotReady", None);
    let message = ready(&thief).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("OwnershipConflict") && message.contains(&format!("Platform {ns}/tagged")),
        "{message}"
    );
    let app = c
        .get_json(&["release", "-n", &format!("{prefix}-apps"), "app"])
        .unwrap();
    assert_eq!(app["metadata"]["labels"]["distro.dev/platform"], "tagged");
    assert_eq!(
        app["metadata"]["labels"]["distro.dev/platform-namespace"],
        ns
    );
    let p = platform(c, ns, "tagged");
    assert_eq!(ready(&p).unwrap()["status"], "True", "{p}");

    // `kubectl get platforms` shows REVISION, READY and STATUS.
    let table = c.kubectl_ok(&["get", "platforms", "-n", ns]);
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "REVISION", "READY", "STATUS"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains(&format!("v1.0.0@sha1:{v1}")), "{table}");
}

/// The Platform CRD's schema refuses unknown fields and fills defaults.
#[test]
fn platform_schema_refuses_unknown_fields_and_fills_defaults() {
    let c = cluster();
    let ns = "ctl-schema";
    let ctl = Controller::start(c, ns, None);
    wait_crd(c, &ctl);
    apply_yaml(
        c,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    let body = |extra: &str| {
        format!(
            "apiVersion: distro.dev/v1alpha1\nkind: Platform\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  source:\n    git: {{url: \"git://127.0.0.1:1/x.git\"}}\n  suspend: true\n{extra}"
        )
    };
    std::fs::write(&file, body("  intervall: 5m\n")).unwrap();
    let out = c.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success(), "an unknown field was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("intervall"), "{err}");
    std::fs::write(&file, body("")).unwrap();
    c.kubectl_ok(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
    let p = platform(c, ns, "p");
    assert_eq!(p["spec"]["path"], ".");
    assert_eq!(p["spec"]["interval"], "1m");
    assert_eq!(p["spec"]["timeout"], "5m");
    assert_eq!(p["spec"]["prune"], true);
    wait_platform(c, &ctl, ns, "p", "Suspended", None);
}

pub fn wait_crd(c: &Cluster, ctl: &Controller) {
    wait_for("the Platform CRD", Duration::from_secs(60), ctl, || {
        let crd = c.get_json(&["crd", "platforms.distro.dev"])?;
        crd["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
            .then_some(())
    });
}

/// A release that never becomes ready is retried per `spec.retry` (its
/// dependents wait), then the Platform stalls until a requested reconcile.
#[test]
fn controller_retries_failed_releases_then_stalls() {
    let c = cluster();
    let ns = "ctl-retry";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: stuck}\n  template:\n    metadata:\n      labels: {app: stuck}\n    spec:\n      nodeSelector:\n        example.dev/never: \"true\"\n      containers:\n        - name: main\n          image: registry.example/stuck:1.0\n";
    repo.write("platform.yaml", "name: retry\nbundle: main\n")
        .write(
            "bundles/main.yaml",
            "releases:\n  - {name: stuck, package: stuck, version: 1.0.0, namespace: ctl-retry-stuck}\n  - {name: after, package: after, version: 1.0.0, namespace: ctl-retry-after, dependsOn: [stuck]}\n",
        )
        .write("packages/stuck/1.0.0/package.yaml", "name: stuck\nversion: 1.0.0\n")
        .write("packages/stuck/1.0.0/templates/deploy.yaml", deployment)
        .write("packages/after/1.0.0/package.yaml", "name: after\nversion: 1.0.0\n")
        .write(
            "packages/after/1.0.0/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\ndata: {a: b}\n",
        );
    repo.commit("a release that never becomes ready");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let ctl = Controller::start(c, ns, None);
    wait_crd(c, &ctl);
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: retry, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}"}}
  timeout: 2s
  retry: {{limit: 2, backoff: 1s, maxBackoff: 2s}}
"#,
            url = daemon.url("platform.git")
        ),
    );
    let p = wait_platform(c, &ctl, ns, "retry", "RetriesExhausted", None);
    assert_eq!(p["status"]["failures"], 3, "{p}");
    let conditions = p["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True"),
        "{p}"
    );
    let message = ready(&p).unwrap()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("stuck") && message.contains("HealthCheckFailed"),
        "{message}"
    );
    // The dependent waited for its dependency every time.
    assert!(
        c.get_json(&["configmap", "after", "-n", "ctl-retry-after"])
            .is_none(),
        "a dependent of a failing release was applied"
    );
    // Stalled: no more attempts at this revision.
    std::thread::sleep(Duration::from_secs(4));
    let again = platform(c, ns, "retry");
    assert_eq!(again["status"]["failures"], 3, "{again}");
}

/// `spec.serviceAccountName`: the Platform's objects are applied as that
/// ServiceAccount, so an object outside what it may touch fails as
/// ApplyFailed naming the object, while the rest is applied.
#[test]
fn controller_applies_as_the_platform_service_account() {
    let c = cluster();
    let ns = "ctl-tenant";
    let allowed = "ctl-tenant-a";
    let other = "ctl-tenant-b";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tenant}\ndata: {a: b}\n";
    repo.write("platform.yaml", "name: tenant\nbundle: main\n")
        .write(
            "bundles/main.yaml",
            format!(
                "releases:\n  - {{name: inside, package: cm, version: 1.0.0, namespace: {allowed}}}\n  - {{name: outside, package: cm, version: 1.0.0, namespace: {other}}}\n"
            ),
        )
        .write("packages/cm/1.0.0/package.yaml", "name: cm\nversion: 1.0.0\n")
        .write("packages/cm/1.0.0/templates/cm.yaml", cm);
    repo.commit("a tenant's platform");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let ctl = Controller::start(c, ns, None);
    wait_crd(c, &ctl);
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: {allowed}}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: {other}}}
---
{tenant}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: tenant, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}"}}
  serviceAccountName: tenant
  timeout: 20s
  retry: {{limit: 0}}
"#,
            url = daemon.url("platform.git"),
            tenant = tenant_yaml(ns, allowed),
        ),
    );
    let p = wait_platform(c, &ctl, ns, "tenant", "RetriesExhausted", None);
    let message = ready(&p).unwrap()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("outside: ApplyFailed")
            && message.contains(&format!("ConfigMap/{other}/tenant"))
            && message.contains("forbidden"),
        "{message}"
    );
    assert!(
        c.get_json(&["configmap", "tenant", "-n", allowed])
            .is_some()
    );
    assert!(c.get_json(&["configmap", "tenant", "-n", other]).is_none());
    let inside = c.get_json(&["release", "inside", "-n", allowed]).unwrap();
    let ready_inside = inside["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready_inside["status"], "True", "{inside}");
}

/// Two replicas: one leads, the other stands by; when the leader is killed
/// with SIGKILL the standby takes over within the lease duration and
/// reconciles. `/readyz` answers once leadership is known.
#[test]
fn a_standby_takes_over_when_the_leader_is_killed() {
    let c = cluster();
    let ns = "ctl-leader";
    let prefix = "ctll";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    load_basic(&repo, prefix);
    let first = repo.commit("first");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let mut leader = Controller::start(c, ns, None);
    wait_crd(c, &leader);
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: ha, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}"}}
  interval: 10m
  timeout: 60s
"#,
            url = daemon.url("platform.git")
        ),
    );
    wait_platform(
        c,
        &leader,
        ns,
        "ha",
        "ReconciliationSucceeded",
        Some(&first),
    );
    let lease = || {
        c.get_json(&["lease", "-n", ns, "distro-controller-leader-election"])
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let first_holder = lease();
    assert!(!first_holder.is_empty());

    let standby = Controller::start(c, ns, None);
    // The standby is ready (it knows where it stands) without leading.
    wait_ready(&standby);
    assert_eq!(
        lease(),
        first_holder,
        "the standby took the Lease from a live leader"
    );

    // SIGKILL: nothing is released; the standby waits for the lease to expire.
    let _ = Command::new("kill")
        .args(["-KILL", &leader.child.id().to_string()])
        .status();
    let _ = leader.child.wait();
    let killed = Instant::now();
    platform_yaml_bump(&repo);
    let second = repo.commit("after the failover");
    repo.push();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = outcome(&c.distro(
        dir.path(),
        &["reconcile", "platform", "ha", "-n", ns, "--timeout", "90s"],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{}", standby.log());
    assert!(stdout.contains(&second), "{stdout}");
    assert_ne!(lease(), first_holder);
    eprintln!("failover to applied: {:?}", killed.elapsed());
    assert!(
        killed.elapsed() < Duration::from_secs(60),
        "the standby took {:?}",
        killed.elapsed()
    );
}

/// Waits until a controller answers 200 on `/readyz` (for a standby: it
/// knows where it stands).
fn wait_ready(ctl: &Controller) {
    let port = wait_for("the health address", Duration::from_secs(30), ctl, || {
        ctl.log()
            .lines()
            .find(|l| l.contains("health listening"))
            .and_then(|l| l.rsplit("127.0.0.1:").next())
            .and_then(|p| {
                p.trim()
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u16>()
                    .ok()
            })
    });
    wait_for("readiness", Duration::from_secs(30), ctl, || {
        (get_status(port, "/readyz") == 200).then_some(())
    });
}

/// A Service sends a push to any replica: one that reaches the standby is
/// passed on to the leader, which applies it long before the interval.
#[test]
fn a_push_to_the_standby_reaches_the_leader() {
    let c = cluster();
    let ns = "ctl-hookstandby";
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    load_basic(&repo, "ctlhs");
    let first = repo.commit("first");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let leader = Controller::start(c, ns, Some(free_port()));
    wait_crd(c, &leader);
    let token = "standby-token";
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: {ns}}}
stringData: {{token: {token}}}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: hs, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}"}}
  interval: 10m
  timeout: 60s
  webhook: {{type: github, secretRef: {{name: hook}}}}
"#,
            url = daemon.url("platform.git")
        ),
    );
    let p = wait_platform(
        c,
        &leader,
        ns,
        "hs",
        "ReconciliationSucceeded",
        Some(&first),
    );
    let hook = p["status"]["webhookPath"].as_str().unwrap().to_string();
    let standby_port = free_port();
    let standby = Controller::start(c, ns, Some(standby_port));
    wait_ready(&standby);
    // The standby has read the Platform (and its webhook path) once its
    // receiver answers 202 rather than 404.
    platform_yaml_bump(&repo);
    let second = repo.commit("pushed to the standby");
    repo.push();
    let body = br#"{"ref":"refs/heads/main"}"#;
    let sig = github_signature(token, body);
    wait_for(
        "the standby to take the push",
        Duration::from_secs(30),
        &standby,
        || {
            let code = post(
                standby_port,
                &hook,
                &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
                body,
            );
            (code == 202).then_some(())
        },
    );
    wait_platform(
        c,
        &leader,
        ns,
        "hs",
        "ReconciliationSucceeded",
        Some(&second),
    );
    assert!(
        standby.log().contains("passed to the leader"),
        "{}",
        standby.log()
    );
}

fn platform_yaml_bump(repo: &Repo) {
    let path = repo.work().join("platform.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    repo.write("platform.yaml", text.replace("replicas: 3", "replicas: 2"));
}

/// The controller's `/metrics` text (its port read from its log).
fn scrape(ctl: &Controller) -> String {
    use std::io::{Read, Write};
    let port = wait_for("the metrics address", Duration::from_secs(30), ctl, || {
        ctl.log()
            .lines()
            .find(|l| l.contains("metrics listening"))
            .and_then(|l| l.rsplit("127.0.0.1:").next())
            .and_then(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse::<u16>()
                    .ok()
            })
    });
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp
}

/// The status code of `GET path` on 127.0.0.1:`port`, 0 when unreachable.
pub fn get_status(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
