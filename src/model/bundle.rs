//! Bundles: `bundles/<name>.yaml`, the releases a platform can run.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::error::Error;
use super::package;
use crate::source::Snapshot;

/// A bundle file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bundle {
    #[serde(default)]
    pub description: Option<String>,
    pub releases: Vec<ReleaseSpec>,
}

/// One release as the bundle declares it, before resolution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseSpec {
    pub name: String,
    pub package: String,
    /// A semver requirement; a bare version means exactly that version.
    pub version: String,
    pub namespace: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Off unless the platform enables it.
    #[serde(default)]
    pub optional: bool,
    #[serde(default, deserialize_with = "crate::yaml::strict")]
    pub values: Option<Value>,
    /// Files inside the package directory, merged over `values.yaml` in order.
    #[serde(default)]
    pub values_files: Vec<String>,
}

/// The bundles of a snapshot.
pub(crate) struct Bundles {
    /// `name -> (path, bundle)` for every `bundles/<name>.yaml` that parsed.
    pub found: BTreeMap<String, (String, Bundle)>,
    /// Names whose file is there but could not be used (broken YAML, a
    /// wrong extension, a directory): their errors say why.
    pub explained: BTreeSet<String>,
}

/// Reads every `bundles/<name>.yaml`. Files that look like bundles but would
/// not be read (`<name>.yml`, `<name>.json`, a directory `<name>.yaml/`)
/// are errors: a bundle silently ignored, or one of two silently picked,
/// is a platform that is not what its author wrote.
pub(crate) fn load_all(snapshot: &Snapshot, errors: &mut Vec<Error>) -> Bundles {
    let mut found = BTreeMap::new();
    let mut explained = BTreeSet::new();
    let mut misnamed = Vec::new();
    let mut directories = BTreeSet::new();
    for (path, bytes) in snapshot.under(PREFIX) {
        let rel = &path[PREFIX.len()..];
        if let Some((dir, _)) = rel.split_once('/') {
            if let Some(name) = bundle_name(dir) {
                directories.insert((name.to_string(), dir.to_string()));
            }
            continue;
        }
        match rel.strip_suffix(".yaml") {
            Some(name) if !name.is_empty() => {
                match package::parse_yaml::<Bundle>(snapshot, path, bytes, errors) {
                    Some(bundle) => {
                        found.insert(name.to_string(), (path.to_string(), bundle));
                    }
                    None => {
                        explained.insert(name.to_string());
                    }
                }
            }
            _ => {
                if let Some(name) = bundle_name(rel) {
                    misnamed.push((name.to_string(), path.to_string()));
                }
            }
        }
    }
    for (name, path) in misnamed {
        let expected = format!("{PREFIX}{name}.yaml");
        let message = if snapshot.get(&expected).is_some() {
            format!(
                "not read: the bundle {name:?} is {}; remove this file or merge it into that one",
                snapshot.display(&expected)
            )
        } else {
            explained.insert(name.clone());
            format!(
                "bundles are read from bundles/<name>.yaml; rename it to {}",
                snapshot.display(&expected)
            )
        };
        errors.push(Error::file(snapshot.display(&path), message));
    }
    for (name, dir) in directories {
        explained.insert(name);
        errors.push(Error::file(
            format!("{}/", snapshot.display(&format!("{PREFIX}{dir}"))),
            "is a directory; a bundle is one file, bundles/<name>.yaml",
        ));
    }
    Bundles { found, explained }
}

const PREFIX: &str = "bundles/";

/// The bundle a file name would be, had it the right extension.
fn bundle_name(file: &str) -> Option<&str> {
    [".yaml", ".yml", ".json"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .filter(|name| !name.is_empty())
}
