//! `Fleet::observe`: what each record changes, one method per kind the fleet gives meaning to.

use haiqiao_proto::{
    Body, CaseStatus, DistressNature, DistressStatus, Fix, PairAlertKind, PublicKey, Record,
    RecordId, Timestamp,
};

use super::Fleet;
use crate::distress::Stored;
use crate::event::{Event, Refusal, refused};
use crate::geo::fix_time;
use crate::mediation::CaseView;
use crate::pairs::report_view;
use crate::rng::{SplitMix64, fold_id};
use crate::trust::TrustChange;

impl Fleet {
    // -----------------------------------------------------------------------------------------
    // Input.

    /// Takes in a verified record and says what it changed. Observing a record twice changes
    /// nothing the second time.
    pub fn observe(&mut self, now_ms: u64, r: &Record) -> Vec<Event> {
        let mut out = Vec::new();
        self.observe_heard(now_ms, r, &mut out);
        match r.body() {
            Body::Certificate {
                subject,
                role,
                name,
                ..
            } => {
                let certified = Event::Certified {
                    subject: *subject,
                    role: *role,
                    name: name.clone(),
                };
                self.observe_trust(r, certified, &mut out);
            }
            Body::Revocation { subject, reason } => {
                let revoked = Event::Revoked {
                    subject: *subject,
                    reason: *reason,
                };
                self.observe_trust(r, revoked, &mut out);
            }
            Body::Pairing { partner, paired } => {
                self.pairs
                    .observe(r, *partner, *paired, &self.trust, &mut out);
            }
            Body::PairAlert { alert, fix, text } => {
                self.observe_pair_alert(r, *alert, *fix, text, &mut out);
            }
            Body::BuddyWatch {
                partner,
                overdue,
                last_heard,
                fix,
            } => self.observe_buddy_report(r, *partner, *overdue, *last_heard, *fix, &mut out),
            Body::Distress {
                nature,
                fix,
                persons,
                text,
            } => self.observe_distress(now_ms, r, *nature, *fix, *persons, text, &mut out),
            Body::DistressUpdate {
                distress,
                status,
                text,
            } => self.observe_distress_update(r, *distress, *status, text, &mut out),
            Body::MediatorDuty {
                areas,
                categories,
                from,
                until,
                daily,
            } => self.mediation.observe_duty(
                r,
                areas,
                *categories,
                *from,
                *until,
                *daily,
                &self.trust,
                &mut out,
            ),
            Body::DisputeReport { .. } => self.observe_dispute(r, &mut out),
            Body::CaseUpdate { case, status, text } => {
                self.observe_case_update(r, *case, status, text, &mut out);
            }
            Body::AgreementSignature { case, agreement } => {
                self.observe_signature(r, *case, agreement, &mut out);
            }
            Body::Receipt { .. } if !self.receipt_counts(r) => {
                out.push(refused(r, Refusal::UncertifiedShore));
            }
            // Receipts that count, positions and texts mean nothing beyond who was heard where
            // (above); a sealed
            // record reaches the fleet only where this node is not among its readers (the node
            // opens the others first): it says nothing the fleet could act on. A kind the
            // fleet has not been taught means nothing to it either.
            _ => {}
        }
        out
    }

    /// Who was heard, where, and when; our own voyage from our own positions; a partner under
    /// the buddy-watch alarm heard again.
    fn observe_heard(&mut self, now_ms: u64, r: &Record, out: &mut Vec<Event>) {
        let author = r.author();
        let created = r.envelope().created;
        // The fixes that say where the author is (a dispute's is where it happened, a buddy
        // report's where the partner was).
        let own_fix = match r.body() {
            Body::Position(f) => Some(f),
            Body::Distress { fix, .. } | Body::PairAlert { fix, .. } => fix.as_ref(),
            _ => None,
        };
        let advanced = self.positions.heard(author, created, own_fix);
        if author == self.me
            && let Body::Position(f) = r.body()
        {
            self.voyage
                .own_fix(u64::from(fix_time(created, f).0) * 1000, f);
        }
        if advanced && self.pairs.alarms.contains(&author) && !self.overdue(&author, now_ms) {
            out.push(Event::PartnerHeard { partner: author });
        }
    }

    /// A certificate or revocation: `counts` if its issuer is trusted.
    fn observe_trust(&mut self, r: &Record, counts: Event, out: &mut Vec<Event>) {
        match self.trust.observe(r) {
            TrustChange::Counts => out.push(counts),
            TrustChange::Untrusted => out.push(refused(r, Refusal::UntrustedIssuer)),
            TrustChange::Nothing => {}
        }
    }

