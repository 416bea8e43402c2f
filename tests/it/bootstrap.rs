//! `distro bootstrap` on the real local control plane (see `cluster.rs`):
//! it installs the controller's package, the credentials Secret and the
//! Platform; a second run changes nothing; the controller, started by the
//! test (no kubelet runs the Deployment's pods), then reconciles the
//! Platform from a repository served over authenticated HTTP by a real
//! `git http-backend` on 127.0.0.1 (see `git_server.rs`).
//!
//! Also: bad input is refused before any cluster is asked, and the
//! package's scrape object depends on the monitoring stack.

use base64::Engine as _;
use serde_json::Value;
use std::path::Path;

use crate::cluster::{Cluster, cluster};
use crate::controller::{Controller, load_basic, platform, wait_platform};
use crate::git_server::{GitHttp, Repo};
use crate::support::{copy_tree, distro, outcome, project_root};

const NS: &str = "boot-it";
const NAME: &str = "boot";

fn get(c: &Cluster, args: &[&str]) -> Value {
    c.get_json(args)
        .unwrap_or_else(|| panic!("kubectl get {args:?}: not found"))
}

/// `(kind/name, resourceVersion)` of everything bootstrap writes.
fn versions(c: &Cluster) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (kind, ns) in [
        ("namespace/boot-it", None),
        ("clusterrole/distro-controller-boot-it", None),
        ("clusterrolebinding/distro-controller-boot-it", None),
        ("clusterrolebinding/distro-reconciler-boot-it", None),
        ("crd/platforms.distro.dev", None),
        ("crd/releases.distro.dev", None),
        ("serviceaccount/distro-controller", Some(NS)),
        ("role/distro-controller", Some(NS)),
        ("rolebinding/distro-controller", Some(NS)),
        ("deployment/distro-controller", Some(NS)),
        ("service/distro-controller", Some(NS)),
        ("poddisruptionbudget/distro-controller", Some(NS)),
        ("secret/boot-git", Some(NS)),
        ("platform/boot", Some(NS)),
        ("release/distro", Some(NS)),
    ] {
        let mut args = vec![kind];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let obj = get(c, &args);
        out.push((
            kind.to_string(),
            obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    out
}

/// Deletes what an earlier run of this test left on a reused cluster, so
/// the first bootstrap below creates its objects (the CRDs stay: other
/// tests use them).
fn forget_earlier_runs(c: &Cluster) {
    let _ = c.kubectl(&[
        "delete",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
        "namespace/boot-it",
        "clusterrole/distro-controller-boot-it",
        "clusterrolebinding/distro-controller-boot-it",
        "clusterrolebinding/distro-reconciler-boot-it",
    ]);
}

/// The repository: the `basic` fixture plus the `distro` package as the
/// project ships it, with a `distro` release in the namespace bootstrap
/// uses, so that the controller adopts the release bootstrap wrote.
fn load_repo(repo: &Repo) {
    load_basic(repo, "boot");
    repo.copy_tree(&project_root().join("packages/distro"), "packages/distro");
    let bundle = std::fs::read_to_string(repo.work().join("bundles/main.yaml")).unwrap();
    repo.write(
        "bundles/main.yaml",
        format!(
            "{bundle}  - name: distro\n    package: distro\n    version: \"^0.1\"\n    namespace: {NS}\n"
        ),
    );
}

fn actions(json: &Value) -> Vec<String> {
    let mut out: Vec<String> = json["release"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap().to_string())
        .collect();
    out.push(json["secret"]["action"].as_str().unwrap().to_string());
    out.push(json["platform"]["action"].as_str().unwrap().to_string());
    out
}

#[test]
fn bootstrap_installs_the_controller_and_its_platform() {
    let c = cluster();
    forget_earlier_runs(c);
    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    load_repo(&repo);
    let first = repo.commit("first");
    repo.push();
    let password = "boot-s3cret";
    let http = GitHttp::start(repos.path(), "deploy", password);
    let url = http.url("platform.git");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("git.env"),
        format!("# the platform repository\nusername=deploy\npassword={password}\n"),
    )
    .unwrap();
    let args = [
        "bootstrap",
        "--git",
        &url,
        "--secret-file",
        "git.env",
        "--namespace",
        NS,
        "--name",
        NAME,
        "--interval",
        "10m",
        "--wait=false",
        "-o",
        "json",
    ];

    let (code, stdout, stderr) = outcome(&c.distro(work.path(), &args));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains(password) && !stderr.contains(password));
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["secret"]["action"], "created", "{json}");
    assert_eq!(json["platform"]["action"], "created", "{json}");
    assert!(json["wait"].is_null());

    // The controller's objects.
    let ns = get(c, &["namespace", NS]);
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    get(c, &["serviceaccount", "-n", NS, "distro-controller"]);
    let role = get(c, &["clusterrole", "distro-controller-boot-it"]);
    let rules = role["rules"].as_array().unwrap();
    let grants = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["apiGroups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == group)
                && r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|v| v == verb)
        })
    };
    assert!(grants("distro.dev", "platforms", "watch"));
    assert!(grants("distro.dev", "platforms/status", "patch"));
    assert!(grants("distro.dev", "releases", "create"));
    assert!(grants("events.k8s.io", "events", "create"));
    assert!(grants("", "secrets", "get"));
    // Every kind is listed and watched (drift), never written but by name.
    let wildcard: Vec<&Value> = rules
        .iter()
        .filter(|r| r["resources"].as_array().unwrap().iter().any(|x| x == "*"))
        .collect();
    assert_eq!(wildcard.len(), 1, "{rules:?}");
    assert_eq!(wildcard[0]["verbs"], serde_json::json!(["list", "watch"]));
    assert!(!grants("coordination.k8s.io", "leases", "create"));
    let lease_role = get(c, &["role", "-n", NS, "distro-controller"]);
    assert!(
        lease_role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"][0] == "leases"
                && r["resourceNames"][0] == "distro-controller-leader-election")
    );
    let admin = get(c, &["clusterrolebinding", "distro-reconciler-boot-it"]);
    assert_eq!(admin["roleRef"]["name"], "cluster-admin");
    assert_eq!(admin["subjects"][0]["namespace"], NS);

    let deployment = get(c, &["deployment", "-n", NS, "distro-controller"]);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"],
        format!("ghcr.io/distro-dev/distro:{}", env!("CARGO_PKG_VERSION"))
    );
    let container_args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for arg in [
        "controller",
        "--leader-elect",
        "--leader-election-namespace=boot-it",
        "--state-dir=/var/cache/distro",
        "--health-addr=:9440",
    ] {
        assert!(container_args.contains(&arg), "{arg} in {container_args:?}");
    }
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "health");
    let health_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "health")
        .unwrap();
    assert_eq!(health_port["containerPort"], 9440);
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    let state = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "state")
        .unwrap();
    assert!(state["emptyDir"].is_object(), "{state}");

    let service = get(c, &["service", "-n", NS, "distro-controller"]);
    let ports: Vec<&str> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["webhook", "metrics"]);

    // The Platform and its Secret.
    let p = platform(c, NS, NAME);
    let git = &p["spec"]["source"]["git"];
    assert_eq!(git["url"], url);
    assert_eq!(git["ref"]["branch"], "main");
    assert_eq!(git["secretRef"]["name"], "boot-git");
    assert_eq!(p["spec"]["path"], ".");
    assert_eq!(p["spec"]["interval"], "10m");
    let secret = get(c, &["secret", "-n", NS, "boot-git"]);
    let decode = |key: &str| {
        let b64 = secret["data"][key].as_str().unwrap();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(decode("username"), "deploy");
    assert_eq!(decode("password"), password);

    // The release bootstrap recorded belongs to the Platform.
    let release = get(c, &["release", "-n", NS, "distro"]);
    assert_eq!(release["metadata"]["labels"]["distro.dev/platform"], NAME);
    assert_eq!(
        release["metadata"]["labels"]["distro.dev/platform-namespace"],
        NS
    );

    // Twice: nothing changes, nothing is written.
    let before = versions(c);
    let (code, stdout, stderr) = outcome(&c.distro(work.path(), &args));
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert!(actions(&json).iter().all(|a| a == "unchanged"), "{json}");
    assert_eq!(versions(c), before);
    let text_args: Vec<&str> = args[..args.len() - 2].to_vec();
    let (code, stdout, stderr) = outcome(&c.distro(work.path(), &text_args));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("already installed; nothing changed"),
        "{stdout}"
    );
    assert_eq!(versions(c), before);

    // The controller picks the Platform up and reconciles it to Ready,
    // reading the repository with the Secret's credentials.
    let ctl = Controller::start(c, NS, None);
    let p = wait_platform(c, &ctl, NS, NAME, "ReconciliationSucceeded", Some(&first));
    assert_eq!(
        p["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );
    assert!(
        http.requests().iter().any(|r| r.contains(" 200")),
        "{:?}",
        http.requests()
    );
    // It adopted the release bootstrap wrote (same owner, same name).
    let release = get(c, &["release", "-n", NS, "distro"]);
    assert_eq!(
        release["status"]["sourceRevision"],
        format!("main@sha1:{first}"),
        "{release}"
    );

    // Waiting, as after a real install: kwok's nodes run the Deployment's
    // pods, and the controller above made the Platform Ready.
    let mut wait_args: Vec<&str> = args[..args.len() - 3].to_vec();
    wait_args.extend(["--wait", "--timeout", "2m"]);
    let (code, stdout, stderr) = outcome(&c.distro(work.path(), &wait_args));
    assert_eq!(code, 0, "{stderr}\n{}", ctl.log());
    assert!(
        stderr.contains("Deployment/boot-it/distro-controller: available"),
        "{stderr}"
    );
    assert!(stdout.contains("Platform/boot-it/boot: Ready"), "{stdout}");

    assert!(!ctl.log().contains(password));
}

/// A timeout while waiting is exit 1 and says what was awaited. Nobody
/// reconciles this Platform (no controller watches its namespace).
#[test]
fn bootstrap_times_out_waiting_for_a_platform_nobody_reconciles() {
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = outcome(&c.distro(
        work.path(),
        &[
            "bootstrap",
            "--git",
            // Loopback, refused: nothing leaves the machine.
            "http://127.0.0.1:1/p.git",
            "--namespace",
            "boot-wait",
            "--name",
            "nobody",
            "--timeout",
            "20s",
            "-o",
            "json",
        ],
    ));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["wait"]["ready"], false, "{json}");
    let message = json["wait"]["message"].as_str().unwrap();
    assert!(message.starts_with("timed out after 20s"), "{message}");
    assert!(stderr.contains("waiting for"), "{stderr}");
}

