"""The simulated cluster as the benchmark sees it: bring one up and down with
`testbed/cluster`, run filesync against it, start the in-node agents, and read
the counters the benchmark needs from the host side (per-node CPU through a
cpuacct cgroup, bytes sent through the host end of each node's veth, rsync
calls through each node's lsyncd log).

Clusters are named by the caller (the benchmark keeps to names starting with
`bn`); this module never touches a cluster it did not bring up.
"""

import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTBED = REPO / "testbed" / "cluster"
AGENT = REPO / "bench" / "agent.py"
CGROUP_ROOT = Path("/sys/fs/cgroup/cpuacct/filesync-bench")
WEBROOT = "/var/www/webroot"
SYNC_PATH = "/ROOT/wp-content"
SYNCED = WEBROOT + SYNC_PATH
RSYNC_CALL = "Normal: Calling rsync"


def testbed(*args, check=True):
    """Runs testbed/cluster quietly; returns its stdout."""
    env = dict(os.environ, TESTBED_QUIET="1")
    done = subprocess.run([str(TESTBED), *args], env=env, text=True,
                          capture_output=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"testbed/cluster {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Agent:
    """One running bench/agent.py inside a node: send commands, wait for lines."""

    def __init__(self, cluster, node):
        """Starts the agent in `node`, watching the synced directory."""
        self.node = node
        self.lines = queue.Queue()
        # The source goes in as `-c`: a node has its own /tmp, so a checkout
        # under /tmp is not visible from inside it.
        self.proc = subprocess.Popen(
            [str(TESTBED), "exec", "--name", cluster, node, "--",
             "python3", "-c", AGENT.read_text(), SYNCED],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("R", timeout=30)

    def _read(self):
        """Moves every output line, split in words, to the queue."""
        for line in self.proc.stdout:
            self.lines.put(line.split())

    def send(self, command):
        """Sends one command line."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, kind, timeout):
        """Returns the next line of `kind` (arrivals met on the way are kept)."""
        deadline = time.time() + timeout
        skipped = []
        try:
            while True:
                words = self.lines.get(timeout=max(0.0, deadline - time.time()))
                if words and words[0] == kind:
                    return words
                skipped.append(words)
        except queue.Empty:
            raise TimeoutError(f"{self.node}: no {kind} line in {timeout}s") from None
        finally:
            for words in skipped:
                self.lines.put(words)

    def arrivals(self):
        """Drains and returns {name: first arrival time} seen so far."""
        seen = {}
        while True:
            try:
                words = self.lines.get_nowait()
            except queue.Empty:
                return seen
            if words and words[0] == "A":
                seen.setdefault(words[2], float(words[1]))

    def stop(self):
        """Asks the agent to quit and waits for it."""
        try:
            self.send("quit")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class Cluster:
    """A testbed cluster brought up for the benchmark, torn down by `down()`."""

    def __init__(self, name, nodes, subnet, routed=False):
        """Brings up `nodes` nodes as cluster `name` on 10.213.`subnet`.0/24 and
        puts each node's processes in its own cpuacct cgroup. A `routed`
        cluster's nodes reach those of other routed clusters through the host
        (two environments)."""
        self.name, self.size = name, nodes
        self.nodes = [f"n{i}" for i in range(1, nodes + 1)]
        self.agents = {}
        out = testbed("up", "--name", name, "--nodes", str(nodes),
                      "--subnet", f"10.213.{subnet}", *(["--routed"] if routed else []))
        self.env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.dir = Path(self.env["TESTBED_DIR"])
        self._cgroups()

    def _cgroups(self):
        """Moves every process of every node into CGROUP_ROOT/NAME/nI; whatever
        they start later (sshd sessions, lsyncd, rsync, cron jobs) stays there."""
        for i, node in enumerate(self.nodes, 1):
            group = CGROUP_ROOT / self.name / node
            group.mkdir(parents=True, exist_ok=True)
            pids = subprocess.run(["ip", "netns", "pids", f"fs-{self.name}-n{i}"],
                                  capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    (group / "cgroup.procs").write_text(pid)
                except OSError:
                    pass  # gone meanwhile

    def down(self):
        """Stops the agents, tears the cluster down, removes its cgroups."""
        for agent in self.agents.values():
            agent.stop()
        self.agents = {}
        testbed("down", "--name", self.name, check=False)
        for node in self.nodes:
            try:
                (CGROUP_ROOT / self.name / node).rmdir()
            except OSError:
                pass
        for group in (CGROUP_ROOT / self.name, CGROUP_ROOT):
            try:
                group.rmdir()
            except OSError:
                pass  # still in use (another cluster of the benchmark)

    # ------------------------------------------------------------ filesync

    def filesync(self, binary, *args, inventory=None, ssh_config=None, check=True):
        """Runs filesync against this cluster (or, with another `inventory`
        and `ssh_config`, whatever they hold); returns (seconds, completed)."""
        env = dict(os.environ, NO_COLOR="1",
                   FILESYNC_INVENTORY=str(inventory or self.env["FILESYNC_INVENTORY"]),
                   FILESYNC_SSH_CONFIG=str(ssh_config or self.env["FILESYNC_SSH_CONFIG"]))
        started = time.time()
        done = subprocess.run([str(binary), *args], env=env, text=True,
                              capture_output=True)
        seconds = time.time() - started
        if check and done.returncode != 0:
            raise RuntimeError(f"filesync {' '.join(args)}: {done.stdout}{done.stderr}")
        return seconds, done

    def install(self, binary, env=None, topology="mesh", delay=1, inventory=None):
        """`filesync install` of the usual test settings; returns its seconds."""
        seconds, _ = self.filesync(
            binary, "install", "--env", env or self.name, "--path", SYNC_PATH,
            "--delay", str(delay), "--topology", topology, "--yes",
            inventory=inventory)
        return seconds

    def uninstall(self, binary, env=None, inventory=None):
        """`filesync uninstall --yes` (synced files stay)."""
        self.filesync(binary, "uninstall", "--env", env or self.name, "--yes",
                      inventory=inventory)

    def inventory(self, path, envs):
        """Writes an inventory at `path` with environments {name: [node, ...]}
        over this cluster's nodes; returns the path."""
        lines = []
        for env, nodes in envs.items():
            lines += [f"[environments.{env}]", f'webroot = "{WEBROOT}"', "nodes = ["]
            for node in nodes:
                ip = f"{self.env_subnet()}.{10 + int(node[1:])}"
                lines.append(f'  {{ name = "{node}", ssh = "{node}", address = "{ip}" }},')
            lines.append("]")
        Path(path).write_text("\n".join(lines) + "\n")
        return Path(path)

    def link(self, node, state):
        """Cuts node `node` off its network (`down`) or brings it back (`up`)."""
        testbed("link", "--name", self.name, node, state)

    def address(self, node):
        """The node's IP address."""
        return f"{self.env_subnet()}.{10 + int(node[1:])}"

    def env_subnet(self):
        """The first three octets of this cluster's subnet."""
        text = (self.dir / "cluster.env").read_text()
        return re.search(r"^SUBNET=(\S+)$", text, re.M).group(1)

    # ------------------------------------------------------------ nodes

    def exec(self, node, script):
        """Runs a shell script inside a node; returns its stdout."""
        return testbed("exec", "--name", self.name, node, "--", "sh", "-c", script)

    def www(self, node):
        """The node's /var/www as a host path."""
        return self.dir / "nodes" / node / "fs" / "var" / "www"

    def synced(self, node):
        """The node's synced directory as a host path."""
        return self.www(node) / SYNCED.removeprefix("/var/www/")

    def installation(self, node):
        """The node's filesync installation directory (/var/lib/filesync/<instance>
        inside the node) as a host path: the one under the node's private
        /var/lib/filesync."""
        base = self.dir / "nodes" / node / "fs" / "var" / "lib" / "filesync"
        found = [d for d in base.glob("*") if d.is_dir() and not d.name.endswith(".lock")]
        return found[0] if found else base / "not-installed"

    def lsyncd_log(self, node):
        """The node's lsyncd log as a host path."""
        return self.installation(node) / "var" / "log" / "lsyncd.log"

    def start_agents(self):
        """Starts one agent per node (idempotent)."""
        for node in self.nodes:
            if node not in self.agents:
                self.agents[node] = Agent(self.name, node)

    def host_pids(self, node, comm):
        """Host PIDs of the node's processes whose command name is `comm`."""
        ns = f"fs-{self.name}-n{node[1:]}"
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        found = []
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                    found.append(int(pid))
            except OSError:
                pass
        return found

    # ------------------------------------------------------------ counters

    def cpu_seconds(self, node):
        """CPU seconds used so far by everything that ran in the node."""
        usage = CGROUP_ROOT / self.name / node / "cpuacct.usage"
        return int(usage.read_text()) / 1e9

    def bytes_sent(self, node):
        """Bytes the node has sent on its network interface so far (received
        by the host end of its veth)."""
        veth = f"fsv{self.name}n{node[1:]}"
        return int(Path(f"/sys/class/net/{veth}/statistics/rx_bytes").read_text())

    def crossings(self, node, name):
        """How many times file `name` (top level of the synced directory) has
        arrived on the node from the other environment: the ledger's lines
        that start `l|` (after rsync's date and pid) and name it."""
        try:
            text = (self.installation(node) / "var" / "ledger.log").read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return sum(1 for line in text.splitlines()
                   if " l|" in line and line.endswith(f"|{name}"))

    def rsync_calls(self, node):
        """rsync calls lsyncd has made on the node so far (from its log)."""
        try:
            return self.lsyncd_log(node).read_text(errors="replace").count(RSYNC_CALL)
        except FileNotFoundError:
            return 0

    def counters(self):
        """Totals over all nodes: {cpu, bytes, calls}."""
        return {
            "cpu": sum(self.cpu_seconds(n) for n in self.nodes),
            "bytes": sum(self.bytes_sent(n) for n in self.nodes),
            "calls": sum(self.rsync_calls(n) for n in self.nodes),
        }

    def wait_quiet(self, quiet=2.5, timeout=120):
        """Waits until no node's lsyncd log has grown for `quiet` seconds (the
        echoes of the last change have drained)."""
        wait_quiet([self], quiet, timeout)

    def lsyncd_log_sizes(self):
        """The size of each node's lsyncd log (0 when there is none yet)."""
        out = []
        for node in self.nodes:
            try:
                out.append(self.lsyncd_log(node).stat().st_size)
            except FileNotFoundError:
                out.append(0)
        return out


def wait_quiet(clusters, quiet=2.5, timeout=120):
    """Waits until no lsyncd log of any node of `clusters` has grown for
    `quiet` seconds."""
    def sizes():
        return [size for cluster in clusters for size in cluster.lsyncd_log_sizes()]
    deadline = time.time() + timeout
    last, since = sizes(), time.time()
    while time.time() < deadline:
        time.sleep(0.25)
        now = sizes()
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return
    names = ", ".join(cluster.name for cluster in clusters)
    raise TimeoutError(f"{names}: lsyncd still busy after {timeout}s")


def merged(clusters, directory):
    """One inventory and ssh config holding every cluster of `clusters` as an
    environment named after it, each node reached by its address (node names
    repeat across clusters). Returns (inventory path, ssh config path)."""
    inventory, ssh = [], []
    for cluster in clusters:
        inventory += [f"[environments.{cluster.name}]", f'webroot = "{WEBROOT}"', "nodes = ["]
        for node in cluster.nodes:
            ip = cluster.address(node)
            inventory.append(f'  {{ name = "{node}", ssh = "{ip}", address = "{ip}" }},')
        inventory.append("]")
        ssh += [f"Host {cluster.env_subnet()}.*", "    User root",
                f"    IdentityFile {cluster.dir / 'operator' / 'id_ed25519'}",
                "    IdentitiesOnly yes",
                f"    UserKnownHostsFile {cluster.dir / 'known_hosts'}",
                "    StrictHostKeyChecking yes", "    ConnectTimeout 5"]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "filesync.toml").write_text("\n".join(inventory) + "\n")
    (directory / "ssh_config").write_text("\n".join(ssh) + "\n")
    return directory / "filesync.toml", directory / "ssh_config"
