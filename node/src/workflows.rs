//! What people do with a node: pairs and buddy watch, distress, sea mediation, trust.
//!
//! The daemon owns one [`Workflows`]: haiqiao-fleet's pure projections plus the glue to the
//! engine. Every record the node stores for itself (delivered or written here) is observed;
//! the fleet's actions (repeat a distress, raise the buddy-watch alarm, tell shore, renew a
//! pairing, close a signed case) are signed and submitted; the engine's [`TrustPolicy`] is
//! recomputed whenever certificates change. Requests from the control API ([`Request`]) go
//! through the fleet's builders, which refuse what every other node would refuse. What
//! happened is kept in a bounded timeline, printed, and served at `/api/v1/timeline`.

use std::collections::VecDeque;

use anyhow::{Context, anyhow, bail};
use haiqiao_fleet::{
    Action, CaseRole, CaseStage, CaseView, DistressState, DistressView, DutyView, Event, Fleet,
    FleetConfig, PartnerView,
};
use haiqiao_mesh::{Input, Node, Store, TrustPolicy};
use haiqiao_proto::{
    Body, CaseStatus, CategorySet, DailyHours, DistressStatus, DutyArea, Escalation, GeoBox, Party,
    PublicKey, Record, RecordId, RevocationReason, Role, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::json::{
    ALERTS, CATEGORIES, NATURES, PartySpec, area_json, case_status_name, category_names,
    distress_status, fix, fix_json, lookup, name_of, parse_nature, record_id, record_json, short,
};

mod sealing;

/// Most entries kept in the timeline (oldest dropped first).
pub(crate) const TIMELINE_CAP: usize = 2_000;

/// One thing that happened, for people and for scripts.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Entry {
    /// Position in the timeline, from 0.
    pub(crate) index: u64,
    /// When, ms since the epoch.
    pub(crate) at_ms: u64,
    /// A stable tag: `buddy_alarm`, `distress_raised`, `case_accepted`, `refused`, ...
    pub(crate) what: &'static str,
    /// The record it is about, if any.
    pub(crate) id: Option<String>,
    /// A line for people.
    pub(crate) text: String,
}

/// An area a mediator covers, as the API takes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct AreaSpec {
    /// The area's number.
    pub(crate) area: u32,
    /// Southern edge, degrees.
    pub(crate) south: f64,
    /// Western edge, degrees.
    pub(crate) west: f64,
    /// Northern edge, degrees.
    pub(crate) north: f64,
    /// Eastern edge, degrees.
    pub(crate) east: f64,
}

/// A workflow request from the control API. Views answer JSON; writes answer the record
/// written.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Pairs, our partners with their buddy-watch state, and (at shore) buddy reports.
    Pairs,
    /// Pair with a vessel (our half; the pair stands once it signs its half), or leave.
    Pair {
        /// The partner's node id (64 hex digits; a 16-digit hint if it is known here).
        partner: String,
        /// Leave the pair instead.
        #[serde(default)]
        leave: bool,
    },
    /// An alert to a pair partner.
    PairAlert {
        /// The partner (default: our only partner).
        #[serde(default)]
        partner: Option<String>,
        /// collision_risk, gear_fouled, man_overboard, engine_failure, weather, other.
        alert: String,
        /// Where (default: our last position).
        #[serde(default)]
        lat: Option<f64>,
        /// Where.
        #[serde(default)]
        lon: Option<f64>,
        /// Short text.
        #[serde(default)]
        text: String,
    },
    /// The distress list: open incidents (or all held, with `all`).
    Distress {
        /// Also the resolved and cancelled ones.
        #[serde(default)]
        all: bool,
    },
    /// Raise a distress.
    RaiseDistress {
        /// DSC nature name or code.
        #[serde(default = "undesignated")]
        nature: String,
        /// Where (default: our last position).
        #[serde(default)]
        lat: Option<f64>,
        /// Where.
        #[serde(default)]
        lon: Option<f64>,
        /// Persons on board.
        #[serde(default)]
        persons: Option<u16>,
        /// Short text.
        #[serde(default)]
        text: String,
    },
    /// Answer a distress: acknowledged, responding (with ETA), on_scene, resolved, cancelled.
    AnswerDistress {
        /// The incident (or any of its alerts).
        distress: String,
        /// The answer.
        status: String,
        /// Minutes to arrival, when responding.
        #[serde(default)]
        eta_min: Option<u16>,
        /// Short text.
        #[serde(default)]
        text: String,
    },
    /// Mediators on duty, as announced.
    Duties,
    /// Announce our duty as a mediator (no areas: off duty).
    Duty {
        /// Areas covered.
        #[serde(default)]
        areas: Vec<AreaSpec>,
        /// Categories taken (default all).
        #[serde(default)]
        categories: Vec<String>,
        /// Daily hours UTC as [start minute, end minute) (default all day).
        #[serde(default)]
        daily: Option<(u16, u16)>,
        /// How many hours from now the announcement holds. Default 24.
        #[serde(default = "day")]
        hours: u32,
    },
    /// Every case held.
    Cases,
    /// One case.
    Case {
        /// The dispute report's id.
        case: String,
    },
    /// Case statistics over the cases held.
    CaseStats,
    /// File a dispute.
    FileDispute {
        /// fishing_ground, gear_damage, collision, catch_or_price, other.
        category: String,
        /// The other parties.
        #[serde(default)]
        parties: Vec<PartySpec>,
        /// Where (default: our last position).
        #[serde(default)]
        lat: Option<f64>,
        /// Where.
        #[serde(default)]
        lon: Option<f64>,
        /// What happened.
        description: String,
        /// SHA-256 of evidence, hex.
        #[serde(default)]
        evidence: Vec<String>,
    },
    /// A step in a case: accept, progress, propose, sign, escalate, close.
    CaseStep {
        /// The dispute report's id.
        case: String,
        /// accept, progress, propose, sign, escalate, close.
        step: String,
        /// Progress text, the agreement's text, or a closing note.
        #[serde(default)]
        text: String,
        /// Escalation: coast_guard (95110) or court.
        #[serde(default)]
        to: Option<String>,
    },
    /// What is known of a key.
    Trust {
        /// The key (64 hex digits).
        key: String,
    },
    /// Take in a record signed elsewhere (an authority's certificate or revocation).
    Import {
        /// The signer's key (64 hex digits).
        author: String,
        /// The signed record, hex.
        record: String,
    },
    /// The voyage: homeward or not, ETA, port, and where that comes from.
    Voyage,
    /// The skipper's word on the voyage: `home` (with `eta_min`, optionally `port`),
    /// `not_home` (fishing, or bound elsewhere), or `auto` (back to the position reports and
    /// the configured ports).
    SetVoyage {
        /// home, not_home or auto.
        says: String,
        /// Minutes to arrival, for `home`.
        #[serde(default)]
        eta_min: Option<u32>,
        /// The port, for `home`.
        #[serde(default)]
        port: Option<String>,
    },
    /// Every vessel heard, with its newest fix and what its certificate says (name,
    /// registration, MMSI): what the plotter and Signal K feeds show.
    Vessels,
    /// The timeline from an index.
    Timeline {
        /// First index wanted.
        #[serde(default)]
        after: u64,
        /// At most this many.
        #[serde(default = "hundred")]
        limit: usize,
    },
}

