//! Security on the simulated cluster: what a node's sync key can do on its
//! peers (rsync into the synced directory, nothing else), and where secrets
//! may and may not appear.

use crate::support::cluster::Cluster;
use crate::support::node_files::{installation, W};
use crate::support::run::{install, install_args};
use crate::support::wait::everywhere;

/// Pushes as node `from` would, with its key, ssh config and pinned host keys,
/// and the options every honest push carries unless `options` replaces them.
fn push(
    cluster: &Cluster,
    from: &str,
    options: &str,
    what: &str,
    to: &str,
) -> std::process::Output {
    let install = installation();
    cluster.try_exec(
        from,
        &format!("rsync -e 'ssh -F {install}/etc/ssh_config' {options} {what} '{to}'"),
    )
}

const HONEST: &str = "-rlptgo --backup --backup-dir=.filesync/trash/test";

#[test]
fn a_sync_key_can_only_write_into_the_synced_directory_of_its_peers_whatever_their_rsync() {
    // n2 runs Debian 12's own rsync 3.2.7, n3 has no rrsync at all.
    let Some(cluster) = Cluster::builder("sca")
        .nodes(3)
        .subnet(80)
        .old_rsync(&["n2"])
        .no_rrsync(&["n3"])
        .up()
    else {
        return;
    };
    install(&cluster);
    let install = installation();
    let ssh = format!("ssh -F {install}/etc/ssh_config");
    let as_n1 = |command: &str| cluster.try_exec("n1", command);
    cluster.exec(
        "n1",
        "echo pwned > /tmp/payload; mkdir -p /tmp/links/a && ln -sfn /etc /tmp/links/a/evil \
         && ln -sfn ../../../../../../etc /tmp/links/a/up && ln -sfn ../b /tmp/links/a/inside; \
         mkdir -p /tmp/through/a/evil /tmp/through/a/up && echo pwned > /tmp/through/a/evil/filesync-pwned \
         && echo pwned > /tmp/through/a/up/filesync-pwned; \
         echo s > /tmp/setuid && chmod 4755 /tmp/setuid; mknod /tmp/device c 1 3",
    );

    for peer in ["n2", "n3"] {
        let alias = format!("filesync-{peer}");
        // No command and no shell: the key only gets rsync's daemon greeting.
        let shell = as_n1(&format!("{ssh} {alias} id </dev/null"));
        let said = String::from_utf8_lossy(&shell.stdout);
        assert!(!said.contains("uid="), "{peer}: ran a command: {said}");
        assert!(said.contains("@RSYNCD"), "{peer}: {said}");
        let tty = as_n1(&format!("{ssh} -tt {alias} </dev/null"));
        assert!(
            !String::from_utf8_lossy(&tty.stdout).contains('#'),
            "{peer}: got a shell"
        );

        // Writing outside the synced directory: paths, then links and writes through them.
        for target in ["../escaped", "/tmp/escaped", "x/../../escaped"] {
            let _ = push(
                &cluster,
                "n1",
                HONEST,
                "/tmp/payload",
                &format!("{alias}::sync/{target}"),
            );
            let _ = push(
                &cluster,
                "n1",
                HONEST,
                "/tmp/payload",
                &format!("{alias}:{target}"),
            );
        }
        let links = push(
            &cluster,
            "n1",
            HONEST,
            "/tmp/links/",
            // Each peer in its own directory: what one receives must not meet the other's test.
            &format!("{alias}::sync/{peer}/"),
        );
        assert!(
            links.status.success(),
            "{}",
            String::from_utf8_lossy(&links.stderr)
        );
        let _ = push(
            &cluster,
            "n1",
            HONEST,
            "/tmp/through/",
            &format!("{alias}::sync/{peer}/"),
        );
        let outside = cluster.exec(
            peer,
            &format!(
                "find / -xdev -path /var/lib/filesync-testbed -prune -o \\( -name escaped -o \
                 -name filesync-pwned \\) -not -path '{W}/*' -print 2>/dev/null; true"
            ),
        );
        assert!(
            outside.trim().is_empty(),
            "{peer}: wrote outside: {outside}"
        );
        let kept = cluster.exec(
            peer,
            &format!("find {W}/{peer}/a -maxdepth 1 -type l -printf '%f '"),
        );
        assert_eq!(
            kept.trim(),
            "inside",
            "{peer}: links out of the tree must go"
        );

        // No setuid bit, no device, and a push that would not keep what it replaces is refused.
        let setuid = push(
            &cluster,
            "n1",
            HONEST,
            "/tmp/setuid",
            &format!("{alias}::sync/"),
        );
        assert!(setuid.status.success());
        let mode = cluster.exec(peer, &format!("stat -c %a {W}/setuid"));
        assert_eq!(mode.trim(), "755", "{peer}: setuid bit kept");
        let device = push(
            &cluster,
            "n1",
            &format!("{HONEST} -D"),
            "/tmp/device",
            &format!("{alias}::sync/"),
        );
        assert!(
            !device.status.success(),
            "{peer}: a device node was accepted"
        );
        assert!(
            cluster
                .try_exec(peer, &format!("test -e {W}/device"))
                .status
                .code()
                != Some(0)
        );
        let careless = push(
            &cluster,
            "n1",
            "-rlptgo",
            "/tmp/payload",
            &format!("{alias}::sync/careless"),
        );
        assert!(
            !careless.status.success(),
            "{peer}: a push without --backup was accepted"
        );

        // Reading from the peer (the module is write-only and unlisted).
        cluster.exec(peer, &format!("echo secret > {W}/private-{peer}.txt"));
        let pull = as_n1(&format!(
            "rsync -e '{ssh}' '{alias}::sync/private-{peer}.txt' /tmp/pulled"
        ));
        assert!(!pull.status.success(), "{peer}: the sync key could read");
        let list = as_n1(&format!("rsync -e '{ssh}' '{alias}::'"));
        assert!(
            !String::from_utf8_lossy(&list.stdout).contains("sync"),
            "{peer}: modules listed"
        );
    }

    // The same key from another address is refused (from=).
    cluster.exec("n1", "ip addr add 10.213.80.99/24 dev eth0");
    let direct = format!("{ssh} -o ControlPath=none");
    let ok = as_n1(&format!("{direct} filesync-n2 true </dev/null"));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("@RSYNCD"));
    let foreign = as_n1(&format!(
        "{direct} -o BindAddress=10.213.80.99 filesync-n2 true </dev/null"
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

    let install = installation();
    for node in ["n1", "n2"] {
        let key = cluster.exec(node, &format!("stat -c '%a %U' {install}/etc/sync_key"));
        assert_eq!(key.trim(), "600 root", "{node}: sync key mode/owner");
        let dirs = cluster.exec(node, &format!("stat -c '%a' {install}/run"));
        assert_eq!(dirs.trim(), "700", "{node}: control socket dir");
        // The private key's body, line by line, appears nowhere else.
        let private = cluster.exec(node, &format!("cat {install}/etc/sync_key"));
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
                "cat {install}/state.json {install}/var/log/* {install}/etc/ssh_config \
                 {install}/etc/lsyncd.conf; ps -eo args"
            ),
        );
        let peers = cluster.exec(
            if node == "n1" { "n2" } else { "n1" },
            &format!("cat {install}/etc/* 2>/dev/null; cat /root/.ssh/authorized_keys"),
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
