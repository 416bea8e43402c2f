//! `checksums.sha256`: one `<hex>  <entry>` line per entry, the format
//! `sha256sum` writes and `sha256sum -c` checks, so an extracted file can be
//! checked without distro.

use std::collections::BTreeMap;

use super::{CHECKSUMS, Error, is_sha256_hex};

/// Renders the checksums file: entries in the order given.
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, hex) in entries {
        out.push_str(hex);
        out.push_str("  ");
        out.push_str(name);
        out.push('\n');
    }
    out
}

/// Parses the checksums file into entry -> hex.
///
/// # Errors
/// A line that is not `<64 hex>  <name>` (text mode, as sha256sum writes
/// it; binary mode `<hex> *<name>` is accepted too), or a name listed twice.
pub fn parse(text: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    let text = std::str::from_utf8(text).map_err(|_| Error::invalid(CHECKSUMS, "not UTF-8"))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |why: &str| Error::invalid(CHECKSUMS, format!("line {}: {why}", i + 1));
        let (hex, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected `<sha256>  <entry>`"))?;
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| bad("expected two spaces between the checksum and the entry"))?;
        if !is_sha256_hex(hex) {
            return Err(bad("the checksum is not 64 lower-case hex digits"));
        }
        if name.is_empty() {
            return Err(bad("no entry name"));
        }
        if out.insert(name.to_string(), hex.to_string()).is_some() {
            return Err(bad(&format!("{name} is listed twice")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";

    #[test]
    fn round_trip() {
        let text = render([("oci-layout", A), ("blobs/sha256/x", A)]);
        assert_eq!(text, format!("{A}  oci-layout\n{A}  blobs/sha256/x\n"));
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["oci-layout"], A);
    }

    #[test]
    fn refuses_malformed_lines() {
        for bad in [
            format!("{A} oci-layout\n"),
            format!("{}  oci-layout\n", &A[1..]),
            format!("{}  oci-layout\n", A.to_uppercase()),
            format!("{A}  \n"),
            format!("{A}  x\n{A}  x\n"),
            "garbage\n".to_string(),
        ] {
            let e = parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.starts_with("entry checksums.sha256: line"), "{e}");
        }
        assert!(parse(format!("{A} *bin\n").as_bytes()).is_ok());
    }
}
