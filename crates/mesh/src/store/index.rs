//! [`StoreIndex`]: the indexes and the eviction policy every store shares, packed.
//!
//! [`StoreIndex`] knows every record's [`Summary`] and nothing of its bytes. It answers every
//! query with ids, and decides what an insert does ([`StoreIndex::plan`]): the one place where
//! the contract's eviction, quota and superseding rules are written. `MemStore`, the
//! simulator's shared store and `haiqiao_store::SledStore` are each an index plus the records.
//!
//! # Layout, and why
//!
//! A node at sea holds up to a million records on a small board (design §4: ≤ 200 MB RSS for
//! 1M), so the index must cost well under 200 bytes a record (measured: about 175 with its
//! orders built in bulk, 235 kept up record by record), not the ~500 that a `BTreeMap` keyed
//! by id plus one `BTreeSet` of `(…, RecordId)` tuples per order cost:
//!
//! - every record is one packed [`Entry`] in a slot of one `Vec` (free slots are reused), with
//!   a word its keeper may use ([`StoreIndex::place`]: `SledStore` keeps the segment and
//!   offset of the record there, so it needs no map of its own);
//! - ids are found through a `hashbrown::HashTable` of slot numbers (4 bytes a record, hashed
//!   by the record's short id: ids are SHA-256 outputs, already uniform);
//! - the orders the hot path needs (eviction, the author's quota, the position track, expiry)
//!   are `BTreeSet`s of big-endian byte strings ending in the slot number: packed (no
//!   padding, no 16-byte id), and compared as bytes;
//! - the cold queries ([`StoreIndex::by_kind`], [`StoreIndex::by_destination`]) scan the
//!   slots: they run when a node starts or a person opens a view, never per record, and two
//!   orders kept for them cost more memory than any other part of the index.
//!
//! Orders break ties between records of the same age by slot number, but the contract breaks
//! them by id; every reader of an order goes through [`Exact`], which sorts each run of keys
//! equal but for the slot by id, so every store answers exactly as the contract says. No
//! clock, no randomness, no I/O.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{Destination, Kind, Priority, PublicKey, RecordId, Timestamp};
use hashbrown::HashTable;

use super::{InsertOutcome, Refusal, StoreLimits, Summary, Usage};

/// A record's age: creation time, then sequence number, then id (the contract's "oldest").
type Age = (Timestamp, u64, RecordId);

/// Eviction order: the lowest class first, then the oldest.
type EvictKey = (Reverse<Priority>, Age);

/// An author's number inside one index. Keys are 32 bytes on the wire but far larger in
/// memory (a decompressed point): each record's entries name its author by this number.
type AuthorNo = u32;

/// A record's slot in [`StoreIndex::entries`].
type Slot = u32;

/// [`StoreIndex::place`] of a record its keeper has not placed.
pub const UNPLACED: u64 = u64::MAX;

/// Creation time, sequence number, slot.
type AgeKey = [u8; 16];
/// Kept, class (lowest first), age key.
type EvictBytes = [u8; 18];
/// Author, kept, class (lowest first), age key.
type AuthorBytes = [u8; 22];

fn age_key(created: Timestamp, seq: u64, slot: Slot) -> AgeKey {
    let mut k = [0; 16];
    k[..4].copy_from_slice(&created.0.to_be_bytes());
    k[4..12].copy_from_slice(&seq.to_be_bytes());
    k[12..].copy_from_slice(&slot.to_be_bytes());
    k
}

/// The class byte: the lowest class (largest `Priority`) sorts first.
fn class_byte(p: Priority) -> u8 {
    u8::MAX - p as u8
}

fn evict_bytes(kept: bool, e: &Entry, slot: Slot) -> EvictBytes {
    let mut k = [0; 18];
    k[0] = u8::from(kept);
    k[1] = class_byte(e.priority);
    k[2..].copy_from_slice(&age_key(e.created, e.seq, slot));
    k
}

