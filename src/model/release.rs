//! Release resolution: a bundle entry plus the platform's choices become a
//! [`Release`] with one package version and its final values.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::bundle::ReleaseSpec;
use super::error::{Error, did_you_mean, line_of_item, line_of_name};
use super::locate::{Step, line_of_path};
use super::package::{Catalog, Package, parse_values, type_name};
use super::platform::Platform;
use super::values;
use crate::source::{Snapshot, join_inside};

/// One release, resolved and ready to render.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub package: Arc<Package>,
    /// The requirement as written in the bundle.
    pub requirement: String,
    /// Dependencies that are in the platform.
    pub depends_on: Vec<String>,
    /// Dependencies dropped because their release is off.
    pub dropped: Vec<Dropped>,
    /// Merged values (package < valuesFiles < bundle < platform < command
    /// line).
    pub values: Value,
    /// Which layer set each leaf of `values`; only when
    /// [`Options::origins`] asked for it.
    pub origins: Vec<values::Origin>,
}

/// What resolution takes besides the files.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Versions to keep, by release (from the lock): a release keeps its
    /// pinned version while that version is present and still satisfies
    /// the release's requirement, so that a newer version dropped into
    /// `packages/` moves nothing by itself.
    pub pins: BTreeMap<String, Pin>,
    /// Values from the command line, the last layers.
    pub overrides: values::Overrides,
    /// The Kubernetes version to target instead of the platform's.
    pub kube_version: Option<semver::Version>,
    /// Record which layer set each value in [`Release::origins`].
    pub origins: bool,
}

/// A locked version of a release's package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub package: String,
    pub version: semver::Version,
}

/// A release as the bundle lists it, and whether the platform runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEntry {
    pub name: String,
    pub namespace: String,
    pub package: String,
    /// The version requirement as written in the bundle.
    pub requirement: String,
    pub optional: bool,
    /// Why the platform leaves it out; `None` when it runs.
    pub off: Option<DropReason>,
}

/// Every release of the bundle in bundle order, with its state.
pub fn entries(platform: &Platform, specs: &[ReleaseSpec]) -> Vec<BundleEntry> {
    specs
        .iter()
        .map(|s| BundleEntry {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            package: s.package.clone(),
            requirement: s.version.clone(),
            optional: s.optional,
            off: off_reason(platform, s),
        })
        .collect()
}

/// Why the platform leaves a release out, if it does.
fn off_reason(platform: &Platform, spec: &ReleaseSpec) -> Option<DropReason> {
    if platform.disable.contains(&spec.name) {
        Some(DropReason::Disabled)
    } else if spec.optional && !platform.enable.contains(&spec.name) {
        Some(DropReason::OptionalNotEnabled)
    } else {
        None
    }
}

/// A dependency that no longer applies because its release is not running.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub release: String,
    pub dependency: String,
    pub reason: DropReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// The platform lists it under `disable`.
    Disabled,
    /// Optional in the bundle and not listed under `enable`.
    OptionalNotEnabled,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::Disabled => "disabled",
            DropReason::OptionalNotEnabled => "optional, not enabled",
        })
    }
}

/// Parses a version requirement. A bare version (`1.16.5`) means exactly that
/// version, as in Helm; anything else is a Cargo-style requirement
/// (`^1.16`, `~1.16.0`, `>=1.15, <1.17`, `1.16.*`).
pub fn parse_requirement(text: &str) -> Result<semver::VersionReq, semver::Error> {
    let t = text.trim();
    let t = t.strip_prefix('v').unwrap_or(t);
    if semver::Version::parse(t).is_ok() {
        return semver::VersionReq::parse(&format!("={t}"));
    }
    semver::VersionReq::parse(t)
}

/// Parses a Kubernetes version such as `v1.34.1` or `1.34`.
pub fn parse_kube_version(text: &str) -> Option<semver::Version> {
    let t = text.trim().trim_start_matches('v');
    let core = t.split(['-', '+']).next().unwrap_or(t);
    let mut parts = core.split('.').map(|p| p.parse::<u64>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some(semver::Version::new(major, minor, patch))
}

/// What resolution needs besides the bundle entries.
pub(crate) struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub catalog: &'a Catalog,
    /// Packages with a version that failed to load (already reported).
    pub broken: &'a BTreeSet<String>,
    pub platform: &'a Platform,
    pub platform_file: &'a str,
    pub platform_text: &'a str,
    pub bundle_file: &'a str,
    pub bundle_text: &'a str,
    pub kube_version: &'a semver::Version,
    pub options: &'a Options,
}

