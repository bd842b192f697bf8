//! What records are made of: ids, times, priority classes, destinations, fixes and the coded
//! values of bodies. The kinds and their bodies are in [`crate::kinds`], one file per kind.

use std::fmt;

use crate::identity::KeyHint;
pub use crate::kinds::{Body, Kind};

/// Seconds since the Unix epoch (UTC). Records carry 32-bit times: good until 2106.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Timestamp(pub u32);

impl Timestamp {
    /// Seconds since the epoch as u64.
    pub fn secs(self) -> u64 {
        u64::from(self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Length of a record id in bytes.
pub const RECORD_ID_LEN: usize = 16;

/// A record's id: the first 16 bytes of SHA-256 over the exact envelope bytes that were signed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub [u8; RECORD_ID_LEN]);

impl RecordId {
    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; RECORD_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", hex::encode(&self.0[..6]))
    }
}
impl std::str::FromStr for RecordId {
    type Err = crate::RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = crate::RecordError::InvalidField {
            field: "record id",
            reason: "expected 32 hex digits",
        };
        let bytes = hex::decode(s).map_err(|_| bad.clone())?;
        Ok(RecordId(bytes.try_into().map_err(|_| bad)?))
    }
}

/// An enum of wire codes: each value's code on the wire and its snake_case name (as in JSON and
/// on the command line) are written once, in the invocation. Gives `ALL` (wire order), `NAMED`
/// (name and value), `code`, `from_code`, `name` and `from_name`.
macro_rules! coded_enum {
    (
        $(#[$m:meta])*
        pub enum $E:ident {
            $( $(#[$vm:meta])* $V:ident = $code:literal $name:literal, )*
        }
    ) => {
        $(#[$m])*
        pub enum $E {
            $( $(#[$vm])* $V = $code, )*
        }

        impl $E {
            /// Every value, in wire order.
            pub const ALL: [$E; [$($code),*].len()] = [$($E::$V),*];
            /// Every value with its name, in wire order.
            pub const NAMED: [(&'static str, $E); [$($code),*].len()] = [$(($name, $E::$V)),*];

            /// The code on the wire.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The value with this code on the wire.
            pub fn from_code(n: u64) -> Option<$E> {
                Self::ALL.iter().copied().find(|v| u64::from(v.code()) == n)
            }

            /// A snake_case name, as used in JSON and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $($E::$V => $name,)*
                }
            }

            /// The value with this name.
            pub fn from_name(s: &str) -> Option<$E> {
                Self::ALL.iter().copied().find(|v| v.name() == s)
            }
        }
    };
}

coded_enum! {
    /// Priority classes, most urgent first. They order what a contact sends first and what a
    /// full store evicts last (design §3).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
    pub enum Priority {
        /// Distress and its updates: never evicted for a lower class.
        Distress = 0 "distress",
        /// Pair alerts, buddy-watch alerts and safety texts.
        Safety = 1 "safety",
        /// Receipts, certificates, revocations and pairings.
        Control = 2 "control",
        /// Dispute reports, case updates, agreement signatures, mediator duty announcements.
        Case = 3 "case",
        /// Positions and ordinary texts.
        Routine = 4 "routine",
    }
}

/// An opaque mediation-area number (areas are configured and announced by mediators).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AreaId(pub u32);

/// A named group of nodes for texts (e.g. a village's boats).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct GroupId(pub u32);

/// Where a record is going.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Destination {
    /// Every node (positions, distress, certificates).
    Everyone,
    /// Any shore station (anycast): reports that must reach shore.
    Shore,
    /// One node.
    Node(KeyHint),
    /// The two boats of a pair (stored in sorted order).
    Pair(KeyHint, KeyHint),
    /// The mediators on duty for an area.
    Mediators(AreaId),
    /// A group of nodes.
    Group(GroupId),
}

impl Destination {
    /// A pair destination in canonical (sorted) order.
    pub fn pair(a: KeyHint, b: KeyHint) -> Destination {
        if a <= b {
            Destination::Pair(a, b)
        } else {
            Destination::Pair(b, a)
        }
    }

    /// Whether a node with this hint is named by the destination (a mediator/group membership
    /// is not known here and counts as false).
    pub fn names(&self, hint: &KeyHint) -> bool {
        match self {
            Destination::Node(h) => h == hint,
            Destination::Pair(a, b) => a == hint || b == hint,
            _ => false,
        }
    }
}

/// AIS navigational status (ITU-R M.1371, message 1 field "navigational status").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NavStatus(pub u8);

impl NavStatus {
    /// Under way using engine.
    pub const UNDER_WAY: NavStatus = NavStatus(0);
    /// At anchor.
    pub const AT_ANCHOR: NavStatus = NavStatus(1);
    /// Not under command.
    pub const NOT_UNDER_COMMAND: NavStatus = NavStatus(2);
    /// Restricted manoeuvrability.
    pub const RESTRICTED: NavStatus = NavStatus(3);
    /// Moored.
    pub const MOORED: NavStatus = NavStatus(5);
    /// Aground.
    pub const AGROUND: NavStatus = NavStatus(6);
    /// Engaged in fishing.
    pub const FISHING: NavStatus = NavStatus(7);
    /// Under way sailing.
    pub const SAILING: NavStatus = NavStatus(8);
    /// Not defined (the AIS default).
    pub const UNDEFINED: NavStatus = NavStatus(15);

    /// A lowercase name.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "under_way",
            1 => "at_anchor",
            2 => "not_under_command",
            3 => "restricted_manoeuvrability",
            4 => "constrained_by_draught",
            5 => "moored",
            6 => "aground",
            7 => "fishing",
            8 => "sailing",
            14 => "ais_sart",
            15 => "undefined",
            _ => "reserved",
        }
    }

    /// Parses a name given by [`NavStatus::name`].
    pub fn from_name(s: &str) -> Option<NavStatus> {
        (0u8..16)
            .map(NavStatus)
            .find(|n| n.name() == s && s != "reserved")
    }
}

/// A position fix, packed into 12 bytes on the wire (see docs/protocol.md).
///
/// Latitude and longitude in units of 1e-5 degree (about 1.1 m); speed over ground in 0.1 kn;
/// course over ground in 0.1°; heading in whole degrees; `None` where the sensor has no value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fix {
    /// Latitude, 1e-5 degree, north positive, within ±9,000,000.
    pub lat_e5: i32,
    /// Longitude, 1e-5 degree, east positive, within ±18,000,000.
    pub lon_e5: i32,
    /// Speed over ground, 0.1 knot, at most 1022.
    pub sog_dkn: Option<u16>,
    /// Course over ground, 0.1 degree true, below 3600.
    pub cog_ddeg: Option<u16>,
    /// True heading, degrees, below 360.
    pub heading_deg: Option<u16>,
    /// AIS navigational status.
    pub nav_status: NavStatus,
    /// Seconds between the fix and the record's creation, at most 1022; `None` if unknown.
    pub fix_age_s: Option<u16>,
}

impl Fix {
    /// A fix from degrees (rounded to 1e-5°), with no speed, course or heading.
    pub fn from_degrees(lat: f64, lon: f64) -> Fix {
        Fix {
            lat_e5: (lat * 1e5).round() as i32,
            lon_e5: (lon * 1e5).round() as i32,
            sog_dkn: None,
            cog_ddeg: None,
            heading_deg: None,
            nav_status: NavStatus::UNDEFINED,
            fix_age_s: Some(0),
        }
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e5) / 1e5
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e5) / 1e5
    }
}

coded_enum! {
    /// Kinds of pair alert.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum PairAlertKind {
        /// Risk of collision (with the partner or a third vessel).
        CollisionRisk = 0 "collision_risk",
        /// Gear fouled.
        GearFouled = 1 "gear_fouled",
        /// Man overboard.
        ManOverboard = 2 "man_overboard",
        /// Engine failure.
        EngineFailure = 3 "engine_failure",
        /// Weather warning.
        Weather = 4 "weather",
        /// Anything else.
        Other = 5 "other",
    }
}

