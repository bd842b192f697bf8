//! haiqiao-net: the libp2p driver. It turns swarm events into engine inputs and engine outputs
//! into swarm calls, and makes no routing decision of its own: which frames to send, which
//! records to publish and which peers to punish are all the engine's (`haiqiao-mesh`) call.
//! The crate depends on `haiqiao-proto` for keys and record ids, not on the engine: the node
//! binary maps [`NetEvent`]s to engine inputs and engine outputs to [`NetHandle`] calls.
//!
//! # Shape
//!
//! [`spawn`] builds a swarm and moves it into one tokio task, the event loop, which owns it and
//! `select!`s over (in this order of priority) commands from the [`NetHandle`]s, delivery of
//! queued events, timers, frames read from sync streams and swarm events — the daemon pattern
//! of rust-libp2p's `examples/file-sharing`. Local work goes before new work from remotes
//! (though after a burst of commands everything else that is ready gets one turn): while the
//! bounded event channel is full, the loop keeps serving commands but stops reading the
//! network, so a slow engine slows its peers down (through yamux flow control and gossipsub's
//! bounded queues) instead of growing a buffer. Every queue is bounded by a named constant;
//! there is no unbounded channel.
//!
//! # Identity
//!
//! The node's record-signing ed25519 key is its libp2p identity ([`keypair_from_seed`]), so a
//! peer id is a vessel's key: [`peer_id`] and [`public_key`] convert. Peers whose id is not an
//! ed25519 key are refused at the handshake.
//!
//! # Transports and discovery
//!
//! TCP (Noise, Yamux) and QUIC v1, identify, ping, mDNS (optional: [`NetConfig::mdns`]) and
//! static peers ([`NetConfig::static_peers`]), which are redialled with exponential backoff
//! while disconnected. Only the event loop dials: a small behaviour, the gate, denies every
//! other dial (so that no behaviour can redial a peer behind the loop's back), refuses
//! peers that are not ed25519 keys and peers the engine disconnected. A connection that answers
//! no ping for [`NetConfig::ping_timeout_secs`] is closed, so that a boat out of range becomes
//! a `PeerDown` in about a minute rather than when TCP gives up. A peer's own pings are always
//! answered, even when it refuses ours (libp2p-ping would stop answering; `ping.rs` says why
//! and how): js-libp2p's connection monitor, for one, pings without running a ping service.
//!
//! # Contacts
//!
//! [`NetEvent::PeerUp`] is emitted when the first connection to a peer is established and
//! [`NetEvent::PeerDown`] when the last one closes; between the two the peer is one contact,
//! however many connections carry it (at most [`NetConfig::max_connections_per_peer`]).
//! Events about one peer are in order: `PeerUp`, then its frames, then `PeerDown`. A peer kept
//! for gossip only (below) has its `PeerDown` as soon as it refuses the sync stream; its
//! gossip may still arrive after that.
//!
//! # The sync protocol, `/haiqiao/sync/1`
//!
//! On `PeerUp` each side opens one outbound stream to the peer, on the connection that brought
//! the peer up (a small behaviour of its own; `sync.rs` says why not libp2p-stream), and writes
//! frames to it, each prefixed by its length as an unsigned varint ([`frame`]). Each side reads
//! frames from the peer's inbound stream and emits them as [`NetEvent::Frame`] in order. A
//! frame longer than [`frame::MAX_FRAME_LEN`] (or a malformed prefix) closes that inbound
//! stream and is reported as [`NetEvent::Malformed`]: the engine decides the penalty.
//!
//! Read deadlines ([`NetConfig::frame_timeout_secs`]): a peer's stream must begin its first
//! frame within the timeout of opening, and every frame must arrive whole within the timeout
//! of its first byte plus its transmission time at the link rate ([`ASSUMED_MIN_RATE_BPS`]
//! when unknown). A peer too slow for either is disconnected (a `PeerDown` follows), with no
//! penalty. Between frames a stream may stay silent as long as the connection lives.
//!
//! Peers that do not speak the protocol (their side refuses the stream) are kept for gossip
//! only, at most [`NetConfig::max_gossip_only_peers`] of them: the engine hears `PeerDown` as
//! soon as the stream is refused and nothing more of them but [`NetEvent::Gossip`]; they cost
//! a connection and gossipsub's bounded queues, no sync queue and no task. Past the bound such
//! a peer is disconnected.
//!
//! Backpressure: frames for a peer wait in a bounded queue ([`PEER_WRITE_QUEUE_CAP`]) in front
//! of its stream, and the writer reports what it wrote ([`NetEvent::Written`]). The engine
//! keeps fewer frames outstanding than the queue holds (its send window) and paces what it
//! sends to the link rate, so a full queue means the link has stalled or the engine ignored
//! the window; the driver then closes every connection to the peer (a `PeerDown` follows)
//! rather than block every other peer or drop one frame from the middle of a session. A stream
//! that fails while the peer is still connected is handled the same way, so the engine never
//! sees a contact whose frames silently vanished: either every frame it sent was written in
//! order, or the contact went down (and the engine takes back what it had handed over).
//!
//! # Live gossip, topic `haiqiao/records/1`
//!
//! The daemon publishes nothing: between haiqiao nodes every record travels on the sync
//! stream, ordered and paced by the engine. Gossip is an ingress for light clients that speak
//! only gossipsub ([`NetHandle::publish`] stays for them and for tests). Messages carry no gossipsub signature or author
//! (`MessageAuthenticity::Anonymous`, `ValidationMode::None`): the record is already signed.
//! The message id is the record id (content addressing: one record is one message whoever
//! relays it), falling back to a SHA-256 of the bytes for data that does not decode. Messages
//! are validated by the engine: each arrives as [`NetEvent::Gossip`] and is forwarded to other
//! peers only after [`NetHandle::verdict`] says [`Verdict::Accept`]; `Ignore` drops it and
//! `Reject` drops it and blames the peer that relayed it. Messages awaiting a verdict are
//! remembered up to [`MAX_PENDING_VALIDATIONS`]; past that the oldest is ignored.
//!
//! Size: gossipsub reads RPCs of up to [`GOSSIP_MAX_TRANSMIT`] (128 KiB, control included), far above a record
//! (2 KiB), so that a message too large to be a record reaches the engine as a `Gossip` event
//! and is rejected there, with a penalty, while the peer's stream goes on. An RPC larger than
//! that, or bytes that are not protobuf, make the peer's inbound stream unreadable: the peer
//! is disconnected (and a contact's engine hears [`NetEvent::Malformed`]) rather than muted
//! (libp2p-gossipsub would drop the stream silently; `gossip.rs` says why and how). So is a
//! peer whose RPC, once begun, does not arrive whole within the sync frames' deadline (above).
//! The wire format is in docs/gossip.md.
//!
//! # Refusing peers
//!
//! [`NetHandle::disconnect`] closes every connection to a peer and refuses it, inbound and
//! outbound, until the given time; static peers are redialled when the refusal ends. The
//! refused side may see its connection come up and go down at once (the refusal happens after
//! the handshake, where the peer id is known); its redial backoff bounds how often.
//!
//! # Shutdown
//!
//! [`NetHandle::shutdown`] (or dropping every handle) lets each writer flush what it has
//! queued (for at most [`SHUTDOWN_GRACE`]), closes every connection and ends the task; the
//! event receiver then yields `None`, which the engine should read as every contact going down.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod driver;
mod error;
pub mod frame;
mod gate;
mod gossip;
mod handle;
mod identity;
mod ping;
mod streams;
mod swarm;
mod sync;
mod wrap;

