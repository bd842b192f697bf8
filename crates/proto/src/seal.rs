//! Sealed records: a record of a private kind (text, pair alert, dispute report, case update,
//! agreement signature) encrypted to its readers, still signed by its author over the sealed
//! bytes so that every relay verifies the author without reading the content.
//!
//! The construction is age's X25519 recipient stanza (age-encryption.org/v1, "X25519
//! recipient stanza") with a ChaCha20-Poly1305 payload, adapted to a record:
//!
//! ```text
//! e, E        = ephemeral X25519 secret and share (one per record, shared by all stanzas)
//! k           = 16-byte content key (random)
//! for each recipient R (X25519 public key of its ed25519 identity):
//!   okm       = HKDF-SHA256(ikm = X25519(e, R), salt = E || R, info = "haiqiao/sealed/v1/stanza", 36)
//!   stanza    = okm[32..36] (hint) || ChaCha20-Poly1305(okm[0..32], nonce 0, aad "", k)
//! p           = HKDF-SHA256(ikm = k, salt = E, info = "haiqiao/sealed/v1/payload", 32)
//! ciphertext  = ChaCha20-Poly1305(p, nonce 0, aad = envelope bytes before the ciphertext's
//!               content, plaintext = the inner body's canonical CBOR)
//! ```
//!
//! Differences from age, each argued in docs/protocol.md: one ephemeral share per record
//! rather than per stanza (randomness re-use in multi-recipient DH encryption, Bellare,
//! Boldyreva, Kurosawa and Staddon 2007); the stanza's hint is derived from the shared secret,
//! so a relay cannot tell which of the readers a stanza is for; the payload's associated data
//! is the signed envelope before the ciphertext, binding author, sequence, time, destination,
//! inner kind, priority and stanzas to the content. The X25519 keys are the nodes' ed25519 keys
//! mapped to Montgomery form (as age's `ssh-ed25519` recipients and libsodium do; joint
//! security: Thormarker, "On using the same key pair for Ed25519 and an X25519 based KEM",
//! ePrint 2021/509).
//!
//! No randomness is read here: the caller passes a [`SealEntropy`] from its CSPRNG, so that
//! vectors are deterministic.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::codec;
use crate::error::RecordError;
use crate::identity::{Keypair, PublicKey, SIGNATURE_LEN};
use crate::record::{Envelope, Record};
use crate::types::{Body, Kind, Priority};

/// Length of a stanza's recipient hint.
pub const SEAL_HINT_LEN: usize = 4;
/// Length of the content key.
pub const CONTENT_KEY_LEN: usize = 16;
/// Length of a ChaCha20-Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Length of a wrapped content key (key and tag).
pub const WRAPPED_LEN: usize = CONTENT_KEY_LEN + TAG_LEN;
/// Length of one stanza on the wire: hint and wrapped key.
pub const STANZA_LEN: usize = SEAL_HINT_LEN + WRAPPED_LEN;
/// Most readers of one sealed record.
pub const MAX_RECIPIENTS: usize = 16;
/// HKDF info for a stanza's wrapping key and hint.
pub const STANZA_INFO: &[u8] = b"haiqiao/sealed/v1/stanza";
/// HKDF info for the payload key.
pub const PAYLOAD_INFO: &[u8] = b"haiqiao/sealed/v1/payload";
/// Whether records of `kind` are sealed when they have readers (docs/protocol.md, "Who may
/// read what"): the kinds whose table row says at which classes they may be sealed
/// ([`Kind::sealed_as`]).
pub fn sealable(kind: Kind) -> bool {
    !kind.sealed_as().is_empty()
}

/// The priority classes a sealed record of `inner` kind may declare: the class a plain record
/// of that kind has (texts: safety or routine, as their safety flag says).
pub fn priority_allowed(inner: Kind, p: Priority) -> bool {
    inner.sealed_as().contains(&p)
}

/// One reader's wrapped content key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Stanza {
    /// A 4-byte hint derived from the shared secret: the reader finds its stanza by it.
    pub hint: [u8; SEAL_HINT_LEN],
    /// The content key, encrypted and authenticated with the stanza's key.
    pub wrapped: [u8; WRAPPED_LEN],
}

/// The body of a sealed record.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Sealed {
    /// The kind of the record inside (readable by relays: it sets the priority and lets shore
    /// count cases from metadata alone).
    pub inner: Kind,
    /// The priority class (that of the inner record).
    pub priority: Priority,
    /// The ephemeral X25519 share.
    pub ephemeral: [u8; 32],
    /// One stanza per reader, 1 to [`MAX_RECIPIENTS`].
    pub stanzas: Vec<Stanza>,
    /// The inner body's canonical CBOR, encrypted; its last 16 bytes are the tag.
    pub ciphertext: Vec<u8>,
}

/// The randomness one sealing uses, from the caller's CSPRNG (the core reads none itself).
#[derive(Clone)]
pub struct SealEntropy {
    /// The ephemeral X25519 secret (clamped by X25519).
    pub ephemeral: [u8; 32],
    /// The content key.
    pub content_key: [u8; CONTENT_KEY_LEN],
}

