//! Finding the executables Lattice ships beside itself (providers).

use std::path::PathBuf;

use anyhow::anyhow;

use crate::exit::Failure;

/// Find a provider executable named without a directory: next to this executable, then on
/// `PATH`.
pub(crate) fn find_executable(name: &str) -> Result<PathBuf, Failure> {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    if let Some(path) = beside.as_ref().filter(|p| p.is_file()) {
        return Ok(path.clone());
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_default();
    on_path.ok_or_else(|| {
        let beside = beside.map(|p| p.display().to_string()).unwrap_or_default();
        Failure::from(anyhow!(
            "cannot find the provider executable `{name}`: not at {beside} nor on PATH \
             (build it with `cargo build -p {name}`)"
        ))
    })
}
