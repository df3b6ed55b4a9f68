//! Protocol cost per call: encode, decode, sign, verify — and the floor they sit on.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
//!
//! `full_call` is what one call costs the two ends together: build + sign (sender),
//! encode, decode, verify (receiver). `floor` is the unavoidable part of it: one raw
//! Ed25519 sign, one raw verify and one SHA-256 of the msg. `full_call / floor` is the
//! protocol overhead ratio recorded in docs/BENCHMARKS.md.
//!
//! Run: `cargo bench -p lattice-proto --bench proto`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use lattice_proto::invocation::{CallSpec, SignContext};
use lattice_proto::{
    ActorKey, ClusterSeed, HostKey, Invocation, ProviderKey, TrustedIssuers, VerifyOptions, WasmCloudEntity,
};
use sha2::{Digest, Sha256};

const SEED: &str = "SCAACAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAIBAEAQCAKOFQ";
const ACTOR: &str = "MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ";
const PROVIDER: &str = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
const HOST: &str = "NDWUSKGGFDI4FRXK5EBTRECZSVQSSWJHHJOGH6JWG3AUMFFMQ435CDIX";
const SIZES: [usize; 4] = [0, 1024, 65536, 1 << 20];

struct Fixture {
    seed: ClusterSeed,
    host: HostKey,
    origin: WasmCloudEntity,
    target: WasmCloudEntity,
    issuers: TrustedIssuers,
}

fn fixture() -> Fixture {
    let seed = ClusterSeed::parse(SEED).expect("seed");
    let issuers = TrustedIssuers::new([seed.public_key()]);
    let link = lattice_proto::LinkName::default();
    Fixture {
        host: HostKey::parse(HOST).expect("host"),
        origin: WasmCloudEntity::actor(&ActorKey::parse(ACTOR).expect("actor")),
        target: WasmCloudEntity::provider(
            &ProviderKey::parse(PROVIDER).expect("provider"),
            &link,
            "wasmcloud:keyvalue",
        ),
        seed,
        issuers,
    }
}

fn sign(f: &Fixture, msg: &[u8], n: u64) -> Invocation {
    let call = CallSpec {
        origin: f.origin.clone(),
        target: f.target.clone(),
        operation: "KeyValue.Get".into(),
        msg: msg.to_vec(),
        host_id: &f.host,
    };
    let ctx = SignContext { id: format!("id-{n}"), jti: "JTI0000000000000000001", now: 1_707_858_000, expires: None };
    Invocation::new_signed(call, &f.seed, ctx)
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let opts = VerifyOptions::at(1_707_858_000);
    let raw_key = SigningKey::from_bytes(&[7u8; 32]);
    let raw_pub = raw_key.verifying_key();
    for size in SIZES {
        let msg = vec![0xA5u8; size];
        let inv = sign(&f, &msg, 0);
        let bytes = inv.encode();
        let mut g = c.benchmark_group(format!("proto/{size}B"));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("sign", size), |b| b.iter(|| black_box(sign(&f, &msg, 1))));
        g.bench_function(BenchmarkId::new("encode", size), |b| b.iter(|| black_box(inv.encode())));
        g.bench_function(BenchmarkId::new("decode", size), |b| {
            b.iter(|| black_box(Invocation::decode(&bytes).expect("decode")))
        });
        g.bench_function(BenchmarkId::new("verify", size), |b| {
            b.iter(|| black_box(f.issuers.verify(&inv, &opts).expect("verify")))
        });
        g.bench_function(BenchmarkId::new("full_call", size), |b| {
            b.iter(|| {
                let wire = sign(&f, &msg, 2).encode();
                let got = Invocation::decode(&wire).expect("decode");
                black_box(f.issuers.verify(&got, &opts).expect("verify"))
            })
        });
        g.bench_function(BenchmarkId::new("floor", size), |b| {
            b.iter(|| {
                let digest = Sha256::digest(&msg);
                let sig = raw_key.sign(&digest);
                raw_pub.verify(&digest, &sig).expect("raw verify");
                black_box(sig)
            })
        });
        g.finish();
    }
}

criterion_group!(proto, benches);
criterion_main!(proto);
