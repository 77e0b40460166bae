//! The shipped platform-side files: the JPS scale hook parses and listens to
//! every topology event of the app-server layer; the systemd unit runs watch.

use crate::support::manifest::{manifest, reconcile_command};
use yaml_rust2::{Yaml, YamlLoader};

#[test]
fn the_scale_hook_runs_reconcile_on_every_topology_event_of_the_app_servers() {
    let docs = YamlLoader::load_from_str(&manifest("filesync-scale-hook.jps")).unwrap();
    let jps = &docs[0];
    assert_eq!(jps["type"].as_str(), Some("update"));
    assert_eq!(jps["targetNodes"]["nodeGroup"].as_str(), Some("cp"));
    for event in [
        "onAfterScaleOut",
        "onAfterScaleIn",
        "onAfterCloneNodes",
        "onAfterRemoveNode",
        "onAfterRedeployContainer",
    ] {
        let key = Yaml::String(format!("{event}[cp]"));
        assert_eq!(
            jps.as_hash().unwrap().get(&key).and_then(Yaml::as_str),
            Some("reconcile"),
            "{event}[cp] must run the reconcile action"
        );
    }
    let command = reconcile_command(jps);
    assert!(
        command.contains("filesync --yes reconcile --env ${env.envName}"),
        "{command}"
    );
    assert!(
        !command.contains("FILESYNC_TOKEN="),
        "no secret in the manifest"
    );
}

#[test]
fn the_systemd_unit_runs_watch_with_settings_from_a_private_env_file() {
    let unit = manifest("filesync-watch@.service");
    assert!(unit.contains("\nExecStart=/usr/local/bin/filesync --yes watch --env %i"));
    assert!(unit.contains("\nEnvironmentFile=/etc/filesync/env\n"));
    assert!(unit.contains("\nKillSignal=SIGTERM\n"));
}
