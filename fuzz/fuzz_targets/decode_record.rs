//! Decodes arbitrary bytes as a record. Decoding must never panic; whatever decodes must be
//! deterministic (same id, same envelope), canonical (encoding the envelope again gives the same
//! bytes, checked where the author is one of the fixed keys below, as for the test vectors),
//! and verifying it against a fixed key ring, alone or in a batch, must never panic and may
//! succeed only for a record that one of the ring's keys signed. A sealed record is opened with
//! fixed keys: it must never panic.
#![no_main]

use std::sync::LazyLock;

use haiqiao_proto::{KeyRing, Keypair, Record, Unverified, verify_batch};
use libfuzzer_sys::fuzz_target;

/// The keys of tests/vectors/records.json (alice, bob, mediator, shore, authority).
static KEYS: LazyLock<Vec<Keypair>> = LazyLock::new(|| {
    [0x11u8, 0x22, 0x33, 0x44, 0x55]
        .iter()
        .map(|b| Keypair::from_seed(&[*b; 32]))
        .collect()
});

static RING: LazyLock<KeyRing> = LazyLock::new(|| {
    let mut ring = KeyRing::new(16);
    for k in KEYS.iter() {
        ring.insert(k.public());
    }
    ring
});

/// The "now" of the test vectors.
const NOW: u64 = 1_795_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(u) = Unverified::decode(data) else {
        return;
    };
    assert_eq!(u.bytes(), data);
    let again = Unverified::decode(data).expect("decoding is deterministic");
    assert_eq!(again.id(), u.id());
    assert_eq!(again.envelope(), u.envelope());

    let env = u.envelope();
    let _ = env.expiry();
    let _ = env.priority();
    let envelope_bytes = &data[..data.len() - 64];
    if let Some(key) = KEYS.iter().find(|k| k.public().hint() == env.author) {
        let re = Record::sign(key, env.clone()).expect("a decoded envelope encodes");
        assert_eq!(
            &re.bytes()[..re.len() - 64],
            envelope_bytes,
            "not canonical"
        );
        assert_eq!(re.id(), u.id());
    }

    let created = env.created.secs();
    for now in [0, created, NOW, u64::MAX] {
        let single = u.clone().verify(&RING, now);
        let batch = verify_batch(vec![u.clone()], &RING, now);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].as_ref().err(), single.as_ref().err());
        if let Ok(r) = single {
            assert_eq!(r.bytes(), data);
            assert_eq!(r.id(), u.id());
            assert_eq!(r.author().hint(), env.author);
        }
    }

    // A sealed body: opening with any key never panics, and what opens is a valid envelope of
    // the declared inner kind with the sealed record's metadata.
    if let haiqiao_proto::Body::Sealed(s) = &env.body {
        for k in KEYS.iter().chain(SEALED_KEYS.iter()) {
            if let Ok(opened) = haiqiao_proto::seal::open_bytes(data, env, k) {
                assert_eq!(opened.kind(), s.inner);
                assert_eq!(opened.author, env.author);
                assert_eq!(opened.priority(), s.priority);
            }
        }
    }
});

/// The readers of tests/vectors/sealed.json (boat_a, boat_b), so that the corpus's sealed
/// vectors open and mutations of them reach the payload's decoder.
static SEALED_KEYS: LazyLock<Vec<Keypair>> = LazyLock::new(|| {
    [0xa1u8, 0xb2]
        .iter()
        .map(|b| Keypair::from_seed(&[*b; 32]))
        .collect()
});
