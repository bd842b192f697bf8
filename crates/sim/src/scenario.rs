//! Scenario files: plain serde data read from TOML (`simulations/*.toml`). Geography, fleet,
//! radios and traffic are data, so a scenario can be changed without touching code. The
//! engine's own settings nest unchanged as `[mesh]` and `[store]`, as in the node's config.

use haiqiao_mesh::{MeshConfig, StoreLimits};
use serde::Deserialize;

/// 2026-11-29T00:00:00Z, in the winter season: the default start of a scenario.
pub const DEFAULT_EPOCH_S: u64 = 1_795_910_400;

/// A simulation scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in reports.
    pub name: String,
    /// Default seed (`--seed` overrides it).
    #[serde(default = "one")]
    pub seed: u64,
    /// Simulated time, hours.
    pub duration_h: f64,
    /// Start of the simulation, seconds since the Unix epoch.
    #[serde(default = "default_epoch")]
    pub epoch_s: u64,
    /// Mobility step, seconds: positions and contacts change at this granularity.
    #[serde(default = "default_step")]
    pub step_s: u32,
    /// Ports and island shore stations.
    pub stations: Vec<Station>,
    /// Fishing grounds.
    pub grounds: Vec<Ground>,
    /// The fleet.
    pub fleet: Fleet,
    /// Radio link classes (range and rate).
    pub links: Vec<LinkClass>,
    /// Shore stations' internet bridge.
    #[serde(default)]
    pub internet: Internet,
    /// Caps on simultaneous links.
    #[serde(default)]
    pub radio: Radio,
    /// What nodes write.
    pub traffic: Traffic,
    /// Which routers run, and the baselines' parameters.
    #[serde(default)]
    pub routers: Routers,
    /// The engine's settings (as the node's `[mesh]`).
    #[serde(default)]
    pub mesh: MeshConfig,
    /// The engine's store limits (as the node's `[store]`).
    #[serde(default)]
    pub store: StoreLimits,
    /// How the haiqiao engines learn each other's keys.
    #[serde(default)]
    pub keys: KeyMode,
    /// Store occupancy is sampled at this interval, minutes.
    #[serde(default = "default_sample")]
    pub sample_min: u32,
}

fn one() -> u64 {
    1
}
fn default_epoch() -> u64 {
    DEFAULT_EPOCH_S
}
fn default_step() -> u32 {
    30
}
fn default_sample() -> u32 {
    30
}

/// A port or island station.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Name (e.g. "Shenjiamen").
    pub name: String,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
    /// Whether it runs a haiqiao shore station.
    #[serde(default = "yes")]
    pub shore: bool,
    /// Weight as a home port (0: not a home port).
    #[serde(default)]
    pub home_weight: f64,
}

fn yes() -> bool {
    true
}

/// A fishing ground.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ground {
    /// Name.
    pub name: String,
    /// Centre latitude.
    pub lat: f64,
    /// Centre longitude.
    pub lon: f64,
    /// Radius, km.
    pub radius_km: f64,
    /// Share of trips that go here (relative).
    #[serde(default = "unit")]
    pub weight: f64,
}

fn unit() -> f64 {
    1.0
}

/// The fleet and how it moves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Fishing vessels (mediator boats not included).
    pub vessels: u32,
    /// Share of vessels that fish as pairs (对船): a pair stays within a kilometre.
    #[serde(default)]
    pub pair_share: f64,
    /// Mediator boats (海上老娘舅): they patrol the grounds.
    #[serde(default)]
    pub mediators: u32,
    /// Transit speed, knots.
    #[serde(default = "transit_kn")]
    pub transit_kn: f64,
    /// Speed while fishing, knots.
    #[serde(default = "fishing_kn")]
    pub fishing_kn: f64,
    /// Time on the ground per trip, hours: [min, max].
    pub fishing_h: [f64; 2],
    /// Time in port between trips, hours: [min, max].
    pub port_h: [f64; 2],
    /// Share of vessels already on a ground at the start.
    #[serde(default = "half")]
    pub start_at_sea: f64,
    /// Whether a boat steaming home tells its engine its ETA (distance to its berth over
    /// transit speed), as a daemon does from its own position reports. Default true.
    #[serde(default = "yes")]
    pub announce_homeward: bool,
}

fn transit_kn() -> f64 {
    9.0
}
fn fishing_kn() -> f64 {
    3.0
}
fn half() -> f64 {
    0.5
}

/// A class of radio link (see shared/domain.md, "Links at sea").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkClass {
    /// Name (e.g. "wifi", "vhf", "lora").
    pub name: String,
    /// Rate, bits per second (each direction).
    pub rate_bps: u32,
    /// Range between two boats, km (absent: boats do not link with it).
    #[serde(default)]
    pub ship_ship_km: Option<f64>,
    /// Range between a boat and a shore station, km (absent: no ship–shore links).
    #[serde(default)]
    pub ship_shore_km: Option<f64>,
    /// Share of vessels that carry this radio.
    #[serde(default = "unit")]
    pub vessel_share: f64,
    /// Whether shore stations have it.
    #[serde(default = "yes")]
    pub shore: bool,
}

/// Shore stations' internet bridge: every pair of shore stations is linked all the time.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Internet {
    /// Rate, bits per second.
    pub rate_bps: u32,
}

impl Default for Internet {
    fn default() -> Self {
        Internet {
            rate_bps: 10_000_000,
        }
    }
}

/// Caps on simultaneous radio links: a radio keeps only so many sessions (the nearest first).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Radio {
    /// Most links per boat.
    pub vessel_links: usize,
    /// Most radio links per shore station (the internet bridge is not counted).
    pub shore_links: usize,
}

impl Default for Radio {
    fn default() -> Self {
        Radio {
            vessel_links: 8,
            shore_links: 64,
        }
    }
}

