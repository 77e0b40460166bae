//! What filesync wants on each node of an installation: computed from the
//! settings, the topology and facts the probe read from the nodes. Pure.

use crate::model::peer_link::{LinkNode, PeerLink, Transport};
use crate::model::settings::{Settings, SyncPath};
use crate::model::topology;
use crate::nodes::layout::InstallDir;
use crate::source::inventory::{Environment, Node, PeerAddress};
use serde::Serialize;
use std::collections::BTreeMap;

/// Facts about a node that its peers' configuration depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// The login user on the node (peers push as this user).
    pub user: String,
    /// The node's SSH host public keys (`type base64`), pinned by its peers.
    pub host_keys: Vec<String>,
    /// The node's rsync, absolute: its daemon mode receives the peers' pushes.
    pub rsync: String,
    /// Mount points inside the synced directory, relative to it (`/media/nfs`).
    pub mounts: Vec<String>,
    /// The addresses pushes from this node come from (for `from=`).
    pub source_addresses: Vec<String>,
}

/// A node of the installation as recorded in every node's state, so that a later
/// reconcile can still reach a node that has left the inventory. Read back, it
/// must pass as a node of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(try_from = "UncheckedMember")]
pub struct Member {
    pub name: String,
    /// The operator's ssh destination, `[user@]host[:port]`.
    pub ssh: String,
    /// Where peers reach its sshd, `host:port`.
    pub address: String,
}

/// A `Member` as a state file holds it, before it is checked.
#[derive(serde::Deserialize)]
pub struct UncheckedMember {
    name: String,
    ssh: String,
    address: String,
}

impl TryFrom<UncheckedMember> for Member {
    type Error = String;
    fn try_from(raw: UncheckedMember) -> Result<Self, String> {
        Node::from_record(&raw.name, &raw.ssh, &raw.address)
            .map_err(|reason| format!("member {:?}: {reason}", raw.name))?;
        Ok(Member {
            name: raw.name,
            ssh: raw.ssh,
            address: raw.address,
        })
    }
}

impl Member {
    pub fn of(node: &Node) -> Self {
        Member {
            name: node.name.clone(),
            ssh: node.ssh.to_string(),
            address: node.address.to_string(),
        }
    }
}

/// A peer this node pushes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushTarget {
    pub name: String,
    /// The ssh config `Host` of this peer in the installation's ssh config.
    pub alias: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub address: String,
    pub host_keys: Vec<String>,
    /// rsync's destination: the receiving module of the peer's rsync daemon over
    /// SSH, `alias::sync/`.
    pub remote: String,
    /// Pushes share one SSH connection (a peer of this environment). A node of
    /// the other environment gets a connection per push: one that died with
    /// its node would hold the next push until it timed out, where a new one
    /// fails within ConnectTimeout and the push goes on to the next node.
    pub shared_connection: bool,
}

/// A peer that pushes to this node, admitted by an authorized_keys entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pusher {
    pub name: String,
    pub from: Vec<String>,
}

/// Everything one node of the installation should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeConfig {
    pub env: String,
    pub node: String,
    pub install: InstallDir,
    pub settings: Settings,
    /// The synced directory, absolute.
    pub synced_dir: String,
    pub targets: Vec<PushTarget>,
    pub pushers: Vec<Pusher>,
    /// rsync patterns excluded from sync, anchored at the synced directory.
    pub excludes: Vec<String>,
    /// This node's rsync, absolute (the forced command of its peers' keys).
    pub rsync: String,
    /// The login user is root: the receiving daemon confines itself with chroot.
    pub as_root: bool,
    /// Every node of the installation, this one included.
    pub members: Vec<Member>,
    /// Two-environment mode: this node's side of the link to the other environment.
    pub link: Option<LinkConfig>,
}

