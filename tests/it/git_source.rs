//! The Git source against real servers on loopback: `git daemon`, and
//! `git http-backend` behind Basic auth.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use distro::source::Snapshot;
use distro::source::git::{
    self, Credentials, Error, ErrorKind, GitRef, Limits, Resolved, checkout, resolve,
};

use crate::git_server::{GitDaemon, GitHttp, Repo};
use crate::support::project_root;

/// Every test uses the same timeout: libgit2's socket timeouts are
/// process-wide and taken from the first call.
fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn branch(name: &str) -> GitRef {
    GitRef::Branch(name.into())
}

/// The one repository in a cache directory.
fn only_cache_repo(cache: &Path) -> git2::Repository {
    let mut dirs = std::fs::read_dir(cache).unwrap();
    let dir = dirs.next().unwrap().unwrap().path();
    assert!(dirs.next().is_none(), "one repository per URL");
    git2::Repository::open_bare(dir).unwrap()
}

fn keys(files: &std::collections::BTreeMap<String, Vec<u8>>) -> BTreeSet<&str> {
    files.keys().map(String::as_str).collect()
}

/// A repository `dist.git` with a distribution in `dist/` and an unrelated
/// file outside it.
fn sample(base: &Path) -> (Repo, String) {
    let repo = Repo::init(base, "dist.git");
    repo.write("dist/platform.yaml", "name: demo\n")
        .write("dist/packages/a/1.0.0/package.yaml", "name: a\n")
        .write("README.md", "not part of the distribution\n");
    let commit = repo.commit("first");
    repo.push();
    (repo, commit)
}

#[test]
fn git_branch_checkout_returns_the_directory_and_then_works_offline() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_repo, commit) = sample(base.path());
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("dist.git");

    let resolved = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
    assert_eq!(resolved.commit, commit);
    assert_eq!(resolved.name, "main");
    assert_eq!(resolved.revision(), format!("main@sha1:{commit}"));

    let files = checkout(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        "dist",
        &limits(),
    )
    .unwrap();
    assert_eq!(
        keys(&files),
        BTreeSet::from(["platform.yaml", "packages/a/1.0.0/package.yaml"])
    );
    assert_eq!(files["platform.yaml"], b"name: demo\n");

    // The cache is one directory named by the URL's hash.
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].len(), 64);

    // With the server gone, the cached commit is still readable, and only
    // the network steps fail. The repository goes too: another test's
    // daemon may take over the port.
    drop(daemon);
    std::fs::remove_dir_all(base.path().join("dist.git")).unwrap();
    let again = checkout(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        "dist/",
        &limits(),
    )
    .unwrap();
    assert_eq!(again, files);
    let root = checkout(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        ".",
        &limits(),
    )
    .unwrap();
    assert!(root.contains_key("README.md"));
    assert!(root.contains_key("dist/platform.yaml"));
    let err = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
}

#[test]
fn git_new_commit_moves_the_branch() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (repo, first) = sample(base.path());
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("dist.git");
    let get = |resolved: &Resolved| {
        checkout(
            &url,
            resolved,
            &Credentials::None,
            cache.path(),
            "dist",
            &limits(),
        )
        .unwrap()
    };

    let r1 = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
    assert_eq!(r1.commit, first);
    assert_eq!(get(&r1)["platform.yaml"], b"name: demo\n");

    repo.write("dist/platform.yaml", "name: changed\n")
        .remove("dist/packages")
        .write("dist/bundles/b.yaml", "releases: []\n");
    let second = repo.commit("second");
    repo.push();

    let r2 = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
    assert_eq!(r2.commit, second);
    assert_ne!(r2.commit, r1.commit);
    let files = get(&r2);
    assert_eq!(
        keys(&files),
        BTreeSet::from(["platform.yaml", "bundles/b.yaml"])
    );
    assert_eq!(files["platform.yaml"], b"name: changed\n");
    // The old commit is still served from the cache.
    assert_eq!(get(&r1)["platform.yaml"], b"name: demo\n");
}

