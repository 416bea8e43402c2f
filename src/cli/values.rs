//! `distro values RELEASE`: the values a release's templates see, as `helm
//! get values --all` shows them, and with `--show-origin` the layer that set
//! each key, as `git config --show-origin` does.

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::Value;

use super::{Global, inputs};
use crate::model::values::{Source, Step, path_text};
use crate::pipeline;

/// Help text after the options.
pub fn after_help() -> String {
    format!(
        "Examples:
  distro values cert-manager                     merged values as YAML
  distro values cert-manager --show-origin       each key with the layer that set it
  distro values app --set replicas=5 -o json
  distro values app --show-origin -o json | jq .origins

Layers, lowest first: the package's values.yaml, the bundle's valuesFiles, the
bundle's values, the platform's releases.<name>.values, the command line.
{}

Exit codes: 0 ok, 2 invalid input (an unknown release, values that break the schema).",
        inputs::RULES
    )
}

/// Output formats of `distro values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release.
    pub release: String,
    /// Name the layer that set each key: a comment after each YAML value,
    /// or an `origins` map (path to layer) beside `values` in JSON.
    #[arg(long)]
    pub show_origin: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    #[command(flatten)]
    pub inputs: inputs::Inputs,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let options = pipeline::Options {
        releases: vec![args.release.clone()],
        origins: args.show_origin,
        ..args.inputs.options(global)?
    };
    let loaded = pipeline::load(global.snapshot()?, &options)?;
    // The pipeline checked that the release is enabled.
    let Some(release) = loaded
        .distribution
        .releases
        .iter()
        .find(|r| r.name == args.release)
    else {
        anyhow::bail!("release {:?} was not resolved", args.release);
    };
    let text = match (args.output, args.show_origin) {
        (Format::Yaml, false) => crate::yaml::to_string(&release.values),
        (Format::Json, false) => super::json_text(&release.values)?,
        (Format::Json, true) => {
            let origins: serde_json::Map<String, Value> = release
                .origins
                .iter()
                .map(|o| (o.path.clone(), Value::String(o.source.to_string())))
                .collect();
            super::json_text(&serde_json::json!({
                "values": release.values,
                "origins": origins,
            }))?
        }
        (Format::Yaml, true) => {
            let origins: HashMap<&str, &Source> = release
                .origins
                .iter()
                .map(|o| (o.path.as_str(), &o.source))
                .collect();
            commented(&release.values, &origins)
        }
    };
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The values as block YAML with the origin of each leaf in a comment at
/// the end of its line; still YAML that reads back to the same values.
fn commented(values: &Value, origins: &HashMap<&str, &Source>) -> String {
    let mut out = String::new();
    let mut path = Vec::new();
    match values {
        Value::Object(map) if !map.is_empty() => emit(&mut out, values, &mut path, 0, origins),
        leaf => {
            out.push_str(&scalar(leaf));
            out.push('\n');
        }
    }
    out
}

fn is_leaf(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => true,
    }
}

/// A scalar (or empty container) on one line.
fn scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        _ => {
            let text = crate::yaml::to_string(value);
            let text = text.trim_end_matches('\n');
            if text.contains('\n') {
                // A block scalar cannot take a trailing comment on its
                // content lines; a JSON string is a valid YAML flow scalar.
                value.to_string()
            } else {
                text.to_string()
            }
        }
    }
}

fn comment(origins: &HashMap<&str, &Source>, path: &[Step]) -> String {
    match origins.get(path_text(path).as_str()) {
        Some(source) => format!("  # {source}"),
        None => String::new(),
    }
}

/// Writes a non-empty map or list at `indent`, one line per leaf.
fn emit(
    out: &mut String,
    value: &Value,
    path: &mut Vec<Step>,
    indent: usize,
    origins: &HashMap<&str, &Source>,
) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                out.push_str(&pad);
                out.push_str(&scalar(&Value::String(key.clone())));
                out.push(':');
                if is_leaf(child) {
                    out.push(' ');
                    out.push_str(&scalar(child));
                    out.push_str(&comment(origins, path));
                    out.push('\n');
                } else {
                    out.push('\n');
                    // Lists sit at their key's indentation, as the YAML
                    // writer puts them.
                    let inner = if child.is_array() { indent } else { indent + 2 };
                    emit(out, child, path, inner, origins);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                if is_leaf(item) {
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&scalar(item));
                    out.push_str(&comment(origins, path));
                    out.push('\n');
                } else {
                    // The item written two further in, its first line's
                    // indentation then taken by the dash.
                    let mut inner = String::new();
                    emit(&mut inner, item, path, indent + 2, origins);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                }
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commented_yaml_reads_back_to_the_values() {
        let values = json!({
            "replicas": 3,
            "image": {"repository": "r", "tag": "yes"},
            "servers": [{"host": "a", "ports": [1, 2]}, "plain"],
            "empty": {},
            "text": "two\nlines",
            "weird key": true,
        });
        let source = Source::CommandLine {
            flag: "--set x=1".into(),
        };
        let paths = [
            "replicas",
            "image.tag",
            "servers[0].host",
            "servers[0].ports[1]",
            "servers[1]",
            "empty",
            "text",
            "[\"weird key\"]",
        ];
        let origins: HashMap<&str, &Source> = paths.iter().map(|p| (*p, &source)).collect();
        let text = commented(&values, &origins);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, values, "{text}");
        assert!(text.contains("replicas: 3  # --set x=1\n"), "{text}");
        assert!(text.contains("  tag: 'yes'  # --set x=1\n"), "{text}");
        assert!(text.contains("- host: a  # --set x=1\n"), "{text}");
        assert!(text.contains("image:\n  repository: r\n"), "{text}");
        assert_eq!(text.matches("# --set").count(), paths.len(), "{text}");
    }
}