use std::time::Duration;

pub use config::{MAX_CONNECTIONS_CEILING, MAX_LISTEN_ADDRS, MAX_STATIC_PEERS, NetConfig};
pub use error::NetError;
pub use handle::{NetHandle, spawn};
pub use identity::{keypair_from_seed, peer_id, public_key};
pub use libp2p::{Multiaddr, PeerId};

use haiqiao_proto::PublicKey;

/// The sync stream protocol.
pub const SYNC_PROTOCOL: &str = "/haiqiao/sync/1";
/// The gossipsub topic of fresh records.
pub const GOSSIP_TOPIC: &str = "haiqiao/records/1";
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/haiqiao/id/1";

/// Capacity of the channel of events from the event loop to the engine.
pub const EVENT_CHANNEL_CAP: usize = 256;
/// Capacity of the channel of commands from the handles to the event loop.
pub const COMMAND_CHANNEL_CAP: usize = 256;
/// Frames queued in front of one peer's sync stream; a peer whose queue is full is disconnected.
pub const PEER_WRITE_QUEUE_CAP: usize = 64;
/// Events the loop holds while the event channel is full; at this many it stops reading the
/// network until the engine catches up.
pub const PENDING_EVENTS_CAP: usize = 64;
/// Capacity of the channel from the stream tasks (readers and writers) to the event loop.
pub const STREAM_CHANNEL_CAP: usize = 64;
/// Gossip messages remembered while awaiting the engine's verdict.
pub const MAX_PENDING_VALIDATIONS: usize = 1024;
/// Largest gossipsub RPC accepted, and largest message published, in bytes: gossipsub's
/// `max_transmit_size`, which also bounds what one peer's inbound gossip stream may buffer.
/// A record is at most [`haiqiao_proto::MAX_RECORD_LEN`] (2 KiB); the limit is far above it
/// because gossipsub's codec checks its whole read buffer (an RPC being read plus up to 8 KiB
/// read ahead) against it, and because a message too large to be a record should reach the
/// engine to be rejected with a penalty rather than break the stream. An RPC over this
/// breaks the peer's inbound stream, and the peer is disconnected (see `gossip.rs`).
pub const GOSSIP_MAX_TRANSMIT: usize = 128 * 1024;
/// Most message ids in one IHAVE the node sends: 800 record ids (16 bytes each) make an IHAVE
/// of under 16 KiB, which older nodes (whose limit was 16 KiB) still read. Gossipsub's default
/// is 5,000 (about 90 KB).
pub const GOSSIP_MAX_IHAVE: usize = 800;
/// Gossipsub messages queued per connection before it counts as a slow peer.
pub const GOSSIP_QUEUE_LEN: usize = 256;
/// The link rate assumed for a sync frame's read deadline when [`NetConfig::link_rate_bps`] is
/// not set, in bits per second: the thinnest link haiqiao plans for (design §3).
pub const ASSUMED_MIN_RATE_BPS: u32 = 1_000;
/// How long shutdown waits for writers to flush their queues.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// A static peer's redial backoff starts over once a connection has lasted this long.
pub const STABLE_CONTACT: Duration = Duration::from_secs(30);

