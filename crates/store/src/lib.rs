//! haiqiao-store: the durable record store, [`SledStore`], on sled 0.34.
//!
//! It keeps the contract of [`haiqiao_mesh::Store`] (see `haiqiao_mesh::store`) on disk and
//! passes the same conformance suite as the in-memory twin `MemStore`.
//!
//! # Durability
//!
//! Every change ([`Store::insert`], [`Store::insert_batch`], [`Store::remove`],
//! [`Store::sweep_expired`]) is staged in memory, written with one `apply_batch` (which sled
//! recovers atomically after a crash) and then `flush`ed (fsync) before `Ok` is returned. A
//! batch of records is one sled batch and one fsync. Calls that change nothing (all duplicates,
//! a refused record, removing what is not held) write nothing. sled's own timed flusher is off:
//! nothing reaches the disk except at these points.
//!
//! # Layout
//!
//! One sled tree (the default one). Keys start with a one-byte prefix; integers are big-endian
//! so that byte order is numeric order. `age` is `created (4) ‖ seq (8) ‖ id (16)`, the
//! contract's "oldest first" order; `class` is `4 − priority`, so that the lowest class
//! (routine) sorts first.
//!
//! | key | value | for |
//! |---|---|---|
//! | `m` `schema` | schema version, u32 | refusing a store written by a newer build |
//! | `c` | records u64 ‖ bytes u64 | [`Store::usage`] |
//! | `u` author (32) | records u64 ‖ bytes u64 | [`Store::author_usage`], the author quota |
//! | `r` id (16) | author key (32) ‖ record bytes | the records themselves |
//! | `a` author (32) seq (8) id (16) | empty | [`Store::by_author_seq`] |
//! | `k` kind (1) age | empty | [`Store::by_kind`] |
//! | `d` destination age | empty | [`Store::by_destination`] |
//! | `x` expiry (8) id (16) | empty | [`Store::sweep_expired`] |
//! | `e` class (1) age | empty | eviction order for the byte budget |
//! | `q` author (32) class (1) age | empty | eviction order for the author quota |
//! | `t` author (32) age | empty | positions only: the track and the latest position |
//!
//! A destination is a tag byte and its fields: everyone `0`, shore `1`, node `2` hint (8),
//! pair `3` hint (8) hint (8), mediators `4` area (4), group `5` group (4).
//!
//! The counters (`c`, `u`) are kept in memory and written in the same batch as the change
//! they count, so they are exact after any crash; opening reads them (one key per author)
//! without scanning the records. A record is rebuilt with `Record::from_trusted` (decoded, not
//! re-verified: it was verified before it was stored); anything on disk that does not decode,
//! or disagrees with its key, is [`StoreError::Corrupt`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use haiqiao_mesh::{InsertOutcome, Refusal, Store, StoreError, StoreLimits, Summary, Usage};
use haiqiao_proto::{Destination, Kind, Priority, PublicKey, Record, RecordId, Timestamp};

/// The schema version this build writes, and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// sled's page cache, in bytes (sled's default of 1 GiB is far too much for a boat's computer;
/// sled's resident memory is several times this).
pub const CACHE_CAPACITY: u64 = 32 * 1024 * 1024;

const META_SCHEMA: &[u8] = b"mschema";
const COUNTERS: &[u8] = b"c";
const P_USAGE: u8 = b'u';
const P_RECORD: u8 = b'r';
const P_AUTHOR_SEQ: u8 = b'a';
const P_KIND: u8 = b'k';
const P_DEST: u8 = b'd';
const P_EXPIRY: u8 = b'x';
const P_EVICT: u8 = b'e';
const P_AUTHOR_EVICT: u8 = b'q';
const P_TRACK: u8 = b't';

const KEY: usize = 32;
const ID: usize = 16;
/// created (4) ‖ seq (8) ‖ id (16).
const AGE: usize = 28;
/// The class byte of distress records, which are never evicted.
const DISTRESS_CLASS: u8 = 4;

type AuthorKey = [u8; KEY];
type Age = [u8; AGE];

fn class(p: Priority) -> u8 {
    4 - p as u8
}

