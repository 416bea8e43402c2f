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

use crate::apply::ObjectKey;
pub use engine::Capabilities;
pub use error::Error;
pub use manifest::{MANAGED_BY, MANAGED_BY_LABEL, Object, RELEASE_LABEL};

use crate::kinds;
use crate::model::{Distribution, Package, Release};
use crate::source::{Snapshot, hex};
use crate::yaml;
use engine::{Engine, Output};
use manifest::{Origin, Scopes};
use sha2::{Digest, Sha256};

/// One release, rendered.
#[derive(Debug, Clone)]
pub struct RenderedRelease {
    pub name: String,
    pub namespace: String,
    pub package: String,
    pub version: String,
    /// Objects in apply order (CRDs and Namespaces first, webhooks last).
    /// Each one's YAML ([`Object::yaml`]) is its part of `manifest`.
    pub objects: Vec<Object>,
    /// The release's manifest stream: what `render --out` writes to
    /// `<release>.yaml`, and what the digest covers.
    pub manifest: Arc<String>,
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
    let job = Job {
        snapshot,
        engines: &engines,
        capabilities: &capabilities,
        platform_values: &dist.platform_values,
    };

    // Each release's templates to text and the text to objects at once, so
    // that only the releases being worked on have their text in memory. The
    // scopes used are those of `crds/`; CRDs that templates render are
    // collected on the way.
    let mut results = job.all(&dist.releases, &scopes);

    // Every CRD is known now: the scopes as the objects should have seen
    // them, later releases winning.
    let mut all_scopes = scopes.clone();
    for result in &mut results {
        match result {
            Ok(finished) => {
                for info in finished.crds.drain(..) {
                    all_scopes.insert((info.group, info.kind), info.cluster_scoped);
                }
            }
            Err(e) => errors.append(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Releases that looked up a kind whose scope a rendered CRD defines (or
    // changes) are finished again with every scope known.
    let changed = |key: &(String, String)| all_scopes.get(key) != scopes.get(key);
    let again: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Ok(f) if f.consulted.iter().any(changed)))
        .map(|(i, _)| i)
        .collect();
    let redone: Vec<(usize, Result<Finished, Vec<Error>>)> = again
        .par_iter()
        .map(|&i| {
            let release = &dist.releases[i];
            (
                i,
                job.release(release, &all_scopes)
                    .map(|w| w.complete(release)),
            )
        })
        .collect();
    for (i, result) in redone {
        results[i] = result;
    }

    let mut releases = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(mut finished) => {
                errors.append(&mut finished.errors);
                releases.push(finished.release);
            }
            // Rendering is deterministic: the second time cannot fail where
            // the first did not.
            Err(mut e) => errors.append(&mut e),
        }
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

/// What rendering one release needs besides the release.
struct Job<'a> {
    snapshot: &'a Snapshot,
    engines: &'a HashMap<&'a str, Engine>,
    capabilities: &'a Capabilities<'a>,
    platform_values: &'a serde_json::Value,
}

/// One release rendered and finished with the scopes known at the time.
struct Finished {
    release: RenderedRelease,
    /// YAML and object problems.
    errors: Vec<Error>,
    /// Custom kinds whose scope the release's objects looked up.
    consulted: Vec<(String, String)>,
    /// CRDs its templates render.
    crds: Vec<manifest::CrdInfo>,
}

/// A release's objects, finished and in order, before its manifest is
/// assembled.
struct Worked {
    yaml: String,
    drafts: Vec<manifest::Draft>,
    digest: String,
    errors: Vec<Error>,
    consulted: Vec<(String, String)>,
    crds: Vec<manifest::CrdInfo>,
}

impl Job<'_> {
    /// [`Job::release`] for every release, in parallel, completed.
    ///
    /// The worker threads keep nothing: the calling thread copies what stays
    /// (manifests, objects) as results come in, so that it lands in memory
    /// that thread freed after loading the inputs rather than next to the
    /// workers' scratch space, which keeps the peak memory near the size of
    /// the output.
    fn all(&self, releases: &[Release], scopes: &Scopes) -> Vec<Result<Finished, Vec<Error>>> {
        if rayon::current_thread_index().is_some() {
            // Called from a pool's worker: blocking it on a channel could
            // leave the pool without a thread to do the work.
            return releases
                .par_iter()
                .map(|r| self.release(r, scopes).map(|w| w.complete(r)))
                .collect();
        }
        let mut results: Vec<Option<Result<Finished, Vec<Error>>>> =
            std::iter::repeat_with(|| None)
                .take(releases.len())
                .collect();
        std::thread::scope(|threads| {
            let (tx, rx) = std::sync::mpsc::sync_channel(rayon::current_num_threads().max(1) * 2);
            threads.spawn(move || {
                releases
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, release)| {
                        // The receiver outlives every sender.
                        let _ = tx.send((i, self.release(release, scopes)));
                    });
            });
            for (i, worked) in rx {
                results[i] = Some(worked.map(|w| w.complete(&releases[i])));
            }
        });
        results
            .into_iter()
            .map(|r| r.expect("every release is rendered once"))
            .collect()
    }

    /// Renders a release's templates and turns their text, and the
    /// package's `crds/`, into its objects, in apply order.
    ///
    /// # Errors
    /// Template problems (YAML and object problems are in [`Worked`]).
    fn release(&self, release: &Release, scopes: &Scopes) -> Result<Worked, Vec<Error>> {
        let outputs = match self.engines.get(release.package.dir.as_str()) {
            Some(engine) => engine.render(
                self.snapshot,
                release,
                self.platform_values,
                self.capabilities,
            )?,
            // The package did not compile; that is reported already.
            None => Vec::new(),
        };
        Ok(finish_release(self.snapshot, release, outputs, scopes))
    }
}

