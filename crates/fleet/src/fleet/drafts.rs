//! The builders of `Fleet`: drafts of what people ask for, refused where every node's fleet
//! would refuse them.

use haiqiao_proto::{
    Body, CaseStatus, CategorySet, DailyHours, Destination, DisputeCategory, DistressNature,
    DistressStatus, DutyArea, Escalation, Fix, MAX_PARTIES, PairAlertKind, Party, PublicKey,
    RecordId, RevocationReason, Role, Timestamp, agreement_hash,
};

use super::{Fleet, secs};
use crate::draft::Draft;
use crate::error::FleetError;
use crate::event::Refusal;

impl Fleet {
    // -----------------------------------------------------------------------------------------
    // Drafts.

    pub(super) fn pairing_draft(&self, partner: PublicKey, paired: bool) -> Draft {
        Draft {
            dest: Destination::Everyone,
            ttl_min: self.cfg.pairing_ttl_min,
            body: Body::Pairing { partner, paired },
        }
    }

    pub(super) fn buddy_draft(
        &self,
        partner: PublicKey,
        overdue: bool,
        last_heard: Option<Timestamp>,
        fix: Option<Fix>,
    ) -> Draft {
        Draft {
            dest: Destination::Shore,
            ttl_min: self.cfg.buddy_report_ttl_min,
            body: Body::BuddyWatch {
                partner,
                overdue,
                last_heard,
                fix,
            },
        }
    }

    pub(super) fn case_draft(&self, case: RecordId, status: CaseStatus, text: &str) -> Draft {
        Draft {
            dest: Destination::Everyone,
            ttl_min: self.cfg.case_ttl_min,
            body: Body::CaseUpdate {
                case,
                status,
                text: text.to_owned(),
            },
        }
    }

    /// Our half of a pair with `partner` (the pair stands once the partner signs its half).
    pub fn pair_with(&self, partner: PublicKey) -> Result<Draft, FleetError> {
        if partner == self.me {
            return Err(FleetError::SelfPairing);
        }
        Ok(self.pairing_draft(partner, true))
    }

    /// Leaving the pair with `partner`.
    pub fn leave_pair(&self, partner: PublicKey) -> Result<Draft, FleetError> {
        if partner == self.me {
            return Err(FleetError::SelfPairing);
        }
        Ok(self.pairing_draft(partner, false))
    }

    /// A pair alert to our partner.
    pub fn pair_alert(
        &self,
        partner: PublicKey,
        alert: PairAlertKind,
        fix: Option<Fix>,
        text: &str,
    ) -> Result<Draft, FleetError> {
        if self
            .pairs
            .pair_since(&self.me, &partner, &self.trust)
            .is_none()
        {
            return Err(FleetError::NotPaired(partner.hint()));
        }
        Ok(Draft {
            dest: Destination::pair(self.me.hint(), partner.hint()),
            ttl_min: 6 * 60,
            body: Body::PairAlert {
                alert,
                fix: fix.or_else(|| self.own_fix()),
                text: text.to_owned(),
            },
        })
    }

    pub(super) fn own_fix(&self) -> Option<Fix> {
        self.positions.get(&self.me).and_then(|h| h.fix)
    }

    /// A distress alert; without a fix, our last known position goes.
    pub fn raise_distress(
        &self,
        nature: DistressNature,
        fix: Option<Fix>,
        persons: Option<u16>,
        text: &str,
    ) -> Draft {
        Draft {
            dest: Destination::Everyone,
            ttl_min: self.cfg.distress_ttl_min,
            body: Body::Distress {
                nature,
                fix: fix.or_else(|| self.own_fix()),
                persons,
                text: text.to_owned(),
            },
        }
    }