coded_enum! {
    /// DSC nature-of-distress codes (ITU-R M.493, leading 1 dropped as in NMEA).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum DistressNature {
        /// 00 fire, explosion.
        Fire = 0 "fire",
        /// 01 flooding.
        Flooding = 1 "flooding",
        /// 02 collision.
        Collision = 2 "collision",
        /// 03 grounding.
        Grounding = 3 "grounding",
        /// 04 listing, in danger of capsizing.
        Listing = 4 "listing",
        /// 05 sinking.
        Sinking = 5 "sinking",
        /// 06 disabled and adrift.
        Adrift = 6 "adrift",
        /// 07 undesignated (the default).
        Undesignated = 7 "undesignated",
        /// 08 abandoning ship.
        Abandoning = 8 "abandoning",
        /// 09 piracy / armed robbery.
        Piracy = 9 "piracy",
        /// 10 man overboard.
        ManOverboard = 10 "man_overboard",
        /// 12 EPIRB emission.
        Epirb = 12 "epirb",
    }
}

/// Where a distress stands, as said by one node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DistressStatus {
    /// Heard and acknowledged (shore acknowledges first where it can).
    Acknowledged,
    /// Coming to help, expected in `eta_min` minutes.
    Responding {
        /// Minutes to arrival.
        eta_min: u16,
    },
    /// Arrived at the scene.
    OnScene,
    /// The situation is resolved.
    Resolved,
    /// A false alert, cancelled (only the distress's author may cancel).
    Cancelled,
}

