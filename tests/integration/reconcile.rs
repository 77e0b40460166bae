//! reconcile on the simulated cluster: nodes join, leave, leave while
//! unreachable, change their host key; a second reconcile has nothing to do.

use crate::support::cluster::Cluster;
use crate::support::node_files::{content, W};
use crate::support::run::install;
use crate::support::wait::{eventually, everywhere};
use std::fs;
use std::process::Command;
use std::time::Duration;

fn reconcile(cluster: &Cluster, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["reconcile", "--env", cluster.name.as_str()];
    args.extend_from_slice(extra);
    cluster.run(&args)
}

fn installed(cluster: &Cluster, node: &str) -> bool {
    cluster.installation(node).join("state.json").exists()
}

#[test]
fn a_node_that_joins_gets_the_files_spreads_its_own_and_then_syncs() {
    let Some(cluster) = Cluster::up("rca", 2, 31) else {
        return;
    };
    install(&cluster);
    cluster.exec("n1", &format!("echo old > {W}/old.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "old.txt",
        Some("old\n")
    ));

    assert!(cluster.testbed(&["add"]).status.success());
    cluster.exec("n3", &format!("echo mine > {W}/only-on-n3.txt"));
    let (code, stdout, stderr) = reconcile(&cluster, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(installed(&cluster, "n3"));
    assert!(
        stdout.contains("start lsyncd once n1 sent what it has"),
        "the newcomer must wait for the installed nodes' copy:\n{stdout}"
    );

    let all = ["n1", "n2", "n3"];
    assert!(
        everywhere(&cluster, &all, "old.txt", Some("old\n")),
        "n3 did not get the old files"
    );
    assert!(
        everywhere(&cluster, &all, "only-on-n3.txt", Some("mine\n")),
        "n3's own file was not spread"
    );
    cluster.exec("n3", &format!("echo new > {W}/new.txt"));
    assert!(everywhere(&cluster, &all, "new.txt", Some("new\n")));

    let (code, stdout, _) = reconcile(&cluster, &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("No changes."), "{stdout}");
    let (code, stdout, _) = cluster.run(&["status", "--env", &cluster.name]);
    assert_eq!(code, 0, "{stdout}");
}

/// How many entries the synced tree of `node` holds.
fn tree_size(cluster: &Cluster, node: &str) -> usize {
    let out = cluster.exec(node, &format!("find {W} -mindepth 1 | wc -l"));
    out.trim().parse().unwrap()
}

#[test]
fn reconcile_returns_once_the_new_node_has_the_whole_tree_from_one_seeder() {
    let Some(cluster) = Cluster::up("rcj", 3, 181) else {
        return;
    };
    install(&cluster);
    // a tree whose copy takes a few seconds
    cluster.exec(
        "n1",
        &format!(
            "cd {W} && for d in $(seq 1 20); do mkdir d$d; for f in $(seq 1 200); do \
             head -c 4096 /dev/urandom > d$d/f$f; done; done"
        ),
    );
    let expected = tree_size(&cluster, "n1");
    // (generous: only the setup; the machine is shared with other tests)
    assert!(
        eventually(Duration::from_secs(180), || {
            tree_size(&cluster, "n2") == expected && tree_size(&cluster, "n3") == expected
        }),
        "the tree did not spread to n2 and n3 before the node was added"
    );

    assert!(cluster.testbed(&["add"]).status.success());
    let (code, stdout, stderr) = reconcile(&cluster, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Nothing is still on its way when reconcile says done.
    assert_eq!(tree_size(&cluster, "n4"), expected, "{stdout}{stderr}");
    assert!(
        stdout.contains("start lsyncd once n1 sent what it has"),
        "{stdout}"
    );
    // One seeder sent the whole copy (lsyncd logs a full startup push as
    // "recursive startup rsync"); the others only what changed on them.
    let seeders: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|node| {
            cluster
                .exec(
                    node,
                    "grep -c 'recursive startup rsync: .* -> filesync-n4::' \
                     /var/lib/filesync/*/var/log/lsyncd.log || true",
                )
                .trim()
                != "0"
        })
        .collect();
    assert_eq!(seeders, ["n1"]);
}

#[test]
fn a_node_that_leaves_is_cleaned_up_keeps_its_files_and_gets_nothing_more() {
    let Some(cluster) = Cluster::up("rcb", 3, 32) else {
        return;
    };
    install(&cluster);
    cluster.exec("n1", &format!("echo before > {W}/before.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2", "n3"],
        "before.txt",
        Some("before\n")
    ));

    cluster.drop_from_inventory("n3");
    let (code, stdout, stderr) = reconcile(&cluster, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("n3: left the environment: remove filesync from it"),
        "{stdout}"
    );
    assert!(installed(&cluster, "n3"), "--dry-run changed n3");

    let (code, stdout, stderr) = reconcile(&cluster, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 removed"), "{stdout}");
    assert!(!installed(&cluster, "n3"));
    assert!(!cluster.try_exec("n3", "pgrep -x lsyncd").status.success());
    assert!(!cluster
        .exec("n3", "crontab -l 2>/dev/null || true")
        .contains("filesync"));
    assert_eq!(
        content(&cluster.synced("n3").join("before.txt")).as_deref(),
        Some("before\n"),
        "the departed node's files must stay"
    );
    let keys = cluster.exec("n1", "cat /root/.ssh/authorized_keys");
    assert!(!keys.contains(":n3"), "n1 still admits n3: {keys}");

    cluster.exec("n1", &format!("echo after > {W}/after.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "after.txt",
        Some("after\n")
    ));
    assert_eq!(
        content(&cluster.synced("n3").join("after.txt")),
        None,
        "n3 still receives"
    );

    let (code, stdout, _) = reconcile(&cluster, &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("No changes."), "{stdout}");
}

#[test]
fn a_node_that_leaves_while_unreachable_is_dropped_from_every_peer_list_and_reported() {
    let Some(cluster) = Cluster::up("rcc", 3, 33) else {
        return;
    };
    install(&cluster);
    assert!(cluster.testbed(&["link", "n3", "down"]).status.success());
    cluster.drop_from_inventory("n3");
    let (code, stdout, stderr) = reconcile(&cluster, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("n3: left the environment; unreachable"),
        "{stdout}"
    );
    let conf = fs::read_to_string(cluster.installation("n1").join("etc/lsyncd.conf")).unwrap();
    assert!(!conf.contains("filesync-n3"), "{conf}");
    cluster.exec("n2", &format!("echo x > {W}/x.txt"));
    assert!(everywhere(&cluster, &["n1", "n2"], "x.txt", Some("x\n")));
    let (code, stdout, _) = cluster.run(&["status", "--env", &cluster.name]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_changed_host_key_is_refused_until_the_user_accepts_it() {
    let Some(cluster) = Cluster::up("rcd", 2, 34) else {
        return;
    };
    install(&cluster);
    cluster.exec(
        "n2",
        "rm -f /etc/ssh/ssh_host_ed25519_key* && \
         ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && \
         kill -HUP $(cat /run/sshd.pid)",
    );
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, stderr) = reconcile(&cluster, &[]);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("host key of n2 has changed"), "{stderr}");

    let (code, stdout, stderr) = reconcile(&cluster, &["--accept-new-host-key", "n2"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("update etc/known_hosts"),
        "peers must pin the new key:\n{stdout}"
    );
    cluster.exec("n1", &format!("echo k > {W}/k.txt"));
    assert!(eventually(Duration::from_secs(15), || {
        content(&cluster.synced("n2").join("k.txt")).as_deref() == Some("k\n")
    }));
}

#[test]
fn watch_reconciles_after_an_inventory_edit_and_stops_cleanly_on_sigterm() {
    let Some(cluster) = Cluster::up("rce", 2, 35) else {
        return;
    };
    install(&cluster);
    let log = cluster.dir.join("watch.log");
    let mut watch = cluster
        .filesync(&["watch", "--env", &cluster.name, "--interval", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(30), || read_log()
            .contains("reconciled")),
        "first round did not finish:\n{}",
        read_log()
    );
    assert!(cluster.testbed(&["add"]).status.success());
    let joined = eventually(Duration::from_secs(40), || installed(&cluster, "n3"));
    assert!(
        joined,
        "watch did not install the new node:\n{}",
        read_log()
    );
    let changes = read_log();
    let change = changes
        .lines()
        .find(|line| line.contains("nodes changed:"))
        .unwrap_or_else(|| panic!("no change logged:\n{changes}"));
    let (before, after) = change.split_once(" -> ").unwrap();
    assert!(
        !before.contains("n3 (") && after.contains("n3 (n3, 10.213.35.13:22)"),
        "{change}"
    );

    let pid = watch.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = eventually(Duration::from_secs(60), || {
        matches!(watch.try_wait(), Ok(Some(_)))
    });
    assert!(stopped, "watch did not stop on SIGTERM");
    assert_eq!(watch.wait().unwrap().code(), Some(0));
    assert!(read_log().contains("watch: stopped"));
    cluster.exec("n3", &format!("echo w > {W}/w.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2", "n3"],
        "w.txt",
        Some("w\n")
    ));
}
