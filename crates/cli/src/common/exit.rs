//! Exit codes and the one-line `error:` report (CONVENTIONS.md "Command line").
//!
//! [`report`] is the only place the binary prints `error: …`: every verb returns a
//! [`Failure`], and the error with all its causes is printed once, joined by `": "`, by
//! the workspace's one chain printer ([`lattice_proto::chain`]). Each library error says
//! only its own part and carries its cause as a source, so no cause repeats.

use std::process::ExitCode;

/// A verb's failure, carrying the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// Exit 1: the operation ran and the answer is no (invalid claims, a refused call).
    pub(crate) fn no(error: impl Into<anyhow::Error>) -> Self {
        Self { code: 1, error: error.into() }
    }

    /// Exit 2: bad input or usage (malformed bytes, a bad flag value).
    pub(crate) fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Self { code: 2, error: error.into() }
    }
}

/// Anything else (I/O, NATS) exits 3.
impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self { code: 3, error }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self { code: 3, error: error.into() }
    }
}

/// The result of a verb.
pub(crate) type Outcome = Result<(), Failure>;

/// The `error:` line's text: the error and each of its causes once, on one line.
pub(crate) fn line(error: &anyhow::Error) -> String {
    let error: &(dyn std::error::Error + 'static) = error.as_ref();
    lattice_proto::chain(error).replace('\n', " ")
}

/// Print the failure (one line) and pick the exit code.
pub(crate) fn report(result: Outcome) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", line(&f.error));
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        let err = Err::<(), _>(std::io::Error::other("module hash mismatch"))
            .context("actor refused")
            .context("cannot start actor from 'x.wasm'")
            .unwrap_err();
        assert_eq!(line(&err), "cannot start actor from 'x.wasm': actor refused: module hash mismatch");
        assert_eq!(line(&anyhow::anyhow!("two\nlines")), "two lines");
    }
}
