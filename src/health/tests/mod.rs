//! Table-driven tests, one table per kind family.

mod conditions;
mod documents;
mod objects;
mod workloads;

use serde_json::{Value, json};

use super::{Status, assess};

/// One row: a name for failure output, the object, the expected status, and
/// a fragment the message must contain.
type Case = (&'static str, Value, Status, &'static str);

/// Runs a table and reports every failing row at once.
fn check(table: Vec<Case>) {
    let mut failures = Vec::new();
    for (name, object, status, fragment) in &table {
        let got = assess(object);
        assert_ne!(
            got.status,
            Status::NotFound,
            "{name}: assess never returns NotFound"
        );
        if got.status != *status || !got.message.contains(fragment) {
            failures.push(format!(
                "{name}: want {status} containing {fragment:?}, got {} {:?}",
                got.status, got.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

/// Sets `value` at a dotted path, creating maps on the way.
fn set(mut object: Value, path: &str, value: Value) -> Value {
    let mut cursor = &mut object;
    let keys: Vec<&str> = path.split('.').collect();
    for key in &keys[..keys.len() - 1] {
        cursor = cursor
            .as_object_mut()
            .expect("map on the path")
            .entry(key.to_string())
            .or_insert_with(|| json!({}));
    }
    cursor
        .as_object_mut()
        .expect("map on the path")
        .insert(keys[keys.len() - 1].to_string(), value);
    object
}

/// Metadata as the API server returns it.
fn metadata(name: &str, namespace: Option<&str>, generation: i64) -> Value {
    let mut m = json!({
        "name": name,
        "uid": "6f1c2a8e-3d4b-4c5a-9e7f-0a1b2c3d4e5f",
        "resourceVersion": "48213",
        "generation": generation,
        "creationTimestamp": "2025-03-01T10:00:00Z",
        "labels": {"app.kubernetes.io/name": name},
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

#[test]
fn status_display_and_not_found() {
    let shown: Vec<String> = [
        Status::Current,
        Status::InProgress,
        Status::Failed,
        Status::Terminating,
        Status::NotFound,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        shown,
        ["Current", "InProgress", "Failed", "Terminating", "NotFound"]
    );
    let nf = super::Assessment::not_found();
    assert_eq!(nf.status, Status::NotFound);
    assert_eq!(
        serde_json::to_value(Status::InProgress).unwrap(),
        json!("InProgress")
    );
}