fn age(s: &Summary) -> Age {
    let mut a = [0u8; AGE];
    a[..4].copy_from_slice(&s.created.0.to_be_bytes());
    a[4..12].copy_from_slice(&s.seq.to_be_bytes());
    a[12..].copy_from_slice(s.id.as_bytes());
    a
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn record_key(id: &RecordId) -> Vec<u8> {
    key(&[&[P_RECORD], id.as_bytes()])
}

fn usage_key(a: &AuthorKey) -> Vec<u8> {
    key(&[&[P_USAGE], a])
}

fn dest_bytes(d: &Destination) -> Vec<u8> {
    match d {
        Destination::Everyone => vec![0],
        Destination::Shore => vec![1],
        Destination::Node(h) => key(&[&[2], h.as_bytes()]),
        Destination::Pair(a, b) => key(&[&[3], a.as_bytes(), b.as_bytes()]),
        Destination::Mediators(a) => key(&[&[4], &a.0.to_be_bytes()]),
        Destination::Group(g) => key(&[&[5], &g.0.to_be_bytes()]),
    }
}

/// Every index key of a record.
fn index_keys(s: &Summary) -> Vec<Vec<u8>> {
    let a = age(s);
    let author = s.author.as_bytes();
    let c = class(s.priority);
    let mut keys = vec![
        key(&[
            &[P_AUTHOR_SEQ],
            author,
            &s.seq.to_be_bytes(),
            s.id.as_bytes(),
        ]),
        key(&[&[P_KIND, s.kind as u8], &a]),
        key(&[&[P_DEST], &dest_bytes(&s.dest), &a]),
        key(&[&[P_EXPIRY], &s.expiry.to_be_bytes(), s.id.as_bytes()]),
        key(&[&[P_EVICT, c], &a]),
        key(&[&[P_AUTHOR_EVICT], author, &[c], &a]),
    ];
    if s.kind == Kind::Position {
        keys.push(key(&[&[P_TRACK], author, &a]));
    }
    keys
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

/// The id at the end of an index key.
fn trailing_id(k: &[u8]) -> Result<RecordId, StoreError> {
    k.len()
        .checked_sub(ID)
        .and_then(|at| k[at..].try_into().ok())
        .map(RecordId)
        .ok_or_else(|| corrupt("index key too short"))
}

fn encode_usage(u: Usage) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&u.records.to_be_bytes());
    v[8..].copy_from_slice(&u.bytes.to_be_bytes());
    v
}

