//! Shore receipts: which records a shore station said it has (so that their copies are freed
//! and they are not taken in again), which receipt answers an offer of a record, who else
//! holds a copy of what this node carries (a receipt follows the copies), the receipts owed to
//! peers not in contact, and, at a shore station, the batch of receipts it is about to write.
//!
//! Every map is bounded: [`MeshConfig::max_receipted`] ids remembered (oldest forgotten
//! first), [`MAX_CO_HOLDERS`] co-holders for each of at most [`MAX_CO_HOLDER_RECORDS`]
//! records, [`MAX_OWED_PER_PEER`] receipts for each of at most [`MAX_OWED_PEERS`] peers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use haiqiao_proto::{PublicKey, RecordId};

use crate::config::MeshConfig;
use crate::index::short_id;
use crate::session::{QueuedRecord, Session};

/// Peers remembered per carried record as holding a copy too (a receipt naming it is passed
/// to them). Binary spray hands at most log2(copies) + 1 copies on from one node.
pub(crate) const MAX_CO_HOLDERS: usize = 8;

/// Carried records whose co-holders are remembered.
pub(crate) const MAX_CO_HOLDER_RECORDS: usize = 100_000;

/// Peers owed a receipt (they hold a copy it frees and are not connected).
pub(crate) const MAX_OWED_PEERS: usize = 10_000;

/// Receipts owed to one peer.
pub(crate) const MAX_OWED_PER_PEER: usize = 256;

/// What this node knows of shore receipts. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Receipts {
    /// Records named by a counted receipt (refused if offered or sent again).
    receipted: BTreeSet<RecordId>,
    receipted_order: VecDeque<RecordId>,
    /// Receipt routing: short id of a receipted record → (its id, the receipt's id).
    receipt_of: BTreeMap<u64, (RecordId, RecordId)>,
    receipt_of_order: VecDeque<u64>,
    /// Peers known to hold a forwarding copy of a record this node carries.
    co_holders: BTreeMap<RecordId, Vec<PublicKey>>,
    /// Receipts to hand a peer when it is next in contact.
    owed: BTreeMap<PublicKey, Vec<RecordId>>,
    /// A shore station's records to be receipted, and when the batch is due.
    queue: Vec<RecordId>,
    due: Option<u64>,
}

impl Receipts {
    /// Whether a counted receipt named the record.
    pub(crate) fn is_receipted(&self, id: &RecordId) -> bool {
        self.receipted.contains(id)
    }

    /// Remembers a record named by a counted receipt (at most `max`, oldest forgotten).
    pub(crate) fn remember_receipted(&mut self, id: RecordId, max: usize) {
        if self.receipted.insert(id) {
            self.receipted_order.push_back(id);
            while self.receipted_order.len() > max {
                if let Some(old) = self.receipted_order.pop_front() {
                    self.receipted.remove(&old);
                }
            }
        }
    }

    /// Remembers which receipt names a record (the first one kept; at most `max`).
    pub(crate) fn remember_receipt_of(&mut self, named: RecordId, receipt: RecordId, max: usize) {
        let short = short_id(&named);
        if let std::collections::btree_map::Entry::Vacant(e) = self.receipt_of.entry(short) {
            e.insert((named, receipt));
            self.receipt_of_order.push_back(short);
            while self.receipt_of_order.len() > max {
                if let Some(old) = self.receipt_of_order.pop_front() {
                    self.receipt_of.remove(&old);
                }
            }
        }
    }

    /// The receipt that answers an offer of `short` (the record it names, the receipt).
    pub(crate) fn answer_to_offer(&self, short: u64) -> Option<(RecordId, RecordId)> {
        self.receipt_of.get(&short).copied()
    }

    /// Forgets every judgement (trust changed: the receipts held are judged again).
    pub(crate) fn forget_judgements(&mut self) {
        self.receipted.clear();
        self.receipted_order.clear();
        self.receipt_of.clear();
        self.receipt_of_order.clear();
    }

