//! `distro images` and `validate --images`, run as the binary on the
//! project's default distribution and on small scratch distributions.

use serde_json::{Value, json};

use crate::support::{default_distribution, invalid, ok, write};

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

const APP_PACKAGE: &str = "name: app\nversion: 1.0.0\nimages:\n  - nginx:1.27\n  - busybox:1.36\n  - registry.k8s.io/backup/tool:v2\n  - quay.io/example/widget:v3\n  # Behind the optional sidecar (sidecar.enabled).\n  - quay.io/example/sidecar:v1\n  - image: quay.io/example/worker:v3\n    deployedBy: the widget operator\n";

const APP_VALUES: &str = "image: nginx:1.27\nsidecar:\n  enabled: false\n  image:\n    repository: quay.io/example/sidecar\n    tag: v1\n";

const APP_TEMPLATE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: init
        image: busybox:1.36
      containers:
      - name: web
        image: {{ values.image }}
{%- if values.sidecar.enabled %}
      - name: sidecar
        image: {{ values.sidecar.image.repository }}:{{ values.sidecar.image.tag }}
{%- endif %}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
spec:
  schedule: '@daily'
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: backup
            image: registry.k8s.io/backup/tool:v2
---
apiVersion: example.dev/v1
kind: Widget
metadata:
  name: w
  annotations:
    image: not-an-image-field
spec:
  image:
    repository: quay.io/example/widget
    tag: v3
";

/// A small distribution: release `app` (a Deployment with an init
/// container, a CronJob, a custom resource with a split image) and release
/// `web`, a second release of nginx.
fn small() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "platform.yaml", "name: t\nbundle: b\n");
    write(
        root,
        "bundles/b.yaml",
        "releases:\n  - name: app\n    package: app\n    version: \"1.0.0\"\n    namespace: apps\n  - name: web\n    package: web\n    version: \"1.0.0\"\n    namespace: web\n",
    );
    write(root, "packages/app/1.0.0/package.yaml", APP_PACKAGE);
    write(root, "packages/app/1.0.0/values.yaml", APP_VALUES);
    write(root, "packages/app/1.0.0/templates/app.yaml", APP_TEMPLATE);
    write(
        root,
        "packages/web/1.0.0/package.yaml",
        "name: web\nversion: 1.0.0\nimages: [docker.io/library/nginx:1.27, busybox:1.36]\n",
    );
    write(
        root,
        "packages/web/1.0.0/templates/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: index.docker.io/nginx:1.27\n  ephemeralContainers:\n  - name: debug\n    image: docker.io/busybox:1.36\n",
    );
    dir
}

#[test]
fn images_lists_a_small_distribution_as_a_table() {
    let dir = small();
    let text = ok(dir.path(), &["images"]);
    let want = "\
IMAGE                            RELEASES
docker.io/library/busybox:1.36   app,web
docker.io/library/nginx:1.27     app,web
quay.io/example/sidecar:v1       app
quay.io/example/widget:v3        app
quay.io/example/worker:v3        app
registry.k8s.io/backup/tool:v2   app
";
    assert_eq!(text, want);
    // Nothing is written: images only reads.
    assert!(!dir.path().join("distro.lock").exists());
}

#[test]
fn images_json_says_where_each_image_is_and_whether_it_is_declared() {
    let dir = small();
    let list = json_of(&ok(dir.path(), &["images", "-o", "json"]));
    let find = |image: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|i| i["image"] == image)
            .unwrap_or_else(|| panic!("{image} not in {list:#}"))
            .clone()
    };
    assert_eq!(
        find("docker.io/library/nginx:1.27"),
        json!({
            "image": "docker.io/library/nginx:1.27",
            "releases": ["app", "web"],
            "declared": true,
            "found": true,
            "uses": [
                {"release": "app", "object": "Deployment.apps/apps/web", "file": "templates/app.yaml",
                 "field": "spec.template.spec.containers[0].image", "kind": "image"},
                {"release": "web", "object": "Pod/web/web", "file": "templates/pod.yaml",
                 "field": "spec.containers[0].image", "kind": "image"},
            ],
        })
    );
    let busybox = find("docker.io/library/busybox:1.36");
    let fields: Vec<&str> = busybox["uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "spec.template.spec.initContainers[0].image",
            "spec.ephemeralContainers[0].image"
        ]
    );
    assert_eq!(
        find("registry.k8s.io/backup/tool:v2")["uses"][0]["field"],
        "spec.jobTemplate.spec.template.spec.containers[0].image"
    );
    assert_eq!(
        find("quay.io/example/widget:v3")["uses"][0]["field"],
        "spec.image"
    );
    let worker = find("quay.io/example/worker:v3");
    assert_eq!(worker["found"], false);
    assert_eq!(worker["declared"], true);
    assert_eq!(worker["deployedBy"], json!(["the widget operator"]));
    assert_eq!(find("quay.io/example/sidecar:v1")["found"], false);

    // -o yaml is the same data.
    let yaml: Value = serde_yaml_ng::from_str(&ok(dir.path(), &["images", "-o", "yaml"])).unwrap();
    assert_eq!(yaml, list);
}

