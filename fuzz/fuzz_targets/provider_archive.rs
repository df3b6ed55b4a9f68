//! Read arbitrary bytes as a provider archive (`.par`, or gzipped `.par.gz`): gzip, the
//! tar reader, the claims JWT and the target hashes. Must never panic.
#![no_main]
use lattice_host::provider::archive::{ArchiveContents, ProviderArchive};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(contents) = ArchiveContents::read(data) {
        let _ = contents.decode_claims();
        let _ = contents.verify(NOW);
    }
    let _ = ProviderArchive::parse(data, NOW);
});
