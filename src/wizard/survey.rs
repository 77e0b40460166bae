//! The wizard's question for the folder to sync, informed by the nodes: it
//! surveys every node's webroot (read only, `remote::survey_webroot`),
//! proposes what `application` recognised as the default, and after the
//! answer looks at the chosen folder on every node (`remote::inspect_folder`)
//! to warn when it is missing somewhere or holds other filesystems. Parsing
//! what nodes print, and judging the chosen folder, are pure; the two SSH
//! round trips and the prompts are at the bottom. It never changes a node,
//! and it never chooses: a person answers the question.

use crate::error::Result;
use crate::model::settings::SyncPath;
use crate::nodes::fleet::Fleet;
use crate::nodes::probe;
use crate::nodes::untrusted;
use crate::output::node_set;
use crate::wizard;
use crate::wizard::application::{self, Found, Proposal};
use std::collections::BTreeMap;

/// What the survey of one node found: the marker paths under its webroot, or
/// `None` when the node has no webroot.
pub fn parse_survey(output: &str) -> anyhow::Result<Option<Vec<String>>> {
    let facts = probe::fact_lines(output)?;
    let webroot = facts
        .iter()
        .find(|(key, _)| *key == "webroot")
        .map(|(_, value)| value.as_str());
    match webroot {
        Some("yes") => Ok(Some(
            facts
                .into_iter()
                .filter(|(key, _)| *key == "found")
                .map(|(_, path)| path)
                .collect(),
        )),
        Some(_) => Ok(None),
        None => anyhow::bail!("the survey did not run to completion"),
    }
}

/// The chosen folder as one node has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFacts {
    pub exists: bool,
    /// The type of the filesystem mounted at the folder itself, if one is.
    pub mounted: Option<String>,
    /// Mount points strictly inside the folder, relative to it.
    pub mounts_inside: Vec<String>,
}

/// Parses `remote::inspect_folder`'s output for the absolute folder `dir`.
pub fn parse_folder(output: &str, dir: &str) -> anyhow::Result<FolderFacts> {
    let facts: BTreeMap<&str, String> = probe::fact_lines(output)?.into_iter().collect();
    let Some(exists) = facts.get("folder") else {
        anyhow::bail!("the folder check did not run to completion");
    };
    let mountinfo = facts.get("mountinfo").map(String::as_str).unwrap_or("");
    Ok(FolderFacts {
        exists: exists == "yes",
        mounted: probe::mount_type_at(mountinfo, dir),
        mounts_inside: probe::mounts_under(mountinfo, dir),
    })
}

/// What is wrong with syncing `folder`, given how each node has it (or why a
/// node could not be looked at): where it is missing, where it is another
/// filesystem (storage the nodes may already share), where other
/// filesystems are mounted inside it (those are not synced).
pub fn folder_warnings(
    folder: &SyncPath,
    by_node: &BTreeMap<String, std::result::Result<FolderFacts, String>>,
) -> Vec<String> {
    let nodes = |keep: &dyn Fn(&FolderFacts) -> bool| -> Vec<String> {
        by_node
            .iter()
            .filter(|(_, facts)| facts.as_ref().is_ok_and(keep))
            .map(|(node, _)| node.clone())
            .collect()
    };
    let mut warnings = Vec::new();
    let missing = nodes(&|facts| !facts.exists);
    if !missing.is_empty() {
        warnings.push(format!(
            "{folder} does not exist on {}: the plan stops there until it is created (or \
             choose a folder every node has)",
            node_set::compact_set(&missing)
        ));
    }
    let mut mounted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (node, facts) in by_node {
        if let Ok(FolderFacts {
            mounted: Some(kind),
            ..
        }) = facts
        {
            mounted.entry(kind).or_default().push(node.clone());
        }
    }
    for (kind, nodes) in mounted {
        let kind = untrusted::printable(kind);
        warnings.push(format!(
            "{folder} is a mount point ({kind}) on {}: if that is storage the nodes share, \
             they need no sync",
            node_set::compact_set(&nodes)
        ));
    }
    for (node, facts) in by_node {
        match facts {
            Ok(facts) if !facts.mounts_inside.is_empty() => warnings.push(format!(
                "{node}: other filesystems are mounted inside {folder} and are not synced: {}",
                untrusted::printable(&facts.mounts_inside.join(", "))
            )),
            Ok(_) => {}
            Err(reason) => warnings.push(format!(
                "{node}: could not look at {folder}: {}",
                untrusted::printable(reason)
            )),
        }
    }
    warnings
}

