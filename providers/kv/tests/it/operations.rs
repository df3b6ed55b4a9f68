//! Every 0.82 `KeyValue` operation round-trips through a real `lattice-kv` process.

use std::time::Duration;

use lattice_provider::testing::TestLattice;
use lattice_rpc::RpcError;
use serde::{Deserialize, Serialize};

use crate::support::{Env, WAIT};

/// The 0.82 wire shapes, written out independently of the provider's own types.
#[derive(Serialize)]
struct SetRequest<'a> {
    key: &'a str,
    value: &'a str,
    expires: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
struct GetResponse {
    value: String,
    exists: bool,
}

#[derive(Serialize)]
struct IncrementRequest<'a> {
    key: &'a str,
    value: i32,
}

#[derive(Serialize)]
struct ListItem<'a> {
    #[serde(rename = "listName")]
    list_name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ListRange<'a> {
    #[serde(rename = "listName")]
    list_name: &'a str,
    start: i32,
    stop: i32,
}

#[derive(Serialize)]
struct SetItem<'a> {
    #[serde(rename = "setName")]
    set_name: &'a str,
    value: &'a str,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_round_trips() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _p = env.start(vec![env.link(&actor, &[])]).await;

    // Get / Set / Contains / Del, with a key JetStream could not store as is.
    let got: GetResponse = env.call(&actor, "KeyValue.Get", "user:1").await.unwrap();
    assert_eq!(got, GetResponse { value: String::new(), exists: false });
    let set = env
        .call_raw(
            &actor,
            "KeyValue.Set",
            rmp_serde::to_vec_named(&SetRequest { key: "user:1", value: "ada", expires: 0 }).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(set, [0xc0], "Set answers msgpack nil, as the 0.82-tree providers");
    let raw_get = env.call_raw(&actor, "KeyValue.Get", rmp_serde::to_vec("user:1").unwrap()).await.unwrap();
    assert_eq!(raw_get, [&[0x82, 0xa5][..], b"value", &[0xa3], b"ada", &[0xa6], b"exists", &[0xc3]].concat());
    assert!(env.call::<_, bool>(&actor, "KeyValue.Contains", "user:1").await.unwrap());
    assert!(!env.call::<_, bool>(&actor, "KeyValue.Contains", "user:2").await.unwrap());
    assert!(env.call::<_, bool>(&actor, "KeyValue.Del", "user:1").await.unwrap());
    assert!(!env.call::<_, bool>(&actor, "KeyValue.Del", "user:1").await.unwrap());
    assert!(!env.call::<_, GetResponse>(&actor, "KeyValue.Get", "user:1").await.unwrap().exists);
    // A deleted key can be written again.
    let _: () =
        env.call(&actor, "KeyValue.Set", &SetRequest { key: "user:1", value: "bob", expires: 0 }).await.unwrap();
    assert_eq!(env.call::<_, GetResponse>(&actor, "KeyValue.Get", "user:1").await.unwrap().value, "bob");

    // Increment: absent counts as 0; the result is an i32; the value reads back as text.
    assert_eq!(
        env.call::<_, i32>(&actor, "KeyValue.Increment", &IncrementRequest { key: "n", value: 5 }).await.unwrap(),
        5
    );
    assert_eq!(
        env.call::<_, i32>(&actor, "KeyValue.Increment", &IncrementRequest { key: "n", value: -7 }).await.unwrap(),
        -2
    );
    assert_eq!(env.call::<_, GetResponse>(&actor, "KeyValue.Get", "n").await.unwrap().value, "-2");
    let not_int = env.call::<_, i32>(&actor, "KeyValue.Increment", &IncrementRequest { key: "user:1", value: 1 }).await;
    assert!(matches!(&not_int, Err(RpcError::Remote(e)) if e.contains("not an integer")), "{not_int:?}");

    // Lists.
    for (i, v) in ["a", "b", "a", "c"].iter().enumerate() {
        let len: u32 = env.call(&actor, "KeyValue.ListAdd", &ListItem { list_name: "l", value: v }).await.unwrap();
        assert_eq!(len as usize, i + 1);
    }
    let all: Vec<String> =
        env.call(&actor, "KeyValue.ListRange", &ListRange { list_name: "l", start: 0, stop: 100 }).await.unwrap();
    assert_eq!(all, s(&["a", "b", "a", "c"]));
    let mid: Vec<String> =
        env.call(&actor, "KeyValue.ListRange", &ListRange { list_name: "l", start: 1, stop: 2 }).await.unwrap();
    assert_eq!(mid, s(&["b", "a"]));
    let tail: Vec<String> =
        env.call(&actor, "KeyValue.ListRange", &ListRange { list_name: "l", start: -2, stop: -1 }).await.unwrap();
    assert_eq!(tail, s(&["a", "c"]));
    assert!(env.call::<_, bool>(&actor, "KeyValue.ListDel", &ListItem { list_name: "l", value: "a" }).await.unwrap());
    assert!(!env.call::<_, bool>(&actor, "KeyValue.ListDel", &ListItem { list_name: "l", value: "zz" }).await.unwrap());
    let all: Vec<String> =
        env.call(&actor, "KeyValue.ListRange", &ListRange { list_name: "l", start: 0, stop: -1 }).await.unwrap();
    assert_eq!(all, s(&["b", "a", "c"]), "ListDel removes the first occurrence only");
    assert!(env.call::<_, bool>(&actor, "KeyValue.Contains", "l").await.unwrap());
    assert!(env.call::<_, bool>(&actor, "KeyValue.ListClear", "l").await.unwrap());
    assert!(!env.call::<_, bool>(&actor, "KeyValue.ListClear", "l").await.unwrap());
    let none: Vec<String> =
        env.call(&actor, "KeyValue.ListRange", &ListRange { list_name: "l", start: 0, stop: -1 }).await.unwrap();
    assert!(none.is_empty());

    // Sets.
    for (v, added) in [("x", 1u32), ("y", 1), ("x", 0)] {
        assert_eq!(
            env.call::<_, u32>(&actor, "KeyValue.SetAdd", &SetItem { set_name: "s1", value: v }).await.unwrap(),
            added
        );
    }
    for v in ["y", "z"] {
        let _: u32 = env.call(&actor, "KeyValue.SetAdd", &SetItem { set_name: "s2", value: v }).await.unwrap();
    }
    assert_eq!(env.call::<_, Vec<String>>(&actor, "KeyValue.SetQuery", "s1").await.unwrap(), s(&["x", "y"]));
    assert_eq!(
        env.call::<_, Vec<String>>(&actor, "KeyValue.SetUnion", &s(&["s1", "s2"])).await.unwrap(),
        s(&["x", "y", "z"])
    );
    assert_eq!(
        env.call::<_, Vec<String>>(&actor, "KeyValue.SetIntersection", &s(&["s1", "s2"])).await.unwrap(),
        s(&["y"])
    );
    assert_eq!(
        env.call::<_, Vec<String>>(&actor, "KeyValue.SetIntersection", &s(&["s1", "missing"])).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        env.call::<_, u32>(&actor, "KeyValue.SetDel", &SetItem { set_name: "s1", value: "x" }).await.unwrap(),
        1
    );
    assert_eq!(
        env.call::<_, u32>(&actor, "KeyValue.SetDel", &SetItem { set_name: "s1", value: "x" }).await.unwrap(),
        0
    );
    assert!(env.call::<_, bool>(&actor, "KeyValue.SetClear", "s2").await.unwrap());
    assert!(!env.call::<_, bool>(&actor, "KeyValue.SetClear", "s2").await.unwrap());
    assert_eq!(env.call::<_, Vec<String>>(&actor, "KeyValue.SetQuery", "s2").await.unwrap(), Vec::<String>::new());

    // Type mismatches are clear errors, not garbage.
    let wrong = env.call::<_, u32>(&actor, "KeyValue.ListAdd", &ListItem { list_name: "s1", value: "v" }).await;
    assert!(
        matches!(&wrong, Err(RpcError::Remote(e)) if e.contains("WRONGTYPE: key 's1' holds a set, not a list")),
        "{wrong:?}"
    );
    let wrong = env.call::<_, GetResponse>(&actor, "KeyValue.Get", "s1").await;
    assert!(matches!(&wrong, Err(RpcError::Remote(e)) if e.contains("WRONGTYPE")), "{wrong:?}");

    // Keys (extension) lists what is live, decoded.
    let keys: Vec<String> =
        env.call_raw(&actor, "KeyValue.Keys", Vec::new()).await.map(|b| rmp_serde::from_slice(&b).unwrap()).unwrap();
    assert_eq!(keys, s(&["n", "s1", "user:1"]));

    // Bad input and unknown operations.
    let bad = env.call_raw(&actor, "KeyValue.Set", vec![0xc1]).await;
    assert!(matches!(&bad, Err(RpcError::Remote(e)) if e.starts_with("invalid KeyValue.Set request")), "{bad:?}");
    let unknown = env.call_raw(&actor, "KeyValue.Frobnicate", Vec::new()).await;
    assert!(matches!(&unknown, Err(RpcError::Remote(e)) if e.contains("unknown operation")), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn set_with_expiry_expires() {
    let env = Env::new().await;
    let actor = TestLattice::new_actor_key();
    let _p = env.start(vec![env.link(&actor, &[])]).await;

    let _: () = env.call(&actor, "KeyValue.Set", &SetRequest { key: "tmp", value: "v", expires: 1 }).await.unwrap();
    let _: () = env.call(&actor, "KeyValue.Set", &SetRequest { key: "keep", value: "v", expires: 0 }).await.unwrap();
    let started = tokio::time::Instant::now();
    assert!(env.call::<_, GetResponse>(&actor, "KeyValue.Get", "tmp").await.unwrap().exists);
    // Poll until it is gone: that must happen after ~1 s and well within the wait.
    loop {
        if !env.call::<_, bool>(&actor, "KeyValue.Contains", "tmp").await.unwrap() {
            break;
        }
        assert!(started.elapsed() < WAIT, "the key never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "expired too early: {:?}", started.elapsed());
    assert!(!env.call::<_, GetResponse>(&actor, "KeyValue.Get", "tmp").await.unwrap().exists);
    assert!(env.call::<_, bool>(&actor, "KeyValue.Contains", "keep").await.unwrap());

    // The sweeper removes the entry from JetStream itself (no per-key TTL on 2.9).
    let js = async_nats::jetstream::new(env.nats.clone());
    let store = js.get_key_value(format!("kv_{actor}")).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.get("tmp").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the sweeper never deleted the expired key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.get("keep").await.unwrap().is_some());
    drop(env.server);
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_come_from_link_values() {
    let env = Env::new().await;
    let (a, b, c) = (TestLattice::new_actor_key(), TestLattice::new_actor_key(), TestLattice::new_actor_key());
    let _p = env
        .start(vec![env.link(&a, &[("bucket", "shared")]), env.link(&b, &[("Bucket", "shared")]), env.link(&c, &[])])
        .await;
    let _: () = env.call(&a, "KeyValue.Set", &SetRequest { key: "k", value: "from-a", expires: 0 }).await.unwrap();
    // b shares a's bucket; c has its own (kv_{c}).
    assert_eq!(env.call::<_, GetResponse>(&b, "KeyValue.Get", "k").await.unwrap().value, "from-a");
    assert!(!env.call::<_, GetResponse>(&c, "KeyValue.Get", "k").await.unwrap().exists);

    let js = async_nats::jetstream::new(env.nats.clone());
    let shared = js.get_key_value("shared").await.unwrap();
    let raw = shared.get("k").await.unwrap().unwrap();
    assert_eq!(&raw[..], br#"{"t":"string","v":"from-a"}"#);
    assert!(js.get_key_value(format!("kv_{c}")).await.is_ok(), "the default bucket was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_read_modify_writes_lose_nothing() {
    let env = std::sync::Arc::new(Env::new().await);
    let actor = TestLattice::new_actor_key();
    let _p = env.start(vec![env.link(&actor, &[])]).await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (env, actor) = (env.clone(), actor.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let _: i32 =
                    env.call(&actor, "KeyValue.Increment", &IncrementRequest { key: "hits", value: 1 }).await.unwrap();
                let item = format!("{t}-{i}");
                let _: u32 =
                    env.call(&actor, "KeyValue.ListAdd", &ListItem { list_name: "log", value: &item }).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(env.call::<_, GetResponse>(&actor, "KeyValue.Get", "hits").await.unwrap().value, "80");
    let log: Vec<String> =
        env.call(&actor, "KeyValue.ListRange", &ListRange { list_name: "log", start: 0, stop: -1 }).await.unwrap();
    assert_eq!(log.len(), 80);
}
