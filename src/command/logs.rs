//! `filesync logs`: the tail of lsyncd's log on each node (or one node).

use crate::cli::{Global, LogsArgs};
use crate::command;
use crate::error::Result;
use crate::fleet::Fleet;
use crate::layout::InstallDir;
use crate::node::Node;
use crate::remote;
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
    let mut logs = Vec::new();
    for node in &nodes {
        let log = match fleet.nodes.get(&node.name) {
            Some(ssh) => match ssh.run(&script, None).await {
                Ok(text) => NodeLog {
                    node: node.name.clone(),
                    lines: text.lines().map(str::to_string).collect(),
                    error: None,
                },
                Err(err) => NodeLog {
                    node: node.name.clone(),
                    lines: vec![],
                    error: Some(format!("{err:#}")),
                },
            },
            None => NodeLog {
                node: node.name.clone(),
                lines: vec![],
                error: fleet
                    .unreachable
                    .iter()
                    .find(|f| f.node == node.name)
                    .map(|f| f.reason.clone()),
            },
        };
        logs.push(log);
    }
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
