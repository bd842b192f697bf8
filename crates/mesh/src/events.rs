//! What goes in and out of the engine: [`Input`]s, [`Output`]s, the gossip [`Verdict`], the
//! errors of its writes ([`MeshError`]) and its counters ([`Stats`]).

use haiqiao_proto::{PublicKey, Record, RecordError, RecordId};

use crate::defence::Offence;
use crate::store::{Refusal, StoreError};
use crate::trust::TrustPolicy;
#[cfg(doc)]
use crate::{MeshConfig, Node};

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

    // What the host tells the engine. These change what it knows and send nothing by
    // themselves (what they make due goes at the next input or tick); only `Trust` can fail,
    // when it frees or drops records in the store.
    /// What the engine is to know of certificates, as the host's fleet projections compute it
    /// whenever trust changes (see [`TrustPolicy`]). Receipts already held are judged again:
    /// those of newly certified shore stations free the copies they name now, and only
    /// counted receipts make the node refuse the records they name; records of newly revoked
    /// keys (but distress) leave the store.
    Trust(TrustPolicy),
    /// When this node expects to reach shore: `Some(minutes)` while it is steaming home (its
    /// host's estimate: distance to port over speed, or the skipper's word), `None` when it is
    /// not. Peers' routing hands the last copy of a shore-bound record to the boat due ashore
    /// soonest. Sent in the hello of the contacts that come up from now on.
    EtaShore(Option<u32>),
    /// The groups this node belongs to (for group-addressed texts).
    Groups(Vec<u32>),
    /// Keys learnt outside the mesh (configuration, trust anchors, certificates), so that
    /// their records verify without asking a peer for them.
    Keys(Vec<PublicKey>),
    /// What the host kept across a restart: the sequence numbers used (the next one is at
    /// least `next_seq`, so that numbers never repeat after old records expire), and when
    /// this node was last in contact with a shore station (a later contact moves it on), so
    /// that a node restarted at sea does not pass for one that never saw shore.
    Restored {
        /// The next sequence number, at least.
        next_seq: Option<u64>,
        /// The last shore contact, ms.
        last_shore_ms: Option<u64>,
    },
}

impl Input {
    /// A lowercase name of the kind of input (for timings and logs).
    pub fn name(&self) -> &'static str {
        match self {
            Input::ContactUp { .. } => "contact_up",
            Input::ContactDown { .. } => "contact_down",
            Input::Frame { .. } => "frame",
            Input::Gossip { .. } => "gossip",
            Input::Tick => "tick",
            Input::Written { .. } => "written",
            Input::Trust(_) => "trust",
            Input::EtaShore(_) => "eta_shore",
            Input::Groups(_) => "groups",
            Input::Keys(_) => "keys",
            Input::Restored { .. } => "restored",
        }
    }
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