    fn observe_pair_alert(
        &mut self,
        r: &Record,
        alert: PairAlertKind,
        fix: Option<Fix>,
        text: &str,
        out: &mut Vec<Event>,
    ) {
        let author = r.author();
        if author == self.me || !r.envelope().dest.names(&self.me.hint()) {
            return;
        }
        if self.trust.revoked(&author, r.envelope().created) {
            out.push(refused(r, Refusal::Revoked));
        } else {
            out.push(Event::PairAlert {
                from: author,
                from_partner: self
                    .pairs
                    .pair_since(&self.me, &author, &self.trust)
                    .is_some(),
                alert,
                fix,
                text: text.to_owned(),
            });
        }
    }

    fn observe_buddy_report(
        &mut self,
        r: &Record,
        partner: PublicKey,
        overdue: bool,
        last_heard: Option<Timestamp>,
        fix: Option<Fix>,
        out: &mut Vec<Event>,
    ) {
        let author = r.author();
        let created = r.envelope().created;
        let v = report_view(author, partner, overdue, last_heard, fix, created, r.id());
        if !self.pairs.observe_report(r, v) {
            return;
        }
        if self.trust.revoked(&author, created) {
            out.push(refused(r, Refusal::Revoked));
        } else {
            out.push(Event::BuddyReport {
                from: author,
                partner,
                overdue,
                last_heard,
                fix,
            });
        }
    }

    fn observe_dispute(&mut self, r: &Record, out: &mut Vec<Event>) {
        if self.mediation.observe_report(r) {
            self.mediation.evict_cases(&self.trust, &r.id());
            if let Some(after) = self.mediation.view(&r.id(), &self.trust) {
                self.case_events(None, &after, out);
            }
        }
    }

    fn observe_distress_update(
        &mut self,
        r: &Record,
        distress: RecordId,
        status: DistressStatus,
        text: &str,
        out: &mut Vec<Event>,
    ) {
        let Some((incident, verdict)) =
            self.distress
                .observe_update(r, distress, status, text, &self.trust)
        else {
            return;
        };
        match verdict {
            Ok(()) => out.push(Event::DistressUpdated {
                incident,
                by: r.author(),
                status,
                text: text.to_owned(),
            }),
            Err(reason) => out.push(refused(r, reason)),
        }
    }

    fn observe_case_update(
        &mut self,
        r: &Record,
        case: RecordId,
        status: &CaseStatus,
        text: &str,
        out: &mut Vec<Event>,
    ) {
        let before = self.mediation.view(&case, &self.trust);
        if self.mediation.observe_update(r, case, status, text)
            && let Some(after) = self.mediation.view(&case, &self.trust)
        {
            if let Some(reason) = self.update_refusal(r, status, &after) {
                out.push(refused(r, reason));
            }
            self.case_events(before.as_ref(), &after, out);
        }
    }

