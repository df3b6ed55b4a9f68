//! Core-wasm actors on wasmtime, speaking the wasmCloud 0.82 `wasmbus` ABI.
//!
//! Three types, from long-lived to per-call:
//!
//! - [`ActorRuntime`]: one per host. Owns the wasmtime `Engine` (pooling instance allocator,
//!   epoch interruption), the `Linker` with the nine `wasmbus` imports (built once), and a
//!   cache of compiled modules keyed by module hash, so scaling an actor or starting the
//!   same module twice never compiles again.
//! - [`ActorModule`]: a module whose claims passed [`crate::claims::verify`], compiled and
//!   **pre-linked** (`InstancePre`): creating an instance only allocates a slot from the
//!   pool and maps the memory image copy-on-write.
//! - [`Actor`]: a module started with a [`HostCalls`] for its outgoing calls and a
//!   `max_instances` bound. [`Actor::call`] runs one invocation.
//!
//! ## Instance model (as 0.82)
//! Every call gets a **fresh instance**: no wasm state (globals, memory, tables) survives
//! from one call to the next, so concurrent calls cannot see each other and a trapped
//! call cannot poison the next one. Actors that need state keep it in a provider (e.g.
//! `wasmcloud:keyvalue`). With the pooling allocator and `InstancePre` a fresh instance
//! costs a few microseconds, which is why reuse is not worth its risks.
//!
//! ## Concurrency and bounds
//! [`Actor::call`] is an `async fn` that is `Send` and needs only `&self`: a host runs
//! each incoming invocation on its own tokio task, so calls spread over every worker
//! thread (every core). At most `max_instances` calls of one actor run at once (a
//! semaphore; more wait). wasm runs on the calling task via wasmtime's async support: it
//! yields to the scheduler at every epoch tick (default 10 ms) and is interrupted once it
//! has run past the call timeout, and an outgoing `__host_call` awaits its future without
//! blocking a thread. [`Actor::call`] needs a tokio runtime with timers enabled.
//!
//! ## WASI modules
//! Modules importing `wasi_snapshot_preview1` get WASI preview 1 (module `wasi`): TinyGo
//! style (`_start` and `__guest_call`: `_start` runs on each fresh instance before
//! `__guest_call`) and command style (`_start` only: operation as `argv[1]`, request on
//! stdin, response from stdout). Plain wasmbus modules link without WASI and pay nothing
//! for it.
//!
//! ## What is not supported
//! Components, WASI preview 2, and the legacy `wapc` import module.

mod abi;
mod builtin;
mod error;
mod host_call;
mod wasi;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lattice_proto::{ActorKey, WasmCloudEntity};
use tokio::sync::Semaphore;
use tracing::Instrument;
use wasmtime::{
    Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module, ModuleExport, OptLevel,
    PoolingAllocationConfig, Store, StoreLimitsBuilder, Trap, UpdateDeadline, ValType,
};

pub use abi::{AbiViolation, ERROR, SUCCESS, WASMBUS};
pub use builtin::{LOGGING, NUMBERGEN};
pub use error::{CallError, HostCallError, LoadError};
pub use host_call::{BoxFuture, CallTarget, HostCall, HostCalls, NoHostCalls};
pub use wasi::{ARGV0 as WASI_ARGV0, WASI_PREVIEW1};

use crate::claims::{self, SharedClaims, VerifiedClaims};
use abi::CallState;

/// Settings of an [`ActorRuntime`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Use wasmtime's pooling instance allocator (pre-reserved slots for instances,
    /// memories, tables and async stacks). If the pool cannot be reserved (e.g. a tight
    /// virtual-memory limit), the runtime falls back to on-demand allocation and
    /// [`ActorRuntime::is_pooling`] says so.
    pub pooling: bool,
    /// Instances that may exist at once across all actors of this runtime (the pool size):
    /// keep it at least the sum of the actors' `max_instances`.
    pub max_instances_total: u32,
    /// Largest linear memory one instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Longest a single call may run, host calls included.
    pub call_timeout: Duration,
    /// How often running wasm yields to the scheduler (the epoch tick).
    pub epoch_tick: Duration,
    /// Largest wasm stack, in bytes (deep recursion traps with a stack overflow).
    pub max_wasm_stack: usize,
    /// Pooling only: bytes of a reused memory slot kept resident and reset with `memset`
    /// instead of being returned to the OS. Larger is faster for actors that touch that
    /// much memory per call, at the cost of up to this much RSS per warm slot.
    pub memory_keep_resident: usize,
    /// Largest response a command-style WASI actor may write to stdout (the max body
    /// size); more fails the call with [`CallError::ResponseTooLarge`].
    pub max_body_bytes: usize,
    /// WASI actors: bytes of stdout/stderr kept for the host log per stream per call.
    pub max_log_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances_total: 1000,
            max_memory_bytes: 256 << 20,
            call_timeout: Duration::from_secs(10),
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 512 << 10,
            memory_keep_resident: 128 << 10,
            max_body_bytes: 16 << 20,
            max_log_bytes: 16 << 10,
        }
    }
}

