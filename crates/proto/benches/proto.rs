//! Protocol cost per call: encode, decode, sign, verify — and the floor they sit on.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
//!
//! `full_call` is what one call costs the two ends together: build + sign (sender),
//! encode, decode, verify (receiver). `floor` is the unavoidable part of it: one raw
//! Ed25519 sign, one raw verify and one SHA-256 of the msg. `full_call / floor` is the
//! protocol overhead ratio recorded in docs/BENCHMARKS.md.
//!
//! Run: `cargo bench -p lattice-proto --bench proto`

#![allow(clippy::disallowed_methods, reason = "benchmarks the signature primitives lattice_proto::verify is built on")]

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

    // Batch verification of 64 invocations signed with the cluster key: Lattice's same-key
    // batch (`claims::verify_batch`) next to ed25519-dalek's generic `verify_batch` on the
    // very same signed inputs, signatures and keys (both include the JWT parsing; the dalek
    // side also decodes the signatures again, ~0.1 µs each).
    let invs: Vec<Invocation> = (0..64).map(|n| sign(&f, &[0xA5u8; 1024], n)).collect();
    let mut g = c.benchmark_group("proto/batch_small");
    for n in [1usize, 2] {
        g.bench_function(format!("lattice_{n}"), |b| {
            b.iter(|| {
                let tokens: Vec<_> =
                    invs[..n].iter().map(|i| f.issuers.precheck(&i.encoded_claims).expect("precheck")).collect();
                assert!(lattice_proto::claims::verify_batch(&tokens));
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("proto/batch64");
    g.throughput(Throughput::Elements(64));
    g.bench_function("lattice_same_key", |b| {
        b.iter(|| {
            let tokens: Vec<_> =
                invs.iter().map(|i| f.issuers.precheck(&i.encoded_claims).expect("precheck")).collect();
            assert!(lattice_proto::claims::verify_batch(&tokens));
        })
    });
    let key = ed25519_dalek::VerifyingKey::from_bytes(
        &nkeys::from_public_key(f.seed.public_key().as_ref()).expect("cluster key").1,
    )
    .expect("key");
    g.bench_function("dalek_generic", |b| {
        b.iter(|| {
            let tokens: Vec<_> =
                invs.iter().map(|i| f.issuers.precheck(&i.encoded_claims).expect("precheck")).collect();
            black_box(&tokens);
            let parts: Vec<(&str, ed25519_dalek::Signature)> = invs
                .iter()
                .map(|i| {
                    let (input, sig) = i.encoded_claims.rsplit_once('.').expect("jwt");
                    let sig = data_encoding::BASE64URL_NOPAD.decode(sig.as_bytes()).expect("b64");
                    (input, ed25519_dalek::Signature::from_slice(&sig).expect("sig"))
                })
                .collect();
            let msgs: Vec<&[u8]> = parts.iter().map(|(m, _)| m.as_bytes()).collect();
            let sigs: Vec<_> = parts.iter().map(|(_, s)| *s).collect();
            ed25519_dalek::verify_batch(&msgs, &sigs, &vec![key; 64]).expect("dalek batch");
        })
    });
    g.finish();
}

criterion_group!(proto, benches);
criterion_main!(proto);