impl SealEntropy {
    /// Splits 48 random bytes into the ephemeral secret and the content key.
    pub fn from_bytes(b: &[u8; 48]) -> SealEntropy {
        let mut ephemeral = [0u8; 32];
        ephemeral.copy_from_slice(&b[..32]);
        let mut content_key = [0u8; CONTENT_KEY_LEN];
        content_key.copy_from_slice(&b[32..]);
        SealEntropy {
            ephemeral,
            content_key,
        }
    }
}

impl std::fmt::Debug for SealEntropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealEntropy(..)")
    }
}

/// Why a record could not be sealed or opened. [`SealError::code`] gives the stable names used
/// in `tests/vectors/sealed.json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Records of this kind are public and never sealed.
    #[error("records of kind {} are not sealed", .0.name())]
    NotSealable(Kind),
    /// No reader was given.
    #[error("a sealed record needs at least one reader")]
    NoRecipients,
    /// More readers than [`MAX_RECIPIENTS`].
    #[error("{0} readers, more than the limit of {MAX_RECIPIENTS}")]
    TooManyRecipients(usize),
    /// The record is not sealed.
    #[error("the record is not sealed")]
    NotSealed,
    /// No stanza is for this key.
    #[error("this key is not among the record's readers")]
    NotRecipient,
    /// A stanza carries this key's hint but does not unwrap under it.
    #[error("a stanza for this key does not authenticate")]
    TamperedStanza,
    /// The ephemeral share is a point of small order (the shared secret would be zero).
    #[error("the ephemeral share is a point of small order")]
    BadEphemeral,
    /// The content does not authenticate (changed ciphertext, or changed metadata).
    #[error("the sealed content does not authenticate")]
    TamperedCiphertext,
    /// The content decrypts but is not a valid body of the declared kind and priority.
    #[error("the sealed content is not a valid record body: {0}")]
    BadPlaintext(RecordError),
    /// The record around the content is invalid.
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl SealError {
    /// A stable short name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::NotSealable(_) => "not_sealable",
            SealError::NoRecipients => "no_recipients",
            SealError::TooManyRecipients(_) => "too_many_recipients",
            SealError::NotSealed => "not_sealed",
            SealError::NotRecipient => "not_recipient",
            SealError::TamperedStanza => "tampered_stanza",
            SealError::BadEphemeral => "bad_ephemeral",
            SealError::TamperedCiphertext => "tampered_ciphertext",
            SealError::BadPlaintext(_) => "bad_plaintext",
            SealError::Record(e) => e.code(),
        }
    }
}

const ZERO_NONCE: [u8; 12] = [0; 12];

fn hkdf(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), SealError> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| SealError::Record(RecordError::Malformed("internal: hkdf length")))
}

/// The stanza key and hint for a shared secret.
fn stanza_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Result<([u8; 32], [u8; SEAL_HINT_LEN]), SealError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let mut okm = [0u8; 32 + SEAL_HINT_LEN];
    hkdf(shared, &salt, STANZA_INFO, &mut okm)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&okm[..32]);
    let mut hint = [0u8; SEAL_HINT_LEN];
    hint.copy_from_slice(&okm[32..]);
    Ok((key, hint))
}

fn payload_key(content_key: &[u8], ephemeral: &[u8; 32]) -> Result<[u8; 32], SealError> {
    let mut k = [0u8; 32];
    hkdf(content_key, ephemeral, PAYLOAD_INFO, &mut k)?;
    Ok(k)
}

fn aead(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(key))
}

/// The bytes a sealed record encrypts for `body`: its canonical CBOR, as in an envelope's
/// last item.
pub fn plaintext(body: &Body) -> Result<Vec<u8>, RecordError> {
    codec::encode_body(body)
}

