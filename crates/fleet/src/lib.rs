//! haiqiao-fleet: what records mean to the people at sea — pairs and buddy watch, distress,
//! sea mediation, certificates and roles.
//!
//! A pure, deterministic core shared by the daemon and the simulator: no I/O, no clock, no
//! threads, no entropy. Time (`now_ms`, milliseconds since the Unix epoch) and a seed are
//! arguments; decisions come out as values. Feed a [`Fleet`] every verified record; it returns
//! [`Event`]s, answers views, and asks for [`Action`]s — records to sign (as [`Draft`]s) and
//! alarms to sound. The call order is written on [`Fleet`].
//!
//! - [`trust`]: authority keys as trust anchors, certificates and revocations (who may do
//!   what).
//! - `pairs`: pairs (both vessels sign) and buddy watch.
//! - `distress`: the distress lifecycle, repeats, the open-distress list.
//! - `mediation`: duty announcements, cases, agreements, statistics.
//!
//! Views are functions of the set of records held (and the time asked), never of the order
//! records arrived in; events are what changed with each record, judged with the trust known
//! at the time. A record refused for want of a certificate that arrives later takes effect in
//! the views then, without a second event.
//!
//! Hooks for the mesh engine: [`Fleet::receipt_counts`] (only certified shore stations'
//! receipts free copies), [`Fleet::is_trusted`] (uncertified authors get tighter quotas; a
//! distress is carried whatever its author), [`Fleet::is_revoked`], and the key lists
//! [`Fleet::certified_shore`] and [`Fleet::revoked_keys`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;
mod distress;
mod draft;
mod error;
mod event;
mod fleet;
pub mod geo;
mod mediation;
mod pairs;
mod positions;
mod rng;
pub mod trust;
mod voyage;

pub use config::FleetConfig;
pub use distress::{
    Acknowledger, DistressState, DistressView, MAX_DISTRESS_PER_AUTHOR, MAX_FOLDED_IDS, Nearby,
    Responder,
};
pub use draft::Draft;
pub use error::FleetError;
pub use event::{Action, CaseRole, Event, Refusal};
pub use fleet::Fleet;
pub use mediation::{
    AgreementView, CaseStage, CaseStats, CaseView, DutyView, PartyView, ProgressView,
};
pub use pairs::{BuddyReportView, PairView, PartnerView};
pub use positions::Heard;
pub use trust::TrustView;
pub use voyage::{
    ARRIVED_KM, MAX_OFF_COURSE_DEG, MIN_HOMEWARD_SOG_KN, Port, SkipperSays, VoyageSource,
    VoyageView,
};

#[cfg(test)]
mod tests;
