//! `lattice up`: run a host in this process until Ctrl-C (or SIGTERM, or a control-plane
//! stop), optionally starting what a manifest lists — `--demo` runs `examples/demo.toml`
//! (the counter actor behind the HTTP server and key-value providers), starting its own
//! nats-server when none answers at the URL.
//!
//! Progress goes to stderr as `lattice: …` lines; the last one of a start is
//! `lattice: host N… ready`, and `--demo` then prints the curl command to try. By default
//! the host's own log shows warnings only (`--log-level` / `WASMCLOUD_LOG_LEVEL` or
//! `RUST_LOG` say otherwise), and providers get the same level. `--log-format json` (or
//! `--enable-structured-logging`, `WASMCLOUD_STRUCTURED_LOGGING_ENABLED=true`) makes every
//! line on stderr — progress, host and providers — one JSON object.
//!
//! Observability: `--otel` (or 0.82's `OTEL_TRACES_EXPORTER=otlp` /
//! `--otel-traces-exporter otlp`) exports traces over OTLP/HTTP to
//! `--otel-exporter-otlp-endpoint` (`OTEL_EXPORTER_OTLP_ENDPOINT`, default
//! `http://127.0.0.1:4318`) + `/v1/traces`, and hands the same settings to providers;
//! `--metrics-addr ADDR` serves the host's Prometheus metrics on `http://ADDR/metrics`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Parser;
use lattice_host::claims::{self, SignOptions};
use lattice_host::manifest::{ActorSource, Manifest};
use lattice_host::{Credentials, Host, HostBuilder, NativeClaims, ProviderSpec};
use lattice_proto::{ClusterKey, LatticeName, LinkDefinition, LinkName};
use nkeys::{KeyPair, KeyPairType};

use crate::common::exe::find_executable;
use crate::common::nats::connect_url;
use crate::common::nats_server::NatsServer;
use crate::exit::{Failure, Outcome};

/// The demo manifest and the actor it signs at start, built into the binary so that
/// `lattice up --demo` works from anywhere.
const DEMO_MANIFEST: &str = include_str!("../../../../examples/demo.toml");
const COUNTER_WAT: &str = include_str!("../../../../actors/counter.wat");

