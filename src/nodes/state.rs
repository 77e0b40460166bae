//! The state file each node keeps (`<install>/state.json`): what was installed
//! there, without secrets, so that any operator machine can plan, report on and
//! remove the installation. Pure (de)serialization: written as the plan's
//! `to_json` (uploaded by apply), read with `from_json` from the probe and
//! `remote::read_state`. What a node says is input: every value is checked as
//! it is read (`untrusted`), and a state with one that fails is refused whole.

use crate::model::desired::{Member, NodeConfig};
use crate::model::settings::Settings;
use crate::nodes::untrusted;
use crate::render::RenderedFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub format: u32,
    #[serde(deserialize_with = "untrusted::filesync_version")]
    pub filesync_version: String,
    #[serde(deserialize_with = "untrusted::environment_name")]
    pub env: String,
    #[serde(deserialize_with = "untrusted::node_name")]
    pub node: String,
    pub settings: Settings,
    /// Nodes this node pushes to.
    #[serde(deserialize_with = "untrusted::node_names")]
    pub targets: Vec<String>,
    /// Nodes admitted to push to this node.
    #[serde(deserialize_with = "untrusted::node_names")]
    pub pushers: Vec<String>,
    /// SHA-256 of each rendered file, by path in the install directory.
    #[serde(deserialize_with = "untrusted::file_digests")]
    pub files: BTreeMap<String, String>,
    /// Every node of the installation, with how to reach it.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// Why a state file was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not JSON (truncated, overwritten): it says nothing, and is treated as absent.
    #[error("unreadable state file: {0}")]
    Unreadable(String),
    /// JSON with a value that fails its check: possibly hostile, never used.
    #[error("state file refused: {0}")]
    Refused(String),
}

