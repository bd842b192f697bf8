//! Property tests of the record format.
//!
//! - Every envelope within the field limits, of every kind and to every destination, signs to
//!   at most `MAX_RECORD_LEN` bytes and round-trips: sign → decode → verify gives the same
//!   envelope, bytes and id, and signing the decoded envelope again gives the same bytes (the
//!   encoding is canonical).
//! - `Unverified::decode` never panics, on arbitrary bytes or on mutations of valid records; a
//!   mutated record that still decodes re-encodes to its own bytes (decoding accepts only the
//!   canonical form), and one that still verifies is the original.
//! - Batch verification agrees with single verification; the time checks follow the formula.
//!
//! Failures are shrunk and their seeds persisted by proptest (`proptest-regressions/`); set
//! `PROPTEST_CASES` for longer runs.

use haiqiao_proto::*;
use proptest::prelude::*;
use proptest::sample::{Index, select};

// ---------------------------------------------------------------------------------------------
// Strategies: valid values within the codec's limits.

/// UTF-8 text of at most `max` bytes: ASCII, CJK and any other scalar value.
fn text(max: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        3 => proptest::char::range('\u{4e00}', '\u{9fff}'),
        1 => any::<char>(),
    ];
    prop::collection::vec(ch, 0..=max).prop_map(move |cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        s
    })
}

fn hint() -> impl Strategy<Value = KeyHint> {
    any::<[u8; 8]>().prop_map(KeyHint)
}

fn record_id() -> impl Strategy<Value = RecordId> {
    any::<[u8; 16]>().prop_map(RecordId)
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(|s| Keypair::from_seed(&s).public())
}

fn fix() -> impl Strategy<Value = Fix> {
    let lat = prop_oneof![
        Just(-9_000_000),
        Just(9_000_000),
        Just(0),
        -9_000_000i32..=9_000_000
    ];
    let lon = prop_oneof![
        Just(-18_000_000),
        Just(18_000_000),
        Just(0),
        -18_000_000i32..=18_000_000
    ];
    (
        lat,
        lon,
        prop::option::of(prop_oneof![Just(1022u16), 0u16..1023]),
        prop::option::of(prop_oneof![Just(3599u16), 0u16..3600]),
        prop::option::of(prop_oneof![Just(359u16), 0u16..360]),
        0u8..16,
        prop::option::of(prop_oneof![Just(1022u16), 0u16..1023]),
    )
        .prop_map(
            |(lat_e5, lon_e5, sog_dkn, cog_ddeg, heading_deg, nav, fix_age_s)| Fix {
                lat_e5,
                lon_e5,
                sog_dkn,
                cog_ddeg,
                heading_deg,
                nav_status: NavStatus(nav),
                fix_age_s,
            },
        )
}

fn destination() -> impl Strategy<Value = Destination> {
    prop_oneof![
        Just(Destination::Everyone),
        Just(Destination::Shore),
        hint().prop_map(Destination::Node),
        (hint(), hint())
            .prop_filter("pair hints differ", |(a, b)| a != b)
            .prop_map(|(a, b)| Destination::pair(a, b)),
        any::<u32>().prop_map(|a| Destination::Mediators(AreaId(a))),
        any::<u32>().prop_map(|g| Destination::Group(GroupId(g))),
    ]
}

fn mmsi() -> impl Strategy<Value = u32> {
    (100_000_000u32..=999_999_999).prop_filter("not a rescue device block", |m| {
        !matches!(m / 1_000_000, 970 | 972 | 974)
    })
}

