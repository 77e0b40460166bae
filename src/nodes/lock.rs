//! The operator lock: a run that changes nodes (install, reconcile, uninstall)
//! first takes a lock on every node it reaches, so two operators cannot apply
//! plans to the same environment at once. The lock is a directory next to the
//! install directory (`mkdir` is atomic) holding one line that names its holder
//! (`owner`).
//! Nodes are locked one by one in name order: whoever gets the first node wins,
//! the other stops before changing anything. A lock left by a run that died on
//! this same machine is taken over; one held from elsewhere only with
//! `--break-lock`.

use crate::cli::Global;
use crate::error::{Error, Result};
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::node::Node;
use crate::nodes::remote;
use crate::source::inventory::Node as InventoryNode;

mod owner;
pub use owner::Owner;

/// Whether a lock can be taken over without asking: its holder ran on this
/// machine and is gone (`alive` tells whether a pid still runs here).
pub fn is_stale(holder: &Owner, me: &Owner, alive: impl Fn(u32) -> bool) -> bool {
    holder.host == me.host && holder.pid != me.pid && !alive(holder.pid)
}

/// Whether process `pid` runs on this machine.
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The lock as taken on some nodes; give it back with `release`.
pub struct Held {
    owner: Owner,
    path: String,
    nodes: Vec<String>,
}

/// What a node answered to an attempt to lock it.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Acquired,
    /// Someone holds it; the owner line as found (empty while being written).
    Held(String),
}

pub fn parse_attempt(output: &str) -> Attempt {
    match output.trim_end().split_once('\n') {
        None if output.trim() == "acquired" => Attempt::Acquired,
        Some((_, owner)) => Attempt::Held(owner.trim().to_string()),
        None => Attempt::Held(String::new()),
    }
}

/// Locks every node of `fleet`, in name order. On a node held by someone
/// else, gives back what it took and fails, naming the holder.
pub async fn acquire(
    fleet: &Fleet,
    install: &InstallDir,
    command: &str,
    break_lock: bool,
) -> Result<Held> {
    let owner = Owner::me(command);
    let mut held = Held {
        path: install.lock_dir(),
        owner,
        nodes: Vec::new(),
    };
    for (name, node) in &fleet.nodes {
        match take(node, &held, break_lock).await {
            Ok(()) => held.nodes.push(name.clone()),
            Err(err) => {
                held.release(fleet).await;
                return Err(err);
            }
        }
    }
    Ok(held)
}

/// Connects to `nodes` and locks them for `command`; on failure nothing is
/// left open or locked.
pub async fn connect_locked(
    global: &Global,
    nodes: &[InventoryNode],
    install: &InstallDir,
    command: &str,
) -> Result<(Fleet, Held)> {
    let fleet = Fleet::connect_for(global, nodes).await?;
    match acquire(&fleet, install, command, global.break_lock).await {
        Ok(held) => Ok((fleet, held)),
        Err(err) => {
            fleet.close().await;
            Err(err)
        }
    }
}

async fn take<N: Node>(node: &N, held: &Held, break_lock: bool) -> Result<()> {
    let line = held.owner.line();
    let script = remote::take_lock(&held.path, &line)?;
    let Attempt::Held(found) = parse_attempt(&node.run(&script, None).await?) else {
        return Ok(());
    };
    let holder = Owner::parse(&found);
    let stale = holder
        .as_ref()
        .is_some_and(|h| is_stale(h, &held.owner, alive));
    if !(stale || break_lock) {
        return Err(Error::Locked {
            node: node.name().to_string(),
            holder: holder.map_or_else(
                || "another filesync run (it is just taking the lock)".into(),
                |h| h.describe(),
            ),
        });
    }
    let why = if stale { "stale lock of" } else { "lock of" };
    eprintln!(
        "{}: taking over the {why} {}",
        node.name(),
        holder.map_or_else(|| found.clone(), |h| h.describe())
    );
    let script = remote::break_lock(&held.path, &found, &line)?;
    match parse_attempt(&node.run(&script, None).await?) {
        Attempt::Acquired => Ok(()),
        Attempt::Held(other) => Err(Error::Locked {
            node: node.name().to_string(),
            holder: Owner::parse(&other).map_or(other, |h| h.describe()),
        }),
    }
}

impl Held {
    /// Gives the lock back on every node that has it (best effort: a node that
    /// cannot be reached keeps a lock that the next run here takes over).
    pub async fn release(self, fleet: &Fleet) {
        let Ok(script) = remote::release_lock(&self.path, &self.owner.line()) else {
            return;
        };
        let releases = self
            .nodes
            .iter()
            .filter_map(|name| fleet.nodes.get(name))
            .map(|node| node.run(&script, None));
        futures::future::join_all(releases).await;
    }
}

#[cfg(test)]
mod tests {
    use super::owner::tests::owner;
    use super::*;

    #[test]
    fn only_a_dead_holder_on_this_machine_is_stale() {
        let me = owner("ops", 1);
        assert!(is_stale(&owner("ops", 2), &me, |_| false));
        assert!(!is_stale(&owner("ops", 2), &me, |_| true));
        assert!(!is_stale(&owner("elsewhere", 2), &me, |_| false));
    }

    #[test]
    fn attempts_say_acquired_or_who_holds_the_lock() {
        assert_eq!(parse_attempt("acquired\n"), Attempt::Acquired);
        assert_eq!(
            parse_attempt("held\nhost=a pid=1\n"),
            Attempt::Held("host=a pid=1".into())
        );
        assert_eq!(parse_attempt("held\n"), Attempt::Held(String::new()));
    }
}
