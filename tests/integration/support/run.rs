//! Running the `filesync` binary against a cluster: the command with the
//! cluster's inventory and ssh config, `install` with the usual settings, and
//! `verify` that the nodes are identical.

use super::cluster::Cluster;
use std::process::{Command, Output};

impl Cluster {
    /// `filesync` with this cluster's inventory and ssh config, no prompts.
    pub fn filesync(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_filesync"));
        command
            .args(args)
            .env("FILESYNC_INVENTORY", &self.inventory)
            .env("FILESYNC_SSH_CONFIG", &self.ssh_config)
            .env("NO_COLOR", "1");
        command
    }

    /// Runs `filesync` and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(&self.filesync(args).output().expect("run filesync"))
    }
}

/// A finished command's (exit code, stdout, stderr); -1 if a signal ended it.
pub fn outcome(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `install` with the usual settings of these tests: `/ROOT/wp-content`, delay 1 s.
pub fn install_args(cluster: &Cluster) -> Vec<&str> {
    let env = cluster.name.as_str();
    vec![
        "install",
        "--env",
        env,
        "--path",
        "/ROOT/wp-content",
        "--delay",
        "1",
        "--yes",
    ]
}

/// Runs `install` with [`install_args`]; panics unless it succeeds.
pub fn install(cluster: &Cluster) {
    let (code, stdout, stderr) = cluster.run(&install_args(cluster));
    assert_eq!(code, 0, "install failed:\n{stdout}\n{stderr}");
}

/// Runs `verify`; panics unless it finds the nodes identical.
pub fn verify_identical(cluster: &Cluster) {
    let (code, stdout, stderr) = cluster.run(&["verify", "--env", &cluster.name]);
    assert_eq!(code, 0, "verify found drift:\n{stdout}\n{stderr}");
}