fn body() -> impl Strategy<Value = Body> {
    use DistressNature as N;
    let alerts = select(vec![
        PairAlertKind::CollisionRisk,
        PairAlertKind::GearFouled,
        PairAlertKind::ManOverboard,
        PairAlertKind::EngineFailure,
        PairAlertKind::Weather,
        PairAlertKind::Other,
    ]);
    let natures = select(vec![
        N::Fire,
        N::Flooding,
        N::Collision,
        N::Grounding,
        N::Listing,
        N::Sinking,
        N::Adrift,
        N::Undesignated,
        N::Abandoning,
        N::Piracy,
        N::ManOverboard,
        N::Epirb,
    ]);
    let statuses = prop_oneof![
        Just(DistressStatus::Acknowledged),
        any::<u16>().prop_map(|eta_min| DistressStatus::Responding { eta_min }),
        Just(DistressStatus::OnScene),
        Just(DistressStatus::Resolved),
        Just(DistressStatus::Cancelled),
    ];
    let categories = select(vec![
        DisputeCategory::FishingGround,
        DisputeCategory::GearDamage,
        DisputeCategory::Collision,
        DisputeCategory::CatchOrPrice,
        DisputeCategory::Other,
    ]);
    let party =
        (prop::option::of(hint()), text(MAX_NAME)).prop_map(|(key, name)| Party { key, name });
    let case_statuses = prop_oneof![
        Just(CaseStatus::Accepted),
        Just(CaseStatus::InMediation),
        Just(CaseStatus::AgreementProposed),
        Just(CaseStatus::Escalated(Escalation::CoastGuard)),
        Just(CaseStatus::Escalated(Escalation::Court)),
        Just(CaseStatus::Closed),
    ];
    let roles = select(vec![
        Role::Vessel,
        Role::Mediator,
        Role::Shore,
        Role::Authority,
    ]);
    let validity = (0u32..u32::MAX).prop_flat_map(|from| (Just(from), from + 1..=u32::MAX));
    let reasons = select(vec![
        RevocationReason::Unspecified,
        RevocationReason::Compromised,
        RevocationReason::Retired,
        RevocationReason::Superseded,
    ]);
    prop_oneof![
        fix().prop_map(Body::Position),
        (alerts, prop::option::of(fix()), text(MAX_SHORT_TEXT))
            .prop_map(|(alert, fix, text)| Body::PairAlert { alert, fix, text }),
        (
            natures,
            prop::option::of(fix()),
            prop::option::of(any::<u16>()),
            text(MAX_SHORT_TEXT)
        )
            .prop_map(|(nature, fix, persons, text)| Body::Distress {
                nature,
                fix,
                persons,
                text
            }),
        (record_id(), statuses, text(MAX_SHORT_TEXT)).prop_map(|(distress, status, text)| {
            Body::DistressUpdate {
                distress,
                status,
                text,
            }
        }),
        (
            categories,
            prop::collection::vec(party, 0..=MAX_PARTIES),
            prop::option::of(fix()),
            text(MAX_DESCRIPTION),
            prop::collection::vec(any::<[u8; 32]>(), 0..=MAX_EVIDENCE),
        )
            .prop_map(|(category, parties, fix, description, evidence)| {
                Body::DisputeReport {
                    category,
                    parties,
                    fix,
                    description,
                    evidence,
                }
            }),
        (record_id(), case_statuses, text(MAX_DESCRIPTION))
            .prop_map(|(case, status, text)| Body::CaseUpdate { case, status, text }),
        (record_id(), any::<[u8; 32]>())
            .prop_map(|(case, agreement)| Body::AgreementSignature { case, agreement }),
        prop::collection::vec(record_id(), 1..=MAX_RECEIPT_IDS)
            .prop_map(|ids| Body::Receipt { ids }),
        (
            public_key(),
            text(MAX_NAME),
            text(MAX_NAME),
            prop::option::of(mmsi()),
            roles,
            validity
        )
            .prop_map(|(subject, name, registration, mmsi, role, (from, until))| {
                Body::Certificate {
                    subject,
                    name,
                    registration,
                    mmsi,
                    role,
                    valid_from: Timestamp(from),
                    valid_until: Timestamp(until),
                }
            }),
        (public_key(), reasons).prop_map(|(subject, reason)| Body::Revocation { subject, reason }),
        (text(MAX_SHORT_TEXT), any::<bool>())
            .prop_map(|(text, safety)| Body::Text { text, safety }),
        (public_key(), any::<bool>())
            .prop_map(|(partner, paired)| Body::Pairing { partner, paired }),
        (
            public_key(),
            any::<bool>(),
            prop::option::of(any::<u32>()),
            prop::option::of(fix())
        )
            .prop_map(|(partner, overdue, last_heard, fix)| Body::BuddyWatch {
                partner,
                overdue,
                last_heard: last_heard.map(Timestamp),
                fix,
            }),
        (
            prop::collection::vec((any::<u32>(), geobox()), 0..=MAX_DUTY_AREAS),
            1u8..=31,
            (0u32..u32::MAX).prop_flat_map(|from| (Just(from), from + 1..=u32::MAX)),
            daily_hours(),
        )
            .prop_map(|(areas, cats, (from, until), daily)| Body::MediatorDuty {
                areas: areas
                    .into_iter()
                    .map(|(a, bounds)| DutyArea {
                        area: AreaId(a),
                        bounds,
                    })
                    .collect(),
                categories: CategorySet(cats),
                from: Timestamp(from),
                until: Timestamp(until),
                daily,
            }),
    ]
}

