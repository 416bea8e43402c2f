//! Plain scalars that a YAML 1.1 reader takes for something other than a
//! string, so that the writer quotes them.
//!
//! `kubectl apply -f -` reads with sigs.k8s.io/yaml over go-yaml v2, which
//! resolves plain scalars by YAML 1.1 rules; other tools follow the 1.1
//! type repository (yaml.org/type) as PyYAML implements it. The YAML
//! library we write with knows only 1.2, so on its own it writes `yes`,
//! `on`, `0755` or `1_000` plain, and those readers see a boolean or a
//! number where the value was a string.
//!
//! The rule here is the union of what those readers resolve, widened where
//! that keeps it simple: quoting a string that did not need it changes
//! nothing for any reader, leaving one plain that some reader resolves is
//! the bug. It covers:
//!
//! - booleans `y|n|yes|no|on|off|true|false` in lower, capitalised and
//!   upper case; null `~`, `null` (three spellings) and the empty string;
//!   the merge key `<<` and the value key `=`;
//! - with every `_` removed and one leading sign dropped: decimal digits
//!   (leading zeros too: `0755` is octal in 1.1), `0x`/`0o`/`0b` in either
//!   case followed by digits of that base (or none; a sign may follow
//!   `0b`), floats
//!   `digits[.digits][e[sign]digits]` and `.digits[e...]` (`.` alone too),
//!   `.inf` and `.nan` in three spellings, and sexagesimal
//!   `digits(:digits)+[.digits]` (`1:20`, `190:20:30.15`);
//! - timestamps: `yyyy-m-d` (one or two digit month and day), alone or
//!   followed by `T`, `t`, a space or a tab and anything.
//!
//! Dotted versions and addresses (`1.2.3`, `10.0.0.1`) stay plain: the
//! 1.1 float pattern as printed in the type repository would match them,
//! but no reader implements it that way (go-yaml and PyYAML both read them
//! as strings), and quoting every image tag and version would help no one.

/// Whether a YAML 1.1 reader may read `s`, written plain, as something
/// other than the string `s`.
pub fn plain_is_not_a_string(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return true;
    };
    match first {
        b'0'..=b'9' => number(s) || timestamp(b),
        b'+' | b'-' | b'.' | b'_' => number(s),
        b'y' | b'Y' | b'n' | b'N' | b'o' | b'O' | b't' | b'T' | b'f' | b'F' | b'~' | b'<'
        | b'=' => word(s),
        _ => false,
    }
}

/// The 1.1 booleans and nulls, `<<` and `=`.
fn word(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "~"
            | "null"
            | "Null"
            | "NULL"
            | "<<"
            | "="
    )
}

/// An integer or float in any 1.1 notation, ignoring underscores (which
/// 1.1 allows between digits and go-yaml removes before parsing).
fn number(s: &str) -> bool {
    // Short strings need no allocation; long ones are rarely numbers.
    let mut buf = [0u8; 64];
    let mut owned = Vec::new();
    let digits: &[u8] = if s.len() <= buf.len() {
        let mut n = 0;
        for &c in s.as_bytes().iter().filter(|&&c| c != b'_') {
            buf[n] = c;
            n += 1;
        }
        &buf[..n]
    } else {
        owned.extend(s.bytes().filter(|&c| c != b'_'));
        &owned
    };
    let body = match digits.first() {
        Some(b'+' | b'-') => &digits[1..],
        _ => digits,
    };
    radix(body)
        || float(body)
        || sexagesimal(body)
        || matches!(
            body,
            b".inf" | b".Inf" | b".INF" | b".nan" | b".NaN" | b".NAN"
        )
}

/// `0x`, `0o` or `0b` (either case) followed only by digits of that base.
/// A sign may follow `0b`: go-yaml parses what follows that prefix as a
/// signed number (`0b+1`, `0b-1`).
fn radix(b: &[u8]) -> bool {
    let [b'0', prefix, rest @ ..] = b else {
        return false;
    };
    let digit: fn(&u8) -> bool = match prefix {
        b'x' | b'X' => u8::is_ascii_hexdigit,
        b'o' | b'O' => |c| (b'0'..=b'7').contains(c),
        b'b' | b'B' => {
            let rest = match rest.first() {
                Some(b'+' | b'-') => &rest[1..],
                _ => rest,
            };
            return rest.iter().all(|c| matches!(c, b'0' | b'1'));
        }
        _ => return false,
    };
    rest.iter().all(digit)
}