fn undesignated() -> String {
    "undesignated".to_owned()
}
fn day() -> u32 {
    24
}
fn hundred() -> usize {
    100
}

/// The fleet projections of one node and their timeline.
pub(crate) struct Workflows {
    fleet: Fleet,
    timeline: VecDeque<Entry>,
    next_index: u64,
    /// Certificates or revocations changed since the engine's policy was last set.
    trust_dirty: bool,
    /// When the policy is next recomputed anyway (certificates expire), ms.
    next_trust_ms: u64,
    /// Print each timeline entry on stdout.
    print: bool,
}

/// Recompute the engine's trust policy at least this often, ms.
const TRUST_REFRESH_MS: u64 = 60_000;

impl Workflows {
    /// Projections for the node with key `me`; `seed` varies the distress repeat intervals.
    pub(crate) fn new(cfg: FleetConfig, me: PublicKey, seed: u64) -> anyhow::Result<Workflows> {
        Ok(Workflows {
            fleet: Fleet::new(cfg, me, seed)?,
            timeline: VecDeque::new(),
            next_index: 0,
            trust_dirty: true,
            next_trust_ms: 0,
            print: true,
        })
    }

    /// The anchors as keys, for the engine's key ring.
    pub(crate) fn anchors(&self) -> Vec<PublicKey> {
        self.fleet
            .config()
            .trust_anchors
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Feeds every record the store holds (at start-up), rebuilding the views and the
    /// timeline entries those records make (dated by the records' creation, not printed
    /// again), then sets the engine's trust. Entries that no record carries (alarms sounded,
    /// refusals of requests) are not rebuilt.
    pub(crate) fn replay<S: Store>(
        &mut self,
        now_ms: u64,
        node: &mut Node<S>,
    ) -> anyhow::Result<()> {
        node.handle(now_ms, Input::Keys(self.anchors()))?;
        let mut summaries = node.store().summaries()?;
        // Creation times are in seconds: within one second, what a record answers goes
        // before it (a distress before its acknowledgement, a proposal before its
        // signatures), as it did when they arrived.
        summaries.sort_by_key(|s| (s.created, replay_rank(s.kind), s.author, s.seq));
        let me = self.fleet.me();
        for s in summaries {
            // What the running daemon shows the fleet: records delivered here and our own,
            // not the copies carried for others.
            if s.author != me && !node.is_for_me(&s.dest) {
                continue;
            }
            if let Some(r) = node.store().get(&s.id)? {
                let r = Self::view(node, &r);
                let at = u64::from(s.created.0) * 1000;
                let print = std::mem::replace(&mut self.print, false);
                for e in self.fleet.observe(now_ms, &r) {
                    self.event(at, node, &r, e);
                }
                self.print = print;
            }
        }
        // What was due while the node was off (renewals, alarms) is acted on at the first poll.
        node.handle(now_ms, Input::EtaShore(self.fleet.eta_shore_min(now_ms)))?;
        self.trust_dirty = true;
        self.sync_trust(now_ms, node)?;
        Ok(())
    }

    /// When `poll` next has work, ms.
    pub(crate) fn next_timeout(&self) -> Option<u64> {
        let t = self.next_trust_ms.max(1);
        Some(self.fleet.next_timeout().map_or(t, |f| f.min(t)))
    }

    fn push(&mut self, now_ms: u64, what: &'static str, id: Option<RecordId>, text: String) {
        if self.print {
            println!("fleet: {what} {text}");
        }
        self.timeline.push_back(Entry {
            index: self.next_index,
            at_ms: now_ms,
            what,
            id: id.map(|i| i.to_string()),
            text,
        });
        self.next_index += 1;
        while self.timeline.len() > TIMELINE_CAP {
            self.timeline.pop_front();
        }
    }

    fn who(&self, key: &PublicKey, now_ms: u64) -> String {
        match self.fleet.trust_of(key, now_ms).name {
            Some(n) => format!("{n} ({})", key.short()),
            None => key.short(),
        }
    }

    /// Takes in a record stored here (delivered, or written by this node).
    /// The draft of a mediator's step taken for `who`, a certified mediator whose key the
    /// station holds on their behalf (mediators ashore: `crate::shore::ashore`); judged as
    /// the fleet judges a mediator's own step.
    pub(crate) fn mediator_draft_as(
        &self,
        now_ms: u64,
        who: PublicKey,
        case: RecordId,
        step: &str,
        text: &str,
        to: Option<&str>,
    ) -> anyhow::Result<haiqiao_fleet::Draft> {
        Ok(match step {
            "accept" => self.fleet.accept_case_as(now_ms, case, who)?,
            "progress" => self
                .fleet
                .mediator_step_as(case, CaseStatus::InMediation, text, who)?,
            "propose" => {
                if text.trim().is_empty() {
                    bail!("an agreement needs its text");
                }
                self.fleet
                    .mediator_step_as(case, CaseStatus::AgreementProposed, text, who)?
            }
            "escalate" => {
                let to = match to.unwrap_or("coast_guard") {
                    "coast_guard" | "95110" => Escalation::CoastGuard,
                    "court" => Escalation::Court,
                    t => bail!("escalate to coast_guard (95110) or court, not {t:?}"),
                };
                self.fleet
                    .mediator_step_as(case, CaseStatus::Escalated(to), text, who)?
            }
            "close" => self
                .fleet
                .mediator_step_as(case, CaseStatus::Closed, text, who)?,
            s => bail!("unknown step {s:?}: accept, progress, propose, escalate, close"),
        })
    }

    pub(crate) fn observe<S: Store>(&mut self, now_ms: u64, node: &mut Node<S>, r: &Record) {
        // Sealed records are opened where this node is a reader (docs/protocol.md).
        let opened = Self::view(node, r);
        let r = &opened;
        if let Body::Sealed(s) = r.body()
            && s.inner == haiqiao_proto::Kind::DisputeReport
        {
            let t = format!(
                "case {} filed by {} (sealed: this node is not among its readers)",
                short(&r.id().to_string()),
                self.who(&r.author(), now_ms)
            );
            self.push(now_ms, "sealed_case", Some(r.id()), t);
        }
        let events = self.fleet.observe(now_ms, r);
        for e in events {
            self.event(now_ms, node, r, e);
        }
        if r.author() == self.fleet.me() && matches!(r.body(), Body::Position(_)) {
            self.sync_voyage(now_ms, node);
        }
    }

    /// Tells the engine the voyage (its hellos carry the ETA while homeward); a timeline entry
    /// when the boat turns for home or stops being homeward.
    fn sync_voyage<S: Store>(&mut self, now_ms: u64, node: &mut Node<S>) {
        let eta = self.fleet.eta_shore_min(now_ms);
        let was = node.eta_shore_min(now_ms).is_some();
        if let Err(e) = node.handle(now_ms, Input::EtaShore(eta)) {
            tracing::warn!(error = %e, "engine: the ETA ashore");
        }
        if was != eta.is_some() {
            let v = self.fleet.voyage(now_ms);
            let text = match eta {
                Some(m) => format!(
                    "homeward{}, ashore in {m} min ({})",
                    v.port.map(|p| format!(" to {p}")).unwrap_or_default(),
                    if v.skipper_says {
                        "skipper"
                    } else {
                        "positions"
                    }
                ),
                None => "no longer homeward".to_owned(),
            };
            let what = if eta.is_some() {
                "homeward"
            } else {
                "not_homeward"
            };
            self.push(now_ms, what, None, text);
        }
    }

    fn event<S: Store>(&mut self, now: u64, node: &mut Node<S>, r: &Record, e: Event) {
        let id = Some(r.id());
        match e {
            Event::Refused { author, reason, .. } => {
                let t = format!(
                    "{} from {} takes no effect: {}",
                    r.kind().name(),
                    self.who(&author, now),
                    reason.name()
                );
                self.push(now, "refused", id, t);
            }
            Event::Certified {
                subject,
                role,
                name,
            } => {
                if let Err(e) = node.handle(now, Input::Keys(vec![subject])) {
                    tracing::warn!(error = %e, "engine: a certified key");
                }
                self.trust_dirty = true;
                let t = format!("{name} ({}) certified as {}", subject.short(), role.name());
                self.push(now, "certified", id, t);
            }
            Event::Revoked { subject, reason } => {
                self.trust_dirty = true;
                let t = format!("{} revoked ({reason:?})", self.who(&subject, now));
                self.push(now, "revoked", id, t);
            }
            Event::PairingRequested { from, to } => {
                let t = format!(
                    "{} asks {} to pair",
                    self.who(&from, now),
                    self.who(&to, now)
                );
                self.push(now, "pairing_requested", id, t);
            }
            Event::Paired { a, b } => {
                let t = format!("{} and {} are a pair", self.who(&a, now), self.who(&b, now));
                self.push(now, "paired", id, t);
            }
            Event::Unpaired { a, b } => {
                let t = format!(
                    "{} and {} no longer pair",
                    self.who(&a, now),
                    self.who(&b, now)
                );
                self.push(now, "unpaired", id, t);
            }
            Event::PairAlert {
                from, alert, text, ..
            } => {
                let t = format!(
                    "PAIR ALERT {} from {} {text}",
                    name_of(&ALERTS, alert),
                    self.who(&from, now)
                );
                self.push(now, "pair_alert", id, t);
            }
            Event::PartnerHeard { partner } => {
                let t = format!("partner {} heard", self.who(&partner, now));
                self.push(now, "partner_heard", id, t);
            }
            Event::BuddyReport {
                from,
                partner,
                overdue,
                ..
            } => {
                let t = format!(
                    "buddy watch: {} reports partner {} {}",
                    self.who(&from, now),
                    self.who(&partner, now),
                    if overdue { "OVERDUE" } else { "heard again" }
                );
                self.push(
                    now,
                    if overdue {
                        "buddy_overdue"
                    } else {
                        "buddy_heard"
                    },
                    id,
                    t,
                );
            }
            Event::DistressRaised {
                incident,
                author,
                nature,
                persons,
                mine,
                nearest_rank,
                ..
            } => {
                let t = format!(
                    "MAYDAY {} from {}{} POB {} — incident {}{}",
                    name_of(&NATURES, nature),
                    self.who(&author, now),
                    if mine { " (us)" } else { "" },
                    persons.map_or("?".to_owned(), |p| p.to_string()),
                    short(&incident.to_string()),
                    nearest_rank.map_or(String::new(), |k| format!(
                        " — we are nearest vessel #{}",
                        k + 1
                    ))
                );
                self.push(now, "distress_raised", Some(incident), t);
            }
            Event::DistressRepeated { incident, .. } => {
                let t = format!("distress {} repeated", short(&incident.to_string()));
                self.push(now, "distress_repeated", Some(incident), t);
            }
            Event::DistressUpdated {
                incident,
                by,
                status,
                text,
            } => {
                let t = format!(
                    "distress {}: {} by {} {text}",
                    short(&incident.to_string()),
                    status_name(&status),
                    self.who(&by, now)
                );
                self.push(now, distress_tag(&status), Some(incident), t);
            }
            Event::DutyAnnounced { mediator, areas } => {
                let t = format!(
                    "mediator {} on duty for {areas} area(s)",
                    self.who(&mediator, now)
                );
                self.push(now, "duty", id, t);
            }
            Event::DisputeFiled {
                case,
                reporter,
                category,
                my_role,
            } => {
                let t = format!(
                    "dispute {} ({}) filed by {}{}",
                    short(&case.to_string()),
                    name_of(&CATEGORIES, category),
                    self.who(&reporter, now),
                    role_note(my_role)
                );
                self.push(now, "dispute_filed", Some(case), t);
            }
            Event::CaseAccepted {
                case,
                mediator,
                my_role,
            } => {
                let t = format!(
                    "case {} accepted by {}{}",
                    short(&case.to_string()),
                    self.who(&mediator, now),
                    role_note(my_role)
                );
                self.push(now, "case_accepted", Some(case), t);
            }
            Event::AcceptanceLost { case, winner } => {
                let t = format!(
                    "case {}: {} accepted first; ours does not stand",
                    short(&case.to_string()),
                    self.who(&winner, now)
                );
                self.push(now, "acceptance_lost", Some(case), t);
            }
            Event::CaseProgress {
                case,
                status,
                text,
                my_role,
            } => {
                let t = format!(
                    "case {} {}: {text}{}",
                    short(&case.to_string()),
                    case_status_name(&status),
                    role_note(my_role)
                );
                let tag = if matches!(status, CaseStatus::AgreementProposed) {
                    "agreement_proposed"
                } else {
                    "case_progress"
                };
                self.push(now, tag, Some(case), t);
            }
            Event::AgreementSigned {
                case,
                by,
                remaining,
                ..
            } => {
                let t = format!(
                    "case {}: agreement signed by {} ({remaining} to go)",
                    short(&case.to_string()),
                    self.who(&by, now)
                );
                self.push(now, "agreement_signed", Some(case), t);
            }
            Event::CaseClosed {
                case,
                by_signatures,
                my_role,
            } => {
                let t = format!(
                    "case {} closed{}{}",
                    short(&case.to_string()),
                    if by_signatures {
                        " — every party signed"
                    } else {
                        ""
                    },
                    role_note(my_role)
                );
                self.push(now, "case_closed", Some(case), t);
            }
            Event::CaseEscalated { case, to, my_role } => {
                let t = format!(
                    "case {} escalated to {}{}",
                    short(&case.to_string()),
                    escalation_name(to),
                    role_note(my_role)
                );
                self.push(now, "case_escalated", Some(case), t);
            }
        }
    }

    /// Acts on what is due: signs and submits the fleet's drafts, sounds or clears alarms,
    /// and brings the engine's trust policy up to date.
    pub(crate) fn poll<S: Store>(&mut self, now_ms: u64, node: &mut Node<S>) -> anyhow::Result<()> {
        // Each submitted draft is observed, which can make more work: loop, bounded.
        for _ in 0..16 {
            let actions = self.fleet.poll(now_ms);
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match &a {
                    Action::RaiseBuddyAlarm {
                        partner,
                        last_heard,
                        ..
                    } => {
                        let t = format!(
                            "ALARM: partner {} silent since {}",
                            self.who(partner, now_ms),
                            last_heard.map_or("the pair formed".to_owned(), |t| t.0.to_string())
                        );
                        self.push(now_ms, "buddy_alarm", None, t);
                    }
                    Action::ClearBuddyAlarm { partner } => {
                        let t =
                            format!("alarm cleared: partner {} heard", self.who(partner, now_ms));
                        self.push(now_ms, "buddy_alarm_cleared", None, t);
                    }
                    // With no peer linked a repeat would only queue behind the alert already
                    // held here, and every queued copy would flood the mesh at the next
                    // contact: the store carries the alert there by itself (custody), and the
                    // fleet's next repeat, minutes later, carries the newest fix. A radio
                    // repeats because a broadcast can be missed; a held record cannot be.
                    Action::RepeatDistress { incident, .. } if node.peers().next().is_none() => {
                        self.push(
                            now_ms,
                            "distress_repeat_held",
                            Some(*incident),
                            "distress repeat held: no link (the alert waits in the store)"
                                .to_owned(),
                        );
                        continue;
                    }
                    _ => {}
                }
                if let Some(d) = a.draft() {
                    match self.write(now_ms, node, d.dest, d.ttl_min, d.body.clone()) {
                        Ok(r) => {
                            let what = match &a {
                                Action::RepeatDistress { .. } => "distress_repeat_sent",
                                Action::AlertShore { .. } => "buddy_report_sent",
                                Action::RenewPairing { .. } => "pairing_renewed",
                                _ => "case_close_sent",
                            };
                            self.push(
                                now_ms,
                                what,
                                Some(r.id()),
                                format!("sent {} {}", r.kind().name(), r.id()),
                            );
                            self.observe(now_ms, node, &r);
                        }
                        Err(e) => {
                            self.push(now_ms, "error", None, format!("could not write: {e}"));
                        }
                    }
                }
            }
        }
        self.sync_trust(now_ms, node)
    }

