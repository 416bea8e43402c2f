//! The fast writer and reader against the YAML library, on hand-picked and
//! generated documents: same bytes out, same values in.

use serde_json::{Map, Value, json};

use super::{emit, scalar, yaml11};

/// Small deterministic generator (xorshift64*), so failures reproduce.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Strings that need care somewhere: indicators, words YAML reads as other
/// types, spaces and breaks at the edges, escapes, non-ASCII.
pub(super) const TRICKY: &[&str] = &[
    "",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "NULL",
    "true",
    "True",
    "FALSE",
    "1e3",
    "1E3",
    "1.",
    ".5",
    "+1",
    "-1",
    "-0",
    "+0",
    "0",
    "00",
    "012",
    "-012",
    "+012",
    "0x1F",
    "0x",
    "0X1F",
    "-0x1F",
    "+0x1F",
    "0o17",
    "0b101",
    "0b",
    "1_000",
    "1.2.3",
    "10.0.0.1",
    "2024-01-01",
    "1Gi",
    "500m",
    "12:30",
    ".inf",
    "-.inf",
    "+.inf",
    ".NaN",
    "nan",
    "inf",
    "infinity",
    "-",
    "--",
    "---",
    "---x",
    "...",
    "- a",
    "-a",
    ":",
    ": x",
    ":x",
    "a:",
    "a: b",
    "a:b",
    "#x",
    "x #y",
    "x#y",
    "@a",
    "`a",
    "'a",
    "a'",
    "\"a",
    "a\"b",
    "%a",
    "!a",
    "&a",
    "*a",
    "|",
    ">",
    "?",
    "? a",
    "?a",
    "[",
    "]",
    "{",
    "}",
    ",",
    "a,b",
    "[a]",
    "{a: 1}",
    " leading",
    "trailing ",
    " ",
    "  ",
    "tab\tinside",
    "\t",
    "a\\b",
    "\\",
    "unicodé",
    "日本語",
    "emoji 😀",
    "\u{7}",
    "\u{0}",
    "\u{1b}",
    "\u{7f}",
    "\u{80}",
    "\u{85}",
    "\u{a0}",
    "\u{a0}x",
    "\u{feff}x",
    "\u{fffe}",
    "\u{2028}",
    "a\u{2029}b",
    "\r",
    "a\rb",
    "a\r\nb",
    "line\n",
    "line\nline",
    "line\nline\n",
    "line\n\n",
    "\n",
    "\n\n",
    "\nlead",
    "  indented\nfirst",
    "a\n  b\n",
    "trailing space \nx",
    "x\n ",
    "x\n\ty",
    "a\n\nb",
    "a\n \nb",
    "a\u{85}b",
    "very long ",
    "x: |\n  y",
    "# c\nd",
    "---\nx",
    "...\nx",
    "k: v\n- i\n",
    "\"q\"\n'r'\n",
    "Yes",
    "YES",
    "Y",
    "N",
    "No",
    "NO",
    "On",
    "ON",
    "Off",
    "OFF",
    "0755",
    "089",
    "0B1",
    "0O17",
    "190:20:30",
    "1:20.5",
    "1_000.5",
    "6.8523015e+5",
    "<<",
    "=",
    "2001-12-14 21:59:43.10 -5",
    "2001-12-14\t1",
    "2001-12-14: x",
];

/// What the library writes, YAML 1.2 quoting only.
fn library(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap()
}

/// What the library path of the writer writes: the library's bytes with
/// the YAML 1.1 quoting added.
fn library_path(value: &Value) -> String {
    super::library_string(value)
}

fn fast(value: &Value) -> Option<String> {
    let mut out = String::new();
    emit::document(&mut out, value).ok().map(|()| out)
}

/// Whether the writer may leave a document to the library: a key that spans
/// lines or is long, a string with U+2028 or U+2029, a scalar at the top.
fn may_decline(value: &Value) -> bool {
    let odd_key =
        |k: &str| k.len() > 128 || k.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']);
    match value {
        Value::Object(m) => m.iter().any(|(k, v)| odd_key(k) || may_decline(v)),
        Value::Array(a) => a.iter().any(may_decline),
        Value::String(s) => s.contains(['\u{2028}', '\u{2029}']),
        _ => false,
    }
}

