//! Renders an installation's files, crontab lines and authorized_keys entries for
//! one node from its `NodeConfig`. Pure. Templates are compiled into the binary;
//! every value goes through a filter that escapes it for the target language
//! (`lua`, `sh`) or was validated to need none (hosts, users, the webroot).

use crate::desired::NodeConfig;
use crate::escape;
use crate::layout;
use anyhow::{anyhow, bail, Context as _, Result};
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

const PUSH_SCRIPT: &str = "bin/rsync-push";

/// The rendered files: template name, path in the install directory, mode, template text.
pub const TEMPLATE_FILES: [(&str, &str, u32, &str); 6] = [
    (
        "lsyncd.conf",
        layout::LSYNCD_CONF,
        0o644,
        include_str!("../templates/lsyncd.conf.tera"),
    ),
    (
        "ssh_config",
        layout::SSH_CONFIG,
        0o644,
        include_str!("../templates/ssh_config.tera"),
    ),
    (
        "known_hosts",
        layout::KNOWN_HOSTS,
        0o644,
        include_str!("../templates/known_hosts.tera"),
    ),
    (
        "node-ctl",
        layout::NODE_CTL,
        0o755,
        include_str!("../templates/node-ctl.sh.tera"),
    ),
    (
        "rsync-push",
        PUSH_SCRIPT,
        0o755,
        include_str!("../templates/rsync-push.sh.tera"),
    ),
    (
        "rsyncd.conf",
        layout::RSYNCD_CONF,
        0o644,
        include_str!("../templates/rsyncd.conf.tera"),
    ),
];

/// Whether a template's file belongs on a node with this configuration: the rsync
/// daemon's only in two-environment mode.
pub fn wanted(config: &NodeConfig, path: &str) -> bool {
    path != layout::RSYNCD_CONF || config.link.is_some()
}

fn tera() -> &'static Tera {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        for (name, _, _, text) in TEMPLATE_FILES {
            tera.add_raw_template(name, text)
                .unwrap_or_else(|err| panic!("built-in template {name} is invalid: {err:?}"));
        }
        tera.register_filter("lua", lua_filter);
        tera.register_filter("sh", sh_filter);
        tera.register_filter("rsyncd", rsyncd_filter);
        tera
    })
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

#[derive(Serialize)]
struct Context<'a> {
    version: &'static str,
    env: &'a str,
    node: &'a str,
    install_dir: &'a str,
    source: String,
    delay: u32,
    targets: &'a [crate::desired::PushTarget],
    excludes: &'a [String],
    excludes_file: String,
    log_file: String,
    log_dir: String,
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
    link: Option<&'a crate::desired::LinkConfig>,
    rsyncd_conf: &'static str,
    rsyncd_pid_file: &'static str,
    rsyncd_pid: String,
    rsyncd_log: String,
    secrets_file: String,
    password_file: String,
    auth_user: &'static str,
    daemon_exclude: Option<String>,
    peer_env_record: &'static str,
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
        source: format!("{}/", config.source.trim_end_matches('/')),
        delay: config.settings.delay.secs(),
        targets: &config.targets,
        excludes: &config.excludes,
        excludes_file: install.join(layout::EXCLUDES),
        log_file: install.join(layout::LOG),
        log_dir: install.join("var/log"),
        status_file: install.join(layout::STATUS),
        pid_file: layout::PID,
        pid_path: install.join(layout::PID),
        lsyncd_conf: layout::LSYNCD_CONF,
        watchdog_log: layout::WATCHDOG_LOG,
        node_ctl: install.join(layout::NODE_CTL),
        push_script: install.join(PUSH_SCRIPT),
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
        auth_user: crate::peer_link::AUTH_USER,
        daemon_exclude: install
            .relative_to(&config.source)
            .map(|dir| format!("{dir}/")),
        peer_env_record: layout::PEER_ENV_RECORD,
    };
    let context = tera::Context::from_serialize(&context)?;
    TEMPLATE_FILES
        .iter()
        .filter(|(_, path, _, _)| wanted(config, path))
        .map(|(name, path, mode, _)| {
            let content = tera()
                .render(name, &context)
                .map_err(|err| anyhow!("rendering {name}: {err:?}"))?;
            Ok(RenderedFile {
                path,
                mode: *mode,
                content,
            })
        })
        .collect()
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

/// A public key as `type base64`, checked so that nothing else can ride along
/// into an authorized_keys line.
pub fn public_key(text: &str) -> Result<String> {
    let mut fields = text.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        bail!("not an SSH public key: {text:?}");
    };
    let kind_ok = kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-@.".contains(c));
    let blob_ok = blob
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if !kind_ok || !blob_ok {
        bail!("not an SSH public key: {text:?}");
    }
    Ok(format!("{kind} {blob}"))
}

