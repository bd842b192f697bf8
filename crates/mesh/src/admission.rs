//! Admission: whose records the engine takes in, and how fast.
//!
//! - **Peers**: each connected peer's records go through a token bucket
//!   ([`MeshConfig::peer_records_per_s`], one for its distress-class records, one for the
//!   rest); the excess is refused and asked for again later (backpressure, not a penalty).
//! - **Authors**: each author has a quota ([`MeshConfig::author_records_per_s`]), at most
//!   [`MeshConfig::max_tracked_authors`] of them remembered; uncertified authors (strangers,
//!   while certificates are enforced) get the tighter `uncertified_author_*` quota, and as a
//!   group share one bucket and a cap on what is held ([`MeshConfig::max_uncertified_held`]),
//!   because fresh keys cost nothing to make. Distress calls have buckets of their own.
//! - **Penalties**: malformed frames, forged records and protocol violations add to a peer's
//!   score; at [`MeshConfig::ban_threshold`] it is quarantined (distress only) for
//!   [`MeshConfig::ban_ms`].
//! - **Trust**: the [`TrustPolicy`] snapshot the host hands over (`Input::Trust`) judges who
//!   counts as a stranger and whose records are refused (revoked keys).
//! - **Keys**: records whose author's key is not known yet wait for it ([`PendingKeys`], at
//!   most [`MeshConfig::max_pending_keys`]); beyond that a record from a sync frame is refused
//!   and its session asks for it again once the key is known (nothing is lost within a
//!   contact).

use std::collections::{BTreeMap, VecDeque};

use haiqiao_proto::{KeyHint, KeyRing, Kind, PublicKey};

use crate::config::MeshConfig;
use crate::defence::{Bucket, Offence, Scores};
use crate::index::{Index, Meta};
use crate::trust::TrustPolicy;

/// What the engine admits from whom. See the module docs.
#[derive(Debug)]
pub(crate) struct Admission {
    /// This node (no quota).
    me: KeyHint,
    trust: TrustPolicy,
    scores: Scores,
    /// Peer rates: (peer, whether the bucket is the peer's distress-class bucket).
    peer_buckets: BTreeMap<(PublicKey, bool), Bucket>,
    /// Author quotas: (author, whether the bucket is the author's distress bucket).
    author_buckets: BTreeMap<(KeyHint, bool), Bucket>,
    /// Uncertified authors as a group, when trust is enforced: their records other than
    /// distress, and their distress calls (each its own bucket).
    stranger_buckets: [Bucket; 2],
    /// Records held per author (not distress calls), while certificates are enforced: its
    /// hint, how many. At most one entry per author with a record held.
    held_by_author: BTreeMap<[u8; 32], (KeyHint, u32)>,
    /// Of which by uncertified authors (see [`MeshConfig::max_uncertified_held`]).
    strangers_held: u64,
    /// Uncertified authors' records admitted in the batch being ingested, not yet stored.
    strangers_admitted: u64,
}

/// What a penalty did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Penalised {
    /// The peer's score now.
    pub(crate) score: u32,
    /// Whether it put the peer in quarantine.
    pub(crate) quarantined: bool,
}

impl Admission {
    pub(crate) fn new(cfg: &MeshConfig, me: KeyHint, now_ms: u64) -> Admission {
        Admission {
            me,
            trust: TrustPolicy::default(),
            scores: Scores::default(),
            peer_buckets: BTreeMap::new(),
            author_buckets: BTreeMap::new(),
            stranger_buckets: [
                Bucket::full(cfg.uncertified_records_burst, now_ms),
                Bucket::full(cfg.uncertified_distress_burst, now_ms),
            ],
            held_by_author: BTreeMap::new(),
            strangers_held: 0,
            strangers_admitted: 0,
        }
    }

    /// What the engine knows of certificates.
    pub(crate) fn trust(&self) -> &TrustPolicy {
        &self.trust
    }

    /// Replaces the trust snapshot; returns the old one, or `None` if nothing changed. Counts
    /// the records held from strangers again (`index`: what is held).
    pub(crate) fn set_trust(&mut self, trust: TrustPolicy, index: &Index) -> Option<TrustPolicy> {
        if trust == self.trust {
            return None;
        }
        let old = std::mem::replace(&mut self.trust, trust);
        self.recount_strangers(old.enforced, index);
        Some(old)
    }

    /// Whether records of `author` other than distress are refused (its key is revoked).
    pub(crate) fn refuses(&self, author: &PublicKey) -> bool {
        self.trust.refuses(author)
    }

