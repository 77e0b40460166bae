//! The link between two environments ("two-environment mode"): the nodes of
//! the other environment this one pushes to, which addresses may push here,
//! how the changes travel (the rsync daemon protocol, or rsync over SSH with
//! the other side's keys and host keys) and the module both sides share.
//! Pure: parsing and validation only; resolving host names and reading the
//! other side's nodes is the caller's job. Never holds the password (see
//! `password`).

use crate::error::{Error, Result};
use crate::source::inventory::PeerAddress;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The reference add-on's rsync daemon port.
pub const DEFAULT_PORT: u16 = 7755;
/// The user the pushing side authenticates as at the peer's rsync daemon.
pub const AUTH_USER: &str = "filesync";

/// How the cross-environment traffic travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The peer's rsync daemon (TCP 7755 by default, password, not encrypted):
    /// the reference add-on's way.
    #[default]
    Daemon,
    /// rsync over SSH (encrypted): each node's sync key, admitted on the other
    /// side's nodes with a forced command that can only write into the synced
    /// directory, from the pusher's addresses; host keys pinned.
    Ssh,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Daemon => "daemon",
            Transport::Ssh => "ssh",
        }
    }
}

/// A node of the other environment as the SSH transport knows it: where its
/// sshd listens, the user pushes log in as, its host keys (pinned), its sync
/// key (admitted here; none until that side is installed) and the addresses
/// its pushes come from. All of it public; all of it checked as it is read
/// (from the other side's nodes, a state file or an exported file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedLinkNode")]
pub struct LinkNode {
    pub name: String,
    pub address: PeerAddress,
    pub user: String,
    pub host_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub from: Vec<String>,
}

/// A `LinkNode` as it is read, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UncheckedLinkNode {
    name: String,
    address: PeerAddress,
    user: String,
    host_keys: Vec<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    from: Vec<String>,
}

impl TryFrom<UncheckedLinkNode> for LinkNode {
    type Error = String;
    fn try_from(raw: UncheckedLinkNode) -> std::result::Result<Self, String> {
        crate::source::inventory::check_node_name(&raw.name)?;
        let name = &raw.name;
        crate::source::inventory::check_user(&raw.user)
            .map_err(|reason| format!("node {name}: {reason}"))?;
        let public = |key: &str| {
            crate::plan::authorized_keys::public_key(key)
                .ok()
                .filter(|checked| checked == key)
                .ok_or_else(|| format!("node {name}: {key:?} is not an SSH public key"))
        };
        if raw.host_keys.is_empty() {
            return Err(format!("node {name}: no host key"));
        }
        let host_keys = raw
            .host_keys
            .iter()
            .map(|key| public(key))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let key = raw.key.as_deref().map(public).transpose()?;
        // Its key is admitted from these addresses only: none would be any.
        if raw.from.is_empty() {
            return Err(format!(
                "node {name}: no address its pushes come from (`from`)"
            ));
        }
        let from = raw
            .from
            .iter()
            .map(|entry| parse_allow(entry).map_err(|err| format!("node {name}: {err}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(LinkNode {
            name: raw.name,
            address: raw.address,
            user: raw.user,
            host_keys,
            key,
            from,
        })
    }
}

impl LinkNode {
    /// The node with every value checked as if it had been read from a file.
    pub fn checked(raw: LinkNode) -> std::result::Result<LinkNode, String> {
        LinkNode::try_from(UncheckedLinkNode {
            name: raw.name,
            address: raw.address,
            user: raw.user,
            host_keys: raw.host_keys,
            key: raw.key,
            from: raw.from,
        })
    }

    /// The name under which this side admits its key and records it: the
    /// environment and node, `/` between (no node name holds one, so it
    /// never collides with a node of this environment).
    pub fn pusher(&self, env: &str) -> String {
        format!("{env}/{}", self.name)
    }
}

/// The link settings of one environment. Stored in the nodes' state (no secret),
/// and checked as it is read back like the flags that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLink {
    /// The node of the other environment that receives this environment's
    /// changes; its rsync daemon listens on `peer.port`, and so does this side's.
    pub peer: PeerAddress,
    /// The other environment's other nodes (same port): when a node cannot
    /// reach the one it pushes to, it pushes to the next (`push_order`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<PeerAddress>,
    /// Addresses or CIDR blocks allowed to push to this environment's daemons;
    /// empty: any address (only the password protects the daemon).
    #[serde(default, deserialize_with = "allow_entries")]
    pub allow: Vec<String>,
    /// The other environment, when both are in the inventory (`--peer-env`),
    /// or named by its exported keys (`imported`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nodes::untrusted::optional_environment_name"
    )]
    pub peer_env: Option<String>,
    /// How changes travel (earlier versions only had the daemon).
    #[serde(default)]
    pub transport: Transport,
    /// With the SSH transport: the other environment's nodes (then `peer`
    /// and `others` are their sshd addresses, in the same order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<LinkNode>,
    /// `nodes` came from the other environment's exported keys
    /// (`--peer-keys`): that side is not in this source, and `reconcile` does
    /// not make it follow (it says what to run there instead).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

