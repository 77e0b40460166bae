//! `filesync uninstall`: stops lsyncd, removes filesync's crontab lines, the
//! authorized_keys entries it added and its install directory, on every node.
//! Synced files are never touched.

use crate::cli::{EnvArgs, Global};
use crate::command;
use crate::error::{Error, NodeFailure, Result};
use crate::execute::progress::Progress;
use crate::execute::removal;
use crate::nodes::layout::InstallDir;
use crate::nodes::lock;
use crate::nodes::node::Node;
use crate::wizard;
use futures::stream::{self, StreamExt};

pub async fn run(global: &Global, args: &EnvArgs) -> Result<()> {
    let source = command::source(global)?;
    let ask = wizard::allowed(global.yes);
    let env = &command::environment(&source, args.env.as_deref(), ask).await?;
    let nodes = env.select(args.nodes.as_deref())?;
    if !global.yes {
        if !ask {
            return Err(Error::MissingSetting {
                what: "confirmation to uninstall".into(),
                flag: "--yes".into(),
            });
        }
        let prompt = format!(
            "Remove file sync from {} node(s) of {}? Synced files stay.",
            nodes.len(),
            env.name
        );
        if !wizard::confirm(&prompt)? {
            return Err(Error::Cancelled);
        }
    }
    let install = InstallDir::under_webroot(&env.webroot);
    let (mut fleet, lock) = lock::connect_locked(global, &nodes, &install, "uninstall").await?;
    let observed = fleet.probe(&install, &env.webroot, None).await;
    let progress = if command::is_json(global) {
        Progress::hidden()
    } else {
        Progress::new(&fleet.nodes.keys().cloned().collect::<Vec<_>>())
    };
    let results: Vec<(String, anyhow::Result<bool>)> = stream::iter(fleet.nodes.values())
        .map(|node| {
            let seen = &observed[node.name()];
            let (install, progress) = (&install, &progress);
            async move {
                (
                    node.name().to_string(),
                    removal::remove(node, install, seen, progress).await,
                )
            }
        })
        .buffer_unordered(fleet.parallel)
        .collect()
        .await;
    let report = progress.report(global.verbose);
    let mut failures = fleet.unreachable.clone();
    let mut removed = Vec::new();
    for (name, result) in results {
        match result {
            Ok(true) => removed.push(name),
            Ok(false) => {}
            Err(err) => failures.push(NodeFailure {
                node: name,
                reason: format!("{err:#}"),
            }),
        }
    }
    lock.release(&fleet).await;
    fleet.close().await;
    removed.sort();
    if command::is_json(global) {
        command::print_json(&serde_json::json!({ "removed": removed, "failed": failures }))?;
    } else {
        command::emit(&format!(
            "{report}Removed from {} node(s); synced files were left in place.\n",
            removed.len()
        ))?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Partial { failures })
    }
}
