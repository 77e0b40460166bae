//! Faults on the simulated cluster: operators racing or interrupted, nodes
//! cut off, restarted or out of disk, conflicting edits. Each test ends by
//! checking that nothing was lost and the nodes agree (`filesync verify`).

use crate::support::cluster::Cluster;
use crate::support::node_files::{content, installation, W};
use crate::support::run::{install, install_args, verify_identical};
use crate::support::wait::{eventually, everywhere, time_until};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

fn locked(cluster: &Cluster, node: &str) -> bool {
    cluster
        .try_exec(node, &format!("test -d {}.lock", installation()))
        .status
        .success()
}

fn nothing_installed(cluster: &Cluster, nodes: &[&str]) -> bool {
    nodes.iter().all(|node| !cluster.has_installation(node))
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
            &format!(
                "L={}.lock; mkdir -p $L && echo '{owner}' > $L/owner",
                installation()
            ),
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

    let breaking = [install_args(&cluster), vec!["--break-lock"]].concat();
    let (code, _, stderr) = cluster.run(&breaking);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("n2: taking over the lock of filesync reconcile by alice"));
    assert!(!locked(&cluster, "n2"));

    // A run of this machine that died (its pid is gone) left a lock: taken over.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    plant(&format!(
        "host={} user=root pid=999999999 since=1700000000 command=install",
        host.trim()
    ));
    let (code, _, stderr) = cluster.run(&["reconcile", "--env", &cluster.name]);
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

    let conf = format!("{}/etc/lsyncd.conf", installation());
    let before: Vec<Option<String>> = ["n1", "n2", "n3"]
        .iter()
        .map(|node| content(&cluster.installation(node).join("etc/lsyncd.conf")))
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
        let litter = cluster.exec(node, &format!("ls -A {}/etc", installation()));
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

/// Every node's content of `rel` (`None` where it does not exist).
fn contents(cluster: &Cluster, nodes: &[&str], rel: &str) -> Vec<Option<String>> {
    nodes
        .iter()
        .map(|node| content(&cluster.synced(node).join(rel)))
        .collect()
}

