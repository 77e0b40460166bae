"""Turns the benchmark's raw figures into a text table (stdout) and the
generated part of BENCHMARKS.md. Pure: figures in, strings out."""

import statistics


def summary(values):
    """(median, min, max) of a list of numbers, or None for no values."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def cell(values, fmt="{:.2f}"):
    """`median (min-max, n=K)` of a list of numbers."""
    s = summary(values)
    if s is None:
        return "-"
    med, lo, hi = s
    return f"{fmt.format(med)} ({fmt.format(lo)}-{fmt.format(hi)}, n={len(values)})"


def ratio(top, bottom):
    """Ratio of two medians, or None."""
    a, b = summary(top), summary(bottom)
    if a is None or b is None or b[0] == 0:
        return None
    return a[0] / b[0]


def fmt_ratio(value):
    """A ratio as `x.xx x`, or `-`."""
    return "-" if value is None else f"{value:.2f}x"


def markdown_table(header, rows):
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def latency_rows(results):
    """Rows: N, mesh, ring, ring/mesh (seconds to every node, one change)."""
    rows = []
    for n, by_topo in sorted(results.get("latency", {}).items(), key=lambda kv: int(kv[0])):
        mesh, ring = by_topo.get("mesh", []), by_topo.get("ring", [])
        rows.append([n, cell(mesh), cell(ring), fmt_ratio(ratio(ring, mesh))])
    return rows


def work_rows(results):
    """Rows: N, change, topology, rsync calls, MB sent, CPU s, latency s."""
    rows = []
    for n, by_kind in sorted(results.get("work", {}).items(), key=lambda kv: int(kv[0])):
        for kind, by_topo in by_kind.items():
            for topo, runs in by_topo.items():
                rows.append([
                    n, kind, topo,
                    cell([r["calls"] for r in runs], "{:.0f}"),
                    cell([r["bytes"] / 1e6 for r in runs], "{:.2f}"),
                    cell([r["cpu"] for r in runs], "{:.2f}"),
                    cell([r["latency"] for r in runs], "{:.2f}"),
                ])
    return rows


def deploy_rows(results):
    """Rows: N, install seconds, ratio to the smallest N, CPU, first runs
    that exited 0, memory per node."""
    runs = results.get("deploy", {})
    one = runs[min(runs, key=int)] if runs else None
    cpu = results.get("deploy_cpu", {})
    first_ok = results.get("deploy_first_ok", {})
    memory = results.get("memory", {})
    rows = []
    for n, values in sorted(runs.items(), key=lambda kv: int(kv[0])):
        nodes = cell([c["nodes"] for c in cpu.get(n, [])])
        operator = cell([c["operator"] for c in cpu.get(n, [])])
        oks = first_ok.get(n, [])
        ok = f"{sum(oks)}/{len(oks)}" if oks else "-"
        rss = memory.get(n, [])
        mib = lambda key: cell([r[key] for r in rss], "{:.1f}") if rss else "-"  # noqa: E731
        rows.append([n, cell(values), fmt_ratio(ratio(values, one)), nodes, operator, ok,
                     mib("lsyncd"), mib("ssh"), mib("sshd")])
    return rows


def big_rows(results):
    """Rows: what, seconds, ratio to plain rsync."""
    big = results.get("big")
    if not big:
        return []
    cpu = lambda key: cell(big.get(key, []), "{:.1f}")  # noqa: E731
    watches = ", ".join(f"{n}: {w}" for n, w in big.get("watches", {}).items())
    return [
        ["plain rsync -a (floor)", cell(big["floor"]), "1.00x", cpu("floor_cpu"), "-"],
        ["filesync fresh install", cell(big["filesync"]),
         fmt_ratio(ratio(big["filesync"], big["floor"])), cpu("filesync_cpu"),
         f"watches {watches}; rsync calls by n2+n3 while receiving {cell(big.get('echo_calls', []), '{:.0f}')}"],
    ]


def idle_rows(results):
    """Rows: what, CPU milliseconds over the idle period, per minute."""
    idle = results.get("idle")
    if not idle:
        return []
    minutes = idle["seconds"] / 60
    rows = []
    for label, key in [("node with filesync (all processes)", "node"),
                       ("  of which lsyncd (and its rsyncs)", "lsyncd"),
                       ("node without filesync (sshd, cron)", "baseline")]:
        rows.append([label, f"{idle[key] * 1000:.1f}", f"{idle[key] * 1000 / minutes:.1f}"])
    extra = idle["node"] - idle["baseline"]
    rows.append(["filesync's cost (difference)", f"{extra * 1000:.1f}", f"{extra * 1000 / minutes:.1f}"])
    return rows


def link_rows(results):
    """Rows per transport of the link between two environments: latency both
    ways, work per change, failover with B's n1 cut off, install time."""
    link = results.get("link")
    if not link:
        return []
    rows = []
    for transport in ("ssh", "daemon"):
        f = link.get(transport)
        if not f:
            continue
        work = f["work"]
        fail = f["failover"]
        rows.append([
            transport,
            cell(f["a_to_b"]), cell(f["b_to_a"]),
            cell([w["crossings"] for w in work], "{:.0f}"),
            cell([w["back"] for w in work], "{:.0f}"),
            cell([w["calls"] for w in work], "{:.0f}"),
            cell([w["bytes"] / 1e6 for w in work], "{:.2f}"),
            cell([w["cpu"] for w in work], "{:.2f}"),
            cell([r["to_n2"] for r in fail]),
            cell([r["to_all"] for r in fail]),
            cell([r["catch_up"] for r in fail]),
            f"{f['install']:.1f}",
        ])
    return rows


