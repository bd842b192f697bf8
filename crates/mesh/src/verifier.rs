//! How the engine checks the signatures of the records it takes in: a seam for its host.
//!
//! The engine verifies every record it receives, in one batch per arrival
//! ([`haiqiao_proto::verify_batch`]). A daemon has nothing to add to that, and keeps the
//! default, [`BatchVerify`]. A host that runs many engines in one process over the same
//! records (the simulator: a flooded record reaches every one of its 10,000 engines as the
//! same bytes) may give each engine a [`Verifier`] that remembers what was verified already,
//! because every engine would check the same bytes against the same key identically.

use haiqiao_proto::{KeyRing, Record, RecordError, Unverified};

/// Checks a batch of records against the keys of a ring at a time (seconds since the epoch).
///
/// Contract: for the same items, ring and time, the result is item by item what
/// [`haiqiao_proto::verify_batch`] returns — the same record with the same author, or the same
/// error. An implementation may only make that cheaper; the engine's custody, refusals and
/// penalties follow from the results.
pub trait Verifier: Send + Sync + std::fmt::Debug {
    /// One result per item, in order.
    fn verify_batch(
        &mut self,
        items: Vec<Unverified>,
        ring: &KeyRing,
        now_s: u64,
    ) -> Vec<Result<Record, RecordError>>;
}

/// The engine's own verifier: ed25519 batch verification of every item
/// ([`haiqiao_proto::verify_batch`]). What the daemon uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchVerify;

impl Verifier for BatchVerify {
    fn verify_batch(
        &mut self,
        items: Vec<Unverified>,
        ring: &KeyRing,
        now_s: u64,
    ) -> Vec<Result<Record, RecordError>> {
        haiqiao_proto::verify_batch(items, ring, now_s)
    }
}