/// Whether a string of `value`, or a key, satisfies `f`.
fn any_string(value: &Value, f: &dyn Fn(&str) -> bool) -> bool {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().any(|v| any_string(v, f)),
        Value::Object(map) => map.iter().any(|(k, v)| f(k) || any_string(v, f)),
        _ => false,
    }
}

/// The writer gives the library path's bytes, or declines; the result
/// reads back as the value.
fn check_emit(value: &Value) -> bool {
    let expected = library_path(value);
    let back: Value = serde_yaml_ng::from_str(&expected).unwrap();
    assert_eq!(&back, value, "text {expected:?}");
    if !any_string(value, &yaml11::plain_is_not_a_string) {
        // Nothing for the YAML 1.1 quoting to do: the library's own bytes.
        assert_eq!(expected, library(value), "value {value:?}");
    }
    let Some(got) = fast(value) else {
        assert!(may_decline(value), "declined {value:?}");
        return false;
    };
    assert_eq!(got, expected, "value {value:?}");
    let back: Value = serde_yaml_ng::from_str(&got).unwrap();
    assert_eq!(&back, value, "text {got:?}");
    true
}

#[test]
fn tricky_strings_as_values_and_keys() {
    let mut declined = 0;
    for s in TRICKY {
        for value in [
            json!({ "k": s }),
            json!({ *s: "v" }),
            json!({ *s: { *s: [s, s] } }),
            json!([s, { "k": s, "l": [s] }]),
            json!({ "a": { "b": [[s], { *s: s }] } }),
        ] {
            if !check_emit(&value) {
                declined += 1;
            }
        }
    }
    assert!(declined < TRICKY.len(), "{declined}");
}

#[test]
fn collections_numbers_and_documents() {
    for value in [
        json!({}),
        json!([]),
        json!({"a": {}, "b": [], "c": [{}, []], "d": null}),
        json!({"n": [0, -1, 1, u64::MAX, i64::MIN, 1.5, -0.0, 1e300, 1e-7, 0.1, 100.0]}),
        json!({"b": [true, false, null]}),
        json!([[1, [2, [3]]], [[]], [{}]]),
        json!({"keep": "x\n\n"}),
        json!({"keep": "x\n\n", "after": "y"}),
        json!({"keep": "x\n\n", "clip": "y\n"}),
        json!({"list": ["a\n\n"]}),
        json!({"m": {"deep": {"deeper": "v\nw\n"}}, "after": 1}),
    ] {
        assert!(check_emit(&value), "{value:?}");
    }
    // Scalars at the top go to the library.
    assert!(fast(&json!("x")).is_none());
    assert_eq!(super::to_string(&json!("x")), "x\n");
    let long_key = "k".repeat(129);
    assert!(fast(&json!({ long_key.clone(): 1 })).is_none());
    assert!(check_emit(&json!({ "k".repeat(128): 1 })));
    assert_eq!(
        super::to_string(&json!({ long_key.clone(): 1 })),
        library(&json!({ long_key: 1 }))
    );
    let long_number = "1_".repeat(70);
    assert_eq!(
        super::to_string(&json!({ long_number.clone(): 1 })),
        format!("? '{long_number}'\n: 1\n")
    );
}

const FRAGMENTS: [&str; 21] = [
    "a", "b", "z", " ", "\n", ":", "#", "-", "'", "\"", "0", "1", ".", "é", "\t", "x y", "?", ",",
    "[", "{", "~",
];

fn random_string(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(4) {
        if rng.below(3) == 0 {
            s.push_str(rng.pick(TRICKY));
        } else {
            s.push_str(rng.pick(&FRAGMENTS));
        }
    }
    s
}

pub(super) fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kind = if depth == 0 {
        4 + rng.below(5)
    } else {
        rng.below(9)
    };
    match kind {
        0 | 1 => {
            let mut map = Map::new();
            for _ in 0..rng.below(5) {
                map.insert(random_string(rng), random_value(rng, depth - 1));
            }
            Value::Object(map)
        }
        2 | 3 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        4 | 5 => Value::String(random_string(rng)),
        6 => json!(rng.next() as i64 >> rng.below(64)),
        7 => json!((rng.next() % 100_000) as f64 / 64.0),
        _ => [json!(null), json!(true), json!(false)][rng.below(3)].clone(),
    }
}

