//! Values: deep merge with Helm's rules, and JSON-path naming for messages.

use serde_json::{Map, Value};

/// Merges `overlay` into `base`, later wins.
///
/// Maps merge key by key, recursively; any other value (lists included)
/// replaces what was there. A `null` in the overlay deletes the key, which is
/// how Helm users turn off a default.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base_map), Value::Object(overlay_map)) => merge_maps(base_map, overlay_map),
        (base, overlay) => *base = strip_nulls(overlay),
    }
}

fn merge_maps(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match value {
            Value::Null => {
                base.remove(key);
            }
            Value::Object(_) => match base.get_mut(key) {
                Some(existing @ Value::Object(_)) => merge(existing, value),
                _ => {
                    base.insert(key.clone(), strip_nulls(value));
                }
            },
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The same value with its maps and lists using no more memory than their
/// content needs (merging grows them as it inserts). Order is kept.
pub fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, compact(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

/// A null inside a map that replaces a non-map has nothing to delete; drop it
/// so that the result does not depend on what the base held.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Turns a JSON pointer (`/image/tags/0`) into the path users write in
/// templates (`values.image.tags[0]`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::from("values");
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else if part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push('.');
            out.push_str(&part);
        } else {
            out.push_str(&format!("[{part:?}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_wins_and_maps_merge_deeply() {
        let mut base = json!({"image": {"repo": "a", "tag": "1"}, "replicas": 1, "list": [1, 2]});
        merge(&mut base, &json!({"image": {"tag": "2"}, "list": [3]}));
        assert_eq!(
            base,
            json!({"image": {"repo": "a", "tag": "2"}, "replicas": 1, "list": [3]})
        );
    }

    #[test]
    fn null_deletes_a_key() {
        let mut base = json!({"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}});
        merge(&mut base, &json!({"resources": {"limits": null}}));
        assert_eq!(base, json!({"resources": {"requests": {"cpu": "1"}}}));
    }

    #[test]
    fn null_for_a_missing_key_leaves_nothing_behind() {
        let mut base = json!({"a": 1});
        merge(&mut base, &json!({"b": null, "c": {"d": null, "e": 1}}));
        assert_eq!(base, json!({"a": 1, "c": {"e": 1}}));
    }

    #[test]
    fn map_replaces_scalar_and_scalar_replaces_map() {
        let mut base = json!({"a": 1, "b": {"x": 1}});
        merge(&mut base, &json!({"a": {"y": 2}, "b": "flat"}));
        assert_eq!(base, json!({"a": {"y": 2}, "b": "flat"}));
    }

    #[test]
    fn merge_order_is_precedence() {
        // package < valuesFiles < bundle < platform
        let mut v = json!({"replicas": 1, "log": "info"});
        for layer in [
            json!({"replicas": 2}),
            json!({"replicas": 3, "log": "debug"}),
            json!({"replicas": 4}),
        ] {
            merge(&mut v, &layer);
        }
        assert_eq!(v, json!({"replicas": 4, "log": "debug"}));
    }

    #[test]
    fn pointers_become_template_paths() {
        assert_eq!(pointer_to_path(""), "values");
        assert_eq!(pointer_to_path("/image/tags/0"), "values.image.tags[0]");
        assert_eq!(pointer_to_path("/a~1b"), "values[\"a/b\"]");
    }
}
