//! `lattice nats-config --lattice NAME [--out DIR]`: write a nats-server configuration
//! that gives each role of a lattice (host, provider, caller, monitor, control) its own nkey
//! user with exactly the subjects it needs ([`super::nats_roles`]), and one seed file per
//! role next to it.
//!
//! Files in `--out` (default `./nats-{lattice}`, created 0700): `nats-server.conf`, and
//! `{role}.nk` holding that role's user seed (`SU…`, mode 0600). Seed files that already
//! exist are kept and reused (so regenerating the config does not lock anyone out); a file
//! that is not a user seed is refused. Clients take the seed with `--nkey-seed-file`
//! (`lattice up` also `--provider-nkey-seed-file` for the providers it starts).
//!
//! Prints one line per role (`--json`: `{"role","account","public_key","seed_file"}`),
//! then the config path (`--json`: `{"config","lattice"}`). `--markdown` prints the roles
//! and their subjects instead (docs/SECURITY.md holds it for `--lattice '{lattice}'`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use lattice_proto::LatticeName;
use nkeys::{KeyPair, KeyPairType};
use serde_json::json;

use crate::cmd::nats_roles::{self, Role};
use crate::exit::{Failure, Outcome};

/// The config file's name in the output directory.
pub(crate) const CONFIG_FILE: &str = "nats-server.conf";

/// Arguments of `lattice nats-config`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The lattice the configuration is for (named in every subject).
    #[arg(long, value_name = "NAME", env = "LATTICE_NAME")]
    lattice: String,
    /// Where to write the config and the seed files [default: ./nats-{lattice}].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// JetStream's storage directory, written into the config (default: nats-server's own).
    #[arg(long, value_name = "DIR")]
    store_dir: Option<PathBuf>,
    /// JSON Lines on stdout.
    #[arg(long)]
    json: bool,
    /// Print the roles and their subjects (Markdown, as in docs/SECURITY.md) instead of writing files.
    #[arg(long, conflicts_with_all = ["out", "store_dir", "json"])]
    markdown: bool,
}

/// The seed file of `role` in `dir`.
pub(crate) fn seed_file(dir: &Path, role: Role) -> PathBuf {
    dir.join(format!("{}.nk", role.name()))
}

/// Read an existing seed file, or make a new user key and write its seed (0600, never
/// overwriting or following an existing path).
fn load_or_create_seed(path: &Path) -> Result<KeyPair, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            let pair = KeyPair::from_seed(text.trim())
                .map_err(|e| Failure::bad_input(anyhow!("{}: not an nkey seed: {e}", path.display())))?;
            if pair.key_pair_type() != KeyPairType::User {
                return Err(Failure::bad_input(anyhow!("{}: not a user seed (SU…)", path.display())));
            }
            Ok(pair)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pair = KeyPair::new_user();
            let seed = pair.seed().context("encoding a user seed")?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
            file.write_all(format!("{seed}\n").as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            Ok(pair)
        }
        Err(e) => Err(anyhow::Error::from(e).context(format!("reading {}", path.display())).into()),
    }
}

/// A kept seed file that others may read gets a warning (it is not changed).
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!("warning: {} is readable by others (mode {mode:o}); chmod 600 it", path.display());
        }
    }
}

/// Write `text` to `path` through a fresh file renamed over it (never writing through a
/// symlink that stands at `path`).
fn replace_file(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = path.with_extension("conf.tmp");
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::Error::from(e).context(format!("removing {}", tmp.display())).into()),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(())
}

pub(crate) fn run(args: Args) -> Outcome {
    let lattice = LatticeName::new(args.lattice.clone()).map_err(|e| Failure::bad_input(anyhow!("--lattice: {e}")))?;
    if args.markdown {
        print!("{}", nats_roles::markdown(&lattice));
        return Ok(());
    }
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("nats-{lattice}")));
    create_dir(&dir)?;
    let mut users = Vec::new();
    let mut lines = Vec::new();
    for role in Role::ALL {
        let path = seed_file(&dir, role);
        let pair = load_or_create_seed(&path)?;
        let account = if role.in_callers_account() {
            nats_roles::callers_account(&lattice)
        } else {
            nats_roles::lattice_account(&lattice)
        };
        lines.push(if args.json {
            json!({"role": role.name(), "account": account, "public_key": pair.public_key(), "seed_file": path})
                .to_string()
        } else {
            format!("{:<8} {} ({account}), seed in {}", role.name(), pair.public_key(), path.display())
        });
        users.push((role, pair.public_key()));
    }
    let store_dir = args.store_dir.as_ref().map(|p| p.display().to_string());
    let text = nats_roles::render(&lattice, &users, store_dir.as_deref());
    let config = dir.join(CONFIG_FILE);
    replace_file(&config, &text)?;
    lines.push(if args.json {
        json!({"config": config, "lattice": lattice.as_str()}).to_string()
    } else {
        format!("wrote {} — start it with: nats-server -c {}", config.display(), config.display())
    });
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}").context("writing to stdout")?;
    }
    Ok(())
}
