//! WASI preview-1 actors (HOST.md §10), written in WAT (`/actors/wasi_*.wat`): a
//! TinyGo-style module (`_start` then `__guest_call`) and a command-style module (`_start`
//! only: operation in argv, request on stdin, response on stdout). Through the runtime for
//! the edge cases, and through a whole host over a real nats-server answering real calls.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use lattice_host::actor::{ActorRuntime, CallError, LoadError, NoHostCalls, RuntimeConfig};
use lattice_proto::{LinkName, ProviderKey, WasmCloudEntity};
use nkeys::KeyPair;

use crate::lattice::TestLattice;
use crate::support::*;

/// The origin of the test calls: a messaging provider (not the HTTP server, whose calls
/// the host re-encodes).
fn origin() -> WasmCloudEntity {
    WasmCloudEntity::provider(
        &ProviderKey::parse(&KeyPair::new_service().public_key()).unwrap(),
        &LinkName::new("default").unwrap(),
        "wasmcloud:messaging",
    )
}

/// A runtime with a 100-byte max body, for the oversized-response test.
fn small_body_runtime() -> &'static ActorRuntime {
    static RT: OnceLock<ActorRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        ActorRuntime::new(RuntimeConfig { max_body_bytes: 100, max_instances_total: 8, ..RuntimeConfig::default() })
            .unwrap()
    })
}

#[tokio::test]
async fn tinygo_style_runs_start_once_per_instance_then_guest_call() {
    let actor = start(&compile(&actor_wat("wasi_reactor")), Arc::new(NoHostCalls), 2);
    for msg in [&b"first"[..], b"second", b""] {
        let out = actor.call(&origin(), "Any.Op", msg.to_vec()).await.unwrap();
        // `_start` ran exactly once on this (fresh) instance; random, clock, no preopens,
        // no environment, stdout writable.
        assert_eq!(&out[..6], b"1rcnew", "{}", String::from_utf8_lossy(&out));
        assert_eq!(&out[6..], msg);
    }
}

#[tokio::test]
async fn command_style_gets_operation_in_argv_request_on_stdin_and_answers_on_stdout() {
    let actor = start(&compile(&actor_wat("wasi_command")), Arc::new(NoHostCalls), 2);
    let out = actor.call(&origin(), "Echo.Say", b"hello stdin".to_vec()).await.unwrap();
    assert_eq!(out, b"main.wasm|Echo.Say|hello stdin");
    // Empty request: EOF right away.
    let out = actor.call(&origin(), "Other", Vec::new()).await.unwrap();
    assert_eq!(out, b"main.wasm|Other|");
    // A 40 KB request crosses several fd_read calls.
    let big = vec![b'q'; 40_000];
    let out = actor.call(&origin(), "Long.Input", big.clone()).await.unwrap();
    assert_eq!(&out[..21], b"main.wasm|Long.Input|");
    assert_eq!(&out[21..], &big[..]);
}

#[tokio::test]
async fn command_exit_codes_and_oversized_responses_fail_the_call() {
    let actor = start(&compile(&actor_wat("wasi_command")), Arc::new(NoHostCalls), 1);
    let err = actor.call(&origin(), "Xfail", b"x".to_vec()).await.unwrap_err();
    assert_eq!(err, CallError::ExitCode(7));

    // 64 KiB on stdout against a 100-byte max body: refused, never cut.
    let signed = sign(&compile(&actor_wat("wasi_command")), "big", &[]);
    let small = small_body_runtime().load_at(&signed.wasm, NOW).unwrap().start(Arc::new(NoHostCalls), 1);
    let err = small.call(&origin(), "Big", Vec::new()).await.unwrap_err();
    assert_eq!(err, CallError::ResponseTooLarge { max: 100 });
    assert_eq!(err.kind(), "too_large");
    // Under the cap it answers.
    let out = small.call(&origin(), "Fine", b"ok".to_vec()).await.unwrap();
    assert_eq!(out, b"main.wasm|Fine|ok");
}

#[test]
fn unknown_wasi_imports_and_plain_modules_link_as_before() {
    // A function preview 1 does not have is a link error naming it.
    let bad = compile(
        r#"(module (import "wasi_snapshot_preview1" "no_such_function" (func))
             (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let signed = sign(&bad, "bad", &[]);
    let err = runtime().load_at(&signed.wasm, NOW).unwrap_err();
    assert!(matches!(&err, LoadError::Link(m) if m.contains("no_such_function")), "{err}");
    // Neither export: refused as before.
    let none = compile(r#"(module (memory (export "memory") 1))"#);
    let err = runtime().load_at(&sign(&none, "none", &[]).wasm, NOW).unwrap_err();
    assert!(matches!(err, LoadError::Abi(_)), "{err}");
    // `check_module` (what `lattice claims sign` runs) accepts both WASI styles.
    lattice_host::actor::check_module(&compile(&actor_wat("wasi_reactor"))).unwrap();
    lattice_host::actor::check_module(&compile(&actor_wat("wasi_command"))).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_actors_of_both_styles_answer_real_calls_through_a_host() {
    let lattice = TestLattice::new();
    let host = lattice.host().await;
    let client = lattice.client().await;
    let (reactor, reactor_key) = lattice.signed_actor("wasi_reactor", &[], None);
    let (command, command_key) = lattice.signed_actor("wasi_command", &[], None);
    host.scale_actor(&reactor, 1, BTreeMap::new()).await.unwrap();
    host.scale_actor(&command, 1, BTreeMap::new()).await.unwrap();

    for round in 0..2 {
        let out = client
            .call(origin(), WasmCloudEntity::actor(&reactor_key), "Messaging.Handle", b"tinygo".to_vec())
            .await
            .unwrap();
        assert_eq!(out, b"1rcnewtinygo", "round {round}");
        let out =
            client.call(origin(), WasmCloudEntity::actor(&command_key), "Echo.Say", b"command".to_vec()).await.unwrap();
        assert_eq!(out, b"main.wasm|Echo.Say|command", "round {round}");
    }
    // A failing command is an error answer, and the host keeps serving.
    let err = client.call(origin(), WasmCloudEntity::actor(&command_key), "Xit", b"".to_vec()).await.unwrap_err();
    assert!(err.to_string().contains("exit code `7`"), "{err}");
    let out = client.call(origin(), WasmCloudEntity::actor(&command_key), "Again", b"!".to_vec()).await.unwrap();
    assert_eq!(out, b"main.wasm|Again|!");
    host.stop().await;
}
