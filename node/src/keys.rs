//! The node's key file: 64 hex digits of the ed25519 secret seed, mode 0600.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use haiqiao_proto::Keypair;

/// Creates a new key file with fresh randomness from the operating system. Refuses to
/// overwrite an existing one.
pub(crate) fn create(path: &Path) -> anyhow::Result<Keypair> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no entropy: {e}"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "creating key file {} (does it exist already?)",
            path.display()
        )
    })?;
    writeln!(f, "{}", hex::encode(seed))?;
    f.sync_all()?;
    Ok(Keypair::from_seed(&seed))
}

/// Loads a key file.
pub(crate) fn load(path: &Path) -> anyhow::Result<Keypair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    let bytes = hex::decode(text.trim()).context("key file is not hex")?;
    let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        bail!("key file must hold 64 hex digits (a 32-byte seed)");
    };
    Ok(Keypair::from_seed(&seed))
}
