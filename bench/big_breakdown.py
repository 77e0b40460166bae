#!/usr/bin/env python3
"""Where the time of filesync's initial sync of a big tree goes: one run of
five variants of a copy from n1 to n2 and n3 at once, on one 3-node cluster,
each timed inside n1 with the cluster's CPU:

    plain            rsync -a (the floor of bench/run)
    options          rsync with filesync's options (-a -z --update
                     --delay-updates --timeout=60), still to plain ssh
    compress         rsync -a -z
    delay-updates    rsync -a --delay-updates
    receivers-watch  rsync -a while filesync's lsyncd runs on n2 and n3 (they
                     see every file arrive and push it on to the other nodes)

Usage (as root): bench/big_breakdown.py [FILES] [MB]   (default 50000 1000)
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
from testbed import REPO, SYNCED, Cluster  # noqa: E402

FILESYNC_OPTIONS = "-a -z --update --delay-updates --timeout=60"


def copy(cluster, options, dest):
    """rsync OPTIONS from n1 to `dest` on n2 and n3 at once, timed in n1;
    returns (seconds, CPU seconds across the cluster)."""
    ssh = f"ssh -F {cluster.env['FILESYNC_SSH_CONFIG']}"
    cpu = sum(cluster.cpu_seconds(n) for n in cluster.nodes)
    out = cluster.exec("n1", (
        f"s=$(date +%s.%N); rsync {options} -e '{ssh}' {SYNCED}/ n2:{dest}/ & a=$!; "
        f"rsync {options} -e '{ssh}' {SYNCED}/ n3:{dest}/ & b=$!; "
        "wait $a && wait $b && echo $s $(date +%s.%N)"))
    start, end = map(float, out.split()[-2:])
    return end - start, sum(cluster.cpu_seconds(n) for n in cluster.nodes) - cpu


def main(files=50000, mb=1000):
    """Runs the variants once each and prints their figures."""
    binary = REPO / "target" / "release" / "filesync"
    cluster = Cluster("bnx", 3, 69)
    try:
        measure.make_tree(cluster.synced("n1"), files, files // 10, mb * 10**6)
        for name, options in [("plain", "-a"), ("options", FILESYNC_OPTIONS),
                              ("compress", "-a -z"), ("delay-updates", "-a --delay-updates")]:
            seconds, cpu = copy(cluster, options, "/var/www/floor")
            print(f"{name}: {seconds:.2f} s, {cpu:.1f} CPU s", flush=True)
            for node in ("n2", "n3"):
                subprocess.run(["rm", "-rf", str(cluster.www(node) / "floor")], check=True)
        inventory = cluster.inventory(cluster.dir / "bench.toml", {"rx": ["n2", "n3"]})
        cluster.install(binary, env="rx", inventory=inventory)
        cluster.wait_quiet()
        calls = sum(cluster.rsync_calls(n) for n in ("n2", "n3"))
        seconds, cpu = copy(cluster, "-a", SYNCED)
        calls = sum(cluster.rsync_calls(n) for n in ("n2", "n3")) - calls
        print(f"receivers-watch: {seconds:.2f} s, {cpu:.1f} CPU s, "
              f"{calls} rsync calls by n2 and n3 meanwhile", flush=True)
    finally:
        cluster.down()


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
