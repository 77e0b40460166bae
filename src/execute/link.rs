//! The two-environment part of `install`, `plan` and `reconcile`: turns the
//! link flags (or the wizard's answers, or the other side's exported keys)
//! into validated `PeerLink`s for one or both sides, checks addresses (the
//! peer resolves and is not one of the environment's own nodes), reads the
//! nodes' public keys for the SSH transport, chooses the daemon's password
//! (given, already installed, or generated), and converges both sides in the
//! order their keys need. Every check runs before any node is changed.

use crate::cli::{Global, SettingsArgs};
use crate::error::{Error, Result};
use crate::execute::converge::Intent;
use crate::model::link_keys::LinkKeys;
use crate::model::password::Password;
use crate::model::peer_link::{self, LinkNode, PeerLink, Transport};
use crate::model::settings::Settings;
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::untrusted;
use crate::source::inventory::{Environment, Node, PeerAddress};
use crate::wizard;
use std::net::IpAddr;
use std::path::Path;

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

/// What names the other environment's nodes when it is not in the source.
pub enum Given {
    /// `--peer` (or the wizard): addresses of their rsync daemons.
    Peers(PeerAddress, Vec<PeerAddress>),
    /// `--peer-keys`: their exported keys, for the SSH transport.
    Keys(LinkKeys),
}

/// The links to install, from the flags, the inventory and (if allowed) the
/// wizard. The addresses are those of the whole environment, whatever nodes
/// the run acts on (`--nodes`).
pub async fn links(
    global: &Global,
    env: &Environment,
    other_env: Option<Environment>,
    args: &SettingsArgs,
    ask: bool,
) -> Result<Links> {
    let installed = installed_settings(global, env).await;
    let installed_transport = installed
        .as_ref()
        .and_then(|s| s.link.as_ref())
        .map(|link| link.transport);
    let transport = transport(args, other_env.is_some(), installed_transport)?;
    if args.peer_transport.is_none() && installed_transport == Some(transport) {
        if let (Transport::Daemon, Some(_)) = (transport, &other_env) {
            eprintln!(
                "note: environment {}: the link keeps its installed transport, the rsync daemon \
                 (not encrypted); --peer-transport ssh changes it",
                env.name
            );
        }
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
    let given = match (&args.peer, &args.peer_keys) {
        (Some(raw), _) => {
            let (first, others) = peer_link::parse_peers(raw)?;
            Some(Given::Peers(first, others))
        }
        (None, Some(path)) => {
            let keys = read_keys(path)?;
            let given = args
                .path
                .as_deref()
                .map(|raw| crate::model::settings::SyncPath::parse(raw, &env.webroot))
                .transpose()?;
            if let Some(path) = given.or(installed.as_ref().map(|s| s.path.clone())) {
                if path.as_str() != keys.path {
                    return Err(Error::InvalidLink {
                        setting: "--peer-keys".into(),
                        reason: format!(
                            "environment {} syncs {}, and this one {}",
                            keys.env,
                            untrusted::printable(&keys.path),
                            path.as_str()
                        ),
                        hint: "both environments sync the same path: give the other's as \
                               --path, or export the other's keys again after installing it \
                               with this one's"
                            .into(),
                    });
                }
            }
            Some(Given::Keys(keys))
        }
        (None, None) if ask && other_env.is_none() => {
            Some(Given::Peers(wizard::peer()?, Vec::new()))
        }
        (None, None) => None,
    };
    pair(global, env, other_env, given, allow, transport).await
}

/// The transport the flags ask for: `--peer-transport`, else SSH with
/// `--peer-keys`, else with `--peer-env` the installed one or for a new link
/// SSH (this side can read or was given the other side's keys), else the
/// daemon.
fn transport(
    args: &SettingsArgs,
    other_env: bool,
    installed: Option<Transport>,
) -> Result<Transport> {
    let invalid = |reason: &str, hint: &str| Error::InvalidLink {
        setting: "--peer-transport".into(),
        reason: reason.into(),
        hint: hint.into(),
    };
    let transport = match args.peer_transport {
        Some(transport) => transport,
        None if args.peer_keys.is_some() => Transport::Ssh,
        // Like the other settings, what is installed stays.
        None if other_env => installed.unwrap_or(Transport::Ssh),
        None => Transport::Daemon,
    };
    match transport {
        Transport::Daemon if args.peer_keys.is_some() => Err(invalid(
            "--peer-keys is for the ssh transport",
            "leave out --peer-transport daemon, or --peer-keys",
        )),
        Transport::Ssh if !other_env && args.peer_keys.is_none() => Err(invalid(
            "ssh needs the other environment's host keys and sync keys",
            "give --peer-env NAME when both environments are in the inventory, else \
             --peer-keys FILE, the file `filesync export-keys --env NAME` prints for the \
             other environment",
        )),
        Transport::Ssh if args.password_file.is_some() => Err(invalid(
            "--password-file is for the daemon transport (ssh uses keys)",
            "leave out --password-file, or give --peer-transport daemon",
        )),
        transport => Ok(transport),
    }
}

/// Reads an exported keys file (`-`: standard input).
fn read_keys(path: &Path) -> Result<LinkKeys> {
    let origin = path.display().to_string();
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|err| Error::InvalidLink {
        setting: "--peer-keys".into(),
        reason: format!("{origin}: cannot read it: {err}"),
        hint: "give the file `filesync export-keys --env NAME` printed for the other \
               environment"
            .into(),
    })?;
    LinkKeys::parse(&text, &origin)
}

