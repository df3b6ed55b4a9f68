//! Exit codes and the one-line `error:` report (CONVENTIONS.md "Command line").

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

/// Print the failure (one line) and pick the exit code.
pub(crate) fn report(result: Outcome) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // `{:#}` joins anyhow's context chain on one line.
            let line = format!("{:#}", f.error).replace('\n', " ");
            eprintln!("error: {line}");
            ExitCode::from(f.code)
        }
    }
}
