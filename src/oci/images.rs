//! The container images a rendered distribution needs: found in its
//! objects (see [`walk`] for where), declared in each package's `images:`,
//! normalised as Docker does ([`Reference`]), deduplicated, each with the
//! releases that use it and every place that names it (image fields, text,
//! registry prefixes); and the `validate --images` check of the two
//! against each other.

pub mod text;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::reference::{Prefix, Reference};

use crate::model::{DeclaredImage, Release};
use crate::pipeline::Rendered;
use crate::render::{Object, RenderedRelease};

/// A problem with the images of a release.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// An image field of a rendered object does not hold a valid reference.
    #[error(
        "{file}: release {release}: {object}: {field}: {text:?} is not a valid image reference: {reason}"
    )]
    Invalid {
        release: String,
        /// The template the object came from, as shown to users.
        file: String,
        object: String,
        field: String,
        text: String,
        reason: String,
    },
    /// An entry of `images:` in `package.yaml` is not a valid reference.
    #[error("{file}{}: release {release}: images: {text:?} is not a valid image reference: {reason}", crate::model::at_line(*line, None))]
    InvalidDeclared {
        release: String,
        file: String,
        line: Option<usize>,
        text: String,
        reason: String,
    },
    /// A rendered object runs an image the package does not declare.
    #[error(
        "{package_file}: release {release}: image {image} is used by {object} ({file}, {field}) but not declared under images:"
    )]
    Undeclared {
        release: String,
        package_file: String,
        image: String,
        object: String,
        file: String,
        field: String,
    },
    /// A declared image that nothing of the release names.
    #[error("{file}{}: release {release}: image {image} is declared under images: but neither the release's rendered manifests nor its values name it; remove it, or mark it deployedBy: <component> if a component starts it at run time", crate::model::at_line(*line, None))]
    Unused {
        release: String,
        file: String,
        line: Option<usize>,
        image: String,
    },
    /// A rendered object does not read back (the render layer wrote it, so
    /// this is a bug, reported rather than ignored).
    #[error("release {release}: {object}: cannot read the rendered object back: {message}")]
    Unreadable {
        release: String,
        object: String,
        message: String,
    },
}

/// How a place names an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UseKind {
    /// An image field: the object runs it.
    Image,
    /// A mention in a string (an environment variable, a flag, a
    /// ConfigMap's data) of an image the distribution has.
    Text,
    /// A registry prefix that the image is under, which an operator joins
    /// image names to.
    Prefix,
}

/// One place a rendered object names an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Use {
    pub release: String,
    /// `Deployment/apps/web`.
    pub object: String,
    /// `templates/deployment.yaml`, inside the package.
    pub file: String,
    /// `spec.template.spec.containers[0].image`; inside a document kept in
    /// a string, the path in it after `#`: `data.images.yaml#base`.
    pub field: String,
    pub kind: UseKind,
}

/// One image of the distribution, as `distro images -o json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// The normalised reference.
    pub image: String,
    /// Releases that use or declare it, sorted.
    pub releases: Vec<String>,
    /// Whether a package of those releases lists it under `images:`.
    pub declared: bool,
    /// Whether a rendered object names it in an image field.
    pub found: bool,
    /// Components that start it at run time (`deployedBy:` of the
    /// declarations), sorted.
    #[serde(rename = "deployedBy", skip_serializing_if = "Vec::is_empty")]
    pub deployed_by: Vec<String>,
    /// Every place that names it: image fields, then mentions in text,
    /// then registry prefixes it is under.
    pub uses: Vec<Use>,
}

/// What one place of an object names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// An image field's reference.
    Image(Reference),
    /// A reference mentioned in text; an image only if the distribution
    /// has it otherwise (found in an image field or declared).
    Text(Reference),
    /// A registry prefix; it names the distribution's images under it.
    Prefix(Prefix),
    /// An image that an image configuration composes under its prefix:
    /// an operator starts it, so it must be declared (and is relocated
    /// through the prefix).
    Composed(Reference),
}

