//! Git servers on loopback for tests: `git daemon` (git://), an HTTP server
//! that runs `git http-backend` behind Basic auth, and a helper that builds
//! repositories with the git command line.
//!
//! Every server picks a free port on 127.0.0.1 and stops on drop; every git
//! command runs with the machine's and the user's git configuration shut
//! out, and under a time limit.

#![allow(dead_code)] // shared by several test modules; not each uses all

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// Upper bound on one git command in the helpers.
const GIT_TIMEOUT: &str = "60";

/// A home directory with no git configuration, shared by every helper.
fn empty_home() -> &'static Path {
    static HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    HOME.get_or_init(|| tempfile::tempdir().expect("a temporary home directory"))
        .path()
}

/// A `git` command that sees neither the system's nor the user's
/// configuration, never prompts, and is killed after [`GIT_TIMEOUT`].
fn git() -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", GIT_TIMEOUT, "git"])
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["-c", "init.defaultBranch=main"]);
    isolate(&mut cmd);
    cmd
}

/// One of git's own programs (`git-daemon`, `git-http-backend`), run
/// directly rather than through the `git` wrapper, so that the child's pid
/// is the server's own and killing it stops the server.
fn git_program(name: &str) -> Command {
    static EXEC_PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = EXEC_PATH.get_or_init(|| {
        let out = git().arg("--exec-path").output().expect("git --exec-path");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    });
    let mut cmd = Command::new(dir.join(name));
    isolate(&mut cmd);
    cmd
}

fn isolate(cmd: &mut Command) {
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", empty_home())
        .env("XDG_CONFIG_HOME", empty_home())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null());
}

