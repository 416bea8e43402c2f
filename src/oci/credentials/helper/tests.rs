//! Helpers are real shell scripts in a temporary directory that is the
//! whole search path, so tests do not touch this process's `PATH`.

use std::os::unix::fs::PermissionsExt as _;

use super::*;

/// A directory holding `docker-credential-test` with `body` as its script.
fn helper_dir(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker-credential-test");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn helpers(dir: &Path, timeout: Duration) -> Helpers {
    Helpers {
        search_path: dir.as_os_str().to_owned(),
        timeout,
    }
}

fn get(body: &str, server: &str) -> Result<Credentials, Error> {
    let dir = helper_dir(body);
    helpers(dir.path(), DEFAULT_TIMEOUT).get("test", server)
}

#[test]
fn a_basic_answer_is_user_and_password_for_the_server_asked() {
    // The script answers only for the server it was given on stdin, after
    // checking it was run as `get`.
    let body = r#"[ "$1" = get ] || exit 3
read server
[ "$server" = "reg.example:5000" ] || { echo "credentials not found in native keychain"; exit 1; }
printf '{"ServerURL":"%s","Username":"ci","Secret":"s3cret"}' "$server""#;
    assert_eq!(
        get(body, "reg.example:5000").unwrap(),
        Credentials::Basic {
            username: "ci".into(),
            password: "s3cret".into()
        }
    );
    assert_eq!(get(body, "other.example").unwrap(), Credentials::Anonymous);
}

#[test]
fn a_token_user_means_the_secret_is_an_identity_token() {
    let body = r#"echo '{"ServerURL":"r","Username":"<token>","Secret":"refresh-1"}'"#;
    assert_eq!(
        get(body, "r").unwrap(),
        Credentials::Bearer("refresh-1".into())
    );
}

#[test]
fn not_found_is_anonymous_and_other_failures_name_the_helper() {
    let body = "echo 'credentials not found in native keychain'; exit 1";
    assert_eq!(get(body, "r").unwrap(), Credentials::Anonymous);
    let err = get(
        "echo 'token leaked-secret expired' >&2; exit 4",
        "r.example",
    )
    .unwrap_err();
    let shown = err.to_string();
    assert!(
        matches!(&err, Error::Run { failure: Failure::Exit(s), .. } if s.code() == Some(4)),
        "{err:?}"
    );
    assert!(
        shown.contains("docker-credential-test") && shown.contains("r.example"),
        "{shown}"
    );
    assert!(!shown.contains("leaked-secret"), "{shown}");
}

#[test]
fn a_helper_past_its_timeout_is_killed() {
    // `exec` so the killed process is the one holding the pipes, and a
    // second case where a child of the script keeps them open.
    for body in ["exec sleep 5", "sleep 5; echo '{}'"] {
        let dir = helper_dir(body);
        let started = Instant::now();
        let err = helpers(dir.path(), Duration::from_millis(300))
            .get("test", "r.example")
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Run {
                    failure: Failure::Timeout(_),
                    ..
                }
            ),
            "{body}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{body}");
        assert!(err.to_string().contains("docker-credential-test"), "{err}");
    }
}

#[test]
fn invalid_or_oversized_answers_are_refused_without_quoting_them() {
    let err = get(r#"echo '{"Username": "ci", "Secret": 12345678}'"#, "r").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Run {
                failure: Failure::Json(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("12345678"), "{err}");
    assert!(matches!(
        get("echo not json", "r"),
        Err(Error::Run {
            failure: Failure::Json(_),
            ..
        })
    ));
    // 128 KiB of output, then a valid answer: over the cap.
    let big = r#"head -c 131072 /dev/zero | tr '\0' ' '; echo '{"Username":"u","Secret":"p"}'"#;
    assert!(matches!(
        get(big, "r"),
        Err(Error::Run {
            failure: Failure::TooLarge,
            ..
        })
    ));
}

#[test]
fn a_missing_helper_is_named_with_the_registry() {
    let empty = tempfile::tempdir().unwrap();
    let err = helpers(empty.path(), DEFAULT_TIMEOUT)
        .get("test", "r.example")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Run {
                failure: Failure::Missing,
                ..
            }
        ),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("docker-credential-test") && shown.contains("r.example"),
        "{shown}"
    );
}

#[test]
fn names_that_are_not_plain_are_refused_before_anything_runs() {
    // Every one of these would run the script if the name were used as
    // given (it leaves a mark), through a path or a sibling file.
    let dir = helper_dir("touch \"$(dirname \"$0\")/ran\"; echo '{}'");
    let sibling = dir.path().join("docker-credential-x");
    std::fs::create_dir(&sibling).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("docker-credential-test"),
        sibling.join("test"),
    )
    .unwrap();
    let h = helpers(dir.path(), DEFAULT_TIMEOUT);
    for name in ["x/test", "../test", "", "..", " test", "test\n", "tést"] {
        assert!(matches!(h.get(name, "r"), Err(Error::Name(_))), "{name:?}");
    }
    assert!(!dir.path().join("ran").exists());
    assert!(matches!(
        h.get(&"a".repeat(65), "r"),
        Err(Error::Name(shown)) if shown.len() == 64
    ));
    // The same script under a plain name does run.
    assert_eq!(h.get("test", "r").unwrap(), Credentials::Anonymous);
    assert!(dir.path().join("ran").exists());
}

#[test]
fn relative_search_path_entries_are_skipped() {
    let dir = helper_dir("echo '{}'");
    // The same directory, spelled relative to the current one.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.push(dir.path().strip_prefix("/").unwrap());
    assert!(relative.is_relative() && cwd.join(&relative).join("docker-credential-test").exists());
    assert!(find("docker-credential-test", relative.as_os_str()).is_none());
    assert!(find("docker-credential-test", OsStr::new("")).is_none());
    assert!(find("docker-credential-test", dir.path().as_os_str()).is_some());
}
