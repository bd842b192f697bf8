//! The engine over a thin link: two nodes joined by a serial pipe of fixed rate in each
//! direction that sends whatever it is handed in order, as a radio modem, a TCP socket buffer
//! and a qdisc do together. Virtual time; no I/O.

use std::collections::VecDeque;

use haiqiao_proto::wire::Frame;
use haiqiao_proto::*;

use crate::MeshConfig;
use crate::events::{Input, Output};
use crate::node::Node;
use crate::store::{MemStore, StoreLimits};

const T0: u64 = 1_795_000_000_000;

/// One direction of the link: frames in order, each arriving when the ones before it and its
/// own bytes have crossed at `bytes_per_s`.
#[derive(Debug, Default)]
struct Pipe {
    bytes_per_s: u64,
    free_at_ms: u64,
    in_transit: VecDeque<(u64, Vec<u8>)>,
    bytes: u64,
    record_bytes: u64,
}

impl Pipe {
    fn push(&mut self, now_ms: u64, frame: Vec<u8>) {
        // Each frame also pays a fixed 60 bytes of framing below the engine (length prefix,
        // multiplexer, encryption tag, TCP/IP headers).
        let wire = frame.len() as u64 + 60;
        let start = self.free_at_ms.max(now_ms);
        self.free_at_ms = start + (wire * 1000).div_ceil(self.bytes_per_s);
        self.bytes += wire;
        if let Ok(Frame::Records { items, .. }) = Frame::decode(&frame) {
            self.record_bytes += items.iter().map(|c| c.bytes.len() as u64).sum::<u64>();
        }
        self.in_transit.push_back((self.free_at_ms, frame));
    }
}

/// Two engines and the link between them.
struct Link {
    nodes: [Node<MemStore>; 2],
    keys: [PublicKey; 2],
    pipes: [Pipe; 2],
    now_ms: u64,
    delivered: [Vec<(u64, Record)>; 2],
}

impl Link {
    fn new(bytes_per_s: u64, cfg: MeshConfig) -> Link {
        Self::with_backlog(bytes_per_s, cfg, 0)
    }

    /// A link that comes up when node 0 already holds `backlog` texts for everyone.
    fn with_backlog(bytes_per_s: u64, cfg: MeshConfig, backlog: usize) -> Link {
        let node = |seed: u8| {
            Node::new(
                cfg.clone(),
                Keypair::from_seed(&[seed; 32]),
                Role::Vessel,
                MemStore::new(StoreLimits::default()),
                T0,
            )
            .unwrap()
        };
        let mut nodes = [node(1), node(2)];
        let keys = [nodes[0].public_key(), nodes[1].public_key()];
        nodes[0].handle(T0, Input::Keys(vec![keys[1]])).unwrap();
        nodes[1].handle(T0, Input::Keys(vec![keys[0]])).unwrap();
        let pipe = || Pipe {
            bytes_per_s,
            ..Pipe::default()
        };
        let mut l = Link {
            nodes,
            keys,
            pipes: [pipe(), pipe()],
            now_ms: T0,
            delivered: [Vec::new(), Vec::new()],
        };
        for i in 0..backlog {
            l.nodes[0]
                .submit(T0, Destination::Everyone, 600, text(i))
                .unwrap();
        }
        for i in 0..2 {
            let peer = l.keys[1 - i];
            l.input(
                i,
                Input::ContactUp {
                    peer,
                    rate_bps: None,
                },
            );
        }
        l
    }

    fn input(&mut self, i: usize, input: Input) {
        self.nodes[i].handle(self.now_ms, input).unwrap();
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].poll_output() {
            match out {
                Output::Send { frame, .. } => {
                    self.pipes[i].push(self.now_ms, frame);
                    // The transport took it.
                    let peer = self.keys[1 - i];
                    self.nodes[i]
                        .handle(self.now_ms, Input::Written { peer, frames: 1 })
                        .unwrap();
                }
                Output::Deliver(r) => self.delivered[i].push((self.now_ms, r)),
                _ => {}
            }
        }
    }

    /// Runs until `until_ms`, delivering frames as they arrive and firing timers.
    fn run_until(&mut self, until_ms: u64) {
        loop {
            let arrival = (0..2)
                .filter_map(|i| self.pipes[i].in_transit.front().map(|(t, _)| (*t, i)))
                .min();
            let timer = (0..2)
                .filter_map(|i| {
                    self.nodes[i]
                        .poll_timeout()
                        .map(|t| (t.max(self.now_ms), i))
                })
                .min();
            let next = match (arrival, timer) {
                (Some(a), Some(t)) => a.0.min(t.0),
                (Some(a), None) => a.0,
                (None, Some(t)) => t.0,
                (None, None) => until_ms,
            };
            if next > until_ms {
                self.now_ms = until_ms;
                return;
            }
            self.now_ms = next;
            if let Some((t, from)) = arrival
                && t == next
            {
                let (_, frame) = self.pipes[from].in_transit.pop_front().unwrap();
                let peer = self.keys[from];
                self.input(1 - from, Input::Frame { peer, bytes: frame });
                continue;
            }
            if let Some((_, i)) = timer {
                self.input(i, Input::Tick);
            }
            if next == until_ms {
                return;
            }
        }
    }

    /// How long after `raised` node 1 received `r`, and how many records it received in
    /// between, `before` being how many it had at `raised`.
    fn arrival_at_1(&self, r: &Record, raised: u64, before: usize) -> (u64, usize) {
        let (i, (at, _)) = self.delivered[1]
            .iter()
            .enumerate()
            .find(|(_, (_, x))| x.id() == r.id())
            .expect("the record arrived");
        (at - raised, i - before)
    }

    fn submit(&mut self, i: usize, dest: Destination, body: Body) -> Record {
        let r = self.nodes[i].submit(self.now_ms, dest, 600, body).unwrap();
        self.drain(i);
        r
    }
}

