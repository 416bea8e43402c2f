//! The `--secret-file` of `distro bootstrap`: Git credentials, turned into
//! the Secret that the Platform's `spec.source.git.secretRef` names, with
//! the keys the controller reads (`username`/`password`, `bearerToken`, or
//! `identity`/`known_hosts`).
//!
//! Two shapes, told apart by the first line:
//! - `KEY=VALUE` lines (blank lines and `#` comments allowed), with either
//!   `username` and `password` or `bearerToken`, for http(s) URLs;
//! - an SSH private key (`-----BEGIN ... PRIVATE KEY-----`), for ssh://
//!   URLs, with the server's host keys from `--known-hosts-file`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Larger files are refused: credentials are a few kilobytes at most.
pub const MAX_BYTES: u64 = 64 * 1024;

/// Git credentials for the Platform's Secret. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub enum GitSecret {
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
    Ssh {
        identity: String,
        known_hosts: String,
    },
}

impl std::fmt::Debug for GitSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GitSecret::Basic { .. } => "Basic(..)",
            GitSecret::Bearer(_) => "Bearer(..)",
            GitSecret::Ssh { .. } => "Ssh(..)",
        })
    }
}

impl GitSecret {
    /// The Secret's keys and values, as the controller reads them.
    pub fn data(&self) -> BTreeMap<&'static str, &str> {
        match self {
            GitSecret::Basic { username, password } => {
                BTreeMap::from([("username", username.as_str()), ("password", password)])
            }
            GitSecret::Bearer(token) => BTreeMap::from([("bearerToken", token.as_str())]),
            GitSecret::Ssh {
                identity,
                known_hosts,
            } => BTreeMap::from([
                ("identity", identity.as_str()),
                ("known_hosts", known_hosts),
            ]),
        }
    }

    /// Whether these credentials go with URLs of `scheme` (`https`, ...).
    pub fn fits(&self, scheme: &str) -> bool {
        match self {
            GitSecret::Basic { .. } | GitSecret::Bearer(_) => {
                matches!(scheme, "http" | "https")
            }
            GitSecret::Ssh { .. } => scheme == "ssh",
        }
    }
}

/// Reads a text file of at most [`MAX_BYTES`]. The message does not repeat
/// the path; the caller names the flag and the file.
pub fn read_small(path: &Path) -> Result<String, String> {
    read_limited(path, MAX_BYTES)
}

/// Reads a text file of at most `max` bytes, never more into memory.
///
/// # Errors
/// As [`read_small`].
pub fn read_limited(path: &Path, max: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("is larger than {max} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())
}

/// Parses the secret file's text. `known_hosts` is the text of
/// `--known-hosts-file`, needed by an SSH key only.
///
/// # Errors
/// What is wrong, with the line number where there is one; never the value
/// of a key.
pub fn parse(text: &str, known_hosts: Option<&str>) -> Result<GitSecret, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with("-----BEGIN ") {
        return ssh(text, known_hosts);
    }
    if known_hosts.is_some() {
        return Err("--known-hosts-file goes with an SSH private key, not KEY=VALUE lines".into());
    }
    let mut keys: BTreeMap<&str, String> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {n}: expected KEY=VALUE"));
        };
        let key = key.trim();
        let canonical = match key {
            "username" => "username",
            "password" => "password",
            "bearerToken" => "bearerToken",
            other => {
                return Err(format!(
                    "line {n}: unknown key {other:?} (expected username, password or bearerToken)"
                ));
            }
        };
        if value.is_empty() {
            return Err(format!("line {n}: {key} is empty"));
        }
        if keys.insert(canonical, value.to_string()).is_some() {
            return Err(format!("line {n}: {key} is given twice"));
        }
    }
    let token = keys.remove("bearerToken");
    let username = keys.remove("username");
    let password = keys.remove("password");
    match (token, username, password) {
        (Some(token), None, None) => Ok(GitSecret::Bearer(token)),
        (Some(_), _, _) => Err("bearerToken cannot be combined with username or password".into()),
        (None, Some(username), Some(password)) => Ok(GitSecret::Basic { username, password }),
        (None, Some(_), None) => Err("username needs a password".into()),
        (None, None, Some(_)) => Err("password needs a username".into()),
        (None, None, None) => {
            Err("holds no credentials (expected username= and password=, or bearerToken=)".into())
        }
    }
}

fn ssh(text: &str, known_hosts: Option<&str>) -> Result<GitSecret, String> {
    if !text.contains("PRIVATE KEY-----") {
        return Err("starts like a PEM file but is not a private key".into());
    }
    if text.contains("ENCRYPTED") {
        return Err("is an encrypted private key; the controller needs it unencrypted".into());
    }
    let Some(known_hosts) = known_hosts else {
        return Err(
            "is an SSH private key: give the server's host keys with --known-hosts-file".into(),
        );
    };
    if !known_hosts
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    {
        return Err("--known-hosts-file holds no host key".into());
    }
    Ok(GitSecret::Ssh {
        identity: text.to_string(),
        known_hosts: known_hosts.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_and_password_lines() {
        let s = parse(
            "# for the platform repo\nusername=deploy\npassword=a=b\n",
            None,
        )
        .unwrap();
        assert_eq!(
            s,
            GitSecret::Basic {
                username: "deploy".into(),
                password: "a=b".into()
            }
        );
        assert!(s.fits("https") && !s.fits("git") && !s.fits("ssh"));
        assert_eq!(s.data()["password"], "a=b");
    }

    #[test]
    fn a_bearer_token() {
        let s = parse("bearerToken=t0k\r\n", None).unwrap();
        assert_eq!(s, GitSecret::Bearer("t0k".into()));
    }

    #[test]
    fn bad_files_name_the_line_and_never_the_value() {
        for (text, want) in [
            ("username=a\n", "username needs a password"),
            ("password=hunter2\n", "password needs a username"),
            ("user=a\n", "line 1: unknown key \"user\""),
            ("\nusername\n", "line 2: expected KEY=VALUE"),
            (
                "username=a\nusername=b\npassword=p\n",
                "line 2: username is given twice",
            ),
            ("username=\n", "line 1: username is empty"),
            (
                "bearerToken=t\nusername=u\npassword=p\n",
                "cannot be combined",
            ),
            ("", "holds no credentials"),
        ] {
            let e = parse(text, None).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn an_ssh_key_needs_known_hosts() {
        let key =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(parse(key, None).unwrap_err().contains("--known-hosts-file"));
        assert!(
            parse(key, Some("# none\n"))
                .unwrap_err()
                .contains("no host key")
        );
        let s = parse(key, Some("git.example.com ssh-ed25519 AAAA\n")).unwrap();
        assert!(s.fits("ssh") && !s.fits("https"));
        assert_eq!(
            s.data().keys().copied().collect::<Vec<_>>(),
            ["identity", "known_hosts"]
        );
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(
            parse(encrypted, Some("h k v"))
                .unwrap_err()
                .contains("encrypted")
        );
        assert!(
            parse("username=a\npassword=b\n", Some("h k v"))
                .unwrap_err()
                .contains("goes with an SSH private key")
        );
    }

    #[test]
    fn debug_hides_the_values() {
        let s = GitSecret::Bearer("t0k".into());
        assert_eq!(format!("{s:?}"), "Bearer(..)");
    }
}
