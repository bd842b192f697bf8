//! The engine's settings: plain serde data with documented defaults. The node's TOML nests
//! this as `[mesh]`, and the simulator reads the same struct.

use serde::{Deserialize, Serialize};

/// Settings of the delivery engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// Forwarding copies a new shore-bound record starts with (binary spray, then focus
    /// towards nodes that were at shore more recently). Default 8.
    pub shore_copies: u8,
    /// Forwarding copies of a new record to a node, a pair, a group or an area's mediators.
    /// Default 4.
    pub direct_copies: u8,
    /// A node hands its last copy of a shore-bound record to a peer whose last shore contact
    /// is at least this many minutes more recent than its own. Default 30.
    pub focus_margin_min: u32,
    /// Most bytes in one outgoing frame (records are never split). Default 1200, so that a
    /// frame crosses a 1 kbit/s link in about ten seconds.
    pub max_frame_bytes: usize,
    /// Most coded symbols a decoder accepts in one tier before giving up. Default 200,000.
    pub max_symbols: usize,
    /// Records waiting for their author's key, across all peers. Default 1024. Beyond it a
    /// record from a sync frame is refused (the sender keeps it) and asked for again once its
    /// author's key is known, within the same contact.
    pub max_pending_keys: usize,
    /// Longest wait, ms, for a peer's `Keys` answer while records of a `Records` frame wait
    /// for their author's key: the frame's acknowledgement (and those of later frames, since
    /// acknowledgements are cumulative) is held until they are stored, or until this deadline,
    /// when those still waiting are reported refused (the sender keeps their copies; they are
    /// kept here with none if the key comes later). Default 30,000.
    pub key_wait_ms: u64,
    /// Keys the node remembers besides those of records it holds. Default 100,000.
    pub key_ring_capacity: usize,
    /// Record ids named by receipts that the node remembers, to refuse freed records.
    /// Default 100,000.
    pub max_receipted: usize,
    /// Shore stations: most ids per receipt (at most 100). Default 100.
    pub receipt_batch: usize,
    /// Shore stations: longest wait before receipting what arrived, in ms. Default 5,000.
    pub receipt_delay_ms: u64,
    /// Shore stations: hand what reached shore (records for shore or an area's mediators) to
    /// the other shore stations this one is linked to whose receipts count (certified by the
    /// same authority; any, without trust anchors), so that the province's stations act as
    /// one destination (docs/shore.md). Default false: a station keeps what reached it.
    pub shore_federation: bool,
    /// Receipt time to live, minutes. Default 3 days.
    pub receipt_ttl_min: u32,
    /// Records per second a peer may send (token bucket). Default 500.
    pub peer_records_per_s: u32,
    /// Burst of records a peer may send at once. Default 5,000.
    pub peer_records_burst: u32,
    /// Records per second accepted from one author. Default 50.
    pub author_records_per_s: u32,
    /// Burst of records accepted from one author. Default 2,000.
    pub author_records_burst: u32,
    /// Authors whose rate is tracked (least recently seen forgotten first). Default 10,000.
    pub max_tracked_authors: usize,
    /// Penalty score at which a peer is disconnected and banned. Default 100.
    pub ban_threshold: u32,
    /// How long a ban lasts, ms. Default 10 minutes.
    pub ban_ms: u64,
    /// Most peers with a sync session at once. Default 32.
    pub max_peers: usize,
    /// How often expired records are swept, ms. Default 60,000.
    pub sweep_interval_ms: u64,
    /// Records per second accepted from one author that holds no certificate, when the node
    /// enforces certificates (it has trust anchors). Distress is exempt. Default 2: a boat
    /// reports its position every few minutes, so an honest uncertified boat never meets it.
    pub uncertified_author_records_per_s: u32,
    /// Burst of records accepted from one uncertified author. Default 100.
    pub uncertified_author_records_burst: u32,
    /// Records per second accepted from all uncertified authors together (token bucket), when
    /// the node enforces certificates: fresh keys cost nothing, so a quota per key alone does
    /// not bound strangers. Distress calls are exempt (they have their own group budget).
    /// Default 20.
    pub uncertified_records_per_s: u32,
    /// Burst of records accepted from all uncertified authors together. Default 1,000.
    pub uncertified_records_burst: u32,
    /// Most records from uncertified authors held at once (distress calls not counted), when
    /// the node enforces certificates; beyond it their records are refused (the sender keeps
    /// them) until some leave. Default 20,000.
    pub max_uncertified_held: usize,
    /// Distress calls per second accepted from all uncertified authors together: a budget of
    /// their own, so that a flood of stranger records never stops a stranger's distress.
    /// Default 1.
    pub uncertified_distress_per_s: u32,
    /// Burst of distress calls accepted from all uncertified authors together. Default 30.
    pub uncertified_distress_burst: u32,
    /// Flow control with the transport: most frames handed over to one peer that the
    /// transport has not yet reported written (`Input::Written`). 0 (the default) turns it
    /// off, for drivers that never report writes (the simulator, the test harness); the
    /// daemon sets it below the network driver's per-peer queue, so that a burst waits in the
    /// engine, most urgent first, instead of overflowing the queue and losing the contact.
    pub send_window_frames: u32,
    /// With a send window: a peer whose transport reports no frame written for this long
    /// while the window is full is disconnected (it stopped reading), so that its session
    /// slot and the copies handed to it come back. Default 120,000 (two minutes: a 1,200-byte
    /// frame crosses a 1 kbit/s link in ten seconds).
    pub send_stall_ms: u64,
    /// A flood record offered by several peers is asked of one; if it has not arrived this
    /// long after, the next peer that offered it is asked (`crate::asked`). Default 5,000.
    pub want_retry_ms: u64,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            shore_copies: 8,
            direct_copies: 4,
            focus_margin_min: 30,
            max_frame_bytes: 1200,
            max_symbols: 200_000,
            max_pending_keys: 1024,
            key_wait_ms: 30_000,
            key_ring_capacity: 100_000,
            max_receipted: 100_000,
            receipt_batch: 100,
            receipt_delay_ms: 5_000,
            shore_federation: false,
            receipt_ttl_min: 3 * 24 * 60,
            peer_records_per_s: 500,
            peer_records_burst: 5_000,
            author_records_per_s: 50,
            author_records_burst: 2_000,
            max_tracked_authors: 10_000,
            ban_threshold: 100,
            ban_ms: 10 * 60 * 1000,
            max_peers: 32,
            sweep_interval_ms: 60_000,
            uncertified_author_records_per_s: 2,
            uncertified_author_records_burst: 100,
            uncertified_records_per_s: 20,
            uncertified_records_burst: 1_000,
            max_uncertified_held: 20_000,
            uncertified_distress_per_s: 1,
            uncertified_distress_burst: 30,
            send_window_frames: 0,
            send_stall_ms: 120_000,
            want_retry_ms: 5_000,
        }
    }
}
