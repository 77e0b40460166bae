//! The command line without a cluster: bad input is refused with a clear error,
//! the exit code the README documents, and a hint; nothing is contacted.

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;

fn filesync(inventory: &str) -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filesync.toml");
    fs::write(&path, inventory).unwrap();
    let mut command = Command::cargo_bin("filesync").unwrap();
    command
        .env("FILESYNC_INVENTORY", &path)
        .env_remove("FILESYNC_SSH_CONFIG");
    (dir, command)
}

// Port 9 on loopback: nothing listens, so a connection attempt would fail fast.
const INVENTORY: &str = "[environments.prod]\nnodes = [\"root@127.0.0.1:9\"]\n";

#[test]
fn a_missing_inventory_is_named_with_a_hint() {
    Command::cargo_bin("filesync")
        .unwrap()
        .args([
            "--inventory",
            "/nonexistent/x.toml",
            "status",
            "--env",
            "prod",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "inventory /nonexistent/x.toml: file not found",
        ))
        .stderr(predicate::str::contains("Hint:"));
}

#[test]
fn a_malformed_inventory_says_where() {
    let (_dir, mut cmd) = filesync("[environments.prod\n");
    cmd.args(["status", "--env", "prod"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("line 1"));
}

#[test]
fn an_unknown_environment_lists_the_known_ones() {
    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args(["plan", "--env", "staging", "--path", "/ROOT"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "unknown environment \"staging\" (the inventory has: prod)",
        ));
}

#[test]
fn bad_settings_fail_before_any_connection() {
    for (args, why) in [
        (vec!["--path", "/ROOT", "--delay", "-1"], "it is negative"),
        (
            vec!["--path", "/ROOT", "--delay", "soon"],
            "not a whole number",
        ),
        (
            vec!["--path", "/ROOT", "--delay", "86400"],
            "more than 3600",
        ),
        (vec!["--path", "../etc"], "leaves the webroot"),
        (
            vec!["--path", "/ROOT", "--nodes", "nope"],
            "unknown node \"nope\"",
        ),
    ] {
        let (_dir, mut cmd) = filesync(INVENTORY);
        cmd.args(["install", "--env", "prod", "--yes"]).args(&args);
        cmd.assert()
            .code(3)
            .stderr(predicate::str::contains(why))
            .stderr(predicate::str::contains("unreachable").not());
    }
}

#[test]
fn without_a_terminal_a_missing_setting_names_its_flag() {
    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args(["install", "--path", "/ROOT"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("give --env NAME"));
}

#[test]
fn uninstall_without_a_terminal_needs_yes() {
    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args(["uninstall", "--env", "prod"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--yes"));
}

#[test]
fn an_unreachable_only_node_is_a_partial_failure() {
    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args(["install", "--env", "prod", "--path", "/ROOT", "--yes"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("127.0.0.1:9: unreachable"));
}

#[test]
fn json_errors_are_json_with_the_exit_code() {
    let (_dir, mut cmd) = filesync(INVENTORY);
    let output = cmd
        .args([
            "--output", "json", "plan", "--env", "nope", "--path", "/ROOT",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["exit_code"], 3);
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("unknown environment"));
    assert!(error["hint"].as_str().unwrap().contains("--env"));
}

#[test]
fn completions_and_man_page_are_generated() {
    Command::cargo_bin("filesync")
        .unwrap()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("filesync"))
        .stdout(predicate::str::contains("--dry-run"));
    Command::cargo_bin("filesync")
        .unwrap()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH filesync"));
}

#[test]
fn link_flags_without_mode_two_and_ssh_without_the_other_sides_keys_are_refused_before_any_connection(
) {
    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args([
        "install",
        "--env",
        "prod",
        "--path",
        "/ROOT",
        "--yes",
        "--mode",
        "one",
        "--peer",
        "10.0.2.11",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("only apply to two environments"));

    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args([
        "install",
        "--env",
        "prod",
        "--path",
        "/ROOT",
        "--yes",
        "--peer",
        "10.0.2.11",
        "--peer-transport",
        "ssh",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains(
        "ssh needs the other environment's host keys and sync keys",
    ))
    .stderr(predicate::str::contains("Hint:"))
    .stderr(predicate::str::contains("--peer-keys FILE"));

    let (_dir, mut cmd) = filesync(INVENTORY);
    cmd.args([
        "install", "--env", "prod", "--path", "/ROOT", "--yes", "--mode", "two",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("--peer HOST[:PORT]"));
}

/// Stands in for ssh: notes the directory openssh was given for the control
/// socket (`-S DIR/.ssh-connection*/master`), then fails like a dead host.
const FAKE_SSH: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -S ] && socket=$2; shift; done
given=$(dirname "$(dirname "$socket")")
stat -c '%a %u %n' "$given" >>"$RECORD"
exit 255
"#;

#[test]
fn each_ssh_control_socket_sits_in_a_private_directory_of_its_own() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let work = tempfile::tempdir().unwrap();
    let (bin, tmp, record) = (
        work.path().join("bin"),
        work.path().join("tmp"),
        work.path().join("record"),
    );
    fs::create_dir(&bin).unwrap();
    fs::create_dir(&tmp).unwrap();
    fs::write(bin.join("ssh"), FAKE_SSH).unwrap();
    fs::set_permissions(bin.join("ssh"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (_dir, mut cmd) =
        filesync("[environments.prod]\nnodes = [\"root@127.0.0.1:9\", \"root@127.0.0.1:10\"]\n");
    cmd.env("PATH", path)
        .env("TMPDIR", &tmp)
        .env("RECORD", &record)
        .args(["status", "--env", "prod"])
        .assert()
        .failure()
        .stdout(predicate::str::contains("unreachable"));

    let uid = fs::metadata(work.path()).unwrap().uid().to_string();
    let recorded = fs::read_to_string(&record).unwrap();
    let dirs: Vec<&str> = recorded
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(3, ' ').collect();
            assert_eq!(fields[..2], ["700", uid.as_str()], "{recorded}");
            assert_eq!(
                std::path::Path::new(fields[2]).parent(),
                Some(tmp.as_path()),
                "a fresh directory in TMPDIR, not TMPDIR itself: {recorded}"
            );
            fields[2]
        })
        .collect();
    assert_eq!(dirs.len(), 2, "{recorded}");
    assert_ne!(dirs[0], dirs[1]);
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "removed after the run"
    );
}
