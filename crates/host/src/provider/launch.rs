//! Launching one provider process, as 0.82 does (HOST.md §7, PROTOCOL.md §2.6):
//! `Command::new(path)` with a cleared environment (plus the OpenTelemetry variables and
//! `RUST_LOG` when the host has them), no arguments, HostData as one base64 line followed by
//! `\r\n` on stdin, then stdin closed. The child is killed if the host drops it.
//!
//! The provider runs in its own process group, so a terminal's Ctrl-C stops the host,
//! which stops its providers, rather than everything at once.
//!
//! Unlike 0.82, the provider's stdout and stderr are not inherited: each line is re-emitted
//! whole on the host's stderr, so two providers' output never interleaves mid-line, and
//! never wrapped in a host log line (one timestamp, the provider's). The provider already
//! filtered its lines by the level in its HostData. Human format: `[name (link)] line`.
//! Structured logging: a line that is a JSON object is printed as that object with a
//! `provider` field added; any other line (a panic message, a provider that ignores
//! `structured_logging`) becomes a host JSON log event (target
//! `lattice_host::provider::output`) carrying it as its message.

use std::path::Path;
use std::process::Stdio;

use lattice_proto::HostData;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::task::TaskTracker;

/// Environment variables passed through to providers when the host has them.
const PASSED_ENV: &[&str] = &["RUST_LOG"];
/// OpenTelemetry variables 0.82 always sets (empty when the host has none).
const OTEL_ENV: &[&str] = &["OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"];
/// Further OpenTelemetry variables passed through when the host has them (protocol, batch
/// processor tuning).
const OTEL_PASSED_ENV: &[&str] = &[
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
];

/// Spawn `binary` and hand it `host_data`; `label` prefixes its output lines.
pub(crate) async fn spawn(
    binary: &Path,
    host_data: &HostData,
    label: &str,
    tracker: &TaskTracker,
    json: bool,
) -> std::io::Result<Child> {
    let mut command = Command::new(binary);
    command.env_clear();
    for name in OTEL_ENV {
        command.env(name, std::env::var_os(name).unwrap_or_default());
    }
    for name in PASSED_ENV.iter().chain(OTEL_PASSED_ENV) {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    #[cfg(windows)]
    if let Some(root) = std::env::var_os("SYSTEMROOT") {
        command.env("SYSTEMROOT", root);
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    // Its own process group: a Ctrl-C in the host's terminal reaches the host only, which
    // then stops its providers in order (shutdown request, then a kill after the grace).
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn()?;

    if let Some(mut stdin) = child.stdin.take() {
        let mut line = host_data.to_base64().into_bytes();
        line.extend_from_slice(b"\r\n");
        // A provider that exits before reading stdin is noticed by the supervisor; a broken
        // pipe here is not an error of its own.
        if let Err(e) = stdin.write_all(&line).await {
            tracing::debug!(provider = label, error = %lattice_proto::chain(&e), "could not write HostData to the provider");
        }
        drop(stdin.shutdown().await);
    }
    if let Some(out) = child.stdout.take() {
        forward(tracker, out, label.to_owned(), "stdout", json);
    }
    if let Some(err) = child.stderr.take() {
        forward(tracker, err, label.to_owned(), "stderr", json);
    }
    Ok(child)
}

/// The longest provider output line re-emitted; longer ones are cut there (the log stays
/// readable; the line itself is still read whole).
const MAX_LINE: usize = 64 * 1024;

/// Re-emit one provider output line on the host's stderr (see the module docs).
fn emit(label: &str, stream: &'static str, line: &str, json: bool) {
    use std::io::Write;
    if json {
        if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str::<serde_json::Value>(line) {
            object.insert("provider".to_owned(), serde_json::Value::String(label.to_owned()));
            let text = serde_json::Value::Object(object).to_string();
            drop(writeln!(std::io::stderr().lock(), "{text}"));
        } else if !line.trim().is_empty() {
            tracing::info!(target: "lattice_host::provider::output", provider = label, stream, "{line}");
        }
    } else {
        drop(writeln!(std::io::stderr().lock(), "[{label}] {line}"));
    }
}

/// Forward every line of `pipe` to the host's stderr until it closes (the process exited).
fn forward(
    tracker: &TaskTracker,
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    label: String,
    stream: &'static str,
    json: bool,
) {
    tracker.spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(mut line)) => {
                    if line.len() > MAX_LINE {
                        let mut cut = MAX_LINE;
                        while !line.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        line.truncate(cut);
                    }
                    emit(&label, stream, &line, json);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(provider = %label, error = %lattice_proto::chain(&e), "provider output ended");
                    break;
                }
            }
        }
    });
}
