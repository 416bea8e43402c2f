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
//! see `yaml/yaml11.rs`). What we read follows 1.2, plus the merge key
//! `<<` that Helm and kubectl readers apply.

mod emit;
#[cfg(test)]
mod fast_tests;
mod library;
mod read;
mod scalar;
mod yaml11;

use std::borrow::Cow;
use std::cell::Cell;

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
/// stream reports lines of the whole stream. A leading byte order mark is
/// ignored.
///
/// Maps read with [`strict`] apply merge keys, but here a quoted `'<<'`
/// key in them is taken for one too: telling the two apart needs the
/// marking [`parse_value`] does, which would show in `T`'s own strings.
pub fn parse<T: DeserializeOwned>(text: &str, line_offset: usize) -> Result<T, YamlError> {
    let text = without_bom(text);
    serde_yaml_ng::from_str(text).map_err(|e| library_error(&e, text, line_offset))
}

/// The library's error as a [`YamlError`]: the location reported apart
/// from the message, at the repeated key for a duplicate, and long quoted
/// text in the message cut short.
fn library_error(e: &serde_yaml_ng::Error, text: &str, line_offset: usize) -> YamlError {
    let location = e.location();
    // The library's message repeats the location ("at line 3 column 5");
    // we report it separately, so keep only the description.
    let message = e.to_string();
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => &message,
    };
    let mut error = YamlError {
        line: location.as_ref().map(|l| l.line() + line_offset),
        column: location.as_ref().map(|l| l.column()),
        message: shorten_quoted(message).into_owned(),
    };
    // The parser places errors raised while building a map at the map's
    // start; point at the repeated key instead.
    if let Some(key) = duplicate_key(message) {
        let map_start = location.as_ref().map(|l| (l.line(), l.column()));
        if let Some(line) = second_occurrence(text, &key, map_start) {
            error.line = Some(line + line_offset);
            error.column = None;
        }
    }
    error
}

/// The key named by a duplicate-key message: `duplicate key "k"` (from
/// [`Strict`]) or ``duplicate field `k` `` (from a derived struct).
fn duplicate_key(message: &str) -> Option<String> {
    if let Some((_, quoted)) = message.split_once("duplicate key ") {
        return serde_json::from_str::<String>(quoted).ok();
    }
    let (_, rest) = message.split_once("duplicate field `")?;
    rest.split_once('`').map(|(key, _)| key.to_string())
}

/// Parses one YAML document into a JSON value, rejecting duplicate keys
/// (which YAML forbids and which would otherwise silently keep the last one)
/// and applying merge keys (`<<: *defaults`) as Helm and kubectl do. A
/// leading byte order mark is ignored.
pub fn parse_value(text: &str, line_offset: usize) -> Result<serde_json::Value, YamlError> {
    let text = without_bom(text);
    // Most documents are plain block YAML that the fast reader takes; it
    // declines everything else, errors included, and gives the same values.
    if let Ok(value) = read::document(text) {
        return Ok(value);
    }
    parse_value_slow(text, line_offset)
}

/// [`parse_value`] with the library only.
fn parse_value_slow(text: &str, line_offset: usize) -> Result<serde_json::Value, YamlError> {
    let text = without_bom(text);
    let marked = mark_quoted_merge_keys(text);
    let _marking = marked.as_ref().map(|(_, mark)| Marking::set(*mark));
    let input = marked.as_ref().map_or(text, |(t, _)| t.as_str());
    serde_yaml_ng::from_str::<Strict>(input)
        .map(|s| s.0)
        .map_err(|e| library_error(&e, text, line_offset))
}

