//! A YAML writer for JSON values, byte-for-byte compatible with the
//! library writer in `library.rs` (libyaml's emitter with unlimited width,
//! plus the YAML 1.1 quoting below) for every document it accepts, and
//! several times faster.
//!
//! Block style throughout: `key: value` maps, sequences whose `- ` sits at
//! the indentation of the key that holds them, `{}` and `[]` for empty
//! collections. A string is written plain when no YAML 1.1 or 1.2 reader
//! can read it back as anything else, single-quoted when one would read it
//! as a number, boolean, null or timestamp ([`must_quote`]), as a literal
//! block (`|`, `|-`, `|+`, `|2-`, ...) when it spans lines and a block can
//! hold it, and double-quoted (with escapes) otherwise.
//!
//! Documents this writer does not handle, so that the caller falls back to
//! the library: a top-level scalar, a key that is longer than 128 bytes or
//! spans lines (libyaml writes those as `? key`), and a single-quoted or
//! literal string containing U+2028 or U+2029 (which libyaml writes raw).

use serde_json::{Map, Number, Value};

/// libyaml's `best_indent`.
const INDENT: usize = 2;
/// libyaml writes keys longer than this (in bytes) as explicit `? key`.
const MAX_SIMPLE_KEY: usize = 128;

/// The document cannot be written here; use the library instead.
#[derive(Debug)]
pub struct Unsupported;

/// Appends `value` as one YAML document (no leading `---`, ending in a
/// newline) to `out`. On `Err`, `out` is left as it was.
pub fn document(out: &mut String, value: &Value) -> Result<(), Unsupported> {
    let start = out.len();
    let mut emitter = Emitter { out, start };
    let result = emitter.root(value);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

struct Emitter<'o> {
    out: &'o mut String,
    /// Where this document starts in `out`.
    start: usize,
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

impl Emitter<'_> {
    fn root(&mut self, value: &Value) -> Result<(), Unsupported> {
        match value {
            Value::Object(map) if map.is_empty() => self.out.push_str("{}"),
            Value::Array(items) if items.is_empty() => self.out.push_str("[]"),
            Value::Object(map) => self.map(map, 0, false)?,
            Value::Array(items) => self.seq(items, 0, false)?,
            _ => return Err(Unsupported),
        }
        if !self.at_line_start() {
            self.out.push('\n');
        }
        Ok(())
    }

    fn at_line_start(&self) -> bool {
        self.out.len() == self.start || self.out.ends_with('\n')
    }

    /// libyaml's `write_indent` for a node at `indent`: a new line unless at
    /// the start of one, then spaces. Right after a sequence's `-` the node
    /// goes on the same line, one space further.
    fn indent(&mut self, indent: usize, after_dash: bool) {
        if after_dash {
            self.out.push(' ');
            return;
        }
        if !self.at_line_start() {
            self.out.push('\n');
        }
        pad(self.out, indent);
    }

    fn map(
        &mut self,
        map: &Map<String, Value>,
        indent: usize,
        after_dash: bool,
    ) -> Result<(), Unsupported> {
        let mut first = true;
        for (key, value) in map {
            self.indent(indent, first && after_dash);
            first = false;
            self.key(key)?;
            self.out.push(':');
            match value {
                Value::Object(m) if !m.is_empty() => self.map(m, indent + INDENT, false)?,
                // A sequence in a map is not indented further.
                Value::Array(a) if !a.is_empty() => self.seq(a, indent, false)?,
                _ => self.inline(value, indent + INDENT)?,
            }
        }
        Ok(())
    }

    fn seq(&mut self, items: &[Value], indent: usize, after_dash: bool) -> Result<(), Unsupported> {
        let mut first = true;
        for item in items {
            self.indent(indent, first && after_dash);
            first = false;
            self.out.push('-');
            match item {
                Value::Object(m) if !m.is_empty() => self.map(m, indent + INDENT, true)?,
                Value::Array(a) if !a.is_empty() => self.seq(a, indent + INDENT, true)?,
                _ => self.inline(item, indent + INDENT)?,
            }
        }
        Ok(())
    }

    /// A scalar or an empty collection after `key:` or `-`, preceded by a
    /// space. `indent` is where the lines of a block scalar go.
    fn inline(&mut self, value: &Value, indent: usize) -> Result<(), Unsupported> {
        self.out.push(' ');
        match value {
            Value::Null => self.out.push_str("null"),
            Value::Bool(true) => self.out.push_str("true"),
            Value::Bool(false) => self.out.push_str("false"),
            Value::Number(n) => number(self.out, n),
            Value::String(s) => self.string(s, indent)?,
            Value::Object(_) => self.out.push_str("{}"),
            Value::Array(_) => self.out.push_str("[]"),
        }
        Ok(())
    }

    fn key(&mut self, key: &str) -> Result<(), Unsupported> {
        let analysis = analyze(key);
        if analysis.multiline || key.len() > MAX_SIMPLE_KEY {
            return Err(Unsupported);
        }
        let mut style = if must_quote(key) {
            Style::SingleQuoted
        } else {
            Style::Plain
        };
        if style == Style::Plain && (!analysis.block_plain || key.is_empty()) {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && !analysis.single_quoted {
            style = Style::DoubleQuoted;
        }
        self.write(key, style, 0)
    }

    fn string(&mut self, s: &str, indent: usize) -> Result<(), Unsupported> {
        let analysis = analyze(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if must_quote(s) {
            Style::SingleQuoted
        } else {
            Style::Plain
        };
        if style == Style::Plain && !analysis.block_plain {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && !analysis.single_quoted {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal && !analysis.block {
            style = Style::DoubleQuoted;
        }
        self.write(s, style, indent)
    }

    fn write(&mut self, s: &str, style: Style, indent: usize) -> Result<(), Unsupported> {
        match style {
            Style::Plain => self.out.push_str(s),
            Style::SingleQuoted => {
                if has_raw_break(s) {
                    return Err(Unsupported);
                }
                single_quoted(self.out, s);
            }
            Style::DoubleQuoted => double_quoted(self.out, s),
            Style::Literal => {
                if has_raw_break(s) {
                    return Err(Unsupported);
                }
                self.literal(s, indent);
            }
        }
        Ok(())
    }

    /// A literal block: `|`, an indentation hint when the text starts with a
    /// space or a line break, a chomping hint, then the lines at `indent`
    /// (empty lines stay empty).
    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push(char::from(b'0' + INDENT as u8));
        }
        if !s.ends_with('\n') {
            self.out.push('-');
        } else if s == "\n" || s.ends_with("\n\n") {
            self.out.push('+');
        }
        self.out.push('\n');
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                self.out.push('\n');
            }
            if !line.is_empty() {
                pad(self.out, indent);
                self.out.push_str(line);
            }
        }
    }
}

