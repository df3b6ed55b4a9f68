//! Where a verb's output goes: results on stdout (human lines or JSON Lines with
//! `--json`, CONVENTIONS.md), progress and notes on stderr.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use crate::exit::Failure;

/// Human lines or JSON Lines on stdout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Out {
    pub(crate) json: bool,
}

impl Out {
    /// Write one line to stdout.
    pub(crate) fn line(&self, text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush()).context("writing to stdout")?;
        Ok(())
    }

    /// Write one JSON object as a line.
    pub(crate) fn json(&self, value: &impl Serialize) -> Result<(), Failure> {
        self.line(&serde_json::to_string(value).context("encoding JSON")?)
    }

    /// The human line, or the JSON object, depending on `--json`.
    pub(crate) fn either(&self, human: impl FnOnce() -> String, json: &impl Serialize) -> Result<(), Failure> {
        if self.json { self.json(json) } else { self.line(&human()) }
    }
}

/// Progress and notes for humans, on stderr (never on stdout).
pub(crate) fn note(text: &str) {
    eprintln!("{text}");
}

/// A plain text table: a header row, then rows, columns padded to the widest cell.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { (*c).to_owned() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut lines = vec![render(header.to_vec())];
    lines.extend(rows.iter().map(|r| render(r.iter().map(String::as_str).collect())));
    lines.join("\n")
}
