//! A simulated cluster for one test (network namespaces with real sshd, cron,
//! lsyncd and rsync, from `testbed/cluster`), torn down when dropped. Tests on
//! clusters run one at a time: the machine has two cores and timing matters.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock that runs cluster tests one at a time, for a test that
/// brings up clusters by other means (the benchmark's smoke run).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether this machine can run the testbed. Outside CI an answer of no makes
/// the caller skip (with a `SKIPPED:` line); in CI it is a failure.
pub fn testbed_available() -> bool {
    let check = testbed(&["check"]);
    if check.status.success() {
        return true;
    }
    let reason = String::from_utf8_lossy(&check.stderr).trim().to_string();
    if std::env::var_os("CI").is_some() {
        panic!("the simulated cluster cannot run in CI: {reason}");
    }
    eprintln!("SKIPPED: simulated cluster unavailable: {reason}");
    false
}

pub struct Cluster {
    pub name: String,
    pub inventory: PathBuf,
    pub ssh_config: PathBuf,
    pub dir: PathBuf,
    /// Held by one cluster of the test (both of a pair share it).
    _serial: Option<MutexGuard<'static, ()>>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/cluster")
}

pub fn testbed(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .env("TESTBED_QUIET", "1")
        .output()
        .expect("run testbed/cluster")
}

impl Cluster {
    /// Brings up `nodes` nodes, or returns `None` (skip) when this machine cannot
    /// make namespaces and we are not in CI. In CI that is a failure.
    pub fn up(name: &str, nodes: usize, subnet: u8) -> Option<Cluster> {
        Self::start(name, nodes, subnet, false, Some(serial()))
    }

    /// Two clusters on their own subnets whose nodes reach each other through the
    /// host (two environments). The second is torn down first.
    pub fn up_pair(
        (a, a_subnet): (&str, u8),
        (b, b_subnet): (&str, u8),
        nodes: usize,
    ) -> Option<(Cluster, Cluster)> {
        let serial = serial();
        let first = Self::start(a, nodes, a_subnet, true, Some(serial))?;
        let second = Self::start(b, nodes, b_subnet, true, None)?;
        Some((first, second))
    }

    fn start(
        name: &str,
        nodes: usize,
        subnet: u8,
        routed: bool,
        serial: Option<MutexGuard<'static, ()>>,
    ) -> Option<Cluster> {
        if !testbed_available() {
            return None;
        }
        let subnet = format!("10.213.{subnet}");
        let nodes = nodes.to_string();
        let mut args = vec!["up", "--name", name, "--nodes", &nodes, "--subnet", &subnet];
        if routed {
            args.push("--routed");
        }
        let output = testbed(&args);
        assert!(
            output.status.success(),
            "testbed up failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let vars: Vec<(String, String)> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = |key: &str| {
            PathBuf::from(
                &vars
                    .iter()
                    .find(|(k, _)| k == key)
                    .unwrap_or_else(|| panic!("testbed up printed no {key}"))
                    .1,
            )
        };
        Some(Cluster {
            name: name.to_string(),
            inventory: var("FILESYNC_INVENTORY"),
            ssh_config: var("FILESYNC_SSH_CONFIG"),
            dir: var("TESTBED_DIR"),
            _serial: serial,
        })
    }

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
        let output = self.filesync(args).output().expect("run filesync");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs a shell script inside a node; panics unless it succeeds.
    pub fn exec(&self, node: &str, script: &str) -> String {
        let output = self.try_exec(node, script);
        assert!(
            output.status.success(),
            "{node}: `{script}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn try_exec(&self, node: &str, script: &str) -> Output {
        testbed(&["exec", "--name", &self.name, node, "--", "sh", "-c", script])
    }

    pub fn testbed(&self, args: &[&str]) -> Output {
        let mut full = vec![args[0], "--name", &self.name];
        full.extend_from_slice(&args[1..]);
        testbed(&full)
    }

    /// Removes a node from the inventory (the node itself keeps running).
    pub fn drop_from_inventory(&self, node: &str) {
        let text = std::fs::read_to_string(&self.inventory).unwrap();
        let needle = format!("name = \"{node}\"");
        assert!(text.contains(&needle), "{node} is not in the inventory");
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| !line.contains(&needle))
            .collect();
        std::fs::write(&self.inventory, kept.join("\n") + "\n").unwrap();
    }

    /// The node's /var/www as seen from the host.
    pub fn www(&self, node: &str) -> PathBuf {
        let output = self.testbed(&["root", node]);
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    }

    /// The synced directory of the usual install (`--path /ROOT/wp-content`), from the host.
    pub fn synced(&self, node: &str) -> PathBuf {
        self.www(node).join("webroot/ROOT/wp-content")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("TESTBED_KEEP").is_none() {
            testbed(&["down", "--name", &self.name]);
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes; true if it held.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long `condition` took to hold, polling; panics after `limit`.
pub fn time_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    assert!(
        eventually(limit, &mut condition),
        "{what}: not within {limit:?}"
    );
    let took = start.elapsed();
    eprintln!("FIGURE: {what}: {:.1} s", took.as_secs_f64());
    took
}
