//! [`MemStore`]: the in-memory twin of the durable store, for the simulator and tests.
//!
//! It keeps the whole contract of [`Store`] except durability, with `BTreeMap`s and
//! `BTreeSet`s so that every answer is deterministic: no clock, no randomness, no I/O. Each
//! index is the in-memory mirror of one of `haiqiao_store`'s key prefixes, with the same order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{Destination, Kind, Priority, PublicKey, Record, RecordId, Timestamp};

use super::{InsertOutcome, Refusal, Store, StoreError, StoreLimits, Summary, Usage};

/// A record's age: creation time, then sequence number, then id (the contract's "oldest").
type Age = (Timestamp, u64, RecordId);

/// Eviction order: the lowest class first, then the oldest.
type EvictKey = (Reverse<Priority>, Age);

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

/// An in-memory [`Store`].
#[derive(Debug)]
pub struct MemStore {
    limits: StoreLimits,
    /// Every record held, with its summary.
    records: BTreeMap<RecordId, (Record, Summary)>,
    /// (author, seq, id).
    by_author_seq: BTreeSet<(PublicKey, u64, RecordId)>,
    /// (kind, age).
    by_kind: BTreeSet<(Kind, Age)>,
    /// (destination, age).
    by_dest: BTreeSet<(Destination, Age)>,
    /// (expiry, id).
    by_expiry: BTreeSet<(u64, RecordId)>,
    /// Global eviction order.
    eviction: BTreeSet<EvictKey>,
    /// Per-author eviction order.
    author_eviction: BTreeSet<(PublicKey, EvictKey)>,
    /// Positions kept per author, oldest first.
    tracks: BTreeMap<PublicKey, BTreeSet<Age>>,
    /// Usage per author (authors with no records are absent).
    authors: BTreeMap<PublicKey, Usage>,
    usage: Usage,
}

impl MemStore {
    /// An empty store enforcing `limits`.
    pub fn new(limits: StoreLimits) -> MemStore {
        MemStore {
            limits,
            records: BTreeMap::new(),
            by_author_seq: BTreeSet::new(),
            by_kind: BTreeSet::new(),
            by_dest: BTreeSet::new(),
            by_expiry: BTreeSet::new(),
            eviction: BTreeSet::new(),
            author_eviction: BTreeSet::new(),
            tracks: BTreeMap::new(),
            authors: BTreeMap::new(),
            usage: Usage::default(),
        }
    }

    /// Decides what inserting `r` does: `Ok(victims)` to store it after evicting the victims,
    /// or the outcome that leaves the store unchanged.
    fn plan(&self, s: &Summary) -> Result<Vec<RecordId>, InsertOutcome> {
        if self.records.contains_key(&s.id) {
            return Err(InsertOutcome::Duplicate);
        }
        let len = u64::from(s.len);
        if len > self.limits.max_bytes || len > self.limits.max_author_bytes {
            return Err(InsertOutcome::Refused(Refusal::TooLarge));
        }
        let mut victims: Vec<(EvictKey, RecordId, u64)> = Vec::new();
        if s.kind == Kind::Position {
            let track = self.tracks.get(&s.author);
            let held = track.map_or(0, BTreeSet::len);
            if held >= self.limits.track_len {
                let oldest = track.and_then(|t| t.first());
                if self.limits.track_len == 0 || oldest.is_some_and(|o| age(s) < *o) {
                    return Err(InsertOutcome::Superseded);
                }
                for a in track
                    .into_iter()
                    .flatten()
                    .take(held + 1 - self.limits.track_len)
                {
                    let v = &self.records[&a.2].1;
                    victims.push((evict_key(v), v.id, u64::from(v.len)));
                }
            }
        }
        let freed =
            |victims: &[(EvictKey, RecordId, u64)]| victims.iter().map(|v| v.2).sum::<u64>();

        let author_used = self.authors.get(&s.author).map_or(0, |u| u.bytes) - freed(&victims);
        if author_used + len > self.limits.max_author_bytes {
            let need = author_used + len - self.limits.max_author_bytes;
            let mut got = 0;
            let candidates = self
                .author_eviction
                .range((s.author, (Reverse(Priority::Routine), MIN_AGE))..)
                .take_while(|(a, _)| *a == s.author)
                .map(|(_, k)| k);
            for k in candidates {
                if got >= need || !evictable(k, s) {
                    break;
                }
                if victims.iter().any(|v| v.1 == k.1.2) {
                    continue;
                }
                let l = u64::from(self.records[&k.1.2].1.len);
                victims.push((*k, k.1.2, l));
                got += l;
            }
            if got < need {
                return Err(InsertOutcome::Refused(Refusal::AuthorQuota));
            }
        }

        let used = self.usage.bytes - freed(&victims);
        if used + len > self.limits.max_bytes {
            let need = used + len - self.limits.max_bytes;
            let mut got = 0;
            for k in &self.eviction {
                if got >= need || !evictable(k, s) {
                    break;
                }
                if victims.iter().any(|v| v.1 == k.1.2) {
                    continue;
                }
                let l = u64::from(self.records[&k.1.2].1.len);
                victims.push((*k, k.1.2, l));
                got += l;
            }
            if got < need {
                return Err(InsertOutcome::Refused(Refusal::StoreFull));
            }
        }
        victims.sort_unstable_by_key(|v| v.0);
        Ok(victims.into_iter().map(|v| v.1).collect())
    }

