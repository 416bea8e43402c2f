//! The distribution spec's grammar for each part of a reference, and the
//! host helpers the registry client needs.

use super::{Error, MAX_NAME, MAX_TAG};

/// `host[:port]`: DNS labels separated by dots, or a bracketed IPv6
/// address, then an optional port of 1 to 65535.
pub(crate) fn check_host(host: &str) -> Result<(), Error> {
    let bad = || Error::Host(host.to_string());
    if host.is_empty() || host.len() > MAX_NAME {
        return Err(bad());
    }
    let port = if let Some(inner) = host.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or_else(bad)?;
        address.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        }
    } else {
        let (name, port) = match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(label_ok) {
            return Err(bad());
        }
        port
    };
    if let Some(port) = port
        && (!port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().map_or(true, |p| p == 0))
    {
        return Err(bad());
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
pub(crate) fn check_component(component: &str) -> Result<(), Error> {
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::Uppercase(component.to_string()));
    }
    let bad = || Error::Component(component.to_string());
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or dashes; then a letter or digit.
        let start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return Err(bad()),
        }
        if i == start || !bytes.get(i).copied().is_some_and(alnum) {
            return Err(bad());
        }
    }
    Ok(())
}

/// Whether `tag` matches `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= MAX_TAG
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub(super) fn check_tag(tag: &str) -> Result<String, Error> {
    if is_tag(tag) {
        Ok(tag.to_string())
    } else {
        Err(Error::Tag(tag.to_string()))
    }
}

/// Only digests a registry can verify are taken: sha256 and sha512.
pub(crate) fn check_digest(digest: &str) -> Result<String, Error> {
    let ok = match digest.split_once(':') {
        Some(("sha256", hex)) => is_lower_hex(hex, 64),
        Some(("sha512", hex)) => is_lower_hex(hex, 128),
        _ => false,
    };
    if ok {
        Ok(digest.to_string())
    } else {
        Err(Error::Digest(digest.to_string()))
    }
}

/// Whether `digest` is `sha256:` and 64 lower-case hex digits, the only
/// algorithm distro writes, and what content is verified against.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| is_lower_hex(hex, 64))
}

fn is_lower_hex(hex: &str, len: usize) -> bool {
    hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `host` of `host:port` (and of `[::1]:port`).
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => registry,
    }
}

/// 127.0.0.0/8, `::1` and `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}
