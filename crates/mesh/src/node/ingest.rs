//! Taking records in: decode, admit ([`crate::admission`]), verify in one batch, store, and
//! what follows a stored record (delivery, hand-on to peers, receipts).

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::wire::Frame;
use haiqiao_proto::{
    Body, Destination, KeyHint, Priority, PublicKey, Record, RecordError, RecordId, Role,
    Unverified,
};

use super::{MAX_KEYS_PER_FRAME, Node};
use crate::admission::WaitingRecord;
use crate::defence::Offence;
use crate::events::{Output, Verdict};
use crate::index::{Meta, short_id};
use crate::routing::{self, Spread};
use crate::store::{InsertOutcome, Store, StoreError, Summary};

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    Local,
    Sync(PublicKey),
    Gossip(PublicKey),
}

impl Source {
    pub(super) fn peer(&self) -> Option<PublicKey> {
        match self {
            Source::Local => None,
            Source::Sync(p) | Source::Gossip(p) => Some(*p),
        }
    }
}

/// What became of one received record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    New,
    Held,
    Refused,
    Invalid,
    /// Waiting for its author's key (from a sync frame: its acknowledgement waits too).
    Waiting,
}

/// How a batch of records arrived.
#[derive(Clone, Copy, Debug)]
pub(super) struct Arrival {
    pub(super) source: Source,
    /// The `Records` frame they came in (its acknowledgement waits for those that wait for
    /// a key).
    pub(super) frame: Option<u32>,
    /// The peer's rate was charged for them already (they waited for a key).
    pub(super) charged: bool,
}

impl Arrival {
    /// Records from `source`, not in a frame, not charged yet.
    pub(super) fn from(source: Source) -> Arrival {
        Arrival {
            source,
            frame: None,
            charged: false,
        }
    }
}

/// Records that passed admission, for one batch verification.
#[derive(Default)]
struct Admitted {
    records: Vec<Unverified>,
    /// Their items in the batch.
    items: Vec<usize>,
    /// The copies each came with.
    copies: Vec<u8>,
}

impl<S: Store> Node<S> {
    pub(super) fn on_gossip(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let id = Unverified::decode(&bytes).ok().map(|u| u.id());
        let taken = self.ingest(
            now_ms,
            Arrival::from(Source::Gossip(peer)),
            vec![(bytes, 0)],
        )?;
        let verdict = match taken.first() {
            Some(Taken::New) => Verdict::Accept,
            Some(Taken::Invalid) => Verdict::Reject,
            _ => Verdict::Ignore,
        };
        self.out
            .push_back(Output::GossipVerdict { peer, id, verdict });
        Ok(())
    }

    /// Decodes, verifies and stores records from a peer (or its own, `Source::Local`); returns
    /// what became of each.
    pub(super) fn ingest(
        &mut self,
        now_ms: u64,
        arrival: Arrival,
        items: Vec<(Vec<u8>, u8)>,
    ) -> Result<Vec<Taken>, StoreError> {
        let source = arrival.source;
        let mut taken = vec![Taken::Refused; items.len()];
        let admitted = self.admit(now_ms, arrival, items, &mut taken);
        let mut records = Vec::new();
        let mut rec_idx = Vec::new();
        let mut rec_copies = Vec::new();
        for ((r, i), c) in self
            .verifier
            .verify_batch(admitted.records, &self.ring, now_ms / 1000)
            .into_iter()
            .zip(admitted.items)
            .zip(admitted.copies)
        {
            match r {
                Ok(r)
                    if self.admission.refuses(&r.author())
                        && r.kind() != haiqiao_proto::Kind::Distress =>
                {
                    self.stats.refused_revoked += 1;
                    self.out.push_back(Output::RefusedRevoked {
                        id: r.id(),
                        author: r.author(),
                    });
                }
                Ok(r) => {
                    records.push(r);
                    rec_idx.push(i);
                    rec_copies.push(c);
                }
                Err(RecordError::BadSignature) => {
                    taken[i] = Taken::Invalid;
                    self.stats.bad_signatures += 1;
                    if let Some(p) = source.peer() {
                        self.penalise(now_ms, p, Offence::BadSignature);
                    }
                }
                Err(_) => {}
            }
        }
        if !records.is_empty() {
            self.store_taken(now_ms, source, &records, &rec_idx, &rec_copies, &mut taken)?;
        }
        self.stats.refused += taken.iter().filter(|t| **t == Taken::Refused).count() as u64;
        Ok(taken)
    }