/// Run a Lattice host (wasm actors, providers, links, control interface).
#[derive(Parser, Debug)]
pub(crate) struct Args {
    /// NATS URL of both connections (unless --rpc-url / --ctl-url say otherwise).
    #[arg(long, env = "LATTICE_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// NATS URL of the RPC connection (invocations, links, provider health).
    #[arg(long)]
    rpc_url: Option<String>,
    /// NATS URL of the control connection (control interface, events, lattice data).
    #[arg(long)]
    ctl_url: Option<String>,
    /// NATS credentials file for both connections.
    #[arg(long, value_name = "FILE")]
    creds: Option<PathBuf>,
    /// NATS credentials file of the RPC connection (also handed to providers).
    #[arg(long, value_name = "FILE")]
    rpc_creds: Option<PathBuf>,
    /// NATS credentials file of the control connection.
    #[arg(long, value_name = "FILE")]
    ctl_creds: Option<PathBuf>,
    /// File holding the NATS user nkey seed (`SU…`) of both connections (the host role of
    /// `lattice nats-config`).
    #[arg(long, value_name = "FILE", env = "LATTICE_NKEY_SEED_FILE", conflicts_with_all = ["creds", "rpc_creds", "ctl_creds"])]
    nkey_seed_file: Option<PathBuf>,
    /// NATS user nkey seed file handed to the providers this host starts (the provider
    /// role of `lattice nats-config`). Without it and --provider-creds, providers get the
    /// RPC connection's credentials file, if any (never the host's --nkey-seed-file).
    #[arg(long, value_name = "FILE", conflicts_with = "provider_creds")]
    provider_nkey_seed_file: Option<PathBuf>,
    /// NATS credentials file handed to the providers this host starts.
    #[arg(long, value_name = "FILE")]
    provider_creds: Option<PathBuf>,
    /// The lattice to join.
    #[arg(long, env = "LATTICE_NAME", default_value = "default")]
    lattice: String,
    /// Cluster seed (`SC…`) to sign invocations with (also read from WASMCLOUD_CLUSTER_SEED);
    /// generated and printed when absent.
    #[arg(long, env = "LATTICE_CLUSTER_SEED", hide_env_values = true)]
    cluster_seed: Option<String>,
    /// Further trusted cluster issuers (`C…,C…`).
    #[arg(long, value_delimiter = ',')]
    cluster_issuers: Vec<String>,
    /// The host's seed (`SN…`; also read from WASMCLOUD_HOST_SEED); generated when absent.
    #[arg(long, env = "LATTICE_HOST_SEED", hide_env_values = true)]
    host_seed: Option<String>,
    /// A host label `key=value` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Timeout of the host's outgoing calls and health checks, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    rpc_timeout_ms: u64,
    /// Time a provider gets to shut down before it is killed, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    provider_shutdown_grace: u64,
    /// Start the actors, providers and links this TOML file lists.
    #[arg(long, value_name = "FILE", conflicts_with = "demo")]
    manifest: Option<PathBuf>,
    /// Run the demo: the counter actor behind HTTP and key-value providers (implies
    /// --allow-file-load).
    #[arg(long)]
    demo: bool,
    /// Let the control interface (`lattice start`, wash, wadm) start local files on this
    /// host, as 0.82's flag of the same name. Off by default: anyone who may publish on the
    /// control subjects could otherwise start any file here. Manifests may always.
    #[arg(long, env = "WASMCLOUD_ALLOW_FILE_LOAD")]
    allow_file_load: bool,
    /// Load only actor modules and provider archives signed by these accounts (`A…,A…`).
    /// Default: any valid signature (0.82's behaviour), with a warning at start.
    #[arg(long, value_delimiter = ',', value_name = "A…")]
    trusted_issuers: Vec<String>,
    /// The demo's HTTP port (`${HTTP_PORT}` in manifests).
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// Copies JetStream keeps of the lattice data, the chunking object store and the kv
    /// provider's buckets (1 to 5; 3 on a 3-node cluster). Existing buckets are updated
    /// to it at start.
    #[arg(long, env = "LATTICE_JS_REPLICAS", value_name = "N", default_value = "1")]
    js_replicas: lattice_rpc::jetstream::Replicas,
    /// Where provider keys and unpacked archives are kept.
    #[arg(long, env = "LATTICE_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Delay before a provider's first health check, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000, hide = true)]
    health_first_ms: u64,
    /// Interval between provider health checks, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, hide = true)]
    health_interval_ms: u64,
    /// Interval between `host_heartbeat` events, in milliseconds (tests use a short one so
    /// that a stopped host is noticed quickly; 0 turns heartbeats off).
    #[arg(long, value_name = "MS", default_value_t = 30_000, hide = true)]
    heartbeat_interval_ms: u64,
    /// Log line format on stderr: `human` or `json` (one object per line; providers too).
    #[arg(long, value_name = "FORMAT", env = "LATTICE_LOG_FORMAT", default_value = "human")]
    log_format: String,
    /// Same as `--log-format json` (wasmCloud 0.82's flag and variable).
    #[arg(long, env = "WASMCLOUD_STRUCTURED_LOGGING_ENABLED")]
    enable_structured_logging: bool,
    /// Log level of the host and its providers: error, warn, info, debug, trace (0.82's
    /// `critical` = error). Default: RUST_LOG, else warn (json: info).
    #[arg(long, value_name = "LEVEL", env = "WASMCLOUD_LOG_LEVEL")]
    log_level: Option<String>,
    /// Export traces over OTLP/HTTP (same as `--otel-traces-exporter otlp`).
    #[arg(long)]
    otel: bool,
    /// The traces exporter (`otlp` turns traces on), as in 0.82.
    #[arg(long, value_name = "EXPORTER", env = "OTEL_TRACES_EXPORTER")]
    otel_traces_exporter: Option<String>,
    /// The OTLP/HTTP base URL; `/v1/traces` is appended. Default http://127.0.0.1:4318.
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otel_exporter_otlp_endpoint: Option<String>,
    /// Serve the host's Prometheus metrics on http://ADDR/metrics (port 0 picks one; the
    /// `metrics on …` progress line names it).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    registry: crate::common::registry::HostRegistryArgs,
}

