//! The `haiqiao` router: the real engine ([`haiqiao_mesh::Node`] over a per-node store that
//! shares record bytes with the other nodes, `store::SharedStore`) at every node, driven by the event loop as the daemon drives it: contact up and down with the link's
//! rate, sync frames carried by the links at their rate and in order, timers at
//! `poll_timeout`. Like the daemon, the engine hands every record to its peers over the sync
//! stream (live gossip is only an ingress for light clients, which the simulator has none of).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use haiqiao_mesh::{Input, MeshConfig, Node, Output, StoreLimits};
use haiqiao_proto::wire::Frame;
use haiqiao_proto::{
    AreaId, Body, CaseStatus, Destination, DisputeCategory, DistressNature, DistressStatus, Fix,
    KeyHint, Keypair, NavStatus, PairAlertKind, Party, PublicKey, Record, RecordId, Role,
    Unverified,
};

use crate::net::{Net, Payload, Router};
use crate::rng::Rng;
use crate::scenario::{KeyMode, MediationRecords, Scenario};
use crate::store::{Pool, SharedStore, shared_store};
use crate::traffic::{MsgIdx, NodeIdx, NodeKind, What};

/// Kinds of message, for sizes.
pub(crate) const VARIANTS: usize = 9;

/// The index of a message's kind.
pub(crate) fn variant(w: &What) -> usize {
    match w {
        What::Position { .. } => 0,
        What::PairAlert { .. } => 1,
        What::Distress { .. } => 2,
        What::Report => 3,
        What::Dispute { .. } => 4,
        What::DistressAck { .. } => 5,
        What::CaseAccepted { .. } => 6,
        What::Proposal { .. } => 7,
        What::Signature { .. } => 8,
    }
}

/// A fix for a record body (the simulator does not carry real coordinates into records: a
/// fix packs into 12 bytes whatever its value).
fn fix(n: u64) -> Fix {
    Fix {
        lat_e5: 3_000_000 + (n % 50_000) as i32 * 3,
        lon_e5: 12_250_000 + (n % 70_000) as i32 * 3,
        sog_dkn: Some(32),
        cog_ddeg: Some(((n * 37) % 3600) as u16),
        heading_deg: None,
        nav_status: NavStatus::FISHING,
        fix_age_s: Some(1),
    }
}

/// The destination and body of the record that message `m` is. Dispute reports, case updates
/// and signatures go to everyone, as haiqiao-fleet writes them, unless `addressed`.
fn record_for(
    what: &What,
    m: u64,
    src: KeyHint,
    hint: &dyn Fn(NodeIdx) -> KeyHint,
    rec: &dyn Fn(MsgIdx) -> RecordId,
    addressed: bool,
) -> (Destination, Body) {
    let (dest, body) = match what {
        What::Position { .. } => (Destination::Everyone, Body::Position(fix(m))),
        What::PairAlert { partner } => (
            Destination::pair(src, hint(*partner)),
            Body::PairAlert {
                alert: PairAlertKind::GearFouled,
                fix: Some(fix(m)),
                text: "网缠住了，请减速".to_owned(),
            },
        ),
        What::Distress { .. } => (
            Destination::Everyone,
            Body::Distress {
                nature: DistressNature::Flooding,
                fix: Some(fix(m)),
                persons: Some(9),
                text: "机舱进水".to_owned(),
            },
        ),
        What::Report => (
            Destination::Shore,
            Body::Text {
                text: "捕捞日志 catch log: hairtail 1.2 t".to_owned(),
                safety: false,
            },
        ),
        What::Dispute { other, area } => (
            Destination::Mediators(AreaId(*area)),
            Body::DisputeReport {
                category: DisputeCategory::GearDamage,
                parties: vec![Party {
                    key: Some(hint(*other)),
                    name: format!("浙岱渔{:05}", other % 100_000),
                }],
                fix: Some(fix(m)),
                description: "网被割断 nets cut".to_owned(),
                evidence: Vec::new(),
            },
        ),
        What::DistressAck {
            distress, shore, ..
        } => (
            Destination::Everyone,
            Body::DistressUpdate {
                distress: rec(*distress),
                status: if *shore {
                    DistressStatus::Acknowledged
                } else {
                    DistressStatus::Responding { eta_min: 30 }
                },
                text: String::new(),
            },
        ),
        What::CaseAccepted { dispute, to } => (
            Destination::Node(hint(*to)),
            Body::CaseUpdate {
                case: rec(*dispute),
                status: CaseStatus::Accepted,
                text: String::new(),
            },
        ),
        What::Proposal { dispute, to } => (
            Destination::Node(hint(*to)),
            Body::CaseUpdate {
                case: rec(*dispute),
                status: CaseStatus::AgreementProposed,
                text: "赔偿网具 3000 元 compensation for the nets".to_owned(),
            },
        ),
        What::Signature { dispute, area } => (
            Destination::Mediators(AreaId(*area)),
            Body::AgreementSignature {
                case: rec(*dispute),
                agreement: [0x42; 32],
            },
        ),
    };
    let mediation = matches!(
        what,
        What::Dispute { .. }
            | What::CaseAccepted { .. }
            | What::Proposal { .. }
            | What::Signature { .. }
    );
    if mediation && !addressed {
        (Destination::Everyone, body)
    } else {
        (dest, body)
    }
}

