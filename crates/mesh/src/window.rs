//! The ack-clocked send window of one sync session: how many bytes may be on their way to a
//! peer before the engine holds the rest back, most urgent first.
//!
//! # Why
//!
//! Whatever the engine hands to the network layer is out of its hands: the driver's queue, the
//! multiplexer, the kernel's socket buffer and a radio's queue all send it in order. On a
//! 9,600 bit/s link a 16 KiB socket buffer alone is 14 s of air time, so a distress written
//! now would wait behind everything handed over before it (design.md §3: a distress never
//! waits behind a backlog). Priority can only act on what has not been handed over yet, so
//! the engine keeps the bytes outstanding at about what the link carries in
//! [`TARGET_QUEUE_MS`], and holds the rest in its own priority queues.
//!
//! # How
//!
//! The sync stream is one ordered byte stream, and the peer acknowledges each `Records` frame
//! (`Frame::Ack`, after the records are durable). An ack for frame *n* therefore proves that
//! every byte sent up to the end of frame *n* has arrived. The window counts the bytes of
//! every frame but the control frames (hello, ack, more, done, keys), which are small and must
//! never wait: `outstanding = sent − delivered`. A non-control frame may be sent while
//! `outstanding < window`. When the window is full and no `Records` frame is in flight to be
//! acknowledged (say, only offers or symbols were sent), one empty `Records` frame goes out as
//! a probe; its ack opens the window again. An empty `Records` frame is valid on the wire and
//! every node acknowledges it, so this needs nothing new of the peer.
//!
//! The window follows the link's delivery rate: the bytes acknowledged over at least the last
//! [`RATE_SPAN_MS`] (two seconds), so that a burst (acks arriving in a bunch, a token-bucket
//! shaper's burst allowance, a radio's frame aggregation) does not read as bandwidth; the
//! estimate is the largest of the last [`RATE_SAMPLES`] samples, so that a quiet spell does
//! not shrink it (the windowed maximum of BBR: Cardwell et al., "BBR: Congestion-Based
//! Congestion Control", ACM Queue 2016). `window = rate × TARGET_QUEUE_MS`, at least
//! [`MIN_WINDOW`], at most [`MAX_WINDOW`]; until the first sample it is the configured link
//! rate's, or [`INITIAL_WINDOW`]. The first samples come before the span once
//! [`EARLY_SAMPLE_BYTES`] have been acknowledged (far more than a shaper's burst): on loopback
//! the window opens after a few round trips; on a 9,600 bit/s link, which needs 14 s for them,
//! it waits for the span and settles near 500 bytes, so a distress waits for about one small
//! frame.
//!
//! Frames grow with the rate: at most `max_frame_bytes`, or what the link carries in
//! [`GROWN_FRAME_MS`] when that is more (fast links only, at most [`MAX_GROWN_FRAME`]): every
//! `Records` frame costs the receiver one batch verification and one durable write before its
//! ack, so a fast link wants few large frames, and a thin one small frames, so that a distress
//! is never stuck behind a big one.

use std::collections::VecDeque;

