//! `lattice start actor|provider`: run something on a host of the lattice.
//!
//! ```text
//! lattice start actor REF [--count N] [--host H] [--constraint k=v]... [--annotation k=v]...
//! lattice start provider REF [--link-name L] [--host H] [--contract C] [--configuration JSON]
//! ```
//!
//! Without `--host`, an auction (`auction.actor` / `auction.provider`) asks which hosts can
//! run it; only hosts whose labels satisfy every `--constraint` bid, and one of the bidders
//! is picked at random. Then the 0.82 command is sent (`cmd.{host}.scale` with `count`, or
//! `cmd.{host}.lp`), and — unless `--no-wait` — the verb waits for the outcome the host
//! reports as an event (`actor_scaled` / `actors_start_failed` / `actor_scale_failed`,
//! `provider_started` / `provider_start_failed`), with progress on stderr.
//!
//! References are OCI references (`host[:port]/repo:tag`, `…@sha256:…`, `oci://…`), which
//! the host pulls itself, or local files (CONVENTIONS "References"): a plain path is made
//! absolute and sent as `file://…`, since the host's working directory is not ours. A provider is started from a 0.82 provider archive (`.par` / `.par.gz`); given a
//! bare executable and `--contract`, this verb first packs it into an archive (claims signed
//! by a fresh account key, the provider key kept per binary hash in the state directory,
//! as `lattice up` keeps it) and starts that.
//!
//! This module also holds the event waiting ([`Waiter`]) and reference handling
//! ([`local_ref`]) that `stop` and `scale` share.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use lattice_control::types::AnnotationMap;
use lattice_control::{ControlError, CtlClient, LatticeEvent};
use lattice_host::provider::archive::{self, ProviderClaims, ProviderMetadata};
use lattice_host::state_dir::{StateDir, sha256_hex};
use lattice_proto::{HostKey, LinkName};

use crate::common::ctl::{CtlArgs, ctl_failure};
use crate::common::output::note;
use crate::common::parse::{local_ref, parse_host, parse_pairs};
use crate::common::runtime::runtime;
use crate::common::wait::{Verdict, WaitArgs, Waiter};
use crate::exit::{Failure, Outcome};

/// Arguments of `lattice start`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
}

/// Flags shared by `start actor` and `start provider`.
#[derive(clap::Args, Debug)]
struct Placement {
    /// The host to start on (`N…`); default: an auction picks one.
    #[arg(long, value_name = "HOST_ID")]
    host: Option<String>,
    /// A label the host must carry (auction constraint); repeatable.
    #[arg(long = "constraint", short = 'c', value_name = "KEY=VALUE")]
    constraints: Vec<String>,
    /// An annotation of this deployment; repeatable.
    #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    ctl: CtlArgs,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Start an actor from a signed wasm module (`cmd.{host}.scale`).
    Actor {
        /// The module: an OCI reference (`registry/repo:tag`), a path or a `file://` URL.
        #[arg(value_name = "REF")]
        actor_ref: String,
        /// Its `max_instances` on the host.
        #[arg(long, value_name = "N", default_value_t = 1)]
        count: u32,
        #[command(flatten)]
        place: Placement,
    },
    /// Start a provider from an archive, or from an executable with `--contract`
    /// (`cmd.{host}.lp`).
    Provider {
        /// A provider archive (`.par`, `.par.gz`; an OCI reference, a path or `file://` URL) or
        /// an executable (a path or `file://` URL).
        #[arg(value_name = "REF")]
        provider_ref: String,
        /// The link name to start it under.
        #[arg(long, short = 'l', value_name = "NAME", default_value = "default")]
        link_name: String,
        /// For an executable: the contract it implements (it is packed into an archive).
        #[arg(long, value_name = "CONTRACT")]
        contract: Option<String>,
        /// For an executable: the provider's name in its claims (default: the file name).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// For an executable: the vendor in its claims.
        #[arg(long, value_name = "VENDOR", default_value = "lattice")]
        vendor: String,
        /// Provider configuration (HostData `config_json`).
        #[arg(long, value_name = "JSON")]
        configuration: Option<String>,
        #[command(flatten)]
        place: Placement,
    },
}

