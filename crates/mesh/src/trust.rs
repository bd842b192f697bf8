//! What the engine is told about certificates: who may free copies with a receipt, whose
//! records get the full quota, whose records are refused.
//!
//! The engine does not read certificates itself: the fleet projections (haiqiao-fleet) do,
//! and the node hands the engine a [`TrustPolicy`] snapshot whenever trust changes (a
//! certificate or revocation arrives, one expires). Keeping it a plain value keeps the engine
//! free of the fleet crate and lets the simulator run without certificates.

use std::collections::BTreeSet;

use haiqiao_proto::{KeyHint, PublicKey};

/// The engine's view of trust.
///
/// With `enforced` off (a node configured without trust anchors, and the default) every
/// receipt frees copies and every author has the full quota, as in a mesh with no authority.
/// With it on:
/// - only receipts whose author is in `shore` (a certified shore station) free copies; other
///   receipts are carried as ordinary records;
/// - authors not in `trusted` get the tighter `uncertified_author_*` quota of
///   [`crate::MeshConfig`], except for distress-class records, which are carried whatever
///   their author;
/// - records from keys in `revoked` are refused, except distress-class records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Whether certificates count (the node has at least one trust anchor).
    pub enforced: bool,
    /// Authors with the full quota: anchors and keys certified in any role, not revoked. By
    /// hint, because quotas are checked before a record's signature is.
    pub trusted: BTreeSet<KeyHint>,
    /// Certified shore stations, not revoked: their receipts free copies.
    pub shore: BTreeSet<PublicKey>,
    /// Revoked keys.
    pub revoked: BTreeSet<PublicKey>,
}

impl TrustPolicy {
    /// Whether a receipt signed by `author` frees the copies it names.
    pub fn receipt_counts(&self, author: &PublicKey) -> bool {
        !self.enforced || (self.shore.contains(author) && !self.revoked.contains(author))
    }

    /// Whether `author` has the full quota.
    pub fn full_quota(&self, author: &KeyHint) -> bool {
        !self.enforced || self.trusted.contains(author)
    }

    /// Whether records of `author` other than distress are refused.
    pub fn refuses(&self, author: &PublicKey) -> bool {
        self.enforced && self.revoked.contains(author)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_proto::Keypair;

    #[test]
    fn off_by_default_everything_counts() {
        let k = Keypair::from_seed(&[1; 32]).public();
        let t = TrustPolicy::default();
        assert!(t.receipt_counts(&k));
        assert!(t.full_quota(&k.hint()));
        assert!(!t.refuses(&k));
    }

    #[test]
    fn enforced_needs_certificates() {
        let shore = Keypair::from_seed(&[1; 32]).public();
        let other = Keypair::from_seed(&[2; 32]).public();
        let mut t = TrustPolicy {
            enforced: true,
            ..TrustPolicy::default()
        };
        t.shore.insert(shore);
        t.trusted.insert(shore.hint());
        assert!(t.receipt_counts(&shore));
        assert!(!t.receipt_counts(&other));
        assert!(t.full_quota(&shore.hint()));
        assert!(!t.full_quota(&other.hint()));
        t.revoked.insert(shore);
        assert!(!t.receipt_counts(&shore));
        assert!(t.refuses(&shore));
        assert!(!t.refuses(&other));
    }
}
