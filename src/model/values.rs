//! Values: deep merge with Helm's rules, the edits the command line makes
//! (`--set`, `--set-string`, `--values`), which layer set each key, and
//! JSON-path naming for messages.

use std::fmt;

use serde_json::{Map, Value};

/// Merges `overlay` into `base`, later wins.
///
/// Maps merge key by key, recursively; any other value (lists included)
/// replaces what was there. A `null` in the overlay deletes the key, which is
/// how Helm users turn off a default.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base_map), Value::Object(overlay_map)) => merge_maps(base_map, overlay_map),
        (base, overlay) => *base = strip_nulls(overlay),
    }
}

fn merge_maps(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match value {
            Value::Null => {
                base.remove(key);
            }
            Value::Object(_) => match base.get_mut(key) {
                Some(existing @ Value::Object(_)) => merge(existing, value),
                _ => {
                    base.insert(key.clone(), strip_nulls(value));
                }
            },
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The same value with its maps and lists using no more memory than their
/// content needs (merging grows them as it inserts). Order is kept.
pub fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, compact(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

/// A null inside a map that replaces a non-map has nothing to delete; drop it
/// so that the result does not depend on what the base held.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Turns a JSON pointer (`/image/tags/0`) into the path users write in
/// templates (`values.image.tags[0]`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::from("values");
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else if part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push('.');
            out.push_str(&part);
        } else {
            out.push_str(&format!("[{part:?}]"));
        }
    }
    out
}

/// One step of a path into values: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A path as `--set` takes it and templates read it: `image.tags[0]`,
/// with keys that are not plain words written as `["a.b"]`.
pub fn path_text(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) => push_key(&mut out, k),
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        out.push_str(&format!("[{key:?}]"));
        return;
    }
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
}

/// Where a layer of a release's values comes from; the variants are in
/// precedence order, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The package's `values.yaml`.
    Defaults { file: String },
    /// A file the bundle lists under the release's `valuesFiles`.
    ValuesFile { file: String },
    /// The bundle's `values` of the release.
    Bundle { file: String, release: String },
    /// The platform's `releases.<name>.values`.
    Platform { file: String, release: String },
    /// `--values`, `--set` or `--set-string`, as given.
    CommandLine { flag: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Defaults { file } => write!(f, "{file}"),
            Source::ValuesFile { file } => write!(f, "{file} (valuesFiles)"),
            Source::Bundle { file, release } => write!(f, "{file} (values of release {release})"),
            Source::Platform { file, release } => write!(f, "{file} (releases.{release}.values)"),
            Source::CommandLine { flag } => f.write_str(flag),
        }
    }
}

impl serde::Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What one layer does to the values below it.
#[derive(Debug, Clone, Copy)]
pub enum Edit<'a> {
    /// Deep-merged, as a values file is.
    Merge(&'a Value),
    /// One value put at one path of the values below (`--set a.b[0]=x`).
    Set(&'a [Step], &'a Value),
}

/// A layer of values and where it comes from.
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    pub source: Source,
    pub edit: Edit<'a>,
}

/// Applies one layer to `base`.
///
/// # Errors
/// A `Set` whose path runs through something that is not a list where it
/// gives an index, or gives an index past the end of the list (one past the
/// end appends).
pub fn apply(base: &mut Value, edit: Edit<'_>) -> Result<(), String> {
    match edit {
        Edit::Merge(layer) => {
            merge(base, layer);
            Ok(())
        }
        Edit::Set(path, value) => set(base, path, 0, value),
    }
}

