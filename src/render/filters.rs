//! Helm-like filters and functions for Tera, so chart authors feel at home.
//!
//! Every argument is a keyword argument (`indent(width=4)`), Tera's rule.
//! Where Helm's behaviour is a known trap it is not copied, and the doc says so.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tera::{Error, Kwargs, State, Tera, TeraResult, Value};

/// Registers every filter and function on an engine.
pub fn register(tera: &mut Tera) {
    tera.register_filter("to_yaml", to_yaml);
    tera.register_filter("to_json", to_json);
    tera.register_filter("from_yaml", from_yaml);
    tera.register_filter("from_json", from_yaml);
    tera.register_filter("indent", indent);
    tera.register_filter("nindent", nindent);
    tera.register_filter("quote", quote);
    tera.register_filter("squote", squote);
    tera.register_filter("b64enc", b64enc);
    tera.register_filter("b64dec", b64dec);
    tera.register_filter("sha256sum", sha256sum);
    tera.register_filter("default", default);
    tera.register_filter("required", required);
    tera.register_filter("trunc", trunc);
    tera.register_filter("trim_suffix", trim_suffix);
    tera.register_filter("trim_prefix", trim_prefix);
    tera.register_filter("merge", merge);
    tera.register_function("fail", fail);
}

/// Whether a value counts as "not set" for `default` and `required`:
/// undefined, null, or an empty string, list or map. Unlike Helm, `false`
/// and `0` are real values, so `enabled: false` is never overridden.
fn is_empty(v: &Value) -> bool {
    v.is_undefined()
        || v.is_none()
        || v.as_str().is_some_and(str::is_empty)
        || v.as_array().is_some_and(<[Value]>::is_empty)
        || v.as_map().is_some_and(|m| m.is_empty())
}

fn to_yaml(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    let mut text = match json(v) {
        // The fast writer gives the library's bytes for JSON values.
        Some(json) => crate::yaml::to_string(&json),
        None => crate::yaml::to_string_serialize(v)
            .map_err(|e| Error::message(format!("to_yaml: {e}")))?,
    };
    text.truncate(text.trim_end_matches('\n').len());
    Ok(text)
}

/// The JSON value that the YAML library writes exactly as it writes `v`, or
/// `None` when there is none: non-string map keys, 128-bit integers,
/// non-finite floats and bytes, which JSON values hold differently or not
/// at all.
fn json(v: &Value) -> Option<serde_json::Value> {
    Some(if v.is_none() || v.is_undefined() {
        serde_json::Value::Null
    } else if let Some(b) = v.as_bool() {
        serde_json::Value::Bool(b)
    } else if let Some(s) = v.as_str() {
        serde_json::Value::String(s.to_string())
    } else if v.is_u64() {
        serde_json::Value::from(v.as_u64()?)
    } else if v.is_i64() {
        serde_json::Value::from(v.as_i64()?)
    } else if v.is_f64() {
        serde_json::Number::from_f64(v.as_f64()?).map(serde_json::Value::Number)?
    } else if let Some(items) = v.as_array() {
        serde_json::Value::Array(items.iter().map(json).collect::<Option<_>>()?)
    } else if let Some(map) = v.as_map() {
        let mut out = serde_json::Map::with_capacity(map.len());
        for (key, value) in map {
            out.insert(key.as_str()?.to_string(), json(value)?);
        }
        serde_json::Value::Object(out)
    } else {
        return None;
    })
}

fn to_json(v: &Value, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    let pretty = kwargs.get::<bool>("pretty")?.unwrap_or(false);
    let out = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    };
    out.map_err(|e| Error::message(format!("to_json: {e}")))
}

fn from_yaml(v: &str, _: Kwargs, _: &State) -> TeraResult<Value> {
    // The same reader as values files: merge keys merged, duplicate keys
    // refused, a byte order mark ignored.
    let parsed = crate::yaml::parse_value(v, 0)
        .map_err(|e| Error::message(format!("from_yaml: {}", e.message)))?;
    Ok(Value::from_serializable(&parsed))
}