fn author_bytes(kept: bool, e: &Entry, slot: Slot) -> AuthorBytes {
    let mut k = [0; 22];
    k[..4].copy_from_slice(&e.author.to_be_bytes());
    k[4..].copy_from_slice(&evict_bytes(kept, e, slot));
    k
}

/// Expiry (clamped to 32 bits: records carry 32-bit times), then slot.
fn expiry_key(expiry: u64, slot: Slot) -> u64 {
    let e = u32::try_from(expiry).unwrap_or(u32::MAX);
    (u64::from(e) << 32) | u64::from(slot)
}

/// The slot number a key ends with.
fn slot_of<const N: usize>(k: &[u8; N]) -> Slot {
    let mut b = [0; 4];
    b.copy_from_slice(&k[N - 4..]);
    Slot::from_be_bytes(b)
}

/// The hash of an id in the table: its short id (the first 7 bytes, the sync protocol's),
/// spread over all 64 bits (hashbrown reads the top bits too).
fn hash_id(id: &RecordId) -> u64 {
    let mut b = [0u8; 8];
    b[1..].copy_from_slice(&id.0[..7]);
    u64::from_be_bytes(b).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Whether `victim` may be evicted to make room for `incoming` (contract: only for a higher
/// class, or the same class and newer; never a distress-class record).
fn evictable(victim: &EvictKey, incoming: &Summary) -> bool {
    let Reverse(p) = victim.0;
    p != Priority::Distress
        && (p > incoming.priority || (p == incoming.priority && victim.1 < age(incoming)))
}

/// Whether a kept `victim` may be evicted to make room for `incoming` (contract: only for a
/// higher class; never a distress-class record).
fn evictable_kept(victim: &EvictKey, incoming: &Summary) -> bool {
    let Reverse(p) = victim.0;
    p != Priority::Distress && p > incoming.priority
}

fn age(s: &Summary) -> Age {
    (s.created, s.seq, s.id)
}

/// One record, packed (80 bytes).
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: RecordId,
    seq: u64,
    expiry: u64,
    /// The keeper's word ([`StoreIndex::place`]).
    place: u64,
    created: Timestamp,
    author: AuthorNo,
    len: u32,
    dest: Destination,
    kind: Kind,
    priority: Priority,
    /// Kept ([`super::Store::set_kept`]): evicted only for a higher class.
    kept: bool,
    /// False for a free slot.
    live: bool,
}

impl Entry {
    fn age(&self) -> Age {
        (self.created, self.seq, self.id)
    }

    fn evict_key(&self) -> EvictKey {
        (Reverse(self.priority), self.age())
    }

    /// Its summary, with its author's key.
    fn summary(&self, author: PublicKey) -> Summary {
        Summary {
            id: self.id,
            author,
            seq: self.seq,
            kind: self.kind,
            priority: self.priority,
            created: self.created,
            expiry: self.expiry,
            dest: self.dest,
            len: self.len,
        }
    }
}

/// What the index keeps per author with records held.
#[derive(Clone, Debug)]
struct Author {
    /// The author's key as its 32 bytes: a `PublicKey` in memory also holds the decompressed
    /// point (192 bytes in all), and a simulated node holds records of hundreds of authors
    /// (simulations/README.md, "Scale": 153 of the 1,106 MB of the 5,000-vessel day were these
    /// keys). The key is rebuilt for a summary, which no per-record path asks for.
    key: [u8; 32],
    usage: Usage,
    /// Positions kept, oldest first.
    track: BTreeSet<AgeKey>,
}

/// An author's key, rebuilt from its bytes (which were a key's: this cannot fail).
fn author_key(a: &Author) -> Option<PublicKey> {
    PublicKey::from_bytes(&a.key).ok()
}

/// The slots of an order's keys, in the contract's order: keys equal but for their slot are
/// ordered by the records' ids (descending if the order is read backwards).
struct Exact<'a, const N: usize, I> {
    keys: I,
    entries: &'a [Entry],
    backwards: bool,
    next_key: Option<&'a [u8; N]>,
    run: Vec<Slot>,
}