/// The links of `env` and, when it is in the source too, of `other_env` back:
/// this side pushes to `given` peers (default: every node of `other_env`) and
/// admits `allow` and the other environment's nodes. Also what `reconcile`
/// runs to make both sides follow their current nodes. Over SSH, the nodes of
/// both sides are read (host keys, sync keys, login user).
pub async fn pair(
    global: &Global,
    env: &Environment,
    other_env: Option<Environment>,
    given: Option<Given>,
    mut allow: Vec<String>,
    transport: Transport,
) -> Result<Links> {
    let own_ips = node_ips(&env.nodes).await;
    let mut nodes = Vec::new();
    let mut imported = None;
    let (peer, others) = match (given, &other_env) {
        (Some(Given::Peers(first, others)), _) => (first, others),
        (Some(Given::Keys(keys)), _) => {
            nodes = keys.nodes;
            imported = Some(keys.env);
            addresses(&nodes, env)?
        }
        (None, Some(other)) if transport == Transport::Ssh => {
            let recorded = recorded_nodes(global, env).await;
            nodes = link_nodes(global, other, &recorded).await?;
            addresses(&nodes, other)?
        }
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
            // The daemons admit the other side's addresses; over SSH each
            // node's key is admitted from its own addresses (`LinkNode::from`).
            let mut back_allow = Vec::new();
            if transport == Transport::Daemon {
                let other_nodes = other.select(None)?;
                let other_ips = node_ips(&other_nodes).await;
                for ip in other_ips.iter().flat_map(|(_, ips)| ips) {
                    push_unique(&mut allow, ip.to_string());
                }
                for ip in own_ips.iter().flat_map(|(_, ips)| ips) {
                    push_unique(&mut back_allow, ip.to_string());
                }
            }
            let (back_nodes, (first, rest)) = match transport {
                Transport::Ssh => {
                    let recorded = recorded_nodes(global, &other).await;
                    let back_nodes = link_nodes(global, env, &recorded).await?;
                    let addresses = addresses(&back_nodes, env)?;
                    (back_nodes, addresses)
                }
                Transport::Daemon => {
                    let on_port = |address: PeerAddress| PeerAddress {
                        host: address.host,
                        port: peer.port,
                    };
                    let (first, rest) = all_nodes(env)?;
                    (
                        Vec::new(),
                        (on_port(first), rest.into_iter().map(on_port).collect()),
                    )
                }
            };
            let back = PeerLink {
                peer: first,
                others: rest,
                allow: back_allow,
                peer_env: Some(env.name.clone()),
                transport,
                nodes: back_nodes,
                imported: false,
            };
            Some((other, back))
        }
        None => None,
    };
    let own = PeerLink {
        peer,
        others,
        allow,
        peer_env: imported
            .clone()
            .or_else(|| other.as_ref().map(|(other, _)| other.name.clone())),
        transport,
        nodes,
        imported: imported.is_some(),
    };
    Ok(Links { own, other })
}