    fn sync_trust<S: Store>(&mut self, now_ms: u64, node: &mut Node<S>) -> anyhow::Result<()> {
        if !self.trust_dirty && now_ms < self.next_trust_ms {
            return Ok(());
        }
        self.trust_dirty = false;
        self.next_trust_ms = now_ms + TRUST_REFRESH_MS;
        let policy = TrustPolicy {
            enforced: self.fleet.enforces_trust(),
            trusted: self
                .fleet
                .trusted_keys(now_ms)
                .iter()
                .map(PublicKey::hint)
                .collect(),
            shore: self.fleet.certified_shore(now_ms).into_iter().collect(),
            anchors: self.anchors().iter().map(PublicKey::hint).collect(),
            revoked: self.fleet.revoked_keys(now_ms).into_iter().collect(),
        };
        node.handle(now_ms, Input::Trust(policy))?;
        Ok(())
    }

    /// Checks a hand-written record (`POST /api/v1/records`) the way the builders do.
    pub(crate) fn vet(
        &self,
        now_ms: u64,
        dest: haiqiao_proto::Destination,
        ttl_min: u32,
        body: &Body,
    ) -> anyhow::Result<()> {
        let d = haiqiao_fleet::Draft {
            dest,
            ttl_min,
            body: body.clone(),
        };
        self.fleet.vet(now_ms, &d)?;
        Ok(())
    }

