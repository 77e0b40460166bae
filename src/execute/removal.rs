//! Removing an installation from one node, for `uninstall` and for the nodes
//! a reconcile finds gone: filesync's crontab lines first (so no watchdog
//! restarts lsyncd), then lsyncd and the install directory, then the
//! authorized_keys entries it added. The user's own lines, keys and synced
//! files stay.

use crate::execute::progress::Progress;
use crate::model::desired;
use crate::nodes::layout::InstallDir;
use crate::nodes::node::Node;
use crate::nodes::probe::Observed;
use crate::nodes::remote;
use crate::plan::authorized_keys;
use crate::plan::crontab;

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
        let path = crate::nodes::layout::authorized_keys(&seen.home);
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
    use crate::model::settings::Topology;
    use crate::nodes::node::fake::{FakeNode, File};
    use crate::plan::tests::{configs, fresh, installed, keys};

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
