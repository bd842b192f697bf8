//! Trust: authority keys as anchors, the certificates they issue, and revocations.
//!
//! The model is a small PKI in records, in the manner of X.509 (RFC 5280) without its
//! encodings: the node's configuration names trust anchors (the fisheries bureau's keys); a
//! certificate binds a key to a name, registration, MMSI and role for a period and counts if
//! its issuer was an authority when it was issued — an anchor, or a key certified as
//! `Role::Authority` by one, at most [`MAX_AUTHORITY_CHAIN`] intermediate authorities deep. A
//! revocation counts if an authority (or the key itself) signed it. As with the CRL reason
//! codes of RFC 5280 §5.3.1, a key revoked as compromised (or for no stated reason) loses
//! everything it ever signed, while a key retired or superseded keeps what it signed before
//! the revocation.
//!
//! Every question is asked "at" a time — usually the `created` time of the record whose
//! author is being judged — so the answer does not depend on when the question is asked, nor
//! on the order in which certificates and revocations arrived.

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{Body, PublicKey, Record, RecordId, RevocationReason, Role, Timestamp};

/// Most intermediate authorities between a trust anchor and a certified key.
pub const MAX_AUTHORITY_CHAIN: usize = 2;
/// Certificates kept per subject key (the newest).
pub const MAX_CERTS_PER_KEY: usize = 4;
/// Revocations kept per subject key.
pub const MAX_REVOCATIONS_PER_KEY: usize = 4;

#[derive(Clone, Debug)]
struct Cert {
    id: RecordId,
    issuer: PublicKey,
    issued: Timestamp,
    expiry: u64,
    name: String,
    registration: String,
    mmsi: Option<u32>,
    role: Role,
    valid_from: Timestamp,
    valid_until: Timestamp,
}

#[derive(Clone, Debug)]
struct Revocation {
    id: RecordId,
    issuer: PublicKey,
    issued: Timestamp,
    expiry: u64,
    reason: RevocationReason,
}

impl Revocation {
    /// Whether the revocation takes effect on what the key signed at `at`.
    fn covers(&self, at: Timestamp) -> bool {
        match self.reason {
            RevocationReason::Unspecified | RevocationReason::Compromised => true,
            RevocationReason::Retired | RevocationReason::Superseded => at >= self.issued,
        }
    }
}

/// What is known of a key: whether it is an anchor, its certified roles and identity, whether
/// it is revoked. Certified fields come from the newest certificate that counts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrustView {
    /// A configured trust anchor.
    pub anchor: bool,
    /// Roles certified and valid at the time asked.
    pub roles: Vec<Role>,
    /// Revoked for what it signed at the time asked.
    pub revoked: bool,
    /// Certified vessel or station name.
    pub name: Option<String>,
    /// Certified registration number.
    pub registration: Option<String>,
    /// Certified MMSI.
    pub mmsi: Option<u32>,
}

impl TrustView {
    /// Certified (or an anchor) and not revoked.
    pub fn is_trusted(&self) -> bool {
        !self.revoked && (self.anchor || !self.roles.is_empty())
    }
}

/// The trust projection. Bounded: [`MAX_CERTS_PER_KEY`] and [`MAX_REVOCATIONS_PER_KEY`] per
/// key, and the totals given to [`Trust::new`].
#[derive(Debug)]
pub(crate) struct Trust {
    anchors: BTreeSet<PublicKey>,
    certs: BTreeMap<PublicKey, Vec<Cert>>,
    revocations: BTreeMap<PublicKey, Vec<Revocation>>,
    cert_count: usize,
    revocation_count: usize,
    max_certs: usize,
    max_revocations: usize,
}

/// What observing a certificate or revocation did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrustChange {
    /// Already known, or not a trust record.
    Nothing,
    /// Stored, and it counts now.
    Counts,
    /// Stored, but its issuer is not (yet) a trusted authority.
    Untrusted,
}

impl Trust {
    pub(crate) fn new(
        anchors: BTreeSet<PublicKey>,
        max_certs: usize,
        max_revocations: usize,
    ) -> Trust {
        Trust {
            anchors,
            certs: BTreeMap::new(),
            revocations: BTreeMap::new(),
            cert_count: 0,
            revocation_count: 0,
            max_certs: max_certs.max(1),
            max_revocations: max_revocations.max(1),
        }
    }

    pub(crate) fn is_anchor(&self, key: &PublicKey) -> bool {
        self.anchors.contains(key)
    }

