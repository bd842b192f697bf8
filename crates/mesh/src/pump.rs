//! The pump: turns a session's queues into frames, most urgent first, as fast as the link's
//! pacing, the ack-clocked byte window ([`crate::window`]) and the transport's frame window
//! allow.
//!
//! Order of frames to one peer: control (hello, acks, done, more, keys), wants, urgent records
//! (distress, safety, control), offers of urgent records, tier-0 symbols, other records,
//! offers of other records, tier-1 symbols. Offers of bulk come after bulk records: a relay
//! offers every record it takes in, and while its inflow lasted those offers kept the window
//! from the records its peer had already asked for (`bench chain`: the third boat sat idle
//! until the relay had received everything).
//! Control frames never wait; everything else waits for the byte window, so that what is
//! already on its way to the peer stays small and the next urgent record goes out within
//! about one small frame. When only frames that are not acknowledged (offers, symbols) fill
//! the window, an empty `Records` frame probes: its ack opens it again.

use haiqiao_proto::wire::{Carried, Frame, SHORT_ID_LEN, SYMBOL_LEN};
use haiqiao_proto::{Priority, PublicKey, RecordId};

use crate::config::MeshConfig;
use crate::events::Stats;
use crate::index::{Index, short_bytes};
use crate::receipts::Receipts;
use crate::session::Session;
use crate::store::Store;

/// The smallest records frame worth sending when the window is small, bytes (a frame may
/// always carry one record, however large).
pub(crate) const MIN_RECORDS_FRAME: usize = 256;

/// The smallest frame budget, bytes (whatever [`MeshConfig::max_frame_bytes`] says).
pub(crate) const MIN_FRAME_BYTES: usize = 64;

/// A frame with what it carried.
struct Next {
    frame: Frame,
    record_bytes: u64,
    records: u64,
}

impl Next {
    fn control(frame: Frame) -> Next {
        Next {
            frame,
            record_bytes: 0,
            records: 0,
        }
    }
}

/// The peer frames are for.
#[derive(Clone, Copy)]
struct To<'p> {
    peer: &'p PublicKey,
    /// Distress-class records only.
    quarantined: bool,
}

/// What the pump works on for one round: the engine's parts it reads and hands copies from.
pub(crate) struct Pump<'a, S: Store> {
    pub(crate) cfg: &'a MeshConfig,
    pub(crate) index: &'a mut Index,
    pub(crate) store: &'a S,
    /// Peers handed forwarding copies are remembered as co-holders (receipts follow them).
    pub(crate) receipts: &'a mut Receipts,
    pub(crate) stats: &'a mut Stats,
}

