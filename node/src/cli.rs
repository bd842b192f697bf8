//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// haiqiao (海桥): a delay-tolerant mesh messenger for fishing vessels and shore stations.
#[derive(Debug, Parser)]
#[command(name = "haiqiao", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
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
    /// Show a node's identity from its config.
    Id {
        /// The node's config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// A local demonstration on embedded defaults (no set-up).
    Demo {
        /// Play once and exit: 0 only if every step happened as scripted.
        #[arg(long)]
        once: bool,
    },
    /// Measurements to run on the boat's own hardware.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
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
