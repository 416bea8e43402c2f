//! Coordinate assignment: where each item sits along its layer, once the
//! order inside every layer is fixed.
//!
//! Each pass pulls every item toward the mean position of its neighbours in
//! the layer just placed, then moves the layer's items as little as possible
//! (least squares) so that consecutive items keep their minimum distance
//! and their order. That projection is an isotonic regression, solved
//! exactly by pooling adjacent violators. Dummy items pull harder, so long
//! edges run straight.

/// Passes alternating down and up the layers, then passes that look both
/// ways to settle items between their two sides.
const ONE_SIDED_PASSES: usize = 12;
const TWO_SIDED_PASSES: usize = 4;

/// How much more a dummy item (a bend point of a long edge) resists being
/// moved off the line of its edge than a box does.
const DUMMY_WEIGHT: f64 = 4.0;

/// The weight of an item with no neighbour on the side looked at: it stays
/// put unless pushed.
const LOOSE_WEIGHT: f64 = 0.01;

/// What the placement needs to know about the layered graph.
pub struct Items<'a> {
    pub up: &'a [Vec<usize>],
    pub down: &'a [Vec<usize>],
    pub dummy: &'a [bool],
    /// `sep[r][i]`: the least distance between the centres of items `i` and
    /// `i + 1` of layer `r`.
    pub sep: &'a [Vec<f64>],
}

/// The centre of every item along its layer.
///
/// # Guarantees
/// Consecutive items of a layer are at least their `sep` apart, in the
/// order given.
pub fn place(layers: &[Vec<usize>], items: &Items<'_>) -> Vec<f64> {
    let mut at = vec![0.0; items.up.len()];
    // Start packed and centred on 0, so layers begin roughly aligned.
    for (layer, sep) in layers.iter().zip(items.sep) {
        let total: f64 = sep.iter().sum();
        let mut y = -total / 2.0;
        for (i, &v) in layer.iter().enumerate() {
            at[v] = y;
            y += sep.get(i).copied().unwrap_or(0.0);
        }
    }
    for pass in 0..ONE_SIDED_PASSES {
        let each = layers.iter().zip(items.sep);
        if pass % 2 == 0 {
            for (layer, sep) in each.skip(1) {
                align(layer, sep, &mut at, items, &[items.up]);
            }
        } else {
            for (layer, sep) in each.rev().skip(1) {
                align(layer, sep, &mut at, items, &[items.down]);
            }
        }
    }
    for _ in 0..TWO_SIDED_PASSES {
        for (layer, sep) in layers.iter().zip(items.sep) {
            align(layer, sep, &mut at, items, &[items.up, items.down]);
        }
    }
    at
}

/// Moves one layer toward its neighbours in the `sides` given.
fn align(layer: &[usize], sep: &[f64], at: &mut [f64], items: &Items<'_>, sides: &[&[Vec<usize>]]) {
    let mut desired: Vec<Option<f64>> = Vec::with_capacity(layer.len());
    let mut weight = Vec::with_capacity(layer.len());
    for &v in layer {
        let (sum, count) = sides
            .iter()
            .flat_map(|side| side[v].iter())
            .fold((0.0, 0usize), |(s, c), &w| (s + at[w], c + 1));
        if count > 0 {
            desired.push(Some(sum / count as f64));
            let pull = if items.dummy[v] { DUMMY_WEIGHT } else { 1.0 };
            weight.push(pull * count as f64);
        } else if items.up[v].is_empty() && items.down[v].is_empty() {
            // Unconnected: filled in below, next to its layer's others.
            desired.push(None);
            weight.push(LOOSE_WEIGHT);
        } else {
            // Connected on the other side only: stays until that side's pass.
            desired.push(Some(at[v]));
            weight.push(LOOSE_WEIGHT);
        }
    }
    // An unconnected item wants to sit right after the item before it
    // (before the one after it, at the top), not wherever it started.
    for i in 1..desired.len() {
        if desired[i].is_none() {
            desired[i] = desired[i - 1].map(|d| d + sep[i - 1]);
        }
    }
    for i in (0..desired.len().saturating_sub(1)).rev() {
        if desired[i].is_none() {
            desired[i] = desired[i + 1].map(|d| d - sep[i]);
        }
    }
    let desired: Vec<f64> = desired
        .iter()
        .zip(layer)
        .map(|(d, &v)| d.unwrap_or(at[v]))
        .collect();
    for (&v, y) in layer.iter().zip(project(&desired, &weight, sep)) {
        at[v] = y;
    }
}

/// The positions closest to `desired` (weighted least squares) with
/// `y[i + 1] - y[i] >= sep[i]`.
///
/// Shifting item `i` by the sum of the separations before it turns the
/// constraint into "non-decreasing", and the best non-decreasing fit is the
/// weighted mean of each maximal run that would otherwise go down.
pub fn project(desired: &[f64], weight: &[f64], sep: &[f64]) -> Vec<f64> {
    let mut offset = Vec::with_capacity(desired.len());
    let mut acc = 0.0;
    for i in 0..desired.len() {
        offset.push(acc);
        acc += sep.get(i).copied().unwrap_or(0.0);
    }
    // Blocks of pooled items: (total weight, weighted sum, item count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for ((&d, &w), &o) in desired.iter().zip(weight).zip(&offset) {
        blocks.push((w, w * (d - o), 1));
        while blocks.len() >= 2 {
            let (w2, s2, c2) = blocks[blocks.len() - 1];
            let (w1, s1, c1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (w1 + w2, s1 + s2, c1 + c2);
        }
    }
    let mut out = Vec::with_capacity(desired.len());
    for (w, s, c) in blocks {
        for _ in 0..c {
            let o = offset[out.len()];
            out.push(s / w + o);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_order_and_distance() {
        // Three items all wanting 0, at least 10 apart: centred on 0.
        let y = project(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], &[10.0, 10.0]);
        assert_eq!(y, vec![-10.0, 0.0, 10.0]);
        // Already far enough apart: nothing moves.
        let y = project(&[0.0, 50.0], &[1.0, 1.0], &[10.0]);
        assert_eq!(y, vec![0.0, 50.0]);
        // A heavy item moves less than a light one.
        let y = project(&[0.0, 0.0], &[9.0, 1.0], &[10.0]);
        assert_eq!(y, vec![-1.0, 9.0]);
    }
}
