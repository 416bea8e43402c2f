//! A distribution kept in a Git repository.
//!
//! Two verbs, so that a reconciler can poll cheaply and download rarely:
//!
//! - [`resolve`] lists the remote's refs (what `git ls-remote` shows) and
//!   turns a branch, tag, semver range or commit into one commit. It never
//!   downloads objects.
//! - [`checkout`] makes sure that commit is in a bare repository cache
//!   (fetching it, shallow where the server allows) and returns the files of
//!   one directory of it, read straight from the object database. No work
//!   tree is ever written: names and modes in a repository are untrusted.
//!
//! Both calls block (network and disk); run them off an async executor, e.g.
//! in `tokio::task::spawn_blocking`.
//!
//! Secrets never appear in an error or a log line: URLs are shown without
//! their userinfo, and messages from libgit2 are scrubbed of the credentials
//! in use before they are kept.
//!
//! Time: each call has one deadline, [`Limits::timeout`], checked before
//! every network step and whenever libgit2 calls back (credentials, host
//! key, progress). In between, libgit2's socket timeouts bound every
//! connect and read; they are process-wide and taken from the first call.
//! No proxy is used, and fetches follow redirects only on the same host.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass, ErrorCode,
    FetchOptions, ObjectType, Oid, ProxyOptions, RemoteCallbacks, RemoteRedirect, Repository,
};
use sha2::{Digest, Sha256};

/// What to follow in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// The tip of `refs/heads/<name>`.
    Branch(String),
    /// The commit `refs/tags/<name>` points to (annotated tags are peeled).
    Tag(String),
    /// The highest tag matching this semver requirement (e.g. `^1.2`); see
    /// [`select_semver`].
    Semver(String),
    /// One commit, 40 hex digits.
    Commit(String),
}

impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitRef::Branch(b) => write!(f, "branch {}", b.escape_debug()),
            GitRef::Tag(t) => write!(f, "tag {}", t.escape_debug()),
            GitRef::Semver(r) => write!(f, "semver {}", r.escape_debug()),
            GitRef::Commit(c) => write!(f, "commit {}", c.escape_debug()),
        }
    }
}

/// How to authenticate to the remote.
///
/// `Debug` never shows a secret.
#[derive(Clone, Default)]
pub enum Credentials {
    /// Anonymous access.
    #[default]
    None,
    /// HTTP Basic authentication (http, https).
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>` on every HTTP request (http, https).
    Bearer(String),
    /// SSH public key authentication. `identity` is the private key
    /// (PEM or OpenSSH format, unencrypted); `known_hosts` holds lines in
    /// OpenSSH's format, and the server's host key must be one of them.
    /// The user is the URL's (`ssh://deploy@host/...`), else `username`,
    /// else `git`.
    Ssh {
        identity: String,
        known_hosts: String,
        username: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Credentials::Bearer(_) => f.write_str("Bearer(..)"),
            Credentials::Ssh { username, .. } => f
                .debug_struct("Ssh")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// The secret strings, so that they can be scrubbed from messages.
    fn secrets(&self) -> Vec<&str> {
        let all: Vec<&str> = match self {
            Credentials::None => vec![],
            Credentials::Basic { password, .. } => vec![password],
            Credentials::Bearer(token) => vec![token],
            Credentials::Ssh { identity, .. } => vec![identity],
        };
        // Scrubbing a one-character "secret" would mangle every message
        // while protecting nothing.
        all.into_iter().filter(|s| s.len() >= 3).collect()
    }
}

/// Bounds on one call. A remote is untrusted: it may be slow, huge, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock bound on the whole call, every network step included.
    pub timeout: Duration,
    /// Bytes received from the network, and separately bytes of file
    /// content returned.
    pub max_bytes: u64,
    /// Files returned by [`checkout`]; directories are bounded by the same
    /// number, so that a tree of empty directories cannot grow without end.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_bytes: 256 * 1024 * 1024,
            max_files: 20_000,
        }
    }
}

/// A ref resolved to one commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resolved {
    /// The branch or tag name; for a [`GitRef::Commit`], the commit itself.
    pub name: String,
    /// 40 lower-case hex digits.
    pub commit: String,
}

impl Resolved {
    /// The revision as Flux shows it: `main@sha1:<hex>`, `v1.2.0@sha1:<hex>`,
    /// and `sha1:<hex>` for a commit ref.
    pub fn revision(&self) -> String {
        if self.name == self.commit {
            format!("sha1:{}", self.commit)
        } else {
            format!("{}@sha1:{}", self.name, self.commit)
        }
    }
}

/// What went wrong, broadly; see [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input is unusable (URL, ref, path, known_hosts). Retrying
    /// will not help until it changes.
    Config,
    /// The remote could not be reached or the fetch failed.
    Unreachable,
    /// The remote refused the credentials, or its host key was not trusted.
    Auth,
    /// A network step took longer than [`Limits::timeout`].
    Timeout,
    /// The branch, tag or commit does not exist on the remote.
    NotFound,
    /// The repository's content is refused: a symlink, a bad name, a missing
    /// directory, or more than the limits allow.
    Content,
    /// The local cache could not be created, read or written.
    Cache,
}

/// Errors of the Git source. URLs in messages have no userinfo; no message
/// holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL cannot be used.
    #[error("git URL {url}: {reason}")]
    Url { url: String, reason: String },
    /// A ref that cannot exist: a malformed name, commit or semver range.
    #[error("git ref {reference}: {reason}")]
    Ref { reference: String, reason: String },
    /// The directory to read is not a plain relative path.
    #[error("git path {path:?}: {reason}")]
    Path { path: String, reason: &'static str },
    /// The credentials cannot be sent as given.
    #[error("credentials for {url}: {reason}")]
    Credentials { url: String, reason: &'static str },
    /// A known_hosts line could not be used.
    #[error("known_hosts line {line}: {reason}")]
    KnownHosts { line: usize, reason: String },
    /// The branch or tag is not on the remote, or no tag matches the range.
    #[error("{url}: {reference} not found")]
    RefNotFound { url: String, reference: String },
    /// The commit is not on the remote (or not reachable from its refs).
    #[error("{url}: commit {commit} not found")]
    CommitNotFound { url: String, commit: String },
    /// The remote refused the credentials or asked for some that were not
    /// given.
    #[error("authentication failed for {url}: {reason}")]
    Auth { url: String, reason: String },
    /// The server's SSH host key is not trusted.
    #[error("{url}: host key of {host} {reason}")]
    HostKey {
        url: String,
        host: String,
        reason: String,
    },
    /// A network step ran past the deadline.
    #[error("{url}: timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// The remote sent more than [`Limits::max_bytes`].
    #[error("{url}: the remote sent more than {limit} bytes")]
    FetchTooLarge { url: String, limit: u64 },
    /// The remote could not be reached, or listing or fetching failed.
    #[error("{url}: {message}")]
    Remote { url: String, message: String },
    /// The cache repository could not be used.
    #[error("git cache {}: {message}", path.display())]
    Cache { path: PathBuf, message: String },
    /// A symlink in the tree. A distribution is plain files; a link could
    /// point anywhere.
    #[error("{commit}:{entry}: symlinks are not allowed in a distribution")]
    Symlink { commit: String, entry: String },
    /// A submodule in the tree; its content is in another repository.
    #[error("{commit}:{entry}: submodules are not allowed in a distribution")]
    Submodule { commit: String, entry: String },
    /// An entry that cannot be a file of a distribution: a name that is not
    /// a plain, printable UTF-8 file name, an unknown mode, a duplicate.
    #[error("{commit}:{entry}: {reason}")]
    BadEntry {
        commit: String,
        entry: String,
        reason: &'static str,
    },
    /// The directory to read is not in the commit.
    #[error("{commit}:{path}: no such directory")]
    NoDirectory { commit: String, path: String },
    /// More files or directories than [`Limits::max_files`].
    #[error("{commit}:{path}: more than {limit} {what}")]
    TooManyFiles {
        commit: String,
        path: String,
        limit: usize,
        what: &'static str,
    },
    /// More file content than [`Limits::max_bytes`].
    #[error("{commit}:{path}: more than {limit} bytes of files")]
    TooManyBytes {
        commit: String,
        path: String,
        limit: u64,
    },
}

impl Error {
    /// The broad class of the error, for status conditions and retries.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Url { .. } | Error::Ref { .. } | Error::Path { .. } => ErrorKind::Config,
            Error::KnownHosts { .. } | Error::Credentials { .. } => ErrorKind::Config,
            Error::RefNotFound { .. } | Error::CommitNotFound { .. } => ErrorKind::NotFound,
            Error::Auth { .. } | Error::HostKey { .. } => ErrorKind::Auth,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Remote { .. } => ErrorKind::Unreachable,
            Error::Cache { .. } => ErrorKind::Cache,
            Error::FetchTooLarge { .. }
            | Error::Symlink { .. }
            | Error::Submodule { .. }
            | Error::BadEntry { .. }
            | Error::NoDirectory { .. }
            | Error::TooManyFiles { .. }
            | Error::TooManyBytes { .. } => ErrorKind::Content,
        }
    }

    /// The remote refused the credentials (or the host key was untrusted).
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Auth
    }

    /// The remote could not be reached, timed out or refused access, as
    /// opposed to a problem with the input or the repository's content.
    pub fn is_fetch(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Unreachable | ErrorKind::Auth | ErrorKind::Timeout
        )
    }
}

