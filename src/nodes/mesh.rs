//! Who is in the mesh, and what a member's peers must know about it. The
//! topology source (inventory or platform) decides who is in it: a node leaves
//! only when the source no longer lists it, never because the operator cannot
//! reach it or left it out of a run (`--nodes`). What the peers need about a
//! member (the user they push as, its host keys) comes from its own probe or,
//! when it was not probed, from what its installed peers already have for it
//! (their ssh_config and known_hosts), so that they keep it as installed. Its
//! sync key comes the same way (`plan::known_keys`). A run that acts on some
//! nodes only also names their peers outside it that are not in step with
//! them (`peers_behind`). Pure.

use crate::model::desired::{self, NodeConfig, NodeFacts};
use crate::nodes::layout;
use crate::nodes::probe::Observed;
use crate::plan::authorized_keys;
use crate::source::inventory::Node;
use std::collections::{BTreeMap, BTreeSet};

/// What the installed peers of a node that was not probed have for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The user its peers push as.
    pub user: String,
    /// Its SSH host keys (`type base64`), as its peers pinned them.
    pub host_keys: Vec<String>,
}

/// Where what is known about a member comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<'a> {
    /// It was probed in this run.
    Probed(&'a Observed),
    /// It was not: as its installed peers have it.
    Recorded(Recorded),
}

impl Known<'_> {
    /// The facts its own and its peers' configurations are rendered from;
    /// `source_addresses` are its inventory address resolved. Only a probed
    /// node's own configuration can be planned: a recorded one is known only
    /// as a peer (its rsync and mounts are not known).
    pub fn facts(&self, source_addresses: Vec<String>) -> NodeFacts {
        match self {
            Known::Probed(seen) => NodeFacts {
                user: seen.user.clone(),
                host_keys: seen.host_keys.clone(),
                rsync: seen.rsync.clone().unwrap_or_else(|| "rsync".to_string()),
                mounts: seen
                    .synced_dir
                    .as_ref()
                    .map(|dir| dir.mounts.clone())
                    .unwrap_or_default(),
                source_addresses,
            },
            Known::Recorded(recorded) => NodeFacts {
                user: recorded.user.clone(),
                host_keys: recorded.host_keys.clone(),
                rsync: "rsync".to_string(),
                mounts: Vec::new(),
                source_addresses,
            },
        }
    }

    /// Whether it is part of the installation of `env` already (a node that
    /// joins is not).
    pub fn established(&self, env: &str) -> bool {
        match self {
            Known::Probed(seen) => seen.state.as_ref().is_some_and(|state| state.env == env),
            Known::Recorded(_) => true,
        }
    }
}

/// The members of the mesh of `env` among `nodes` (the whole environment, as
/// the topology source lists it), by name. `probed` holds what this run read
/// from the nodes it could reach, those it acts on (`acting`) and the others.
/// - A node the run acts on and probed is a member.
/// - A node outside the run that was probed (read only) is one when it is
///   installed for `env` or its installed peers have it.
/// - A node that was not probed (unreachable) is one when its installed peers
///   have it (`Known::Recorded`).
///
/// A node nobody has installed is left out until a run acts on it.
pub fn members<'a>(
    nodes: &[Node],
    acting: &[Node],
    probed: &'a BTreeMap<String, Observed>,
    env: &str,
) -> BTreeMap<String, Known<'a>> {
    let acts_on = |name: &str| acting.iter().any(|node| node.name == name);
    let member = |node: &Node| {
        let recorded = || recorded(probed.values(), &node.name);
        match probed.get(&node.name) {
            Some(seen) => {
                let known = Known::Probed(seen);
                let joins = acts_on(&node.name) || known.established(env);
                (joins || recorded().is_some()).then_some(known)
            }
            None => recorded().map(Known::Recorded),
        }
    };
    nodes
        .iter()
        .filter_map(|node| Some((node.name.clone(), member(node)?)))
        .collect()
}

