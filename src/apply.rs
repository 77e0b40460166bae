//! Executes a plan: phase by phase (prepare, configure, activate, join), nodes
//! in parallel (bounded), every failure recorded and the other nodes carried on.
//! A node that fails in one phase sits out the later ones.
//!
//! It renders nothing and decides nothing: each action carries what it writes
//! (`plan`), and is turned into its script by a pure function of `remote`. What
//! it carries forward between phases is what only the run itself can know: the
//! sync keys generated in Prepare, which complete the authorized_keys entries
//! that await them (`plan::AuthorizedKeysFile::content`), and each node's clock
//! when its lsyncd started, which a joiner's wait for its initial copy needs.

use crate::desired::NodeConfig;
use crate::error::NodeFailure;
use crate::layout;
use crate::node::Node;
use crate::plan::{self, Action, Phase, Plan};
use crate::probe::Observed;
use crate::progress::Progress;
use crate::push_record::PushRecord;
use crate::remote;
use crate::render;
use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What happened on each node.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub failed: Vec<NodeFailure>,
}

/// Everything the executor needs about one node besides its actions.
pub struct Target<'a, N> {
    pub node: &'a N,
    pub config: &'a NodeConfig,
    pub observed: &'a Observed,
}

/// How long a joining node waits for the installed nodes' initial copy before it
/// starts anyway (nothing is lost either way; see `plan::sequence_joins`).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(600);

/// What earlier phases learned, for later ones.
#[derive(Default)]
struct Learned {
    /// The sync public keys generated in Prepare, by node.
    generated: BTreeMap<String, String>,
    /// Each node's clock when its lsyncd was (re)started in Activate.
    activated_at: BTreeMap<String, u64>,
}