fn set(base: &mut Value, path: &[Step], depth: usize, value: &Value) -> Result<(), String> {
    let Some(step) = path.get(depth) else {
        *base = strip_nulls(value);
        return Ok(());
    };
    let last = depth + 1 == path.len();
    match step {
        Step::Key(key) => {
            // As when a values file puts a map where a scalar was.
            if !base.is_object() {
                *base = Value::Object(Map::new());
            }
            let Value::Object(map) = base else {
                return Ok(());
            };
            if last && value.is_null() {
                map.remove(key);
                return Ok(());
            }
            let child = map.entry(key.clone()).or_insert(Value::Null);
            set(child, path, depth + 1, value)
        }
        Step::Index(index) => {
            if base.is_null() {
                *base = Value::Array(Vec::new());
            }
            let here = || {
                let shown = path_text(&path[..depth]);
                if shown.is_empty() {
                    "the values".to_string()
                } else {
                    shown
                }
            };
            let Value::Array(items) = base else {
                return Err(format!(
                    "{} is {}, not a list",
                    here(),
                    super::package::type_name(base)
                ));
            };
            if *index > items.len() {
                return Err(format!(
                    "index {index} is past the end of {}, which has {} items (index {} appends)",
                    here(),
                    items.len(),
                    items.len()
                ));
            }
            if *index == items.len() {
                items.push(Value::Null);
            }
            set(&mut items[*index], path, depth + 1, value)
        }
    }
}

/// A layer of values given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The flag as given (`--set replicas=2`, `--values ha.yaml`), which is
    /// how `distro values --show-origin` names it.
    pub flag: String,
    pub change: Change,
}

/// What a command-line layer does.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `--values FILE`: merged as any values file.
    Merge(Value),
    /// `--set` / `--set-string`: one value at one path.
    Set(Vec<Step>, Value),
}

impl Override {
    /// The override as a layer.
    pub fn layer(&self) -> Layer<'_> {
        Layer {
            source: Source::CommandLine {
                flag: self.flag.clone(),
            },
            edit: match &self.change {
                Change::Merge(v) => Edit::Merge(v),
                Change::Set(path, v) => Edit::Set(path, v),
            },
        }
    }
}

/// The key that addresses the platform's values (`platform` in templates)
/// in a command-line layer, instead of a release's.
pub const PLATFORM_KEY: &str = "platform";

/// Values given on the command line: the last layers, over every file.
///
/// In each layer the top-level key `platform` addresses the platform's
/// values; every other key the values of the target releases.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The releases the release layers apply to; empty means every release.
    pub targets: Vec<String>,
    /// Over the target releases' values, in order.
    pub release: Vec<Override>,
    /// Over the platform's values, in order.
    pub platform: Vec<Override>,
}

impl Overrides {
    /// Whether the release layers apply to `release`.
    pub fn applies_to(&self, release: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == release)
    }

    /// Adds the pairs of one `--set` (`typed`: values read as YAML scalars)
    /// or `--set-string` flag.
    ///
    /// # Errors
    /// The text is not `key=value[,key=value...]`, or sets `platform` itself.
    pub fn add_set(&mut self, flag: &str, text: &str, typed: bool) -> Result<(), String> {
        for (mut path, value) in parse_set(text, typed)? {
            let shown = format!("{flag} {}={}", path_text(&path), shown_value(&value));
            if path.first() == Some(&Step::Key(PLATFORM_KEY.into())) {
                path.remove(0);
                if path.is_empty() {
                    return Err(format!(
                        "{PLATFORM_KEY} holds the platform's values: set a key under it ({PLATFORM_KEY}.clusterDomain=...)"
                    ));
                }
                self.platform.push(Override {
                    flag: shown,
                    change: Change::Set(path, value),
                });
            } else {
                self.release.push(Override {
                    flag: shown,
                    change: Change::Set(path, value),
                });
            }
        }
        Ok(())
    }

    /// Adds the content of one `--values` file, named `name`.
    ///
    /// # Errors
    /// The content, or its `platform` key, is not a map.
    pub fn add_file(&mut self, name: &str, content: Value) -> Result<(), String> {
        let mut map = match content {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => {
                return Err(format!(
                    "values must be a map, found {}",
                    super::package::type_name(&other)
                ));
            }
        };
        let flag = format!("--values {name}");
        match map.remove(PLATFORM_KEY) {
            None | Some(Value::Null) => {}
            Some(platform @ Value::Object(_)) => self.platform.push(Override {
                flag: flag.clone(),
                change: Change::Merge(platform),
            }),
            Some(other) => {
                return Err(format!(
                    "{PLATFORM_KEY} must be a map of platform values, found {}",
                    super::package::type_name(&other)
                ));
            }
        }
        if !map.is_empty() {
            self.release.push(Override {
                flag,
                change: Change::Merge(Value::Object(map)),
            });
        }
        Ok(())
    }
}

