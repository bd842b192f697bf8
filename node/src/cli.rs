//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// A local demonstration on embedded defaults (no set-up).
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
        /// Degrees north.
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Degrees east.
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Speed over ground, knots.
        #[arg(long)]
        sog: Option<f64>,
        /// Course over ground, degrees.
        #[arg(long)]
        cog: Option<f64>,
        /// Heading, degrees.
        #[arg(long)]
        heading: Option<u16>,
        /// fishing, under_way, at_anchor, moored, ...
        #[arg(long)]
        nav_status: Option<String>,
    },
    /// An alert to the pair partner.
    PairAlert {
        /// collision_risk, gear_fouled, man_overboard, engine_failure, weather, other.
        #[arg(long)]
        alert: String,
        #[arg(long, allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long, allow_hyphen_values = true)]
        lon: Option<f64>,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// Raise a distress (MAYDAY). Ashore in China also call 12395.
    Distress {
        /// fire, flooding, collision, grounding, listing, sinking, adrift, undesignated,
        /// abandoning, piracy, man_overboard, epirb, or the DSC code.
        #[arg(long, default_value = "undesignated")]
        nature: String,
        #[arg(long, allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long, allow_hyphen_values = true)]
        lon: Option<f64>,
        /// Persons on board.
        #[arg(long)]
        persons: Option<u16>,
        #[arg(long, default_value = "")]
        text: String,
    },
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
    Dispute {
        /// fishing_ground, gear_damage, collision, catch_or_price, other.
        #[arg(long)]
        category: String,
        /// Other party, as NAME or NAME=<node id>; repeat for several.
        #[arg(long)]
        party: Vec<String>,
        #[arg(long, allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long, allow_hyphen_values = true)]
        lon: Option<f64>,
        /// What happened.
        #[arg(long)]
        description: String,
        /// SHA-256 of a piece of evidence, hex; repeat for several.
        #[arg(long)]
        evidence: Vec<String>,
    },
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
    /// Daemons on loopback: a distress across a chain of five, records relayed per second.
    Chain {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Distress calls to time across the chain.
        #[arg(long, default_value_t = 9)]
        samples: usize,
        /// Records for the relay measurement.
        #[arg(long, default_value_t = 500)]
        relay_records: usize,
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