    /// Decodes records and admits them (quarantine, the peer's rate, duplicates, receipted
    /// records, the author's key and quota); what is admitted is left to verify. Records
    /// whose author's key is unknown wait for it, and the peer is asked for the keys.
    fn admit(
        &mut self,
        now_ms: u64,
        arrival: Arrival,
        items: Vec<(Vec<u8>, u8)>,
        taken: &mut [Taken],
    ) -> Admitted {
        let Arrival {
            source,
            frame,
            charged,
        } = arrival;
        let mut admitted = Admitted::default();
        let mut unknown_keys = BTreeSet::new();
        let max_copies = routing::max_copies(&self.cfg);
        let quarantined = self.admission.quarantined(source.peer(), now_ms);
        self.admission.start_batch();
        for (i, (bytes, copies)) in items.into_iter().enumerate() {
            let u = match Unverified::decode(&bytes) {
                Ok(u) => u,
                Err(_) => {
                    taken[i] = Taken::Invalid;
                    self.stats.malformed += 1;
                    if let Some(p) = source.peer() {
                        self.penalise(now_ms, p, Offence::MalformedRecord);
                    }
                    continue;
                }
            };
            let id = u.id();
            if let Source::Sync(p) = source
                && let Some(s) = self.sessions.get_mut(&p)
            {
                s.note_known(id);
            }
            let distress = u.envelope().body.priority() == Priority::Distress;
            if quarantined && !distress {
                continue;
            }
            // The peer's rate (distress has a bucket of its own): the excess is refused, not
            // penalised, and asked for again once the rate allows (backpressure).
            if let Some(p) = source.peer().filter(|_| !charged)
                && !self.admission.peer_allows(&self.cfg, p, distress, now_ms)
            {
                self.stats.rate_limited += 1;
                if !self.index.contains(&id) {
                    self.defer(now_ms, p, &id, u.envelope().author);
                }
                continue;
            }
            if self.index.contains(&id) {
                taken[i] = Taken::Held;
                self.stats.duplicates += 1;
                if let (true, Source::Sync(p)) = (copies > 0, source) {
                    self.take_copies(id, copies.min(max_copies), p);
                }
                continue;
            }
            if self.receipts.is_receipted(&id) {
                continue;
            }
            let author = u.envelope().author;
            if !self.ring.knows(&author) {
                if let Some(p) = source.peer() {
                    unknown_keys.insert(author);
                    // From a sync frame it keeps the copies it came with, and the frame's
                    // acknowledgement waits until it is stored (or given up).
                    let slot = match (source, frame) {
                        (Source::Sync(_), Some(seq)) => Some((seq, i as u16)),
                        _ => None,
                    };
                    if slot.is_some() && self.pending_keys.is_full(self.cfg.max_pending_keys) {
                        // Too many wait already: refused (the sender keeps its copies) and
                        // asked for again once its author's key is known, within the contact
                        // (`retry_keyless`). Pushing out the oldest instead lost it: a
                        // refused record is not offered again within a contact.
                        if let Some(s) = self.sessions.get_mut(&p) {
                            s.defer_for_key(short_id(&id), author);
                        }
                        continue;
                    }
                    let w = WaitingRecord {
                        peer: p,
                        bytes,
                        copies: if slot.is_some() { copies } else { 0 },
                        author,
                        slot,
                        short: short_id(&id),
                    };
                    if let Some(old) = self.pending_keys.push(w, self.cfg.max_pending_keys) {
                        if let Some(slot) = old.slot {
                            self.resolve_waiting(&old.peer, slot, false);
                        }
                        if let Some(s) = self.sessions.get_mut(&old.peer) {
                            s.defer_for_key(old.short, old.author);
                        }
                    }
                    if slot.is_some() {
                        taken[i] = Taken::Waiting;
                    }
                }
                continue;
            }
            let kind = u.envelope().body.kind();
            if !self
                .admission
                .author_allows(&self.cfg, author, kind, now_ms)
            {
                self.stats.rate_limited += 1;
                if let Some(p) = source.peer() {
                    self.defer(now_ms, p, &id, author);
                }
                continue;
            }
            admitted.items.push(i);
            admitted.copies.push(copies);
            admitted.records.push(u);
        }
        if !unknown_keys.is_empty()
            && let Some(s) = source.peer().and_then(|p| self.sessions.get_mut(&p))
        {
            let hints: Vec<KeyHint> = unknown_keys.into_iter().collect();
            for chunk in hints.chunks(MAX_KEYS_PER_FRAME) {
                s.push_control(Frame::WantKeys {
                    hints: chunk.to_vec(),
                });
            }
        }
        admitted
    }

