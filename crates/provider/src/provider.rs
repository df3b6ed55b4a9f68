//! The [`Provider`] trait: the one thing a provider author implements.
//!
//! Only [`Provider::handle`] and [`Provider::CONTRACT_ID`] are required; every other hook
//! has a default that suits a stateless provider. Every hook gets the
//! [`ProviderContext`]: the provider's identity, its NATS connection, its link table and a
//! client for calls to actors.
//!
//! The SDK calls the hooks in this order: [`Provider::init`] once; [`Provider::put_link`]
//! for each link in HostData, then for each `.linkdefs.put`; [`Provider::handle`] for
//! verified calls from linked actors (concurrently); [`Provider::delete_link`] on
//! `.linkdefs.del`; [`Provider::health`] on each `.health`. On shutdown: in-flight calls
//! drain, [`Provider::delete_link`] runs for every remaining link, then
//! [`Provider::shutdown`] once. Link hooks run one at a time, in arrival order.

use std::future::Future;

use lattice_proto::{HealthCheckResponse, LinkDefinition};
use lattice_rpc::{HandlerError, Request};

use crate::context::ProviderContext;
use crate::error::ProviderError;

/// A capability provider.
///
/// ```no_run
/// use lattice_provider::{HandlerError, LinkDefinition, Provider, ProviderContext, Request};
///
/// struct Echo;
///
/// impl Provider for Echo {
///     const CONTRACT_ID: &'static str = "example:echo";
///
///     async fn handle(&self, _: &ProviderContext, _: &LinkDefinition, call: Request) -> Result<Vec<u8>, HandlerError> {
///         Ok(call.msg)
///     }
/// }
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     lattice_provider::run(Echo).await
/// }
/// ```
pub trait Provider: Send + Sync + 'static {
    /// The contract this provider implements, e.g. `wasmcloud:keyvalue`. It is the
    /// `contract_id` of the provider's entity: invocations must name it in their target,
    /// and the provider's own calls to actors carry it in their origin.
    const CONTRACT_ID: &'static str;

    /// Handle one call from a linked actor. The SDK has already verified the call's claims
    /// (trusted issuer, signature, hash, target, replay) and that `call.origin` is linked;
    /// `link` is that actor's link. `Ok` is the response body; `Err`'s text becomes the
    /// response's `error`.
    fn handle(
        &self,
        ctx: &ProviderContext,
        link: &LinkDefinition,
        call: Request,
    ) -> impl Future<Output = Result<Vec<u8>, HandlerError>> + Send;

    /// Called once after the RPC connection is open and before any link or call.
    /// An error stops the provider (exit code 1).
    fn init(&self, ctx: &ProviderContext) -> impl Future<Output = Result<(), ProviderError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// A link for this provider arrived (from HostData or `.linkdefs.put`). Set up what the
    /// actor needs (a listener, a bucket). `Err` refuses the link: it is logged with the
    /// reason and the actor stays unlinked (its calls are rejected).
    fn put_link(
        &self,
        ctx: &ProviderContext,
        link: &LinkDefinition,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send {
        let _ = (ctx, link);
        async { Ok(()) }
    }

    /// A link was removed (`.linkdefs.del`, or during shutdown). The actor is already out
    /// of the link table: its new calls are rejected. Release what `put_link` set up.
    fn delete_link(&self, ctx: &ProviderContext, link: &LinkDefinition) -> impl Future<Output = ()> + Send {
        let _ = (ctx, link);
        async {}
    }

    /// Answer a health check (default: healthy). Return
    /// [`HealthCheckResponse::unhealthy`] with a message to report a problem.
    fn health(&self, ctx: &ProviderContext) -> impl Future<Output = HealthCheckResponse> + Send {
        let _ = ctx;
        async { HealthCheckResponse::healthy() }
    }

    /// The provider is stopping: calls have drained and every link was deleted
    /// ([`Provider::delete_link`]). Flush and close what is left.
    fn shutdown(&self, ctx: &ProviderContext) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }
}
