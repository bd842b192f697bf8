//! The sync session with one connected peer: the hello, the reconciliation of each tier
//! (symbols, more, done), what is queued to send (control frames, wants, offers, records), what
//! is in flight awaiting custody, the acknowledgements held back for records that wait for a
//! key, records deferred for a rate, and the link's pacing and windows.
//!
//! A session knows nothing of the store or of other peers: `Node` hands it what to queue and
//! takes from it what the peer said; [`crate::pump`] turns its queues into frames.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use haiqiao_proto::wire::{Frame, Neighbours, SYMBOL_LEN, TIERS, TierSummary};
use haiqiao_proto::{KeyHint, Priority, PublicKey, RecordId, Timestamp};

use crate::riblt::{Decoder, Encoder, Side, Symbol};
use crate::routing::PeerView;
use crate::window::Window;

/// Reconciliation of one tier.
#[derive(Debug)]
enum TierSync {
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
struct HeldAck {
    /// The frame's sequence number.
    seq: u32,
    /// Its items refused so far.
    refused: Vec<(u32, u16)>,
    /// Its items still waiting for a key.
    waiting: Vec<u16>,
    /// When those still waiting are given up (reported refused).
    deadline_ms: u64,
}

/// One queued record.
pub(crate) type QueuedRecord = (Priority, Timestamp, RecordId);

/// The peer did something that makes no sense in the session's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Violation;

/// A sync session with one connected peer.
#[derive(Debug)]
pub(crate) struct Session {
    rate_bps: Option<u32>,
    /// This node's tier summaries and flood-set snapshots when the contact came up.
    mine: [TierSummary; TIERS],
    snapshot: [Vec<u64>; TIERS],
    /// What the peer's hello said, once it did.
    view: Option<PeerView>,
    tiers: [TierSync; TIERS],
    /// Control frames (hello, done, more, ack, keys), sent first.
    control: VecDeque<Frame>,
    /// Short ids to ask for.
    want: BTreeSet<u64>,
    /// Short ids to offer: of urgent records (distress, safety, control), sent before bulk
    /// records, and of the others, sent after them (offers of bulk ahead of bulk records
    /// starved the records a peer had asked for while a relay's inflow went on).
    offer_urgent: BTreeSet<u64>,
    offer: BTreeSet<u64>,
    /// Records to send, most urgent first, with the copies to hand over.
    records: BTreeSet<QueuedRecord>,
    copies: BTreeMap<RecordId, u8>,
    /// Records offered, sent or known to be held by the peer during this contact.
    known: BTreeSet<RecordId>,
    next_frame: u32,
    /// Records frames awaiting custody: frame seq → (record, copies handed).
    in_flight: BTreeMap<u32, Vec<(RecordId, u8)>>,
    /// Pacing allowance in bytes (may go negative by one frame).
    allowance: i64,
    paced_at_ms: u64,
    /// Frames handed to the transport that it has not yet reported written
    /// ([`crate::Input::Written`]); counted only with a send window.
    unwritten: u32,
    /// Since when the send window has been full with no frame reported written.
    stalled_since: Option<u64>,
    /// The ack-clocked byte window: what may be on its way to the peer ([`crate::window`]).
    window: Window,
    /// Acknowledgements held back, oldest first: the first waits for records that wait for
    /// their author's key, the others queue behind it (acknowledgements are cumulative). At
    /// most [`MAX_HELD_ACKS`].
    held_acks: VecDeque<HeldAck>,
    /// Records refused for a rate (short id → author), to be asked for again once the rate
    /// allows; at most [`MAX_DEFERRED_IDS`].
    later: BTreeMap<u64, KeyHint>,
    /// When they are next asked for.
    later_at: Option<u64>,
    /// Records refused because too many records already waited for their authors' keys
    /// (short id → author), to be asked for again once the author's key is known; at most
    /// [`MAX_DEFERRED_IDS`].
    keyless: BTreeMap<u64, KeyHint>,
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
/// Records refused for a rate whose ids are remembered per peer, to be asked for again.
pub(crate) const MAX_DEFERRED_IDS: usize = 10_000;
/// How often records refused for a rate are asked for again, ms.
pub(crate) const RATE_RETRY_MS: u64 = 1_000;

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

/// This node's side of a hello.
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    /// Each tier's count and digest.
    pub(crate) tiers: [TierSummary; TIERS],
    /// Each tier's short ids (for the coder), taken with the summaries.
    pub(crate) snapshot: [Vec<u64>; TIERS],
    pub(crate) shore_age_min: u32,
    pub(crate) eta_shore_min: Option<u32>,
    pub(crate) linked: Option<Neighbours>,
}

impl Session {
    /// A session for a contact that just came up; it says hello first.
    pub(crate) fn new(rate_bps: Option<u32>, now_ms: u64, hello: Hello) -> Session {
        let mut s = Session {
            rate_bps,
            mine: hello.tiers,
            snapshot: hello.snapshot,
            view: None,
            tiers: [TierSync::Waiting, TierSync::Waiting],
            control: VecDeque::new(),
            want: BTreeSet::new(),
            offer_urgent: BTreeSet::new(),
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
            keyless: BTreeMap::new(),
        };
        s.push_control(Frame::Hello {
            tiers: hello.tiers,
            shore_age_min: hello.shore_age_min,
            eta_shore_min: hello.eta_shore_min,
            linked: hello.linked,
        });
        s
    }

