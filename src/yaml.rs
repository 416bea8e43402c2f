//! YAML helpers shared by the model (input files) and the renderer (rendered
//! manifests): one parser, one way of reporting where a document is broken.

use serde::de::DeserializeOwned;

/// A YAML syntax or shape error with the 1-based line and column in the text
/// that was parsed, when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses one YAML document into `T`.
///
/// `line_offset` is added to reported lines, so a document cut from a larger
/// stream reports lines of the whole stream.
pub fn parse<T: DeserializeOwned>(text: &str, line_offset: usize) -> Result<T, YamlError> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let location = e.location();
        // The library's message repeats the location ("at line 3 column 5");
        // we report it separately, so keep only the description.
        let message = e.to_string();
        let message = match message.find(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        YamlError {
            line: location.as_ref().map(|l| l.line() + line_offset),
            column: location.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// One document of a multi-document stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    /// 0-based line of the document's first line in the stream.
    pub first_line: usize,
    pub text: &'a str,
}

/// Splits a stream on `---` separator lines. Documents with nothing but
/// whitespace and comments are dropped, as `kubectl` and Helm do.
pub fn split_documents(stream: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0usize;
    let mut pos = 0usize;
    for (line_no, line) in stream.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t") {
            push_doc(&mut docs, &stream[start..pos], start_line);
            start = pos + line.len();
            start_line = line_no + 1;
        }
        pos += line.len();
    }
    push_doc(&mut docs, &stream[start..], start_line);
    docs
}

fn push_doc<'a>(docs: &mut Vec<Document<'a>>, text: &'a str, first_line: usize) {
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if has_content {
        docs.push(Document { first_line, text });
    }
}

/// Serialises a value as a YAML document (no leading `---`).
pub fn to_string(value: &serde_json::Value) -> String {
    // Serialising a JSON value cannot fail: every key is a string.
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_skips_empty_documents() {
        let docs = split_documents("---\na: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[0].first_line, 1);
        assert_eq!(docs[1].text, "b: 2\nc: 3\n");
        assert_eq!(docs[1].first_line, 5);
    }

    #[test]
    fn error_lines_are_offset() {
        let err = parse::<serde_json::Value>("a: 1\nb: [\n", 10).unwrap_err();
        assert!(err.line.unwrap() >= 11, "{err:?}");
    }

    #[test]
    fn separator_inside_block_scalar_text_is_not_a_split() {
        let docs = split_documents("a: |\n  ---x\n");
        assert_eq!(docs.len(), 1);
    }
}
