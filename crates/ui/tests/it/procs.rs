//! The processes the browser test runs: the product binaries (`lattice`, the providers),
//! chromedriver, each read line by line, each stopped when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `target/debug` (or the profile directory this test binary was built in).
pub(crate) fn bin_dir() -> PathBuf {
    // target/debug/deps/it-… → target/debug
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

/// `target/`, where the screenshot goes.
pub(crate) fn target_dir() -> PathBuf {
    bin_dir().parent().unwrap().to_owned()
}

/// Build `lattice` and the two providers (a no-op when up to date): the test runs the
/// product as a user would, and a `-p lattice-ui` test run must not use stale binaries.
/// Under `scripts/test.sh` (`LATTICE_TEST_PREBUILT=1`) the workspace test run has just
/// built all three, and a second `cargo build` with other features would relink them while
/// other tests run them: it is skipped there.
pub(crate) fn build_product() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("LATTICE_TEST_PREBUILT").is_some() {
            return;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root).args(["build", "-p", "lattice", "-p", "lattice-httpserver", "-p", "lattice-kv"]);
        if bin_dir().ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building lattice and the providers failed");
    });
}

/// A child process whose stdout and stderr lines are collected.
pub(crate) struct Proc {
    pub(crate) child: Child,
    what: String,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

fn pump(read: impl Read + Send + 'static, tx: std::sync::mpsc::Sender<String>, log: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines().map_while(Result::ok) {
            log.lock().unwrap().push(line.clone());
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

impl Proc {
    pub(crate) fn spawn(mut cmd: Command, what: &str) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().unwrap(), tx.clone(), log.clone());
        pump(child.stderr.take().unwrap(), tx, log.clone());
        Self { child, what: what.to_owned(), lines, log }
    }

    /// `lattice ARGS`.
    pub(crate) fn lattice(args: &[&str], state: &Path) -> Self {
        let mut cmd = Command::new(bin_dir().join("lattice"));
        cmd.args(args)
            .env("LATTICE_STATE_DIR", state)
            .env("RUST_LOG", "info")
            .env_remove("LATTICE_CLUSTER_SEED")
            .env_remove("WASMCLOUD_CLUSTER_SEED")
            .env_remove("LATTICE_NATS_URL");
        Self::spawn(cmd, &format!("lattice {}", args.first().unwrap_or(&"")))
    }

    /// The first line containing `needle`, waiting up to `timeout` for it.
    pub(crate) fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_line(needle, timeout, |l| l.contains(needle))
    }

    /// The first line that starts with `prefix` (stdout and stderr lines arrive in either
    /// order, so a stderr line that merely mentions it must not match).
    pub(crate) fn wait_for_start(&self, prefix: &str, timeout: Duration) -> String {
        self.wait_for_line(prefix, timeout, |l| l.starts_with(prefix))
    }

    fn wait_for_line(&self, needle: &str, timeout: Duration, matches: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.log.lock().unwrap().iter().find(|l| matches(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if matches(&l) => return l,
                Ok(_) => {}
                Err(_) => {
                    panic!("no line with {needle:?} from {} in {timeout:?}; its output:\n{}", self.what, self.output())
                }
            }
        }
    }

    /// Everything it printed so far.
    pub(crate) fn output(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Send a signal (`STOP`, `CONT`, `TERM`).
    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success(), "kill -{sig} {}", self.child.id());
    }

    /// SIGCONT + SIGTERM, up to 15 s to exit, then SIGKILL; reaped either way.
    pub(crate) fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Find an executable on PATH, failing loudly with how to install it.
pub(crate) fn require(cmd: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(cmd)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("`{cmd}` is not installed: run `bash scripts/ensure-deb.sh {cmd} {package}` (scripts/test.sh does)")
        })
}