// ---------------------------------------------------------------------------
// resolve

/// Finds the commit `reference` points to on the remote now.
///
/// Lists the remote's refs only; no object is downloaded. A
/// [`GitRef::Commit`] is validated and returned without any network.
///
/// # Errors
/// A bad URL or ref ([`ErrorKind::Config`]); the remote unreachable, slow or
/// refusing the credentials; the branch or tag missing, or no tag matching
/// the range ([`ErrorKind::NotFound`]).
pub fn resolve(
    url: &str,
    reference: &GitRef,
    credentials: &Credentials,
    limits: &Limits,
) -> Result<Resolved, Error> {
    let remote = RemoteUrl::parse(url)?;
    // Validate everything local before touching the network.
    let lookup = match reference {
        GitRef::Commit(commit) => {
            let commit = parse_commit(commit)?.to_string();
            return Ok(Resolved {
                name: commit.clone(),
                commit,
            });
        }
        GitRef::Branch(name) => {
            check_ref_name("refs/heads/", name, reference)?;
            Lookup::Branch(name)
        }
        GitRef::Tag(name) => {
            check_ref_name("refs/tags/", name, reference)?;
            Lookup::Tag(name)
        }
        GitRef::Semver(requirement) => {
            select_semver(&[], requirement)?;
            Lookup::Semver(requirement)
        }
    };
    let session = Session::new(&remote, credentials, limits)?;
    let refs = session.list()?;
    let not_found = || Error::RefNotFound {
        url: remote.display.clone(),
        reference: reference.to_string(),
    };
    let (name, commit) = match lookup {
        Lookup::Branch(name) => {
            let oid = refs
                .get(&format!("refs/heads/{name}"))
                .ok_or_else(not_found)?;
            (name.to_string(), *oid)
        }
        Lookup::Tag(name) => (
            name.to_string(),
            peeled_tag(&refs, name).ok_or_else(not_found)?,
        ),
        Lookup::Semver(requirement) => {
            let tags: Vec<String> = refs
                .keys()
                .filter_map(|r| r.strip_prefix("refs/tags/"))
                .filter(|t| !t.ends_with("^{}"))
                .map(str::to_string)
                .collect();
            let name = select_semver(&tags, requirement)?.ok_or_else(not_found)?;
            let oid = peeled_tag(&refs, &name).ok_or_else(not_found)?;
            (name, oid)
        }
    };
    Ok(Resolved {
        name,
        commit: commit.to_string(),
    })
}

/// A ref that needs the remote's list to resolve.
enum Lookup<'a> {
    Branch(&'a str),
    Tag(&'a str),
    Semver(&'a str),
}

/// The commit a tag points to: the `^{}` entry of an annotated tag, else the
/// tag's own entry.
fn peeled_tag(refs: &BTreeMap<String, Oid>, tag: &str) -> Option<Oid> {
    refs.get(&format!("refs/tags/{tag}^{{}}"))
        .or_else(|| refs.get(&format!("refs/tags/{tag}")))
        .copied()
}

fn check_ref_name(prefix: &str, name: &str, reference: &GitRef) -> Result<(), Error> {
    let full = format!("{prefix}{name}");
    if name.is_empty() || name.ends_with("^{}") || !git2::Reference::is_valid_name(&full) {
        return Err(Error::Ref {
            reference: reference.to_string(),
            reason: "not a valid ref name".into(),
        });
    }
    Ok(())
}

fn parse_commit(commit: &str) -> Result<Oid, Error> {
    let bad = |reason: &str| Error::Ref {
        reference: format!("commit {}", commit.escape_debug()),
        reason: reason.into(),
    };
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("a commit is 40 hex digits"));
    }
    Oid::from_str(commit).map_err(|_| bad("a commit is 40 hex digits"))
}

/// The highest of `tags` that satisfies the semver `requirement`.
///
/// Tags parse with or without a leading `v` (`v1.2.3`, `1.2.3`); others are
/// ignored. Pre-releases match only when the requirement names one for the
/// same version (the `semver` crate's rules). When `v1.2.3` and `1.2.3` are
/// both present the choice is still stable: the greater name wins.
///
/// # Errors
/// The requirement is not a semver range.
pub fn select_semver(tags: &[String], requirement: &str) -> Result<Option<String>, Error> {
    let req = semver::VersionReq::parse(requirement.trim()).map_err(|e| Error::Ref {
        reference: format!("semver {}", requirement.escape_debug()),
        reason: e.to_string(),
    })?;
    Ok(tags
        .iter()
        .filter_map(|tag| {
            let bare = tag.strip_prefix('v').unwrap_or(tag);
            let version = semver::Version::parse(bare).ok()?;
            req.matches(&version).then_some((version, tag))
        })
        .max()
        .map(|(_, tag)| tag.clone()))
}

// ---------------------------------------------------------------------------
// checkout

/// Returns every file under `path` in `resolved.commit`, keyed by its
/// `/`-separated path relative to `path`.
///
/// The commit is kept in a bare repository under `cache_dir`, one per URL
/// (named by the sha256 of the URL). When the commit is already there, no
/// network is used at all. Otherwise it is fetched shallow (depth 1) by
/// commit id, or by `resolved.name` where the server refuses ids, and in
/// full (every branch and tag) as a last resort, e.g. for an old commit on
/// a server that allows neither.
///
/// # Errors
/// Everything [`resolve`] reports; a `path` that is not a plain relative
/// path; the commit missing on the remote; a symlink, submodule or badly
/// named entry under `path`; more files or bytes than `limits`.
///
/// # Caveats
/// - The cache is shared by everyone who uses the same `cache_dir` and URL:
///   a commit fetched once with credentials is later read without them. Give
///   each tenant its own `cache_dir` when credentials differ.
/// - Calls for the same URL and `cache_dir` are serialised within the
///   process (a second call waits while the first fetches); two processes
///   must not share a `cache_dir`.
/// - The cache only grows; remove it to reclaim space.
pub fn checkout(
    url: &str,
    resolved: &Resolved,
    credentials: &Credentials,
    cache_dir: &Path,
    path: &str,
    limits: &Limits,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let parts = validate_path(path)?;
    with_commit(
        url,
        resolved,
        credentials,
        cache_dir,
        limits,
        |repo, commit| read_dir(repo, commit, &parts, limits),
    )
}

/// A distribution read from a commit: its files keyed from the
/// distribution root, as a [`super::Snapshot`] holds them.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The distribution root in the repository (`/`-separated, `.` for the
    /// repository root).
    pub root: String,
    /// The platform file's path relative to `root`.
    pub platform_file: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The platform file (`platform.yaml`, with its lock) in directory `path` of
