//! The `distro` package's RBAC with `rbac.clusterAdmin=false`: the
//! controller, started by the test with a token of the package's
//! ServiceAccount (not the test cluster's administrator), reconciles a
//! Platform whose objects it applies as the Platform's
//! `spec.serviceAccountName`, corrects drift, leads through its Lease, and
//! is refused nothing on the way; while that identity on its own may not
//! touch what the platform holds.

use std::path::Path;
use std::time::Duration;

use crate::cluster::{Cluster, cluster};
use crate::controller::{Controller, apply_yaml, tenant_yaml, wait_for, wait_platform};
use crate::git_server::{GitDaemon, Repo};
use crate::support::{copy_tree, ok, project_root, write};

/// The controller's namespace: the release of the `distro` package, its
/// ServiceAccount, the tenant's ServiceAccount and the Platform.
const NS: &str = "ctl-rbac";
/// Where the tenant may write (a Role there), and where its release goes.
const APPS: &str = "ctl-rbac-apps";
const CONTROLLER_USER: &str = "system:serviceaccount:ctl-rbac:distro-controller";

/// The `distro` package's RBAC and CRDs with `rbac.clusterAdmin=false`,
/// rendered as a one-release distribution in [`NS`] (its ClusterRole and
/// bindings carry the namespace, so other tests' installs do not meet it).
fn render_rbac(dir: &Path) -> String {
    copy_tree(
        &project_root().join("packages/distro"),
        &dir.join("packages/distro"),
    );
    write(
        dir,
        "bundles/main.yaml",
        &format!(
            "releases:\n  - {{name: distro, package: distro, version: \"^0.1\", namespace: {NS}}}\n"
        ),
    );
    write(dir, "platform.yaml", "name: rbac\nbundle: main\n");
    // Not the Deployment: the test runs the controller itself.
    ok(
        dir,
        &[
            "render",
            "-r",
            "distro",
            "--set",
            "rbac.clusterAdmin=false",
            "-s",
            "templates/namespace.yaml",
            "-s",
            "templates/rbac.yaml",
            "-s",
            "crds/platforms.yaml",
            "-s",
            "crds/releases.yaml",
        ],
    )
}

/// A kubeconfig for the test cluster's API server that authenticates with
/// `token`.
fn token_kubeconfig(c: &Cluster, token: &str, path: &Path) {
    let field = |jsonpath: &str| {
        c.kubectl_ok(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            &format!("jsonpath={{{jsonpath}}}"),
        ])
    };
    let server = field(".clusters[0].cluster.server");
    let ca = field(".clusters[0].cluster.certificate-authority-data");
    assert!(server.starts_with("https://") && !ca.is_empty(), "{server}");
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: controller\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: controller\ncurrent-context: c\n"
        ),
    )
    .unwrap();
}

/// `kubectl auth can-i` as the controller's ServiceAccount.
fn controller_can(c: &Cluster, args: &[&str]) -> bool {
    let mut full = vec!["auth", "can-i", "--as", CONTROLLER_USER];
    full.extend_from_slice(args);
    let out = c.kubectl(&full);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl {full:?}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    answer == "yes"
}

