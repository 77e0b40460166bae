//! The errors filesync reports to its user, each with the exit code it maps to and a
//! hint that says what to do next. Nothing here performs I/O.

use std::fmt;
use thiserror::Error;

/// Process exit codes; documented in the README and relied upon by scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything done (or nothing to do).
    Success = 0,
    /// An unexpected failure (a bug, or the local machine).
    Failure = 1,
    /// The command line could not be parsed (clap's own code).
    Usage = 2,
    /// Bad input: settings, inventory or a preflight check. No node was changed.
    BadInput = 3,
    /// Some nodes failed or were unreachable; the others were done. Rerun to finish.
    Partial = 4,
    /// SSH refused to trust or log into a node (changed host key, authentication).
    /// No node was changed.
    Ssh = 5,
    /// status found a node that is not healthy.
    Unhealthy = 6,
    /// The platform API failed (unreachable, timeout, HTTP error, bad answer, token).
    Platform = 7,
    /// verify found nodes whose synced trees differ.
    Drift = 8,
    /// Another filesync run holds the environment's lock. No node was changed.
    Locked = 9,
    /// Interrupted by a signal.
    Interrupted = 130,
}

impl ExitCode {
    /// Every code, in order; the README's table lists the same (a test holds
    /// the two together).
    pub const ALL: [ExitCode; 11] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::BadInput,
        ExitCode::Partial,
        ExitCode::Ssh,
        ExitCode::Unhealthy,
        ExitCode::Platform,
        ExitCode::Drift,
        ExitCode::Locked,
        ExitCode::Interrupted,
    ];

    /// The few words `--help` gives the code (a new code does not compile
    /// without them).
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "ok",
            ExitCode::Failure => "unexpected failure",
            ExitCode::Usage => "usage",
            ExitCode::BadInput => {
                "bad input or a platform environment that is not running (nothing changed)"
            }
            ExitCode::Partial => "some nodes failed (rerun to finish)",
            ExitCode::Ssh => "SSH refused (changed host key or authentication; nothing changed)",
            ExitCode::Unhealthy => "unhealthy (status)",
            ExitCode::Platform => "platform API failed",
            ExitCode::Drift => "drift (verify)",
            ExitCode::Locked => "locked by another run (nothing changed)",
            ExitCode::Interrupted => "interrupted",
        }
    }

    /// The `Exit codes:` paragraph of the global `--help`.
    pub fn help() -> String {
        let codes: Vec<String> = Self::ALL
            .iter()
            .map(|code| format!("{} {}", *code as i32, code.meaning()))
            .collect();
        format!("Exit codes: {}.", codes.join(", "))
    }
}

/// One node and what went wrong there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeFailure {
    pub node: String,
    pub reason: String,
}

impl fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, self.reason)
    }
}

/// A node the topology source lists but filesync leaves out, and why (which
/// also says what to do).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    pub name: String,
    pub reason: String,
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