/// A box with south < north and west < east, edges anywhere on the globe.
fn geobox() -> impl Strategy<Value = GeoBox> {
    let lat = (-9_000_000i32..9_000_000).prop_flat_map(|s| (Just(s), s + 1..=9_000_000));
    let lon = (-18_000_000i32..18_000_000).prop_flat_map(|w| (Just(w), w + 1..=18_000_000));
    (lat, lon).prop_map(|((south_e5, north_e5), (west_e5, east_e5))| GeoBox {
        south_e5,
        west_e5,
        north_e5,
        east_e5,
    })
}

/// Daily hours with a start below 1440, an end of 1 to 1440, the two different.
fn daily_hours() -> impl Strategy<Value = DailyHours> {
    (0u16..1440, 1u16..=1440)
        .prop_filter("start and end differ", |(s, e)| s != e)
        .prop_map(|(start_min, end_min)| DailyHours { start_min, end_min })
}

/// A signing key and an envelope of its own, within every limit.
#[derive(Debug, Clone)]
struct Signed {
    seed: [u8; 32],
    envelope: Envelope,
}

impl Signed {
    fn key(&self) -> Keypair {
        Keypair::from_seed(&self.seed)
    }
    fn ring(&self) -> KeyRing {
        let mut ring = KeyRing::new(4);
        ring.insert(self.key().public());
        ring
    }
    fn sign(&self) -> Record {
        Record::sign(&self.key(), self.envelope.clone())
            .unwrap_or_else(|e| panic!("an envelope within the limits must sign: {e}"))
    }
    /// A time at which the record is valid.
    fn now(&self) -> u64 {
        self.envelope.created.secs()
    }
}

fn signed() -> impl Strategy<Value = Signed> {
    (
        any::<[u8; 32]>(),
        prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        any::<u32>(),
        prop_oneof![Just(1u32), Just(MAX_TTL_MIN), 1..=MAX_TTL_MIN],
        destination(),
        body(),
    )
        .prop_map(|(seed, seq, created, ttl_min, dest, body)| Signed {
            seed,
            envelope: Envelope {
                author: Keypair::from_seed(&seed).public().hint(),
                seq,
                created: Timestamp(created),
                ttl_min,
                dest,
                body,
            },
        })
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    /// Copies a run of bytes over another place (moves items around).
    Splice(Index, Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>(), 1u8..16).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Insert(_, v) = m {
            bytes.push(*v);
        }
        return;
    }
    match m {
        Mutation::Flip(i, bit) => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::Set(i, v) => {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        Mutation::Insert(i, v) => {
            let i = i.index(bytes.len() + 1);
            bytes.insert(i, *v);
        }
        Mutation::Remove(i) => {
            let i = i.index(bytes.len());
            bytes.remove(i);
        }
        Mutation::Truncate(i) => {
            let i = i.index(bytes.len());
            bytes.truncate(i);
        }
        Mutation::Splice(from, to, n) => {
            let from = from.index(bytes.len());
            let to = to.index(bytes.len());
            let n = usize::from(*n)
                .min(bytes.len() - from)
                .min(bytes.len() - to);
            let run = bytes[from..from + n].to_vec();
            bytes[to..to + n].copy_from_slice(&run);
        }
    }
}

