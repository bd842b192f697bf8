//! haiqiao-store: the durable record store, [`SledStore`], on sled 0.34.
//!
//! It keeps the contract of [`haiqiao_mesh::Store`] (see `haiqiao_mesh::store`) on disk and
//! passes the same conformance suite as the in-memory twin `MemStore`. Both decide with the
//! same [`StoreIndex`]: the records' summaries, the orders the queries and the eviction policy
//! need, and the usage counters, in memory. The disk holds a log of changes; the index is
//! rebuilt from it when the store opens.
//!
//! # Why a log of segments
//!
//! Ingest (decode, verify, store) must run at ≥ 0.75 × the pure ed25519 batch-verify rate
//! (design §4), so storing may cost about a third of a signature check. One sled insert costs
//! about that much on its own (sled 0.34 on this project's 2-core machine: tens of µs per key),
//! so a record cannot have a sled key of its own, let alone index keys: persisting seven index
//! keys per record made storing 4–8 × slower than verifying, and one key per record still
//! cost as much as verifying. So each change is written as a *segment*: one sled value holding
//! the records it adds and the removals it makes, up to [`SEGMENT_TARGET`] bytes; a batch of
//! a hundred records is one sled key. Storing a batch of 1024 records then costs 4–7 µs per
//! record (about 2 of them in the index), a batch of 64 about 11.
//!
//! The price is memory and opening time: the index lives in memory and is rebuilt by replaying
//! the log, every record decoded (not re-verified; each author's key checked once). The
//! index is `haiqiao_mesh::store::StoreIndex`, packed (see its module docs); each record's
//! place on disk is kept in its index entry. Two things about sled 0.34 shape the open: it
//! keeps every page it has read in memory whatever its cache capacity (after a replay, the
//! whole store again), so the store reopens sled once the replay is done; and the index's
//! orders are built in bulk after that, so that their nodes take the memory sled let go of
//! instead of sitting between its pages. `haiqiao bench store` measures both
//! (docs/benchmarks.md).
//!
//! # Durability
//!
//! Every change ([`Store::insert`], [`Store::insert_batch`], [`Store::remove`],
//! [`Store::sweep_expired`]) is written with one `apply_batch` (which sled recovers atomically
//! after a crash: all of the batch or none of it) and then `flush`ed (fsync) before `Ok` is
//! returned. A batch of records is one sled batch and one fsync. Calls that change nothing (all
//! duplicates, a refused record, removing what is not held) write nothing. sled's own timed
//! flusher is off: nothing reaches the disk except at these points.
//!
//! # Layout
//!
//! One sled tree (the default one); keys start with a one-byte prefix, integers are big-endian.
//!
//! | key | value |
//! |---|---|
//! | `m` `schema` | schema version, u32 |
//! | `c` | records u64 ‖ bytes u64 ‖ next segment number u64 (written with every change) |
//! | `b` segment number u64 | entries, one after another |
//!
//! An entry is either an addition, `1` ‖ id (16) ‖ length u16 ‖ author key (32) ‖ record
//! bytes, or a removal, `2` ‖ id (16) ‖ number of the segment that held the record (u64).
//! Replaying the segments in order rebuilds the store: an addition makes the record live
//! there; a removal removes the record only if it still lives in the named segment (so a
//! removal never takes a record added again later). Segment numbers are never reused.
//!
//! Segments are collected as records leave: a segment with no live record and no removal
//! still needed (one naming a segment that still exists) is deleted, and one whose live
//! records fill less than 1/[`COMPACT_RATIO`] of it is compacted: its live records and needed
//! removals are copied into the change being written, and it is deleted in the same batch. A
//! few segments are looked at per change, so no call does unbounded work.
//!
//! Opening replays every segment, rebuilds each record with `Record::from_trusted` (decoded,
//! not re-verified: it was verified before it was stored), checks it carries the id it was
//! stored under, and checks that the records add up to the counters. Anything that does not
//! is [`StoreError::Corrupt`]: the store refuses to open rather than drop a record silently.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use haiqiao_mesh::store::{StoreIndex, UNPLACED};
use haiqiao_mesh::{InsertOutcome, Store, StoreError, StoreLimits, Summary, Usage};
use haiqiao_proto::{Destination, Kind, PublicKey, Record, RecordId, Timestamp};

mod keys;
use keys::KeyCache;

