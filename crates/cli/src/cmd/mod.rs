//! One module per verb.

// Moved files, still under their old module names until the next commit.
#[path = "bench/rpc.rs"]
pub(crate) mod bench;
#[path = "bench/actor.rs"]
pub(crate) mod bench_actor;
#[path = "bench/http.rs"]
pub(crate) mod bench_http;
pub(crate) mod call;
pub(crate) mod claims;
#[path = "../common/signing.rs"]
pub(crate) mod common;
pub(crate) mod events;
pub(crate) mod get;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod link;
pub(crate) mod monitor;
pub(crate) mod par;
pub(crate) mod scale;
pub(crate) mod spy;
pub(crate) mod start;
pub(crate) mod stop;
pub(crate) mod up;
