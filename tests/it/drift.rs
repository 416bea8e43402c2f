//! Drift correction by `distro controller` on the real local control plane
//! (see `cluster.rs`), following a repository served by a real `git
//! daemon` on 127.0.0.1. Each test has its own namespace, Platform and
//! controller process.
//!
//! No kubelet runs: kwok's fake nodes make the Deployments' pods Running,
//! so the real Deployment controller reports them Ready.

use std::time::Duration;

use serde_json::Value;

use crate::cluster::write_files;
use crate::cluster::{Cluster, cluster};
use crate::controller::{Controller, apply_yaml, ready, wait_crd, wait_for, wait_platform};
use crate::git_server::{GitDaemon, Repo};
use crate::support::outcome;

const WAIT: Duration = Duration::from_secs(60);

/// A small distribution: one release `web` in namespace `ns`. `scaled`
/// leaves its replica count to others; `pinned` sets it; `hands-off` is
/// disabled in its template; `free` is disabled by the tests in the cluster.
fn distribution(ns: &str) -> Vec<(String, String)> {
    let objects = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
  size: large
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: free
data:
  color: blue
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: hands-off
  annotations:
    distro.dev/reconcile: disabled
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: scaled
  labels: {tier: web}
spec:
  selector:
    matchLabels: {app: scaled}
  template:
    metadata:
      labels: {app: scaled}
    spec:
      containers:
        - name: app
          image: registry.example/app:1.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pinned
spec:
  replicas: 2
  selector:
    matchLabels: {app: pinned}
  template:
    metadata:
      labels: {app: pinned}
    spec:
      containers:
        - name: app
          image: registry.example/app:1.0
"#;
    [
        (
            "platform.yaml",
            format!("name: {ns}\nbundle: main\n"),
        ),
        (
            "bundles/main.yaml",
            format!(
                "releases:\n  - name: web\n    package: web\n    version: \"1.0.0\"\n    namespace: {ns}\n"
            ),
        ),
        (
            "packages/web/1.0.0/package.yaml",
            "name: web\nversion: 1.0.0\n".to_string(),
        ),
        ("packages/web/1.0.0/templates/objects.yaml", objects.to_string()),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_string(), t))
    .collect()
}

/// A Platform `ns/ns` reconciled by its own controller, Ready.
struct Setup {
    c: &'static Cluster,
    ns: String,
    ctl: Controller,
    _daemon: GitDaemon,
    _repos: tempfile::TempDir,
}

