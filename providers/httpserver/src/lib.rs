//! The `wasmcloud:httpserver` provider's library part: its wire types ([`wire`]), defined
//! once and shared with the `lattice` CLI (`call --http`, `bench --actor`).

pub mod wire;