pub(crate) fn run(args: Args) -> Outcome {
    match args.what {
        What::Actor { actor_ref, count, place } => start_actor(local_ref(&actor_ref)?, count, place),
        What::Provider { provider_ref, link_name, contract, name, vendor, configuration, place } => {
            let link = LinkName::new(link_name).map_err(|e| Failure::bad_input(anyhow::anyhow!("--link-name: {e}")))?;
            let reference = local_ref(&provider_ref)?;
            let reference = match file_path(&reference) {
                Some(path) if !archive::is_archive_path(&reference) => {
                    let contract = contract.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
                        Failure::bad_input(anyhow::anyhow!(
                            "{} is not a provider archive (.par, .par.gz): to start an executable, give its --contract",
                            path.display()
                        ))
                    })?;
                    pack_executable(&path, &contract, name.as_deref(), &vendor)?
                }
                _ => reference,
            };
            start_provider(reference, link, configuration, place)
        }
    }
}

fn file_path(reference: &str) -> Option<PathBuf> {
    reference.strip_prefix("file://").map(PathBuf::from)
}

/// Pack an executable into a gzipped provider archive in the state directory; its
/// `file://` URL.
fn pack_executable(path: &Path, contract: &str, name: Option<&str>, vendor: &str) -> Result<String, Failure> {
    let binary = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let hash = sha256_hex(&binary);
    let state = StateDir::new(lattice_host::config::default_state_dir());
    let provider = state.provider_key(&hash).map_err(anyhow::Error::from)?;
    let issuer = nkeys::KeyPair::new_account();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let name = name.map(str::to_owned).or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()));
    let claims = ProviderClaims {
        jti: nuid::next().to_string(),
        iat: now,
        sub: provider.public_key(),
        wascap: ProviderMetadata {
            name,
            capid: contract.to_owned(),
            vendor: vendor.to_owned(),
            rev: Some(0),
            ver: None,
            ..ProviderMetadata::default()
        },
        ..ProviderClaims::default()
    };
    let par = archive::pack(&binary, &archive::current_target(), claims, &issuer, true)
        .map_err(|e| anyhow::anyhow!("packing {} into a provider archive: {e}", path.display()))?;
    let dir = state.root().join("archives");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let contract_token: String = contract.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let out = dir.join(format!("{hash}-{contract_token}.par.gz"));
    std::fs::write(&out, par).with_context(|| format!("writing {}", out.display()))?;
    note(&format!(
        "packed {} as provider {} ({contract}) into {}",
        path.display(),
        provider.public_key(),
        out.display()
    ));
    Ok(format!("file://{}", out.display()))
}

/// The host to act on: `--host`, or the winner of an auction.
async fn pick_host(
    client: &CtlClient,
    place: &Placement,
    what: &str,
    auction: impl std::future::Future<Output = Result<Vec<String>, ControlError>>,
) -> Result<HostKey, Failure> {
    if let Some(host) = &place.host {
        return parse_host(host);
    }
    note(&format!("auction: asking which hosts of lattice {} can run {what}…", client.lattice()));
    let mut bids: Vec<String> = auction.await.map_err(ctl_failure)?.into_iter().filter(|h| !h.is_empty()).collect();
    bids.sort();
    bids.dedup();
    if bids.is_empty() {
        let constraints = if place.constraints.is_empty() {
            String::new()
        } else {
            format!(" with {}", place.constraints.join(", "))
        };
        return Err(Failure::no(anyhow::anyhow!("no host bid to run {what}{constraints}")));
    }
    let pick = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as usize) % bids.len();
    note(&format!("auction: {} host(s) bid; picked {}", bids.len(), bids[pick]));
    parse_host(&bids[pick])
}

fn annotations(place: &Placement) -> Result<Option<AnnotationMap>, Failure> {
    let map = parse_pairs("annotation", &place.annotations)?;
    Ok((!map.is_empty()).then_some(map))
}