/// Whether progress lines are JSON log events (set once, by `run`).
static JSON_PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn progress(text: impl std::fmt::Display) {
    if JSON_PROGRESS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::info!(target: "lattice::progress", "{text}");
    } else {
        eprintln!("lattice: {text}");
    }
}

pub(crate) fn run(args: Args) -> Outcome {
    let (telemetry, observability) = init_telemetry(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let result = runtime.block_on(up(args, observability));
    drop(runtime);
    // Export the last spans (the exporter runs on its own thread; this waits for it).
    telemetry.shutdown();
    result
}

/// Install logging and trace export from the flags; returns what providers are told.
fn init_telemetry(args: &Args) -> Result<(lattice_telemetry::Telemetry, lattice_host::Observability), Failure> {
    use lattice_telemetry::{LogFormat, LogLevel, LogSettings, OtelSettings};
    use std::io::IsTerminal;
    let mut format: LogFormat =
        args.log_format.parse().map_err(|e| Failure::bad_input(anyhow!("--log-format: {e}")))?;
    if args.enable_structured_logging {
        format = LogFormat::Json;
    }
    let level = match args.log_level.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) => Some(l.parse::<LogLevel>().map_err(|e| Failure::bad_input(anyhow!("--log-level: {e}")))?),
        None => None,
    };
    let logs = LogSettings { format, level, ansi: format == LogFormat::Human && std::io::stderr().is_terminal() };
    let mut otel = OtelSettings::from_env();
    otel.traces_exporter = args.otel_traces_exporter.clone().or(otel.traces_exporter);
    if args.otel {
        otel.traces_exporter = Some("otlp".into());
    }
    otel.endpoint = args.otel_exporter_otlp_endpoint.clone().filter(|e| !e.trim().is_empty()).or(otel.endpoint);
    let telemetry = lattice_telemetry::init("lattice-host", &logs, &otel).map_err(|e| match e {
        lattice_telemetry::TelemetryError::Protocol(_) => Failure::bad_input(e),
        other => Failure::from(anyhow::Error::from(other)),
    })?;
    JSON_PROGRESS.store(logs.is_json(), std::sync::atomic::Ordering::Relaxed);
    // Providers log at the host's level: the explicit one, else (without RUST_LOG, which
    // they inherit) the format's quiet default.
    let provider_level = level
        .map(|l| l.directive())
        .or_else(|| std::env::var_os("RUST_LOG").is_none().then_some(if logs.is_json() { "info" } else { "warn" }));
    let observability = lattice_host::Observability {
        structured_logging: logs.is_json(),
        log_level: provider_level.map(str::to_owned),
        otel: if otel.enabled() {
            lattice_proto::OtelConfig {
                traces_exporter: Some("otlp".into()),
                exporter_otlp_endpoint: Some(otel.base_url().to_owned()),
            }
        } else {
            lattice_proto::OtelConfig::default()
        },
    };
    Ok((telemetry, observability))
}

/// Whether a NATS server answers at `url` (one URL or a comma-separated list; a quick
/// connect with a short timeout). One that refuses an anonymous login counts: it is there,
/// it wants credentials (never start an open server next to a locked-down one).
async fn reachable(url: &str) -> bool {
    for one in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let attempt = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(1)).connect(one);
        let there = match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(client)) => {
                drop(client.flush().await);
                true
            }
            Ok(Err(e)) => matches!(
                e.kind(),
                async_nats::ConnectErrorKind::AuthorizationViolation | async_nats::ConnectErrorKind::Authentication
            ),
            Err(_) => false,
        };
        if there {
            return true;
        }
    }
    false
}

/// The port of a `nats://` URL on this machine (`127.0.0.1`, `localhost`), where the demo
/// may start its own server: `nats://127.0.0.1:4222` (the default URL) gives 4222.
fn local_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("nats://")?;
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    matches!(host, "127.0.0.1" | "localhost").then(|| port.parse().ok()).flatten()
}