    // --- peers -----------------------------------------------------------------------------

    /// A contact came up: its rates start full.
    pub(crate) fn peer_up(&mut self, cfg: &MeshConfig, peer: PublicKey, now_ms: u64) {
        for distress in [false, true] {
            self.peer_buckets.insert(
                (peer, distress),
                Bucket::full(cfg.peer_records_burst, now_ms),
            );
        }
    }

    /// A contact ended: its rates are forgotten (its score is not).
    pub(crate) fn peer_down(&mut self, peer: &PublicKey) {
        self.peer_buckets.remove(&(*peer, false));
        self.peer_buckets.remove(&(*peer, true));
    }

    /// Takes one record from `peer`'s rate (`distress`: its distress-class bucket); false if
    /// the rate is spent (the record is refused for now and asked for again later).
    pub(crate) fn peer_allows(
        &mut self,
        cfg: &MeshConfig,
        peer: PublicKey,
        distress: bool,
        now_ms: u64,
    ) -> bool {
        let (rate, burst) = (cfg.peer_records_per_s, cfg.peer_records_burst);
        self.peer_buckets
            .entry((peer, distress))
            .or_insert_with(|| Bucket::full(burst, now_ms))
            .take(rate, burst, now_ms)
    }

    /// Records (other than distress) `peer`'s rate would take now, without taking any.
    pub(crate) fn peer_tokens(&self, cfg: &MeshConfig, peer: &PublicKey, now_ms: u64) -> u64 {
        let (rate, burst) = (cfg.peer_records_per_s, cfg.peer_records_burst);
        self.peer_buckets
            .get(&(*peer, false))
            .map_or(u64::from(burst), |b| b.available(rate, burst, now_ms))
    }

    /// Adds an offence to `peer`'s score; at [`MeshConfig::ban_threshold`] the peer is
    /// quarantined for [`MeshConfig::ban_ms`].
    pub(crate) fn penalise(
        &mut self,
        cfg: &MeshConfig,
        peer: PublicKey,
        offence: Offence,
        now_ms: u64,
    ) -> Penalised {
        let score = self.scores.add(peer, offence, now_ms);
        let quarantined = score >= cfg.ban_threshold;
        if quarantined {
            // Quarantine, not disconnection: distress must still flow to and from the peer
            // (a boat whose software misbehaves may still be the one nearest a distress).
            self.scores.ban(peer, now_ms + cfg.ban_ms);
        }
        Penalised { score, quarantined }
    }

    /// Until when a peer is quarantined.
    pub(crate) fn quarantined_until(&self, peer: &PublicKey, now_ms: u64) -> Option<u64> {
        self.scores.banned_until(peer, now_ms)
    }

    /// Whether records from (or to) `peer` are limited to distress (none: this node's own).
    pub(crate) fn quarantined(&self, peer: Option<PublicKey>, now_ms: u64) -> bool {
        peer.is_some_and(|p| self.scores.banned_until(&p, now_ms).is_some())
    }

    // --- authors ---------------------------------------------------------------------------

    /// A batch of records is about to be admitted (the strangers' cap counts it).
    pub(crate) fn start_batch(&mut self) {
        self.strangers_admitted = 0;
    }

    /// Counts a record held from now on for its author (`hint`: asked for only when the
    /// author has no other record held). Counted only while certificates are enforced (none
    /// are strangers otherwise; the simulator runs with trust off and ten thousand authors
    /// per node).
    pub(crate) fn count_held(&mut self, meta: &Meta, hint: impl FnOnce() -> KeyHint) {
        if !self.trust.enforced || meta.kind == Kind::Distress {
            return;
        }
        let e = self
            .held_by_author
            .entry(meta.author)
            .or_insert_with(|| (hint(), 0));
        e.1 += 1;
        let hint = e.0;
        if self.is_stranger(&hint) {
            self.strangers_held += 1;
        }
    }

    /// Forgets a record no longer held.
    pub(crate) fn uncount_held(&mut self, meta: &Meta) {
        if meta.kind == Kind::Distress || !self.trust.enforced {
            return;
        }
        if let Some(e) = self.held_by_author.get_mut(&meta.author) {
            let hint = e.0;
            e.1 = e.1.saturating_sub(1);
            if e.1 == 0 {
                self.held_by_author.remove(&meta.author);
            }
            if self.is_stranger(&hint) {
                self.strangers_held = self.strangers_held.saturating_sub(1);
            }
        }
    }