/// How a `--set` value is shown back: as given, strings unquoted.
fn shown_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `--set` text: `key=value` pairs separated by commas. Keys are
/// dotted paths with optional list indices (`a.b[0].c`); `\` escapes a `.`,
/// `,`, `=`, `[` or `\` that belongs to a key or value. With `typed`, a
/// value is read as a YAML scalar (`2`, `true`, `null` which deletes the
/// key) and anything else is a string; an empty value is the empty string.
///
/// # Errors
/// A pair without `=`, an empty key or a malformed index.
pub fn parse_set(text: &str, typed: bool) -> Result<Vec<(Vec<Step>, Value)>, String> {
    let mut pairs = Vec::new();
    for pair in split_unescaped(text, ',') {
        let Some((key, value)) = split_once_unescaped(&pair, '=') else {
            return Err(format!("expected key=value, found {pair:?}"));
        };
        let path = parse_path(&key)?;
        let value = unescape(&value);
        let value = if typed {
            typed_scalar(&value)
        } else {
            Value::String(value)
        };
        pairs.push((path, value));
    }
    Ok(pairs)
}

/// What a `--set` value means: a YAML scalar, else the text itself.
fn typed_scalar(text: &str) -> Value {
    if text.is_empty() {
        return Value::String(String::new());
    }
    match crate::yaml::parse_value(text, 0) {
        // Only the spellings of null delete: `#fff` also reads as null
        // (a comment), but means the string.
        Ok(Value::Null) if matches!(text, "null" | "Null" | "NULL" | "~") => Value::Null,
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// Splits on `sep` where it is not escaped; escapes are kept.
fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = parts.last_mut().expect("parts is never empty");
                last.push('\\');
                if let Some(n) = chars.next() {
                    last.push(n);
                }
            }
            c if c == sep => parts.push(String::new()),
            c => parts.last_mut().expect("parts is never empty").push(c),
        }
    }
    parts
}

fn split_once_unescaped(text: &str, sep: char) -> Option<(String, String)> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == sep => return Some((text[..i].to_string(), text[i + 1..].to_string())),
            _ => {}
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('.' | ',' | '=' | '[' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// `a.b[0].c` into steps.
fn parse_path(key: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("key {:?}: {why}", unescape(key));
    let mut steps = Vec::new();
    let mut current = String::new();
    // Whether a key segment is expected before the next `.`/`[`/end.
    let mut need_key = true;
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(chars.next().unwrap_or('\\'));
                need_key = false;
            }
            '.' => {
                if need_key && current.is_empty() {
                    return Err(bad("empty key segment"));
                }
                if !current.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut current)));
                }
                need_key = true;
            }
            '[' => {
                if !current.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut current)));
                } else if steps.is_empty() {
                    return Err(bad("an index needs a key before it"));
                }
                let mut digits = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) if d.is_ascii_digit() => digits.push(d),
                        _ => return Err(bad("an index is [digits]")),
                    }
                }
                let index = digits
                    .parse::<usize>()
                    .map_err(|_| bad("an index is [digits]"))?;
                steps.push(Step::Index(index));
                need_key = false;
                if let Some(&n) = chars.peek()
                    && n != '.'
                    && n != '['
                {
                    return Err(bad("expected . or [ after an index"));
                }
            }
            c => {
                current.push(c);
                need_key = false;
            }
        }
    }
    if !current.is_empty() {
        steps.push(Step::Key(current));
    } else if need_key {
        return Err(bad("empty key segment"));
    }
    Ok(steps)
}

