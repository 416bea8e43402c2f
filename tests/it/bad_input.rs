//! The bad-input corpus: each file in `tests/bad/` breaks a scratch copy of
//! the `basic` fixture in one way and says what `distro` must print about it.
//!
//! A case file:
//!
//! ```yaml
//! # What this case breaks, in one line.
//! write:                      # files to create or overwrite, relative to the root
//!   packages/app/1.1.0/values.yaml: |
//!     replicas: [
//! remove:                     # optional: files to delete
//!   - packages/base/1.0.0/package.yaml
//! args: [render, --out, out]  # optional, this is the default
//! expect:                     # substrings that must all appear in stderr
//!   - "packages/app/1.1.0/values.yaml:1"
//! ```
//!
//! Every case must exit with 2 (invalid input), print every expected
//! substring on stderr, not panic, print nothing on stdout, create no output
//! directory and leave `distro.lock` as it was. All cases run, and every
//! failure is reported together.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::support::{distro, outcome, project_root, scratch};

/// The corpus must not shrink below this.
const MIN_CASES: usize = 30;

/// The exit code for invalid input.
const EXIT_INVALID: i32 = 2;

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Files to create or overwrite, relative to the distribution root.
    #[serde(default)]
    write: BTreeMap<String, String>,
    /// Files to delete, relative to the distribution root.
    #[serde(default)]
    remove: Vec<String>,
    /// Arguments to `distro`.
    #[serde(default)]
    args: Option<Vec<String>>,
    /// Substrings that must all appear in stderr.
    expect: Vec<String>,
}

fn default_args() -> Vec<String> {
    ["render", "--out", "out"].map(String::from).to_vec()
}

/// Every `tests/bad/*.yaml`, sorted by name.
fn case_files() -> Vec<PathBuf> {
    let dir = project_root().join("tests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn case_name(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The case's one-line description: its first comment line.
fn description(text: &str) -> &str {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix('#'))
        .map(str::trim)
        .unwrap_or("")
}

/// A path a case may touch: relative and staying inside the scratch root.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let path = Path::new(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "path {rel:?} must be relative, without `.` or `..`"
        ));
    }
    Ok(root.join(path))
}

/// The directory `--out` names in `args`, if any.
fn out_dir(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--out" {
            return it.next().map(String::as_str);
        }
        if let Some(dir) = arg.strip_prefix("--out=") {
            return Some(dir);
        }
    }
    None
}

/// Runs one case; `Err` describes everything that went wrong.
fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the case: {e}"))?;
    let case: Case =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("the case file is invalid: {e}"))?;
    if case.expect.is_empty() {
        return Err("the case expects nothing: list at least one substring of stderr".into());
    }
    if description(&text).is_empty() {
        return Err("the case does not start with a `# description` line".into());
    }

    let dir = scratch("basic");
    let root = dir.path();
    for (rel, content) in &case.write {
        let target = inside(root, rel)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("write {rel}: {e}"))?;
        }
        std::fs::write(&target, content).map_err(|e| format!("write {rel}: {e}"))?;
    }
    for rel in &case.remove {
        let target = inside(root, rel)?;
        std::fs::remove_file(&target).map_err(|e| format!("remove {rel}: {e}"))?;
    }

    let args = case.args.clone().unwrap_or_else(default_args);
    let out_dir = out_dir(&args).map(|d| root.join(d));
    let out_existed = out_dir.as_ref().is_some_and(|d| d.exists());
    let lock_path = root.join("distro.lock");
    let lock_before = std::fs::read(&lock_path).ok();

    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = outcome(&distro(root, &arg_refs));

    let mut problems = Vec::new();
    if code != EXIT_INVALID {
        problems.push(format!("exit code {code}, expected {EXIT_INVALID}"));
    }
    for expected in &case.expect {
        if !stderr.contains(expected.as_str()) {
            problems.push(format!("stderr lacks {expected:?}"));
        }
    }
    if stderr.contains("panicked") {
        problems.push("distro panicked".into());
    }
    if !stdout.is_empty() {
        problems.push(format!("stdout is not empty:\n{}", indent(&stdout)));
    }
    if let Some(out) = &out_dir
        && !out_existed
        && out.exists()
    {
        problems.push(format!("{} was created", out.display()));
    }
    let lock_after = std::fs::read(&lock_path).ok();
    if lock_after != lock_before {
        problems.push(match lock_before {
            None => "distro.lock was written".to_string(),
            Some(_) => "distro.lock was changed".to_string(),
        });
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n  args: {}\n  stderr:\n{}",
            problems.join("\n  "),
            args.join(" "),
            indent(&stderr)
        ))
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_bad_input_is_rejected_with_a_useful_message() {
    let files = case_files();
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Err(why) = run_case(path) {
            failures.push(format!(
                "{} ({}):\n  {why}",
                case_name(path),
                description(&text)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n\n{}\n",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn corpus_has_enough_cases() {
    let files = case_files();
    assert!(
        files.len() >= MIN_CASES,
        "tests/bad/ has {} cases, expected at least {MIN_CASES}",
        files.len()
    );
}
