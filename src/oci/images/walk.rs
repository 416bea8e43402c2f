//! Where images are in an object: the one walker that both finding
//! ([`super::find`]) and relocation ([`crate::oci::relocate`]) use, so that
//! they can never disagree about where an image is named.
//!
//! Image fields, for every object:
//! - each item of a `containers`, `initContainers` or `ephemeralContainers`
//!   list, at any depth: its `image`. That is every pod spec: Pods, the
//!   templates of Deployments, DaemonSets, StatefulSets, ReplicaSets, Jobs,
//!   ReplicationControllers, CronJobs (`spec.jobTemplate.spec.template`),
//!   and the pod templates and extra containers of custom resources
//!   (LinstorSatelliteConfiguration `spec.podTemplate`, VMAgent
//!   `spec.containers`, Prometheus `spec.containers`).
//! - each item of a `volumes` list with an `image` volume source:
//!   `image.reference` (Kubernetes image volumes).
//!
//! and for custom resources (kinds Kubernetes does not build in) also:
//! - a string field named `image` (Prometheus `spec.image`, Thanos
//!   `spec.thanos.image`);
//! - a map field named `image` with a string `repository`, and optionally
//!   `registry`, `tag` and `digest`, as most operators and Helm charts
//!   split a reference (VictoriaMetrics `spec.image`, VMCluster
//!   `spec.vmstorage.image`): `[registry/]repository[:tag][@digest]`.
//!
//! Registry prefixes, which operators join image names of their own under
//! (custom resources and embedded documents only):
//! - a string field named `imageRegistry` (KubeVirt `spec.imageRegistry`,
//!   Helm's `global.imageRegistry`);
//! - `registry` of an `image` map without a `repository` (Helm-style
//!   `image: {registry, tag}`);
//! - `base` of an image-configuration document, a map with a `base` and
//!   `components` of `{image, tag}` (the Piraeus operator's image
//!   ConfigMap);
//! - the fields of [`PREFIX_FIELDS`] (LINSTOR `spec.repository`).
//!
//! Text: every other string of an object, `metadata` and `status`
//! included, where [`super::text`] finds references as whole tokens
//! (environment variables, flags, ConfigMap data). A string that holds a
//! YAML or JSON document (a ConfigMap key's file) is also read as one, and
//! its split image maps and registry prefixes are sites too, at paths like
//! `data.images.yaml#components.x.image`; a document one of them changes is
//! written back whole (comments and layout are not kept).
//!
//! Never looked into: Secrets (their data must not leak into listings or
//! messages, and is base64 anyway), ConfigMap `binaryData`, `apiVersion`
//! and `kind`. `metadata` and `status` hold no image fields (an annotation
//! named `image` is not an image the object runs), and built-in kinds get
//! only the container rules, so a ConfigMap key named `image` is text.

use serde_json::{Map, Value};

use crate::oci::reference::{self, Reference};

mod embedded;

/// Keys whose list items are containers.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Registry-prefix fields known by kind, where the field's name alone
/// would say too little (`repository` names Git repositories too):
/// `(group, kind, path)`.
pub const PREFIX_FIELDS: [(&str, &str, &str); 1] =
    [("piraeus.io", "LinstorCluster", "spec.repository")];

/// One place of an object that names images.
pub struct Site<'a> {
    /// Where it is: `spec.template.spec.containers[0].image`.
    pub path: String,
    pub field: Field<'a>,
}