/// Runs git in `dir`; panics with its stderr when it fails. Returns stdout.
fn run_git(dir: &Path, args: &[&str]) -> String {
    let out = git()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A free port on 127.0.0.1 (bound, then released; a server may still lose
/// a race for it, so callers retry).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits until `port` accepts connections or `child` exits; true when it
/// accepts.
fn wait_for_port(port: u16, child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let addr = ([127, 0, 0, 1], port).into();
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

// ---------------------------------------------------------------------------
// git daemon

/// `git daemon` serving every repository under a base directory over git://.
pub struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    /// Starts the daemon on a free loopback port; waits (10 s at most) until
    /// it accepts connections.
    pub fn start(base: &Path) -> GitDaemon {
        for _ in 0..5 {
            let port = free_port();
            let mut child = git_program("git-daemon")
                .arg("--reuseaddr")
                .arg(format!("--base-path={}", base.display()))
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(base)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("git daemon starts");
            // Another server may hold the port: then this daemon fails to
            // bind and exits at once, while the port still accepts.
            if wait_for_port(port, &mut child, Duration::from_secs(10)) {
                thread::sleep(Duration::from_millis(100));
                if let Ok(None) = child.try_wait() {
                    return GitDaemon { child, port };
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start on a free port");
    }

    /// `git://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// git http-backend behind Basic auth

/// An HTTP/1.1 server on 127.0.0.1 that runs `git http-backend` for each
/// request, after checking `Authorization: Basic` against one user. A
/// `Bearer` token equal to the password is accepted too, to test token
/// authentication.
pub struct GitHttp {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// Bounds on one request, so that a broken client cannot hold a test.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;
const CGI_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct HttpConfig {
    base: PathBuf,
    username: String,
    password: String,
}

impl GitHttp {
    pub fn start(base: &Path, username: &str, password: &str) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let config = HttpConfig {
            base: base.to_path_buf(),
            username: username.to_string(),
            password: password.to_string(),
        };
        let thread = {
            let stop = stop.clone();
            let requests = requests.clone();
            thread::spawn(move || {
                // Polls so that the stop flag is seen within 20 ms.
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let config = config.clone();
                            let requests = requests.clone();
                            thread::spawn(move || serve(stream, &config, &requests));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        GitHttp {
            port,
            stop,
            thread: Some(thread),
            requests,
        }
    }

    /// `http://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }

    /// `METHOD path status` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One connection, one request: the response says `Connection: close`.
fn serve(stream: TcpStream, config: &HttpConfig, log: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let status = match read_request(&mut reader, &mut writer) {
        Ok(request) => {
            let status = respond(&request, config, &mut writer);
            if let Ok(mut log) = log.lock() {
                log.push(format!("{} {} {status}", request.method, request.path));
            }
            status
        }
        Err(_) => {
            let _ = writer.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            400
        }
    };
    let _ = status;
    let _ = writer.flush();
    let _ = writer.shutdown(Shutdown::Both);
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> std::io::Result<Request> {
    let mut head_bytes = 0;
    let mut line = String::new();
    let mut read_line = |reader: &mut BufReader<TcpStream>, line: &mut String| {
        line.clear();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(line)?;
        head_bytes += n;
        if n == 0 || head_bytes > MAX_HEAD {
            return Err(invalid("truncated or oversized head"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let request_line = read_line(reader, &mut line)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid("request line"));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    loop {
        let header = read_line(reader, &mut line)?;
        if header.is_empty() {
            break;
        }
        let (k, v) = header.split_once(':').ok_or_else(|| invalid("header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
        if headers.len() > 200 {
            return Err(invalid("too many headers"));
        }
    }
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
    };
    if request
        .header("Expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if request
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("Content-Length") {
        let len: usize = len.parse().map_err(|_| invalid("content-length"))?;
        if len > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(request)
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    // Each pass reads one chunk; the body bound ends the loop.
    loop {
        line.clear();
        reader.by_ref().take(1024).read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            for _ in 0..100 {
                line.clear();
                let n = reader.by_ref().take(1024).read_line(&mut line)?;
                if n == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
            return Err(invalid("too many trailers"));
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn authorized(request: &Request, config: &HttpConfig) -> bool {
    let Some(value) = request.header("Authorization") else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return token == config.password;
    }
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{}:{}", config.username, config.password).as_bytes()
}

/// Answers one request; returns the status sent.
fn respond(request: &Request, config: &HttpConfig, out: &mut TcpStream) -> u16 {
    if !authorized(request, config) {
        let _ = out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return 401;
    }
    match run_backend(request, config, out) {
        Ok(status) => status,
        Err(e) => {
            eprintln!(
                "git http-backend for {} {}: {e}",
                request.method, request.path
            );
            let _ = out.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            500
        }
    }
}

/// Runs `git http-backend` as a CGI script and streams its answer back as a
/// chunked HTTP response.
fn run_backend(
    request: &Request,
    config: &HttpConfig,
    out: &mut TcpStream,
) -> std::io::Result<u16> {
    let mut cmd = git_program("git-http-backend");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", empty_home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &config.base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REQUEST_METHOD", &request.method)
        .env("CONTENT_TYPE", request.header("Content-Type").unwrap_or(""))
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_USER", &config.username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(protocol) = request.header("Git-Protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = request.header("Content-Encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| invalid("stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| invalid("stdout"))?;
    let child = Arc::new(Mutex::new(child));

    // The body goes in from its own thread, so that a backend that answers
    // before it has read everything cannot deadlock against us.
    let body = request.body.clone();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    // A backend that hangs is killed, which ends the read below.
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = {
        let child = child.clone();
        thread::spawn(move || {
            if finished.recv_timeout(CGI_TIMEOUT).is_err() {
                if let Ok(mut child) = child.lock() {
                    let _ = child.kill();
                }
            }
        })
    };

    let result = relay(stdout, out);
    let _ = done.send(());
    let _ = watchdog.join();
    let _ = writer.join();
    if let Ok(mut child) = child.lock() {
        let _ = child.wait();
    }
    result
}

/// Copies the CGI's answer to the client: its headers (with `Status:` made
/// the status line), then its body as chunks.
fn relay(stdout: std::process::ChildStdout, out: &mut TcpStream) -> std::io::Result<u16> {
    let mut cgi = BufReader::new(stdout);
    let mut status = 200u16;
    let mut reason = "OK".to_string();
    let mut headers = Vec::new();
    let mut line = String::new();
    for _ in 0..200 {
        line.clear();
        let n = cgi.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
        let header = line.trim_end_matches(['\r', '\n']);
        if n == 0 || header.is_empty() {
            break;
        }
        match header.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("Status") => {
                let v = v.trim();
                let (code, text) = v.split_once(' ').unwrap_or((v, ""));
                status = code.parse().map_err(|_| invalid("status"))?;
                reason = text.to_string();
            }
            Some(_) => headers.push(header.to_string()),
            None => return Err(invalid("cgi header")),
        }
    }
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    // Once the head is out the status is sent; a client that hangs up once
    // it has what it needs (libgit2 does, before the last chunk) is fine.
    let _ = relay_body(&mut cgi, out);
    Ok(status)
}

/// Ends at the CGI's end of output (the watchdog guarantees there is one).
fn relay_body(cgi: &mut impl Read, out: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = cgi.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(format!("{n:x}\r\n").as_bytes())?;
        out.write_all(&buf[..n])?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"0\r\n\r\n")
}

// ---------------------------------------------------------------------------
// repositories

/// A bare repository served from `base/<name>`, and a work clone (in a
/// temporary directory) to build commits in.
pub struct Repo {
    bare: PathBuf,
    work: tempfile::TempDir,
    branch: String,
}

impl Repo {
    /// Creates the bare repository `base/<name>` (name it `x.git` to serve
    /// it as `.../x.git`) with fetch by commit id allowed, and an empty work
    /// repository on branch `main`.
    pub fn init(base: &Path, name: &str) -> Repo {
        let bare = base.join(name);
        std::fs::create_dir_all(&bare).expect("bare repository directory");
        run_git(&bare, &["init", "--quiet", "--bare"]);
        run_git(
            &bare,
            &["config", "uploadpack.allowReachableSHA1InWant", "true"],
        );
        run_git(&bare, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        run_git(&bare, &["config", "uploadpack.allowFilter", "true"]);
        let work = tempfile::tempdir().expect("work directory");
        run_git(work.path(), &["init", "--quiet"]);
        run_git(work.path(), &["checkout", "--quiet", "-b", "main"]);
        let bare_text = bare.to_str().expect("a UTF-8 temporary path");
        run_git(work.path(), &["remote", "add", "origin", bare_text]);
        Repo {
            bare,
            work,
            branch: "main".into(),
        }
    }

    /// The bare repository's path.
    pub fn bare(&self) -> &Path {
        &self.bare
    }

    /// The work tree's path.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// Sets a config value in the bare (served) repository.
    pub fn set_config(&self, key: &str, value: &str) {
        run_git(&self.bare, &["config", key, value]);
    }

    /// Writes a file in the work tree (parents created).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.work.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent directory");
        }
        std::fs::write(&path, content).expect("write file");
        self
    }

    /// Makes `rel` a symlink to `target` in the work tree.
    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let path = self.work.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent directory");
        }
        std::os::unix::fs::symlink(target, &path).expect("symlink");
        self
    }

    /// Removes a file or directory from the work tree.
    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.work.path().join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("remove directory");
        } else {
            std::fs::remove_file(&path).expect("remove file");
        }
        self
    }

    /// Copies a directory tree (files and directories) to `to_rel` in the
    /// work tree; `""` is the root.
    pub fn copy_tree(&self, from_dir: &Path, to_rel: &str) -> &Self {
        copy_dir(from_dir, &self.work.path().join(to_rel));
        self
    }

    /// Commits everything in the work tree; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        run_git(self.work.path(), &["add", "-A"]);
        run_git(
            self.work.path(),
            &["commit", "--quiet", "--allow-empty", "-m", message],
        );
        self.head()
    }

    /// The current commit of the work tree.
    pub fn head(&self) -> String {
        run_git(self.work.path(), &["rev-parse", "HEAD"])
    }

    /// A lightweight tag on the current commit.
    pub fn tag(&self, name: &str) -> &Self {
        run_git(self.work.path(), &["tag", "--force", name]);
        self
    }

    /// An annotated tag on the current commit.
    pub fn annotated_tag(&self, name: &str) -> &Self {
        run_git(
            self.work.path(),
            &["tag", "--force", "--annotate", "-m", name, name],
        );
        self
    }

    /// The id of a tag object (for annotated tags, not the commit).
    pub fn tag_object(&self, name: &str) -> String {
        run_git(
            self.work.path(),
            &["rev-parse", &format!("refs/tags/{name}")],
        )
    }

    /// Pushes the branch and every tag to the bare repository, through the
    /// filesystem.
    pub fn push(&self) -> &Self {
        let refspec = format!("HEAD:refs/heads/{}", self.branch);
        run_git(
            self.work.path(),
            &["push", "--quiet", "--force", "origin", &refspec],
        );
        run_git(
            self.work.path(),
            &["push", "--quiet", "--force", "--tags", "origin"],
        );
        self
    }

    /// Switches the work tree to `branch` (created from the current commit
    /// when new); later pushes go to it.
    pub fn branch(&mut self, branch: &str) -> &Self {
        run_git(self.work.path(), &["checkout", "--quiet", "-B", branch]);
        self.branch = branch.to_string();
        self
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("target directory");
    for entry in std::fs::read_dir(from).expect("source directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}
