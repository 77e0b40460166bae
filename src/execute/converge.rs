//! Brings an environment to its desired state: the flow `install`, `plan` and
//! `reconcile` share, as named steps: `gather` the facts (settings from flags,
//! installed state or wizard; one probe of every node; the desired state; for
//! a reconcile, the nodes that left), `make_plan` from them (pure: preflight,
//! actions, joins), `show` it and ask, `execute` it (apply, remove filesync
//! from departed nodes) and `report`. A run acts on the nodes it is given
//! (`--nodes`, default all) and only on those it reaches; their peers are
//! always the whole environment (`mesh`).

use crate::cli::Global;
use crate::error::{Error, NodeFailure, Result};
use crate::execute::apply::{self, Target};
use crate::execute::progress::Progress;
use crate::execute::removal;
use crate::model::desired::{self, NodeFacts};
use crate::model::password::Password;
use crate::model::peer_link::PeerLink;
use crate::model::settings::{Delay, Settings, SyncPath, Topology, TrashDays};
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::lock;
use crate::nodes::mesh::{self, Known};
use crate::nodes::node::Node;
use crate::nodes::probe::Observed;
use crate::nodes::state::NodeState;
use crate::output;
use crate::plan::{self, Departed, Plan};
use crate::source::inventory::{Environment, Node as InventoryNode};
use crate::wizard;
use crate::wizard::survey;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Whether to apply the plan or only show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Apply,
    Show,
}

/// `install` takes settings from flags; `reconcile` from what is installed, and
/// also removes filesync from nodes that left the environment; a `repair`
/// (verify --repair) is a reconcile that also restarts lsyncd everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Install,
    Reconcile,
    Repair,
}

impl Purpose {
    fn command(self) -> &'static str {
        match self {
            Purpose::Install => "install",
            Purpose::Reconcile => "reconcile",
            Purpose::Repair => "repair",
        }
    }
}

/// The settings given as flags, already validated.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub path: Option<SyncPath>,
    pub delay: Option<Delay>,
    pub topology: Option<Topology>,
    pub trash_days: Option<TrashDays>,
    pub link: LinkChoice,
}

/// What to do about the link to a second environment.
#[derive(Debug, Clone, Default)]
pub enum LinkChoice {
    /// Whatever is installed (reconcile, or install without --mode).
    #[default]
    Keep,
    /// `--mode one`: no link (removes an installed one).
    Off,
    /// `--mode two` with these settings.
    Set(PeerLink),
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
    removed: Vec<String>,
    failed: Vec<NodeFailure>,
}

/// One run over an environment.
pub struct Request<'a> {
    pub env: &'a Environment,
    pub nodes: &'a [InventoryNode],
    pub flags: Flags,
    pub ask: bool,
    pub intent: Intent,
    pub purpose: Purpose,
    /// The link's password; `None`: the one already on the nodes, if any.
    pub password: Option<Password>,
}

/// The connections of one run: the nodes it acts on (locked when it applies),
/// the rest of the environment (read only: what their peers must know about
/// them), and, for a reconcile, the nodes that left the environment.
struct Fleets {
    acting: Fleet,
    onlookers: Fleet,
    departed: Option<Fleet>,
}

impl Fleets {
    /// The settings installed on the environment: as the nodes acted on have
    /// them, else as the others do.
    async fn installed_settings(&self, install: &InstallDir) -> Option<Settings> {
        match installed_settings(&self.acting, install).await {
            Some(settings) => Some(settings),
            None => installed_settings(&self.onlookers, install).await,
        }
    }

    /// The link's password, found like the settings.
    async fn installed_password(&self, install: &InstallDir) -> Option<Password> {
        match installed_password(&self.acting, install).await {
            Some(password) => Some(password),
            None => installed_password(&self.onlookers, install).await,
        }
    }

    /// Probes the nodes acted on, and the others read only (what their peers
    /// need of them, without walking the synced directory), by name.
    async fn probe(
        &mut self,
        install: &InstallDir,
        env: &Environment,
        source: &str,
    ) -> BTreeMap<String, Observed> {
        let mut probed = self.acting.probe(install, &env.webroot, Some(source)).await;
        let mut others = self.onlookers.probe(install, &env.webroot, None).await;
        probed.append(&mut others);
        probed
    }

    async fn close(self) {
        self.acting.close().await;
        self.onlookers.close().await;
        if let Some(departed) = self.departed {
            departed.close().await;
        }
    }
}

