//! The store of each simulated node: its own [`StoreIndex`] (the policy `MemStore` and the
//! durable store share: quotas, eviction, superseding, expiry) over one pool of records shared
//! by every node of a run.
//!
//! A flooded record is held by every node, so with a `MemStore` per node a fleet of N holds N
//! copies of each: its bytes, its decoded envelope and its author's key (a decompressed point,
//! 192 bytes). Here each node keeps only its index entries, and the record itself is held once,
//! counted by the nodes that hold it. What each node holds, refuses and evicts is exactly what
//! a `MemStore` would (the conformance suite runs on this store too).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use haiqiao_mesh::store::StoreIndex;
use haiqiao_mesh::{InsertOutcome, Store, StoreError, StoreLimits, Summary, Usage};
use haiqiao_proto::{Destination, Kind, PublicKey, Record, RecordId, Timestamp};

/// Records held by any node of a run, each with the number of nodes that hold it. Only looked
/// up by id, never iterated, so its order cannot reach a report.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    records: HashMap<RecordId, (Record, u32)>,
}

impl Pool {
    /// Distinct records held by any node.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

/// One node's store over the shared pool.
#[derive(Debug)]
pub(crate) struct SharedStore {
    index: StoreIndex,
    pool: Rc<RefCell<Pool>>,
}

impl SharedStore {
    pub(crate) fn new(limits: StoreLimits, pool: Rc<RefCell<Pool>>) -> SharedStore {
        SharedStore {
            index: StoreIndex::new(limits),
            pool,
        }
    }

    fn hold(&self, r: &Record) {
        self.pool
            .borrow_mut()
            .records
            .entry(r.id())
            .and_modify(|e| e.1 += 1)
            .or_insert_with(|| (r.clone(), 1));
    }

    fn release(&self, id: &RecordId) {
        let mut pool = self.pool.borrow_mut();
        if let Some(e) = pool.records.get_mut(id) {
            e.1 -= 1;
            if e.1 == 0 {
                pool.records.remove(id);
            }
        }
    }

    fn drop_held(&mut self, id: &RecordId) -> bool {
        let held = self.index.remove(id).is_some();
        if held {
            self.release(id);
        }
        held
    }

    fn records(&self, ids: Vec<RecordId>) -> Vec<Record> {
        let pool = self.pool.borrow();
        ids.iter()
            .filter_map(|id| pool.records.get(id).map(|e| e.0.clone()))
            .collect()
    }
}

impl Store for SharedStore {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        let s = Summary::of(record);
        match self.index.plan(&s) {
            Err(outcome) => Ok(outcome),
            Ok(evicted) => {
                for id in &evicted {
                    self.drop_held(id);
                }
                self.index.add(s);
                self.hold(record);
                Ok(InsertOutcome::Stored { evicted })
            }
        }
    }

    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        records.iter().map(|r| self.insert(r)).collect()
    }

    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        if !self.index.contains(id) {
            return Ok(None);
        }
        Ok(self.pool.borrow().records.get(id).map(|e| e.0.clone()))
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
    use super::*;
    use haiqiao_mesh::store::conformance as c;

    fn fresh(limits: StoreLimits) -> SharedStore {
        SharedStore::new(limits, Rc::default())
    }

    haiqiao_mesh::store_conformance_tests!(fresh);

    #[test]
    fn nodes_share_one_copy_of_a_record_until_the_last_lets_go() {
        let pool: Rc<RefCell<Pool>> = Rc::default();
        let mut a = SharedStore::new(c::roomy(4), pool.clone());
        let mut b = SharedStore::new(c::roomy(4), pool.clone());
        let d = c::distress(1, 1, c::T0);
        let t = c::text(2, 1, c::T0, Destination::Shore, 40);
        a.insert(&d).unwrap();
        b.insert(&d).unwrap();
        b.insert(&t).unwrap();
        assert_eq!(pool.borrow().len(), 2, "one copy of each record");
        assert_eq!(
            a.get(&t.id()).unwrap(),
            None,
            "a does not see what only b holds"
        );
        assert!(a.remove(&d.id()).unwrap());
        assert_eq!(b.get(&d.id()).unwrap(), Some(d.clone()), "b still holds it");
        assert!(!a.remove(&d.id()).unwrap(), "a removes it only once");
        assert!(b.remove(&d.id()).unwrap());
        assert_eq!(pool.borrow().len(), 1, "the last holder let go");
        let swept = b.sweep_expired(u64::MAX).unwrap();
        assert_eq!(swept, vec![t.id()]);
        assert_eq!(pool.borrow().len(), 0);
    }
}
