//! The release DAG: apply order, levels of releases that can run in
//! parallel, and cycles reported with their full path.

mod format;
mod layout;
mod svg;

use std::collections::HashMap;

pub use format::{Format, write};

use crate::model::{Dropped, Release};

/// Problems with the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Releases that depend on each other in a loop, as `a -> b -> a`.
    #[error("dependency cycle: {}", .path.join(" -> "))]
    Cycle { path: Vec<String> },
}

/// A release and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    pub name: String,
    #[serde(rename = "dependsOn")]
    pub depends_on: Vec<String>,
    /// The release's namespace, shown in pictures. Not part of the JSON
    /// form, whose shape tools already rely on.
    #[serde(skip)]
    pub namespace: String,
    /// The resolved package version, shown in pictures (not in JSON either).
    #[serde(skip)]
    pub version: String,
}

/// The DAG of the platform's releases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Graph {
    /// Releases in bundle order.
    pub releases: Vec<Node>,
    /// A topological order: every release after all of its dependencies.
    pub order: Vec<String>,
    /// `levels[0]` has no dependencies; a release in `levels[n]` depends on
    /// at least one release in `levels[n-1]` and none in later levels.
    pub levels: Vec<Vec<String>>,
    /// Dependencies dropped because their release is off.
    pub dropped: Vec<Dropped>,
}

impl Graph {
    /// The releases that depend on `name` directly.
    pub fn dependents<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.releases
            .iter()
            .filter(move |n| n.depends_on.iter().any(|d| d == name))
            .map(|n| n.name.as_str())
    }
}

/// Builds the DAG. Dependencies must name releases in the list (the model
/// checks this), so the only error left is a cycle.
///
/// # Errors
/// Every distinct cycle, each with its full path.
pub fn build(releases: &[Release]) -> Result<Graph, Vec<Error>> {
    let nodes: Vec<Node> = releases
        .iter()
        .map(|r| Node {
            name: r.name.clone(),
            depends_on: r.depends_on.clone(),
            namespace: r.namespace.clone(),
            version: r.package.version.to_string(),
        })
        .collect();
    let dropped = releases.iter().flat_map(|r| r.dropped.clone()).collect();
    from_nodes(nodes, dropped)
}

/// Builds the DAG from bare nodes (in the order given).
///
/// # Errors
/// Every distinct cycle, each with its full path.
pub fn from_nodes(nodes: Vec<Node>, dropped: Vec<Dropped>) -> Result<Graph, Vec<Error>> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            n.depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();

    let cycles = find_cycles(&nodes, &deps);
    if !cycles.is_empty() {
        return Err(cycles);
    }

    // Longest path from a root; memoised, the graph is acyclic here.
    let mut level: Vec<Option<usize>> = vec![None; nodes.len()];
    fn level_of(i: usize, deps: &[Vec<usize>], level: &mut [Option<usize>]) -> usize {
        if let Some(l) = level[i] {
            return l;
        }
        let l = deps[i]
            .iter()
            .map(|&d| level_of(d, deps, level) + 1)
            .max()
            .unwrap_or(0);
        level[i] = Some(l);
        l
    }
    let mut levels: Vec<Vec<String>> = Vec::new();
    for i in 0..nodes.len() {
        let l = level_of(i, &deps, &mut level);
        if levels.len() <= l {
            levels.resize(l + 1, Vec::new());
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        levels[level[i].unwrap_or(0)].push(node.name.clone());
    }
    let order = levels.iter().flatten().cloned().collect();
    Ok(Graph {
        releases: nodes,
        order,
        levels,
        dropped,
    })
}

/// Depth-first search; each back edge closes a cycle, reported once however
/// it is entered.
fn find_cycles(nodes: &[Node], deps: &[Vec<usize>]) -> Vec<Error> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        found: &mut Vec<Vec<usize>>,
    ) {
        marks[i] = Mark::OnStack;
        stack.push(i);
        for &d in &deps[i] {
            match marks[d] {
                Mark::New => visit(d, deps, marks, stack, found),
                Mark::OnStack => {
                    let start = stack.iter().position(|&s| s == d).unwrap_or(0);
                    found.push(stack[start..].to_vec());
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
    }
    let mut marks = vec![Mark::New; nodes.len()];
    let mut found = Vec::new();
    for i in 0..nodes.len() {
        if marks[i] == Mark::New {
            visit(i, deps, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut errors = Vec::new();
    for cycle in found {
        // Rotate so the earliest-declared release leads: one report per loop.
        let min_pos = cycle
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| **i)
            .map(|(p, _)| p)
            .unwrap_or(0);
        let mut rotated: Vec<usize> = cycle[min_pos..].to_vec();
        rotated.extend_from_slice(&cycle[..min_pos]);
        if seen.insert(rotated.clone()) {
            // Walk the loop in "depends on" direction: a -> b means a waits for b.
            let mut path: Vec<String> = rotated.iter().map(|&i| nodes[i].name.clone()).collect();
            path.push(nodes[rotated[0]].name.clone());
            errors.push(Error::Cycle { path });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, deps: &[&str]) -> Node {
        Node {
            name: name.into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            namespace: String::new(),
            version: String::new(),
        }
    }

    #[test]
    fn diamond() {
        let g = from_nodes(
            vec![
                node("top", &["left", "right"]),
                node("left", &["base"]),
                node("right", &["base"]),
                node("base", &[]),
            ],
            vec![],
        )
        .unwrap();
        assert_eq!(
            g.levels,
            vec![vec!["base"], vec!["left", "right"], vec!["top"]]
        );
        assert_eq!(g.order, vec!["base", "left", "right", "top"]);
        assert_eq!(
            g.dependents("base").collect::<Vec<_>>(),
            vec!["left", "right"]
        );
    }

    #[test]
    fn level_is_longest_path() {
        let g = from_nodes(
            vec![node("a", &[]), node("b", &["a"]), node("c", &["a", "b"])],
            vec![],
        )
        .unwrap();
        assert_eq!(g.levels, vec![vec!["a"], vec!["b"], vec!["c"]]);
    }

    #[test]
    fn cycle_has_full_path() {
        let errs = from_nodes(
            vec![
                node("a", &["b"]),
                node("b", &["c"]),
                node("c", &["a"]),
                node("d", &[]),
            ],
            vec![],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].to_string(), "dependency cycle: a -> b -> c -> a");
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let errs = from_nodes(vec![node("a", &["a"])], vec![]).unwrap_err();
        assert_eq!(errs[0].to_string(), "dependency cycle: a -> a");
    }

    #[test]
    fn two_cycles_both_reported() {
        let errs = from_nodes(
            vec![
                node("a", &["b"]),
                node("b", &["a"]),
                node("c", &["d"]),
                node("d", &["c"]),
            ],
            vec![],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2);
    }
}
