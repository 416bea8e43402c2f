//! From rendered text to objects: split documents, check each is an object
//! Kubernetes can take, default its namespace, label it, serialise it.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::Error;
use crate::kinds::{self, Stage};
use crate::yaml;

/// Label every object gets, naming its release.
pub const RELEASE_LABEL: &str = "distro.dev/release";
/// The standard "managed by" label.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGER: &str = "distro";

/// Identity of an object in a cluster: group, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{kind}/{ns}/{}", self.name),
            None => write!(f, "{kind}/{}", self.name),
        }
    }
}

/// One finished object of a release.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: ObjectKey,
    pub api_version: String,
    /// The file it came from, inside the package (`templates/x.yaml`).
    pub source: String,
    /// The object as YAML, without a leading `---`.
    pub yaml: String,
}

impl Object {
    /// Position in the release's apply order.
    pub fn rank(&self) -> (Stage, u8) {
        kinds::rank(&self.key.group, &self.key.kind)
    }
}

/// Scope of custom kinds, learned from the CRDs in the render set:
/// `(group, kind) -> cluster-scoped`.
pub type Scopes = HashMap<(String, String), bool>;

/// The parts of a CRD that rendering needs. Parsing only these is much
/// cheaper than building a full tree.
#[derive(Deserialize)]
struct CrdHead {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    spec: Option<CrdSpec>,
}

#[derive(Deserialize)]
struct CrdSpec {
    group: String,
    names: CrdNames,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    versions: Vec<CrdVersion>,
}

#[derive(Deserialize)]
struct CrdNames {
    kind: String,
}

#[derive(Deserialize)]
struct CrdVersion {
    name: String,
    #[serde(default = "yes")]
    served: bool,
}

fn yes() -> bool {
    true
}

/// A CRD found in a document: its kind's scope and served apiVersions.
pub struct CrdInfo {
    pub group: String,
    pub kind: String,
    pub cluster_scoped: bool,
    pub api_versions: Vec<String>,
}

/// Reads the CRD head of a document, if the document is a CRD. Errors are
/// left for [`finish`], which parses every document fully.
pub fn crd_info(text: &str) -> Option<CrdInfo> {
    if !text.contains("CustomResourceDefinition") {
        return None;
    }
    let head: CrdHead = yaml::parse(text, 0).ok()?;
    if head.kind != "CustomResourceDefinition" {
        return None;
    }
    let spec = head.spec?;
    Some(CrdInfo {
        api_versions: spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| format!("{}/{}", spec.group, v.name))
            .collect(),
        cluster_scoped: spec.scope == "Cluster",
        group: spec.group,
        kind: spec.names.kind,
    })
}

/// Where a document came from, for messages.
pub struct Origin<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    /// `templates/x.yaml` inside the package.
    pub source: &'a str,
    /// The file as shown to users.
    pub shown: &'a str,
    /// Whether the text is a template's output rather than the file itself.
    pub rendered: bool,
}

/// Turns every document of one rendered file into objects.
pub fn finish(
    text: &str,
    origin: &Origin,
    scopes: &Scopes,
    errors: &mut Vec<Error>,
) -> Vec<Object> {
    let mut objects = Vec::new();
    for doc in yaml::split_documents(text) {
        match yaml::parse_value(doc.text, doc.first_line) {
            Ok(value) => match finish_one(value, origin, scopes) {
                Ok(obj) => objects.push(obj),
                Err(e) => errors.push(*e),
            },
            Err(e) => {
                let line = e.line.unwrap_or(doc.first_line + 1);
                errors.push(Error::Yaml {
                    release: origin.release.to_string(),
                    file: origin.shown.to_string(),
                    line,
                    rendered: origin.rendered,
                    message: e.message,
                    excerpt: text
                        .lines()
                        .nth(line.saturating_sub(1))
                        .or_else(|| text.lines().last())
                        .map(str::to_string),
                });
            }
        }
    }
    objects
}