/// Start the demo's nats-server on `port` if it is free (so every verb finds it at the URL
/// it was given, by default `nats://127.0.0.1:4222`), else on a free port. Returns the
/// server and whether it got the port asked for.
async fn start_demo_nats(port: Option<u16>) -> Result<(NatsServer, bool), Failure> {
    if let Some(port) = port {
        // A probe, not a reservation: if someone takes the port meanwhile, nats-server fails
        // to listen and the free-port fallback below runs.
        let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free && let Ok(server) = start_nats(Some(port)).await {
            return Ok((server, true));
        }
    }
    Ok((start_nats(None).await?, false))
}

/// Start a nats-server with JetStream for the demo (it lives as long as the returned
/// value; its store a temp dir), on `port` or, with `None`, one it picks.
async fn start_nats(port: Option<u16>) -> Result<NatsServer, Failure> {
    tokio::task::spawn_blocking(move || NatsServer::start_ephemeral(port.unwrap_or(0)))
        .await
        .context("starting nats-server")?
        .context("no NATS server is reachable and none could be started (scripts/ensure-nats.sh installs one)")
        .map_err(Failure::from)
}

/// The NATS credentials providers get: --provider-nkey-seed-file, --provider-creds, else the
/// RPC connection's credentials file (as 0.82), but never the host's own nkey seed.
fn provider_credentials(args: &Args, rpc_creds: Option<&Path>) -> Result<Option<Credentials>, Failure> {
    let creds_file = |path: &Path| -> Result<Credentials, Failure> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Credentials::parse_creds(&text).map_err(Failure::bad_input)
    };
    if let Some(path) = &args.provider_nkey_seed_file {
        return Ok(Some(Credentials { jwt: String::new(), seed: crate::common::nats::read_nkey_seed(path)? }));
    }
    if let Some(path) = &args.provider_creds {
        return creds_file(path).map(Some);
    }
    match (rpc_creds, &args.nkey_seed_file) {
        // As 0.82: providers get the RPC connection's credentials file.
        (Some(path), _) => creds_file(path).map(Some),
        // Never the host role's own seed: providers would get the host's permissions.
        (None, Some(_)) => {
            progress("providers get no NATS identity (give them the provider role's with --provider-nkey-seed-file)");
            Ok(None)
        }
        (None, None) => Ok(None),
    }
}

fn env_fallback(value: Option<String>, legacy: &str) -> Option<String> {
    value.or_else(|| std::env::var(legacy).ok()).filter(|s| !s.trim().is_empty())
}