/// What the survey of every node recognised (a node whose survey failed or
/// that has no webroot holds nothing), and the warnings for those nodes.
fn recognised(
    outputs: BTreeMap<String, anyhow::Result<String>>,
) -> (BTreeMap<String, Vec<Found>>, Vec<String>) {
    let mut by_node = BTreeMap::new();
    let mut warnings = Vec::new();
    for (node, output) in outputs {
        match output.and_then(|output| parse_survey(&output)) {
            Ok(Some(found)) => {
                by_node.insert(node, application::recognise(&found));
            }
            Ok(None) => {
                warnings.push(format!("{node}: the webroot is missing or cannot be read"));
                by_node.insert(node, Vec::new());
            }
            Err(err) => {
                warnings.push(format!("{node}: could not survey the webroot: {err:#}"));
                by_node.insert(node, Vec::new());
            }
        }
    }
    (by_node, warnings)
}

/// Runs one script on every node of `fleets`; its output by node.
async fn run_on_all(fleets: &[&Fleet], script: &str) -> BTreeMap<String, anyhow::Result<String>> {
    let mut outputs = BTreeMap::new();
    for fleet in fleets {
        outputs.append(&mut fleet.run_everywhere(script).await);
    }
    outputs
}

/// Surveys the nodes and proposes a folder, printing what was recognised.
async fn proposal(fleets: &[&Fleet], webroot: &str) -> Result<Proposal> {
    let markers: Vec<&str> = application::markers().into_iter().collect();
    let script = crate::nodes::remote::survey_webroot(webroot, &markers)?;
    let (by_node, mut warnings) = recognised(run_on_all(fleets, &script).await);
    let proposal = application::propose(&by_node);
    eprintln!("{}", proposal.summary());
    warnings.extend(proposal.warnings());
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(proposal)
}

/// Looks at `folder` on every node; the warnings about it.
async fn check(fleets: &[&Fleet], webroot: &str, folder: &SyncPath) -> Result<Vec<String>> {
    let dir = folder.absolute(webroot);
    let script = crate::nodes::remote::inspect_folder(&dir)?;
    let by_node = run_on_all(fleets, &script)
        .await
        .into_iter()
        .map(|(node, output)| {
            let facts = output
                .and_then(|output| parse_folder(&output, &dir))
                .map_err(|err| format!("{err:#}"));
            (node, facts)
        })
        .collect();
    Ok(folder_warnings(folder, &by_node))
}

