//! The data plane on the simulated cluster: a change costs one transfer per
//! peer and is never pushed back; changes made on one node are never undone by
//! another; local changes spread whatever their modification time; what sync
//! replaces is kept; one-node environments grow; restarts bring nothing back.
//! Node n2 of most clusters runs Debian 12's own rsync 3.2.7.

use crate::support::cluster::Cluster;
use crate::support::node_files::{content, W};
use crate::support::run::{install, verify_identical};
use crate::support::wait::{eventually, everywhere};
use std::fs;
use std::time::Duration;

/// Three nodes, n2 with Debian 12's rsync 3.2.7.
fn three_nodes(name: &str, subnet: u8) -> Option<Cluster> {
    Cluster::builder(name)
        .nodes(3)
        .subnet(subnet)
        .old_rsync(&["n2"])
        .up()
}

/// rsync calls lsyncd made on a node so far (one line each in its log).
fn rsync_calls(cluster: &Cluster, node: &str) -> usize {
    fs::read_to_string(cluster.installation(node).join("var/log/lsyncd.log"))
        .unwrap_or_default()
        .matches("Calling rsync")
        .count()
}

fn calls(cluster: &Cluster, nodes: &[&str]) -> Vec<usize> {
    nodes.iter().map(|n| rsync_calls(cluster, n)).collect()
}

#[test]
fn a_change_costs_one_transfer_per_peer_and_is_never_pushed_back() {
    let Some(cluster) = Cluster::builder("dpa")
        .nodes(4)
        .subnet(101)
        .old_rsync(&["n2"])
        .up()
    else {
        return;
    };
    let all = ["n1", "n2", "n3", "n4"];
    install(&cluster);
    std::thread::sleep(Duration::from_secs(2));
    let before = calls(&cluster, &all);
    cluster.exec(
        "n1",
        &format!("mkdir -p {W}/uploads/2026 && echo one > {W}/uploads/2026/a.jpg"),
    );
    assert!(everywhere(
        &cluster,
        &all,
        "uploads/2026/a.jpg",
        Some("one\n")
    ));
    let after = calls(&cluster, &all);
    let made: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(
        made,
        [3, 0, 0, 0],
        "rsync calls per node for one change on n1 (N-1 from the origin, no echo)"
    );

    // A receiver's own later change of the same file is its own, and spreads.
    cluster.exec("n3", &format!("echo three >> {W}/uploads/2026/a.jpg"));
    assert!(everywhere(
        &cluster,
        &all,
        "uploads/2026/a.jpg",
        Some("one\nthree\n")
    ));
    let last: Vec<usize> = calls(&cluster, &all)
        .iter()
        .zip(&after)
        .map(|(a, b)| a - b)
        .collect();
    assert_eq!(last, [0, 0, 3, 0], "{last:?}");
}

