//! The plan: per node, what must change to get from what is there (`Observed`)
//! to what is wanted (`NodeConfig`). Pure, serializable and printable; `install`
//! executes exactly this plan and `plan` / `--dry-run` print it.
//!
//! Every action carries what executing it writes: whole files, the whole
//! crontab, the whole authorized_keys file, the secrets (never serialized or
//! shown). One thing cannot be known when planning: the key of a pusher that
//! has none yet, which it generates in this run's Prepare phase. Its
//! authorized_keys entry is carried rendered but for that key
//! (`AuthorizedEntry::AwaitingKey`), and `AuthorizedKeysFile::content` completes
//! it with the keys Prepare generated.
//!
//! Beside it: how a plan reads (`view`), and the pure edits of the two
//! line-oriented files filesync shares with their owner (`lines`): the crontab
//! (`crontab`) and the authorized_keys file (`authorized_keys`).

pub mod authorized_keys;
pub mod crontab;
pub mod lines;
pub mod view;

use crate::error::NodeFailure;
use crate::model::desired::NodeConfig;
use crate::model::password::{Password, Secret};
use crate::model::settings::Settings;
use crate::nodes::layout;
use crate::nodes::probe::{Lsyncd, Observed};
use crate::nodes::remote::{PackageManager, Privilege};
use crate::nodes::state::NodeState;
use crate::plan::authorized_keys::EntryTemplate;
use crate::render::{self, RenderedFile};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// Free space below this on the webroot's filesystem fails the preflight.
pub const MIN_FREE_KB: u64 = 16 * 1024;
/// inotify watches kept free beyond the synced directories, for growth.
const WATCH_HEADROOM: u64 = 8192;

/// One change on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    InstallPackages {
        manager: PackageManager,
        packages: Vec<String>,
    },
    RaiseInotifyWatches {
        from: u64,
        to: u64,
    },
    /// An installation of an earlier version lives under the webroot: stop it,
    /// keep the user's exclusions, remove the rest (synced files stay).
    MoveFromWebroot {
        from: String,
    },
    CreateInstallDir {
        path: String,
    },
    GenerateSyncKey,
    WriteFile {
        path: String,
        mode: u32,
        #[serde(skip)]
        content: String,
        /// Unified diff against the file on the node; `None` for a new file.
        diff: Option<String>,
    },
    CreateExcludesFile,
    /// A secret file of two-environment mode (mode 0600), written from the password.
    WriteSecret {
        path: String,
        #[serde(skip)]
        content: Secret,
    },
    /// A file of two-environment mode on a node where that mode is off.
    RemoveFile {
        path: String,
    },
    UpdateAuthorizedKeys {
        admit: Vec<String>,
        revoke: Vec<String>,
        #[serde(skip)]
        file: AuthorizedKeysFile,
    },
    UpdateCrontab {
        add: Vec<String>,
        remove: Vec<String>,
        /// The login user's whole crontab, their own lines as they were.
        #[serde(skip)]
        content: String,
    },
    StartLsyncd,
    /// Stops lsyncd once it has pushed what it had queued: every node of a
    /// run does this before any lsyncd starts again, so that no queued change
    /// or deletion is lost, and a peer that joins gets what the others have
    /// after they exchanged their last changes.
    DrainLsyncd,
    /// The next startup push to these peers sends everything this node has
    /// (to a node that joins, or for a repair) instead of only what changed
    /// here since lsyncd last had nothing queued.
    FullStartupPush {
        to: Vec<String>,
        /// The other environment too (two-environment mode).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        link: bool,
    },
    /// A node joining an installation starts pushing only once its seeder,
    /// the installed node `from`, has sent it everything it has (or a timeout
    /// passed).
    StartAfterInitialCopy {
        from: String,
    },
    RestartLsyncd,
    WriteState {
        #[serde(skip)]
        content: String,
    },
}

/// The authorized_keys file a node is to have: its own lines as they are, then
/// filesync's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedKeysFile {
    pub path: String,
    /// The lines that are not filesync's.
    pub kept: String,
    /// One per pusher, by name.
    pub entries: Vec<AuthorizedEntry>,
}

/// The entry that admits one pusher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizedEntry {
    /// The pusher's key was known when planning: the whole line.
    Ready(String),
    /// The pusher generates its key in this run's Prepare phase.
    AwaitingKey {
        pusher: String,
        template: EntryTemplate,
    },
}

impl AuthorizedKeysFile {
    /// The file once the Prepare phase is over; `generated` holds the sync
    /// public keys generated in it (checked), by node. An entry whose pusher
    /// got none (it failed) is left out: a later run admits it.
    pub fn content(&self, generated: &BTreeMap<String, String>) -> String {
        let entries: Vec<String> = self
            .entries
            .iter()
            .filter_map(|entry| match entry {
                AuthorizedEntry::Ready(line) => Some(line.clone()),
                AuthorizedEntry::AwaitingKey { pusher, template } => {
                    generated.get(pusher).map(|key| template.with_key(key))
                }
            })
            .collect();
        // (`kept` holds none of filesync's lines: the entries are appended)
        crate::plan::lines::replace(&self.kept, |_| false, &entries)
    }
}

/// When an action runs: every node finishes a phase before any node starts the
/// next, so that keys exist before they are admitted and every node admits its
/// peers before any lsyncd starts pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Prepare,
    Configure,
    Quiesce,
    Activate,
    Join,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Prepare,
        Phase::Configure,
        Phase::Quiesce,
        Phase::Activate,
        Phase::Join,
    ];

    /// Where the phase is in a run, for progress lines: `2/5 configure`.
    pub fn step(self) -> String {
        let name = match self {
            Phase::Prepare => "prepare",
            Phase::Configure => "configure",
            Phase::Quiesce => "drain",
            Phase::Activate => "activate",
            Phase::Join => "join",
        };
        format!("{}/{} {name}", self as usize + 1, Phase::ALL.len())
    }
}