    /// An answer to a distress (acknowledged, responding with ETA, on scene, resolved) or,
    /// from its author, its cancellation.
    pub fn answer_distress(
        &self,
        now_ms: u64,
        incident: RecordId,
        status: DistressStatus,
        text: &str,
    ) -> Result<Draft, FleetError> {
        let author = self
            .distress
            .author_of(&incident)
            .ok_or(FleetError::UnknownDistress)?;
        let inc = self
            .distress
            .incident_of(&author, &incident, &self.trust)
            .ok_or(FleetError::UnknownDistress)?;
        if inc.end.is_some() {
            return Err(FleetError::DistressEnded);
        }
        let at = secs(now_ms);
        let mine = author == self.me;
        match status {
            DistressStatus::Cancelled if !mine => return Err(FleetError::NotTheAuthor),
            DistressStatus::Resolved
                if !mine
                    && !self.trust.has_role(&self.me, Role::Shore, at)
                    && !self.trust.has_role(&self.me, Role::Authority, at) =>
            {
                return Err(FleetError::NotAuthorised);
            }
            DistressStatus::Acknowledged
            | DistressStatus::Responding { .. }
            | DistressStatus::OnScene
                if mine =>
            {
                return Err(FleetError::OwnDistress);
            }
            _ => {}
        }
        Ok(Draft {
            dest: Destination::Everyone,
            ttl_min: self.cfg.distress_ttl_min,
            body: Body::DistressUpdate {
                distress: inc.id(),
                status,
                text: text.to_owned(),
            },
        })
    }

    /// A mediator's duty announcement (an empty `areas` announces going off duty).
    pub fn announce_duty(
        &self,
        now_ms: u64,
        areas: Vec<DutyArea>,
        categories: CategorySet,
        from: Timestamp,
        until: Timestamp,
        daily: DailyHours,
    ) -> Result<Draft, FleetError> {
        if until <= from {
            return Err(FleetError::EmptyDuty);
        }
        // Live until the period ends, within a record's limits.
        let ttl_min = until
            .secs()
            .saturating_sub(now_ms / 1000)
            .div_ceil(60)
            .clamp(1, u64::from(haiqiao_proto::MAX_TTL_MIN)) as u32;
        Ok(Draft {
            dest: Destination::Everyone,
            ttl_min,
            body: Body::MediatorDuty {
                areas,
                categories,
                from,
                until,
                daily,
            },
        })
    }

    /// A dispute report; without a fix, our last known position goes. Case records go to
    /// everyone: the parties must see progress and co-sign, mediators must see each other's
    /// acceptances, shore counts them, and a record has one destination.
    pub fn file_dispute(
        &self,
        category: DisputeCategory,
        parties: Vec<Party>,
        fix: Option<Fix>,
        description: &str,
        evidence: Vec<[u8; 32]>,
    ) -> Result<Draft, FleetError> {
        if parties.len() > MAX_PARTIES {
            return Err(FleetError::TooManyParties);
        }
        Ok(Draft {
            dest: Destination::Everyone,
            ttl_min: self.cfg.case_ttl_min,
            body: Body::DisputeReport {
                category,
                parties,
                fix: fix.or_else(|| self.own_fix()),
                description: description.to_owned(),
                evidence,
            },
        })
    }

    /// Our acceptance of a case (we must be a certified mediator, not a party, and nobody's
    /// acceptance may have won yet).
    pub fn accept_case(&self, now_ms: u64, case: RecordId) -> Result<Draft, FleetError> {
        self.accept_case_as(now_ms, case, self.me)
    }

    /// [`Fleet::accept_case`] for `who`: a mediator whose key this node holds on their behalf
    /// (a certified mediator ashore, taking calls through a shore station). Judged exactly
    /// as if `who` asked on their own node.
    pub fn accept_case_as(
        &self,
        now_ms: u64,
        case: RecordId,
        who: PublicKey,
    ) -> Result<Draft, FleetError> {
        let v = self.known_case(&case)?;
        if v.stage.finished() {
            return Err(FleetError::CaseFinished);
        }
        match self
            .mediation
            .acceptance_refusal(&case, &who, secs(now_ms), &self.trust)
        {
            Some(Refusal::MediatorIsParty) => return Err(FleetError::MediatorIsParty),
            Some(_) => return Err(FleetError::NotCertifiedMediator),
            None => {}
        }
        if let Some(m) = v.mediator
            && m != who
        {
            return Err(FleetError::AlreadyAccepted(m.hint()));
        }
        Ok(self.case_draft(case, CaseStatus::Accepted, "接案 case accepted"))
    }

