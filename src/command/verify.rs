//! `filesync verify`: compares the synced tree across the nodes (type, mode,
//! size, mtime; contents with `--checksum`) and reports, per node, what is
//! missing, extra or different. Reads only. Each node lists its tree sorted by
//! path and the listings are walked in step, so the operator holds one record
//! per node, plus the paths that differ. Paths that differ are listed again
//! after one sync delay: those that settled or changed meanwhile were in flight,
//! not drift.

use crate::cli::{Global, VerifyArgs};
use crate::command;
use crate::error::{Error, NodeFailure, Result};
use crate::execute::converge::{self, Flags, Intent, Purpose, Request};
use crate::execute::progress::Tally;
use crate::nodes::fleet::Fleet;
use crate::nodes::layout::InstallDir;
use crate::nodes::node::Node;
use crate::nodes::probe::Observed;
use crate::nodes::remote::{self, Listing};
use crate::nodes::untrusted;
use crate::source::inventory::{Environment, Node as InventoryNode};
use crate::verify::merge;
use crate::verify::tree::{self, PathDrift, Record};
use futures::stream::{self, BoxStream, StreamExt};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Beyond this many differing paths, verify reports them without a second look.
const RECHECK_LIMIT: usize = 100_000;

/// How many drifting paths the human report prints.
const SHOWN: usize = 50;

#[derive(Debug, Serialize)]
struct NodeReport {
    node: String,
    entries: u64,
    missing: usize,
    extra: usize,
    different: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    env: String,
    synced_dir: String,
    checksum: bool,
    identical: bool,
    nodes: Vec<NodeReport>,
    drift: Vec<PathDrift>,
    /// Paths that changed or settled while verify ran.
    in_flight: Vec<String>,
    /// False when there were too many differences to look at them twice.
    rechecked: bool,
    unreachable: Vec<NodeFailure>,
    /// With --repair: how many paths drifted before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    repaired_from: Option<usize>,
}

pub async fn run(global: &Global, args: &VerifyArgs) -> Result<()> {
    let source = command::source(global)?;
    let env = &command::environment(&source, args.target.env.as_deref(), false).await?;
    let nodes = env.select(args.target.nodes.as_deref())?;
    let mut report = inspect(global, args, env, &nodes).await?;
    if args.repair && !report.identical {
        if !command::is_json(global) {
            emit(global, &report)?;
        }
        let before = report.drift.len();
        report = repair(global, args, env, &nodes).await?;
        report.repaired_from = Some(before);
    }
    emit(global, &report)?;
    conclude(report)
}

fn emit(global: &Global, report: &Report) -> Result<()> {
    if command::is_json(global) {
        command::print_json(report)
    } else {
        command::emit(&render(report))
    }
}

/// Exit status: drift first, then nodes that could not be compared.
fn conclude(report: Report) -> Result<()> {
    if !report.identical {
        let nodes = report
            .nodes
            .iter()
            .filter(|n| n.missing + n.extra + n.different > 0);
        return Err(Error::Drift {
            paths: report.drift.len(),
            nodes: nodes.count(),
        });
    }
    if report.unreachable.is_empty() {
        Ok(())
    } else {
        Err(Error::Partial {
            failures: report.unreachable,
        })
    }
}

/// How long a repair waits for the nodes' startup syncs to bring them together.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(600);

/// Restarts lsyncd on every node (through plan and apply, under the lock),
/// then compares again until the trees agree or `REPAIR_TIMEOUT` passes.
async fn repair(
    global: &Global,
    args: &VerifyArgs,
    env: &Environment,
    nodes: &[InventoryNode],
) -> Result<Report> {
    let request = Request {
        env,
        nodes,
        flags: Flags::default(),
        ask: false,
        intent: Intent::Apply,
        purpose: Purpose::Repair,
        password: None,
    };
    converge::converge(global, request).await?;
    let install = InstallDir::under_webroot(&env.webroot);
    let mut fleet = Fleet::connect_for(global, nodes).await?;
    let deadline = Instant::now() + REPAIR_TIMEOUT;
    let result = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match compare_fleet(args, env, &install, &mut fleet, false).await {
            Ok(report) if !report.identical && Instant::now() < deadline => continue,
            done => break done,
        }
    };
    fleet.close().await;
    result
}

