//! Identities: ed25519 keys, the short key hint a record carries, and a bounded key ring.
//!
//! A node's ed25519 key is both its record-signing key and its libp2p identity, so a peer id
//! names a vessel. Records do not carry the 32-byte public key: that alone would blow the
//! 100-byte budget of a signed position (64 bytes go to the signature). They carry an 8-byte
//! [`KeyHint`] instead, and the verifier finds the full key in its [`KeyRing`], which is filled
//! from the node's own key, peers' libp2p identities, certificates and the key lists that the
//! sync protocol sends before the records of an author the other side does not know.
//!
//! The hint is a lookup aid, not an identity: a record is attributed to the full key its
//! signature verifies under, so a key ground to collide with someone else's hint can sign only
//! as itself. The ring keeps up to [`MAX_KEYS_PER_HINT`] keys per hint and tries each.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::RecordError;

/// Length of a public key in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a [`KeyHint`] in bytes.
pub const KEY_HINT_LEN: usize = 8;
/// Length of an ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// How many distinct keys a [`KeyRing`] keeps for one hint (collisions are astronomically rare
/// by chance; this bounds the work an attacker who grinds colliding keys can cause).
pub const MAX_KEYS_PER_HINT: usize = 4;

/// An ed25519 public key that is a valid, non-weak curve point: a node's identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses a key, refusing encodings that are not a point, non-canonical encodings of a
    /// point (y ≥ p, or x = 0 with the sign bit set: RFC 8032 §5.1.3 says decoding fails) and
    /// the small-order (weak) keys.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| RecordError::MalformedKey)?;
        strict_point(&arr)
            .map(PublicKey)
            .ok_or(RecordError::MalformedKey)
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.to_bytes()
    }

    /// The key as bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.0.as_bytes()
    }

    /// The 8-byte hint that records carry in place of this key.
    pub fn hint(&self) -> KeyHint {
        let digest = Sha256::digest(self.as_bytes());
        let mut h = [0u8; KEY_HINT_LEN];
        h.copy_from_slice(&digest[..KEY_HINT_LEN]);
        KeyHint(h)
    }

    /// The X25519 public key that records are sealed to for this node: the birational map of
    /// the ed25519 point to Curve25519's Montgomery u-coordinate (RFC 7748 §4.1), as libsodium's
    /// `crypto_sign_ed25519_pk_to_curve25519` and age's `ssh-ed25519` recipients compute it.
    /// See docs/protocol.md, "Sealed records".
    pub fn x25519_public(&self) -> [u8; 32] {
        self.0.to_montgomery().to_bytes()
    }

    /// Strict single verification (rejects non-canonical and small-order components).
    pub(crate) fn verify_strict(&self, msg: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0.verify_strict(msg, &sig).is_ok()
    }

    pub(crate) fn dalek(&self) -> &VerifyingKey {
        &self.0
    }

    /// A short form for people: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.as_bytes()[..4])
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| RecordError::MalformedKey)?;
        PublicKey::from_bytes(&bytes)
    }
}

/// The point encoded by `bytes` if it is the canonical encoding of a point that is not of small
/// order: what a public key and a signature's R must be under strict verification. (The
/// decompression of ed25519-dalek reduces y modulo p, so a few points have a second encoding;
/// refusing it keeps one key to one byte string, hence to one hint.)
pub(crate) fn strict_point(bytes: &[u8; PUBLIC_KEY_LEN]) -> Option<VerifyingKey> {
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    if key.is_weak() || key.to_edwards().compress().to_bytes() != *bytes {
        return None;
    }
    Some(key)
}

/// The first 8 bytes of SHA-256 of a public key: how a record names its author, and how a
/// destination names a node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHint(pub [u8; KEY_HINT_LEN]);

impl KeyHint {
    /// The hint's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_HINT_LEN] {
        &self.0
    }
}

impl fmt::Display for KeyHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for KeyHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHint({})", hex::encode(self.0))
    }
}

impl std::str::FromStr for KeyHint {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| RecordError::MalformedKey)?;
        let arr: [u8; KEY_HINT_LEN] = bytes.try_into().map_err(|_| RecordError::MalformedKey)?;
        Ok(KeyHint(arr))
    }
}

/// A node's secret signing key. The same 32-byte seed is the node's libp2p identity.
pub struct Keypair {
    signing: SigningKey,
    public: PublicKey,
}

impl Keypair {
    /// Builds a key pair from a 32-byte secret seed. The caller supplies the randomness (the
    /// core never reads an entropy source itself).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let vk = signing.verifying_key();
        // A key derived from a seed is never weak: the scalar is clamped to a multiple of the
        // cofactor and non-zero, so the point has full prime order.
        Keypair {
            signing,
            public: PublicKey(vk),
        }
    }

    /// The 32-byte secret seed (keep it secret; it is written to the node's key file).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The X25519 secret scalar that opens records sealed to [`PublicKey::x25519_public`]: the
    /// first half of SHA-512(seed), as ed25519 expands it (RFC 8032 §5.1.5); X25519 clamps it.
    pub fn x25519_secret(&self) -> [u8; 32] {
        self.signing.to_scalar_bytes()
    }

    /// Signs `msg` as is.
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(msg).to_bytes()
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Keypair::from_seed(&self.seed())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.public.short())
    }
}

