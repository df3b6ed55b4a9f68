//! The runtime against misbehaving guests, ABI edge cases, concurrency and load errors.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lattice_host::actor::{CallError, LoadError, NoHostCalls};

use crate::support::*;

/// A module with the wasmbus imports and `memory`, whose `__guest_call` body is `body`.
fn guest(body: &str) -> Vec<u8> {
    compile(&format!(
        r#"(module
  (import "wasmbus" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wasmbus" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wasmbus" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wasmbus" "__console_log" (func $console_log (param i32 i32)))
  (import "wasmbus" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasmbus" "__host_response" (func $host_response (param i32)))
  (import "wasmbus" "__host_response_len" (func $host_response_len (result i32)))
  (import "wasmbus" "__host_error" (func $host_error (param i32)))
  (import "wasmbus" "__host_error_len" (func $host_error_len (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "wasmcloud:builtin:numbergen")   ;; 27
  (data (i32.const 32) "NumberGen.Random32")           ;; 18
  (data (i32.const 64) "wasmcloud:builtin:logging")    ;; 25
  (data (i32.const 96) "Logging.WriteLog")             ;; 16
  (data (i32.const 128) "\82\a5level\a4info\a4text\a2hi") ;; 20: {{level: info, text: hi}}
  (data (i32.const 160) "some:contract")               ;; 13
  (data (i32.const 176) "Op.Name")                     ;; 7
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    {body})
)"#
    ))
}

async fn run(body: &str) -> Result<Vec<u8>, CallError> {
    let actor = start(&guest(body), Arc::new(NoHostCalls), 1);
    actor.call(&provider_origin(), "Op", b"msg".to_vec()).await
}

#[tokio::test]
async fn traps_are_errors_not_panics() {
    let err = run("unreachable").await.unwrap_err();
    assert!(matches!(&err, CallError::Trap(m) if m.contains("unreachable")), "{err:?}");
    // A load outside memory, in wasm code.
    let err = run("(i32.load (i32.const 0x7ffffff0))").await.unwrap_err();
    assert!(matches!(&err, CallError::Trap(m) if m.contains("out of bounds")), "{err:?}");
    // Integer division by zero.
    let err = run("(i32.div_u (i32.const 1) (i32.const 0))").await.unwrap_err();
    assert!(matches!(err, CallError::Trap(_)), "{err:?}");
}

#[tokio::test]
async fn stack_overflow_is_a_trap() {
    let wasm = compile(
        r#"(module
  (memory (export "memory") 1)
  (func $f (result i32) (call $f))
  (func (export "__guest_call") (param i32 i32) (result i32) (call $f)))"#,
    );
    let actor = start(&wasm, Arc::new(NoHostCalls), 1);
    let err = actor.call(&provider_origin(), "Op", vec![]).await.unwrap_err();
    assert!(matches!(&err, CallError::Trap(m) if m.contains("stack")), "{err:?}");
}

#[tokio::test]
async fn out_of_bounds_pointers_are_rejected() {
    let cases = [
        // response far outside memory
        ("(call $guest_response (i32.const 0xffffff00) (i32.const 16)) (i32.const 1)", "__guest_response"),
        // a length that would wrap around / ask for 4 GiB: checked before any allocation
        ("(call $guest_response (i32.const 16) (i32.const -1)) (i32.const 1)", "__guest_response"),
        // one byte past the end of the 64 KiB memory
        ("(call $guest_response (i32.const 65535) (i32.const 2)) (i32.const 1)", "__guest_response"),
        ("(call $guest_request (i32.const 65535) (i32.const 0)) (i32.const 1)", "__guest_request"),
        ("(call $guest_request (i32.const 0) (i32.const 65534)) (i32.const 1)", "__guest_request"),
        ("(call $guest_error (i32.const -8) (i32.const 16)) (i32.const 1)", "__guest_error"),
        ("(call $console_log (i32.const 70000) (i32.const 1)) (i32.const 1)", "__console_log"),
        (
            "(drop (call $host_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 27) (i32.const 32) (i32.const 18) (i32.const 65530) (i32.const 100))) (i32.const 1)",
            "__host_call",
        ),
    ];
    for (body, import) in cases {
        let err = run(body).await.unwrap_err();
        match &err {
            CallError::Abi(m) => {
                assert!(m.contains("out-of-bounds") && m.contains(import), "{body}: {m}");
            }
            other => panic!("{body}: expected an ABI error, got {other:?}"),
        }
    }
    // The same calls in bounds work.
    let ok = run("(call $guest_request (i32.const 1000) (i32.const 2000)) (call $guest_response (i32.const 2000) (i32.const 3)) (i32.const 1)").await;
    assert_eq!(ok.unwrap(), b"msg");
    let ok = run("(call $guest_response (i32.const 65533) (i32.const 3)) (i32.const 1)").await;
    assert_eq!(ok.unwrap(), vec![0, 0, 0]);
}

#[tokio::test]
async fn abi_calls_out_of_sequence_are_rejected() {
    let err = run("(call $host_response (i32.const 0)) (i32.const 1)").await.unwrap_err();
    assert_eq!(err, CallError::Abi("unexpected `__host_response`".into()));
    let err = run("(call $host_error (i32.const 0)) (i32.const 1)").await.unwrap_err();
    assert_eq!(err, CallError::Abi("unexpected `__host_error`".into()));
    let err = run("(call $guest_request (i32.const 0) (i32.const 0)) (call $guest_request (i32.const 0) (i32.const 0)) (i32.const 1)")
        .await
        .unwrap_err();
    assert_eq!(err, CallError::Abi("unexpected `__guest_request`".into()));
    // Lengths with nothing pending are 0.
    let ok = run("(i32.add (i32.add (call $host_response_len) (call $host_error_len)) (i32.const 1))").await;
    assert_eq!(ok.unwrap(), Vec::<u8>::new());
    // Bad UTF-8 in a string argument.
    let err = run(
        "(i32.store8 (i32.const 300) (i32.const 0xff)) (call $console_log (i32.const 300) (i32.const 1)) (i32.const 1)",
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, CallError::Abi(m) if m.contains("not UTF-8")), "{err:?}");
}