/// Seals `env` (a record of a [`sealable`] kind) to `readers`: returns the envelope with a
/// [`Body::Sealed`] body, ready for [`Record::sign`]. Duplicate readers get one stanza. Every
/// field but the body is kept, and stays readable by relays.
pub fn seal_envelope(
    env: &Envelope,
    readers: &[PublicKey],
    entropy: &SealEntropy,
) -> Result<Envelope, SealError> {
    let inner = env.kind();
    if !sealable(inner) {
        return Err(SealError::NotSealable(inner));
    }
    let mut unique: Vec<PublicKey> = Vec::with_capacity(readers.len());
    for r in readers {
        if !unique.contains(r) {
            unique.push(*r);
        }
    }
    if unique.is_empty() {
        return Err(SealError::NoRecipients);
    }
    if unique.len() > MAX_RECIPIENTS {
        return Err(SealError::TooManyRecipients(unique.len()));
    }
    let plaintext = codec::encode_body(&env.body)?;
    // X25519(e, 9), computed on the Edwards form with the precomputed base-point tables (the
    // same result as the Montgomery ladder, three times faster).
    let ephemeral =
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(entropy.ephemeral))
            .to_bytes();
    let mut stanzas = Vec::with_capacity(unique.len());
    for r in &unique {
        let rx = r.x25519_public();
        let shared = x25519_dalek::x25519(entropy.ephemeral, rx);
        let (key, hint) = stanza_key(&shared, &ephemeral, &rx)?;
        let wrapped = aead(&key)
            .encrypt(Nonce::from_slice(&ZERO_NONCE), &entropy.content_key[..])
            .map_err(|_| SealError::Record(RecordError::Malformed("internal: wrap failed")))?;
        let wrapped: [u8; WRAPPED_LEN] = wrapped
            .try_into()
            .map_err(|_| SealError::Record(RecordError::Malformed("internal: wrap length")))?;
        stanzas.push(Stanza { hint, wrapped });
    }
    let mut sealed = Envelope {
        body: Body::Sealed(Sealed {
            inner,
            priority: env.priority(),
            ephemeral,
            stanzas,
            // A placeholder of the final length: the associated data is everything before the
            // ciphertext's content, whose length head must already be the final one.
            ciphertext: vec![0; plaintext.len() + TAG_LEN],
        }),
        ..env.clone()
    };
    let encoded = codec::encode_envelope(&sealed)?;
    let aad = &encoded[..encoded.len() - (plaintext.len() + TAG_LEN)];
    let pk = payload_key(&entropy.content_key, &ephemeral)?;
    let ct = aead(&pk)
        .encrypt(
            Nonce::from_slice(&ZERO_NONCE),
            Payload {
                msg: &plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Record(RecordError::Malformed("internal: seal failed")))?;
    if let Body::Sealed(s) = &mut sealed.body {
        s.ciphertext = ct;
    }
    Ok(sealed)
}

/// Seals and signs in one step: [`seal_envelope`] then [`Record::sign`].
pub fn seal(
    author: &Keypair,
    env: &Envelope,
    readers: &[PublicKey],
    entropy: &SealEntropy,
) -> Result<Record, SealError> {
    let sealed = seal_envelope(env, readers, entropy)?;
    Ok(Record::sign(author, sealed)?)
}

/// Opens a sealed record with a reader's key: the envelope as the author wrote it, before
/// sealing (same author, sequence, times and destination; the inner body). The record's id
/// stays that of the sealed bytes.
pub fn open(record: &Record, reader: &Keypair) -> Result<Envelope, SealError> {
    open_bytes(record.bytes(), record.envelope(), reader)
}

/// Opens a sealed record into a view of it ([`Record::is_opened`]): the same bytes, id and
/// author, the inner body. What is stored and relayed stays the sealed record.
pub fn open_record(record: &Record, reader: &Keypair) -> Result<Record, SealError> {
    Ok(record.opened(open(record, reader)?))
}

/// Opens from the record's exact bytes (envelope and signature) and its decoded envelope.
/// The signature is not checked here: verify the record first.
pub fn open_bytes(bytes: &[u8], env: &Envelope, reader: &Keypair) -> Result<Envelope, SealError> {
    let Body::Sealed(s) = &env.body else {
        return Err(SealError::NotSealed);
    };
    let env_len = bytes
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(RecordError::Truncated)?;
    let aad_len = env_len
        .checked_sub(s.ciphertext.len())
        .ok_or(RecordError::Truncated)?;
    let envelope_bytes = &bytes[..env_len];
    if envelope_bytes[aad_len..] != s.ciphertext[..] {
        return Err(SealError::Record(RecordError::InvalidField {
            field: "sealed.ciphertext",
            reason: "not the last bytes of the envelope",
        }));
    }
    let aad = &envelope_bytes[..aad_len];
    let me = reader.public().x25519_public();
    let shared = x25519_dalek::x25519(reader.x25519_secret(), s.ephemeral);
    if shared == [0u8; 32] {
        return Err(SealError::BadEphemeral);
    }
    let (key, hint) = stanza_key(&shared, &s.ephemeral, &me)?;
    let mut content_key = None;
    let mut matched = false;
    for st in s.stanzas.iter().filter(|st| st.hint == hint) {
        matched = true;
        if let Ok(k) = aead(&key).decrypt(Nonce::from_slice(&ZERO_NONCE), &st.wrapped[..]) {
            content_key = Some(k);
            break;
        }
    }
    let content_key = match (content_key, matched) {
        (Some(k), _) => k,
        (None, true) => return Err(SealError::TamperedStanza),
        (None, false) => return Err(SealError::NotRecipient),
    };
    let pk = payload_key(&content_key, &s.ephemeral)?;
    let plaintext = aead(&pk)
        .decrypt(
            Nonce::from_slice(&ZERO_NONCE),
            Payload {
                msg: &s.ciphertext,
                aad,
            },
        )
        .map_err(|_| SealError::TamperedCiphertext)?;
    let body = codec::decode_body_bytes(s.inner, &plaintext).map_err(SealError::BadPlaintext)?;
    if body.priority() != s.priority {
        return Err(SealError::BadPlaintext(RecordError::InvalidField {
            field: "sealed.priority",
            reason: "not the inner record's priority",
        }));
    }
    Ok(Envelope {
        body,
        ..env.clone()
    })
}
