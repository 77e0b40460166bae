//! `Node` over SSH with the `openssh` crate: one multiplexed master connection per
//! node (ControlMaster), so each script costs a channel, not a handshake. Uses the
//! user's ssh (config, agent, known_hosts) exactly as plain ssh would, plus
//! `-F` from `--ssh-config`. Unknown host keys are accepted and remembered
//! (accept-new); a changed host key is always an error. Each connection's
//! control socket sits in a private directory of its own (`private_control_dir`).

use crate::error::Error;
use crate::nodes::node::{Node, ScriptError, Streaming};
use crate::render::escape::shell_word;
use crate::source::inventory::Node as InventoryNode;
use anyhow::Context as _;
use openssh::{Child, KnownHosts, Session, SessionBuilder, Stdio};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach nodes: the optional ssh config given to ssh as `-F`.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    pub config_file: Option<PathBuf>,
}

pub struct SshNode {
    name: String,
    session: Session,
    /// Holds the session's control socket; removed after the session is
    /// (fields drop in order).
    _control_dir: TempDir,
}

/// A new directory for one connection's control socket and master log: a
/// random name in the temporary directory, mode 0700, made by this process
/// (mkdir fails on an existing name and tempfile then tries another, so nobody
/// can plant it beforehand). Left to itself, openssh makes the same kind of
/// directory but with the umask's mode (0755 usually): readable by every user.
pub fn private_control_dir() -> std::io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix("filesync-ssh-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

/// Why a connection failed, sorted by what the user must do about it.
#[derive(Debug)]
pub enum ConnectError {
    /// Refuse to go on anywhere: a changed host key or failed authentication.
    Refused(Error),
    /// Skip this node, report it, go on with the others.
    Unreachable(String),
}

impl SshNode {
    pub async fn connect(node: &InventoryNode, options: &SshOptions) -> Result<Self, ConnectError> {
        let control_dir = private_control_dir().map_err(|err| {
            ConnectError::Unreachable(format!(
                "cannot make a private directory for the ssh control socket: {err}"
            ))
        })?;
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(KnownHosts::Add)
            .connect_timeout(CONNECT_TIMEOUT)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(control_dir.path());
        if let Some(config) = &options.config_file {
            builder.config_file(config);
        }
        if let Some(user) = &node.ssh.user {
            builder.user(user.clone());
        }
        if let Some(port) = node.ssh.port {
            builder.port(port);
        }
        match builder.connect(&node.ssh.host).await {
            Ok(session) => Ok(SshNode {
                name: node.name.clone(),
                session,
                _control_dir: control_dir,
            }),
            Err(err) => Err(classify(&node.name, &error_text(&err))),
        }
    }

    pub async fn close(self) {
        let _ = self.session.close().await;
    }
}

fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sorts an ssh connection error by its message (ssh gives nothing better).
pub fn classify(node: &str, detail: &str) -> ConnectError {
    let detail = detail.trim().to_string();
    if detail.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || detail.contains("Host key verification failed")
        || detail.contains("host key for")
    {
        ConnectError::Refused(Error::HostKeyChanged {
            node: node.to_string(),
            detail,
        })
    } else if detail.contains("Permission denied") || detail.contains("Too many authentication") {
        ConnectError::Refused(Error::AuthFailed {
            node: node.to_string(),
            detail,
        })
    } else {
        ConnectError::Unreachable(detail)
    }
}

/// Where ssh keeps the host key of a destination, from `ssh -G` output: the
/// known_hosts files it reads and the name the key is stored under.
pub fn known_host_entry(ssh_g: &str) -> (Vec<String>, String) {
    let value = |key: &str| {
        ssh_g
            .lines()
            .find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(str::trim)
    };
    let name = value("hostkeyalias")
        .filter(|alias| *alias != "none")
        .or(value("hostname"))
        .unwrap_or_default();
    let port = value("port").unwrap_or("22");
    let entry = if port == "22" {
        name.to_string()
    } else {
        format!("[{name}]:{port}")
    };
    let home = std::env::var("HOME").unwrap_or_default();
    let files = value("userknownhostsfile")
        .unwrap_or_default()
        .split_whitespace()
        .map(|file| match file.strip_prefix("~/") {
            Some(rest) => format!("{home}/{rest}"),
            None => file.to_string(),
        })
        .collect();
    (files, entry)
}

/// Forgets the recorded host key of `node` in the known_hosts files ssh uses for
/// it, so that the next connection records the new one (accept-new). Only on the
/// user's explicit request (`--accept-new-host-key`).
pub async fn forget_host_key(
    node: &InventoryNode,
    config: Option<&Path>,
) -> crate::error::Result<()> {
    let mut command = tokio::process::Command::new("ssh");
    command.arg("-G");
    if let Some(config) = config {
        command.arg("-F").arg(config);
    }
    if let Some(user) = &node.ssh.user {
        command.arg("-l").arg(user);
    }
    if let Some(port) = node.ssh.port {
        command.arg("-p").arg(port.to_string());
    }
    let output = command
        .arg(&node.ssh.host)
        .output()
        .await
        .context("running ssh -G")?;
    let (files, entry) = known_host_entry(&String::from_utf8_lossy(&output.stdout));
    for file in files.iter().filter(|file| Path::new(file).exists()) {
        let status = tokio::process::Command::new("ssh-keygen")
            .args(["-q", "-R", &entry, "-f", file])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .context("running ssh-keygen -R")?;
        if status.success() {
            eprintln!(
                "{}: forgot the old host key of {entry} in {file}",
                node.name
            );
        }
    }
    Ok(())
}

impl Node for SshNode {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, script: &str, stdin: Option<&[u8]>) -> anyhow::Result<String> {
        let mut child = self.start(script, stdin.is_some()).await?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin().take().context("no stdin pipe")?;
            pipe.write_all(input).await?;
            pipe.shutdown().await?;
            drop(pipe);
        }
        self.finish(child).await
    }

    async fn stream(&self, script: &str) -> anyhow::Result<Streaming<'_>> {
        let mut child = self.start(script, false).await?;
        let stdout = child.stdout().take().context("no stdout pipe")?;
        Ok(Streaming {
            stdout: Box::new(stdout),
            exited: Box::pin(async move { self.finish(child).await.map(drop) }),
        })
    }
}

