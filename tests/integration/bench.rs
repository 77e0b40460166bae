//! The benchmark harness (`bench/run`) still works: one tiny run (N = 2, one
//! repetition, a 200-file tree, 5 idle seconds, two linked environments of 2
//! nodes) on the simulated cluster, with its tables checked row by row. The
//! figures themselves are not judged here (a benchmark is not a timed test),
//! except counts that do not depend on the machine.

use crate::support::cluster::{serial, testbed_available};
use std::path::Path;
use std::process::Command;

/// The numbers of a table row: every cell that starts with a number.
fn numbers(row: &str) -> Vec<f64> {
    row.split("  ")
        .filter_map(|cell| cell.split_whitespace().next())
        .filter_map(|word| word.trim_end_matches('x').parse().ok())
        .collect()
}

/// The rows of the section whose title starts with `title` (header excluded).
fn section<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = stdout
        .lines()
        .skip_while(|line| !line.starts_with(&format!("== {title}")))
        .skip(2);
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        rows.push(line);
    }
    rows
}

#[test]
fn benchmark_smoke_run_prints_every_table_with_figures() {
    let _serial = serial();
    if !testbed_available() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("BENCHMARKS.md");
    let run = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/run"))
        .args([
            "--smoke",
            "--binary",
            env!("CARGO_BIN_EXE_filesync"),
            "--out",
        ])
        .arg(&report)
        .output()
        .expect("run bench/run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench/run --smoke failed:\n{stdout}\n{stderr}"
    );

    let latency = section(&stdout, "Convergence latency");
    assert_eq!(latency.len(), 1, "{stdout}");
    let figures = numbers(latency[0]);
    assert_eq!(figures[0], 2.0, "{}", latency[0]);
    assert!(
        figures[1..].iter().all(|s| *s > 0.0 && *s < 30.0),
        "{}",
        latency[0]
    );
    assert_eq!(figures.len(), 4, "N, mesh, ring, ratio: {}", latency[0]);

    let work = section(&stdout, "Work per change");
    assert_eq!(work.len(), 4, "1 and 100 files, mesh and ring: {stdout}");
    for row in &work {
        let figures = numbers(row);
        // N, files changed, rsync calls, MB sent, CPU s, latency s.
        assert_eq!(figures.len(), 6, "{row}");
        // On 2 nodes a mesh pushes once (no echo); a ring forwards it back.
        let want = if row.contains("mesh") { 1.0 } else { 2.0 };
        assert_eq!(
            figures[2], want,
            "rsync calls for a change on 2 nodes: {row}"
        );
        assert!(figures[3] > 0.0 && figures[4] > 0.0, "{row}");
    }

    for (title, rows) in [("Deploy time", 1), ("Big tree", 2), ("Idle cost", 4)] {
        let found = section(&stdout, title);
        assert_eq!(found.len(), rows, "{title}: {stdout}");
        assert!(
            found.iter().all(|row| !numbers(row).is_empty()),
            "{title}: {stdout}"
        );
    }

    // Two environments of 2 nodes, over ssh and over the daemon.
    let link = section(&stdout, "Link between two environments");
    assert_eq!(link.len(), 2, "ssh and daemon: {stdout}");
    for (row, transport) in link.iter().zip(["ssh", "daemon"]) {
        assert!(row.starts_with(transport), "{row}");
        let figures = numbers(row);
        // Latency both ways, crossings, crossed back, rsync calls, MB sent,
        // CPU s, failover to n2 and to every node but n1, catch-up, install s.
        assert_eq!(figures.len(), 11, "{row}");
        assert!(
            figures[..2].iter().all(|s| *s > 0.0 && *s < 30.0),
            "latency: {row}"
        );
        assert_eq!(figures[2], 1.0, "a change crosses once: {row}");
        assert_eq!(figures[3], 0.0, "and never back: {row}");
        // One push inside each environment of 2, one across.
        assert_eq!(figures[4], 3.0, "rsync calls: {row}");
        assert!(figures[5] > 0.0 && figures[6] > 0.0, "{row}");
        assert!(figures[7] > 0.0 && figures[7] < 60.0, "failover: {row}");
    }

    let markdown = std::fs::read_to_string(&report).unwrap();
    for needle in [
        "<!-- bench:begin -->",
        "## Machine and run",
        "rsync  version",
        "## Link between two environments",
        "## Targets",
        "<!-- bench:end -->",
    ] {
        assert!(
            markdown.contains(needle),
            "{needle} missing from:\n{markdown}"
        );
    }
    let raw = std::fs::read_to_string(report.with_extension("json")).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(raw["results"]["latency"]["2"]["mesh"][0].as_f64().unwrap() > 0.0);
    assert!(raw["results"]["link"]["ssh"]["a_to_b"][0].as_f64().unwrap() > 0.0);
    assert!(
        raw["results"]["link"]["daemon"]["failover"][0]["to_n2"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
