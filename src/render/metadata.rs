//! Checks of an object's `metadata` that the API server makes on create
//! (apimachinery's `ValidateObjectMeta`): the name's syntax for its kind,
//! the namespace's, and the keys and values of labels and annotations. Done
//! offline, an object Kubernetes would refuse fails before anything is
//! applied, with the file and line it came from.

use serde_json::{Map, Value};

use crate::kinds;
use crate::model::type_name;
use crate::names;

/// A step of the path to the field a problem is about, for its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Key(String),
    Index(usize),
}

/// One problem of an object: where and what.
#[derive(Debug)]
pub struct Problem {
    pub at: Vec<Field>,
    pub message: String,
}

impl Problem {
    pub fn new(at: &[&str], message: impl Into<String>) -> Self {
        Self {
            at: at.iter().map(|k| Field::Key(k.to_string())).collect(),
            message: message.into(),
        }
    }
}

/// Annotations may hold this many bytes (keys and values) in all.
const ANNOTATIONS_MAX: usize = 256 * 1024;

/// Checks the name (by the rule of its kind), the namespace and the labels
/// and annotations of an object whose `metadata` is a map with a string
/// `name`.
pub fn check(group: &str, kind: &str, metadata: &Map<String, Value>) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(Value::String(name)) = metadata.get("name") {
        let rule = kinds::name_rule(group, kind);
        if let Err(m) = names::check_name(rule, name) {
            problems.push(Problem::new(
                &["metadata", "name"],
                format!("metadata.name {name:?} is not a valid {kind} name: it {m}"),
            ));
        }
    }
    if let Some(Value::String(ns)) = metadata.get("namespace")
        && !ns.is_empty()
        && let Err(m) = names::check_label(ns)
    {
        problems.push(Problem::new(
            &["metadata", "namespace"],
            format!("metadata.namespace {ns:?} is not a valid namespace: it {m}"),
        ));
    }
    check_labels(metadata, &mut problems);
    check_annotations(metadata, &mut problems);
    problems
}

fn check_labels(metadata: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let labels = match metadata.get("labels") {
        None | Some(Value::Null) => return,
        Some(Value::Object(labels)) => labels,
        Some(other) => {
            problems.push(Problem::new(
                &["metadata", "labels"],
                format!("metadata.labels must be a map, found {}", type_name(other)),
            ));
            return;
        }
    };
    for (key, value) in labels {
        let at = ["metadata", "labels", key.as_str()];
        if let Err(m) = names::check_qualified_name(key) {
            problems.push(Problem::new(&at, format!("label key {key:?} {m}")));
        }
        match value {
            Value::String(v) => {
                if let Err(m) = names::check_label_value(v) {
                    problems.push(Problem::new(&at, format!("label {key}: value {v:?} {m}")));
                }
            }
            other => problems.push(Problem::new(&at, not_a_string("label", key, other))),
        }
    }
}

fn check_annotations(metadata: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let annotations = match metadata.get("annotations") {
        None | Some(Value::Null) => return,
        Some(Value::Object(annotations)) => annotations,
        Some(other) => {
            problems.push(Problem::new(
                &["metadata", "annotations"],
                format!(
                    "metadata.annotations must be a map, found {}",
                    type_name(other)
                ),
            ));
            return;
        }
    };
    let mut size = 0;
    for (key, value) in annotations {
        let at = ["metadata", "annotations", key.as_str()];
        // Annotation keys are qualified names in any case.
        if let Err(m) = names::check_qualified_name(&key.to_ascii_lowercase()) {
            problems.push(Problem::new(&at, format!("annotation key {key:?} {m}")));
        }
        match value {
            Value::String(v) => size += key.len() + v.len(),
            other => problems.push(Problem::new(&at, not_a_string("annotation", key, other))),
        }
    }
    if size > ANNOTATIONS_MAX {
        problems.push(Problem::new(
            &["metadata", "annotations"],
            format!(
                "metadata.annotations hold {size} bytes, more than the {ANNOTATIONS_MAX} Kubernetes allows"
            ),
        ));
    }
}

/// Kubernetes reads labels and annotations as strings only: `1`, `true` and
/// `null` written unquoted are refused.
fn not_a_string(what: &str, key: &str, value: &Value) -> String {
    let shown = match value {
        Value::Array(_) | Value::Object(_) => String::new(),
        scalar => format!(" ({scalar})"),
    };
    format!(
        "{what} {key}: value must be a string, found {}{shown}; quote it (`| quote` in a template)",
        type_name(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(group: &str, kind: &str, metadata: Value) -> Vec<String> {
        let Value::Object(m) = metadata else {
            panic!("not a map")
        };
        check(group, kind, &m)
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn names_follow_their_kind() {
        assert!(messages("", "ConfigMap", json!({"name": "a.b-c"})).is_empty());
        assert_eq!(
            messages("", "ConfigMap", json!({"name": "A_b"})).len(),
            1,
            "upper case and '_'"
        );
        assert_eq!(messages("", "Namespace", json!({"name": "a.b"})).len(), 1);
        assert_eq!(messages("", "Service", json!({"name": "1web"})).len(), 1);
        assert!(
            messages(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                json!({"name": "system:controller:x"})
            )
            .is_empty()
        );
        assert_eq!(
            messages("example.dev", "Widget", json!({"name": "system:x"})).len(),
            1
        );
        let long = "a".repeat(254);
        assert_eq!(
            messages("apps", "Deployment", json!({ "name": long })).len(),
            1
        );
    }

    #[test]
    fn namespaces_labels_and_annotations() {
        let found = messages(
            "",
            "ConfigMap",
            json!({
                "name": "c",
                "namespace": "Apps",
                "labels": {"ok": "v", "version": 1, "bad key!": "v", "x": "has space"},
                "annotations": {"note": true, "Example.com/Fine": "x"}
            }),
        );
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(
            found[0].contains("metadata.namespace \"Apps\""),
            "{}",
            found[0]
        );
        assert!(
            found
                .iter()
                .any(|m| m.contains("label version: value must be a string, found a number (1)"))
        );
        assert!(found.iter().any(|m| m.contains("label key \"bad key!\"")));
        assert!(
            found
                .iter()
                .any(|m| m.contains("label x: value \"has space\""))
        );
        assert!(found.iter().any(|m| {
            m.contains("annotation note: value must be a string, found a boolean (true)")
        }));
        let found = messages("", "ConfigMap", json!({"name": "c", "annotations": ["a"]}));
        assert_eq!(found, ["metadata.annotations must be a map, found a list"]);
    }
}
