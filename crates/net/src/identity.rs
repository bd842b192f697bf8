//! One key for records and for the network: conversions between haiqiao's [`PublicKey`] and
//! libp2p's [`PeerId`].
//!
//! The peer id of an ed25519 key is the identity multihash (code 0) of the key's protobuf
//! encoding, so the key can be read back out of the peer id without any lookup. Peer ids of any
//! other key type, or sha256-hashed peer ids, are refused: a haiqiao peer is a vessel's record
//! signing key.

use haiqiao_proto::PublicKey;
use libp2p::{PeerId, identity};

use crate::NetError;

/// Multihash code of the identity hash (the digest is the data itself).
const IDENTITY_MULTIHASH: u64 = 0;

/// The libp2p keypair for a haiqiao identity seed (the same ed25519 key signs records).
pub fn keypair_from_seed(seed: [u8; 32]) -> Result<identity::Keypair, NetError> {
    let mut seed = seed;
    identity::Keypair::ed25519_from_bytes(&mut seed).map_err(|e| NetError::Identity(e.to_string()))
}

/// The peer id of a haiqiao key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NetError> {
    let ed = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .map_err(|_| NetError::BadKey)?;
    Ok(identity::PublicKey::from(ed).to_peer_id())
}

/// The haiqiao key a peer id names; refuses peers whose id is not an inlined ed25519 key.
pub fn public_key(peer: &PeerId) -> Result<PublicKey, NetError> {
    let hash = peer.as_ref();
    if hash.code() != IDENTITY_MULTIHASH {
        return Err(NetError::NotEd25519(*peer));
    }
    let key = identity::PublicKey::try_decode_protobuf(hash.digest())
        .map_err(|_| NetError::NotEd25519(*peer))?
        .try_into_ed25519()
        .map_err(|_| NetError::NotEd25519(*peer))?;
    PublicKey::from_bytes(&key.to_bytes()).map_err(|_| NetError::NotEd25519(*peer))
}
