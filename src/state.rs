//! The state file each node keeps (`<install>/state.json`): what was installed
//! there, without secrets, so that any operator machine can plan, report on and
//! remove the installation. Pure (de)serialization.

use crate::desired::{Member, NodeConfig};
use crate::render::RenderedFile;
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub format: u32,
    pub filesync_version: String,
    pub env: String,
    pub node: String,
    pub settings: Settings,
    /// Nodes this node pushes to.
    pub targets: Vec<String>,
    /// Nodes admitted to push to this node.
    pub pushers: Vec<String>,
    /// SHA-256 of each rendered file, by path in the install directory.
    pub files: BTreeMap<String, String>,
    /// Every node of the installation, with how to reach it.
    #[serde(default)]
    pub members: Vec<Member>,
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

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|err| format!("unreadable state file: {err}"))
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
    use crate::desired::node_configs;
    use crate::desired::tests::{env, facts, settings};
    use crate::settings::Topology;

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
        assert!(NodeState::from_json("{")
            .unwrap_err()
            .contains("unreadable state file"));
    }
}