/// Applies `plan` to `targets`.
pub async fn apply<N: Node>(
    plan: &Plan,
    targets: &BTreeMap<String, Target<'_, N>>,
    parallel: usize,
    progress: &Progress,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut learned = Learned::default();
    let mut alive: Vec<&plan::NodePlan> = Vec::new();
    for node_plan in &plan.nodes {
        if node_plan.actions.is_empty() {
            progress.finish(&node_plan.node, "no changes");
            outcome.unchanged.push(node_plan.node.clone());
        } else {
            alive.push(node_plan);
        }
    }
    for phase in Phase::ALL {
        let known = &learned;
        let results: Vec<(String, Result<Option<String>>)> = stream::iter(alive.iter())
            .map(|node_plan| async move {
                let target = &targets[&node_plan.node];
                let actions = node_plan.actions.iter().filter(|a| a.phase() == phase);
                let mut reply = None;
                for action in actions {
                    progress.step(&node_plan.node, &format!("[{}] {action}", phase.step()));
                    match run(target, action, known, targets, progress).await {
                        Ok(answer) => reply = reply.or(answer),
                        Err(err) => {
                            return (node_plan.node.clone(), Err(err.context(action.to_string())))
                        }
                    }
                }
                (node_plan.node.clone(), Ok(reply))
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
        for (name, result) in results {
            match result {
                Ok(Some(reply)) if phase == Phase::Prepare => {
                    learned.generated.insert(name, reply);
                }
                Ok(Some(reply)) => {
                    // (the last line: a node's shell profile may print before it)
                    let clock = reply.lines().rev().find(|line| !line.trim().is_empty());
                    if let Some(Ok(at)) = clock.map(|line| line.trim().parse()) {
                        learned.activated_at.insert(name, at);
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    progress.finish(&name, &format!("failed: {err:#}"));
                    alive.retain(|p| p.node != name);
                    outcome.failed.push(NodeFailure {
                        node: name,
                        reason: format!("{err:#}"),
                    });
                }
            }
        }
    }
    for node_plan in alive {
        progress.finish(&node_plan.node, "done");
        outcome.changed.push(node_plan.node.clone());
    }
    outcome.failed.sort_by(|a, b| a.node.cmp(&b.node));
    outcome
}

/// Runs one action; returns what a later phase needs from it: the sync public
/// key a node generated, or the node's clock when its lsyncd started.
async fn run<N: Node>(
    target: &Target<'_, N>,
    action: &Action,
    learned: &Learned,
    targets: &BTreeMap<String, Target<'_, N>>,
    progress: &Progress,
) -> Result<Option<String>> {
    let Target {
        node,
        config,
        observed,
    } = target;
    let install = &config.install;
    let (script, stdin): (String, Option<Vec<u8>>) = match action {
        Action::InstallPackages { manager, packages } => {
            let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
            (
                remote::install_packages(*manager, &packages, observed.privilege)?,
                None,
            )
        }
        Action::RaiseInotifyWatches { to, .. } => {
            (remote::raise_inotify_watches(*to, observed.privilege), None)
        }
        Action::MoveFromWebroot { .. } => (remote::move_from_webroot(install)?, None),
        Action::CreateInstallDir { .. } => (
            remote::prepare_install_dir(install, observed.privilege, &observed.user)?,
            None,
        ),
        Action::GenerateSyncKey => {
            let comment = format!("filesync@{}", config.node);
            let output = node
                .run(&remote::ensure_sync_key(install, &comment)?, None)
                .await?;
            let key = render::public_key(output.trim()).context("reading the new sync key")?;
            return Ok(Some(key));
        }
        Action::WriteFile {
            path,
            mode,
            content,
            ..
        } => remote::write_file(&install.join(path), *mode, content.as_bytes())?,
        Action::WriteSecret { path, content } => {
            remote::write_file(&install.join(path), 0o600, content.as_bytes())?
        }
        Action::RemoveFile { path } => (remote::remove_file(&install.join(path))?, None),
        Action::CreateExcludesFile => {
            remote::create_file(&install.join(layout::EXCLUDES), 0o644, b"")?
        }
        Action::UpdateAuthorizedKeys { file, .. } => {
            let content = file.content(&learned.generated);
            remote::write_file(&file.path, 0o600, content.as_bytes())?
        }
        Action::UpdateCrontab { content, .. } => remote::set_crontab(content.as_bytes())?,
        Action::FullStartupPush { to, link } => {
            let mut peers: Vec<String> =
                to.iter().map(|name| crate::desired::alias(name)).collect();
            if *link {
                peers.push(layout::PEER_ENV_RECORD.to_string());
            }
            (remote::full_startup_push(install, &peers)?, None)
        }
        Action::DrainLsyncd => (remote::node_ctl(install, "hold")?, None),
        Action::StartLsyncd | Action::RestartLsyncd => {
            let verb = if *action == Action::StartLsyncd {
                "start"
            } else {
                "restart"
            };
            let clock = node.run(&remote::activate(install, verb)?, None).await?;
            return Ok(Some(clock));
        }
        Action::StartAfterInitialCopy { from } => {
            if !wait_for_initial_copy(targets, learned, from, target, progress).await? {
                progress.step(
                    &config.node,
                    &format!("{from} did not finish its initial copy in time; starting anyway"),
                );
            }
            (remote::node_ctl(install, "start")?, None)
        }
        Action::WriteState { content } => {
            remote::write_file(&install.join(layout::STATE), 0o644, content.as_bytes())?
        }
    };
    node.run(&script, stdin.as_deref()).await?;
    Ok(None)
}

/// Waits until `pusher` has pushed to `joiner` successfully since its lsyncd
/// (re)started in this run (its startup sync: everything it has), showing
/// how many items the joiner holds meanwhile. False on timeout; an error
/// when `pusher` never started in this run.
async fn wait_for_initial_copy<N: Node>(
    targets: &BTreeMap<String, Target<'_, N>>,
    learned: &Learned,
    pusher: &str,
    joiner: &Target<'_, N>,
    progress: &Progress,
) -> Result<bool> {
    let (Some(target), Some(since)) = (targets.get(pusher), learned.activated_at.get(pusher))
    else {
        // It failed before it started: nobody sends this node a whole copy.
        // The node is not recorded as installed, so the next run seeds it.
        anyhow::bail!(
            "{pusher}, which was to send this node everything it has, did not start; \
             rerun to finish"
        );
    };
    let name = &joiner.config.node;
    let script = remote::push_record(&target.config.install, &crate::desired::alias(name))?;
    let tree = remote::tree_size(&joiner.config.source)?;
    let expected = tree_entries(target.observed);
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let (mut polls, mut shown) = (0u32, None);
    while Instant::now() < deadline {
        let record = target.node.run(&script, None).await.unwrap_or_default();
        if PushRecord::parse(&record).is_some_and(|record| record.succeeded_since(*since)) {
            return Ok(true);
        }
        // every 5 s: how much of the tree the joiner holds
        if polls % 10 == 9 {
            let output = joiner.node.run(&tree, None).await.unwrap_or_default();
            if let Ok(held) = output.trim().parse::<u64>() {
                if shown != Some(held) {
                    shown = Some(held);
                    let message = copy_progress(pusher, held, expected);
                    progress.step(name, &format!("[{}] {message}", Phase::Join.step()));
                }
            }
        }
        polls += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(false)
}

/// How many entries the synced directory held when probed (the directory
/// itself not counted).
fn tree_entries(seen: &Observed) -> Option<u64> {
    let dir = seen.sync_dir.as_ref()?;
    Some((dir.dirs + dir.files).saturating_sub(1))
}

/// `initial copy from n1: 1200 of 5000 items here`.
fn copy_progress(pusher: &str, held: u64, expected: Option<u64>) -> String {
    match expected {
        Some(expected) if expected >= held && expected > 0 => {
            format!("initial copy from {pusher}: {held} of {expected} items here")
        }
        _ => format!("initial copy from {pusher}: {held} items here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::fresh;
    use crate::probe::SyncDir;

    #[test]
    fn the_initial_copy_shows_how_much_of_the_seeders_tree_is_here() {
        let mut seeder = fresh();
        seeder.sync_dir = Some(SyncDir {
            exists: true,
            dirs: 101,
            files: 4900,
            mounts: vec![],
        });
        let expected = tree_entries(&seeder);
        assert_eq!(expected, Some(5000));
        assert_eq!(
            copy_progress("n1", 1200, expected),
            "initial copy from n1: 1200 of 5000 items here"
        );
        // more than the seeder had (the joiner's own files): no total
        assert_eq!(
            copy_progress("n1", 6000, expected),
            "initial copy from n1: 6000 items here"
        );
        assert_eq!(
            copy_progress("n1", 0, Some(0)),
            "initial copy from n1: 0 items here"
        );
    }
}