fn decode_usage(v: &[u8]) -> Result<Usage, StoreError> {
    let (r, b) = match (v.get(..8), v.get(8..16)) {
        (Some(r), Some(b)) if v.len() == 16 => (r, b),
        _ => return Err(corrupt("usage counter is not 16 bytes")),
    };
    let n = |x: &[u8]| {
        x.try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| corrupt("usage counter"))
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

fn record_value(r: &Record) -> Vec<u8> {
    key(&[r.author().as_bytes(), r.bytes()])
}

/// A durable [`Store`] on sled. See the crate docs for the layout.
pub struct SledStore {
    db: sled::Db,
    limits: StoreLimits,
    usage: Usage,
    authors: BTreeMap<AuthorKey, Usage>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("limits", &self.limits)
            .field("usage", &self.usage)
            .field("authors", &self.authors.len())
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`, enforcing `limits` from now on.
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
                    return Err(corrupt("records but no schema version"));
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
        let usage = match db.get(COUNTERS).map_err(io)? {
            Some(v) => decode_usage(&v)?,
            None => return Err(corrupt("no usage counters")),
        };
        let mut authors = BTreeMap::new();
        let mut sum = Usage::default();
        for kv in db.scan_prefix([P_USAGE]) {
            let (k, v) = kv.map_err(io)?;
            let a: AuthorKey = k
                .get(1..)
                .and_then(|a| a.try_into().ok())
                .ok_or_else(|| corrupt("author usage key"))?;
            let u = decode_usage(&v)?;
            sum.records += u.records;
            sum.bytes += u.bytes;
            authors.insert(a, u);
        }
        if sum != usage {
            return Err(corrupt(format!(
                "usage {usage:?} but authors' usage adds up to {sum:?}"
            )));
        }
        Ok(SledStore {
            db,
            limits,
            usage,
            authors,
        })
    }

    fn record_by_id(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        match self.db.get(record_key(id)).map_err(io)? {
            Some(v) => decode_record(id, &v).map(Some),
            None => Ok(None),
        }
    }

    /// The record an index key points at (it must be held).
    fn indexed(&self, k: &[u8]) -> Result<Record, StoreError> {
        let id = trailing_id(k)?;
        self.record_by_id(&id)?
            .ok_or_else(|| corrupt(format!("index entry for missing record {id}")))
    }

    fn txn(&self) -> Txn<'_> {
        Txn {
            db: &self.db,
            limits: &self.limits,
            base_authors: &self.authors,
            writes: BTreeMap::new(),
            usage: self.usage,
            authors: BTreeMap::new(),
        }
    }

    /// Writes a transaction with one batch and one fsync, then takes on its counters.
    fn commit(&mut self, staged: Staged) -> Result<(), StoreError> {
        let Staged {
            writes,
            usage,
            authors,
        } = staged;
        if writes.is_empty() {
            return Ok(());
        }
        let mut b = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        b.insert(COUNTERS, &encode_usage(usage));
        for (a, u) in &authors {
            if u.records == 0 {
                b.remove(usage_key(a));
            } else {
                b.insert(usage_key(a), &encode_usage(*u));
            }
        }
        self.db.apply_batch(b).map_err(io)?;
        // Applied in memory: the counters follow even if the fsync fails, so they stay true
        // to what sled holds.
        self.usage = usage;
        for (a, u) in authors {
            if u.records == 0 {
                self.authors.remove(&a);
            } else {
                self.authors.insert(a, u);
            }
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

/// A victim chosen to make room: where it sorts in eviction order, its id, its length.
struct Victim {
    order: [u8; 1 + AGE],
    id: RecordId,
    len: u64,
}

/// Changes staged over the tree: reads see them, and they are written as one batch.
struct Txn<'a> {
    db: &'a sled::Tree,
    limits: &'a StoreLimits,
    base_authors: &'a BTreeMap<AuthorKey, Usage>,
    /// Key → new value, or `None` for a removal.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    usage: Usage,
    /// Authors whose usage changed, with the new value.
    authors: BTreeMap<AuthorKey, Usage>,
}

/// The changes of a transaction, without its borrows.
struct Staged {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    usage: Usage,
    authors: BTreeMap<AuthorKey, Usage>,
}

impl Txn<'_> {
    fn staged(self) -> Staged {
        Staged {
            writes: self.writes,
            usage: self.usage,
            authors: self.authors,
        }
    }

    fn get(&self, k: &[u8]) -> Result<Option<Cow<'_, [u8]>>, StoreError> {
        match self.writes.get(k) {
            Some(Some(v)) => Ok(Some(Cow::Borrowed(v))),
            Some(None) => Ok(None),
            None => Ok(self.db.get(k).map_err(io)?.map(|v| Cow::Owned(v.to_vec()))),
        }
    }

    /// Keys under `prefix`, in order, staged changes included.
    fn keys(&self, prefix: &[u8]) -> Merged<'_> {
        let p = prefix.to_vec();
        Merged {
            tree: self.db.scan_prefix(prefix).peekable(),
            staged: Box::new(
                self.writes
                    .range(p.clone()..)
                    .take_while(move |(k, _)| k.starts_with(&p)),
            ),
            next_staged: None,
        }
    }

    fn author_usage(&self, a: &AuthorKey) -> Usage {
        self.authors
            .get(a)
            .or_else(|| self.base_authors.get(a))
            .copied()
            .unwrap_or_default()
    }

    fn record_len(&self, id: &RecordId) -> Result<u64, StoreError> {
        let v = self
            .get(&record_key(id))?
            .ok_or_else(|| corrupt(format!("index entry for missing record {id}")))?;
        Ok(v.len().saturating_sub(KEY) as u64)
    }

    fn insert(&mut self, r: &Record) -> Result<InsertOutcome, StoreError> {
        let s = Summary::of(r);
        Ok(match self.plan(&s)? {
            Err(outcome) => outcome,
            Ok(victims) => {
                for v in &victims {
                    self.remove(&v.id)?;
                }
                self.add(r, &s);
                InsertOutcome::Stored {
                    evicted: victims.into_iter().map(|v| v.id).collect(),
                }
            }
        })
    }

    /// What inserting `s` does: `Ok(victims)` to store it after evicting them, or the outcome
    /// that leaves the store unchanged. The same decisions as `MemStore::plan`.
    fn plan(&self, s: &Summary) -> Result<Result<Vec<Victim>, InsertOutcome>, StoreError> {
        if self.get(&record_key(&s.id))?.is_some() {
            return Ok(Err(InsertOutcome::Duplicate));
        }
        let len = u64::from(s.len);
        if len > self.limits.max_bytes || len > self.limits.max_author_bytes {
            return Ok(Err(InsertOutcome::Refused(Refusal::TooLarge)));
        }
        let author = *s.author.as_bytes();
        let my_age = age(s);
        let my_class = class(s.priority);
        let mut victims: Vec<Victim> = Vec::new();
        if s.kind == Kind::Position {
            let track: Vec<Vec<u8>> = self
                .keys(&key(&[&[P_TRACK], &author]))
                .collect::<Result<_, _>>()?;
            if track.len() >= self.limits.track_len {
                let oldest = track.first().and_then(|k| k.get(1 + KEY..));
                if self.limits.track_len == 0 || oldest.is_some_and(|o| my_age.as_slice() < o) {
                    return Ok(Err(InsertOutcome::Superseded));
                }
                for k in &track[..track.len() + 1 - self.limits.track_len] {
                    let id = trailing_id(k)?;
                    let mut order = [0u8; 1 + AGE];
                    order[0] = class(Priority::Routine);
                    order[1..].copy_from_slice(
                        k.get(1 + KEY..)
                            .ok_or_else(|| corrupt("track key too short"))?,
                    );
                    victims.push(Victim {
                        order,
                        id,
                        len: self.record_len(&id)?,
                    });
                }
            }
        }
        let freed = |v: &[Victim]| v.iter().map(|v| v.len).sum::<u64>();
        // Whether a candidate (its class byte and age) may make room for this record.
        let evictable = |order: &[u8]| {
            let c = order[0];
            c != DISTRESS_CLASS && (c < my_class || (c == my_class && order[1..] < my_age[..]))
        };
        let passes = [
            (
                key(&[&[P_AUTHOR_EVICT], &author]),
                self.author_usage(&author).bytes,
                self.limits.max_author_bytes,
                Refusal::AuthorQuota,
            ),
            (
                vec![P_EVICT],
                self.usage.bytes,
                self.limits.max_bytes,
                Refusal::StoreFull,
            ),
        ];
        for (prefix, used, max, refusal) in passes {
            let used = used.saturating_sub(freed(&victims));
            if used + len <= max {
                continue;
            }
            let need = used + len - max;
            let mut got = 0;
            for k in self.keys(&prefix) {
                if got >= need {
                    break;
                }
                let k = k?;
                let order: [u8; 1 + AGE] = k
                    .get(prefix.len()..)
                    .and_then(|o| o.try_into().ok())
                    .ok_or_else(|| corrupt("eviction key"))?;
                if !evictable(&order) {
                    break;
                }
                let id = trailing_id(&k)?;
                if victims.iter().any(|v| v.id == id) {
                    continue;
                }
                let l = self.record_len(&id)?;
                victims.push(Victim { order, id, len: l });
                got += l;
            }
            if got < need {
                return Ok(Err(InsertOutcome::Refused(refusal)));
            }
        }
        victims.sort_unstable_by_key(|v| v.order);
        Ok(Ok(victims))
    }

    fn add(&mut self, r: &Record, s: &Summary) {
        for k in index_keys(s) {
            self.writes.insert(k, Some(Vec::new()));
        }
        self.writes.insert(record_key(&s.id), Some(record_value(r)));
        let a = *s.author.as_bytes();
        let mut u = self.author_usage(&a);
        u.records += 1;
        u.bytes += u64::from(s.len);
        self.authors.insert(a, u);
        self.usage.records += 1;
        self.usage.bytes += u64::from(s.len);
    }

    /// Removes a record if held; returns whether it was.
    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        let rk = record_key(id);
        let Some(v) = self.get(&rk)? else {
            return Ok(false);
        };
        let s = Summary::of(&decode_record(id, &v)?);
        for k in index_keys(&s) {
            self.writes.insert(k, None);
        }
        self.writes.insert(rk, None);
        let a = *s.author.as_bytes();
        let mut u = self.author_usage(&a);
        u.records = u
            .records
            .checked_sub(1)
            .ok_or_else(|| corrupt("author usage below zero"))?;
        u.bytes = u
            .bytes
            .checked_sub(u64::from(s.len))
            .ok_or_else(|| corrupt("author usage below zero"))?;
        self.authors.insert(a, u);
        self.usage.records = self
            .usage
            .records
            .checked_sub(1)
            .ok_or_else(|| corrupt("usage below zero"))?;
        self.usage.bytes = self
            .usage
            .bytes
            .checked_sub(u64::from(s.len))
            .ok_or_else(|| corrupt("usage below zero"))?;
        Ok(true)
    }
}

type StagedIter<'a> = Box<dyn Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + 'a>;

/// The keys of the tree under a prefix merged with the staged changes under it.
struct Merged<'a> {
    tree: std::iter::Peekable<sled::Iter>,
    staged: StagedIter<'a>,
    next_staged: Option<(&'a Vec<u8>, bool)>,
}

impl Iterator for Merged<'_> {
    type Item = Result<Vec<u8>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.next_staged.is_none() {
                self.next_staged = self.staged.next().map(|(k, v)| (k, v.is_some()));
            }
            let tree_key = match self.tree.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(_)) => {
                    return self
                        .tree
                        .next()
                        .map(|r| r.map(|(k, _)| k.to_vec()).map_err(io));
                }
                None => None,
            };
            match (tree_key, self.next_staged) {
                (None, None) => return None,
                (Some(t), None) => {
                    self.tree.next();
                    return Some(Ok(t.to_vec()));
                }
                (t, Some((k, live))) => {
                    let order = t.as_ref().map(|t| t.as_ref().cmp(k.as_slice()));
                    if order == Some(std::cmp::Ordering::Less) {
                        self.tree.next();
                        return t.map(|t| Ok(t.to_vec()));
                    }
                    if order == Some(std::cmp::Ordering::Equal) {
                        self.tree.next();
                    }
                    self.next_staged = None;
                    if live {
                        return Some(Ok(k.clone()));
                    }
                }
            }
        }
    }
}

impl Store for SledStore {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        let mut txn = self.txn();
        let out = txn.insert(record)?;
        let staged = txn.staged();
        self.commit(staged)?;
        Ok(out)
    }

    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut txn = self.txn();
        let out = records
            .iter()
            .map(|r| txn.insert(r))
            .collect::<Result<Vec<_>, _>>()?;
        let staged = txn.staged();
        self.commit(staged)?;
        Ok(out)
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        self.record_by_id(id)
    }

    fn contains(&self, id: &RecordId) -> Result<bool, StoreError> {
        self.db.contains_key(record_key(id)).map_err(io)
    }

    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        let mut txn = self.txn();
        let held = txn.remove(id)?;
        let staged = txn.staged();
        self.commit(staged)?;
        Ok(held)
    }

    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError> {
        let prefix = key(&[&[P_AUTHOR_SEQ], author.as_bytes(), &seq.to_be_bytes()]);
        match self.db.scan_prefix(prefix).next() {
            Some(kv) => self.indexed(&kv.map_err(io)?.0).map(Some),
            None => Ok(None),
        }
    }

    fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        if from > to || limit == 0 {
            return Ok(Vec::new());
        }
        let lo = key(&[&[P_KIND, kind as u8], &from.0.to_be_bytes()]);
        let hi = key(&[&[P_KIND, kind as u8], &to.0.to_be_bytes(), &[0xff; AGE - 4]]);
        self.db
            .range(lo..=hi)
            .take(limit)
            .map(|kv| self.indexed(&kv.map_err(io)?.0))
            .collect()
    }

    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError> {
        let prefix = key(&[&[P_DEST], &dest_bytes(dest)]);
        self.db
            .scan_prefix(prefix)
            .take(limit)
            .map(|kv| self.indexed(&kv.map_err(io)?.0))
            .collect()
    }

    fn latest_positions(&self) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        let mut last: Option<sled::IVec> = None;
        for kv in self.db.scan_prefix([P_TRACK]) {
            let (k, _) = kv.map_err(io)?;
            if let Some(l) = &last
                && l.get(..1 + KEY) != k.get(..1 + KEY)
            {
                out.push(self.indexed(l)?);
            }
            last = Some(k);
        }
        if let Some(l) = last {
            out.push(self.indexed(&l)?);
        }
        Ok(out)
    }

    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError> {
        self.db
            .scan_prefix(key(&[&[P_TRACK], author.as_bytes()]))
            .rev()
            .map(|kv| self.indexed(&kv.map_err(io)?.0))
            .collect()
    }

    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError> {
        let hi = key(&[&[P_EXPIRY], &now.to_be_bytes(), &[0xff; ID]]);
        let due = self
            .db
            .range(vec![P_EXPIRY]..=hi)
            .map(|kv| trailing_id(&kv.map_err(io)?.0))
            .collect::<Result<Vec<_>, _>>()?;
        let mut txn = self.txn();
        for id in &due {
            if !txn.remove(id)? {
                return Err(corrupt(format!("expiry entry for missing record {id}")));
            }
        }
        let staged = txn.staged();
        self.commit(staged)?;
        Ok(due)
    }

    fn summaries(&self) -> Result<Vec<Summary>, StoreError> {
        self.db
            .scan_prefix([P_RECORD])
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                let id = trailing_id(&k)?;
                Ok(Summary::of(&decode_record(&id, &v)?))
            })
            .collect()
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn author_usage(&self, author: &PublicKey) -> Usage {
        self.authors
            .get(author.as_bytes())
            .copied()
            .unwrap_or_default()
    }

    fn limits(&self) -> &StoreLimits {
        &self.limits
    }
}

#[cfg(test)]
mod tests;