/// the commit, and `packages/` and `bundles/` of the distribution root: the
/// nearest directory, starting with `path` itself and going up to the
/// repository root, that holds either. This is the rule of a directory
/// source, so `staging/` and `prod/` can share the repository's
/// `packages/` and `bundles/` in the controller as on the command line.
/// Where no directory holds them, `path` is the root, and everything under
/// it is returned (validation then says what is missing).
///
/// # Errors
/// As [`checkout`]; the bounds of `limits` apply to all files together.
pub fn checkout_distribution(
    url: &str,
    resolved: &Resolved,
    credentials: &Credentials,
    cache_dir: &Path,
    path: &str,
    limits: &Limits,
) -> Result<Distribution, Error> {
    let parts = validate_path(path)?;
    with_commit(
        url,
        resolved,
        credentials,
        cache_dir,
        limits,
        |repo, commit| {
            let root = distribution_root(repo, commit, &parts)?;
            let root_display = |parts: &[&str]| {
                if parts.is_empty() {
                    ".".to_string()
                } else {
                    parts.join("/")
                }
            };
            let platform_file = "platform.yaml";
            if root == parts.len() {
                return Ok(Distribution {
                    root: root_display(&parts),
                    platform_file: platform_file.to_string(),
                    files: read_dir(repo, commit, &parts, limits)?,
                });
            }
            let inside = parts[root..].join("/");
            let mut files = BTreeMap::new();
            // Only the platform file and its lock come from the platform's own
            // directory, as for a directory source.
            let own = read_dir(repo, commit, &parts, limits)?;
            let lock = crate::lock::file_name(platform_file);
            for name in [platform_file, lock.as_str()] {
                if let Some(bytes) = own.get(name) {
                    files.insert(format!("{inside}/{name}"), bytes.clone());
                }
            }
            for dir in ["packages", "bundles"] {
                let mut under: Vec<&str> = parts[..root].to_vec();
                under.push(dir);
                match read_dir(repo, commit, &under, limits) {
                    Ok(found) => files.extend(
                        found
                            .into_iter()
                            .map(|(rel, bytes)| (format!("{dir}/{rel}"), bytes)),
                    ),
                    Err(Error::NoDirectory { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            check_totals(
                &commit.to_string(),
                &root_display(&parts[..root]),
                &files,
                limits,
            )?;
            Ok(Distribution {
                root: root_display(&parts[..root]),
                platform_file: format!("{inside}/{platform_file}"),
                files,
            })
        },
    )
}

/// How many leading components of `parts` name the distribution root: the
/// nearest directory at or above `parts` whose tree holds a `packages` or
/// `bundles` directory, or all of `parts` when none does.
fn distribution_root(repo: &Repository, commit: Oid, parts: &[&str]) -> Result<usize, Error> {
    let cache_err = |e: git2::Error| Error::Cache {
        path: repo.path().to_path_buf(),
        message: format!("commit {commit}: {}", e.message()),
    };
    let root_tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(cache_err)?;
    // The trees along the path, root first; a missing or non-directory
    // component ends the walk (read_dir reports it).
    let mut trees = vec![root_tree];
    for part in parts {
        let Some(last) = trees.last() else { break };
        let next = match last.get_name(part) {
            Some(entry)
                if entry.kind() == Some(ObjectType::Tree) && entry.filemode() != 0o120000 =>
            {
                repo.find_tree(entry.id()).map_err(cache_err)?
            }
            _ => return Ok(parts.len()),
        };
        trees.push(next);
    }
    let holds = |tree: &git2::Tree| {
        ["packages", "bundles"].iter().any(|name| {
            tree.get_name(name)
                .is_some_and(|e| e.kind() == Some(ObjectType::Tree) && e.filemode() == 0o040000)
        })
    };
    Ok((0..trees.len())
        .rev()
        .find(|&n| holds(&trees[n]))
        .unwrap_or(parts.len()))
}

/// The bounds of `limits` over files read in several parts.
fn check_totals(
    commit: &str,
    path: &str,
    files: &BTreeMap<String, Vec<u8>>,
    limits: &Limits,
) -> Result<(), Error> {
    if files.len() > limits.max_files {
        return Err(Error::TooManyFiles {
            commit: commit.to_string(),
            path: path.to_string(),
            limit: limits.max_files,
            what: "files",
        });
    }
    let bytes: u64 = files.values().map(|b| b.len() as u64).sum();
    if bytes > limits.max_bytes {
        return Err(Error::TooManyBytes {
            commit: commit.to_string(),
            path: path.to_string(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Runs `read` on the cached bare repository holding `resolved.commit`,
/// fetching it first when it is not there.
fn with_commit<T>(
    url: &str,
    resolved: &Resolved,
    credentials: &Credentials,
    cache_dir: &Path,
    limits: &Limits,
    read: impl FnOnce(&Repository, Oid) -> Result<T, Error>,
) -> Result<T, Error> {
    let remote = RemoteUrl::parse(url)?;
    let wanted = parse_commit(&resolved.commit)?;
    let dir = cache_dir.join(cache_name(url));
    let lock = cache_lock(&dir);
    // A poisoned lock only means another call panicked; the repository on
    // disk is still consistent (libgit2 writes packs and refs atomically).
    let _held = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let repo = open_cache(&dir)?;
    let commit = match find_commit(&repo, wanted) {
        Some(commit) => commit,
        None => {
            fetch(&repo, &remote, resolved, wanted, credentials, limits)?;
            find_commit(&repo, wanted).ok_or_else(|| Error::CommitNotFound {
                url: remote.display.clone(),
                commit: resolved.commit.clone(),
            })?
        }
    };
    read(&repo, commit)
}

/// The cache directory's name for a URL: its sha256, so that no part of the
/// URL (a password, a `..`) ever becomes a path.
fn cache_name(url: &str) -> String {
    super::hex(&Sha256::digest(url.as_bytes()))
}

/// One mutex per cache directory, so that two fetches into the same
/// repository never interleave.
fn cache_lock(dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(dir.to_path_buf()).or_default().clone()
}

fn open_cache(dir: &Path) -> Result<Repository, Error> {
    let cache_err = |e: git2::Error| Error::Cache {
        path: dir.to_path_buf(),
        message: e.message().to_string(),
    };
    if let Ok(repo) = Repository::open_bare(dir) {
        return Ok(repo);
    }
    fs::create_dir_all(dir).map_err(|e| Error::Cache {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    // Re-initialising an existing (say, half-created) repository is safe:
    // libgit2 keeps whatever objects and refs are already there.
    Repository::init_bare(dir).map_err(cache_err)
}

/// The commit `oid` names, peeling a tag object if a server advertised one.
fn find_commit(repo: &Repository, oid: Oid) -> Option<Oid> {
    let object = repo.find_object(oid, None).ok()?;
    object.peel_to_commit().ok().map(|c| c.id())
}

/// Where fetched commits are recorded, so that the next fetch can tell the
/// server what the cache already has and receive only the difference.
const FETCHED_REF: &str = "refs/distro/fetched";

fn fetch(
    repo: &Repository,
    remote: &RemoteUrl,
    resolved: &Resolved,
    wanted: Oid,
    credentials: &Credentials,
    limits: &Limits,
) -> Result<(), Error> {
    let session = Session::new(remote, credentials, limits)?;
    // Shallow attempts, likeliest first: the branch or tag by name, which
    // every server allows and which holds the commit unless the ref moved
    // since `resolve`; then the commit by id, which only some servers
    // allow (plain `git daemon` does not: asking costs a connection).
    let mut shallow = Vec::new();
    let name = &resolved.name;
    if *name != resolved.commit && git2::Reference::is_valid_name(&format!("refs/heads/{name}")) {
        shallow.push(vec![
            format!("+refs/heads/{name}:refs/distro/heads/{name}"),
            format!("+refs/tags/{name}:refs/distro/tags/{name}"),
        ]);
    }
    shallow.push(vec![format!("+{wanted}:{FETCHED_REF}")]);
    // libgit2's local transport cannot fetch shallow or by id; go straight
    // to a full fetch there.
    if remote.scheme.is_local() {
        shallow.clear();
    }
    for refspecs in &shallow {
        match session.fetch(repo, refspecs, 1) {
            Ok(()) if find_commit(repo, wanted).is_some() => return Ok(()),
            Ok(()) => {}
            // A server that refuses a shallow fetch or an unadvertised
            // commit id may still serve the next attempt; a failure that no
            // retry can fix (auth, deadline, size) ends here.
            Err(e) if !e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::debug!(url = %remote.display, error = %e, "shallow fetch refused");
            }
        }
    }
    let all = [
        "+refs/heads/*:refs/distro/heads/*".to_string(),
        "+refs/tags/*:refs/distro/tags/*".to_string(),
    ];
    session.fetch(repo, &all, 0)
}

impl Error {
    /// Whether a full fetch may succeed where a shallow one failed.
    fn is_retryable(&self) -> bool {
        matches!(self, Error::Remote { .. })
    }
}

// ---------------------------------------------------------------------------
// reading the tree

/// Validates `path` and splits it into its components; empty or `.` is the
/// repository root.
fn validate_path(path: &str) -> Result<Vec<&str>, Error> {
    let bad = |reason| Error::Path {
        path: path.to_string(),
        reason,
    };
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(bad("must be relative to the repository root"));
    }
    if path.chars().any(char::is_control) {
        return Err(bad("holds a control character"));
    }
    let mut parts = Vec::new();
    for part in path.trim_end_matches('/').split('/') {
        match part {
            "" if parts.is_empty() && path.trim_end_matches('/').is_empty() => {}
            "" => return Err(bad("holds an empty component")),
            "." => {}
            ".." => return Err(bad("must not hold `..`")),
            _ if part.contains('\\') => return Err(bad("must use `/` as separator")),
            _ => parts.push(part),
        }
    }
    Ok(parts)
}

fn read_dir(
    repo: &Repository,
    commit: Oid,
    parts: &[&str],
    limits: &Limits,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let commit_hex = commit.to_string();
    let root_display = if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    };
    let cache_err = |e: git2::Error| Error::Cache {
        path: repo.path().to_path_buf(),
        message: format!("commit {commit_hex}: {}", e.message()),
    };
    let no_dir = || Error::NoDirectory {
        commit: commit_hex.clone(),
        path: root_display.clone(),
    };
    let mut tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(cache_err)?;
    for (depth, part) in parts.iter().enumerate() {
        let next = match tree.get_name(part) {
            Some(entry) if entry.filemode() == 0o120000 => {
                return Err(Error::Symlink {
                    commit: commit_hex,
                    entry: parts[..=depth].join("/"),
                });
            }
            Some(entry) if entry.kind() == Some(ObjectType::Tree) => entry.id(),
            _ => return Err(no_dir()),
        };
        tree = repo.find_tree(next).map_err(cache_err)?;
    }

    let odb = repo.odb().map_err(cache_err)?;
    let mut files = BTreeMap::new();
    let mut bytes: u64 = 0;
    let mut dirs: usize = 0;
    // Depth-first with an explicit stack: a hostile tree may nest deeper
    // than the thread's stack.
    let mut pending = vec![(tree.id(), String::new())];
    while let Some((tree_id, prefix)) = pending.pop() {
        dirs += 1;
        if dirs > limits.max_files {
            return Err(Error::TooManyFiles {
                commit: commit_hex,
                path: root_display,
                limit: limits.max_files,
                what: "directories",
            });
        }
        let tree = repo.find_tree(tree_id).map_err(cache_err)?;
        for entry in tree.iter() {
            let rel = entry_path(&commit_hex, parts, &prefix, entry.name_bytes())?;
            let shown = || join_display(parts, &rel);
            // Modes are checked before kinds: a symlink is a blob object.
            match entry.filemode() {
                0o120000 => {
                    return Err(Error::Symlink {
                        commit: commit_hex,
                        entry: shown(),
                    });
                }
                0o160000 => {
                    return Err(Error::Submodule {
                        commit: commit_hex,
                        entry: shown(),
                    });
                }
                0o040000 => pending.push((entry.id(), format!("{rel}/"))),
                0o100644 | 0o100755 | 0o100664 => {
                    if files.len() >= limits.max_files {
                        return Err(Error::TooManyFiles {
                            commit: commit_hex,
                            path: root_display,
                            limit: limits.max_files,
                            what: "files",
                        });
                    }
                    // The header gives the size without loading the blob, so
                    // one huge file is refused before it is in memory.
                    let (size, kind) = odb.read_header(entry.id()).map_err(cache_err)?;
                    if kind != ObjectType::Blob {
                        return Err(Error::BadEntry {
                            commit: commit_hex,
                            entry: shown(),
                            reason: "is a file whose object is not a blob",
                        });
                    }
                    bytes = bytes.saturating_add(size as u64);
                    if bytes > limits.max_bytes {
                        return Err(Error::TooManyBytes {
                            commit: commit_hex,
                            path: root_display,
                            limit: limits.max_bytes,
                        });
                    }
                    let blob = repo.find_blob(entry.id()).map_err(cache_err)?;
                    let entry_name = shown();
                    if files.insert(rel, blob.content().to_vec()).is_some() {
                        return Err(Error::BadEntry {
                            commit: commit_hex,
                            entry: entry_name,
                            reason: "appears twice in its directory",
                        });
                    }
                }
                _ => {
                    return Err(Error::BadEntry {
                        commit: commit_hex,
                        entry: shown(),
                        reason: "has an unknown file mode",
                    });
                }
            }
        }
    }
    Ok(files)
}

/// `prefix` + the entry's name, once the name is known to be a plain,
/// printable UTF-8 file name.
fn entry_path(commit: &str, parts: &[&str], prefix: &str, name: &[u8]) -> Result<String, Error> {
    let bad = |reason| Error::BadEntry {
        commit: commit.to_string(),
        entry: join_display(parts, &format!("{prefix}{}", name.escape_ascii())),
        reason,
    };
    let name = std::str::from_utf8(name).map_err(|_| bad("name is not valid UTF-8"))?;
    if name.chars().any(char::is_control) {
        return Err(bad("name holds a control character"));
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(bad("name is not a plain file name"));
    }
    Ok(format!("{prefix}{name}"))
}

/// An entry's path from the repository root, for messages.
fn join_display(parts: &[&str], rel: &str) -> String {
    if parts.is_empty() {
        rel.to_string()
    } else {
        format!("{}/{rel}", parts.join("/"))
    }
}

// ---------------------------------------------------------------------------
// the network: one session per call

/// Why a callback stopped a network operation. libgit2 reports only "user
/// abort", so the reason is kept here.
#[derive(Debug, Clone)]
enum Abort {
    Deadline,
    TooLarge,
    Auth(String),
    HostKey(String),
}

/// One call's network context: the URL, the credentials, the deadline and
/// what the callbacks saw.
struct Session<'a> {
    remote: &'a RemoteUrl,
    credentials: &'a Credentials,
    known_hosts: Vec<KnownHost>,
    limits: &'a Limits,
    deadline: Instant,
    abort: RefCell<Option<Abort>>,
    /// Credential requests in the current connection; libgit2 asks again
    /// after every rejection, forever, so the second request means "wrong".
    asked: Cell<u32>,
    asked_username: Cell<u32>,
}

impl<'a> Session<'a> {
    fn new(
        remote: &'a RemoteUrl,
        credentials: &'a Credentials,
        limits: &'a Limits,
    ) -> Result<Self, Error> {
        let known_hosts = match credentials {
            Credentials::Ssh { known_hosts, .. } => parse_known_hosts(known_hosts)?,
            _ => Vec::new(),
        };
        if let Credentials::Bearer(token) = credentials
            && (token.is_empty() || token.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(Error::Credentials {
                url: remote.display.clone(),
                reason: "the bearer token is empty or holds spaces or control characters",
            });
        }
        set_socket_timeouts(limits.timeout);
        Ok(Self {
            remote,
            credentials,
            known_hosts,
            limits,
            deadline: Instant::now() + limits.timeout,
            abort: RefCell::new(None),
            asked: Cell::new(0),
            asked_username: Cell::new(0),
        })
    }

    /// The remote's refs, `name -> oid`, as `git ls-remote` shows them
    /// (peeled tags included as `refs/tags/<t>^{}`).
    fn list(&self) -> Result<BTreeMap<String, Oid>, Error> {
        self.check_deadline()?;
        self.asked.set(0);
        self.asked_username.set(0);
        if matches!(self.credentials, Credentials::Bearer(_)) {
            return self.list_with_headers();
        }
        // A detached remote reads no git configuration: no `insteadOf`
        // rewrites, no proxy settings.
        let mut remote =
            git2::Remote::create_detached(self.remote.raw.as_str()).map_err(|e| self.error(e))?;
        // No proxy: the traffic goes to the URL given, nowhere else.
        let connection = remote
            .connect_auth(
                Direction::Fetch,
                Some(self.callbacks()),
                Some(ProxyOptions::new()),
            )
            .map_err(|e| self.error(e))?;
        let refs = connection
            .list()
            .map_err(|e| self.error(e))?
            .iter()
            .map(|head| (head.name().to_string(), head.oid()))
            .collect();
        Ok(refs)
    }

    /// Listing when every request needs an extra header. `connect_auth`
    /// cannot send custom headers, but a fetch can, and a fetch whose
    /// refspec matches nothing only lists the refs; it needs a repository to
    /// run in, so a throwaway one is made.
    fn list_with_headers(&self) -> Result<BTreeMap<String, Oid>, Error> {
        let scratch = ScratchDir::new().map_err(|e| Error::Cache {
            path: std::env::temp_dir(),
            message: e.to_string(),
        })?;
        let cache_err = |e: git2::Error| Error::Cache {
            path: scratch.0.clone(),
            message: e.message().to_string(),
        };
        let repo = Repository::init_bare(&scratch.0).map_err(cache_err)?;
        let mut remote = self.anonymous_remote(&repo, &scratch.0)?;
        let mut options = self.fetch_options(0);
        remote
            .fetch(
                &["refs/distro/list-only:refs/distro/list-only"],
                Some(&mut options),
                None,
            )
            .map_err(|e| self.error(e))?;
        let refs = remote
            .list()
            .map_err(|e| self.error(e))?
            .iter()
            .map(|head| (head.name().to_string(), head.oid()))
            .collect();
        Ok(refs)
    }

    /// Fetches `refspecs` into `repo`; `depth` 0 is a full fetch.
    fn fetch(&self, repo: &Repository, refspecs: &[String], depth: i32) -> Result<(), Error> {
        self.check_deadline()?;
        self.asked.set(0);
        self.asked_username.set(0);
        let mut remote = self.anonymous_remote(repo, repo.path())?;
        let mut options = self.fetch_options(depth);
        tracing::debug!(url = %self.remote.display, depth, "fetching");
        remote
            .fetch(refspecs, Some(&mut options), None)
            .map_err(|e| self.error(e))
    }

    fn anonymous_remote<'r>(
        &self,
        repo: &'r Repository,
        dir: &Path,
    ) -> Result<git2::Remote<'r>, Error> {
        let remote = repo
            .remote_anonymous(&self.remote.raw)
            .map_err(|e| Error::Cache {
                path: dir.to_path_buf(),
                message: e.message().to_string(),
            })?;
        // A remote bound to a repository honours `url.<base>.insteadOf` from
        // the user's git configuration, which would send the traffic (and
        // the credentials) elsewhere.
        if remote.url_bytes() != self.remote.raw.as_bytes() {
            return Err(Error::Url {
                url: self.remote.display.clone(),
                reason: "rewritten by the git configuration (url.*.insteadOf); refusing to follow"
                    .into(),
            });
        }
        Ok(remote)
    }

    fn fetch_options(&self, depth: i32) -> FetchOptions<'_> {
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(self.callbacks())
            .proxy_options(ProxyOptions::new())
            // libgit2 then follows redirects on the same host only: a
            // custom header (the bearer token) would follow any redirect.
            .follow_redirects(RemoteRedirect::None)
            .download_tags(AutotagOption::None)
            .update_fetchhead(false)
            .depth(depth);
        if let Credentials::Bearer(token) = self.credentials {
            options.custom_headers(&[&format!("Authorization: Bearer {token}")]);
        }
        options
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|url, username_from_url, allowed| {
            self.credential(url, username_from_url, allowed)
        });
        callbacks.certificate_check(|cert, _host| {
            if !self.within_deadline() {
                return Err(git2::Error::from_str("deadline passed"));
            }
            match cert.as_hostkey() {
                // TLS certificates: libgit2's own verification decides.
                None => Ok(CertificateCheckStatus::CertificatePassthrough),
                Some(hostkey) => match self.check_host_key(hostkey.hostkey()) {
                    Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                    Err(reason) => {
                        let err = git2::Error::from_str(&reason);
                        *self.abort.borrow_mut() = Some(Abort::HostKey(reason));
                        Err(err)
                    }
                },
            }
        });
        callbacks.transfer_progress(|progress| {
            if progress.received_bytes() as u64 > self.limits.max_bytes {
                *self.abort.borrow_mut() = Some(Abort::TooLarge);
                return false;
            }
            self.within_deadline()
        });
        callbacks.sideband_progress(|_| self.within_deadline());
        callbacks
    }

    fn credential(
        &self,
        url: &str,
        username_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let refuse = |reason: String| {
            let err = git2::Error::from_str(&reason);
            *self.abort.borrow_mut() = Some(Abort::Auth(reason));
            Err(err)
        };
        if !self.within_deadline() {
            return Err(git2::Error::from_str("deadline passed"));
        }
        // Credentials go to the server they were given for, never to one a
        // redirect names (listing follows a first redirect, as git does).
        if !RemoteUrl::parse_with(url, false).is_ok_and(|u| u.same_origin(self.remote)) {
            return refuse(
                "the request was redirected to another server; credentials withheld".into(),
            );
        }
        if allowed.contains(CredentialType::USERNAME) {
            self.asked_username.set(self.asked_username.get() + 1);
            if self.asked_username.get() > 1 {
                return refuse("the server rejected the username".into());
            }
            return Cred::username(&self.ssh_username(username_from_url));
        }
        self.asked.set(self.asked.get() + 1);
        if self.asked.get() > 1 {
            return refuse("the server rejected the credentials".into());
        }
        match self.credentials {
            Credentials::None => {
                refuse("the server asks for credentials and none were given".into())
            }
            Credentials::Bearer(_) => refuse("the server rejected the bearer token".into()),
            Credentials::Basic { username, password } => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return refuse("the server does not accept a username and password".into());
                }
                Cred::userpass_plaintext(username, password)
            }
            Credentials::Ssh { identity, .. } => {
                if !allowed.contains(CredentialType::SSH_MEMORY)
                    && !allowed.contains(CredentialType::SSH_KEY)
                {
                    return refuse("the server does not accept an SSH key".into());
                }
                Cred::ssh_key_from_memory(
                    &self.ssh_username(username_from_url),
                    None,
                    identity,
                    None,
                )
                .or_else(|_| refuse("the SSH identity is not a usable private key".into()))
            }
        }
    }

    /// The URL's user comes first: libgit2 refuses a key offered for
    /// another user than the one it already sent.
    fn ssh_username(&self, username_from_url: Option<&str>) -> String {
        let configured = match self.credentials {
            Credentials::Ssh { username, .. } => username.clone(),
            _ => None,
        };
        username_from_url
            .map(str::to_string)
            .or_else(|| self.remote.username.clone())
            .or(configured)
            .unwrap_or_else(|| "git".to_string())
    }

    fn check_host_key(&self, key: Option<&[u8]>) -> Result<(), String> {
        let Some(key) = key else {
            return Err("was not sent in a form that can be checked".into());
        };
        if !matches!(self.credentials, Credentials::Ssh { .. }) {
            return Err("cannot be verified: SSH needs SSH credentials with known_hosts".into());
        }
        let host = self.remote.host.as_deref().unwrap_or_default();
        verify_host_key(&self.known_hosts, host, self.remote.port.unwrap_or(22), key)
    }

    fn within_deadline(&self) -> bool {
        if Instant::now() >= self.deadline {
            *self.abort.borrow_mut() = Some(Abort::Deadline);
            return false;
        }
        true
    }

    fn check_deadline(&self) -> Result<(), Error> {
        if self.within_deadline() {
            Ok(())
        } else {
            Err(self.timeout())
        }
    }

    fn timeout(&self) -> Error {
        Error::Timeout {
            url: self.remote.display.clone(),
            timeout: self.limits.timeout,
        }
    }

    /// Turns a libgit2 failure into an [`Error`], preferring the reason a
    /// callback recorded.
    fn error(&self, err: git2::Error) -> Error {
        let url = self.remote.display.clone();
        match self.abort.borrow_mut().take() {
            Some(Abort::Deadline) => return self.timeout(),
            Some(Abort::TooLarge) => {
                return Error::FetchTooLarge {
                    url,
                    limit: self.limits.max_bytes,
                };
            }
            Some(Abort::Auth(reason)) => return Error::Auth { url, reason },
            Some(Abort::HostKey(reason)) => {
                return Error::HostKey {
                    url,
                    host: self.remote.host.clone().unwrap_or_default(),
                    reason,
                };
            }
            None => {}
        }
        let message = self.scrub(err.message());
        if err.code() == ErrorCode::Auth {
            return Error::Auth {
                url,
                reason: message,
            };
        }
        // A socket timeout surfaces as a plain network error.
        let timed_out = Instant::now() >= self.deadline
            || err.code() == ErrorCode::Timeout
            || (err.class() == ErrorClass::Net && message.contains("timed out"));
        if timed_out {
            return self.timeout();
        }
        Error::Remote { url, message }
    }

    /// `message` without the URL's userinfo or any secret in use.
    fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(&self.remote.raw, &self.remote.display);
        for secret in self.credentials.secrets() {
            out = out.replace(secret, "***");
        }
        if let Some(userinfo) = &self.remote.userinfo {
            out = out.replace(userinfo.as_str(), "***");
        }
        out
    }
}