fn lines<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(|item| format!("\n  {item}")).collect()
}

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid sync path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    #[error("invalid delay {value:?}: {reason}")]
    InvalidDelay { value: String, reason: String },

    #[error("invalid --trash-days {value:?}: not a whole number of days from 1 to 3650")]
    InvalidTrashDays { value: String },

    #[error("inventory {path}: {reason}")]
    Inventory { path: String, reason: String },

    #[error("unknown environment {name:?} (the inventory has: {known})")]
    UnknownEnvironment { name: String, known: String },

    #[error("unknown node {name:?} in environment {env:?} (it has: {known})")]
    UnknownNode {
        env: String,
        name: String,
        known: String,
    },

    #[error("environment {env:?} has no nodes to work on{}", left_out_lines(.left_out))]
    NoNodes { env: String, left_out: Vec<LeftOut> },

    /// The platform lists the environment, but it is not running (stopped,
    /// sleeping, suspended, or busy being created, cloned or updated).
    #[error("environment {env:?} is {status}: filesync works only on running environments")]
    NotRunning {
        env: String,
        status: String,
        hint: String,
    },

    #[error("the platform has no running environment{}", left_out_lines(.left_out))]
    NoRunningEnvironment { left_out: Vec<LeftOut> },

    #[error("{what} is required: give {flag}")]
    MissingSetting { what: String, flag: String },

    #[error("filesync is not installed on any reachable node of environment {env:?}")]
    NotInstalled { env: String },

    /// The platform API failed or answered something filesync cannot use;
    /// `hint` says what to do about that kind of failure.
    #[error("platform API: {reason}")]
    Platform { reason: String, hint: String },

    #[error("the trash of {node} holds no {what}")]
    NotInTrash {
        env: String,
        node: String,
        what: String,
    },

    /// A setting of the link between two environments (peer, port, password, allowed
    /// addresses) is unusable.
    #[error("invalid {setting}: {reason}")]
    InvalidLink {
        setting: String,
        reason: String,
        hint: String,
    },

    /// A setting of the command line (or its environment variable) is unusable.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        setting: String,
        reason: String,
        hint: String,
    },

    #[error("preflight failed, no node was changed:{}", lines(.failures))]
    Preflight { failures: Vec<NodeFailure> },

    #[error("host key of {node} has changed; refusing to connect:\n  {detail}")]
    HostKeyChanged { node: String, detail: String },

    #[error("SSH authentication to {node} failed:\n  {detail}")]
    AuthFailed { node: String, detail: String },

    #[error("{} node(s) failed, the others were done:{}", .failures.len(), lines(.failures))]
    Partial { failures: Vec<NodeFailure> },

    #[error("{count} node(s) are not healthy")]
    Unhealthy { count: usize },

    #[error("the synced trees differ: {paths} path(s) on {nodes} node(s)")]
    Drift { paths: usize, nodes: usize },

    #[error(
        "only {reachable} node(s) of environment {env:?} could be reached; comparing needs two"
    )]
    TooFewNodes { env: String, reachable: usize },

    #[error("{node} is locked by {holder}; nothing was changed")]
    Locked { node: String, holder: String },

    #[error("interrupted")]
    Interrupted,

    #[error("cancelled; nothing was changed")]
    Cancelled,

    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::InvalidPath { .. }
            | Error::InvalidDelay { .. }
            | Error::InvalidTrashDays { .. }
            | Error::Inventory { .. }
            | Error::UnknownEnvironment { .. }
            | Error::UnknownNode { .. }
            | Error::NoNodes { .. }
            | Error::NotRunning { .. }
            | Error::NoRunningEnvironment { .. }
            | Error::MissingSetting { .. }
            | Error::InvalidLink { .. }
            | Error::InvalidSetting { .. }
            | Error::NotInstalled { .. }
            | Error::NotInTrash { .. }
            | Error::Preflight { .. }
            | Error::TooFewNodes { .. }
            | Error::Cancelled => ExitCode::BadInput,
            Error::HostKeyChanged { .. } | Error::AuthFailed { .. } => ExitCode::Ssh,
            Error::Partial { .. } => ExitCode::Partial,
            Error::Unhealthy { .. } => ExitCode::Unhealthy,
            Error::Drift { .. } => ExitCode::Drift,
            Error::Locked { .. } => ExitCode::Locked,
            Error::Platform { .. } => ExitCode::Platform,
            Error::Interrupted => ExitCode::Interrupted,
            Error::Other(_) => ExitCode::Failure,
        }
    }

    /// What the user can do about it, shown as a `Hint:` line.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Error::InvalidPath { .. } => {
                "--path is relative to the environment's webroot, e.g. --path /ROOT/wp-content"
                    .to_string()
            }
            Error::InvalidDelay { .. } => {
                "--delay is a whole number of seconds from 1 to 3600 (default 10)".to_string()
            }
            Error::InvalidTrashDays { .. } => {
                "--trash-days is how long each node keeps what sync replaced or deleted \
                 there, 1 to 3650 days (default 7)"
                    .to_string()
            }
            Error::Inventory { .. } => {
                "see `filesync --help` and the README for the inventory format; \
                 --inventory or FILESYNC_INVENTORY names the file"
                    .to_string()
            }
            Error::UnknownEnvironment { .. } => {
                "check --env against the [environments.NAME] tables of the inventory".to_string()
            }
            Error::UnknownNode { .. } => {
                "--nodes takes node names from the environment, separated by commas".to_string()
            }
            Error::NoNodes { left_out, .. } if left_out.is_empty() => {
                "add nodes to the environment in the inventory".to_string()
            }
            Error::NoNodes { .. } => {
                "every node was left out, for the reasons above: start the stopped nodes in \
                 the platform's dashboard (or fix what the platform says of them), then run \
                 the command again"
                    .to_string()
            }
            Error::NoRunningEnvironment { .. } => {
                "start the environment in the platform's dashboard (a sleeping one wakes on \
                 its first request), and check that FILESYNC_TOKEN belongs to an account that \
                 owns it or shares it"
                    .to_string()
            }
            Error::MissingSetting { flag, .. } => {
                format!("pass {flag}, or run in a terminal without --yes to be asked")
            }
            Error::InvalidLink { hint, .. }
            | Error::InvalidSetting { hint, .. }
            | Error::NotRunning { hint, .. }
            | Error::Platform { hint, .. } => hint.clone(),
            Error::NotInstalled { env } => format!(
                "install it first: filesync install --env {env} --path PATH (reconcile takes \
                 its settings from an existing installation)"
            ),
            Error::NotInTrash { env, node, .. } => format!(
                "`filesync trash list --env {env} --nodes {node}` shows what that node keeps \
                 (paths relative to the synced directory, and their versions)"
            ),
            Error::Preflight { .. } => {
                "fix the problems above on those nodes, then run the command again".to_string()
            }
            Error::HostKeyChanged { node, .. } => format!(
                "if {node} was really reinstalled, remove its old key with \
                 `ssh-keygen -R HOST` (with -f for the known_hosts file in use) and check the \
                 new fingerprint; otherwise someone may be intercepting the connection"
            ),
            Error::AuthFailed { .. } => {
                "check the SSH user, key and agent for that node (try `ssh -F CONFIG HOST` by \
                 hand); --ssh-config names the ssh config filesync uses"
                    .to_string()
            }
            Error::Partial { .. } => {
                "fix or bring back the failed nodes and run the same command again: it \
                 finishes the job and leaves finished nodes alone"
                    .to_string()
            }
            Error::Unhealthy { .. } => {
                "see `filesync logs` for the failing nodes; `filesync install` repairs drifted \
                 configuration"
                    .to_string()
            }
            Error::Drift { .. } => {
                "`filesync status` and `filesync logs` show why sync fell behind; \
                 `filesync verify --repair` brings every node to the union of the files \
                 (newest wins, nothing deleted)"
                    .to_string()
            }
            Error::Locked { .. } => {
                "wait for that run to finish and try again; if it died on another machine, \
                 rerun with --break-lock (a run that died on this machine is taken over \
                 by itself)"
                    .to_string()
            }
            Error::TooFewNodes { .. } => {
                "bring the unreachable nodes back (see above), or name at least two with --nodes"
                    .to_string()
            }
            Error::Interrupted | Error::Cancelled | Error::Other(_) => return None,
        };
        Some(hint)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn left_out_lines(left_out: &[LeftOut]) -> String {
    if left_out.is_empty() {
        return String::new();
    }
    format!("; left out:{}", lines(left_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_and_ssh_refusals_have_distinct_exit_codes_and_hints() {
        let bad = Error::InvalidDelay {
            value: "0".into(),
            reason: "must be at least 1".into(),
        };
        assert_eq!(bad.exit_code(), ExitCode::BadInput);
        assert!(bad.hint().unwrap().contains("--delay"));
        let ssh = Error::HostKeyChanged {
            node: "n1".into(),
            detail: "REMOTE HOST IDENTIFICATION HAS CHANGED".into(),
        };
        assert_eq!(ssh.exit_code(), ExitCode::Ssh);
        assert!(ssh.hint().unwrap().contains("ssh-keygen -R"));
    }

    #[test]
    fn no_nodes_says_what_to_do_where_they_come_from() {
        let empty = Error::NoNodes {
            env: "shop".into(),
            left_out: vec![],
        };
        assert_eq!(
            empty.to_string(),
            "environment \"shop\" has no nodes to work on"
        );
        assert!(empty.hint().unwrap().contains("in the inventory"));
        let stopped = Error::NoNodes {
            env: "shop".into(),
            left_out: vec![LeftOut {
                name: "node7".into(),
                reason: "it is stopped (status 2)".into(),
            }],
        };
        assert!(stopped
            .to_string()
            .ends_with("; left out:\n  node7: it is stopped (status 2)"));
        let hint = stopped.hint().unwrap();
        assert!(hint.contains("platform's dashboard") && !hint.contains("inventory"));
    }

    #[test]
    fn partial_failure_names_every_failed_node() {
        let err = Error::Partial {
            failures: vec![
                NodeFailure {
                    node: "n2".into(),
                    reason: "unreachable".into(),
                },
                NodeFailure {
                    node: "n3".into(),
                    reason: "disk full".into(),
                },
            ],
        };
        let text = err.to_string();
        assert!(text.starts_with("2 node(s) failed"));
        assert!(text.contains("\n  n2: unreachable") && text.contains("\n  n3: disk full"));
        assert_eq!(err.exit_code(), ExitCode::Partial);
    }

    #[test]
    fn the_help_and_the_readme_name_the_same_exit_codes() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("## Exit codes")
            .nth(1)
            .expect("the README has an Exit codes section");
        let documented: Vec<i32> = table
            .lines()
            .skip_while(|line| !line.starts_with("| code"))
            .skip(2)
            .take_while(|line| line.starts_with("| "))
            .map(|line| line[2..].split(' ').next().unwrap().parse().unwrap())
            .collect();
        let known: Vec<i32> = ExitCode::ALL.iter().map(|code| *code as i32).collect();
        assert_eq!(documented, known);
        let help = ExitCode::help();
        for code in ExitCode::ALL {
            let said = format!("{} {}", code as i32, code.meaning());
            assert!(help.contains(&said), "{help}");
        }
    }
}