/// The field holding an image, ready to be read or rewritten.
pub enum Field<'a> {
    /// A whole reference in one string.
    Whole(&'a mut String),
    /// A map with `repository` and optionally `registry`, `tag`, `digest`.
    Parts(&'a mut Map<String, Value>),
    /// A container's `image` that is not a string: the object is broken.
    NotAString(&'static str),
    /// Any other string, which may mention references as whole tokens
    /// ([`super::text`]).
    Text(&'a mut String),
    /// A registry prefix that an operator joins image names under
    /// ([`Prefix`](crate::oci::reference::Prefix)), and the names when the field says which.
    Prefix {
        text: &'a mut String,
        names: Option<Vec<String>>,
        /// The images (`name:tag`, joined to the prefix) the field's
        /// document composes, when it says which: an image
        /// configuration's components and their per-node `match`
        /// variants, which an operator starts and no manifest names.
        images: Vec<String>,
    },
}

impl Field<'_> {
    /// The reference the field names, as written (parts joined).
    pub fn text(&self) -> String {
        match self {
            Field::Whole(s) => s.to_string(),
            Field::Parts(map) => {
                let part = |key: &str| match map.get(key) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
                    _ => None,
                };
                let mut text = String::new();
                if let Some(registry) = part("registry") {
                    text.push_str(registry.trim_end_matches('/'));
                    text.push('/');
                }
                text.push_str(part("repository").unwrap_or_default());
                if let Some(tag) = part("tag") {
                    text.push(':');
                    text.push_str(tag);
                }
                if let Some(digest) = part("digest") {
                    text.push('@');
                    text.push_str(digest);
                }
                text
            }
            Field::NotAString(type_name) => format!("<{type_name}>"),
            Field::Text(s) | Field::Prefix { text: s, .. } => s.to_string(),
        }
    }

    /// The registry prefix a prefix field holds.
    ///
    /// # Errors
    /// The field is not a prefix field, or its text is not a registry and
    /// path.
    pub fn prefix(&self) -> Result<reference::Prefix, String> {
        let Field::Prefix { text, names, .. } = self else {
            return Err("not a registry prefix".into());
        };
        let mut prefix =
            reference::Prefix::parse(text).map_err(|e| format!("not a registry and path: {e}"))?;
        prefix.names = names.clone();
        Ok(prefix)
    }

    /// Whether the field is an image field (the object runs what it names),
    /// rather than text or a registry prefix.
    pub fn is_image(&self) -> bool {
        matches!(
            self,
            Field::Whole(_) | Field::Parts(_) | Field::NotAString(_)
        )
    }

    /// The normalised reference.
    ///
    /// # Errors
    /// The field does not hold a valid reference.
    pub fn reference(&self) -> Result<Reference, String> {
        match self {
            Field::NotAString(type_name) => Err(format!("must be a string, found {type_name}")),
            Field::Parts(map) => {
                for key in ["registry", "tag", "digest"] {
                    if let Some(v) = map.get(key)
                        && !(v.is_string() || v.is_null())
                    {
                        return Err(format!(
                            "{key} must be a string, found {}",
                            crate::model::type_name(v)
                        ));
                    }
                }
                Reference::parse(&self.text()).map_err(|e: reference::Error| e.to_string())
            }
            Field::Whole(_) => Reference::parse(&self.text()).map_err(|e| e.to_string()),
            Field::Text(_) | Field::Prefix { .. } => Err("not an image field".into()),
        }
    }

    /// Points an image field at `target`, a reference by digest. A split field
    /// keeps its shape: `repository` (and `registry` when it has one) get
    /// the new name, and the digest goes to `digest` when the map has that
    /// key, or after the tag (`tag: v1@sha256:...`) so that the usual
    /// `{{ repository }}:{{ tag }}` joins into `name:tag@digest`, which
    /// container runtimes pull by digest.
    pub fn set(&mut self, target: &Reference, original: &Reference) {
        match self {
            Field::Whole(s) => **s = target.to_string(),
            Field::Parts(map) => {
                if map.contains_key("registry") {
                    map.insert("registry".into(), Value::String(target.registry.clone()));
                    map.insert(
                        "repository".into(),
                        Value::String(target.repository.clone()),
                    );
                } else {
                    map.insert("repository".into(), Value::String(target.name()));
                }
                let digest = target.digest.clone().unwrap_or_default();
                if map.contains_key("digest") {
                    map.insert("digest".into(), Value::String(digest));
                } else {
                    let tag = original.tag.as_deref().unwrap_or("latest");
                    map.insert("tag".into(), Value::String(format!("{tag}@{digest}")));
                }
            }
            Field::NotAString(_) | Field::Text(_) | Field::Prefix { .. } => {}
        }
    }
}

/// What applies where in a tree.
#[derive(Clone, Copy)]
struct Rules {
    /// Container lists and image volumes.
    containers: bool,
    /// The custom-resource rules: `image` fields and registry prefixes.
    custom: bool,
    /// Strings are text sites, and may hold documents.
    text: bool,
    /// Inside an embedded document: its strings are left to the text of
    /// the whole document, so only split maps and prefixes are sites.
    embedded: bool,
    /// [`PREFIX_FIELDS`] paths of the object's kind.
    prefixes: &'static [(&'static str, &'static str, &'static str)],
}

/// The group and kind an object says it is.
fn kind_of(object: &Value) -> (&str, &str) {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (group, kind)
}