impl<'a, const N: usize, I: Iterator<Item = &'a [u8; N]>> Exact<'a, N, I> {
    fn new(keys: I, entries: &'a [Entry], backwards: bool) -> Self {
        Exact {
            keys,
            entries,
            backwards,
            next_key: None,
            run: Vec::new(),
        }
    }
}

impl<'a, const N: usize, I: Iterator<Item = &'a [u8; N]>> Iterator for Exact<'a, N, I> {
    type Item = Slot;

    fn next(&mut self) -> Option<Slot> {
        if let Some(s) = self.run.pop() {
            return Some(s);
        }
        let first = match self.next_key.take() {
            Some(k) => k,
            None => self.keys.next()?,
        };
        self.run.push(slot_of(first));
        for k in self.keys.by_ref() {
            if k[..N - 4] == first[..N - 4] {
                self.run.push(slot_of(k));
            } else {
                self.next_key = Some(k);
                break;
            }
        }
        if self.run.len() > 1 {
            // Popped from the back: sorted so that the first to yield is last.
            let e = self.entries;
            let id = |s: &Slot| e.get(*s as usize).map(|x| x.id);
            if self.backwards {
                self.run.sort_unstable_by_key(id);
            } else {
                self.run.sort_unstable_by_key(|s| Reverse(id(s)));
            }
        }
        self.run.pop()
    }
}

/// The in-memory indexes of a store: every record's [`Summary`], the orders the eviction
/// policy needs, and the usage counters. See the module docs for the layout.
#[derive(Clone)]
pub struct StoreIndex {
    limits: StoreLimits,
    /// Every record held, by slot; free slots are not `live`.
    entries: Vec<Entry>,
    /// Slots free for reuse.
    free_slots: Vec<Slot>,
    /// Id → slot.
    ids: HashTable<Slot>,
    /// Authors by number; `None` for a free number.
    authors: Vec<Option<Author>>,
    /// Author key → number, for authors with records held.
    numbers: BTreeMap<[u8; 32], AuthorNo>,
    /// Numbers free for reuse.
    free: Vec<AuthorNo>,
    /// Expiry order ([`expiry_key`]).
    by_expiry: BTreeSet<u64>,
    /// Global eviction order, records not kept first.
    eviction: BTreeSet<EvictBytes>,
    /// Per-author eviction order (and every record of an author, for `by_author_seq`).
    author_eviction: BTreeSet<AuthorBytes>,
    usage: Usage,
    /// The orders are not kept yet ([`StoreIndex::defer_orders`]).
    deferred: bool,
}

impl std::fmt::Debug for StoreIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreIndex")
            .field("limits", &self.limits)
            .field("usage", &self.usage)
            .field("authors", &self.numbers.len())
            .finish_non_exhaustive()
    }
}

impl StoreIndex {
    /// An empty index enforcing `limits`.
    pub fn new(limits: StoreLimits) -> StoreIndex {
        StoreIndex {
            limits,
            entries: Vec::new(),
            free_slots: Vec::new(),
            ids: HashTable::new(),
            authors: Vec::new(),
            numbers: BTreeMap::new(),
            free: Vec::new(),
            by_expiry: BTreeSet::new(),
            eviction: BTreeSet::new(),
            author_eviction: BTreeSet::new(),
            usage: Usage::default(),
            deferred: false,
        }
    }

    /// Stops keeping the orders until [`StoreIndex::build_orders`]: for a store replaying its
    /// log when it opens, which only adds and removes records. The orders are then built once,
    /// in bulk, from the records left: full B-tree nodes instead of half-full ones, and no
    /// order nodes scattered among the pages the replay read and let go.
    pub fn defer_orders(&mut self) {
        self.deferred = true;
    }

