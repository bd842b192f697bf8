//! Per-peer sync session state: the reconciliation of each tier, what is queued to send, what
//! is in flight awaiting custody, and the link's pacing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use haiqiao_proto::wire::{Frame, TIERS, TierSummary};
use haiqiao_proto::{Priority, PublicKey, RecordId, Timestamp};

use crate::riblt::{Decoder, Encoder};
use crate::routing::PeerView;
use crate::window::Window;

/// Reconciliation of one tier.
#[derive(Debug)]
pub(crate) enum TierSync {
    /// Waiting for the peer's hello.
    Waiting,
    /// Sets are equal, or the decoder said done.
    Done,
    /// We stream coded symbols; `credit` more may be sent before the decoder asks again.
    Streaming { enc: Box<Encoder>, credit: u32 },
    /// We decode the peer's symbols.
    Decoding { dec: Box<Decoder>, expected: u32 },
}

/// The acknowledgement of a received `Records` frame, held while some of its records wait
/// for their author's key (custody: a record is acknowledged only once it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldAck {
    /// The frame's sequence number.
    pub(crate) seq: u32,
    /// Its items refused so far.
    pub(crate) refused: Vec<(u32, u16)>,
    /// Its items still waiting for a key.
    pub(crate) waiting: Vec<u16>,
    /// When those still waiting are given up (reported refused).
    pub(crate) deadline_ms: u64,
}

/// One queued record.
pub(crate) type QueuedRecord = (Priority, Timestamp, RecordId);

/// A sync session with one connected peer.
#[derive(Debug)]
pub(crate) struct Session {
    /// The peer (for debugging output).
    #[allow(dead_code)]
    pub(crate) peer: PublicKey,
    pub(crate) rate_bps: Option<u32>,
    pub(crate) mine: [TierSummary; TIERS],
    pub(crate) snapshot: [Vec<u64>; TIERS],
    pub(crate) view: Option<PeerView>,
    pub(crate) tiers: [TierSync; TIERS],
    /// Control frames (hello, done, more, ack, keys), sent first.
    pub(crate) control: VecDeque<Frame>,
    /// Short ids to ask for.
    pub(crate) want: BTreeSet<u64>,
    /// Short ids to offer.
    pub(crate) offer: BTreeSet<u64>,
    /// Records to send, most urgent first, with the copies to hand over.
    pub(crate) records: BTreeSet<QueuedRecord>,
    pub(crate) copies: BTreeMap<RecordId, u8>,
    /// Records offered, sent or known to be held by the peer during this contact.
    pub(crate) known: BTreeSet<RecordId>,
    pub(crate) next_frame: u32,
    /// Records frames awaiting custody: frame seq → (record, copies handed).
    pub(crate) in_flight: BTreeMap<u32, Vec<(RecordId, u8)>>,
    /// Pacing allowance in bytes (may go negative by one frame).
    pub(crate) allowance: i64,
    pub(crate) paced_at_ms: u64,
    /// Frames handed to the transport that it has not yet reported written
    /// ([`crate::Input::Written`]); counted only with a send window.
    pub(crate) unwritten: u32,
    /// Since when the send window has been full with no frame reported written.
    pub(crate) stalled_since: Option<u64>,
    /// The ack-clocked byte window: what may be on its way to the peer ([`crate::window`]).
    pub(crate) window: Window,
    /// Acknowledgements held back, oldest first: the first waits for records that wait for
    /// their author's key, the others queue behind it (acknowledgements are cumulative). At
    /// most [`MAX_HELD_ACKS`].
    pub(crate) held_acks: VecDeque<HeldAck>,
    /// Records refused for a rate (short id → author), to be asked for again once the rate
    /// allows; at most `MAX_DEFERRED_IDS` (node.rs).
    pub(crate) later: BTreeMap<u64, haiqiao_proto::KeyHint>,
    /// When they are next asked for.
    pub(crate) later_at: Option<u64>,
    /// Whether urgent records this node relays are pushed to the peer whole (Plumtree's eager
    /// push) or announced by id. Every contact starts eager; a pushed urgent record the peer
    /// sends us while we already hold it shows the link is not on the flood's tree, and it
    /// turns lazy (Plumtree's prune, learned without a frame of its own: the peer learns the
    /// same from what we push it); a want of an urgent record turns it eager again (graft).
    pub(crate) eager: bool,
}

