//! `distro render`, `graph`, `validate` on valid distributions: output
//! shape, determinism, digests, the lock.

use std::path::Path;

use serde_json::Value;

use crate::support::{copy_tree, distro, outcome, project_root, scratch};

/// A scratch copy of the project's default distribution.
fn default_distribution() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = project_root();
    std::fs::copy(root.join("platform.yaml"), dir.path().join("platform.yaml")).unwrap();
    copy_tree(&root.join("packages"), &dir.path().join("packages"));
    copy_tree(&root.join("bundles"), &dir.path().join("bundles"));
    dir
}

fn index(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("index.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn digests(dir: &Path) -> std::collections::BTreeMap<String, String> {
    index(dir)
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn render_ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = outcome(&distro(dir, args));
    assert_eq!(code, 0, "distro {args:?} failed:\n{stderr}");
    stdout
}

#[test]
fn default_distribution_renders_every_release_in_dependency_order() {
    let dir = default_distribution();
    render_ok(dir.path(), &["render", "--out", "out"]);
    let entries = index(&dir.path().join("out"));
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for required in [
        "cilium",
        "cert-manager",
        "cert-manager-issuers",
        "kubevirt-operator",
        "kubevirt",
        "piraeus-operator",
        "linstor",
        "monitoring",
    ] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("cilium") < pos("cert-manager"));
    assert!(pos("cert-manager") < pos("cert-manager-issuers"));
    assert!(pos("kubevirt-operator") < pos("kubevirt"));
    assert!(pos("piraeus-operator") < pos("linstor"));
    for e in &entries {
        let name = e["name"].as_str().unwrap();
        let file = std::fs::read(dir.path().join("out").join(format!("{name}.yaml"))).unwrap();
        assert_eq!(
            e["digest"].as_str().unwrap(),
            distro::source::sha256(&file),
            "{name}"
        );
        let docs = String::from_utf8(file)
            .unwrap()
            .matches("# Source: ")
            .count();
        assert_eq!(e["objects"].as_u64().unwrap() as usize, docs, "{name}");
        for key in ["namespace", "package", "version"] {
            assert!(
                e[key].as_str().is_some_and(|s| !s.is_empty()),
                "{name}.{key}"
            );
        }
    }
    // The lock was written next to the platform and passes --locked.
    assert!(dir.path().join("distro.lock").exists());
    render_ok(dir.path(), &["validate", "--locked"]);
}

#[test]
fn rendering_is_byte_for_byte_deterministic() {
    let dir = default_distribution();
    let first = render_ok(dir.path(), &["render"]);
    let second = render_ok(dir.path(), &["render"]);
    assert!(first.len() > 10_000, "suspiciously small output");
    assert_eq!(first, second);
    render_ok(dir.path(), &["render", "--out", "a"]);
    render_ok(dir.path(), &["render", "--out", "b"]);
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let a = std::fs::read(dir.path().join("a").join(&name)).unwrap();
        let b = std::fs::read(dir.path().join("b").join(&name)).unwrap();
        assert_eq!(a, b, "{name:?} differs between runs");
    }
}

#[test]
fn stdout_stream_is_the_release_files_in_apply_order() {
    let dir = scratch("basic");
    let stream = render_ok(dir.path(), &["render"]);
    render_ok(dir.path(), &["render", "--out", "out"]);
    let mut joined = String::new();
    for e in index(&dir.path().join("out")) {
        let name = e["name"].as_str().unwrap();
        joined.push_str(
            &std::fs::read_to_string(dir.path().join("out").join(format!("{name}.yaml"))).unwrap(),
        );
    }
    assert_eq!(stream, joined);
    assert!(
        stream.starts_with("---\n# Source: base/crds/widgets.yaml\n"),
        "{stream}"
    );
}

#[test]
fn changing_one_release_values_changes_only_its_digest() {
    let dir = default_distribution();
    render_ok(dir.path(), &["render", "--out", "before"]);
    let platform = dir.path().join("platform.yaml");
    let mut text = std::fs::read_to_string(&platform).unwrap();
    // A platform-level override of one release's log level.
    let marker = "\nreleases:\n";
    let pos = text
        .find(marker)
        .expect("platform.yaml has a releases: section")
        + marker.len();
    text.insert_str(
        pos,
        "  cert-manager:\n    values:\n      global:\n        logLevel: 5\n",
    );
    std::fs::write(&platform, text).unwrap();
    render_ok(dir.path(), &["render", "--out", "after"]);
    let before = digests(&dir.path().join("before"));
    let after = digests(&dir.path().join("after"));
    assert_eq!(before.len(), after.len());
    for (name, digest) in &before {
        if name == "cert-manager" {
            assert_ne!(digest, &after[name], "cert-manager's digest did not change");
        } else {
            assert_eq!(
                digest, &after[name],
                "{name} changed although only cert-manager was touched"
            );
        }
    }
    let manifest = std::fs::read_to_string(dir.path().join("after/cert-manager.yaml")).unwrap();
    assert!(
        manifest.contains("--v=5"),
        "the new log level is not in the output"
    );
}

