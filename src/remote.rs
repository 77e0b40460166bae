//! The exact shell scripts filesync runs on nodes, built by pure functions that
//! shell-quote every value. Content (files, crontabs) always travels on stdin,
//! never on a command line.

use crate::escape::shell_word;
use crate::layout::{self, InstallDir};
use anyhow::Result;

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

/// Shell functions that print one fact a line, `key<TAB>base64(value)`
/// (`emit key value`, `emit_file key path`), read by `probe::fact_lines`.
pub const EMIT: &str = r#"emit() { printf '%s\t' "$1"; printf '%s' "$2" | base64 | tr -d '\n'; printf '\n'; }
emit_file() { if [ -f "$2" ] && [ -r "$2" ]; then printf '%s\t' "$1"; base64 <"$2" | tr -d '\n'; printf '\n'; fi; }"#;

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
    Ok(format!(
        r#"{emit}
cd {webroot} 2>/dev/null || {{ emit webroot no; exit 0; }}
emit webroot yes
count=0
for base in . */ */*/; do
  [ -d "$base" ] || continue
  case "$base" in *'
'*) continue ;; esac
  count=$((count + 1))
  [ "$count" -le {max} ] || break
  for marker in {markers}; do
    case "$marker" in
      */) [ -d "$base/$marker" ] && emit found "$base/$marker" ;;
      *) [ -f "$base/$marker" ] && emit found "$base/$marker" ;;
    esac
  done
done
exit 0
"#,
        emit = EMIT,
        webroot = shell_word(webroot)?,
        max = SURVEY_MAX_BASES,
        markers = words(markers)?,
    ))
}

/// Looks, changing nothing, at the folder the wizard was given: whether it is
/// a directory (`folder yes|no`) and the node's mounts (`mountinfo`).
pub fn inspect_folder(dir: &str) -> Result<String> {
    Ok(format!(
        r#"{emit}
if [ -d {dir} ]; then emit folder yes; else emit folder no; fi
emit_file mountinfo /proc/self/mountinfo
"#,
        emit = EMIT,
        dir = shell_word(dir)?,
    ))
}

/// Reads everything plan and status need, in one round trip, changing nothing.
/// Output: one `key<TAB>base64(value)` line per fact (see `probe::parse`).
pub fn probe(install: &InstallDir, webroot: &str, sync_dir: Option<&str>) -> Result<String> {
    let mut script = format!(
        r#"INSTALL={install}
LEGACY={legacy}
WEBROOT={webroot}
{emit}
emit user "$(id -un)"
emit home "$HOME"
if [ "$(id -u)" = 0 ]; then emit privilege root
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then emit privilege sudo
else emit privilege none; fi
for tool in {tools}; do emit "tool:$tool" "$(command -v "$tool" 2>/dev/null)"; done
for pm in {managers}; do
  if command -v "$pm" >/dev/null 2>&1; then emit package_manager "$pm"; break; fi
done
if pgrep -x cron >/dev/null 2>&1 || pgrep -x crond >/dev/null 2>&1; then emit cron_running yes; else emit cron_running no; fi
emit free_kb "$(df -Pk "$WEBROOT" 2>/dev/null | awk 'NR == 2 {{ print $4 }}')"
emit_file inotify_watches /proc/sys/fs/inotify/max_user_watches
emit host_keys "$(cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null)"
if [ -d "$INSTALL" ]; then
  emit install_dir "$(ls -A "$INSTALL" 2>/dev/null | head -n 20)"
fi
emit_file marker "$INSTALL/.filesync"
emit_file sync_key_pub "$INSTALL/{key}.pub"
emit_file state "$INSTALL/{state}"
if [ -x "$INSTALL/{ctl}" ]; then emit lsyncd "$("$INSTALL/{ctl}" status 2>/dev/null)"; fi
emit crontab "$(crontab -l 2>/dev/null)"
emit_file authorized_keys "$HOME/.ssh/authorized_keys"
emit_file excludes "$INSTALL/{excludes}"
emit_file legacy_marker "$LEGACY/.filesync"
emit_file legacy_state "$LEGACY/{state}"
"#,
        emit = EMIT,
        install = shell_word(install.root())?,
        legacy = shell_word(install.in_webroot())?,
        webroot = shell_word(webroot)?,
        tools = words(&REQUIRED_TOOLS)?,
        managers = words(&PackageManager::ALL.map(|(command, _)| command))?,
        key = layout::SYNC_KEY,
        state = layout::STATE,
        ctl = layout::NODE_CTL,
        excludes = layout::EXCLUDES,
    );
    for (_, path, _, _) in managed_files() {
        script.push_str(&format!("emit_file file:{path} \"$INSTALL/{path}\"\n"));
    }
    // Secrets: only their digest leaves the node.
    for path in layout::SECRET_FILES {
        script.push_str(&format!(
            "if [ -f \"$INSTALL/{path}\" ]; then emit secret:{path} \"$(sha256sum <\"$INSTALL/{path}\" | cut -d' ' -f1)\"; fi\n"
        ));
    }
    script.push_str(&format!(
        "if [ -x \"$INSTALL/{ctl}\" ]; then emit rsyncd \"$(\"$INSTALL/{ctl}\" daemon-status 2>/dev/null)\"; fi\n",
        ctl = layout::NODE_CTL
    ));
    if let Some(dir) = sync_dir {
        script.push_str(&format!(
            r#"SYNC={dir}
if [ -d "$SYNC" ]; then
  emit sync_dir yes
  emit sync_dirs "$(find "$SYNC" -xdev -type d 2>/dev/null | wc -l)"
  emit sync_files "$(find "$SYNC" -xdev ! -type d 2>/dev/null | wc -l)"
else
  emit sync_dir no
fi
emit_file mountinfo /proc/self/mountinfo
"#,
            dir = shell_word(dir)?
        ));
    }
    Ok(script)
}