/// Most mediation nodes (mediators and shore stations) a sealed case record is sealed to, so
/// that with its author and the boat it names it stays within the 16 readers of a record.
pub(crate) const MAX_SEALED_MEDIATION: usize = haiqiao_proto::seal::MAX_RECIPIENTS - 2;

/// The readers of message `what` by `src` when records are sealed: `None` for a public one.
fn sealed_readers(
    what: &What,
    src: NodeIdx,
    keys: &[PublicKey],
    mediation: &[PublicKey],
) -> Option<Vec<PublicKey>> {
    let k = |n: NodeIdx| keys.get(n as usize).copied();
    let mut out: Vec<PublicKey> = k(src).into_iter().collect();
    match what {
        What::PairAlert { partner } => out.extend(k(*partner)),
        What::Dispute { other, .. } => {
            out.extend(k(*other));
            out.extend_from_slice(mediation);
        }
        What::CaseAccepted { to, .. } | What::Proposal { to, .. } => {
            out.extend(k(*to));
            out.extend_from_slice(mediation);
        }
        What::Signature { .. } => out.extend_from_slice(mediation),
        _ => return None,
    }
    out.truncate(haiqiao_proto::seal::MAX_RECIPIENTS);
    Some(out)
}

/// The entropy of message `m`'s sealing: deterministic, so that runs repeat.
fn seal_entropy(m: u64) -> haiqiao_proto::SealEntropy {
    let mut r = Rng::new(0x7365_616c_6564_0000, m);
    let mut b = [0u8; 48];
    for c in b.chunks_mut(8) {
        c.copy_from_slice(&r.next_u64().to_le_bytes());
    }
    haiqiao_proto::SealEntropy::from_bytes(&b)
}