impl Setup {
    fn new(ns: &str, extra: &[&str]) -> Setup {
        let c = cluster();
        // A fresh namespace: nothing left by an earlier run on this cluster.
        c.kubectl_ok(&[
            "delete",
            "namespace",
            ns,
            "--ignore-not-found",
            "--wait=true",
        ]);
        let repos = tempfile::tempdir().unwrap();
        let repo = Repo::init(repos.path(), "platform.git");
        for (path, text) in distribution(ns) {
            repo.write(&path, text);
        }
        repo.commit("first");
        repo.push();
        let daemon = GitDaemon::start(repos.path());
        let ctl = Controller::start_with(c, ns, None, extra);
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
metadata: {{name: {ns}, namespace: {ns}}}
spec:
  source:
    git: {{url: "{url}"}}
  interval: 10m
  timeout: 90s
"#,
                url = daemon.url("platform.git")
            ),
        );
        wait_platform(c, &ctl, ns, ns, "ReconciliationSucceeded", None);
        // The Platform may be Ready from an earlier run on this cluster:
        // wait for this controller's own first reconcile, which records
        // what drift correction watches.
        wait_for("the first reconcile", WAIT, &ctl, || {
            let log = ctl.log();
            log.lines()
                .any(|l| l.contains("reconciled") && l.contains(ns))
                .then_some(())
        });
        Setup {
            c,
            ns: ns.to_string(),
            ctl,
            _daemon: daemon,
            _repos: repos,
        }
    }

    fn get(&self, kind_name: &str) -> Option<Value> {
        self.c.get_json(&["-n", &self.ns, kind_name])
    }

    fn kubectl(&self, args: &[&str]) {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        self.c.kubectl_ok(&full);
    }

    /// Sets `data.key` of ConfigMap `name`, as someone with kubectl would.
    fn set_data(&self, name: &str, key: &str, value: &str) {
        let patch = serde_json::json!({"data": {key: value}}).to_string();
        self.kubectl(&["patch", "configmap", name, "--type", "merge", "-p", &patch]);
    }

    /// Changes a field distro owns.
    fn paint_settings_red(&self) {
        self.set_data("settings", "color", "red");
    }

    /// Waits until `kind_name` satisfies `f`.
    fn wait_object(&self, what: &str, kind_name: &str, f: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, WAIT, &self.ctl, || {
            self.get(kind_name).filter(|o| f(o))
        })
    }

    /// The notes of the Events with `reason` on the Release `web`.
    fn release_events(&self, reason: &str) -> Vec<String> {
        let list = self
            .c
            .get_json(&[
                "events",
                "-n",
                &self.ns,
                "--field-selector",
                &format!("involvedObject.kind=Release,involvedObject.name=web,reason={reason}"),
            ])
            .unwrap_or(Value::Null);
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                e["note"]
                    .as_str()
                    .or(e["message"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// Waits for an Event with `reason` on the Release whose note contains
    /// every one of `parts`.
    fn wait_event(&self, reason: &str, parts: &[&str]) -> String {
        wait_for(
            &format!("a {reason} Event with {parts:?}"),
            WAIT,
            &self.ctl,
            || {
                self.release_events(reason)
                    .into_iter()
                    .find(|n| parts.iter().all(|p| n.contains(p)))
            },
        )
    }

    /// The port the controller serves `what` (`metrics` or `health`) on.
    fn port(&self, what: &str) -> u16 {
        let needle = format!("{what} listening");
        wait_for(&needle, WAIT, &self.ctl, || {
            self.ctl
                .log()
                .lines()
                .find(|l| l.contains(&needle))
                .and_then(|l| l.rsplit("127.0.0.1:").next())
                .and_then(|p| {
                    p.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                        .parse::<u16>()
                        .ok()
                })
        })
    }
}

/// `GET path` on 127.0.0.1:`port`: status and body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The value of a sample without labels in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Someone edits a field distro owns: it is set back, an Event on the
/// Release names the object, the field and who changed it, and
/// `distro_drift_corrections_total` counts it.
#[test]
fn an_edited_field_is_set_back_with_an_event_and_counted() {
    let s = Setup::new("drift-edit", &[]);
    let metrics = s.port("metrics");
    let before = sample(
        &http_get(metrics, "/metrics").1,
        "distro_drift_corrections_total",
    );
    assert_eq!(before, Some(0.0));
    // The drift caches are part of readiness.
    let health = s.port("health");
    wait_for("the controller ready", WAIT, &s.ctl, || {
        (http_get(health, "/readyz").0 == 200).then_some(())
    });

    s.paint_settings_red();
    s.wait_object("the color set back", "configmap/settings", |o| {
        o["data"]["color"] == "blue"
    });
    let note = s.wait_event(
        "DriftCorrected",
        &["ConfigMap/drift-edit/settings", "data.color"],
    );
    assert!(note.contains("kubectl"), "names who changed it: {note}");
    assert!(!note.contains("red"), "values never appear: {note}");
    wait_for("the correction counted", WAIT, &s.ctl, || {
        let n = sample(
            &http_get(metrics, "/metrics").1,
            "distro_drift_corrections_total",
        )?;
        (n >= 1.0).then_some(())
    });
    // The same on the Platform, for `kubectl describe platform`.
    let on_platform =
        s.c.get_json(&[
            "events",
            "-n",
            &s.ns,
            "--field-selector",
            "involvedObject.kind=Platform,reason=DriftCorrected",
        ])
        .unwrap();
    assert!(
        !on_platform["items"].as_array().unwrap().is_empty(),
        "{on_platform}"
    );
}

/// Something that changes a field back after every correction (another
/// controller owning it, a script in a loop) does not make distro write in
/// a loop: after a few corrections in a row the next one waits, and a
/// warning Event says so and how to end the fight.
#[test]
fn an_object_changed_back_after_every_correction_is_corrected_less_often() {
    let s = Setup::new("drift-fight", &[]);
    // The first corrections in a row come at once (three: the controller's
    // `fight::FREE_CORRECTIONS`).
    for round in 0..3 {
        s.paint_settings_red();
        s.wait_object(
            &format!("correction {round} at once"),
            "configmap/settings",
            |o| o["data"]["color"] == "blue",
        );
    }
    let note = s.wait_event(
        "DriftBackoff",
        &["ConfigMap/drift-fight/settings", "waits 5s"],
    );
    assert!(
        note.contains("distro.dev/reconcile"),
        "says how to end it: {note}"
    );
    // The next one waits: right after the change, the object stays as
    // changed for a while (a correction at once takes well under a second,
    // as the rounds above show) ...
    s.paint_settings_red();
    std::thread::sleep(Duration::from_millis(1500));
    let o = s.get("configmap/settings").expect("the ConfigMap");
    assert_eq!(
        o["data"]["color"], "red",
        "corrected at once despite the fight: {o}"
    );
    // ... and is set back when the wait is over.
    s.wait_object("the delayed correction", "configmap/settings", |o| {
        o["data"]["color"] == "blue"
    });
}

/// A deleted object is created again; the controller's JSON log lines
/// parse and carry the Platform they are about.
#[test]
fn a_deleted_object_is_recreated_and_logs_are_json() {
    let s = Setup::new("drift-delete", &["--log-format", "json"]);
    let uid = s.get("configmap/settings").unwrap()["metadata"]["uid"].clone();
    s.kubectl(&["delete", "configmap", "settings", "--wait=true"]);
    let back = s.wait_object("settings recreated", "configmap/settings", |o| {
        o["metadata"]["uid"] != uid
    });
    assert_eq!(back["data"]["color"], "blue");
    s.wait_event(
        "DriftCorrected",
        &["ConfigMap/drift-delete/settings", "recreated"],
    );

    let log = s.ctl.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let names_platform = |l: &Value| {
        l["platform"] == "drift-delete"
            || l["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["platform"] == "drift-delete"))
    };
    assert!(lines.iter().any(names_platform), "{log}");
    assert!(
        lines
            .iter()
            .any(|l| l["object"] == "ConfigMap/drift-delete/settings"),
        "the correction names its object: {log}"
    );
}

/// `spec.replicas` set by another field manager is left alone where the
/// template does not set it, and set back where it does (distro takes back
/// the fields its template sets).
#[test]
fn replicas_of_another_manager_are_left_alone_unless_the_template_sets_them() {
    let s = Setup::new("drift-scale", &[]);
    let scale = |name: &str, n: u32| {
        s.kubectl(&[
            "patch",
            "deployment",
            name,
            "--type",
            "merge",
            "--field-manager",
            "autoscaler",
            "-p",
            &format!(r#"{{"spec":{{"replicas":{n}}}}}"#),
        ]);
    };
    scale("scaled", 3);
    // Barrier: a change to a field distro sets, on the same object. Its
    // correction re-applies the whole object, and would reset the replicas
    // if distro owned them.
    s.kubectl(&["label", "--overwrite", "deployment", "scaled", "tier=db"]);
    s.wait_object("the label set back", "deployment/scaled", |o| {
        o["metadata"]["labels"]["tier"] == "web"
    });
    let scaled = s.get("deployment/scaled").unwrap();
    assert_eq!(scaled["spec"]["replicas"], 3, "{scaled}");
    let notes = s.release_events("DriftCorrected");
    assert!(
        !notes
            .iter()
            .any(|n| n.contains("/scaled:") && n.contains("spec.replicas")),
        "{notes:#?}"
    );

    scale("pinned", 5);
    s.wait_object("pinned set back to 2", "deployment/pinned", |o| {
        o["spec"]["replicas"] == 2
    });
    s.wait_event(
        "DriftCorrected",
        &[
            "Deployment.apps/drift-scale/pinned",
            "spec.replicas",
            "autoscaler",
        ],
    );
}

/// `distro.dev/reconcile: disabled`: in a template, the object is never
/// created; on a live object, its changes are left alone.
#[test]
fn objects_with_reconcile_disabled_are_left_alone() {
    let s = Setup::new("drift-disabled", &[]);
    assert!(s.get("configmap/hands-off").is_none());
    s.kubectl(&[
        "annotate",
        "configmap",
        "free",
        "distro.dev/reconcile=disabled",
    ]);
    s.set_data("free", "color", "red");
    // Barrier: a later change of the same kind, on the same watch, that is
    // corrected.
    s.set_data("settings", "size", "small");
    s.wait_object("settings set back", "configmap/settings", |o| {
        o["data"]["size"] == "large"
    });
    let free = s.get("configmap/free").unwrap();
    assert_eq!(free["data"]["color"], "red", "{free}");
    // A requested reconcile leaves it alone too.
    let requested = crate::controller::request_reconcile(s.c, &s.ns, &s.ns);
    wait_for("the reconcile handled", WAIT, &s.ctl, || {
        let p = crate::controller::platform(s.c, &s.ns, &s.ns);
        (p["status"]["lastHandledReconcileAt"] == requested.as_str()
            && ready(&p)?["status"] == "True")
            .then_some(())
    });
    let free = s.get("configmap/free").unwrap();
    assert_eq!(free["data"]["color"], "red", "{free}");
    assert!(s.get("configmap/hands-off").is_none());
}

/// A suspended Platform's objects are not corrected; once it is resumed,
/// they are.
#[test]
fn a_suspended_platform_is_not_corrected_until_resumed() {
    let s = Setup::new("drift-suspend", &[]);
    let suspend = |on: bool| {
        s.kubectl(&[
            "patch",
            "platform",
            &s.ns,
            "--type",
            "merge",
            "-p",
            &format!(r#"{{"spec":{{"suspend":{on}}}}}"#),
        ]);
    };
    suspend(true);
    wait_platform(s.c, &s.ctl, &s.ns, &s.ns, "Suspended", None);
    s.paint_settings_red();
    // The checker saw the change and said why it left it.
    wait_for("the change left alone", WAIT, &s.ctl, || {
        s.ctl
            .log()
            .lines()
            .any(|l| l.contains("platform is suspended") && l.contains("drift-suspend/settings"))
            .then_some(())
    });
    assert_eq!(s.get("configmap/settings").unwrap()["data"]["color"], "red");
    suspend(false);
    s.wait_object("the color set back", "configmap/settings", |o| {
        o["data"]["color"] == "blue"
    });
}

/// A field changed while no controller ran is taken back by the next
/// controller's first reconcile: the Release records that distro applied
/// this very template, so the other manager's claim is no conflict to
/// report.
#[test]
fn a_change_made_while_the_controller_was_down_is_set_back() {
    let mut s = Setup::new("drift-restart", &[]);
    s.ctl.stop();
    s.paint_settings_red();
    s.ctl = Controller::start(s.c, &s.ns, None);
    s.wait_object("the color set back", "configmap/settings", |o| {
        o["data"]["color"] == "blue"
    });
    wait_platform(s.c, &s.ctl, &s.ns, &s.ns, "ReconciliationSucceeded", None);
}

/// A reconcile of an unchanged revision (requested, so that it runs in
/// full) writes nothing: no object, no Release status; the Platform's
/// status gets one write, for `lastHandledReconcileAt`. Counted in the
/// API server's audit log.
#[test]
fn a_no_op_reconcile_makes_no_writes() {
    let c = cluster();
    if !c.has_audit_log() {
        eprintln!("skipped: the cluster has no audit log");
        return;
    }
    let s = Setup::new("drift-noop", &[]);
    // Let the drift caches list what they watch, and status updates of the
    // Deployments settle, before counting.
    let health = s.port("health");
    wait_for("the controller ready", WAIT, &s.ctl, || {
        (http_get(health, "/readyz").0 == 200).then_some(())
    });
    // The Deployment controller still annotates the new Deployments (their
    // revision) for a while, and each such change is checked once for
    // drift: count only once two quiet seconds pass.
    let mine = format!("/namespaces/{}/", s.ns);
    wait_for("the controller quiet", WAIT, &s.ctl, || {
        let mark = c.audit_mark();
        std::thread::sleep(Duration::from_secs(2));
        let quiet = c
            .requests_since(mark, "distro/")
            .iter()
            .all(|(_, uri)| !uri.contains(&mine) || uri.contains("/leases/"));
        quiet.then_some(())
    });
    // Twice: the second shows that a no-op reconcile keeps what the
    // ledger knows (it vouches for every object again).
    for round in 1..=2 {
        let mark = c.audit_mark();
        let requested = crate::controller::request_reconcile(c, &s.ns, &s.ns);
        wait_for("the reconcile handled", WAIT, &s.ctl, || {
            let p = crate::controller::platform(c, &s.ns, &s.ns);
            (p["status"]["lastHandledReconcileAt"] == requested.as_str()
                && ready(&p)?["status"] == "True")
                .then_some(())
        });
        let requests = c.requests_since(mark, "distro/");
        let requests: Vec<&(String, String)> = requests
            .iter()
            .filter(|(_, uri)| uri.contains(&mine) && !uri.contains("/leases/"))
            .collect();
        // The leader's Lease renewals go on whatever reconciles do.
        let writes: Vec<String> = c
            .writes_since(mark, "distro/")
            .into_iter()
            .filter(|w| w.contains(&mine) && !w.contains("/leases/"))
            .collect();
        let (status, others): (Vec<&String>, Vec<&String>) = writes
            .iter()
            .partition(|w| w.contains("/platforms/drift-noop/status"));
        assert!(others.is_empty(), "writes: {others:#?}");
        assert!(status.len() <= 1, "Platform status writes: {status:#?}");
        eprintln!(
            "no-op reconcile {round}: {} requests in the Platform's namespace ({} writes): {requests:#?}",
            requests.len(),
            writes.len()
        );
        // Object reads and dry runs are all skipped, and the Release records
        // are read by one list of every namespace: in the Platform's namespace
        // only its status write is left.
        assert!(requests.len() <= 1, "requests: {requests:#?}");
    }
}

/// `distro apply` honours `distro.dev/reconcile: disabled` as well: a
/// template that says so is not created, a live object that says so is
/// not changed, and it is not pruned when it leaves the release.
#[test]
fn distro_apply_leaves_disabled_objects_alone() {
    let c = cluster();
    let ns = "apply-disabled";
    c.kubectl_ok(&[
        "delete",
        "namespace",
        ns,
        "--ignore-not-found",
        "--wait=true",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let files = distribution(ns);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    write_files(dir.path(), &files);
    let apply = |dir: &std::path::Path| {
        let (code, stdout, stderr) = outcome(&c.distro(dir, &["apply", "--timeout", "90s"]));
        assert_eq!(code, 0, "{stdout}\n{stderr}");
    };
    apply(dir.path());
    let get = |name: &str| c.get_json(&["-n", ns, name]);
    assert!(get("configmap/hands-off").is_none());
    c.kubectl_ok(&[
        "-n",
        ns,
        "annotate",
        "configmap",
        "free",
        "distro.dev/reconcile=disabled",
    ]);
    c.kubectl_ok(&[
        "-n",
        ns,
        "patch",
        "configmap",
        "free",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"color":"red"}}"#,
    ]);
    apply(dir.path());
    assert_eq!(get("configmap/free").unwrap()["data"]["color"], "red");
    // `free` leaves the release: kept, since it says disabled.
    let template = dir.path().join("packages/web/1.0.0/templates/objects.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    let without: Vec<&str> = text
        .split("---\n")
        .filter(|doc| !doc.contains("name: free"))
        .collect();
    std::fs::write(&template, without.join("---\n")).unwrap();
    apply(dir.path());
    assert_eq!(get("configmap/free").unwrap()["data"]["color"], "red");
}