/// The files filesync renders (name, path, mode, template), for the probe to read back.
fn managed_files() -> impl Iterator<Item = (&'static str, &'static str, u32, &'static str)> {
    crate::render::TEMPLATE_FILES.iter().copied()
}

/// A script with the stdin it reads.
pub type Upload = (String, Option<Vec<u8>>);

/// stdin for a script built with `receive`: the byte count on a line, then
/// the content.
fn framed(content: &[u8]) -> Vec<u8> {
    let mut stdin = format!("{}\n", content.len()).into_bytes();
    stdin.extend_from_slice(content);
    stdin
}

/// Shell lines that read framed stdin into "$tmp" and stop unless all of it
/// arrived: a connection lost mid-upload ends stdin early, and a truncated
/// file must never replace a whole one.
fn receive(label: &str) -> Result<String> {
    Ok(format!(
        "IFS= read -r size\ncat >\"$tmp\"\n\
         [ \"$(wc -c <\"$tmp\")\" -eq \"$size\" ] || \
         {{ printf '%s: incomplete upload (connection lost?), left unchanged\\n' {label} >&2; exit 1; }}\n",
        label = shell_word(label)?
    ))
}

/// Writes `content` to `path` atomically (temp file in the same directory,
/// checked complete, then renamed), with `mode`: readers never see a
/// half-written file. The content travels on stdin, never in the command.
pub fn write_file(path: &str, mode: u32, content: &[u8]) -> Result<Upload> {
    let (dir, _) = path.rsplit_once('/').unwrap_or((".", path));
    let dir = if dir.is_empty() { "/" } else { dir };
    let script = format!(
        "set -e\numask 077\nmkdir -p {dir}\ntmp=$(mktemp {dir}/.filesync.XXXXXX)\n\
         trap 'rm -f \"$tmp\"' EXIT\n{receive}chmod {mode:o} \"$tmp\"\nmv -f \"$tmp\" {path}\ntrap - EXIT\n",
        dir = shell_word(dir)?,
        path = shell_word(path)?,
        receive = receive(path)?,
    );
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
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let made_by_root = if privilege == Privilege::Sudo {
        format!(
            "[ -d {root} ] || {{ sudo -n mkdir -p {root} && sudo -n chown {user} {root}; }}\n",
            root = shell_word(install.root())?,
            user = shell_word(user)?,
        )
    } else {
        String::new()
    };
    let mut script = format!(
        "set -e\numask 022\n{made_by_root}mkdir -p {dirs}\nchmod 755 {root}\nchmod 700 {run} {trash}\n\
         [ -f {marker} ] || echo 'installed by filesync; see state.json' >{marker}\n\
         W={in_webroot}\n\
         if [ ! -L \"$W\" ] && [ ! -L \"$W/var\" ] && [ ! -L \"$W/var/log\" ]; then\n  \
         mkdir -p \"$W/var/log\"\n",
        dirs = words(&dirs)?,
        root = shell_word(install.root())?,
        run = shell_word(&install.join("run"))?,
        trash = shell_word(&install.join(layout::TRASH))?,
        marker = shell_word(&install.join(".filesync"))?,
        in_webroot = shell_word(install.in_webroot())?,
    );
    for log in layout::LINKED_LOGS {
        script.push_str(&format!(
            "  ln -sfn {target} \"$W/{log}\"\n",
            target = shell_word(&install.join(log))?,
        ));
    }
    script.push_str("fi\n");
    Ok(script)
}

