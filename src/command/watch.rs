//! `filesync watch`: polls the topology source and reconciles whenever the set
//! of nodes changes (an inventory edit counts). Transient failures (an API
//! timeout, a node briefly unreachable) are logged and retried with backoff;
//! SIGINT or SIGTERM stops it between two rounds, never in the middle of one.

use crate::cli::{Global, WatchArgs};
use crate::command::reconcile;
use crate::error::Result;
use crate::execute::converge::Intent;
use crate::source::Source;
use std::time::{Duration, SystemTime};
use tokio::signal::unix::{signal, SignalKind};

/// The longest wait between two retries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

fn log(message: &str) {
    eprintln!(
        "{} watch: {message}",
        humantime::format_rfc3339_seconds(SystemTime::now())
    );
}

/// How long to wait after a round: the interval after a success, a doubling
/// backoff (capped, never below the interval) after consecutive failures.
pub fn next_wait(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let factor = 2u32.saturating_pow(failures.min(16));
    interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF.max(interval))
}

pub async fn run(global: &Global, args: &WatchArgs) -> Result<()> {
    let interval = Duration::from_secs(args.interval);
    let mut terminate = signal(SignalKind::terminate()).map_err(anyhow::Error::from)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(anyhow::Error::from)?;
    let mut applied: Option<Vec<String>> = None;
    let mut failures = 0u32;
    log(&format!(
        "watching environment {} every {} s",
        args.env, args.interval
    ));
    loop {
        match round(global, &args.env, &mut applied).await {
            Ok(()) => failures = 0,
            Err(err) => {
                failures += 1;
                let wait = next_wait(interval, failures);
                log(&format!(
                    "round failed ({err}); retrying in {} s",
                    wait.as_secs()
                ));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(next_wait(interval, failures)) => {}
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    log("stopped");
    Ok(())
}

/// One look at the topology source; reconciles when the nodes differ from the
/// last set applied (and on the first round).
async fn round(global: &Global, env: &str, applied: &mut Option<Vec<String>>) -> Result<()> {
    let source = Source::from_cli(global)?;
    let environment = source.environment(env).await?;
    for left_out in &environment.left_out {
        log(&format!("left out {left_out}"));
    }
    // A node counts as changed when its name, ssh destination or address does.
    let mut nodes: Vec<String> = environment
        .nodes
        .iter()
        .map(|node| format!("{} ({}, {})", node.name, node.ssh, node.address))
        .collect();
    nodes.sort();
    if applied.as_ref() == Some(&nodes) {
        return Ok(());
    }
    match applied {
        None => log(&format!("nodes: {}; reconciling", nodes.join(", "))),
        Some(before) => log(&format!(
            "nodes changed: {} -> {}; reconciling",
            before.join(", "),
            nodes.join(", ")
        )),
    }
    reconcile::reconcile(global, &environment, Intent::Apply).await?;
    log("reconciled");
    *applied = Some(nodes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_failures_and_is_capped() {
        let interval = Duration::from_secs(10);
        assert_eq!(next_wait(interval, 0), interval);
        assert_eq!(next_wait(interval, 1), Duration::from_secs(20));
        assert_eq!(next_wait(interval, 3), Duration::from_secs(80));
        assert_eq!(next_wait(interval, 10), MAX_BACKOFF);
        assert_eq!(
            next_wait(Duration::from_secs(600), 2),
            Duration::from_secs(600)
        );
    }
}
