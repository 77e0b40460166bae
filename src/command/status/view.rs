//! How `filesync status` reads: a table of a line per node, the unhealthy
//! ones first, then what is wrong with them (fits a screen at 30 nodes); or,
//! with `--verbose`, every node with the last push to each of its peers.

use super::{rsync_exit_meaning, NodeStatus, PeerStatus};
use crate::nodes::probe::Lsyncd;
use crate::output::node_set;

/// The status as the user asked to see it.
pub fn render(statuses: &[NodeStatus], now: u64, verbose: bool) -> String {
    if verbose {
        full(statuses, now)
    } else {
        table(statuses, now)
    }
}

/// Every node with every peer, node by node (`--verbose`).
pub fn full(statuses: &[NodeStatus], now: u64) -> String {
    let mut out = String::new();
    for status in statuses {
        let lsyncd = match &status.lsyncd {
            Some(Lsyncd::Idle) => "no peers yet: nothing to push (lsyncd starts with the first \
                                   peer)"
                .to_string(),
            Some(_) => format!("lsyncd {}", lsyncd_cell(status)),
            None => lsyncd_cell(status),
        };
        let health = if status.healthy { "ok" } else { "UNHEALTHY" };
        out.push_str(&format!("{}: {health}, {lsyncd}", status.node));
        if status.installed {
            out.push_str(if status.watchdog {
                ", watchdog on"
            } else {
                ", watchdog MISSING"
            });
            out.push_str(if status.drifted_files.is_empty() {
                ", config up to date"
            } else {
                ", config DRIFTED"
            });
        }
        out.push('\n');
        for peer in &status.peers {
            let line = match (peer.last_push, peer.exit_code) {
                (Some(at), Some(0)) => format!("last push ok {} s ago", now.saturating_sub(at)),
                (Some(at), Some(code)) => format!(
                    "last push FAILED {} s ago: {}",
                    now.saturating_sub(at),
                    rsync_exit_meaning(code)
                ),
                _ => "no push yet".to_string(),
            };
            out.push_str(&format!("  -> {}: {line}\n", peer.peer));
        }
        if let Some(link) = &status.link {
            let push = match (link.last_push, &link.failure) {
                (Some(at), None) => format!("last push ok {} s ago", now.saturating_sub(at)),
                (Some(at), Some(_)) => format!(
                    "last push FAILED {} s ago (rsync exit {})",
                    now.saturating_sub(at),
                    link.exit_code.unwrap_or_default()
                ),
                (None, _) => "no push yet".to_string(),
            };
            let daemon = match (link.transport, link.daemon) {
                ("ssh", _) => "over SSH".to_string(),
                (_, Some(pid)) => format!("rsync daemon running (pid {pid})"),
                (_, None) => "rsync daemon STOPPED".to_string(),
            };
            out.push_str(&format!(
                "  => other environment ({}): {push}; {daemon}\n",
                link.peer
            ));
        }
        for problem in &status.problems {
            out.push_str(&format!("  ! {problem}\n"));
        }
        for error in &status.recent_errors {
            out.push_str(&format!("  log: {error}\n"));
        }
    }
    out
}

