//! End to end on the simulated cluster: real sshd, cron, lsyncd and rsync in
//! network namespaces, driven by the real `filesync` binary.

use crate::support::cluster::{shell_quote, Cluster};
use crate::support::node_files::{content, installation, W};
use crate::support::run::{install, install_args};
use crate::support::wait::{eventually, everywhere, time_until, SYNC};
use std::fs;
use std::time::Duration;

#[test]
fn install_keeps_creates_edits_renames_and_deletes_identical_on_every_node() {
    let Some(cluster) = Cluster::up("e2ea", 3, 21) else {
        return;
    };
    let all = ["n1", "n2", "n3"];
    install(&cluster);

    cluster.exec(
        "n1",
        &format!("mkdir -p {W}/uploads/2026 && echo one > {W}/uploads/2026/a.jpg"),
    );
    assert!(
        everywhere(&cluster, &all, "uploads/2026/a.jpg", Some("one\n")),
        "create did not spread"
    );

    cluster.exec("n2", &format!("echo two >> {W}/uploads/2026/a.jpg"));
    assert!(
        everywhere(&cluster, &all, "uploads/2026/a.jpg", Some("one\ntwo\n")),
        "edit did not spread"
    );

    cluster.exec(
        "n3",
        &format!("mv {W}/uploads/2026/a.jpg {W}/uploads/2026/b.jpg"),
    );
    assert!(
        everywhere(&cluster, &all, "uploads/2026/b.jpg", Some("one\ntwo\n")),
        "rename: new name missing"
    );
    assert!(
        everywhere(&cluster, &all, "uploads/2026/a.jpg", None),
        "rename: old name left behind"
    );

    cluster.exec("n1", &format!("rm {W}/uploads/2026/b.jpg"));
    assert!(
        everywhere(&cluster, &all, "uploads/2026/b.jpg", None),
        "delete did not spread"
    );

    // Names that need quoting everywhere they are written.
    let odd = "it's a \"100%\" $(id).png";
    fs::write(cluster.synced("n2").join(odd), "odd").unwrap();
    assert!(
        everywhere(&cluster, &all, odd, Some("odd")),
        "odd file name did not spread"
    );

    let (code, stdout, _) = cluster.run(&["status", "--env", &cluster.name, "--output", "json"]);
    assert_eq!(code, 0, "status: {stdout}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for node in status.as_array().unwrap() {
        assert_eq!(node["healthy"], true, "{node}");
        assert_eq!(node["watchdog"], true, "{node}");
        assert_eq!(node["peers"].as_array().unwrap().len(), 2, "{node}");
    }

    let state = cluster.installation("n1").join("state.json");
    let before = fs::metadata(&state).unwrap().modified().unwrap();
    let (code, stdout, _) = cluster.run(&["install", "--env", &cluster.name, "--yes"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("No changes."), "{stdout}");
    assert_eq!(
        fs::metadata(&state).unwrap().modified().unwrap(),
        before,
        "a no-op install wrote files"
    );
}

#[test]
fn plan_after_a_node_joins_the_inventory_shows_the_difference_and_changes_nothing() {
    let Some(cluster) = Cluster::up("e2eb", 2, 22) else {
        return;
    };
    install(&cluster);
    assert!(cluster.testbed(&["add"]).status.success());

    // grouped: what n1 and n2 both do is said once
    let (code, stdout, stderr) = cluster.run(&["plan", "--env", &cluster.name]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("\nn1, n2:\n  - update etc/lsyncd.conf\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nn3:\n  - create /var/lib/filesync/"),
        "{stdout}"
    );
    assert!(stdout.contains("\nPlan: "), "{stdout}");
    // --verbose: node by node
    let (code, stdout, stderr) = cluster.run(&["plan", "--verbose", "--env", &cluster.name]);
    assert_eq!(code, 0, "{stderr}");
    let section = |node: &str| {
        let start = stdout
            .find(&format!("\n{node}:"))
            .unwrap_or_else(|| panic!("{node} missing:\n{stdout}"));
        stdout[start + 1..].split("\nn").next().unwrap().to_string()
    };
    assert!(
        section("n3").contains("generate this node's sync key"),
        "{stdout}"
    );
    assert!(section("n1").contains("update etc/lsyncd.conf"), "{stdout}");
    assert!(
        section("n1").contains("+    target = \"filesync-n3:"),
        "{stdout}"
    );
    assert!(section("n2").contains("admit pushes from n3"), "{stdout}");
    assert!(!cluster.has_installation("n3"), "plan changed n3");
}

#[test]
fn uninstall_removes_filesync_but_keeps_files_keys_and_crontab_lines_of_others() {
    let Some(cluster) = Cluster::up("e2ec", 2, 23) else {
        return;
    };
    cluster.exec("n1", "echo '17 3 * * * /usr/local/bin/backup' | crontab -");
    install(&cluster);
    cluster.exec("n1", &format!("echo keep > {W}/keep.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "keep.txt",
        Some("keep\n")
    ));

    let (code, stdout, stderr) = cluster.run(&["uninstall", "--env", &cluster.name, "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for node in ["n1", "n2"] {
        assert_eq!(
            content(&cluster.synced(node).join("keep.txt")).as_deref(),
            Some("keep\n")
        );
        assert!(!cluster.has_installation(node), "{node}: install dir left");
        let processes = cluster.try_exec(node, "pgrep -a lsyncd");
        assert!(!processes.status.success(), "{node}: lsyncd still running");
        let crontab = cluster.exec(node, "crontab -l 2>/dev/null || true");
        assert!(!crontab.contains("filesync"), "{node}: {crontab}");
        let keys = cluster.exec(node, "cat /root/.ssh/authorized_keys");
        assert!(!keys.contains("filesync:"), "{node}: {keys}");
        assert_eq!(
            keys.lines().count(),
            1,
            "{node}: the operator's key must stay"
        );
    }
    let crontab = cluster.exec("n1", "crontab -l");
    assert_eq!(crontab, "17 3 * * * /usr/local/bin/backup\n");

    // Nothing left to remove is not an error.
    let (code, _, _) = cluster.run(&["uninstall", "--env", &cluster.name, "--yes"]);
    assert_eq!(code, 0);
}

#[test]
fn bad_input_is_refused_and_no_node_changes() {
    let Some(cluster) = Cluster::up("e2ed", 2, 24) else {
        return;
    };
    cluster.exec("n2", &format!("rmdir {W}"));
    let env = cluster.name.clone();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--path", "/ROOT/wp-content"],
            "n2: the synced directory /var/www/webroot/ROOT/wp-content does not exist",
        ),
        (&["--path", "/ROOT/../../etc"], "leaves the webroot"),
        (&["--path", "/ROOT\nx"], "line break"),
        (&["--path", "/ROOT", "--delay", "0"], "invalid delay"),
        (
            &["--path", "/ROOT", "--nodes", "n1,n9"],
            "unknown node \"n9\"",
        ),
    ];
    for (args, why) in cases {
        let mut full = vec!["install", "--env", env.as_str(), "--yes"];
        full.extend_from_slice(args);
        let (code, _, stderr) = cluster.run(&full);
        assert_eq!(code, 3, "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
        assert!(stderr.contains("Hint:"), "{args:?}: {stderr}");
    }
    for node in ["n1", "n2"] {
        assert!(!cluster.has_installation(node), "{node} was changed");
    }
}

#[test]
fn an_unreachable_node_is_reported_the_others_are_installed_and_a_rerun_finishes() {
    let Some(cluster) = Cluster::up("e2ee", 3, 25) else {
        return;
    };
    assert!(cluster.testbed(&["link", "n3", "down"]).status.success());
    let (code, stdout, stderr) = cluster.run(&install_args(&cluster));
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stderr.contains("n3: unreachable"), "{stderr}");
    cluster.exec("n1", &format!("echo a > {W}/a.txt"));
    assert!(everywhere(&cluster, &["n1", "n2"], "a.txt", Some("a\n")));

    assert!(cluster.testbed(&["link", "n3", "up"]).status.success());
    let (code, stdout, stderr) = cluster.run(&["install", "--env", &cluster.name, "--yes"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        everywhere(&cluster, &["n1", "n2", "n3"], "a.txt", Some("a\n")),
        "n3 did not catch up"
    );
    cluster.exec("n3", &format!("echo b > {W}/b.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2", "n3"],
        "b.txt",
        Some("b\n")
    ));
}