/// A bounded directory of known public keys, indexed by hint.
///
/// Bounded by `capacity` keys in all (oldest learned is forgotten first) and by
/// [`MAX_KEYS_PER_HINT`] per hint. Keys that must never be forgotten (the node's own, trust
/// anchors) are pinned and do not count against the capacity.
#[derive(Debug, Clone)]
pub struct KeyRing {
    by_hint: BTreeMap<KeyHint, Vec<PublicKey>>,
    /// Learned keys, oldest first, by hint and bytes (a `PublicKey` in memory also holds its
    /// decompressed point, 192 bytes; a node learns thousands of keys).
    order: VecDeque<(KeyHint, [u8; 32])>,
    pinned: BTreeMap<KeyHint, Vec<PublicKey>>,
    capacity: usize,
}

impl KeyRing {
    /// A ring that remembers at most `capacity` learned keys.
    pub fn new(capacity: usize) -> Self {
        KeyRing {
            by_hint: BTreeMap::new(),
            order: VecDeque::new(),
            pinned: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds a key that is never forgotten.
    pub fn pin(&mut self, key: PublicKey) {
        let v = self.pinned.entry(key.hint()).or_default();
        if !v.contains(&key) {
            v.push(key);
        }
    }

    /// Learns a key. Returns false if the key was already known or the hint already holds
    /// [`MAX_KEYS_PER_HINT`] keys.
    pub fn insert(&mut self, key: PublicKey) -> bool {
        let hint = key.hint();
        if self.pinned.get(&hint).is_some_and(|v| v.contains(&key)) {
            return false;
        }
        // Nearly every hint has one key: no room for more until a second one comes.
        let v = self
            .by_hint
            .entry(hint)
            .or_insert_with(|| Vec::with_capacity(1));
        if v.contains(&key) || v.len() >= MAX_KEYS_PER_HINT {
            return false;
        }
        v.push(key);
        self.order.push_back((hint, *key.as_bytes()));
        while self.order.len() > self.capacity {
            if let Some((h, old)) = self.order.pop_front()
                && let Some(v) = self.by_hint.get_mut(&h)
            {
                v.retain(|k| k.as_bytes() != &old);
                if v.is_empty() {
                    self.by_hint.remove(&h);
                }
            }
        }
        true
    }

    /// The keys known for a hint (pinned first).
    pub fn lookup(&self, hint: KeyHint) -> impl Iterator<Item = &PublicKey> + use<'_> {
        self.pinned
            .get(&hint)
            .into_iter()
            .flatten()
            .chain(self.by_hint.get(&hint).into_iter().flatten())
    }

    /// Whether some key with this hint is known.
    pub fn knows(&self, hint: &KeyHint) -> bool {
        self.lookup(*hint).next().is_some()
    }

    /// Number of keys held (pinned and learned).
    pub fn len(&self) -> usize {
        self.order.len() + self.pinned.values().map(Vec::len).sum::<usize>()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        Keypair::from_seed(&[n; 32]).public()
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        // The identity point (small order) is weak.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&ident),
            Err(RecordError::MalformedKey)
        );
        assert_eq!(
            PublicKey::from_bytes(&[1u8; 31]),
            Err(RecordError::MalformedKey)
        );
        // y = 2 is not on the curve.
        let mut not_point = [0u8; 32];
        not_point[0] = 2;
        assert_eq!(
            PublicKey::from_bytes(&not_point),
            Err(RecordError::MalformedKey)
        );
        let k = key(7);
        assert_eq!(PublicKey::from_bytes(k.as_bytes()), Ok(k));
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        // y = 3 is a point of large order; y = p + 3 (p = 2^255 - 19) decompresses to the same
        // point, but RFC 8032 refuses y >= p, and accepting it would give one point two hints.
        let mut y3 = [0u8; 32];
        y3[0] = 3;
        assert!(PublicKey::from_bytes(&y3).is_ok());
        let mut p3 = [0xffu8; 32];
        p3[0] = 0xed + 3;
        p3[31] = 0x7f;
        assert!(VerifyingKey::from_bytes(&p3).is_ok(), "dalek accepts it");
        assert_eq!(PublicKey::from_bytes(&p3), Err(RecordError::MalformedKey));
        // The identity with the sign bit set (x = 0, "negative zero").
        let mut neg_ident = [0u8; 32];
        neg_ident[0] = 1;
        neg_ident[31] = 0x80;
        assert_eq!(
            PublicKey::from_bytes(&neg_ident),
            Err(RecordError::MalformedKey)
        );
    }

    #[test]
    fn ring_is_bounded_and_keeps_pins() {
        let mut ring = KeyRing::new(2);
        ring.pin(key(0));
        assert!(ring.insert(key(1)));
        assert!(ring.insert(key(2)));
        assert!(!ring.insert(key(2)));
        assert!(ring.insert(key(3)));
        assert!(
            !ring.knows(&key(1).hint()),
            "oldest learned key is forgotten"
        );
        assert!(ring.knows(&key(2).hint()));
        assert!(ring.knows(&key(3).hint()));
        assert!(ring.knows(&key(0).hint()), "pinned keys stay");
        assert_eq!(ring.len(), 3);
    }
}
