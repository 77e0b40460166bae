//! The synced tree as `verify` sees it: one record per path (metadata, or a
//! content digest), parsed from a node's sorted listing, and the comparison of
//! the records the nodes hold for one path. Pure: the listings arrive as byte
//! records, already sorted by path on each node.

use serde::Serialize;
use std::collections::BTreeMap;

/// What kind of file system object a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl Kind {
    fn from_mode(mode: u32) -> Kind {
        match mode & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            _ => Kind::Other,
        }
    }
}

/// The facts one node holds about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// From `stat`: type, permission bits, size and modification time (seconds).
    Meta {
        kind: Kind,
        perm: u32,
        size: u64,
        mtime: i64,
    },
    /// The SHA-256 of a regular file's content.
    Digest(String),
}

/// One path of a listing and what a node says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Relative to the synced directory, as the file system has it (any bytes).
    pub path: Vec<u8>,
    pub facts: Facts,
}

/// The ways a record can be malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unexpected listing record {0:?}")]
pub struct ParseError(pub String);

fn malformed(raw: &[u8]) -> ParseError {
    ParseError(String::from_utf8_lossy(raw).chars().take(120).collect())
}

/// Strips `./` that `find .` puts in front of every path.
fn relative(path: &[u8]) -> Vec<u8> {
    path.strip_prefix(b"./").unwrap_or(path).to_vec()
}

impl Record {
    /// Parses `stat --printf '%f %s %Y %n'`: raw mode in hex, size, mtime, path.
    pub fn parse_meta(raw: &[u8]) -> Result<Record, ParseError> {
        let mut fields = raw.splitn(4, |b| *b == b' ');
        let mut next = || fields.next().ok_or_else(|| malformed(raw));
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let mode = u32::from_str_radix(&text(next()?), 16).map_err(|_| malformed(raw))?;
        let size = text(next()?).parse().map_err(|_| malformed(raw))?;
        let mtime = text(next()?).parse().map_err(|_| malformed(raw))?;
        let path = relative(next()?);
        Ok(Record {
            path,
            facts: Facts::Meta {
                kind: Kind::from_mode(mode),
                perm: mode & 0o7777,
                size,
                mtime,
            },
        })
    }

    /// Parses `sha256sum -z`: 64 hex digits, two spaces, path.
    pub fn parse_digest(raw: &[u8]) -> Result<Record, ParseError> {
        if raw.len() < 67 || &raw[64..66] != b"  " {
            return Err(malformed(raw));
        }
        let digest = String::from_utf8(raw[..64].to_vec()).map_err(|_| malformed(raw))?;
        Ok(Record {
            path: relative(&raw[66..]),
            facts: Facts::Digest(digest),
        })
    }

    pub fn mtime(&self) -> Option<i64> {
        match self.facts {
            Facts::Meta { mtime, .. } => Some(mtime),
            Facts::Digest(_) => None,
        }
    }
}

/// A path as people read it (invalid UTF-8 shown as U+FFFD).
pub fn display(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// One aspect in which the nodes disagree: each distinct value with its nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    pub field: &'static str,
    pub values: Vec<(String, Vec<String>)>,
}

/// How the nodes disagree about one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathDrift {
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_on: Vec<String>,
    /// The nodes that have a path most nodes lack.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_on: Vec<String>,
    /// Nodes whose copy differs from what most nodes have, by aspect.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub different: Vec<Disagreement>,
    /// The newest modification time among the copies (for "in flight").
    #[serde(skip)]
    pub newest_mtime: Option<i64>,
}

impl PathDrift {
    /// The nodes this drift is reported on (missing, extra or in the minority).
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .missing_on
            .iter()
            .chain(&self.extra_on)
            .cloned()
            .chain(self.different.iter().flat_map(minority))
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }
}

/// The nodes that do not hold the most common value (all but the first group).
pub fn minority(disagreement: &Disagreement) -> Vec<String> {
    disagreement
        .values
        .iter()
        .skip(1)
        .flat_map(|(_, nodes)| nodes.clone())
        .collect()
}