/// Resolves the bundle's releases against the platform, keeping bundle order.
pub(crate) fn resolve(
    ctx: &Context,
    specs: &[ReleaseSpec],
    errors: &mut Vec<Error>,
) -> Vec<Release> {
    let release_error = |release: &str, message: String| Error::Release {
        release: release.to_string(),
        file: ctx.snapshot.display(ctx.bundle_file),
        line: line_of_name(ctx.bundle_text, "name", release),
        message,
    };

    let mut seen = BTreeSet::new();
    for (i, spec) in specs.iter().enumerate() {
        if spec.name.is_empty() {
            errors.push(Error::File {
                file: ctx.snapshot.display(ctx.bundle_file),
                line: line_of_path(ctx.bundle_text, &[Step::Key("releases"), Step::Index(i)]),
                message: format!(
                    "releases[{i}] (package {:?}): the release name is empty; name it with a DNS label such as {:?}",
                    spec.package,
                    if check_dns_label(&spec.package).is_ok() {
                        spec.package.as_str()
                    } else {
                        "my-release"
                    }
                ),
            });
        } else if let Err(m) = check_dns_label(&spec.name) {
            errors.push(release_error(&spec.name, format!("invalid name: {m}")));
        }
        if let Err(m) = check_dns_label(&spec.namespace) {
            errors.push(release_error(
                &spec.name,
                format!("invalid namespace {:?}: {m}", spec.namespace),
            ));
        }
        if !seen.insert(spec.name.as_str()) {
            errors.push(release_error(
                &spec.name,
                "declared twice in the bundle".into(),
            ));
        }
    }

    let platform_error = |key: &str, name: &str, what: &str| Error::File {
        file: ctx.snapshot.display(ctx.platform_file),
        line: line_of_item(ctx.platform_text, key, name),
        message: format!(
            "{key}: {what} {name:?} is not a release of bundle {:?}{}",
            ctx.platform.bundle,
            did_you_mean(name, seen.iter().copied())
        ),
    };
    for name in &ctx.platform.enable {
        if !seen.contains(name.as_str()) {
            errors.push(platform_error("enable", name, "release"));
        }
    }
    for name in &ctx.platform.disable {
        if !seen.contains(name.as_str()) {
            errors.push(platform_error("disable", name, "release"));
        }
    }
    for name in ctx.platform.releases.keys() {
        if !seen.contains(name.as_str()) {
            errors.push(platform_error("releases", name, "release"));
        }
    }

    let state: BTreeMap<&str, Option<DropReason>> = specs
        .iter()
        .map(|s| (s.name.as_str(), off_reason(ctx.platform, s)))
        .collect();

    let mut releases = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        if let Some(reason) = state.get(spec.name.as_str()).copied().flatten() {
            tracing::info!(release = %spec.name, %reason, "release off");
            continue;
        }
        let mut depends_on = Vec::new();
        let mut dropped = Vec::new();
        for dep in &spec.depends_on {
            match state.get(dep.as_str()) {
                None => errors.push(release_error(
                    &spec.name,
                    format!(
                        "dependsOn {dep:?}: no such release in bundle {:?}{}",
                        ctx.platform.bundle,
                        did_you_mean(dep, state.keys().copied())
                    ),
                )),
                Some(Some(reason)) => {
                    tracing::info!(release = %spec.name, dependency = %dep, %reason, "dropped dependency");
                    dropped.push(Dropped {
                        release: spec.name.clone(),
                        dependency: dep.clone(),
                        reason: *reason,
                    })
                }
                Some(None) if depends_on.contains(dep) => {}
                Some(None) => depends_on.push(dep.clone()),
            }
        }
        // An unknown package, with the closest known name: most often a typo.
        if !ctx.catalog.contains_key(&spec.package) && !ctx.broken.contains(&spec.package) {
            let known = ctx
                .catalog
                .keys()
                .chain(ctx.broken.iter())
                .map(String::as_str);
            errors.push(release_error(
                &spec.name,
                format!(
                    "package {:?} not found (no packages/{}/<version>/package.yaml){}",
                    spec.package,
                    spec.package,
                    did_you_mean(&spec.package, known)
                ),
            ));
            continue;
        }
        let Some(package) = pick_version(ctx, spec, errors, &release_error) else {
            continue;
        };
        let Some((values, origins)) =
            merge_values(ctx, spec, index, &package, errors, &release_error)
        else {
            continue;
        };
        releases.push(Release {
            name: spec.name.clone(),
            namespace: spec.namespace.clone(),
            package,
            requirement: spec.version.clone(),
            depends_on,
            dropped,
            values,
            origins,
        });
    }
    releases
}

