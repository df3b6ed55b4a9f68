//! The demo actors (`/actors/*.wat`) signed and run through the runtime.

use std::sync::{Arc, Mutex};

use lattice_host::actor::{Actor, BoxFuture, CallError, CallTarget, HostCall, HostCallError, HostCalls, NoHostCalls};
use lattice_host::claims::SignOptions;

use crate::support::*;

fn echo_expected(msg: &[u8]) -> Vec<u8> {
    let mut out = RESPONSE_PREFIX.to_vec();
    out.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    out.extend_from_slice(msg);
    out
}

#[derive(serde::Deserialize, Debug)]
struct HttpResponse {
    #[serde(rename = "statusCode")]
    status_code: u16,
    header: std::collections::HashMap<String, Vec<String>>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

#[tokio::test]
async fn echo_answers_with_exact_bytes() {
    let echo = start(&compile(&actor_wat("echo")), Arc::new(NoHostCalls), 4);
    let origin = provider_origin();
    for len in [0usize, 1, 1024, 65_536, 200_000] {
        let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let out = echo.call(&origin, "HttpServer.HandleRequest", msg.clone()).await.unwrap();
        assert_eq!(out, echo_expected(&msg), "payload {len}");
        // And it is a well-formed HttpResponse.
        let resp: HttpResponse = rmp_serde::from_slice(&out).unwrap();
        assert_eq!(resp.status_code, 200);
        assert!(resp.header.is_empty());
        assert_eq!(resp.body, msg);
    }
}

#[tokio::test]
async fn echo_answers_every_operation() {
    let echo = start(&compile(&actor_wat("echo")), Arc::new(NoHostCalls), 1);
    let out = echo.call(&provider_origin(), "Anything.Else", b"hi".to_vec()).await.unwrap();
    assert_eq!(out, echo_expected(b"hi"));
}

#[tokio::test]
async fn counter_increments_through_keyvalue() {
    let counter = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let c = counter.clone();
    let host = FakeHost::new(move |call| {
        assert_eq!(call.namespace, "wasmcloud:keyvalue");
        assert_eq!(call.operation, "KeyValue.Increment");
        assert_eq!(call.binding, "default");
        #[derive(serde::Deserialize)]
        struct IncrementRequest {
            key: String,
            value: i32,
        }
        let req: IncrementRequest = rmp_serde::from_slice(&call.payload).map_err(|e| e.to_string())?;
        assert_eq!(req.key, "counter");
        let n = c.fetch_add(req.value, std::sync::atomic::Ordering::SeqCst) + req.value;
        Ok(rmp_serde::to_vec(&n).unwrap())
    });
    let signed = sign(&compile(&actor_wat("counter")), "counter", &["wasmcloud:httpserver", "wasmcloud:keyvalue"]);
    let actor = runtime().load_at(&signed.wasm, NOW).unwrap().start(host.clone(), 2);
    for expected in 1..=3 {
        let out = actor.call(&provider_origin(), "HttpServer.HandleRequest", b"\x80".to_vec()).await.unwrap();
        let resp: HttpResponse = rmp_serde::from_slice(&out).unwrap();
        assert_eq!(resp.status_code, 200);
        assert_eq!(String::from_utf8(resp.body).unwrap(), format!("{{\"counter\":{expected}}}"));
    }
    // The host saw the caller's identity and claims, so it can check the capability.
    let calls = host.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].actor.as_str(), signed.module_key.public_key());
    assert!(calls[0].claims.has_cap("wasmcloud:keyvalue"));
    assert_eq!(calls[0].target(), CallTarget::ContractOrAlias("wasmcloud:keyvalue"));
}

#[tokio::test]
async fn counter_decodes_every_msgpack_integer_form() {
    // rmp encodes i32 compactly; other encoders may use wider forms.
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x05], "5"),
        (vec![0x7f], "127"),
        (vec![0xff], "-1"),
        (vec![0xe0], "-32"),
        (vec![0xcc, 0xc8], "200"),
        (vec![0xd0, 0x80], "-128"),
        (vec![0xcd, 0x12, 0x34], "4660"),
        (vec![0xd1, 0xff, 0x00], "-256"),
        (vec![0xce, 0x7f, 0xff, 0xff, 0xff], "2147483647"),
        (vec![0xd2, 0x80, 0x00, 0x00, 0x00], "-2147483648"),
        (vec![0xcf, 0, 0, 0, 0, 0, 0, 0x30, 0x39], "12345"),
        (vec![0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], "-2"),
    ];
    let wasm = compile(&actor_wat("counter"));
    for (reply, text) in cases {
        let r = reply.clone();
        let actor = start(&wasm, FakeHost::new(move |_| Ok(r.clone())), 1);
        let out = actor.call(&provider_origin(), "HttpServer.HandleRequest", vec![]).await.unwrap();
        let resp: HttpResponse = rmp_serde::from_slice(&out).unwrap();
        assert_eq!(String::from_utf8(resp.body).unwrap(), format!("{{\"counter\":{text}}}"), "reply {reply:x?}");
    }
    // Not an integer, or truncated: the call fails with the actor's own error.
    for bad in [vec![0xa1, b'x'], vec![0xce, 0x00], vec![]] {
        let b = bad.clone();
        let actor = start(&wasm, FakeHost::new(move |_| Ok(b.clone())), 1);
        let err = actor.call(&provider_origin(), "HttpServer.HandleRequest", vec![]).await.unwrap_err();
        assert_eq!(err, CallError::Guest("counter: unexpected KeyValue.Increment reply".into()), "reply {bad:x?}");
    }
}