/// A line per node, unhealthy ones first, then the problems of each
/// unhealthy node, then a summary line.
pub fn table(statuses: &[NodeStatus], now: u64) -> String {
    let mut ordered: Vec<&NodeStatus> = statuses.iter().collect();
    ordered.sort_by_key(|status| status.healthy);
    let linked = statuses.iter().any(|status| status.link.is_some());
    let mut header = vec!["NODE", "HEALTH", "LSYNCD", "WATCHDOG", "CONFIG", "PUSHES"];
    if linked {
        header.push("OTHER ENVIRONMENT");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for status in &ordered {
        let mut row = vec![
            status.node.clone(),
            if status.healthy { "ok" } else { "UNHEALTHY" }.to_string(),
            lsyncd_cell(status),
            match (status.installed, status.watchdog) {
                (false, _) => "-",
                (true, true) => "on",
                (true, false) => "MISSING",
            }
            .to_string(),
            match (status.installed, status.drifted_files.is_empty()) {
                (false, _) => "-",
                (true, true) => "up to date",
                (true, false) => "DRIFTED",
            }
            .to_string(),
            pushes_cell(&status.peers, now),
        ];
        if linked {
            row.push(link_cell(status, now));
        }
        rows.push(row);
    }
    let mut out = crate::output::table::render(&rows);
    // what is wrong, each problem once with all the nodes that have it
    let problems: Vec<(&str, &str)> = ordered
        .iter()
        .flat_map(|status| {
            status
                .problems
                .iter()
                .map(|problem| (status.node.as_str(), problem.as_str()))
        })
        .collect();
    if !problems.is_empty() {
        out.push('\n');
        for line in node_set::grouped(&problems) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let unhealthy = statuses.iter().filter(|status| !status.healthy).count();
    out.push_str(&match unhealthy {
        0 => format!("\n{} node(s), all healthy.\n", statuses.len()),
        _ => format!(
            "\n{} node(s): {} healthy, {unhealthy} UNHEALTHY (first in the table; `--verbose` \
             shows every push and recent log errors).\n",
            statuses.len(),
            statuses.len() - unhealthy
        ),
    });
    out
}

fn lsyncd_cell(status: &NodeStatus) -> String {
    match &status.lsyncd {
        Some(Lsyncd::Running(pid)) => format!("running (pid {pid})"),
        Some(Lsyncd::Idle) => "idle: no peers yet".to_string(),
        Some(_) => "STOPPED".to_string(),
        None if status.installed => "unknown".to_string(),
        None => "not installed".to_string(),
    }
}

/// How the last pushes to the node's peers ended, counted: `3 ok, 1 FAILED
/// (n4), 1 none yet; last 2 s ago`.
fn pushes_cell(peers: &[PeerStatus], now: u64) -> String {
    if peers.is_empty() {
        return "-".to_string();
    }
    let ok = peers.iter().filter(|p| p.exit_code == Some(0)).count();
    let failed: Vec<&str> = peers
        .iter()
        .filter(|p| p.exit_code.is_some_and(|code| code != 0))
        .map(|p| p.peer.as_str())
        .collect();
    let never = peers.len() - ok - failed.len();
    let mut parts = Vec::new();
    if !failed.is_empty() {
        parts.push(format!(
            "{} FAILED ({})",
            failed.len(),
            node_set::compact(&failed)
        ));
    }
    if ok > 0 {
        parts.push(format!("{ok} ok"));
    }
    if never > 0 {
        parts.push(format!("{never} none yet"));
    }
    let mut cell = parts.join(", ");
    if let Some(last) = peers.iter().filter_map(|p| p.last_push).max() {
        cell.push_str(&format!("; last {} s ago", now.saturating_sub(last)));
    }
    cell
}

fn link_cell(status: &NodeStatus, now: u64) -> String {
    let Some(link) = &status.link else {
        return "-".to_string();
    };
    let push = match (link.last_push, &link.failure) {
        (Some(at), None) => format!("ok {} s ago", now.saturating_sub(at)),
        (Some(at), Some(_)) => format!("FAILED {} s ago", now.saturating_sub(at)),
        (None, _) => "none yet".to_string(),
    };
    match (link.transport, link.daemon) {
        ("daemon", None) => format!("{push}; daemon STOPPED"),
        _ => push,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, peers: Vec<PeerStatus>) -> NodeStatus {
        NodeStatus {
            node: name.into(),
            healthy: true,
            problems: vec![],
            installed: true,
            lsyncd: Some(Lsyncd::Running(7)),
            watchdog: true,
            drifted_files: vec![],
            settings: None,
            peers,
            link: None,
            recent_errors: vec![],
        }
    }

    #[test]
    fn thirty_nodes_fit_a_screen_with_the_unhealthy_first() {
        let names: Vec<String> = (1..=30).map(|i| format!("n{i}")).collect();
        // n17's disk is full: its senders' pushes to it fail; n30 pushed nothing yet
        let mut statuses: Vec<NodeStatus> = names
            .iter()
            .map(|name| {
                let peers = names
                    .iter()
                    .filter(|peer| *peer != name)
                    .map(|peer| PeerStatus {
                        peer: peer.clone(),
                        last_push: Some(90).filter(|_| name != "n30"),
                        exit_code: Some(if peer == "n17" { 11 } else { 0 })
                            .filter(|_| name != "n30"),
                    })
                    .collect();
                node(name, peers)
            })
            .collect();
        for status in statuses
            .iter_mut()
            .filter(|s| !["n17", "n30"].contains(&s.node.as_str()))
        {
            status.healthy = false;
            status
                .problems
                .push("last push to n17 failed: disk full?".into());
        }
        super::super::blame_receivers(&mut statuses);
        let text = table(&statuses, 100);
        assert!(text.lines().count() <= 40, "{text}");
        let rows: Vec<&str> = text.lines().skip(1).take(30).collect();
        assert!(rows[0].starts_with("n1    UNHEALTHY  running (pid 7)  on        up to date  1 FAILED (n17), 28 ok; last 10 s ago"), "{text}");
        assert!(rows[29].starts_with("n30   ok         running"), "{text}");
        assert!(rows[29].ends_with("  29 none yet"), "{text}");
        assert!(
            text.contains("\nn1-n16, n18-n29: last push to n17 failed: disk full?\n"),
            "{text}"
        );
        assert!(
            text.contains("\nn17: pushes to this node fail (from n1-n16, n18-n29)"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\n30 node(s): 1 healthy, 29 UNHEALTHY (first in the table; \
                `--verbose` shows every push and recent log errors).\n"
            ),
            "{text}"
        );
    }
}