    /// What the peer's hello said (none before it).
    pub(crate) fn view(&self) -> Option<&PeerView> {
        self.view.as_ref()
    }

    /// Whether the peer said it is a shore station.
    pub(crate) fn is_shore(&self) -> bool {
        self.view.is_some_and(|v| v.is_shore())
    }

    /// Marks the peer federated (or not); returns whether it just became so.
    pub(crate) fn set_federated(&mut self, federated: bool) -> bool {
        let Some(v) = self.view.as_mut() else {
            return false;
        };
        let became = federated && !v.federated;
        v.federated = federated;
        became
    }

    // --- what the peer said -----------------------------------------------------------------

    /// The peer's hello: each tier is done (equal), streamed (the side with fewer records, or
    /// the smaller key on a tie) or decoded. A second hello is a violation.
    pub(crate) fn on_hello(
        &mut self,
        me: &PublicKey,
        peer: &PublicKey,
        theirs: [TierSummary; TIERS],
        view: PeerView,
        max_symbols: usize,
    ) -> Result<(), Violation> {
        if self.view.is_some() {
            return Err(Violation);
        }
        self.view = Some(view);
        for (t, theirs) in theirs.into_iter().enumerate() {
            let mine = self.mine[t];
            let snapshot = std::mem::take(&mut self.snapshot[t]);
            self.tiers[t] = if mine == theirs {
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
        Ok(())
    }

    /// Symbols from the streamer: decoded as they come; says `Done` when the difference is
    /// decoded (or the decoder gives up), `More` when the burst is spent. Returns the short ids
    /// decoded, and on which side each is.
    pub(crate) fn on_symbols(
        &mut self,
        tier: usize,
        start: u32,
        symbols: &[[u8; SYMBOL_LEN]],
    ) -> Result<Vec<(u64, Side)>, Violation> {
        let TierSync::Decoding { dec, expected } = &mut self.tiers[tier] else {
            return match self.tiers[tier] {
                TierSync::Done => Ok(Vec::new()),
                _ => Err(Violation),
            };
        };
        if start as usize != dec.received() {
            return Err(Violation);
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
        if finished {
            self.tiers[tier] = TierSync::Done;
            self.push_control(Frame::Done { tier: tier as u8 });
        } else if received >= *expected {
            let count = (received / 8).max(2);
            *expected = expected.saturating_add(count);
            self.push_control(Frame::More {
                tier: tier as u8,
                count,
            });
        }
        Ok(decoded)
    }

    /// The decoder asks for `count` more symbols (at most `max_symbols`).
    pub(crate) fn on_more(
        &mut self,
        tier: usize,
        count: u32,
        max_symbols: usize,
    ) -> Result<(), Violation> {
        match &mut self.tiers[tier] {
            TierSync::Streaming { credit, .. } => {
                *credit = credit.saturating_add(count.min(max_symbols as u32));
                Ok(())
            }
            TierSync::Done => Ok(()),
            _ => Err(Violation),
        }
    }

    /// The decoder is done with a tier we stream.
    pub(crate) fn on_done(&mut self, tier: usize) {
        if matches!(self.tiers[tier], TierSync::Streaming { .. }) {
            self.tiers[tier] = TierSync::Done;
        }
    }

    /// The peer acknowledged every `Records` frame up to `upto`: they leave the window and
    /// custody of their records is settled. Returns those frames' records and the copies each
    /// carried.
    pub(crate) fn on_ack(&mut self, now_ms: u64, upto: u32) -> Vec<(u32, Vec<(RecordId, u8)>)> {
        self.window.acked(now_ms, upto);
        let done: Vec<u32> = self.in_flight.range(..=upto).map(|(k, _)| *k).collect();
        done.into_iter()
            .filter_map(|f| self.in_flight.remove(&f).map(|items| (f, items)))
            .collect()
    }

    /// Takes back every frame still awaiting custody (the contact is ending or restarting).
    pub(crate) fn take_in_flight(&mut self) -> BTreeMap<u32, Vec<(RecordId, u8)>> {
        std::mem::take(&mut self.in_flight)
    }

    /// The transport wrote `frames` more frames.
    pub(crate) fn on_written(&mut self, frames: u32) {
        self.unwritten = self.unwritten.saturating_sub(frames);
        if frames > 0 {
            self.stalled_since = None;
        }
    }

    // --- what we know the peer holds --------------------------------------------------------

    /// Whether the peer was offered, sent or is known to hold the record this contact.
    pub(crate) fn knows(&self, id: &RecordId) -> bool {
        self.known.contains(id)
    }

    /// The peer holds (or was told of) the record.
    pub(crate) fn note_known(&mut self, id: RecordId) {
        self.known.insert(id);
    }

    /// The peer asked for the record after all.
    pub(crate) fn forget_known(&mut self, id: &RecordId) {
        self.known.remove(id);
    }

    // --- queues -----------------------------------------------------------------------------

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

    /// Asks the peer for a short id (bounded).
    pub(crate) fn want(&mut self, short: u64) {
        if self.want.len() < MAX_QUEUED_IDS {
            self.want.insert(short);
        }
    }

    /// Offers the peer a short id (`urgent`: of a distress-, safety- or control-class record)
    /// (bounded); false when the queue is full.
    pub(crate) fn offer(&mut self, short: u64, urgent: bool) -> bool {
        if self.offer.len() + self.offer_urgent.len() >= MAX_QUEUED_IDS {
            return false;
        }
        if urgent {
            self.offer_urgent.insert(short);
        } else {
            self.offer.insert(short);
        }
        true
    }

    /// Remembers a record refused for a rate, to be asked for again after
    /// [`RATE_RETRY_MS`].
    pub(crate) fn defer(&mut self, now_ms: u64, short: u64, author: KeyHint) {
        if self.later.len() < MAX_DEFERRED_IDS {
            self.later.insert(short, author);
            self.later_at
                .get_or_insert(now_ms.saturating_add(RATE_RETRY_MS));
        }
    }

    /// Whether deferred records are due to be asked for again.
    pub(crate) fn deferred_due(&self, now_ms: u64) -> bool {
        self.later_at.is_some_and(|t| t <= now_ms)
    }

    /// Deferred records, oldest short id first, as many as `admit` allows of each author and
    /// the want queue has room for.
    pub(crate) fn deferred(&self, admit: impl FnMut(KeyHint) -> bool) -> Vec<u64> {
        pick_ids(
            &self.later,
            MAX_QUEUED_IDS.saturating_sub(self.want.len()),
            admit,
        )
    }

    /// Asks again for deferred records (`held`: those held meanwhile are not asked for).
    pub(crate) fn retry_deferred(
        &mut self,
        now_ms: u64,
        ask: Vec<u64>,
        held: impl Fn(u64) -> bool,
    ) {
        ask_again(&mut self.want, &mut self.later, ask, held);
        self.later_at = (!self.later.is_empty()).then_some(now_ms.saturating_add(RATE_RETRY_MS));
    }

    /// Remembers a record refused while too many records waited for their authors' keys, to
    /// be asked for again once its author's key is known ([`Session::retry_keyless`]).
    pub(crate) fn defer_for_key(&mut self, short: u64, author: KeyHint) {
        if self.keyless.len() < MAX_DEFERRED_IDS {
            self.keyless.insert(short, author);
        }
    }

    /// Asks again for the records refused for want of a key whose author's key is now known
    /// (`known`), unless held meanwhile (`held`), as far as the want queue has room.
    pub(crate) fn retry_keyless(
        &mut self,
        known: impl Fn(&KeyHint) -> bool,
        held: impl Fn(u64) -> bool,
    ) {
        if self.keyless.is_empty() {
            return;
        }
        let room = MAX_QUEUED_IDS.saturating_sub(self.want.len());
        let ask = pick_ids(&self.keyless, room, |a| known(&a));
        ask_again(&mut self.want, &mut self.keyless, ask, held);
    }

    // --- held acknowledgements --------------------------------------------------------------

    /// Acknowledges a received `Records` frame once none of its records waits for a key, and
    /// never before an earlier frame's (acknowledgements are cumulative). Returns true when more
    /// are held than a sender may have awaiting custody: the caller gives up the oldest
    /// ([`Session::give_up_oldest_ack`]) and flushes.
    pub(crate) fn hold_ack(
        &mut self,
        seq: u32,
        refused: Vec<(u32, u16)>,
        waiting: Vec<u16>,
        deadline_ms: u64,
    ) -> bool {
        if waiting.is_empty() && self.held_acks.is_empty() {
            self.push_control(Frame::Ack { upto: seq, refused });
            return false;
        }
        let full = self.held_acks.len() >= MAX_HELD_ACKS;
        self.held_acks.push_back(HeldAck {
            seq,
            refused,
            waiting,
            deadline_ms,
        });
        full
    }

    /// Reports the records the first held acknowledgement still waits for as refused (their
    /// copies stay with the sender). Returns its frame's sequence number.
    pub(crate) fn give_up_oldest_ack(&mut self) -> Option<u32> {
        let h = self.held_acks.front_mut()?;
        for i in std::mem::take(&mut h.waiting) {
            h.refused.push((h.seq, i));
        }
        Some(h.seq)
    }

    /// The frame of the first held acknowledgement, if its records waited past `now_ms`.
    pub(crate) fn oldest_ack_overdue(&self, now_ms: u64) -> Option<u32> {
        self.held_acks
            .front()
            .filter(|h| h.deadline_ms <= now_ms)
            .map(|h| h.seq)
    }

    /// Sends the held acknowledgements that wait for nothing any more, in order.
    pub(crate) fn flush_acks(&mut self) {
        while self.held_acks.front().is_some_and(|h| h.waiting.is_empty()) {
            if let Some(h) = self.held_acks.pop_front() {
                self.push_control(Frame::Ack {
                    upto: h.seq,
                    refused: h.refused,
                });
            }
        }
    }

    /// A record that waited for its key was stored (`ok`) or refused.
    pub(crate) fn resolve_waiting(&mut self, (seq, item): (u32, u16), ok: bool) {
        if let Some(h) = self.held_acks.iter_mut().find(|h| h.seq == seq)
            && let Some(pos) = h.waiting.iter().position(|i| *i == item)
        {
            h.waiting.swap_remove(pos);
            if !ok {
                h.refused.push((seq, item));
            }
        }
        self.flush_acks();
    }

    // --- pacing and windows -----------------------------------------------------------------

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

    /// Whether the transport holds `send_window_frames` unwritten frames (0: no such window).
    pub(crate) fn window_full(&self, send_window_frames: u32) -> bool {
        send_window_frames > 0 && self.unwritten >= send_window_frames
    }

    /// The transport has written nothing while the frame window is full: since when.
    pub(crate) fn stalled(&mut self, now_ms: u64) {
        self.stalled_since.get_or_insert(now_ms);
    }

    /// Whether the transport has been stalled for `stall_ms`; if so the stall is forgotten
    /// (the caller ends the contact).
    pub(crate) fn take_stall(&mut self, now_ms: u64, stall_ms: u64) -> bool {
        let stalled = self
            .stalled_since
            .is_some_and(|t| now_ms >= t.saturating_add(stall_ms));
        if stalled {
            self.stalled_since = None;
        }
        stalled
    }

    /// When the session next needs a tick (pacing, a stalled transport, a held acknowledgement's
    /// deadline, deferred records).
    pub(crate) fn next_timeout(&self, send_window_frames: u32, stall_ms: u64) -> Option<u64> {
        let mut t: Option<u64> = None;
        let mut min = |x: Option<u64>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        // A session waiting for the transport is woken by `Input::Written`, not a timer,
        // unless the transport stalls.
        if self.has_work() && !self.window_full(send_window_frames) {
            min(self.ready_at());
        }
        if let Some(s) = self.stalled_since {
            min(Some(s.saturating_add(stall_ms)));
        }
        min(self.held_acks.front().map(|h| h.deadline_ms));
        min(self.later_at);
        t
    }

    /// Whether anything is waiting to be sent.
    pub(crate) fn has_work(&self) -> bool {
        !self.control.is_empty()
            || !self.want.is_empty()
            || !self.offer.is_empty()
            || !self.offer_urgent.is_empty()
            || (!self.records.is_empty() && self.in_flight.len() < MAX_IN_FLIGHT_FRAMES)
            || self
                .tiers
                .iter()
                .any(|t| matches!(t, TierSync::Streaming { credit, .. } if *credit > 0))
    }

    /// Whether every tier is reconciled and nothing is left to send or awaiting custody.
    pub(crate) fn is_idle(&self) -> bool {
        self.view.is_some()
            && self.tiers.iter().all(|t| matches!(t, TierSync::Done))
            && !self.has_work()
            && self.in_flight.is_empty()
    }

    // --- for the pump -----------------------------------------------------------------------

    pub(crate) fn pop_control(&mut self) -> Option<Frame> {
        self.control.pop_front()
    }

    pub(crate) fn has_control(&self) -> bool {
        !self.control.is_empty()
    }

    /// Takes up to `n` short ids to ask for.
    pub(crate) fn take_wants(&mut self, n: usize) -> Vec<u64> {
        take_first(&mut self.want, n)
    }

    /// Takes up to `n` short ids to offer, of urgent records or of the others.
    pub(crate) fn take_offers(&mut self, n: usize, urgent: bool) -> Vec<u64> {
        if urgent {
            take_first(&mut self.offer_urgent, n)
        } else {
            take_first(&mut self.offer, n)
        }
    }

    /// The most urgent queued record.
    pub(crate) fn first_queued(&self) -> Option<QueuedRecord> {
        self.records.first().copied()
    }

    /// Takes a queued record out of the queue; returns the copies it was to carry.
    pub(crate) fn unqueue(&mut self, q: &QueuedRecord) -> u8 {
        self.records.remove(q);
        self.copies.remove(&q.2).unwrap_or(0)
    }

    /// Whether a `Records` frame may be sent (fewer than [`MAX_IN_FLIGHT_FRAMES`] await
    /// custody) and records are queued.
    pub(crate) fn can_send_records(&self) -> bool {
        self.in_flight.len() < MAX_IN_FLIGHT_FRAMES
    }

    pub(crate) fn has_records(&self) -> bool {
        !self.records.is_empty()
    }

    /// Numbers a `Records` frame and puts what it hands over in flight.
    pub(crate) fn start_records_frame(&mut self, handed: Vec<(RecordId, u8)>) -> u32 {
        let seq = self.next_frame;
        self.next_frame += 1;
        self.in_flight.insert(seq, handed);
        seq
    }

    /// Up to `n` symbols of a tier we stream, as far as the decoder's credit goes.
    pub(crate) fn next_symbols(&mut self, tier: usize, n: usize) -> Option<Frame> {
        let TierSync::Streaming { enc, credit } = &mut self.tiers[tier] else {
            return None;
        };
        if *credit == 0 {
            return None;
        }
        let n = (*credit as usize).min(n);
        let start = enc.position() as u32;
        let symbols = (0..n).map(|_| enc.next_symbol().to_bytes()).collect();
        *credit -= n as u32;
        Some(Frame::Symbols {
            tier: tier as u8,
            start,
            symbols,
        })
    }

    /// The byte window ([`crate::window`]).
    pub(crate) fn window(&mut self) -> &mut Window {
        &mut self.window
    }

    /// A frame of `bytes` went to the transport (`control`: it does not count in the byte
    /// window; `seq`: a `Records` frame's number).
    pub(crate) fn sent(
        &mut self,
        now_ms: u64,
        bytes: usize,
        control: bool,
        seq: Option<u32>,
        count_unwritten: bool,
    ) {
        if !control {
            self.window.sent(now_ms, bytes, seq);
        }
        if self.rate_bps.is_some() {
            self.allowance -= bytes as i64;
        }
        if count_unwritten {
            self.unwritten += 1;
        }
    }
}

/// Takes the first `n` of a set.
/// Of records set aside to be asked for again (short id → author), those whose author `pick`
/// accepts, oldest short id first, at most `room`.
fn pick_ids(
    ids: &BTreeMap<u64, KeyHint>,
    room: usize,
    mut pick: impl FnMut(KeyHint) -> bool,
) -> Vec<u64> {
    ids.iter()
        .filter(|(_, author)| pick(**author))
        .map(|(short, _)| *short)
        .take(room)
        .collect()
}

/// Moves `ask` from the records set aside (`ids`) to the want queue, but for those `held`
/// meanwhile.
fn ask_again(
    want: &mut BTreeSet<u64>,
    ids: &mut BTreeMap<u64, KeyHint>,
    ask: Vec<u64>,
    held: impl Fn(u64) -> bool,
) {
    for short in ask {
        ids.remove(&short);
        if !held(short) {
            want.insert(short);
        }
    }
}

fn take_first(set: &mut BTreeSet<u64>, n: usize) -> Vec<u64> {
    let ids: Vec<u64> = set.iter().take(n).copied().collect();
    for i in &ids {
        set.remove(i);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riblt::Encoder;
    use crate::test_support::{T0, hello, key};

    fn view(peer: &PublicKey) -> PeerView {
        PeerView {
            hint: peer.hint(),
            shore_age_min: 5,
            ashore_by_ms: None,
            linked: None,
            federated: false,
        }
    }

    fn session(set: Vec<u64>) -> Session {
        Session::new(None, T0, hello(set))
    }

    #[test]
    fn the_hello_goes_first_and_a_second_hello_is_a_violation() {
        let (me, peer) = (key(1), key(2));
        let mut s = session(vec![1, 2, 3]);
        assert!(matches!(s.pop_control(), Some(Frame::Hello { .. })));
        let theirs = [TierSummary::default(); TIERS];
        assert_eq!(s.on_hello(&me, &peer, theirs, view(&peer), 100), Ok(()));
        assert!(
            !s.is_idle(),
            "it decodes tier 0: the peer has fewer, it streams"
        );
        assert_eq!(
            s.on_hello(&me, &peer, theirs, view(&peer), 100),
            Err(Violation)
        );
    }

    #[test]
    fn decoding_finds_the_difference_and_says_done() {
        let (me, peer) = (key(1), key(2));
        let mut s = session(vec![1, 2, 3]);
        s.pop_control();
        let theirs = [
            TierSummary {
                count: 1,
                ..TierSummary::default()
            },
            TierSummary::default(),
        ];
        s.on_hello(&me, &peer, theirs, view(&peer), 1000).unwrap();
        let mut enc = Encoder::new(vec![2]);
        let symbols: Vec<_> = (0..8).map(|_| enc.next_symbol().to_bytes()).collect();
        assert_eq!(s.on_symbols(0, 1, &symbols), Err(Violation), "out of order");
        let mut found = s.on_symbols(0, 0, &symbols).unwrap();
        found.sort_unstable_by_key(|(e, _)| *e);
        assert_eq!(found, vec![(1, Side::Local), (3, Side::Local)]);
        assert!(matches!(s.pop_control(), Some(Frame::Done { tier: 0 })));
        assert_eq!(
            s.on_symbols(0, 99, &symbols),
            Ok(Vec::new()),
            "done: ignored"
        );
        assert_eq!(s.on_more(1, 5, 1000), Ok(()), "tier 1 is equal: done");
        assert!(s.is_idle());
    }

    #[test]
    fn held_acks_wait_for_keys_and_go_in_order() {
        let mut s = session(Vec::new());
        s.pop_control();
        assert!(!s.hold_ack(1, Vec::new(), vec![0], T0 + 10));
        assert!(!s.hold_ack(2, Vec::new(), Vec::new(), T0 + 10));
        assert!(s.pop_control().is_none(), "frame 2 waits behind frame 1");
        assert_eq!(s.oldest_ack_overdue(T0), None);
        s.resolve_waiting((1, 0), true);
        assert_eq!(
            s.pop_control().map(|f| format!("{f:?}")),
            Some(format!(
                "{:?}",
                Frame::Ack {
                    upto: 1,
                    refused: vec![]
                }
            ))
        );
        assert!(matches!(s.pop_control(), Some(Frame::Ack { upto: 2, .. })));
        // Given up at the deadline: reported refused.
        s.hold_ack(3, Vec::new(), vec![4], T0 + 10);
        assert_eq!(s.oldest_ack_overdue(T0 + 10), Some(3));
        assert_eq!(s.give_up_oldest_ack(), Some(3));
        s.flush_acks();
        assert!(
            matches!(s.pop_control(), Some(Frame::Ack { upto: 3, refused }) if refused == vec![(3, 4)])
        );
        // Bounded: the caller is told to give up the oldest.
        for seq in 0..MAX_HELD_ACKS as u32 {
            assert!(!s.hold_ack(10 + seq, Vec::new(), vec![0], T0));
        }
        assert!(s.hold_ack(999, Vec::new(), vec![0], T0));
    }

    #[test]
    fn deferred_records_are_asked_for_again_within_bounds() {
        let mut s = session(Vec::new());
        for short in 0..(MAX_DEFERRED_IDS as u64 + 5) {
            s.defer(T0, short, key(3).hint());
        }
        assert_eq!(s.later.len(), MAX_DEFERRED_IDS);
        assert!(!s.deferred_due(T0));
        assert!(s.deferred_due(T0 + RATE_RETRY_MS));
        let mut budget = 2;
        let ask = s.deferred(|_| {
            budget -= 1;
            budget >= 0
        });
        assert_eq!(ask, vec![0, 1]);
        s.retry_deferred(T0 + RATE_RETRY_MS, ask, |short| short == 1);
        assert_eq!(s.take_wants(10), vec![0], "1 is held meanwhile");
        assert_eq!(s.next_timeout(0, 1), Some(T0 + 2 * RATE_RETRY_MS));
    }

    #[test]
    fn records_refused_for_want_of_a_key_are_asked_for_again_once_it_is_known() {
        let mut s = session(Vec::new());
        for short in 0..(MAX_DEFERRED_IDS as u64 + 5) {
            s.defer_for_key(short, key(short as u8 % 2 + 3).hint());
        }
        assert_eq!(s.keyless.len(), MAX_DEFERRED_IDS, "bounded");
        s.retry_keyless(|_| false, |_| false);
        assert!(s.take_wants(10).is_empty(), "no key known yet");
        let known = key(3).hint();
        s.retry_keyless(|a| *a == known, |short| short == 2);
        assert_eq!(s.take_wants(3), vec![0, 4, 6], "2 is held meanwhile");
        assert_eq!(s.keyless.len(), MAX_DEFERRED_IDS / 2);
    }

    #[test]
    fn pacing_spends_and_refills_at_the_link_rate() {
        let mut s = Session::new(Some(8_000), T0, hello(Vec::new()));
        assert!(!s.refill(T0, 1200), "no allowance yet");
        assert!(s.refill(T0 + 100, 1200), "100 bytes after 100 ms at 1 kB/s");
        s.sent(T0 + 100, 300, true, None, false);
        assert_eq!(s.ready_at(), Some(T0 + 301));
        assert!(!s.window_full(0));
        s.sent(T0 + 100, 10, true, None, true);
        assert!(s.window_full(1));
        s.stalled(T0);
        assert!(!s.take_stall(T0 + 9, 10));
        assert!(s.take_stall(T0 + 10, 10));
        s.on_written(1);
        assert!(!s.window_full(1));
    }
}