/// The schema version this build writes, and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// sled's page cache, in bytes (sled's default of 1 GiB is far too much for a boat's computer;
/// sled's resident memory is several times this).
pub const CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

/// Largest segment written, in bytes (a change larger than this is split into several): far
/// below sled's threshold for storing a value as a separate blob file.
pub const SEGMENT_TARGET: usize = 16 * 1024;

/// A segment whose live records fill less than 1/COMPACT_RATIO of it is compacted.
pub const COMPACT_RATIO: u64 = 4;

/// Bytes of segments read while a store opens before sled is reopened (which lets go of the
/// pages it read: see [`SledStore::open`]).
pub const REPLAY_CHUNK: usize = 16 * 1024 * 1024;

/// Segments looked at for collection per change.
pub const COLLECT_PER_CHANGE: usize = 8;

/// Segments compacted (copied) at most per change.
pub const COMPACT_PER_CHANGE: usize = 2;

const META_SCHEMA: &[u8] = b"mschema";
const COUNTERS: &[u8] = b"c";
const P_SEGMENT: u8 = b'b';

const KEY: usize = 32;
const ID: usize = 16;
const ADD: u8 = 1;
const REMOVE: u8 = 2;
/// Tag, id, length, author key.
const ADD_HEADER: usize = 1 + ID + 2 + KEY;
/// Tag, id, segment number.
const REMOVE_LEN: usize = 1 + ID + 8;

fn segment_key(n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = P_SEGMENT;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn io(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
        e => StoreError::Io(e.to_string()),
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// The `c` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counters {
    usage: Usage,
    next_segment: u64,
}

fn encode_counters(c: Counters) -> [u8; 24] {
    let mut v = [0u8; 24];
    v[..8].copy_from_slice(&c.usage.records.to_be_bytes());
    v[8..16].copy_from_slice(&c.usage.bytes.to_be_bytes());
    v[16..].copy_from_slice(&c.next_segment.to_be_bytes());
    v
}

fn decode_counters(v: &[u8]) -> Result<Counters, StoreError> {
    let v: [u8; 24] = v
        .try_into()
        .map_err(|_| corrupt("counters are not 24 bytes"))?;
    let n = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[i..i + 8]);
        u64::from_be_bytes(b)
    };
    Ok(Counters {
        usage: Usage {
            records: n(0),
            bytes: n(8),
        },
        next_segment: n(16),
    })
}

/// One entry of a segment, borrowed from its bytes.
enum Entry<'a> {
    Add {
        id: RecordId,
        author: &'a [u8],
        bytes: &'a [u8],
    },
    Remove {
        id: RecordId,
        segment: u64,
    },
}

/// Reads the entry at `at`; returns it and where the next one starts.
fn read_entry(v: &[u8], at: usize) -> Result<(Entry<'_>, usize), StoreError> {
    let bad = || corrupt(format!("segment entry at {at} is cut short or unknown"));
    let id = v
        .get(at + 1..at + 1 + ID)
        .and_then(|b| <[u8; ID]>::try_from(b).ok())
        .map(RecordId)
        .ok_or_else(bad)?;
    match v.get(at) {
        Some(&ADD) => {
            let len = v
                .get(at + 1 + ID..at + 1 + ID + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or_else(bad)?;
            let author = v.get(at + 1 + ID + 2..at + ADD_HEADER).ok_or_else(bad)?;
            let end = at + ADD_HEADER + len;
            let bytes = v.get(at + ADD_HEADER..end).ok_or_else(bad)?;
            Ok((Entry::Add { id, author, bytes }, end))
        }
        Some(&REMOVE) => {
            let segment = v
                .get(at + 1 + ID..at + REMOVE_LEN)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(bad)?;
            Ok((Entry::Remove { id, segment }, at + REMOVE_LEN))
        }
        _ => Err(bad()),
    }
}

/// Rebuilds a stored record, checking it against the id it was stored under.
fn decode_record(
    keys: &KeyCache,
    id: &RecordId,
    author: &[u8],
    bytes: &[u8],
) -> Result<Record, StoreError> {
    let key = keys
        .key(author)
        .map_err(|e| corrupt(format!("record {id}: author key: {e}")))?;
    rebuild(id, key, bytes)
}

/// Rebuilds a stored record whose author's key is already checked.
fn rebuild(id: &RecordId, key: PublicKey, bytes: &[u8]) -> Result<Record, StoreError> {
    let r = Record::from_trusted(key, bytes).map_err(|e| corrupt(format!("record {id}: {e}")))?;
    if r.id() != *id {
        return Err(corrupt(format!("record stored as {id} has id {}", r.id())));
    }
    Ok(r)
}

/// Where a live record's addition is. Kept in the index's word for the record
/// ([`StoreIndex::place`]): segment number in the high 40 bits, offset in the low 24 (a
/// segment is at most [`SEGMENT_TARGET`] bytes plus one record of at most 64 KiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loc {
    segment: u64,
    offset: u32,
}