impl Action {
    pub fn phase(&self) -> Phase {
        match self {
            Action::InstallPackages { .. }
            | Action::RaiseInotifyWatches { .. }
            | Action::MoveFromWebroot { .. }
            | Action::CreateInstallDir { .. }
            | Action::GenerateSyncKey => Phase::Prepare,
            Action::WriteFile { .. }
            | Action::WriteSecret { .. }
            | Action::RemoveFile { .. }
            | Action::CreateExcludesFile
            | Action::UpdateAuthorizedKeys { .. }
            | Action::UpdateCrontab { .. } => Phase::Configure,
            Action::DrainLsyncd => Phase::Quiesce,
            Action::FullStartupPush { .. } | Action::StartLsyncd | Action::RestartLsyncd => {
                Phase::Activate
            }
            Action::StartAfterInitialCopy { .. } | Action::WriteState { .. } => Phase::Join,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, &|names| names.join(", "))
    }
}

impl Action {
    /// What the action does, in a line; `names` says a list of nodes (all of
    /// them, or fewer words when many nodes are shown at once).
    pub fn describe(
        &self,
        f: &mut dyn fmt::Write,
        names: &dyn Fn(&[String]) -> String,
    ) -> fmt::Result {
        match self {
            Action::InstallPackages { manager, packages } => write!(
                f,
                "install packages with {}: {}",
                manager.command(),
                packages.join(" ")
            ),
            Action::RaiseInotifyWatches { from, to } => {
                write!(f, "raise fs.inotify.max_user_watches from {from} to {to}")
            }
            Action::MoveFromWebroot { from } => write!(
                f,
                "move the installation out of {from} (stop its lsyncd, keep etc/excludes)"
            ),
            Action::CreateInstallDir { path } => write!(f, "create {path}"),
            Action::GenerateSyncKey => {
                f.write_str("generate this node's sync key (it never leaves the node)")
            }
            Action::WriteFile {
                path, diff: None, ..
            } => write!(f, "write {path} (new)"),
            Action::WriteFile { path, .. } => write!(f, "update {path}"),
            Action::CreateExcludesFile => f.write_str("create etc/excludes (yours to edit)"),
            Action::WriteSecret { path, .. } => {
                write!(f, "write {path} (mode 0600; the password is not shown)")
            }
            Action::RemoveFile { path } => {
                write!(f, "remove {path} (not used by these settings)")
            }
            Action::UpdateAuthorizedKeys { admit, revoke, .. } => {
                let mut parts = Vec::new();
                if !admit.is_empty() {
                    parts.push(format!("admit pushes from {}", names(admit)));
                }
                if !revoke.is_empty() {
                    parts.push(format!("revoke {}", names(revoke)));
                }
                write!(f, "authorized_keys: {}", parts.join("; "))
            }
            Action::UpdateCrontab { add, remove, .. } => {
                write!(
                    f,
                    "crontab: add {} line(s), remove {}",
                    add.len(),
                    remove.len()
                )
            }
            Action::StartLsyncd => f.write_str("start lsyncd"),
            Action::DrainLsyncd => f.write_str("stop lsyncd once it pushed what it has queued"),
            Action::FullStartupPush { to, link } => {
                let peers = match (to.is_empty(), *link) {
                    (true, _) => "the other environment".to_string(),
                    (false, true) => format!("{} and the other environment", names(to)),
                    (false, false) => names(to),
                };
                write!(f, "startup push of everything this node has to {peers}")
            }
            Action::StartAfterInitialCopy { from } => {
                write!(f, "start lsyncd once {from} sent what it has")
            }
            Action::RestartLsyncd => {
                f.write_str("start lsyncd again (it rescans the synced directory)")
            }
            Action::WriteState { .. } => f.write_str("record the installation in state.json"),
        }
    }
}

impl Action {
    /// The lines shown under the action in a plan: a file's diff, the crontab
    /// lines added and removed.
    pub fn details(&self) -> Vec<String> {
        match self {
            Action::WriteFile {
                diff: Some(diff), ..
            } => diff.lines().map(str::to_string).collect(),
            Action::UpdateCrontab { add, remove, .. } => remove
                .iter()
                .map(|line| format!("- {line}"))
                .chain(add.iter().map(|line| format!("+ {line}")))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Everything that changes on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePlan {
    pub node: String,
    pub actions: Vec<Action>,
    pub warnings: Vec<String>,
}

/// A node that left the environment (it is in the installed states' member list
/// but no longer in the topology source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Departed {
    pub node: String,
    /// Reachable with something of filesync's on it: it will be removed.
    pub remove: bool,
    /// Why it could not be reached, if it could not.
    pub reason: Option<String>,
}

/// The whole plan for an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub env: String,
    pub settings: Settings,
    pub nodes: Vec<NodePlan>,
    /// Nodes of the run that could not be reached: nothing is changed on them;
    /// their peers keep them as installed (`mesh`).
    pub unreachable: Vec<NodeFailure>,
    /// Nodes that left the environment (reconcile only).
    pub departed: Vec<Departed>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.nodes.iter().all(|node| node.actions.is_empty())
            && self.departed.iter().all(|node| !node.remove)
    }
}

