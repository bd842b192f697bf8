//! The engine's in-memory index of held records: what each record is, which reconciliation
//! set it belongs to, and each tier's count and digest.
//!
//! Reconciled (the "flood set"): records addressed to everyone, except positions other than
//! each vessel's newest and shore receipts (which follow the copies they free). Tier 0 holds the urgent classes (distress, safety, control), tier 1
//! the rest. Records for a node, a pair, a group, an area's mediators or shore are not
//! reconciled: they are offered to the peers that routing picks (see `routing`).

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashTable;

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

/// A record's slot in [`Index::slots`].
type Slot = u32;

/// A flood position's place in its author's order: creation time, sequence number, slot
/// (big-endian, so that byte order is the order of age).
type PositionKey = [u8; 16];

fn position_key(m: &Meta, slot: Slot) -> PositionKey {
    let mut k = [0; 16];
    k[..4].copy_from_slice(&m.created.0.to_be_bytes());
    k[4..12].copy_from_slice(&m.seq.to_be_bytes());
    k[12..].copy_from_slice(&slot.to_be_bytes());
    k
}

fn slot_of(k: &PositionKey) -> Slot {
    Slot::from_be_bytes([k[12], k[13], k[14], k[15]])
}

/// The table's hash of a short id (spread over 64 bits: hashbrown reads the top ones too).
fn hash_short(short: u64) -> u64 {
    short.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A slot: a record held, or a free slot.
#[derive(Clone, Copy, Debug)]
struct Held {
    id: RecordId,
    meta: Meta,
    live: bool,
}

/// The index. Records live in slots of one `Vec` (free slots are reused), found by id and
/// by short id through one table of slot numbers hashed by short id; each author's flood
/// positions are ordered by age in a set of packed keys. No per-record allocation besides
/// the sets' nodes: about 140 bytes a record, where a `BTreeMap` by id, another by short id
/// and one keyed by `(author, created, seq)` took about 330.
#[derive(Default, Clone)]
pub(crate) struct Index {
    slots: Vec<Held>,
    free: Vec<Slot>,
    table: HashTable<Slot>,
    live: usize,
    tiers: [TierSet; TIERS],
    positions: BTreeMap<[u8; 32], BTreeSet<PositionKey>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("held", &self.live)
            .field("tiers", &self.tiers)
            .finish_non_exhaustive()
    }
}

impl Index {
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    fn slot(&self, id: &RecordId) -> Option<Slot> {
        let slots = &self.slots;
        self.table
            .find(hash_short(short_id(id)), |s| {
                slots.get(*s as usize).is_some_and(|h| h.id == *id)
            })
            .copied()
    }

    pub(crate) fn get(&self, id: &RecordId) -> Option<&Meta> {
        self.slots.get(self.slot(id)? as usize).map(|h| &h.meta)
    }

    pub(crate) fn get_mut(&mut self, id: &RecordId) -> Option<&mut Meta> {
        let s = self.slot(id)?;
        self.slots.get_mut(s as usize).map(|h| &mut h.meta)
    }

    pub(crate) fn contains(&self, id: &RecordId) -> bool {
        self.slot(id).is_some()
    }

    /// A record held with this short id (if two are, either).
    pub(crate) fn by_short(&self, short: u64) -> Option<RecordId> {
        let slots = &self.slots;
        let s = self.table.find(hash_short(short), |s| {
            slots
                .get(*s as usize)
                .is_some_and(|h| h.meta.short == short)
        })?;
        self.slots.get(*s as usize).map(|h| h.id)
    }

    /// Every record held, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&RecordId, &Meta)> {
        self.slots
            .iter()
            .filter(|h| h.live)
            .map(|h| (&h.id, &h.meta))
    }

    fn enter_set(&mut self, slot: Slot) {
        if let Some(h) = self.slots.get_mut(slot as usize)
            && h.meta.tier.is_none()
        {
            let m = &mut h.meta;
            let t = m.flood_tier();
            m.tier = Some(t);
            let ts = &mut self.tiers[t as usize];
            if ts.members.insert(m.short) {
                ts.digest ^= m.short;
            }
        }
    }

    fn leave_set(&mut self, slot: Slot) {
        if let Some(h) = self.slots.get_mut(slot as usize)
            && let Some(t) = h.meta.tier.take()
        {
            let ts = &mut self.tiers[t as usize];
            if ts.members.remove(&h.meta.short) {
                ts.digest ^= h.meta.short;
            }
        }
    }

    /// An author's newest flood position: the largest (created, seq), then the largest id.
    fn newest_position(&self, author: &[u8; 32]) -> Option<Slot> {
        let keys = self.positions.get(author)?;
        let last = keys.last()?;
        let id = |k: &PositionKey| self.slots.get(slot_of(k) as usize).map(|h| h.id);
        keys.iter()
            .rev()
            .take_while(|k| k[..12] == last[..12])
            .max_by_key(|k| id(k))
            .map(slot_of)
    }

    /// Adds a record (a record already held is left as it is).
    pub(crate) fn insert(&mut self, id: RecordId, meta: Meta) {
        if self.contains(&id) {
            return;
        }
        let held = Held {
            id,
            meta: Meta { tier: None, ..meta },
            live: true,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = held;
                s
            }
            None => {
                self.slots.push(held);
                (self.slots.len() - 1) as Slot
            }
        };
        let slots = &self.slots;
        self.table.insert_unique(hash_short(meta.short), slot, |s| {
            slots
                .get(*s as usize)
                .map_or(0, |h| hash_short(h.meta.short))
        });
        self.live += 1;
        if !meta.is_flood() {
            return;
        }
        if meta.kind == Kind::Position {
            let before = self.newest_position(&meta.author);
            self.positions
                .entry(meta.author)
                .or_default()
                .insert(position_key(&meta, slot));
            let after = self.newest_position(&meta.author);
            if before != after {
                if let Some(b) = before {
                    self.leave_set(b);
                }
                if let Some(a) = after {
                    self.enter_set(a);
                }
            }
        } else {
            self.enter_set(slot);
        }
    }

    /// Removes a record.
    pub(crate) fn remove(&mut self, id: &RecordId) -> Option<Meta> {
        let slot = self.slot(id)?;
        self.leave_set(slot);
        let slots = &self.slots;
        if let Ok(e) = self.table.find_entry(hash_short(short_id(id)), |s| {
            slots.get(*s as usize).is_some_and(|h| h.id == *id)
        }) {
            e.remove();
        }
        let h = self.slots.get_mut(slot as usize)?;
        h.live = false;
        let meta = h.meta;
        self.free.push(slot);
        self.live -= 1;
        if meta.kind == Kind::Position && meta.is_flood() {
            if let Some(keys) = self.positions.get_mut(&meta.author) {
                keys.remove(&position_key(&meta, slot));
                if keys.is_empty() {
                    self.positions.remove(&meta.author);
                }
            }
            if let Some(n) = self.newest_position(&meta.author) {
                self.enter_set(n);
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

    /// Records expired at `now_s`, in id order.
    pub(crate) fn expired(&self, now_s: u64) -> Vec<RecordId> {
        let mut v: Vec<RecordId> = self
            .iter()
            .filter(|(_, m)| m.expiry <= now_s)
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }
}