#[test]
fn a_values_change_that_reaches_a_template_changes_that_digest() {
    let dir = scratch("basic");
    render_ok(dir.path(), &["render", "--out", "before"]);
    let platform = dir.path().join("platform.yaml");
    let text = std::fs::read_to_string(&platform)
        .unwrap()
        .replace("replicas: 3", "replicas: 5");
    std::fs::write(&platform, text).unwrap();
    render_ok(dir.path(), &["render", "--out", "after"]);
    let before = digests(&dir.path().join("before"));
    let after = digests(&dir.path().join("after"));
    assert_ne!(before["app"], after["app"]);
    assert_eq!(before["base"], after["base"]);
}

#[test]
fn values_precedence_and_highest_matching_version() {
    let dir = scratch("basic");
    let out = render_ok(dir.path(), &["render"]);
    // platform releases.app.values.replicas (3) beats the package default (1)
    assert!(out.contains("replicas: 3"), "{out}");
    // bundle values beat the package default
    assert!(out.contains("value: hello"), "{out}");
    // valuesFiles merged deeply over values.yaml
    assert!(
        out.contains("memory: 64Mi") && out.contains("cpu: 10m"),
        "{out}"
    );
    // ^1.0 picks 1.1.0 over 1.0.0, and only 1.1.0 has the Widget
    assert!(out.contains("image: registry.example/app:1.1.0"), "{out}");
    assert!(out.contains("kind: Widget"), "{out}");
    // the Widget's CRD is in the render set, so capabilities saw it
    assert!(out.contains("size: 6"), "{out}");
}

#[test]
fn namespaces_and_labels_are_defaulted() {
    let dir = scratch("basic");
    let out = render_ok(dir.path(), &["render"]);
    let docs: Vec<Value> = out
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str::<Value>(d.trim_start_matches("---\n")).unwrap())
        .collect();
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        let labels = &doc["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "distro", "{kind}");
        assert!(labels["distro.dev/release"].is_string(), "{kind}");
        let ns = doc["metadata"].get("namespace");
        match kind {
            // cluster-scoped: built-in kinds and the Gadget CRD (scope: Cluster)
            "CustomResourceDefinition" | "Namespace" | "ClusterRole" | "Gadget" => {
                assert!(ns.is_none(), "{kind} got a namespace")
            }
            _ => assert!(ns.is_some_and(Value::is_string), "{kind} has no namespace"),
        }
    }
    let widget = docs.iter().find(|d| d["kind"] == "Widget").unwrap();
    assert_eq!(widget["metadata"]["namespace"], "apps");
}

