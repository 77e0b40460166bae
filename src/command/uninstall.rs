//! `filesync uninstall`: stops lsyncd, removes filesync's crontab lines, the
//! authorized_keys entries it added and its install directory, on every node.
//! Synced files are never touched.

use crate::authorized_keys;
use crate::cli::{EnvArgs, Global};
use crate::command;
use crate::crontab;
use crate::desired;
use crate::error::{Error, NodeFailure, Result};
use crate::layout::InstallDir;
use crate::lock;
use crate::node::Node;
use crate::probe::Observed;
use crate::progress::Progress;
use crate::remote;
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
                    remove(node, install, seen, progress).await,
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

/// Whether anything of filesync's is on the node: the install directory, its
/// crontab lines or its authorized_keys entries.
pub fn has_traces(seen: &Observed, install: &InstallDir) -> bool {
    let tag = desired::tag(install);
    seen.is_installed()
        || !crontab::tagged(&seen.crontab, &tag).is_empty()
        || !authorized_keys::entries(&seen.authorized_keys, &tag).is_empty()
}

/// Removes the installation from one node; false when there was nothing to remove.
pub async fn remove<N: Node>(
    node: &N,
    install: &InstallDir,
    seen: &Observed,
    progress: &Progress,
) -> anyhow::Result<bool> {
    let name = node.name();
    let tag = desired::tag(install);
    let has_cron = !crontab::tagged(&seen.crontab, &tag).is_empty();
    let has_keys = !authorized_keys::entries(&seen.authorized_keys, &tag).is_empty();
    if !has_traces(seen, install) {
        progress.finish(name, "not installed");
        return Ok(false);
    }
    if has_cron {
        progress.step(name, "removing the crontab lines");
        let content = crontab::without(&seen.crontab, &tag);
        let (script, stdin) = remote::set_crontab(content.as_bytes())?;
        node.run(&script, stdin.as_deref()).await?;
    }
    progress.step(name, "stopping lsyncd and removing the install directory");
    let said = node
        .run(&remote::remove_install_dir(install)?, None)
        .await?;
    if has_keys {
        progress.step(name, "removing the peers' keys from authorized_keys");
        let content = authorized_keys::without(&seen.authorized_keys, &tag);
        let path = crate::layout::authorized_keys(&seen.home);
        let (script, stdin) = remote::write_file(&path, 0o600, content.as_bytes())?;
        node.run(&script, stdin.as_deref()).await?;
    }
    progress.finish(name, &removed_message(&said));
    Ok(true)
}

/// What uninstall reports for a node: "removed", and what it kept there
/// because it is the user's (the lines of the removal script that say so).
fn removed_message(said: &str) -> String {
    let kept: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("kept "))
        .collect();
    if kept.is_empty() {
        "removed".to_string()
    } else {
        format!("removed; {}", kept.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::fake::{FakeNode, File};
    use crate::plan::tests::{configs, fresh, installed, keys};
    use crate::settings::Topology;

    #[tokio::test]
    async fn uninstall_removes_filesync_s_lines_and_directory_and_keeps_the_user_s() {
        let config = &configs(2, Topology::Mesh)["n1"];
        let seen = installed(config, &keys(2));
        let node = FakeNode::new("n1").answer(
            "rm -rf",
            "stopped\nkept your exclusions in /x/etc/excludes\n",
        );
        let progress = Progress::hidden();
        assert!(remove(&node, &config.install, &seen, &progress)
            .await
            .unwrap());
        assert_eq!(node.crontab().as_deref(), Some("0 3 * * * backup\n"));
        assert_eq!(
            node.file("/root/.ssh/authorized_keys"),
            Some(File {
                content: "ssh-ed25519 ADMIN me@laptop\n".into(),
                mode: 0o600
            })
        );
        // the crontab first (no watchdog restarts lsyncd), then the directory
        let removal = remote::remove_install_dir(&config.install).unwrap();
        assert_eq!(node.position(&removal), Some(1));
        assert_eq!(node.ran().len(), 3);

        let untouched = FakeNode::new("n2");
        assert!(!remove(&untouched, &config.install, &fresh(), &progress)
            .await
            .unwrap());
        assert!(untouched.ran().is_empty());
    }

    #[test]
    fn the_report_names_what_was_kept_for_the_user() {
        assert_eq!(removed_message("lsyncd stopped\n"), "removed");
        assert_eq!(
            removed_message(
                "stopped\nkept your exclusions in /x/etc/excludes\n\
                 kept what sync replaced or deleted in /x/trash\n"
            ),
            "removed; kept your exclusions in /x/etc/excludes; \
             kept what sync replaced or deleted in /x/trash"
        );
    }
}
