//! Where environments and their nodes come from: the inventory file
//! (`inventory`), or the platform API (`platform`) when `--platform-url` is given. Commands ask this, never the
//! file or the API directly. Only running environments are offered, and only
//! running nodes are given (`Environment::left_out` names the others).

pub mod inventory;
pub mod platform;

use crate::cli::{Global, PlatformSsh};
use crate::error::LeftOut;
use crate::error::{Error, Result};
use crate::source::inventory::{Environment, Inventory, DEFAULT_WEBROOT};
use crate::source::platform::{ApiUrl, Platform, Reach, GATE_PORT};
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
            global.platform_uid,
        )
        .map(Source::Platform)
    }

    /// The environments filesync can work on (on a platform: the running
    /// ones), and the others with the reason.
    pub async fn listing(&self) -> Result<Listing> {
        match self {
            Source::Inventory(inventory) => Ok(Listing {
                usable: inventory.names(),
                left_out: Vec::new(),
            }),
            Source::Platform(platform) => {
                let mut listing = Listing::default();
                for env in platform.environments().await? {
                    if env.status.is_running() {
                        listing.usable.push(env.name);
                    } else {
                        listing.left_out.push(LeftOut {
                            name: env.name,
                            reason: format!(
                                "{}: {}",
                                env.status.describe(),
                                env.status.what_to_do()
                            ),
                        });
                    }
                }
                Ok(listing)
            }
        }
    }

    /// The names of the environments filesync can work on; none is an error
    /// that says why.
    pub async fn names(&self) -> Result<Vec<String>> {
        let listing = self.listing().await?;
        match self {
            Source::Platform(_) if listing.usable.is_empty() => Err(Error::NoRunningEnvironment {
                left_out: listing.left_out,
            }),
            _ => Ok(listing.usable),
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

/// The environments of a source: those filesync can work on, and those it
/// leaves out (there `LeftOut::name` is the environment's name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub usable: Vec<String>,
    pub left_out: Vec<LeftOut>,
}

fn invalid(setting: &str, reason: String, takes: &str) -> Error {
    Error::InvalidSetting {
        setting: setting.to_string(),
        reason,
        hint: format!("{setting} takes {takes}"),
    }
}