#[test]
fn git_tags_annotated_tags_and_semver() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::init(base.path(), "tags.git");
    let mut commits = std::collections::BTreeMap::new();
    for (version, annotated) in [
        ("v1.2.5", false),
        ("v1.3.0", true),
        ("v2.0.0", true),
        ("v1.4.0-rc.1", false),
    ] {
        repo.write("platform.yaml", format!("version: {version}\n"));
        commits.insert(version, repo.commit(version));
        if annotated {
            repo.annotated_tag(version);
        } else {
            repo.tag(version);
        }
    }
    repo.push();
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("tags.git");
    let resolve = |r: GitRef| resolve(&url, &r, &Credentials::None, &limits());

    let light = resolve(GitRef::Tag("v1.2.5".into())).unwrap();
    assert_eq!(light.commit, commits["v1.2.5"]);
    assert_eq!(
        light.revision(),
        format!("v1.2.5@sha1:{}", commits["v1.2.5"])
    );

    // An annotated tag resolves to its commit, not to the tag object.
    let annotated = resolve(GitRef::Tag("v1.3.0".into())).unwrap();
    assert_eq!(annotated.commit, commits["v1.3.0"]);
    assert_ne!(annotated.commit, repo.tag_object("v1.3.0"));

    let range = resolve(GitRef::Semver("^1.2".into())).unwrap();
    assert_eq!(range.name, "v1.3.0");
    assert_eq!(range.commit, commits["v1.3.0"]);
    let files = checkout(
        &url,
        &range,
        &Credentials::None,
        cache.path(),
        "",
        &limits(),
    )
    .unwrap();
    assert_eq!(files["platform.yaml"], b"version: v1.3.0\n");

    let pre = resolve(GitRef::Semver(">=1.4.0-rc.0, <2".into())).unwrap();
    assert_eq!(pre.name, "v1.4.0-rc.1");

    let missing = resolve(GitRef::Tag("v9.9.9".into())).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert!(missing.to_string().contains("tag v9.9.9"), "{missing}");
    assert!(missing.to_string().contains(&url), "{missing}");
    let none = resolve(GitRef::Semver("^3".into())).unwrap_err();
    assert_eq!(none.kind(), ErrorKind::NotFound);
    assert!(none.to_string().contains("semver ^3"), "{none}");
    let no_branch = resolve(branch("nope")).unwrap_err();
    assert!(
        matches!(no_branch, Error::RefNotFound { .. }),
        "{no_branch}"
    );
    assert!(no_branch.to_string().contains("branch nope"), "{no_branch}");
}

#[test]
fn git_commit_refs_fetch_by_id_or_in_full() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    // Two repositories: one that serves any commit by id, and one with the
    // server's defaults, which serves only advertised tips by id.
    let open = Repo::init(base.path(), "open.git");
    let strict = Repo::init(base.path(), "strict.git");
    strict.set_config("uploadpack.allowReachableSHA1InWant", "false");
    strict.set_config("uploadpack.allowAnySHA1InWant", "false");
    let mut old = Vec::new();
    for repo in [&open, &strict] {
        repo.write("platform.yaml", "old\n");
        old.push(repo.commit("old"));
        repo.write("platform.yaml", "new\n");
        repo.commit("new");
        repo.push();
    }
    let daemon = GitDaemon::start(base.path());

    for (name, commit) in [("open.git", &old[0]), ("strict.git", &old[1])] {
        let url = daemon.url(name);
        let resolved = resolve(
            &url,
            &GitRef::Commit(commit.clone()),
            &Credentials::None,
            &limits(),
        )
        .unwrap();
        assert_eq!(resolved.revision(), format!("sha1:{commit}"));
        let files = checkout(
            &url,
            &resolved,
            &Credentials::None,
            cache.path(),
            ".",
            &limits(),
        )
        .unwrap();
        assert_eq!(files["platform.yaml"], b"old\n", "{name}");
    }

    // A branch tip is fetched shallow from both: by id, or by name where
    // the server refuses ids. The older commit is not downloaded.
    for (name, parent) in [("open.git", &old[0]), ("strict.git", &old[1])] {
        let url = daemon.url(name);
        let fresh = tempfile::tempdir().unwrap();
        let tip = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
        let files = checkout(&url, &tip, &Credentials::None, fresh.path(), ".", &limits()).unwrap();
        assert_eq!(files["platform.yaml"], b"new\n", "{name}");
        let cached = only_cache_repo(fresh.path());
        assert!(cached.is_shallow(), "{name}");
        let parent = git2::Oid::from_str(parent).unwrap();
        assert!(cached.find_commit(parent).is_err(), "{name}");
    }

    let url = daemon.url("strict.git");
    let absent = Resolved {
        name: "0".repeat(40),
        commit: "0".repeat(40),
    };
    let err = checkout(
        &url,
        &absent,
        &Credentials::None,
        cache.path(),
        ".",
        &limits(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&"0".repeat(40)), "{err}");
}

