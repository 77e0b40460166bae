//! The two-environment part of `install` and `plan`: turns the link flags (or
//! the wizard's answers) into validated `PeerLink`s for one or both sides,
//! checks addresses (the peer resolves and is not one of the environment's own
//! nodes), and chooses the password (given, already installed, or generated).
//! Every check runs before any node is changed.

use crate::cli::{Global, SettingsArgs};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::inventory::{Environment, Node, PeerAddress};
use crate::layout::InstallDir;
use crate::password::Password;
use crate::peer_link::{self, PeerLink, Transport};
use crate::wizard;
use std::net::IpAddr;

/// The environment variable that may hold the password.
pub const PASSWORD_VAR: &str = "FILESYNC_PASSWORD";

/// The link of this environment, and of the other one when `--peer-env` installs both.
pub struct Links {
    pub own: PeerLink,
    pub other: Option<(Environment, PeerLink)>,
}

/// Where the password came from, so that a generated one is shown once.
pub struct Chosen {
    pub password: Password,
    pub generated: bool,
}

/// The links to install, from the flags, the inventory and (if allowed) the
/// wizard. The addresses are those of the whole environment, whatever nodes
/// the run acts on (`--nodes`).
pub async fn links(
    env: &Environment,
    other_env: Option<Environment>,
    args: &SettingsArgs,
    ask: bool,
) -> Result<Links> {
    if args.peer_transport == Some(Transport::Ssh) {
        return Err(Error::Unsupported {
            what: "--peer-transport ssh".into(),
            hint: "use the rsync daemon transport (the default) over a network you trust, or a \
                   VPN between the environments; see the README on when to prefer SSH"
                .into(),
        });
    }
    let allow = args
        .allow
        .iter()
        .flatten()
        .map(|raw| peer_link::parse_allow(raw))
        .collect::<Result<Vec<_>>>()?;
    if other_env
        .as_ref()
        .is_some_and(|other| other.name == env.name)
    {
        return Err(Error::InvalidLink {
            setting: "--peer-env".into(),
            reason: format!("{:?} is the environment being installed", env.name),
            hint: "--peer-env names the other environment of the inventory".into(),
        });
    }
    let given = args
        .peer
        .as_deref()
        .map(peer_link::parse_peers)
        .transpose()?;
    let given = match (given, &other_env) {
        (None, None) if ask => Some((wizard::peer()?, Vec::new())),
        (given, _) => given,
    };
    pair(env, other_env, given, allow).await
}

/// The links of `env` and, when it is in the source too, of `other_env` back:
/// this side pushes to `given` peers (default: every node of `other_env`) and
/// admits `allow` and the other environment's nodes. Also what `reconcile`
/// runs to make both sides follow their current nodes.
pub async fn pair(
    env: &Environment,
    other_env: Option<Environment>,
    given: Option<(PeerAddress, Vec<PeerAddress>)>,
    mut allow: Vec<String>,
) -> Result<Links> {
    let own_ips = node_ips(&env.nodes).await;
    let (peer, others) = match (given, &other_env) {
        (Some(given), _) => given,
        (None, Some(other)) => all_nodes(other)?,
        (None, None) => {
            return Err(Error::MissingSetting {
                what: "the other environment's node (mode two)".into(),
                flag: "--peer HOST[:PORT], or --peer-env NAME when both environments are in \
                       the inventory"
                    .into(),
            })
        }
    };
    for peer in std::iter::once(&peer).chain(&others) {
        let peer_ips = resolve(&peer.host, peer.port)
            .await
            .map_err(|reason| peer_link::unresolvable(&peer.host, &reason))?;
        peer_link::check_not_own_node(&peer.to_string(), &peer_ips, &own_ips)?;
    }

    let other = match other_env {
        Some(other) => {
            let other_nodes = other.select(None)?;
            let other_ips = node_ips(&other_nodes).await;
            for ip in other_ips.iter().flat_map(|(_, ips)| ips) {
                push_unique(&mut allow, ip.to_string());
            }
            let mut back_allow = Vec::new();
            for ip in own_ips.iter().flat_map(|(_, ips)| ips) {
                push_unique(&mut back_allow, ip.to_string());
            }
            let (first, rest) = all_nodes(env)?;
            let on_port = |address: PeerAddress| PeerAddress {
                host: address.host,
                port: peer.port,
            };
            let back = PeerLink {
                peer: on_port(first),
                others: rest.into_iter().map(on_port).collect(),
                allow: back_allow,
                peer_env: Some(env.name.clone()),
            };
            Some((other, back))
        }
        None => None,
    };
    let own = PeerLink {
        peer,
        others,
        allow,
        peer_env: other.as_ref().map(|(other, _)| other.name.clone()),
    };
    Ok(Links { own, other })
}

