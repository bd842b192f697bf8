//! What the mediation projection shows: duty announcements, cases and their statistics.

use haiqiao_proto::{
    CaseStatus, CategorySet, DailyHours, DisputeCategory, DutyArea, Escalation, Fix, KeyHint,
    PublicKey, RecordId, Timestamp,
};

/// A mediator's current announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DutyView {
    /// The mediator.
    pub mediator: PublicKey,
    /// Its certified name.
    pub name: Option<String>,
    /// Certified as a mediator now.
    pub certified: bool,
    /// On duty now (certified or not).
    pub on_duty: bool,
    /// Areas covered.
    pub areas: Vec<DutyArea>,
    /// Categories taken.
    pub categories: CategorySet,
    /// Period start.
    pub from: Timestamp,
    /// Period end.
    pub until: Timestamp,
    /// Daily hours (UTC).
    pub daily: DailyHours,
}

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseStage {
    /// Filed, not yet accepted.
    Filed,
    /// Accepted by a mediator.
    Accepted,
    /// In mediation.
    InMediation,
    /// An agreement is proposed and awaits signatures.
    AgreementProposed,
    /// Closed.
    Closed,
    /// Escalated.
    Escalated(Escalation),
}

impl CaseStage {
    /// Closed or escalated.
    pub fn finished(self) -> bool {
        matches!(self, CaseStage::Closed | CaseStage::Escalated(_))
    }
}

/// A party to a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyView {
    /// Vessel name as the report gives it.
    pub name: String,
    /// Its key hint, if the report gives one (only then can it co-sign).
    pub key: Option<KeyHint>,
    /// Whether it signed the proposed agreement.
    pub signed: bool,
}

/// A step of a case, as the mediator told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressView {
    /// When.
    pub at: Timestamp,
    /// The step.
    pub status: CaseStatus,
    /// The text.
    pub text: String,
}

/// The proposed agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementView {
    /// Its text.
    pub text: String,
    /// SHA-256 of the text: what parties sign.
    pub hash: [u8; 32],
    /// When it was proposed.
    pub proposed: Timestamp,
    /// Who signed it (the reporter and parties).
    pub signed_by: Vec<PublicKey>,
    /// How many signatures are missing.
    pub missing: usize,
}

/// A case, as every node shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseView {
    /// The case: the dispute report's id.
    pub case: RecordId,
    /// Who filed it.
    pub reporter: PublicKey,
    /// The reporter's certified name.
    pub reporter_name: Option<String>,
    /// What about.
    pub category: DisputeCategory,
    /// The parties named.
    pub parties: Vec<PartyView>,
    /// Whether the reporter signed the proposed agreement.
    pub reporter_signed: bool,
    /// Where.
    pub fix: Option<Fix>,
    /// What happened.
    pub description: String,
    /// Evidence hashes attached.
    pub evidence: usize,
    /// When it was filed.
    pub filed: Timestamp,
    /// The certified mediators on duty for it when it was filed.
    pub offered_to: Vec<PublicKey>,
    /// The mediator whose acceptance won.
    pub mediator: Option<PublicKey>,
    /// Its certified name.
    pub mediator_name: Option<String>,
    /// When it accepted.
    pub accepted: Option<Timestamp>,
    /// Mediators whose acceptance lost.
    pub other_acceptances: Vec<PublicKey>,
    /// The mediator's steps.
    pub progress: Vec<ProgressView>,
    /// The proposed agreement.
    pub agreement: Option<AgreementView>,
    /// Where it stands.
    pub stage: CaseStage,
    /// When it closed or was escalated.
    pub finished: Option<Timestamp>,
    /// Closed because every party signed (rather than by the mediator's word).
    pub closed_by_signatures: bool,
    /// Whether the mediator has posted a closing update.
    pub close_posted: bool,
}

/// Case statistics, as a shore station reports them, over the cases held.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseStats {
    /// Cases held.
    pub total: usize,
    /// Filed, not yet accepted.
    pub open: usize,
    /// Accepted and not yet finished (in mediation).
    pub accepted: usize,
    /// Closed.
    pub closed: usize,
    /// Escalated (coast guard or court).
    pub escalated: usize,
    /// Mean seconds from filing to acceptance, over accepted cases.
    pub mean_time_to_accept_s: Option<u64>,
    /// Median of the same.
    pub median_time_to_accept_s: Option<u64>,
    /// Mean seconds from filing to closing, over closed cases.
    pub mean_time_to_close_s: Option<u64>,
    /// Median of the same.
    pub median_time_to_close_s: Option<u64>,
    /// Share of cases handled (closed or escalated), 0 to 1; none without cases.
    pub handled_rate: Option<f64>,
}