#[test]
fn a_node_cut_off_the_network_catches_up_both_ways_when_it_comes_back() {
    let Some(cluster) = Cluster::up("ftd", 3, 76) else {
        return;
    };
    install(&cluster);
    let link = |state: &str| {
        let out = cluster.testbed(&["link", "n3", state]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    link("down");
    cluster.exec("n3", &format!("echo island > {W}/island.txt"));
    cluster.exec("n1", &format!("echo mainland > {W}/mainland.txt"));
    // The others keep syncing among themselves.
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "mainland.txt",
        Some("mainland\n")
    ));
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(content(&cluster.synced("n3").join("mainland.txt")), None);
    assert_eq!(content(&cluster.synced("n1").join("island.txt")), None);

    link("up");
    let all = ["n1", "n2", "n3"];
    time_until(
        Duration::from_secs(120),
        "partition healed, both sides caught up",
        || {
            contents(&cluster, &all, "island.txt")
                .iter()
                .all(|c| c.as_deref() == Some("island\n"))
                && contents(&cluster, &all, "mainland.txt")
                    .iter()
                    .all(|c| c.as_deref() == Some("mainland\n"))
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    verify_identical(&cluster);
}

#[test]
fn a_restarted_node_resumes_sync_by_itself_through_the_reboot_line() {
    let Some(cluster) = Cluster::up("fte", 2, 77) else {
        return;
    };
    install(&cluster);
    let out = cluster.testbed(&["restart", "n2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    time_until(
        Duration::from_secs(60),
        "lsyncd back after a node restart",
        || cluster.try_exec("n2", "pgrep -x lsyncd").status.success(),
    );
    cluster.exec("n2", &format!("echo rebooted > {W}/rebooted.txt"));
    cluster.exec("n1", &format!("echo welcome > {W}/welcome.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "rebooted.txt",
        Some("rebooted\n")
    ));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "welcome.txt",
        Some("welcome\n")
    ));
    let env = cluster.name.clone();
    let (code, stdout, _) = cluster.run(&["status", "--env", &env]);
    assert_eq!(code, 0, "{stdout}");
    verify_identical(&cluster);
}

#[test]
fn concurrent_edits_settle_on_the_newest_and_a_write_wins_over_a_racing_delete() {
    let Some(cluster) = Cluster::up("ftf", 3, 78) else {
        return;
    };
    install(&cluster);
    let all = ["n1", "n2", "n3"];
    // Both edits land within one delay; n2's is the newer by a second (rsync
    // compares modification times in whole seconds; see the README's limits).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let edit = |text: &str, at: u64| {
        format!("echo {text} > {W}/shared.txt && touch -d @{at} {W}/shared.txt")
    };
    std::thread::scope(|s| {
        s.spawn(|| cluster.exec("n1", &edit("older", now - 1)));
        s.spawn(|| cluster.exec("n2", &edit("newer", now)));
    });
    assert!(everywhere(&cluster, &all, "shared.txt", Some("newer\n")));
    // No ping-pong: it stays settled.
    let settled = contents(&cluster, &all, "shared.txt");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(contents(&cluster, &all, "shared.txt"), settled);

    // A delete on one node racing a write on another: the write wins on
    // every node, round after round (the deleted version is in the trash).
    for round in 0..3 {
        cluster.exec("n1", &format!("echo base{round} > {W}/raced.txt"));
        assert!(everywhere(
            &cluster,
            &all,
            "raced.txt",
            Some(&format!("base{round}\n"))
        ));
        std::thread::scope(|s| {
            s.spawn(|| cluster.exec("n1", &format!("rm {W}/raced.txt")));
            s.spawn(|| cluster.exec("n2", &format!("echo write{round} > {W}/raced.txt")));
        });
        let write = Some(format!("write{round}\n"));
        let agreed = eventually(Duration::from_secs(20), || {
            contents(&cluster, &all, "raced.txt")
                .iter()
                .all(|c| *c == write)
        });
        let outcome = contents(&cluster, &all, "raced.txt");
        assert!(
            agreed,
            "round {round}: the write did not win everywhere: {outcome:?}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    verify_identical(&cluster);
}

#[test]
fn a_full_disk_is_reported_on_that_node_the_others_keep_syncing_and_it_recovers() {
    let Some(cluster) = Cluster::up("ftg", 3, 79) else {
        return;
    };
    // n3's synced directory is a 1 MiB file system: a 3 MB upload cannot land.
    cluster.exec("n3", &format!("mount -t tmpfs -o size=1m tmpfs {W}"));
    install(&cluster);
    let in_n3 = |rel: &str| {
        cluster
            .try_exec("n3", &format!("cat {W}/{rel}"))
            .status
            .success()
    };
    cluster.exec(
        "n1",
        &format!("head -c 3000000 /dev/urandom > {W}/big.bin && echo small > {W}/small.txt"),
    );
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "small.txt",
        Some("small\n")
    ));
    let env = cluster.name.clone();
    let reported = eventually(Duration::from_secs(20), || {
        let (code, stdout, _) = cluster.run(&["status", "--env", &env]);
        code == 6 && stdout.contains("pushes to this node fail (from n1")
    });
    let (_, stdout, _) = cluster.run(&["status", "--env", &env]);
    assert!(reported, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|row| row.starts_with("n3 ") && row.contains(" UNHEALTHY ")),
        "{stdout}"
    );
    assert!(stdout.contains("disk full?"), "{stdout}");
    // The others keep syncing.
    cluster.exec("n2", &format!("echo still > {W}/still.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "still.txt",
        Some("still\n")
    ));

    // Space freed: the retried pushes land.
    cluster.exec("n3", &format!("mount -o remount,size=16m {W}"));
    time_until(
        Duration::from_secs(60),
        "full disk freed, node caught up",
        || in_n3("big.bin") && in_n3("small.txt") && in_n3("still.txt"),
    );
    // Healthy again once every peer's latest push to n3 went through.
    let healthy = eventually(Duration::from_secs(30), || {
        cluster.run(&["status", "--env", &env]).0 == 0
    });
    let (_, stdout, _) = cluster.run(&["status", "--env", &env]);
    assert!(healthy, "{stdout}");
    assert!(!stdout.contains("STOPPED"), "{stdout}");
    verify_identical(&cluster);
}