    /// Stores verified records in one batch with the copies each is held with (and whether
    /// this node then answers for it); what is new is indexed and followed up.
    fn store_taken(
        &mut self,
        now_ms: u64,
        source: Source,
        records: &[Record],
        items: &[usize],
        copies: &[u8],
        taken: &mut [Taken],
    ) -> Result<(), StoreError> {
        let max_copies = routing::max_copies(&self.cfg);
        let metas: Vec<Meta> = records
            .iter()
            .zip(copies)
            .map(|(r, c)| {
                let dest = &r.envelope().dest;
                let copies = if routing::keeps_copies(dest, self.is_for_me(dest)) {
                    (*c).min(max_copies)
                } else {
                    0
                };
                Meta::new(&Summary::of(r), copies)
            })
            .collect();
        let kept: Vec<bool> = metas
            .iter()
            .map(|m| routing::custodial(m, self.me.as_bytes()))
            .collect();
        let outcomes = self.store.insert_batch_kept(records, &kept)?;
        for ((r, i), (o, meta)) in records
            .iter()
            .zip(items)
            .zip(outcomes.into_iter().zip(metas))
        {
            match o {
                InsertOutcome::Stored { evicted } => {
                    for e in evicted {
                        self.index_drop(&e);
                    }
                    self.index_add(r.id(), meta, || r.envelope().author);
                    taken[*i] = Taken::New;
                    self.stats.records_in += 1;
                    self.after_store(now_ms, r, source)?;
                }
                InsertOutcome::Duplicate | InsertOutcome::Superseded => taken[*i] = Taken::Held,
                InsertOutcome::Refused(_) => {}
            }
        }
        Ok(())
    }

    /// A record that waited for its key was stored (`ok`) or refused.
    fn resolve_waiting(&mut self, peer: &PublicKey, slot: (u32, u16), ok: bool) {
        if let Some(s) = self.sessions.get_mut(peer) {
            s.resolve_waiting(slot, ok);
        }
    }

    /// Keys arrived: the records that waited for them are taken in, one batch per peer.
    pub(super) fn retry_pending_keys(&mut self, now_ms: u64) -> Result<(), StoreError> {
        // The author's hint is kept with the bytes: a Keys frame re-decodes nothing that still
        // waits, and what is ready is verified in one batch per peer.
        let ready = self.pending_keys.take_ready(&self.ring);
        type Batch = (Vec<(Vec<u8>, u8)>, Vec<Option<(u32, u16)>>);
        let mut by_peer: BTreeMap<PublicKey, Batch> = BTreeMap::new();
        for w in ready {
            let e = by_peer.entry(w.peer).or_default();
            e.0.push((w.bytes, w.copies));
            e.1.push(w.slot);
        }
        for (peer, (items, slots)) in by_peer {
            // Their peer's rate was charged when they arrived.
            let arrival = Arrival {
                charged: true,
                ..Arrival::from(Source::Sync(peer))
            };
            let taken = self.ingest(now_ms, arrival, items)?;
            for (t, slot) in taken.into_iter().zip(slots) {
                if let Some(slot) = slot {
                    self.resolve_waiting(&peer, slot, matches!(t, Taken::New | Taken::Held));
                }
            }
        }
        Ok(())
    }

    /// Keys arrived: the records refused while too many waited for keys are asked for again
    /// of the peers that sent them, those whose author's key is now known.
    pub(super) fn retry_keyless(&mut self) {
        let (ring, index) = (&self.ring, &self.index);
        for s in self.sessions.values_mut() {
            s.retry_keyless(|a| ring.knows(a), |short| index.by_short(short).is_some());
        }
    }

