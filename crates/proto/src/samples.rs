//! Typical records of every kind, as a boat would write them: used by `haiqiao bench`, the
//! demo and tests. Deterministic: the same arguments give the same envelope. Each kind's sample
//! is written in its module of [`crate::kinds`].

use crate::kinds::Sample;
use crate::types::*;
use crate::{Envelope, KeyHint};

/// A typical fix off Zhoushan (30.1°N 122.9°E), engaged in fishing at 3.2 kn.
pub fn fix(seq: u64) -> Fix {
    Fix {
        lat_e5: 3_010_000 + (seq % 1000) as i32 * 7,
        lon_e5: 12_290_000 + (seq % 1000) as i32 * 11,
        sog_dkn: Some(32),
        cog_ddeg: Some(((seq * 37) % 3600) as u16),
        heading_deg: Some(((seq * 37 / 10) % 360) as u16),
        nav_status: NavStatus::FISHING,
        fix_age_s: Some(1),
    }
}

/// A typical envelope of `kind` from `author`, created at `now` (seconds since the epoch).
pub fn envelope(kind: Kind, author: KeyHint, partner: KeyHint, seq: u64, now: u64) -> Envelope {
    crate::kinds::sample(
        kind,
        &Sample {
            author,
            partner,
            seq,
            now,
        },
    )
}
