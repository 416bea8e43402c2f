//! Rendering: every release's templates through Tera, then every document
//! checked, namespaced, labelled and sorted into apply order, with a digest
//! per release.
//!
//! # Guarantees
//! Same inputs, same bytes: maps keep their written order, releases and
//! documents are ordered by rules that do not depend on timing, and the
//! digest of a release covers only that release's output.

mod budget;
pub mod cache;
mod crd;
mod engine;
mod error;
mod filters;
pub mod manifest;
mod metadata;
pub mod output;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;

use crate::apply::ObjectKey;
pub use budget::{Budget, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT};
pub use cache::Cache;
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

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Time per template and output per release; see [`Budget`].
    pub budget: Budget,
    /// Releases rendered before: those whose inputs did not change are
    /// taken from it instead of rendered again, and a render that succeeds
    /// leaves its releases in it.
    pub cache: Option<Arc<Cache>>,
}

/// Renders every release of the distribution, in the distribution's order,
/// with the default [`Options`].
///
/// # Errors
/// Every template, YAML and object problem of every release, and objects
/// rendered by two releases.
pub fn render(
    snapshot: &Snapshot,
    dist: &Distribution,
) -> Result<Vec<RenderedRelease>, Vec<Error>> {
    render_with(snapshot, dist, &Options::default())
}

/// [`render`] with options.
///
/// # Errors
/// As [`render`], and [`Error::Budget`] for a template that runs out of the
/// budget.
pub fn render_with(
    snapshot: &Snapshot,
    dist: &Distribution,
    options: &Options,
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
        budget: &options.budget,
    };

    // What each release's output depends on, and the releases whose
    // output the cache already has.
    let keys: Vec<cache::Key> = match &options.cache {
        Some(_) => {
            let common = cache::common(&dist.platform_values, &capabilities, &options.budget);
            dist.releases
                .par_iter()
                .map(|r| cache::key(&common, r))
                .collect()
        }
        None => Vec::new(),
    };
    let cached: Vec<Option<cache::Entry>> = match &options.cache {
        Some(c) => dist
            .releases
            .iter()
            .zip(&keys)
            .map(|(r, key)| c.get(&r.name, key))
            .collect(),
        None => vec![None; dist.releases.len()],
    };
    let missing: Vec<&Release> = dist
        .releases
        .iter()
        .zip(&cached)
        .filter(|(_, c)| c.is_none())
        .map(|(r, _)| r)
        .collect();

    // Each release's templates to text and the text to objects at once, so
    // that only the releases being worked on have their text in memory. The
    // scopes used are those of `crds/`; CRDs that templates render are
    // collected on the way.
    let mut fresh = job.all(&missing, &scopes).into_iter();
    let mut results: Vec<Result<Finished, Vec<Error>>> = cached
        .into_iter()
        .map(|c| match c {
            Some(entry) => Ok(Finished::from(entry)),
            None => fresh
                .next()
                .expect("one result per release not in the cache"),
        })
        .collect();

    // Every CRD is known now: the scopes as the objects should have seen
    // them, later releases winning.
    let mut all_scopes = scopes.clone();
    for result in &mut results {
        match result {
            Ok(finished) => {
                for info in &finished.crds {
                    all_scopes.insert((info.group.clone(), info.kind.clone()), info.cluster_scoped);
                }
            }
            Err(e) => errors.append(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Releases that looked up a kind whose scope is not the one they saw
    // (a rendered CRD defines or changes it) are finished again with every
    // scope known.
    let changed =
        |(key, seen): &((String, String), Option<bool>)| all_scopes.get(key).copied() != *seen;
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
                    .map(|w| w.complete(release, &all_scopes)),
            )
        })
        .collect();
    for (i, result) in redone {
        results[i] = result;
    }

    let mut releases = Vec::with_capacity(results.len());
    let mut entries = HashMap::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(mut finished) => {
                errors.append(&mut finished.errors);
                if let Some(key) = keys.get(i) {
                    entries.insert(
                        finished.release.name.clone(),
                        cache::Entry {
                            key: *key,
                            consulted: finished.consulted,
                            crds: finished.crds,
                            release: finished.release.clone(),
                        },
                    );
                }
                releases.push(finished.release);
            }
            // Rendering is deterministic: the second time cannot fail where
            // the first did not.
            Err(mut e) => errors.append(&mut e),
        }
    }
    check_duplicates(snapshot, &releases, &dist.releases, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(c) = &options.cache {
        c.replace(entries);
    }
    Ok(releases)
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
    budget: &'a Budget,
}