    /// A key from 64 hex digits, or a 16-digit hint of a key known here.
    fn key(&self, s: &str, now_ms: u64) -> anyhow::Result<PublicKey> {
        let s = s.trim();
        if s.len() == 64 {
            return s
                .parse::<PublicKey>()
                .map_err(|_| anyhow!("{s:?} is not a node id (64 hex digits)"));
        }
        let hint: haiqiao_proto::KeyHint = s
            .parse()
            .map_err(|_| anyhow!("{s:?} is neither a node id (64 hex) nor a hint (16 hex)"))?;
        self.fleet
            .vessels(now_ms)
            .into_iter()
            .map(|(k, _)| k)
            .chain(self.fleet.partners(now_ms).into_iter().map(|p| p.partner))
            .find(|k| k.hint() == hint)
            .ok_or_else(|| anyhow!("no key with hint {hint} is known here: give the full node id"))
    }

    fn incident(&self, s: &str, now_ms: u64) -> anyhow::Result<RecordId> {
        let id = record_id(s)?;
        Ok(self.fleet.distress(now_ms, &id).map_or(id, |v| v.incident))
    }

    /// Answers a request; writes are signed, submitted and observed here.
    pub(crate) fn request<S: Store>(
        &mut self,
        now: u64,
        node: &mut Node<S>,
        req: Request,
    ) -> anyhow::Result<Value> {
        let draft = match req {
            Request::Pairs => return Ok(self.pairs_json(now)),
            Request::Distress { all } => {
                let list = if all {
                    self.fleet.distress_incidents(now)
                } else {
                    self.fleet.open_distress(now)
                };
                return Ok(json!({
                    "distress": list.iter().map(|v| self.distress_json(v)).collect::<Vec<_>>()
                }));
            }
            Request::Duties => {
                return Ok(json!({
                    "duties": self.fleet.duties(now).iter().map(duty_json).collect::<Vec<_>>()
                }));
            }
            Request::Cases => {
                return Ok(json!({
                    "cases": self.fleet.cases().iter().map(|c| self.case_json(c)).collect::<Vec<_>>()
                }));
            }
            Request::Case { case } => {
                let id = record_id(&case)?;
                let c = self
                    .fleet
                    .case(&id)
                    .ok_or(haiqiao_fleet::FleetError::UnknownCase)?;
                return Ok(self.case_json(&c));
            }
            Request::CaseStats => {
                let s = self.fleet.case_stats();
                return Ok(json!({
                    "total": s.total, "open": s.open, "accepted": s.accepted,
                    "closed": s.closed, "escalated": s.escalated,
                    "mean_time_to_accept_s": s.mean_time_to_accept_s,
                    "median_time_to_accept_s": s.median_time_to_accept_s,
                    "mean_time_to_close_s": s.mean_time_to_close_s,
                    "median_time_to_close_s": s.median_time_to_close_s,
                    "handled_rate": s.handled_rate,
                }));
            }
            Request::Trust { key } => {
                let k = self.key(&key, now)?;
                let t = self.fleet.trust_of(&k, now);
                return Ok(json!({
                    "key": k.to_string(), "anchor": t.anchor, "trusted": t.is_trusted(),
                    "revoked": t.revoked,
                    "roles": t.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                    "name": t.name, "registration": t.registration, "mmsi": t.mmsi,
                    "enforced": self.fleet.enforces_trust(),
                }));
            }
            Request::Voyage => return Ok(serde_json::to_value(self.fleet.voyage(now))?),
            Request::SetVoyage {
                says,
                eta_min,
                port,
            } => {
                let says = match says.as_str() {
                    "home" => Some(haiqiao_fleet::SkipperSays::Homeward {
                        eta_min: eta_min
                            .filter(|m| (1..=30 * 24 * 60).contains(m))
                            .context("home needs eta_min: minutes to arrival, 1 to 43,200")?,
                        port,
                    }),
                    "not_home" => Some(haiqiao_fleet::SkipperSays::NotHomeward),
                    "auto" => None,
                    s => bail!("unknown voyage {s:?}: home, not_home, auto"),
                };
                self.fleet.set_voyage(now, says);
                self.sync_voyage(now, node);
                return Ok(serde_json::to_value(self.fleet.voyage(now))?);
            }
            Request::Vessels => {
                let vessels: Vec<Value> = self
                    .fleet
                    .vessels(now)
                    .into_iter()
                    .map(|(k, h)| {
                        let t = self.fleet.trust_of(&k, now);
                        json!({
                            "key": k.to_string(),
                            "name": t.name, "registration": t.registration, "mmsi": t.mmsi,
                            "roles": t.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                            "last_heard": h.last_heard.0,
                            "fix_at": h.fix_at.map(|t| t.0),
                            "fix": h.fix.as_ref().map(fix_json),
                        })
                    })
                    .collect();
                return Ok(json!({ "vessels": vessels }));
            }
            Request::Timeline { after, limit } => {
                let items: Vec<&Entry> = self
                    .timeline
                    .iter()
                    .filter(|e| e.index >= after)
                    .take(limit.min(1000))
                    .collect();
                return Ok(json!({ "next": self.next_index, "entries": items }));
            }
            Request::Import { author, record } => {
                let author: PublicKey = author
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("author is not a node id (64 hex digits)"))?;
                let bytes = hex::decode(record.trim()).context("record is not hex")?;
                let r = node.import(now, author, &bytes)?;
                self.observe(now, node, &r);
                return Ok(record_json(&r));
            }
            Request::Pair { partner, leave } => {
                let p = self.key(&partner, now)?;
                if leave {
                    self.fleet.leave_pair(p)?
                } else {
                    self.fleet.pair_with(p)?
                }
            }
            Request::PairAlert {
                partner,
                alert,
                lat,
                lon,
                text,
            } => {
                let p = match partner {
                    Some(p) => self.key(&p, now)?,
                    None => {
                        let ps = self.fleet.partners(now);
                        match ps.as_slice() {
                            [one] => one.partner,
                            [] => bail!("not paired: pair first (haiqiao pair <node id>)"),
                            _ => bail!("paired with several vessels: name the partner"),
                        }
                    }
                };
                self.fleet.pair_alert(
                    p,
                    lookup(&ALERTS, &alert, "alert")?,
                    fix(lat, lon)?,
                    &text,
                )?
            }
            Request::RaiseDistress {
                nature,
                lat,
                lon,
                persons,
                text,
            } => self
                .fleet
                .raise_distress(parse_nature(&nature)?, fix(lat, lon)?, persons, &text),
            Request::AnswerDistress {
                distress,
                status,
                eta_min,
                text,
            } => {
                let incident = self.incident(&distress, now)?;
                let status = distress_status(&status, eta_min)?;
                self.fleet.answer_distress(now, incident, status, &text)?
            }
            Request::Duty {
                areas,
                categories,
                daily,
                hours,
            } => {
                let areas: Vec<DutyArea> = areas
                    .iter()
                    .map(|a| DutyArea {
                        area: haiqiao_proto::AreaId(a.area),
                        bounds: GeoBox::from_degrees(a.south, a.west, a.north, a.east),
                    })
                    .collect();
                let cats = if categories.is_empty() {
                    CategorySet::ALL
                } else {
                    let cs = categories
                        .iter()
                        .map(|c| lookup(&CATEGORIES, c, "category"))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    CategorySet::of(&cs)
                };
                let daily = match daily {
                    Some((s, e)) => DailyHours {
                        start_min: s,
                        end_min: e,
                    },
                    None => DailyHours::ALL_DAY,
                };
                let from = Timestamp((now / 1000) as u32);
                let until = Timestamp(from.0.saturating_add(hours.max(1).saturating_mul(3600)));
                self.fleet
                    .announce_duty(now, areas, cats, from, until, daily)?
            }
            Request::FileDispute {
                category,
                parties,
                lat,
                lon,
                description,
                evidence,
            } => {
                let parties = parties
                    .iter()
                    .map(|p| {
                        Ok(Party {
                            key: p.key.as_deref().map(crate::json::parse_hint).transpose()?,
                            name: p.name.clone(),
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let evidence = evidence
                    .iter()
                    .map(|h| {
                        let b = hex::decode(h).context("evidence is hex")?;
                        <[u8; 32]>::try_from(b.as_slice())
                            .map_err(|_| anyhow!("evidence is a SHA-256 (64 hex digits)"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                self.fleet.file_dispute(
                    lookup(&CATEGORIES, &category, "category")?,
                    parties,
                    fix(lat, lon)?,
                    &description,
                    evidence,
                )?
            }
            Request::CaseStep {
                case,
                step,
                text,
                to,
            } => {
                let case = record_id(&case)?;
                match step.as_str() {
                    "accept" => self.fleet.accept_case(now, case)?,
                    "progress" => self.fleet.case_progress(case, &text)?,
                    "propose" => {
                        if text.trim().is_empty() {
                            bail!("an agreement needs its text");
                        }
                        self.fleet.propose_agreement(case, &text)?
                    }
                    "sign" => self.fleet.cosign(case)?,
                    "escalate" => {
                        let to = match to.as_deref().unwrap_or("coast_guard") {
                            "coast_guard" | "95110" => Escalation::CoastGuard,
                            "court" => Escalation::Court,
                            t => bail!("escalate to coast_guard (95110) or court, not {t:?}"),
                        };
                        self.fleet.escalate_case(case, to, &text)?
                    }
                    "close" => self.fleet.close_case(case, &text)?,
                    s => bail!(
                        "unknown step {s:?}: accept, progress, propose, sign, escalate, close"
                    ),
                }
            }
        };
        let r = self.write(now, node, draft.dest, draft.ttl_min, draft.body)?;
        self.observe(now, node, &r);
        let r = Self::view(node, &r);
        // The record is written: what follows must not turn the answer into an error (a
        // client would write it again).
        if let Err(e) = self.poll(now, node) {
            self.push(now, "error", None, format!("after writing: {e:#}"));
        }
        Ok(record_json(&r))
    }

    /// Open distress incidents, alarms up: for `status`.
    pub(crate) fn summary(&self, now_ms: u64) -> Value {
        let alarms: Vec<String> = self
            .fleet
            .partners(now_ms)
            .iter()
            .filter(|p| p.alarm)
            .map(|p| p.partner.to_string())
            .collect();
        json!({
            "open_distress": self.fleet.open_distress(now_ms).len(),
            "buddy_alarms": alarms,
            "cases": self.fleet.cases().len(),
            "trust_enforced": self.fleet.enforces_trust(),
            "certified": self.fleet.trust_of(&self.fleet.me(), now_ms).roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
        })
    }

    fn partner_json(&self, p: &PartnerView) -> Value {
        json!({
            "partner": p.partner.to_string(),
            "name": p.name,
            "since": p.since.0,
            "last_heard": p.last_heard.map(|t| t.0),
            "fix": p.fix.as_ref().map(fix_json),
            "due": p.due.map(|t| t.0),
            "alarm": p.alarm,
        })
    }

    fn pairs_json(&self, now: u64) -> Value {
        json!({
            "pairs": self.fleet.pairs().iter().map(|p| json!({
                "a": p.a.to_string(), "b": p.b.to_string(), "since": p.since.0 })).collect::<Vec<_>>(),
            "partners": self.fleet.partners(now).iter().map(|p| self.partner_json(p)).collect::<Vec<_>>(),
            "buddy_reports": self.fleet.buddy_reports().iter().map(|b| json!({
                "from": b.from.to_string(), "partner": b.partner.to_string(), "overdue": b.overdue,
                "last_heard": b.last_heard.map(|t| t.0), "fix": b.fix.as_ref().map(fix_json),
                "at": b.at.0 })).collect::<Vec<_>>(),
        })
    }

    fn distress_json(&self, v: &DistressView) -> Value {
        json!({
            "incident": v.incident.to_string(),
            "author": v.author.to_string(),
            "name": v.name,
            "certified": v.certified,
            "revoked": v.revoked,
            "nature": name_of(&NATURES, v.nature),
            "dsc_code": format!("{:02}", v.nature as u8),
            "persons": v.persons,
            "text": v.text,
            "fix": v.fix.as_ref().map(fix_json),
            "raised": v.raised.0,
            "last_alert": v.last_alert.0,
            "alerts": v.alerts,
            "state": match v.state {
                DistressState::Open => "open",
                DistressState::Answered => "answered",
                DistressState::Resolved => "resolved",
                DistressState::Cancelled => "cancelled",
            },
            "ended": v.ended.map(|(t, k)| json!({ "at": t.0, "by": k.to_string() })),
            "repeats_stopped": v.repeats_stopped,
            "acknowledged_by": v.acknowledged_by.iter().map(|a| json!({
                "key": a.key.to_string(), "name": a.name, "at": a.at.0, "text": a.text,
                "shore": a.shore, "certified": a.certified })).collect::<Vec<_>>(),
            "responders": v.responders.iter().map(|r| json!({
                "key": r.key.to_string(), "name": r.name, "at": r.at.0, "text": r.text,
                "eta_min": r.eta_min, "eta_at": r.eta_at.map(|t| t.0), "on_scene": r.on_scene,
                "distance_km": r.distance_km, "certified": r.certified })).collect::<Vec<_>>(),
            "nearest": v.nearest.iter().map(|n| json!({
                "key": n.key.to_string(), "name": n.name, "distance_km": n.distance_km,
                "fix_at": n.fix_at.0 })).collect::<Vec<_>>(),
        })
    }

    fn case_json(&self, c: &CaseView) -> Value {
        json!({
            "case": c.case.to_string(),
            "reporter": c.reporter.to_string(),
            "reporter_name": c.reporter_name,
            "category": name_of(&CATEGORIES, c.category),
            "parties": c.parties.iter().map(|p| json!({
                "name": p.name, "key": p.key.map(|k| k.to_string()), "signed": p.signed })).collect::<Vec<_>>(),
            "reporter_signed": c.reporter_signed,
            "fix": c.fix.as_ref().map(fix_json),
            "description": c.description,
            "evidence": c.evidence,
            "filed": c.filed.0,
            "offered_to": c.offered_to.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "mediator": c.mediator.map(|k| k.to_string()),
            "mediator_name": c.mediator_name,
            "accepted": c.accepted.map(|t| t.0),
            "other_acceptances": c.other_acceptances.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "progress": c.progress.iter().map(|p| json!({
                "at": p.at.0, "status": case_status_name(&p.status), "text": p.text })).collect::<Vec<_>>(),
            "agreement": c.agreement.as_ref().map(|a| json!({
                "text": a.text, "hash": hex::encode(a.hash), "proposed": a.proposed.0,
                "signed_by": a.signed_by.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                "missing": a.missing })),
            "stage": stage_name(c.stage),
            "finished": c.finished.map(|t| t.0),
            "closed_by_signatures": c.closed_by_signatures,
            "my_role": self.fleet.case_role(&c.case).map(case_role_name),
        })
    }
}

fn duty_json(d: &DutyView) -> Value {
    json!({
        "mediator": d.mediator.to_string(),
        "name": d.name,
        "certified": d.certified,
        "on_duty": d.on_duty,
        "areas": d.areas.iter().map(area_json).collect::<Vec<_>>(),
        "categories": category_names(d.categories),
        "from": d.from.0,
        "until": d.until.0,
        "daily": [d.daily.start_min, d.daily.end_min],
    })
}

fn status_name(s: &DistressStatus) -> String {
    match s {
        DistressStatus::Acknowledged => "acknowledged".into(),
        DistressStatus::Responding { eta_min } => format!("responding, ETA {eta_min} min"),
        DistressStatus::OnScene => "on scene".into(),
        DistressStatus::Resolved => "resolved".into(),
        DistressStatus::Cancelled => "cancelled (false alert)".into(),
    }
}

fn distress_tag(s: &DistressStatus) -> &'static str {
    match s {
        DistressStatus::Acknowledged => "distress_acknowledged",
        DistressStatus::Responding { .. } => "distress_responding",
        DistressStatus::OnScene => "distress_on_scene",
        DistressStatus::Resolved => "distress_resolved",
        DistressStatus::Cancelled => "distress_cancelled",
    }
}

fn escalation_name(e: Escalation) -> &'static str {
    match e {
        Escalation::CoastGuard => "the coast guard (95110)",
        Escalation::Court => "court",
    }
}

fn stage_name(s: CaseStage) -> &'static str {
    match s {
        CaseStage::Filed => "filed",
        CaseStage::Accepted => "accepted",
        CaseStage::InMediation => "in_mediation",
        CaseStage::AgreementProposed => "agreement_proposed",
        CaseStage::Closed => "closed",
        CaseStage::Escalated(Escalation::CoastGuard) => "escalated_coast_guard",
        CaseStage::Escalated(Escalation::Court) => "escalated_court",
    }
}

fn case_role_name(r: CaseRole) -> &'static str {
    match r {
        CaseRole::Reporter => "reporter",
        CaseRole::Party => "party",
        CaseRole::Mediator => "mediator",
        CaseRole::Offered => "offered",
    }
}

fn role_note(r: Option<CaseRole>) -> String {
    r.map_or(String::new(), |r| {
        format!(" [we are {}]", case_role_name(r))
    })
}

/// Where a record of this kind goes among those created in the same second, when the store is
/// replayed: records that start something first, then those that answer them, then those that
/// answer the answers.
fn replay_rank(kind: haiqiao_proto::Kind) -> u8 {
    use haiqiao_proto::Kind;
    match kind {
        Kind::DistressUpdate | Kind::CaseUpdate | Kind::Revocation | Kind::Receipt => 1,
        Kind::AgreementSignature => 2,
        _ => 0,
    }
}

/// A revocation reason from its name.
pub(crate) fn revocation_reason(s: &str) -> anyhow::Result<RevocationReason> {
    Ok(match s {
        "unspecified" => RevocationReason::Unspecified,
        "compromised" => RevocationReason::Compromised,
        "retired" => RevocationReason::Retired,
        "superseded" => RevocationReason::Superseded,
        s => bail!("unknown reason {s:?}: compromised, retired, superseded, unspecified"),
    })
}

/// A role from its name, for certificates.
pub(crate) fn cert_role(s: &str) -> anyhow::Result<Role> {
    match Role::from_name(s) {
        Some(r) => Ok(r),
        None => bail!("unknown role {s:?}: vessel, mediator, shore, authority"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use haiqiao_mesh::{MemStore, MeshConfig, StoreLimits};
    use haiqiao_proto::{Destination, Envelope, Keypair, Kind};

    use super::*;

    /// 2026-11-18T11:06:40Z.
    pub(super) const T0_MS: u64 = 1_795_000_000_000;

    pub(super) fn bureau() -> Keypair {
        Keypair::from_seed(&[200; 32])
    }

    pub(super) fn signed(key: &Keypair, seq: u64, body: Body) -> Record {
        let env = Envelope {
            author: key.public().hint(),
            seq,
            created: Timestamp((T0_MS / 1000) as u32),
            ttl_min: 24 * 60,
            dest: Destination::Everyone,
            body,
        };
        Record::sign(key, env).unwrap()
    }

    fn cert(subject: &Keypair, role: Role, name: &str) -> Record {
        let now = (T0_MS / 1000) as u32;
        signed(
            &bureau(),
            u64::from(role as u8) + 10 * u64::from(subject.public().hint().0[0]),
            Body::Certificate {
                subject: subject.public(),
                name: name.into(),
                registration: String::new(),
                mmsi: None,
                role,
                valid_from: Timestamp(now - 3600),
                valid_until: Timestamp(now + 86_400),
            },
        )
    }

    fn setup(me: &Keypair, buddy_watch_s: u32) -> (Node<MemStore>, Workflows) {
        let node = Node::new(
            MeshConfig::default(),
            me.clone(),
            Role::Vessel,
            MemStore::new(StoreLimits::default()),
            T0_MS,
        )
        .unwrap();
        let cfg = FleetConfig {
            trust_anchors: vec![bureau().public().to_string()],
            buddy_watch_s,
            ..FleetConfig::default()
        };
        let mut w = Workflows::new(cfg, me.public(), 7).unwrap();
        w.print = false;
        (node, w)
    }

    #[test]
    fn a_distress_repeat_is_held_while_no_peer_is_linked() {
        let me = Keypair::from_seed(&[31; 32]);
        let (mut node, mut w) = setup(&me, 0);
        w.request(
            T0_MS,
            &mut node,
            Request::RaiseDistress {
                nature: "flooding".to_owned(),
                lat: Some(30.2),
                lon: Some(122.9),
                persons: Some(6),
                text: String::new(),
            },
        )
        .unwrap();
        // The fleet's repeat is due within 270 s; with no peer it is held, not written.
        let due = T0_MS + 271_000;
        w.poll(due, &mut node).unwrap();
        let tags: Vec<&str> = w.timeline.iter().map(|e| e.what).collect();
        assert!(tags.contains(&"distress_repeat_held"), "{tags:?}");
        assert!(!tags.contains(&"distress_repeat_sent"), "{tags:?}");
        let alerts = node
            .store()
            .by_kind(Kind::Distress, Timestamp(0), Timestamp(u32::MAX), 10)
            .unwrap();
        assert_eq!(alerts.len(), 1, "only the alert itself is held");
        // Still due again later: the fleet keeps repeating until someone answers.
        assert!(w.next_timeout().is_some_and(|t| t > due));
    }

    fn with_ports(me: &Keypair) -> (Node<MemStore>, Workflows) {
        let (node, _) = setup(me, 1800);
        let cfg = FleetConfig {
            ports: vec![haiqiao_fleet::Port {
                name: "Shenjiamen".into(),
                lat: 29.95,
                lon: 122.30,
            }],
            ..FleetConfig::default()
        };
        let mut w = Workflows::new(cfg, me.public(), 7).unwrap();
        w.print = false;
        (node, w)
    }

    #[test]
    fn own_positions_towards_a_port_set_the_engines_eta_and_the_skipper_overrides() {
        let me = Keypair::from_seed(&[1; 32]);
        let (mut node, mut w) = with_ports(&me);
        // 48 km east of Shenjiamen, steaming west at 10 knots.
        let mut f = haiqiao_proto::Fix::from_degrees(29.95, 122.80);
        f.sog_dkn = Some(100);
        f.cog_ddeg = Some(2700);
        let r = node
            .submit(T0_MS, Destination::Everyone, 60, Body::Position(f))
            .unwrap();
        w.observe(T0_MS, &mut node, &r);
        let eta = node.eta_shore_min(T0_MS).expect("homeward");
        assert!((150..=165).contains(&eta), "{eta}");
        assert_eq!(w.timeline.back().unwrap().what, "homeward");
        let set = |w: &mut Workflows, node: &mut Node<MemStore>, says: &str, eta: Option<u32>| {
            w.request(
                T0_MS,
                node,
                Request::SetVoyage {
                    says: says.into(),
                    eta_min: eta,
                    port: None,
                },
            )
        };
        let v = set(&mut w, &mut node, "not_home", None).unwrap();
        assert_eq!(v["homeward"], false);
        assert_eq!(node.eta_shore_min(T0_MS), None);
        assert_eq!(w.timeline.back().unwrap().what, "not_homeward");
        assert!(
            set(&mut w, &mut node, "home", None).is_err(),
            "needs an ETA"
        );
        assert!(set(&mut w, &mut node, "ashore", Some(5)).is_err());
        set(&mut w, &mut node, "home", Some(90)).unwrap();
        assert_eq!(node.eta_shore_min(T0_MS), Some(90));
        set(&mut w, &mut node, "auto", None).unwrap();
        assert_eq!(node.eta_shore_min(T0_MS), Some(eta), "the positions again");
        // A restart: the stored own position gives the ETA back.
        let (_, mut fresh) = with_ports(&me);
        node.handle(T0_MS, Input::EtaShore(None)).unwrap();
        fresh.replay(T0_MS, &mut node).unwrap();
        assert_eq!(node.eta_shore_min(T0_MS), Some(eta));
    }

    /// Stores a record of another key as if it had arrived, and shows it to the fleet.
    fn arrive(node: &mut Node<MemStore>, w: &mut Workflows, author: &Keypair, r: &Record) {
        let r = node.import(T0_MS, author.public(), r.bytes()).unwrap();
        w.observe(T0_MS, node, &r);
    }

    #[test]
    fn a_restarted_node_rebuilds_its_views_and_the_engines_trust_from_the_store() {
        let me = Keypair::from_seed(&[1; 32]);
        let shore = Keypair::from_seed(&[2; 32]);
        let (mut node, _) = setup(&me, 1800);
        // Stored while the projections were not watching (as before a restart).
        node.import(
            T0_MS,
            bureau().public(),
            cert(&shore, Role::Shore, "沈家门岸站").bytes(),
        )
        .unwrap();
        let (_, mut fresh) = setup(&me, 1800);
        assert!(!node.trust().enforced, "nothing set before the replay");
        fresh.replay(T0_MS, &mut node).unwrap();
        assert!(node.trust().enforced);
        assert!(node.trust().shore.contains(&shore.public()));
        assert!(node.trust().trusted.contains(&shore.public().hint()));
        let v = fresh
            .request(
                T0_MS,
                &mut node,
                Request::Trust {
                    key: shore.public().to_string(),
                },
            )
            .unwrap();
        assert_eq!(v["roles"], json!(["shore"]));
        assert_eq!(v["name"], "沈家门岸站");
        // The timeline shows what the records held say, dated by the records.
        let cert_id = cert(&shore, Role::Shore, "沈家门岸站").id().to_string();
        let v = fresh
            .request(
                T0_MS,
                &mut node,
                Request::Timeline {
                    after: 0,
                    limit: 10,
                },
            )
            .unwrap();
        let entries = v["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{v}");
        assert_eq!(entries[0]["what"], "certified");
        assert_eq!(entries[0]["id"], cert_id.as_str());
    }

    #[test]
    fn hand_written_records_are_vetted_and_a_vessel_cannot_accept_a_case() {
        let me = Keypair::from_seed(&[1; 32]);
        let other = Keypair::from_seed(&[3; 32]);
        let (mut node, mut w) = setup(&me, 1800);
        let report = signed(
            &other,
            1,
            Body::DisputeReport {
                category: haiqiao_proto::DisputeCategory::FishingGround,
                parties: vec![],
                fix: None,
                description: "抢占网位 took our spot".into(),
                evidence: vec![],
            },
        );
        arrive(&mut node, &mut w, &other, &report);
        let accept = Body::CaseUpdate {
            case: report.id(),
            status: CaseStatus::Accepted,
            text: String::new(),
        };
        let err = w
            .vet(T0_MS, Destination::Everyone, 60, &accept)
            .unwrap_err();
        assert!(
            err.to_string().contains("not a certified mediator"),
            "{err}"
        );
        let err = w
            .request(
                T0_MS,
                &mut node,
                Request::CaseStep {
                    case: report.id().to_string(),
                    step: "accept".into(),
                    text: String::new(),
                    to: None,
                },
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("not a certified mediator"),
            "{err}"
        );
        assert_eq!(
            crate::error::ApiError::from_anyhow(&err).status().as_u16(),
            422,
            "a refusal"
        );
        assert_eq!(node.stats().submitted, 0, "nothing was written");
        let unknown = w
            .request(
                T0_MS,
                &mut node,
                Request::Case {
                    case: RecordId([9; 16]).to_string(),
                },
            )
            .unwrap_err();
        assert_eq!(
            crate::error::ApiError::from_anyhow(&unknown)
                .status()
                .as_u16(),
            404,
            "{unknown}"
        );
        let malformed = w
            .request(
                T0_MS,
                &mut node,
                Request::Case {
                    case: "not an id".into(),
                },
            )
            .unwrap_err();
        assert_eq!(
            crate::error::ApiError::from_anyhow(&malformed)
                .status()
                .as_u16(),
            400,
            "{malformed}"
        );
    }

    #[test]
    fn buddy_watch_raises_the_alarm_tells_shore_and_clears_when_the_partner_is_heard() {
        let me = Keypair::from_seed(&[1; 32]);
        let partner = Keypair::from_seed(&[4; 32]);
        let (mut node, mut w) = setup(&me, 60);
        let theirs = signed(
            &partner,
            1,
            Body::Pairing {
                partner: me.public(),
                paired: true,
            },
        );
        arrive(&mut node, &mut w, &partner, &theirs);
        // The hint of a vessel heard here is enough to name it.
        w.request(
            T0_MS,
            &mut node,
            Request::Pair {
                partner: partner.public().hint().to_string(),
                leave: false,
            },
        )
        .unwrap();
        let pairs = w.request(T0_MS, &mut node, Request::Pairs).unwrap();
        assert_eq!(
            pairs["partners"][0]["partner"],
            partner.public().to_string()
        );
        assert_eq!(pairs["partners"][0]["alarm"], false);
        // Silence past the interval: the daemon's timer fires at next_timeout.
        let due = w.next_timeout().unwrap();
        assert!(
            due <= T0_MS + 61_000,
            "buddy watch is due within the interval"
        );
        w.poll(T0_MS + 61_000, &mut node).unwrap();
        let tags: Vec<&str> = w.timeline.iter().map(|e| e.what).collect();
        assert!(tags.contains(&"buddy_alarm"), "{tags:?}");
        assert!(tags.contains(&"buddy_report_sent"), "{tags:?}");
        let reports = node
            .store()
            .by_kind(Kind::BuddyWatch, Timestamp(0), Timestamp(u32::MAX), 10)
            .unwrap();
        assert_eq!(reports.len(), 1, "one report to shore");
        assert_eq!(reports[0].envelope().dest, Destination::Shore);
        assert_eq!(
            w.summary(T0_MS + 61_000)["buddy_alarms"][0],
            partner.public().to_string()
        );
        // The partner is heard again.
        let env = Envelope {
            author: partner.public().hint(),
            seq: 2,
            created: Timestamp(((T0_MS + 70_000) / 1000) as u32),
            ttl_min: 60,
            dest: Destination::Everyone,
            body: Body::Position(haiqiao_proto::Fix::from_degrees(30.2, 122.9)),
        };
        let pos = Record::sign(&partner, env).unwrap();
        let pos = node
            .import(T0_MS + 70_000, partner.public(), pos.bytes())
            .unwrap();
        w.observe(T0_MS + 70_000, &mut node, &pos);
        w.poll(T0_MS + 70_000, &mut node).unwrap();
        let tags: Vec<&str> = w.timeline.iter().map(|e| e.what).collect();
        assert!(tags.contains(&"buddy_alarm_cleared"), "{tags:?}");
        assert!(
            w.summary(T0_MS + 70_000)["buddy_alarms"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_pair_alert_needs_a_pair() {
        let me = Keypair::from_seed(&[1; 32]);
        let (mut node, mut w) = setup(&me, 60);
        let err = w
            .request(
                T0_MS,
                &mut node,
                Request::PairAlert {
                    partner: None,
                    alert: "gear_fouled".into(),
                    lat: None,
                    lon: None,
                    text: String::new(),
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("not paired"), "{err}");
        let err = w
            .request(
                T0_MS,
                &mut node,
                Request::Pair {
                    partner: "0011223344556677".into(),
                    leave: false,
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("give the full node id"), "{err}");
    }
}
