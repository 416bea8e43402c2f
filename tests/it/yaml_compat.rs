//! What `distro render` writes means the same to every YAML reader that
//! matters: the bytes of the default distribution are pinned in a golden
//! file.
//!
//! To regenerate the golden file after a deliberate change of the output:
//!
//! ```sh
//! DISTRO_UPDATE_GOLDEN=1 cargo test --test it golden
//! git diff tests/golden/
//! ```

use std::path::{Path, PathBuf};

use crate::support::{copy_tree, distro, outcome, project_root};

/// Set to rewrite golden files from the current output instead of comparing.
const UPDATE_GOLDEN: &str = "DISTRO_UPDATE_GOLDEN";

fn golden_path(name: &str) -> PathBuf {
    project_root().join("tests/golden").join(name)
}

/// A scratch copy of the project's default distribution, lock included, so
/// that the render resolves exactly the committed versions.
fn default_distribution() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = project_root();
    for file in ["platform.yaml", "distro.lock"] {
        std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
    }
    copy_tree(&root.join("packages"), &dir.path().join("packages"));
    copy_tree(&root.join("bundles"), &dir.path().join("bundles"));
    dir
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
