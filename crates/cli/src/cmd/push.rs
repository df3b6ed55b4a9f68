//! `lattice push [--insecure] REF FILE`: publish a signed actor module or a provider
//! archive (`.par` / `.par.gz`) to an OCI registry, as `wash push` does in wasmCloud 0.82:
//! one layer with 0.82's media type (`application/vnd.module.wasm.content.layer.v1+wasm` or
//! `application/vnd.wasmcloud.provider.archive.layer.v1+par`) and an empty `{}` config of
//! the matching config type. The artifact must carry valid signed claims (an unsigned or
//! tampered one is refused before anything is sent).
//!
//! Prints `pushed REF@sha256:…` (the manifest digest to pin with); `--json`:
//! `{"reference","digest","kind","size","claims"}`. Exit codes: 0 pushed, 1 the artifact is
//! unsigned or invalid or the registry refused (unauthorized…), 2 bad reference or flags,
//! 3 the file or the registry could not be reached.

use std::path::PathBuf;

use anyhow::anyhow;
use lattice_oci::OciRef;
use serde_json::json;

use crate::common::artifact;
use crate::common::registry::{ClientRegistryArgs, oci_failure};
use crate::common::runtime::runtime;
use crate::common::signing::{read_file, unix_now};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice push`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where to push: `host[:port]/repo:tag` (or `oci://…`).
    #[arg(value_name = "REF")]
    reference: String,
    /// A signed actor module (`.wasm`) or a provider archive (`.par`, `.par.gz`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    registry: ClientRegistryArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    let reference = OciRef::parse(&args.reference).map_err(oci_failure)?;
    if reference.digest().is_some() {
        return Err(Failure::bad_input(anyhow!(
            "{reference}: push to a tag, not a digest (the digest is what the push makes)"
        )));
    }
    let bytes = read_file(&args.file)?;
    let (kind, claims) =
        artifact::inspect(&bytes, unix_now()).map_err(|e| Failure::no(e.context(args.file.display().to_string())))?;
    let registries = args.registry.registries(&reference);
    registries.check_request(&reference).map_err(oci_failure)?;
    let size = bytes.len();
    let pushed = runtime()?.block_on(registries.push(&reference, kind, bytes)).map_err(oci_failure)?;
    if args.json {
        let out = json!({
            "reference": reference.to_string(),
            "digest": pushed.digest,
            "kind": kind.as_str(),
            "size": size,
            "claims": claims,
        });
        println!("{out}");
    } else {
        println!("pushed {reference}@{} ({size} bytes)", pushed.digest);
        println!("{}", artifact::describe(kind, &claims));
    }
    Ok(())
}
