//! The inventory file (TOML): named environments, their nodes, webroot and SSH
//! user. Parsing and validation are pure; `load` only adds reading the file.
//!
//! ```toml
//! [environments.prod]
//! webroot = "/var/www/webroot"          # default
//! user = "root"                         # SSH user when a node does not name one
//! nodes = [
//!   "web1",                             # a host (or ssh config alias)
//!   "deploy@10.0.0.12:2222",            # user@host:port
//!   { name = "web3", ssh = "web3.internal", address = "10.0.0.13" },
//! ]
//! ```

use crate::error::{Error, LeftOut, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub const DEFAULT_WEBROOT: &str = "/var/www/webroot";
pub const DEFAULT_SSH_PORT: u16 = 22;

/// Where the operator's ssh connects to: `[user@]host[:port]`; `host` may be an
/// alias of the ssh config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshDestination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for SshDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => f.write_str(&self.host),
        }
    }
}

/// Where the other nodes reach a node's sshd. Read back from a state file, it
/// passes the same checks as an address of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedAddress")]
pub struct PeerAddress {
    pub host: String,
    pub port: u16,
}

/// A `PeerAddress` as a state file holds it, before it is checked.
#[derive(Deserialize)]
pub struct UncheckedAddress {
    host: String,
    port: u16,
}

impl TryFrom<UncheckedAddress> for PeerAddress {
    type Error = String;
    fn try_from(raw: UncheckedAddress) -> std::result::Result<Self, String> {
        check_host(&raw.host)?;
        if raw.port == 0 {
            return Err(format!("{:?}: port 0 is not a port", raw.host));
        }
        Ok(PeerAddress {
            host: raw.host,
            port: raw.port,
        })
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One node of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub ssh: SshDestination,
    pub address: PeerAddress,
}

/// One environment: its nodes and where its webroot is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub name: String,
    pub webroot: String,
    pub nodes: Vec<Node>,
    /// Nodes the topology source lists but filesync leaves out (not running,
    /// or an unusable answer): in no list of any node, and never removed as
    /// departed. The inventory leaves none out.
    pub left_out: Vec<LeftOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    pub environments: BTreeMap<String, Environment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    environments: BTreeMap<String, RawEnvironment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    webroot: Option<String>,
    user: Option<String>,
    #[serde(default)]
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawNode {
    Destination(String),
    Table(RawNodeTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeTable {
    name: String,
    ssh: Option<String>,
    address: Option<String>,
}

impl Inventory {
    /// Reads and validates the inventory file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| Error::Inventory {
            path: path.display().to_string(),
            reason: match err.kind() {
                std::io::ErrorKind::NotFound => "file not found".to_string(),
                _ => err.to_string(),
            },
        })?;
        Self::parse(&text).map_err(|reason| Error::Inventory {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses inventory text; the error is a human-readable reason.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let raw: RawInventory = toml::from_str(text).map_err(|err| err.to_string())?;
        let mut environments = BTreeMap::new();
        for (name, env) in raw.environments {
            let env = parse_environment(&name, env)
                .map_err(|reason| format!("environment {name:?}: {reason}"))?;
            environments.insert(name, env);
        }
        Ok(Inventory { environments })
    }

    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.environments
            .get(name)
            .ok_or_else(|| Error::UnknownEnvironment {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.environments.keys().cloned().collect()
    }
}

impl Environment {
    /// The nodes named in `wanted` (all nodes when `None`), in inventory order.
    pub fn select(&self, wanted: Option<&[String]>) -> Result<Vec<Node>> {
        let selected: Vec<Node> = match wanted {
            None => self.nodes.clone(),
            Some(names) => {
                for name in names {
                    if let Some(left_out) = self.left_out.iter().find(|l| &l.name == name) {
                        return Err(Error::InvalidSetting {
                            setting: "--nodes".into(),
                            reason: format!("{name} is left out: {}", left_out.reason),
                            hint: "name nodes filesync can work on (`filesync nodes --env ENV` \
                                   lists them), or bring that node back first"
                                .into(),
                        });
                    }
                    if !self.nodes.iter().any(|node| &node.name == name) {
                        return Err(Error::UnknownNode {
                            env: self.name.clone(),
                            name: name.clone(),
                            known: self.node_names().join(", "),
                        });
                    }
                }
                self.nodes
                    .iter()
                    .filter(|node| names.contains(&node.name))
                    .cloned()
                    .collect()
            }
        };
        if selected.is_empty() {
            return Err(Error::NoNodes {
                env: self.name.clone(),
                left_out: self.left_out.clone(),
            });
        }
        Ok(selected)
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.name.clone()).collect()
    }
}

fn parse_environment(name: &str, raw: RawEnvironment) -> std::result::Result<Environment, String> {
    check_environment_name(name)?;
    let webroot = raw.webroot.unwrap_or_else(|| DEFAULT_WEBROOT.to_string());
    check_webroot(&webroot)?;
    if let Some(user) = &raw.user {
        check_user(user)?;
    }
    let mut nodes: Vec<Node> = Vec::new();
    for raw_node in raw.nodes {
        let node = parse_node(raw_node, raw.user.as_deref())?;
        if nodes.iter().any(|other| other.name == node.name) {
            return Err(format!("node {:?} is listed twice", node.name));
        }
        nodes.push(node);
    }
    Ok(Environment {
        name: name.to_string(),
        webroot: webroot.trim_end_matches('/').to_string(),
        nodes,
        left_out: Vec::new(),
    })
}

impl Node {
    /// A node from what a state file recorded about it (`desired::Member`).
    pub fn from_record(name: &str, ssh: &str, address: &str) -> std::result::Result<Node, String> {
        check_node_name(name)?;
        Ok(Node {
            name: name.to_string(),
            ssh: parse_destination(ssh)?,
            address: parse_address(address)?,
        })
    }
}

fn parse_node(raw: RawNode, default_user: Option<&str>) -> std::result::Result<Node, String> {
    let (name, ssh, address) = match raw {
        RawNode::Destination(dest) => {
            let ssh = parse_destination(&dest)?;
            let name = match ssh.port {
                Some(port) => PeerAddress {
                    host: ssh.host.clone(),
                    port,
                }
                .to_string(),
                None => ssh.host.clone(),
            };
            (name, ssh, None)
        }
        RawNode::Table(table) => {
            let ssh = parse_destination(table.ssh.as_deref().unwrap_or(&table.name))?;
            (table.name, ssh, table.address)
        }
    };
    check_node_name(&name)?;
    let mut ssh = ssh;
    if ssh.user.is_none() {
        ssh.user = default_user.map(str::to_string);
    }
    let address = match address {
        Some(address) => parse_address(&address)?,
        None => PeerAddress {
            host: ssh.host.clone(),
            port: ssh.port.unwrap_or(DEFAULT_SSH_PORT),
        },
    };
    Ok(Node { name, ssh, address })
}

/// `[user@]host[:port]`, with `[v6addr]:port` for IPv6.
fn parse_destination(raw: &str) -> std::result::Result<SshDestination, String> {
    let (user, rest) = match raw.rsplit_once('@') {
        Some((user, rest)) => {
            check_user(user)?;
            (Some(user.to_string()), rest)
        }
        None => (None, raw),
    };
    let (host, port) = split_host_port(rest)?;
    Ok(SshDestination { user, host, port })
}

fn parse_address(raw: &str) -> std::result::Result<PeerAddress, String> {
    let (host, port) = split_host_port(raw)?;
    Ok(PeerAddress {
        host,
        port: port.unwrap_or(DEFAULT_SSH_PORT),
    })
}

pub(crate) fn split_host_port(raw: &str) -> std::result::Result<(String, Option<u16>), String> {
    let parse_port = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("{raw:?}: port {port:?} is not a number from 1 to 65535"))
    };
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{raw:?}: missing `]` after an IPv6 address"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(parse_port(port)?)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("{raw:?}: unexpected text after `]`")),
        }
    } else if raw.matches(':').count() == 1 {
        let (host, port) = raw.split_once(':').unwrap_or((raw, ""));
        (host, Some(parse_port(port)?))
    } else {
        (raw, None)
    };
    check_host(host)?;
    Ok((host.to_string(), port))
}

