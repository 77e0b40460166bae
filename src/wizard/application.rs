//! Which web application a node's webroot holds, and so which folder holds its
//! users' uploads: pure functions from the marker paths a node reported
//! (`remote::survey_webroot`) to what was recognised there, and from what every
//! node holds to one proposal for the wizard. It only proposes: the wizard shows
//! the proposal as its default, a flag always wins, and nothing is ever chosen
//! without a person seeing it.

use crate::model::settings::SyncPath;
use crate::output::node_set;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The applications filesync recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum App {
    WordPress,
    Drupal,
    Joomla,
    Liferay,
    Redmine,
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            App::WordPress => "WordPress",
            App::Drupal => "Drupal",
            App::Joomla => "Joomla",
            App::Liferay => "Liferay",
            App::Redmine => "Redmine",
        })
    }
}

/// How an application is recognised in a directory (its base): every marker of
/// `all` and at least one of `any` (when `any` is not empty) exist there. A
/// marker ending in `/` must be a directory. `uploads` is the folder to sync,
/// relative to the base (the reference add-on's guide: `ROOT/wp-content`,
/// `ROOT/sites`, `ROOT/images`, `home/liferay/data`; Redmine's `files`).
struct Signature {
    app: App,
    all: &'static [&'static str],
    any: &'static [&'static str],
    uploads: &'static str,
}

const SIGNATURES: [Signature; 5] = [
    Signature {
        app: App::WordPress,
        all: &["wp-content/"],
        any: &["wp-config.php", "wp-includes/"],
        uploads: "wp-content",
    },
    Signature {
        app: App::Drupal,
        all: &["sites/default/"],
        any: &["core/lib/Drupal.php", "includes/bootstrap.inc"],
        uploads: "sites",
    },
    Signature {
        app: App::Joomla,
        all: &["images/", "administrator/"],
        any: &["configuration.php", "includes/framework.php"],
        uploads: "images",
    },
    Signature {
        app: App::Liferay,
        all: &["home/liferay/data/"],
        any: &[],
        uploads: "home/liferay/data",
    },
    Signature {
        app: App::Redmine,
        all: &["files/", "config/"],
        any: &[
            "app/models/issue.rb",
            "config/additional_environment.rb.example",
        ],
        uploads: "files",
    },
];

/// Every marker the survey looks for in each candidate base, as the survey
/// script tests it (a trailing `/`: a directory).
pub fn markers() -> BTreeSet<&'static str> {
    SIGNATURES
        .iter()
        .flat_map(|signature| signature.all.iter().chain(signature.any))
        .copied()
        .collect()
}

/// One application found on a node, and the folder its uploads live in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Found {
    pub app: App,
    pub folder: SyncPath,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.app, self.folder)
    }
}

/// `a//b/./c/` as `a/b/c`: the form paths are compared in.
fn normalized(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// What a node's webroot holds, from the marker paths found there (relative
/// to the webroot). A base that is not a valid sync path (it leaves the
/// webroot, holds a control character or `%`) is ignored: what a node says
/// is input.
pub fn recognise<S: AsRef<str>>(found: &[S]) -> Vec<Found> {
    let found: BTreeSet<String> = found.iter().map(|p| normalized(p.as_ref())).collect();
    let markers: Vec<String> = markers().into_iter().map(normalized).collect();
    let bases: BTreeSet<&str> = found
        .iter()
        .flat_map(|path| {
            markers.iter().filter_map(move |marker| {
                if path == marker {
                    Some("")
                } else {
                    path.strip_suffix(marker.as_str())?.strip_suffix('/')
                }
            })
        })
        .collect();
    let has = |base: &str, marker: &str| {
        let marker = normalized(marker);
        found.contains(&if base.is_empty() {
            marker
        } else {
            format!("{base}/{marker}")
        })
    };
    let mut recognised: Vec<Found> = bases
        .iter()
        .flat_map(|base| {
            SIGNATURES.iter().filter_map(move |signature| {
                let all = signature.all.iter().all(|m| has(base, m));
                let any = signature.any.is_empty() || signature.any.iter().any(|m| has(base, m));
                let folder = SyncPath::parse(&format!("/{base}/{}", signature.uploads), "").ok()?;
                (all && any).then_some(Found {
                    app: signature.app,
                    folder,
                })
            })
        })
        .collect();
    recognised.sort();
    recognised.dedup();
    recognised
}

/// What the wizard proposes, from what every node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The find most nodes share (ties: the first application, then the
    /// shortest folder), and those nodes.
    pub best: Option<(Found, Vec<String>)>,
    /// The nodes without that find, with what they hold instead (maybe nothing).
    pub others: BTreeMap<String, Vec<Found>>,
}

