//! Finding the line of a value in YAML text, for messages: the YAML reader
//! gives values without positions, so a problem found after parsing (a
//! schema violation, an invalid label) is traced back to the text here.
//!
//! This reads block-style YAML by indentation only. It is a pointer for
//! people, not a parser: a value it cannot place (flow collections,
//! multi-line keys) gets the line of its deepest parent it found, or none.

/// One step of a path into a YAML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// What starts at a column of a line: a sequence entry's dash, a map key,
/// or anything else (a scalar, a flow collection).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Dash,
    Key(std::borrow::Cow<'a, str>),
    Other,
}

#[derive(Debug)]
struct Entry<'a> {
    /// 1-based.
    line: usize,
    col: usize,
    token: Token<'a>,
}

/// The 1-based line in `text` of the value at `path`, or of the deepest
/// part of the path found; `None` when not even the first step is found.
pub fn line_of_path(text: &str, path: &[Step]) -> Option<usize> {
    let entries = entries(text);
    // The node being looked into: the entries of its children.
    let mut children = 0..entries.len();
    let mut found = None;
    for step in path {
        let Some(first) = children.clone().next() else {
            return found;
        };
        let level = entries[first].col;
        let direct = children
            .clone()
            .filter(|&i| entries[i].col == level)
            .collect::<Vec<_>>();
        let hit = match step {
            Step::Key(key) => direct
                .iter()
                .copied()
                .find(|&i| matches!(&entries[i].token, Token::Key(k) if k == key)),
            Step::Index(n) => direct
                .iter()
                .copied()
                .filter(|&i| entries[i].token == Token::Dash)
                .nth(*n),
        };
        let Some(i) = hit else {
            return found;
        };
        found = Some(entries[i].line);
        children = subtree(&entries, i, children.end);
    }
    found
}

/// The entries under entry `i`: those after it, deeper than it, before
/// `end`. A key's sequence may sit at the key's own column (`key:\n- a`).
fn subtree(entries: &[Entry], i: usize, end: usize) -> std::ops::Range<usize> {
    let parent = &entries[i];
    let start = i + 1;
    let mut j = start;
    let same_column_list = matches!(parent.token, Token::Key(_))
        && entries
            .get(start)
            .is_some_and(|e| e.col == parent.col && e.token == Token::Dash);
    while j < end {
        let e = &entries[j];
        let inside = e.col > parent.col
            || (same_column_list && e.col == parent.col && e.token == Token::Dash);
        if !inside {
            break;
        }
        j += 1;
    }
    start..j
}

/// Every token that starts a node: per line, its dashes and then its key
/// or other content, with their columns. Blank and comment lines are
/// skipped; so are lines of block scalars, which are deeper than their key
/// and never looked into.
fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let mut col = raw.len() - raw.trim_start_matches(' ').len();
        let mut rest = &raw[col..];
        if rest.is_empty() || rest.starts_with('#') || rest.trim().is_empty() {
            continue;
        }
        if rest == "---" || rest.starts_with("--- ") {
            continue;
        }
        loop {
            if rest == "-" || rest.starts_with("- ") {
                out.push(Entry {
                    line,
                    col,
                    token: Token::Dash,
                });
                let after = &rest[1..];
                let skip = after.len() - after.trim_start_matches(' ').len();
                col += 1 + skip;
                rest = &after[skip..];
                if rest.is_empty() {
                    break;
                }
                continue;
            }
            out.push(Entry {
                line,
                col,
                token: key_of(rest).map_or(Token::Other, Token::Key),
            });
            break;
        }
    }
    out
}

/// The key of `key: value` or `key:`, unquoted.
fn key_of(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    let quoted = |q: char| {
        let body = text.strip_prefix(q)?;
        let close = body.find(q)?;
        let after = &body[close + 1..];
        after
            .strip_prefix(':')
            .filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
            .map(|_| std::borrow::Cow::Borrowed(&body[..close]))
    };
    match text.chars().next()? {
        '"' => quoted('"'),
        '\'' => quoted('\''),
        '{' | '[' | '|' | '>' | '&' | '*' | '!' => None,
        _ => {
            let end = text
                .match_indices(':')
                .map(|(i, _)| i)
                .find(|&i| text[i + 1..].is_empty() || text[i + 1..].starts_with([' ', '\t']))?;
            let key = text[..end].trim_end();
            (!key.is_empty()).then_some(std::borrow::Cow::Borrowed(key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index, Key};

    #[test]
    fn keys_and_items() {
        let text = "\
# comment
releases:
  - name: base
    package: base
  - name: app
    values:
      replicas: 3
      image:
        tag: x
";
        assert_eq!(line_of_path(text, &[Key("releases")]), Some(2));
        assert_eq!(line_of_path(text, &[Key("releases"), Index(1)]), Some(5));
        assert_eq!(
            line_of_path(text, &[Key("releases"), Index(1), Key("name")]),
            Some(5)
        );
        assert_eq!(
            line_of_path(
                text,
                &[
                    Key("releases"),
                    Index(1),
                    Key("values"),
                    Key("image"),
                    Key("tag")
                ]
            ),
            Some(9)
        );
        // Not there: the deepest part found.
        assert_eq!(
            line_of_path(text, &[Key("releases"), Index(0), Key("values")]),
            Some(3)
        );
        assert_eq!(line_of_path(text, &[Key("nothing")]), None);
    }

    #[test]
    fn lists_at_their_key_column_and_flow_values() {
        let text = "releases:\n- name: a\n  values: {replicas: 2}\nother: 1\n";
        assert_eq!(
            line_of_path(
                text,
                &[Key("releases"), Index(0), Key("values"), Key("replicas")]
            ),
            Some(3)
        );
        assert_eq!(line_of_path(text, &[Key("other")]), Some(4));
    }

    #[test]
    fn quoted_keys_and_colons_in_values() {
        let text = "\"a b\":\n  url: http://x:80/\n  'c': 1\n";
        assert_eq!(line_of_path(text, &[Key("a b"), Key("c")]), Some(3));
        assert_eq!(line_of_path(text, &[Key("a b"), Key("url")]), Some(2));
    }

    #[test]
    fn maps_of_maps() {
        let text = "bundle: main\nreleases:\n  app:\n    values:\n      replicas: 0\n  web:\n    values: {}\n";
        assert_eq!(
            line_of_path(
                text,
                &[Key("releases"), Key("app"), Key("values"), Key("replicas")]
            ),
            Some(5)
        );
        assert_eq!(line_of_path(text, &[Key("releases"), Key("web")]), Some(6));
    }
}