/// libgit2's socket timeouts (connect, and every read and write) are
/// process-wide; they are set once, from the first call's limits. The
/// callbacks enforce each call's own deadline between packets.
fn set_socket_timeouts(timeout: Duration) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ms = i32::try_from(timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        // SAFETY: these write two C globals that libgit2 reads when it opens
        // a socket. Every libgit2 network operation of this crate starts
        // after this `Once` has completed, so no read races the write.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms);
            let _ = git2::opts::set_server_timeout_in_milliseconds(ms);
        }
    });
}

/// A directory under the system's temporary directory, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<Self> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("distro-git-{}-{n}-{nanos}", std::process::id()));
        // `create_dir`, not `create_dir_all`: an existing directory of that
        // name is someone else's.
        fs::create_dir(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// URLs

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Git,
    Http,
    Https,
    Ssh,
    File,
    /// An absolute path on this machine.
    Path,
}

impl Scheme {
    fn is_local(self) -> bool {
        matches!(self, Scheme::File | Scheme::Path)
    }
}

/// A remote URL, checked, with what the callbacks need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteUrl {
    raw: String,
    /// The URL without userinfo, for messages.
    display: String,
    scheme: Scheme,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    userinfo: Option<String>,
}

impl RemoteUrl {
    /// Same scheme, host and port (defaults filled in).
    fn same_origin(&self, other: &RemoteUrl) -> bool {
        let port = |u: &RemoteUrl| {
            u.port.or(match u.scheme {
                Scheme::Git => Some(9418),
                Scheme::Http => Some(80),
                Scheme::Https => Some(443),
                Scheme::Ssh => Some(22),
                Scheme::File | Scheme::Path => None,
            })
        };
        self.scheme == other.scheme && self.host == other.host && port(self) == port(other)
    }

