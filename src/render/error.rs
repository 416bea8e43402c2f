//! Errors found while rendering: template syntax and evaluation, rendered
//! YAML, and objects that cannot be applied.

/// One rendering problem. Every message names the file, and the release when
/// the problem depends on a release's values.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A template does not compile. Found once per package version, before
    /// any release renders.
    #[error("{file}:{line}:{column}: {package} {version}: template syntax: {message}")]
    Syntax {
        package: String,
        version: String,
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A template failed while rendering a release (`required`, `fail`, an
    /// undefined value, a filter given the wrong type, ...).
    #[error("{file}{}: release {release} ({package} {version}): {message}", crate::model::at_line(*line, *column))]
    Template {
        release: String,
        package: String,
        version: String,
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The rendered output of a template is not valid YAML. The line is the
    /// line in the rendered output, shown with its text.
    #[error(
        "{}: release {release}: {message}{}",
        yaml_location(file, *line, *rendered),
        show_excerpt(excerpt)
    )]
    Yaml {
        release: String,
        file: String,
        line: usize,
        /// Whether the line is in a template's output (not the file itself).
        rendered: bool,
        message: String,
        excerpt: Option<String>,
    },
    /// A rendered or CRD document is not an object Kubernetes can take. The
    /// line is that of the field at fault, or of the object's first line.
    #[error(
        "{}: release {release}: {object}: {message}",
        yaml_location(file, *line, *rendered)
    )]
    Object {
        release: String,
        file: String,
        line: usize,
        /// Whether the line is in a template's output (not the file itself).
        rendered: bool,
        object: String,
        message: String,
    },
    /// A template ran out of its render budget (time, or output of its
    /// release): a loop that does not end, or one that is far too big.
    #[error("{file}{}: release {release} ({package} {version}): {message}", crate::model::at_line(*line, *column))]
    Budget {
        release: String,
        package: String,
        version: String,
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// Two releases (or one release twice) render the same object.
    #[error(
        "{object} is rendered twice: by release {first_release} ({first_file}) and by release {second_release} ({second_file})"
    )]
    Duplicate {
        object: String,
        first_release: String,
        first_file: String,
        second_release: String,
        second_file: String,
    },
}

/// `file:line` for files parsed as written (`crds/`), and the rendered
/// output's line for templates, whose source lines differ.
fn yaml_location(file: &str, line: usize, rendered: bool) -> String {
    if rendered {
        format!("{file}: rendered output line {line}")
    } else {
        format!("{file}:{line}")
    }
}

fn show_excerpt(text: &Option<String>) -> String {
    match text {
        Some(t) => format!("\n    | {t}"),
        None => String::new(),
    }
}
