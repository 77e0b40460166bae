//! `filesync reconcile`: the environment's current nodes (from the topology
//! source) against what is installed on them, through the same plan and apply
//! as install; the settings come from the installed state. When the
//! environment is linked to another one of the same source (`--peer-env`),
//! both sides' links follow their current nodes: the peers each side pushes
//! to and the addresses its daemons admit.

use crate::cli::{Global, ReconcileArgs};
use crate::command;
use crate::error::{Error, Result};
use crate::execute::converge::{self, Flags, Intent, LinkChoice, Purpose, Request};
use crate::execute::link::{self, Links, Pass};
use crate::model::peer_link::{PeerLink, Transport};
use crate::nodes::ssh;
use crate::source::inventory::Environment;

/// Reconciles `env` with its current nodes (also used by `watch`), and the
/// other environment of its link when the source has it.
pub async fn reconcile(global: &Global, env: &Environment, intent: Intent) -> Result<()> {
    let links = match linked_to(global, env).await {
        Ok(links) => links,
        Err((other, err)) => {
            eprintln!(
                "warning: environment {}: the link to {other} is kept as installed, not made to \
                 follow the nodes: {err}",
                env.name
            );
            None
        }
    };
    let Some(links) = links else {
        return converge_one(global, env, LinkChoice::Keep, intent).await;
    };
    link::converge_both(
        global,
        env,
        links,
        intent,
        async |pass, side, link| match converge_one(global, side, LinkChoice::Set(link), intent)
            .await
        {
            Err(Error::NotInstalled { env: other }) if pass == Pass::Other => {
                eprintln!(
                    "warning: environment {}: the other environment of its link, {other}, is \
                     not installed: its side was left as it is",
                    env.name
                );
                Ok(())
            }
            result => result,
        },
    )
    .await
}

/// When `env` is linked to an environment of the same source (`--peer-env`),
/// both links as their current nodes make them; else none. The error names
/// the other environment.
async fn linked_to(
    global: &Global,
    env: &Environment,
) -> std::result::Result<Option<Links>, (String, Error)> {
    let Some(installed) = link::installed_settings(global, env)
        .await
        .and_then(|settings| settings.link)
    else {
        return Ok(None);
    };
    let (Some(name), false) = (installed.peer_env.clone(), installed.imported) else {
        eprintln!(
            "note: environment {}: {}",
            env.name,
            other_side_hint(env, &installed)
        );
        return Ok(None);
    };
    let with = |err| (name.clone(), err);
    let source = command::source(global).map_err(with)?;
    let other = source.environment(&name).await.map_err(with)?;
    let links = link::pair(
        global,
        env,
        Some(other),
        None,
        Vec::new(),
        installed.transport,
    )
    .await
    .map_err(with)?;
    Ok(Some(links))
}

/// What to run on the other side of a link this operator cannot reach, for it
/// to follow this environment's nodes.
fn other_side_hint(env: &Environment, installed: &PeerLink) -> String {
    let addresses: Vec<&str> = env.nodes.iter().map(|n| n.address.host.as_str()).collect();
    match installed.transport {
        Transport::Ssh => format!(
            "the other environment of its link admits the nodes this one had when its keys \
             were exported: if nodes were added or removed here, run `filesync export-keys \
             --env {}` and give the file to the other side's `filesync install --peer-keys FILE`",
            env.name
        ),
        Transport::Daemon => format!(
            "the other environment of its link pushes to and admits the nodes given to its \
             --peer and --allow: if nodes were added or removed here, install it again with \
             --peer {list} --allow {list}",
            list = addresses.join(",")
        ),
    }
}

async fn converge_one(
    global: &Global,
    env: &Environment,
    link: LinkChoice,
    intent: Intent,
) -> Result<()> {
    let nodes = env.select(None)?;
    let request = Request {
        env,
        nodes: &nodes,
        flags: Flags {
            link,
            ..Flags::default()
        },
        ask: false,
        intent,
        purpose: Purpose::Reconcile,
        password: None,
    };
    converge::converge(global, request).await
}

pub async fn run(global: &Global, args: &ReconcileArgs) -> Result<()> {
    let source = command::source(global)?;
    let env = &command::environment(&source, args.env.as_deref(), false).await?;
    for name in &args.accept_new_host_key {
        let node = env.select(Some(std::slice::from_ref(name)))?.remove(0);
        ssh::forget_host_key(&node, global.ssh_config.as_deref()).await?;
    }
    let intent = if args.dry_run {
        Intent::Show
    } else {
        Intent::Apply
    };
    reconcile(global, env, intent).await
}
