//! The platform-side files shipped in `manifests/`: reading one, and the
//! command the JPS scale hook's reconcile action runs.

use std::path::Path;
use yaml_rust2::Yaml;

pub fn manifest(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("manifests")
            .join(name),
    )
    .unwrap()
}

/// The command of the scale hook's `reconcile` action (its `cmd[...]` entry).
pub fn reconcile_command(jps: &Yaml) -> &str {
    let action = jps["actions"]["reconcile"].as_hash().unwrap();
    action
        .iter()
        .find(|(key, _)| key.as_str().is_some_and(|k| k.starts_with("cmd[")))
        .and_then(|(_, value)| value.as_str())
        .expect("the reconcile action runs a command")
}
