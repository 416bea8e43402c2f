//! A layered drawing of a DAG (Sugiyama's method), independent of any output
//! format. Layers are columns, left to right; every edge goes from a lower
//! layer to a higher one.
//!
//! 1. An edge that spans several layers gets a dummy item in each layer it
//!    crosses, so every edge joins neighbouring layers.
//! 2. The order inside each layer is chosen to reduce crossings
//!    ([`order`]).
//! 3. Items get their place along the layer: apart, and as close as possible
//!    to their neighbours so that edges run straight ([`place`]).
//! 4. Each edge is routed through its dummies: a horizontal run inside a
//!    column (a box's own row, or the dummy's own slot) and a curve across
//!    each gap between columns, which holds no box.
//!
//! # Guarantees
//! Boxes never overlap, and no part of an edge enters any box: between
//! columns it stays in the gap, inside a column in a slot of its own.

mod order;
mod place;

/// Width of the gap between two columns, where edges bend.
const COLUMN_GAP: f64 = 84.0;
/// Least distance between two boxes of a column, or a box and an edge.
const BOX_GAP: f64 = 18.0;
/// Least distance between two edges passing through a column.
const EDGE_GAP: f64 = 10.0;
/// Distance between the ends of several edges on one side of a box.
const PORT_GAP: f64 = 8.0;
/// Room kept free of edge ends at a box's top and bottom.
const PORT_MARGIN: f64 = 8.0;

/// One box to place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Its layer (column), from 0.
    pub rank: usize,
    pub width: f64,
    pub height: f64,
}

/// A point of the drawing; y grows downward, as in SVG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// An axis-aligned rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.width
    }

    #[cfg(test)]
    pub fn bottom(&self) -> f64 {
        self.y + self.height
    }
}

/// Where one column sits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    pub x: f64,
    pub width: f64,
}

/// The drawing, with its top left corner at (0, 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// One per node, in the order given.
    pub boxes: Vec<Rect>,
    /// One per edge, in the order given: from the right side of the source
    /// box to the left side of the target box. Consecutive points at the
    /// same height are joined by a straight run; others are a step across
    /// a gap between columns, to be drawn as any curve that stays within
    /// the rectangle the two points span. Empty for an edge that does not
    /// go from a lower layer to a higher one.
    pub routes: Vec<Vec<Point>>,
    pub columns: Vec<Column>,
    pub width: f64,
    pub height: f64,
}

/// The layered graph: the nodes given, then one dummy per layer crossed.
struct Layered {
    rank: Vec<usize>,
    /// Width and height; dummies are points.
    size: Vec<(f64, f64)>,
    up: Vec<Vec<usize>>,
    down: Vec<Vec<usize>>,
    /// Per edge, the items it passes through, source and target included.
    chains: Vec<Option<Vec<usize>>>,
}

impl Layered {
    fn new(nodes: &[Node], edges: &[(usize, usize)]) -> Self {
        let mut g = Layered {
            rank: nodes.iter().map(|n| n.rank).collect(),
            size: nodes.iter().map(|n| (n.width, n.height)).collect(),
            up: vec![Vec::new(); nodes.len()],
            down: vec![Vec::new(); nodes.len()],
            chains: Vec::with_capacity(edges.len()),
        };
        for &(from, to) in edges {
            let forward = from < nodes.len() && to < nodes.len() && g.rank[from] < g.rank[to];
            if !forward {
                g.chains.push(None);
                continue;
            }
            let mut chain = vec![from];
            for r in g.rank[from] + 1..g.rank[to] {
                let dummy = g.rank.len();
                g.rank.push(r);
                g.size.push((0.0, 0.0));
                g.up.push(Vec::new());
                g.down.push(Vec::new());
                chain.push(dummy);
            }
            chain.push(to);
            for pair in chain.windows(2) {
                g.down[pair[0]].push(pair[1]);
                g.up[pair[1]].push(pair[0]);
            }
            g.chains.push(Some(chain));
        }
        g
    }
}

