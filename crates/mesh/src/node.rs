//! The delivery engine: one node's view of the mesh, with no I/O.
//!
//! # Call order
//!
//! ```text
//! let mut node = Node::new(config, key, role, store, now_ms)?;
//! node.handle(now_ms, Input::Restored { .. });  // and Keys, Groups, Trust, EtaShore: what
//!                                               // the host knows, whenever it changes
//! loop {
//!     node.handle(now_ms, input);          // an event happened (or Input::Tick: time passed)
//!     node.submit(now_ms, dest, ttl, body)?; // or: the application wrote a record
//!     while let Some(out) = node.poll_output() { /* send, publish, deliver, disconnect */ }
//!     let wake = node.poll_timeout();      // call handle(Input::Tick) no later than this
//! }
//! ```
//!
//! After every `handle` or `submit`, drain `poll_output` before waiting; then wait for the
//! next input or until `poll_timeout`. Time is the caller's clock in milliseconds since the
//! Unix epoch (records carry seconds); the engine never reads a clock, spawns, sleeps or draws
//! randomness, so the daemon, the simulator and the tests run the same code.
//!
//! # What happens on a contact
//!
//! Both sides send a [`Frame::Hello`] with the count and digest of each tier of their flood
//! set. Equal tiers are done in that one round trip. For a differing tier the side with fewer
//! records streams rateless-IBLT symbols ([`crate::riblt`]) and the other decodes the
//! difference as they arrive, pushing what the streamer lacks and asking for what it lacks;
//! tier 0 (distress, safety, control) goes before tier 1. Records for a node, pair, group,
//! area or shore are offered by short id to the peers routing picks ([`crate::routing`]).
//! Records travel in numbered frames; the receiver acknowledges a frame only once its records
//! are durable in its store (custody), and copies handed over come back if the contact drops
//! first. Everything sent is paced to the link's rate when it is known, most urgent first,
//! and no more than about half a second of the link's measured rate is ever outstanding
//! (`window.rs`), so that what comes later but matters more is not stuck behind it.
//!
//! # While a contact lasts
//!
//! A record stored after the reconciliation goes on to the connected peers over the same
//! stream: the node's own flood records and urgent ones whole, relayed flood records by short
//! id (the peer asks for what it lacks), bounded-copy records to the peers routing picks;
//! never back to the peer it came from. `Input::Gossip` is an ingress only (light clients
//! that speak gossipsub); the engine never publishes.
//!
//! # Parts
//!
//! `Node` holds the engine's parts together and sequences them; each part keeps its own
//! state and bounds and is tested on its own:
//!
//! - [`crate::session`]: one `Session` per connected peer, owning its protocol (hello,
//!   symbols, wants, offers, acknowledgements, in-flight frames, deferrals, pacing);
//! - [`crate::pump`]: turns a session's queues into frames, most urgent first, within the
//!   link's windows ([`crate::window`]);
//! - [`crate::admission`]: peer rates, author quotas, strangers, penalties and quarantine,
//!   trust and revocation, records waiting for their author's key;
//! - [`crate::receipts`]: shore receipts, co-holders, receipts owed, a station's batches;
//! - [`crate::routing`]: what goes to which peer, and this node's standing;
//! - the in-memory index of what is held ([`crate::index`]) and the [`Store`], the engine's
//!   durable memory.
//!
//! `node/frames.rs` handles what a peer sends on the sync stream, `node/ingest.rs` takes in
//! records (decode, admit, verify, store) and what follows a stored one, `node/write.rs` what
//! the application writes.

mod frames;
mod ingest;
mod write;

use std::collections::{BTreeMap, VecDeque};

use haiqiao_proto::wire::{Neighbours, SHORT_ID_LEN, TIERS, TierSummary};
use haiqiao_proto::{
    Body, Destination, KeyHint, KeyRing, Keypair, Kind, PublicKey, RecordId, Role, Timestamp,
};

use crate::admission::{Admission, PendingKeys};
use crate::asked::Asked;
use crate::config::MeshConfig;
use crate::defence::Offence;
use crate::events::{Input, MeshError, Output, Stats};
use crate::index::{Index, Meta, short_bytes, short_id};
use crate::pump::Pump;
use crate::receipts::Receipts;
use crate::routing;
use crate::session::{Hello, Session};
use crate::store::{Store, StoreError};
use crate::trust::TrustPolicy;
use crate::verifier::{BatchVerify, Verifier};