fn envelope_part(record: &[u8]) -> &[u8] {
    &record[..record.len() - identity::SIGNATURE_LEN]
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_envelope_round_trips(s in signed()) {
        let rec = s.sign();
        prop_assert!(rec.len() <= MAX_RECORD_LEN);
        let u = Unverified::decode(rec.bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(u.id(), rec.id());
        prop_assert_eq!(u.envelope(), &s.envelope);
        prop_assert_eq!(u.bytes(), rec.bytes());
        let v = u
            .verify(&s.ring(), s.now())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(v.envelope(), &s.envelope);
        prop_assert_eq!(v.bytes(), rec.bytes());
        prop_assert_eq!(v.id(), rec.id());
        prop_assert_eq!(v.author(), s.key().public());
        // Canonical: the decoded envelope encodes to the same bytes.
        let again = Record::sign(&s.key(), v.envelope().clone()).unwrap();
        prop_assert_eq!(again.bytes(), rec.bytes());
        // The same bytes from the store need no re-verification and give the same record.
        let trusted = Record::from_trusted(s.key().public(), rec.bytes()).unwrap();
        prop_assert_eq!(trusted, rec);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2200)) {
        let _ = Unverified::decode(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_an_envelope_head_never_panic(
        kind in 0u8..12,
        tail in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // 88 01 <kind>: an array of 8, version 1, a kind: gets past the first checks.
        let bytes = [&[0x88, 0x01, kind][..], &tail].concat();
        if let Ok(u) = Unverified::decode(&bytes) {
            prop_assert_eq!(Unverified::decode(&bytes).unwrap().id(), u.id());
        }
    }

    #[test]
    fn mutated_records_never_verify_unless_unchanged(
        s in signed(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let rec = s.sign();
        let mut bytes = rec.bytes().to_vec();
        for m in &muts {
            apply(&mut bytes, m);
        }
        let Ok(u) = Unverified::decode(&bytes) else {
            return Ok(());
        };
        // The id is a function of the envelope bytes.
        prop_assert_eq!(Unverified::decode(&bytes).unwrap().id(), u.id());
        // Whatever decodes is canonical: encoding its envelope gives its bytes back.
        if u.envelope().author == s.envelope.author {
            let re = Record::sign(&s.key(), u.envelope().clone())
                .map_err(|e| TestCaseError::fail(format!("decoded envelope does not encode: {e}")))?;
            prop_assert_eq!(envelope_part(re.bytes()), envelope_part(&bytes));
        }
        if let Ok(v) = u.verify(&s.ring(), s.now()) {
            prop_assert_eq!(v.bytes(), rec.bytes(), "a changed record verified");
        }
    }

    #[test]
    fn batch_verification_agrees_with_single(
        records in prop::collection::vec((signed(), prop::option::of(any::<Index>())), 1..6),
        now_offset in 0u64..1200,
    ) {
        let mut ring = KeyRing::new(16);
        let mut items = Vec::new();
        for (s, corrupt) in &records {
            ring.insert(s.key().public());
            let mut bytes = s.sign().bytes().to_vec();
            if let Some(i) = corrupt {
                let i = i.index(bytes.len());
                bytes[i] ^= 0x20;
            }
            if let Ok(u) = Unverified::decode(&bytes) {
                items.push(u);
            }
        }
        // Around the first record's creation: some records may be expired or from the future.
        let now = records[0].0.now() + now_offset;
        let now = now.saturating_sub(600);
        let single: Vec<_> = items.iter().map(|u| u.clone().verify(&ring, now)).collect();
        let batch = verify_batch(items, &ring, now);
        prop_assert_eq!(batch, single);
    }

    #[test]
    fn time_checks_follow_the_formula(
        created in any::<u32>(),
        ttl_min in 1..=MAX_TTL_MIN,
        now in prop_oneof![any::<u64>(), 0u64..=u64::from(u32::MAX) + 8_000_000],
    ) {
        let env = Envelope {
            author: KeyHint([0; 8]),
            seq: 0,
            created: Timestamp(created),
            ttl_min,
            dest: Destination::Everyone,
            body: Body::Text { text: String::new(), safety: false },
        };
        let created = u64::from(created);
        let expiry = created + u64::from(ttl_min) * 60;
        let want = if created > now.saturating_add(MAX_FUTURE_SKEW_S) {
            "from_future"
        } else if expiry <= now {
            "expired"
        } else {
            "ok"
        };
        let got = env.check_time(now).map_or_else(|e| e.code(), |()| "ok");
        prop_assert_eq!(got, want);
    }
}
