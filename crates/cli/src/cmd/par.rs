//! `lattice par create|inspect`: pack and read wasmCloud 0.82 provider archives (`.par`,
//! `.par.gz`: a tar holding `claims.jwt` and one `{arch}-{os}.bin` per target), the format
//! of `wash par` and the `provider-archive` 0.8 crate, so archives made here start on a
//! 0.82 host and archives made by `wash par create` start on a Lattice host.
//!
//! `create` signs the provider's claims (contract, name, vendor, revision, version and the
//! SHA-256 of every executable) with an account key (`SA…`); the provider's own key
//! (`SV…`) fixes its public key, which links name. `inspect` shows the claims and checks
//! them as a host does: signature, dates, and every executable against its hash.
//!
//! Exit codes: `inspect` exits 1 when the archive is tampered with or its claims are
//! invalid (after printing what it could read); both verbs exit 2 for a file that is not a
//! provider archive or a bad flag value, 3 when a file cannot be read or written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use lattice_host::provider::archive::{self, ArchiveContents, ProviderClaims, ProviderMetadata};
use nkeys::KeyPairType;
use serde_json::json;

use crate::common::signing::{SigningKeys, default_output, print_validity, read_file, unix_now, version_text};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice par`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
enum Action {
    /// Pack a provider executable into a signed provider archive.
    Create(CreateArgs),
    /// Show a provider archive's claims and executables, and whether they are valid.
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
struct CreateArgs {
    /// The provider executable for this machine's target (or for --target).
    binary: PathBuf,
    /// The contract the provider implements, e.g. `wasmcloud:keyvalue`.
    #[arg(short, long)]
    contract: String,
    /// The provider's name.
    #[arg(short, long)]
    name: String,
    /// Its vendor.
    #[arg(long, default_value = "lattice")]
    vendor: String,
    /// Revision number.
    #[arg(short, long)]
    rev: Option<i32>,
    /// Human-readable version.
    #[arg(short, long)]
    ver: Option<String>,
    /// The target of BINARY, `{arch}-{os}` [default: this machine's, e.g. x86_64-linux].
    #[arg(long)]
    target: Option<String>,
    /// A further executable for another target, `TARGET=PATH` (repeatable).
    #[arg(long = "add", value_name = "TARGET=PATH")]
    add: Vec<String>,
    /// A JSON file with the schema of the provider's link values (`config_schema`).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// The issuing account's seed (`SA…`); a new account is generated when absent.
    #[arg(long, env = "LATTICE_ISSUER_SEED", hide_env_values = true)]
    issuer_seed: Option<String>,
    /// The provider's seed (`SV…`), which fixes its public key; generated when absent.
    #[arg(long, env = "LATTICE_SUBJECT_SEED", hide_env_values = true)]
    subject_seed: Option<String>,
    /// Where to write the archive; gzipped unless it ends in `.par` [default: BINARY's
    /// name with `.par.gz`].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The provider archive (`.par` or `.par.gz`).
    archive: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Judge `exp`/`nbf` at this time (seconds since the Unix epoch) instead of now.
    #[arg(long)]
    now: Option<u64>,
}

pub(crate) fn run(args: Args) -> Outcome {
    match args.action {
        Action::Create(a) => create(a),
        Action::Inspect(a) => inspect(a),
    }
}

/// A target name as archives spell it: `{arch}-{os}`, no path separators or dots.
fn check_target(target: &str) -> Result<(), Failure> {
    let ok = target.contains('-')
        && target.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !target.starts_with('-')
        && !target.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Failure::bad_input(anyhow!("bad target '{target}': expected ARCH-OS, e.g. x86_64-linux")))
    }
}

fn create(a: CreateArgs) -> Outcome {
    if a.contract.trim().is_empty() {
        return Err(Failure::bad_input(anyhow!("--contract is empty")));
    }
    let target = a.target.clone().unwrap_or_else(archive::current_target);
    check_target(&target)?;
    let mut binaries = vec![(target, read_file(&a.binary)?)];
    for extra in &a.add {
        let (t, path) =
            extra.split_once('=').ok_or_else(|| Failure::bad_input(anyhow!("--add {extra}: expected TARGET=PATH")))?;
        check_target(t)?;
        if binaries.iter().any(|(have, _)| have == t) {
            return Err(Failure::bad_input(anyhow!("target {t} is given twice")));
        }
        binaries.push((t.to_owned(), read_file(Path::new(path))?));
    }
    let config_schema = match &a.schema {
        Some(path) => Some(
            serde_json::from_slice::<serde_json::Value>(&read_file(path)?)
                .map_err(|e| Failure::bad_input(anyhow!("{}: not JSON: {e}", path.display())))?,
        ),
        None => None,
    };
    // Unlike `claims sign`, a blank seed (say, an empty LATTICE_ISSUER_SEED) means "generate one".
    let keys = SigningKeys::load(
        a.issuer_seed.as_deref().filter(|s| !s.trim().is_empty()),
        a.subject_seed.as_deref().filter(|s| !s.trim().is_empty()),
        KeyPairType::Service,
        "SV",
    )?;
    let claims = ProviderClaims {
        jti: nuid::next().to_string(),
        iat: unix_now(),
        sub: keys.subject.public_key(),
        wascap: ProviderMetadata {
            name: Some(a.name.clone()),
            capid: a.contract.trim().to_owned(),
            vendor: a.vendor.clone(),
            rev: a.rev,
            ver: a.ver.clone(),
            target_hashes: BTreeMap::new(),
            config_schema,
        },
        ..Default::default()
    };
    let output = a.output.clone().unwrap_or_else(|| default_output(&a.binary, "provider", ".par.gz"));
    let gzip = output.extension().is_none_or(|e| e != "par");
    let par = archive::pack_targets(&binaries, claims, &keys.issuer, gzip)
        .map_err(|e| Failure::from(anyhow!("packing the archive: {e}")))?;
    std::fs::write(&output, &par).with_context(|| format!("writing {}", output.display()))?;

    let hashes: BTreeMap<&str, String> = binaries.iter().map(|(t, b)| (t.as_str(), sha256_upper(b))).collect();
    if a.json {
        let mut out = json!({
            "archive": output.display().to_string(),
            "public_key": keys.subject.public_key(),
            "issuer": keys.issuer.public_key(),
            "contract": a.contract.trim(),
            "name": a.name,
            "targets": hashes,
        });
        keys.add_generated_seeds(&mut out)?;
        println!("{out}");
    } else {
        println!("packed {} -> {}", a.binary.display(), output.display());
        println!("provider key {}", keys.subject.public_key());
        println!("issuer       {}", keys.issuer.public_key());
        println!("contract     {}", a.contract.trim());
        for (t, h) in &hashes {
            println!("target       {t} {h}");
        }
        keys.print_generated_seeds("provider", "provider")?;
    }
    Ok(())
}

/// SHA-256 in uppercase hex, as `target_hashes` spell it.
fn sha256_upper(bytes: &[u8]) -> String {
    lattice_host::state_dir::sha256_hex(bytes).to_ascii_uppercase()
}

fn inspect(a: InspectArgs) -> Outcome {
    let bytes = read_file(&a.archive)?;
    let contents = ArchiveContents::read(&bytes)
        .map_err(|e| Failure::bad_input(anyhow!("{}: not a provider archive: {e}", a.archive.display())))?;
    let claims = contents.decode_claims().map_err(|e| Failure::no(anyhow!("{}: {e}", a.archive.display())))?;
    let now = a.now.unwrap_or_else(unix_now);
    let verdict = contents.verify(now);
    let targets: BTreeMap<&str, serde_json::Value> = contents
        .targets
        .iter()
        .map(|(t, b)| {
            let hash = sha256_upper(b);
            let listed = claims.wascap.target_hashes.get(t);
            let matches = listed.is_some_and(|h| h.eq_ignore_ascii_case(&hash));
            (t.as_str(), json!({"hash": hash, "claims_hash": listed, "matches": matches, "size": b.len()}))
        })
        .collect();
    let meta = &claims.wascap;
    if a.json {
        let mut out = json!({
            "valid": verdict.is_ok(),
            "public_key": claims.sub,
            "issuer": claims.iss,
            "name": meta.name,
            "contract": meta.capid,
            "vendor": meta.vendor,
            "rev": meta.rev,
            "ver": meta.ver,
            "config_schema": meta.config_schema,
            "targets": targets,
            "jti": claims.jti,
            "iat": claims.iat,
            "exp": claims.exp,
            "nbf": claims.nbf,
            "archive_sha256": contents.hash,
        });
        if let Err(e) = &verdict {
            out["error"] = json!(e.to_string());
        }
        println!("{out}");
    } else {
        println!("name         {}", meta.name.as_deref().unwrap_or("-"));
        println!("provider key {}", claims.sub);
        println!("issuer       {}", claims.iss);
        println!("contract     {}", meta.capid);
        println!("vendor       {}", meta.vendor);
        println!("version      {}", version_text(meta.ver.as_deref(), meta.rev));
        for (t, info) in &targets {
            let mark = if info["matches"] == json!(true) { "" } else { " (does not match the claims)" };
            println!("target       {t} {}{mark}", info["hash"].as_str().unwrap_or_default());
        }
        print_validity(verdict.as_ref().err());
    }
    verdict.map(drop).map_err(|e| Failure::no(anyhow!("{}: {e}", a.archive.display())))
}
