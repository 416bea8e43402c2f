//! The command line as Helm, Helmfile, Flux and kubectl users reach for it:
//! release and template selection, values from flags and files, `list`,
//! `values --show-origin`, the lock and `update`, several platforms sharing
//! packages, completions, `-o yaml`, exit codes and error lines. Every test
//! runs the binary on a scratch copy of a distribution; none needs a cluster
//! (the unreachable-cluster tests point at a closed port on 127.0.0.1).

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{
    Watched, copy_tree, default_distribution, distro, invalid, ok, outcome, project_root, run,
    scratch, write,
};

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

fn yaml_of(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// The `# Source:` lines of a stream, in order.
fn sources(stream: &str) -> Vec<&str> {
    stream
        .lines()
        .filter_map(|l| l.strip_prefix("# Source: "))
        .collect()
}

// render -r / --show-only

#[test]
fn render_release_selects_releases_and_names_unknown_ones() {
    let dir = scratch("basic");
    let root = dir.path();
    let app = ok(root, &["render", "-r", "app"]);
    assert!(!app.is_empty());
    assert!(sources(&app).iter().all(|s| s.starts_with("app/")), "{app}");
    // Repeatable, in apply order whatever the order given.
    let both = ok(root, &["render", "--release", "app", "-r", "base"]);
    let full = ok(root, &["render"]);
    assert_eq!(both, full);

    let stderr = invalid(root, &["render", "-r", "ap"]);
    assert!(
        stderr.contains(r#"release "ap" is not in bundle "main" (did you mean "app"?)"#),
        "{stderr}"
    );
    let stderr = invalid(root, &["render", "-r", "addon"]);
    assert!(
        stderr.contains(r#"release "addon" is off: optional, and not listed under enable:"#),
        "{stderr}"
    );
    // Nothing was written for the failed runs, and --out takes the whole
    // platform only.
    let stderr = invalid(root, &["render", "-r", "app", "--out", "out"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert!(!root.join("out").exists());
}

#[test]
fn render_show_only_prints_the_objects_of_one_template() {
    let dir = scratch("basic");
    let root = dir.path();
    let full = ok(root, &["render"]);
    let only = ok(
        root,
        &["render", "--show-only", "templates/deployment.yaml"],
    );
    assert_eq!(
        sources(&only),
        [
            "app/templates/deployment.yaml",
            "app/templates/deployment.yaml"
        ]
    );
    // The same documents as in the full stream.
    assert!(full.contains(&only), "{only}");
    assert!(only.contains("kind: Deployment") && only.contains("kind: Service"));
    // As the Source line names it, with -r, repeatable, and CRD files too.
    let named = ok(
        root,
        &["render", "-r", "app", "-s", "app/templates/deployment.yaml"],
    );
    assert_eq!(named, only);
    let two = ok(
        root,
        &[
            "render",
            "-s",
            "crds/widgets.yaml",
            "-s",
            "templates/widget.yaml",
        ],
    );
    assert_eq!(
        sources(&two),
        [
            "base/crds/widgets.yaml",
            "base/crds/widgets.yaml",
            "app/templates/widget.yaml"
        ]
    );

    let stderr = invalid(root, &["render", "-s", "templates/deploy.yaml"]);
    assert!(
        stderr.contains(r#"(did you mean "templates/deployment.yaml"?)"#),
        "{stderr}"
    );
    // A file of another release than the one chosen.
    let stderr = invalid(
        root,
        &["render", "-r", "base", "-s", "templates/deployment.yaml"],
    );
    assert!(stderr.contains("in release base"), "{stderr}");
}

// --set, --set-string, --values, --kube-version

#[test]
fn render_set_types_values_and_targets_the_chosen_releases() {
    let dir = scratch("basic");
    let root = dir.path();
    let out = ok(
        root,
        &[
            "render",
            "-r",
            "app",
            "--set",
            "replicas=5,image.tag=2.0.0",
            "--set",
            "resources.limits.memory=1Gi",
        ],
    );
    assert!(out.contains("replicas: 5"), "{out}");
    // A typed number: the Widget's size is computed from it.
    assert!(out.contains("size: 10"), "{out}");
    assert!(out.contains("image: registry.example/app:2.0.0"), "{out}");
    assert!(out.contains("memory: 1Gi"), "{out}");
    // --set-string keeps `true` a string; --set-string wins over --set.
    let out = ok(
        root,
        &[
            "render",
            "-r",
            "app",
            "--set-string",
            "greeting=true",
            "--set",
            "greeting=false",
        ],
    );
    assert!(out.contains("value: 'true'"), "{out}");
    // The schema sees command-line values: replicas has a minimum of 1.
    let stderr = invalid(root, &["render", "--set", "replicas=0"]);
    assert!(
        stderr.contains("values.replicas") && stderr.contains("minimum"),
        "{stderr}"
    );
    // Without -r a value goes to every release: base's role too.
    let out = ok(root, &["render", "--set", "role=admin"]);
    assert!(out.contains("name: base-admin"), "{out}");
    let out = ok(root, &["render", "-r", "app", "--set", "role=admin"]);
    assert!(!out.contains("base-admin"));
    // Malformed pairs are refused before anything runs.
    let stderr = invalid(root, &["render", "--set", "replicas"]);
    assert!(stderr.contains("expected key=value"), "{stderr}");
    // Only the output changed: the lock is the same as a plain run's.
    let with_set = read(root, "distro.lock");
    ok(root, &["validate"]);
    assert_eq!(read(root, "distro.lock"), with_set);
}

#[test]
fn render_values_files_layer_in_order_and_set_platform_values() {
    let dir = scratch("basic");
    let root = dir.path();
    write(
        root,
        "ha.yaml",
        "replicas: 4\ngreeting: from-file\nplatform:\n  clusterDomain: file.local\n",
    );
    write(root, "more.yaml", "replicas: 6\n");
    let out = ok(root, &["render", "-f", "ha.yaml", "--values", "more.yaml"]);
    assert!(out.contains("replicas: 6"), "{out}");
    assert!(out.contains("value: from-file"), "{out}");
    assert!(out.contains("domain: file.local"), "{out}");
    // --set comes after every file; platform.KEY sets a platform value.
    let out = ok(
        root,
        &[
            "render",
            "--set",
            "replicas=2,platform.clusterDomain=flag.local",
            "-f",
            "more.yaml",
        ],
    );
    assert!(out.contains("replicas: 2"), "{out}");
    assert!(out.contains("domain: flag.local"), "{out}");

    write(root, "broken.yaml", "replicas: [\n");
    let stderr = invalid(root, &["render", "-f", "broken.yaml"]);
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    let stderr = invalid(root, &["render", "-f", "missing.yaml"]);
    assert!(
        stderr.contains("missing.yaml: cannot read --values file"),
        "{stderr}"
    );
}

#[test]
fn render_kube_version_overrides_the_platform() {
    let dir = scratch("basic");
    let root = dir.path();
    let meta = read(root, "packages/base/1.0.0/package.yaml");
    write(
        root,
        "packages/base/1.0.0/package.yaml",
        &format!("{meta}kubeVersion: \">=1.30.0\"\n"),
    );
    ok(root, &["render", "--kube-version", "1.31.2"]);
    let stderr = invalid(root, &["render", "--kube-version", "v1.29.0"]);
    assert!(
        stderr.contains("requires Kubernetes >=1.30.0, the platform targets 1.29.0"),
        "{stderr}"
    );
    let stderr = invalid(root, &["render", "--kube-version", "latest"]);
    assert!(stderr.contains("is not a Kubernetes version"), "{stderr}");
}

// list

#[test]
fn list_shows_every_release_its_state_and_dropped_dependencies() {
    let dir = scratch("basic");
    let root = dir.path();
    let text = ok(root, &["list"]);
    assert_eq!(
        text,
        "NAME    NAMESPACE     PACKAGE   VERSION   STATE\n\
         base    base-system   base      1.0.0     enabled\n\
         app     apps          app       1.1.0     enabled\n\
         addon   addons        addon     -         optional-off (optional, not in enable:)\n\
         \n\
         dropped dependencies\n  app -> addon (optional, not enabled)\n"
    );

    let platform = read(root, "platform.yaml");
    write(
        root,
        "platform.yaml",
        &format!("disable: [base]\n{platform}"),
    );
    let text = ok(root, &["list"]);
    assert!(
        text.contains(
            "base    base-system   base      -         disabled (disable: in platform.yaml)\n"
        ),
        "{text}"
    );
    let list = json_of(&ok(root, &["list", "-o", "json"]));
    assert_eq!(list[0]["name"], "base");
    assert_eq!(list[0]["state"], "disabled");
    assert_eq!(list[0]["version"], Value::Null);
    assert_eq!(list[0]["reason"], "listed under disable: in platform.yaml");
    assert_eq!(list[1]["version"], "1.1.0");
    assert_eq!(list[1]["requirement"], "^1.0");
    assert_eq!(
        list[1]["dropped"],
        json!([
            {"dependency": "base", "reason": "disabled"},
            {"dependency": "addon", "reason": "optional-not-enabled"}
        ])
    );
    assert_eq!(list[2]["state"], "optional-off");
    let yaml = ok(root, &["list", "-o", "yaml"]);
    assert_eq!(yaml_of(&yaml), list);
}

// values

#[test]
fn values_show_the_merged_values_and_where_each_key_came_from() {
    let dir = scratch("basic");
    let root = dir.path();
    let plain = yaml_of(&ok(root, &["values", "app"]));
    assert_eq!(plain["replicas"], 3);
    assert_eq!(plain["greeting"], "hello");
    assert_eq!(plain, json_of(&ok(root, &["values", "app", "-o", "json"])));

    write(root, "extra.yaml", "image:\n  tag: from-file\n");
    let args = [
        "values",
        "app",
        "--show-origin",
        "-f",
        "extra.yaml",
        "--set",
        "servers[0]=a,servers[1]=b",
    ];
    let commented = ok(root, &args);
    for line in [
        "replicas: 3  # platform.yaml (releases.app.values)\n",
        "  repository: registry.example/app  # packages/app/1.1.0/values.yaml\n",
        "  tag: from-file  # --values extra.yaml\n",
        "greeting: hello  # bundles/main.yaml (values of release app)\n",
        "    memory: 64Mi  # packages/app/1.1.0/values-extra.yaml (valuesFiles)\n",
        "- a  # --set servers[0]=a\n",
        "- b  # --set servers[1]=b\n",
    ] {
        assert!(commented.contains(line), "no {line:?} in:\n{commented}");
    }
    let with_json: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
    let v = json_of(&ok(root, &with_json));
    // The commented YAML is still the values.
    assert_eq!(yaml_of(&commented), v["values"]);
    assert_eq!(v["values"]["servers"], json!(["a", "b"]));
    assert_eq!(v["origins"]["image.tag"], "--values extra.yaml");
    assert_eq!(
        v["origins"]["resources.requests.cpu"],
        "packages/app/1.1.0/values.yaml"
    );

    let stderr = invalid(root, &["values", "apq"]);
    assert!(stderr.contains(r#"(did you mean "app"?)"#), "{stderr}");
    let stderr = invalid(root, &["values", "app", "--set", "servers[3]=x"]);
    assert!(
        stderr.contains("index 3 is past the end of servers"),
        "{stderr}"
    );
}

// the lock and update

/// Adds `packages/app/<version>/`, a copy of 1.1.0.
fn add_app_version(root: &Path, version: &str) {
    let to = root.join(format!("packages/app/{version}"));
    copy_tree(&root.join("packages/app/1.1.0"), &to);
    let meta = read(&to, "package.yaml").replace("1.1.0", version);
    write(&to, "package.yaml", &meta);
}

fn locked_version(root: &Path, lock: &str, release: &str) -> String {
    let lock = yaml_of(&read(root, lock));
    lock["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == release)
        .map(|e| e["version"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{release} not in the lock"))
}

#[test]
fn the_lock_keeps_versions_until_update_moves_them() {
    let dir = scratch("basic");
    let root = dir.path();
    ok(root, &["validate"]);
    assert_eq!(locked_version(root, "distro.lock", "app"), "1.1.0");

    // A new matching version moves nothing by itself.
    add_app_version(root, "1.2.0");
    let out = ok(root, &["render", "-r", "app"]);
    assert!(out.contains("registry.example/app:1.1.0"), "{out}");
    assert_eq!(locked_version(root, "distro.lock", "app"), "1.1.0");
    ok(root, &["validate", "--locked"]);

    // update names what it moved; a second run has nothing to do.
    let (code, _, stderr) = run(root, &["update", "app"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Updating app 1.1.0 -> 1.2.0"), "{stderr}");
    assert_eq!(locked_version(root, "distro.lock", "app"), "1.2.0");
    let out = ok(root, &["render", "-r", "app"]);
    assert!(out.contains("registry.example/app:1.2.0"), "{out}");
    let (_, _, stderr) = run(root, &["update"]);
    assert!(stderr.contains("distro.lock is up to date"), "{stderr}");

    // With --locked, update refuses to change the lock.
    add_app_version(root, "1.3.0");
    let before = read(root, "distro.lock");
    let stderr = invalid(root, &["update", "--locked"]);
    assert!(stderr.contains("app: app 1.2.0 -> app 1.3.0"), "{stderr}");
    assert_eq!(read(root, "distro.lock"), before);
    let stderr = invalid(root, &["update", "ap"]);
    assert!(stderr.contains(r#"(did you mean "app"?)"#), "{stderr}");

    // A requirement the locked version no longer meets: --locked fails, a
    // plain run re-resolves.
    let bundle = read(root, "bundles/main.yaml").replace("\"^1.0\"", "\"~1.1.0\"");
    write(root, "bundles/main.yaml", &bundle);
    let stderr = invalid(root, &["validate", "--locked"]);
    assert!(stderr.contains("app: app 1.2.0 -> app 1.1.0"), "{stderr}");
    ok(root, &["validate"]);
    assert_eq!(locked_version(root, "distro.lock", "app"), "1.1.0");
}

#[test]
fn platforms_in_subdirectories_share_packages_and_have_their_own_locks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let basic = crate::support::fixture("basic");
    copy_tree(&basic.join("packages"), &root.join("packages"));
    copy_tree(&basic.join("bundles"), &root.join("bundles"));
    let platform = std::fs::read_to_string(basic.join("platform.yaml")).unwrap();
    write(root, "staging/platform.yaml", &platform);
    write(
        root,
        "staging/eu.yaml",
        &platform.replace("replicas: 3", "replicas: 2"),
    );
    write(root, "platform.yaml", &platform);

    let staging = ok(root, &["render", "-p", "staging/platform.yaml"]);
    let eu = ok(root, &["render", "-p", "staging/eu.yaml"]);
    assert!(staging.contains("replicas: 3") && eu.contains("replicas: 2"));
    // From inside the directory, with the default platform file.
    assert_eq!(ok(&root.join("staging"), &["render"]), staging);
    assert_eq!(ok(&root.join("staging"), &["render", "-p", "eu.yaml"]), eu);
    // platform.yaml keeps distro.lock; any other file has <stem>.lock.
    assert_eq!(locked_version(root, "staging/distro.lock", "app"), "1.1.0");
    assert_eq!(locked_version(root, "staging/eu.lock", "app"), "1.1.0");
    ok(root, &["validate"]);
    assert!(root.join("distro.lock").exists());
    ok(root, &["validate", "--locked", "-p", "staging/eu.yaml"]);

    // Each lock moves on its own.
    add_app_version(root, "1.2.0");
    ok(root, &["update", "-p", "staging/eu.yaml"]);
    assert_eq!(locked_version(root, "staging/eu.lock", "app"), "1.2.0");
    assert_eq!(locked_version(root, "staging/distro.lock", "app"), "1.1.0");

    // Messages name files as seen from where distro runs.
    write(root, "bundles/main.yaml", "releases: [\n");
    let stderr = invalid(&root.join("staging"), &["validate"]);
    assert!(stderr.contains("../bundles/main.yaml:"), "{stderr}");

    // The search stops at a repository root.
    std::fs::create_dir(root.join("staging/.git")).unwrap();
    let stderr = invalid(root, &["validate", "-p", "staging/platform.yaml"]);
    assert!(stderr.contains("bundle \"main\" not found"), "{stderr}");
}

// completion, -o yaml, help

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef distro"),
        ("fish", "complete -c distro"),
    ] {
        let script = ok(dir.path(), &["completion", shell]);
        assert!(script.contains(marker), "{shell}:\n{script}");
        for command in ["render", "values", "update", "show-only"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let (code, _, stderr) = run(dir.path(), &["completion", "tcsh"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn yaml_output_is_the_json_output() {
    let dir = scratch("basic");
    let root = dir.path();
    let graph = json_of(&ok(root, &["graph", "-o", "json"]));
    assert_eq!(yaml_of(&ok(root, &["graph", "-o", "yaml"])), graph);
    write(
        root,
        "objects.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: apps\n",
    );
    let health = json_of(&ok(root, &["health", "-f", "objects.yaml", "-o", "json"]));
    let yaml = ok(root, &["health", "-f", "objects.yaml", "-o", "yaml"]);
    assert_eq!(yaml_of(&yaml), health);
    for command in ["apply", "status"] {
        let help = ok(root, &[command, "--help"]);
        assert!(help.contains("yaml"), "{command} --help:\n{help}");
    }
}

#[test]
fn help_has_examples_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(dir.path(), &["--help"]);
    for line in [
        "  0  ok",
        "  1  changes (diff) or failures",
        "  2  invalid input",
        "  3  the cluster or a registry cannot be reached",
    ] {
        assert!(help.contains(line), "{help}");
    }
    for command in ["list", "values", "update", "completion", "push", "pull"] {
        let help = ok(dir.path(), &[command, "--help"]);
        assert!(help.contains("Examples:"), "{command} --help:\n{help}");
    }
    let help = ok(dir.path(), &["render", "--help"]);
    let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("every --values file in order, then every --set"),
        "{help}"
    );
}

// exit codes and errors

#[test]
fn health_exits_1_when_an_object_failed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: apps\nstatus:\n  conditions:\n  - type: Failed\n    status: \"True\"\n    reason: BackoffLimitExceeded\n",
    );
    let (code, stdout, _) = run(dir.path(), &["health", "-f", "job.yaml"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("Failed"), "{stdout}");
}

/// A kubeconfig whose only context, `dev`, points at a port nothing
/// listens on.
fn unreachable_kubeconfig(root: &Path) -> String {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    write(
        root,
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: dev\n  context:\n    cluster: c\n    user: u\ncurrent-context: dev\n"
        ),
    );
    format!("https://127.0.0.1:{port}")
}

#[test]
fn an_unreachable_cluster_is_exit_3_on_one_line() {
    let dir = scratch("basic");
    let root = dir.path();
    let server = unreachable_kubeconfig(root);
    let expected = format!("error: cannot reach {server} (context dev): connection refused\n");
    for command in [
        &["status"][..],
        &["diff"],
        &["apply"],
        &["reconcile", "platform", "cozy"],
        &["suspend", "platform", "cozy"],
        &["resume", "platform", "cozy"],
    ] {
        let args: Vec<&str> = command
            .iter()
            .copied()
            .chain(["--kubeconfig", "kubeconfig"])
            .collect();
        let (code, _, stderr) = run(root, &args);
        assert_eq!(code, 3, "{args:?}:\n{stderr}");
        assert_eq!(stderr, expected, "{args:?}");
    }
    // Without a kubeconfig at all.
    let (code, _, stderr) = run(root, &["status", "--kubeconfig", "missing"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.starts_with("error: no usable kubeconfig"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Invalid input is still found first, before any connection.
    write(root, "platform.yaml", "bundle: nope\n");
    let (code, _, _) = run(root, &["apply", "--kubeconfig", "kubeconfig"]);
    assert_eq!(code, 2);
}

#[test]
fn verbose_logs_decisions_without_colour() {
    let dir = scratch("basic");
    let root = dir.path();
    let (code, _, stderr) = run(root, &["validate", "-v"]);
    assert_eq!(code, 0, "{stderr}");
    for decision in [
        "picked the highest matching version release=app package=app version=1.1.0",
        "merging values file release=app file=packages/app/1.1.0/values-extra.yaml",
        "dropped dependency release=app dependency=addon",
        "release off release=addon",
    ] {
        assert!(stderr.contains(decision), "no {decision:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in a pipe:\n{stderr}"
    );
    let (_, _, again) = run(root, &["validate", "-v"]);
    assert!(
        again.contains("kept the locked version release=app"),
        "{again}"
    );
    let (_, _, quiet) = run(root, &["validate"]);
    assert!(quiet.is_empty(), "{quiet}");
}

// README

/// Every `$ distro ...` example of the README with the output under it is
/// what that command prints on the default distribution.
#[test]
fn readme_examples_print_what_the_commands_print() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let dir = default_distribution();
    let mut checked = 0;
    for block in readme.split("```").skip(1).step_by(2) {
        let body = block.split_once('\n').map(|(_, b)| b).unwrap_or("");
        let Some(rest) = body.strip_prefix("$ distro ") else {
            continue;
        };
        let (command, expected) = rest.split_once('\n').unwrap_or((rest, ""));
        if expected.contains("\n$ ") {
            panic!("one command per example block: {command}");
        }
        let args: Vec<&str> = command.split_whitespace().collect();
        let actual = ok(dir.path(), &args);
        assert_eq!(actual, expected, "README: distro {command}");
        checked += 1;
    }
    assert!(checked >= 2, "the README has {checked} checked examples");
}

/// `render --watch` renders again on every change under the distribution
/// and names the release whose digest moved.
#[test]
fn render_watch_reruns_on_change_and_names_the_changed_release() {
    let dir = crate::support::scratch("basic");
    let root = dir.path().to_path_buf();
    let mut watched = Watched::start(&root, &["render", "--watch", "--out", "out"], None);
    let index = root.join("out/index.json");
    watched.wait_for("the first render", &|_, _| index.exists());
    let first = std::fs::read_to_string(&index).unwrap();
    watched.wait_for("the watch to start", &|_, err| err.contains("watching"));
    // A change that reaches one release's output.
    let values = root.join("packages/app/1.1.0/values.yaml");
    let text = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, format!("{text}\nextraLabel: watched\n")).unwrap();
    let platform = root.join("platform.yaml");
    let p = std::fs::read_to_string(&platform).unwrap();
    std::fs::write(&platform, p.replace("replicas: 3", "replicas: 4")).unwrap();
    watched.wait_for("the second render", &|_, _| {
        std::fs::read_to_string(&index).is_ok_and(|now| now != first)
    });
    watched.wait_for("the change report", &|_, err| err.contains("== ~ app:"));
    let (_, err) = watched.output();
    assert!(
        !err.contains("== ~ base"),
        "an unchanged release was reported: {err}"
    );
}

/// `validate --watch` reports a template broken while it runs, naming the
/// file, keeps watching, and reports it valid again once fixed. Regression:
/// the watch took its own reading of the tree for a change and ran again
/// and again with nothing changed.
#[test]
fn validate_watch_reports_a_broken_template_and_its_fix() {
    let rounds = |err: &str| err.matches("for changes (Ctrl-C to stop)").count();
    let failures = |err: &str| err.matches("problem(s) found").count();
    let dir = crate::support::scratch("basic");
    let root = dir.path().to_path_buf();
    let mut watched = Watched::start(&root, &["validate", "--watch"], None);
    watched.wait_for("the first round", &|_, err| rounds(err) == 1);
    // Nothing changes: nothing runs again.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (out, err) = watched.output();
    assert_eq!(rounds(&err), 1, "ran again with nothing changed:\n{err}");
    assert_eq!(failures(&err), 0, "the fixture is valid: {out}{err}");

    let template = root.join("packages/app/1.1.0/templates/broken.yaml");
    std::fs::write(
        &template,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n",
    )
    .unwrap();
    watched.wait_for("the broken template to be reported", &|_, err| {
        rounds(err) == 2 && err.contains("templates/broken.yaml") && failures(err) == 1
    });

    std::fs::remove_file(&template).unwrap();
    watched.wait_for("the round after the fix", &|_, err| rounds(err) == 3);
    let (out, err) = watched.output();
    assert_eq!(
        failures(&err),
        1,
        "the fixed distribution failed:\n{out}{err}"
    );
}

/// `--render-timeout` sets the render budget: a runaway template fails
/// after about that long, naming the template, instead of after the 10 s
/// default.
#[test]
fn render_timeout_flag_stops_a_runaway_template_sooner() {
    let dir = scratch("basic");
    std::fs::write(
        dir.path().join("packages/app/1.1.0/templates/loop.yaml"),
        "{% for i in range(end=100000) %}{% for j in range(end=100000) %}{% endfor %}{% endfor %}\n",
    )
    .unwrap();
    for args in [
        &["render", "--render-timeout", "1s"][..],
        &["validate", "--render-timeout", "1s"][..],
    ] {
        let started = std::time::Instant::now();
        let (code, _, stderr) = outcome(&distro(dir.path(), args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("templates/loop.yaml") && stderr.contains("render budget of 1s"),
            "{args:?}: {stderr}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    // A tiny output budget fails on ordinary templates, naming the release.
    let (code, _, stderr) = outcome(&distro(dir.path(), &["render", "--render-max-bytes", "10"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("release"), "{stderr}");
}

#[test]
fn import_of_a_missing_file_prints_the_error_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a-directory.tar")).unwrap();
    for (file, reason) in [
        ("missing.tar", "No such file"),
        ("a-directory.tar", "not a file"),
    ] {
        // No registry is needed: nothing is pushed from a file not read.
        let stderr = invalid(
            dir.path(),
            &["import", file, "--registry", "127.0.0.1:9/mirror"],
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            !stderr.contains("verifying") && !stderr.contains("0 B"),
            "{file}: progress before the error:\n{stderr}"
        );
        assert!(
            lines
                .first()
                .is_some_and(|l| l.contains(file) && l.contains(reason)),
            "{file}: the error is not first:\n{stderr}"
        );
    }
}
