//! haiqiao-net's tests, in one binary. Network tests use loopback only, with mDNS off; they
//! never sleep: they await events, with a timeout only as a guard against hanging.
//!
//! Contents:
//! - `frame_*`: the varint framing (round trip, limits, malformed prefixes)
//! - `config_*`: defaults, TOML, validation
//! - `identity_*`: peer id and haiqiao key conversions
//! - `line_*`: A–B–C over TCP: contacts, frames both ways in order, gossip with each verdict
//! - `star_*`: several peers come up at one node at once
//! - `quic_*`: two nodes over QUIC
//! - `disconnect_*`: a refused peer stays refused until the time given, then is redialled
//! - `raw_*`: a bare libp2p peer: malformed frames are reported; a stalled reader is dropped;
//!   a peer that drips a frame or a gossip RPC, or opens its stream and says nothing, is dropped
//! - `interop_*`: plain libp2p peers that are not haiqiao nodes (ping, identify, gossipsub
//!   only, like a js-libp2p client): their pings are answered, they stay connected for gossip
//!   (within the bound), and oversized gossip neither mutes nor stalls their stream
//! - `shutdown_*`: shutdown ends the task and the event stream

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use futures::io::{AsyncWriteExt as _, Cursor};
use haiqiao_net::frame::{self, FrameError, MAX_FRAME_LEN, MAX_PREFIX_LEN};
use haiqiao_net::{
    Multiaddr, NetConfig, NetError, NetEvent, NetHandle, PEER_WRITE_QUEUE_CAP, PeerId,
    SYNC_PROTOCOL, Verdict, keypair_from_seed, peer_id, public_key, spawn,
};
use haiqiao_proto::{Keypair, Kind, PublicKey, Record, samples};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{StreamProtocol, Swarm, SwarmBuilder, noise, tcp, yamux};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

/// Longest wait for any one expected event (a guard, not a delay).
const GUARD: Duration = Duration::from_secs(30);

fn block_on_test<F: Future>(f: F) -> F::Output {
    // Not used by the async tests; keeps synchronous tests free of a runtime.
    futures::executor::block_on(f)
}

// ---------------------------------------------------------------------------------------------
// frame

#[test]
fn frame_round_trips_every_length_class() {
    block_on_test(async {
        let lengths = [0, 1, 127, 128, 300, 16_383, MAX_FRAME_LEN];
        let mut wire = Vec::new();
        for (i, len) in lengths.iter().enumerate() {
            let f = vec![i as u8; *len];
            frame::write_frame(&mut wire, &f).await.unwrap();
        }
        let mut r = Cursor::new(wire);
        for (i, len) in lengths.iter().enumerate() {
            let f = frame::read_frame(&mut r).await.unwrap().unwrap();
            assert_eq!(f, vec![i as u8; *len]);
        }
        assert!(frame::read_frame(&mut r).await.unwrap().is_none());
    });
}

