//! Which sites the walker yields, and where.

use super::*;

/// What kind of site, for comparing.
fn kind(field: &Field<'_>) -> &'static str {
    match field {
        Field::Whole(_) | Field::NotAString(_) => "image",
        Field::Parts(_) => "parts",
        Field::Text(_) => "text",
        Field::Prefix { .. } => "prefix",
    }
}

/// Every site of an object but plain text without a reference-like
/// token, as `(kind, path, text)`.
fn sites(yaml: &str) -> Vec<(&'static str, String, String)> {
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    let mut found = Vec::new();
    object(&mut value, &mut |site: Site<'_>| {
        let text = site.field.text();
        let kind = kind(&site.field);
        if kind != "text" || text.contains(':') {
            found.push((kind, site.path, text));
        }
        Ok::<(), ()>(())
    })
    .unwrap();
    found
}

fn images(yaml: &str) -> Vec<(String, String)> {
    sites(yaml)
        .into_iter()
        .filter(|(k, _, _)| *k == "image" || *k == "parts")
        .map(|(_, p, t)| (p, t))
        .collect()
}

#[test]
fn metadata_status_and_builtin_data_are_not_image_fields() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    image: a/b\ndata:\n  image: nginx\n";
    assert!(images(yaml).is_empty());
    let yaml = "apiVersion: x.io/v1\nkind: X\nmetadata:\n  annotations:\n    image: a\nstatus:\n  image: b\nspec:\n  image: c\n";
    assert_eq!(images(yaml), [("spec.image".into(), "c".into())]);
}

#[test]
fn image_volumes_and_container_patches() {
    let yaml = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: a:1\n  - name: patch\n  volumes:\n  - name: v\n    image:\n      reference: quay.io/x/data:1\n      pullPolicy: IfNotPresent\n  - name: e\n    emptyDir: {}\n";
    assert_eq!(
        images(yaml),
        [
            ("spec.containers[0].image".into(), "a:1".into()),
            (
                "spec.volumes[0].image.reference".into(),
                "quay.io/x/data:1".into()
            ),
        ]
    );
}

#[test]
fn every_other_string_is_text_with_its_path() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    note: built from quay.io/a/b:v1\nspec:\n  template:\n    spec:\n      containers:\n      - name: op\n        image: quay.io/a/op:v1\n        args: [--port=8443, --solver-image=quay.io/a/solver:v1]\n        env:\n        - name: PORT\n          value: '80'\n        - name: OPERAND_IMAGE\n          value: quay.io/a/operand:v1\n";
    assert_eq!(
        sites(yaml),
        [
            (
                "text",
                "metadata.annotations.note".into(),
                "built from quay.io/a/b:v1".into()
            ),
            (
                "image",
                "spec.template.spec.containers[0].image".into(),
                "quay.io/a/op:v1".into()
            ),
            (
                "text",
                "spec.template.spec.containers[0].args[1]".into(),
                "--solver-image=quay.io/a/solver:v1".into()
            ),
            (
                "text",
                "spec.template.spec.containers[0].env[1].value".into(),
                "quay.io/a/operand:v1".into()
            ),
        ]
    );
}

#[test]
fn secrets_and_binary_data_are_never_read() {
    let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  image: quay.io/a/b:v1\n";
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    let mut count = 0;
    object(&mut value, &mut |_: Site<'_>| {
        count += 1;
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(count, 0);
    let yaml = "apiVersion: v1\nkind: ConfigMap\nbinaryData:\n  a: cXVheS5pby9hL2I6djE=\ndata:\n  b: quay.io/a/b:v1\n";
    assert_eq!(
        sites(yaml),
        [("text", "data.b".into(), "quay.io/a/b:v1".into())]
    );
}

#[test]
fn registry_prefixes() {
    let kubevirt = "apiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata:\n  name: kubevirt\nspec:\n  imageRegistry: quay.io/kubevirt\n  imageTag: v1.4.0\n";
    assert_eq!(
        sites(kubevirt),
        [(
            "prefix",
            "spec.imageRegistry".into(),
            "quay.io/kubevirt".into()
        )]
    );
    let linstor = "apiVersion: piraeus.io/v1\nkind: LinstorCluster\nmetadata:\n  name: l\nspec:\n  repository: quay.io/piraeusdatastore\n";
    assert_eq!(
        sites(linstor),
        [(
            "prefix",
            "spec.repository".into(),
            "quay.io/piraeusdatastore".into()
        )]
    );
    // Only that kind's repository is a prefix.
    let other = linstor.replace("piraeus.io/v1", "x.io/v1");
    assert_eq!(sites(&other), []);
    let helm = "apiVersion: x.io/v1\nkind: App\nspec:\n  values:\n    image:\n      registry: quay.io/x\n      tag: v1\n    global:\n      imageRegistry: ''\n";
    assert_eq!(
        sites(helm),
        [(
            "prefix",
            "spec.values.image.registry".into(),
            "quay.io/x".into()
        )]
    );
    // A built-in kind has none.
    let config = "apiVersion: v1\nkind: ConfigMap\ndata:\n  imageRegistry: quay.io/x\n";
    assert_eq!(sites(config), []);
}

#[test]
fn embedded_documents_give_their_split_images_and_prefixes() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\ndata:\n  0_images.yaml: |\n    base: quay.io/piraeusdatastore\n    components:\n      linstor-controller:\n        image: piraeus-server\n        tag: v1.29.2\n  values.json: '{\"image\": {\"repository\": \"quay.io/a/b\", \"tag\": \"v1\"}, \"other\": {\"image\": \"quay.io/a/c:v2\"}}'\n";
    assert_eq!(
        sites(yaml),
        [
            (
                "prefix",
                "data.0_images.yaml#base".into(),
                "quay.io/piraeusdatastore".into()
            ),
            (
                "text",
                "data.0_images.yaml".into(),
                "base: quay.io/piraeusdatastore\ncomponents:\n  linstor-controller:\n    image: piraeus-server\n    tag: v1.29.2\n".into()
            ),
            (
                "parts",
                "data.values.json#image".into(),
                "quay.io/a/b:v1".into()
            ),
            (
                "text",
                "data.values.json".into(),
                "{\"image\": {\"repository\": \"quay.io/a/b\", \"tag\": \"v1\"}, \"other\": {\"image\": \"quay.io/a/c:v2\"}}".into()
            ),
        ]
    );
}