/// Bits of a place that hold the offset.
const OFFSET_BITS: u32 = 24;

impl Loc {
    fn pack(self) -> Result<u64, StoreError> {
        if self.segment >= 1 << (64 - OFFSET_BITS) || self.offset >= 1 << OFFSET_BITS {
            return Err(corrupt(format!("{self:?} cannot be indexed")));
        }
        Ok((self.segment << OFFSET_BITS) | u64::from(self.offset))
    }

    fn unpack(place: u64) -> Option<Loc> {
        (place != UNPLACED).then_some(Loc {
            segment: place >> OFFSET_BITS,
            offset: (place & ((1 << OFFSET_BITS) - 1)) as u32,
        })
    }
}

/// What the store knows of a segment on disk.
#[derive(Debug, Default)]
struct Segment {
    /// Bytes of the value.
    size: u64,
    /// Bytes of its additions that are still live.
    live: u64,
    /// Its removals: record and the segment named.
    removals: Vec<(RecordId, u64)>,
}

/// An entry waiting to be written.
#[derive(Debug)]
enum Staged {
    Add {
        id: RecordId,
        author: [u8; KEY],
        bytes: Arc<[u8]>,
        /// Removed again before being written.
        dead: bool,
    },
    Remove {
        id: RecordId,
        segment: u64,
    },
}

impl Staged {
    fn len(&self) -> usize {
        match self {
            Staged::Add { bytes, .. } => ADD_HEADER + bytes.len(),
            Staged::Remove { .. } => REMOVE_LEN,
        }
    }
}

/// A change being prepared: its entries, and the segments it deletes.
#[derive(Debug, Default)]
struct Change {
    entries: Vec<Staged>,
    /// Additions not yet written: id → entry index.
    adds: BTreeMap<RecordId, usize>,
    deleted: BTreeSet<u64>,
}

/// Everything the store keeps in memory, rebuilt from the disk when it opens.
#[derive(Debug)]
struct State {
    /// The records' summaries, and where each is on disk ([`Loc`], as the index's place).
    index: StoreIndex,
    segments: BTreeMap<u64, Segment>,
    /// Segment → the segments holding removals that name it.
    removers: BTreeMap<u64, Vec<u64>>,
    /// Segments to look at for collection.
    dirty: BTreeSet<u64>,
    next_segment: u64,
}

impl State {
    /// Replays the log. The index's orders are not built yet (see [`State::ready`]).
    ///
    /// With `reopen`, sled is reopened from that path after every so many bytes of segments
    /// read ([`REPLAY_CHUNK`] in [`SledStore::open`]) and once more at the end (see [`SledStore::open`]): `db` must then be the
    /// only handle to it. The database is handed back.
    fn load(
        mut db: sled::Db,
        reopen: Option<(&Path, usize)>,
        limits: StoreLimits,
        keys: &KeyCache,
    ) -> Result<(State, sled::Db), StoreError> {
        let counted = match db.get(COUNTERS).map_err(io)? {
            Some(v) => decode_counters(&v)?,
            None => return Err(corrupt("no counters")),
        };
        let mut index = StoreIndex::new(limits);
        index.defer_orders();
        let mut st = State {
            index,
            segments: BTreeMap::new(),
            removers: BTreeMap::new(),
            dirty: BTreeSet::new(),
            next_segment: counted.next_segment,
        };
        let mut from = vec![P_SEGMENT];
        loop {
            let mut read = 0;
            let mut rest = None;
            for kv in db.range(from.as_slice()..) {
                let (k, v) = kv.map_err(io)?;
                if k.first() != Some(&P_SEGMENT) {
                    break;
                }
                st.replay(&k, &v, &counted, keys)?;
                read += v.len();
                if reopen.is_some_and(|(_, chunk)| read >= chunk) {
                    // The next key after this one.
                    let mut next = k.to_vec();
                    next.push(0);
                    rest = Some(next);
                    break;
                }
            }
            if let Some((path, _)) = reopen {
                drop(db);
                db = reopen_db(path)?;
            }
            match rest {
                Some(next) => from = next,
                None => break,
            }
        }
        if st.index.usage() != counted.usage {
            return Err(corrupt(format!(
                "the counters say {:?} but the records add up to {:?}",
                counted.usage,
                st.index.usage()
            )));
        }
        Ok((st, db))
    }

