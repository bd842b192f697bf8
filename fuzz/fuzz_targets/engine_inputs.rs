//! Feeds the engine an arbitrary script of inputs from three peers: contacts up and down,
//! raw frames, well-formed `Records` frames carrying real signed records (and mangled ones),
//! gossip, timers, written notices, records of its own and what the host tells it (trust,
//! ETA ashore, groups, restored counters). The engine must never panic, never
//! hold more than its store's limits, and never queue more than a bounded number of outputs
//! per input (they are drained after each one, as the daemon does).
#![no_main]

use std::sync::LazyLock;

use haiqiao_mesh::{Input, MemStore, MeshConfig, Node, Store, StoreLimits, TrustPolicy};
use haiqiao_proto::wire::{Carried, Frame};
use haiqiao_proto::{Body, Destination, Envelope, Keypair, Record, Role, Timestamp};
use libfuzzer_sys::fuzz_target;

const T0_MS: u64 = 1_795_000_000_000;
const MAX_BYTES: u64 = 4_096;
/// Outputs one input may queue, at most (frames to three peers, deliveries, notices).
const MAX_OUTPUTS_PER_INPUT: usize = 4_096;

static PEERS: LazyLock<Vec<Keypair>> = LazyLock::new(|| {
    [0x22u8, 0x33, 0x44]
        .iter()
        .map(|b| Keypair::from_seed(&[*b; 32]))
        .collect()
});

/// A few records signed by the peers, to carry in frames.
static RECORDS: LazyLock<Vec<Record>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for (p, k) in PEERS.iter().enumerate() {
        for seq in 0..4u64 {
            let body = match seq {
                0 => Body::Text {
                    text: format!("报平安 {p}"),
                    safety: false,
                },
                1 => Body::Distress {
                    nature: haiqiao_proto::DistressNature::Flooding,
                    fix: None,
                    persons: Some(5),
                    text: String::new(),
                },
                _ => Body::Text {
                    text: "x".repeat(seq as usize * 40),
                    safety: true,
                },
            };
            let env = Envelope {
                author: k.public().hint(),
                seq,
                created: Timestamp((T0_MS / 1000) as u32),
                ttl_min: 600,
                dest: if seq == 3 {
                    Destination::Shore
                } else {
                    Destination::Everyone
                },
                body,
            };
            if let Ok(r) = Record::sign(k, env) {
                out.push(r);
            }
        }
    }
    out
});

struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        a.to_vec()
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = StoreLimits {
        max_bytes: MAX_BYTES,
        max_author_bytes: MAX_BYTES / 2,
        track_len: 4,
    };
    let cfg = MeshConfig::default();
    let me = Keypair::from_seed(&[0x11; 32]);
    let Ok(mut node) = Node::new(cfg, me, Role::Vessel, MemStore::new(limits), T0_MS) else {
        return;
    };
    let keys = PEERS.iter().map(|k| k.public()).collect();
    if node.handle(T0_MS, Input::Keys(keys)).is_err() {
        return;
    }
    let mut now = T0_MS;
    let mut s = Script(data);
    let mut steps = 0u32;
    while let Some(op) = s.byte() {
        steps += 1;
        if steps > 2_000 {
            break;
        }
        let peer = PEERS[usize::from(s.byte().unwrap_or(0)) % PEERS.len()].public();
        let input = match op % 8 {
            0 => Input::ContactUp {
                peer,
                rate_bps: s.byte().map(|r| u32::from(r) * 1_000 + 1),
            },
            1 => Input::ContactDown { peer },
            2 => {
                let n = usize::from(s.byte().unwrap_or(0));
                Input::Frame {
                    peer,
                    bytes: s.bytes(n),
                }
            }
            3 | 4 => {
                // A records frame with real records, some mangled.
                let n = usize::from(s.byte().unwrap_or(0) % 6);
                let seq = u32::from(s.byte().unwrap_or(0));
                let items = (0..n)
                    .map(|_| {
                        let pick = usize::from(s.byte().unwrap_or(0));
                        let r = &RECORDS[pick % RECORDS.len()];
                        let mut bytes = r.bytes().to_vec();
                        if op % 8 == 4
                            && let Some(at) = s.byte()
                        {
                            let i = usize::from(at) % bytes.len();
                            bytes[i] ^= 0x5a;
                        }
                        Carried {
                            bytes,
                            copies: s.byte().unwrap_or(0) % 9,
                        }
                    })
                    .collect();
                Input::Frame {
                    peer,
                    bytes: Frame::Records { seq, items }.encode(),
                }
            }
            5 => {
                let pick = usize::from(s.byte().unwrap_or(0));
                Input::Gossip {
                    peer,
                    bytes: RECORDS[pick % RECORDS.len()].bytes().to_vec(),
                }
            }
            6 => {
                now += u64::from(s.byte().unwrap_or(0)) * 250;
                Input::Tick
            }
            _ => match s.byte().unwrap_or(0) % 6 {
                0 => {
                    let _ = node.submit(
                        now,
                        Destination::Shore,
                        60,
                        Body::Text {
                            text: "catch log".to_owned(),
                            safety: false,
                        },
                    );
                    Input::Tick
                }
                1 => Input::Written {
                    peer,
                    frames: u32::from(s.byte().unwrap_or(1)),
                },
                // What the host tells the engine: trust (the peer certified as a shore
                // station, or revoked), the ETA ashore, keys, groups, restored counters.
                2 => {
                    let bits = s.byte().unwrap_or(0);
                    let mut t = TrustPolicy {
                        enforced: bits & 1 != 0,
                        ..TrustPolicy::default()
                    };
                    if bits & 2 != 0 {
                        t.shore.insert(peer);
                        t.trusted.insert(peer.hint());
                    }
                    if bits & 4 != 0 {
                        t.revoked.insert(peer);
                    }
                    Input::Trust(t)
                }
                3 => Input::EtaShore(s.byte().map(|m| u32::from(m) * 10)),
                4 => Input::Groups(vec![u32::from(s.byte().unwrap_or(0))]),
                _ => Input::Restored {
                    next_seq: s.byte().map(u64::from),
                    last_shore_ms: s.byte().map(|m| now.saturating_sub(u64::from(m) * 60_000)),
                },
            },
        };
        // A store error is an error, not a panic; the engine goes on.
        let _ = node.handle(now, input);
        let mut outputs = 0usize;
        while node.poll_output().is_some() {
            outputs += 1;
            assert!(outputs <= MAX_OUTPUTS_PER_INPUT, "unbounded outputs");
        }
        assert!(
            node.store().usage().bytes <= MAX_BYTES,
            "store over its limit"
        );
        if let Some(t) = node.poll_timeout() {
            assert!(
                t >= now.saturating_sub(1),
                "a timer in the past: {t} < {now}"
            );
        }
    }
});
