//! The interactive wizard (dialoguer): asks only for what flags did not give, and
//! only on a terminal without `--yes`. Validation is the same as for flags.
//! Its question for the folder to sync is informed by the nodes (`survey`), which
//! recognises the web application their webroot holds (`application`).

pub mod application;
pub mod survey;

use crate::error::{Error, Result};
use crate::model::settings::{Delay, Mode, SyncPath};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, MultiSelect, Password as HiddenInput, Select};
use std::io::IsTerminal;

/// Prompts are allowed: a terminal on stdin and stderr, and no `--yes`.
pub fn allowed(yes: bool) -> bool {
    !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn theme() -> ColorfulTheme {
    ColorfulTheme::default()
}

fn prompt_error(err: dialoguer::Error) -> Error {
    Error::Other(anyhow::anyhow!("prompt failed: {err}"))
}

pub fn mode() -> Result<Mode> {
    let choice = Select::with_theme(&theme())
        .with_prompt("Synchronization mode")
        .items(&[
            "One environment (sync the nodes of one environment)",
            "Two environments (also sync with a second environment)",
        ])
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    Ok(if choice == 0 { Mode::One } else { Mode::Two })
}

pub fn environment(names: &[String]) -> Result<String> {
    if names.is_empty() {
        return Err(Error::Inventory {
            path: "inventory".into(),
            reason: "it defines no environment".into(),
        });
    }
    let choice = Select::with_theme(&theme())
        .with_prompt("Environment")
        .items(names)
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    Ok(names[choice].clone())
}

pub fn nodes(names: &[String]) -> Result<Vec<String>> {
    let all = vec![true; names.len()];
    let chosen = MultiSelect::with_theme(&theme())
        .with_prompt("Nodes (space toggles, enter confirms)")
        .items(names)
        .defaults(&all)
        .interact()
        .map_err(prompt_error)?;
    Ok(chosen.into_iter().map(|i| names[i].clone()).collect())
}

pub fn path(webroot: &str, default: Option<&SyncPath>) -> Result<SyncPath> {
    let theme = theme();
    let mut input = Input::<String>::with_theme(&theme)
        .with_prompt(format!("Sync path (relative to {webroot})"))
        .validate_with(|raw: &String| {
            SyncPath::parse(raw, webroot)
                .map(|_| ())
                .map_err(|err| err.to_string())
        });
    if let Some(default) = default {
        input = input.default(default.to_string());
    }
    let raw = input.interact_text().map_err(prompt_error)?;
    SyncPath::parse(&raw, webroot)
}

pub fn delay(default: Delay) -> Result<Delay> {
    let raw = Input::<String>::with_theme(&theme())
        .with_prompt("Sync delay (seconds)")
        .default(default.to_string())
        .validate_with(|raw: &String| raw.parse::<Delay>().map(|_| ()).map_err(|e| e.to_string()))
        .interact_text()
        .map_err(prompt_error)?;
    raw.parse()
}

pub fn confirm(prompt: &str) -> Result<bool> {
    confirm_default(prompt, true)
}

/// A yes/no question whose answer on Enter is `default`.
pub fn confirm_default(prompt: &str, default: bool) -> Result<bool> {
    Confirm::with_theme(&theme())
        .with_prompt(prompt)
        .default(default)
        .interact()
        .map_err(prompt_error)
}

/// Where the other environment of a link is, as the wizard offers it.
pub enum OtherSide {
    /// An environment of the same inventory (keys exchanged, over SSH).
    Environment(String),
    /// Not in this inventory: its exported keys (over SSH).
    KeysFile(std::path::PathBuf),
    /// Not in this inventory: node addresses (the rsync daemon).
    Addresses,
}

/// Asks where the other environment is: one of `envs` (the inventory's
/// others), a keys file, or node addresses.
pub fn other_side(envs: &[String]) -> Result<OtherSide> {
    let mut items: Vec<String> = envs
        .iter()
        .map(|name| format!("{name} (in this inventory: over SSH, keys exchanged by filesync)"))
        .collect();
    items.push("Another inventory: its keys, from `filesync export-keys` there (over SSH)".into());
    items.push("Node addresses (the rsync daemon and a password: not encrypted)".into());
    let choice = Select::with_theme(&theme())
        .with_prompt("The other environment")
        .items(&items)
        .default(0)
        .interact()
        .map_err(prompt_error)?;
    Ok(match choice {
        index if index < envs.len() => OtherSide::Environment(envs[index].clone()),
        index if index == envs.len() => {
            let raw = Input::<String>::with_theme(&theme())
                .with_prompt("Keys file of the other environment")
                .validate_with(|raw: &String| {
                    if std::path::Path::new(raw).is_file() {
                        Ok(())
                    } else {
                        Err(format!("{raw} is not a file"))
                    }
                })
                .interact_text()
                .map_err(prompt_error)?;
            OtherSide::KeysFile(raw.into())
        }
        _ => OtherSide::Addresses,
    })
}

/// The IP address (or host name) of a node of the other environment, with an
/// optional rsync daemon port.
pub fn peer() -> Result<crate::source::inventory::PeerAddress> {
    let raw = Input::<String>::with_theme(&theme())
        .with_prompt("IP of a node in the second environment")
        .validate_with(|raw: &String| {
            crate::model::peer_link::parse_peer(raw)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .interact_text()
        .map_err(prompt_error)?;
    crate::model::peer_link::parse_peer(&raw)
}

/// The link's password, hidden, asked twice; empty: `None` (generate one).
pub fn password() -> Result<Option<crate::model::password::Password>> {
    let raw = HiddenInput::with_theme(&theme())
        .with_prompt("Password (the same on both environments; empty: generate one)")
        .with_confirmation("Repeat the password", "the two entries differ")
        .allow_empty_password(true)
        .interact()
        .map_err(prompt_error)?;
    if raw.is_empty() {
        return Ok(None);
    }
    crate::model::password::Password::parse(&raw, "entered").map(Some)
}