/// `text` without a leading UTF-8 byte order mark, which editors on some
/// systems write and which the library takes for the start of a second
/// document.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The 1-based line where `key:` appears for the second time in the map
/// that starts at `map_start` (1-based line and column, as the library
/// reports it): the second line from there with the key at the map's
/// column. Without a known start, the key's column is that of its first
/// appearance in the text.
fn second_occurrence(text: &str, key: &str, map_start: Option<(usize, usize)>) -> Option<usize> {
    let (from, mut column) = match map_start {
        Some((line, column)) => (line.saturating_sub(1), Some(column.saturating_sub(1))),
        None => (0, None),
    };
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    let mut seen = false;
    for (i, line) in text.lines().enumerate().skip(from) {
        // Where the line's content starts, past any `- ` of sequence items:
        // a key of a map in a list starts after its dash.
        let mut at = line.len() - line.trim_start_matches(' ').len();
        while line[at..].starts_with("- ") {
            at += 2 + line[at + 2..].len() - line[at + 2..].trim_start_matches(' ').len();
        }
        let body = &line[at..];
        let is_key = forms.iter().any(|k| {
            body.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        });
        if !is_key {
            continue;
        }
        match column {
            Some(c) if c != at => continue,
            Some(_) => {}
            None => column = Some(at),
        }
        if seen {
            return Some(i + 1);
        }
        seen = true;
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

/// The merge key. Only a plain `<<` is one; a quoted `'<<'` is an ordinary
/// key, which the writer quotes for that reason.
const MERGE_KEY: &str = "<<";

thread_local! {
    /// The character inserted after `<<` in quoted `'<<'` and `"<<"` while
    /// the library reads a text (see [`mark_quoted_merge_keys`]).
    static MERGE_MARK: Cell<Option<char>> = const { Cell::new(None) };
}

/// Sets [`MERGE_MARK`] for as long as it lives.
struct Marking(Option<char>);

impl Marking {
    fn set(mark: char) -> Self {
        Self(MERGE_MARK.replace(Some(mark)))
    }
}

impl Drop for Marking {
    fn drop(&mut self) {
        MERGE_MARK.set(self.0);
    }
}

/// The library hands over a quoted `'<<'` key and a plain `<<` merge key
/// alike, as the string `<<`. So before it reads `text`, a mark goes after
/// `<<` in every quoted `'<<'` and `"<<"`; [`Strict`] removes it again from
/// every string it builds, after telling the marked keys from merge keys.
/// The mark is a noncharacter (Unicode keeps them for such internal use)
/// that `text` holds neither as itself nor as an escape.
///
/// `None` when there is nothing to mark. A double-quoted key spelling `<<`
/// with escapes (`"\x3c<"`) is not seen, and is read as a merge key.
/// Columns of errors after a mark on the same line are one further on.
fn mark_quoted_merge_keys(text: &str) -> Option<(String, char)> {
    if !text.contains("'<<'") && !text.contains("\"<<\"") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mark = ('\u{fdd0}'..='\u{fdef}')
        .find(|&c| !text.contains(c) && !lower.contains(&format!("{:x}", u32::from(c))))?;
    let marked = text
        .replace("'<<'", &format!("'<<{mark}'"))
        .replace("\"<<\"", &format!("\"<<{mark}\""));
    Some((marked, mark))
}

/// `s` without the marks [`mark_quoted_merge_keys`] added.
fn unmark(s: &str) -> Cow<'_, str> {
    if s.contains(MERGE_KEY)
        && let Some(mark) = MERGE_MARK.get()
    {
        let marked = format!("{MERGE_KEY}{mark}");
        if s.contains(&marked) {
            return Cow::Owned(s.replace(&marked, MERGE_KEY));
        }
    }
    Cow::Borrowed(s)
}

/// A JSON value read from YAML with duplicate keys refused, merge keys
/// applied and scalar keys (`1:`, `true:`) turned into strings, as
/// Kubernetes' YAML reader does.
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
        Ok(unmark(v).into_owned().into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(match unmark(&v) {
            Cow::Borrowed(_) => v.into(),
            Cow::Owned(s) => s.into(),
        })
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
        use serde::de::Error;
        let mut out = serde_json::Map::new();
        // The maps a merge key brings in, and how many explicit keys come
        // before it.
        let mut merge: Option<(usize, Vec<serde_json::Map<String, serde_json::Value>>)> = None;
        // Keys arrive unmarked, so a merge key is told by its raw text.
        while let Some(RawKey { key, merge_key }) = map.next_key()? {
            let Strict(value) = map.next_value()?;
            if merge_key {
                if merge.is_some() {
                    return Err(A::Error::custom(format!("duplicate key {MERGE_KEY:?}")));
                }
                merge = Some((out.len(), merge_sources(value).map_err(A::Error::custom)?));
                continue;
            }
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
            out.insert(key, value);
        }
        Ok(serde_json::Value::Object(match merge {
            None => out,
            Some((at, sources)) => merged(out, at, sources),
        }))
    }
}