/// Encoded sizes of each kind of message, measured by signing one of each; with
/// `sealed_mediation = Some(n)`, pair alerts and case records sealed as the haiqiao router
/// seals them with `n` mediation nodes.
pub(crate) fn size_table(epoch_s: u64, sealed_mediation: Option<usize>) -> [u32; VARIANTS] {
    let key = Keypair::from_seed(&[7; 32]);
    let other = Keypair::from_seed(&[8; 32]).public().hint();
    let samples = [
        What::Position { measured: true },
        What::PairAlert { partner: 1 },
        What::Distress { nearby: Vec::new() },
        What::Report,
        What::Dispute { other: 1, area: 1 },
        What::DistressAck {
            distress: 0,
            caller: 1,
            shore: false,
        },
        What::CaseAccepted { dispute: 0, to: 1 },
        What::Proposal { dispute: 0, to: 1 },
        What::Signature {
            dispute: 0,
            area: 1,
        },
    ];
    let mut out = [0u32; VARIANTS];
    for (i, w) in samples.iter().enumerate() {
        let (dest, body) = record_for(
            w,
            1,
            key.public().hint(),
            &|_| other,
            &|_| RecordId([0x5a; 16]),
            true,
        );
        let env = haiqiao_proto::Envelope {
            author: key.public().hint(),
            seq: 1000,
            created: haiqiao_proto::Timestamp(epoch_s as u32),
            ttl_min: 240,
            dest,
            body,
        };
        let readers = sealed_mediation.and_then(|n| {
            let keys: Vec<PublicKey> = (0..2).map(|i| node_key(i).public()).collect();
            let med: Vec<PublicKey> = (0..n.min(MAX_SEALED_MEDIATION) as NodeIdx)
                .map(|i| node_key(100 + i).public())
                .collect();
            sealed_readers(w, 0, &keys, &med)
        });
        let signed = match readers {
            Some(r) => haiqiao_proto::seal::seal(&key, &env, &r, &seal_entropy(i as u64)).ok(),
            None => Record::sign(&key, env).ok(),
        };
        out[variant(w)] = signed.map_or(200, |r| r.len() as u32);
    }
    out
}

/// The key of node `i` (the same in every run of every scenario).
pub(crate) fn node_key(i: NodeIdx) -> Keypair {
    let mut r = Rng::new(0x6861_6971_6961_6f00, u64::from(i));
    let mut seed = [0u8; 32];
    for c in seed.chunks_mut(8) {
        c.copy_from_slice(&r.next_u64().to_le_bytes());
    }
    Keypair::from_seed(&seed)
}

/// Whether a frame's bytes are a `Frame::Records` (tag 5): the array head, then the tag.
fn is_records_frame(bytes: &[u8]) -> bool {
    const RECORDS_TAG: u8 = 5;
    bytes.get(1) == Some(&RECORDS_TAG)
}

/// The haiqiao router.
#[derive(Debug)]
pub(crate) struct Engine {
    nodes: Vec<Node<SharedStore>>,
    keys: Vec<PublicKey>,
    hints: Vec<KeyHint>,
    by_key: HashMap<[u8; 32], NodeIdx>,
    rec_of: Vec<Option<RecordId>>,
    msg_of: HashMap<RecordId, MsgIdx>,
    timer_at: Vec<Option<u64>>,
    epoch_ms: u64,
    /// The next of the world's homeward events to tell an engine.
    homeward_next: usize,
    /// Mediation records to their design destinations instead of everyone.
    mediation_addressed: bool,
    /// Pair alerts and case records sealed to their readers.
    sealed: bool,
    /// The mediation nodes (mediators and shore stations) case records are sealed to.
    mediation_keys: Vec<PublicKey>,
}

