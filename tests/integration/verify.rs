//! `filesync verify` on the simulated cluster: identical trees pass, drift is
//! reported per node with exit code 8, files changing during the run are in
//! flight rather than drift.

use crate::support::cluster::Cluster;
use crate::support::node_files::{installation, W};
use crate::support::run::install;
use crate::support::wait::everywhere;
use serde_json::Value;
use std::process::{Command, Stdio};

/// Runs `verify --output json` with `extra` flags: (exit code, report).
fn verify(cluster: &Cluster, extra: &[&str]) -> (i32, Value) {
    let env = cluster.name.clone();
    let mut args = vec!["--output", "json", "verify", "--env", &env];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = cluster.run(&args);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("verify printed no JSON ({err}):\n{stdout}\n{stderr}"));
    (code, report)
}

fn drift_paths(report: &Value) -> Vec<String> {
    report["drift"]
        .as_array()
        .expect("a drift list")
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect()
}

fn drift_of<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in the drift: {report:#}"))
}

/// Stops lsyncd and its watchdog on `node`: what is written there stays there.
pub fn stop_sync(cluster: &Cluster, node: &str) {
    cluster.exec(
        node,
        &format!(
            "crontab -l | grep -v filesync | crontab - && {}/bin/node-ctl stop",
            installation()
        ),
    );
}

#[test]
fn verify_passes_identical_trees_and_reports_each_kind_of_drift() {
    let Some(cluster) = Cluster::up("vfa", 3, 71) else {
        return;
    };
    install(&cluster);
    cluster.exec("n1", &format!("mkdir -p {W}/up && echo a > {W}/up/a.txt"));
    // A name with a line break is not synced (see the README's limits), but
    // verify must still list and compare it: the same copy on every node.
    for node in ["n1", "n2", "n3"] {
        cluster.exec(
            node,
            &format!("mkdir -p {W}/up && echo b > {W}/up/'odd\nname' && touch -d @1700000000 {W}/up/'odd\nname'"),
        );
    }
    assert!(everywhere(
        &cluster,
        &["n1", "n2", "n3"],
        "up/a.txt",
        Some("a\n")
    ));
    let (code, report) = verify(&cluster, &["--checksum"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["identical"], true);
    let entries: Vec<u64> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["entries"].as_u64().unwrap())
        .collect();
    assert_eq!(entries, [3, 3, 3], "{report:#}");

    // Drift that sync cannot fix on its own: lsyncd stopped on n2 and n3.
    stop_sync(&cluster, "n2");
    stop_sync(&cluster, "n3");
    cluster.exec("n3", &format!("echo only > {W}/only-n3.txt"));
    cluster.exec("n2", &format!("rm {W}/up/a.txt"));
    // Same size and mtime, other content: only --checksum can see it.
    cluster.exec(
        "n3",
        &format!(
            "for f in {W}/up/odd*; do t=$(stat -c %Y \"$f\") && echo c > \"$f\" && touch -d @$t \"$f\"; done"
        ),
    );

    let (code, report) = verify(&cluster, &[]);
    assert_eq!(code, 8, "{report:#}");
    assert_eq!(drift_paths(&report), ["only-n3.txt", "up/a.txt"]);
    assert_eq!(drift_of(&report, "only-n3.txt")["extra_on"][0], "n3");
    assert_eq!(drift_of(&report, "up/a.txt")["missing_on"][0], "n2");

    let (code, report) = verify(&cluster, &["--checksum"]);
    assert_eq!(code, 8);
    let odd = drift_of(&report, "up/odd\nname");
    assert_eq!(odd["different"][0]["field"], "content", "{report:#}");
    assert_eq!(odd["different"][0]["values"][1][1][0], "n3");

    // The human report says the same, and the exit code is documented.
    let env = cluster.name.clone();
    let (code, stdout, stderr) = cluster.run(&["verify", "--env", &env]);
    assert_eq!(code, 8);
    assert!(stdout.contains("  n2: 2 entries, 1 missing\n"), "{stdout}");
    assert!(stdout.contains("  extra on n3: only-n3.txt\n"), "{stdout}");
    assert!(stderr.contains("the synced trees differ: 2 path(s) on 2 node(s)"));
    assert!(stderr.contains("verify --repair"), "{stderr}");

    // The repair: lsyncd restarted everywhere (watchdog lines back too); the
    // nodes end with the union of the files, nothing deleted.
    let (code, report) = verify(&cluster, &["--repair"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["repaired_from"], 2);
    for node in ["n1", "n2", "n3"] {
        let tree = cluster.synced(node);
        assert!(tree.join("only-n3.txt").exists(), "{node}: only-n3.txt");
        assert!(tree.join("up/a.txt").exists(), "{node}: up/a.txt came back");
    }
    let (code, stdout, _) = cluster.run(&["status", "--env", &env]);
    assert_eq!(code, 0, "{stdout}");
    // Same size and mtime, other content: rsync's quick check cannot see it
    // either, so the repair leaves it (see README, limits).
    let (code, _) = verify(&cluster, &["--checksum"]);
    assert_eq!(code, 8);
}

#[test]
fn files_changing_while_verify_runs_are_in_flight_not_drift() {
    let Some(cluster) = Cluster::up("vfb", 2, 72) else {
        return;
    };
    install(&cluster);
    // A log appended to every 0.1 s on n1: the peers are always a delay behind.
    let root = cluster.synced("n1");
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while :; do date +%s%N >> '{}/busy.log'; sleep 0.1; done",
            root.display()
        ))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, report) = verify(&cluster, &[]);
    writer.kill().unwrap();
    let _ = writer.wait();
    assert_eq!(code, 0, "{report:#}");
    assert!(drift_paths(&report).is_empty(), "{report:#}");
    assert_eq!(report["in_flight"][0], "busy.log", "{report:#}");
}