#[test]
fn generated_documents_match_the_library() {
    let mut rng = Rng::new(7);
    let mut written = 0;
    for _ in 0..20_000 {
        let mut map = Map::new();
        for _ in 0..1 + rng.below(4) {
            map.insert(random_string(&mut rng), random_value(&mut rng, 4));
        }
        if check_emit(&Value::Object(map)) {
            written += 1;
        }
    }
    assert!(written > 10_000, "{written}");
}

/// What the library makes of `s` written plain as a map value, if it reads
/// it as one plain scalar with exactly that text.
fn library_plain(s: &str) -> Option<Result<Value, String>> {
    let tagged: Value = serde_yaml_ng::from_str(&format!("k: !!str {s}\n")).ok()?;
    if tagged["k"] != json!(s) {
        return None;
    }
    let doc = format!("k: {s}\n");
    Some(
        super::parse_value(&doc, 0)
            .map(|v| v["k"].clone())
            .map_err(|e| e.message),
    )
}

#[test]
fn plain_scalars_resolve_like_the_library() {
    let mut rng = Rng::new(11);
    let alphabet = [
        "0", "1", "7", "9", "+", "-", ".", "e", "E", "x", "o", "b", "a", "f", "F", "_", "i", "n",
        "N", "I", "t", "r", "u", "l", "~", "0x", "0o", "0b", ".inf", ".nan",
    ];
    let mut cases: Vec<String> = TRICKY.iter().map(|s| s.to_string()).collect();
    cases.extend(
        [
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "340282366920938463463374607431768211455",
            "340282366920938463463374607431768211456",
            "1e400",
            "-1e400",
            "123456789012345678901234567890123456789012345",
        ]
        .map(String::from),
    );
    for _ in 0..20_000 {
        let len = 1 + rng.below(6);
        cases.push((0..len).map(|_| rng.pick(&alphabet)).collect());
    }
    let mut compared = 0;
    for s in &cases {
        let Some(expected) = library_plain(s) else {
            continue;
        };
        compared += 1;
        match (expected, scalar::value(s)) {
            (Ok(e), Some(got)) => assert_eq!(got, e, "{s:?}"),
            (Err(_), None) => {}
            (e, got) => panic!("{s:?}: library {e:?}, here {got:?}"),
        }
        let quoted = library(&json!(s)).starts_with(['\'', '"']);
        let expects_quotes = scalar::plain_is_not_a_string(s);
        if expects_quotes {
            assert!(quoted, "{s:?} should be quoted");
        }
    }
    assert!(compared > 10_000, "{compared}");
}

/// The reader either declines or gives what the library gives; it never
/// takes a document the library refuses. Returns whether it took it.
fn check_read(text: &str) -> bool {
    let Ok(got) = super::read::document(text) else {
        return false;
    };
    match super::parse_value_slow(text, 0) {
        Ok(expected) => assert_eq!(got, expected, "text {text:?}"),
        Err(e) => panic!("the reader took {text:?}, the library says {e}"),
    }
    true
}