pub async fn converge(global: &Global, request: Request<'_>) -> Result<()> {
    let (acting, lock) = match request.intent {
        Intent::Show => (Fleet::connect_for(global, request.nodes).await?, None),
        Intent::Apply => {
            let install = InstallDir::under_webroot(&request.env.webroot);
            let (fleet, held) =
                lock::connect_locked(global, request.nodes, &install, request.purpose.command())
                    .await?;
            (fleet, Some(held))
        }
    };
    let outside: Vec<InventoryNode> = request
        .env
        .nodes
        .iter()
        .filter(|node| !request.nodes.iter().any(|n| n.name == node.name))
        .cloned()
        .collect();
    let mut fleets = Fleets {
        acting,
        onlookers: Fleet::connect_lenient(global, &outside).await,
        departed: None,
    };
    let result = plan_and_apply(global, &request, &mut fleets).await;
    if let Some(lock) = lock {
        lock.release(&fleets.acting).await;
    }
    fleets.close().await;
    result
}

/// The run, step by step: gather the facts, make the plan (pure), show it and
/// ask, execute it, report.
async fn plan_and_apply(global: &Global, request: &Request<'_>, fleets: &mut Fleets) -> Result<()> {
    let gathered = gather(global, request, fleets).await?;
    let plan = make_plan(request, fleets.acting.unreachable.clone(), &gathered)?;
    if !show(global, request, &plan)? {
        return partial(&plan.unreachable);
    }
    let done = execute(global, &plan, fleets, &gathered).await;
    report(global, request.purpose, &plan, done)
}

/// Everything a run learns before it plans: the settings it applies, what the
/// nodes have, and the desired state made from both.
struct Gathered {
    install: InstallDir,
    settings: Settings,
    /// What each reachable node of the environment has.
    probed: BTreeMap<String, Observed>,
    /// What each node of the mesh should have.
    configs: BTreeMap<String, desired::NodeConfig>,
    /// Nodes already installed in this environment (the others join).
    established: BTreeSet<String>,
    /// The link's password (daemon transport), given or installed.
    password: Option<Password>,
    /// The sync public keys known before the run, by node.
    keys: BTreeMap<String, String>,
    /// A reconcile's nodes that left the environment, and what they have.
    departed: Vec<Departed>,
    departed_observed: BTreeMap<String, Observed>,
}

/// Gathers the facts: the installed settings (or the wizard's answers), one
/// probe of every node, the desired state, and for a reconcile the nodes that
/// left. Reads only.
async fn gather(global: &Global, request: &Request<'_>, fleets: &mut Fleets) -> Result<Gathered> {
    let Request {
        env,
        nodes,
        ask,
        purpose,
        ..
    } = *request;
    let install = InstallDir::under_webroot(&env.webroot);
    let installed = fleets.installed_settings(&install).await;
    if purpose != Purpose::Install && installed.is_none() {
        return Err(Error::NotInstalled {
            env: env.name.clone(),
        });
    }
    let asked_path = if ask && request.flags.path.is_none() {
        let fleets = [&fleets.acting, &fleets.onlookers];
        let installed_path = installed.as_ref().map(|s| &s.path);
        Some(survey::ask_path(&fleets, &env.webroot, installed_path).await?)
    } else {
        None
    };
    let settings = settings(&request.flags, asked_path, installed.as_ref(), ask)?;
    if let Some(warning) = settings
        .link
        .as_ref()
        .and_then(|link| crate::model::peer_link::open_warning(link, &env.name))
    {
        eprintln!("warning: {warning}");
    }
    let synced = settings.path.absolute(&env.webroot);
    // The mesh is the whole environment, whatever the run acts on.
    let probed = fleets.probe(&install, env, &synced).await;
    let members = mesh::members(&env.nodes, nodes, &probed, &env.name);
    let facts = node_facts(&env.nodes, &members).await;
    let established = mesh::established(&members, &env.name);
    let configs = desired::node_configs(env, &settings, &env.nodes, &facts);
    let daemon = settings
        .link
        .as_ref()
        .is_some_and(|link| link.transport == crate::model::peer_link::Transport::Daemon);
    let password = match (daemon, &request.password) {
        (true, Some(password)) => Some(password.clone()),
        (true, None) => fleets.installed_password(&install).await,
        (false, _) => None,
    };
    let keys = plan::known_keys(&probed, &desired::tag(&install));
    let (departed, departed_observed) = if purpose == Purpose::Reconcile {
        let leavers = departed_nodes(env, &probed);
        let mut leaving = Fleet::connect_lenient(global, &leavers).await;
        let seen = leaving.probe(&install, &env.webroot, None).await;
        let departed = departures(&leavers, &leaving, &seen, &install);
        fleets.departed = Some(leaving);
        (departed, seen)
    } else {
        (Vec::new(), BTreeMap::new())
    };
    Ok(Gathered {
        install,
        settings,
        probed,
        configs,
        established,
        password,
        keys,
        departed,
        departed_observed,
    })
}

