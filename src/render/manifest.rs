//! From rendered text to objects: split documents, check each is an object
//! Kubernetes can take, default its namespace, label it, serialise it; then
//! a release's objects in apply order, as one manifest.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::crd;
use super::error::Error;
use super::metadata::{self, Field, Problem};
use crate::apply::ObjectKey;
use crate::kinds::{self, Stage};
use crate::model::{Step, line_of_path};
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
    /// The template says `distro.dev/reconcile: disabled`: known here so
    /// that apply need not parse the object to find out.
    disabled: bool,
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

    /// Whether the template says `distro.dev/reconcile: disabled`.
    pub fn disabled(&self) -> bool {
        self.disabled
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
    /// See [`Object::disabled`].
    pub disabled: bool,
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
                disabled: d.disabled,
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
#[derive(Debug, Clone)]
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
            Ok(value) => match finish_one(value, &doc, origin, &source, into) {
                Ok(draft) => into.drafts.push(draft),
                Err(mut e) => into.errors.append(&mut e),
            },
            Err(e) => {
                let line = e.line.unwrap_or(doc.first_line + 1);
                into.errors.push(Error::Yaml {
                    release: origin.release.to_string(),
                    file: origin.shown.to_string(),
                    line,
                    rendered: origin.rendered,
                    message: e.message,
                    excerpt: yaml::excerpt(text, line),
                });
            }
        }
    }
}

/// A required string field of an object: `Ok(None)` when it is missing,
/// null or empty, `Err` naming what it is when it is not a string (an
/// unquoted `apiVersion: 1` is a number, not a missing field).
fn string_field(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            let shown = match other {
                Value::Array(_) | Value::Object(_) => String::new(),
                scalar => format!(" ({scalar})"),
            };
            Err(format!(
                "must be a string, found {}{shown}",
                crate::model::type_name(other)
            ))
        }
    }
}

fn finish_one(
    mut value: Value,
    doc: &yaml::Document,
    origin: &Origin,
    source: &Arc<str>,
    into: &mut Finisher,
) -> Result<Draft, Vec<Error>> {
    let fail = |object: &str, at: &[Field], message: String| Error::Object {
        release: origin.release.to_string(),
        file: origin.shown.to_string(),
        line: line_in(doc, at),
        rendered: origin.rendered,
        object: object.to_string(),
        message,
    };
    let Value::Object(map) = &mut value else {
        return Err(vec![fail(
            "document",
            &[],
            format!("is {}, not an object", crate::model::type_name(&value)),
        )]);
    };

    // What identifies the object: every problem with it at once.
    let mut missing = Vec::new();
    let mut wrong: Vec<(Vec<Field>, String)> = Vec::new();
    let mut required = |map: &Map<String, Value>, key: &str, shown: &str, at: &[&str]| {
        match string_field(map, key) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                missing.push(shown.to_string());
                None
            }
            Err(m) => {
                wrong.push((keys(at), format!("{shown} {m}")));
                None
            }
        }
    };
    let api_version = required(map, "apiVersion", "apiVersion", &["apiVersion"]);
    let kind = required(map, "kind", "kind", &["kind"]);
    let name = match map.get("metadata") {
        Some(Value::Object(m)) => required(m, "name", "metadata.name", &["metadata", "name"]),
        None | Some(Value::Null) => {
            missing.push("metadata.name".to_string());
            None
        }
        Some(other) => {
            wrong.push((
                keys(&["metadata"]),
                format!(
                    "metadata must be a map, found {}",
                    crate::model::type_name(other)
                ),
            ));
            None
        }
    };
    let describe = format!(
        "{}/{}",
        kind.as_deref().unwrap_or("<no kind>"),
        name.as_deref().unwrap_or("<no name>")
    );
    let (Some(api_version), Some(kind), Some(name)) = (api_version, kind, name) else {
        let mut errors = Vec::new();
        if !missing.is_empty() {
            errors.push(fail(
                &describe,
                &[],
                format!("missing {}", missing.join(", ")),
            ));
        }
        for (at, message) in wrong {
            errors.push(fail(&describe, &at, message));
        }
        return Err(errors);
    };
    if kind == "List" || kind.ends_with("List") && map.contains_key("items") {
        return Err(vec![fail(
            &describe,
            &keys(&["kind"]),
            "lists are not supported: write one document per object".into(),
        )]);
    }
    let (group, _) = kinds::split_api_version(&api_version);
    let group = group.to_string();
    let is_crd = group == crd::GROUP && kind == crd::KIND;
    if !origin.rendered && !is_crd {
        return Err(vec![fail(
            &describe,
            &keys(&["kind"]),
            format!(
                "crds/ holds CustomResourceDefinitions only (apiVersion {}/v1); move this {kind} to templates/",
                crd::GROUP
            ),
        )]);
    }

    // What the API server would refuse.
    let Some(Value::Object(metadata)) = map.get("metadata") else {
        unreachable!("metadata.name was read from a map")
    };
    let mut problems = metadata::check(&group, &kind, metadata);
    if is_crd {
        problems.extend(crd::check(map));
    }
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
        Some(other) => {
            problems.push(Problem::new(
                &["metadata", "namespace"],
                format!(
                    "metadata.namespace must be a string, found {}",
                    crate::model::type_name(other)
                ),
            ));
            None
        }
    };
    if cluster_scoped && let Some(ns) = &namespace {
        problems.push(Problem::new(
            &["metadata", "namespace"],
            format!("{kind} is cluster-scoped but sets metadata.namespace {ns:?}"),
        ));
    }
    if !problems.is_empty() {
        return Err(problems
            .into_iter()
            .map(|p| fail(&describe, &p.at, p.message))
            .collect());
    }

    let Some(Value::Object(metadata)) = map.get_mut("metadata") else {
        unreachable!("metadata was checked to be a map")
    };
    let namespace = match (cluster_scoped, namespace) {
        (true, _) => None,
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
        unreachable!("metadata.labels was checked to be a map")
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
        disabled: crate::apply::disabled_value(&value),
    })
}

fn keys(at: &[&str]) -> Vec<Field> {
    at.iter().map(|k| Field::Key(k.to_string())).collect()
}

/// The 1-based line, in the file or rendered output, of the field `at` of a
/// document; the document's first line when the field is not found.
fn line_in(doc: &yaml::Document, at: &[Field]) -> usize {
    let steps: Vec<Step> = at
        .iter()
        .map(|f| match f {
            Field::Key(k) => Step::Key(k),
            Field::Index(i) => Step::Index(*i),
        })
        .collect();
    let within = (!steps.is_empty())
        .then(|| line_of_path(doc.text, &steps))
        .flatten()
        .or_else(|| {
            // The first line that is not blank or a comment.
            doc.text
                .lines()
                .position(|l| {
                    let t = l.trim();
                    !t.is_empty() && !t.starts_with('#')
                })
                .map(|i| i + 1)
        })
        .unwrap_or(1);
    doc.first_line + within
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