/// Decimal digits, or a float: `digits[.digits]` or `.digits` (`.` alone
/// too), then an optional exponent `e[sign]digits`.
fn float(b: &[u8]) -> bool {
    let int = leading_digits(b);
    let mut rest = &b[int..];
    let mut fraction = false;
    if let Some(after) = rest.strip_prefix(b".") {
        fraction = true;
        rest = &after[leading_digits(after)..];
    }
    if int == 0 && !fraction {
        return false;
    }
    match rest {
        [] => true,
        [b'e' | b'E', exponent @ ..] => {
            let exponent = match exponent.first() {
                Some(b'+' | b'-') => &exponent[1..],
                _ => exponent,
            };
            !exponent.is_empty() && exponent.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Base 60: `digits(:digits)+`, then an optional `.digits`.
fn sexagesimal(b: &[u8]) -> bool {
    let first = leading_digits(b);
    if first == 0 {
        return false;
    }
    let mut rest = &b[first..];
    let mut parts = 0;
    while let Some(after) = rest.strip_prefix(b":") {
        let n = leading_digits(after);
        if n == 0 {
            return false;
        }
        parts += 1;
        rest = &after[n..];
    }
    if parts == 0 {
        return false;
    }
    match rest.strip_prefix(b".") {
        Some(fraction) => fraction.iter().all(u8::is_ascii_digit),
        None => rest.is_empty(),
    }
}

/// `yyyy-m-d` or `yyyy-mm-dd`, alone or followed by a time.
fn timestamp(b: &[u8]) -> bool {
    if b.len() < 8 || leading_digits(b) != 4 || b[4] != b'-' {
        return false;
    }
    let month = leading_digits(&b[5..]);
    if !(1..=2).contains(&month) || b.get(5 + month) != Some(&b'-') {
        return false;
    }
    let day_at = 6 + month;
    let day = leading_digits(&b[day_at..]);
    if !(1..=2).contains(&day) {
        return false;
    }
    matches!(b.get(day_at + day), None | Some(b'T' | b't' | b' ' | b'\t'))
}

fn leading_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::plain_is_not_a_string as ambiguous;

    #[test]
    fn words_are_booleans_nulls_and_keys() {
        for s in [
            "", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off",
            "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null",
            "NULL", "~", "<<", "=",
        ] {
            assert!(ambiguous(s), "{s:?}");
        }
        for s in [
            "yEs", "YeS", "oN", "nO", "none", "nginx", "o", "t", "f", "~~", "<", "==", "yes!",
            "tRue", "Nil",
        ] {
            assert!(!ambiguous(s), "{s:?}");
        }
    }

    #[test]
    fn numbers_in_every_1_1_notation() {
        for s in [
            "0",
            "7",
            "-1",
            "+1",
            "00",
            "0755",
            "089",
            "1_000",
            "+_1",
            "_1",
            "1__0",
            "0b101",
            "0B101",
            "-0b1",
            "0b",
            "0b+0",
            "0b-1",
            "0o17",
            "0O17",
            "0o",
            "0x1F",
            "0X1f",
            "-0x1F",
            "0x",
            "0x_1F",
            "1:20",
            "190:20:30",
            "-1:20",
            "1:20.5",
            "190:20:30.15",
            "1_000.5",
            ".5",
            "-.5",
            "1.",
            "1.5",
            ".",
            "._",
            "1e3",
            "1E3",
            "1e+3",
            "1e-3",
            "6.8523015e+5",
            "685.230_15e+03",
            ".5e3",
            ".inf",
            "-.inf",
            "+.inf",
            ".Inf",
            ".INF",
            ".nan",
            ".NaN",
            ".NAN",
        ] {
            assert!(ambiguous(s), "{s:?}");
        }
        for s in [
            "1.2.3",
            "10.0.0.1",
            "v1.2",
            "1Gi",
            "500m",
            "1e",
            "1e+",
            "e3",
            "0x1G",
            "0b102",
            "0o8",
            "1:",
            ":20",
            "1::20",
            "1:20:",
            "1:2a",
            "-",
            "+",
            "_",
            "__",
            ".e",
            "..",
            "1-2",
            "0xdeadbeefz",
            "1,000",
            "12 34",
            "inf",
            "nan",
            "+inf",
            "-",
            "--1",
            "+-1",
        ] {
            assert!(!ambiguous(s), "{s:?}");
        }
    }

    #[test]
    fn timestamps() {
        for s in [
            "2001-12-14",
            "2001-1-4",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14T21:59:43Z",
            "2001-12-14 21:59:43.10 -5",
            "2001-12-14\t21:59:43.10 -5",
            "2002-12-14 garbage",
        ] {
            assert!(ambiguous(s), "{s:?}");
        }
        for s in [
            "2001-12",
            "2001-123-1",
            "2001-12-145",
            "201-12-14",
            "20011-12-14",
            "2001-12-14x",
            "2001-12-14-rc1",
            "2001/12/14",
        ] {
            assert!(!ambiguous(s), "{s:?}");
        }
    }

    #[test]
    fn long_strings_are_checked_whole() {
        let long = "1".repeat(500);
        assert!(ambiguous(&long));
        assert!(ambiguous(&format!("{long}_{long}")));
        assert!(!ambiguous(&format!("{long}x")));
    }
}
