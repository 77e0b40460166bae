//! One module per subcommand, each with a `run`; this module holds what they
//! share: loading the inventory, choosing the environment and its nodes, and
//! printing results.

pub mod completions;
pub mod export_keys;
pub mod install;
pub mod logs;
pub mod nodes;
pub mod reconcile;
pub mod status;
pub mod trash;
pub mod uninstall;
pub mod verify;
pub mod watch;

use crate::cli::Global;
use crate::error::{Error, Result};
pub use crate::output::{emit, is_json, print_json, printed_json};
use crate::source::inventory::{Environment, Node};
use crate::source::Source;
use crate::wizard;

pub fn source(global: &Global) -> Result<Source> {
    Source::from_cli(global)
}

/// The environment named by `--env`, or chosen in the wizard when allowed
/// (among the running ones); the nodes it leaves out are reported on stderr.
pub async fn environment(source: &Source, flag: Option<&str>, ask: bool) -> Result<Environment> {
    let env = match flag {
        Some(name) => source.environment(name).await?,
        None if ask => {
            let names = source.names().await?;
            source.environment(&wizard::environment(&names)?).await?
        }
        None => {
            return Err(Error::MissingSetting {
                what: "the environment".into(),
                flag: "--env NAME".into(),
            })
        }
    };
    warn_left_out(&env);
    Ok(env)
}

/// Names on stderr each node the topology source lists but filesync leaves
/// out, with the reason and what to do.
pub fn warn_left_out(env: &Environment) {
    for left_out in &env.left_out {
        eprintln!("warning: environment {}: left out {left_out}", env.name);
    }
}

/// The nodes named by `--nodes`, or chosen in the wizard when allowed, or all.
pub fn nodes(env: &Environment, flag: Option<&[String]>, ask: bool) -> Result<Vec<Node>> {
    match flag {
        Some(names) => env.select(Some(names)),
        None if ask && !env.nodes.is_empty() => {
            let chosen = wizard::nodes(&env.node_names())?;
            env.select(Some(&chosen))
        }
        None => env.select(None),
    }
}
