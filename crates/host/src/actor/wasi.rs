//! WASI preview 1 for actor modules that import `wasi_snapshot_preview1`, as wasmCloud
//! 0.82 links it (HOST.md §10), on the maintained `wasmtime-wasi` implementation.
//!
//! Only modules that need it pay for it: the runtime keeps a second linker (the `wasmbus`
//! imports plus WASI) and uses it for modules that import `wasi_snapshot_preview1` or are
//! command-style (`_start` without `__guest_call`). Plain wasmbus modules keep the
//! WASI-free linker and build no WASI context per call.
//!
//! Each call of a WASI module gets a fresh context, as locked down as 0.82's:
//! `argv[0] = "main.wasm"`, no environment, no preopened directories, no network (the
//! `wasmtime-wasi` defaults deny every socket address and name lookup), nothing inherited
//! from the host process; wall and monotonic clocks and random numbers are the host's.
//! What differs from 0.82, on purpose: 0.82 discards stdout and stderr; Lattice captures
//! them and writes them to the host log (`lattice::actor` target, with the actor's key),
//! at most [`RuntimeConfig::max_log_bytes`](super::RuntimeConfig) per stream per call
//! (writes past the cap fail inside the guest and are reported as truncated).
//!
//! Command-style modules (`_start` only) run as 0.82 runs them: `argv = ["main.wasm",
//! operation]`, the request on stdin, the response is what `_start` wrote to stdout, at
//! most [`RuntimeConfig::max_body_bytes`](super::RuntimeConfig) (more is an error, never
//! a silently cut response). `proc_exit(0)` counts as success, any other exit code fails
//! the call.

use bytes::Bytes;
use lattice_proto::ActorKey;
use wasmtime::{Linker, Module};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::abi::CallState;

/// The WASI preview 1 import module.
pub const WASI_PREVIEW1: &str = "wasi_snapshot_preview1";
/// `argv[0]` of every WASI actor, as 0.82 sets it.
pub const ARGV0: &str = "main.wasm";

/// Whether `module` imports anything from `wasi_snapshot_preview1`.
pub(crate) fn imports_wasi(module: &Module) -> bool {
    module.imports().any(|i| i.module() == WASI_PREVIEW1)
}

/// Add the WASI preview 1 functions to `linker` (next to the `wasmbus` ones).
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, CallState::wasi_ctx)
}

/// A locked-down context with nothing configured: no arguments, stdin closed, output
/// discarded. Only used if a WASI function runs in a store that was not given a context
/// (which the runtime never does), so that such a call still cannot reach anything.
pub(crate) fn empty_context() -> WasiP1Ctx {
    WasiCtxBuilder::new().build_p1()
}

/// The output pipes of one call's WASI context, read after the call.
pub(crate) struct WasiIo {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    stdout_cap: usize,
    log_cap: usize,
}

/// How a call uses stdin/stdout.
pub(crate) enum Style<'a> {
    /// A wasmbus module (TinyGo style): stdout and stderr go to the log.
    Wasmbus,
    /// A command-style module: the operation as `argv[1]`, the request on stdin, the
    /// response on stdout (at most `max_body` bytes).
    Command {
        /// The invocation's operation.
        operation: &'a str,
        /// The request body.
        request: Vec<u8>,
        /// The largest response accepted.
        max_body: usize,
    },
}

/// Build the WASI context of one call and the pipes to read afterwards.
pub(crate) fn context(style: Style<'_>, log_cap: usize) -> (WasiP1Ctx, WasiIo) {
    let mut builder = WasiCtxBuilder::new();
    builder.arg(ARGV0);
    let stderr = MemoryOutputPipe::new(log_cap);
    let (stdout, stdout_cap) = match style {
        Style::Wasmbus => (MemoryOutputPipe::new(log_cap), log_cap),
        Style::Command { operation, request, max_body } => {
            builder.arg(operation);
            builder.stdin(MemoryInputPipe::new(Bytes::from(request)));
            // One byte over the cap, so that "too large" can be told from "exactly full".
            (MemoryOutputPipe::new(max_body.saturating_add(1)), max_body)
        }
    };
    builder.stdout(stdout.clone());
    builder.stderr(stderr.clone());
    (builder.build_p1(), WasiIo { stdout, stderr, stdout_cap, log_cap })
}

impl WasiIo {
    /// Log what the guest wrote to stderr (and, for wasmbus modules, stdout).
    pub(crate) fn log(&self, actor: &ActorKey, include_stdout: bool) {
        if include_stdout {
            log_stream(actor, "stdout", &self.stdout.contents(), self.log_cap);
        }
        log_stream(actor, "stderr", &self.stderr.contents(), self.log_cap);
    }

    /// A command-style module's response: its stdout, or `Err(len)` when it wrote more
    /// than the cap.
    pub(crate) fn response(&self) -> Result<Vec<u8>, usize> {
        let out = self.stdout.contents();
        if out.len() > self.stdout_cap { Err(out.len()) } else { Ok(out.to_vec()) }
    }

    /// The response cap.
    pub(crate) fn stdout_cap(&self) -> usize {
        self.stdout_cap
    }
}

/// One log event per non-empty stream, lossy UTF-8, marked when the cap was reached.
fn log_stream(actor: &ActorKey, stream: &'static str, bytes: &[u8], cap: usize) {
    if bytes.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches('\n');
    if bytes.len() >= cap {
        tracing::info!(target: "lattice::actor", actor = %actor, stream, truncated_at = cap, "{text}");
    } else {
        tracing::info!(target: "lattice::actor", actor = %actor, stream, "{text}");
    }
}

/// The exit code of a `proc_exit` that ended `err`, if that is what it was.
pub(crate) fn exit_code(err: &wasmtime::Error) -> Option<i32> {
    err.downcast_ref::<wasmtime_wasi::I32Exit>().map(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_stdout_is_capped_not_cut() {
        let (_ctx, io) = context(Style::Command { operation: "Op", request: b"x".to_vec(), max_body: 4 }, 16);
        assert_eq!(io.stdout_cap(), 4);
        // What a guest's fd_write would do: the pipe takes at most cap + 1 bytes.
        use wasmtime_wasi::p2::{OutputStream, StreamError};
        let mut pipe = io.stdout.clone();
        pipe.write(Bytes::from_static(b"1234")).unwrap();
        assert_eq!(io.response(), Ok(b"1234".to_vec()));
        pipe.write(Bytes::from_static(b"5")).unwrap();
        assert_eq!(io.response(), Err(5));
        assert!(matches!(pipe.check_write(), Err(StreamError::Closed)));
    }
}
