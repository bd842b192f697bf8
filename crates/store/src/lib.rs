//! haiqiao-store: the durable record store, [`SledStore`], on sled 0.34.
//!
//! It keeps the contract of [`haiqiao_mesh::Store`] (see `haiqiao_mesh::store`) on disk and
//! passes the same conformance suite as the in-memory twin `MemStore`. Both decide with the
//! same [`StoreIndex`]: the records' summaries, the orders the queries and the eviction policy
//! need, and the usage counters, in memory. The disk holds the records; the index is rebuilt
//! from them when the store opens.
//!
//! # Why the indexes live in memory
//!
//! Ingest (decode, verify, store) must run at ≥ 0.75 × the pure ed25519 batch-verify rate
//! (design §4), so storing may cost about a third of a signature check. A sled insert costs
//! about as much as that on its own (sled 0.34 on this project's 2-core machine: tens of µs
//! per key, fsync amortised over a batch), so a record is exactly one sled key. Persisting the
//! seven secondary indexes as keys made storing 4–8 × slower than verifying. The price is
//! memory (a few hundred bytes per record for the index) and a full scan at open (every
//! record is decoded, not re-verified).
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
//! | key | value | for |
//! |---|---|---|
//! | `m` `schema` | schema version, u32 | refusing a store written by a newer build |
//! | `c` | records u64 ‖ bytes u64 | the usage counters, written in every change's batch |
//! | `r` id (16) | author key (32) ‖ record bytes | the records |
//!
//! Opening reads every `r` value, rebuilds each record with `Record::from_trusted` (decoded,
//! not re-verified: it was verified before it was stored) and checks that it carries the id of
//! its key and that the records add up to the `c` counters. Anything that does not is
//! [`StoreError::Corrupt`]: the store refuses to open rather than drop a record silently.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::Path;

use haiqiao_mesh::store::StoreIndex;
use haiqiao_mesh::{InsertOutcome, Store, StoreError, StoreLimits, Summary, Usage};
use haiqiao_proto::{Destination, Kind, PublicKey, Record, RecordId, Timestamp};

/// The schema version this build writes, and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// sled's page cache, in bytes (sled's default of 1 GiB is far too much for a boat's computer;
/// sled's resident memory is several times this).
pub const CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

const META_SCHEMA: &[u8] = b"mschema";
const COUNTERS: &[u8] = b"c";
const P_RECORD: u8 = b'r';

const KEY: usize = 32;
const ID: usize = 16;

fn record_key(id: &RecordId) -> [u8; 1 + ID] {
    let mut k = [0u8; 1 + ID];
    k[0] = P_RECORD;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

fn record_value(r: &Record) -> Vec<u8> {
    let mut v = Vec::with_capacity(KEY + r.len());
    v.extend_from_slice(r.author().as_bytes());
    v.extend_from_slice(r.bytes());
    v
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

fn encode_usage(u: Usage) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&u.records.to_be_bytes());
    v[8..].copy_from_slice(&u.bytes.to_be_bytes());
    v
}

fn decode_usage(v: &[u8]) -> Result<Usage, StoreError> {
    let v: [u8; 16] = v
        .try_into()
        .map_err(|_| corrupt("usage counters are not 16 bytes"))?;
    let (r, b) = v.split_at(8);
    let n = |x: &[u8]| {
        x.try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| corrupt("usage counters"))
    };
    Ok(Usage {
        records: n(r)?,
        bytes: n(b)?,
    })
}

/// Rebuilds a record from its `r` value, checking it against the id in its key.
fn decode_record(id: &RecordId, value: &[u8]) -> Result<Record, StoreError> {
    if value.len() <= KEY {
        return Err(corrupt(format!("record {id}: value too short")));
    }
    let author = PublicKey::from_bytes(&value[..KEY])
        .map_err(|e| corrupt(format!("record {id}: author key: {e}")))?;
    let r = Record::from_trusted(author, &value[KEY..])
        .map_err(|e| corrupt(format!("record {id}: {e}")))?;
    if r.id() != *id {
        return Err(corrupt(format!("record under {id} has id {}", r.id())));
    }
    Ok(r)
}

/// How to take back a change to the index if its batch cannot be written.
#[derive(Debug)]
enum Undo {
    Added(RecordId),
    Removed(Summary),
}

/// Changes to the index waiting to be written as one sled batch.
#[derive(Default)]
struct Pending {
    batch: sled::Batch,
    undo: Vec<Undo>,
}

