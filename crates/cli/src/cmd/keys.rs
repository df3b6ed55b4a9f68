//! `lattice keys gen KIND`: make a fresh nkey pair and print its seed and public key.

use clap::ValueEnum;
use nkeys::KeyPair;

use crate::exit::Outcome;

/// Arguments of `lattice keys`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Generate a key pair of the given kind.
    Gen {
        /// What the key is for.
        kind: Kind,
        /// Print one JSON object `{"kind","seed","public_key"}` instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The kinds of keys the protocol uses (PROTOCOL.md §11.10).
#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// `A…`: issues module and provider claims.
    Account,
    /// `C…`: signs invocation claims (the cluster seed).
    Cluster,
    /// `M…`: an actor (module) key.
    Actor,
    /// `V…`: a provider (service) key.
    Provider,
    /// `N…`: a host (server) key.
    Host,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::Cluster => "cluster",
            Kind::Actor => "actor",
            Kind::Provider => "provider",
            Kind::Host => "host",
        }
    }

    fn generate(self) -> KeyPair {
        match self {
            Kind::Account => KeyPair::new_account(),
            Kind::Cluster => KeyPair::new_cluster(),
            Kind::Actor => KeyPair::new_module(),
            Kind::Provider => KeyPair::new_service(),
            Kind::Host => KeyPair::new_server(),
        }
    }
}

pub(crate) fn run(args: Args) -> Outcome {
    let Action::Gen { kind, json } = args.action;
    let pair = kind.generate();
    let seed = pair.seed().map_err(|e| anyhow::anyhow!("generating a {} seed: {e}", kind.name()))?;
    let public_key = pair.public_key();
    if json {
        println!("{}", serde_json::json!({ "kind": kind.name(), "seed": seed, "public_key": public_key }));
    } else {
        println!("public key: {public_key}");
        println!("seed:       {seed}");
        eprintln!("keep the seed secret; share the public key.");
    }
    Ok(())
}