/// Connects, compares, disconnects.
async fn inspect(
    global: &Global,
    args: &VerifyArgs,
    env: &Environment,
    nodes: &[InventoryNode],
) -> Result<Report> {
    let install = InstallDir::under_webroot(&env.webroot);
    let mut fleet = Fleet::connect_for(global, nodes).await?;
    let shown = !command::is_json(global);
    let result = compare_fleet(args, env, &install, &mut fleet, shown).await;
    fleet.close().await;
    result
}

async fn compare_fleet(
    args: &VerifyArgs,
    env: &Environment,
    install: &InstallDir,
    fleet: &mut Fleet,
    shown: bool,
) -> Result<Report> {
    let settings = converge::installed_settings(fleet, install)
        .await
        .ok_or_else(|| Error::NotInstalled {
            env: env.name.clone(),
        })?;
    let synced_dir = settings.path.absolute(&env.webroot);
    let observed = fleet.probe(install, &env.webroot, Some(&synced_dir)).await;
    if fleet.nodes.len() < 2 {
        return Err(Error::TooFewNodes {
            env: env.name.clone(),
            reachable: fleet.nodes.len(),
        });
    }
    let scripts = listing_scripts(install, &synced_dir, &observed)?;
    let recheck_after = Duration::from_secs(u64::from(settings.delay.secs()) + 2);
    // about how many paths the walk meets: the largest tree, as probed
    let estimate = observed
        .values()
        .filter_map(|seen| seen.synced_dir.as_ref())
        .map(|dir| dir.dirs + dir.files)
        .max()
        .unwrap_or(0);
    let mut tally = Tally::new("paths compared", estimate, shown);
    let nodes = &fleet.nodes;
    let mut comparison = compare(nodes, &scripts, Listing::Meta, recheck_after, &mut tally).await?;
    if args.checksum {
        let mut tally = Tally::new("paths checksummed and compared", estimate, shown);
        let contents = compare(nodes, &scripts, Listing::Digest, recheck_after, &mut tally).await?;
        comparison.absorb(contents);
    }
    Ok(comparison.report(env.name.clone(), synced_dir, args.checksum, fleet))
}

/// Each node's listing script; each node leaves out its own mount points.
fn listing_scripts(
    install: &InstallDir,
    synced_dir: &str,
    observed: &BTreeMap<String, Observed>,
) -> Result<BTreeMap<String, BTreeMap<Listing, String>>> {
    let mut scripts = BTreeMap::new();
    for (name, seen) in observed {
        let mut excluded: Vec<String> = install.relative_to(synced_dir).into_iter().collect();
        excluded.push(format!("/{}", crate::nodes::layout::TRASH_STAGING));
        if let Some(dir) = &seen.synced_dir {
            excluded.extend(dir.mounts.iter().cloned());
        }
        let mut by_kind = BTreeMap::new();
        for kind in [Listing::Meta, Listing::Digest] {
            by_kind.insert(kind, remote::list_tree(synced_dir, &excluded, kind)?);
        }
        scripts.insert(name.clone(), by_kind);
    }
    Ok(scripts)
}

/// The outcome of comparing one kind of listing (or several, absorbed).
#[derive(Default)]
struct Comparison {
    names: Vec<String>,
    entries: Vec<u64>,
    drift: BTreeMap<String, PathDrift>,
    in_flight: Vec<String>,
    rechecked: bool,
}

/// A path that differed in the first look, with every node's record.
struct Candidate {
    path: Vec<u8>,
    copies: Vec<Option<Record>>,
    drift: PathDrift,
}

