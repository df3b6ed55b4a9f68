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
}

impl NatsArgs {
    /// The validated lattice name (exit 2 when invalid).
    pub(crate) fn lattice(&self) -> Result<LatticeName, Failure> {
        LatticeName::new(self.lattice.clone()).map_err(|e| Failure::bad_input(anyhow::anyhow!("--lattice: {e}")))
    }
}

/// Connect to `--nats-url` with `--creds`, named `name` in the server's monitoring.
pub(crate) async fn connect(nats: &NatsArgs, name: &str) -> Result<async_nats::Client, Failure> {
    let conn = lattice_rpc::NatsOptions::new(&nats.nats_url)
        .creds_file(nats.creds.clone())
        .name(name)
        .connect()
        .await
        .with_context(|| format!("connecting to NATS at {}", nats.nats_url))?;
    Ok(conn.client)
}

/// Connect to `url` (one or more, comma-separated) with an optional credentials file,
/// named `name` in the server's monitoring.
pub(crate) async fn connect_url(
    url: &str,
    creds: Option<&Path>,
    name: impl Into<String>,
) -> Result<async_nats::Client, Failure> {
    let conn = lattice_rpc::NatsOptions::new(url)
        .creds_file(creds.map(Path::to_path_buf))
        .name(name)
        .connect()
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    Ok(conn.client)
}
