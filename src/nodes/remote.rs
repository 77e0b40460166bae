//! The exact shell scripts filesync runs on nodes, built by pure functions that
//! shell-quote every value: one-liners here, the longer ones rendered from
//! `templates/remote/*.sh.tera` (their values through the `sh` filters).
//! Content (files, crontabs) always travels on stdin, never on a command line.

use crate::nodes::layout::{self, InstallDir};
use crate::render::escape::shell_word;
use anyhow::{anyhow, Result};
use serde_json::json;
use std::sync::OnceLock;
use tera::Tera;

/// A prefix that gains root for the few steps that need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    /// Logged in as root.
    Root,
    /// Passwordless sudo works.
    Sudo,
    /// Neither: packages and kernel limits cannot be changed.
    None,
}

impl Privilege {
    fn prefix(self) -> &'static str {
        match self {
            Privilege::Sudo => "sudo -n ",
            Privilege::Root | Privilege::None => "",
        }
    }
}

/// The package managers filesync knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    AptGet,
    Dnf,
    Yum,
    Microdnf,
    Apk,
    Zypper,
}

impl PackageManager {
    pub const ALL: [(&'static str, PackageManager); 6] = [
        ("apt-get", PackageManager::AptGet),
        ("dnf", PackageManager::Dnf),
        ("yum", PackageManager::Yum),
        ("microdnf", PackageManager::Microdnf),
        ("apk", PackageManager::Apk),
        ("zypper", PackageManager::Zypper),
    ];

    pub fn from_command(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(command, _)| *command == name)
            .map(|(_, manager)| *manager)
    }

    pub fn command(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, manager)| *manager == self)
            .map(|(command, _)| *command)
            .unwrap_or("apt-get")
    }

    /// The package that provides `tool` with this manager.
    pub fn package_for(self, tool: &str) -> &'static str {
        let redhat = matches!(self, Self::Dnf | Self::Yum | Self::Microdnf);
        match tool {
            "lsyncd" => "lsyncd",
            "rsync" => "rsync",
            "crontab" if redhat => "cronie",
            "crontab" if self == Self::Apk => "busybox",
            "crontab" => "cron",
            _ if redhat || self == Self::Zypper => "openssh-clients",
            _ => "openssh-client",
        }
    }
}

/// The tools a node needs, as commands looked up on its PATH.
pub const REQUIRED_TOOLS: [&str; 5] = ["lsyncd", "rsync", "crontab", "ssh", "ssh-keygen"];

fn words(values: &[&str]) -> Result<String> {
    Ok(values
        .iter()
        .map(|value| shell_word(value))
        .collect::<Result<Vec<_>, _>>()?
        .join(" "))
}

/// The scripts longer than a line, as templates (`templates/remote/`), by
/// name; `emit.sh` and `receive.sh` are parts that others include.
const TEMPLATES: [(&str, &str); 17] = [
    (
        "emit.sh",
        include_str!("../../templates/remote/emit.sh.tera"),
    ),
    (
        "receive.sh",
        include_str!("../../templates/remote/receive.sh.tera"),
    ),
    (
        "survey-webroot.sh",
        include_str!("../../templates/remote/survey-webroot.sh.tera"),
    ),
    (
        "inspect-folder.sh",
        include_str!("../../templates/remote/inspect-folder.sh.tera"),
    ),
    (
        "probe.sh",
        include_str!("../../templates/remote/probe.sh.tera"),
    ),
    (
        "write-file.sh",
        include_str!("../../templates/remote/write-file.sh.tera"),
    ),
    (
        "set-crontab.sh",
        include_str!("../../templates/remote/set-crontab.sh.tera"),
    ),
    (
        "prepare-install-dir.sh",
        include_str!("../../templates/remote/prepare-install-dir.sh.tera"),
    ),
    (
        "in-webroot-cleanup.sh",
        include_str!("../../templates/remote/in-webroot-cleanup.sh.tera"),
    ),
    (
        "remove-install-dir.sh",
        include_str!("../../templates/remote/remove-install-dir.sh.tera"),
    ),
    (
        "install-packages.sh",
        include_str!("../../templates/remote/install-packages.sh.tera"),
    ),
    (
        "sync-report.sh",
        include_str!("../../templates/remote/sync-report.sh.tera"),
    ),
    (
        "take-lock.sh",
        include_str!("../../templates/remote/take-lock.sh.tera"),
    ),
    (
        "release-lock.sh",
        include_str!("../../templates/remote/release-lock.sh.tera"),
    ),
    (
        "list-trash.sh",
        include_str!("../../templates/remote/list-trash.sh.tera"),
    ),
    (
        "restore-from-trash.sh",
        include_str!("../../templates/remote/restore-from-trash.sh.tera"),
    ),
    (
        "list-tree.sh",
        include_str!("../../templates/remote/list-tree.sh.tera"),
    ),
];

