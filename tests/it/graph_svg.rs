//! `distro graph -o svg`: the picture, read back from its bytes. Tags
//! balance, every release has one box and every dependency one path, and
//! no path runs through a box.

use distro::graph::{self, Format, Graph, Node};
use distro::pipeline::{self, Options};
use distro::source::Snapshot;

use super::support::project_root;

/// A box of the picture, by its `data-name`.
#[derive(Debug, Clone)]
struct Box {
    name: String,
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Box {
    /// Strictly inside, half a pixel in from the border: an edge may end
    /// on a side, never cross into the box.
    fn contains(&self, (x, y): (f64, f64)) -> bool {
        x > self.x + 0.5
            && x < self.x + self.width - 0.5
            && y > self.y + 0.5
            && y < self.y + self.height - 0.5
    }
}

/// An edge of the picture: its ends and the points along its path.
#[derive(Debug, Clone)]
struct Path {
    from: String,
    to: String,
    dropped: bool,
    points: Vec<(f64, f64)>,
}

/// Every tag's text between `<` and `>`, in order.
fn tags(svg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("every < is closed") + open;
        out.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in <{tag}>"))
}

/// Checks that tags nest, attribute quotes pair up and every `&` starts an
/// entity: enough of XML to know a viewer will read the file.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    for tag in tags(svg) {
        assert_eq!(tag.matches('"').count() % 2, 0, "unpaired quote in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name),
                "</{name}> closes nothing open"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or_default();
            stack.push(name.to_owned());
        }
    }
    assert!(stack.is_empty(), "left open: {stack:?}");
    for (i, _) in svg.match_indices('&') {
        let entity = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
        assert!(
            entity.iter().any(|e| svg[i..].starts_with(e)),
            "bare & at byte {i}"
        );
    }
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
}

fn boxes(svg: &str) -> Vec<Box> {
    tags(svg)
        .into_iter()
        .filter(|t| t.starts_with("rect class=\"node"))
        .map(|t| Box {
            name: attr(t, "data-name").expect("a box names its release"),
            x: num(t, "x"),
            y: num(t, "y"),
            width: num(t, "width"),
            height: num(t, "height"),
        })
        .collect()
}

/// Points along path data made of `M`, `L` and cubic `C` commands, 40
/// per segment.
fn sample(d: &str) -> Vec<(f64, f64)> {
    let tokens: Vec<&str> = d.split_whitespace().collect();
    let n = |i: usize| -> f64 {
        tokens[i]
            .parse()
            .unwrap_or_else(|_| panic!("number in {d}"))
    };
    let mut points = Vec::new();
    let mut at = (0.0, 0.0);
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i] {
            "M" => {
                at = (n(i + 1), n(i + 2));
                points.push(at);
                i += 3;
            }
            "L" => {
                let to = (n(i + 1), n(i + 2));
                for k in 1..=40 {
                    let t = f64::from(k) / 40.0;
                    points.push((at.0 + (to.0 - at.0) * t, at.1 + (to.1 - at.1) * t));
                }
                at = to;
                i += 3;
            }
            "C" => {
                let (c1, c2, to) = (
                    (n(i + 1), n(i + 2)),
                    (n(i + 3), n(i + 4)),
                    (n(i + 5), n(i + 6)),
                );
                for k in 1..=40 {
                    let t = f64::from(k) / 40.0;
                    let u = 1.0 - t;
                    let b = |p0: f64, p1: f64, p2: f64, p3: f64| {
                        u * u * u * p0
                            + 3.0 * u * u * t * p1
                            + 3.0 * u * t * t * p2
                            + t * t * t * p3
                    };
                    points.push((b(at.0, c1.0, c2.0, to.0), b(at.1, c1.1, c2.1, to.1)));
                }
                at = to;
                i += 7;
            }
            other => panic!("unexpected path command {other} in {d}"),
        }
    }
    points
}

fn paths(svg: &str) -> Vec<Path> {
    tags(svg)
        .into_iter()
        .filter(|t| t.starts_with("path class=\"edge"))
        .map(|t| Path {
            from: attr(t, "data-from").expect("data-from"),
            to: attr(t, "data-to").expect("data-to"),
            dropped: t.starts_with("path class=\"edge dropped\""),
            points: sample(&attr(t, "d").expect("path data")),
        })
        .collect()
}