#[test]
fn images_of_the_default_distribution() {
    let dir = default_distribution();
    let text = ok(dir.path(), &["images"]);
    assert!(text.starts_with("IMAGE "), "{text}");
    for line in [
        "quay.io/cilium/cilium:v1.17.2",
        "quay.io/jetstack/cert-manager-acmesolver:v1.16.2",
        "quay.io/kubevirt/virt-operator:v1.4.0",
        "quay.io/piraeusdatastore/piraeus-operator:v2.7.1",
        "docker.io/victoriametrics/operator:v0.51.3",
        "docker.io/grafana/grafana:11.4.0",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} missing:\n{text}"
        );
    }
    let list = json_of(&ok(dir.path(), &["images", "-o", "json"]));
    let list = list.as_array().unwrap();
    let images: Vec<&str> = list.iter().map(|i| i["image"].as_str().unwrap()).collect();
    let mut sorted = images.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(images, sorted, "sorted and deduplicated");
    let cilium = list
        .iter()
        .find(|i| i["image"] == "quay.io/cilium/cilium:v1.17.2")
        .unwrap();
    assert_eq!(cilium["releases"], json!(["cilium"]));
    assert_eq!(
        (cilium["declared"].as_bool(), cilium["found"].as_bool()),
        (Some(true), Some(true))
    );
    // The agent DaemonSet runs the image in several init containers.
    assert!(cilium["uses"].as_array().unwrap().len() > 3, "{cilium:#}");
    let api = list
        .iter()
        .find(|i| i["image"] == "quay.io/kubevirt/virt-api:v1.4.0")
        .unwrap();
    assert_eq!(api["deployedBy"], json!(["virt-operator"]));
    assert_eq!(api["found"], false);
    // The operator's own image is also named in text, where the operator
    // reads it from: a use of kind text.
    let operator = list
        .iter()
        .find(|i| i["image"] == "quay.io/kubevirt/virt-operator:v1.4.0")
        .unwrap();
    assert!(
        operator["uses"].as_array().unwrap().contains(&json!({
            "release": "kubevirt-operator",
            "object": "Deployment.apps/kubevirt/virt-operator",
            "file": "templates/deployment.yaml",
            "field": "spec.template.spec.containers[0].env[0].value",
            "kind": "text",
        })),
        "{operator:#}"
    );
    // The DRBD module loader of each node OS, named by the operator's
    // image configuration under its prefix.
    let focal = list
        .iter()
        .find(|i| i["image"] == "quay.io/piraeusdatastore/drbd9-focal:v9.2.12")
        .expect("drbd9-focal listed");
    assert_eq!(focal["uses"][0]["kind"], "prefix", "{focal:#}");
    // Every image a rendered object runs is declared by its package.
    for image in list {
        assert!(image["declared"] == true, "{image:#}");
    }
}

#[test]
fn validate_images_passes_on_the_default_distribution() {
    let dir = default_distribution();
    ok(dir.path(), &["validate", "--images", "--locked"]);
}

#[test]
fn validate_images_passes_on_a_complete_declaration() {
    let dir = small();
    ok(dir.path(), &["validate", "--images"]);
    // Turning the optional sidecar on renders its image: still declared.
    let values = APP_VALUES.replace("enabled: false", "enabled: true");
    write(dir.path(), "packages/app/1.0.0/values.yaml", &values);
    ok(dir.path(), &["validate", "--images"]);
}

