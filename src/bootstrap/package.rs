//! The `distro` package (the controller's own manifests) as built into the
//! binary, so that `distro bootstrap` installs the controller of the same
//! version as the binary, from no files at all (as `flux bootstrap` does).
//!
//! The files are those of `packages/distro/<version>/` in this repository;
//! the controller's CRDs are read from the same files
//! ([`crate::controller::platform::CRD_YAML`], [`crate::status::CRD_YAML`]),
//! so there is one copy of each.

use std::collections::BTreeMap;

use crate::source::{Origin, Snapshot};

/// The package's name, which is also the release's.
pub const NAME: &str = "distro";
/// The embedded package's version.
pub const VERSION: &str = "0.1.0";

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../packages/distro/0.1.0/", $path)))),*]
    };
}

/// Every file of the package, by its path inside the package directory.
/// A test checks that this list matches the directory.
pub const FILES: &[(&str, &str)] = files![
    "package.yaml",
    "values.yaml",
    "values.schema.json",
    "crds/platforms.yaml",
    "crds/releases.yaml",
    "templates/_helpers.yaml",
    "templates/deployment.yaml",
    "templates/namespace.yaml",
    "templates/rbac.yaml",
    "templates/service.yaml",
];

/// The bundle file of the one-release distribution.
const BUNDLE: &str = "bundles/bootstrap.yaml";

/// A distribution of one release, `distro`, in `namespace`, whose platform
/// is called `platform` (the Platform object's name, so that the Release it
/// writes is the one the controller will own). `kube_version` is what the
/// templates see and the package's constraint is checked against.
pub fn snapshot(namespace: &str, platform: &str, kube_version: &str) -> Snapshot {
    let mut files = BTreeMap::new();
    for (path, text) in FILES {
        files.insert(
            format!("packages/{NAME}/{VERSION}/{path}"),
            text.as_bytes().to_vec(),
        );
    }
    // Names were checked (DNS labels) before they get here, so they need no
    // quoting beyond JSON strings, which are YAML too.
    let q = |s: &str| serde_json::Value::from(s).to_string();
    files.insert(
        BUNDLE.into(),
        format!(
            "description: the distro controller, as distro bootstrap installs it\nreleases:\n  - name: {NAME}\n    package: {NAME}\n    version: \"={VERSION}\"\n    namespace: {}\n",
            q(namespace)
        )
        .into_bytes(),
    );
    files.insert(
        "platform.yaml".into(),
        format!(
            "name: {}\nbundle: bootstrap\nkubeVersion: {}\n",
            q(platform),
            q(kube_version)
        )
        .into_bytes(),
    );
    Snapshot::new(Origin::Memory, None, "platform.yaml", files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn package_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("packages/{NAME}/{VERSION}"))
    }

    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_file_of_the_package_is_embedded() {
        let mut on_disk = Vec::new();
        walk(&package_dir(), &package_dir(), &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "update FILES in src/bootstrap/package.rs"
        );
    }

    #[test]
    fn the_controller_installs_the_crds_the_package_ships() {
        let file = |p: &str| FILES.iter().find(|(f, _)| *f == p).unwrap().1;
        assert_eq!(
            file("crds/platforms.yaml"),
            crate::controller::platform::CRD_YAML
        );
        assert_eq!(file("crds/releases.yaml"), crate::status::CRD_YAML);
    }

    #[test]
    fn the_package_is_the_binary_s_version() {
        let text = FILES[0].1;
        let meta: serde_json::Value = crate::yaml::parse_value(text, 0).unwrap();
        assert_eq!(meta["version"], VERSION);
        // The default image tag is the appVersion: the image of this binary.
        assert_eq!(meta["appVersion"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            meta["images"][0],
            format!("ghcr.io/distro-dev/distro:{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
