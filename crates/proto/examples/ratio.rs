//! Load-independent cross-check of the protocol overhead ratio (see docs/BENCHMARKS.md).
//!
//! Runs N iterations of either the full per-call protocol work (sign + encode + decode +
//! verify) or the floor (SHA-256 of the msg + one raw Ed25519 sign + one verify), so that
//! `valgrind --tool=callgrind` can count instructions for each — a number that does not
//! move when other processes load the machine, unlike criterion's wall-clock times.
//!
//! ```sh
//! cargo build --release -p lattice-proto --example ratio
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ratio full 1024 200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ratio floor 1024 200
//! ```
//! (`scripts/proto-ratio.sh` runs both and prints the ratio.)

use std::hint::black_box;

use ed25519_dalek::{Signer, SigningKey, Verifier};
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{
    ActorKey, ClusterSeed, HostKey, Invocation, LinkName, ProviderKey, TrustedIssuers, VerifyOptions, WasmCloudEntity,
};
use sha2::{Digest, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let size: usize = args.next().unwrap_or_else(|| "1024".into()).parse()?;
    let iterations: u64 = args.next().unwrap_or_else(|| "200".into()).parse()?;
    let msg = vec![0xA5u8; size];

    let seed = ClusterSeed::parse("SCAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAKOFQ")?;
    let issuers = TrustedIssuers::new([seed.public_key()]);
    let host = HostKey::parse("NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX")?;
    let origin = WasmCloudEntity::actor(&ActorKey::parse("MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ")?);
    let target = WasmCloudEntity::provider(
        &ProviderKey::parse("VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV")?,
        &LinkName::default(),
        "wasmcloud:keyvalue",
    );
    let opts = VerifyOptions::at(1_707_858_000);
    let raw_key = SigningKey::from_bytes(&[7u8; 32]);
    let raw_pub = raw_key.verifying_key();

    for i in 0..iterations {
        match mode.as_str() {
            "full" => {
                let call = CallSpec {
                    origin: origin.clone(),
                    target: target.clone(),
                    operation: "KeyValue.Get".into(),
                    msg: msg.clone(),
                    host_id: &host,
                };
                let ctx = SignContext {
                    id: format!("id-{i}"),
                    jti: "JTI0000000000000000001",
                    now: 1_707_858_000,
                    expires: None,
                };
                let wire = Invocation::new_signed(call, &seed, ctx).encode();
                let got = Invocation::decode(&wire)?;
                black_box(issuers.verify(&got, &opts)?);
            }
            "floor" => {
                let digest = Sha256::digest(&msg);
                let sig = raw_key.sign(&digest);
                raw_pub.verify(&digest, &sig)?;
                black_box(sig);
            }
            other => return Err(format!("unknown mode {other} (full|floor)").into()),
        }
    }
    Ok(())
}
