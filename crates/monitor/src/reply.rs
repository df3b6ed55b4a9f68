//! Reply-subject prefixes: where the answers to the invocations a watcher sees travel.
//!
//! A watcher (the monitor, the spy, the dashboard) pairs each invocation with its
//! `InvocationResponse` by reply subject ([`crate::pairing`]), so it must subscribe to the
//! subjects those responses are published on. Every async-nats and 0.82 client replies on
//! its own `_INBOX.…` ([`DEFAULT_REPLY_PREFIX`]), but not every answer travels there: with
//! the least-privilege configuration of `lattice nats-config`, callers live in their own
//! account, and nats-server rewrites their reply subjects to `_R_.…` inside the lattice's
//! account. A client may also use a custom inbox prefix.
//!
//! This module is the one place that knows that assumption: [`ReplyPrefixes`] (default
//! `_INBOX`) is what every watcher takes and what each `--reply-prefix` flag parses into,
//! and [`ReplyPrefix::wildcard`] is how a prefix becomes a subscription.

use std::fmt;
use std::str::FromStr;

use crate::error::MonitorError;

/// The default reply-subject prefix: async-nats' and every 0.82 client's `_INBOX`.
pub const DEFAULT_REPLY_PREFIX: &str = "_INBOX";

/// The longest prefix accepted, in bytes (NATS subjects are short; this only bounds input).
pub const MAX_PREFIX_LEN: usize = 256;

/// One reply-subject prefix (`_INBOX`, `_R_`, `my.inbox`): dot-separated NATS tokens with
/// no wildcards. A trailing `.>` / `.*` / `.` is accepted and dropped (`_INBOX.>` means
/// `_INBOX`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyPrefix(String);

impl ReplyPrefix {
    /// Check and normalise `prefix`.
    pub fn parse(prefix: &str) -> Result<Self, MonitorError> {
        let bad = |reason: &'static str| MonitorError::ReplyPrefix { prefix: prefix.to_owned(), reason };
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(bad("longer than 256 bytes"));
        }
        let trimmed = prefix.strip_suffix(".>").or_else(|| prefix.strip_suffix(".*")).unwrap_or(prefix);
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(bad("empty"));
        }
        for token in trimmed.split('.') {
            if token.is_empty() {
                return Err(bad("an empty token (two dots in a row, or a leading dot)"));
            }
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("whitespace or a control character"));
            }
            if token.contains(['*', '>']) {
                return Err(bad("a wildcard inside the prefix"));
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// `_INBOX`.
    pub fn inbox() -> Self {
        Self(DEFAULT_REPLY_PREFIX.to_owned())
    }

    /// The prefix itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subscription that sees every reply under this prefix: `{prefix}.>`.
    pub fn wildcard(&self) -> String {
        format!("{}.>", self.0)
    }
}

impl FromStr for ReplyPrefix {
    type Err = MonitorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ReplyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The reply prefixes a watcher subscribes to, without duplicates, in the order given.
/// Default: `_INBOX` only. Empty means responses are not watched (nothing is paired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyPrefixes(Vec<ReplyPrefix>);

impl Default for ReplyPrefixes {
    fn default() -> Self {
        Self(vec![ReplyPrefix::inbox()])
    }
}

impl ReplyPrefixes {
    /// These prefixes, duplicates dropped.
    pub fn new(prefixes: impl IntoIterator<Item = ReplyPrefix>) -> Self {
        let mut out: Vec<ReplyPrefix> = Vec::new();
        for p in prefixes {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Self(out)
    }

    /// Parse each of `prefixes` ([`ReplyPrefix::parse`]).
    pub fn parse<S: AsRef<str>>(prefixes: &[S]) -> Result<Self, MonitorError> {
        let parsed = prefixes.iter().map(|p| ReplyPrefix::parse(p.as_ref())).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(parsed))
    }

    /// The prefixes.
    pub fn iter(&self) -> impl Iterator<Item = &ReplyPrefix> {
        self.0.iter()
    }

    /// The subscriptions, one per prefix (`{prefix}.>`).
    pub fn subjects(&self) -> Vec<String> {
        self.0.iter().map(ReplyPrefix::wildcard).collect()
    }

    /// Whether no prefix is watched.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<ReplyPrefix>> for ReplyPrefixes {
    fn from(prefixes: Vec<ReplyPrefix>) -> Self {
        Self::new(prefixes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn prefixes_normalise_and_refuse_what_cannot_be_subscribed() {
        for (given, want) in [("_INBOX", "_INBOX"), ("_INBOX.>", "_INBOX"), ("_R_.", "_R_"), ("my.inbox.*", "my.inbox")]
        {
            assert_eq!(ReplyPrefix::parse(given).unwrap().as_str(), want, "{given}");
        }
        assert_eq!(ReplyPrefix::parse("_R_").unwrap().wildcard(), "_R_.>");
        for bad in ["", ".", ">", "a..b", ".a", "a.*.b", "a>b", "a b", "a\tb", &"x".repeat(MAX_PREFIX_LEN + 1)] {
            let err = ReplyPrefix::parse(bad).unwrap_err();
            assert!(matches!(err, MonitorError::ReplyPrefix { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_default_is_the_inbox_and_duplicates_go() {
        assert_eq!(ReplyPrefixes::default().subjects(), ["_INBOX.>"]);
        let both = ReplyPrefixes::parse(&["_INBOX", "_R_", "_INBOX.>"]).unwrap();
        assert_eq!(both.subjects(), ["_INBOX.>", "_R_.>"]);
        assert!(ReplyPrefixes::new([]).is_empty());
    }
}
