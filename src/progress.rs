//! Per-node progress on stderr: a spinner line per node on a terminal, plain
//! `node: message` lines otherwise (logs, CI). Results never go here.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    bars: Option<(MultiProgress, BTreeMap<String, ProgressBar>)>,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new(nodes: &[String]) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress { bars: None };
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
        Progress {
            bars: Some((multi, bars)),
        }
    }

    /// A silent progress (for JSON output and tests).
    pub fn hidden() -> Self {
        Progress { bars: None }
    }

    pub fn step(&self, node: &str, message: &str) {
        match self.bar(node) {
            Some(bar) => bar.set_message(message.to_string()),
            None => eprintln!("{node}: {message}"),
        }
    }

    pub fn finish(&self, node: &str, message: &str) {
        match self.bar(node) {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => eprintln!("{node}: {message}"),
        }
    }

    fn bar(&self, node: &str) -> Option<&ProgressBar> {
        self.bars.as_ref().and_then(|(_, bars)| bars.get(node))
    }
}