/// A place of an object that names images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub named: Named,
    /// The field, as a path from the object's top.
    pub field: String,
}

/// Whether objects of a kind get the custom-resource rules of [`walk`].
pub fn is_custom(group: &str, kind: &str) -> bool {
    crate::kinds::builtin_cluster_scoped(group, kind).is_none()
}

/// A rendered object as a tree, when it may name images: CRDs (whose
/// schemas are full of `image` properties, and which run nothing) and
/// Secrets (never read, so that their data cannot end up in a listing or a
/// message) are skipped without parsing.
///
/// # Errors
/// The object's YAML does not parse ([`Error::Unreadable`]).
pub(crate) fn tree(release: &str, object: &Object) -> Result<Option<Value>, Box<Error>> {
    let key = &object.key;
    if key.group == "apiextensions.k8s.io" && key.kind == "CustomResourceDefinition"
        || key.group.is_empty() && key.kind == "Secret"
    {
        return Ok(None);
    }
    let text = object.yaml();
    crate::yaml::parse_value(text, 0).map(Some).map_err(|e| {
        Box::new(Error::Unreadable {
            release: release.to_string(),
            object: key.to_string(),
            message: e.message,
        })
    })
}

/// Every place of one rendered object that names images, in document
/// order: image fields, references mentioned in text, registry prefixes.
///
/// # Errors
/// Every image field or registry prefix that is not valid, each naming the
/// release, file, object and field.
pub fn find(release: &str, file: &str, object: &Object) -> Result<Vec<Found>, Vec<Error>> {
    let mut value = match tree(release, object) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(vec![*e]),
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let _ = walk::object(&mut value, &mut |site: walk::Site<'_>| {
        // The images an image configuration composes under its prefix
        // run as surely as those of image fields: they must be declared.
        if let walk::Field::Prefix { text, images, .. } = &site.field {
            for image in images {
                let joined = format!("{}/{image}", text.trim_end_matches('/'));
                match Reference::parse(&joined) {
                    Ok(reference) => found.push(Found {
                        named: Named::Composed(reference),
                        field: site.path.clone(),
                    }),
                    Err(e) => errors.push(Error::Invalid {
                        release: release.to_string(),
                        file: file.to_string(),
                        object: object.key.to_string(),
                        field: site.path.clone(),
                        text: joined,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        let named = match &site.field {
            walk::Field::Text(text) => {
                let mut seen = BTreeSet::new();
                for mention in text::mentions(text) {
                    if seen.insert(mention.reference.clone()) {
                        found.push(Found {
                            named: Named::Text(mention.reference),
                            field: site.path.clone(),
                        });
                    }
                }
                return Ok::<(), ()>(());
            }
            field @ walk::Field::Prefix { .. } => field.prefix().map(Named::Prefix),
            field => field.reference().map(Named::Image),
        };
        match named {
            Ok(named) => found.push(Found {
                named,
                field: site.path,
            }),
            Err(reason) => errors.push(Error::Invalid {
                release: release.to_string(),
                file: file.to_string(),
                object: object.key.to_string(),
                field: site.path,
                text: site.field.text(),
                reason,
            }),
        }
        Ok(())
    });
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// What one release says about images.
struct ReleaseImages<'a> {
    release: &'a Release,
    rendered: &'a RenderedRelease,
    /// Found in image fields of the rendered objects, with where.
    found: Vec<(Reference, Use)>,
    /// Mentioned in text, with where: images only if known otherwise.
    text: Vec<(Reference, Use)>,
    /// Registry prefixes, with where.
    prefixes: Vec<(Prefix, Use)>,
    /// Composed by image configurations, with the prefix's place.
    composed: Vec<(Reference, Use)>,
    /// Declared in `package.yaml`, normalised, with the entry.
    declared: Vec<(Reference, &'a DeclaredImage)>,
}

/// `packages/<name>/<version>/package.yaml` of a release, as shown.
fn package_file(rendered: &Rendered, release: &Release) -> String {
    rendered
        .loaded
        .snapshot
        .display(&format!("{}/package.yaml", release.package.dir))
}

/// The 1-based line of an `images:` entry in `package.yaml`.
fn declared_line(rendered: &Rendered, release: &Release, text: &str) -> Option<usize> {
    let bytes = rendered
        .loaded
        .snapshot
        .get(&format!("{}/package.yaml", release.package.dir))?;
    let file = std::str::from_utf8(bytes).ok()?;
    file.lines()
        .position(|l| {
            let entry = l.trim_start().trim_start_matches('-').trim_start();
            let entry = entry.strip_prefix("image:").unwrap_or(entry);
            entry.trim().trim_matches(['"', '\'']) == text
        })
        .map(|i| i + 1)
}

fn scan(rendered: &Rendered) -> Result<Vec<ReleaseImages<'_>>, Vec<Error>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for r in &rendered.releases {
        let Some(release) = rendered
            .loaded
            .distribution
            .releases
            .iter()
            .find(|d| d.name == r.name)
        else {
            continue;
        };
        let (mut found, mut text, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
        let mut composed = Vec::new();
        for object in &r.objects {
            let shown = rendered
                .loaded
                .snapshot
                .display(&format!("{}/{}", release.package.dir, object.source));
            let places = match find(&r.name, &shown, object) {
                Ok(places) => places,
                Err(mut e) => {
                    errors.append(&mut e);
                    continue;
                }
            };
            for place in places {
                let used = |kind| Use {
                    release: r.name.clone(),
                    object: object.key.to_string(),
                    file: object.source.to_string(),
                    field: place.field.clone(),
                    kind,
                };
                match place.named {
                    Named::Image(reference) => found.push((reference, used(UseKind::Image))),
                    Named::Text(reference) => text.push((reference, used(UseKind::Text))),
                    Named::Prefix(prefix) => prefixes.push((prefix, used(UseKind::Prefix))),
                    Named::Composed(reference) => {
                        composed.push((reference, used(UseKind::Prefix)));
                    }
                }
            }
        }
        let mut declared = Vec::new();
        for entry in &release.package.meta.images {
            match Reference::parse(&entry.image) {
                Ok(reference) => declared.push((reference, entry)),
                Err(e) => errors.push(Error::InvalidDeclared {
                    release: r.name.clone(),
                    file: package_file(rendered, release),
                    line: declared_line(rendered, release, &entry.image),
                    text: entry.image.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        out.push(ReleaseImages {
            release,
            rendered: r,
            found,
            text,
            prefixes,
            composed,
            declared,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Every image the rendered releases use or declare, sorted by reference,
/// with every place that names it. Text and registry prefixes add places
/// to images found in image fields or declared, never images of their own:
/// a token that looks like a reference is not an image by itself.
///
/// # Errors
/// Image fields, registry prefixes and `images:` entries that are not
/// valid.
pub fn list(rendered: &Rendered) -> Result<Vec<Image>, Vec<Error>> {
    let releases = scan(rendered)?;
    let mut images: BTreeMap<String, Image> = BTreeMap::new();
    let mut references: BTreeMap<String, Reference> = BTreeMap::new();
    for release in &releases {
        let name = &release.rendered.name;
        for (reference, used) in &release.found {
            let image = slot(&mut images, reference);
            image.found = true;
            image.uses.push(used.clone());
            add_release(image, name);
            references.insert(reference.to_string(), reference.clone());
        }
        for (reference, declaration) in &release.declared {
            let image = slot(&mut images, reference);
            image.declared = true;
            if let Some(by) = &declaration.deployed_by
                && let Err(at) = image.deployed_by.binary_search(by)
            {
                image.deployed_by.insert(at, by.clone());
            }
            add_release(image, name);
            references.insert(reference.to_string(), reference.clone());
        }
    }
    for release in &releases {
        let name = &release.rendered.name;
        for (reference, used) in &release.text {
            if let Some(image) = images.get_mut(&reference.to_string()) {
                image.uses.push(used.clone());
                add_release(image, name);
            }
        }
        for (prefix, used) in &release.prefixes {
            for (key, reference) in &references {
                if prefix.rest(reference).is_some()
                    && let Some(image) = images.get_mut(key)
                {
                    image.uses.push(used.clone());
                    add_release(image, name);
                }
            }
        }
    }
    Ok(images.into_values().collect())
}

/// The entry of `reference`, made empty the first time.
fn slot<'m>(images: &'m mut BTreeMap<String, Image>, reference: &Reference) -> &'m mut Image {
    let key = reference.to_string();
    images.entry(key.clone()).or_insert_with(|| Image {
        image: key,
        releases: Vec::new(),
        declared: false,
        found: false,
        deployed_by: Vec::new(),
        uses: Vec::new(),
    })
}

fn add_release(image: &mut Image, release: &str) {
    if let Err(at) = image.releases.binary_search_by(|r| r.as_str().cmp(release)) {
        image.releases.insert(at, release.to_string());
    }
}

/// The `validate --images` check, per release: every image a rendered
/// object names is declared under the package's `images:`, and every
/// declared image is used. A declared image is used when
/// - an image field of the release's rendered objects names it, or
/// - a string of the release's rendered objects mentions it as a whole
///   token ([`text`]; a flag or an environment variable that tells a
///   controller which image to start: cert-manager's
///   `--acme-http01-solver-image`), or
/// - the release's merged values name it (`image: REF`, or
///   `image: {repository, tag}`): an image behind a feature that is off,
///   such as cilium's `hubble.relay.enabled: false`, or
/// - its entry says `deployedBy:` (an operator starts it, and no manifest
///   names it).
///
/// # Errors
/// Invalid references (as [`list`]), then every finding.
pub fn check(rendered: &Rendered) -> Result<(), Vec<Error>> {
    let mut findings = Vec::new();
    for release in scan(rendered)? {
        let name = &release.rendered.name;
        let declared: BTreeSet<&Reference> = release.declared.iter().map(|(r, _)| r).collect();
        let mut reported = BTreeSet::new();
        for (reference, used) in release.found.iter().chain(&release.composed) {
            if !declared.contains(reference) && reported.insert(reference) {
                findings.push(Error::Undeclared {
                    release: name.clone(),
                    package_file: package_file(rendered, release.release),
                    image: reference.to_string(),
                    object: used.object.clone(),
                    file: used.file.clone(),
                    field: used.field.clone(),
                });
            }
        }
        let found: BTreeSet<&Reference> = release.found.iter().map(|(r, _)| r).collect();
        let mentioned: BTreeSet<&Reference> = release.text.iter().map(|(r, _)| r).collect();
        let composed: BTreeSet<&Reference> = release.composed.iter().map(|(r, _)| r).collect();
        let in_values = values_images(&release.release.values);
        for (reference, declaration) in &release.declared {
            let used = declaration.deployed_by.is_some()
                || found.contains(reference)
                || in_values.contains(reference)
                || mentioned.contains(reference)
                || composed.contains(reference);
            if !used {
                findings.push(Error::Unused {
                    release: name.clone(),
                    file: package_file(rendered, release.release),
                    line: declared_line(rendered, release.release, &declaration.image),
                    image: reference.to_string(),
                });
            }
        }
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(findings)
    }
}

/// The valid references a values tree names ([`walk::values`]); values are
/// not manifests, so anything that does not parse is skipped.
fn values_images(values: &Value) -> BTreeSet<Reference> {
    let mut values = values.clone();
    let mut out = BTreeSet::new();
    let _ = walk::values(&mut values, &mut |site: walk::Site<'_>| {
        if site.field.is_image()
            && let Ok(reference) = site.field.reference()
        {
            out.insert(reference);
        }
        Ok::<(), ()>(())
    });
    out
}
