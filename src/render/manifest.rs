//! From rendered text to objects: split documents, check each is an object
//! Kubernetes can take, default its namespace, label it, serialise it; then
//! a release's objects in apply order, as one manifest.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::Error;
use crate::apply::ObjectKey;
use crate::kinds::{self, Stage};
use crate::yaml;

/// Label every object gets, naming its release.
pub const RELEASE_LABEL: &str = "distro.dev/release";
/// The standard "managed by" label.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_BY: &str = "distro";

/// One finished object of a release.
#[derive(Clone)]
pub struct Object {
    pub key: ObjectKey,
    pub api_version: String,
    /// The file it came from, inside the package (`templates/x.yaml`),
    /// shared by the objects of that file.
    pub source: Arc<str>,
    /// The release's manifest, shared by all its objects, so that the
    /// rendered text exists once.
    manifest: Arc<String>,
    /// Where this object's YAML is in `manifest`.
    start: usize,
    end: usize,
}

impl Object {
    /// Position in the release's apply order.
    pub fn rank(&self) -> (Stage, u8) {
        kinds::rank(&self.key.group, &self.key.kind)
    }

    /// The object as YAML, without a leading `---`: its document in the
    /// release's manifest.
    pub fn yaml(&self) -> &str {
        &self.manifest[self.start..self.end]
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("key", &self.key)
            .field("api_version", &self.api_version)
            .field("source", &self.source)
            .field("yaml", &self.yaml())
            .finish()
    }
}

/// An object of a release before the release's objects are put in order:
/// its YAML is a span of [`Finisher::yaml`].
#[derive(Debug)]
pub struct Draft {
    pub key: ObjectKey,
    pub api_version: String,
    pub source: Arc<str>,
    pub span: Range<usize>,
}

impl Draft {
    fn rank(&self) -> (Stage, u8) {
        kinds::rank(&self.key.group, &self.key.kind)
    }
}

/// Turns the documents of one release's files into objects, and collects
/// what the rest of rendering needs to know about them.
pub struct Finisher<'a> {
    /// Scope of custom kinds known when the release is finished.
    pub scopes: &'a Scopes,
    /// The objects' YAML, one after the other.
    pub yaml: String,
    pub drafts: Vec<Draft>,
    pub errors: Vec<Error>,
    /// Custom kinds (group, kind) whose scope was looked up in `scopes`: the
    /// release depends on what is known about them.
    pub consulted: Vec<(String, String)>,
    /// CRDs found in rendered (template) text.
    pub crds: Vec<CrdInfo>,
}

impl<'a> Finisher<'a> {
    pub fn new(scopes: &'a Scopes) -> Self {
        Self {
            scopes,
            yaml: String::new(),
            drafts: Vec::new(),
            errors: Vec::new(),
            consulted: Vec::new(),
            crds: Vec::new(),
        }
    }

    /// Puts the objects in apply order (stable: objects of one stage keep
    /// file order, then document order).
    pub fn sort(&mut self) {
        self.drafts.sort_by_key(Draft::rank);
    }
}

const SOURCE_LINE: &str = "---\n# Source: ";

/// The pieces of a release's manifest, in order: each object (in the order
/// of `drafts`) as `---`, `# Source: <release>/<file>`, then its YAML.
pub fn manifest_pieces<'t>(
    release: &'t str,
    yaml: &'t str,
    drafts: &'t [Draft],
) -> impl Iterator<Item = &'t str> + 't {
    drafts.iter().flat_map(move |d| {
        [
            SOURCE_LINE,
            release,
            "/",
            &*d.source,
            "\n",
            &yaml[d.span.clone()],
        ]
    })
}

