//! Crash safety of `distro controller`, as a process of the test against the
//! real control plane (see `cluster.rs`) and a real `git daemon`:
//!
//! - SIGKILL at seeded points of a cold install, a restart after each: the
//!   platform converges, and every object labelled with a release is in that
//!   release's inventory (nothing is orphaned, even when the commit changes
//!   while the controller is down).
//! - The kube-apiserver stopped and started again mid-reconcile: the
//!   controller backs off, resumes its watches without relisting in a loop,
//!   and converges.
//!
//! The kill points come from a seed the test prints; set
//! `DISTRO_CRASH_SEED` to replay a run.
//!
//! No kubelet runs: kwok's fake nodes make the Deployments Ready through the
//! real kube-controller-manager and kube-scheduler.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{Cluster, cluster};
use crate::git_server::{GitDaemon, Repo};
use crate::support::{outcome, project_root};

/// Releases of the generated platform: enough that a cold install takes
/// several seconds (each level waits for its Deployments).
const RELEASES: usize = 20;
/// Levels of its dependency graph.
const LEVELS: usize = 6;
/// ConfigMaps per release, besides its Deployment and its `-extra`
/// ConfigMap (which the second revision removes).
const CONFIGMAPS: usize = 3;
/// SIGKILLs per run.
const KILLS: usize = 10;
/// The label every rendered object carries (`render::RELEASE_LABEL`).
const RELEASE_LABEL: &str = "distro.dev/release";

// ---------------------------------------------------------------------------
// seeded choices

/// splitmix64: a few lines instead of a random number crate, and the same
/// sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `DISTRO_CRASH_SEED`, or one from the clock.
fn seed() -> u64 {
    if let Ok(text) = std::env::var("DISTRO_CRASH_SEED") {
        return text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("DISTRO_CRASH_SEED={text:?} is not a number"));
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------
// the generated platform

const PACKAGE_YAML: &str = "name: svc\nversion: 1.0.0\nappVersion: v1\ndescription: A generated service for the crash tests.\n";

const VALUES_YAML: &str = "configmaps: 1\n";

const CONFIGMAPS_TEMPLATE: &str = r#"{%- for i in range(end=values.configmaps) %}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ release.name }}-{{ i }}
data:
  index: "{{ i }}"
  release: {{ release.name }}
{%- endfor %}
"#;

const EXTRA_TEMPLATE: &str = r#"{%- if platform.extra %}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ release.name }}-extra
data:
  note: the second revision removes this object
{%- endif %}
"#;

const DEPLOYMENT_TEMPLATE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ release.name }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ release.name }}}
  template:
    metadata:
      labels: {app: {{ release.name }}}
    spec:
      containers:
        - name: main
          image: registry.k8s.io/pause:3.10
"#;

/// Writes a platform of [`RELEASES`] releases of one package into `repo`:
/// release `rNN` sits on level `NN * LEVELS / RELEASES` and depends on one
/// or two releases of the level below. Namespaces are `<prefix>-0..3`. The
/// graph is the same on every run; `extra` adds one ConfigMap per release.
fn write_platform(repo: &Repo, prefix: &str, extra: bool) {
    let pkg = "packages/svc/1.0.0";
    repo.write(&format!("{pkg}/package.yaml"), PACKAGE_YAML)
        .write(&format!("{pkg}/values.yaml"), VALUES_YAML)
        .write(
            &format!("{pkg}/templates/configmaps.yaml"),
            CONFIGMAPS_TEMPLATE,
        )
        .write(&format!("{pkg}/templates/extra.yaml"), EXTRA_TEMPLATE)
        .write(
            &format!("{pkg}/templates/deployment.yaml"),
            DEPLOYMENT_TEMPLATE,
        );
    let mut rng = Rng(7);
    let mut levels: Vec<Vec<String>> = vec![Vec::new(); LEVELS];
    let mut bundle = String::from("description: generated for the crash tests\nreleases:\n");
    for i in 0..RELEASES {
        let name = format!("r{i:02}");
        let level = i * LEVELS / RELEASES;
        bundle.push_str(&format!(
            "  - name: {name}\n    package: svc\n    version: \"1.0.0\"\n    namespace: {prefix}-{}\n    values: {{configmaps: {CONFIGMAPS}}}\n",
            i % 4
        ));
        if level > 0 {
            let below = &levels[level - 1];
            let mut deps = BTreeSet::new();
            for _ in 0..=rng.below(2) {
                deps.insert(below[rng.below(below.len() as u64) as usize].clone());
            }
            let deps: Vec<String> = deps.into_iter().collect();
            bundle.push_str(&format!("    dependsOn: [{}]\n", deps.join(", ")));
        }
        levels[level].push(name);
    }
    repo.write("bundles/main.yaml", bundle);
    repo.write(
        "platform.yaml",
        format!("name: {prefix}\nbundle: main\nvalues:\n  extra: {extra}\n"),
    );
}

