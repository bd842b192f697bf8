//! [`MemStore`]: the in-memory twin of the durable store, for the simulator and tests, and
//! [`StoreIndex`]: the indexes and the eviction policy both stores share.
//!
//! [`StoreIndex`] knows every record's [`Summary`] and nothing of its bytes. It answers every
//! query with ids, and decides what an insert does ([`StoreIndex::plan`]): the one place where
//! the contract's eviction, quota and superseding rules are written. [`MemStore`] is an index
//! plus the records; `haiqiao_store::SledStore` is an index plus the records on disk. Both use
//! `BTreeMap`s and `BTreeSet`s, so every answer is deterministic: no clock, no randomness, no
//! I/O.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{Destination, Kind, Priority, PublicKey, Record, RecordId, Timestamp};

use super::{InsertOutcome, Refusal, Store, StoreError, StoreLimits, Summary, Usage};

/// A record's age: creation time, then sequence number, then id (the contract's "oldest").
type Age = (Timestamp, u64, RecordId);

/// Eviction order: the lowest class first, then the oldest.
type EvictKey = (Reverse<Priority>, Age);

/// An author's number inside one index. Keys are 32 bytes on the wire but far larger in
/// memory (a decompressed point): each record's entries name its author by this number.
type AuthorNo = u32;

fn age(s: &Summary) -> Age {
    (s.created, s.seq, s.id)
}