/// The engine's verdict on a gossiped record; maps one to one onto `haiqiao_mesh::Verdict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New and valid: forward it.
    Accept,
    /// Already held, or not wanted: do not forward, no fault.
    Ignore,
    /// Invalid: do not forward, the relaying peer is at fault.
    Reject,
}

/// Something that happened on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The node listens on a new address.
    Listening {
        /// The address.
        addr: Multiaddr,
    },
    /// The first connection to a peer was established (a contact began).
    PeerUp {
        /// The peer.
        peer: PublicKey,
        /// The link rate, bits per second, when configured ([`NetConfig::link_rate_bps`]).
        rate_bps: Option<u32>,
    },
    /// The last connection to a peer closed (the contact ended).
    PeerDown {
        /// The peer.
        peer: PublicKey,
    },
    /// A sync frame arrived from a peer.
    Frame {
        /// The peer.
        peer: PublicKey,
        /// The frame's bytes (at most [`frame::MAX_FRAME_LEN`]).
        bytes: Vec<u8>,
    },
    /// A record arrived by gossip; answer with [`NetHandle::verdict`].
    Gossip {
        /// The peer that relayed it (the propagation source, not necessarily the author).
        peer: PublicKey,
        /// The message's bytes (a record, if the peer is honest).
        bytes: Vec<u8>,
    },
    /// The sync stream to a peer has written (and flushed) this many more of the frames
    /// given to [`NetHandle::send`], in order: flow control for the engine
    /// (`haiqiao_mesh::Input::Written`). Reported at least every few frames and whenever the
    /// peer's queue runs empty.
    Written {
        /// The peer.
        peer: PublicKey,
        /// How many frames.
        frames: u32,
    },
    /// A peer broke the sync framing (an oversized frame or a bad prefix; its stream is
    /// closed), or sent gossip that cannot be read (it is disconnected).
    Malformed {
        /// The peer.
        peer: PublicKey,
    },
    /// A peer joined the gossip topic: records published from now on reach it. Informational;
    /// the engine has no matching input.
    GossipJoined {
        /// The peer.
        peer: PublicKey,
    },
}
