//! Where images are in an object: the one walker that both finding
//! ([`super::find`]) and relocation ([`crate::oci::relocate`]) use, so that
//! they can never disagree about what an image field is.
//!
//! The rules, for every object:
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
//! `metadata` and `status` are never looked into: an annotation named
//! `image` is not an image the object runs. Built-in kinds get only the
//! container rules, so a ConfigMap key named `image` is data, not an image.

use serde_json::{Map, Value};

use super::reference::{ParseError, Reference};

/// Keys whose list items are containers.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// One image field of an object.
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
        }
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
                Reference::parse(&self.text()).map_err(|e: ParseError| e.to_string())
            }
            Field::Whole(_) => Reference::parse(&self.text()).map_err(|e| e.to_string()),
        }
    }

    /// Points the field at `target`, a reference by digest. A split field
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
            Field::NotAString(_) => {}
        }
    }
}

/// Calls `visit` with every image field of a rendered object, in document
/// order. `custom` says whether the object's kind is a custom resource
/// (see the module rules).
///
/// # Errors
/// The first error `visit` returns.
pub fn object<E>(
    object: &mut Value,
    custom: bool,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let Value::Object(map) = object else {
        return Ok(());
    };
    for (key, value) in map.iter_mut() {
        if matches!(key.as_str(), "metadata" | "status" | "apiVersion" | "kind") {
            continue;
        }
        node(value, key.clone(), custom, visit)?;
    }
    Ok(())
}

/// [`object`] for a values tree (not an object: nothing is skipped), with
/// the custom-resource rules, which are also how charts' values name
/// images (`image.repository` and `image.tag`).
///
/// # Errors
/// The first error `visit` returns.
pub fn values<E>(
    values: &mut Value,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    node(values, String::new(), true, visit)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn node<E>(
    value: &mut Value,
    path: String,
    custom: bool,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let at = join(&path, key);
                match (key.as_str(), child) {
                    (k, Value::Array(items)) if CONTAINER_LISTS.contains(&k) => {
                        containers(items, &at, visit)?
                    }
                    ("volumes", Value::Array(items)) => volumes(items, &at, custom, visit)?,
                    ("image", Value::String(s)) if custom => visit(Site {
                        path: at,
                        field: Field::Whole(s),
                    })?,
                    ("image", Value::Object(m))
                        if custom && matches!(m.get("repository"), Some(Value::String(_))) =>
                    {
                        visit(Site {
                            path: at,
                            field: Field::Parts(m),
                        })?
                    }
                    (_, child) => node(child, at, custom, visit)?,
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                node(item, format!("{path}[{i}]"), custom, visit)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn containers<E>(
    items: &mut [Value],
    path: &str,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for (i, item) in items.iter_mut().enumerate() {
        let Value::Object(container) = item else {
            continue;
        };
        let at = format!("{path}[{i}].image");
        match container.get_mut("image") {
            // A container without an image is a patch of one that an
            // operator fills in (Prometheus, VMAgent): nothing to pull.
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => visit(Site {
                path: at,
                field: Field::Whole(s),
            })?,
            Some(other) => visit(Site {
                path: at,
                field: Field::NotAString(crate::model::type_name(other)),
            })?,
        }
    }
    Ok(())
}

fn volumes<E>(
    items: &mut [Value],
    path: &str,
    custom: bool,
    visit: &mut impl FnMut(Site<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for (i, item) in items.iter_mut().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(volume) = item else {
            node(item, at, custom, visit)?;
            continue;
        };
        match volume.get_mut("image") {
            Some(Value::Object(source)) => {
                if let Some(Value::String(reference)) = source.get_mut("reference") {
                    visit(Site {
                        path: format!("{at}.image.reference"),
                        field: Field::Whole(reference),
                    })?;
                }
            }
            _ => node(item, at, custom, visit)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(yaml: &str, custom: bool) -> Vec<(String, String)> {
        let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
        let mut found = Vec::new();
        object(&mut value, custom, &mut |site: Site<'_>| {
            found.push((site.path, site.field.text()));
            Ok::<(), ()>(())
        })
        .unwrap();
        found
    }

    #[test]
    fn metadata_status_and_builtin_data_are_not_images() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    image: a/b\ndata:\n  image: nginx\n";
        assert!(sites(yaml, false).is_empty());
        let yaml = "apiVersion: x.io/v1\nkind: X\nmetadata:\n  annotations:\n    image: a\nstatus:\n  image: b\nspec:\n  image: c\n";
        assert_eq!(sites(yaml, true), [("spec.image".into(), "c".into())]);
    }

    #[test]
    fn image_volumes_and_container_patches() {
        let yaml = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: a:1\n  - name: patch\n  volumes:\n  - name: v\n    image:\n      reference: quay.io/x/data:1\n  - name: e\n    emptyDir: {}\n";
        assert_eq!(
            sites(yaml, false),
            [
                ("spec.containers[0].image".into(), "a:1".into()),
                (
                    "spec.volumes[0].image.reference".into(),
                    "quay.io/x/data:1".into()
                ),
            ]
        );
    }

    #[test]
    fn split_references_join_and_keep_their_shape() {
        let mut value = crate::yaml::parse_value(
            "spec:\n  image:\n    registry: quay.io/\n    repository: a/b\n    tag: v1\n",
            0,
        )
        .unwrap();
        let target = Reference::parse(
            "r.local:5000/m/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        object(&mut value, true, &mut |mut site: Site<'_>| {
            assert_eq!(site.field.text(), "quay.io/a/b:v1");
            let original = site.field.reference().unwrap();
            site.field.set(&target, &original);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(value["spec"]["image"]["registry"], "r.local:5000");
        assert_eq!(value["spec"]["image"]["repository"], "m/a/b");
        assert!(
            value["spec"]["image"]["tag"]
                .as_str()
                .unwrap()
                .starts_with("v1@sha256:")
        );
    }
}