/// The sshd addresses of `nodes` (the other side's), first and the rest.
fn addresses(nodes: &[LinkNode], env: &Environment) -> Result<(PeerAddress, Vec<PeerAddress>)> {
    let mut addresses = nodes.iter().map(|node| node.address.clone());
    let first = addresses.next().ok_or_else(|| Error::InvalidLink {
        setting: "--peer-transport ssh".into(),
        reason: format!(
            "none of {}'s nodes could be read (their host keys and sync keys)",
            env.name
        ),
        hint: "check that the operator reaches them (filesync status --env NAME)".into(),
    })?;
    Ok((first, addresses.collect()))
}

/// The settings installed on `env`, from the first node that has filesync's
/// state (one SSH connection at a time: usually one in all).
pub async fn installed_settings(global: &Global, env: &Environment) -> Option<Settings> {
    let install = InstallDir::under_webroot(&env.webroot);
    for node in env.select(None).ok()? {
        let Ok(fleet) = Fleet::connect_for(global, std::slice::from_ref(&node)).await else {
            continue;
        };
        let settings = crate::execute::converge::installed_settings(&fleet, &install).await;
        fleet.close().await;
        if settings.is_some() {
            return settings;
        }
    }
    None
}

/// The other side's nodes as `env`'s installed SSH link records them.
async fn recorded_nodes(global: &Global, env: &Environment) -> Vec<LinkNode> {
    installed_settings(global, env)
        .await
        .and_then(|settings| settings.link)
        .map(|link| link.nodes)
        .unwrap_or_default()
}

/// The nodes of `env` as the other side of an SSH link needs them, read over
/// SSH (read only). A node that cannot be read keeps what the other side
/// recorded of it (`recorded`: it is still in the environment, only out of
/// the operator's reach), with a warning; one never recorded is left out
/// until the next run.
pub async fn link_nodes(
    global: &Global,
    env: &Environment,
    recorded: &[LinkNode],
) -> Result<Vec<LinkNode>> {
    let install = InstallDir::under_webroot(&env.webroot);
    let mut fleet = Fleet::connect_lenient(global, &env.nodes).await;
    let probed = fleet.probe(&install, &env.webroot, None).await;
    let unreachable = fleet.unreachable.clone();
    fleet.close().await;
    let mut nodes = Vec::new();
    for node in &env.nodes {
        let Some(seen) = probed.get(&node.name) else {
            let reason = fleet_reason(&unreachable, &node.name);
            let kept = recorded
                .iter()
                .find(|r| r.name == node.name && r.address == node.address);
            match kept {
                Some(kept) => {
                    eprintln!(
                        "warning: environment {}: node {} could not be read ({reason}): the \
                         other environment keeps it as recorded",
                        env.name, node.name
                    );
                    nodes.push(kept.clone());
                }
                None => eprintln!(
                    "warning: environment {}: node {} could not be read ({reason}): the other \
                     environment neither pushes to it nor admits its key until the next \
                     install or reconcile",
                    env.name, node.name
                ),
            }
            continue;
        };
        let from = resolve(&node.address.host, node.address.port)
            .await
            .unwrap_or_default()
            .iter()
            .map(IpAddr::to_string)
            .collect();
        let raw = LinkNode {
            name: node.name.clone(),
            address: node.address.clone(),
            user: seen.user.clone(),
            host_keys: seen.host_keys.clone(),
            key: seen.sync_key.clone(),
            from,
        };
        // What a node says is checked like a file's.
        match LinkNode::checked(raw) {
            Ok(checked) => nodes.push(checked),
            Err(reason) => eprintln!(
                "warning: environment {}: node {} is left out of the link: {}",
                env.name,
                node.name,
                untrusted::printable(&reason)
            ),
        }
    }
    Ok(nodes)
}

fn fleet_reason(unreachable: &[crate::error::NodeFailure], node: &str) -> String {
    unreachable
        .iter()
        .find(|failure| failure.node == node)
        .map_or_else(|| "no answer".to_string(), |failure| failure.reason.clone())
}