    /// Stores a certificate or revocation.
    pub(crate) fn observe(&mut self, r: &Record) -> TrustChange {
        let issued = r.envelope().created;
        match r.body() {
            Body::Certificate {
                subject,
                name,
                registration,
                mmsi,
                role,
                valid_from,
                valid_until,
            } => {
                let list = self.certs.entry(*subject).or_default();
                if list.iter().any(|c| c.id == r.id()) {
                    return TrustChange::Nothing;
                }
                list.push(Cert {
                    id: r.id(),
                    issuer: r.author(),
                    issued,
                    expiry: r.expiry(),
                    name: name.clone(),
                    registration: registration.clone(),
                    mmsi: *mmsi,
                    role: *role,
                    valid_from: *valid_from,
                    valid_until: *valid_until,
                });
                self.cert_count += 1;
                list.sort_by_key(|c| std::cmp::Reverse((c.issued, c.id)));
                if list.len() > MAX_CERTS_PER_KEY {
                    // Forged certificates must not push out real ones: drop one whose issuer
                    // is not an authority first, then the oldest.
                    if let Some(id) = self.weakest_cert(subject) {
                        self.remove_cert(subject, &id);
                    }
                }
                while self.cert_count > self.max_certs {
                    self.evict_cert();
                }
                if self.authority(&r.author(), issued, MAX_AUTHORITY_CHAIN) {
                    TrustChange::Counts
                } else {
                    TrustChange::Untrusted
                }
            }
            Body::Revocation { subject, reason } => {
                let list = self.revocations.entry(*subject).or_default();
                if list.iter().any(|v| v.id == r.id()) {
                    return TrustChange::Nothing;
                }
                list.push(Revocation {
                    id: r.id(),
                    issuer: r.author(),
                    issued,
                    expiry: r.expiry(),
                    reason: *reason,
                });
                self.revocation_count += 1;
                if list.len() > MAX_REVOCATIONS_PER_KEY {
                    let victim = self.revocations.get(subject).and_then(|l| {
                        l.iter()
                            .map(|v| {
                                (
                                    self.revocation_counts(subject, v),
                                    v.covers(Timestamp(0)),
                                    std::cmp::Reverse(v.issued),
                                    v.id,
                                )
                            })
                            .min()
                    });
                    if let Some((_, _, _, id)) = victim {
                        self.remove_revocation(subject, &id);
                    }
                }
                while self.revocation_count > self.max_revocations {
                    self.evict_revocation();
                }
                let counts = *subject == r.author()
                    || self.authority(&r.author(), issued, MAX_AUTHORITY_CHAIN);
                if counts && !self.is_anchor(subject) && self.revocations.contains_key(subject) {
                    TrustChange::Counts
                } else {
                    TrustChange::Untrusted
                }
            }
            _ => TrustChange::Nothing,
        }
    }

    fn cert_counts(&self, c: &Cert) -> bool {
        self.authority(&c.issuer, c.issued, MAX_AUTHORITY_CHAIN)
    }

    fn revocation_counts(&self, subject: &PublicKey, v: &Revocation) -> bool {
        v.issuer == *subject || self.authority(&v.issuer, v.issued, MAX_AUTHORITY_CHAIN)
    }

    /// The certificate of `subject` to drop first: one that does not count, then the oldest.
    fn weakest_cert(&self, subject: &PublicKey) -> Option<RecordId> {
        self.certs.get(subject).and_then(|l| {
            l.iter()
                .map(|c| (self.cert_counts(c), c.issued, c.id))
                .min()
                .map(|(_, _, id)| id)
        })
    }

    /// Drops, over all keys, a certificate that does not count, else the one that expires
    /// first.
    fn evict_cert(&mut self) {
        let victim = self
            .certs
            .iter()
            .flat_map(|(k, l)| l.iter().map(move |c| (k, c)))
            .map(|(k, c)| (self.cert_counts(c), c.expiry, c.id, *k))
            .min();
        match victim {
            Some((_, _, id, key)) => self.remove_cert(&key, &id),
            None => self.cert_count = 0,
        }
    }

    fn remove_cert(&mut self, key: &PublicKey, id: &RecordId) {
        if let Some(l) = self.certs.get_mut(key) {
            let before = l.len();
            l.retain(|c| c.id != *id);
            self.cert_count -= before - l.len();
            if l.is_empty() {
                self.certs.remove(key);
            }
        }
    }

    /// Drops, over all keys, a revocation that does not count, else the one that expires
    /// first.
    fn evict_revocation(&mut self) {
        let victim = self
            .revocations
            .iter()
            .flat_map(|(k, l)| l.iter().map(move |v| (k, v)))
            .map(|(k, v)| (self.revocation_counts(k, v), v.expiry, v.id, *k))
            .min();
        match victim {
            Some((_, _, id, key)) => self.remove_revocation(&key, &id),
            None => self.revocation_count = 0,
        }
    }

    fn remove_revocation(&mut self, key: &PublicKey, id: &RecordId) {
        if let Some(l) = self.revocations.get_mut(key) {
            let before = l.len();
            l.retain(|v| v.id != *id);
            self.revocation_count -= before - l.len();
            if l.is_empty() {
                self.revocations.remove(key);
            }
        }
    }