    /// Builds the orders deferred by [`StoreIndex::defer_orders`] and keeps them from then on.
    pub fn build_orders(&mut self) {
        if !self.deferred {
            return;
        }
        self.deferred = false;
        let live = || {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.live)
                .map(|(s, e)| (s as Slot, e))
        };
        self.by_expiry = live().map(|(s, e)| expiry_key(e.expiry, s)).collect();
        self.eviction = live().map(|(s, e)| evict_bytes(e.kept, e, s)).collect();
        self.author_eviction = live().map(|(s, e)| author_bytes(e.kept, e, s)).collect();
        let mut tracks: Vec<(AuthorNo, AgeKey)> = live()
            .filter(|(_, e)| e.kind == Kind::Position)
            .map(|(s, e)| (e.author, age_key(e.created, e.seq, s)))
            .collect();
        tracks.sort_unstable();
        for run in tracks.chunk_by(|a, b| a.0 == b.0) {
            if let Some(Some(a)) = run.first().and_then(|r| self.authors.get_mut(r.0 as usize)) {
                a.track = run.iter().map(|r| r.1).collect();
            }
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// How full the store is.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn slot(&self, id: &RecordId) -> Option<Slot> {
        let entries = &self.entries;
        self.ids
            .find(hash_id(id), |s| {
                entries.get(*s as usize).is_some_and(|e| e.id == *id)
            })
            .copied()
    }

    fn entry(&self, id: &RecordId) -> Option<&Entry> {
        self.entries.get(self.slot(id)? as usize)
    }

    fn at(&self, slot: Slot) -> Option<&Entry> {
        self.entries.get(slot as usize).filter(|e| e.live)
    }

    fn number(&self, key: &PublicKey) -> Option<AuthorNo> {
        self.numbers.get(key.as_bytes()).copied()
    }

    fn author(&self, n: AuthorNo) -> Option<&Author> {
        self.authors.get(n as usize).and_then(Option::as_ref)
    }

    fn author_of(&self, key: &PublicKey) -> Option<&Author> {
        self.number(key).and_then(|n| self.author(n))
    }

    /// How much one author's records take.
    pub fn author_usage(&self, author: &PublicKey) -> Usage {
        self.author_of(author).map(|a| a.usage).unwrap_or_default()
    }

    fn summary(&self, e: &Entry) -> Option<Summary> {
        Some(e.summary(author_key(self.author(e.author)?)?))
    }

    /// The summary of a held record.
    pub fn get(&self, id: &RecordId) -> Option<Summary> {
        self.summary(self.entry(id)?)
    }

