//! The `lattice up --manifest FILE` format: a small TOML file listing actors (with instance
//! counts), providers (with their claims and link names) and links (with values).
//!
//! ```toml
//! [[actors]]
//! name = "counter"                 # what links call it (default: the file stem)
//! path = "counter.wasm"            # a signed module (path or file://), relative to this file,
//!                                  # or an OCI reference (registry.example/counter:0.1.0)
//! instances = 4                    # max_instances (default 1)
//!
//! [[actors]]
//! name = "dev"
//! wat = "../actors/counter.wat"    # WAT source: compiled and signed at start with a fresh
//! caps = ["wasmcloud:keyvalue"]    # account key and these capabilities (for development)
//!
//! [[providers]]
//! name = "kv"
//! path = "lattice-kv"              # an executable (a bare name: next to `lattice`, then PATH)
//! contract = "wasmcloud:keyvalue"  # or a provider archive (.par/.par.gz), which carries claims
//! link_name = "default"            # default "default"
//! vendor = "lattice"
//! # seed = "SV…"                   # a fixed key; otherwise one is kept per binary
//!
//! [[links]]
//! actor = "counter"                # an actor's name or public key
//! provider = "kv"                  # a provider's name or public key
//! values = { bucket = "counts" }   # `${VAR}` is replaced by [`Manifest::substitute`]
//! ```
//!
//! This module only parses and checks the file (every link names a defined actor and
//! provider, or a key); the command line applies it to a host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::HostError;

/// How an actor is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorSource {
    /// A signed module.
    Signed(String),
    /// A WAT source compiled and signed at start, granting `caps`.
    Wat {
        /// The source file.
        path: PathBuf,
        /// Capabilities to grant.
        caps: Vec<String>,
        /// Call alias to claim.
        call_alias: Option<String>,
    },
}

/// One actor of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorEntry {
    /// Its name in the manifest.
    pub name: String,
    /// Where it comes from.
    pub source: ActorSource,
    /// `max_instances`.
    pub instances: u32,
}

/// One provider of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEntry {
    /// Its name in the manifest (also its claims name).
    pub name: String,
    /// Its reference: a path, `file://` URL or bare executable name.
    pub path: String,
    /// Its contract (required for executables).
    pub contract: Option<String>,
    /// Its link name.
    pub link_name: String,
    /// Its vendor.
    pub vendor: Option<String>,
    /// A fixed key seed.
    pub seed: Option<String>,
    /// HostData `config_json`.
    pub config_json: Option<String>,
}

/// One link of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEntry {
    /// The actor: a manifest name or a public key.
    pub actor: String,
    /// The provider: a manifest name or a public key.
    pub provider: String,
    /// The contract (default: the provider entry's).
    pub contract: Option<String>,
    /// The link name (default: the provider entry's, else `default`).
    pub link_name: Option<String>,
    /// Link values.
    pub values: BTreeMap<String, String>,
}

/// A parsed manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Actors, in file order.
    pub actors: Vec<ActorEntry>,
    /// Providers, in file order.
    pub providers: Vec<ProviderEntry>,
    /// Links, in file order.
    pub links: Vec<LinkEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    actors: Vec<RawActor>,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    links: Vec<RawLink>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    name: Option<String>,
    path: Option<String>,
    wat: Option<String>,
    #[serde(default)]
    caps: Vec<String>,
    call_alias: Option<String>,
    instances: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: Option<String>,
    path: String,
    contract: Option<String>,
    link_name: Option<String>,
    vendor: Option<String>,
    seed: Option<String>,
    config_json: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    actor: String,
    provider: String,
    contract: Option<String>,
    link_name: Option<String>,
    #[serde(default)]
    values: BTreeMap<String, String>,
}

fn bad(msg: impl Into<String>) -> HostError {
    HostError::Manifest(msg.into())
}

/// `path` relative to `base` unless it is absolute or a URL; bare names (no `/`) are kept
/// as they are when `keep_bare` (executables looked up later).
fn relative(base: &Path, path: &str, keep_bare: bool) -> String {
    if path.contains("://")
        || lattice_oci::is_oci_reference(path)
        || Path::new(path).is_absolute()
        || (keep_bare && !path.contains('/'))
    {
        return path.to_owned();
    }
    base.join(path).to_string_lossy().into_owned()
}

fn stem(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    if lattice_oci::is_oci_reference(path) {
        // registry/repo:tag@digest -> repo's last segment
        let name = file.split('@').next().unwrap_or(file);
        return name.split(':').next().unwrap_or(name).to_owned();
    }
    file.split('.').next().unwrap_or(file).to_owned()
}