/// A durable [`Store`] on sled. See the crate docs for the layout.
pub struct SledStore {
    db: sled::Db,
    index: StoreIndex,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("limits", self.index.limits())
            .field("usage", &self.index.usage())
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, enforcing `limits` from now on (a
    /// store holding more than new, smaller limits allow shrinks as records come in).
    pub fn open(path: impl AsRef<Path>, limits: StoreLimits) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .flush_every_ms(None)
            .open()
            .map_err(io)?;
        match db.get(META_SCHEMA).map_err(io)? {
            None => {
                if db.first().map_err(io)?.is_some() {
                    return Err(corrupt("data but no schema version"));
                }
                let mut b = sled::Batch::default();
                b.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes());
                b.insert(COUNTERS, &encode_usage(Usage::default()));
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
        let counted = match db.get(COUNTERS).map_err(io)? {
            Some(v) => decode_usage(&v)?,
            None => return Err(corrupt("no usage counters")),
        };
        let mut index = StoreIndex::new(limits);
        for kv in db.scan_prefix([P_RECORD]) {
            let (k, v) = kv.map_err(io)?;
            let id = k
                .get(1..)
                .and_then(|id| <[u8; ID]>::try_from(id).ok())
                .map(RecordId)
                .ok_or_else(|| corrupt("record key is not 17 bytes"))?;
            index.add(Summary::of(&decode_record(&id, &v)?));
        }
        if index.usage() != counted {
            return Err(corrupt(format!(
                "the counters say {counted:?} but the records add up to {:?}",
                index.usage()
            )));
        }
        Ok(SledStore { db, index })
    }

    /// Reads a record the index holds.
    fn read(&self, id: &RecordId) -> Result<Record, StoreError> {
        match self.db.get(record_key(id)).map_err(io)? {
            Some(v) => decode_record(id, &v),
            None => Err(corrupt(format!("indexed record {id} is not on disk"))),
        }
    }

    fn read_all(&self, ids: Vec<RecordId>) -> Result<Vec<Record>, StoreError> {
        ids.iter().map(|id| self.read(id)).collect()
    }

    fn stage_remove(&mut self, p: &mut Pending, id: &RecordId) -> bool {
        match self.index.remove(id) {
            Some(s) => {
                p.batch.remove(&record_key(id)[..]);
                p.undo.push(Undo::Removed(s));
                true
            }
            None => false,
        }
    }

    fn stage_insert(&mut self, p: &mut Pending, r: &Record) -> InsertOutcome {
        let s = Summary::of(r);
        match self.index.plan(&s) {
            Err(outcome) => outcome,
            Ok(evicted) => {
                for id in &evicted {
                    self.stage_remove(p, id);
                }
                self.index.add(s);
                p.batch.insert(&record_key(&s.id)[..], record_value(r));
                p.undo.push(Undo::Added(s.id));
                InsertOutcome::Stored { evicted }
            }
        }
    }

    /// Writes the staged changes and the counters as one batch, then fsyncs. If the batch
    /// cannot be written the index goes back to what the disk holds.
    fn commit(&mut self, p: Pending) -> Result<(), StoreError> {
        let Pending { mut batch, undo } = p;
        if undo.is_empty() {
            return Ok(());
        }
        batch.insert(COUNTERS, &encode_usage(self.index.usage()));
        if let Err(e) = self.db.apply_batch(batch) {
            for u in undo.into_iter().rev() {
                match u {
                    Undo::Added(id) => {
                        self.index.remove(&id);
                    }
                    Undo::Removed(s) => self.index.add(s),
                }
            }
            return Err(io(e));
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

impl Store for SledStore {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        let mut p = Pending::default();
        let out = self.stage_insert(&mut p, record);
        self.commit(p)?;
        Ok(out)
    }

    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut p = Pending::default();
        let out = records
            .iter()
            .map(|r| self.stage_insert(&mut p, r))
            .collect();
        self.commit(p)?;
        Ok(out)
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        if !self.index.contains(id) {
            return Ok(None);
        }
        self.read(id).map(Some)
    }

    fn contains(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.index.contains(id))
    }

    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        let mut p = Pending::default();
        let held = self.stage_remove(&mut p, id);
        self.commit(p)?;
        Ok(held)
    }

    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError> {
        self.index
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
        self.read_all(self.index.by_kind(kind, from, to, limit))
    }

    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.index.by_destination(dest, limit))
    }

    fn latest_positions(&self) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.index.latest_positions())
    }

    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError> {
        self.read_all(self.index.track(author))
    }

    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError> {
        let due = self.index.expired(now);
        let mut p = Pending::default();
        for id in &due {
            self.stage_remove(&mut p, id);
        }
        self.commit(p)?;
        Ok(due)
    }

    fn summaries(&self) -> Result<Vec<Summary>, StoreError> {
        Ok(self.index.summaries().copied().collect())
    }

    fn usage(&self) -> Usage {
        self.index.usage()
    }

    fn author_usage(&self, author: &PublicKey) -> Usage {
        self.index.author_usage(author)
    }

    fn limits(&self) -> &StoreLimits {
        self.index.limits()
    }
}

#[cfg(test)]
mod tests;