    fn add(&mut self, r: &Record, s: Summary) {
        let a = age(&s);
        self.by_author_seq.insert((s.author, s.seq, s.id));
        self.by_kind.insert((s.kind, a));
        self.by_dest.insert((s.dest, a));
        self.by_expiry.insert((s.expiry, s.id));
        self.eviction.insert(evict_key(&s));
        self.author_eviction.insert((s.author, evict_key(&s)));
        if s.kind == Kind::Position {
            self.tracks.entry(s.author).or_default().insert(a);
        }
        let u = self.authors.entry(s.author).or_default();
        u.records += 1;
        u.bytes += u64::from(s.len);
        self.usage.records += 1;
        self.usage.bytes += u64::from(s.len);
        self.records.insert(s.id, (r.clone(), s));
    }

    fn take(&mut self, id: &RecordId) -> Option<Summary> {
        let (_, s) = self.records.remove(id)?;
        let a = age(&s);
        self.by_author_seq.remove(&(s.author, s.seq, s.id));
        self.by_kind.remove(&(s.kind, a));
        self.by_dest.remove(&(s.dest, a));
        self.by_expiry.remove(&(s.expiry, s.id));
        self.eviction.remove(&evict_key(&s));
        self.author_eviction.remove(&(s.author, evict_key(&s)));
        if s.kind == Kind::Position
            && let Some(t) = self.tracks.get_mut(&s.author)
        {
            t.remove(&a);
            if t.is_empty() {
                self.tracks.remove(&s.author);
            }
        }
        if let Some(u) = self.authors.get_mut(&s.author) {
            u.records -= 1;
            u.bytes -= u64::from(s.len);
            if u.records == 0 {
                self.authors.remove(&s.author);
            }
        }
        self.usage.records -= 1;
        self.usage.bytes -= u64::from(s.len);
        Some(s)
    }

    fn record(&self, id: &RecordId) -> Record {
        self.records[id].0.clone()
    }
}

/// The smallest age, to start range scans.
const MIN_AGE: Age = (Timestamp(0), 0, RecordId([0; 16]));
/// The largest age, to end range scans.
const MAX_AGE: Age = (Timestamp(u32::MAX), u64::MAX, RecordId([0xff; 16]));

impl Store for MemStore {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        let s = Summary::of(record);
        match self.plan(&s) {
            Err(outcome) => Ok(outcome),
            Ok(evicted) => {
                for id in &evicted {
                    self.take(id);
                }
                self.add(record, s);
                Ok(InsertOutcome::Stored { evicted })
            }
        }
    }

    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        records.iter().map(|r| self.insert(r)).collect()
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        Ok(self.records.get(id).map(|(r, _)| r.clone()))
    }

    fn contains(&self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.records.contains_key(id))
    }

    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        Ok(self.take(id).is_some())
    }

    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError> {
        Ok(self
            .by_author_seq
            .range((*author, seq, RecordId([0; 16]))..=(*author, seq, RecordId([0xff; 16])))
            .next()
            .map(|k| self.record(&k.2)))
    }

    fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let start = (kind, (from, 0, RecordId([0; 16])));
        let end = (kind, (to, u64::MAX, RecordId([0xff; 16])));
        Ok(self
            .by_kind
            .range(start..=end)
            .take(limit)
            .map(|k| self.record(&k.1.2))
            .collect())
    }

    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .by_dest
            .range((*dest, MIN_AGE)..=(*dest, MAX_AGE))
            .take(limit)
            .map(|k| self.record(&k.1.2))
            .collect())
    }

    fn latest_positions(&self) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .tracks
            .values()
            .filter_map(|t| t.last())
            .map(|a| self.record(&a.2))
            .collect())
    }

    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .tracks
            .get(author)
            .into_iter()
            .flat_map(|t| t.iter().rev())
            .map(|a| self.record(&a.2))
            .collect())
    }

    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError> {
        let due: Vec<RecordId> = self
            .by_expiry
            .range(..=(now, RecordId([0xff; 16])))
            .map(|k| k.1)
            .collect();
        for id in &due {
            self.take(id);
        }
        Ok(due)
    }

    fn summaries(&self) -> Result<Vec<Summary>, StoreError> {
        Ok(self.records.values().map(|(_, s)| *s).collect())
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn author_usage(&self, author: &PublicKey) -> Usage {
        self.authors.get(author).copied().unwrap_or_default()
    }

    fn limits(&self) -> &StoreLimits {
        &self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::MemStore;

    crate::store_conformance_tests!(MemStore::new);
}
