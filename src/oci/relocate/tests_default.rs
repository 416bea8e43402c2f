//! Relocation of the project's own default distribution, with the map that
//! `distro images` gives: afterwards no string of any rendered object names
//! a public registry, and nothing still holds an original reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::oci::images::{Image, UseKind};
use crate::pipeline::{Options, Rendered};

const MIRROR: &str = "registry.local:5000/mirror";

fn render(relocation: Option<Relocation>) -> Rendered {
    let platform = Path::new(env!("CARGO_MANIFEST_DIR")).join("platform.yaml");
    let snapshot = crate::source::Snapshot::from_dir(&platform).unwrap();
    let options = Options {
        relocation: relocation.map(Arc::new),
        ..Default::default()
    };
    match crate::pipeline::render(snapshot, &options) {
        Ok(rendered) => rendered,
        Err(invalid) => panic!("{}", invalid.summary(50)),
    }
}

/// Every image of `distro images`, each to the mirror by a digest of its
/// own (the sha256 of its name), as `distro import` maps them.
fn relocation_of(images: &[Image]) -> Relocation {
    let mut relocation = Relocation::default();
    for image in images {
        let original = Reference::parse(&image.image).unwrap();
        let digest = sha256(image.image.as_bytes());
        relocation.insert(&original, target(MIRROR, &original, &digest).unwrap());
    }
    relocation
}

/// Ways the default distribution spells an image: normalised, and Docker
/// Hub's short forms (`victoriametrics/operator:v1`, `nginx:1`).
fn spellings(image: &Reference) -> Vec<String> {
    let mut out = vec![image.to_string()];
    if image.registry == crate::oci::reference::DOCKER_HUB {
        let short = image.to_string()["docker.io/".len()..].to_string();
        if let Some(official) = short.strip_prefix("library/") {
            out.push(official.to_string());
        }
        out.push(short);
    }
    out
}

