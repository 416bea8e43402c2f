//! What a plain (unquoted) scalar means, with the same rules as the YAML
//! library (`serde_yaml_ng`), so that the fast reader and writer agree with
//! it on every value: `null`, `~` and the empty scalar are null; `true` and
//! `false` in three spellings are booleans; integers in decimal, `0x`, `0o`
//! and `0b`; floats as Rust reads them plus `.inf` and `.nan`; digits with
//! a leading zero (`0123`) stay strings.

use serde_json::Value;

/// What a plain scalar reads as.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    /// An integer outside 64 bits: the library hands it over as 128 bits,
    /// which a JSON value cannot hold.
    Wide,
    Float(f64),
    String,
}

/// Whether the library would read `s`, written plain, as something other
/// than the string `s` (and so writes it quoted).
pub fn plain_is_not_a_string(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        Some(b) if !may_not_be_a_string(*b) => false,
        Some(_) => resolve(s) != Plain::String || digits_but_not_number(s),
    }
}

/// The JSON value of a plain scalar, as `yaml::parse_value` builds it, or
/// `None` where the library refuses it (a 128-bit integer).
pub fn value(s: &str) -> Option<Value> {
    Some(match resolve(s) {
        Plain::Null => Value::Null,
        Plain::Bool(b) => Value::Bool(b),
        Plain::Unsigned(u) => Value::from(u),
        Plain::Signed(i) => Value::from(i),
        Plain::Wide => return None,
        Plain::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Plain::String => Value::String(s.to_string()),
    })
}

/// A first byte that some non-string plain scalar starts with.
fn may_not_be_a_string(b: u8) -> bool {
    matches!(
        b,
        b'0'..=b'9' | b'+' | b'-' | b'.' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'~'
    )
}

/// What the library reads a plain scalar as.
pub fn resolve(s: &str) -> Plain {
    let Some(&b) = s.as_bytes().first() else {
        return Plain::Null;
    };
    if !may_not_be_a_string(b) {
        return Plain::String;
    }
    match s {
        "null" | "Null" | "NULL" | "~" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        // Other words: the only numbers spelt with a leading letter are
        // `inf` and `nan`, which are not finite, so strings.
        _ if b.is_ascii_alphabetic() || b == b'~' => return Plain::String,
        _ => {}
    }
    if let Some(int) = integer(s) {
        return int;
    }
    if digits_but_not_number(s) {
        return Plain::String;
    }
    match float(s) {
        Some(f) => Plain::Float(f),
        None => Plain::String,
    }
}

/// Digits with a leading zero, optionally signed: a string in YAML 1.2.
fn digits_but_not_number(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

const RADIX_PREFIXES: [(&str, u32); 3] = [("0x", 16), ("0o", 8), ("0b", 2)];

/// An integer, tried as the library does: unsigned, then negative, 64 bits
/// before 128.
fn integer(s: &str) -> Option<Plain> {
    if let Some(u) = unsigned::<u64>(s) {
        return Some(Plain::Unsigned(u));
    }
    if let Some(i) = negative::<i64>(s) {
        return Some(Plain::Signed(i));
    }
    if unsigned::<u128>(s).is_some() || negative::<i128>(s).is_some() {
        return Some(Plain::Wide);
    }
    None
}

trait Radix: Sized {
    fn parse(s: &str, radix: u32) -> Option<Self>;
}

macro_rules! radix {
    ($($t:ty),*) => {$(
        impl Radix for $t {
            fn parse(s: &str, radix: u32) -> Option<Self> {
                <$t>::from_str_radix(s, radix).ok()
            }
        }
    )*};
}
radix!(u64, i64, u128, i128);

/// A non-negative integer: `[+]digits`, or `[+]0x..`, `0o..`, `0b..`.
fn unsigned<T: Radix>(s: &str) -> Option<T> {
    let body = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in RADIX_PREFIXES {
        if let Some(rest) = body.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Some(v) = T::parse(rest, radix) {
                return Some(v);
            }
        }
    }
    if body.starts_with(['+', '-']) || digits_but_not_number(s) {
        return None;
    }
    T::parse(body, 10)
}

/// A signed integer: `-0x..`, `-0o..`, `-0b..`, or what the standard
/// library reads as a signed decimal.
fn negative<T: Radix>(s: &str) -> Option<T> {
    for (prefix, radix) in RADIX_PREFIXES {
        if let Some(rest) = s.strip_prefix('-').and_then(|r| r.strip_prefix(prefix)) {
            // The sign goes back in front of the digits.
            let mut signed = String::with_capacity(rest.len() + 1);
            signed.push('-');
            signed.push_str(rest);
            if let Some(v) = T::parse(&signed, radix) {
                return Some(v);
            }
        }
    }
    if digits_but_not_number(s) {
        return None;
    }
    T::parse(s, 10)
}

/// A float: `.inf`, `.nan` in three spellings, or a finite number the
/// standard library reads.
fn float(s: &str) -> Option<f64> {
    let body = match s.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => s,
    };
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return Some(f64::INFINITY);
    }
    if matches!(s, "-.inf" | "-.Inf" | "-.INF") {
        return Some(f64::NEG_INFINITY);
    }
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    body.parse::<f64>().ok().filter(|f| f.is_finite())
}
