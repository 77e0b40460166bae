//! The wizard, driven for real in a terminal (tmux: a pseudo-terminal with a size,
//! keys typed with send-keys, the screen read with capture-pane) to a finished
//! install.

use crate::cluster::{eventually, installation, Cluster};
use std::process::Command;
use std::time::Duration;

struct Tmux {
    session: String,
}

impl Tmux {
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
        assert!(
            eventually(Duration::from_secs(20), || self.screen().contains(text)),
            "never saw {text:?}:\n{}",
            self.screen()
        );
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
    assert!(
        eventually(Duration::from_secs(30), || tmux.screen().contains("EXIT=")),
        "install did not finish:\n{}",
        tmux.screen()
    );
    let screen = tmux.screen();
    assert!(
        screen.contains("sync /ROOT/wp-content every 1 s, topology mesh"),
        "{screen}"
    );
    assert!(
        screen.contains("Done: 2 changed, 0 unchanged, 0 failed."),
        "{screen}"
    );
    assert!(screen.contains("EXIT=0"), "{screen}");

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
    assert!(
        eventually(Duration::from_secs(60), || tmux.screen().contains("EXIT=")),
        "install did not finish:\n{}",
        tmux.screen()
    );
    let screen = tmux.screen();
    assert!(screen.contains("EXIT=0"), "{screen}");
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