impl Engine {
    /// Engines for every node of the world.
    /// `at_sea_for_ms[i]`: how long node i has been at sea when the run starts (its engine
    /// starts with that shore history); empty for none.
    pub(crate) fn new(
        sc: &Scenario,
        kinds: &[NodeKind],
        n_shore: usize,
        at_sea_for_ms: &[Option<u64>],
    ) -> Engine {
        let epoch_ms = sc.epoch_s * 1000;
        let mut nodes = Vec::with_capacity(kinds.len());
        let pool: Rc<RefCell<Pool>> = Rc::default();
        let mut keys = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            let key = node_key(i as NodeIdx);
            keys.push(key.public());
            let mut cfg: MeshConfig = sc.mesh.clone();
            let role = match kind {
                NodeKind::Shore => {
                    cfg.max_peers = cfg.max_peers.max(sc.radio.shore_links + n_shore);
                    Role::Shore
                }
                NodeKind::Vessel => {
                    cfg.max_peers = cfg.max_peers.max(sc.radio.vessel_links);
                    Role::Vessel
                }
                NodeKind::Mediator => {
                    cfg.max_peers = cfg.max_peers.max(sc.radio.vessel_links);
                    Role::Mediator
                }
            };
            let limits: StoreLimits = sc.store.clone();
            match Node::new(cfg, key, role, shared_store(limits, pool.clone()), epoch_ms) {
                Ok(mut n) => {
                    if let Some(Some(ago)) = at_sea_for_ms.get(i) {
                        n.restore_last_shore_ms(epoch_ms.saturating_sub(*ago));
                    }
                    nodes.push(n)
                }
                Err(e) => unreachable!("an empty memory store cannot fail: {e}"),
            }
        }
        if sc.keys == KeyMode::All {
            for n in nodes.iter_mut() {
                for k in &keys {
                    n.learn_key(*k);
                }
            }
        }
        let mediation_keys: Vec<PublicKey> = keys
            .iter()
            .zip(kinds)
            .filter(|(_, kind)| **kind != NodeKind::Vessel)
            .map(|(k, _)| *k)
            .take(MAX_SEALED_MEDIATION)
            .collect();
        Engine {
            sealed: sc.routers.haiqiao_sealed,
            mediation_keys,
            hints: keys.iter().map(|k| k.hint()).collect(),
            by_key: keys
                .iter()
                .enumerate()
                .map(|(i, k)| (*k.as_bytes(), i as NodeIdx))
                .collect(),
            keys,
            nodes,
            rec_of: Vec::new(),
            msg_of: HashMap::new(),
            timer_at: vec![None; kinds.len()],
            epoch_ms,
            homeward_next: 0,
            mediation_addressed: sc.routers.haiqiao_mediation == MediationRecords::Addressed,
        }
    }

    /// Tells the engines of boats that started or stopped steaming home by now, as a daemon
    /// does from its own position reports.
    fn homeward(&mut self, net: &Net<'_>) {
        while let Some(&(t, i, eta)) = net.w.homeward.get(self.homeward_next)
            && t <= net.now
        {
            self.nodes[i as usize].set_eta_shore(self.epoch_ms + t, eta);
            self.homeward_next += 1;
        }
    }

    fn feed(&mut self, net: &mut Net<'_>, i: NodeIdx, input: Input) {
        self.homeward(net);
        if self.nodes[i as usize]
            .handle(self.epoch_ms + net.now, input)
            .is_err()
        {
            net.log.note("store_errors", 1);
        }
        self.drain(net, i);
    }

    fn node_of(&self, k: &PublicKey) -> Option<NodeIdx> {
        self.by_key.get(k.as_bytes()).copied()
    }

    fn drain(&mut self, net: &mut Net<'_>, i: NodeIdx) {
        while let Some(out) = self.nodes[i as usize].poll_output() {
            match out {
                Output::Send { peer, frame } => {
                    if let Some(c) = self.node_of(&peer).and_then(|j| net.contact_between(i, j)) {
                        net.send(c, i, frame.len(), Payload::Frame(frame));
                    }
                }
                Output::GossipVerdict { .. } => {}
                Output::Deliver(r) => {
                    if let Some(&m) = self.msg_of.get(&r.id()) {
                        net.received(m, i);
                    }
                }
                Output::Penalty { .. } => net.log.note("penalties", 1),
                Output::Disconnect { peer, .. } => {
                    net.log.note("contacts_refused", 1);
                    if let Some(j) = self.node_of(&peer)
                        && let Some(c) = net.contact_between(i, j)
                    {
                        net.close(c);
                        let me = self.keys[i as usize];
                        self.feed(net, j, Input::ContactDown { peer: me });
                    }
                }
                Output::Carrying(_) | Output::Authored(_) => {}
                Output::Freed(_) => net.log.note("copies_freed_by_receipt", 1),
                Output::RefusedRevoked { .. } => net.log.note("refused_revoked", 1),
            }
        }
        if let Some(t) = self.nodes[i as usize].poll_timeout() {
            let t = t.saturating_sub(self.epoch_ms).max(net.now + 1);
            if self.timer_at[i as usize].is_none_or(|s| t < s) {
                self.timer_at[i as usize] = Some(t);
                net.timer(t, i);
            }
        }
    }

    fn count(&self, net: &mut Net<'_>, record: &[u8]) {
        let class = Unverified::decode(record)
            .ok()
            .and_then(|u| self.msg_of.get(&u.id()))
            .map(|m| net.log.msgs[*m as usize].class());
        net.log.relay(class, record.len() as u64);
    }
}