/// One node's side of the link to the other environment: it pushes to the
/// other side's nodes (their rsync daemons, or their sshd with this node's
/// sync key), and receives what the other environment pushes (its own daemon,
/// or its sshd admitting the other side's keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkConfig {
    pub transport: Transport,
    /// The transport is the rsync daemon (for the templates).
    pub daemon: bool,
    /// The link's target in lsyncd: the first peer's destination, the same on
    /// every node (`rsync://filesync@host:port/module/`, or `alias::module/`
    /// over SSH).
    pub url: String,
    /// The destinations of the other environment's nodes in the order this
    /// node pushes to them: the first that can be reached takes the push.
    pub push_to: Vec<String>,
    /// The peers, `host:port, ...`, for people.
    pub peer: String,
    /// The module that receives (the same on both sides).
    pub module: String,
    /// The port this node's daemon listens on (the same on both sides).
    pub port: u16,
    /// Addresses and CIDR blocks allowed to push here; empty: any.
    pub allow: Vec<String>,
    /// The daemon runs as root and must keep writing as root (not `nobody`).
    pub as_root: bool,
    /// SSH transport: the other environment's nodes this node pushes to, in
    /// its order (their host keys pinned in the installation's known_hosts).
    pub targets: Vec<PushTarget>,
    /// SSH transport: the other environment's nodes whose sync keys are
    /// admitted here (those without a key yet are not).
    pub pushers: Vec<LinkPusher>,
}

/// A node of the other environment admitted to push here over SSH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkPusher {
    /// `ENV/NODE`: never the name of a node of this environment.
    pub name: String,
    pub key: String,
    pub from: Vec<String>,
}

impl NodeConfig {
    /// The tag that marks this installation's crontab lines and authorized_keys entries.
    pub fn tag(&self) -> String {
        self.install.tag()
    }
}

pub fn tag(install: &InstallDir) -> String {
    install.tag()
}

/// rsync's own temporary directory under `--delay-updates`.
pub const RSYNC_TEMP_PATTERN: &str = ".~tmp~/";

/// The module of every node's receiving rsync daemon (over SSH).
pub const RECEIVE_MODULE: &str = "sync";

/// The configuration of every node in `nodes` (the whole environment; nodes
/// without facts, which nobody has installed and the probe could not reach,
/// are left out of every peer list; see `mesh`).
pub fn node_configs(
    env: &Environment,
    settings: &Settings,
    nodes: &[Node],
    facts: &BTreeMap<String, NodeFacts>,
) -> BTreeMap<String, NodeConfig> {
    let members: Vec<&Node> = nodes
        .iter()
        .filter(|node| facts.contains_key(&node.name))
        .collect();
    let names: Vec<String> = members.iter().map(|node| node.name.clone()).collect();
    let targets = topology::push_targets(&names, settings.topology);
    let pushers = topology::pushers(&targets);
    let install = InstallDir::under_webroot(&env.webroot);
    let synced_dir = settings.path.absolute(&env.webroot);
    let by_name: BTreeMap<&str, &Node> = members.iter().map(|n| (n.name.as_str(), *n)).collect();
    let records: Vec<Member> = members.iter().map(|node| Member::of(node)).collect();

    members
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let own = &facts[&node.name];
            let push_targets = targets[&node.name]
                .iter()
                .map(|peer| push_target(by_name[peer.as_str()], &facts[peer]))
                .collect();
            let admitted = pushers[&node.name]
                .iter()
                .map(|peer| Pusher {
                    name: peer.clone(),
                    from: facts[peer].source_addresses.clone(),
                })
                .collect();
            let mut excludes = vec![
                RSYNC_TEMP_PATTERN.to_string(),
                format!("/{}/", crate::nodes::layout::TRASH_STAGING),
            ];
            if let Some(inside) = install.relative_to(&synced_dir) {
                excludes.push(format!("{inside}/"));
            }
            excludes.extend(own.mounts.iter().map(|mount| format!("{mount}/")));
            let config = NodeConfig {
                env: env.name.clone(),
                node: node.name.clone(),
                install: install.clone(),
                settings: settings.clone(),
                synced_dir: synced_dir.clone(),
                targets: push_targets,
                pushers: admitted,
                excludes,
                rsync: own.rsync.clone(),
                as_root: own.user == "root",
                members: records.clone(),
                link: settings
                    .link
                    .as_ref()
                    .map(|link| link_config(link, &settings.path, index, own.user == "root")),
            };
            (node.name.clone(), config)
        })
        .collect()
}