impl PeerLink {
    /// A link to the rsync daemons of `peer` and `others`, admitting `allow`.
    pub fn to_daemons(peer: PeerAddress, others: Vec<PeerAddress>, allow: Vec<String>) -> Self {
        PeerLink {
            peer,
            others,
            allow,
            peer_env: None,
            transport: Transport::Daemon,
            nodes: Vec::new(),
            imported: false,
        }
    }

    /// Every node of the other environment it knows, in the order the
    /// `index`th node of this environment tries them: each node starts at
    /// another one (the pushes are spread over them) and goes on to the next
    /// while one cannot be reached.
    pub fn push_order(&self, index: usize) -> Vec<&PeerAddress> {
        let all: Vec<&PeerAddress> = std::iter::once(&self.peer).chain(&self.others).collect();
        let start = index % all.len();
        all[start..].iter().chain(&all[..start]).copied().collect()
    }

    /// The peers for people: `10.0.2.11:7755` (`, then 10.0.2.12:7755, ...`).
    pub fn describe(&self) -> String {
        let mut text = self.peer.to_string();
        for other in &self.others {
            text.push_str(&format!(", {other}"));
        }
        text
    }
}

/// The addresses allowed to push to a node's rsync daemon, read back as
/// `--allow` takes them.
fn allow_entries<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|entry| parse_allow(entry).map_err(serde::de::Error::custom))
        .collect()
}

/// The warning for a link whose daemons accept pushes from any address, if
/// it is one.
pub fn open_warning(link: &PeerLink, env: &str) -> Option<String> {
    (link.transport == Transport::Daemon && link.allow.is_empty()).then(|| {
        format!(
            "the rsync daemons of {env} will accept connections on port {} from any address, \
             protected only by the password (sent over an unencrypted protocol): give --allow \
             with the other environment's addresses, --peer-env when both environments are in \
             the inventory, or the ssh transport",
            link.peer.port
        )
    })
}

fn invalid(setting: &str, reason: String, hint: &str) -> Error {
    Error::InvalidLink {
        setting: setting.to_string(),
        reason,
        hint: hint.to_string(),
    }
}

const PEER_HINT: &str = "--peer takes the IP address or host name of a node of the other \
                         environment, optionally with the rsync daemon port, or several, \
                         separated by commas: --peer 10.0.2.11, --peer 10.0.2.11:7755 or \
                         --peer 10.0.2.11,10.0.2.12";

/// Parses `--peer`: one node of the other environment or several, separated
/// by commas (`HOST[:PORT],...`, all on the same port). The first is where
/// pushes go; the others take over while it cannot be reached.
pub fn parse_peers(raw: &str) -> Result<(PeerAddress, Vec<PeerAddress>)> {
    let mut peers = raw.split(',').map(parse_peer);
    let first = peers.next().expect("split gives one part at least")?;
    let mut others: Vec<PeerAddress> = Vec::new();
    for peer in peers {
        let peer = peer?;
        if peer.port != first.port {
            return Err(invalid(
                "--peer",
                format!(
                    "{peer} and {first} differ in port: the daemons of both environments \
                         listen on one port"
                ),
                PEER_HINT,
            ));
        }
        if peer != first && !others.contains(&peer) {
            others.push(peer);
        }
    }
    Ok((first, others))
}

/// Parses `HOST[:PORT]` (`[v6addr]:port` for IPv6); the port defaults to 7755.
/// The host is an IP address or a syntactically valid host name.
pub fn parse_peer(raw: &str) -> Result<PeerAddress> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(invalid("--peer", "it is empty".into(), PEER_HINT));
    }
    let (host, port) = crate::source::inventory::split_host_port(raw)
        .map_err(|reason| invalid("--peer", reason, PEER_HINT))?;
    if host.parse::<IpAddr>().is_err() && !is_host_name(&host) {
        return Err(invalid(
            "--peer",
            format!("{host:?} is neither an IP address nor a host name"),
            PEER_HINT,
        ));
    }
    Ok(PeerAddress {
        host,
        port: port.unwrap_or(DEFAULT_PORT),
    })
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Parses one `--allow` entry: an IP address or a CIDR block, normalized.
pub fn parse_allow(raw: &str) -> Result<String> {
    const HINT: &str = "--allow takes IP addresses or CIDR blocks of the other environment's \
                        nodes, separated by commas: --allow 10.0.2.0/24,192.0.2.7";
    let raw = raw.trim();
    let (addr, prefix) = match raw.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (raw, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        invalid(
            "--allow",
            format!("{raw:?} is not an IP address or CIDR block"),
            HINT,
        )
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => Ok(ip.to_string()),
        Some(prefix) => match prefix.parse::<u8>() {
            Ok(bits) if bits <= max => Ok(format!("{ip}/{bits}")),
            _ => Err(invalid(
                "--allow",
                format!("{raw:?}: the prefix length must be 0 to {max}"),
                HINT,
            )),
        },
    }
}

