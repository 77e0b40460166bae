//! Where filesync puts things on a node. Pure.
//!
//! Everything root runs or reads as configuration (scripts run by cron,
//! lsyncd's configuration, keys, the receiving daemon's configuration, state,
//! the receive ledger and the trash) lives in a root-owned directory outside
//! the webroot, `/var/lib/filesync/<instance>/`: on PHP hosts the webroot
//! belongs to the application's user, who must never be able to replace what
//! root executes. Under the webroot, `<webroot>/lsyncd/var/log/` only holds
//! links to the logs, where users of the reference add-on look for them
//! (`lsyncd.log`, `lsyncd.status`); root never writes through those links.

use serde::Serialize;

/// The reference add-on's directory under the webroot; filesync keeps only the
/// links to its logs there.
pub const INSTALL_DIR_NAME: &str = "lsyncd";

/// Where the root-owned installation directories of every webroot live.
pub const STATE_BASE: &str = "/var/lib/filesync";

/// The files filesync renders, as paths relative to the installation directory.
/// `excludes` is created once and then belongs to the user.
pub const LSYNCD_CONF: &str = "etc/lsyncd.conf";
pub const SSH_CONFIG: &str = "etc/ssh_config";
pub const KNOWN_HOSTS: &str = "etc/known_hosts";
pub const EXCLUDES: &str = "etc/excludes";
/// The rsync daemon configuration that peers' pushes run in (the forced command
/// of their keys): one write-only module for the synced directory.
pub const RECEIVE_CONF: &str = "etc/receive.conf";
/// Two environments over SSH: what the other environment's keys are forced
/// into (the same module, logged as coming from the other environment).
pub const LINK_RECEIVE_CONF: &str = "etc/link-receive.conf";
pub const NODE_CTL: &str = "bin/node-ctl";
pub const PUSH_SCRIPT: &str = "bin/rsync-push";
/// Runs before and after every transfer a peer pushes here (rsync's
/// `pre-xfer exec` / `post-xfer exec`): checks its options, moves what the
/// transfer replaced into the trash, removes links that leave the tree.
pub const RECEIVE_HOOK: &str = "bin/receive-hook";
pub const SYNC_KEY: &str = "etc/sync_key";
pub const STATE: &str = "state.json";
pub const LOG: &str = "var/log/lsyncd.log";
pub const STATUS: &str = "var/log/lsyncd.status";
pub const WATCHDOG_LOG: &str = "var/log/watchdog.log";
pub const LOG_DIR: &str = "var/log";
/// What this node's rsync daemons received or deleted at a peer's request,
/// one line per item: the ledger that tells received changes from local ones.
pub const LEDGER: &str = "var/ledger.log";
/// Copies of what sync replaced or deleted here, one directory per transfer.
pub const TRASH: &str = "trash";
/// filesync's own directory inside the synced directory, root's alone and
/// never synced: rsync writes incoming files in its `tmp/` (`--temp-dir`, so
/// that lsyncd sees one event per received file) and what they replace in its
/// `trash/` (`--backup-dir` must lie inside the module), which is moved into
/// the installation's trash after every transfer.
pub const TRASH_STAGING: &str = ".filesync";
/// rsync's `--temp-dir` for pushes, relative to the synced directory.
pub const INCOMING_TEMP: &str = ".filesync/tmp";
/// Where a push keeps what it replaces until the transfer ends.
pub const INCOMING_TRASH: &str = ".filesync/trash";
pub const PID: &str = "run/lsyncd.pid";
/// Two-environment mode: the rsync daemon that receives the other environment's
/// pushes, its secrets (receiving side) and the password (sending side), both 0600.
pub const RSYNCD_CONF: &str = "etc/rsyncd.conf";
pub const RSYNCD_SECRETS: &str = "etc/rsyncd.secrets";
pub const RSYNCD_PASS: &str = "etc/rsyncd.pass";
pub const RSYNCD_PID: &str = "run/rsyncd.pid";
pub const RSYNCD_LOG: &str = "var/log/rsyncd.log";
/// The secret files, by path in the installation directory.
pub const SECRET_FILES: [&str; 2] = [RSYNCD_SECRETS, RSYNCD_PASS];
/// The name under which the push wrapper records pushes to the other environment
/// (`var/log/push-peer-env`).
pub const PEER_ENV_RECORD: &str = "peer-env";
/// The logs linked from `<webroot>/lsyncd/var/log/`.
pub const LINKED_LOGS: [&str; 2] = [LOG, STATUS];

