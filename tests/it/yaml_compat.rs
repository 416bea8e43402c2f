//! What `distro render` writes means the same to every YAML reader that
//! matters: the bytes of the default distribution are pinned in a golden
//! file, and kubectl's YAML 1.1 reader (the Go program in `hack/yaml11`,
//! built and cached by `hack/yaml11.sh`; Go is required) reads what
//! distro writes as the YAML 1.2 library does.
//!
//! To regenerate the golden file after a deliberate change of the output:
//!
//! ```sh
//! DISTRO_UPDATE_GOLDEN=1 cargo test --test it golden
//! git diff tests/golden/
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::support::{default_distribution, distro, outcome, project_root};

/// Set to rewrite golden files from the current output instead of comparing.
const UPDATE_GOLDEN: &str = "DISTRO_UPDATE_GOLDEN";

fn golden_path(name: &str) -> PathBuf {
    project_root().join("tests/golden").join(name)
}

/// `distro render` of the default distribution: the YAML stream on stdout.
fn render_default_distribution() -> String {
    let dir = default_distribution();
    let (code, stdout, stderr) = outcome(&distro(dir.path(), &["render"]));
    assert_eq!(code, 0, "distro render failed:\n{stderr}");
    stdout
}

/// Where two texts first differ, as `line N` with both lines, or `None`
/// when they are equal.
fn first_difference(expected: &str, got: &str) -> Option<String> {
    if expected == got {
        return None;
    }
    let mut expected_lines = expected.split_inclusive('\n');
    let mut got_lines = got.split_inclusive('\n');
    let mut number = 1;
    loop {
        match (expected_lines.next(), got_lines.next()) {
            (Some(e), Some(g)) if e == g => number += 1,
            (e, g) => {
                return Some(format!(
                    "first difference at line {number}:\n  golden: {e:?}\n  now:    {g:?}"
                ));
            }
        }
    }
}

/// Compares `got` with the golden file `name`, or rewrites the file when
/// [`UPDATE_GOLDEN`] is set.
fn assert_golden(name: &str, got: &str) {
    let path = golden_path(name);
    if std::env::var_os(UPDATE_GOLDEN).is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with {UPDATE_GOLDEN}=1 to create it)",
            path.display()
        )
    });
    if let Some(diff) = first_difference(&expected, got) {
        panic!(
            "the output differs from {}\n{diff}\n\
             If the change is intended, rerun with {UPDATE_GOLDEN}=1 and review `git diff`.",
            display(&path)
        );
    }
}

