//! The one error type for encoding, decoding and verifying records.

use crate::identity::KeyHint;

/// Why a record was refused. Every way an input can be wrong has its own variant, and
/// [`RecordError::code`] gives the stable name used in the test vectors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The input is longer than [`crate::MAX_RECORD_LEN`].
    #[error("record is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends before the envelope and signature do.
    #[error("record is truncated")]
    Truncated,
    /// Arrays are nested deeper than [`crate::MAX_DEPTH`].
    #[error("record nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Bytes follow the envelope that are not part of it.
    #[error("{0} unexpected bytes after the envelope")]
    TrailingBytes(usize),
    /// The CBOR is valid but not in the one canonical form (shortest heads, definite lengths).
    #[error("non-canonical cbor: {0}")]
    NonCanonical(&'static str),
    /// The bytes are not well-formed CBOR, or use an item the format does not allow.
    #[error("malformed cbor: {0}")]
    Malformed(&'static str),
    /// The envelope's version is not one this code reads.
    #[error("unsupported record version {0}")]
    UnsupportedVersion(u64),
    /// The envelope's kind is not one this code knows.
    #[error("unknown record kind {0}")]
    UnknownKind(u64),
    /// A field has the wrong type, length or range.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A public key that is not a valid, non-weak ed25519 point.
    #[error("malformed public key")]
    MalformedKey,
    /// No key with this hint is known, so the signature cannot be checked yet.
    #[error("unknown author {0}")]
    UnknownAuthor(KeyHint),
    /// The signature does not verify under any known key with the author's hint.
    #[error("bad signature")]
    BadSignature,
    /// The record's expiry is at or before now.
    #[error("record expired at {expiry}, now is {now}")]
    Expired {
        /// Expiry, seconds since the Unix epoch.
        expiry: u64,
        /// The time of the check.
        now: u64,
    },
    /// The record claims a creation time too far after now.
    #[error("record created at {created}, too far after now ({now})")]
    FromFuture {
        /// Creation time claimed.
        created: u64,
        /// The time of the check.
        now: u64,
    },
}

impl RecordError {
    /// A stable short name for the error, as used in `tests/vectors/records.json`.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::TooLarge { .. } => "too_large",
            RecordError::Truncated => "truncated",
            RecordError::TooDeep { .. } => "too_deep",
            RecordError::TrailingBytes(_) => "trailing_bytes",
            RecordError::NonCanonical(_) => "non_canonical",
            RecordError::Malformed(_) => "malformed",
            RecordError::UnsupportedVersion(_) => "unsupported_version",
            RecordError::UnknownKind(_) => "unknown_kind",
            RecordError::InvalidField { .. } => "invalid_field",
            RecordError::MalformedKey => "malformed_key",
            RecordError::UnknownAuthor(_) => "unknown_author",
            RecordError::BadSignature => "bad_signature",
            RecordError::Expired { .. } => "expired",
            RecordError::FromFuture { .. } => "from_future",
        }
    }
}
