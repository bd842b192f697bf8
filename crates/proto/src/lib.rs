//! haiqiao-proto: the records that haiqiao nodes sign, carry and verify, and their bytes.
//!
//! No I/O, no clock, no randomness: time (`now`, seconds since the Unix epoch) and key seeds
//! are arguments. The wire format is specified in `docs/protocol.md` with test vectors in
//! `tests/vectors/records.json`.
//!
//! - [`identity`]: ed25519 keys ([`PublicKey`], [`Keypair`]), the 8-byte [`KeyHint`] records
//!   carry, and the bounded [`KeyRing`] that resolves hints to keys.
//! - [`kinds`]: every record kind in one table, and one module per kind holding its code,
//!   name, priority, CBOR form, JSON views and sample.
//! - [`types`]: what bodies are made of: ids, times, destinations, priority classes, fixes.
//! - [`record`]: the envelope, signing, strict decoding, single and batch verification.
//! - [`rng`]: SplitMix64, the workspace's one seeded generator.
//! - [`seal`]: sealed records, encrypted to their readers (age-style X25519 stanzas,
//!   ChaCha20-Poly1305), still signed by their author over the sealed bytes.
//! - `codec` (records) and [`wire`] (sync frames): the canonical CBOR encoding; the only
//!   modules that name the CBOR library.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod codec;
mod error;
pub mod identity;
pub mod kinds;
pub mod record;
pub mod rng;
pub mod samples;
pub mod seal;
pub mod types;
pub mod wire;

pub use codec::{
    FIX_LEN, GEOBOX_LEN, MAX_DESCRIPTION, MAX_DUTY_AREAS, MAX_EVIDENCE, MAX_NAME, MAX_PARTIES,
    MAX_RECEIPT_IDS, MAX_SHORT_TEXT, MAX_TTL_MIN, pack_fix, pack_geobox, unpack_fix, unpack_geobox,
};
pub use error::RecordError;
pub use identity::{KeyHint, KeyRing, Keypair, PublicKey};
pub use record::{Envelope, Record, Unverified, agreement_hash, verify_batch};
pub use seal::{SealEntropy, SealError, Sealed};
pub use types::*;

/// The envelope version this code writes and reads.
pub const VERSION: u64 = 1;
/// The largest record accepted, in bytes (envelope and signature).
pub const MAX_RECORD_LEN: usize = 2048;
/// The deepest nesting of CBOR arrays in a valid envelope.
pub const MAX_DEPTH: usize = 4;
/// How far after the verifier's clock a record's creation time may be (boats' clocks drift).
pub const MAX_FUTURE_SKEW_S: u64 = 600;

#[cfg(test)]
mod tests;