    /// Whether a record is held.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.slot(id).is_some()
    }

    /// The keeper's word for a held record ([`UNPLACED`] until [`StoreIndex::set_place`]).
    pub fn place(&self, id: &RecordId) -> Option<u64> {
        self.entry(id).map(|e| e.place)
    }

    /// Sets the keeper's word for a held record (where its keeper put it); returns whether it
    /// is held.
    pub fn set_place(&mut self, id: &RecordId, place: u64) -> bool {
        let Some(s) = self.slot(id) else {
            return false;
        };
        match self.entries.get_mut(s as usize) {
            Some(e) => {
                e.place = place;
                true
            }
            None => false,
        }
    }

    /// The live slots, in id order.
    fn slots_by_id(&self) -> Vec<Slot> {
        let mut v: Vec<Slot> = (0..self.entries.len() as Slot)
            .filter(|s| self.at(*s).is_some())
            .collect();
        v.sort_unstable_by_key(|s| self.entries[*s as usize].id);
        v
    }

    /// Every summary, in id order.
    pub fn summaries(&self) -> impl Iterator<Item = Summary> + '_ {
        // Each author's key rebuilt once, not once per record.
        let keys: Vec<Option<PublicKey>> = self
            .authors
            .iter()
            .map(|a| a.as_ref().and_then(author_key))
            .collect();
        self.slots_by_id().into_iter().filter_map(move |s| {
            let e = self.at(s)?;
            Some(e.summary(*keys.get(e.author as usize)?.as_ref()?))
        })
    }

    /// The records of an order, in the contract's order.
    fn exact<'a, const N: usize>(
        &'a self,
        keys: impl Iterator<Item = &'a [u8; N]> + 'a,
        backwards: bool,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        Exact::new(keys, &self.entries, backwards).filter_map(|s| self.at(s))
    }

    /// Decides what inserting the record `s` summarises does, changing nothing: `Ok(victims)`
    /// to store it after removing the victims (lowest class and oldest first), or the outcome
    /// that leaves the store unchanged. The order of the decisions is in the contract.
    pub fn plan(&self, s: &Summary) -> Result<Vec<RecordId>, InsertOutcome> {
        if self.contains(&s.id) {
            return Err(InsertOutcome::Duplicate);
        }
        let len = u64::from(s.len);
        if len > self.limits.max_bytes || len > self.limits.max_author_bytes {
            return Err(InsertOutcome::Refused(Refusal::TooLarge));
        }
        let number = self.number(&s.author);
        let author = number.and_then(|n| self.author(n));
        let mut victims: Vec<(EvictKey, RecordId, u64)> = Vec::new();
        if s.kind == Kind::Position {
            let held = author.map_or(0, |a| a.track.len());
            if held >= self.limits.track_len {
                let mut track = author
                    .into_iter()
                    .flat_map(|a| self.exact(a.track.iter(), false));
                let oldest = track.next();
                if self.limits.track_len == 0 || oldest.is_some_and(|o| age(s) < o.age()) {
                    return Err(InsertOutcome::Superseded);
                }
                // More than one only if the track was longer under earlier limits.
                for e in oldest
                    .into_iter()
                    .chain(track)
                    .take(held + 1 - self.limits.track_len)
                {
                    victims.push((
                        (Reverse(Priority::Routine), e.age()),
                        e.id,
                        u64::from(e.len),
                    ));
                }
            }
        }
        let freed =
            |victims: &[(EvictKey, RecordId, u64)]| victims.iter().map(|v| v.2).sum::<u64>();

        let author_used = author.map_or(0, |a| a.usage.bytes) - freed(&victims);
        if author_used + len > self.limits.max_author_bytes {
            let need = author_used + len - self.limits.max_author_bytes;
            let n = number.unwrap_or(AuthorNo::MAX);
            let of = |kept: bool| {
                let (mut lo, mut hi) = ([0u8; 22], [0xffu8; 22]);
                lo[..4].copy_from_slice(&n.to_be_bytes());
                hi[..4].copy_from_slice(&n.to_be_bytes());
                lo[4] = u8::from(kept);
                hi[4] = u8::from(kept);
                self.exact(self.author_eviction.range(lo..=hi), false)
            };
            if !choose(of(false), of(true), s, need, &mut victims) {
                return Err(InsertOutcome::Refused(Refusal::AuthorQuota));
            }
        }

        let used = self.usage.bytes - freed(&victims);
        if used + len > self.limits.max_bytes {
            let need = used + len - self.limits.max_bytes;
            let of = |kept: bool| {
                let (mut lo, mut hi) = ([0u8; 18], [0xffu8; 18]);
                lo[0] = u8::from(kept);
                hi[0] = u8::from(kept);
                self.exact(self.eviction.range(lo..=hi), false)
            };
            if !choose(of(false), of(true), s, need, &mut victims) {
                return Err(InsertOutcome::Refused(Refusal::StoreFull));
            }
        }
        victims.sort_unstable_by_key(|v| v.0);
        Ok(victims.into_iter().map(|v| v.1).collect())
    }

    /// Marks a held record kept or not (see [`super::Store::set_kept`]); returns whether it
    /// is held.
    pub fn set_kept(&mut self, id: &RecordId, kept: bool) -> bool {
        let Some(slot) = self.slot(id) else {
            return false;
        };
        let Some(e) = self.entries.get_mut(slot as usize) else {
            return false;
        };
        if self.deferred {
            e.kept = kept;
            return true;
        }
        if e.kept != kept {
            let e = *e;
            self.eviction.remove(&evict_bytes(e.kept, &e, slot));
            self.author_eviction.remove(&author_bytes(e.kept, &e, slot));
            self.eviction.insert(evict_bytes(kept, &e, slot));
            self.author_eviction.insert(author_bytes(kept, &e, slot));
            if let Some(e) = self.entries.get_mut(slot as usize) {
                e.kept = kept;
            }
        }
        true
    }

    /// Whether a held record is kept.
    pub fn is_kept(&self, id: &RecordId) -> bool {
        self.entry(id).is_some_and(|e| e.kept)
    }

    /// The records kept, in id order.
    pub fn kept(&self) -> Vec<RecordId> {
        self.slots_by_id()
            .into_iter()
            .filter_map(|s| self.at(s))
            .filter(|e| e.kept)
            .map(|e| e.id)
            .collect()
    }

    /// Adds a record (which [`StoreIndex::plan`] made room for; a record already held is
    /// left as it is).
    pub fn add(&mut self, s: Summary) {
        if self.contains(&s.id) {
            return;
        }
        let n = match self.numbers.get(s.author.as_bytes()) {
            Some(n) => *n,
            None => {
                let slot = Some(Author {
                    key: *s.author.as_bytes(),
                    usage: Usage::default(),
                    track: BTreeSet::new(),
                });
                let n = match self.free.pop() {
                    Some(n) => {
                        self.authors[n as usize] = slot;
                        n
                    }
                    None => {
                        self.authors.push(slot);
                        (self.authors.len() - 1) as AuthorNo
                    }
                };
                self.numbers.insert(*s.author.as_bytes(), n);
                n
            }
        };
        let e = Entry {
            id: s.id,
            seq: s.seq,
            expiry: s.expiry,
            place: UNPLACED,
            created: s.created,
            author: n,
            len: s.len,
            dest: s.dest,
            kind: s.kind,
            priority: s.priority,
            kept: false,
            live: true,
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.entries[slot as usize] = e;
                slot
            }
            None => {
                self.entries.push(e);
                (self.entries.len() - 1) as Slot
            }
        };
        let entries = &self.entries;
        self.ids.insert_unique(hash_id(&s.id), slot, |x| {
            entries.get(*x as usize).map_or(0, |e| hash_id(&e.id))
        });
        if !self.deferred {
            self.by_expiry.insert(expiry_key(s.expiry, slot));
            self.eviction.insert(evict_bytes(false, &e, slot));
            self.author_eviction.insert(author_bytes(false, &e, slot));
        }
        if let Some(Some(author)) = self.authors.get_mut(n as usize) {
            if s.kind == Kind::Position && !self.deferred {
                author.track.insert(age_key(s.created, s.seq, slot));
            }
            author.usage.records += 1;
            author.usage.bytes += u64::from(s.len);
        }
        self.usage.records += 1;
        self.usage.bytes += u64::from(s.len);
    }

    /// Removes a record; its length in bytes if it was held. (Not its summary: that would
    /// rebuild its author's key, a point decompression, for every record a node lets go.)
    pub fn remove(&mut self, id: &RecordId) -> Option<u32> {
        let entries = &self.entries;
        let slot = self
            .ids
            .find_entry(hash_id(id), |s| {
                entries.get(*s as usize).is_some_and(|e| e.id == *id)
            })
            .ok()?
            .remove()
            .0;
        let e = self.entries.get_mut(slot as usize)?;
        e.live = false;
        let e = *e;
        self.free_slots.push(slot);
        self.by_expiry.remove(&expiry_key(e.expiry, slot));
        self.eviction.remove(&evict_bytes(e.kept, &e, slot));
        self.author_eviction.remove(&author_bytes(e.kept, &e, slot));
        self.usage.records -= 1;
        self.usage.bytes -= u64::from(e.len);
        let held = self.authors.get_mut(e.author as usize)?;
        let author = held.as_mut()?;
        let bytes = author.key;
        if e.kind == Kind::Position {
            author.track.remove(&age_key(e.created, e.seq, slot));
        }
        author.usage.records -= 1;
        author.usage.bytes -= u64::from(e.len);
        if author.usage.records == 0 {
            *held = None;
            self.numbers.remove(&bytes);
            self.free.push(e.author);
        }
        Some(e.len)
    }

    /// [`super::Store::by_author_seq`], as an id (a scan of the author's records).
    pub fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Option<RecordId> {
        let n = self.number(author)?;
        let (mut lo, mut hi) = ([0u8; 22], [0xffu8; 22]);
        lo[..4].copy_from_slice(&n.to_be_bytes());
        hi[..4].copy_from_slice(&n.to_be_bytes());
        self.author_eviction
            .range(lo..=hi)
            .filter_map(|k| self.at(slot_of(k)))
            .filter(|e| e.seq == seq)
            .map(|e| e.id)
            .min()
    }

    /// The ids of the records `keep` selects, oldest first, at most `limit` (a scan: see the
    /// module docs).
    fn oldest(&self, keep: impl Fn(&Entry) -> bool, limit: usize) -> Vec<RecordId> {
        let mut v: Vec<Age> = self
            .entries
            .iter()
            .filter(|e| e.live && keep(e))
            .map(Entry::age)
            .collect();
        if v.len() > limit {
            v.select_nth_unstable(limit);
            v.truncate(limit);
        }
        v.sort_unstable();
        v.into_iter().map(|a| a.2).collect()
    }

    /// [`super::Store::by_kind`], as ids.
    pub fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Vec<RecordId> {
        if from > to {
            return Vec::new();
        }
        self.oldest(
            |e| e.kind == kind && e.created >= from && e.created <= to,
            limit,
        )
    }

    /// [`super::Store::by_destination`], as ids.
    pub fn by_destination(&self, dest: &Destination, limit: usize) -> Vec<RecordId> {
        self.oldest(|e| e.dest == *dest, limit)
    }

    /// [`super::Store::latest_positions`], as ids.
    pub fn latest_positions(&self) -> Vec<RecordId> {
        self.numbers
            .values()
            .filter_map(|n| self.exact(self.author(*n)?.track.iter().rev(), true).next())
            .map(|e| e.id)
            .collect()
    }

    /// [`super::Store::track`], as ids.
    pub fn track(&self, author: &PublicKey) -> Vec<RecordId> {
        self.author_of(author)
            .into_iter()
            .flat_map(|a| self.exact(a.track.iter().rev(), true))
            .map(|e| e.id)
            .collect()
    }

    /// What [`super::Store::sweep_expired`] removes, in its order (changes nothing).
    pub fn expired(&self, now: u64) -> Vec<RecordId> {
        let last = expiry_key(now, Slot::MAX);
        let mut v: Vec<(u64, RecordId)> = self
            .by_expiry
            .range(..=last)
            .filter_map(|k| self.at((k & u64::from(u32::MAX)) as Slot))
            .filter(|e| e.expiry <= now)
            .map(|e| (e.expiry, e.id))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|k| k.1).collect()
    }
}