fn pick_version(
    ctx: &Context,
    spec: &ReleaseSpec,
    errors: &mut Vec<Error>,
    release_error: &dyn Fn(&str, String) -> Error,
) -> Option<Arc<Package>> {
    let requirement = match parse_requirement(&spec.version) {
        Ok(r) => r,
        Err(e) => {
            errors.push(release_error(
                &spec.name,
                format!(
                    "version {:?} is not a semver requirement: {e}",
                    spec.version
                ),
            ));
            return None;
        }
    };
    if ctx.broken.contains(&spec.package) {
        // Resolving against the versions that did load could pick the wrong
        // one; the broken version's own error says what to fix.
        return None;
    }
    let Some(versions) = ctx.catalog.get(&spec.package) else {
        errors.push(release_error(
            &spec.name,
            format!(
                "package {:?} not found (no packages/{}/<version>/package.yaml)",
                spec.package, spec.package
            ),
        ));
        return None;
    };
    // The lock's version while it still fits, as Cargo keeps Cargo.lock's.
    let pin = ctx
        .options
        .pins
        .get(&spec.name)
        .filter(|pin| pin.package == spec.package);
    let locked = pin.and_then(|pin| {
        versions
            .iter()
            .find(|p| p.version == pin.version && requirement.matches(&p.version))
    });
    let highest = || {
        versions
            .iter()
            .rev()
            .find(|p| requirement.matches(&p.version))
    };
    let picked = match (locked, pin) {
        (Some(package), _) => {
            tracing::info!(release = %spec.name, package = %spec.package, version = %package.version, requirement = %spec.version, "kept the locked version");
            Some(package)
        }
        (None, Some(pin)) => highest().inspect(|package| {
            tracing::info!(release = %spec.name, package = %spec.package, version = %package.version, locked = %pin.version, requirement = %spec.version, "the locked version is gone or no longer matches; picked the highest matching version");
        }),
        (None, None) => highest().inspect(|package| {
            tracing::info!(release = %spec.name, package = %spec.package, version = %package.version, requirement = %spec.version, "picked the highest matching version");
        }),
    };
    let Some(package) = picked else {
        let available: Vec<String> = versions.iter().map(|p| p.version.to_string()).collect();
        errors.push(release_error(
            &spec.name,
            format!(
                "no version of package {:?} matches {:?} (available: {})",
                spec.package,
                spec.version,
                available.join(", ")
            ),
        ));
        return None;
    };
    if let Some(req) = &package.meta.kube_version
        && let Ok(req) = parse_requirement(req)
        && !req.matches(ctx.kube_version)
    {
        errors.push(release_error(
            &spec.name,
            format!(
                "package {} {} requires Kubernetes {req}, the platform targets {}",
                spec.package, package.version, ctx.kube_version
            ),
        ));
        return None;
    }
    Some(package.clone())
}