/// The ssh config `Host` under which a node's peers reach it: `filesync-` and
/// its `safe_name`.
pub fn alias(node: &str) -> String {
    format!("filesync-{}", safe_name(node))
}

/// A node name with anything but letters, digits, `.`, `_` and `-` turned
/// into `-`: fit for file names, ssh config and the receive hook.
pub fn safe_name(node: &str) -> String {
    node.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The rsync daemon URL of `peer` for the module of `path`, with the auth user.
pub fn daemon_url(peer: &PeerAddress, path: &SyncPath) -> String {
    let host = if peer.host.contains(':') {
        format!("[{}]", peer.host)
    } else {
        peer.host.clone()
    };
    format!(
        "rsync://{}@{host}:{}/{}/",
        crate::model::peer_link::AUTH_USER,
        peer.port,
        module(path)
    )
}

/// The daemon module of an installation: named after the synced path, which
/// both environments must share, so that each side knows the other's module
/// without being told (a different path gives "unknown module" at the peer).
pub fn module(path: &SyncPath) -> String {
    format!(
        "filesync-{}",
        &crate::digest::hex(path.as_str().as_bytes())[..12]
    )
}

/// The `index`th node's side of the link.
fn link_config(link: &PeerLink, path: &SyncPath, index: usize, as_root: bool) -> LinkConfig {
    let module = module(path);
    let (targets, pushers) = match link.transport {
        Transport::Daemon => (Vec::new(), Vec::new()),
        Transport::Ssh => {
            let env = link.peer_env.as_deref().unwrap_or("peer");
            let targets = link
                .push_order(index)
                .into_iter()
                .filter_map(|address| link.nodes.iter().find(|n| &n.address == address))
                .map(|node| link_target(node, &module))
                .collect();
            let pushers = link
                .nodes
                .iter()
                .filter_map(|node| {
                    let mut from = node.from.clone();
                    from.extend(
                        link.allow
                            .iter()
                            .filter(|a| !node.from.contains(a))
                            .cloned(),
                    );
                    Some(LinkPusher {
                        name: node.pusher(env),
                        key: node.key.clone()?,
                        from,
                    })
                })
                .collect();
            (targets, pushers)
        }
    };
    let destination = |address: &PeerAddress| match link.transport {
        Transport::Daemon => daemon_url(address, path),
        Transport::Ssh => format!("{}::{module}/", link_alias(&address.to_string())),
    };
    LinkConfig {
        transport: link.transport,
        daemon: link.transport == Transport::Daemon,
        url: destination(&link.peer),
        push_to: link
            .push_order(index)
            .into_iter()
            .map(destination)
            .collect(),
        peer: link.describe(),
        module,
        port: link.peer.port,
        allow: link.allow.clone(),
        as_root,
        targets,
        pushers,
    }
}

/// The ssh config `Host` of a node of the other environment, by its address:
/// `filesync.link-` and the address made safe (never a node's `alias`, which
/// starts `filesync-`; names repeat across environments, addresses do not).
pub fn link_alias(address: &str) -> String {
    format!("filesync.link-{}", safe_name(address))
}

fn link_target(node: &LinkNode, module: &str) -> PushTarget {
    let alias = link_alias(&node.address.to_string());
    PushTarget {
        name: node.name.clone(),
        remote: format!("{alias}::{module}/"),
        alias,
        host: node.address.host.clone(),
        port: node.address.port,
        user: node.user.clone(),
        address: node.address.to_string(),
        host_keys: node.host_keys.clone(),
        shared_connection: false,
    }
}

fn push_target(peer: &Node, facts: &NodeFacts) -> PushTarget {
    let alias = alias(&peer.name);
    let PeerAddress { host, port } = &peer.address;
    PushTarget {
        name: peer.name.clone(),
        remote: format!("{alias}::{RECEIVE_MODULE}/"),
        alias,
        host: host.clone(),
        port: *port,
        user: facts.user.clone(),
        address: peer.address.to_string(),
        host_keys: facts.host_keys.clone(),
        shared_connection: true,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::settings::{SyncPath, Topology};
    use crate::source::inventory::Inventory;

    pub fn env(n: usize) -> Environment {
        let nodes: Vec<String> = (1..=n)
            .map(|i| format!("{{ name = \"n{i}\", ssh = \"n{i}\", address = \"10.1.0.{i}\" }}"))
            .collect();
        let text = format!("[environments.prod]\nnodes = [{}]\n", nodes.join(", "));
        Inventory::parse(&text).unwrap().environments["prod"].clone()
    }

    pub fn facts(env: &Environment) -> BTreeMap<String, NodeFacts> {
        env.nodes
            .iter()
            .map(|node| {
                let facts = NodeFacts {
                    user: "root".into(),
                    host_keys: vec![format!("ssh-ed25519 HOSTKEY{}", node.name)],
                    rsync: "/usr/bin/rsync".into(),
                    mounts: vec![],
                    source_addresses: vec![node.address.host.clone()],
                };
                (node.name.clone(), facts)
            })
            .collect()
    }

    pub fn settings(path: &str, topology: Topology) -> Settings {
        Settings {
            path: SyncPath::parse(path, "/var/www/webroot").unwrap(),
            delay: "1".parse().unwrap(),
            topology,
            trash_days: Default::default(),
            link: None,
        }
    }

    #[test]
    fn the_module_depends_only_on_the_synced_path() {
        let a = SyncPath::parse("/ROOT/wp-content", "/var/www/webroot").unwrap();
        let b = SyncPath::parse("/ROOT/images", "/var/www/webroot").unwrap();
        assert_eq!(module(&a), module(&a.clone()));
        assert_ne!(module(&a), module(&b));
        assert!(module(&a).starts_with("filesync-") && module(&a).len() == 21);
        let peer = crate::model::peer_link::parse_peer("[fd00::2]").unwrap();
        assert_eq!(
            daemon_url(&peer, &a),
            format!("rsync://filesync@[fd00::2]:7755/{}/", module(&a))
        );
    }

    #[test]
    fn each_node_pushes_to_its_peers_and_admits_its_pushers() {
        let env = env(3);
        let configs = node_configs(
            &env,
            &settings("/ROOT/wp-content", Topology::Mesh),
            &env.nodes,
            &facts(&env),
        );
        let n1 = &configs["n1"];
        assert_eq!(n1.synced_dir, "/var/www/webroot/ROOT/wp-content");
        let remotes: Vec<_> = n1.targets.iter().map(|t| t.remote.as_str()).collect();
        assert_eq!(remotes, ["filesync-n2::sync/", "filesync-n3::sync/"]);
        assert_eq!(n1.targets[0].host_keys, ["ssh-ed25519 HOSTKEYn2"]);
        assert_eq!(n1.pushers[1].from, ["10.1.0.3"]);
        assert_eq!(n1.excludes, [RSYNC_TEMP_PATTERN, "/.filesync/"]);
        assert_eq!(n1.tag(), "filesync:/var/www/webroot/lsyncd");
    }

    #[test]
    fn nodes_without_facts_are_in_no_peer_list() {
        let env = env(3);
        let mut facts = facts(&env);
        facts.remove("n2");
        let configs = node_configs(&env, &settings("/ROOT", Topology::Mesh), &env.nodes, &facts);
        assert!(!configs.contains_key("n2"));
        assert_eq!(configs["n1"].targets.len(), 1);
        assert_eq!(configs["n3"].pushers[0].name, "n1");
    }

    #[test]
    fn syncing_the_whole_webroot_excludes_the_install_dir_and_mounts() {
        let env = env(2);
        let mut facts = facts(&env);
        facts.get_mut("n1").unwrap().mounts = vec!["/media/nfs".into()];
        let configs = node_configs(&env, &settings("/", Topology::Ring), &env.nodes, &facts);
        assert_eq!(
            configs["n1"].excludes,
            [RSYNC_TEMP_PATTERN, "/.filesync/", "/lsyncd/", "/media/nfs/"]
        );
        assert_eq!(
            configs["n2"].excludes,
            [RSYNC_TEMP_PATTERN, "/.filesync/", "/lsyncd/"]
        );
    }
}