    fn parse(url: &str) -> Result<Self, Error> {
        Self::parse_with(url, true)
    }

    /// `require_path` false accepts a bare `scheme://host`, as libgit2 may
    /// name the server in a callback.
    fn parse_with(url: &str, require_path: bool) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Url {
            url: display_url(url),
            reason: reason.into(),
        };
        if url.is_empty() {
            return Err(bad("is empty"));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("holds whitespace or control characters"));
        }
        if url.starts_with('/') {
            return Ok(Self {
                raw: url.to_string(),
                display: url.to_string(),
                scheme: Scheme::Path,
                host: None,
                port: None,
                username: None,
                userinfo: None,
            });
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(if url.contains(':') {
                bad("scp-like addresses (host:path) are not supported; use ssh://host/path")
            } else {
                bad("a relative path is not supported; use an absolute path or a URL")
            });
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "git" => Scheme::Git,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ssh" => Scheme::Ssh,
            "file" => Scheme::File,
            _ => {
                return Err(bad(
                    "unsupported scheme; use git://, http://, https://, ssh:// or file://",
                ));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        if scheme == Scheme::File {
            if userinfo.is_some() || !(hostport.is_empty() || hostport == "localhost") {
                return Err(bad("a file:// URL names no host"));
            }
            return Ok(Self {
                raw: url.to_string(),
                display: url.to_string(),
                scheme,
                host: None,
                port: None,
                username: None,
                userinfo: None,
            });
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("has an invalid port"))?;
        if host.is_empty() {
            return Err(bad("names no host"));
        }
        if require_path && (path.is_empty() || path == "/") {
            return Err(bad("names no repository"));
        }
        let username = userinfo
            .as_deref()
            .map(|u| u.split_once(':').map_or(u, |(name, _)| name).to_string())
            .filter(|u| !u.is_empty());
        Ok(Self {
            raw: url.to_string(),
            display: display_url(url),
            scheme,
            host: Some(host.to_ascii_lowercase()),
            port,
            username,
            userinfo,
        })
    }
}

