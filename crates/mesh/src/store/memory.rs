//! [`MemStore`]: the in-memory twin of the durable store, for the simulator and tests, and
//! [`IndexedStore`]: a [`StoreIndex`] (the indexes and the eviction policy every store shares)
//! over any keeper of records ([`Records`]). [`MemStore`] keeps them in a map of its own; the
//! simulator's shared store in one pool for all its nodes. No clock, no randomness, no I/O.

use std::collections::BTreeMap;

use haiqiao_proto::{Destination, Kind, PublicKey, Record, RecordId, Timestamp};

use super::{InsertOutcome, Store, StoreError, StoreIndex, StoreLimits, Summary, Usage};

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