/// Refuses a peer that is one of this environment's own nodes: `peer_ips` are the
/// addresses the peer resolves to, `own` the environment's nodes with theirs.
pub fn check_not_own_node(
    peer: &str,
    peer_ips: &[IpAddr],
    own: &[(String, Vec<IpAddr>)],
) -> Result<()> {
    for (node, ips) in own {
        if ips.iter().any(|ip| peer_ips.contains(ip)) {
            return Err(invalid(
                "--peer",
                format!("{peer} is node {node} of this environment itself"),
                "--peer must be a node of the other environment; each environment's own \
                 nodes already sync with each other",
            ));
        }
    }
    Ok(())
}

/// The error for a peer host name that does not resolve.
pub fn unresolvable(host: &str, reason: &str) -> Error {
    invalid(
        "--peer",
        format!("{host:?} does not resolve to an address ({reason})"),
        PEER_HINT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_takes_an_ip_or_host_name_with_an_optional_port() {
        let peer = parse_peer("10.0.2.11").unwrap();
        assert_eq!((peer.host.as_str(), peer.port), ("10.0.2.11", 7755));
        let peer = parse_peer("web1.example.com:8730").unwrap();
        assert_eq!((peer.host.as_str(), peer.port), ("web1.example.com", 8730));
        let peer = parse_peer("[fd00::2]:9000").unwrap();
        assert_eq!((peer.host.as_str(), peer.port), ("fd00::2", 9000));
    }

    #[test]
    fn peer_refuses_bad_hosts_and_ports_out_of_range() {
        for (raw, why) in [
            ("", "empty"),
            ("10.0.2.11:0", "port"),
            ("10.0.2.11:65536", "port"),
            ("10.0.2.11:http", "port"),
            ("bad host", "host name"),
            ("-x.example", "host name"),
            ("a..b", "host name"),
            ("$(id)", "host name"),
        ] {
            let err = parse_peer(raw).unwrap_err();
            assert!(err.to_string().contains(why), "{raw:?}: {err}");
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
            assert!(err.hint().unwrap().contains("--peer"));
        }
    }

    #[test]
    fn allow_takes_addresses_and_cidr_blocks() {
        assert_eq!(parse_allow(" 10.0.2.0/24").unwrap(), "10.0.2.0/24");
        assert_eq!(parse_allow("192.0.2.7").unwrap(), "192.0.2.7");
        assert_eq!(parse_allow("fd00::/64").unwrap(), "fd00::/64");
        assert!(parse_allow("10.0.2.0/33").is_err());
        assert!(parse_allow("10.0.2/24").is_err());
        assert!(parse_allow("everyone").is_err());
    }

    #[test]
    fn several_peers_are_tried_in_turn_from_a_different_one_per_node() {
        let (peer, others) = parse_peers("10.2.0.11,10.2.0.12:7755, 10.2.0.13").unwrap();
        let link = PeerLink::to_daemons(peer, others, vec![]);
        let order = |index| -> Vec<String> {
            link.push_order(index)
                .iter()
                .map(|p| p.to_string())
                .collect()
        };
        assert_eq!(
            order(0),
            ["10.2.0.11:7755", "10.2.0.12:7755", "10.2.0.13:7755"]
        );
        assert_eq!(
            order(1),
            ["10.2.0.12:7755", "10.2.0.13:7755", "10.2.0.11:7755"]
        );
        assert_eq!(
            order(5),
            ["10.2.0.13:7755", "10.2.0.11:7755", "10.2.0.12:7755"]
        );
        assert_eq!(
            link.describe(),
            "10.2.0.11:7755, 10.2.0.12:7755, 10.2.0.13:7755"
        );
        // the same peer twice is one
        assert_eq!(parse_peers("a.example,a.example").unwrap().1, []);
        for bad in ["10.2.0.11,10.2.0.12:8000", "10.2.0.11,", "10.2.0.11,-x"] {
            let err = parse_peers(bad).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput, "{bad}");
        }
    }

    #[test]
    fn a_peer_that_is_an_own_node_is_refused() {
        let own = vec![("n1".to_string(), vec!["10.0.1.11".parse().unwrap()])];
        let err =
            check_not_own_node("10.0.1.11", &["10.0.1.11".parse().unwrap()], &own).unwrap_err();
        assert!(
            err.to_string().contains("node n1 of this environment"),
            "{err}"
        );
        assert!(check_not_own_node("10.0.2.11", &["10.0.2.11".parse().unwrap()], &own).is_ok());
    }
}