    /// Replays one segment.
    fn replay(
        &mut self,
        k: &[u8],
        v: &[u8],
        counted: &Counters,
        keys: &KeyCache,
    ) -> Result<(), StoreError> {
        let st = self;
        {
            let n = k
                .get(1..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt("segment key is not 9 bytes"))?;
            if n >= counted.next_segment {
                return Err(corrupt(format!("segment {n} beyond the counter")));
            }
            let mut seg = Segment {
                size: v.len() as u64,
                ..Segment::default()
            };
            let mut at = 0;
            while at < v.len() {
                let (e, next) = read_entry(v, at)?;
                match e {
                    Entry::Add { id, author, bytes } => {
                        let r = decode_record(keys, &id, author, bytes)?;
                        st.forget(&id);
                        st.index.add(Summary::of(&r));
                        let offset = u32::try_from(at).map_err(|_| corrupt("segment too large"))?;
                        st.index.set_place(&id, Loc { segment: n, offset }.pack()?);
                        seg.live += (next - at) as u64;
                    }
                    Entry::Remove { id, segment } => {
                        if st.loc(&id).is_some_and(|l| l.segment == segment) {
                            st.forget(&id);
                        }
                        seg.removals.push((id, segment));
                        st.removers.entry(segment).or_default().push(n);
                    }
                }
                at = next;
            }
            st.segments.insert(n, seg);
            st.dirty.insert(n);
        }
        Ok(())
    }

    /// Builds the index's orders, once the log is replayed (and what the replay read is let
    /// go of: see [`SledStore::open`]).
    fn ready(mut self) -> State {
        self.index.build_orders();
        self
    }

    /// Where a held record is on disk (`None` if it is not written yet).
    fn loc(&self, id: &RecordId) -> Option<Loc> {
        self.index.place(id).and_then(Loc::unpack)
    }

    /// Drops a live record from the index and its segment's live bytes (replay).
    fn forget(&mut self, id: &RecordId) {
        if let Some(loc) = self.loc(id)
            && let Some(len) = self.index.remove(id)
            && let Some(seg) = self.segments.get_mut(&loc.segment)
        {
            seg.live = seg.live.saturating_sub((ADD_HEADER + len as usize) as u64);
        }
    }

    /// Removes a held record as part of `c`.
    fn stage_remove(&mut self, c: &mut Change, id: &RecordId) -> bool {
        let loc = self.loc(id);
        let Some(len) = self.index.remove(id) else {
            return false;
        };
        if let Some(i) = c.adds.remove(id) {
            // Added earlier in this change: never written.
            if let Some(Staged::Add { dead, .. }) = c.entries.get_mut(i) {
                *dead = true;
            }
        } else if let Some(loc) = loc {
            if let Some(seg) = self.segments.get_mut(&loc.segment) {
                seg.live = seg.live.saturating_sub((ADD_HEADER + len as usize) as u64);
            }
            self.dirty.insert(loc.segment);
            c.entries.push(Staged::Remove {
                id: *id,
                segment: loc.segment,
            });
        }
        true
    }

    fn stage_insert(&mut self, c: &mut Change, r: &Record, kept: bool) -> InsertOutcome {
        let s = Summary::of(r);
        match self.index.plan(&s) {
            Err(outcome) => outcome,
            Ok(evicted) => {
                for id in &evicted {
                    self.stage_remove(c, id);
                }
                self.index.add(s);
                if kept {
                    self.index.set_kept(&s.id, true);
                }
                c.adds.insert(s.id, c.entries.len());
                c.entries.push(Staged::Add {
                    id: s.id,
                    author: *r.author().as_bytes(),
                    bytes: r.shared_bytes(),
                    dead: false,
                });
                InsertOutcome::Stored { evicted }
            }
        }
    }

