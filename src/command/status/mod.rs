//! `filesync status`: per node, is lsyncd running, are the watchdog lines there,
//! does the configuration still match what was installed, and how did the last
//! push to each peer end. Reads only.

use crate::cli::{EnvArgs, Global};
use crate::command;
use crate::error::{Error, Result};
use crate::model::desired;
use crate::model::settings::Settings;
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::probe::{Lsyncd, Observed};
use crate::nodes::push_record::{self, PushRecord};
use crate::nodes::remote;
use crate::output::node_set;
use crate::plan::crontab;
use serde::Serialize;
use std::collections::BTreeMap;

mod view;

#[derive(Debug, Serialize)]
pub struct PeerStatus {
    pub peer: String,
    /// Unix time the last push to this peer ended, if any yet.
    pub last_push: Option<u64>,
    /// rsync's exit code of the last push (0 = success).
    pub exit_code: Option<i32>,
}

/// Two-environment mode: this node's side of the link to the other environment.
#[derive(Debug, Serialize)]
pub struct LinkStatus {
    /// Where this node pushes, `host:port`.
    pub peer: String,
    /// How: `daemon` or `ssh`.
    pub transport: &'static str,
    /// The pid of this node's rsync daemon (receiving the other side's pushes;
    /// none over SSH).
    pub daemon: Option<u32>,
    pub last_push: Option<u64>,
    pub exit_code: Option<i32>,
    /// Why the last push failed, in words, when it did.
    pub failure: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub node: String,
    pub healthy: bool,
    pub problems: Vec<String>,
    pub installed: bool,
    pub lsyncd: Option<Lsyncd>,
    pub watchdog: bool,
    pub drifted_files: Vec<String>,
    pub settings: Option<Settings>,
    pub peers: Vec<PeerStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkStatus>,
    pub recent_errors: Vec<String>,
}