/// Indents every non-empty line by `width` spaces (Helm's `indent`, without
/// the trailing spaces Helm leaves on blank lines).
fn indent_text(text: &str, width: usize) -> String {
    let pad = " ".repeat(width);
    let mut out = String::with_capacity(text.len() + width * 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

fn width(kwargs: &Kwargs) -> TeraResult<usize> {
    Ok(kwargs.must_get::<usize>("width")?.min(1000))
}

fn indent(v: &Value, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    Ok(indent_text(&display(v), width(&kwargs)?))
}

fn nindent(v: &Value, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    Ok(format!("\n{}", indent_text(&display(v), width(&kwargs)?)))
}

/// How a value prints in a template: strings bare, everything else as JSON.
fn display(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None if v.is_none() || v.is_undefined() => String::new(),
        None => v.to_string(),
    }
}

/// Double-quoted, escaped so that the result is always a valid YAML string.
fn quote(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    serde_json::to_string(&display(v)).map_err(|e| Error::message(e.to_string()))
}

fn squote(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    Ok(format!("'{}'", display(v).replace('\'', "''")))
}

fn b64enc(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    Ok(base64::engine::general_purpose::STANDARD.encode(display(v)))
}

fn b64dec(v: &str, _: Kwargs, _: &State) -> TeraResult<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|e| Error::message(format!("b64dec: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Error::message("b64dec: decoded bytes are not UTF-8"))
}

fn sha256sum(v: &Value, _: Kwargs, _: &State) -> TeraResult<String> {
    Ok(crate::source::hex(&Sha256::digest(display(v).as_bytes())))
}

fn default(v: Value, kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    let fallback = kwargs.must_get::<Value>("value")?;
    Ok(if is_empty(&v) { fallback } else { v })
}

fn required(v: Value, kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    if is_empty(&v) {
        let msg = kwargs
            .get::<&str>("msg")?
            .unwrap_or("a required value is not set");
        return Err(Error::message(msg));
    }
    Ok(v)
}

/// Keeps the first `length` characters; a negative length keeps the last ones.
fn trunc(v: &str, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    let length = kwargs.must_get::<i64>("length")?;
    let chars: Vec<char> = v.chars().collect();
    let n = usize::try_from(length.unsigned_abs())
        .unwrap_or(usize::MAX)
        .min(chars.len());
    Ok(if length >= 0 {
        chars[..n].iter().collect()
    } else {
        chars[chars.len() - n..].iter().collect()
    })
}

fn trim_suffix(v: &str, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    let suffix = kwargs.must_get::<&str>("suffix")?;
    Ok(v.strip_suffix(suffix).unwrap_or(v).to_string())
}

fn trim_prefix(v: &str, kwargs: Kwargs, _: &State) -> TeraResult<String> {
    let prefix = kwargs.must_get::<&str>("prefix")?;
    Ok(v.strip_prefix(prefix).unwrap_or(v).to_string())
}

/// Deep-merges `with` over the value, with the same rules as values files.
fn merge(v: &Value, kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    let with = kwargs.must_get::<Value>("with")?;
    let to_json =
        |v: &Value| serde_json::to_value(v).map_err(|e| Error::message(format!("merge: {e}")));
    let mut base = to_json(v)?;
    crate::model::values::merge(&mut base, &to_json(&with)?);
    Ok(Value::from_serializable(&base))
}

fn fail(kwargs: Kwargs, _: &State) -> TeraResult<Value> {
    let msg = kwargs.get::<&str>("msg")?.unwrap_or("fail() called");
    Err(Error::message(msg))
}

#[cfg(test)]
mod tests {
    use tera::{Context, Tera};

    fn render(template: &str, values: serde_json::Value) -> Result<String, String> {
        let mut tera = Tera::default();
        tera.autoescape_on(Vec::<&str>::new());
        super::register(&mut tera);
        tera.add_raw_template("t", template)
            .map_err(|e| e.to_string())?;
        let mut ctx = Context::new();
        ctx.insert("values", &values);
        tera.render("t", &ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn yaml_and_indent() {
        let out = render(
            "spec:{{ values.r | to_yaml | nindent(width=2) }}",
            serde_json::json!({"r": {"cpu": "1", "mem": "2Gi"}}),
        )
        .unwrap();
        assert_eq!(out, "spec:\n  cpu: '1'\n  mem: 2Gi");
        assert_eq!(
            render(
                "{{ values.s | indent(width=2) }}",
                serde_json::json!({"s": "a\n\nb"})
            )
            .unwrap(),
            "  a\n\n  b"
        );
    }

    #[test]
    fn to_yaml_writes_what_the_library_writes() {
        let values = [
            serde_json::json!({"a": {"b": [1, -2, 1.5, "x", "", "0123", "yes", null, true]}}),
            serde_json::json!({"multi": "line 1\nline 2\n", "keep": "a\n\n", "q": "it's: \"x\""}),
            serde_json::json!([{"k": []}, {"k": {}}, [[]], "- dash", " lead", "tab\t"]),
            serde_json::json!({"unicode": "é 😀", "ctrl": "\u{7}", "sep": "a\u{2028}b", "big": u64::MAX}),
            serde_json::json!("scalar"),
            serde_json::json!(12),
            serde_json::json!(null),
            serde_json::json!({}),
        ];
        for value in values {
            let got = render(
                "{{ values.v | to_yaml }}",
                serde_json::json!({ "v": value }),
            )
            .unwrap();
            // The same value as the library reads it back; strings a YAML
            // 1.1 reader would take for something else are quoted.
            let back: serde_json::Value = serde_yaml_ng::from_str(&got).unwrap();
            assert_eq!(back, value, "{got}");
            assert!(!got.contains("- yes"), "{got}");
        }
    }

    #[test]
    fn json_quote_and_encodings() {
        let v = serde_json::json!({"m": {"a": 1}, "s": "he said \"hi\"", "t": "it's"});
        assert_eq!(
            render("{{ values.m | to_json }}", v.clone()).unwrap(),
            r#"{"a":1}"#
        );
        assert_eq!(
            render("{{ values.s | quote }}", v.clone()).unwrap(),
            r#""he said \"hi\"""#
        );
        assert_eq!(
            render("{{ values.t | squote }}", v.clone()).unwrap(),
            "'it''s'"
        );
        assert_eq!(
            render("{{ 'hello' | b64enc }}", v.clone()).unwrap(),
            "aGVsbG8="
        );
        assert_eq!(
            render("{{ 'aGVsbG8=' | b64dec }}", v.clone()).unwrap(),
            "hello"
        );
        assert_eq!(
            render("{{ 'abc' | sha256sum }}", v).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn default_and_required() {
        let v = serde_json::json!({"empty": "", "null": null, "off": false, "set": "x"});
        assert_eq!(
            render("{{ values.empty | default(value='d') }}", v.clone()).unwrap(),
            "d"
        );
        assert_eq!(
            render("{{ values.null | default(value='d') }}", v.clone()).unwrap(),
            "d"
        );
        assert_eq!(
            render("{{ values.nope | default(value='d') }}", v.clone()).unwrap(),
            "d"
        );
        assert_eq!(
            render("{{ values.off | default(value=true) }}", v.clone()).unwrap(),
            "false"
        );
        assert_eq!(
            render("{{ values.set | required(msg='need set') }}", v.clone()).unwrap(),
            "x"
        );
        let err = render("{{ values.null | required(msg='need null') }}", v.clone()).unwrap_err();
        assert!(err.contains("need null"), "{err}");
        let err = render("{{ fail(msg='stop here') }}", v).unwrap_err();
        assert!(err.contains("stop here"), "{err}");
    }

    #[test]
    fn trunc_trim_merge() {
        let v = serde_json::json!({"a": {"x": 1, "y": 2}, "b": {"y": 3}});
        assert_eq!(
            render("{{ 'abcdef' | trunc(length=3) }}", v.clone()).unwrap(),
            "abc"
        );
        assert_eq!(
            render("{{ 'abcdef' | trunc(length=-2) }}", v.clone()).unwrap(),
            "ef"
        );
        assert_eq!(
            render("{{ 'abc' | trunc(length=10) }}", v.clone()).unwrap(),
            "abc"
        );
        assert_eq!(
            render("{{ 'app.yaml' | trim_suffix(suffix='.yaml') }}", v.clone()).unwrap(),
            "app"
        );
        assert_eq!(
            render("{{ 'v1.2' | trim_prefix(prefix='v') }}", v.clone()).unwrap(),
            "1.2"
        );
        assert_eq!(
            render("{{ values.a | merge(with=values.b) | to_json }}", v).unwrap(),
            r#"{"x":1,"y":3}"#
        );
    }
}
