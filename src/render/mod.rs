//! Renders an installation's files, crontab lines and authorized_keys entries for
//! one node from its `NodeConfig`. Pure. Templates are compiled into the binary;
//! every value goes through a filter that escapes it for the target language
//! (`lua`, `sh`, from `escape`) or was validated to need none (hosts, users,
//! the webroot).

pub mod escape;

use crate::model::desired::NodeConfig;
use crate::model::peer_link::Transport;
use crate::nodes::layout;
use anyhow::{anyhow, Context as _, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;
use tera::{Tera, Value};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A file filesync owns on a node, relative to the install directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    pub path: &'static str,
    pub mode: u32,
    pub content: String,
}

/// The rendered files: template name, path in the install directory, mode, template text.
pub const TEMPLATE_FILES: [(&str, &str, u32, &str); 9] = [
    (
        "lsyncd.conf",
        layout::LSYNCD_CONF,
        0o644,
        include_str!("../../templates/lsyncd.conf.tera"),
    ),
    (
        "ssh_config",
        layout::SSH_CONFIG,
        0o644,
        include_str!("../../templates/ssh_config.tera"),
    ),
    (
        "known_hosts",
        layout::KNOWN_HOSTS,
        0o644,
        include_str!("../../templates/known_hosts.tera"),
    ),
    (
        "node-ctl",
        layout::NODE_CTL,
        0o755,
        include_str!("../../templates/node-ctl.sh.tera"),
    ),
    (
        "rsync-push",
        layout::PUSH_SCRIPT,
        0o755,
        include_str!("../../templates/rsync-push.sh.tera"),
    ),
    (
        "receive.conf",
        layout::RECEIVE_CONF,
        0o644,
        include_str!("../../templates/receive.conf.tera"),
    ),
    (
        "link-receive.conf",
        layout::LINK_RECEIVE_CONF,
        0o644,
        include_str!("../../templates/receive.conf.tera"),
    ),
    (
        "receive-hook",
        layout::RECEIVE_HOOK,
        0o755,
        include_str!("../../templates/receive-hook.sh.tera"),
    ),
    (
        "rsyncd.conf",
        layout::RSYNCD_CONF,
        0o644,
        include_str!("../../templates/rsyncd.conf.tera"),
    ),
];

/// Whether a template's file belongs on a node with this configuration: the rsync
/// daemon's only in two-environment mode over the daemon, what the other
/// environment's keys are forced into only over SSH.
pub fn wanted(config: &NodeConfig, path: &str) -> bool {
    let transport = config.link.as_ref().map(|link| link.transport);
    match path {
        layout::RSYNCD_CONF => transport == Some(Transport::Daemon),
        layout::LINK_RECEIVE_CONF => transport == Some(Transport::Ssh),
        _ => true,
    }
}

fn tera() -> &'static Tera {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| engine(&TEMPLATE_FILES.map(|(name, _, _, text)| (name, text))))
}

/// A Tera engine holding the built-in `templates` (name, text), with the
/// filters that escape values for their target language (`lua`, `sh`,
/// `sh_words`, `rsyncd`) and nothing escaped behind a template's back.
pub(crate) fn engine(templates: &[(&str, &str)]) -> Tera {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    for (name, text) in templates {
        tera.add_raw_template(name, &opening_comment_trimmed(text))
            .unwrap_or_else(|err| panic!("built-in template {name} is invalid: {err:?}"));
    }
    tera.register_filter("lua", lua_filter);
    tera.register_filter("sh", sh_filter);
    tera.register_filter("sh_words", sh_words_filter);
    tera.register_filter("rsyncd", rsyncd_filter);
    tera
}

/// Tera keeps the line break after a template's opening comment even when
/// the comment ends with `-#}`: it is dropped here, so that a template can
/// open with a comment saying what it is and still start with its first line.
fn opening_comment_trimmed(text: &str) -> String {
    match text.split_once("-#}\n") {
        Some((comment, rest)) if text.starts_with("{#") && !comment.contains("#}") => {
            format!("{comment}-#}}{rest}")
        }
        _ => text.to_string(),
    }
}