/// Renders the script `name` with `values` (a JSON object).
fn script(name: &str, values: serde_json::Value) -> Result<String> {
    render(name, &tera::Context::from_value(values)?)
}

fn render(name: &str, context: &tera::Context) -> Result<String> {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| crate::render::engine(&TEMPLATES))
        .render(name, context)
        .map_err(|err| anyhow!("rendering {name}: {err:?}"))
}

/// The most directories under the webroot the survey looks into.
pub const SURVEY_MAX_BASES: usize = 300;

/// Looks, changing nothing, for the `markers` of known applications
/// (`application::markers`; a trailing `/`: a directory) in the webroot, in
/// each directory below it and in each of theirs (an application at the
/// webroot itself, at `ROOT/`, at `html/`, at `site/web/`...). Output:
/// `webroot yes|no`, then one `found <relative path>` fact per marker found.
/// Directory names with a line break are skipped; the rest are checked by
/// the reader.
pub fn survey_webroot(webroot: &str, markers: &[&str]) -> Result<String> {
    script(
        "survey-webroot.sh",
        json!({ "webroot": webroot, "markers": markers, "max_bases": SURVEY_MAX_BASES }),
    )
}

/// Looks, changing nothing, at the folder the wizard was given: whether it is
/// a directory (`folder yes|no`) and the node's mounts (`mountinfo`).
pub fn inspect_folder(dir: &str) -> Result<String> {
    script("inspect-folder.sh", json!({ "dir": dir }))
}

/// Reads everything plan and status need, in one round trip, changing nothing.
/// Output: one `key<TAB>base64(value)` line per fact (see `probe::parse`).
pub fn probe(install: &InstallDir, webroot: &str, synced_dir: Option<&str>) -> Result<String> {
    script(
        "probe.sh",
        json!({
            "install": install.root(),
            "legacy": install.in_webroot(),
            "webroot": webroot,
            "tools": REQUIRED_TOOLS,
            "managers": PackageManager::ALL.map(|(command, _)| command),
            "marker": layout::MARKER,
            "sync_key_pub": layout::SYNC_KEY_PUB,
            "state": layout::STATE,
            "node_ctl": layout::NODE_CTL,
            "authorized_keys": layout::AUTHORIZED_KEYS,
            "excludes": layout::EXCLUDES,
            "managed_files": managed_files().map(|(_, path, _, _)| path).collect::<Vec<_>>(),
            "secret_files": layout::SECRET_FILES,
            "synced_dir": synced_dir,
        }),
    )
}

/// The files filesync renders (name, path, mode, template), for the probe to read back.
fn managed_files() -> impl Iterator<Item = (&'static str, &'static str, u32, &'static str)> {
    crate::render::TEMPLATE_FILES.iter().copied()
}

/// A script with the stdin it reads.
pub type Upload = (String, Option<Vec<u8>>);

/// stdin for a script that includes `receive.sh`: the byte count on a line,
/// then the content.
fn framed(content: &[u8]) -> Vec<u8> {
    let mut stdin = format!("{}\n", content.len()).into_bytes();
    stdin.extend_from_slice(content);
    stdin
}

/// Writes `content` to `path` atomically (temp file in the same directory,
/// checked complete, then renamed), with `mode`: readers never see a
/// half-written file. The content travels on stdin, never in the command.
pub fn write_file(path: &str, mode: u32, content: &[u8]) -> Result<Upload> {
    let (dir, _) = path.rsplit_once('/').unwrap_or((".", path));
    let dir = if dir.is_empty() { "/" } else { dir };
    let script = script(
        "write-file.sh",
        json!({ "dir": dir, "path": path, "label": path, "mode": format!("{mode:o}") }),
    )?;
    Ok((script, Some(framed(content))))
}

