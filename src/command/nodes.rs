//! `filesync nodes`: the environments, or one environment's nodes, exactly as
//! the topology source (inventory or platform API) gives them, and those it
//! leaves out (not running, or unusable) with the reason. Contacts no node.

use crate::cli::{Global, NodesArgs};
use crate::command;
use crate::error::Result;

pub async fn run(global: &Global, args: &NodesArgs) -> Result<()> {
    let source = command::source(global)?;
    let Some(name) = &args.env else {
        let listing = source.listing().await?;
        for left_out in &listing.left_out {
            eprintln!("left out: environment {left_out}");
        }
        if command::is_json(global) {
            return command::print_json(&listing.usable);
        }
        let names: String = listing.usable.iter().map(|n| format!("{n}\n")).collect();
        return command::emit(&names);
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
    for left_out in &env.left_out {
        text.push_str(&format!("  left out {left_out}\n"));
    }
    command::emit(&text)
}
