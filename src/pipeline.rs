//! The pipeline from a [`Snapshot`] to rendered releases, in one place, so
//! that every front end (command line, controller) runs exactly the same
//! checks.
//!
//! # Guarantees
//! The pipeline is pure: it reads only the snapshot and writes nothing, not
//! even the lock. The commands that own files (`render`, `validate`, ...)
//! write `distro.lock` themselves, after everything else succeeded.

use crate::graph::{self, Graph};
use crate::lock::{self, Lock};
use crate::model::{self, Distribution, DropReason, values};
use crate::render::{self, Object, RenderedRelease};
use crate::source::{self, Snapshot};

/// Everything that makes a distribution invalid, from any stage.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Source(#[from] source::Error),
    #[error(transparent)]
    Model(#[from] model::Error),
    #[error(transparent)]
    Graph(#[from] graph::Error),
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error(transparent)]
    Lock(#[from] lock::Error),
    #[error(transparent)]
    Selection(#[from] Selection),
    #[error(transparent)]
    Images(#[from] crate::oci::images::Error),
    #[error(transparent)]
    Relocate(#[from] crate::oci::relocate::Error),
    /// An air-gap file that does not verify, or whose distribution cannot
    /// be read.
    #[error(transparent)]
    Tarball(#[from] source::tarball::Error),
}

/// A release or template named on the command line that is not there.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Selection {
    #[error("release {name:?} is not in bundle {bundle:?}{}", did_you_mean(.suggestion))]
    UnknownRelease {
        name: String,
        bundle: String,
        suggestion: Option<String>,
    },
    #[error("release {name:?} is off: {}", off_reason(*.reason, .platform_file))]
    ReleaseOff {
        name: String,
        reason: DropReason,
        platform_file: String,
    },
    #[error("--show-only {file:?}: no template or CRD file of that name in {scope}{}", did_you_mean(.suggestion))]
    UnknownTemplate {
        file: String,
        /// `release app` or `any release`.
        scope: String,
        suggestion: Option<String>,
    },
}

fn off_reason(reason: DropReason, platform_file: &str) -> String {
    match reason {
        DropReason::Disabled => format!("listed under disable: in {platform_file}"),
        DropReason::OptionalNotEnabled => {
            format!("optional, and not listed under enable: in {platform_file}")
        }
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

/// The candidate closest to `name` when it is close enough to be a typo
/// (or `name` is the start of it).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            let d = if c.starts_with(name) && !name.is_empty() {
                0
            } else {
                edit_distance(name, c)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The problems of one run: all of them, not only the first.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) found", .0.len())]
pub struct Invalid(pub Vec<Problem>);

impl Invalid {
    /// The problems, one per line, cut to about `limit` bytes (a status
    /// condition or an Event must stay small), saying how many were left out.
    pub fn summary(&self, limit: usize) -> String {
        let mut out = String::new();
        for (i, p) in self.0.iter().enumerate() {
            let line = p.to_string();
            if !out.is_empty() && out.len() + line.len() + 1 > limit {
                out.push_str(&format!("\n... and {} more", self.0.len() - i));
                break;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            if line.len() > limit {
                let mut cut = limit;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push_str(&line[..cut]);
                out.push_str("...");
            } else {
                out.push_str(&line);
            }
        }
        out
    }
}

impl From<source::Error> for Invalid {
    fn from(e: source::Error) -> Self {
        invalid(vec![e])
    }
}

fn invalid<E: Into<Problem>>(errors: Vec<E>) -> Invalid {
    Invalid(errors.into_iter().map(Into::into).collect())
}

/// How to run the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fail when the snapshot's `distro.lock` does not match.
    pub locked: bool,
    /// Which releases resolve their version afresh instead of keeping the
    /// lock's.
    pub update: Update,
    /// The releases to render and to apply `overrides` to; empty means
    /// every release. Each must be an enabled release of the bundle.
    pub releases: Vec<String>,
    /// Values from the command line, over every file (their `targets` are
    /// replaced by `releases`).
    pub overrides: values::Overrides,
    /// The Kubernetes version to target instead of the platform's.
    pub kube_version: Option<semver::Version>,
    /// Record which layer set each value (`Release::origins`).
    pub origins: bool,
    /// Rewrite every image to its copy in a private registry after
    /// rendering (see [`crate::oci::relocate`]); the releases' digests are
    /// those of the relocated manifests. An image the map lacks makes the
    /// run invalid.
    pub relocation: Option<std::sync::Arc<crate::oci::relocate::Relocation>>,
}

/// Which locked versions a run keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// Every release keeps its locked version while it still satisfies the
    /// release's requirement.
    #[default]
    Nothing,
    /// Every release takes the highest version that satisfies it.
    All,
    /// These releases take the highest version; the others keep theirs.
    Only(Vec<String>),
}

/// A loaded distribution and its graph, before rendering.
pub struct Loaded {
    pub snapshot: Snapshot,
    pub distribution: Distribution,
    pub graph: Graph,
    /// What the lock should say now.
    pub lock: Lock,
}

/// A rendered distribution.
pub struct Rendered {
    pub loaded: Loaded,
    /// Releases in apply order (the graph's topological order); only those
    /// of [`Options::releases`] when it names some.
    pub releases: Vec<RenderedRelease>,
}

/// Checks that `name` is a release the platform runs.
///
/// # Errors
/// It is not in the bundle (with the closest name), or the platform leaves
/// it out.
pub fn check_release(
    snapshot: &Snapshot,
    distribution: &Distribution,
    name: &str,
) -> Result<(), Selection> {
    match distribution.entries.iter().find(|e| e.name == name) {
        None => Err(Selection::UnknownRelease {
            name: name.to_string(),
            bundle: distribution.bundle.clone(),
            suggestion: closest(name, distribution.entries.iter().map(|e| e.name.as_str())),
        }),
        Some(entry) => match entry.off {
            None => Ok(()),
            Some(reason) => Err(Selection::ReleaseOff {
                name: name.to_string(),
                reason,
                platform_file: snapshot.display(snapshot.platform_file()),
            }),
        },
    }
}

/// The objects of the rendered releases that come from one of `files`, in
/// output order. A file is named as in the package (`templates/x.yaml`) or
/// as the `# Source:` line names it (`app/templates/x.yaml`). A file that
/// exists but rendered nothing selects nothing.
///
/// # Errors
/// A file that no rendered release's package has.
pub fn show_only<'a>(
    rendered: &'a Rendered,
    files: &[String],
) -> Result<Vec<(&'a RenderedRelease, &'a Object)>, Invalid> {
    let packages: Vec<(&str, Vec<&str>)> = rendered
        .releases
        .iter()
        .filter_map(|r| {
            let release = rendered
                .loaded
                .distribution
                .releases
                .iter()
                .find(|d| d.name == r.name)?;
            let files = release
                .package
                .templates
                .iter()
                .chain(&release.package.crds)
                .map(|f| f.path.as_str())
                .filter(|p| !model::Package::is_partial(p))
                .collect();
            Some((r.name.as_str(), files))
        })
        .collect();
    let matches = |release: &str, path: &str, wanted: &str| {
        wanted == path
            || wanted
                .strip_prefix(release)
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(path)
    };
    let mut problems = Vec::new();
    for wanted in files {
        let known = packages
            .iter()
            .any(|(release, paths)| paths.iter().any(|p| matches(release, p, wanted)));
        if !known {
            let candidates: Vec<&str> = packages
                .iter()
                .flat_map(|(_, p)| p.iter().copied())
                .collect();
            problems.push(Selection::UnknownTemplate {
                file: wanted.clone(),
                scope: match packages.as_slice() {
                    [(one, _)] => format!("release {one}"),
                    _ => "any release rendered".to_string(),
                },
                suggestion: closest(wanted, candidates),
            });
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    Ok(rendered
        .releases
        .iter()
        .flat_map(|r| r.objects.iter().map(move |o| (r, o)))
        .filter(|(r, o)| files.iter().any(|f| matches(&r.name, &o.source, f)))
        .collect())
}

/// Validates and resolves the distribution and builds its DAG.
///
/// # Errors
/// Every input problem found up to the graph; with `locked`, a stale lock.
pub fn load(snapshot: Snapshot, options: &Options) -> Result<Loaded, Invalid> {
    let started = std::time::Instant::now();
    let pins = match &options.update {
        // Re-resolving everything needs nothing from the old lock, which
        // may be what is broken.
        Update::All => Default::default(),
        Update::Nothing | Update::Only(_) => {
            let mut pins = lock::read(&snapshot)
                .map_err(|e| invalid(vec![e]))?
                .map(|l| l.pins())
                .unwrap_or_default();
            if let Update::Only(names) = &options.update {
                pins.retain(|name, _| !names.contains(name));
            }
            pins
        }
    };
    let mut overrides = options.overrides.clone();
    overrides.targets = options.releases.clone();
    let model_options = model::Options {
        pins,
        overrides,
        kube_version: options.kube_version.clone(),
        origins: options.origins,
    };
    let distribution = model::load_with(&snapshot, &model_options).map_err(invalid)?;
    let named = match &options.update {
        Update::Only(names) => names.as_slice(),
        _ => &[],
    };
    let unknown: Vec<Selection> = options
        .releases
        .iter()
        .chain(named)
        .filter_map(|name| check_release(&snapshot, &distribution, name).err())
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(unknown));
    }
    let graph = graph::build(&distribution.releases).map_err(invalid)?;
    let lock = Lock::of(&distribution);
    if options.locked {
        lock::check(&snapshot, &lock).map_err(|e| invalid(vec![e]))?;
    }
    tracing::debug!(
        releases = distribution.releases.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded"
    );
    Ok(Loaded {
        snapshot,
        distribution,
        graph,
        lock,
    })
}

/// Loads and renders the distribution, with the default render options.
///
/// # Errors
/// Every problem of every stage.
pub fn render(snapshot: Snapshot, options: &Options) -> Result<Rendered, Invalid> {
    render_with(snapshot, options, &render::Options::default())
}

/// [`render`] with render options (the render budget).
///
/// # Errors
/// Every problem of every stage.
pub fn render_with(
    snapshot: Snapshot,
    options: &Options,
    render_options: &render::Options,
) -> Result<Rendered, Invalid> {
    let loaded = load(snapshot, options)?;
    let started = std::time::Instant::now();
    let mut by_name: std::collections::HashMap<String, RenderedRelease> =
        render::render_with(&loaded.snapshot, &loaded.distribution, render_options)
            .map_err(invalid)?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
    let selected = |name: &String| options.releases.is_empty() || options.releases.contains(name);
    let mut releases: Vec<RenderedRelease> = loaded
        .graph
        .order
        .iter()
        .filter(|name| selected(name))
        .filter_map(|name| by_name.remove(name))
        .collect();
    if let Some(relocation) = &options.relocation {
        releases = relocate(&loaded, releases, relocation)?;
    }
    tracing::info!(
        releases = releases.len(),
        objects = releases.iter().map(|r| r.objects.len()).sum::<usize>(),
        bytes = releases.iter().map(|r| r.manifest.len()).sum::<usize>(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "rendered"
    );
    Ok(Rendered { loaded, releases })
}

/// Every release with its images relocated, or every image problem.
fn relocate(
    loaded: &Loaded,
    releases: Vec<RenderedRelease>,
    relocation: &crate::oci::relocate::Relocation,
) -> Result<Vec<RenderedRelease>, Invalid> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(releases.len());
    for rendered in &releases {
        let dir = loaded
            .distribution
            .releases
            .iter()
            .find(|r| r.name == rendered.name)
            .map(|r| r.package.dir.as_str())
            .unwrap_or_default();
        let shown = |o: &Object| loaded.snapshot.display(&format!("{dir}/{}", o.source));
        match crate::oci::relocate::release(rendered, relocation, shown) {
            Ok(r) => out.push(r),
            Err(mut e) => problems.append(&mut e),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(invalid(problems))
    }
}

/// Writes `distro.lock` next to the platform file when the snapshot was read
/// from a directory and the lock changed. Commands call this last, after
/// every other output was written.
///
/// # Errors
/// The lock cannot be written.
pub fn write_lock(loaded: &Loaded) -> Result<(), Invalid> {
    let Some(path) = lock::path(&loaded.snapshot) else {
        return Ok(());
    };
    if lock::write(&path, &loaded.lock).map_err(|e| invalid(vec![e]))? {
        tracing::info!(path = %path.display(), "updated lock");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_catch_typos_and_prefixes() {
        let names = ["cert-manager", "cilium", "app"];
        assert_eq!(closest("ap", names).as_deref(), Some("app"));
        assert_eq!(closest("cert", names).as_deref(), Some("cert-manager"));
        assert_eq!(closest("cillium", names).as_deref(), Some("cilium"));
        assert_eq!(closest("kubevirt", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn summary_is_bounded_and_counts_the_rest() {
        let problems = (0..50)
            .map(|i| {
                Problem::Lock(lock::Error::Read {
                    path: format!("f{i}").into(),
                    message: "x".repeat(40),
                })
            })
            .collect();
        let s = Invalid(problems).summary(300);
        assert!(s.len() < 400, "{}", s.len());
        assert!(s.contains("more"), "{s}");
        assert!(s.starts_with("f0: cannot read"), "{s}");
    }
}
