//! The wizard, driven for real in a terminal (tmux: a pseudo-terminal with a size,
//! keys typed with send-keys, the screen read with capture-pane) to a finished
//! install, and its question for the folder to sync: what it recognises on the
//! nodes and what it warns about.

use crate::support::cluster::Cluster;
use crate::support::node_files::installation;
use crate::support::wait::eventually;
use std::process::Command;
use std::time::Duration;

struct Tmux {
    session: String,
}

impl Tmux {
    /// The screen once the command printed `EXIT=0` (it fails on another
    /// exit code, or when the command did not end within `seconds`).
    fn succeeded(&self, seconds: u64) -> String {
        assert!(
            eventually(Duration::from_secs(seconds), || self
                .screen()
                .contains("EXIT=")),
            "the command did not finish:\n{}",
            self.screen()
        );
        let screen = self.screen();
        assert!(screen.contains("EXIT=0"), "{screen}");
        screen
    }

    fn start(session: &str, command: &str) -> Tmux {
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "160",
                "-y",
                "50",
                command,
            ])
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(status.success());
        Tmux {
            session: session.to_string(),
        }
    }

    fn screen(&self) -> String {
        let output = Command::new("tmux")
            .args(["capture-pane", "-p", "-S", "-200", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits for `text` on screen, then types `keys` (tmux key names).
    fn answer(&self, text: &str, keys: &[&str]) {
        self.answer_nth(text, 1, keys);
    }

    /// Waits for `text` on screen.
    fn sees(&self, text: &str) {
        self.answer_nth(text, 1, &[]);
    }

    /// Waits for `text` to be on screen `times` times (a question asked
    /// again), then types `keys`.
    fn answer_nth(&self, text: &str, times: usize, keys: &[&str]) {
        assert!(
            eventually(Duration::from_secs(20), || self
                .screen()
                .matches(text)
                .count()
                >= times),
            "never saw {text:?} {times} time(s):\n{}",
            self.screen()
        );
        if keys.is_empty() {
            return;
        }
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn the_wizard_asks_for_every_missing_setting_and_installs() {
    let Some(cluster) = Cluster::up("wiz", 2, 27) else {
        return;
    };
    let command = format!(
        "env FILESYNC_INVENTORY={} FILESYNC_SSH_CONFIG={} {} install; echo EXIT=$?; sleep 60",
        cluster.inventory.display(),
        cluster.ssh_config.display(),
        env!("CARGO_BIN_EXE_filesync"),
    );
    let tmux = Tmux::start("filesync-wizard-test", &command);
    tmux.answer("Synchronization mode", &["Enter"]);
    tmux.answer("Environment", &["Enter"]);
    tmux.answer("Nodes", &["Enter"]);
    tmux.answer("Sync path", &["/ROOT/wp-content", "Enter"]);
    tmux.answer("Sync delay", &["BSpace", "BSpace", "1", "Enter"]);
    tmux.answer("Apply this plan?", &["y"]);
    let screen = tmux.succeeded(30);
    assert!(
        screen.contains("sync /ROOT/wp-content every 1 s, topology mesh"),
        "{screen}"
    );
    assert!(
        screen.contains("Done: 2 changed, 0 unchanged, 0 failed."),
        "{screen}"
    );

    let (code, stdout, _) = cluster.run(&["status", "--env", &cluster.name]);
    assert_eq!(code, 0, "{stdout}");
    std::fs::write(cluster.synced("n1").join("w.txt"), "wizard").unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(cluster.synced("n2").join("w.txt"))
            .ok()
            .as_deref()
            == Some("wizard")
    }));
}

#[test]
fn the_wizard_asks_for_the_peer_and_a_hidden_confirmed_password_in_mode_two() {
    let Some(cluster) = Cluster::up("tew", 2, 45) else {
        return;
    };
    let command = format!(
        "env -u FILESYNC_PASSWORD FILESYNC_INVENTORY={} FILESYNC_SSH_CONFIG={} {} install; echo EXIT=$?; sleep 60",
        cluster.inventory.display(),
        cluster.ssh_config.display(),
        env!("CARGO_BIN_EXE_filesync"),
    );
    let tmux = Tmux::start("filesync-wizard-two-test", &command);
    tmux.answer("Synchronization mode", &["Down", "Enter"]);
    tmux.answer("Environment", &["Enter"]);
    tmux.answer("Nodes", &["Enter"]);
    // Not in the inventory: its keys (the first choice) or node addresses.
    tmux.answer("The other environment", &["Down", "Enter"]);
    // No node answers there: this environment must still install and sync.
    tmux.answer(
        "IP of a node in the second environment",
        &["10.213.46.11", "Enter"],
    );
    // `-l`: the password is typed as literal text, then Enter as a key.
    tmux.answer("Password (the same", &["-l", "typed-secret-42"]);
    tmux.answer("Password (the same", &["Enter"]);
    tmux.answer("Repeat the password", &["-l", "typed-secret-42"]);
    tmux.answer("Repeat the password", &["Enter"]);
    tmux.answer("Sync path", &["/ROOT/wp-content", "Enter"]);
    tmux.answer("Sync delay", &["BSpace", "BSpace", "1", "Enter"]);
    tmux.answer("Apply this plan?", &["y"]);
    let screen = tmux.succeeded(60);
    assert!(
        !screen.contains("typed-secret-42"),
        "the password was shown:\n{screen}"
    );
    assert!(
        screen.contains("rsync daemon of 10.213.46.11:7755"),
        "{screen}"
    );
    for node in ["n1", "n2"] {
        let pass = cluster.exec(node, &format!("cat {}/etc/rsyncd.pass", installation()));
        assert_eq!(pass, "typed-secret-42\n");
    }
    std::fs::write(cluster.synced("n1").join("w2.txt"), "two").unwrap();
    assert!(eventually(Duration::from_secs(15), || {
        std::fs::read_to_string(cluster.synced("n2").join("w2.txt"))
            .ok()
            .as_deref()
            == Some("two")
    }));
}

/// `filesync plan --env ENV` in a terminal: the wizard asks for the nodes, the
/// path and the delay, then shows the plan.
fn plan_in_a_terminal(cluster: &Cluster) -> String {
    format!(
        "env FILESYNC_INVENTORY={} FILESYNC_SSH_CONFIG={} NO_COLOR=1 {} plan --env {}; echo EXIT=$?; sleep 60",
        cluster.inventory.display(),
        cluster.ssh_config.display(),
        env!("CARGO_BIN_EXE_filesync"),
        cluster.name,
    )
}

/// A WordPress installation's markers in the node's webroot (the test bed
/// already makes ROOT/wp-content).
fn install_wordpress(cluster: &Cluster, node: &str) {
    cluster.exec(
        node,
        "mkdir -p /var/www/webroot/ROOT/wp-includes /var/www/webroot/ROOT/wp-content/uploads && \
         echo '<?php' > /var/www/webroot/ROOT/wp-config.php",
    );
}

/// Everything under the node's /var/www, with sizes and times: to prove the
/// wizard's look at the nodes changed nothing.
fn listing(cluster: &Cluster, node: &str) -> String {
    cluster.exec(
        node,
        "find /var/www -printf '%p %s %T@ %C@\\n' | LC_ALL=C sort",
    )
}

#[test]
fn the_wizard_proposes_the_wordpress_folder_it_finds_on_every_node() {
    let Some(cluster) = Cluster::up("dta", 3, 160) else {
        return;
    };
    for node in ["n1", "n2", "n3"] {
        install_wordpress(&cluster, node);
    }
    let before = listing(&cluster, "n1");

    // Without a terminal, detection never decides: the path is a flag to give.
    let (code, stdout, stderr) = cluster.run(&["plan", "--env", &cluster.name]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("--path PATH"), "{stderr}");
    assert!(!stderr.contains("WordPress"), "{stderr}");

    let tmux = Tmux::start("filesync-wizard-dta", &plan_in_a_terminal(&cluster));
    tmux.answer("Nodes", &["Enter"]);
    tmux.sees("WordPress found on n1-n3: /ROOT/wp-content");
    // Enter takes the proposed default.
    tmux.answer("Sync path", &["Enter"]);
    tmux.answer("Sync delay", &["Enter"]);
    let screen = tmux.succeeded(30);
    assert!(
        screen.contains("sync /ROOT/wp-content every 10 s"),
        "{screen}"
    );
    assert!(!screen.contains("warning:"), "{screen}");
    assert_eq!(
        listing(&cluster, "n1"),
        before,
        "the wizard changed the node"
    );
}

#[test]
fn the_wizard_warns_when_the_folder_differs_between_nodes_or_holds_a_mount() {
    let Some(cluster) = Cluster::up("dtb", 3, 161) else {
        return;
    };
    for node in ["n1", "n2"] {
        install_wordpress(&cluster, node);
    }
    // n3 runs Drupal instead; n2 has another filesystem inside wp-content.
    cluster.exec(
        "n3",
        "rm -r /var/www/webroot/ROOT/wp-content && \
         mkdir -p /var/www/webroot/ROOT/sites/default /var/www/webroot/ROOT/core/lib && \
         echo '<?php' > /var/www/webroot/ROOT/core/lib/Drupal.php",
    );
    cluster.exec(
        "n2",
        "mkdir /var/www/webroot/ROOT/wp-content/cache && \
         mount -t tmpfs tmpfs /var/www/webroot/ROOT/wp-content/cache",
    );

    let tmux = Tmux::start("filesync-wizard-dtb", &plan_in_a_terminal(&cluster));
    tmux.answer("Nodes", &["Enter"]);
    tmux.sees("WordPress found on n1, n2: /ROOT/wp-content");
    tmux.sees("warning: n3 holds Drupal (/ROOT/sites) instead of WordPress (/ROOT/wp-content)");
    tmux.answer("Sync path", &["Enter"]);
    tmux.sees("warning: /ROOT/wp-content does not exist on n3");
    tmux.sees(
        "warning: n2: other filesystems are mounted inside /ROOT/wp-content and are not \
         synced: /cache",
    );
    // Enter: no, the default; the question is asked again.
    tmux.answer("Sync /ROOT/wp-content anyway?", &["Enter"]);
    tmux.answer_nth("Sync path", 2, &["/ROOT", "Enter"]);
    tmux.sees(
        "warning: n2: other filesystems are mounted inside /ROOT and are not synced: \
         /wp-content/cache",
    );
    tmux.answer("Sync /ROOT anyway?", &["y"]);
    tmux.answer("Sync delay", &["Enter"]);
    let screen = tmux.succeeded(30);
    assert!(screen.contains("sync /ROOT every 10 s"), "{screen}");
}
