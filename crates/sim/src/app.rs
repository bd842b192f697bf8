//! haiqiao-fleet at every node of the `haiqiao` run, and the people who use it
//! (`routers.haiqiao_app`, on by default).
//!
//! The baselines answer deliveries with the shared model in `traffic::Reactor`. The haiqiao
//! run instead runs what ships: every node has a [`haiqiao_fleet::Fleet`] that observes every
//! record its engine delivers or writes, as the daemon's workflows do, and people act on what
//! their own fleet shows them, through the fleet's own builders (so the records, their
//! destinations, sizes and the fleet's refusals are the application's):
//!
//! - **Trust.** One bureau key is every node's trust anchor. Before the run the bureau
//!   certified every shore station (as shore, and as a mediation desk: mediator), every
//!   mediator boat and every vessel; the certificates are installed in every fleet at
//!   commissioning (not carried by the run). Each engine is told its fleet's trust, as the
//!   daemon does, so only certified shore stations' receipts free copies. Halfway through the
//!   run the bureau revokes one vessel's key ([`revocation`]) through the first shore station;
//!   the revocation floods, each fleet that hears it tells its engine, and the engine drops
//!   and refuses that key's records (distress excepted). The revoked vessel's items written
//!   after the revocation are not measured (`report`), and how far the revocation spread is.
//! - **Pairs and buddy watch.** Paired boats formed their pair in port: both halves are
//!   installed in both boats' fleets. Pair alerts are written with `pair_alert`. Buddy watch
//!   runs as shipped (alarm raised on board and reported to shore after `buddy_watch_s` of
//!   silence, cleared when the partner is heard); the scenario's position interval sets it to
//!   3 intervals, not less than the fleet's default.
//! - **Distress.** Written with `raise_distress`; the fleet repeats it (210–270 s) until a
//!   certified node acknowledges or answers that it is coming (`repeat_until_certified_ack`).
//!   A shore station acknowledges an incident its own view
//!   shows no shore acknowledgement of; a vessel among the nearest boats at the time of the
//!   call (the world's list) answers "responding, ETA 30 min" the first time it hears of the
//!   incident, from the call or a repeat. A repeat reaching a target counts as the call
//!   reaching it.
//! - **Mediation.** Disputes are filed with `file_dispute`, naming the other boat. A certified
//!   mediator (a mediator boat or a shore station's desk) accepts a case its view shows
//!   unaccepted; the fleet decides whose acceptance won; `mediation_h` later the mediator
//!   proposes an agreement if its view still says it mediates; each party co-signs the proposal
//!   when it arrives; the mediator's fleet closes the case once every party has signed.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use haiqiao_fleet::{Action, CaseRole, Draft, Event, Fleet, FleetConfig, Refusal};
use haiqiao_mesh::TrustPolicy;
use haiqiao_proto::{
    Body, DisputeCategory, DistressNature, DistressStatus, Keypair, PairAlertKind, Party,
    PublicKey, Record, RecordId, RevocationReason, Role, Timestamp,
};

use crate::engine::node_key;
use crate::scenario::Scenario;
use crate::traffic::{CASE_TTL_MIN, Msg, MsgIdx, NodeIdx, NodeKind, What};
use crate::world::World;

/// The bureau's key (the same in every run).
pub(crate) fn bureau() -> Keypair {
    Keypair::from_seed(&[0xb0; 32])
}

/// The vessel whose key the bureau revokes, and when (ms since the start): the last vessel,
/// halfway through the run. None without vessels.
pub(crate) fn revocation(w: &World) -> Option<(NodeIdx, u64)> {
    let v = w.nodes.iter().rposition(|n| n.kind == NodeKind::Vessel)?;
    Some((v as NodeIdx, w.duration_ms / 2))
}

/// Something a node writes now: the fleet's draft and, for a measured message, what it is.
#[derive(Debug)]
pub(crate) struct Write {
    pub(crate) node: NodeIdx,
    pub(crate) draft: Draft,
    /// The message it is, to be measured (none: counted as "other records").
    pub(crate) msg: Option<Msg>,
    /// For a distress repeat: the incident it repeats.
    pub(crate) repeats: Option<RecordId>,
    /// A record signed elsewhere (the bureau's revocation) that the node imports instead of
    /// writing the draft.
    pub(crate) import: Option<Record>,
}

