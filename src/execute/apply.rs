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

use crate::error::NodeFailure;
use crate::execute::progress::Progress;
use crate::model::desired::NodeConfig;
use crate::nodes::layout;
use crate::nodes::node::Node;
use crate::nodes::probe::Observed;
use crate::nodes::push_record::PushRecord;
use crate::nodes::remote;
use crate::plan::{self, Action, Phase, Plan};
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
            let key = crate::plan::authorized_keys::public_key(output.trim())
                .context("reading the new sync key")?;
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
            let mut peers: Vec<String> = to
                .iter()
                .map(|name| crate::model::desired::alias(name))
                .collect();
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
    let script = remote::push_record(&target.config.install, &crate::model::desired::alias(name))?;
    let tree = remote::tree_size(&joiner.config.synced_dir)?;
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
    let dir = seen.synced_dir.as_ref()?;
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
    use crate::model::desired::alias;
    use crate::model::settings::Topology;
    use crate::nodes::node::fake::{FakeNode, File};
    use crate::nodes::probe::SyncedDir;
    use crate::nodes::state::NodeState;
    use crate::plan::tests::{configs, fresh, installed, keys};
    use crate::plan::{node_plan, sequence_joins, NodePlan};
    use crate::render;
    use std::collections::BTreeSet;

    const STARTED: &str = "1700000000";

    /// A node that generates the key `ssh-ed25519 NEW<n>` for `n<n>`, says
    /// its lsyncd started at `STARTED` and that its pushes since succeeded.
    fn fake(name: &str) -> FakeNode {
        let key = format!("ssh-ed25519 NEW{} filesync@{name}\n", &name[1..]);
        FakeNode::new(name)
            .answer("ssh-keygen", &key)
            .answer("STARTED=$(date +%s)", &format!("{STARTED}\n"))
            .answer("/var/log/push-", &format!("{STARTED} 0\n"))
    }

    fn generated(name: &str) -> String {
        format!("ssh-ed25519 NEW{}", &name[1..])
    }

    /// Applies the plans of the nodes in `observed` on `fakes`.
    async fn apply_on(
        fakes: &BTreeMap<String, FakeNode>,
        configs: &BTreeMap<String, NodeConfig>,
        observed: &BTreeMap<String, Observed>,
        known: &BTreeMap<String, String>,
        established: &BTreeSet<String>,
    ) -> Outcome {
        let mut plans: Vec<NodePlan> = observed
            .iter()
            .map(|(name, seen)| node_plan(&configs[name], seen, known, vec![], vec![]).unwrap())
            .collect();
        sequence_joins(&mut plans, configs, established);
        let targets = observed
            .iter()
            .map(|(name, seen)| {
                let target = Target {
                    node: &fakes[name],
                    config: &configs[name],
                    observed: seen,
                };
                (name.clone(), target)
            })
            .collect();
        let plan = Plan {
            env: "prod".into(),
            settings: configs["n1"].settings.clone(),
            nodes: plans,
            unreachable: vec![],
            departed: vec![],
        };
        apply(&plan, &targets, 4, &Progress::hidden()).await
    }

    /// The user's own key, then an entry for each of `pushers` with its key.
    fn authorized_keys(config: &NodeConfig, pushers: &[(&str, String)]) -> File {
        let mut content = "ssh-ed25519 ADMIN me@laptop\n".to_string();
        for (pusher, key) in pushers {
            let entry = render::authorized_key_entry(config, pusher, key).unwrap();
            content.push_str(&format!("{entry}\n"));
        }
        File {
            content,
            mode: 0o600,
        }
    }

    /// The node holds every rendered file and the state of `config`.
    fn assert_configured(node: &FakeNode, config: &NodeConfig) {
        let files = render::files(config).unwrap();
        for file in &files {
            let written = node.file(&config.install.join(file.path));
            assert_eq!(
                written.as_ref().map(|f| (f.content.as_str(), f.mode)),
                Some((file.content.as_str(), file.mode)),
                "{} on {}",
                file.path,
                config.node
            );
        }
        let state = node.file(&config.install.join(layout::STATE)).unwrap();
        assert_eq!(state.content, NodeState::new(config, &files).to_json());
    }

    #[tokio::test]
    async fn a_fresh_install_writes_everything_and_admits_the_keys_generated_in_prepare() {
        let configs = configs(2, Topology::Mesh);
        let fakes: BTreeMap<String, FakeNode> =
            ["n1", "n2"].map(|n| (n.to_string(), fake(n))).into();
        let observed = ["n1", "n2"].map(|n| (n.to_string(), fresh())).into();
        let none = BTreeMap::new();
        let outcome = apply_on(&fakes, &configs, &observed, &none, &BTreeSet::new()).await;
        assert_eq!(outcome.changed, ["n1", "n2"]);
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);

        for (name, peer) in [("n1", "n2"), ("n2", "n1")] {
            let (node, config) = (&fakes[name], &configs[name]);
            let install = &config.install;
            assert_configured(node, config);
            let excludes = node.file(&install.join(layout::EXCLUDES));
            assert_eq!(excludes.map(|f| f.content), Some(String::new()));
            // the peer's key, generated in Prepare, is admitted in Configure
            assert_eq!(
                node.file("/root/.ssh/authorized_keys"),
                Some(authorized_keys(config, &[(peer, generated(peer))]))
            );
            let crontab = node.crontab().unwrap();
            let lines = render::crontab_lines(config).unwrap();
            assert_eq!(crontab, format!("0 3 * * * backup\n{}\n", lines.join("\n")));
            // Prepare, then Activate
            let keygen = remote::ensure_sync_key(install, &format!("filesync@{name}")).unwrap();
            let start = remote::activate(install, "start").unwrap();
            assert!(node.position(&keygen) < node.position(&start));
            assert!(node.position(&start).is_some());
        }
    }

    #[tokio::test]
    async fn a_node_whose_key_could_not_be_made_sits_out_and_is_not_admitted() {
        let configs = configs(2, Topology::Mesh);
        let fakes: BTreeMap<String, FakeNode> = [
            ("n1".to_string(), fake("n1")),
            (
                "n2".to_string(),
                FakeNode::new("n2").fail("ssh-keygen", "disk full"),
            ),
        ]
        .into();
        let observed = ["n1", "n2"].map(|n| (n.to_string(), fresh())).into();
        let none = BTreeMap::new();
        let outcome = apply_on(&fakes, &configs, &observed, &none, &BTreeSet::new()).await;
        assert_eq!(outcome.changed, ["n1"]);
        assert_eq!(outcome.failed[0].node, "n2");
        assert!(outcome.failed[0].reason.contains("disk full"));
        assert_eq!(
            fakes["n1"].file("/root/.ssh/authorized_keys"),
            Some(authorized_keys(&configs["n1"], &[]))
        );
        // n2 stopped after its failed key: nothing was written there
        assert!(fakes["n2"].ran().last().unwrap().contains("ssh-keygen"));
        assert_eq!(fakes["n2"].crontab(), None);
    }

    #[tokio::test]
    async fn a_joining_node_is_admitted_with_its_new_key_and_starts_after_its_seeder() {
        let (before, after) = (configs(2, Topology::Mesh), configs(3, Topology::Mesh));
        let known = keys(2);
        // the installed nodes hold the files they were installed with
        let holding = |name: &str| {
            let config = &before[name];
            let files = render::files(config).unwrap();
            files.into_iter().fold(fake(name), |node, file| {
                node.with_file(&config.install.join(file.path), &file.content, file.mode)
            })
        };
        let fakes: BTreeMap<String, FakeNode> = [
            ("n1".to_string(), holding("n1")),
            ("n2".to_string(), holding("n2")),
            ("n3".to_string(), fake("n3")),
        ]
        .into();
        let observed: BTreeMap<String, Observed> = [
            ("n1".to_string(), installed(&before["n1"], &known)),
            ("n2".to_string(), installed(&before["n2"], &known)),
            ("n3".to_string(), fresh()),
        ]
        .into();
        let established = ["n1".to_string(), "n2".to_string()].into();
        let outcome = apply_on(&fakes, &after, &observed, &known, &established).await;
        assert_eq!(outcome.changed, ["n1", "n2", "n3"]);
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        for (name, node) in &fakes {
            assert_configured(node, &after[name]);
        }

        let (n1, install) = (&fakes["n1"], &after["n1"].install);
        assert_eq!(
            n1.file("/root/.ssh/authorized_keys"),
            Some(authorized_keys(
                &after["n1"],
                &[("n2", known["n2"].clone()), ("n3", generated("n3"))]
            ))
        );
        assert_eq!(n1.crontab(), None, "its crontab lines were right");
        assert_eq!(
            n1.position(&remote::ensure_sync_key(install, "filesync@n1").unwrap()),
            None
        );
        // n1 seeds n3: it drains, then restarts sending n3 everything it has
        let drain = n1.position(&remote::node_ctl(install, "hold").unwrap());
        let everything = remote::full_startup_push(install, &[alias("n3")]).unwrap();
        let restart = n1.position(&remote::activate(install, "restart").unwrap());
        assert!(drain < n1.position(&everything) && n1.position(&everything) < restart);
        assert!(drain.is_some());

        let n3 = &fakes["n3"];
        assert_eq!(
            n3.file("/root/.ssh/authorized_keys"),
            Some(authorized_keys(
                &after["n3"],
                &[("n1", known["n1"].clone()), ("n2", known["n2"].clone())]
            ))
        );
        let seeded = remote::push_record(install, &alias("n3")).unwrap();
        assert!(n1.position(&seeded).is_some(), "n3 waited for n1's push");
        let start = remote::node_ctl(&after["n3"].install, "start").unwrap();
        assert!(n3.position(&start).is_some());
        assert_eq!(
            n3.position(&remote::activate(install, "start").unwrap()),
            None
        );
    }

    #[test]
    fn the_initial_copy_shows_how_much_of_the_seeders_tree_is_here() {
        let mut seeder = fresh();
        seeder.synced_dir = Some(SyncedDir {
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
