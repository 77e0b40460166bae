//! The platform API as a topology source, against a local HTTP server that
//! answers with the shapes real platforms answer (`tests/fixtures/platform`,
//! see its README; the platform itself cannot be reached from here), and on
//! the simulated cluster, with the JPS scale hook's own command.

use crate::support::cluster::Cluster;
use crate::support::manifest::{manifest, reconcile_command};
use crate::support::node_files::{installation, W};
use crate::support::run::{install_args, outcome};
use crate::support::wait::{eventually, everywhere};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "s3cr3t-token-value";

/// What the fake platform answers: status, body, and how long to wait first.
type Answer = (u16, String, Duration);

struct Api {
    url: String,
    /// (path, body) of every request received.
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Api {
    /// The paths requested, in order.
    fn paths(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().map(|(path, _)| path.clone()).collect()
    }
}

/// Serves `answer(path, body)` on loopback; the URL is the API's base (`/1.0`).
fn serve(answer: impl Fn(&str, &str) -> Answer + Send + 'static) -> Api {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/1.0", server.server_addr().to_ip().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let path = request.url().to_string();
            seen.lock().unwrap().push((path.clone(), body.clone()));
            let (status, text, delay) = answer(&path, &body);
            std::thread::sleep(delay);
            let _ =
                request.respond(tiny_http::Response::from_string(text).with_status_code(status));
        }
    });
    Api { url, requests }
}

fn ok(body: &str) -> Answer {
    (200, body.to_string(), Duration::ZERO)
}

/// An answer of `tests/fixtures/platform`.
fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/platform/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The platform of the fixtures: its environments, each one's `getenvinfo`
/// (901 for one it does not have), and the connecting user.
fn platform(path: &str, body: &str) -> Answer {
    let method = path.strip_prefix("/1.0/").unwrap_or("");
    match method {
        "environment/control/rest/getenvs" => ok(&fixture("getenvs.json")),
        "environment/control/rest/getenvinfo" => {
            let env = ["shop", "blog", "lab"]
                .into_iter()
                .find(|env| body.split('&').any(|pair| pair == format!("envName={env}")));
            match env {
                Some(env) => ok(&fixture(&format!("getenvinfo-{env}.json"))),
                None => ok(&fixture("error-901.json")),
            }
        }
        "users/account/rest/getuserinfo" => ok(&fixture("getuserinfo.json")),
        _ => (404, "Not Found".into(), Duration::ZERO),
    }
}

/// Runs filesync against `api`, whose plain http (on loopback) must be
/// allowed explicitly, like any http URL.
fn filesync(api: &Api, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--allow-insecure-platform"];
    all.extend_from_slice(args);
    run(api, &all, &[])
}

fn run(api: &Api, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    run_at(&api.url, args, env)
}

fn run_at(url: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_filesync"))
        .args(["--platform-url", url])
        .args(args)
        .env("FILESYNC_TOKEN", TOKEN)
        .env_remove("FILESYNC_INVENTORY")
        .env_remove("FILESYNC_ALLOW_INSECURE_PLATFORM")
        .env_remove("FILESYNC_PLATFORM_UID")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let result = outcome(&output);
    assert!(
        !result.1.contains(TOKEN) && !result.2.contains(TOKEN),
        "the token was printed: {result:?}"
    );
    result
}