fn merge_values(
    ctx: &Context,
    spec: &ReleaseSpec,
    index: usize,
    package: &Package,
    errors: &mut Vec<Error>,
    release_error: &dyn Fn(&str, String) -> Error,
) -> Option<(Value, Vec<values::Origin>)> {
    let before = errors.len();
    let mut files = Vec::new();
    for file in &spec.values_files {
        let Some(path) = join_inside(&package.dir, file) else {
            errors.push(release_error(
                &spec.name,
                format!(
                    "valuesFiles {file:?} escapes the package directory {}",
                    package.dir
                ),
            ));
            continue;
        };
        let Some(bytes) = ctx.snapshot.get(&path) else {
            errors.push(release_error(
                &spec.name,
                format!(
                    "valuesFiles {file:?}: {} does not exist",
                    ctx.snapshot.display(&path)
                ),
            ));
            continue;
        };
        if let Some(layer) = parse_values(ctx.snapshot, &path, bytes, errors) {
            tracing::info!(release = %spec.name, file = %ctx.snapshot.display(&path), "merging values file");
            files.push((path, layer));
        }
    }
    let mut map_layer = |layer: Option<&'_ Value>, what: &str| match layer {
        None | Some(Value::Null) => false,
        Some(Value::Object(_)) => true,
        Some(other) => {
            errors.push(release_error(
                &spec.name,
                format!("{what} must be a map, found {}", type_name(other)),
            ));
            false
        }
    };
    let bundle_values = spec.values.as_ref();
    let platform_values = ctx
        .platform
        .releases
        .get(&spec.name)
        .and_then(|o| o.values.as_ref());
    let use_bundle = map_layer(bundle_values, "bundle values");
    let use_platform = map_layer(platform_values, "platform values");

    // Lowest precedence first; the same list names the origins shown by
    // `distro values --show-origin`. `written` says where in the snapshot
    // each layer from a file was written, so that a schema violation can
    // name the file and line that set the value.
    let mut layers = vec![values::Layer {
        source: values::Source::Defaults {
            file: ctx
                .snapshot
                .display(&format!("{}/values.yaml", package.dir)),
        },
        edit: values::Edit::Merge(&package.values),
    }];
    let mut written = vec![Origin {
        file: format!("{}/values.yaml", package.dir),
        base: Vec::new(),
        value: Cow::Borrowed(&package.values),
    }];
    for (path, layer) in &files {
        layers.push(values::Layer {
            source: values::Source::ValuesFile {
                file: ctx.snapshot.display(path),
            },
            edit: values::Edit::Merge(layer),
        });
        written.push(Origin {
            file: path.clone(),
            base: Vec::new(),
            value: Cow::Borrowed(layer),
        });
    }
    if let (true, Some(v)) = (use_bundle, bundle_values) {
        layers.push(values::Layer {
            source: values::Source::Bundle {
                file: ctx.snapshot.display(ctx.bundle_file),
                release: spec.name.clone(),
            },
            edit: values::Edit::Merge(v),
        });
        written.push(Origin {
            file: ctx.bundle_file.to_string(),
            base: vec![
                OwnedStep::Key("releases".into()),
                OwnedStep::Index(index),
                OwnedStep::Key("values".into()),
            ],
            value: Cow::Borrowed(v),
        });
    }
    if let (true, Some(v)) = (use_platform, platform_values) {
        layers.push(values::Layer {
            source: values::Source::Platform {
                file: ctx.snapshot.display(ctx.platform_file),
                release: spec.name.clone(),
            },
            edit: values::Edit::Merge(v),
        });
        written.push(Origin {
            file: ctx.platform_file.to_string(),
            base: vec![
                OwnedStep::Key("releases".into()),
                OwnedStep::Key(spec.name.clone()),
                OwnedStep::Key("values".into()),
            ],
            value: Cow::Borrowed(v),
        });
    }
    let overrides = &ctx.options.overrides;
    if overrides.applies_to(&spec.name) {
        for o in &overrides.release {
            tracing::info!(release = %spec.name, layer = %o.flag, "merging command-line values");
            layers.push(o.layer());
        }
    }

    let mut merged = package.values.clone();
    for layer in &layers[1..] {
        if let Err(m) = values::apply(&mut merged, layer.edit) {
            errors.push(release_error(&spec.name, format!("{}: {m}", layer.source)));
        }
    }
    if let Some(schema) = &package.schema {
        for e in schema.iter_errors(&merged) {
            let pointer = e.instance_path().to_string();
            let set_in = origin_of(ctx.snapshot, &written, &pointer)
                .map(|at| format!(" (set in {at})"))
                .unwrap_or_default();
            errors.push(Error::Release {
                release: spec.name.clone(),
                file: ctx
                    .snapshot
                    .display(&format!("{}/values.schema.json", package.dir)),
                line: None,
                message: format!("{}: {}{set_in}", values::pointer_to_path(&pointer), e),
            });
        }
    }
    let origins = if ctx.options.origins {
        values::origins(&layers, &merged)
    } else {
        Vec::new()
    };
    // Held for the whole run, once per release: without the room merging
    // left in its maps.
    (errors.len() == before).then(|| (values::compact(merged), origins))
}