/// Every string of a tree, with its JSON pointer.
fn strings<'v>(value: &'v Value, at: String, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(s) => out.push((at, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                strings(v, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

fn object(rendered: &Rendered, key: &str) -> Value {
    let object = rendered
        .releases
        .iter()
        .flat_map(|r| &r.objects)
        .find(|o| o.key.to_string() == key)
        .unwrap_or_else(|| panic!("no {key}"));
    crate::yaml::parse_value(object.yaml(), 0).unwrap()
}

fn moved(path: &str, relocation: &Relocation, original: &str) -> String {
    let copy = relocation
        .get(&Reference::parse(original).unwrap())
        .unwrap();
    assert!(
        copy.to_string()
            .starts_with(&format!("{MIRROR}/{path}@sha256:"))
    );
    copy.to_string()
}

#[test]
fn the_default_distribution_names_no_public_registry_after_relocation() {
    let plain = render(None);
    let images = crate::oci::images::list(&plain).unwrap();
    let relocation = relocation_of(&images);
    let moved_all = render(Some(relocation.clone()));

    // The whole output, CRDs included: no original reference is left, in
    // any spelling.
    let originals: Vec<Reference> = images
        .iter()
        .map(|i| Reference::parse(&i.image).unwrap())
        .collect();
    for release in &moved_all.releases {
        for original in &originals {
            for spelling in spellings(original) {
                assert!(
                    !release.manifest.contains(&spelling),
                    "release {} still names {spelling}",
                    release.name
                );
            }
        }
    }

    // Every string of every object: nothing that reads as a reference
    // names an original repository, with any tag, and no string names the
    // original registries at all. (Secrets are not read; the default
    // distribution renders none that names an image.)
    let names: BTreeSet<String> = originals.iter().map(Reference::name).collect();
    let hosts: BTreeSet<String> = originals
        .iter()
        .map(|r| format!("{}/", r.registry))
        .collect();
    let mut mirrored = 0;
    for release in &moved_all.releases {
        for object in &release.objects {
            let value = crate::yaml::parse_value(object.yaml(), 0).unwrap();
            let mut all = Vec::new();
            strings(&value, String::new(), &mut all);
            for (at, text) in all {
                let place = || format!("{}: {at}: {text}", object.key);
                for mention in crate::oci::images::text::mentions(text) {
                    assert!(!names.contains(&mention.reference.name()), "{}", place());
                    mirrored += usize::from(mention.reference.registry == "registry.local:5000");
                }
                for host in &hosts {
                    assert!(!text.contains(host.as_str()), "{host}: {}", place());
                }
            }
        }
    }
    let uses: usize = images.iter().map(|i| i.uses.len()).sum();
    assert!(
        mirrored >= uses - prefix_uses(&images),
        "{mirrored} < {uses}"
    );

    // The places that only text names.
    let operator = object(&moved_all, "Deployment.apps/kubevirt/virt-operator");
    assert_eq!(
        operator.pointer("/spec/template/spec/containers/0/env/0"),
        Some(&serde_json::json!({
            "name": "VIRT_OPERATOR_IMAGE",
            "value": moved("kubevirt/virt-operator", &relocation, "quay.io/kubevirt/virt-operator:v1.4.0"),
        }))
    );
    // Every component virt-operator deploys is named in full, so each is
    // pinned by digest too.
    let env = operator
        .pointer("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .unwrap();
    for (name, path) in [
        ("VIRT_API_IMAGE", "virt-api"),
        ("VIRT_HANDLER_IMAGE", "virt-handler"),
        ("VIRT_LAUNCHER_IMAGE", "virt-launcher"),
        ("PR_HELPER_IMAGE", "pr-helper"),
    ] {
        let var = env.iter().find(|e| e["name"] == name).unwrap();
        let original = format!("quay.io/kubevirt/{path}:v1.4.0");
        assert_eq!(
            var["value"],
            moved(&format!("kubevirt/{path}"), &relocation, &original),
            "{name}"
        );
    }
    let cert_manager = object(&moved_all, "Deployment.apps/cert-manager/cert-manager");
    let args = cert_manager
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .unwrap();
    let solver = moved(
        "jetstack/cert-manager-acmesolver",
        &relocation,
        "quay.io/jetstack/cert-manager-acmesolver:v1.16.2",
    );
    assert!(
        args.contains(&Value::String(format!(
            "--acme-http01-solver-image={solver}"
        ))),
        "{args:?}"
    );
    let vm = object(
        &moved_all,
        "Deployment.apps/victoria-metrics/victoria-metrics-operator",
    );
    let env = vm
        .pointer("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .unwrap();
    let reloader = env
        .iter()
        .find(|e| e["name"] == "VM_CUSTOMCONFIGRELOADERIMAGE")
        .unwrap();
    assert_eq!(
        reloader["value"],
        moved(
            "victoriametrics/operator",
            &relocation,
            "victoriametrics/operator:config-reloader-v0.51.3"
        )
    );

    // The Piraeus image configuration: the bases move, names and tags stay
    // (the operator joins them and pulls by tag).
    let config = object(
        &moved_all,
        "ConfigMap/piraeus-datastore/piraeus-operator-image-config",
    );
    let documents: BTreeMap<&str, Value> = config["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                crate::yaml::parse_value(v.as_str().unwrap(), 0).unwrap(),
            )
        })
        .collect();
    let piraeus = &documents["0_piraeus_datastore_images.yaml"];
    assert_eq!(piraeus["base"], format!("{MIRROR}/piraeusdatastore"));
    assert_eq!(
        piraeus["components"]["linstor-controller"],
        serde_json::json!({"image": "piraeus-server", "tag": "v1.29.2"})
    );
    let plain_config = object(
        &plain,
        "ConfigMap/piraeus-datastore/piraeus-operator-image-config",
    );
    let plain_doc = crate::yaml::parse_value(
        plain_config["data"]["0_piraeus_datastore_images.yaml"]
            .as_str()
            .unwrap(),
        0,
    )
    .unwrap();
    assert_eq!(piraeus["components"], plain_doc["components"]);
    assert_eq!(
        documents["0_sig_storage_images.yaml"]["base"],
        format!("{MIRROR}/sig-storage")
    );

    // Releases that name no image keep their bytes and digest.
    for (before, after) in plain.releases.iter().zip(&moved_all.releases) {
        let names_images = images.iter().any(|i| i.releases.contains(&before.name));
        if !names_images {
            assert_eq!(before.digest, after.digest, "{}", before.name);
        }
    }
}

fn prefix_uses(images: &[Image]) -> usize {
    images
        .iter()
        .flat_map(|i| &i.uses)
        .filter(|u| u.kind == UseKind::Prefix)
        .count()
}

/// `distro images` lists where text and prefixes name images, beside the
/// image fields.
#[test]
fn the_default_distribution_lists_text_and_prefix_uses() {
    let images = crate::oci::images::list(&render(None)).unwrap();
    let uses = |image: &str| -> Vec<(UseKind, String, String)> {
        images
            .iter()
            .find(|i| i.image == image)
            .unwrap_or_else(|| panic!("no {image}"))
            .uses
            .iter()
            .map(|u| (u.kind, u.object.clone(), u.field.clone()))
            .collect()
    };
    assert_eq!(
        uses("quay.io/kubevirt/virt-operator:v1.4.0"),
        [
            (
                UseKind::Image,
                "Deployment.apps/kubevirt/virt-operator".into(),
                "spec.template.spec.containers[0].image".into()
            ),
            (
                UseKind::Text,
                "Deployment.apps/kubevirt/virt-operator".into(),
                "spec.template.spec.containers[0].env[0].value".into()
            ),
        ]
    );
    assert!(
        uses("quay.io/jetstack/cert-manager-acmesolver:v1.16.2").contains(&(
            UseKind::Text,
            "Deployment.apps/cert-manager/cert-manager".into(),
            "spec.template.spec.containers[0].args[6]".into()
        ))
    );
    assert_eq!(
        uses("quay.io/piraeusdatastore/drbd9-noble:v9.2.12"),
        [(
            UseKind::Prefix,
            "ConfigMap/piraeus-datastore/piraeus-operator-image-config".into(),
            "data.0_piraeus_datastore_images.yaml#base".into()
        )]
    );
    // The operator's own image is under the same base but not one of the
    // configuration's names.
    assert!(
        uses("quay.io/piraeusdatastore/piraeus-operator:v2.7.1")
            .iter()
            .all(|(kind, _, _)| *kind == UseKind::Image)
    );
}