#[test]
fn validate_images_reports_undeclared_and_unused_images() {
    let dir = small();
    let root = dir.path();
    // busybox undeclared; an image nothing uses declared.
    let package = APP_PACKAGE.replace("  - busybox:1.36\n", "  - quay.io/example/gone:v1\n");
    write(root, "packages/app/1.0.0/package.yaml", &package);
    // Without --images, images are not checked.
    ok(root, &["validate"]);
    std::fs::remove_file(root.join("distro.lock")).unwrap();
    let stderr = invalid(root, &["validate", "--images"]);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].ends_with("packages/app/1.0.0/package.yaml: release app: image docker.io/library/busybox:1.36 is used by Deployment.apps/apps/web (templates/app.yaml, spec.template.spec.initContainers[0].image) but not declared under images:"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("packages/app/1.0.0/package.yaml:5: release app: image quay.io/example/gone:v1 is declared under images: but neither"),
        "{stderr}"
    );
    assert!(lines[1].contains("deployedBy"), "{stderr}");
    assert!(
        stderr.contains("2 problem(s) found; nothing was written"),
        "{stderr}"
    );
    assert!(
        !root.join("distro.lock").exists(),
        "the lock is not written"
    );
}

/// An image declared for a feature that is off is used by the release's
/// values; once the values no longer name it, it is unused.
#[test]
fn validate_images_counts_values_but_not_other_releases() {
    let dir = small();
    let root = dir.path();
    write(
        root,
        "packages/app/1.0.0/values.yaml",
        "image: nginx:1.27\nsidecar:\n  enabled: false\n",
    );
    let stderr = invalid(root, &["validate", "--images"]);
    assert!(
        stderr.contains("release app: image quay.io/example/sidecar:v1 is declared"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");

    // Each release is checked on its own: web's package declaring nginx
    // does not cover app's use of busybox.
    let dir = small();
    let root = dir.path();
    let package = APP_PACKAGE.replace("  - busybox:1.36\n", "");
    write(root, "packages/app/1.0.0/package.yaml", &package);
    write(
        root,
        "packages/web/1.0.0/package.yaml",
        "name: web\nversion: 1.0.0\nimages: [nginx:1.27, busybox:1.36]\n",
    );
    let stderr = invalid(root, &["validate", "--images"]);
    assert!(
        stderr.contains("release app: image docker.io/library/busybox:1.36 is used by"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
}

#[test]
fn invalid_references_name_the_release_object_and_field() {
    let dir = small();
    let root = dir.path();
    write(
        root,
        "packages/app/1.0.0/values.yaml",
        &APP_VALUES.replace("nginx:1.27", "Nginx:1.27"),
    );
    for args in [&["images"][..], &["validate", "--images"]] {
        let stderr = invalid(root, args);
        assert!(
            stderr.contains("packages/app/1.0.0/templates/app.yaml: release app: Deployment.apps/apps/web: spec.template.spec.containers[0].image: \"Nginx:1.27\" is not a valid image reference: repository name \"Nginx\" must be lowercase"),
            "{stderr}"
        );
    }
    // A plain validate renders fine: the reference is only read by image commands.
    ok(root, &["validate"]);

    let dir = small();
    let root = dir.path();
    write(
        root,
        "packages/web/1.0.0/package.yaml",
        "name: web\nversion: 1.0.0\nimages:\n  - nginx:1.27\n  - nginx@sha256:abc\n",
    );
    let stderr = invalid(root, &["images", "-o", "json"]);
    assert!(
        stderr.contains("packages/web/1.0.0/package.yaml:5: release web: images: \"nginx@sha256:abc\" is not a valid image reference: digest"),
        "{stderr}"
    );
}

#[test]
fn images_entries_refuse_unknown_fields() {
    let dir = small();
    let root = dir.path();
    write(
        root,
        "packages/web/1.0.0/package.yaml",
        "name: web\nversion: 1.0.0\nimages:\n  - image: nginx:1.27\n    deployedby: me\n",
    );
    let stderr = invalid(root, &["images"]);
    assert!(
        stderr.contains("packages/web/1.0.0/package.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("deployedby"), "{stderr}");
}

#[test]
fn validate_images_reports_an_undeclared_image_of_an_image_configuration() {
    let dir = small();
    let root = dir.path();
    write(
        root,
        "packages/web/1.0.0/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: images\ndata:\n  0_images.yaml: |\n    base: quay.io/piraeusdatastore\n    components:\n      drbd-module-loader:\n        image: drbd9-jammy\n        tag: v9.2.12\n        match:\n          - osImage: Debian GNU/Linux 12\n            image: drbd9-bookworm\n",
    );
    write(
        root,
        "packages/web/1.0.0/package.yaml",
        "name: web\nversion: 1.0.0\nimages: [docker.io/library/nginx:1.27, busybox:1.36, quay.io/piraeusdatastore/drbd9-jammy:v9.2.12]\n",
    );
    let stderr = invalid(root, &["validate", "--images"]);
    assert!(
        stderr.contains("release web: image quay.io/piraeusdatastore/drbd9-bookworm:v9.2.12 is used by ConfigMap/web/images"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
}
