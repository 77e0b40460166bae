//! Where things are on a test node, inside it and as seen from the host: the
//! synced directory, filesync's installation directory, and reading a file.

use super::cluster::Cluster;
use std::fs;
use std::path::{Path, PathBuf};

/// The synced directory of the usual install, inside a node.
pub const W: &str = "/var/www/webroot/ROOT/wp-content";

impl Cluster {
    /// The node's /var/www as seen from the host.
    pub fn www(&self, node: &str) -> PathBuf {
        let output = self.testbed(&["root", node]);
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    }

    /// The synced directory of the usual install (`--path /ROOT/wp-content`), from the host.
    pub fn synced(&self, node: &str) -> PathBuf {
        self.www(node).join("webroot/ROOT/wp-content")
    }

    /// The node's filesync installation directory (`installation()` inside
    /// it), as seen from the host.
    pub fn installation(&self, node: &str) -> PathBuf {
        self.dir
            .join("nodes")
            .join(node)
            .join("fs")
            .join(installation().trim_start_matches('/'))
    }

    /// Whether anything of filesync's is in the node's installation directory
    /// or under its webroot.
    pub fn has_installation(&self, node: &str) -> bool {
        self.installation(node).exists() || self.www(node).join("webroot/lsyncd").exists()
    }
}

/// filesync's installation directory inside every test node (webroot
/// /var/www/webroot).
pub fn installation() -> String {
    filesync::nodes::layout::InstallDir::under_webroot("/var/www/webroot")
        .root()
        .to_string()
}

/// What the file at `path` (seen from the host) holds, `None` if it cannot be read.
pub fn content(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}