fn display(path: &Path) -> String {
    path.strip_prefix(project_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn golden_default_distribution_render() {
    assert_golden("default-distribution.yaml", &render_default_distribution());
}

// ---------------------------------------------------------------------------
// What kubectl reads: the YAML 1.1 checker in hack/yaml11.

/// The checker's binary, built (once per test run, and cached across runs
/// by `hack/yaml11.sh`) on first use. Without Go the test fails and says
/// why: skipping would hide exactly the bugs this is here for.
fn yaml11_checker() -> &'static Path {
    static CHECKER: OnceLock<PathBuf> = OnceLock::new();
    CHECKER.get_or_init(|| {
        let script = project_root().join("hack/yaml11.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("build")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the YAML 1.1 checker (hack/yaml11, kubectl's YAML reader) could not be built; \
             these tests need Go on PATH and the Go module proxy:\n{stderr}"
        );
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        PathBuf::from(path)
    })
}

/// Every document of `stream` as the YAML 1.1 reader sees it.
fn read_with_yaml11(stream: &str) -> Vec<Value> {
    let mut child = Command::new(yaml11_checker())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the YAML 1.1 checker runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = stream.to_string();
    // Write from another thread: the checker may fill its stdout before it
    // has read all of stdin.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the YAML 1.1 checker ends");
    writer
        .join()
        .expect("the writer thread ends")
        .expect("the YAML 1.1 checker reads its input");
    assert!(
        out.status.success(),
        "the YAML 1.1 reader refused the stream: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("the checker prints UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("the checker prints JSON lines"))
        .collect()
}

/// Small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Strings a YAML 1.1 reader resolves to something else when plain, and
/// their near misses.
const YAML11_TOKENS: &[&str] = &[
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
    "0B101",
    "0755",
    "089",
    "0o17",
    "0O17",
    "0x1F",
    "0X1F",
    "1:20",
    "190:20:30",
    "1_000.5",
    ".5",
    "1e3",
    "1E3",
    ".inf",
    "-.inf",
    "+.inf",
    ".Inf",
    ".NaN",
    ".nan",
    "6.8523015e+5",
    "685.230_15e+03",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "2001-1-4",
    "<<",
    "=",
    "+1",
    "-1",
    "+0",
    "-0",
    "00",
    "1.",
    "1.2.3",
    "10.0.0.1",
    "yEs",
    "nO",
    "oN",
    "Nil",
    "NaN",
    "inf",
    "0x",
    "0b",
    "1_",
    "_1",
    "._",
    "-",
    "--",
    "---",
    "...",
    "?",
    ":",
    "- x",
    "? x",
    ": x",
    "#",
    "a #b",
    "a: b",
    "'",
    "\"",
    "'q'",
    "\"q\"",
    "@x",
    "`x",
    "%x",
    "!x",
    "&x",
    "*x",
    "|",
    ">",
    "[x]",
    "{x: 1}",
    ",",
    " x",
    "x ",
    "\t",
    "a\tb",
    "a\nb",
    "a\n",
    "\n",
    "é",
    "日本",
    "😀",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "\u{7}",
    "\u{0}",
    "\r\n",
];

/// Pieces that random strings are made of: what numbers, booleans and
/// timestamps are spelt with, indicators, quotes, whitespace, non-ASCII.
const PIECES: &[&str] = &[
    "0", "1", "5", "9", "_", ".", ":", "-", "+", "e", "E", "x", "o", "b", "y", "Y", "n", "N", "o",
    "O", "t", "f", "a", " ", "\t", "#", ": ", "'", "\"", "é", "😀", "inf", "nan", "0x", "0o", "0b",
    "00", "2001-", "12-", "14",
];

/// Every token above, in case variants, and generated mixes of the
/// pieces: `count` distinct strings in all.
fn yaml11_strings(count: usize) -> Vec<String> {
    let mut rng = Rng::new(11);
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut add = |s: String, out: &mut Vec<String>| {
        if seen.insert(s.clone()) {
            out.push(s);
        }
    };
    for token in YAML11_TOKENS {
        add(token.to_string(), &mut out);
        add(token.to_uppercase(), &mut out);
        let mut chars = token.chars();
        if let Some(first) = chars.next() {
            add(first.to_uppercase().chain(chars).collect(), &mut out);
        }
    }
    // Long ones: keys over 128 bytes are written as `? key`, numbers over
    // 309 digits are no longer finite floats.
    for n in [100, 200, 400, 1500] {
        add("1".repeat(n), &mut out);
        add("1_".repeat(n / 2), &mut out);
        add(format!("0x{}", "f".repeat(n)), &mut out);
        add(format!("{}.5", "9".repeat(n)), &mut out);
        add("y".repeat(n), &mut out);
    }
    while out.len() < count {
        let s: String = match rng.below(4) {
            // A token with something around it.
            0 => format!(
                "{}{}{}",
                rng.pick(&["", "", "+", "-", "0", " ", "_"]),
                rng.pick(YAML11_TOKENS),
                rng.pick(&["", "", "_", "0", ".", ":00", " ", "e5"])
            ),
            _ => (0..1 + rng.below(6)).map(|_| rng.pick(PIECES)).collect(),
        };
        add(s, &mut out);
    }
    out
}

/// A ConfigMap whose `data` maps `key(i)` to `value(i)` for each string.
fn config_map(name: &str, data: Map<String, Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": data,
    })
}

/// One of distro's ways of writing a value as YAML.
type Writer = fn(&Value) -> String;

