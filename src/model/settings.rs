//! The settings of an installation (what to sync, how fast, in which shape) and
//! their validation. Pure: a value that gets past `parse` is safe to render into
//! every template and command (with the escaping of `crate::render::escape`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The longest delay accepted: beyond an hour a change would sit unsynced so long
/// that the setting is almost certainly a mistake (milliseconds typed as seconds).
pub const MAX_DELAY_SECS: u32 = 3600;
pub const DEFAULT_DELAY_SECS: u32 = 10;
const MAX_PATH_LEN: usize = 1024;

/// The synced directory, relative to the environment's webroot.
///
/// Always starts with `/`, never ends with one (except the webroot itself, `/`),
/// has no empty, `.` or `..` component, no control character and no `%` (which
/// rsync's daemon configuration expands). Quotes and spaces are allowed: they
/// are escaped wherever the path is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct SyncPath(String);

impl SyncPath {
    /// Parses a user-given path. A path that starts with the webroot itself is
    /// accepted and made relative (people paste absolute paths).
    pub fn parse(raw: &str, webroot: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidPath {
            path: raw.to_string(),
            reason: reason.to_string(),
        };
        if raw.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if raw.len() > MAX_PATH_LEN {
            return Err(invalid(&format!("it is longer than {MAX_PATH_LEN} bytes")));
        }
        if raw.chars().any(char::is_control) {
            return Err(invalid(
                "it contains a line break or another control character, which lsyncd, \
                 rsync and cron cannot handle safely",
            ));
        }
        if raw.contains('%') {
            return Err(invalid(
                "it contains %, which rsync's daemon configuration (the receiving side of \
                 every push) would expand as an environment variable",
            ));
        }
        let webroot = webroot.trim_end_matches('/');
        let relative = match raw.strip_prefix(webroot) {
            Some(rest) if !webroot.is_empty() && (rest.is_empty() || rest.starts_with('/')) => rest,
            _ => raw,
        };
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(invalid("it leaves the webroot through `..`")),
                part => parts.push(part),
            }
        }
        if parts.first() == Some(&crate::nodes::layout::INSTALL_DIR_NAME) {
            return Err(invalid(
                "it is inside filesync's own install directory, which is never synced",
            ));
        }
        Ok(SyncPath(format!("/{}", parts.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute directory on a node with this webroot.
    pub fn absolute(&self, webroot: &str) -> String {
        let webroot = webroot.trim_end_matches('/');
        if self.0 == "/" {
            if webroot.is_empty() {
                "/".to_string()
            } else {
                webroot.to_string()
            }
        } else {
            format!("{webroot}{}", self.0)
        }
    }
}

impl fmt::Display for SyncPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SyncPath {
    type Error = String;
    fn try_from(value: String) -> std::result::Result<Self, String> {
        // State files store the normalized form; the webroot is not needed to re-check it.
        SyncPath::parse(&value, "").map_err(|err| err.to_string())
    }
}

impl From<SyncPath> for String {
    fn from(path: SyncPath) -> String {
        path.0
    }
}

/// Seconds lsyncd collects events before it calls rsync. Read back from a
/// state file, it is checked like `--delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32")]
pub struct Delay(u32);

impl TryFrom<u32> for Delay {
    type Error = Error;
    fn try_from(secs: u32) -> Result<Self> {
        secs.to_string().parse()
    }
}

impl Delay {
    pub fn secs(self) -> u32 {
        self.0
    }
}

impl Default for Delay {
    fn default() -> Self {
        Delay(DEFAULT_DELAY_SECS)
    }
}

impl FromStr for Delay {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidDelay {
            value: raw.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = raw.trim();
        if trimmed.starts_with('-') {
            return Err(invalid("it is negative"));
        }
        let secs: u64 = match trimmed.parse() {
            Ok(secs) => secs,
            // All digits but too many of them for u64: absurdly large, not malformed.
            Err(_) if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) => {
                u64::MAX
            }
            Err(_) => return Err(invalid("it is not a whole number of seconds")),
        };
        if secs == 0 {
            return Err(invalid(
                "0 would make lsyncd call rsync for every single event",
            ));
        }
        if secs > u64::from(MAX_DELAY_SECS) {
            return Err(invalid(&format!(
                "it is more than {MAX_DELAY_SECS} seconds; changes would wait that long \
                 before they are copied"
            )));
        }
        Ok(Delay(secs as u32))
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How many days a node keeps what sync replaced or deleted there. Read back
/// from a state file, it is checked like `--trash-days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32")]
pub struct TrashDays(u32);

impl TryFrom<u32> for TrashDays {
    type Error = Error;
    fn try_from(days: u32) -> Result<Self> {
        days.to_string().parse()
    }
}

pub const DEFAULT_TRASH_DAYS: u32 = 7;
pub const MAX_TRASH_DAYS: u32 = 3650;

impl TrashDays {
    pub fn days(self) -> u32 {
        self.0
    }
}

impl Default for TrashDays {
    fn default() -> Self {
        TrashDays(DEFAULT_TRASH_DAYS)
    }
}

impl FromStr for TrashDays {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self> {
        match raw.trim().parse::<u32>() {
            Ok(days) if (1..=MAX_TRASH_DAYS).contains(&days) => Ok(TrashDays(days)),
            _ => Err(Error::InvalidTrashDays {
                value: raw.to_string(),
            }),
        }
    }
}

impl fmt::Display for TrashDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Who pushes to whom inside an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// Every node pushes to every other node: one hop per change.
    #[default]
    Mesh,
    /// Each node pushes to the next one (the reference add-on's shape; for comparison).
    Ring,
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Topology::Mesh => "mesh",
            Topology::Ring => "ring",
        })
    }
}