/// One layer of a release's values and where it was written.
struct Origin<'a> {
    /// The file, inside the snapshot.
    file: String,
    /// Where the layer's map starts in the file (`releases.<name>.values`
    /// in the platform file; empty for a values file).
    base: Vec<OwnedStep>,
    value: Cow<'a, Value>,
}

enum OwnedStep {
    Key(String),
    Index(usize),
}

/// `file:line` (or `file`) of the layer that set the value at a JSON
/// pointer of the merged values: the last layer that wrote it or replaced
/// one of its parents. `None` for the root, which every layer shares.
fn origin_of(snapshot: &Snapshot, origins: &[Origin<'_>], pointer: &str) -> Option<String> {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    if tokens.is_empty() {
        return None;
    }
    let (origin, steps) = origins
        .iter()
        .rev()
        .find_map(|o| wrote(&o.value, &tokens).map(|steps| (o, steps)))?;
    let mut path: Vec<Step> = origin
        .base
        .iter()
        .map(|s| match s {
            OwnedStep::Key(k) => Step::Key(k),
            OwnedStep::Index(i) => Step::Index(*i),
        })
        .collect();
    path.extend(steps.iter().map(|s| match s {
        OwnedStep::Key(k) => Step::Key(k),
        OwnedStep::Index(i) => Step::Index(*i),
    }));
    let shown = snapshot.display(&origin.file);
    let line = snapshot
        .get(&origin.file)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| line_of_path(text, &path));
    Some(match line {
        Some(line) => format!("{shown}:{line}"),
        None => shown,
    })
}

/// Whether a layer wrote the value at `tokens`, and the steps to it in the
/// layer: it holds the value, or a list or scalar where one of its parents
/// is (which replaced everything below).
fn wrote(layer: &Value, tokens: &[String]) -> Option<Vec<OwnedStep>> {
    let mut node = layer;
    let mut steps = Vec::new();
    for token in tokens {
        match node {
            Value::Object(map) => {
                node = map.get(token)?;
                steps.push(OwnedStep::Key(token.clone()));
            }
            Value::Array(items) => match token
                .parse::<usize>()
                .ok()
                .and_then(|i| Some((i, items.get(i)?)))
            {
                Some((i, item)) => {
                    steps.push(OwnedStep::Index(i));
                    node = item;
                }
                None => return Some(steps),
            },
            _ => return Some(steps),
        }
    }
    Some(steps)
}

/// RFC 1123 label: what Kubernetes accepts as a namespace name, and what a
/// release name must be so that it can name objects and labels.
pub fn check_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = !name.starts_with('-') && !name.ends_with('-');
    if ok_chars && ok_ends {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be lower-case letters, digits and '-', starting and ending with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    #[test]
    fn bare_version_is_exact() {
        let r = parse_requirement("1.16.5").unwrap();
        assert!(r.matches(&v("1.16.5")));
        assert!(!r.matches(&v("1.16.6")));
        assert!(parse_requirement("v1.16.5").unwrap().matches(&v("1.16.5")));
    }

    #[test]
    fn ranges() {
        let caret = parse_requirement("^1.16").unwrap();
        assert!(caret.matches(&v("1.17.2")));
        assert!(!caret.matches(&v("2.0.0")));
        let range = parse_requirement(">=1.15, <1.17").unwrap();
        assert!(range.matches(&v("1.16.9")));
        assert!(!range.matches(&v("1.17.0")));
        assert!(parse_requirement("1.16.*").unwrap().matches(&v("1.16.3")));
        assert!(parse_requirement("not a version").is_err());
    }

    #[test]
    fn kube_versions() {
        assert_eq!(parse_kube_version("v1.34.1"), Some(v("1.34.1")));
        assert_eq!(parse_kube_version("1.31"), Some(v("1.31.0")));
        assert_eq!(parse_kube_version("v1.30.2-gke.1"), Some(v("1.30.2")));
        assert_eq!(parse_kube_version("x"), None);
    }

    #[test]
    fn dns_labels() {
        assert!(check_dns_label("cert-manager").is_ok());
        assert!(check_dns_label("Cert").is_err());
        assert!(check_dns_label("-a").is_err());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
    }
}
