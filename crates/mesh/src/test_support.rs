//! What the engine's unit tests share: a clock, keys and a fresh session.

use haiqiao_proto::wire::{TIERS, TierSummary};
use haiqiao_proto::{Keypair, PublicKey};

use crate::session::{Hello, Session};

/// A time in late 2026, ms.
pub(crate) const T0: u64 = 1_795_000_000_000;

/// The key seeded with `n`.
pub(crate) fn key(n: u8) -> PublicKey {
    Keypair::from_seed(&[n; 32]).public()
}

/// This node's hello when it holds the flood set `tier0` (tier 1 empty).
pub(crate) fn hello(tier0: Vec<u64>) -> Hello {
    let mut tiers = [TierSummary::default(); TIERS];
    tiers[0].count = tier0.len() as u32;
    Hello {
        tiers,
        snapshot: [tier0, Vec::new()],
        shore_age_min: 5,
        eta_shore_min: None,
        linked: None,
    }
}

/// A session that came up at [`T0`] on a link of unknown rate, holding nothing.
pub(crate) fn session() -> Session {
    Session::new(None, T0, hello(Vec::new()))
}