/// The strings, written by each of distro's writers as ConfigMap values
/// and keys, come back from kubectl's reader as the same strings.
#[test]
fn yaml11_reader_reads_every_written_string_back() {
    let strings = yaml11_strings(20_000);
    let as_values: Map<String, Value> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("k{i:05}"), Value::String(s.clone())))
        .collect();
    let as_keys: Map<String, Value> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), Value::String(format!("v{i:05}"))))
        .collect();
    let documents = [config_map("values", as_values), config_map("keys", as_keys)];

    // The writer render uses for template output and `to_yaml`, and the
    // library path it falls back to.
    let writers: [(&str, Writer); 2] = [
        ("distro::yaml::append", |v| {
            let mut out = String::new();
            distro::yaml::append(&mut out, v);
            out
        }),
        ("the library fallback", |v| {
            distro::yaml::to_string_serialize(v).expect("a JSON value can be written")
        }),
    ];
    for (writer, write) in writers {
        let mut stream = String::new();
        for doc in &documents {
            stream.push_str("---\n");
            stream.push_str(&write(doc));
        }
        let read = read_with_yaml11(&stream);
        assert_eq!(read.len(), documents.len(), "{writer}: documents");
        let mut wrong = Vec::new();
        for (doc, back) in documents.iter().zip(&read) {
            let (Value::Object(sent), Value::Object(got)) = (&doc["data"], &back["data"]) else {
                panic!("{writer}: no data map in {back}");
            };
            for (key, value) in sent {
                match got.get(key) {
                    Some(v) if v == value => {}
                    other => wrong.push(format!("{key:?}: {value:?} came back as {other:?}")),
                }
            }
            if got.len() != sent.len() {
                wrong.push(format!("{} keys sent, {} came back", sent.len(), got.len()));
            }
        }
        assert!(
            wrong.is_empty(),
            "{writer}: {} of {} strings read back differently by a YAML 1.1 reader; the first:\n  {}",
            wrong.len(),
            strings.len() * 2,
            wrong[..wrong.len().min(20)].join("\n  ")
        );
    }
}

/// The default distribution's render (the golden file, which the test
/// above keeps current) means to kubectl's reader what it means to the
/// YAML 1.2 library, document by document.
#[test]
fn yaml11_reader_reads_the_default_distribution_as_the_library_does() {
    let path = golden_path("default-distribution.yaml");
    let stream =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", display(&path)));
    let docs = distro::yaml::split_documents(&stream);
    let read = read_with_yaml11(&stream);
    assert_eq!(read.len(), docs.len(), "documents");
    for (i, (doc, kubectl)) in docs.iter().zip(&read).enumerate() {
        let library: Value = serde_yaml_ng::from_str(doc.text)
            .unwrap_or_else(|e| panic!("document {} does not parse: {e}", i + 1));
        if let Some(path) = difference(&library, kubectl, "") {
            panic!(
                "document {} (line {}) reads differently at {path}:\n  YAML 1.2: {}\n  YAML 1.1: {}",
                i + 1,
                doc.first_line + 1,
                pointer(&library, &path),
                pointer(kubectl, &path),
            );
        }
    }
}

/// The first place (a JSON pointer) where two values differ; numbers are
/// compared by value, as `1.0` and `1` are the same number to JSON.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| difference(x, y, &format!("{at}/{i}"))),
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            x.iter().find_map(|(k, v)| {
                let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match y.get(k) {
                    Some(w) => difference(v, w, &path),
                    None => Some(path),
                }
            })
        }
        _ if a == b => None,
        _ => Some(at.to_string()),
    }
}

fn pointer(value: &Value, path: &str) -> String {
    value
        .pointer(path)
        .map_or_else(|| "(missing)".to_string(), Value::to_string)
}

// ---------------------------------------------------------------------------
// Merge keys, as Helm and kubectl apply them.

/// `<<: *anchor` in a values file and in a template's output merges the
/// anchored map in; explicit keys win.
#[test]
fn merge_keys_in_values_files_and_template_output_are_applied() {
    let dir = crate::support::scratch("basic");
    let base = dir.path().join("packages/base/1.0.0");
    std::fs::write(
        base.join("values.yaml"),
        "role: viewer\n\
         defaults: &defaults\n  level: info\n  format: json\n\
         settings:\n  <<: *defaults\n  level: debug\n",
    )
    .unwrap();
    std::fs::write(
        base.join("templates/merged.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base-merged\n\
         data:{{ values.settings | to_yaml | nindent(width=2) }}\n\
         ---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base-merged-output\n  \
         labels: &labels\n    tier: web\n  annotations:\n    <<: *labels\n    note: merged\n",
    )
    .unwrap();
    let (code, stdout, stderr) = outcome(&distro(dir.path(), &["render"]));
    assert_eq!(code, 0, "distro render failed:\n{stderr}");
    let objects: Vec<Value> = distro::yaml::split_documents(&stdout)
        .iter()
        .map(|d| distro::yaml::parse_value(d.text, d.first_line).unwrap())
        .collect();
    let named = |name: &str| {
        objects
            .iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in\n{stdout}"))
    };
    assert_eq!(
        named("base-merged")["data"],
        json!({"format": "json", "level": "debug"})
    );
    let output = &named("base-merged-output")["metadata"];
    assert_eq!(
        output["annotations"],
        json!({"tier": "web", "note": "merged"})
    );
    assert!(!stdout.contains("<<"), "a merge key was written:\n{stdout}");
}