/// No path has a point inside any box, its own two included: paths end on
/// their boxes' sides.
fn assert_no_path_through_a_box(svg: &str) {
    let boxes = boxes(svg);
    for p in paths(svg) {
        for b in &boxes {
            if let Some(pt) = p.points.iter().find(|&&pt| b.contains(pt)) {
                panic!(
                    "edge {} -> {} goes through box {} at {pt:?}",
                    p.from, p.to, b.name
                );
            }
        }
    }
}

fn default_graph() -> Graph {
    let snapshot = Snapshot::from_dir(&project_root().join("platform.yaml"))
        .expect("the default distribution reads");
    match pipeline::load(snapshot, &Options::default()) {
        Ok(loaded) => loaded.graph,
        Err(e) => panic!("the default distribution loads: {}", e.summary(4000)),
    }
}

#[test]
fn default_distribution_svg_has_a_box_per_release_and_a_path_per_edge() {
    let graph = default_graph();
    let svg = graph::write(&graph, Format::Svg);
    assert_well_formed(&svg);
    assert_eq!(
        svg,
        graph::write(&default_graph(), Format::Svg),
        "same input, same bytes"
    );

    let mut drawn: Vec<String> = boxes(&svg).into_iter().map(|b| b.name).collect();
    let dropped: std::collections::BTreeSet<&str> = graph
        .dropped
        .iter()
        .map(|d| d.dependency.as_str())
        .collect();
    drawn.retain(|n| !dropped.contains(n.as_str()));
    drawn.sort();
    let mut releases: Vec<String> = graph.releases.iter().map(|n| n.name.clone()).collect();
    releases.sort();
    assert!(releases.len() >= 9, "{releases:?}");
    assert_eq!(drawn, releases);

    let mut edges: Vec<(String, String)> = paths(&svg)
        .into_iter()
        .filter(|p| !p.dropped)
        .map(|p| (p.from, p.to))
        .collect();
    edges.sort();
    let mut expected: Vec<(String, String)> = graph
        .releases
        .iter()
        .flat_map(|n| n.depends_on.iter().map(|d| (d.clone(), n.name.clone())))
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(edges, expected);

    // Every box says which package version and namespace it is.
    for node in &graph.releases {
        assert!(
            svg.contains(&format!(">{}</text>", node.version)),
            "{}",
            node.name
        );
        assert!(
            svg.contains(&format!(">{}</text>", node.namespace)),
            "{}",
            node.name
        );
    }
    assert_no_path_through_a_box(&svg);
}

/// The old drawing put `a`, `b` and `c` in one row and joined `a` to `c`
/// with a line straight through `b`, as if `b` were on that dependency.
#[test]
fn regression_svg_edges_do_not_cross_unrelated_boxes() {
    let node = |name: &str, deps: &[&str]| Node {
        name: name.into(),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        namespace: "default".into(),
        version: "1.0.0".into(),
    };
    let graph = graph::from_nodes(
        vec![node("a", &[]), node("b", &["a"]), node("c", &["a", "b"])],
        vec![],
    )
    .expect("acyclic");
    let svg = graph::write(&graph, Format::Svg);
    assert_well_formed(&svg);
    let boxes = boxes(&svg);
    let by_name = |n: &str| boxes.iter().find(|b| b.name == n).cloned().expect(n);
    let (a, b, c) = (by_name("a"), by_name("b"), by_name("c"));
    let long = paths(&svg)
        .into_iter()
        .find(|p| p.from == "a" && p.to == "c")
        .expect("a -> c is drawn");

    // The straight line between a and c would still cut through b here:
    // the route, not luck, keeps it out.
    let (start, end) = (
        (a.x + a.width, a.y + a.height / 2.0),
        (c.x, c.y + c.height / 2.0),
    );
    let straight_hits_b = (0..=100).any(|k| {
        let t = f64::from(k) / 100.0;
        b.contains((
            start.0 + (end.0 - start.0) * t,
            start.1 + (end.1 - start.1) * t,
        ))
    });
    assert!(
        straight_hits_b,
        "the graph no longer reproduces the old bug: {svg}"
    );

    assert!(
        long.points.iter().all(|&p| !b.contains(p)),
        "a -> c goes through b: {svg}"
    );
    assert_no_path_through_a_box(&svg);
    assert_eq!(paths(&svg).len(), 3);
}
