//! filesync: installs and manages live file synchronization (lsyncd + rsync over
//! SSH) across the app-server nodes of a web cluster.
//!
//! The flow runs one way, a folder per stage: flags and the wizard (`cli`,
//! `wizard`) and the topology source (`source`: inventory or platform API) ->
//! what the nodes have and how they are reached (`nodes`: SSH, the read-only
//! probe, what nodes say checked like input) -> what is wanted, per node, from
//! the settings and those facts (`model`, pure) and its files (`render`,
//! pure) -> the `plan` (pure diff) -> its execution (`execute`: apply over
//! SSH, nodes in parallel). Beside the flow,
//! `verify` compares the synced tree across nodes. The subcommands (`command`)
//! sit on top; `output` is what they print.

pub mod cli;
pub mod command;
pub mod digest;
pub mod error;
pub mod execute;
pub mod model;
pub mod nodes;
pub mod output;
pub mod plan;
pub mod render;
pub mod source;
pub mod verify;
pub mod wizard;

use cli::{Cli, Command};
use error::Result;
use execute::converge::Intent;

/// Runs one parsed command line to completion.
pub async fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Install(args) => {
            let intent = if args.dry_run {
                Intent::Show
            } else {
                Intent::Apply
            };
            command::install::run(global, &args.settings, intent).await
        }
        Command::Plan(args) => command::install::run(global, args, Intent::Show).await,
        Command::Reconcile(args) => command::reconcile::run(global, args).await,
        Command::Watch(args) => command::watch::run(global, args).await,
        Command::Nodes(args) => command::nodes::run(global, args).await,
        Command::ExportKeys(args) => command::export_keys::run(global, args).await,
        Command::Status(args) => command::status::run(global, args).await,
        Command::Verify(args) => command::verify::run(global, args).await,
        Command::Logs(args) => command::logs::run(global, args).await,
        Command::Uninstall(args) => command::uninstall::run(global, args).await,
        Command::Trash(args) => command::trash::run(global, args).await,
        Command::Completions { shell } => command::completions::completions(*shell),
        Command::Man => command::completions::man(),
    }
}