pub async fn run(global: &Global, args: &EnvArgs) -> Result<()> {
    let source = command::source(global)?;
    let env = &command::environment(&source, args.env.as_deref(), false).await?;
    let nodes = env.select(args.nodes.as_deref())?;
    let install = InstallDir::under_webroot(&env.webroot);
    let mut fleet = Fleet::connect_for(global, &nodes).await?;
    let observed = fleet.probe(&install, &env.webroot, None).await;
    let report_script = remote::sync_report(&install)?;
    let mut reports = fleet.run_everywhere(&report_script).await;
    let mut statuses: Vec<NodeStatus> = nodes
        .iter()
        .map(|node| match observed.get(&node.name) {
            Some(seen) => {
                let report = reports.remove(&node.name).and_then(Result::ok);
                node_status(&node.name, &install, seen, &report.unwrap_or_default())
            }
            None => unreachable_status(&node.name, &fleet),
        })
        .collect();
    fleet.close().await;
    blame_receivers(&mut statuses);

    if command::is_json(global) {
        command::print_json(&statuses)?;
    } else {
        command::emit(&view::render(&statuses, now(), global.verbose))?;
    }
    let unhealthy = statuses.iter().filter(|s| !s.healthy).count();
    if unhealthy > 0 {
        return Err(Error::Unhealthy { count: unhealthy });
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unreachable_status(name: &str, fleet: &Fleet) -> NodeStatus {
    let reason = fleet
        .unreachable_reason(name)
        .unwrap_or_else(|| "unreachable".into());
    NodeStatus {
        node: name.to_string(),
        healthy: false,
        problems: vec![reason],
        installed: false,
        lsyncd: None,
        watchdog: false,
        drifted_files: vec![],
        settings: None,
        peers: vec![],
        link: None,
        recent_errors: vec![],
    }
}

/// Builds a node's status from its probe and its sync report (pure).
pub fn node_status(name: &str, install: &InstallDir, seen: &Observed, report: &str) -> NodeStatus {
    let mut problems = Vec::new();
    let installed = seen.is_installed();
    let (pushes, recent_errors) = parse_report(report);
    let state = seen.state.as_ref();
    if !installed {
        problems.push("filesync is not installed".to_string());
    }
    if let Some(err) = &seen.state_error {
        problems.push(err.clone());
    }
    let tag = desired::tag(install);
    let watchdog = crontab::tagged(&seen.crontab, &tag).len() == 2;
    let drifted_files = state.map(|s| s.drifted(&seen.files)).unwrap_or_default();
    let mut peers = Vec::new();
    if installed {
        if !matches!(seen.lsyncd, Lsyncd::Running(_) | Lsyncd::Idle) {
            problems.push("lsyncd is not running".to_string());
        }
        if seen.legacy {
            problems.push(format!(
                "an installation of an earlier filesync version is still in {}: run \
                 `filesync reconcile` to move it",
                install.in_webroot()
            ));
        }
        if !watchdog {
            problems.push("the watchdog crontab lines are missing".to_string());
        }
        if !drifted_files.is_empty() {
            problems.push(format!(
                "configuration drifted from what was installed: {}",
                drifted_files.join(", ")
            ));
        }
        for peer in state.map(|s| s.targets.clone()).unwrap_or_default() {
            let alias = desired::alias(&peer);
            let record = pushes.get(&alias);
            let (last_push, exit_code) = (record.map(|r| r.ended), record.map(|r| r.code));
            if let Some(code) = exit_code.filter(|code| *code != 0) {
                problems.push(format!(
                    "last push to {peer} failed: {} (rsync exit {code})",
                    rsync_exit_meaning(code),
                ));
            }
            peers.push(PeerStatus {
                peer,
                last_push,
                exit_code,
            });
        }
    }
    let link = state
        .filter(|_| installed)
        .and_then(|s| s.settings.link.as_ref())
        .map(|link| link_status(link, seen, &pushes, &mut problems));
    NodeStatus {
        node: name.to_string(),
        healthy: problems.is_empty(),
        problems,
        installed,
        lsyncd: installed.then(|| seen.lsyncd.clone()),
        watchdog,
        drifted_files,
        settings: state.map(|s| s.settings.clone()),
        peers,
        link,
        recent_errors,
    }
}

/// A failing push is also a problem of the node it goes to (its disk may be
/// full, its sshd down): that node is reported unhealthy too, naming the senders.
pub fn blame_receivers(statuses: &mut [NodeStatus]) {
    let mut failing: BTreeMap<String, Vec<(String, i32)>> = BTreeMap::new();
    for status in statuses.iter() {
        for peer in &status.peers {
            if let Some(code) = peer.exit_code.filter(|code| *code != 0) {
                failing
                    .entry(peer.peer.clone())
                    .or_default()
                    .push((status.node.clone(), code));
            }
        }
    }
    for status in statuses.iter_mut() {
        let Some(senders) = failing.get(&status.node) else {
            continue;
        };
        let names: Vec<&str> = senders.iter().map(|(name, _)| name.as_str()).collect();
        let (_, code) = senders[0];
        status.problems.push(format!(
            "pushes to this node fail (from {}): {} (rsync exit {code})",
            node_set::compact(&names),
            rsync_exit_meaning(code).replace("the peer", "this node")
        ));
        status.healthy = false;
    }
}

/// The link's status on one node, adding its problems to `problems`.
fn link_status(
    link: &crate::model::peer_link::PeerLink,
    seen: &Observed,
    pushes: &BTreeMap<String, PushRecord>,
    problems: &mut Vec<String>,
) -> LinkStatus {
    let peer = &link.peer.to_string();
    let daemon = link.transport == crate::model::peer_link::Transport::Daemon;
    if daemon && seen.rsyncd.is_none() {
        problems.push(
            "the rsync daemon that receives the other environment's pushes is not running"
                .to_string(),
        );
    }
    let record = pushes.get(crate::nodes::layout::PEER_ENV_RECORD);
    let failure =
        record
            .filter(|record| record.code != 0)
            .map(|record| match record.class.as_deref() {
                Some("auth") => "authentication failed at the peer: the two environments were \
                             installed with different passwords; reinstall one side with the \
                             other's (--password-file)"
                    .to_string(),
                Some("module") => "the peer has no module for this sync path: install the other \
                               environment with the same --path"
                    .to_string(),
                _ if !daemon && [5, 255].contains(&record.code) => format!(
                    "no node of the other environment could be reached over SSH, or none \
                     admitted this node's key (rsync exit {}): check that they are up and \
                     their host keys did not change, then run `filesync reconcile` (--peer-env), \
                     or have the other side import this environment's keys again \
                     (`filesync export-keys`, --peer-keys)",
                    record.code
                ),
                _ => format!(
                    "{} (rsync exit {})",
                    rsync_exit_meaning(record.code),
                    record.code
                ),
            });
    if let Some(failure) = &failure {
        problems.push(format!(
            "last push to the other environment ({peer}) failed: {failure}"
        ));
    }
    LinkStatus {
        peer: peer.to_string(),
        transport: link.transport.as_str(),
        daemon: seen.rsyncd,
        last_push: record.map(|r| r.ended),
        exit_code: record.map(|r| r.code),
        failure,
    }
}

/// `alias epoch code [class]` lines (push records), then `--`, then recent
/// error lines of lsyncd's log.
fn parse_report(report: &str) -> (BTreeMap<String, PushRecord>, Vec<String>) {
    let (pushes, errors) = report.split_once("--\n").unwrap_or((report, ""));
    let pushes = push_record::parse_named(pushes).into_iter().collect();
    let errors = errors.lines().map(str::to_string).collect();
    (pushes, errors)
}

/// What an rsync exit code means, in the terms a user can act on.
pub fn rsync_exit_meaning(code: i32) -> &'static str {
    match code {
        255 => "could not connect to the peer over SSH",
        5 => "the peer's rsync daemon refused the session",
        10 | 35 => "connection error",
        11 => "file I/O error on the peer (disk full?)",
        12 => "protocol error (the peer refused the transfer or its disk is full)",
        23 => "some files could not be transferred",
        24 => "some files vanished while being sent",
        30 => "timeout",
        _ => "rsync failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_give_last_push_per_peer_and_errors() {
        let (pushes, errors) =
            parse_report("filesync-n2 1700000000 0\nfilesync-n3 1700000005 255\n--\nError: x\n");
        assert_eq!(
            pushes["filesync-n2"],
            PushRecord::parse("1700000000 0").unwrap()
        );
        assert_eq!(
            pushes["filesync-n3"],
            PushRecord::parse("1700000005 255").unwrap()
        );
        assert_eq!(errors, ["Error: x"]);
    }

    fn installed_node() -> Observed {
        let text = "user\tcm9vdA==\nhome\tL3Jvb3Q=\nmarker\teA==\nlsyncd\tcnVubmluZyA0Mg==\n";
        let mut seen = crate::nodes::probe::parse(text, None).unwrap();
        let install = InstallDir::under_webroot("/var/www/webroot");
        let tag = desired::tag(&install);
        seen.crontab = format!("* * * * * x # {tag}\n@reboot y # {tag}\n");
        seen
    }

    #[test]
    fn a_running_watched_node_with_good_pushes_is_healthy() {
        let install = InstallDir::under_webroot("/var/www/webroot");
        let status = node_status("n1", &install, &installed_node(), "--\n");
        assert!(status.healthy, "{:?}", status.problems);
        assert_eq!(status.lsyncd, Some(Lsyncd::Running(42)));
    }

    #[test]
    fn a_stopped_lsyncd_a_missing_watchdog_or_a_failed_push_is_unhealthy() {
        let install = InstallDir::under_webroot("/var/www/webroot");
        let mut stopped = installed_node();
        stopped.lsyncd = Lsyncd::Stopped;
        stopped.crontab.clear();
        let status = node_status("n1", &install, &stopped, "");
        assert!(!status.healthy);
        assert_eq!(
            status.problems,
            [
                "lsyncd is not running",
                "the watchdog crontab lines are missing"
            ]
        );

        let mut pushing = installed_node();
        let state_json = r#"{"format":1,"filesync_version":"x","env":"e","node":"n1",
            "settings":{"path":"/ROOT","delay":1,"topology":"mesh"},
            "targets":["n2"],"pushers":["n2"],"files":{}}"#;
        pushing.state = Some(crate::nodes::state::NodeState::from_json(state_json).unwrap());
        let status = node_status("n1", &install, &pushing, "filesync-n2 90 255\n--\n");
        assert!(!status.healthy);
        assert!(
            status.problems[0].contains("last push to n2 failed: could not connect"),
            "{:?}",
            status.problems
        );
        assert_eq!(status.peers[0].exit_code, Some(255));
    }

    #[test]
    fn a_node_others_cannot_push_to_is_unhealthy_too() {
        let status = |node: &str, peers: Vec<PeerStatus>| NodeStatus {
            node: node.into(),
            healthy: true,
            problems: vec![],
            installed: true,
            lsyncd: Some(Lsyncd::Running(1)),
            watchdog: true,
            drifted_files: vec![],
            settings: None,
            peers,
            recent_errors: vec![],
            link: None,
        };
        let push = |peer: &str, code: i32| PeerStatus {
            peer: peer.into(),
            last_push: Some(1),
            exit_code: Some(code),
        };
        let mut statuses = vec![
            status("n1", vec![push("n2", 0), push("n3", 11)]),
            status("n2", vec![push("n1", 0), push("n3", 11)]),
            status("n3", vec![push("n1", 0), push("n2", 0)]),
        ];
        blame_receivers(&mut statuses);
        assert!(statuses[0].healthy && statuses[1].healthy);
        assert!(!statuses[2].healthy);
        assert_eq!(
            statuses[2].problems,
            [
                "pushes to this node fail (from n1, n2): file I/O error on this node (disk full?) \
              (rsync exit 11)"
            ]
        );
    }

    #[test]
    fn a_wrong_password_at_the_peer_is_named_as_such() {
        let install = InstallDir::under_webroot("/var/www/webroot");
        let mut linked = installed_node();
        let state_json = r#"{"format":1,"filesync_version":"x","env":"e","node":"n1",
            "settings":{"path":"/ROOT","delay":1,"topology":"mesh",
              "link":{"peer":{"host":"10.2.0.11","port":7755},"allow":[]}},
            "targets":[],"pushers":[],"files":{}}"#;
        linked.state = Some(crate::nodes::state::NodeState::from_json(state_json).unwrap());
        linked.rsyncd = Some(7);
        let status = node_status("n1", &install, &linked, "peer-env 95 5 auth\n--\n");
        assert!(!status.healthy);
        assert!(
            status.problems[0].contains("authentication failed at the peer"),
            "{:?}",
            status.problems
        );
        let link = status.link.as_ref().unwrap();
        assert_eq!(
            (link.peer.as_str(), link.exit_code),
            ("10.2.0.11:7755", Some(5))
        );
        let text = view::full(&[status], 100);
        assert!(
            text.contains("last push FAILED 5 s ago (rsync exit 5)"),
            "{text}"
        );
        assert!(text.contains("  ! last push to the other environment (10.2.0.11:7755) failed: authentication failed at the peer"), "{text}");

        let status = node_status("n1", &install, &linked, "peer-env 99 0\n--\n");
        assert!(status.healthy, "{:?}", status.problems);
        linked.rsyncd = None;
        let status = node_status("n1", &install, &linked, "peer-env 99 0\n--\n");
        assert!(status.problems[0].contains("rsync daemon"));
    }

    #[test]
    fn exit_codes_are_explained() {
        assert!(rsync_exit_meaning(255).contains("SSH"));
        assert!(rsync_exit_meaning(11).contains("disk full"));
    }
}