/// The plan of the nodes the run acts on, from the gathered facts (pure): the
/// preflight of each (any failure stops the run before a change), its actions,
/// joiners waiting for their seeders, a repair's restarts, the departed.
fn make_plan(
    request: &Request<'_>,
    unreachable: Vec<NodeFailure>,
    gathered: &Gathered,
) -> Result<Plan> {
    let Gathered {
        probed,
        configs,
        keys,
        ..
    } = gathered;
    let mut failures = Vec::new();
    let mut node_plans = Vec::new();
    for node in request.nodes {
        let (Some(config), Some(seen)) = (configs.get(&node.name), probed.get(&node.name)) else {
            continue;
        };
        let (errors, mut warnings, prepare) = plan::preflight(config, seen);
        warnings.extend(outside_run_warning(config, request.nodes, probed, keys));
        failures.extend(errors.into_iter().map(|reason| NodeFailure {
            node: node.name.clone(),
            reason,
        }));
        let mut node_plan = plan::node_plan(config, seen, keys, prepare, warnings)?;
        plan::add_secret_actions(&mut node_plan, config, seen, gathered.password.as_ref());
        node_plans.push(node_plan);
    }
    if !failures.is_empty() {
        return Err(Error::Preflight { failures });
    }
    plan::sequence_joins(&mut node_plans, configs, &gathered.established);
    if request.purpose == Purpose::Repair {
        plan::restart_everywhere(&mut node_plans, configs);
    }
    Ok(Plan {
        env: request.env.name.clone(),
        settings: gathered.settings.clone(),
        nodes: node_plans,
        unreachable,
        departed: gathered.departed.clone(),
    })
}

/// Prints the plan (JSON alone when only showing it); true when it is to be
/// applied: there is something to do, and the user said yes when asked.
fn show(global: &Global, request: &Request<'_>, plan: &Plan) -> Result<bool> {
    let json = output::is_json(global);
    if request.intent == Intent::Show && json {
        output::print_json(&Report { plan, result: None })?;
        return Ok(false);
    }
    if !json {
        output::emit(&plan::view::render(plan, global.verbose))?;
    }
    if request.intent == Intent::Show || plan.is_empty() {
        return Ok(false);
    }
    if request.ask && !wizard::confirm("Apply this plan?")? {
        return Err(Error::Cancelled);
    }
    Ok(true)
}

/// What executing a plan did.
struct Done {
    outcome: apply::Outcome,
    removed: Vec<String>,
    /// Unreachable, failed and not removed nodes.
    failed: Vec<NodeFailure>,
    /// The per-node progress, grouped, for people.
    progress: String,
}