/// Most keys asked for in one `WantKeys` frame or taken from one `Keys` frame.
const MAX_KEYS_PER_FRAME: usize = 64;

/// Most other peers whose hints a hello's neighbour filter carries: with more, 64 bits say
/// little (12: about 10 % false positives; 32: 40 %), so a node with more links (a busy shore
/// station) sends none.
const MAX_FILTERED_NEIGHBOURS: usize = 12;

/// The delivery engine of one node. See the module docs for the call order.
#[derive(Debug)]
pub struct Node<S: Store> {
    cfg: MeshConfig,
    key: Keypair,
    me: PublicKey,
    hint: KeyHint,
    role: Role,
    groups: Vec<u32>,
    /// The engine's durable memory: a record is acknowledged to its sender only once the
    /// store said `Ok` (custody).
    store: S,
    ring: KeyRing,
    /// Checks the signatures of what comes in ([`BatchVerify`] unless the host gives another).
    verifier: Box<dyn Verifier>,
    index: Index,
    sessions: BTreeMap<PublicKey, Session>,
    /// Flood records asked of one peer, with the others that offered them.
    asked: Asked,
    admission: Admission,
    pending_keys: PendingKeys,
    receipts: Receipts,
    next_seq: u64,
    last_shore_ms: Option<u64>,
    /// When this node expects to reach shore (ms), while its host says it is steaming home.
    ashore_by_ms: Option<u64>,
    /// The hints of the peers it has sessions with (sorted): routing's "linked to", and the
    /// hello's neighbour filter.
    linked_hints: Vec<KeyHint>,
    next_sweep_ms: u64,
    out: VecDeque<Output>,
    stats: Stats,
}

impl<S: Store> Node<S> {
    /// Builds the engine over a store, indexing what it holds.
    pub fn new(
        cfg: MeshConfig,
        key: Keypair,
        role: Role,
        store: S,
        now_ms: u64,
    ) -> Result<Node<S>, MeshError> {
        let me = key.public();
        let mut ring = KeyRing::new(cfg.key_ring_capacity);
        ring.pin(me);
        let mut node = Node {
            hint: me.hint(),
            me,
            role,
            groups: Vec::new(),
            store,
            ring,
            verifier: Box::new(BatchVerify),
            index: Index::default(),
            sessions: BTreeMap::new(),
            asked: Asked::default(),
            admission: Admission::new(&cfg, me.hint(), now_ms),
            pending_keys: PendingKeys::default(),
            receipts: Receipts::default(),
            next_seq: 0,
            last_shore_ms: None,
            ashore_by_ms: None,
            linked_hints: Vec::new(),
            next_sweep_ms: now_ms,
            out: VecDeque::new(),
            stats: Stats::default(),
            key,
            cfg,
        };
        let summaries = node.store.summaries()?;
        let mut receipts = Vec::new();
        for s in &summaries {
            node.ring.insert(s.author);
            let copies = if s.author == me {
                routing::initial_copies(&node.cfg, &s.dest)
            } else {
                // Copies are not persisted: after a restart a carried record keeps one, so
                // it is still delivered and handed on by focus, but not sprayed again.
                u8::from(!node.is_for_me(&s.dest))
            };
            let meta = Meta::new(s, copies);
            if routing::custodial(&meta, me.as_bytes()) {
                node.store.set_kept(&s.id, true);
            }
            node.index_add(s.id, meta, || s.author.hint());
            if s.author == me {
                node.next_seq = node.next_seq.max(s.seq + 1);
            }
            if s.kind == Kind::Receipt {
                receipts.push(s.id);
            }
        }
        let max = node.cfg.max_receipted;
        for id in receipts {
            if let Some(r) = node.store.get(&id)?
                && let Body::Receipt { ids } = r.body()
            {
                for i in ids {
                    node.receipts.remember_receipted(*i, max);
                    node.receipts.remember_receipt_of(*i, id, max);
                }
            }
        }
        Ok(node)
    }

    /// Gives the engine another signature verifier than [`BatchVerify`]: a host that runs
    /// many engines over the same records may let them share what was verified (see
    /// [`crate::verifier`] for the contract). The daemon keeps the default.
    pub fn set_verifier(&mut self, verifier: Box<dyn Verifier>) {
        self.verifier = verifier;
    }