fn start_actor(actor_ref: String, count: u32, place: Placement) -> Outcome {
    if count == 0 {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "--count must be at least 1 (use `lattice stop actor` to stop)"
        )));
    }
    let constraints = parse_pairs("constraint", &place.constraints)?;
    let annotations = annotations(&place)?;
    runtime()?.block_on(async move {
        let client = place.ctl.client("lattice-start").await?;
        let out = place.ctl.out();
        let bids = async {
            let bids = client.actor_auction(&actor_ref, constraints.clone()).await?;
            Ok::<_, ControlError>(bids.into_iter().map(|b| b.host_id).collect())
        };
        let host = pick_host(&client, &place, &actor_ref, bids).await?;
        let mut waiter = Waiter::new(&client, place.wait).await?;
        client.scale_actor(&host, &actor_ref, count, annotations).await.map_err(ctl_failure)?;
        let (host_s, ref_s) = (host.to_string(), actor_ref.clone());
        let key = waiter
            .until(&format!("host {host} to start {actor_ref}"), |_, event| match event {
                LatticeEvent::ActorScaled(d) if d.host_id == host_s && d.image_ref == ref_s => {
                    Verdict::Done(d.public_key.clone())
                }
                LatticeEvent::ActorsStartFailed(d) if d.host_id == host_s && d.image_ref == ref_s => {
                    Verdict::Failed(d.error.clone())
                }
                LatticeEvent::ActorScaleFailed(d) if d.host_id == host_s && d.image_ref == ref_s => {
                    Verdict::Failed(d.error.clone())
                }
                _ => Verdict::Skip,
            })
            .await?;
        let json = serde_json::json!({
            "result": waiter.result("started"),
            "host_id": host.as_str(),
            "actor_ref": actor_ref,
            "public_key": key,
            "max_instances": count,
        });
        out.either(
            || match &key {
                Some(key) => format!("actor {key} started on host {host} (max_instances {count})"),
                None => format!("host {host} accepted to start {actor_ref} (max_instances {count})"),
            },
            &json,
        )
    })
}

fn start_provider(provider_ref: String, link: LinkName, configuration: Option<String>, place: Placement) -> Outcome {
    let constraints = parse_pairs("constraint", &place.constraints)?;
    let annotations = annotations(&place)?;
    runtime()?.block_on(async move {
        let client = place.ctl.client("lattice-start").await?;
        let out = place.ctl.out();
        let bids = async {
            let bids = client.provider_auction(&provider_ref, &link, constraints.clone()).await?;
            Ok::<_, ControlError>(bids.into_iter().map(|b| b.host_id).collect())
        };
        let host = pick_host(&client, &place, &format!("{provider_ref} (link {link})"), bids).await?;
        let mut waiter = Waiter::new(&client, place.wait).await?;
        client.start_provider(&host, &provider_ref, &link, annotations, configuration).await.map_err(ctl_failure)?;
        let (host_s, ref_s, link_s) = (host.to_string(), provider_ref.clone(), link.to_string());
        let started = waiter
            .until(&format!("host {host} to start provider {provider_ref}"), |_, event| match event {
                LatticeEvent::ProviderStarted(d)
                    if d.host_id == host_s && d.link_name == link_s && d.image_ref == ref_s =>
                {
                    Verdict::Done((d.public_key.clone(), d.contract_id.clone()))
                }
                LatticeEvent::ProviderStartFailed(d) if d.provider_ref == ref_s && d.link_name == link_s => {
                    Verdict::Failed(d.error.clone())
                }
                _ => Verdict::Skip,
            })
            .await?;
        let (key, contract) = started.unzip();
        let json = serde_json::json!({
            "result": waiter.result("started"),
            "host_id": host.as_str(),
            "provider_ref": provider_ref,
            "link_name": link.as_str(),
            "public_key": key,
            "contract_id": contract,
        });
        out.either(
            || match (&key, &contract) {
                (Some(key), Some(contract)) => {
                    format!("provider {key} ({contract}, link {link}) started on host {host}")
                }
                _ => format!("host {host} accepted to start provider {provider_ref} (link {link})"),
            },
            &json,
        )
    })
}