#[tokio::test]
async fn results_follow_the_0_82_rules() {
    // Return code other than 1 without an error: "operation failed with exit code".
    let err = run("(i32.const 0)").await.unwrap_err();
    assert_eq!(err, CallError::ExitCode(0));
    assert_eq!(err.to_string(), "operation failed with exit code `0`");
    // A guest error wins over the return code.
    let err = run("(call $guest_error (i32.const 0) (i32.const 9)) (i32.const 1)").await.unwrap_err();
    assert_eq!(err, CallError::Guest("wasmcloud".into()));
    // No response set: success with empty bytes.
    assert_eq!(run("(i32.const 1)").await.unwrap(), Vec::<u8>::new());
    // A host error left unread fails the call with that error.
    let err = run(
        "(drop (call $host_call (i32.const 0) (i32.const 0) (i32.const 160) (i32.const 13) (i32.const 176) (i32.const 7) (i32.const 0) (i32.const 0))) (i32.const 1)",
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, CallError::HostCall(m) if m.contains("some:contract/Op.Name")), "{err:?}");
}

#[tokio::test]
async fn builtins_are_answered_in_host() {
    // Random32 through __host_call: SUCCESS and a msgpack u32 (1 to 5 bytes).
    let body = "
        (if (i32.ne (call $host_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 27) (i32.const 32) (i32.const 18) (i32.const 0) (i32.const 0)) (i32.const 1))
          (then (return (i32.const 7))))
        (i32.store (i32.const 900) (call $host_response_len))
        (call $host_response (i32.const 1000))
        (call $guest_response (i32.const 1000) (i32.load (i32.const 900)))
        (i32.const 1)";
    let host = FakeHost::new(|_| Err("should not be called".into()));
    let actor = start(&guest(body), host.clone(), 1);
    let out = actor.call(&provider_origin(), "Op", vec![]).await.unwrap();
    let _: u32 = rmp_serde::from_slice(&out).unwrap();
    // Logging answers with empty bytes.
    let body = "
        (if (i32.ne (call $host_call (i32.const 0) (i32.const 0) (i32.const 64) (i32.const 25) (i32.const 96) (i32.const 16) (i32.const 128) (i32.const 20)) (i32.const 1))
          (then (return (i32.const 7))))
        (if (i32.ne (call $host_response_len) (i32.const 0)) (then (return (i32.const 8))))
        (i32.const 1)";
    let actor = start(&guest(body), host.clone(), 1);
    actor.call(&provider_origin(), "Op", vec![]).await.unwrap();
    assert!(host.calls().is_empty(), "builtins never reach the host");
}