async fn compare<N: Node>(
    nodes: &BTreeMap<String, N>,
    scripts: &BTreeMap<String, BTreeMap<Listing, String>>,
    kind: Listing,
    recheck_after: Duration,
    tally: &mut Tally,
) -> Result<Comparison> {
    let names: Vec<String> = scripts.keys().cloned().collect();
    let mut candidates = Vec::new();
    let entries = walk(nodes, scripts, kind, |path, copies| {
        tally.add(1);
        if let Some(drift) = tree::judge(path, copies) {
            candidates.push(Candidate {
                path: path.to_vec(),
                copies: copies.iter().map(|(_, r)| r.cloned()).collect(),
                drift,
            });
        }
    })
    .await?;
    let mut comparison = Comparison {
        names,
        entries: if kind == Listing::Meta {
            entries
        } else {
            Vec::new()
        },
        rechecked: candidates.len() <= RECHECK_LIMIT,
        ..Comparison::default()
    };
    if candidates.is_empty() {
        return Ok(comparison);
    }
    if !comparison.rechecked {
        comparison.drift = candidates
            .into_iter()
            .map(|c| (c.drift.path.clone(), c.drift))
            .collect();
        return Ok(comparison);
    }
    tokio::time::sleep(recheck_after).await;
    let mut second: Vec<Option<Vec<Option<Record>>>> = vec![None; candidates.len()];
    let mut next = 0;
    walk(nodes, scripts, kind, |path, copies| {
        while next < candidates.len() && candidates[next].path.as_slice() < path {
            next += 1;
        }
        if next < candidates.len() && candidates[next].path == path {
            second[next] = Some(copies.iter().map(|(_, r)| r.cloned()).collect());
        }
    })
    .await?;
    for (candidate, again) in candidates.into_iter().zip(second) {
        let steady = again
            .as_ref()
            .is_some_and(|again| *again == candidate.copies);
        if steady {
            comparison
                .drift
                .insert(candidate.drift.path.clone(), candidate.drift);
        } else {
            comparison.in_flight.push(candidate.drift.path);
        }
    }
    Ok(comparison)
}

impl Comparison {
    /// Adds what another kind of listing found for the same nodes.
    fn absorb(&mut self, other: Comparison) {
        for (path, drift) in other.drift {
            match self.drift.get_mut(&path) {
                Some(known) => known.different.extend(drift.different),
                None => {
                    self.drift.insert(path, drift);
                }
            }
        }
        self.in_flight.extend(other.in_flight);
        self.in_flight.sort();
        self.in_flight.dedup();
        self.rechecked &= other.rechecked;
    }

    fn report(self, env: String, synced_dir: String, checksum: bool, fleet: &Fleet) -> Report {
        let count = |name: &str, on: fn(&PathDrift) -> Vec<String>| {
            self.drift
                .values()
                .filter(|d| on(d).iter().any(|n| n == name))
                .count()
        };
        let nodes = self
            .names
            .iter()
            .zip(&self.entries)
            .map(|(name, entries)| NodeReport {
                node: name.clone(),
                entries: *entries,
                missing: count(name, |d| d.missing_on.clone()),
                extra: count(name, |d| d.extra_on.clone()),
                different: count(name, |d| {
                    d.different.iter().flat_map(tree::minority).collect()
                }),
            })
            .collect();
        Report {
            env,
            synced_dir,
            checksum,
            identical: self.drift.is_empty(),
            nodes,
            drift: self.drift.into_values().collect(),
            in_flight: self.in_flight,
            rechecked: self.rechecked,
            unreachable: fleet.unreachable.clone(),
            repaired_from: None,
        }
    }
}

/// Lists the tree on every node at once and walks the listings in step.
async fn walk<N: Node, F>(
    nodes: &BTreeMap<String, N>,
    scripts: &BTreeMap<String, BTreeMap<Listing, String>>,
    kind: Listing,
    visit: F,
) -> Result<Vec<u64>>
where
    F: FnMut(&[u8], &[(&str, Option<&Record>)]),
{
    let mut running = Vec::new();
    let mut listings = Vec::new();
    let mut names = Vec::new();
    for (name, by_kind) in scripts {
        let node = &nodes[name];
        let streaming = node.stream(&by_kind[&kind]).await?;
        listings.push(records(streaming.stdout, kind));
        running.push((node, streaming.exited));
        names.push(name.as_str());
    }
    let merged = merge::merge(&names, listings, visit).await;
    let mut failures = Vec::new();
    for (node, exited) in running {
        if let Err(err) = exited.await {
            failures.push(NodeFailure {
                node: node.name().to_string(),
                reason: format!("listing the synced directory failed: {err:#}"),
            });
        }
    }
    if !failures.is_empty() {
        return Err(Error::Partial { failures });
    }
    Ok(merged.map_err(anyhow::Error::from)?)
}

