"""The five measurements of the benchmark. Each takes clusters brought up by
the caller (bench/run) and returns plain numbers; nothing here prints a table.

Times of arrival come from the in-node agents (bench/agent.py); work is the
difference of the host-side counters of testbed.Cluster before a change and
after its echoes have drained.
"""

import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from testbed import SYNC_PATH, SYNCED, wait_quiet

PROBE_SIZE = 64 * 1024
STARTUP_DONE = re.compile(r"Normal: Startup of .* finished\.")


def spread(cluster, origin, command, names, timeout):
    """Runs an agent `command` on `origin` that writes `names`; returns
    {node: seconds from the write until the last of `names` arrived there}
    for every other node."""
    agents = cluster.agents
    watched = {node: agents[node] for node in cluster.nodes if node != origin}
    for agent in agents.values():
        agent.arrivals()
    agents[origin].send(command)
    written = float(agents[origin].expect("W", timeout=60)[1])
    return arrivals(watched, names, written, timeout, cluster.name)


def arrivals(watched, names, since, timeout, what):
    """Waits until every agent of `watched` ({label: agent}) has seen all of
    `names`; returns {label: seconds from `since` until the last of them
    arrived there}. Arrivals of other names are dropped."""
    wanted = set(names)
    last = {label: {} for label in watched}
    deadline = time.time() + timeout
    while any(len(seen) < len(wanted) for seen in last.values()):
        if time.time() > deadline:
            missing = [n for n, seen in last.items() if len(seen) < len(wanted)]
            raise TimeoutError(f"{what}: not everywhere after {timeout}s: {missing}")
        time.sleep(0.05)
        for label, seen in last.items():
            for name, at in watched[label].arrivals().items():
                if name in wanted:
                    seen.setdefault(name, at)
    return {label: max(seen.values()) - since for label, seen in last.items()}


def latency(cluster, tag, delay):
    """Convergence latency of one 64 KiB file written on n1: seconds until
    every other node has it."""
    cluster.wait_quiet()
    name = f"lat-{tag}"
    timeout = 10 + 4 * delay * cluster.size
    arrived = spread(cluster, "n1", f"write {name} {PROBE_SIZE}", [name], timeout)
    return max(arrived.values())


def work(cluster, tag, delay, files):
    """Work across the cluster for `files` new 64 KiB files written on n1 at
    once: rsync calls, bytes sent and CPU seconds until every echo drained.
    Returns {calls, bytes, cpu, latency}."""
    cluster.wait_quiet()
    before = cluster.counters()
    timeout = 30 + 4 * delay * cluster.size
    if files == 1:
        names = [f"one-{tag}"]
        command = f"write {names[0]} {PROBE_SIZE}"
    else:
        names = [f"burst-{tag}-{i}" for i in range(files)]
        command = f"burst burst-{tag} {files} {PROBE_SIZE}"
    arrived = spread(cluster, "n1", command, names, timeout)
    cluster.wait_quiet()
    after = cluster.counters()
    delta = {key: after[key] - before[key] for key in before}
    delta["latency"] = max(arrived.values())
    return delta


def deploy(cluster, binary, env, inventory, members):
    """A fresh `filesync install` on environment `env` (nodes `members`):
    {seconds, CPU seconds on the nodes, CPU seconds of filesync and its ssh
    clients on the operator's side, whether the first run exited 0 (if not,
    it is run again, as a user would), and the memory per node once settled}.
    Uninstalls afterwards (not timed) so that the next install is fresh."""
    nodes = sum(cluster.cpu_seconds(n) for n in cluster.nodes)
    operator = children_cpu()
    seconds, done = cluster.filesync(
        binary, "install", "--env", env, "--path", SYNC_PATH, "--delay", "1", "--yes",
        inventory=inventory, check=False)
    first_ok = done.returncode == 0
    if not first_ok:
        print(f"install {env}: exit {done.returncode}, run again:\n{done.stderr[-2000:]}",
              file=sys.stderr)
        cluster.install(binary, env=env, inventory=inventory)
    operator = children_cpu() - operator
    nodes = sum(cluster.cpu_seconds(n) for n in cluster.nodes) - nodes
    print(f"install {env}: {seconds:.2f}s, first run exit 0: {first_ok}", file=sys.stderr)
    cluster.wait_quiet(quiet=3)
    # One change on every node, so that each has its connections to its peers
    # (ssh masters) and their sessions (sshd) when memory is read.
    for node in members:
        cluster.exec(node, f"echo {node} > {SYNCED}/memory-{node}.txt")
    cluster.wait_quiet(quiet=3)
    rss = memory(cluster, members)
    # A large mesh on this machine's 2 cores can leave sshds too busy to
    # answer for a while after the changes above (every node pushing to
    # every other): wait for it.
    for attempt in range(5):
        try:
            cluster.uninstall(binary, env=env, inventory=inventory)
            break
        except RuntimeError as error:  # e.g. sshd's MaxStartups dropping a connection
            print(f"uninstall {env}, attempt {attempt + 1}: {error}", file=sys.stderr)
            cluster.wait_quiet(quiet=5)
            time.sleep(20)
    else:
        raise RuntimeError(f"could not uninstall {env}")
    for node in cluster.nodes:
        for written in cluster.synced(node).glob("memory-*.txt"):
            written.unlink()
    return {"seconds": seconds, "nodes": nodes, "operator": operator,
            "first_ok": first_ok, "rss": rss}