/// Checks a node before anything changes anywhere. Returns the problems that
/// must stop the run, the warnings, and the preparation actions it needs.
pub fn preflight(
    config: &NodeConfig,
    observed: &Observed,
) -> (Vec<String>, Vec<String>, Vec<Action>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut actions = Vec::new();
    let can_be_root = observed.privilege != Privilege::None;
    if !can_be_root && observed.install_dir.is_none() {
        errors.push(format!(
            "filesync keeps its files in {root}, out of the webroot, and the SSH user {user:?} \
             can neither create it nor use passwordless sudo: as root run \
             `install -d -o {user} -m 755 {root}`, or connect as root",
            root = config.install.root(),
            user = observed.user,
        ));
    }

    if !observed.missing_tools.is_empty() {
        match (observed.package_manager, can_be_root) {
            (Some(manager), true) => {
                let mut packages: Vec<String> = observed
                    .missing_tools
                    .iter()
                    .map(|tool| manager.package_for(tool).to_string())
                    .collect();
                packages.dedup();
                actions.push(Action::InstallPackages { manager, packages });
            }
            (None, _) => errors.push(format!(
                "missing {} and no supported package manager (apt-get, dnf, yum, microdnf, \
                 apk, zypper) to install them: install them by hand",
                observed.missing_tools.join(", ")
            )),
            (Some(_), false) => errors.push(format!(
                "missing {}; the SSH user {:?} is neither root nor allowed passwordless sudo, so \
                 filesync cannot install them: install them as root, or connect as root",
                observed.missing_tools.join(", "),
                observed.user
            )),
        }
    }
    if let Some(state) = &observed.state {
        if state.env != config.env {
            errors.push(format!(
                "{} already holds filesync's installation for environment {:?}; uninstall it \
                 there first (filesync uninstall --env {})",
                config.install.root(),
                state.env,
                state.env
            ));
        }
    } else if let Some(entries) = &observed.install_dir {
        if !observed.marker && !entries.is_empty() {
            errors.push(format!(
                "{} exists and was not created by filesync; move it away first",
                config.install.root()
            ));
        }
    }
    match &observed.synced_dir {
        Some(dir) if dir.exists => {
            let needed = dir.dirs + WATCH_HEADROOM;
            match observed.inotify_watches {
                Some(limit) if limit < needed && can_be_root => {
                    actions.push(Action::RaiseInotifyWatches {
                        from: limit,
                        to: needed.next_power_of_two(),
                    });
                }
                Some(limit) if limit < needed => warnings.push(format!(
                    "the synced directory has {} directories but fs.inotify.max_user_watches is \
                     {limit}: lsyncd will miss changes; as root run `sysctl -w \
                     fs.inotify.max_user_watches={}`",
                    dir.dirs,
                    needed.next_power_of_two()
                )),
                _ => {}
            }
            for mount in &dir.mounts {
                warnings.push(format!(
                    "mount point {mount} inside the synced directory is excluded from sync"
                ));
            }
        }
        _ => errors.push(format!(
            "the synced directory {} does not exist; create it there, or check --path \
             (it is relative to the webroot)",
            config.synced_dir
        )),
    }
    if let Some(free) = observed.free_kb {
        if free < MIN_FREE_KB {
            errors.push(format!(
                "only {free} KiB free on the webroot's filesystem; filesync needs {MIN_FREE_KB} KiB"
            ));
        }
    }
    if !observed.cron_running && !observed.missing_tools.iter().any(|t| t == "crontab") {
        warnings.push(
            "no cron daemon is running: the watchdog will not restart lsyncd after a crash or reboot"
                .to_string(),
        );
    }
    (errors, warnings, actions)
}

/// The authorized_keys entries this node should have for its pushers whose keys
/// are known (its peers' in `keys`; over SSH, the other environment's nodes'
/// in the link), by pusher name.
pub fn authorized_entries(
    config: &NodeConfig,
    keys: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let peers = config
        .pushers
        .iter()
        .filter_map(|pusher| keys.get(&pusher.name).map(|key| (&pusher.name, key)));
    let others = config
        .link
        .iter()
        .flat_map(|link| &link.pushers)
        .map(|pusher| (&pusher.name, &pusher.key));
    peers
        .chain(others)
        .map(|(name, key)| {
            Ok((
                name.clone(),
                render::authorized_key_entry(config, name, key)?,
            ))
        })
        .collect()
}

/// The sync public keys to admit, by node: each probed node's own; for a node
/// that was not probed (out of the operator's reach, or out of the run), the
/// key its probed peers already admit it with, so that it keeps its entries on
/// them. A probed node without a key is missing here: it gets one in this
/// run's Prepare phase.
pub fn known_keys(probed: &BTreeMap<String, Observed>, tag: &str) -> BTreeMap<String, String> {
    let mut keys: BTreeMap<String, String> = probed
        .iter()
        .filter_map(|(name, seen)| seen.sync_key.clone().map(|key| (name.clone(), key)))
        .collect();
    let admitted = probed
        .values()
        .flat_map(|seen| authorized_keys::entries(&seen.authorized_keys, tag))
        .filter(|(pusher, _)| !probed.contains_key(*pusher))
        .filter_map(|(pusher, entry)| {
            let key = authorized_keys::key_of(entry)?;
            Some((pusher, crate::plan::authorized_keys::public_key(&key).ok()?))
        });
    for (pusher, key) in admitted {
        keys.entry(pusher.to_string()).or_insert(key);
    }
    keys
}

/// The plan of one node that passed the preflight. `keys` holds the sync public
/// keys of the nodes that already have one.
pub fn node_plan(
    config: &NodeConfig,
    observed: &Observed,
    keys: &BTreeMap<String, String>,
    prepare: Vec<Action>,
    warnings: Vec<String>,
) -> Result<NodePlan> {
    let mut actions = prepare;
    if observed.legacy {
        actions.push(Action::MoveFromWebroot {
            from: config.install.in_webroot().to_string(),
        });
    }
    // Also after an uninstall that kept the user's things there (marker, no
    // state): the directories it removed are made again.
    if !observed.marker || observed.state.is_none() {
        actions.push(Action::CreateInstallDir {
            path: config.install.root().to_string(),
        });
    }
    if observed.sync_key.is_none() {
        actions.push(Action::GenerateSyncKey);
    }
    let files = render::files(config)?;
    let mut lsyncd_conf_changed = false;
    for file in &files {
        if let Some(action) = file_action(file, observed.files.get(file.path)) {
            lsyncd_conf_changed |= [
                crate::nodes::layout::LSYNCD_CONF,
                crate::nodes::layout::RSYNCD_CONF,
            ]
            .contains(&file.path);
            actions.push(action);
        }
    }
    for (_, path, _, _) in render::TEMPLATE_FILES {
        if !render::wanted(config, path) && observed.files.contains_key(path) {
            lsyncd_conf_changed = true;
            actions.push(Action::RemoveFile {
                path: path.to_string(),
            });
        }
    }
    if !observed.excludes_exists {
        actions.push(Action::CreateExcludesFile);
    }

    let tag = config.tag();
    let wanted = authorized_entries(config, keys)?;
    let present: BTreeMap<&str, &str> = authorized_keys::entries(&observed.authorized_keys, &tag)
        .into_iter()
        .collect();
    let others = config.link.iter().flat_map(|link| &link.pushers);
    let admit: Vec<String> = config
        .pushers
        .iter()
        .map(|p| &p.name)
        .chain(others.map(|p| &p.name))
        .filter(|name| {
            // A peer without a key yet gets one in this run's Prepare phase.
            (config.pushers.iter().any(|p| &p.name == *name) && !keys.contains_key(*name))
                || wanted.get(*name).map(String::as_str) != present.get(name.as_str()).copied()
        })
        .cloned()
        .collect();
    let revoke: Vec<String> = present
        .keys()
        .filter(|name| {
            !config.pushers.iter().any(|p| p.name == **name) && !wanted.contains_key(**name)
        })
        .map(|name| name.to_string())
        .collect();
    if !admit.is_empty() || !revoke.is_empty() {
        let file = authorized_keys_file(config, observed, keys, wanted)?;
        actions.push(Action::UpdateAuthorizedKeys {
            admit,
            revoke,
            file,
        });
    }

    let lines = render::crontab_lines(config)?;
    let current = crontab::tagged(&observed.crontab, &tag);
    if current != lines {
        actions.push(Action::UpdateCrontab {
            add: lines
                .iter()
                .filter(|l| !current.contains(&l.as_str()))
                .cloned()
                .collect(),
            remove: current
                .iter()
                .filter(|l| !lines.iter().any(|w| w == *l))
                .map(|l| l.to_string())
                .collect(),
            content: crontab::with_lines(&observed.crontab, &tag, &lines),
        });
    }

    match (&observed.lsyncd, lsyncd_conf_changed) {
        (Lsyncd::Running(_), true) => actions.extend([Action::DrainLsyncd, Action::RestartLsyncd]),
        (Lsyncd::Running(_), false) => {}
        (Lsyncd::Idle, false) if config.targets.is_empty() && config.link.is_none() => {}
        _ => actions.push(Action::StartLsyncd),
    }

    let state = NodeState::new(config, &files).to_json();
    let state_changed = observed.state.as_ref().map(NodeState::to_json) != Some(state.clone());
    if state_changed || !actions.is_empty() {
        actions.push(Action::WriteState { content: state });
    }
    Ok(NodePlan {
        node: config.node.clone(),
        actions,
        warnings,
    })
}

