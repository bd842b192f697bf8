//! The node's own small state beside its records: the next sequence number it will sign and
//! the time of its last shore contact (kept so that a node restarted at sea keeps its shore
//! age for routing).
//!
//! One sled tree of its own (`node`), in the store's database, so it shares the records'
//! durability: [`NodeMeta::save`] writes both values in one `apply_batch` and `flush`es
//! (fsync) before it returns `Ok`. The record log's layout (the default tree) is untouched.
//!
//! | key | value |
//! |---|---|
//! | `next_seq` | u64, big-endian |
//! | `last_shore_ms` | u64, big-endian (absent: never in contact with shore) |

use haiqiao_mesh::StoreError;

use crate::{SledStore, corrupt, io};

/// The sled tree the node's metadata lives in.
const TREE: &str = "node";
const NEXT_SEQ: &[u8] = b"next_seq";
const LAST_SHORE_MS: &[u8] = b"last_shore_ms";

/// A handle on the node's metadata in a [`SledStore`]'s database; it may outlive the borrow
/// of the store (sled's handles are shared).
#[derive(Clone, Debug)]
pub struct NodeMeta {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledStore {
    /// The node's metadata kept in this store.
    pub fn node_meta(&self) -> Result<NodeMeta, StoreError> {
        let tree = self.db.open_tree(TREE).map_err(io)?;
        Ok(NodeMeta {
            db: self.db.clone(),
            tree,
        })
    }
}

impl NodeMeta {
    fn read(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        match self.tree.get(key).map_err(io)? {
            None => Ok(None),
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| corrupt("node metadata value is not 8 bytes")),
        }
    }

    /// The next sequence number to sign, if one was saved.
    pub fn next_seq(&self) -> Result<Option<u64>, StoreError> {
        self.read(NEXT_SEQ)
    }

    /// The time of the last shore contact (ms since the epoch), if one was saved.
    pub fn last_shore_ms(&self) -> Result<Option<u64>, StoreError> {
        self.read(LAST_SHORE_MS)
    }

    /// Saves both, durably (one batch, then fsync). `last_shore_ms: None` keeps what was
    /// saved before (a contact is never forgotten).
    pub fn save(&self, next_seq: u64, last_shore_ms: Option<u64>) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(NEXT_SEQ, &next_seq.to_be_bytes());
        if let Some(t) = last_shore_ms {
            b.insert(LAST_SHORE_MS, &t.to_be_bytes());
        }
        self.tree.apply_batch(b).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use haiqiao_mesh::{Store, StoreLimits};

    use super::*;

    #[test]
    fn metadata_survives_a_reopen_and_leaves_the_records_alone() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledStore::open(dir.path(), StoreLimits::default()).unwrap();
            let m = s.node_meta().unwrap();
            assert_eq!(m.next_seq().unwrap(), None);
            assert_eq!(m.last_shore_ms().unwrap(), None);
            m.save(7, Some(1_795_000_000_000)).unwrap();
            m.save(9, None).unwrap();
        }
        let s = SledStore::open(dir.path(), StoreLimits::default()).unwrap();
        let m = s.node_meta().unwrap();
        assert_eq!(m.next_seq().unwrap(), Some(9));
        assert_eq!(m.last_shore_ms().unwrap(), Some(1_795_000_000_000));
        assert_eq!(s.usage().records, 0, "metadata is not a record");
    }
}
