//! A round-trip barrier on a NATS connection: "the server has processed everything this
//! connection sent so far".
//!
//! async-nats' `Client::flush` only writes the client's buffer to the socket; it does not
//! wait for the server (no PING/PONG). A subscription made just before a `flush` may
//! therefore not be registered yet when another connection publishes, and that publish
//! gets "no responders". [`round_trip`] closes that gap: it publishes a message to a
//! fresh inbox this connection subscribes to and waits for it to come back. The server
//! handles one connection's protocol messages in order, so once the message is back every
//! earlier `SUB` is in effect.

use std::time::Duration;

use futures::StreamExt;

use crate::error::RpcError;

/// How long [`round_trip`] waits for its message to come back.
pub const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait until the NATS server has processed everything `nats` sent before this call
/// (subscriptions in particular).
pub async fn round_trip(nats: &async_nats::Client) -> Result<(), RpcError> {
    let inbox = nats.new_inbox();
    let mut echo = nats.subscribe(inbox.clone()).await.map_err(|e| RpcError::nats("subscribe", e))?;
    nats.publish(inbox.clone(), Vec::new().into()).await.map_err(|e| RpcError::nats("publish", e))?;
    match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(RpcError::nats("round trip", "the connection closed")),
        Err(_) => Err(RpcError::Timeout { subject: inbox, after: ROUND_TRIP_TIMEOUT }),
    }
}
