//! `interop-echo-provider`: a capability provider written with the REAL
//! `wasmcloud-provider-sdk` 0.2.0 (the SDK of wasmCloud 0.82), for the interop suite.
//!
//! Contract `example:echo`. Operations:
//! - `Echo.Echo`: answers `echo {actor}: {msg}` — the actor is the invocation's origin as
//!   the SDK saw it after its own validation (cluster issuer, target key, origin linked);
//! - `Echo.Link`: answers the JSON values of the calling actor's link;
//! - anything else fails the call.
//!
//! Every life-cycle step is one stderr line starting `interop-echo:` (a Lattice host forwards
//! provider output to its log), so tests wait on lines rather than sleeping.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use wasmcloud_provider_sdk::core::{HealthCheckRequest, HealthCheckResponse, LinkDefinition};
use wasmcloud_provider_sdk::error::ProviderInvocationError;
use wasmcloud_provider_sdk::{Context, MessageDispatch, Provider, ProviderHandler};

#[derive(Clone, Default)]
struct Echo {
    links: Arc<Mutex<HashMap<String, HashMap<String, String>>>>,
}

#[async_trait]
impl MessageDispatch for Echo {
    async fn dispatch<'a>(
        &'a self,
        ctx: Context,
        method: String,
        body: Cow<'a, [u8]>,
    ) -> Result<Vec<u8>, ProviderInvocationError> {
        let actor = ctx.actor.unwrap_or_default();
        eprintln!("interop-echo: call {method} from {actor} ({} bytes)", body.len());
        match method.as_str() {
            "Echo.Echo" => {
                let mut out = format!("echo {actor}: ").into_bytes();
                out.extend_from_slice(&body);
                Ok(out)
            }
            "Echo.Link" => {
                let links = self.links.lock().unwrap();
                Ok(serde_json::to_vec(&links.get(&actor)).unwrap())
            }
            other => Err(ProviderInvocationError::Provider(format!("interop-echo: no operation {other}"))),
        }
    }
}

#[async_trait]
impl ProviderHandler for Echo {
    async fn put_link(&self, ld: &LinkDefinition) -> bool {
        let values: std::collections::BTreeMap<_, _> = ld.values.iter().map(|(k, v)| (k, v)).collect();
        eprintln!(
            "interop-echo: put_link actor={} contract={} link={} values={}",
            ld.actor_id,
            ld.contract_id,
            ld.link_name,
            serde_json::to_string(&values).unwrap()
        );
        self.links.lock().unwrap().insert(ld.actor_id.clone(), ld.values.clone().into_iter().collect());
        true
    }

    async fn delete_link(&self, actor_id: &str) {
        eprintln!("interop-echo: delete_link actor={actor_id}");
        self.links.lock().unwrap().remove(actor_id);
    }

    async fn health_request(&self, _arg: &HealthCheckRequest) -> HealthCheckResponse {
        eprintln!("interop-echo: health");
        HealthCheckResponse { healthy: true, message: None }
    }

    async fn shutdown(&self) {
        eprintln!("interop-echo: shutdown");
    }
}

impl Provider for Echo {}

fn main() {
    let host_data = match wasmcloud_provider_sdk::load_host_data() {
        Ok(data) => data,
        Err(e) => {
            eprintln!("interop-echo: bad host data: {e}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "interop-echo: host data host_id={} provider_key={} link_name={} lattice={} issuers={}",
        host_data.host_id,
        host_data.provider_key,
        host_data.link_name,
        host_data.lattice_rpc_prefix,
        host_data.cluster_issuers.join(",")
    );
    match wasmcloud_provider_sdk::start_provider(Echo::default(), Some("interop-echo".into())) {
        Ok(()) => eprintln!("interop-echo: exited cleanly"),
        Err(e) => {
            eprintln!("interop-echo: failed: {e}");
            std::process::exit(1);
        }
    }
}
