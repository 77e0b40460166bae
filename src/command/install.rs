//! `filesync install` and `filesync plan`: settings (flags, installed state,
//! wizard) -> connect and probe -> preflight -> plan -> print, or apply it.

use crate::apply::{self, Target};
use crate::cli::{Global, SettingsArgs};
use crate::command;
use crate::desired::{self, NodeFacts};
use crate::error::{Error, NodeFailure, Result};
use crate::fleet::Fleet;
use crate::inventory::{Environment, Node as InventoryNode};
use crate::layout::{self, InstallDir};
use crate::node::Node;
use crate::plan::{self, Plan};
use crate::progress::Progress;
use crate::settings::{Delay, Mode, Settings, SyncPath};
use crate::state::NodeState;
use crate::wizard;
use serde::Serialize;
use std::collections::BTreeMap;

/// Whether to apply the plan or only show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Apply,
    Show,
}

#[derive(Serialize)]
struct Report<'a> {
    plan: &'a Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ResultReport>,
}

#[derive(Serialize)]
struct ResultReport {
    changed: Vec<String>,
    unchanged: Vec<String>,
    failed: Vec<NodeFailure>,
}

pub async fn run(global: &Global, args: &SettingsArgs, intent: Intent) -> Result<()> {
    let inventory = command::inventory(global)?;
    let ask = wizard::allowed(global.yes);
    let mode = match args.mode {
        Some(mode) => mode,
        None if ask && args.env.is_none() => wizard::mode()?,
        None => Mode::One,
    };
    if mode == Mode::Two {
        return Err(Error::Unsupported {
            what: "two-environment mode".into(),
            hint: "install each environment with --mode one for now; syncing two environments \
                   with each other is planned"
                .into(),
        });
    }
    let env = command::environment(&inventory, args.env.as_deref(), ask)?;
    // Bad flags fail here, before any connection.
    let flags = Flags {
        path: args
            .path
            .as_deref()
            .map(|raw| SyncPath::parse(raw, &env.webroot))
            .transpose()?,
        delay: args.delay.as_deref().map(str::parse).transpose()?,
        topology: args.topology,
    };
    let nodes = command::nodes(env, args.nodes.as_deref(), ask && args.nodes.is_none())?;

    let mut fleet = Fleet::connect_for(global, &nodes).await?;
    let result = plan_and_apply(global, &flags, env, &nodes, &mut fleet, ask, intent).await;
    fleet.close().await;
    result
}

/// The settings given as flags, already validated.
struct Flags {
    path: Option<SyncPath>,
    delay: Option<Delay>,
    topology: Option<crate::settings::Topology>,
}

async fn plan_and_apply(
    global: &Global,
    flags: &Flags,
    env: &Environment,
    nodes: &[InventoryNode],
    fleet: &mut Fleet,
    ask: bool,
    intent: Intent,
) -> Result<()> {
    let install = InstallDir::under_webroot(&env.webroot);
    let installed = installed_settings(fleet, &install).await;
    let settings = settings(flags, env, installed.as_ref(), ask)?;
    let source = settings.path.absolute(&env.webroot);
    let observed = fleet.probe(&install, &env.webroot, Some(&source)).await;

    let facts = node_facts(nodes, &observed).await;
    let configs = desired::node_configs(env, &settings, nodes, &facts);
    let keys: BTreeMap<String, String> = observed
        .iter()
        .filter_map(|(name, o)| o.sync_key.clone().map(|key| (name.clone(), key)))
        .collect();

    let mut failures = Vec::new();
    let mut node_plans = Vec::new();
    for node in nodes {
        let (Some(config), Some(seen)) = (configs.get(&node.name), observed.get(&node.name)) else {
            continue;
        };
        let (errors, warnings, prepare) = plan::preflight(config, seen);
        failures.extend(errors.into_iter().map(|reason| NodeFailure {
            node: node.name.clone(),
            reason,
        }));
        node_plans.push(plan::node_plan(config, seen, &keys, prepare, warnings)?);
    }
    if !failures.is_empty() {
        return Err(Error::Preflight { failures });
    }
    let plan = Plan {
        env: env.name.clone(),
        settings,
        nodes: node_plans,
        unreachable: fleet.unreachable.clone(),
    };

    let json = command::is_json(global);
    if intent == Intent::Show {
        if json {
            command::print_json(&Report {
                plan: &plan,
                result: None,
            })?;
        } else {
            command::emit(&plan.to_string())?;
        }
        return partial(&plan.unreachable);
    }
    if !json {
        command::emit(&plan.to_string())?;
    }
    if plan.is_empty() {
        return partial(&plan.unreachable);
    }
    if ask && !wizard::confirm("Apply this plan?")? {
        return Err(Error::Cancelled);
    }

    let progress = if json {
        Progress::hidden()
    } else {
        Progress::new(
            &plan
                .nodes
                .iter()
                .map(|n| n.node.clone())
                .collect::<Vec<_>>(),
        )
    };
    let targets: BTreeMap<String, Target<'_, _>> = plan
        .nodes
        .iter()
        .map(|p| {
            let name = p.node.clone();
            let target = Target {
                node: &fleet.nodes[&name],
                config: &configs[&name],
                observed: &observed[&name],
            };
            (name, target)
        })
        .collect();
    let outcome = apply::apply(&plan, &targets, fleet.parallel, &progress).await;
    drop(progress);

    let mut failed = plan.unreachable.clone();
    failed.extend(outcome.failed.iter().cloned());
    if json {
        command::print_json(&Report {
            plan: &plan,
            result: Some(ResultReport {
                changed: outcome.changed.clone(),
                unchanged: outcome.unchanged.clone(),
                failed: failed.clone(),
            }),
        })?;
    } else {
        command::emit(&format!(
            "Done: {} changed, {} unchanged, {} failed.\n",
            outcome.changed.len(),
            outcome.unchanged.len(),
            failed.len()
        ))?;
    }
    partial(&failed)
}