/// A node name as the inventory accepts it.
pub fn check_node_name(name: &str) -> std::result::Result<(), String> {
    check_word("node name", name)
}

/// An environment name as the inventory accepts it.
pub fn check_environment_name(name: &str) -> std::result::Result<(), String> {
    check_word("environment name", name)
}

fn check_word(what: &str, value: &str) -> std::result::Result<(), String> {
    // Brackets appear in the names of IPv6 nodes given as `[addr]:port`.
    let extra = if what == "node name" {
        "._:-[]"
    } else {
        "._:-"
    };
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        && !value.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} must be 1 to 64 letters, digits, `.`, `_`, `:` or `-`, \
             not starting with `-` or `.`"
        ))
    }
}

fn check_host(host: &str) -> std::result::Result<(), String> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:%".contains(c))
        && !host.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is not a host name or IP address"))
    }
}

/// An SSH user name of the inventory (the operator's ssh logs in as it).
pub fn check_user(user: &str) -> std::result::Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !user.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{user:?} is not a valid SSH user name"))
    }
}

/// The webroot appears in shell scripts, crontab lines and rsync's `-e` command:
/// it is restricted to characters none of them interpret.
fn check_webroot(webroot: &str) -> std::result::Result<(), String> {
    let ok = webroot.starts_with('/')
        && webroot.len() > 1
        && webroot
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        && !webroot.split('/').any(|part| part == "..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "webroot {webroot:?} must be an absolute path of letters, digits, `/`, `.`, `_` \
             and `-`, without `..`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(nodes: &str) -> std::result::Result<Environment, String> {
        Inventory::parse(&format!("[environments.prod]\nnodes = {nodes}\n"))
            .map(|inv| inv.environments["prod"].clone())
    }

    #[test]
    fn nodes_can_be_hosts_destinations_or_tables() {
        let env = one(
            r#"["web1", "deploy@10.0.0.12:2222", { name = "web3", ssh = "root@web3.internal", address = "10.0.0.13" }]"#,
        )
        .unwrap();
        assert_eq!(env.webroot, DEFAULT_WEBROOT);
        let names: Vec<_> = env.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["web1", "10.0.0.12:2222", "web3"]);
        assert_eq!(env.nodes[0].ssh.to_string(), "web1");
        assert_eq!(env.nodes[0].address.to_string(), "web1:22");
        assert_eq!(env.nodes[1].ssh.user.as_deref(), Some("deploy"));
        assert_eq!(env.nodes[1].ssh.port, Some(2222));
        assert_eq!(env.nodes[1].address.to_string(), "10.0.0.12:2222");
        assert_eq!(env.nodes[2].ssh.to_string(), "root@web3.internal");
        assert_eq!(env.nodes[2].address.to_string(), "10.0.0.13:22");
    }

    #[test]
    fn environment_user_and_webroot_apply_to_its_nodes() {
        let inv = Inventory::parse(
            "[environments.prod]\nwebroot = \"/srv/www/\"\nuser = \"admin\"\nnodes = [\"a\", \"root@b\"]\n",
        )
        .unwrap();
        let env = &inv.environments["prod"];
        assert_eq!(env.webroot, "/srv/www");
        assert_eq!(env.nodes[0].ssh.user.as_deref(), Some("admin"));
        assert_eq!(env.nodes[1].ssh.user.as_deref(), Some("root"));
    }

    #[test]
    fn ipv6_destinations_use_brackets() {
        let env = one(r#"["[fd00::1]:2222", "root@[fd00::2]"]"#).unwrap();
        assert_eq!(env.nodes[0].name, "[fd00::1]:2222");
        assert_eq!(env.nodes[0].ssh.host, "fd00::1");
        assert_eq!(env.nodes[0].address.to_string(), "[fd00::1]:2222");
        assert_eq!(env.nodes[1].ssh.port, None);
    }

    #[test]
    fn malformed_inventories_are_refused_with_the_reason() {
        let cases = [
            ("[environments.prod\n", "expected"),
            (
                "[environments.prod]\nnodes = [\"a\", \"a\"]\n",
                "listed twice",
            ),
            ("[environments.prod]\nnodes = [\"a:99999\"]\n", "port"),
            ("[environments.prod]\nnodes = [\"a b\"]\n", "not a host"),
            ("[environments.prod]\nnodes = [\"$(id)@a\"]\n", "SSH user"),
            (
                "[environments.prod]\nwebroot = \"relative\"\n",
                "absolute path",
            ),
            (
                "[environments.prod]\nwebroot = \"/var/www/it's\"\n",
                "webroot",
            ),
            (
                "[environments.prod]\nwebroot = \"/var/../etc\"\n",
                "without `..`",
            ),
            ("[environments.prod]\nnodez = []\n", "unknown field"),
            ("[environments.\"a b\"]\n", "environment name"),
            (
                "[environments.prod]\nnodes = [{ name = \"x\", address = \"h:0\" }]\n",
                "port",
            ),
        ];
        for (text, why) in cases {
            let err = Inventory::parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_node_round_trips_through_its_recorded_form() {
        let env = one(r#"["deploy@10.0.0.12:2222", "[fd00::1]:22", { name = "w", ssh = "root@w", address = "10.0.0.3" }]"#)
            .unwrap();
        for node in &env.nodes {
            let back =
                Node::from_record(&node.name, &node.ssh.to_string(), &node.address.to_string())
                    .unwrap();
            assert_eq!(&back, node);
        }
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let inv = Inventory::parse("[environments.a]\n[environments.b]\n").unwrap();
        let err = inv.environment("c").unwrap_err().to_string();
        assert!(err.contains("\"c\"") && err.contains("a, b"), "{err}");
    }

    #[test]
    fn select_keeps_inventory_order_and_refuses_unknown_or_empty() {
        let env = one(r#"["a", "b", "c"]"#).unwrap();
        let picked = env.select(Some(&["c".into(), "a".into()])).unwrap();
        assert_eq!(
            picked.iter().map(|n| &n.name).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(env.select(None).unwrap().len(), 3);
        let err = env.select(Some(&["z".into()])).unwrap_err().to_string();
        assert!(
            err.contains("unknown node \"z\"") && err.contains("a, b, c"),
            "{err}"
        );
        let empty = one("[]").unwrap();
        assert!(matches!(empty.select(None), Err(Error::NoNodes { .. })));
    }

    #[test]
    fn missing_inventory_file_says_so() {
        let err = Inventory::load(Path::new("/nonexistent/filesync.toml")).unwrap_err();
        assert!(err.to_string().contains("file not found"), "{err}");
    }
}
