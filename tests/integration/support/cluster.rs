//! A simulated cluster for one test (network namespaces with real sshd, cron,
//! lsyncd and rsync, from `testbed/cluster`), torn down when dropped. Tests on
//! clusters run one at a time: the machine has two cores and timing matters.
//! Running filesync on it is in `run`, paths on its nodes in `node_files`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

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

/// How to bring up a cluster (`testbed/cluster up` options); see [`Cluster::builder`].
#[derive(Clone, Debug)]
pub struct ClusterBuilder {
    name: String,
    nodes: usize,
    subnet: u8,
    routed: bool,
    old_rsync: Vec<String>,
    no_rrsync: Vec<String>,
    webroot_owner: Option<String>,
}

impl ClusterBuilder {
    /// Number of nodes n1..nN (default 3).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// Third octet of the cluster's subnet 10.213.X.0/24 (default 7).
    pub fn subnet(mut self, subnet: u8) -> Self {
        self.subnet = subnet;
        self
    }

    /// These nodes run Debian 12's rsync 3.2.7 (`--old-rsync`).
    pub fn old_rsync(mut self, nodes: &[&str]) -> Self {
        self.old_rsync = nodes.iter().map(|node| node.to_string()).collect();
        self
    }

    /// These nodes have no /usr/bin/rrsync (`--no-rrsync`).
    pub fn no_rrsync(mut self, nodes: &[&str]) -> Self {
        self.no_rrsync = nodes.iter().map(|node| node.to_string()).collect();
        self
    }

    /// The nodes' webroot belongs to this user and its group (`--webroot-owner`).
    pub fn webroot_owner(mut self, user: &str) -> Self {
        self.webroot_owner = Some(user.to_string());
        self
    }

    fn routed(mut self, routed: bool) -> Self {
        self.routed = routed;
        self
    }

    /// Brings the cluster up, or returns `None` (skip) when this machine cannot
    /// make namespaces and we are not in CI. In CI that is a failure.
    pub fn up(self) -> Option<Cluster> {
        Cluster::start(&self, Some(serial()))
    }

    /// The arguments of `testbed/cluster up`.
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "up".into(),
            "--name".into(),
            self.name.clone(),
            "--nodes".into(),
            self.nodes.to_string(),
            "--subnet".into(),
            format!("10.213.{}", self.subnet),
        ];
        if self.routed {
            args.push("--routed".into());
        }
        args.extend(node_list_args("--old-rsync", &self.old_rsync));
        args.extend(node_list_args("--no-rrsync", &self.no_rrsync));
        if let Some(user) = &self.webroot_owner {
            args.extend(["--webroot-owner".to_string(), user.clone()]);
        }
        args
    }
}

/// `OPTION n1,n2` for a non-empty list of nodes, nothing for an empty one.
fn node_list_args<S: AsRef<str>>(option: &str, nodes: &[S]) -> Vec<String> {
    if nodes.is_empty() {
        return Vec::new();
    }
    let list: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
    vec![option.to_string(), list.join(",")]
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
        Self::builder(name).nodes(nodes).subnet(subnet).up()
    }

    /// A cluster with options: `Cluster::builder("name").nodes(3).subnet(41)
    /// .old_rsync(&["n2"]).no_rrsync(&["n3"]).webroot_owner("www-data").up()`.
    pub fn builder(name: &str) -> ClusterBuilder {
        ClusterBuilder {
            name: name.to_string(),
            nodes: 3,
            subnet: 7,
            routed: false,
            old_rsync: Vec::new(),
            no_rrsync: Vec::new(),
            webroot_owner: None,
        }
    }

    /// Two clusters on their own subnets whose nodes reach each other through the
    /// host (two environments). The second is torn down first.
    pub fn up_pair(
        (a, a_subnet): (&str, u8),
        (b, b_subnet): (&str, u8),
        nodes: usize,
    ) -> Option<(Cluster, Cluster)> {
        let cluster = |name, subnet| Self::builder(name).nodes(nodes).subnet(subnet);
        Self::up_pair_of(cluster(a, a_subnet), cluster(b, b_subnet))
    }

    /// `up_pair` of two clusters as built (routed, whatever the builders say).
    pub fn up_pair_of(a: ClusterBuilder, b: ClusterBuilder) -> Option<(Cluster, Cluster)> {
        let serial = serial();
        let first = Self::start(&a.routed(true), Some(serial))?;
        let second = Self::start(&b.routed(true), None)?;
        Some((first, second))
    }

    fn start(spec: &ClusterBuilder, serial: Option<MutexGuard<'static, ()>>) -> Option<Cluster> {
        if !testbed_available() {
            return None;
        }
        let args = spec.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
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
            name: spec.name.clone(),
            inventory: var("FILESYNC_INVENTORY"),
            ssh_config: var("FILESYNC_SSH_CONFIG"),
            dir: var("TESTBED_DIR"),
            _serial: serial,
        })
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

    /// `testbed/cluster add`: `count` more nodes (also in the inventory), those
    /// named in `old_rsync` (names of new nodes, or "all") with rsync 3.2.7.
    pub fn add_nodes(&self, count: usize, old_rsync: &[&str]) {
        let count = count.to_string();
        let mut args = vec!["add".to_string(), "--count".to_string(), count];
        args.extend(node_list_args("--old-rsync", old_rsync));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.testbed(&args);
        assert!(
            output.status.success(),
            "testbed add failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `testbed/cluster web`: nginx on every node behind a round-robin
    /// balancer; returns the balancer's URL (`http://10.213.X.1:8080`).
    pub fn web(&self) -> String {
        let output = self.testbed(&["web"]);
        assert!(
            output.status.success(),
            "testbed web failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("TESTBED_KEEP").is_none() {
            testbed(&["down", "--name", &self.name]);
        }
    }
}

/// `value` quoted for a shell script given to [`Cluster::exec`].
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}