    /// Whether a removal still matters: the segment it names still exists.
    fn needed(&self, c: &Change, segment: u64) -> bool {
        self.segments.contains_key(&segment) && !c.deleted.contains(&segment)
    }

    /// Looks at a few dirty segments: deletes the empty ones, compacts the sparse ones into
    /// `c`.
    fn collect(&mut self, db: &sled::Db, c: &mut Change) -> Result<(), StoreError> {
        let mut compacted = 0;
        let mut later = Vec::new();
        for _ in 0..COLLECT_PER_CHANGE {
            let Some(n) = self.dirty.pop_first() else {
                break;
            };
            let Some(seg) = self.segments.get(&n) else {
                continue;
            };
            if seg.live == 0 {
                // Deleted once no removal in it matters; until then it waits to be made dirty
                // again by the deletion of a segment it names (copying its removals forward
                // instead would copy them again with every change).
                if !seg.removals.iter().any(|(_, t)| self.needed(c, *t)) {
                    c.deleted.insert(n);
                }
                continue;
            }
            if seg.live * COMPACT_RATIO >= seg.size {
                continue;
            }
            if compacted == COMPACT_PER_CHANGE {
                later.push(n);
                continue;
            }
            // Sparse: copy what still matters into this change.
            compacted += 1;
            let v = db
                .get(segment_key(n))
                .map_err(io)?
                .ok_or_else(|| corrupt(format!("segment {n} is not on disk")))?;
            let mut at = 0;
            while at < v.len() {
                let (e, next) = read_entry(&v, at)?;
                match e {
                    Entry::Add { id, author, bytes } => {
                        let here = Loc {
                            segment: n,
                            offset: u32::try_from(at).map_err(|_| corrupt("segment too large"))?,
                        };
                        if self.loc(&id) == Some(here) {
                            self.index.set_place(&id, UNPLACED);
                            let author =
                                <[u8; KEY]>::try_from(author).map_err(|_| corrupt("author key"))?;
                            c.adds.insert(id, c.entries.len());
                            c.entries.push(Staged::Add {
                                id,
                                author,
                                bytes: Arc::from(bytes),
                                dead: false,
                            });
                        }
                    }
                    Entry::Remove { id, segment } => {
                        if self.needed(c, segment) {
                            c.entries.push(Staged::Remove { id, segment });
                        }
                    }
                }
                at = next;
            }
            c.deleted.insert(n);
        }
        self.dirty.extend(later);
        Ok(())
    }
}

/// Opens the sled database of a store.
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_CAPACITY)
        .flush_every_ms(None)
        .open()
        .map_err(io)
}

/// Opens again the sled database of a store this process just closed (see [`retry_lock`]).
fn reopen_db(path: &Path) -> Result<sled::Db, StoreError> {
    retry_lock(|| open_db(path))
}

/// Runs `open` until it does not fail on the directory's lock, for up to [`REOPEN_WAIT`].
/// sled's background threads can hold the lock for a moment after this process dropped the
/// last handle, and nothing announces when they let go, so this is a bounded retry, not a wait
/// for an event.
pub(crate) fn retry_lock<T>(
    mut open: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let step = std::time::Duration::from_millis(2);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match open() {
            Err(StoreError::Io(e))
                if e.contains("could not acquire lock") && waited < REOPEN_WAIT =>
            {
                std::thread::sleep(step);
                waited += step;
            }
            other => return other,
        }
    }
}