    /// A peer handed over `copies` forwarding copies of a record this node holds already: they
    /// become ours (capped), so that binary spray's budget does not shrink with a duplicate;
    /// none for a record delivered here (its copies have done their work).
    fn take_copies(&mut self, id: RecordId, copies: u8, from: PublicKey) {
        let max_copies = routing::max_copies(&self.cfg);
        let (hint, role) = (self.hint, self.role);
        let Some(m) = self.index.get_mut(&id) else {
            return;
        };
        let for_me = routing::is_for_me(&m.dest, &hint, role, &self.groups);
        if m.is_flood() || !routing::keeps_copies(&m.dest, for_me) {
            return;
        }
        m.copies = m
            .copies
            .saturating_add(copies)
            .min(max_copies.max(m.copies));
        self.receipts.note_co_holder(id, from);
        self.mark_kept(&id);
    }

    /// What follows a new record: delivery, pushes and offers to peers, receipts.
    pub(super) fn after_store(
        &mut self,
        now_ms: u64,
        r: &Record,
        source: Source,
    ) -> Result<(), StoreError> {
        let env = r.envelope();
        let for_me = self.is_for_me(&env.dest);
        if r.author() == self.me {
            self.out.push_back(Output::Authored(r.clone()));
        } else if for_me {
            self.stats.delivered += 1;
            self.out.push_back(Output::Deliver(r.clone()));
        } else {
            self.out.push_back(Output::Carrying(r.id()));
        }
        let Some(m) = self.index.get(&r.id()).copied() else {
            return Ok(());
        };
        if m.copies > 0
            && let Source::Sync(p) = source
        {
            // The giver keeps a copy too: a receipt we get later is passed back to it.
            self.receipts.note_co_holder(r.id(), p);
        }
        // Hand it on to the connected peers that may lack it, over the sync stream, where
        // the engine orders and paces everything a peer is sent (there is no second path
        // that could put bulk ahead of a distress, or echo a record back); never back to the
        // peer it came from, nor to one known to hold it ([`routing::spread`]). Only flood
        // records this node wrote are pushed whole (no peer can hold them yet); relayed
        // ones, urgent too, are offered, and a peer offered one by several asks one
        // ([`crate::asked`]). Pushing relayed urgent records made a distress cross most
        // links twice (simulator, smoke 101-110, engine alone: distress overhead 62 against
        // a faithful epidemic's 38.7; offered: 40.4, at the same delivery and 1.0005 x the
        // oracle's median latency: a round trip per hop is nothing beside the hours a record
        // waits for a contact; docs/benchmarks.md, `bench flood`). Offering this node's own
        // routine records too was tried: 4 % fewer relays of positions and disputes in the
        // simulator, but a link's offer queue is bounded below a day's backlog and a thin
        // link's bytes per record rose to 1.5 x (link_tests); not kept.
        let me = self.standing(now_ms);
        let push = m.is_flood() && source == Source::Local;
        let from = source.peer().map(|p| p.hint());
        for (p, s) in self.sessions.iter_mut() {
            if Some(*p) == source.peer() || s.knows(&r.id()) {
                continue;
            }
            match routing::spread(&self.cfg, &m, &me, push, from, s.view()) {
                Spread::Push => {
                    s.queue_record((m.priority, m.created, r.id()), 0);
                }
                Spread::Offer => {
                    s.offer(m.short, m.priority <= Priority::Control);
                }
                Spread::No => {}
            }
        }
        let receipt = match r.body() {
            Body::Receipt { ids } => Some(ids),
            _ => None,
        };
        let counts = self.admission.trust().receipt_counts(&r.author());
        if let Some(ids) = receipt {
            // A receipt that counts frees our copies; one from a key not certified as a shore
            // station (as far as this node knows) frees nothing. Either way it goes on
            // towards the other holders (below): they judge it by what they know.
            if counts {
                self.apply_receipt(ids)?;
            } else {
                self.stats.receipts_not_counted += 1;
            }
        }
        if self.role == Role::Shore
            && matches!(env.dest, Destination::Shore | Destination::Mediators(_))
            && r.author() != self.me
        {
            self.receipts.receipt_later(&self.cfg, now_ms, r.id());
        }
        if let Some(ids) = receipt {
            // It goes on towards the other holders of what it names; a counted one answers
            // their offers of those records.
            if counts {
                for id in ids {
                    self.receipts
                        .remember_receipt_of(*id, r.id(), self.cfg.max_receipted);
                }
            }
            if let Some(m) = self.index.get(&r.id()) {
                let q = (m.priority, m.created, r.id());
                self.receipts
                    .route(q, ids, source.peer(), &mut self.sessions);
            }
        }
        Ok(())
    }
}