/// Adds victims until `need` bytes are freed, records not kept first (`free`, in eviction
/// order), then kept ones (`kept`, in eviction order); false if the evictable ones are not
/// enough. Evictability is monotone along each eviction order, so each scan stops at the
/// first record that may not go.
fn choose<'a>(
    free: impl Iterator<Item = &'a Entry>,
    kept: impl Iterator<Item = &'a Entry>,
    s: &Summary,
    need: u64,
    victims: &mut Vec<(EvictKey, RecordId, u64)>,
) -> bool {
    let free = free.take_while(|e| evictable(&e.evict_key(), s));
    let kept = kept.take_while(|e| evictable_kept(&e.evict_key(), s));
    let mut got = 0;
    for e in free.chain(kept) {
        if got >= need {
            break;
        }
        if victims.iter().any(|v| v.1 == e.id) {
            continue;
        }
        victims.push((e.evict_key(), e.id, u64::from(e.len)));
        got += u64::from(e.len);
    }
    got >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index replayed with its orders deferred and then built in bulk answers every
    /// order-dependent question as one kept up record by record.
    #[test]
    fn orders_built_in_bulk_answer_as_orders_kept_up() {
        use haiqiao_proto::Keypair;
        let keys: Vec<PublicKey> = (0..5u8)
            .map(|i| Keypair::from_seed(&[i + 1; 32]).public())
            .collect();
        let limits = StoreLimits {
            max_bytes: 40 * 100,
            max_author_bytes: 12 * 100,
            track_len: 3,
        };
        let kinds = [Kind::Position, Kind::Text, Kind::Distress, Kind::Position];
        let summary = |i: u32| {
            let kind = kinds[i as usize % kinds.len()];
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            Summary {
                id: RecordId(id),
                author: keys[i as usize % keys.len()],
                // Ties of age on purpose: ids must order them.
                seq: u64::from(i / 10),
                kind,
                priority: match kind {
                    Kind::Distress => Priority::Distress,
                    _ => Priority::Routine,
                },
                created: Timestamp(1000 + i / 10),
                expiry: u64::from(2000 + i % 7),
                dest: Destination::Everyone,
                len: 100,
            }
        };
        let (mut kept_up, mut bulk) = (StoreIndex::new(limits.clone()), StoreIndex::new(limits));
        bulk.defer_orders();
        for i in 0..60u32 {
            let s = summary(i);
            kept_up.add(s);
            bulk.add(s);
            if i % 5 == 0 {
                kept_up.set_kept(&s.id, true);
                bulk.set_kept(&s.id, true);
            }
            if i % 3 == 0 {
                let gone = summary(i / 2).id;
                kept_up.remove(&gone);
                bulk.remove(&gone);
            }
        }
        bulk.build_orders();
        for i in 60..90 {
            let s = summary(i);
            assert_eq!(kept_up.plan(&s), bulk.plan(&s), "plan for record {i}");
        }
        assert_eq!(kept_up.expired(2003), bulk.expired(2003));
        assert_eq!(kept_up.latest_positions(), bulk.latest_positions());
        for k in &keys {
            assert_eq!(kept_up.track(k), bulk.track(k));
            assert_eq!(kept_up.by_author_seq(k, 3), bulk.by_author_seq(k, 3));
        }
        assert_eq!(kept_up.kept(), bulk.kept());
    }

    #[test]
    fn an_entry_is_packed() {
        assert!(
            std::mem::size_of::<Entry>() <= 80,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn keys_sort_as_the_contract_orders() {
        let e = |p: Priority, created: u32, seq: u64| Entry {
            id: RecordId([0; 16]),
            seq,
            expiry: 0,
            place: UNPLACED,
            created: Timestamp(created),
            author: 7,
            len: 1,
            dest: Destination::Everyone,
            kind: Kind::Position,
            priority: p,
            kept: false,
            live: true,
        };
        // The lowest class first, then the oldest; records not kept before kept ones.
        let a = evict_bytes(false, &e(Priority::Routine, 9, 9), 5);
        let b = evict_bytes(false, &e(Priority::Case, 1, 1), 1);
        let c = evict_bytes(false, &e(Priority::Routine, 9, 10), 0);
        let d = evict_bytes(true, &e(Priority::Routine, 0, 0), 0);
        assert!(a < c && c < b && b < d);
        // Sequence numbers compare as numbers, not as their low bytes.
        assert!(age_key(Timestamp(1), 255, 0) < age_key(Timestamp(1), 256, 0));
        assert!(expiry_key(u64::MAX, 0) > expiry_key(u64::from(u32::MAX) - 1, 9));
    }
}
