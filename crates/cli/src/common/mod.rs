//! Plumbing every verb shares, so that no verb imports another verb's module: the async
//! runtime and interruption ([`runtime`]), NATS flags and connecting ([`nats`]), control
//! flags and failures ([`ctl`]), output ([`output`]), flag parsing ([`parse`]), waiting
//! for events ([`wait`]), finding shipped executables ([`exe`]), starting a nats-server
//! ([`nats_server`]), signing keys and output paths of `claims` and `par` ([`signing`]),
//! and exit codes with the one `error:` line ([`exit`]).

pub(crate) mod artifact;
pub(crate) mod ctl;
pub(crate) mod exe;
pub(crate) mod exit;
pub(crate) mod nats;
pub(crate) mod nats_server;
pub(crate) mod output;
pub(crate) mod parse;
pub(crate) mod registry;
pub(crate) mod runtime;
pub(crate) mod signing;
pub(crate) mod wait;
