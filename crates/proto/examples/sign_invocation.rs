//! Sign one invocation with a cluster seed and write its msgpack bytes to stdout.
//!
//! ```sh
//! seed=$(lattice keys gen cluster --json | sed 's/.*"seed":"\([^"]*\)".*/\1/')
//! cargo run -q -p lattice-proto --example sign_invocation -- "$seed" "hello" | lattice inspect --issuer C…
//! ```
//!
//! Everything here is pure: the id, `jti` and clock are passed in, which is what lets
//! the protocol crate be tested byte-for-byte against the 0.82 vectors.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{ActorKey, ClusterSeed, HostKey, Invocation, LinkName, ProviderKey, WasmCloudEntity};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seed = ClusterSeed::parse(&args.next().ok_or("usage: sign_invocation CLUSTER_SEED [MSG]")?)?;
    let msg = args.next().unwrap_or_else(|| "hello".into()).into_bytes();

    // Fixed example entities; a real caller uses its own keys.
    let actor = ActorKey::parse("MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ")?;
    let provider = ProviderKey::parse("VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV")?;
    let host = HostKey::parse("NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX")?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let call = CallSpec {
        origin: WasmCloudEntity::actor(&actor),
        target: WasmCloudEntity::provider(&provider, &LinkName::default(), "wasmcloud:keyvalue"),
        operation: "KeyValue.Get".into(),
        msg,
        host_id: &host,
    };
    let ctx = SignContext { id: format!("example-{now}"), jti: "EXAMPLEJTI000000000001", now, expires: None };
    let inv = Invocation::new_signed(call, &seed, ctx);
    std::io::stdout().write_all(&inv.encode())?;
    Ok(())
}
