//! The delivery engine: one node's view of the mesh, with no I/O.
//!
//! # Call order
//!
//! ```text
//! let mut node = Node::new(config, key, role, store, now_ms)?;
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use haiqiao_proto::wire::{Carried, Frame, Neighbours, SHORT_ID_LEN, SYMBOL_LEN, TIERS};
use haiqiao_proto::{
    Body, Destination, Envelope, KeyHint, KeyRing, Keypair, Kind, Priority, PublicKey, Record,
    RecordError, RecordId, Role, Timestamp, Unverified, verify_batch,
};

use crate::asked::Asked;
use crate::config::MeshConfig;
use crate::defence::{Bucket, Offence, Scores};
use crate::index::{Index, Meta, short_bytes, short_from, short_id};
use crate::riblt::{Decoder, Encoder, Side, Symbol};
use crate::routing::{self, Handoff, PeerView};
use crate::session::{
    HeldAck, MAX_HELD_ACKS, MAX_IN_FLIGHT_FRAMES, MAX_QUEUED_IDS, Session, TierSync,
};
use crate::store::{InsertOutcome, Refusal, Store, StoreError, Summary};
use crate::trust::TrustPolicy;

/// Something that happened, for the engine to act on.
#[derive(Debug, Clone)]
pub enum Input {
    /// A link to a peer came up; `rate_bps` is the link's rate when known.
    ContactUp {
        /// The peer.
        peer: PublicKey,
        /// Link rate, bits per second.
        rate_bps: Option<u32>,
    },
    /// The link to a peer went down.
    ContactDown {
        /// The peer.
        peer: PublicKey,
    },
    /// A sync frame arrived from a peer.
    Frame {
        /// The peer.
        peer: PublicKey,
        /// The frame's bytes.
        bytes: Vec<u8>,
    },
    /// A record arrived by live gossip from a peer.
    Gossip {
        /// The peer that relayed it.
        peer: PublicKey,
        /// The record's bytes.
        bytes: Vec<u8>,
    },
    /// Time passed (a timer from [`Node::poll_timeout`] fired).
    Tick,
    /// The transport wrote `frames` more of the frames sent to `peer` (flow control: with
    /// [`MeshConfig::send_window_frames`] set, at most that many frames are outstanding).
    Written {
        /// The peer.
        peer: PublicKey,
        /// How many frames, in order.
        frames: u32,
    },
}

/// The engine's verdict on a gossiped record (for the gossip layer's validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New and valid: forward it.
    Accept,
    /// Already held, or not wanted: do not forward, no fault.
    Ignore,
    /// Invalid: do not forward, the peer is at fault.
    Reject,
}

/// Something for the driver to do.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send a frame to a peer on the sync stream.
    Send {
        /// The peer.
        peer: PublicKey,
        /// The frame's bytes.
        frame: Vec<u8>,
    },
    /// The verdict on a gossiped record.
    GossipVerdict {
        /// The peer that relayed it.
        peer: PublicKey,
        /// Its id, if it decoded.
        id: Option<RecordId>,
        /// What to do with it.
        verdict: Verdict,
    },
    /// A record addressed to this node arrived for the first time.
    Deliver(Record),
    /// A peer was penalised.
    Penalty {
        /// The peer.
        peer: PublicKey,
        /// Why.
        offence: Offence,
        /// Its score now.
        score: u32,
    },
    /// This node took custody of a record addressed to others: it is durable here and will be
    /// carried on.
    Carrying(RecordId),
    /// A record of this node's own is stored (written by [`Node::submit`], or one of its old
    /// records handed back by a peer): for the application's views and bridges.
    Authored(Record),
    /// A shore receipt freed this node's copy of a record.
    Freed(RecordId),
    /// A record was refused because its author's key is revoked (see [`crate::TrustPolicy`]).
    RefusedRevoked {
        /// The record.
        id: RecordId,
        /// Its author.
        author: PublicKey,
    },
    /// Close the connection to a peer and refuse it until `until_ms`.
    Disconnect {
        /// The peer.
        peer: PublicKey,
        /// Until when it is refused.
        until_ms: u64,
    },
}

/// Errors of [`Node::submit`] and [`Node::new`].
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record is invalid.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store refused the record: [`Refusal::StoreFull`] when it is full of records this
    /// node answers for (not yet delivered) or of higher classes, [`Refusal::AuthorQuota`]
    /// when this author's share is (a writer faster than the mesh carries its records away).
    #[error("store refused the record: {0}")]
    Refused(Refusal),
    /// The author's key is revoked (only distress is taken from a revoked key).
    #[error("the author's key is revoked")]
    Revoked,
}

/// Counters, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames sent.
    pub frames_out: u64,
    /// Frame bytes sent.
    pub bytes_out: u64,
    /// Of which record bytes.
    pub record_bytes_out: u64,
    /// Records sent in frames.
    pub records_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frame bytes received.
    pub bytes_in: u64,
    /// New records stored from peers (sync or gossip).
    pub records_in: u64,
    /// Records received that were already held.
    pub duplicates: u64,
    /// Records refused (invalid, unwanted, rate-limited, store full).
    pub refused: u64,
    /// Records whose signature failed.
    pub bad_signatures: u64,
    /// Frames or records that did not decode.
    pub malformed: u64,
    /// Records delivered to the application.
    pub delivered: u64,
    /// Records handed to peers and acknowledged (custody taken).
    pub custody_acked: u64,
    /// Copies freed by shore receipts.
    pub freed_by_receipt: u64,
    /// Records this node wrote.
    pub submitted: u64,
    /// Penalties given.
    pub penalties: u64,
    /// Receipts stored whose author is not a certified shore station: they freed nothing.
    pub receipts_not_counted: u64,
    /// Records refused because their author's key is revoked.
    pub refused_revoked: u64,
    /// Records refused for their peer's or author's rate (asked for again later).
    pub rate_limited: u64,
    /// Peers put in quarantine (only distress-class records to and from them).
    pub quarantined: u64,
}

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Local,
    Sync(PublicKey),
    Gossip(PublicKey),
}

impl Source {
    fn peer(&self) -> Option<PublicKey> {
        match self {
            Source::Local => None,
            Source::Sync(p) | Source::Gossip(p) => Some(*p),
        }
    }
}

/// What became of one received record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Taken {
    New,
    Held,
    Refused,
    Invalid,
    /// Waiting for its author's key (from a sync frame: its acknowledgement waits too).
    Waiting,
}

/// The smallest records frame worth sending when the window is small, bytes (a frame may
/// always carry one record, however large).
const MIN_RECORDS_FRAME: usize = 256;

/// Most keys asked for in one `WantKeys` frame or taken from one `Keys` frame.
const MAX_KEYS_PER_FRAME: usize = 64;

/// Records refused for a rate whose ids are remembered per peer, to be asked for again.
const MAX_DEFERRED_IDS: usize = 10_000;

/// How often records refused for a rate are asked for again, ms.
const RATE_RETRY_MS: u64 = 1_000;

/// The highest shore age a hello reports (about 45 days: "long ago or never").
const MAX_SHORE_AGE_MIN: u32 = 65_535;

/// Peers remembered per carried record as holding a copy too (a receipt naming it is passed
/// to them). Binary spray hands at most log2(copies) + 1 copies on from one node.
const MAX_CO_HOLDERS: usize = 8;

/// Carried records whose co-holders are remembered.
const MAX_CO_HOLDER_RECORDS: usize = 100_000;

/// Peers owed a receipt (they hold a copy it frees and are not connected), and receipts owed
/// to one peer.
const MAX_OWED_PEERS: usize = 10_000;
const MAX_OWED_PER_PEER: usize = 256;

/// A record waiting for its author's key.
#[derive(Debug)]
struct WaitingRecord {
    /// The peer it came from.
    peer: PublicKey,
    bytes: Vec<u8>,
    /// The forwarding copies it arrived with: ours once it is stored and acknowledged. Zero if
    /// it came by gossip, or once its frame's acknowledgement reported it refused (the sender
    /// kept them).
    copies: u8,
    /// The author's hint, read once when it starts waiting, so that a `Keys` frame re-decodes
    /// none of those still waiting.
    author: KeyHint,
    /// The `Records` frame (sequence number, item) whose acknowledgement waits for it.
    slot: Option<(u32, u16)>,
}

/// Records waiting for their author's key, oldest first (at most
/// [`MeshConfig::max_pending_keys`]).
#[derive(Debug, Default)]
struct PendingKeys(VecDeque<WaitingRecord>);

impl PendingKeys {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn pop_front(&mut self) -> Option<WaitingRecord> {
        self.0.pop_front()
    }

    fn push_back(&mut self, w: WaitingRecord) {
        self.0.push_back(w);
    }

    /// The records from `peer` that the acknowledgement of frame `seq` waits for: from now on
    /// their copies stay with the sender. Returns their items.
    fn release(&mut self, peer: &PublicKey, seq: Option<u32>) -> Vec<u16> {
        let mut items = Vec::new();
        for w in self.0.iter_mut().filter(|w| w.peer == *peer) {
            if let Some((s, i)) = w.slot
                && seq.is_none_or(|q| q == s)
            {
                w.slot = None;
                w.copies = 0;
                items.push(i);
            }
        }
        items
    }
}