#[test]
fn only_running_environments_are_listed_and_the_token_is_sent_only_in_the_body() {
    let api = serve(platform);
    let (code, stdout, stderr) = filesync(&api, &["nodes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "shop\n");
    for line in [
        "left out: environment blog: stopped (status 2): start it in the platform's dashboard",
        "left out: environment lab: sleeping (status 4): wake it",
        "left out: environment stage: being updated (status 12): the platform is busy",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    let (code, stdout, _) = filesync(&api, &["--output", "json", "nodes"]);
    assert_eq!((code, stdout.as_str()), (0, "[\n  \"shop\"\n]\n"));
    let requests = api.requests.lock().unwrap();
    let (path, body) = &requests[0];
    assert_eq!(path, "/1.0/environment/control/rest/getenvs");
    assert!(body.contains(&format!("session={TOKEN}")), "{body}");
}

#[test]
fn nodes_are_taken_at_their_internal_address_and_the_others_are_left_out_with_the_reason() {
    let api = serve(platform);
    let (code, stdout, stderr) = filesync(&api, &["--output", "json", "nodes", "--env", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    let env: Value = serde_json::from_str(&stdout).unwrap();
    let nodes: Vec<String> = env["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{} {} {}",
                n["name"], n["ssh"]["host"], n["address"]["host"]
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            r#""node2102" "10.100.1.11" "10.100.1.11""#,
            r#""node2103" "10.100.1.12" "10.100.1.12""#
        ],
        "node2102's `address` is its public 203.0.113.11: neither ssh nor peers use it"
    );
    let left_out: Vec<&str> = env["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(left_out, ["node2104", "node2105"]);
    assert!(api.requests.lock().unwrap()[0].1.contains("envName=shop"));

    let (code, stdout, _) = filesync(&api, &["nodes", "--env", "shop"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("  left out node2104: it is stopped (status 2): start it in the platform's dashboard; a reconcile then adds it\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  left out node2105: the answer gives it no internal address (`intIP`)"),
        "{stdout}"
    );

    let (code, stdout, stderr) = filesync(&api, &["--node-group", "web", "nodes", "--env", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("node2106  ssh root@10.100.1.20  peers reach it at 10.100.1.20:22")
            && stdout.contains("node2107")
            && !stdout.contains("node2102"),
        "a Docker stack's own group: {stdout}"
    );
    let (code, _, stderr) = filesync(
        &api,
        &[
            "plan", "--env", "shop", "--path", "/ROOT", "--nodes", "node2104",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("invalid --nodes: node2104 is left out: it is stopped (status 2)"),
        "{stderr}"
    );
    let (code, _, stderr) = filesync(&api, &["--node-group", "app", "nodes", "--env", "shop"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("has no node group \"app\" (its groups: bl, cp, sqldb, storage, web)"),
        "{stderr}"
    );
}

#[test]
fn the_gate_user_is_the_connecting_users_from_the_account_api_or_the_flag() {
    let api = serve(platform);
    let gate = ["--platform-ssh", "gate", "--ssh-gate", "gate.example.com"];
    let mut args = gate.to_vec();
    args.extend(["nodes", "--env", "shop"]);
    let (code, stdout, stderr) = filesync(&api, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "node2102  ssh 2102-5120@gate.example.com:3022  peers reach it at 10.100.1.11:22"
        ),
        "5120 is the connecting user (getuserinfo), not the owner 4711: {stdout}"
    );
    let requests = api.requests.lock().unwrap().clone();
    let account = requests
        .iter()
        .find(|(path, _)| path == "/1.0/users/account/rest/getuserinfo")
        .expect("the account API is asked for the uid");
    assert_eq!(account.1, format!("session={TOKEN}"));

    let flagged = serve(platform);
    let mut args = gate.to_vec();
    args.extend(["--platform-uid", "777", "nodes", "--env", "shop"]);
    let (code, stdout, stderr) = filesync(&flagged, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("ssh 2102-777@gate.example.com:3022"),
        "{stdout}"
    );
    assert!(
        !flagged.paths().iter().any(|p| p.contains("getuserinfo")),
        "--platform-uid spares the account API"
    );
    for bad in ["0", "-1", "x"] {
        let mut args = gate.to_vec();
        args.extend(["--platform-uid", bad, "nodes", "--env", "shop"]);
        let (code, _, stderr) = filesync(&flagged, &args);
        assert_eq!(code, 2, "{bad}: {stderr}");
    }

    let refused = serve(|path: &str, body: &str| {
        if path.ends_with("getuserinfo") {
            ok(&fixture("error-702.json"))
        } else {
            platform(path, body)
        }
    });
    let mut args = gate.to_vec();
    args.extend(["nodes", "--env", "shop"]);
    let (code, _, stderr) = filesync(&refused, &args);
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains("getuserinfo: the platform answered 702: User is not authenticated")
            && stderr.contains("FILESYNC_TOKEN")
            && stderr.contains("--platform-uid"),
        "{stderr}"
    );
}

#[test]
fn stopped_and_sleeping_environments_are_refused_with_what_to_do() {
    let api = serve(platform);
    for (env, state, todo) in [
        (
            "blog",
            "is stopped (status 2)",
            "start it in the platform's dashboard",
        ),
        ("lab", "is sleeping (status 4)", "wake it"),
    ] {
        for command in [
            &["nodes", "--env", env][..],
            &["plan", "--env", env, "--path", "/ROOT"],
        ] {
            let (code, stdout, stderr) = filesync(&api, command);
            assert_eq!(code, 3, "{command:?}: {stdout}{stderr}");
            assert!(
                stderr.contains(&format!(
                    "environment \"{env}\" {state}: filesync works only on running environments"
                )),
                "{stderr}"
            );
            assert!(stderr.contains(&format!("Hint: {todo}")), "{stderr}");
        }
    }
}

#[test]
fn each_api_failure_gets_a_clear_error_and_a_hint_for_its_kind() {
    let cases: Vec<(Answer, &[&str], &str, &str)> = vec![
        (
            ok(&fixture("error-702.json")),
            &["nodes"],
            "getenvs: the platform answered 702: User is not authenticated",
            "FILESYNC_TOKEN",
        ),
        (
            ok(&fixture("error-901.json")),
            &["nodes", "--env", "gone"],
            "getenvinfo: the platform answered 901: Environment does not exist",
            "`filesync nodes` lists the environments",
        ),
        (
            (500, "oops".into(), Duration::ZERO),
            &["nodes"],
            "HTTP 500",
            "can be retried",
        ),
        (
            (404, "Not Found".into(), Duration::ZERO),
            &["nodes"],
            "HTTP 404",
            "ends in /1.0",
        ),
        (
            ok("<html>maintenance</html>"),
            &["nodes"],
            "not valid JSON",
            "report it",
        ),
        (
            ok(r#"{"infos": []}"#),
            &["nodes"],
            "no `result` field",
            "report it",
        ),
        (
            ok(&fixture("getenvs.json")),
            &["--platform-timeout", "1", "nodes"],
            "no answer within 1 s",
            "can be retried",
        ),
    ];
    for (index, (answer, args, why, wanted)) in cases.into_iter().enumerate() {
        let delay = if index == 6 {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
        let api = serve(move |_: &str, _: &str| (answer.0, answer.1.clone(), delay));
        let (code, _, stderr) = filesync(&api, args);
        assert_eq!(code, 7, "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        let hint = stderr.lines().find(|l| l.starts_with("Hint: "));
        assert!(
            hint.is_some_and(|hint| hint.contains(wanted)),
            "{why}: the hint must say {wanted:?}: {stderr}"
        );
    }
}

#[test]
fn a_url_without_the_api_version_gets_it() {
    let api = serve(platform);
    let bare = api.url.trim_end_matches("/1.0").to_string();
    let (code, stdout, stderr) = run_at(&bare, &["--allow-insecure-platform", "nodes"], &[]);
    assert_eq!((code, stdout.as_str()), (0, "shop\n"), "{stderr}");
    assert_eq!(api.paths(), ["/1.0/environment/control/rest/getenvs"]);
}
#[test]
fn an_unreachable_platform_or_a_missing_token_is_reported() {
    let closed = Api {
        url: "http://127.0.0.1:9/1.0".into(),
        requests: Default::default(),
    };
    let (code, _, stderr) = filesync(&closed, &["nodes"]);
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:9/1.0"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_filesync"))
        .args(["--platform-url", "https://127.0.0.1:9", "nodes"])
        .env_remove("FILESYNC_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("FILESYNC_TOKEN"));
}

#[test]
fn plain_http_is_refused_before_the_token_is_sent_unless_allowed() {
    let api = serve(platform);
    for env in [&[][..], &[("FILESYNC_ALLOW_INSECURE_PLATFORM", "0")][..]] {
        let (code, _, stderr) = run(&api, &["nodes"], env);
        assert_eq!(code, 3, "{stderr}");
        assert!(
            stderr.contains("invalid --platform-url") && stderr.contains("plain http"),
            "{stderr}"
        );
        assert!(
            stderr.contains("Hint:") && stderr.contains("--allow-insecure-platform"),
            "{stderr}"
        );
    }
    assert!(
        api.requests.lock().unwrap().is_empty(),
        "nothing may reach an http platform that was not allowed"
    );
    let (code, stdout, stderr) = run(
        &api,
        &["nodes"],
        &[("FILESYNC_ALLOW_INSECURE_PLATFORM", "1")],
    );
    assert_eq!((code, stdout.as_str()), (0, "shop\n"), "{stderr}");
    let (code, _, stderr) = run(&api, &["--allow-insecure-platform", "nodes"], &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn hostile_platform_answers_and_bad_platform_settings_are_refused() {
    let envs = serve(|_: &str, _: &str| {
        ok(
            r#"{"result": 0, "infos": [{"env": {"envName": "shop\n    ProxyCommand id", "status": 1}}]}"#,
        )
    });
    let (code, _, stderr) = filesync(&envs, &["nodes"]);
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains("getenvs: environment name \"shop\\n    ProxyCommand id\""),
        "{stderr}"
    );
    // One hostile node is left out, named with the reason; the others stay.
    let nodes = serve(|_: &str, _: &str| {
        ok(
            r#"{"result": 0, "env": {"envName": "shop", "status": 1}, "nodes": [
            {"id": 101, "nodeGroup": "cp", "status": 1, "intIP": "10.0.0.1 -oProxyCommand=id"},
            {"id": 102, "nodeGroup": "cp", "status": 1, "intIP": "10.0.0.2"}]}"#,
        )
    });
    let (code, stdout, stderr) = filesync(&nodes, &["nodes", "--env", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("  node102  ssh root@10.0.0.2")
            && stdout.contains(
                "  left out node101: its internal address (`intIP`) \"10.0.0.1 -oProxyCommand=id\" is not an IP address"
            )
            && !stdout.contains("root@10.0.0.1"),
        "{stdout}"
    );

    let api = serve(platform);
    for (args, why) in [
        (
            &["--platform-user", "root\nx", "nodes", "--env", "shop"][..],
            "--platform-user",
        ),
        (
            &[
                "--platform-ssh",
                "gate",
                "--ssh-gate",
                "gate;id",
                "nodes",
                "--env",
                "shop",
            ][..],
            "--ssh-gate",
        ),
        (&["nodes", "--env", "shop\nx"][..], "--env"),
    ] {
        let (code, _, stderr) = filesync(&api, args);
        assert_eq!(code, 3, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid {why}")),
            "{args:?}: {stderr}"
        );
    }
    assert!(api.requests.lock().unwrap().is_empty());
}

/// The nodes' IP addresses, from the cluster's ssh config (`Host nI` / `HostName IP`).
fn node_ips(cluster: &Cluster) -> Vec<String> {
    std::fs::read_to_string(&cluster.ssh_config)
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("HostName "))
        .map(str::to_string)
        .collect()
}

/// `getenvinfo` of environment `name` whose cp nodes are the cluster's nodes
/// (ids 101, 102, ...) with these statuses; each node's `address` is a public
/// IP no node has, so only `intIP` can work.
fn cluster_env_info(name: &str, ips: &[String], statuses: &[i64]) -> String {
    let nodes: Vec<Value> = ips
        .iter()
        .zip(statuses)
        .enumerate()
        .map(|(i, (ip, status))| {
            json!({"id": 101 + i, "nodeGroup": "cp", "nodeType": "apache-php",
                   "status": status, "ismaster": i == 0, "intIP": ip,
                   "address": format!("203.0.113.{}", 11 + i),
                   "extIPs": [format!("203.0.113.{}", 11 + i)], "port": 22})
        })
        .chain([
            json!({"id": 199, "nodeGroup": "cp", "status": 1, "intIP": "",
                       "address": "203.0.113.99"}),
        ])
        .collect();
    json!({"result": 0, "env": {"envName": name, "status": 1, "ownerUid": 4711},
           "nodes": nodes})
    .to_string()
}

/// The scale hook's reconcile command, from the manifest, run as the operator
/// node would: settings from an env file, the platform as the source.
fn scale_hook(cluster: &Cluster, api: &Api) -> (bool, String) {
    let docs = yaml_rust2::YamlLoader::load_from_str(&manifest("filesync-scale-hook.jps")).unwrap();
    let command = reconcile_command(&docs[0]);
    let env_file = cluster.dir.join("filesync-hook.env");
    let log = cluster.dir.join("filesync-hook.log");
    std::fs::write(
        &env_file,
        format!(
            "FILESYNC_PLATFORM_URL={}\nFILESYNC_TOKEN={TOKEN}\nFILESYNC_ALLOW_INSECURE_PLATFORM=1\nFILESYNC_SSH_CONFIG={}\n",
            api.url,
            cluster.ssh_config.display()
        ),
    )
    .unwrap();
    let script = command
        .replace("/etc/filesync/env", &env_file.display().to_string())
        .replace("/usr/local/bin/filesync", env!("CARGO_BIN_EXE_filesync"))
        .replace("${env.envName}", &cluster.name)
        .replace("/var/log/filesync-hook.log", &log.display().to_string());
    let status = Command::new("sh")
        .args(["-c", &script])
        .env_remove("FILESYNC_INVENTORY")
        .status()
        .unwrap();
    (
        status.success(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn the_scale_hook_reconciles_from_the_platform_and_stopped_or_malformed_nodes_are_left_out() {
    let Some(cluster) = Cluster::up("paa", 3, 150) else {
        return;
    };
    let ips = node_ips(&cluster);
    assert_eq!(ips.len(), 3, "{ips:?}");
    // n3 (node103) is stopped at first; node199 has no internal address.
    let answer = Arc::new(Mutex::new(cluster_env_info(
        &cluster.name,
        &ips,
        &[1, 1, 2],
    )));
    let current = answer.clone();
    let api = serve(move |path: &str, _: &str| {
        if path.ends_with("/getenvinfo") {
            ok(&current.lock().unwrap())
        } else {
            platform(path, "")
        }
    });
    let platform_run = |args: &[&str]| {
        let mut all = vec![
            "--platform-url",
            api.url.as_str(),
            "--allow-insecure-platform",
        ];
        all.extend_from_slice(args);
        let output = Command::new(env!("CARGO_BIN_EXE_filesync"))
            .args(&all)
            .env("FILESYNC_TOKEN", TOKEN)
            .env("FILESYNC_SSH_CONFIG", &cluster.ssh_config)
            .env_remove("FILESYNC_INVENTORY")
            .output()
            .unwrap();
        outcome(&output)
    };
    let env = cluster.name.clone();
    let (code, stdout, stderr) = platform_run(&install_args(&cluster));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: environment {env}: left out node103: it is stopped (status 2)"
        )) && stderr.contains("left out node199: the answer gives it no internal address"),
        "{stderr}"
    );
    assert!(cluster.has_installation("n1") && cluster.has_installation("n2"));
    assert!(
        !cluster.has_installation("n3"),
        "a stopped node is not touched"
    );
    let n3 = &ips[2];
    for node in ["n1", "n2"] {
        let keys = cluster.exec(node, "cat /root/.ssh/authorized_keys");
        let config = cluster.exec(node, &format!("cat {}/etc/lsyncd.conf", installation()));
        assert!(
            !keys.contains(n3.as_str()) && !config.contains(n3.as_str()),
            "{node} must not know the left-out node {n3}:\n{keys}\n{config}"
        );
        assert!(
            !config.contains("203.0.113."),
            "peers sync over intIP:\n{config}"
        );
    }
    cluster.exec("n1", &format!("echo one > {W}/one.txt"));
    assert!(everywhere(
        &cluster,
        &["n1", "n2"],
        "one.txt",
        Some("one\n")
    ));

    // node103 is started: the scale hook's reconcile adds it.
    *answer.lock().unwrap() = cluster_env_info(&env, &ips, &[1, 1, 1]);
    let (success, log) = scale_hook(&cluster, &api);
    assert!(success, "{log}");
    assert!(cluster.has_installation("n3"), "{log}");
    assert!(
        everywhere(&cluster, &["n1", "n2", "n3"], "one.txt", Some("one\n")),
        "{log}"
    );

    // node102 is stopped: it is left out, not removed; its peers drop it.
    *answer.lock().unwrap() = cluster_env_info(&env, &ips, &[1, 2, 1]);
    let (success, log) = scale_hook(&cluster, &api);
    assert!(success, "{log}");
    assert!(log.contains("left out node102: it is stopped"), "{log}");
    assert!(
        cluster.has_installation("n2"),
        "a node left out has not departed: nothing is removed from it\n{log}"
    );
    let n2 = &ips[1];
    assert!(
        eventually(Duration::from_secs(10), || {
            let keys = cluster.exec("n1", "cat /root/.ssh/authorized_keys");
            !keys.contains(n2.as_str())
        }),
        "n1 still admits the left-out node {n2}"
    );
    cluster.exec("n1", &format!("echo two > {W}/two.txt"));
    assert!(
        everywhere(&cluster, &["n1", "n3"], "two.txt", Some("two\n")),
        "{log}"
    );

    // node102 runs again: it joins again and gets what it missed.
    *answer.lock().unwrap() = cluster_env_info(&env, &ips, &[1, 1, 1]);
    let (success, log) = scale_hook(&cluster, &api);
    assert!(success, "{log}");
    assert!(
        everywhere(&cluster, &["n2"], "two.txt", Some("two\n")),
        "what changed while node102 was left out did not reach it\n{log}"
    );
}