/// One environment, or two environments kept in sync with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Mode {
    #[default]
    One,
    Two,
}

/// What an installation syncs and how. Stored (without secrets) in each node's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub path: SyncPath,
    pub delay: Delay,
    pub topology: Topology,
    /// Days the trash keeps what sync replaced or deleted (installs of earlier
    /// versions had no trash: the default).
    #[serde(default)]
    pub trash_days: TrashDays,
    /// Two-environment mode: the link to the other environment; `None` in mode one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<crate::model::peer_link::PeerLink>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBROOT: &str = "/var/www/webroot";

    fn path(raw: &str) -> Result<String> {
        SyncPath::parse(raw, WEBROOT).map(|p| p.to_string())
    }

    #[test]
    fn sync_path_is_normalized_relative_to_the_webroot() {
        assert_eq!(path("/ROOT/wp-content").unwrap(), "/ROOT/wp-content");
        assert_eq!(path("ROOT/wp-content/").unwrap(), "/ROOT/wp-content");
        assert_eq!(path("//ROOT/./wp-content").unwrap(), "/ROOT/wp-content");
        assert_eq!(path("/").unwrap(), "/");
        assert_eq!(
            path("/var/www/webroot/ROOT/uploads").unwrap(),
            "/ROOT/uploads"
        );
        assert_eq!(path("/var/www/webroot").unwrap(), "/");
        // Not the webroot, merely a name that starts like it.
        assert_eq!(path("/var/www/webroot2/x").unwrap(), "/var/www/webroot2/x");
    }

    #[test]
    fn sync_path_absolute_joins_the_webroot() {
        let p = SyncPath::parse("/ROOT/wp-content", WEBROOT).unwrap();
        assert_eq!(p.absolute(WEBROOT), "/var/www/webroot/ROOT/wp-content");
        assert_eq!(p.absolute("/srv/www/"), "/srv/www/ROOT/wp-content");
        let root = SyncPath::parse("/", WEBROOT).unwrap();
        assert_eq!(root.absolute(WEBROOT), WEBROOT);
    }

    #[test]
    fn sync_path_refuses_to_leave_the_webroot() {
        for raw in ["../etc", "/ROOT/../../etc", "/ROOT/..", ".."] {
            let err = path(raw).unwrap_err().to_string();
            assert!(err.contains("leaves the webroot"), "{raw}: {err}");
        }
    }

    #[test]
    fn sync_path_refuses_control_characters_and_percent_but_keeps_quotes_and_spaces() {
        assert!(path("/ROOT/a\nb")
            .unwrap_err()
            .to_string()
            .contains("line break"));
        assert!(path("/ROOT/a\tb").is_err());
        assert!(path("/ROOT/100%")
            .unwrap_err()
            .to_string()
            .contains("would expand"));
        assert_eq!(path("/ROOT/it's \"a b\"").unwrap(), "/ROOT/it's \"a b\"");
    }

    #[test]
    fn trash_days_are_whole_days_in_range() {
        assert_eq!("30".parse::<TrashDays>().unwrap().days(), 30);
        assert_eq!(TrashDays::default().days(), 7);
        for raw in ["0", "-1", "1.5", "x", "3651"] {
            assert!(raw.parse::<TrashDays>().is_err(), "{raw}");
        }
    }

    #[test]
    fn sync_path_refuses_empty_overlong_and_the_install_dir() {
        assert!(path("").is_err());
        assert!(path("   ").is_err());
        assert!(path(&format!("/{}", "a".repeat(2000))).is_err());
        assert!(path("/lsyncd/etc")
            .unwrap_err()
            .to_string()
            .contains("install directory"));
    }

    #[test]
    fn delay_accepts_whole_seconds_in_range() {
        assert_eq!("1".parse::<Delay>().unwrap().secs(), 1);
        assert_eq!(" 10 ".parse::<Delay>().unwrap().secs(), 10);
        assert_eq!("3600".parse::<Delay>().unwrap().secs(), 3600);
        assert_eq!(Delay::default().secs(), 10);
    }

    #[test]
    fn delay_refuses_zero_negative_non_numbers_and_absurd_values() {
        for (raw, why) in [
            ("0", "every single event"),
            ("-5", "negative"),
            ("ten", "not a whole number"),
            ("1.5", "not a whole number"),
            ("", "not a whole number"),
            ("3601", "more than 3600"),
            ("99999999999999999999", "more than 3600"),
        ] {
            let err = raw.parse::<Delay>().unwrap_err().to_string();
            assert!(err.contains(why), "{raw:?}: {err}");
        }
    }

    #[test]
    fn settings_round_trip_through_json() {
        let settings = Settings {
            path: SyncPath::parse("/ROOT/it's", WEBROOT).unwrap(),
            delay: "5".parse().unwrap(),
            topology: Topology::Ring,
            trash_days: "3".parse().unwrap(),
            link: None,
        };
        let json = serde_json::to_string(&settings).unwrap();
        assert_eq!(
            json,
            r#"{"path":"/ROOT/it's","delay":5,"topology":"ring","trash_days":3}"#
        );
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), settings);
        // A state written before the trash existed.
        let old: Settings =
            serde_json::from_str(r#"{"path":"/ROOT","delay":5,"topology":"mesh"}"#).unwrap();
        assert_eq!(old.trash_days, TrashDays::default());
    }

    #[test]
    fn settings_read_back_are_checked_like_the_flags() {
        let with = |path: &str, delay: &str, trash: &str| {
            serde_json::from_str::<Settings>(&format!(
                r#"{{"path":{path},"delay":{delay},"topology":"mesh","trash_days":{trash}}}"#
            ))
            .map_err(|err| err.to_string())
        };
        assert!(with(r#""/ROOT""#, "10", "7").is_ok());
        for (path, delay, trash, why) in [
            (r#""/ROOT""#, "0", "7", "every single event"),
            (r#""/ROOT""#, "3601", "7", "more than 3600"),
            (r#""/ROOT""#, "-1", "7", "invalid value"),
            (r#""/ROOT""#, "10", "0", "--trash-days"),
            (r#""/ROOT""#, "10", "99999", "--trash-days"),
            (r#""/ROOT/../../etc""#, "10", "7", "leaves the webroot"),
            (r#""/ROOT/a\nb""#, "10", "7", "line break"),
            (r#""/ROOT/100%""#, "10", "7", "would expand"),
            (r#""/lsyncd/etc""#, "10", "7", "install directory"),
        ] {
            let err = with(path, delay, trash).unwrap_err();
            assert!(err.contains(why), "{path} {delay} {trash}: {err}");
        }
    }
}
