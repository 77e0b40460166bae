//! What nodes say is input: the checks a value read from a node (probe output,
//! `state.json`) passes before anything is rendered or run from it. Wherever
//! the same value can come from the user, the user's check is reused
//! (`inventory`, `settings`, `peer_link`); the serde helpers make a state file
//! that fails one simply fail to parse, with the reason.

use crate::source::inventory;
use serde::de::{Deserialize, Deserializer, Error as _};
use std::collections::BTreeMap;

/// The longest user name `useradd` accepts.
const MAX_USER_LEN: usize = 32;
/// Linux's PATH_MAX.
const MAX_PATH_LEN: usize = 4096;

/// What a node or the platform said, for a terminal or a log: control
/// characters (a line break, an escape sequence) written as escapes.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let shown: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}

/// The login user a node reports (`id -un`), which every peer's ssh_config
/// names: a POSIX user name, `[a-z_][a-z0-9_.-]*` with an optional final `$`,
/// at most 32 characters.
pub fn posix_user(user: &str) -> Result<(), String> {
    let mut chars = user.strip_suffix('$').unwrap_or(user).chars();
    let ok = user.len() <= MAX_USER_LEN
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the SSH user {user:?} is not a POSIX user name (a lowercase letter or `_`, then \
             lowercase letters, digits, `_`, `.` or `-`, at most {MAX_USER_LEN} characters)"
        ))
    }
}

/// The home directory a node reports (`$HOME`), where its authorized_keys is
/// edited: an absolute path without control characters or `..`.
pub fn home_dir(home: &str) -> Result<(), String> {
    let ok = home.starts_with('/')
        && home.len() <= MAX_PATH_LEN
        && !home.chars().any(char::is_control)
        && !home.split('/').any(|part| part == "..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the home directory {home:?} is not an absolute path without control characters \
             and `..`"
        ))
    }
}

/// The filesync version that wrote a state file: a letter or digit, then
/// letters, digits, `.`, `+`, `-`.
fn version(version: &str) -> Result<(), String> {
    let ok = version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version.len() <= 64
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{version:?} is not a filesync version"))
    }
}

/// A rendered file's record: a relative path of plain characters inside the
/// install directory, and a lower-case hex SHA-256.
fn file_digest(path: &str, digest: &str) -> Result<(), String> {
    let path_ok = !path.is_empty()
        && path.len() <= 255
        && !path.starts_with('/')
        && !path.split('/').any(|part| part == ".." || part.is_empty())
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
    let digest_ok = digest.len() == 64
        && digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    match (path_ok, digest_ok) {
        (true, true) => Ok(()),
        (false, _) => Err(format!("{path:?} is not a file of the installation")),
        (true, false) => Err(format!("the digest of {path} is not a SHA-256")),
    }
}

/// Deserializes a `T` and keeps it only if `check` passes.
fn checked<'de, D, T>(
    deserializer: D,
    check: impl FnOnce(&T) -> Result<(), String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let value = T::deserialize(deserializer)?;
    check(&value).map_err(D::Error::custom)?;
    Ok(value)
}

pub fn node_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    checked(deserializer, |name: &String| {
        inventory::check_node_name(name)
    })
}

pub fn node_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    checked(deserializer, |names: &Vec<String>| {
        names
            .iter()
            .try_for_each(|name| inventory::check_node_name(name))
    })
}

pub fn environment_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    checked(deserializer, |name: &String| {
        inventory::check_environment_name(name)
    })
}

pub fn optional_environment_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    checked(deserializer, |name: &Option<String>| {
        name.as_deref()
            .map_or(Ok(()), inventory::check_environment_name)
    })
}

pub fn filesync_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    checked(deserializer, |text: &String| version(text))
}

pub fn file_digests<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    checked(deserializer, |files: &BTreeMap<String, String>| {
        files
            .iter()
            .try_for_each(|(path, digest)| file_digest(path, digest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values no check here may let through.
    const HOSTILE: &[&str] = &[
        "",
        "root\n ProxyCommand sh -c 'id >/tmp/pwned'",
        "root\r",
        "root ",
        " root",
        "ro ot",
        "\"root\"",
        "'root'",
        "root;id",
        "$(id)",
        "`id`",
        "../../etc",
        "root\0",
        "root\u{1b}[31m",
    ];

    #[test]
    fn posix_users_are_lowercase_names_of_at_most_32_characters() {
        for user in [
            "root",
            "www-data",
            "_apt",
            "deploy.web",
            "a1_b-c",
            "machine$",
        ] {
            assert_eq!(posix_user(user), Ok(()), "{user}");
        }
        let overlong = "a".repeat(33);
        for user in HOSTILE.iter().copied().chain([
            "Root", "1user", "-user", ".user", "us$er", "$", "é", &overlong,
        ]) {
            let err = posix_user(user).unwrap_err();
            assert!(err.contains("not a POSIX user name"), "{user:?}: {err}");
        }
        assert_eq!(posix_user(&"a".repeat(32)), Ok(()));
    }

    #[test]
    fn homes_are_absolute_paths_without_control_characters_or_dot_dot() {
        for home in ["/root", "/", "/home/it's a \"home\"", "/var/www/..hidden"] {
            assert_eq!(home_dir(home), Ok(()), "{home}");
        }
        let overlong = format!("/{}", "a".repeat(MAX_PATH_LEN));
        for home in [
            "",
            "root",
            "~/x",
            "/home/../etc",
            "/home/..",
            "/root\n",
            "/root\nProxyCommand id",
            "/ro\tot",
            "/root\0",
            "/root\u{7f}",
            &overlong,
        ] {
            let err = home_dir(home).unwrap_err();
            assert!(err.contains("home directory"), "{home:?}: {err}");
        }
    }

    #[test]
    fn versions_and_file_records_are_plain() {
        assert_eq!(version("0.1.0"), Ok(()));
        assert_eq!(version("1.2.3-rc.1+build5"), Ok(()));
        for text in HOSTILE.iter().copied().chain(["-", "-1", ".1"]) {
            assert!(version(text).is_err(), "{text:?}");
        }
        let digest = crate::digest::hex(b"x");
        assert_eq!(file_digest("etc/lsyncd.conf", &digest), Ok(()));
        for path in HOSTILE
            .iter()
            .copied()
            .chain(["/etc/passwd", "etc/../../x", "etc//x", "etc/"])
        {
            assert!(file_digest(path, &digest).is_err(), "{path:?}");
        }
        for bad in ["", "ABC", &digest.to_uppercase(), &format!("{digest}\n")] {
            assert!(file_digest("etc/lsyncd.conf", bad).is_err(), "{bad:?}");
        }
    }
}
