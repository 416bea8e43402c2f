//! `platform.yaml`: which bundle, which releases on or off, and values.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// The platform file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Platform {
    /// Identifies this platform's releases in a cluster, so that two
    /// platforms sharing a cluster never prune each other. Default `default`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Name of a file in `bundles/` without `.yaml`.
    pub bundle: String,
    /// The Kubernetes version templates see as `capabilities.kubeVersion`
    /// and packages' `kubeVersion` constraints are checked against.
    #[serde(default)]
    pub kube_version: Option<String>,
    /// Optional releases to turn on.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Releases to turn off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Platform-wide values, seen by every template as `platform`.
    #[serde(default, deserialize_with = "crate::yaml::strict")]
    pub values: Option<Value>,
    /// Per-release overrides, the highest precedence. A map keeps the last
    /// of two equal keys, so the file is first read with the strict reader,
    /// which refuses them (see `package::parse_yaml`).
    #[serde(default)]
    pub releases: BTreeMap<String, ReleaseOverride>,
    /// Where the controller reads the distribution from.
    #[serde(default)]
    pub source: Option<Source>,
    /// How often the controller reconciles without a change (`5m`, `1h30m`).
    #[serde(default)]
    pub interval: Option<String>,
}

fn default_name() -> String {
    "default".to_string()
}

/// `releases.<name>` in the platform file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseOverride {
    #[serde(default, deserialize_with = "crate::yaml::strict")]
    pub values: Option<Value>,
}

/// Where the controller fetches the distribution: exactly one of `git`, `oci`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    #[serde(default)]
    pub git: Option<GitSource>,
    #[serde(default)]
    pub oci: Option<OciSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitSource {
    pub url: String,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
    /// Directory inside the repository holding `platform.yaml`.
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OciSource {
    /// `oci://registry/repository:tag`
    pub url: String,
}

/// Parses a Go-style duration: `90s`, `5m`, `1h30m`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (examples: 30s, 5m, 1h30m)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            _ => return Err(bad()),
        };
        total = unit
            .and_then(|u| total.checked_add(u))
            .ok_or_else(|| format!("{text:?} is too long a duration"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
        // Regression: these overflowed and panicked.
        assert!(parse_duration("18446744073709551615s1s").is_err());
        assert!(parse_duration("9999999999999999h").is_err());
    }
}
