//! What nodes and the platform say is input. Generated values (near-valid ones
//! and troublesome characters) go into every field of a probe, a state file
//! and the platform's answers: whatever the parsers accept must be safe to
//! write into ssh_config, authorized_keys, lsyncd.conf and shell commands, and
//! both accepting and refusing must happen (the generator really explores).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use filesync::nodes::state::NodeState;
use filesync::source::platform::{read_environment, read_environments, Route};
use serde_json::{json, Value};

/// Characters that end, quote, comment or expand something in one of the
/// languages these values reach (ssh_config, authorized_keys, sh, Lua).
const UNSAFE: &str = " \"'`$;&|<>(){}*?!#\\,~";

/// `count` values: generated ones, and the same appended to a valid `stem`.
fn values(count: usize, alphabet: &str, stem: &str) -> Vec<String> {
    let generated = crate::support::generated::strings(count, alphabet, 12);
    let near: Vec<String> = generated
        .iter()
        .map(|tail| format!("{stem}{tail}"))
        .collect();
    generated.into_iter().chain(near).collect()
}

/// A value that stays one plain word wherever it is written.
fn assert_word(what: &str, value: &str) {
    assert!(!value.starts_with('-'), "{what} {value:?} was accepted");
    assert_plain(what, value);
}

/// A value that cannot end, quote, comment or expand anything (a key, written
/// into files but never into a command line).
fn assert_plain(what: &str, value: &str) {
    assert!(
        !value.is_empty() && !value.chars().any(|c| c.is_control() || UNSAFE.contains(c)),
        "{what} {value:?} was accepted"
    );
}

/// Counts the values `parse` accepts, checking each with `safe`, and that
/// some are accepted and some refused.
fn explore<T>(what: &str, values: &[String], parse: impl Fn(&str) -> Option<T>, safe: impl Fn(&T)) {
    let accepted = values
        .iter()
        .filter_map(|value| parse(value))
        .inspect(|parsed| safe(parsed))
        .count();
    assert!(
        accepted > 0 && accepted < values.len(),
        "{what}: {accepted} of {} accepted; the generator explores nothing",
        values.len()
    );
}

fn probe(key: &str, value: &str) -> String {
    [("user", "root"), ("home", "/root"), (key, value)]
        .iter()
        .map(|(key, value)| format!("{key}\t{}\n", STANDARD.encode(value)))
        .collect()
}

#[test]
fn what_a_probe_accepts_is_safe_for_the_peers() {
    let alphabet = "az_.-$0 \n\r\t\"'`;#%/A\u{0}\u{1b}é";
    explore(
        "user",
        &values(300, alphabet, "www"),
        |user| filesync::nodes::probe::parse(&probe("user", user), None).ok(),
        |seen| {
            // ssh_config expands `${VAR}`; a final `$` (machine accounts) is literal.
            let user = seen.user.strip_suffix('$').unwrap_or(&seen.user);
            assert_word("user", user);
            assert!(
                user.len() < 32 && !user.contains(['%', '/', '@', ':']),
                "{user:?}"
            );
        },
    );
    explore(
        "home",
        &values(300, alphabet, "/home/"),
        |home| filesync::nodes::probe::parse(&probe("home", home), None).ok(),
        |seen| {
            assert!(seen.home.starts_with('/'), "{:?}", seen.home);
            assert!(!seen.home.chars().any(char::is_control), "{:?}", seen.home);
            assert!(
                !seen.home.split('/').any(|part| part == ".."),
                "{:?}",
                seen.home
            );
        },
    );
    explore(
        "sync key",
        &values(300, "AZaz09+/= \n\t\",-@", "ssh-ed25519 "),
        |key| filesync::nodes::probe::parse(&probe("sync_key_pub", key), None).ok(),
        |seen| {
            let key = seen.sync_key.as_deref().unwrap();
            let fields: Vec<&str> = key.split(' ').collect();
            assert_eq!(fields.len(), 2, "{key:?}");
            fields
                .iter()
                .for_each(|field| assert_plain("sync key", field));
        },
    );
}

