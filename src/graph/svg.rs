//! A self-contained SVG of the DAG, no Graphviz needed: one column per
//! level, edges from dependency to dependent (as in the DOT and Mermaid
//! forms), routed around the boxes by the layered [`layout`](super::layout)
//! so that a line never suggests a dependency that does not exist.
//!
//! A dependency dropped because its release is off gets a dashed box one
//! column before the first release that wanted it, and a dashed edge.
//!
//! # Guarantees
//! The same graph gives the same bytes. Every name is XML-escaped; box sizes
//! follow the length of their text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::Graph;
use super::layout::{self, Layout, Point, Rect};
use crate::model::DropReason;

const MARGIN: f64 = 24.0;
/// Room above the columns for their "level N" labels.
const HEADER: f64 = 26.0;
const NAME_SIZE: f64 = 13.0;
const DETAIL_SIZE: f64 = 11.0;
const NAME_LINE: f64 = 16.0;
const DETAIL_LINE: f64 = 14.0;
const PAD_X: f64 = 12.0;
const PAD_Y: f64 = 7.0;
const MIN_BOX_WIDTH: f64 = 90.0;
/// Distance from the drawing to the legend, and between legend rows.
const LEGEND_GAP: f64 = 28.0;
const LEGEND_ROW: f64 = 22.0;
/// Length of the sample lines in the legend.
const SAMPLE: f64 = 56.0;

const BLUE: &str = "#4a6fa5";
const GREY: &str = "#999999";
const DASH: &str = r#" stroke-dasharray="5 4""#;

/// What one box says.
struct Label {
    name: String,
    /// Lines under the name: package version and namespace, or why a
    /// dropped dependency is off.
    details: Vec<String>,
    /// Tooltip.
    title: String,
    dropped: bool,
}

/// One edge, from dependency to dependent.
struct Edge {
    from: usize,
    to: usize,
    dropped: bool,
}

/// The boxes and edges to draw, and the columns' labels.
struct Scene {
    labels: Vec<Label>,
    nodes: Vec<layout::Node>,
    edges: Vec<Edge>,
    columns: Vec<String>,
}

/// Draws the graph as an SVG document.
pub fn svg(graph: &Graph) -> String {
    let scene = scene(graph);
    let pairs: Vec<(usize, usize)> = scene.edges.iter().map(|e| (e.from, e.to)).collect();
    let drawn = layout::layout(&scene.nodes, &pairs);
    write(&scene, &drawn, graph)
}

/// Estimated width of a line of text. Helvetica's letters average a little
/// over half the font size; a slight overestimate keeps text inside boxes.
fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    let per_char = if bold { 0.62 } else { 0.56 };
    s.chars().count() as f64 * size * per_char
}

fn box_size(label: &Label) -> (f64, f64) {
    let width = label
        .details
        .iter()
        .map(|d| text_width(d, DETAIL_SIZE, false))
        .fold(text_width(&label.name, NAME_SIZE, true), f64::max)
        + 2.0 * PAD_X;
    let height = 2.0 * PAD_Y + NAME_LINE + DETAIL_LINE * label.details.len() as f64;
    (width.max(MIN_BOX_WIDTH).ceil(), height)
}