/// The installation's directories: configuration and keys, scripts, what
/// runs (pid files, lsyncd's scratch files, ssh's shared connections), logs.
pub const ETC_DIR: &str = "etc";
pub const BIN_DIR: &str = "bin";
pub const RUN_DIR: &str = "run";
pub const VAR_DIR: &str = "var";
/// The file that marks a directory as filesync's installation (also under
/// `<webroot>/lsyncd` of earlier versions).
pub const MARKER: &str = ".filesync";
/// The public half of `SYNC_KEY`.
pub const SYNC_KEY_PUB: &str = "etc/sync_key.pub";
/// Paths lsyncd's push action keeps between events (`run/lsyncd-paths`) and
/// the time before which changes are stamped as old (`run/cutoff`).
pub const LSYNCD_PATHS: &str = "run/lsyncd-paths";
pub const CUTOFF: &str = "run/cutoff";

/// The record of the last push to `peer` (its record name: an ssh alias, or
/// `peer-env`), relative to the installation directory: see `push_record`.
pub fn push_record(peer: &str) -> String {
    format!("{LOG_DIR}/{}{peer}", crate::nodes::push_record::FILE_PREFIX)
}

/// The mark that makes the next startup push to `peer` send everything.
pub fn full_startup_mark(peer: &str) -> String {
    format!("{RUN_DIR}/{FULL_STARTUP}{peer}")
}

/// `run/full-startup-PEER` (`full_startup_mark`), written by `node-ctl` and
/// this crate, read and removed by lsyncd's startup push.
pub const FULL_STARTUP: &str = "full-startup-";
/// `node-ctl`'s lock: one `node-ctl` at a time on a node.
pub const NODE_CTL_LOCK: &str = "run/node-ctl.lock";
/// Present while the operator's run holds lsyncd stopped (`node-ctl hold`).
pub const HELD: &str = "run/held-by-operator";
/// `run/xfer-PID`: a peer's transfer into this node in progress (the receive
/// hook's record, from `check` to `done`).
pub const TRANSFER: &str = "run/xfer-";

/// The login user's authorized_keys, relative to their home directory.
pub const AUTHORIZED_KEYS: &str = ".ssh/authorized_keys";
/// Where the raised inotify limit is kept for the next boot (absolute).
pub const SYSCTL_CONF: &str = "/etc/sysctl.d/60-filesync.conf";
/// The file in the operator lock's directory that names its holder (see
/// `lock::Owner`).
pub const LOCK_OWNER: &str = "owner";

/// Directories filesync creates inside the installation directory.
pub const DIRS: [&str; 6] = [ETC_DIR, BIN_DIR, RUN_DIR, LOG_DIR, "var/tmp", TRASH];

/// What earlier versions kept under `<webroot>/lsyncd/` and a move removes
/// from there (the user's `etc/excludes` is moved, not removed).
pub const LEGACY_OWNED: [&str; 6] = [ETC_DIR, BIN_DIR, RUN_DIR, VAR_DIR, STATE, MARKER];

/// The login user's authorized_keys file, where filesync admits its peers'
/// sync keys; `home` is the user's home directory.
pub fn authorized_keys(home: &str) -> String {
    format!("{}/{AUTHORIZED_KEYS}", home.trim_end_matches('/'))
}

/// Unix socket paths are limited to 108 bytes; leave room for ssh's `%C` (40 hex)
/// and the temporary suffix ssh appends while it creates the socket.
const MAX_CONTROL_DIR_LEN: usize = 48;
/// How much of the webroot's path the instance name keeps readable.
const MAX_READABLE_NAME: usize = 24;

/// The installation of one webroot on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallDir {
    /// The root-owned installation directory.
    root: String,
    /// `<webroot>/lsyncd`: the reference add-on's place, now only log links.
    in_webroot: String,
}

impl InstallDir {
    pub fn under_webroot(webroot: &str) -> Self {
        Self::with_base(STATE_BASE, webroot)
    }

    /// The installation of `webroot` with its directory under `base` instead
    /// of /var/lib/filesync (tests run the scripts in a temporary directory).
    pub fn with_base(base: &str, webroot: &str) -> Self {
        let webroot = webroot.trim_end_matches('/');
        InstallDir {
            root: format!("{}/{}", base.trim_end_matches('/'), instance_name(webroot)),
            in_webroot: format!("{webroot}/{INSTALL_DIR_NAME}"),
        }
    }

    /// The root-owned installation directory, `/var/lib/filesync/<instance>`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// `<webroot>/lsyncd`, where the log links are (and earlier versions lived).
    pub fn in_webroot(&self) -> &str {
        &self.in_webroot
    }

    /// Absolute path of a file or directory inside the installation directory.
    pub fn join(&self, relative: &str) -> String {
        format!("{}/{relative}", self.root)
    }