/// Most frames awaiting custody per peer before sending stops.
pub(crate) const MAX_IN_FLIGHT_FRAMES: usize = 64;
/// Most records queued to one peer.
pub(crate) const MAX_QUEUED_RECORDS: usize = 100_000;
/// Most short ids queued to want or offer.
pub(crate) const MAX_QUEUED_IDS: usize = 100_000;
/// Most acknowledgements held back per peer: as many frames as a sender may have awaiting
/// custody. A peer that sends more has its oldest held frame's waiting records refused.
pub(crate) const MAX_HELD_ACKS: usize = MAX_IN_FLIGHT_FRAMES;
/// Most control frames queued.
pub(crate) const MAX_CONTROL: usize = 1024;

impl Session {
    pub(crate) fn new(peer: PublicKey, rate_bps: Option<u32>, now_ms: u64) -> Session {
        Session {
            peer,
            rate_bps,
            mine: [TierSummary::default(); TIERS],
            snapshot: [Vec::new(), Vec::new()],
            view: None,
            tiers: [TierSync::Waiting, TierSync::Waiting],
            control: VecDeque::new(),
            want: BTreeSet::new(),
            offer: BTreeSet::new(),
            records: BTreeSet::new(),
            copies: BTreeMap::new(),
            known: BTreeSet::new(),
            next_frame: 0,
            in_flight: BTreeMap::new(),
            allowance: 0,
            paced_at_ms: now_ms,
            unwritten: 0,
            stalled_since: None,
            window: Window::new(rate_bps),
            held_acks: VecDeque::new(),
            later: BTreeMap::new(),
            later_at: None,
            eager: true,
        }
    }

    pub(crate) fn push_control(&mut self, f: Frame) {
        if self.control.len() < MAX_CONTROL {
            self.control.push_back(f);
        }
    }

    /// Queues a record unless already known to the peer.
    pub(crate) fn queue_record(&mut self, q: QueuedRecord, copies: u8) -> bool {
        if self.known.contains(&q.2) || self.records.len() >= MAX_QUEUED_RECORDS {
            return false;
        }
        self.known.insert(q.2);
        self.records.insert(q);
        self.copies.insert(q.2, copies);
        true
    }

    /// Refills the pacing allowance; returns whether a frame may be sent now.
    pub(crate) fn refill(&mut self, now_ms: u64, max_frame: usize) -> bool {
        match self.rate_bps {
            None => true,
            Some(bps) => {
                let elapsed = now_ms.saturating_sub(self.paced_at_ms) as i64;
                self.paced_at_ms = self.paced_at_ms.max(now_ms);
                let cap = 2 * max_frame as i64;
                self.allowance = (self.allowance + elapsed * i64::from(bps) / 8000).min(cap);
                self.allowance > 0
            }
        }
    }

    /// When the allowance will be positive again.
    pub(crate) fn ready_at(&self) -> Option<u64> {
        match self.rate_bps {
            Some(bps) if self.allowance <= 0 && bps > 0 => {
                let deficit = (1 - self.allowance) as u64;
                Some(self.paced_at_ms + (deficit * 8000).div_ceil(u64::from(bps)))
            }
            _ => None,
        }
    }

    pub(crate) fn spend(&mut self, bytes: usize) {
        if self.rate_bps.is_some() {
            self.allowance -= bytes as i64;
        }
    }

    /// Whether anything is waiting to be sent.
    pub(crate) fn has_work(&self) -> bool {
        !self.control.is_empty()
            || !self.want.is_empty()
            || !self.offer.is_empty()
            || (!self.records.is_empty() && self.in_flight.len() < MAX_IN_FLIGHT_FRAMES)
            || self
                .tiers
                .iter()
                .any(|t| matches!(t, TierSync::Streaming { credit, .. } if *credit > 0))
    }
}
