use serde_json::json;

use crate::health::output::{self, Format};
use crate::health::{Assessment, ObjectRef, Status, assess_documents};

const STREAM: &str = "\
# Source: shop/templates/namespace.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: shop
status:
  phase: Active
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  generation: 2
spec:
  replicas: 3
status:
  observedGeneration: 2
  replicas: 3
  updatedReplicas: 3
  readyReplicas: 1
  availableReplicas: 1
---
# nothing but a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  LOG_LEVEL: info
";

fn object(kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        kind: kind.into(),
        namespace: namespace.map(Into::into),
        name: name.into(),
    }
}

#[test]
fn assesses_every_document_in_order() {
    let results = assess_documents(STREAM).unwrap();
    let got: Vec<(ObjectRef, Status)> =
        results.iter().map(|(o, a)| (o.clone(), a.status)).collect();
    assert_eq!(
        got,
        [
            (object("Namespace", None, "shop"), Status::Current),
            (
                object("Deployment", Some("shop"), "web"),
                Status::InProgress
            ),
            (
                object("ConfigMap", Some("shop"), "web-config"),
                Status::Current
            ),
        ]
    );
    assert_eq!(results[1].1.message, "Deployment: 1 of 3 replicas ready");
    assert_eq!(results[1].0.to_string(), "Deployment/shop/web");
    assert_eq!(results[0].0.to_string(), "Namespace/shop");
}

#[test]
fn lists_and_json_input() {
    // What `kubectl get pods -o json` prints.
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "shop"},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
             "status": {"phase": "Failed", "reason": "Evicted"}}
        ]
    });
    let text = serde_json::to_string_pretty(&list).unwrap();
    let results = assess_documents(&text).unwrap();
    let got: Vec<(String, Status)> = results
        .iter()
        .map(|(o, a)| (o.name.clone(), a.status))
        .collect();
    assert_eq!(
        got,
        [
            ("web-0".to_string(), Status::Current),
            ("web-1".to_string(), Status::Failed)
        ]
    );
}

#[test]
fn empty_stream_has_no_objects() {
    assert!(assess_documents("").unwrap().is_empty());
    assert!(
        assess_documents("---\n# comment\n---\n")
            .unwrap()
            .is_empty()
    );
    // An empty list is fine too.
    assert!(
        assess_documents("apiVersion: v1\nkind: List\nitems: []\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn errors_name_document_and_line() {
    let cases: Vec<(&str, &str, usize, usize, &str)> = vec![
        (
            "broken YAML",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [b\n",
            2,
            10,
            "invalid YAML",
        ),
        (
            "missing kind",
            "---\n# leading comment\napiVersion: v1\nmetadata:\n  name: a\n",
            1,
            3,
            "missing kind",
        ),
        (
            "missing name",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  namespace: shop\n",
            2,
            6,
            "Secret is missing metadata.name",
        ),
        ("not a map", "- a\n- b\n", 1, 1, "is a list, not an object"),
        (
            "list item without name",
            "apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    metadata: {}\n",
            1,
            1,
            "item 0: Pod is missing metadata.name",
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, document, line, fragment) in cases {
        match assess_documents(text) {
            Ok(r) => failures.push(format!("{name}: expected an error, got {r:?}")),
            Err(e) => {
                if e.document != document
                    || e.line < line
                    || e.line > line + 1
                    || !e.message.contains(fragment)
                {
                    failures.push(format!(
                        "{name}: want document {document} line {line} {fragment:?}, got {e:?}"
                    ));
                }
                let shown = e.to_string();
                if !shown.starts_with(&format!("line {}: document {document}: ", e.line)) {
                    failures.push(format!("{name}: display {shown:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn sample() -> Vec<(ObjectRef, Assessment)> {
    vec![
        (
            object("Namespace", None, "shop"),
            Assessment::current("Namespace: active"),
        ),
        (
            object("Deployment", Some("shop"), "web"),
            Assessment::in_progress("Deployment: 1 of 3 replicas ready"),
        ),
        (
            object("HelmRelease", Some("apps"), "podinfo"),
            Assessment::failed("condition Stalled=True: install failed:\n  timed out"),
        ),
    ]
}

#[test]
fn text_table() {
    let expected = "\
KIND          NAMESPACE   NAME      STATUS       MESSAGE
Namespace     -           shop      Current      Namespace: active
Deployment    shop        web       InProgress   Deployment: 1 of 3 replicas ready
HelmRelease   apps        podinfo   Failed       condition Stalled=True: install failed: timed out
";
    assert_eq!(output::write(&sample(), Format::Text), expected);
    assert_eq!(
        output::write(&[], Format::Text),
        "KIND   NAMESPACE   NAME   STATUS   MESSAGE\n"
    );
}

#[test]
fn json_array() {
    let text = output::write(&sample(), Format::Json);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value[0],
        json!({"kind": "Namespace", "namespace": null, "name": "shop", "status": "Current", "message": "Namespace: active"})
    );
    assert_eq!(value[1]["namespace"], json!("shop"));
    assert_eq!(value[1]["status"], json!("InProgress"));
    // Keys in a stable, readable order.
    let keys: Vec<&String> = value[2].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["kind", "namespace", "name", "status", "message"]);
    assert_eq!(output::write(&[], Format::Json), "[]\n");
}
