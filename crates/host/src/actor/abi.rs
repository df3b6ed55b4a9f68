//! The wasmCloud 0.82 `wasmbus` ABI for core-wasm actors (HOST.md §1), as host functions.
//!
//! One [`CallState`] lives in the store of each call. The guest pulls the operation and
//! payload with `__guest_request`, answers with `__guest_response` or `__guest_error`,
//! and makes outgoing calls with `__host_call` (builtins answered in-host, everything else
//! through [`HostCalls`]), reading the results with `__host_response[_len]` /
//! `__host_error[_len]`. Constants: `SUCCESS = 1`, `ERROR = u32::MAX`.
//!
//! Every pointer and length comes from untrusted wasm: each access is bounds-checked
//! against the guest's exported `memory` *before* anything is allocated or copied, and a
//! violation traps the guest with an [`AbiViolation`] that names the import, the pointer,
//! the length and the memory size. Nothing here panics on guest input.

use std::fmt;
use std::sync::Arc;

use lattice_proto::ActorKey;
use wasmtime::{Caller, Linker, Memory, StoreLimits};

use super::builtin;
use super::host_call::{HostCall, HostCalls};
use crate::claims::SharedClaims;

/// The import module every 0.82 core-wasm actor imports from.
pub const WASMBUS: &str = "wasmbus";
/// `__host_call` result: the call succeeded, `__host_response` holds the answer.
pub const SUCCESS: u32 = 1;
/// `__host_call` result: the call failed, `__host_error` holds the reason.
pub const ERROR: u32 = u32::MAX;

/// A guest broke the ABI (bad pointer, bad UTF-8, call out of sequence). Traps the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiViolation(pub String);

impl fmt::Display for AbiViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AbiViolation {}

fn violation(msg: String) -> wasmtime::Error {
    wasmtime::Error::new(AbiViolation(msg))
}

/// Per-call state of one actor instance (the store's data).
pub(crate) struct CallState {
    pub(crate) actor: ActorKey,
    pub(crate) claims: SharedClaims,
    pub(crate) host: Arc<dyn HostCalls>,
    pub(crate) limits: StoreLimits,
    /// The guest's exported memory, set right after instantiation.
    pub(crate) memory: Option<Memory>,
    /// Operation and payload waiting for `__guest_request`.
    pub(crate) guest_call: Option<(String, Vec<u8>)>,
    pub(crate) guest_response: Option<Vec<u8>>,
    pub(crate) guest_error: Option<String>,
    pub(crate) host_response: Option<Vec<u8>>,
    pub(crate) host_error: Option<String>,
    /// The WASI context, for modules that import WASI (`None` for plain wasmbus modules,
    /// which never build one).
    pub(crate) wasi: Option<Box<wasmtime_wasi::p1::WasiP1Ctx>>,
}

impl CallState {
    pub(crate) fn new(actor: ActorKey, claims: SharedClaims, host: Arc<dyn HostCalls>, limits: StoreLimits) -> Self {
        Self {
            actor,
            claims,
            host,
            limits,
            memory: None,
            guest_call: None,
            guest_response: None,
            guest_error: None,
            host_response: None,
            host_error: None,
            wasi: None,
        }
    }

    /// The call's WASI context (the WASI linker's accessor). The runtime sets one before
    /// instantiating a WASI module; should it ever be missing, an empty, locked-down one
    /// takes its place rather than a panic.
    pub(crate) fn wasi_ctx(&mut self) -> &mut wasmtime_wasi::p1::WasiP1Ctx {
        self.wasi.get_or_insert_with(|| Box::new(super::wasi::empty_context()))
    }
}

fn memory(caller: &Caller<'_, CallState>, import: &str) -> wasmtime::Result<Memory> {
    caller
        .data()
        .memory
        .ok_or_else(|| violation(format!("`{import}` called before the actor's `memory` was available")))
}

/// Copy `len` bytes at `ptr` out of guest memory, bounds-checked first.
fn read_bytes(
    caller: &Caller<'_, CallState>,
    import: &str,
    what: &str,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller, import)?;
    let data = mem.data(caller);
    let start = ptr as usize;
    start.checked_add(len as usize).and_then(|end| data.get(start..end)).map(<[u8]>::to_vec).ok_or_else(|| {
        violation(format!(
            "out-of-bounds {what} in `{import}`: pointer {ptr:#x} + length {len} exceeds memory size {}",
            data.len()
        ))
    })
}

