//! One module per verb.

pub(crate) mod inspect;
pub(crate) mod keys;