impl Write {
    /// Node `node` writes `draft`, measured as `msg` if any.
    fn new(node: NodeIdx, draft: Draft, msg: Option<Msg>) -> Write {
        Write {
            node,
            draft,
            msg,
            repeats: None,
            import: None,
        }
    }
}

/// Work a person does later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    /// The mediator proposes an agreement in a case it accepted.
    Propose(RecordId),
    /// The bureau's revocation enters the mesh at this shore station.
    Revoke,
}

/// The application at every node.
#[derive(Debug)]
pub(crate) struct App {
    fleets: Vec<Fleet>,
    kinds: Vec<NodeKind>,
    epoch_ms: u64,
    mediation_ms: u64,
    agenda: BinaryHeap<Reverse<(u64, NodeIdx, Task)>>,
    /// The incident (first alert) of each distress record written.
    incident_of: HashMap<RecordId, RecordId>,
    /// Distress incidents each node answered.
    answered: HashSet<(NodeIdx, RecordId)>,
    /// Cases each node accepted or signed.
    accepted: HashSet<(NodeIdx, RecordId)>,
    signed: HashSet<(NodeIdx, RecordId)>,
    /// The revocation: the vessel, when, and the record once written.
    revoked: Option<(NodeIdx, u64)>,
    /// When each node's fleet learned of the revocation, ms since the start.
    pub(crate) revocation_heard: Vec<Option<u64>>,
    /// Counters for the report, until taken.
    notes: Vec<(&'static str, u64)>,
}

fn secs(ms: u64) -> Timestamp {
    Timestamp((ms / 1000).min(u64::from(u32::MAX)) as u32)
}

impl App {
    /// The application at every node of `w`, commissioned at the start of the run.
    pub(crate) fn new(sc: &Scenario, w: &World) -> App {
        let epoch_ms = sc.epoch_s * 1000;
        let bureau = bureau();
        let cfg = FleetConfig {
            trust_anchors: vec![bureau.public().to_string()],
            buddy_watch_s: FleetConfig::default()
                .buddy_watch_s
                .max((sc.traffic.position_interval_min * 3.0 * 60.0).min(86_400.0) as u32),
            ..FleetConfig::default()
        };
        let keys: Vec<Keypair> = (0..w.nodes.len() as NodeIdx).map(node_key).collect();
        let mut fleets: Vec<Fleet> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Fleet::new(cfg.clone(), k.public(), 0x5eed ^ i as u64)
                    .unwrap_or_else(|e| unreachable!("the bureau's key is valid hex: {e}"))
            })
            .collect();
        // The bureau's certificates, signed once and installed everywhere.
        let from = secs(epoch_ms.saturating_sub(86_400_000));
        let until = secs(epoch_ms + w.duration_ms + 30 * 86_400_000);
        let mut certs = Vec::new();
        let mut seq = 0u64;
        let mut cert = |subject: PublicKey, name: &str, role: Role| {
            seq += 1;
            let d = fleets[0].certify(subject, name, name, None, role, from, until);
            sign(&bureau, d, seq, epoch_ms)
        };
        for (i, n) in w.nodes.iter().enumerate() {
            let k = keys[i].public();
            let roles: &[Role] = match n.kind {
                NodeKind::Shore => &[Role::Shore, Role::Mediator],
                NodeKind::Mediator => &[Role::Mediator],
                NodeKind::Vessel => &[Role::Vessel],
            };
            for r in roles {
                certs.extend(cert(k, &n.name, *r));
            }
        }
        for f in fleets.iter_mut() {
            for c in &certs {
                f.observe(epoch_ms, c);
            }
        }
        // Pairs formed in port: both halves in both boats' fleets.
        for (i, n) in w.nodes.iter().enumerate() {
            let Some(p) = n.partner else { continue };
            let p = p as usize;
            if p < i {
                continue;
            }
            let halves: Vec<Record> = [(i, p), (p, i)]
                .iter()
                .filter_map(|&(a, b)| {
                    let d = fleets[a].pair_with(keys[b].public()).ok()?;
                    sign(&keys[a], d, 0, epoch_ms)
                })
                .collect();
            for h in &halves {
                fleets[i].observe(epoch_ms, h);
                fleets[p].observe(epoch_ms, h);
            }
        }
        let revoked = revocation(w);
        let mut agenda = BinaryHeap::new();
        if let Some((_, t)) = revoked
            && let Some(s) = w.shores().next()
        {
            agenda.push(Reverse((t, s, Task::Revoke)));
        }
        App {
            fleets,
            kinds: w.nodes.iter().map(|n| n.kind).collect(),
            epoch_ms,
            mediation_ms: (sc.traffic.mediation_h * 3_600_000.0).round() as u64,
            agenda,
            incident_of: HashMap::new(),
            answered: HashSet::new(),
            accepted: HashSet::new(),
            signed: HashSet::new(),
            revoked,
            revocation_heard: vec![None; w.nodes.len()],
            notes: Vec::new(),
        }
    }

    /// When the bureau revokes, ms since the start (never: the end of time).
    pub(crate) fn revocation_at(&self) -> u64 {
        self.revoked.map_or(u64::MAX, |(_, t)| t)
    }

    /// The counters since the last call.
    pub(crate) fn take_notes(&mut self) -> Vec<(&'static str, u64)> {
        std::mem::take(&mut self.notes)
    }

    fn note(&mut self, k: &'static str) {
        match self.notes.iter_mut().find(|(n, _)| *n == k) {
            Some((_, v)) => *v += 1,
            None => self.notes.push((k, 1)),
        }
    }

    /// What node `i`'s engine is told of trust (as the daemon's workflows compute it).
    pub(crate) fn trust(&self, i: NodeIdx, t: u64) -> TrustPolicy {
        let f = &self.fleets[i as usize];
        let now = self.epoch_ms + t;
        TrustPolicy {
            enforced: f.enforces_trust(),
            trusted: f.trusted_keys(now).iter().map(PublicKey::hint).collect(),
            shore: f.certified_shore(now).into_iter().collect(),
            anchors: [bureau().public().hint()].into_iter().collect(),
            revoked: f.revoked_keys(now).into_iter().collect::<BTreeSet<_>>(),
        }
    }

    /// The fleet's draft for a message of the base traffic, if the application writes it
    /// (distress, pair alerts, disputes); none for positions and reports, which the engine
    /// router writes as before.
    pub(crate) fn base_draft(&self, m: &Msg) -> Option<Draft> {
        let f = &self.fleets[m.src as usize];
        match &m.what {
            What::Distress { .. } => Some(f.raise_distress(
                DistressNature::Flooding,
                None,
                Some(9),
                "机舱进水 engine room flooding",
            )),
            What::PairAlert { partner } => f
                .pair_alert(
                    node_key(*partner).public(),
                    PairAlertKind::GearFouled,
                    None,
                    "网缠住了，请减速 gear fouled, slow down",
                )
                .ok(),
            What::Dispute { other, .. } => f
                .file_dispute(
                    DisputeCategory::GearDamage,
                    vec![Party {
                        key: Some(node_key(*other).public().hint()),
                        name: format!("N{other}"),
                    }],
                    None,
                    "网被割断 nets cut",
                    Vec::new(),
                )
                .ok(),
            _ => None,
        }
    }

    /// Node `i` wrote `r` (message `m`, if measured): its fleet observes it.
    pub(crate) fn authored(&mut self, i: NodeIdx, t: u64, r: &Record, repeats: Option<RecordId>) {
        if matches!(r.body(), Body::Distress { .. }) {
            self.incident_of.insert(r.id(), repeats.unwrap_or(r.id()));
        }
        self.fleets[i as usize].observe(self.epoch_ms + t, r);
    }

    /// The incident a distress record belongs to.
    pub(crate) fn incident(&self, id: &RecordId) -> Option<RecordId> {
        self.incident_of.get(id).copied()
    }

    /// Node `i`'s engine delivered `r` at `t`: its fleet observes it and its people act.
    /// `msg_of` maps record ids to measured messages, `msgs` are the run's messages. Returns
    /// what they write, and whether the node's trust changed.
    pub(crate) fn delivered(
        &mut self,
        i: NodeIdx,
        t: u64,
        r: &Record,
        msg_of: &HashMap<RecordId, MsgIdx>,
        msgs: &[Msg],
    ) -> (Vec<Write>, bool) {
        let now = self.epoch_ms + t;
        let events = self.fleets[i as usize].observe(now, r);
        let mut trust_changed = false;
        for e in &events {
            match e {
                Event::Revoked { .. } => {
                    trust_changed = true;
                    if self.revocation_heard[i as usize].is_none() {
                        self.revocation_heard[i as usize] = Some(t);
                    }
                }
                Event::Refused {
                    reason: Refusal::Revoked,
                    ..
                } => self.note("fleet_refused_revoked"),
                _ => {}
            }
        }
        let mut out = Vec::new();
        let kind = self.kinds[i as usize];
        let f = &self.fleets[i as usize];
        match r.body() {
            Body::Distress { .. } => {
                let Some(incident) = self.incident(&r.id()) else {
                    return (out, trust_changed);
                };
                let Some(&dm) = msg_of.get(&incident) else {
                    return (out, trust_changed);
                };
                let What::Distress { nearby } = &msgs[dm as usize].what else {
                    return (out, trust_changed);
                };
                let caller = msgs[dm as usize].src;
                let shore = kind == NodeKind::Shore;
                let answers = if shore {
                    // Unless the station's own view shows a shore acknowledgement already.
                    f.distress(now, &r.id())
                        .is_some_and(|v| !v.acknowledged_by.iter().any(|a| a.shore))
                } else {
                    nearby.contains(&i)
                };
                if answers && !self.answered.contains(&(i, incident)) {
                    let status = if shore {
                        DistressStatus::Acknowledged
                    } else {
                        DistressStatus::Responding { eta_min: 30 }
                    };
                    let text = if shore {
                        "已收到，已通报 12395 received, 12395 alerted"
                    } else {
                        "正在赶来 coming"
                    };
                    // The incident as this node's fleet knows it: its first alert held here
                    // (a node that missed the call knows the incident by a repeat).
                    let here = f.distress(now, &r.id()).map_or(incident, |v| v.incident);
                    if let Ok(draft) = f.answer_distress(now, here, status, text) {
                        self.answered.insert((i, incident));
                        let ttl_min = self.fleets[i as usize].config().distress_ttl_min;
                        let ack = What::DistressAck {
                            distress: dm,
                            caller,
                            shore,
                        };
                        out.push(Write::new(i, draft, Some(Msg::now(i, t, ttl_min, ack))));
                    } else {
                        self.note("answers_refused_by_fleet");
                    }
                }
            }
            Body::DisputeReport { .. } if kind != NodeKind::Vessel => {
                let case = r.id();
                let unaccepted = f.case(&case).is_some_and(|v| v.mediator.is_none());
                if unaccepted && !self.accepted.contains(&(i, case)) {
                    match f.accept_case(now, case) {
                        Ok(draft) => {
                            self.accepted.insert((i, case));
                            self.agenda.push(Reverse((
                                t + self.mediation_ms,
                                i,
                                Task::Propose(case),
                            )));
                            let msg = msg_of.get(&case).map(|&dm| Msg {
                                src: i,
                                created_ms: t,
                                ttl_min: CASE_TTL_MIN,
                                what: What::CaseAccepted {
                                    dispute: dm,
                                    to: msgs[dm as usize].src,
                                },
                            });
                            out.push(Write::new(i, draft, msg));
                        }
                        Err(_) => self.note("acceptances_refused_by_fleet"),
                    }
                }
            }
            Body::CaseUpdate { case, .. } => {
                let case = *case;
                let party = matches!(
                    f.case_role(&case),
                    Some(CaseRole::Reporter | CaseRole::Party)
                );
                let proposed = f.case(&case).is_some_and(|v| v.agreement.is_some());
                if party && proposed && !self.signed.contains(&(i, case)) {
                    match f.cosign(case) {
                        Ok(draft) => {
                            self.signed.insert((i, case));
                            let msg =
                                msg_of
                                    .get(&case)
                                    .and_then(|&dm| match msgs[dm as usize].what {
                                        What::Dispute { area, .. } => Some(Msg {
                                            src: i,
                                            created_ms: t,
                                            ttl_min: CASE_TTL_MIN,
                                            what: What::Signature { dispute: dm, area },
                                        }),
                                        _ => None,
                                    });
                            out.push(Write::new(i, draft, msg));
                        }
                        Err(_) => self.note("signatures_refused_by_fleet"),
                    }
                }
            }
            _ => {}
        }
        (out, trust_changed)
    }

    /// When node `i` next has something to do (fleet timers, people's tasks), ms since the
    /// start.
    pub(crate) fn next_due(&self, i: NodeIdx) -> Option<u64> {
        let fleet = self.fleets[i as usize]
            .next_timeout()
            .map(|t| t.saturating_sub(self.epoch_ms));
        let task = self
            .agenda
            .iter()
            .filter(|Reverse((_, n, _))| *n == i)
            .map(|Reverse((t, _, _))| *t)
            .min();
        match (fleet, task) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What node `i` does at `t`: its people's due tasks and its fleet's actions (distress
    /// repeats, buddy watch, pair renewals, closing a signed case). `dispute_of` maps a case
    /// to its dispute message; `case_closed(dispute, t)` is told of cases closed.
    pub(crate) fn poll(
        &mut self,
        i: NodeIdx,
        t: u64,
        linked: bool,
        msg_of: &HashMap<RecordId, MsgIdx>,
        msgs: &[Msg],
        case_closed: &mut dyn FnMut(MsgIdx, u64),
    ) -> Vec<Write> {
        let now = self.epoch_ms + t;
        let mut out = Vec::new();
        // Due tasks of this node (others' stay queued).
        let mut later = Vec::new();
        while let Some(Reverse((due, n, task))) = self.agenda.peek().copied() {
            if due > t {
                break;
            }
            self.agenda.pop();
            if n != i {
                later.push(Reverse((due, n, task)));
                continue;
            }
            match task {
                Task::Propose(case) => {
                    let f = &self.fleets[i as usize];
                    match f.propose_agreement(case, "赔偿网具 3000 元 compensation for the nets")
                    {
                        Ok(draft) => {
                            let msg = msg_of.get(&case).and_then(|&dm| {
                                let d = &msgs[dm as usize];
                                match d.what {
                                    What::Dispute { other, .. } => Some(Msg {
                                        src: i,
                                        created_ms: t,
                                        ttl_min: CASE_TTL_MIN,
                                        what: What::AgreementProposed {
                                            dispute: dm,
                                            parties: [d.src, other],
                                        },
                                    }),
                                    _ => None,
                                }
                            });
                            out.push(Write::new(i, draft, msg));
                        }
                        // Another mediator's acceptance won, or the case ended.
                        Err(_) => self.note("acceptances_lost"),
                    }
                }
                Task::Revoke => {
                    if let Some((v, _)) = self.revoked {
                        let draft = self.fleets[0]
                            .revoke(node_key(v).public(), RevocationReason::Compromised);
                        let import = sign(&bureau(), draft.clone(), 1_000_000, now);
                        out.push(Write {
                            import,
                            ..Write::new(i, draft, None)
                        });
                    }
                }
            }
        }
        self.agenda.extend(later);
        for a in self.fleets[i as usize].poll(now) {
            match &a {
                // As the daemon does: no repeat while no peer is linked (workflows.rs).
                Action::RepeatDistress { .. } if !linked => {
                    self.note("distress_repeats_held");
                    continue;
                }
                Action::RepeatDistress { incident, .. } => {
                    self.note("distress_repeats");
                    let msg = msg_of.get(incident).map(|&dm| Msg {
                        src: i,
                        created_ms: t,
                        ttl_min: self.fleets[i as usize].config().distress_ttl_min,
                        what: What::DistressRepeat { distress: dm },
                    });
                    if let Some(d) = a.draft() {
                        out.push(Write {
                            repeats: Some(*incident),
                            ..Write::new(i, d.clone(), msg)
                        });
                    }
                    continue;
                }
                Action::RaiseBuddyAlarm { .. } => self.note("buddy_alarms_raised"),
                Action::ClearBuddyAlarm { .. } => self.note("buddy_alarms_cleared"),
                Action::AlertShore { .. } => {
                    self.note("buddy_reports");
                    if let Some(d) = a.draft() {
                        let msg = Msg::now(i, t, d.ttl_min, What::BuddyReport);
                        out.push(Write::new(i, d.clone(), Some(msg)));
                    }
                    continue;
                }
                Action::CloseCase { case, .. } => {
                    if let Some(&dm) = msg_of.get(case) {
                        case_closed(dm, t);
                    }
                }
                _ => {}
            }
            if let Some(d) = a.draft() {
                out.push(Write::new(i, d.clone(), None));
            }
        }
        out
    }
}

fn sign(key: &Keypair, d: Draft, seq: u64, now_ms: u64) -> Option<Record> {
    Record::sign(key, d.envelope(key.public().hint(), seq, secs(now_ms))).ok()
}
