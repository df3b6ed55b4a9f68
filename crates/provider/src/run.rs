//! The provider runtime: [`run`] for a provider binary's `main`, [`serve`] to embed one.
//!
//! What a running provider does, in order (PROTOCOL.md §2.6–2.7, §3, §6.2, §7.4):
//! 1. read HostData (one base64 line on stdin) and validate it — bad input exits 2 with
//!    one `error:` line on stderr;
//! 2. open the RPC connection from HostData (URL, empty → `nats://127.0.0.1:4222`; user
//!    JWT + seed, or seed alone, when given), build the signing client
//!    (`invocation_seed`, `host_id`, `default_rpc_timeout_ms`), run [`Provider::init`];
//! 3. subscribe (plain) `.linkdefs.put`, `.linkdefs.del`, `.health`, `.shutdown`, apply
//!    HostData's links (link messages are then handled by [`crate::link_worker`], off this
//!    loop, and applied only when the lattice data bucket holds the same link), then serve the provider subject with an [`RpcServer`] (queue group
//!    `rpc`; claims verified against HostData's `cluster_issuers` before dispatch) whose
//!    handler also refuses callers without a link;
//! 4. on `.shutdown` naming this provider's host, or SIGTERM/SIGINT: answer
//!    `shutting down` at once, stop taking calls, let in-flight calls finish within the
//!    grace period (default 2 s), delete every link, run [`Provider::shutdown`], flush,
//!    and return (exit 0).

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lattice_proto::shutdown::{SHUTDOWN_REPLY, ShutdownRequest};
use lattice_proto::{LinkDefinition, TrustedIssuers, subject};
use lattice_rpc::server::DEFAULT_MAX_IN_FLIGHT;
use lattice_rpc::{
    Handler, HandlerError, NatsAuth, NatsOptions, REJECTED_PREFIX, Request, RpcClient, RpcServer, Served,
};
use tokio_util::task::TaskTracker;

use crate::context::ProviderContext;
use crate::error::ProviderError;
use crate::host_data::LoadedHostData;
use crate::link_worker::{self, DEFAULT_LINK_CONFIRM_WAIT, DEFAULT_MAX_LINKS, LinkLimits};
use crate::logging;
use crate::provider::Provider;

/// The default time in-flight calls get to finish once shutdown starts.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Tuning for [`run_with`] and [`serve`].
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How long in-flight calls may run after shutdown starts before they are cancelled
    /// (their callers get an error); the same bound applies to link teardown and
    /// [`Provider::shutdown`]. Default 2 s.
    pub shutdown_grace: Duration,
    /// At most this many calls are handled at once (default 1024).
    pub max_in_flight: usize,
    /// At most this many links (actors) at once; further new links are refused (default
    /// [`DEFAULT_MAX_LINKS`]).
    pub max_links: usize,
    /// How long a `.linkdefs.put` may wait for its host's write to the lattice data bucket
    /// to land before it is refused as unstored (default 2 s).
    pub link_confirm_wait: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_links: DEFAULT_MAX_LINKS,
            link_confirm_wait: DEFAULT_LINK_CONFIRM_WAIT,
        }
    }
}

/// Run `provider` as a provider process: HostData from stdin, logging to stderr, stop on
/// `.shutdown`, SIGTERM or SIGINT. Returns the process exit code: 0 after a clean
/// shutdown; on failure one `error: …` line is printed on stderr and the code is 2 (bad
/// HostData), 3 (NATS) or 1 (refused by the provider).
///
/// ```no_run
/// # struct MyProvider;
/// # impl lattice_provider::Provider for MyProvider {
/// #     const CONTRACT_ID: &'static str = "example:x";
/// #     async fn handle(&self, _: &lattice_provider::ProviderContext, _: &lattice_provider::LinkDefinition,
/// #         c: lattice_provider::Request) -> Result<Vec<u8>, lattice_provider::HandlerError> { Ok(c.msg) }
/// # }
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     lattice_provider::run(MyProvider).await
/// }
/// ```
pub async fn run<P: Provider>(provider: P) -> ExitCode {
    run_with(provider, RunOptions::default()).await
}