/// Applies the plan to the nodes acted on, in parallel with progress, and
/// removes filesync from the departed nodes that can be reached.
async fn execute(global: &Global, plan: &Plan, fleets: &Fleets, gathered: &Gathered) -> Done {
    let mut names: Vec<String> = plan.nodes.iter().map(|n| n.node.clone()).collect();
    names.extend(
        plan.departed
            .iter()
            .filter(|d| d.remove)
            .map(|d| d.node.clone()),
    );
    let progress = if output::is_json(global) {
        Progress::hidden()
    } else {
        Progress::new(&names)
    };
    let targets: BTreeMap<String, Target<'_, _>> = plan
        .nodes
        .iter()
        .map(|p| {
            let name = p.node.clone();
            let target = Target {
                node: &fleets.acting.nodes[&name],
                config: &gathered.configs[&name],
                observed: &gathered.probed[&name],
            };
            (name, target)
        })
        .collect();
    let outcome = apply::apply(plan, &targets, fleets.acting.parallel, &progress).await;
    let (removed, removal_failures) = match &fleets.departed {
        Some(leaving) => {
            let seen = &gathered.departed_observed;
            remove_departed(plan, leaving, seen, &gathered.install, &progress).await
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut failed = plan.unreachable.clone();
    failed.extend(outcome.failed.iter().cloned());
    failed.extend(removal_failures);
    Done {
        outcome,
        removed,
        failed,
        progress: progress.report(global.verbose),
    }
}

/// Prints what was done (text, or the plan with its result as JSON) and
/// returns the run's result: partial when a node failed.
fn report(global: &Global, purpose: Purpose, plan: &Plan, done: Done) -> Result<()> {
    let Done {
        outcome,
        removed,
        failed,
        progress,
    } = done;
    if !output::is_json(global) {
        let removed = if removed.is_empty() {
            String::new()
        } else {
            format!(", {} removed", removed.len())
        };
        output::emit(&format!(
            "{progress}Done: {} changed, {} unchanged{removed}, {} failed.\n",
            outcome.changed.len(),
            outcome.unchanged.len(),
            failed.len()
        ))?;
    } else if purpose != Purpose::Repair {
        // verify --repair prints its own JSON result: the comparison after it.
        output::print_json(&Report {
            plan,
            result: Some(ResultReport {
                changed: outcome.changed,
                unchanged: outcome.unchanged,
                removed,
                failed: failed.clone(),
            }),
        })?;
    }
    partial(&failed)
}

/// A warning when peers of a node the run acts on are outside the run
/// (`--nodes`) and do not have it as wanted: the mesh is complete only once a
/// run acts on them too.
fn outside_run_warning(
    config: &desired::NodeConfig,
    acting: &[InventoryNode],
    probed: &BTreeMap<String, Observed>,
    keys: &BTreeMap<String, String>,
) -> Option<String> {
    let behind = mesh::peers_behind(config, acting, probed, keys);
    (!behind.is_empty()).then(|| {
        format!(
            "{} (not in --nodes) do not push to {node} or do not admit its key yet: run \
             install without --nodes to complete the mesh",
            behind.join(", "),
            node = config.node
        )
    })
}

/// Nodes the installed states list as members of this environment's installation
/// that are no longer among its nodes. A node the source still lists but left
/// out (stopped, or an unusable answer) has not departed: nothing is removed
/// from it, and its peers drop it until it is back.
fn departed_nodes(env: &Environment, observed: &BTreeMap<String, Observed>) -> Vec<InventoryNode> {
    let current: BTreeSet<&str> = env
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .chain(env.left_out.iter().map(|left_out| left_out.name.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    observed
        .values()
        .filter_map(|o| o.state.as_ref())
        .filter(|state| state.env == env.name)
        .flat_map(|state| state.members.iter())
        .filter(|member| !current.contains(member.name.as_str()))
        .filter(|member| seen.insert(member.name.clone()))
        .filter_map(|member| {
            InventoryNode::from_record(&member.name, &member.ssh, &member.address).ok()
        })
        .collect()
}

fn departures(
    leavers: &[InventoryNode],
    fleet: &Fleet,
    seen: &BTreeMap<String, Observed>,
    install: &InstallDir,
) -> Vec<Departed> {
    leavers
        .iter()
        .map(|node| match seen.get(&node.name) {
            Some(observed) => Departed {
                node: node.name.clone(),
                remove: removal::has_traces(observed, install),
                reason: None,
            },
            None => Departed {
                node: node.name.clone(),
                remove: false,
                reason: fleet
                    .unreachable
                    .iter()
                    .find(|f| f.node == node.name)
                    .map(|f| f.reason.clone()),
            },
        })
        .collect()
}
/// Removes filesync from the departed nodes that can be reached; their files stay.
async fn remove_departed(
    plan: &Plan,
    leaving: &Fleet,
    seen: &BTreeMap<String, Observed>,
    install: &InstallDir,
    progress: &Progress,
) -> (Vec<String>, Vec<NodeFailure>) {
    let results: Vec<(String, anyhow::Result<bool>)> = stream::iter(
        plan.departed
            .iter()
            .filter(|d| d.remove)
            .filter_map(|d| leaving.nodes.get(&d.node).zip(seen.get(&d.node))),
    )
    .map(|(node, observed)| async move {
        let result = removal::remove(node, install, observed, progress).await;
        (node.name().to_string(), result)
    })
    .buffer_unordered(leaving.parallel)
    .collect()
    .await;
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for (name, result) in results {
        match result {
            Ok(_) => removed.push(name),
            Err(err) => failed.push(NodeFailure {
                node: name,
                reason: format!("removing filesync: {err:#}"),
            }),
        }
    }
    removed.sort();
    (removed, failed)
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
pub async fn installed_settings(fleet: &Fleet, install: &InstallDir) -> Option<Settings> {
    let script = crate::nodes::remote::read_state(install).ok()?;
    for node in fleet.nodes.values() {
        if let Ok(text) = node.run(&script, None).await {
            if let Ok(state) = NodeState::from_json(&text) {
                return Some(state.settings);
            }
        }
    }
    None
}

/// The link's password as installed on the first node that has one; it travels
/// only on the SSH connection.
pub async fn installed_password(fleet: &Fleet, install: &InstallDir) -> Option<Password> {
    let script = crate::nodes::remote::read_password(install).ok()?;
    for node in fleet.nodes.values() {
        if let Ok(text) = node.run(&script, None).await {
            if let Some(password) = Password::from_node_file(&text) {
                return Some(password);
            }
        }
    }
    None
}

/// Flags first, then the wizard's answer (`asked_path`: the path is asked
/// whenever the wizard runs without `--path`), then what is installed, then defaults.
fn settings(
    flags: &Flags,
    asked_path: Option<SyncPath>,
    installed: Option<&Settings>,
    ask: bool,
) -> Result<Settings> {
    let path = match (&flags.path, asked_path, installed) {
        (Some(path), _, _) => path.clone(),
        (None, Some(asked), _) => asked,
        (None, None, Some(installed)) => installed.path.clone(),
        (None, None, None) => {
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
    let link = match &flags.link {
        LinkChoice::Keep => installed.and_then(|s| s.link.clone()),
        LinkChoice::Off => None,
        LinkChoice::Set(link) => {
            let mut link = link.clone();
            // Like the other settings, the allowed addresses default to what
            // is installed, over the same transport (a daemon's list holds
            // the other side's addresses, which SSH admits node by node).
            if link.allow.is_empty() {
                link.allow = installed
                    .and_then(|s| s.link.as_ref())
                    .filter(|installed| installed.transport == link.transport)
                    .map(|installed| installed.allow.clone())
                    .unwrap_or_default();
            }
            Some(link)
        }
    };
    let trash_days = flags
        .trash_days
        .or(installed.map(|s| s.trash_days))
        .unwrap_or_default();
    Ok(Settings {
        path,
        delay,
        topology,
        trash_days,
        link,
    })
}

/// The facts of every member of the mesh. Addresses that are host names are
/// resolved here, on the operator's machine, for `from=`.
async fn node_facts(
    nodes: &[InventoryNode],
    members: &BTreeMap<String, Known<'_>>,
) -> BTreeMap<String, NodeFacts> {
    let mut facts = BTreeMap::new();
    for node in nodes {
        if let Some(known) = members.get(&node.name) {
            let facts_of_node = known.facts(source_addresses(node).await);
            facts.insert(node.name.clone(), facts_of_node);
        }
    }
    facts
}

/// The addresses pushes from `node` come from: its address, resolved.
async fn source_addresses(node: &InventoryNode) -> Vec<String> {
    let host = &node.address.host;
    match host.parse::<std::net::IpAddr>() {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::peer_link::parse_peer;

    fn link(allow: &[&str]) -> PeerLink {
        PeerLink::to_daemons(
            parse_peer("10.2.0.11").unwrap(),
            vec![],
            allow.iter().map(|a| a.to_string()).collect(),
        )
    }

    #[test]
    fn the_link_is_kept_replaced_or_dropped_and_allowed_addresses_default_to_the_installed() {
        let mut installed = crate::model::desired::tests::settings("/ROOT", Topology::Mesh);
        installed.link = Some(link(&["10.2.0.0/24"]));
        let with = |choice: LinkChoice| {
            let flags = Flags {
                link: choice,
                ..Flags::default()
            };
            settings(&flags, None, Some(&installed), false)
                .unwrap()
                .link
        };
        assert_eq!(with(LinkChoice::Keep), installed.link);
        assert_eq!(with(LinkChoice::Off), None);
        assert_eq!(
            with(LinkChoice::Set(link(&[]))).unwrap().allow,
            ["10.2.0.0/24"]
        );
        assert_eq!(
            with(LinkChoice::Set(link(&["192.0.2.7"]))).unwrap().allow,
            ["192.0.2.7"]
        );
        // A daemon's list (the other side's addresses) is not carried over
        // to SSH, which admits each key from its own node's addresses.
        let mut over_ssh = link(&[]);
        over_ssh.transport = crate::model::peer_link::Transport::Ssh;
        assert!(with(LinkChoice::Set(over_ssh)).unwrap().allow.is_empty());
    }
}