impl Router for Engine {
    fn contact_up(&mut self, net: &mut Net<'_>, contact: u32) {
        let c = net.w.contacts[contact as usize];
        let rate_bps = Some(c.rate_bps);
        let (ka, kb) = (self.keys[c.a as usize], self.keys[c.b as usize]);
        self.feed(net, c.a, Input::ContactUp { peer: kb, rate_bps });
        if net.open[contact as usize] {
            self.feed(net, c.b, Input::ContactUp { peer: ka, rate_bps });
        }
    }

    fn contact_down(&mut self, net: &mut Net<'_>, contact: u32) {
        let (a, b) = net.ends(contact);
        let (ka, kb) = (self.keys[a as usize], self.keys[b as usize]);
        self.feed(net, a, Input::ContactDown { peer: kb });
        self.feed(net, b, Input::ContactDown { peer: ka });
    }

    fn arrival(
        &mut self,
        net: &mut Net<'_>,
        contact: u32,
        to_b: bool,
        payload: Payload,
        lost: bool,
    ) {
        if lost {
            return;
        }
        let (a, b) = net.ends(contact);
        let (from, to) = if to_b { (a, b) } else { (b, a) };
        let peer = self.keys[from as usize];
        match payload {
            Payload::Frame(bytes) => {
                // Only records frames are counted; a frame is a canonical CBOR array whose first
                // item is its tag, so the tag is the second byte (decoding every frame here cost
                // a tenth of a fleet run: Keys frames decompress points).
                if is_records_frame(&bytes)
                    && let Ok(Frame::Records { items, .. }) = Frame::decode(&bytes)
                {
                    for it in &items {
                        self.count(net, &it.bytes);
                    }
                }
                self.feed(net, to, Input::Frame { peer, bytes });
            }
            Payload::Msg(..) => {}
        }
    }

    fn create(&mut self, net: &mut Net<'_>, m: MsgIdx) {
        self.homeward(net);
        let msg = net.log.msgs[m as usize].clone();
        let src = msg.src;
        let hints = &self.hints;
        let rec_of = &self.rec_of;
        let (dest, body) = record_for(
            &msg.what,
            u64::from(m),
            hints[src as usize],
            &|n| hints[n as usize],
            &|d| {
                rec_of
                    .get(d as usize)
                    .copied()
                    .flatten()
                    .unwrap_or(RecordId([0; 16]))
            },
            self.mediation_addressed,
        );
        let now = self.epoch_ms + net.now;
        let readers = if self.sealed {
            sealed_readers(&msg.what, src, &self.keys, &self.mediation_keys)
        } else {
            None
        };
        let node = &mut self.nodes[src as usize];
        let written = match readers {
            Some(r) => node.submit_sealed(
                now,
                dest,
                msg.ttl_min,
                body,
                &r,
                &seal_entropy(u64::from(m)),
            ),
            None => node.submit(now, dest, msg.ttl_min, body),
        };
        match written {
            Ok(r) => {
                if self.rec_of.len() <= m as usize {
                    self.rec_of.resize(m as usize + 1, None);
                }
                self.rec_of[m as usize] = Some(r.id());
                self.msg_of.insert(r.id(), m);
            }
            Err(_) => net.log.note("submit_failed", 1),
        }
        self.drain(net, src);
    }

