//! The node's metadata (`next_seq`, the last shore contact) kept in the store
//! (`haiqiao_store::NodeMeta`), and the migration from the side files older daemons wrote in
//! the data dir (`next_seq`, `last_shore_ms`): read once, written to the store, removed.

use std::path::Path;

use haiqiao_mesh::StoreError;
use haiqiao_store::{NodeMeta, SledStore};

/// The side files of daemons before the metadata moved into the store.
const SIDE_FILES: [&str; 2] = ["next_seq", "last_shore_ms"];

/// What the daemon keeps and saves; remembers what it saved so that an unchanged value costs
/// no write (and no fsync).
#[derive(Debug, Default)]
pub(crate) struct MetaKeeper {
    meta: Option<NodeMeta>,
    saved: Option<(u64, Option<u64>)>,
}

/// What was kept: the next sequence number and the last shore contact, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Kept {
    pub(crate) next_seq: Option<u64>,
    pub(crate) last_shore_ms: Option<u64>,
}

impl MetaKeeper {
    /// Keeps nothing (tests, tools that run an engine without a data dir).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// Opens the metadata in `store`, first moving the side files found in `data_dir` into it
    /// (a side file that does not parse is left in place and reported).
    pub(crate) fn open(store: &SledStore, data_dir: &Path) -> Result<(Self, Kept), StoreError> {
        let meta = store.node_meta()?;
        let side = |name: &str| -> Option<u64> {
            let s = std::fs::read_to_string(data_dir.join(name)).ok()?;
            let v = s.trim().parse::<u64>().ok();
            if v.is_none() {
                println!(
                    "{}: not a number, left in place",
                    data_dir.join(name).display()
                );
            }
            v
        };
        let (seq, shore) = (side(SIDE_FILES[0]), side(SIDE_FILES[1]));
        if seq.is_some() || shore.is_some() {
            // The larger of both: the store may hold a newer value from a later run.
            let seq = seq.max(meta.next_seq()?).unwrap_or(0);
            let shore = shore.max(meta.last_shore_ms()?);
            meta.save(seq, shore)?;
            for (name, v) in SIDE_FILES.iter().zip([Some(seq), shore]) {
                if v.is_some() {
                    let _ = std::fs::remove_file(data_dir.join(name));
                }
            }
            println!("moved the node's metadata from side files into the store");
        }
        let kept = Kept {
            next_seq: meta.next_seq()?,
            last_shore_ms: meta.last_shore_ms()?,
        };
        let saved = kept.next_seq.map(|s| (s, kept.last_shore_ms));
        Ok((
            MetaKeeper {
                meta: Some(meta),
                saved,
            },
            kept,
        ))
    }

    /// Saves the values if they changed.
    pub(crate) fn save(
        &mut self,
        next_seq: u64,
        last_shore_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let Some(meta) = &self.meta else {
            return Ok(());
        };
        if self.saved == Some((next_seq, last_shore_ms)) {
            return Ok(());
        }
        meta.save(next_seq, last_shore_ms)?;
        self.saved = Some((next_seq, last_shore_ms));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use haiqiao_mesh::StoreLimits;

    use super::*;

    #[test]
    fn side_files_move_into_the_store_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("next_seq"), "42\n").unwrap();
        std::fs::write(dir.path().join("last_shore_ms"), "1795000000000").unwrap();
        {
            let store = SledStore::open(dir.path().join("store"), StoreLimits::default()).unwrap();
            let (mut keeper, kept) = MetaKeeper::open(&store, dir.path()).unwrap();
            assert_eq!(
                kept,
                Kept {
                    next_seq: Some(42),
                    last_shore_ms: Some(1_795_000_000_000)
                }
            );
            assert!(!dir.path().join("next_seq").exists(), "side file removed");
            assert!(
                !dir.path().join("last_shore_ms").exists(),
                "side file removed"
            );
            keeper.save(43, Some(1_795_000_060_000)).unwrap();
        }
        // A side file left by an older daemon run later: the larger value wins.
        std::fs::write(dir.path().join("next_seq"), "40").unwrap();
        let store = SledStore::open(dir.path().join("store"), StoreLimits::default()).unwrap();
        let (_, kept) = MetaKeeper::open(&store, dir.path()).unwrap();
        assert_eq!(kept.next_seq, Some(43));
        assert_eq!(kept.last_shore_ms, Some(1_795_000_060_000));
        assert!(!dir.path().join("next_seq").exists());
    }

    #[test]
    fn a_side_file_that_does_not_parse_is_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("next_seq"), "forty").unwrap();
        let store = SledStore::open(dir.path().join("store"), StoreLimits::default()).unwrap();
        let (_, kept) = MetaKeeper::open(&store, dir.path()).unwrap();
        assert_eq!(kept, Kept::default());
        assert!(dir.path().join("next_seq").exists());
    }
}