/// The delivery engine of one node. See the module docs for the call order.
#[derive(Debug)]
pub struct Node<S: Store> {
    cfg: MeshConfig,
    key: Keypair,
    me: PublicKey,
    hint: KeyHint,
    role: Role,
    groups: Vec<u32>,
    store: S,
    ring: KeyRing,
    index: Index,
    sessions: BTreeMap<PublicKey, Session>,
    /// Flood records asked of one peer, with the others that offered them.
    asked: Asked,
    scores: Scores,
    /// Peer rates: (peer, whether the bucket is the peer's distress-class bucket).
    peer_buckets: BTreeMap<(PublicKey, bool), Bucket>,
    /// Author quotas: (author, whether the bucket is the author's distress bucket).
    author_buckets: BTreeMap<(KeyHint, bool), Bucket>,
    pending_keys: PendingKeys,
    /// Uncertified authors as a group, when trust is enforced: their records other than
    /// distress, and their distress calls (each its own bucket).
    stranger_buckets: [Bucket; 2],
    /// Records held per author (not distress calls), while certificates are enforced: its
    /// hint, how many. At most one entry per author with a record held.
    held_by_author: BTreeMap<[u8; 32], (KeyHint, u32)>,
    /// Of which by uncertified authors (see [`MeshConfig::max_uncertified_held`]).
    strangers_held: u64,
    /// Uncertified authors' records admitted in the batch being ingested, not yet stored.
    strangers_admitted: u64,
    receipted: BTreeSet<RecordId>,
    receipted_order: VecDeque<RecordId>,
    /// Receipt routing: short id of a receipted record → (its id, the receipt's id).
    receipt_of: BTreeMap<u64, (RecordId, RecordId)>,
    receipt_of_order: VecDeque<u64>,
    /// Peers known to hold a forwarding copy of a record this node carries.
    co_holders: BTreeMap<RecordId, Vec<PublicKey>>,
    /// Receipts to hand a peer when it is next in contact.
    owed: BTreeMap<PublicKey, Vec<RecordId>>,
    receipt_queue: Vec<RecordId>,
    receipt_due: Option<u64>,
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
    trust: TrustPolicy,
}

/// Most other peers whose hints a hello's neighbour filter carries: with more, 64 bits say
/// little (12: about 10 % false positives; 32: 40 %), so a node with more links (a busy shore
/// station) sends none.
const MAX_FILTERED_NEIGHBOURS: usize = 12;