impl NodeState {
    pub fn new(config: &NodeConfig, files: &[RenderedFile]) -> Self {
        NodeState {
            format: FORMAT,
            filesync_version: crate::render::VERSION.to_string(),
            env: config.env.clone(),
            node: config.node.clone(),
            settings: config.settings.clone(),
            targets: config.targets.iter().map(|t| t.name.clone()).collect(),
            pushers: config.pushers.iter().map(|p| p.name.clone()).collect(),
            files: files
                .iter()
                .map(|file| {
                    (
                        file.path.to_string(),
                        crate::digest::hex(file.content.as_bytes()),
                    )
                })
                .collect(),
            members: config.members.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("state serializes");
        json.push('\n');
        json
    }

    pub fn from_json(text: &str) -> Result<Self, StateError> {
        serde_json::from_str(text).map_err(|err| match err.classify() {
            serde_json::error::Category::Data => StateError::Refused(err.to_string()),
            _ => StateError::Unreadable(err.to_string()),
        })
    }

    /// The rendered files whose content on the node no longer matches what was
    /// installed (edited by hand, or missing).
    pub fn drifted(&self, on_node: &BTreeMap<String, String>) -> Vec<String> {
        self.files
            .iter()
            .filter(|(path, digest)| {
                on_node
                    .get(path.as_str())
                    .map(|content| crate::digest::hex(content.as_bytes()))
                    .as_deref()
                    != Some(digest.as_str())
            })
            .map(|(path, _)| path.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::desired::node_configs;
    use crate::model::desired::tests::{env, facts, settings};
    use crate::model::settings::Topology;

    #[test]
    fn state_records_settings_peers_and_digests_and_round_trips() {
        let env = env(2);
        let config = node_configs(
            &env,
            &settings("/ROOT", Topology::Mesh),
            &env.nodes,
            &facts(&env),
        )
        .remove("n1")
        .unwrap();
        let files = crate::render::files(&config).unwrap();
        let state = NodeState::new(&config, &files);
        assert_eq!(state.targets, ["n2"]);
        assert_eq!(state.pushers, ["n2"]);
        assert_eq!(state.files.len(), files.len());
        assert_eq!(NodeState::from_json(&state.to_json()).unwrap(), state);

        let mut on_node: BTreeMap<String, String> = files
            .iter()
            .map(|f| (f.path.to_string(), f.content.clone()))
            .collect();
        assert!(state.drifted(&on_node).is_empty());
        on_node.insert("etc/lsyncd.conf".into(), "edited".into());
        on_node.remove("etc/known_hosts");
        assert_eq!(
            state.drifted(&on_node),
            ["etc/known_hosts", "etc/lsyncd.conf"]
        );
    }

    #[test]
    fn a_corrupt_state_file_is_reported_not_trusted() {
        let err = NodeState::from_json("{").unwrap_err();
        assert!(matches!(err, StateError::Unreadable(_)), "{err}");
        assert!(err.to_string().contains("unreadable state file"));
    }

    /// A state as this version writes it, with a link and a member.
    fn valid() -> serde_json::Value {
        serde_json::json!({
            "format": 1,
            "filesync_version": "0.1.0",
            "env": "prod",
            "node": "n1",
            "settings": {
                "path": "/ROOT/wp-content", "delay": 10, "topology": "mesh", "trash_days": 7,
                "link": {
                    "peer": {"host": "10.2.0.11", "port": 7755},
                    "allow": ["10.2.0.0/24"],
                    "peer_env": "prod-us"
                }
            },
            "targets": ["n2"],
            "pushers": ["n2"],
            "files": {"etc/lsyncd.conf": crate::digest::hex(b"x")},
            "members": [{"name": "n2", "ssh": "root@10.1.0.12:22", "address": "10.1.0.12:22"}]
        })
    }

    #[test]
    fn hostile_values_refuse_the_whole_state_and_say_which() {
        let state = NodeState::from_json(&valid().to_string()).unwrap();
        assert_eq!(NodeState::from_json(&state.to_json()).unwrap(), state);
        let injection = "n2\n ProxyCommand sh -c id";
        let cases = [
            ("/env", serde_json::json!("prod\nx"), "environment name"),
            ("/env", serde_json::json!(""), "environment name"),
            (
                "/node",
                serde_json::json!("n1 -oProxyCommand=id"),
                "node name",
            ),
            ("/node", serde_json::json!("a".repeat(65)), "node name"),
            (
                "/filesync_version",
                serde_json::json!("1\n]]"),
                "filesync version",
            ),
            ("/targets/0", serde_json::json!(injection), "node name"),
            ("/pushers/0", serde_json::json!("'n2'"), "node name"),
            ("/members/0/name", serde_json::json!("../n2"), "node name"),
            ("/members/0/ssh", serde_json::json!("root\n@h"), "SSH user"),
            (
                "/members/0/ssh",
                serde_json::json!("-oProxyCommand=id"),
                "host name",
            ),
            (
                "/members/0/address",
                serde_json::json!("h\"; rm -rf /"),
                "host name",
            ),
            ("/members/0/address", serde_json::json!("h:0"), "port"),
            (
                "/settings/path",
                serde_json::json!("/ROOT/../../etc"),
                "leaves the webroot",
            ),
            (
                "/settings/delay",
                serde_json::json!(0),
                "every single event",
            ),
            (
                "/settings/trash_days",
                serde_json::json!(100000),
                "--trash-days",
            ),
            (
                "/settings/topology",
                serde_json::json!("star"),
                "unknown variant",
            ),
            (
                "/settings/link/peer/host",
                serde_json::json!("x\n]] os.execute('id') --[["),
                "host name",
            ),
            (
                "/settings/link/peer/host",
                serde_json::json!(" "),
                "host name",
            ),
            ("/settings/link/peer/port", serde_json::json!(0), "port"),
            (
                "/settings/link/allow/0",
                serde_json::json!("0.0.0.0/0 x"),
                "--allow",
            ),
            (
                "/settings/link/allow/0",
                serde_json::json!("10.0.0.0/99"),
                "prefix",
            ),
            (
                "/settings/link/peer_env",
                serde_json::json!("us\n"),
                "environment name",
            ),
        ];
        for (pointer, value, why) in cases {
            let mut hostile = valid();
            *hostile.pointer_mut(pointer).unwrap() = value.clone();
            let err = NodeState::from_json(&hostile.to_string()).unwrap_err();
            assert!(matches!(err, StateError::Refused(_)), "{pointer}: {err}");
            assert!(err.to_string().contains(why), "{pointer} = {value}: {err}");
        }
        let mut hostile = valid();
        hostile["files"] = serde_json::json!({"../../etc/passwd": crate::digest::hex(b"x")});
        let err = NodeState::from_json(&hostile.to_string()).unwrap_err();
        assert!(
            err.to_string().contains("not a file of the installation"),
            "{err}"
        );
    }
}
