//! Why the fleet will not draft a record.

use haiqiao_proto::KeyHint;

/// Why a draft was refused (the record would be refused by every node's fleet, or makes no
/// sense).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// A configured trust anchor is not a valid public key in hex.
    #[error("trust anchor {0:?} is not a public key (64 hex digits)")]
    BadAnchor(String),
    /// A configured port has no valid position, or there are too many.
    #[error("port {0:?}: latitude within ±90, longitude within ±180, at most 64 ports")]
    BadPort(String),
    /// A vessel cannot pair with itself.
    #[error("a vessel cannot pair with itself")]
    SelfPairing,
    /// We are not paired with that vessel (its key hint).
    #[error("not paired with {0}")]
    NotPaired(KeyHint),
    /// No distress with that id is known here.
    #[error("unknown distress")]
    UnknownDistress,
    /// Only the distress's author may cancel it.
    #[error("only the vessel in distress may cancel it")]
    NotTheAuthor,
    /// Resolving takes the author, a certified shore station or an authority.
    #[error(
        "only the vessel in distress, a certified shore station or an authority may resolve it"
    )]
    NotAuthorised,
    /// The vessel in distress acknowledges nothing of its own.
    #[error("the vessel in distress can only cancel or resolve its own distress")]
    OwnDistress,
    /// The distress has already ended (resolved or cancelled).
    #[error("the distress has ended")]
    DistressEnded,
    /// No case with that id is known here.
    #[error("unknown case")]
    UnknownCase,
    /// Accepting a case takes a certified mediator.
    #[error("not a certified mediator")]
    NotCertifiedMediator,
    /// A mediator cannot take a case it is a party to.
    #[error("a mediator cannot take a case it is a party to")]
    MediatorIsParty,
    /// Another mediator's acceptance won (its key hint).
    #[error("already accepted by {0}")]
    AlreadyAccepted(KeyHint),
    /// Only the case's mediator may update it.
    #[error("not this case's mediator")]
    NotTheMediator,
    /// The case was closed or escalated.
    #[error("the case is closed or escalated")]
    CaseFinished,
    /// Only the reporter and the named parties co-sign.
    #[error("not a party to the case")]
    NotAParty,
    /// An agreement signature for a text other than the one proposed.
    #[error("that is not the agreement proposed")]
    NotTheProposedAgreement,
    /// Nothing to co-sign yet.
    #[error("no agreement has been proposed")]
    NoAgreement,
    /// A dispute names at most `MAX_PARTIES` parties.
    #[error("too many parties")]
    TooManyParties,
    /// A duty announcement needs a period that ends after it starts.
    #[error("duty must end after it starts")]
    EmptyDuty,
}