/// Documents in the shapes templates render, and the edges of each shape.
const DOCUMENTS: &[&str] = &[
    "a: 1\n",
    "a: 1",
    "a: 1\nb: two\nc: 'three'\nd: \"four\"\n",
    "# comment\na: 1 # trailing\n\n# more\nb:   x y   \n",
    "a:\n  b:\n    c: d\n  e: f\ng: h\n",
    "list:\n- a\n- b\nnext: 1\n",
    "list:\n  - a\n  - b\nnext: 1\n",
    "list:\n- name: a\n  value: 1\n- name: b\n  value: [] \nx: {}\n",
    "list:\n  - - a\n    - b\n  - - c\n",
    "list:\n-\n  a: 1\n-\n- x\n",
    "list:\n- \n- # c\n  a: 1\n",
    "k:\n",
    "k:\nj:\n",
    "k: # nothing\nj: ~\n",
    "'quoted key': 1\n\"dq\\tkey\": 2\n",
    "a: \"esc \\\" \\\\ \\n \\t \\x41 \\u00e9 \\U0001F600 \\/ \\0 \\e \\N \\_ \\L \\P\"\n",
    "a: 'it''s'\n",
    "a: ''\nb: \"\"\n",
    "a: \"unterminated\n",
    "a: \"bad \\q escape\"\n",
    "a: \"\\uD800\"\n",
    "a: |\n  line 1\n  line 2\nb: 1\n",
    "a: |-\n  x\n\n\nb: 1\n",
    "a: |+\n  x\n\n\nb: 1\n",
    "a: |+\n  x\n\n",
    "a: |\n  x\n  ",
    "a: |\n  x",
    "a: |\n\n  x\n",
    "a: |\n  \n  x\n",
    "a: |\n     \n  x\n",
    "a: |\n  x\n     \n  y\n",
    "a: |\n  x\n   \n",
    "a: |\n    indented\n  less\n",
    "a: |2\n    more\n  base\n",
    "a: |2-\n     x\n",
    "a: |-2\n   x\n",
    "a: |0\n  x\n",
    "a: |\nb: 1\n",
    "a: |+\nb: 1\n",
    "a: | # comment\n  x\n",
    "a: |#x\n  x\n",
    "a: |\n  # not a comment\n  x\n# a comment\nb: 1\n",
    "a: |\n\tx\n",
    "a: |\n  \tx\n",
    "a: |\n  x\n \tb\n",
    "- a\n",
    "a:\n  - |\n    x\n  - |-\n    y\n",
    "a:\n- |\n  x\n",
    "a:\n- b: |\n    x\n  c: 1\n",
    "a: >\n  folded\n",
    "a: &anchor 1\nb: *anchor\n",
    "a: !!str 1\n",
    "? a\n: b\n",
    "a: b: c\n",
    "a: b:\n",
    "a: b\n  c\n",
    "a: b\n c: d\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n    b: 1\n  c: 2\n",
    "a: 1\na: 2\n",
    "a:\n  b: 1\n  b: 2\n",
    "1: a\ntrue: b\nnull: c\n1.5: d\n0x10: e\n",
    "<<: {}\n",
    "a: [1, 2]\n",
    "a: {b: 1}\n",
    "a: []x\n",
    "a: 'x' y\n",
    "a: \"x\"#y\n",
    "a:\tb\n",
    "\ta: b\n",
    "a: b\tc\n",
    "a: x #c\n",
    "a: x#c\n",
    "a: -1\nb: - x\n",
    "a: -x\nb: ?x\nc: :x\n",
    "a: ? x\n",
    "a: : x\n",
    "a: @x\n",
    "a: %x\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: 1\n...\n",
    "a: 1\n---\nb: 2\n",
    "---x: 1\n",
    "  a: 1\n  b: 2\n",
    "  a: 1\nb: 2\n",
    "a: 1\n  # indented comment\nb: 2\n",
    "a:\n  # comment\n  b: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a: \u{85}\n",
    "a: \u{feff}x\n",
    "a: x\u{7}\n",
    "a: é日本\n",
    "key with spaces: value with spaces\n",
    "a b : c\n",
    "a:b: c\n",
    "a: b:c\n",
    "a: 12:30\n",
    "a: 0644\nb: 1e3\nc: .inf\nd: 0x1F\ne: 99999999999999999999999999\nf: 1.5\ng: -0\n",
    "a: 123456789012345678901234567890123456789012\n",
    "a: null\nb: Null\nc: ~\nd: true\ne: False\nf: yes\n",
    "\"a\": 1\n'b': 2\n\"c\" : 3\n",
    "a: 'multi\n  line'\n",
    "a: \"multi\n  line\"\n",
    "a: plain\n  continued\n",
    "a:\n  plain on its own line\n",
    "a: x\n- y\n",
    "- a: 1\n",
    "list:\n- a\n  - b\n",
    "list:\n- a\n - b\n",
    "list:\n  - a\n - b\n",
    "list:\n  - a\n  b: 1\n",
    "list:\n- a\nb:\n  - c\n",
    "a:\n-\n-\n",
    "a: []\nb: {}\nc: [ ]\n",
    "",
    "# only a comment\n",
    "a",
    "a\nb: 1\n",
    "[a, b]\n",
];

#[test]
fn reader_agrees_with_the_library_on_documents() {
    let mut taken = 0;
    for text in DOCUMENTS {
        if check_read(text) {
            taken += 1;
        }
    }
    assert!(taken >= 50, "{taken}");
}

