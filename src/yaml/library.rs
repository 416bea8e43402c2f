//! The library's writer (`serde_yaml_ng`, libyaml's emitter) with the fast
//! writer's quoting rule: a string that a YAML 1.1 reader would take for
//! something else is single-quoted, even where YAML 1.2 would read it back
//! as a string.
//!
//! The library chooses a scalar's style by YAML 1.2 alone and offers no way
//! to ask for another. So each string it would write plain but
//! [`must_quote`] wants quoted is swapped, before writing, for a
//! placeholder that the library always single-quotes (digits after a
//! leading zero, which it quotes at any length so that they are not taken
//! for a number), and each quoted placeholder in the text is swapped back
//! for the quoted string. A placeholder is as long as the
//! string it stands for, so the library lays it out as it would the string
//! (keys over 128 bytes become `? key`).

use serde_yaml_ng::{Mapping, Value};

use super::emit::{analyze, must_quote};
use super::scalar;

/// Digits every placeholder starts with, before its index. Only strings of
/// the value could contain it (a number is never written quoted), and
/// [`to_string`] picks another mark when one does.
const MARK: &str = "080314159265358979323";

/// Writes `value` as the library does, quoting what [`must_quote`] says.
pub fn to_string(value: &Value) -> Result<String, serde_yaml_ng::Error> {
    let mut count = 0usize;
    visit_strings(value, &mut |s| count += usize::from(swapped(s)));
    if count == 0 {
        return serde_yaml_ng::to_string(value);
    }
    let mark = unused_mark(value);
    let width = count.to_string().len();
    let mut originals = Vec::with_capacity(count);
    let value = swap(value, &mut |s: &str| {
        if !swapped(s) {
            return None;
        }
        let mut token = format!("{mark}{:0width$}", originals.len());
        while token.len() < s.len() {
            token.push('0');
        }
        originals.push(s.to_string());
        Some(token)
    });
    let text = serde_yaml_ng::to_string(&value)?;
    Ok(restore(&text, &mark, width, &originals))
}

/// A string the library writes plain that must be quoted: the only kind
/// this module changes. Strings it quotes already keep the library's style
/// (a tab, say, makes it double-quote `2001-12-14\tx`), as the fast writer
/// does.
fn swapped(s: &str) -> bool {
    must_quote(s) && !s.is_empty() && !scalar::plain_is_not_a_string(s) && analyze(s).block_plain
}

/// [`MARK`], or the first of `MARK0`, `MARK1`, ... that no string of
/// `value` contains. Each string rules out fewer marks than it has bytes,
/// so the search ends.
fn unused_mark(value: &Value) -> String {
    let mut strings = Vec::new();
    visit_strings(value, &mut |s| {
        if s.contains(MARK) {
            strings.push(s.to_string());
        }
    });
    let mut mark = MARK.to_string();
    let mut attempt = 0u64;
    while strings.iter().any(|s| s.contains(&mark)) {
        mark = format!("{MARK}{attempt}");
        attempt += 1;
    }
    mark
}

/// Calls `f` on every string of `value`, keys included. Tagged values are
/// left alone: their tag, not plain-scalar resolution, says what they are.
fn visit_strings(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Sequence(items) => items.iter().for_each(|v| visit_strings(v, f)),
        Value::Mapping(map) => {
            for (k, v) in map {
                visit_strings(k, f);
                visit_strings(v, f);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Tagged(_) => {}
    }
}

/// A copy of `value` with every string for which `f` gives a replacement
/// replaced, in the order [`visit_strings`] visits them.
fn swap(value: &Value, f: &mut impl FnMut(&str) -> Option<String>) -> Value {
    match value {
        Value::String(s) => Value::String(f(s).unwrap_or_else(|| s.clone())),
        Value::Sequence(items) => Value::Sequence(items.iter().map(|v| swap(v, f)).collect()),
        Value::Mapping(map) => {
            let mut out = Mapping::with_capacity(map.len());
            for (k, v) in map {
                let k = swap(k, f);
                out.insert(k, swap(v, f));
            }
            Value::Mapping(out)
        }
        other => other.clone(),
    }
}

/// `text` with each `'<mark><index><zeros>'` replaced by the original
/// string at `index`, single-quoted.
fn restore(text: &str, mark: &str, width: usize, originals: &[String]) -> String {
    let needle = format!("'{mark}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        out.push_str(&rest[..at]);
        let after = &rest[at + needle.len()..];
        let original = after
            .get(..width)
            .and_then(|digits| digits.parse::<usize>().ok())
            .and_then(|i| originals.get(i));
        let end = after
            .get(width..)
            .map(|tail| width + tail.bytes().take_while(|&b| b == b'0').count());
        match (original, end) {
            (Some(original), Some(end)) if after[end..].starts_with('\'') => {
                out.push('\'');
                out.push_str(&original.replace('\'', "''"));
                out.push('\'');
                rest = &after[end + 1..];
            }
            // Not a placeholder after all (unreachable: no string holds
            // the mark); copy it as it is.
            _ => {
                out.push_str(&needle);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(v: serde_json::Value) -> Value {
        serde_yaml_ng::to_value(v).unwrap()
    }

    #[test]
    fn quotes_what_yaml_1_1_misreads_and_nothing_else() {
        let value = yaml(serde_json::json!({
            "yes": "on",
            "list": ["y", "0755", "1_000", "2001-12-14", "1:20", "plain", "1.2.3"],
            "n": {"<<": "="},
        }));
        assert_eq!(
            to_string(&value).unwrap(),
            "'yes': 'on'\nlist:\n- 'y'\n- '0755'\n- '1_000'\n- '2001-12-14'\n- '1:20'\n- plain\n- 1.2.3\n'n':\n  '<<': '='\n"
        );
    }

    #[test]
    fn long_keys_keep_the_library_layout() {
        let key = "1_".repeat(100);
        let value = yaml(serde_json::json!({ key.clone(): 1 }));
        let text = to_string(&value).unwrap();
        assert_eq!(text, format!("? '{key}'\n: 1\n"));
        let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, serde_json::json!({ key: 1 }));
    }

    #[test]
    fn strings_of_any_length() {
        for len in [1, 30, 127, 128, 129, 400, 2000] {
            let s = "1".repeat(len);
            let value = serde_json::json!({ "k": s, "list": [s] });
            let text = to_string(&yaml(value.clone())).unwrap();
            assert!(text.starts_with(&format!("k: '{s}'\n")), "{len}: {text}");
            let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
            assert_eq!(back, value, "{len}");
        }
    }

    #[test]
    fn a_string_holding_the_mark_changes_the_mark() {
        let tricky = format!("'{MARK}0'");
        let value = yaml(serde_json::json!({ "a": "yes", "b": tricky, "c": MARK }));
        let text = to_string(&value).unwrap();
        let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(
            back,
            serde_json::json!({ "a": "yes", "b": tricky, "c": MARK })
        );
        assert!(text.starts_with("a: 'yes'\n"), "{text}");
    }

    #[test]
    fn top_level_scalars() {
        assert_eq!(to_string(&yaml(serde_json::json!("no"))).unwrap(), "'no'\n");
        assert_eq!(to_string(&yaml(serde_json::json!("x"))).unwrap(), "x\n");
    }
}
