//! The `filesync` binary: parse the command line, run, map the outcome to an
//! exit code, and print errors with a hint (as JSON with `--output json`).

use clap::Parser;
use filesync::cli::{Cli, Command, OutputFormat};
use filesync::error::{Error, ExitCode};
use std::io::Write;

fn main() {
    let cli = Cli::parse();
    let json = cli.global.output == OutputFormat::Json;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    // watch stops cleanly on its own signals; everything else stops at once.
    let stops_itself = matches!(cli.command, Command::Watch(_));
    let result = runtime.block_on(async {
        if stops_itself {
            return filesync::run(cli).await;
        }
        tokio::select! {
            result = filesync::run(cli) => result,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        }
    });
    let code = match result {
        Ok(()) => ExitCode::Success,
        Err(err) => {
            report(&err, json);
            err.exit_code()
        }
    };
    std::process::exit(code as i32);
}

fn report(err: &Error, json: bool) {
    if json {
        let value = serde_json::json!({
            "error": format!("{err:#}"),
            "hint": err.hint(),
            "exit_code": err.exit_code() as i32,
        });
        // stdout holds one JSON document: the result if one was printed, else
        // this error. A closed pipe (`filesync ... | head`) is not a panic.
        let _ = if filesync::command::printed_json() {
            writeln!(std::io::stderr(), "{value:#}")
        } else {
            writeln!(std::io::stdout(), "{value:#}")
        };
    } else {
        eprintln!("error: {err:#}");
        if let Some(hint) = err.hint() {
            eprintln!("Hint: {hint}");
        }
    }
}