#[tokio::test]
async fn counter_passes_host_errors_on() {
    let host = FakeHost::new(|_| Err("link not found".into()));
    let actor = start(&compile(&actor_wat("counter")), host, 1);
    let err = actor.call(&provider_origin(), "HttpServer.HandleRequest", vec![]).await.unwrap_err();
    assert_eq!(err, CallError::Guest("link not found".into()));
}

#[tokio::test]
async fn caller_reaches_the_target_actor_by_alias_and_by_key() {
    // The callee: echo, signed with the call alias "echo".
    let echo_signed = sign_with(
        &compile(&actor_wat("echo")),
        &SignOptions { name: "echo".into(), call_alias: Some("echo".into()), ..Default::default() },
    );
    let echo = runtime().load_at(&echo_signed.wasm, NOW).unwrap().start(Arc::new(NoHostCalls), 4);
    assert_eq!(echo.claims().call_alias(), Some("echo"));
    let echo_key = echo.key().clone();

    // A host that routes actor-to-actor calls to `echo` (by alias or key) and refuses the rest.
    let host = Arc::new(ToEcho { echo: echo.clone(), calls: Mutex::default() });
    let caller = start(&compile(&actor_wat("caller")), host.clone(), 2);
    let msg = b"hello actor".to_vec();
    let out = caller.call(&provider_origin(), "HttpServer.HandleRequest", msg.clone()).await.unwrap();
    assert_eq!(out, echo_expected(&msg));
    let calls = host.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].namespace, "echo");
    assert_eq!(calls[0].binding, "");
    assert_eq!(calls[0].operation, "HttpServer.HandleRequest");
    assert_eq!(calls[0].payload, msg);

    // The same actor addressing the callee by public key.
    let by_key = actor_wat("caller")
        .replace("(data (i32.const 16) \"echo\")", &format!("(data (i32.const 16) \"{echo_key}\")"))
        .replace("(global $TARGET_LEN i32 (i32.const 4))", "(global $TARGET_LEN i32 (i32.const 56))");
    let caller = start(&compile(&by_key), host.clone(), 1);
    let out = caller.call(&provider_origin(), "HttpServer.HandleRequest", msg.clone()).await.unwrap();
    assert_eq!(out, echo_expected(&msg));
    assert_eq!(host.calls.lock().unwrap()[1].target(), CallTarget::Actor(echo_key));

    // An unknown alias: the host's error comes back as the caller's error.
    let nobody = actor_wat("caller").replace("(data (i32.const 16) \"echo\")", "(data (i32.const 16) \"nope\")");
    let caller = start(&compile(&nobody), host, 1);
    let err = caller.call(&provider_origin(), "HttpServer.HandleRequest", msg).await.unwrap_err();
    assert_eq!(err, CallError::Guest("unknown actor call alias nope".into()));
}

/// Routes actor-to-actor calls to one actor, as a host would after resolving the target.
struct ToEcho {
    echo: Actor,
    calls: Mutex<Vec<HostCall>>,
}

impl HostCalls for ToEcho {
    fn host_call(&self, call: HostCall) -> BoxFuture<'_, Result<Vec<u8>, HostCallError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(call.clone());
            let to_echo = match call.target() {
                CallTarget::Actor(key) => key == *self.echo.key(),
                CallTarget::ContractOrAlias(alias) => Some(alias) == self.echo.claims().call_alias(),
            };
            if !to_echo {
                return Err(HostCallError::Failed(format!("unknown actor call alias {}", call.namespace)));
            }
            self.echo
                .call(&provider_origin(), &call.operation, call.payload)
                .await
                .map_err(|e| HostCallError::Failed(e.to_string()))
        })
    }
}