    /// Remembers that `peer` holds a forwarding copy of a record this node carries (we handed
    /// it one, or took ours from it).
    pub(crate) fn note_co_holder(&mut self, id: RecordId, peer: PublicKey) {
        if !self.co_holders.contains_key(&id) && self.co_holders.len() >= MAX_CO_HOLDER_RECORDS {
            return;
        }
        let peers = self.co_holders.entry(id).or_default();
        if !peers.contains(&peer) && peers.len() < MAX_CO_HOLDERS {
            peers.push(peer);
        }
    }

    /// The receipts owed to `peer`, now in contact.
    pub(crate) fn take_owed(&mut self, peer: &PublicKey) -> Vec<RecordId> {
        self.owed.remove(peer).unwrap_or_default()
    }

    /// Keeps only what concerns records still held.
    pub(crate) fn retain_held(&mut self, held: impl Fn(&RecordId) -> bool) {
        self.co_holders.retain(|id, _| held(id));
        self.owed.retain(|_, rids| {
            rids.retain(|r| held(r));
            !rids.is_empty()
        });
    }

    /// A receipt follows the copies of the records it names, instead of flooding: to the
    /// peers of current contacts that sent, offered or were sent one of them, and to every
    /// peer a copy was handed to or taken from (now, or when it is next in contact). Nodes
    /// that never held a copy never receive it. (A counted receipt also answers a later offer
    /// of a record it names, [`Receipts::remember_receipt_of`]; one that does not count is
    /// carried to the holders all the same — it counts there if its author is certified
    /// later — but answers no offer, so it cannot stop a record from spreading.) `q`: the
    /// receipt as queued to a peer; `from`: the peer it came from (it goes nowhere back).
    pub(crate) fn route(
        &mut self,
        q: QueuedRecord,
        ids: &[RecordId],
        from: Option<PublicKey>,
        sessions: &mut BTreeMap<PublicKey, Session>,
    ) {
        let receipt = q.2;
        for (p, s) in sessions.iter_mut() {
            if Some(*p) != from && ids.iter().any(|i| s.knows(i)) {
                s.queue_record(q, 0);
            }
        }
        for id in ids {
            for p in self.co_holders.remove(id).unwrap_or_default() {
                if Some(p) == from {
                    continue;
                }
                if let Some(s) = sessions.get_mut(&p) {
                    s.queue_record(q, 0);
                } else if self.owed.contains_key(&p) || self.owed.len() < MAX_OWED_PEERS {
                    let owed = self.owed.entry(p).or_default();
                    if owed.len() < MAX_OWED_PER_PEER && !owed.contains(&receipt) {
                        owed.push(receipt);
                    }
                }
            }
        }
    }

    // --- a shore station's own receipts -----------------------------------------------------

    /// The receipts a batch names: [`MeshConfig::receipt_batch`], within the record format's
    /// bound.
    fn batch(cfg: &MeshConfig) -> usize {
        cfg.receipt_batch.clamp(1, haiqiao_proto::MAX_RECEIPT_IDS)
    }

    /// A shore-bound record reached this station: it is receipted in the next batch, due when
    /// the batch is full or [`MeshConfig::receipt_delay_ms`] after its first record.
    pub(crate) fn receipt_later(&mut self, cfg: &MeshConfig, now_ms: u64, id: RecordId) {
        self.queue.push(id);
        if self.queue.len() >= Self::batch(cfg) {
            self.due = Some(now_ms);
        } else if self.due.is_none() {
            self.due = Some(now_ms + cfg.receipt_delay_ms);
        }
    }

