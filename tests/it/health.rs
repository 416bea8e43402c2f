//! `distro health -f FILE`: kstatus verdicts from a file, no cluster.

use crate::support::{distro, outcome};

const OBJECTS: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
  generation: 1
status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberReady: 0, numberAvailable: 0}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: apps
status:
  conditions:
    - {type: Failed, status: \"True\", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: apps
";

#[test]
fn health_prints_a_verdict_per_object() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), OBJECTS).unwrap();
    let (code, stdout, stderr) = outcome(&distro(
        dir.path(),
        &["health", "-f", "objects.yaml", "-o", "json"],
    ));
    // One object (the Job) is Failed.
    assert_eq!(code, 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let statuses: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("agent", "InProgress"),
            ("migrate", "Failed"),
            ("settings", "Current")
        ]
    );
    assert_eq!(v[0]["namespace"], "kube-system");
    assert_eq!(v[0]["kind"], "DaemonSet");

    let (code, table, _) = outcome(&distro(dir.path(), &["health", "-f", "objects.yaml"]));
    assert_eq!(code, 1);
    assert!(table.starts_with("KIND"), "{table}");
    assert!(
        table.contains("BackoffLimitExceeded") || table.contains("backoff limit"),
        "{table}"
    );
}

#[test]
fn health_rejects_invalid_input_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = outcome(&distro(dir.path(), &["health", "-f", "bad.yaml"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("bad.yaml:1") && stderr.contains("metadata.name"),
        "{stderr}"
    );
    let (code, _, stderr) = outcome(&distro(dir.path(), &["health", "-f", "missing.yaml"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("missing.yaml"), "{stderr}");
}
