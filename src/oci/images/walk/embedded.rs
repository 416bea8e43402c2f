//! Documents kept in strings: a ConfigMap key holding a YAML or JSON file
//! (the Piraeus operator's image configuration, a chart's values).

use serde_json::Value;

/// Longest string read as a document; a ConfigMap holds 1 MiB at most.
const MAX_DOCUMENT: usize = 1 << 20;

/// The document `text` holds, when it is a YAML or JSON map or list: a
/// string of several lines, or one that starts a JSON map or list. Plain
/// text that happens to parse as a YAML scalar is not a document.
pub fn parse(text: &str) -> Option<Value> {
    if text.len() > MAX_DOCUMENT {
        return None;
    }
    let start = text.trim_start();
    if !(text.contains('\n') || start.starts_with(['{', '['])) {
        return None;
    }
    match crate::yaml::parse_value(text, 0) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => Some(value),
        _ => None,
    }
}

/// `document` written in the syntax `original` used: JSON stays JSON
/// (on one line when it was), anything else is written as YAML.
pub fn write(document: &Value, original: &str) -> String {
    if serde_json::from_str::<Value>(original).is_ok() {
        let mut text = if original.trim().contains('\n') {
            serde_json::to_string_pretty(document)
        } else {
            serde_json::to_string(document)
        }
        .unwrap_or_default();
        if original.ends_with('\n') {
            text.push('\n');
        }
        return text;
    }
    crate::yaml::to_string(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_maps_and_lists_of_several_lines_or_json() {
        assert!(parse("base: quay.io/x\ncomponents: {}\n").is_some());
        assert!(parse("- a\n- b\n").is_some());
        assert!(parse(r#"{"a": "b"}"#).is_some());
        for text in ["a: b", "just words", "line one\nline two\n", "{ broken", ""] {
            assert!(parse(text).is_none(), "{text:?}");
        }
        assert!(parse(&format!("a: b\nc: {}\n", "x".repeat(MAX_DOCUMENT))).is_none());
    }

    #[test]
    fn documents_are_written_back_in_their_syntax() {
        let value = serde_json::json!({"a": "b", "c": [1]});
        assert_eq!(
            write(&value, "{\"a\": \"x\", \"c\": [1]}"),
            r#"{"a":"b","c":[1]}"#
        );
        assert_eq!(
            write(&value, "{\n  \"a\": \"x\"\n}\n"),
            "{\n  \"a\": \"b\",\n  \"c\": [\n    1\n  ]\n}\n"
        );
        assert_eq!(write(&value, "a: x\nc: [1]\n"), "a: b\nc:\n- 1\n");
    }
}
