//! Every record kind, in one table: its wire code, its name, the module that holds all else
//! about it, and the shape of its body.
//!
//! Each kind's module (`position.rs`, `distress.rs`, ...) holds, in one place, what the rest of
//! the workspace needs of that kind: its priority class and the classes it may be sealed at
//! (`priority`, `SEALED_AS`), its CBOR form (`encode`, `decode`, through the codec's helpers;
//! docs/protocol.md describes the bytes), its JSON view for people and the control API
//! (`view`, in two forms: for people, and as on the wire for the test vectors), and
//! a typical sample record (`sample`). `record_kinds!` turns the table into [`Kind`],
//! [`Body`] and the dispatch from one to the other; no other code needs an arm for every kind
//! (the fleet and the node match on the kinds they give meaning to and let the others be).
//!
//! To add a kind, see ARCHITECTURE.md, "How to add a record kind".
//!
//! Modelled on the frame tables of protocol crates (quinn-proto's `frame_types!`, h2's frame
//! kinds): the numbers live in one table, so a code cannot be given twice or forgotten in a
//! match.

use serde_json::Value as J;

use crate::codec::{In, Item};
use crate::error::RecordError;
use crate::identity::{KeyHint, PublicKey};
use crate::types::*;
use crate::{Envelope, seal};

mod agreement_signature;
mod buddy_watch;
mod case_update;
mod certificate;
mod dispute_report;
mod distress;
mod distress_update;
mod mediator_duty;
mod pair_alert;
mod pairing;
mod position;
mod receipt;
mod revocation;
mod sealed;
mod text;
pub mod views;

/// Writes [`Kind`], [`Body`] and their dispatch from the table below. A row: the kind's docs,
/// its wire code, its variant, its name, its module, then the docs of its body and, after `body`, its shape.
macro_rules! record_kinds {
    ($(
        $(#[$kdoc:meta])*
        $code:literal $K:ident $name:literal $m:ident
        $(#[$bdoc:meta])*
        body $shape:tt
    ),* $(,)?) => {
        /// Record kinds and their numbers on the wire.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        #[repr(u8)]
        pub enum Kind {
            $( $(#[$kdoc])* $K = $code, )*
        }

        impl Kind {
            /// Every kind, in wire order.
            pub const ALL: [Kind; [$($code),*].len()] = [$(Kind::$K),*];

            /// The kind with this wire number.
            pub fn from_u64(n: u64) -> Option<Kind> {
                Kind::ALL.iter().copied().find(|k| *k as u64 == n)
            }

            /// A snake_case name, as used in JSON and the bench output.
            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$K => $name,)*
                }
            }

            /// The priority classes a sealed record of this kind may declare: those a plain
            /// record of the kind has. Empty where the kind is never sealed.
            pub fn sealed_as(self) -> &'static [Priority] {
                match self {
                    $(Kind::$K => $m::SEALED_AS,)*
                }
            }
        }

        /// A record's body: one variant per [`Kind`].
        #[derive(Clone, PartialEq, Eq, Hash, Debug)]
        pub enum Body {
            $( $(#[$bdoc])* $K $shape, )*
        }

        impl Body {
            /// The kind of this body.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Body::$K { .. } => Kind::$K,)*
                }
            }

            /// The priority class of this body.
            pub fn priority(&self) -> Priority {
                match self.kind() {
                    $(Kind::$K => $m::priority(self),)*
                }
            }

            /// The body as JSON for people and the control API (names, degrees, hex ids).
            pub fn view(&self) -> J {
                match self.kind() {
                    $(Kind::$K => $m::view(self, Form::People),)*
                }
            }

            /// The body as the test vectors show it: the codes and numbers on the wire, bytes
            /// as hex, packed fixes beside their fields.
            pub fn wire_view(&self) -> J {
                match self.kind() {
                    $(Kind::$K => $m::view(self, Form::Wire),)*
                }
            }
        }

        /// The body's CBOR item.
        pub(crate) fn encode(b: &Body) -> Result<Item, RecordError> {
            match b.kind() {
                $(Kind::$K => $m::encode(b),)*
            }
        }

        /// A body of `kind` from its CBOR item.
        pub(crate) fn decode(kind: Kind, v: In<'_>) -> Result<Body, RecordError> {
            match kind {
                $(Kind::$K => $m::decode(v),)*
            }
        }

        /// A typical record of `kind` (see [`crate::samples`]).
        pub(crate) fn sample(kind: Kind, s: &Sample) -> Envelope {
            match kind {
                $(Kind::$K => $m::sample(s),)*
            }
        }
    };
}

