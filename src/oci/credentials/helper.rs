//! Docker credential helpers: `docker-credential-NAME get`, the registry
//! on stdin, `{"ServerURL", "Username", "Secret"}` on stdout.
//!
//! The helper is a program named by a config file, so everything about
//! running it is bounded: the name is checked before a program name is
//! built from it, the program is looked up only in absolute `PATH`
//! directories, it gets [`Helpers::timeout`] (then it is killed and
//! reaped), and its output is capped. Its stderr is read (so it never
//! blocks on a full pipe) but never shown: helpers may echo what they were
//! given.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Credentials;

/// How long a helper may take before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest stdout read from a helper; its answer is a few hundred bytes.
const MAX_STDOUT_BYTES: u64 = 64 * 1024;

/// Largest stderr kept (only to recognise "not found"; never shown).
const MAX_STDERR_BYTES: u64 = 4 * 1024;

/// Longest helper name accepted; real ones are a word (`desktop`, `ecr-login`).
const MAX_NAME_CHARS: usize = 64;

/// What helpers print, on a non-zero exit, when they hold nothing for the
/// registry (the text of Docker's `credentials.ErrCredentialsNotFound`).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// The user name a helper answers with when `Secret` is an identity token.
const TOKEN_USER: &str = "<token>";

/// Errors running a helper. No message holds a secret or the helper's output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("credential helper name {0:?} is not a name (letters, digits, '.', '_', '-')")]
    Name(String),
    #[error("credential helper {helper} for {registry}: {failure}")]
    Run {
        helper: String,
        registry: String,
        failure: Failure,
    },
}

/// Why a helper gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("not found on PATH")]
    Missing,
    #[error("cannot be run: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("no answer within {} s; killed", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("exited with {0}")]
    Exit(ExitStatus),
    #[error("printed more than {MAX_STDOUT_BYTES} bytes")]
    TooLarge,
    #[error("printed no credentials JSON ({0})")]
    Json(String),
}

/// Where helpers are looked up and how long they may run.
#[derive(Clone, Debug)]
pub struct Helpers {
    /// A `PATH`-style list of directories.
    pub search_path: OsString,
    pub timeout: Duration,
}

impl Helpers {
    /// This process's `PATH` and [`DEFAULT_TIMEOUT`].
    pub fn from_env() -> Self {
        Helpers {
            search_path: std::env::var_os("PATH").unwrap_or_default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Asks helper `name` for the credentials of `server` (a registry host,
    /// or Docker Hub's index URL); anonymous when it has none.
    ///
    /// # Errors
    /// `name` is not a plain name (checked before anything runs), or the
    /// helper is missing, fails, times out or answers with something that is
    /// not its JSON.
    pub fn get(&self, name: &str, server: &str) -> Result<Credentials, Error> {
        let program = program_name(name)?;
        let run = |failure| Error::Run {
            helper: program.clone(),
            registry: server.to_string(),
            failure,
        };
        let path = find(&program, &self.search_path).ok_or_else(|| run(Failure::Missing))?;
        tracing::debug!(helper = %program, registry = server, "asking the credential helper");
        let output = execute(&path, server, self.timeout).map_err(run)?;
        if !output.status.success() {
            // The not-found text is what Docker itself checks for; anything
            // else is a failure, reported by exit status only.
            if contains(&output.stdout, NOT_FOUND) || contains(&output.stderr, NOT_FOUND) {
                tracing::debug!(helper = %program, registry = server, "no credentials in the helper");
                return Ok(Credentials::Anonymous);
            }
            return Err(run(Failure::Exit(output.status)));
        }
        parse(&output.stdout).map_err(run)
    }
}

/// `docker-credential-NAME`, once `NAME` is known not to be a path or an
/// option.
fn program_name(name: &str) -> Result<String, Error> {
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        let shown: String = name.chars().take(MAX_NAME_CHARS).collect();
        return Err(Error::Name(shown));
    }
    Ok(format!("docker-credential-{name}"))
}

/// The first executable `program` in an absolute directory of
/// `search_path`. Empty and relative entries (the current directory, in
/// effect) are skipped: a checkout could otherwise supply the helper.
fn find(program: &str, search_path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

struct Output {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `path get` with `server` on stdin, within `timeout` for the exit
/// and for the output to end.
fn execute(path: &Path, server: &str, timeout: Duration) -> Result<Output, Failure> {
    let deadline = Instant::now() + timeout;
    let mut child = spawn(path)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A few bytes fit in the pipe, so this does not block; a helper
        // that exits without reading gives EPIPE, and its exit status is
        // the answer that matters.
        let _ = stdin.write_all(format!("{server}\n").as_bytes());
    }
    let (tx, rx) = mpsc::channel();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        let _ = out_tx.send(Got::Out(out.and_then(|p| read_capped(p, MAX_STDOUT_BYTES))));
    });
    std::thread::spawn(move || {
        let _ = tx.send(Got::Err(err.and_then(|p| read_capped(p, MAX_STDERR_BYTES))));
    });
    let status = wait(&mut child, deadline, timeout)?;
    // The pipes may outlive the helper (a child of it holds them), so the
    // output is awaited only until the same deadline; the reader threads
    // end when the last holder closes them.
    let (mut stdout, mut stderr) = (None, None);
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Got::Out(bytes)) => stdout = Some(bytes),
            Ok(Got::Err(bytes)) => stderr = Some(bytes),
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(Failure::Timeout(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let stdout = stdout.unwrap_or_default().ok_or(Failure::TooLarge)?;
    Ok(Output {
        status,
        stdout,
        // Only searched for the not-found text; over its cap it is dropped.
        stderr: stderr.unwrap_or_default().unwrap_or_default(),
    })
}

/// Spawns the helper. A helper that was just written (installed while we
/// start) can briefly be busy; that is retried a few times.
fn spawn(path: &Path) -> Result<Child, Failure> {
    let mut attempts = 0;
    loop {
        let spawned = Command::new(path)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 5 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20 * attempts));
            }
            other => return other.map_err(Failure::Spawn),
        }
    }
}

/// The helper's exit status, or it is killed (and reaped) at `deadline`.
fn wait(child: &mut Child, deadline: Instant, timeout: Duration) -> Result<ExitStatus, Failure> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(match outcome {
                    Err(e) => Failure::Spawn(e),
                    _ => Failure::Timeout(timeout),
                });
            }
        }
    }
}

/// What a reader thread got: the first bytes of its pipe, or `None` when
/// there were more than its cap.
enum Got {
    Out(Option<Vec<u8>>),
    Err(Option<Vec<u8>>),
}

/// Reads to the end, keeping at most `cap` bytes; what is beyond is
/// drained so the helper never blocks writing it.
fn read_capped(mut pipe: impl Read, cap: u64) -> Option<Vec<u8>> {
    let mut kept = Vec::new();
    let _ = (&mut pipe).take(cap).read_to_end(&mut kept);
    let beyond = std::io::copy(&mut pipe, &mut std::io::sink()).unwrap_or(0);
    (beyond == 0).then_some(kept)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The helper's JSON as credentials. The parser's message is not kept: it
/// can quote the value it choked on, which may be the secret.
fn parse(stdout: &[u8]) -> Result<Credentials, Failure> {
    let answer: Answer = serde_json::from_slice(stdout).map_err(|e| {
        Failure::Json(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    Ok(match (answer.username, answer.secret) {
        (_, secret) if secret.is_empty() => Credentials::Anonymous,
        (username, secret) if username == TOKEN_USER => Credentials::Bearer(secret),
        (username, password) => Credentials::Basic { username, password },
    })
}

#[cfg(test)]
mod tests;