fn evict_key(s: &Summary) -> EvictKey {
    (Reverse(s.priority), age(s))
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

/// A [`Summary`] with its author as a number.
#[derive(Clone, Copy, Debug)]
struct Entry {
    author: AuthorNo,
    seq: u64,
    kind: Kind,
    priority: Priority,
    created: Timestamp,
    expiry: u64,
    dest: Destination,
    len: u32,
    /// Kept ([`Store::set_kept`]): evicted only for a higher class.
    kept: bool,
}

/// What the index keeps per author with records held.
#[derive(Clone, Debug)]
struct Author {
    key: PublicKey,
    usage: Usage,
    /// Positions kept, oldest first.
    track: BTreeSet<Age>,
}

/// The in-memory indexes of a store: every record's [`Summary`], the orders the queries and
/// the eviction policy need, and the usage counters.
#[derive(Debug, Clone)]
pub struct StoreIndex {
    limits: StoreLimits,
    /// Every record held.
    entries: BTreeMap<RecordId, Entry>,
    /// Authors by number; `None` for a free number.
    authors: Vec<Option<Author>>,
    /// Author key → number, for authors with records held.
    numbers: BTreeMap<[u8; 32], AuthorNo>,
    /// Numbers free for reuse.
    free: Vec<AuthorNo>,
    /// (author, seq, id).
    by_author_seq: BTreeSet<(AuthorNo, u64, RecordId)>,
    /// (kind, age).
    by_kind: BTreeSet<(Kind, Age)>,
    /// (destination, age).
    by_dest: BTreeSet<(Destination, Age)>,
    /// (expiry, id).
    by_expiry: BTreeSet<(u64, RecordId)>,
    /// Global eviction order of the records not kept, and of those kept.
    eviction: [BTreeSet<EvictKey>; 2],
    /// Per-author eviction order (author, kept, key).
    author_eviction: BTreeSet<(AuthorNo, bool, EvictKey)>,
    usage: Usage,
}

/// The smallest age, to start range scans.
const MIN_AGE: Age = (Timestamp(0), 0, RecordId([0; 16]));
/// The largest age, to end range scans.
const MAX_AGE: Age = (Timestamp(u32::MAX), u64::MAX, RecordId([0xff; 16]));

impl StoreIndex {
    /// An empty index enforcing `limits`.
    pub fn new(limits: StoreLimits) -> StoreIndex {
        StoreIndex {
            limits,
            entries: BTreeMap::new(),
            authors: Vec::new(),
            numbers: BTreeMap::new(),
            free: Vec::new(),
            by_author_seq: BTreeSet::new(),
            by_kind: BTreeSet::new(),
            by_dest: BTreeSet::new(),
            by_expiry: BTreeSet::new(),
            eviction: [BTreeSet::new(), BTreeSet::new()],
            author_eviction: BTreeSet::new(),
            usage: Usage::default(),
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

    fn summary(&self, id: RecordId, e: &Entry) -> Option<Summary> {
        Some(Summary {
            id,
            author: self.author(e.author)?.key,
            seq: e.seq,
            kind: e.kind,
            priority: e.priority,
            created: e.created,
            expiry: e.expiry,
            dest: e.dest,
            len: e.len,
        })
    }

    /// The summary of a held record.
    pub fn get(&self, id: &RecordId) -> Option<Summary> {
        self.summary(*id, self.entries.get(id)?)
    }

    /// Whether a record is held.
    pub fn contains(&self, id: &RecordId) -> bool {
        self.entries.contains_key(id)
    }

    /// Every summary, in id order.
    pub fn summaries(&self) -> impl Iterator<Item = Summary> + '_ {
        self.entries
            .iter()
            .filter_map(|(id, e)| self.summary(*id, e))
    }

    /// Decides what inserting the record `s` summarises does, changing nothing: `Ok(victims)`
    /// to store it after removing the victims (lowest class and oldest first), or the outcome
    /// that leaves the store unchanged. The order of the decisions is in the contract.
    pub fn plan(&self, s: &Summary) -> Result<Vec<RecordId>, InsertOutcome> {
        if self.entries.contains_key(&s.id) {
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
            let track = author.map(|a| &a.track);
            let held = track.map_or(0, BTreeSet::len);
            if held >= self.limits.track_len {
                let oldest = track.and_then(|t| t.first());
                if self.limits.track_len == 0 || oldest.is_some_and(|o| age(s) < *o) {
                    return Err(InsertOutcome::Superseded);
                }
                // More than one only if the track was longer under earlier limits.
                for a in track
                    .into_iter()
                    .flatten()
                    .take(held + 1 - self.limits.track_len)
                {
                    let len = self.entries.get(&a.2).map_or(0, |e| u64::from(e.len));
                    victims.push(((Reverse(Priority::Routine), *a), a.2, len));
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
                self.author_eviction
                    .range((n, kept, (Reverse(Priority::Routine), MIN_AGE))..)
                    .take_while(move |(a, k, _)| *a == n && *k == kept)
                    .map(|(_, _, key)| key)
            };
            if !self.choose(of(false), of(true), s, need, &mut victims) {
                return Err(InsertOutcome::Refused(Refusal::AuthorQuota));
            }
        }

        let used = self.usage.bytes - freed(&victims);
        if used + len > self.limits.max_bytes {
            let need = used + len - self.limits.max_bytes;
            let [free, kept] = &self.eviction;
            if !self.choose(free.iter(), kept.iter(), s, need, &mut victims) {
                return Err(InsertOutcome::Refused(Refusal::StoreFull));
            }
        }
        victims.sort_unstable_by_key(|v| v.0);
        Ok(victims.into_iter().map(|v| v.1).collect())
    }

    /// Adds victims until `need` bytes are freed, records not kept first (`free`, in eviction
    /// order), then kept ones (`kept`, in eviction order); false if the evictable ones are not
    /// enough. Evictability is monotone along each eviction order, so each scan stops at the
    /// first record that may not go.
    fn choose<'a>(
        &self,
        free: impl Iterator<Item = &'a EvictKey>,
        kept: impl Iterator<Item = &'a EvictKey>,
        s: &Summary,
        need: u64,
        victims: &mut Vec<(EvictKey, RecordId, u64)>,
    ) -> bool {
        let free = free.take_while(|k| evictable(k, s));
        let kept = kept.take_while(|k| evictable_kept(k, s));
        let mut got = 0;
        for k in free.chain(kept) {
            if got >= need {
                break;
            }
            let id = k.1.2;
            if victims.iter().any(|v| v.1 == id) {
                continue;
            }
            let l = self.entries.get(&id).map_or(0, |e| u64::from(e.len));
            victims.push((*k, id, l));
            got += l;
        }
        got >= need
    }

    /// Marks a held record kept or not (see [`Store::set_kept`]); returns whether it is held.
    pub fn set_kept(&mut self, id: &RecordId, kept: bool) -> bool {
        let Some(e) = self.entries.get_mut(id) else {
            return false;
        };
        if e.kept != kept {
            let k = (Reverse(e.priority), (e.created, e.seq, *id));
            self.eviction[usize::from(e.kept)].remove(&k);
            self.author_eviction.remove(&(e.author, e.kept, k));
            e.kept = kept;
            self.eviction[usize::from(kept)].insert(k);
            self.author_eviction.insert((e.author, kept, k));
        }
        true
    }

    /// Whether a held record is kept.
    pub fn is_kept(&self, id: &RecordId) -> bool {
        self.entries.get(id).is_some_and(|e| e.kept)
    }

    /// The records kept, in id order.
    pub fn kept(&self) -> Vec<RecordId> {
        self.entries
            .iter()
            .filter(|(_, e)| e.kept)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Adds a record (which [`StoreIndex::plan`] made room for; a record already held is
    /// left as it is).
    pub fn add(&mut self, s: Summary) {
        if self.entries.contains_key(&s.id) {
            return;
        }
        let n = match self.numbers.get(s.author.as_bytes()) {
            Some(n) => *n,
            None => {
                let slot = Some(Author {
                    key: s.author,
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
        let a = age(&s);
        self.by_author_seq.insert((n, s.seq, s.id));
        self.by_kind.insert((s.kind, a));
        self.by_dest.insert((s.dest, a));
        self.by_expiry.insert((s.expiry, s.id));
        self.eviction[0].insert(evict_key(&s));
        self.author_eviction.insert((n, false, evict_key(&s)));
        if let Some(Some(author)) = self.authors.get_mut(n as usize) {
            if s.kind == Kind::Position {
                author.track.insert(a);
            }
            author.usage.records += 1;
            author.usage.bytes += u64::from(s.len);
        }
        self.usage.records += 1;
        self.usage.bytes += u64::from(s.len);
        let e = Entry {
            author: n,
            seq: s.seq,
            kind: s.kind,
            priority: s.priority,
            created: s.created,
            expiry: s.expiry,
            dest: s.dest,
            len: s.len,
            kept: false,
        };
        self.entries.insert(s.id, e);
    }

    /// Removes a record; its summary if it was held.
    pub fn remove(&mut self, id: &RecordId) -> Option<Summary> {
        let e = self.entries.remove(id)?;
        let a = (e.created, e.seq, *id);
        let k = (Reverse(e.priority), a);
        self.by_author_seq.remove(&(e.author, e.seq, *id));
        self.by_kind.remove(&(e.kind, a));
        self.by_dest.remove(&(e.dest, a));
        self.by_expiry.remove(&(e.expiry, *id));
        self.eviction[usize::from(e.kept)].remove(&k);
        self.author_eviction.remove(&(e.author, e.kept, k));
        self.usage.records -= 1;
        self.usage.bytes -= u64::from(e.len);
        let slot = self.authors.get_mut(e.author as usize)?;
        let author = slot.as_mut()?;
        let key = author.key;
        author.track.remove(&a);
        author.usage.records -= 1;
        author.usage.bytes -= u64::from(e.len);
        if author.usage.records == 0 {
            *slot = None;
            self.numbers.remove(key.as_bytes());
            self.free.push(e.author);
        }
        Some(Summary {
            id: *id,
            author: key,
            seq: e.seq,
            kind: e.kind,
            priority: e.priority,
            created: e.created,
            expiry: e.expiry,
            dest: e.dest,
            len: e.len,
        })
    }

    /// [`Store::by_author_seq`], as an id.
    pub fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Option<RecordId> {
        let n = self.number(author)?;
        self.by_author_seq
            .range((n, seq, RecordId([0; 16]))..=(n, seq, RecordId([0xff; 16])))
            .next()
            .map(|k| k.2)
    }

    /// [`Store::by_kind`], as ids.
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
        let start = (kind, (from, 0, RecordId([0; 16])));
        let end = (kind, (to, u64::MAX, RecordId([0xff; 16])));
        self.by_kind
            .range(start..=end)
            .take(limit)
            .map(|k| k.1.2)
            .collect()
    }

    /// [`Store::by_destination`], as ids.
    pub fn by_destination(&self, dest: &Destination, limit: usize) -> Vec<RecordId> {
        self.by_dest
            .range((*dest, MIN_AGE)..=(*dest, MAX_AGE))
            .take(limit)
            .map(|k| k.1.2)
            .collect()
    }

    /// [`Store::latest_positions`], as ids.
    pub fn latest_positions(&self) -> Vec<RecordId> {
        self.numbers
            .values()
            .filter_map(|n| self.author(*n)?.track.last())
            .map(|a| a.2)
            .collect()
    }

    /// [`Store::track`], as ids.
    pub fn track(&self, author: &PublicKey) -> Vec<RecordId> {
        self.author_of(author)
            .into_iter()
            .flat_map(|a| a.track.iter().rev())
            .map(|a| a.2)
            .collect()
    }

    /// What [`Store::sweep_expired`] removes, in its order (changes nothing).
    pub fn expired(&self, now: u64) -> Vec<RecordId> {
        self.by_expiry
            .range(..=(now, RecordId([0xff; 16])))
            .map(|k| k.1)
            .collect()
    }
}

/// Where an [`IndexedStore`] keeps the records its index admits.
pub trait Records: std::fmt::Debug {
    /// Keeps `record` (admitted by the index).
    fn put(&mut self, record: &Record);
    /// Lets go of a record the index no longer holds.
    fn release(&mut self, id: &RecordId);
    /// A record held (the index has checked that this store holds it).
    fn get(&self, id: &RecordId) -> Option<Record>;
}

impl Records for BTreeMap<RecordId, Record> {
    fn put(&mut self, record: &Record) {
        self.insert(record.id(), record.clone());
    }

    fn release(&mut self, id: &RecordId) {
        self.remove(id);
    }

    fn get(&self, id: &RecordId) -> Option<Record> {
        BTreeMap::get(self, id).cloned()
    }
}

/// An in-memory [`Store`]: a [`StoreIndex`] (the policy: quotas, eviction, superseding,
/// expiry) over records kept by `R`.
#[derive(Debug)]
pub struct IndexedStore<R: Records> {
    index: StoreIndex,
    records: R,
}

/// The in-memory store of tests and benchmarks: records in a map of its own.
pub type MemStore = IndexedStore<BTreeMap<RecordId, Record>>;

impl MemStore {
    /// An empty store enforcing `limits`.
    pub fn new(limits: StoreLimits) -> MemStore {
        IndexedStore::over(limits, BTreeMap::new())
    }
}

impl<R: Records> IndexedStore<R> {
    /// An empty store enforcing `limits`, keeping records in `records`.
    pub fn over(limits: StoreLimits, records: R) -> IndexedStore<R> {
        IndexedStore {
            index: StoreIndex::new(limits),
            records,
        }
    }

    fn drop_held(&mut self, id: &RecordId) -> bool {
        let held = self.index.remove(id).is_some();
        if held {
            self.records.release(id);
        }
        held
    }

    fn records(&self, ids: Vec<RecordId>) -> Vec<Record> {
        ids.iter().filter_map(|id| self.records.get(id)).collect()
    }
}

impl<R: Records> Store for IndexedStore<R> {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        let s = Summary::of(record);
        match self.index.plan(&s) {
            Err(outcome) => Ok(outcome),
            Ok(evicted) => {
                for id in &evicted {
                    self.drop_held(id);
                }
                self.index.add(s);
                self.records.put(record);
                Ok(InsertOutcome::Stored { evicted })
            }
        }
    }

    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        records.iter().map(|r| self.insert(r)).collect()
    }

    fn insert_batch_kept(
        &mut self,
        records: &[Record],
        kept: &[bool],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut out = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let o = self.insert(r)?;
            if matches!(o, InsertOutcome::Stored { .. }) && kept.get(i).copied().unwrap_or(false) {
                self.index.set_kept(&r.id(), true);
            }
            out.push(o);
        }
        Ok(out)
    }

    fn set_kept(&mut self, id: &RecordId, kept: bool) -> bool {
        self.index.set_kept(id, kept)
    }

    fn is_kept(&self, id: &RecordId) -> bool {
        self.index.is_kept(id)
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        if !self.index.contains(id) {
            return Ok(None);
        }
        Ok(self.records.get(id))
    }

    fn contains(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.index.contains(id))
    }

    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.drop_held(id))
    }

    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError> {
        Ok(self
            .records(self.index.by_author_seq(author, seq).into_iter().collect())
            .pop())
    }

    fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        Ok(self.records(self.index.by_kind(kind, from, to, limit)))
    }

    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError> {
        Ok(self.records(self.index.by_destination(dest, limit)))
    }

    fn latest_positions(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self.records(self.index.latest_positions()))
    }

    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError> {
        Ok(self.records(self.index.track(author)))
    }

    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError> {
        let due = self.index.expired(now);
        for id in &due {
            self.drop_held(id);
        }
        Ok(due)
    }

    fn summaries(&self) -> Result<Vec<Summary>, StoreError> {
        Ok(self.index.summaries().collect())
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
mod tests {
    use super::MemStore;

    crate::store_conformance_tests!(MemStore::new);
}