/// How much queueing the window aims for beyond the link's own round trip, ms.
pub(crate) const TARGET_QUEUE_MS: u64 = 400;
/// The smallest window, bytes (a typical frame of a few records).
pub(crate) const MIN_WINDOW: u64 = 512;
/// The window before the link's rate is known, bytes.
pub(crate) const INITIAL_WINDOW: u64 = 2 * 1200;
/// The largest window, bytes (what a fast link needs; the transport queue bounds it too).
pub(crate) const MAX_WINDOW: u64 = 4 << 20;
/// Delivery-rate samples kept for the windowed maximum.
pub(crate) const RATE_SAMPLES: usize = 10;
/// The shortest time a delivery-rate sample spans, ms.
pub(crate) const RATE_SPAN_MS: u64 = 2_000;
/// Bytes acknowledged since the baseline that make a delivery-rate sample before
/// [`RATE_SPAN_MS`] have passed: on a fast link the window opens after a few round trips
/// instead of two seconds. Far more than a shaper's burst allowance (`tc tbf ... burst 1600`)
/// or a radio's aggregation, so that a burst does not read as bandwidth; a 9,600 bit/s link
/// takes 14 s to deliver it, so thin links still wait for the span.
pub(crate) const EARLY_SAMPLE_BYTES: u64 = 16 * 1024;
/// How long one frame may hold the link on a fast link, ms: frames grow beyond
/// `max_frame_bytes` to what the measured rate carries in this time (fewer frames, so fewer
/// batch verifications and fsyncs at the receiver), at most [`MAX_GROWN_FRAME`]. On a thin
/// link this is far below `max_frame_bytes`, so frames there stay as they were and a distress
/// never waits behind a big frame.
pub(crate) const GROWN_FRAME_MS: u64 = 20;
/// The largest frame a fast link grows to, bytes: below the wire's
/// [`haiqiao_proto::wire::MAX_FRAME_LEN`] with room for the framing the pump estimates.
pub(crate) const MAX_GROWN_FRAME: usize = haiqiao_proto::wire::MAX_FRAME_LEN - 1024;
/// Acks remembered for the rate (those within the span are thinned beyond this).
const MAX_ACKS: usize = 64;
/// `Records` frames remembered in flight (the engine's own in-flight cap is lower).
const MAX_MARKS: usize = 1024;

/// One `Records` frame in flight.
#[derive(Debug, Clone, Copy)]
struct Mark {
    seq: u32,
    /// Bytes sent up to the end of this frame.
    sent_to: u64,
}

/// The send window of one session. See the module docs.
#[derive(Debug)]
pub(crate) struct Window {
    sent: u64,
    delivered: u64,
    marks: VecDeque<Mark>,
    samples: VecDeque<u64>,
    /// Acks, oldest first: (when, bytes delivered by then); the first is the newest one at
    /// least [`RATE_SPAN_MS`] old once there is one (or the first send).
    acks: VecDeque<(u64, u64)>,
    /// The configured link rate, bytes per second, used until the first sample.
    configured: Option<u64>,
}

impl Window {
    /// A window for a link whose rate is known (`rate_bps`) or not.
    pub(crate) fn new(rate_bps: Option<u32>) -> Window {
        Window {
            sent: 0,
            delivered: 0,
            marks: VecDeque::new(),
            samples: VecDeque::new(),
            acks: VecDeque::new(),
            configured: rate_bps.map(|r| u64::from(r) / 8),
        }
    }

    /// Bytes handed to the transport and not yet known to have arrived.
    pub(crate) fn outstanding(&self) -> u64 {
        self.sent - self.delivered
    }

    /// The link's delivery rate, bytes per second, when measured (or configured).
    pub(crate) fn rate(&self) -> Option<u64> {
        self.samples.iter().copied().max().or(self.configured)
    }

    /// How many bytes may be outstanding.
    pub(crate) fn size(&self) -> u64 {
        match self.rate() {
            Some(r) => (r.saturating_mul(TARGET_QUEUE_MS) / 1000).clamp(MIN_WINDOW, MAX_WINDOW),
            None => INITIAL_WINDOW,
        }
    }

    /// Whether a non-control frame may be sent now.
    pub(crate) fn open(&self) -> bool {
        self.outstanding() < self.size()
    }

    /// Whether the window is full with nothing in flight that an ack will answer: the engine
    /// should send an empty `Records` frame as a probe.
    pub(crate) fn needs_probe(&self) -> bool {
        !self.open() && self.marks.is_empty()
    }

    /// The largest frame worth building now, bytes: three times the window (framing below
    /// the engine costs 100 to 170 bytes a frame on TCP, counting the acknowledgements, so
    /// frames much smaller than a second of a slow link waste it), at least `floor`, at most
    /// `max_frame` — or, on a link fast enough, what it carries in [`GROWN_FRAME_MS`], at most
    /// [`MAX_GROWN_FRAME`].
    pub(crate) fn frame_budget(&self, max_frame: usize, floor: usize) -> usize {
        let grown = self.rate().map_or(0, |r| {
            usize::try_from(r.saturating_mul(GROWN_FRAME_MS) / 1000)
                .unwrap_or(usize::MAX)
                .min(MAX_GROWN_FRAME)
        });
        let cap = max_frame.max(grown);
        let size = usize::try_from(self.size().saturating_mul(3)).unwrap_or(usize::MAX);
        size.clamp(floor.min(cap), cap)
    }

