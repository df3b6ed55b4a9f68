//! The example provider, run as a host runs it: calls, link values, health, and a
//! SIGTERM that lets in-flight calls finish.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;
use std::time::Duration;

use lattice_proto::WasmCloudEntity;
use lattice_provider::testing::{ProviderProcess, TestLattice};
use lattice_rpc::RpcError;
use lattice_test_support::NatsServer;

const CONTRACT: &str = "example:echo";
const LINK: &str = "default";
const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread")]
async fn echo_calls_health_and_a_draining_sigterm() {
    let server = NatsServer::start();
    let lattice = TestLattice::new(server.url());
    let nats = async_nats::connect(server.url()).await.unwrap();
    let (provider, actor) = (TestLattice::new_provider_key(), TestLattice::new_actor_key());
    let link = TestLattice::link(&actor, &provider, LINK, CONTRACT, &[("prefix", ">> ")]);
    let hd = lattice.host_data(&provider, LINK, vec![link]);
    let mut p = ProviderProcess::spawn(Path::new(env!("CARGO_BIN_EXE_echo-provider")), &hd.to_base64(), &[]);
    lattice.wait_healthy(&nats, &provider, LINK, WAIT).await;

    let client = lattice.client(nats.clone());
    let origin = WasmCloudEntity::actor(&actor);
    let target = TestLattice::provider_entity(&provider, LINK, CONTRACT);
    let echoed = client.call(origin.clone(), target.clone(), "Echo.Echo", b"hi".to_vec()).await.unwrap();
    assert_eq!(echoed, b"hi");
    let prefixed = client.call(origin.clone(), target.clone(), "Echo.Prefixed", b"hi".to_vec()).await.unwrap();
    assert_eq!(prefixed, b">> hi");
    let unknown = client.call(origin.clone(), target.clone(), "Echo.Nope", Vec::new()).await;
    assert!(matches!(&unknown, Err(RpcError::Remote(e)) if e == "unknown operation Echo.Nope"), "{unknown:?}");
    let h = lattice.health(&nats, &provider, LINK, WAIT).await.unwrap();
    assert!(h.healthy);
    assert_eq!(h.message.as_deref(), Some("3 calls served"));

    // A call in flight when SIGTERM arrives still gets its answer; then the process exits 0.
    let slow = {
        let (client, origin, target) = (client.clone(), origin.clone(), target.clone());
        tokio::spawn(async move { client.call(origin, target, "Echo.Delay", b"800".to_vec()).await })
    };
    // Readiness: the provider counts the call as served once its handler starts.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h = lattice.health(&nats, &provider, LINK, WAIT).await.unwrap();
        if h.message.as_deref() == Some("4 calls served") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slow call never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.sigterm();
    assert_eq!(slow.await.unwrap().unwrap(), b"800", "the in-flight call was drained, not dropped");
    assert_eq!(p.wait_exit(WAIT).await.code(), Some(0), "stderr:\n{}", p.stderr());
    p.wait_for_line(&["SIGTERM received"], WAIT).await;
    let after = client.call(origin, target, "Echo.Echo", Vec::new()).await;
    assert!(matches!(after, Err(RpcError::NoResponders { .. })), "{after:?}");
}
