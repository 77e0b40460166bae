//! `filesync trash`: what sync replaced or deleted on each node, kept there for
//! the retention period. `list` shows the kept copies; `restore` puts one back
//! on a node, from where it spreads like any change made there.

use crate::cli::{Global, TrashAction, TrashArgs};
use crate::command;
use crate::error::{Error, Result};
use crate::execute::converge;
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::node::Node;
use crate::nodes::remote;
use crate::nodes::trash::{self, Kept};
use crate::source::inventory::Environment;
use serde::Serialize;

#[derive(Serialize)]
struct NodeTrash {
    node: String,
    kept: Vec<Kept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(global: &Global, args: &TrashArgs) -> Result<()> {
    let source = command::source(global)?;
    match &args.action {
        TrashAction::List { target, path } => {
            let env = command::environment(&source, target.env.as_deref(), false).await?;
            let path = path.as_deref().map(checked_path).transpose()?;
            list(global, &env, target.nodes.as_deref(), path.as_deref()).await
        }
        TrashAction::Restore {
            env,
            node,
            version,
            path,
        } => {
            let env = command::environment(&source, env.as_deref(), false).await?;
            restore(global, &env, node, version.as_deref(), &checked_path(path)?).await
        }
    }
}

fn checked_path(raw: &str) -> Result<String> {
    trash::relative_path(raw).ok_or_else(|| Error::InvalidPath {
        path: raw.to_string(),
        reason: "a path in the trash is relative to the synced directory, without `..`, \
                 e.g. uploads/2026/11/logo.png"
            .to_string(),
    })
}

async fn kept_on<N: Node>(node: &N, install: &InstallDir) -> anyhow::Result<Vec<Kept>> {
    let output = node.run(&remote::list_trash(install)?, None).await?;
    Ok(trash::parse_listing(output.as_bytes()))
}

async fn list(
    global: &Global,
    env: &Environment,
    wanted: Option<&[String]>,
    path: Option<&str>,
) -> Result<()> {
    let nodes = env.select(wanted)?;
    let install = InstallDir::under_webroot(&env.webroot);
    let fleet = Fleet::connect_for(global, &nodes).await?;
    let mut trashes = Vec::new();
    for node in &nodes {
        let (kept, error) = match fleet.nodes.get(&node.name) {
            Some(ssh) => match kept_on(ssh, &install).await {
                Ok(kept) => (kept, None),
                Err(err) => (Vec::new(), Some(format!("{err:#}"))),
            },
            None => (Vec::new(), fleet.unreachable_reason(&node.name)),
        };
        let kept = kept
            .into_iter()
            .filter(|k| path.is_none_or(|p| k.path == p))
            .collect();
        trashes.push(NodeTrash {
            node: node.name.clone(),
            kept,
            error,
        });
    }
    fleet.close().await;
    if command::is_json(global) {
        return command::print_json(&trashes);
    }
    let mut text = String::new();
    for trash in &trashes {
        match &trash.error {
            Some(error) => text.push_str(&format!("{}: {error}\n", trash.node)),
            None => text.push_str(&format!("{}: {} kept\n", trash.node, trash.kept.len())),
        }
        for kept in &trash.kept {
            text.push_str(&format!(
                "  {}  {}  {} bytes  (replaced or deleted by {}; version {})\n",
                kept.kept_at, kept.path, kept.size, kept.by, kept.version
            ));
        }
    }
    command::emit(&text)
}

async fn restore(
    global: &Global,
    env: &Environment,
    node_name: &str,
    version: Option<&str>,
    path: &str,
) -> Result<()> {
    let nodes = env.select(Some(&[node_name.to_string()]))?;
    let install = InstallDir::under_webroot(&env.webroot);
    let fleet = Fleet::connect_for(global, &nodes).await?;
    let result = async {
        let Some(node) = fleet.nodes.get(node_name) else {
            return Err(Error::Partial {
                failures: fleet.unreachable.clone(),
            });
        };
        let settings = converge::installed_settings(&fleet, &install)
            .await
            .ok_or_else(|| Error::NotInstalled {
                env: env.name.clone(),
            })?;
        let kept = kept_on(node, &install).await?;
        let not_in_trash = || Error::NotInTrash {
            env: env.name.clone(),
            node: node_name.to_string(),
            what: match version {
                Some(version) => format!("copy of {path} in version {version}"),
                None => format!("copy of {path}"),
            },
        };
        let chosen = trash::choose(&kept, path, version).ok_or_else(not_in_trash)?;
        let synced = settings.path.absolute(&env.webroot);
        let script = remote::restore_from_trash(&install, &synced, &chosen.version, path)?;
        let aside = node.run(&script, None).await?;
        Ok((chosen.clone(), aside.trim().to_string()))
    }
    .await;
    fleet.close().await;
    let (chosen, aside) = result?;
    if command::is_json(global) {
        return command::print_json(&serde_json::json!({
            "node": node_name,
            "restored": chosen,
            "previous_kept_at": (!aside.is_empty()).then_some(aside),
        }));
    }
    let mut text = format!(
        "{node_name}: restored {path} from the copy kept at {} (version {}); it spreads to \
         the other nodes like a change made there.\n",
        chosen.kept_at, chosen.version
    );
    if !aside.is_empty() {
        text.push_str(&format!("What was there is in the trash: {aside}\n"));
    }
    command::emit(&text)
}