/// Compares what every node holds for one path (`None`: the node lacks it).
/// Returns `None` when all nodes agree. Directories are compared by type and
/// permissions only: their size and mtime change with their contents.
pub fn judge(path: &[u8], copies: &[(&str, Option<&Record>)]) -> Option<PathDrift> {
    let present: Vec<(&str, &Record)> = copies
        .iter()
        .filter_map(|(node, record)| record.map(|r| (*node, r)))
        .collect();
    let absent: Vec<String> = copies
        .iter()
        .filter(|(_, record)| record.is_none())
        .map(|(node, _)| node.to_string())
        .collect();
    let (missing_on, extra_on) = if absent.is_empty() {
        (Vec::new(), Vec::new())
    } else if present.len() * 2 >= copies.len() {
        (absent, Vec::new())
    } else {
        (
            Vec::new(),
            present.iter().map(|(node, _)| node.to_string()).collect(),
        )
    };
    let different: Vec<Disagreement> = fields(&present)
        .into_iter()
        .filter_map(|(field, values)| group(field, &values))
        .collect();
    if missing_on.is_empty() && extra_on.is_empty() && different.is_empty() {
        return None;
    }
    Some(PathDrift {
        path: display(path),
        missing_on,
        extra_on,
        different,
        newest_mtime: present.iter().filter_map(|(_, r)| r.mtime()).max(),
    })
}

type FieldValues<'a> = Vec<(&'a str, String)>;

/// Every compared field with each present node's value.
fn fields<'a>(present: &[(&'a str, &Record)]) -> Vec<(&'static str, FieldValues<'a>)> {
    let mut fields: BTreeMap<&'static str, FieldValues<'a>> = BTreeMap::new();
    for (node, record) in present {
        let mut add = |field: &'static str, value: String| {
            fields.entry(field).or_default().push((*node, value));
        };
        match &record.facts {
            Facts::Meta {
                kind,
                perm,
                size,
                mtime,
            } => {
                add("type", format!("{kind:?}").to_lowercase());
                add("mode", format!("{perm:04o}"));
                if *kind != Kind::Dir {
                    add("size", size.to_string());
                }
                if *kind == Kind::File {
                    add("mtime", mtime.to_string());
                }
            }
            Facts::Digest(digest) => add("content", digest.clone()),
        }
    }
    fields.into_iter().collect()
}