    /// Whether `author` is a stranger: trust is enforced and it holds no certificate (nor is
    /// it an anchor, nor this node).
    fn is_stranger(&self, author: &KeyHint) -> bool {
        *author != self.me && !self.trust.full_quota(author)
    }

    /// Counts again the records held from strangers (trust changed); counts the records held
    /// per author from scratch when enforcement starts, and forgets them when it stops.
    fn recount_strangers(&mut self, was_enforced: bool, index: &Index) {
        if !self.trust.enforced {
            self.held_by_author.clear();
            self.strangers_held = 0;
            return;
        }
        if !was_enforced {
            self.held_by_author.clear();
            for (_, m) in index.iter() {
                if m.kind == Kind::Distress {
                    continue;
                }
                if let Some(e) = self.held_by_author.get_mut(&m.author) {
                    e.1 += 1;
                } else if let Ok(k) = PublicKey::from_bytes(&m.author) {
                    self.held_by_author.insert(m.author, (k.hint(), 1));
                }
            }
        }
        self.strangers_held = self
            .held_by_author
            .values()
            .filter(|(h, _)| self.is_stranger(h))
            .map(|(_, n)| u64::from(*n))
            .sum();
    }

    /// The rate and burst of `author`'s quota.
    fn quota(cfg: &MeshConfig, full: bool) -> (u32, u32) {
        if full {
            (cfg.author_records_per_s, cfg.author_records_burst)
        } else {
            (
                cfg.uncertified_author_records_per_s,
                cfg.uncertified_author_records_burst,
            )
        }
    }

    /// The rate and burst of the strangers' group bucket (`distress`: theirs for distress).
    fn group_quota(cfg: &MeshConfig, distress: bool) -> (u32, u32) {
        if distress {
            (
                cfg.uncertified_distress_per_s,
                cfg.uncertified_distress_burst,
            )
        } else {
            (cfg.uncertified_records_per_s, cfg.uncertified_records_burst)
        }
    }

    /// Records of `author` (other than distress) its quota would take now, without taking any.
    pub(crate) fn author_tokens(&self, cfg: &MeshConfig, author: KeyHint, now_ms: u64) -> u64 {
        if author == self.me || self.trust.anchors.contains(&author) {
            return u64::MAX;
        }
        let (rate, burst) = Self::quota(cfg, self.trust.full_quota(&author));
        let own = self
            .author_buckets
            .get(&(author, false))
            .map_or(u64::from(burst), |b| b.available(rate, burst, now_ms));
        if !self.is_stranger(&author) {
            return own;
        }
        let room = (cfg.max_uncertified_held as u64).saturating_sub(self.strangers_held);
        let (g_rate, g_burst) = Self::group_quota(cfg, false);
        let group = self.stranger_buckets[0].available(g_rate, g_burst, now_ms);
        own.min(room).min(group)
    }

    /// Takes one record of `kind` from `author`'s quota; false if it is spent.
    pub(crate) fn author_allows(
        &mut self,
        cfg: &MeshConfig,
        author: KeyHint,
        kind: Kind,
        now_ms: u64,
    ) -> bool {
        if author == self.me || self.trust.anchors.contains(&author) {
            return true;
        }
        // Uncertified authors get the tighter quota. Every author's distress calls have a
        // bucket of their own (at the author's rate), so that a distress gets through whatever
        // the author sent before, and nothing else can ride on the exemption.
        let full = self.trust.full_quota(&author);
        let distress = kind == Kind::Distress;
        let key = (author, distress);
        if !self.author_buckets.contains_key(&key)
            && self.author_buckets.len() >= cfg.max_tracked_authors
        {
            // Forget the author seen longest ago (oldest refill time).
            if let Some(k) = self
                .author_buckets
                .iter()
                .min_by_key(|(_, b)| b.last_ms())
                .map(|(k, _)| *k)
            {
                self.author_buckets.remove(&k);
            }
        }
        let (rate, burst) = Self::quota(cfg, full);
        if full {
            return self
                .author_buckets
                .entry(key)
                .or_insert_with(|| Bucket::full(burst, now_ms))
                .take(rate, burst, now_ms);
        }
        // Strangers as a group: fresh keys cost nothing to make, so a quota per key alone
        // does not bound them. Their records share one bucket and a cap on what is held;
        // their distress calls share a small bucket of their own, so that a flood of
        // stranger records never stops a stranger's distress.
        let capped = !distress
            && self.strangers_held + self.strangers_admitted >= cfg.max_uncertified_held as u64;
        if capped {
            return false;
        }
        let group = usize::from(distress);
        let (g_rate, g_burst) = Self::group_quota(cfg, distress);
        if self.stranger_buckets[group].available(g_rate, g_burst, now_ms) == 0 {
            return false;
        }
        let ok = self
            .author_buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(burst, now_ms))
            .take(rate, burst, now_ms)
            && self.stranger_buckets[group].take(g_rate, g_burst, now_ms);
        if ok && !distress {
            self.strangers_admitted += 1;
        }
        ok
    }
}

