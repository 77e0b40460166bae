//! The command line: clap definitions only. Every wizard question is also a flag;
//! commands live in `command/`.

use crate::model::peer_link::Transport;
use crate::model::settings::{Mode, Topology};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "filesync",
    version,
    about = "Keep uploaded files identical across the app-server nodes of a web cluster",
    long_about = "filesync installs live file synchronization (lsyncd + rsync over SSH) on the \
                  app-server nodes of an environment, shows its state and logs, re-applies it \
                  when nodes change, and removes it without touching your files.",
    after_help = crate::error::ExitCode::help()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Inventory file (TOML) with the environments and their nodes.
    #[arg(
        long,
        env = "FILESYNC_INVENTORY",
        default_value = "filesync.toml",
        global = true
    )]
    pub inventory: PathBuf,

    /// ssh config file, passed to ssh as `-F` (default: ssh's own).
    #[arg(long, env = "FILESYNC_SSH_CONFIG", global = true)]
    pub ssh_config: Option<PathBuf>,

    /// How results are printed on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human, global = true)]
    pub output: OutputFormat,

    /// Never prompt: take defaults, and fail on a missing setting (naming its flag).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Show plans and reports node by node, in full, instead of saying once
    /// what many nodes share (`n1-n30: ...`).
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,

    /// Platform API base URL (Jelastic / Virtuozzo), e.g. https://app.example.com/1.0
    /// (/1.0 is added to a URL without a path): environments and their nodes come
    /// from the platform instead of the inventory. The access token is read from
    /// FILESYNC_TOKEN.
    #[arg(long, env = "FILESYNC_PLATFORM_URL", global = true)]
    pub platform_url: Option<String>,

    /// Accept a plain http:// --platform-url. The access token then crosses the
    /// network unencrypted: only for a local test server or a private link.
    #[arg(
        long,
        env = "FILESYNC_ALLOW_INSECURE_PLATFORM",
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub allow_insecure_platform: bool,

    /// Platform node group of the nodes to sync (cp: application servers; a
    /// Docker-based stack may have its own group name).
    #[arg(long, default_value = "cp", global = true)]
    pub node_group: String,

    /// How filesync reaches platform nodes over SSH: straight to their internal
    /// address (intIP; from inside the platform or a VPN), or through the
    /// platform's SSH gate (user <nodeId>-<userId>, port 3022).
    #[arg(long, value_enum, default_value_t = PlatformSsh::Direct, global = true)]
    pub platform_ssh: PlatformSsh,

    /// SSH user for --platform-ssh direct.
    #[arg(long, default_value = "root", global = true)]
    pub platform_user: String,

    /// The platform's SSH gate, HOST[:PORT] (port 3022 by default), for --platform-ssh gate.
    #[arg(long, env = "FILESYNC_SSH_GATE", global = true)]
    pub ssh_gate: Option<String>,

    /// Your platform user id, the <userId> of the SSH gate's user <nodeId>-<userId>
    /// (--platform-ssh gate). Default: asked of the platform's account API for the
    /// user FILESYNC_TOKEN belongs to (who connects, not the environment's owner).
    #[arg(long, env = "FILESYNC_PLATFORM_UID", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub platform_uid: Option<u64>,

    /// Seconds to wait for the platform API.
    #[arg(long, default_value_t = 20, global = true)]
    pub platform_timeout: u64,

    /// Take over the lock of another filesync run on the nodes. Only when that
    /// run is known to be dead (one that died on this machine is taken over anyway).
    #[arg(long, global = true)]
    pub break_lock: bool,

    /// How many nodes to work on at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256), global = true)]
    pub parallel: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlatformSsh {
    Direct,
    Gate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install (or update) file sync on the nodes of an environment.
    Install(InstallArgs),
    /// Show what install would change, per node, and change nothing.
    Plan(SettingsArgs),
    /// Re-apply the installed settings to the environment's current nodes: new
    /// nodes get filesync, peers are updated, nodes that left are cleaned up.
    Reconcile(ReconcileArgs),
    /// Poll the topology source and reconcile whenever the environment's nodes
    /// change; runs until SIGINT or SIGTERM (e.g. as a systemd service).
    Watch(WatchArgs),
    /// List the environments, or the nodes of one, as the topology source gives them.
    Nodes(NodesArgs),
    /// Show per node: lsyncd, watchdog, configuration drift, pushes to each peer.
    Status(EnvArgs),
    /// Compare the synced tree across the nodes and report what differs (reads only).
    Verify(VerifyArgs),
    /// Show lsyncd's log of each node.
    Logs(LogsArgs),
    /// Remove file sync from the nodes of an environment (synced files stay).
    Uninstall(EnvArgs),
    /// Print this environment's public keys for the other environment's
    /// `install --peer-keys` (two environments over SSH, not in one inventory).
    ExportKeys(ExportKeysArgs),
    /// What sync replaced or deleted on each node, kept for --trash-days: list
    /// it, or put a kept copy back.
    Trash(TrashArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// The environment (a table [environments.NAME] of the inventory).
    #[arg(long)]
    pub env: Option<String>,

    /// Only these nodes (names, comma-separated); default: all nodes of the environment.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Option<Vec<String>>,

    /// Directory to sync, relative to the environment's webroot, e.g. /ROOT/wp-content.
    /// Default: what is installed.
    #[arg(long)]
    pub path: Option<String>,

    /// Seconds lsyncd collects changes before it copies them (1-3600). Default: what is
    /// installed, else 10.
    #[arg(long, allow_hyphen_values = true)]
    pub delay: Option<String>,

    /// One environment, or two environments kept in sync (--peer or --peer-env imply two).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,

    /// Mode two: a node of the other environment, HOST[:PORT], or several,
    /// separated by commas: where this environment pushes (their rsync daemon
    /// port, default 7755; this side's daemons listen on the same port). Each
    /// node starts at another of them and goes on to the next while one cannot
    /// be reached.
    #[arg(long, value_name = "HOST[:PORT],...")]
    pub peer: Option<String>,

    /// Mode two: the other environment, when it is in the inventory too: installs
    /// both sides in one run, each accepting only the other's nodes (over SSH
    /// by default: the keys are exchanged by filesync).
    #[arg(long, value_name = "NAME", conflicts_with = "peer")]
    pub peer_env: Option<String>,

    /// Mode two over SSH when the other environment is not in this inventory:
    /// the file `filesync export-keys` printed for it (`-`: standard input).
    /// Its nodes' addresses, host keys and sync keys; nothing secret.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["peer", "peer_env"])]
    pub peer_keys: Option<PathBuf>,

    /// Mode two: how changes travel to the other environment. ssh: encrypted,
    /// keys (the default with --peer-env and --peer-keys); daemon: the rsync
    /// daemon protocol, a password, not encrypted (the reference add-on's way,
    /// the default with --peer).
    #[arg(long, value_enum, value_name = "daemon|ssh")]
    pub peer_transport: Option<Transport>,

    /// Mode two: file holding the link's password (one line, mode 0600); or set
    /// FILESYNC_PASSWORD. Without either, the password installed on the nodes is
    /// kept, or a new one is generated and shown once.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Mode two: addresses or CIDR blocks that may push to this environment's
    /// rsync daemons (the other environment's nodes), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "CIDR,...")]
    pub allow: Option<Vec<String>>,

    /// mesh: every node pushes to every other (one hop); ring: each to the next
    /// (the reference add-on's shape). Default: what is installed, else mesh.
    #[arg(long, value_enum)]
    pub topology: Option<Topology>,

    /// Days each node keeps what sync replaced or deleted there (its trash;
    /// see `filesync trash`), 1-3650. Default: what is installed, else 7.
    #[arg(long, value_name = "DAYS")]
    pub trash_days: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EnvArgs {
    /// The environment (a table [environments.NAME] of the inventory).
    #[arg(long)]
    pub env: Option<String>,

    /// Only these nodes (names, comma-separated); default: all nodes of the environment.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportKeysArgs {
    /// The environment whose keys to print (installed, so that its nodes have
    /// their sync keys).
    #[arg(long)]
    pub env: Option<String>,

    /// Write them to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// The environment (a table [environments.NAME] of the inventory).
    #[arg(long)]
    pub env: Option<String>,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Trust the new host key of these nodes (names, comma-separated) after they
    /// were really reinstalled; without it a changed host key stops filesync.
    #[arg(long, value_delimiter = ',')]
    pub accept_new_host_key: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The environment to watch.
    #[arg(long)]
    pub env: String,

    /// Seconds between two looks at the topology source.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub interval: u64,
}

#[derive(Debug, Clone, Args)]
pub struct NodesArgs {
    /// The environment whose nodes to list; without it, list the environments.
    #[arg(long)]
    pub env: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: EnvArgs,

    /// Only this node.
    #[arg(long)]
    pub node: Option<String>,

    /// How many lines per node.
    #[arg(long, default_value_t = 50)]
    pub lines: usize,
}

#[derive(Debug, Clone, Args)]
pub struct TrashArgs {
    #[command(subcommand)]
    pub action: TrashAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TrashAction {
    /// List the copies each node keeps, newest first.
    List {
        #[command(flatten)]
        target: EnvArgs,
        /// Only copies of this path (relative to the synced directory).
        #[arg(long)]
        path: Option<String>,
    },
    /// Put a kept copy back on one node; it then spreads like any change made there.
    /// What is at that path now goes to the trash first.
    Restore {
        /// The environment (a table [environments.NAME] of the inventory).
        #[arg(long)]
        env: Option<String>,
        /// The node whose trash holds the copy.
        #[arg(long)]
        node: String,
        /// The version to restore (from `trash list`); default: the newest.
        #[arg(long)]
        version: Option<String>,
        /// The path, relative to the synced directory, e.g. uploads/2026/11/logo.png.
        path: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: EnvArgs,

    /// Compare file contents (SHA-256) too, not only type, mode, size and mtime.
    #[arg(long)]
    pub checksum: bool,

    /// On drift, bring the nodes to the union of their files (the newest copy
    /// wins, nothing is deleted) by restarting lsyncd everywhere, then compare again.
    #[arg(long)]
    pub repair: bool,
}
