//! The NATS flags every verb that talks to NATS takes, and the one way the CLI connects:
//! through [`lattice_rpc::connect`] (the product's single connect helper).

use std::path::{Path, PathBuf};

use anyhow::Context;
use lattice_proto::LatticeName;

use crate::exit::Failure;

/// The NATS flags every verb that talks to NATS takes (CONVENTIONS.md).
#[derive(clap::Args, Debug)]
pub(crate) struct NatsArgs {
    /// The NATS server.
    #[arg(long, value_name = "URL", default_value = "nats://127.0.0.1:4222", env = "LATTICE_NATS_URL")]
    pub(crate) nats_url: String,
    /// The lattice.
    #[arg(long, value_name = "NAME", default_value = "default", env = "LATTICE_NAME")]
    pub(crate) lattice: String,
    /// NATS credentials file.
    #[arg(long, value_name = "FILE")]
    pub(crate) creds: Option<PathBuf>,
    /// File holding the NATS user nkey seed (`SU…`) to log in with, e.g. a role's seed
    /// from `lattice nats-config`.
    #[arg(long, value_name = "FILE", env = "LATTICE_NKEY_SEED_FILE", conflicts_with = "creds")]
    pub(crate) nkey_seed_file: Option<PathBuf>,
}

impl NatsArgs {
    /// How to log in: `--creds` or `--nkey-seed-file` (exit 2 for a bad seed file, 3 when
    /// it cannot be read).
    pub(crate) fn auth(&self) -> Result<lattice_rpc::NatsAuth, Failure> {
        nats_auth(self.creds.as_deref(), self.nkey_seed_file.as_deref())
    }

    /// Connect for watching (large subscription buffer, connection events), named `name`.
    pub(crate) async fn watch(&self, name: &str) -> Result<(async_nats::Client, lattice_monitor::NatsEvents), Failure> {
        Ok(lattice_monitor::nats::connect_with_auth(&self.nats_url, self.auth()?, name)
            .await
            .map_err(anyhow::Error::from)?)
    }

    /// The validated lattice name (exit 2 when invalid).
    pub(crate) fn lattice(&self) -> Result<LatticeName, Failure> {
        LatticeName::new(self.lattice.clone()).map_err(|e| Failure::bad_input(anyhow::anyhow!("--lattice: {e}")))
    }
}

/// Read a NATS user nkey seed file (`SU…`; surrounding whitespace ignored).
pub(crate) fn read_nkey_seed(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let seed = text.trim().to_owned();
    match nkeys::KeyPair::from_seed(&seed) {
        Ok(pair) if pair.key_pair_type() == nkeys::KeyPairType::User => Ok(seed),
        Ok(_) => Err(Failure::bad_input(anyhow::anyhow!("{}: not a NATS user seed (SU…)", path.display()))),
        Err(e) => Err(Failure::bad_input(anyhow::anyhow!("{}: not an nkey seed: {e}", path.display()))),
    }
}

/// Log in with a credentials file or an nkey seed file (or neither).
pub(crate) fn nats_auth(creds: Option<&Path>, nkey_seed_file: Option<&Path>) -> Result<lattice_rpc::NatsAuth, Failure> {
    Ok(match (creds, nkey_seed_file) {
        (Some(path), _) => lattice_rpc::NatsAuth::CredsFile(path.to_path_buf()),
        (None, Some(path)) => lattice_rpc::NatsAuth::NkeySeed(read_nkey_seed(path)?),
        (None, None) => lattice_rpc::NatsAuth::None,
    })
}

/// Connect to `--nats-url` with `--creds` or `--nkey-seed-file`, named `name` in the
/// server's monitoring.
pub(crate) async fn connect(nats: &NatsArgs, name: &str) -> Result<async_nats::Client, Failure> {
    let conn = lattice_rpc::NatsOptions::new(&nats.nats_url)
        .auth(nats.auth()?)
        .name(name)
        .connect()
        .await
        .map_err(anyhow::Error::from)?;
    Ok(conn.client)
}

/// Connect to `url` (one or more, comma-separated) with an optional credentials file or
/// nkey seed file, named `name` in the server's monitoring; the connection with its live
/// state (long-lived clients such as a host fail calls fast while it is down).
pub(crate) async fn connect_url(
    url: &str,
    creds: Option<&Path>,
    nkey_seed_file: Option<&Path>,
    name: impl Into<String>,
) -> Result<lattice_rpc::Nats, Failure> {
    let conn = lattice_rpc::NatsOptions::new(url)
        .auth(nats_auth(creds, nkey_seed_file)?)
        .name(name)
        .connect()
        .await
        .map_err(anyhow::Error::from)?;
    Ok(conn)
}