/// What nodes write, and how often.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Minutes between position records of a vessel at sea (0: none).
    #[serde(default)]
    pub position_interval_min: f64,
    /// Position time to live, minutes.
    #[serde(default = "position_ttl")]
    pub position_ttl_min: u32,
    /// Share of positions whose delivery to shore is measured (all are sent).
    #[serde(default = "unit")]
    pub position_measured: f64,
    /// Pair alerts per pair per day.
    #[serde(default)]
    pub pair_alerts_per_pair_day: f64,
    /// Distress calls per day, fleet-wide (from vessels at sea).
    #[serde(default)]
    pub distress_per_day: f64,
    /// Nearest boats (within `nearby_km`) whose reception of a distress is measured and who
    /// answer it with "responding".
    #[serde(default = "three")]
    pub distress_nearby: usize,
    /// Radius for "nearby", km.
    #[serde(default = "nearby_km")]
    pub nearby_km: f64,
    /// Reports to shore (catch logs) per vessel per day at sea.
    #[serde(default)]
    pub reports_per_vessel_day: f64,
    /// Disputes filed per day, fleet-wide (from vessels at sea).
    #[serde(default)]
    pub disputes_per_day: f64,
    /// Hours from a case's acceptance to the mediator's proposed agreement.
    #[serde(default = "mediation_h")]
    pub mediation_h: f64,
}

fn position_ttl() -> u32 {
    240
}
fn three() -> usize {
    3
}
fn nearby_km() -> f64 {
    30.0
}
fn mediation_h() -> f64 {
    2.0
}

/// Which routers run.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routers {
    /// Router names: direct, epidemic, spray_and_wait, prophet, haiqiao.
    pub run: Vec<String>,
    /// Binary spray-and-wait: copies of a new message.
    pub spray_copies: u32,
    /// PRoPHET (RFC 6693 §2.1.1): P_encounter_max.
    pub prophet_p_encounter: f64,
    /// PRoPHET: β, the transitivity scaling.
    pub prophet_beta: f64,
    /// PRoPHET: γ, the ageing factor per time unit.
    pub prophet_gamma: f64,
    /// PRoPHET: the time unit of ageing, seconds.
    pub prophet_unit_s: u32,
    /// How the haiqiao router addresses dispute reports, case updates and agreement
    /// signatures: `everyone` (default), as the daemon's fleet writes them (flooded: every
    /// party, mediator and station sees the progress), or `addressed`, to the area's mediators
    /// and the party (design §3's destinations; the baselines always route to those targets).
    pub haiqiao_mediation: MediationRecords,
    /// Whether the haiqiao router runs haiqiao-fleet at every node with the people using it
    /// (default; see the `app` module), or answers deliveries with the same model as the
    /// baselines. A fleet's views hold every vessel heard, so a 10,000-vessel run turns it
    /// off for memory.
    pub haiqiao_app: bool,
    /// Whether the haiqiao router seals pair alerts and case records to their readers
    /// (docs/protocol.md §13), as the daemon does: a pair alert to both boats; a dispute,
    /// acceptance, proposal or signature to its author, the boat it names and the mediation
    /// nodes (mediators and shore stations, the first 14). Default false (plain records).
    pub haiqiao_sealed: bool,
}

/// See [`Routers::haiqiao_mediation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediationRecords {
    /// To everyone, as the daemon writes them.
    #[default]
    Everyone,
    /// To the area's mediators and to the party.
    Addressed,
}

impl Default for Routers {
    fn default() -> Self {
        Routers {
            run: ["direct", "epidemic", "spray_and_wait", "prophet", "haiqiao"]
                .map(String::from)
                .to_vec(),
            spray_copies: 8,
            prophet_p_encounter: 0.7,
            prophet_beta: 0.9,
            prophet_gamma: 0.999,
            prophet_unit_s: 30,
            haiqiao_mediation: MediationRecords::Everyone,
            haiqiao_app: true,
            haiqiao_sealed: false,
        }
    }
}

/// How the engines learn each other's keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    /// Every node knows every key at the start, as after exchanging certificates.
    #[default]
    All,
    /// Keys travel by the protocol (`WantKeys` / `Keys`) as records arrive.
    Protocol,
}

impl Scenario {
    /// Parses a scenario from TOML text.
    pub fn from_toml(text: &str) -> Result<Scenario, toml::de::Error> {
        toml::from_str(text)
    }

    /// Simulated time, ms.
    pub fn duration_ms(&self) -> u64 {
        (self.duration_h * 3_600_000.0).round() as u64
    }

    /// Checks values a TOML type cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.duration_h.is_nan() || self.duration_h <= 0.0 {
            return Err("duration_h must be positive".into());
        }
        if self.step_s == 0 {
            return Err("step_s must be positive".into());
        }
        if !self.stations.iter().any(|s| s.shore) {
            return Err("at least one station must be a shore station".into());
        }
        if !self.stations.iter().any(|s| s.home_weight > 0.0) {
            return Err("at least one station must be a home port (home_weight > 0)".into());
        }
        if self.grounds.is_empty() {
            return Err("at least one fishing ground is needed".into());
        }
        if self.fleet.fishing_h[0] > self.fleet.fishing_h[1]
            || self.fleet.port_h[0] > self.fleet.port_h[1]
        {
            return Err("fishing_h and port_h are [min, max]".into());
        }
        for l in &self.links {
            if l.rate_bps == 0 {
                return Err(format!("link {}: rate_bps must be positive", l.name));
            }
        }
        for r in &self.routers.run {
            if !crate::ROUTERS.contains(&r.as_str()) {
                return Err(format!("unknown router {r:?}"));
            }
        }
        Ok(())
    }
}