fn read_string(
    caller: &Caller<'_, CallState>,
    import: &str,
    what: &str,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<String> {
    let bytes = read_bytes(caller, import, what, ptr, len)?;
    String::from_utf8(bytes).map_err(|_| violation(format!("{what} passed to `{import}` is not UTF-8")))
}

/// Copy `bytes` into guest memory at `ptr`, bounds-checked first.
fn write_bytes(
    caller: &mut Caller<'_, CallState>,
    import: &str,
    what: &str,
    ptr: u32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    let mem = memory(caller, import)?;
    let data = mem.data_mut(&mut *caller);
    let size = data.len();
    let start = ptr as usize;
    let dst = start.checked_add(bytes.len()).and_then(|end| data.get_mut(start..end)).ok_or_else(|| {
        violation(format!(
            "out-of-bounds {what} in `{import}`: pointer {ptr:#x} + length {} exceeds memory size {size}",
            bytes.len()
        ))
    })?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// A length as the guest sees it (u32); 0.82 saturates at `u32::MAX`.
fn guest_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn guest_request(mut caller: Caller<'_, CallState>, op_ptr: u32, payload_ptr: u32) -> wasmtime::Result<()> {
    const IMPORT: &str = "__guest_request";
    let (op, payload) =
        caller.data_mut().guest_call.take().ok_or_else(|| violation("unexpected `__guest_request`".to_owned()))?;
    write_bytes(&mut caller, IMPORT, "operation", op_ptr, op.as_bytes())?;
    write_bytes(&mut caller, IMPORT, "payload", payload_ptr, &payload)
}

fn guest_response(mut caller: Caller<'_, CallState>, ptr: u32, len: u32) -> wasmtime::Result<()> {
    let res = read_bytes(&caller, "__guest_response", "response", ptr, len)?;
    caller.data_mut().guest_response = Some(res);
    Ok(())
}

fn guest_error(mut caller: Caller<'_, CallState>, ptr: u32, len: u32) -> wasmtime::Result<()> {
    let err = read_bytes(&caller, "__guest_error", "error", ptr, len)?;
    // 0.82 traps on a non-UTF-8 error; a lossy conversion keeps the guest's message.
    caller.data_mut().guest_error = Some(String::from_utf8_lossy(&err).into_owned());
    Ok(())
}

fn console_log(caller: Caller<'_, CallState>, ptr: u32, len: u32) -> wasmtime::Result<()> {
    let line = read_string(&caller, "__console_log", "log line", ptr, len)?;
    tracing::debug!(target: "lattice::actor", actor = %caller.data().actor, "{line}");
    Ok(())
}

fn host_response_len(caller: Caller<'_, CallState>) -> u32 {
    caller.data().host_response.as_ref().map_or(0, |r| guest_len(r.len()))
}

fn host_response(mut caller: Caller<'_, CallState>, ptr: u32) -> wasmtime::Result<()> {
    let res =
        caller.data_mut().host_response.take().ok_or_else(|| violation("unexpected `__host_response`".to_owned()))?;
    write_bytes(&mut caller, "__host_response", "response", ptr, &res)
}

fn host_error_len(caller: Caller<'_, CallState>) -> u32 {
    caller.data().host_error.as_ref().map_or(0, |e| guest_len(e.len()))
}

fn host_error(mut caller: Caller<'_, CallState>, ptr: u32) -> wasmtime::Result<()> {
    let err = caller.data_mut().host_error.take().ok_or_else(|| violation("unexpected `__host_error`".to_owned()))?;
    write_bytes(&mut caller, "__host_error", "error", ptr, err.as_bytes())
}

/// `__host_call(bd_ptr, bd_len, ns_ptr, ns_len, op_ptr, op_len, pld_ptr, pld_len) -> u32`.
async fn host_call(mut caller: Caller<'_, CallState>, args: [u32; 8]) -> wasmtime::Result<u32> {
    const IMPORT: &str = "__host_call";
    let [bd_ptr, bd_len, ns_ptr, ns_len, op_ptr, op_len, pld_ptr, pld_len] = args;
    let binding = read_string(&caller, IMPORT, "binding", bd_ptr, bd_len)?;
    let namespace = read_string(&caller, IMPORT, "namespace", ns_ptr, ns_len)?;
    let operation = read_string(&caller, IMPORT, "operation", op_ptr, op_len)?;
    let payload = read_bytes(&caller, IMPORT, "payload", pld_ptr, pld_len)?;
    let state = caller.data();
    let result = match builtin::handle(&state.actor, &namespace, &operation, &payload) {
        Some(result) => result,
        None => {
            let call = HostCall {
                actor: state.actor.clone(),
                claims: state.claims.clone(),
                binding,
                namespace,
                operation,
                payload,
            };
            let host = state.host.clone();
            host.host_call(call).await
        }
    };
    let state = caller.data_mut();
    match result {
        Ok(res) => {
            state.host_response = Some(res);
            Ok(SUCCESS)
        }
        Err(err) => {
            state.host_error = Some(crate::error::chain(&err));
            Ok(ERROR)
        }
    }
}

/// Define the nine `wasmbus` imports in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(WASMBUS, "__guest_request", guest_request)?;
    linker.func_wrap(WASMBUS, "__guest_response", guest_response)?;
    linker.func_wrap(WASMBUS, "__guest_error", guest_error)?;
    linker.func_wrap(WASMBUS, "__console_log", console_log)?;
    linker.func_wrap(WASMBUS, "__host_response", host_response)?;
    linker.func_wrap(WASMBUS, "__host_response_len", host_response_len)?;
    linker.func_wrap(WASMBUS, "__host_error", host_error)?;
    linker.func_wrap(WASMBUS, "__host_error_len", host_error_len)?;
    linker.func_wrap_async(
        WASMBUS,
        "__host_call",
        |caller: Caller<'_, CallState>, (a, b, c, d, e, f, g, h): (u32, u32, u32, u32, u32, u32, u32, u32)| {
            Box::new(host_call(caller, [a, b, c, d, e, f, g, h]))
        },
    )?;
    Ok(())
}