async fn up(args: Args, observability: lattice_host::Observability) -> Outcome {
    let mut signals = Signals::new()?;
    let lattice = LatticeName::new(args.lattice.clone()).map_err(|e| Failure::bad_input(anyhow!("--lattice: {e}")))?;
    let mut labels = BTreeMap::new();
    for label in &args.labels {
        labels.extend([lattice_host::config::parse_label(label).map_err(Failure::bad_input)?]);
    }
    let mut issuers = Vec::new();
    for issuer in args.cluster_issuers.iter().filter(|s| !s.trim().is_empty()) {
        issuers
            .push(ClusterKey::parse(issuer.trim()).map_err(|e| Failure::bad_input(anyhow!("--cluster-issuers: {e}")))?);
    }
    let host_seed = match env_fallback(args.host_seed.clone(), "WASMCLOUD_HOST_SEED") {
        Some(seed) => seed,
        None => KeyPair::new_server().seed().context("generating a host key")?,
    };
    let host_key =
        KeyPair::from_seed(host_seed.trim()).map_err(|e| Failure::bad_input(anyhow!("--host-seed: {e}")))?.public_key();
    let cluster_seed = env_fallback(args.cluster_seed.clone(), "WASMCLOUD_CLUSTER_SEED");

    let manifest = load_manifest(&args)?;

    // NATS: for the demo, start a server when none answers at the URL.
    let mut nats_url = args.nats_url.clone();
    let mut server = None;
    // The demo's own server is on another port than asked: say how to reach it.
    let mut moved = false;
    let explicit = args.rpc_url.is_some() || args.ctl_url.is_some();
    if args.demo && !explicit && !reachable(&nats_url).await {
        progress(format!("no NATS server at {nats_url}: starting one (with JetStream)"));
        let wanted = local_port(&nats_url);
        let (started, on_wanted) = start_demo_nats(wanted).await?;
        if let (Some(port), false) = (wanted, on_wanted) {
            progress(format!("port {port} is busy (not a NATS server): using {} instead", started.url()));
            moved = true;
        }
        nats_url = started.url();
        progress(format!("nats-server listening on {nats_url}"));
        server = Some(started);
    }
    let rpc_url = args.rpc_url.clone().unwrap_or_else(|| nats_url.clone());
    let ctl_url = args.ctl_url.clone().unwrap_or_else(|| nats_url.clone());
    let rpc_creds = args.rpc_creds.as_deref().or(args.creds.as_deref());
    let ctl_creds = args.ctl_creds.as_deref().or(args.creds.as_deref());
    let nkey = args.nkey_seed_file.as_deref();
    let rpc = connect_url(&rpc_url, rpc_creds, nkey, format!("lattice-host {host_key} rpc")).await?;
    let ctl = connect_url(&ctl_url, ctl_creds, nkey, format!("lattice-host {host_key} ctl")).await?;

    let mut builder = HostBuilder::new()
        .lattice(lattice)
        .host_seed(host_seed)
        .cluster_issuers(issuers)
        .rpc_nats(rpc.client)
        .rpc_connection_state(rpc.state)
        .ctl_connection_state(ctl.state)
        .ctl_nats(ctl.client)
        .rpc_url(rpc_url.clone())
        .ctl_url(ctl_url)
        .labels(labels)
        .js_replicas(args.js_replicas)
        .rpc_timeout(Duration::from_millis(args.rpc_timeout_ms.max(1)))
        .provider_shutdown_grace(Duration::from_millis(args.provider_shutdown_grace))
        .health_checks(
            Duration::from_millis(args.health_first_ms),
            Duration::from_millis(args.health_interval_ms.max(1)),
        )
        .heartbeat_interval(Duration::from_millis(args.heartbeat_interval_ms))
        .observability(observability);
    if let Some(seed) = cluster_seed {
        builder = builder.cluster_seed(seed);
    }
    builder = builder.allow_file_load(args.allow_file_load || args.demo);
    let trusted: Vec<&String> = args.trusted_issuers.iter().filter(|s| !s.trim().is_empty()).collect();
    if !trusted.is_empty() {
        let keys = trusted
            .iter()
            .map(|k| lattice_proto::AccountKey::parse(k.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::bad_input(anyhow!("--trusted-issuers: {e}")))?;
        builder = builder.trusted_issuers(keys);
    }
    let (oci, credential) = args.registry.settings()?;
    builder = builder.oci_settings(oci);
    if let Some((registry, credential)) = credential {
        builder = builder.registry_credential(registry, credential);
    }
    if let Some(dir) = &args.state_dir {
        builder = builder.state_dir(dir);
    }
    if let Some(credentials) = provider_credentials(&args, rpc_creds)? {
        builder = builder.rpc_credentials(credentials);
    }
    let host = builder.start().await.map_err(|e| match e {
        lattice_host::HostError::Config(_) => Failure::bad_input(e),
        other => Failure::from(anyhow::Error::from(other)),
    })?;
    if host.cluster_seed_generated() {
        // The seed itself never goes to the terminal (or any log collector): a 0600 file.
        let state = lattice_host::state_dir::StateDir::new(&host.config().state_dir);
        let path = state.store_cluster_seed(&host.cluster_seed().seed()).map_err(anyhow::Error::from)?;
        progress(format!(
            "generated cluster seed (issuer {}), saved to {}: give other hosts --cluster-seed (or LATTICE_CLUSTER_SEED) from that file to join",
            host.cluster_key(),
            path.display()
        ));
    }
    progress(format!("host {} started in lattice {} (NATS {rpc_url})", host.key(), host.lattice()));
    let metrics_stop = tokio_util::sync::CancellationToken::new();
    let _stop_metrics = metrics_stop.clone().drop_guard();
    if let Some(addr) = args.metrics_addr {
        let (listener, bound) = match lattice_telemetry::serve::bind(addr).await {
            Ok(bound) => bound,
            Err(e) => {
                host.stop().await;
                return Err(anyhow!("binding the metrics address {addr}: {e}").into());
            }
        };
        let h = host.clone();
        let render: lattice_telemetry::serve::Render = std::sync::Arc::new(move || {
            let h = h.clone();
            Box::pin(async move { h.metrics_text().await })
        });
        let h = host.clone();
        let health: lattice_telemetry::serve::Health = std::sync::Arc::new(move || {
            let connections = h.connections();
            let healthy = connections.rpc.connected && connections.ctl.connected;
            let detail = if healthy { "ok".to_owned() } else { connections.summary() };
            lattice_telemetry::serve::HealthReport { healthy, detail }
        });
        tokio::spawn(lattice_telemetry::serve::serve_with_health(
            listener,
            "lattice host",
            render,
            Some(health),
            metrics_stop.clone(),
        ));
        progress(format!("metrics on http://{bound}/metrics (health on /healthz)"));
    }

    if let Some(manifest) = manifest {
        let applied = tokio::select! {
            applied = apply(&host, &manifest) => applied,
            () = signals.recv() => {
                progress("interrupted: stopping what was started…");
                host.stop().await;
                drop(server);
                return Ok(());
            }
        };
        if let Err(e) = applied {
            host.stop().await;
            return Err(e);
        }
    }
    if args.demo && args.http_port != 0 {
        wait_for_http(args.http_port).await;
    }
    progress(format!("host {} ready", host.key()));
    if args.demo {
        progress(format!("try: curl http://127.0.0.1:{}/   (Ctrl-C stops everything)", args.http_port));
        let flag = if moved { format!(" --nats-url {rpc_url}") } else { String::new() };
        progress(format!("next, in another terminal:   lattice get hosts{flag}"));
        progress(format!("                             lattice ui{flag} --issuer {}", host.cluster_key()));
        if moved {
            progress(format!("(or export LATTICE_NATS_URL={rpc_url} once, and drop --nats-url)"));
        }
    }

    wait_for_stop(&host, &mut signals).await;
    progress("stopping…");
    host.stop().await;
    drop(server);
    progress("stopped");
    Ok(())
}

/// Wait (up to 10 s) until the HTTP server provider listens on `port`, so the curl command
/// printed next works at once.
async fn wait_for_http(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress(format!("warning: nothing listens on 127.0.0.1:{port} yet; see the log above"));
}

/// SIGINT and SIGTERM, registered as soon as `up` starts: a Ctrl-C during a long start
/// stops what was started instead of killing the process (and orphaning providers).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
                term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves at the next SIGINT or SIGTERM.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        drop(tokio::signal::ctrl_c().await);
    }
}

