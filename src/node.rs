//! The one interface through which filesync touches a node: run a shell script,
//! optionally feeding it stdin, and get its stdout. Orchestration never knows
//! which implementation it holds; `ssh::SshNode` is the real one.

use std::future::Future;

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

pub trait Node: Send + Sync {
    /// The node's name in the inventory.
    fn name(&self) -> &str;

    /// Runs `script` with `sh` on the node; returns its stdout when it exits 0.
    fn run(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;
}
