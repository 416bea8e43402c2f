//! Pure helpers of drift detection (no client required): what an object's
//! content is, which fields differ between two versions of it, and who
//! else manages it.

use kube::api::DynamicObject;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::apply::{FIELD_MANAGER, comparable};

/// A digest of what apply compares ([`comparable`]: no status, no
/// resourceVersion, no managedFields), with map keys in sorted order. Two
/// versions of an object with the same content differ only in what apply
/// never sets, such as a controller's status update.
pub fn content(object: &DynamicObject) -> [u8; 32] {
    let mut hasher = Sha256::new();
    feed(&mut hasher, &view(object));
    hasher.finalize().into()
}

/// What apply compares ([`comparable`]) without the type: objects read
/// from a list carry none, those from a watch or a write do, and the type
/// is not content.
pub fn view(object: &DynamicObject) -> Value {
    let mut value = comparable(object);
    if let Some(map) = value.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    value
}

/// Hashes a value with sorted map keys and a tag per type, so that equal
/// values hash the same whatever order their keys came in.
fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(b) => hasher.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            hasher.update(b"#");
            hasher.update(n.to_string().as_bytes());
            hasher.update(b";");
        }
        Value::String(s) => {
            hasher.update(b"s");
            hasher.update((s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        }
        Value::Array(items) => {
            hasher.update(b"[");
            hasher.update((items.len() as u64).to_le_bytes());
            for item in items {
                feed(hasher, item);
            }
        }
        Value::Object(map) => {
            hasher.update(b"{");
            hasher.update((map.len() as u64).to_le_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hasher.update((key.len() as u64).to_le_bytes());
                hasher.update(key.as_bytes());
                feed(hasher, &map[key]);
            }
        }
    }
}

/// The paths of the fields that differ between `before` and `after`
/// (`data.color`, `spec.template.spec.containers[0].image`,
/// `metadata.labels["app.kubernetes.io/name"]`), at most `limit` of them,
/// in sorted order. Names only: values never appear, so a Secret's
/// content is never shown.
pub fn changed_paths(before: &Value, after: &Value, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    walk(before, after, &mut String::new(), &mut out, limit);
    out
}

fn walk(before: &Value, after: &Value, path: &mut String, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let len = path.len();
                push_key(path, key);
                walk(
                    b.get(key).unwrap_or(&Value::Null),
                    a.get(key).unwrap_or(&Value::Null),
                    path,
                    out,
                    limit,
                );
                path.truncate(len);
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (x, y)) in b.iter().zip(a).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(x, y, path, out, limit);
                path.truncate(len);
            }
        }
        _ => out.push(if path.is_empty() {
            "(whole object)".into()
        } else {
            path.clone()
        }),
    }
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

/// The field managers other than distro that wrote the object's content
/// (status writers left out), most recent first.
pub fn other_managers(object: &DynamicObject) -> Vec<String> {
    let mut entries: Vec<(String, String)> = object
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref().is_none_or(|s| s.is_empty()))
        .filter_map(|m| {
            let manager = m.manager.clone()?;
            (manager != FIELD_MANAGER).then(|| {
                let time = m.time.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
                (time, manager)
            })
        })
        .collect();
    entries.sort_by(|a, b| b.cmp(a));
    let mut out: Vec<String> = Vec::new();
    for (_, manager) in entries {
        if !out.contains(&manager) {
            out.push(manager);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};
    use kube::core::ApiResource;
    use serde_json::json;

    fn object(data: Value) -> DynamicObject {
        let mut o = DynamicObject::new(
            "c",
            &ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        )
        .within("ns");
        o.data = data;
        o
    }

    #[test]
    fn content_ignores_key_order_status_and_resource_version() {
        let mut a = object(json!({"data": {"a": "1", "b": "2"}}));
        let mut b = object(serde_json::from_str(r#"{"data": {"b": "2", "a": "1"}}"#).unwrap());
        a.metadata.resource_version = Some("1".into());
        b.metadata.resource_version = Some("2".into());
        b.data["status"] = json!({"ready": true});
        b.types = None;
        assert_eq!(content(&a), content(&b));
        let c = object(json!({"data": {"a": "1", "b": "3"}}));
        assert_ne!(content(&a), content(&c));
        // A string "1" and a number 1 are different content.
        assert_ne!(
            content(&object(json!({"data": {"a": "1"}}))),
            content(&object(json!({"data": {"a": 1}})))
        );
    }

    #[test]
    fn changed_paths_name_fields_not_values() {
        let before = json!({
            "data": {"color": "red", "size": "s"},
            "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"containers": [{"image": "a:1"}, {"image": "b:1"}]}
        });
        let after = json!({
            "data": {"color": "blue", "size": "s", "new": "v"},
            "metadata": {"labels": {"app.kubernetes.io/name": "y"}},
            "spec": {"containers": [{"image": "a:1"}, {"image": "b:2"}]}
        });
        assert_eq!(
            changed_paths(&before, &after, 10),
            [
                "data.color",
                "data.new",
                r#"metadata.labels["app.kubernetes.io/name"]"#,
                "spec.containers[1].image",
            ]
        );
        assert_eq!(changed_paths(&before, &after, 2).len(), 2);
        assert!(changed_paths(&before, &before, 10).is_empty());
        let shown = changed_paths(&before, &after, 10).join(" ");
        assert!(!shown.contains("blue") && !shown.contains("red"), "{shown}");
    }

    #[test]
    fn other_managers_newest_first_without_distro_or_status() {
        let entry = |manager: &str, secs: i64, sub: Option<&str>| ManagedFieldsEntry {
            manager: Some(manager.into()),
            subresource: sub.map(str::to_string),
            time: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(secs).unwrap(),
            )),
            ..Default::default()
        };
        let mut o = object(json!({}));
        o.metadata.managed_fields = Some(vec![
            entry("distro", 30, None),
            entry("kubectl-edit", 10, None),
            entry("hpa", 20, None),
            entry("kube-controller-manager", 40, Some("status")),
        ]);
        assert_eq!(other_managers(&o), ["hpa", "kubectl-edit"]);
    }
}
