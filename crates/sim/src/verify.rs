//! One signature check per record for the whole simulated fleet.
//!
//! Every engine verifies what it takes in. A flooded record reaches every node of a run as the
//! same bytes, so a fleet of N engines checks the same signature against the same key N
//! times: at 10,000 vessels that N-fold work was most of a day's CPU (simulations/README.md,
//! "Scale"). Every engine would come to the same answer, so the engines of a run share a
//! [`SharedVerifier`]: a record's bytes verified under a key once are taken as verified by
//! every engine whose ring holds that one key for the record's author; everything else (a
//! record not seen yet, other bytes under the same id, a hint with several keys in the ring,
//! a key the ring does not have) goes to the real batch verification. The record's times are
//! checked by each engine at its own time, as `verify_batch` does. The daemon has no such
//! sharing: it keeps the engine's own `BatchVerify`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use haiqiao_mesh::Verifier;
use haiqiao_proto::{KeyRing, Record, RecordError, RecordId, Unverified};

/// Most verified records remembered (the oldest are forgotten first): a 10,000-vessel day
/// verifies about 20,000 distinct records.
pub(crate) const VERIFIED_CAP: usize = 1 << 16;

/// Records verified by some engine of the run, by id, oldest first.
#[derive(Debug, Default)]
struct Verified {
    by_id: HashMap<RecordId, Record>,
    order: VecDeque<RecordId>,
    /// Signatures checked for real (for tests).
    checked: u64,
}

impl Verified {
    /// The verified record with exactly these bytes, if it is remembered.
    fn get(&self, u: &Unverified) -> Option<&Record> {
        self.by_id.get(&u.id()).filter(|r| r.bytes() == u.bytes())
    }

    fn remember(&mut self, r: &Record) {
        if self.by_id.insert(r.id(), r.clone()).is_none() {
            self.order.push_back(r.id());
        }
        while self.order.len() > VERIFIED_CAP {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

/// A verifier shared by the engines of one run. (A `Mutex`, not a `RefCell`: the engine asks
/// for a verifier it could share across threads, as the daemon's is; the simulator is one
/// thread, so the lock is never contended.)
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedVerifier(Arc<Mutex<Verified>>);

impl SharedVerifier {
    /// Signatures checked for real so far, over every engine of the run.
    #[cfg(test)]
    pub(crate) fn checked(&self) -> u64 {
        self.0.lock().map_or(0, |v| v.checked)
    }
}

impl Verifier for SharedVerifier {
    fn verify_batch(
        &mut self,
        items: Vec<Unverified>,
        ring: &KeyRing,
        now_s: u64,
    ) -> Vec<Result<Record, RecordError>> {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Option<Result<Record, RecordError>>> = Vec::with_capacity(items.len());
        let mut missed = Vec::new();
        let mut missed_at = Vec::new();
        for u in items {
            // `verify_batch` checks the times first, then the one key the ring has for the
            // author: a hit answers exactly that.
            let hit = v.get(&u).filter(|r| {
                let mut keys = ring.lookup(u.envelope().author);
                matches!((keys.next(), keys.next()), (Some(k), None) if *k == r.author())
            });
            match hit {
                Some(r) => out.push(Some(u.envelope().check_time(now_s).map(|()| r.clone()))),
                None => {
                    missed_at.push(out.len());
                    out.push(None);
                    missed.push(u);
                }
            }
        }
        if !missed.is_empty() {
            v.checked += missed.len() as u64;
            for (i, r) in missed_at
                .into_iter()
                .zip(haiqiao_proto::verify_batch(missed, ring, now_s))
            {
                if let Ok(r) = &r {
                    v.remember(r);
                }
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or(Err(RecordError::Malformed("internal: unverified"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_proto::{Body, Destination, Envelope, Keypair, Timestamp};

    const NOW: u64 = 1_780_000_000;

    fn record(key: &Keypair, seq: u64) -> Record {
        let env = Envelope {
            author: key.public().hint(),
            seq,
            created: Timestamp(NOW as u32),
            ttl_min: 60,
            dest: Destination::Everyone,
            body: Body::Text {
                text: "测试".to_owned(),
                safety: false,
            },
        };
        Record::sign(key, env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn unverified(bytes: &[u8]) -> Unverified {
        Unverified::decode(bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn engines_sharing_it_check_a_record_once_and_answer_as_verify_batch() {
        let key = Keypair::from_seed(&[1; 32]);
        let r = record(&key, 1);
        let mut ring = KeyRing::new(8);
        ring.insert(key.public());
        let shared = SharedVerifier::default();
        let (mut a, mut b) = (shared.clone(), shared.clone());
        let first = a.verify_batch(vec![unverified(r.bytes())], &ring, NOW);
        let second = b.verify_batch(vec![unverified(r.bytes())], &ring, NOW);
        assert_eq!(
            shared.checked(),
            1,
            "the second engine's check was remembered"
        );
        assert_eq!(
            first,
            haiqiao_proto::verify_batch(vec![unverified(r.bytes())], &ring, NOW)
        );
        assert_eq!(second, first);
        // The times are each engine's own: expired at a later time, as verify_batch says.
        let late = NOW + 2 * 3600;
        assert_eq!(
            b.verify_batch(vec![unverified(r.bytes())], &ring, late),
            haiqiao_proto::verify_batch(vec![unverified(r.bytes())], &ring, late)
        );
    }

    #[test]
    fn what_was_not_verified_under_the_rings_key_is_checked_for_real() {
        let key = Keypair::from_seed(&[1; 32]);
        let r = record(&key, 1);
        let mut ring = KeyRing::new(8);
        ring.insert(key.public());
        let mut v = SharedVerifier::default();
        assert!(v.verify_batch(vec![unverified(r.bytes())], &ring, NOW)[0].is_ok());
        // The same id with a forged signature: other bytes, checked, refused.
        let mut forged = r.bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            v.verify_batch(vec![unverified(&forged)], &ring, NOW),
            vec![Err(RecordError::BadSignature)]
        );
        // An engine that does not know the author's key: unknown, as verify_batch says.
        let empty = KeyRing::new(8);
        assert_eq!(
            v.verify_batch(vec![unverified(r.bytes())], &empty, NOW),
            haiqiao_proto::verify_batch(vec![unverified(r.bytes())], &empty, NOW)
        );
        assert_eq!(v.checked(), 3);
    }
}