/// Which layer set one leaf of the merged values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// `image.tags[0]`, as [`path_text`] writes it.
    pub path: String,
    pub source: Source,
}

/// A layer's part of the values at the position being walked.
#[derive(Debug, Clone, Copy)]
enum Node<'a> {
    Value(&'a Value),
    /// A `Set` whose path has `rest` left to go below this position.
    Set(&'a [Step], &'a Value),
}

impl<'a> Node<'a> {
    /// Whether the layer replaced this position as a whole, hiding whatever
    /// the layers before it put here: a scalar, list or null (maps merge).
    fn replaces(self) -> bool {
        match self {
            Node::Value(v) => !v.is_object(),
            Node::Set(rest, _) => rest.is_empty(),
        }
    }

    /// Whether the layer put a value at this very position.
    fn covers(self) -> bool {
        match self {
            Node::Value(_) => true,
            Node::Set(rest, _) => rest.is_empty(),
        }
    }

    fn key(self, key: &str) -> Option<Node<'a>> {
        match self {
            Node::Value(Value::Object(map)) => map.get(key).map(Node::Value),
            Node::Value(_) => None,
            Node::Set([], value) => Node::Value(value).key(key),
            Node::Set([Step::Key(k), rest @ ..], value) if k == key => Some(Node::Set(rest, value)),
            Node::Set(..) => None,
        }
    }

    fn index(self, index: usize) -> Option<Node<'a>> {
        match self {
            Node::Value(Value::Array(items)) => items.get(index).map(Node::Value),
            Node::Value(_) => None,
            Node::Set([], value) => Node::Value(value).index(index),
            Node::Set([Step::Index(i), rest @ ..], value) if *i == index => {
                Some(Node::Set(rest, value))
            }
            Node::Set(..) => None,
        }
    }
}

/// Which layer set each leaf (scalar, empty map or empty list) of `merged`,
/// the result of applying `layers` in order, in the order of `merged`.
///
/// The layers are walked in parallel with the merged values: at each
/// position, a layer that replaced it as a whole hides the layers before
/// it, and the leaf belongs to the last layer still holding a value there.
pub fn origins(layers: &[Layer<'_>], merged: &Value) -> Vec<Origin> {
    let live: Vec<(usize, Node<'_>)> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let node = match l.edit {
                Edit::Merge(v) => Node::Value(v),
                Edit::Set(path, v) => Node::Set(path, v),
            };
            (i, node)
        })
        .collect();
    let mut out = Vec::new();
    walk(layers, merged, &mut Vec::new(), live, &mut out);
    out
}

