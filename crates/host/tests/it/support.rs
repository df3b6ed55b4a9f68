//! Shared helpers: compile WAT, sign it, start it on a runtime, fake host calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lattice_host::actor::{Actor, ActorRuntime, BoxFuture, HostCall, HostCallError, HostCalls, RuntimeConfig};
use lattice_host::claims::{self, SignOptions};
use lattice_proto::WasmCloudEntity;
use nkeys::KeyPair;

pub(crate) const NOW: u64 = 1_700_000_000;

/// One runtime for the whole test binary (as a host has one).
pub(crate) fn runtime() -> &'static ActorRuntime {
    static RT: OnceLock<ActorRuntime> = OnceLock::new();
    RT.get_or_init(|| ActorRuntime::new(RuntimeConfig::default()).expect("runtime"))
}

/// A runtime with a short call timeout, for the endless-loop test.
pub(crate) fn short_timeout_runtime() -> &'static ActorRuntime {
    static RT: OnceLock<ActorRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        ActorRuntime::new(RuntimeConfig {
            call_timeout: Duration::from_millis(300),
            max_instances_total: 16,
            ..RuntimeConfig::default()
        })
        .expect("runtime")
    })
}

pub(crate) fn actor_wat(name: &str) -> String {
    let path = format!("{}/../../actors/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(crate) fn compile(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid WAT")
}

pub(crate) struct Signed {
    pub(crate) wasm: Vec<u8>,
    pub(crate) module_key: KeyPair,
    pub(crate) account: KeyPair,
}

pub(crate) fn sign_with(wasm: &[u8], opts: &SignOptions) -> Signed {
    let module_key = KeyPair::new_module();
    let account = KeyPair::new_account();
    let wasm = claims::sign(wasm, opts, &module_key, &account, NOW).expect("sign");
    Signed { wasm, module_key, account }
}

pub(crate) fn sign(wasm: &[u8], name: &str, caps: &[&str]) -> Signed {
    let opts =
        SignOptions { name: name.into(), caps: caps.iter().map(|c| (*c).to_owned()).collect(), ..Default::default() };
    sign_with(wasm, &opts)
}

/// Sign and start `wasm` on the shared runtime.
pub(crate) fn start(wasm: &[u8], host: Arc<dyn HostCalls>, max_instances: u32) -> Actor {
    let signed = sign(wasm, "test", &[]);
    runtime().load_at(&signed.wasm, NOW).expect("load").start(host, max_instances)
}

pub(crate) fn provider_origin() -> WasmCloudEntity {
    WasmCloudEntity::provider(
        &lattice_proto::ProviderKey::parse(&KeyPair::new_service().public_key()).unwrap(),
        &lattice_proto::LinkName::new("default").unwrap(),
        "wasmcloud:httpserver",
    )
}

/// The HttpResponse prefix echo and counter answer with, before the bin32 length.
pub(crate) const RESPONSE_PREFIX: &[u8] = b"\x83\xaastatusCode\xcc\xc8\xa6header\x80\xa4body\xc6";

/// Everything a fake host saw.
#[derive(Default)]
pub(crate) struct Recorded {
    pub(crate) calls: Mutex<Vec<HostCall>>,
}

type Responder = dyn Fn(&HostCall) -> Result<Vec<u8>, String> + Send + Sync;

/// A fake [`HostCalls`]: records every call and answers with `respond`, optionally after a
/// delay (tracking how many calls overlap).
pub(crate) struct FakeHost {
    pub(crate) recorded: Arc<Recorded>,
    respond: Box<Responder>,
    delay: Option<Duration>,
    pub(crate) concurrent: AtomicUsize,
    pub(crate) max_concurrent: AtomicUsize,
}

impl FakeHost {
    pub(crate) fn new(respond: impl Fn(&HostCall) -> Result<Vec<u8>, String> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            recorded: Arc::default(),
            respond: Box::new(respond),
            delay: None,
            concurrent: AtomicUsize::new(0),
            max_concurrent: AtomicUsize::new(0),
        })
    }

    pub(crate) fn with_delay(
        delay: Duration,
        respond: impl Fn(&HostCall) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            recorded: Arc::default(),
            respond: Box::new(respond),
            delay: Some(delay),
            concurrent: AtomicUsize::new(0),
            max_concurrent: AtomicUsize::new(0),
        })
    }

    pub(crate) fn calls(&self) -> Vec<HostCall> {
        self.recorded.calls.lock().unwrap().clone()
    }
}

impl HostCalls for FakeHost {
    fn host_call(&self, call: HostCall) -> BoxFuture<'_, Result<Vec<u8>, HostCallError>> {
        Box::pin(async move {
            let now = self.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_concurrent.fetch_max(now, Ordering::SeqCst);
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            let result = (self.respond)(&call).map_err(HostCallError::Failed);
            self.recorded.calls.lock().unwrap().push(call);
            self.concurrent.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}