/// Like `write_file`, but leaves an existing file alone (files the user owns).
pub fn create_file(path: &str, mode: u32, content: &[u8]) -> Result<Upload> {
    let (write, stdin) = write_file(path, mode, content)?;
    let script = format!(
        "if [ -e {path} ]; then cat >/dev/null; exit 0; fi\n{write}",
        path = shell_word(path)?,
    );
    Ok((script, stdin))
}

/// Creates the installation directory tree (root's: only the owner may
/// write), its marker, and under the webroot the links to the logs, where
/// users of the reference add-on look for them. Root never writes through a
/// link the webroot's owner could have planted: the links are made only where
/// no component of `<webroot>/lsyncd/var/log` is a link.
/// A login user other than root with passwordless sudo gets the directory
/// made for it, owned by it (everything in it runs as that user).
pub fn prepare_install_dir(
    install: &InstallDir,
    privilege: Privilege,
    user: &str,
) -> Result<String> {
    let dirs: Vec<String> = layout::DIRS.iter().map(|dir| install.join(dir)).collect();
    // `var`, `var/log`: each must be checked not to be a link
    let log_dir_steps: Vec<&str> = layout::LOG_DIR
        .match_indices('/')
        .map(|(end, _)| &layout::LOG_DIR[..end])
        .chain([layout::LOG_DIR])
        .collect();
    let log_links: Vec<_> = layout::LINKED_LOGS
        .iter()
        .map(|log| json!({ "name": log, "target": install.join(log) }))
        .collect();
    script(
        "prepare-install-dir.sh",
        json!({
            "sudo_user": (privilege == Privilege::Sudo).then_some(user),
            "root": install.root(),
            "dirs": dirs,
            "run_dir": install.join(layout::RUN_DIR),
            "trash_dir": install.join(layout::TRASH),
            "marker": install.join(layout::MARKER),
            "in_webroot": install.in_webroot(),
            "log_dir_steps": log_dir_steps,
            "log_dir": layout::LOG_DIR,
            "log_links": log_links,
        }),
    )
}

/// Moves an installation of an earlier version out of `<webroot>/lsyncd/`:
/// stops its lsyncd, keeps the user's `etc/excludes` (moved into the new
/// installation directory unless one is there), removes the rest of what it
/// owned there. Synced files are never touched; see `in-webroot-cleanup.sh`.
pub fn move_from_webroot(install: &InstallDir) -> Result<String> {
    script(
        "in-webroot-cleanup.sh",
        in_webroot_cleanup(install, true, legacy_owned_relative()),
    )
}

/// What an earlier version kept in `<webroot>/lsyncd`, relative to it.
fn legacy_owned_relative() -> Vec<String> {
    layout::LEGACY_OWNED
        .iter()
        .map(|path| format!("./{path}"))
        .collect()
}

/// The values of `in-webroot-cleanup.sh`, which stops what an earlier
/// version started from `<webroot>/lsyncd` and, inside that directory when
/// it is a real one of the login user's, keeps the user's exclusions (when
/// `keep_excludes`) and removes `remove` (paths relative to it).
fn in_webroot_cleanup(
    install: &InstallDir,
    keep_excludes: bool,
    remove: Vec<String>,
) -> serde_json::Value {
    json!({
        "in_webroot": install.in_webroot(),
        "in_webroot_name": layout::INSTALL_DIR_NAME,
        "pid_files": [layout::PID, layout::RSYNCD_PID],
        "etc_dir": layout::ETC_DIR,
        "keep_excludes": keep_excludes,
        "excludes": layout::EXCLUDES,
        "install_etc": install.join(layout::ETC_DIR),
        "install_excludes": install.join(layout::EXCLUDES),
        "remove": remove,
    })
}

/// Generates the node's sync key pair unless it exists, then prints the public key.
/// The private key never leaves the node.
pub fn ensure_sync_key(install: &InstallDir, comment: &str) -> Result<String> {
    let key = install.join(layout::SYNC_KEY);
    Ok(format!(
        "set -e\numask 077\nif [ ! -f {key} ]; then ssh-keygen -q -t ed25519 -N '' -C {comment} -f {key} </dev/null >/dev/null; fi\ncat {key}.pub\n",
        key = shell_word(&key)?,
        comment = shell_word(comment)?,
    ))
}