/// A record waiting for its author's key.
#[derive(Debug)]
pub(crate) struct WaitingRecord {
    /// The peer it came from.
    pub(crate) peer: PublicKey,
    pub(crate) bytes: Vec<u8>,
    /// The forwarding copies it arrived with: ours once it is stored and acknowledged. Zero if
    /// it came by gossip, or once its frame's acknowledgement reported it refused (the sender
    /// kept them).
    pub(crate) copies: u8,
    /// The author's hint, read once when it starts waiting, so that a `Keys` frame re-decodes
    /// none of those still waiting.
    pub(crate) author: KeyHint,
    /// The `Records` frame (sequence number, item) whose acknowledgement waits for it.
    pub(crate) slot: Option<(u32, u16)>,
    /// Its short id: asked of its peer again if it is given up for room
    /// ([`PendingKeys::push`]).
    pub(crate) short: u64,
}

/// Records waiting for their author's key, oldest first (at most
/// [`MeshConfig::max_pending_keys`]).
#[derive(Debug, Default)]
pub(crate) struct PendingKeys(VecDeque<WaitingRecord>);

impl PendingKeys {
    /// Whether `max` records wait already (a record from a sync frame is then refused and
    /// asked for again once keys come, rather than pushing out one that waits).
    pub(crate) fn is_full(&self, max: usize) -> bool {
        self.0.len() >= max.max(1)
    }

    /// Adds a record; when `max` wait already, the oldest is given up and returned.
    pub(crate) fn push(&mut self, w: WaitingRecord, max: usize) -> Option<WaitingRecord> {
        let old = if self.0.len() >= max.max(1) {
            self.0.pop_front()
        } else {
            None
        };
        self.0.push_back(w);
        old
    }

