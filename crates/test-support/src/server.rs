//! [`NatsServer`]: one real `nats-server` process on loopback, owned by a test.
//!
//! Each server gets its own temp dir holding the JetStream store (`store/`), the ports file
//! the server writes, its config file, and its output (`nats-server.stderr`, plus
//! `nats-server.log` when asked for). The server picks its own port (`-p -1`); the port is
//! read back from the ports file, and the server is handed out only after it has answered
//! `PING` with `PONG`. Dropping the value kills the process and removes the temp dir.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::monitor::{Ports, http_get};
use crate::wire::RawClient;
use crate::{binary, poll};

/// How long a server may take from spawn to answering `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many trailing lines of the server's output a failure message quotes.
const DIAGNOSTIC_LINES: usize = 40;

const CONFIG_FILE: &str = "nats-server.conf";
const STDERR_FILE: &str = "nats-server.stderr";
const LOG_FILE: &str = "nats-server.log";

/// How to start a [`NatsServer`]: a builder, finished by [`ServerOptions::start`].
///
/// The defaults (from [`NatsServer::builder`] or [`ServerOptions::default`]) are what
/// [`NatsServer::start`] uses: JetStream on, no config file, no monitoring, output captured
/// in the temp dir.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    jetstream: bool,
    config: Option<String>,
    log_file: bool,
    monitoring: bool,
    args: Vec<OsString>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions { jetstream: true, config: None, log_file: false, monitoring: false, args: Vec::new() }
    }
}

impl ServerOptions {
    /// Turns JetStream on (`-js -sd <store_dir>`, the default) or off.
    pub fn jetstream(mut self, on: bool) -> ServerOptions {
        self.jetstream = on;
        self
    }

    /// Extra server configuration (nats-server config syntax), written to a file in the temp
    /// dir and passed with `-c`, e.g. `authorization { users = [{user: a, password: b}] }`.
    ///
    /// Command-line flags win over the file, so the listen address, port, JetStream switch
    /// and store dir set by this helper cannot be overridden here. Readiness accepts an
    /// authorization error as proof of life, so configs requiring credentials work; configs
    /// requiring TLS do not.
    pub fn config(mut self, text: impl Into<String>) -> ServerOptions {
        self.config = Some(text.into());
        self
    }

    /// Makes the server write its log to [`NatsServer::log_path`] (`-l`) instead of stderr.
    /// Either way the output lands in the temp dir and is quoted if the server fails.
    pub fn log_file(mut self, on: bool) -> ServerOptions {
        self.log_file = on;
        self
    }

    /// Turns on the HTTP monitoring endpoint (`-m`) on a port of the server's choosing, see
    /// [`NatsServer::monitor_port`].
    pub fn monitoring(mut self, on: bool) -> ServerOptions {
        self.monitoring = on;
        self
    }

    /// Appends a raw command-line argument, e.g. `-DV` for debug and trace logging.
    pub fn arg(mut self, arg: impl Into<OsString>) -> ServerOptions {
        self.args.push(arg.into());
        self
    }

    /// Starts the server and waits until it answers `PING`. See [`NatsServer::start`].
    ///
    /// # Panics
    /// As [`NatsServer::start`].
    pub fn start(self) -> NatsServer {
        NatsServer::start_with(self)
    }
}

/// A running `nats-server` on `127.0.0.1`, killed when dropped.
///
/// Ports and paths stay available after [`NatsServer::kill`]: they describe the last run,
/// and [`NatsServer::restart`] reuses them.
#[derive(Debug)]
pub struct NatsServer {
    options: ServerOptions,
    binary: PathBuf,
    child: Option<Child>,
    ports: Ports,
    store: PathBuf,
    /// Removed on drop, after the process is dead (`Drop` runs before field drops).
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream on and waits until it answers `PING`.
    ///
    /// # Panics
    /// If `nats-server` cannot be found (see [`crate::nats_server_binary`]), or it exits or
    /// fails to become ready within 10 s; the message quotes the server's output.
    pub fn start() -> NatsServer {
        NatsServer::start_with(ServerOptions::default())
    }

    /// Options for a server that is not the default one; finish with [`ServerOptions::start`].
    pub fn builder() -> ServerOptions {
        ServerOptions::default()
    }