/// The records of a listing as they arrive, one per NUL-terminated chunk.
fn records(
    stdout: Box<dyn AsyncRead + Send + Unpin>,
    kind: Listing,
) -> BoxStream<'static, anyhow::Result<Record>> {
    let parse = match kind {
        Listing::Meta => Record::parse_meta,
        Listing::Digest => Record::parse_digest,
    };
    stream::unfold(BufReader::new(stdout), move |mut reader| async move {
        let mut raw = Vec::new();
        match reader.read_until(0, &mut raw).await {
            Ok(0) => None,
            Ok(_) => {
                if raw.last() == Some(&0) {
                    raw.pop();
                }
                Some((parse(&raw).map_err(anyhow::Error::from), reader))
            }
            Err(err) => Some((Err(anyhow::Error::from(err)), reader)),
        }
    })
    .boxed()
}

/// The human report.
fn render(report: &Report) -> String {
    let mut out = format!(
        "Compared {} on {} nodes ({}).\n",
        report.synced_dir,
        report.nodes.len(),
        if report.checksum {
            "type, mode, size, mtime and content"
        } else {
            "type, mode, size and mtime; --checksum compares contents too"
        }
    );
    for node in &report.nodes {
        let mut problems = Vec::new();
        for (count, what) in [
            (node.missing, "missing"),
            (node.extra, "extra"),
            (node.different, "different"),
        ] {
            if count > 0 {
                problems.push(format!("{count} {what}"));
            }
        }
        let verdict = if problems.is_empty() {
            "in step".to_string()
        } else {
            problems.join(", ")
        };
        out.push_str(&format!(
            "  {}: {} entries, {verdict}\n",
            node.node, node.entries
        ));
    }
    for failure in &report.unreachable {
        out.push_str(&format!("  {failure} (not compared)\n"));
    }
    if !report.drift.is_empty() {
        out.push_str("Drift:\n");
        for drift in report.drift.iter().take(SHOWN) {
            out.push_str(&describe(drift));
        }
        if report.drift.len() > SHOWN {
            out.push_str(&format!(
                "  ... and {} more (--output json lists them all)\n",
                report.drift.len() - SHOWN
            ));
        }
        if !report.rechecked {
            out.push_str("  (too many differences to look twice; some may be in flight)\n");
        }
    }
    if !report.in_flight.is_empty() {
        out.push_str(&format!(
            "In flight (changed while verify ran; not drift): {}\n",
            report.in_flight.len()
        ));
        for path in report.in_flight.iter().take(SHOWN) {
            out.push_str(&format!("  {}\n", untrusted::printable(path)));
        }
    }
    if let Some(before) = report.repaired_from {
        out.push_str(&format!(
            "After the repair ({before} path(s) drifted before it):\n"
        ));
    }
    if report.identical {
        out.push_str("Identical on every compared node.\n");
    }
    out
}

/// A compared value as people read it: dates for mtimes, short digests.
fn readable(field: &str, value: &str) -> String {
    match field {
        "mtime" => value
            .parse::<u64>()
            .map(|secs| {
                let at = std::time::UNIX_EPOCH + Duration::from_secs(secs);
                humantime::format_rfc3339_seconds(at).to_string()
            })
            .unwrap_or_else(|_| value.to_string()),
        "content" => value.chars().take(16).collect(),
        _ => value.to_string(),
    }
}