impl<S: Store> Pump<'_, S> {
    /// The frames `s` may send to `peer` now, encoded, in order (`quarantined`: distress-class
    /// records only).
    pub(crate) fn frames(
        &mut self,
        now_ms: u64,
        peer: &PublicKey,
        s: &mut Session,
        quarantined: bool,
    ) -> Vec<Vec<u8>> {
        let max = self.cfg.max_frame_bytes.max(MIN_FRAME_BYTES);
        let to = To { peer, quarantined };
        let mut frames = Vec::new();
        loop {
            if s.window_full(self.cfg.send_window_frames) {
                s.stalled(now_ms);
                break;
            }
            if !s.has_work() || !s.refill(now_ms, max) {
                break;
            }
            let control = s.has_control();
            let next = if control || s.window().open() {
                let budget = s.window().frame_budget(max, MIN_RECORDS_FRAME);
                self.next_frame(to, s, budget)
            } else if s.window().needs_probe() {
                Some(Next::control(Frame::Records {
                    seq: s.start_records_frame(Vec::new()),
                    items: Vec::new(),
                }))
            } else {
                None
            };
            let Some(next) = next else { break };
            let bytes = next.frame.encode();
            self.stats.frames_out += 1;
            self.stats.bytes_out += bytes.len() as u64;
            self.stats.record_bytes_out += next.record_bytes;
            self.stats.records_out += next.records;
            let seq = match &next.frame {
                Frame::Records { seq, .. } => Some(*seq),
                _ => None,
            };
            s.sent(
                now_ms,
                bytes.len(),
                control,
                seq,
                self.cfg.send_window_frames > 0,
            );
            frames.push(bytes);
        }
        frames
    }

    /// The most urgent frame for the peer: control, wants, urgent records, urgent offers,
    /// tier-0 symbols, other records, other offers, tier-1 symbols.
    fn next_frame(&mut self, to: To<'_>, s: &mut Session, max: usize) -> Option<Next> {
        if let Some(f) = s.pop_control() {
            return Some(Next::control(f));
        }
        let ids_per_frame = ((max - 8) / SHORT_ID_LEN).max(1);
        let wants = s.take_wants(ids_per_frame);
        if !wants.is_empty() {
            let ids = wants.into_iter().map(short_bytes).collect();
            return Some(Next::control(Frame::Want { ids }));
        }
        let can_send_records = s.can_send_records();
        let urgent = s
            .first_queued()
            .is_some_and(|(p, _, _)| p <= Priority::Control);
        if can_send_records
            && urgent
            && let Some(f) = self.records_frame(to, s, max)
        {
            return Some(f);
        }
        let offers = s.take_offers(ids_per_frame, true);
        if !offers.is_empty() {
            let ids = offers.into_iter().map(short_bytes).collect();
            return Some(Next::control(Frame::Offer { ids }));
        }
        let symbols_per_frame = ((max - 10) / SYMBOL_LEN).max(1);
        if let Some(f) = s.next_symbols(0, symbols_per_frame) {
            return Some(Next::control(f));
        }
        if can_send_records
            && s.has_records()
            && let Some(f) = self.records_frame(to, s, max)
        {
            return Some(f);
        }
        let offers = s.take_offers(ids_per_frame, false);
        if !offers.is_empty() {
            let ids = offers.into_iter().map(short_bytes).collect();
            return Some(Next::control(Frame::Offer { ids }));
        }
        s.next_symbols(1, symbols_per_frame).map(Next::control)
    }

    /// The next `Records` frame for the peer, most urgent first; a quarantined peer is sent
    /// distress-class records only. An urgent record's frame carries no bulk behind it.
    fn records_frame(&mut self, to: To<'_>, s: &mut Session, max: usize) -> Option<Next> {
        let mut items = Vec::new();
        let mut handed: Vec<(RecordId, u8)> = Vec::new();
        let mut size = 8usize;
        let mut record_bytes = 0u64;
        let mut urgent_frame = false;
        while let Some(q) = s.first_queued() {
            let id = q.2;
            if to.quarantined && q.0 != Priority::Distress {
                s.unqueue(&q);
                continue;
            }
            let Ok(Some(r)) = self.store.get(&id) else {
                s.unqueue(&q);
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
            let want = s.unqueue(&q);
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
        for (id, k) in &handed {
            if *k > 0 {
                self.receipts.note_co_holder(*id, *to.peer);
            }
        }
        let seq = s.start_records_frame(handed);
        let records = items.len() as u64;
        Some(Next {
            frame: Frame::Records { seq, items },
            record_bytes,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Meta;
    use crate::store::{MemStore, StoreLimits, Summary};
    use crate::test_support::{T0, session};
    use haiqiao_proto::{Body, Destination, Envelope, Keypair, Record, Timestamp};

    fn record(key: &Keypair, seq: u64, body: Body, dest: Destination) -> Record {
        let env = Envelope {
            author: key.public().hint(),
            seq,
            created: Timestamp((T0 / 1000) as u32),
            ttl_min: 600,
            dest,
            body,
        };
        Record::sign(key, env).unwrap()
    }

    struct World {
        cfg: MeshConfig,
        index: Index,
        store: MemStore,
        receipts: Receipts,
        stats: Stats,
    }

    impl World {
        fn new() -> World {
            World {
                cfg: MeshConfig::default(),
                index: Index::default(),
                store: MemStore::new(StoreLimits::default()),
                receipts: Receipts::default(),
                stats: Stats::default(),
            }
        }

        fn hold(&mut self, r: &Record, copies: u8) -> (Priority, Timestamp, RecordId) {
            self.store.insert(r).unwrap();
            let m = Meta::new(&Summary::of(r), copies);
            self.index.insert(r.id(), m);
            (m.priority, m.created, r.id())
        }

        fn frames(&mut self, s: &mut Session, quarantined: bool) -> Vec<Frame> {
            let peer = Keypair::from_seed(&[9; 32]).public();
            Pump {
                cfg: &self.cfg,
                index: &mut self.index,
                store: &self.store,
                receipts: &mut self.receipts,
                stats: &mut self.stats,
            }
            .frames(T0, &peer, s, quarantined)
            .iter()
            .map(|b| Frame::decode(b).unwrap())
            .collect()
        }
    }

    fn distress_body() -> Body {
        Body::Distress {
            nature: haiqiao_proto::DistressNature::Flooding,
            fix: None,
            persons: None,
            text: String::new(),
        }
    }

    fn text(n: usize) -> Body {
        Body::Text {
            text: "x".repeat(n),
            safety: false,
        }
    }

    #[test]
    fn control_first_then_urgent_records_alone_then_the_rest() {
        let key = Keypair::from_seed(&[1; 32]);
        let mut w = World::new();
        let mut s = session();
        let bulk = record(&key, 1, text(100), Destination::Shore);
        let distress = record(&key, 2, distress_body(), Destination::Everyone);
        let q = w.hold(&bulk, 4);
        s.queue_record(q, 2);
        let q = w.hold(&distress, 0);
        s.queue_record(q, 0);
        s.offer(7, true);
        s.offer(8, false);
        let frames = w.frames(&mut s, false);
        assert!(matches!(frames[0], Frame::Hello { .. }));
        let Frame::Records { seq: 0, items } = &frames[1] else {
            panic!("{:?}", frames[1]);
        };
        assert_eq!(items.len(), 1, "the distress goes alone");
        assert_eq!(items[0].bytes, distress.bytes());
        assert!(
            matches!(&frames[2], Frame::Offer { ids } if ids == &[short_bytes(7)]),
            "an urgent record's offer before bulk"
        );
        let Frame::Records { seq: 1, items } = &frames[3] else {
            panic!("{:?}", frames[3]);
        };
        assert_eq!(items[0].copies, 2, "copies handed over");
        assert_eq!(w.index.get(&bulk.id()).map(|m| m.copies), Some(2));
        assert!(
            matches!(&frames[4], Frame::Offer { ids } if ids == &[short_bytes(8)]),
            "a bulk record's offer after bulk records"
        );
        assert_eq!(frames.len(), 5);
        assert_eq!(w.stats.records_out, 2);
        assert!(!s.has_work());
    }

    #[test]
    fn a_quarantined_peer_is_sent_distress_only() {
        let key = Keypair::from_seed(&[1; 32]);
        let mut w = World::new();
        let mut s = session();
        s.pop_control();
        let bulk = record(&key, 1, text(10), Destination::Everyone);
        let distress = record(&key, 2, distress_body(), Destination::Everyone);
        for r in [&bulk, &distress] {
            let q = w.hold(r, 0);
            s.queue_record(q, 0);
        }
        let frames = w.frames(&mut s, true);
        assert_eq!(frames.len(), 1);
        assert!(
            matches!(&frames[0], Frame::Records { items, .. } if items.len() == 1 && items[0].bytes == distress.bytes())
        );
    }

    #[test]
    fn a_full_byte_window_sends_a_probe_and_a_full_frame_window_stalls() {
        let key = Keypair::from_seed(&[1; 32]);
        let mut w = World::new();
        w.cfg.max_frame_bytes = 4000;
        let mut s = session();
        s.pop_control();
        for i in 0..64 {
            s.offer(i, false);
        }
        for i in 0..40 {
            let r = record(&key, i, text(150), Destination::Everyone);
            let q = w.hold(&r, 0);
            s.queue_record(q, 0);
        }
        let frames = w.frames(&mut s, false);
        let sent: usize = frames.iter().map(|f| f.encode().len()).sum();
        assert!(
            sent < 40 * 150,
            "the byte window holds records back: {sent} bytes"
        );
        assert!(s.has_work());
        // With a frame window of one, the next frame waits for the transport.
        w.cfg.send_window_frames = 1;
        let mut s = session();
        assert_eq!(w.frames(&mut s, false).len(), 1, "the hello");
        s.push_control(Frame::Done { tier: 0 });
        assert!(w.frames(&mut s, false).is_empty());
        assert!(s.take_stall(T0 + 1, 1), "stalled since the full window");
    }
}