    /// A non-control frame of `bytes` was handed to the transport; `records_seq` when it is
    /// a `Records` frame (the peer will acknowledge it).
    pub(crate) fn sent(&mut self, now_ms: u64, bytes: usize, records_seq: Option<u32>) {
        if self.acks.is_empty() {
            // The rate's baseline: nothing was delivered before the first send.
            self.acks.push_back((now_ms, self.delivered));
        }
        self.sent += bytes as u64;
        if let Some(seq) = records_seq {
            if self.marks.len() >= MAX_MARKS {
                self.marks.pop_front();
            }
            self.marks.push_back(Mark {
                seq,
                sent_to: self.sent,
            });
        }
    }

    /// The peer acknowledged `Records` frames up to `upto`.
    pub(crate) fn acked(&mut self, now_ms: u64, upto: u32) {
        let mut last = None;
        while let Some(m) = self.marks.front().copied() {
            if m.seq > upto {
                break;
            }
            self.marks.pop_front();
            last = Some(m);
        }
        let Some(m) = last else {
            return;
        };
        self.delivered = self.delivered.max(m.sent_to);
        let horizon = now_ms.saturating_sub(RATE_SPAN_MS);
        // Keep as the first entry the newest one at least the span old.
        while self.acks.len() >= 2 && self.acks[1].0 <= horizon {
            self.acks.pop_front();
        }
        // A sample once the span has passed, or earlier once enough bytes were acknowledged
        // that a burst cannot be mistaken for the link's rate.
        if let Some(&(t0, d0)) = self.acks.front()
            && (t0 <= horizon || self.delivered - d0 >= EARLY_SAMPLE_BYTES)
        {
            let rate =
                (self.delivered - d0).saturating_mul(1000) / now_ms.saturating_sub(t0).max(1);
            if self.samples.len() >= RATE_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back(rate);
        }
        if self.acks.len() >= MAX_ACKS {
            // Thin the recent ones; the first (the baseline) stays.
            self.acks.remove(1);
        }
        self.acks.push_back((now_ms, self.delivered));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_small_and_opens_on_a_fast_link() {
        let mut w = Window::new(None);
        assert_eq!(w.size(), INITIAL_WINDOW);
        w.sent(0, 1200, Some(0));
        w.sent(0, 1200, Some(1));
        assert!(!w.open());
        assert!(!w.needs_probe(), "a records frame is in flight");
        // Loopback: each window acked 1 ms after it was sent, for a little over two seconds.
        let (mut t, mut seq) = (0u64, 2u32);
        w.acked(1, 1);
        while t < 2_100 {
            t += 1;
            let n = w.size().min(1 << 20) / 1200;
            for _ in 0..n.max(1) {
                w.sent(t, 1200, Some(seq));
                seq += 1;
            }
            w.acked(t + 1, seq - 1);
        }
        assert_eq!(w.outstanding(), 0);
        assert!(w.size() >= 1 << 20, "window {}", w.size());
    }

    #[test]
    fn opens_after_a_few_round_trips_on_a_fast_link_and_frames_grow_only_there() {
        // Loopback-like: each frame acked 2 ms after it was sent.
        let mut w = Window::new(None);
        assert_eq!(
            w.frame_budget(1200, 256),
            1200,
            "no rate yet: the configured cap"
        );
        let (mut t, mut seq) = (0u64, 0u32);
        while w.rate().is_none() {
            let n = (w.size() / 1200).max(1);
            for _ in 0..n {
                w.sent(t, 1200, Some(seq));
                seq += 1;
            }
            t += 2;
            w.acked(t, seq - 1);
            assert!(t < 100, "no sample after {t} ms");
        }
        assert!(w.size() > 64 * 1024, "window {} after {t} ms", w.size());
        let budget = w.frame_budget(1200, 256);
        assert!(
            budget > 1200 && budget <= MAX_GROWN_FRAME,
            "budget {budget}"
        );
        // A 9,600 bit/s link (1,200 B/s): no early sample, frames as configured.
        let mut w = Window::new(None);
        let (mut t, mut seq) = (1_000_000u64, 0u32);
        while t < 1_001_500 {
            w.sent(t, 600, Some(seq));
            t += 500;
            w.acked(t, seq);
            seq += 1;
        }
        assert!(
            w.rate().is_none(),
            "no sample before the span on a thin link"
        );
        let mut w = Window::new(Some(9_600));
        assert_eq!(w.frame_budget(1200, 256), 1200);
        w.sent(0, 1200, Some(0));
        w.acked(2_500, 0);
        assert_eq!(
            w.frame_budget(1200, 256),
            1200,
            "a thin link's frames do not grow"
        );
    }

    #[test]
    fn settles_near_half_a_second_of_a_slow_link_and_a_shapers_burst_does_not_open_it() {
        // 9,600 bit/s = 1,200 B/s behind a token-bucket shaper that lets 1,600 bytes through
        // at once when it has been idle (as `tc tbf ... burst 1600` does); every fifth frame
        // the sender pauses 2 s, so the bucket fills again.
        let mut w = Window::new(None);
        let (mut t, mut tokens, mut last) = (0u64, 1_600u64, 0u64);
        let mut largest = 0;
        for seq in 0..60u32 {
            if seq % 5 == 4 {
                t += 2_000;
            }
            tokens = (tokens + (t - last) * 1200 / 1000).min(1_600);
            let b = w.frame_budget(1200, 256) as u64;
            w.sent(t, b as usize, Some(seq));
            let wait = if tokens >= b {
                tokens -= b;
                1
            } else {
                let w = (b - tokens) * 1000 / 1200;
                tokens = 0;
                w
            };
            t += wait;
            last = t;
            w.acked(t, seq);
            if seq >= 10 {
                largest = largest.max(w.size());
            }
        }
        assert!(
            largest <= 1_600,
            "window reached {largest} bytes on a 1,200 B/s link"
        );
    }

    #[test]
    fn a_full_window_of_unacknowledged_frames_asks_for_a_probe() {
        let mut w = Window::new(Some(9600));
        assert_eq!(w.size(), MIN_WINDOW.max(1200 * TARGET_QUEUE_MS / 1000));
        w.sent(0, 700, None); // offers: nothing will acknowledge them
        assert!(!w.open());
        assert!(w.needs_probe());
        w.sent(0, 8, Some(3)); // the probe
        assert!(!w.needs_probe());
        w.acked(600, 3);
        assert!(w.open());
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn acks_arriving_in_a_bunch_do_not_open_the_window() {
        // A 1,200 B/s link whose acks come back four at a time every 2 s.
        let mut w = Window::new(None);
        let (mut t, mut seq) = (0u64, 0u32);
        for _ in 0..10 {
            // Sent one every 0.5 s, as the link drains them...
            for k in 0..4u64 {
                w.sent(t + 500 * k, 600, Some(seq));
                seq += 1;
            }
            // ...and acked all together at the end.
            t += 2_000;
            for k in 0..4u32 {
                w.acked(t + u64::from(k), seq - 4 + k);
            }
        }
        let r = w.rate().unwrap_or(0);
        assert!(r <= 1_500, "rate {r} B/s on a 1,200 B/s link");
    }

    #[test]
    fn stale_and_partial_acks() {
        let mut w = Window::new(None);
        w.sent(0, 100, Some(0));
        w.sent(0, 100, Some(1));
        w.acked(5, 7); // beyond what was sent: covers both
        assert_eq!(w.outstanding(), 0);
        w.acked(6, 1); // again: nothing left to answer
        assert_eq!(w.outstanding(), 0);
        w.sent(10, 50, Some(2));
        w.sent(10, 50, Some(3));
        w.acked(20, 2);
        assert_eq!(w.outstanding(), 50);
    }
}
