//! The namespaces a 0.82 host answers itself, without a provider or a link
//! (crates/runtime/src/actor/module/wasmbus.rs `handle`, HOST.md §1):
//!
//! | namespace | operation | payload | result |
//! |---|---|---|---|
//! | `wasmcloud:builtin:logging` | `Logging.WriteLog` | msgpack `LogEntry {level, text}` | empty |
//! | `wasmcloud:builtin:numbergen` | `NumberGen.GenerateGuid` | — | msgpack string (UUID v4) |
//! | `wasmcloud:builtin:numbergen` | `NumberGen.Random32` | — | msgpack u32 |
//! | `wasmcloud:builtin:numbergen` | `NumberGen.RandomInRange` | msgpack `RangeLimit {min, max}` (u32, inclusive) | msgpack u32 |
//!
//! Log levels are `trace`, `debug`, `info`, `warn`, `error`, `critical` (critical is
//! logged as error); anything else is refused with 0.82's message. Unlike 0.82, whose
//! `gen_range` panics on `min > max`, an inverted range is an error. Neither namespace
//! requires a capability claim (0.82 did not check one either).

use lattice_proto::ActorKey;
use serde::Deserialize;

use crate::actor::HostCallError;

/// The builtin logging contract.
pub const LOGGING: &str = "wasmcloud:builtin:logging";
/// The builtin number generator contract.
pub const NUMBERGEN: &str = "wasmcloud:builtin:numbergen";

/// wasmcloud-compat `logging::LogEntry`.
#[derive(Deserialize)]
struct LogEntry {
    #[serde(default)]
    level: String,
    #[serde(default)]
    text: String,
}

/// wasmcloud-compat `numbergen::RangeLimit` (inclusive).
#[derive(Deserialize)]
struct RangeLimit {
    #[serde(default)]
    min: u32,
    #[serde(default)]
    max: u32,
}

/// Answer a builtin call, or `None` when `(namespace, operation)` is not a builtin and the
/// call must go to the host.
pub(crate) fn handle(
    actor: &ActorKey,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> Option<Result<Vec<u8>, HostCallError>> {
    match (namespace, operation) {
        (LOGGING, "Logging.WriteLog") => Some(write_log(actor, payload)),
        (NUMBERGEN, "NumberGen.GenerateGuid") => Some(encode(&uuid::Uuid::new_v4().to_string())),
        (NUMBERGEN, "NumberGen.Random32") => Some(random_u32().and_then(|v| encode(&v))),
        (NUMBERGEN, "NumberGen.RandomInRange") => Some(random_in_range(payload)),
        _ => None,
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, HostCallError> {
    rmp_serde::to_vec(value).map_err(HostCallError::BuiltinEncode)
}

fn decode<'a, T: Deserialize<'a>>(what: &'static str, payload: &'a [u8]) -> Result<T, HostCallError> {
    rmp_serde::from_slice(payload).map_err(|source| HostCallError::BuiltinDecode { what, source })
}

fn write_log(actor: &ActorKey, payload: &[u8]) -> Result<Vec<u8>, HostCallError> {
    let entry: LogEntry = decode("log entry", payload)?;
    let text = entry.text;
    match entry.level.as_str() {
        "trace" => tracing::trace!(target: "lattice::actor", actor = %actor, "{text}"),
        "debug" => tracing::debug!(target: "lattice::actor", actor = %actor, "{text}"),
        "info" => tracing::info!(target: "lattice::actor", actor = %actor, "{text}"),
        "warn" => tracing::warn!(target: "lattice::actor", actor = %actor, "{text}"),
        "error" | "critical" => {
            tracing::error!(target: "lattice::actor", actor = %actor, level = %entry.level, "{text}")
        }
        level => return Err(HostCallError::LogLevel(level.to_owned())),
    }
    Ok(Vec::new())
}

fn random_u32() -> Result<u32, HostCallError> {
    getrandom::u32().map_err(HostCallError::Random)
}

fn random_in_range(payload: &[u8]) -> Result<Vec<u8>, HostCallError> {
    let RangeLimit { min, max } = decode("range limit", payload)?;
    if min > max {
        return Err(HostCallError::InvertedRange { min, max });
    }
    let span = u64::from(max - min) + 1;
    // Rejection sampling over u64 keeps the draw unbiased for any span up to 2^32.
    let zone = u64::MAX - (u64::MAX % span);
    let value = loop {
        let r = getrandom::u64().map_err(HostCallError::Random)?;
        if r < zone {
            break r % span;
        }
    };
    // `value < span <= max - min + 1`, so this fits in u32 (and `min + value <= max`).
    let v = u32::try_from(value).map_or(max, |value| min.saturating_add(value));
    encode(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> ActorKey {
        ActorKey::parse(&nkeys::KeyPair::new_module().public_key()).unwrap()
    }

    #[test]
    fn logging_accepts_known_levels_and_refuses_others() {
        let a = actor();
        #[derive(serde::Serialize)]
        struct E<'a> {
            level: &'a str,
            text: &'a str,
        }
        for level in ["trace", "debug", "info", "warn", "error", "critical"] {
            let p = rmp_serde::to_vec_named(&E { level, text: "hi" }).unwrap();
            assert_eq!(handle(&a, LOGGING, "Logging.WriteLog", &p).unwrap().unwrap(), Vec::<u8>::new());
        }
        let p = rmp_serde::to_vec_named(&E { level: "loud", text: "hi" }).unwrap();
        let e = handle(&a, LOGGING, "Logging.WriteLog", &p).unwrap().unwrap_err();
        assert_eq!(crate::error::chain(&e), "unsupported log level `loud`");
        let e = handle(&a, LOGGING, "Logging.WriteLog", b"\xc1").unwrap().unwrap_err();
        assert!(crate::error::chain(&e).starts_with("failed to deserialize log entry: "), "{e}");
    }

    #[test]
    fn numbergen_answers_msgpack() {
        let a = actor();
        let guid = handle(&a, NUMBERGEN, "NumberGen.GenerateGuid", &[]).unwrap().unwrap();
        let guid: String = rmp_serde::from_slice(&guid).unwrap();
        assert_eq!(uuid::Uuid::parse_str(&guid).unwrap().get_version_num(), 4);
        let r = handle(&a, NUMBERGEN, "NumberGen.Random32", &[]).unwrap().unwrap();
        let _: u32 = rmp_serde::from_slice(&r).unwrap();
        #[derive(serde::Serialize)]
        struct R {
            min: u32,
            max: u32,
        }
        for _ in 0..200 {
            let p = rmp_serde::to_vec_named(&R { min: 5, max: 7 }).unwrap();
            let v: u32 =
                rmp_serde::from_slice(&handle(&a, NUMBERGEN, "NumberGen.RandomInRange", &p).unwrap().unwrap()).unwrap();
            assert!((5..=7).contains(&v));
        }
        let p = rmp_serde::to_vec_named(&R { min: 0, max: u32::MAX }).unwrap();
        assert!(handle(&a, NUMBERGEN, "NumberGen.RandomInRange", &p).unwrap().is_ok());
        let p = rmp_serde::to_vec_named(&R { min: 9, max: 1 }).unwrap();
        let e = handle(&a, NUMBERGEN, "NumberGen.RandomInRange", &p).unwrap().unwrap_err();
        assert_eq!(e.to_string(), "invalid range: min 9 is greater than max 1");
        assert!(handle(&a, NUMBERGEN, "NumberGen.Other", &[]).is_none());
        assert!(handle(&a, "wasmcloud:keyvalue", "KeyValue.Get", &[]).is_none());
    }
}
