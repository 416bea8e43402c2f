//! Real OCI registries for the tests: Debian's `docker-registry` on
//! 127.0.0.1, started by `hack/registry.sh`.
//!
//! `hack/test.sh` starts two for the whole run and passes their addresses
//! in `DISTRO_TEST_REGISTRY` (a source) and `DISTRO_TEST_REGISTRY_TARGET`
//! (a private target). Without them, the first test that needs one starts
//! it, with a watchdog that stops it when this test process ends, as the
//! cluster tests do. Tests that touch the registry's storage or need
//! authentication start a [`Dedicated`] one of their own.
//!
//! Tests share the registries, so each uses its own repository names.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::support::project_root;

static SOURCE: OnceLock<String> = OnceLock::new();
static TARGET: OnceLock<String> = OnceLock::new();

/// `127.0.0.1:PORT` of the shared source registry.
pub fn source() -> &'static str {
    SOURCE.get_or_init(|| shared("DISTRO_TEST_REGISTRY", "source"))
}

/// `127.0.0.1:PORT` of the shared private target registry.
#[allow(dead_code)] // the air-gap tests use it
pub fn target() -> &'static str {
    TARGET.get_or_init(|| shared("DISTRO_TEST_REGISTRY_TARGET", "target"))
}

fn shared(var: &str, name: &str) -> String {
    if let Ok(addr) = std::env::var(var) {
        return addr;
    }
    let dir =
        std::env::temp_dir().join(format!("distro-it-registry-{name}-{}", std::process::id()));
    let addr = up(&dir, None);
    let script = project_root().join("hack/registry.sh");
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; bash {script} down {dir}; rm -rf {dir}",
        pid = std::process::id(),
        script = script.display(),
        dir = dir.display()
    );
    // Deliberately not waited for: it outlives this process.
    #[allow(clippy::zombie_processes)]
    let _watchdog = Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watchdog starts");
    addr
}

/// Starts a registry in `dir`; returns its address.
fn up(dir: &Path, htpasswd: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(project_root().join("hack/registry.sh"))
        .arg("up")
        .arg(dir);
    if let Some(h) = htpasswd {
        cmd.arg(h);
    }
    let out = cmd.output().expect("hack/registry.sh runs");
    assert!(
        out.status.success(),
        "hack/registry.sh up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("addr"))
        .expect("DIR/addr written")
        .trim()
        .to_string()
}

/// A registry of one test; stopped when dropped.
pub struct Dedicated {
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Dedicated {
    /// A registry with anonymous access.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that requires Basic authentication with the users of the
    /// htpasswd (bcrypt) file.
    pub fn start_with(htpasswd: Option<&Path>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("distro-it-registry-")
            .tempdir()
            .unwrap();
        let addr = up(dir.path(), htpasswd);
        Dedicated { addr, dir }
    }

    /// The registry's storage root (`docker/registry/v2/...` below it).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(project_root().join("hack/registry.sh"))
            .arg("down")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