/// What a remote URL is, as far as a front end needs to know before writing
/// it into a Platform (`distro bootstrap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlInfo {
    /// `git`, `http`, `https`, `ssh`, `file`, or `path` for an absolute path.
    pub scheme: &'static str,
    /// The URL holds a password (`https://user:pass@host/...`).
    pub has_password: bool,
}

/// Checks a remote URL as the controller will when it fetches.
///
/// # Errors
/// The URL is one the controller refuses ([`Error::Url`]).
pub fn url_info(url: &str) -> Result<UrlInfo, Error> {
    let remote = RemoteUrl::parse(url)?;
    Ok(UrlInfo {
        scheme: match remote.scheme {
            Scheme::Git => "git",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ssh => "ssh",
            Scheme::File => "file",
            Scheme::Path => "path",
        },
        has_password: remote.userinfo.as_deref().is_some_and(|u| u.contains(':')),
    })
}

/// Checks a branch name as the controller will.
///
/// # Errors
/// Not a valid ref name ([`Error::Ref`]).
pub fn check_branch(name: &str) -> Result<(), Error> {
    check_ref_name("refs/heads/", name, &GitRef::Branch(name.to_string()))
}

/// Checks any ref (branch, tag, semver requirement, commit) as the
/// controller will, before it is written into a Platform.
///
/// # Errors
/// Not a valid ref name, semver requirement or commit ([`Error::Ref`]).
pub fn check_ref(reference: &GitRef) -> Result<(), Error> {
    match reference {
        GitRef::Branch(name) => check_ref_name("refs/heads/", name, reference),
        GitRef::Tag(name) => check_ref_name("refs/tags/", name, reference),
        GitRef::Semver(req) => semver::VersionReq::parse(req)
            .map(|_| ())
            .map_err(|e| Error::Ref {
                reference: reference.to_string(),
                reason: e.to_string(),
            }),
        GitRef::Commit(commit) => parse_commit(commit).map(|_| ()),
    }
}

/// Checks the directory of the repository that holds the platform file
/// (`spec.path`) as the controller will.
///
/// # Errors
/// Not a plain relative path ([`Error::Path`]).
pub fn check_path(path: &str) -> Result<(), Error> {
    validate_path(path).map(|_| ())
}

/// `host[:port]` or `[v6]:port`; `None` when the port is not a number.
fn split_host_port(hostport: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse().ok()?),
    };
    Some((host.to_string(), port))
}

/// `url` without its userinfo (`https://user:pass@host/x` becomes
/// `https://host/x`), for messages and logs.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

// ---------------------------------------------------------------------------
// known_hosts

/// One usable known_hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KnownHost {
    /// Comma-separated patterns, `!` negated, `*`/`?` wildcards.
    patterns: Vec<String>,
    /// The key blob as the server sends it.
    key: Vec<u8>,
    revoked: bool,
}

/// Parses OpenSSH known_hosts text: `[@revoked] host[,host2] keytype
/// base64key [comment]`. `@cert-authority` lines are skipped: certificates
/// are not supported, so they trust nothing.
fn parse_known_hosts(text: &str) -> Result<Vec<KnownHost>, Error> {
    let mut hosts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let bad = |reason: &str| Error::KnownHosts {
            line: index + 1,
            reason: reason.into(),
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace().peekable();
        let mut revoked = false;
        match fields.peek() {
            Some(&"@cert-authority") => continue,
            Some(&"@revoked") => {
                revoked = true;
                fields.next();
            }
            Some(marker) if marker.starts_with('@') => return Err(bad("unknown marker")),
            _ => {}
        }
        let (Some(patterns), Some(key_type), Some(key)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("expected `host[,host...] keytype base64-key`"));
        };
        if patterns.starts_with('|') {
            return Err(bad(
                "hashed host names (|1|...) are not supported; list the host names in clear",
            ));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not valid base64"))?;
        // The blob starts with its own type name; a mismatch is a broken line.
        if key_blob_type(&key) != Some(key_type.as_bytes()) {
            return Err(bad("the key does not match its key type"));
        }
        hosts.push(KnownHost {
            patterns: patterns.split(',').map(str::to_ascii_lowercase).collect(),
            key,
            revoked,
        });
    }
    Ok(hosts)
}