/// Asks for the folder to sync. The default is the folder already installed,
/// else what the survey of the nodes recognised. A chosen folder that draws
/// warnings is only taken once confirmed; otherwise the question is asked again.
pub async fn ask_path(
    fleets: &[&Fleet],
    webroot: &str,
    installed: Option<&SyncPath>,
) -> Result<SyncPath> {
    let mut default = match installed {
        Some(path) => Some(path.clone()),
        None => proposal(fleets, webroot).await?.folder().cloned(),
    };
    loop {
        let chosen = wizard::path(webroot, default.as_ref())?;
        let warnings = check(fleets, webroot, &chosen).await?;
        if warnings.is_empty() {
            return Ok(chosen);
        }
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        if wizard::confirm_default(&format!("Sync {chosen} anyway?"), false)? {
            return Ok(chosen);
        }
        default = Some(chosen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn line(key: &str, value: &str) -> String {
        format!("{key}\t{}\n", STANDARD.encode(value))
    }

    fn folder(path: &str) -> SyncPath {
        SyncPath::parse(path, "").unwrap()
    }

    #[test]
    fn the_survey_script_finds_an_application_in_a_real_webroot_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let webroot = dir.path().join("web root");
        for sub in [
            "ROOT/wp-content/uploads",
            "ROOT/wp-includes",
            "html/images",
            "evil\nROOT/wp-content",
        ] {
            std::fs::create_dir_all(webroot.join(sub)).unwrap();
        }
        std::fs::write(webroot.join("ROOT/wp-config.php"), "<?php").unwrap();
        std::fs::write(webroot.join("evil\nROOT/wp-config.php"), "<?php").unwrap();
        let before = walk(dir.path());
        let markers: Vec<&str> = application::markers().into_iter().collect();
        let script =
            crate::nodes::remote::survey_webroot(webroot.to_str().unwrap(), &markers).unwrap();
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(output.status.success());
        let found = parse_survey(&String::from_utf8(output.stdout).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            application::recognise(&found),
            [Found {
                app: application::App::WordPress,
                folder: folder("/ROOT/wp-content")
            }],
            "{found:?}"
        );
        assert_eq!(walk(dir.path()), before);

        let missing = dir.path().join("none");
        let script =
            crate::nodes::remote::survey_webroot(missing.to_str().unwrap(), &markers).unwrap();
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            parse_survey(&String::from_utf8(output.stdout).unwrap()).unwrap(),
            None
        );
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = vec![dir.to_path_buf()];
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_folder_check_script_quotes_the_folder_and_tells_missing_from_present() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("it's a \"dir\" $(id)");
        std::fs::create_dir(&folder).unwrap();
        let check = |path: &std::path::Path| {
            let path = path.to_str().unwrap();
            let script = crate::nodes::remote::inspect_folder(path).unwrap();
            let output = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert!(output.status.success());
            parse_folder(&String::from_utf8(output.stdout).unwrap(), path).unwrap()
        };
        assert!(check(&folder).exists);
        assert!(!check(&dir.path().join("gone")).exists);
    }

    #[test]
    fn an_unfinished_survey_is_an_error() {
        assert!(parse_survey("").is_err());
        assert!(parse_survey("found\tnot base64!\n").is_err());
    }

    #[test]
    fn the_folder_check_reads_existence_and_mounts() {
        let output = [
            line("folder", "yes"),
            line(
                "mountinfo",
                "1 0 0:1 / / rw - ext4 /dev/sda rw\n\
                 2 1 0:2 / /w/ROOT/up rw - nfs4 srv:/up rw\n\
                 3 2 0:3 / /w/ROOT/up/cache rw - tmpfs tmpfs rw\n",
            ),
        ]
        .concat();
        assert_eq!(
            parse_folder(&output, "/w/ROOT/up").unwrap(),
            FolderFacts {
                exists: true,
                mounted: Some("nfs4".into()),
                mounts_inside: vec!["/cache".into()],
            }
        );
        assert!(parse_folder(&line("mountinfo", ""), "/w").is_err());
    }

    #[test]
    fn a_folder_missing_somewhere_or_holding_mounts_is_warned_about_by_node() {
        let plain = FolderFacts {
            exists: true,
            mounted: None,
            mounts_inside: vec![],
        };
        let by_node: BTreeMap<String, std::result::Result<FolderFacts, String>> = [
            ("n1", Ok(plain.clone())),
            (
                "n2",
                Ok(FolderFacts {
                    mounted: Some("nfs4".into()),
                    ..plain.clone()
                }),
            ),
            (
                "n3",
                Ok(FolderFacts {
                    mounted: Some("nfs4".into()),
                    mounts_inside: vec!["/cache".into()],
                    ..plain.clone()
                }),
            ),
            (
                "n4",
                Ok(FolderFacts {
                    exists: false,
                    ..plain.clone()
                }),
            ),
            ("n5", Err("connection lost".into())),
        ]
        .into_iter()
        .map(|(node, facts)| (node.to_string(), facts))
        .collect();
        assert_eq!(
            folder_warnings(&folder("/ROOT/wp-content"), &by_node),
            [
                "/ROOT/wp-content does not exist on n4: the plan stops there until it is \
                 created (or choose a folder every node has)",
                "/ROOT/wp-content is a mount point (nfs4) on n2, n3: if that is storage the \
                 nodes share, they need no sync",
                "n3: other filesystems are mounted inside /ROOT/wp-content and are not \
                 synced: /cache",
                "n5: could not look at /ROOT/wp-content: connection lost",
            ]
        );
        let fine: BTreeMap<_, _> = [("n1".to_string(), Ok(plain))].into_iter().collect();
        assert!(folder_warnings(&folder("/ROOT/wp-content"), &fine).is_empty());
    }
}