/// Documents the library writes for generated values: the reader takes
/// most of them (not keys with line breaks, which become `? |` keys) and
/// reads them as the library does.
#[test]
fn reader_agrees_with_the_library_on_generated_documents() {
    let mut rng = Rng::new(3);
    let mut taken = 0;
    let total = 20_000;
    for _ in 0..total {
        let mut map = Map::new();
        for _ in 0..1 + rng.below(4) {
            map.insert(random_string(&mut rng), random_value(&mut rng, 4));
        }
        let text = library(&Value::Object(map));
        if check_read(&text) {
            taken += 1;
        }
    }
    assert!(taken > total / 3, "{taken}");
}

/// Broken and odd variants of valid documents: insertions, deletions and
/// swaps of the characters YAML cares about. The reader must decline every
/// one the library refuses.
#[test]
fn reader_never_takes_what_the_library_refuses() {
    let mut rng = Rng::new(5);
    let pieces = [
        " ", "  ", "\n", "\n  ", ":", ": ", "-", "- ", "#", " #", "|", "|-", "|+", "|2", "\"", "'",
        "\\", "\t", "a", "0", "[", "]", "{", "}", ",", "?", "&", "*", "!", ">", "\n- ", "\n  - ",
        "\n    ", "é",
    ];
    let mut seeds: Vec<String> = DOCUMENTS.iter().map(|s| s.to_string()).collect();
    for _ in 0..200 {
        let mut map = Map::new();
        for _ in 0..1 + rng.below(3) {
            map.insert(random_string(&mut rng), random_value(&mut rng, 3));
        }
        seeds.push(library(&Value::Object(map)));
    }
    let mut taken = 0;
    for round in 0..60_000 {
        let mut text = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(3) {
            let mut at = rng.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match rng.below(3) {
                0 => text.insert_str(at, rng.pick(&pieces)),
                1 => {
                    let mut end = (at + 1 + rng.below(3)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
                _ => {
                    let mut end = (at + 1).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, rng.pick(&pieces));
                }
            }
        }
        if check_read(&text) {
            taken += 1;
        }
    }
    assert!(taken > 10_000, "{taken}");
}

/// Writes `value` as templates do, in one of many styles: indentation of 1
/// to 4 spaces, sequences at their key's column or indented, compact or
/// not, scalars plain, quoted or as literal blocks, comments and blank
/// lines between entries.
struct Styler<'r> {
    rng: &'r mut Rng,
    out: String,
    /// The last thing written is a literal block keeping its line breaks,
    /// which an empty line would join.
    kept: bool,
}