/// Symbols a streamer sends before the decoder first asks for more; both sides compute it
/// from the two hellos.
///
/// The count difference is a lower bound on the set difference. Measured means of symbols per
/// differing element are about 1.75 for small differences and 1.4 for large ones (the
/// `riblt` probe), so the burst aims at the mean: a shortfall costs a round trip, an excess
/// costs 11 bytes a symbol.
fn initial_burst(mine: u32, theirs: u32) -> u32 {
    match mine.abs_diff(theirs) {
        0 => 3,
        1 => 1,
        d if d < 64 => (d * 17).div_ceil(10),
        d => d.saturating_mul(29).div_ceil(20),
    }
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
            index: Index::default(),
            sessions: BTreeMap::new(),
            asked: Asked::default(),
            scores: Scores::default(),
            peer_buckets: BTreeMap::new(),
            author_buckets: BTreeMap::new(),
            pending_keys: PendingKeys::default(),
            stranger_buckets: [
                Bucket::full(cfg.uncertified_records_burst, now_ms),
                Bucket::full(cfg.uncertified_distress_burst, now_ms),
            ],
            held_by_author: BTreeMap::new(),
            strangers_held: 0,
            strangers_admitted: 0,
            receipted: BTreeSet::new(),
            receipted_order: VecDeque::new(),
            receipt_of: BTreeMap::new(),
            receipt_of_order: VecDeque::new(),
            co_holders: BTreeMap::new(),
            owed: BTreeMap::new(),
            receipt_queue: Vec::new(),
            receipt_due: None,
            next_seq: 0,
            last_shore_ms: None,
            ashore_by_ms: None,
            linked_hints: Vec::new(),
            next_sweep_ms: now_ms,
            out: VecDeque::new(),
            stats: Stats::default(),
            trust: TrustPolicy::default(),
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
                u8::from(!routing::is_for_me(&s.dest, &node.hint, role, &node.groups))
            };
            let meta = Meta::new(s, copies);
            if node.custodial(&meta) {
                node.store.set_kept(&s.id, true);
            }
            node.index_add(s.id, meta, || s.author.hint());
            if s.author == me {
                node.next_seq = node.next_seq.max(s.seq + 1);
            }
            if s.kind == haiqiao_proto::Kind::Receipt {
                receipts.push(s.id);
            }
        }
        for id in receipts {
            if let Some(r) = node.store.get(&id)?
                && let Body::Receipt { ids } = r.body()
            {
                for i in ids {
                    node.remember_receipted(*i);
                    node.remember_receipt_of(*i, id);
                }
            }
        }
        Ok(node)
    }

    /// Sets the groups this node belongs to (for group-addressed texts).
    pub fn set_groups(&mut self, groups: Vec<u32>) {
        self.groups = groups;
    }

    /// Shore federation follows trust: a linked shore station is federated once its receipts
    /// count (certified, not revoked) and no longer when they stop counting; a newly
    /// federated station is offered what reached shore here (sent at the next pump).
    fn refederate(&mut self) {
        if !(self.cfg.shore_federation && self.role == Role::Shore) {
            return;
        }
        let shore_bound: Vec<u64> = self
            .index
            .iter()
            .filter(|(_, m)| {
                !m.is_flood()
                    && !m.is_receipt()
                    && matches!(m.dest, Destination::Shore | Destination::Mediators(_))
            })
            .map(|(_, m)| m.short)
            .collect();
        for (peer, s) in &mut self.sessions {
            let Some(v) = s.view.as_mut() else { continue };
            let federated = v.shore_age_min == 0 && self.trust.receipt_counts(peer);
            if federated && !v.federated {
                for o in &shore_bound {
                    if s.offer.len() >= MAX_QUEUED_IDS {
                        break;
                    }
                    s.offer.insert(*o);
                }
            }
            v.federated = federated;
        }
    }

    /// Replaces what the engine knows of certificates (see [`TrustPolicy`]). Call it when
    /// trust changes; the node's fleet projections compute it. Receipts already held are
    /// judged again: those of newly certified shore stations free the copies they name now,
    /// and only counted receipts make the node refuse the records they name.
    pub fn set_trust(&mut self, trust: TrustPolicy) -> Result<(), StoreError> {
        if trust == self.trust {
            return Ok(());
        }
        let old = std::mem::replace(&mut self.trust, trust);
        self.recount_strangers(old.enforced);
        self.refederate();
        // Records of newly revoked keys leave the store, so that every store converges
        // (otherwise nodes that refuse them would fetch them again at every contact).
        let revoked: Vec<PublicKey> = if self.trust.enforced {
            self.trust
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
        if old.enforced == self.trust.enforced
            && old.shore == self.trust.shore
            && old.revoked == self.trust.revoked
        {
            return Ok(());
        }
        self.receipted.clear();
        self.receipted_order.clear();
        self.receipt_of.clear();
        self.receipt_of_order.clear();
        let receipts =
            self.store
                .by_kind(Kind::Receipt, Timestamp(0), Timestamp(u32::MAX), usize::MAX)?;
        for r in receipts {
            let Body::Receipt { ids } = r.body() else {
                continue;
            };
            let counts = self.trust.receipt_counts(&r.author());
            if counts || r.author() == self.me {
                for i in ids {
                    self.remember_receipt_of(*i, r.id());
                }
            }
            if counts {
                self.apply_receipt(ids)?;
            }
        }
        Ok(())
    }

    /// Whether a record for `dest` is delivered to this node (rather than only carried).
    pub fn is_for_me(&self, dest: &Destination) -> bool {
        routing::is_for_me(dest, &self.hint, self.role, &self.groups)
    }

    /// What the engine knows of certificates.
    pub fn trust(&self) -> &TrustPolicy {
        &self.trust
    }

    /// Takes in a record signed elsewhere by `author` (an authority's certificate issued on
    /// an offline key, say) as if it had been written here: verified, stored and carried.
    /// Returns the record, or why it was refused.
    pub fn import(
        &mut self,
        now_ms: u64,
        author: PublicKey,
        bytes: &[u8],
    ) -> Result<Record, MeshError> {
        let r = Unverified::decode(bytes)?.verify_with_key(&author, now_ms / 1000)?;
        if self.trust.refuses(&r.author()) && r.kind() != Kind::Distress {
            return Err(MeshError::Revoked);
        }
        self.ring.insert(author);
        match self.store.insert(&r)? {
            InsertOutcome::Stored { evicted } => {
                for e in evicted {
                    self.index_drop(&e);
                }
                let copies = routing::initial_copies(&self.cfg, &r.envelope().dest);
                self.index_add(r.id(), Meta::new(&Summary::of(&r), copies), || {
                    r.envelope().author
                });
                self.after_store(now_ms, &r, Source::Local)?;
                self.pump_all(now_ms);
                Ok(r)
            }
            InsertOutcome::Duplicate | InsertOutcome::Superseded => Ok(r),
            InsertOutcome::Refused(why) => Err(MeshError::Refused(why)),
        }
    }

    /// Makes sure the next sequence number is at least `seq` (the daemon persists its
    /// counter so that numbers never repeat after old records expire).
    pub fn ensure_next_seq(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
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
        self.sessions.get(peer).is_some_and(|s| {
            s.view.is_some()
                && s.tiers.iter().all(|t| matches!(t, TierSync::Done))
                && !s.has_work()
                && s.in_flight.is_empty()
        })
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

    /// Learns a key (e.g. from a certificate or configuration).
    pub fn learn_key(&mut self, key: PublicKey) {
        self.ring.insert(key);
    }

    /// Minutes since this node was last in contact with a shore station.
    pub fn shore_age_min(&self, now_ms: u64) -> u32 {
        if self.role == Role::Shore {
            return 0;
        }
        // A vessel never reports 0, which means "is a shore station": a vessel that reported
        // 0 while linked to shore was taken for a station by its peers (found by the
        // simulator: shore-bound records were "delivered" to boats in harbour).
        if self
            .sessions
            .values()
            .any(|s| s.view.is_some_and(|v| v.is_shore()))
        {
            return 1;
        }
        match self.last_shore_ms {
            Some(t) => {
                (now_ms.saturating_sub(t) / 60_000).clamp(1, u64::from(MAX_SHORE_AGE_MIN)) as u32
            }
            None => MAX_SHORE_AGE_MIN,
        }
    }

    /// When this node was last in contact with a shore station, ms (`now_ms` while it is);
    /// none if never, as far as it knows. The daemon keeps it across restarts.
    pub fn last_shore_ms(&self, now_ms: u64) -> Option<u64> {
        if self
            .sessions
            .values()
            .any(|s| s.view.is_some_and(|v| v.is_shore()))
        {
            return Some(now_ms);
        }
        self.last_shore_ms
    }

    /// Says when this node expects to reach shore: `Some(minutes)` while it is steaming home
    /// (its host's estimate: distance to port over speed, or the skipper's word), `None` when
    /// it is not. Peers' routing hands the last copy of a shore-bound record to the boat due
    /// ashore soonest. Sent in the hello of the contacts that come up from now on.
    pub fn set_eta_shore(&mut self, now_ms: u64, eta_min: Option<u32>) {
        self.ashore_by_ms = eta_min.map(|m| now_ms.saturating_add(u64::from(m) * 60_000));
    }

    /// Minutes until this node expects to reach shore, as its hello says (at least 1 while an
    /// estimate stands, even past it); none when its host has not said it is homeward, and
    /// none for a shore station.
    pub fn eta_shore_min(&self, now_ms: u64) -> Option<u32> {
        if self.role == Role::Shore {
            return None;
        }
        self.ashore_by_ms.map(|t| {
            (t.saturating_sub(now_ms).div_ceil(60_000)).clamp(1, u64::from(u32::MAX)) as u32
        })
    }

    fn standing(&self, now_ms: u64) -> routing::Standing {
        routing::Standing {
            shore_age_min: self.shore_age_min(now_ms),
            ashore_by_ms: self
                .eta_shore_min(now_ms)
                .map(|m| now_ms.saturating_add(u64::from(m) * 60_000)),
            linked: self.linked_hints.clone(),
            hint: self.hint,
        }
    }

    /// Keeps `linked_hints` up to date as sessions come and go (a key's hint is a hash).
    fn refresh_neighbours(&mut self) {
        let mut hints: Vec<KeyHint> = self.sessions.keys().map(|k| k.hint()).collect();
        hints.sort_unstable();
        self.linked_hints = hints;
    }

    /// Restores the time of the last shore contact after a restart (a later contact moves it
    /// on), so that a node restarted at sea does not pass for one that never saw shore.
    pub fn restore_last_shore_ms(&mut self, t: u64) {
        self.last_shore_ms = Some(self.last_shore_ms.map_or(t, |x| x.max(t)));
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
        let mut t = Some(self.next_sweep_ms);
        let mut min = |x: Option<u64>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.receipt_due);
        min(self.asked.next_deadline());
        for s in self.sessions.values() {
            // A session waiting for the transport is woken by `Input::Written`, not a timer,
            // unless the transport stalls.
            if s.has_work() && !self.window_full(s) {
                min(s.ready_at());
            }
            if let Some(t) = s.stalled_since {
                min(Some(t.saturating_add(self.cfg.send_stall_ms)));
            }
            min(s.held_acks.front().map(|h| h.deadline_ms));
            min(s.later_at);
        }
        t
    }

    fn window_full(&self, s: &Session) -> bool {
        self.cfg.send_window_frames > 0 && s.unwritten >= self.cfg.send_window_frames
    }

    /// Writes, signs and stores a record of this node's; it is then carried by the mesh.
    pub fn submit(
        &mut self,
        now_ms: u64,
        dest: Destination,
        ttl_min: u32,
        body: Body,
    ) -> Result<Record, MeshError> {
        let env = self.own_envelope(now_ms, dest, ttl_min, body);
        let record = Record::sign(&self.key, env)?;
        self.submit_signed(now_ms, record)
    }

    /// The envelope of this node's next record.
    fn own_envelope(&self, now_ms: u64, dest: Destination, ttl_min: u32, body: Body) -> Envelope {
        Envelope {
            author: self.hint,
            seq: self.next_seq,
            created: Timestamp((now_ms / 1000) as u32),
            ttl_min,
            dest,
            body,
        }
    }

    /// Writes a record sealed to `readers` (haiqiao_proto::seal): like [`Node::submit`], with
    /// the body encrypted to the readers' keys with the caller's fresh `entropy`. Relays carry
    /// it by its readable metadata. The caller checks the readers (1 to 16) and the kind
    /// (sealable); a failure of those checks is returned as an invalid `sealed` field.
    pub fn submit_sealed(
        &mut self,
        now_ms: u64,
        dest: Destination,
        ttl_min: u32,
        body: Body,
        readers: &[PublicKey],
        entropy: &haiqiao_proto::SealEntropy,
    ) -> Result<Record, MeshError> {
        let env = self.own_envelope(now_ms, dest, ttl_min, body);
        let record =
            haiqiao_proto::seal::seal(&self.key, &env, readers, entropy).map_err(|e| match e {
                haiqiao_proto::SealError::Record(r) => MeshError::Record(r),
                _ => MeshError::Record(RecordError::InvalidField {
                    field: "sealed",
                    reason: "not sealable to these readers",
                }),
            })?;
        self.submit_signed(now_ms, record)
    }

    /// Opens a sealed record with this node's key: the record as its author wrote it before
    /// sealing (a view: its bytes and id stay those of the sealed record, as stored and
    /// carried). Fails with `not_recipient` where this node is not a reader.
    pub fn open(&self, r: &Record) -> Result<Record, haiqiao_proto::SealError> {
        haiqiao_proto::seal::open_record(r, &self.key)
    }

    /// The full keys known here (heard authors, peers, this node) with this hint.
    pub fn keys_for(&self, hint: KeyHint) -> Vec<PublicKey> {
        self.ring.lookup(hint).copied().collect()
    }

    fn submit_signed(&mut self, now_ms: u64, record: Record) -> Result<Record, MeshError> {
        let dest = record.envelope().dest;
        let copies = routing::initial_copies(&self.cfg, &dest);
        let meta = Meta::new(&Summary::of(&record), copies);
        let kept = self.custodial(&meta);
        let outcome = self
            .store
            .insert_batch_kept(std::slice::from_ref(&record), &[kept])?
            .pop()
            .unwrap_or(InsertOutcome::Refused(Refusal::StoreFull));
        match outcome {
            InsertOutcome::Stored { evicted } => {
                self.next_seq += 1;
                self.stats.submitted += 1;
                for e in evicted {
                    self.index_drop(&e);
                }
                self.index_add(record.id(), meta, || record.envelope().author);
                self.after_store(now_ms, &record, Source::Local)?;
                self.pump_all(now_ms);
                Ok(record)
            }
            InsertOutcome::Duplicate | InsertOutcome::Superseded => {
                self.next_seq += 1;
                Ok(record)
            }
            InsertOutcome::Refused(r) => Err(MeshError::Refused(r)),
        }
    }

    /// Handles one input. Storage failures are returned; the engine stays usable.
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
                    s.unwritten = s.unwritten.saturating_sub(frames);
                    if frames > 0 {
                        s.stalled_since = None;
                    }
                }
                Ok(())
            }
        };
        let t = self.timers(now_ms);
        self.pump_all(now_ms);
        r.and(t)
    }

    // --- contacts -------------------------------------------------------------------------

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
        let mut s = Session::new(peer, rate_bps.filter(|r| *r > 0), now_ms);
        for t in 0..TIERS {
            s.mine[t] = self.index.summary(t);
            s.snapshot[t] = self.index.snapshot(t);
        }
        s.push_control(Frame::Hello {
            tiers: s.mine,
            shore_age_min: self.shore_age_min(now_ms),
            eta_shore_min: self.eta_shore_min(now_ms),
            linked: (1..=MAX_FILTERED_NEIGHBOURS)
                .contains(&self.sessions.len())
                .then(|| Neighbours::of(&self.linked_hints)),
        });
        // Receipts for records this peer was handed (or handed us) while it was away.
        for rid in self.owed.remove(&peer).unwrap_or_default() {
            if let Some(m) = self.index.get(&rid) {
                s.queue_record((m.priority, m.created, rid), 0);
            }
        }
        for distress in [false, true] {
            self.peer_buckets.insert(
                (peer, distress),
                Bucket::full(self.cfg.peer_records_burst, now_ms),
            );
        }
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
        if let Some(s) = removed
            && s.view.is_some_and(|v| v.is_shore())
        {
            self.last_shore_ms = Some(now_ms);
        }
        self.peer_buckets.remove(&(*peer, false));
        self.peer_buckets.remove(&(*peer, true));
    }

    /// Copies handed over in frames that were never acknowledged come back.
    fn restore_in_flight(&mut self, peer: &PublicKey) {
        let Some(s) = self.sessions.get_mut(peer) else {
            return;
        };
        for (_, items) in std::mem::take(&mut s.in_flight) {
            for (id, k) in items {
                if let Some(m) = self.index.get_mut(&id) {
                    m.copies = m.copies.saturating_add(k);
                    if k > 0 {
                        self.mark_kept(&id);
                    }
                }
            }
        }
    }

    /// Whether this node answers for a record, so that its store must not evict it for a
    /// record of the same class or lower (see the store contract's kept records): one it wrote
    /// (a flooded one until it expires, another while it holds forwarding copies), or one it
    /// took custody of and holds forwarding copies of. Not positions (they supersede) nor
    /// receipts (bookkeeping).
    fn custodial(&self, m: &Meta) -> bool {
        if m.is_receipt() || m.kind == Kind::Position {
            return false;
        }
        m.copies > 0 || (m.is_flood() && m.author == *self.me.as_bytes())
    }

    /// Tells the store whether this node answers for a held record.
    fn mark_kept(&mut self, id: &RecordId) {
        let kept = self.index.get(id).is_some_and(|m| self.custodial(m));
        if self.store.is_kept(id) != kept {
            self.store.set_kept(id, kept);
        }
    }

    fn penalise(&mut self, now_ms: u64, peer: PublicKey, offence: Offence) {
        let score = self.scores.add(peer, offence, now_ms);
        self.stats.penalties += 1;
        self.out.push_back(Output::Penalty {
            peer,
            offence,
            score,
        });
        if score >= self.cfg.ban_threshold {
            // Quarantine, not disconnection: distress must still flow to and from the peer
            // (a boat whose software misbehaves may still be the one nearest a distress).
            let until_ms = now_ms + self.cfg.ban_ms;
            self.scores.ban(peer, until_ms);
            self.stats.quarantined += 1;
        }
    }

    /// Until when a peer is quarantined (it reached [`MeshConfig::ban_threshold`] with
    /// malformed frames, forged records or protocol violations): only distress-class records
    /// are taken from it and sent to it, and its contact is kept. Drivers that relay gossip
    /// per peer may use it to send such a peer nothing else either.
    pub fn quarantined_until(&self, peer: &PublicKey, now_ms: u64) -> Option<u64> {
        self.scores.banned_until(peer, now_ms)
    }

    fn quarantined(&self, peer: Option<PublicKey>, now_ms: u64) -> bool {
        peer.is_some_and(|p| self.scores.banned_until(&p, now_ms).is_some())
    }

    /// A record from `peer` refused for its rate or its author's: asked for again (`Want`)
    /// once the rates allow it, so that a fast sender is slowed rather than losing anything.
    fn defer(&mut self, now_ms: u64, peer: PublicKey, id: &RecordId, author: KeyHint) {
        if let Some(s) = self.sessions.get_mut(&peer)
            && s.later.len() < MAX_DEFERRED_IDS
        {
            s.later.insert(short_id(id), author);
            s.later_at
                .get_or_insert(now_ms.saturating_add(RATE_RETRY_MS));
        }
    }

    /// Asks again for deferred records, as many as the peer's rate and their authors' allow.
    fn retry_deferred(&mut self, now_ms: u64) {
        let due: Vec<PublicKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.later_at.is_some_and(|t| t <= now_ms))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            let (rate, burst) = (self.cfg.peer_records_per_s, self.cfg.peer_records_burst);
            let mut budget = self
                .peer_buckets
                .get(&(peer, false))
                .map_or(u64::from(burst), |b| b.available(rate, burst, now_ms));
            let mut spent: BTreeMap<KeyHint, u64> = BTreeMap::new();
            let mut ask = Vec::new();
            if let Some(s) = self.sessions.get(&peer) {
                for (short, author) in &s.later {
                    if budget == 0 || ask.len() >= MAX_QUEUED_IDS.saturating_sub(s.want.len()) {
                        break;
                    }
                    let used = spent.entry(*author).or_insert(0);
                    if self.author_tokens(*author, now_ms) > *used {
                        *used += 1;
                        budget -= 1;
                        ask.push(*short);
                    }
                }
            }
            if let Some(s) = self.sessions.get_mut(&peer) {
                for short in ask {
                    s.later.remove(&short);
                    if self.index.by_short(short).is_none() {
                        s.want.insert(short);
                    }
                }
                s.later_at = (!s.later.is_empty()).then_some(now_ms.saturating_add(RATE_RETRY_MS));
            }
        }
    }

    // --- frames ---------------------------------------------------------------------------

    fn on_frame_bytes(
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
            } => self.on_symbols(now_ms, peer, tier as usize, start, &symbols)?,
            Frame::More { tier, count } => {
                let Some(s) = self.sessions.get_mut(&peer) else {
                    return Ok(());
                };
                match &mut s.tiers[tier as usize] {
                    TierSync::Streaming { credit, .. } => {
                        *credit = credit.saturating_add(count.min(self.cfg.max_symbols as u32));
                    }
                    TierSync::Done => {}
                    _ => self.penalise(now_ms, peer, Offence::ProtocolViolation),
                }
            }
            Frame::Done { tier } => {
                if let Some(s) = self.sessions.get_mut(&peer)
                    && matches!(s.tiers[tier as usize], TierSync::Streaming { .. })
                {
                    s.tiers[tier as usize] = TierSync::Done;
                }
            }
            Frame::Want { ids } => self.on_want(now_ms, peer, &ids)?,
            Frame::Offer { ids } => {
                let mut wanted = Vec::new();
                let Some(s) = self.sessions.get_mut(&peer) else {
                    return Ok(());
                };
                for id in ids {
                    let short = short_from(&id);
                    // A receipt names the offered record: the receipt is the answer (the
                    // peer frees its copy; shore need not receive it again).
                    if let Some(&(named, rid)) = self.receipt_of.get(&short)
                        && let Some(m) = self.index.get(&rid)
                    {
                        s.queue_record((m.priority, m.created, rid), 0);
                        s.known.insert(named);
                        continue;
                    }
                    match self.index.by_short(short) {
                        Some(full) => {
                            s.known.insert(full);
                        }
                        None if s.want.len() < MAX_QUEUED_IDS => {
                            wanted.push(short);
                        }
                        None => {}
                    }
                }
                self.want_once(now_ms, peer, wanted);
            }
            Frame::Records { seq, items } => {
                let results = self.ingest(
                    now_ms,
                    Source::Sync(peer),
                    items.into_iter().map(|c| (c.bytes, c.copies)).collect(),
                    Some(seq),
                    false,
                )?;
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
            Frame::Ack { upto, refused } => {
                let Some(s) = self.sessions.get_mut(&peer) else {
                    return Ok(());
                };
                s.window.acked(now_ms, upto);
                let done: Vec<u32> = s.in_flight.range(..=upto).map(|(k, _)| *k).collect();
                let peer_hint = s.view.map(|v| v.hint);
                let done: Vec<(u32, Vec<(RecordId, u8)>)> = done
                    .into_iter()
                    .filter_map(|f| s.in_flight.remove(&f).map(|items| (f, items)))
                    .collect();
                for (f, items) in done {
                    for (i, (id, k)) in items.into_iter().enumerate() {
                        let refused = refused.contains(&(f, i as u16));
                        let Some(s) = self.sessions.get_mut(&peer) else {
                            break;
                        };
                        let _ = s;
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
                        // Delivered to the node it is for: our forwarding copies have done
                        // their work (a pair's other boat is its only destination but the
                        // author).
                        if matches!(m.dest, Destination::Node(_) | Destination::Pair(..))
                            && peer_hint.is_some_and(|h| m.dest.names(&h))
                        {
                            m.copies = 0;
                        }
                        // Custody handed on: with no copies left this node no longer answers
                        // for the record (the store may evict it for newer ones).
                        if m.copies == 0 {
                            self.mark_kept(&id);
                        }
                    }
                }
            }
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
            }
        }
        Ok(())
    }

    fn on_hello(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        tiers: [haiqiao_proto::wire::TierSummary; TIERS],
        shore_age_min: u32,
        eta_shore_min: Option<u32>,
        linked: Option<Neighbours>,
    ) {
        let max_symbols = self.cfg.max_symbols;
        let me = self.me;
        let Some(s) = self.sessions.get_mut(&peer) else {
            return;
        };
        if s.view.is_some() {
            self.penalise(now_ms, peer, Offence::ProtocolViolation);
            return;
        }
        let view = PeerView {
            hint: peer.hint(),
            shore_age_min,
            ashore_by_ms: eta_shore_min.map(|m| now_ms.saturating_add(u64::from(m) * 60_000)),
            linked,
            federated: self.cfg.shore_federation
                && self.role == Role::Shore
                && shore_age_min == 0
                && self.trust.receipt_counts(&peer),
        };
        s.view = Some(view);
        for (t, theirs) in tiers.into_iter().enumerate() {
            let mine = s.mine[t];
            let snapshot = std::mem::take(&mut s.snapshot[t]);
            s.tiers[t] = if mine == theirs {
                TierSync::Done
            } else if mine.count < theirs.count || (mine.count == theirs.count && me < peer) {
                TierSync::Streaming {
                    enc: Box::new(Encoder::new(snapshot)),
                    credit: initial_burst(mine.count, theirs.count),
                }
            } else {
                TierSync::Decoding {
                    dec: Box::new(Decoder::new(snapshot, max_symbols)),
                    expected: initial_burst(mine.count, theirs.count),
                }
            };
        }
        if view.is_shore() {
            self.last_shore_ms = Some(now_ms);
        }
        // Offer the non-flood records routing hands this peer.
        let me = self.standing(now_ms);
        let offers: Vec<u64> = self
            .index
            .iter()
            .filter(|(_, m)| !m.is_flood())
            .filter(|(_, m)| routing::handoff(&self.cfg, m, &me, &view) != Handoff::No)
            .map(|(_, m)| m.short)
            .collect();
        if let Some(s) = self.sessions.get_mut(&peer) {
            for o in offers.into_iter().take(MAX_QUEUED_IDS) {
                s.offer.insert(o);
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
    ) -> Result<(), StoreError> {
        let Some(s) = self.sessions.get_mut(&peer) else {
            return Ok(());
        };
        let TierSync::Decoding { dec, expected } = &mut s.tiers[tier] else {
            if !matches!(s.tiers[tier], TierSync::Done) {
                self.penalise(now_ms, peer, Offence::ProtocolViolation);
            }
            return Ok(());
        };
        if start as usize != dec.received() {
            self.penalise(now_ms, peer, Offence::ProtocolViolation);
            return Ok(());
        }
        for sym in symbols {
            dec.add_symbol(Symbol::from_bytes(sym));
            if dec.is_done() || dec.exhausted() {
                break;
            }
        }
        let decoded = dec.take_decoded();
        let finished = dec.is_done() || dec.exhausted();
        let received = dec.received() as u32;
        let mut more = None;
        if finished {
            s.tiers[tier] = TierSync::Done;
            s.push_control(Frame::Done { tier: tier as u8 });
        } else if received >= *expected {
            let count = (received / 8).max(2);
            *expected = expected.saturating_add(count);
            more = Some(count);
        }
        if let Some(count) = more {
            s.push_control(Frame::More {
                tier: tier as u8,
                count,
            });
        }
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
        Ok(())
    }

    /// Asks `peer` for the records it offered or reconciliation found it holds, unless
    /// another peer was already asked for one (then `peer` is its alternative: [`Asked`]).
    fn want_once(&mut self, now_ms: u64, peer: PublicKey, shorts: Vec<u64>) {
        let retry = self.cfg.want_retry_ms;
        for short in shorts {
            let sessions = &self.sessions;
            if self
                .asked
                .ask(now_ms, retry, peer, short, |p| sessions.contains_key(p))
                && let Some(s) = self.sessions.get_mut(&peer)
                && s.want.len() < MAX_QUEUED_IDS
            {
                s.want.insert(short);
            }
        }
    }

    fn on_want(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        ids: &[[u8; SHORT_ID_LEN]],
    ) -> Result<(), StoreError> {
        let me = self.standing(now_ms);
        let quarantined = self.quarantined(Some(peer), now_ms);
        let Some(s) = self.sessions.get_mut(&peer) else {
            return Ok(());
        };
        let Some(view) = s.view else { return Ok(()) };
        for id in ids {
            let short = short_from(id);
            let Some(full) = self.index.by_short(short) else {
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
                // A peer that asks for an urgent record missed it on the flood's tree: push
                // it the next ones again (Plumtree's graft).
                if m.is_flood() && m.priority <= Priority::Safety {
                    s.eager = true;
                }
                s.known.remove(&full);
                s.queue_record((m.priority, m.created, full), k);
            }
        }
        Ok(())
    }

    // --- records --------------------------------------------------------------------------

    fn on_gossip(
        &mut self,
        now_ms: u64,
        peer: PublicKey,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let id = Unverified::decode(&bytes).ok().map(|u| u.id());
        let taken = self.ingest(now_ms, Source::Gossip(peer), vec![(bytes, 0)], None, false)?;
        let verdict = match taken.first() {
            Some(Taken::New) => Verdict::Accept,
            Some(Taken::Invalid) => Verdict::Reject,
            _ => Verdict::Ignore,
        };
        self.out
            .push_back(Output::GossipVerdict { peer, id, verdict });
        Ok(())
    }

    /// Indexes a record held from now on (`hint`: its author's, asked for only when the
    /// author has no other record held), counting it for its author.
    fn index_add(&mut self, id: RecordId, meta: Meta, hint: impl FnOnce() -> KeyHint) {
        // Counted only while certificates are enforced (none are strangers otherwise; the
        // simulator runs with trust off and ten thousand authors per node).
        if self.trust.enforced && meta.kind != Kind::Distress && !self.index.contains(&id) {
            let e = self
                .held_by_author
                .entry(meta.author)
                .or_insert_with(|| (hint(), 0));
            e.1 += 1;
            let hint = e.0;
            if self.is_stranger(&hint) {
                self.strangers_held += 1;
            }
        }
        self.asked.arrived(meta.short);
        self.index.insert(id, meta);
    }

    /// Forgets a record no longer held.
    fn index_drop(&mut self, id: &RecordId) {
        let Some(m) = self.index.remove(id) else {
            return;
        };
        if m.kind == Kind::Distress || !self.trust.enforced {
            return;
        }
        if let Some(e) = self.held_by_author.get_mut(&m.author) {
            let hint = e.0;
            e.1 = e.1.saturating_sub(1);
            if e.1 == 0 {
                self.held_by_author.remove(&m.author);
            }
            if self.is_stranger(&hint) {
                self.strangers_held = self.strangers_held.saturating_sub(1);
            }
        }
    }

    /// Whether `author` is a stranger: trust is enforced and it holds no certificate (nor is
    /// it an anchor, nor this node).
    fn is_stranger(&self, author: &KeyHint) -> bool {
        *author != self.hint && !self.trust.full_quota(author)
    }

    /// Counts again the records held from strangers (trust changed); counts the records held
    /// per author from scratch when enforcement starts, and forgets them when it stops.
    fn recount_strangers(&mut self, was_enforced: bool) {
        if !self.trust.enforced {
            self.held_by_author.clear();
            self.strangers_held = 0;
            return;
        }
        if !was_enforced {
            self.held_by_author.clear();
            for (_, m) in self.index.iter() {
                if m.kind == Kind::Distress {
                    continue;
                }
                if let Some(e) = self.held_by_author.get_mut(&m.author) {
                    e.1 += 1;
                } else if let Ok(k) = PublicKey::from_bytes(&m.author) {
                    self.held_by_author.insert(m.author, (k.hint(), 1));
                }
            }
        }
        self.strangers_held = self
            .held_by_author
            .values()
            .filter(|(h, _)| self.is_stranger(h))
            .map(|(_, n)| u64::from(*n))
            .sum();
    }

    /// Records of `author` (other than distress) its quota would take now, without taking any.
    fn author_tokens(&self, author: KeyHint, now_ms: u64) -> u64 {
        if author == self.hint || self.trust.anchors.contains(&author) {
            return u64::MAX;
        }
        let (rate, burst) = if self.trust.full_quota(&author) {
            (self.cfg.author_records_per_s, self.cfg.author_records_burst)
        } else {
            (
                self.cfg.uncertified_author_records_per_s,
                self.cfg.uncertified_author_records_burst,
            )
        };
        let own = self
            .author_buckets
            .get(&(author, false))
            .map_or(u64::from(burst), |b| b.available(rate, burst, now_ms));
        if !self.is_stranger(&author) {
            return own;
        }
        let room = (self.cfg.max_uncertified_held as u64).saturating_sub(self.strangers_held);
        let group = self.stranger_buckets[0].available(
            self.cfg.uncertified_records_per_s,
            self.cfg.uncertified_records_burst,
            now_ms,
        );
        own.min(room).min(group)
    }

    fn author_allows(&mut self, author: KeyHint, kind: Kind, now_ms: u64) -> bool {
        if author == self.hint || self.trust.anchors.contains(&author) {
            return true;
        }
        // Uncertified authors get the tighter quota. Every author's distress calls have a
        // bucket of their own (at the author's rate), so that a distress gets through whatever
        // the author sent before, and nothing else can ride on the exemption.
        let full = self.trust.full_quota(&author);
        let distress = kind == Kind::Distress;
        let key = (author, distress);
        if !self.author_buckets.contains_key(&key)
            && self.author_buckets.len() >= self.cfg.max_tracked_authors
        {
            // Forget the author seen longest ago (oldest refill time).
            if let Some(k) = self
                .author_buckets
                .iter()
                .min_by_key(|(_, b)| b.last_ms())
                .map(|(k, _)| *k)
            {
                self.author_buckets.remove(&k);
            }
        }
        let (rate, burst) = if full {
            (self.cfg.author_records_per_s, self.cfg.author_records_burst)
        } else {
            (
                self.cfg.uncertified_author_records_per_s,
                self.cfg.uncertified_author_records_burst,
            )
        };
        if full {
            return self
                .author_buckets
                .entry(key)
                .or_insert_with(|| Bucket::full(burst, now_ms))
                .take(rate, burst, now_ms);
        }
        // Strangers as a group: fresh keys cost nothing to make, so a quota per key alone
        // does not bound them. Their records share one bucket and a cap on what is held;
        // their distress calls share a small bucket of their own, so that a flood of
        // stranger records never stops a stranger's distress.
        let capped = !distress
            && self.strangers_held + self.strangers_admitted
                >= self.cfg.max_uncertified_held as u64;
        if capped {
            return false;
        }
        let group = usize::from(distress);
        let (g_rate, g_burst) = if distress {
            (
                self.cfg.uncertified_distress_per_s,
                self.cfg.uncertified_distress_burst,
            )
        } else {
            (
                self.cfg.uncertified_records_per_s,
                self.cfg.uncertified_records_burst,
            )
        };
        if self.stranger_buckets[group].available(g_rate, g_burst, now_ms) == 0 {
            return false;
        }
        let ok = self
            .author_buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(burst, now_ms))
            .take(rate, burst, now_ms)
            && self.stranger_buckets[group].take(g_rate, g_burst, now_ms);
        if ok && !distress {
            self.strangers_admitted += 1;
        }
        ok
    }

    /// Decodes, verifies and stores records from a peer; returns what became of each. `frame`
    /// is the `Records` frame they came in (its acknowledgement waits for those that wait for
    /// a key); `charged`: the peer's rate was charged for them already (they waited for a key).
    fn ingest(
        &mut self,
        now_ms: u64,
        source: Source,
        items: Vec<(Vec<u8>, u8)>,
        frame: Option<u32>,
        charged: bool,
    ) -> Result<Vec<Taken>, StoreError> {
        let now_s = now_ms / 1000;
        let mut taken = vec![Taken::Refused; items.len()];
        let mut to_verify = Vec::new();
        let mut verify_idx = Vec::new();
        let mut copies_of = Vec::new();
        let mut unknown_keys = BTreeSet::new();
        let max_copies = self.cfg.shore_copies.max(self.cfg.direct_copies);
        let quarantined = self.quarantined(source.peer(), now_ms);
        self.strangers_admitted = 0;
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
            if let (Some(p), Source::Sync(_)) = (source.peer(), source)
                && let Some(s) = self.sessions.get_mut(&p)
            {
                s.known.insert(id);
            }
            let distress = u.envelope().body.priority() == Priority::Distress;
            if quarantined && !distress {
                continue;
            }
            // The peer's rate (distress has a bucket of its own): the excess is refused, not
            // penalised, and asked for again once the rate allows (backpressure).
            if let Some(p) = source.peer().filter(|_| !charged) {
                let (rate, burst) = (self.cfg.peer_records_per_s, self.cfg.peer_records_burst);
                let bucket = self
                    .peer_buckets
                    .entry((p, distress))
                    .or_insert_with(|| Bucket::full(burst, now_ms));
                if !bucket.take(rate, burst, now_ms) {
                    self.stats.rate_limited += 1;
                    if !self.index.contains(&id) {
                        self.defer(now_ms, p, &id, u.envelope().author);
                    }
                    continue;
                }
            }
            if self.index.contains(&id) {
                taken[i] = Taken::Held;
                self.stats.duplicates += 1;
                // An urgent record pushed to us that we already hold: the link is off the
                // flood's tree, so we stop pushing urgent records to that peer (see
                // `Session::eager`).
                if let Source::Sync(p) = source
                    && u.envelope().body.priority() <= Priority::Safety
                    && let Some(s) = self.sessions.get_mut(&p)
                {
                    s.eager = false;
                }
                if let (true, Source::Sync(p)) = (copies > 0, source) {
                    self.take_copies(id, copies.min(max_copies), p);
                }
                continue;
            }
            if self.receipted.contains(&id) {
                continue;
            }
            let author = u.envelope().author;
            if !self.ring.knows(&author) {
                if let Some(p) = source.peer() {
                    unknown_keys.insert(author);
                    if self.pending_keys.len() >= self.cfg.max_pending_keys.max(1)
                        && let Some(old) = self.pending_keys.pop_front()
                        && let Some(slot) = old.slot
                    {
                        self.resolve_waiting(&old.peer, slot, false);
                    }
                    // From a sync frame it keeps the copies it came with, and the frame's
                    // acknowledgement waits until it is stored (or given up).
                    let slot = match (source, frame) {
                        (Source::Sync(_), Some(seq)) => Some((seq, i as u16)),
                        _ => None,
                    };
                    self.pending_keys.push_back(WaitingRecord {
                        peer: p,
                        bytes,
                        copies: if slot.is_some() { copies } else { 0 },
                        author,
                        slot,
                    });
                    if slot.is_some() {
                        taken[i] = Taken::Waiting;
                    }
                }
                continue;
            }
            let kind = u.envelope().body.kind();
            if !self.author_allows(author, kind, now_ms) {
                self.stats.rate_limited += 1;
                if let Some(p) = source.peer() {
                    self.defer(now_ms, p, &id, author);
                }
                continue;
            }
            verify_idx.push(i);
            copies_of.push(copies);
            to_verify.push(u);
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
        let mut records = Vec::new();
        let mut rec_idx = Vec::new();
        let mut rec_copies = Vec::new();
        for ((r, i), c) in verify_batch(to_verify, &self.ring, now_s)
            .into_iter()
            .zip(verify_idx)
            .zip(copies_of)
        {
            match r {
                Ok(r) if self.trust.refuses(&r.author()) && r.kind() != Kind::Distress => {
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
        if records.is_empty() {
            self.stats.refused += taken.iter().filter(|t| **t == Taken::Refused).count() as u64;
            return Ok(taken);
        }
        // The copies each record is held with, and whether this node then answers for it.
        let metas: Vec<Meta> = records
            .iter()
            .zip(&rec_copies)
            .map(|(r, c)| {
                let for_me =
                    routing::is_for_me(&r.envelope().dest, &self.hint, self.role, &self.groups);
                let copies = if for_me && !matches!(r.envelope().dest, Destination::Pair(..)) {
                    0
                } else {
                    (*c).min(max_copies)
                };
                Meta::new(&Summary::of(r), copies)
            })
            .collect();
        let kept: Vec<bool> = metas.iter().map(|m| self.custodial(m)).collect();
        let outcomes = self.store.insert_batch_kept(&records, &kept)?;
        for ((r, i), (o, meta)) in records
            .iter()
            .zip(rec_idx)
            .zip(outcomes.into_iter().zip(metas))
        {
            match o {
                InsertOutcome::Stored { evicted } => {
                    for e in evicted {
                        self.index_drop(&e);
                    }
                    self.index_add(r.id(), meta, || r.envelope().author);
                    taken[i] = Taken::New;
                    self.stats.records_in += 1;
                    self.after_store(now_ms, r, source)?;
                }
                InsertOutcome::Duplicate | InsertOutcome::Superseded => taken[i] = Taken::Held,
                InsertOutcome::Refused(_) => {}
            }
        }
        self.stats.refused += taken.iter().filter(|t| **t == Taken::Refused).count() as u64;
        Ok(taken)
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
        if waiting.is_empty() && s.held_acks.is_empty() {
            s.push_control(Frame::Ack { upto: seq, refused });
            return;
        }
        let full = s.held_acks.len() >= MAX_HELD_ACKS;
        s.held_acks.push_back(HeldAck {
            seq,
            refused,
            waiting,
            deadline_ms,
        });
        if full {
            // More frames than a sender may have awaiting custody: give up the oldest.
            self.give_up_held_ack(&peer);
        }
        self.flush_acks(&peer);
    }

    /// Reports the records the first held acknowledgement still waits for as refused (their
    /// copies stay with the sender; the records stay waiting, with none).
    fn give_up_held_ack(&mut self, peer: &PublicKey) {
        let Some(seq) = self
            .sessions
            .get(peer)
            .and_then(|s| s.held_acks.front())
            .map(|h| h.seq)
        else {
            return;
        };
        self.pending_keys.release(peer, Some(seq));
        if let Some(h) = self
            .sessions
            .get_mut(peer)
            .and_then(|s| s.held_acks.front_mut())
        {
            for i in std::mem::take(&mut h.waiting) {
                h.refused.push((seq, i));
            }
        }
    }

    /// Sends the held acknowledgements that wait for nothing any more, in order.
    fn flush_acks(&mut self, peer: &PublicKey) {
        let Some(s) = self.sessions.get_mut(peer) else {
            return;
        };
        while s.held_acks.front().is_some_and(|h| h.waiting.is_empty()) {
            if let Some(h) = s.held_acks.pop_front() {
                s.push_control(Frame::Ack {
                    upto: h.seq,
                    refused: h.refused,
                });
            }
        }
    }

    /// A record that waited for its key was stored (`ok`) or refused.
    fn resolve_waiting(&mut self, peer: &PublicKey, (seq, item): (u32, u16), ok: bool) {
        if let Some(h) = self
            .sessions
            .get_mut(peer)
            .and_then(|s| s.held_acks.iter_mut().find(|h| h.seq == seq))
            && let Some(pos) = h.waiting.iter().position(|i| *i == item)
        {
            h.waiting.swap_remove(pos);
            if !ok {
                h.refused.push((seq, item));
            }
        }
        self.flush_acks(peer);
    }

    /// Held acknowledgements whose records waited too long for their keys.
    fn ack_deadlines(&mut self, now_ms: u64) {
        let due: Vec<PublicKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.held_acks.front().is_some_and(|h| h.deadline_ms <= now_ms))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            while self
                .sessions
                .get(&peer)
                .and_then(|s| s.held_acks.front())
                .is_some_and(|h| h.deadline_ms <= now_ms)
            {
                self.give_up_held_ack(&peer);
                self.flush_acks(&peer);
            }
        }
    }

    fn retry_pending_keys(&mut self, now_ms: u64) -> Result<(), StoreError> {
        // The author's hint is kept with the bytes: a Keys frame re-decodes nothing that still
        // waits, and what is ready is verified in one batch per peer.
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_keys.0)
            .into_iter()
            .partition(|w| self.ring.knows(&w.author));
        self.pending_keys.0 = wait.into_iter().collect();
        type Batch = (Vec<(Vec<u8>, u8)>, Vec<Option<(u32, u16)>>);
        let mut by_peer: BTreeMap<PublicKey, Batch> = BTreeMap::new();
        for w in ready {
            let e = by_peer.entry(w.peer).or_default();
            e.0.push((w.bytes, w.copies));
            e.1.push(w.slot);
        }
        for (peer, (items, slots)) in by_peer {
            // Their peer's rate was charged when they arrived.
            let taken = self.ingest(now_ms, Source::Sync(peer), items, None, true)?;
            for (t, slot) in taken.into_iter().zip(slots) {
                if let Some(slot) = slot {
                    self.resolve_waiting(&peer, slot, matches!(t, Taken::New | Taken::Held));
                }
            }
        }
        Ok(())
    }

    /// A peer handed over `copies` forwarding copies of a record this node holds already: they
    /// become ours (capped), so that binary spray's budget does not shrink with a duplicate;
    /// none for a record delivered here (its copies have done their work).
    fn take_copies(&mut self, id: RecordId, copies: u8, from: PublicKey) {
        let max_copies = self.cfg.shore_copies.max(self.cfg.direct_copies);
        let (hint, role) = (self.hint, self.role);
        let Some(m) = self.index.get_mut(&id) else {
            return;
        };
        let for_me = routing::is_for_me(&m.dest, &hint, role, &self.groups);
        if m.is_flood() || (for_me && !matches!(m.dest, Destination::Pair(..))) {
            return;
        }
        m.copies = m
            .copies
            .saturating_add(copies)
            .min(max_copies.max(m.copies));
        self.note_co_holder(id, from);
        self.mark_kept(&id);
    }

    fn remember_receipted(&mut self, id: RecordId) {
        if self.receipted.insert(id) {
            self.receipted_order.push_back(id);
            while self.receipted_order.len() > self.cfg.max_receipted {
                if let Some(old) = self.receipted_order.pop_front() {
                    self.receipted.remove(&old);
                }
            }
        }
    }

    /// A counted receipt: remember the ids it names and free the copies held of them.
    fn apply_receipt(&mut self, ids: &[RecordId]) -> Result<(), StoreError> {
        for id in ids {
            self.remember_receipted(*id);
            let free = self.index.get(id).is_some_and(|m| {
                !m.is_flood() && !routing::is_for_me(&m.dest, &self.hint, self.role, &self.groups)
            });
            if free && self.store.remove(id)? {
                self.index_drop(id);
                self.stats.freed_by_receipt += 1;
                self.out.push_back(Output::Freed(*id));
            }
        }
        Ok(())
    }

    fn remember_receipt_of(&mut self, named: RecordId, receipt: RecordId) {
        let short = short_id(&named);
        if let std::collections::btree_map::Entry::Vacant(e) = self.receipt_of.entry(short) {
            e.insert((named, receipt));
            self.receipt_of_order.push_back(short);
            while self.receipt_of_order.len() > self.cfg.max_receipted {
                if let Some(old) = self.receipt_of_order.pop_front() {
                    self.receipt_of.remove(&old);
                }
            }
        }
    }

    /// Remembers that `peer` holds a forwarding copy of a record this node carries (we handed
    /// it one, or took ours from it).
    fn note_co_holder(&mut self, id: RecordId, peer: PublicKey) {
        if !self.co_holders.contains_key(&id) && self.co_holders.len() >= MAX_CO_HOLDER_RECORDS {
            return;
        }
        let peers = self.co_holders.entry(id).or_default();
        if !peers.contains(&peer) && peers.len() < MAX_CO_HOLDERS {
            peers.push(peer);
        }
    }

    /// A receipt follows the copies of the records it names, instead of flooding: to the
    /// peers of current contacts that sent, offered or were sent one of them, and to every
    /// peer a copy was handed to or taken from (now, or when it is next in contact). Nodes
    /// that never held a copy never receive it. A counted receipt (see [`TrustPolicy`]) also
    /// answers a later offer of a record it names (`Frame::Offer`); one that does not count
    /// is carried to the holders all the same (it counts there if its author is certified
    /// later) but answers no offer, so it cannot stop a record from spreading.
    fn route_receipt(&mut self, receipt: RecordId, ids: &[RecordId], source: Source, counts: bool) {
        if counts {
            for id in ids {
                self.remember_receipt_of(*id, receipt);
            }
        }
        let Some(m) = self.index.get(&receipt).copied() else {
            return;
        };
        let q = (m.priority, m.created, receipt);
        for (p, s) in self.sessions.iter_mut() {
            if Some(*p) != source.peer() && ids.iter().any(|i| s.known.contains(i)) {
                s.queue_record(q, 0);
            }
        }
        for id in ids {
            for p in self.co_holders.remove(id).unwrap_or_default() {
                if Some(p) == source.peer() {
                    continue;
                }
                if let Some(s) = self.sessions.get_mut(&p) {
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

    /// What follows a new record: delivery, pushes and offers to peers, receipts.
    fn after_store(&mut self, now_ms: u64, r: &Record, source: Source) -> Result<(), StoreError> {
        let env = r.envelope();
        let for_me = routing::is_for_me(&env.dest, &self.hint, self.role, &self.groups);
        if r.author() != self.me && for_me {
            self.stats.delivered += 1;
            self.out.push_back(Output::Deliver(r.clone()));
        }
        if r.author() != self.me && !for_me {
            self.out.push_back(Output::Carrying(r.id()));
        }
        if r.author() == self.me {
            self.out.push_back(Output::Authored(r.clone()));
        }
        let Some(m) = self.index.get(&r.id()).copied() else {
            return Ok(());
        };
        if m.copies > 0
            && let Source::Sync(p) = source
        {
            // The giver keeps a copy too: a receipt we get later is passed back to it.
            self.note_co_holder(r.id(), p);
        }
        // Hand it on to the connected peers that may lack it, over the sync stream, where
        // the engine orders and paces everything a peer is sent (there is no second path
        // that could put bulk ahead of a distress, or echo a record back). Flood records
        // this node just wrote (no peer can hold them yet) and urgent ones (distress,
        // safety) go at once, whole; other flood records are announced by short id and sent
        // when asked for, as Plumtree's lazy push does (a peer that holds one already pays 7
        // bytes, not the record); records with bounded copies are offered to the peers
        // routing picks. Never back to the peer it came from, nor to one known to hold it.
        let me = self.standing(now_ms);
        let push = m.is_flood()
            && (source == Source::Local || m.priority <= haiqiao_proto::Priority::Safety);
        // The hint of the peer it came from: a peer that said it is linked to that peer too
        // most likely has it already, so it is offered rather than pushed (the 7-byte offer
        // costs little if it has not).
        let from = source.peer().map(|p| p.hint());
        for (p, s) in self.sessions.iter_mut() {
            if Some(*p) == source.peer() || s.known.contains(&r.id()) {
                continue;
            }
            let linked_to_source = from.is_some_and(|h| {
                s.view
                    .and_then(|v| v.linked)
                    .is_some_and(|n| n.may_contain(&h))
            });
            if push && !linked_to_source && (source == Source::Local || s.eager) {
                s.queue_record((m.priority, m.created, r.id()), 0);
                continue;
            }
            let offer = m.is_flood()
                || s.view
                    .is_some_and(|view| routing::handoff(&self.cfg, &m, &me, &view) != Handoff::No);
            if offer && s.offer.len() < MAX_QUEUED_IDS {
                s.offer.insert(m.short);
            }
        }
        if let Body::Receipt { ids } = r.body() {
            // A receipt that counts frees our copies; one from a key not certified as a shore
            // station (as far as this node knows) frees nothing. Either way it goes on
            // towards the other holders (below): they judge it by what they know.
            if self.trust.receipt_counts(&r.author()) {
                self.apply_receipt(ids)?;
            } else {
                self.stats.receipts_not_counted += 1;
            }
        }
        if self.role == Role::Shore
            && matches!(env.dest, Destination::Shore | Destination::Mediators(_))
            && r.author() != self.me
        {
            self.receipt_queue.push(r.id());
            if self.receipt_queue.len()
                >= self
                    .cfg
                    .receipt_batch
                    .clamp(1, haiqiao_proto::MAX_RECEIPT_IDS)
            {
                self.receipt_due = Some(now_ms);
            } else if self.receipt_due.is_none() {
                self.receipt_due = Some(now_ms + self.cfg.receipt_delay_ms);
            }
        }
        // A receipt goes on towards the other holders of what it names.
        if let Body::Receipt { ids } = r.body() {
            let counts = self.trust.receipt_counts(&r.author());
            self.route_receipt(r.id(), ids, source, counts);
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
            if let Some(s) = self.sessions.get_mut(&peer)
                && s.want.len() < MAX_QUEUED_IDS
            {
                s.want.insert(short);
            }
        }
        let stalled: Vec<PublicKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.stalled_since
                    .is_some_and(|t| now_ms >= t.saturating_add(self.cfg.send_stall_ms))
            })
            .map(|(p, _)| *p)
            .collect();
        for peer in stalled {
            // It stopped reading: end the contact (the driver's `PeerDown` brings the copies
            // handed to it back). Not a penalty: a link can die without anyone's fault.
            if let Some(s) = self.sessions.get_mut(&peer) {
                s.stalled_since = None;
            }
            self.out.push_back(Output::Disconnect {
                peer,
                until_ms: now_ms,
            });
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
            self.co_holders.retain(|id, _| index.contains(id));
            self.owed.retain(|_, rids| {
                rids.retain(|r| index.contains(r));
                !rids.is_empty()
            });
        }
        while self.receipt_due.is_some_and(|t| now_ms >= t) && !self.receipt_queue.is_empty() {
            let n = self.receipt_queue.len().min(
                self.cfg
                    .receipt_batch
                    .clamp(1, haiqiao_proto::MAX_RECEIPT_IDS),
            );
            let ids: Vec<RecordId> = self.receipt_queue.drain(..n).collect();
            self.receipt_due = if self.receipt_queue.is_empty() {
                None
            } else {
                Some(now_ms)
            };
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
        if self.receipt_queue.is_empty() {
            self.receipt_due = None;
        }
        Ok(())
    }

    // --- sending --------------------------------------------------------------------------

    fn pump_all(&mut self, now_ms: u64) {
        // Only sessions with something to send (a shore station has hundreds of idle ones).
        let peers: Vec<PublicKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.has_work())
            .map(|(p, _)| *p)
            .collect();
        for p in peers {
            self.pump(now_ms, &p);
        }
    }

    fn pump(&mut self, now_ms: u64, peer: &PublicKey) {
        let max = self.cfg.max_frame_bytes.max(64);
        loop {
            let full = match self.sessions.get(peer) {
                Some(s) => self.window_full(s),
                None => return,
            };
            let Some(s) = self.sessions.get_mut(peer) else {
                return;
            };
            if full {
                s.stalled_since.get_or_insert(now_ms);
                return;
            }
            if !s.has_work() || !s.refill(now_ms, max) {
                return;
            }
            // Control frames never wait; everything else waits for the ack-clocked window,
            // so that what is already on its way to the peer stays small and the next urgent
            // record goes out within about one small frame ([`crate::window`]).
            let control = !s.control.is_empty();
            let quarantined = self.quarantined(Some(*peer), now_ms);
            let next = match self.sessions.get_mut(peer) {
                Some(s) if control || s.window.open() => {
                    let budget = s.window.frame_budget(max, MIN_RECORDS_FRAME);
                    self.next_frame(peer, budget, quarantined)
                }
                Some(s) if s.window.needs_probe() => Some(Self::probe_frame(s)),
                _ => return,
            };
            let Some((frame, record_bytes, n_records)) = next else {
                return;
            };
            let bytes = frame.encode();
            self.stats.frames_out += 1;
            self.stats.bytes_out += bytes.len() as u64;
            self.stats.record_bytes_out += record_bytes;
            self.stats.records_out += n_records;
            if let Some(s) = self.sessions.get_mut(peer) {
                if !control {
                    let seq = match &frame {
                        Frame::Records { seq, .. } => Some(*seq),
                        _ => None,
                    };
                    s.window.sent(now_ms, bytes.len(), seq);
                }
                s.spend(bytes.len());
                if self.cfg.send_window_frames > 0 {
                    s.unwritten += 1;
                }
            }
            self.out.push_back(Output::Send {
                peer: *peer,
                frame: bytes,
            });
        }
    }

    /// The most urgent frame for the peer: control, wants, urgent records, offers, tier-0
    /// symbols, other records, tier-1 symbols.
    fn next_frame(
        &mut self,
        peer: &PublicKey,
        max: usize,
        quarantined: bool,
    ) -> Option<(Frame, u64, u64)> {
        let s = self.sessions.get_mut(peer)?;
        if let Some(f) = s.control.pop_front() {
            return Some((f, 0, 0));
        }
        let ids_per_frame = ((max - 8) / SHORT_ID_LEN).max(1);
        if !s.want.is_empty() {
            let ids: Vec<u64> = s.want.iter().take(ids_per_frame).copied().collect();
            for i in &ids {
                s.want.remove(i);
            }
            return Some((
                Frame::Want {
                    ids: ids.into_iter().map(short_bytes).collect(),
                },
                0,
                0,
            ));
        }
        let can_send_records = s.in_flight.len() < MAX_IN_FLIGHT_FRAMES;
        let urgent = s
            .records
            .first()
            .is_some_and(|(p, _, _)| *p <= haiqiao_proto::Priority::Control);
        if can_send_records
            && urgent
            && let Some(f) = self.records_frame(peer, max, quarantined)
        {
            return Some(f);
        }
        let s = self.sessions.get_mut(peer)?;
        if !s.offer.is_empty() {
            let ids: Vec<u64> = s.offer.iter().take(ids_per_frame).copied().collect();
            for i in &ids {
                s.offer.remove(i);
            }
            return Some((
                Frame::Offer {
                    ids: ids.into_iter().map(short_bytes).collect(),
                },
                0,
                0,
            ));
        }
        if let Some(f) = Self::symbols_frame(s, 0, max) {
            return Some((f, 0, 0));
        }
        if can_send_records
            && !s.records.is_empty()
            && let Some(f) = self.records_frame(peer, max, quarantined)
        {
            return Some(f);
        }
        let s = self.sessions.get_mut(peer)?;
        Self::symbols_frame(s, 1, max).map(|f| (f, 0, 0))
    }

    /// An empty `Records` frame: its ack tells that everything sent before it has arrived,
    /// which opens a window filled by frames that are not acknowledged themselves.
    fn probe_frame(s: &mut Session) -> (Frame, u64, u64) {
        let seq = s.next_frame;
        s.next_frame += 1;
        s.in_flight.insert(seq, Vec::new());
        (
            Frame::Records {
                seq,
                items: Vec::new(),
            },
            0,
            0,
        )
    }

    fn symbols_frame(s: &mut Session, tier: usize, max: usize) -> Option<Frame> {
        let TierSync::Streaming { enc, credit } = &mut s.tiers[tier] else {
            return None;
        };
        if *credit == 0 {
            return None;
        }
        let n = (*credit as usize).min(((max - 10) / SYMBOL_LEN).max(1));
        let start = enc.position() as u32;
        let symbols = (0..n).map(|_| enc.next_symbol().to_bytes()).collect();
        *credit -= n as u32;
        Some(Frame::Symbols {
            tier: tier as u8,
            start,
            symbols,
        })
    }

    /// The next `Records` frame for the peer, most urgent first; a quarantined peer is sent
    /// distress-class records only.
    fn records_frame(
        &mut self,
        peer: &PublicKey,
        max: usize,
        quarantined: bool,
    ) -> Option<(Frame, u64, u64)> {
        let s = self.sessions.get_mut(peer)?;
        let mut items = Vec::new();
        let mut handed = Vec::new();
        let mut size = 8usize;
        let mut record_bytes = 0u64;
        let mut urgent_frame = false;
        while let Some(q) = s.records.first().copied() {
            let id = q.2;
            if quarantined && q.0 != Priority::Distress {
                s.records.remove(&q);
                s.copies.remove(&id);
                continue;
            }
            let Ok(Some(r)) = self.store.get(&id) else {
                s.records.remove(&q);
                s.copies.remove(&id);
                continue;
            };
            if !items.is_empty() && size + r.len() + 4 > max {
                break;
            }
            // An urgent record's frame carries no bulk behind it: it is not delayed by the
            // air time of what follows it in the frame.
            if !items.is_empty() && urgent_frame && q.0 > Priority::Safety {
                break;
            }
            urgent_frame |= q.0 <= Priority::Safety;
            s.records.remove(&q);
            let want = s.copies.remove(&id).unwrap_or(0);
            let k = match self.index.get_mut(&id) {
                Some(m) => {
                    let k = want.min(m.copies);
                    m.copies -= k;
                    k
                }
                None => 0,
            };
            size += r.len() + 4;
            record_bytes += r.len() as u64;
            handed.push((id, k));
            items.push(Carried {
                bytes: r.bytes().to_vec(),
                copies: k,
            });
        }
        if items.is_empty() {
            return None;
        }
        let seq = s.next_frame;
        s.next_frame += 1;
        let copied: Vec<RecordId> = handed
            .iter()
            .filter(|(_, k)| *k > 0)
            .map(|(id, _)| *id)
            .collect();
        s.in_flight.insert(seq, handed);
        for id in copied {
            self.note_co_holder(id, *peer);
        }
        let n = items.len() as u64;
        Some((Frame::Records { seq, items }, record_bytes, n))
    }
}

/// The short id of a record id, as the sync frames carry it.
pub fn short_of(id: &RecordId) -> [u8; SHORT_ID_LEN] {
    short_bytes(short_id(id))
}
