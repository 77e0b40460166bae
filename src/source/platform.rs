//! The Jelastic / Virtuozzo Application Platform API as a topology source:
//! which environments exist and run, which nodes their app-server layer has,
//! and who the connecting user is (for the SSH gate). The token travels only in
//! the body of POST requests (never in a URL, a log or an error), over https
//! unless the user allowed plain http. Reading the answers is `answer` (pure,
//! unit-tested); what the platform says is input, checked like the inventory.

mod answer;

pub use answer::{environments as read_environments, Listed, Status};

use crate::error::LeftOut;
use crate::error::{Error, Result};
use crate::source::inventory::{Environment, Node, PeerAddress, SshDestination, DEFAULT_SSH_PORT};
use answer::PlatformNode;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The platform's SSH gate listens here by default.
pub const GATE_PORT: u16 = 3022;

/// The API version every method is called under: real bases end in it.
pub const API_VERSION: &str = "1.0";

/// How filesync's own ssh reaches a platform node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Straight to the node's internal address (`intIP`), as `user`: filesync
    /// runs inside the platform, or over a VPN into it.
    Direct { user: String },
    /// Through the platform's SSH gate: user `<nodeId>-<uid>`, the uid of the
    /// user who connects (not of the environment's owner).
    Gate { host: String, port: u16 },
}

/// The API's base URL: https, or plain http only when the user allowed it
/// (`--allow-insecure-platform`), since every request carries the token. A
/// URL without a path gets the API version (`/1.0`) added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl(String);

impl ApiUrl {
    pub fn parse(raw: &str, allow_insecure: bool) -> Result<Self> {
        const HINT: &str = "--platform-url takes the API's base URL, e.g. \
                            https://app.example.com/1.0";
        const INSECURE_HINT: &str = "use the platform's https:// URL; only where nobody can \
            overhear the connection (a local test server, a private link) pass \
            --allow-insecure-platform or set FILESYNC_ALLOW_INSECURE_PLATFORM=1";
        let invalid = |reason: String, hint: &str| Error::InvalidSetting {
            setting: "--platform-url".into(),
            reason,
            hint: hint.into(),
        };
        let raw = raw.trim();
        let url = reqwest::Url::parse(raw)
            .map_err(|err| invalid(format!("{raw:?} is not a URL ({err})"), HINT))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "the URL carries a user name or password; filesync would show it in \
                 messages and logs"
                    .into(),
                "give the URL without `user:password@`; the access token goes in \
                 FILESYNC_TOKEN",
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if allow_insecure => {}
            "http" => {
                return Err(invalid(
                    format!(
                        "{raw} is plain http: the access token (FILESYNC_TOKEN) would cross \
                         the network unencrypted"
                    ),
                    INSECURE_HINT,
                ))
            }
            other => {
                return Err(invalid(
                    format!("{raw:?}: the API is reached over https, not {other}"),
                    HINT,
                ))
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                format!("{raw:?} has a query or fragment; the base URL has neither"),
                HINT,
            ));
        }
        let base = raw.trim_end_matches('/');
        if url.path().trim_matches('/').is_empty() {
            return Ok(ApiUrl(format!("{base}/{API_VERSION}")));
        }
        Ok(ApiUrl(base.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kinds of platform failure, each with what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No answer: unreachable, timeout, reading failed, HTTP 5xx.
    Transport,
    /// HTTP 404: the base URL is not the API's.
    NotFound,
    /// An HTTP error other than 404 and 5xx.
    Http,
    /// The answer is not what the platform answers (not JSON, fields missing,
    /// values that fail the checks).
    Answer,
    /// The token was refused.
    Token,
    /// The platform does not know the environment.
    NoSuchEnvironment,
    /// Any other error the platform answered, with its own text.
    Refused,
}

impl Kind {
    fn hint(self) -> &'static str {
        match self {
            Kind::Transport => {
                "check --platform-url (FILESYNC_PLATFORM_URL) and that this machine reaches \
                 the platform; a timeout or an HTTP 5xx can be retried (--platform-timeout \
                 waits longer)"
            }
            Kind::NotFound => {
                "the API's base URL ends in /1.0 (e.g. https://app.example.com/1.0); check \
                 --platform-url (FILESYNC_PLATFORM_URL) against the platform's API address"
            }
            Kind::Http => {
                "check --platform-url (FILESYNC_PLATFORM_URL): it must be the platform's API, \
                 e.g. https://app.example.com/1.0"
            }
            Kind::Answer => {
                "the platform answered in a form filesync does not accept (see above); \
                 retrying will not help: report it with the platform's version"
            }
            Kind::Token => {
                "check the access token in FILESYNC_TOKEN: a personal access token of the \
                 platform (Settings > Access Tokens in the dashboard), not expired, with \
                 access to environment control and account information"
            }
            Kind::NoSuchEnvironment => {
                "check --env: `filesync nodes` lists the environments the account behind \
                 FILESYNC_TOKEN owns or shares"
            }
            Kind::Refused => {
                "the platform's own error text above says what went wrong; see the \
                 environment in the platform's dashboard"
            }
        }
    }

    fn error(self, reason: String) -> Error {
        Error::Platform {
            reason,
            hint: self.hint().to_string(),
        }
    }
}