    /// The case as this node sees it, or [`FleetError::UnknownCase`].
    fn known_case(&self, case: &RecordId) -> Result<crate::CaseView, FleetError> {
        self.mediation
            .view(case, &self.trust)
            .ok_or(FleetError::UnknownCase)
    }

    pub(super) fn mediator_step(
        &self,
        case: RecordId,
        status: CaseStatus,
        text: &str,
    ) -> Result<Draft, FleetError> {
        self.mediator_step_as(case, status, text, self.me)
    }

    /// A step (progress, agreement proposed, escalated, closed) in a case `who` mediates, for
    /// a mediator whose key this node holds on their behalf (see [`Fleet::accept_case_as`]).
    pub fn mediator_step_as(
        &self,
        case: RecordId,
        status: CaseStatus,
        text: &str,
        who: PublicKey,
    ) -> Result<Draft, FleetError> {
        let v = self.known_case(&case)?;
        if v.mediator != Some(who) {
            return Err(FleetError::NotTheMediator);
        }
        if v.stage.finished() {
            return Err(FleetError::CaseFinished);
        }
        Ok(self.case_draft(case, status, text))
    }

    /// Progress on a case we mediate.
    pub fn case_progress(&self, case: RecordId, text: &str) -> Result<Draft, FleetError> {
        self.mediator_step(case, CaseStatus::InMediation, text)
    }

    /// An agreement for the parties of a case we mediate to co-sign.
    pub fn propose_agreement(&self, case: RecordId, text: &str) -> Result<Draft, FleetError> {
        self.mediator_step(case, CaseStatus::AgreementProposed, text)
    }

    /// Escalation of a case we mediate to the coast guard (95110) or a court.
    pub fn escalate_case(
        &self,
        case: RecordId,
        to: Escalation,
        text: &str,
    ) -> Result<Draft, FleetError> {
        self.mediator_step(case, CaseStatus::Escalated(to), text)
    }

    /// Closing a case we mediate (e.g. settled on paper with a party who has no key).
    pub fn close_case(&self, case: RecordId, text: &str) -> Result<Draft, FleetError> {
        self.mediator_step(case, CaseStatus::Closed, text)
    }

    /// Our signature on the agreement proposed in a case we are a party to.
    pub fn cosign(&self, case: RecordId) -> Result<Draft, FleetError> {
        let v = self.known_case(&case)?;
        if !self.mediation.is_party(&case, &self.me) {
            return Err(FleetError::NotAParty);
        }
        if v.stage.finished() {
            return Err(FleetError::CaseFinished);
        }
        let a = v.agreement.ok_or(FleetError::NoAgreement)?;
        Ok(Draft {
            dest: Destination::Everyone,
            ttl_min: self.cfg.case_ttl_min,
            body: Body::AgreementSignature {
                case,
                agreement: agreement_hash(&a.text),
            },
        })
    }

    /// An authority's certificate for `subject` (for the authority's own node).
    #[allow(clippy::too_many_arguments)]
    pub fn certify(
        &self,
        subject: PublicKey,
        name: &str,
        registration: &str,
        mmsi: Option<u32>,
        role: Role,
        valid_from: Timestamp,
        valid_until: Timestamp,
    ) -> Draft {
        Draft {
            dest: Destination::Everyone,
            ttl_min: haiqiao_proto::MAX_TTL_MIN,
            body: Body::Certificate {
                subject,
                name: name.to_owned(),
                registration: registration.to_owned(),
                mmsi,
                role,
                valid_from,
                valid_until,
            },
        }
    }

    /// An authority's revocation of `subject`.
    pub fn revoke(&self, subject: PublicKey, reason: RevocationReason) -> Draft {
        Draft {
            dest: Destination::Everyone,
            ttl_min: haiqiao_proto::MAX_TTL_MIN,
            body: Body::Revocation { subject, reason },
        }
    }
}
