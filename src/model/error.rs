//! Errors found while reading and validating the distribution's input files.

use crate::yaml::YamlError;

/// One problem in the input. A run collects all of them before giving up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A file is not valid YAML, or does not have the expected shape.
    #[error("{file}{}: {}", at(error.line, error.column), error.message)]
    Yaml { file: String, error: YamlError },
    /// A file parsed but what it says is wrong.
    #[error("{file}{}: {message}", at(*line, None))]
    File {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// A release cannot be resolved: unknown package or dependency, no
    /// matching version, bad values file, schema violation.
    #[error("{file}{}: {}: {message}", at(*line, None), subject(release))]
    Release {
        release: String,
        file: String,
        line: Option<usize>,
        message: String,
    },
}

impl Error {
    pub(crate) fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::File {
            file: file.into(),
            line: None,
            message: message.into(),
        }
    }
}

/// How a release is named in a message; an empty name must not read as
/// `release :`.
fn subject(release: &str) -> String {
    if release.is_empty() {
        "a release with an empty name".to_string()
    } else {
        format!("release {release}")
    }
}

/// `:line[:column]`, or nothing when the line is unknown.
pub fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// The 1-based line of the first list item or key `name: <value>` in `text`;
/// used to point at a release inside a bundle or platform file.
pub(crate) fn line_of_name(text: &str, key: &str, value: &str) -> Option<usize> {
    let quoted = [
        value.to_string(),
        format!("\"{value}\""),
        format!("'{value}'"),
    ];
    text.lines()
        .position(|line| {
            let t = line.trim_start().trim_start_matches("- ").trim();
            t.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|rest| {
                    let rest = rest.split(" #").next().unwrap_or("").trim();
                    quoted.iter().any(|q| q == rest)
                })
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// The 1-based line of a list item `- <name>` or a key `<name>:` in `text`;
/// used to point at a release named in the platform file.
pub(crate) fn line_of_item(text: &str, key: &str, name: &str) -> Option<usize> {
    let block = text.lines().position(|line| {
        let t = line.trim_start();
        let t = t.strip_prefix("- ").unwrap_or(t).trim_end();
        let t = t.trim_matches(|c| c == '"' || c == '\'');
        t == name || t.strip_prefix(name).is_some_and(|r| r.starts_with(':'))
    });
    // Flow style: `disable: [a, b]` on the key's own line.
    let flow = || {
        text.lines().position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|r| {
                    r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                        .any(|w| w == name)
                })
        })
    };
    block.or_else(flow).map(|i| i + 1)
}

/// `; did you mean "x"?` naming the candidate closest to `name`, when one
/// is close enough to be a typo of it (a third of its letters wrong at
/// most, swapped neighbours counting once); otherwise nothing.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    let limit = (name.chars().count() / 3).max(1);
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| format!("; did you mean {c:?}?"))
        .unwrap_or_default()
}

/// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`:
/// the optimal string alignment distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), the previous one, the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_typos_only() {
        let names = ["base", "app", "cert-manager", "monitoring"];
        assert_eq!(did_you_mean("bsae", names), "; did you mean \"base\"?");
        assert_eq!(
            did_you_mean("cert-manger", names),
            "; did you mean \"cert-manager\"?"
        );
        assert_eq!(did_you_mean("Base", names), "; did you mean \"base\"?");
        assert_eq!(did_you_mean("web", names), "");
        assert_eq!(did_you_mean("zzzzzz", names), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn finds_release_lines() {
        let text = "releases:\n  - name: a\n    package: a\n  - name: \"b\" # second\n";
        assert_eq!(line_of_name(text, "name", "a"), Some(2));
        assert_eq!(line_of_name(text, "name", "b"), Some(4));
        assert_eq!(line_of_name(text, "name", "c"), None);
    }

    #[test]
    fn finds_items_in_block_and_flow_lists() {
        let text = "bundle: x\nenable:\n  - a\ndisable: [b, c]\n";
        assert_eq!(line_of_item(text, "enable", "a"), Some(3));
        assert_eq!(line_of_item(text, "disable", "c"), Some(4));
        assert_eq!(line_of_item(text, "disable", "z"), None);
    }
}
