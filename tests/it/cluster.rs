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
        let status = Command::new("bash")
            .arg(&script)
            .arg("up")
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("hack/cluster.sh runs");
        assert!(status.success(), "hack/cluster.sh up failed");
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

/// Runs `distro` against the test cluster.
pub fn distro(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distro"))
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", &cluster().kubeconfig)
        .env_remove("RUST_LOG")
        .output()
        .expect("the distro binary runs")
}

/// Runs kubectl against the test cluster.
pub fn kubectl(args: &[&str]) -> Output {
    Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &cluster().kubeconfig)
        .output()
        .expect("kubectl runs")
}

/// kubectl's stdout, asserting success.
pub fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `kubectl get -o json` result, or `None` when the object is not found.
pub fn get_json(args: &[&str]) -> Option<serde_json::Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = kubectl(&full);
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

/// Number of audit log lines so far, to count requests made after it.
pub fn audit_mark() -> usize {
    audit_lines().len()
}

fn audit_lines() -> Vec<String> {
    let Some(dir) = &cluster().dir else {
        return Vec::new();
    };
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Write requests (create, update, patch, delete) by the admin user since
/// `mark`, leaving out server-side dry runs, which write nothing.
pub fn writes_since(mark: usize, user_agent_contains: &str) -> Vec<String> {
    audit_lines()
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
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .unwrap_or_default()
                .contains(user_agent_contains)
        })
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}

/// Whether the audit log is available (the script-started cluster has one).
pub fn has_audit_log() -> bool {
    cluster()
        .dir
        .as_ref()
        .is_some_and(|d| d.join("audit.log").exists())
}

/// Writes files (path relative to `root`) and creates their directories.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
}