    /// The next batch of ids to receipt, if one is due.
    pub(crate) fn due_batch(&mut self, cfg: &MeshConfig, now_ms: u64) -> Option<Vec<RecordId>> {
        if self.queue.is_empty() {
            self.due = None;
            return None;
        }
        if self.due.is_none_or(|t| now_ms < t) {
            return None;
        }
        let n = self.queue.len().min(Self::batch(cfg));
        let ids: Vec<RecordId> = self.queue.drain(..n).collect();
        self.due = if self.queue.is_empty() {
            None
        } else {
            Some(now_ms)
        };
        Some(ids)
    }

    /// When the next batch is due.
    pub(crate) fn next_timeout(&self) -> Option<u64> {
        self.due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{T0, key, session};
    use haiqiao_proto::{Priority, Timestamp};

    fn id(n: u8) -> RecordId {
        RecordId([n; 16])
    }

    #[test]
    fn remembered_ids_are_bounded_oldest_first() {
        let mut r = Receipts::default();
        for n in 0..5 {
            r.remember_receipted(id(n), 3);
            r.remember_receipt_of(id(n), id(100 + n), 3);
        }
        assert!(!r.is_receipted(&id(1)));
        assert!(r.is_receipted(&id(2)) && r.is_receipted(&id(4)));
        assert_eq!(r.answer_to_offer(short_id(&id(1))), None);
        assert_eq!(r.answer_to_offer(short_id(&id(4))), Some((id(4), id(104))));
        r.forget_judgements();
        assert!(!r.is_receipted(&id(4)));
        assert_eq!(r.answer_to_offer(short_id(&id(4))), None);
    }

    #[test]
    fn a_receipt_follows_the_copies_now_or_at_the_next_contact() {
        let mut r = Receipts::default();
        let (a, b, c) = (key(1), key(2), key(3));
        for n in 0..(MAX_CO_HOLDERS as u8 + 2) {
            r.note_co_holder(id(1), key(10 + n));
        }
        r.note_co_holder(id(1), a);
        r.note_co_holder(id(2), b);
        r.note_co_holder(id(2), c);
        let mut sessions = BTreeMap::new();
        sessions.insert(b, session());
        let mut s = session();
        s.note_known(id(2));
        sessions.insert(key(4), s);
        let q = (Priority::Routine, Timestamp(0), id(9));
        r.route(q, &[id(1), id(2)], Some(c), &mut sessions);
        assert_eq!(
            sessions[&b].first_queued(),
            Some(q),
            "a co-holder in contact"
        );
        assert_eq!(
            sessions[&key(4)].first_queued(),
            Some(q),
            "a peer that knew it"
        );
        assert_eq!(
            r.take_owed(&c),
            Vec::<RecordId>::new(),
            "not back to the sender"
        );
        assert_eq!(
            r.take_owed(&key(10)),
            vec![id(9)],
            "owed till the next contact"
        );
        assert_eq!(r.take_owed(&a), Vec::<RecordId>::new(), "past the bound");
        r.retain_held(|_| false);
        assert_eq!(r.take_owed(&key(11)), Vec::<RecordId>::new());
    }

    #[test]
    fn a_station_receipts_in_batches_or_after_the_delay() {
        let cfg = MeshConfig {
            receipt_batch: 2,
            receipt_delay_ms: 100,
            ..MeshConfig::default()
        };
        let mut r = Receipts::default();
        r.receipt_later(&cfg, T0, id(1));
        assert_eq!(r.next_timeout(), Some(T0 + 100));
        assert_eq!(r.due_batch(&cfg, T0 + 99), None);
        r.receipt_later(&cfg, T0 + 1, id(2));
        r.receipt_later(&cfg, T0 + 2, id(3));
        assert_eq!(r.due_batch(&cfg, T0 + 2), Some(vec![id(1), id(2)]));
        assert_eq!(r.next_timeout(), Some(T0 + 2), "the rest is due at once");
        assert_eq!(r.due_batch(&cfg, T0 + 2), Some(vec![id(3)]));
        assert_eq!(r.due_batch(&cfg, T0 + 3), None);
        assert_eq!(r.next_timeout(), None);
    }
}
