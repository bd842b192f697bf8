//! Checks the implementation against every vector in `tests/vectors/records.json`.
//!
//! Valid vectors must decode, verify at the file's `now` with the file's keys in a ring, carry
//! the listed id, author and fields, and re-signing the decoded envelope with the author's seed
//! must give the exact bytes back. Invalid vectors must fail with exactly the listed error code
//! at the listed stage. Batch verification must agree with single verification on all of them.
//!
//! The file is written by `cargo run -p haiqiao-proto --example gen_vectors`; the envelopes are
//! rebuilt here from their JSON description independently of the generator's code.

use std::collections::BTreeSet;

use haiqiao_proto::*;
use serde_json::Value as J;

fn load() -> J {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/records.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn s<'a>(v: &'a J, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn u(v: &J, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an unsigned integer in {v}"))
}

fn bytes(v: &J, key: &str) -> Vec<u8> {
    hex::decode(s(v, key)).unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn arr<const N: usize>(v: &J, key: &str) -> [u8; N] {
    bytes(v, key)
        .try_into()
        .unwrap_or_else(|_| panic!("{key} is not {N} bytes"))
}

fn opt_u16(v: &J, key: &str) -> Option<u16> {
    v[key].as_u64().map(|n| u16::try_from(n).unwrap())
}

fn hint(v: &J, key: &str) -> KeyHint {
    KeyHint(arr(v, key))
}

fn id(v: &J, key: &str) -> RecordId {
    RecordId(arr(v, key))
}

fn key(v: &J, key: &str) -> PublicKey {
    PublicKey::from_bytes(&bytes(v, key)).unwrap()
}

fn fix(v: &J) -> Option<Fix> {
    if v.is_null() {
        return None;
    }
    let f = Fix {
        lat_e5: v["lat_e5"].as_i64().unwrap() as i32,
        lon_e5: v["lon_e5"].as_i64().unwrap() as i32,
        sog_dkn: opt_u16(v, "sog_dkn"),
        cog_ddeg: opt_u16(v, "cog_ddeg"),
        heading_deg: opt_u16(v, "heading_deg"),
        nav_status: NavStatus(u(v, "nav_status") as u8),
        fix_age_s: opt_u16(v, "fix_age_s"),
    };
    assert_eq!(pack_fix(&f).unwrap().to_vec(), bytes(v, "packed"));
    assert_eq!(unpack_fix(&bytes(v, "packed")).unwrap(), f);
    Some(f)
}

fn dest(v: &J) -> Destination {
    match s(v, "type") {
        "everyone" => Destination::Everyone,
        "shore" => Destination::Shore,
        "node" => Destination::Node(hint(v, "hint")),
        "pair" => Destination::Pair(hint(v, "a"), hint(v, "b")),
        "mediators" => Destination::Mediators(AreaId(u(v, "area") as u32)),
        "group" => Destination::Group(GroupId(u(v, "group") as u32)),
        other => panic!("unknown destination type {other}"),
    }
}

fn text(v: &J, k: &str) -> String {
    s(v, k).to_owned()
}

/// The body the JSON describes, rebuilt independently of the generator; `None` for a kind
/// added since this reader was written (its vectors are then checked through their wire view
/// alone).
fn body(kind: Kind, v: &J) -> Option<Body> {
    Some(match kind {
        Kind::Position => Body::Position(fix(&v["fix"]).unwrap()),
        Kind::PairAlert => Body::PairAlert {
            alert: PairAlertKind::from_code(u(v, "alert")).unwrap(),
            fix: fix(&v["fix"]),
            text: text(v, "text"),
        },
        Kind::Distress => Body::Distress {
            nature: DistressNature::from_code(u(v, "nature")).unwrap(),
            fix: fix(&v["fix"]),
            persons: opt_u16(v, "persons"),
            text: text(v, "text"),
        },
        Kind::DistressUpdate => Body::DistressUpdate {
            distress: id(v, "distress"),
            status: match (u(v, "status"), opt_u16(v, "eta_min")) {
                (0, None) => DistressStatus::Acknowledged,
                (1, Some(eta_min)) => DistressStatus::Responding { eta_min },
                (2, None) => DistressStatus::OnScene,
                (3, None) => DistressStatus::Resolved,
                (4, None) => DistressStatus::Cancelled,
                other => panic!("bad distress status {other:?}"),
            },
            text: text(v, "text"),
        },
        Kind::DisputeReport => Body::DisputeReport {
            category: DisputeCategory::from_code(u(v, "category")).unwrap(),
            parties: v["parties"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| Party {
                    key: (!p["key"].is_null()).then(|| hint(p, "key")),
                    name: text(p, "name"),
                })
                .collect(),
            fix: fix(&v["fix"]),
            description: text(v, "description"),
            evidence: v["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    hex::decode(e.as_str().unwrap())
                        .unwrap()
                        .try_into()
                        .unwrap()
                })
                .collect(),
        },
        Kind::CaseUpdate => Body::CaseUpdate {
            case: id(v, "case"),
            status: match (u(v, "status"), v["escalation"].as_u64()) {
                (0, None) => CaseStatus::Accepted,
                (1, None) => CaseStatus::InMediation,
                (2, None) => CaseStatus::AgreementProposed,
                (3, Some(0)) => CaseStatus::Escalated(Escalation::CoastGuard),
                (3, Some(1)) => CaseStatus::Escalated(Escalation::Court),
                (4, None) => CaseStatus::Closed,
                other => panic!("bad case status {other:?}"),
            },
            text: text(v, "text"),
        },
        Kind::AgreementSignature => Body::AgreementSignature {
            case: id(v, "case"),
            agreement: arr(v, "agreement"),
        },
        Kind::Receipt => Body::Receipt {
            ids: v["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    RecordId(
                        hex::decode(i.as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap(),
                    )
                })
                .collect(),
        },
        Kind::Certificate => Body::Certificate {
            subject: key(v, "subject"),
            name: text(v, "name"),
            registration: text(v, "registration"),
            mmsi: v["mmsi"].as_u64().map(|m| m as u32),
            role: [Role::Vessel, Role::Mediator, Role::Shore, Role::Authority]
                [u(v, "role") as usize],
            valid_from: Timestamp(u(v, "valid_from") as u32),
            valid_until: Timestamp(u(v, "valid_until") as u32),
        },
        Kind::Revocation => Body::Revocation {
            subject: key(v, "subject"),
            reason: [
                RevocationReason::Unspecified,
                RevocationReason::Compromised,
                RevocationReason::Retired,
                RevocationReason::Superseded,
            ][u(v, "reason") as usize],
        },
        Kind::Text => Body::Text {
            text: text(v, "text"),
            safety: v["safety"].as_bool().unwrap(),
        },
        Kind::Pairing => Body::Pairing {
            partner: key(v, "partner"),
            paired: v["paired"].as_bool().unwrap(),
        },
        Kind::BuddyWatch => Body::BuddyWatch {
            partner: key(v, "partner"),
            overdue: v["overdue"].as_bool().unwrap(),
            last_heard: v["last_heard"].as_u64().map(|t| Timestamp(t as u32)),
            fix: fix(&v["fix"]),
        },
        Kind::Sealed => panic!("sealed records are in tests/vectors/sealed.json (tests/sealed.rs)"),
        Kind::MediatorDuty => Body::MediatorDuty {
            areas: v["areas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let e5 = |k: &str| a[k].as_i64().unwrap() as i32;
                    let bounds = GeoBox {
                        south_e5: e5("south_e5"),
                        west_e5: e5("west_e5"),
                        north_e5: e5("north_e5"),
                        east_e5: e5("east_e5"),
                    };
                    assert_eq!(pack_geobox(&bounds).unwrap().to_vec(), bytes(a, "packed"));
                    assert_eq!(unpack_geobox(&bytes(a, "packed")).unwrap(), bounds);
                    DutyArea {
                        area: AreaId(u(a, "area") as u32),
                        bounds,
                    }
                })
                .collect(),
            categories: CategorySet(u(v, "categories") as u8),
            from: Timestamp(u(v, "from") as u32),
            until: Timestamp(u(v, "until") as u32),
            daily: DailyHours {
                start_min: u(v, "day_start_min") as u16,
                end_min: u(v, "day_end_min") as u16,
            },
        },
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// The envelope the JSON describes; `decoded` stands in for a body this reader cannot rebuild.
fn envelope(v: &J, decoded: &Body) -> Envelope {
    assert_eq!(u(v, "version"), VERSION);
    let kind = Kind::from_name(s(v, "kind")).unwrap();
    assert_eq!(kind as u64, u(v, "kind_code"));
    let e = Envelope {
        author: hint(v, "author_hint"),
        seq: u(v, "seq"),
        created: Timestamp(u(v, "created") as u32),
        ttl_min: u(v, "ttl_min") as u32,
        dest: dest(&v["dest"]),
        body: body(kind, &v["body"]).unwrap_or_else(|| decoded.clone()),
    };
    assert_eq!(e.expiry(), u(v, "expiry"));
    e
}

struct Setup {
    doc: J,
    now: u64,
    ring: KeyRing,
    seeds: Vec<(String, [u8; 32])>,
}

fn setup() -> Setup {
    let doc = load();
    let now = u(&doc, "now");
    let mut ring = KeyRing::new(64);
    let mut seeds = Vec::new();
    for k in doc["keys"].as_array().unwrap() {
        let seed: [u8; 32] = arr(k, "seed");
        let pair = Keypair::from_seed(&seed);
        assert_eq!(pair.public(), key(k, "public"), "{}", s(k, "name"));
        assert_eq!(pair.public().hint(), hint(k, "hint"), "{}", s(k, "name"));
        ring.insert(pair.public());
        seeds.push((s(k, "name").to_owned(), seed));
    }
    let outsider = &doc["outsider"];
    assert!(!ring.knows(&hint(outsider, "hint")));
    Setup {
        doc,
        now,
        ring,
        seeds,
    }
}

#[test]
fn constants_match_the_file() {
    let d = load();
    let limits = &d["limits"];
    assert_eq!(u(limits, "max_record_len"), MAX_RECORD_LEN as u64);
    assert_eq!(u(limits, "max_depth"), MAX_DEPTH as u64);
    assert_eq!(u(limits, "max_future_skew_s"), MAX_FUTURE_SKEW_S);
    assert_eq!(u(limits, "max_ttl_min"), u64::from(MAX_TTL_MIN));
    assert_eq!(s(&d, "signing_context").as_bytes(), record::SIGNING_CONTEXT);
}

#[test]
fn valid_vectors_decode_verify_and_re_sign_to_the_same_bytes() {
    let t = setup();
    let mut unverified = Vec::new();
    for v in t.doc["valid"].as_array().unwrap() {
        let name = s(v, "name");
        let raw = bytes(v, "hex");
        assert_eq!(raw.len() as u64, u(v, "len"), "{name}");
        let u_ = Unverified::decode(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(u_.id().as_bytes()), s(v, "id"), "{name}");
        let expected = envelope(&v["envelope"], &u_.envelope().body);
        assert_eq!(
            u_.envelope().body.wire_view(),
            v["envelope"]["body"],
            "{name}"
        );
        assert_eq!(u_.envelope(), &expected, "{name}");
        unverified.push(u_.clone());

        let rec = u_
            .verify(&t.ring, t.now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(rec.author().as_bytes()), s(v, "author_public"));
        assert_eq!(rec.priority().name(), s(v, "priority"), "{name}");
        assert_eq!(rec.bytes(), &raw[..]);

        let (_, seed) = t
            .seeds
            .iter()
            .find(|(n, _)| n == s(v, "author"))
            .unwrap_or_else(|| panic!("{name}: no key {}", s(v, "author")));
        let resigned = Record::sign(&Keypair::from_seed(seed), rec.envelope().clone()).unwrap();
        assert_eq!(
            resigned.bytes(),
            &raw[..],
            "{name}: re-signing changed the bytes"
        );
        assert_eq!(resigned.id(), rec.id());
        assert_eq!(
            u(v, "envelope_len") as usize,
            raw.len() - identity::SIGNATURE_LEN
        );
    }
    for (i, r) in verify_batch(unverified, &t.ring, t.now).iter().enumerate() {
        assert!(
            r.is_ok(),
            "valid vector {i} fails batch verification: {r:?}"
        );
    }
}

#[test]
fn invalid_vectors_fail_with_their_error_code() {
    let t = setup();
    let mut names = BTreeSet::new();
    for v in t.doc["invalid"].as_array().unwrap() {
        let name = s(v, "name");
        assert!(names.insert(name), "duplicate vector name {name}");
        let raw = bytes(v, "hex");
        let want = s(v, "error");
        match (Unverified::decode(&raw), s(v, "stage")) {
            (Err(e), "decode") => assert_eq!(e.code(), want, "{name}: {e}"),
            (Ok(u_), "verify") => {
                let single = u_.clone().verify(&t.ring, t.now);
                match &single {
                    Err(e) => assert_eq!(e.code(), want, "{name}: {e}"),
                    Ok(_) => panic!("{name}: verifies, expected {want}"),
                }
                let batch = verify_batch(vec![u_], &t.ring, t.now);
                assert_eq!(
                    batch[0].as_ref().err(),
                    single.as_ref().err(),
                    "{name}: batch and single verification disagree"
                );
            }
            (Err(e), stage) => panic!("{name}: fails to decode ({e}), expected {want} at {stage}"),
            (Ok(_), stage) => panic!("{name}: decodes, expected {want} at {stage}"),
        }
    }
}

#[test]
fn invalid_vectors_fail_inside_a_batch_too() {
    // Batch verification must single out the bad records among good ones.
    let t = setup();
    let mut items = Vec::new();
    let mut want = Vec::new();
    for (valid, list) in [(true, "valid"), (false, "invalid")] {
        for v in t.doc[list].as_array().unwrap() {
            if let Ok(u_) = Unverified::decode(&bytes(v, "hex")) {
                items.push(u_);
                want.push(if valid { "ok" } else { s(v, "error") });
            }
        }
    }
    let got: Vec<&str> = verify_batch(items, &t.ring, t.now)
        .iter()
        .map(|r| r.as_ref().map_or_else(RecordError::code, |_| "ok"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn vectors_cover_every_kind_destination_and_error() {
    let d = load();
    let valid = d["valid"].as_array().unwrap();
    let kinds: BTreeSet<&str> = valid.iter().map(|v| s(&v["envelope"], "kind")).collect();
    // Sealed records have their own file, tests/vectors/sealed.json (tests/sealed.rs).
    for k in Kind::ALL.into_iter().filter(|k| *k != Kind::Sealed) {
        assert!(
            kinds.contains(k.name()),
            "no valid vector of kind {}",
            k.name()
        );
    }
    let dests: BTreeSet<&str> = valid
        .iter()
        .map(|v| s(&v["envelope"]["dest"], "type"))
        .collect();
    for d in ["everyone", "shore", "node", "pair", "mediators", "group"] {
        assert!(dests.contains(d), "no valid vector to destination {d}");
    }
    let mut errors: Vec<&str> = d["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(v, "error"))
        .collect();
    for (code, at_least) in [
        ("too_large", 1),
        ("truncated", 1),
        ("too_deep", 1),
        ("trailing_bytes", 1),
        ("non_canonical", 3),
        ("malformed", 3),
        ("unsupported_version", 1),
        ("unknown_kind", 1),
        ("invalid_field", 3),
        ("malformed_key", 1),
        ("unknown_author", 1),
        ("bad_signature", 1),
        ("expired", 1),
        ("from_future", 1),
    ] {
        let n = errors.iter().filter(|e| **e == code).count();
        assert!(n >= at_least, "{n} vectors for {code}, want {at_least}");
    }
    errors.sort_unstable();
    errors.dedup();
    assert_eq!(errors.len(), 14, "unexpected error codes: {errors:?}");
}