#[test]
fn an_image_configuration_names_its_images() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\ndata:\n  i.yaml: |\n    base: quay.io/piraeusdatastore\n    components:\n      loader:\n        image: drbd9-jammy\n        tag: v9.2.12\n        match:\n        - osImage: Ubuntu 24\n          image: drbd9-noble\n        - osImage: Debian\n          image: drbd9-bookworm\n          tag: v9.2.13\n      csi:\n        image: piraeus-csi\n        tag: v1.6.4\n";
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    let mut prefixes = Vec::new();
    let mut composed = Vec::new();
    object(&mut value, &mut |site: Site<'_>| {
        if let Ok(prefix) = site.field.prefix() {
            prefixes.push(prefix);
        }
        if let Field::Prefix { images, .. } = &site.field {
            composed.extend(images.iter().cloned());
        }
        Ok::<(), ()>(())
    })
    .unwrap();
    // Every image it can start, a match rule with the component's tag
    // unless it has its own.
    assert_eq!(
        composed,
        [
            "drbd9-bookworm:v9.2.13",
            "drbd9-jammy:v9.2.12",
            "drbd9-noble:v9.2.12",
            "piraeus-csi:v1.6.4"
        ]
    );
    assert_eq!(prefixes.len(), 1);
    assert_eq!(prefixes[0].to_string(), "quay.io/piraeusdatastore");
    assert_eq!(
        prefixes[0].names.as_deref(),
        Some(
            &[
                "drbd9-bookworm".to_string(),
                "drbd9-jammy".into(),
                "drbd9-noble".into(),
                "piraeus-csi".into()
            ][..]
        )
    );
}

#[test]
fn a_changed_document_is_written_back() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\ndata:\n  images.yaml: |\n    # defaults\n    base: quay.io/piraeusdatastore\n    components:\n      csi:\n        image: piraeus-csi\n        tag: v1.6.4\n  same.yaml: |\n    # kept\n    base: quay.io/other\n    components:\n      x:\n        image: x\n";
    let mut value = crate::yaml::parse_value(yaml, 0).unwrap();
    object(&mut value, &mut |site: Site<'_>| {
        if let Field::Prefix { text, .. } = site.field
            && text == "quay.io/piraeusdatastore"
        {
            *text = "registry.local/mirror/piraeusdatastore".into();
        }
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(
        value["data"]["images.yaml"],
        "base: registry.local/mirror/piraeusdatastore\ncomponents:\n  csi:\n    image: piraeus-csi\n    tag: v1.6.4\n"
    );
    // A document nothing changed keeps its bytes, comments and all.
    assert!(
        value["data"]["same.yaml"]
            .as_str()
            .unwrap()
            .starts_with("# kept\n")
    );
}

#[test]
fn split_references_join_and_keep_their_shape() {
    let mut value = crate::yaml::parse_value(
        "apiVersion: x.io/v1\nkind: X\nspec:\n  image:\n    registry: quay.io/\n    repository: a/b\n    tag: v1\n",
        0,
    )
    .unwrap();
    let target = Reference::parse(
        "r.local:5000/m/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    object(&mut value, &mut |mut site: Site<'_>| {
        if !site.field.is_image() {
            return Ok(());
        }
        assert_eq!(site.field.text(), "quay.io/a/b:v1");
        let original = site.field.reference().unwrap();
        site.field.set(&target, &original);
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(value["spec"]["image"]["registry"], "r.local:5000");
    assert_eq!(value["spec"]["image"]["repository"], "m/a/b");
    assert!(
        value["spec"]["image"]["tag"]
            .as_str()
            .unwrap()
            .starts_with("v1@sha256:")
    );
}
