//! A fast reader for the block-style YAML that templates render, giving the
//! same JSON value as the YAML library with [`super::parse_value`]'s rules
//! (duplicate keys refused, scalar keys turned into strings).
//!
//! It reads block maps and sequences (also compact `- key: v` and `- - x`,
//! and sequences at their key's indentation), plain scalars on one line,
//! single- and double-quoted scalars on one line, literal block scalars
//! (`|`, with chomping and indentation indicators), `{}`, `[]` and comments.
//!
//! Anything else, and anything it is not sure about, it declines (`Err`):
//! folded scalars, scalars over several lines, flow collections with
//! content, anchors, aliases, merge keys (a plain `<<`), tags, explicit
//! keys, directives, tabs outside quoted and block scalars, carriage
//! returns and the other Unicode line breaks, characters YAML does not
//! allow, duplicate keys, and every syntax error. The caller then reads the document with the library, which gives
//! the same value, or the error with its line. The reader never accepts a
//! document the library refuses.

use serde_json::map::Entry;
use serde_json::{Map, Value};

use super::scalar;

/// Deeper documents go to the library (which stops at 128 levels).
const MAX_DEPTH: usize = 100;
/// libyaml refuses simple keys longer than 1024 characters.
const MAX_KEY: usize = 1000;

/// This reader does not handle the document; the library will.
#[derive(Debug)]
pub struct Declined;

type R<T> = Result<T, Declined>;

/// Reads one document whose top level is a block map.
pub fn document(text: &str) -> R<Value> {
    if !allowed(text) {
        return Err(Declined);
    }
    let mut r = Reader {
        text,
        b: text.as_bytes(),
        pos: 0,
        line_start: 0,
        depth: 0,
    };
    let Some(indent) = r.next_line()? else {
        return Err(Declined);
    };
    r.pos += indent;
    let Some(first) = r.key_at(r.pos)? else {
        return Err(Declined);
    };
    let map = r.mapping(indent, first)?;
    if r.next_line()?.is_some() {
        return Err(Declined);
    }
    Ok(Value::Object(map))
}

