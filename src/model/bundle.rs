//! Bundles: `bundles/<name>.yaml`, the releases a platform can run.

use serde::Deserialize;
use serde_json::Value;

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
