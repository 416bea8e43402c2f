//! A self-contained SVG of the DAG, no Graphviz needed: one column per
//! level, boxes in bundle order, curved edges from dependency to dependent.

use std::collections::HashMap;
use std::fmt::Write;

use super::Graph;

const BOX_H: f64 = 34.0;
const ROW_GAP: f64 = 18.0;
const COL_GAP: f64 = 90.0;
const MARGIN: f64 = 24.0;
const CHAR_W: f64 = 7.4;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws the graph as an SVG document.
pub fn svg(graph: &Graph) -> String {
    // Dropped dependencies get their own column on the left, drawn dashed.
    let mut dropped: Vec<&str> = graph
        .dropped
        .iter()
        .map(|d| d.dependency.as_str())
        .collect();
    dropped.sort();
    dropped.dedup();
    let mut columns: Vec<Vec<&str>> = Vec::new();
    if !dropped.is_empty() {
        columns.push(dropped.clone());
    }
    columns.extend(
        graph
            .levels
            .iter()
            .map(|l| l.iter().map(String::as_str).collect()),
    );

    let col_w: Vec<f64> = columns
        .iter()
        .map(|c| {
            c.iter()
                .map(|n| n.len() as f64 * CHAR_W + 28.0)
                .fold(110.0, f64::max)
        })
        .collect();
    let mut pos: HashMap<&str, (f64, f64, f64)> = HashMap::new();
    let mut x = MARGIN;
    let mut height: f64 = 0.0;
    for (c, column) in columns.iter().enumerate() {
        for (r, name) in column.iter().enumerate() {
            let y = MARGIN + 20.0 + r as f64 * (BOX_H + ROW_GAP);
            pos.entry(name).or_insert((x, y, col_w[c]));
            height = height.max(y + BOX_H);
        }
        x += col_w[c] + COL_GAP;
    }
    let width = x - COL_GAP + MARGIN;
    let height = height + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#4a6fa5"/></marker>
<marker id="arrow-dropped" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#999999"/></marker></defs>
<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let first_level_col = usize::from(!dropped.is_empty());
    let mut lx = MARGIN;
    for (c, w) in col_w.iter().enumerate() {
        let label = if c < first_level_col {
            "dropped".to_string()
        } else {
            format!("level {}", c - first_level_col)
        };
        let _ = writeln!(
            out,
            r##"<text x="{lx:.1}" y="{:.1}" fill="#666666">{label}</text>"##,
            MARGIN + 8.0
        );
        lx += w + COL_GAP;
    }

    let edge = |out: &mut String, from: &str, to: &str, dashed: bool| {
        let (Some(&(fx, fy, fw)), Some(&(tx, ty, _))) = (pos.get(from), pos.get(to)) else {
            return;
        };
        let (x1, y1) = (fx + fw, fy + BOX_H / 2.0);
        let (x2, y2) = (tx, ty + BOX_H / 2.0);
        let bend = (x2 - x1).abs().max(40.0) / 2.0;
        let (color, extra, marker) = if dashed {
            ("#999999", r#" stroke-dasharray="5 4""#, "arrow-dropped")
        } else {
            ("#4a6fa5", "", "arrow")
        };
        let _ = writeln!(
            out,
            r#"<path d="M {x1:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}" fill="none" stroke="{color}" stroke-width="1.4"{extra} marker-end="url(#{marker})"/>"#,
            x1 + bend,
            x2 - bend
        );
    };
    for node in &graph.releases {
        for dep in &node.depends_on {
            edge(&mut out, dep, &node.name, false);
        }
    }
    for d in &graph.dropped {
        edge(&mut out, &d.dependency, &d.release, true);
    }

    let mut names: Vec<(&str, bool)> = graph.order.iter().map(|n| (n.as_str(), false)).collect();
    names.extend(dropped.iter().map(|n| (*n, true)));
    for (name, is_dropped) in names {
        let Some(&(x, y, w)) = pos.get(name) else {
            continue;
        };
        let (fill, stroke, text, dash) = if is_dropped {
            (
                "#ffffff",
                "#999999",
                "#999999",
                r#" stroke-dasharray="5 4""#,
            )
        } else {
            ("#e8f0fe", "#4a6fa5", "#1a2b45", "")
        };
        let _ = writeln!(
            out,
            r#"<g><title>{}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{BOX_H}" rx="7" fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{text}">{}</text></g>"#,
            escape(name),
            x + w / 2.0,
            y + BOX_H / 2.0 + 4.0,
            escape(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use crate::graph::{Node, from_nodes};

    #[test]
    fn every_release_and_edge_is_drawn() {
        let g = from_nodes(
            vec![
                Node {
                    name: "a".into(),
                    depends_on: vec![],
                },
                Node {
                    name: "b<&>".into(),
                    depends_on: vec!["a".into()],
                },
            ],
            vec![],
        )
        .unwrap();
        let s = super::svg(&g);
        assert!(s.starts_with("<svg"));
        assert_eq!(s.matches("<rect x=").count(), 2);
        assert_eq!(s.matches("marker-end=").count(), 1);
        assert!(s.contains("b&lt;&amp;&gt;"));
    }
}
