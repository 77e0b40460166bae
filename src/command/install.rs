//! `filesync install` and `filesync plan`: the flags and the wizard; the flow
//! itself is `converge`, the two-environment checks are `link`.

use crate::cli::{Global, SettingsArgs};
use crate::command::{self, link};
use crate::converge::{self, Flags, Intent, LinkChoice, Purpose, Request};
use crate::error::{Error, Result};
use crate::inventory::Environment;
use crate::settings::{Mode, SyncPath};
use crate::wizard;

pub async fn run(global: &Global, args: &SettingsArgs, intent: Intent) -> Result<()> {
    let source = command::source(global)?;
    let ask = wizard::allowed(global.yes);
    let wants_link = args.peer.is_some() || args.peer_env.is_some();
    let mode = match args.mode {
        Some(mode) => mode,
        None if wants_link => Mode::Two,
        None if ask && args.env.is_none() => wizard::mode()?,
        None => Mode::One,
    };
    let link_flags = args.password_file.is_some()
        || args.allow.is_some()
        || args.peer_transport.is_some()
        || wants_link;
    if mode == Mode::One && link_flags {
        return Err(Error::InvalidLink {
            setting: "--mode one".into(),
            reason: "--peer, --peer-env, --peer-transport, --password-file and --allow only \
                     apply to two environments"
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
    let other_env = match &args.peer_env {
        Some(name) => Some(command::environment(&source, Some(name), false).await?),
        None => None,
    };
    let own_flags = flags(args, env, LinkChoice::Keep)?;
    let other_flags = match &other_env {
        Some(other) => Some(flags(args, other, LinkChoice::Keep)?),
        None => None,
    };
    let links = link::links(env, other_env, args, ask).await?;
    let given = link::given_password(args, ask)?;
    let chosen = link::choose_password(global, env, given).await?;

    let mut own_flags = own_flags;
    own_flags.link = LinkChoice::Set(links.own);
    let password = Some(chosen.password.clone());
    let own = request(env, &nodes, own_flags, ask, intent, password.clone());
    let mut result = converge::converge(global, own).await;
    let proceed = matches!(result, Ok(()) | Err(Error::Partial { .. }));
    if let (Some((other, back)), Some(mut other_flags), true) = (&links.other, other_flags, proceed)
    {
        let other_nodes = other.select(None)?;
        other_flags.link = LinkChoice::Set(back.clone());
        let request = request(other, &other_nodes, other_flags, ask, intent, password);
        let other_result = converge::converge(global, request).await;
        result = result.and(other_result);
    }
    let installed = matches!(result, Ok(()) | Err(Error::Partial { .. }));
    if chosen.generated && intent == Intent::Apply && installed {
        link::announce_generated(&chosen.password, links.other.is_some());
    }
    result
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
    nodes: &'a [crate::inventory::Node],
    flags: Flags,
    ask: bool,
    intent: Intent,
    password: Option<crate::password::Password>,
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