/// The authorized_keys entry on this node that admits `pusher`'s sync key:
/// no shell, no forwarding, only from its addresses, and confined to the synced
/// directory by rrsync where the node has it.
pub fn authorized_key_entry(config: &NodeConfig, pusher: &str, key: &str) -> Result<String> {
    let admitted = config
        .pushers
        .iter()
        .find(|p| p.name == pusher)
        .with_context(|| format!("{pusher} does not push to {}", config.node))?;
    let mut options = vec!["restrict".to_string()];
    if !admitted.from.is_empty() {
        let from = escape::authorized_keys_option(&admitted.from.join(","))?;
        options.push(format!("from=\"{from}\""));
    }
    if let Some(rrsync) = &config.rrsync {
        let command = format!(
            "{} -wo -no-lock -absolute {}",
            escape::shell_word(rrsync)?,
            escape::shell_word(&config.source)?
        );
        options.push(format!(
            "command=\"{}\"",
            escape::authorized_keys_option(&command)?
        ));
    }
    Ok(format!(
        "{} {} {}",
        options.join(","),
        public_key(key)?,
        crate::authorized_keys::comment(&config.tag(), pusher)
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::desired::node_configs;
    use crate::desired::tests::{env, facts, settings};
    use crate::settings::Topology;

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
        settings.link = Some(crate::peer_link::PeerLink {
            peer: crate::peer_link::parse_peer("10.2.0.11").unwrap(),
            allow: allow.iter().map(|a| a.to_string()).collect(),
            peer_env: None,
        });
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
        let lsyncd = file(&files, layout::LSYNCD_CONF);
        insta::assert_snapshot!("linked_lsyncd.conf", lsyncd);
        assert!(lsyncd.contains("password_file = \"/var/www/webroot/lsyncd/etc/rsyncd.pass\","));
        let ctl = file(&files, layout::NODE_CTL);
        insta::assert_snapshot!("linked_node-ctl", ctl);
        assert!(ctl.contains("rsync --daemon --config=\"$INSTALL/etc/rsyncd.conf\""));
    }

    #[test]
    fn an_open_daemon_has_no_host_list_and_mode_one_has_no_daemon() {
        let files = files(&linked("/", &[])).unwrap();
        let conf = file(&files, layout::RSYNCD_CONF);
        assert!(!conf.contains("hosts allow"));
        // Syncing the whole webroot: the daemon refuses writes into the install dir.
        assert!(conf.contains("    exclude = /lsyncd/\n"), "{conf}");
        let one = files_of(&config("/ROOT", Topology::Mesh));
        assert!(!one.iter().any(|f| f.path == layout::RSYNCD_CONF));
        assert!(!file(&one, layout::NODE_CTL).contains("rsync --daemon --config"));
    }

    #[test]
    fn a_path_rsyncd_conf_cannot_hold_is_refused_in_mode_two_only() {
        let err = files(&linked("/ROOT/100%", &[])).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot be written into rsyncd.conf"),
            "{err:#}"
        );
        assert!(files(&config("/ROOT/100%", Topology::Mesh)).is_ok());
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
        let hostile = "/ROOT/a\"b'c]]--%d $(id) \\e";
        let files = files(&config(hostile, Topology::Mesh)).unwrap();
        let conf = file(&files, layout::LSYNCD_CONF);
        insta::assert_snapshot!("hostile_lsyncd.conf", conf);
        assert!(conf.contains(r#"source = "/var/www/webroot/ROOT/a\"b'c]]--%d $(id) \\e/","#));
    }

    #[test]
    fn crontab_lines_are_tagged_and_escaped() {
        let lines = crontab_lines(&config("/ROOT", Topology::Mesh)).unwrap();
        assert_eq!(
            lines,
            [
                "* * * * * /var/www/webroot/lsyncd/bin/node-ctl check >/dev/null 2>&1 # filesync:/var/www/webroot/lsyncd",
                "@reboot /var/www/webroot/lsyncd/bin/node-ctl start >/dev/null 2>&1 # filesync:/var/www/webroot/lsyncd",
            ]
        );
    }

    #[test]
    fn authorized_key_entry_is_restricted_to_the_pusher_and_the_synced_dir() {
        let entry = authorized_key_entry(
            &config("/ROOT/it's \"x\"", Topology::Mesh),
            "n2",
            "ssh-ed25519 AAAAC3Nza+/= root@n2\n",
        )
        .unwrap();
        assert_eq!(
            entry,
            r#"restrict,from="10.1.0.2",command="/usr/bin/rrsync -wo -no-lock -absolute \"/var/www/webroot/ROOT/it's \\"x\\"\"" ssh-ed25519 AAAAC3Nza+/= filesync:/var/www/webroot/lsyncd:n2"#
        );
    }

    #[test]
    fn authorized_key_entry_without_rrsync_still_restricts() {
        let mut config = config("/ROOT", Topology::Mesh);
        config.rrsync = None;
        let entry = authorized_key_entry(&config, "n3", "ssh-ed25519 AAAA").unwrap();
        assert_eq!(
            entry,
            r#"restrict,from="10.1.0.3" ssh-ed25519 AAAA filesync:/var/www/webroot/lsyncd:n3"#
        );
        assert!(authorized_key_entry(&config, "n9", "ssh-ed25519 AAAA").is_err());
    }

    #[test]
    fn public_keys_with_extra_options_are_refused() {
        assert!(public_key("ssh-ed25519 AAAA\" command=\"sh").is_err());
        assert!(public_key("ssh-ed25519").is_err());
        assert_eq!(
            public_key("ssh-ed25519 AAAA c").unwrap(),
            "ssh-ed25519 AAAA"
        );
    }
}
