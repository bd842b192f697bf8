//! The simulator's seeded generator: haiqiao-proto's SplitMix64 (the workspace's one), so that
//! a scenario and seed give the same run whatever version of a random-number crate is in the
//! lock file. Each part of a run draws from its own stream (`Rng::stream(seed, stream)`).

pub use haiqiao_proto::rng::mix;

/// A SplitMix64 stream.
pub type Rng = haiqiao_proto::rng::SplitMix64;
