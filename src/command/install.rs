//! `filesync install` and `filesync plan`: the flags and the wizard; the flow
//! itself is `converge`, the two-environment checks are `link`.

use crate::cli::{Global, SettingsArgs};
use crate::command;
use crate::error::{Error, Result};
use crate::execute::converge::{self, Flags, Intent, LinkChoice, Purpose, Request};
use crate::execute::link::{self, Pass};
use crate::model::peer_link::Transport;
use crate::model::settings::{Mode, SyncPath};
use crate::source::inventory::Environment;
use crate::wizard::{self, OtherSide};

pub async fn run(global: &Global, args: &SettingsArgs, intent: Intent) -> Result<()> {
    let source = command::source(global)?;
    let ask = wizard::allowed(global.yes);
    let wants_link = args.peer.is_some() || args.peer_env.is_some() || args.peer_keys.is_some();
    let mode = match args.mode {
        Some(mode) => mode,
        None if wants_link => Mode::Two,
        None if ask && args.env.is_none() => wizard::mode()?,
        None => Mode::One,
    };
    let link_flags = args.password_file.is_some()
        || args.allow.is_some()
        || args.peer_transport.is_some()
        || args.peer_keys.is_some()
        || wants_link;
    if mode == Mode::One && link_flags {
        return Err(Error::InvalidLink {
            setting: "--mode one".into(),
            reason: "--peer, --peer-env, --peer-keys, --peer-transport, --password-file and \
                     --allow only apply to two environments"
                .into(),
            hint: "use --mode two with them, or leave them out".into(),
        });
    }
    let env = &command::environment(&source, args.env.as_deref(), ask).await?;
    let nodes = command::nodes(env, args.nodes.as_deref(), ask && args.nodes.is_none())?;
    if mode == Mode::One {
        let link = if args.mode == Some(Mode::One) {
            LinkChoice::Off
        } else {
            LinkChoice::Keep
        };
        let request = request(env, &nodes, flags(args, env, link)?, ask, intent, None);
        return converge::converge(global, request).await;
    }

    // Mode two: every input is checked before any node is touched.
    let asked;
    let args = if ask && !wants_link {
        asked = ask_other_side(&source, env, args).await?;
        &asked
    } else {
        args
    };
    let other_env = match &args.peer_env {
        Some(name) => Some(command::environment(&source, Some(name), false).await?),
        None => None,
    };
    let own_flags = flags(args, env, LinkChoice::Keep)?;
    let other_flags = match &other_env {
        Some(other) => Some(flags(args, other, LinkChoice::Keep)?),
        None => None,
    };
    let links = link::links(global, env, other_env, args, ask).await?;
    let chosen = match links.own.transport {
        Transport::Daemon => {
            let given = link::given_password(args, ask)?;
            Some(link::choose_password(global, env, given).await?)
        }
        Transport::Ssh => None,
    };
    let password = chosen.as_ref().map(|chosen| chosen.password.clone());
    let both_sides = links.other.is_some();
    let result = link::converge_both(global, env, links, intent, async |pass, side, link| {
        // This side as the flags say, the other with all its nodes.
        let (nodes, flags) = match (pass, &other_flags) {
            (Pass::Other, Some(other_flags)) => (side.select(None)?, other_flags.clone()),
            _ => (nodes.clone(), own_flags.clone()),
        };
        let flags = Flags {
            link: LinkChoice::Set(link),
            ..flags
        };
        let ask = ask && pass != Pass::OwnKeys;
        let request = request(side, &nodes, flags, ask, intent, password.clone());
        converge::converge(global, request).await
    })
    .await;
    let installed = matches!(result, Ok(()) | Err(Error::Partial { .. }));
    if let Some(chosen) = chosen.filter(|chosen| chosen.generated) {
        if intent == Intent::Apply && installed {
            link::announce_generated(&chosen.password, both_sides);
        }
    }
    result
}

/// The flags with the wizard's answer to where the other environment is.
async fn ask_other_side(
    source: &crate::source::Source,
    env: &Environment,
    args: &SettingsArgs,
) -> Result<SettingsArgs> {
    let others: Vec<String> = source
        .names()
        .await?
        .into_iter()
        .filter(|name| *name != env.name)
        .collect();
    let mut args = args.clone();
    match wizard::other_side(&others)? {
        OtherSide::Environment(name) => args.peer_env = Some(name),
        OtherSide::KeysFile(path) => args.peer_keys = Some(path),
        // `link::links` asks for one, and for the password.
        OtherSide::Addresses => {}
    }
    Ok(args)
}

/// The validated settings flags for `env` (paths are relative to its webroot).
fn flags(args: &SettingsArgs, env: &Environment, link: LinkChoice) -> Result<Flags> {
    Ok(Flags {
        path: args
            .path
            .as_deref()
            .map(|raw| SyncPath::parse(raw, &env.webroot))
            .transpose()?,
        delay: args.delay.as_deref().map(str::parse).transpose()?,
        topology: args.topology,
        trash_days: args.trash_days.as_deref().map(str::parse).transpose()?,
        link,
    })
}

fn request<'a>(
    env: &'a Environment,
    nodes: &'a [crate::source::inventory::Node],
    flags: Flags,
    ask: bool,
    intent: Intent,
    password: Option<crate::model::password::Password>,
) -> Request<'a> {
    Request {
        env,
        nodes,
        flags,
        ask,
        intent,
        purpose: Purpose::Install,
        password,
    }
}
