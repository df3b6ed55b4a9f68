//! What the signing verbs `lattice claims` and `lattice par` share: the clock, reading
//! input files, default output paths, the issuer and subject key pairs (from seeds or
//! generated, and how generated seeds are reported), and the `inspect` lines both print
//! alike.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use nkeys::{KeyPair, KeyPairType};
use serde_json::json;

use crate::exit::Failure;

/// Seconds since the Unix epoch now (0 if the clock is set before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The bytes of an input file; one that cannot be read is an I/O failure (exit 3).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display())).map_err(Failure::from)
}

/// The default output next to `input`: its file stem (`fallback_stem` when it has none)
/// followed by `suffix`.
pub(crate) fn default_output(input: &Path, fallback_stem: &str, suffix: &str) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| fallback_stem.into());
    input.with_file_name(format!("{stem}{suffix}"))
}

/// The key pairs that sign claims: the issuing account's and the subject's (the actor's
/// module key or the provider's service key), each from a seed or freshly generated.
pub(crate) struct SigningKeys {
    /// The issuing account (`SA…`).
    pub(crate) issuer: KeyPair,
    /// The subject, whose public key the claims name.
    pub(crate) subject: KeyPair,
    issuer_generated: bool,
    subject_generated: bool,
}

impl SigningKeys {
    /// The issuer from `issuer_seed` and the subject from `subject_seed`, which must be of
    /// `subject_kind` (whose seeds start with `subject_prefix`); a key without a seed is
    /// generated. A seed that does not parse or is of the wrong kind is bad input (exit 2).
    pub(crate) fn load(
        issuer_seed: Option<&str>,
        subject_seed: Option<&str>,
        subject_kind: KeyPairType,
        subject_prefix: &str,
    ) -> Result<Self, Failure> {
        let (issuer, issuer_generated) = key_pair(issuer_seed, KeyPairType::Account, "issuer", "SA")?;
        let (subject, subject_generated) = key_pair(subject_seed, subject_kind, "subject", subject_prefix)?;
        Ok(Self { issuer, subject, issuer_generated, subject_generated })
    }

    /// Add `issuer_seed` and `subject_seed` to a `--json` report, each only when that key
    /// was generated.
    pub(crate) fn add_generated_seeds(&self, out: &mut serde_json::Value) -> Result<(), Failure> {
        if self.issuer_generated {
            out["issuer_seed"] = json!(seed_of(&self.issuer)?);
        }
        if self.subject_generated {
            out["subject_seed"] = json!(seed_of(&self.subject)?);
        }
        Ok(())
    }

    /// Print each generated seed to stderr with how to use it again; `subject` names the
    /// subject's key (`module`, `provider`) and `owner` whose key it fixes (`actor`,
    /// `provider`).
    pub(crate) fn print_generated_seeds(&self, subject: &str, owner: &str) -> Result<(), Failure> {
        if self.issuer_generated {
            eprintln!(
                "generated issuer seed (keep it secret, pass it with --issuer-seed to sign again): {}",
                seed_of(&self.issuer)?
            );
        }
        if self.subject_generated {
            eprintln!(
                "generated {subject} seed (keep it secret, pass it with --subject-seed to keep this {owner}'s key): {}",
                seed_of(&self.subject)?
            );
        }
        Ok(())
    }
}

/// A seed of the expected kind, or a fresh key pair (reported back so it can be kept).
fn key_pair(seed: Option<&str>, kind: KeyPairType, what: &str, prefix: &str) -> Result<(KeyPair, bool), Failure> {
    let Some(seed) = seed else {
        return Ok((KeyPair::new(kind), true));
    };
    let kp = KeyPair::from_seed(seed.trim()).map_err(|e| Failure::bad_input(anyhow!("invalid {what} seed: {e}")))?;
    if kp.key_pair_type() != kind {
        return Err(Failure::bad_input(anyhow!("the {what} seed must be {prefix}… (got another kind of key)")));
    }
    Ok((kp, false))
}

/// The seed of a generated key pair, to print.
fn seed_of(kp: &KeyPair) -> Result<String, Failure> {
    kp.seed().map_err(|e| Failure::from(anyhow!("reading a generated seed: {e}")))
}

/// The `version` value of `inspect`: `VER (rev REV)`, `VER`, `rev REV` or `-`.
pub(crate) fn version_text(ver: Option<&str>, rev: Option<i32>) -> String {
    match (ver, rev) {
        (Some(v), Some(r)) => format!("{v} (rev {r})"),
        (Some(v), None) => v.to_owned(),
        (None, Some(r)) => format!("rev {r}"),
        (None, None) => "-".to_owned(),
    }
}

/// Print the `valid` line of `inspect`: `yes`, or `no` and why.
pub(crate) fn print_validity(error: Option<impl Display>) {
    match error {
        None => println!("valid        yes"),
        Some(e) => println!("valid        no: {e}"),
    }
}
