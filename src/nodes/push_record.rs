//! The push record: how the last push from a node to one peer ended, one
//! line `epoch code [class]` in `var/log/push-<peer>` (`layout::push_record`),
//! written by the push wrapper after every push (`templates/rsync-push.sh.tera`)
//! and read here, for the join to see a seeder's copy through and for
//! `status` to report each peer. Pure; what a node says is checked as read.

/// What the push wrapper names the record files by: `push-<peer>`.
pub const FILE_PREFIX: &str = "push-";
/// `var/log/pushes-PEER`: every push's `start end exit-code` (seconds with
/// nanoseconds), appended by the same script; read by the receive hook (did
/// the peer have a change when it deleted the file?) and trimmed by
/// `node-ctl`. No Rust code reads it.
pub const LOG_PREFIX: &str = "pushes-";

/// How the last push to one peer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    /// Unix time the push ended.
    pub ended: u64,
    /// rsync's exit code (0 = success).
    pub code: i32,
    /// The class of its error when the push wrapper recognized one (`auth`,
    /// `module`).
    pub class: Option<String>,
}

impl PushRecord {
    /// Reads one record line; `None` when it is not one (empty, cut short).
    pub fn parse(line: &str) -> Option<PushRecord> {
        let mut fields = line.split_whitespace();
        Some(PushRecord {
            ended: fields.next()?.parse().ok()?,
            code: fields.next()?.parse().ok()?,
            class: fields.next().map(str::to_string),
        })
    }

    /// Whether this push succeeded and ended at or after `since` (Unix time).
    pub fn succeeded_since(&self, since: u64) -> bool {
        self.code == 0 && self.ended >= since
    }
}

/// Reads `peer epoch code [class]` lines (a record prefixed with the peer it
/// is of, as `remote::sync_report` prints them), skipping what is not one.
pub fn parse_named(lines: &str) -> Vec<(String, PushRecord)> {
    lines
        .lines()
        .filter_map(|line| {
            let (peer, record) = line.trim_start().split_once(char::is_whitespace)?;
            Some((peer.to_string(), PushRecord::parse(record)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_when_the_push_ended_its_exit_code_and_maybe_a_class() {
        assert_eq!(
            PushRecord::parse("1700000005 5 auth\n"),
            Some(PushRecord {
                ended: 1700000005,
                code: 5,
                class: Some("auth".into())
            })
        );
        let ok = PushRecord::parse("1700000000 0").unwrap();
        assert_eq!(ok.class, None);
        assert!(ok.succeeded_since(1700000000));
        assert!(!ok.succeeded_since(1700000001));
        assert!(!PushRecord::parse("1700000000 23")
            .unwrap()
            .succeeded_since(0));
        for cut in ["", "1700000000", "x 0", "1700000000 x"] {
            assert_eq!(PushRecord::parse(cut), None, "{cut:?}");
        }
    }

    #[test]
    fn named_records_skip_lines_that_are_not_records() {
        let records =
            parse_named("filesync-n2 1700000000 0\nfilesync-n3 17\npeer-env 9 5 module\n");
        assert_eq!(
            records,
            [
                (
                    "filesync-n2".to_string(),
                    PushRecord::parse("1700000000 0").unwrap()
                ),
                (
                    "peer-env".to_string(),
                    PushRecord::parse("9 5 module").unwrap()
                ),
            ]
        );
    }
}
