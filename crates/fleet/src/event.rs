//! What the fleet tells its driver: events (what a record changed) and actions (what to do).

use haiqiao_proto::{
    CaseStatus, DisputeCategory, DistressNature, DistressStatus, Escalation, Fix, PairAlertKind,
    PublicKey, RecordId, RevocationReason, Role, Timestamp,
};

use crate::draft::Draft;

/// Why a record takes no effect in the fleet's views. The record is still kept (and the mesh
/// still carries it); where trust that arrives later would change the answer (a certificate
/// for its author, say), the views take it into account then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// The author's key is revoked.
    Revoked,
    /// A certificate or revocation whose issuer is not a trusted authority.
    UntrustedIssuer,
    /// A case acceptance (or duty announcement) by a key not certified as a mediator.
    UncertifiedMediator,
    /// A mediator accepting a case in which it is a party.
    MediatorIsParty,
    /// A case update by someone other than the mediator whose acceptance won.
    NotTheMediator,
    /// An agreement signature by someone who is neither the reporter nor a named party.
    NotAParty,
    /// An agreement signature for a text other than the one proposed.
    NotTheProposedAgreement,
    /// A case update or signature after the case was closed or escalated.
    CaseFinished,
    /// A distress cancelled by someone other than its author.
    CancelNotByAuthor,
    /// A distress resolved by someone other than its author, a certified shore station or
    /// an authority.
    ResolveNotAuthorised,
    /// A receipt from a key not certified as a shore station: it frees nothing.
    UncertifiedShore,
    /// A vessel pairing with itself.
    SelfPairing,
    /// A vessel pairing beyond the most partners allowed.
    TooManyPartners,
    /// An update about a distress by its own author other than cancelled or resolved.
    OwnDistress,
}

impl Refusal {
    /// A lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Revoked => "revoked",
            Refusal::UntrustedIssuer => "untrusted_issuer",
            Refusal::UncertifiedMediator => "uncertified_mediator",
            Refusal::MediatorIsParty => "mediator_is_party",
            Refusal::NotTheMediator => "not_the_mediator",
            Refusal::NotAParty => "not_a_party",
            Refusal::NotTheProposedAgreement => "not_the_proposed_agreement",
            Refusal::CaseFinished => "case_finished",
            Refusal::CancelNotByAuthor => "cancel_not_by_author",
            Refusal::ResolveNotAuthorised => "resolve_not_authorised",
            Refusal::UncertifiedShore => "uncertified_shore",
            Refusal::SelfPairing => "self_pairing",
            Refusal::TooManyPartners => "too_many_partners",
            Refusal::OwnDistress => "own_distress",
        }
    }
}

/// This node's part in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CaseRole {
    /// We filed it.
    Reporter,
    /// We are named as a party.
    Party,
    /// We are its mediator (our acceptance won).
    Mediator,
    /// We are a mediator on duty for its area and category (it was offered to us).
    Offered,
}

