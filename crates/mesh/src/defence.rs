//! Defence against misbehaving peers: token buckets and penalty scores.

use std::collections::BTreeMap;

/// Why a peer was penalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Offence {
    /// A frame that does not decode.
    MalformedFrame,
    /// A record that does not decode.
    MalformedRecord,
    /// A record whose signature does not verify.
    BadSignature,
    /// More records than the peer's or an author's rate allows. No longer given: the excess
    /// is refused and asked for again later (backpressure), which slows a fast sender
    /// without cutting it off. Kept for the name in logs and metrics.
    Flood,
    /// A frame that makes no sense in the session's state.
    ProtocolViolation,
}

impl Offence {
    /// Points added to the peer's score.
    pub fn points(self) -> u32 {
        match self {
            Offence::MalformedFrame => 25,
            Offence::MalformedRecord => 20,
            Offence::BadSignature => 20,
            Offence::Flood => 5,
            Offence::ProtocolViolation => 10,
        }
    }

    /// A lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Offence::MalformedFrame => "malformed_frame",
            Offence::MalformedRecord => "malformed_record",
            Offence::BadSignature => "bad_signature",
            Offence::Flood => "flood",
            Offence::ProtocolViolation => "protocol_violation",
        }
    }
}

/// A token bucket in thousandths of a token, refilled from the caller's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    milli: u64,
    last_ms: u64,
}

impl Bucket {
    pub(crate) fn full(burst: u32, now_ms: u64) -> Bucket {
        Bucket {
            milli: u64::from(burst) * 1000,
            last_ms: now_ms,
        }
    }

    pub(crate) fn last_ms(&self) -> u64 {
        self.last_ms
    }

    /// Whole tokens there would be at `now_ms` (takes none).
    pub(crate) fn available(&self, per_s: u32, burst: u32, now_ms: u64) -> u64 {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        (self.milli + elapsed * u64::from(per_s)).min(u64::from(burst) * 1000) / 1000
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, per_s: u32, burst: u32, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let cap = u64::from(burst) * 1000;
        self.milli = (self.milli + elapsed * u64::from(per_s)).min(cap);
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// Per-peer penalty scores that decay by one point a minute, and bans.
#[derive(Debug, Default)]
pub(crate) struct Scores {
    scores: BTreeMap<haiqiao_proto::PublicKey, (u32, u64)>,
    bans: BTreeMap<haiqiao_proto::PublicKey, u64>,
}

/// Most peers whose score is remembered.
const MAX_SCORED: usize = 4096;

impl Scores {
    /// Adds an offence; returns the new score.
    pub(crate) fn add(&mut self, peer: haiqiao_proto::PublicKey, o: Offence, now_ms: u64) -> u32 {
        if self.scores.len() >= MAX_SCORED && !self.scores.contains_key(&peer) {
            // Forget the lowest score to stay bounded.
            if let Some(k) = self
                .scores
                .iter()
                .min_by_key(|(_, (s, _))| *s)
                .map(|(k, _)| *k)
            {
                self.scores.remove(&k);
            }
        }
        let e = self.scores.entry(peer).or_insert((0, now_ms));
        let decay = (now_ms.saturating_sub(e.1) / 60_000) as u32;
        e.0 = e.0.saturating_sub(decay) + o.points();
        e.1 = now_ms;
        e.0
    }

    pub(crate) fn ban(&mut self, peer: haiqiao_proto::PublicKey, until_ms: u64) {
        self.bans.insert(peer, until_ms);
        self.scores.remove(&peer);
        if self.bans.len() > MAX_SCORED {
            let now_min = self.bans.values().copied().min().unwrap_or(0);
            self.bans.retain(|_, u| *u > now_min);
        }
    }

    pub(crate) fn banned_until(&self, peer: &haiqiao_proto::PublicKey, now_ms: u64) -> Option<u64> {
        self.bans.get(peer).copied().filter(|u| *u > now_ms)
    }
}