    /// Forgets certificates and revocations whose records expired (as the store does).
    pub(crate) fn expire(&mut self, now_s: u64) {
        let mut n = 0;
        self.certs.retain(|_, l| {
            l.retain(|c| c.expiry > now_s);
            n += l.len();
            !l.is_empty()
        });
        self.cert_count = n;
        let mut n = 0;
        self.revocations.retain(|_, l| {
            l.retain(|v| v.expiry > now_s);
            n += l.len();
            !l.is_empty()
        });
        self.revocation_count = n;
    }

    /// Whether `key` could certify and revoke at `at`.
    fn authority(&self, key: &PublicKey, at: Timestamp, depth: usize) -> bool {
        if self.anchors.contains(key) {
            return true;
        }
        depth > 0 && self.certified_at(key, Role::Authority, at, depth - 1)
    }

    fn certified_at(&self, key: &PublicKey, role: Role, at: Timestamp, depth: usize) -> bool {
        !self.revoked_at(key, at, depth)
            && self.certs.get(key).is_some_and(|l| {
                l.iter().any(|c| {
                    c.role == role
                        && c.valid_from <= at
                        && at < c.valid_until
                        && self.authority(&c.issuer, c.issued, depth)
                })
            })
    }

    fn revoked_at(&self, key: &PublicKey, at: Timestamp, depth: usize) -> bool {
        if self.anchors.contains(key) {
            return false;
        }
        self.revocations.get(key).is_some_and(|l| {
            l.iter().any(|v| {
                v.covers(at) && (v.issuer == *key || self.authority(&v.issuer, v.issued, depth))
            })
        })
    }

    /// Whether `key` held `role` (certified, valid, not revoked) at `at`. An anchor holds
    /// the authority role.
    pub(crate) fn has_role(&self, key: &PublicKey, role: Role, at: Timestamp) -> bool {
        (role == Role::Authority && self.anchors.contains(key))
            || self.certified_at(key, role, at, MAX_AUTHORITY_CHAIN)
    }

    /// Whether what `key` signed at `at` is refused because the key is revoked.
    pub(crate) fn revoked(&self, key: &PublicKey, at: Timestamp) -> bool {
        self.revoked_at(key, at, MAX_AUTHORITY_CHAIN)
    }

    /// An anchor, or certified in any role, and not revoked, at `at`.
    pub(crate) fn trusted(&self, key: &PublicKey, at: Timestamp) -> bool {
        self.anchors.contains(key)
            || [Role::Vessel, Role::Mediator, Role::Shore, Role::Authority]
                .iter()
                .any(|r| self.certified_at(key, *r, at, MAX_AUTHORITY_CHAIN))
    }

    /// Everything known of `key` at `at`.
    pub(crate) fn view(&self, key: &PublicKey, at: Timestamp) -> TrustView {
        let revoked = self.revoked(key, at);
        let mut v = TrustView {
            anchor: self.anchors.contains(key),
            revoked,
            ..TrustView::default()
        };
        if revoked {
            return v;
        }
        let Some(list) = self.certs.get(key) else {
            return v;
        };
        // `list` is newest first.
        for c in list {
            let counts = c.valid_from <= at
                && at < c.valid_until
                && self.authority(&c.issuer, c.issued, MAX_AUTHORITY_CHAIN);
            if !counts {
                continue;
            }
            if !v.roles.contains(&c.role) {
                v.roles.push(c.role);
            }
            if v.name.is_none() {
                v.name = Some(c.name.clone());
                v.registration = Some(c.registration.clone());
                v.mmsi = c.mmsi;
            }
        }
        v.roles.sort();
        v
    }

    /// The certified name of `key` at `at`, if any.
    pub(crate) fn name(&self, key: &PublicKey, at: Timestamp) -> Option<String> {
        self.view(key, at).name
    }

    /// Keys holding `role` at `at`, among those with certificates.
    pub(crate) fn holders(&self, role: Role, at: Timestamp) -> Vec<PublicKey> {
        self.certs
            .keys()
            .filter(|k| self.has_role(k, role, at))
            .copied()
            .collect()
    }

    /// Anchors and keys certified in some role, not revoked, at `at`.
    pub(crate) fn trusted_keys(&self, at: Timestamp) -> Vec<PublicKey> {
        let mut v: Vec<PublicKey> = self.anchors.iter().copied().collect();
        v.extend(self.certs.keys().filter(|k| self.trusted(k, at)).copied());
        v.sort();
        v.dedup();
        v
    }

    /// Whether any anchor is configured (certificates count).
    pub(crate) fn has_anchors(&self) -> bool {
        !self.anchors.is_empty()
    }

    /// Keys revoked for what they sign at `at`.
    pub(crate) fn revoked_keys(&self, at: Timestamp) -> Vec<PublicKey> {
        self.revocations
            .keys()
            .filter(|k| self.revoked(k, at))
            .copied()
            .collect()
    }
}
