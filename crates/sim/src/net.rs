//! The discrete-event loop every router runs in: contact events from the plan, the traffic,
//! links that carry what a router sends no faster than their rate, and the log of what was
//! delivered when.
//!
//! # The capacity model
//!
//! Each open contact has two directions, each with its own rate (full duplex). A payload of
//! `b` bytes takes `b × 8 / rate` to cross; payloads on one direction cross one after another
//! in the order they were sent. A payload whose crossing would end at or after the contact's
//! down time is lost. Nothing else is lost.
//!
//! # Order of events
//!
//! Events are ordered by time, then: contact downs, contact ups, arrivals, new records,
//! timers, samples; then by the order they were scheduled. So a record written at the instant a
//! contact comes up can use it, and one arriving at the instant it goes down is lost, as the
//! oracle assumes.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::traffic::{Class, Item, Msg, MsgIdx, NodeIdx, Reactor, is_target};
use crate::world::World;

/// What crosses a link.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    /// A baseline router's message, with the forwarding copies handed over.
    Msg(MsgIdx, u32),
    /// An engine sync frame.
    Frame(Vec<u8>),
}

#[derive(Debug)]
pub(crate) enum EvKind {
    Arrival {
        contact: u32,
        to_b: bool,
        payload: Payload,
    },
    Create(MsgIdx),
    Timer(NodeIdx),
}

impl EvKind {
    fn rank(&self) -> u8 {
        match self {
            EvKind::Arrival { .. } => 2,
            EvKind::Create(_) => 3,
            EvKind::Timer(_) => 4,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Ev {
    t: u64,
    rank: u8,
    seq: u64,
    kind: EvKind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap pops the earliest.
        (o.t, o.rank, o.seq).cmp(&(self.t, self.rank, self.seq))
    }
}

/// One direction of an open contact.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Dir {
    /// When the direction is free again.
    pub(crate) busy_until: u64,
    /// Payloads scheduled and not yet arrived.
    pub(crate) in_flight: u32,
}

/// What a run records, for the metrics.
#[derive(Debug)]
pub(crate) struct Log {
    /// Every message: the base traffic, then answers in the order they were written.
    pub(crate) msgs: Vec<Msg>,
    /// Every measured item.
    pub(crate) items: Vec<Item>,
    /// Items of each message (range into `items`).
    pub(crate) msg_items: Vec<(u32, u32)>,
    /// First arrival of each item at a target: (time, node).
    pub(crate) delivered: Vec<Option<(u64, NodeIdx)>>,
    /// Completed record transfers by class of the record (index as in `Class::ALL`).
    pub(crate) relays: [u64; 8],
    /// Of the relays, those to a node that held the record already (by class).
    pub(crate) duplicates: [u64; 8],
    /// Record bytes carried by class.
    pub(crate) record_bytes: [u64; 8],
    /// All bytes carried (records, control, frames' framing).
    pub(crate) bytes: u64,
    /// Records carried that belong to no measured message (receipts, keys).
    pub(crate) other_records: u64,
    /// The largest store or buffer of any node, records and bytes.
    pub(crate) peak_records: u64,
    pub(crate) peak_bytes: u64,
    /// Mean over samples of the mean store size per node, bytes.
    pub(crate) mean_bytes_sum: f64,
    pub(crate) samples: u64,
    pub(crate) reactor: Reactor,
    /// A vessel whose key was revoked, and when: its messages from then on are not measured.
    pub(crate) revoked: Option<(NodeIdx, u64)>,
    /// Counters a router may add (penalties, refused contacts, ...).
    pub(crate) notes: std::collections::BTreeMap<&'static str, u64>,
}

impl Log {
    pub(crate) fn add_msg(&mut self, m: Msg) -> MsgIdx {
        let idx = self.msgs.len() as MsgIdx;
        let start = self.items.len() as u32;
        m.items(idx, &mut self.items);
        let end = self.items.len() as u32;
        self.delivered.resize(self.items.len(), None);
        self.msg_items.push((start, end));
        self.msgs.push(m);
        idx
    }

    pub(crate) fn note(&mut self, k: &'static str, n: u64) {
        *self.notes.entry(k).or_default() += n;
    }

    /// Counts a completed transfer of a record of this class (None: not a measured message).
    pub(crate) fn relay(&mut self, class: Option<Class>, bytes: u64) {
        match class {
            Some(c) => {
                let i = c as usize;
                self.relays[i] += 1;
                self.record_bytes[i] += bytes;
            }
            None => self.other_records += 1,
        }
    }
}

/// The event loop's state, shared with the router.
#[derive(Debug)]
pub(crate) struct Net<'w> {
    pub(crate) w: &'w World,
    pub(crate) now: u64,
    heap: BinaryHeap<Ev>,
    seq: u64,
    /// Per contact: whether open, and its two directions (a→b, b→a).
    pub(crate) open: Vec<bool>,
    pub(crate) dirs: Vec<[Dir; 2]>,
    /// Open contacts of each node: (peer, contact).
    pub(crate) adj: Vec<Vec<(NodeIdx, u32)>>,
    pub(crate) log: Log,
    pub(crate) epoch_s: u64,
    /// Whether deliveries are answered by the shared model (`Reactor`); the haiqiao router
    /// with its application answers itself.
    pub(crate) reactor_answers: bool,
}

