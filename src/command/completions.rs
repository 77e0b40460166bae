//! `filesync completions SHELL` and `filesync man`: generated from the clap
//! definitions, so they never fall behind the real flags.

use crate::cli::Cli;
use crate::error::Result;
use clap::CommandFactory;

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "filesync", &mut std::io::stdout());
    Ok(())
}

pub fn man() -> Result<()> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(anyhow::Error::from)?;
    Ok(())
}
