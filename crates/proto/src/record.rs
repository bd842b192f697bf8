//! The signed record: envelope, signature, id, and how each is checked.
//!
//! ```text
//! record    = envelope || signature            (signature: the last 64 bytes)
//! envelope  = canonical CBOR array of 8 items  (see codec.rs and docs/protocol.md)
//! signature = Ed25519(author key, "haiqiao/record/v1" || envelope)
//! id        = SHA-256(envelope)[0..16]
//! ```
//!
//! The signature covers the envelope bytes exactly as they travel and are stored; nothing is
//! ever re-encoded to be verified, and the id names those same bytes.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::codec;
use crate::error::RecordError;
use crate::identity::{KeyHint, KeyRing, Keypair, PublicKey, SIGNATURE_LEN};
use crate::types::*;
use crate::{MAX_FUTURE_SKEW_S, MAX_RECORD_LEN};

/// The domain-separation prefix signed before the envelope (the key is also a libp2p key).
pub const SIGNING_CONTEXT: &[u8] = b"haiqiao/record/v1";

/// Everything a record says, before it is signed.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Envelope {
    /// The author's key hint.
    pub author: KeyHint,
    /// The author's sequence number for this record (per author, increasing).
    pub seq: u64,
    /// When the author created the record.
    pub created: Timestamp,
    /// Minutes from creation until the record expires (1 to 90 days' worth).
    pub ttl_min: u32,
    /// Where it is going.
    pub dest: Destination,
    /// What it says.
    pub body: Body,
}

impl Envelope {
    /// The record kind.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// The priority class.
    pub fn priority(&self) -> Priority {
        self.body.priority()
    }

    /// Expiry, seconds since the Unix epoch.
    pub fn expiry(&self) -> u64 {
        self.created.secs() + u64::from(self.ttl_min) * 60
    }

    /// Checks the record's times against `now` (seconds since the epoch).
    pub fn check_time(&self, now: u64) -> Result<(), RecordError> {
        if self.created.secs() > now.saturating_add(MAX_FUTURE_SKEW_S) {
            return Err(RecordError::FromFuture {
                created: self.created.secs(),
                now,
            });
        }
        let expiry = self.expiry();
        if expiry <= now {
            return Err(RecordError::Expired { expiry, now });
        }
        Ok(())
    }
}

/// The SHA-256 of an agreement's text as UTF-8: what an agreement signature carries for the
/// text a mediator proposed in a case update.
pub fn agreement_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn id_of(envelope: &[u8]) -> RecordId {
    let d = Sha256::digest(envelope);
    let mut id = [0u8; RECORD_ID_LEN];
    id.copy_from_slice(&d[..RECORD_ID_LEN]);
    RecordId(id)
}

fn signing_message(envelope: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + envelope.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(envelope);
    m
}

/// A record whose structure has been checked but whose signature has not.
#[derive(Clone, Debug)]
pub struct Unverified {
    bytes: Arc<[u8]>,
    id: RecordId,
    envelope: Envelope,
}

impl Unverified {
    /// Decodes a record strictly: size, canonical CBOR, nesting, trailing bytes, version, kind,
    /// every field. Never panics, whatever the input.
    pub fn decode(bytes: &[u8]) -> Result<Unverified, RecordError> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: MAX_RECORD_LEN,
            });
        }
        if bytes.len() <= SIGNATURE_LEN {
            return Err(RecordError::Truncated);
        }
        let env_len = bytes.len() - SIGNATURE_LEN;
        let envelope_bytes = &bytes[..env_len];
        let (end, texts) = codec::scan_record(envelope_bytes)?;
        if end < env_len {
            return Err(RecordError::TrailingBytes(env_len - end));
        }
        texts?;
        let envelope = codec::decode_envelope(envelope_bytes)?;
        Ok(Unverified {
            id: id_of(envelope_bytes),
            bytes: Arc::from(bytes),
            envelope,
        })
    }

    /// The record id.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The decoded envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn envelope_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - SIGNATURE_LEN]
    }

    fn signature(&self) -> [u8; SIGNATURE_LEN] {
        let mut s = [0u8; SIGNATURE_LEN];
        s.copy_from_slice(&self.bytes[self.bytes.len() - SIGNATURE_LEN..]);
        s
    }

    /// Verifies the signature against the keys in `ring` that carry the author's hint, and the
    /// record's times against `now`.
    pub fn verify(self, ring: &KeyRing, now: u64) -> Result<Record, RecordError> {
        self.envelope.check_time(now)?;
        let mut candidates = ring.lookup(self.envelope.author).peekable();
        if candidates.peek().is_none() {
            return Err(RecordError::UnknownAuthor(self.envelope.author));
        }
        let msg = signing_message(self.envelope_bytes());
        let sig = self.signature();
        for key in candidates {
            if key.verify_strict(&msg, &sig) {
                return Ok(Record {
                    author: *key,
                    inner: self,
                });
            }
        }
        Err(RecordError::BadSignature)
    }

    /// Verifies against one given key (e.g. the peer's own identity).
    pub fn verify_with_key(self, key: &PublicKey, now: u64) -> Result<Record, RecordError> {
        self.envelope.check_time(now)?;
        if key.hint() != self.envelope.author {
            return Err(RecordError::BadSignature);
        }
        let msg = signing_message(self.envelope_bytes());
        if key.verify_strict(&msg, &self.signature()) {
            Ok(Record {
                author: *key,
                inner: self,
            })
        } else {
            Err(RecordError::BadSignature)
        }
    }
}

