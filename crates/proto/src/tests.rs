//! Unit tests of the record life cycle (the property tests live in tests/roundtrip.rs).

use crate::*;

pub(crate) fn keypair(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

pub(crate) const NOW: u64 = 1_795_000_000;

pub(crate) fn position_envelope(k: &Keypair, seq: u64) -> Envelope {
    Envelope {
        author: k.public().hint(),
        seq,
        created: Timestamp(NOW as u32),
        ttl_min: 240,
        dest: Destination::Everyone,
        body: Body::Position(Fix {
            lat_e5: 3_012_345,
            lon_e5: 12_287_654,
            sog_dkn: Some(82),
            cog_ddeg: Some(451),
            heading_deg: Some(47),
            nav_status: NavStatus::FISHING,
            fix_age_s: Some(2),
        }),
    }
}

#[test]
fn signed_position_fits_in_100_bytes() {
    let k = keypair(1);
    let r = Record::sign(&k, position_envelope(&k, 4000)).unwrap();
    assert!(r.len() <= 100, "signed position is {} bytes", r.len());
}

#[test]
fn sign_decode_verify_round_trip() {
    let k = keypair(1);
    let r = Record::sign(&k, position_envelope(&k, 7)).unwrap();
    let mut ring = KeyRing::new(16);
    ring.insert(k.public());
    let u = Unverified::decode(r.bytes()).unwrap();
    assert_eq!(u.id(), r.id());
    let v = u.verify(&ring, NOW).unwrap();
    assert_eq!(v, r);
    assert_eq!(v.author(), k.public());
}

#[test]
fn a_flipped_bit_breaks_the_signature() {
    let k = keypair(1);
    let r = Record::sign(&k, position_envelope(&k, 7)).unwrap();
    let mut ring = KeyRing::new(16);
    ring.insert(k.public());
    let mut bytes = r.bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let u = Unverified::decode(&bytes).unwrap();
    assert_eq!(u.verify(&ring, NOW).unwrap_err(), RecordError::BadSignature);
}

#[test]
fn unknown_author_is_reported_with_its_hint() {
    let k = keypair(1);
    let r = Record::sign(&k, position_envelope(&k, 7)).unwrap();
    let u = Unverified::decode(r.bytes()).unwrap();
    assert_eq!(
        u.verify(&KeyRing::new(4), NOW).unwrap_err(),
        RecordError::UnknownAuthor(k.public().hint())
    );
}

#[test]
fn batch_verification_finds_the_bad_one() {
    let k = keypair(1);
    let mut ring = KeyRing::new(16);
    ring.insert(k.public());
    let mut items = Vec::new();
    for seq in 0..8 {
        let r = Record::sign(&k, position_envelope(&k, seq)).unwrap();
        let mut b = r.bytes().to_vec();
        if seq == 5 {
            let n = b.len();
            b[n - 10] ^= 0x40;
        }
        items.push(Unverified::decode(&b).unwrap());
    }
    let out = verify_batch(items, &ring, NOW);
    for (i, r) in out.iter().enumerate() {
        if i == 5 {
            assert_eq!(r.as_ref().unwrap_err(), &RecordError::BadSignature);
        } else {
            assert!(r.is_ok(), "record {i} should verify");
        }
    }
}

#[test]
fn times_are_checked() {
    let k = keypair(1);
    let r = Record::sign(&k, position_envelope(&k, 1)).unwrap();
    let mut ring = KeyRing::new(4);
    ring.insert(k.public());
    let expiry = NOW + 240 * 60;
    let u = Unverified::decode(r.bytes()).unwrap();
    assert_eq!(
        u.clone().verify(&ring, expiry).unwrap_err(),
        RecordError::Expired {
            expiry,
            now: expiry
        }
    );
    let early = NOW - MAX_FUTURE_SKEW_S - 1;
    assert_eq!(
        u.clone().verify(&ring, early).unwrap_err(),
        RecordError::FromFuture {
            created: NOW,
            now: early
        }
    );
    assert!(u.verify(&ring, NOW - MAX_FUTURE_SKEW_S).is_ok());
}

#[test]
fn trailing_bytes_and_truncation_are_refused() {
    let k = keypair(1);
    let r = Record::sign(&k, position_envelope(&k, 1)).unwrap();
    let mut longer = r.bytes().to_vec();
    longer.push(0);
    assert_eq!(
        Unverified::decode(&longer).unwrap_err().code(),
        "trailing_bytes"
    );
    let shorter = &r.bytes()[..r.len() - 1];
    assert_eq!(
        Unverified::decode(shorter).unwrap_err(),
        RecordError::Truncated
    );
    assert_eq!(Unverified::decode(&[]).unwrap_err(), RecordError::Truncated);
    let huge = vec![0u8; MAX_RECORD_LEN + 1];
    assert_eq!(Unverified::decode(&huge).unwrap_err().code(), "too_large");
}

#[test]
fn signing_refuses_a_foreign_author_hint() {
    let k = keypair(1);
    let other = keypair(2);
    let env = position_envelope(&other, 1);
    assert!(matches!(
        Record::sign(&k, env),
        Err(RecordError::InvalidField {
            field: "author",
            ..
        })
    ));
}

/// Lifts a u64 into the type of `_like` (a curve25519 scalar, which this crate does not name).
fn lift<S: From<u64>>(_like: &S, v: u64) -> S {
    S::from(v)
}

/// A signature with R = the identity and s = H(R || A || M)·a: it satisfies the cofactorless
/// equation [s]B = R + [k]A, but strict verification refuses a small-order R.
fn small_order_r_signature(seed: &[u8; 32], envelope: &[u8]) -> [u8; 64] {
    use sha2::Digest;
    let a = ed25519_dalek::SigningKey::from_bytes(seed).to_scalar();
    let public = Keypair::from_seed(seed).public();
    let mut r = [0u8; 32];
    r[0] = 1;
    let h = sha2::Sha512::new()
        .chain_update(r)
        .chain_update(public.as_bytes())
        .chain_update(record::SIGNING_CONTEXT)
        .chain_update(envelope)
        .finalize();
    // k = h mod l, from its 64-bit limbs (little-endian), in scalar arithmetic.
    let two32 = lift(&a, 1 << 32);
    let two64 = two32 * two32;
    let mut k = lift(&a, 0);
    for limb in h.chunks(8).rev() {
        let limb = u64::from_le_bytes(limb.try_into().unwrap());
        k = k * two64 + lift(&a, limb);
    }
    let s = k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(&s.to_bytes());
    sig
}

#[test]
fn batch_refuses_a_small_order_r_like_single_verification() {
    let seed = [1u8; 32];
    let k = Keypair::from_seed(&seed);
    let mut ring = KeyRing::new(4);
    ring.insert(k.public());
    let r = Record::sign(&k, position_envelope(&k, 1)).unwrap();
    let env = &r.bytes()[..r.len() - 64];
    let mut forged = env.to_vec();
    forged.extend_from_slice(&small_order_r_signature(&seed, env));
    let u = Unverified::decode(&forged).unwrap();
    assert_eq!(
        u.clone().verify(&ring, NOW).unwrap_err(),
        RecordError::BadSignature
    );
    let good = Unverified::decode(r.bytes()).unwrap();
    let out = verify_batch(vec![u, good], &ring, NOW);
    assert_eq!(out[0].as_ref().unwrap_err(), &RecordError::BadSignature);
    assert!(out[1].is_ok());
}

#[test]
fn time_checks_do_not_overflow() {
    let k = keypair(1);
    let env = position_envelope(&k, 1);
    assert!(matches!(
        env.check_time(u64::MAX),
        Err(RecordError::Expired { .. })
    ));
}

#[test]
fn cheap_r_screen_agrees_with_decompression() {
    use crate::identity::strict_point;
    use crate::record::strict_r;
    // Every blacklisted encoding, with either sign bit, is refused by both.
    let mut sig = [0u8; 64];
    for y in 0u8..=255 {
        // The small-order encodings all appear among these byte patterns.
        for (first, fill, last) in [
            (y, 0u8, 0u8),
            (y, 0xff, 0x7f),
            (y, 0xff, 0xff),
            (y, 0, 0x80),
        ] {
            let mut r = [fill; 32];
            r[0] = first;
            r[31] = last;
            sig[..32].copy_from_slice(&r);
            if strict_point(&r).is_some() {
                assert!(
                    strict_r(&sig),
                    "screen refused a strict point {}",
                    hex::encode(r)
                );
            }
            if !strict_r(&sig) {
                assert!(
                    strict_point(&r).is_none(),
                    "screen refused {}",
                    hex::encode(r)
                );
            }
        }
    }
    // The order-8 points, and real signatures' R.
    for hexr in [
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ] {
        let r: [u8; 32] = hex::decode(hexr).unwrap().try_into().unwrap();
        sig[..32].copy_from_slice(&r);
        assert!(!strict_r(&sig));
        assert!(strict_point(&r).is_none());
    }
    let k = keypair(9);
    for seq in 0..200 {
        let rec = Record::sign(&k, position_envelope(&k, seq)).unwrap();
        let s: [u8; 64] = rec.bytes()[rec.len() - 64..].try_into().unwrap();
        assert!(strict_r(&s));
        let r: [u8; 32] = s[..32].try_into().unwrap();
        assert!(strict_point(&r).is_some());
    }
}

#[test]
fn daily_hours_run_past_midnight() {
    // 22:00 to 14:00 UTC is 06:00 to 22:00 Beijing time.
    let h = DailyHours {
        start_min: 22 * 60,
        end_min: 14 * 60,
    };
    let at = |hh: u32, mm: u32| Timestamp(1_795_046_400 + hh * 3600 + mm * 60); // a UTC midnight
    assert_eq!(1_795_046_400 % 86_400, 0);
    assert!(h.contains(at(22, 0)));
    assert!(h.contains(at(23, 59)));
    assert!(h.contains(at(0, 0)));
    assert!(h.contains(at(13, 59)));
    assert!(!h.contains(at(14, 0)));
    assert!(!h.contains(at(21, 59)));
    let day = DailyHours {
        start_min: 6 * 60,
        end_min: 18 * 60,
    };
    assert!(day.contains(at(6, 0)) && day.contains(at(17, 59)));
    assert!(!day.contains(at(18, 0)) && !day.contains(at(5, 59)));
    assert!((0..24).all(|hh| DailyHours::ALL_DAY.contains(at(hh, 30))));
}

#[test]
fn geobox_contains_its_edges_only() {
    let b = GeoBox::from_degrees(30.0, 122.0, 30.5, 122.5);
    assert!(b.contains(&Fix::from_degrees(30.0, 122.0)));
    assert!(b.contains(&Fix::from_degrees(30.5, 122.5)));
    assert!(b.contains(&Fix::from_degrees(30.2, 122.3)));
    assert!(!b.contains(&Fix::from_degrees(30.50001, 122.3)));
    assert!(!b.contains(&Fix::from_degrees(30.2, 121.99999)));
    let packed = pack_geobox(&b).unwrap();
    assert_eq!(unpack_geobox(&packed).unwrap(), b);
    let flat = GeoBox {
        north_e5: b.south_e5,
        ..b
    };
    assert!(pack_geobox(&flat).is_err());
}

#[test]
fn category_sets_hold_what_they_name() {
    let s = CategorySet::of(&[DisputeCategory::GearDamage, DisputeCategory::Other]);
    assert_eq!(s.0, 0b1_0010);
    assert!(s.contains(DisputeCategory::GearDamage) && s.contains(DisputeCategory::Other));
    assert!(!s.contains(DisputeCategory::FishingGround));
    assert!(
        DisputeCategory::ALL
            .iter()
            .all(|c| CategorySet::ALL.contains(*c))
    );
}

#[test]
fn new_kinds_have_their_priority_classes() {
    let p = keypair(2).public();
    let pairing = Body::Pairing {
        partner: p,
        paired: true,
    };
    assert_eq!(pairing.priority(), Priority::Control);
    let watch = Body::BuddyWatch {
        partner: p,
        overdue: true,
        last_heard: None,
        fix: None,
    };
    assert_eq!(watch.priority(), Priority::Safety);
    let duty = Body::MediatorDuty {
        areas: vec![],
        categories: CategorySet::ALL,
        from: Timestamp(0),
        until: Timestamp(1),
        daily: DailyHours::ALL_DAY,
    };
    assert_eq!(duty.priority(), Priority::Case);
    for (b, k) in [
        (pairing, Kind::Pairing),
        (watch, Kind::BuddyWatch),
        (duty, Kind::MediatorDuty),
    ] {
        assert_eq!(b.kind(), k);
        assert_eq!(Kind::from_u64(k as u64), Some(k));
        assert_eq!(Kind::from_name(k.name()), Some(k));
    }
    assert_eq!(Kind::from_u64(14), Some(Kind::Sealed));
    assert_eq!(Kind::from_u64(Kind::ALL.len() as u64), None);
}

#[test]
fn agreement_hash_is_sha256_of_the_text() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    assert_eq!(
        hex::encode(agreement_hash("abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn coded_values_look_up_by_code_and_name() {
    fn check<T: Copy + PartialEq + std::fmt::Debug>(
        named: &[(&str, T)],
        code: fn(T) -> u8,
        from_code: fn(u64) -> Option<T>,
        from_name: fn(&str) -> Option<T>,
        name: fn(T) -> &'static str,
    ) {
        for (n, v) in named {
            assert_eq!(name(*v), *n);
            assert_eq!(from_name(n), Some(*v));
            assert_eq!(from_code(u64::from(code(*v))), Some(*v));
        }
        assert_eq!(from_name("no such name"), None);
        assert_eq!(from_code(255), None);
    }
    check(
        &Priority::NAMED,
        Priority::code,
        Priority::from_code,
        Priority::from_name,
        Priority::name,
    );
    check(
        &PairAlertKind::NAMED,
        PairAlertKind::code,
        PairAlertKind::from_code,
        PairAlertKind::from_name,
        PairAlertKind::name,
    );
    check(
        &DistressNature::NAMED,
        DistressNature::code,
        DistressNature::from_code,
        DistressNature::from_name,
        DistressNature::name,
    );
    check(
        &DisputeCategory::NAMED,
        DisputeCategory::code,
        DisputeCategory::from_code,
        DisputeCategory::from_name,
        DisputeCategory::name,
    );
    check(
        &Escalation::NAMED,
        Escalation::code,
        Escalation::from_code,
        Escalation::from_name,
        Escalation::name,
    );
    check(
        &Role::NAMED,
        Role::code,
        Role::from_code,
        Role::from_name,
        Role::name,
    );
    check(
        &RevocationReason::NAMED,
        RevocationReason::code,
        RevocationReason::from_code,
        RevocationReason::from_name,
        RevocationReason::name,
    );
    // DSC codes skip 11: 12 is EPIRB.
    assert_eq!(DistressNature::from_code(11), None);
    assert_eq!(DistressNature::from_code(12), Some(DistressNature::Epirb));
    for s in CaseStatus::ALL {
        assert_eq!(CaseStatus::from_name(s.name()), Some(s.clone()));
    }
    assert_eq!(CaseStatus::from_name("escalated"), None);
    assert_eq!(
        DistressStatus::Responding { eta_min: 9 }.code(),
        (1, Some(9))
    );
    assert_eq!(DistressStatus::Cancelled.name(), "cancelled");
}
