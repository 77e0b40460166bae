//! What the platform API answers, read into filesync's terms: the `result`
//! code and error text, the status of environments and nodes, the nodes of one
//! group and the connecting user's uid. Pure; every value is checked like a
//! flag, and a node whose part of the answer is unusable is left out (with the
//! reason) instead of failing the whole environment.

use super::{answer_error, Kind};
use crate::error::LeftOut;
use crate::error::Result;
use crate::source::inventory;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The status code the platform gives an environment (`env.status`) or a node
/// (`status`); the two share their codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub i64);

impl Status {
    pub const RUNNING: Status = Status(1);

    pub fn is_running(self) -> bool {
        self == Status::RUNNING
    }

    /// The status as the platform's dashboard names it, with its code.
    pub fn describe(self) -> String {
        let name = match self.0 {
            1 => "running",
            2 => "stopped",
            3 => "launching",
            4 => "sleeping",
            5 => "suspended",
            6 => "being created",
            7 => "being cloned",
            8 => "deleted",
            9 => "being exported",
            10 => "being migrated",
            11 => "broken",
            12 => "being updated",
            13 => "stopping",
            14 => "going to sleep",
            15 => "being restored",
            _ => "in an unknown state",
        };
        format!("{name} (status {})", self.0)
    }

    /// What to do on the platform so that filesync can work on it.
    pub fn what_to_do(self) -> &'static str {
        match self.0 {
            2 | 13 => "start it in the platform's dashboard, then run the command again",
            4 | 14 => {
                "wake it (open its URL, or start it in the platform's dashboard), then run \
                 the command again"
            }
            5 => {
                "the platform suspended it (often over the account's billing): ask the \
                 provider, start it once it is released, then run the command again"
            }
            3 | 6 | 7 | 9 | 10 | 12 | 15 => {
                "the platform is busy with it: wait until its dashboard shows it running, \
                 then run the command again"
            }
            8 => "it no longer exists: `filesync nodes` lists the environments",
            _ => "see it in the platform's dashboard; filesync works on it once it is running",
        }
    }
}

/// `status` of an object of the answer; a missing one counts as unknown (0).
fn status_of(object: &Value, key: &str) -> Status {
    Status(object.get(key).and_then(Value::as_i64).unwrap_or(0))
}

/// `result` 0 is success; any other code is an error carrying the platform's
/// `error` text, with a hint for the codes that have one.
pub fn check_result(method: &str, value: Value) -> Result<Value> {
    let Some(code) = value.get("result").and_then(Value::as_i64) else {
        return Err(answer_error(format!(
            "{method}: the answer has no `result` field"
        )));
    };
    if code == 0 {
        return Ok(value);
    }
    let text = value
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no error text");
    let lower = text.to_lowercase();
    let kind = if code == 702 || lower.contains("session") || lower.contains("authenticat") {
        Kind::Token
    } else if code == 901 || lower.contains("does not exist") {
        Kind::NoSuchEnvironment
    } else {
        Kind::Refused
    };
    let text = crate::nodes::untrusted::printable(text);
    Err(kind.error(format!("{method}: the platform answered {code}: {text}")))
}

/// One environment of `getenvs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub status: Status,
}

/// The environments of `getenvs` (`infos[].env`), by name; each name is one
/// the inventory would accept.
pub fn environments(value: &Value) -> Result<Vec<Listed>> {
    let infos = value
        .get("infos")
        .and_then(Value::as_array)
        .ok_or_else(|| answer_error("getenvs: the answer has no `infos` list"))?;
    let mut listed: Vec<Listed> = infos
        .iter()
        .filter_map(|info| info.get("env"))
        .filter_map(|env| {
            let name = env.get("envName").and_then(Value::as_str)?;
            Some((name, status_of(env, "status")))
        })
        .map(|(name, status)| {
            inventory::check_environment_name(name)
                .map(|()| Listed {
                    name: name.to_string(),
                    status,
                })
                .map_err(|reason| answer_error(format!("getenvs: {reason}")))
        })
        .collect::<Result<_>>()?;
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(listed)
}

/// A node of the wanted group that filesync can use: running, with a numeric
/// id and an internal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformNode {
    pub id: u64,
    pub int_ip: IpAddr,
}

impl PlatformNode {
    pub fn name(&self) -> String {
        format!("node{}", self.id)
    }
}