/// Moves an installation of an earlier version out of `<webroot>/lsyncd/`:
/// stops its lsyncd, keeps the user's `etc/excludes` (moved into the new
/// installation directory unless one is there), removes the rest of what it
/// owned there. Synced files are never touched; see `in_webroot_cleanup`.
pub fn move_from_webroot(install: &InstallDir) -> Result<String> {
    let keep = format!(
        "if [ -f ./etc/excludes ] && [ ! -L ./etc ] && [ ! -L ./etc/excludes ] && [ ! -e {new} ]; then \
         mkdir -p {etc} && cp ./etc/excludes {new}; fi\n",
        new = shell_word(&install.join(layout::EXCLUDES))?,
        etc = shell_word(&install.join("etc"))?,
    );
    in_webroot_cleanup(install, &keep, &legacy_owned_relative())
}

/// What an earlier version kept in `<webroot>/lsyncd`, relative to it.
fn legacy_owned_relative() -> Vec<String> {
    layout::LEGACY_OWNED
        .iter()
        .map(|path| format!("./{path}"))
        .collect()
}

/// A script that stops what an earlier version started from
/// `<webroot>/lsyncd` (by the pid files there, checking each process's
/// command line; nothing there is ever run: the webroot's owner could have
/// put anything there), then, inside that directory only if it is a real
/// directory of the login user's (root's), runs `inside` and removes
/// `remove` (paths relative to it). Nothing is followed through a link.
fn in_webroot_cleanup(install: &InstallDir, inside: &str, remove: &[String]) -> Result<String> {
    let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
    Ok(format!(
        "W={w}\n\
         for pidfile in \"$W/run/lsyncd.pid\" \"$W/run/rsyncd.pid\"; do\n  \
         pid=$(cat \"$pidfile\" 2>/dev/null) || continue\n  \
         case \"$pid\" in '' | *[!0-9]*) continue ;; esac\n  \
         if tr '\\000' ' ' <\"/proc/$pid/cmdline\" 2>/dev/null | grep -qF -- \"$W/etc/\"; then kill \"$pid\" 2>/dev/null || true; fi\n\
         done\n\
         if [ -d \"$W\" ] && [ ! -L \"$W\" ] && cd -P -- \"$W\" 2>/dev/null && \
         [ \"$(pwd -P)\" = \"$(cd -P -- \"${{W%/*}}\" && pwd -P)/{name}\" ] && \
         [ \"$(stat -c %u .)\" = \"$(id -u)\" ]; then\n\
         {inside}rm -rf -- {remove}\ncd /\nfi\n",
        w = shell_word(install.in_webroot())?,
        name = layout::INSTALL_DIR_NAME,
        remove = words(&remove)?,
    ))
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

/// Replaces the login user's crontab with `content`, once all of it arrived.
pub fn set_crontab(content: &[u8]) -> Result<Upload> {
    let script = format!(
        "set -e\ntmp=$(mktemp)\ntrap 'rm -f \"$tmp\"' EXIT\n{}crontab \"$tmp\"\n",
        receive("crontab")?
    );
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

/// Installs packages non-interactively with the node's package manager.
pub fn install_packages(
    manager: PackageManager,
    packages: &[&str],
    privilege: Privilege,
) -> Result<String> {
    let sudo = privilege.prefix();
    let packages = words(packages)?;
    let install = match manager {
        PackageManager::AptGet => format!(
            "{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {packages} || \
             {{ {sudo}apt-get update -q && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q {packages}; }}"
        ),
        PackageManager::Dnf | PackageManager::Yum | PackageManager::Microdnf => {
            format!("{sudo}{} install -y {packages}", manager.command())
        }
        PackageManager::Apk => format!("{sudo}apk add --no-cache {packages}"),
        PackageManager::Zypper => format!("{sudo}zypper --non-interactive install {packages}"),
    };
    // A freshly installed cron must also run, or the watchdog never fires.
    Ok(format!(
        "set -e\n{install}\nif ! pgrep -x cron >/dev/null 2>&1 && ! pgrep -x crond >/dev/null 2>&1; then\n  \
         {sudo}systemctl enable --now cron 2>/dev/null || {sudo}systemctl enable --now crond 2>/dev/null || \
         {sudo}service cron start 2>/dev/null || {sudo}service crond start 2>/dev/null || true\nfi\n"
    ))
}

/// Raises the kernel's inotify watch limit now and at boot.
pub fn raise_inotify_watches(watches: u64, privilege: Privilege) -> String {
    let sudo = privilege.prefix();
    format!(
        "set -e\n{sudo}sysctl -q -w fs.inotify.max_user_watches={watches}\n\
         echo 'fs.inotify.max_user_watches = {watches}' | {sudo}tee /etc/sysctl.d/60-filesync.conf >/dev/null\n"
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
    let mut owned: Vec<String> = ["bin", "run", "var", layout::STATE]
        .iter()
        .map(|path| install.join(path))
        .collect();
    let control = install.control_dir();
    if !control.starts_with(install.root()) {
        owned.push(control);
    }
    let owned: Vec<&str> = owned.iter().map(String::as_str).collect();
    let keep = install.join(layout::EXCLUDES);
    let trash = install.join(layout::TRASH);
    let mut in_webroot: Vec<String> = legacy_owned_relative()
        .into_iter()
        .filter(|path| path != "./etc")
        .collect();
    in_webroot.extend(legacy_etc_files().iter().map(|path| format!("./{path}")));
    let cleanup = in_webroot_cleanup(install, "", &in_webroot)?;
    Ok(format!(
        "set -e\nif [ -x {ctl} ]; then {ctl} stop; fi\n\
         rm -rf {owned}\n\
         find {etc} -mindepth 1 ! -path {keep} -exec rm -rf {{}} + 2>/dev/null || true\n\
         if [ -s {keep} ]; then echo \"kept your exclusions in \"{keep}; else rm -f {keep}; fi\n\
         rmdir {trash} 2>/dev/null || echo \"kept what sync replaced or deleted in \"{trash}\n\
         rm -f {marker}\n\
         rmdir {etc} {root} 2>/dev/null || true\n\
         if [ -d {root} ]; then echo 'kept by filesync uninstall: yours; install takes it back' >{marker}; fi\n\
         {cleanup}rmdir {legacy_etc} {legacy} 2>/dev/null || true\n",
        ctl = shell_word(&install.join(layout::NODE_CTL))?,
        owned = words(&owned)?,
        etc = shell_word(&install.join("etc"))?,
        keep = shell_word(&keep)?,
        trash = shell_word(&trash)?,
        root = shell_word(install.root())?,
        marker = shell_word(&install.join(".filesync"))?,
        legacy_etc = shell_word(&install.join_in_webroot("etc"))?,
        legacy = shell_word(install.in_webroot())?,
    ))
}

/// What an earlier version wrote in `<webroot>/lsyncd/etc`, relative to
/// `<webroot>/lsyncd` (the user's `excludes` there stays theirs).
fn legacy_etc_files() -> Vec<&'static str> {
    crate::render::TEMPLATE_FILES
        .iter()
        .map(|(_, path, _, _)| *path)
        .chain([layout::SYNC_KEY, "etc/sync_key.pub"])
        .chain(layout::SECRET_FILES)
        .filter(|path| path.starts_with("etc/"))
        .collect()
}

/// Marks the peers (by their record names: ssh aliases, `peer-env`) whose next
/// startup push sends everything this node has; lsyncd removes a mark once
/// that push succeeded.
pub fn full_startup_push(install: &InstallDir, peers: &[String]) -> Result<String> {
    let marks: Vec<String> = peers
        .iter()
        .map(|peer| install.join(&format!("run/full-startup-{peer}")))
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

/// The record of the last push to the peer known as `alias`: `epoch exit-code`.
pub fn push_record(install: &InstallDir, alias: &str) -> Result<String> {
    Ok(format!(
        "cat {} 2>/dev/null || true\n",
        shell_word(&install.join(&format!("var/log/push-{alias}")))?
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

/// Status facts beyond the probe: per-peer push results and lsyncd's recent errors.
pub fn sync_report(install: &InstallDir) -> Result<String> {
    Ok(format!(
        "cd {logs} 2>/dev/null || exit 0\nfor f in push-*; do [ -f \"$f\" ] && printf '%s %s\\n' \"${{f#push-}}\" \"$(cat \"$f\")\"; done\necho '--'\ngrep -a -E 'Error|Warn' {log} 2>/dev/null | tail -n 5\n",
        logs = shell_word(&install.join("var/log"))?,
        log = shell_word(&install.join(layout::LOG))?,
    ))
}

/// Takes the operator lock at `path` (a directory: `mkdir` is atomic) for
/// `owner`. Prints `acquired`, or `held` and the holder's line. Where the
/// webroot does not exist there is nothing to lock (preflight refuses it).
pub fn take_lock(path: &str, owner: &str) -> Result<String> {
    Ok(format!(
        "L={path}\n\
         [ -d \"${{L%/*}}\" ] || mkdir -p \"${{L%/*}}\" 2>/dev/null || {{ echo acquired; exit 0; }}\n\
         if mkdir \"$L\" 2>/dev/null; then printf '%s\\n' {owner} >\"$L/owner\"; echo acquired; exit 0; fi\n\
         [ -d \"$L\" ] || {{ echo \"cannot create the lock $L\" >&2; exit 1; }}\n\
         echo held\ncat \"$L/owner\" 2>/dev/null || true\n",
        path = shell_word(path)?,
        owner = shell_word(owner)?,
    ))
}

/// Removes the lock if it is still held by `expected` (the holder being taken
/// over), then takes it for `owner`.
pub fn break_lock(path: &str, expected: &str, owner: &str) -> Result<String> {
    Ok(format!(
        "{}{}",
        release_lock(path, expected)?,
        take_lock(path, owner)?
    ))
}

/// Removes the lock if `owner` holds it.
pub fn release_lock(path: &str, owner: &str) -> Result<String> {
    Ok(format!(
        "if [ \"$(cat {path}/owner 2>/dev/null)\" = {owner} ]; then rm -rf {path}; fi\n",
        path = shell_word(path)?,
        owner = shell_word(owner)?,
    ))
}

/// Lists the trash: every kept file and link as `path\0size\0mtime\0`, the
/// path starting with its version directory (see `trash::parse_listing`).
pub fn list_trash(install: &InstallDir) -> Result<String> {
    Ok(format!(
        "cd {} 2>/dev/null || exit 0\nfind . -mindepth 2 \\( -type f -o -type l \\) -printf '%P\\0%s\\0%T@\\0'\n",
        shell_word(&install.join(layout::TRASH))?
    ))
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
    Ok(format!(
        "set -e\nsrc={trash}/{version}/{path}\ndst={synced}/{path}\n\
         if [ ! -e \"$src\" ] && [ ! -L \"$src\" ]; then echo \"not in the trash: $src\" >&2; exit 3; fi\n\
         if [ -e \"$dst\" ] || [ -L \"$dst\" ]; then\n  \
         aside={trash}/$(date -u +%Y%m%dT%H%M%SZ)-restore-$$/{path}\n  \
         mkdir -p \"$(dirname \"$aside\")\"\n  mv \"$dst\" \"$aside\"\n  echo \"$aside\"\nfi\n\
         mkdir -p \"$(dirname \"$dst\")\"\ncp -a \"$src\" \"$dst\"\n",
        trash = shell_word(&install.join(layout::TRASH))?,
        version = shell_word(version)?,
        path = shell_word(path)?,
        synced = shell_word(synced_dir.trim_end_matches('/'))?,
    ))
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
pub fn list_tree(sync_dir: &str, excluded: &[String], listing: Listing) -> Result<String> {
    let temp_dir = crate::desired::RSYNC_TEMP_PATTERN.trim_end_matches('/');
    let mut prune = format!("-name {}", shell_word(temp_dir)?);
    for path in excluded {
        let pattern = format!(".{}", glob_literal(path.trim_end_matches('/')));
        prune.push_str(&format!(" -o -path {}", shell_word(&pattern)?));
    }
    let (only, each) = match listing {
        Listing::Meta => ("", "stat --printf '%f %s %Y %n\\0' --"),
        Listing::Digest => ("-type f ", "sha256sum -z --"),
    };
    Ok(format!(
        "cd {dir} || exit 3\n\
         find . -mindepth 1 \\( {prune} \\) -prune -o {only}-print0 \
         | LC_ALL=C sort -z | xargs -0r {each}\n\
         status=$?\n[ $status -eq 0 ] || [ $status -eq 123 ]\n",
        dir = shell_word(sync_dir)?,
    ))
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
