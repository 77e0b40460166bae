//! The mesh stays whole (issue 12): a node that only the operator cannot reach
//! keeps its place on its peers, and `--nodes` chooses where to act, never who
//! is in the mesh.

use crate::support::cluster::Cluster;
use crate::support::node_files::W;
use crate::support::run::{install, install_args};
use crate::support::wait::everywhere;
use std::fs;
use std::process::Command;

const ALL: [&str; 3] = ["n1", "n2", "n3"];

/// A blackhole route on the operator's machine (the host) to one node: the
/// operator cannot reach it, the nodes still reach each other over their
/// bridge. The route goes when dropped, even when the test fails.
struct Blackhole(String);

impl Blackhole {
    fn to(ip: &str) -> Blackhole {
        let route = format!("{ip}/32");
        let status = Command::new("ip")
            .args(["route", "replace", "blackhole", &route])
            .status()
            .expect("run ip");
        assert!(status.success(), "cannot add a blackhole route to {route}");
        Blackhole(route)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["route", "del", "blackhole", &self.0])
            .status();
    }
}

/// Everything of filesync's on a node that concerns its peers: its
/// configuration, state and authorized_keys.
fn peer_config(cluster: &Cluster, node: &str) -> String {
    let dir = cluster.installation(node);
    let mut text = String::new();
    for file in [
        "etc/lsyncd.conf",
        "etc/ssh_config",
        "etc/known_hosts",
        "state.json",
    ] {
        let content = fs::read_to_string(dir.join(file))
            .unwrap_or_else(|err| panic!("{node}: {file}: {err}"));
        text.push_str(&format!("== {file}\n{content}"));
    }
    text.push_str("== authorized_keys\n");
    text.push_str(&cluster.exec(node, "cat /root/.ssh/authorized_keys"));
    text
}

fn peer_configs(cluster: &Cluster) -> Vec<String> {
    ALL.iter().map(|node| peer_config(cluster, node)).collect()
}

/// `node` pushes to and admits each of `peers`, as its files say.
fn meshed(cluster: &Cluster, node: &str, peers: &[&str]) -> Result<(), String> {
    let config = peer_config(cluster, node);
    for peer in peers {
        if !config.contains(&format!("filesync-{peer}::sync/")) {
            return Err(format!("{node} does not push to {peer}:\n{config}"));
        }
        if !config.contains(&format!("filesync:/var/www/webroot/lsyncd:{peer}\n")) {
            return Err(format!("{node} does not admit {peer}:\n{config}"));
        }
    }
    Ok(())
}

/// A file written on `from` reaches every node.
fn spreads(cluster: &Cluster, from: &str, name: &str) -> bool {
    cluster.exec(from, &format!("echo {from} > {W}/{name}"));
    everywhere(cluster, &ALL, name, Some(&format!("{from}\n")))
}

#[test]
fn a_node_only_the_operator_cannot_reach_keeps_its_place_and_keeps_syncing() {
    let Some(cluster) = Cluster::up("mwa", 3, 111) else {
        return;
    };
    install(&cluster);
    let before = peer_configs(&cluster);
    let cut = Blackhole::to("10.213.111.13");

    let reconcile = ["reconcile", "--env", cluster.name.as_str()];
    for args in [&reconcile[..], &install_args(&cluster)[..]] {
        let (code, stdout, stderr) = cluster.run(args);
        assert_eq!(code, 4, "{args:?}:\n{stdout}{stderr}");
        assert!(
            stdout.contains("n3: skipped: unreachable") && stderr.contains("n3: unreachable"),
            "{args:?} must name n3:\n{stdout}{stderr}"
        );
        assert!(
            stdout.contains("No changes on the 2 reachable node(s); 1 unreachable (skipped)."),
            "{args:?}:\n{stdout}"
        );
        assert_eq!(
            peer_configs(&cluster),
            before,
            "{args:?} changed something about n3"
        );
    }
    for node in ["n1", "n2"] {
        let others: Vec<&str> = ALL.iter().copied().filter(|n| *n != node).collect();
        meshed(&cluster, node, &others).unwrap();
    }

    // The route is still cut: the nodes sync among themselves all the same.
    assert!(
        spreads(&cluster, "n3", "from-n3.txt"),
        "n3's file did not spread"
    );
    assert!(
        spreads(&cluster, "n1", "from-n1.txt"),
        "n1's file did not reach n3"
    );
    drop(cut);
}

#[test]
fn install_on_one_node_renders_it_with_all_its_peers_and_changes_only_it() {
    let Some(cluster) = Cluster::up("mwb", 3, 112) else {
        return;
    };
    install(&cluster);
    let env = cluster.name.as_str();
    let (code, stdout, stderr) = cluster.run(&["plan", "--env", env, "--nodes", "n3"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("No changes."), "{stdout}");

    // n3 as a node whose earlier run failed half-way: a broken configuration,
    // its peers' keys gone.
    let conf = cluster.installation("n3").join("etc/lsyncd.conf");
    fs::write(&conf, "-- broken\n").unwrap();
    cluster.exec("n3", "sed -i '/filesync:/d' /root/.ssh/authorized_keys");
    let peers_before: Vec<String> = ["n1", "n2"]
        .iter()
        .map(|node| peer_config(&cluster, node))
        .collect();

    let (code, stdout, stderr) = cluster.run(&["install", "--env", env, "--nodes", "n3", "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Admitted again, nothing revoked (an entry with both would go on "; revoke").
    assert!(
        stdout.contains("authorized_keys: admit pushes from n1, n2\n"),
        "{stdout}"
    );
    assert!(
        !stdout
            .lines()
            .any(|line| line.starts_with("n1:") || line.starts_with("n2:")),
        "the run must act on n3 only:\n{stdout}"
    );
    assert!(
        !stdout.contains("not in --nodes"),
        "n1 and n2 are in step with n3:\n{stdout}"
    );
    let peers_after: Vec<String> = ["n1", "n2"]
        .iter()
        .map(|node| peer_config(&cluster, node))
        .collect();
    assert_eq!(peers_after, peers_before, "n1 or n2 was changed");
    meshed(&cluster, "n3", &["n1", "n2"]).unwrap();

    assert!(
        spreads(&cluster, "n3", "from-n3.txt"),
        "n3's file did not spread"
    );
    assert!(
        spreads(&cluster, "n1", "from-n1.txt"),
        "n1's file did not reach n3"
    );
    let (code, stdout, _) = cluster.run(&["install", "--env", env, "--yes"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("No changes."), "{stdout}");
}

#[test]
fn a_node_added_with_nodes_alone_is_told_its_peers_are_behind_until_a_full_run() {
    let Some(cluster) = Cluster::up("mwc", 2, 113) else {
        return;
    };
    install(&cluster);
    assert!(cluster.testbed(&["add"]).status.success());
    let n1_before = peer_config(&cluster, "n1");
    let env = cluster.name.as_str();

    let (code, stdout, stderr) = cluster.run(&["install", "--env", env, "--nodes", "n3", "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("! n1, n2 (not in --nodes) do not push to n3"),
        "{stdout}"
    );
    assert_eq!(peer_config(&cluster, "n1"), n1_before, "n1 was changed");
    meshed(&cluster, "n3", &["n1", "n2"]).unwrap();

    let (code, stdout, stderr) = cluster.run(&["install", "--env", env, "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("not in --nodes"), "{stdout}");
    assert!(
        spreads(&cluster, "n3", "from-n3.txt"),
        "n3's file did not spread"
    );
    assert!(
        spreads(&cluster, "n1", "from-n1.txt"),
        "n1's file did not reach n3"
    );
}
