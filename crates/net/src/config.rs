//! [`NetConfig`]: the network settings, plain serde data. The node's TOML file nests it
//! unchanged (`[net]`).

use std::time::Duration;

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use serde::{Deserialize, Serialize};

use crate::NetError;

/// Most listen addresses a node may have.
pub const MAX_LISTEN_ADDRS: usize = 16;
/// Most static peers a node may keep (each is redialled while disconnected).
pub const MAX_STATIC_PEERS: usize = 64;
/// Largest allowed `max_connections`.
pub const MAX_CONNECTIONS_CEILING: u32 = 4096;

/// Network settings. Every field has a default; unknown fields are refused.
///
/// The defaults are tuned for a boat: a handful of peers in radio or harbour WiFi range, links
/// that come and go, and a port (4600) that is the same on every vessel so that a static peer
/// can be written down as `/ip4/<addr>/tcp/4600/p2p/<peer id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Multiaddrs to listen on. Default: `/ip4/0.0.0.0/tcp/4600` and
    /// `/ip4/0.0.0.0/udp/4600/quic-v1` (TCP and QUIC on every IPv4 interface).
    pub listen: Vec<String>,
    /// Peers to keep connected: multiaddrs ending in `/p2p/<peer id>`, redialled with
    /// exponential backoff whenever disconnected. Several addresses of one peer are dialled
    /// together. Default: none.
    pub static_peers: Vec<String>,
    /// Find peers on the local link by mDNS (boats in one harbour). Default: `true`.
    pub mdns: bool,
    /// Most established connections in total. Default: 64.
    pub max_connections: u32,
    /// Most established connections to one peer. Default: 2 (two boats that dial each other at
    /// the same moment keep both connections rather than refusing each other's).
    pub max_connections_per_peer: u32,
    /// Close a connection after this many seconds without any stream open on it. Default: 60.
    pub idle_timeout_secs: u64,
    /// Close a connection whose peer has not answered a ping (sent every 15 s) for this many
    /// seconds: a boat that sailed out of range, whose TCP connection would otherwise linger
    /// for many minutes. Generous, because on a slow link a ping queues behind frames.
    /// Default: 60.
    pub ping_timeout_secs: u64,
    /// The link rate reported with every `PeerUp`, in bits per second, when the operator knows
    /// it (for example a 9,600 bit/s radio modem). Default: none (unknown).
    pub link_rate_bps: Option<u32>,
    /// First delay before redialling a static peer, in milliseconds. Default: 1,000.
    pub redial_min_ms: u64,
    /// Longest delay between redials of a static peer, in milliseconds; the delay doubles on
    /// every failure up to this. Default: 60,000.
    pub redial_max_ms: u64,
    /// Read deadline on the sync streams, in seconds. A frame must arrive whole within this
    /// long of its first byte, plus its own transmission time at `link_rate_bps` (at
    /// [`crate::ASSUMED_MIN_RATE_BPS`] when the rate is not configured); and a peer's stream
    /// must begin its first frame (the hello, sent at once) within this long of opening. A
    /// peer too slow for either is disconnected. Between frames a stream may stay silent for
    /// as long as the connection lives (ping watches that). Default: 30.
    pub frame_timeout_secs: u64,
    /// Most peers kept connected that do not speak `/haiqiao/sync/1` (gossip-only clients,
    /// such as another implementation that only follows the gossip topic). Such a peer gets
    /// a `PeerDown` once its sync stream is refused, but its connection stays, for gossip
    /// both ways; past this many, a new one is disconnected. They count towards
    /// `max_connections` like any peer. Default: 8.
    pub max_gossip_only_peers: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/4600".to_owned(),
                "/ip4/0.0.0.0/udp/4600/quic-v1".to_owned(),
            ],
            static_peers: Vec::new(),
            mdns: true,
            max_connections: 64,
            max_connections_per_peer: 2,
            idle_timeout_secs: 60,
            ping_timeout_secs: 60,
            link_rate_bps: None,
            redial_min_ms: 1_000,
            redial_max_ms: 60_000,
            frame_timeout_secs: 30,
            max_gossip_only_peers: 8,
        }
    }
}