#[test]
fn locked_refuses_a_stale_lock() {
    let dir = scratch("basic");
    render_ok(dir.path(), &["validate"]);
    render_ok(dir.path(), &["validate", "--locked"]);
    let values = dir.path().join("packages/base/1.0.0/values.yaml");
    std::fs::write(&values, "role: editor\n").unwrap();
    let (code, _, stderr) = outcome(&distro(dir.path(), &["render", "--locked", "--out", "out"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("distro.lock is out of date"), "{stderr}");
    assert!(
        stderr.contains("base: package base 1.0.0 content changed"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
    // A plain run rewrites the lock; then --locked passes again.
    render_ok(dir.path(), &["validate"]);
    render_ok(dir.path(), &["validate", "--locked"]);
}

#[test]
fn graph_json_shows_order_levels_and_dropped_dependencies() {
    let dir = scratch("basic");
    let out = render_ok(dir.path(), &["graph", "-o", "json"]);
    let g: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(g["order"], serde_json::json!(["base", "app"]));
    assert_eq!(g["levels"], serde_json::json!([["base"], ["app"]]));
    assert_eq!(
        g["releases"][1],
        serde_json::json!({"name": "app", "dependsOn": ["base"]})
    );
    assert_eq!(g["dropped"][0]["release"], "app");
    assert_eq!(g["dropped"][0]["dependency"], "addon");

    // Enabling the optional release brings the edge back.
    let platform = dir.path().join("platform.yaml");
    let text = std::fs::read_to_string(&platform).unwrap();
    std::fs::write(&platform, format!("enable: [addon]\n{text}")).unwrap();
    let g: Value = serde_json::from_str(&render_ok(dir.path(), &["graph", "-o", "json"])).unwrap();
    assert_eq!(g["levels"], serde_json::json!([["base", "addon"], ["app"]]));
    assert_eq!(g["dropped"], serde_json::json!([]));
}

#[test]
fn graph_pictures() {
    let dir = scratch("basic");
    let dot = render_ok(dir.path(), &["graph", "-o", "dot"]);
    assert!(
        dot.starts_with("digraph distro {") && dot.contains("\"base\" -> \"app\";"),
        "{dot}"
    );
    let mermaid = render_ok(dir.path(), &["graph", "-o", "mermaid"]);
    assert!(mermaid.contains("r_base --> r_app"), "{mermaid}");
    let svg = render_ok(dir.path(), &["graph", "-o", "svg"]);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let text = render_ok(dir.path(), &["graph"]);
    assert!(text.contains("level 0\n  base\n"), "{text}");
}

#[test]
fn out_dir_drops_releases_that_left_the_platform() {
    let dir = scratch("basic");
    let platform = dir.path().join("platform.yaml");
    let original = std::fs::read_to_string(&platform).unwrap();
    std::fs::write(&platform, format!("enable: [addon]\n{original}")).unwrap();
    render_ok(dir.path(), &["render", "--out", "out"]);
    assert!(dir.path().join("out/addon.yaml").exists());
    std::fs::write(&platform, &original).unwrap();
    render_ok(dir.path(), &["render", "--out", "out"]);
    assert!(!dir.path().join("out/addon.yaml").exists());
    assert!(dir.path().join("out/app.yaml").exists());
}

#[test]
fn every_command_help_has_an_example() {
    let dir = scratch("basic");
    for cmd in [
        "render", "graph", "validate", "apply", "diff", "status", "health",
    ] {
        let help = render_ok(dir.path(), &[cmd, "--help"]);
        assert!(help.contains("Examples:"), "{cmd} --help:\n{help}");
    }
}

#[test]
fn validate_prints_nothing_on_success() {
    let dir = scratch("basic");
    let (code, stdout, stderr) = outcome(&distro(dir.path(), &["validate"]));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

/// A stale `index.json` is untrusted: a committed one in a pull request must
/// not make `render --out` delete files outside the output directory.
#[test]
fn regression_stale_index_cannot_delete_outside_out_dir() {
    let dir = scratch("basic");
    let root = dir.path();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let victim = root.join("victim.yaml");
    std::fs::write(&victim, "keep me").unwrap();
    let absolute = tempfile::NamedTempFile::with_suffix(".yaml").unwrap();
    let absolute_name = absolute.path().with_extension("");
    // A release name that is not a DNS label never names a file to delete,
    // whether it climbs out (`../victim`), is absolute, or holds a slash.
    let index = serde_json::json!([
        {"name": "../victim", "namespace": "x", "package": "p", "version": "1.0.0", "digest": "d", "objects": 1},
        {"name": absolute_name.to_str().unwrap(), "namespace": "x", "package": "p", "version": "1.0.0", "digest": "d", "objects": 1},
        {"name": "gone", "namespace": "x", "package": "p", "version": "1.0.0", "digest": "d", "objects": 1},
        {"name": "linked", "namespace": "x", "package": "p", "version": "1.0.0", "digest": "d", "objects": 1},
    ]);
    std::fs::write(out.join("index.json"), index.to_string()).unwrap();
    std::fs::write(out.join("gone.yaml"), "stale").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("linked.yaml")).unwrap();

    let (code, _, stderr) = outcome(&distro(root, &["render", "--out", "out"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(
        absolute.path().exists(),
        "a file named by an absolute path was deleted"
    );
    assert!(
        !out.join("gone.yaml").exists(),
        "a stale release file is still there"
    );
    assert!(
        std::fs::symlink_metadata(out.join("linked.yaml")).is_ok(),
        "a symlink was treated as a release file"
    );
}

/// A release file that cannot be written is named, and no temporary file
/// is left behind.
#[test]
fn regression_unwritable_release_file_is_named_and_leaves_no_temporary() {
    let dir = scratch("basic");
    let root = dir.path();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let index = index_after_render(root);
    let first = index[0]["name"].as_str().unwrap().to_string();
    // A directory where the release file goes: the rename onto it fails.
    std::fs::remove_file(out.join(format!("{first}.yaml"))).unwrap();
    std::fs::create_dir(out.join(format!("{first}.yaml"))).unwrap();
    std::fs::write(out.join(format!("{first}.yaml/keep")), "x").unwrap();
    let (code, _, stderr) = outcome(&distro(root, &["render", "--out", "out"]));
    assert_ne!(code, 0);
    assert!(stderr.contains(&format!("{first}.yaml")), "{stderr}");
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with('~'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

fn index_after_render(root: &Path) -> Vec<Value> {
    let (code, _, stderr) = outcome(&distro(root, &["render", "--out", "out"]));
    assert_eq!(code, 0, "{stderr}");
    index(&root.join("out"))
}
