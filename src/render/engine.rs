//! One Tera engine per package version: its templates compiled once, then
//! rendered for every release that uses the package.

use std::sync::Arc;

use serde::Serialize;
use tera::{Context, ErrorKind, Tera};

use super::budget::{self, Budget, Meter, Metered};
use super::error::Error;
use super::filters;
use crate::model::{Package, Release};
use crate::source::Snapshot;

/// A package's compiled templates.
pub struct Engine {
    tera: Tera,
    package: Arc<Package>,
    /// Renderable (non-partial) templates, in path order, with the size of
    /// their source (a first guess at the size of their output).
    renderable: Vec<(String, usize)>,
}

/// What templates see besides `values`.
#[derive(Serialize)]
pub struct Capabilities<'a> {
    #[serde(rename = "kubeVersion")]
    pub kube_version: String,
    #[serde(rename = "apiVersions")]
    pub api_versions: &'a [String],
}

/// The output of one template for one release.
pub struct Output {
    /// `templates/<file>` inside the package.
    pub path: String,
    pub text: String,
}

impl Engine {
    /// Compiles every template of a package. Partials (`_*.yaml`) go first so
    /// that the components they define are known to the others.
    ///
    /// # Errors
    /// One [`Error::Syntax`] per template that does not compile.
    pub fn compile(snapshot: &Snapshot, package: Arc<Package>) -> Result<Self, Vec<Error>> {
        let mut tera = Tera::default();
        tera.autoescape_on(Vec::<&str>::new());
        filters::register(&mut tera);
        // In place of Tera's own: the same function, with a budget check.
        tera.register_function("range", budget::range);
        let mut errors = Vec::new();
        let (partials, others): (Vec<_>, Vec<_>) = package
            .templates
            .iter()
            .partition(|t| Package::is_partial(&t.path));
        let mut renderable = Vec::new();
        for template in partials.iter().chain(others.iter()) {
            match tera.add_raw_template(&template.path, &template.text) {
                Ok(()) if !Package::is_partial(&template.path) => {
                    renderable.push((template.path.clone(), template.text.len()))
                }
                Ok(()) => {}
                Err(e) => {
                    let (file, line, column, message) = locate(&e, &template.path);
                    errors.push(Error::Syntax {
                        package: package.meta.name.clone(),
                        version: package.meta.version.clone(),
                        file: snapshot.display(&format!("{}/{}", package.dir, file)),
                        line: line.unwrap_or(1),
                        column: column.unwrap_or(1),
                        message,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(Self {
                tera,
                package,
                renderable,
            })
        } else {
            Err(errors)
        }
    }

    /// Renders every template for one release, within the budget.
    ///
    /// # Errors
    /// One [`Error::Template`] per template that fails; an
    /// [`Error::Budget`] for the template that ran out of the budget, after
    /// which the release's other templates are not rendered.
    pub fn render(
        &self,
        snapshot: &Snapshot,
        release: &Release,
        platform_values: &serde_json::Value,
        capabilities: &Capabilities,
        budget: &Budget,
    ) -> Result<Vec<Output>, Vec<Error>> {
        let meta = &self.package.meta;
        let mut ctx = Context::new();
        ctx.insert("values", &release.values);
        ctx.insert(
            "release",
            &serde_json::json!({"name": release.name, "namespace": release.namespace}),
        );
        ctx.insert(
            "package",
            &serde_json::json!({
                "name": meta.name,
                "version": meta.version,
                "appVersion": meta.app_version.clone().unwrap_or_default(),
            }),
        );
        ctx.insert("platform", platform_values);
        ctx.insert("capabilities", capabilities);

        let mut outputs = Vec::with_capacity(self.renderable.len());
        let mut errors = Vec::new();
        let meter = Meter::new(*budget);
        let _active = budget::activate(&meter);
        for (path, size) in &self.renderable {
            meter.start_template();
            let mut out = Metered::new(&meter, *size);
            let result = self
                .tera
                .render_to(path, &ctx, &mut out)
                .and_then(|()| String::from_utf8(out.text).map_err(tera::Error::message));
            if let Some(exceeded) = meter.exceeded() {
                // Where it stopped, when Tera knows (a `range` call).
                let (file, line, column) = match &result {
                    Err(e) => {
                        let (file, line, column, _) = locate(e, path);
                        (file, line, column)
                    }
                    Ok(_) => (path.clone(), None, None),
                };
                errors.push(Error::Budget {
                    release: release.name.clone(),
                    package: meta.name.clone(),
                    version: meta.version.clone(),
                    file: snapshot.display(&format!("{}/{}", self.package.dir, file)),
                    line,
                    column,
                    message: meter.describe(exceeded),
                });
                // The release has failed; its other templates would only
                // spend more of the time.
                break;
            }
            match result {
                Ok(text) => outputs.push(Output {
                    path: path.clone(),
                    text,
                }),
                Err(e) => {
                    let (file, line, column, message) = locate(&e, path);
                    errors.push(Error::Template {
                        release: release.name.clone(),
                        package: meta.name.clone(),
                        version: meta.version.clone(),
                        file: snapshot.display(&format!("{}/{}", self.package.dir, file)),
                        line,
                        column,
                        message,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(outputs)
        } else {
            Err(errors)
        }
    }
}

/// The file, 1-based line and column, and message of a Tera error. An error
/// raised inside a component points at the partial that defines it.
fn locate(e: &tera::Error, fallback_file: &str) -> (String, Option<usize>, Option<usize>, String) {
    match e.kind() {
        ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => {
            let file = if report.filename().is_empty() {
                fallback_file
            } else {
                report.filename()
            };
            let span = report.span();
            (
                file.to_string(),
                Some(span.start_line),
                Some(span.start_col + 1),
                report.message().to_string(),
            )
        }
        _ => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            (fallback_file.to_string(), None, None, message)
        }
    }
}
