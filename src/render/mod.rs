//! Rendering: every release's templates through Tera, then every document
//! checked, namespaced, labelled and sorted into apply order, with a digest
//! per release.
//!
//! # Guarantees
//! Same inputs, same bytes: maps keep their written order, releases and
//! documents are ordered by rules that do not depend on timing, and the
//! digest of a release covers only that release's output.

mod engine;
mod error;
mod filters;
pub mod manifest;
pub mod output;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;

pub use engine::Capabilities;
pub use error::Error;
pub use manifest::{MANAGED_BY_LABEL, MANAGER, Object, ObjectKey, RELEASE_LABEL};

use crate::kinds;
use crate::model::{Distribution, Package, Release};
use crate::source::{Snapshot, sha256};
use crate::yaml;
use engine::{Engine, Output};
use manifest::{Origin, Scopes};

/// One release, rendered.
#[derive(Debug, Clone)]
pub struct RenderedRelease {
    pub name: String,
    pub namespace: String,
    pub package: String,
    pub version: String,
    /// Objects in apply order (CRDs and Namespaces first, webhooks last).
    pub objects: Vec<Object>,
    /// The release's manifest stream: what `render --out` writes to
    /// `<release>.yaml`, and what the digest covers.
    pub manifest: String,
    /// `sha256:<hex>` of `manifest`.
    pub digest: String,
}

/// Renders every release of the distribution, in the distribution's order.
///
/// # Errors
/// Every template, YAML and object problem of every release, and objects
/// rendered by two releases.
pub fn render(
    snapshot: &Snapshot,
    dist: &Distribution,
) -> Result<Vec<RenderedRelease>, Vec<Error>> {
    // Compile each package version once, used or not, so that a broken
    // template anywhere in the repository is caught.
    let packages: Vec<&Arc<Package>> = dist.catalog.values().flatten().collect();
    let compiled: Vec<Result<Engine, Vec<Error>>> = packages
        .par_iter()
        .map(|p| Engine::compile(snapshot, Arc::clone(p)))
        .collect();
    let mut errors = Vec::new();
    let mut engines: HashMap<&str, Engine> = HashMap::new();
    for (package, result) in packages.iter().zip(compiled) {
        match result {
            Ok(engine) => {
                engines.insert(package.dir.as_str(), engine);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }

    // CRDs shipped in `crds/` are known before any template runs, so
    // templates can test `capabilities.apiVersions` for them.
    let mut scopes = Scopes::new();
    let mut api_versions: BTreeSet<String> = kinds::BUILTIN_API_VERSIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let used: BTreeMap<&str, &Arc<Package>> = dist
        .releases
        .iter()
        .map(|r| (r.package.dir.as_str(), &r.package))
        .collect();
    for package in used.values() {
        for file in &package.crds {
            for doc in yaml::split_documents(&file.text) {
                learn_crd(doc.text, &mut scopes, &mut api_versions);
            }
        }
    }
    let api_versions: Vec<String> = api_versions.into_iter().collect();
    let capabilities = Capabilities {
        kube_version: dist.kube_version.to_string(),
        api_versions: &api_versions,
    };

    // Pass 1: templates to text, in parallel, noting the CRDs they render.
    type Pass1 = Result<(Vec<Output>, Vec<manifest::CrdInfo>), Vec<Error>>;
    let outputs: Vec<Pass1> = dist
        .releases
        .par_iter()
        .map(|release| {
            let Some(engine) = engines.get(release.package.dir.as_str()) else {
                return Ok((Vec::new(), Vec::new()));
            };
            let outputs = engine.render(snapshot, release, &dist.platform_values, &capabilities)?;
            let crds = outputs
                .iter()
                .flat_map(|o| yaml::split_documents(&o.text))
                .filter_map(|doc| manifest::crd_info(doc.text))
                .collect();
            Ok((outputs, crds))
        })
        .collect();
    let mut rendered = Vec::with_capacity(outputs.len());
    for output in outputs {
        match output {
            Ok((outputs, crds)) => {
                for info in crds {
                    scopes.insert((info.group, info.kind), info.cluster_scoped);
                }
                rendered.push(outputs);
            }
            Err(mut e) => {
                errors.append(&mut e);
                rendered.push(Vec::new());
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Pass 2: text to objects, in parallel; each release's text is dropped
    // as soon as its objects exist.
    let results: Vec<(RenderedRelease, Vec<Error>)> = dist
        .releases
        .par_iter()
        .zip(rendered.into_par_iter())
        .map(|(release, outputs)| finish_release(snapshot, release, outputs, &scopes))
        .collect();
    let mut releases = Vec::with_capacity(results.len());
    for (release, mut errs) in results {
        errors.append(&mut errs);
        releases.push(release);
    }
    check_duplicates(snapshot, &releases, &dist.releases, &mut errors);
    if errors.is_empty() {
        Ok(releases)
    } else {
        Err(errors)
    }
}

fn learn_crd(text: &str, scopes: &mut Scopes, api_versions: &mut BTreeSet<String>) {
    if let Some(info) = manifest::crd_info(text) {
        scopes.insert((info.group, info.kind), info.cluster_scoped);
        api_versions.extend(info.api_versions);
    }
}

fn finish_release(
    snapshot: &Snapshot,
    release: &Release,
    outputs: Vec<Output>,
    scopes: &Scopes,
) -> (RenderedRelease, Vec<Error>) {
    let package = &release.package;
    let mut errors = Vec::new();
    let mut objects = Vec::new();
    let crds = package
        .crds
        .iter()
        .map(|f| (f.path.as_str(), f.text.as_str()));
    let templates = outputs.iter().map(|o| (o.path.as_str(), o.text.as_str()));
    for (path, text) in crds.chain(templates) {
        let shown = snapshot.display(&format!("{}/{}", package.dir, path));
        let origin = Origin {
            release: &release.name,
            namespace: &release.namespace,
            source: path,
            shown: &shown,
            rendered: path.starts_with("templates/"),
        };
        objects.extend(manifest::finish(text, &origin, scopes, &mut errors));
    }
    drop(outputs);
    // Stable: objects of one stage keep file order, then document order.
    objects.sort_by_key(Object::rank);

    let mut manifest = String::new();
    for object in &objects {
        manifest.push_str("---\n# Source: ");
        manifest.push_str(&release.name);
        manifest.push('/');
        manifest.push_str(&object.source);
        manifest.push('\n');
        manifest.push_str(&object.yaml);
    }
    let digest = sha256(manifest.as_bytes());
    (
        RenderedRelease {
            name: release.name.clone(),
            namespace: release.namespace.clone(),
            package: package.meta.name.clone(),
            version: package.meta.version.clone(),
            objects,
            manifest,
            digest,
        },
        errors,
    )
}

fn check_duplicates(
    snapshot: &Snapshot,
    rendered: &[RenderedRelease],
    releases: &[Release],
    errors: &mut Vec<Error>,
) {
    let mut seen: HashMap<&ObjectKey, (&str, String)> = HashMap::new();
    for (r, release) in rendered.iter().zip(releases) {
        for object in &r.objects {
            let shown = snapshot.display(&format!("{}/{}", release.package.dir, object.source));
            match seen.get(&object.key) {
                Some((first_release, first_file)) => errors.push(Error::Duplicate {
                    object: object.key.to_string(),
                    first_release: first_release.to_string(),
                    first_file: first_file.clone(),
                    second_release: r.name.clone(),
                    second_file: shown,
                }),
                None => {
                    seen.insert(&object.key, (&r.name, shown));
                }
            }
        }
    }
}