/// The key type name at the start of an SSH public key blob.
fn key_blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4 + len)
}

impl KnownHost {
    /// Whether this line is for `host` (already as known_hosts names it:
    /// `name` or `[name]:port`).
    fn matches(&self, host: &str) -> bool {
        let mut matched = false;
        for pattern in &self.patterns {
            if let Some(negated) = pattern.strip_prefix('!') {
                if glob(negated.as_bytes(), host.as_bytes()) {
                    return false;
                }
            } else if glob(pattern.as_bytes(), host.as_bytes()) {
                matched = true;
            }
        }
        matched
    }
}

/// Accepts `key` for `host:port` when a known_hosts line names the host with
/// that key and no `@revoked` line names the key.
fn verify_host_key(hosts: &[KnownHost], host: &str, port: u16, key: &[u8]) -> Result<(), String> {
    let host = host.to_ascii_lowercase();
    let name = if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    };
    if hosts.iter().any(|h| h.revoked && h.key == key) {
        return Err("is revoked in known_hosts".into());
    }
    let listed: Vec<&KnownHost> = hosts
        .iter()
        .filter(|h| !h.revoked && h.matches(&name))
        .collect();
    if listed.iter().any(|h| h.key == key) {
        Ok(())
    } else if listed.is_empty() {
        Err(format!("is unknown: no known_hosts line for {name}"))
    } else {
        Err("does not match known_hosts: the server is not the one expected".into())
    }
}

