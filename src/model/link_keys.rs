//! The file one environment's operator gives the other's when the two are not
//! in the same inventory (`filesync export-keys`, read by `--peer-keys`): the
//! environment's nodes as the SSH transport needs them (addresses, login user,
//! host keys, sync keys, where their pushes come from) and the synced path both
//! sides must share. All of it public. Pure: writing and checked reading.

use crate::error::{Error, Result};
use crate::model::peer_link::LinkNode;
use serde::{Deserialize, Serialize};

/// The format's version, the first key of the file.
const FORMAT: u32 = 1;

/// One environment's public side of the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkKeys {
    pub filesync_link_keys: u32,
    #[serde(deserialize_with = "crate::nodes::untrusted::environment_name")]
    pub env: String,
    /// The synced path, relative to the webroot (both sides sync the same).
    pub path: String,
    pub nodes: Vec<LinkNode>,
}

impl LinkKeys {
    pub fn new(env: &str, path: &str, nodes: Vec<LinkNode>) -> Self {
        LinkKeys {
            filesync_link_keys: FORMAT,
            env: env.to_string(),
            path: path.to_string(),
            nodes,
        }
    }

    /// The file: TOML, with a comment saying what it is and what to do with it.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("link keys serialize");
        format!(
            "# filesync: the public keys of environment {env:?} for the other environment's \
             link over SSH.\n# Nothing secret. Give it to the other side's operator: \
             filesync install --mode two --peer-keys FILE\n# The addresses may be edited \
             (where the other side reaches each node's sshd; `from`: where its pushes come \
             from).\n{body}",
            env = self.env
        )
    }

    /// Reads a file written by `to_text` (perhaps edited); `origin` names it
    /// in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidLink {
            setting: "--peer-keys".into(),
            reason: format!("{origin}: {reason}"),
            hint: "give the file `filesync export-keys --env NAME` printed for the other \
                   environment"
                .into(),
        };
        let keys: LinkKeys = toml::from_str(text)
            .map_err(|err| invalid(crate::nodes::untrusted::printable(err.message())))?;
        if keys.filesync_link_keys != FORMAT {
            return Err(invalid(format!(
                "format {} is not one this version reads ({FORMAT})",
                keys.filesync_link_keys
            )));
        }
        if keys.nodes.is_empty() {
            return Err(invalid("it lists no node".into()));
        }
        for (index, node) in keys.nodes.iter().enumerate() {
            if keys.nodes[..index].iter().any(|n| n.name == node.name) {
                return Err(invalid(format!("node {} is listed twice", node.name)));
            }
            if keys.nodes[..index]
                .iter()
                .any(|n| n.address == node.address)
            {
                return Err(invalid(format!("address {} is listed twice", node.address)));
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str) -> LinkNode {
        LinkNode {
            name: name.into(),
            address: crate::source::inventory::PeerAddress {
                host: ip.into(),
                port: 22,
            },
            user: "root".into(),
            host_keys: vec!["ssh-ed25519 AAAAhost".into()],
            key: Some("ssh-ed25519 AAAAsync".into()),
            from: vec![ip.into()],
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let keys = LinkKeys::new(
            "staging",
            "/ROOT/wp-content",
            vec![node("n1", "10.2.0.11"), node("n2", "10.2.0.12")],
        );
        let text = keys.to_text();
        assert!(text.starts_with("# filesync: the public keys of environment \"staging\""));
        assert_eq!(LinkKeys::parse(&text, "f").unwrap(), keys);
    }

    #[test]
    fn a_file_that_could_smuggle_anything_is_refused_with_its_reason() {
        let good = LinkKeys::new("staging", "/ROOT", vec![node("n1", "10.2.0.11")]).to_text();
        for (edit, why) in [
            (
                (
                    "ssh-ed25519 AAAAsync",
                    "ssh-ed25519 AAAA command=\\\"sh\\\"",
                ),
                "not an SSH public key",
            ),
            (
                ("ssh-ed25519 AAAAhost", "ssh-ed25519 AAAA\\nrestrict"),
                "not an SSH public key",
            ),
            (("user = \"root\"", "user = \"root x\""), "SSH user"),
            (("name = \"n1\"", "name = \"n1/x\""), "node name"),
            (("from = [\"10.2.0.11\"]", "from = [\"*\"]"), "CIDR"),
            (
                ("from = [\"10.2.0.11\"]", "from = []"),
                "no address its pushes come from",
            ),
            (("host = \"10.2.0.11\"", "host = \"$(id)\""), "host name"),
            (
                ("filesync_link_keys = 1", "filesync_link_keys = 2"),
                "format 2",
            ),
            (("env = \"staging\"", "env = \"a b\""), "environment name"),
            (
                ("user = \"root\"", "user = \"root\"\nshell = \"x\""),
                "unknown field",
            ),
        ] {
            let text = good.replacen(edit.0, edit.1, 1);
            assert_ne!(text, good, "{edit:?} did not apply");
            let err = LinkKeys::parse(&text, "keys.toml").unwrap_err();
            assert!(err.to_string().contains(why), "{edit:?}: {err}");
            assert!(err.to_string().contains("keys.toml"), "{err}");
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        }
        let twice = LinkKeys::new(
            "staging",
            "/ROOT",
            vec![node("n1", "10.2.0.11"), node("n1", "10.2.0.12")],
        )
        .to_text();
        assert!(LinkKeys::parse(&twice, "f")
            .unwrap_err()
            .to_string()
            .contains("listed twice"));
    }
}