fn partial(failures: &[NodeFailure]) -> Result<()> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Partial {
            failures: failures.to_vec(),
        })
    }
}

/// The settings already installed on the nodes (the first node that has any).
async fn installed_settings(fleet: &Fleet, install: &InstallDir) -> Option<Settings> {
    let script = format!(
        "cat {} 2>/dev/null || true\n",
        crate::escape::shell_word(&install.join(layout::STATE)).ok()?
    );
    for node in fleet.nodes.values() {
        if let Ok(text) = node.run(&script, None).await {
            if let Ok(state) = NodeState::from_json(&text) {
                return Some(state.settings);
            }
        }
    }
    None
}

/// Flags first, then what is installed, then the wizard, then defaults.
fn settings(
    flags: &Flags,
    env: &Environment,
    installed: Option<&Settings>,
    ask: bool,
) -> Result<Settings> {
    let path = match (&flags.path, installed) {
        (Some(path), _) => path.clone(),
        (None, Some(installed)) if !ask => installed.path.clone(),
        (None, installed) if ask => wizard::path(&env.webroot, installed.map(|s| &s.path))?,
        (None, _) => {
            return Err(Error::MissingSetting {
                what: "the sync path".into(),
                flag: "--path PATH (relative to the webroot, e.g. /ROOT/wp-content)".into(),
            })
        }
    };
    let default_delay = installed.map(|s| s.delay).unwrap_or_default();
    let delay = match flags.delay {
        Some(delay) => delay,
        None if ask && flags.path.is_none() => wizard::delay(default_delay)?,
        None => default_delay,
    };
    let topology = flags
        .topology
        .or(installed.map(|s| s.topology))
        .unwrap_or_default();
    Ok(Settings {
        path,
        delay,
        topology,
    })
}

/// What peers need to know about each probed node. Addresses that are host
/// names are resolved here, on the operator's machine, for `from=`.
async fn node_facts(
    nodes: &[InventoryNode],
    observed: &BTreeMap<String, crate::probe::Observed>,
) -> BTreeMap<String, NodeFacts> {
    let mut facts = BTreeMap::new();
    for node in nodes {
        let Some(seen) = observed.get(&node.name) else {
            continue;
        };
        let host = &node.address.host;
        let source_addresses = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![ip.to_string()],
            Err(_) => match tokio::net::lookup_host((host.as_str(), node.address.port)).await {
                Ok(addrs) => {
                    let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                    ips.sort();
                    ips.dedup();
                    ips
                }
                Err(_) => Vec::new(),
            },
        };
        facts.insert(
            node.name.clone(),
            NodeFacts {
                user: seen.user.clone(),
                host_keys: seen.host_keys.clone(),
                rrsync: seen.rrsync.clone(),
                mounts: seen
                    .sync_dir
                    .as_ref()
                    .map(|dir| dir.mounts.clone())
                    .unwrap_or_default(),
                source_addresses,
            },
        );
    }
    facts
}