/// What a record changed, as seen from this node. Returned by [`crate::Fleet::observe`].
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A record took no effect, and why.
    Refused {
        /// The record.
        id: RecordId,
        /// Its author.
        author: PublicKey,
        /// Why.
        reason: Refusal,
    },
    /// A trusted authority certified a key.
    Certified {
        /// The key.
        subject: PublicKey,
        /// The role.
        role: Role,
        /// The certified name.
        name: String,
    },
    /// A trusted authority (or the key itself) revoked a key.
    Revoked {
        /// The key.
        subject: PublicKey,
        /// Why.
        reason: RevocationReason,
    },
    /// A vessel asked another to pair; the pair stands once the other signs too.
    PairingRequested {
        /// Who asked.
        from: PublicKey,
        /// Whom.
        to: PublicKey,
    },
    /// Two vessels now form a pair.
    Paired {
        /// One vessel.
        a: PublicKey,
        /// The other.
        b: PublicKey,
    },
    /// A pair ended (one side left it).
    Unpaired {
        /// One vessel.
        a: PublicKey,
        /// The other.
        b: PublicKey,
    },
    /// A pair alert addressed to us.
    PairAlert {
        /// Who sent it.
        from: PublicKey,
        /// Whether the sender is our partner now.
        from_partner: bool,
        /// What happened.
        alert: PairAlertKind,
        /// Where.
        fix: Option<Fix>,
        /// The text.
        text: String,
    },
    /// Our partner was heard again while the buddy-watch alarm was up.
    PartnerHeard {
        /// The partner.
        partner: PublicKey,
    },
    /// A vessel reported its partner overdue, or heard again (shore's view).
    BuddyReport {
        /// The reporting vessel.
        from: PublicKey,
        /// Its partner.
        partner: PublicKey,
        /// Overdue (true) or heard again (false).
        overdue: bool,
        /// When the partner was last heard.
        last_heard: Option<Timestamp>,
        /// Its last known fix.
        fix: Option<Fix>,
    },
    /// A new distress.
    DistressRaised {
        /// The incident (its first distress record).
        incident: RecordId,
        /// The vessel in distress.
        author: PublicKey,
        /// Nature of distress.
        nature: DistressNature,
        /// Where.
        fix: Option<Fix>,
        /// Persons on board.
        persons: Option<u16>,
        /// Ours.
        mine: bool,
        /// Our rank among the vessels nearest to it (0 = nearest), if we are among them.
        nearest_rank: Option<usize>,
    },
    /// A repeat of an open distress.
    DistressRepeated {
        /// The incident.
        incident: RecordId,
        /// The newest fix.
        fix: Option<Fix>,
    },
    /// An update on a distress took effect.
    DistressUpdated {
        /// The incident.
        incident: RecordId,
        /// Who said it.
        by: PublicKey,
        /// What.
        status: DistressStatus,
        /// Its text.
        text: String,
    },
    /// A mediator announced its duty (areas, categories, hours).
    DutyAnnounced {
        /// The mediator.
        mediator: PublicKey,
        /// How many areas it covers (0: off duty).
        areas: usize,
    },
    /// A dispute was filed.
    DisputeFiled {
        /// The case (the report's id).
        case: RecordId,
        /// Who filed it.
        reporter: PublicKey,
        /// What about.
        category: DisputeCategory,
        /// Our part in it.
        my_role: Option<CaseRole>,
    },
    /// A case was accepted; the first certified acceptance wins and everyone is told.
    CaseAccepted {
        /// The case.
        case: RecordId,
        /// The mediator whose acceptance won.
        mediator: PublicKey,
        /// Our part in it.
        my_role: Option<CaseRole>,
    },
    /// Our acceptance of a case lost to an earlier one.
    AcceptanceLost {
        /// The case.
        case: RecordId,
        /// The mediator whose acceptance won.
        winner: PublicKey,
    },
    /// Progress on a case: in mediation, or an agreement proposed.
    CaseProgress {
        /// The case.
        case: RecordId,
        /// The step.
        status: CaseStatus,
        /// The text (for a proposal: the agreement to co-sign).
        text: String,
        /// Our part in it.
        my_role: Option<CaseRole>,
    },
    /// A party co-signed the proposed agreement.
    AgreementSigned {
        /// The case.
        case: RecordId,
        /// The signer.
        by: PublicKey,
        /// Signatures still missing.
        remaining: usize,
        /// Our part in it.
        my_role: Option<CaseRole>,
    },
    /// A case closed: every party signed, or the mediator closed it.
    CaseClosed {
        /// The case.
        case: RecordId,
        /// Closed by the parties' signatures (else by the mediator).
        by_signatures: bool,
        /// Our part in it.
        my_role: Option<CaseRole>,
    },
    /// A case was escalated.
    CaseEscalated {
        /// The case.
        case: RecordId,
        /// To the coast guard (95110) or a court.
        to: Escalation,
        /// Our part in it.
        my_role: Option<CaseRole>,
    },
}

/// Something the node should do now. Returned by [`crate::Fleet::poll`].
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Sign and submit a repeat of our unacknowledged distress.
    RepeatDistress {
        /// The incident.
        incident: RecordId,
        /// The repeat.
        draft: Draft,
    },
    /// Sound the buddy-watch alarm on board: the partner has been silent too long.
    RaiseBuddyAlarm {
        /// The silent partner.
        partner: PublicKey,
        /// When it was last heard.
        last_heard: Option<Timestamp>,
        /// Its last known fix.
        fix: Option<Fix>,
    },
    /// Silence the buddy-watch alarm: the partner was heard again, or the pair ended.
    ClearBuddyAlarm {
        /// The partner.
        partner: PublicKey,
    },
    /// Sign and submit a buddy-watch report to shore.
    AlertShore {
        /// The partner.
        partner: PublicKey,
        /// Overdue (true) or heard again (false).
        overdue: bool,
        /// The report.
        draft: Draft,
    },
    /// Sign and submit our pairing again before its record expires.
    RenewPairing {
        /// The partner.
        partner: PublicKey,
        /// The pairing.
        draft: Draft,
    },
    /// Sign and submit the update closing a case whose agreement every party signed (we
    /// are its mediator).
    CloseCase {
        /// The case.
        case: RecordId,
        /// The closing case update.
        draft: Draft,
    },
}

impl Action {
    /// The record to sign and submit, if the action has one.
    pub fn draft(&self) -> Option<&Draft> {
        match self {
            Action::RepeatDistress { draft, .. }
            | Action::AlertShore { draft, .. }
            | Action::RenewPairing { draft, .. }
            | Action::CloseCase { draft, .. } => Some(draft),
            Action::RaiseBuddyAlarm { .. } | Action::ClearBuddyAlarm { .. } => None,
        }
    }
}

/// The event of a record refused for `reason`.
pub(crate) fn refused(r: &haiqiao_proto::Record, reason: Refusal) -> Event {
    Event::Refused {
        id: r.id(),
        author: r.author(),
        reason,
    }
}