    /// Takes out those whose author's key is now known, oldest first.
    pub(crate) fn take_ready(&mut self, ring: &KeyRing) -> Vec<WaitingRecord> {
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|w| ring.knows(&w.author));
        self.0 = wait.into_iter().collect();
        ready
    }

    /// The records from `peer` that the acknowledgement of frame `seq` (any frame: `None`)
    /// waits for: from now on their copies stay with the sender. Returns their items.
    pub(crate) fn release(&mut self, peer: &PublicKey, seq: Option<u32>) -> Vec<u16> {
        let mut items = Vec::new();
        for w in self.0.iter_mut().filter(|w| w.peer == *peer) {
            if let Some((s, i)) = w.slot
                && seq.is_none_or(|q| q == s)
            {
                w.slot = None;
                w.copies = 0;
                items.push(i);
            }
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{T0, key};

    fn enforced() -> TrustPolicy {
        TrustPolicy {
            enforced: true,
            ..TrustPolicy::default()
        }
    }

    #[test]
    fn penalties_add_up_to_quarantine() {
        let cfg = MeshConfig::default();
        let mut a = Admission::new(&cfg, key(1).hint(), T0);
        let peer = key(2);
        let n = cfg.ban_threshold.div_ceil(Offence::MalformedFrame.points());
        for i in 1..n {
            let p = a.penalise(&cfg, peer, Offence::MalformedFrame, T0);
            assert_eq!(p.score, i * Offence::MalformedFrame.points());
            assert!(!p.quarantined);
            assert!(!a.quarantined(Some(peer), T0));
        }
        assert!(
            a.penalise(&cfg, peer, Offence::MalformedFrame, T0)
                .quarantined
        );
        assert_eq!(a.quarantined_until(&peer, T0), Some(T0 + cfg.ban_ms));
        assert!(
            !a.quarantined(None, T0),
            "this node's own records are never limited"
        );
        assert!(
            !a.quarantined(Some(peer), T0 + cfg.ban_ms),
            "the quarantine ends"
        );
    }

    #[test]
    fn a_peer_rate_refuses_the_excess_and_distress_has_its_own() {
        let cfg = MeshConfig {
            peer_records_burst: 3,
            peer_records_per_s: 1,
            ..MeshConfig::default()
        };
        let mut a = Admission::new(&cfg, key(1).hint(), T0);
        let peer = key(2);
        a.peer_up(&cfg, peer, T0);
        for _ in 0..3 {
            assert!(a.peer_allows(&cfg, peer, false, T0));
        }
        assert!(!a.peer_allows(&cfg, peer, false, T0));
        assert_eq!(a.peer_tokens(&cfg, &peer, T0), 0);
        assert!(
            a.peer_allows(&cfg, peer, true, T0),
            "distress is not held up"
        );
        assert_eq!(
            a.peer_tokens(&cfg, &peer, T0 + 1_000),
            1,
            "refilled at its rate"
        );
        a.peer_down(&peer);
        assert_eq!(
            a.peer_tokens(&cfg, &peer, T0),
            3,
            "a new contact starts full"
        );
    }

    #[test]
    fn strangers_share_a_cap_but_their_distress_gets_through() {
        let cfg = MeshConfig {
            max_uncertified_held: 2,
            ..MeshConfig::default()
        };
        let mut a = Admission::new(&cfg, key(1).hint(), T0);
        let index = Index::default();
        assert!(a.set_trust(enforced(), &index).is_some());
        assert!(a.set_trust(enforced(), &index).is_none(), "unchanged");
        a.start_batch();
        assert!(a.author_allows(&cfg, key(2).hint(), Kind::Text, T0));
        assert!(a.author_allows(&cfg, key(3).hint(), Kind::Text, T0));
        assert!(
            !a.author_allows(&cfg, key(4).hint(), Kind::Text, T0),
            "the cap"
        );
        assert!(a.author_allows(&cfg, key(4).hint(), Kind::Distress, T0));
        assert_eq!(
            a.author_tokens(&cfg, key(5).hint(), T0),
            2,
            "the room left under the cap: nothing is held yet"
        );
        // A certified author is no stranger; this node has no quota at all.
        let mut t = enforced();
        t.trusted.insert(key(5).hint());
        a.set_trust(t, &index);
        assert!(a.author_allows(&cfg, key(5).hint(), Kind::Text, T0));
        assert_eq!(a.author_tokens(&cfg, key(1).hint(), T0), u64::MAX);
    }

    #[test]
    fn authors_tracked_are_bounded() {
        let cfg = MeshConfig {
            max_tracked_authors: 2,
            author_records_burst: 1,
            author_records_per_s: 0,
            ..MeshConfig::default()
        };
        let mut a = Admission::new(&cfg, key(1).hint(), T0);
        assert!(a.author_allows(&cfg, key(2).hint(), Kind::Text, T0));
        assert!(!a.author_allows(&cfg, key(2).hint(), Kind::Text, T0 + 1));
        assert!(a.author_allows(&cfg, key(3).hint(), Kind::Text, T0 + 2));
        // A third author makes the one seen longest ago forgotten: it starts afresh.
        assert!(a.author_allows(&cfg, key(4).hint(), Kind::Text, T0 + 3));
        assert_eq!(a.author_buckets.len(), 2);
        assert!(a.author_allows(&cfg, key(2).hint(), Kind::Text, T0 + 4));
    }

    #[test]
    fn pending_keys_are_bounded_and_released() {
        let peer = key(2);
        let w = |slot| WaitingRecord {
            peer,
            bytes: vec![1],
            copies: 2,
            author: key(3).hint(),
            slot,
            short: 7,
        };
        let mut p = PendingKeys::default();
        assert!(p.push(w(Some((1, 0))), 2).is_none());
        assert!(!p.is_full(2));
        assert!(p.push(w(Some((2, 0))), 2).is_none());
        assert!(p.is_full(2));
        let old = p.push(w(None), 2).map(|o| o.slot);
        assert_eq!(old, Some(Some((1, 0))), "the oldest is given up");
        assert_eq!(p.release(&peer, Some(2)), vec![0]);
        assert_eq!(p.release(&peer, None), Vec::<u16>::new());
        let mut ring = KeyRing::new(4);
        assert!(p.take_ready(&ring).is_empty());
        ring.insert(key(3));
        let ready = p.take_ready(&ring);
        assert_eq!(ready.len(), 2);
        assert_eq!(
            ready[0].copies, 0,
            "released: its copies stay with the sender"
        );
        assert!(p.take_ready(&ring).is_empty());
    }
}