/// A state as filesync writes it, with a link and a member.
fn state() -> Value {
    json!({
        "format": 1,
        "filesync_version": "0.1.0",
        "env": "prod",
        "node": "n1",
        "settings": {
            "path": "/ROOT", "delay": 10, "topology": "mesh", "trash_days": 7,
            "link": {"peer": {"host": "10.2.0.11", "port": 7755}, "allow": ["10.2.0.0/24"],
                     "peer_env": "us"}
        },
        "targets": ["n2"],
        "pushers": ["n2"],
        "files": {},
        "members": [{"name": "n2", "ssh": "root@10.1.0.12:22", "address": "10.1.0.12:22"}]
    })
}

/// Every string of a state that is not the synced path is a plain word; the
/// path (which may hold spaces and quotes, escaped where it is written) has
/// no control character, `%` or `..`.
fn assert_safe_state(state: &NodeState) {
    let mut json: Value = serde_json::from_str(&state.to_json()).unwrap();
    let path = json["settings"]["path"].take();
    let path = path.as_str().unwrap();
    assert!(
        !path.chars().any(char::is_control) && !path.contains('%'),
        "{path:?}"
    );
    assert!(!path.split('/').any(|part| part == ".."), "{path:?}");
    fn walk(value: &Value) {
        match value {
            Value::String(text) => assert_word("state value", text),
            Value::Array(items) => items.iter().for_each(walk),
            Value::Object(fields) => fields.iter().for_each(|(key, value)| {
                assert_word("state key", key);
                walk(value);
            }),
            _ => {}
        }
    }
    walk(&json);
}

#[test]
fn what_a_state_file_accepts_is_safe() {
    let alphabet = "az09.-_:@/[]% \n\"'`$;#\\\u{1}";
    for (pointer, stem) in [
        ("/env", "prod"),
        ("/node", "n1"),
        ("/filesync_version", "0.1."),
        ("/targets/0", "n"),
        ("/pushers/0", "n"),
        ("/members/0/name", "n"),
        ("/members/0/ssh", "root@10.1.0."),
        ("/members/0/address", "10.1.0."),
        ("/settings/path", "/ROOT/"),
        ("/settings/link/peer/host", "10.2.0."),
        ("/settings/link/allow/0", "10.2.0.0/2"),
        ("/settings/link/peer_env", "us"),
    ] {
        explore(
            pointer,
            &values(200, alphabet, stem),
            |value| {
                let mut json = state();
                *json.pointer_mut(pointer).unwrap() = value.into();
                NodeState::from_json(&json.to_string()).ok()
            },
            assert_safe_state,
        );
    }
}

#[test]
fn what_the_platform_answers_is_safe() {
    let alphabet = "az09.-_:[]% \n\"'`$;#\\";
    explore(
        "environment name",
        &values(300, alphabet, "shop"),
        |name| {
            read_environments(
                &json!({"result": 0, "infos": [{"env": {"envName": name, "status": 1}}]}),
            )
            .ok()
        },
        |listed| {
            listed
                .iter()
                .for_each(|env| assert_word("environment", &env.name))
        },
    );
    let direct = Route::Direct { user: "root" };
    explore(
        "node address",
        &values(300, "0123456789abcdef.:%[] \n-;x", "10.0.0."),
        |address| {
            let answer = json!({"result": 0, "env": {"status": 1}, "nodes": [
                {"id": 7, "nodeGroup": "cp", "status": 1, "intIP": address}]});
            read_environment(&answer, "shop", "cp", &direct, "/var/www/webroot")
                .ok()
                .filter(|env| !env.nodes.is_empty())
        },
        |env| {
            for node in &env.nodes {
                assert_word("node name", &node.name);
                assert_word("ssh destination", &node.ssh.to_string());
                assert!(node.address.host.parse::<std::net::IpAddr>().is_ok());
            }
        },
    );
}