#[test]
fn git_http_basic_auth() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_repo, commit) = sample(base.path());
    let password = "correct-horse-battery";
    let server = GitHttp::start(base.path(), "alice", password);
    let url = server.url("dist.git");
    let good = Credentials::Basic {
        username: "alice".into(),
        password: password.into(),
    };

    let resolved = resolve(&url, &branch("main"), &good, &limits()).unwrap();
    assert_eq!(resolved.commit, commit);
    let files = checkout(&url, &resolved, &good, cache.path(), "dist", &limits()).unwrap();
    assert_eq!(files["platform.yaml"], b"name: demo\n");
    assert!(only_cache_repo(cache.path()).is_shallow());
    // One challenge per call (resolve, checkout), answered at once; every
    // other request succeeds.
    let requests = server.requests();
    let challenged = requests.iter().filter(|r| r.ends_with(" 401")).count();
    let served = requests.iter().filter(|r| r.ends_with(" 200")).count();
    assert_eq!(
        (challenged, served),
        (2, requests.len() - 2),
        "{requests:?}"
    );

    let wrong_password = "wrong-password-123";
    let wrong = Credentials::Basic {
        username: "alice".into(),
        password: wrong_password.into(),
    };
    for credentials in [&wrong, &Credentials::None] {
        let started = Instant::now();
        let err = resolve(&url, &branch("main"), credentials, &limits()).unwrap_err();
        assert!(err.is_auth(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        let message = format!("{err} {err:?}");
        assert!(message.contains("authentication failed for"), "{message}");
        assert!(!message.contains(wrong_password), "{message}");
        assert!(!message.contains(password), "{message}");

        // Fetching (into a fresh cache) fails the same way.
        let fresh = tempfile::tempdir().unwrap();
        let err = checkout(&url, &resolved, credentials, fresh.path(), "", &limits()).unwrap_err();
        assert!(err.is_auth(), "{err}");
        assert!(!format!("{err:?}").contains(wrong_password), "{err:?}");
    }

    // Credentials in the URL itself are used, and never shown.
    let with_userinfo = url.replace("http://", &format!("http://alice:{wrong_password}@"));
    let err = resolve(
        &with_userinfo,
        &branch("main"),
        &Credentials::None,
        &limits(),
    )
    .unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(
        !format!("{err} {err:?}").contains(wrong_password),
        "{err:?}"
    );
}

#[test]
fn git_http_bearer_token() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_repo, commit) = sample(base.path());
    let server = GitHttp::start(base.path(), "bot", "token-abc-123");
    let url = server.url("dist.git");

    let good = Credentials::Bearer("token-abc-123".into());
    let resolved = resolve(&url, &branch("main"), &good, &limits()).unwrap();
    assert_eq!(resolved.commit, commit);
    let files = checkout(&url, &resolved, &good, cache.path(), "dist", &limits()).unwrap();
    assert!(files.contains_key("platform.yaml"));

    let bad = Credentials::Bearer("token-bad-999".into());
    let err = resolve(&url, &branch("main"), &bad, &limits()).unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("token-bad-999"),
        "{err:?}"
    );
}

