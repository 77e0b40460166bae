//! What commands print on stdout: a result as text, or one JSON document
//! (after which errors go to stderr only). A closed pipe is not an error.
//! Beside it, how the text says many nodes in few words (`node_set`) and lines
//! columns up (`table`).

pub mod node_set;
pub mod table;

use crate::cli::{Global, OutputFormat};
use crate::error::Result;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a command has printed its JSON result: stdout carries one JSON
/// document, so an error that follows (drift, partial failure) goes to stderr.
static PRINTED_JSON: AtomicBool = AtomicBool::new(false);

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?;
    text.push('\n');
    PRINTED_JSON.store(true, Ordering::Relaxed);
    emit(&text)
}

/// Whether stdout already holds the command's JSON result.
pub fn printed_json() -> bool {
    PRINTED_JSON.load(Ordering::Relaxed)
}

/// Writes a result to stdout. A closed pipe (`filesync plan | head`) is not an error.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::from(err).into())
        }
        _ => Ok(()),
    }
}

pub fn is_json(global: &Global) -> bool {
    global.output == OutputFormat::Json
}
