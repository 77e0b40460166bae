//! `filesync nodes`: the environments, or one environment's nodes, exactly as
//! the topology source (inventory or platform API) gives them. Contacts no node.

use crate::cli::{Global, NodesArgs};
use crate::command;
use crate::error::Result;

pub async fn run(global: &Global, args: &NodesArgs) -> Result<()> {
    let source = command::source(global)?;
    let Some(name) = &args.env else {
        let names = source.names().await?;
        if command::is_json(global) {
            return command::print_json(&names);
        }
        return command::emit(&names.iter().map(|n| format!("{n}\n")).collect::<String>());
    };
    let env = source.environment(name).await?;
    if command::is_json(global) {
        return command::print_json(&env);
    }
    let mut text = format!("{} (webroot {})\n", env.name, env.webroot);
    for node in &env.nodes {
        text.push_str(&format!(
            "  {}  ssh {}  peers reach it at {}\n",
            node.name, node.ssh, node.address
        ));
    }
    command::emit(&text)
}