/// The password: `--password-file`, else FILESYNC_PASSWORD, else (in a terminal)
/// asked; `None` when none was given (then: the installed one, or generated).
pub fn given_password(args: &SettingsArgs, ask: bool) -> Result<Option<Password>> {
    if let Some(path) = &args.password_file {
        return Password::from_file(path).map(Some);
    }
    if let Some(value) = std::env::var_os(PASSWORD_VAR) {
        let value = value.into_string().map_err(|_| Error::InvalidLink {
            setting: PASSWORD_VAR.into(),
            reason: "it is not valid UTF-8".into(),
            hint: "use a password of printable characters".into(),
        })?;
        return Password::parse(&value, PASSWORD_VAR).map(Some);
    }
    if ask {
        return wizard::password();
    }
    Ok(None)
}

/// The password to install: the given one, else the one on the environment's
/// nodes (any of them, whatever nodes the run acts on), else a new one.
pub async fn choose_password(
    global: &Global,
    env: &Environment,
    given: Option<Password>,
) -> Result<Chosen> {
    if let Some(password) = given {
        return Ok(Chosen {
            password,
            generated: false,
        });
    }
    let fleet = Fleet::connect_lenient(global, &env.nodes).await;
    let installed =
        crate::converge::installed_password(&fleet, &InstallDir::under_webroot(&env.webroot)).await;
    fleet.close().await;
    Ok(match installed {
        Some(password) => Chosen {
            password,
            generated: false,
        },
        None => Chosen {
            password: Password::generate()?,
            generated: true,
        },
    })
}

/// Says on stderr (never stdout, a log or JSON) what was generated, once.
pub fn announce_generated(password: &Password, both_sides: bool) {
    let other = if both_sides {
        "Both environments were installed with it; keep it to reinstall either side"
    } else {
        "The other environment must be installed with the same password"
    };
    eprintln!(
        "\nGenerated the password of the link between the environments (shown only now):\n\n    \
         {}\n\n{other}: save it in a file only you can read (chmod 600 FILE) and give \
         --password-file FILE, or set {PASSWORD_VAR}.\n",
        password.reveal()
    );
}

/// Warns when the daemons accept pushes from any address.
pub fn warn_if_open(link: &PeerLink, env: &str) {
    if link.allow.is_empty() {
        eprintln!(
            "warning: the rsync daemons of {env} will accept connections on port {} from any \
             address, protected only by the password (sent over an unencrypted protocol): give \
             --allow with the other environment's addresses, or --peer-env when both \
             environments are in the inventory",
            link.peer.port
        );
    }
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// The nodes of an environment the other one pushes to: the first, and the
/// others that take over while it cannot be reached.
fn all_nodes(env: &Environment) -> Result<(PeerAddress, Vec<PeerAddress>)> {
    let mut nodes = env.nodes.iter().map(|node| PeerAddress {
        host: node.address.host.clone(),
        port: peer_link::DEFAULT_PORT,
    });
    let first = nodes.next().ok_or_else(|| Error::NoNodes {
        env: env.name.clone(),
        left_out: env.left_out.clone(),
    })?;
    Ok((first, nodes.collect()))
}

/// The addresses each node's address resolves to (unresolvable: none).
async fn node_ips(nodes: &[Node]) -> Vec<(String, Vec<IpAddr>)> {
    let mut out = Vec::new();
    for node in nodes {
        let ips = resolve(&node.address.host, node.address.port)
            .await
            .unwrap_or_default();
        out.push((node.name.clone(), ips));
    }
    out
}

async fn resolve(host: &str, port: u16) -> std::result::Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| err.to_string())?;
    let mut ips: Vec<IpAddr> = addrs.map(|addr| addr.ip()).collect();
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        return Err("no address".into());
    }
    Ok(ips)
}