/// The platform answered something filesync cannot use.
fn answer_error(reason: impl Into<String>) -> Error {
    Kind::Answer.error(reason.into())
}

#[derive(Debug, Clone)]
pub struct Platform {
    base: String,
    token: String,
    http: reqwest::Client,
    pub node_group: String,
    pub reach: Reach,
    pub webroot: String,
    timeout: Duration,
    /// The connecting user's uid (SSH gate): from `--platform-uid`, else asked
    /// of the account API once.
    uid: OnceCell<u64>,
}

impl Platform {
    pub fn new(
        base: &ApiUrl,
        token: String,
        node_group: String,
        reach: Reach,
        webroot: String,
        timeout: Duration,
        uid: Option<u64>,
    ) -> Result<Self> {
        if token.trim().is_empty() {
            return Err(Error::MissingSetting {
                what: "the platform's access token".into(),
                flag: "FILESYNC_TOKEN (an environment variable, never a flag)".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("filesync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::Other(anyhow::anyhow!("cannot build the HTTP client: {err}")))?;
        Ok(Platform {
            base: base.0.clone(),
            token,
            http,
            node_group,
            reach,
            webroot,
            timeout,
            uid: OnceCell::new_with(uid),
        })
    }

    /// Calls one API method; the platform answers `{"result": 0, ...}` or an error.
    async fn call(&self, method: &str, params: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}/{method}", self.base);
        let mut form: Vec<(&str, &str)> = vec![("session", self.token.as_str())];
        form.extend_from_slice(params);
        let short = method.rsplit('/').next().unwrap_or(method);
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|err| {
                // reqwest's message would include the URL only; never the body.
                if err.is_timeout() {
                    Kind::Transport.error(format!(
                        "{short}: no answer within {} s",
                        self.timeout.as_secs()
                    ))
                } else {
                    Kind::Transport.error(format!("{short}: cannot reach {}: {err}", self.base))
                }
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| Kind::Transport.error(format!("{short}: reading the answer: {err}")))?;
        if !status.is_success() {
            let kind = match status.as_u16() {
                404 => Kind::NotFound,
                500..=599 => Kind::Transport,
                _ => Kind::Http,
            };
            return Err(kind.error(format!("{short}: HTTP {status} from {url}")));
        }
        let value: Value = serde_json::from_slice(&body).map_err(|err| {
            answer_error(format!("{short}: the answer is not valid JSON ({err})"))
        })?;
        answer::check_result(short, value)
    }

    /// Every environment of the account, with its status.
    pub async fn environments(&self) -> Result<Vec<Listed>> {
        let value = self.call("environment/control/rest/getenvs", &[]).await?;
        answer::environments(&value)
    }

    /// The running nodes of the node group of environment `name`, which must
    /// be running; the nodes left out are named with the reason.
    pub async fn environment(&self, name: &str) -> Result<Environment> {
        let value = self
            .call("environment/control/rest/getenvinfo", &[("envName", name)])
            .await?;
        let route = match &self.reach {
            Reach::Direct { user } => Route::Direct { user },
            Reach::Gate { host, port } => Route::Gate {
                host,
                port: *port,
                uid: self.connecting_uid().await?,
            },
        };
        read_environment(&value, name, &self.node_group, &route, &self.webroot)
    }

    /// The uid of the user the token belongs to (`users/account/rest/getuserinfo`).
    async fn connecting_uid(&self) -> Result<u64> {
        self.uid
            .get_or_try_init(|| async {
                let value = self.call("users/account/rest/getuserinfo", &[]).await?;
                answer::user_uid(&value)
            })
            .await
            .copied()
            .map_err(|err| match err {
                Error::Platform { reason, hint } => Error::Platform {
                    reason,
                    hint: format!(
                        "{hint}; or give your platform user id with --platform-uid \
                         (FILESYNC_PLATFORM_UID), which spares the account API"
                    ),
                },
                other => other,
            })
    }
}

/// Environment `name` as `getenvinfo` answered it (`value`): it must be
/// running and have `node_group`; its running nodes of that group are reached
/// by `route`, the others are left out with the reason. Pure.
pub fn read_environment(
    value: &Value,
    name: &str,
    node_group: &str,
    route: &Route,
    webroot: &str,
) -> Result<Environment> {
    let info = answer::env_info(value, node_group)?;
    if !info.status.is_running() {
        return Err(Error::NotRunning {
            env: name.to_string(),
            status: info.status.describe(),
            hint: info.status.what_to_do().to_string(),
        });
    }
    if !info.groups.contains(node_group) {
        return Err(no_such_group(name, node_group, &info.groups));
    }
    let (nodes, mut left_out) = admit(&info.nodes, route);
    left_out.extend(info.left_out);
    Ok(Environment {
        name: name.to_string(),
        webroot: webroot.to_string(),
        nodes,
        left_out,
    })
}

/// `--node-group` names a group the environment does not have.
fn no_such_group(env: &str, group: &str, groups: &std::collections::BTreeSet<String>) -> Error {
    let has = if groups.is_empty() {
        "none".to_string()
    } else {
        groups.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    Error::InvalidSetting {
        setting: "--node-group".into(),
        reason: format!("environment {env:?} has no node group {group:?} (its groups: {has})"),
        hint: "--node-group takes the group of the application servers to sync: cp, or the \
               name a Docker-based stack gave it (the node groups of the environment's \
               topology in the platform's dashboard)"
            .into(),
    }
}

/// `Reach` with the gate user's uid known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Direct { user: &'a str },
    Gate { host: &'a str, port: u16, uid: u64 },
}

/// The platform's nodes as filesync's nodes, reached by `route`; a node whose
/// values the inventory would refuse is left out whole, never admitted in part.
fn admit(found: &[PlatformNode], route: &Route) -> (Vec<Node>, Vec<LeftOut>) {
    let mut nodes = Vec::new();
    let mut left_out = Vec::new();
    for node in found {
        let host = node.int_ip.to_string();
        let ssh = match *route {
            Route::Direct { user } => SshDestination {
                user: Some(user.to_string()),
                host: host.clone(),
                port: None,
            },
            Route::Gate {
                host: gate,
                port,
                uid,
            } => SshDestination {
                user: Some(format!("{}-{uid}", node.id)),
                host: gate.to_string(),
                port: Some(port),
            },
        };
        let address = PeerAddress {
            host,
            port: DEFAULT_SSH_PORT,
        };
        // Read back as the inventory reads a node: what is recorded in the
        // nodes' state must pass the same checks when it is read again.
        match Node::from_record(&node.name(), &ssh.to_string(), &address.to_string()) {
            Ok(admitted) => nodes.push(admitted),
            Err(reason) => left_out.push(LeftOut {
                name: node.name(),
                reason: format!("{reason}; check the node in the platform's dashboard"),
            }),
        }
    }
    (nodes, left_out)
}

#[cfg(test)]
mod tests {
    use super::answer::{check_result, env_info, environments, user_uid};
    use super::*;
    use crate::error::ExitCode;
    use serde_json::json;

    /// An answer of the fixtures the integration tests serve too.
    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/platform/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn admitted(group: &str, route: &Route) -> (Vec<String>, Vec<String>) {
        let info = env_info(&fixture("getenvinfo-shop.json"), group).unwrap();
        let (nodes, mut left_out) = admit(&info.nodes, route);
        left_out.extend(info.left_out);
        (
            nodes
                .iter()
                .map(|n| format!("{} {} {}", n.name, n.ssh, n.address))
                .collect(),
            left_out.iter().map(ToString::to_string).collect(),
        )
    }

    const ROOT: Route = Route::Direct { user: "root" };

    #[test]
    fn only_running_environments_are_running_and_the_others_say_what_to_do() {
        let listed = environments(&fixture("getenvs.json")).unwrap();
        let described: Vec<(String, bool, String)> = listed
            .iter()
            .map(|env| {
                (
                    env.name.clone(),
                    env.status.is_running(),
                    env.status.describe(),
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                ("blog".into(), false, "stopped (status 2)".into()),
                ("lab".into(), false, "sleeping (status 4)".into()),
                ("shop".into(), true, "running (status 1)".into()),
                ("stage".into(), false, "being updated (status 12)".into()),
            ]
        );
        assert!(Status(2).what_to_do().contains("start it"));
        assert!(Status(4).what_to_do().contains("wake it"));
        assert!(Status(5).what_to_do().contains("suspended"));
        assert!(Status(12).what_to_do().contains("wait until"));
        let info = env_info(&fixture("getenvinfo-blog.json"), "cp").unwrap();
        assert_eq!(info.status, Status(2));
        assert!(info.nodes.is_empty(), "a stopped node is never taken");
    }

    #[test]
    fn nodes_are_reached_and_synced_over_their_internal_address_only() {
        let (nodes, left_out) = admitted("cp", &ROOT);
        assert_eq!(
            nodes,
            [
                "node2102 root@10.100.1.11 10.100.1.11:22",
                "node2103 root@10.100.1.12 10.100.1.12:22"
            ],
            "`address` 203.0.113.11 is node2102's public IP and is never used"
        );
        assert_eq!(left_out.len(), 2, "{left_out:?}");
        assert!(
            left_out[0].starts_with("node2104: it is stopped (status 2): start it"),
            "{left_out:?}"
        );
        assert!(
            left_out[1].starts_with("node2105: the answer gives it no internal address (`intIP`)"),
            "{left_out:?}"
        );
    }

    #[test]
    fn a_custom_docker_group_is_taken_by_name_and_every_group_is_known() {
        let (nodes, left_out) = admitted("web", &ROOT);
        assert_eq!(
            nodes,
            [
                "node2106 root@10.100.1.20 10.100.1.20:22",
                "node2107 root@10.100.1.21 10.100.1.21:22"
            ]
        );
        assert!(left_out.is_empty());
        let info = env_info(&fixture("getenvinfo-shop.json"), "app").unwrap();
        let groups: Vec<&str> = info.groups.iter().map(String::as_str).collect();
        assert_eq!(groups, ["bl", "cp", "sqldb", "storage", "web"]);
        let err = no_such_group("shop", "app", &info.groups);
        assert_eq!(err.exit_code(), ExitCode::BadInput);
        assert!(
            err.to_string()
                .contains("no node group \"app\" (its groups: bl, cp, sqldb, storage, web)"),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("Docker-based stack"));
    }

    #[test]
    fn the_gate_user_is_the_node_id_and_the_connecting_users_uid() {
        let uid = user_uid(&fixture("getuserinfo.json")).unwrap();
        assert_eq!(uid, 5120, "the account API's uid, not the owner's 4711");
        let gate = Route::Gate {
            host: "gate.example.com",
            port: GATE_PORT,
            uid,
        };
        let (nodes, _) = admitted("cp", &gate);
        assert_eq!(
            nodes,
            [
                "node2102 2102-5120@gate.example.com:3022 10.100.1.11:22",
                "node2103 2103-5120@gate.example.com:3022 10.100.1.12:22"
            ]
        );
        for (answer, why) in [
            (
                json!({ "result": 0, "email": "a@example.com" }),
                "has no `uid`",
            ),
            (
                json!({ "result": 0, "uid": "5120; id" }),
                "is not a user id",
            ),
            (json!({ "result": 0, "uid": 0 }), "is not a user id"),
            (json!({ "result": 0, "uid": -3 }), "is not a user id"),
        ] {
            let err = user_uid(&answer).unwrap_err();
            assert_eq!(err.exit_code(), ExitCode::Platform);
            assert!(err.to_string().contains(why), "{answer}: {err}");
            assert!(!err.hint().unwrap().contains("retried"), "{err:?}");
        }
    }

    #[test]
    fn api_errors_carry_the_platform_text_and_a_hint_for_their_kind() {
        let token = check_result("getenvs", fixture("error-702.json")).unwrap_err();
        assert_eq!(
            token.to_string(),
            "platform API: getenvs: the platform answered 702: User is not authenticated"
        );
        assert!(token.hint().unwrap().contains("FILESYNC_TOKEN"));
        let missing = check_result("getenvinfo", fixture("error-901.json")).unwrap_err();
        assert!(missing
            .to_string()
            .contains("answered 901: Environment does not exist"));
        assert!(missing.hint().unwrap().contains("`filesync nodes` lists"));
        let other = check_result("getenvs", json!({ "result": 11, "error": "busy" })).unwrap_err();
        assert!(other.hint().unwrap().contains("own error text"));
        let shapeless = check_result("getenvs", json!({ "infos": [] })).unwrap_err();
        assert!(shapeless.to_string().contains("no `result` field"));
        assert!(shapeless.hint().unwrap().contains("report it"));
        assert!(environments(&json!({ "result": 0 })).is_err());
        assert!(env_info(&json!({ "result": 0, "nodes": [] }), "cp").is_err());
    }

    #[test]
    fn a_malformed_node_is_left_out_whole_and_the_others_are_kept() {
        let node = |fields: Value| {
            let mut node = json!({ "nodeGroup": "cp", "status": 1, "id": 7, "intIP": "10.0.0.7" });
            node.as_object_mut()
                .unwrap()
                .extend(fields.as_object().unwrap().clone());
            node
        };
        let cases = [
            (
                node(json!({ "intIP": "10.0.0.1\nProxyCommand id" })),
                "node7",
                "is not an IP address",
            ),
            (
                node(json!({ "intIP": "10.0.0.1 -oProxyCommand=id" })),
                "node7",
                "is not an IP address",
            ),
            (
                node(json!({ "intIP": "host.example.com" })),
                "node7",
                "is not an IP address",
            ),
            (
                node(json!({ "intIP": null })),
                "node7",
                "no internal address",
            ),
            (
                node(json!({ "id": "1; id" })),
                "entry 1 of group cp",
                "is not a node id",
            ),
            (
                node(json!({ "id": -1 })),
                "entry 1 of group cp",
                "is not a node id",
            ),
            (
                node(json!({ "status": null })),
                "node7",
                "in an unknown state (status 0)",
            ),
            (
                node(json!({ "status": 4 })),
                "node7",
                "sleeping (status 4): wait until",
            ),
        ];
        for (bad, name, why) in cases {
            let value = json!({ "result": 0, "env": { "status": 1 }, "nodes": [
                bad,
                { "id": 8, "nodeGroup": "cp", "status": 1, "intIP": "10.0.0.8" },
                { "id": 9, "nodeGroup": "cp", "status": 1, "intIP": "10.0.0.9" },
                { "id": 8, "nodeGroup": "cp", "status": 1, "intIP": "10.0.0.10" }
            ]});
            let info = env_info(&value, "cp").unwrap();
            let (nodes, _) = admit(&info.nodes, &ROOT);
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            // which of node8's two entries is right is unknown: neither is used
            assert_eq!(names, ["node9"], "{value}");
            assert_eq!(info.left_out.len(), 2, "{:?}", info.left_out);
            assert_eq!(info.left_out[0].name, name);
            assert!(info.left_out[0].reason.contains(why), "{:?}", info.left_out);
            assert_eq!(info.left_out[1].name, "node8");
            assert!(info.left_out[1]
                .reason
                .contains("lists this node id more than once"));
        }
        let user = Route::Direct {
            user: "-oProxyCommand=id",
        };
        let info = env_info(&fixture("getenvinfo-shop.json"), "cp").unwrap();
        let (nodes, left_out) = admit(&info.nodes, &user);
        assert!(nodes.is_empty(), "a node is never admitted in part");
        assert_eq!(left_out.len(), 2);
        assert!(
            left_out[0].reason.contains("not a valid SSH user"),
            "{left_out:?}"
        );
    }

    #[test]
    fn hostile_environment_names_are_errors_that_name_the_value() {
        let injection = "shop\n    ProxyCommand sh -c id";
        for name in [
            injection,
            "",
            " shop",
            "shop;id",
            "../shop",
            "$(id)",
            &"a".repeat(65),
        ] {
            let value = json!({ "result": 0, "infos": [
                { "env": { "envName": "blog", "status": 1 } },
                { "env": { "envName": name, "status": 1 } }
            ]});
            let err = environments(&value).unwrap_err();
            assert_eq!(err.exit_code(), ExitCode::Platform);
            assert!(
                err.to_string().contains("getenvs: environment name"),
                "{name:?}: {err}"
            );
        }
    }

    #[test]
    fn the_url_must_be_https_unless_plain_http_is_allowed() {
        let url = ApiUrl::parse(" https://app.example.com/1.0/ ", false).unwrap();
        assert_eq!(url, ApiUrl("https://app.example.com/1.0".into()));
        for raw in [
            "http://app.example.com/1.0",
            "http://127.0.0.1:8080",
            "HTTP://[::1]/1.0",
        ] {
            let err = ApiUrl::parse(raw, false).unwrap_err();
            assert_eq!(err.exit_code(), ExitCode::BadInput);
            assert!(err.to_string().contains("plain http"), "{raw}: {err}");
            assert!(err.hint().unwrap().contains("--allow-insecure-platform"));
            assert!(ApiUrl::parse(raw, true).is_ok(), "{raw}");
        }
        for (raw, why) in [
            ("app.example.com/1.0", "not a URL"),
            ("ftp://app.example.com/1.0", "not ftp"),
            ("file:///etc/passwd", "not file"),
            ("", "not a URL"),
            ("https://app.example.com/1.0?x=1", "query or fragment"),
            (
                "https://me:s3cret@app.example.com/1.0",
                "user name or password",
            ),
            (
                "http://me:s3cret@app.example.com/1.0",
                "user name or password",
            ),
        ] {
            for allow_insecure in [false, true] {
                let err = ApiUrl::parse(raw, allow_insecure).unwrap_err();
                assert_eq!(err.exit_code(), ExitCode::BadInput);
                assert!(err.to_string().contains(why), "{raw}: {err}");
                assert!(!err.to_string().contains("s3cret"), "{err}");
            }
        }
    }

    #[test]
    fn a_url_without_a_path_gets_the_api_version() {
        for (raw, base) in [
            ("https://app.example.com", "https://app.example.com/1.0"),
            ("https://app.example.com/", "https://app.example.com/1.0"),
            (
                "https://app.example.com:8443//",
                "https://app.example.com:8443/1.0",
            ),
            ("https://app.example.com/1.0", "https://app.example.com/1.0"),
            (
                "https://example.com/jelastic/1.0/",
                "https://example.com/jelastic/1.0",
            ),
        ] {
            assert_eq!(ApiUrl::parse(raw, false).unwrap().as_str(), base, "{raw}");
        }
    }
}