    fn timer(&mut self, net: &mut Net<'_>, node: NodeIdx) {
        if self.timer_at[node as usize] == Some(net.now) {
            self.timer_at[node as usize] = None;
            self.feed(net, node, Input::Tick);
        }
    }

    fn occupancy(&mut self, _net: &Net<'_>) -> Vec<(u64, u64)> {
        self.nodes
            .iter()
            .map(|n| {
                let u = haiqiao_mesh::Store::usage(n.store());
                (u.records, u.bytes)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::tests::world;
    use crate::traffic::{Class, Msg};

    const V: NodeKind = NodeKind::Vessel;
    const S: NodeKind = NodeKind::Shore;

    fn scenario() -> Scenario {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../simulations/smoke.toml"),
        )
        .unwrap();
        Scenario::from_toml(&text).unwrap()
    }

    #[test]
    fn the_engine_carries_a_report_and_a_distress_to_shore_through_a_relay() {
        let sc = scenario();
        let mut w = world(&[S, V, V], &[(1, 2, 2, 60), (0, 1, 100, 200)], 300);
        for what in [What::Report, What::Distress { nearby: vec![1] }] {
            w.msgs.push(Msg {
                src: 2,
                created_ms: 1000,
                ttl_min: 60,
                what,
            });
        }
        let kinds = [S, V, V];
        let mut e = Engine::new(&sc, &kinds, 1, &[]);
        let mut net = Net::new(&w, 1.0, sc.epoch_s);
        net.run(&mut e, 60_000, &mut |_| {});
        let at = |class: Class| {
            net.log
                .items
                .iter()
                .zip(&net.log.delivered)
                .find(|(i, _)| i.class == class)
                .and_then(|(_, d)| *d)
        };
        let (t, n) = at(Class::ShoreBound).expect("report delivered");
        assert_eq!(n, 0);
        assert!((100_000..110_000).contains(&t), "{t}");
        let (t, _) = at(Class::Distress).expect("distress delivered");
        assert!((100_000..110_000).contains(&t), "{t}");
        let (t, n) = at(Class::DistressNearby).expect("nearby boat heard it");
        assert_eq!(n, 1);
        assert!((2_000..5_000).contains(&t), "{t}");
        // The nearby boat's response reached the caller while they were linked.
        assert!(at(Class::DistressAck).is_some_and(|(t, n)| n == 2 && t < 60_000));
        assert_eq!(net.log.notes.get("penalties"), None);
    }

    #[test]
    fn a_boat_that_starts_at_sea_starts_with_its_shore_history() {
        let sc = scenario();
        let e = Engine::new(&sc, &[S, V, V], 1, &[None, Some(3 * 3_600_000), None]);
        let t0 = sc.epoch_s * 1000;
        assert_eq!(
            e.nodes[1].shore_age_min(t0),
            180,
            "left port three hours ago"
        );
        assert_eq!(
            e.nodes[2].shore_age_min(t0),
            65_535,
            "no history: never seen shore"
        );
    }

    #[test]
    fn sixty_distress_calls_cross_a_slow_link_by_sync_alone() {
        let sc = scenario();
        // One 1 kbit/s link for an hour; 60 distress calls written at once take about a
        // minute and a half to cross.
        let mut w = world(&[S, V], &[(0, 1, 0, 3600)], 3600);
        for _ in 0..60 {
            w.msgs.push(Msg {
                src: 1,
                created_ms: 10_000,
                ttl_min: 60,
                what: What::Distress { nearby: vec![] },
            });
        }
        let mut e = Engine::new(&sc, &[S, V], 1, &[]);
        let mut net = Net::new(&w, 1.0, sc.epoch_s);
        net.run(&mut e, 60_000, &mut |_| {});
        assert!(net.log.delivered.iter().all(|d| d.is_some()));
        let last = net
            .log
            .delivered
            .iter()
            .flatten()
            .map(|(t, _)| *t)
            .max()
            .unwrap();
        assert!(last < 10_000 + 300_000, "{last}");
    }

    #[test]
    fn mediation_records_go_to_everyone_as_the_daemon_writes_them_unless_addressed() {
        let me = node_key(1).public().hint();
        let other = node_key(2).public().hint();
        let dest = |w: &What, addressed: bool| {
            record_for(w, 1, me, &|_| other, &|_| RecordId([1; 16]), addressed).0
        };
        let dispute = What::Dispute { other: 2, area: 3 };
        let accepted = What::CaseAccepted { dispute: 0, to: 2 };
        let proposal = What::Proposal { dispute: 0, to: 2 };
        let signature = What::Signature {
            dispute: 0,
            area: 3,
        };
        for w in [&dispute, &accepted, &proposal, &signature] {
            assert_eq!(dest(w, false), Destination::Everyone, "{w:?}");
        }
        assert_eq!(dest(&dispute, true), Destination::Mediators(AreaId(3)));
        assert_eq!(dest(&signature, true), Destination::Mediators(AreaId(3)));
        assert_eq!(dest(&accepted, true), Destination::Node(other));
        assert_eq!(dest(&proposal, true), Destination::Node(other));
        // Everything else is addressed the same either way.
        let alert = What::PairAlert { partner: 2 };
        assert_eq!(dest(&alert, false), dest(&alert, true));
        assert_eq!(dest(&What::Report, false), Destination::Shore);
    }

    #[test]
    fn records_frames_are_told_from_the_others_by_their_second_byte() {
        let r = Record::sign(
            &node_key(1),
            haiqiao_proto::Envelope {
                author: node_key(1).public().hint(),
                seq: 1,
                created: haiqiao_proto::Timestamp(1_795_000_000),
                ttl_min: 60,
                dest: Destination::Shore,
                body: Body::Text {
                    text: "x".into(),
                    safety: false,
                },
            },
        )
        .unwrap();
        let records = Frame::Records {
            seq: 70_000,
            items: vec![haiqiao_proto::wire::Carried {
                bytes: r.bytes().to_vec(),
                copies: 3,
            }],
        };
        assert!(is_records_frame(&records.encode()));
        let others = [
            Frame::Keys {
                keys: vec![node_key(2).public()],
            },
            Frame::Ack {
                upto: 5,
                refused: vec![],
            },
            Frame::Want { ids: vec![[5; 7]] },
            Frame::Done { tier: 1 },
        ];
        for f in others {
            assert!(!is_records_frame(&f.encode()), "{f:?}");
        }
    }

    #[test]
    fn sizes_are_those_of_signed_records() {
        let s = size_table(crate::scenario::DEFAULT_EPOCH_S, None);
        assert!(s[0] <= 100, "a position is at most 100 bytes: {}", s[0]);
        assert!(s.iter().all(|x| (60..600).contains(x)), "{s:?}");
        // Sealed: pair alerts and case records grow by the stanzas; the rest do not change.
        let sealed = size_table(crate::scenario::DEFAULT_EPOCH_S, Some(3));
        let grew: Vec<usize> = (0..VARIANTS).filter(|i| sealed[*i] > s[*i]).collect();
        let same: Vec<usize> = (0..VARIANTS).filter(|i| sealed[*i] == s[*i]).collect();
        assert_eq!(grew.len() + same.len(), VARIANTS, "{s:?} {sealed:?}");
        assert_eq!(
            same.len(),
            4,
            "position, distress, report, distress ack: {s:?} {sealed:?}"
        );
        // A pair alert sealed to two boats: 129 bytes more (docs/protocol.md §13.8).
        let pair = variant(&What::PairAlert { partner: 1 });
        assert_eq!(sealed[pair] - s[pair], 129);
    }
}