/// Shell-style `*` and `?` matching, iterative (no backtracking blow-up).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn semver_picks_the_highest_match() {
        let all = tags(&[
            "v1.2.5",
            "v1.3.0",
            "v2.0.0",
            "1.1.0",
            "latest",
            "v1.4.0-rc.1",
        ]);
        assert_eq!(
            select_semver(&all, "^1.2").unwrap().as_deref(),
            Some("v1.3.0")
        );
        assert_eq!(
            select_semver(&all, "~1.2").unwrap().as_deref(),
            Some("v1.2.5")
        );
        assert_eq!(
            select_semver(&all, ">=2").unwrap().as_deref(),
            Some("v2.0.0")
        );
        assert_eq!(
            select_semver(&all, "<1.2").unwrap().as_deref(),
            Some("1.1.0")
        );
        assert_eq!(select_semver(&all, "^3").unwrap(), None);
        assert_eq!(select_semver(&[], "*").unwrap(), None);
    }

    #[test]
    fn semver_prereleases_only_when_asked() {
        let all = tags(&["v1.3.0", "v1.4.0-rc.1"]);
        assert_eq!(
            select_semver(&all, "^1").unwrap().as_deref(),
            Some("v1.3.0")
        );
        assert_eq!(
            select_semver(&all, ">=1.4.0-rc.0").unwrap().as_deref(),
            Some("v1.4.0-rc.1")
        );
    }

    #[test]
    fn semver_ties_and_bad_requirements() {
        let all = tags(&["1.2.3", "v1.2.3"]);
        assert_eq!(
            select_semver(&all, "=1.2.3").unwrap().as_deref(),
            Some("v1.2.3")
        );
        let err = select_semver(&all, "not a range").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("not a range"), "{err}");
    }

    #[test]
    fn revision_names_the_ref_and_commit() {
        let commit = "0123456789abcdef0123456789abcdef01234567".to_string();
        let branch = Resolved {
            name: "main".into(),
            commit: commit.clone(),
        };
        assert_eq!(branch.revision(), format!("main@sha1:{commit}"));
        let tag = Resolved {
            name: "v1.2.0".into(),
            commit: commit.clone(),
        };
        assert_eq!(tag.revision(), format!("v1.2.0@sha1:{commit}"));
        let pinned = Resolved {
            name: commit.clone(),
            commit: commit.clone(),
        };
        assert_eq!(pinned.revision(), format!("sha1:{commit}"));
    }

    #[test]
    fn commit_refs_resolve_without_network() {
        let commit = "0123456789ABCDEF0123456789abcdef01234567";
        let resolved = resolve(
            "git://127.0.0.1:1/none",
            &GitRef::Commit(commit.into()),
            &Credentials::None,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(resolved.commit, commit.to_ascii_lowercase());
        for bad in ["abc", "g123456789abcdef0123456789abcdef01234567", ""] {
            let err = resolve(
                "git://127.0.0.1:1/none",
                &GitRef::Commit(bad.into()),
                &Credentials::None,
                &Limits::default(),
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        }
    }

    #[test]
    fn bad_ref_names_are_refused_before_the_network() {
        for reference in [
            GitRef::Branch(String::new()),
            GitRef::Branch("a..b".into()),
            GitRef::Tag("v1^{}".into()),
            GitRef::Tag("has space".into()),
            GitRef::Semver("^^1".into()),
        ] {
            let err = resolve(
                "git://127.0.0.1:1/none",
                &reference,
                &Credentials::None,
                &Limits::default(),
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{reference}: {err}");
        }
    }

    #[test]
    fn urls_are_checked() {
        for ok in [
            "git://127.0.0.1:9418/repo",
            "http://host/repo.git",
            "https://user:secret@host:8443/org/repo",
            "ssh://git@host/org/repo.git",
            "ssh://[::1]:2222/repo",
            "file:///srv/git/repo",
            "/srv/git/repo.git",
        ] {
            RemoteUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "ftp://host/repo",
            "git@github.com:org/repo.git",
            "relative/path",
            "https://host",
            "https://host:port/repo",
            "file://otherhost/repo",
            "https://host/re po",
            "https://host/repo\n",
        ] {
            let err = RemoteUrl::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        }
        let url = RemoteUrl::parse("ssh://deploy@Example.com:2222/repo").unwrap();
        assert_eq!(url.host.as_deref(), Some("example.com"));
        assert_eq!(url.port, Some(2222));
        assert_eq!(url.username.as_deref(), Some("deploy"));
        assert_eq!(url.scheme, Scheme::Ssh);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let origin = RemoteUrl::parse("https://u:p@Host/org/repo").unwrap();
        let other = |url| RemoteUrl::parse_with(url, false).unwrap();
        assert!(origin.same_origin(&other("https://host:443/org/repo")));
        assert!(origin.same_origin(&other("https://host")));
        assert!(!origin.same_origin(&other("https://host:8443/org/repo")));
        assert!(!origin.same_origin(&other("http://host/org/repo")));
        assert!(!origin.same_origin(&other("https://elsewhere/org/repo")));
    }

    #[test]
    fn userinfo_is_stripped_from_urls_and_errors() {
        assert_eq!(
            display_url("https://user:hunter22@host/org/repo"),
            "https://host/org/repo"
        );
        assert_eq!(display_url("ssh://git@host/r"), "ssh://host/r");
        assert_eq!(display_url("https://host/a@b"), "https://host/a@b");
        assert_eq!(display_url("/srv/repo"), "/srv/repo");
        let err = RemoteUrl::parse("ftp://user:hunter22@host/x").unwrap_err();
        assert!(!err.to_string().contains("hunter22"), "{err}");

        let url = RemoteUrl::parse("https://user:hunter22@host/x").unwrap();
        let credentials = Credentials::Basic {
            username: "u".into(),
            password: "s3cret".into(),
        };
        let limits = Limits::default();
        let session = Session::new(&url, &credentials, &limits).unwrap();
        let scrubbed =
            session.scrub("failed https://user:hunter22@host/x with s3cret and user:hunter22");
        assert!(!scrubbed.contains("hunter22"), "{scrubbed}");
        assert!(!scrubbed.contains("s3cret"), "{scrubbed}");
        assert!(scrubbed.contains("https://host/x"), "{scrubbed}");
    }

    #[test]
    fn credentials_are_offered_once_per_connection() {
        let url = RemoteUrl::parse("https://git.example/org/repo").unwrap();
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "pw-123".into(),
        };
        let limits = Limits::default();
        let session = Session::new(&url, &basic, &limits).unwrap();
        let asked = |s: &Session<'_>, url: &str, allowed| s.credential(url, None, allowed);
        let userpass = CredentialType::USER_PASS_PLAINTEXT;
        assert!(asked(&session, "https://git.example/org/repo", userpass).is_ok());
        // libgit2 asks again when the server said no: that is the answer.
        let Err(err) = asked(&session, "https://git.example/org/repo", userpass) else {
            panic!("a second ask must fail");
        };
        assert!(!err.message().contains("pw-123"));
        let err = session.error(err);
        assert!(err.is_auth(), "{err}");
        assert!(
            err.to_string()
                .starts_with("authentication failed for https://git.example/org/repo"),
            "{err}"
        );

        // A redirect to another server gets nothing, even on the first ask.
        let session = Session::new(&url, &basic, &limits).unwrap();
        assert!(asked(&session, "https://elsewhere.example/org/repo", userpass).is_err());
        assert!(session.error(git2::Error::from_str("x")).is_auth());

        // No credentials, or the wrong kind, fail on the first ask.
        let none = Credentials::None;
        let session = Session::new(&url, &none, &limits).unwrap();
        assert!(asked(&session, "https://git.example/org/repo", userpass).is_err());
        let ssh_url = RemoteUrl::parse("ssh://git.example/org/repo").unwrap();
        let session = Session::new(&ssh_url, &basic, &limits).unwrap();
        assert!(
            asked(
                &session,
                "ssh://git.example/org/repo",
                CredentialType::SSH_KEY
            )
            .is_err()
        );

        // SSH: the username request does not use up the key's one try.
        let ssh = Credentials::Ssh {
            identity: "-----BEGIN OPENSSH PRIVATE KEY-----\n...".into(),
            known_hosts: String::new(),
            username: Some("deploy".into()),
        };
        let session = Session::new(&ssh_url, &ssh, &limits).unwrap();
        let user = asked(
            &session,
            "ssh://git.example/org/repo",
            CredentialType::USERNAME,
        )
        .unwrap();
        assert!(user.has_username());
        let key = CredentialType::SSH_KEY | CredentialType::SSH_MEMORY;
        assert!(
            session
                .credential("ssh://git.example/org/repo", Some("deploy"), key)
                .is_ok()
        );
        assert!(
            session
                .credential("ssh://git.example/org/repo", Some("deploy"), key)
                .is_err()
        );
        assert_eq!(session.ssh_username(None), "deploy");
        let with_user = RemoteUrl::parse("ssh://ci@git.example/org/repo").unwrap();
        let session = Session::new(&with_user, &ssh, &limits).unwrap();
        assert_eq!(session.ssh_username(None), "ci");

        let bad_token = Credentials::Bearer("two words".into());
        let err = Session::new(&url, &bad_token, &limits).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!err.to_string().contains("two words"), "{err}");
    }

    #[test]
    fn host_keys_need_ssh_credentials() {
        let url = RemoteUrl::parse("ssh://git.example:2222/org/repo").unwrap();
        let key = blob("ssh-ed25519", &[7; 32]);
        let limits = Limits::default();
        let none = Credentials::None;
        let session = Session::new(&url, &none, &limits).unwrap();
        assert!(session.check_host_key(Some(&key)).is_err());
        let ssh = Credentials::Ssh {
            identity: String::new(),
            known_hosts: line("[git.example]:2222", &key),
            username: None,
        };
        let session = Session::new(&url, &ssh, &limits).unwrap();
        assert!(session.check_host_key(Some(&key)).is_ok());
        assert!(session.check_host_key(None).is_err());
        let other = blob("ssh-ed25519", &[9; 32]);
        assert!(session.check_host_key(Some(&other)).is_err());
        let broken = Credentials::Ssh {
            identity: String::new(),
            known_hosts: "|1|abc|def ssh-ed25519 AAAA".into(),
            username: None,
        };
        let err = Session::new(&url, &broken, &limits).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let shown = format!(
            "{:?} {:?} {:?}",
            Credentials::Basic {
                username: "u".into(),
                password: "pw-secret".into()
            },
            Credentials::Bearer("tok-secret".into()),
            Credentials::Ssh {
                identity: "key-secret".into(),
                known_hosts: String::new(),
                username: None
            }
        );
        assert!(!shown.contains("secret"), "{shown}");
    }

    fn blob(key_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = (key_type.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(key_type.as_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn line(hosts: &str, key: &[u8]) -> String {
        format!(
            "{hosts} ssh-ed25519 {} comment",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    #[test]
    fn known_hosts_parse() {
        let key = blob("ssh-ed25519", &[7; 32]);
        let text = format!(
            "# comment\n\n{}\n@cert-authority *.example.com {}\n@revoked {}",
            line("git.example.com,10.0.0.1", &key),
            line("x", &key).split_once(' ').unwrap().1,
            line("old.example.com", &key)
        );
        let hosts = parse_known_hosts(&text).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].patterns, ["git.example.com", "10.0.0.1"]);
        assert!(!hosts[0].revoked);
        assert!(hosts[1].revoked);

        let hashed = format!(
            "|1|c2FsdA==|aGFzaA== ssh-ed25519 {}",
            line("h", &key).split(' ').nth(2).unwrap()
        );
        let err = parse_known_hosts(&format!("\n{hashed}")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(err.to_string().contains("hashed"), "{err}");

        for bad in [
            "host ssh-ed25519",
            "host ssh-ed25519 !!notbase64!!",
            "@bogus host ssh-ed25519 AAAA",
        ] {
            let err = parse_known_hosts(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        }
        // The blob says ed25519, the line says rsa.
        let mismatched = line("host", &key).replace("ssh-ed25519", "ssh-rsa");
        assert!(parse_known_hosts(&mismatched).is_err());
    }

    #[test]
    fn known_hosts_verify() {
        let key = blob("ssh-ed25519", &[7; 32]);
        let other = blob("ssh-ed25519", &[8; 32]);
        let text = [
            line("git.example.com", &key),
            line("[git.example.com]:2222", &other),
            line("*.wild.example,!bad.wild.example", &key),
        ]
        .join("\n");
        let hosts = parse_known_hosts(&text).unwrap();
        assert!(verify_host_key(&hosts, "git.example.com", 22, &key).is_ok());
        assert!(verify_host_key(&hosts, "GIT.example.com", 22, &key).is_ok());
        assert!(verify_host_key(&hosts, "git.example.com", 2222, &other).is_ok());
        let wrong = verify_host_key(&hosts, "git.example.com", 22, &other).unwrap_err();
        assert!(wrong.contains("does not match"), "{wrong}");
        let unknown = verify_host_key(&hosts, "elsewhere.example", 22, &key).unwrap_err();
        assert!(unknown.contains("unknown"), "{unknown}");
        assert!(verify_host_key(&hosts, "a.wild.example", 22, &key).is_ok());
        assert!(verify_host_key(&hosts, "bad.wild.example", 22, &key).is_err());

        let revoked = parse_known_hosts(&format!(
            "{}\n@revoked {}",
            line("git.example.com", &key),
            line("*", &key)
        ))
        .unwrap();
        let err = verify_host_key(&revoked, "git.example.com", 22, &key).unwrap_err();
        assert!(err.contains("revoked"), "{err}");
    }

    #[test]
    fn glob_matches_like_ssh() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"*.example.com", b"a.b.example.com"));
        assert!(!glob(b"*.example.com", b"example.com"));
        assert!(glob(b"host?", b"host1"));
        assert!(!glob(b"host?", b"host"));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
    }

    #[test]
    fn paths_are_validated() {
        assert_eq!(validate_path("").unwrap(), Vec::<&str>::new());
        assert_eq!(validate_path(".").unwrap(), Vec::<&str>::new());
        assert_eq!(validate_path("./").unwrap(), Vec::<&str>::new());
        assert_eq!(validate_path("dist").unwrap(), ["dist"]);
        assert_eq!(validate_path("a/b/").unwrap(), ["a", "b"]);
        assert_eq!(validate_path("./a/./b").unwrap(), ["a", "b"]);
        for bad in [
            "/etc", "../x", "a/../b", "a//b", "a/\u{7}", "\\x", "a\\b", "..",
        ] {
            let err = validate_path(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(entry_path("c", &[], "a/", b"b.yaml").unwrap(), "a/b.yaml");
        let err = entry_path("c", &["dist"], "a/", b"bad\xffname").unwrap_err();
        assert!(err.to_string().contains("dist/a/bad\\xffname"), "{err}");
        assert!(entry_path("c", &[], "", b"tab\there").is_err());
        assert!(entry_path("c", &[], "", b"..").is_err());
        assert!(entry_path("c", &[], "", b"").is_err());
    }

    #[test]
    fn cache_names_hide_the_url() {
        let name = cache_name("https://user:pw@host/../x");
        assert_eq!(name.len(), 64);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(name, cache_name("https://host/x"));
    }
}