/// Removes one file filesync wrote (a file of two-environment mode, when it is off).
pub fn remove_file(path: &str) -> Result<String> {
    Ok(format!("rm -f {}\n", shell_word(path)?))
}

/// Prints the password file of two-environment mode, if the node has one. Its
/// content travels only on the SSH connection's stdout.
pub fn read_password(install: &InstallDir) -> Result<String> {
    Ok(format!(
        "cat {} 2>/dev/null || true\n",
        shell_word(&install.join(layout::RSYNCD_PASS))?
    ))
}

/// Prints the node's state file (`state::NodeState`), if it has one.
pub fn read_state(install: &InstallDir) -> Result<String> {
    Ok(format!(
        "cat {} 2>/dev/null || true\n",
        shell_word(&install.join(layout::STATE))?
    ))
}

/// Replaces the login user's crontab with `content`, once all of it arrived.
pub fn set_crontab(content: &[u8]) -> Result<Upload> {
    let script = script("set-crontab.sh", json!({ "label": "crontab" }))?;
    Ok((script, Some(framed(content))))
}

/// Runs the on-node control script (`start`, `stop`, `restart`, `status`).
pub fn node_ctl(install: &InstallDir, action: &str) -> Result<String> {
    Ok(format!(
        "{} {}\n",
        shell_word(&install.join(layout::NODE_CTL))?,
        shell_word(action)?
    ))
}

/// Installs packages non-interactively with the node's package manager, and
/// starts cron if it does not run.
pub fn install_packages(
    manager: PackageManager,
    packages: &[&str],
    privilege: Privilege,
) -> Result<String> {
    script(
        "install-packages.sh",
        json!({ "manager": manager.command(), "packages": packages, "sudo": privilege.prefix() }),
    )
}

/// Raises the kernel's inotify watch limit now and at boot.
pub fn raise_inotify_watches(watches: u64, privilege: Privilege) -> String {
    let sudo = privilege.prefix();
    format!(
        "set -e\n{sudo}sysctl -q -w fs.inotify.max_user_watches={watches}\n\
         echo 'fs.inotify.max_user_watches = {watches}' | {sudo}tee {conf} >/dev/null\n",
        conf = layout::SYSCTL_CONF
    )
}

/// Stops lsyncd and removes exactly what filesync installed: the installation
/// directory but what is the user's, which stays with the directory (and
/// filesync's marker, so that a later install takes the directory back) and is
/// named on stdout (`etc/excludes` when it holds something, the trash when it
/// holds copies of their files), the log links under the webroot
/// (`<webroot>/lsyncd` goes only if nothing else is left in it), and what an
/// earlier version left there (its `etc/excludes` stays, as the user's).
/// Synced files are never touched.
pub fn remove_install_dir(install: &InstallDir) -> Result<String> {
    let mut owned: Vec<String> = [
        layout::BIN_DIR,
        layout::RUN_DIR,
        layout::VAR_DIR,
        layout::STATE,
    ]
    .iter()
    .map(|path| install.join(path))
    .collect();
    let control = install.control_dir();
    if !control.starts_with(install.root()) {
        owned.push(control);
    }
    let mut in_webroot: Vec<String> = legacy_owned_relative()
        .into_iter()
        .filter(|path| *path != format!("./{}", layout::ETC_DIR))
        .collect();
    in_webroot.extend(legacy_etc_files().iter().map(|path| format!("./{path}")));
    // it ends with in-webroot-cleanup.sh, which reads the same values
    let mut context = tera::Context::from_value(in_webroot_cleanup(install, false, in_webroot))?;
    context.extend(tera::Context::from_value(json!({
        "node_ctl": install.join(layout::NODE_CTL),
        "owned": owned,
        "trash_dir": install.join(layout::TRASH),
        "root": install.root(),
        "marker": install.join(layout::MARKER),
        "legacy_etc": install.join_in_webroot(layout::ETC_DIR),
    }))?);
    render("remove-install-dir.sh", &context)
}