    // --- what the host tells the engine (settings among the inputs) ------------------------

    /// Applies what the host tells the engine ([`Input::Trust`] and the others after it).
    fn tell(&mut self, now_ms: u64, input: Input) -> Result<(), StoreError> {
        match input {
            Input::Trust(trust) => return self.apply_trust(trust),
            Input::EtaShore(eta_min) => self.ashore_by_ms = routing::ashore_by(now_ms, eta_min),
            Input::Groups(groups) => self.groups = groups,
            Input::Keys(keys) => {
                for k in keys {
                    self.ring.insert(k);
                }
            }
            Input::Restored {
                next_seq,
                last_shore_ms,
            } => {
                if let Some(seq) = next_seq {
                    self.next_seq = self.next_seq.max(seq);
                }
                if let Some(t) = last_shore_ms {
                    self.last_shore_ms = Some(self.last_shore_ms.map_or(t, |x| x.max(t)));
                }
            }
            Input::ContactUp { .. }
            | Input::ContactDown { .. }
            | Input::Frame { .. }
            | Input::Gossip { .. }
            | Input::Tick
            | Input::Written { .. } => {}
        }
        Ok(())
    }

    /// Replaces what the engine knows of certificates ([`Input::Trust`]).
    fn apply_trust(&mut self, trust: TrustPolicy) -> Result<(), StoreError> {
        let Some(old) = self.admission.set_trust(trust, &self.index) else {
            return Ok(());
        };
        self.refederate();
        let trust = self.admission.trust().clone();
        // Records of newly revoked keys leave the store, so that every store converges
        // (otherwise nodes that refuse them would fetch them again at every contact).
        let revoked: Vec<PublicKey> = if trust.enforced {
            trust
                .revoked
                .iter()
                .filter(|k| !old.enforced || !old.revoked.contains(k))
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        if !revoked.is_empty() {
            for s in self.store.summaries()? {
                if s.kind != Kind::Distress
                    && revoked.contains(&s.author)
                    && self.store.remove(&s.id)?
                {
                    self.index_drop(&s.id);
                    self.stats.refused_revoked += 1;
                }
            }
        }
        // Receipts are judged again only if what decides them changed (not for every new
        // vessel certificate, which changes quotas only).
        if old.enforced == trust.enforced
            && old.shore == trust.shore
            && old.revoked == trust.revoked
        {
            return Ok(());
        }
        self.receipts.forget_judgements();
        let receipts =
            self.store
                .by_kind(Kind::Receipt, Timestamp(0), Timestamp(u32::MAX), usize::MAX)?;
        for r in receipts {
            let Body::Receipt { ids } = r.body() else {
                continue;
            };
            let counts = trust.receipt_counts(&r.author());
            if counts || r.author() == self.me {
                for i in ids {
                    self.receipts
                        .remember_receipt_of(*i, r.id(), self.cfg.max_receipted);
                }
            }
            if counts {
                self.apply_receipt(ids)?;
            }
        }
        Ok(())
    }

    /// Shore federation follows trust: a linked shore station is federated once its receipts
    /// count (certified, not revoked) and no longer when they stop counting; a newly
    /// federated station is offered what reached shore here (sent at the next pump).
    fn refederate(&mut self) {
        if !(self.cfg.shore_federation && self.role == Role::Shore) {
            return;
        }
        let shore_bound: Vec<(u64, bool)> = self
            .index
            .iter()
            .filter(|(_, m)| {
                !m.is_flood()
                    && !m.is_receipt()
                    && matches!(m.dest, Destination::Shore | Destination::Mediators(_))
            })
            .map(|(_, m)| (m.short, m.priority <= haiqiao_proto::Priority::Control))
            .collect();
        for (peer, s) in &mut self.sessions {
            let federated = s.is_shore() && self.admission.trust().receipt_counts(peer);
            if s.set_federated(federated) {
                for (o, urgent) in &shore_bound {
                    if !s.offer(*o, *urgent) {
                        break;
                    }
                }
            }
        }
    }

    // --- what the engine says -------------------------------------------------------------

    /// Whether a record for `dest` is delivered to this node (rather than only carried).
    pub fn is_for_me(&self, dest: &Destination) -> bool {
        routing::is_for_me(dest, &self.hint, self.role, &self.groups)
    }

    /// What the engine knows of certificates.
    pub fn trust(&self) -> &TrustPolicy {
        self.admission.trust()
    }

    /// The next sequence number this node will use.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// This node's key.
    pub fn public_key(&self) -> PublicKey {
        self.me
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Peers with a session.
    pub fn peers(&self) -> impl Iterator<Item = &PublicKey> {
        self.sessions.keys()
    }

    /// Whether the peer's session has finished reconciling every tier and has nothing left to
    /// send or awaiting custody.
    pub fn is_idle_with(&self, peer: &PublicKey) -> bool {
        self.sessions.get(peer).is_some_and(Session::is_idle)
    }

    /// Records held.
    pub fn held(&self) -> usize {
        self.index.len()
    }

    /// Whether a record is held.
    pub fn holds(&self, id: &RecordId) -> bool {
        self.index.contains(id)
    }

    /// Forwarding copies held of a record (tests).
    #[cfg(test)]
    pub(crate) fn copies_of(&self, id: &RecordId) -> Option<u8> {
        self.index.get(id).map(|m| m.copies)
    }

    /// The full keys known here (heard authors, peers, this node) with this hint.
    pub fn keys_for(&self, hint: KeyHint) -> Vec<PublicKey> {
        self.ring.lookup(hint).copied().collect()
    }

    /// Whether a session's peer said it is a shore station.
    fn linked_to_shore(&self) -> bool {
        self.sessions.values().any(Session::is_shore)
    }

    /// Minutes since this node was last in contact with a shore station.
    pub fn shore_age_min(&self, now_ms: u64) -> u32 {
        routing::shore_age_min(
            self.role,
            self.role != Role::Shore && self.linked_to_shore(),
            self.last_shore_ms,
            now_ms,
        )
    }

    /// When this node was last in contact with a shore station, ms (`now_ms` while it is);
    /// none if never, as far as it knows. The daemon keeps it across restarts.
    pub fn last_shore_ms(&self, now_ms: u64) -> Option<u64> {
        if self.linked_to_shore() {
            return Some(now_ms);
        }
        self.last_shore_ms
    }

    /// Minutes until this node expects to reach shore, as its hello says (at least 1 while an
    /// estimate stands, even past it); none when its host has not said it is homeward, and
    /// none for a shore station.
    pub fn eta_shore_min(&self, now_ms: u64) -> Option<u32> {
        routing::eta_shore_min(self.role, self.ashore_by_ms, now_ms)
    }

    /// Until when a peer is quarantined (it reached [`MeshConfig::ban_threshold`] with
    /// malformed frames, forged records or protocol violations): only distress-class records
    /// are taken from it and sent to it, and its contact is kept. Drivers that relay gossip
    /// per peer may use it to send such a peer nothing else either.
    pub fn quarantined_until(&self, peer: &PublicKey, now_ms: u64) -> Option<u64> {
        self.admission.quarantined_until(peer, now_ms)
    }

    /// This node's standing, as routing compares it with a peer's.
    fn standing(&self, now_ms: u64) -> routing::Standing {
        routing::Standing {
            shore_age_min: self.shore_age_min(now_ms),
            ashore_by_ms: routing::ashore_by(now_ms, self.eta_shore_min(now_ms)),
            linked: self.linked_hints.clone(),
            hint: self.hint,
        }
    }

    /// The next output for the driver.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether outputs are waiting for [`Node::poll_output`].
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// When the engine next needs [`Input::Tick`], ms since the epoch.
    pub fn poll_timeout(&self) -> Option<u64> {
        let (window, stall) = (self.cfg.send_window_frames, self.cfg.send_stall_ms);
        std::iter::once(self.next_sweep_ms)
            .chain(self.receipts.next_timeout())
            .chain(self.asked.next_deadline())
            .chain(
                self.sessions
                    .values()
                    .filter_map(|s| s.next_timeout(window, stall)),
            )
            .min()
    }

    // --- what happens ---------------------------------------------------------------------

    /// Handles one input.
    ///
    /// Returns `StoreError` because the store is the engine's durable memory, driven from
    /// here: custody is acknowledged only once it said `Ok`, so a failed write must reach the
    /// host (which decides whether to carry on) rather than be swallowed. The engine stays
    /// usable after one.
    ///
    /// What the host tells the engine (`Trust`, `EtaShore`, `Groups`, `Keys`, `Restored`) is
    /// applied and nothing more: no timers run and nothing is sent until the next input.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Result<(), StoreError> {
        let r = match input {
            Input::ContactUp { peer, rate_bps } => {
                self.contact_up(now_ms, peer, rate_bps);
                Ok(())
            }
            Input::ContactDown { peer } => {
                self.contact_down(now_ms, &peer);
                Ok(())
            }
            Input::Frame { peer, bytes } => self.on_frame_bytes(now_ms, peer, &bytes),
            Input::Gossip { peer, bytes } => self.on_gossip(now_ms, peer, bytes),
            Input::Tick => Ok(()),
            Input::Written { peer, frames } => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.on_written(frames);
                }
                Ok(())
            }
            setting => return self.tell(now_ms, setting),
        };
        let t = self.timers(now_ms);
        self.pump_all(now_ms);
        r.and(t)
    }

    fn contact_up(&mut self, now_ms: u64, peer: PublicKey, rate_bps: Option<u32>) {
        if peer == self.me {
            return;
        }
        if !self.sessions.contains_key(&peer) && self.sessions.len() >= self.cfg.max_peers {
            self.out.push_back(Output::Disconnect {
                peer,
                until_ms: now_ms,
            });
            return;
        }
        self.ring.insert(peer);
        self.restore_in_flight(&peer);
        let mut tiers = [TierSummary::default(); TIERS];
        let mut snapshot = [Vec::new(), Vec::new()];
        for t in 0..TIERS {
            tiers[t] = self.index.summary(t);
            snapshot[t] = self.index.snapshot(t);
        }
        let hello = Hello {
            tiers,
            snapshot,
            shore_age_min: self.shore_age_min(now_ms),
            eta_shore_min: self.eta_shore_min(now_ms),
            linked: (1..=MAX_FILTERED_NEIGHBOURS)
                .contains(&self.sessions.len())
                .then(|| Neighbours::of(&self.linked_hints)),
        };
        let mut s = Session::new(rate_bps.filter(|r| *r > 0), now_ms, hello);
        // Receipts for records this peer was handed (or handed us) while it was away.
        for rid in self.receipts.take_owed(&peer) {
            if let Some(m) = self.index.get(&rid) {
                s.queue_record((m.priority, m.created, rid), 0);
            }
        }
        self.admission.peer_up(&self.cfg, peer, now_ms);
        self.sessions.insert(peer, s);
        self.refresh_neighbours();
    }

    fn contact_down(&mut self, now_ms: u64, peer: &PublicKey) {
        self.restore_in_flight(peer);
        // Records from it still waiting for a key were never acknowledged: their copies stay
        // with the sender.
        self.pending_keys.release(peer, None);
        let removed = self.sessions.remove(peer);
        self.refresh_neighbours();
        if removed.is_some_and(|s| s.is_shore()) {
            self.last_shore_ms = Some(now_ms);
        }
        self.admission.peer_down(peer);
    }

    /// Keeps `linked_hints` up to date as sessions come and go (a key's hint is a hash).
    fn refresh_neighbours(&mut self) {
        let mut hints: Vec<KeyHint> = self.sessions.keys().map(|k| k.hint()).collect();
        hints.sort_unstable();
        self.linked_hints = hints;
    }

    /// Copies handed over in frames that were never acknowledged come back.
    fn restore_in_flight(&mut self, peer: &PublicKey) {
        let Some(s) = self.sessions.get_mut(peer) else {
            return;
        };
        for (_, items) in s.take_in_flight() {
            for (id, k) in items {
                self.return_copies(&id, k);
            }
        }
    }

    /// Forwarding copies handed to a peer came back (refused, or never acknowledged).
    fn return_copies(&mut self, id: &RecordId, k: u8) {
        if let Some(m) = self.index.get_mut(id) {
            m.copies = m.copies.saturating_add(k);
            if k > 0 {
                self.mark_kept(id);
            }
        }
    }

    /// Tells the store whether this node answers for a held record.
    fn mark_kept(&mut self, id: &RecordId) {
        let kept = self
            .index
            .get(id)
            .is_some_and(|m| routing::custodial(m, self.me.as_bytes()));
        if self.store.is_kept(id) != kept {
            self.store.set_kept(id, kept);
        }
    }

    fn penalise(&mut self, now_ms: u64, peer: PublicKey, offence: Offence) {
        let p = self.admission.penalise(&self.cfg, peer, offence, now_ms);
        self.stats.penalties += 1;
        self.out.push_back(Output::Penalty {
            peer,
            offence,
            score: p.score,
        });
        if p.quarantined {
            self.stats.quarantined += 1;
        }
    }

    /// Indexes a record held from now on (`hint`: its author's, asked for only when the
    /// author has no other record held), counting it for its author.
    fn index_add(&mut self, id: RecordId, meta: Meta, hint: impl FnOnce() -> KeyHint) {
        if !self.index.contains(&id) {
            self.admission.count_held(&meta, hint);
        }
        self.asked.arrived(meta.short);
        self.index.insert(id, meta);
    }

    /// Forgets a record no longer held.
    fn index_drop(&mut self, id: &RecordId) {
        if let Some(m) = self.index.remove(id) {
            self.admission.uncount_held(&m);
        }
    }

    /// A counted receipt: remember the ids it names and free the copies held of them.
    fn apply_receipt(&mut self, ids: &[RecordId]) -> Result<(), StoreError> {
        for id in ids {
            self.receipts
                .remember_receipted(*id, self.cfg.max_receipted);
            let free = self
                .index
                .get(id)
                .is_some_and(|m| !m.is_flood() && !self.is_for_me(&m.dest));
            if free && self.store.remove(id)? {
                self.index_drop(id);
                self.stats.freed_by_receipt += 1;
                self.out.push_back(Output::Freed(*id));
            }
        }
        Ok(())
    }

    fn timers(&mut self, now_ms: u64) -> Result<(), StoreError> {
        self.ack_deadlines(now_ms);
        self.retry_deferred(now_ms);
        let sessions = &self.sessions;
        let again = self
            .asked
            .due(now_ms, self.cfg.want_retry_ms, |p| sessions.contains_key(p));
        for (peer, short) in again {
            if let Some(s) = self.sessions.get_mut(&peer) {
                s.want(short);
            }
        }
        for (peer, s) in &mut self.sessions {
            // It stopped reading: end the contact (the driver's `PeerDown` brings the copies
            // handed to it back). Not a penalty: a link can die without anyone's fault.
            if s.take_stall(now_ms, self.cfg.send_stall_ms) {
                self.out.push_back(Output::Disconnect {
                    peer: *peer,
                    until_ms: now_ms,
                });
            }
        }
        if now_ms >= self.next_sweep_ms {
            self.next_sweep_ms = now_ms + self.cfg.sweep_interval_ms.max(1);
            for id in self.store.sweep_expired(now_ms / 1000)? {
                self.index_drop(&id);
            }
            // The index may hold records the store dropped on its own (none expected): only
            // then scan it (a full scan per sweep was a third of a 300-node run's time).
            if self.index.len() as u64 != self.store.usage().records {
                for id in self.index.expired(now_ms / 1000) {
                    self.index_drop(&id);
                }
            }
            let index = &self.index;
            self.receipts.retain_held(|id| index.contains(id));
        }
        while let Some(ids) = self.receipts.due_batch(&self.cfg, now_ms) {
            match self.submit(
                now_ms,
                Destination::Everyone,
                self.cfg.receipt_ttl_min,
                Body::Receipt { ids },
            ) {
                Ok(_) => {}
                Err(MeshError::Store(e)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Sends what each session may send now ([`crate::pump`]); only sessions with something to
    /// send are looked at (a shore station has hundreds of idle ones).
    fn pump_all(&mut self, now_ms: u64) {
        let mut pump = Pump {
            cfg: &self.cfg,
            index: &mut self.index,
            store: &self.store,
            receipts: &mut self.receipts,
            stats: &mut self.stats,
        };
        for (peer, s) in self.sessions.iter_mut().filter(|(_, s)| s.has_work()) {
            let quarantined = self.admission.quarantined(Some(*peer), now_ms);
            for frame in pump.frames(now_ms, peer, s, quarantined) {
                self.out.push_back(Output::Send { peer: *peer, frame });
            }
        }
    }
}

/// The short id of a record id, as the sync frames carry it.
pub fn short_of(id: &RecordId) -> [u8; SHORT_ID_LEN] {
    short_bytes(short_id(id))
}
