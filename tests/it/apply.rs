//! `distro apply`, `diff` and `status` against a real kube-apiserver (see
//! `cluster.rs`). No kubelet runs: kwok fakes nodes and pods, so workloads
//! become Ready through the real controllers.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::cluster::{
    Cluster, audit_mark, distro, get_json, has_audit_log, kubectl, kubectl_ok, write_files,
    writes_since,
};
use crate::support::{Watched, copy_tree, outcome, project_root};

/// Runs apply with JSON output; returns (exit code, report, stderr).
fn apply(dir: &Path, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args = vec!["apply", "-o", "json", "--timeout", "90s"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = outcome(&distro(dir, &args));
    let report = serde_json::from_str::<Value>(&stdout)
        .ok()
        .and_then(|v| v["releases"].as_array().cloned())
        .unwrap_or_default();
    (code, report, stderr)
}

fn by_name(report: &[Value]) -> HashMap<String, Value> {
    report
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

fn actions(release: &Value) -> Vec<(String, String)> {
    release["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["object"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn all_unchanged(release: &Value) -> bool {
    actions(release).iter().all(|(_, a)| a == "unchanged")
}

/// A distribution of small packages, each release in its own namespace
/// (`<prefix>-<release>`), under platform name `prefix`.
struct Mini {
    dir: tempfile::TempDir,
    prefix: String,
}

impl Mini {
    /// `prefix` plus a suffix unique to this run, so that re-running the
    /// tests on the same cluster starts from nothing.
    fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let prefix = format!("{prefix}-{:04x}", (nanos ^ std::process::id()) & 0xffff);
        let prefix = prefix.as_str();
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            &[("platform.yaml", &format!("name: {prefix}\nbundle: main\n"))],
        );
        Mini {
            dir,
            prefix: prefix.to_string(),
        }
    }

    /// Rewrites platform.yaml with `extra` after the name and bundle.
    fn platform(&self, extra: &str) {
        write_files(
            self.path(),
            &[(
                "platform.yaml",
                &format!("name: {}\nbundle: main\n{extra}", self.prefix),
            )],
        );
    }

    fn ns(&self, release: &str) -> String {
        format!("{}-{release}", self.prefix)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `packages/<name>/1.0.0/` with the given templates.
    fn package(&self, name: &str, templates: &[(&str, &str)]) {
        let base = format!("packages/{name}/1.0.0");
        write_files(
            self.path(),
            &[(
                &format!("{base}/package.yaml"),
                &format!("name: {name}\nversion: 1.0.0\n"),
            )],
        );
        let _ = std::fs::remove_dir_all(self.path().join(&base).join("templates"));
        for (file, text) in templates {
            write_files(self.path(), &[(&format!("{base}/templates/{file}"), text)]);
        }
    }

    /// Writes the bundle: `(release, dependsOn)`; package = release name.
    fn bundle(&self, releases: &[(&str, &[&str])]) {
        let mut text = String::from("releases:\n");
        for (name, deps) in releases {
            text.push_str(&format!(
                "  - name: {name}\n    package: {name}\n    version: 1.0.0\n    namespace: {}\n    dependsOn: [{}]\n",
                self.ns(name),
                deps.join(", ")
            ));
        }
        write_files(self.path(), &[("bundles/main.yaml", &text)]);
    }
}

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: \"{{ values.level | default(value='info') }}\"\n";

fn deployment(name: &str, extra_pod_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n{extra_pod_spec}      containers:\n        - name: main\n          image: registry.example/{name}:1.0\n"
    )
}

#[test]
fn cold_install_of_the_default_distribution_respects_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &project_root().join("packages"),
        &dir.path().join("packages"),
    );
    copy_tree(&project_root().join("bundles"), &dir.path().join("bundles"));
    write_files(
        dir.path(),
        &[("platform.yaml", "name: it-default\nbundle: full\n")],
    );
    // A fresh cluster of its own: a cold install, and an audit log that holds
    // only this test's requests.
    let own = Cluster::dedicated();
    let c = &own.cluster;
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", "-o", "json", "--timeout", "3m"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = outcome(&c.distro(dir.path(), &args));
        let report: Vec<Value> = serde_json::from_str::<Value>(&stdout)
            .ok()
            .and_then(|v| v["releases"].as_array().cloned())
            .unwrap_or_default();
        (code, report, stderr)
    };

    let (code, report, stderr) = apply(&[]);
    assert_eq!(code, 0, "{stderr}");
    let releases = by_name(&report);
    assert!(releases.len() >= 9, "{report:?}");
    for (name, r) in &releases {
        assert_eq!(r["ready"], true, "{name}: {r}");
        assert_eq!(r["reason"], "InstallSucceeded", "{name}: {r}");
    }

    // No release started before every one of its dependencies was Ready.
    let (_, graph, _) = outcome(&c.distro(dir.path(), &["graph", "-o", "json"]));
    let graph: Value = serde_json::from_str(&graph).unwrap();
    for node in graph["releases"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        let started = releases[name]["startedAt"].as_str().unwrap();
        for dep in node["dependsOn"].as_array().unwrap() {
            // Fixed-width UTC timestamps compare as strings.
            let dep_ready = releases[dep.as_str().unwrap()]["finishedAt"]
                .as_str()
                .unwrap();
            assert!(
                started >= dep_ready,
                "{name} started at {started}, before {dep} was ready at {dep_ready}"
            );
        }
    }

    // The cluster says the same: every Release object is Ready.
    let list = c
        .get_json(&["releases", "-A", "-l", "distro.dev/platform=it-default"])
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), releases.len());
    for item in items {
        let ready = item["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True", "{item}");
        assert!(
            item["status"]["inventory"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
        );
    }
    let table = c.kubectl_ok(&["get", "releases", "-A"]);
    assert!(
        table.contains("READY") && table.contains("STATUS") && table.contains("REVISION"),
        "{table}"
    );

    // Re-applying the unchanged platform writes nothing at all.
    let mark = c.audit_mark();
    let (code, report, stderr) = apply(&[]);
    assert_eq!(code, 0, "{stderr}");
    for r in &report {
        assert!(all_unchanged(r), "{r}");
    }
    assert!(c.has_audit_log());
    let writes = c.writes_since(mark, "distro/");
    assert!(writes.is_empty(), "no-op re-apply wrote: {writes:#?}");

    // `distro status -o json` reads the same from the cluster.
    let (code, stdout, stderr) = outcome(&c.distro(dir.path(), &["status", "-o", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let status = status["releases"].as_array().unwrap();
    let cert_manager = status.iter().find(|s| s["name"] == "cert-manager").unwrap();
    assert_eq!(cert_manager["ready"], "True");
    assert_eq!(cert_manager["namespace"], "cert-manager");
    assert!(
        cert_manager["revision"]
            .as_str()
            .unwrap()
            .starts_with("1.16.2@sha256:")
    );
}

#[test]
fn upgrade_touches_only_the_changed_release() {
    let m = Mini::new("it-upgrade");
    m.package(
        "front",
        &[
            ("cm.yaml", CONFIGMAP),
            ("deploy.yaml", &deployment("front", "")),
        ],
    );
    m.package("back", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("back", &[]), ("front", &["back"])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let before = get_json(&["configmap", "settings", "-n", &m.ns("back")]).unwrap();

    // A values change for one release.
    m.platform("releases:\n  front:\n    values:\n      level: debug\n");
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let r = by_name(&report);
    assert!(all_unchanged(&r["back"]), "{}", r["back"]);
    assert!(actions(&r["front"]).contains(&(
        format!("ConfigMap/{}/settings", m.ns("front")),
        "configured".into()
    )));
    assert_eq!(r["front"]["reason"], "UpgradeSucceeded");
    let after = get_json(&["configmap", "settings", "-n", &m.ns("back")]).unwrap();
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    let front = get_json(&["configmap", "settings", "-n", &m.ns("front")]).unwrap();
    assert_eq!(front["data"]["level"], "debug");
}

#[test]
fn prune_removes_objects_and_releases_but_keeps_crds_and_opted_out_objects() {
    let m = Mini::new("it-prune");
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gizmos.prune.example.dev\nspec:\n  group: prune.example.dev\n  names: {kind: Gizmo, plural: gizmos}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";
    let kept = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  annotations:\n    distro.dev/prune: disabled\ndata: {a: b}\n";
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata: {a: b}\n";
    m.package(
        "base",
        &[
            ("cm.yaml", CONFIGMAP),
            ("extra.yaml", extra),
            ("crd.yaml", crd),
            ("kept.yaml", kept),
        ],
    );
    m.package("leaf", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("base", &[]), ("leaf", &["base"])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(get_json(&["configmap", "extra", "-n", &m.ns("base")]).is_some());

    // One object and the CRD leave `base`; the whole `leaf` release leaves.
    m.package("base", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("base", &[])]);
    // diff announces exactly the deletions apply makes (one decision for both).
    let (code, diff, stderr) = outcome(&distro(m.path(), &["diff"]));
    assert_eq!(code, 1, "{stderr}");
    let deleted: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with("# deleted "))
        .collect();
    let extra_line = format!("# deleted ConfigMap/{}/extra (base)", m.ns("base"));
    let leaf_line = format!("# deleted ConfigMap/{}/settings (leaf)", m.ns("leaf"));
    assert!(deleted.contains(&extra_line.as_str()), "{deleted:?}");
    assert!(deleted.contains(&leaf_line.as_str()), "{deleted:?}");
    assert!(
        !deleted
            .iter()
            .any(|l| l.contains("/kept") || l.contains("CustomResourceDefinition")),
        "diff announces deletions apply never makes: {deleted:?}"
    );
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let r = by_name(&report);
    let base_actions = actions(&r["base"]);
    assert!(
        base_actions.contains(&(
            format!("ConfigMap/{}/extra", m.ns("base")),
            "deleted".into()
        )),
        "{base_actions:?}"
    );
    assert!(
        base_actions.contains(&(
            "CustomResourceDefinition.apiextensions.k8s.io/gizmos.prune.example.dev".into(),
            "skipped".into()
        )),
        "{base_actions:?}"
    );
    assert!(get_json(&["configmap", "extra", "-n", &m.ns("base")]).is_none());
    assert!(
        get_json(&["configmap", "kept", "-n", &m.ns("base")]).is_some(),
        "opted-out object was pruned"
    );
    assert!(
        get_json(&["crd", "gizmos.prune.example.dev"]).is_some(),
        "CRD was pruned"
    );
    assert!(
        get_json(&["configmap", "settings", "-n", &m.ns("leaf")]).is_none(),
        "removed release's objects stay"
    );
    assert!(
        get_json(&["release", "leaf", "-n", &m.ns("leaf")]).is_none(),
        "removed release's record stays"
    );
    assert!(get_json(&["release", "base", "-n", &m.ns("base")]).is_some());
}

#[test]
fn releases_are_removed_dependents_first() {
    let m = Mini::new("it-remove-order");
    m.package("a", &[("cm.yaml", CONFIGMAP)]);
    m.package("b", &[("cm.yaml", CONFIGMAP)]);
    m.package("c", &[("cm.yaml", CONFIGMAP)]);
    m.package("keep", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("keep", &[])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    m.bundle(&[("keep", &[])]);
    let (code, stdout, stderr) = outcome(&distro(m.path(), &["apply", "--timeout", "60s"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let order: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("-    "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(order, vec!["c", "b", "a"], "{stderr}");
}

#[test]
fn a_conflict_names_the_other_manager_and_force_takes_ownership() {
    let m = Mini::new("it-conflict");
    m.package("app", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("app", &[])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    // Another field manager takes the field with a different value.
    let ns = m.ns("app");
    let patch = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  level: warn\n"
    );
    let file = m.path().join("other.yaml");
    std::fs::write(&file, patch).unwrap();
    kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=platform-admin",
        "-f",
        file.to_str().unwrap(),
    ]);

    m.platform("releases:\n  app:\n    values:\n      level: error\n");
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let message = report[0]["message"].as_str().unwrap();
    assert_eq!(report[0]["reason"], "ApplyFailed");
    assert!(
        message.contains(&format!("ConfigMap/{ns}/settings")),
        "{message}"
    );
    assert!(message.contains("platform-admin"), "{message}");
    assert!(message.contains(".data.level"), "{message}");
    assert!(message.contains("--force-conflicts"), "{message}");
    let live = get_json(&["configmap", "settings", "-n", &ns]).unwrap();
    assert_eq!(
        live["data"]["level"], "warn",
        "a conflicting apply wrote anyway"
    );

    let (code, _, stderr) = apply(m.path(), &["--force-conflicts"]);
    assert_eq!(code, 0, "{stderr}");
    let live = get_json(&["configmap", "settings", "-n", &ns]).unwrap();
    assert_eq!(live["data"]["level"], "error");
}

#[test]
fn an_immutable_change_is_explained_and_force_recreates() {
    let m = Mini::new("it-immutable");
    let cm = |annotation: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n{annotation}immutable: true\ndata:\n  v: \"{value}\"\n"
        )
    };
    m.package("app", &[("cm.yaml", &cm("", "1"))]);
    m.bundle(&[("app", &[])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let uid =
        get_json(&["configmap", "frozen", "-n", &m.ns("app")]).unwrap()["metadata"]["uid"].clone();

    m.package("app", &[("cm.yaml", &cm("", "2"))]);
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let message = report[0]["message"].as_str().unwrap();
    assert!(message.contains("immutable"), "{message}");
    assert!(message.contains("distro.dev/force"), "{message}");

    m.package(
        "app",
        &[(
            "cm.yaml",
            &cm("  annotations:\n    distro.dev/force: enabled\n", "2"),
        )],
    );
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        actions(&report[0]).iter().any(|(_, a)| a == "recreated"),
        "{}",
        report[0]
    );
    let live = get_json(&["configmap", "frozen", "-n", &m.ns("app")]).unwrap();
    assert_eq!(live["data"]["v"], "2");
    assert_ne!(live["metadata"]["uid"], uid);
}

#[test]
fn a_rejected_object_fails_its_release_and_dependents_but_not_the_rest() {
    let m = Mini::new("it-rejected");
    let invalid = "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports:\n    - port: 99999\n";
    m.package("bad", &[("cm.yaml", CONFIGMAP), ("svc.yaml", invalid)]);
    m.package("after-bad", &[("cm.yaml", CONFIGMAP)]);
    m.package(
        "independent",
        &[
            ("cm.yaml", CONFIGMAP),
            ("deploy.yaml", &deployment("web", "")),
        ],
    );
    m.bundle(&[("bad", &[]), ("after-bad", &["bad"]), ("independent", &[])]);
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let r = by_name(&report);
    assert_eq!(r["bad"]["reason"], "ApplyFailed");
    let message = r["bad"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Service/{}/broken", m.ns("bad"))) && message.contains("99999"),
        "{message}"
    );
    assert_eq!(r["after-bad"]["reason"], "DependencyNotReady");
    assert!(r["after-bad"]["message"].as_str().unwrap().contains("bad"));
    assert!(
        actions(&r["after-bad"]).is_empty(),
        "a dependent of a failed release was applied"
    );
    assert_eq!(r["independent"]["ready"], true);
    // Status objects say the same.
    let bad = get_json(&["release", "bad", "-n", &m.ns("bad")]).unwrap();
    let stalled = bad["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Stalled" && c["status"] == "True");
    assert!(stalled, "{bad}");
    // Regression: what was applied before the failure is in the inventory,
    // so that it can still be pruned later.
    let inventory = bad["status"]["inventory"].as_array().unwrap();
    assert!(
        inventory
            .iter()
            .any(|e| e["kind"] == "ConfigMap" && e["name"] == "settings"),
        "{bad}"
    );
}

/// Regression: objects read back through a watch carry no apiVersion/kind,
/// and were judged by the generic rules (always Current) instead of the
/// workload rules.
#[test]
fn a_workload_that_never_becomes_ready_fails_the_health_check() {
    let m = Mini::new("it-unhealthy");
    // No node carries this label, so the pods stay Pending.
    let stuck = deployment(
        "stuck",
        "      nodeSelector:\n        example.dev/never: \"true\"\n",
    );
    m.package("app", &[("deploy.yaml", &stuck)]);
    m.package("next", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("app", &[]), ("next", &["app"])]);
    let (code, report, stderr) = apply(m.path(), &["--timeout", "5s"]);
    assert_eq!(code, 1, "{stderr}");
    let r = by_name(&report);
    assert_eq!(r["app"]["reason"], "HealthCheckFailed", "{}", r["app"]);
    let message = r["app"]["message"].as_str().unwrap();
    assert!(
        message.contains("timed out")
            && message.contains(&format!("Deployment.apps/{}/stuck", m.ns("app"))),
        "{message}"
    );
    assert_eq!(r["next"]["reason"], "DependencyNotReady");
}

#[test]
fn upstream_crds_apply_server_side_and_accept_custom_resources() {
    let upstream = project_root().join("../shared/fixtures/upstream");
    assert!(upstream.is_dir(), "missing {}", upstream.display());
    let m = Mini::new("it-upstream");
    // The CRDs go in a package's crds/ at test time, straight from the
    // shared fixtures (not copied into the project).
    for (package, folder) in [
        ("prom-crds", "prometheus-operator"),
        ("cm-crds", "cert-manager"),
    ] {
        m.package(package, &[]);
        for entry in std::fs::read_dir(upstream.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let target = m
                    .path()
                    .join(format!("packages/{package}/1.0.0/crds"))
                    .join(path.file_name().unwrap());
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(&path, target).unwrap();
            }
        }
    }
    let resources = "\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: it-upstream-selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: selfsigned
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: demo
spec:
  secretName: demo-tls
  dnsNames: [demo.example.dev]
  issuerRef: {name: selfsigned, kind: Issuer}
---
apiVersion: cert-manager.io/v1
kind: CertificateRequest
metadata:
  name: demo-1
spec:
  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K
  issuerRef: {name: selfsigned, kind: Issuer}
---
apiVersion: acme.cert-manager.io/v1
kind: Order
metadata:
  name: demo-order
spec:
  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K
  issuerRef: {name: selfsigned, kind: Issuer}
  dnsNames: [demo.example.dev]
---
apiVersion: acme.cert-manager.io/v1
kind: Challenge
metadata:
  name: demo-challenge
spec:
  url: https://acme.example.dev/chall/1
  authorizationURL: https://acme.example.dev/authz/1
  dnsName: demo.example.dev
  type: HTTP-01
  token: abc
  key: abc.def
  solver:
    http01:
      ingress: {}
  issuerRef: {name: selfsigned, kind: Issuer}
";
    m.package("issuers", &[("resources.yaml", resources)]);
    m.bundle(&[
        ("prom-crds", &[]),
        ("cm-crds", &[]),
        ("issuers", &["cm-crds"]),
    ]);
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}\n{report:?}");
    for crd in [
        "prometheuses.monitoring.coreos.com",
        "alertmanagers.monitoring.coreos.com",
        "certificates.cert-manager.io",
    ] {
        let live = get_json(&["crd", crd]).unwrap();
        let established = live["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        assert!(established, "{crd} not Established");
    }
    for (kind, name) in [
        ("clusterissuer", "it-upstream-selfsigned"),
        ("issuer", "selfsigned"),
        ("certificate", "demo"),
        ("certificaterequest", "demo-1"),
        ("order", "demo-order"),
        ("challenge", "demo-challenge"),
    ] {
        let mut args = vec![kind, name];
        let ns = m.ns("issuers");
        if kind != "clusterissuer" {
            args.extend_from_slice(&["-n", &ns]);
        }
        assert!(get_json(&args).is_some(), "{kind}/{name} missing");
    }
    // Client-side apply cannot take the biggest CRD (its last-applied
    // annotation would pass the 256 KiB limit); server-side apply did.
    let big = upstream.join("prometheus-operator/monitoring.coreos.com_prometheuses.yaml");
    assert!(std::fs::metadata(&big).unwrap().len() > 262_144);
}

#[test]
fn diff_reports_changes_masks_secrets_and_exits_by_outcome() {
    let m = Mini::new("it-diff");
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: \"{{ values.password | default(value='first-secret') }}\"\n";
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata: {a: b}\n";
    m.package(
        "app",
        &[
            ("cm.yaml", CONFIGMAP),
            ("secret.yaml", secret),
            ("extra.yaml", extra),
        ],
    );
    m.bundle(&[("app", &[])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = outcome(&distro(m.path(), &["diff"]));
    assert_eq!(code, 0, "unexpected changes:\n{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    m.package("app", &[("cm.yaml", CONFIGMAP), ("secret.yaml", secret)]);
    m.platform(
        "releases:\n  app:\n    values:\n      level: trace\n      password: second-secret\n",
    );
    let mark = audit_mark();
    let (code, stdout, stderr) = outcome(&distro(m.path(), &["diff"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let ns = m.ns("app");
    assert!(
        stdout.contains(&format!("# configured ConfigMap/{ns}/settings")),
        "{stdout}"
    );
    assert!(
        stdout.contains("-  level: info") && stdout.contains("+  level: trace"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("# deleted ConfigMap/{ns}/extra")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("first-secret") && !stdout.contains("second-secret"),
        "secret leaked:\n{stdout}"
    );
    // base64 of both passwords must not show either.
    assert!(
        !stdout.contains("Zmlyc3Qtc2VjcmV0") && !stdout.contains("c2Vjb25kLXNlY3JldA"),
        "{stdout}"
    );
    if has_audit_log() {
        assert!(
            writes_since(mark, "distro/").is_empty(),
            "diff wrote to the cluster"
        );
    }
    // Nothing changed in the cluster.
    let live = get_json(&["configmap", "settings", "-n", &ns]).unwrap();
    assert_eq!(live["data"]["level"], "info");
    let out = kubectl(&["get", "configmap", "extra", "-n", &ns]);
    assert!(out.status.success());
}

/// `apply --watch` applies again on every change: a value changed while it
/// runs reaches the cluster without another command.
#[test]
fn apply_watch_applies_each_change() {
    let m = Mini::new("it-applywatch");
    m.package("app", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("app", &[])]);
    let ns = m.ns("app");
    let kubeconfig = crate::cluster::cluster().kubeconfig.clone();
    let mut watched = Watched::start(
        m.path(),
        &["apply", "--watch", "--timeout", "60s"],
        Some(&kubeconfig),
    );
    watched.wait_for("the first apply", &|_, err| err.contains("for changes"));
    let live = get_json(&["configmap", "settings", "-n", &ns]).unwrap();
    assert_eq!(live["data"]["level"], "info");

    m.platform("releases:\n  app:\n    values:\n      level: trace\n");
    watched.wait_for("the change to be applied", &|_, err| {
        err.matches("for changes").count() >= 2
    });
    let live = get_json(&["configmap", "settings", "-n", &ns]).unwrap();
    assert_eq!(live["data"]["level"], "trace", "{:?}", watched.output());
    let (_, err) = watched.output();
    assert!(
        err.contains("== ~ app:"),
        "the changed release is named: {err}"
    );
}

/// `diff --watch` shows, on every change, what an apply would do, and
/// writes nothing.
#[test]
fn diff_watch_shows_each_change_without_applying_it() {
    let m = Mini::new("it-diffwatch");
    m.package("app", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("app", &[])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let ns = m.ns("app");
    let kubeconfig = crate::cluster::cluster().kubeconfig.clone();
    let mut watched = Watched::start(m.path(), &["diff", "--watch"], Some(&kubeconfig));
    watched.wait_for("the first diff", &|_, err| err.contains("for changes"));
    assert!(watched.output().0.is_empty(), "{:?}", watched.output());

    m.platform("releases:\n  app:\n    values:\n      level: trace\n");
    let wanted = format!("# configured ConfigMap/{ns}/settings");
    watched.wait_for("the diff of the change", &|out, _| {
        out.contains(&wanted) && out.contains("+  level: trace")
    });
    let live = get_json(&["configmap", "settings", "-n", &ns]).unwrap();
    assert_eq!(live["data"]["level"], "info", "diff --watch applied");
}

/// Regression: the release an object left pruned it even though another
/// release of the platform now renders it.
#[test]
fn an_object_that_moves_to_another_release_is_kept() {
    let m = Mini::new("it-move");
    let shared = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: {}\ndata: {{a: b}}\n",
        m.ns("one")
    );
    m.package("one", &[("cm.yaml", CONFIGMAP), ("shared.yaml", &shared)]);
    m.package("two", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("one", &[]), ("two", &["one"])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let uid =
        get_json(&["configmap", "shared", "-n", &m.ns("one")]).unwrap()["metadata"]["uid"].clone();

    m.package("one", &[("cm.yaml", CONFIGMAP)]);
    m.package("two", &[("cm.yaml", CONFIGMAP), ("shared.yaml", &shared)]);
    // diff agrees: the moved object is configured, never deleted.
    let (_, diff, stderr) = outcome(&distro(m.path(), &["diff"]));
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with("# deleted") && l.contains("/shared")),
        "{diff}\n{stderr}"
    );
    let (code, report, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let r = by_name(&report);
    assert!(
        !actions(&r["one"]).iter().any(|(_, a)| a == "deleted"),
        "{}",
        r["one"]
    );
    let live =
        get_json(&["configmap", "shared", "-n", &m.ns("one")]).expect("moved object was deleted");
    assert_eq!(live["metadata"]["uid"], uid);
    assert_eq!(live["metadata"]["labels"]["distro.dev/release"], "two");
    let two = get_json(&["release", "two", "-n", &m.ns("two")]).unwrap();
    let inventory = two["status"]["inventory"].as_array().unwrap();
    assert!(inventory.iter().any(|e| e["name"] == "shared"), "{two}");
}

/// A dependency Ready at its previous revision does not release its
/// dependents for a new one: the dependent waits for the dependency to be
/// Ready at the revision being applied (the race reported against Flux's
/// helm-controller).
#[test]
fn dependents_wait_for_the_dependency_at_the_revision_being_applied() {
    let m = Mini::new("it-gate-rev");
    m.package("dep", &[("deploy.yaml", &deployment("web", ""))]);
    m.package("user", &[("cm.yaml", CONFIGMAP)]);
    m.bundle(&[("dep", &[]), ("user", &["dep"])]);
    let (code, _, stderr) = apply(m.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let before = get_json(&["configmap", "settings", "-n", &m.ns("user")]).unwrap();

    // The new revision of `dep` never becomes ready (no node matches), and
    // `user` changes too: it must not be applied at this revision.
    let stuck = deployment(
        "web",
        "      nodeSelector:\n        example.dev/never: \"true\"\n",
    );
    m.package("dep", &[("deploy.yaml", &stuck)]);
    m.platform("releases:\n  user:\n    values: {level: debug}\n");
    let (code, report, stderr) = apply(m.path(), &["--timeout", "5s"]);
    assert_eq!(code, 1, "{stderr}");
    let r = by_name(&report);
    assert_eq!(r["dep"]["reason"], "HealthCheckFailed", "{}", r["dep"]);
    assert_eq!(r["user"]["reason"], "DependencyNotReady", "{}", r["user"]);
    let after = get_json(&["configmap", "settings", "-n", &m.ns("user")]).unwrap();
    assert_eq!(
        after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "the dependent was applied while its dependency was not Ready at the new revision"
    );
    assert_eq!(after["data"]["level"], "info");
}