def link_title(results):
    """The link table's title, with the size of each environment."""
    n = results.get("link", {}).get("nodes", "N")
    return (f"Link between two environments A and B ({n} nodes each; one 64 KiB file; "
            "delay 1 s; seconds unless said)")


SECTIONS = [
    ("Convergence latency (s, one 64 KiB file on n1 until on every node, delay 1 s)",
     ["N", "mesh", "ring", "ring / mesh"], latency_rows),
    ("Work per change (whole cluster, from the write until every push ended)",
     ["N", "change", "topology", "rsync calls", "MB sent", "CPU s", "latency s"], work_rows),
    ("Deploy time (s, fresh `filesync install`) and memory per node once settled (MiB)",
     ["N", "install s", "ratio to smallest N", "CPU s, nodes", "CPU s, operator",
      "first run exit 0", "lsyncd MiB", "ssh MiB", "sshd MiB"],
     deploy_rows),
    ("Big tree, 3 nodes (s until both other nodes have every file)",
     ["what", "seconds", "ratio", "CPU s (cluster)", "notes"], big_rows),
    ("Idle cost per node (CPU ms)",
     ["what", "CPU ms", "CPU ms per minute"], idle_rows),
    (link_title,
     ["transport", "A n1 -> every B node", "B n1 -> every A node", "crossings per change",
      "crossed back", "rsync calls (A+B)", "MB sent (A+B)", "CPU s (A+B)",
      "B n1 cut off: A n1 -> B n2", "... -> every B node but n1", "B n1 caught up after link up",
      "install s (ssh: fresh; daemon: switch)"],
     link_rows),
]


def text(results):
    """All tables as plain text for the terminal."""
    out = []
    for title, header, rows_of in SECTIONS:
        rows = rows_of(results)
        if not rows:
            continue
        title = title(results) if callable(title) else title
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        out.append(f"== {title}")
        for row in [header] + rows:
            out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        out.append("")
    for section, error in results.get("errors", {}).items():
        out.append(f"!! {section} failed: {error}")
    return "\n".join(out)


def markdown(results, machine, targets):
    """The generated part of BENCHMARKS.md: machine, parameters, tables, targets."""
    out = ["## Machine and run", ""]
    out += [f"- {k}: {v}" for k, v in machine.items()]
    out += [f"- {k}: {v}" for k, v in results["parameters"].items()]
    out.append("")
    for title, header, rows_of in SECTIONS:
        rows = rows_of(results)
        if rows:
            title = title(results) if callable(title) else title
            out += [f"## {title}", "", markdown_table(header, rows), ""]
    out += ["## Targets", "", markdown_table(["target", "figure", "met?"], targets), ""]
    for section, error in results.get("errors", {}).items():
        when = "" if "(in the run of" in error else " in this run"
        out += [f"- **{section} failed{when}**: {error}", ""]
    return "\n".join(out)
