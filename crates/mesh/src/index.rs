//! The engine's in-memory index of held records: what each record is, which reconciliation
//! set it belongs to, and each tier's count and digest.
//!
//! Reconciled (the "flood set"): records addressed to everyone, except positions other than
//! each vessel's newest and shore receipts (which follow the copies they free). Tier 0 holds the urgent classes (distress, safety, control), tier 1
//! the rest. Records for a node, a pair, a group, an area's mediators or shore are not
//! reconciled: they are offered to the peers that routing picks (see `routing`).

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::wire::{DIGEST_LEN, SHORT_ID_LEN, TIERS, TierSummary};
use haiqiao_proto::{Destination, Kind, Priority, RecordId, Timestamp};

use crate::store::Summary;

/// The short id of a record: its first [`SHORT_ID_LEN`] (7) bytes, as a big-endian integer.
pub fn short_id(id: &RecordId) -> u64 {
    let mut b = [0u8; 8];
    b[8 - SHORT_ID_LEN..].copy_from_slice(&id.0[..SHORT_ID_LEN]);
    u64::from_be_bytes(b)
}

/// A short id's wire bytes.
pub(crate) fn short_bytes(short: u64) -> [u8; SHORT_ID_LEN] {
    let mut b = [0u8; SHORT_ID_LEN];
    b.copy_from_slice(&short.to_be_bytes()[8 - SHORT_ID_LEN..]);
    b
}

/// Parses a short id's wire bytes.
pub(crate) fn short_from(b: &[u8; SHORT_ID_LEN]) -> u64 {
    let mut a = [0u8; 8];
    a[8 - SHORT_ID_LEN..].copy_from_slice(b);
    u64::from_be_bytes(a)
}

/// What the engine knows of a held record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) short: u64,
    pub(crate) kind: Kind,
    pub(crate) priority: Priority,
    pub(crate) dest: Destination,
    /// The author's key bytes (a `PublicKey` holds the decompressed point too: 192 bytes in
    /// memory, for each record held at each node).
    pub(crate) author: [u8; 32],
    pub(crate) created: Timestamp,
    pub(crate) seq: u64,
    pub(crate) expiry: u64,
    /// Forwarding copies this node holds (non-flood records).
    pub(crate) copies: u8,
    /// The tier of the flood set the record is in, if any.
    pub(crate) tier: Option<u8>,
}

impl Meta {
    pub(crate) fn new(s: &Summary, copies: u8) -> Meta {
        Meta {
            short: short_id(&s.id),
            kind: s.kind,
            priority: s.priority,
            dest: s.dest,
            author: *s.author.as_bytes(),
            created: s.created,
            seq: s.seq,
            expiry: s.expiry,
            copies,
            tier: None,
        }
    }

    /// Whether the record is flooded (reconciled) rather than offered. Shore receipts are
    /// addressed to everyone but are not flooded: they follow the copies of the records they
    /// name (see `Node`'s receipt routing), so a receipt costs a verification only at the
    /// nodes that carry what it frees, not at every node of the fleet.
    pub(crate) fn is_flood(&self) -> bool {
        self.dest == Destination::Everyone && !self.is_receipt()
    }

    /// Whether the record is a shore receipt.
    pub(crate) fn is_receipt(&self) -> bool {
        self.kind == Kind::Receipt
    }

    fn flood_tier(&self) -> u8 {
        if self.priority <= Priority::Control {
            0
        } else {
            1
        }
    }
}

#[derive(Debug, Default, Clone)]
struct TierSet {
    members: BTreeSet<u64>,
    digest: u64,
}

/// The index.
#[derive(Debug, Default)]
pub(crate) struct Index {
    by_id: BTreeMap<RecordId, Meta>,
    by_short: BTreeMap<u64, RecordId>,
    tiers: [TierSet; TIERS],
    positions: BTreeMap<([u8; 32], Timestamp, u64), RecordId>,
}

impl Index {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn get(&self, id: &RecordId) -> Option<&Meta> {
        self.by_id.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &RecordId) -> Option<&mut Meta> {
        self.by_id.get_mut(id)
    }

    pub(crate) fn contains(&self, id: &RecordId) -> bool {
        self.by_id.contains_key(id)
    }

    pub(crate) fn by_short(&self, short: u64) -> Option<RecordId> {
        self.by_short.get(&short).copied()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&RecordId, &Meta)> {
        self.by_id.iter()
    }

    fn enter_set(&mut self, id: &RecordId) {
        if let Some(m) = self.by_id.get_mut(id)
            && m.tier.is_none()
        {
            let t = m.flood_tier();
            m.tier = Some(t);
            let ts = &mut self.tiers[t as usize];
            if ts.members.insert(m.short) {
                ts.digest ^= m.short;
            }
        }
    }

    fn leave_set(&mut self, id: &RecordId) {
        if let Some(m) = self.by_id.get_mut(id)
            && let Some(t) = m.tier.take()
        {
            let ts = &mut self.tiers[t as usize];
            if ts.members.remove(&m.short) {
                ts.digest ^= m.short;
            }
        }
    }

    fn newest_position(&self, author: &[u8; 32]) -> Option<RecordId> {
        let lo = (*author, Timestamp(0), 0);
        let hi = (*author, Timestamp(u32::MAX), u64::MAX);
        self.positions.range(lo..=hi).next_back().map(|(_, id)| *id)
    }

    /// Adds a record; returns whether it entered the flood set.
    pub(crate) fn insert(&mut self, id: RecordId, meta: Meta) {
        if self.by_id.contains_key(&id) {
            return;
        }
        self.by_short.entry(meta.short).or_insert(id);
        self.by_id.insert(id, meta);
        if !meta.is_flood() {
            return;
        }
        if meta.kind == Kind::Position {
            let before = self.newest_position(&meta.author);
            self.positions
                .insert((meta.author, meta.created, meta.seq), id);
            let after = self.newest_position(&meta.author);
            if before != after {
                if let Some(b) = before {
                    self.leave_set(&b);
                }
                if let Some(a) = after {
                    self.enter_set(&a);
                }
            }
        } else {
            self.enter_set(&id);
        }
    }

    /// Removes a record.
    pub(crate) fn remove(&mut self, id: &RecordId) -> Option<Meta> {
        self.leave_set(id);
        let meta = self.by_id.remove(id)?;
        if self.by_short.get(&meta.short) == Some(id) {
            self.by_short.remove(&meta.short);
        }
        if meta.kind == Kind::Position && meta.is_flood() {
            self.positions
                .remove(&(meta.author, meta.created, meta.seq));
            if let Some(n) = self.newest_position(&meta.author) {
                self.enter_set(&n);
            }
        }
        Some(meta)
    }

    /// A tier's count and digest.
    pub(crate) fn summary(&self, tier: usize) -> TierSummary {
        let ts = &self.tiers[tier];
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(
            &ts.digest.to_be_bytes()[8 - SHORT_ID_LEN..8 - SHORT_ID_LEN + DIGEST_LEN],
        );
        TierSummary {
            count: ts.members.len() as u32,
            digest,
        }
    }

    /// The short ids of a tier's members.
    pub(crate) fn snapshot(&self, tier: usize) -> Vec<u64> {
        self.tiers[tier].members.iter().copied().collect()
    }

    /// Records expired at `now_s`.
    pub(crate) fn expired(&self, now_s: u64) -> Vec<RecordId> {
        self.by_id
            .iter()
            .filter(|(_, m)| m.expiry <= now_s)
            .map(|(id, _)| *id)
            .collect()
    }
}
