//! Per-node progress on stderr: a spinner line per node on a terminal, plain
//! `node: message` lines otherwise (logs, CI); and at the end, the report of
//! how each node ended, for stdout.

use crate::output::node_set;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    bars: Option<(MultiProgress, BTreeMap<String, ProgressBar>)>,
    /// The nodes in the order given, for the report.
    nodes: Vec<String>,
    /// What each node ended with.
    ended: Mutex<BTreeMap<String, String>>,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new(nodes: &[String]) -> Self {
        let mut progress = Progress::hidden();
        progress.nodes = nodes.to_vec();
        if !std::io::stderr().is_terminal() {
            return progress;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let width = nodes.iter().map(String::len).max().unwrap_or(0);
        let style =
            ProgressStyle::with_template(&format!("{{spinner}} {{prefix:{width}}}  {{msg}}"))
                .expect("valid progress template");
        let bars = nodes
            .iter()
            .map(|node| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(node.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                (node.clone(), bar)
            })
            .collect();
        progress.bars = Some((multi, bars));
        progress
    }

    /// A silent progress (for JSON output and tests).
    pub fn hidden() -> Self {
        Progress {
            bars: None,
            nodes: Vec::new(),
            ended: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn step(&self, node: &str, message: &str) {
        match self.bar(node) {
            Some(bar) => bar.set_message(message.to_string()),
            None => eprintln!("{node}: {message}"),
        }
    }

    pub fn finish(&self, node: &str, message: &str) {
        self.ended
            .lock()
            .expect("no panic while recording")
            .insert(node.to_string(), message.to_string());
        match self.bar(node) {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => eprintln!("{node}: {message}"),
        }
    }

    /// Clears the spinners and returns how each node ended, a line each
    /// (`node: message`), or with the same ending said once for all its nodes
    /// (`n1-n30: done`) unless `verbose`.
    pub fn report(self, verbose: bool) -> String {
        if let Some((multi, _)) = &self.bars {
            let _ = multi.clear();
        }
        let ended = self.ended.into_inner().expect("no panic while recording");
        let pairs: Vec<(&str, &str)> = self
            .nodes
            .iter()
            .filter_map(|node| Some((node.as_str(), ended.get(node)?.as_str())))
            .collect();
        let lines = if verbose {
            pairs
                .iter()
                .map(|(node, message)| format!("{node}: {message}"))
                .collect()
        } else {
            node_set::grouped(&pairs)
        };
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    fn bar(&self, node: &str) -> Option<&ProgressBar> {
        self.bars.as_ref().and_then(|(_, bars)| bars.get(node))
    }
}

/// A count toward an estimated total, for one long walk (the paths `verify`
/// compares): a bar on a terminal, a line on stderr every few seconds
/// otherwise, nothing when hidden.
pub struct Tally {
    what: &'static str,
    total: u64,
    done: u64,
    bar: Option<ProgressBar>,
    plain: bool,
    last_line: Instant,
}

/// How often a plain progress line is printed at most.
const LINE_EVERY: Duration = Duration::from_secs(5);

impl Tally {
    /// `what` names the unit and the work: "paths compared".
    pub fn new(what: &'static str, total: u64, visible: bool) -> Self {
        let terminal = visible && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{bar:30}} {{pos}} of about {{len}} {what}"
                ))
                .expect("valid progress template"),
            );
            bar
        });
        Tally {
            what,
            total,
            done: 0,
            bar,
            plain: visible && !terminal,
            last_line: Instant::now(),
        }
    }

    pub fn add(&mut self, count: u64) {
        self.done += count;
        if let Some(bar) = &self.bar {
            if self.done > self.total {
                bar.set_length(self.done);
            }
            bar.set_position(self.done);
        } else if self.plain && self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    /// `12000 of about 50000 paths compared` (without the total once past it).
    pub fn line(&self) -> String {
        if self.done <= self.total {
            format!("{} of about {} {}", self.done, self.total, self.what)
        } else {
            format!("{} {}", self.done, self.what)
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_toward_its_estimate_and_past_it() {
        let mut tally = Tally::new("paths compared", 100, false);
        tally.add(40);
        assert_eq!(tally.line(), "40 of about 100 paths compared");
        tally.add(70);
        assert_eq!(tally.line(), "110 paths compared");
    }

    #[test]
    fn the_report_says_once_how_many_nodes_ended_alike() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let progress = Progress::new(&nodes);
        for node in ["n5", "n1", "n2", "n3"] {
            progress.finish(node, "done");
        }
        progress.finish("n4", "failed: disk full");
        assert_eq!(
            progress.report(false),
            "n1-n3, n5: done\nn4: failed: disk full\n"
        );
        let progress = Progress::new(&nodes[..2]);
        progress.finish("n2", "done");
        progress.finish("n1", "done");
        assert_eq!(progress.report(true), "n1: done\nn2: done\n");
    }
}