fn scene(graph: &Graph) -> Scene {
    let level: HashMap<&str, usize> = graph
        .levels
        .iter()
        .enumerate()
        .flat_map(|(l, names)| names.iter().map(move |n| (n.as_str(), l)))
        .collect();
    let by_name: HashMap<&str, &super::Node> = graph
        .releases
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();

    // A dropped dependency sits just before the earliest release that
    // wanted it; if that is level 0, every level moves right by one.
    let mut off: BTreeMap<&str, (usize, DropReason)> = BTreeMap::new();
    for d in &graph.dropped {
        // A name that is also a release already has its box.
        if level.contains_key(d.dependency.as_str()) {
            continue;
        }
        let Some(&l) = level.get(d.release.as_str()) else {
            continue;
        };
        let entry = off.entry(d.dependency.as_str()).or_insert((l, d.reason));
        entry.0 = entry.0.min(l);
    }
    let shift = usize::from(off.values().any(|&(l, _)| l == 0));

    let mut scene = Scene {
        labels: Vec::new(),
        nodes: Vec::new(),
        edges: Vec::new(),
        columns: Vec::new(),
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (l, names) in graph.levels.iter().enumerate() {
        for name in names {
            let node = by_name.get(name.as_str());
            let version = node.map(|n| n.version.as_str()).unwrap_or_default();
            let namespace = node.map(|n| n.namespace.as_str()).unwrap_or_default();
            let details: Vec<String> = [version, namespace]
                .into_iter()
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect();
            let mut title = name.clone();
            if !version.is_empty() {
                title.push_str(&format!(" {version}"));
            }
            if !namespace.is_empty() {
                title.push_str(&format!(" in {namespace}"));
            }
            if let Some(n) = node.filter(|n| !n.depends_on.is_empty()) {
                title.push_str(&format!(", after {}", n.depends_on.join(", ")));
            }
            index.insert(name, scene.labels.len());
            scene.push(
                l + shift,
                Label {
                    name: name.clone(),
                    details,
                    title,
                    dropped: false,
                },
            );
        }
    }
    for (&name, &(l, reason)) in &off {
        index.insert(name, scene.labels.len());
        scene.push(
            l + shift - 1,
            Label {
                name: name.to_owned(),
                details: vec!["not installed".to_owned(), reason.to_string()],
                title: format!("{name}: not installed ({reason})"),
                dropped: true,
            },
        );
    }

    let mut seen = std::collections::BTreeSet::new();
    for node in &graph.releases {
        for dep in &node.depends_on {
            if let (Some(&from), Some(&to)) =
                (index.get(dep.as_str()), index.get(node.name.as_str()))
                && seen.insert((from, to))
            {
                scene.edges.push(Edge {
                    from,
                    to,
                    dropped: false,
                });
            }
        }
    }
    for d in &graph.dropped {
        if let (Some(&from), Some(&to)) = (
            index.get(d.dependency.as_str()),
            index.get(d.release.as_str()),
        ) && seen.insert((from, to))
        {
            scene.edges.push(Edge {
                from,
                to,
                dropped: true,
            });
        }
    }

    let columns = scene.nodes.iter().map(|n| n.rank + 1).max().unwrap_or(0);
    scene.columns = (0..columns)
        .map(|c| {
            if c < shift {
                "dropped".to_owned()
            } else {
                format!("level {}", c - shift)
            }
        })
        .collect();
    scene
}

impl Scene {
    fn push(&mut self, rank: usize, label: Label) {
        let (width, height) = box_size(&label);
        self.nodes.push(layout::Node {
            rank,
            width,
            height,
        });
        self.labels.push(label);
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate, to a tenth of a pixel.
fn num(v: f64) -> String {
    let v = (v * 10.0).round() / 10.0;
    // Never "-0.0": the same drawing must give the same bytes.
    format!("{:.1}", if v == 0.0 { 0.0 } else { v })
}

/// SVG path data for a route: straight runs where the height stays, and
/// a curve across each gap whose control points keep it inside the
/// rectangle between the two ends (so it stays in the gap) and leave and
/// arrive horizontally.
fn path_data(route: &[Point], dx: f64, dy: f64) -> String {
    let mut d = String::new();
    for (i, p) in route.iter().enumerate() {
        let (x, y) = (p.x + dx, p.y + dy);
        if i == 0 {
            let _ = write!(d, "M {} {}", num(x), num(y));
            continue;
        }
        let prev = route[i - 1];
        if (prev.y - p.y).abs() < 1e-9 {
            let _ = write!(d, " L {} {}", num(x), num(y));
        } else {
            let mid = (prev.x + p.x) / 2.0 + dx;
            let _ = write!(
                d,
                " C {} {} {} {} {} {}",
                num(mid),
                num(prev.y + dy),
                num(mid),
                num(y),
                num(x),
                num(y)
            );
        }
    }
    d
}

fn draw_box(out: &mut String, r: Rect, label: &Label, class: &str, data: &str) {
    let (fill, stroke, text, dash) = if label.dropped {
        ("#ffffff", GREY, GREY, DASH)
    } else {
        ("#e8f0fe", BLUE, "#1a2b45", "")
    };
    let cx = num(r.x + r.width / 2.0);
    let _ = write!(
        out,
        r#"<g class="{class}"><title>{}</title><rect class="{class}"{data} x="{}" y="{}" width="{}" height="{}" rx="7" fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>"#,
        escape(&label.title),
        num(r.x),
        num(r.y),
        num(r.width),
        num(r.height),
    );
    let mut baseline = r.y + PAD_Y + NAME_SIZE * 0.8;
    let _ = write!(
        out,
        r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="{NAME_SIZE}" font-weight="bold" fill="{text}">{}</text>"#,
        num(baseline),
        escape(&label.name)
    );
    baseline += NAME_LINE - NAME_SIZE * 0.8 + DETAIL_SIZE * 0.8;
    for detail in &label.details {
        let _ = write!(
            out,
            r#"<text x="{cx}" y="{}" text-anchor="middle" font-size="{DETAIL_SIZE}" fill="{}">{}</text>"#,
            num(baseline),
            if label.dropped { GREY } else { "#45566f" },
            escape(detail)
        );
        baseline += DETAIL_LINE;
    }
    out.push_str("</g>\n");
}

/// Legend rows: a sample drawn at the left, its meaning at the right.
const LEGEND: [&str; 3] = [
    "a release: its name, package version and namespace",
    "dependency \u{2192} dependent: the release at the arrow head is applied after the one at its tail (\"after\" in distro graph)",
    "dropped dependency: the release at the tail is off (disabled, or optional and not enabled), so nothing waits for it",
];

fn legend_sample_box() -> Label {
    Label {
        name: "release".to_owned(),
        details: vec!["package version".to_owned(), "namespace".to_owned()],
        title: "a release".to_owned(),
        dropped: false,
    }
}

/// The legend's size: the sample box, then one row per line.
fn legend_size() -> (f64, f64) {
    let (bw, bh) = box_size(&legend_sample_box());
    let text = LEGEND
        .iter()
        .map(|t| text_width(t, 12.0, false))
        .fold(0.0, f64::max);
    let width = bw.max(SAMPLE) + 14.0 + text;
    let height = NAME_LINE + 6.0 + bh + 2.0 * LEGEND_ROW + 6.0;
    (width, height)
}

fn legend(out: &mut String, x: f64, y: f64) {
    let sample = legend_sample_box();
    let (bw, bh) = box_size(&sample);
    let text_x = num(x + bw.max(SAMPLE) + 14.0);
    out.push_str(r#"<g class="legend">"#);
    let _ = write!(
        out,
        r##"<text x="{}" y="{}" font-weight="bold" fill="#333333">Legend</text>"##,
        num(x),
        num(y + 12.0)
    );
    let top = y + NAME_LINE + 6.0;
    let r = Rect {
        x,
        y: top,
        width: bw,
        height: bh,
    };
    draw_box(out, r, &sample, "legend", "");
    let _ = write!(
        out,
        r##"<text x="{text_x}" y="{}" fill="#333333">{}</text>"##,
        num(top + bh / 2.0 + 4.0),
        escape(LEGEND[0])
    );
    for (row, (color, dash, marker)) in [(BLUE, "", "arrow"), (GREY, DASH, "arrow-dropped")]
        .into_iter()
        .enumerate()
    {
        let ly = top + bh + 6.0 + LEGEND_ROW * (row as f64 + 0.5);
        let _ = write!(
            out,
            r#"<path class="legend" d="M {} {ly} L {} {ly}" fill="none" stroke="{color}" stroke-width="1.4"{dash} marker-end="url(#{marker})"/>"#,
            num(x),
            num(x + SAMPLE),
            ly = num(ly)
        );
        let _ = write!(
            out,
            r##"<text x="{text_x}" y="{}" fill="#333333">{}</text>"##,
            num(ly + 4.0),
            escape(LEGEND[row + 1])
        );
    }
    out.push_str("</g>\n");
}

fn write(scene: &Scene, drawn: &Layout, graph: &Graph) -> String {
    let (lw, lh) = legend_size();
    let width = (2.0 * MARGIN + drawn.width.max(lw)).ceil();
    let legend_y = MARGIN + HEADER + drawn.height + LEGEND_GAP;
    let height = (legend_y + lh + MARGIN).ceil();
    let (dx, dy) = (MARGIN, MARGIN + HEADER);
    let dependencies = scene.edges.iter().filter(|e| !e.dropped).count();

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<title>release graph: {} releases, {dependencies} dependencies</title>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="{BLUE}"/></marker>
<marker id="arrow-dropped" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="{GREY}"/></marker></defs>
<rect width="100%" height="100%" fill="#ffffff"/>"##,
        graph.releases.len(),
        w = num(width),
        h = num(height),
    );

    out.push_str(r#"<g class="levels">"#);
    for (label, column) in scene.columns.iter().zip(&drawn.columns) {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#666666">{}</text>"##,
            num(dx + column.x + column.width / 2.0),
            num(MARGIN + 12.0),
            escape(label)
        );
    }
    out.push_str("</g>\n<g class=\"edges\">\n");
    for (edge, route) in scene.edges.iter().zip(&drawn.routes) {
        if route.is_empty() {
            continue;
        }
        let (from, to) = (&scene.labels[edge.from].name, &scene.labels[edge.to].name);
        let (class, color, dash, marker, title) = if edge.dropped {
            (
                "edge dropped",
                GREY,
                DASH,
                "arrow-dropped",
                format!("{to}: dropped dependency on {from}"),
            )
        } else {
            ("edge", BLUE, "", "arrow", format!("{to} after {from}"))
        };
        let _ = writeln!(
            out,
            r#"<path class="{class}" data-from="{}" data-to="{}" d="{}" fill="none" stroke="{color}" stroke-width="1.4"{dash} marker-end="url(#{marker})"><title>{}</title></path>"#,
            escape(from),
            escape(to),
            path_data(route, dx, dy),
            escape(&title)
        );
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for (label, r) in scene.labels.iter().zip(&drawn.boxes) {
        let r = Rect {
            x: r.x + dx,
            y: r.y + dy,
            ..*r
        };
        let class = if label.dropped {
            "node dropped"
        } else {
            "node"
        };
        let data = format!(r#" data-name="{}""#, escape(&label.name));
        draw_box(&mut out, r, label, class, &data);
    }
    out.push_str("</g>\n");
    legend(&mut out, MARGIN, legend_y);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use crate::graph::{Node, from_nodes};
    use crate::model::{DropReason, Dropped};

    fn node(name: &str, deps: &[&str]) -> Node {
        Node {
            name: name.into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            namespace: format!("ns-{name}"),
            version: "1.2.3".into(),
        }
    }

    #[test]
    fn every_release_and_edge_is_drawn_escaped() {
        let g = from_nodes(vec![node("a", &[]), node("b<&>\"'", &["a"])], vec![]).unwrap();
        let s = super::svg(&g);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches(r#"<rect class="node" "#).count(), 2);
        assert_eq!(s.matches(r#"<path class="edge" "#).count(), 1);
        assert!(
            s.contains(r#"data-from="a" data-to="b&lt;&amp;&gt;&quot;&apos;""#),
            "{s}"
        );
        assert!(!s.contains("b<&>"));
    }

    #[test]
    fn boxes_show_version_and_namespace_and_grow_with_their_text() {
        let long = "a-release-with-a-very-long-name-indeed";
        let g = from_nodes(vec![node("x", &[]), node(long, &["x"])], vec![]).unwrap();
        let s = super::svg(&g);
        assert!(
            s.contains(">1.2.3</text>") && s.contains(">ns-x</text>"),
            "{s}"
        );
        let width = |name: &str| -> f64 {
            let at = s.find(&format!(r#"data-name="{name}""#)).unwrap();
            let rest = &s[at..];
            let w = rest.find("width=\"").unwrap() + 7;
            rest[w..w + rest[w..].find('"').unwrap()].parse().unwrap()
        };
        assert!(width(long) > width("x") * 2.0);
    }

    #[test]
    fn dropped_dependencies_are_dashed_and_explained() {
        let g = from_nodes(
            vec![node("base", &[]), node("app", &["base"])],
            vec![Dropped {
                release: "base".into(),
                dependency: "addon".into(),
                reason: DropReason::OptionalNotEnabled,
            }],
        )
        .unwrap();
        let s = super::svg(&g);
        assert_eq!(
            s.matches(r#"<path class="edge dropped" data-from="addon" data-to="base""#)
                .count(),
            1
        );
        assert!(
            s.contains(r#"<rect class="node dropped" data-name="addon""#),
            "{s}"
        );
        assert!(s.contains("optional, not enabled"));
        // "base" is level 0, so the dropped box takes a column before it.
        assert!(
            s.contains(">dropped</text>") && s.contains(">level 1</text>"),
            "{s}"
        );
        assert!(s.contains(r#"<g class="legend">"#) && s.contains("dropped dependency:"));
    }

    #[test]
    fn same_graph_same_bytes() {
        let nodes = vec![
            node("d", &["b", "c"]),
            node("b", &["a"]),
            node("c", &["a"]),
            node("a", &[]),
            node("e", &["a", "d"]),
        ];
        let g = from_nodes(nodes, vec![]).unwrap();
        assert_eq!(super::svg(&g), super::svg(&g.clone()));
    }

    #[test]
    fn empty_graph_is_a_legend_only() {
        let s = super::svg(&from_nodes(vec![], vec![]).unwrap());
        assert!(s.contains("Legend") && !s.contains(r#"class="node""#));
    }
}
