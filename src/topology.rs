//! Who pushes to whom inside an environment. Pure: node names in, edges out.

use crate::settings::Topology;
use std::collections::BTreeMap;

/// The nodes each node pushes its changes to, keyed by node name. Order follows
/// `nodes` (inventory order), which also decides the ring's direction.
pub fn push_targets(nodes: &[String], topology: Topology) -> BTreeMap<String, Vec<String>> {
    let count = nodes.len();
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let targets = match topology {
                Topology::Mesh => nodes
                    .iter()
                    .filter(|other| *other != node)
                    .cloned()
                    .collect(),
                Topology::Ring if count > 1 => vec![nodes[(i + 1) % count].clone()],
                Topology::Ring => Vec::new(),
            };
            (node.clone(), targets)
        })
        .collect()
}

/// Above this many nodes `plan` warns about a mesh's echoes. Every node that
/// receives a change pushes it on to its peers (a no-op rsync call, the
/// "echo"), so a change costs N x (N-1) calls; measured at about 50 ms of CPU
/// each (BENCHMARKS.md), every node changing once per default 10 s delay keeps
/// each node half a core busy from N = 11 on.
pub const MESH_ADVISED_MAX: usize = 10;

/// CPU seconds one rsync call costs across both ends, as measured (BENCHMARKS.md).
const CPU_PER_CALL: f64 = 0.05;

/// The warning `plan` prints for a mesh of more than `MESH_ADVISED_MAX` nodes.
pub fn echo_warning(nodes: usize, topology: Topology) -> Option<String> {
    if topology != Topology::Mesh || nodes <= MESH_ADVISED_MAX {
        return None;
    }
    let calls = nodes * (nodes - 1);
    Some(format!(
        "a mesh of {nodes} nodes makes {calls} rsync calls per change ({nodes} x {}: each node \
         that receives a change pushes it on), about {:.0} CPU s across the cluster; above \
         {MESH_ADVISED_MAX} nodes prefer a longer --delay (it batches changes) or \
         --topology ring ({nodes} calls, but {} x delay to reach every node); see BENCHMARKS.md",
        nodes - 1,
        calls as f64 * CPU_PER_CALL,
        nodes - 1,
    ))
}

/// The nodes that push to each node (the inverse of `push_targets`): their keys
/// go into that node's authorized_keys.
pub fn pushers(targets: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    let mut inbound: BTreeMap<String, Vec<String>> = targets
        .keys()
        .map(|node| (node.clone(), Vec::new()))
        .collect();
    for (from, tos) in targets {
        for to in tos {
            inbound.entry(to.clone()).or_default().push(from.clone());
        }
    }
    inbound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn mesh_pushes_to_every_other_node() {
        let t = push_targets(&names(3), Topology::Mesh);
        assert_eq!(t["n1"], ["n2", "n3"]);
        assert_eq!(t["n2"], ["n1", "n3"]);
        assert_eq!(t["n3"], ["n1", "n2"]);
        assert_eq!(pushers(&t)["n1"], ["n2", "n3"]);
    }

    #[test]
    fn ring_pushes_to_the_next_node_and_wraps() {
        let t = push_targets(&names(3), Topology::Ring);
        assert_eq!(t["n1"], ["n2"]);
        assert_eq!(t["n3"], ["n1"]);
        let inbound = pushers(&t);
        assert_eq!(inbound["n1"], ["n3"]);
        assert_eq!(inbound["n2"], ["n1"]);
    }

    #[test]
    fn only_a_mesh_larger_than_the_advised_size_gets_the_echo_warning() {
        assert_eq!(echo_warning(MESH_ADVISED_MAX, Topology::Mesh), None);
        assert_eq!(echo_warning(16, Topology::Ring), None);
        let warning = echo_warning(16, Topology::Mesh).unwrap();
        assert!(
            warning.contains("240 rsync calls per change (16 x 15"),
            "{warning}"
        );
        assert!(warning.contains("about 12 CPU s"), "{warning}");
    }

    #[test]
    fn a_single_node_pushes_nowhere() {
        for topology in [Topology::Mesh, Topology::Ring] {
            let t = push_targets(&names(1), topology);
            assert!(t["n1"].is_empty());
            assert!(pushers(&t)["n1"].is_empty());
        }
    }

    #[test]
    fn every_node_reaches_every_other_in_both_topologies() {
        for n in [2, 5, 16] {
            for topology in [Topology::Mesh, Topology::Ring] {
                let t = push_targets(&names(n), topology);
                for start in names(n) {
                    let mut seen = vec![start.clone()];
                    let mut frontier = vec![start.clone()];
                    while let Some(node) = frontier.pop() {
                        for next in &t[&node] {
                            if !seen.contains(next) {
                                seen.push(next.clone());
                                frontier.push(next.clone());
                            }
                        }
                    }
                    assert_eq!(seen.len(), n, "{topology} n={n} from {start}");
                }
            }
        }
    }
}
