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

use crate::app::App;
use crate::net::{Net, Payload, Router};
use crate::rng::Rng;
use crate::scenario::{KeyMode, MediationRecords, Scenario};
use crate::store::{Pool, SharedStore, shared_store};
use crate::traffic::{MsgIdx, NodeIdx, NodeKind, What};
use crate::verify::SharedVerifier;

/// Kinds of message, for sizes.
pub(crate) const VARIANTS: usize = 9;

/// The index of a message's kind.
pub(crate) fn variant(w: &What) -> usize {
    match w {
        What::Position { .. } => 0,
        What::PairAlert { .. } => 1,
        What::Distress { .. } | What::DistressRepeat { .. } => 2,
        What::Report | What::BuddyReport => 3,
        What::Dispute { .. } => 4,
        What::DistressAck { .. } => 5,
        What::CaseAccepted { .. } => 6,
        What::Proposal { .. } | What::AgreementProposed { .. } => 7,
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
        What::Distress { .. } | What::DistressRepeat { .. } => (
            Destination::Everyone,
            Body::Distress {
                nature: DistressNature::Flooding,
                fix: Some(fix(m)),
                persons: Some(9),
                text: "机舱进水".to_owned(),
            },
        ),
        What::Report | What::BuddyReport => (
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
        What::AgreementProposed { dispute, .. } => (
            Destination::Everyone,
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
    if is_mediation(what) && !addressed {
        (Destination::Everyone, body)
    } else {
        (dest, body)
    }
}

/// Whether a message is a mediation record (dispute report, case update, signature).
fn is_mediation(what: &What) -> bool {
    matches!(
        what,
        What::Dispute { .. }
            | What::CaseAccepted { .. }
            | What::Proposal { .. }
            | What::AgreementProposed { .. }
            | What::Signature { .. }
    )
}

/// Most mediation nodes (mediators and shore stations) a sealed case record is sealed to, so
/// that with its author and the boat it names it stays within the 16 readers of a record.
pub(crate) const MAX_SEALED_MEDIATION: usize = haiqiao_proto::seal::MAX_RECIPIENTS - 2;

/// The readers of message `what` by `src` when records are sealed: `None` for a public one.
/// As the daemon seals (docs/protocol.md §13.1): a pair alert to both boats; a case record to
/// its author, the case's reporter and the boat it names, and the mediation nodes.
fn sealed_readers(
    what: &What,
    src: NodeIdx,
    keys: &[PublicKey],
    mediation: &[PublicKey],
    msgs: &[crate::traffic::Msg],
) -> Option<Vec<PublicKey>> {
    let k = |n: NodeIdx| keys.get(n as usize).copied();
    // The reporter and the other party of dispute `d`.
    let parties = |d: MsgIdx| match msgs.get(d as usize) {
        Some(m) => match m.what {
            What::Dispute { other, .. } => vec![m.src, other],
            _ => vec![m.src],
        },
        None => Vec::new(),
    };
    let mut out: Vec<PublicKey> = k(src).into_iter().collect();
    match what {
        What::PairAlert { partner } => out.extend(k(*partner)),
        What::Dispute { other, .. } => {
            out.extend(k(*other));
            out.extend_from_slice(mediation);
        }
        What::CaseAccepted { dispute, .. }
        | What::Proposal { dispute, .. }
        | What::AgreementProposed { dispute, .. }
        | What::Signature { dispute, .. } => {
            out.extend(parties(*dispute).into_iter().filter_map(k));
            out.extend_from_slice(mediation);
        }
        _ => return None,
    }
    out.sort_unstable_by_key(|p| *p.as_bytes());
    out.dedup();
    out.truncate(haiqiao_proto::seal::MAX_RECIPIENTS);
    Some(out)
}

/// The entropy of message `m`'s sealing: deterministic, so that runs repeat.
fn seal_entropy(m: u64) -> haiqiao_proto::SealEntropy {
    let mut r = Rng::stream(0x7365_616c_6564_0000, m);
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
            let keys: Vec<PublicKey> = (0..3).map(|i| node_key(i).public()).collect();
            let med: Vec<PublicKey> = (0..n.min(MAX_SEALED_MEDIATION) as NodeIdx)
                .map(|i| node_key(100 + i).public())
                .collect();
            // The samples' dispute 0: filed by node 1 against node 2.
            let dispute = [crate::traffic::Msg {
                src: 1,
                created_ms: 0,
                ttl_min: 60,
                what: What::Dispute { other: 2, area: 1 },
            }];
            sealed_readers(w, 0, &keys, &med, &dispute)
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
    let mut r = Rng::stream(0x6861_6971_6961_6f00, u64::from(i));
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
    /// haiqiao-fleet at every node and the people using it (`app`); none: the shared
    /// `Reactor` answers, as for the baselines.
    app: Option<App>,
    /// Pair alerts and case records sealed to their readers.
    sealed: bool,
    /// The mediation nodes (mediators and shore stations) case records are sealed to.
    mediation_keys: Vec<PublicKey>,
    /// Sealings of the application's records so far (their entropy's seed).
    seal_draws: u64,
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
        app: Option<App>,
    ) -> Engine {
        let epoch_ms = sc.epoch_s * 1000;
        let mut nodes = Vec::with_capacity(kinds.len());
        let pool: Rc<RefCell<Pool>> = Rc::default();
        // Every engine would verify a flooded record's bytes as every other does: they check
        // each signature once between them (verify.rs).
        let verifier = SharedVerifier::default();
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
                    n.set_verifier(Box::new(verifier.clone()));
                    if let Some(Some(ago)) = at_sea_for_ms.get(i) {
                        let restored = Input::Restored {
                            next_seq: None,
                            last_shore_ms: Some(epoch_ms.saturating_sub(*ago)),
                        };
                        if n.handle(epoch_ms, restored).is_err() {
                            unreachable!("a setting other than trust cannot fail");
                        }
                    }
                    nodes.push(n)
                }
                Err(e) => unreachable!("an empty memory store cannot fail: {e}"),
            }
        }
        if sc.keys == KeyMode::All {
            let mut known = keys.clone();
            if app.is_some() {
                known.push(crate::app::bureau().public());
            }
            for n in nodes.iter_mut() {
                if n.handle(epoch_ms, Input::Keys(known.clone())).is_err() {
                    unreachable!("a setting other than trust cannot fail");
                }
            }
        }
        if let Some(a) = &app {
            for (i, n) in nodes.iter_mut().enumerate() {
                if n.handle(epoch_ms, Input::Trust(a.trust(i as NodeIdx, 0)))
                    .is_err()
                {
                    unreachable!("an empty memory store cannot fail");
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
            seal_draws: 0,
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
            app,
        }
    }

    /// Tells the engines of boats that started or stopped steaming home by now, as a daemon
    /// does from its own position reports.
    fn homeward(&mut self, net: &Net<'_>) {
        while let Some(&(t, i, eta)) = net.w.homeward.get(self.homeward_next)
            && t <= net.now
        {
            let now = self.epoch_ms + t;
            if self.nodes[i as usize]
                .handle(now, Input::EtaShore(eta))
                .is_err()
            {
                unreachable!("a setting other than trust cannot fail");
            }
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
        // The application's writes make more outputs: a few rounds at most (each write is
        // answered by other nodes, not this one, and repeats are timed).
        for _ in 0..8 {
            self.drain_outputs(net, i);
            if !self.app_poll(net, i) {
                break;
            }
        }
        let due = self.app.as_ref().and_then(|a| a.next_due(i));
        let t = match (self.nodes[i as usize].poll_timeout(), due) {
            (Some(e), Some(a)) => Some(e.saturating_sub(self.epoch_ms).min(a)),
            (e, a) => e.map(|e| e.saturating_sub(self.epoch_ms)).or(a),
        };
        if let Some(t) = t {
            let t = t.max(net.now + 1);
            if self.timer_at[i as usize].is_none_or(|s| t < s) {
                self.timer_at[i as usize] = Some(t);
                net.timer(t, i);
            }
        }
    }

    /// The application at node `i` observes a record it wrote (opened, if sealed: the author
    /// is one of its readers).
    fn app_authored(&mut self, i: NodeIdx, t: u64, r: &Record, repeats: Option<RecordId>) {
        let Some(app) = self.app.as_mut() else {
            return;
        };
        if matches!(r.body(), Body::Sealed(_)) {
            if let Ok(o) = self.nodes[i as usize].open(r) {
                app.authored(i, t, &o, repeats);
            }
        } else {
            app.authored(i, t, r, repeats);
        }
    }

    /// The application at node `i` observes a record delivered there and its people act.
    fn app_delivered(&mut self, net: &mut Net<'_>, i: NodeIdx, r: &Record) {
        let Some(app) = self.app.as_mut() else {
            return;
        };
        // A sealed record is observed as this node reads it; one it may not read, not at all
        // (as the daemon's workflows do).
        let opened;
        let r = if matches!(r.body(), Body::Sealed(_)) {
            match self.nodes[i as usize].open(r) {
                Ok(o) => {
                    opened = o;
                    &opened
                }
                Err(_) => return,
            }
        } else {
            r
        };
        let heard = app.revocation_heard[i as usize].is_some();
        let (writes, trust) = app.delivered(i, net.now, r, &self.msg_of, &net.log.msgs);
        if !heard && let Some(t) = app.revocation_heard[i as usize] {
            net.log.note("revocation_heard_nodes", 1);
            net.log.note(
                "revocation_heard_delay_s_sum",
                t.saturating_sub(app.revocation_at()) / 1000,
            );
        }
        if trust {
            let policy = app.trust(i, net.now);
            let now = self.epoch_ms + net.now;
            if self.nodes[i as usize]
                .handle(now, Input::Trust(policy))
                .is_err()
            {
                net.log.note("store_errors", 1);
            }
        }
        for w in writes {
            self.write(net, w);
        }
    }

    /// The application at node `i` does what is due; whether it wrote anything.
    fn app_poll(&mut self, net: &mut Net<'_>, i: NodeIdx) -> bool {
        let Some(app) = self.app.as_mut() else {
            return false;
        };
        let cases = &mut net.log.reactor.cases;
        let linked = self.nodes[i as usize].peers().next().is_some();
        let writes = app.poll(
            i,
            net.now,
            linked,
            &self.msg_of,
            &net.log.msgs,
            &mut |d, t| {
                let c = cases.entry(d).or_default();
                c.closed_ms.get_or_insert(t);
            },
        );
        for (k, v) in app.take_notes() {
            net.log.note(k, v);
        }
        let any = !writes.is_empty();
        for w in writes {
            self.write(net, w);
        }
        any
    }

    /// Writes (or imports) what the application at a node wrote, and registers the measured
    /// message it is.
    fn write(&mut self, net: &mut Net<'_>, w: crate::app::Write) {
        let i = w.node as usize;
        let now = self.epoch_ms + net.now;
        if let Some(r) = w.import {
            if self.nodes[i].import(now, r.author(), r.bytes()).is_err() {
                net.log.note("imports_refused", 1);
            }
            return;
        }
        let mut dest = w.draft.dest;
        if self.mediation_addressed
            && let Some(m) = &w.msg
            && is_mediation(&m.what)
        {
            dest = self.record_of(&m.what, 0, m.src).0;
        }
        self.seal_draws += 1;
        let what = w
            .msg
            .as_ref()
            .map(|m| m.what.clone())
            .unwrap_or(What::Report);
        let seed = (1 << 40) + self.seal_draws;
        match self.submit(
            &net.log.msgs,
            w.node,
            &what,
            seed,
            now,
            dest,
            w.draft.ttl_min,
            w.draft.body,
        ) {
            Ok(r) => {
                if let Some(m) = w.msg {
                    if let What::CaseAccepted { dispute, .. } = m.what {
                        let c = net.log.reactor.cases.entry(dispute).or_default();
                        c.accepted_ms.get_or_insert(net.now);
                    }
                    let idx = net.log.add_msg(m);
                    self.register(idx, r.id());
                }
                self.app_authored(w.node, net.now, &r, w.repeats);
            }
            Err(_) => net.log.note("submit_failed", 1),
        }
    }

    /// Node `src` writes message `what` (sealed to its readers when the scenario seals, with
    /// entropy drawn from `seed`).
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        msgs: &[crate::traffic::Msg],
        src: NodeIdx,
        what: &What,
        seed: u64,
        now: u64,
        dest: Destination,
        ttl_min: u32,
        body: Body,
    ) -> Result<Record, haiqiao_mesh::MeshError> {
        let readers = if self.sealed {
            sealed_readers(what, src, &self.keys, &self.mediation_keys, msgs)
        } else {
            None
        };
        let node = &mut self.nodes[src as usize];
        match readers {
            Some(r) => node.submit_sealed(now, dest, ttl_min, body, &r, &seal_entropy(seed)),
            None => node.submit(now, dest, ttl_min, body),
        }
    }

    fn register(&mut self, m: MsgIdx, id: RecordId) {
        if self.rec_of.len() <= m as usize {
            self.rec_of.resize(m as usize + 1, None);
        }
        self.rec_of[m as usize] = Some(id);
        self.msg_of.insert(id, m);
    }

    /// What `record_for` gives message `m` of node `src`.
    fn record_of(&self, what: &What, m: u64, src: NodeIdx) -> (Destination, Body) {
        let hints = &self.hints;
        let rec_of = &self.rec_of;
        record_for(
            what,
            m,
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
        )
    }

    fn drain_outputs(&mut self, net: &mut Net<'_>, i: NodeIdx) {
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
                        if let What::DistressRepeat { distress } = net.log.msgs[m as usize].what {
                            net.received(distress, i);
                        }
                    }
                    self.app_delivered(net, i, &r);
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
    }

    /// Counts a record arriving at node `to`: a relay of its class, and a duplicate when `to`
    /// held it already.
    fn count(&self, net: &mut Net<'_>, to: NodeIdx, record: &[u8]) {
        let Ok(u) = Unverified::decode(record) else {
            net.log.relay(None, record.len() as u64);
            return;
        };
        let class = self
            .msg_of
            .get(&u.id())
            .map(|m| net.log.msgs[*m as usize].class());
        net.log.relay(class, record.len() as u64);
        if let Some(c) = class
            && self.nodes[to as usize].holds(&u.id())
        {
            net.log.duplicates[c as usize] += 1;
        }
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
                        self.count(net, to, &it.bytes);
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
        let (mut dest, mut body) = self.record_of(&msg.what, u64::from(m), src);
        let mut ttl_min = msg.ttl_min;
        // With the application, distress, pair alerts and disputes are its own records.
        if let Some(d) = self.app.as_mut().and_then(|a| a.base_draft(&msg)) {
            if !(self.mediation_addressed && is_mediation(&msg.what)) {
                dest = d.dest;
            }
            body = d.body;
            ttl_min = d.ttl_min;
        }
        let now = self.epoch_ms + net.now;
        match self.submit(
            &net.log.msgs,
            src,
            &msg.what,
            u64::from(m),
            now,
            dest,
            ttl_min,
            body,
        ) {
            Ok(r) => {
                self.register(m, r.id());
                self.app_authored(src, net.now, &r, None);
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
        let mut e = Engine::new(&sc, &kinds, 1, &[], None);
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
    fn a_record_arriving_at_a_node_that_holds_it_counts_as_a_duplicate() {
        let sc = scenario();
        let w = {
            let mut w = world(&[S, V, V], &[(1, 2, 2, 60), (0, 1, 100, 200)], 300);
            w.msgs.push(Msg {
                src: 2,
                created_ms: 1000,
                ttl_min: 60,
                what: What::Report,
            });
            w
        };
        let mut e = Engine::new(&sc, &[S, V, V], 1, &[], None);
        let mut net = Net::new(&w, 1.0, sc.epoch_s);
        net.run(&mut e, 60_000, &mut |_| {});
        let i = Class::ShoreBound as usize;
        assert_eq!(
            net.log.duplicates[i], 0,
            "the chain carried the report once per hop"
        );
        let id = *e.msg_of.keys().next().expect("the report was written");
        let bytes = haiqiao_mesh::Store::get(e.nodes[0].store(), &id)
            .unwrap()
            .expect("shore holds it")
            .bytes()
            .to_vec();
        let relays = net.log.relays[i];
        e.count(&mut net, 0, &bytes);
        assert_eq!((net.log.relays[i], net.log.duplicates[i]), (relays + 1, 1));
    }

    #[test]
    fn a_boat_that_starts_at_sea_starts_with_its_shore_history() {
        let sc = scenario();
        let e = Engine::new(&sc, &[S, V, V], 1, &[None, Some(3 * 3_600_000), None], None);
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
        let mut e = Engine::new(&sc, &[S, V], 1, &[], None);
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

    /// Runs the haiqiao router with the application on a hand-made world.
    fn run_app<'w>(w: &'w crate::world::World, sc: &Scenario) -> Net<'w> {
        let kinds: Vec<NodeKind> = w.nodes.iter().map(|n| n.kind).collect();
        let app = App::new(sc, w);
        let mut e = Engine::new(sc, &kinds, 1, &[], Some(app));
        let mut net = Net::new(w, sc.traffic.mediation_h, sc.epoch_s);
        net.reactor_answers = false;
        net.log.revoked = crate::app::revocation(w);
        net.run(&mut e, 60_000, &mut |_| {});
        net
    }

    fn delivered(net: &Net<'_>, class: Class) -> Vec<(u64, NodeIdx)> {
        net.log
            .items
            .iter()
            .zip(&net.log.delivered)
            .filter(|(i, _)| i.class == class)
            .filter_map(|(_, d)| *d)
            .collect()
    }

    #[test]
    fn with_the_application_a_distress_repeats_until_answered_and_the_nearest_boat_answers() {
        let sc = scenario();
        // Two boats linked all along; shore in reach of boat 1 from 20 to 25 minutes.
        let plan = [(1, 2, 0, 3600), (0, 1, 1200, 1500)];
        let call = |nearby: Vec<NodeIdx>| Msg {
            src: 2,
            created_ms: 1000,
            ttl_min: 60,
            what: What::Distress { nearby },
        };
        // Nobody near: repeated every 210-270 s until shore hears it and acknowledges.
        let mut w = world(&[S, V, V], &plan, 3600);
        w.msgs.push(call(Vec::new()));
        let net = run_app(&w, &sc);
        let d = delivered(&net, Class::Distress);
        assert!(
            d.iter()
                .any(|&(t, n)| n == 0 && (1_200_000..1_210_000).contains(&t)),
            "{d:?}"
        );
        let acks = delivered(&net, Class::DistressAck);
        assert!(
            acks.iter()
                .any(|&(t, n)| n == 2 && (1_200_000..1_260_000).contains(&t)),
            "{acks:?}"
        );
        let repeats = net.log.notes.get("distress_repeats").copied().unwrap_or(0);
        assert!((4..=6).contains(&repeats), "{repeats} repeats");
        let last_repeat = net
            .log
            .msgs
            .iter()
            .filter(|m| matches!(m.what, What::DistressRepeat { .. }))
            .map(|m| m.created_ms)
            .max()
            .unwrap_or(0);
        assert!(
            last_repeat < 1_210_000,
            "repeated at {last_repeat} after the acknowledgement"
        );
        // Boat 1 among the nearest: it answers at once, with haiqiao-fleet's own record, and
        // a certified boat coming stops the repeats (the fleet's rule).
        // Alone until shore comes in reach: no repeat is written meanwhile (held, as the
        // daemon holds them), and the call still reaches shore when the link comes up.
        let alone = [(0, 2, 1200, 1500)];
        let mut w = world(&[S, V, V], &alone, 3600);
        w.msgs.push(call(Vec::new()));
        let net = run_app(&w, &sc);
        assert_eq!(net.log.notes.get("distress_repeats"), None);
        assert!(
            net.log
                .notes
                .get("distress_repeats_held")
                .is_some_and(|n| *n >= 4)
        );
        let d = delivered(&net, Class::Distress);
        assert!(d.iter().any(|&(t, n)| n == 0 && t < 1_210_000), "{d:?}");
        let mut w = world(&[S, V, V], &plan, 3600);
        w.msgs.push(call(vec![1]));
        let net = run_app(&w, &sc);
        let acks = delivered(&net, Class::DistressAck);
        assert!(acks.iter().any(|&(t, n)| n == 2 && t < 10_000), "{acks:?}");
        assert_eq!(net.log.notes.get("distress_repeats"), None);
    }

    #[test]
    fn with_the_application_a_case_is_accepted_once_proposed_cosigned_and_closed() {
        a_case_runs_its_course(false);
    }

    #[test]
    fn with_the_application_sealed_case_records_are_read_by_their_readers_and_run_the_same() {
        a_case_runs_its_course(true);
    }

    fn a_case_runs_its_course(sealed: bool) {
        let mut sc = scenario();
        sc.routers.haiqiao_sealed = sealed;
        sc.traffic.mediation_h = 0.5;
        // Shore station 0, boats 1 and 2, mediator boat 3, all linked for two hours.
        let mut w = world(
            &[S, V, V, NodeKind::Mediator],
            &[(0, 1, 0, 7200), (1, 2, 0, 7200), (1, 3, 0, 7200)],
            7200,
        );
        w.msgs.push(Msg {
            src: 1,
            created_ms: 1000,
            ttl_min: 600,
            what: What::Dispute { other: 2, area: 1 },
        });
        let net = run_app(&w, &sc);
        let case = net.log.reactor.cases.get(&0).copied().unwrap_or_default();
        assert!(case.accepted_ms.is_some_and(|t| t < 10_000), "{case:?}");
        // Shore's desk and the mediator boat both accepted; one acceptance won, the other
        // mediator saw so and did not propose.
        assert_eq!(net.log.notes.get("acceptances_lost"), Some(&1));
        let proposals = net
            .log
            .msgs
            .iter()
            .filter(|m| matches!(m.what, What::AgreementProposed { .. }))
            .count();
        assert_eq!(proposals, 1);
        // Both parties got the proposal and signed; the mediator's fleet closed the case.
        let reached: Vec<NodeIdx> = delivered(&net, Class::Case)
            .iter()
            .filter(|(t, _)| *t >= 1_800_000)
            .map(|&(_, n)| n)
            .collect();
        assert!(reached.contains(&1) && reached.contains(&2), "{reached:?}");
        let sigs = net
            .log
            .msgs
            .iter()
            .filter(|m| matches!(m.what, What::Signature { .. }))
            .count();
        assert_eq!(sigs, 2, "{:?} {:?}", net.log.msgs, net.log.notes);
        assert!(
            case.closed_ms
                .is_some_and(|t| (1_800_000..1_900_000).contains(&t)),
            "{case:?}"
        );
    }

    #[test]
    fn with_the_application_a_revoked_key_is_heard_of_and_its_records_refused() {
        let sc = scenario();
        // Shore, and boats 1 and 2 (the last vessel: revoked halfway, at 300 s).
        let mut w = world(&[S, V, V], &[(0, 1, 0, 600), (1, 2, 0, 600)], 600);
        for t in [100_000, 400_000] {
            w.msgs.push(Msg {
                src: 2,
                created_ms: t,
                ttl_min: 60,
                what: What::Report,
            });
        }
        let net = run_app(&w, &sc);
        assert_eq!(
            net.log.notes.get("revocation_heard_nodes"),
            Some(&3),
            "all three"
        );
        let d = delivered(&net, Class::ShoreBound);
        assert!(
            d.iter().any(|&(t, n)| n == 0 && t < 200_000),
            "before: delivered {d:?}"
        );
        assert_eq!(
            d.len(),
            1,
            "after the revocation the boat's report is refused: {d:?}"
        );
        assert!(
            net.log
                .notes
                .get("refused_revoked")
                .is_some_and(|n| *n >= 1)
        );
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