/// Calls `visit` with every site of a rendered object (see the module
/// rules), in document order. The object's kind is read from its own
/// `apiVersion` and `kind`.
///
/// # Errors
/// The first error `visit` returns.
pub fn object<E>(
    object: &mut Value,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let (group, kind) = kind_of(object);
    let (group, kind) = (group.to_string(), kind.to_string());
    let core = group.is_empty();
    if core && kind == "Secret" {
        return Ok(());
    }
    let body = Rules {
        containers: true,
        custom: super::is_custom(&group, &kind),
        text: true,
        embedded: false,
        prefixes: prefixes_of(&group, &kind),
    };
    let Value::Object(map) = object else {
        return Ok(());
    };
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "binaryData" if core && kind == "ConfigMap" => {}
            "metadata" | "status" => {
                let text_only = Rules {
                    containers: false,
                    custom: false,
                    prefixes: &[],
                    ..body
                };
                node(value, key.clone(), text_only, visit)?
            }
            _ => node(value, key.clone(), body, visit)?,
        }
    }
    Ok(())
}

fn prefixes_of(group: &str, kind: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match PREFIX_FIELDS
        .iter()
        .position(|(g, k, _)| *g == group && *k == kind)
    {
        Some(i) => &PREFIX_FIELDS[i..=i],
        None => &[],
    }
}

