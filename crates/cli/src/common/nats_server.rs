//! Starting a `nats-server` for `lattice up --demo` and `lattice bench` (a product
//! function, with errors: the test-support crate's panicking helper is for tests only).
//!
//! The server listens on `127.0.0.1`, on the given port or (port 0) on one it picks and
//! writes to a ports file we read back; it keeps its JetStream store in the given
//! directory. It is ready once it greets a TCP client with its `INFO` line. Dropping the
//! [`NatsServer`] kills the process.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// Environment variable naming an explicit `nats-server` binary (before `PATH`).
const NATS_SERVER_ENV: &str = "LATTICE_NATS_SERVER";

/// How long the server may take to listen.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// The file the server's output goes to, in the store directory.
const OUTPUT_FILE: &str = "nats-server.out";

/// A running `nats-server` on `127.0.0.1`, killed when dropped.
#[derive(Debug)]
pub(crate) struct NatsServer {
    child: Child,
    port: u16,
    /// A scratch store removed on drop, for [`NatsServer::start_ephemeral`].
    _scratch: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// Start a server with JetStream (store in `store_dir`, created if missing) on `port`
    /// (0: one it picks), and wait until it listens.
    pub(crate) fn start(port: u16, store_dir: &Path) -> anyhow::Result<NatsServer> {
        let binary = binary()?;
        std::fs::create_dir_all(store_dir).with_context(|| format!("creating {}", store_dir.display()))?;
        let output_path = store_dir.join(OUTPUT_FILE);
        let output =
            std::fs::File::create(&output_path).with_context(|| format!("creating {}", output_path.display()))?;
        let mut cmd = Command::new(&binary);
        cmd.args(["-a", "127.0.0.1", "-js", "-sd"]).arg(store_dir);
        if port == 0 {
            cmd.args(["-p", "-1", "--ports_file_dir"]).arg(store_dir);
        } else {
            cmd.args(["-p", &port.to_string()]);
        }
        let stderr = output.try_clone().context("duplicating a file handle")?;
        cmd.stdin(Stdio::null()).stdout(Stdio::from(output)).stderr(Stdio::from(stderr));
        let child = cmd.spawn().with_context(|| format!("running {}", binary.display()))?;
        let mut server = NatsServer { child, port, _scratch: None };
        server.wait_ready(store_dir, &output_path)?;
        Ok(server)
    }

    /// [`NatsServer::start`] with a temporary store, removed when the server is dropped.
    pub(crate) fn start_ephemeral(port: u16) -> anyhow::Result<NatsServer> {
        let scratch = tempfile::Builder::new()
            .prefix("lattice-nats-")
            .tempdir()
            .context("creating a temp dir for nats-server")?;
        let mut server = NatsServer::start(port, scratch.path())?;
        server._scratch = Some(scratch);
        Ok(server)
    }

    /// The client URL, `nats://127.0.0.1:{port}`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self, store_dir: &Path, output: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_LIMIT;
        let ports_file = store_dir.join(format!("nats-server_{}.ports", self.child.id()));
        loop {
            if let Some(status) = self.child.try_wait().context("checking on nats-server")? {
                bail!("nats-server exited ({status}) before listening: {}", tail(output));
            }
            if self.port == 0 {
                self.port = std::fs::read_to_string(&ports_file).ok().and_then(|t| client_port(&t)).unwrap_or(0);
            }
            if self.port != 0 && greets(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("nats-server did not listen within {READY_LIMIT:?}: {}", tail(output));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // Fails only when the process already exited; `wait` reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$LATTICE_NATS_SERVER`, else `nats-server` on `PATH`.
fn binary() -> anyhow::Result<PathBuf> {
    if let Some(explicit) = std::env::var_os(NATS_SERVER_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(anyhow!("{NATS_SERVER_ENV}={} is not a file", path.display()))
        };
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("nats-server")).find(|p| p.is_file()))
        .ok_or_else(|| {
            anyhow!(
                "nats-server not found on PATH (apt-get install nats-server, scripts/ensure-nats.sh, \
                 or set {NATS_SERVER_ENV})"
            )
        })
}

/// The client port in a ports file (`{"nats":["nats://127.0.0.1:PORT"],…}`).
fn client_port(text: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let url = value["nats"].get(0)?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

/// Whether a server at `addr` greets a new client with its `INFO` line.
fn greets(addr: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    if stream.set_read_timeout(Some(Duration::from_millis(500))).is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO ")
}

/// The last lines of the server's output, for an error message.
fn tail(output: &Path) -> String {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(10)..].join(" | ");
    if tail.is_empty() { "(no output)".to_owned() } else { tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_client_port_of_a_ports_file() {
        assert_eq!(
            client_port(r#"{"nats":["nats://127.0.0.1:40975"],"monitoring":["http://127.0.0.1:1"]}"#),
            Some(40975)
        );
        assert_eq!(client_port(r#"{"nats":["nats://127.0.0.1:4"#), None);
        assert_eq!(client_port(""), None);
    }

    #[test]
    fn starts_on_a_picked_port_and_stops_on_drop() {
        let server = NatsServer::start_ephemeral(0).expect("nats-server starts (is it installed?)");
        let addr: SocketAddr = server.url().trim_start_matches("nats://").parse().expect("an address");
        assert!(greets(addr));
        drop(server);
        assert!(!greets(addr), "the server is gone after drop");
    }
}
