//! haiqiao-mesh: the deterministic delivery engine (no I/O) and the storage contract it needs.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod admission;
mod asked;
pub mod config;
mod defence;
mod events;
pub mod harness;
mod index;
mod node;
mod pump;
mod receipts;
pub mod riblt;
mod routing;
mod session;
pub mod store;
mod trust;
pub mod verifier;
mod window;

pub use store::{InsertOutcome, MemStore, Refusal, Store, StoreError, StoreLimits, Summary, Usage};

pub use config::MeshConfig;
pub use defence::Offence;
pub use events::{Input, MeshError, Output, Stats, Verdict};
pub use index::short_id;
pub use node::{Node, short_of};
pub use trust::TrustPolicy;
pub use verifier::{BatchVerify, Verifier};

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod flood_tests;
#[cfg(test)]
mod link_tests;
#[cfg(test)]
mod test_support;
