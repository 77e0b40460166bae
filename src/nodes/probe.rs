//! What a node looks like now, as read by the probe script (`remote::probe`):
//! parsing its output is pure and unit-tested; running it is `node`'s job.
//! What a node says is input: a value that peers' files or commands are made
//! from (user, home, keys, state) fails the whole probe unless it passes its
//! check (`untrusted`), so nothing is rendered from it.

use crate::nodes::remote::{PackageManager, Privilege, REQUIRED_TOOLS};
use crate::nodes::state::{NodeState, StateError};
use crate::nodes::untrusted;
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "pid")]
pub enum Lsyncd {
    Running(u32),
    Stopped,
    /// Installed on a node without peers (an environment of one node): nothing
    /// to push, so no lsyncd; it starts once a peer is added.
    Idle,
    /// No control script: filesync is not installed there.
    Absent,
}

/// Facts about the synced directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncedDir {
    pub exists: bool,
    pub dirs: u64,
    /// Entries that are not directories (files, links).
    pub files: u64,
    /// Mount points strictly inside the synced directory, relative to it.
    pub mounts: Vec<String>,
}

/// One node as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub user: String,
    pub home: String,
    pub privilege: Privilege,
    pub missing_tools: Vec<String>,
    pub package_manager: Option<PackageManager>,
    /// The node's rsync, absolute.
    pub rsync: Option<String>,
    pub cron_running: bool,
    pub free_kb: Option<u64>,
    pub inotify_watches: Option<u64>,
    pub host_keys: Vec<String>,
    /// Entries of the install directory, `None` when it does not exist.
    pub install_dir: Option<Vec<String>>,
    /// The install directory carries filesync's marker.
    pub marker: bool,
    /// An installation of an earlier version lives in `<webroot>/lsyncd/`
    /// (its marker or state is there): it is moved out by install and reconcile.
    pub legacy: bool,
    /// The state of that earlier installation, when it has one.
    pub legacy_state: Option<NodeState>,
    pub sync_key: Option<String>,
    pub state: Option<NodeState>,
    pub state_error: Option<String>,
    pub lsyncd: Lsyncd,
    pub crontab: String,
    pub authorized_keys: String,
    pub excludes_exists: bool,
    /// Rendered files as they are now, by path in the install directory.
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
    /// SHA-256 of each secret file present (the probe never reads the secrets).
    #[serde(skip)]
    pub secret_digests: BTreeMap<String, String>,
    /// The pid of the rsync daemon of two-environment mode, when it runs.
    pub rsyncd: Option<u32>,
    pub synced_dir: Option<SyncedDir>,
}

impl Observed {
    /// filesync has (at least partly) installed itself on this node.
    pub fn is_installed(&self) -> bool {
        self.marker || self.state.is_some()
    }
}