/// One proposal from what each node holds (by node name).
pub fn propose(by_node: &BTreeMap<String, Vec<Found>>) -> Proposal {
    let mut counts: BTreeMap<&Found, Vec<String>> = BTreeMap::new();
    for (node, finds) in by_node {
        for found in finds {
            counts.entry(found).or_default().push(node.clone());
        }
    }
    let best = counts
        .into_iter()
        .max_by(|(a, a_nodes), (b, b_nodes)| {
            a_nodes
                .len()
                .cmp(&b_nodes.len())
                .then_with(|| b.app.cmp(&a.app))
                .then_with(|| b.folder.as_str().len().cmp(&a.folder.as_str().len()))
        })
        .map(|(found, nodes)| (found.clone(), nodes));
    let others = by_node
        .iter()
        .filter(|(node, _)| !best.as_ref().is_some_and(|(_, nodes)| nodes.contains(node)))
        .map(|(node, finds)| (node.clone(), finds.clone()))
        .collect();
    Proposal { best, others }
}

impl Proposal {
    /// The folder to offer as the default.
    pub fn folder(&self) -> Option<&SyncPath> {
        self.best.as_ref().map(|(found, _)| &found.folder)
    }

    /// What was recognised, as the wizard says it before asking.
    pub fn summary(&self) -> String {
        match &self.best {
            Some((found, nodes)) => format!(
                "{} found on {}: {}",
                found.app,
                node_set::compact_set(nodes),
                found.folder
            ),
            None => format!(
                "no known application ({}) found under the webroot of any node",
                SIGNATURES
                    .iter()
                    .map(|s| s.app.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Nodes that do not hold what is proposed, one warning each kind: those
    /// where nothing was recognised, and those that hold something else.
    pub fn warnings(&self) -> Vec<String> {
        let Some((found, _)) = &self.best else {
            return Vec::new();
        };
        let bare: Vec<String> = self
            .others
            .iter()
            .filter(|(_, finds)| finds.is_empty())
            .map(|(node, _)| node.clone())
            .collect();
        let mut warnings = Vec::new();
        if !bare.is_empty() {
            warnings.push(format!(
                "{} not found on {}: nothing recognised there",
                found.app,
                node_set::compact_set(&bare)
            ));
        }
        for (node, finds) in self.others.iter().filter(|(_, f)| !f.is_empty()) {
            let finds: Vec<String> = finds.iter().map(Found::to_string).collect();
            warnings.push(format!(
                "{node} holds {} instead of {found}",
                finds.join(", ")
            ));
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(app: App, folder: &str) -> Found {
        Found {
            app,
            folder: SyncPath::parse(folder, "").unwrap(),
        }
    }

    fn by_node(nodes: &[(&str, Vec<Found>)]) -> BTreeMap<String, Vec<Found>> {
        nodes
            .iter()
            .map(|(node, finds)| (node.to_string(), finds.clone()))
            .collect()
    }

    #[test]
    fn each_application_is_recognised_by_its_markers_at_root() {
        for (markers, app, folder) in [
            (
                &["ROOT/wp-content/", "ROOT/wp-config.php"][..],
                App::WordPress,
                "/ROOT/wp-content",
            ),
            (
                &["ROOT/wp-content/", "ROOT/wp-includes/"][..],
                App::WordPress,
                "/ROOT/wp-content",
            ),
            (
                &["ROOT/sites/default/", "ROOT/core/lib/Drupal.php"][..],
                App::Drupal,
                "/ROOT/sites",
            ),
            (
                &["ROOT/sites/default/", "ROOT/includes/bootstrap.inc"][..],
                App::Drupal,
                "/ROOT/sites",
            ),
            (
                &[
                    "ROOT/images/",
                    "ROOT/administrator/",
                    "ROOT/configuration.php",
                ][..],
                App::Joomla,
                "/ROOT/images",
            ),
            (
                &["home/liferay/data/"][..],
                App::Liferay,
                "/home/liferay/data",
            ),
            (
                &["ROOT/files/", "ROOT/config/", "ROOT/app/models/issue.rb"][..],
                App::Redmine,
                "/ROOT/files",
            ),
        ] {
            assert_eq!(recognise(markers), [found(app, folder)], "{markers:?}");
        }
    }

    #[test]
    fn an_application_at_the_webroot_itself_or_deeper_is_recognised_there() {
        // A webroot like /var/www/html holding WordPress directly (the survey's
        // base `.`), and a composer-style Drupal one level further down.
        assert_eq!(
            recognise(&["./wp-content/", "./wp-config.php"]),
            [found(App::WordPress, "/wp-content")]
        );
        assert_eq!(
            recognise(&["site/web/sites/default/", "site/web//core/lib/Drupal.php"]),
            [found(App::Drupal, "/site/web/sites")]
        );
    }

    #[test]
    fn a_lone_marker_is_not_an_application() {
        for markers in [
            &["ROOT/wp-content/"][..],
            &["ROOT/wp-config.php"][..],
            &["ROOT/images/", "ROOT/configuration.php"][..],
            &["ROOT/files/", "ROOT/config/"][..],
            &["ROOT/sites/default/"][..],
            &[][..],
        ] {
            assert_eq!(recognise(markers), [], "{markers:?}");
        }
    }

    #[test]
    fn a_base_that_is_not_a_valid_sync_path_is_ignored() {
        for base in ["..", "a%b", "a\nb"] {
            let markers = [
                format!("{base}/wp-content/"),
                format!("{base}/wp-config.php"),
            ];
            assert_eq!(recognise(&markers), [], "{base:?}");
        }
    }

    #[test]
    fn the_proposal_is_what_most_nodes_hold_and_names_them() {
        let wp = found(App::WordPress, "/ROOT/wp-content");
        let nodes = by_node(&[
            ("n1", vec![wp.clone()]),
            ("n2", vec![wp.clone()]),
            ("n3", vec![wp.clone()]),
        ]);
        let proposal = propose(&nodes);
        assert_eq!(proposal.folder(), Some(&wp.folder));
        assert_eq!(
            proposal.summary(),
            "WordPress found on n1-n3: /ROOT/wp-content"
        );
        assert!(proposal.warnings().is_empty());
    }

    #[test]
    fn nodes_that_differ_are_named_in_warnings() {
        let wp = found(App::WordPress, "/ROOT/wp-content");
        let drupal = found(App::Drupal, "/ROOT/sites");
        let nodes = by_node(&[
            ("n1", vec![wp.clone()]),
            ("n2", vec![wp.clone()]),
            ("n3", vec![]),
            ("n4", vec![drupal]),
            ("n5", vec![]),
        ]);
        let proposal = propose(&nodes);
        assert_eq!(proposal.folder(), Some(&wp.folder));
        assert_eq!(
            proposal.warnings(),
            [
                "WordPress not found on n3, n5: nothing recognised there",
                "n4 holds Drupal (/ROOT/sites) instead of WordPress (/ROOT/wp-content)",
            ]
        );
    }

    #[test]
    fn nothing_recognised_anywhere_proposes_nothing_and_says_what_was_looked_for() {
        let proposal = propose(&by_node(&[("n1", vec![]), ("n2", vec![])]));
        assert_eq!(proposal.folder(), None);
        assert_eq!(
            proposal.summary(),
            "no known application (WordPress, Drupal, Joomla, Liferay, Redmine) found under \
             the webroot of any node"
        );
        assert!(proposal.warnings().is_empty());
    }

    #[test]
    fn a_tie_goes_to_the_first_application() {
        let wp = found(App::WordPress, "/ROOT/wp-content");
        let joomla = found(App::Joomla, "/html/images");
        let proposal = propose(&by_node(&[
            ("n1", vec![joomla.clone()]),
            ("n2", vec![wp.clone()]),
        ]));
        assert_eq!(proposal.folder(), Some(&wp.folder));
        assert_eq!(
            proposal.warnings(),
            ["n1 holds Joomla (/html/images) instead of WordPress (/ROOT/wp-content)"]
        );
    }
}
