//! A `wasmcloud:messaging` capability provider on the Lattice provider SDK: what an actor
//! publishes goes to NATS (the lattice's own connection), as the 0.82 NATS messaging
//! provider does.
//!
//! Operations (wasmcloud-interface-messaging 0.7 wire shapes, msgpack):
//! - `Messaging.Publish` with `PubMessage { subject, replyTo?, body }`: published to
//!   `subject` (with `replyTo` as the reply subject when set); answers nothing.
//! - anything else (`Messaging.Request` included) is refused with an error.
//!
//! Each publish is also logged on stderr (`messaging-provider: publish subject=… bytes=…`).
//! The interop suite runs it next to wascap's real `echo_messaging` actor. Subscriptions
//! (`MessageSubscriber.HandleMessage` towards actors) are not implemented: it is an example.

use std::process::ExitCode;

use lattice_provider::{HandlerError, LinkDefinition, Provider, ProviderContext, Request};
use serde::Deserialize;

/// `wasmcloud_interface_messaging::PubMessage`.
#[derive(Deserialize)]
struct PubMessage {
    subject: String,
    #[serde(rename = "replyTo", default)]
    reply_to: Option<String>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

struct Messaging;

impl Provider for Messaging {
    const CONTRACT_ID: &'static str = "wasmcloud:messaging";

    async fn handle(&self, ctx: &ProviderContext, _: &LinkDefinition, call: Request) -> Result<Vec<u8>, HandlerError> {
        match call.operation.as_str() {
            "Messaging.Publish" => {
                let msg: PubMessage = rmp_serde::from_slice(&call.msg).map_err(HandlerError::new)?;
                eprintln!("messaging-provider: publish subject={} bytes={}", msg.subject, msg.body.len());
                let nats = ctx.nats();
                let sent = match msg.reply_to {
                    Some(reply) => nats.publish_with_reply(msg.subject, reply, msg.body.into()).await,
                    None => nats.publish(msg.subject, msg.body.into()).await,
                };
                sent.map_err(HandlerError::new)?;
                Ok(Vec::new())
            }
            other => Err(HandlerError::new(format!("unsupported operation {other}"))),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider::run(Messaging).await
}