/// The authorized_keys file the node seen as `observed` is to have: `ready`
/// holds the entries of the pushers whose keys are known (`authorized_entries`);
/// the other pushers get theirs in this run's Prepare phase.
fn authorized_keys_file(
    config: &NodeConfig,
    observed: &Observed,
    keys: &BTreeMap<String, String>,
    ready: BTreeMap<String, String>,
) -> Result<AuthorizedKeysFile> {
    let mut entries: BTreeMap<String, AuthorizedEntry> = ready
        .into_iter()
        .map(|(pusher, line)| (pusher, AuthorizedEntry::Ready(line)))
        .collect();
    for pusher in config
        .pushers
        .iter()
        .filter(|p| !keys.contains_key(&p.name))
    {
        let template = render::authorized_key_template(config, &pusher.name)?;
        entries.insert(
            pusher.name.clone(),
            AuthorizedEntry::AwaitingKey {
                pusher: pusher.name.clone(),
                template,
            },
        );
    }
    Ok(AuthorizedKeysFile {
        path: layout::authorized_keys(&observed.home),
        kept: authorized_keys::without(&observed.authorized_keys, &config.tag()),
        entries: entries.into_values().collect(),
    })
}

/// Adds to a node's plan what its secret files need: in two-environment mode,
/// the secrets file (receiving side) and password file (sending side) written
/// from `password` where their digest differs; with the mode off, their removal.
/// Without a password (none given, none found on the nodes) they are left as they are.
pub fn add_secret_actions(
    node_plan: &mut NodePlan,
    config: &NodeConfig,
    observed: &Observed,
    password: Option<&Password>,
) {
    let mut secret_actions = Vec::new();
    // Over SSH the link has no password: the files go like in mode one.
    let daemon = config.link.as_ref().filter(|link| link.daemon);
    for path in crate::nodes::layout::SECRET_FILES {
        let present = observed.secret_digests.get(path);
        match (daemon, password) {
            (Some(_), Some(password)) => {
                let content = secret_content(path, password);
                if present != Some(&crate::digest::hex(content.as_bytes())) {
                    secret_actions.push(Action::WriteSecret {
                        path: path.to_string(),
                        content,
                    });
                }
            }
            (Some(_), None) => {}
            (None, _) if present.is_some() => secret_actions.push(Action::RemoveFile {
                path: path.to_string(),
            }),
            (None, _) => {}
        }
    }
    if secret_actions.is_empty() {
        return;
    }
    let at = node_plan
        .actions
        .iter()
        .position(|a| a.phase() > Phase::Configure)
        .unwrap_or(node_plan.actions.len());
    node_plan.actions.splice(at..at, secret_actions);
}

/// The content of a secret file: `user:password` for the daemon's secrets file,
/// the bare password for the pushing side's password file.
fn secret_content(path: &str, password: &Password) -> Secret {
    Secret::new(if path == crate::nodes::layout::RSYNCD_SECRETS {
        password.secrets_file()
    } else {
        password.password_file()
    })
}

/// Makes every node that joins an existing installation wait, before it starts
/// pushing, for one installed node that pushes to it (its seeder) to send it
/// everything it has. One copy is enough: the installed nodes have pushed
/// their queues to each other before they restart (`DrainLsyncd`), and the
/// others' startup pushes send the joiner what changed on them lately. (Every
/// installed node sending a whole copy at once multiplied the transfer by
/// their number: 7 seeders took 6 minutes for 20,000 files on the testbed.)
/// Joiners get different seeders, in turn. Files only the newcomer has are
/// kept either way (nothing is deleted at startup) and spread once it starts.
pub fn sequence_joins(
    plans: &mut [NodePlan],
    configs: &BTreeMap<String, NodeConfig>,
    established: &std::collections::BTreeSet<String>,
) {
    let activating: std::collections::BTreeSet<String> = plans
        .iter()
        .filter(|p| {
            p.actions
                .iter()
                .any(|a| matches!(a, Action::StartLsyncd | Action::RestartLsyncd))
        })
        .map(|p| p.node.clone())
        .collect();
    // each joiner's seeder: its installed pushers that start again, in turn
    let mut seeders: BTreeMap<String, String> = BTreeMap::new();
    for node_plan in plans.iter() {
        let Some(config) = configs.get(&node_plan.node) else {
            continue;
        };
        if established.contains(&node_plan.node) {
            continue;
        }
        let candidates: Vec<&String> = config
            .pushers
            .iter()
            .map(|p| &p.name)
            .filter(|name| established.contains(*name) && activating.contains(*name))
            .collect();
        if !candidates.is_empty() {
            let seeder = candidates[seeders.len() % candidates.len()];
            seeders.insert(node_plan.node.clone(), seeder.clone());
        }
    }
    for node_plan in plans.iter_mut() {
        if let Some(seeder) = seeders.get(&node_plan.node) {
            for action in node_plan.actions.iter_mut() {
                if *action == Action::StartLsyncd {
                    *action = Action::StartAfterInitialCopy {
                        from: seeder.clone(),
                    };
                }
            }
            continue;
        }
        // Its startup push sends the joiners it seeds everything, not only
        // what changed here lately.
        let joiners: Vec<String> = seeders
            .iter()
            .filter(|(_, seeder)| **seeder == node_plan.node)
            .map(|(joiner, _)| joiner.clone())
            .collect();
        if !joiners.is_empty() {
            let at = activation(node_plan).unwrap_or(node_plan.actions.len());
            node_plan.actions.insert(
                at,
                Action::FullStartupPush {
                    to: joiners,
                    link: false,
                },
            );
        }
    }
}

