//! Bodies above 921 600 bytes travel through the JetStream object store, both ways.

use std::sync::{Arc, Mutex};

use lattice_rpc::{HandlerError, Request, Served, handler_fn};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_mib_round_trips_and_objects_are_deleted() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = ids.clone();
    let server = env
        .serve(
            Served::Actor(b.clone()),
            handler_fn(move |req: Request| {
                seen.lock().unwrap().push(req.id.clone());
                async move {
                    // Answer with a different body of the same size, so both directions are checked.
                    Ok::<_, HandlerError>(req.msg.iter().map(|b| b.wrapping_add(1)).collect())
                }
            }),
        )
        .await;
    let client = env.client().await;
    let body: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let out = client.call(actor(&a), actor(&b), "Blob.Put", body.clone()).await.unwrap();
    assert_eq!(out.len(), body.len());
    assert!(out.iter().zip(&body).all(|(o, i)| *o == i.wrapping_add(1)));

    // Both objects were read and deleted by their readers.
    let id = ids.lock().unwrap().pop().expect("the handler ran");
    let js = async_nats::jetstream::new(env.connect().await);
    let store = js.get_object_store("default").await.expect("bucket = lattice name exists");
    for name in [id.clone(), format!("{id}-r")] {
        assert!(store.get(&name).await.is_err(), "object {name} is gone");
        let info = store.info(&name).await;
        assert!(info.map(|i| i.deleted).unwrap_or(true), "object {name} is marked deleted");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn just_below_the_threshold_goes_inline() {
    let env = Env::start();
    let (a, b) = (actor_key(), actor_key());
    let calls = Counter::default();
    let server = env.serve(Served::Actor(b.clone()), echo(&calls)).await;
    let client = env.client().await;
    let body = vec![9u8; lattice_proto::chunk::CHUNK_THRESHOLD_BYTES];
    assert_eq!(client.call(actor(&a), actor(&b), "Blob.Put", body.clone()).await.unwrap(), body);
    let js = async_nats::jetstream::new(env.connect().await);
    assert!(js.get_object_store("default").await.is_err(), "no bucket was needed");
    server.shutdown().await;
}