/// What an earlier version wrote in `<webroot>/lsyncd/etc`, relative to
/// `<webroot>/lsyncd` (the user's `excludes` there stays theirs).
fn legacy_etc_files() -> Vec<&'static str> {
    crate::render::TEMPLATE_FILES
        .iter()
        .map(|(_, path, _, _)| *path)
        .chain([layout::SYNC_KEY, layout::SYNC_KEY_PUB])
        .chain(layout::SECRET_FILES)
        .filter(|path| path.starts_with(&format!("{}/", layout::ETC_DIR)))
        .collect()
}

/// Marks the peers (by their record names: ssh aliases, `peer-env`) whose next
/// startup push sends everything this node has; lsyncd removes a mark once
/// that push succeeded.
pub fn full_startup_push(install: &InstallDir, peers: &[String]) -> Result<String> {
    let marks: Vec<String> = peers
        .iter()
        .map(|peer| install.join(&layout::full_startup_mark(peer)))
        .collect();
    let marks: Vec<&str> = marks.iter().map(String::as_str).collect();
    Ok(format!("set -e\ntouch {}\n", words(&marks)?))
}

/// Starts, or restarts, lsyncd and prints the node's clock (Unix seconds) just
/// before, to tell later pushes from earlier ones: alone on stdout (what lsyncd
/// says as it starts goes to stderr).
pub fn activate(install: &InstallDir, action: &str) -> Result<String> {
    let ctl = node_ctl(install, action)?;
    Ok(format!(
        "set -e\nSTARTED=$(date +%s)\n{} >&2\necho \"$STARTED\"\n",
        ctl.trim_end()
    ))
}

/// The record of the last push to the peer known as `alias`
/// (`push_record::PushRecord`), or nothing.
pub fn push_record(install: &InstallDir, alias: &str) -> Result<String> {
    Ok(format!(
        "cat {} 2>/dev/null || true\n",
        shell_word(&install.join(&layout::push_record(alias)))?
    ))
}

/// How many entries (directories, files, links) the synced directory `dir`
/// holds below it, on its own filesystem.
pub fn tree_size(dir: &str) -> Result<String> {
    Ok(format!(
        "find {} -xdev -mindepth 1 2>/dev/null | wc -l\n",
        shell_word(dir)?
    ))
}

/// The last `lines` lines of lsyncd's log.
pub fn tail_log(install: &InstallDir, lines: usize) -> Result<String> {
    Ok(format!(
        "tail -n {lines} {} 2>/dev/null || true\n",
        shell_word(&install.join(layout::LOG))?
    ))
}

/// Status facts beyond the probe: per-peer push results (`peer` and its push
/// record a line), `--`, and lsyncd's recent errors.
pub fn sync_report(install: &InstallDir) -> Result<String> {
    script(
        "sync-report.sh",
        json!({
            "log_dir": install.join(layout::LOG_DIR),
            "prefix": crate::nodes::push_record::FILE_PREFIX,
            "log": install.join(layout::LOG),
        }),
    )
}

/// Takes the operator lock at `lock` (`InstallDir::lock_dir`) for `owner`
/// (`lock::Owner::line`). Prints `acquired`, or `held` and the holder's line
/// (`lock::parse_attempt`). Where the webroot does not exist there is nothing
/// to lock (preflight refuses it).
pub fn take_lock(lock: &str, owner: &str) -> Result<String> {
    script("take-lock.sh", lock_values(lock, owner))
}

/// Removes the lock if it is still held by `expected` (the holder being taken
/// over), then takes it for `owner`.
pub fn break_lock(lock: &str, expected: &str, owner: &str) -> Result<String> {
    Ok(format!(
        "{}{}",
        release_lock(lock, expected)?,
        take_lock(lock, owner)?
    ))
}

/// Removes the lock if `owner` holds it.
pub fn release_lock(lock: &str, owner: &str) -> Result<String> {
    script("release-lock.sh", lock_values(lock, owner))
}

fn lock_values(lock: &str, owner: &str) -> serde_json::Value {
    json!({ "lock": lock, "owner": owner, "owner_file": layout::LOCK_OWNER })
}

/// Lists the trash: every kept file and link as `path\0size\0mtime\0`, the
/// path starting with its version directory (see `trash::parse_listing`).
pub fn list_trash(install: &InstallDir) -> Result<String> {
    script(
        "list-trash.sh",
        json!({ "trash_dir": install.join(layout::TRASH) }),
    )
}