#[test]
fn git_unreachable_remote_fails_within_the_timeout() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    for url in [
        format!("git://127.0.0.1:{port}/dist.git"),
        format!("http://127.0.0.1:{port}/dist.git"),
    ] {
        let started = Instant::now();
        let err = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap_err();
        assert!(started.elapsed() < limits().timeout, "{err}");
        assert!(err.is_fetch(), "{err}");
        assert!(err.to_string().contains(&url), "{err}");

        let resolved = Resolved {
            name: "main".into(),
            commit: "1".repeat(40),
        };
        let err = checkout(
            &url,
            &resolved,
            &Credentials::None,
            cache.path(),
            "",
            &limits(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    }
}

#[test]
fn git_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("git://{}/dist.git", listener.local_addr().unwrap());
    let started = Instant::now();
    let err = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The socket timeout is process-wide (set by the first call); every
    // test here uses the same limits, so it is this one.
    assert!(
        started.elapsed() < limits().timeout + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

#[test]
fn git_symlinks_and_bad_paths_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::init(base.path(), "links.git");
    repo.write("dist/platform.yaml", "name: x\n")
        .write("safe/file", "ok\n")
        .symlink("dist/packages/evil", "/etc/passwd")
        .symlink("linked", "safe");
    let commit = repo.commit("links");
    repo.push();
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("links.git");
    let resolved = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
    assert_eq!(resolved.commit, commit);
    let get = |path: &str| {
        checkout(
            &url,
            &resolved,
            &Credentials::None,
            cache.path(),
            path,
            &limits(),
        )
    };

    let err = get("dist").unwrap_err();
    assert!(matches!(err, Error::Symlink { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Content);
    assert!(err.to_string().contains("dist/packages/evil"), "{err}");

    // The rest of the tree is still readable, but not through a link.
    assert_eq!(get("safe").unwrap()["file"], b"ok\n");
    let err = get("linked/").unwrap_err();
    assert!(matches!(err, Error::Symlink { .. }), "{err}");
    assert!(err.to_string().contains(":linked: symlinks"), "{err}");

    for bad in ["../x", "/etc", "dist/../safe"] {
        let err = get(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    let err = get("nowhere").unwrap_err();
    assert!(matches!(err, Error::NoDirectory { .. }), "{err}");
    assert!(err.to_string().contains("nowhere"), "{err}");
    let err = get("dist/platform.yaml").unwrap_err();
    assert!(matches!(err, Error::NoDirectory { .. }), "{err}");
}

#[test]
fn git_limits_are_enforced() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::init(base.path(), "big.git");
    for i in 0..10 {
        repo.write(&format!("dist/f{i}.yaml"), vec![b'x'; 1000]);
    }
    repo.commit("ten files");
    repo.push();
    let daemon = GitDaemon::start(base.path());
    let url = daemon.url("big.git");
    let resolved = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
    let get = |limits: Limits| {
        checkout(
            &url,
            &resolved,
            &Credentials::None,
            cache.path(),
            "dist",
            &limits,
        )
    };

    assert_eq!(get(limits()).unwrap().len(), 10);
    let err = get(Limits {
        max_files: 9,
        ..limits()
    })
    .unwrap_err();
    assert!(matches!(err, Error::TooManyFiles { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Content);
    let err = get(Limits {
        max_bytes: 9_999,
        ..limits()
    })
    .unwrap_err();
    assert!(matches!(err, Error::TooManyBytes { .. }), "{err}");

    // The fetch itself is bounded too: a fresh cache cannot take in more
    // than max_bytes from the network.
    let fresh = tempfile::tempdir().unwrap();
    let err = checkout(
        &url,
        &resolved,
        &Credentials::None,
        fresh.path(),
        "dist",
        &Limits {
            max_bytes: 10,
            ..limits()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::FetchTooLarge { .. }), "{err}");
}

#[test]
fn git_file_urls_and_the_project_distribution() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = Repo::init(base.path(), "platform.git");
    let root = project_root();
    repo.write(
        "deploy/platform.yaml",
        std::fs::read(root.join("platform.yaml")).unwrap(),
    )
    .write(
        "deploy/distro.lock",
        std::fs::read(root.join("distro.lock")).unwrap(),
    )
    .copy_tree(&root.join("packages"), "deploy/packages")
    .copy_tree(&root.join("bundles"), "deploy/bundles");
    let commit = repo.commit("the default distribution");
    repo.push();

    let url = format!("file://{}", repo.bare().display());
    let resolved = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();
    assert_eq!(resolved.commit, commit);
    let files = checkout(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        "deploy",
        &limits(),
    )
    .unwrap();

    // Byte for byte what the directory source reads from the project.
    let local = Snapshot::from_dir(&root.join("platform.yaml")).unwrap();
    let expected: Vec<(&str, &[u8])> = local.under("").collect();
    assert!(expected.len() > 10);
    for (path, bytes) in &expected {
        assert_eq!(files.get(*path).map(Vec::as_slice), Some(*bytes), "{path}");
    }
    // The directory source reads distro.lock too.
    assert!(files.contains_key("distro.lock"));
    assert_eq!(files.len(), expected.len());

    // A plain path is a local remote too.
    let by_path = repo.bare().to_str().unwrap().to_string();
    let resolved = resolve(&by_path, &branch("main"), &Credentials::None, &limits()).unwrap();
    assert_eq!(resolved.commit, commit);
}

#[test]
fn git_unsupported_urls_are_refused() {
    for url in ["ftp://host/x", "git@host:org/x.git", "relative/dir"] {
        let err = resolve(url, &branch("main"), &Credentials::None, &limits()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
    assert_eq!(git::display_url("https://u:p@h/x"), "https://h/x");
}

/// Two platforms in one repository share its root `packages/` and
/// `bundles/`: the platform at `staging/` is read with them, as the
/// directory source reads `-p staging/platform.yaml`, and renders the same.
#[test]
fn git_platform_below_the_root_finds_packages_and_bundles_upward() {
    let base = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::init(base.path(), "platforms.git");
    let root = project_root();
    let platform = std::fs::read(root.join("platform.yaml")).unwrap();
    repo.write("staging/platform.yaml", platform.clone())
        .write(
            "staging/distro.lock",
            std::fs::read(root.join("distro.lock")).unwrap(),
        )
        .write("staging/notes.txt", "not part of the distribution\n")
        .write("prod/platform.yaml", platform)
        .copy_tree(&root.join("packages"), "packages")
        .copy_tree(&root.join("bundles"), "bundles");
    repo.commit("two platforms, shared packages");
    repo.push();
    let url = format!("file://{}", repo.bare().display());
    let resolved = resolve(&url, &branch("main"), &Credentials::None, &limits()).unwrap();

    let got = git::checkout_distribution(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        "staging",
        &limits(),
    )
    .unwrap();
    assert_eq!(got.root, ".");
    assert_eq!(got.platform_file, "staging/platform.yaml");
    assert!(got.files.contains_key("staging/distro.lock"));
    assert!(!got.files.contains_key("staging/notes.txt"));
    assert!(!got.files.keys().any(|k| k.starts_with("prod/")));

    // The same files as the directory source reads from a checkout.
    crate::support::copy_tree(&root.join("packages"), &work.path().join("packages"));
    crate::support::copy_tree(&root.join("bundles"), &work.path().join("bundles"));
    std::fs::create_dir_all(work.path().join("staging")).unwrap();
    for name in ["platform.yaml", "distro.lock"] {
        std::fs::copy(root.join(name), work.path().join("staging").join(name)).unwrap();
    }
    let local = Snapshot::from_dir(&work.path().join("staging/platform.yaml")).unwrap();
    assert_eq!(local.platform_file(), "staging/platform.yaml");
    let expected: Vec<(&str, &[u8])> = local.under("").collect();
    assert_eq!(got.files.len(), expected.len());
    for (path, bytes) in &expected {
        assert_eq!(
            got.files.get(*path).map(Vec::as_slice),
            Some(*bytes),
            "{path}"
        );
    }

    // The snapshot renders, with messages shown inside the repository.
    let snapshot = Snapshot::new(
        distro::source::Origin::Git {
            url: url.clone(),
            path: got.root.clone(),
        },
        Some(resolved.revision()),
        &got.platform_file,
        got.files.clone(),
    );
    assert_eq!(
        snapshot.display("staging/platform.yaml"),
        "staging/platform.yaml"
    );
    let rendered = distro::pipeline::render(snapshot, &distro::pipeline::Options::default())
        .expect("the staging platform renders");
    assert!(!rendered.releases.is_empty());

    // A platform directory that holds its own packages/ is its own root.
    let own = git::checkout_distribution(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        ".",
        &limits(),
    )
    .unwrap();
    assert_eq!(own.root, ".");
    assert_eq!(own.platform_file, "platform.yaml");

    // The bounds hold over all the parts together.
    let tight = Limits {
        max_files: expected.len() - 1,
        ..limits()
    };
    let err = git::checkout_distribution(
        &url,
        &resolved,
        &Credentials::None,
        cache.path(),
        "staging",
        &tight,
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooManyFiles { .. }), "{err}");
}