/// How long [`reopen_db`] waits for sled to let go of its lock.
pub const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A durable [`Store`] on sled. See the crate docs for the layout.
pub struct SledStore {
    db: sled::Db,
    st: State,
    /// Author keys checked already (reads and the rebuild at open check each key once).
    keys: KeyCache,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("limits", self.st.index.limits())
            .field("usage", &self.st.index.usage())
            .field("segments", &self.st.segments.len())
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, enforcing `limits` from now on (a
    /// store holding more than new, smaller limits allow shrinks as records come in).
    pub fn open(path: impl AsRef<Path>, limits: StoreLimits) -> Result<SledStore, StoreError> {
        SledStore::open_replaying(path.as_ref(), limits, REPLAY_CHUNK)
    }

    /// [`SledStore::open`], reopening sled every `chunk` bytes of the replay.
    fn open_replaying(
        path: &Path,
        limits: StoreLimits,
        chunk: usize,
    ) -> Result<SledStore, StoreError> {
        let db = open_db(path)?;
        match db.get(META_SCHEMA).map_err(io)? {
            None => {
                if db.first().map_err(io)?.is_some() {
                    return Err(corrupt("data but no schema version"));
                }
                let mut b = sled::Batch::default();
                b.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes());
                let zero = Counters {
                    usage: Usage::default(),
                    next_segment: 0,
                };
                b.insert(COUNTERS, &encode_counters(zero));
                db.apply_batch(b).map_err(io)?;
                db.flush().map_err(io)?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| corrupt("schema version is not 4 bytes"))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found == 0 {
                    return Err(corrupt("schema version 0"));
                }
            }
        }
        // sled 0.34 keeps every page it has read in memory, whatever its cache capacity: after
        // replaying the whole log that would be the whole store again (about 150 bytes a
        // record). So the replay reopens sled every REPLAY_CHUNK bytes, which lets go of
        // them; opened afresh, it reads back only what is asked for.
        let keys = KeyCache::default();
        let (st, db) = State::load(db, Some((path, chunk)), limits, &keys)?;
        Ok(SledStore {
            db,
            st: st.ready(),
            keys,
        })
    }

    /// How many segments are on disk (for diagnostics and tests).
    pub fn segments(&self) -> usize {
        self.st.segments.len()
    }

    /// Reads a record the index holds.
    fn read(&self, id: &RecordId) -> Result<Record, StoreError> {
        let loc = self
            .st
            .loc(id)
            .ok_or_else(|| corrupt(format!("indexed record {id} has no location")))?;
        let v = self
            .db
            .get(segment_key(loc.segment))
            .map_err(io)?
            .ok_or_else(|| corrupt(format!("segment {} is not on disk", loc.segment)))?;
        match read_entry(&v, loc.offset as usize)? {
            (
                Entry::Add {
                    id: stored,
                    author,
                    bytes,
                },
                _,
            ) if stored == *id => decode_record(&self.keys, id, author, bytes),
            _ => Err(corrupt(format!("record {id} is not where it was put"))),
        }
    }

    fn read_all(&self, ids: Vec<RecordId>) -> Result<Vec<Record>, StoreError> {
        ids.iter().map(|id| self.read(id)).collect()
    }

    /// Writes a change as one batch (its segments, the deleted segments, the counters), then
    /// fsyncs. If the batch cannot be written, memory is rebuilt from what the disk holds.
    fn commit(&mut self, mut c: Change) -> Result<(), StoreError> {
        let changed = c
            .entries
            .iter()
            .any(|e| !matches!(e, Staged::Add { dead: true, .. }));
        if !changed {
            return Ok(());
        }
        self.st.collect(&self.db, &mut c)?;
        let mut batch = sled::Batch::default();
        let mut written: Vec<(u64, Segment)> = Vec::new();
        let mut places: Vec<(RecordId, u64)> = Vec::new();
        let mut n = self.st.next_segment;
        let mut value: Vec<u8> = Vec::with_capacity(SEGMENT_TARGET);
        let mut seg = Segment::default();
        let finish = |n: u64, value: &mut Vec<u8>, seg: &mut Segment, batch: &mut sled::Batch| {
            seg.size = value.len() as u64;
            batch.insert(&segment_key(n)[..], std::mem::take(value));
            std::mem::take(seg)
        };
        for e in &c.entries {
            if matches!(e, Staged::Add { dead: true, .. }) {
                continue;
            }
            if !value.is_empty() && value.len() + e.len() > SEGMENT_TARGET {
                written.push((n, finish(n, &mut value, &mut seg, &mut batch)));
                n += 1;
            }
            let offset = u32::try_from(value.len()).map_err(|_| corrupt("segment too large"))?;
            match e {
                Staged::Add {
                    id, author, bytes, ..
                } => {
                    let len = u16::try_from(bytes.len())
                        .map_err(|_| corrupt(format!("record {id} longer than 64 KiB")))?;
                    value.push(ADD);
                    value.extend_from_slice(id.as_bytes());
                    value.extend_from_slice(&len.to_be_bytes());
                    value.extend_from_slice(author);
                    value.extend_from_slice(bytes);
                    seg.live += e.len() as u64;
                    places.push((*id, Loc { segment: n, offset }.pack()?));
                }
                Staged::Remove { id, segment } => {
                    value.push(REMOVE);
                    value.extend_from_slice(id.as_bytes());
                    value.extend_from_slice(&segment.to_be_bytes());
                    seg.removals.push((*id, *segment));
                }
            }
        }
        if !value.is_empty() {
            written.push((n, finish(n, &mut value, &mut seg, &mut batch)));
            n += 1;
        }
        for d in &c.deleted {
            batch.remove(&segment_key(*d)[..]);
        }
        let counters = Counters {
            usage: self.st.index.usage(),
            next_segment: n,
        };
        batch.insert(COUNTERS, &encode_counters(counters));
        if let Err(e) = self.db.apply_batch(batch) {
            // Memory already holds the change: go back to what the disk holds (and keep the
            // marks of the records still held, which live in memory only).
            if let Ok((st, _)) = State::load(
                self.db.clone(),
                None,
                self.st.index.limits().clone(),
                &self.keys,
            ) {
                let mut st = st.ready();
                for id in self.st.index.kept() {
                    st.index.set_kept(&id, true);
                }
                self.st = st;
            }
            return Err(io(e));
        }
        let st = &mut self.st;
        st.next_segment = n;
        for (id, place) in places {
            st.index.set_place(&id, place);
        }
        for d in &c.deleted {
            if let Some(seg) = st.segments.remove(d) {
                for (_, target) in seg.removals {
                    if let Some(r) = st.removers.get_mut(&target) {
                        r.retain(|x| x != d);
                        if r.is_empty() {
                            st.removers.remove(&target);
                        }
                    }
                }
            }
            // Segments whose removals named it may be collectable now.
            for r in st.removers.remove(d).unwrap_or_default() {
                st.dirty.insert(r);
            }
        }
        for (n, seg) in written {
            for (_, target) in &seg.removals {
                st.removers.entry(*target).or_default().push(n);
            }
            if seg.live == 0 {
                st.dirty.insert(n);
            }
            st.segments.insert(n, seg);
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

impl Store for SledStore {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        let mut c = Change::default();
        let out = self.st.stage_insert(&mut c, record, false);
        self.commit(c)?;
        Ok(out)
    }

    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        self.insert_batch_kept(records, &[])
    }

    fn insert_batch_kept(
        &mut self,
        records: &[Record],
        kept: &[bool],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut c = Change::default();
        let out = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let k = kept.get(i).copied().unwrap_or(false);
                self.st.stage_insert(&mut c, r, k)
            })
            .collect();
        self.commit(c)?;
        Ok(out)
    }

    fn set_kept(&mut self, id: &RecordId, kept: bool) -> bool {
        self.st.index.set_kept(id, kept)
    }

    fn is_kept(&self, id: &RecordId) -> bool {
        self.st.index.is_kept(id)
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        if !self.st.index.contains(id) {
            return Ok(None);
        }
        self.read(id).map(Some)
    }

    fn contains(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.st.index.contains(id))
    }

    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        let mut c = Change::default();
        let held = self.st.stage_remove(&mut c, id);
        self.commit(c)?;
        Ok(held)
    }

    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError> {
        self.st
            .index
            .by_author_seq(author, seq)
            .map(|id| self.read(&id))
            .transpose()
    }

    fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.st.index.by_kind(kind, from, to, limit))
    }

    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.st.index.by_destination(dest, limit))
    }

    fn latest_positions(&self) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.st.index.latest_positions())
    }

    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.st.index.track(author))
    }

    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError> {
        let due = self.st.index.expired(now);
        let mut c = Change::default();
        for id in &due {
            self.st.stage_remove(&mut c, id);
        }
        self.commit(c)?;
        Ok(due)
    }

    fn summaries(&self) -> Result<Vec<Summary>, StoreError> {
        Ok(self.st.index.summaries().collect())
    }

    fn usage(&self) -> Usage {
        self.st.index.usage()
    }

    fn author_usage(&self, author: &PublicKey) -> Usage {
        self.st.index.author_usage(author)
    }

    fn limits(&self) -> &StoreLimits {
        self.st.index.limits()
    }
}

mod meta;
pub use meta::NodeMeta;

#[cfg(test)]
mod tests;