    /// Starts a server with `options` and waits until it answers `PING`.
    ///
    /// # Panics
    /// As [`NatsServer::start`].
    pub fn start_with(options: ServerOptions) -> NatsServer {
        let binary = binary::nats_server_binary();
        let dir = tempfile::Builder::new()
            .prefix("lattice-nats-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for nats-server: {e}"));
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap_or_else(|e| panic!("cannot create {}: {e}", store.display()));
        let mut server = NatsServer {
            options,
            binary,
            child: None,
            ports: Ports { client: 0, monitoring: None, cluster: None },
            store,
            dir,
        };
        if let Some(config) = server.options.config.clone() {
            server.write_config(&config);
        }
        server.launch(None);
        server
    }

    /// The client URL, `nats://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.ports.client)
    }

    /// Same as [`NatsServer::url`] (the name nats.rs's test server uses).
    pub fn client_url(&self) -> String {
        self.url()
    }

    /// The client port the server chose.
    pub fn port(&self) -> u16 {
        self.ports.client
    }

    /// The client address, `127.0.0.1:{port}`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.client))
    }

    /// The HTTP monitoring port, if [`ServerOptions::monitoring`] is on.
    pub fn monitor_port(&self) -> Option<u16> {
        self.ports.monitoring
    }

    /// The cluster (route) port, if the config has a `cluster` block.
    pub fn cluster_port(&self) -> Option<u16> {
        self.ports.cluster
    }

    /// The JetStream store dir (`-sd`); it survives [`NatsServer::restart`].
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// The log file, if [`ServerOptions::log_file`] is on.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.options.log_file.then(|| self.dir.path().join(LOG_FILE))
    }

    /// The process id, while the server is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, no graceful shutdown: clients see the connection drop) and
    /// reaps it. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if the process already exited; `wait` reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it is running and starts it again on the same client (and
    /// monitoring) port, with the same store dir and config; returns once it answers `PING`.
    ///
    /// Useful for reconnect and persistence tests. The port is free between the two runs, so
    /// another process could in principle take it; the restart then panics, saying so.
    ///
    /// # Panics
    /// As [`NatsServer::start`].
    pub fn restart(&mut self) {
        self.kill();
        self.launch(Some(self.ports));
    }

    /// Replaces the config file; takes effect on the next [`NatsServer::restart`].
    pub(crate) fn set_config(&mut self, text: &str) {
        self.options.config = Some(text.to_owned());
        self.write_config(text);
    }

    /// `GET` a monitoring endpoint (e.g. `/routez`) and return the body.
    pub(crate) fn monitor_get(&self, path: &str) -> std::io::Result<String> {
        let port = self
            .ports
            .monitoring
            .ok_or_else(|| std::io::Error::new(ErrorKind::Unsupported, "monitoring is not enabled"))?;
        http_get(port, path)
    }

    /// Panics if the process has exited, quoting its output.
    pub(crate) fn check_alive(&mut self, waiting_for: &str) {
        let exited = match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some(format!("unknown status: {e}")),
            None => Some("not running".to_owned()),
        };
        if let Some(status) = exited {
            self.fail(&format!("nats-server exited ({status}) while waiting for {waiting_for}"));
        }
    }

    /// Panics with `message` followed by the tail of the server's output.
    pub(crate) fn fail(&self, message: &str) -> ! {
        let mut text = format!("{message}\nbinary: {}", self.binary.display());
        if let Some(config) = &self.options.config {
            text.push_str(&format!("\nconfig:\n{config}"));
        }
        let mut outputs = vec![self.dir.path().join(STDERR_FILE)];
        outputs.extend(self.log_path());
        for path in outputs {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = content.lines().collect();
            let tail = lines[lines.len().saturating_sub(DIAGNOSTIC_LINES)..].join("\n");
            text.push_str(&format!("\n--- {} (tail) ---\n{tail}", path.display()));
        }
        panic!("{text}");
    }

    fn write_config(&self, text: &str) {
        let path = self.dir.path().join(CONFIG_FILE);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Spawns the process (on `fixed` ports for a restart, else on ports of its choosing) and
    /// waits for the ports file and a `PONG`.
    fn launch(&mut self, fixed: Option<Ports>) {
        self.remove_stale_ports_files();
        let dir = self.dir.path();
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(STDERR_FILE))
            .unwrap_or_else(|e| panic!("cannot open {STDERR_FILE}: {e}"));
        let port_arg = |port: Option<u16>| port.map_or("-1".to_owned(), |p| p.to_string());

        let mut command = Command::new(&self.binary);
        command
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port_arg(fixed.map(|p| p.client)))
            .arg("--ports_file_dir")
            .arg(dir);
        if self.options.jetstream {
            command.arg("-js").arg("-sd").arg(&self.store);
        }
        if self.options.monitoring {
            command.arg("-m").arg(port_arg(fixed.and_then(|p| p.monitoring)));
        }
        if self.options.log_file {
            command.arg("-l").arg(dir.join(LOG_FILE));
        }
        if self.options.config.is_some() {
            command.arg("-c").arg(dir.join(CONFIG_FILE));
        }
        command.args(&self.options.args);
        let stdout = output.try_clone().unwrap_or_else(|e| panic!("cannot clone the output file handle: {e}"));
        command.stdin(Stdio::null()).stdout(stdout).stderr(output);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        let pid = child.id();
        self.child = Some(child);
        self.await_ready(pid, fixed);
    }

    /// Waits for the ports file of process `pid`, then for `PONG`, within [`READY_TIMEOUT`].
    fn await_ready(&mut self, pid: u32, fixed: Option<Ports>) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let ports = poll(deadline, || {
            self.check_alive("its ports file");
            self.read_ports_file(pid)
        })
        .unwrap_or_else(|| self.fail("nats-server wrote no ports file within 10 s"));
        if let Some(fixed) = fixed
            && ports.client != fixed.client
        {
            self.fail(&format!("nats-server restarted on port {} instead of {}", ports.client, fixed.client));
        }
        self.ports = ports;

        let mut last_error = None;
        let ready = poll(deadline, || {
            self.check_alive("PONG");
            match RawClient::connect(ports.client) {
                Ok(_) => Some(()),
                // The server read our CONNECT and judged it: it is serving clients.
                Err(e) if e.kind() == ErrorKind::PermissionDenied => Some(()),
                Err(e) => {
                    last_error = Some(e);
                    None
                }
            }
        });
        if ready.is_none() {
            self.fail(&format!("nats-server on port {} did not answer PING within 10 s: {last_error:?}", ports.client));
        }
    }

    /// The ports file `<executable>_<pid>.ports` (the executable name varies with
    /// `LATTICE_NATS_SERVER`), once completely written.
    fn read_ports_file(&self, pid: u32) -> Option<Ports> {
        let suffix = format!("_{pid}.ports");
        std::fs::read_dir(self.dir.path())
            .ok()?
            .flatten()
            .find(|entry| entry.file_name().to_string_lossy().ends_with(&suffix))
            .and_then(|entry| std::fs::read_to_string(entry.path()).ok())
            .and_then(|text| Ports::parse(&text))
    }

    /// A killed server leaves its ports file behind; remove it so that a reused pid can never
    /// match an old file.
    fn remove_stale_ports_files(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".ports") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