/// Namespaces the generated platform's releases live in.
fn release_namespaces(prefix: &str) -> Vec<String> {
    (0..4).map(|i| format!("{prefix}-{i}")).collect()
}

// ---------------------------------------------------------------------------
// the controller process

/// `distro controller` as a child process that can be killed and started
/// again with the same arguments and state directory, as a restarted pod
/// would be. Its log collects every run. SIGTERM on drop.
struct Controller {
    child: Option<Child>,
    args: Vec<String>,
    kubeconfig: PathBuf,
    log: PathBuf,
    runs: usize,
    _state: tempfile::TempDir,
}

impl Controller {
    fn start(c: &Cluster, namespace: &str, extra: &[&str]) -> Controller {
        let state = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "controller",
            "--namespace",
            namespace,
            "--state-dir",
            &state.path().join("cache").display().to_string(),
            "--shutdown-timeout",
            "10s",
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut ctl = Controller {
            child: None,
            args,
            kubeconfig: c.kubeconfig.clone(),
            log: state.path().join("controller.log"),
            runs: 0,
            _state: state,
        };
        ctl.spawn();
        ctl
    }

    fn spawn(&mut self) {
        self.runs += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        writeln!(log, "===== run {} =====", self.runs).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_distro"))
            .args(&self.args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the controller starts");
        self.child = Some(child);
    }

    /// SIGKILL, as the kernel's OOM killer or a node failure would: no
    /// shutdown code runs.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("the controller runs");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the controller exited by itself ({status})\n{}",
                self.log_text()
            );
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("the killed controller is reaped");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log of the process running now.
    fn current_log(&self) -> String {
        let text = self.log_text();
        let marker = format!("===== run {} =====", self.runs);
        text.split_once(&marker)
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---------------------------------------------------------------------------
// reading the cluster

/// A kube client for polling: one connection instead of a kubectl process
/// per look, which matters on a machine of two cores. It names itself
/// `distro-crash-test`, so the audit log tells its requests from the
/// controller's.
struct Reader {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Reader {
    fn new(c: &Cluster) -> Reader {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = distro::client::Target {
            kubeconfig: Some(c.kubeconfig.clone()),
            context: None,
        };
        let mut config = runtime
            .block_on(distro::client::config(&target))
            .expect("a configuration for the test cluster");
        config
            .headers
            .retain(|(name, _)| name != http::header::USER_AGENT);
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static("distro-crash-test"),
        ));
        // The client spawns its connection task: build it inside the runtime.
        let client = runtime
            .block_on(async { kube::Client::try_from(config) })
            .expect("a client for the test cluster");
        Reader { runtime, client }
    }

    /// Items of `GET path` (a list URL); empty when the request fails.
    fn list(&self, path: &str) -> Vec<Value> {
        let request = http::Request::get(path).body(Vec::new()).unwrap();
        let got: Result<Value, _> = self
            .runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), self.client.request(request)).await
            })
            .map_err(|_| ())
            .and_then(|r| r.map_err(|_| ()));
        got.ok()
            .and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The Release objects of Platform `namespace/name`.
    fn releases(&self, namespace: &str, name: &str) -> Vec<Value> {
        self.list(&format!(
            "/apis/distro.dev/v1alpha1/releases?labelSelector=distro.dev/platform%3D{name},distro.dev/platform-namespace%3D{namespace}"
        ))
    }

    /// How many of those are Ready, applied from `commit`.
    fn ready_at(&self, namespace: &str, name: &str, commit: &str) -> usize {
        self.releases(namespace, name)
            .iter()
            .filter(|r| {
                condition(r, "Ready")["status"] == "True"
                    && r["status"]["sourceRevision"] == format!("main@sha1:{commit}")
            })
            .count()
    }

    fn platform(&self, namespace: &str, name: &str) -> Value {
        self.list(&format!(
            "/apis/distro.dev/v1alpha1/namespaces/{namespace}/platforms?fieldSelector=metadata.name%3D{name}"
        ))
        .into_iter()
        .next()
        .unwrap_or(Value::Null)
    }
}

