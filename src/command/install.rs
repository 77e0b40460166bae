//! `filesync install` and `filesync plan`: the flags and the wizard; the flow
//! itself is `converge`.

use crate::cli::{Global, SettingsArgs};
use crate::command;
use crate::converge::{self, Flags, Intent, Purpose, Request};
use crate::error::{Error, Result};
use crate::settings::{Mode, SyncPath};
use crate::wizard;

pub async fn run(global: &Global, args: &SettingsArgs, intent: Intent) -> Result<()> {
    let source = command::source(global)?;
    let ask = wizard::allowed(global.yes);
    let mode = match args.mode {
        Some(mode) => mode,
        None if ask && args.env.is_none() => wizard::mode()?,
        None => Mode::One,
    };
    if mode == Mode::Two {
        return Err(Error::Unsupported {
            what: "two-environment mode".into(),
            hint: "install each environment with --mode one for now; syncing two environments \
                   with each other is planned"
                .into(),
        });
    }
    let env = &command::environment(&source, args.env.as_deref(), ask).await?;
    // Bad flags fail here, before any connection.
    let flags = Flags {
        path: args
            .path
            .as_deref()
            .map(|raw| SyncPath::parse(raw, &env.webroot))
            .transpose()?,
        delay: args.delay.as_deref().map(str::parse).transpose()?,
        topology: args.topology,
    };
    let nodes = command::nodes(env, args.nodes.as_deref(), ask && args.nodes.is_none())?;
    let request = Request {
        env,
        nodes: &nodes,
        flags,
        ask,
        intent,
        purpose: Purpose::Install,
    };
    converge::converge(global, request).await
}