/// A static peer, parsed: its id and every address given for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaticPeer {
    pub(crate) peer: PeerId,
    pub(crate) addrs: Vec<Multiaddr>,
}

/// A config checked and parsed.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) listen: Vec<Multiaddr>,
    pub(crate) static_peers: Vec<StaticPeer>,
    pub(crate) idle_timeout: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) redial_min: Duration,
    pub(crate) redial_max: Duration,
    pub(crate) frame_timeout: Duration,
}

fn parse_addr(s: &str) -> Result<Multiaddr, NetError> {
    s.parse()
        .map_err(|e: libp2p::multiaddr::Error| NetError::Address {
            addr: s.to_owned(),
            reason: e.to_string(),
        })
}

impl NetConfig {
    /// Checks every value and parses the addresses.
    pub fn validate(&self) -> Result<(), NetError> {
        self.check().map(|_| ())
    }

    pub(crate) fn check(&self) -> Result<Checked, NetError> {
        if self.listen.len() > MAX_LISTEN_ADDRS {
            return Err(NetError::TooMany {
                what: "listen addresses",
                len: self.listen.len(),
                max: MAX_LISTEN_ADDRS,
            });
        }
        if self.static_peers.len() > MAX_STATIC_PEERS {
            return Err(NetError::TooMany {
                what: "static peers",
                len: self.static_peers.len(),
                max: MAX_STATIC_PEERS,
            });
        }
        if self.max_connections == 0 || self.max_connections > MAX_CONNECTIONS_CEILING {
            return Err(NetError::Config("max_connections must be 1..=4096"));
        }
        if self.max_connections_per_peer == 0
            || self.max_connections_per_peer > self.max_connections
        {
            return Err(NetError::Config(
                "max_connections_per_peer must be 1..=max_connections",
            ));
        }
        if self.idle_timeout_secs == 0 {
            return Err(NetError::Config("idle_timeout_secs must be at least 1"));
        }
        if self.ping_timeout_secs == 0 {
            return Err(NetError::Config("ping_timeout_secs must be at least 1"));
        }
        if self.frame_timeout_secs == 0 {
            return Err(NetError::Config("frame_timeout_secs must be at least 1"));
        }
        if self.max_gossip_only_peers > self.max_connections {
            return Err(NetError::Config(
                "max_gossip_only_peers must be at most max_connections",
            ));
        }
        if self.redial_min_ms == 0 || self.redial_min_ms > self.redial_max_ms {
            return Err(NetError::Config("redial_min_ms must be 1..=redial_max_ms"));
        }
        let listen = self
            .listen
            .iter()
            .map(|s| parse_addr(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut static_peers: Vec<StaticPeer> = Vec::new();
        for s in &self.static_peers {
            let mut addr = parse_addr(s)?;
            let Some(Protocol::P2p(peer)) = addr.pop() else {
                return Err(NetError::Address {
                    addr: s.clone(),
                    reason: "a static peer must end in /p2p/<peer id>".to_owned(),
                });
            };
            crate::identity::public_key(&peer).map_err(|_| NetError::Address {
                addr: s.clone(),
                reason: "the peer id is not an ed25519 key".to_owned(),
            })?;
            match static_peers.iter_mut().find(|p| p.peer == peer) {
                Some(p) => p.addrs.push(addr),
                None => static_peers.push(StaticPeer {
                    peer,
                    addrs: vec![addr],
                }),
            }
        }
        Ok(Checked {
            listen,
            static_peers,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            ping_timeout: Duration::from_secs(self.ping_timeout_secs),
            redial_min: Duration::from_millis(self.redial_min_ms),
            redial_max: Duration::from_millis(self.redial_max_ms),
            frame_timeout: Duration::from_secs(self.frame_timeout_secs),
        })
    }
}
