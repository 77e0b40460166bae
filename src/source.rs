//! Where environments and their nodes come from: the inventory file, or the
//! platform API when `--platform-url` is given. Commands ask this, never the
//! file or the API directly.

use crate::cli::{Global, PlatformSsh};
use crate::error::{Error, Result};
use crate::inventory::{Environment, Inventory, DEFAULT_WEBROOT};
use crate::platform::{Platform, Reach, GATE_PORT};
use std::time::Duration;

pub enum Source {
    Inventory(Inventory),
    Platform(Platform),
}

impl Source {
    pub fn from_cli(global: &Global) -> Result<Self> {
        let Some(url) = &global.platform_url else {
            return Inventory::load(&global.inventory).map(Source::Inventory);
        };
        let reach = match global.platform_ssh {
            PlatformSsh::Direct => Reach::Direct {
                user: global.platform_user.clone(),
            },
            PlatformSsh::Gate => {
                let gate = global
                    .ssh_gate
                    .as_deref()
                    .ok_or_else(|| Error::MissingSetting {
                        what: "the platform's SSH gate".into(),
                        flag: "--ssh-gate HOST[:PORT] (or FILESYNC_SSH_GATE)".into(),
                    })?;
                let (host, port) = match gate.rsplit_once(':') {
                    Some((host, port)) => (
                        host.to_string(),
                        port.parse().map_err(|_| Error::MissingSetting {
                            what: format!("a valid SSH gate (got {gate:?})"),
                            flag: "--ssh-gate HOST[:PORT]".into(),
                        })?,
                    ),
                    None => (gate.to_string(), GATE_PORT),
                };
                Reach::Gate { host, port }
            }
        };
        let token = std::env::var("FILESYNC_TOKEN").unwrap_or_default();
        Platform::new(
            url,
            token,
            global.node_group.clone(),
            reach,
            DEFAULT_WEBROOT.to_string(),
            Duration::from_secs(global.platform_timeout),
        )
        .map(Source::Platform)
    }

    pub async fn names(&self) -> Result<Vec<String>> {
        match self {
            Source::Inventory(inventory) => Ok(inventory.names()),
            Source::Platform(platform) => platform.environment_names().await,
        }
    }

    pub async fn environment(&self, name: &str) -> Result<Environment> {
        match self {
            Source::Inventory(inventory) => inventory.environment(name).cloned(),
            Source::Platform(platform) => platform.environment(name).await,
        }
    }
}
