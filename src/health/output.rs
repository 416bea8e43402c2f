//! Printing assessments: an aligned table for people, JSON for tools.

use std::fmt::Write;

use super::{Assessment, ObjectRef};

/// Output formats of `distro health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Renders assessments in one format.
pub fn write(results: &[(ObjectRef, Assessment)], format: Format) -> String {
    match format {
        Format::Text => text(results),
        Format::Json => json(results),
    }
}

/// `KIND NAMESPACE NAME STATUS MESSAGE`, columns padded to the widest cell;
/// a cluster-scoped object's namespace is `-`. Messages are kept on one line.
pub fn text(results: &[(ObjectRef, Assessment)]) -> String {
    const HEADER: [&str; 5] = ["KIND", "NAMESPACE", "NAME", "STATUS", "MESSAGE"];
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|(object, assessment)| {
            [
                object.kind.clone(),
                object.namespace.clone().unwrap_or_else(|| "-".to_string()),
                object.name.clone(),
                assessment.status.to_string(),
                one_line(&assessment.message),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_string);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}   ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// An array of `{"kind", "namespace", "name", "status", "message"}`;
/// `namespace` is null for cluster-scoped objects.
pub fn json(results: &[(ObjectRef, Assessment)]) -> String {
    let items: Vec<serde_json::Value> = results
        .iter()
        .map(|(object, assessment)| {
            serde_json::json!({
                "kind": object.kind,
                "namespace": object.namespace,
                "name": object.name,
                "status": assessment.status,
                "message": assessment.message,
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&items).unwrap_or_default();
    out.push('\n');
    out
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