/// What `getenvinfo` says of an environment and of the nodes of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvInfo {
    pub status: Status,
    /// Every node group the environment has (custom ones of Docker stacks too).
    pub groups: BTreeSet<String>,
    pub nodes: Vec<PlatformNode>,
    pub left_out: Vec<LeftOut>,
}

/// The environment's status and the nodes of `node_group` from `getenvinfo`.
/// A node's `intIP` is its address inside the platform, where peers reach it;
/// `address` may be its public one and is not used.
pub fn env_info(value: &Value, node_group: &str) -> Result<EnvInfo> {
    let env = value
        .get("env")
        .ok_or_else(|| answer_error("getenvinfo: the answer has no `env` object"))?;
    let nodes = value
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| answer_error("getenvinfo: the answer has no `nodes` list"))?;
    let groups = nodes
        .iter()
        .filter_map(|node| node.get("nodeGroup").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    let mut info = EnvInfo {
        status: status_of(env, "status"),
        groups,
        nodes: Vec::new(),
        left_out: Vec::new(),
    };
    let in_group = nodes
        .iter()
        .filter(|node| node.get("nodeGroup").and_then(Value::as_str) == Some(node_group));
    for (index, node) in in_group.enumerate() {
        match platform_node(node, index, node_group) {
            Ok(found) => info.nodes.push(found),
            Err(left_out) => info.left_out.push(left_out),
        }
    }
    // An id listed twice: which entry says the truth is unknown, so neither
    // is used (one could send its peers to another node's address).
    let mut ids: BTreeMap<u64, usize> = BTreeMap::new();
    for node in &info.nodes {
        *ids.entry(node.id).or_default() += 1;
    }
    let (twice, once): (Vec<PlatformNode>, Vec<PlatformNode>) = std::mem::take(&mut info.nodes)
        .into_iter()
        .partition(|node| ids[&node.id] > 1);
    info.nodes = once;
    let mut named = BTreeSet::new();
    for node in twice {
        if named.insert(node.id) {
            info.left_out.push(LeftOut {
                name: node.name(),
                reason: "the answer lists this node id more than once, with different \
                         entries or not: filesync uses none of them; check the node in the \
                         platform's dashboard"
                    .into(),
            });
        }
    }
    Ok(info)
}

/// One node of the group, or why it is left out.
fn platform_node(node: &Value, index: usize, group: &str) -> Result<PlatformNode, LeftOut> {
    let Some(id) = node.get("id").and_then(Value::as_u64).filter(|id| *id > 0) else {
        return Err(LeftOut {
            name: format!("entry {} of group {group}", index + 1),
            reason: format!(
                "its `id` {} is not a node id (a positive number), so filesync cannot name \
                 or reach it; check the node in the platform's dashboard",
                node.get("id").unwrap_or(&Value::Null)
            ),
        });
    };
    let name = format!("node{id}");
    let left_out = |reason: String| LeftOut {
        name: name.clone(),
        reason,
    };
    let status = status_of(node, "status");
    if !status.is_running() {
        return Err(left_out(format!(
            "it is {}: {}; a reconcile then adds it",
            status.describe(),
            node_what_to_do(status)
        )));
    }
    let int_ip = match node.get("intIP").and_then(Value::as_str) {
        None | Some("") => {
            return Err(left_out(
                "the answer gives it no internal address (`intIP`), the one its peers sync \
                 over; check the node in the platform's dashboard"
                    .into(),
            ))
        }
        Some(raw) => raw.parse::<IpAddr>().map_err(|_| {
            left_out(format!(
                "its internal address (`intIP`) {raw:?} is not an IP address"
            ))
        })?,
    };
    Ok(PlatformNode { id, int_ip })
}

fn node_what_to_do(status: Status) -> &'static str {
    match status.0 {
        2 | 13 => "start it in the platform's dashboard",
        _ => "wait until the platform's dashboard shows it running",
    }
}

/// The connecting user's uid from `users/account/rest/getuserinfo`.
pub fn user_uid(value: &Value) -> Result<u64> {
    match value.get("uid") {
        Some(uid) => uid.as_u64().filter(|uid| *uid > 0).ok_or_else(|| {
            answer_error(format!(
                "getuserinfo: `uid` {uid} is not a user id (a positive number)"
            ))
        }),
        None => Err(answer_error("getuserinfo: the answer has no `uid`")),
    }
}
