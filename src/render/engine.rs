//! One Tera engine per package version: its templates compiled once, then
//! rendered for every release that uses the package.

use std::sync::Arc;

use serde::Serialize;
use tera::{Context, ErrorKind, Tera};

use super::error::Error;
use super::filters;
use crate::model::{Package, Release};
use crate::source::Snapshot;

/// A package's compiled templates.
pub struct Engine {
    tera: Tera,
    package: Arc<Package>,
    /// Renderable (non-partial) templates, in path order.
    renderable: Vec<String>,
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
        let mut errors = Vec::new();
        let (partials, others): (Vec<_>, Vec<_>) = package
            .templates
            .iter()
            .partition(|t| Package::is_partial(&t.path));
        let mut renderable = Vec::new();
        for template in partials.iter().chain(others.iter()) {
            match tera.add_raw_template(&template.path, &template.text) {
                Ok(()) if !Package::is_partial(&template.path) => {
                    renderable.push(template.path.clone())
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

    /// Renders every template for one release.
    ///
    /// # Errors
    /// One [`Error::Template`] per template that fails.
    pub fn render(
        &self,
        snapshot: &Snapshot,
        release: &Release,
        platform_values: &serde_json::Value,
        capabilities: &Capabilities,
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
        for path in &self.renderable {
            match self.tera.render(path, &ctx) {
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