/// What a router does with events; the loop calls it.
pub(crate) trait Router {
    /// A contact came up (already open in `net`).
    fn contact_up(&mut self, net: &mut Net<'_>, contact: u32);
    /// A contact went down (already closed in `net`; payloads on it are lost).
    fn contact_down(&mut self, net: &mut Net<'_>, contact: u32);
    /// A payload crossed a contact; `lost` if the contact closed first.
    fn arrival(
        &mut self,
        net: &mut Net<'_>,
        contact: u32,
        to_b: bool,
        payload: Payload,
        lost: bool,
    );
    /// A node writes message `m` now.
    fn create(&mut self, net: &mut Net<'_>, m: MsgIdx);
    /// A timer the router set fired.
    fn timer(&mut self, net: &mut Net<'_>, node: NodeIdx);
    /// Store or buffer sizes: (records, bytes) per node.
    fn occupancy(&mut self, net: &Net<'_>) -> Vec<(u64, u64)>;
}

impl<'w> Net<'w> {
    pub(crate) fn new(w: &'w World, mediation_h: f64, epoch_s: u64) -> Net<'w> {
        let mut log = Log {
            msgs: Vec::new(),
            items: Vec::new(),
            msg_items: Vec::new(),
            delivered: Vec::new(),
            relays: [0; 8],
            duplicates: [0; 8],
            record_bytes: [0; 8],
            bytes: 0,
            other_records: 0,
            peak_records: 0,
            peak_bytes: 0,
            mean_bytes_sum: 0.0,
            samples: 0,
            reactor: Reactor::new(mediation_h),
            revoked: None,
            notes: Default::default(),
        };
        for m in &w.msgs {
            log.add_msg(m.clone());
        }
        Net {
            w,
            now: 0,
            heap: BinaryHeap::new(),
            seq: 0,
            open: vec![false; w.contacts.len()],
            dirs: vec![[Dir::default(); 2]; w.contacts.len()],
            adj: vec![Vec::new(); w.nodes.len()],
            log,
            epoch_s,
            reactor_answers: true,
        }
    }

    fn push(&mut self, t: u64, kind: EvKind) {
        self.seq += 1;
        self.heap.push(Ev {
            t,
            rank: kind.rank(),
            seq: self.seq,
            kind,
        });
    }

    /// Sets a timer for a node.
    pub(crate) fn timer(&mut self, t: u64, node: NodeIdx) {
        self.push(t.max(self.now), EvKind::Timer(node));
    }

    /// The contact's two ends and which direction `from` sends on.
    pub(crate) fn ends(&self, contact: u32) -> (NodeIdx, NodeIdx) {
        let c = &self.w.contacts[contact as usize];
        (c.a, c.b)
    }

    /// The open contact between two nodes, if any.
    pub(crate) fn contact_between(&self, a: NodeIdx, b: NodeIdx) -> Option<u32> {
        self.adj[a as usize]
            .iter()
            .find(|(p, _)| *p == b)
            .map(|(_, c)| *c)
    }

    /// Sends `bytes` from `from` over `contact`; returns when it will arrive (it is lost if
    /// that is at or after the contact's down time).
    pub(crate) fn send(
        &mut self,
        contact: u32,
        from: NodeIdx,
        bytes: usize,
        payload: Payload,
    ) -> u64 {
        let c = self.w.contacts[contact as usize];
        let to_b = from == c.a;
        let d = &mut self.dirs[contact as usize][usize::from(!to_b)];
        let start = d.busy_until.max(self.now);
        let tx = (bytes as u64 * 8 * 1000).div_ceil(u64::from(c.rate_bps.max(1)));
        let end = start + tx.max(1);
        d.busy_until = end;
        d.in_flight += 1;
        self.log.bytes += bytes as u64;
        self.push(
            end,
            EvKind::Arrival {
                contact,
                to_b,
                payload,
            },
        );
        end
    }

    /// Whether the direction from `from` on `contact` is idle.
    pub(crate) fn idle(&self, contact: u32, from: NodeIdx) -> bool {
        let c = &self.w.contacts[contact as usize];
        self.dirs[contact as usize][usize::from(from != c.a)].in_flight == 0
    }

    /// Message `m` reached `node` now: marks its items whose target `node` is, and writes the
    /// answers. Returns whether any item was newly delivered.
    pub(crate) fn received(&mut self, m: MsgIdx, node: NodeIdx) -> bool {
        let (s, e) = self.log.msg_items[m as usize];
        let kind = self.w.kind(node);
        let deadline = self.log.msgs[m as usize].deadline_ms(self.epoch_s);
        if self.now >= deadline {
            return false;
        }
        let mut any = false;
        for i in s..e {
            let item = self.log.items[i as usize];
            if self.log.delivered[i as usize].is_none() && is_target(item.target, node, kind) {
                self.log.delivered[i as usize] = Some((self.now, node));
                any = true;
                if !self.reactor_answers {
                    continue;
                }
                let answers = self
                    .log
                    .reactor
                    .on_delivered(&self.log.msgs, &item, node, self.now);
                for a in answers {
                    let t = a.created_ms;
                    if t < self.w.duration_ms {
                        let idx = self.log.add_msg(a);
                        self.push(t, EvKind::Create(idx));
                    }
                }
            }
        }
        any
    }

    /// Whether `node` is a target of every item of `m` (the final destination: it keeps the
    /// message and does not forward it).
    pub(crate) fn is_final(&self, m: MsgIdx, node: NodeIdx) -> bool {
        let (s, e) = self.log.msg_items[m as usize];
        let kind = self.w.kind(node);
        s < e && (s..e).all(|i| is_target(self.log.items[i as usize].target, node, kind))
    }

    /// Whether `node` is a target of some item of `m`.
    pub(crate) fn is_target_of(&self, m: MsgIdx, node: NodeIdx) -> bool {
        let (s, e) = self.log.msg_items[m as usize];
        let kind = self.w.kind(node);
        (s..e).any(|i| is_target(self.log.items[i as usize].target, node, kind))
    }

    /// Runs the loop to the end of the world's time.
    pub(crate) fn run(
        &mut self,
        router: &mut dyn Router,
        sample_ms: u64,
        progress: &mut dyn FnMut(u64),
    ) {
        let w = self.w;
        let end = w.duration_ms;
        let mut ce = 0usize;
        let mut base = 0usize;
        let n_base = w.msgs.len();
        let mut next_sample = 0u64;
        let mut last_report = 0u64;
        let report_every = (end / 200).max(1);
        loop {
            // The next event: contact events, base traffic, the heap, samples.
            let c_key = w.events.get(ce).map(|e| (e.t, u8::from(e.up), 0u64));
            let b_key = (base < n_base).then(|| (w.msgs[base].created_ms, 3u8, 0u64));
            let h_key = self.heap.peek().map(|e| (e.t, e.rank, e.seq));
            let s_key = (next_sample <= end).then_some((next_sample, 5u8, u64::MAX));
            let Some(k) = [c_key, b_key, h_key, s_key].into_iter().flatten().min() else {
                break;
            };
            if k.0 > end {
                break;
            }
            self.now = k.0;
            if self.now >= last_report + report_every {
                last_report = self.now;
                progress(self.now);
            }
            if Some(k) == c_key {
                let e = w.events[ce];
                ce += 1;
                let c = w.contacts[e.contact as usize];
                if e.up {
                    self.open[e.contact as usize] = true;
                    self.dirs[e.contact as usize] = [Dir::default(); 2];
                    self.adj[c.a as usize].push((c.b, e.contact));
                    self.adj[c.b as usize].push((c.a, e.contact));
                    router.contact_up(self, e.contact);
                } else if self.open[e.contact as usize] {
                    self.close(e.contact);
                    router.contact_down(self, e.contact);
                }
            } else if Some(k) == b_key {
                base += 1;
                router.create(self, (base - 1) as MsgIdx);
            } else if Some(k) == s_key {
                next_sample += sample_ms.max(1);
                let occ = router.occupancy(self);
                self.log.samples += 1;
                let mut sum = 0u64;
                for (r, b) in occ.iter().copied() {
                    self.log.peak_records = self.log.peak_records.max(r);
                    self.log.peak_bytes = self.log.peak_bytes.max(b);
                    sum += b;
                }
                self.log.mean_bytes_sum += sum as f64 / occ.len().max(1) as f64;
            } else if let Some(ev) = self.heap.pop() {
                match ev.kind {
                    EvKind::Arrival {
                        contact,
                        to_b,
                        payload,
                    } => {
                        let lost = !self.open[contact as usize];
                        if !lost {
                            let d = &mut self.dirs[contact as usize][usize::from(!to_b)];
                            d.in_flight = d.in_flight.saturating_sub(1);
                        }
                        router.arrival(self, contact, to_b, payload, lost);
                    }
                    EvKind::Create(m) => router.create(self, m),
                    EvKind::Timer(n) => router.timer(self, n),
                }
            }
        }
        progress(end);
    }

    /// Closes a contact (a router may also close one early, e.g. the engine refused it).
    pub(crate) fn close(&mut self, contact: u32) {
        if !std::mem::replace(&mut self.open[contact as usize], false) {
            return;
        }
        let c = self.w.contacts[contact as usize];
        self.adj[c.a as usize].retain(|(_, x)| *x != contact);
        self.adj[c.b as usize].retain(|(_, x)| *x != contact);
    }
}
