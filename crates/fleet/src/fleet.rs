//! The `Fleet`: every projection behind one type, with the call order on it.

use std::collections::BTreeSet;

use haiqiao_proto::{
    Body, CaseStatus, Destination, DisputeCategory, DutyArea, Fix, MAX_PARTIES, PublicKey, Record,
    RecordId, Role, Timestamp,
};

use crate::config::FleetConfig;
use crate::distress::{Ctx, DistressBook, DistressState, DistressView};
use crate::draft::Draft;
use crate::error::FleetError;
use crate::event::{Action, CaseRole};
use crate::mediation::{CaseStats, CaseView, DutyView, Mediation};
use crate::pairs::{BuddyReportView, PairView, Pairs, PartnerView};
use crate::positions::{Heard, Positions};
use crate::rng::{SplitMix64, fold_id};
use crate::trust::{Trust, TrustView};
use crate::voyage::{SkipperSays, Voyage, VoyageView};

mod drafts;
mod observe;

/// How often `poll` forgets what expired, ms.
const EXPIRY_SWEEP_MS: u64 = 60_000;

/// What records mean to the people of the fleet, for one node (`me`).
///
/// Feed it every verified record the node holds or receives — its own too, once signed —
/// and ask it for views and for due actions. It never reads a clock or draws entropy: `now_ms`
/// (milliseconds since the Unix epoch) and the seed are arguments, so the daemon and the
/// simulator get the same answers from the same inputs.
///
/// Call order:
///
/// 1. [`Fleet::new`] with the config, the node's key and a seed. On start, replay the records
///    the store holds through [`Fleet::observe`] (the events of a replay may be ignored).
/// 2. [`Fleet::observe`] for each record, as it arrives or is written; it returns [`Event`]s.
/// 3. After observing, and whenever [`Fleet::next_timeout`] comes due, call [`Fleet::poll`]
///    and carry out every [`Action`]: a draft is signed (the node's hint, next sequence
///    number, `created` = now), submitted to the mesh and fed back to `observe`.
/// 4. Builders (`pair_with`, `raise_distress`, `accept_case`, ...) make drafts for what people
///    ask; they refuse (with [`FleetError`]) what every node's fleet would refuse.
/// 5. Views (`pairs`, `open_distress`, `cases`, `case_stats`, ...) answer at any time.
///
/// Everything held is bounded by [`FleetConfig`] or a named constant, and forgotten when the
/// record that said it expires, as the store forgets the record.
#[derive(Debug)]
pub struct Fleet {
    cfg: FleetConfig,
    me: PublicKey,
    seed: u64,
    trust: Trust,
    positions: Positions,
    pairs: Pairs,
    distress: DistressBook,
    mediation: Mediation,
    voyage: Voyage,
    /// When our distress repeats next, ms.
    repeat_due_ms: Option<u64>,
    /// Draws since the last distress of ours, to vary the repeat waits.
    repeat_draws: u64,
    next_sweep_ms: u64,
}

impl Fleet {
    /// A fleet for the node with key `me`. `seed` drives the random repeat intervals.
    pub fn new(cfg: FleetConfig, me: PublicKey, seed: u64) -> Result<Fleet, FleetError> {
        let mut anchors = BTreeSet::new();
        for a in &cfg.trust_anchors {
            let key: PublicKey = a.parse().map_err(|_| FleetError::BadAnchor(a.clone()))?;
            anchors.insert(key);
        }
        for (i, p) in cfg.ports.iter().enumerate() {
            if i >= crate::config::MAX_PORTS
                || !(-90.0..=90.0).contains(&p.lat)
                || !(-180.0..=180.0).contains(&p.lon)
            {
                return Err(FleetError::BadPort(p.name.clone()));
            }
        }
        Ok(Fleet {
            trust: Trust::new(anchors, cfg.max_certificates, cfg.max_revocations),
            positions: Positions::new(cfg.max_vessels),
            pairs: Pairs::new(cfg.max_pairings, cfg.max_partners, cfg.max_buddy_reports),
            distress: DistressBook::new(cfg.max_distress_authors, cfg.max_distress_updates),
            mediation: Mediation::new(cfg.max_mediators, cfg.max_cases, cfg.max_case_records),
            voyage: Voyage::new(cfg.ports.clone()),
            cfg,
            me,
            seed,
            repeat_due_ms: None,
            repeat_draws: 0,
            next_sweep_ms: 0,
        })
    }

