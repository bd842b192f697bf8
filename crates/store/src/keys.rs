//! Author keys already checked, so that reading a record back does not check its key again.
//!
//! A stored record keeps its author's full key beside its bytes. Parsing a key strictly
//! (`PublicKey::from_bytes`: decompress the point, re-compress it to refuse non-canonical
//! encodings, refuse small-order points) costs about a third of a signature verification, and a
//! relay reads back every record it passes on: before this cache, a relay spent about a sixth
//! of its time re-checking keys it had checked when the records arrived (issue 17). Records are
//! written by few authors, so a small map of the keys seen answers nearly every read.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use haiqiao_proto::identity::PUBLIC_KEY_LEN;
use haiqiao_proto::{PublicKey, RecordError};

/// Keys remembered at most; past it the map starts again (a fleet has about 10,000 vessels).
pub(crate) const KEY_CACHE_CAP: usize = 16_384;

/// See the module docs. Behind a mutex because the store's reads take `&self`.
#[derive(Debug, Default)]
pub(crate) struct KeyCache(Mutex<HashMap<[u8; PUBLIC_KEY_LEN], PublicKey>>);

impl KeyCache {
    /// The key `bytes` encode, checked strictly the first time they are seen.
    pub(crate) fn key(&self, bytes: &[u8]) -> Result<PublicKey, RecordError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| RecordError::MalformedKey)?;
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = map.get(&arr) {
            return Ok(*k);
        }
        let k = PublicKey::from_bytes(&arr)?;
        if map.len() >= KEY_CACHE_CAP {
            map.clear();
        }
        map.insert(arr, k);
        Ok(k)
    }

    /// Keys remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use haiqiao_proto::Keypair;

    #[test]
    fn a_key_is_checked_once_and_a_bad_one_never_remembered() {
        let cache = KeyCache::default();
        let k = Keypair::from_seed(&[7; 32]).public();
        assert_eq!(cache.key(k.as_bytes()).unwrap(), k);
        assert_eq!(cache.key(k.as_bytes()).unwrap(), k);
        assert_eq!(cache.len(), 1);
        // The identity point (small order) and a short key are refused, every time.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        for _ in 0..2 {
            assert!(cache.key(&weak).is_err());
            assert!(cache.key(&[1, 2, 3]).is_err());
        }
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = KeyCache::default();
        for i in 0..(KEY_CACHE_CAP + 10) as u32 {
            let mut seed = [1u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            cache
                .key(Keypair::from_seed(&seed).public().as_bytes())
                .unwrap();
            assert!(cache.len() <= KEY_CACHE_CAP);
        }
    }
}
