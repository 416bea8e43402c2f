//! The real control plane the cluster tests run against: etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake
//! nodes, so workloads become Ready through the real controllers), started
//! by `hack/cluster.sh` on 127.0.0.1.
//!
//! `hack/test.sh` starts one cluster for the whole run and passes its
//! kubeconfig in `DISTRO_TEST_KUBECONFIG`. Without it, the first test that
//! needs a cluster starts one, with a watchdog that stops it (by the PIDs
//! the script recorded) when this test process ends.
//!
//! Tests share the cluster, so each uses its own platform name, release
//! names and namespaces.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::support::project_root;

pub struct Cluster {
    pub kubeconfig: PathBuf,
    /// Where the script keeps state (audit log) when known.
    pub dir: Option<PathBuf>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The shared test cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        if let Ok(kubeconfig) = std::env::var("DISTRO_TEST_KUBECONFIG") {
            let kubeconfig = PathBuf::from(kubeconfig);
            let dir = kubeconfig.parent().map(Path::to_path_buf);
            return Cluster { kubeconfig, dir };
        }
        let script = project_root().join("hack/cluster.sh");
        let dir = std::env::temp_dir().join(format!("distro-it-{}", std::process::id()));
        start(&dir);
        // Stop the cluster when this process is gone.
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; exec bash {script} down {dir}",
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
        Cluster {
            kubeconfig: dir.join("kubeconfig"),
            dir: Some(dir),
        }
    })
}

/// Builds the binaries if needed (cached: a no-op after the first time) and
/// starts a cluster whose state lives in `dir`.
fn start(dir: &Path) {
    let script = project_root().join("hack/cluster.sh");
    let steps: [&[&std::ffi::OsStr]; 2] = [&["build".as_ref()], &["up".as_ref(), dir.as_os_str()]];
    for args in steps {
        let status = Command::new("bash")
            .arg(&script)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("hack/cluster.sh runs");
        assert!(status.success(), "hack/cluster.sh {args:?} failed");
    }
}

impl Cluster {
    /// A cluster of its own, for a test that must see a fresh cluster and
    /// nobody else's requests. Stopped when dropped.
    pub fn dedicated() -> Dedicated {
        let dir = tempfile::Builder::new()
            .prefix("distro-it-own-")
            .tempdir()
            .unwrap();
        start(dir.path());
        Dedicated {
            cluster: Cluster {
                kubeconfig: dir.path().join("kubeconfig"),
                dir: Some(dir.path().to_path_buf()),
            },
            _dir: dir,
        }
    }

    /// Runs `distro` against this cluster.
    pub fn distro(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_distro"))
            .args(args)
            .current_dir(dir)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("the distro binary runs")
    }

    /// Runs kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .expect("kubectl runs")
    }

    /// kubectl's stdout, asserting success.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A `kubectl get -o json` result, or `None` when the object is not found.
    pub fn get_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut full = vec!["get"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&full);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("NotFound") || err.contains("not found"),
                "kubectl {full:?}: {err}"
            );
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    fn audit_lines(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        std::fs::read_to_string(dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Number of audit log lines so far, to count requests made after it.
    pub fn audit_mark(&self) -> usize {
        self.audit_lines().len()
    }

    /// Write requests (create, update, patch, delete) since `mark` whose
    /// user agent contains `agent`, leaving out server-side dry runs, which
    /// write nothing.
    pub fn writes_since(&self, mark: usize, agent: &str) -> Vec<String> {
        self.audit_lines()
            .into_iter()
            .skip(mark)
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .filter(|e| e["stage"] == "ResponseComplete")
            .filter(|e| {
                matches!(
                    e["verb"].as_str(),
                    Some("create" | "update" | "patch" | "delete" | "deletecollection")
                )
            })
            .filter(|e| {
                !e["requestURI"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("dryRun=")
            })
            .filter(|e| e["userAgent"].as_str().unwrap_or_default().contains(agent))
            .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
            .collect()
    }

    /// Every request since `mark` (verb, URI) whose user agent contains
    /// `agent`, writes and reads alike.
    pub fn requests_since(&self, mark: usize, agent: &str) -> Vec<(String, String)> {
        self.audit_lines()
            .into_iter()
            .skip(mark)
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .filter(|e| e["stage"] == "ResponseComplete")
            .filter(|e| e["userAgent"].as_str().unwrap_or_default().contains(agent))
            .map(|e| {
                (
                    e["verb"].as_str().unwrap_or_default().to_string(),
                    e["requestURI"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Requests since `mark` by the user `username` that the API server
    /// refused as forbidden (403), as `verb URI`.
    pub fn forbidden_since(&self, mark: usize, username: &str) -> Vec<String> {
        self.audit_lines()
            .into_iter()
            .skip(mark)
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .filter(|e| e["stage"] == "ResponseComplete")
            .filter(|e| e["user"]["username"] == username)
            .filter(|e| e["responseStatus"]["code"] == 403)
            .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
            .collect()
    }

    /// Whether the audit log is available (script-started clusters have one).
    pub fn has_audit_log(&self) -> bool {
        self.dir
            .as_ref()
            .is_some_and(|d| d.join("audit.log").exists())
    }
}

/// A cluster started for one test; stopped (by the PIDs the script
/// recorded) when dropped.
pub struct Dedicated {
    pub cluster: Cluster,
    _dir: tempfile::TempDir,
}

impl Drop for Dedicated {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster.dir {
            let _ = Command::new("bash")
                .arg(project_root().join("hack/cluster.sh"))
                .arg("down")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `distro` against the shared test cluster.
pub fn distro(dir: &Path, args: &[&str]) -> Output {
    cluster().distro(dir, args)
}

/// Runs kubectl against the shared test cluster.
pub fn kubectl(args: &[&str]) -> Output {
    cluster().kubectl(args)
}

/// kubectl's stdout on the shared cluster, asserting success.
pub fn kubectl_ok(args: &[&str]) -> String {
    cluster().kubectl_ok(args)
}

/// A `kubectl get -o json` result from the shared cluster.
pub fn get_json(args: &[&str]) -> Option<serde_json::Value> {
    cluster().get_json(args)
}

/// Audit log position on the shared cluster.
pub fn audit_mark() -> usize {
    cluster().audit_mark()
}

/// Writes on the shared cluster since `mark` (see [`Cluster::writes_since`]).
/// Other tests run at the same time: callers must filter what is theirs.
pub fn writes_since(mark: usize, agent: &str) -> Vec<String> {
    cluster().writes_since(mark, agent)
}

/// Whether the shared cluster has an audit log.
pub fn has_audit_log() -> bool {
    cluster().has_audit_log()
}

/// Writes files (path relative to `root`) and creates their directories.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
}
