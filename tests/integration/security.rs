//! Security on the simulated cluster: what a node's sync key can do on its
//! peers (rsync into the synced directory, nothing else), and where secrets
//! may and may not appear.

use crate::cluster::Cluster;
use crate::e2e::{everywhere, install, install_args, W};

const INSTALL: &str = "/var/www/webroot/lsyncd";

#[test]
fn a_sync_key_can_only_write_into_the_synced_directory_of_its_peers() {
    let Some(cluster) = Cluster::up("sca", 2, 80) else {
        return;
    };
    install(&cluster);
    // From n1, as lsyncd would: its key, its ssh config, its pinned host keys.
    let ssh = format!("ssh -F {INSTALL}/etc/ssh_config");
    let as_n1 = |command: &str| cluster.try_exec("n1", command);

    let shell = as_n1(&format!("{ssh} filesync-n2 id"));
    let said = String::from_utf8_lossy(&shell.stdout);
    assert!(
        !shell.status.success() && !said.contains("uid="),
        "ran a command: {said}"
    );
    let tty = as_n1(&format!("{ssh} -tt filesync-n2 </dev/null"));
    assert!(
        !String::from_utf8_lossy(&tty.stdout).contains('#'),
        "got a shell"
    );

    // Writing outside the synced directory: absolute, relative, via `..`.
    cluster.exec("n1", "echo pwned > /tmp/payload");
    for target in [
        "/tmp/escaped",
        "../escaped",
        "/var/www/webroot/escaped",
        "x/../../escaped",
    ] {
        let _ = as_n1(&format!(
            "rsync -e '{ssh}' /tmp/payload 'filesync-n2:{target}'"
        ));
    }
    let outside = cluster.exec(
        "n2",
        &format!("find / -xdev -name escaped -not -path '{W}/*' 2>/dev/null; ls /tmp"),
    );
    assert!(!outside.contains("escaped"), "wrote outside: {outside}");

    // Reading from the peer (write-only key).
    cluster.exec("n2", &format!("echo secret > {W}/private.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "private.txt",
        Some("secret\n")
    ));
    let pull = as_n1(&format!(
        "rsync -e '{ssh}' 'filesync-n2:{W}/private.txt' /tmp/pulled"
    ));
    assert!(!pull.status.success(), "the sync key could read from n2");

    // The same key from another address is refused (from=); `true` alone is
    // what rrsync allows for connectivity checks, so it shows the login itself.
    cluster.exec("n1", "ip addr add 10.213.80.99/24 dev eth0");
    let direct = format!("{ssh} -o ControlPath=none");
    assert!(as_n1(&format!("{direct} filesync-n2 true"))
        .status
        .success());
    let foreign = as_n1(&format!(
        "{direct} -o BindAddress=10.213.80.99 filesync-n2 true"
    ));
    assert!(
        !foreign.status.success()
            && String::from_utf8_lossy(&foreign.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&foreign.stderr)
    );
}

#[test]
fn secrets_are_private_and_never_leave_the_node_they_belong_to() {
    let Some(cluster) = Cluster::up("scb", 2, 81) else {
        return;
    };
    let env = cluster.name.clone();
    let json_install = [install_args(&cluster), vec!["--output", "json"]].concat();
    let (code, install_out, install_err) = cluster.run(&json_install);
    assert_eq!(code, 0, "{install_err}");
    cluster.exec("n1", &format!("echo x > {W}/x.txt"));
    assert!(everywhere(&cluster, &["n1", "n2"], "x.txt", Some("x\n")));
    let (_, status, _) = cluster.run(&["--output", "json", "status", "--env", &env]);
    let (_, plan, _) = cluster.run(&["--output", "json", "plan", "--env", &env]);
    let (_, logs, _) = cluster.run(&["logs", "--env", &env]);
    let printed = [install_out, install_err, status, plan, logs].concat();

    for node in ["n1", "n2"] {
        let key = cluster.exec(node, &format!("stat -c '%a %U' {INSTALL}/etc/sync_key"));
        assert_eq!(key.trim(), "600 root", "{node}: sync key mode/owner");
        let dirs = cluster.exec(node, &format!("stat -c '%a' {INSTALL}/run"));
        assert_eq!(dirs.trim(), "700", "{node}: control socket dir");
        // The private key's body, line by line, appears nowhere else.
        let private = cluster.exec(node, &format!("cat {INSTALL}/etc/sync_key"));
        // The first line is a header every unencrypted ed25519 key shares.
        let body: Vec<&str> = private
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .skip(1)
            .collect();
        assert!(!body.is_empty());
        let elsewhere = cluster.exec(
            node,
            &format!(
                "cat {INSTALL}/state.json {INSTALL}/var/log/* {INSTALL}/etc/ssh_config \
                 {INSTALL}/etc/lsyncd.conf; ps -eo args"
            ),
        );
        let peers = cluster.exec(
            if node == "n1" { "n2" } else { "n1" },
            &format!("cat {INSTALL}/etc/* 2>/dev/null; cat /root/.ssh/authorized_keys"),
        );
        for line in body {
            assert!(
                !elsewhere.contains(line),
                "{node}: key material on the node outside the key file"
            );
            assert!(!peers.contains(line), "{node}: key material on a peer");
            assert!(
                !printed.contains(line),
                "{node}: key material in filesync's output"
            );
        }
    }
}
