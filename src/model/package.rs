//! Packages: `packages/<name>/<version>/` with `package.yaml`, `values.yaml`,
//! an optional `values.schema.json`, `templates/` and `crds/`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::error::Error;
use crate::source::Snapshot;
use crate::yaml;

/// `package.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageMeta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub app_version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Every container image the package runs: those its manifests name,
    /// and those an operator it installs starts at run time
    /// (`deployedBy`). `distro images` lists them and `validate --images`
    /// checks them against the rendered manifests.
    #[serde(default)]
    pub images: Vec<DeclaredImage>,
    /// Kubernetes versions the package supports, as a semver requirement.
    #[serde(default)]
    pub kube_version: Option<String>,
    #[serde(default)]
    pub home: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub maintainers: Vec<Value>,
}

/// One entry of `images:` in `package.yaml`: a reference, or a map
/// `{image: REF, deployedBy: WHO}` for an image that no manifest names
/// because a component of the package starts it at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredImage {
    /// The reference as written.
    pub image: String,
    /// What starts it (`virt-operator`), when no rendered manifest names it.
    pub deployed_by: Option<String>,
}

impl<'de> Deserialize<'de> for DeclaredImage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A map with unknown fields is refused like everywhere else in
        // package.yaml; an untagged enum would only say "did not match".
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Entry {
            image: String,
            deployed_by: String,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DeclaredImage;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an image reference, or a map with image and deployedBy")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DeclaredImage, E> {
                Ok(DeclaredImage {
                    image: v.to_string(),
                    deployed_by: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<DeclaredImage, A::Error> {
                let entry = Entry::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(DeclaredImage {
                    image: entry.image,
                    deployed_by: Some(entry.deployed_by),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A file of a package, with its path relative to the package directory.
#[derive(Debug, Clone)]
pub struct File {
    /// `templates/deployment.yaml`, `crds/foo.yaml`, ...
    pub path: String,
    pub text: String,
}

/// One version of one package, fully read.
#[derive(Debug)]
pub struct Package {
    pub meta: PackageMeta,
    pub version: semver::Version,
    /// `packages/<name>/<version>`, inside the snapshot.
    pub dir: String,
    /// `values.yaml`, always a map.
    pub values: Value,
    /// The compiled `values.schema.json`, if the package ships one.
    pub schema: Option<Arc<jsonschema::Validator>>,
    /// Renderable templates and partials (`_*.yaml`), in path order.
    pub templates: Vec<File>,
    /// `crds/*.yaml`, never templated.
    pub crds: Vec<File>,
    /// `sha256:` over every file of the package directory.
    pub digest: String,
}

impl Package {
    /// Whether a template is a partial: defines components, renders nothing.
    pub fn is_partial(path: &str) -> bool {
        path.rsplit('/').next().is_some_and(|n| n.starts_with('_'))
    }
}

/// All package versions in the snapshot, by name, lowest version first.
pub type Catalog = BTreeMap<String, Vec<Arc<Package>>>;

/// Reads every `packages/<name>/<version>/` directory. Names of packages
/// with a broken version go to `broken`: their errors are already reported,
/// so releases of them must not add "not found" on top.
pub fn load_all(
    snapshot: &Snapshot,
    errors: &mut Vec<Error>,
    broken: &mut BTreeSet<String>,
) -> Catalog {
    let mut dirs: BTreeMap<String, ()> = BTreeMap::new();
    for (path, _) in snapshot.under("packages/") {
        let parts: Vec<&str> = path.splitn(4, '/').collect();
        if parts.len() == 4 {
            dirs.insert(format!("packages/{}/{}", parts[1], parts[2]), ());
        }
    }
    let mut catalog = Catalog::new();
    for dir in dirs.keys() {
        match load(snapshot, dir, errors) {
            Some(package) => catalog
                .entry(package.meta.name.clone())
                .or_default()
                .push(Arc::new(package)),
            None => {
                broken.insert(dir.split('/').nth(1).unwrap_or_default().to_string());
            }
        }
    }
    for versions in catalog.values_mut() {
        versions.sort_by(|a, b| a.version.cmp(&b.version));
    }
    catalog
}

fn load(snapshot: &Snapshot, dir: &str, errors: &mut Vec<Error>) -> Option<Package> {
    let before = errors.len();
    let meta_path = format!("{dir}/package.yaml");
    let shown = |p: &str| snapshot.display(p);
    let Some(meta_bytes) = snapshot.get(&meta_path) else {
        errors.push(Error::file(
            shown(dir),
            "not a package: package.yaml is missing",
        ));
        return None;
    };
    let meta: Option<PackageMeta> = parse_yaml(snapshot, &meta_path, meta_bytes, errors);
    let mut version = None;
    if let Some(meta) = &meta {
        let mut parts = dir.split('/').skip(1);
        let (dir_name, dir_version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if meta.name != dir_name {
            errors.push(Error::file(
                shown(&meta_path),
                format!(
                    "name {:?} does not match its directory {dir_name:?}",
                    meta.name
                ),
            ));
        }
        match semver::Version::parse(&meta.version) {
            Err(e) => errors.push(Error::file(
                shown(&meta_path),
                format!("version {:?} is not semver: {e}", meta.version),
            )),
            Ok(v) if meta.version != dir_version => errors.push(Error::file(
                shown(&meta_path),
                format!("version {v} does not match its directory {dir_version:?}"),
            )),
            Ok(v) => version = Some(v),
        }
        if let Some(req) = &meta.kube_version
            && let Err(e) = super::release::parse_requirement(req)
        {
            errors.push(Error::file(
                shown(&meta_path),
                format!("kubeVersion {req:?} is not a semver requirement: {e}"),
            ));
        }
    }

    let values_path = format!("{dir}/values.yaml");
    let values = match snapshot.get(&values_path) {
        None => Some(Value::Object(Default::default())),
        Some(bytes) => parse_values(snapshot, &values_path, bytes, errors),
    };

    let schema_path = format!("{dir}/values.schema.json");
    let schema = snapshot
        .get(&schema_path)
        .and_then(|bytes| compile_schema(&shown(&schema_path), bytes, errors));

    let mut templates = Vec::new();
    let mut crds = Vec::new();
    let prefix = format!("{dir}/");
    for (path, bytes) in snapshot.under(&prefix) {
        let rel = &path[prefix.len()..];
        let is_yaml = rel.ends_with(".yaml") || rel.ends_with(".yml");
        let target = if rel.starts_with("templates/") && (is_yaml || rel.ends_with(".tpl")) {
            &mut templates
        } else if rel.starts_with("crds/") && (is_yaml || rel.ends_with(".json")) {
            &mut crds
        } else {
            continue;
        };
        // The path is copied into `# Source:` comments of the output: a
        // newline in it would inject documents into the stream.
        if let Some(bad) = rel.chars().find(|c| c.is_control()) {
            errors.push(Error::file(
                shown(path).escape_debug().to_string(),
                format!(
                    "file name contains the control character {:?}; rename the file",
                    bad
                ),
            ));
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => target.push(File {
                path: rel.to_string(),
                text: text.to_string(),
            }),
            Err(_) => errors.push(Error::file(shown(path), "not UTF-8 text")),
        }
    }

    if errors.len() > before {
        return None;
    }
    Some(Package {
        meta: meta?,
        version: version?,
        dir: dir.to_string(),
        values: values?,
        schema,
        templates,
        crds,
        digest: snapshot.digest_under(&prefix),
    })
}

/// Parses a YAML file into `T`, recording an error that names the file.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    snapshot: &Snapshot,
    path: &str,
    bytes: &[u8],
    errors: &mut Vec<Error>,
) -> Option<T> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            errors.push(Error::file(snapshot.display(path), "not UTF-8 text"));
            return None;
        }
    };
    // Typed fields read into maps (`releases:` of the platform file) or
    // structs keep the last of two equal keys, or name the map's first line;
    // the strict reader refuses every repeated key and names its line.
    if let Err(error) = yaml::parse_value(text, 0) {
        errors.push(Error::Yaml {
            file: snapshot.display(path),
            error,
        });
        return None;
    }
    yaml::parse(text, 0)
        .map_err(|error| {
            errors.push(Error::Yaml {
                file: snapshot.display(path),
                error,
            })
        })
        .ok()
}

/// Parses a values file: YAML whose top level is a map (an empty file is an
/// empty map).
pub(crate) fn parse_values(
    snapshot: &Snapshot,
    path: &str,
    bytes: &[u8],
    errors: &mut Vec<Error>,
) -> Option<Value> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            errors.push(Error::file(snapshot.display(path), "not UTF-8 text"));
            return None;
        }
    };
    let parsed = yaml::parse_value(text, 0)
        .map_err(|error| {
            errors.push(Error::Yaml {
                file: snapshot.display(path),
                error,
            })
        })
        .ok()?;
    match parsed {
        Value::Null => Some(Value::Object(Default::default())),
        v @ Value::Object(_) => Some(v),
        other => {
            errors.push(Error::file(
                snapshot.display(path),
                format!("values must be a map, found {}", type_name(&other)),
            ));
            None
        }
    }
}

fn compile_schema(
    shown: &str,
    bytes: &[u8],
    errors: &mut Vec<Error>,
) -> Option<Arc<jsonschema::Validator>> {
    let schema: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            errors.push(Error::Yaml {
                file: shown.to_string(),
                error: yaml::YamlError {
                    line: Some(e.line()),
                    column: Some(e.column()),
                    message: e.to_string(),
                },
            });
            return None;
        }
    };
    match jsonschema::validator_for(&schema) {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            errors.push(Error::file(shown, format!("invalid JSON Schema: {e}")));
            None
        }
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
