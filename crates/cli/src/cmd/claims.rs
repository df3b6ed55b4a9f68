//! `lattice claims sign|inspect`: embed and read the signed module claims of an actor.
//!
//! The format is wascap 0.12's (the `wasmcloud_jwt` custom section; see
//! `lattice_host::claims`), so modules signed here start on a wasmCloud 0.82 host and
//! modules signed by `wash claims sign` start on a Lattice host.
//!
//! Exit codes: `inspect` exits 1 when the module is unsigned or its claims are invalid
//! (bad signature, tampered, expired, not yet valid), after printing what it could read;
//! both verbs exit 2 for a file that is not a wasm module (or not an actor, for `sign`)
//! or a bad flag value, 3 when a file cannot be read or written.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use lattice_host::actor::check_module;
use lattice_host::claims::{self, HashAlgorithm, ModuleClaimsError, SignOptions, Token};
use nkeys::KeyPairType;
use serde_json::json;

use crate::common::signing::{SigningKeys, default_output, print_validity, read_file, unix_now, version_text};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice claims`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
enum Action {
    /// Sign an actor module: embed a wascap JWT naming it, its capabilities and its issuer.
    Sign(SignArgs),
    /// Show a module's claims and whether they are valid.
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
struct SignArgs {
    /// The wasm module to sign (an existing claims section is replaced).
    module: PathBuf,
    /// Where to write the signed module [default: MODULE with `_s` appended to its stem].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The actor's name.
    #[arg(short, long)]
    name: String,
    /// A capability contract id the actor may use (repeatable), e.g. `wasmcloud:httpserver`.
    #[arg(short = 'c', long = "cap")]
    caps: Vec<String>,
    /// A free-form tag (repeatable).
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The issuing account's seed (`SA…`); a new account is generated when absent.
    #[arg(long, env = "LATTICE_ISSUER_SEED", hide_env_values = true)]
    issuer_seed: Option<String>,
    /// The actor's module seed (`SM…`), which fixes its public key; generated when absent.
    #[arg(long, env = "LATTICE_SUBJECT_SEED", hide_env_values = true)]
    subject_seed: Option<String>,
    /// An alias other actors can call this one by (normalised as wascap does).
    #[arg(short = 'a', long)]
    call_alias: Option<String>,
    /// Revision number.
    #[arg(short, long)]
    rev: Option<i32>,
    /// Human-readable version.
    #[arg(short, long)]
    ver: Option<String>,
    /// Days until the claims expire [default: never].
    #[arg(short = 'x', long)]
    expires_in_days: Option<u64>,
    /// Days until the claims become valid [default: immediately].
    #[arg(short = 'b', long)]
    not_before_days: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The wasm module to inspect.
    module: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Judge `exp`/`nbf` at this time (seconds since the Unix epoch) instead of now.
    #[arg(long)]
    now: Option<u64>,
}

pub(crate) fn run(args: Args) -> Outcome {
    match args.action {
        Action::Sign(a) => sign(a),
        Action::Inspect(a) => inspect(a),
    }
}

fn sign(a: SignArgs) -> Outcome {
    let wasm = read_file(&a.module)?;
    check_module(&wasm).map_err(|e| Failure::bad_input(anyhow!("{}: {e}", a.module.display())))?;
    let keys = SigningKeys::load(a.issuer_seed.as_deref(), a.subject_seed.as_deref(), KeyPairType::Module, "SM")?;
    let now = unix_now();
    let opts = SignOptions {
        name: a.name,
        caps: a.caps,
        tags: a.tags,
        rev: a.rev,
        ver: a.ver,
        call_alias: a.call_alias,
        expires: a.expires_in_days.map(|d| SignOptions::days_from(now, d)),
        not_before: a.not_before_days.map(|d| SignOptions::days_from(now, d)),
    };
    let signed = claims::sign(&wasm, &opts, &keys.subject, &keys.issuer, now).map_err(|e| match e {
        ModuleClaimsError::NotAModule(_) | ModuleClaimsError::MalformedWasm { .. } => Failure::bad_input(e),
        other => Failure::from(anyhow!(other)),
    })?;
    let output = a.output.unwrap_or_else(|| default_output(&a.module, "module", "_s.wasm"));
    std::fs::write(&output, &signed).with_context(|| format!("writing {}", output.display()))?;

    let hash = claims::module_hash(&signed).map_err(|e| Failure::from(anyhow!(e)))?;
    if a.json {
        let mut out = json!({
            "module": output.display().to_string(),
            "public_key": keys.subject.public_key(),
            "issuer": keys.issuer.public_key(),
            "hash": hash,
        });
        keys.add_generated_seeds(&mut out)?;
        println!("{out}");
    } else {
        println!("signed {} -> {}", a.module.display(), output.display());
        println!("module key  {}", keys.subject.public_key());
        println!("issuer      {}", keys.issuer.public_key());
        println!("hash        {hash}");
        keys.print_generated_seeds("module", "actor")?;
    }
    Ok(())
}

fn inspect(a: InspectArgs) -> Outcome {
    let wasm = read_file(&a.module)?;
    let now = a.now.unwrap_or_else(unix_now);
    let token = match claims::read(&wasm) {
        Ok(Some(token)) => token,
        Ok(None) => return Err(Failure::no(ModuleClaimsError::Unsigned)),
        Err(e @ (ModuleClaimsError::NotAModule(_) | ModuleClaimsError::MalformedWasm { .. })) => {
            return Err(Failure::bad_input(anyhow!("{}: {e}", a.module.display())));
        }
        Err(e) => return Err(Failure::no(e)),
    };
    let verdict = claims::verify(&wasm, now);
    let computed = claims::module_hash(&wasm).map_err(|e| Failure::bad_input(anyhow!(e)))?;
    // Which hash algorithm matched (current, or legacy for revision < 3), whatever else failed.
    let algorithm = claims::check_module_hash(&wasm, &token.claims).ok();
    if a.json {
        println!("{}", inspect_json(&token, &computed, algorithm, now, verdict.as_ref().err()));
    } else {
        print_human(&token, &computed, algorithm, now, verdict.as_ref().err());
    }
    match verdict {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::no(e)),
    }
}

fn inspect_json(
    token: &Token,
    computed: &str,
    algorithm: Option<HashAlgorithm>,
    now: u64,
    error: Option<&ModuleClaimsError>,
) -> serde_json::Value {
    let c = &token.claims;
    let meta = c.wascap.clone().unwrap_or_default();
    let mut out = json!({
        "valid": error.is_none(),
        "name": meta.name,
        "public_key": c.sub,
        "issuer": c.iss,
        "caps": meta.caps.unwrap_or_default(),
        "tags": meta.tags.unwrap_or_default(),
        "call_alias": meta.call_alias,
        "rev": meta.rev,
        "ver": meta.ver,
        "hash": meta.hash,
        "computed_hash": computed,
        "hash_algorithm": algorithm.map(HashAlgorithm::as_str),
        "jti": c.jti,
        "iat": c.iat,
        "exp": c.exp,
        "nbf": c.nbf,
        "expires_human": claims::human_time(c.exp, now, "never"),
        "not_before_human": claims::human_time(c.nbf, now, "immediately"),
        "wascap_revision": c.wascap_revision,
    });
    if let Some(e) = error {
        out["error"] = json!(e.to_string());
        out["error_kind"] = json!(e.kind());
    }
    out
}

fn print_human(
    token: &Token,
    computed: &str,
    algorithm: Option<HashAlgorithm>,
    now: u64,
    error: Option<&ModuleClaimsError>,
) {
    let c = &token.claims;
    let meta = c.wascap.clone().unwrap_or_default();
    let list = |v: Option<Vec<String>>| match v {
        Some(v) if !v.is_empty() => v.join(", "),
        _ => "-".to_owned(),
    };
    println!("name         {}", meta.name.as_deref().unwrap_or("-"));
    println!("module key   {}", c.sub);
    println!("issuer       {}", c.iss);
    println!("caps         {}", list(meta.caps));
    println!("tags         {}", list(meta.tags));
    println!("call alias   {}", meta.call_alias.as_deref().unwrap_or("-"));
    println!("version      {}", version_text(meta.ver.as_deref(), meta.rev));
    println!("hash         {}", meta.hash);
    match algorithm {
        Some(HashAlgorithm::Current) => println!("hash algo    current (wascap >= 0.10.1)"),
        Some(HashAlgorithm::Legacy) => {
            println!("hash algo    legacy (claims revision < 3: claims section removed byte for byte)")
        }
        None => println!("module hash  {computed} (differs)"),
    }
    println!("expires      {}", claims::human_time(c.exp, now, "never"));
    println!("can be used  {}", claims::human_time(c.nbf, now, "immediately"));
    print_validity(error);
}
