//! Where environments and their nodes come from: the inventory file, or the
//! platform API when `--platform-url` is given. Commands ask this, never the
//! file or the API directly.

use crate::cli::{Global, PlatformSsh};
use crate::error::{Error, Result};
use crate::inventory::{self, Environment, Inventory, DEFAULT_WEBROOT};
use crate::platform::{ApiUrl, Platform, Reach, GATE_PORT};
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
        let url = ApiUrl::parse(url, global.allow_insecure_platform)?;
        let reach = match global.platform_ssh {
            PlatformSsh::Direct => {
                inventory::check_user(&global.platform_user).map_err(|reason| {
                    invalid(
                        "--platform-user",
                        reason,
                        "the SSH user on the platform's nodes",
                    )
                })?;
                Reach::Direct {
                    user: global.platform_user.clone(),
                }
            }
            PlatformSsh::Gate => {
                let gate = global
                    .ssh_gate
                    .as_deref()
                    .ok_or_else(|| Error::MissingSetting {
                        what: "the platform's SSH gate".into(),
                        flag: "--ssh-gate HOST[:PORT] (or FILESYNC_SSH_GATE)".into(),
                    })?;
                let (host, port) = inventory::split_host_port(gate).map_err(|reason| {
                    invalid(
                        "--ssh-gate",
                        reason,
                        "HOST[:PORT], e.g. gate.example.com or gate.example.com:3022",
                    )
                })?;
                Reach::Gate {
                    host,
                    port: port.unwrap_or(GATE_PORT),
                }
            }
        };
        let token = std::env::var("FILESYNC_TOKEN").unwrap_or_default();
        Platform::new(
            &url,
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
            Source::Platform(platform) => {
                // The name is recorded in every node's state, which must read back.
                inventory::check_environment_name(name).map_err(|reason| {
                    invalid(
                        "--env",
                        reason,
                        "an environment of the platform; `filesync nodes` lists them",
                    )
                })?;
                platform.environment(name).await
            }
        }
    }
}

fn invalid(setting: &str, reason: String, takes: &str) -> Error {
    Error::InvalidSetting {
        setting: setting.to_string(),
        reason,
        hint: format!("{setting} takes {takes}"),
    }
}