/// Parses the probe's output; `synced_dir` is the absolute synced directory the
/// probe was asked about, if any.
pub fn parse(output: &str, synced_dir: Option<&str>) -> Result<Observed> {
    let facts: BTreeMap<&str, String> = fact_lines(output)?.into_iter().collect();
    let get = |key: &str| facts.get(key).cloned().unwrap_or_default();
    let number = |key: &str| get(key).trim().parse::<u64>().ok();
    let Some(user) = facts.get("user").cloned() else {
        bail!("the probe did not run to completion (no user reported)");
    };
    untrusted::posix_user(&user).map_err(|reason| anyhow!(reason))?;
    let home = get("home");
    untrusted::home_dir(&home).map_err(|reason| anyhow!(reason))?;
    let sync_key = facts
        .get("sync_key_pub")
        .map(|key| {
            crate::plan::authorized_keys::public_key(key).context("the sync key (etc/sync_key.pub)")
        })
        .transpose()?;
    let privilege = match get("privilege").as_str() {
        "root" => Privilege::Root,
        "sudo" => Privilege::Sudo,
        _ => Privilege::None,
    };
    let missing_tools = REQUIRED_TOOLS
        .iter()
        .filter(|tool| get(&format!("tool:{tool}")).trim().is_empty())
        .map(|tool| tool.to_string())
        .collect();
    let (state, state_error) = read_state(facts.get("state"))?;
    let (legacy_state, _) =
        read_state(facts.get("legacy_state")).context("the earlier installation's state")?;
    let lsyncd = match facts.get("lsyncd") {
        None => Lsyncd::Absent,
        Some(text) if text.trim() == "idle" => Lsyncd::Idle,
        Some(text) => match text.strip_prefix("running ") {
            Some(pid) => pid
                .trim()
                .parse()
                .map(Lsyncd::Running)
                .unwrap_or(Lsyncd::Stopped),
            None => Lsyncd::Stopped,
        },
    };
    let files = facts
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("file:")
                .map(|path| (path.to_string(), value.clone()))
        })
        .collect();
    let secret_digests = facts
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("secret:")
                .map(|path| (path.to_string(), value.trim().to_string()))
        })
        .collect();
    let rsyncd = facts
        .get("rsyncd")
        .and_then(|text| text.strip_prefix("running "))
        .and_then(|pid| pid.trim().parse().ok());
    let synced_dir = synced_dir.map(|dir| SyncedDir {
        exists: get("synced_dir") == "yes",
        dirs: number("sync_dirs").unwrap_or(0),
        files: number("sync_files").unwrap_or(0),
        mounts: mounts_under(&get("mountinfo"), dir),
    });
    Ok(Observed {
        user,
        home,
        privilege,
        missing_tools,
        package_manager: PackageManager::from_command(get("package_manager").trim()),
        rsync: facts
            .get("tool:rsync")
            .map(|path| path.trim().to_string())
            .filter(|path| is_safe_absolute_path(path)),
        cron_running: get("cron_running") == "yes",
        free_kb: number("free_kb"),
        inotify_watches: number("inotify_watches"),
        host_keys: get("host_keys")
            .lines()
            .filter_map(|line| crate::plan::authorized_keys::public_key(line).ok())
            .collect(),
        install_dir: facts
            .get("install_dir")
            .map(|entries| entries.lines().map(str::to_string).collect()),
        marker: facts.contains_key("marker"),
        legacy: facts.contains_key("legacy_marker") || facts.contains_key("legacy_state"),
        legacy_state,
        sync_key,
        state,
        state_error,
        lsyncd,
        crontab: get("crontab"),
        authorized_keys: get("authorized_keys"),
        excludes_exists: facts.contains_key("excludes"),
        files,
        secret_digests,
        rsyncd,
        synced_dir,
    })
}

