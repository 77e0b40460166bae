//! `filesync logs`: the tail of lsyncd's log on each node (or one node).

use crate::cli::{Global, LogsArgs};
use crate::command;
use crate::error::Result;
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::remote;
use serde::Serialize;

#[derive(Serialize)]
struct NodeLog {
    node: String,
    lines: Vec<String>,
    error: Option<String>,
}

pub async fn run(global: &Global, args: &LogsArgs) -> Result<()> {
    let source = command::source(global)?;
    let env = &command::environment(&source, args.target.env.as_deref(), false).await?;
    let wanted = args
        .node
        .clone()
        .map(|node| vec![node])
        .or_else(|| args.target.nodes.clone());
    let nodes = env.select(wanted.as_deref())?;
    let install = InstallDir::under_webroot(&env.webroot);
    let fleet = Fleet::connect_for(global, &nodes).await?;
    let script = remote::tail_log(&install, args.lines)?;
    let mut outputs = fleet.run_everywhere(&script).await;
    let logs: Vec<NodeLog> = nodes
        .iter()
        .map(|node| {
            let (lines, error) = match outputs.remove(&node.name) {
                Some(Ok(text)) => (text.lines().map(str::to_string).collect(), None),
                Some(Err(err)) => (Vec::new(), Some(format!("{err:#}"))),
                None => (Vec::new(), fleet.unreachable_reason(&node.name)),
            };
            NodeLog {
                node: node.name.clone(),
                lines,
                error,
            }
        })
        .collect();
    fleet.close().await;
    if command::is_json(global) {
        return command::print_json(&logs);
    }
    let single = logs.len() == 1;
    let mut text = String::new();
    for log in &logs {
        if !single {
            text.push_str(&format!("==> {} <==\n", log.node));
        }
        for line in &log.lines {
            text.push_str(line);
            text.push('\n');
        }
        if let Some(error) = &log.error {
            eprintln!("{}: {error}", log.node);
        }
    }
    command::emit(&text)
}
