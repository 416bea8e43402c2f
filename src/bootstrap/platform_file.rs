//! The platform file as `distro bootstrap` reads it without `--git`: its
//! `source:` (Git URL and ref, or OCI artifact) and `source.git.path`
//! become the Platform's `spec.source` and `spec.path`, its `interval:`
//! the Platform's `spec.interval`. Only this file is read, not the
//! distribution around it: the controller reads that from the source.

use std::path::Path;

use super::Source;
use crate::model::{Error, Platform};
use crate::source::git::GitRef;

/// Larger files are refused before they are parsed.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// What the platform file says about where the controller reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub source: Source,
    /// `source.git.path`: the repository's directory that holds the file.
    pub path: Option<String>,
    /// `interval`, as written.
    pub interval: Option<String>,
}

/// Reads the source, path and interval of the platform file at `path`.
///
/// # Errors
/// Naming the file: it cannot be read, is too large, is not a platform
/// file, or names no source (or an ambiguous one).
pub fn read(path: &Path) -> Result<FileSource, Error> {
    let file = path.display().to_string();
    let text = super::secret::read_limited(path, MAX_BYTES)
        .map_err(|reason| Error::file(file.clone(), reason))?;
    // The strict reader first: it refuses repeated keys, which the typed
    // reader would silently resolve.
    let yaml = |error| Error::Yaml {
        file: file.clone(),
        error,
    };
    crate::yaml::parse_value(&text, 0).map_err(yaml)?;
    let platform: Platform = crate::yaml::parse(&text, 0).map_err(yaml)?;
    from_platform(&file, platform)
}

fn from_platform(file: &str, platform: Platform) -> Result<FileSource, Error> {
    let bad = |message: &str| Error::file(file, message);
    let Some(source) = platform.source else {
        return Err(bad(
            "no source: give --git URL, or set source.git.url (or source.oci.url) in the platform file",
        ));
    };
    match (source.git, source.oci) {
        (Some(git), None) => {
            let reference = match (git.branch, git.tag, git.commit) {
                (None, None, None) => GitRef::Branch("main".into()),
                (Some(branch), None, None) => GitRef::Branch(branch),
                (None, Some(tag), None) => GitRef::Tag(tag),
                (None, None, Some(commit)) => GitRef::Commit(commit),
                _ => return Err(bad("source.git: set at most one of branch, tag, commit")),
            };
            Ok(FileSource {
                source: Source::Git {
                    url: git.url,
                    reference,
                },
                path: git.path,
                interval: platform.interval,
            })
        }
        (None, Some(oci)) => Ok(FileSource {
            source: Source::oci(&oci.url).map_err(|m| bad(&format!("source.oci.url: {m}")))?,
            path: None,
            interval: platform.interval,
        }),
        _ => Err(bad("source: set exactly one of git, oci")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileSource, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.yaml");
        std::fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn a_git_source_with_its_ref_path_and_interval() {
        let got = parse(
            "name: p\nbundle: main\ninterval: 10m\nsource:\n  git:\n    url: https://git.example.com/p.git\n    tag: v1.0.0\n    path: clusters/prod\n",
        )
        .unwrap();
        assert_eq!(
            got,
            FileSource {
                source: Source::Git {
                    url: "https://git.example.com/p.git".into(),
                    reference: GitRef::Tag("v1.0.0".into()),
                },
                path: Some("clusters/prod".into()),
                interval: Some("10m".into()),
            }
        );
        let got =
            parse("bundle: main\nsource: {git: {url: https://g.example.com/p.git}}\n").unwrap();
        assert_eq!(
            got.source,
            Source::Git {
                url: "https://g.example.com/p.git".into(),
                reference: GitRef::Branch("main".into()),
            }
        );
        assert_eq!((got.path, got.interval), (None, None));
    }

    #[test]
    fn an_oci_source() {
        let got =
            parse("bundle: main\nsource: {oci: {url: \"oci://r.example.com/p:v3\"}}\n").unwrap();
        assert_eq!(
            got.source,
            Source::Oci {
                url: "oci://r.example.com/p".into(),
                tag: Some("v3".into()),
                digest: None,
            }
        );
    }

    #[test]
    fn what_gives_no_source_names_the_file() {
        for (text, expected) in [
            ("bundle: main\n", "no source: give --git URL"),
            ("bundle: main\nsource: {}\n", "set exactly one of git, oci"),
            (
                "bundle: main\nsource: {git: {url: https://g/p.git}, oci: {url: \"oci://r/p\"}}\n",
                "set exactly one of git, oci",
            ),
            (
                "bundle: main\nsource: {git: {url: https://g/p.git, branch: a, tag: b}}\n",
                "at most one of branch, tag, commit",
            ),
            (
                "bundle: main\nsource: {oci: {url: https://r/p}}\n",
                "source.oci.url:",
            ),
            ("bundle: main\nsorce: {}\n", "sorce"),
            ("bundle: main\nbundle: other\n", "platform.yaml:2"),
            ("- a list\n", "platform.yaml"),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(
                message.contains("platform.yaml") && message.contains(expected),
                "{text:?}: {message}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = read(&dir.path().join("platform.yaml")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, "#".repeat(MAX_BYTES as usize + 1)).unwrap();
        assert!(read(&big).unwrap_err().to_string().contains("larger than"));
    }
}