/// [`run`] with options.
pub async fn run_with<P: Provider>(provider: P, options: RunOptions) -> ExitCode {
    let host_data = match LoadedHostData::from_stdin().await {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let telemetry = logging::telemetry(host_data.raw());
    let code = match serve(provider, host_data, options, termination()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    };
    // Export the last spans before the process exits (off the async workers: the
    // exporter's shutdown blocks until its thread is done).
    drop(tokio::task::spawn_blocking(move || telemetry.shutdown()).await);
    code
}

fn fail(e: &ProviderError) -> ExitCode {
    eprintln!("error: {}", lattice_proto::chain(e));
    ExitCode::from(e.exit_code())
}

/// Completes on SIGTERM or SIGINT.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %lattice_proto::chain(&e), "cannot listen for SIGTERM; only SIGINT stops this provider");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Open the RPC connection described by HostData (through the one connect helper).
async fn connect(host_data: &LoadedHostData) -> Result<lattice_rpc::Nats, ProviderError> {
    let raw = host_data.raw();
    let url = host_data.nats_url().to_owned();
    let name = format!("lattice-provider {} {}", host_data.valid().provider_key, host_data.valid().link_name);
    let auth = NatsAuth::from_jwt_and_seed(&raw.lattice_rpc_user_jwt, &raw.lattice_rpc_user_seed).map_err(|e| {
        ProviderError::HostData(lattice_proto::DecodeError::Invalid {
            what: "lattice_rpc_user_jwt",
            reason: lattice_proto::chain(&e),
        })
    })?;
    let nats = NatsOptions::new(&url)
        .auth(auth)
        .name(name)
        .connect()
        .await
        .map_err(|e| ProviderError::Connect { url, source: e.into() })?;
    Ok(nats)
}

/// Serve `provider` with `host_data` until `shutdown` completes or the host sends
/// `.shutdown`; then drain and return. The caller owns logging and the process; this is
/// what [`run`] calls after reading stdin, and what an embedding program or a test calls.
pub async fn serve<P: Provider>(
    provider: P,
    host_data: LoadedHostData,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProviderError> {
    let v = host_data.valid().clone();
    let conn = connect(&host_data).await?;
    let nats = conn.client.clone();
    // Calls to actors fail at once while the connection is down (issue 17).
    let client = RpcClient::builder(nats.clone(), v.lattice.clone(), v.invocation_seed.clone(), v.host_id.clone())
        .timeout(host_data.rpc_timeout())
        .connection_state(conn.state.clone())
        .build();
    let ctx = ProviderContext::new(host_data, P::CONTRACT_ID, nats.clone(), client);
    let provider = Arc::new(provider);
    provider.init(&ctx).await?;

    let sub = |s: subject::Subject| {
        let nats = nats.clone();
        async move { nats.subscribe(s.into_string()).await.map_err(|e| ProviderError::nats("subscribe", e)) }
    };
    let puts = sub(subject::linkdefs_put(&v.lattice, &v.provider_key, &v.link_name)).await?;
    let dels = sub(subject::linkdefs_del(&v.lattice, &v.provider_key, &v.link_name)).await?;
    let mut health = sub(subject::health(&v.lattice, &v.provider_key, &v.link_name)).await?;
    let mut stop = sub(subject::shutdown(&v.lattice, &v.provider_key, &v.link_name)).await?;

    let initial: Vec<LinkDefinition> = ctx.loaded().own_links().cloned().collect();
    for ld in initial {
        link_worker::apply_put(&*provider, &ctx, ld, options.max_links).await;
    }
    let limits = LinkLimits { max_links: options.max_links, confirm_wait: options.link_confirm_wait };
    let link_task = tokio::spawn(link_worker::run(provider.clone(), ctx.clone(), puts, dels, limits));

    let served = Served::Provider {
        key: v.provider_key.clone(),
        link: v.link_name.clone(),
        contract: Some(P::CONTRACT_ID.to_owned()),
    };
    if v.cluster_issuers.is_empty() {
        tracing::warn!("HostData lists no cluster_issuers: every invocation will be rejected");
    }
    let issuers = TrustedIssuers::new(v.cluster_issuers.iter());
    let server = RpcServer::builder(nats.clone(), v.lattice.clone(), issuers, served)
        .max_in_flight(options.max_in_flight)
        .start(SdkHandler { provider: provider.clone(), ctx: ctx.clone() })
        .await?;
    nats.flush().await.map_err(|e| ProviderError::nats("flush", e))?;
    let health_tasks = TaskTracker::new();
    if let Some(addr) = crate::metrics::configured_addr(ctx.loaded().raw().config_json.as_deref()) {
        match crate::metrics::start(addr, ctx.clone(), server.metrics(), &health_tasks, ctx.stopping().clone()).await {
            Ok(bound) => tracing::info!(address = %bound, "serving Prometheus metrics on /metrics"),
            Err(e) => tracing::warn!(%addr, error = %lattice_proto::chain(&e), "cannot serve metrics"),
        }
    }
    tracing::info!(
        provider = %v.provider_key,
        link_name = %v.link_name,
        contract = P::CONTRACT_ID,
        lattice = %v.lattice,
        links = ctx.links().len(),
        "provider ready"
    );

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            m = health.next() => match m {
                Some(m) => {
                    let (provider, ctx, nats) = (provider.clone(), ctx.clone(), nats.clone());
                    health_tasks.spawn(async move {
                        let answer = provider.health(&ctx).await;
                        if !answer.healthy {
                            tracing::warn!(message = answer.message.as_deref().unwrap_or(""), "reporting unhealthy");
                        }
                        if let Some(reply) = m.reply
                            && let Err(e) = nats.publish(reply, answer.encode().into()).await
                        {
                            tracing::warn!(error = %lattice_proto::chain(&e), "could not answer a health check");
                        }
                    });
                }
                None => break,
            },
            m = stop.next() => match m {
                Some(m) => {
                    let request = ShutdownRequest::decode(&m.payload);
                    if request.host_id != v.host_id.as_str() {
                        tracing::debug!(host_id = %request.host_id, "ignoring a shutdown request for another host");
                        continue;
                    }
                    tracing::info!("shutdown requested by the host");
                    if let Some(reply) = m.reply {
                        if let Err(e) = nats.publish(reply, SHUTDOWN_REPLY.into()).await {
                            tracing::warn!(error = %lattice_proto::chain(&e), "could not answer the shutdown request");
                        }
                        let _ = nats.flush().await;
                    }
                    break;
                }
                None => break,
            },
        }
    }

    // Stop: no more calls, links, health checks; let what runs finish.
    ctx.stopping().cancel();
    for s in [&mut health, &mut stop] {
        let _ = s.unsubscribe().await;
    }
    let grace = options.shutdown_grace;
    // The link worker stops on `stopping`; a put_link hook it is inside gets the grace period.
    let link_abort = link_task.abort_handle();
    if tokio::time::timeout(grace, link_task).await.is_err() {
        link_abort.abort();
        tracing::warn!(?grace, "the link worker did not stop within the grace period");
    }
    if !server.shutdown_with_grace(grace).await {
        tracing::warn!(?grace, "calls still running after the grace period were cancelled");
    }
    health_tasks.close();
    let _ = tokio::time::timeout(grace, health_tasks.wait()).await;
    let teardown = async {
        let links = ctx.with_links(|t| t.drain());
        for ld in links {
            provider.delete_link(&ctx, &ld).await;
        }
        provider.shutdown(&ctx).await;
    };
    if tokio::time::timeout(grace, teardown).await.is_err() {
        tracing::warn!(?grace, "link teardown and provider shutdown did not finish within the grace period");
    }
    let _ = nats.flush().await;
    tracing::info!("provider stopped");
    Ok(())
}

/// The RPC handler: refuses unlinked callers, then runs the provider's own handler.
struct SdkHandler<P> {
    provider: Arc<P>,
    ctx: ProviderContext,
}

/// The `error` text for a call from an actor with no link (a rejection: the handler did
/// not run; Lattice callers see `RpcError::Rejected` of kind `not_linked`).
pub(crate) fn not_linked_error(actor: &str) -> String {
    format!("{REJECTED_PREFIX}not_linked]: Actor {actor} is not linked to this provider")
}

impl<P: Provider> Handler for SdkHandler<P> {
    async fn handle(&self, request: Request) -> Result<Vec<u8>, HandlerError> {
        let Some(link) = self.ctx.link(&request.origin.public_key) else {
            tracing::warn!(origin = %request.origin.public_key, operation = %request.operation, "refusing a call from an unlinked actor");
            return Err(HandlerError::new(not_linked_error(&request.origin.public_key)));
        };
        self.provider.handle(&self.ctx, &link, request).await
    }
}