/// No character the reader leaves to the library: controls other than tab
/// and line feed, carriage returns, DEL, C1 controls (NEL among them), the
/// line and paragraph separators, byte order marks and noncharacters.
fn allowed(text: &str) -> bool {
    let ascii_ok = text
        .bytes()
        .all(|b| (b >= 0x20 && b != 0x7F) || b == b'\n' || b == b'\t');
    ascii_ok
        && (text.is_ascii()
            || !text.chars().any(|c| {
                matches!(
                    c,
                    '\u{80}'
                        ..='\u{9f}'
                            | '\u{2028}'
                            | '\u{2029}'
                            | '\u{feff}'
                            | '\u{fffe}'
                            | '\u{ffff}'
                )
            }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    Map,
    Seq,
}

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    /// Current byte offset.
    pos: usize,
    /// Offset of the line `pos` is on, for columns.
    line_start: usize,
    depth: usize,
}

impl Reader<'_> {
    /// The byte at `i`, or 0 at the end.
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// A space, tab, line break or the end: what ends an indicator.
    fn blankz(&self, i: usize) -> bool {
        matches!(self.at(i), 0 | b' ' | b'\t' | b'\n')
    }

    /// A `-` entry indicator at `i`.
    fn dash(&self, i: usize) -> bool {
        self.at(i) == b'-' && self.blankz(i + 1)
    }

    /// Offset of the line break ending the line that holds `i`, or the end.
    fn line_end(&self, i: usize) -> usize {
        match self.text[i..].find('\n') {
            Some(n) => i + n,
            None => self.b.len(),
        }
    }

    /// Moves to the start of the line after the one holding `i`.
    fn skip_line(&mut self, i: usize) {
        self.pos = (self.line_end(i) + 1).min(self.b.len());
    }

    /// From the start of a line, skips empty and comment lines; leaves `pos`
    /// at the start of the next line with content and returns its
    /// indentation, or `None` at the end.
    fn next_line(&mut self) -> R<Option<usize>> {
        loop {
            let start = self.pos;
            let mut i = start;
            while self.at(i) == b' ' {
                i += 1;
            }
            match self.at(i) {
                0 if i >= self.b.len() => {
                    self.pos = self.b.len();
                    return Ok(None);
                }
                b'\n' => self.pos = i + 1,
                b'#' => self.skip_line(i),
                b'\t' => return Err(Declined),
                _ => {
                    let line = &self.b[start..];
                    if i == start
                        && (line.starts_with(b"---") || line.starts_with(b"...") || line[0] == b'%')
                    {
                        return Err(Declined);
                    }
                    self.line_start = start;
                    return Ok(Some(i - start));
                }
            }
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Declined);
        }
        Ok(())
    }

    /// A block map in column `indent`, whose first key (already read, with
    /// the offset after its `:`) is on the current line.
    fn mapping(&mut self, indent: usize, first: (String, usize)) -> R<Map<String, Value>> {
        self.enter()?;
        let mut map = Map::new();
        let (mut key, mut after) = first;
        loop {
            self.pos = after;
            let value = self.node(indent, Parent::Map)?;
            match map.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(_) => return Err(Declined),
            }
            match self.next_line()? {
                Some(n) if n == indent => {
                    let start = self.pos + n;
                    if self.dash(start) {
                        return Err(Declined);
                    }
                    (key, after) = self.key_at(start)?.ok_or(Declined)?;
                }
                Some(n) if n > indent => return Err(Declined),
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(map)
    }

    /// A block sequence whose first `-` is at `pos`, in column `indent`.
    fn sequence(&mut self, indent: usize) -> R<Vec<Value>> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.pos += 1;
            items.push(self.node(indent, Parent::Seq)?);
            match self.next_line()? {
                Some(n) if n == indent && self.dash(self.pos + n) => self.pos += n,
                Some(n) if n > indent => return Err(Declined),
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(items)
    }

    /// The node after `key:` or `-` (`pos` is just past it), in a collection
    /// indented by `parent`. Leaves `pos` at the start of a line.
    fn node(&mut self, parent: usize, within: Parent) -> R<Value> {
        let mut i = self.pos;
        while self.at(i) == b' ' {
            i += 1;
        }
        let column = i - self.line_start;
        match self.at(i) {
            0 | b'\n' | b'#' => {
                self.skip_line(i);
                self.below(parent, within)
            }
            b'|' => self.literal(i, parent).map(Value::String),
            b'-' if self.blankz(i + 1) => {
                if within == Parent::Map {
                    return Err(Declined);
                }
                self.pos = i;
                self.sequence(column).map(Value::Array)
            }
            b'[' | b'{' => {
                let empty = match self.at(i) {
                    b'[' => self.at(i + 1) == b']',
                    _ => self.at(i + 1) == b'}',
                };
                if !empty {
                    return Err(Declined);
                }
                self.end_of_line(i + 2)?;
                Ok(if self.at(i) == b'[' {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                })
            }
            _ => {
                if within == Parent::Seq
                    && let Some(first) = self.key_at(i)?
                {
                    return self.mapping(column, first).map(Value::Object);
                }
                match self.at(i) {
                    b'"' | b'\'' => {
                        let (s, end) = self.quoted(i)?;
                        self.end_of_line(end)?;
                        Ok(Value::String(s))
                    }
                    _ => self.plain(i),
                }
            }
        }
    }

    /// A node on the lines after `key:` or `-` with nothing after it: a
    /// more indented collection, a sequence at the key's indentation, or
    /// nothing (null).
    fn below(&mut self, parent: usize, within: Parent) -> R<Value> {
        let Some(n) = self.next_line()? else {
            return Ok(Value::Null);
        };
        let start = self.pos + n;
        if n > parent {
            if self.dash(start) {
                self.pos = start;
                return self.sequence(n).map(Value::Array);
            }
            if let Some(first) = self.key_at(start)? {
                return self.mapping(n, first).map(Value::Object);
            }
            // A scalar on its own line, maybe over several.
            return Err(Declined);
        }
        if n == parent && within == Parent::Map && self.dash(start) {
            self.pos = start;
            return self.sequence(n).map(Value::Array);
        }
        Ok(Value::Null)
    }

    /// Whether the content at `i` is a map key (`key:` followed by a space or
    /// the end of the line): the key, as `parse_value` makes it, and the
    /// offset after the `:`. `None` for a scalar that is not a key.
    fn key_at(&self, i: usize) -> R<Option<(String, usize)>> {
        match self.at(i) {
            b'"' | b'\'' => {
                let (key, end) = self.quoted(i)?;
                if self.at(end) == b':' && self.blankz(end + 1) {
                    if key.len() > MAX_KEY {
                        return Err(Declined);
                    }
                    return Ok(Some((key, end + 1)));
                }
                Ok(None)
            }
            c => {
                if !plain_start(c) || (matches!(c, b'?' | b':' | b'-') && self.blankz(i + 1)) {
                    return Err(Declined);
                }
                let mut j = i;
                loop {
                    match self.at(j) {
                        b'\n' => return Ok(None),
                        0 if j >= self.b.len() => return Ok(None),
                        b'\t' => return Err(Declined),
                        b'#' if self.at(j - 1) == b' ' => return Ok(None),
                        b':' if self.blankz(j + 1) => break,
                        _ => j += 1,
                    }
                }
                let text = &self.text[i..j];
                // A plain `<<` is a merge key, which comes with aliases:
                // the library's work. A quoted one is an ordinary key.
                if text.ends_with(' ') || text.len() > MAX_KEY || text == "<<" {
                    return Err(Declined);
                }
                let key = match scalar::value(text) {
                    Some(Value::String(s)) => s,
                    Some(Value::Null) => "null".to_string(),
                    Some(v @ (Value::Bool(_) | Value::Number(_))) => v.to_string(),
                    _ => return Err(Declined),
                };
                Ok(Some((key, j + 1)))
            }
        }
    }

    /// A plain scalar on the rest of the line, up to a comment.
    fn plain(&mut self, i: usize) -> R<Value> {
        let c = self.at(i);
        if !plain_start(c) || (matches!(c, b'?' | b':' | b'-') && self.blankz(i + 1)) {
            return Err(Declined);
        }
        let mut j = i;
        let end = loop {
            match self.at(j) {
                b'\n' => break j,
                0 if j >= self.b.len() => break j,
                b'\t' => return Err(Declined),
                b'#' if self.at(j - 1) == b' ' => break j,
                // `a: b` inside a value is an error, `a:` a nested key.
                b':' if self.blankz(j + 1) => return Err(Declined),
                _ => j += 1,
            }
        };
        let text = self.text[i..end].trim_end_matches(' ');
        let value = scalar::value(text).ok_or(Declined)?;
        self.skip_line(end);
        Ok(value)
    }

    /// After a scalar: spaces, then a comment or the end of the line.
    fn end_of_line(&mut self, from: usize) -> R<()> {
        let mut i = from;
        while self.at(i) == b' ' {
            i += 1;
        }
        match self.at(i) {
            0 if i >= self.b.len() => {
                self.pos = i;
                Ok(())
            }
            b'\n' => {
                self.pos = i + 1;
                Ok(())
            }
            b'#' if i > from => {
                self.skip_line(i);
                Ok(())
            }
            _ => Err(Declined),
        }
    }

    /// A quoted scalar at `i` that ends on the same line: its value and the
    /// offset after the closing quote.
    fn quoted(&self, i: usize) -> R<(String, usize)> {
        if self.at(i) == b'\'' {
            self.single_quoted(i)
        } else {
            self.double_quoted(i)
        }
    }

    fn single_quoted(&self, i: usize) -> R<(String, usize)> {
        let mut out = String::new();
        let mut from = i + 1;
        let mut j = from;
        loop {
            match self.at(j) {
                b'\'' if self.at(j + 1) == b'\'' => {
                    out.push_str(&self.text[from..=j]);
                    j += 2;
                    from = j;
                }
                b'\'' => {
                    out.push_str(&self.text[from..j]);
                    return Ok((out, j + 1));
                }
                b'\n' => return Err(Declined),
                0 if j >= self.b.len() => return Err(Declined),
                _ => j += 1,
            }
        }
    }

    fn double_quoted(&self, i: usize) -> R<(String, usize)> {
        let mut out = String::new();
        let mut from = i + 1;
        let mut j = from;
        loop {
            match self.at(j) {
                b'"' => {
                    out.push_str(&self.text[from..j]);
                    return Ok((out, j + 1));
                }
                b'\\' => {
                    out.push_str(&self.text[from..j]);
                    let (c, len) = self.escape(j + 1)?;
                    out.push(c);
                    j += 1 + len;
                    from = j;
                }
                b'\n' => return Err(Declined),
                0 if j >= self.b.len() => return Err(Declined),
                _ => j += 1,
            }
        }
    }

    /// The escape after a backslash at `i - 1`: its character and how many
    /// bytes it takes after the backslash.
    fn escape(&self, i: usize) -> R<(char, usize)> {
        let c = match self.at(i) {
            b'0' => '\0',
            b'a' => '\u{7}',
            b'b' => '\u{8}',
            b't' | b'\t' => '\t',
            b'n' => '\n',
            b'v' => '\u{b}',
            b'f' => '\u{c}',
            b'r' => '\r',
            b'e' => '\u{1b}',
            b' ' => ' ',
            b'"' => '"',
            b'/' => '/',
            b'\\' => '\\',
            b'N' => '\u{85}',
            b'_' => '\u{a0}',
            b'L' => '\u{2028}',
            b'P' => '\u{2029}',
            b'x' => return self.hex_escape(i, 2),
            b'u' => return self.hex_escape(i, 4),
            b'U' => return self.hex_escape(i, 8),
            _ => return Err(Declined),
        };
        Ok((c, 1))
    }

    fn hex_escape(&self, i: usize, digits: usize) -> R<(char, usize)> {
        let hex = self.text.get(i + 1..i + 1 + digits).ok_or(Declined)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Declined);
        }
        let code = u32::from_str_radix(hex, 16).map_err(|_| Declined)?;
        let c = char::from_u32(code).ok_or(Declined)?;
        Ok((c, 1 + digits))
    }

    /// A literal block scalar whose `|` is at `i`, in a collection indented
    /// by `parent`. Leaves `pos` at the first line after it.
    fn literal(&mut self, i: usize, parent: usize) -> R<String> {
        // Header: `|`, then a chomping and an indentation indicator in
        // either order, each at most once.
        let mut j = i + 1;
        let mut chomp = 0i8; // -1 strip, 0 clip, 1 keep
        let mut explicit = None;
        for _ in 0..2 {
            match self.at(j) {
                b'-' if chomp == 0 => chomp = -1,
                b'+' if chomp == 0 => chomp = 1,
                d @ b'1'..=b'9' if explicit.is_none() => explicit = Some(usize::from(d - b'0')),
                _ => break,
            }
            j += 1;
        }
        if !self.blankz(j) {
            return Err(Declined);
        }
        self.end_of_line(j)?;

        let mut indent = explicit.map(|d| parent + d);
        let mut out = String::new();
        let mut leading_break = false;
        let mut trailing_breaks = 0usize;
        let mut max_blank = 0usize;
        let mut content = false;
        let len = self.b.len();
        while self.pos < len {
            let start = self.pos;
            let mut k = start;
            let limit = indent.unwrap_or(usize::MAX);
            while k - start < limit && self.at(k) == b' ' {
                k += 1;
            }
            let spaces = k - start;
            let c = self.at(k);
            if c == b'\n' {
                // An empty line (spaces up to the indentation are not
                // content).
                max_blank = max_blank.max(spaces);
                trailing_breaks += 1;
                self.pos = k + 1;
                continue;
            }
            if k >= len {
                self.pos = len;
                break;
            }
            if spaces < limit {
                // Not past the indentation: the end or, not knowing the
                // indentation yet, the first line of content.
                if c == b'\t' {
                    return Err(Declined);
                }
                if indent.is_some() || spaces <= parent {
                    // Less indented: the scalar is over.
                    break;
                }
                if max_blank > spaces {
                    return Err(Declined);
                }
                indent = Some(spaces);
            }
            // A line of content, after the indentation.
            if content && leading_break {
                out.push('\n');
            }
            for _ in 0..trailing_breaks {
                out.push('\n');
            }
            trailing_breaks = 0;
            content = true;
            let end = self.line_end(k);
            out.push_str(&self.text[k..end]);
            leading_break = end < len;
            self.pos = (end + 1).min(len);
        }
        if !content {
            if chomp == 1 {
                return Err(Declined);
            }
            return Ok(String::new());
        }
        if chomp >= 0 && leading_break {
            out.push('\n');
        }
        if chomp == 1 {
            for _ in 0..trailing_breaks {
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// A byte a plain scalar may start with in block context (`-`, `?` and `:`
/// only when not followed by a space, which callers check).
fn plain_start(c: u8) -> bool {
    !matches!(
        c,
        b',' | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b' '
            | b'\t'
            | b'\n'
            | 0
    )
}