/// Whether a string that could be written plain must be quoted instead:
/// the library (YAML 1.2) or a YAML 1.1 reader such as kubectl's would
/// read it plain as something else.
pub fn must_quote(s: &str) -> bool {
    super::scalar::plain_is_not_a_string(s) || super::yaml11::plain_is_not_a_string(s)
}

fn pad(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut n = n;
    while n > SPACES.len() {
        out.push_str(SPACES);
        n -= SPACES.len();
    }
    out.push_str(&SPACES[..n]);
}

fn number(out: &mut String, n: &Number) {
    if let Some(u) = n.as_u64() {
        out.push_str(itoa::Buffer::new().format(u));
    } else if let Some(i) = n.as_i64() {
        out.push_str(itoa::Buffer::new().format(i));
    } else if let Some(f) = n.as_f64() {
        if f.is_finite() {
            out.push_str(ryu::Buffer::new().format_finite(f));
        } else if f.is_nan() {
            out.push_str(".nan");
        } else if f > 0.0 {
            out.push_str(".inf");
        } else {
            out.push_str("-.inf");
        }
    }
}

/// Line breaks libyaml would copy into single-quoted and literal scalars as
/// they are, and that this writer leaves to it.
fn has_raw_break(s: &str) -> bool {
    !s.is_ascii() && s.contains(['\u{2028}', '\u{2029}'])
}