/// Encodings of the points of small order (the eight-torsion), as libsodium lists them
/// (`crypto_core_ed25519_is_valid_point`'s blacklist); compared with the sign bit ignored, they
/// cover all eight points and their non-canonical encodings `p` and `p + 1`.
const SMALL_ORDER: [[u8; 32]; 7] = [
    // 0 (order 4)
    [0; 32],
    // 1 (order 1)
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // p - 1 (order 2)
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p (= 0, order 4, non-canonical)
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // p + 1 (= 1, order 1, non-canonical)
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Whether a signature's R passes the checks strict verification makes on its encoding alone:
/// y is canonical (below p = 2^255 - 19) and R is not a point of small order. A byte
/// comparison, so that screening a batch costs almost nothing (decompressing R to ask the
/// same question doubled the cost of batch verification).
pub(crate) fn strict_r(sig: &[u8; SIGNATURE_LEN]) -> bool {
    let r = &sig[..32];
    let last = r[31] & 0x7f;
    // y >= p: the top 31 bytes are all ones (with the sign bit cleared) and the first byte is
    // at least 0xed.
    let y_non_canonical = last == 0x7f && r[1..31].iter().all(|b| *b == 0xff) && r[0] >= 0xed;
    let small = SMALL_ORDER
        .iter()
        .any(|s| s[..31] == r[..31] && s[31] == last);
    !y_non_canonical && !small
}

/// Verifies many records at once with ed25519 batch verification, falling back to one-by-one
/// checks to find the culprits when the batch fails, and for authors whose hint has more than
/// one known key. Results are in input order.
///
/// Signatures whose R strict verification refuses outright (small order, non-canonical) never
/// enter the batch. One gap remains, inherent to batching the cofactorless equation: an R with
/// a small-order component can pass the batch with some probability where [`Unverified::verify`]
/// refuses it. Only the holder of the author's secret key can make such a signature.
pub fn verify_batch(
    items: Vec<Unverified>,
    ring: &KeyRing,
    now: u64,
) -> Vec<Result<Record, RecordError>> {
    let mut out: Vec<Option<Result<Record, RecordError>>> = Vec::with_capacity(items.len());
    let mut batch: Vec<(usize, Unverified, PublicKey)> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        out.push(None);
        if let Err(e) = item.envelope.check_time(now) {
            out[i] = Some(Err(e));
            continue;
        }
        let mut keys = ring.lookup(item.envelope.author);
        match (keys.next(), keys.next()) {
            (None, _) => out[i] = Some(Err(RecordError::UnknownAuthor(item.envelope.author))),
            (Some(k), None) => {
                let k = *k;
                // The batch equation does not refuse what `verify_strict` refuses in R (small
                // order, non-canonical encoding): such a signature is checked alone, and fails.
                if strict_r(&item.signature()) {
                    batch.push((i, item, k));
                } else {
                    out[i] = Some(item.verify_with_key(&k, now));
                }
            }
            (Some(_), Some(_)) => out[i] = Some(item.verify(ring, now)),
        }
    }
    if !batch.is_empty() {
        // The signed messages, one after another in one buffer (not an allocation each).
        let mut msgs: Vec<u8> = Vec::with_capacity(
            batch
                .iter()
                .map(|(_, u, _)| SIGNING_CONTEXT.len() + u.envelope_bytes().len())
                .sum(),
        );
        let mut ends: Vec<usize> = Vec::with_capacity(batch.len());
        for (_, u, _) in &batch {
            msgs.extend_from_slice(SIGNING_CONTEXT);
            msgs.extend_from_slice(u.envelope_bytes());
            ends.push(msgs.len());
        }
        let msg_refs: Vec<&[u8]> = ends
            .iter()
            .scan(0, |start, &end| {
                let m = msgs.get(*start..end).unwrap_or_default();
                *start = end;
                Some(m)
            })
            .collect();
        let sigs: Vec<ed25519_dalek::Signature> = batch
            .iter()
            .map(|(_, u, _)| ed25519_dalek::Signature::from_bytes(&u.signature()))
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> =
            batch.iter().map(|(_, _, k)| *k.dalek()).collect();
        let all_ok = ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys).is_ok();
        for (i, u, k) in batch {
            out[i] = Some(if all_ok {
                Ok(Record {
                    author: k,
                    inner: u,
                })
            } else {
                u.verify_with_key(&k, now)
            });
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or(Err(RecordError::Malformed("internal: unverified"))))
        .collect()
}