fn string_arg(value: &Value, filter: &str) -> tera::Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(tera::Error::msg(format!(
            "filter {filter} expects a string, got {other}"
        ))),
    }
}

fn lua_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(escape::lua_string(&string_arg(
        value, "lua",
    )?)))
}

fn sh_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    escape::shell_word(&string_arg(value, "sh")?)
        .map(Value::String)
        .map_err(|err| tera::Error::msg(err.to_string()))
}

/// A list as shell words, one for each value, separated by spaces.
fn sh_words_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let Value::Array(values) = value else {
        return Err(tera::Error::msg(format!(
            "filter sh_words expects a list, got {value}"
        )));
    };
    let words = values
        .iter()
        .map(|value| sh_filter(value, &HashMap::new()))
        .collect::<tera::Result<Vec<_>>>()?;
    Ok(Value::String(
        words
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

/// A value of rsyncd.conf runs to the end of its line, loses surrounding spaces
/// and expands `%VAR%`: refuse what it cannot hold rather than escape it.
fn rsyncd_filter(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = string_arg(value, "rsyncd")?;
    if text.contains('%') || text.chars().any(char::is_control) || text.trim() != text {
        return Err(tera::Error::msg(format!(
            "{text:?} cannot be written into rsyncd.conf (it has a %, a control character \
             or surrounding spaces); two-environment mode needs a sync path without them"
        )));
    }
    Ok(Value::String(text))
}

/// How long `node-ctl stop` waits for lsyncd's queue to empty, at most: a
/// change waits one delay in the queue, so delays above this lose what is
/// queued at a restart (the README says so).
const MAX_DRAIN_SECS: u32 = 600;
/// Pushes one node runs at once (lsyncd's `maxProcesses`).
const MAX_PUSHES: usize = 4;

#[derive(Serialize, Clone)]
struct Context<'a> {
    version: &'static str,
    env: &'a str,
    node: &'a str,
    install_dir: &'a str,
    source: String,
    synced_dir: String,
    delay: u32,
    targets: &'a [crate::model::desired::PushTarget],
    /// Every node this one reaches over SSH: its peers and, over SSH, the
    /// other environment's nodes.
    ssh_targets: Vec<&'a crate::model::desired::PushTarget>,
    excludes: &'a [String],
    excludes_file: String,
    log_file: String,
    log_dir: String,
    log_dir_rel: &'static str,
    push_record_prefix: &'static str,
    push_log_prefix: &'static str,
    full_startup: &'static str,
    node_ctl_lock: &'static str,
    held_rel: &'static str,
    transfer_prefix: &'static str,
    cutoff_rel: &'static str,
    run_rel: &'static str,
    status_file: String,
    pid_file: &'static str,
    pid_path: String,
    lsyncd_conf: &'static str,
    watchdog_log: &'static str,
    node_ctl: String,
    push_script: String,
    rsh: String,
    key_file: String,
    known_hosts_file: String,
    control_dir: String,
    link: Option<&'a crate::model::desired::LinkConfig>,
    rsyncd_conf: &'static str,
    rsyncd_pid_file: &'static str,
    rsyncd_pid: String,
    rsyncd_log: String,
    secrets_file: String,
    password_file: String,
    auth_user: &'static str,
    daemon_exclude: Option<String>,
    peer_env_record: &'static str,
    ledger: String,
    ledger_rel: &'static str,
    scratch: String,
    cutoff_file: String,
    run_dir: String,
    forward_received: bool,
    backup_dir_arg: String,
    temp_dir_arg: String,
    link_backup_dir_arg: String,
    max_processes: usize,
    status_rel: &'static str,
    trash_rel: &'static str,
    trash_dir: String,
    staging: &'static str,
    incoming_trash: &'static str,
    incoming_temp: &'static str,
    peer_count: usize,
    peer_aliases: String,
    drain_seconds: u32,
    trash_days: u32,
    module: String,
    /// What the ledger's lines of this receiving module start with: `m` (a
    /// peer of this environment) or `l` (the other environment).
    ledger_from: &'static str,
    receive_conf: String,
    receive_hook: String,
    as_root: bool,
}

/// Every file of the installation on this node, in a stable order.
pub fn files(config: &NodeConfig) -> Result<Vec<RenderedFile>> {
    let install = &config.install;
    let context = Context {
        version: VERSION,
        env: &config.env,
        node: &config.node,
        install_dir: install.root(),
        // lsyncd wants the source with a trailing slash to sync its contents.
        source: format!("{}/", config.synced_dir.trim_end_matches('/')),
        synced_dir: config.synced_dir.trim_end_matches('/').to_string(),
        delay: config.settings.delay.secs(),
        targets: &config.targets,
        ssh_targets: config
            .targets
            .iter()
            .chain(config.link.iter().flat_map(|link| &link.targets))
            .collect(),
        excludes: &config.excludes,
        excludes_file: install.join(layout::EXCLUDES),
        log_file: install.join(layout::LOG),
        log_dir: install.join(layout::LOG_DIR),
        log_dir_rel: layout::LOG_DIR,
        push_record_prefix: crate::nodes::push_record::FILE_PREFIX,
        push_log_prefix: crate::nodes::push_record::LOG_PREFIX,
        full_startup: layout::FULL_STARTUP,
        node_ctl_lock: layout::NODE_CTL_LOCK,
        held_rel: layout::HELD,
        transfer_prefix: layout::TRANSFER,
        cutoff_rel: layout::CUTOFF,
        run_rel: layout::RUN_DIR,
        status_file: install.join(layout::STATUS),
        pid_file: layout::PID,
        pid_path: install.join(layout::PID),
        lsyncd_conf: layout::LSYNCD_CONF,
        watchdog_log: layout::WATCHDOG_LOG,
        node_ctl: install.join(layout::NODE_CTL),
        push_script: install.join(layout::PUSH_SCRIPT),
        rsh: format!("ssh -F {}", install.join(layout::SSH_CONFIG)),
        key_file: install.join(layout::SYNC_KEY),
        known_hosts_file: install.join(layout::KNOWN_HOSTS),
        control_dir: install.control_dir(),
        link: config.link.as_ref(),
        rsyncd_conf: layout::RSYNCD_CONF,
        rsyncd_pid_file: layout::RSYNCD_PID,
        rsyncd_pid: install.join(layout::RSYNCD_PID),
        rsyncd_log: install.join(layout::RSYNCD_LOG),
        secrets_file: install.join(layout::RSYNCD_SECRETS),
        password_file: install.join(layout::RSYNCD_PASS),
        auth_user: crate::model::peer_link::AUTH_USER,
        daemon_exclude: daemon_exclude(config),
        peer_env_record: layout::PEER_ENV_RECORD,
        ledger: install.join(layout::LEDGER),
        ledger_rel: layout::LEDGER,
        scratch: install.join(layout::LSYNCD_PATHS),
        cutoff_file: install.join(layout::CUTOFF),
        run_dir: install.join(layout::RUN_DIR),
        forward_received: config.settings.topology == crate::model::settings::Topology::Ring,
        backup_dir_arg: format!(
            "--backup-dir={}/{}",
            layout::INCOMING_TRASH,
            crate::model::desired::safe_name(&config.node)
        ),
        link_backup_dir_arg: format!(
            "--backup-dir={}/link-{}",
            layout::INCOMING_TRASH,
            crate::model::desired::safe_name(&config.node)
        ),
        temp_dir_arg: format!("--temp-dir={}", layout::INCOMING_TEMP),
        max_processes: MAX_PUSHES,
        status_rel: layout::STATUS,
        trash_rel: layout::TRASH,
        trash_dir: install.join(layout::TRASH),
        staging: layout::TRASH_STAGING,
        incoming_trash: layout::INCOMING_TRASH,
        incoming_temp: layout::INCOMING_TEMP,
        peer_count: config.targets.len() + usize::from(config.link.is_some()),
        peer_aliases: config
            .targets
            .iter()
            .map(|t| t.alias.as_str())
            .chain(config.link.as_ref().map(|_| layout::PEER_ENV_RECORD))
            .collect::<Vec<_>>()
            .join(" "),
        drain_seconds: (config.settings.delay.secs() + 30).min(MAX_DRAIN_SECS),
        trash_days: config.settings.trash_days.days(),
        module: crate::model::desired::RECEIVE_MODULE.to_string(),
        ledger_from: "m",
        receive_conf: install.join(layout::RECEIVE_CONF),
        receive_hook: install.join(layout::RECEIVE_HOOK),
        as_root: config.as_root,
    };
    let link_receiving = config.link.as_ref().map(|link| Context {
        module: link.module.clone(),
        ledger_from: "l",
        receive_conf: install.join(layout::LINK_RECEIVE_CONF),
        ..context.clone()
    });
    let context = tera::Context::from_serialize(&context)?;
    let link_receiving = link_receiving
        .map(|context| tera::Context::from_serialize(&context))
        .transpose()?;
    TEMPLATE_FILES
        .iter()
        .filter(|(_, path, _, _)| wanted(config, path))
        .map(|(name, path, mode, _)| {
            let context = match (*path, &link_receiving) {
                (layout::LINK_RECEIVE_CONF, Some(link)) => link,
                _ => &context,
            };
            let content = tera()
                .render(name, context)
                .map_err(|err| anyhow!("rendering {name}: {err:?}"))?;
            Ok(RenderedFile {
                path,
                mode: *mode,
                content,
            })
        })
        .collect()
}

/// What the receiving daemons refuse to write, one rsyncd.conf `exclude`
/// value: `<webroot>/lsyncd` when the whole webroot is synced, and the mount
/// points inside the synced directory (those whose names rsyncd.conf's
/// space-separated list can hold; the senders exclude all of them anyway).
fn daemon_exclude(config: &NodeConfig) -> Option<String> {
    let patterns: Vec<&str> = config
        .excludes
        .iter()
        .map(String::as_str)
        .filter(|pattern| {
            *pattern != crate::model::desired::RSYNC_TEMP_PATTERN
                && *pattern != format!("/{}/", layout::TRASH_STAGING)
                && !pattern.contains(char::is_whitespace)
        })
        .collect();
    (!patterns.is_empty()).then(|| patterns.join(" "))
}

/// The watchdog (every minute) and boot lines of the crontab, tagged.
pub fn crontab_lines(config: &NodeConfig) -> Result<Vec<String>> {
    let ctl = escape::shell_word(&config.install.join(layout::NODE_CTL))?;
    let tag = config.tag();
    [("* * * * *", "check"), ("@reboot", "start")]
        .iter()
        .map(|(when, action)| {
            let command = escape::crontab_command(&format!("{ctl} {action} >/dev/null 2>&1"))?;
            Ok(format!("{when} {command} # {tag}"))
        })
        .collect()
}

/// The command a key is forced into on this node: rsync's daemon mode over
/// SSH with the receiving module of `conf` (this installation's
/// `RECEIVE_CONF` for its peers, `LINK_RECEIVE_CONF` for the other
/// environment's nodes), times in UTC (the ledger's). It ignores whatever
/// command the pusher asks for.
pub fn receive_command(config: &NodeConfig, conf: &str) -> Result<String> {
    Ok(format!(
        "env TZ=UTC0 {} --server --daemon --config={} .",
        escape::shell_word(&config.rsync)?,
        escape::shell_word(&config.install.join(conf))?
    ))
}

/// The authorized_keys entry on this node that admits `pusher`'s sync key (a
/// peer's, or over SSH a node of the other environment, `ENV/NODE`): no
/// shell, no forwarding, only from its addresses, forced into the receiving
/// rsync daemon (which can only write into the synced directory).
pub fn authorized_key_entry(config: &NodeConfig, pusher: &str, key: &str) -> Result<String> {
    Ok(authorized_key_template(config, pusher)?
        .with_key(&crate::plan::authorized_keys::public_key(key)?))
}

/// `authorized_key_entry` but for the key: for a pusher that gets its key
/// later in the run that plans it.
pub fn authorized_key_template(
    config: &NodeConfig,
    pusher: &str,
) -> Result<crate::plan::authorized_keys::EntryTemplate> {
    let peer = config
        .pushers
        .iter()
        .find(|p| p.name == pusher)
        .map(|peer| (&peer.from, layout::RECEIVE_CONF));
    let other = || {
        config
            .link
            .iter()
            .flat_map(|link| &link.pushers)
            .find(|p| p.name == pusher)
            .map(|other| (&other.from, layout::LINK_RECEIVE_CONF))
    };
    let (from, conf) = peer
        .or_else(other)
        .with_context(|| format!("{pusher} does not push to {}", config.node))?;
    let mut options = vec!["restrict".to_string()];
    if !from.is_empty() {
        let from = escape::authorized_keys_option(&from.join(","))?;
        options.push(format!("from=\"{from}\""));
    }
    options.push(format!(
        "command=\"{}\"",
        escape::authorized_keys_option(&receive_command(config, conf)?)?
    ));
    Ok(crate::plan::authorized_keys::EntryTemplate::new(
        options.join(","),
        &config.tag(),
        pusher,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::desired::node_configs;
    use crate::model::desired::tests::{env, facts, settings};
    use crate::model::settings::Topology;

    fn config(path: &str, topology: Topology) -> NodeConfig {
        let env = env(3);
        node_configs(&env, &settings(path, topology), &env.nodes, &facts(&env))
            .remove("n1")
            .unwrap()
    }

    fn file(files: &[RenderedFile], path: &str) -> String {
        files
            .iter()
            .find(|f| f.path == path)
            .unwrap()
            .content
            .clone()
    }

    #[test]
    fn renders_every_file_for_a_mesh_node() {
        let files = files(&config("/ROOT/wp-content", Topology::Mesh)).unwrap();
        for f in &files {
            insta::assert_snapshot!(format!("mesh_{}", f.path.replace('/', "_")), f.content);
        }
    }

    pub(crate) fn linked(path: &str, allow: &[&str]) -> NodeConfig {
        let env = env(2);
        let mut settings = settings(path, Topology::Mesh);
        settings.link = Some(crate::model::peer_link::PeerLink::to_daemons(
            crate::model::peer_link::parse_peer("10.2.0.11").unwrap(),
            vec![crate::model::peer_link::parse_peer("10.2.0.12").unwrap()],
            allow.iter().map(|a| a.to_string()).collect(),
        ));
        node_configs(&env, &settings, &env.nodes, &facts(&env))
            .remove("n1")
            .unwrap()
    }

    #[test]
    fn renders_the_daemon_and_the_push_to_the_other_environment() {
        let files = files(&linked("/ROOT/wp-content", &["10.2.0.0/24", "10.2.1.5"])).unwrap();
        let conf = file(&files, layout::RSYNCD_CONF);
        insta::assert_snapshot!("linked_rsyncd.conf", conf);
        assert!(conf.contains("hosts allow = 10.2.0.0/24 10.2.1.5\n    hosts deny = *\n"));
        assert!(conf.contains("\nuid = root\n"));
        assert!(conf.contains("\n    use chroot = yes\n"));
        assert!(
            conf.contains("\n    log format = l|"),
            "the ledger tells the link's pushes apart"
        );
        let lsyncd = file(&files, layout::LSYNCD_CONF);
        insta::assert_snapshot!("linked_lsyncd.conf", lsyncd);
        let pass = format!(
            "password_file = \"{}\",",
            install().join(layout::RSYNCD_PASS)
        );
        assert!(lsyncd.contains(&pass), "{pass}");
        let ctl = file(&files, layout::NODE_CTL);
        insta::assert_snapshot!("linked_node-ctl", ctl);
        // the link's pushes go on to the next node of the other environment
        insta::assert_snapshot!("linked_rsync-push", file(&files, layout::PUSH_SCRIPT));
        assert!(ctl.contains("rsync --daemon --config=\"$INSTALL/etc/rsyncd.conf\" 9>&-"));
    }

    /// Node n1 (of two) linked over SSH to two nodes of `staging`, the second
    /// without a sync key yet.
    pub(crate) fn linked_over_ssh() -> NodeConfig {
        let env = env(2);
        let mut settings = settings("/ROOT/wp-content", Topology::Mesh);
        let node = |name: &str, ip: &str, key: Option<&str>| crate::model::peer_link::LinkNode {
            name: name.into(),
            address: crate::model::peer_link::parse_peer(&format!("{ip}:22")).unwrap(),
            user: "web".into(),
            host_keys: vec![format!("ssh-ed25519 HOST{name}")],
            key: key.map(String::from),
            from: vec![ip.into()],
        };
        let nodes = vec![
            node("n1", "10.2.0.11", Some("ssh-ed25519 SYNCn1")),
            node("n2", "10.2.0.12", None),
        ];
        let mut link = crate::model::peer_link::PeerLink::to_daemons(
            nodes[0].address.clone(),
            vec![nodes[1].address.clone()],
            vec!["10.2.9.0/24".into()],
        );
        link.transport = Transport::Ssh;
        link.nodes = nodes;
        link.peer_env = Some("staging".into());
        settings.link = Some(link);
        node_configs(&env, &settings, &env.nodes, &facts(&env))
            .remove("n2")
            .unwrap()
    }

    #[test]
    fn over_ssh_the_link_pushes_with_the_sync_key_and_admits_the_other_sides_keys() {
        let config = linked_over_ssh();
        let files = files_of(&config);
        let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        assert!(paths.contains(&layout::LINK_RECEIVE_CONF), "{paths:?}");
        assert!(
            !paths.contains(&layout::RSYNCD_CONF),
            "no daemon: {paths:?}"
        );
        let receive = file(&files, layout::LINK_RECEIVE_CONF);
        insta::assert_snapshot!("ssh_link_receive.conf", receive);
        assert!(receive.contains("\n    log format = l|"), "{receive}");
        let module = crate::model::desired::module(&config.settings.path);
        assert!(receive.contains(&format!("\n[{module}]\n")), "{receive}");
        // n2 starts at the other side's second node, then goes on to the first
        let lsyncd = file(&files, layout::LSYNCD_CONF);
        insta::assert_snapshot!("ssh_link_lsyncd.conf", lsyncd);
        let link = config.link.as_ref().unwrap();
        assert_eq!(
            link.push_to,
            [
                format!("filesync.link-10.2.0.12-22::{module}/"),
                format!("filesync.link-10.2.0.11-22::{module}/")
            ]
        );
        assert!(!lsyncd.contains("password_file"), "{lsyncd}");
        let ssh = file(&files, layout::SSH_CONFIG);
        assert!(
            ssh.contains(
                "Host filesync.link-10.2.0.11-22\n    HostName 10.2.0.11\n    Port 22\n    \
                 User web\n    HostKeyAlias filesync.link-10.2.0.11-22\n    ControlMaster no\n"
            ),
            "{ssh}"
        );
        let known = file(&files, layout::KNOWN_HOSTS);
        assert!(
            known.contains("filesync.link-10.2.0.12-22 ssh-ed25519 HOSTn2\n"),
            "{known}"
        );
        let push = file(&files, layout::PUSH_SCRIPT);
        assert!(push.contains("case \"$tried\" in 5 | 255)"), "{push}");
        assert!(!file(&files, layout::NODE_CTL).contains("rsync --daemon --config"));
        // only the node with a key is admitted, from its address and --allow
        assert_eq!(link.pushers.len(), 1);
        let entry = authorized_key_entry(&config, "staging/n1", "ssh-ed25519 SYNCn1").unwrap();
        let conf = install().join(layout::LINK_RECEIVE_CONF);
        assert_eq!(
            entry,
            format!(
                "restrict,from=\"10.2.0.11,10.2.9.0/24\",command=\"env TZ=UTC0 /usr/bin/rsync \
                 --server --daemon --config={conf} .\" ssh-ed25519 SYNCn1 \
                 filesync:/var/www/webroot/lsyncd:staging/n1"
            )
        );
        assert!(authorized_key_entry(&config, "staging/n2", "ssh-ed25519 X").is_err());
    }

    #[test]
    fn an_open_daemon_has_no_host_list_and_mode_one_has_no_daemon() {
        let files = files(&linked("/", &[])).unwrap();
        let conf = file(&files, layout::RSYNCD_CONF);
        assert!(!conf.contains("hosts allow"));
        // Syncing the whole webroot: the daemon refuses writes into the install dir.
        assert!(
            conf.contains("    exclude = *[[:cntrl:]]* /lsyncd/\n"),
            "{conf}"
        );
        let one = files_of(&config("/ROOT", Topology::Mesh));
        assert!(!one.iter().any(|f| f.path == layout::RSYNCD_CONF));
        assert!(!file(&one, layout::NODE_CTL).contains("rsync --daemon --config"));
    }

    #[test]
    fn rsyncd_conf_values_it_cannot_hold_are_refused() {
        for bad in ["a%b", "a\nb", " a"] {
            let err = rsyncd_filter(&Value::String(bad.into()), &HashMap::new()).unwrap_err();
            assert!(
                err.to_string()
                    .contains("cannot be written into rsyncd.conf"),
                "{bad:?}"
            );
        }
        assert!(rsyncd_filter(&Value::String("/var/www/it's".into()), &HashMap::new()).is_ok());
    }

    /// The installation every test config renders for.
    fn install() -> crate::nodes::layout::InstallDir {
        crate::nodes::layout::InstallDir::under_webroot("/var/www/webroot")
    }

    fn files_of(config: &NodeConfig) -> Vec<RenderedFile> {
        files(config).unwrap()
    }

    #[test]
    fn renders_a_ring_node_with_one_target() {
        let files = files(&config("/ROOT/wp-content", Topology::Ring)).unwrap();
        let conf = file(&files, layout::LSYNCD_CONF);
        assert_eq!(conf.matches("sync {").count(), 1);
        insta::assert_snapshot!("ring_lsyncd.conf", conf);
    }

    #[test]
    fn hostile_paths_stay_inside_lua_strings() {
        let hostile = "/ROOT/a\"b'c]]--d $(id) \\e";
        let files = files(&config(hostile, Topology::Mesh)).unwrap();
        let conf = file(&files, layout::LSYNCD_CONF);
        insta::assert_snapshot!("hostile_lsyncd.conf", conf);
        assert!(conf.contains(r#"source = "/var/www/webroot/ROOT/a\"b'c]]--d $(id) \\e/","#));
    }

    #[test]
    fn crontab_lines_are_tagged_and_escaped() {
        let config = config("/ROOT", Topology::Mesh);
        let ctl = config.install.join(layout::NODE_CTL);
        assert_eq!(
            crontab_lines(&config).unwrap(),
            [
                format!("* * * * * {ctl} check >/dev/null 2>&1 # filesync:/var/www/webroot/lsyncd"),
                format!("@reboot {ctl} start >/dev/null 2>&1 # filesync:/var/www/webroot/lsyncd"),
            ]
        );
    }

    #[test]
    fn authorized_key_entry_forces_the_receiving_daemon_from_the_pusher_only() {
        let config = config("/ROOT/it's \"x\"", Topology::Mesh);
        let entry =
            authorized_key_entry(&config, "n2", "ssh-ed25519 AAAAC3Nza+/= root@n2\n").unwrap();
        let conf = config.install.join(layout::RECEIVE_CONF);
        assert_eq!(
            entry,
            format!(
                "restrict,from=\"10.1.0.2\",command=\"env TZ=UTC0 /usr/bin/rsync --server --daemon \
                 --config={conf} .\" ssh-ed25519 AAAAC3Nza+/= filesync:/var/www/webroot/lsyncd:n2"
            )
        );
        assert!(authorized_key_entry(&config, "n9", "ssh-ed25519 AAAA").is_err());
    }

    #[test]
    fn the_receiving_module_is_the_synced_dir_confined_and_logged() {
        let files = files(&config("/ROOT/wp-content", Topology::Mesh)).unwrap();
        let conf = file(&files, layout::RECEIVE_CONF);
        insta::assert_snapshot!("mesh_receive.conf", conf);
        assert!(conf.contains("\n    path = /var/www/webroot/ROOT/wp-content\n"));
        assert!(conf.contains("\n    write only = yes\n"));
        assert!(conf.contains("\n    use chroot = yes\n"));
        assert!(conf.contains("refuse options = D devices specials"));
    }
}
