//! The simulated cluster itself: the per-node options of `testbed/cluster up`
//! and `add` (`--old-rsync`, `--no-rrsync`, `--webroot-owner`) and the private
//! /var/lib/filesync, also across a simulated reboot.

use crate::support::cluster::Cluster;

/// Runs `script` in `node`; (exit code, stdout trimmed).
fn sh(cluster: &Cluster, node: &str, script: &str) -> (i32, String) {
    let output = cluster.try_exec(node, script);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

fn rsync_version(cluster: &Cluster, node: &str) -> String {
    sh(cluster, node, "rsync --version | sed -n 1p").1
}

/// Whether `command -v rrsync` finds it, in dash (sh) and in bash; both must agree.
fn has_rrsync(cluster: &Cluster, node: &str) -> Result<bool, String> {
    let dash = sh(cluster, node, "command -v rrsync");
    let bash = sh(cluster, node, "exec bash -c 'command -v rrsync'");
    match (dash.0, bash.0) {
        (0, 0) => Ok(true),
        (1 | 127, 1 | 127) => Ok(false),
        _ => Err(format!("{node}: sh says {dash:?}, bash says {bash:?}")),
    }
}

#[test]
fn node_options_and_private_var_lib_filesync() {
    let Some(cluster) = Cluster::builder("tbo")
        .nodes(3)
        .subnet(91)
        .old_rsync(&["n2"])
        .no_rrsync(&["n3"])
        .webroot_owner("www-data")
        .up()
    else {
        return;
    };
    // Every check runs; all failures are reported together.
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let old = "rsync  version 3.2.7 ";

    let (n1, n2) = (rsync_version(&cluster, "n1"), rsync_version(&cluster, "n2"));
    check(n2.starts_with(old), format!("n2 (--old-rsync) runs {n2:?}"));
    check(
        !n1.starts_with(old) && n1.starts_with("rsync  version "),
        format!("n1 runs {n1:?}"),
    );

    let (n1, n3) = (has_rrsync(&cluster, "n1"), has_rrsync(&cluster, "n3"));
    check(
        n3 == Ok(false),
        format!("n3 (--no-rrsync): rrsync found: {n3:?}"),
    );
    check(n1 == Ok(true), format!("n1: rrsync found: {n1:?}"));

    for node in ["n1", "n3"] {
        let owners = sh(
            &cluster,
            node,
            "stat -c %U:%G /var/www/webroot /var/www/webroot/ROOT/wp-content",
        )
        .1;
        check(
            owners == "www-data:www-data\nwww-data:www-data",
            format!("{node}: webroot owned by {owners:?}"),
        );
    }

    let (created, _) = sh(
        &cluster,
        "n1",
        "echo n1 >/var/lib/filesync/mark && cat /var/lib/filesync/mark",
    );
    check(
        created == 0,
        "n1: cannot write /var/lib/filesync/mark".into(),
    );
    let (on_n2, _) = sh(&cluster, "n2", "test -e /var/lib/filesync/mark");
    check(
        on_n2 != 0,
        "n1's /var/lib/filesync/mark is visible on n2".into(),
    );
    check(
        !std::path::Path::new("/var/lib/filesync/mark").exists(),
        "n1's /var/lib/filesync/mark is on the host".into(),
    );

    let (n2_mark, _) = sh(&cluster, "n2", "echo n2 >/var/lib/filesync/mark");
    check(
        n2_mark == 0,
        "n2: cannot write /var/lib/filesync/mark".into(),
    );
    let restart = cluster.testbed(&["restart", "n2"]);
    assert!(
        restart.status.success(),
        "restart n2: {}",
        String::from_utf8_lossy(&restart.stderr)
    );
    let n2 = rsync_version(&cluster, "n2");
    check(n2.starts_with(old), format!("n2 after restart runs {n2:?}"));
    let kept = sh(&cluster, "n2", "cat /var/lib/filesync/mark").1;
    check(
        kept == "n2",
        format!("n2's /var/lib/filesync/mark after restart: {kept:?}"),
    );

    cluster.add_nodes(1, &["n4"]);
    let n4 = rsync_version(&cluster, "n4");
    check(
        n4.starts_with(old),
        format!("n4 (added with --old-rsync) runs {n4:?}"),
    );
    let owner = sh(&cluster, "n4", "stat -c %U /var/www/webroot").1;
    check(
        owner == "www-data",
        format!("n4: webroot owned by {owner:?}"),
    );

    assert!(
        failures.is_empty(),
        "testbed checks failed:\n{}",
        failures.join("\n")
    );
}