#[test]
fn changes_made_on_one_node_are_never_undone_by_another() {
    let Some(cluster) = three_nodes("dpb", 102) else {
        return;
    };
    let all = ["n1", "n2", "n3"];
    let env = cluster.name.clone();
    let (code, out, err) = cluster.run(&[
        "install",
        "--env",
        &env,
        "--path",
        "/ROOT/wp-content",
        "--delay",
        "2",
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Created, then deleted 2.8 s later: with echoes the file came back.
    for round in 0..3 {
        cluster.exec("n1", &format!("echo {round} > {W}/short-lived-{round}.txt"));
        std::thread::sleep(Duration::from_millis(2800));
        cluster.exec("n1", &format!("rm {W}/short-lived-{round}.txt"));
    }
    // Created then renamed, a rename chain, a directory moved.
    cluster.exec(
        "n2",
        &format!(
            "echo r > {W}/r1.txt; sleep 2.5; mv {W}/r1.txt {W}/r2.txt; sleep 2.5; \
             mv {W}/r2.txt {W}/r3.txt; mkdir -p {W}/album/2026 && echo p > {W}/album/2026/p.jpg; \
             sleep 2.5; mv {W}/album {W}/album-old"
        ),
    );
    assert!(everywhere(
        &cluster,
        &all,
        "album-old/2026/p.jpg",
        Some("p\n")
    ));
    std::thread::sleep(Duration::from_secs(6));
    for node in all {
        let tree = cluster.exec(
            node,
            &format!("cd {W} && find . -path ./.filesync -prune -o -print | sort"),
        );
        assert_eq!(
            tree.trim(),
            ".\n./album-old\n./album-old/2026\n./album-old/2026/p.jpg\n./r3.txt",
            "{node} does not show the last state of the changes made on n1 and n2"
        );
    }
    verify_identical(&cluster);
}

#[test]
fn a_change_with_an_old_modification_time_spreads_and_repair_keeps_it() {
    let Some(cluster) = three_nodes("dpc", 103) else {
        return;
    };
    let all = ["n1", "n2", "n3"];
    install(&cluster);
    cluster.exec("n1", &format!("echo current > {W}/logo.png"));
    assert!(everywhere(&cluster, &all, "logo.png", Some("current\n")));

    // n3 restores last year's copy: cp -p keeps its old time; so does tar x.
    cluster.exec(
        "n3",
        &format!(
            "echo restored > /tmp/logo.png && touch -d '1 year ago' /tmp/logo.png && \
             cp -p /tmp/logo.png {W}/logo.png && mkdir -p /tmp/t && echo theme > /tmp/t/theme.css && \
             touch -d '2 years ago' /tmp/t/theme.css && tar -C /tmp/t -cf /tmp/t.tar theme.css && \
             tar -C {W} -xf /tmp/t.tar"
        ),
    );
    assert!(
        everywhere(&cluster, &all, "logo.png", Some("restored\n")),
        "the restored copy did not spread"
    );
    assert!(everywhere(&cluster, &all, "theme.css", Some("theme\n")));

    let (code, out, err) = cluster.run(&["verify", "--env", &cluster.name, "--repair"]);
    assert_eq!(code, 0, "{out}{err}");
    for node in all {
        assert_eq!(
            content(&cluster.synced(node).join("logo.png")).as_deref(),
            Some("restored\n"),
            "{node}: verify --repair reverted the restore"
        );
    }
}

#[test]
fn what_sync_replaces_or_deletes_is_kept_and_can_be_put_back() {
    let Some(cluster) = three_nodes("dpd", 104) else {
        return;
    };
    let all = ["n1", "n2", "n3"];
    let env = cluster.name.clone();
    install(&cluster);
    cluster.exec(
        "n1",
        &format!("mkdir -p {W}/docs && echo v1 > {W}/docs/contract.pdf"),
    );
    assert!(everywhere(
        &cluster,
        &all,
        "docs/contract.pdf",
        Some("v1\n")
    ));
    cluster.exec("n1", &format!("echo v2 > {W}/docs/contract.pdf"));
    assert!(everywhere(
        &cluster,
        &all,
        "docs/contract.pdf",
        Some("v2\n")
    ));
    cluster.exec("n3", &format!("rm {W}/docs/contract.pdf"));
    assert!(everywhere(&cluster, &all, "docs/contract.pdf", None));

    let (code, out, err) = cluster.run(&[
        "--output",
        "json",
        "trash",
        "list",
        "--env",
        &env,
        "--path",
        "docs/contract.pdf",
    ]);
    assert_eq!(code, 0, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kept = |node: &str| -> Vec<(String, u64)> {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["node"] == node)
            .unwrap()["kept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["by"].as_str().unwrap().to_string(),
                    k["size"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // n2 kept v1 (replaced by n1) and v2 (deleted by n3); n3 kept v1 only (it deleted v2 itself).
    assert_eq!(kept("n2"), [("n3".to_string(), 3), ("n1".to_string(), 3)]);
    assert_eq!(kept("n3"), [("n1".to_string(), 3)]);
    assert!(kept("n1").iter().any(|(by, _)| by == "n3"));

    // Put v2 back on n2 (the newest copy there): it spreads like a change made on n2.
    let (code, out, err) = cluster.run(&[
        "trash",
        "restore",
        "--env",
        &env,
        "--node",
        "n2",
        "docs/contract.pdf",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("restored docs/contract.pdf"), "{out}");
    assert!(everywhere(
        &cluster,
        &all,
        "docs/contract.pdf",
        Some("v2\n")
    ));

    let (code, _, err) = cluster.run(&[
        "trash",
        "restore",
        "--env",
        &env,
        "--node",
        "n2",
        "docs/none.pdf",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("trash list"), "{err}");
    let (code, _, err) = cluster.run(&[
        "trash",
        "restore",
        "--env",
        &env,
        "--node",
        "n2",
        "../../etc/passwd",
    ]);
    assert_eq!(code, 3, "{err}");

    // Uninstall keeps the trash (old versions of the users' files), and an
    // install afterwards takes the directory back, trash included.
    let (code, out, err) = cluster.run(&["uninstall", "--env", &env, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("kept what sync replaced or deleted"),
        "{out}{err}"
    );
    install(&cluster);
    assert_eq!(kept("n3"), [("n1".to_string(), 3)]);
}

#[test]
fn an_environment_of_one_node_installs_is_healthy_and_grows() {
    let Some(cluster) = Cluster::builder("dpe").nodes(2).subnet(105).up() else {
        return;
    };
    let full = fs::read_to_string(&cluster.inventory).unwrap();
    cluster.drop_from_inventory("n2");
    cluster.exec("n1", &format!("echo before > {W}/before.txt"));
    install(&cluster);
    let (code, out, err) = cluster.run(&["status", "--env", &cluster.name]);
    assert_eq!(code, 0, "a one-node environment is healthy:\n{out}{err}");
    assert!(out.contains("no peers yet"), "{out}");

    fs::write(&cluster.inventory, full).unwrap();
    cluster.exec("n2", &format!("echo mine > {W}/from-n2.txt"));
    let (code, out, err) = cluster.run(&["reconcile", "--env", &cluster.name]);
    assert_eq!(code, 0, "{out}{err}");
    let both = ["n1", "n2"];
    assert!(everywhere(&cluster, &both, "before.txt", Some("before\n")));
    assert!(everywhere(&cluster, &both, "from-n2.txt", Some("mine\n")));
    cluster.exec("n1", &format!("echo later > {W}/later.txt"));
    assert!(everywhere(&cluster, &both, "later.txt", Some("later\n")));
    let (code, out, _) = cluster.run(&["status", "--env", &cluster.name]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_reconcile_that_adds_a_node_brings_back_nothing_deleted_meanwhile() {
    let Some(cluster) = Cluster::builder("dpf").nodes(2).subnet(106).up() else {
        return;
    };
    install(&cluster);
    let two = ["n1", "n2"];
    for i in 0..20 {
        cluster.exec("n1", &format!("echo {i} > {W}/f{i}.txt"));
    }
    assert!(everywhere(&cluster, &two, "f19.txt", Some("19\n")));
    cluster.add_nodes(1, &[]);
    // Deleted on both sides just before the restarts that the reconcile makes.
    cluster.exec("n1", &format!("rm {W}/f1.txt {W}/f2.txt {W}/f3.txt"));
    cluster.exec("n2", &format!("rm {W}/f4.txt {W}/f5.txt"));
    let (code, out, err) = cluster.run(&["reconcile", "--env", &cluster.name]);
    assert_eq!(code, 0, "{out}{err}");
    let all = ["n1", "n2", "n3"];
    assert!(everywhere(&cluster, &all, "f19.txt", Some("19\n")));
    std::thread::sleep(Duration::from_secs(3));
    for node in all {
        for i in 1..=5 {
            assert!(
                !cluster.synced(node).join(format!("f{i}.txt")).exists(),
                "{node}: f{i}.txt came back after the restarts"
            );
        }
    }
    verify_identical(&cluster);
}

/// A small deterministic generator (xorshift), for the churn.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One shell script of `ops` random creates, overwrites, deletes and (with
/// `renames`) renames and directory moves inside `dir` (relative to the
/// synced directory), with short pauses so that they spread over several
/// delays.
fn churn_script(rng: &mut Rng, dir: &str, ops: usize, renames: bool) -> String {
    let mut script = format!("set -e\ncd {W}\nmkdir -p {dir}/d0\n");
    for op in 0..ops {
        let file = format!("{dir}/d{}/f{}.txt", rng.below(3), rng.below(8));
        let other = format!("{dir}/d{}/f{}.txt", rng.below(3), rng.below(8));
        let kinds = if renames { 6 } else { 4 };
        let line = match rng.below(kinds) {
            0 | 1 => format!(
                "mkdir -p {d} && echo {op}-{} > {file}",
                rng.next(),
                d = parent(&file)
            ),
            2 => format!("[ -f {file} ] && echo more-{op} >> {file} || true"),
            3 if !renames => format!("rm -f {file}"),
            3 => format!(
                "[ -f {file} ] && mkdir -p {d} && mv -f {file} {other} || true",
                d = parent(&other)
            ),
            4 => format!("rm -f {file}"),
            _ => {
                let (a, b) = (rng.below(3), rng.below(3));
                format!(
                    "[ -d {dir}/d{a} ] && [ ! -e {dir}/d{b} ] && mv {dir}/d{a} {dir}/d{b} || true"
                )
            }
        };
        script.push_str(&line);
        script.push('\n');
        if rng.below(4) == 0 {
            script.push_str(&format!("sleep 0.{}\n", 2 + rng.below(6)));
        }
    }
    script
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or(".")
}

/// Every path under the synced directory with a digest of its content.
fn tree(cluster: &Cluster, node: &str, under: &str) -> String {
    cluster.exec(
        node,
        &format!(
            "cd {W} && find {under} -path ./.filesync -prune -o -type f -print0 2>/dev/null \
             | LC_ALL=C sort -z | xargs -0r sha256sum; find {under} -type d | LC_ALL=C sort"
        ),
    )
}

#[test]
fn multi_master_churn_leaves_every_node_with_what_the_writers_left() {
    let seed: u64 = std::env::var("FILESYNC_CHURN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("churn seed: {seed} (FILESYNC_CHURN_SEED={seed} replays it)");
    let Some(cluster) = three_nodes("dpg", 107) else {
        return;
    };
    let all = ["n1", "n2", "n3"];
    install(&cluster);
    let mut rng = Rng(seed);

    // Phase 1: each node in its own subtree, all at once.
    let scripts: Vec<(String, String)> = all
        .iter()
        .map(|node| {
            (
                node.to_string(),
                churn_script(&mut rng, &format!("w-{node}"), 120, true),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for (node, script) in &scripts {
            let cluster = &cluster;
            scope.spawn(move || cluster.exec(node, script));
        }
    });
    for writer in all {
        let want = tree(&cluster, writer, &format!("w-{writer}"));
        let settled = eventually(Duration::from_secs(60), || {
            all.iter()
                .all(|node| tree(&cluster, node, &format!("w-{writer}")) == want)
        });
        if !settled {
            let differ: Vec<String> = all
                .iter()
                .map(|node| (node, tree(&cluster, node, &format!("w-{writer}"))))
                .filter(|(_, got)| *got != want)
                .map(|(node, got)| format!("{node}:\n{got}"))
                .collect();
            panic!(
                "seed {seed}: the nodes do not hold exactly what {writer} left in w-{writer}\n\
                 {writer} has:\n{want}\n{}",
                differ.join("\n")
            );
        }
    }

    // Phase 2: every node races on the same names: creates, overwrites,
    // appends and deletes (renames racing on the same names are a limit, see
    // the README).
    let scripts: Vec<(String, String)> = all
        .iter()
        .map(|node| {
            (
                node.to_string(),
                churn_script(&mut rng, "shared", 60, false),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for (node, script) in &scripts {
            let cluster = &cluster;
            scope.spawn(move || cluster.exec(node, script));
        }
    });
    let settled = eventually(Duration::from_secs(90), || {
        let first = tree(&cluster, "n1", ".");
        all.iter().all(|node| tree(&cluster, node, ".") == first)
    });
    assert!(
        settled,
        "seed {seed}: the nodes differ after racing on the same names"
    );
    verify_identical(&cluster);
}

#[test]
fn nothing_root_runs_can_be_changed_by_the_webroot_s_owner() {
    let Some(cluster) = Cluster::builder("dph")
        .nodes(2)
        .subnet(108)
        .webroot_owner("www-data")
        .up()
    else {
        return;
    };
    install(&cluster);
    // Every command of root's crontab, what it reads, and every directory above them.
    let script = r#"
for f in $(crontab -l | grep filesync | grep -o '/[^ ]*node-ctl') ; do
  d=$(dirname "$f")
  for p in "$f" "$d"/* "$d"/../etc/* ; do
    while [ "$p" != / ]; do
      if su -s /bin/sh www-data -c "test -w '$p'"; then echo "writable by www-data: $p"; fi
      p=$(dirname "$p")
    done
  done
done
echo checked
"#;
    for node in ["n1", "n2"] {
        let out = cluster.exec(node, script);
        assert_eq!(out.trim(), "checked", "{node}: {out}");
        // The logs are still where users of the reference add-on look.
        let log = cluster.exec(node, "cat /var/www/webroot/lsyncd/var/log/lsyncd.log");
        assert!(log.contains("Startup"), "{node}: {log:?}");
    }
    cluster.exec(
        "n1",
        &format!("su -s /bin/sh www-data -c 'echo up > {W}/upload.jpg'"),
    );
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "upload.jpg",
        Some("up\n")
    ));
    let owner = cluster.exec("n2", &format!("stat -c %U {W}/upload.jpg"));
    assert_eq!(owner.trim(), "www-data");
}
