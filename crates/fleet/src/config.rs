//! The fleet projections' settings: plain serde data with documented defaults. The node's TOML
//! nests this as `[fleet]`, and the simulator reads the same struct.

use serde::{Deserialize, Serialize};

/// Settings of the fleet projections. Every table is bounded here or by a named constant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetConfig {
    /// Authority keys trusted without a certificate (64 hex digits each): the fisheries
    /// bureau's keys. Certificates count only if they chain to one of these. Default none
    /// (then nothing is certified: no mediator may accept a case, and the node's engine
    /// enforces nothing — any receipt frees copies, every author has the full quota).
    pub trust_anchors: Vec<String>,
    /// Buddy watch: seconds of silence from a pair partner after which the alarm is raised on
    /// board and shore is told. 0 turns buddy watch off. Default 1,800 (30 minutes): paired
    /// trawlers work within WiFi range of each other and report their position every few
    /// minutes, so half an hour of silence is a dozen missed reports, not a slow link.
    pub buddy_watch_s: u32,
    /// Shortest wait between repeats of an unacknowledged distress, seconds. Default 210
    /// (3.5 min, the DSC radios' lower bound).
    pub distress_repeat_min_s: u32,
    /// Longest wait between repeats, seconds. Default 270 (4.5 min). Each wait is drawn
    /// uniformly between the two from the seeded generator, so that boats that heard the same
    /// event do not repeat in step.
    pub distress_repeat_max_s: u32,
    /// Whether only an acknowledgement (or response) from a certified key stops the repeats.
    /// Default true: anyone can sign "acknowledged", and a forged one must not silence a boat
    /// in distress. Uncertified acknowledgements are still shown.
    pub repeat_until_certified_ack: bool,
    /// How many nearest vessels the open-distress list shows. Default 5.
    pub nearest_count: usize,
    /// Positions older than this many minutes are not offered as nearest vessels. Default 360.
    pub nearest_max_age_min: u32,
    /// Time to live of distress records and their updates, minutes. Default 3 days: repeats
    /// renew an unacknowledged distress, and an acknowledged one stays listed that long
    /// after its last repeat unless it is resolved.
    pub distress_ttl_min: u32,
    /// Time to live of dispute reports, case updates and agreement signatures, minutes.
    /// Default 30 days.
    pub case_ttl_min: u32,
    /// Time to live of a pairing, minutes. Default 90 days (the longest a record lives); a
    /// vessel renews its own pairing before it expires.
    pub pairing_ttl_min: u32,
    /// Renew our pairing this many minutes before it expires. Default 1 day.
    pub pairing_renew_before_min: u32,
    /// Time to live of buddy-watch reports to shore, minutes. Default 1 day.
    pub buddy_report_ttl_min: u32,
    /// Last known positions kept (the least recently heard vessel is forgotten first).
    /// Default 20,000 (about twice Zhoushan's fleet).
    pub max_vessels: usize,
    /// Forget a vessel's last position this many minutes after it was last heard. Default
    /// 3 days.
    pub position_retention_min: u32,
    /// Pairing statements kept (one per vessel and partner). Default 20,000.
    pub max_pairings: usize,
    /// Partners one vessel may pair with at once. Default 4.
    pub max_partners: usize,
    /// Vessels whose distress records are kept (the one whose newest distress is oldest is
    /// forgotten first; our own never). Default 256.
    pub max_distress_authors: usize,
    /// Distress updates kept (acknowledgements, responses, ...). Default 4,096.
    pub max_distress_updates: usize,
    /// Dispute cases kept (finished ones are forgotten before open ones, oldest first).
    /// Default 10,000: Zhoushan's grid handled about 20,000 events a year, and a case lives
    /// 30 days.
    pub max_cases: usize,
    /// Case updates and agreement signatures kept, over all cases. Default 100,000.
    pub max_case_records: usize,
    /// Mediator duty announcements kept (one per mediator). Default 1,024.
    pub max_mediators: usize,
    /// Certificates kept. Default 20,000.
    pub max_certificates: usize,
    /// Revocations kept. Default 10,000.
    pub max_revocations: usize,
    /// Buddy-watch reports kept (shore's view; one per vessel and partner). Default 1,024.
    pub max_buddy_reports: usize,
    /// Ports this vessel makes for (home port, landing ports): steaming towards one of them
    /// (own position reports at 4.5 knots or more, course within 30° of the bearing) makes
    /// the node say "homeward, ashore in N minutes" in its hellos, and peers hand it the
    /// last copy of shore-bound records. Default none (then only the skipper's word, `haiqiao
    /// voyage home`, says so). At most 64.
    pub ports: Vec<crate::voyage::Port>,
}

/// Most ports in [`FleetConfig::ports`].
pub(crate) const MAX_PORTS: usize = 64;

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            trust_anchors: Vec::new(),
            buddy_watch_s: 30 * 60,
            distress_repeat_min_s: 210,
            distress_repeat_max_s: 270,
            repeat_until_certified_ack: true,
            nearest_count: 5,
            nearest_max_age_min: 360,
            distress_ttl_min: 3 * 24 * 60,
            case_ttl_min: 30 * 24 * 60,
            pairing_ttl_min: 90 * 24 * 60,
            pairing_renew_before_min: 24 * 60,
            buddy_report_ttl_min: 24 * 60,
            max_vessels: 20_000,
            position_retention_min: 3 * 24 * 60,
            max_pairings: 20_000,
            max_partners: 4,
            max_distress_authors: 256,
            max_distress_updates: 4_096,
            max_cases: 10_000,
            max_case_records: 100_000,
            max_mediators: 1_024,
            max_certificates: 20_000,
            max_revocations: 10_000,
            max_buddy_reports: 1_024,
            ports: Vec::new(),
        }
    }
}