record_kinds! {
    /// A vessel's position fix.
    0 Position "position" position
        /// A position fix.
        body (Fix),
    /// An alert between the two boats of a pair.
    1 PairAlert "pair_alert" pair_alert
        /// A pair alert.
        body {
            /// What happened.
            alert: PairAlertKind,
            /// Where, if known.
            fix: Option<Fix>,
            /// A short text.
            text: String,
        },
    /// A distress or mutual-aid call.
    2 Distress "distress" distress
        /// A distress or mutual-aid call.
        body {
            /// DSC nature code.
            nature: DistressNature,
            /// Where, if known.
            fix: Option<Fix>,
            /// Persons on board, if known.
            persons: Option<u16>,
            /// A short text.
            text: String,
        },
    /// Acknowledgement, response, on scene, resolved or cancelled, for a distress.
    3 DistressUpdate "distress_update" distress_update
        /// An update on a distress.
        body {
            /// The distress record.
            distress: RecordId,
            /// What the author says.
            status: DistressStatus,
            /// A short text.
            text: String,
        },
    /// A dispute filed with the mediators.
    4 DisputeReport "dispute_report" dispute_report
        /// A dispute report.
        body {
            /// What the dispute is about.
            category: DisputeCategory,
            /// The other parties.
            parties: Vec<Party>,
            /// Where, if known.
            fix: Option<Fix>,
            /// What happened.
            description: String,
            /// SHA-256 hashes of evidence (photos, logs) kept elsewhere.
            evidence: Vec<[u8; 32]>,
        },
    /// A mediator's update on a case.
    5 CaseUpdate "case_update" case_update
        /// A mediator's update on a case.
        body {
            /// The dispute report that opened the case.
            case: RecordId,
            /// The step.
            status: CaseStatus,
            /// Progress text, or the agreement's text for [`CaseStatus::AgreementProposed`].
            text: String,
        },
    /// A party's signature on a proposed agreement.
    6 AgreementSignature "agreement_signature" agreement_signature
        /// A party's signature on an agreement.
        body {
            /// The dispute report that opened the case.
            case: RecordId,
            /// SHA-256 of the agreement's text (UTF-8) as proposed.
            agreement: [u8; 32],
        },
    /// A shore station's receipt for records that reached shore.
    7 Receipt "receipt" receipt
        /// A shore station's receipt.
        body {
            /// Records that reached shore.
            ids: Vec<RecordId>,
        },
    /// An authority binding a key to a vessel, role and validity.
    8 Certificate "certificate" certificate
        /// A certificate.
        body {
            /// The certified key.
            subject: PublicKey,
            /// Vessel or station name, UTF-8.
            name: String,
            /// Registration number (e.g. 浙岱渔03315), possibly empty.
            registration: String,
            /// MMSI if the vessel has one.
            mmsi: Option<u32>,
            /// Role.
            role: Role,
            /// Valid from.
            valid_from: Timestamp,
            /// Valid until.
            valid_until: Timestamp,
        },
    /// An authority withdrawing a key.
    9 Revocation "revocation" revocation
        /// A revocation.
        body {
            /// The revoked key.
            subject: PublicKey,
            /// Why.
            reason: RevocationReason,
        },
    /// A short text message.
    10 Text "text" text
        /// A text message (to a node, a pair or a group, as the destination says).
        body {
            /// The text.
            text: String,
            /// Whether it is a safety message (sent with pair-alert priority).
            safety: bool,
        },
    /// A vessel's statement that it pairs with (or leaves) a partner vessel; a pair exists
    /// when both have signed one naming the other.
    11 Pairing "pairing" pairing
        /// A vessel pairs with a partner (`paired`) or leaves the pair (not `paired`).
        body {
            /// The partner vessel's key.
            partner: PublicKey,
            /// True to pair, false to leave the pair.
            paired: bool,
        },
    /// A vessel telling shore that its pair partner has gone silent (or is heard again).
    12 BuddyWatch "buddy_watch" buddy_watch
        /// A vessel tells shore that its pair partner is overdue, or heard again.
        body {
            /// The partner vessel's key.
            partner: PublicKey,
            /// True: overdue (the alarm is raised); false: heard again (the alarm cleared).
            overdue: bool,
            /// When the partner was last heard (the newest record it wrote), if ever.
            last_heard: Option<Timestamp>,
            /// The partner's last known fix.
            fix: Option<Fix>,
        },
    /// A mediator's announcement of the areas, dispute categories and hours it is on duty.
    13 MediatorDuty "mediator_duty" mediator_duty
        /// A mediator's duty announcement; it replaces the mediator's earlier ones.
        body {
            /// The areas covered (none: off duty).
            areas: Vec<DutyArea>,
            /// The categories of dispute taken.
            categories: CategorySet,
            /// Start of the period the announcement covers.
            from: Timestamp,
            /// End of that period (after `from`).
            until: Timestamp,
            /// Hours on duty each day within the period.
            daily: DailyHours,
        },
    /// A record of another kind encrypted to its readers (see [`crate::seal`]): relays see its
    /// inner kind and priority, not what it says.
    14 Sealed "sealed" sealed
        /// A record of a sealable kind, encrypted to its readers ([`crate::seal`]).
        body (seal::Sealed),
}