/// Where a node's plan starts or restarts lsyncd, if it does.
fn activation(node_plan: &NodePlan) -> Option<usize> {
    node_plan.actions.iter().position(|a| {
        matches!(
            a,
            Action::StartLsyncd | Action::RestartLsyncd | Action::StartAfterInitialCopy { .. }
        )
    })
}

/// For a repair: every node restarts lsyncd (those the plan does not restart
/// anyway get a restart), with a startup push of everything it has to every
/// peer, which copies every file newer than the peer's copy (`--update`) and
/// deletes nothing: the nodes end with the union, newest copy winning (a local
/// change with an old modification time was stamped when it spread, so it is
/// the newest).
pub fn restart_everywhere(plans: &mut [NodePlan], configs: &BTreeMap<String, NodeConfig>) {
    for node_plan in plans.iter_mut() {
        let Some(config) = configs.get(&node_plan.node) else {
            continue;
        };
        node_plan
            .actions
            .retain(|a| !matches!(a, Action::FullStartupPush { .. }));
        let at = activation(node_plan).unwrap_or_else(|| {
            node_plan
                .actions
                .extend([Action::DrainLsyncd, Action::RestartLsyncd]);
            node_plan.actions.len() - 1
        });
        let to: Vec<String> = config.targets.iter().map(|t| t.name.clone()).collect();
        let link = config.link.is_some();
        if !to.is_empty() || link {
            node_plan
                .actions
                .insert(at, Action::FullStartupPush { to, link });
        }
    }
}

fn file_action(file: &RenderedFile, current: Option<&String>) -> Option<Action> {
    let diff = match current {
        Some(current) if *current == file.content => return None,
        Some(current) => Some(unified_diff(current, &file.content, file.path)),
        None => None,
    };
    Some(Action::WriteFile {
        path: file.path.to_string(),
        mode: file.mode,
        content: file.content.clone(),
        diff,
    })
}

