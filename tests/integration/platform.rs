//! The platform API as a topology source, against a local HTTP server that
//! answers with the documented JSON shapes (the platform itself cannot be
//! reached from here).

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

fn serve(answer: impl Fn(&str) -> Answer + Send + 'static) -> Api {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/1.0", server.server_addr().to_ip().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let path = request.url().to_string();
            seen.lock().unwrap().push((path.clone(), body));
            let (status, text, delay) = answer(&path);
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

const ENVS: &str = r#"{"result": 0, "infos": [
    {"env": {"envName": "shop", "uid": 42}, "nodes": []},
    {"env": {"envName": "blog", "uid": 42}, "nodes": []}]}"#;

const SHOP: &str = r#"{"result": 0, "env": {"envName": "shop", "uid": 42}, "nodes": [
    {"id": 101, "nodeGroup": "cp", "address": "10.0.0.1", "intIP": "10.0.0.1"},
    {"id": 102, "nodeGroup": "cp", "intIP": "10.0.0.2"},
    {"id": 103, "nodeGroup": "storage", "address": "10.0.0.3"},
    {"id": 104, "nodeGroup": "sqldb", "address": "10.0.0.4"}]}"#;

fn routes(path: &str) -> Answer {
    if path.ends_with("/environment/control/rest/getenvs") {
        ok(ENVS)
    } else if path.ends_with("/environment/control/rest/getenvinfo") {
        ok(SHOP)
    } else {
        (404, "not found".into(), Duration::ZERO)
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
    let output = Command::new(env!("CARGO_BIN_EXE_filesync"))
        .args(["--platform-url", &api.url])
        .args(args)
        .env("FILESYNC_TOKEN", TOKEN)
        .env_remove("FILESYNC_INVENTORY")
        .env_remove("FILESYNC_ALLOW_INSECURE_PLATFORM")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let result = (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        !result.1.contains(TOKEN) && !result.2.contains(TOKEN),
        "the token was printed: {result:?}"
    );
    result
}

#[test]
fn environments_are_listed_and_the_token_is_sent_only_in_the_body() {
    let api = serve(routes);
    let (code, stdout, stderr) = filesync(&api, &["nodes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "blog\nshop\n");
    let requests = api.requests.lock().unwrap();
    let (path, body) = &requests[0];
    assert_eq!(path, "/1.0/environment/control/rest/getenvs");
    assert!(body.contains(&format!("session={TOKEN}")), "{body}");
}

#[test]
fn the_app_server_nodes_are_listed_direct_or_through_the_gate() {
    let api = serve(routes);
    let (code, stdout, stderr) = filesync(&api, &["--output", "json", "nodes", "--env", "shop"]);
    assert_eq!(code, 0, "{stderr}");
    let env: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let nodes = env["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{stdout}");
    assert_eq!(nodes[0]["name"], "node101");
    assert_eq!(nodes[0]["ssh"]["host"], "10.0.0.1");
    assert_eq!(nodes[0]["ssh"]["user"], "root");
    assert_eq!(
        nodes[1]["address"]["host"], "10.0.0.2",
        "intIP when there is no address"
    );
    assert!(api.requests.lock().unwrap()[0].1.contains("envName=shop"));

    let gate = [
        "--platform-ssh",
        "gate",
        "--ssh-gate",
        "gate.example.com",
        "nodes",
        "--env",
        "shop",
    ];
    let (code, stdout, _) = filesync(&api, &gate);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("node101  ssh 101-42@gate.example.com:3022  peers reach it at 10.0.0.1:22"),
        "{stdout}"
    );

    let (code, stdout, _) = filesync(&api, &["--node-group", "storage", "nodes", "--env", "shop"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("node103") && !stdout.contains("node101"),
        "{stdout}"
    );
}

#[test]
fn each_api_failure_gets_a_clear_error_without_the_token() {
    let cases: Vec<(Answer, &[&str], &str)> = vec![
        (
            ok(r#"{"result": 702, "error": "session [x] is invalid"}"#),
            &[],
            "answered 702: session [x] is invalid",
        ),
        (
            ok(r#"{"result": 11, "error": "env doesn't exist"}"#),
            &[],
            "answered 11: env doesn't exist",
        ),
        ((500, "oops".into(), Duration::ZERO), &[], "HTTP 500"),
        (ok("<html>maintenance</html>"), &[], "not valid JSON"),
        (ok(r#"{"infos": []}"#), &[], "no `result` field"),
        (
            ok(ENVS),
            &["--platform-timeout", "1"],
            "no answer within 1 s",
        ),
    ];
    for (index, (answer, extra, why)) in cases.into_iter().enumerate() {
        let delay = if index == 5 {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
        let api = serve(move |_| (answer.0, answer.1.clone(), delay));
        let mut args: Vec<&str> = extra.to_vec();
        args.push("nodes");
        let (code, _, stderr) = filesync(&api, &args);
        assert_eq!(code, 7, "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert!(stderr.contains("Hint:"), "{stderr}");
    }
    let api = serve(|_| ok(r#"{"result": 702, "error": "session [x] is invalid"}"#));
    let (_, _, stderr) = filesync(&api, &["nodes"]);
    assert!(
        stderr.contains("FILESYNC_TOKEN"),
        "a token problem must point at the token: {stderr}"
    );
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
    let api = serve(routes);
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
    assert_eq!((code, stdout.as_str()), (0, "blog\nshop\n"), "{stderr}");
    let (code, _, stderr) = run(&api, &["--allow-insecure-platform", "nodes"], &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn hostile_platform_answers_and_bad_platform_settings_are_refused() {
    let envs = serve(|_| {
        ok(r#"{"result": 0, "infos": [{"env": {"envName": "shop\n    ProxyCommand id"}}]}"#)
    });
    let (code, _, stderr) = filesync(&envs, &["nodes"]);
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains("getenvs: environment name \"shop\\n    ProxyCommand id\""),
        "{stderr}"
    );
    let nodes = serve(|_| {
        ok(r#"{"result": 0, "env": {"uid": 42}, "nodes": [
            {"id": 101, "nodeGroup": "cp", "address": "10.0.0.1 -oProxyCommand=id"}]}"#)
    });
    let (code, _, stderr) = filesync(&nodes, &["nodes", "--env", "shop"]);
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("node 101 address"), "{stderr}");

    let api = serve(routes);
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