impl Manifest {
    /// Read and parse `path`; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = std::fs::read_to_string(path).map_err(|e| HostError::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| match e {
            HostError::Manifest(m) => bad(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse manifest text; relative paths are taken relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, HostError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut manifest = Manifest::default();
        for a in raw.actors {
            let source = match (a.path, a.wat) {
                (Some(path), None) => {
                    if !a.caps.is_empty() || a.call_alias.is_some() {
                        return Err(bad(format!(
                            "actor '{path}': `caps` and `call_alias` only go with `wat` (a signed module carries its own claims)"
                        )));
                    }
                    ActorSource::Signed(relative(base, &path, false))
                }
                (None, Some(wat)) => ActorSource::Wat {
                    path: PathBuf::from(relative(base, &wat, false)),
                    caps: a.caps,
                    call_alias: a.call_alias,
                },
                _ => return Err(bad("every actor needs exactly one of `path` (a signed module) or `wat` (a source)")),
            };
            let name = a.name.unwrap_or_else(|| match &source {
                ActorSource::Signed(p) => stem(p),
                ActorSource::Wat { path, .. } => stem(&path.to_string_lossy()),
            });
            manifest.actors.push(ActorEntry { name, source, instances: a.instances.unwrap_or(1) });
        }
        for p in raw.providers {
            let name = p.name.unwrap_or_else(|| stem(&p.path));
            let link_name = p.link_name.unwrap_or_else(|| crate::calls::DEFAULT_LINK_NAME.to_owned());
            manifest.providers.push(ProviderEntry {
                name,
                path: relative(base, &p.path, true),
                contract: p.contract,
                link_name,
                vendor: p.vendor,
                seed: p.seed,
                config_json: p.config_json,
            });
        }
        for l in raw.links {
            manifest.links.push(LinkEntry {
                actor: l.actor,
                provider: l.provider,
                contract: l.contract,
                link_name: l.link_name,
                values: l.values,
            });
        }
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), HostError> {
        let mut names = std::collections::BTreeSet::new();
        for name in self.actors.iter().map(|a| &a.name).chain(self.providers.iter().map(|p| &p.name)) {
            if !names.insert(name.as_str()) {
                return Err(bad(format!("the name '{name}' is used twice")));
            }
        }
        for l in &self.links {
            if self.actor(&l.actor).is_none() && !l.actor.starts_with('M') {
                return Err(bad(format!("link: no actor named '{}' (and it is not an actor key)", l.actor)));
            }
            let provider = self.provider(&l.provider);
            if provider.is_none() && !l.provider.starts_with('V') {
                return Err(bad(format!("link: no provider named '{}' (and it is not a provider key)", l.provider)));
            }
            if l.contract.is_none() && provider.and_then(|p| p.contract.as_ref()).is_none() {
                return Err(bad(format!(
                    "link {} -> {}: say which `contract` (the provider entry names none)",
                    l.actor, l.provider
                )));
            }
        }
        Ok(())
    }

    /// The actor entry named `name`.
    pub fn actor(&self, name: &str) -> Option<&ActorEntry> {
        self.actors.iter().find(|a| a.name == name)
    }

    /// The provider entry named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderEntry> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Replace `${NAME}` in every link value by `vars[NAME]`.
    pub fn substitute(&mut self, vars: &BTreeMap<String, String>) {
        for link in &mut self.links {
            for value in link.values.values_mut() {
                for (name, replacement) in vars {
                    *value = value.replace(&format!("${{{name}}}"), replacement);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const TEXT: &str = r#"
        [[actors]]
        wat = "../actors/counter.wat"
        caps = ["wasmcloud:keyvalue"]
        instances = 4

        [[providers]]
        name = "kv"
        path = "lattice-kv"
        contract = "wasmcloud:keyvalue"

        [[links]]
        actor = "counter"
        provider = "kv"
        values = { address = "127.0.0.1:${HTTP_PORT}" }
    "#;

    #[test]
    fn parses_and_resolves_names() {
        let mut m = Manifest::parse(TEXT, Path::new("/repo/examples")).unwrap();
        assert_eq!(m.actors[0].name, "counter");
        assert_eq!(m.actors[0].instances, 4);
        assert!(
            matches!(&m.actors[0].source, ActorSource::Wat { path, .. } if path == Path::new("/repo/examples/../actors/counter.wat"))
        );
        assert_eq!(m.providers[0].path, "lattice-kv");
        assert_eq!(m.providers[0].link_name, "default");
        m.substitute(&BTreeMap::from([("HTTP_PORT".to_owned(), "8080".to_owned())]));
        assert_eq!(m.links[0].values["address"], "127.0.0.1:8080");
    }

    #[test]
    fn oci_references_are_kept_as_they_are() {
        let text = "[[actors]]\npath = \"127.0.0.1:5000/echo:0.1.0\"\n\n[[providers]]\nname = \"http\"\npath = \"oci://registry.example/http:0.1\"\n";
        let m = Manifest::parse(text, Path::new("/repo/examples")).unwrap();
        assert_eq!(m.actors[0].source, ActorSource::Signed("127.0.0.1:5000/echo:0.1.0".into()));
        assert_eq!(m.actors[0].name, "echo");
        assert_eq!(m.providers[0].path, "oci://registry.example/http:0.1");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let e = Manifest::parse("[[links]]\nactor = \"x\"\nprovider = \"y\"\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("no actor named 'x'"), "{e}");
        let e = Manifest::parse("[[actors]]\nname = \"a\"\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("exactly one of"), "{e}");
        let e = Manifest::parse("[[actors]]\npath = \"a.wasm\"\nbogus = 1\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}