    /// The node's key.
    pub fn me(&self) -> PublicKey {
        self.me
    }

    /// Minutes until this vessel expects to be ashore, while it is steaming home (from its own
    /// position reports and [`FleetConfig::ports`], or the skipper's word): what the engine's
    /// hello says (haiqiao-mesh `Input::EtaShore`).
    pub fn eta_shore_min(&self, now_ms: u64) -> Option<u32> {
        self.voyage.eta_min(now_ms)
    }

    /// The skipper's word on the voyage (`None`: back to the position reports).
    pub fn set_voyage(&mut self, now_ms: u64, says: Option<SkipperSays>) {
        self.voyage.skipper(now_ms, says);
    }

    /// The voyage: homeward or not, ETA, port, where that comes from.
    pub fn voyage(&self, now_ms: u64) -> VoyageView {
        self.voyage.view(now_ms)
    }

    /// The settings.
    pub fn config(&self) -> &FleetConfig {
        &self.cfg
    }

    // -----------------------------------------------------------------------------------------
    // Output.

    /// What the node should do now: repeat our distress, raise or clear the buddy-watch
    /// alarm and tell shore, renew our pairings, close a case every party signed. Also
    /// forgets what expired. Call after every `observe` and when `next_timeout` is due.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Action> {
        let now_s = now_ms / 1000;
        let mut out = Vec::new();
        if now_ms >= self.next_sweep_ms {
            self.next_sweep_ms = now_ms + EXPIRY_SWEEP_MS;
            self.expire(now_s);
        }
        self.poll_buddy_watch(now_ms, &mut out);
        let renew_before = u64::from(self.cfg.pairing_renew_before_min) * 60;
        for partner in self
            .pairs
            .due_renewals(&self.me, now_s, renew_before, &self.trust)
        {
            out.push(Action::RenewPairing {
                partner,
                draft: self.pairing_draft(partner, true),
            });
        }
        self.poll_distress(now_ms, &mut out);
        let mine: Vec<RecordId> = self.mediation.mine.iter().copied().collect();
        for case in mine {
            let Some(v) = self.mediation.view(&case, &self.trust) else {
                continue;
            };
            if v.mediator == Some(self.me)
                && v.closed_by_signatures
                && !v.close_posted
                && self.mediation.close_asked.insert(case)
            {
                out.push(Action::CloseCase {
                    case,
                    draft: self.case_draft(
                        case,
                        CaseStatus::Closed,
                        "协议已由各方签署，结案 agreement signed by every party; case closed",
                    ),
                });
            }
        }
        out
    }

    fn expire(&mut self, now_s: u64) {
        let retention = u64::from(self.cfg.position_retention_min) * 60;
        self.positions.expire(Timestamp(
            now_s.saturating_sub(retention).min(u64::from(u32::MAX)) as u32,
        ));
        self.trust.expire(now_s);
        self.pairs.expire(now_s);
        self.distress.expire(now_s, &self.trust);
        self.mediation.expire(now_s);
    }

    /// When the buddy-watch alarm for `partner` is due: the newer of its last record and the
    /// forming of the pair, plus the interval. None if buddy watch is off or not paired.
    fn buddy_due(&self, partner: &PublicKey) -> Option<Timestamp> {
        if self.cfg.buddy_watch_s == 0 {
            return None;
        }
        let since = self.pairs.pair_since(&self.me, partner, &self.trust)?;
        let heard = self.positions.get(partner).map(|h| h.last_heard);
        let base = heard.map_or(since, |h| h.max(since));
        Some(Timestamp(base.0.saturating_add(self.cfg.buddy_watch_s)))
    }

    fn overdue(&self, partner: &PublicKey, now_ms: u64) -> bool {
        self.buddy_due(partner)
            .is_some_and(|due| now_ms / 1000 >= due.secs())
    }

    fn poll_buddy_watch(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        let partners: Vec<PublicKey> = self
            .pairs
            .partners(&self.me, &self.trust)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for p in &partners {
            let overdue = self.overdue(p, now_ms);
            let alarm = self.pairs.alarms.contains(p);
            let heard = self.positions.get(p).copied();
            let last_heard = heard.map(|h| h.last_heard);
            let fix = heard.and_then(|h| h.fix);
            if overdue && !alarm {
                self.pairs.alarms.insert(*p);
                out.push(Action::RaiseBuddyAlarm {
                    partner: *p,
                    last_heard,
                    fix,
                });
                out.push(Action::AlertShore {
                    partner: *p,
                    overdue: true,
                    draft: self.buddy_draft(*p, true, last_heard, fix),
                });
            } else if !overdue && alarm {
                self.pairs.alarms.remove(p);
                out.push(Action::ClearBuddyAlarm { partner: *p });
                out.push(Action::AlertShore {
                    partner: *p,
                    overdue: false,
                    draft: self.buddy_draft(*p, false, last_heard, fix),
                });
            }
        }
        // A pair that ended takes its alarm with it.
        let ended: Vec<PublicKey> = self
            .pairs
            .alarms
            .iter()
            .filter(|p| !partners.contains(p))
            .copied()
            .collect();
        for p in ended {
            self.pairs.alarms.remove(&p);
            out.push(Action::ClearBuddyAlarm { partner: p });
        }
    }

    fn poll_distress(&mut self, now_ms: u64, out: &mut Vec<Action>) {
        let Some(due) = self.repeat_due_ms else {
            return;
        };
        if now_ms < due {
            return;
        }
        let repeat = {
            let incidents = self.distress.incidents(&self.me, &self.trust);
            incidents.last().and_then(|inc| {
                let open = inc.end.is_none()
                    && !DistressBook::stopped(
                        inc,
                        &self.trust,
                        self.cfg.repeat_until_certified_ack,
                    );
                let newest = inc.newest();
                open.then(|| {
                    // The newest of our own fix and the alert's.
                    let own = self
                        .positions
                        .get(&self.me)
                        .and_then(|h| h.fix.zip(h.fix_at));
                    let alert = newest
                        .fix
                        .map(|f| (f, crate::geo::fix_time(newest.created, &f)));
                    let fix = match (own, alert) {
                        (Some(o), Some(a)) => Some(if o.1 > a.1 { o.0 } else { a.0 }),
                        (o, a) => o.or(a).map(|x| x.0),
                    };
                    (
                        inc.id(),
                        Draft {
                            dest: Destination::Everyone,
                            ttl_min: self.cfg.distress_ttl_min,
                            body: Body::Distress {
                                nature: newest.nature,
                                fix,
                                persons: inc.records.iter().rev().find_map(|r| r.persons),
                                text: newest.text.clone(),
                            },
                        },
                    )
                })
            })
        };
        match repeat {
            Some((incident, draft)) => {
                self.repeat_draws += 1;
                let mut rng = SplitMix64::new(
                    self.seed ^ fold_id(&incident) ^ self.repeat_draws.rotate_left(32),
                );
                self.repeat_due_ms = Some(now_ms + self.repeat_wait_ms(&mut rng));
                out.push(Action::RepeatDistress { incident, draft });
            }
            None => self.repeat_due_ms = None,
        }
    }

    /// When `poll` next has something to do, ms since the epoch (none: only new records can
    /// give it work).
    pub fn next_timeout(&self) -> Option<u64> {
        let mut t = self.repeat_due_ms;
        let mut min = |x: u64| t = Some(t.map_or(x, |y| y.min(x)));
        for (p, _) in self.pairs.partners(&self.me, &self.trust) {
            if !self.pairs.alarms.contains(&p)
                && let Some(due) = self.buddy_due(&p)
            {
                min(due.secs() * 1000);
            }
        }
        if self.next_sweep_ms > 0 {
            min(self.next_sweep_ms);
        }
        t
    }

    // -----------------------------------------------------------------------------------------
    // Views.

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            trust: &self.trust,
            positions: &self.positions,
            nearest_count: self.cfg.nearest_count,
            nearest_max_age_s: u64::from(self.cfg.nearest_max_age_min) * 60,
            certified_ack_stops: self.cfg.repeat_until_certified_ack,
        }
    }

    /// What is known of a key at `now_ms`.
    pub fn trust_of(&self, key: &PublicKey, now_ms: u64) -> TrustView {
        self.trust.view(key, secs(now_ms))
    }

    /// Whether `key` holds `role` (certified, valid and not revoked) at `now_ms`.
    pub fn has_role(&self, key: &PublicKey, role: Role, now_ms: u64) -> bool {
        self.trust.has_role(key, role, secs(now_ms))
    }

    /// Whether a receipt counts, i.e. frees the copies of the records it names: its author
    /// was a certified shore station, not revoked, when it wrote it. The mesh should ask this
    /// before freeing anything.
    pub fn receipt_counts(&self, r: &Record) -> bool {
        matches!(r.body(), Body::Receipt { .. })
            && self
                .trust
                .has_role(&r.author(), Role::Shore, r.envelope().created)
    }

    /// Whether what `key` signed at `at` is refused because the key is revoked.
    pub fn is_revoked(&self, key: &PublicKey, at: Timestamp) -> bool {
        self.trust.revoked(key, at)
    }

    /// Whether `key` is a trust anchor, or certified in some role and not revoked, at
    /// `now_ms` (the mesh may give uncertified authors tighter quotas).
    pub fn is_trusted(&self, key: &PublicKey, now_ms: u64) -> bool {
        self.trust.trusted(key, secs(now_ms))
    }

    /// Keys certified as shore stations at `now_ms`.
    pub fn certified_shore(&self, now_ms: u64) -> Vec<PublicKey> {
        self.trust.holders(Role::Shore, secs(now_ms))
    }

    /// Trust anchors and keys certified in some role and not revoked, at `now_ms` (the mesh
    /// gives every other author the tighter quota).
    pub fn trusted_keys(&self, now_ms: u64) -> Vec<PublicKey> {
        self.trust.trusted_keys(secs(now_ms))
    }

    /// Whether trust anchors are configured, i.e. certificates count here.
    pub fn enforces_trust(&self) -> bool {
        self.trust.has_anchors()
    }

    /// Checks a record this node is about to write by hand (not through a builder) the way
    /// the builders do: a distress update, a case update or an agreement signature that every
    /// node's fleet would refuse is refused here, with the builder's error.
    pub fn vet(&self, now_ms: u64, draft: &Draft) -> Result<(), FleetError> {
        match &draft.body {
            Body::DistressUpdate {
                distress, status, ..
            } => self
                .answer_distress(now_ms, *distress, *status, "")
                .map(drop),
            Body::CaseUpdate { case, status, .. } => match status {
                CaseStatus::Accepted => self.accept_case(now_ms, *case).map(drop),
                s => self.mediator_step(*case, s.clone(), "").map(drop),
            },
            Body::AgreementSignature { case, agreement } => {
                let d = self.cosign(*case)?;
                match d.body {
                    Body::AgreementSignature { agreement: a, .. } if a == *agreement => Ok(()),
                    _ => Err(FleetError::NotTheProposedAgreement),
                }
            }
            Body::Pairing { partner, .. } if *partner == self.me => Err(FleetError::SelfPairing),
            Body::DisputeReport { parties, .. } if parties.len() > MAX_PARTIES => {
                Err(FleetError::TooManyParties)
            }
            Body::MediatorDuty { from, until, .. } if until <= from => Err(FleetError::EmptyDuty),
            _ => Ok(()),
        }
    }

    /// Keys revoked at `now_ms`.
    pub fn revoked_keys(&self, now_ms: u64) -> Vec<PublicKey> {
        self.trust.revoked_keys(secs(now_ms))
    }

    /// Last heard and last fix of a vessel.
    pub fn vessel(&self, key: &PublicKey) -> Option<Heard> {
        self.positions.get(key).copied()
    }

    /// Every vessel's last heard and last fix (revoked keys left out).
    pub fn vessels(&self, now_ms: u64) -> Vec<(PublicKey, Heard)> {
        self.positions
            .iter()
            .filter(|(k, _)| !self.trust.revoked(k, secs(now_ms)))
            .map(|(k, h)| (*k, *h))
            .collect()
    }

    /// Every pair that stands.
    pub fn pairs(&self) -> Vec<PairView> {
        self.pairs.all(&self.trust)
    }

    /// Our partners, with buddy-watch state.
    pub fn partners(&self, now_ms: u64) -> Vec<PartnerView> {
        self.pairs
            .partners(&self.me, &self.trust)
            .into_iter()
            .map(|(p, since)| {
                let heard = self.positions.get(&p);
                PartnerView {
                    partner: p,
                    name: self.trust.name(&p, secs(now_ms)),
                    since,
                    last_heard: heard.map(|h| h.last_heard),
                    fix: heard.and_then(|h| h.fix),
                    due: self.buddy_due(&p),
                    alarm: self.pairs.alarms.contains(&p),
                }
            })
            .collect()
    }

    /// Our partners silent beyond the buddy-watch interval at `now_ms`.
    pub fn overdue_partners(&self, now_ms: u64) -> Vec<PartnerView> {
        self.partners(now_ms)
            .into_iter()
            .filter(|p| p.due.is_some_and(|d| now_ms / 1000 >= d.secs()))
            .collect()
    }

    /// Buddy-watch reports received (shore's view), overdue first.
    pub fn buddy_reports(&self) -> Vec<BuddyReportView> {
        self.pairs.reports()
    }

    /// Every distress incident held, open or ended, oldest first.
    pub fn distress_incidents(&self, now_ms: u64) -> Vec<DistressView> {
        let ctx = self.ctx();
        let mut v: Vec<DistressView> = self
            .distress
            .authors()
            .flat_map(|a| {
                self.distress
                    .incidents(a, &self.trust)
                    .iter()
                    .map(|i| self.distress.view(a, i, now_ms / 1000, &ctx))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort_by_key(|d| (d.raised, d.incident));
        v
    }

    /// The open distress list: not resolved or cancelled, with who acknowledged, who is
    /// coming and the nearest vessels. Oldest first.
    pub fn open_distress(&self, now_ms: u64) -> Vec<DistressView> {
        self.distress_incidents(now_ms)
            .into_iter()
            .filter(|d| matches!(d.state, DistressState::Open | DistressState::Answered))
            .collect()
    }

    /// One incident, named by any of its alerts.
    pub fn distress(&self, now_ms: u64, id: &RecordId) -> Option<DistressView> {
        let author = self.distress.author_of(id)?;
        let inc = self.distress.incident_of(&author, id, &self.trust)?;
        Some(
            self.distress
                .view(&author, &inc, now_ms / 1000, &self.ctx()),
        )
    }

    /// Every mediator duty announcement held.
    pub fn duties(&self, now_ms: u64) -> Vec<DutyView> {
        self.mediation.duties(secs(now_ms), &self.trust)
    }

    /// Certified mediators on duty at `now_ms` for `category` whose areas hold `fix`.
    pub fn mediators_for(
        &self,
        now_ms: u64,
        category: DisputeCategory,
        fix: Option<&Fix>,
    ) -> Vec<PublicKey> {
        self.mediation
            .mediators_for(category, fix, secs(now_ms), &self.trust)
    }

    /// The mediation areas on duty at `now_ms` that hold `fix` (for `Destination::Mediators`).
    pub fn areas_at(&self, now_ms: u64, fix: &Fix) -> Vec<DutyArea> {
        self.mediation.areas_at(fix, secs(now_ms), &self.trust)
    }

    /// Every case held, newest first.
    pub fn cases(&self) -> Vec<CaseView> {
        self.mediation.views(&self.trust)
    }

    /// One case.
    pub fn case(&self, case: &RecordId) -> Option<CaseView> {
        self.mediation.view(case, &self.trust)
    }

    /// Our part in a case.
    pub fn case_role(&self, case: &RecordId) -> Option<CaseRole> {
        let v = self.mediation.view(case, &self.trust)?;
        self.mediation.role_of(&v, &self.me)
    }

    /// Case statistics over the cases held: open, accepted, closed, escalated, times to
    /// accept and to close, handled rate.
    pub fn case_stats(&self) -> CaseStats {
        self.mediation.stats(&self.trust)
    }
}

fn secs(now_ms: u64) -> Timestamp {
    Timestamp((now_ms / 1000).min(u64::from(u32::MAX)) as u32)
}