fn finish_release(
    snapshot: &Snapshot,
    release: &Release,
    outputs: Vec<Output>,
    scopes: &Scopes,
) -> Worked {
    let package = &release.package;
    let mut finisher = manifest::Finisher::new(scopes);
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
        manifest::finish(text, &origin, &mut finisher);
    }
    drop(outputs);
    finisher.sort();
    let mut digest = Sha256::new();
    for piece in manifest::manifest_pieces(&release.name, &finisher.yaml, &finisher.drafts) {
        digest.update(piece.as_bytes());
    }
    Worked {
        digest: format!("sha256:{}", hex(&digest.finalize())),
        yaml: finisher.yaml,
        drafts: finisher.drafts,
        errors: finisher.errors,
        consulted: finisher.consulted,
        crds: finisher.crds,
    }
}

impl Worked {
    /// The release with its manifest and objects.
    fn complete(self, release: &Release) -> Finished {
        let (objects, manifest) = manifest::assemble(&release.name, &self.yaml, &self.drafts);
        drop(self.yaml);
        drop(self.drafts);
        let package = &release.package;
        Finished {
            release: RenderedRelease {
                name: release.name.clone(),
                namespace: release.namespace.clone(),
                package: package.meta.name.clone(),
                version: package.meta.version.clone(),
                objects,
                manifest,
                digest: self.digest,
            },
            errors: self.errors,
            consulted: self.consulted,
            crds: self.crds,
        }
    }
}

fn check_duplicates(
    snapshot: &Snapshot,
    rendered: &[RenderedRelease],
    releases: &[Release],
    errors: &mut Vec<Error>,
) {
    let shown = |release: &Release, object: &Object| {
        snapshot.display(&format!("{}/{}", release.package.dir, object.source))
    };
    let mut seen: HashMap<&ObjectKey, (&RenderedRelease, &Release, &Object)> = HashMap::new();
    for (r, release) in rendered.iter().zip(releases) {
        for object in &r.objects {
            match seen.get(&object.key) {
                Some((first, first_release, first_object)) => errors.push(Error::Duplicate {
                    object: object.key.to_string(),
                    first_release: first.name.clone(),
                    first_file: shown(first_release, first_object),
                    second_release: r.name.clone(),
                    second_file: shown(release, object),
                }),
                None => {
                    seen.insert(&object.key, (r, release, object));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::source::sha256;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn package(root: &Path, name: &str, templates: &[(&str, &str)]) {
        let dir = format!("packages/{name}/1.0.0");
        write(
            root,
            &format!("{dir}/package.yaml"),
            &format!("name: {name}\nversion: 1.0.0\nappVersion: \"1\"\ndescription: test\n"),
        );
        write(root, &format!("{dir}/values.yaml"), "{}\n");
        for (file, text) in templates {
            write(root, &format!("{dir}/templates/{file}"), text);
        }
    }

    /// A CRD rendered by one release's templates sets the scope of objects
    /// of another release, even one that comes first.
    #[test]
    fn crds_rendered_by_templates_scope_every_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "platform.yaml",
            "name: test\nbundle: b\nkubeVersion: \"1.34.0\"\n",
        );
        write(
            root,
            "bundles/b.yaml",
            "description: test\nreleases:\n  - name: user\n    package: user\n    version: \"1.0.0\"\n    namespace: apps\n  - name: provider\n    package: provider\n    version: \"1.0.0\"\n    namespace: system\n",
        );
        package(
            root,
            "user",
            &[(
                "gadgets.yaml",
                "apiVersion: example.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n---\napiVersion: example.dev/v1\nkind: Gizmo\nmetadata:\n  name: z\n",
            )],
        );
        package(
            root,
            "provider",
            &[(
                "crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.dev\nspec:\n  group: example.dev\n  names:\n    kind: Gadget\n    plural: gadgets\n  scope: Cluster\n  versions:\n  - name: v1\n    served: true\n    storage: true\n",
            )],
        );
        let snapshot = Snapshot::from_dir(&root.join("platform.yaml")).unwrap();
        let dist = crate::model::load(&snapshot).unwrap();
        let releases = render(&snapshot, &dist).unwrap();
        let user = releases.iter().find(|r| r.name == "user").unwrap();
        let gadget = &user.objects[0];
        assert_eq!(gadget.key.kind, "Gadget");
        assert_eq!(gadget.key.namespace, None);
        assert!(!gadget.yaml().contains("namespace"), "{}", gadget.yaml());
        // A kind no CRD describes stays namespaced.
        let gizmo = &user.objects[1];
        assert_eq!(gizmo.key.namespace.as_deref(), Some("apps"));
        // Each object's YAML is its part of the manifest.
        let mut expected = String::new();
        for object in &user.objects {
            expected.push_str(&format!("---\n# Source: user/{}\n", object.source));
            expected.push_str(object.yaml());
        }
        assert_eq!(*user.manifest, expected);
        assert_eq!(user.digest, sha256(user.manifest.as_bytes()));

        // The same from inside a thread pool.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let again = pool.install(|| render(&snapshot, &dist)).unwrap();
        let manifests = |rs: &[RenderedRelease]| {
            rs.iter()
                .map(|r| r.manifest.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(manifests(&again), manifests(&releases));
    }
}