async fn wait_for_stop(host: &Host, signals: &mut Signals) {
    tokio::select! {
        () = signals.recv() => {}
        () = host.stop_requested() => {}
    }
}

fn load_manifest(args: &Args) -> Result<Option<Manifest>, Failure> {
    let mut manifest = if args.demo {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        Manifest::parse(DEMO_MANIFEST, &base).map_err(Failure::bad_input)?
    } else if let Some(path) = &args.manifest {
        Manifest::load(path).map_err(|e| match e {
            lattice_host::HostError::Io { .. } => Failure::from(anyhow::Error::from(e)),
            other => Failure::bad_input(other),
        })?
    } else {
        return Ok(None);
    };
    manifest.substitute(&BTreeMap::from([("HTTP_PORT".to_owned(), args.http_port.to_string())]));
    Ok(Some(manifest))
}

/// Compile a WAT actor and sign it with a module key kept in the state directory (so its
/// public key, and the links naming it, survive restarts) and a fresh account key.
fn sign_wat(host: &Host, name: &str, path: &Path, caps: &[String], alias: Option<&String>) -> Result<Vec<u8>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(_) if path.file_name().is_some_and(|f| f == "counter.wat") => COUNTER_WAT.to_owned(),
        Err(e) => return Err(anyhow!("reading {}: {e}", path.display()).into()),
    };
    let wasm = wat::parse_str(&text).map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))?;
    let state = lattice_host::state_dir::StateDir::new(&host.config().state_dir);
    let module = state.stable_key(&format!("actor-{name}"), KeyPairType::Module).map_err(anyhow::Error::from)?;
    let account = state.stable_key("account-dev", KeyPairType::Account).map_err(anyhow::Error::from)?;
    let opts =
        SignOptions { name: name.to_owned(), caps: caps.to_vec(), call_alias: alias.cloned(), ..Default::default() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Ok(claims::sign(&wasm, &opts, &module, &account, now).context("signing the actor")?)
}