    fn observe_signature(
        &mut self,
        r: &Record,
        case: RecordId,
        agreement: &[u8; 32],
        out: &mut Vec<Event>,
    ) {
        let before = self.mediation.view(&case, &self.trust);
        if self.mediation.observe_signature(r, case, *agreement)
            && let Some(after) = self.mediation.view(&case, &self.trust)
        {
            if let Some(reason) = self.signature_refusal(r, agreement, &after) {
                out.push(refused(r, reason));
            }
            self.case_events(before.as_ref(), &after, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn observe_distress(
        &mut self,
        now_ms: u64,
        r: &Record,
        nature: DistressNature,
        fix: Option<Fix>,
        persons: Option<u16>,
        text: &str,
        out: &mut Vec<Event>,
    ) {
        let author = r.author();
        let stored =
            self.distress
                .observe_distress(r, nature, fix, persons, text, &self.me, &self.trust);
        let incident = match stored {
            Stored::Duplicate => return,
            Stored::Raised => {
                let nearest_rank = fix.and_then(|f| {
                    let ctx = self.ctx();
                    let now_s = now_ms / 1000;
                    crate::distress::nearest(&f, &author, now_s, &ctx)
                        .iter()
                        .position(|n| n.key == self.me)
                });
                out.push(Event::DistressRaised {
                    incident: r.id(),
                    author,
                    nature,
                    fix,
                    persons,
                    mine: author == self.me,
                    nearest_rank,
                });
                r.id()
            }
            Stored::Repeat(incident) => {
                out.push(Event::DistressRepeated { incident, fix });
                incident
            }
        };
        if author == self.me {
            // Repeat from this alert's time; a later alert of ours resets the wait.
            let from_ms = r.envelope().created.secs() * 1000;
            let mut rng = SplitMix64::new(self.seed ^ fold_id(&incident) ^ fold_id(&r.id()));
            let due = from_ms + self.repeat_wait_ms(&mut rng);
            if self.repeat_due_ms.is_none_or(|d| d < due) {
                self.repeat_due_ms = Some(due);
            }
        }
    }

    pub(super) fn repeat_wait_ms(&self, rng: &mut SplitMix64) -> u64 {
        let lo = u64::from(self.cfg.distress_repeat_min_s) * 1000;
        let hi = u64::from(self.cfg.distress_repeat_max_s) * 1000;
        rng.between(lo, hi.max(lo))
    }

    fn update_refusal(&self, r: &Record, status: &CaseStatus, after: &CaseView) -> Option<Refusal> {
        let author = r.author();
        let created = r.envelope().created;
        if *status == CaseStatus::Accepted {
            return self
                .mediation
                .acceptance_refusal(&after.case, &author, created, &self.trust);
        }
        if self.trust.revoked(&author, created) {
            return Some(Refusal::Revoked);
        }
        match after.mediator {
            Some(m) if m != author => Some(Refusal::NotTheMediator),
            Some(_) => {
                let closing_post = *status == CaseStatus::Closed && after.closed_by_signatures;
                after
                    .finished
                    .filter(|t| created > *t && !closing_post)
                    .map(|_| Refusal::CaseFinished)
            }
            None => None,
        }
    }

    fn signature_refusal(&self, r: &Record, hash: &[u8; 32], after: &CaseView) -> Option<Refusal> {
        let author = r.author();
        let created = r.envelope().created;
        if self.trust.revoked(&author, created) {
            Some(Refusal::Revoked)
        } else if !self.mediation.is_party(&after.case, &author) {
            Some(Refusal::NotAParty)
        } else if after.finished.is_some_and(|t| created > t) {
            Some(Refusal::CaseFinished)
        } else if after.agreement.as_ref().is_some_and(|a| a.hash != *hash) {
            Some(Refusal::NotTheProposedAgreement)
        } else {
            None
        }
    }

    /// Events for the change of a case from `before` to `after`.
    fn case_events(&mut self, before: Option<&CaseView>, after: &CaseView, out: &mut Vec<Event>) {
        let me = self.me;
        let my_role = self.mediation.role_of(after, &me);
        let case = after.case;
        if after.mediator == Some(me) {
            self.mediation.mine.insert(case);
        } else {
            self.mediation.mine.remove(&case);
        }
        if before.is_none() {
            out.push(Event::DisputeFiled {
                case,
                reporter: after.reporter,
                category: after.category,
                my_role,
            });
        }
        let b_mediator = before.and_then(|b| b.mediator);
        if after.mediator != b_mediator
            && let Some(m) = after.mediator
        {
            out.push(Event::CaseAccepted {
                case,
                mediator: m,
                my_role,
            });
        }
        let lost = |v: &CaseView| v.other_acceptances.contains(&me) && v.mediator != Some(me);
        if lost(after)
            && (before.is_none_or(|b| !lost(b)) || after.mediator != b_mediator)
            && let Some(winner) = after.mediator
        {
            out.push(Event::AcceptanceLost { case, winner });
        }
        let empty = Vec::new();
        let b_progress = before.map_or(&empty, |b| &b.progress);
        for p in &after.progress {
            let told = matches!(p.status, CaseStatus::Closed | CaseStatus::Escalated(_));
            if !told && !b_progress.contains(p) {
                out.push(Event::CaseProgress {
                    case,
                    status: p.status.clone(),
                    text: p.text.clone(),
                    my_role,
                });
            }
        }
        if let Some(a) = &after.agreement {
            let b_signed: &[PublicKey] = before
                .and_then(|b| b.agreement.as_ref())
                .filter(|b| b.hash == a.hash)
                .map_or(&[], |b| &b.signed_by);
            for s in &a.signed_by {
                if !b_signed.contains(s) {
                    out.push(Event::AgreementSigned {
                        case,
                        by: *s,
                        remaining: a.missing,
                        my_role,
                    });
                }
            }
        }
        let was_finished = before.is_some_and(|b| b.stage.finished());
        if !was_finished {
            match after.stage {
                crate::CaseStage::Closed => out.push(Event::CaseClosed {
                    case,
                    by_signatures: after.closed_by_signatures,
                    my_role,
                }),
                crate::CaseStage::Escalated(to) => {
                    out.push(Event::CaseEscalated { case, to, my_role })
                }
                _ => {}
            }
        }
    }
}
