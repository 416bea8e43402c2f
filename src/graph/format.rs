//! Ways to print the DAG: a readable table, JSON for tools, DOT and Mermaid
//! for pictures, and a self-contained SVG.
//!
//! Pictures draw edges in install order (dependency -> dependent), which is
//! how people read a rollout; dropped dependencies are dashed and grey.

use std::fmt::Write;

use super::Graph;

/// Output formats of `distro graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Dot,
    Mermaid,
    Svg,
}

/// Renders the graph in one format.
pub fn write(graph: &Graph, format: Format) -> String {
    match format {
        Format::Text => text(graph),
        Format::Json => json(graph),
        Format::Dot => dot(graph),
        Format::Mermaid => mermaid(graph),
        Format::Svg => super::svg::svg(graph),
    }
}

fn text(graph: &Graph) -> String {
    let mut out = String::new();
    let width = graph.order.iter().map(String::len).max().unwrap_or(0);
    for (i, level) in graph.levels.iter().enumerate() {
        let _ = writeln!(out, "level {i}");
        for name in level {
            let deps = graph
                .releases
                .iter()
                .find(|n| &n.name == name)
                .map(|n| n.depends_on.join(", "))
                .unwrap_or_default();
            if deps.is_empty() {
                let _ = writeln!(out, "  {name}");
            } else {
                let _ = writeln!(out, "  {name:width$}  after {deps}");
            }
        }
    }
    if !graph.dropped.is_empty() {
        let _ = writeln!(out, "dropped dependencies");
        for d in &graph.dropped {
            let _ = writeln!(out, "  {} -> {} ({})", d.release, d.dependency, d.reason);
        }
    }
    out
}

fn json(graph: &Graph) -> String {
    let mut s = serde_json::to_string_pretty(graph).unwrap_or_default();
    s.push('\n');
    s
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn dot(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph distro {\n  rankdir=LR;\n  nodesep=0.3;\n  ranksep=0.8;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\", color=\"#4a6fa5\", fontname=\"Helvetica\", fontsize=12];\n  edge [color=\"#4a6fa5\", arrowsize=0.7];\n",
    );
    for level in &graph.levels {
        let names: Vec<String> = level.iter().map(|n| quoted(n)).collect();
        let _ = writeln!(out, "  {{ rank=same; {}; }}", names.join("; "));
    }
    for node in &graph.releases {
        for dep in &node.depends_on {
            let _ = writeln!(out, "  {} -> {};", quoted(dep), quoted(&node.name));
        }
    }
    for d in &graph.dropped {
        let _ = writeln!(
            out,
            "  {} [style=\"rounded,dashed\", fillcolor=\"#ffffff\", color=\"#999999\", fontcolor=\"#999999\"];",
            quoted(&d.dependency)
        );
        let _ = writeln!(
            out,
            "  {} -> {} [style=dashed, color=\"#999999\", label={}, fontsize=9, fontcolor=\"#999999\"];",
            quoted(&d.dependency),
            quoted(&d.release),
            quoted(&d.reason.to_string())
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid(graph: &Graph) -> String {
    // Mermaid ids must be plain words; release names may hold '-'.
    let id = |name: &str| format!("r_{}", name.replace('-', "_"));
    let mut out = String::from("flowchart LR\n");
    for name in &graph.order {
        let _ = writeln!(out, "  {}[\"{name}\"]", id(name));
    }
    for node in &graph.releases {
        for dep in &node.depends_on {
            let _ = writeln!(out, "  {} --> {}", id(dep), id(&node.name));
        }
    }
    let mut dropped_nodes = std::collections::BTreeSet::new();
    for d in &graph.dropped {
        if dropped_nodes.insert(d.dependency.clone()) {
            let _ = writeln!(
                out,
                "  {}[\"{}\"]:::dropped",
                id(&d.dependency),
                d.dependency
            );
        }
        let _ = writeln!(
            out,
            "  {} -.->|{}| {}",
            id(&d.dependency),
            d.reason,
            id(&d.release)
        );
    }
    if !dropped_nodes.is_empty() {
        out.push_str("  classDef dropped stroke-dasharray: 4 4,color:#999,stroke:#999;\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Node, from_nodes};
    use crate::model::{DropReason, Dropped};

    fn sample() -> Graph {
        from_nodes(
            vec![
                Node {
                    name: "cilium".into(),
                    depends_on: vec![],
                    namespace: "kube-system".into(),
                    version: "1.17.2".into(),
                },
                Node {
                    name: "cert-manager".into(),
                    depends_on: vec!["cilium".into()],
                    namespace: "cert-manager".into(),
                    version: "1.16.2".into(),
                },
            ],
            vec![Dropped {
                release: "cert-manager".into(),
                dependency: "metrics-server".into(),
                reason: DropReason::OptionalNotEnabled,
            }],
        )
        .unwrap()
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&write(&sample(), Format::Json)).unwrap();
        assert_eq!(v["order"], serde_json::json!(["cilium", "cert-manager"]));
        assert_eq!(
            v["levels"],
            serde_json::json!([["cilium"], ["cert-manager"]])
        );
        assert_eq!(v["releases"][1]["dependsOn"], serde_json::json!(["cilium"]));
        assert_eq!(v["dropped"][0]["dependency"], "metrics-server");
        assert_eq!(v["dropped"][0]["reason"], "optional-not-enabled");
    }

    #[test]
    fn dot_and_mermaid_edges_point_to_dependents() {
        let g = sample();
        assert!(write(&g, Format::Dot).contains("\"cilium\" -> \"cert-manager\";"));
        let m = write(&g, Format::Mermaid);
        assert!(m.contains("r_cilium --> r_cert_manager"), "{m}");
        assert!(
            m.contains("r_metrics_server -.->|optional, not enabled| r_cert_manager"),
            "{m}"
        );
    }

    #[test]
    fn text_lists_levels_and_drops() {
        let t = write(&sample(), Format::Text);
        assert!(t.contains("level 1\n  cert-manager  after cilium"), "{t}");
        assert!(
            t.contains("cert-manager -> metrics-server (optional, not enabled)"),
            "{t}"
        );
    }
}