/// A map key as [`Strict`] reads it: a scalar turned into a string, and
/// whether it is the merge key.
struct RawKey {
    key: String,
    merge_key: bool,
}

impl<'de> serde::Deserialize<'de> for RawKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Marks come off in the visitor, so look at the key first: only an
        // unmarked `<<` is the merge key.
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = RawKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a scalar map key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawKey, E> {
                Ok(RawKey {
                    merge_key: v == MERGE_KEY,
                    key: unmark(v).into_owned(),
                })
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawKey, E> {
                Ok(RawKey::scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawKey, E> {
                Ok(RawKey::scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawKey, E> {
                Ok(RawKey::scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawKey, E> {
                // As a JSON value prints it (`1.5`), which is how keys read
                // by the fast reader are spelt.
                let number =
                    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into);
                Ok(RawKey::scalar(match number {
                    serde_json::Value::Null => "null".to_string(),
                    n => n.to_string(),
                }))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<RawKey, E> {
                Ok(RawKey::scalar("null".to_string()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<RawKey, E> {
                self.visit_unit()
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawKey, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<RawKey, A::Error> {
                Err(serde::de::Error::custom("a map key must be a scalar"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<RawKey, A::Error> {
                Err(serde::de::Error::custom("a map key must be a scalar"))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

impl RawKey {
    fn scalar(key: String) -> Self {
        Self {
            key,
            merge_key: false,
        }
    }
}

/// The maps a merge key's value brings in: one map, or a list of maps
/// (earlier ones win).
fn merge_sources(
    value: serde_json::Value,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let wrong = |v: &serde_json::Value| {
        format!(
            "the merge key {MERGE_KEY:?} takes a map or a list of maps, not {}",
            type_name(v)
        )
    };
    match value {
        serde_json::Value::Object(map) => Ok(vec![map]),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::Object(map) => Ok(map),
                other => Err(wrong(&other)),
            })
            .collect(),
        other => Err(wrong(&other)),
    }
}

fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}

/// A map with merged keys: the explicit keys before the merge key, then
/// the merged keys that no explicit key overrides (from the first source
/// that has each), then the remaining explicit keys.
fn merged(
    explicit: serde_json::Map<String, serde_json::Value>,
    at: usize,
    sources: Vec<serde_json::Map<String, serde_json::Value>>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut brought = serde_json::Map::new();
    for source in sources {
        for (key, value) in source {
            if !explicit.contains_key(&key) && !brought.contains_key(&key) {
                brought.insert(key, value);
            }
        }
    }
    let mut out = serde_json::Map::with_capacity(explicit.len() + brought.len());
    let mut explicit = explicit.into_iter();
    out.extend(explicit.by_ref().take(at));
    out.extend(brought);
    out.extend(explicit);
    out
}

/// One document of a multi-document stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    /// 0-based line of the document's first line in the stream.
    pub first_line: usize,
    pub text: &'a str,
}

/// Splits a stream on `---` separator lines. Documents with nothing but
/// whitespace and comments are dropped, as `kubectl` and Helm do. A leading
/// byte order mark is ignored.
pub fn split_documents(stream: &str) -> Vec<Document<'_>> {
    let stream = without_bom(stream);
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

/// How many characters of a source line or quoted text messages show.
const SHOWN_CHARS: usize = 200;

/// `line` cut to its first [`SHOWN_CHARS`] characters and an ellipsis when
/// longer: a minified or generated line of 20 KB helps no one in an error.
pub fn shorten(line: &str) -> Cow<'_, str> {
    match line.char_indices().nth(SHOWN_CHARS) {
        None => Cow::Borrowed(line),
        Some((cut, _)) => Cow::Owned(format!("{}…", &line[..cut])),
    }
}

/// Line `line` (1-based) of `text`, or its last line when `line` is past
/// the end, shortened with [`shorten`]: what an error shows of the source.
pub fn excerpt(text: &str, line: usize) -> Option<String> {
    text.lines()
        .nth(line.saturating_sub(1))
        .or_else(|| text.lines().last())
        .map(|l| shorten(l).into_owned())
}

/// `message` with every double-quoted or backquoted part longer than
/// [`SHOWN_CHARS`] characters shortened: the library quotes whole values
/// and keys in its messages (`invalid type: string "..."`).
fn shorten_quoted(message: &str) -> Cow<'_, str> {
    if message.chars().nth(SHOWN_CHARS).is_none() {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(SHOWN_CHARS * 2);
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let body = &rest[open + 1..];
        // The closing quote: the next one not escaped by a backslash.
        let mut escaped = false;
        let close = body.char_indices().find_map(|(i, c)| {
            let end = c == quote && !escaped;
            escaped = c == '\\' && !escaped;
            end.then_some(i)
        });
        let Some(close) = close else {
            rest = body;
            break;
        };
        out.push_str(&shorten(&body[..close]));
        out.push(quote);
        rest = &body[close + 1..];
    }
    out.push_str(&shorten(rest));
    Cow::Owned(out)
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

    /// `<<: *anchor` in values was kept as a key named `<<`; Helm and
    /// kubectl merge the anchored map in.
    #[test]
    fn regression_merge_keys_in_values_are_merged() {
        let text = "\
defaults: &defaults
  image: app
  replicas: 1
  labels: {tier: web}
other: &other
  replicas: 5
  port: 80
one:
  <<: *defaults
  replicas: 3
many:
  name: many
  <<: [*defaults, *other]
  image: mine
inline:
  <<: {a: 1}
  b: 2
";
        let value = parse_value(text, 0).unwrap();
        assert_eq!(
            value["one"],
            serde_json::json!({"image": "app", "replicas": 3, "labels": {"tier": "web"}})
        );
        // Explicit keys win wherever they stand, earlier maps win over
        // later ones, and merged keys take the merge key's place.
        let many = &value["many"];
        assert_eq!(
            many,
            &serde_json::json!({
                "name": "many", "replicas": 1, "labels": {"tier": "web"}, "port": 80,
                "image": "mine"
            })
        );
        let keys: Vec<&String> = many.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "replicas", "labels", "port", "image"]);
        assert_eq!(value["inline"], serde_json::json!({"a": 1, "b": 2}));
    }

    #[test]
    fn merge_keys_nest_and_quoted_ones_are_keys() {
        let text = "\
base: &base {a: 1, b: 1}
mid: &mid
  <<: *base
  b: 2
top:
  <<: *mid
  c: 3
quoted:
  '<<': literal
  \"<<\": [x]
values: ['<<', \"a '<<' b\"]
";
        let err = parse_value(text, 0).unwrap_err();
        assert!(err.message.contains("duplicate key \"<<\""), "{err:?}");
        assert_eq!(err.line, Some(10), "{err:?}");
        let text = text.replace("  \"<<\": [x]\n", "");
        let value = parse_value(&text, 0).unwrap();
        assert_eq!(value["top"], serde_json::json!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(value["quoted"], serde_json::json!({"<<": "literal"}));
        assert_eq!(value["values"], serde_json::json!(["<<", "a '<<' b"]));
        // What the writer writes for a `<<` key reads back as that key,
        // through the fast reader and through the library.
        let literal = serde_json::json!({"m": {"<<": {"x": 1}}, "list": ["\u{2028}"]});
        let written = to_string(&literal);
        assert_eq!(parse_value(&written, 0).unwrap(), literal);
        assert_eq!(parse_value_slow(&written, 0).unwrap(), literal);
    }

    #[test]
    fn merge_key_values_must_be_maps() {
        for (text, found) in [
            ("a:\n  <<: 1\n", "a number"),
            ("a:\n  <<: [{x: 1}, 2]\n", "a number"),
            ("a:\n  <<: x\n", "a string"),
        ] {
            let err = parse_value(text, 0).unwrap_err();
            assert!(
                err.message.contains("takes a map or a list of maps"),
                "{err:?}"
            );
            assert!(err.message.contains(found), "{err:?}");
        }
    }

    #[test]
    fn merge_keys_in_fields_read_with_strict() {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default, deserialize_with = "strict")]
            values: Option<serde_json::Value>,
        }
        let file: File = parse(
            "values:\n  base: &b {x: 1}\n  app:\n    <<: *b\n    y: 2\n",
            0,
        )
        .unwrap();
        assert_eq!(
            file.values.unwrap()["app"],
            serde_json::json!({"x": 1, "y": 2})
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_ignored() {
        let text = "\u{feff}a: 1\nb: [2]\n";
        assert_eq!(
            parse_value(text, 0).unwrap(),
            serde_json::json!({"a": 1, "b": [2]})
        );
        assert_eq!(
            parse_value_slow(text, 0).unwrap(),
            serde_json::json!({"a": 1, "b": [2]})
        );
        let parsed: std::collections::BTreeMap<String, u32> = parse("\u{feff}a: 1\n", 0).unwrap();
        assert_eq!(parsed["a"], 1);
        let docs = split_documents("\u{feff}---\na: 1\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].text, docs[0].first_line), ("a: 1\n", 1));
        // Only at the start: elsewhere it is a character YAML refuses in
        // plain text, and an error says so.
        assert!(parse_value("a: 1\n\u{feff}b: 2\n", 0).is_err());
    }

    #[test]
    fn duplicate_top_level_keys_name_the_second_line() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Meta {
            name: String,
            version: String,
        }
        let text = "name: a\nversion: 1\nname: b\n";
        let err = parse::<Meta>(text, 0).unwrap_err();
        assert!(err.message.contains("duplicate field `name`"), "{err:?}");
        assert_eq!(err.line, Some(3), "{err:?}");
        // The same key nested earlier is not the first appearance.
        let text = "spec:\n  spec: 1\n  x:\n  - spec: 2\nspec: 3\n";
        let err = parse_value(text, 10).unwrap_err();
        assert_eq!(err.line, Some(15), "{err:?}");
        let text = "list:\n- a: 1\n  b: 2\n- a: 1\n  a: 2\n";
        let err = parse_value(text, 0).unwrap_err();
        assert_eq!(err.line, Some(5), "{err:?}");
    }

    #[test]
    fn long_lines_and_quoted_text_are_shortened() {
        let long = "x".repeat(20_000);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), SHOWN_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(shorten("short line"), "short line");
        let wide = "é".repeat(300);
        assert_eq!(shorten(&wide).chars().count(), SHOWN_CHARS + 1);
        let text = format!("a: 1\nb: {long}\n");
        assert_eq!(excerpt(&text, 1).as_deref(), Some("a: 1"));
        assert!(excerpt(&text, 2).unwrap().len() < 300);
        assert!(excerpt(&text, 9).unwrap().starts_with("b: x"));

        let message = format!("invalid type: string \"{long}\", expected a map");
        let shown = shorten_quoted(&message);
        assert!(shown.len() < 300, "{shown}");
        assert!(shown.starts_with("invalid type: string \"xxx"), "{shown}");
        assert!(shown.ends_with("…\", expected a map"), "{shown}");

        // Keys up to 1024 characters are allowed.
        let key = "k".repeat(1000);
        let doc = format!("{key}: 1\n{key}: 2\n");
        let err = parse_value(&doc, 0).unwrap_err();
        assert!(
            err.message.contains("duplicate key \"kkk"),
            "{}",
            err.message
        );
        assert!(err.message.len() < 300, "{}", err.message);
        assert_eq!(err.line, Some(2), "{err:?}");
    }
}
