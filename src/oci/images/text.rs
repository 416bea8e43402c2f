//! References written inside text: an environment variable's value, a
//! flag (`--acme-http01-solver-image=quay.io/jetstack/...:v1.16.2`), a
//! list, a YAML or JSON document kept in a ConfigMap.
//!
//! # Rules
//! - A mention is a whole token: a longest run of the characters
//!   references are made of (letters, digits, `.`, `_`, `-`, `:`, `/`,
//!   `@`). Anything else ends it: spaces, `=`, `,`, `;`, quotes, brackets.
//!   So `quay.io/x/y:v1` is not mentioned by `quay.io/x/y:v1.2` nor by
//!   `quay.io/x/yz:v1`, and `registry/quay.io/x/y:v1` is another
//!   reference.
//! - A `scheme://` in front is not part of it (`docker://quay.io/x/y:v1`).
//!   Dots at the end are not either (a sentence's full stop).
//! - It must name its tag or digest. An untagged word (`nginx`, `web`,
//!   `app/config`) is far more often not an image at all.
//! - Any spelling counts (`nginx:1.25`, `docker.io/nginx:1.25`,
//!   `docker.io/library/nginx:1.25`): callers compare the normalised
//!   reference against images they know, so a token that merely looks like
//!   a reference (`localhost:8080`) is never taken for one.

use std::ops::Range;

use crate::oci::reference::Reference;

/// A reference found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Where it is, in bytes.
    pub range: Range<usize>,
    pub reference: Reference,
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@')
}

/// Every reference that `text` mentions, in order (see the module rules).
pub fn mentions(text: &str) -> Vec<Mention> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find(token_char) {
        let run = &rest[start..];
        let len = run.find(|c| !token_char(c)).unwrap_or(run.len());
        if let Some(mention) = token(&run[..len], offset + start) {
            out.push(mention);
        }
        offset += start + len;
        rest = &rest[start + len..];
    }
    out
}

/// The reference a token is, when it is one with a tag or digest.
fn token(token: &str, at: usize) -> Option<Mention> {
    // Quick refusals first: most tokens are words and numbers.
    if !token.contains([':', '@']) {
        return None;
    }
    let skip = token.rfind("://").map_or(0, |i| i + 3);
    let text = token[skip..].trim_end_matches('.');
    let last = text.rsplit('/').next().unwrap_or(text);
    if !(last.contains(':') || text.contains('@')) {
        return None;
    }
    let reference = Reference::parse(text).ok()?;
    Some(Mention {
        range: at + skip..at + skip + text.len(),
        reference,
    })
}

/// `text` with every mention that `replace` gives a new text for
/// replaced, or `None` when nothing was.
pub fn rewrite(
    text: &str,
    mut replace: impl FnMut(&Reference) -> Option<String>,
) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    for mention in mentions(text) {
        if let Some(new) = replace(&mention.reference) {
            out.push_str(&text[copied..mention.range.start]);
            out.push_str(&new);
            copied = mention.range.end;
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, String)> {
        mentions(text)
            .into_iter()
            .map(|m| (text[m.range].to_string(), m.reference.to_string()))
            .collect()
    }

    fn one(written: &str, normalised: &str) -> Vec<(String, String)> {
        vec![(written.to_string(), normalised.to_string())]
    }

    #[test]
    fn whole_values_flags_and_lists() {
        let solver = "quay.io/jetstack/cert-manager-acmesolver:v1.16.2";
        assert_eq!(found(solver), one(solver, solver));
        assert_eq!(
            found(&format!("--acme-http01-solver-image={solver}")),
            one(solver, solver)
        );
        assert_eq!(
            found("a:1,quay.io/b/c:2 docker.io/d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef;e:3"),
            [
                ("a:1".into(), "docker.io/library/a:1".into()),
                ("quay.io/b/c:2".into(), "quay.io/b/c:2".into()),
                (
                    "docker.io/d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
                    "docker.io/library/d@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into()
                ),
                ("e:3".into(), "docker.io/library/e:3".into()),
            ]
        );
        // Docker Hub's short spellings are read as Docker reads them.
        assert_eq!(
            found("victoriametrics/operator:config-reloader-v0.51.3"),
            one(
                "victoriametrics/operator:config-reloader-v0.51.3",
                "docker.io/victoriametrics/operator:config-reloader-v0.51.3"
            )
        );
    }

    #[test]
    fn embedded_yaml_and_json() {
        let yaml =
            "images:\n  - image: quay.io/a/b:v1\n    pull: \"quay.io/a/c:v2\"\n# quay.io/a/d:v3.\n";
        let got: Vec<String> = found(yaml).into_iter().map(|(w, _)| w).collect();
        assert_eq!(got, ["quay.io/a/b:v1", "quay.io/a/c:v2", "quay.io/a/d:v3"]);
        let json = r#"{"image":"quay.io/a/b:v1","list":["ghcr.io/x/y:2"]}"#;
        let got: Vec<String> = found(json).into_iter().map(|(w, _)| w).collect();
        assert_eq!(got, ["quay.io/a/b:v1", "ghcr.io/x/y:2"]);
        assert_eq!(
            found("from docker://quay.io/a/b:v1 on"),
            one("quay.io/a/b:v1", "quay.io/a/b:v1")
        );
    }

    #[test]
    fn boundaries_are_strict() {
        for (text, want) in [
            ("quay.io/x/y:v1.2", "quay.io/x/y:v1.2"),
            ("quay.io/x/yz:v1", "quay.io/x/yz:v1"),
            ("mirror/quay.io/x/y:v1", "docker.io/mirror/quay.io/x/y:v1"),
            ("quay.io/x/y:v1-debug", "quay.io/x/y:v1-debug"),
        ] {
            let got = found(text);
            assert_eq!(got.len(), 1, "{text}: {got:?}");
            assert_eq!(got[0].1, want, "{text}");
            assert_ne!(got[0].1, "quay.io/x/y:v1", "{text}");
        }
    }

    #[test]
    fn words_paths_and_addresses_are_not_mentions() {
        for text in [
            "nginx",
            "quay.io/x/y",
            "app.kubernetes.io/name",
            "https://quay.io/repository/x/y?tab=tags",
            "10.0.0.1",
            "user@example",
            "--port=8443",
            "a::b",
            "Bad/Upper:v1",
            "",
            ":::",
        ] {
            assert_eq!(found(text), [], "{text:?}");
        }
        // A host and port reads as a reference, which is why callers only
        // take mentions of images they know.
        assert_eq!(found("localhost:8080").len(), 1);
    }

    #[test]
    fn rewrite_replaces_only_what_it_is_given() {
        let text = "--a=quay.io/x/y:v1 --b=quay.io/x/y:v1.2,quay.io/x/y:v1";
        let new = rewrite(text, |r| {
            (r.to_string() == "quay.io/x/y:v1").then(|| "m.local/x/y@sha256:1".to_string())
        });
        assert_eq!(
            new.as_deref(),
            Some("--a=m.local/x/y@sha256:1 --b=quay.io/x/y:v1.2,m.local/x/y@sha256:1")
        );
        assert_eq!(rewrite(text, |_| None), None);
        assert_eq!(rewrite("", |_| Some("x".into())), None);
    }
}