def memory(cluster, members):
    """Mean resident memory per node (MiB), once every node has pushed one
    change, of lsyncd, of ssh (lsyncd's connections to the peers: their
    control masters, kept 5 minutes) and of sshd (the node's daemon and the
    sessions of its peers' connections)."""
    total = {"lsyncd": 0, "ssh": 0, "sshd": 0}
    for node in members:
        for comm in total:
            for pid in cluster.host_pids(node, comm):
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total[comm] += int(line.split()[1])
                except OSError:
                    pass
    return {comm: kib / 1024 / len(members) for comm, kib in total.items()}


def children_cpu():
    """CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- link


def crossing(src, dst, tag, delay, origin="n1", watch=None, name=None):
    """Writes one 64 KiB file on `src`'s `origin` and waits until it is on
    every node of `watch` ([(cluster, node)], default every node of both
    environments but the origin). Returns (name, {(cluster name, node):
    seconds from the write until it arrived there})."""
    name = name or f"link-{tag}"
    if watch is None:
        watch = [(c, n) for c in (src, dst) for n in c.nodes if (c, n) != (src, origin)]
    watched = {(c.name, n): c.agents[n] for c, n in watch}
    for c in (src, dst):
        for agent in c.agents.values():
            agent.arrivals()
    src.agents[origin].send(f"write {name} {PROBE_SIZE}")
    written = float(src.agents[origin].expect("W", timeout=60)[1])
    timeout = 30 + 4 * delay * (src.size + dst.size)
    return name, arrivals(watched, [name], written, timeout, f"{src.name} -> {dst.name}")


def link_latency(src, dst, tag, delay):
    """One 64 KiB file written on `src`'s n1: seconds until every node of the
    other environment `dst` has it."""
    wait_quiet([src, dst])
    _, arrived = crossing(src, dst, tag, delay)
    return max(s for (env, _), s in arrived.items() if env == dst.name)


def link_work(src, dst, tag, delay):
    """Work across both environments for one 64 KiB file written on `src`'s
    n1, from the write until every push of either side has ended: rsync
    calls, bytes sent and CPU seconds (as `work`), how many times the file
    crossed to `dst` (`l|` lines of its nodes' ledgers naming it) and back to
    `src`, and the latency to every node of `dst`."""
    wait_quiet([src, dst])
    before = {c.name: c.counters() for c in (src, dst)}
    name, arrived = crossing(src, dst, tag, delay, name=f"lwork-{tag}")
    wait_quiet([src, dst])
    after = {c.name: c.counters() for c in (src, dst)}
    delta = {key: sum(after[c][key] - before[c][key] for c in after) for key in before[src.name]}
    delta["crossings"] = sum(dst.crossings(n, name) for n in dst.nodes)
    delta["back"] = sum(src.crossings(n, name) for n in src.nodes)
    delta["latency"] = max(s for (env, _), s in arrived.items() if env == dst.name)
    return delta


def failover(src, dst, tag, delay):
    """With `dst`'s n1 cut off: a change on `src`'s n1 (which pushes to `dst`'s
    n1 first) until it is on `dst`'s n2, and until it is on every node of
    `dst` but n1; then n1's link back up, and the seconds until n1 has it
    too. Returns {to_n2, to_all, catch_up}."""
    wait_quiet([src, dst])
    others = [n for n in dst.nodes if n != "n1"]
    dst.link("n1", "down")
    try:
        name, arrived = crossing(src, dst, tag, delay, watch=[(dst, n) for n in others],
                                 name=f"failover-{tag}")
    finally:
        dst.link("n1", "up")
    up = time.time()
    caught = arrivals({"n1": dst.agents["n1"]}, [name], up, 180, f"{dst.name} n1 after link up")
    wait_quiet([src, dst], timeout=240)
    return {"to_n2": arrived[(dst.name, "n2")], "to_all": max(arrived.values()),
            "catch_up": caught["n1"]}


# ---------------------------------------------------------------- big tree


def make_tree(root, files, dirs, total_bytes, seed=6):
    """Writes `files` files of random bytes (named .jpg, like uploads; sizes
    spread around the mean) in `dirs` directories two levels deep under
    `root`, about `total_bytes` in all."""
    rng = random.Random(seed)
    mean = total_bytes // files
    per_dir = files // dirs
    top = max(1, int(dirs ** 0.5))
    written = 0
    for d in range(dirs):
        folder = Path(root) / f"y{d % top:03d}" / f"m{d:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        count = per_dir + (1 if d < files % dirs else 0)
        for f in range(count):
            size = rng.randint(mean // 2, mean * 3 // 2)
            (folder / f"img{f:03d}.jpg").write_bytes(os.urandom(size))
            written += size
    return written


def count_files(root):
    """Number of files under `root`, leaving out rsync's temporary files and
    directories (names starting with a dot: an echo may be in flight)."""
    total = 0
    for _dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        total += sum(1 for f in filenames if not f.startswith("."))
    return total


def plain_rsync(cluster, source, targets):
    """The floor: plain `rsync -a` over ssh from `source` to each of
    `targets` at once (into /var/www/floor), timed inside the source node.
    Returns (seconds, CPU seconds across the cluster)."""
    cpu = sum(cluster.cpu_seconds(n) for n in cluster.nodes)
    ssh = f"ssh -F {cluster.env['FILESYNC_SSH_CONFIG']}"
    pushes = " ".join(
        f"rsync -a -e '{ssh}' {SYNCED}/ {t}:/var/www/floor/ & p{i}=$!;"
        for i, t in enumerate(targets))
    waits = " && ".join(f"wait $p{i}" for i in range(len(targets)))
    out = cluster.exec(source, f"s=$(date +%s.%N); {pushes} {waits} && echo $s $(date +%s.%N)")
    start, end = map(float, out.split()[-2:])
    cpu = sum(cluster.cpu_seconds(n) for n in cluster.nodes) - cpu
    for t in targets:
        subprocess.run(["rm", "-rf", str(cluster.www(t) / "floor")], check=True)
    return end - start, cpu


def filesync_initial(cluster, binary, source, targets, expected):
    """Fresh install with the tree only on `source`: seconds from the start of
    `filesync install` until lsyncd on `source` has finished its startup
    rsync to every target (with --delay-updates, the files are all in place
    then). Checks the file count on the targets, then uninstalls and empties
    them. Returns (seconds, CPU seconds across the cluster until then,
    {node: inotify watches of its lsyncd}, {target: rsync calls it made
    meanwhile, i.e. echoes of what it was receiving})."""
    cpu = sum(cluster.cpu_seconds(n) for n in cluster.nodes)
    started = time.time()
    cluster.install(binary)
    while True:
        log = cluster.lsyncd_log(source)
        text = log.read_text(errors="replace") if log.exists() else ""
        if len(STARTUP_DONE.findall(text)) >= len(targets):
            break
        time.sleep(0.05)
    seconds = time.time() - started
    cpu = sum(cluster.cpu_seconds(n) for n in cluster.nodes) - cpu
    echoes = {t: cluster.rsync_calls(t) for t in targets}
    for t in targets:
        have = count_files(cluster.synced(t))
        if have != expected:
            raise RuntimeError(f"{t} has {have} files, expected {expected}")
    watches = {node: inotify_watches(cluster, node) for node in cluster.nodes}
    cluster.wait_quiet(quiet=5, timeout=600)
    cluster.uninstall(binary)
    for t in targets:
        empty_dir(cluster.synced(t))
    return seconds, cpu, watches, echoes


def inotify_watches(cluster, node):
    """inotify watches held by the node's lsyncd (from /proc fdinfo)."""
    total = 0
    for pid in cluster.host_pids(node, "lsyncd"):
        for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
            try:
                total += fdinfo.read_text().count("inotify wd:")
            except OSError:
                pass
    return total


def empty_dir(path):
    """Removes everything inside `path` (keeps `path`)."""
    for child in Path(path).iterdir():
        subprocess.run(["rm", "-rf", str(child)], check=True)


# ---------------------------------------------------------------- idle


def process_cpu(pid):
    """CPU seconds (user + system, own and reaped children) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def idle(cluster, installed, baseline, seconds):
    """CPU seconds over `seconds` idle seconds of the `installed` nodes (mean
    per node), of their lsyncd alone, and of the `baseline` node, which has
    no filesync (sshd and cron only)."""
    cluster.wait_quiet(quiet=5)
    lsyncd = {n: cluster.host_pids(n, "lsyncd") for n in installed}
    node_before = {n: cluster.cpu_seconds(n) for n in installed + [baseline]}
    lsyncd_before = {n: sum(process_cpu(p) for p in pids) for n, pids in lsyncd.items()}
    time.sleep(seconds)
    node = {n: cluster.cpu_seconds(n) - node_before[n] for n in node_before}
    own = {n: sum(process_cpu(p) for p in lsyncd[n]) - lsyncd_before[n] for n in installed}
    return {
        "node": sum(node[n] for n in installed) / len(installed),
        "lsyncd": sum(own.values()) / len(installed),
        "baseline": node[baseline],
        "seconds": seconds,
    }