/// Fills in the sync keys `link` lacks from the other side's nodes as they are
/// now (they get one when that side is installed); true when one was found.
pub async fn refresh_keys(global: &Global, other: &Environment, link: &mut PeerLink) -> bool {
    if link.transport != Transport::Ssh || link.nodes.iter().all(|n| n.key.is_some()) {
        return false;
    }
    let Ok(fresh) = link_nodes(global, other, &[]).await else {
        return false;
    };
    let mut found = false;
    for node in link.nodes.iter_mut().filter(|n| n.key.is_none()) {
        if let Some(key) = fresh
            .iter()
            .find(|f| f.name == node.name && f.address == node.address)
            .and_then(|f| f.key.clone())
        {
            node.key = Some(key);
            found = true;
        }
    }
    found
}

/// One run of `converge_both`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// This environment, with the link as made.
    Own,
    /// The other environment, admitting this side's keys as they are now.
    Other,
    /// This environment again, only to admit keys the other side's nodes got
    /// in its pass: nothing to ask.
    OwnKeys,
}

/// Converges both sides of a link whose other side is in the source, in the
/// order the SSH transport's keys need: this side (nodes that join get their
/// sync key), the other side admitting this side's keys as they are now, then
/// this side again when the other side had nodes without a key before (they
/// got one). The daemon transport needs no second pass.
pub async fn converge_both(
    global: &Global,
    env: &Environment,
    links: Links,
    intent: Intent,
    mut converge: impl AsyncFnMut(Pass, &Environment, PeerLink) -> Result<()>,
) -> Result<()> {
    let Links { mut own, other } = links;
    let mut result = converge(Pass::Own, env, own.clone()).await;
    let Some((other, mut back)) = other else {
        return result;
    };
    if !matches!(result, Ok(()) | Err(Error::Partial { .. })) {
        return result;
    }
    if intent == Intent::Apply {
        refresh_keys(global, env, &mut back).await;
    }
    result = both(result, converge(Pass::Other, &other, back).await);
    if intent == Intent::Apply && refresh_keys(global, &other, &mut own).await {
        result = both(result, converge(Pass::OwnKeys, env, own).await);
    }
    result
}

/// The first error of two passes; the second, when both failed, is said on
/// stderr rather than lost.
fn both(first: Result<()>, second: Result<()>) -> Result<()> {
    match (first, second) {
        (Err(first), Err(second)) => {
            eprintln!("error: {second}");
            Err(first)
        }
        (first, second) => first.and(second),
    }
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
    let installed = crate::execute::converge::installed_password(
        &fleet,
        &InstallDir::under_webroot(&env.webroot),
    )
    .await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(flags: &[&str]) -> SettingsArgs {
        let argv = ["filesync", "plan"].iter().chain(flags);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Plan(args) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn ssh_is_the_default_where_the_other_sides_keys_can_be_had() {
        let chosen = |flags: &[&str], other_env| transport(&args(flags), other_env, None);
        assert_eq!(chosen(&["--peer-env", "b"], true).unwrap(), Transport::Ssh);
        assert_eq!(
            chosen(&["--peer-keys", "f"], false).unwrap(),
            Transport::Ssh
        );
        assert_eq!(
            chosen(&["--peer", "10.0.2.1"], false).unwrap(),
            Transport::Daemon
        );
        // an installed link keeps its transport unless told otherwise
        let again = |flags: &[&str], installed| transport(&args(flags), true, Some(installed));
        assert_eq!(
            again(&["--peer-env", "b"], Transport::Daemon).unwrap(),
            Transport::Daemon
        );
        let switch = ["--peer-env", "b", "--peer-transport", "ssh"];
        assert_eq!(again(&switch, Transport::Daemon).unwrap(), Transport::Ssh);
        let daemon = ["--peer-env", "b", "--peer-transport", "daemon"];
        assert_eq!(chosen(&daemon, true).unwrap(), Transport::Daemon);
        for (flags, other_env, why) in [
            (
                &["--peer", "10.0.2.1", "--peer-transport", "ssh"][..],
                false,
                "--peer-keys FILE",
            ),
            (
                &["--peer-keys", "f", "--peer-transport", "daemon"][..],
                false,
                "--peer-keys is for the ssh transport",
            ),
            (
                &["--peer-env", "b", "--password-file", "p"][..],
                true,
                "--password-file is for the daemon",
            ),
        ] {
            let err = chosen(flags, other_env).unwrap_err();
            let text = format!("{err} {}", err.hint().unwrap_or_default());
            assert!(text.contains(why), "{flags:?}: {text}");
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        }
    }
}
