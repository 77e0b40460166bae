//! `filesync reconcile`: the environment's current nodes (from the topology
//! source) against what is installed on them, through the same plan and apply
//! as install; the settings come from the installed state.

use crate::cli::{Global, ReconcileArgs};
use crate::command;
use crate::converge::{self, Flags, Intent, Purpose, Request};
use crate::error::Result;
use crate::inventory::Environment;
use crate::ssh;

/// Reconciles `env` with its current nodes (also used by `watch`).
pub async fn reconcile(global: &Global, env: &Environment, intent: Intent) -> Result<()> {
    let nodes = env.select(None)?;
    let request = Request {
        env,
        nodes: &nodes,
        flags: Flags::default(),
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