fn finish_one(mut value: Value, origin: &Origin, scopes: &Scopes) -> Result<Object, Box<Error>> {
    let fail = |object: String, message: String| {
        Box::new(Error::Object {
            release: origin.release.to_string(),
            file: origin.shown.to_string(),
            object,
            message,
        })
    };
    let Value::Object(map) = &mut value else {
        return Err(fail(
            "document".into(),
            format!("is {}, not an object", crate::model::type_name(&value)),
        ));
    };
    let text_field = |map: &Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let api_version = text_field(map, "apiVersion");
    let has_items = map.contains_key("items");
    let kind = text_field(map, "kind");
    let metadata = match map.get_mut("metadata") {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    };
    let name = metadata
        .as_ref()
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let describe = format!(
        "{}/{}",
        kind.as_deref().unwrap_or("<no kind>"),
        name.as_deref().unwrap_or("<no name>")
    );
    let has_name = name.is_some();
    let (Some(api_version), Some(kind), Some(name), Some(metadata)) =
        (api_version, kind, name, metadata)
    else {
        let mut missing = Vec::new();
        if text_field(map, "apiVersion").is_none() {
            missing.push("apiVersion");
        }
        if text_field(map, "kind").is_none() {
            missing.push("kind");
        }
        if !has_name {
            missing.push("metadata.name");
        }
        return Err(fail(describe, format!("missing {}", missing.join(", "))));
    };
    if kind == "List" || kind.ends_with("List") && has_items {
        return Err(fail(
            describe,
            "lists are not supported: write one document per object".into(),
        ));
    }
    let (group, _) = kinds::split_api_version(&api_version);
    let group = group.to_string();
    let cluster_scoped = kinds::builtin_cluster_scoped(&group, &kind)
        .or_else(|| scopes.get(&(group.clone(), kind.clone())).copied())
        .unwrap_or(false);
    let namespace = match metadata.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(ns)) if ns.is_empty() => None,
        Some(Value::String(ns)) => Some(ns.clone()),
        Some(_) => return Err(fail(describe, "metadata.namespace must be a string".into())),
    };
    let namespace = match (cluster_scoped, namespace) {
        (true, Some(ns)) => {
            return Err(fail(
                describe,
                format!("{kind} is cluster-scoped but sets metadata.namespace {ns:?}"),
            ));
        }
        (true, None) => None,
        (false, Some(ns)) => Some(ns),
        (false, None) => {
            // Keep `namespace` next to `name`, where people look for it.
            let rest = std::mem::take(metadata);
            for (key, value) in rest {
                let after_name = key == "name";
                metadata.insert(key, value);
                if after_name {
                    metadata.insert(
                        "namespace".into(),
                        Value::String(origin.namespace.to_string()),
                    );
                }
            }
            Some(origin.namespace.to_string())
        }
    };
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let Value::Object(labels) = labels else {
        return Err(fail(describe, "metadata.labels must be a map".into()));
    };
    labels.insert(MANAGED_BY_LABEL.into(), Value::String(MANAGER.into()));
    labels.insert(
        RELEASE_LABEL.into(),
        Value::String(origin.release.to_string()),
    );

    Ok(Object {
        key: ObjectKey {
            group,
            kind,
            namespace,
            name,
        },
        api_version,
        source: origin.source.to_string(),
        yaml: yaml::to_string(&value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin {
            release: "rel",
            namespace: "ns",
            source: "templates/a.yaml",
            shown: "packages/p/1.0.0/templates/a.yaml",
            rendered: true,
        }
    }

    fn run(text: &str, scopes: &Scopes) -> (Vec<Object>, Vec<Error>) {
        let mut errors = Vec::new();
        let objects = finish(text, &origin(), scopes, &mut errors);
        (objects, errors)
    }

    #[test]
    fn namespaced_objects_get_the_release_namespace() {
        let (objs, errs) = run(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            &Scopes::new(),
        );
        assert!(errs.is_empty());
        assert_eq!(objs[0].key.namespace.as_deref(), Some("ns"));
        assert!(objs[0].yaml.contains("namespace: ns"));
        assert!(objs[0].yaml.contains("distro.dev/release: rel"));
        assert!(
            objs[0]
                .yaml
                .contains("app.kubernetes.io/managed-by: distro")
        );
    }

    #[test]
    fn explicit_namespace_is_kept() {
        let (objs, _) = run(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: other\n",
            &Scopes::new(),
        );
        assert_eq!(objs[0].key.namespace.as_deref(), Some("other"));
    }

    #[test]
    fn cluster_scoped_builtin_and_crd_kinds_get_no_namespace() {
        let mut scopes = Scopes::new();
        scopes.insert(("cert-manager.io".into(), "ClusterIssuer".into()), true);
        let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: i\n---\napiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata:\n  name: j\n";
        let (objs, errs) = run(text, &scopes);
        assert!(errs.is_empty());
        assert_eq!(objs[0].key.namespace, None);
        assert!(!objs[0].yaml.contains("namespace"));
        assert_eq!(objs[1].key.namespace, None);
        assert_eq!(objs[2].key.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn cluster_scoped_with_namespace_is_an_error() {
        let (_, errs) = run(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  namespace: b\n",
            &Scopes::new(),
        );
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().contains("cluster-scoped"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let (_, errs) = run(
            "apiVersion: v1\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            &Scopes::new(),
        );
        assert_eq!(errs.len(), 2);
        assert!(errs[0].to_string().contains("missing kind"), "{}", errs[0]);
        assert!(
            errs[1].to_string().contains("missing metadata.name"),
            "{}",
            errs[1]
        );
    }

    #[test]
    fn yaml_errors_carry_the_rendered_line() {
        let (_, errs) = run("a: 1\n---\nkind: x\nbad: [\n", &Scopes::new());
        assert_eq!(errs.len(), 2, "{errs:?}");
        match &errs[1] {
            Error::Yaml { line, excerpt, .. } => {
                assert!(*line >= 4, "{line}");
                assert!(excerpt.is_some());
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn crd_heads() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x\nspec:\n  group: g.io\n  names:\n    kind: X\n    plural: xs\n  scope: Cluster\n  versions:\n  - name: v1\n    served: true\n    storage: true\n";
        let info = crd_info(crd).unwrap();
        assert!(info.cluster_scoped);
        assert_eq!(info.api_versions, vec!["g.io/v1".to_string()]);
        assert!(crd_info("kind: ConfigMap\n").is_none());
    }
}
