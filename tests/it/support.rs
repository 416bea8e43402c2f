//! Shared helpers: run the binary, copy fixtures into a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (where Cargo.toml is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture distribution under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    project_root().join("tests/fixtures").join(name)
}

/// Runs `distro` with `args` in `dir`.
pub fn distro(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distro"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the distro binary runs")
}

/// Exit code, stdout and stderr of a run, for assertions.
pub fn outcome(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of a fixture; the directory is removed on drop.
pub fn scratch(fixture_name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(fixture_name), dir.path());
    let _ = std::fs::remove_file(dir.path().join("distro.lock"));
    dir
}

/// A `distro ... --watch` process: stdout and stderr go to files the test
/// polls; the process is killed on drop.
pub struct Watched {
    child: std::process::Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Watched {
    /// Starts `distro args` in `dir`, with `KUBECONFIG` when given.
    pub fn start(dir: &Path, args: &[&str], kubeconfig: Option<&Path>) -> Watched {
        let stdout = dir.join(".watch.stdout");
        let stderr = dir.join(".watch.stderr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_distro"));
        command
            .args(args)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let child = command.spawn().expect("the distro binary runs");
        Watched {
            child,
            stdout,
            stderr,
        }
    }

    /// What the process printed so far: (stdout, stderr).
    pub fn output(&self) -> (String, String) {
        (
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }

    /// Polls `done` for up to 60 s, failing with the output so far.
    pub fn wait_for(&mut self, what: &str, done: &dyn Fn(&str, &str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (out, err) = self.output();
            if done(&out, &err) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the watch ended ({status}) before {what}:\n{out}\n{err}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}:\n{out}\n{err}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exit code, stdout and stderr of `distro args` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(&distro(dir, args))
}

/// Stdout of a command that must succeed.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(dir, args);
    assert_eq!(code, 0, "distro {args:?} failed:\n{stderr}");
    stdout
}

/// Runs a command that must fail as invalid input, and returns stderr.
pub fn invalid(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(dir, args);
    assert_eq!(code, 2, "distro {args:?}:\n{stdout}{stderr}");
    assert!(stdout.is_empty(), "distro {args:?} printed:\n{stdout}");
    stderr
}

/// Writes `text` to `root/rel`, creating its directories.
pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A scratch copy of the project's default distribution, lock included.
pub fn default_distribution() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = project_root();
    for file in ["platform.yaml", "distro.lock"] {
        std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
    }
    copy_tree(&root.join("packages"), &dir.path().join("packages"));
    copy_tree(&root.join("bundles"), &dir.path().join("bundles"));
    dir
}
