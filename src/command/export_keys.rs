//! `filesync export-keys`: prints an installed environment's public side of an
//! SSH link (its nodes' addresses, login user, host keys and sync keys, and
//! the synced path) for the other environment's `install --peer-keys`, when
//! the two are not in one inventory. Reads only.

use crate::cli::{ExportKeysArgs, Global};
use crate::command;
use crate::error::{Error, Result};
use crate::execute::link;
use crate::model::link_keys::LinkKeys;

pub async fn run(global: &Global, args: &ExportKeysArgs) -> Result<()> {
    let source = command::source(global)?;
    let env = command::environment(&source, args.env.as_deref(), false).await?;
    let Some(settings) = link::installed_settings(global, &env).await else {
        return Err(Error::NotInstalled { env: env.name });
    };
    let nodes = link::link_nodes(global, &env, &[]).await?;
    let (with_key, without): (Vec<_>, Vec<_>) = nodes.into_iter().partition(|n| n.key.is_some());
    for node in &without {
        eprintln!(
            "warning: environment {}: node {} has no sync key yet and is left out: run \
             `filesync reconcile --env {}`, then export again",
            env.name, node.name, env.name
        );
    }
    if with_key.is_empty() {
        return Err(Error::NotInstalled { env: env.name });
    }
    let text = LinkKeys::new(&env.name, settings.path.as_str(), with_key).to_text();
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|err| anyhow::anyhow!("writing {}: {err}", path.display()).into()),
        None => command::emit(&text),
    }
}