/// One release rendered and finished with the scopes known at the time.
struct Finished {
    release: RenderedRelease,
    /// YAML and object problems.
    errors: Vec<Error>,
    /// Custom kinds whose scope the release's objects looked up, with the
    /// scope they saw.
    consulted: cache::Consulted,
    /// CRDs its templates render.
    crds: Vec<manifest::CrdInfo>,
}

impl From<cache::Entry> for Finished {
    fn from(entry: cache::Entry) -> Self {
        Self {
            release: entry.release,
            errors: Vec::new(),
            consulted: entry.consulted,
            crds: entry.crds,
        }
    }
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
    fn all(&self, releases: &[&Release], scopes: &Scopes) -> Vec<Result<Finished, Vec<Error>>> {
        if rayon::current_thread_index().is_some() {
            // Called from a pool's worker: blocking it on a channel could
            // leave the pool without a thread to do the work.
            return releases
                .par_iter()
                .map(|r| self.release(r, scopes).map(|w| w.complete(r, scopes)))
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
                results[i] = Some(worked.map(|w| w.complete(releases[i], scopes)));
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
                self.budget,
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
    /// The release with its manifest and objects; `scopes` are those it
    /// was finished with.
    fn complete(self, release: &Release, scopes: &Scopes) -> Finished {
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
            consulted: self
                .consulted
                .into_iter()
                .map(|k| {
                    let seen = scopes.get(&k).copied();
                    (k, seen)
                })
                .collect(),
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

    /// Nested loops over large ranges rendered for hours; the budget stops
    /// them at its deadline, naming the release and the template.
    #[test]
    fn regression_nested_loops_stop_at_the_render_budget() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "platform.yaml", "bundle: b\n");
        write(
            root,
            "bundles/b.yaml",
            "releases:\n  - name: spin\n    package: spin\n    version: \"1.0.0\"\n    namespace: apps\n",
        );
        package(
            root,
            "spin",
            &[(
                "loop.yaml",
                "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}\n",
            )],
        );
        let snapshot = Snapshot::from_dir(&root.join("platform.yaml")).unwrap();
        let dist = crate::model::load(&snapshot).unwrap();
        let options = Options {
            budget: Budget {
                timeout: std::time::Duration::from_millis(200),
                ..Budget::default()
            },
            ..Options::default()
        };
        let started = std::time::Instant::now();
        let errors = render_with(&snapshot, &dist, &options).unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        let message = errors[0].to_string();
        assert!(matches!(errors[0], Error::Budget { .. }), "{message}");
        assert!(message.contains("templates/loop.yaml"), "{message}");
        assert!(message.contains("release spin"), "{message}");
        assert!(message.contains("200ms"), "{message}");
    }

    /// The output budget counts every template of a release together.
    #[test]
    fn output_budget_is_per_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "platform.yaml", "bundle: b\n");
        write(
            root,
            "bundles/b.yaml",
            "releases:\n  - name: big\n    package: big\n    version: \"1.0.0\"\n    namespace: apps\n",
        );
        let config = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  text: \"{{% for i in range(end=600) %}}x{{% endfor %}}\"\n"
            )
        };
        let (a, b) = (config("a"), config("b"));
        package(root, "big", &[("a.yaml", &a), ("b.yaml", &b)]);
        let snapshot = Snapshot::from_dir(&root.join("platform.yaml")).unwrap();
        let dist = crate::model::load(&snapshot).unwrap();
        let budget = |max_bytes| Options {
            budget: Budget {
                max_bytes,
                ..Budget::default()
            },
            ..Options::default()
        };
        // Each template fits in 1000 bytes, both do not.
        assert!(render_with(&snapshot, &dist, &budget(2000)).is_ok());
        let errors = render_with(&snapshot, &dist, &budget(1000)).unwrap_err();
        let message = errors[0].to_string();
        assert!(message.contains("templates/b.yaml"), "{message}");
        assert!(message.contains("1000 bytes"), "{message}");
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
    /// Renders the distribution at `root` with `cache`, and checks that the
    /// output is what rendering without a cache gives.
    fn render_cached(root: &Path, cache: &Arc<Cache>) -> Vec<RenderedRelease> {
        let snapshot = Snapshot::from_dir(&root.join("platform.yaml")).unwrap();
        let dist = crate::model::load(&snapshot).unwrap();
        let options = Options {
            cache: Some(Arc::clone(cache)),
            ..Options::default()
        };
        let cached = render_with(&snapshot, &dist, &options).unwrap();
        let uncached = render(&snapshot, &dist).unwrap();
        let text = |rs: &[RenderedRelease]| {
            rs.iter()
                .map(|r| (r.name.clone(), r.manifest.to_string(), r.digest.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&cached), text(&uncached));
        cached
    }

    fn by_name<'a>(releases: &'a [RenderedRelease], name: &str) -> &'a RenderedRelease {
        releases.iter().find(|r| r.name == name).unwrap()
    }

    /// A second render takes unchanged releases from the cache (the same
    /// manifest, not a copy) and renders the one whose values changed; a
    /// changed template renders every release of its package again.
    #[test]
    fn the_cache_renders_again_only_releases_whose_inputs_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "platform.yaml", "name: test\nbundle: b\n");
        let bundle = |color: &str| {
            format!(
                "releases:\n  - name: a\n    package: p\n    version: \"1.0.0\"\n    namespace: apps\n    values: {{color: red}}\n  - name: b\n    package: p\n    version: \"1.0.0\"\n    namespace: apps\n    values: {{color: {color}}}\n"
            )
        };
        let template = |key: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ release.name }}}}\ndata:\n  {key}: \"{{{{ values.color }}}}\"\n"
            )
        };
        write(root, "bundles/b.yaml", &bundle("red"));
        package(root, "p", &[("cm.yaml", &template("color"))]);
        let cache = Arc::new(Cache::new());
        let first = render_cached(root, &cache);
        assert_eq!(cache.len(), 2);

        write(root, "bundles/b.yaml", &bundle("blue"));
        let second = render_cached(root, &cache);
        assert!(Arc::ptr_eq(
            &by_name(&first, "a").manifest,
            &by_name(&second, "a").manifest
        ));
        assert!(!Arc::ptr_eq(
            &by_name(&first, "b").manifest,
            &by_name(&second, "b").manifest
        ));
        assert!(by_name(&second, "b").manifest.contains("color: blue"));

        package(root, "p", &[("cm.yaml", &template("shade"))]);
        let third = render_cached(root, &cache);
        for name in ["a", "b"] {
            assert!(!Arc::ptr_eq(
                &by_name(&second, name).manifest,
                &by_name(&third, name).manifest
            ));
            assert!(by_name(&third, name).manifest.contains("shade:"));
        }

        // A release that leaves the distribution leaves the cache.
        write(
            root,
            "bundles/b.yaml",
            "releases:\n  - name: a\n    package: p\n    version: \"1.0.0\"\n    namespace: apps\n    values: {color: red}\n",
        );
        render_cached(root, &cache);
        assert_eq!(cache.len(), 1);
    }

    /// A release taken from the cache is finished again when the scope of
    /// a kind it uses changed: here a CRD another release renders moves
    /// from cluster to namespaced scope.
    #[test]
    fn a_cached_release_follows_the_scope_its_kinds_have_now() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "platform.yaml", "name: test\nbundle: b\n");
        write(
            root,
            "bundles/b.yaml",
            "releases:\n  - name: user\n    package: user\n    version: \"1.0.0\"\n    namespace: apps\n  - name: provider\n    package: provider\n    version: \"1.0.0\"\n    namespace: system\n",
        );
        package(
            root,
            "user",
            &[(
                "gadget.yaml",
                "apiVersion: example.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n",
            )],
        );
        let provider = |scope: &str| {
            format!(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.dev\nspec:\n  group: example.dev\n  names:\n    kind: Gadget\n    plural: gadgets\n  scope: {scope}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n"
            )
        };
        package(root, "provider", &[("crd.yaml", &provider("Cluster"))]);
        let cache = Arc::new(Cache::new());
        let first = render_cached(root, &cache);
        assert_eq!(by_name(&first, "user").objects[0].key.namespace, None);

        package(root, "provider", &[("crd.yaml", &provider("Namespaced"))]);
        let second = render_cached(root, &cache);
        assert_eq!(
            by_name(&second, "user").objects[0].key.namespace.as_deref(),
            Some("apps")
        );

        // Nothing changed: nothing is rendered again.
        let third = render_cached(root, &cache);
        for name in ["user", "provider"] {
            assert!(Arc::ptr_eq(
                &by_name(&second, name).manifest,
                &by_name(&third, name).manifest
            ));
        }
    }
}
