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

/// Node `i` of the harness writes a text to everyone (`note k`) and hands it on.
pub(crate) fn text(m: &mut crate::harness::Mesh, i: usize, k: usize) -> haiqiao_proto::RecordId {
    use haiqiao_proto::{Body, Destination};
    let id = m.nodes[i]
        .submit(
            m.now_ms,
            Destination::Everyone,
            600,
            Body::Text {
                text: format!("note {k}"),
                safety: false,
            },
        )
        .unwrap()
        .id();
    m.drain(i, None);
    id
}

/// Node `i` of the harness raises a distress (sinking, four aboard) and hands it on.
pub(crate) fn distress(m: &mut crate::harness::Mesh, i: usize) -> haiqiao_proto::RecordId {
    use haiqiao_proto::{Body, Destination, DistressNature};
    let id = m.nodes[i]
        .submit(
            m.now_ms,
            Destination::Everyone,
            600,
            Body::Distress {
                nature: DistressNature::Sinking,
                fix: None,
                persons: Some(4),
                text: String::new(),
            },
        )
        .unwrap()
        .id();
    m.drain(i, None);
    id
}
