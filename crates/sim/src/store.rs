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

use haiqiao_mesh::StoreLimits;
use haiqiao_mesh::store::{IndexedStore, Records};
use haiqiao_proto::{Record, RecordId};

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

/// A node's hold on the shared pool: the records its index admits, counted by holder.
#[derive(Debug, Clone, Default)]
pub(crate) struct PoolHold(Rc<RefCell<Pool>>);

impl Records for PoolHold {
    fn put(&mut self, r: &Record) {
        self.0
            .borrow_mut()
            .records
            .entry(r.id())
            .and_modify(|e| e.1 += 1)
            .or_insert_with(|| (r.clone(), 1));
    }

    fn release(&mut self, id: &RecordId) {
        let mut pool = self.0.borrow_mut();
        if let Some(e) = pool.records.get_mut(id) {
            e.1 -= 1;
            if e.1 == 0 {
                pool.records.remove(id);
            }
        }
    }

    fn get(&self, id: &RecordId) -> Option<Record> {
        self.0.borrow().records.get(id).map(|e| e.0.clone())
    }
}

/// One node's store over the shared pool.
pub(crate) type SharedStore = IndexedStore<PoolHold>;

/// A node's empty store over `pool`.
pub(crate) fn shared_store(limits: StoreLimits, pool: Rc<RefCell<Pool>>) -> SharedStore {
    IndexedStore::over(limits, PoolHold(pool))
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_mesh::Store;
    use haiqiao_mesh::store::conformance as c;
    use haiqiao_proto::Destination;

    fn fresh(limits: StoreLimits) -> SharedStore {
        shared_store(limits, Rc::default())
    }

    haiqiao_mesh::store_conformance_tests!(fresh);

    #[test]
    fn nodes_share_one_copy_of_a_record_until_the_last_lets_go() {
        let pool: Rc<RefCell<Pool>> = Rc::default();
        let mut a = shared_store(c::roomy(4), pool.clone());
        let mut b = shared_store(c::roomy(4), pool.clone());
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