#[test]
fn a_changed_host_key_or_a_refused_login_stops_filesync_before_any_change() {
    let Some(cluster) = Cluster::up("e2ef", 2, 26) else {
        return;
    };
    let known_hosts = cluster.dir.join("known_hosts");
    let text = fs::read_to_string(&known_hosts).unwrap();
    let n1_key = text
        .lines()
        .find(|l| l.starts_with("10.213.26.11 "))
        .unwrap();
    let forged = n1_key.replace("10.213.26.11 ", "10.213.26.12 ");
    let other: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("10.213.26.12 "))
        .collect();
    fs::write(&known_hosts, format!("{}\n{forged}\n", other.join("\n"))).unwrap();

    let (code, _, stderr) = cluster.run(&install_args(&cluster));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("host key of n2 has changed"), "{stderr}");
    assert!(stderr.contains("ssh-keygen -R"), "{stderr}");

    // A key the nodes do not accept: authentication fails, nothing changes.
    fs::write(&known_hosts, &text).unwrap();
    let stranger = cluster.dir.join("stranger_key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(keygen.success());
    let config = fs::read_to_string(&cluster.ssh_config).unwrap();
    let operator_key = cluster.dir.join("operator/id_ed25519");
    let config = config.replace(
        &operator_key.display().to_string(),
        &stranger.display().to_string(),
    );
    let stranger_config = cluster.dir.join("stranger_config");
    fs::write(&stranger_config, config).unwrap();
    let output = cluster
        .filesync(&install_args(&cluster))
        .env("FILESYNC_SSH_CONFIG", &stranger_config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("SSH authentication to n"), "{stderr}");
    for node in ["n1", "n2"] {
        assert!(!cluster.has_installation(node), "{node} was changed");
    }
}