fn unified_diff(old: &str, new: &str, path: &str) -> String {
    let mut out = String::new();
    let diff = similar::TextDiff::from_lines(old, new);
    let _ = write!(
        out,
        "{}",
        diff.unified_diff().context_radius(2).header(
            &format!("{path} (on the node)"),
            &format!("{path} (wanted)")
        )
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::desired::node_configs;
    use crate::model::desired::tests::{env, facts, settings};
    use crate::model::settings::Topology;
    use crate::nodes::probe::SyncedDir;

    pub(crate) fn configs(n: usize, topology: Topology) -> BTreeMap<String, NodeConfig> {
        let env = env(n);
        node_configs(&env, &settings("/ROOT", topology), &env.nodes, &facts(&env))
    }

    pub(crate) fn fresh() -> Observed {
        Observed {
            user: "root".into(),
            home: "/root".into(),
            privilege: Privilege::Root,
            missing_tools: vec![],
            package_manager: Some(PackageManager::AptGet),
            rsync: Some("/usr/bin/rsync".into()),
            cron_running: true,
            free_kb: Some(1 << 30),
            inotify_watches: Some(65536),
            host_keys: vec!["ssh-ed25519 HOST".into()],
            install_dir: None,
            marker: false,
            legacy: false,
            legacy_state: None,
            sync_key: None,
            state: None,
            state_error: None,
            lsyncd: Lsyncd::Absent,
            crontab: "0 3 * * * backup\n".into(),
            authorized_keys: "ssh-ed25519 ADMIN me@laptop\n".into(),
            excludes_exists: false,
            files: BTreeMap::new(),
            secret_digests: BTreeMap::new(),
            rsyncd: None,
            synced_dir: Some(SyncedDir {
                exists: true,
                dirs: 10,
                files: 0,
                mounts: vec![],
            }),
        }
    }

    /// What a node looks like after `plan` was applied to it.
    pub(crate) fn installed(config: &NodeConfig, keys: &BTreeMap<String, String>) -> Observed {
        let files = render::files(config).unwrap();
        let mut node = fresh();
        node.marker = true;
        node.install_dir = Some(vec!["etc".into()]);
        node.sync_key = Some(keys[&config.node].clone());
        node.excludes_exists = true;
        node.lsyncd = Lsyncd::Running(42);
        node.files = files
            .iter()
            .map(|f| (f.path.to_string(), f.content.clone()))
            .collect();
        node.state = Some(NodeState::new(config, &files));
        let entries: Vec<String> = authorized_entries(config, keys)
            .unwrap()
            .into_values()
            .collect();
        node.authorized_keys =
            authorized_keys::with_entries(&node.authorized_keys, &config.tag(), &entries);
        node.crontab = crontab::with_lines(
            &node.crontab,
            &config.tag(),
            &render::crontab_lines(config).unwrap(),
        );
        node
    }

    pub(crate) fn keys(n: usize) -> BTreeMap<String, String> {
        (1..=n)
            .map(|i| (format!("n{i}"), format!("ssh-ed25519 KEY{i}")))
            .collect()
    }

    #[test]
    fn what_an_uninstall_left_is_taken_back_and_its_directories_made_again() {
        let configs = configs(3, Topology::Mesh);
        let mut left = fresh();
        left.marker = true;
        left.install_dir = Some(vec![".filesync".into(), "trash".into()]);
        let plan = node_plan(&configs["n1"], &left, &BTreeMap::new(), vec![], vec![]).unwrap();
        assert!(
            plan.actions
                .iter()
                .any(|a| matches!(a, Action::CreateInstallDir { .. })),
            "{:?}",
            plan.actions
        );
        let (errors, _, _) = preflight(&configs["n1"], &left);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_fresh_node_gets_everything_in_phase_order() {
        let configs = configs(3, Topology::Mesh);
        let plan = node_plan(&configs["n1"], &fresh(), &BTreeMap::new(), vec![], vec![]).unwrap();
        let summary: Vec<String> = plan.actions.iter().map(|a| a.to_string()).collect();
        insta::assert_snapshot!("fresh_node_plan", summary.join("\n"));
        let phases: Vec<Phase> = plan.actions.iter().map(Action::phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted);
    }

    #[test]
    fn an_installed_node_has_no_changes() {
        let configs = configs(3, Topology::Mesh);
        let keys = keys(3);
        let node = installed(&configs["n2"], &keys);
        let plan = node_plan(&configs["n2"], &node, &keys, vec![], vec![]).unwrap();
        assert_eq!(plan.actions, vec![]);
    }

    #[test]
    fn a_new_peer_changes_config_admits_it_and_restarts_lsyncd() {
        let before = configs(2, Topology::Mesh);
        let keys = keys(3);
        let node = installed(&before["n1"], &keys);
        let after = configs(3, Topology::Mesh);
        let plan = node_plan(&after["n1"], &node, &keys, vec![], vec![]).unwrap();
        let summary: Vec<String> = plan.actions.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            summary,
            [
                "update etc/lsyncd.conf",
                "update etc/ssh_config",
                "update etc/known_hosts",
                "update bin/node-ctl",
                "authorized_keys: admit pushes from n3",
                "stop lsyncd once it pushed what it has queued",
                "start lsyncd again (it rescans the synced directory)",
                "record the installation in state.json",
            ]
        );
        let Action::WriteFile {
            diff: Some(diff), ..
        } = &plan.actions[0]
        else {
            panic!("expected a diff");
        };
        insta::assert_snapshot!("new_peer_lsyncd_conf_diff", diff);
    }

    #[test]
    fn the_printed_plan_shows_diffs_crontab_lines_warnings_and_skipped_nodes() {
        let configs = configs(2, Topology::Mesh);
        let keys = keys(2);
        let mut n1 = installed(&configs["n1"], &keys);
        n1.files
            .insert("etc/lsyncd.conf".into(), "-- edited by hand\n".into());
        n1.crontab = "0 3 * * * backup\n".into();
        let plan = Plan {
            env: "prod".into(),
            settings: configs["n1"].settings.clone(),
            nodes: vec![
                node_plan(&configs["n1"], &n1, &keys, vec![], vec!["a warning".into()]).unwrap(),
                node_plan(
                    &configs["n2"],
                    &installed(&configs["n2"], &keys),
                    &keys,
                    vec![],
                    vec![],
                )
                .unwrap(),
            ],
            unreachable: vec![NodeFailure {
                node: "n3".into(),
                reason: "unreachable: connection timed out".into(),
            }],
            departed: vec![
                Departed {
                    node: "n4".into(),
                    remove: true,
                    reason: None,
                },
                Departed {
                    node: "n5".into(),
                    remove: false,
                    reason: Some("unreachable: no route to host".into()),
                },
            ],
        };
        assert!(!plan.is_empty());
        insta::assert_snapshot!("printed_plan", plan.to_string());
    }

    /// The plans, sequenced, of an environment of `total` nodes where the
    /// first `installed` ones are installed and the others join.
    fn joined(installed_nodes: usize, total: usize) -> Vec<NodePlan> {
        let keys = keys(total);
        let before = configs(installed_nodes, Topology::Mesh);
        let after = configs(total, Topology::Mesh);
        let mut plans = Vec::new();
        let mut established = std::collections::BTreeSet::new();
        for i in 1..=total {
            let node = format!("n{i}");
            let seen = if i <= installed_nodes {
                established.insert(node.clone());
                installed(&before[&node], &keys)
            } else {
                fresh()
            };
            plans.push(node_plan(&after[&node], &seen, &keys, vec![], vec![]).unwrap());
        }
        sequence_joins(&mut plans, &after, &established);
        plans
    }

    #[test]
    fn a_joining_node_starts_after_the_installed_nodes_sent_their_files() {
        let plans = joined(2, 3);
        assert!(plans[0].actions.contains(&Action::RestartLsyncd));
        // one seeder sends everything; the other restarts as usual
        assert!(plans[2]
            .actions
            .contains(&Action::StartAfterInitialCopy { from: "n1".into() }));
        let full = |plan: &NodePlan| {
            plan.actions
                .iter()
                .find(|a| matches!(a, Action::FullStartupPush { .. }))
                .cloned()
        };
        assert_eq!(
            full(&plans[0]),
            Some(Action::FullStartupPush {
                to: vec!["n3".into()],
                link: false
            })
        );
        assert_eq!(full(&plans[1]), None);
        assert!(!plans[2].actions.contains(&Action::StartLsyncd));
        let phases: Vec<Phase> = plans[2].actions.iter().map(Action::phase).collect();
        assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");

        // A fresh installation has nobody to wait for.
        let keys = keys(3);
        let after = configs(3, Topology::Mesh);
        let mut fresh_plans =
            vec![node_plan(&after["n1"], &fresh(), &keys, vec![], vec![]).unwrap()];
        sequence_joins(&mut fresh_plans, &after, &Default::default());
        assert!(fresh_plans[0].actions.contains(&Action::StartLsyncd));
    }

    #[test]
    fn joiners_get_their_whole_copy_from_different_seeders_in_turn() {
        let plans = joined(3, 5);
        let seeded: Vec<Vec<String>> = plans[..3]
            .iter()
            .map(|plan| {
                plan.actions
                    .iter()
                    .find_map(|a| match a {
                        Action::FullStartupPush { to, .. } => Some(to.clone()),
                        _ => None,
                    })
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            seeded,
            [vec!["n4".to_string()], vec!["n5".to_string()], vec![]]
        );
        let waits = |plan: &NodePlan| {
            plan.actions.iter().find_map(|a| match a {
                Action::StartAfterInitialCopy { from } => Some(from.clone()),
                _ => None,
            })
        };
        assert_eq!(waits(&plans[3]), Some("n1".to_string()));
        assert_eq!(waits(&plans[4]), Some("n2".to_string()));
    }

    #[test]
    fn secrets_are_written_when_their_digest_differs_and_removed_in_mode_one() {
        let config = crate::render::tests::linked("/ROOT", &[]);
        let keys = keys(2);
        let password = Password::parse("hunter2", "t").unwrap();
        let mut plan = node_plan(&config, &fresh(), &keys, vec![], vec![]).unwrap();
        add_secret_actions(&mut plan, &config, &fresh(), Some(&password));
        let summary: Vec<String> = plan.actions.iter().map(|a| a.to_string()).collect();
        assert!(summary.contains(&"write etc/rsyncd.conf (new)".to_string()));
        assert!(summary.contains(
            &"write etc/rsyncd.secrets (mode 0600; the password is not shown)".to_string()
        ));
        let phases: Vec<Phase> = plan.actions.iter().map(Action::phase).collect();
        assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");
        // Neither the printed plan nor its JSON holds the password.
        let json = serde_json::to_string(&plan).unwrap();
        assert!(!json.contains("hunter2") && !format!("{plan:?}").contains("hunter2"));

        // The same secrets on the node: nothing to write.
        let mut node = installed(&config, &keys);
        for path in crate::nodes::layout::SECRET_FILES {
            let digest = crate::digest::hex(secret_content(path, &password).as_bytes());
            node.secret_digests.insert(path.to_string(), digest);
        }
        let mut plan = node_plan(&config, &node, &keys, vec![], vec![]).unwrap();
        add_secret_actions(&mut plan, &config, &node, Some(&password));
        assert_eq!(plan.actions, vec![]);

        // Another password: both files are rewritten, nothing else changes.
        let other = Password::parse("other", "t").unwrap();
        add_secret_actions(&mut plan, &config, &node, Some(&other));
        assert_eq!(plan.actions.len(), 2);

        // Back to mode one: the daemon's files go and lsyncd restarts.
        let mut one = config.clone();
        one.link = None;
        let mut plan = node_plan(&one, &node, &keys, vec![], vec![]).unwrap();
        add_secret_actions(&mut plan, &one, &node, None);
        for path in ["etc/rsyncd.conf", "etc/rsyncd.secrets", "etc/rsyncd.pass"] {
            assert!(
                plan.actions
                    .contains(&Action::RemoveFile { path: path.into() }),
                "{path}: {:?}",
                plan.actions
            );
        }
        assert!(plan.actions.contains(&Action::RestartLsyncd));
    }

    #[test]
    fn a_removed_peer_is_revoked() {
        let before = configs(3, Topology::Mesh);
        let keys = keys(3);
        let node = installed(&before["n1"], &keys);
        let after = configs(2, Topology::Mesh);
        let plan = node_plan(&after["n1"], &node, &keys, vec![], vec![]).unwrap();
        let (admit, revoke, file) = authorized_keys_update(&plan).unwrap();
        assert_eq!((admit, revoke), (&vec![], &vec!["n3".to_string()]));
        // The plan's JSON says who, not the file.
        let json: Vec<serde_json::Value> = plan
            .actions
            .iter()
            .map(|action| serde_json::to_value(action).unwrap())
            .filter(|json| json["action"].as_str().unwrap().starts_with("update_"))
            .collect();
        let update_keys = serde_json::json!({
            "action": "update_authorized_keys", "admit": [], "revoke": ["n3"]
        });
        assert_eq!(json.last(), Some(&update_keys), "{json:?}");
        let content = file.content(&BTreeMap::new());
        assert!(
            !content.contains(":n3\n") && content.contains(":n2\n"),
            "{content}"
        );
        assert!(
            content.starts_with("ssh-ed25519 ADMIN me@laptop\n"),
            "{content}"
        );
    }

    /// The node plan's authorized_keys change: who is admitted and revoked, and the file.
    fn authorized_keys_update(
        plan: &NodePlan,
    ) -> Option<(&Vec<String>, &Vec<String>, &AuthorizedKeysFile)> {
        plan.actions.iter().find_map(|action| match action {
            Action::UpdateAuthorizedKeys {
                admit,
                revoke,
                file,
            } => Some((admit, revoke, file)),
            _ => None,
        })
    }

    #[test]
    fn over_ssh_the_other_sides_keys_are_admitted_once_known_and_revoked_when_gone() {
        let config = crate::render::tests::linked_over_ssh();
        let keys = keys(2);
        let node = installed(&config, &keys);
        assert!(node.authorized_keys.contains(":staging/n1\n"));
        assert!(!node.authorized_keys.contains(":staging/n2"), "no key yet");
        let plan = node_plan(&config, &node, &keys, vec![], vec![]).unwrap();
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);

        let mut later = config.clone();
        let link = later.link.as_mut().unwrap();
        link.pushers.push(crate::model::desired::LinkPusher {
            name: "staging/n2".into(),
            key: "ssh-ed25519 SYNCn2".into(),
            from: vec!["10.2.0.12".into()],
        });
        let plan = node_plan(&later, &node, &keys, vec![], vec![]).unwrap();
        let (admit, revoke, file) = authorized_keys_update(&plan).unwrap();
        assert_eq!((admit, revoke), (&vec!["staging/n2".to_string()], &vec![]));
        let content = file.content(&BTreeMap::new());
        assert!(content.contains(" ssh-ed25519 SYNCn2 "), "{content}");

        let mut gone = config.clone();
        gone.link.as_mut().unwrap().pushers.clear();
        let plan = node_plan(&gone, &node, &keys, vec![], vec![]).unwrap();
        let (admit, revoke, file) = authorized_keys_update(&plan).unwrap();
        assert_eq!((admit, revoke), (&vec![], &vec!["staging/n1".to_string()]));
        assert!(!file.content(&BTreeMap::new()).contains(":staging/"));
    }

    #[test]
    fn a_pusher_that_was_not_probed_keeps_its_entries_and_is_admitted_by_a_newcomer() {
        let before = configs(3, Topology::Mesh);
        let after = configs(4, Topology::Mesh);
        let all = keys(4);
        // n3 could not be probed: only n1 and n2 (installed) and n4 (new) were.
        let mut probed: BTreeMap<String, Observed> = ["n1", "n2"]
            .iter()
            .map(|n| (n.to_string(), installed(&before[*n], &all)))
            .collect();
        probed.insert("n4".into(), fresh());
        let known = known_keys(&probed, &before["n1"].tag());
        assert_eq!(
            known.get("n3").map(String::as_str),
            Some("ssh-ed25519 KEY3")
        );
        assert!(!known.contains_key("n4"), "n4 gets its key in Prepare");

        let n1 = node_plan(&before["n1"], &probed["n1"], &known, vec![], vec![]).unwrap();
        assert_eq!(n1.actions, vec![], "n3 must keep its place on n1");

        let n1 = node_plan(&after["n1"], &probed["n1"], &known, vec![], vec![]).unwrap();
        let (admit, revoke, file) = authorized_keys_update(&n1).expect("n1 admits n4");
        assert_eq!((admit, revoke), (&vec!["n4".to_string()], &vec![]));
        // n4's entry awaits the key n4 generates in Prepare; n2's and n3's are complete.
        let awaiting: Vec<&str> = file
            .entries
            .iter()
            .filter_map(|entry| match entry {
                AuthorizedEntry::AwaitingKey { pusher, .. } => Some(pusher.as_str()),
                AuthorizedEntry::Ready(_) => None,
            })
            .collect();
        assert_eq!((awaiting, file.entries.len()), (vec!["n4"], 3));
        let generated = BTreeMap::from([("n4".to_string(), "ssh-ed25519 NEW4".to_string())]);
        let content = file.content(&generated);
        assert!(content.contains(" ssh-ed25519 KEY3 "), "{content}");
        assert!(content.contains(" ssh-ed25519 NEW4 "), "{content}");
        // the same entry as one rendered with the key known
        let mut all_known = known.clone();
        all_known.insert("n4".into(), "ssh-ed25519 NEW4".into());
        let entries = authorized_entries(&after["n1"], &all_known).unwrap();
        assert!(
            content.ends_with(&format!("{}\n", entries["n4"])),
            "{content}"
        );
        // a pusher whose Prepare failed is admitted by a later run
        assert!(!file.content(&BTreeMap::new()).contains(":n4"));

        let n4 = node_plan(&after["n4"], &probed["n4"], &known, vec![], vec![]).unwrap();
        let (admit, revoke, file) = authorized_keys_update(&n4).expect("n4 admits its peers");
        assert_eq!(admit, &["n1", "n2", "n3"]);
        assert!(revoke.is_empty());
        assert!(file
            .content(&BTreeMap::new())
            .contains(" ssh-ed25519 KEY3 "));
    }

    #[test]
    fn a_stopped_lsyncd_is_started_without_other_changes() {
        let configs = configs(2, Topology::Mesh);
        let keys = keys(2);
        let mut node = installed(&configs["n1"], &keys);
        node.lsyncd = Lsyncd::Stopped;
        let plan = node_plan(&configs["n1"], &node, &keys, vec![], vec![]).unwrap();
        assert_eq!(plan.actions[0], Action::StartLsyncd);
        assert_eq!(plan.actions.len(), 2);
    }

    #[test]
    fn preflight_refuses_missing_dir_foreign_install_dir_and_no_root_for_packages() {
        let configs = configs(2, Topology::Mesh);
        let mut node = fresh();
        node.synced_dir = Some(SyncedDir {
            exists: false,
            dirs: 0,
            files: 0,
            mounts: vec![],
        });
        node.install_dir = Some(vec!["my-own-file".into()]);
        node.missing_tools = vec!["lsyncd".into()];
        node.privilege = Privilege::None;
        node.user = "deploy".into();
        let (errors, _, actions) = preflight(&configs["n1"], &node);
        assert!(actions.is_empty());
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("missing lsyncd") && errors[0].contains("\"deploy\""));
        assert!(errors[1].contains("was not created by filesync"));
        assert!(errors[2].contains("/var/www/webroot/ROOT does not exist"));
    }

    #[test]
    fn preflight_installs_packages_and_raises_watches_when_root() {
        let configs = configs(2, Topology::Mesh);
        let mut node = fresh();
        node.missing_tools = vec!["lsyncd".into(), "crontab".into()];
        node.inotify_watches = Some(8192);
        node.synced_dir.as_mut().unwrap().dirs = 100_000;
        node.synced_dir.as_mut().unwrap().mounts = vec!["/nfs".into()];
        let (errors, warnings, actions) = preflight(&configs["n1"], &node);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            actions,
            [
                Action::InstallPackages {
                    manager: PackageManager::AptGet,
                    packages: vec!["lsyncd".into(), "cron".into()],
                },
                Action::RaiseInotifyWatches {
                    from: 8192,
                    to: 131072
                },
            ]
        );
        assert!(warnings[0].contains("/nfs"));
    }

    #[test]
    fn preflight_warns_without_root_about_the_watch_limit() {
        let configs = configs(2, Topology::Mesh);
        let mut node = fresh();
        node.privilege = Privilege::None;
        node.user = "deploy".into();
        node.inotify_watches = Some(100);
        // Without root, the installation directory must have been made for it.
        let (errors, _, _) = preflight(&configs["n1"], &node);
        assert!(
            errors.len() == 1
                && errors[0].contains("install -d -o deploy -m 755 /var/lib/filesync/"),
            "{errors:?}"
        );
        node.install_dir = Some(vec![]);
        let (errors, warnings, actions) = preflight(&configs["n1"], &node);
        assert!(errors.is_empty() && actions.is_empty(), "{errors:?}");
        assert!(
            warnings[0].contains("fs.inotify.max_user_watches=16384"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_repair_restarts_every_node_once() {
        let mut plans = vec![
            NodePlan {
                node: "n1".into(),
                actions: vec![],
                warnings: vec![],
            },
            NodePlan {
                node: "n2".into(),
                actions: vec![Action::StartLsyncd],
                warnings: vec![],
            },
        ];
        restart_everywhere(&mut plans, &configs(2, Topology::Mesh));
        let everything_to = |peer: &str| Action::FullStartupPush {
            to: vec![peer.to_string()],
            link: false,
        };
        assert_eq!(
            plans[0].actions,
            [
                Action::DrainLsyncd,
                everything_to("n2"),
                Action::RestartLsyncd
            ]
        );
        assert_eq!(plans[1].actions, [everything_to("n1"), Action::StartLsyncd]);
    }
}
