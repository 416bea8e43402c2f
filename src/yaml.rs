//! YAML helpers shared by the model (input files) and the renderer (rendered
//! manifests): one parser, one way of reporting where a document is broken.
//!
//! The library (`serde_yaml_ng`) defines what documents mean and how values
//! are laid out. Two fast paths give exactly its results for the common
//! case, several times faster: a reader for plain block YAML
//! ([`parse_value`]), which leaves everything else, errors included, to the
//! library, and a writer ([`to_string`], [`append`]) that produces the
//! library's bytes. Tests in `yaml/fast_tests.rs` hold both to that on
//! hand-picked and generated documents.
//!
//! What we write must mean the same to YAML 1.1 readers (kubectl's, Helm's)
//! as to YAML 1.2 ones, so both writers also quote the strings that 1.1
//! resolves to something else (`yes`, `on`, `0755`, `1_000`, `2001-12-14`;
//! see `yaml/yaml11.rs`).

mod emit;
#[cfg(test)]
mod fast_tests;
mod library;
mod read;
mod scalar;
mod yaml11;

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

/// Parses one YAML document into a JSON value, rejecting duplicate keys
/// (which YAML forbids and which would otherwise silently keep the last one).
pub fn parse_value(text: &str, line_offset: usize) -> Result<serde_json::Value, YamlError> {
    // Most documents are plain block YAML that the fast reader takes; it
    // declines everything else, errors included, and gives the same values.
    if let Ok(value) = read::document(text) {
        return Ok(value);
    }
    parse_value_slow(text, line_offset)
}

/// [`parse_value`] with the library only.
fn parse_value_slow(text: &str, line_offset: usize) -> Result<serde_json::Value, YamlError> {
    parse::<Strict>(text, line_offset)
        .map(|s| s.0)
        .map_err(|mut e| {
            // The parser places errors raised while building a map at the map's
            // start; point at the repeated key instead.
            if let Some(key) = e
                .message
                .split_once("duplicate key ")
                .and_then(|(_, k)| serde_json::from_str::<String>(k).ok())
                && let Some(line) =
                    second_occurrence(text, &key, e.line.map(|l| l.saturating_sub(line_offset)))
            {
                e.line = Some(line + line_offset);
                e.column = None;
            }
            e
        })
}

/// The 1-based line where `key:` appears for the second time at or after
/// `from` (1-based), at the indentation of its first appearance.
fn second_occurrence(text: &str, key: &str, from: Option<usize>) -> Option<usize> {
    let from = from.unwrap_or(1).saturating_sub(1);
    let mut first_indent = None;
    for (i, line) in text.lines().enumerate().skip(from) {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let body = body.strip_prefix("- ").unwrap_or(body);
        let is_key = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|k| body.starts_with(k.as_str()));
        if !is_key {
            continue;
        }
        match first_indent {
            None => first_indent = Some(indent),
            Some(first) if first == indent => return Some(i + 1),
            Some(_) => {}
        }
    }
    None
}

/// Deserialises a field as a JSON value with [`parse_value`]'s rules.
pub fn strict<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<Strict>::deserialize(d)?.map(|s| s.0))
}

/// A JSON value read from YAML with duplicate keys refused and scalar keys
/// (`1:`, `true:`) turned into strings, as Kubernetes' YAML reader does.
struct Strict(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(Strict(key)) = map.next_key()? {
            let key = match key {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "null".to_string(),
                other @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_)) => {
                    other.to_string()
                }
                _ => return Err(serde::de::Error::custom("a map key must be a scalar")),
            };
            let Strict(value) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            out.insert(key, value);
        }
        Ok(serde_json::Value::Object(out))
    }
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
    let mut out = String::new();
    append(&mut out, value);
    out
}

/// Appends a value as a YAML document (no leading `---`) to `out`.
///
/// The text is what `serde_yaml_ng::to_string` writes, except that strings
/// a YAML 1.1 reader would take for something else are single-quoted. The
/// library itself is used only for the rare documents the fast writer
/// leaves to it (see the `emit` module), with the same quoting.
pub fn append(out: &mut String, value: &serde_json::Value) {
    if emit::document(out, value).is_err() {
        out.push_str(&library_string(value));
    }
}

/// What [`append`] writes, with the library only.
fn library_string(value: &serde_json::Value) -> String {
    // Neither step can fail for a JSON value: every key is a string and
    // every number fits the library's.
    serde_yaml_ng::to_value(value)
        .and_then(|v| library::to_string(&v))
        .unwrap_or_default()
}