/// One drifting path, a line per way it differs.
fn describe(drift: &PathDrift) -> String {
    let mut out = String::new();
    let path = untrusted::printable(&drift.path);
    if !drift.missing_on.is_empty() {
        out.push_str(&format!(
            "  missing on {}: {path}\n",
            drift.missing_on.join(", ")
        ));
    }
    if !drift.extra_on.is_empty() {
        out.push_str(&format!(
            "  extra on {}: {path}\n",
            drift.extra_on.join(", ")
        ));
    }
    for disagreement in &drift.different {
        let values: Vec<String> = disagreement
            .values
            .iter()
            .map(|(value, nodes)| {
                let value = readable(disagreement.field, value);
                format!("{value} on {}", nodes.join(", "))
            })
            .collect();
        out.push_str(&format!(
            "  different on {}: {path} ({}: {})\n",
            tree::minority(disagreement).join(", "),
            disagreement.field,
            values.join("; ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Record {
        Record::parse_meta(line.as_bytes()).unwrap()
    }

    #[test]
    fn the_report_names_each_node_s_missing_extra_and_different_paths() {
        let a = record("81a4 5 100 ./a");
        let b = record("81a4 7 100 ./a");
        let drift = vec![
            tree::judge(
                b"a",
                &[("n1", Some(&a)), ("n2", Some(&b)), ("n3", Some(&a))],
            )
            .unwrap(),
            tree::judge(b"z", &[("n1", Some(&a)), ("n2", Some(&a)), ("n3", None)]).unwrap(),
        ];
        let report = Report {
            env: "prod".into(),
            synced_dir: "/w".into(),
            checksum: false,
            identical: false,
            nodes: vec![NodeReport {
                node: "n2".into(),
                entries: 2,
                missing: 0,
                extra: 0,
                different: 1,
            }],
            drift,
            in_flight: vec!["b".into()],
            rechecked: true,
            unreachable: vec![],
            repaired_from: None,
        };
        let text = render(&report);
        assert!(text.contains("  n2: 2 entries, 1 different\n"), "{text}");
        assert!(
            text.contains("  different on n2: a (size: 5 on n1, n3; 7 on n2)\n"),
            "{text}"
        );
        assert!(text.contains("  missing on n3: z\n"), "{text}");
        assert_eq!(untrusted::printable("a\nb"), "a\\nb");
        assert_eq!(readable("mtime", "0"), "1970-01-01T00:00:00Z");
        assert!(text.contains("In flight (changed while verify ran; not drift): 1\n  b\n"));
        assert!(!text.contains("Identical"));
    }

    /// The same listing script on every node, answered by `listings`.
    async fn compare_listings(
        listings: &[(&str, &str)],
        failing: Option<&str>,
    ) -> Result<Comparison> {
        let mut nodes = BTreeMap::new();
        let mut scripts = BTreeMap::new();
        for (name, listing) in listings {
            let mut node = crate::nodes::node::fake::FakeNode::new(name);
            node = match failing {
                Some(failing) if failing == *name => node.fail("list", "find: permission denied"),
                _ => node.answer("list", listing),
            };
            nodes.insert(name.to_string(), node);
            let by_kind = BTreeMap::from([(Listing::Meta, "list".to_string())]);
            scripts.insert(name.to_string(), by_kind);
        }
        let mut tally = Tally::new("paths compared", 0, false);
        compare(&nodes, &scripts, Listing::Meta, Duration::ZERO, &mut tally).await
    }

    #[tokio::test]
    async fn the_nodes_listings_are_streamed_and_walked_in_step() {
        let both = "81a4 5 100 ./a\081a4 5 100 ./b\0";
        let listings = [("n1", both), ("n2", both), ("n3", "81a4 5 100 ./a\0")];
        let comparison = compare_listings(&listings, None).await.unwrap();
        assert_eq!(comparison.entries, [2, 2, 1]);
        let drift: Vec<(&String, &Vec<String>)> = comparison
            .drift
            .values()
            .map(|d| (&d.path, &d.missing_on))
            .collect();
        assert_eq!(drift, [(&"b".to_string(), &vec!["n3".to_string()])]);

        let failed = compare_listings(&listings, Some("n2")).await;
        let Err(Error::Partial { failures }) = failed else {
            panic!("a failed listing fails verify");
        };
        assert_eq!(failures[0].node, "n2");
        assert!(
            failures[0].reason.contains("permission denied"),
            "{failures:?}"
        );
    }
}
