//! [`Registry`]: a real OCI registry — Debian's `docker-registry` (CNCF distribution 2.8) —
//! on loopback, owned by a test.
//!
//! Each registry gets a temp dir with its config (`config.yml`), its storage
//! (`storage.filesystem.rootdirectory`), its output, and for the authenticated case an
//! htpasswd file of **bcrypt** entries (the registry silently ignores any other hash and
//! answers 401). It listens on `127.0.0.1:0`; the port is read from its `listening on
//! 127.0.0.1:PORT` log line, and the registry is handed out once that port accepts
//! connections. A missing binary fails the test with how to install it.
//!
//! The storage layout is distribution's own, so tests can reach in: a blob is
//! `docker/registry/v2/blobs/sha256/{first two hex}/{hex}/data`, which the registry serves
//! without re-checking ([`Registry::blob_path`] — the digest-mismatch tests corrupt it).
//!
//! Authentication needs the `htpasswd` feature (bcrypt hashing), which only dev-dependencies
//! turn on, so the `lattice` binary (which uses this crate to start a demo nats-server)
//! never links bcrypt.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Environment variable naming an explicit `docker-registry` binary, checked before `PATH`.
pub const REGISTRY_ENV: &str = "LATTICE_DOCKER_REGISTRY";

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const LOG_FILE: &str = "registry.log";

/// How to start a [`Registry`]; finish with [`RegistryOptions::start`].
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    users: Vec<(String, String)>,
}

impl RegistryOptions {
    /// Require HTTP basic authentication, and accept `user` with `password` (repeatable).
    #[cfg(feature = "htpasswd")]
    pub fn user(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((user.into(), password.into()));
        self
    }

    /// Start it. See [`Registry::start`].
    ///
    /// # Panics
    /// As [`Registry::start`].
    pub fn start(self) -> Registry {
        Registry::start_with(self)
    }
}

/// A running `docker-registry` on `127.0.0.1`, killed when dropped.
#[derive(Debug)]
pub struct Registry {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    authenticated: bool,
    dir: TempDir,
}

/// The path of the `docker-registry` binary ([`REGISTRY_ENV`], else `PATH`).
///
/// # Panics
/// If none is found; the message says how to install it.
pub fn registry_binary() -> PathBuf {
    if let Some(explicit) = std::env::var_os(REGISTRY_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(explicit);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join("docker-registry")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "docker-registry not found on PATH: install it with 'apt-get install -y docker-registry' \
             (Debian; scripts/test.sh does) or set {REGISTRY_ENV}=/path/to/registry"
        )
    })
}

impl Registry {
    /// Start an anonymous registry and wait until it accepts connections.
    ///
    /// # Panics
    /// If `docker-registry` is missing, exits, or does not listen within 15 s (the message
    /// quotes its log).
    pub fn start() -> Registry {
        Registry::start_with(RegistryOptions::default())
    }

    /// Options (users) for a registry that is not the default one.
    pub fn builder() -> RegistryOptions {
        RegistryOptions::default()
    }

    fn start_with(options: RegistryOptions) -> Registry {
        let binary = registry_binary();
        let dir = tempfile::Builder::new()
            .prefix("lattice-registry-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for docker-registry: {e}"));
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap_or_else(|e| panic!("cannot create {}: {e}", storage.display()));
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: lattice-test-{}\n",
            storage.display(),
            std::process::id()
        );
        let authenticated = !options.users.is_empty();
        if authenticated {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, htpasswd_lines(&options.users))
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", htpasswd.display()));
            config
                .push_str(&format!("auth:\n  htpasswd:\n    realm: lattice-test\n    path: {}\n", htpasswd.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
        let mut registry = Registry { binary, child: None, port: 0, authenticated, dir };
        registry.launch();
        registry
    }

    fn launch(&mut self) {
        let log_path = self.dir.path().join(LOG_FILE);
        let log =
            std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let err = log.try_clone().unwrap_or_else(|e| panic!("cannot clone a file handle: {e}"));
        let child = Command::new(&self.binary)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        let port = crate::poll(deadline, || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.fail(&format!("docker-registry exited ({status}) before listening"));
            }
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            text.lines().find_map(|l| {
                let at = l.find("listening on 127.0.0.1:")? + "listening on 127.0.0.1:".len();
                l[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u16>().ok()
            })
        });
        let Some(port) = port else { self.fail("its 'listening on' log line") };
        self.port = port;
        let ready = crate::poll(deadline, || TcpStream::connect(("127.0.0.1", port)).ok().map(drop));
        if ready.is_none() {
            self.fail(&format!("port {port} to accept connections"));
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        panic!("docker-registry: waiting for {what} failed; its log:\n{}", tail.join("\n"));
    }

    /// The registry's authority, `127.0.0.1:{port}` — what references start with and what
    /// `--allowed-insecure` names.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it requires authentication.
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Its storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding the blob `digest` (`sha256:…`), as the registry stores it.
    ///
    /// # Panics
    /// If `digest` is not `sha256:` with at least two hex digits.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() > 2)
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        self.storage_dir().join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default()
    }

    /// Kill it (the port then refuses connections) and reap it. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A temp dir path of this registry (for tests that want files next to it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(feature = "htpasswd")]
fn htpasswd_lines(users: &[(String, String)]) -> String {
    users
        .iter()
        .map(|(user, password)| {
            // Cost 4 (bcrypt's minimum): these are throwaway test passwords, and each
            // registry login checks the hash again.
            let hash = bcrypt::hash_with_result(password, 4)
                .unwrap_or_else(|e| panic!("bcrypt: {e}"))
                .format_for_version(bcrypt::Version::TwoA);
            format!("{user}:{hash}\n")
        })
        .collect()
}

#[cfg(not(feature = "htpasswd"))]
fn htpasswd_lines(_users: &[(String, String)]) -> String {
    String::new()
}

/// A loopback port nothing listens on (bound by the OS, then released): what "the registry
/// is unreachable" looks like to a client.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}")).port()
}
