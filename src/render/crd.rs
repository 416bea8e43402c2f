//! Checks of a CustomResourceDefinition's shape, the parts the API server
//! refuses on create and that rendering itself relies on (group, names,
//! scope, versions): a CRD that is wrong here would also give the wrong
//! scope to the objects of its kind.

use serde_json::{Map, Value};

use super::metadata::{Field, Problem};
use crate::model::type_name;
use crate::names;

/// The group and kind of a CustomResourceDefinition.
pub const GROUP: &str = "apiextensions.k8s.io";
pub const KIND: &str = "CustomResourceDefinition";

/// Every problem of a CRD object (a map with a string `metadata.name`).
pub fn check(object: &Map<String, Value>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let spec = match object.get("spec") {
        Some(Value::Object(spec)) => spec,
        None | Some(Value::Null) => {
            problems.push(Problem::new(&[], "a CustomResourceDefinition needs a spec"));
            return problems;
        }
        Some(other) => {
            problems.push(Problem::new(
                &["spec"],
                format!("spec must be a map, found {}", type_name(other)),
            ));
            return problems;
        }
    };

    let group = text(spec, "group", &["spec"], &mut problems).filter(|group| {
        let ok = names::check_subdomain(group).is_ok() && group.contains('.');
        if !ok {
            problems.push(Problem::new(
                &["spec", "group"],
                format!(
                    "spec.group {group:?} must be a DNS subdomain with at least one dot (example.com)"
                ),
            ));
        }
        ok
    });

    let plural = match spec.get("names") {
        Some(Value::Object(names)) => check_names(names, &mut problems),
        None | Some(Value::Null) => {
            problems.push(Problem::new(&["spec"], "missing spec.names"));
            None
        }
        Some(other) => {
            problems.push(Problem::new(
                &["spec", "names"],
                format!(
                    "spec.names must be a map (kind, plural, ...), found {}",
                    type_name(other)
                ),
            ));
            None
        }
    };

    match spec.get("scope") {
        Some(Value::String(s)) if s == "Namespaced" || s == "Cluster" => {}
        None | Some(Value::Null) => problems.push(Problem::new(
            &["spec"],
            "missing spec.scope: Namespaced or Cluster",
        )),
        Some(other) => problems.push(Problem::new(
            &["spec", "scope"],
            format!("spec.scope {other} must be Namespaced or Cluster"),
        )),
    }

    check_versions(spec, &mut problems);

    if let (Some(group), Some(plural), Some(Value::String(name))) = (
        group,
        plural,
        object.get("metadata").and_then(|m| m.get("name")),
    ) && *name != format!("{plural}.{group}")
    {
        problems.push(Problem::new(
            &["metadata", "name"],
            format!(
                "metadata.name {name:?} must be spec.names.plural + \".\" + spec.group: \"{plural}.{group}\""
            ),
        ));
    }
    problems
}

/// Checks `spec.names`; the plural, when it is usable.
fn check_names<'a>(names: &'a Map<String, Value>, problems: &mut Vec<Problem>) -> Option<&'a str> {
    let at = ["spec", "names"];
    let plural = text(names, "plural", &at, problems);
    let kind = text(names, "kind", &at, problems);
    for key in ["plural", "singular"] {
        if let Some(Value::String(v)) = names.get(key)
            && !v.is_empty()
            && names::check_label_1035(v).is_err()
        {
            problems.push(Problem::new(
                &["spec", "names", key],
                format!(
                    "spec.names.{key} {v:?} must be a lower-case DNS-1035 label (letters, digits and '-', starting with a letter)"
                ),
            ));
        }
    }
    if let Some(kind) = kind
        && names::check_label_1035(&kind.to_ascii_lowercase()).is_err()
    {
        problems.push(Problem::new(
            &["spec", "names", "kind"],
            format!("spec.names.kind {kind:?} must be letters and digits, starting with a letter"),
        ));
    }
    plural.filter(|p| names::check_label_1035(p).is_ok())
}

fn check_versions(spec: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let versions = match spec.get("versions") {
        Some(Value::Array(v)) if !v.is_empty() => v,
        None | Some(Value::Null) | Some(Value::Array(_)) => {
            problems.push(Problem::new(
                &["spec"],
                "spec.versions must list at least one version",
            ));
            return;
        }
        Some(other) => {
            problems.push(Problem::new(
                &["spec", "versions"],
                format!("spec.versions must be a list, found {}", type_name(other)),
            ));
            return;
        }
    };
    let mut storage = 0;
    for (i, version) in versions.iter().enumerate() {
        let at = || {
            vec![
                Field::Key("spec".into()),
                Field::Key("versions".into()),
                Field::Index(i),
            ]
        };
        let Value::Object(version) = version else {
            problems.push(Problem {
                at: at(),
                message: format!(
                    "spec.versions[{i}] must be a map, found {}",
                    type_name(version)
                ),
            });
            continue;
        };
        match version.get("name") {
            Some(Value::String(name)) if !name.is_empty() => {}
            _ => problems.push(Problem {
                at: at(),
                message: format!("spec.versions[{i}].name must be a version name such as v1"),
            }),
        }
        if version.get("storage") == Some(&Value::Bool(true)) {
            storage += 1;
        }
    }
    if storage != 1 {
        problems.push(Problem::new(
            &["spec", "versions"],
            format!("exactly one of spec.versions must have storage: true ({storage} have)"),
        ));
    }
}

/// A required, non-empty string field of `map` (at `at`).
fn text<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<&'a str> {
    let dotted = || {
        let mut path = at.join(".");
        path.push('.');
        path.push_str(key);
        path
    };
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        None | Some(Value::Null) => {
            problems.push(Problem::new(at, format!("missing {}", dotted())));
            None
        }
        Some(Value::String(_)) => {
            problems.push(Problem::new(at, format!("{} is empty", dotted())));
            None
        }
        Some(other) => {
            let mut field: Vec<&str> = at.to_vec();
            field.push(key);
            problems.push(Problem::new(
                &field,
                format!("{} must be a string, found {}", dotted(), type_name(other)),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(object: Value) -> Vec<String> {
        let Value::Object(m) = object else {
            panic!("not a map")
        };
        check(&m).into_iter().map(|p| p.message).collect()
    }

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.dev"},
            "spec": {
                "group": "example.dev",
                "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true}]
            }
        })
    }

    #[test]
    fn a_good_crd_passes() {
        assert!(messages(crd()).is_empty());
    }

    #[test]
    fn shapes_and_values_are_named() {
        let mut c = crd();
        c["spec"]["names"] = json!(["Widget"]);
        assert_eq!(
            messages(c),
            ["spec.names must be a map (kind, plural, ...), found a list"]
        );
        let mut c = crd();
        c["spec"]["scope"] = json!("cluster");
        assert_eq!(
            messages(c),
            ["spec.scope \"cluster\" must be Namespaced or Cluster"]
        );
        let mut c = crd();
        c["metadata"]["name"] = json!("widget.example.dev");
        assert_eq!(messages(c).len(), 1);
        let mut c = crd();
        c["spec"]["versions"][0]["storage"] = json!(false);
        assert_eq!(messages(c).len(), 1);
        let mut c = crd();
        c["spec"]["group"] = json!("example");
        assert_eq!(messages(c).len(), 1);
        assert_eq!(
            messages(json!({"spec": 1})),
            ["spec must be a map, found a number"]
        );
    }
}
