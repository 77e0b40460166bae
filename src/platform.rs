//! The Jelastic / Virtuozzo Application Platform API as a topology source:
//! which environments exist and which nodes their app-server layer has. The
//! token travels only in the body of POST requests (never in a URL, a log or an
//! error), over https unless the user allowed plain http. Parsing the API's
//! JSON is pure and unit-tested; what it says is input, checked like the
//! inventory.

use crate::error::{Error, Result};
use crate::inventory::{self, Environment, Node, PeerAddress, SshDestination, DEFAULT_SSH_PORT};
use serde_json::Value;
use std::time::Duration;

/// The platform's SSH gate listens here by default.
pub const GATE_PORT: u16 = 3022;

/// How filesync's own ssh reaches a platform node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Straight to the node's address, as `user`.
    Direct { user: String },
    /// Through the platform's SSH gate: user `<nodeId>-<userId>`.
    Gate { host: String, port: u16 },
}

/// The API's base URL: https, or plain http only when the user allowed it
/// (`--allow-insecure-platform`), since every request carries the token.
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
        Ok(ApiUrl(raw.trim_end_matches('/').to_string()))
    }
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
}

fn api_error(reason: impl Into<String>) -> Error {
    Error::Platform {
        reason: reason.into(),
    }
}

impl Platform {
    pub fn new(
        base: &ApiUrl,
        token: String,
        node_group: String,
        reach: Reach,
        webroot: String,
        timeout: Duration,
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
            .map_err(|err| api_error(format!("cannot build the HTTP client: {err}")))?;
        Ok(Platform {
            base: base.0.clone(),
            token,
            http,
            node_group,
            reach,
            webroot,
            timeout,
        })
    }

    /// Calls one API method; the platform answers `{"result": 0, ...}` or an error.
    async fn call(&self, method: &str, params: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}/{method}", self.base);
        let mut form: Vec<(&str, &str)> = vec![("session", self.token.as_str())];
        form.extend_from_slice(params);
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|err| {
                // reqwest's message would include the URL only; never the body.
                if err.is_timeout() {
                    api_error(format!(
                        "{method}: no answer within {} s",
                        self.timeout.as_secs()
                    ))
                } else {
                    api_error(format!("{method}: cannot reach {}: {err}", self.base))
                }
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| api_error(format!("{method}: reading the answer: {err}")))?;
        if !status.is_success() {
            return Err(api_error(format!("{method}: HTTP {status}")));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|err| api_error(format!("{method}: the answer is not valid JSON ({err})")))?;
        check_result(method, value)
    }

    pub async fn environment_names(&self) -> Result<Vec<String>> {
        let value = self.call("environment/control/rest/getenvs", &[]).await?;
        parse_envs(&value)
    }

    pub async fn environment(&self, name: &str) -> Result<Environment> {
        let value = self
            .call("environment/control/rest/getenvinfo", &[("envName", name)])
            .await?;
        parse_env_info(&value, name, &self.node_group, &self.reach, &self.webroot)
    }
}

/// `result != 0` is an error carrying the API's `error` text.
pub fn check_result(method: &str, value: Value) -> Result<Value> {
    match value.get("result").and_then(Value::as_i64) {
        Some(0) => Ok(value),
        Some(code) => {
            let text = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error text");
            Err(api_error(format!(
                "{method}: the platform answered {code}: {text}"
            )))
        }
        None => Err(api_error(format!(
            "{method}: the answer has no `result` field"
        ))),
    }
}

/// Environment names from `getenvs` (`infos[].env.envName`), each one an
/// environment name the inventory would accept.
pub fn parse_envs(value: &Value) -> Result<Vec<String>> {
    let infos = value
        .get("infos")
        .and_then(Value::as_array)
        .ok_or_else(|| api_error("getenvs: the answer has no `infos` list"))?;
    let mut names: Vec<String> = infos
        .iter()
        .filter_map(|info| info.pointer("/env/envName").and_then(Value::as_str))
        .map(|name| {
            inventory::check_environment_name(name)
                .map(|()| name.to_string())
                .map_err(|reason| api_error(format!("getenvs: {reason}")))
        })
        .collect::<Result<_>>()?;
    names.sort();
    Ok(names)
}