/// The release's manifest, built from sorted drafts, and its objects, each
/// holding the manifest and where its YAML is in it. Everything is copied
/// into fresh allocations of exactly the size needed: what the caller keeps
/// is allocated by the caller's thread.
pub fn assemble(release: &str, yaml: &str, drafts: &[Draft]) -> (Vec<Object>, Arc<String>) {
    let size: usize = manifest_pieces(release, yaml, drafts).map(str::len).sum();
    let mut text = String::with_capacity(size);
    let mut spans = Vec::with_capacity(drafts.len());
    for draft in drafts {
        for piece in [SOURCE_LINE, release, "/", &*draft.source, "\n"] {
            text.push_str(piece);
        }
        let start = text.len();
        text.push_str(&yaml[draft.span.clone()]);
        spans.push((start, text.len()));
    }
    let manifest = Arc::new(text);
    let mut sources: Vec<(&str, Arc<str>)> = Vec::new();
    let objects = drafts
        .iter()
        .zip(spans)
        .map(|(d, (start, end))| {
            let source = match sources.iter().find(|(s, _)| *s == &*d.source) {
                Some((_, shared)) => Arc::clone(shared),
                None => {
                    let shared: Arc<str> = Arc::from(&*d.source);
                    sources.push((&d.source, Arc::clone(&shared)));
                    shared
                }
            };
            Object {
                key: d.key.clone(),
                api_version: d.api_version.clone(),
                source,
                manifest: Arc::clone(&manifest),
                start,
                end,
            }
        })
        .collect();
    (objects, manifest)
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

/// Turns every document of one file of the release into objects.
pub fn finish(text: &str, origin: &Origin, into: &mut Finisher) {
    let source: Arc<str> = Arc::from(origin.source);
    for doc in yaml::split_documents(text) {
        if origin.rendered
            && let Some(info) = crd_info(doc.text)
        {
            into.crds.push(info);
        }
        match yaml::parse_value(doc.text, doc.first_line) {
            Ok(value) => match finish_one(value, origin, &source, into) {
                Ok(draft) => into.drafts.push(draft),
                Err(e) => into.errors.push(*e),
            },
            Err(e) => {
                let line = e.line.unwrap_or(doc.first_line + 1);
                into.errors.push(Error::Yaml {
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
}

fn finish_one(
    mut value: Value,
    origin: &Origin,
    source: &Arc<str>,
    into: &mut Finisher,
) -> Result<Draft, Box<Error>> {
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
    let cluster_scoped = match kinds::builtin_cluster_scoped(&group, &kind) {
        Some(scoped) => scoped,
        None => {
            let key = (group.clone(), kind.clone());
            let scoped = into.scopes.get(&key).copied().unwrap_or(false);
            if !into.consulted.contains(&key) {
                into.consulted.push(key);
            }
            scoped
        }
    };
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
    labels.insert(MANAGED_BY_LABEL.into(), Value::String(MANAGED_BY.into()));
    labels.insert(
        RELEASE_LABEL.into(),
        Value::String(origin.release.to_string()),
    );

    let start = into.yaml.len();
    yaml::append(&mut into.yaml, &value);
    Ok(Draft {
        key: ObjectKey {
            group,
            kind,
            namespace,
            name,
        },
        api_version,
        source: Arc::clone(source),
        span: start..into.yaml.len(),
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
        let mut finisher = Finisher::new(scopes);
        finish(text, &origin(), &mut finisher);
        finisher.sort();
        let (objects, _) = assemble("rel", &finisher.yaml, &finisher.drafts);
        (objects, finisher.errors)
    }

    #[test]
    fn namespaced_objects_get_the_release_namespace() {
        let (objs, errs) = run(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            &Scopes::new(),
        );
        assert!(errs.is_empty());
        assert_eq!(objs[0].key.namespace.as_deref(), Some("ns"));
        assert!(objs[0].yaml().contains("namespace: ns"));
        assert!(objs[0].yaml().contains("distro.dev/release: rel"));
        assert!(
            objs[0]
                .yaml()
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
        assert!(!objs[0].yaml().contains("namespace"));
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
