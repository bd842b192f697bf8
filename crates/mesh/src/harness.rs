//! An in-memory mesh of engines for tests and benchmarks: links that come and go, frames
//! delivered in lockstep "flights", live gossip emulated as flooding among linked nodes. Pure
//! and deterministic, like the engine it drives.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use haiqiao_proto::{Keypair, PublicKey, Record, Role};

use crate::config::MeshConfig;
use crate::events::{Input, Output, Verdict};
use crate::node::Node;
use crate::store::{MemStore, StoreLimits};

/// A message in flight between two nodes.
#[derive(Debug, Clone)]
enum Msg {
    Frame(Vec<u8>),
    Gossip(Vec<u8>),
}

/// A mesh of engines over in-memory stores.
#[derive(Debug)]
pub struct Mesh {
    /// The engines.
    pub nodes: Vec<Node<MemStore>>,
    keys: Vec<PublicKey>,
    by_key: BTreeMap<PublicKey, usize>,
    links: BTreeSet<(usize, usize)>,
    queue: VecDeque<(usize, usize, Msg)>,
    /// Records delivered to each node's application, in order.
    pub delivered: Vec<Vec<Record>>,
    /// Outputs other than sends and deliveries, per node (penalties, disconnects, verdicts).
    pub events: Vec<Vec<Output>>,
    /// The clock, ms since the epoch.
    pub now_ms: u64,
    /// Flights run so far (a flight delivers everything in transit at once).
    pub flights: u64,
    /// Frame bytes carried so far.
    pub frame_bytes: u64,
    /// Gossip bytes carried so far.
    pub gossip_bytes: u64,
    /// Whether live gossip is emulated (on by default).
    pub gossip: bool,
}

impl Mesh {
    /// A mesh of nodes with these roles; node i's key is derived from seed byte i + 1.
    pub fn new(roles: &[Role], cfg: MeshConfig, now_ms: u64) -> Mesh {
        Self::with_limits(roles, cfg, StoreLimits::default(), now_ms)
    }