/// Puts the kept copy of `path` from trash version `version` back into the
/// synced directory, as a local change (it spreads to the peers, stamped with
/// the current time since it carries an older one). What is there now is put
/// in the trash first, under a `restore` version. `version` and `path` must
/// have passed `trash::is_version` and `trash::relative_path`.
pub fn restore_from_trash(
    install: &InstallDir,
    synced_dir: &str,
    version: &str,
    path: &str,
) -> Result<String> {
    script(
        "restore-from-trash.sh",
        json!({
            "trash_dir": install.join(layout::TRASH),
            "version": version,
            "path": path,
            "synced_dir": synced_dir.trim_end_matches('/'),
        }),
    )
}

/// What a tree listing holds per path: metadata, or content digests of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Listing {
    Meta,
    Digest,
}

/// Lists the synced directory sorted by path (bytewise), one NUL-terminated
/// record per path, without `excluded` (paths relative to it, like `/lsyncd`)
/// and rsync's temporary directories. Meta records are `stat`'s
/// `%f %s %Y %n`, digest records `sha256sum -z` lines. A file that vanishes
/// between `find` and `stat` is simply left out.
pub fn list_tree(synced_dir: &str, excluded: &[String], listing: Listing) -> Result<String> {
    let prune: Vec<String> = excluded
        .iter()
        .map(|path| format!(".{}", glob_literal(path.trim_end_matches('/'))))
        .collect();
    script(
        "list-tree.sh",
        json!({
            "dir": synced_dir,
            "temp_dir": crate::model::desired::RSYNC_TEMP_PATTERN.trim_end_matches('/'),
            "prune": prune,
            "digest": listing == Listing::Digest,
        }),
    )
}