/// A verified record: its bytes, id, decoded envelope, and the full key that signed it.
#[derive(Clone, Debug)]
pub struct Record {
    inner: Unverified,
    author: PublicKey,
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.inner.bytes == other.inner.bytes && self.author == other.author
    }
}
impl Eq for Record {}

impl Record {
    /// Signs an envelope. The envelope's author must be this key's hint.
    pub fn sign(key: &Keypair, envelope: Envelope) -> Result<Record, RecordError> {
        if envelope.author != key.public().hint() {
            return Err(RecordError::InvalidField {
                field: "author",
                reason: "not the signing key's hint",
            });
        }
        let mut bytes = codec::encode_envelope(&envelope)?;
        let id = id_of(&bytes);
        let sig = key.sign_raw(&signing_message(&bytes));
        bytes.extend_from_slice(&sig);
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: MAX_RECORD_LEN,
            });
        }
        Ok(Record {
            inner: Unverified {
                bytes: Arc::from(bytes),
                id,
                envelope,
            },
            author: key.public(),
        })
    }

    /// Rebuilds a record from bytes this node verified before (its own store). The structure
    /// is decoded again; the signature is not re-checked.
    pub fn from_trusted(author: PublicKey, bytes: &[u8]) -> Result<Record, RecordError> {
        let inner = Unverified::decode(bytes)?;
        if inner.envelope.author != author.hint() {
            return Err(RecordError::InvalidField {
                field: "author",
                reason: "stored key does not match the hint",
            });
        }
        Ok(Record { inner, author })
    }

    /// A view of this sealed record with its opened envelope: the same bytes, id and author
    /// (what is stored and carried stays sealed), the inner body.
    pub(crate) fn opened(&self, envelope: Envelope) -> Record {
        Record {
            inner: Unverified {
                bytes: self.inner.bytes.clone(),
                id: self.inner.id,
                envelope,
            },
            author: self.author,
        }
    }

    /// Whether this is an opened view of a sealed record ([`crate::seal::open_record`]): its
    /// bytes are sealed (the envelope's kind, its third byte, is 14) and its body is not.
    pub fn is_opened(&self) -> bool {
        self.inner.bytes.get(2) == Some(&(Kind::Sealed as u8)) && self.kind() != Kind::Sealed
    }

    /// The record id.
    pub fn id(&self) -> RecordId {
        self.inner.id
    }

    /// The full key of the author.
    pub fn author(&self) -> PublicKey {
        self.author
    }

    /// The decoded envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.inner.envelope
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.inner.envelope.body
    }

    /// The exact bytes (envelope and signature).
    pub fn bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// The bytes, shared.
    pub fn shared_bytes(&self) -> Arc<[u8]> {
        self.inner.bytes.clone()
    }

    /// Encoded length.
    pub fn len(&self) -> usize {
        self.inner.bytes.len()
    }

    /// Always false: a record has at least a signature.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The record kind.
    pub fn kind(&self) -> Kind {
        self.inner.envelope.kind()
    }

    /// The priority class.
    pub fn priority(&self) -> Priority {
        self.inner.envelope.priority()
    }

    /// Expiry, seconds since the epoch.
    pub fn expiry(&self) -> u64 {
        self.inner.envelope.expiry()
    }
}
