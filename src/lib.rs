//! filesync: installs and manages live file synchronization (lsyncd + rsync over
//! SSH) across the app-server nodes of a web cluster.
//!
//! The flow runs one way: settings and inventory -> desired state per node (pure:
//! `topology`, `desired`, `render`) -> what the nodes have (`probe`, read-only over
//! SSH) -> `plan` (pure diff) -> `apply` (over SSH, nodes in parallel).

pub mod application;
pub mod apply;
pub mod authorized_keys;
pub mod cli;
pub mod command;
pub mod converge;
pub mod crontab;
pub mod desired;
pub mod digest;
pub mod error;
pub mod escape;
pub mod fleet;
pub mod inventory;
pub mod layout;
pub mod lines;
pub mod link_keys;
pub mod lock;
pub mod merge;
pub mod mesh;
pub mod node;
pub mod node_set;
pub mod output;
pub mod password;
pub mod peer_link;
pub mod plan;
pub mod plan_view;
pub mod platform;
pub mod probe;
pub mod progress;
pub mod push_record;
pub mod remote;
pub mod removal;
pub mod render;
pub mod settings;
pub mod source;
pub mod ssh;
pub mod state;
pub mod survey;
pub mod table;
pub mod topology;
pub mod trash;
pub mod tree;
pub mod untrusted;
pub mod wizard;

use cli::{Cli, Command};
use converge::Intent;
use error::Result;

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