fn walk(
    layers: &[Layer<'_>],
    merged: &Value,
    path: &mut Vec<Step>,
    live: Vec<(usize, Node<'_>)>,
    out: &mut Vec<Origin>,
) {
    let live = match live.iter().rposition(|(_, n)| n.replaces()) {
        Some(reset) => live[reset..].to_vec(),
        None => live,
    };
    match merged {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let next = live
                    .iter()
                    .filter_map(|(i, n)| n.key(key).map(|c| (*i, c)))
                    .collect();
                path.push(Step::Key(key.clone()));
                walk(layers, child, path, next, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                let next = live
                    .iter()
                    .filter_map(|(i, n)| n.index(index).map(|c| (*i, c)))
                    .collect();
                path.push(Step::Index(index));
                walk(layers, child, path, next, out);
                path.pop();
            }
        }
        _ => {
            if let Some((i, _)) = live.iter().rev().find(|(_, n)| n.covers()) {
                out.push(Origin {
                    path: path_text(path),
                    source: layers[*i].source.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_wins_and_maps_merge_deeply() {
        let mut base = json!({"image": {"repo": "a", "tag": "1"}, "replicas": 1, "list": [1, 2]});
        merge(&mut base, &json!({"image": {"tag": "2"}, "list": [3]}));
        assert_eq!(
            base,
            json!({"image": {"repo": "a", "tag": "2"}, "replicas": 1, "list": [3]})
        );
    }

    #[test]
    fn null_deletes_a_key() {
        let mut base = json!({"resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}});
        merge(&mut base, &json!({"resources": {"limits": null}}));
        assert_eq!(base, json!({"resources": {"requests": {"cpu": "1"}}}));
    }

    #[test]
    fn null_for_a_missing_key_leaves_nothing_behind() {
        let mut base = json!({"a": 1});
        merge(&mut base, &json!({"b": null, "c": {"d": null, "e": 1}}));
        assert_eq!(base, json!({"a": 1, "c": {"e": 1}}));
    }

    #[test]
    fn map_replaces_scalar_and_scalar_replaces_map() {
        let mut base = json!({"a": 1, "b": {"x": 1}});
        merge(&mut base, &json!({"a": {"y": 2}, "b": "flat"}));
        assert_eq!(base, json!({"a": {"y": 2}, "b": "flat"}));
    }

    #[test]
    fn merge_order_is_precedence() {
        // package < valuesFiles < bundle < platform
        let mut v = json!({"replicas": 1, "log": "info"});
        for layer in [
            json!({"replicas": 2}),
            json!({"replicas": 3, "log": "debug"}),
            json!({"replicas": 4}),
        ] {
            merge(&mut v, &layer);
        }
        assert_eq!(v, json!({"replicas": 4, "log": "debug"}));
    }

    #[test]
    fn pointers_become_template_paths() {
        assert_eq!(pointer_to_path(""), "values");
        assert_eq!(pointer_to_path("/image/tags/0"), "values.image.tags[0]");
        assert_eq!(pointer_to_path("/a~1b"), "values[\"a/b\"]");
    }

    fn set(text: &str) -> Vec<(Vec<Step>, Value)> {
        parse_set(text, true).unwrap()
    }

    #[test]
    fn set_values_are_yaml_scalars_or_strings() {
        let pairs = set("replicas=2,debug=true,name=web,empty=,gone=null,color=#fff,list=[1]");
        let values: Vec<Value> = pairs.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            vec![
                json!(2),
                json!(true),
                json!("web"),
                json!(""),
                Value::Null,
                json!("#fff"),
                json!("[1]"),
            ]
        );
        let strings = parse_set("replicas=2,debug=true", false).unwrap();
        assert_eq!(strings[0].1, json!("2"));
        assert_eq!(strings[1].1, json!("true"));
    }

    #[test]
    fn set_paths_have_dots_indices_and_escapes() {
        let pairs = set(r"a.b[1].c=x,anno.prometheus\.io/scrape=true,msg=a\,b");
        assert_eq!(
            pairs[0].0,
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(1),
                Step::Key("c".into()),
            ]
        );
        assert_eq!(path_text(&pairs[0].0), "a.b[1].c");
        assert_eq!(
            pairs[1].0,
            vec![
                Step::Key("anno".into()),
                Step::Key("prometheus.io/scrape".into())
            ]
        );
        assert_eq!(path_text(&pairs[1].0), "anno[\"prometheus.io/scrape\"]");
        assert_eq!(pairs[2].1, json!("a,b"));
        for bad in [
            "novalue", "=1", "a..b=1", "a.=1", "[0]=1", "a[x]=1", "a[0]b=1",
        ] {
            assert!(parse_set(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_edits_one_path_of_the_merged_values() {
        let mut v = json!({"servers": [{"host": "a", "port": 1}], "flat": 1});
        for (path, value) in set("servers[0].port=80,servers[1].host=b,flat.x=1,new.deep=y") {
            apply(&mut v, Edit::Set(&path, &value)).unwrap();
        }
        assert_eq!(
            v,
            json!({
                "servers": [{"host": "a", "port": 80}, {"host": "b"}],
                "flat": {"x": 1},
                "new": {"deep": "y"},
            })
        );
        let (path, value) = set("servers=null").remove(0);
        apply(&mut v, Edit::Set(&path, &value)).unwrap();
        assert!(v.get("servers").is_none());
        let (path, value) = set("flat.x[3]=1").remove(0);
        let e = apply(&mut v, Edit::Set(&path, &value)).unwrap_err();
        assert!(e.contains("flat.x is a number, not a list"), "{e}");
        let (path, value) = set("list[2]=1").remove(0);
        let e = apply(&mut v, Edit::Set(&path, &value)).unwrap_err();
        assert!(
            e.contains("index 2 is past the end of list, which has 0 items (index 0 appends)"),
            "{e}"
        );
    }

    #[test]
    fn platform_key_goes_to_the_platform_values() {
        let mut o = Overrides::default();
        o.add_set("--set", "platform.clusterDomain=x.local,replicas=2", true)
            .unwrap();
        o.add_file("ha.yaml", json!({"platform": {"a": 1}, "b": 2}))
            .unwrap();
        assert_eq!(o.platform.len(), 2);
        assert_eq!(o.release.len(), 2);
        assert_eq!(o.platform[0].flag, "--set platform.clusterDomain=x.local");
        assert_eq!(o.release[0].flag, "--set replicas=2");
        assert_eq!(o.release[1].change, Change::Merge(json!({"b": 2})));
        assert!(o.add_set("--set", "platform=1", true).is_err());
        assert!(o.add_file("x.yaml", json!([1])).is_err());
    }

    fn layer<'a>(name: &str, value: &'a Value) -> Layer<'a> {
        Layer {
            source: Source::CommandLine { flag: name.into() },
            edit: Edit::Merge(value),
        }
    }

    fn origins_of(layers: &[Layer<'_>]) -> Vec<(String, String)> {
        let mut merged = Value::Object(Map::new());
        for l in layers {
            apply(&mut merged, l.edit).unwrap();
        }
        origins(layers, &merged)
            .into_iter()
            .map(|o| (o.path, o.source.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn origins_name_the_last_layer_that_set_each_leaf() {
        let defaults = json!({"image": {"repo": "a", "tag": "1"}, "list": [1, 2], "keep": {}});
        let file = json!({"image": {"tag": "2"}, "list": [3]});
        let reset = json!({"image": null});
        let again = json!({"image": {"repo": "b"}});
        let layers = [
            layer("defaults", &defaults),
            layer("file", &file),
            layer("reset", &reset),
            layer("again", &again),
        ];
        assert_eq!(
            origins_of(&layers),
            // In the merged values' order, which deleting and adding
            // `image` changed.
            pairs(&[
                ("keep", "defaults"),
                ("list[0]", "file"),
                ("image.repo", "again"),
            ])
        );
    }

    #[test]
    fn origins_follow_set_into_lists_and_over_scalars() {
        let defaults = json!({"servers": [{"host": "a", "port": 1}], "x": 5});
        let longer = json!({"servers": [{"host": "c"}, {"host": "d"}]});
        let sets = set("servers[0].port=80,x.y=1");
        let mut layers = vec![layer("defaults", &defaults), layer("longer", &longer)];
        for (path, value) in &sets {
            layers.push(Layer {
                source: Source::CommandLine {
                    flag: format!("--set {}", path_text(path)),
                },
                edit: Edit::Set(path, value),
            });
        }
        assert_eq!(
            origins_of(&layers),
            pairs(&[
                ("servers[0].host", "longer"),
                ("servers[0].port", "--set servers[0].port"),
                ("servers[1].host", "longer"),
                ("x.y", "--set x.y"),
            ])
        );
    }
}
