//! haiqiao-mesh: the deterministic delivery engine (no I/O) and the storage contract it needs.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod riblt;
pub mod store;

pub use store::{InsertOutcome, MemStore, Refusal, Store, StoreError, StoreLimits, Summary, Usage};