impl SshNode {
    /// Starts `script` with `sh` on the node, stdout and stderr piped, so that
    /// its output can be read as it comes (see `finish`).
    async fn start(&self, script: &str, stdin: bool) -> anyhow::Result<Child<&Session>> {
        // The login shell may be anything; `sh -c` makes the script POSIX sh.
        let command = format!("sh -c {}", shell_word(script)?);
        self.session
            .raw_command(command)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .with_context(|| format!("cannot start a command on {}", self.name))
    }

    /// Waits for a started script: what is left of its stdout when it exits 0,
    /// otherwise its exit code and stderr as a `ScriptError`.
    async fn finish(&self, child: Child<&Session>) -> anyhow::Result<String> {
        let output = child
            .wait_with_output()
            .await
            .with_context(|| format!("lost the connection to {}", self.name))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(ScriptError {
                code: output.status.code(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_hosts_entry_follows_ssh_s_own_resolution() {
        let ssh_g = "user root\nhostname 10.0.0.2\nport 2222\nhostkeyalias none\n\
                     userknownhostsfile /etc/kh ~/.ssh/known_hosts\n";
        let (files, entry) = known_host_entry(ssh_g);
        assert_eq!(entry, "[10.0.0.2]:2222");
        assert_eq!(files[0], "/etc/kh");
        assert!(files[1].ends_with("/.ssh/known_hosts") && !files[1].starts_with('~'));
        let (_, entry) = known_host_entry("hostname h\nport 22\nhostkeyalias web1\n");
        assert_eq!(entry, "web1");
    }

    #[test]
    fn control_directories_are_private_fresh_and_unpredictable() {
        use std::os::unix::fs::MetadataExt;
        let (a, b) = (
            private_control_dir().unwrap(),
            private_control_dir().unwrap(),
        );
        let process_uid = tempfile::tempfile().unwrap().metadata().unwrap().uid();
        for dir in [&a, &b] {
            let meta = std::fs::metadata(dir.path()).unwrap();
            assert_eq!(meta.uid(), process_uid);
            assert_eq!(meta.mode() & 0o777, 0o700, "{:?}", dir.path());
            assert_eq!(dir.path().parent(), Some(std::env::temp_dir().as_path()));
        }
        assert_ne!(a.path(), b.path());
    }

    #[test]
    fn changed_host_keys_and_auth_failures_refuse_everything_else_skips_the_node() {
        let changed = "@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                       Host key verification failed.";
        assert!(matches!(
            classify("n1", changed),
            ConnectError::Refused(Error::HostKeyChanged { .. })
        ));
        assert!(matches!(
            classify("n1", "root@10.0.0.1: Permission denied (publickey)."),
            ConnectError::Refused(Error::AuthFailed { .. })
        ));
        assert!(matches!(
            classify(
                "n1",
                "connect to host 10.0.0.1 port 22: Connection timed out"
            ),
            ConnectError::Unreachable(_)
        ));
    }
}
