//! The trash: what sync replaced or deleted on a node because a peer said so,
//! kept in `<installation>/trash/<version>/<path>` for the retention period
//! (`--trash-days`) and pruned by the watchdog. A version directory is named
//! `<UTC time>-<pusher>-<pid>` by the receiving hook, `<UTC time>-restore-<pid>`
//! when a restore put the file it replaced aside. Pure: naming, validation and
//! parsing of the listing a node sends (`remote::list_trash`).

use serde::Serialize;

/// One kept copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The version directory, e.g. `20261130T124502Z-n3-623`.
    pub version: String,
    /// When it was put in the trash, as `2026-11-30 12:45:02 UTC`.
    pub kept_at: String,
    /// Who replaced or deleted it: the pushing node (or environment), or `restore`.
    pub by: String,
    /// The path, relative to the synced directory.
    pub path: String,
    pub size: u64,
    /// Its modification time (Unix seconds): the time of that version of the file.
    pub mtime: u64,
}

/// Whether `name` is a version directory the hook could have made; nothing
/// else is ever passed to a command.
pub fn is_version(name: &str) -> bool {
    let Some((stamp, rest)) = name.split_once('-') else {
        return false;
    };
    stamp.len() == 16
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp
            .chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 8 | 15) || c.is_ascii_digit())
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A path inside the synced directory as a user gives it (`uploads/a.jpg` or
/// `/uploads/a.jpg`), normalized; `None` when it could leave the directory
/// or names nothing.
pub fn relative_path(raw: &str) -> Option<String> {
    if raw.contains('\0') || raw.chars().any(|c| c == '\n' || c == '\r') {
        return None;
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Parses `find -printf '%P\0%s\0%T@\0'` run in the trash directory: every
/// kept file and link, newest version first.
pub fn parse_listing(output: &[u8]) -> Vec<Kept> {
    let fields: Vec<&[u8]> = output.split(|b| *b == 0).collect();
    let mut kept: Vec<Kept> = fields
        .chunks(3)
        .filter(|chunk| chunk.len() == 3)
        .filter_map(|chunk| {
            let full = String::from_utf8_lossy(chunk[0]);
            let (version, path) = full.split_once('/')?;
            if !is_version(version) {
                return None;
            }
            let size = std::str::from_utf8(chunk[1]).ok()?.parse().ok()?;
            let mtime = std::str::from_utf8(chunk[2])
                .ok()?
                .split('.')
                .next()?
                .parse()
                .ok()?;
            Some(Kept {
                version: version.to_string(),
                kept_at: kept_at(version),
                by: by(version),
                path: path.to_string(),
                size,
                mtime,
            })
        })
        .collect();
    kept.sort_by(|a, b| b.version.cmp(&a.version).then(a.path.cmp(&b.path)));
    kept
}

/// `20261130T124502Z-…` as `2026-11-30 12:45:02 UTC`.
fn kept_at(version: &str) -> String {
    let s = &version[..16];
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// The pusher's name between the time and the pid.
fn by(version: &str) -> String {
    let rest = &version[17..];
    rest.rsplit_once('-')
        .map(|(who, _)| who.to_string())
        .unwrap_or_else(|| rest.to_string())
}

/// The version to restore `path` from: the one asked for, or the newest.
pub fn choose<'a>(kept: &'a [Kept], path: &str, version: Option<&str>) -> Option<&'a Kept> {
    kept.iter()
        .filter(|k| k.path == path)
        .find(|k| version.is_none_or(|v| k.version == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_only_what_the_hook_names() {
        assert!(is_version("20261130T124502Z-n3-623"));
        assert!(is_version("20261130T124502Z-restore-99"));
        assert!(is_version("20261130T124502Z-prod-n1-7"));
        for bad in [
            "",
            "x",
            "20261130T124502Z",
            "20261130T124502Z-",
            "2026113XT124502Z-n1-1",
            "20261130T124502Z-../x",
            "20261130T124502Z-a b",
            "../20261130T124502Z-n1-1",
        ] {
            assert!(!is_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn paths_stay_inside_the_synced_directory() {
        assert_eq!(
            relative_path("/uploads//a.jpg").as_deref(),
            Some("uploads/a.jpg")
        );
        assert_eq!(relative_path("./it's a.jpg").as_deref(), Some("it's a.jpg"));
        for bad in ["", "/", "..", "a/../../etc/passwd", "a\nb", "a\0b"] {
            assert_eq!(relative_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_listing_is_parsed_newest_first_and_foreign_entries_are_left_out() {
        let listing = b"20261130T124502Z-n3-623/up/a.jpg\x005\x001764500000.25\x00\
20261201T080000Z-restore-9/up/a.jpg\x007\x001764600000\x00\
stray.txt\x001\x001\x00\
20261130T124459Z-n2-581/b c\nd.txt\x003\x001764400000.5\x00";
        let kept = parse_listing(listing);
        let summary: Vec<(&str, &str, &str, u64)> = kept
            .iter()
            .map(|k| (k.version.as_str(), k.by.as_str(), k.path.as_str(), k.size))
            .collect();
        assert_eq!(
            summary,
            [
                ("20261201T080000Z-restore-9", "restore", "up/a.jpg", 7),
                ("20261130T124502Z-n3-623", "n3", "up/a.jpg", 5),
                ("20261130T124459Z-n2-581", "n2", "b c\nd.txt", 3),
            ]
        );
        assert_eq!(kept[1].kept_at, "2026-11-30 12:45:02 UTC");
        assert_eq!(kept[1].mtime, 1764500000);
        assert_eq!(choose(&kept, "up/a.jpg", None).unwrap().by, "restore");
        assert_eq!(
            choose(&kept, "up/a.jpg", Some("20261130T124502Z-n3-623"))
                .unwrap()
                .size,
            5
        );
        assert!(choose(&kept, "up/none.jpg", None).is_none());
    }
}