fn refused(e: lattice_host::HostError) -> Failure {
    match e {
        lattice_host::HostError::ActorRefused { .. } => Failure::no(e),
        lattice_host::HostError::Reference { .. } | lattice_host::HostError::Manifest(_) => Failure::bad_input(e),
        lattice_host::HostError::Oci(e) => crate::common::registry::oci_failure(e),
        other => Failure::from(anyhow::Error::from(other)),
    }
}

/// Start the manifest's actors and providers, then put its links.
async fn apply(host: &Host, manifest: &Manifest) -> Outcome {
    let mut actor_keys = BTreeMap::new();
    for actor in &manifest.actors {
        progress(format!("starting actor {} ({} instances)…", actor.name, actor.instances));
        let key = match &actor.source {
            ActorSource::Signed(reference) => {
                host.scale_actor(reference, actor.instances, BTreeMap::new()).await.map_err(refused)?
            }
            ActorSource::Wat { path, caps, call_alias } => {
                let wasm = sign_wat(host, &actor.name, path, caps, call_alias.as_ref())?;
                let reference = path.to_string_lossy();
                let module = host.load_actor_bytes(&reference, wasm).await.map_err(refused)?;
                host.run_module(&reference, module, actor.instances, BTreeMap::new()).await.map_err(refused)?
            }
        };
        progress(format!("actor {} is {key}", actor.name));
        actor_keys.insert(actor.name.clone(), key.as_str().to_owned());
    }
    let mut provider_keys = BTreeMap::new();
    for p in &manifest.providers {
        progress(format!("starting provider {} (link name {})…", p.name, p.link_name));
        let path = if p.path.contains('/') {
            p.path.clone()
        } else {
            find_executable(&p.path)?.to_string_lossy().into_owned()
        };
        let link = LinkName::new(p.link_name.clone()).map_err(|e| Failure::bad_input(anyhow!("{}: {e}", p.name)))?;
        let mut spec = ProviderSpec::new(path, link);
        spec.config_json = p.config_json.clone();
        spec.claims = p.contract.as_ref().map(|contract| NativeClaims {
            contract_id: contract.clone(),
            name: Some(p.name.clone()),
            vendor: p.vendor.clone(),
            seed: p.seed.clone(),
        });
        let key = host.start_provider(spec).await.map_err(refused)?;
        progress(format!("provider {} is {key}", p.name));
        provider_keys.insert(p.name.clone(), key.as_str().to_owned());
    }
    for l in &manifest.links {
        let entry = manifest.provider(&l.provider);
        let ld = LinkDefinition {
            actor_id: actor_keys.get(&l.actor).cloned().unwrap_or_else(|| l.actor.clone()),
            provider_id: provider_keys.get(&l.provider).cloned().unwrap_or_else(|| l.provider.clone()),
            link_name: l
                .link_name
                .clone()
                .or_else(|| entry.map(|p| p.link_name.clone()))
                .unwrap_or_else(|| "default".into()),
            contract_id: l.contract.clone().or_else(|| entry.and_then(|p| p.contract.clone())).unwrap_or_default(),
            values: l.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        progress(format!("linking {} -> {} ({}, link name {})", l.actor, l.provider, ld.contract_id, ld.link_name));
        host.put_link(ld).await.map_err(refused)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::local_port;

    #[test]
    fn the_demo_serves_nats_itself_only_on_local_urls_with_a_port() {
        assert_eq!(local_port("nats://127.0.0.1:4222"), Some(4222));
        assert_eq!(local_port("nats://localhost:4333/"), Some(4333));
        assert_eq!(local_port("nats://10.0.0.5:4222"), None);
        assert_eq!(local_port("nats://127.0.0.1"), None);
        assert_eq!(local_port("tls://127.0.0.1:4222"), None);
        assert_eq!(local_port("nats://127.0.0.1:notaport"), None);
    }
}