/// Without --git the Platform follows the platform file's source, path and
/// interval; flags override the file; a file with no source is exit 2 and
/// nothing is written.
#[test]
fn bootstrap_takes_the_source_from_the_platform_file() {
    let c = cluster();
    let ns = "boot-file";
    let work = tempfile::tempdir().unwrap();
    // Loopback, refused: nobody reconciles these Platforms anyway.
    std::fs::write(
        work.path().join("platform.yaml"),
        "name: fromfile\nbundle: main\ninterval: 7m\nsource:\n  git:\n    url: http://127.0.0.1:1/p.git\n    tag: v1.2.0\n    path: clusters/prod\n",
    )
    .unwrap();
    let bootstrap = |extra: &[&str]| {
        let mut args = vec![
            "bootstrap",
            "--namespace",
            ns,
            "--name",
            "fromfile",
            "--wait=false",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = outcome(&c.distro(work.path(), &args));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let json = bootstrap(&[]);
    assert!(json["secret"].is_null(), "{json}");
    let spec = platform(c, ns, "fromfile")["spec"].clone();
    assert_eq!(
        spec["source"]["git"],
        serde_json::json!({"url": "http://127.0.0.1:1/p.git", "ref": {"tag": "v1.2.0"}}),
        "{spec}"
    );
    assert_eq!(spec["path"], "clusters/prod");
    assert_eq!(spec["interval"], "7m");

    // Flags override the file, field by field.
    bootstrap(&["--branch", "staging", "--interval", "2m"]);
    let spec = platform(c, ns, "fromfile")["spec"].clone();
    assert_eq!(
        spec["source"]["git"]["ref"],
        serde_json::json!({"branch": "staging"}),
        "{spec}"
    );
    assert_eq!(spec["path"], "clusters/prod");
    assert_eq!(spec["interval"], "2m");
    // --git replaces the file's source (its path included).
    bootstrap(&["--git", "http://127.0.0.1:1/other.git"]);
    let spec = platform(c, ns, "fromfile")["spec"].clone();
    assert_eq!(spec["source"]["git"]["url"], "http://127.0.0.1:1/other.git");
    assert_eq!(spec["source"]["git"]["ref"]["branch"], "main");
    assert_eq!(spec["path"], ".");
    assert_eq!(spec["interval"], "1m");

    // An OCI artifact, from another platform file (another namespace: the
    // controller's release there is the first Platform's).
    let ns = "boot-oci";
    std::fs::write(
        work.path().join("oci.yaml"),
        "name: fromoci\nbundle: main\ninterval: 15m\nsource:\n  oci:\n    url: oci://127.0.0.1:1/platform:v3\n",
    )
    .unwrap();
    let (code, _, stderr) = outcome(&c.distro(
        work.path(),
        &[
            "bootstrap",
            "-p",
            "oci.yaml",
            "-n",
            ns,
            "--name",
            "fromoci",
            "--wait=false",
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    let spec = platform(c, ns, "fromoci")["spec"].clone();
    assert_eq!(
        spec["source"]["oci"]["url"], "oci://127.0.0.1:1/platform",
        "{spec}"
    );
    assert_eq!(spec["source"]["oci"]["ref"]["tag"], "v3");
    assert!(spec["source"]["git"].is_null(), "{spec}");
    assert_eq!(spec["interval"], "15m");

    // Neither --git nor a source in the file: exit 2, nothing written.
    let none = "boot-nosource";
    let _ = c.kubectl(&[
        "delete",
        "namespace",
        none,
        "--ignore-not-found",
        "--wait=true",
    ]);
    std::fs::write(work.path().join("bare.yaml"), "name: bare\nbundle: main\n").unwrap();
    for (file, expected) in [
        ("bare.yaml", "bare.yaml: no source: give --git URL"),
        ("missing.yaml", "missing.yaml: cannot read"),
    ] {
        let (code, stdout, stderr) = outcome(&c.distro(
            work.path(),
            &["bootstrap", "-p", file, "-n", none, "--wait=false"],
        ));
        assert_eq!(code, 2, "{file}: {stdout}{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("nothing was written"), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    assert!(c.get_json(&["namespace", none]).is_none());
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(&distro(dir, args))
}

/// Bad input: exit 2, each problem named by its flag, before any cluster
/// is asked (the kubeconfig here points nowhere).
#[test]
fn bootstrap_refuses_bad_input_before_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
    )
    .unwrap();
    std::fs::write(root.join("user-only.env"), "username=deploy\n").unwrap();
    std::fs::write(root.join("ok.env"), "username=deploy\npassword=hunter2\n").unwrap();
    std::fs::write(root.join("big.env"), "x".repeat(70 * 1024)).unwrap();
    let base = ["bootstrap", "--kubeconfig", "kubeconfig"];
    for (extra, expected) in [
        (&["--git", "not-a-url"][..], "--git: git URL not-a-url"),
        (
            &["--git", "/srv/git/p"],
            "--git: /srv/git/p: the controller runs in the cluster",
        ),
        (
            &["--git", "https://u:hunter2@git.example.com/p.git"],
            "the URL holds a password",
        ),
        (
            &[
                "--git",
                "https://git.example.com/p.git",
                "--secret-file",
                "missing.env",
            ],
            "--secret-file: missing.env: cannot read",
        ),
        (
            &[
                "--git",
                "https://git.example.com/p.git",
                "--secret-file",
                "user-only.env",
            ],
            "--secret-file: user-only.env: username needs a password",
        ),
        (
            &[
                "--git",
                "https://git.example.com/p.git",
                "--secret-file",
                "big.env",
            ],
            "is larger than 65536 bytes",
        ),
        (
            &[
                "--git",
                "git://git.example.com/p.git",
                "--secret-file",
                "ok.env",
            ],
            "--secret-file: these credentials need an http:// or https:// URL, not git://",
        ),
        (
            &["--git", "https://git.example.com/p.git", "--branch", "a..b"],
            "--branch: git ref branch a..b",
        ),
        (
            &["--git", "https://git.example.com/p.git", "--path", "../x"],
            "--path: git path",
        ),
        (
            &[
                "--git",
                "https://git.example.com/p.git",
                "--interval",
                "soon",
            ],
            "--interval:",
        ),
        (
            &[
                "--git",
                "https://git.example.com/p.git",
                "--namespace",
                "Bad_NS",
            ],
            "--namespace:",
        ),
        (
            &[
                "--git",
                "https://git.example.com/p.git",
                "--set",
                "replicas=0",
            ],
            "replicas",
        ),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (code, stdout, stderr) = run(root, &args);
        assert_eq!(code, 2, "{args:?}:\n{stderr}");
        assert!(stderr.contains(expected), "{args:?}:\n{stderr}");
        assert!(stderr.contains("nothing was written"), "{stderr}");
        assert!(
            !stderr.contains("hunter2") && !stdout.contains("hunter2"),
            "{stderr}"
        );
    }
    // Problems of a source from the platform file name the file's field.
    for (text, extra, expected) in [
        (
            "bundle: main\nsource: {git: {url: /srv/git/p}}\n",
            &[][..],
            "platform.yaml: source: /srv/git/p: the controller runs in the cluster",
        ),
        (
            "bundle: main\nsource: {git: {url: https://g.example.com/p.git, branch: a..b}}\n",
            &[],
            "platform.yaml: source.git: git ref branch a..b",
        ),
        (
            "bundle: main\ninterval: soon\nsource: {git: {url: https://g.example.com/p.git}}\n",
            &[],
            "platform.yaml: interval:",
        ),
        (
            "bundle: main\nsource: {oci: {url: \"oci://r.example.com/p\"}}\n",
            &["--branch", "dev"],
            "--branch: goes with a Git source",
        ),
        (
            "bundle: main\nsource: {oci: {url: \"oci://r.example.com/p\"}}\n",
            &["--secret-file", "ok.env"],
            "--secret-file: Git credentials need a Git source",
        ),
    ] {
        std::fs::write(root.join("platform.yaml"), text).unwrap();
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (code, _, stderr) = run(root, &args);
        assert_eq!(code, 2, "{text}:\n{stderr}");
        assert!(stderr.contains(expected), "{text}:\n{stderr}");
    }
    std::fs::remove_file(root.join("platform.yaml")).unwrap();
    // Every problem at once.
    let (code, _, stderr) = run(
        root,
        &[
            "bootstrap",
            "--git",
            "nope",
            "--branch",
            "a..b",
            "--name",
            "X",
            "--kubeconfig",
            "kubeconfig",
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("3 problem(s) found"), "{stderr}");
    // Good input, no cluster there: exit 3.
    let (code, _, stderr) = run(
        root,
        &[
            "bootstrap",
            "--git",
            "https://git.example.com/p.git",
            "--kubeconfig",
            "kubeconfig",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.starts_with("error: cannot reach"), "{stderr}");
}

/// The package's VMServiceScrape follows the monitoring stack: rendered in
/// the default distribution, gone when the VictoriaMetrics operator and
/// monitoring are disabled.
#[test]
fn the_scrape_object_needs_the_monitoring_stack() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["packages", "bundles"] {
        copy_tree(&project_root().join(sub), &root.join(sub));
    }
    let platform = std::fs::read_to_string(project_root().join("platform.yaml")).unwrap();
    std::fs::write(root.join("platform.yaml"), &platform).unwrap();
    let kinds = |args: &[&str]| {
        let (code, stdout, stderr) = run(root, args);
        assert_eq!(code, 0, "{stderr}");
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let with = kinds(&["render", "-r", "distro"]);
    assert!(with.iter().any(|k| k == "VMServiceScrape"), "{with:?}");
    assert!(with.iter().any(|k| k == "Deployment"));
    let without_scrape = kinds(&[
        "render",
        "-r",
        "distro",
        "--set",
        "metrics.serviceScrape=false",
    ]);
    assert!(!without_scrape.iter().any(|k| k == "VMServiceScrape"));

    std::fs::write(
        root.join("platform.yaml"),
        platform.replace(
            "disable: []",
            "disable: [monitoring, victoria-metrics-operator]",
        ),
    )
    .unwrap();
    let without = kinds(&["render", "-r", "distro"]);
    assert!(
        !without.iter().any(|k| k == "VMServiceScrape"),
        "{without:?}"
    );
    assert!(without.iter().any(|k| k == "Deployment"));
}
