//! Waiting on the cluster: polling until a condition holds, timing it, and
//! waiting until every node has a file's content.

use super::cluster::Cluster;
use super::node_files::content;
use std::time::{Duration, Instant};

/// How long a change may take to reach every node.
pub const SYNC: Duration = Duration::from_secs(10);

/// Polls `condition` until it holds or `timeout` passes; true if it held.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
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

/// Waits until every node has `want` at `rel`, then lets the echoes of that
/// change drain (a node that received it pushes it on after one delay, 1 s
/// here): the next step of a test must not race them (see README, limits).
pub fn everywhere(cluster: &Cluster, nodes: &[&str], rel: &str, want: Option<&str>) -> bool {
    let arrived = eventually(SYNC, || {
        nodes
            .iter()
            .all(|node| content(&cluster.synced(node).join(rel)).as_deref() == want)
    });
    std::thread::sleep(Duration::from_secs(3));
    arrived
        && nodes
            .iter()
            .all(|node| content(&cluster.synced(node).join(rel)).as_deref() == want)
}