/// The nodes of `node_group` from `getenvinfo`, reached as `reach` says.
pub fn parse_env_info(
    value: &Value,
    name: &str,
    node_group: &str,
    reach: &Reach,
    webroot: &str,
) -> Result<Environment> {
    let nodes = value
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| api_error("getenvinfo: the answer has no `nodes` list"))?;
    let uid = value.pointer("/env/uid").and_then(Value::as_i64);
    let mut result = Vec::new();
    for node in nodes {
        if node.get("nodeGroup").and_then(Value::as_str) != Some(node_group) {
            continue;
        }
        let id = node
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| api_error("getenvinfo: a node has no numeric `id`"))?;
        let address = ["address", "intIP"]
            .iter()
            .filter_map(|key| node.get(*key).and_then(Value::as_str))
            .find(|text| !text.is_empty())
            .ok_or_else(|| {
                api_error(format!(
                    "getenvinfo: node {id} has neither `address` nor `intIP`"
                ))
            })?;
        let host: std::net::IpAddr = address.parse().map_err(|_| {
            api_error(format!(
                "getenvinfo: node {id} address {address:?} is not an IP"
            ))
        })?;
        let ssh = match reach {
            Reach::Direct { user } => SshDestination {
                user: Some(user.clone()),
                host: host.to_string(),
                port: None,
            },
            Reach::Gate { host: gate, port } => {
                let uid = uid.ok_or_else(|| {
                    api_error(
                        "getenvinfo: the answer has no `env.uid`, needed for the SSH gate user",
                    )
                })?;
                SshDestination {
                    user: Some(format!("{id}-{uid}")),
                    host: gate.clone(),
                    port: Some(*port),
                }
            }
        };
        let address = PeerAddress {
            host: host.to_string(),
            port: DEFAULT_SSH_PORT,
        };
        // Read back as the inventory reads a node: what is recorded in the
        // nodes' state must pass the same checks when it is read again.
        let node = Node::from_record(&format!("node{id}"), &ssh.to_string(), &address.to_string())
            .map_err(|reason| api_error(format!("getenvinfo: node {id}: {reason}")))?;
        result.push(node);
    }
    Ok(Environment {
        name: name.to_string(),
        webroot: webroot.to_string(),
        nodes: result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info() -> Value {
        json!({
            "result": 0,
            "env": { "envName": "shop", "uid": 42 },
            "nodes": [
                { "id": 101, "nodeGroup": "cp", "address": "10.0.0.1", "intIP": "10.0.0.1" },
                { "id": 102, "nodeGroup": "cp", "address": "", "intIP": "10.0.0.2" },
                { "id": 103, "nodeGroup": "storage", "address": "10.0.0.3" },
                { "id": 104, "nodeGroup": "sqldb", "address": "10.0.0.4" }
            ]
        })
    }

    #[test]
    fn environments_are_listed_by_name() {
        let value = json!({ "result": 0, "infos": [
            { "env": { "envName": "shop" }, "nodes": [] },
            { "env": { "envName": "blog" }, "nodes": [] }
        ]});
        assert_eq!(parse_envs(&value).unwrap(), ["blog", "shop"]);
    }

    #[test]
    fn app_server_nodes_are_taken_with_address_or_internal_ip() {
        let reach = Reach::Direct {
            user: "root".into(),
        };
        let env = parse_env_info(&info(), "shop", "cp", &reach, "/var/www/webroot").unwrap();
        let nodes: Vec<String> = env
            .nodes
            .iter()
            .map(|n| format!("{} {} {}", n.name, n.ssh, n.address))
            .collect();
        assert_eq!(
            nodes,
            [
                "node101 root@10.0.0.1 10.0.0.1:22",
                "node102 root@10.0.0.2 10.0.0.2:22"
            ]
        );
        let storage = parse_env_info(&info(), "shop", "storage", &reach, "/data").unwrap();
        assert_eq!(storage.nodes[0].name, "node103");
    }

    #[test]
    fn the_ssh_gate_user_is_node_id_dash_user_id() {
        let reach = Reach::Gate {
            host: "gate.example.com".into(),
            port: GATE_PORT,
        };
        let env = parse_env_info(&info(), "shop", "cp", &reach, "/var/www/webroot").unwrap();
        assert_eq!(env.nodes[0].ssh.to_string(), "101-42@gate.example.com:3022");
        assert_eq!(env.nodes[0].address.to_string(), "10.0.0.1:22");
    }

    #[test]
    fn api_errors_carry_the_platform_text() {
        let err = check_result(
            "getenvs",
            json!({ "result": 702, "error": "session [x] is invalid" }),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("702") && err.contains("session [x] is invalid"),
            "{err}"
        );
        assert!(check_result("getenvs", json!({ "infos": [] })).is_err());
        assert!(parse_envs(&json!({ "result": 0 })).is_err());
        let bad =
            json!({ "result": 0, "nodes": [{ "id": 1, "nodeGroup": "cp", "address": "x; rm" }] });
        let reach = Reach::Direct {
            user: "root".into(),
        };
        assert!(parse_env_info(&bad, "e", "cp", &reach, "/w").is_err());
    }

    #[test]
    fn hostile_answers_are_errors_that_name_the_value() {
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
                { "env": { "envName": "blog" } }, { "env": { "envName": name } }
            ]});
            let err = parse_envs(&value).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::ExitCode::Platform);
            assert!(
                err.to_string().contains("getenvs: environment name"),
                "{name:?}: {err}"
            );
        }
        let direct = Reach::Direct {
            user: "root".into(),
        };
        let gate = Reach::Gate {
            host: "gate.example.com".into(),
            port: GATE_PORT,
        };
        let node = |id: Value, address: &str| {
            json!({ "result": 0, "env": { "uid": 42 },
                    "nodes": [{ "id": id, "nodeGroup": "cp", "address": address }] })
        };
        let cases = [
            (
                node(json!(1), "10.0.0.1\nProxyCommand id"),
                &direct,
                "not an IP",
            ),
            (
                node(json!(1), "10.0.0.1 -oProxyCommand=id"),
                &direct,
                "not an IP",
            ),
            (node(json!(1), "host.example.com"), &direct, "not an IP"),
            (node(json!("1; id"), "10.0.0.1"), &direct, "numeric `id`"),
            (
                node(json!(-1), "10.0.0.1"),
                &gate,
                "node -1: \"-1-42\" is not a valid SSH user",
            ),
        ];
        for (value, reach, why) in cases {
            let err = parse_env_info(&value, "shop", "cp", reach, "/w").unwrap_err();
            assert_eq!(err.exit_code(), crate::error::ExitCode::Platform);
            assert!(err.to_string().contains(why), "{value}: {err}");
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
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
            assert!(err.to_string().contains("plain http"), "{raw}: {err}");
            assert!(err.hint().unwrap().contains("--allow-insecure-platform"));
            assert!(ApiUrl::parse(raw, true).is_ok(), "{raw}");
        }
        for (raw, why) in [
            ("app.example.com/1.0", "not a URL"),
            ("ftp://app.example.com/1.0", "not ftp"),
            ("file:///etc/passwd", "not file"),
            ("", "not a URL"),
        ] {
            for allow_insecure in [false, true] {
                let err = ApiUrl::parse(raw, allow_insecure).unwrap_err();
                assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
                assert!(err.to_string().contains(why), "{raw}: {err}");
            }
        }
    }
}
