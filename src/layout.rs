//! Where filesync puts things on a node: the install directory under the webroot
//! and every path inside it. Pure; compatible with the reference add-on's
//! documented layout (`<webroot>/lsyncd/etc/lsyncd.conf`, `var/log/lsyncd.log`).

use serde::Serialize;

/// The install directory's name under the webroot (the reference add-on's).
pub const INSTALL_DIR_NAME: &str = "lsyncd";

/// The files filesync renders, as paths relative to the install directory.
/// `excludes` is created once and then belongs to the user.
pub const LSYNCD_CONF: &str = "etc/lsyncd.conf";
pub const SSH_CONFIG: &str = "etc/ssh_config";
pub const KNOWN_HOSTS: &str = "etc/known_hosts";
pub const EXCLUDES: &str = "etc/excludes";
pub const NODE_CTL: &str = "bin/node-ctl";
pub const SYNC_KEY: &str = "etc/sync_key";
pub const STATE: &str = "state.json";
pub const LOG: &str = "var/log/lsyncd.log";
pub const STATUS: &str = "var/log/lsyncd.status";
pub const WATCHDOG_LOG: &str = "var/log/watchdog.log";
pub const PID: &str = "run/lsyncd.pid";
/// Two-environment mode: the rsync daemon that receives the other environment's
/// pushes, its secrets (receiving side) and the password (sending side), both 0600.
pub const RSYNCD_CONF: &str = "etc/rsyncd.conf";
pub const RSYNCD_SECRETS: &str = "etc/rsyncd.secrets";
pub const RSYNCD_PASS: &str = "etc/rsyncd.pass";
pub const RSYNCD_PID: &str = "run/rsyncd.pid";
pub const RSYNCD_LOG: &str = "var/log/rsyncd.log";
/// The secret files, by path in the install directory.
pub const SECRET_FILES: [&str; 2] = [RSYNCD_SECRETS, RSYNCD_PASS];
/// The name under which the push wrapper records pushes to the other environment
/// (`var/log/push-peer-env`).
pub const PEER_ENV_RECORD: &str = "peer-env";

/// Directories filesync creates inside the install directory.
pub const DIRS: [&str; 5] = ["etc", "bin", "run", "var/log", "var/tmp"];

/// Unix socket paths are limited to 108 bytes; leave room for ssh's `%C` (40 hex)
/// and the temporary suffix ssh appends while it creates the socket.
const MAX_CONTROL_DIR_LEN: usize = 40;

/// The install directory on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallDir {
    root: String,
}

impl InstallDir {
    pub fn under_webroot(webroot: &str) -> Self {
        InstallDir {
            root: format!("{}/{INSTALL_DIR_NAME}", webroot.trim_end_matches('/')),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// Absolute path of a file or directory inside the install directory.
    pub fn join(&self, relative: &str) -> String {
        format!("{}/{relative}", self.root)
    }

    /// Where lsyncd's ssh keeps its shared connections. Inside the install
    /// directory when the socket path fits, otherwise a private directory in /tmp
    /// named after the install directory.
    pub fn control_dir(&self) -> String {
        let inside = self.join("run");
        if inside.len() <= MAX_CONTROL_DIR_LEN {
            inside
        } else {
            format!(
                "/tmp/filesync-{}",
                &crate::digest::hex(self.root.as_bytes())[..12]
            )
        }
    }

    /// The install directory relative to the synced directory, when the synced
    /// directory contains it (syncing the whole webroot): it must be excluded.
    pub fn relative_to(&self, synced_dir: &str) -> Option<String> {
        let synced = synced_dir.trim_end_matches('/');
        self.root
            .strip_prefix(synced)
            .filter(|rest| rest.starts_with('/'))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_dir_sits_under_the_webroot() {
        let dir = InstallDir::under_webroot("/var/www/webroot/");
        assert_eq!(dir.root(), "/var/www/webroot/lsyncd");
        assert_eq!(
            dir.join(LSYNCD_CONF),
            "/var/www/webroot/lsyncd/etc/lsyncd.conf"
        );
    }

    #[test]
    fn control_dir_moves_to_tmp_when_the_socket_path_would_be_too_long() {
        assert_eq!(
            InstallDir::under_webroot("/var/www/webroot").control_dir(),
            "/var/www/webroot/lsyncd/run"
        );
        let long = InstallDir::under_webroot("/srv/customers/a-very-long-customer-name/webroot");
        assert!(long.control_dir().starts_with("/tmp/filesync-"));
        assert_eq!(long.control_dir().len(), "/tmp/filesync-".len() + 12);
    }

    #[test]
    fn install_dir_is_excluded_only_when_inside_the_synced_dir() {
        let dir = InstallDir::under_webroot("/var/www/webroot");
        assert_eq!(dir.relative_to("/var/www/webroot"), Some("/lsyncd".into()));
        assert_eq!(dir.relative_to("/var/www/webroot/ROOT"), None);
        assert_eq!(dir.relative_to("/var/www/web"), None);
    }
}
