//! The distribution model: packages, bundles and the platform, parsed,
//! validated and resolved into releases. No templates run here.

mod bundle;
mod error;
mod locate;
mod package;
mod platform;
mod release;
pub mod values;

pub use bundle::{Bundle, ReleaseSpec};
pub use error::{Error, at as at_line};
pub use locate::{Step, line_of_path};
pub use package::{Catalog, DeclaredImage, File, Package, PackageMeta, type_name};
pub use platform::{GitSource, OciSource, Platform, ReleaseOverride, Source, parse_duration};
pub use release::{
    BundleEntry, DropReason, Dropped, Options, Pin, Release, check_dns_label, parse_kube_version,
    parse_requirement,
};

use crate::source::Snapshot;

/// The Kubernetes version assumed when the platform names none.
pub const DEFAULT_KUBE_VERSION: &str = "1.34.0";

/// A fully resolved distribution: what `render` turns into manifests.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub platform: Platform,
    /// Platform-wide values (`platform` in templates), always a map.
    pub platform_values: serde_json::Value,
    pub bundle: String,
    /// Every package version present, including unused ones.
    pub catalog: Catalog,
    /// Enabled releases in bundle order.
    pub releases: Vec<Release>,
    /// Every release of the bundle, on or off, in bundle order.
    pub entries: Vec<BundleEntry>,
    pub kube_version: semver::Version,
}

/// Parses and validates everything in the snapshot and resolves the
/// platform's releases.
///
/// # Errors
/// Every problem found, not only the first: broken YAML in any file, unknown
/// fields, bad versions, unknown bundle, package or dependency, values that
/// break the package's schema, `valuesFiles` outside the package.
pub fn load(snapshot: &Snapshot) -> Result<Distribution, Vec<Error>> {
    load_with(snapshot, &Options::default())
}

/// [`load`] with locked versions to keep, command-line values and a
/// Kubernetes version.
///
/// # Errors
/// As [`load`], and command-line values that cannot be applied.
pub fn load_with(snapshot: &Snapshot, options: &Options) -> Result<Distribution, Vec<Error>> {
    let mut errors = Vec::new();
    let mut broken = std::collections::BTreeSet::new();
    let catalog = package::load_all(snapshot, &mut errors, &mut broken);

    let platform_file = snapshot.platform_file().to_string();
    let platform_bytes = snapshot.get(&platform_file).unwrap_or_default();
    let platform_text = String::from_utf8_lossy(platform_bytes).into_owned();
    let platform: Option<Platform> =
        package::parse_yaml(snapshot, &platform_file, platform_bytes, &mut errors);

    let bundles = bundle::load_all(snapshot, &mut errors);
    let Some(platform) = platform else {
        return Err(errors);
    };
    let mut platform_values = match &platform.values {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(v @ serde_json::Value::Object(_)) => v.clone(),
        Some(_) => {
            errors.push(Error::file(
                snapshot.display(&platform_file),
                "values must be a map",
            ));
            serde_json::Value::Null
        }
    };
    for o in &options.overrides.platform {
        if let Err(m) = values::apply(&mut platform_values, o.layer().edit) {
            errors.push(Error::file(o.flag.clone(), m));
        }
    }
    if let Err(m) = check_dns_label(&platform.name) {
        errors.push(Error::file(
            snapshot.display(&platform_file),
            format!("name: {m}"),
        ));
    }
    if let Some(interval) = &platform.interval
        && let Err(m) = parse_duration(interval)
    {
        errors.push(Error::file(
            snapshot.display(&platform_file),
            format!("interval: {m}"),
        ));
    }
    if let Some(source) = &platform.source
        && source.git.is_some() == source.oci.is_some()
    {
        errors.push(Error::file(
            snapshot.display(&platform_file),
            "source: set exactly one of git, oci",
        ));
    }
    let kube_version_text = platform
        .kube_version
        .clone()
        .unwrap_or_else(|| DEFAULT_KUBE_VERSION.to_string());
    let kube_version = options
        .kube_version
        .clone()
        .or_else(|| parse_kube_version(&kube_version_text))
        .unwrap_or_else(|| {
            errors.push(Error::file(
                snapshot.display(&platform_file),
                format!("kubeVersion {kube_version_text:?} is not a Kubernetes version"),
            ));
            semver::Version::new(0, 0, 0)
        });

    let Some((bundle_file, bundle)) = bundles.found.get(&platform.bundle) else {
        // A bundle file that is there but broken, or misnamed, is reported
        // already; only say "not found" when nothing else explains it.
        if !bundles.explained.contains(&platform.bundle) {
            let known: Vec<&str> = bundles.found.keys().map(String::as_str).collect();
            errors.push(Error::File {
                file: snapshot.display(&platform_file),
                line: error::line_of_name(&platform_text, "bundle", &platform.bundle),
                message: format!(
                    "bundle {:?} not found: no bundles/{}.yaml (available: {}){}",
                    platform.bundle,
                    platform.bundle,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                    error::did_you_mean(&platform.bundle, known.iter().copied()),
                ),
            });
        }
        return Err(errors);
    };
    let bundle_text = String::from_utf8_lossy(snapshot.get(bundle_file).unwrap_or_default());
    let ctx = release::Context {
        snapshot,
        catalog: &catalog,
        broken: &broken,
        platform: &platform,
        platform_file: &platform_file,
        platform_text: &platform_text,
        bundle_file,
        bundle_text: &bundle_text,
        kube_version: &kube_version,
        options,
    };
    let releases = release::resolve(&ctx, &bundle.releases, &mut errors);
    let entries = release::entries(&platform, &bundle.releases);

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Distribution {
        bundle: platform.bundle.clone(),
        platform,
        platform_values,
        catalog,
        releases,
        entries,
        kube_version,
    })
}