fn single_quoted(out: &mut String, s: &str) {
    out.push('\'');
    let mut rest = s;
    while let Some(i) = rest.find('\'') {
        out.push_str(&rest[..=i]);
        out.push('\'');
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('\'');
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        if !needs_escape(c) {
            continue;
        }
        out.push_str(&s[plain_from..i]);
        plain_from = i + c.len_utf8();
        out.push('\\');
        let short = match c {
            '\0' => Some('0'),
            '\u{7}' => Some('a'),
            '\u{8}' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\u{b}' => Some('v'),
            '\u{c}' => Some('f'),
            '\r' => Some('r'),
            '\u{1b}' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{a0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        match short {
            Some(e) => out.push(e),
            None => {
                let code = u32::from(c);
                let (marker, digits) = match code {
                    0..=0xFF => ('x', 2),
                    0x100..=0xFFFF => ('u', 4),
                    _ => ('U', 8),
                };
                out.push(marker);
                for k in (0..digits).rev() {
                    let digit = (code >> (k * 4)) & 0xF;
                    out.push(char::from_digit(digit, 16).map_or('0', |d| d.to_ascii_uppercase()));
                }
            }
        }
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

fn needs_escape(c: char) -> bool {
    !printable(c) || is_break(c) || c == '"' || c == '\\'
}

/// libyaml's `IS_PRINTABLE` (which also rules out the byte order mark).
fn printable(c: char) -> bool {
    matches!(c,
        '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// libyaml's `IS_BREAK`.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `IS_BLANKZ` (the string it analyses ends in a NUL byte).
fn is_blankz(c: Option<char>) -> bool {
    match c {
        None | Some(' ' | '\t' | '\0') => true,
        Some(c) => is_break(c),
    }
}

/// What libyaml's `yaml_emitter_analyze_scalar` finds, for block context.
pub(super) struct Analysis {
    multiline: bool,
    /// The string may be written plain (if it reads back as itself).
    pub(super) block_plain: bool,
    single_quoted: bool,
    block: bool,
}

pub(super) fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain: true,
            single_quoted: true,
            block: false,
        };
    }
    if simple_ascii(s) {
        return Analysis {
            multiline: false,
            block_plain: true,
            single_quoted: true,
            block: true,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;
    let mut preceded_by_whitespace = true;
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_whitespace = is_blankz(next);
        let last = next.is_none();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !printable(c) {
            special = true;
        }
        let brk = is_break(c);
        if brk {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if brk {
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(Some(c));
        first = false;
    }
    let mut block_plain = true;
    let mut single_quoted = true;
    let mut block = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain = false;
    }
    if trailing_space {
        block = false;
    }
    if break_space {
        block_plain = false;
        single_quoted = false;
    }
    if space_break || special {
        block_plain = false;
        single_quoted = false;
        block = false;
    }
    if line_breaks || block_indicators {
        block_plain = false;
    }
    Analysis {
        multiline: line_breaks,
        block_plain,
        single_quoted,
        block,
    }
}

/// A non-empty string that libyaml writes plain in block context: printable
/// ASCII, no leading or trailing space, no indicator at the start, no `: `
/// or ` #` inside, no `:` at the end. Most keys and values are like this;
/// a few quick passes over the bytes save the full analysis.
fn simple_ascii(s: &str) -> bool {
    let b = s.as_bytes();
    let indicator = match b[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' | b' ' => true,
        // Indicators only when a space (or the end) follows; `---` starts a
        // document.
        b'-' | b'?' | b':' => b.len() < 2 || b[1] == b' ' || s.starts_with("---"),
        b'.' => s.starts_with("..."),
        _ => false,
    };
    if indicator || b[b.len() - 1] == b' ' || b[b.len() - 1] == b':' {
        return false;
    }
    // Two simple passes are faster than one loop tracking the previous
    // byte. The pairs are compared as bytes: a substring search on strings
    // this short compares each window with a library call.
    b.iter().all(|&c| c.wrapping_sub(b' ') < 0x5F)
        && !b
            .windows(2)
            .any(|w| (w[0] == b':' && w[1] == b' ') || (w[0] == b' ' && w[1] == b'#'))
}
