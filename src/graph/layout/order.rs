//! Crossing reduction: the order of the items inside each layer.
//!
//! Layer by layer, each item moves to the weighted median of its neighbours'
//! positions in the layer just fixed, sweeping down the layers and back up;
//! after every sweep, neighbouring items are swapped while a swap removes
//! crossings. Sweeps can make things worse as well as better, so the best
//! ordering seen is the one kept (Gansner, Koutsofios, North and Vo, "A
//! Technique for Drawing Directed Graphs", 1993).

/// Sweeps tried (down and up alternately) before settling on the best.
const SWEEPS: usize = 24;

/// Bound on the adjacent-swap passes after one sweep. Each swap strictly
/// lowers the crossing count, so this only caps the work on large layers.
const TRANSPOSE_PASSES: usize = 64;

/// Reorders `layers` (item ids per layer) to reduce edge crossings. `up[v]`
/// holds v's neighbours in the layer before v's, `down[v]` those in the
/// layer after. Deterministic: ties keep the incoming order.
pub fn order(
    mut layers: Vec<Vec<usize>>,
    up: &[Vec<usize>],
    down: &[Vec<usize>],
) -> Vec<Vec<usize>> {
    let mut pos = vec![0; up.len()];
    index(&layers, &mut pos);
    transpose(&mut layers, &mut pos, up, down);
    let mut best = layers.clone();
    let mut best_crossings = crossings(&layers, down, &pos);
    for sweep in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        if sweep % 2 == 0 {
            for layer in layers.iter_mut().skip(1) {
                by_median(layer, &mut pos, up);
            }
        } else {
            for layer in layers.iter_mut().rev().skip(1) {
                by_median(layer, &mut pos, down);
            }
        }
        transpose(&mut layers, &mut pos, up, down);
        let now = crossings(&layers, down, &pos);
        if now < best_crossings {
            best_crossings = now;
            best.clone_from(&layers);
        }
    }
    best
}

/// Total crossings between consecutive layers.
pub fn crossings(layers: &[Vec<usize>], down: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for layer in layers {
        let edges: Vec<(usize, usize)> = layer
            .iter()
            .flat_map(|&v| down[v].iter().map(move |&w| (pos[v], pos[w])))
            .collect();
        for (i, &(a1, b1)) in edges.iter().enumerate() {
            total += edges[i + 1..]
                .iter()
                .filter(|&&(a2, b2)| (a1 < a2 && b1 > b2) || (a1 > a2 && b1 < b2))
                .count();
        }
    }
    total
}

/// Records each item's position inside its layer.
pub fn index(layers: &[Vec<usize>], pos: &mut [usize]) {
    for layer in layers {
        for (i, &v) in layer.iter().enumerate() {
            pos[v] = i;
        }
    }
}

/// Sorts one layer by the median position of each item's neighbours in the
/// fixed layer. Items without neighbours there keep their slot, so they do
/// not all pile up at one end.
fn by_median(layer: &mut [usize], pos: &mut [usize], adj: &[Vec<usize>]) {
    let medians: Vec<Option<f64>> = layer.iter().map(|&v| median(&adj[v], pos)).collect();
    let mut movable: Vec<(f64, usize)> = layer
        .iter()
        .zip(&medians)
        .filter_map(|(&v, m)| m.map(|m| (m, v)))
        .collect();
    // A stable sort: equal medians keep their current order.
    movable.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut next = movable.into_iter().map(|(_, v)| v);
    for (slot, m) in layer.iter_mut().zip(&medians) {
        if m.is_some()
            && let Some(v) = next.next()
        {
            *slot = v;
        }
    }
    for (i, &v) in layer.iter().enumerate() {
        pos[v] = i;
    }
}

/// The weighted median of the neighbours' positions: with an even count
/// the two middle positions are blended toward the side whose neighbours
/// are packed more tightly.
fn median(adj: &[usize], pos: &[usize]) -> Option<f64> {
    let mut p: Vec<f64> = adj.iter().map(|&w| pos[w] as f64).collect();
    p.sort_by(f64::total_cmp);
    let m = p.len() / 2;
    match p.len() {
        0 => None,
        n if n % 2 == 1 => Some(p[m]),
        2 => Some((p[0] + p[1]) / 2.0),
        n => {
            let left = p[m - 1] - p[0];
            let right = p[n - 1] - p[m];
            if left + right == 0.0 {
                Some((p[m - 1] + p[m]) / 2.0)
            } else {
                Some((p[m - 1] * right + p[m] * left) / (left + right))
            }
        }
    }
}

/// Swaps neighbouring items while that lowers the crossings with both
/// adjacent layers.
fn transpose(layers: &mut [Vec<usize>], pos: &mut [usize], up: &[Vec<usize>], down: &[Vec<usize>]) {
    for _ in 0..TRANSPOSE_PASSES {
        let mut improved = false;
        for layer in layers.iter_mut() {
            for i in 1..layer.len() {
                let (v, w) = (layer[i - 1], layer[i]);
                let kept = pair_crossings(v, w, up, pos) + pair_crossings(v, w, down, pos);
                let swapped = pair_crossings(w, v, up, pos) + pair_crossings(w, v, down, pos);
                if swapped < kept {
                    layer.swap(i - 1, i);
                    pos[v] = i;
                    pos[w] = i - 1;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// Crossings between the edges of `first` and `second` (placed in that
/// order) toward one adjacent layer: an edge of `first` crosses each edge
/// of `second` that ends above it.
fn pair_crossings(first: usize, second: usize, adj: &[Vec<usize>], pos: &[usize]) -> usize {
    adj[first]
        .iter()
        .map(|&a| adj[second].iter().filter(|&&b| pos[b] < pos[a]).count())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two layers, edges 0 -> 3 and 1 -> 2: one crossing as given, none
    /// once ordered.
    #[test]
    fn untangles_a_crossing() {
        let up = vec![vec![], vec![], vec![1], vec![0]];
        let down = vec![vec![3], vec![2], vec![], vec![]];
        let layers = vec![vec![0, 1], vec![2, 3]];
        let mut pos = vec![0; 4];
        index(&layers, &mut pos);
        assert_eq!(crossings(&layers, &down, &pos), 1);
        let ordered = order(layers, &up, &down);
        index(&ordered, &mut pos);
        assert_eq!(crossings(&ordered, &down, &pos), 0);
    }

    #[test]
    fn weighted_median() {
        let pos = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(median(&[], &pos), None);
        assert_eq!(median(&[4, 1, 7], &pos), Some(4.0));
        assert_eq!(median(&[2, 5], &pos), Some(3.5));
        // 0, 1 | 2, 9: the left pair is tighter, so the median leans left.
        let m = median(&[0, 1, 2, 9], &pos).unwrap();
        assert!(m > 1.0 && m < 1.5, "{m}");
    }
}