#[test]
fn the_controller_works_with_its_own_rights_only() {
    let c = cluster();
    let work = tempfile::tempdir().unwrap();
    let rendered = render_rbac(work.path());
    assert!(
        !rendered.contains("cluster-admin"),
        "clusterAdmin=false still binds cluster-admin:\n{rendered}"
    );
    let file = work.path().join("rbac.yaml");
    std::fs::write(&file, &rendered).unwrap();
    // CRDs are shared with the other tests' controllers, which may own
    // their fields: the same content, taken over.
    c.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        file.to_str().unwrap(),
    ]);

    // What the controller's identity may not do on its own: the platform's
    // objects are the tenant's to write; it reads (drift watches) but does
    // not write.
    for (can, args) in [
        (false, &["create", "configmaps", "-n", APPS][..]),
        (false, &["create", "clusterroles"]),
        (false, &["create", "namespaces"]),
        (false, &["delete", "deployments", "-n", NS]),
        (false, &["update", "secrets", "-n", NS]),
        (
            false,
            &["create", "serviceaccounts", "--subresource=token", "-n", NS],
        ),
        (false, &["impersonate", "users"]),
        (false, &["impersonate", "groups"]),
        (false, &["update", "leases", "-n", "kube-system"]),
        (true, &["get", "secrets", "-n", NS]),
        (true, &["watch", "configmaps", "--all-namespaces"]),
        (true, &["impersonate", "serviceaccounts", "-n", NS]),
        (
            true,
            &[
                "patch",
                "platforms.distro.dev",
                "--subresource=status",
                "-n",
                NS,
            ],
        ),
        (true, &["create", "leases", "-n", NS]),
    ] {
        assert_eq!(controller_can(c, args), can, "can-i {args:?}");
    }

    // The tenant: a ServiceAccount that may write in APPS only.
    apply_yaml(
        c,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {APPS}}}\n---\n{}",
            tenant_yaml(NS, APPS)
        ),
    );

    let repos = tempfile::tempdir().unwrap();
    let repo = Repo::init(repos.path(), "platform.git");
    repo.write("platform.yaml", "name: rbac\nbundle: main\n")
        .write(
            "bundles/main.yaml",
            format!(
                "releases:\n  - {{name: app, package: cm, version: 1.0.0, namespace: {APPS}}}\n"
            ),
        )
        .write(
            "packages/cm/1.0.0/package.yaml",
            "name: cm\nversion: 1.0.0\n",
        )
        .write(
            "packages/cm/1.0.0/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {color: blue}\n",
        );
    let first = repo.commit("the tenant's platform");
    repo.push();
    let daemon = GitDaemon::start(repos.path());

    let token = c
        .kubectl_ok(&[
            "create",
            "token",
            "distro-controller",
            "-n",
            NS,
            "--duration",
            "1h",
        ])
        .trim()
        .to_string();
    let kubeconfig = work.path().join("controller.kubeconfig");
    token_kubeconfig(c, &token, &kubeconfig);

    let mark = c.audit_mark();
    let ctl = Controller::start_as(
        &kubeconfig,
        NS,
        None,
        &["--leader-elect", "--leader-election-namespace", NS],
    );
    apply_yaml(
        c,
        &format!(
            r#"apiVersion: distro.dev/v1alpha1
kind: Platform
metadata: {{name: rbac, namespace: {NS}}}
spec:
  source:
    git: {{url: "{url}"}}
  serviceAccountName: tenant
  interval: 10m
  timeout: 30s
"#,
            url = daemon.url("platform.git")
        ),
    );
    wait_platform(c, &ctl, NS, "rbac", "ReconciliationSucceeded", Some(&first));
    let cm = c.get_json(&["configmap", "app", "-n", APPS]).unwrap();
    assert_eq!(cm["data"]["color"], "blue");
    let release = c.get_json(&["release", "app", "-n", APPS]).unwrap();
    assert!(
        release["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True"),
        "{release}"
    );
    let lease = c
        .get_json(&["lease", "-n", NS, "distro-controller-leader-election"])
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_string(), "{lease}");

    // Drift: the controller's watch of what it applied sees a change and
    // sets it back.
    c.kubectl_ok(&[
        "-n",
        APPS,
        "patch",
        "configmap",
        "app",
        "--type=merge",
        "-p",
        r#"{"data":{"color":"red"}}"#,
    ]);
    wait_for(
        "the drift to be set back",
        Duration::from_secs(60),
        &ctl,
        || {
            let cm = c.get_json(&["configmap", "app", "-n", APPS])?;
            (cm["data"]["color"] == "blue").then_some(())
        },
    );
    // Events follow the Platform's status: wait for one.
    wait_for(
        "an Event on the Platform",
        Duration::from_secs(30),
        &ctl,
        || {
            let events = c.kubectl_ok(&["get", "events.events.k8s.io", "-n", NS, "-o", "json"]);
            events.contains("rbac").then_some(())
        },
    );

    // Nothing the controller asked for was refused.
    if c.has_audit_log() {
        let refused = c.forbidden_since(mark, CONTROLLER_USER);
        assert!(
            refused.is_empty(),
            "refused: {refused:#?}\ncontroller log:\n{}",
            ctl.log()
        );
    }
    assert!(!ctl.log().contains("forbidden"), "{}", ctl.log());
}