/// A compiled, pre-linked module plus the export indices a call needs.
struct Compiled {
    pre: InstancePre<CallState>,
    /// `None`: a command-style module (`_start` only).
    guest_call: Option<ModuleExport>,
    start: Option<ModuleExport>,
    memory: ModuleExport,
    /// Linked with WASI: each call builds a WASI context.
    wasi: bool,
}

struct RuntimeInner {
    engine: Engine,
    /// The `wasmbus` imports only: plain modules.
    linker: Linker<CallState>,
    /// `wasmbus` plus WASI preview 1: modules that import WASI, command-style modules.
    wasi_linker: Linker<CallState>,
    config: RuntimeConfig,
    pooling: bool,
    /// Compiled modules by module hash; entries die with the last actor using them.
    cache: Mutex<HashMap<String, Weak<Compiled>>>,
}

/// The host's wasm engine: compiles, verifies and caches actor modules.
///
/// Cheap to clone (an `Arc`). Dropping the last clone (and every module loaded from it)
/// stops its epoch thread within one tick.
#[derive(Clone)]
pub struct ActorRuntime {
    inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for ActorRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorRuntime")
            .field("config", &self.inner.config)
            .field("pooling", &self.inner.pooling)
            .finish()
    }
}

fn engine_config(config: &RuntimeConfig, pooling: bool) -> wasmtime::Config {
    let mut cfg = wasmtime::Config::new();
    cfg.epoch_interruption(true);
    cfg.max_wasm_stack(config.max_wasm_stack);
    cfg.cranelift_opt_level(OptLevel::Speed);
    if pooling {
        let n = config.max_instances_total.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .max_memory_size(config.max_memory_bytes)
            .linear_memory_keep_resident(config.memory_keep_resident)
            .table_keep_resident(16 << 10);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
}

impl ActorRuntime {
    /// Create the engine, the linker and the epoch thread.
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        let (engine, pooling) = if config.pooling {
            match Engine::new(&engine_config(&config, true)) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable, falling back to on-demand allocation");
                    (Engine::new(&engine_config(&config, false)).map_err(|e| LoadError::Engine(e.to_string()))?, false)
                }
            }
        } else {
            (Engine::new(&engine_config(&config, false)).map_err(|e| LoadError::Engine(e.to_string()))?, false)
        };
        let (linker, wasi_linker) = linkers(&engine)?;
        spawn_epoch_ticker(&engine, config.epoch_tick)?;
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                wasi_linker,
                config,
                pooling,
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Verify `wasm`'s claims against the system clock, then compile it (or reuse the
    /// cached compilation). CPU-heavy on a cache miss: call it from a blocking context
    /// (`spawn_blocking`) in an async host.
    pub fn load(&self, wasm: &[u8]) -> Result<ActorModule, LoadError> {
        self.load_at(wasm, unix_now())
    }

    /// [`Self::load`] with an explicit clock (seconds since the Unix epoch).
    pub fn load_at(&self, wasm: &[u8], now: u64) -> Result<ActorModule, LoadError> {
        let claims = claims::verify(wasm, now)?;
        let compiled = self.compiled(&claims.metadata().hash, wasm)?;
        Ok(ActorModule { inner: Arc::new(ModuleInner { claims: Arc::new(claims), compiled, runtime: self.clone() }) })
    }

    /// How many compiled modules are cached and alive.
    pub fn cached_modules(&self) -> usize {
        self.lock_cache().values().filter(|w| w.strong_count() > 0).count()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Compiled>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn compiled(&self, hash: &str, wasm: &[u8]) -> Result<Arc<Compiled>, LoadError> {
        if let Some(c) = self.lock_cache().get(hash).and_then(Weak::upgrade) {
            return Ok(c);
        }
        let compiled = Arc::new(self.compile(wasm)?);
        let mut cache = self.lock_cache();
        cache.retain(|_, w| w.strong_count() > 0);
        // Another thread may have compiled the same module meanwhile: keep one.
        if let Some(c) = cache.get(hash).and_then(Weak::upgrade) {
            return Ok(c);
        }
        cache.insert(hash.to_owned(), Arc::downgrade(&compiled));
        Ok(compiled)
    }

    fn compile(&self, wasm: &[u8]) -> Result<Compiled, LoadError> {
        let module = Module::new(&self.inner.engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let exports = abi_exports(&module)?;
        let wasi = exports.guest_call.is_none() || wasi::imports_wasi(&module);
        let linker = if wasi { &self.inner.wasi_linker } else { &self.inner.linker };
        let pre = linker.instantiate_pre(&module).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        Ok(Compiled { pre, guest_call: exports.guest_call, start: exports.start, memory: exports.memory, wasi })
    }
}

/// The plain `wasmbus` linker and the one with WASI preview 1 added.
fn linkers(engine: &Engine) -> Result<(Linker<CallState>, Linker<CallState>), LoadError> {
    let mut linker = Linker::new(engine);
    abi::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(e.to_string()))?;
    let mut wasi_linker = Linker::new(engine);
    abi::add_to_linker(&mut wasi_linker).map_err(|e| LoadError::Engine(e.to_string()))?;
    wasi::add_to_linker(&mut wasi_linker).map_err(|e| LoadError::Engine(e.to_string()))?;
    Ok((linker, wasi_linker))
}

