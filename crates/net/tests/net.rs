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
//! - `raw_*`: a bare libp2p peer: malformed frames are reported; a stalled reader is dropped
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
