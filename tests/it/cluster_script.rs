//! `hack/cluster.sh ensure`, which `hack/demo.sh` uses to reuse or restart
//! its cluster, on real processes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::project_root;

fn script(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(project_root().join("hack/cluster.sh"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("hack/cluster.sh runs")
}

fn pids(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Regression (hack/demo.sh deleted the state directory of a cluster whose
/// /readyz failed while its other processes still ran, orphaning them):
/// `ensure` on a cluster whose API server died stops every process the
/// cluster recorded before it starts a new one in the same directory.
#[test]
fn demo_restart_stops_a_stale_cluster_before_deleting_its_directory() {
    let build = script(&["build"]);
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("cluster");
    let up = script(&["up", dir.to_str().unwrap()]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let first = pids(&dir);
    assert!(first.len() >= 3, "{first:?}");

    // A healthy cluster is reused as it is.
    let again = script(&["ensure", dir.to_str().unwrap()]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(pids(&dir), first, "a healthy cluster was restarted");

    // The API server dies; etcd and the controllers keep running.
    let apiserver = *first
        .iter()
        .find(|p| command_line(**p).contains("kube-apiserver"))
        .expect("the cluster runs a kube-apiserver");
    let killed = Command::new("kill")
        .args(["-KILL", &apiserver.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(apiserver) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let survivors: Vec<u32> = first.iter().copied().filter(|p| alive(*p)).collect();
    assert!(!survivors.is_empty(), "nothing left to orphan: {first:?}");

    let restarted = script(&["ensure", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&restarted.stderr).into_owned();
    // Stop the new cluster whatever the assertions say.
    let second = pids(&dir);
    let down = script(&["down", dir.to_str().unwrap()]);
    assert!(restarted.status.success(), "{stderr}");
    assert!(down.status.success());
    let orphans: Vec<u32> = survivors.iter().copied().filter(|p| alive(*p)).collect();
    assert!(orphans.is_empty(), "left running: {orphans:?}\n{stderr}");
    assert!(
        !second.is_empty() && second.iter().all(|p| !first.contains(p)),
        "{second:?}"
    );
}