#[tokio::test]
async fn endless_loops_time_out() {
    let signed = sign(&guest("(loop $l (br $l)) (i32.const 1)"), "spin", &[]);
    let actor = short_timeout_runtime().load_at(&signed.wasm, NOW).unwrap().start(Arc::new(NoHostCalls), 1);
    let started = std::time::Instant::now();
    let err = actor.call(&provider_origin(), "Op", vec![]).await.unwrap_err();
    assert_eq!(err, CallError::Timeout(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The actor still works afterwards (fresh instance per call).
    let err = actor.call(&provider_origin(), "Op", vec![]).await.unwrap_err();
    assert!(matches!(err, CallError::Timeout(_)));
}

#[tokio::test]
async fn a_hung_host_call_times_out() {
    let host = FakeHost::with_delay(Duration::from_secs(30), |_| Ok(vec![]));
    let signed = sign(
        &guest(
            "(drop (call $host_call (i32.const 0) (i32.const 0) (i32.const 160) (i32.const 13) (i32.const 176) (i32.const 7) (i32.const 0) (i32.const 0))) (i32.const 1)",
        ),
        "hang",
        &[],
    );
    let actor = short_timeout_runtime().load_at(&signed.wasm, NOW).unwrap().start(host, 1);
    let err = actor.call(&provider_origin(), "Op", vec![]).await.unwrap_err();
    assert_eq!(err, CallError::Timeout(Duration::from_millis(300)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_concurrently_up_to_max_instances() {
    let host = FakeHost::with_delay(Duration::from_millis(30), |_| Ok(b"pong".to_vec()));
    let body = "
        (drop (call $host_call (i32.const 0) (i32.const 0) (i32.const 160) (i32.const 13) (i32.const 176) (i32.const 7) (i32.const 0) (i32.const 0)))
        (call $host_response (i32.const 1000))
        (call $guest_response (i32.const 1000) (i32.const 4))
        (i32.const 1)";
    let actor = start(&guest(body), host.clone(), 4);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let actor = actor.clone();
        tasks.spawn(async move { actor.call(&provider_origin(), "Op", vec![]).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), b"pong");
    }
    let max = host.max_concurrent.load(Ordering::SeqCst);
    assert_eq!(max, 4, "at most max_instances calls run at once, and they do overlap");
    assert_eq!(actor.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_echo_calls() {
    let echo = start(&compile(&actor_wat("echo")), Arc::new(NoHostCalls), 64);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..512u32 {
        let echo = echo.clone();
        tasks.spawn(async move {
            let msg = i.to_be_bytes().repeat(256);
            let out = echo.call(&provider_origin(), "HttpServer.HandleRequest", msg.clone()).await.unwrap();
            assert_eq!(&out[32..], &msg[..]);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

#[tokio::test]
async fn stopped_actors_refuse_calls() {
    let echo = start(&compile(&actor_wat("echo")), Arc::new(NoHostCalls), 1);
    echo.stop();
    assert_eq!(echo.call(&provider_origin(), "Op", vec![]).await.unwrap_err(), CallError::Stopped);
}

#[test]
fn modules_that_do_not_fit_the_abi_are_refused_at_load() {
    let load = |wat: &str| runtime().load_at(&sign(&compile(wat), "x", &[]).wasm, NOW);
    let err =
        load(r#"(module (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"#).unwrap_err();
    assert!(matches!(&err, LoadError::Abi(m) if m.contains("memory")), "{err:?}");
    let err = load(r#"(module (memory (export "memory") 1))"#).unwrap_err();
    assert!(matches!(&err, LoadError::Abi(m) if m.contains("__guest_call")), "{err:?}");
    let err = load(r#"(module (memory (export "memory") 1) (func (export "__guest_call") (param i64) (result i32) (i32.const 1)))"#)
        .unwrap_err();
    assert!(matches!(&err, LoadError::Abi(m) if m.contains("__guest_call")), "{err:?}");
    // `_start` only: a WASI command-style module, which loads (tests in it/wasi.rs).
    load(r#"(module (memory (export "memory") 1) (func (export "_start")))"#).unwrap();
    // WASI preview 1 is linked, but an import of the wrong type is still a link error.
    let err = load(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i64)))
             (memory (export "memory") 1) (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"#,
    )
    .unwrap_err();
    assert!(matches!(&err, LoadError::Link(m) if m.contains("fd_write")), "{err:?}");
    let err = load(
        r#"(module (import "wasmbus" "__guest_request" (func (param i64)))
             (memory (export "memory") 1) (func (export "__guest_call") (param i32 i32) (result i32) (i32.const 1)))"#,
    )
    .unwrap_err();
    assert!(matches!(&err, LoadError::Link(_)), "{err:?}");
}

#[tokio::test]
async fn start_runs_before_every_guest_call() {
    // `_start` sets a global that `__guest_call` returns in its response.
    let wasm = compile(
        r#"(module
  (import "wasmbus" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "_start") (global.set $g (i32.add (global.get $g) (i32.const 1))))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (i32.store8 (i32.const 0) (global.get $g))
    (call $guest_response (i32.const 0) (i32.const 1))
    (i32.const 1)))"#,
    );
    let actor = start(&wasm, Arc::new(NoHostCalls), 1);
    // Fresh instance each call: `_start` ran exactly once before each.
    for _ in 0..3 {
        assert_eq!(actor.call(&provider_origin(), "Op", vec![]).await.unwrap(), vec![1]);
    }
}

#[tokio::test]
async fn memory_growth_is_bounded() {
    let signed = sign(
        &guest(
            "(if (i32.eq (memory.grow (i32.const 8192)) (i32.const -1)) (then (return (i32.const 9)))) (i32.const 1)",
        ),
        "grow",
        &[],
    );
    // 8192 pages = 512 MiB > the 256 MiB default limit: grow fails, the guest sees -1.
    let actor = runtime().load_at(&signed.wasm, NOW).unwrap().start(Arc::new(NoHostCalls), 1);
    assert_eq!(actor.call(&provider_origin(), "Op", vec![]).await.unwrap_err(), CallError::ExitCode(9));
}