#[test]
fn the_watchdog_restarts_a_killed_lsyncd_and_changes_made_meanwhile_arrive() {
    let Some(cluster) = Cluster::up("e2eg", 2, 28) else {
        return;
    };
    install(&cluster);
    cluster.exec("n1", "pkill -KILL -x lsyncd");
    let dead = eventually(Duration::from_secs(5), || {
        !cluster.try_exec("n1", "pgrep -x lsyncd").status.success()
    });
    assert!(dead, "lsyncd survived SIGKILL");
    cluster.exec("n1", &format!("echo during > {W}/during.txt"));
    cluster.exec("n2", &format!("echo meanwhile > {W}/meanwhile.txt"));
    // cron runs the check every minute; allow one full minute plus slack.
    time_until(
        Duration::from_secs(75),
        "watchdog restarted a killed lsyncd",
        || cluster.try_exec("n1", "pgrep -x lsyncd").status.success(),
    );
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "during.txt",
        Some("during\n")
    ));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "meanwhile.txt",
        Some("meanwhile\n")
    ));
    let log = cluster.exec(
        "n1",
        &format!("cat {}/var/log/watchdog.log", installation()),
    );
    assert!(log.contains("lsyncd is not running, starting it"), "{log}");
}

#[test]
fn a_sync_path_with_quotes_and_spaces_is_synced_safely_and_one_with_percent_refused() {
    let Some(cluster) = Cluster::up("e2eh", 2, 29) else {
        return;
    };
    let env = cluster.name.clone();
    // rsync's daemon configuration (the receiving side) would expand %VAR%.
    let (code, _, stderr) = cluster.run(&[
        "install",
        "--env",
        &env,
        "--path",
        "/ROOT/100%",
        "--delay",
        "1",
        "--yes",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("contains %"), "{stderr}");
    assert!(!cluster.has_installation("n1"));

    let path = "/ROOT/it's a \"q\" $(id) dir";
    let dir = format!("/var/www/webroot{path}");
    for node in ["n1", "n2"] {
        fs::create_dir_all(cluster.www(node).join(format!("webroot{path}"))).unwrap();
    }
    let args = [
        "install", "--env", &env, "--path", path, "--delay", "1", "--yes",
    ];
    let (code, stdout, stderr) = cluster.run(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let file = cluster.www("n2").join(format!("webroot{path}/f.txt"));
    cluster.exec("n1", &format!("echo ok > {}/f.txt", shell_quote(&dir)));
    assert!(eventually(SYNC, || content(&file).as_deref() == Some("ok\n")));
    let (code, stdout, _) = cluster.run(&["status", "--env", &env]);
    assert_eq!(code, 0, "{stdout}");
}