    /// The operator lock, a directory beside the installation directory
    /// (`<installation>.lock`), holding `LOCK_OWNER`.
    pub fn lock_dir(&self) -> String {
        format!("{}.lock", self.root)
    }

    /// Absolute path of a file or directory inside `<webroot>/lsyncd`.
    pub fn join_in_webroot(&self, relative: &str) -> String {
        format!("{}/{relative}", self.in_webroot)
    }

    /// The tag that marks this installation's crontab lines and authorized_keys
    /// entries (named after the webroot, as since the first version).
    pub fn tag(&self) -> String {
        format!("filesync:{}", self.in_webroot)
    }

    /// Where lsyncd's ssh keeps its shared connections: inside the installation
    /// directory when the socket path fits, otherwise a directory under /run
    /// (root's only) named after the installation.
    pub fn control_dir(&self) -> String {
        let inside = self.join(RUN_DIR);
        if inside.len() <= MAX_CONTROL_DIR_LEN {
            inside
        } else {
            format!(
                "/run/filesync-{}",
                &crate::digest::hex(self.root.as_bytes())[..12]
            )
        }
    }

    /// `<webroot>/lsyncd` relative to the synced directory, when the synced
    /// directory contains it (syncing the whole webroot): it must be excluded.
    pub fn relative_to(&self, synced_dir: &str) -> Option<String> {
        let synced = synced_dir.trim_end_matches('/');
        self.in_webroot
            .strip_prefix(synced)
            .filter(|rest| rest.starts_with('/'))
            .map(str::to_string)
    }
}

/// The instance directory's name: the webroot's path made readable (`/` and
/// anything unusual become `-`), cut short, and a digest that keeps two
/// webroots apart.
fn instance_name(webroot: &str) -> String {
    let readable: String = webroot
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let readable = readable.trim_start_matches(['.', '-']);
    let cut: String = readable.chars().take(MAX_READABLE_NAME).collect();
    let digest = &crate::digest::hex(webroot.as_bytes())[..8];
    if cut.is_empty() {
        format!("root-{digest}")
    } else {
        format!("{cut}-{digest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installation_is_root_owned_outside_the_webroot_and_named_after_it() {
        let dir = InstallDir::under_webroot("/var/www/webroot/");
        assert!(
            dir.root().starts_with("/var/lib/filesync/var-www-webroot-"),
            "{}",
            dir.root()
        );
        assert_eq!(
            dir.root().len(),
            "/var/lib/filesync/var-www-webroot-".len() + 8
        );
        assert_eq!(
            dir.join(LSYNCD_CONF),
            format!("{}/etc/lsyncd.conf", dir.root())
        );
        assert_eq!(dir.in_webroot(), "/var/www/webroot/lsyncd");
        assert_eq!(
            dir.join_in_webroot(LOG),
            "/var/www/webroot/lsyncd/var/log/lsyncd.log"
        );
        assert_eq!(dir.tag(), "filesync:/var/www/webroot/lsyncd");
    }

    #[test]
    fn two_webroots_never_share_an_installation() {
        let a = InstallDir::under_webroot("/srv/a-b");
        let b = InstallDir::under_webroot("/srv/a/b");
        assert_ne!(a.root(), b.root());
        let hostile = InstallDir::under_webroot("/srv/../x y/$(id)/a-very-long-customer-name");
        let name = hostile.root().trim_start_matches("/var/lib/filesync/");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name}"
        );
        assert!(!name.starts_with('.') && !name.contains('/'), "{name}");
        assert_eq!(
            InstallDir::under_webroot("/").root().len(),
            "/var/lib/filesync/root-".len() + 8
        );
    }

    #[test]
    fn control_dir_moves_to_run_when_the_socket_path_would_be_too_long() {
        let usual = InstallDir::under_webroot("/var/www/webroot");
        assert_eq!(usual.control_dir(), usual.join("run"));
        let long = InstallDir::under_webroot("/srv/customers/a-very-long-customer-name/webroot");
        assert!(long.control_dir().starts_with("/run/filesync-"));
        assert_eq!(long.control_dir().len(), "/run/filesync-".len() + 12);
    }

    #[test]
    fn the_webroot_dir_is_excluded_only_when_inside_the_synced_dir() {
        let dir = InstallDir::under_webroot("/var/www/webroot");
        assert_eq!(dir.relative_to("/var/www/webroot"), Some("/lsyncd".into()));
        assert_eq!(dir.relative_to("/var/www/webroot/ROOT"), None);
        assert_eq!(dir.relative_to("/var/www/web"), None);
    }
}