fn text(i: usize) -> Body {
    Body::Text {
        text: format!("bulk text {i:04}: nets hauled, 3 t of hairtail, heading north-east"),
        safety: false,
    }
}

fn distress() -> Body {
    Body::Distress {
        nature: DistressNature::Flooding,
        fix: None,
        persons: Some(9),
        text: "engine room flooding".into(),
    }
}

/// A distress written while a backlog of 1,000 texts crosses a 9,600 bit/s link arrives
/// within 2 s, with at most a frame's worth of the backlog ahead of it.
#[test]
fn on_a_9600_bit_link_a_distress_overtakes_a_backlog_of_1000_records() {
    let mut l = Link::new(1200, MeshConfig::default());
    for i in 0..1000 {
        l.submit(0, Destination::Everyone, text(i));
    }
    l.run_until(T0 + 20_000);
    let before = l.delivered[1].len();
    assert!(before > 50, "the backlog is moving ({before} crossed)");
    assert!(before < 1000, "the backlog has not all crossed ({before})");
    let raised = l.now_ms;
    let d = l.submit(0, Destination::Everyone, distress());
    l.run_until(raised + 10_000);
    let (took, ahead) = l.arrival_at_1(&d, raised, before);
    println!("distress on 9,600 bit/s behind 1,000 texts: {took} ms, {ahead} texts ahead");
    assert!(took <= 2_000, "the distress took {took} ms");
    assert!(ahead <= 8, "{ahead} texts went ahead of the distress");
}

/// The same when the backlog was written before the contact and crosses by reconciliation
/// (the other side streams symbols back over the same thin link meanwhile).
#[test]
fn on_a_9600_bit_link_a_distress_overtakes_a_reconciling_backlog() {
    let mut l = Link::with_backlog(1200, MeshConfig::default(), 1000);
    let mut t = l.now_ms;
    while l.delivered[1].len() < 100 && t < T0 + 600_000 {
        t += 50;
        l.run_until(t);
    }
    let before = l.delivered[1].len();
    assert!((100..1000).contains(&before), "{before} crossed");
    let raised = l.now_ms;
    let d = l.submit(0, Destination::Everyone, distress());
    l.run_until(raised + 20_000);
    let (took, ahead) = l.arrival_at_1(&d, raised, before);
    println!(
        "distress on 9,600 bit/s behind a reconciling backlog: {took} ms, {ahead} texts ahead"
    );
    assert!(took <= 2_000, "the distress took {took} ms");
}

/// Records received from a peer are never sent back to it, and a flood costs about its own
/// bytes on the link in the direction it travels.
#[test]
fn a_flood_crosses_once_and_nothing_echoes_back() {
    let mut l = Link::new(1200, MeshConfig::default());
    for i in 0..200 {
        l.submit(0, Destination::Everyone, text(i));
    }
    let d = l.submit(0, Destination::Everyone, distress());
    l.run_until(T0 + 600_000);
    assert_eq!(l.delivered[1].len(), 201, "everything crossed");
    assert!(l.delivered[1].iter().any(|(_, r)| r.id() == d.id()));
    let record_bytes: u64 = l.delivered[1].iter().map(|(_, r)| r.len() as u64).sum();
    let [ab, ba] = [&l.pipes[0], &l.pipes[1]];
    println!(
        "flood of 201 records ({record_bytes} B): A→B {} B on the wire ({:.3}×), B→A {} B, records B→A {} B",
        ab.bytes,
        ab.bytes as f64 / record_bytes as f64,
        ba.bytes,
        ba.record_bytes
    );
    assert_eq!(ab.record_bytes, record_bytes, "each record crossed once");
    assert_eq!(ba.record_bytes, 0, "no record went back");
    assert!(
        ab.bytes * 10 <= record_bytes * 12,
        "A→B {} B for {record_bytes} B of records",
        ab.bytes
    );
}
