//! The one interface through which filesync touches a node: run a shell script,
//! optionally feeding it stdin, and get its stdout, whole or as it comes.
//! Orchestration never knows which implementation it holds; `ssh::SshNode` is
//! the real one, `fake::FakeNode` the one unit tests use.

use futures::future::BoxFuture;
use std::future::Future;
use tokio::io::AsyncRead;

#[cfg(test)]
pub mod fake;

/// A failed remote script: its exit code and what it printed on stderr.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.code, .stderr))]
pub struct ScriptError {
    pub code: Option<i32>,
    pub stderr: String,
}

fn describe(code: &Option<i32>, stderr: &str) -> String {
    let stderr = stderr.trim();
    let last = stderr.lines().last().unwrap_or("");
    match (code, last.is_empty()) {
        (Some(code), true) => format!("remote command exited with status {code}"),
        (Some(code), false) => format!("{last} (exit status {code})"),
        (None, _) => format!("remote command was killed: {last}"),
    }
}

/// A script started on a node whose stdout is read as it comes.
pub struct Streaming<'a> {
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    /// Resolves once the script exited (read `stdout` first): an error
    /// unless it exited 0.
    pub exited: BoxFuture<'a, anyhow::Result<()>>,
}

pub trait Node: Send + Sync {
    /// The node's name in the inventory.
    fn name(&self) -> &str;

    /// Runs `script` with `sh` on the node; returns its stdout when it exits 0.
    fn run(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;

    /// Starts `script` with `sh` on the node, for output too large to hold at
    /// once (a listing of the synced tree).
    fn stream(&self, script: &str) -> impl Future<Output = anyhow::Result<Streaming<'_>>> + Send;
}