/// The members already part of the installation of `env`, whose peers have
/// what they have: installed for `env` and, when another installed member was
/// read, listed as a member by one of them. A node its peers dropped (it was
/// left out, stopped, while they went on) joins again: it missed what changed
/// meanwhile, and gets a whole copy as a new node does.
pub fn established(members: &BTreeMap<String, Known<'_>>, env: &str) -> BTreeSet<String> {
    let installed: Vec<(&str, &crate::nodes::state::NodeState)> = members
        .iter()
        .filter_map(|(name, known)| match known {
            Known::Probed(seen) => seen
                .state
                .as_ref()
                .filter(|state| state.env == env)
                .map(|state| (name.as_str(), state)),
            Known::Recorded(_) => None,
        })
        .collect();
    let listed = |name: &str| {
        let mut others = installed
            .iter()
            .filter(|(other, _)| *other != name)
            .peekable();
        others.peek().is_none()
            || others.any(|(_, state)| state.members.iter().any(|m| m.name == name))
    };
    members
        .iter()
        .filter(|(name, known)| {
            known.established(env) && (matches!(known, Known::Recorded(_)) || listed(name))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The peers of `config`'s node that the run does not act on (not in
/// `acting`) and that were probed, but do not have the node as wanted: they
/// do not push to it, or do not admit its sync key (from `keys`; a node that
/// gets its key in this run is admitted nowhere yet). Only a run that acts on
/// them completes the mesh.
pub fn peers_behind(
    config: &NodeConfig,
    acting: &[Node],
    probed: &BTreeMap<String, Observed>,
    keys: &BTreeMap<String, String>,
) -> Vec<String> {
    let node = config.node.as_str();
    let outside = |name: &str| {
        probed
            .get(name)
            .filter(|_| !acting.iter().any(|n| n.name == name))
    };
    let key = keys
        .get(node)
        .and_then(|key| crate::plan::authorized_keys::public_key(key).ok());
    let not_admitting = config
        .targets
        .iter()
        .map(|t| t.name.as_str())
        .filter(|peer| {
            outside(peer).is_some_and(|seen| !admits(seen, &config.tag(), node, key.as_deref()))
        });
    let not_pushing = config
        .pushers
        .iter()
        .map(|p| p.name.as_str())
        .filter(|peer| outside(peer).is_some_and(|seen| !pushes_to(seen, node)));
    let behind: BTreeSet<&str> = not_admitting.chain(not_pushing).collect();
    behind.into_iter().map(str::to_string).collect()
}

/// `seen` admits `pusher`'s sync key `key` (none: a key made in this run).
fn admits(seen: &Observed, tag: &str, pusher: &str, key: Option<&str>) -> bool {
    let Some(key) = key else {
        return false;
    };
    authorized_keys::entries(&seen.authorized_keys, tag)
        .into_iter()
        .any(|(name, entry)| {
            name == pusher && authorized_keys::key_of(entry).as_deref() == Some(key)
        })
}

/// `seen`'s installed state has it push to `target`.
fn pushes_to(seen: &Observed, target: &str) -> bool {
    seen.state
        .as_ref()
        .is_some_and(|state| state.targets.iter().any(|t| t == target))
}

/// What the first of `peers` that pushes to `node` has for it: the user in its
/// ssh_config and the host keys in its known_hosts. Values that could not have
/// been rendered by filesync are not taken.
pub fn recorded<'a>(peers: impl IntoIterator<Item = &'a Observed>, node: &str) -> Option<Recorded> {
    let alias = desired::alias(node);
    peers.into_iter().find_map(|peer| {
        let config = peer.files.get(layout::SSH_CONFIG)?;
        let user = ssh_user(config, &alias)?;
        crate::source::inventory::check_user(user).ok()?;
        let host_keys = pinned_keys(peer.files.get(layout::KNOWN_HOSTS)?, &alias);
        (!host_keys.is_empty()).then(|| Recorded {
            user: user.to_string(),
            host_keys,
        })
    })
}

/// The `User` of the `Host alias` block of an ssh config.
fn ssh_user<'a>(config: &'a str, alias: &str) -> Option<&'a str> {
    let mut in_block = false;
    for line in config.lines() {
        let mut words = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .filter(|word| !word.is_empty());
        let (Some(keyword), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("host") || keyword.eq_ignore_ascii_case("match") {
            in_block =
                keyword.eq_ignore_ascii_case("host") && value == alias && words.next().is_none();
        } else if in_block && keyword.eq_ignore_ascii_case("user") {
            return Some(value);
        }
    }
    None
}

/// The host keys a known_hosts file pins for `alias`, checked to be keys.
fn pinned_keys(known_hosts: &str, alias: &str) -> Vec<String> {
    known_hosts
        .lines()
        .filter_map(|line| line.trim().split_once(' '))
        .filter(|(host, _)| *host == alias)
        .filter_map(|(_, key)| crate::plan::authorized_keys::public_key(key).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::desired::node_configs;
    use crate::model::desired::tests::{env, settings};
    use crate::model::settings::Topology;
    use crate::plan::tests::{configs, fresh, installed, keys};

    /// n1 and n2 installed (in a mesh of three, or a ring), probed by the run;
    /// their host keys are those `desired::tests::facts` gives.
    fn probed(topology: Topology) -> BTreeMap<String, Observed> {
        let configs = configs(3, topology);
        ["n1", "n2"]
            .iter()
            .map(|n| {
                let mut seen = installed(&configs[*n], &keys(3));
                seen.host_keys = vec![format!("ssh-ed25519 HOSTKEY{n}")];
                (n.to_string(), seen)
            })
            .collect()
    }

    fn facts(known: &BTreeMap<String, Known<'_>>) -> BTreeMap<String, NodeFacts> {
        let env = env(3);
        env.nodes
            .iter()
            .filter_map(|node| {
                let known = known.get(&node.name)?;
                Some((
                    node.name.clone(),
                    known.facts(vec![node.address.host.clone()]),
                ))
            })
            .collect()
    }

    #[test]
    fn an_unreachable_node_keeps_its_place_as_its_peers_have_it() {
        for topology in [Topology::Mesh, Topology::Ring] {
            let env = env(3);
            let probed = probed(topology);
            let known = members(&env.nodes, &env.nodes, &probed, "prod");
            assert_eq!(
                known["n3"],
                Known::Recorded(Recorded {
                    user: "root".into(),
                    host_keys: vec!["ssh-ed25519 HOSTKEYn3".into()],
                })
            );
            assert!(known["n3"].established("prod"));
            let settings = settings("/ROOT", topology);
            let wanted = node_configs(&env, &settings, &env.nodes, &facts(&known));
            let before = configs(3, topology);
            assert_eq!(wanted["n1"], before["n1"], "{topology}");
            assert_eq!(wanted["n2"], before["n2"], "{topology}");
        }
    }

    #[test]
    fn a_node_its_peers_dropped_joins_again() {
        let env = env(3);
        let (two, three) = (configs(2, Topology::Mesh), configs(3, Topology::Mesh));
        // all three installed together: all established
        let probed: BTreeMap<String, Observed> = ["n1", "n2", "n3"]
            .iter()
            .map(|n| (n.to_string(), installed(&three[*n], &keys(3))))
            .collect();
        let known = members(&env.nodes, &env.nodes, &probed, "prod");
        assert_eq!(established(&known, "prod").len(), 3);
        // n1 and n2 went on without n3 (it was left out): n3 joins again
        let mut probed = probed;
        for n in ["n1", "n2"] {
            probed.insert(n.to_string(), installed(&two[n], &keys(3)));
        }
        let known = members(&env.nodes, &env.nodes, &probed, "prod");
        assert!(known["n3"].established("prod"));
        assert_eq!(
            established(&known, "prod").into_iter().collect::<Vec<_>>(),
            ["n1", "n2"]
        );
        // a node installed alone is established
        let alone: BTreeMap<String, Observed> =
            [("n1".to_string(), installed(&two["n1"], &keys(2)))].into();
        let known = members(&env.nodes[..1], &env.nodes[..1], &alone, "prod");
        assert_eq!(established(&known, "prod").len(), 1);
    }

    #[test]
    fn a_node_nobody_has_installed_is_left_out_until_it_can_be_probed() {
        let env = env(3);
        let probed: BTreeMap<String, Observed> =
            [("n1".to_string(), fresh()), ("n2".to_string(), fresh())].into();
        let known = members(&env.nodes, &env.nodes, &probed, "prod");
        assert_eq!(known.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert!(!known["n1"].established("prod"));
    }

    #[test]
    fn nodes_outside_the_run_are_members_when_installed_or_recorded() {
        // n1 and n3 were installed; n2 joined the inventory since. `--nodes n3`.
        let env = env(3);
        let settings = settings("/ROOT", Topology::Mesh);
        let without_n2 = [env.nodes[0].clone(), env.nodes[2].clone()];
        let before = node_configs(&env, &settings, &without_n2, &desired::tests::facts(&env));
        let mut probed: BTreeMap<String, Observed> = [
            ("n1".to_string(), installed(&before["n1"], &keys(3))),
            ("n2".to_string(), fresh()),
            ("n3".to_string(), fresh()),
        ]
        .into();
        let n3 = &env.nodes[2..];
        let known = members(&env.nodes, n3, &probed, "prod");
        assert_eq!(known.keys().collect::<Vec<_>>(), ["n1", "n3"]);
        assert!(matches!(known["n1"], Known::Probed(_)));
        // Another environment's installation is not this one's.
        let known = members(&env.nodes, n3, &probed, "stage");
        assert_eq!(known.keys().collect::<Vec<_>>(), ["n3"]);
        // A node whose own state is unreadable stays while its peers have it.
        probed.get_mut("n1").unwrap().state = None;
        probed.insert("n3".into(), installed(&before["n3"], &keys(3)));
        let known = members(&env.nodes, n3, &probed, "prod");
        assert_eq!(known.keys().collect::<Vec<_>>(), ["n1", "n3"]);
        probed.insert("n3".into(), fresh());
        let known = members(&env.nodes, n3, &probed, "prod");
        assert_eq!(known.keys().collect::<Vec<_>>(), ["n3"]);
    }

    #[test]
    fn peers_outside_the_run_that_lack_the_node_or_its_key_are_named() {
        // n1 and n2 were installed as a mesh of two; n3 joins with `--nodes n3`.
        let env = env(3);
        let wanted = configs(3, Topology::Mesh);
        let before = configs(2, Topology::Mesh);
        let mut probed: BTreeMap<String, Observed> = ["n1", "n2"]
            .iter()
            .map(|n| (n.to_string(), installed(&before[*n], &keys(2))))
            .collect();
        probed.insert("n3".into(), fresh());
        let n3 = &env.nodes[2..];
        let behind = |probed: &BTreeMap<String, Observed>, keys: &BTreeMap<String, String>| {
            peers_behind(&wanted["n3"], n3, probed, keys)
        };
        assert_eq!(behind(&probed, &keys(2)), ["n1", "n2"]);

        // Installed as a mesh of three: in step, unless n3's key is not the one they admit.
        let probed: BTreeMap<String, Observed> = ["n1", "n2", "n3"]
            .iter()
            .map(|n| (n.to_string(), installed(&wanted[*n], &keys(3))))
            .collect();
        assert_eq!(behind(&probed, &keys(3)), Vec::<String>::new());
        let mut new_key = keys(3);
        new_key.remove("n3");
        assert_eq!(behind(&probed, &new_key), ["n1", "n2"]);
        // The nodes the run acts on are never behind.
        assert!(peers_behind(&wanted["n3"], &env.nodes, &probed, &new_key).is_empty());
    }

    #[test]
    fn recorded_values_that_filesync_could_not_have_rendered_are_not_taken() {
        let mut acting = probed(Topology::Mesh);
        for seen in acting.values_mut() {
            let config = seen.files.get_mut(layout::SSH_CONFIG).unwrap();
            *config = config.replace("User root", "User root;reboot");
        }
        assert_eq!(recorded(acting.values(), "n3"), None);

        let mut acting = probed(Topology::Mesh);
        for seen in acting.values_mut() {
            seen.files.insert(
                layout::KNOWN_HOSTS.into(),
                "filesync-n3 ssh-ed25519 A\"B\n".into(),
            );
        }
        assert_eq!(recorded(acting.values(), "n3"), None);
    }

    #[test]
    fn the_user_is_read_from_its_own_host_block() {
        let config = "Host filesync-n2\n    User alice\nHost filesync-n3 other\n    User bob\n\
                      Host filesync-n3\n    HostName 10.0.0.3\n    user=carol\nHost *\n    User dave\n";
        assert_eq!(ssh_user(config, "filesync-n3"), Some("carol"));
        assert_eq!(ssh_user(config, "filesync-n2"), Some("alice"));
        assert_eq!(ssh_user(config, "filesync-n4"), None);
    }
}
