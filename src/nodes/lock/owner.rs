//! Who holds the operator lock: one line in the lock directory's
//! `layout::LOCK_OWNER` file, `key=value` fields separated by spaces, written
//! (`Owner::line`) by the take-lock script (`templates/remote/take-lock.sh.tera`)
//! and read back (`Owner::parse`) from what a node prints when the lock is held.

/// Who holds a lock: one line, `key=value` fields separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub user: String,
    pub pid: u32,
    /// Unix time the lock was taken.
    pub since: u64,
    pub command: String,
}

impl Owner {
    /// This process, about to run `command`.
    pub fn me(command: &str) -> Owner {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        Owner {
            host: read("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            pid: std::process::id(),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            command: command.to_string(),
        }
    }

    pub fn line(&self) -> String {
        let clean = |value: &str| value.replace(|c: char| c.is_whitespace() || c == '=', "_");
        format!(
            "host={} user={} pid={} since={} command={}",
            clean(&self.host),
            clean(&self.user),
            self.pid,
            self.since,
            clean(&self.command)
        )
    }

    pub fn parse(line: &str) -> Option<Owner> {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        Some(Owner {
            host: field("host")?,
            user: field("user")?,
            pid: field("pid")?.parse().ok()?,
            since: field("since")?.parse().ok()?,
            command: field("command")?,
        })
    }

    /// Said in errors: `filesync install by root@ops1 (pid 4242) since 2026-...`.
    pub fn describe(&self) -> String {
        let since = std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.since);
        format!(
            "filesync {} by {}@{} (pid {}) since {}",
            self.command,
            self.user,
            self.host,
            self.pid,
            humantime::format_rfc3339_seconds(since)
        )
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An owner on `host` with `pid`, who took the lock at time 0.
    pub(in crate::nodes::lock) fn owner(host: &str, pid: u32) -> Owner {
        Owner {
            host: host.into(),
            user: "ops".into(),
            pid,
            since: 0,
            command: "install".into(),
        }
    }

    #[test]
    fn the_owner_line_round_trips_and_cannot_be_split_by_odd_values() {
        let mut me = owner("ops 1", 42);
        me.command = "re=concile".into();
        let parsed = Owner::parse(&me.line()).unwrap();
        assert_eq!(parsed.host, "ops_1");
        assert_eq!(parsed.pid, 42);
        assert_eq!(parsed.command, "re_concile");
        assert_eq!(Owner::parse("garbage"), None);
        assert!(owner("ops", 7)
            .describe()
            .starts_with("filesync install by ops@ops (pid 7) since 1970-01-01T00:00:00Z"));
    }
}
