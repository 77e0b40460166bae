//! The Lua side of a push (lsyncd.conf's action and startup push), run in
//! lsyncd's own Lua against real files: lsyncd runs its configuration file
//! before anything else, so a harness that stands in for lsyncd's queue (the
//! inlet and its events) and for `spawn` loads the rendered configuration and
//! calls the action the way lsyncd would. What the action decides (which
//! events it drops as echoes, what it pushes, which files it stamps) is
//! printed and checked here; the end-to-end tests check the same on a cluster.

use filesync::model::desired::{node_configs, NodeFacts};
use filesync::model::settings::{Settings, SyncPath, Topology};
use filesync::nodes::layout;
use filesync::render;
use filesync::source::inventory::Inventory;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Stands in for lsyncd around the configuration: `EVENTS` is the queue
/// (etype, path from the source with a leading slash, move target), the
/// action runs on the sync whose target is `TARGET`, and every decision is
/// printed one per line.
const HARNESS: &str = r#"
local syncs = {}
local active = {}
local held_agents = {}
settings = function() end
sync = function(config) syncs[#syncs + 1] = config end
log = function(level, ...)
    local text = table.concat({ ... })
    if text:find('^stamped') then print('STAMPED ' .. text) end
end
spawn = function(agent, binary, ...)
    -- what a spawn runs is no longer waiting (lsyncd marks it active)
    for _, e in ipairs(agent.events or {}) do active[e] = true end
    if binary == '/bin/true' then
        for _, e in ipairs(agent.events) do print('HOLD ' .. e.full) end
        held_agents[#held_agents + 1] = agent
        return
    end
    local args, stdin = {}, nil
    local rest = { ... }
    local i = 1
    while i <= #rest do
        if rest[i] == '<' then stdin = rest[i + 1]; i = i + 2
        else
            local a = rest[i]
            if type(a) == 'table' then for _, v in ipairs(a) do args[#args + 1] = tostring(v) end
            else args[#args + 1] = tostring(a) end
            local deletions = type(a) == 'string' and a:match('^%-%-filesync%-deletions=(.*)$')
            if deletions then
                local f = io.open(deletions, 'rb')
                local text = f and f:read('a') or ''
                if f then f:close() end
                for rule in (text .. '\0'):gmatch('([^%z]*)%z') do
                    if rule ~= '' then print('DELETE ' .. rule) end
                end
            end
            i = i + 1
        end
    end
    print('SPAWN ' .. table.concat(args, ' '))
    if stdin and stdin ~= '' then
        for rule in (stdin .. '\0'):gmatch('([^%z]*)%z') do
            if rule ~= '' then print('RULE ' .. rule) end
        end
    end
end
default.rsync.init = function() print('FULL') end
dofile(CONF)
local config
for _, s in ipairs(syncs) do
    if s.target == TARGET then config = s end
end
config.source = SOURCE
config.rsync._computed = { '-ltpgoz' }
local queue = {}
local function enqueue(specs)
    queue = {}
    for _, spec in ipairs(specs) do
        local path = spec[2]
        queue[#queue + 1] = { etype = spec[1], path = path:sub(2), full = path, path2 = spec[3], status = 'wait' }
    end
end
enqueue(EVENTS)
local dropped = {}
-- As in lsyncd, an event inside a directory whose own event is queued
-- before it is blocked by it, and only a waiting event can be dropped.
local function waiting()
    local list = {}
    for _, e in ipairs(queue) do
        if not dropped[e] and not active[e] then
            e.status = 'wait'
            for _, before in ipairs(list) do
                if before.full:sub(-1) == '/' and e.full:sub(1, #before.full) == before.full then
                    e.status = 'block'
                end
            end
            list[#list + 1] = e
        end
    end
    return list
end
local inlet = {
    getConfig = function() return config end,
    getEvents = function(test)
        local list = {}
        for _, e in ipairs(waiting()) do
            if test(e) then list[#list + 1] = e end
        end
        return {
            isList = true,
            config = config,
            events = list,
            getPaths = function(mutator)
                local paths = {}
                for _, e in ipairs(list) do
                    local a, b = e.full, e.path2
                    if mutator then a, b = mutator(e.etype, e.full, e.path2) end
                    paths[#paths + 1] = a
                    if b then paths[#paths + 1] = b end
                end
                return paths
            end,
        }
    end,
    discardEvent = function(e)
        if e.status ~= 'wait' then
            print('BLOCKED ' .. e.full)
            return
        end
        dropped[e] = true
        print('DROP ' .. e.full)
    end,
    getExcludes = function() return {} end,
}
if MODE == 'init' then
    config.init({ config = config, inlet = inlet, etype = 'Init' })
else
    config.action(inlet)
    -- a later batch, after something changed on disk
    if THEN_RUN then
        os.execute(THEN_RUN)
        print('BATCH')
        -- the same batch again, in the sync to another peer
        if THEN_TARGET then
            for _, s in ipairs(syncs) do
                if s.target == THEN_TARGET then
                    s.source, s.rsync._computed = SOURCE, config.rsync._computed
                    config = s
                end
            end
        end
        enqueue(THEN_EVENTS)
        config.action(inlet)
    end
end
-- what lsyncd does once the held lists' processes end (after every batch)
for _, agent in ipairs(held_agents) do
    print('COLLECT ' .. tostring(agent.config.collect(agent, 0)))
end
os.exit(0)
"#;

struct Node {
    dir: tempfile::TempDir,
    conf: PathBuf,
    source: PathBuf,
    state: PathBuf,
}

fn facts(names: &[&str]) -> BTreeMap<String, NodeFacts> {
    names
        .iter()
        .map(|name| {
            let facts = NodeFacts {
                user: "root".into(),
                host_keys: vec!["ssh-ed25519 AAAA".into()],
                rsync: "/usr/bin/rsync".into(),
                mounts: vec![],
                source_addresses: vec!["10.1.0.1".into()],
            };
            (name.to_string(), facts)
        })
        .collect()
}

/// Node n1 of a three-node environment, its files in a temporary directory.
fn node(topology: Topology) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let webroot = dir.path().join("webroot");
    let source = webroot.join("ROOT");
    std::fs::create_dir_all(&source).unwrap();
    let inventory = format!(
        "[environments.prod]\nwebroot = \"{}\"\nnodes = [{}]\n",
        webroot.display(),
        (1..=3)
            .map(|i| format!("{{ name = \"n{i}\", ssh = \"n{i}\", address = \"10.1.0.{i}\" }}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let env = Inventory::parse(&inventory).unwrap().environments["prod"].clone();
    let settings = Settings {
        path: SyncPath::parse("/ROOT", &env.webroot).unwrap(),
        delay: "1".parse().unwrap(),
        topology,
        trash_days: Default::default(),
        link: None,
    };
    let config = node_configs(&env, &settings, &env.nodes, &facts(&["n1", "n2", "n3"]))
        .remove("n1")
        .unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("run")).unwrap();
    std::fs::create_dir_all(state.join("var")).unwrap();
    let conf_text = render::files(&config)
        .unwrap()
        .into_iter()
        .find(|f| f.path == layout::LSYNCD_CONF)
        .unwrap()
        .content
        .replace(config.install.root(), state.to_str().unwrap());
    let conf = state.join("lsyncd.conf");
    std::fs::write(&conf, conf_text).unwrap();
    Node {
        dir,
        conf,
        source,
        state,
    }
}

impl Node {
    fn write(&self, path: &str, content: &str) {
        let path = self.source.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Appends what a peer's transfer would log for `path` as it is now
    /// (`from`: 'm' a peer, 'l' the other environment).
    fn received(&self, from: char, path: &str) {
        self.received_when(&now_utc(), from, path);
    }

    /// Like `received`, the ledger line written at `at` (UTC, as the ledger
    /// writes it).
    fn received_when(&self, at: &str, from: char, path: &str) {
        let meta = std::fs::symlink_metadata(self.source.join(path)).unwrap();
        let out = Command::new("stat")
            .args(["-c", "%Y %A %u %g %s"])
            .arg(self.source.join(path))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let fields: Vec<&str> = text.split_whitespace().collect();
        let mtime = utc(fields[0]);
        let kind = if meta.is_dir() {
            "cd+++++++++"
        } else {
            ">f+++++++++"
        };
        let name = if meta.is_dir() {
            format!("{path}/")
        } else {
            path.to_string()
        };
        self.received_at(at, from, kind, &mtime, &fields, &name);
    }

    fn received_at(
        &self,
        at: &str,
        from: char,
        kind: &str,
        mtime: &str,
        fields: &[&str],
        name: &str,
    ) {
        self.ledger(&format!(
            "{at} [42] {from}|{kind}|{mtime}|{}|{}|{}|{}|{name}\n",
            fields[4],
            &fields[1][1..],
            fields[2],
            fields[3]
        ));
    }

    /// Like `received` for a directory that arrived an hour ago.
    fn received_dir_long_ago(&self, path: &str) {
        self.ledger(&format!(
            "{} [42] m|cd+++++++++|2026/01/01-00:00:00|4096|rwxr-xr-x|0|0|{path}/\n",
            utc_ago(3600)
        ));
    }

    /// A file that arrived from a peer at `at` (UTC, as the ledger writes
    /// it) and was then deleted here.
    fn arrived_then_deleted_here(&self, path: &str, at: &str) {
        self.write(path, "arrived");
        self.received_when(at, 'm', path);
        std::fs::remove_file(self.source.join(path)).unwrap();
    }

    fn deleted(&self, path: &str) {
        self.ledger(&format!(
            "2026/11/30 12:00:00 [42] m|*deleting  |1970/01/01-00:00:00|0|rw-r--r--|0|0|{path}\n"
        ));
    }

    fn ledger(&self, text: &str) {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.join(layout::LEDGER))
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// Runs the action (or, with `mode` "init", the startup push) of the sync
    /// to `target` over `events`; returns the printed decisions.
    fn run(&self, mode: &str, target: &str, events: &[(&str, &str)]) -> Vec<String> {
        self.run_then(mode, target, events, None, None)
    }

    /// Runs the action of the sync to n2, then of the sync to n3 on the same
    /// events, in one lsyncd (as lsyncd does: every sync judges each event).
    fn run_in_both_syncs(&self, events: &[(&str, &str)]) -> Vec<String> {
        self.run_then("action", N2, events, Some(("true", events)), Some(N3))
    }

    /// Like `run`, then runs `then.0` (a shell command) and a second batch
    /// `then.1` in the same lsyncd, which keeps what the first batch learned
    /// (in the sync to `then_target`, when given).
    fn run_then(
        &self,
        mode: &str,
        target: &str,
        events: &[(&str, &str)],
        then: Option<(&str, &[(&str, &str)])>,
        then_target: Option<&str>,
    ) -> Vec<String> {
        let lua_events = |events: &[(&str, &str)]| {
            events
                .iter()
                .map(|(etype, path)| format!("{{ '{etype}', '{path}' }}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let then_lines = match then {
            Some((command, events)) => format!(
                "THEN_RUN = [[{command}]]\nTHEN_EVENTS = {{ {} }}\nTHEN_TARGET = {}\n",
                lua_events(events),
                then_target.map_or("nil".to_string(), |t| format!("'{t}'"))
            ),
            None => String::new(),
        };
        let script = format!(
            "CONF = '{}'\nSOURCE = '{}/'\nTARGET = '{target}'\nMODE = '{mode}'\nEVENTS = {{ {} }}\n{then_lines}{HARNESS}",
            self.conf.display(),
            self.source.display(),
            lua_events(events)
        );
        let file = self.dir.path().join("harness.lua");
        std::fs::write(&file, script).unwrap();
        let output = Command::new("lsyncd")
            .env("TZ", "UTC0")
            .arg("-nodaemon")
            .arg(&file)
            .output()
            .expect("lsyncd is installed (scripts/install-deps)");
        assert!(
            output.status.success(),
            "the harness failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Now, as rsync's log file stamps its lines (UTC).
fn now_utc() -> String {
    utc_ago(0)
}

/// What `date -u -d WHEN FORMAT` prints.
fn date_utc(when: &str, format: &str) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", when, format])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `seconds` ago, as rsync's log file stamps its lines (UTC).
fn utc_ago(seconds: u64) -> String {
    date_utc(&format!("{seconds} seconds ago"), "+%Y/%m/%d %H:%M:%S")
}

/// A Unix time as rsync's log writes it in UTC.
fn utc(epoch: &str) -> String {
    date_utc(&format!("@{epoch}"), "+%Y/%m/%d-%H:%M:%S")
}

fn set_mtime(path: &Path, when: &str) {
    let status = Command::new("touch")
        .args(["-m", "-d", when])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn pushed(decisions: &[String]) -> bool {
    decisions.iter().any(|d| d.starts_with("SPAWN"))
}

const N2: &str = "filesync-n2::sync/";
const N3: &str = "filesync-n3::sync/";

#[test]
fn what_arrived_and_is_unchanged_is_not_pushed_on() {
    let n1 = node(Topology::Mesh);
    n1.write("up/2026/a.jpg", "from n2");
    n1.received('m', "up");
    n1.received('m', "up/2026");
    n1.received('m', "up/2026/a.jpg");
    let decisions = n1.run(
        "action",
        N2,
        &[
            ("Create", "/up/"),
            ("Create", "/up/2026/"),
            ("Create", "/up/2026/a.jpg"),
        ],
    );
    assert!(!pushed(&decisions), "{decisions:?}");
    assert!(decisions.contains(&"DROP /up/2026/a.jpg".to_string()));
}

#[test]
fn a_received_file_changed_here_since_is_pushed() {
    let n1 = node(Topology::Mesh);
    n1.write("a.jpg", "from n2");
    set_mtime(&n1.source.join("a.jpg"), "2026-01-01 10:00:00");
    n1.received('m', "a.jpg");
    n1.write("a.jpg", "edited here, same length?");
    n1.write("b.jpg", "from n2");
    n1.received('m', "b.jpg");
    std::fs::set_permissions(
        n1.source.join("b.jpg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    n1.write("c.jpg", "from n2, then deleted here");
    n1.received('m', "c.jpg");
    std::fs::remove_file(n1.source.join("c.jpg")).unwrap();
    let decisions = n1.run(
        "action",
        N2,
        &[
            ("Modify", "/a.jpg"),
            ("Attrib", "/b.jpg"),
            ("Delete", "/c.jpg"),
        ],
    );
    assert!(pushed(&decisions), "{decisions:?}");
    assert!(
        decisions.contains(&"DELETE /c.jpg".to_string()),
        "a delete here spreads: {decisions:?}"
    );
    assert!(
        decisions.contains(&"RULE /a.jpg".to_string()),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&"RULE /b.jpg".to_string()),
        "a chmod here spreads: {decisions:?}"
    );
}

#[test]
fn a_local_change_is_pushed_and_deletions_only_when_not_received() {
    let n1 = node(Topology::Mesh);
    n1.write("local.jpg", "made here");
    n1.deleted("gone-by-peer.jpg");
    n1.deleted("back-again.jpg");
    n1.write("back-again.jpg", "recreated here after the peer deleted it");
    let decisions = n1.run(
        "action",
        N2,
        &[
            ("Create", "/local.jpg"),
            ("Delete", "/gone-by-peer.jpg"),
            ("Create", "/back-again.jpg"),
        ],
    );
    assert!(
        decisions.contains(&"DROP /gone-by-peer.jpg".to_string()),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&"RULE /local.jpg".to_string()),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(&"RULE /back-again.jpg".to_string()),
        "{decisions:?}"
    );
    let spawn = decisions.iter().find(|d| d.starts_with("SPAWN")).unwrap();
    for option in [
        "--filesync-deletions=",
        "--include-from=-",
        "--exclude=*",
        N2,
    ] {
        assert!(spawn.contains(option), "{spawn}");
    }
}

#[test]
fn a_file_made_here_after_a_received_deletion_and_deleted_again_spreads_its_deletion() {
    let n1 = node(Topology::Mesh);
    n1.deleted("again.jpg");
    n1.write("again.jpg", "made here after the peer's deletion");
    let path = n1.source.join("again.jpg");
    let decisions = n1.run_then(
        "action",
        N2,
        &[("Create", "/again.jpg")],
        Some((
            &format!("rm {}", path.display()),
            &[("Delete", "/again.jpg")],
        )),
        None,
    );
    let second: Vec<&String> = decisions.iter().skip_while(|d| *d != "BATCH").collect();
    assert!(
        second.iter().any(|d| *d == "DELETE /again.jpg"),
        "the deletion made here was taken for the one received: {decisions:?}"
    );
}

#[test]
fn a_directory_received_long_ago_and_made_again_here_goes_with_all_it_holds() {
    let n1 = node(Topology::Mesh);
    n1.received_dir_long_ago("plugin");
    n1.write("plugin/new-version.php", "unzipped here");
    let decisions = n1.run("action", N2, &[("Create", "/plugin/")]);
    assert!(
        decisions.contains(&"RULE /plugin/***".to_string()),
        "{decisions:?}"
    );
}

#[test]
fn a_push_deletes_only_what_its_deletion_rules_name() {
    let n1 = node(Topology::Mesh);
    // rsync-push, with the installation in the test's directory, pushing to a
    // local directory (the peer) the way lsyncd's action calls it.
    let script = render_push_script(n1.state.to_str().unwrap());
    let push = n1.state.join("rsync-push");
    std::fs::write(&push, script).unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&push)
        .status()
        .unwrap();
    std::fs::create_dir_all(n1.state.join("var/log")).unwrap();
    let peer = n1.dir.path().join("peer");
    for (path, text) in [
        ("up/gone.jpg", "deleted on n1"),
        ("up/more.jpg", "only the peer has it yet"),
        ("up/edited.jpg", "before n1 edited it"),
    ] {
        std::fs::create_dir_all(peer.join(path).parent().unwrap()).unwrap();
        std::fs::write(peer.join(path), text).unwrap();
    }
    n1.write("up/new.jpg", "made on n1");
    n1.write("up/edited.jpg", "edited on n1");
    let deletions = n1.state.join("run/deletions");
    std::fs::write(&deletions, "/up/gone.jpg\0/up/\0/\0").unwrap();
    let mut child = Command::new(&push)
        .arg(format!("--filesync-deletions={}", deletions.display()))
        .arg("--filesync-knew=1796000000")
        .args(["-rt", "--backup", "--backup-dir=.kept/n1"])
        .args(["--from0", "--include-from=-", "--exclude=*"])
        .arg(format!("{}/", n1.source.display()))
        .arg(format!("{}/", peer.display()))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    // The directory goes with all it holds, without --delete.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/up/***\0/up/\0/\0")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        !peer.join("up/gone.jpg").exists(),
        "the deletion was not pushed"
    );
    assert!(
        peer.join("up/new.jpg").exists(),
        "the new file was not pushed"
    );
    assert!(
        peer.join("up/more.jpg").exists(),
        "a directory pushed with all it holds deleted what the peer has more"
    );
    // The deletion run tells the receiver when what it deletes had arrived
    // (a suffix of its backup directory); the update run does not.
    assert!(
        peer.join(".kept/n1.knew1796000000/up/gone.jpg").exists(),
        "the deletion run did not name when what it deleted had arrived"
    );
    assert!(
        peer.join(".kept/n1/up/edited.jpg").exists(),
        "the update run did not keep what it replaced in the plain backup directory"
    );
}

/// The push wrapper as rendered for node n1, its installation at `root`.
fn render_push_script(root: &str) -> String {
    let inventory = "[environments.prod]\nnodes = [{ name = \"n1\", ssh = \"n1\", address = \"10.1.0.1\" }, { name = \"n2\", ssh = \"n2\", address = \"10.1.0.2\" }]\n";
    let env = Inventory::parse(inventory).unwrap().environments["prod"].clone();
    let settings = Settings {
        path: SyncPath::parse("/ROOT", &env.webroot).unwrap(),
        delay: "1".parse().unwrap(),
        topology: Topology::Mesh,
        trash_days: Default::default(),
        link: None,
    };
    let config = node_configs(&env, &settings, &env.nodes, &facts(&["n1", "n2"]))
        .remove("n1")
        .unwrap();
    render::files(&config)
        .unwrap()
        .into_iter()
        .find(|f| f.path == layout::PUSH_SCRIPT)
        .unwrap()
        .content
        .replace(config.install.root(), root)
}

#[test]
fn in_a_ring_what_arrived_goes_on_to_the_next_node() {
    let n1 = node(Topology::Ring);
    n1.write("a.jpg", "from n3");
    n1.received('m', "a.jpg");
    let decisions = n1.run("action", N2, &[("Create", "/a.jpg")]);
    assert!(
        decisions.contains(&"RULE /a.jpg".to_string()),
        "{decisions:?}"
    );
}

#[test]
fn what_came_from_the_other_environment_is_pushed_to_this_one() {
    let n1 = node(Topology::Mesh);
    n1.write("a.jpg", "from the other environment");
    n1.received('l', "a.jpg");
    let decisions = n1.run("action", N2, &[("Create", "/a.jpg")]);
    assert!(
        decisions.contains(&"RULE /a.jpg".to_string()),
        "{decisions:?}"
    );
}

#[test]
fn a_local_change_with_an_old_time_is_stamped_before_it_is_pushed() {
    let n1 = node(Topology::Mesh);
    n1.write("restored.jpg", "an old copy");
    set_mtime(&n1.source.join("restored.jpg"), "2020-01-01");
    n1.write("fresh.jpg", "new");
    let decisions = n1.run(
        "action",
        N2,
        &[("Create", "/restored.jpg"), ("Create", "/fresh.jpg")],
    );
    assert!(
        decisions
            .iter()
            .any(|d| d.starts_with("STAMPED") && d.contains("restored.jpg")),
        "{decisions:?}"
    );
    assert!(
        !decisions.iter().any(|d| d.contains("'fresh.jpg'")),
        "{decisions:?}"
    );
    let year = std::fs::metadata(n1.source.join("restored.jpg"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(
        year.elapsed().unwrap().as_secs() < 600,
        "the restored file keeps its 2020 time"
    );
    assert!(decisions.contains(&"RULE /restored.jpg".to_string()));
}

#[test]
fn an_old_time_is_not_stamped_while_a_transfer_arrives() {
    // A file a peer's transfer wrote whose ledger line is not read yet looks
    // like a local change with an old time; stamped, that older copy would
    // win over the newer one on every node (seen in the churn test). While
    // a transfer runs it is pushed as it is: the peers keep the newest copy.
    let n1 = node(Topology::Mesh);
    n1.write("arrived.jpg", "an older version");
    set_mtime(&n1.source.join("arrived.jpg"), "2020-01-01");
    let record = n1.state.join("run/xfer-78");
    std::fs::write(&record, "n2 0 0\n").unwrap();
    let decisions = n1.run("action", N2, &[("Create", "/arrived.jpg")]);
    assert!(
        !decisions.iter().any(|d| d.starts_with("STAMPED")),
        "{decisions:?}"
    );
    assert!(decisions.contains(&"RULE /arrived.jpg".to_string()));
    let modified = std::fs::metadata(n1.source.join("arrived.jpg"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(
        modified.elapsed().unwrap().as_secs() > 3600,
        "its time was changed"
    );

    // Once no transfer runs, an old time is a local change's, and stamped.
    std::fs::remove_file(&record).unwrap();
    let decisions = n1.run("action", N2, &[("Create", "/arrived.jpg")]);
    assert!(
        decisions.iter().any(|d| d.starts_with("STAMPED")),
        "{decisions:?}"
    );
}

#[test]
fn ledger_lines_that_are_not_transfers_prove_nothing() {
    let n1 = node(Topology::Mesh);
    n1.write("x.jpg", "made here");
    let stat = Command::new("stat")
        .args(["-c", "%Y %s"])
        .arg(n1.source.join("x.jpg"))
        .output()
        .unwrap();
    let text = String::from_utf8(stat.stdout).unwrap();
    let (mtime, size) = text.trim().split_once(' ').unwrap();
    // A peer's file name echoed in an error message, shaped like a transfer line.
    n1.ledger(&format!(
        "2026/11/30 12:00:00 [42] rsync: rename \"a] m|>f+++++++++|{}|{size}|rw-r--r--|0|0|x.jpg\" failed\n",
        utc(mtime)
    ));
    // A line still being written (no newline yet).
    n1.ledger(&format!(
        "2026/11/30 12:00:00 [42] m|>f+++++++++|{}|{size}|rw-r--r--|0|0|x.jpg",
        utc(mtime)
    ));
    let decisions = n1.run("action", N2, &[("Create", "/x.jpg")]);
    assert!(
        decisions.contains(&"RULE /x.jpg".to_string()),
        "{decisions:?}"
    );
}

#[test]
fn the_startup_push_sends_what_changed_here_since_the_cutoff_and_not_what_arrived() {
    let n1 = node(Topology::Mesh);
    n1.write("old.jpg", "synced before lsyncd last idled");
    let pause = || std::thread::sleep(std::time::Duration::from_millis(50));
    pause();
    std::fs::write(n1.state.join("run/cutoff"), "").unwrap();
    pause();
    n1.write("received.jpg", "from n2, while lsyncd was down");
    n1.received('m', "received.jpg");
    n1.write("new.jpg", "written here while lsyncd was down");
    let decisions = n1.run("init", N2, &[]);
    assert!(pushed(&decisions), "{decisions:?}");
    let list = std::fs::read_to_string(n1.state.join("run/startup-filesync-n2")).unwrap();
    let listed: Vec<&str> = list.split('\0').filter(|p| !p.is_empty()).collect();
    assert_eq!(listed, ["new.jpg"]);

    // A peer that joins gets everything.
    std::fs::write(n1.state.join("run/full-startup-filesync-n2"), "").unwrap();
    assert_eq!(n1.run("init", N2, &[]), ["FULL"]);
}

/// Seconds since the epoch of a UTC time.
fn epoch(utc: &str) -> String {
    date_utc(utc, "+%s")
}

#[test]
fn a_deletion_push_says_when_what_it_deletes_had_arrived_here() {
    // Deleted here after they arrived: the push says when the
    // oldest of them arrived, so that a peer can tell its own changes pushed
    // before then (known here, deleted on purpose) from later ones (raced).
    let n1 = node(Topology::Mesh);
    n1.arrived_then_deleted_here("a.jpg", "2026/11/30 12:00:09");
    n1.arrived_then_deleted_here("b.jpg", "2026/11/30 12:00:05");
    n1.write("d.jpg", "made here");
    let decisions = n1.run_in_both_syncs(&[
        ("Delete", "/a.jpg"),
        ("Delete", "/b.jpg"),
        ("Create", "/d.jpg"),
    ]);
    let knew = format!("--filesync-knew={}", epoch("2026-11-30 12:00:05"));
    let spawns: Vec<&String> = decisions
        .iter()
        .filter(|d| d.starts_with("SPAWN"))
        .collect();
    // Every sync (one per peer) says it, not only the first to judge.
    assert_eq!(spawns.len(), 2, "{decisions:?}");
    for spawn in spawns {
        assert!(spawn.contains(&knew), "{spawn}");
    }

    // One of them never arrived here (made here): nothing is known of it.
    let n1 = node(Topology::Mesh);
    n1.arrived_then_deleted_here("a.jpg", "2026/11/30 12:00:09");
    n1.write("mine.jpg", "made here");
    std::fs::remove_file(n1.source.join("mine.jpg")).unwrap();
    let decisions = n1.run(
        "action",
        N2,
        &[("Delete", "/a.jpg"), ("Delete", "/mine.jpg")],
    );
    let spawn = decisions.iter().find(|d| d.starts_with("SPAWN")).unwrap();
    assert!(spawn.contains("--filesync-knew=0 "), "{spawn}");

    // Only a directory moved away: no file to tell of, the hook estimates.
    let n1 = node(Topology::Mesh);
    n1.write("album-old/p.jpg", "moved here");
    let decisions = n1.run("action", N2, &[("Delete", "/album/")]);
    let spawn = decisions.iter().find(|d| d.starts_with("SPAWN")).unwrap();
    assert!(spawn.contains("--filesync-knew= "), "{spawn}");
}

#[test]
fn a_new_directory_the_ledger_does_not_name_yet_waits_while_a_transfer_arrives() {
    // rsync's daemon names a directory in the ledger only when it reaches
    // it: while a transfer runs, an unnamed new directory is held back
    // rather than pushed whole (with what its origin may have deleted since).
    let n1 = node(Topology::Mesh);
    n1.write("album/a.jpg", "arriving");
    let record = n1.state.join("run/xfer-77");
    std::fs::write(&record, "n2 0 0\n").unwrap();
    let decisions = n1.run_in_both_syncs(&[("Create", "/album/")]);
    // Each sync (one per peer) holds its own event and gets it back.
    assert_eq!(
        decisions
            .iter()
            .filter(|d| *d == "HOLD /album/" || *d == "COLLECT again")
            .count(),
        4,
        "{decisions:?}"
    );
    assert!(!pushed(&decisions), "{decisions:?}");

    // Once no transfer runs, a directory still unnamed is a local one.
    std::fs::remove_file(&record).unwrap();
    let decisions = n1.run("action", N2, &[("Create", "/album/")]);
    assert!(
        decisions.contains(&"RULE /album/***".to_string()),
        "{decisions:?}"
    );
}
