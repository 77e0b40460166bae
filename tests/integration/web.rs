//! The problem filesync solves, as a site owner meets it: nginx on every node
//! behind a round-robin load balancer (`testbed/cluster web`). An image
//! uploaded through the balancer lands on one node, so fetches through the
//! balancer get a 404 whenever they reach another; once filesync is installed,
//! every fetch returns the image, also after a node joins and `reconcile` runs.
//! And what the demo and that test rely on: `testbed/cluster web` itself.
//!
//! The balancer has one worker and sends requests to n1, n2, ..., nN, n1, ...
//! in turn, so any N fetches in a row reach every node once: the counts below
//! are exact, not a matter of luck.

use crate::support::cluster::Cluster;
use crate::support::run::install;
use crate::support::wait::eventually;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Time for a change to reach every node (delay 1 s) or for the startup push.
const SPREAD: Duration = Duration::from_secs(30);

/// One HTTP exchange: the status, the node that answered (its X-Served-By
/// header, which the balancer passes on) and the body.
#[derive(Debug)]
struct Reply {
    status: u16,
    node: String,
    body: Vec<u8>,
}

/// `curl ARGS URL`: the body on stdout, the status and the node on stderr.
fn curl(args: &[&str], url: &str) -> Reply {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(["-w", "%{stderr}%{http_code} %header{x-served-by}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    let meta = String::from_utf8_lossy(&output.stderr).trim().to_string();
    let (status, node) = meta.split_once(' ').unwrap_or((&meta, ""));
    Reply {
        status: status
            .parse()
            .unwrap_or_else(|_| panic!("curl {url}: no status ({meta:?})")),
        node: node.to_string(),
        body: output.stdout,
    }
}

/// Uploads `image` to `url` by HTTP PUT; panics unless it was created.
fn upload(url: &str, image: &[u8], dir: &Path) -> Reply {
    let file = dir.join("upload");
    std::fs::write(&file, image).unwrap();
    let reply = curl(&["-T", file.to_str().unwrap()], url);
    assert_eq!(reply.status, 201, "PUT {url}: {reply:?}");
    reply
}

/// `count` GETs of `url` in a row.
fn fetch(url: &str, count: usize) -> Vec<Reply> {
    (0..count).map(|_| curl(&[], url)).collect()
}

/// How many of `replies` each node answered.
fn per_node(replies: &[Reply]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for reply in replies {
        *counts.entry(reply.node.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Whether every reply is a 200 carrying `image`.
fn all_serve(replies: &[Reply], image: &[u8]) -> bool {
    replies
        .iter()
        .all(|reply| reply.status == 200 && reply.body == image)
}

/// "n1 200, n2 404, ...", for failure messages.
fn summary(replies: &[Reply]) -> String {
    let lines: Vec<String> = replies
        .iter()
        .map(|reply| format!("{} {}", reply.node, reply.status))
        .collect();
    lines.join(", ")
}

/// Bytes of a made-up image, different for every `seed` (PNG signature, then
/// 64 KiB that no other upload of the test has).
fn image(seed: u64) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    bytes.extend((0..65536).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    bytes
}

/// Fetches `url` until every one of `rounds` rounds of fetches returns
/// `image` from every node, or `SPREAD` passes; the last replies otherwise.
fn served_everywhere(url: &str, image: &[u8], nodes: usize) -> Result<(), String> {
    let mut last = Vec::new();
    if eventually(SPREAD, || {
        last = fetch(url, nodes);
        all_serve(&last, image)
    }) {
        Ok(())
    } else {
        Err(summary(&last))
    }
}

#[test]
fn an_upload_through_the_balancer_404s_on_other_nodes_until_filesync_then_every_fetch_returns_it() {
    let Some(cluster) = Cluster::up("weba", 3, 170) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let balancer = cluster.web();
    let photo = format!("{balancer}/ROOT/wp-content/uploads/2026/11/photo.png");
    let first = image(1);

    // Before filesync: the image is on the node that took the upload only.
    // Six fetches reach each of the three nodes twice: that node's two
    // replies carry the image, the four others are 404.
    let took = upload(&photo, &first, scratch.path()).node;
    let before = fetch(&photo, 6);
    assert_eq!(
        per_node(&before),
        BTreeMap::from([("n1", 2), ("n2", 2), ("n3", 2)]),
        "round robin: {}",
        summary(&before)
    );
    for reply in &before {
        if reply.node == took {
            assert!(reply.status == 200 && reply.body == first, "{reply:?}");
        } else {
            assert_eq!(reply.status, 404, "{} (upload went to {took})", reply.node);
        }
    }

    // filesync's startup push brings the image to the other nodes.
    install(&cluster);
    if let Err(last) = served_everywhere(&photo, &first, 3) {
        panic!("after install, fetches still fail: {last}");
    }
    let after = fetch(&photo, 6);
    assert!(all_serve(&after, &first), "{}", summary(&after));
    assert_eq!(per_node(&after).len(), 3, "{}", summary(&after));

    // A new upload spreads within the sync delay.
    let banner = format!("{balancer}/ROOT/wp-content/uploads/2026/11/banner.png");
    let second = image(2);
    upload(&banner, &second, scratch.path());
    if let Err(last) = served_everywhere(&banner, &second, 3) {
        panic!("a new upload did not reach every node: {last}");
    }

    // A node that joins is behind the balancer at once, without the images
    // (404), until `reconcile` installs filesync on it.
    cluster.add_nodes(1, &[]);
    let joined = fetch(&photo, 4);
    let n4: Vec<&Reply> = joined.iter().filter(|reply| reply.node == "n4").collect();
    assert!(n4.len() == 1 && n4[0].status == 404, "{}", summary(&joined));
    let (code, stdout, stderr) = cluster.run(&["reconcile", "--env", &cluster.name]);
    assert_eq!(code, 0, "reconcile failed:\n{stdout}\n{stderr}");
    for (url, bytes) in [(&photo, &first), (&banner, &second)] {
        if let Err(last) = served_everywhere(url, bytes, 4) {
            panic!("after reconcile, {url} still fails: {last}");
        }
    }
}

/// (node, status) of each reply, sorted; every 200 must carry `body`.
fn who_answered(replies: Vec<Reply>, body: &[u8]) -> Vec<(String, u16)> {
    let mut answers = Vec::new();
    for reply in replies {
        assert!(reply.status != 200 || reply.body == body, "{reply:?}");
        answers.push((reply.node, reply.status));
    }
    answers.sort();
    answers
}

/// Whether a process runs with `needle` in its command line.
fn process_with(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
            .unwrap_or(false)
    })
}

#[test]
fn testbed_web_servers_come_back_after_a_restart_and_down_stops_the_balancer() {
    let Some(cluster) = Cluster::up("webb", 2, 171) else {
        return;
    };
    let balancer = cluster.web();
    assert_eq!(balancer, "http://10.213.171.1:8080");
    let bad = cluster.testbed(&["web", "--port", "0"]);
    assert!(
        !bad.status.success()
            && String::from_utf8_lossy(&bad.stderr).contains("--port must be 1..65535"),
        "{bad:?}"
    );

    // The URL path is the path under the webroot; n2 alone has the file.
    std::fs::write(cluster.www("n2").join("webroot/here.txt"), "on n2\n").unwrap();
    let url = format!("{balancer}/here.txt");
    let want = vec![("n1".to_string(), 404), ("n2".to_string(), 200)];
    assert_eq!(who_answered(fetch(&url, 2), b"on n2\n"), want);

    // A restarted node starts its web server again.
    let restart = cluster.testbed(&["restart", "n2"]);
    assert!(restart.status.success(), "{restart:?}");
    assert_eq!(who_answered(fetch(&url, 2), b"on n2\n"), want);

    let conf = cluster.dir.join("web/balancer.conf");
    let conf = conf.to_str().unwrap();
    assert!(process_with(conf), "no balancer running");
    let down = cluster.testbed(&["down"]);
    assert!(down.status.success(), "{down:?}");
    assert!(!process_with(conf), "the balancer outlived `down`");
}
