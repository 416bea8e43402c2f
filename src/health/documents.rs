//! Assessing every object of a multi-document YAML stream (JSON works too:
//! it is YAML). `kind: List` documents, as `kubectl get -o yaml` prints
//! them, count as their items.

use serde_json::Value;

use super::{Assessment, assess};
use crate::yaml;

/// Which object an assessment is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectRef {
    pub kind: String,
    /// None for cluster-scoped objects (and namespaced ones written without
    /// a namespace).
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A document that is not an object that can be assessed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: document {document}: {message}")]
pub struct Error {
    /// 1-based index of the document in the stream (empty documents are
    /// not counted).
    pub document: usize,
    /// 1-based line in the stream: where the parser stopped for broken YAML,
    /// otherwise the document's first line.
    pub line: usize,
    pub message: String,
}

/// Assesses every object of a stream, in stream order.
///
/// # Errors
/// The first document that is not valid YAML, not a map, or lacks `kind` or
/// `metadata.name`.
pub fn assess_documents(text: &str) -> Result<Vec<(ObjectRef, Assessment)>, Error> {
    let mut results = Vec::new();
    for (index, doc) in yaml::split_documents(text).into_iter().enumerate() {
        let document = index + 1;
        let start = first_content_line(doc.first_line, doc.text);
        let fail = |line: usize, message: String| Error {
            document,
            line,
            message,
        };
        let value: Value = yaml::parse(doc.text, doc.first_line).map_err(|e| {
            let message = match e.column {
                Some(column) => format!("invalid YAML at column {column}: {}", e.message),
                None => format!("invalid YAML: {}", e.message),
            };
            fail(e.line.unwrap_or(start), message)
        })?;
        if value.is_null() {
            continue;
        }
        match list_items(&value) {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let object =
                        identify(item).map_err(|m| fail(start, format!("item {i}: {m}")))?;
                    results.push((object, assess(item)));
                }
            }
            None => {
                let object = identify(&value).map_err(|m| fail(start, m))?;
                results.push((object, assess(&value)));
            }
        }
    }
    Ok(results)
}

/// The items of a `List` (`kind: List`, `DeploymentList`, ...).
fn list_items(value: &Value) -> Option<&Vec<Value>> {
    let kind = value.get("kind")?.as_str()?;
    if !kind.ends_with("List") {
        return None;
    }
    value.get("items")?.as_array()
}

fn identify(value: &Value) -> Result<ObjectRef, String> {
    if !value.is_object() {
        return Err(format!(
            "is {}, not an object",
            crate::model::type_name(value)
        ));
    }
    let field = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let kind = field(value.get("kind")).ok_or("missing kind")?;
    let metadata = value.get("metadata");
    let name = field(metadata.and_then(|m| m.get("name")))
        .ok_or_else(|| format!("{kind} is missing metadata.name"))?;
    let namespace = field(metadata.and_then(|m| m.get("namespace")));
    Ok(ObjectRef {
        kind,
        namespace,
        name,
    })
}

/// 1-based line of the first line that is neither blank nor a comment.
fn first_content_line(first_line: usize, text: &str) -> usize {
    let offset = text
        .lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .unwrap_or(0);
    first_line + offset + 1
}
