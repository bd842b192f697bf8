//! Records asked for, so that a record offered by several peers is asked of one.
//!
//! A flood record reaches a node over several links at about the same time: each peer that
//! took it announces it (`Offer`), and a reconciliation at contact up finds it missing from
//! more than one peer. Asking every one of them brings the record once per asked peer (in the
//! simulator, about half of a flooded class's transfers were such duplicates). As Plumtree's
//! "missing" timer does, the engine asks the first peer that offers a record and notes the
//! others as alternatives; if the record has not arrived by the deadline (`want_retry_ms`),
//! or the asked peer's session ended, the next alternative is asked. A record that arrives
//! from anyone clears its entry.
//!
//! Bounded: at most [`MAX_ASKED`] records, [`MAX_ALTERNATIVES`] alternatives each. When full,
//! a new record is asked of whoever offers it (as before this table existed): a duplicate
//! costs bytes, never delivery.

use std::collections::{BTreeMap, VecDeque};

use haiqiao_proto::PublicKey;

/// Most records in the table.
pub(crate) const MAX_ASKED: usize = 100_000;
/// Most alternative peers kept per record.
pub(crate) const MAX_ALTERNATIVES: usize = 4;

#[derive(Debug)]
struct Entry {
    peer: PublicKey,
    until_ms: u64,
    alternatives: Vec<PublicKey>,
}

/// The records asked for and not yet arrived (by short id).
#[derive(Debug, Default)]
pub(crate) struct Asked {
    entries: BTreeMap<u64, Entry>,
    /// Deadlines in the order they were set (they grow with time): (deadline, short id).
    deadlines: VecDeque<(u64, u64)>,
}

impl Asked {
    /// Whether to ask `peer` for `short` now. Not when another peer whose session is up
    /// (`live`) was asked and its deadline has not passed: `peer` becomes an alternative.
    pub(crate) fn ask(
        &mut self,
        now_ms: u64,
        retry_ms: u64,
        peer: PublicKey,
        short: u64,
        live: impl Fn(&PublicKey) -> bool,
    ) -> bool {
        if let Some(e) = self.entries.get_mut(&short) {
            if e.peer != peer && e.until_ms > now_ms && live(&e.peer) {
                if e.alternatives.len() < MAX_ALTERNATIVES && !e.alternatives.contains(&peer) {
                    e.alternatives.push(peer);
                }
                return false;
            }
            e.peer = peer;
            e.until_ms = now_ms.saturating_add(retry_ms);
            e.alternatives.retain(|p| *p != peer);
            self.deadlines.push_back((e.until_ms, short));
            self.prune_front();
            return true;
        }
        if self.entries.len() < MAX_ASKED {
            let until_ms = now_ms.saturating_add(retry_ms);
            self.entries.insert(
                short,
                Entry {
                    peer,
                    until_ms,
                    alternatives: Vec::new(),
                },
            );
            self.deadlines.push_back((until_ms, short));
        }
        true
    }

    /// The record arrived (from anyone): forget it.
    pub(crate) fn arrived(&mut self, short: u64) {
        if self.entries.remove(&short).is_some() {
            self.prune_front();
        }
    }

    /// Drops the deadlines at the front that no longer count (their record arrived, or was
    /// asked again since), so that the front is always the next live deadline and
    /// [`Asked::next_deadline`], asked at every turn of the engine, reads one entry.
    fn prune_front(&mut self) {
        while let Some(&(until, short)) = self.deadlines.front() {
            if self
                .entries
                .get(&short)
                .is_some_and(|e| e.until_ms == until)
            {
                break;
            }
            self.deadlines.pop_front();
        }
    }

    /// Records whose asked peer missed its deadline or is gone: each is asked of its next
    /// alternative that is `live` (returned as (peer, short id), with a new deadline), or
    /// forgotten when none is left.
    pub(crate) fn due(
        &mut self,
        now_ms: u64,
        retry_ms: u64,
        live: impl Fn(&PublicKey) -> bool,
    ) -> Vec<(PublicKey, u64)> {
        let mut again = Vec::new();
        while let Some(&(until, short)) = self.deadlines.front() {
            if until > now_ms {
                break;
            }
            self.deadlines.pop_front();
            let Some(e) = self.entries.get_mut(&short) else {
                continue;
            };
            if e.until_ms != until {
                continue; // re-asked since: a later deadline is queued
            }
            e.alternatives.retain(|p| live(p));
            if e.alternatives.is_empty() {
                self.entries.remove(&short);
                continue;
            }
            let next = e.alternatives.remove(0);
            e.peer = next;
            e.until_ms = now_ms.saturating_add(retry_ms);
            self.deadlines.push_back((e.until_ms, short));
            again.push((next, short));
        }
        // Deadlines of records that arrived are dropped from the front as they come up; keep the queue bounded
        // when records keep arriving before their deadlines.
        if self.deadlines.len() > 2 * MAX_ASKED {
            let entries = &self.entries;
            self.deadlines
                .retain(|(until, short)| entries.get(short).is_some_and(|e| e.until_ms == *until));
        }
        self.prune_front();
        again
    }

    /// The earliest deadline still pending, for the engine's timer.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.deadlines.front().map(|(until, _)| *until)
    }

    /// Records in the table.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_proto::Keypair;

    fn peer(n: u8) -> PublicKey {
        Keypair::from_seed(&[n; 32]).public()
    }

    #[test]
    fn a_record_offered_twice_is_asked_once_and_of_the_other_after_the_deadline() {
        let mut a = Asked::default();
        let (b, c) = (peer(1), peer(2));
        assert!(a.ask(0, 5_000, b, 7, |_| true));
        assert!(!a.ask(10, 5_000, c, 7, |_| true), "c is an alternative");
        assert!(a.due(4_999, 5_000, |_| true).is_empty());
        assert_eq!(a.next_deadline(), Some(5_000));
        assert_eq!(a.due(5_000, 5_000, |_| true), vec![(c, 7)]);
        assert_eq!(a.next_deadline(), Some(10_000));
        assert!(a.due(10_000, 5_000, |_| true).is_empty(), "no one left");
        assert_eq!(a.len(), 0);
    }

    #[test]
    fn an_arrival_clears_the_record_and_a_gone_peer_is_not_waited_for() {
        let mut a = Asked::default();
        let (b, c, d) = (peer(1), peer(2), peer(3));
        assert!(a.ask(0, 5_000, b, 7, |_| true));
        a.arrived(7);
        assert!(
            a.ask(1, 5_000, c, 7, |_| true),
            "asked anew after it was cleared"
        );
        // c's session ended: d's offer is asked at once.
        assert!(a.ask(2, 5_000, d, 7, |p| *p != c));
        assert!(
            a.due(5_001, 5_000, |_| true).is_empty(),
            "c's old deadline is stale"
        );
        assert_eq!(a.next_deadline(), Some(5_002));
    }

    #[test]
    fn alternatives_are_bounded_and_gone_ones_skipped() {
        let mut a = Asked::default();
        assert!(a.ask(0, 100, peer(0), 1, |_| true));
        for n in 1..10 {
            assert!(!a.ask(1, 100, peer(n), 1, |_| true));
        }
        let gone = peer(1);
        assert_eq!(a.due(100, 100, |p| *p != gone), vec![(peer(2), 1)]);
        assert_eq!(a.due(200, 100, |_| true), vec![(peer(3), 1)]);
        assert_eq!(a.due(300, 100, |_| true), vec![(peer(4), 1)]);
        assert!(
            a.due(400, 100, |_| true).is_empty(),
            "four alternatives at most"
        );
    }
}