#[test]
fn frame_limits_and_bad_prefixes() {
    block_on_test(async {
        assert_eq!(MAX_PREFIX_LEN, 3);
        let mut sink = Vec::new();
        assert!(
            frame::write_frame(&mut sink, &vec![0; MAX_FRAME_LEN + 1])
                .await
                .is_err()
        );
        assert!(sink.is_empty());

        let mut too_long = Vec::new();
        frame::encode_len(MAX_FRAME_LEN + 1, &mut too_long);
        too_long.extend_from_slice(&[0; 8]);
        let e = frame::read_frame(&mut Cursor::new(too_long))
            .await
            .unwrap_err();
        assert!(matches!(e, FrameError::TooLong { len } if len == MAX_FRAME_LEN + 1));
        assert!(e.is_malformed());

        for prefix in [
            &[0x80, 0x00][..],
            &[0x80, 0x80, 0x80, 0x01],
            &[0xff, 0xff, 0xff, 0xff],
        ] {
            let e = frame::read_frame(&mut Cursor::new(prefix.to_vec()))
                .await
                .unwrap_err();
            assert!(matches!(e, FrameError::BadPrefix), "{prefix:?}: {e}");
        }

        // Truncated inside a prefix or a body: a stream error, not a protocol violation.
        for wire in [&[0x85][..], &[0x05, 1, 2]] {
            let e = frame::read_frame(&mut Cursor::new(wire.to_vec()))
                .await
                .unwrap_err();
            assert!(matches!(e, FrameError::Io(_)) && !e.is_malformed());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// config

#[test]
fn config_defaults_and_toml() {
    let d = NetConfig::default();
    assert_eq!(
        d.listen,
        ["/ip4/0.0.0.0/tcp/4600", "/ip4/0.0.0.0/udp/4600/quic-v1"]
    );
    assert!(d.mdns && d.static_peers.is_empty() && d.link_rate_bps.is_none());
    d.validate().unwrap();

    let parsed: NetConfig = toml::from_str("mdns = false\nlink_rate_bps = 9600\n").unwrap();
    assert_eq!(
        parsed,
        NetConfig {
            mdns: false,
            link_rate_bps: Some(9600),
            ..NetConfig::default()
        }
    );
    let round: NetConfig = toml::from_str(&toml::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(round, parsed);
    assert!(toml::from_str::<NetConfig>("mdsn = false\n").is_err());
}

#[test]
fn config_validation() {
    let peer = peer_id(&Keypair::from_seed(&[1; 32]).public()).unwrap();
    let bad = |cfg: NetConfig| cfg.validate().unwrap_err();
    let with = |f: fn(&mut NetConfig)| {
        let mut c = NetConfig::default();
        f(&mut c);
        c
    };
    assert!(matches!(
        bad(with(|c| c.listen = vec!["not an address".into()])),
        NetError::Address { .. }
    ));
    assert!(matches!(
        bad(with(
            |c| c.static_peers = vec!["/ip4/127.0.0.1/tcp/1".into()]
        )),
        NetError::Address { .. }
    ));
    assert!(matches!(
        bad(with(|c| c.max_connections = 0)),
        NetError::Config(_)
    ));
    assert!(matches!(
        bad(with(|c| c.redial_min_ms = c.redial_max_ms + 1)),
        NetError::Config(_)
    ));
    assert!(matches!(
        bad(with(|c| c.frame_timeout_secs = 0)),
        NetError::Config(_)
    ));
    assert!(matches!(
        bad(with(|c| c.max_gossip_only_peers = c.max_connections + 1)),
        NetError::Config(_)
    ));
    assert!(matches!(
        bad(with(
            |c| c.static_peers = vec!["/ip4/127.0.0.1/tcp/1".into(); 65]
        )),
        NetError::TooMany { .. }
    ));
    let mut ok = NetConfig {
        static_peers: vec![format!("/ip4/10.0.0.1/tcp/4600/p2p/{peer}")],
        ..NetConfig::default()
    };
    ok.validate().unwrap();
    // A peer id that is not an ed25519 key cannot be a haiqiao peer.
    ok.static_peers = vec![format!("/ip4/10.0.0.1/tcp/4600/p2p/{}", PeerId::random())];
    assert!(matches!(
        ok.validate().unwrap_err(),
        NetError::Address { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// identity

#[test]
fn identity_peer_id_is_the_record_key() {
    for n in 0..8u8 {
        let seed = [n; 32];
        let key = Keypair::from_seed(&seed).public();
        let peer = keypair_from_seed(seed).unwrap().public().to_peer_id();
        assert_eq!(peer_id(&key).unwrap(), peer);
        assert_eq!(public_key(&peer).unwrap(), key);
    }
    let random = PeerId::random();
    assert!(matches!(public_key(&random), Err(NetError::NotEd25519(p)) if p == random));
}

// ---------------------------------------------------------------------------------------------
// helpers for the network tests

struct Node {
    key: PublicKey,
    handle: NetHandle,
    events: Receiver<NetEvent>,
    addr: Multiaddr,
}

impl Node {
    /// The node's listen address with its peer id, as a static peer entry.
    fn dial_addr(&self) -> String {
        format!("{}/p2p/{}", self.addr, peer_id(&self.key).unwrap())
    }

    /// Waits for the first event `pick` accepts, skipping others.
    async fn next<T>(&mut self, pick: impl FnMut(&NetEvent) -> Option<T>) -> T {
        next(&mut self.events, pick).await
    }

    async fn up(&mut self, peer: PublicKey) {
        self.next(|e| matches!(e, NetEvent::PeerUp { peer: p, .. } if *p == peer).then_some(()))
            .await;
    }

    async fn down(&mut self, peer: PublicKey) {
        self.next(|e| matches!(e, NetEvent::PeerDown { peer: p } if *p == peer).then_some(()))
            .await;
    }

    /// Waits until every event of `want` has been seen, in any order, skipping others.
    async fn all(&mut self, want: Vec<NetEvent>) {
        let mut want = want;
        timeout(GUARD, async {
            while !want.is_empty() {
                let e = self.events.recv().await.expect("event stream ended");
                want.retain(|w| *w != e);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {want:?}"));
    }

    async fn gossip(&mut self) -> (PublicKey, Vec<u8>) {
        self.next(|e| match e {
            NetEvent::Gossip { peer, bytes } => Some((*peer, bytes.clone())),
            _ => None,
        })
        .await
    }

    async fn frames_from(&mut self, peer: PublicKey, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let f = self
                .next(|e| match e {
                    NetEvent::Frame { peer: p, bytes } if *p == peer => Some(bytes.clone()),
                    NetEvent::PeerDown { peer: p } if *p == peer => panic!("peer went down"),
                    _ => None,
                })
                .await;
            out.push(f);
        }
        out
    }
}

async fn next<T>(
    events: &mut Receiver<NetEvent>,
    mut pick: impl FnMut(&NetEvent) -> Option<T>,
) -> T {
    timeout(GUARD, async {
        loop {
            let e = events.recv().await.expect("event stream ended");
            if let Some(t) = pick(&e) {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

fn loopback(listen: &str, static_peers: Vec<String>) -> NetConfig {
    NetConfig {
        listen: vec![listen.to_owned()],
        static_peers,
        mdns: false,
        redial_min_ms: 100,
        redial_max_ms: 2_000,
        ..NetConfig::default()
    }
}

const TCP: &str = "/ip4/127.0.0.1/tcp/0";
const QUIC: &str = "/ip4/127.0.0.1/udp/0/quic-v1";

async fn start(seed: u8, cfg: NetConfig) -> Node {
    let (handle, mut events) = spawn([seed; 32], cfg).expect("spawn");
    let addr = next(&mut events, |e| match e {
        NetEvent::Listening { addr } => Some(addr.clone()),
        _ => None,
    })
    .await;
    let key = Keypair::from_seed(&[seed; 32]).public();
    assert_eq!(handle.local_key(), key);
    Node {
        key,
        handle,
        events,
        addr,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn record(author: &Keypair, seq: u64) -> Record {
    let env = samples::envelope(
        Kind::Position,
        author.public().hint(),
        author.public().hint(),
        seq,
        1_780_000_000,
    );
    Record::sign(author, env).unwrap()
}

/// Frame `i` of a test stream: lengths from empty to the largest, bytes that name `i`.
fn test_frame(i: usize) -> Vec<u8> {
    let len = match i {
        0 => 0,
        1 => MAX_FRAME_LEN,
        _ => (i * 331) % 2_000,
    };
    (0..len).map(|j| (i as u8) ^ (j as u8)).collect()
}

// ---------------------------------------------------------------------------------------------
// line: A – B – C over TCP

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_contacts_frames_and_gossip() {
    let mut b = start(0xb0, loopback(TCP, vec![])).await;
    let mut a = start(0xa0, loopback(TCP, vec![b.dial_addr()])).await;
    let mut c = start(
        0xc0,
        NetConfig {
            link_rate_bps: Some(9_600),
            ..loopback(TCP, vec![b.dial_addr()])
        },
    )
    .await;
    let (ka, kb, kc) = (a.key, b.key, c.key);

    // Contacts, with the right keys (and the configured link rate), and the gossip mesh.
    a.all(vec![
        NetEvent::PeerUp {
            peer: kb,
            rate_bps: None,
        },
        NetEvent::GossipJoined { peer: kb },
    ])
    .await;
    c.all(vec![
        NetEvent::PeerUp {
            peer: kb,
            rate_bps: Some(9_600),
        },
        NetEvent::GossipJoined { peer: kb },
    ])
    .await;
    b.all(vec![
        NetEvent::PeerUp {
            peer: ka,
            rate_bps: None,
        },
        NetEvent::PeerUp {
            peer: kc,
            rate_bps: None,
        },
        NetEvent::GossipJoined { peer: ka },
        NetEvent::GossipJoined { peer: kc },
    ])
    .await;
    let peers = b.handle.peers().await.unwrap();
    let keys: HashSet<PublicKey> = peers.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, HashSet::from([ka, kc]));
    assert!(peers.iter().all(|(_, addrs)| !addrs.is_empty()));
    assert_eq!(a.handle.peers().await.unwrap().len(), 1);
    assert_eq!(b.handle.listen_addrs().await.unwrap(), vec![b.addr.clone()]);

    // Frames both ways at once, each direction in order.
    const N: usize = 60;
    let (ha, hb) = (a.handle.clone(), b.handle.clone());
    let send_ab = tokio::spawn(async move {
        for i in 0..N {
            ha.send(kb, test_frame(i)).await.unwrap();
        }
    });
    let send_ba = tokio::spawn(async move {
        for i in 0..N {
            hb.send(ka, test_frame(N + i)).await.unwrap();
        }
    });
    let at_b = b.frames_from(ka, N).await;
    let at_a = a.frames_from(kb, N).await;
    send_ab.await.unwrap();
    send_ba.await.unwrap();
    assert_eq!(at_b, (0..N).map(test_frame).collect::<Vec<_>>());
    assert_eq!(at_a, (N..2 * N).map(test_frame).collect::<Vec<_>>());
    assert!(matches!(
        a.handle.send(kb, vec![0; MAX_FRAME_LEN + 1]).await,
        Err(NetError::FrameTooLarge { .. })
    ));

    let author = Keypair::from_seed(&[0xa0; 32]);

    // Gossip: A publishes, B hears it from A, and C only after B accepts it.
    let r1 = record(&author, 1);
    a.handle.publish(r1.id(), r1.shared_bytes()).await.unwrap();
    assert_eq!(b.gossip().await, (ka, r1.bytes().to_vec()));
    b.handle
        .verdict(ka, Some(r1.id()), Verdict::Accept)
        .await
        .unwrap();
    assert_eq!(c.gossip().await, (kb, r1.bytes().to_vec()));
    c.handle
        .verdict(kb, Some(r1.id()), Verdict::Accept)
        .await
        .unwrap();

    // Reject and Ignore stop propagation: C's next gossip is the record B accepted after them.
    let (r2, r3, r4) = (record(&author, 2), record(&author, 3), record(&author, 4));
    a.handle.publish(r2.id(), r2.shared_bytes()).await.unwrap();
    assert_eq!(b.gossip().await, (ka, r2.bytes().to_vec()));
    b.handle
        .verdict(ka, Some(r2.id()), Verdict::Reject)
        .await
        .unwrap();
    a.handle.publish(r3.id(), r3.shared_bytes()).await.unwrap();
    assert_eq!(b.gossip().await, (ka, r3.bytes().to_vec()));
    b.handle
        .verdict(ka, Some(r3.id()), Verdict::Ignore)
        .await
        .unwrap();
    a.handle.publish(r4.id(), r4.shared_bytes()).await.unwrap();
    assert_eq!(b.gossip().await, (ka, r4.bytes().to_vec()));
    b.handle
        .verdict(ka, Some(r4.id()), Verdict::Accept)
        .await
        .unwrap();
    assert_eq!(c.gossip().await, (kb, r4.bytes().to_vec()));

    // Bytes that are no record get a hash id; a verdict without id finds them by peer.
    a.handle
        .publish(r1.id(), b"not a record".to_vec().into())
        .await
        .unwrap();
    assert_eq!(b.gossip().await, (ka, b"not a record".to_vec()));
    b.handle.verdict(ka, None, Verdict::Reject).await.unwrap();
    let r5 = record(&author, 5);
    a.handle.publish(r5.id(), r5.shared_bytes()).await.unwrap();
    assert_eq!(b.gossip().await, (ka, r5.bytes().to_vec()));
    b.handle
        .verdict(ka, Some(r5.id()), Verdict::Accept)
        .await
        .unwrap();
    assert_eq!(c.gossip().await, (kb, r5.bytes().to_vec()));

    for n in [&a, &b, &c] {
        n.handle.shutdown().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// star: several peers come up at once (inbound sync streams arrive together)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn star_peers_arriving_together() {
    const SPOKES: u8 = 12;
    let mut hub = start(0xe0, loopback(TCP, vec![])).await;
    let kh = hub.key;
    let mut spokes = Vec::new();
    for i in 0..SPOKES {
        spokes.push(start(0xe1 + i, loopback(TCP, vec![hub.dial_addr()])).await);
    }
    let keys: Vec<PublicKey> = spokes.iter().map(|s| s.key).collect();
    hub.all(
        keys.iter()
            .map(|k| NetEvent::PeerUp {
                peer: *k,
                rate_bps: None,
            })
            .collect(),
    )
    .await;
    for (i, s) in spokes.iter_mut().enumerate() {
        s.up(kh).await;
        s.handle.send(kh, test_frame(10 + i)).await.unwrap();
        hub.handle.send(s.key, test_frame(20 + i)).await.unwrap();
    }
    // The hub hears from every spoke (in whatever order they come), and each spoke from it.
    let want: Vec<NetEvent> = (0..spokes.len())
        .map(|i| NetEvent::Frame {
            peer: keys[i],
            bytes: test_frame(10 + i),
        })
        .collect();
    hub.all(want).await;
    for (i, s) in spokes.iter_mut().enumerate() {
        assert_eq!(s.frames_from(kh, 1).await, vec![test_frame(20 + i)]);
    }
    for s in &spokes {
        s.handle.shutdown().await.unwrap();
    }
    hub.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// quic

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_contact_and_frames() {
    let mut b = start(0xb1, loopback(QUIC, vec![])).await;
    assert!(b.addr.to_string().contains("/quic-v1"));
    let mut a = start(0xa1, loopback(QUIC, vec![b.dial_addr()])).await;
    let (ka, kb) = (a.key, b.key);
    a.up(kb).await;
    b.up(ka).await;
    for i in 0..10 {
        a.handle.send(kb, test_frame(i)).await.unwrap();
        b.handle.send(ka, test_frame(100 + i)).await.unwrap();
    }
    assert_eq!(
        b.frames_from(ka, 10).await,
        (0..10).map(test_frame).collect::<Vec<_>>()
    );
    assert_eq!(
        a.frames_from(kb, 10).await,
        (100..110).map(test_frame).collect::<Vec<_>>()
    );
    a.handle.shutdown().await.unwrap();
    b.down(ka).await;
    b.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// disconnect

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_refuses_until_expiry_then_redials() {
    let mut b = start(0xb2, loopback(TCP, vec![])).await;
    let mut a = start(0xa2, loopback(TCP, vec![b.dial_addr()])).await;
    let (ka, kb) = (a.key, b.key);
    a.up(kb).await;
    b.up(ka).await;

    let until = now_ms() + 1_500;
    a.handle.disconnect(kb, until).await.unwrap();
    a.down(kb).await;
    b.down(ka).await;
    // B tries to come back at once; A's static redial (100 ms backoff) would too.
    b.handle.dial(a.dial_addr().parse().unwrap()).await.unwrap();
    // A does not let B in before the refusal ends, and redials it after.
    a.up(kb).await;
    assert!(
        now_ms() >= until,
        "B came back {} ms early",
        until - now_ms()
    );
    b.up(ka).await;

    // A time in the past only disconnects; the static peer comes back after its backoff.
    a.handle.disconnect(kb, 0).await.unwrap();
    a.down(kb).await;
    a.up(kb).await;

    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// raw: a bare libp2p peer that speaks only /haiqiao/sync/1

struct Raw {
    key: PublicKey,
    control: libp2p_stream::Control,
    /// Inbound sync streams (the node's writer), held open and never read.
    held: tokio::task::JoinHandle<()>,
    swarm: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.held.abort();
        self.swarm.abort();
    }
}

async fn raw_peer(seed: u8, node: &Node) -> Raw {
    let keypair = keypair_from_seed([seed; 32]).unwrap();
    let mut swarm: Swarm<libp2p_stream::Behaviour> = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut control = swarm.behaviour().new_control();
    let mut incoming = control.accept(StreamProtocol::new(SYNC_PROTOCOL)).unwrap();
    // Gossipsub's own stream too, as a gossip-speaking peer takes it: were it refused, the
    // node's gossipsub would stop listening to this peer altogether (its handler disables
    // itself when its outbound stream is refused), and a test that opens a gossip stream
    // after that would race it.
    let mut gossip_in = control
        .accept(StreamProtocol::new("/meshsub/1.1.0"))
        .unwrap();
    tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Some((_, stream)) = gossip_in.next().await {
            streams.push(stream);
        }
    });
    swarm
        .dial(node.dial_addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    timeout(GUARD, async {
        loop {
            if let SwarmEvent::ConnectionEstablished { .. } = swarm.select_next_some().await {
                return;
            }
        }
    })
    .await
    .expect("raw peer connects");
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Some((_, stream)) = incoming.next().await {
            streams.push(stream);
        }
    });
    let swarm = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    Raw {
        key: Keypair::from_seed(&[seed; 32]).public(),
        control,
        held,
        swarm,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_malformed_frame_is_reported() {
    let mut a = start(0xa3, loopback(TCP, vec![])).await;
    let mut raw = raw_peer(0xd3, &a).await;
    let kr = raw.key;
    a.up(kr).await;

    let mut stream = raw
        .control
        .open_stream(peer_id(&a.key).unwrap(), StreamProtocol::new(SYNC_PROTOCOL))
        .await
        .unwrap();
    frame::write_frame(&mut stream, b"hello").await.unwrap();
    let mut bad = Vec::new();
    frame::encode_len(MAX_FRAME_LEN + 1, &mut bad);
    bad.extend_from_slice(&[0; 64]);
    stream.write_all(&bad).await.unwrap();
    stream.flush().await.unwrap();

    assert_eq!(a.frames_from(kr, 1).await, vec![b"hello".to_vec()]);
    let blamed = a
        .next(|e| match e {
            NetEvent::Malformed { peer } => Some(*peer),
            NetEvent::Frame { .. } => panic!("no frame after the oversized one"),
            _ => None,
        })
        .await;
    assert_eq!(blamed, kr);
    a.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_stalled_reader_is_disconnected() {
    let mut a = start(0xa4, loopback(TCP, vec![])).await;
    let raw = raw_peer(0xd4, &a).await;
    let kr = raw.key;
    a.up(kr).await;
    // The raw peer never reads: yamux's window fills, then the write queue, then A gives up.
    let big = vec![7u8; MAX_FRAME_LEN];
    let mut down = false;
    let mut sent = 0;
    for _ in 0..4_096 {
        a.handle.send(kr, big.clone()).await.unwrap();
        sent += 1;
        if let Ok(e) = a.events.try_recv()
            && e == (NetEvent::PeerDown { peer: kr })
        {
            down = true;
            break;
        }
    }
    if !down {
        a.down(kr).await;
    }
    assert!(sent > PEER_WRITE_QUEUE_CAP, "down after {sent} frames");
    eprintln!("stalled peer dropped after {sent} frames of {MAX_FRAME_LEN} bytes");
    drop(raw);
    a.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_task_and_the_stream() {
    let mut b = start(0xb5, loopback(TCP, vec![])).await;
    let mut a = start(0xa5, loopback(TCP, vec![b.dial_addr()])).await;
    let (ka, kb) = (a.key, b.key);
    a.up(kb).await;
    b.up(ka).await;

    a.handle.shutdown().await.unwrap();
    timeout(GUARD, async { while a.events.recv().await.is_some() {} })
        .await
        .expect("event stream ends");
    assert!(matches!(
        a.handle.send(kb, vec![1]).await,
        Err(NetError::Stopped)
    ));
    assert!(matches!(a.handle.peers().await, Err(NetError::Stopped)));
    a.handle.shutdown().await.unwrap();
    b.down(ka).await;

    // Dropping every handle shuts down too.
    let Node {
        handle, mut events, ..
    } = b;
    drop(handle);
    timeout(GUARD, async { while events.recv().await.is_some() {} })
        .await
        .expect("event stream ends when the handles are gone");
}

// ---------------------------------------------------------------------------------------------
// flow control

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_reports_every_frame_written_so_a_window_never_overflows_the_queue() {
    let mut b = start(0xb3, loopback(TCP, vec![])).await;
    let mut a = start(0xa3, loopback(TCP, vec![b.dial_addr()])).await;
    let (ka, kb) = (a.key, b.key);
    a.up(kb).await;
    b.up(ka).await;
    // Ten times the queue's capacity, never more than half of it outstanding: what the
    // engine's send window does. Without the reports this would stall at the first window.
    let window = (haiqiao_net::PEER_WRITE_QUEUE_CAP / 2) as u32;
    let total = 10 * haiqiao_net::PEER_WRITE_QUEUE_CAP;
    // The receiver reads as the frames come (else its driver stops reading, the transport's
    // flow control stalls the writer, and nothing more is written).
    let receiver = tokio::spawn(async move {
        let got = b.frames_from(ka, total).await;
        (b, got)
    });
    let (mut sent, mut outstanding, mut written) = (0usize, 0u32, 0usize);
    while written < total {
        while sent < total && outstanding < window {
            a.handle.send(kb, test_frame(sent % 50 + 2)).await.unwrap();
            sent += 1;
            outstanding += 1;
        }
        let n = a
            .next(|e| match e {
                NetEvent::Written { peer, frames } if *peer == kb => Some(*frames),
                NetEvent::PeerDown { .. } => panic!("the contact dropped"),
                _ => None,
            })
            .await;
        assert!(n >= 1 && n <= outstanding, "{n} written of {outstanding}");
        outstanding -= n;
        written += n as usize;
    }
    assert_eq!(written, total);
    let (b, got) = receiver.await.unwrap();
    assert_eq!(got.len(), total);
    assert_eq!(got[total - 1], test_frame((total - 1) % 50 + 2));
    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// read deadlines on the sync stream

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_slow_drip_and_silent_streams_are_dropped() {
    let cfg = NetConfig {
        frame_timeout_secs: 1,
        // A fast link: a frame's deadline is about the timeout alone.
        link_rate_bps: Some(1_000_000),
        ..loopback(TCP, vec![])
    };
    let mut a = start(0xa6, cfg).await;
    let pa = peer_id(&a.key).unwrap();

    // A peer that starts a 100-byte frame and drips it a byte every 100 ms (10 s in all).
    let mut drip = raw_peer(0xd6, &a).await;
    let kd = drip.key;
    a.up(kd).await;
    let mut stream = drip
        .control
        .open_stream(pa, StreamProtocol::new(SYNC_PROTOCOL))
        .await
        .unwrap();
    let dripping = tokio::spawn(async move {
        let mut wire = Vec::new();
        frame::encode_len(100, &mut wire);
        wire.extend_from_slice(&[7; 100]);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for b in wire {
            tick.tick().await;
            if stream.write_all(&[b]).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
    });
    let started = tokio::time::Instant::now();
    a.next(|e| match e {
        NetEvent::PeerDown { peer } if *peer == kd => Some(()),
        NetEvent::Frame { peer, .. } if *peer == kd => panic!("the dripped frame was waited for"),
        _ => None,
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "dropped after {took:?}");
    dripping.abort();

    // A peer that opens its sync stream and never begins a frame.
    let mut silent = raw_peer(0xd7, &a).await;
    let ks = silent.key;
    a.up(ks).await;
    let _open = silent
        .control
        .open_stream(pa, StreamProtocol::new(SYNC_PROTOCOL))
        .await
        .unwrap();
    a.down(ks).await;
    a.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_slow_drip_gossip_rpc_is_dropped() {
    let cfg = NetConfig {
        frame_timeout_secs: 1,
        link_rate_bps: Some(1_000_000),
        ..loopback(TCP, vec![])
    };
    let mut a = start(0xaa, cfg).await;
    let pa = peer_id(&a.key).unwrap();
    let mut drip = raw_peer(0xda, &a).await;
    let kd = drip.key;
    a.up(kd).await;
    // A gossipsub RPC announced as 100 bytes, dripped a byte every 100 ms (10 s in all).
    let mut stream = drip
        .control
        .open_stream(pa, StreamProtocol::new("/meshsub/1.1.0"))
        .await
        .unwrap();
    let dripping = tokio::spawn(async move {
        let mut wire = Vec::new();
        frame::encode_len(100, &mut wire);
        wire.extend_from_slice(&[0; 100]);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for b in wire {
            tick.tick().await;
            if stream.write_all(&[b]).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
    });
    let started = tokio::time::Instant::now();
    a.all(vec![
        NetEvent::Malformed { peer: kd },
        NetEvent::PeerDown { peer: kd },
    ])
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "dropped after {took:?}");
    dripping.abort();
    a.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// interop: plain libp2p peers that are not haiqiao nodes

#[derive(libp2p::swarm::NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct PlainBehaviour {
    identify: libp2p::identify::Behaviour,
    ping: Toggle<libp2p::ping::Behaviour>,
    gossipsub: Toggle<libp2p::gossipsub::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

/// What a plain peer saw.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Pong,
    Subscribed,
    Message(Vec<u8>),
    Published(bool),
    Closed,
}

/// A plain libp2p peer (identify, and ping and gossipsub when asked for), connected to a node
/// and driven by a task of its own.
struct Plain {
    key: PublicKey,
    control: libp2p_stream::Control,
    seen: tokio::sync::mpsc::Receiver<Seen>,
    publish: tokio::sync::mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Plain {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Plain {
    async fn next<T>(&mut self, mut pick: impl FnMut(Seen) -> Option<T>) -> T {
        timeout(GUARD, async {
            loop {
                let e = self.seen.recv().await.expect("plain peer stopped");
                if let Some(t) = pick(e) {
                    return t;
                }
            }
        })
        .await
        .expect("timed out waiting for the plain peer")
    }

    async fn publish(&mut self, data: Vec<u8>) {
        self.publish.send(data).await.unwrap();
        let ok = self
            .next(|e| match e {
                Seen::Published(ok) => Some(ok),
                Seen::Closed => panic!("closed"),
                _ => None,
            })
            .await;
        assert!(ok, "publish failed");
    }
}

/// Gossipsub as a foreign client would set it up for haiqiao's topic: no signatures, content
/// addressed, and a larger limit than haiqiao's (so it can send what haiqiao must refuse).
fn plain_gossipsub() -> libp2p::gossipsub::Behaviour {
    use libp2p::gossipsub;
    use sha2::Digest as _;
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::None)
        .message_id_fn(|m| gossipsub::MessageId::new(&sha2::Sha256::digest(&m.data)))
        .max_transmit_size(1 << 20)
        .build()
        .unwrap();
    let mut g =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config).unwrap();
    g.subscribe(&gossipsub::IdentTopic::new(haiqiao_net::GOSSIP_TOPIC))
        .unwrap();
    g
}

async fn plain_peer(seed: u8, node: &Node, ping: bool, gossip: bool) -> Plain {
    use libp2p::{gossipsub, identify, ping as lping};
    let keypair = keypair_from_seed([seed; 32]).unwrap();
    let mut swarm: Swarm<PlainBehaviour> = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| PlainBehaviour {
            identify: identify::Behaviour::new(identify::Config::new(
                "/plain/1".to_owned(),
                key.public(),
            )),
            ping: Toggle::from(ping.then(|| {
                lping::Behaviour::new(
                    lping::Config::new().with_interval(Duration::from_millis(300)),
                )
            })),
            gossipsub: Toggle::from(gossip.then(plain_gossipsub)),
            stream: libp2p_stream::Behaviour::new(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let control = swarm.behaviour().stream.new_control();
    let node_peer = peer_id(&node.key).unwrap();
    swarm
        .dial(node.dial_addr().parse::<Multiaddr>().unwrap())
        .unwrap();
    let (seen_tx, seen) = tokio::sync::mpsc::channel(1024);
    let (publish, mut to_publish) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let topic = gossipsub::IdentTopic::new(haiqiao_net::GOSSIP_TOPIC);
    let task = tokio::spawn(async move {
        loop {
            let seen = tokio::select! {
                Some(data) = to_publish.recv() => {
                    let g = swarm.behaviour_mut().gossipsub.as_mut().expect("gossipsub");
                    let r = g.publish(topic.clone(), data);
                    if let Err(e) = &r {
                        eprintln!("plain publish: {e}");
                    }
                    Seen::Published(r.is_ok())
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. }
                        if peer_id == node_peer => Seen::Closed,
                    SwarmEvent::Behaviour(PlainBehaviourEvent::Ping(lping::Event {
                        peer, result: Ok(_), ..
                    })) if peer == node_peer => Seen::Pong,
                    SwarmEvent::Behaviour(PlainBehaviourEvent::Gossipsub(
                        gossipsub::Event::Subscribed { peer_id, .. },
                    )) if peer_id == node_peer => Seen::Subscribed,
                    SwarmEvent::Behaviour(PlainBehaviourEvent::Gossipsub(
                        gossipsub::Event::Message { message, .. },
                    )) => Seen::Message(message.data),
                    _ => continue,
                },
            };
            let _ = seen_tx.try_send(seen);
        }
    });
    Plain {
        key: Keypair::from_seed(&[seed; 32]).public(),
        control,
        seen,
        publish,
        task,
    }
}

/// One ping as js-libp2p's connection monitor sends it: a new stream, 32 bytes out, the same
/// 32 bytes back.
async fn stream_ping(control: &mut libp2p_stream::Control, peer: PeerId, n: u8) {
    use futures::io::AsyncReadExt as _;
    let mut s = control
        .open_stream(peer, StreamProtocol::new("/ipfs/ping/1.0.0"))
        .await
        .expect("ping stream");
    let out = [n; 32];
    s.write_all(&out).await.unwrap();
    s.flush().await.unwrap();
    let mut back = [0u8; 32];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, out);
    let _ = s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_pings_are_answered_and_plain_peers_stay() {
    let mut a = start(0xa7, loopback(TCP, vec![])).await;
    let pa = peer_id(&a.key).unwrap();

    // A plain ping + identify peer: its pings are answered, interval after interval.
    let mut p = plain_peer(0xf1, &a, true, false).await;
    for _ in 0..4 {
        p.next(|e| match e {
            Seen::Pong => Some(()),
            Seen::Closed => panic!("the node dropped a plain ping peer"),
            _ => None,
        })
        .await;
    }

    // A peer that pings like js-libp2p's connection monitor but answers no pings itself (it
    // runs no ping service): the node's own ping is refused at once, and the node must still
    // answer every one of the peer's.
    let mut q = plain_peer(0xf2, &a, false, false).await;
    let kq = q.key;
    a.next(|e| matches!(e, NetEvent::PeerDown { peer } if *peer == kq).then_some(()))
        .await;
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    for n in 0..4 {
        tick.tick().await;
        timeout(Duration::from_secs(5), stream_ping(&mut q.control, pa, n))
            .await
            .unwrap_or_else(|_| panic!("ping {n} got no answer"));
    }
    while let Ok(e) = q.seen.try_recv() {
        assert_ne!(e, Seen::Closed, "the node dropped the js-like peer");
    }
    drop((p, q));
    a.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_gossip_only_peers_are_kept_within_the_bound() {
    let cfg = NetConfig {
        max_gossip_only_peers: 1,
        ..loopback(TCP, vec![])
    };
    let mut a = start(0xa8, cfg).await;
    let author = Keypair::from_seed(&[0xa8; 32]);

    // The first gossip-only peer: the engine sees it come up and go down (no sync), but the
    // connection stays and gossip flows both ways.
    let mut g = plain_peer(0xf3, &a, true, true).await;
    let kg = g.key;
    a.all(vec![
        NetEvent::PeerUp {
            peer: kg,
            rate_bps: None,
        },
        NetEvent::PeerDown { peer: kg },
        NetEvent::GossipJoined { peer: kg },
    ])
    .await;
    g.next(|e| (e == Seen::Subscribed).then_some(())).await;
    let r1 = record(&author, 1);
    g.publish(r1.bytes().to_vec()).await;
    assert_eq!(a.gossip().await, (kg, r1.bytes().to_vec()));
    a.handle
        .verdict(kg, Some(r1.id()), Verdict::Accept)
        .await
        .unwrap();
    let r2 = record(&author, 2);
    a.handle.publish(r2.id(), r2.shared_bytes()).await.unwrap();
    let got = g
        .next(|e| match e {
            Seen::Message(m) => Some(m),
            Seen::Closed => panic!("closed"),
            _ => None,
        })
        .await;
    assert_eq!(got, r2.bytes().to_vec());
    assert!(a.handle.peers().await.unwrap().is_empty());

    // A second one is past the bound: disconnected.
    let mut h = plain_peer(0xf4, &a, true, true).await;
    let kh = h.key;
    h.next(|e| (e == Seen::Closed).then_some(())).await;
    a.up(kh).await;
    a.down(kh).await;

    // The first is still there, pinged and heard.
    g.next(|e| match e {
        Seen::Pong => Some(()),
        Seen::Closed => panic!("closed"),
        _ => None,
    })
    .await;
    let r3 = record(&author, 3);
    g.publish(r3.bytes().to_vec()).await;
    assert_eq!(a.gossip().await, (kg, r3.bytes().to_vec()));
    drop((g, h));
    a.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_oversized_gossip_is_judged_and_the_stream_goes_on() {
    let mut a = start(0xa9, loopback(TCP, vec![])).await;
    let mut g = plain_peer(0xf5, &a, true, true).await;
    let kg = g.key;
    // A gossip-only peer: no contact for the engine.
    a.up(kg).await;
    a.down(kg).await;
    g.next(|e| (e == Seen::Subscribed).then_some(())).await;
    let author = Keypair::from_seed(&[0xa9; 32]);

    // Two messages of 10 KiB back to back (over half of the old 16 KiB limit), one of 20 KiB
    // (over it), then a record: each reaches the engine for its verdict, in order; the
    // oversized ones are rejected (the engine's penalty), and the stream keeps going.
    let big = |n: u8, len: usize| vec![n; len];
    let r = record(&author, 1);
    let sent = [
        big(1, 10 * 1024),
        big(2, 10 * 1024),
        big(3, 20 * 1024),
        r.bytes().to_vec(),
    ];
    for m in &sent {
        g.publish(m.clone()).await;
    }
    for (i, m) in sent.iter().enumerate() {
        let (peer, bytes) = a.gossip().await;
        assert_eq!((peer, bytes.len()), (kg, m.len()), "message {i}");
        assert_eq!(&bytes, m);
        let id = (i == 3).then(|| r.id());
        let verdict = if i == 3 {
            Verdict::Accept
        } else {
            Verdict::Reject
        };
        a.handle.verdict(kg, id, verdict).await.unwrap();
    }

    // An RPC beyond what gossipsub reads at all breaks the peer's stream: the peer is
    // disconnected rather than silently muted.
    g.publish(big(4, haiqiao_net::GOSSIP_MAX_TRANSMIT + 1024))
        .await;
    g.next(|e| (e == Seen::Closed).then_some(())).await;
    drop(g);
    a.handle.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// vectors: tests/vectors/frames.json

mod vectors {
    use haiqiao_mesh::riblt::{self, Decoder, Encoder, Side, Symbol};
    use haiqiao_net::frame;
    use haiqiao_proto::wire::{Carried, Frame, Neighbours, TierSummary};
    use haiqiao_proto::{KeyHint, PublicKey};
    use serde_json::Value as J;

    fn load() -> J {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/frames.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn hex_of(v: &J) -> Vec<u8> {
        hex::decode(v.as_str().unwrap_or_else(|| panic!("{v} is not a string")))
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn arr<const N: usize>(v: &J) -> [u8; N] {
        <[u8; N]>::try_from(hex_of(v)).unwrap_or_else(|_| panic!("{v} is not {N} bytes"))
    }

    fn list<const N: usize>(v: &J) -> Vec<[u8; N]> {
        v.as_array().unwrap().iter().map(arr::<N>).collect()
    }

    fn u(v: &J) -> u32 {
        u32::try_from(v.as_u64().unwrap_or_else(|| panic!("{v} is not a uint"))).unwrap()
    }

    fn element(v: &J) -> u64 {
        let mut b = [0u8; 8];
        b[1..].copy_from_slice(&arr::<7>(v));
        u64::from_be_bytes(b)
    }

    /// The frame a vector's items describe, built from the JSON alone.
    fn from_items(tag: u64, it: &J) -> Frame {
        match tag {
            0 => Frame::Hello {
                tiers: [
                    TierSummary {
                        count: u(&it["tier0_count"]),
                        digest: arr(&it["tier0_digest"]),
                    },
                    TierSummary {
                        count: u(&it["tier1_count"]),
                        digest: arr(&it["tier1_digest"]),
                    },
                ],
                shore_age_min: u(&it["shore_age_min"]),
                linked: (!it["linked"].is_null()).then(|| Neighbours(arr(&it["linked"]))),
                eta_shore_min: (!it["eta_shore_min"].is_null()).then(|| u(&it["eta_shore_min"])),
            },
            1 => Frame::Symbols {
                tier: u(&it["tier"]) as u8,
                start: u(&it["start"]),
                symbols: list(&it["symbols"]),
            },
            2 => Frame::More {
                tier: u(&it["tier"]) as u8,
                count: u(&it["count"]),
            },
            3 => Frame::Done {
                tier: u(&it["tier"]) as u8,
            },
            4 => Frame::Want {
                ids: list(&it["ids"]),
            },
            5 => Frame::Records {
                seq: u(&it["seq"]),
                items: it["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| Carried {
                        bytes: hex_of(&r["bytes"]),
                        copies: u(&r["copies"]) as u8,
                    })
                    .collect(),
            },
            6 => Frame::Ack {
                upto: u(&it["upto"]),
                refused: it["refused"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (u(&p[0]), u(&p[1]) as u16))
                    .collect(),
            },
            7 => Frame::WantKeys {
                hints: list::<8>(&it["hints"]).into_iter().map(KeyHint).collect(),
            },
            8 => Frame::Keys {
                keys: list::<32>(&it["keys"])
                    .iter()
                    .map(|k| PublicKey::from_bytes(k).unwrap())
                    .collect(),
            },
            9 => Frame::Offer {
                ids: list(&it["ids"]),
            },
            t => panic!("unknown tag {t}"),
        }
    }

    #[test]
    fn vectors_frames_decode_and_encode_identically() {
        let v = load();
        let frames = v["frames"].as_array().unwrap();
        let mut tags: Vec<u64> = Vec::new();
        for f in frames {
            let name = f["name"].as_str().unwrap();
            let tag = f["tag"].as_u64().unwrap();
            let bytes = hex_of(&f["frame"]);
            let want = from_items(tag, &f["items"]);
            assert_eq!(Frame::decode(&bytes).unwrap(), want, "{name}: decode");
            assert_eq!(want.encode(), bytes, "{name}: encode");
            assert_eq!(u64::from(want.tag()), tag, "{name}: tag");
            // On the stream: the varint length, then the frame.
            let w = hex_of(&f["wire"]);
            let mut prefix = Vec::new();
            frame::encode_len(bytes.len(), &mut prefix);
            assert_eq!(w, [prefix, bytes.clone()].concat(), "{name}: wire");
            let read = futures::executor::block_on(frame::read_frame(&mut &w[..]))
                .unwrap()
                .unwrap();
            assert_eq!(read, bytes, "{name}: read from the wire");
            tags.push(tag);
        }
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(
            tags,
            (0..=9).collect::<Vec<u64>>(),
            "every frame type has a vector"
        );
    }

    #[test]
    fn vectors_riblt_symbols_of_the_known_set() {
        let v = load();
        let r = &v["riblt"];
        let set: Vec<u64> = r["set"].as_array().unwrap().iter().map(element).collect();
        for e in r["elements"].as_array().unwrap() {
            let x = element(&e["element"]);
            let check = u32::from_str_radix(e["checksum"].as_str().unwrap(), 16).unwrap();
            assert_eq!(riblt::checksum(x), check, "checksum of {x:014x}");
            let mut one = Encoder::new([x]);
            let indices: Vec<u64> = (0..64u64)
                .filter(|_| one.next_symbol() != Symbol::default())
                .collect();
            let want: Vec<u64> = e["indices_below_64"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap())
                .collect();
            assert_eq!(indices, want, "mapping of {x:014x}");
            assert_eq!(indices[0], 0, "every element maps to symbol 0");
        }
        let symbols: Vec<[u8; riblt::SYMBOL_LEN]> = list(&r["symbols"]);
        let mut enc = Encoder::new(set.iter().copied());
        for (i, s) in symbols.iter().enumerate() {
            assert_eq!(enc.next_symbol().to_bytes(), *s, "symbol {i}");
        }
        // The symbols frame carries exactly these, from index 0.
        let f = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "symbols")
            .unwrap();
        let Frame::Symbols {
            start, symbols: s, ..
        } = Frame::decode(&hex_of(&f["frame"])).unwrap()
        else {
            panic!("not a symbols frame")
        };
        assert_eq!((start, s), (0, symbols.clone()));
        // A decoder holding all but the last two elements finds those two from these symbols.
        let mut dec = Decoder::new(set[..3].iter().copied(), 1_000);
        for s in &symbols {
            dec.add_symbol(Symbol::from_bytes(s));
            if dec.is_done() {
                break;
            }
        }
        assert!(dec.is_done());
        let mut got = dec.take_decoded();
        got.sort_unstable_by_key(|(e, _)| *e);
        let mut want: Vec<(u64, Side)> = set[3..].iter().map(|e| (*e, Side::Remote)).collect();
        want.sort_unstable_by_key(|(e, _)| *e);
        assert_eq!(got, want);
    }
}