    /// As [`Mesh::new`], with store limits.
    pub fn with_limits(roles: &[Role], cfg: MeshConfig, limits: StoreLimits, now_ms: u64) -> Mesh {
        let mut m = Mesh {
            nodes: Vec::new(),
            keys: Vec::new(),
            by_key: BTreeMap::new(),
            links: BTreeSet::new(),
            queue: VecDeque::new(),
            delivered: Vec::new(),
            events: Vec::new(),
            now_ms,
            flights: 0,
            frame_bytes: 0,
            gossip_bytes: 0,
            gossip: true,
        };
        for (i, role) in roles.iter().enumerate() {
            let key = Keypair::from_seed(&[i as u8 + 1; 32]);
            let store = MemStore::new(limits.clone());
            m.add(
                Node::new(cfg.clone(), key, *role, store, now_ms).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        m
    }

    /// Adds a node; returns its index.
    pub fn add(&mut self, node: Node<MemStore>) -> usize {
        let i = self.add_stranger(node);
        // Every node knows every other's key, as after an exchange of certificates.
        let now = self.now_ms;
        for j in 0..self.nodes.len() {
            for (n, k) in [(i, self.keys[j]), (j, self.keys[i])] {
                self.nodes[n]
                    .handle(now, Input::Keys(vec![k]))
                    .unwrap_or_else(|e| panic!("node {n}: {e}"));
            }
        }
        i
    }

    /// Adds a node that is introduced to no one: it learns no keys and no node learns its key
    /// (a node restarted with an empty key ring, say). Keys then travel only as the engine
    /// carries them: at contact up (the peer's own key) and in `Keys` frames. Returns its index.
    pub fn add_stranger(&mut self, node: Node<MemStore>) -> usize {
        let i = self.nodes.len();
        self.keys.push(node.public_key());
        self.by_key.insert(node.public_key(), i);
        self.nodes.push(node);
        self.delivered.push(Vec::new());
        self.events.push(Vec::new());
        i
    }

    /// Node i's key.
    pub fn key(&self, i: usize) -> PublicKey {
        self.keys[i]
    }

    /// Whether a and b are linked.
    pub fn linked(&self, a: usize, b: usize) -> bool {
        self.links.contains(&(a.min(b), a.max(b)))
    }

    /// Brings a link up.
    pub fn connect(&mut self, a: usize, b: usize, rate_bps: Option<u32>) {
        if self.links.insert((a.min(b), a.max(b))) {
            let now = self.now_ms;
            let (ka, kb) = (self.keys[a], self.keys[b]);
            self.input(a, Input::ContactUp { peer: kb, rate_bps });
            self.input(b, Input::ContactUp { peer: ka, rate_bps });
            let _ = now;
        }
    }

    /// Takes a link down; what was in transit on it is lost.
    pub fn disconnect(&mut self, a: usize, b: usize) {
        if self.links.remove(&(a.min(b), a.max(b))) {
            self.queue
                .retain(|(f, t, _)| !((*f == a && *t == b) || (*f == b && *t == a)));
            let (ka, kb) = (self.keys[a], self.keys[b]);
            self.input(a, Input::ContactDown { peer: kb });
            self.input(b, Input::ContactDown { peer: ka });
        }
    }

    /// Feeds an input to node i and collects its outputs.
    pub fn input(&mut self, i: usize, input: Input) {
        let now = self.now_ms;
        self.nodes[i]
            .handle(now, input)
            .unwrap_or_else(|e| panic!("node {i}: {e}"));
        self.drain(i, None);
    }

    /// Collects node i's outputs (after a submit, say).
    pub fn drain(&mut self, i: usize, gossip_from: Option<usize>) {
        while let Some(out) = self.nodes[i].poll_output() {
            match out {
                Output::Send { peer, frame } => {
                    if let Some(&j) = self.by_key.get(&peer)
                        && self.linked(i, j)
                    {
                        self.queue.push_back((i, j, Msg::Frame(frame)));
                    }
                }
                Output::GossipVerdict { peer, verdict, id } => {
                    if verdict == Verdict::Accept {
                        // Forward as gossipsub does, to every other linked node.
                        if let Some(id) = id
                            && let Some(Ok(Some(r))) =
                                Some(crate::Store::get(self.nodes[i].store(), &id))
                        {
                            let from = self.by_key.get(&peer).copied();
                            self.gossip(i, from.or(gossip_from), r.bytes().to_vec());
                        }
                    }
                    self.events[i].push(Output::GossipVerdict { peer, verdict, id });
                }
                Output::Deliver(r) => self.delivered[i].push(r),
                Output::Disconnect { peer, until_ms } => {
                    if let Some(&j) = self.by_key.get(&peer) {
                        self.links.remove(&(i.min(j), i.max(j)));
                        self.queue
                            .retain(|(f, t, _)| !((*f == i && *t == j) || (*f == j && *t == i)));
                        let ki = self.keys[i];
                        let now = self.now_ms;
                        let _ = self.nodes[j].handle(now, Input::ContactDown { peer: ki });
                    }
                    self.events[i].push(Output::Disconnect { peer, until_ms });
                }
                other => self.events[i].push(other),
            }
        }
    }

    fn gossip(&mut self, from: usize, except: Option<usize>, bytes: Vec<u8>) {
        if !self.gossip {
            return;
        }
        let neighbours: Vec<usize> = self
            .links
            .iter()
            .filter_map(|&(a, b)| {
                if a == from {
                    Some(b)
                } else if b == from {
                    Some(a)
                } else {
                    None
                }
            })
            .filter(|j| Some(*j) != except)
            .collect();
        for j in neighbours {
            self.queue.push_back((from, j, Msg::Gossip(bytes.clone())));
        }
    }

    /// Delivers everything in transit (one flight), advancing the clock by `step_ms` first.
    /// Returns whether anything was delivered.
    pub fn flight(&mut self, step_ms: u64) -> bool {
        self.now_ms += step_ms;
        let batch: Vec<_> = self.queue.drain(..).collect();
        let any = !batch.is_empty();
        if any {
            self.flights += 1;
        }
        for (from, to, msg) in batch {
            if !self.linked(from, to) {
                continue;
            }
            let peer = self.keys[from];
            match msg {
                Msg::Frame(bytes) => {
                    self.frame_bytes += bytes.len() as u64;
                    self.input(to, Input::Frame { peer, bytes });
                }
                Msg::Gossip(bytes) => {
                    self.gossip_bytes += bytes.len() as u64;
                    let now = self.now_ms;
                    self.nodes[to]
                        .handle(now, Input::Gossip { peer, bytes })
                        .unwrap_or_else(|e| panic!("node {to}: {e}"));
                    self.drain(to, Some(from));
                }
            }
        }
        // Timers that are due.
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .poll_timeout()
                .is_some_and(|t| t <= self.now_ms)
            {
                self.input(i, Input::Tick);
            }
        }
        any
    }

    /// Runs flights until nothing is in transit and no timer is due within `step_ms`, or
    /// `max_flights` have run. Returns the number of flights run.
    pub fn run(&mut self, step_ms: u64, max_flights: u64) -> u64 {
        let start = self.flights;
        let mut idle = 0;
        for _ in 0..max_flights {
            if self.flight(step_ms) {
                idle = 0;
            } else {
                idle += 1;
                let due = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.poll_timeout())
                    .any(|t| t <= self.now_ms + step_ms);
                if self.queue.is_empty() && (!due || idle > 3) {
                    break;
                }
            }
        }
        self.flights - start
    }

    /// Advances the clock to `t` in steps of `step_ms`, running flights.
    pub fn run_until(&mut self, t: u64, step_ms: u64) {
        while self.now_ms < t {
            self.flight(step_ms.min(t - self.now_ms).max(1));
        }
    }
}
