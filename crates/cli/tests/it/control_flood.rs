//! The control interface under a flood (issue 16 item 3, docs/SECURITY.md list (a)): a real
//! nats-server and a real host (`lattice up --allow-file-load`); an attacker fires 200
//! provider starts of a slow provider (it never becomes ready) and 200 inventory requests
//! at once. The host bounds the starts it runs (at most 16 control starts at a time; the
//! rest are refused at once with "too many starts"), handles requests through a bounded
//! set of handlers (64), and keeps answering: every inventory request, then a ping and a
//! stop, answer within a generous bound.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lattice_control::types::{StartProviderCommand, StopHostCommand};
use lattice_control::{EventName, subjects};
use lattice_host::provider::archive::{self, ProviderClaims, ProviderMetadata};
use lattice_proto::{ClusterSeed, HostKey, LatticeName};
use lattice_test_support::NatsServer;
use serde_json::Value;

use crate::up::Up;

const STARTS: usize = 200;
const INVENTORIES: usize = 200;
/// `lattice_host`'s bound on control-interface starts in progress.
const MAX_CONTROL_STARTS: usize = 16;
/// Generous: the machine running the tests may be loaded.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

async fn request(nats: &async_nats::Client, subject: String, body: Vec<u8>) -> (Value, Duration) {
    let started = Instant::now();
    let reply = tokio::time::timeout(ANSWER_WITHIN, nats.request(subject.clone(), body.into()))
        .await
        .unwrap_or_else(|_| panic!("no answer on {subject} within {ANSWER_WITHIN:?}"))
        .unwrap_or_else(|e| panic!("request on {subject} failed: {e}"));
    (serde_json::from_slice(&reply.payload).unwrap(), started.elapsed())
}

#[test]
fn a_control_flood_is_bounded_and_the_host_keeps_answering() {
    let server = NatsServer::start();
    let url = server.url();
    let lattice = LatticeName::default();
    let seed = ClusterSeed::generate();
    let files = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();

    // A provider that never becomes ready: each start holds its permit until the start
    // times out.
    let provider = nkeys::KeyPair::new_service();
    let claims = ProviderClaims {
        sub: provider.public_key(),
        wascap: ProviderMetadata { capid: "test:slow".into(), vendor: "test".into(), ..Default::default() },
        ..Default::default()
    };
    let slow = b"#!/bin/sh\nsleep 20\n";
    let par = archive::pack(slow, &archive::current_target(), claims, &nkeys::KeyPair::new_account(), false).unwrap();
    let par_path = files.path().join("slow.par");
    std::fs::write(&par_path, par).unwrap();
    let par_path = par_path.to_string_lossy().into_owned();

    let mut up = Up::spawn(&["--nats-url", &url, "--cluster-seed", &seed.seed(), "--allow-file-load"], state.path());
    up.wait_ready();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let nats = async_nats::connect(&url).await.unwrap();
        let (pong, _) = request(&nats, subjects::ping_hosts(&lattice), Vec::new()).await;
        let host = HostKey::parse(pong["id"].as_str().unwrap()).unwrap();

        // One subscription sees the host's answers and its start events in the order the
        // host published them: a start's end (`provider_start_failed` / `_started`) comes
        // before the answer that reuses its permit, so "accepted minus ended" is the number
        // of control starts running at that moment.
        let watcher = async_nats::connect(&url).await.unwrap();
        let mut seen = watcher.subscribe(">").await.unwrap();
        lattice_rpc::barrier::round_trip(&watcher).await.unwrap();
        let ended = [
            subjects::event(&lattice, EventName::ProviderStartFailed),
            subjects::event(&lattice, EventName::ProviderStarted),
        ];

        // The flood: every request at once, answers to `flood.{kind}.{i}`.
        let started = Instant::now();
        for i in 0..STARTS {
            let cmd = StartProviderCommand {
                host_id: host.as_str().to_owned(),
                link_name: format!("flood{i}"),
                provider_ref: par_path.clone(),
                ..Default::default()
            };
            let body = serde_json::to_vec(&cmd).unwrap();
            let subject = subjects::start_provider(&lattice, &host);
            nats.publish_with_reply(subject, format!("flood.start.{i}"), body.into()).await.unwrap();
            nats.publish_with_reply(subjects::host_inventory(&lattice, &host), format!("flood.inv.{i}"), "".into())
                .await
                .unwrap();
        }
        nats.flush().await.unwrap();
        let (mut accepted, mut refused, mut inventories, mut ends) = (0usize, 0usize, 0usize, 0usize);
        let (mut running, mut most_running) = (0usize, 0usize);
        let mut slowest_inventory = Duration::ZERO;
        while accepted + refused < STARTS || inventories < INVENTORIES {
            let msg = tokio::time::timeout(ANSWER_WITHIN, seen.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("the host stopped answering: {accepted}+{refused} starts, {inventories} inventories")
                })
                .unwrap();
            let subject = msg.subject.as_str();
            if ended.iter().any(|e| e == subject) {
                ends += 1;
                running = running.saturating_sub(1);
            } else if subject.starts_with("flood.inv.") {
                let answer: Value = serde_json::from_slice(&msg.payload).unwrap();
                assert_eq!(answer["host_id"], host.as_str(), "{answer}");
                inventories += 1;
                slowest_inventory = started.elapsed();
            } else if subject.starts_with("flood.start.") {
                let answer: Value = serde_json::from_slice(&msg.payload).unwrap();
                if answer["accepted"] == true {
                    accepted += 1;
                    running += 1;
                    most_running = most_running.max(running);
                } else {
                    let error = answer["error"].as_str().unwrap_or_default();
                    assert!(error.contains("too many starts in progress"), "{answer}");
                    refused += 1;
                }
            }
        }
        println!(
            "control flood: {accepted} starts accepted ({ends} ended meanwhile, at most {most_running} running at once), \
             {refused} refused; {inventories} inventories answered, the last {slowest_inventory:?} after the flood began"
        );
        assert!(most_running <= MAX_CONTROL_STARTS, "{most_running} control starts ran at once");
        assert!(accepted >= 1 && refused >= 1, "the flood was both served and bounded");
        assert!(slowest_inventory <= ANSWER_WITHIN);

        // Still answering after the flood (the slow starts still hold their permits).
        let (pong, took) = request(&nats, subjects::ping_hosts(&lattice), Vec::new()).await;
        assert_eq!(pong["id"], host.as_str());
        println!("control flood: ping answered in {took:?} after the flood");
        let stop = StopHostCommand { host_id: Some(host.as_str().to_owned()), timeout: None };
        let (ack, took) =
            request(&nats, subjects::stop_host(&lattice, &host), serde_json::to_vec(&stop).unwrap()).await;
        assert_eq!(ack["accepted"], true, "{ack}");
        println!("control flood: stop acknowledged in {took:?}");
    });
    up.stop();
}