impl Kind {
    /// The kind with this name.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == s)
    }
}

/// Which JSON view of a body: for people (names, degrees, hex ids: the control API's), or as
/// on the wire (codes and numbers as encoded, bytes as hex: the test vectors').
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Form {
    /// [`Body::view`].
    People,
    /// [`Body::wire_view`].
    Wire,
}

/// What a sample record is made from (see [`crate::samples::envelope`]).
pub(crate) struct Sample {
    /// Its author.
    pub(crate) author: KeyHint,
    /// The author's partner (pair alerts, texts, disputes).
    pub(crate) partner: KeyHint,
    /// Its sequence number, which also moves its fix.
    pub(crate) seq: u64,
    /// Its creation time, seconds since the epoch.
    pub(crate) now: u64,
}

impl Sample {
    /// The sample envelope of this body.
    pub(crate) fn envelope(&self, dest: Destination, ttl_min: u32, body: Body) -> Envelope {
        Envelope {
            author: self.author,
            seq: self.seq,
            created: Timestamp(self.now as u32),
            ttl_min,
            dest,
            body,
        }
    }

    /// The sample fix for this sequence number.
    pub(crate) fn fix(&self) -> Fix {
        crate::samples::fix(self.seq)
    }
}

/// What a kind's module returns when handed the body of another kind. The table dispatches by
/// [`Body::kind`], so this is never returned; it is an error rather than a panic because this
/// crate never panics on its input.
pub(crate) fn other_kind() -> RecordError {
    RecordError::Malformed("body of another kind")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyRing, Keypair, Record, Unverified};

    /// What the table promises of every row, so that a new kind is checked as soon as it has a
    /// row and a module: its code and name look it up, its sample signs, decodes and verifies
    /// to the same envelope, and both views show it.
    #[test]
    fn every_kind_in_the_table_round_trips() {
        let author = Keypair::from_seed(&[0x11; 32]);
        let partner = Keypair::from_seed(&[0x22; 32]).public().hint();
        let mut ring = KeyRing::new(4);
        ring.insert(author.public());
        let now = 1_795_000_000;
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(
                kind as usize, i,
                "kinds are numbered densely, in table order"
            );
            assert_eq!(Kind::from_u64(kind as u64), Some(kind));
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
            let env = crate::samples::envelope(kind, author.public().hint(), partner, 7, now);
            assert_eq!(env.body.kind(), kind);
            let r = Record::sign(&author, env.clone()).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let back = Unverified::decode(r.bytes())
                .and_then(|u| u.verify(&ring, now))
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(back.envelope(), &env, "{kind:?}");
            assert!(back.body().view().is_object(), "{kind:?}");
            assert!(back.body().wire_view().is_object(), "{kind:?}");
            let sealable = crate::seal::sealable(kind);
            assert_eq!(
                sealable,
                kind.sealed_as().contains(&env.body.priority()),
                "{kind:?}"
            );
        }
        assert_eq!(Kind::from_u64(Kind::ALL.len() as u64), None);
    }

    #[test]
    fn a_module_handed_another_kind_refuses_it() {
        let text = Body::Text {
            text: String::new(),
            safety: true,
        };
        assert_eq!(position::encode(&text), Err(other_kind()));
        assert_eq!(position::view(&text, Form::People), J::Null);
        assert_eq!(text::priority(&text), Priority::Safety);
    }
}
