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

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use lattice_host::actor::check_module;
use lattice_host::claims::{self, ModuleClaimsError, SignOptions, Token};
use nkeys::{KeyPair, KeyPairType};
use serde_json::json;

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

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn read_module(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display())).map_err(Failure::from)
}

/// A seed of the expected kind, or a fresh key pair (reported back so it can be kept).
fn key_pair(seed: Option<&str>, kind: KeyPairType, what: &str, prefix: &str) -> Result<(KeyPair, bool), Failure> {
    let Some(seed) = seed else {
        let kp = if kind == KeyPairType::Account { KeyPair::new_account() } else { KeyPair::new_module() };
        return Ok((kp, true));
    };
    let kp = KeyPair::from_seed(seed.trim()).map_err(|e| Failure::bad_input(anyhow!("invalid {what} seed: {e}")))?;
    if kp.key_pair_type() != kind {
        return Err(Failure::bad_input(anyhow!("the {what} seed must be {prefix}… (got another kind of key)")));
    }
    Ok((kp, false))
}

fn default_output(module: &Path) -> PathBuf {
    let stem = module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "module".into());
    module.with_file_name(format!("{stem}_s.wasm"))
}

fn sign(a: SignArgs) -> Outcome {
    let wasm = read_module(&a.module)?;
    check_module(&wasm).map_err(|e| Failure::bad_input(anyhow!("{}: {e}", a.module.display())))?;
    let (account, issuer_generated) = key_pair(a.issuer_seed.as_deref(), KeyPairType::Account, "issuer", "SA")?;
    let (module, subject_generated) = key_pair(a.subject_seed.as_deref(), KeyPairType::Module, "subject", "SM")?;
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
    let signed = claims::sign(&wasm, &opts, &module, &account, now).map_err(|e| match e {
        ModuleClaimsError::NotAModule(_) | ModuleClaimsError::MalformedWasm { .. } => Failure::bad_input(e),
        other => Failure::from(anyhow!(other)),
    })?;
    let output = a.output.unwrap_or_else(|| default_output(&a.module));
    std::fs::write(&output, &signed).with_context(|| format!("writing {}", output.display()))?;

    let hash = claims::module_hash(&signed).map_err(|e| Failure::from(anyhow!(e)))?;
    let seed_of = |kp: &KeyPair| kp.seed().map_err(|e| Failure::from(anyhow!("reading a generated seed: {e}")));
    if a.json {
        let mut out = json!({
            "module": output.display().to_string(),
            "public_key": module.public_key(),
            "issuer": account.public_key(),
            "hash": hash,
        });
        if issuer_generated {
            out["issuer_seed"] = json!(seed_of(&account)?);
        }
        if subject_generated {
            out["subject_seed"] = json!(seed_of(&module)?);
        }
        println!("{out}");
    } else {
        println!("signed {} -> {}", a.module.display(), output.display());
        println!("module key  {}", module.public_key());
        println!("issuer      {}", account.public_key());
        println!("hash        {hash}");
        if issuer_generated {
            eprintln!(
                "generated issuer seed (keep it secret, pass it with --issuer-seed to sign again): {}",
                seed_of(&account)?
            );
        }
        if subject_generated {
            eprintln!(
                "generated module seed (keep it secret, pass it with --subject-seed to keep this actor's key): {}",
                seed_of(&module)?
            );
        }
    }
    Ok(())
}

fn inspect(a: InspectArgs) -> Outcome {
    let wasm = read_module(&a.module)?;
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
    if a.json {
        println!("{}", inspect_json(&token, &computed, now, verdict.as_ref().err()));
    } else {
        print_human(&token, &computed, now, verdict.as_ref().err());
    }
    match verdict {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::no(e)),
    }
}

fn inspect_json(token: &Token, computed: &str, now: u64, error: Option<&ModuleClaimsError>) -> serde_json::Value {
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

fn print_human(token: &Token, computed: &str, now: u64, error: Option<&ModuleClaimsError>) {
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
    let version = match (meta.ver.as_deref(), meta.rev) {
        (Some(v), Some(r)) => format!("{v} (rev {r})"),
        (Some(v), None) => v.to_owned(),
        (None, Some(r)) => format!("rev {r}"),
        (None, None) => "-".to_owned(),
    };
    println!("version      {version}");
    println!("hash         {}", meta.hash);
    if meta.hash != computed {
        println!("module hash  {computed} (differs)");
    }
    println!("expires      {}", claims::human_time(c.exp, now, "never"));
    println!("can be used  {}", claims::human_time(c.nbf, now, "immediately"));
    match error {
        None => println!("valid        yes"),
        Some(e) => println!("valid        no: {e}"),
    }
}