fn condition<'a>(obj: &'a Value, kind: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

/// Polls `f` every 100 ms until it returns `Some`; fails after `timeout`
/// with `what`, the seed and the controller's log.
fn wait_for<T>(what: &str, timeout: Duration, ctl: &Controller, f: impl FnMut() -> Option<T>) -> T {
    wait_for_every(what, timeout, Duration::from_millis(100), ctl, f)
}

/// [`wait_for`], polling every `every`.
fn wait_for_every<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    ctl: &Controller,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\ncontroller log:\n{}",
            ctl.log_text()
        );
        std::thread::sleep(every);
    }
}

/// Waits until the Platform is Ready (`ReconciliationSucceeded`) at
/// `commit` with every release Ready.
fn wait_converged(
    reader: &Reader,
    ctl: &Controller,
    namespace: &str,
    name: &str,
    commit: &str,
) -> Value {
    wait_for(
        &format!("Platform {namespace}/{name} Ready at {commit}"),
        Duration::from_secs(180),
        ctl,
        || {
            let p = reader.platform(namespace, name);
            let ready = condition(&p, "Ready");
            (ready["reason"] == "ReconciliationSucceeded"
                && p["status"]["lastAppliedRevision"] == format!("main@sha1:{commit}")
                && p["status"]["releases"]["ready"] == RELEASES)
                .then_some(p)
        },
    )
}

fn apply_yaml(c: &Cluster, yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("o.yaml");
    std::fs::write(&file, yaml).unwrap();
    c.kubectl_ok(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
}

/// Waits for the CRDs the controller installs, then creates the Platform
/// `namespace/name` following `url`.
fn create_platform(c: &Cluster, ctl: &Controller, reader: &Reader, namespace: &str, url: &str) {
    wait_for("the Platform CRD", Duration::from_secs(60), ctl, || {
        let crds = reader.list(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldSelector=metadata.name%3Dplatforms.distro.dev",
        );
        let crd = crds.first()?;
        (condition(crd, "Established")["status"] == "True").then_some(())
    });
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: crash, namespace: {namespace}}}
spec:
  source:
    git: {{url: "{url}"}}
  interval: 10m
  timeout: 90s
"#
        ),
    );
}