/// Check, without claims and without a runtime, that `wasm` is a valid module that fits the
/// `wasmbus` ABI and links against the host (what `lattice claims sign` checks before
/// signing). Compiles the module once: milliseconds for a small actor.
pub fn check_module(wasm: &[u8]) -> Result<(), LoadError> {
    let engine = Engine::new(&wasmtime::Config::new()).map_err(|e| LoadError::Engine(e.to_string()))?;
    let module = Module::new(&engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    let exports = abi_exports(&module)?;
    let (linker, wasi_linker) = linkers(&engine)?;
    let linker = if exports.guest_call.is_none() || wasi::imports_wasi(&module) { &wasi_linker } else { &linker };
    linker.instantiate_pre(&module).map_err(|e| LoadError::Link(format!("{e:#}")))?;
    Ok(())
}

struct AbiExports {
    /// `None`: command style (`_start` only).
    guest_call: Option<ModuleExport>,
    start: Option<ModuleExport>,
    memory: ModuleExport,
}

/// `memory` and at least one of `__guest_call(i32, i32) -> i32` and `_start: () -> ()`
/// are required. Both: `_start` runs before `__guest_call` (TinyGo); `_start` only: a
/// WASI command-style module.
fn abi_exports(module: &Module) -> Result<AbiExports, LoadError> {
    let guest_call = check_export(module, "__guest_call", |ty| {
        matches!(ty, ExternType::Func(f)
            if f.params().map(|p| matches!(p, ValType::I32)).eq([true, true])
                && f.results().map(|r| matches!(r, ValType::I32)).eq([true]))
    });
    let start = check_export(
        module,
        "_start",
        |ty| matches!(ty, ExternType::Func(f) if f.params().len() == 0 && f.results().len() == 0),
    );
    if guest_call.is_none() && start.is_none() {
        return Err(LoadError::Abi("the module exports no `__guest_call(i32, i32) -> i32` (nor `_start`)".into()));
    }
    let memory = check_export(module, "memory", |ty| matches!(ty, ExternType::Memory(_)))
        .ok_or_else(|| LoadError::Abi("the module does not export its `memory`".into()))?;
    Ok(AbiExports { guest_call, start, memory })
}

/// The export `name` if it exists and `fits`.
fn check_export(module: &Module, name: &str, fits: impl Fn(&ExternType) -> bool) -> Option<ModuleExport> {
    let ty = module.get_export(name)?;
    if !fits(&ty) {
        return None;
    }
    module.get_export_index(name)
}

fn spawn_epoch_ticker(engine: &Engine, tick: Duration) -> Result<(), LoadError> {
    let weak = engine.weak();
    let tick = tick.max(Duration::from_millis(1));
    std::thread::Builder::new()
        .name("lattice-wasm-epoch".into())
        .spawn(move || {
            // Ends by itself once the engine is gone.
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
        .map_err(|e| LoadError::Engine(format!("failed to start the epoch thread: {e}")))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

struct ModuleInner {
    claims: SharedClaims,
    compiled: Arc<Compiled>,
    runtime: ActorRuntime,
}

/// A verified, compiled, pre-linked actor module. Cheap to clone.
#[derive(Clone)]
pub struct ActorModule {
    inner: Arc<ModuleInner>,
}

impl std::fmt::Debug for ActorModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorModule").field("actor", self.key()).field("name", &self.claims().name()).finish()
    }
}

impl ActorModule {
    /// The actor's public key (its claims' subject).
    pub fn key(&self) -> &ActorKey {
        self.inner.claims.actor()
    }

    /// The verified claims.
    pub fn claims(&self) -> &VerifiedClaims {
        &self.inner.claims
    }

    /// Start the actor: outgoing calls go to `host`, at most `max_instances` calls run at
    /// once (0 is treated as 1).
    pub fn start(&self, host: Arc<dyn HostCalls>, max_instances: u32) -> Actor {
        let max_instances = max_instances.max(1);
        Actor {
            inner: Arc::new(ActorInner {
                module: self.clone(),
                host,
                permits: Semaphore::new(max_instances as usize),
                max_instances,
            }),
        }
    }
}

struct ActorInner {
    module: ActorModule,
    host: Arc<dyn HostCalls>,
    permits: Semaphore,
    max_instances: u32,
}

/// A started actor. Cheap to clone; every clone shares the `max_instances` bound.
///
/// To scale, start the module again with the new bound and route new calls to the new
/// handle: in-flight calls finish on the old one ([`Actor::stop`] refuses new ones).
#[derive(Clone)]
pub struct Actor {
    inner: Arc<ActorInner>,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("actor", self.key())
            .field("max_instances", &self.inner.max_instances)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Actor {
    /// The actor's public key.
    pub fn key(&self) -> &ActorKey {
        self.inner.module.key()
    }

    /// The verified claims.
    pub fn claims(&self) -> &VerifiedClaims {
        self.inner.module.claims()
    }

    /// The module this actor runs.
    pub fn module(&self) -> &ActorModule {
        &self.inner.module
    }

    /// The concurrency bound.
    pub fn max_instances(&self) -> u32 {
        self.inner.max_instances
    }

    /// Calls running right now.
    pub fn in_flight(&self) -> u32 {
        let free = u32::try_from(self.inner.permits.available_permits()).unwrap_or(u32::MAX);
        self.inner.max_instances.saturating_sub(free)
    }

    /// Refuse new calls ([`CallError::Stopped`]); calls already running finish.
    pub fn stop(&self) {
        self.inner.permits.close();
    }

    /// Run one invocation: `operation` (e.g. `HttpServer.HandleRequest`) with `msg`, on a
    /// fresh instance, and return the bytes the actor answered with (`__guest_response`,
    /// empty if it set none). `origin` is the invocation's origin, recorded in traces.
    pub async fn call(&self, origin: &WasmCloudEntity, operation: &str, msg: Vec<u8>) -> Result<Vec<u8>, CallError> {
        let _permit = self.inner.permits.acquire().await.map_err(|_| CallError::Stopped)?;
        let timeout = self.inner.module.inner.runtime.inner.config.call_timeout;
        let span = tracing::trace_span!("actor_call", actor = %self.key(), operation, origin = %origin.url());
        match tokio::time::timeout(timeout, self.run(operation, msg, timeout).instrument(span)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout(timeout)),
        }
    }

    async fn run(&self, operation: &str, msg: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, CallError> {
        let op_len = u32::try_from(operation.len())
            .map_err(|_| CallError::TooLarge { what: "operation", len: operation.len() })?;
        let msg_len = u32::try_from(msg.len()).map_err(|_| CallError::TooLarge { what: "payload", len: msg.len() })?;
        let module = &self.inner.module.inner;
        let runtime = &module.runtime.inner;
        let compiled = &module.compiled;

        let limits = StoreLimitsBuilder::new()
            .memory_size(runtime.config.max_memory_bytes)
            .instances(1)
            .trap_on_grow_failure(false)
            .build();
        let mut state = CallState::new(self.key().clone(), module.claims.clone(), self.inner.host.clone(), limits);
        // Plain wasmbus modules skip this entirely (the hot path builds no WASI context).
        let (msg, wasi_io) = if compiled.wasi {
            let (style, msg) = match compiled.guest_call {
                Some(_) => (wasi::Style::Wasmbus, msg),
                None => {
                    let max_body = runtime.config.max_body_bytes;
                    (wasi::Style::Command { operation, request: msg, max_body }, Vec::new())
                }
            };
            let (ctx, io) = wasi::context(style, runtime.config.max_log_bytes);
            state.wasi = Some(Box::new(ctx));
            (msg, Some(io))
        } else {
            (msg, None)
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|s| &mut s.limits);
        let deadline = Instant::now() + timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
        });

        let result = self.invoke(&mut store, compiled, operation, msg, (op_len, msg_len), timeout).await;
        let Some(io) = wasi_io else {
            return result;
        };
        let command = compiled.guest_call.is_none();
        io.log(self.key(), !command);
        match result {
            Ok(_) if command => io.response().map_err(|_| CallError::ResponseTooLarge { max: io.stdout_cap() }),
            other => other,
        }
    }

    /// Instantiate, run `_start` if exported, then `__guest_call` if exported (a
    /// command-style module's response is read from its stdout by the caller).
    async fn invoke(
        &self,
        store: &mut Store<CallState>,
        compiled: &Compiled,
        operation: &str,
        msg: Vec<u8>,
        (op_len, msg_len): (u32, u32),
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let instance = compiled
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| CallError::Instantiate(classify(e, timeout).to_string()))?;
        let memory = instance.get_module_export(&mut *store, &compiled.memory).and_then(|e| e.into_memory());
        store.data_mut().memory = memory;

        if let Some(start) = &compiled.start {
            let start = instance
                .get_module_export(&mut *store, start)
                .and_then(|e| e.into_func())
                .ok_or_else(|| CallError::Instantiate("`_start` export vanished".into()))?
                .typed::<(), ()>(&*store)
                .map_err(|e| CallError::Instantiate(e.to_string()))?;
            match start.call_async(&mut *store, ()).await {
                Ok(()) => {}
                // A WASI `proc_exit(0)` ends `_start` successfully (TinyGo, commands).
                Err(e) if compiled.wasi && wasi::exit_code(&e) == Some(0) => {}
                Err(e) => match wasi::exit_code(&e) {
                    Some(code) if compiled.wasi => return Err(CallError::ExitCode(code)),
                    _ => return Err(classify(e, timeout)),
                },
            }
        }
        let Some(guest_call) = &compiled.guest_call else {
            return Ok(Vec::new());
        };
        let guest_call = instance
            .get_module_export(&mut *store, guest_call)
            .and_then(|e| e.into_func())
            .ok_or_else(|| CallError::Instantiate("`__guest_call` export vanished".into()))?
            .typed::<(u32, u32), i32>(&*store)
            .map_err(|e| CallError::Instantiate(e.to_string()))?;

        store.data_mut().guest_call = Some((operation.to_owned(), msg));
        let code = guest_call.call_async(&mut *store, (op_len, msg_len)).await.map_err(|e| classify(e, timeout))?;

        let state = store.data_mut();
        if let Some(err) = state.guest_error.take() {
            return Err(CallError::Guest(err));
        }
        if let Some(err) = state.host_error.take() {
            return Err(CallError::HostCall(err));
        }
        if code != 1 {
            return Err(CallError::ExitCode(code));
        }
        Ok(state.guest_response.take().unwrap_or_default())
    }
}

/// Turn a wasmtime error from running guest code into a [`CallError`].
fn classify(err: wasmtime::Error, timeout: Duration) -> CallError {
    if let Some(v) = err.downcast_ref::<AbiViolation>() {
        return CallError::Abi(v.0.clone());
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        if *trap == Trap::Interrupt {
            return CallError::Timeout(timeout);
        }
        return CallError::Trap(trap.to_string());
    }
    CallError::Trap(format!("{err:#}"))
}