/// [`object`] for a values tree (not an object: nothing is skipped), with
/// the custom-resource rules, which are also how charts' values name
/// images (`image.repository` and `image.tag`). Values are not manifests:
/// their strings are not text sites.
///
/// # Errors
/// The first error `visit` returns.
pub fn values<E>(
    values: &mut Value,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let rules = Rules {
        containers: true,
        custom: true,
        text: false,
        embedded: false,
        prefixes: &[],
    };
    node(values, String::new(), rules, visit)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() || path.ends_with('#') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

fn nonempty(value: &Value) -> bool {
    matches!(value, Value::String(s) if !s.is_empty())
}

/// What a Piraeus-style image configuration names.
struct ImageConfig {
    /// The image names joined to its `base`.
    names: Vec<String>,
    /// `name:tag` of every image it can start.
    images: Vec<String>,
}

/// The image names of a Piraeus-style image configuration (a `base`, and
/// `components` each with an `image` and a `tag`, and optionally `match`
/// entries with an `image` each, for nodes whose OS image matches, and the
/// component's tag unless they have their own), when `map` is one.
fn image_config(map: &Map<String, Value>) -> Option<ImageConfig> {
    let Some(Value::Object(components)) = map.get("components") else {
        return None;
    };
    if !nonempty(map.get("base").unwrap_or(&Value::Null)) || components.is_empty() {
        return None;
    }
    let text = |entry: &Value, key: &str| match entry.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let tagged = |name: &str, tag: Option<String>| match tag {
        Some(tag) => format!("{name}:{tag}"),
        None => name.to_string(),
    };
    let mut names = Vec::new();
    let mut images = Vec::new();
    for component in components.values() {
        let name = text(component, "image")?;
        let tag = text(component, "tag");
        images.push(tagged(&name, tag.clone()));
        names.push(name);
        if let Some(Value::Array(rules)) = component.get("match") {
            for rule in rules {
                if let Some(name) = text(rule, "image") {
                    images.push(tagged(&name, text(rule, "tag").or_else(|| tag.clone())));
                    names.push(name);
                }
            }
        }
    }
    names.sort();
    names.dedup();
    images.sort();
    images.dedup();
    Some(ImageConfig { names, images })
}

fn node<E>(
    value: &mut Value,
    path: String,
    rules: Rules,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        Value::Object(map) => {
            let config = if rules.custom {
                image_config(map)
            } else {
                None
            };
            for (key, child) in map.iter_mut() {
                let at = join(&path, key);
                let prefix_field = rules.prefixes.iter().any(|(_, _, p)| *p == at);
                match (key.as_str(), child) {
                    (k, Value::Array(items))
                        if rules.containers && CONTAINER_LISTS.contains(&k) =>
                    {
                        containers(items, &at, rules, visit)?
                    }
                    ("volumes", Value::Array(items)) if rules.containers => {
                        volumes(items, &at, rules, visit)?
                    }
                    ("image", Value::String(s)) if rules.custom && !rules.embedded => {
                        visit(Site {
                            path: at,
                            field: Field::Whole(s),
                        })?
                    }
                    ("image", Value::Object(m))
                        if rules.custom
                            && matches!(m.get("repository"), Some(Value::String(_))) =>
                    {
                        visit(Site {
                            path: at,
                            field: Field::Parts(m),
                        })?
                    }
                    ("image", Value::Object(m))
                        if rules.custom && nonempty(m.get("registry").unwrap_or(&Value::Null)) =>
                    {
                        registry_map(m, &at, rules, visit)?
                    }
                    ("imageRegistry", Value::String(s)) if rules.custom && !s.is_empty() => {
                        visit(Site {
                            path: at,
                            field: Field::Prefix {
                                text: s,
                                names: None,
                                images: Vec::new(),
                            },
                        })?
                    }
                    ("base", Value::String(s)) if config.is_some() => visit(Site {
                        path: at,
                        field: Field::Prefix {
                            text: s,
                            names: config.as_ref().map(|c| c.names.clone()),
                            images: config
                                .as_ref()
                                .map(|c| c.images.clone())
                                .unwrap_or_default(),
                        },
                    })?,
                    (_, Value::String(s)) if prefix_field && !s.is_empty() => visit(Site {
                        path: at,
                        field: Field::Prefix {
                            text: s,
                            names: None,
                            images: Vec::new(),
                        },
                    })?,
                    (_, child) => node(child, at, rules, visit)?,
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                node(item, format!("{path}[{i}]"), rules, visit)?;
            }
        }
        Value::String(s) if rules.text => string(s, path, visit)?,
        _ => {}
    }
    Ok(())
}

/// A Helm-style `image: {registry, tag, ...}`: the registry is a prefix.
fn registry_map<E>(
    map: &mut Map<String, Value>,
    path: &str,
    rules: Rules,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for (key, child) in map.iter_mut() {
        let at = join(path, key);
        match (key.as_str(), child) {
            ("registry", Value::String(s)) => visit(Site {
                path: at,
                field: Field::Prefix {
                    text: s,
                    names: None,
                    images: Vec::new(),
                },
            })?,
            (_, child) => node(child, at, rules, visit)?,
        }
    }
    Ok(())
}

/// A string: a document's sites first (rewritten into it when they
/// changed), then the string as text.
fn string<E>(
    s: &mut String,
    path: String,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(mut document) = embedded::parse(s) {
        let before = document.clone();
        let inside = Rules {
            containers: false,
            custom: true,
            text: false,
            embedded: true,
            prefixes: &[],
        };
        node(&mut document, format!("{path}#"), inside, visit)?;
        if document != before {
            *s = embedded::write(&document, s);
        }
    }
    visit(Site {
        path,
        field: Field::Text(s),
    })
}

fn containers<E>(
    items: &mut [Value],
    path: &str,
    rules: Rules,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for (i, item) in items.iter_mut().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(container) = item else {
            node(item, at, rules, visit)?;
            continue;
        };
        for (key, value) in container.iter_mut() {
            let field = join(&at, key);
            if key != "image" {
                node(value, field, rules, visit)?;
                continue;
            }
            match value {
                // A container without an image is a patch of one that an
                // operator fills in (Prometheus, VMAgent): nothing to pull.
                Value::Null => {}
                Value::String(s) => visit(Site {
                    path: field,
                    field: Field::Whole(s),
                })?,
                other => visit(Site {
                    path: field,
                    field: Field::NotAString(crate::model::type_name(other)),
                })?,
            }
        }
    }
    Ok(())
}

fn volumes<E>(
    items: &mut [Value],
    path: &str,
    rules: Rules,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for (i, item) in items.iter_mut().enumerate() {
        let at = format!("{path}[{i}]");
        let image_volume = matches!(
            item.get("image"),
            Some(Value::Object(source)) if matches!(source.get("reference"), Some(Value::String(_)))
        );
        let (true, Value::Object(volume)) = (image_volume, &mut *item) else {
            node(item, at, rules, visit)?;
            continue;
        };
        for (key, value) in volume.iter_mut() {
            let field = join(&at, key);
            match (key.as_str(), value) {
                ("image", Value::Object(source)) => {
                    for (k, v) in source.iter_mut() {
                        let field = join(&field, k);
                        match (k.as_str(), v) {
                            ("reference", Value::String(reference)) => visit(Site {
                                path: field,
                                field: Field::Whole(reference),
                            })?,
                            (_, v) => node(v, field, rules, visit)?,
                        }
                    }
                }
                (_, value) => node(value, field, rules, visit)?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