/// Groups nodes by value, most common value first; `None` when all agree.
fn group(field: &'static str, values: &[(&str, String)]) -> Option<Disagreement> {
    let mut by_value: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (node, value) in values {
        by_value.entry(value).or_default().push(node.to_string());
    }
    if by_value.len() < 2 {
        return None;
    }
    let mut values: Vec<(String, Vec<String>)> = by_value
        .into_iter()
        .map(|(value, nodes)| (value.to_string(), nodes))
        .collect();
    values.sort_by_key(|(_, nodes)| std::cmp::Reverse(nodes.len()));
    Some(Disagreement { field, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(line: &str) -> Record {
        Record::parse_meta(line.as_bytes()).unwrap()
    }

    #[test]
    fn stat_records_parse_with_any_bytes_in_the_path() {
        let record = meta("81a4 12 1700000000 ./uploads/a b\nc.jpg");
        assert_eq!(record.path, b"uploads/a b\nc.jpg");
        assert_eq!(
            record.facts,
            Facts::Meta {
                kind: Kind::File,
                perm: 0o644,
                size: 12,
                mtime: 1_700_000_000
            }
        );
        assert!(matches!(
            meta("41ed 4096 1 ./d").facts,
            Facts::Meta {
                kind: Kind::Dir,
                perm: 0o755,
                ..
            }
        ));
        assert!(Record::parse_meta(b"zz 1 1 ./x").is_err());
        assert!(Record::parse_meta(b"81a4 1").is_err());
    }

    #[test]
    fn digest_records_parse_and_reject_garbage() {
        let line = format!("{}  ./a  b", "0f".repeat(32));
        let record = Record::parse_digest(line.as_bytes()).unwrap();
        assert_eq!(record.path, b"a  b");
        assert_eq!(record.facts, Facts::Digest("0f".repeat(32)));
        assert!(Record::parse_digest(b"short  x").is_err());
    }

    #[test]
    fn identical_copies_are_not_drift() {
        let a = meta("81a4 5 100 ./f");
        assert_eq!(judge(b"f", &[("n1", Some(&a)), ("n2", Some(&a))]), None);
    }

    #[test]
    fn a_path_most_nodes_have_is_missing_on_the_others_and_a_rare_one_is_extra() {
        let a = meta("81a4 5 100 ./f");
        let drift = judge(b"f", &[("n1", Some(&a)), ("n2", None), ("n3", Some(&a))]).unwrap();
        assert_eq!(drift.missing_on, vec!["n2"]);
        assert!(drift.extra_on.is_empty());
        let drift = judge(b"f", &[("n1", None), ("n2", None), ("n3", Some(&a))]).unwrap();
        assert_eq!(drift.extra_on, vec!["n3"]);
        assert_eq!(drift.nodes(), vec!["n3"]);
        // With two nodes and one copy, the other node is the one missing it.
        let drift = judge(b"f", &[("n1", Some(&a)), ("n2", None)]).unwrap();
        assert_eq!(drift.missing_on, vec!["n2"]);
    }

    #[test]
    fn differences_name_the_field_the_minority_and_every_value() {
        let a = meta("81a4 5 100 ./f");
        let b = meta("81ed 7 200 ./f");
        let drift = judge(
            b"f",
            &[("n1", Some(&a)), ("n2", Some(&b)), ("n3", Some(&a))],
        )
        .unwrap();
        let fields: Vec<&str> = drift.different.iter().map(|d| d.field).collect();
        assert_eq!(fields, vec!["mode", "mtime", "size"]);
        let size = &drift.different[2];
        assert_eq!(
            size.values[0],
            ("5".to_string(), vec!["n1".into(), "n3".into()])
        );
        assert_eq!(size.values[1], ("7".to_string(), vec!["n2".into()]));
        assert_eq!(drift.nodes(), vec!["n2"]);
        assert_eq!(drift.newest_mtime, Some(200));
    }

    #[test]
    fn directories_differing_only_in_size_or_mtime_agree() {
        let a = meta("41ed 4096 100 ./d");
        let b = meta("41ed 8192 999 ./d");
        assert_eq!(judge(b"d", &[("n1", Some(&a)), ("n2", Some(&b))]), None);
        let c = meta("41c0 4096 100 ./d");
        let drift = judge(b"d", &[("n1", Some(&a)), ("n2", Some(&c))]).unwrap();
        assert_eq!(drift.different[0].field, "mode");
    }

    #[test]
    fn a_file_replaced_by_a_directory_is_a_type_difference() {
        let file = meta("81a4 5 100 ./x");
        let dir = meta("41ed 4096 100 ./x");
        let drift = judge(b"x", &[("n1", Some(&file)), ("n2", Some(&dir))]).unwrap();
        assert!(drift.different.iter().any(|d| d.field == "type"));
    }

    #[test]
    fn contents_are_compared_by_digest() {
        let a = Record {
            path: b"f".to_vec(),
            facts: Facts::Digest("aa".into()),
        };
        let b = Record {
            path: b"f".to_vec(),
            facts: Facts::Digest("bb".into()),
        };
        let drift = judge(
            b"f",
            &[("n1", Some(&a)), ("n2", Some(&b)), ("n3", Some(&a))],
        )
        .unwrap();
        assert_eq!(drift.different[0].field, "content");
        assert_eq!(drift.nodes(), vec!["n2"]);
    }
}