/// Every release Ready at `commit`, and each release's inventory is exactly
/// the set of objects labelled with it: nothing labelled with a release is
/// missing from its inventory (an orphan no prune would ever find), and no
/// inventory entry is a ghost. With `extra`, every release has its
/// `-extra` ConfigMap.
fn assert_inventories(
    reader: &Reader,
    namespace: &str,
    prefix: &str,
    (commit, extra): (&str, bool),
    seed: u64,
) {
    let releases = reader.releases(namespace, "crash");
    assert_eq!(releases.len(), RELEASES, "seed {seed}");
    let mut inventories: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in &releases {
        let name = r["metadata"]["name"].as_str().unwrap_or_default();
        let ns = r["metadata"]["namespace"].as_str().unwrap_or_default();
        assert_eq!(
            condition(r, "Ready")["status"],
            "True",
            "seed {seed}: Release {ns}/{name}: {r}"
        );
        assert_eq!(
            r["status"]["sourceRevision"],
            format!("main@sha1:{commit}"),
            "seed {seed}: {r}"
        );
        let entries = r["status"]["inventory"]
            .as_array()
            .map(|es| {
                es.iter()
                    .map(|e| {
                        format!(
                            "{}/{}/{}",
                            e["kind"].as_str().unwrap_or_default(),
                            e["namespace"].as_str().unwrap_or_default(),
                            e["name"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        inventories.insert((ns.to_string(), name.to_string()), entries);
    }
    let mut labelled: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for ns in release_namespaces(prefix) {
        for (path, kind) in [
            (format!("/api/v1/namespaces/{ns}/configmaps"), "ConfigMap"),
            (
                format!("/apis/apps/v1/namespaces/{ns}/deployments"),
                "Deployment",
            ),
        ] {
            for o in reader.list(&format!("{path}?labelSelector={RELEASE_LABEL}")) {
                let release = o["metadata"]["labels"][RELEASE_LABEL]
                    .as_str()
                    .unwrap_or_default();
                let name = o["metadata"]["name"].as_str().unwrap_or_default();
                labelled
                    .entry((ns.clone(), release.to_string()))
                    .or_default()
                    .insert(format!("{kind}/{ns}/{name}"));
            }
        }
    }
    for (key, objects) in &labelled {
        let inventory = inventories.get(key).cloned().unwrap_or_default();
        let orphans: Vec<&String> = objects.difference(&inventory).collect();
        assert!(
            orphans.is_empty(),
            "seed {seed}: Release {}/{}: objects labelled with it but not in its inventory: {orphans:?}",
            key.0,
            key.1
        );
    }
    for (key, inventory) in &inventories {
        let objects = labelled.get(key).cloned().unwrap_or_default();
        assert_eq!(
            inventory, &objects,
            "seed {seed}: Release {}/{}: inventory and objects differ",
            key.0, key.1
        );
        let expected = CONFIGMAPS + 1 + usize::from(extra);
        assert_eq!(objects.len(), expected, "seed {seed}: {objects:?}");
    }
}

// ---------------------------------------------------------------------------
// SIGKILL

/// One SIGKILL: once `ready` releases are Ready at the revision being
/// installed, and `jitter` later; with `mid_release`, at once when a
/// release has objects in the cluster but is not Ready yet (between its
/// first apply and its last status write).
#[derive(Debug)]
struct KillPoint {
    ready: usize,
    jitter: Duration,
    mid_release: bool,
}

/// [`KILLS`] kill points from `seed`: the first `before` during the install
/// of the first commit, the rest during the second one (pushed while the
/// controller is down), each phase in order of progress. The last kill of
/// the first phase lands inside a release, so that the second commit
/// arrives while a release's objects exist and its apply has not finished.
fn kill_plan(seed: u64) -> (usize, Vec<KillPoint>) {
    let mut rng = Rng(seed);
    let before = 4 + rng.below(4) as usize;
    let mut phase = |n: usize, below: usize| {
        let mut points: Vec<KillPoint> = (0..n)
            .map(|_| KillPoint {
                ready: rng.below(below as u64) as usize,
                jitter: Duration::from_millis(rng.below(1000)),
                mid_release: false,
            })
            .collect();
        points.sort_by_key(|p| p.ready);
        points
    };
    let mut points = phase(before, RELEASES / 2);
    if let Some(last) = points.last_mut() {
        last.jitter = Duration::ZERO;
        last.mid_release = true;
    }
    points.extend(phase(KILLS - before, RELEASES));
    (before, points)
}

/// Whether some release of Platform `namespace/crash` has its `-extra`
/// ConfigMap (the object the second commit removes) in the cluster but is
/// not Ready at `commit`.
fn a_release_is_mid_apply(reader: &Reader, namespace: &str, prefix: &str, commit: &str) -> bool {
    let unfinished: BTreeSet<(String, String)> = reader
        .releases(namespace, "crash")
        .iter()
        .filter(|r| {
            condition(r, "Ready")["status"] != "True"
                || r["status"]["sourceRevision"] != format!("main@sha1:{commit}")
        })
        .map(|r| {
            (
                r["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    // One cluster-wide list rather than one per namespace: this is polled
    // every few milliseconds.
    let namespaces = release_namespaces(prefix);
    reader
        .list(&format!("/api/v1/configmaps?labelSelector={RELEASE_LABEL}"))
        .iter()
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-extra"))
        })
        .filter_map(|o| {
            let ns = o["metadata"]["namespace"].as_str()?;
            let release = o["metadata"]["labels"][RELEASE_LABEL].as_str()?;
            namespaces
                .iter()
                .any(|n| n == ns)
                .then(|| (ns.to_string(), release.to_string()))
        })
        .any(|key| unfinished.contains(&key))
}

/// SIGKILL at seeded points of a cold install, a restart after each; the
/// second commit (which removes one object from every release) is pushed
/// while the controller is down, halfway. The platform converges to the
/// second commit, and no object labelled with a release is missing from
/// its inventory.
///
/// Leader election is off: a restarted leader waits out its predecessor's
/// Lease (15 s) doing nothing, which would add minutes and no coverage;
/// failover is tested in `controller.rs`.
#[test]
fn sigkill_during_a_cold_install_converges_without_orphans() {
    let seed = seed();
    let (before, plan) = kill_plan(seed);
    eprintln!("crash seed {seed} (replay: DISTRO_CRASH_SEED={seed}); kill points: {plan:?}");
    let c = cluster();
    let (ns, prefix) = ("crash-kill", "crash-kill");
    // A cluster reused from an earlier run may hold that run's objects:
    // orphans this run did not make would fail it.
    let mut leftovers = vec![ns.to_string()];
    leftovers.extend(release_namespaces(prefix));
    let mut delete = vec![
        "delete",
        "namespace",
        "--ignore-not-found",
        "--timeout=120s",
    ];
    delete.extend(leftovers.iter().map(String::as_str));
    c.kubectl_ok(&delete);
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    write_platform(&repo, prefix, true);
    let first = repo.commit("first");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let reader = Reader::new(c);
    let mut ctl = Controller::start(c, ns, &["--leader-elect=false"]);
    create_platform(c, &ctl, &reader, ns, &daemon.url("platform.git"));

    let started = Instant::now();
    let mut commit = first.clone();
    for (i, point) in plan.iter().enumerate() {
        // A mid-release point is polled fast: a restarted controller may
        // finish the remaining releases in about a second. When the install
        // finishes before one is caught mid-apply, the kill lands after it
        // (a restart of a converged controller), and the log says so.
        let every = Duration::from_millis(if point.mid_release { 10 } else { 100 });
        wait_for_every(
            &format!(
                "kill point {i} ({} Ready at {commit}; seed {seed})",
                point.ready
            ),
            Duration::from_secs(120),
            every,
            &ctl,
            || {
                let ready = reader.ready_at(ns, "crash", &commit);
                if ready < point.ready {
                    return None;
                }
                if !point.mid_release || a_release_is_mid_apply(&reader, ns, prefix, &commit) {
                    return Some(());
                }
                (ready == RELEASES).then(|| {
                    eprintln!(
                        "kill point {i}: every release was Ready before one was caught mid-apply"
                    );
                })
            },
        );
        std::thread::sleep(point.jitter);
        ctl.kill();
        eprintln!("kill {i} at {:?}: {point:?}", started.elapsed());
        if i + 1 == before {
            write_platform(&repo, prefix, false);
            commit = repo.commit("second: no extra ConfigMaps");
            repo.push();
        }
        ctl.spawn();
    }

    let p = wait_converged(&reader, &ctl, ns, "crash", &commit);
    // The last restart may come after the platform converged: the process
    // started last must still reconcile it (and find nothing to do).
    wait_for(
        "a reconcile by the controller started last",
        Duration::from_secs(60),
        &ctl,
        || ctl.current_log().contains("reconciled").then_some(()),
    );
    eprintln!("converged at {:?}", started.elapsed());
    assert_eq!(p["status"]["releases"]["total"], RELEASES, "{p}");
    assert_inventories(&reader, ns, prefix, (&commit, false), seed);
}

// ---------------------------------------------------------------------------
// kube-apiserver restart

/// Runs `hack/cluster.sh COMMAND DIR`, asserting success.
fn cluster_sh(command: &str, dir: &Path) {
    let out = Command::new("bash")
        .arg(project_root().join("hack/cluster.sh"))
        .arg(command)
        .arg(dir)
        .output()
        .expect("hack/cluster.sh runs");
    assert!(
        out.status.success(),
        "hack/cluster.sh {command} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Audit events from line `mark` of `dir/audit.log` on.
fn audit_events(dir: &Path, mark: usize) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .skip(mark)
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["stage"] == "ResponseComplete")
        .collect()
}

/// What a LIST asked for: resource, namespace and selectors (the
/// `resourceVersion` and paging parameters left out), so that a watcher
/// listing the same thing again counts as the same key.
fn list_key(event: &Value) -> String {
    let uri = event["requestURI"].as_str().unwrap_or_default();
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let selectors: Vec<&str> = query
        .split('&')
        .filter(|p| p.starts_with("labelSelector=") || p.starts_with("fieldSelector="))
        .collect();
    format!("{path}?{}", selectors.join("&"))
}

/// The kube-apiserver stopped mid-reconcile (etcd and the controller keep
/// running) and started again with the same flags: the controller backs
/// off, resumes watching, converges to Ready, and after the restart no
/// LIST is repeated more than twice (one relist after the broken watch, one
/// for the retried reconcile): no relist storm.
#[test]
fn the_apiserver_restarting_mid_reconcile_is_survived() {
    let own = Cluster::dedicated();
    let c = &own.cluster;
    let dir = c.dir.clone().expect("a dedicated cluster has a directory");
    let (ns, prefix) = ("crash-api", "crash-api");
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    write_platform(&repo, prefix, true);
    let commit = repo.commit("first");
    repo.push();
    let daemon = GitDaemon::start(repos.path());
    let reader = Reader::new(c);
    // With leader election, as deployed: the Lease must survive it too.
    let ctl = Controller::start(c, ns, &[]);
    create_platform(c, &ctl, &reader, ns, &daemon.url("platform.git"));

    // Mid-reconcile: some releases Ready, others waiting for them.
    wait_for(
        "a third of the releases Ready",
        Duration::from_secs(120),
        &ctl,
        || (reader.ready_at(ns, "crash", &commit) >= RELEASES / 3).then_some(()),
    );
    let warnings = |log: &str| log.matches(" WARN ").count();
    let before = warnings(&ctl.log_text());
    let log_at_stop = ctl.log_text().len();
    let stopped = Instant::now();
    cluster_sh("stop-apiserver", &dir);
    // The controller notices (its Platform watch fails) before the API
    // server comes back.
    wait_for(
        "the controller to notice the API server is gone",
        Duration::from_secs(60),
        &ctl,
        || (warnings(&ctl.log_text()) > before).then_some(()),
    );
    let mark = std::fs::read_to_string(dir.join("audit.log"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    cluster_sh("start-apiserver", &dir);
    let away = stopped.elapsed();
    let outage: String = ctl.log_text()[log_at_stop..].to_string();
    // Backoff, not a retry loop: failed reconciles are retried after 2 s,
    // 4 s, 8 s..., so k retries take at least 2^(k+1) - 2 seconds. Counted
    // against the outage's measured length, a slower machine only makes
    // fewer retries.
    let reconciles = outage.matches("INFO reconciling platform=").count();
    let allowed = 2 + (away.as_secs_f64() + 2.0).log2() as usize;
    eprintln!("API server away for {away:?}: {reconciles} reconciles started (at most {allowed})");
    assert!(
        reconciles <= allowed,
        "{reconciles} reconciles in {away:?} without an API server:\n{outage}"
    );

    wait_converged(&reader, &ctl, ns, "crash", &commit);
    assert_inventories(&reader, ns, prefix, (&commit, true), 0);
    let events = audit_events(&dir, mark);
    // The Platform watch is back: a requested reconcile is seen and done.
    let work = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = outcome(&c.distro(
        work.path(),
        &[
            "reconcile",
            "platform",
            "crash",
            "-n",
            ns,
            "--timeout",
            "60s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}\n{}", ctl.log_text());

    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .unwrap_or_default()
                .starts_with(distro::client::USER_AGENT)
        })
        .collect();
    let mut lists: BTreeMap<String, usize> = BTreeMap::new();
    for e in ours.iter().filter(|e| e["verb"] == "list") {
        *lists.entry(list_key(e)).or_default() += 1;
    }
    let watches_platforms = ours
        .iter()
        .filter(|e| e["verb"] == "watch" && e["objectRef"]["resource"] == "platforms")
        .count();
    eprintln!(
        "after the restart: {} requests by the controller, {} LISTs: {lists:#?}",
        ours.len(),
        lists.values().sum::<usize>()
    );
    assert!(watches_platforms >= 1, "the Platform watch did not resume");
    let repeated: Vec<(&String, &usize)> = lists.iter().filter(|(_, n)| **n > 2).collect();
    assert!(
        repeated.is_empty(),
        "LISTs repeated after the API server restart: {repeated:?}"
    );
    let platform_lists: usize = lists
        .iter()
        .filter(|(k, _)| k.contains("/platforms"))
        .map(|(_, n)| n)
        .sum();
    assert!(platform_lists <= 2, "{lists:?}");
}