/// The facts a read-only script printed with `emit` (`templates/remote/emit.sh.tera`): one
/// `key<TAB>base64(value)` line each, in order (a key may repeat).
pub fn fact_lines(output: &str) -> Result<Vec<(&str, String)>> {
    output
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (key, value) = line
                .split_once('\t')
                .with_context(|| format!("unexpected probe output line {line:?}"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .with_context(|| format!("probe value of {key} is not base64"))?;
            Ok((key, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

/// A state file the probe read: one refused (a value failed its check, perhaps
/// planted) fails the probe; an unreadable one is reported and treated as absent.
fn read_state(text: Option<&String>) -> Result<(Option<NodeState>, Option<String>)> {
    match text.map(|text| NodeState::from_json(text)) {
        None => Ok((None, None)),
        Some(Ok(state)) => Ok((Some(state), None)),
        Some(Err(err @ StateError::Refused(_))) => Err(err.into()),
        Some(Err(err @ StateError::Unreadable(_))) => Ok((None, Some(err.to_string()))),
    }
}

/// An absolute path of plain characters, fit for a forced command.
fn is_safe_absolute_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c))
}

/// Mount points from /proc/self/mountinfo strictly inside `dir`, relative to it.
pub fn mounts_under(mountinfo: &str, dir: &str) -> Vec<String> {
    let dir = dir.trim_end_matches('/');
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter_map(|mount| {
            mount
                .strip_prefix(dir)
                .filter(|rest| rest.starts_with('/') && rest.len() > 1)
                .map(str::to_string)
        })
        .collect();
    mounts.sort();
    mounts.dedup();
    mounts
}

/// The type of the filesystem mounted exactly at `dir` (from
/// /proc/self/mountinfo), when `dir` is a mount point.
pub fn mount_type_at(mountinfo: &str, dir: &str) -> Option<String> {
    let dir = dir.trim_end_matches('/');
    mountinfo
        .lines()
        .rev()
        .filter(|line| line.split(' ').nth(4).map(unescape_mount_path).as_deref() == Some(dir))
        .filter_map(|line| line.split_once(" - "))
        .filter_map(|(_, after)| after.split(' ').next())
        .map(str::to_string)
        .next()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape_mount_path(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match octal {
            Some(value) if bytes[i] == b'\\' => {
                out.push(value);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn line(key: &str, value: &str) -> String {
        format!("{key}\t{}\n", STANDARD.encode(value))
    }

    #[test]
    fn parses_a_fresh_node() {
        let output = [
            line("user", "root"),
            line("home", "/root"),
            line("privilege", "root"),
            line("tool:lsyncd", ""),
            line("tool:rsync", "/usr/bin/rsync"),
            line("tool:crontab", "/usr/bin/crontab"),
            line("tool:ssh", "/usr/bin/ssh"),
            line("tool:ssh-keygen", "/usr/bin/ssh-keygen"),
            line("package_manager", "apt-get"),
            line("cron_running", "yes"),
            line("free_kb", "123456"),
            line("inotify_watches", "8192\n"),
            line("host_keys", "ssh-ed25519 AAAA root@n1\nssh-rsa BBBB root@n1"),
            line("crontab", "0 3 * * * backup"),
            line("synced_dir", "yes"),
            line("sync_dirs", "  42"),
            line("sync_files", "1234"),
            line(
                "mountinfo",
                "22 1 0:21 / /var/www/webroot/ROOT/media\\040nfs rw - nfs x rw\n23 1 0:22 / /proc rw - proc proc rw\n",
            ),
        ]
        .concat();
        let observed = parse(&output, Some("/var/www/webroot/ROOT")).unwrap();
        assert_eq!(observed.user, "root");
        assert_eq!(observed.privilege, Privilege::Root);
        assert_eq!(observed.missing_tools, ["lsyncd"]);
        assert_eq!(observed.package_manager, Some(PackageManager::AptGet));
        assert_eq!(observed.rsync.as_deref(), Some("/usr/bin/rsync"));
        assert!(!observed.legacy);
        assert!(observed.cron_running);
        assert_eq!(observed.free_kb, Some(123456));
        assert_eq!(observed.inotify_watches, Some(8192));
        assert_eq!(observed.host_keys, ["ssh-ed25519 AAAA", "ssh-rsa BBBB"]);
        assert_eq!(observed.lsyncd, Lsyncd::Absent);
        assert!(!observed.is_installed());
        let synced_dir = observed.synced_dir.unwrap();
        assert!(synced_dir.exists);
        assert_eq!((synced_dir.dirs, synced_dir.files), (42, 1234));
        assert_eq!(synced_dir.mounts, ["/media nfs"]);
    }

    #[test]
    fn parses_an_installed_node() {
        let output = [
            line("user", "root"),
            line("home", "/root"),
            line("marker", "x"),
            line("lsyncd", "running 1234"),
            line("state", "{broken"),
            line("file:etc/lsyncd.conf", "settings {}"),
            line("sync_key_pub", "ssh-ed25519 AAAA filesync\n"),
            line("secret:etc/rsyncd.pass", "abc123\n"),
            line("rsyncd", "running 77\n"),
        ]
        .concat();
        let observed = parse(&output, None).unwrap();
        assert_eq!(observed.secret_digests["etc/rsyncd.pass"], "abc123");
        assert_eq!(observed.rsyncd, Some(77));
        assert_eq!(observed.lsyncd, Lsyncd::Running(1234));
        assert!(observed.is_installed());
        assert!(observed.state.is_none());
        assert!(observed.state_error.unwrap().contains("unreadable"));
        assert_eq!(observed.files["etc/lsyncd.conf"], "settings {}");
        assert_eq!(observed.sync_key.as_deref(), Some("ssh-ed25519 AAAA"));
        assert!(observed.synced_dir.is_none());
    }

    #[test]
    fn hostile_values_fail_the_probe_and_say_what_is_wrong() {
        let state = |pointer: &str, value: &str| {
            let mut state: serde_json::Value = serde_json::json!({
                "format": 1, "filesync_version": "0.1.0", "env": "prod", "node": "n1",
                "settings": {"path": "/ROOT", "delay": 10, "topology": "mesh"},
                "targets": ["n2"], "pushers": ["n2"], "files": {}
            });
            *state.pointer_mut(pointer).unwrap() = value.into();
            state.to_string()
        };
        let injection = "root\n    ProxyCommand sh -c 'id > /tmp/pwned'";
        let cases = [
            ("user", injection.to_string(), "not a POSIX user name"),
            ("user", "root ".into(), "not a POSIX user name"),
            ("user", "\"root\"".into(), "not a POSIX user name"),
            ("user", "../root".into(), "not a POSIX user name"),
            ("user", "root;id".into(), "not a POSIX user name"),
            ("user", "a".repeat(33), "not a POSIX user name"),
            ("user", "".into(), "not a POSIX user name"),
            ("home", "/root\nProxyCommand id".into(), "home directory"),
            ("home", "root".into(), "home directory"),
            ("home", "/home/../etc".into(), "home directory"),
            ("home", "".into(), "home directory"),
            ("sync_key_pub", "ssh-ed25519 AAAA\"; id".into(), "sync key"),
            (
                "sync_key_pub",
                "command=\"id\" ssh-ed25519 AAAA".into(),
                "sync key",
            ),
            ("sync_key_pub", "".into(), "sync key"),
            (
                "state",
                state("/targets/0", "n2\n    ProxyCommand id"),
                "state file refused",
            ),
            ("state", state("/settings/delay", "x"), "state file refused"),
            (
                "legacy_state",
                state("/node", "n1 ]] os.execute('id') --[["),
                "earlier installation",
            ),
        ];
        for (key, value, why) in cases {
            let mut facts = vec![line("user", "root"), line("home", "/root")];
            facts.retain(|fact| !fact.starts_with(&format!("{key}\t")));
            facts.push(line(key, &value));
            let err = format!("{:#}", parse(&facts.concat(), None).unwrap_err());
            assert!(err.contains(why), "{key} = {value:?}: {err}");
        }
    }

    #[test]
    fn only_host_keys_that_are_keys_are_kept() {
        let output = [
            line("user", "www-data"),
            line("home", "/var/www"),
            line(
                "host_keys",
                "ssh-ed25519 AAAA n1\nssh-rsa BB\"B n1\ncert-authority ssh-rsa CCCC\n",
            ),
        ]
        .concat();
        let observed = parse(&output, None).unwrap();
        assert_eq!(observed.user, "www-data");
        assert_eq!(observed.host_keys, ["ssh-ed25519 AAAA"]);
    }

    #[test]
    fn an_incomplete_probe_is_an_error() {
        assert!(parse("", None).is_err());
        assert!(parse("garbage", None).is_err());
    }

    #[test]
    fn mounts_are_only_those_strictly_inside_the_dir() {
        let info = "1 0 0:1 / /var/www/webroot/ROOT rw - x x rw\n\
                    2 0 0:1 / /var/www/webroot/ROOTS/x rw - x x rw\n\
                    3 0 0:1 / /var/www/webroot/ROOT/a\\134b rw - x x rw\n";
        assert_eq!(mounts_under(info, "/var/www/webroot/ROOT/"), ["/a\\b"]);
    }

    #[test]
    fn the_filesystem_mounted_at_a_dir_is_the_last_mount_there() {
        let info = "1 0 0:1 / /var/www/webroot/ROOT rw shared:1 - ext4 /dev/sda1 rw\n\
                    2 1 0:2 / /var/www/webroot/ROOT/up\\040loads rw - nfs4 srv:/x rw\n\
                    3 1 0:3 / /var/www/webroot/ROOT/up\\040loads rw - tmpfs tmpfs rw\n";
        assert_eq!(
            mount_type_at(info, "/var/www/webroot/ROOT/up loads/").as_deref(),
            Some("tmpfs")
        );
        assert_eq!(
            mount_type_at(info, "/var/www/webroot/ROOT").as_deref(),
            Some("ext4")
        );
        assert_eq!(mount_type_at(info, "/var/www/webroot"), None);
    }
}
