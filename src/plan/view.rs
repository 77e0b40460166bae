//! How a plan reads: by default what many nodes share is said once, then what
//! differs (a plan for 30 nodes fits on a screen); with `--verbose` (and as
//! `Display`), every node's whole list. Both end with a one-line summary.

use crate::model::peer_link::Transport;
use crate::output::node_set;
use crate::plan::{NodePlan, Plan};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The plan as the user asked to see it.
pub fn render(plan: &Plan, verbose: bool) -> String {
    if verbose {
        full(plan)
    } else {
        grouped(plan)
    }
}

/// Node by node, every action with its details.
pub fn full(plan: &Plan) -> String {
    let mut out = header(plan);
    for node in &plan.nodes {
        if node.actions.is_empty() {
            let _ = writeln!(out, "{}: no changes", node.node);
        } else {
            let _ = writeln!(out, "{}:", node.node);
        }
        for item in items(node, &|names| names.join(", "), true) {
            out.push_str(&item);
        }
    }
    for (node, what) in skipped(plan) {
        let _ = writeln!(out, "{node}: {what}");
    }
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

/// What several nodes share said once, under their names (`n1-n30:`), then
/// each node's own actions; a list of three or more nodes that is all the
/// others of the plan reads "every other node".
pub fn grouped(plan: &Plan) -> String {
    let everyone: Vec<&str> = plan.nodes.iter().map(|n| n.node.as_str()).collect();
    // each distinct item, with the nodes that have it, in first-seen order
    let mut shared: Vec<(String, Vec<&str>)> = Vec::new();
    for node in &plan.nodes {
        let others: Vec<&str> = everyone
            .iter()
            .copied()
            .filter(|name| *name != node.node)
            .collect();
        let names = |list: &[String]| {
            let listed: BTreeSet<&str> = list.iter().map(String::as_str).collect();
            let all: BTreeSet<&str> = others.iter().copied().collect();
            if others.len() >= 3 && listed == all {
                "every other node".to_string()
            } else {
                node_set::compact_set(list)
            }
        };
        for item in items(node, &names, false) {
            match shared.iter_mut().find(|(text, _)| *text == item) {
                Some((_, nodes)) if nodes.last() != Some(&node.node.as_str()) => {
                    nodes.push(&node.node)
                }
                Some(_) => {}
                None => shared.push((item, vec![&node.node])),
            }
        }
    }
    // items grouped by the exact set of nodes that has them
    let mut groups: Vec<(&[&str], Vec<&str>)> = Vec::new();
    for (item, nodes) in &shared {
        match groups.iter_mut().find(|(set, _)| set == nodes) {
            Some((_, group)) => group.push(item),
            None => groups.push((nodes, vec![item])),
        }
    }
    let mut out = header(plan);
    for (nodes, group) in groups {
        let _ = writeln!(out, "{}:", node_set::compact(nodes));
        out.extend(group);
    }
    let unchanged: Vec<(&str, &str)> = plan
        .nodes
        .iter()
        .filter(|node| node.actions.is_empty())
        .map(|node| (node.node.as_str(), "no changes"))
        .collect();
    lines(&mut out, &node_set::grouped(&unchanged));
    lines(&mut out, &node_set::grouped(&skipped(plan)));
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

/// The settings line, and the link to the other environment.
fn header(plan: &Plan) -> String {
    let settings = &plan.settings;
    let mut out = format!(
        "Environment {}: sync {} every {} s, topology {}\n",
        plan.env, settings.path, settings.delay, settings.topology
    );
    if let Some(link) = &settings.link {
        let peers = if link.others.is_empty() {
            link.describe()
        } else {
            format!(
                "one of {} (each node starts at another, and goes on to the next while one \
                 cannot be reached)",
                link.describe()
            )
        };
        let other = link.peer_env.as_deref().unwrap_or("the other environment");
        let _ = match link.transport {
            Transport::Daemon => writeln!(
                out,
                "Two environments: every node also pushes to the rsync daemon of {peers}; this \
                 environment's daemons accept pushes from {}",
                if link.allow.is_empty() {
                    "any address".to_string()
                } else {
                    link.allow.join(", ")
                }
            ),
            Transport::Ssh => writeln!(
                out,
                "Two environments over SSH: every node also pushes to {peers}; this \
                 environment admits the sync keys of {other}'s nodes ({} of {} known)",
                link.nodes.iter().filter(|n| n.key.is_some()).count(),
                link.nodes.len()
            ),
        };
    }
    out
}

/// A node's actions (`  - `, with their details below) and warnings (`  ! `),
/// a line or block each. Without `context`, a diff shows only the lines it
/// adds and removes: the same change on many nodes then reads the same.
fn items(node: &NodePlan, names: &dyn Fn(&[String]) -> String, context: bool) -> Vec<String> {
    let mut items: Vec<String> = node
        .actions
        .iter()
        .map(|action| {
            let mut item = String::from("  - ");
            let _ = action.describe(&mut item, names);
            item.push('\n');
            for line in action.details() {
                let header = (line.starts_with("--- ") && line.ends_with(" (on the node)"))
                    || (line.starts_with("+++ ") && line.ends_with(" (wanted)"));
                let changed = !header && (line.starts_with('+') || line.starts_with('-'));
                if !context && !changed {
                    continue;
                }
                let _ = writeln!(item, "      {line}");
            }
            item
        })
        .collect();
    items.extend(node.warnings.iter().map(|w| format!("  ! {w}\n")));
    items
}

/// (node, what happens to it) for the nodes the plan cannot change: those
/// unreachable, and those that left the environment.
fn skipped(plan: &Plan) -> Vec<(&str, String)> {
    let unreachable = plan.unreachable.iter().map(|failure| {
        (
            failure.node.as_str(),
            format!("skipped: {}", failure.reason),
        )
    });
    let departed = plan.departed.iter().map(|node| {
        let what = match (&node.reason, node.remove) {
            (Some(reason), _) => format!(
                "left the environment; unreachable ({reason}): dropped from every peer \
                 list, its own filesync files stay until it is cleaned by hand"
            ),
            (None, true) => {
                "left the environment: remove filesync from it (its files stay)".to_string()
            }
            (None, false) => "left the environment; nothing left to remove".to_string(),
        };
        (node.node.as_str(), what)
    });
    unreachable.chain(departed).collect()
}

fn lines(out: &mut String, lines: &[String]) {
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
}

/// The plan in one line: how many changes on how many nodes, and the nodes
/// it leaves alone and why.
pub fn summary(plan: &Plan) -> String {
    let changing: Vec<&NodePlan> = plan
        .nodes
        .iter()
        .filter(|node| !node.actions.is_empty())
        .collect();
    let actions: usize = changing.iter().map(|node| node.actions.len()).sum();
    let unchanged = plan.nodes.len() - changing.len();
    let unreachable = plan.unreachable.len();
    let removed = plan.departed.iter().filter(|node| node.remove).count();
    if plan.is_empty() {
        return match (plan.nodes.len(), unreachable) {
            (0, 0) => "No changes.".to_string(),
            (0, _) => {
                format!("Nothing planned: none of the {unreachable} node(s) could be reached.")
            }
            (_, 0) => "No changes.".to_string(),
            (reachable, _) => format!(
                "No changes on the {reachable} reachable node(s); {unreachable} unreachable \
                 (skipped)."
            ),
        };
    }
    let mut parts = Vec::new();
    if !changing.is_empty() {
        parts.push(format!("{actions} change(s) on {} node(s)", changing.len()));
    }
    if unchanged > 0 {
        parts.push(format!("{unchanged} unchanged"));
    }
    if removed > 0 {
        parts.push(format!("{removed} left (filesync removed from them)"));
    }
    if unreachable > 0 {
        parts.push(format!("{unreachable} unreachable (skipped)"));
    }
    format!("Plan: {}.", parts.join(", "))
}

impl std::fmt::Display for Plan {
    /// Every node's whole list (`--verbose`); `render` gives the grouped form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&full(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NodeFailure;
    use crate::model::settings::Topology;
    use crate::plan::node_plan;
    use crate::plan::tests::{configs, fresh, installed, keys};
    use std::collections::BTreeMap;

    fn fresh_install(n: usize) -> Plan {
        let configs = configs(n, Topology::Mesh);
        let nodes = configs
            .values()
            .map(|config| node_plan(config, &fresh(), &BTreeMap::new(), vec![], vec![]).unwrap())
            .collect();
        Plan {
            env: "prod".into(),
            settings: configs["n1"].settings.clone(),
            nodes,
            unreachable: vec![],
            departed: vec![],
        }
    }

    #[test]
    fn thirty_fresh_nodes_read_as_one_list() {
        let mut plan = fresh_install(30);
        plan.nodes
            .sort_by_key(|node| node.node[1..].parse::<u32>().unwrap());
        plan.nodes[6].warnings.push("lsyncd 2.2.2 is old".into());
        let text = grouped(&plan);
        insta::assert_snapshot!("grouped_fresh_install_of_30", text);
        assert!(text.lines().count() < 25, "{text}");
        assert!(text.contains("\nn1-n30:\n"), "{text}");
        assert!(
            text.contains("admit pushes from every other node"),
            "{text}"
        );
        assert!(text.contains("\nn7:\n  ! lsyncd 2.2.2 is old\n"), "{text}");
        // --verbose keeps every node's list
        assert_eq!(full(&plan).matches("  - start lsyncd").count(), 30);
    }

    #[test]
    fn what_differs_between_nodes_is_shown_under_each() {
        let configs = configs(3, Topology::Mesh);
        let keys = keys(3);
        // n1 and n2 lost their crontab lines
        let nodes = ["n1", "n2", "n3"]
            .iter()
            .map(|name| {
                let mut seen = installed(&configs[*name], &keys);
                if *name != "n3" {
                    seen.crontab = "0 3 * * * backup\n".into();
                }
                node_plan(&configs[*name], &seen, &keys, vec![], vec![]).unwrap()
            })
            .collect();
        let plan = Plan {
            env: "prod".into(),
            settings: configs["n1"].settings.clone(),
            nodes,
            unreachable: vec![NodeFailure {
                node: "n4".into(),
                reason: "unreachable: connection timed out".into(),
            }],
            departed: vec![],
        };
        let text = grouped(&plan);
        assert!(
            text.contains("\nn1, n2:\n  - crontab: add 2 line(s)"),
            "{text}"
        );
        assert!(text.contains("\nn3: no changes\n"), "{text}");
        assert!(
            text.contains("\nn4: skipped: unreachable: connection timed out\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "Plan: 4 change(s) on 2 node(s), 1 unchanged, 1 unreachable (skipped).\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_summary_says_when_nothing_could_be_planned() {
        let mut plan = fresh_install(2);
        let failures: Vec<NodeFailure> = plan
            .nodes
            .drain(..)
            .map(|node| NodeFailure {
                node: node.node,
                reason: "unreachable".into(),
            })
            .collect();
        plan.unreachable = failures.clone();
        assert_eq!(
            summary(&plan),
            "Nothing planned: none of the 2 node(s) could be reached."
        );
        let mut plan = fresh_install(2);
        plan.nodes.iter_mut().for_each(|node| node.actions.clear());
        assert_eq!(summary(&plan), "No changes.");
        plan.unreachable = failures[..1].to_vec();
        assert_eq!(
            summary(&plan),
            "No changes on the 2 reachable node(s); 1 unreachable (skipped)."
        );
    }
}
