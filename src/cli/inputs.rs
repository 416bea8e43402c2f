//! The flags that change what a distribution resolves to without editing a
//! file: `--set`, `--set-string`, `--values`, `--kube-version`. `render`
//! and `values` take them; they become [`pipeline::Options`], so the
//! library applies them as the last layers of values, never the output.

use std::path::PathBuf;

use crate::model::{self, parse_kube_version, values::Overrides};
use crate::pipeline::{self, Invalid, Problem};

/// How the layers are applied, for `--help`.
pub const RULES: &str = "Values from the command line are the last layers, over the package's values.yaml, the bundle's valuesFiles and values, and the platform's releases.<name>.values: first every --values file in order, then every --set, then every --set-string (Helm's order). They apply to the releases chosen with -r (or the one release `distro values` shows), and to every release when none is chosen. The top-level key `platform` (--set platform.clusterDomain=x, or `platform:` in a --values file) sets the platform's values, which every template sees as `platform`.";

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Values")]
pub struct Inputs {
    /// Set values: KEY=VALUE[,KEY=VALUE...] (repeatable). Keys are dotted
    /// paths with list indices (image.tag, servers[0].port; `\.` for a dot
    /// in a key); a value reads as a YAML scalar (2, true; null deletes the
    /// key), anything else as a string.
    #[arg(long, value_name = "KEY=VALUE", value_parser = set_typed)]
    pub set: Vec<String>,
    /// As --set, but every value is a string (--set-string tag=1.10).
    #[arg(long, value_name = "KEY=VALUE", value_parser = set_string)]
    pub set_string: Vec<String>,
    /// A values file, merged as the last values file (repeatable, later
    /// wins); its top-level `platform:` holds platform values.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Target this Kubernetes version instead of the platform's kubeVersion
    /// (what templates see and packages' kubeVersion constraints check).
    #[arg(long, value_name = "X.Y.Z", value_parser = kube_version)]
    pub kube_version: Option<semver::Version>,
}

fn check_set(text: &str, typed: bool) -> Result<String, String> {
    Overrides::default().add_set("--set", text, typed)?;
    Ok(text.to_string())
}

fn set_typed(text: &str) -> Result<String, String> {
    check_set(text, true)
}

fn set_string(text: &str) -> Result<String, String> {
    check_set(text, false)
}

fn kube_version(text: &str) -> Result<semver::Version, String> {
    parse_kube_version(text).ok_or_else(|| format!("{text:?} is not a Kubernetes version"))
}

impl Inputs {
    /// Pipeline options with these inputs, on top of the global ones.
    ///
    /// # Errors
    /// A `--values` file that cannot be read or is not a map of values.
    pub fn options(&self, global: &super::Global) -> Result<pipeline::Options, Invalid> {
        let mut overrides = Overrides::default();
        let mut problems = Vec::new();
        for path in &self.values {
            let shown = path.display().to_string();
            let problem =
                |message: String| Problem::Model(model::Error::file(shown.clone(), message));
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(problem(format!("cannot read --values file: {e}")));
                    continue;
                }
            };
            match crate::yaml::parse_value(&text, 0) {
                Ok(content) => {
                    if let Err(m) = overrides.add_file(&shown, content) {
                        problems.push(problem(m));
                    }
                }
                Err(error) => problems.push(Problem::Model(model::Error::Yaml {
                    file: shown.clone(),
                    error,
                })),
            }
        }
        // The value parsers checked every pair already.
        for (flag, texts, typed) in [
            ("--set", &self.set, true),
            ("--set-string", &self.set_string, false),
        ] {
            for text in texts {
                if let Err(m) = overrides.add_set(flag, text, typed) {
                    problems.push(Problem::Model(model::Error::file(flag, m)));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Invalid(problems));
        }
        Ok(pipeline::Options {
            overrides,
            kube_version: self.kube_version.clone(),
            ..global.options()
        })
    }
}
