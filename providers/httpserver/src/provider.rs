//! [`HttpServerProvider`]: the provider hooks — a listener per link, nothing callable.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use lattice_provider::{
    DEFAULT_SHUTDOWN_GRACE, HandlerError, LinkDefinition, Provider, ProviderContext, ProviderError, Request,
};

use crate::listener::Listener;
use crate::settings::Settings;

/// The `wasmcloud:httpserver` provider: one [`Listener`] per linked actor.
#[derive(Debug, Default)]
pub(crate) struct HttpServerProvider {
    listeners: Mutex<HashMap<String, Listener>>,
}

impl Provider for HttpServerProvider {
    const CONTRACT_ID: &'static str = "wasmcloud:httpserver";

    async fn handle(&self, _: &ProviderContext, _: &LinkDefinition, call: Request) -> Result<Vec<u8>, HandlerError> {
        // The contract has no operations actors call: requests flow provider → actor.
        Err(HandlerError::new(format!("operation {} is not supported by wasmcloud:httpserver", call.operation)))
    }

    async fn put_link(&self, ctx: &ProviderContext, link: &LinkDefinition) -> Result<(), ProviderError> {
        let settings = Settings::from_values(&link.values)
            .map_err(|e| ProviderError::refused(format!("invalid httpserver link values: {e}")))?;
        let address = settings.address;
        let listener = Listener::start(ctx.clone(), link.actor_id.clone(), settings)
            .await
            .map_err(|e| ProviderError::refused(format!("cannot listen on {address}: {e}")))?;
        tracing::debug!(actor = %link.actor_id, address = %listener.address(), "listener registered");
        let old = self.listeners.lock().unwrap_or_else(PoisonError::into_inner).insert(link.actor_id.clone(), listener);
        if let Some(old) = old {
            old.stop(DEFAULT_SHUTDOWN_GRACE).await;
        }
        Ok(())
    }

    async fn delete_link(&self, _: &ProviderContext, link: &LinkDefinition) {
        let listener = self.listeners.lock().unwrap_or_else(PoisonError::into_inner).remove(&link.actor_id);
        if let Some(listener) = listener {
            listener.stop(DEFAULT_SHUTDOWN_GRACE).await;
        }
    }
}