/// `value` as a `find -path` pattern that matches only itself.
fn glob_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install() -> InstallDir {
        InstallDir::under_webroot("/var/www/webroot")
    }

    /// Runs a script in a real `sh` with `stdin`; true when it exits 0.
    fn sh(script: &str, stdin: &[u8]) -> bool {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait().unwrap().success()
    }

    #[test]
    fn write_file_replaces_the_file_only_with_the_whole_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("it's a \"conf\"");
        let path = path.to_str().unwrap();
        let (script, stdin) = write_file(path, 0o640, b"whole\ncontent\n").unwrap();
        let stdin = stdin.unwrap();
        assert!(
            !script.contains("whole"),
            "content in the command: {script}"
        );
        assert!(sh(&script, &stdin));
        assert_eq!(std::fs::read_to_string(path).unwrap(), "whole\ncontent\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);

        // The connection drops mid-upload: stdin ends early.
        let (script, stdin) = write_file(path, 0o640, b"new content, longer").unwrap();
        let cut = &stdin.unwrap()[..8];
        assert!(!sh(&script, cut));
        assert_eq!(std::fs::read_to_string(path).unwrap(), "whole\ncontent\n");
        let litter: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(litter.len(), 1, "temporary file left behind");
    }

    #[test]
    fn create_file_leaves_existing_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("excludes");
        let path = path.to_str().unwrap();
        std::fs::write(path, "mine\n").unwrap();
        let (script, stdin) = create_file(path, 0o644, b"").unwrap();
        assert!(sh(&script, &stdin.unwrap()));
        assert_eq!(std::fs::read_to_string(path).unwrap(), "mine\n");
    }

    #[test]
    fn sync_key_is_generated_on_the_node_only_once() {
        let key = install().join(layout::SYNC_KEY);
        assert_eq!(
            ensure_sync_key(&install(), "filesync:n1").unwrap(),
            format!(
                "set -e\numask 077\nif [ ! -f {key} ]; then \
                 ssh-keygen -q -t ed25519 -N '' -C filesync:n1 -f {key} \
                 </dev/null >/dev/null; fi\ncat {key}.pub\n"
            )
        );
    }

    #[test]
    fn packages_install_with_sudo_when_not_root() {
        let script =
            install_packages(PackageManager::AptGet, &["lsyncd", "cron"], Privilege::Sudo).unwrap();
        assert!(script.contains(
            "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q lsyncd cron ||"
        ));
        let script = install_packages(PackageManager::Dnf, &["cronie"], Privilege::Root).unwrap();
        assert!(script.contains("\ndnf install -y cronie\n"));
        assert_eq!(PackageManager::Dnf.package_for("crontab"), "cronie");
        assert_eq!(
            PackageManager::AptGet.package_for("ssh-keygen"),
            "openssh-client"
        );
    }

    #[test]
    fn uninstall_removes_only_what_filesync_owns_and_keeps_the_users_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("state");
        let webroot = dir.path().join("webroot");
        let install = InstallDir::with_base(base.to_str().unwrap(), webroot.to_str().unwrap());
        let mkfile = |path: &str, content: &str| {
            let path = std::path::Path::new(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        };
        for path in [
            layout::LSYNCD_CONF,
            layout::STATE,
            layout::LEDGER,
            "bin/node-ctl",
        ] {
            mkfile(&install.join(path), "filesync's");
        }
        mkfile(
            &install.join("trash/20261130T124502Z-n2-7/a.jpg"),
            "an old version of a user's file",
        );
        mkfile(&install.join(layout::EXCLUDES), "/cache/\n");
        // What an earlier version left under the webroot, and a file of the user's there.
        mkfile(&install.join_in_webroot(layout::LSYNCD_CONF), "old");
        mkfile(&install.join_in_webroot("state.json"), "{}");
        mkfile(&install.join_in_webroot("notes.txt"), "the user's");
        mkfile(webroot.join("ROOT/upload.jpg").to_str().unwrap(), "synced");

        let said = sh_ok(&remove_install_dir(&install).unwrap());
        assert!(said.contains("kept your exclusions"), "{said}");
        assert!(
            said.contains("kept what sync replaced or deleted"),
            "{said}"
        );

        let mut left: Vec<String> = Vec::new();
        for entry in walk(dir.path()) {
            left.push(
                entry
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string(),
            );
        }
        left.sort();
        let instance = install.root().rsplit('/').next().unwrap();
        assert_eq!(
            left,
            [
                "state".to_string(),
                format!("state/{instance}"),
                // what stays is known as filesync's: a later install takes it
                format!("state/{instance}/.filesync"),
                format!("state/{instance}/etc"),
                format!("state/{instance}/etc/excludes"),
                format!("state/{instance}/trash"),
                format!("state/{instance}/trash/20261130T124502Z-n2-7"),
                format!("state/{instance}/trash/20261130T124502Z-n2-7/a.jpg"),
                "webroot".into(),
                "webroot/ROOT".into(),
                "webroot/ROOT/upload.jpg".into(),
                "webroot/lsyncd".into(),
                "webroot/lsyncd/notes.txt".into(),
            ]
        );
    }

    #[test]
    fn an_earlier_installation_is_moved_without_running_or_following_anything_in_the_webroot() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("state");
        let webroot = dir.path().join("webroot");
        let victim = dir.path().join("victim");
        let install = InstallDir::with_base(base.to_str().unwrap(), webroot.to_str().unwrap());
        // The webroot's owner planted a control script and made lsyncd/ a link.
        std::fs::create_dir_all(victim.join("bin")).unwrap();
        std::fs::create_dir_all(victim.join("etc")).unwrap();
        let ran = dir.path().join("ran");
        std::fs::write(
            victim.join("bin/node-ctl"),
            format!("#!/bin/sh\ntouch {}\n", ran.display()),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("755")
            .arg(victim.join("bin/node-ctl"))
            .status()
            .unwrap();
        std::fs::write(victim.join("etc/important"), "keep me").unwrap();
        std::fs::create_dir_all(&webroot).unwrap();
        std::os::unix::fs::symlink(&victim, webroot.join("lsyncd")).unwrap();
        sh_ok(&move_from_webroot(&install).unwrap());
        sh_ok(&remove_install_dir(&install).unwrap());
        assert!(!ran.exists(), "a script from the webroot was run");
        assert!(
            victim.join("etc/important").exists(),
            "removed through a link"
        );
        assert!(
            victim.join("bin/node-ctl").exists(),
            "removed through a link"
        );
    }

    /// Runs a script in a real `sh`; panics unless it succeeds; its stdout.
    fn sh_ok(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.clone());
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path));
            }
        }
        out
    }

    #[test]
    fn probe_quotes_the_synced_dir_and_reads_every_managed_file() {
        let script = probe(&install(), "/var/www/webroot", Some("/var/www/webroot/a b")).unwrap();
        assert!(script.contains("SYNC='/var/www/webroot/a b'\n"));
        for (_, path, _, _) in managed_files() {
            assert!(
                script.contains(&format!("emit_file file:{path} ")),
                "{path}"
            );
        }
        assert!(!probe(&install(), "/w", None).unwrap().contains("SYNC="));
    }

    #[test]
    fn inotify_limit_is_raised_now_and_for_the_next_boot() {
        assert_eq!(
            raise_inotify_watches(131072, Privilege::Root),
            "set -e\nsysctl -q -w fs.inotify.max_user_watches=131072\n\
             echo 'fs.inotify.max_user_watches = 131072' | tee /etc/sysctl.d/60-filesync.conf >/dev/null\n"
        );
    }
    #[test]
    fn the_sync_report_gives_each_peers_push_record_then_lsyncds_errors() {
        let dir = tempfile::tempdir().unwrap();
        let install = InstallDir::with_base(dir.path().to_str().unwrap(), "/var/www/webroot");
        let logs = install.join(layout::LOG_DIR);
        std::fs::create_dir_all(&logs).unwrap();
        for (peer, record) in [
            ("filesync-n2", "1700000000 0\n"),
            ("peer-env", "9 5 auth\n"),
        ] {
            std::fs::write(install.join(&layout::push_record(peer)), record).unwrap();
        }
        std::fs::write(format!("{logs}/pushes-filesync-n2"), "1.0 2.0 0\n").unwrap();
        std::fs::write(install.join(layout::LOG), "ok\nError: one\n").unwrap();
        let report = sh_ok(&sync_report(&install).unwrap());
        let (records, errors) = report.split_once("--\n").unwrap();
        let records = crate::nodes::push_record::parse_named(records);
        let peers: Vec<&str> = records.iter().map(|(peer, _)| peer.as_str()).collect();
        assert_eq!(peers, ["filesync-n2", "peer-env"]);
        assert_eq!(records[1].1.class.as_deref(), Some("auth"));
        assert_eq!(errors, "Error: one\n");
    }

    #[test]
    fn tree_listings_prune_excluded_paths_literally_and_sort_bytewise() {
        let excluded = vec!["/lsyncd".to_string(), "/media/n*fs".to_string()];
        assert_eq!(
            list_tree("/var/www/web root", &excluded, Listing::Meta).unwrap(),
            "cd '/var/www/web root' || exit 3\n\
             find . -mindepth 1 \\( -name '.~tmp~' -o -path ./lsyncd -o -path \"./media/n\\\\*fs\" \\) \
             -prune -o -print0 | LC_ALL=C sort -z | xargs -0r stat --printf '%f %s %Y %n\\0' --\n\
             status=$?\n[ $status -eq 0 ] || [ $status -eq 123 ]\n"
        );
        let digests = list_tree("/d", &[], Listing::Digest).unwrap();
        assert!(digests
            .contains("-prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum -z --"));
    }

    #[test]
    fn the_lock_is_taken_by_one_mkdir_and_released_only_by_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("lsyncd.lock");
        let lock = lock.to_str().unwrap();
        let sh = |script: String| sh_ok(&script);
        // The directory that holds the locks is made on first use.
        let fresh = dir.path().join("no-base-yet/x.lock");
        assert_eq!(
            sh(take_lock(fresh.to_str().unwrap(), "me").unwrap()),
            "acquired\n"
        );
        assert!(fresh.join("owner").exists());
        assert_eq!(sh(take_lock(lock, "me it's").unwrap()), "acquired\n");
        assert_eq!(sh(take_lock(lock, "you").unwrap()), "held\nme it's\n");
        sh(release_lock(lock, "you").unwrap());
        assert!(
            std::path::Path::new(lock).exists(),
            "released by a stranger"
        );
        assert_eq!(
            sh(break_lock(lock, "me it's", "you").unwrap()),
            "acquired\n"
        );
        sh(release_lock(lock, "you").unwrap());
        assert!(!std::path::Path::new(lock).exists());
    }
}