/// Lays out `nodes` with `edges` (source, target): each edge should go from
/// a lower rank to a higher one.
pub fn layout(nodes: &[Node], edges: &[(usize, usize)]) -> Layout {
    let g = Layered::new(nodes, edges);
    let count = g.rank.len();
    // Dummies come after the nodes given.
    let dummy: Vec<bool> = (0..count).map(|v| v >= nodes.len()).collect();

    // Nodes start in the order given, dummies after them in edge order.
    let layer_count = g.rank.iter().max().map_or(0, |r| r + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for v in 0..count {
        layers[g.rank[v]].push(v);
    }
    let layers = order::order(layers, &g.up, &g.down);

    let gap = |a: usize, b: usize| {
        let space = if dummy[a] && dummy[b] {
            EDGE_GAP
        } else {
            BOX_GAP
        };
        (g.size[a].1 + g.size[b].1) / 2.0 + space
    };
    let sep: Vec<Vec<f64>> = layers
        .iter()
        .map(|l| l.windows(2).map(|p| gap(p[0], p[1])).collect())
        .collect();
    let mut centre = place::place(
        &layers,
        &place::Items {
            up: &g.up,
            down: &g.down,
            dummy: &dummy,
            sep: &sep,
        },
    );
    let top = (0..count)
        .map(|v| centre[v] - g.size[v].1 / 2.0)
        .fold(f64::INFINITY, f64::min);
    let top = if top.is_finite() { top } else { 0.0 };
    for y in &mut centre {
        *y -= top;
    }
    let height = (0..count)
        .map(|v| centre[v] + g.size[v].1 / 2.0)
        .fold(0.0, f64::max);

    let mut columns = Vec::with_capacity(layer_count);
    let mut x = 0.0;
    for layer in &layers {
        let width = layer.iter().map(|&v| g.size[v].0).fold(0.0, f64::max);
        columns.push(Column { x, width });
        x += width + COLUMN_GAP;
    }
    let width = (x - COLUMN_GAP).max(0.0);

    let boxes: Vec<Rect> = nodes
        .iter()
        .enumerate()
        .map(|(v, n)| {
            let column = columns[n.rank];
            Rect {
                x: column.x + (column.width - n.width) / 2.0,
                y: centre[v] - n.height / 2.0,
                width: n.width,
                height: n.height,
            }
        })
        .collect();

    let (out_port, in_port) = ports(&g, &centre, nodes.len());
    let routes = g
        .chains
        .iter()
        .enumerate()
        .map(|(e, chain)| {
            chain.as_ref().map_or_else(Vec::new, |chain| {
                route(
                    chain,
                    &g.rank,
                    &centre,
                    &boxes,
                    &columns,
                    out_port[e],
                    in_port[e],
                )
            })
        })
        .collect();

    Layout {
        boxes,
        routes,
        columns,
        width,
        height,
    }
}

/// Where each edge leaves its source and enters its target: the ends on one
/// side of a box are spread along it in the order of the items they come
/// from or go to, so they do not cross at the box.
fn ports(g: &Layered, centre: &[f64], nodes: usize) -> (Vec<f64>, Vec<f64>) {
    let mut out_port = vec![0.0; g.chains.len()];
    let mut in_port = vec![0.0; g.chains.len()];
    let mut outgoing: Vec<Vec<(f64, usize)>> = vec![Vec::new(); nodes];
    let mut incoming: Vec<Vec<(f64, usize)>> = vec![Vec::new(); nodes];
    for (e, chain) in g.chains.iter().enumerate() {
        let Some(chain) = chain else { continue };
        let (first, last) = (chain[0], chain[chain.len() - 1]);
        outgoing[first].push((centre[chain[1]], e));
        incoming[last].push((centre[chain[chain.len() - 2]], e));
    }
    for v in 0..nodes {
        let height = g.size[v].1;
        for (ends, port) in [
            (&mut outgoing[v], &mut out_port),
            (&mut incoming[v], &mut in_port),
        ] {
            ends.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let k = ends.len();
            let room = (height - 2.0 * PORT_MARGIN).max(0.0);
            let step = if k > 1 {
                PORT_GAP.min(room / (k - 1) as f64)
            } else {
                0.0
            };
            for (i, &(_, e)) in ends.iter().enumerate() {
                port[e] = centre[v] + (i as f64 - (k - 1) as f64 / 2.0) * step;
            }
        }
    }
    (out_port, in_port)
}

/// The points of one edge, from the source box's right side to the target
/// box's left side.
fn route(
    chain: &[usize],
    rank: &[usize],
    centre: &[f64],
    boxes: &[Rect],
    columns: &[Column],
    out_y: f64,
    in_y: f64,
) -> Vec<Point> {
    let (from, to) = (chain[0], chain[chain.len() - 1]);
    let mut points = Vec::with_capacity(2 * chain.len());
    let mut push = |x: f64, y: f64| {
        if points.last() != Some(&Point { x, y }) {
            points.push(Point { x, y });
        }
    };
    let right = |v: usize| columns[rank[v]].x + columns[rank[v]].width;
    let left = |v: usize| columns[rank[v]].x;
    push(boxes[from].right(), out_y);
    push(right(from), out_y);
    for &d in &chain[1..chain.len() - 1] {
        push(left(d), centre[d]);
        push(right(d), centre[d]);
    }
    push(left(to), in_y);
    push(boxes[to].x, in_y);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A random DAG of `n` nodes: each node depends on a few earlier ones,
    /// ranked by longest path as the release graph is.
    fn random_dag(rng: &mut Rng, n: usize) -> (Vec<Node>, Vec<(usize, usize)>) {
        let mut edges = Vec::new();
        let mut rank = vec![0usize; n];
        for v in 1..n {
            let deps = rng.below(4);
            let mut chosen = Vec::new();
            for _ in 0..deps {
                let d = rng.below(v);
                if !chosen.contains(&d) {
                    chosen.push(d);
                }
            }
            for d in chosen {
                rank[v] = rank[v].max(rank[d] + 1);
                edges.push((d, v));
            }
        }
        let nodes = (0..n)
            .map(|v| Node {
                rank: rank[v],
                width: 60.0 + rng.below(160) as f64,
                height: if rng.below(3) == 0 { 34.0 } else { 52.0 },
            })
            .collect();
        (nodes, edges)
    }

    const EPS: f64 = 1e-6;

    fn overlap(a: &Rect, b: &Rect) -> bool {
        a.x < b.right() - EPS
            && b.x < a.right() - EPS
            && a.y < b.bottom() - EPS
            && b.y < a.bottom() - EPS
    }

    /// Whether the rectangle spanned by a segment's ends (which holds the
    /// straight run or any curve drawn for it) reaches inside `r`.
    fn enters(p: Point, q: Point, r: &Rect) -> bool {
        let span = Rect {
            x: p.x.min(q.x),
            y: p.y.min(q.y),
            width: (p.x - q.x).abs(),
            height: (p.y - q.y).abs(),
        };
        span.x < r.right() - EPS
            && r.x < span.right() - EPS
            && span.y < r.bottom() - EPS
            && r.y < span.bottom() - EPS
    }

    fn check(edges: &[(usize, usize)], l: &Layout) {
        for (i, a) in l.boxes.iter().enumerate() {
            for (j, b) in l.boxes.iter().enumerate().skip(i + 1) {
                assert!(!overlap(a, b), "boxes {i} and {j} overlap: {a:?} {b:?}");
            }
        }
        for (e, (&(from, to), route)) in edges.iter().zip(&l.routes).enumerate() {
            assert!(route.len() >= 2, "edge {e} has no route");
            let (start, end) = (route[0], route[route.len() - 1]);
            let (src, dst) = (l.boxes[from], l.boxes[to]);
            assert!(
                (start.x - src.right()).abs() < EPS,
                "edge {e} leaves its source's side"
            );
            assert!(
                start.y > src.y && start.y < src.bottom(),
                "edge {e} starts off its source"
            );
            assert!(
                (end.x - dst.x).abs() < EPS,
                "edge {e} enters its target's side"
            );
            assert!(
                end.y > dst.y && end.y < dst.bottom(),
                "edge {e} ends off its target"
            );
            for pair in route.windows(2) {
                let (p, q) = (pair[0], pair[1]);
                assert!(q.x >= p.x - EPS, "edge {e} goes backward");
                for (b, r) in l.boxes.iter().enumerate() {
                    // Edges stop at their boxes' sides: not even their own
                    // boxes are entered.
                    let own = if b == from || b == to {
                        " (its own)"
                    } else {
                        ""
                    };
                    assert!(
                        !enters(p, q, r),
                        "edge {from}->{to} enters box {b}{own}: {p:?} {q:?} {r:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn generated_dags_have_no_overlaps_and_no_edge_through_a_box() {
        let mut rng = Rng(0x5eed_1234_abcd_0042);
        for round in 0..40 {
            let n = 2 + rng.below(59);
            let (nodes, edges) = random_dag(&mut rng, n);
            let l = layout(&nodes, &edges);
            assert_eq!(l.boxes.len(), n, "round {round}");
            assert_eq!(l.routes.len(), edges.len(), "round {round}");
            check(&edges, &l);
        }
    }

    #[test]
    fn layout_is_deterministic() {
        let (nodes, edges) = random_dag(&mut Rng(7), 40);
        assert_eq!(layout(&nodes, &edges), layout(&nodes, &edges));
    }

    #[test]
    fn long_edge_bypasses_the_box_between() {
        // a -> b -> c and a -> c: the long edge gets its own slot beside b.
        let node = |rank| Node {
            rank,
            width: 80.0,
            height: 52.0,
        };
        let nodes = [node(0), node(1), node(2)];
        let edges = [(0, 1), (1, 2), (0, 2)];
        let l = layout(&nodes, &edges);
        check(&edges, &l);
        let b = l.boxes[1];
        let bend = l.routes[2][1];
        assert!(
            bend.y <= b.y - BOX_GAP + EPS || bend.y >= b.bottom() + BOX_GAP - EPS,
            "{bend:?} {b:?}"
        );
    }

    #[test]
    fn edges_that_do_not_go_forward_are_not_routed() {
        let node = |rank| Node {
            rank,
            width: 50.0,
            height: 30.0,
        };
        let l = layout(&[node(0), node(0)], &[(0, 1), (1, 7)]);
        assert!(l.routes.iter().all(Vec::is_empty));
        assert_eq!(layout(&[], &[]).boxes, vec![]);
    }
}