/// Serialises any value the library can write, with [`append`]'s quoting:
/// for values that are not JSON values (non-string keys, integers beyond 64
/// bits, non-finite floats).
///
/// # Errors
///
/// What the library says about a value it cannot write (bytes, say).
///
/// # Caveats
///
/// A value holding an integer beyond 64 bits is written exactly as the
/// library writes it, without the extra quoting: the library's own value
/// type, which the quoting works on, cannot hold such an integer.
pub fn to_string_serialize<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, YamlError> {
    let error = |e: serde_yaml_ng::Error| YamlError {
        line: None,
        column: None,
        message: e.to_string(),
    };
    let direct = serde_yaml_ng::to_string(value).map_err(error)?;
    let tree = serde_yaml_ng::to_value(value).map_err(error)?;
    // The library's value type turns integers beyond 64 bits into strings;
    // when the tree no longer writes as the value does, keep the value's.
    if serde_yaml_ng::to_string(&tree).map_err(error)? != direct {
        return Ok(direct);
    }
    library::to_string(&tree).map_err(error)
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
    fn duplicate_keys_are_refused_with_their_line() {
        let err = parse_value("a: 1\nb:\n  c: 1\n  c: 2\n", 0).unwrap_err();
        assert!(err.message.contains("duplicate key \"c\""), "{err:?}");
        assert_eq!(err.line, Some(4), "{err:?}");
        assert!(parse_value("a: 1\nb: {a: 1}\n", 0).is_ok());
    }

    #[test]
    fn scalar_keys_become_strings() {
        let v = parse_value("1: a\ntrue: b\n", 0).unwrap();
        assert_eq!(v, serde_json::json!({"1": "a", "true": "b"}));
    }

    #[test]
    fn separator_inside_block_scalar_text_is_not_a_split() {
        let docs = split_documents("a: |\n  ---x\n");
        assert_eq!(docs.len(), 1);
    }

    /// Strings YAML 1.1 readers (kubectl's among them) resolve to booleans,
    /// numbers, nulls or timestamps were written plain, because the
    /// library quotes only what YAML 1.2 resolves.
    #[test]
    fn regression_yaml11_booleans_and_numbers_are_quoted() {
        let strings = [
            "y",
            "Y",
            "yes",
            "Yes",
            "YES",
            "n",
            "N",
            "no",
            "No",
            "NO",
            "true",
            "True",
            "TRUE",
            "false",
            "False",
            "FALSE",
            "on",
            "On",
            "ON",
            "off",
            "Off",
            "OFF",
            "null",
            "Null",
            "NULL",
            "~",
            "",
            "1_000",
            "0b101",
            "0755",
            "0o17",
            "0x1F",
            "1:20",
            "190:20:30",
            "1_000.5",
            ".5",
            "1e3",
            ".inf",
            ".NaN",
            "6.8523015e+5",
            "2001-12-14",
            "<<",
        ];
        for s in strings {
            let expected = format!("'{s}'");
            // As a value and as a key, on the fast path and the library's
            // (a top-level scalar goes to the library).
            let value = serde_json::json!({ "k": s, s: "v", "list": [s] });
            let text = to_string(&value);
            let want = format!("k: {expected}\n{expected}: v\nlist:\n- {expected}\n");
            assert_eq!(text, want, "{s:?}");
            assert_eq!(library_string(&value), want, "{s:?}");
            assert_eq!(to_string(&serde_json::json!(s)), format!("{expected}\n"));
            assert_eq!(parse_value(&text, 0).unwrap(), value, "{s:?}");
        }
        for plain in [
            "yess", "nginx", "1.2.3", "10.0.0.1", "v1", "1Gi", "500m", "x",
        ] {
            let text = to_string(&serde_json::json!({ "k": plain }));
            assert_eq!(text, format!("k: {plain}\n"));
        }
    }

    #[test]
    fn to_string_serialize_quotes_for_any_value() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(1, "yes");
        map.insert(2, "x");
        assert_eq!(to_string_serialize(&map).unwrap(), "1: 'yes'\n2: x\n");
        // Beyond 64 bits: the library's bytes.
        assert_eq!(
            to_string_serialize(&(u128::MAX, "on")).unwrap(),
            serde_yaml_ng::to_string(&(u128::MAX, "on")).unwrap()
        );
    }
}
