//! What a peer sends on the sync stream: `Node`'s glue between a peer's [`Session`] (which
//! owns the protocol's state) and the engine's other parts.

use haiqiao_proto::wire::{Frame, Neighbours, SHORT_ID_LEN, SYMBOL_LEN, TIERS, TierSummary};
use haiqiao_proto::{Destination, KeyHint, Priority, PublicKey, RecordId, Role};

use super::ingest::{Arrival, Source, Taken};
use super::{MAX_KEYS_PER_FRAME, Node};
use crate::defence::Offence;
use crate::index::short_from;
use crate::riblt::Side;
use crate::routing::{self, Handoff, PeerView};
use crate::store::{Store, StoreError};

impl<S: Store> Node<S> {
    pub(super) fn on_frame_bytes(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        if !self.sessions.contains_key(&peer) {
            return Ok(());
        }
        self.stats.frames_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        match Frame::decode(bytes) {
            Ok(f) => self.on_frame(now_ms, peer, f),
            Err(_) => {
                self.stats.malformed += 1;
                self.penalise(now_ms, peer, Offence::MalformedFrame);
                Ok(())
            }
        }
    }

    fn on_frame(&mut self, now_ms: u64, peer: PublicKey, frame: Frame) -> Result<(), StoreError> {
        let max_symbols = self.cfg.max_symbols;
        match frame {
            Frame::Hello {
                tiers,
                shore_age_min,
                eta_shore_min,
                linked,
            } => self.on_hello(now_ms, peer, tiers, shore_age_min, eta_shore_min, linked),
            Frame::Symbols {
                tier,
                start,
                symbols,
            } => self.on_symbols(now_ms, peer, tier as usize, start, &symbols),
            Frame::More { tier, count } => {
                let violated = self
                    .sessions
                    .get_mut(&peer)
                    .is_some_and(|s| s.on_more(tier as usize, count, max_symbols).is_err());
                if violated {
                    self.penalise(now_ms, peer, Offence::ProtocolViolation);
                }
            }
            Frame::Done { tier } => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.on_done(tier as usize);
                }
            }
            Frame::Want { ids } => self.on_want(now_ms, peer, &ids),
            Frame::Offer { ids } => self.on_offer(now_ms, peer, &ids),
            Frame::Records { seq, items } => {
                let arrival = Arrival {
                    frame: Some(seq),
                    ..Arrival::from(Source::Sync(peer))
                };
                let items = items.into_iter().map(|c| (c.bytes, c.copies)).collect();
                let results = self.ingest(now_ms, arrival, items)?;
                let refused = results
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| matches!(t, Taken::Refused | Taken::Invalid))
                    .map(|(i, _)| (seq, i as u16))
                    .collect();
                let waiting: Vec<u16> = results
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| **t == Taken::Waiting)
                    .map(|(i, _)| i as u16)
                    .collect();
                self.hold_ack(now_ms, peer, seq, refused, waiting);
            }
            Frame::Ack { upto, refused } => self.on_ack(now_ms, peer, upto, &refused),
            Frame::WantKeys { hints } => {
                let keys: Vec<PublicKey> = hints
                    .iter()
                    .flat_map(|h| self.ring.lookup(*h).copied().collect::<Vec<_>>())
                    .take(MAX_KEYS_PER_FRAME)
                    .collect();
                if let Some(s) = self.sessions.get_mut(&peer)
                    && !keys.is_empty()
                {
                    s.push_control(Frame::Keys { keys });
                }
            }
            Frame::Keys { keys } => {
                for k in keys.into_iter().take(MAX_KEYS_PER_FRAME) {
                    self.ring.insert(k);
                }
                self.retry_pending_keys(now_ms)?;
                self.retry_keyless();
            }
        }
        Ok(())
    }

    fn on_hello(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        tiers: [TierSummary; TIERS],
        shore_age_min: u32,
        eta_shore_min: Option<u32>,
        linked: Option<Neighbours>,
    ) {
        let view = PeerView {
            hint: peer.hint(),
            shore_age_min,
            ashore_by_ms: routing::ashore_by(now_ms, eta_shore_min),
            linked,
            federated: self.cfg.shore_federation
                && self.role == Role::Shore
                && shore_age_min == 0
                && self.admission.trust().receipt_counts(&peer),
        };
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        if s.on_hello(&self.me, &peer, tiers, view, self.cfg.max_symbols)
            .is_err()
        {
            self.penalise(now_ms, peer, Offence::ProtocolViolation);
            return;
        }
        if view.is_shore() {
            self.last_shore_ms = Some(now_ms);
        }
        // Offer the non-flood records routing hands this peer.
        let me = self.standing(now_ms);
        let offers = self
            .index
            .iter()
            .filter(|(_, m)| !m.is_flood())
            .filter(|(_, m)| routing::handoff(&self.cfg, m, &me, &view) != Handoff::No)
            .map(|(_, m)| (m.short, m.priority <= Priority::Control));
        if let Some(s) = self.sessions.get_mut(&peer) {
            for (o, urgent) in offers {
                if !s.offer(o, urgent) {
                    break;
                }
            }
        }
    }

    fn on_symbols(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        tier: usize,
        start: u32,
        symbols: &[[u8; SYMBOL_LEN]],
    ) {
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        let Ok(decoded) = s.on_symbols(tier, start, symbols) else {
            self.penalise(now_ms, peer, Offence::ProtocolViolation);
            return;
        };
        let mut wanted = Vec::new();
        for (e, side) in decoded {
            match side {
                Side::Local => {
                    if let Some(id) = self.index.by_short(e)
                        && let Some(m) = self.index.get(&id)
                        && m.tier.is_some()
                    {
                        s.queue_record((m.priority, m.created, id), 0);
                    }
                }
                Side::Remote => wanted.push(e),
            }
        }
        self.want_once(now_ms, peer, wanted);
    }

    /// Asks `peer` for the records it offered or reconciliation found it holds, unless
    /// another peer was already asked for one (then `peer` is its alternative: [`Asked`]).
    pub(super) fn want_once(&mut self, now_ms: u64, peer: PublicKey, shorts: Vec<u64>) {
        let retry = self.cfg.want_retry_ms;
        for short in shorts {
            let sessions = &self.sessions;
            if self
                .asked
                .ask(now_ms, retry, peer, short, |p| sessions.contains_key(p))
                && let Some(s) = self.sessions.get_mut(&peer)
            {
                s.want(short);
            }
        }
    }

    fn on_want(&mut self, now_ms: u64, peer: PublicKey, ids: &[[u8; SHORT_ID_LEN]]) {
        let me = self.standing(now_ms);
        let quarantined = self.admission.quarantined(Some(peer), now_ms);
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        let Some(view) = s.view().copied() else {
            return;
        };
        for id in ids {
            let Some(full) = self.index.by_short(short_from(id)) else {
                continue;
            };
            let Some(m) = self.index.get(&full) else {
                continue;
            };
            if quarantined && m.priority != Priority::Distress {
                continue;
            }
            let copies = if m.is_flood() {
                Some(0)
            } else {
                match routing::handoff(&self.cfg, m, &me, &view) {
                    Handoff::No => None,
                    Handoff::Deliver => Some(0),
                    Handoff::Copies(k) => Some(k),
                }
            };
            if let Some(k) = copies {
                s.forget_known(&full);
                s.queue_record((m.priority, m.created, full), k);
            }
        }
    }

    fn on_offer(&mut self, now_ms: u64, peer: PublicKey, ids: &[[u8; SHORT_ID_LEN]]) {
        let mut wanted = Vec::new();
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        for id in ids {
            let short = short_from(id);
            // A receipt names the offered record: the receipt is the answer (the peer frees
            // its copy; shore need not receive it again).
            if let Some((named, rid)) = self.receipts.answer_to_offer(short)
                && let Some(m) = self.index.get(&rid)
            {
                s.queue_record((m.priority, m.created, rid), 0);
                s.note_known(named);
                continue;
            }
            match self.index.by_short(short) {
                Some(full) => {
                    // The peer holds it: a flood record still queued for it (our own push
                    // waiting behind the window while the record reached the peer another
                    // way) is not sent after all, as gossipsub 1.2's IDONTWANT does.
                    if let Some(m) = self.index.get(&full)
                        && m.is_flood()
                    {
                        s.unqueue(&(m.priority, m.created, full));
                    }
                    s.note_known(full);
                }
                None => wanted.push(short),
            }
        }
        self.want_once(now_ms, peer, wanted);
    }

    /// The peer acknowledged custody of every `Records` frame up to `upto` (except the items
    /// `refused`): the copies handed over are its now, the refused ones come back.
    fn on_ack(&mut self, now_ms: u64, peer: PublicKey, upto: u32, refused: &[(u32, u16)]) {
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        let peer_hint = s.view().map(|v| v.hint);
        for (f, items) in s.on_ack(now_ms, upto) {
            for (i, (id, k)) in items.into_iter().enumerate() {
                let refused = refused.contains(&(f, i as u16));
                if !refused {
                    self.stats.custody_acked += 1;
                }
                let Some(m) = self.index.get_mut(&id) else {
                    continue;
                };
                if refused {
                    m.copies = m.copies.saturating_add(k);
                    self.mark_kept(&id);
                    continue;
                }
                // Delivered to the node it is for: our forwarding copies have done their
                // work (a pair's other boat is its only destination but the author).
                if matches!(m.dest, Destination::Node(_) | Destination::Pair(..))
                    && peer_hint.is_some_and(|h| m.dest.names(&h))
                {
                    m.copies = 0;
                }
                // Custody handed on: with no copies left this node no longer answers for the
                // record (the store may evict it for newer ones).
                if m.copies == 0 {
                    self.mark_kept(&id);
                }
            }
        }
    }

    /// Acknowledges a received `Records` frame once none of its records waits for a key, and
    /// never before an earlier frame's (acknowledgements are cumulative).
    fn hold_ack(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        seq: u32,
        refused: Vec<(u32, u16)>,
        waiting: Vec<u16>,
    ) {
        let deadline_ms = now_ms.saturating_add(self.cfg.key_wait_ms);
        let Some(s) = self.sessions.get_mut(&peer) else {
            // No session (it went down meanwhile): the copies stay with the sender.
            self.pending_keys.release(&peer, Some(seq));
            return;
        };
        if s.hold_ack(seq, refused, waiting, deadline_ms) {
            // More frames than a sender may have awaiting custody: give up the oldest.
            if let Some(oldest) = s.give_up_oldest_ack() {
                self.pending_keys.release(&peer, Some(oldest));
            }
        }
        s.flush_acks();
    }

    /// Held acknowledgements whose records waited too long for their keys: those records are
    /// reported refused (their copies stay with the sender; the records stay waiting, with
    /// none).
    pub(super) fn ack_deadlines(&mut self, now_ms: u64) {
        for (peer, s) in &mut self.sessions {
            while let Some(seq) = s.oldest_ack_overdue(now_ms) {
                self.pending_keys.release(peer, Some(seq));
                s.give_up_oldest_ack();
                s.flush_acks();
            }
        }
    }

    /// A record from `peer` refused for its rate or its author's: asked for again (`Want`)
    /// once the rates allow it, so that a fast sender is slowed rather than losing anything.
    pub(super) fn defer(&mut self, now_ms: u64, peer: PublicKey, id: &RecordId, author: KeyHint) {
        if let Some(s) = self.sessions.get_mut(&peer) {
            s.defer(now_ms, crate::index::short_id(id), author);
        }
    }

    /// Asks again for deferred records, as many as the peer's rate and their authors' allow.
    pub(super) fn retry_deferred(&mut self, now_ms: u64) {
        for (peer, s) in &mut self.sessions {
            if !s.deferred_due(now_ms) {
                continue;
            }
            let mut budget = self.admission.peer_tokens(&self.cfg, peer, now_ms);
            let mut spent: std::collections::BTreeMap<KeyHint, u64> = Default::default();
            let ask = s.deferred(|author| {
                if budget == 0 {
                    return false;
                }
                let used = spent.entry(author).or_insert(0);
                if self.admission.author_tokens(&self.cfg, author, now_ms) > *used {
                    *used += 1;
                    budget -= 1;
                    true
                } else {
                    false
                }
            });
            let index = &self.index;
            s.retry_deferred(now_ms, ask, |short| index.by_short(short).is_some());
        }
    }
}
