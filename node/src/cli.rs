//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::json;

/// haiqiao (海桥): a delay-tolerant mesh messenger for fishing vessels and shore stations.
#[derive(Debug, Parser)]
#[command(name = "haiqiao", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How to reach a running node.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// The node's control API (host:port or URL).
    #[arg(long, env = "HAIQIAO_API", global = true)]
    pub(crate) api: Option<String>,
    /// Read the API address from this config file instead.
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a node key and a commented config for a role.
    Init {
        /// vessel, mediator or shore.
        #[arg(long, default_value = "vessel")]
        role: String,
        /// Vessel or station name (UTF-8).
        #[arg(long, default_value = "未命名 unnamed")]
        name: String,
        /// Folder to create the config, key and data in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Run the node: store, mesh engine, network and control API.
    Run {
        /// The node's config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Show a node's identity from its config.
    Id {
        /// The node's config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Write a record on a running node.
    Send {
        #[command(flatten)]
        target: Target,
        /// Destination: everyone, shore, node:<id>, pair:<id>,<id>, mediators:<area>,
        /// group:<n> (each kind has a default).
        #[arg(long, global = true)]
        to: Option<String>,
        /// Time to live in minutes (each kind has a default).
        #[arg(long, global = true)]
        ttl_min: Option<u32>,
        #[command(subcommand)]
        what: SendCommand,
    },
    /// Records delivered to a running node.
    Inbox {
        #[command(flatten)]
        target: Target,
        /// Only from this inbox index on.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Only this kind (position, distress, pair_alert, ...).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A running node's connected peers.
    Peers {
        #[command(flatten)]
        target: Target,
    },
    /// A running node's status and counters.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Pair with a vessel (both sign), or leave the pair; without an id, list pairs and
    /// buddy watch.
    Pair {
        #[command(flatten)]
        target: Target,
        /// The partner's node id (64 hex digits).
        partner: Option<String>,
        /// Leave the pair instead.
        #[arg(long)]
        leave: bool,
    },
    /// An alert to the pair partner (gear fouled, collision risk, man overboard, ...).
    PairAlert {
        #[command(flatten)]
        target: Target,
        /// collision_risk, gear_fouled, man_overboard, engine_failure, weather, other.
        alert: String,
        /// The partner (default: our only partner).
        #[arg(long)]
        partner: Option<String>,
        #[arg(long, allow_negative_numbers = true, value_parser = json::lat_arg)]
        lat: Option<f64>,
        #[arg(long, allow_negative_numbers = true, value_parser = json::lon_arg)]
        lon: Option<f64>,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Distress: raise, list, acknowledge, respond, resolve, cancel.
    Distress {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        what: DistressCommand,
    },
    /// Mediators: announce duty (areas, categories, hours); without areas, list duties.
    Duty {
        #[command(flatten)]
        target: Target,
        /// An area: NUMBER:SOUTH,WEST,NORTH,EAST in degrees; repeat for several.
        #[arg(long)]
        area: Vec<String>,
        /// A category taken (default all): fishing_ground, gear_damage, collision,
        /// catch_or_price, other; repeat for several.
        #[arg(long)]
        category: Vec<String>,
        /// Hours from now the announcement holds.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Daily hours UTC as START-END in minutes after midnight (default all day).
        #[arg(long)]
        daily: Option<String>,
        /// Announce going off duty.
        #[arg(long)]
        off: bool,
    },
    /// Sea mediation: file a dispute, accept, progress, propose, sign, escalate, close, list.
    Case {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        what: CaseCommand,
    },
    /// What is known of a key: certificates, roles, revocation.
    Trust {
        #[command(flatten)]
        target: Target,
        /// The key (64 hex digits).
        key: String,
    },
    /// The voyage: show it, or give the skipper's word. `home --eta-min N` says the boat is
    /// steaming home (peers then hand it the last copy of shore-bound records); `not-home`
    /// says it is not, whatever its positions; `auto` goes back to the position reports and
    /// the `[fleet] ports` of the config.
    Voyage {
        #[command(flatten)]
        target: Target,
        /// home, not-home or auto; none to show the voyage.
        says: Option<String>,
        /// Minutes to arrival, with `home`.
        #[arg(long)]
        eta_min: Option<u32>,
        /// The port, with `home`.
        #[arg(long)]
        port: Option<String>,
    },
    /// What happened on a running node: alarms, distress, cases, refusals.
    Timeline {
        #[command(flatten)]
        target: Target,
        /// Only from this index on.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// The authority's tools: a key, certificates and revocations signed on it (offline),
    /// handed to a running node to spread.
    Authority {
        #[command(subcommand)]
        what: AuthorityCommand,
    },
    /// A local demonstration on embedded defaults (no set-up). Ctrl-C during the scripted
    /// day stops every node cleanly and exits 130; after the day it exits 0.
    Demo {
        /// Play once and exit: 0 only if every step happened as scripted.
        #[arg(long)]
        once: bool,
    },
    /// The fleet simulator.
    Sim {
        #[command(subcommand)]
        what: SimCommand,
    },
    /// Measurements to run on the boat's own hardware.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SendCommand {
    /// A position fix.
    Position {
        /// Degrees north, -90 to 90.
        #[arg(long, allow_negative_numbers = true, value_parser = json::lat_arg)]
        lat: f64,
        /// Degrees east, -180 to 180.
        #[arg(long, allow_negative_numbers = true, value_parser = json::lon_arg)]
        lon: f64,
        /// Speed over ground, knots (0 to 102.2).
        #[arg(long, allow_negative_numbers = true, value_parser = json::sog_arg)]
        sog: Option<f64>,
        /// Course over ground, degrees true (0 to less than 360).
        #[arg(long, allow_negative_numbers = true, value_parser = json::cog_arg)]
        cog: Option<f64>,
        /// Heading, whole degrees true (0 to 359).
        #[arg(long, allow_negative_numbers = true, value_parser = json::heading_arg)]
        heading: Option<u16>,
        /// AIS navigational status: fishing, under_way, at_anchor, moored, ...
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(json::nav_status_names()))]
        nav_status: Option<String>,
    },
    /// An alert to the pair partner.
    PairAlert {
        /// collision_risk, gear_fouled, man_overboard, engine_failure, weather, other.
        #[arg(long)]
        alert: String,
        #[arg(long, allow_negative_numbers = true, value_parser = json::lat_arg)]
        lat: Option<f64>,
        #[arg(long, allow_negative_numbers = true, value_parser = json::lon_arg)]
        lon: Option<f64>,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Raise a distress (MAYDAY). Ashore in China also call 12395.
    Distress(DistressArgs),
    /// Acknowledge, respond to, or close a distress.
    DistressUpdate {
        /// The distress record id.
        #[arg(long)]
        distress: String,
        /// acknowledged, responding, on_scene, resolved, cancelled.
        #[arg(long)]
        status: String,
        /// Minutes to arrival (responding).
        #[arg(long)]
        eta: Option<u16>,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// File a dispute with the mediators and shore.
    Dispute(DisputeArgs),
    /// A mediator's update on a case.
    CaseUpdate {
        /// The dispute report's id.
        #[arg(long)]
        case: String,
        /// accepted, in_mediation, agreement_proposed, escalated_coast_guard (95110),
        /// escalated_court, closed.
        #[arg(long)]
        status: String,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Co-sign a proposed agreement.
    Agreement {
        /// The dispute report's id.
        #[arg(long)]
        case: String,
        /// The agreement's text exactly as proposed.
        #[arg(long)]
        text: String,
    },
    /// A short text.
    Text {
        /// The message.
        #[arg(long)]
        text: String,
        /// A safety message (sent with pair-alert priority).
        #[arg(long)]
        safety: bool,
    },
}

/// A distress call, as `send distress` and `distress raise` take it.
#[derive(Debug, Args)]
pub(crate) struct DistressArgs {
    /// fire, flooding, collision, grounding, listing, sinking, adrift, undesignated,
    /// abandoning, piracy, man_overboard, epirb, or the DSC code.
    #[arg(long, default_value = "undesignated")]
    pub(crate) nature: String,
    #[arg(long, allow_negative_numbers = true, value_parser = json::lat_arg)]
    pub(crate) lat: Option<f64>,
    #[arg(long, allow_negative_numbers = true, value_parser = json::lon_arg)]
    pub(crate) lon: Option<f64>,
    /// Persons on board.
    #[arg(long)]
    pub(crate) persons: Option<u16>,
    #[arg(long, default_value = "")]
    pub(crate) text: String,
}

/// A dispute report, as `send dispute` and `case file` take it.
#[derive(Debug, Args)]
pub(crate) struct DisputeArgs {
    /// fishing_ground, gear_damage, collision, catch_or_price, other.
    #[arg(long)]
    pub(crate) category: String,
    /// Other party, as NAME or NAME=<node id>; repeat for several.
    #[arg(long)]
    pub(crate) party: Vec<String>,
    #[arg(long, allow_negative_numbers = true, value_parser = json::lat_arg)]
    pub(crate) lat: Option<f64>,
    #[arg(long, allow_negative_numbers = true, value_parser = json::lon_arg)]
    pub(crate) lon: Option<f64>,
    /// What happened.
    #[arg(long)]
    pub(crate) description: String,
    /// SHA-256 of a piece of evidence, hex; repeat for several.
    #[arg(long)]
    pub(crate) evidence: Vec<String>,
}

impl DisputeArgs {
    /// The parties as the API takes them.
    pub(crate) fn parties(&self) -> Vec<crate::json::PartySpec> {
        self.party
            .iter()
            .map(|p| crate::json::PartySpec::parse(p))
            .collect()
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum DistressCommand {
    /// Raise a distress (MAYDAY); it repeats every 3.5–4.5 min until acknowledged.
    /// Ashore in China also call 12395.
    Raise(DistressArgs),
    /// Open distress: who acknowledged, who is coming, the nearest vessels.
    List {
        /// Also resolved and cancelled ones.
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge a distress.
    Ack {
        /// The incident id.
        id: String,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Say we are coming, with an ETA.
    Respond {
        /// The incident id.
        id: String,
        /// Minutes to arrival.
        #[arg(long)]
        eta: u16,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Say we are on scene.
    OnScene {
        /// The incident id.
        id: String,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Resolve it (its author, a certified shore station or an authority).
    Resolve {
        /// The incident id.
        id: String,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Cancel our own distress: a false alert.
    Cancel {
        /// The incident id.
        id: String,
        #[arg(long, default_value = "")]
        text: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CaseCommand {
    /// File a dispute: it reaches the mediators on duty for its position, and shore.
    File(DisputeArgs),
    /// Cases held here.
    List,
    /// One case.
    Show {
        /// The case id (the dispute report's id).
        id: String,
    },
    /// Case statistics: open, accepted, closed, escalated, times, handled rate.
    Stats,
    /// Accept a case (certified mediators).
    Accept {
        /// The case id.
        id: String,
    },
    /// Progress on a case we mediate.
    Progress {
        /// The case id.
        id: String,
        #[arg(long)]
        text: String,
    },
    /// Propose an agreement for the parties to co-sign.
    Propose {
        /// The case id.
        id: String,
        /// The agreement's text.
        #[arg(long)]
        text: String,
    },
    /// Co-sign the proposed agreement (parties).
    Sign {
        /// The case id.
        id: String,
    },
    /// Escalate a case we mediate.
    Escalate {
        /// The case id.
        id: String,
        /// coast_guard (95110) or court.
        #[arg(long, default_value = "coast_guard")]
        to: String,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Close a case we mediate.
    Close {
        /// The case id.
        id: String,
        #[arg(long, default_value = "")]
        text: String,
    },
}

/// What an authority signs about, with which key, and the node it hands the record to.
#[derive(Debug, Args)]
pub(crate) struct Signing {
    #[command(flatten)]
    pub(crate) target: Target,
    /// The authority's secret key file.
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The node id the record is about (64 hex digits).
    #[arg(long)]
    pub(crate) subject: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthorityCommand {
    /// Create an authority key (keep it offline); prints the key to configure as a trust
    /// anchor (`[fleet] trust_anchors`).
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Certify a node's key in a role, and hand the certificate to a running node.
    Certify {
        #[command(flatten)]
        on: Signing,
        /// vessel, mediator, shore or authority.
        #[arg(long)]
        role: String,
        /// Vessel or station name.
        #[arg(long)]
        name: String,
        /// Registration number (e.g. 浙岱渔03315).
        #[arg(long, default_value = "")]
        registration: String,
        /// MMSI.
        #[arg(long)]
        mmsi: Option<u32>,
        /// Days the certificate is valid: at most 90, the longest a record lives (renew
        /// certificates before they lapse).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Revoke a key, and hand the revocation to a running node.
    Revoke {
        #[command(flatten)]
        on: Signing,
        /// compromised, retired, superseded, unspecified.
        #[arg(long, default_value = "compromised")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Run a scenario: haiqiao's routing against the baselines and the oracle.
    Run {
        /// The scenario file (simulations/<name>.toml).
        scenario: PathBuf,
        /// Seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Also write CSV tables, plots and the contact plan here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Encoded size of a typical signed record of each kind.
    Record {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Records per second for decode + verify + durable store.
    Ingest {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Records per repetition (batch paths).
        #[arg(long, default_value_t = 8192)]
        records: usize,
        /// Records per batch.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Records per repetition on the single path (one fsync each).
        #[arg(long, default_value_t = 500)]
        single_records: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// On board: GPS fix to the plotter's AIS line one hop away (daemons on loopback), and
    /// bytes an hour of automatic position reports per speed band (docs/marine.md).
    Marine {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Fixes to time.
        #[arg(long, default_value_t = 15)]
        samples: usize,
    },
    /// Daemons on loopback: a distress across a chain of five; records one relay passes on
    /// per second over TCP and QUIC, against this machine's batch ingest rate in the same run.
    Chain {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Distress calls to time across the chain.
        #[arg(long, default_value_t = 9)]
        samples: usize,
        /// Records in the relayed burst.
        #[arg(long, default_value_t = 20_000)]
        relay_records: usize,
        /// Repetitions of the relay measurement per transport (medians are reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Transports the relay measurement runs over.
        #[arg(long, value_delimiter = ',', default_value = "tcp,quic")]
        transports: Vec<crate::bench_chain::Transport>,
    },
    /// Daemons on loopback: wire bytes per flooded record across a mesh of ten, against the
    /// record's size and a spanning tree (routine texts, then distress calls).
    Flood {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Nodes (each linked to four others).
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        /// Routine records (texts to everyone), written round-robin by every node.
        #[arg(long, default_value_t = 200)]
        records: usize,
        /// Distress calls, written round-robin.
        #[arg(long, default_value_t = 20)]
        distress: usize,
    },
    /// What the fleet projections (pairs, distress, cases) cost a station hearing a fleet.
    Fleet {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Vessels reporting positions.
        #[arg(long, default_value_t = 10_000)]
        vessels: usize,
        /// Positions per vessel.
        #[arg(long, default_value_t = 5)]
        positions: usize,
        /// Dispute cases (filed, accepted, agreement proposed).
        #[arg(long, default_value_t = 2_000)]
        cases: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// What sealing costs: bytes added by readers, seal and open against sign and verify.
    Seal {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Operations per repetition.
        #[arg(long, default_value_t = 2000)]
        ops: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// A shore station's start over a large store: views rebuilt (index, distress, cases,
    /// timeline, inbox) and the memory it then holds (docs/dashboard.md).
    Views {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Records in the store.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Measure a store filled earlier (used by the bench itself, in a fresh process).
        #[arg(long, hide = true)]
        store: Option<PathBuf>,
    },
    /// A large store: filled through the ingest path, then opened in a fresh process: RSS
    /// after open, index bytes per record, open time (docs/benchmarks.md).
    Store {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Records in the store.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Repetitions of the open (medians are reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Measure a store filled earlier (used by the bench itself, in a fresh process).
        #[arg(long, hide = true)]
        store: Option<PathBuf>,
    },
    /// Shore bridges: records/s through MQTT and into PostgreSQL, as ratios to this
    /// machine's ingest rate in the same run; a federated station's catch-up (docs/shore.md).
    Shore {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Records per repetition through each bridge.
        #[arg(long, default_value_t = 20_000)]
        records: usize,
        /// Repetitions (medians are reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// An MQTT broker to publish to, host:port.
        #[arg(long)]
        mqtt: Option<String>,
        /// A PostgreSQL connection string; the archive's tables in it are DROPPED first.
        #[arg(long)]
        archive: Option<String>,
        /// Records a federated station missed, for the catch-up figure.
        #[arg(long)]
        catchup: Option<usize>,
    },
    /// Every `bench` subcommand, sized to finish in a few minutes, in one JSON (its
    /// `headline` holds the figures `bench compare` sets side by side).
    All {
        /// Print the whole JSON (else the headline figures).
        #[arg(long)]
        json: bool,
        /// Run only these subcommands (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// The headline figures of two `bench all --json` outputs side by side (new / old).
    Compare {
        /// The JSON of the older commit.
        old: PathBuf,
        /// The JSON of the newer commit.
        new: PathBuf,
    },
    /// Bytes and round trips of the sync protocol, engine against engine.
    Sync {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Records both sides hold.
        #[arg(long, default_value_t = 100_000)]
        n: usize,
        /// Numbers of missing records to measure.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 10, 100, 1000])]
        d: Vec<usize>,
        /// Repetitions per difference.
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
}
