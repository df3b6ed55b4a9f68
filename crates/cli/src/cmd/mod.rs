//! One module per verb.

pub(crate) mod bench;
pub(crate) mod call;
pub(crate) mod claims;
pub(crate) mod events;
pub(crate) mod get;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod link;
pub(crate) mod monitor;
pub(crate) mod nats_config;
pub(crate) mod nats_roles;
pub(crate) mod par;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod scale;
pub(crate) mod spy;
pub(crate) mod start;
pub(crate) mod stop;
pub(crate) mod ui;
pub(crate) mod up;
