//! Faults on the simulated cluster: operators racing or interrupted, nodes
//! cut off, restarted or out of disk, conflicting edits. Each test ends by
//! checking that nothing was lost and the nodes agree (`filesync verify`).

use crate::cluster::{eventually, Cluster};
use crate::e2e::{content, everywhere, install, install_args, W};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const LOCK: &str = "/var/www/webroot/lsyncd.lock";

fn verify_identical(cluster: &Cluster) {
    let env = cluster.name.clone();
    let (code, stdout, stderr) = cluster.run(&["verify", "--env", &env]);
    assert_eq!(code, 0, "verify found drift:\n{stdout}\n{stderr}");
}

fn locked(cluster: &Cluster, node: &str) -> bool {
    cluster
        .try_exec(node, &format!("test -d {LOCK}"))
        .status
        .success()
}

fn nothing_installed(cluster: &Cluster, nodes: &[&str]) -> bool {
    nodes
        .iter()
        .all(|node| !cluster.www(node).join("webroot/lsyncd").exists())
}

#[test]
fn two_operators_at_once_one_proceeds_the_other_is_told_who_holds_the_lock() {
    let Some(cluster) = Cluster::up("fta", 3, 73) else {
        return;
    };
    let start = || {
        cluster
            .filesync(&install_args(&cluster))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let mut outcomes: Vec<(i32, String)> = [first, second]
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            (output.status.code().unwrap(), stderr)
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes[0].0, 0, "{outcomes:?}");
    assert_eq!(outcomes[1].0, 9, "{outcomes:?}");
    let refused = &outcomes[1].1;
    assert!(
        refused.contains("n1 is locked by filesync install by ")
            && refused.contains("nothing was changed")
            && refused.contains("--break-lock"),
        "{refused}"
    );
    for node in ["n1", "n2", "n3"] {
        assert!(!locked(&cluster, node), "{node} still locked");
    }
    cluster.exec("n2", &format!("echo raced > {W}/raced.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2", "n3"],
        "raced.txt",
        Some("raced\n")
    ));
}

#[test]
fn a_lock_held_elsewhere_stops_every_change_until_broken_and_a_dead_local_one_is_taken_over() {
    let Some(cluster) = Cluster::up("ftb", 2, 74) else {
        return;
    };
    let plant = |owner: &str| {
        cluster.exec(
            "n2",
            &format!("mkdir -p {LOCK} && echo '{owner}' > {LOCK}/owner"),
        );
    };
    plant("host=ops-elsewhere user=alice pid=1 since=1700000000 command=reconcile");
    let (code, stdout, stderr) = cluster.run(&install_args(&cluster));
    assert_eq!(code, 9, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("n2 is locked by filesync reconcile by alice@ops-elsewhere (pid 1) since 2023-11-14T22:13:20Z"),
        "{stderr}"
    );
    assert!(nothing_installed(&cluster, &["n1", "n2"]));
    assert!(!locked(&cluster, "n1"), "n1 kept the lock of a refused run");

    let env = cluster.name.clone();
    let (code, _, stderr) = cluster.run(&[
        "--break-lock",
        "install",
        "--env",
        &env,
        "--path",
        "/ROOT/wp-content",
        "--delay",
        "1",
        "--yes",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("n2: taking over the lock of filesync reconcile by alice"));
    assert!(!locked(&cluster, "n2"));

    // A run of this machine that died (its pid is gone) left a lock: taken over.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    plant(&format!(
        "host={} user=root pid=999999999 since=1700000000 command=install",
        host.trim()
    ));
    let (code, _, stderr) = cluster.run(&["reconcile", "--env", &env]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("n2: taking over the stale lock of"),
        "{stderr}"
    );
}

#[test]
fn an_operator_interrupted_mid_install_leaves_no_half_config_and_a_rerun_finishes() {
    let Some(cluster) = Cluster::up("ftc", 3, 75) else {
        return;
    };
    let mut child = cluster
        .filesync(&install_args(&cluster))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut interrupted = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !interrupted && line.contains("etc/lsyncd.conf") {
            let pid = child.id().to_string();
            let kill = std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status();
            assert!(kill.unwrap().success());
            interrupted = true;
        }
        seen.push(line);
    }
    assert!(interrupted, "the install never wrote a config: {seen:#?}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:#?}");

    let conf = "/var/www/webroot/lsyncd/etc/lsyncd.conf";
    let before: Vec<Option<String>> = ["n1", "n2", "n3"]
        .iter()
        .map(|node| content(&cluster.www(node).join("webroot/lsyncd/etc/lsyncd.conf")))
        .collect();

    let (code, stdout, stderr) = cluster.run(&install_args(&cluster));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("taking over the stale lock"), "{stderr}");
    for (node, was) in ["n1", "n2", "n3"].iter().zip(before) {
        // A config the interrupted run left is the whole file, not a prefix of it.
        if let Some(was) = was {
            let now = cluster.exec(node, &format!("cat {conf}"));
            assert_eq!(
                was, now,
                "{node}: the interrupted run left a different config"
            );
        }
        let litter = cluster.exec(node, "ls -A /var/www/webroot/lsyncd/etc");
        assert!(!litter.contains(".filesync."), "{node}: {litter}");
    }
    cluster.exec("n3", &format!("echo after > {W}/after.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2", "n3"],
        "after.txt",
        Some("after\n")
    ));
    verify_identical(&cluster);
}

/// How long `condition` took to hold, polling; panics after `limit`.
pub fn time_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    assert!(
        eventually(limit, &mut condition),
        "{what}: not within {limit:?}"
    );
    let took = start.elapsed();
    eprintln!("FIGURE: {what}: {:.1} s", took.as_secs_f64());
    took
}
