//! Who was heard when, and where: the newest record time and the newest fix of each vessel.

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{Fix, PublicKey, Timestamp};

use crate::geo::fix_time;

/// What is known of a vessel's whereabouts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heard {
    /// The `created` time of the newest record it wrote that this node holds.
    pub last_heard: Timestamp,
    /// Its newest fix (from a position, distress or pair alert it wrote).
    pub fix: Option<Fix>,
    /// When that fix was taken.
    pub fix_at: Option<Timestamp>,
}

/// Last heard and last fix per vessel, bounded: the least recently heard is forgotten first.
#[derive(Debug)]
pub(crate) struct Positions {
    max: usize,
    by_key: BTreeMap<PublicKey, Heard>,
    by_time: BTreeSet<(Timestamp, PublicKey)>,
}

impl Positions {
    pub(crate) fn new(max: usize) -> Positions {
        Positions {
            max: max.max(1),
            by_key: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Notes a record from `key` created at `created`, with the author's own fix if it has
    /// one. Returns whether `last_heard` moved forward.
    pub(crate) fn heard(&mut self, key: PublicKey, created: Timestamp, fix: Option<&Fix>) -> bool {
        let entry = self.by_key.entry(key).or_insert(Heard {
            last_heard: Timestamp(0),
            fix: None,
            fix_at: None,
        });
        let advanced = created > entry.last_heard;
        if advanced {
            self.by_time.remove(&(entry.last_heard, key));
            entry.last_heard = created;
            self.by_time.insert((created, key));
        }
        if let Some(f) = fix {
            let at = fix_time(created, f);
            if entry.fix_at.is_none_or(|old| at > old) {
                entry.fix = Some(*f);
                entry.fix_at = Some(at);
            }
        }
        while self.by_key.len() > self.max {
            let Some((_, k)) = self.by_time.pop_first() else {
                break;
            };
            self.by_key.remove(&k);
        }
        advanced
    }

    pub(crate) fn get(&self, key: &PublicKey) -> Option<&Heard> {
        self.by_key.get(key)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PublicKey, &Heard)> {
        self.by_key.iter()
    }

    /// Forgets vessels last heard before `before`.
    pub(crate) fn expire(&mut self, before: Timestamp) {
        while let Some((t, k)) = self.by_time.first().copied() {
            if t >= before {
                break;
            }
            self.by_time.pop_first();
            self.by_key.remove(&k);
        }
    }
}