impl Styler<'_> {
    /// Maybe an empty line or a comment, indented no further than the
    /// collection (deeper, it would be part of a literal block before it).
    fn comment_or_blank(&mut self, indent: usize) {
        match self.rng.below(12) {
            0 if !self.kept => self.out.push('\n'),
            1 => {
                self.out.push_str(&" ".repeat(self.rng.below(indent + 1)));
                self.out.push_str("# note: - [x] |\n");
            }
            _ => {}
        }
        self.kept = false;
    }

    fn step(&mut self) -> usize {
        self.rng.pick(&[1, 2, 2, 2, 3, 4])
    }

    /// A map whose first key goes where the cursor is (after `- ` or at
    /// the start of a line already indented).
    fn map(&mut self, map: &Map<String, Value>, indent: usize) {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 {
                self.comment_or_blank(indent);
                self.out.push_str(&" ".repeat(indent));
            }
            self.key(key);
            self.out.push(':');
            self.value(value, indent, true);
        }
    }

    fn seq(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.comment_or_blank(indent);
                self.out.push_str(&" ".repeat(indent));
            }
            self.out.push('-');
            self.value(item, indent, false);
        }
    }

    /// After `key:` or `-`: the value and the line break(s) ending it.
    fn value(&mut self, value: &Value, indent: usize, in_map: bool) {
        match value {
            Value::Object(m) if !m.is_empty() => {
                if !in_map && self.rng.below(2) == 0 {
                    // Compact: `- key: value`.
                    let spaces = 1 + self.rng.below(2);
                    self.out.push_str(&" ".repeat(spaces));
                    self.map(m, indent + 1 + spaces);
                } else {
                    self.out.push('\n');
                    let child = indent + self.step();
                    self.out.push_str(&" ".repeat(child));
                    self.map(m, child);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                if !in_map && self.rng.below(2) == 0 {
                    self.out.push(' ');
                    self.seq(a, indent + 2);
                } else {
                    self.out.push('\n');
                    let child = if in_map && self.rng.below(2) == 0 {
                        indent
                    } else {
                        indent + self.step()
                    };
                    self.out.push_str(&" ".repeat(child));
                    self.seq(a, child);
                }
            }
            Value::Object(_) => self.out.push_str(" {}\n"),
            Value::Array(_) => self.out.push_str(" []\n"),
            Value::String(s) if s.contains('\n') && self.literal_fits(s) => self.literal(s, indent),
            _ => {
                self.out.push(' ');
                self.scalar(value);
                if self.rng.below(8) == 0 {
                    self.out.push_str("  # why");
                }
                self.out.push('\n');
            }
        }
    }

    fn literal_fits(&self, s: &str) -> bool {
        let body = s.trim_end_matches('\n');
        !body.is_empty()
            && !body.starts_with([' ', '\n'])
            && body
                .split('\n')
                .all(|l| !l.ends_with(' ') && !l.contains(['\t', '\r']) && !l.starts_with(' '))
            && body.chars().all(|c| c == '\n' || (' '..='~').contains(&c))
    }

    fn literal(&mut self, s: &str, indent: usize) {
        let body = s.trim_end_matches('\n');
        let breaks = s.len() - body.len();
        self.out.push_str(match breaks {
            0 => " |-",
            1 => " |",
            _ => " |+",
        });
        self.kept = breaks > 1;
        self.out.push('\n');
        let content = indent + self.step();
        for line in body.split('\n') {
            if !line.is_empty() {
                self.out.push_str(&" ".repeat(content));
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
        for _ in 1..breaks {
            // Kept breaks: empty lines, maybe with a few spaces.
            self.out.push_str(&" ".repeat(self.rng.below(content + 1)));
            self.out.push('\n');
        }
    }

    fn key(&mut self, key: &str) {
        let plain = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
            && !key.starts_with(['-', '.'])
            && !scalar::plain_is_not_a_string(key);
        if plain && self.rng.below(4) != 0 {
            self.out.push_str(key);
        } else {
            double_quoted(&mut self.out, key);
        }
    }

    fn scalar(&mut self, value: &Value) {
        let Value::String(s) = value else {
            self.out.push_str(&value.to_string());
            return;
        };
        let plain = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:@=+".contains(&b))
            && !s.contains(": ")
            && !s.ends_with(':')
            && !s.starts_with(['-', ':', '@'])
            && !scalar::plain_is_not_a_string(s);
        match self.rng.below(3) {
            0 if plain => self.out.push_str(s),
            1 if s
                .chars()
                .all(|c| (' '..='~').contains(&c) || c.is_alphanumeric()) =>
            {
                self.out.push('\'');
                self.out.push_str(&s.replace('\'', "''"));
                self.out.push('\'');
            }
            _ => double_quoted(&mut self.out, s),
        }
    }
}

/// `s` double-quoted, with escapes for everything but printable ASCII and
/// letters.
fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if c.is_alphanumeric() => out.push(c),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
}

/// Documents written the many ways templates write them: the reader takes
/// nearly all and reads each as the library does.
#[test]
fn reader_agrees_with_the_library_on_template_styles() {
    let mut rng = Rng::new(13);
    let mut taken = 0;
    let total = 20_000;
    for _ in 0..total {
        let mut map = Map::new();
        for _ in 0..1 + rng.below(4) {
            map.insert(random_string(&mut rng), random_value(&mut rng, 4));
        }
        let mut seed = Rng::new(rng.next());
        let mut styler = Styler {
            rng: &mut seed,
            out: String::new(),
            kept: false,
        };
        styler.map(&map, 0);
        let text = styler.out;
        let value = Value::Object(map);
        assert_eq!(
            super::parse_value_slow(&text, 0).as_ref().ok(),
            Some(&value),
            "the test wrote {text:?} badly"
        );
        if check_read(&text) {
            taken += 1;
        }
    }
    assert!(taken > total * 9 / 10, "{taken}");
}