coded_enum! {
    /// Categories of dispute at sea.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum DisputeCategory {
        /// Contention over a fishing ground.
        FishingGround = 0 "fishing_ground",
        /// Gear damaged, nets cut.
        GearDamage = 1 "gear_damage",
        /// Collision.
        Collision = 2 "collision",
        /// Catch or price.
        CatchOrPrice = 3 "catch_or_price",
        /// Anything else.
        Other = 4 "other",
    }
}

/// A set of dispute categories: bit n stands for the category with wire code n.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CategorySet(pub u8);

impl CategorySet {
    /// Every category.
    pub const ALL: CategorySet = CategorySet(0b1_1111);

    /// The set holding exactly these categories.
    pub fn of(categories: &[DisputeCategory]) -> CategorySet {
        CategorySet(categories.iter().fold(0, |m, c| m | (1 << *c as u8)))
    }

    /// Whether the set holds `c`.
    pub fn contains(self, c: DisputeCategory) -> bool {
        self.0 & (1 << c as u8) != 0
    }
}

/// A box of latitude and longitude, in 1e-5 degree (the unit of [`Fix`]), edges included.
/// South is below north and west below east: a box does not cross the antimeridian.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GeoBox {
    /// Southern edge, 1e-5 degree.
    pub south_e5: i32,
    /// Western edge, 1e-5 degree.
    pub west_e5: i32,
    /// Northern edge, 1e-5 degree.
    pub north_e5: i32,
    /// Eastern edge, 1e-5 degree.
    pub east_e5: i32,
}

impl GeoBox {
    /// A box from degrees (rounded to 1e-5°): south, west, north, east.
    pub fn from_degrees(south: f64, west: f64, north: f64, east: f64) -> GeoBox {
        let e5 = |d: f64| (d * 1e5).round() as i32;
        GeoBox {
            south_e5: e5(south),
            west_e5: e5(west),
            north_e5: e5(north),
            east_e5: e5(east),
        }
    }

    /// Whether the fix lies in the box (edges included).
    pub fn contains(&self, f: &Fix) -> bool {
        (self.south_e5..=self.north_e5).contains(&f.lat_e5)
            && (self.west_e5..=self.east_e5).contains(&f.lon_e5)
    }
}

/// One area a mediator covers: the number that `Destination::Mediators` uses, and its bounds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DutyArea {
    /// The area's number.
    pub area: AreaId,
    /// Where it is.
    pub bounds: GeoBox,
}

/// Daily duty hours: minutes after midnight UTC, from `start_min` (included) to `end_min`
/// (excluded). `end_min` below `start_min` runs past midnight; 0 to 1440 is all day.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DailyHours {
    /// First minute on duty, 0 to 1439.
    pub start_min: u16,
    /// First minute off duty, 1 to 1440, not equal to `start_min`.
    pub end_min: u16,
}

impl DailyHours {
    /// Round the clock.
    pub const ALL_DAY: DailyHours = DailyHours {
        start_min: 0,
        end_min: 1440,
    };

    /// Whether the instant `t` falls within the hours.
    pub fn contains(&self, t: Timestamp) -> bool {
        let m = ((t.secs() / 60) % 1440) as u16;
        if self.start_min < self.end_min {
            (self.start_min..self.end_min).contains(&m)
        } else {
            m >= self.start_min || m < self.end_min
        }
    }
}

/// A party to a dispute: its key hint where it runs haiqiao, and its vessel name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Party {
    /// The party's key hint, if known.
    pub key: Option<KeyHint>,
    /// Vessel name, UTF-8 (e.g. 浙岱渔03315).
    pub name: String,
}

coded_enum! {
    /// Where a dispute is escalated.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum Escalation {
        /// China Coast Guard, 95110.
        CoastGuard = 0 "coast_guard",
        /// Court, through online dispute resolution.
        Court = 1 "court",
    }
}

/// A mediation case's step.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum CaseStatus {
    /// A mediator accepted the case.
    Accepted,
    /// Progress in mediation (the text says what).
    InMediation,
    /// The mediator proposes an agreement; the text is the agreement parties co-sign.
    AgreementProposed,
    /// Escalated.
    Escalated(Escalation),
    /// Closed.
    Closed,
}

coded_enum! {
    /// A node's role, as certified.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
    pub enum Role {
        /// A fishing vessel.
        Vessel = 0 "vessel",
        /// A sea mediator.
        Mediator = 1 "mediator",
        /// A shore station.
        Shore = 2 "shore",
        /// An authority (e.g. the fisheries bureau) that certifies keys.
        Authority = 3 "authority",
    }
}

coded_enum! {
    /// Why a key was revoked.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum RevocationReason {
        /// Unspecified.
        Unspecified = 0 "unspecified",
        /// The key was lost or stolen.
        Compromised = 1 "compromised",
        /// The vessel left the fleet, or the role ended.
        Retired = 2 "retired",
        /// The certificate was issued in error.
        Superseded = 3 "superseded",
    }
}
