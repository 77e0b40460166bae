//! Who pushes to whom inside an environment. Pure: node names in, edges out.

use crate::model::settings::Topology;
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
