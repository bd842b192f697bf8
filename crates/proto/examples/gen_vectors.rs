//! Writes the record test vectors (`tests/vectors/records.json`) to stdout:
//!
//! ```text
//! cargo run -p haiqiao-proto --example gen_vectors > tests/vectors/records.json
//! ```
//!
//! Deterministic: fixed seeds, a fixed "now", and ed25519 signatures are deterministic, so the
//! same code writes the same file byte for byte. Every vector is checked against this
//! implementation as it is written (the program panics if one does not behave as labelled);
//! `crates/proto/tests/vectors.rs` checks the committed file again on every test run.
//!
//! Valid vectors come from `Record::sign`. Invalid ones are built with a small CBOR writer that
//! can write what the codec refuses (long heads, indefinite lengths, maps, tags, floats), and
//! are signed over their exact envelope bytes with a key in the ring, so that each has one
//! defect only: the one its error code names.

use std::fmt::Write as _;

use ed25519_dalek::Signer as _;
use haiqiao_proto::kinds::views::hx;
use haiqiao_proto::record::SIGNING_CONTEXT;
use haiqiao_proto::*;
use serde_json::{Value as J, json};
use sha2::{Digest, Sha256, Sha512};

/// The verifier's clock for every vector: 2026-11-18T11:06:40Z.
const NOW: u64 = 1_795_000_000;

/// The group order l of the ed25519 base point, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

// ---------------------------------------------------------------------------------------------
// A small CBOR writer and reader for building envelopes, valid or not.

/// A CBOR item; `Raw` is spliced in as is.
#[derive(Clone, Debug, PartialEq)]
enum C {
    U(u64),
    /// The negative integer -1 - n.
    N(u64),
    B(Vec<u8>),
    T(String),
    A(Vec<C>),
    Bool(bool),
    Null,
    Raw(Vec<u8>),
}

/// A head in its shortest form.
fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend([m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(n.to_be_bytes());
    }
}

fn enc_into(c: &C, out: &mut Vec<u8>) {
    match c {
        C::U(n) => head(0, *n, out),
        C::N(n) => head(1, *n, out),
        C::B(b) => {
            head(2, b.len() as u64, out);
            out.extend(b);
        }
        C::T(s) => {
            head(3, s.len() as u64, out);
            out.extend(s.as_bytes());
        }
        C::A(items) => {
            head(4, items.len() as u64, out);
            for i in items {
                enc_into(i, out);
            }
        }
        C::Bool(false) => out.push(0xf4),
        C::Bool(true) => out.push(0xf5),
        C::Null => out.push(0xf6),
        C::Raw(r) => out.extend(r),
    }
}

fn enc(c: &C) -> Vec<u8> {
    let mut out = Vec::new();
    enc_into(c, &mut out);
    out
}

/// Reads canonical CBOR of the record subset (what `Record::sign` writes).
fn parse(bytes: &[u8]) -> C {
    fn item(b: &[u8], pos: &mut usize) -> C {
        let ib = b[*pos];
        *pos += 1;
        let (major, info) = (ib >> 5, ib & 0x1f);
        if major == 7 {
            return match info {
                20 => C::Bool(false),
                21 => C::Bool(true),
                22 => C::Null,
                _ => panic!("unexpected simple value"),
            };
        }
        let n = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let len = 1usize << (info - 24);
                let v = b[*pos..*pos + len]
                    .iter()
                    .fold(0u64, |a, x| (a << 8) | u64::from(*x));
                *pos += len;
                v
            }
            _ => panic!("unexpected head"),
        };
        match major {
            0 => C::U(n),
            1 => C::N(n),
            2 | 3 => {
                let s = b[*pos..*pos + n as usize].to_vec();
                *pos += n as usize;
                if major == 2 {
                    C::B(s)
                } else {
                    C::T(String::from_utf8(s).expect("utf-8"))
                }
            }
            4 => C::A((0..n).map(|_| item(b, pos)).collect()),
            _ => panic!("unexpected major type"),
        }
    }
    let mut pos = 0;
    let c = item(bytes, &mut pos);
    assert_eq!(pos, bytes.len());
    c
}

/// The item at `path` (indices into nested arrays).
fn at<'a>(c: &'a mut C, path: &[usize]) -> &'a mut C {
    match path.split_first() {
        None => c,
        Some((i, rest)) => match c {
            C::A(items) => at(&mut items[*i], rest),
            _ => panic!("path into a non-array"),
        },
    }
}

// Envelope positions.
const VERSION_AT: usize = 0;
const KIND_AT: usize = 1;
const AUTHOR_AT: usize = 2;
const SEQ_AT: usize = 3;
const CREATED_AT: usize = 4;
const TTL_AT: usize = 5;
const DEST_AT: usize = 6;
const BODY_AT: usize = 7;

// ---------------------------------------------------------------------------------------------
// Keys and signing.

struct Key {
    name: &'static str,
    role: &'static str,
    seed: [u8; 32],
    pair: Keypair,
}

impl Key {
    fn new(name: &'static str, role: &'static str, byte: u8) -> Key {
        let seed = [byte; 32];
        Key {
            name,
            role,
            seed,
            pair: Keypair::from_seed(&seed),
        }
    }
    fn hint(&self) -> KeyHint {
        self.pair.public().hint()
    }
    fn json(&self) -> J {
        json!({
            "name": self.name,
            "role": self.role,
            "seed": hex::encode(self.seed),
            "public": hex::encode(self.pair.public().as_bytes()),
            "hint": hex::encode(self.hint().as_bytes()),
        })
    }
}

/// envelope || Ed25519(seed, "haiqiao/record/v1" || envelope), for any envelope bytes.
fn sign_bytes(seed: &[u8; 32], envelope: &[u8]) -> Vec<u8> {
    let sk = ed25519_dalek::SigningKey::from_bytes(seed);
    let sig = sk.sign(&[SIGNING_CONTEXT, envelope].concat()).to_bytes();
    [envelope, &sig[..]].concat()
}

/// Lifts a u64 into the type of `_like` (a curve25519 scalar).
fn lift<S: From<u64>>(_like: &S, v: u64) -> S {
    S::from(v)
}

/// A signature with R = the identity point and s = H(R || A || M)·a mod l: the cofactorless
/// equation [s]B = R + [k]A holds, but strict verification refuses a small-order R.
fn small_order_r_signature(seed: &[u8; 32], envelope: &[u8]) -> Vec<u8> {
    let a = ed25519_dalek::SigningKey::from_bytes(seed).to_scalar();
    let public = Keypair::from_seed(seed).public();
    let mut r = [0u8; 32];
    r[0] = 1;
    let h = Sha512::new()
        .chain_update(r)
        .chain_update(public.as_bytes())
        .chain_update(SIGNING_CONTEXT)
        .chain_update(envelope)
        .finalize();
    let two32 = lift(&a, 1 << 32);
    let two64 = two32 * two32;
    let mut k = lift(&a, 0);
    for limb in h.chunks(8).rev() {
        let mut le = [0u8; 8];
        le.copy_from_slice(limb);
        k = k * two64 + lift(&a, u64::from_le_bytes(le));
    }
    let s = k * a;
    [envelope, &r[..], &s.to_bytes()[..]].concat()
}

/// Replaces s by s + l in a signed record (same value mod l, not the canonical encoding).
fn unreduced_s(record: &[u8]) -> Vec<u8> {
    let mut out = record.to_vec();
    let s_at = out.len() - 32;
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let v = u16::from(out[s_at + i]) + u16::from(*l) + carry;
        out[s_at + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    out
}

// ---------------------------------------------------------------------------------------------
// JSON views of decoded values.

fn dest_json(d: &Destination) -> J {
    match d {
        Destination::Everyone => json!({"type": "everyone"}),
        Destination::Shore => json!({"type": "shore"}),
        Destination::Node(h) => json!({"type": "node", "hint": hx(h.as_bytes())}),
        Destination::Pair(a, b) => {
            json!({"type": "pair", "a": hx(a.as_bytes()), "b": hx(b.as_bytes())})
        }
        Destination::Mediators(a) => json!({"type": "mediators", "area": a.0}),
        Destination::Group(g) => json!({"type": "group", "group": g.0}),
    }
}

fn envelope_json(e: &Envelope) -> J {
    json!({
        "version": VERSION,
        "kind": e.kind().name(),
        "kind_code": e.kind() as u8,
        "author_hint": hx(e.author.as_bytes()),
        "seq": e.seq,
        "created": e.created.0,
        "ttl_min": e.ttl_min,
        "expiry": e.expiry(),
        "dest": dest_json(&e.dest),
        "body": e.body.wire_view(),
    })
}

// ---------------------------------------------------------------------------------------------
// The vectors.

struct Out {
    ring: KeyRing,
    valid: Vec<J>,
    invalid: Vec<J>,
}

impl Out {
    /// Signs `env` with `key`, checks the result, records it, and returns it.
    fn valid(&mut self, name: &str, note: &str, key: &Key, env: Envelope) -> Record {
        let r = Record::sign(&key.pair, env.clone())
            .unwrap_or_else(|e| panic!("{name}: signing failed: {e}"));
        let envelope_bytes = &r.bytes()[..r.len() - 64];
        // The writer here and the codec agree byte for byte.
        assert_eq!(enc(&parse(envelope_bytes)), envelope_bytes, "{name}");
        assert_eq!(sign_bytes(&key.seed, envelope_bytes), r.bytes(), "{name}");
        let v = Unverified::decode(r.bytes())
            .and_then(|u| u.verify(&self.ring, NOW))
            .unwrap_or_else(|e| panic!("{name}: does not verify: {e}"));
        assert_eq!(v.envelope(), &env, "{name}");
        self.valid.push(json!({
            "name": name,
            "note": note,
            "hex": hex::encode(r.bytes()),
            "len": r.len(),
            "envelope_len": envelope_bytes.len(),
            "id": hex::encode(r.id().as_bytes()),
            "author": key.name,
            "author_public": hex::encode(key.pair.public().as_bytes()),
            "priority": r.priority().name(),
            "envelope": envelope_json(&env),
        }));
        r
    }

    /// Records an invalid record after checking that it fails with `code`.
    fn invalid(&mut self, name: &str, note: &str, bytes: &[u8], code: &str) {
        let (stage, got) = match Unverified::decode(bytes) {
            Err(e) => ("decode", e.code()),
            Ok(u) => match u.verify(&self.ring, NOW) {
                Err(e) => ("verify", e.code()),
                Ok(_) => ("verify", "ok"),
            },
        };
        assert_eq!(got, code, "{name}: expected {code}, got {got}");
        self.invalid.push(json!({
            "name": name,
            "note": note,
            "hex": hex::encode(bytes),
            "error": code,
            "stage": stage,
        }));
    }
}

fn env(
    author: &Key,
    seq: u64,
    created: u64,
    ttl_min: u32,
    dest: Destination,
    body: Body,
) -> Envelope {
    Envelope {
        author: author.hint(),
        seq,
        created: Timestamp(created as u32),
        ttl_min,
        dest,
        body,
    }
}

fn fix_zhoushan() -> Fix {
    Fix {
        lat_e5: 3_001_234,
        lon_e5: 12_287_654,
        sog_dkn: Some(82),
        cog_ddeg: Some(451),
        heading_deg: Some(47),
        nav_status: NavStatus::FISHING,
        fix_age_s: Some(2),
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A string of exactly `n` bytes of UTF-8, CJK where it fits.
fn text_of_len(n: usize) -> String {
    let mut s = "渔".repeat(n / 3);
    s.push_str(&"a".repeat(n % 3));
    assert_eq!(s.len(), n);
    s
}

/// The keys of the vectors; every one but the outsider is in the verifier's ring.
struct Keys {
    alice: Key,
    bob: Key,
    mediator: Key,
    shore: Key,
    authority: Key,
    outsider: Key,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            alice: Key::new("alice", "vessel 浙岱渔03315", ALICE),
            bob: Key::new("bob", "vessel 浙岱渔03316, alice's pair partner", 0x22),
            mediator: Key::new("mediator", "sea mediator", 0x33),
            shore: Key::new("shore", "shore station", 0x44),
            authority: Key::new("authority", "fisheries bureau (certifies keys)", AUTHORITY),
            outsider: Key::new("outsider", "a vessel the verifier does not know", 0x99),
        }
    }

    /// The keys in the ring.
    fn ring(&self) -> [&Key; 5] {
        [
            &self.alice,
            &self.bob,
            &self.mediator,
            &self.shore,
            &self.authority,
        ]
    }
}

/// Alice's seed byte: she signs the invalid vectors built by [`with`].
const ALICE: u8 = 0x11;
/// The authority's seed byte: it signs the certificates built by [`Base::by_authority`].
const AUTHORITY: u8 = 0x55;

/// What the invalid vectors are built from: valid envelopes as CBOR trees.
struct Base {
    k: Keys,
    position: Record,
    distress: Record,
    /// A short text from alice.
    text_tree: C,
    /// The worked-example position.
    pos_tree: C,
    /// A certificate of bob by the authority.
    cert_tree: C,
}

impl Base {
    fn new(k: Keys, position: Record, distress: Record) -> Base {
        let text_env = env(
            &k.alice,
            4009,
            NOW,
            60,
            Destination::Everyone,
            Body::Text {
                text: "hi".into(),
                safety: false,
            },
        );
        let text_rec = Record::sign(&k.alice.pair, text_env).expect("sign");
        let text_tree = parse(&text_rec.bytes()[..text_rec.len() - 64]);
        let pos_tree = parse(&position.bytes()[..position.len() - 64]);
        let cert_tree = {
            let r = Record::sign(
                &k.authority.pair,
                env(
                    &k.authority,
                    9,
                    NOW,
                    60,
                    Destination::Everyone,
                    Body::Certificate {
                        subject: k.bob.pair.public(),
                        name: "浙岱渔03316".into(),
                        registration: String::new(),
                        mmsi: Some(412_345_679),
                        role: Role::Vessel,
                        valid_from: Timestamp(NOW as u32),
                        valid_until: Timestamp(NOW as u32 + 86_400),
                    },
                ),
            )
            .expect("sign");
            parse(&r.bytes()[..r.len() - 64])
        };
        Base {
            position,
            distress,
            text_tree,
            pos_tree,
            cert_tree,
            k,
        }
    }

    /// The certificate with one item replaced, signed by the authority.
    fn by_authority(&self, path: &[usize], item: C) -> Vec<u8> {
        let mut t = self.cert_tree.clone();
        *at(&mut t, path) = item;
        sign_bytes(&[AUTHORITY; 32], &enc(&t))
    }
}

/// Builds an envelope from `tree` with one item replaced, signed by alice.
fn with(tree: &C, path: &[usize], item: C) -> Vec<u8> {
    let mut t = tree.clone();
    *at(&mut t, path) = item;
    sign_bytes(&[ALICE; 32], &enc(&t))
}

/// Bytes spliced in as they are.
fn raw(b: &[u8]) -> C {
    C::Raw(b.to_vec())
}

/// Records an envelope whose field is invalid.
fn ib(name: &str, note: &str, bytes: Vec<u8>, out: &mut Out) {
    out.invalid(name, note, &bytes, "invalid_field");
}

/// A packed fix with the field of `bits` bits at `shift` set to `value`.
fn fix_with(shift: u32, bits: u32, value: u128) -> C {
    let packed = pack_fix(&fix_zhoushan()).expect("valid");
    let mut all = [0u8; 16];
    all[4..].copy_from_slice(&packed);
    let mut v = u128::from_be_bytes(all);
    let mask = ((1u128 << bits) - 1) << shift;
    v = (v & !mask) | ((value << shift) & mask);
    C::B(v.to_be_bytes()[4..].to_vec())
}

/// A valid vector of its sample (`haiqiao_proto::samples`) for every kind that has none above,
/// so that a new kind has one before anyone writes its own. Sealed records have theirs in
/// tests/vectors/sealed.json (gen_sealed_vectors).
fn valid_samples(out: &mut Out, k: &Keys) {
    for kind in Kind::ALL {
        let has_one = out
            .valid
            .iter()
            .any(|v| v["envelope"]["kind"] == kind.name());
        if kind == Kind::Sealed || has_one {
            continue;
        }
        let sample = samples::envelope(kind, k.alice.hint(), k.bob.hint(), 1, NOW);
        let name = format!("{}_sample", kind.name());
        out.valid(&name, "the kind's sample record", &k.alice, sample);
    }
}

/// Valid positions, a pair alert, distress calls and their updates; returns the worked
/// example position and the distress the updates answer.
fn valid_positions_and_distress(out: &mut Out, k: &Keys) -> (Record, Record) {
    let alice = &k.alice;
    let bob = &k.bob;
    let position = out.valid(
        "position",
        "the worked example of docs/protocol.md",
        alice,
        env(
            alice,
            4000,
            NOW - 2,
            240,
            Destination::Everyone,
            Body::Position(fix_zhoushan()),
        ),
    );
    out.valid(
        "position_extremes_to_shore",
        "largest field values: 90°N 180°E, 102.2 kn, 359.9°, heading 359, status 15, age 1022 s",
        bob,
        env(
            bob,
            1,
            NOW,
            60,
            Destination::Shore,
            Body::Position(Fix {
                lat_e5: 9_000_000,
                lon_e5: 18_000_000,
                sog_dkn: Some(1022),
                cog_ddeg: Some(3599),
                heading_deg: Some(359),
                nav_status: NavStatus::UNDEFINED,
                fix_age_s: Some(1022),
            }),
        ),
    );
    out.valid(
        "position_not_available",
        "90°S 180°W, every optional field not available (all ones), status 0",
        bob,
        env(
            bob,
            2,
            NOW,
            60,
            Destination::Everyone,
            Body::Position(Fix {
                lat_e5: -9_000_000,
                lon_e5: -18_000_000,
                sog_dkn: None,
                cog_ddeg: None,
                heading_deg: None,
                nav_status: NavStatus::UNDER_WAY,
                fix_age_s: None,
            }),
        ),
    );
    out.valid(
        "pair_alert",
        "to the pair alice+bob (hints in ascending byte order)",
        alice,
        env(
            alice,
            4001,
            NOW - 1,
            360,
            Destination::pair(alice.hint(), bob.hint()),
            Body::PairAlert {
                alert: PairAlertKind::GearFouled,
                fix: Some(fix_zhoushan()),
                text: "网缠住了，请减速".into(),
            },
        ),
    );
    let distress = out.valid(
        "distress",
        "",
        alice,
        env(
            alice,
            4002,
            NOW - 60,
            7 * 24 * 60,
            Destination::Everyone,
            Body::Distress {
                nature: DistressNature::Flooding,
                fix: Some(fix_zhoushan()),
                persons: Some(9),
                text: "机舱进水 engine room flooding".into(),
            },
        ),
    );
    out.valid(
        "distress_minimal_to_shore",
        "no fix, persons unknown, empty text",
        bob,
        env(
            bob,
            3,
            NOW,
            24 * 60,
            Destination::Shore,
            Body::Distress {
                nature: DistressNature::Undesignated,
                fix: None,
                persons: None,
                text: String::new(),
            },
        ),
    );
    out.valid(
        "distress_update_responding",
        "bob responds to alice's distress",
        bob,
        env(
            bob,
            4,
            NOW - 30,
            7 * 24 * 60,
            Destination::Everyone,
            Body::DistressUpdate {
                distress: distress.id(),
                status: DistressStatus::Responding { eta_min: 25 },
                text: "25分钟到".into(),
            },
        ),
    );
    out.valid(
        "distress_update_resolved",
        "",
        alice,
        env(
            alice,
            4003,
            NOW,
            7 * 24 * 60,
            Destination::Everyone,
            Body::DistressUpdate {
                distress: distress.id(),
                status: DistressStatus::Resolved,
                text: "pumped out".into(),
            },
        ),
    );
    (position, distress)
}

/// Valid dispute reports, case updates and an agreement signature; returns the dispute.
fn valid_cases(out: &mut Out, k: &Keys) -> Record {
    let alice = &k.alice;
    let bob = &k.bob;
    let mediator = &k.mediator;
    let dispute = out.valid(
        "dispute_report",
        "to the mediators of area 31",
        alice,
        env(
            alice,
            4004,
            NOW - 3600,
            30 * 24 * 60,
            Destination::Mediators(AreaId(31)),
            Body::DisputeReport {
                category: DisputeCategory::GearDamage,
                parties: vec![
                    Party {
                        key: Some(bob.hint()),
                        name: "浙岱渔03316".into(),
                    },
                    Party {
                        key: None,
                        name: "闽霞渔01234".into(),
                    },
                ],
                fix: Some(fix_zhoushan()),
                description: "流刺网被拖网船割断约300米".into(),
                evidence: vec![sha256(b"photo-1.jpg"), sha256(b"plotter-track.gpx")],
            },
        ),
    );
    out.valid(
        "dispute_report_largest",
        "every list and text at its limit: 8 parties with 64-byte names, a 1000-byte description, \
         8 evidence hashes, seq 2^64-1, area 2^32-1",
        alice,
        env(
            alice,
            u64::MAX,
            NOW,
            MAX_TTL_MIN,
            Destination::Mediators(AreaId(u32::MAX)),
            Body::DisputeReport {
                category: DisputeCategory::Other,
                parties: (0..MAX_PARTIES as u8)
                    .map(|i| Party {
                        key: Some(KeyHint([i; 8])),
                        name: text_of_len(MAX_NAME),
                    })
                    .collect(),
                fix: Some(fix_zhoushan()),
                description: text_of_len(MAX_DESCRIPTION),
                evidence: (0..MAX_EVIDENCE as u8).map(|i| [i; 32]).collect(),
            },
        ),
    );
    out.valid(
        "case_update_escalated_to_node",
        "to one node: alice",
        mediator,
        env(
            mediator,
            10,
            NOW - 600,
            30 * 24 * 60,
            Destination::Node(alice.hint()),
            Body::CaseUpdate {
                case: dispute.id(),
                status: CaseStatus::Escalated(Escalation::CoastGuard),
                text: "已转海警95110".into(),
            },
        ),
    );
    let agreement_text = "拖网船赔偿流刺网损失人民币8000元。";
    out.valid(
        "case_update_agreement_proposed",
        "the text is the agreement the parties co-sign",
        mediator,
        env(
            mediator,
            11,
            NOW - 300,
            30 * 24 * 60,
            Destination::pair(alice.hint(), bob.hint()),
            Body::CaseUpdate {
                case: dispute.id(),
                status: CaseStatus::AgreementProposed,
                text: agreement_text.into(),
            },
        ),
    );
    out.valid(
        "agreement_signature",
        "agreement = SHA-256 of the agreement text as UTF-8",
        bob,
        env(
            bob,
            5,
            NOW - 200,
            30 * 24 * 60,
            Destination::Mediators(AreaId(31)),
            Body::AgreementSignature {
                case: dispute.id(),
                agreement: sha256(agreement_text.as_bytes()),
            },
        ),
    );
    dispute
}

/// Valid receipts (of `named`), certificates, a revocation and texts.
fn valid_control_and_texts(out: &mut Out, k: &Keys, named: [&Record; 3]) {
    let alice = &k.alice;
    let bob = &k.bob;
    let mediator = &k.mediator;
    let shore = &k.shore;
    let authority = &k.authority;
    let outsider = &k.outsider;
    out.valid(
        "receipt",
        "",
        shore,
        env(
            shore,
            77,
            NOW,
            3 * 24 * 60,
            Destination::Node(alice.hint()),
            Body::Receipt {
                ids: named.iter().map(|r| r.id()).collect(),
            },
        ),
    );
    out.valid(
        "receipt_largest",
        "100 ids, the most a receipt holds",
        shore,
        env(
            shore,
            78,
            NOW,
            3 * 24 * 60,
            Destination::Everyone,
            Body::Receipt {
                ids: (0..MAX_RECEIPT_IDS as u8)
                    .map(|i| RecordId([i; 16]))
                    .collect(),
            },
        ),
    );
    out.valid(
        "certificate",
        "",
        authority,
        env(
            authority,
            1,
            NOW - 86_400,
            MAX_TTL_MIN,
            Destination::Everyone,
            Body::Certificate {
                subject: alice.pair.public(),
                name: "浙岱渔03315".into(),
                registration: "浙岱渔03315".into(),
                mmsi: Some(412_345_678),
                role: Role::Vessel,
                valid_from: Timestamp((NOW - 86_400) as u32),
                valid_until: Timestamp((NOW + 365 * 86_400) as u32),
            },
        ),
    );
    out.valid(
        "certificate_without_mmsi",
        "",
        authority,
        env(
            authority,
            2,
            NOW - 86_400,
            MAX_TTL_MIN,
            Destination::Everyone,
            Body::Certificate {
                subject: mediator.pair.public(),
                name: "岱山海上调解站".into(),
                registration: String::new(),
                mmsi: None,
                role: Role::Mediator,
                valid_from: Timestamp(0),
                valid_until: Timestamp(u32::MAX),
            },
        ),
    );
    out.valid(
        "revocation",
        "",
        authority,
        env(
            authority,
            3,
            NOW,
            MAX_TTL_MIN,
            Destination::Everyone,
            Body::Revocation {
                subject: outsider.pair.public(),
                reason: RevocationReason::Compromised,
            },
        ),
    );
    out.valid(
        "text_to_group",
        "",
        alice,
        env(
            alice,
            4005,
            NOW,
            24 * 60,
            Destination::Group(GroupId(1001)),
            Body::Text {
                text: "今晚回港".into(),
                safety: false,
            },
        ),
    );
    out.valid(
        "text_safety_to_node",
        "",
        bob,
        env(
            bob,
            6,
            NOW,
            24 * 60,
            Destination::Node(alice.hint()),
            Body::Text {
                text: "前方有渔网，请绕行".into(),
                safety: true,
            },
        ),
    );
    out.valid(
        "text_longest",
        "a 280-byte text (93 three-byte characters and one ASCII letter)",
        alice,
        env(
            alice,
            4006,
            NOW,
            24 * 60,
            Destination::Everyone,
            Body::Text {
                text: text_of_len(MAX_SHORT_TEXT),
                safety: false,
            },
        ),
    );
}

/// Valid pairings and buddy-watch reports.
fn valid_pairs(out: &mut Out, k: &Keys) {
    let alice = &k.alice;
    let bob = &k.bob;
    out.valid(
        "pairing",
        "alice pairs with bob (bob signs one naming alice; the pair exists when both have)",
        alice,
        env(
            alice,
            4012,
            NOW - 7200,
            MAX_TTL_MIN,
            Destination::Everyone,
            Body::Pairing {
                partner: bob.pair.public(),
                paired: true,
            },
        ),
    );
    out.valid(
        "pairing_leave",
        "bob leaves the pair",
        bob,
        env(
            bob,
            7,
            NOW,
            MAX_TTL_MIN,
            Destination::Everyone,
            Body::Pairing {
                partner: alice.pair.public(),
                paired: false,
            },
        ),
    );
    out.valid(
        "buddy_watch_overdue",
        "alice tells shore that bob, last heard 3 hours ago, is overdue",
        alice,
        env(
            alice,
            4013,
            NOW,
            24 * 60,
            Destination::Shore,
            Body::BuddyWatch {
                partner: bob.pair.public(),
                overdue: true,
                last_heard: Some(Timestamp((NOW - 3 * 3600) as u32)),
                fix: Some(fix_zhoushan()),
            },
        ),
    );
    out.valid(
        "buddy_watch_cleared_never_heard",
        "overdue false (heard again); no time or fix known",
        alice,
        env(
            alice,
            4014,
            NOW,
            24 * 60,
            Destination::Shore,
            Body::BuddyWatch {
                partner: bob.pair.public(),
                overdue: false,
                last_heard: None,
                fix: None,
            },
        ),
    );
}

/// Valid duty announcements and the remaining destination forms.
fn valid_duties_and_destinations(out: &mut Out, k: &Keys) {
    let alice = &k.alice;
    let mediator = &k.mediator;
    // The sample announcement (haiqiao_proto::samples), running until a week after NOW.
    let mut duty = samples::envelope(
        Kind::MediatorDuty,
        mediator.hint(),
        alice.hint(),
        12,
        NOW - 600,
    );
    if let Body::MediatorDuty { until, .. } = &mut duty.body {
        *until = Timestamp((NOW + 7 * 86_400) as u32);
    }
    out.valid(
        "mediator_duty",
        "two areas off Daishan, three categories (bits 0, 1, 2), a week, 22:00 to 14:00 UTC \
         (06:00 to 22:00 Beijing time, running past midnight UTC)",
        mediator,
        duty,
    );
    out.valid(
        "mediator_duty_largest",
        "8 areas at the globe's edges, every category, all day",
        mediator,
        env(
            mediator,
            13,
            NOW,
            MAX_TTL_MIN,
            Destination::Everyone,
            Body::MediatorDuty {
                areas: (0..MAX_DUTY_AREAS as u32)
                    .map(|i| DutyArea {
                        area: AreaId(u32::MAX - i),
                        bounds: GeoBox {
                            south_e5: -9_000_000,
                            west_e5: -18_000_000,
                            north_e5: 9_000_000,
                            east_e5: 18_000_000,
                        },
                    })
                    .collect(),
                categories: CategorySet::ALL,
                from: Timestamp(0),
                until: Timestamp(u32::MAX),
                daily: DailyHours::ALL_DAY,
            },
        ),
    );
    out.valid(
        "mediator_duty_off",
        "no areas: off duty",
        mediator,
        env(
            mediator,
            14,
            NOW,
            60,
            Destination::Mediators(AreaId(31)),
            Body::MediatorDuty {
                areas: vec![],
                categories: CategorySet::of(&[DisputeCategory::Other]),
                from: Timestamp(NOW as u32),
                until: Timestamp(NOW as u32 + 1),
                daily: DailyHours {
                    start_min: 1439,
                    end_min: 1440,
                },
            },
        ),
    );
    out.valid(
        "created_at_max_future_skew",
        "created = now + 600 s: the latest creation time accepted",
        alice,
        env(
            alice,
            4007,
            NOW + MAX_FUTURE_SKEW_S,
            60,
            Destination::Everyone,
            Body::Position(fix_zhoushan()),
        ),
    );
    out.valid(
        "expires_in_one_second",
        "created = now - 3599 s, ttl 60 min: expiry = now + 1",
        alice,
        env(
            alice,
            4008,
            NOW - 3599,
            60,
            Destination::Everyone,
            Body::Position(fix_zhoushan()),
        ),
    );
}

/// Invalid: size and framing.
fn invalid_framing(out: &mut Out, base: &Base) {
    let alice = &base.k.alice;
    let position = &base.position;
    let text_tree = &base.text_tree;
    // Size and framing.
    out.invalid(
        "too_large_zeros",
        "2049 bytes: refused before anything else is read",
        &[0u8; MAX_RECORD_LEN + 1],
        "too_large",
    );
    {
        let n = (1000..2048)
            .find(|n| with(text_tree, &[BODY_AT, 0], C::T(text_of_len(*n))).len() == 2049)
            .expect("a text length that makes 2049 bytes");
        out.invalid(
            "too_large_signed_text",
            &format!(
                "a well-signed text record of 2049 bytes (its {n}-byte text is also too long, \
                 but size is checked first)"
            ),
            &with(text_tree, &[BODY_AT, 0], C::T(text_of_len(n))),
            "too_large",
        );
    }
    out.invalid("truncated_empty", "", &[], "truncated");
    out.invalid(
        "truncated_signature_only",
        "64 bytes: a record must be longer than its signature",
        &position.bytes()[64..],
        "truncated",
    );
    out.invalid(
        "truncated_last_byte",
        "the position vector without its last byte: the envelope is taken to end 64 bytes before \
         the end, so it loses its last byte",
        &position.bytes()[..position.len() - 1],
        "truncated",
    );
    {
        let mut t = text_tree.clone();
        let C::A(items) = &mut t else { unreachable!() };
        items.pop();
        let mut e = enc(&t);
        e[0] = 0x88; // still claims 8 items
        out.invalid(
            "truncated_array_count",
            "the envelope's head says 8 items, 7 follow",
            &sign_bytes(&alice.seed, &e),
            "truncated",
        );
    }
    out.invalid(
        "truncated_text_length",
        "the text's head says 100 bytes, 2 follow (then the body's bool)",
        &with(text_tree, &[BODY_AT, 0], raw(&[0x78, 100, b'h', b'i'])),
        "truncated",
    );
    out.invalid(
        "too_deep",
        "the destination nested as [[[[0]]]]: arrays five deep counting the envelope",
        &with(
            text_tree,
            &[DEST_AT],
            C::A(vec![C::A(vec![C::A(vec![C::A(vec![C::U(0)])])])]),
        ),
        "too_deep",
    );
    out.invalid(
        "trailing_byte_after_signature",
        "the position vector and one more byte: the envelope region now ends with the \
         signature's first byte",
        &[position.bytes(), &[0u8][..]].concat(),
        "trailing_bytes",
    );
    {
        let e = [enc(text_tree), vec![0x00]].concat();
        out.invalid(
            "trailing_item_signed",
            "envelope || 0x00, signed as a whole: a second item after the envelope",
            &sign_bytes(&alice.seed, &e),
            "trailing_bytes",
        );
    }
}

/// Invalid: non-canonical CBOR.
fn invalid_non_canonical(out: &mut Out, base: &Base) {
    let alice = &base.k.alice;
    let text_tree = &base.text_tree;
    let pos_tree = &base.pos_tree;
    // Non-canonical CBOR.
    out.invalid(
        "non_canonical_seq_4_byte_head",
        "seq 4000 written 1a00000fa0 instead of 190fa0",
        &with(pos_tree, &[SEQ_AT], raw(&[0x1a, 0, 0, 0x0f, 0xa0])),
        "non_canonical",
    );
    out.invalid(
        "non_canonical_kind_1_byte_head",
        "kind 10 written 180a instead of 0a",
        &with(text_tree, &[KIND_AT], raw(&[0x18, 0x0a])),
        "non_canonical",
    );
    {
        let mut c = vec![0x1b];
        c.extend((NOW).to_be_bytes());
        out.invalid(
            "non_canonical_created_8_byte_head",
            "created written with an 8-byte argument",
            &with(text_tree, &[CREATED_AT], raw(&c)),
            "non_canonical",
        );
    }
    {
        let mut b = vec![0x58, 0x08];
        b.extend(alice.hint().as_bytes());
        out.invalid(
            "non_canonical_bstr_length",
            "the author hint's length written 5808 instead of 48",
            &with(text_tree, &[AUTHOR_AT], raw(&b)),
            "non_canonical",
        );
    }
    {
        let mut e = enc(text_tree);
        e[0] = 0x98;
        e.insert(1, 0x08);
        out.invalid(
            "non_canonical_envelope_head",
            "the envelope's array head written 9808 instead of 88",
            &sign_bytes(&alice.seed, &e),
            "non_canonical",
        );
    }
    out.invalid(
        "non_canonical_indefinite_array",
        "the text body as an indefinite-length array 9f .. ff",
        &with(
            text_tree,
            &[BODY_AT],
            raw(&[0x9f, 0x62, b'h', b'i', 0xf4, 0xff]),
        ),
        "non_canonical",
    );
    out.invalid(
        "non_canonical_indefinite_text",
        "the text as an indefinite-length string 7f 62 'hi' ff",
        &with(
            text_tree,
            &[BODY_AT, 0],
            raw(&[0x7f, 0x62, b'h', b'i', 0xff]),
        ),
        "non_canonical",
    );
}

/// Invalid: items outside the subset.
fn invalid_malformed(out: &mut Out, base: &Base) {
    let alice = &base.k.alice;
    let text_tree = &base.text_tree;
    // Malformed: items outside the subset.
    out.invalid(
        "malformed_map",
        "the body as the map {0: 0}",
        &with(text_tree, &[BODY_AT], raw(&[0xa1, 0x00, 0x00])),
        "malformed",
    );
    {
        let mut c = vec![0xc1, 0x1a];
        c.extend((NOW as u32).to_be_bytes());
        out.invalid(
            "malformed_tag",
            "created wrapped in tag 1 (epoch time)",
            &with(text_tree, &[CREATED_AT], raw(&c)),
            "malformed",
        );
    }
    out.invalid(
        "malformed_float",
        "ttl as the half-precision float 60.0 (f9 5380)",
        &with(text_tree, &[TTL_AT], raw(&[0xf9, 0x53, 0x80])),
        "malformed",
    );
    out.invalid(
        "malformed_undefined",
        "safety as the simple value undefined (f7)",
        &with(text_tree, &[BODY_AT, 1], raw(&[0xf7])),
        "malformed",
    );
    out.invalid(
        "malformed_break",
        "a stray break (ff) in place of the safety flag",
        &with(text_tree, &[BODY_AT, 1], raw(&[0xff])),
        "malformed",
    );
    out.invalid(
        "malformed_reserved_info",
        "additional information 28 (1c) in place of the seq",
        &with(text_tree, &[SEQ_AT], raw(&[0x1c])),
        "malformed",
    );
    out.invalid(
        "malformed_utf8",
        "the text holds the bytes ff fe, which are not UTF-8",
        &with(text_tree, &[BODY_AT, 0], raw(&[0x62, 0xff, 0xfe])),
        "malformed",
    );
    out.invalid(
        "malformed_not_an_array",
        "the envelope is the byte string 41 00",
        &sign_bytes(&alice.seed, &[0x41, 0x00]),
        "malformed",
    );
    {
        let mut t = text_tree.clone();
        *at(&mut t, &[VERSION_AT]) = C::U(2);
        *at(&mut t, &[BODY_AT]) = raw(&[0xa0]);
        out.invalid(
            "malformed_before_version",
            "version 2 with a map in its body: the whole envelope is scanned before any field is \
             read, so the map is reported, not the version",
            &sign_bytes(&alice.seed, &enc(&t)),
            "malformed",
        );
    }
}

/// Invalid: version and kind.
fn invalid_version_and_kind(out: &mut Out, base: &Base) {
    let alice = &base.k.alice;
    let text_tree = &base.text_tree;
    // Version and kind.
    out.invalid(
        "unsupported_version_2",
        "",
        &with(text_tree, &[VERSION_AT], C::U(2)),
        "unsupported_version",
    );
    out.invalid(
        "unsupported_version_0",
        "",
        &with(text_tree, &[VERSION_AT], C::U(0)),
        "unsupported_version",
    );
    out.invalid(
        "unsupported_version_other_shape",
        "[2, \"future\"]: the version is read before the envelope's length is checked",
        &sign_bytes(
            &alice.seed,
            &enc(&C::A(vec![C::U(2), C::T("future".into())])),
        ),
        "unsupported_version",
    );
    // The first number after the last kind: it moves on when a kind is added.
    let last = Kind::ALL[Kind::ALL.len() - 1];
    let next = last as u64 + 1;
    out.invalid(
        &format!("unknown_kind_{next}"),
        &format!(
            "the first number after the last kind ({}, {})",
            last as u64,
            last.name()
        ),
        &with(text_tree, &[KIND_AT], C::U(next)),
        "unknown_kind",
    );
    out.invalid(
        "unknown_kind_2_pow_32",
        "",
        &with(text_tree, &[KIND_AT], C::U(1 << 32)),
        "unknown_kind",
    );
}

/// Invalid fields: the envelope's and the simple bodies'.
fn invalid_envelope_fields(out: &mut Out, base: &Base) {
    let alice = &base.k.alice;
    let bob = &base.k.bob;
    let text_tree = &base.text_tree;
    ib(
        "invalid_version_negative",
        "version -1",
        with(text_tree, &[VERSION_AT], C::N(0)),
        out,
    );
    ib(
        "invalid_version_text",
        "version \"1\"",
        with(text_tree, &[VERSION_AT], C::T("1".into())),
        out,
    );
    {
        let mut t = text_tree.clone();
        let C::A(items) = &mut t else { unreachable!() };
        items.push(C::Null);
        ib(
            "invalid_envelope_nine_items",
            "version 1 with 9 items",
            sign_bytes(&alice.seed, &enc(&t)),
            out,
        );
    }
    ib(
        "invalid_kind_negative",
        "kind -1",
        with(text_tree, &[KIND_AT], C::N(0)),
        out,
    );
    ib(
        "invalid_author_7_bytes",
        "a 7-byte author hint",
        with(
            text_tree,
            &[AUTHOR_AT],
            C::B(alice.hint().as_bytes()[..7].to_vec()),
        ),
        out,
    );
    ib(
        "invalid_seq_negative",
        "seq -1",
        with(text_tree, &[SEQ_AT], C::N(0)),
        out,
    );
    ib(
        "invalid_created_beyond_u32",
        "created = 2^32",
        with(text_tree, &[CREATED_AT], C::U(1 << 32)),
        out,
    );
    ib(
        "invalid_ttl_zero",
        "",
        with(text_tree, &[TTL_AT], C::U(0)),
        out,
    );
    ib(
        "invalid_ttl_above_90_days",
        "ttl 129601 min",
        with(text_tree, &[TTL_AT], C::U(u64::from(MAX_TTL_MIN) + 1)),
        out,
    );
    ib(
        "invalid_dest_integer_2",
        "2 is not a destination (node destinations are [2, hint])",
        with(text_tree, &[DEST_AT], C::U(2)),
        out,
    );
    ib(
        "invalid_dest_tag_6",
        "[6, 0]",
        with(text_tree, &[DEST_AT], C::A(vec![C::U(6), C::U(0)])),
        out,
    );
    ib(
        "invalid_dest_node_arity",
        "[2, hint, hint]",
        with(
            text_tree,
            &[DEST_AT],
            C::A(vec![
                C::U(2),
                C::B(bob.hint().0.to_vec()),
                C::B(bob.hint().0.to_vec()),
            ]),
        ),
        out,
    );
    {
        let (lo, hi) = match Destination::pair(alice.hint(), bob.hint()) {
            Destination::Pair(a, b) => (a, b),
            _ => unreachable!(),
        };
        ib(
            "invalid_dest_pair_unsorted",
            "[3, larger hint, smaller hint]",
            with(
                text_tree,
                &[DEST_AT],
                C::A(vec![C::U(3), C::B(hi.0.to_vec()), C::B(lo.0.to_vec())]),
            ),
            out,
        );
        ib(
            "invalid_dest_pair_same",
            "[3, hint, same hint]",
            with(
                text_tree,
                &[DEST_AT],
                C::A(vec![C::U(3), C::B(lo.0.to_vec()), C::B(lo.0.to_vec())]),
            ),
            out,
        );
    }
    ib(
        "invalid_dest_group_beyond_u32",
        "[5, 2^32]",
        with(text_tree, &[DEST_AT], C::A(vec![C::U(5), C::U(1 << 32)])),
        out,
    );
}

/// Invalid fixes: pack a valid fix, then overwrite a field's bits.
fn invalid_fixes(out: &mut Out, base: &Base) {
    let text_tree = &base.text_tree;
    let pos_tree = &base.pos_tree;
    ib(
        "invalid_fix_lat",
        "latitude 9000001 (90.00001°N)",
        with(pos_tree, &[BODY_AT], fix_with(71, 25, 9_000_001)),
        out,
    );
    ib(
        "invalid_fix_lon",
        "longitude -18000001",
        with(
            pos_tree,
            &[BODY_AT],
            fix_with(45, 26, (-18_000_001i32 as u32 & 0x3ff_ffff) as u128),
        ),
        out,
    );
    ib(
        "invalid_fix_cog",
        "course 3600 (360.0°)",
        with(pos_tree, &[BODY_AT], fix_with(23, 12, 3600)),
        out,
    );
    ib(
        "invalid_fix_heading",
        "heading 360",
        with(pos_tree, &[BODY_AT], fix_with(14, 9, 360)),
        out,
    );
    ib(
        "invalid_fix_11_bytes",
        "a packed fix one byte short",
        with(
            pos_tree,
            &[BODY_AT],
            C::B(pack_fix(&fix_zhoushan()).expect("valid")[..11].to_vec()),
        ),
        out,
    );
    ib(
        "invalid_position_body_type",
        "a position body that is a text string",
        with(pos_tree, &[BODY_AT], C::T("30.0N 122.9E".into())),
        out,
    );
    ib(
        "invalid_text_too_long",
        "a 281-byte text",
        with(
            text_tree,
            &[BODY_AT, 0],
            C::T(text_of_len(MAX_SHORT_TEXT + 1)),
        ),
        out,
    );
    ib(
        "invalid_text_safety_type",
        "safety written as the integer 1",
        with(text_tree, &[BODY_AT, 1], C::U(1)),
        out,
    );
    ib(
        "invalid_text_body_arity",
        "a text body of 3 items",
        with(
            text_tree,
            &[BODY_AT],
            C::A(vec![C::T("hi".into()), C::Bool(false), C::Null]),
        ),
        out,
    );
}

/// Invalid distress, update and dispute bodies.
fn invalid_distress_and_dispute_bodies(out: &mut Out, base: &Base) {
    let distress = &base.distress;
    let text_tree = &base.text_tree;
    {
        // Distress-kind envelopes built from the text one (kind and body replaced).
        let mut t = text_tree.clone();
        *at(&mut t, &[KIND_AT]) = C::U(Kind::Distress as u64);
        ib(
            "invalid_distress_nature",
            "nature code 11 (not a DSC nature)",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![C::U(11), C::Null, C::Null, C::T(String::new())]),
            ),
            out,
        );
        *at(&mut t, &[KIND_AT]) = C::U(Kind::DistressUpdate as u64);
        ib(
            "invalid_distress_update_eta",
            "status 3 (resolved) with an eta",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![
                    C::B(distress.id().0.to_vec()),
                    C::U(3),
                    C::U(10),
                    C::T(String::new()),
                ]),
            ),
            out,
        );
        ib(
            "invalid_distress_update_no_eta",
            "status 1 (responding) with null eta",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![
                    C::B(distress.id().0.to_vec()),
                    C::U(1),
                    C::Null,
                    C::T(String::new()),
                ]),
            ),
            out,
        );
        *at(&mut t, &[KIND_AT]) = C::U(Kind::Receipt as u64);
        ib(
            "invalid_receipt_empty",
            "a receipt of no ids",
            with(&t, &[BODY_AT], C::A(vec![C::A(vec![])])),
            out,
        );
        ib(
            "invalid_receipt_101_ids",
            "",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![C::A(
                    (0..=MAX_RECEIPT_IDS as u8)
                        .map(|i| C::B(vec![i; 16]))
                        .collect(),
                )]),
            ),
            out,
        );
        ib(
            "invalid_receipt_id_length",
            "a 15-byte record id",
            with(&t, &[BODY_AT], C::A(vec![C::A(vec![C::B(vec![7; 15])])])),
            out,
        );
        *at(&mut t, &[KIND_AT]) = C::U(Kind::DisputeReport as u64);
        let dispute_body = |parties: C, evidence: C| {
            C::A(vec![C::U(1), parties, C::Null, C::T("x".into()), evidence])
        };
        ib(
            "invalid_dispute_nine_parties",
            "",
            with(
                &t,
                &[BODY_AT],
                dispute_body(
                    C::A(
                        (0..9)
                            .map(|_| C::A(vec![C::Null, C::T("船".into())]))
                            .collect(),
                    ),
                    C::A(vec![]),
                ),
            ),
            out,
        );
        ib(
            "invalid_dispute_party_name_too_long",
            "a 65-byte vessel name",
            with(
                &t,
                &[BODY_AT],
                dispute_body(
                    C::A(vec![C::A(vec![C::Null, C::T(text_of_len(MAX_NAME + 1))])]),
                    C::A(vec![]),
                ),
            ),
            out,
        );
        ib(
            "invalid_dispute_evidence_length",
            "a 31-byte evidence hash",
            with(
                &t,
                &[BODY_AT],
                dispute_body(C::A(vec![]), C::A(vec![C::B(vec![1; 31])])),
            ),
            out,
        );
    }
}

/// Invalid certificates, each a valid one with one item replaced.
fn invalid_certificates(out: &mut Out, base: &Base) {
    ib(
        "invalid_mmsi_reserved",
        "MMSI 970123456: the 970 block is for AIS-SART devices",
        base.by_authority(&[BODY_AT, 3], C::U(970_123_456)),
        out,
    );
    ib(
        "invalid_mmsi_short",
        "MMSI 12345678 (8 digits)",
        base.by_authority(&[BODY_AT, 3], C::U(12_345_678)),
        out,
    );
    ib(
        "invalid_certificate_validity",
        "valid_until = valid_from",
        base.by_authority(&[BODY_AT, 6], C::U(NOW)),
        out,
    );
    ib(
        "invalid_certificate_role",
        "role 4",
        base.by_authority(&[BODY_AT, 4], C::U(4)),
        out,
    );
}

/// Invalid pairing and buddy-watch bodies.
fn invalid_pairing_and_buddy(out: &mut Out, base: &Base) {
    let bob = &base.k.bob;
    let text_tree = &base.text_tree;
    {
        // New kinds, built from the text envelope with kind and body replaced.
        let mut t = text_tree.clone();
        *at(&mut t, &[KIND_AT]) = C::U(Kind::Pairing as u64);
        let bob_key = C::B(bob.pair.public().as_bytes().to_vec());
        ib(
            "invalid_pairing_paired_type",
            "paired written as the integer 1",
            with(&t, &[BODY_AT], C::A(vec![bob_key.clone(), C::U(1)])),
            out,
        );
        ib(
            "invalid_pairing_partner_hint",
            "the partner given by its 8-byte hint, not its 32-byte key",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![C::B(bob.hint().0.to_vec()), C::Bool(true)]),
            ),
            out,
        );
        *at(&mut t, &[KIND_AT]) = C::U(Kind::BuddyWatch as u64);
        ib(
            "invalid_buddy_watch_last_heard",
            "last heard 2^32",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![bob_key.clone(), C::Bool(true), C::U(1 << 32), C::Null]),
            ),
            out,
        );
        ib(
            "invalid_buddy_watch_arity",
            "a buddy-watch body of 3 items",
            with(
                &t,
                &[BODY_AT],
                C::A(vec![bob_key.clone(), C::Bool(true), C::Null]),
            ),
            out,
        );
    }
}

/// Invalid duty announcements, and a pairing with a key off the curve.
fn invalid_duties(out: &mut Out, base: &Base) {
    let text_tree = &base.text_tree;
    {
        let mut t = text_tree.clone();
        *at(&mut t, &[KIND_AT]) = C::U(Kind::MediatorDuty as u64);
        let zhoushan = GeoBox::from_degrees(29.5, 121.5, 31.0, 123.5);
        let area = |b: Vec<u8>| C::A(vec![C::U(31), C::B(b)]);
        let good_box = pack_geobox(&zhoushan).expect("valid").to_vec();
        let duty = |areas: Vec<C>, cats: u64, from: u64, until: u64, start: u64, end: u64| {
            C::A(vec![
                C::A(areas),
                C::U(cats),
                C::U(from),
                C::U(until),
                C::U(start),
                C::U(end),
            ])
        };
        ib(
            "invalid_duty_no_categories",
            "categories 0",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(good_box.clone())], 0, NOW, NOW + 1, 0, 1440),
            ),
            out,
        );
        ib(
            "invalid_duty_unknown_category",
            "categories 0x20: bit 5 is no category",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(good_box.clone())], 0x21, NOW, NOW + 1, 0, 1440),
            ),
            out,
        );
        ib(
            "invalid_duty_until_not_after_from",
            "until = from",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(good_box.clone())], 1, NOW, NOW, 0, 1440),
            ),
            out,
        );
        ib(
            "invalid_duty_day_start_1440",
            "day start 1440 (a day has minutes 0 to 1439)",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(good_box.clone())], 1, NOW, NOW + 1, 1440, 1440),
            ),
            out,
        );
        ib(
            "invalid_duty_empty_hours",
            "day start = day end",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(good_box.clone())], 1, NOW, NOW + 1, 360, 360),
            ),
            out,
        );
        ib(
            "invalid_duty_nine_areas",
            "",
            with(
                &t,
                &[BODY_AT],
                duty(
                    (0..=MAX_DUTY_AREAS)
                        .map(|_| area(good_box.clone()))
                        .collect(),
                    1,
                    NOW,
                    NOW + 1,
                    0,
                    1440,
                ),
            ),
            out,
        );
        let inverted = GeoBox {
            south_e5: zhoushan.north_e5,
            north_e5: zhoushan.south_e5,
            ..zhoushan
        };
        let mut inv = Vec::new();
        for v in [
            inverted.south_e5,
            inverted.west_e5,
            inverted.north_e5,
            inverted.east_e5,
        ] {
            inv.extend(v.to_be_bytes());
        }
        ib(
            "invalid_duty_box_inverted",
            "a box whose south edge is north of its north edge",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(inv)], 1, NOW, NOW + 1, 0, 1440),
            ),
            out,
        );
        let mut beyond = good_box.clone();
        beyond[8..12].copy_from_slice(&9_000_001i32.to_be_bytes());
        ib(
            "invalid_duty_box_beyond_pole",
            "a north edge at 90.00001°",
            with(
                &t,
                &[BODY_AT],
                duty(vec![area(beyond)], 1, NOW, NOW + 1, 0, 1440),
            ),
            out,
        );
        ib(
            "invalid_duty_box_length",
            "a 15-byte box",
            with(
                &t,
                &[BODY_AT],
                duty(
                    vec![area(good_box[..15].to_vec())],
                    1,
                    NOW,
                    NOW + 1,
                    0,
                    1440,
                ),
            ),
            out,
        );
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        *at(&mut t, &[KIND_AT]) = C::U(Kind::Pairing as u64);
        out.invalid(
            "malformed_key_pairing",
            "pairing partner with y = 2, which is not on the curve",
            &with(&t, &[BODY_AT], C::A(vec![C::B(y2.to_vec()), C::Bool(true)])),
            "malformed_key",
        );
    }
}

/// Invalid keys in bodies.
fn invalid_keys(out: &mut Out, base: &Base) {
    let authority = &base.k.authority;
    // Keys in bodies.
    let mut y2 = [0u8; 32];
    y2[0] = 2;
    out.invalid(
        "malformed_key_not_a_point",
        "certificate subject with y = 2, which is not on the curve",
        &base.by_authority(&[BODY_AT, 0], C::B(y2.to_vec())),
        "malformed_key",
    );
    let mut ident = [0u8; 32];
    ident[0] = 1;
    out.invalid(
        "malformed_key_small_order",
        "certificate subject = the identity point (order 1)",
        &base.by_authority(&[BODY_AT, 0], C::B(ident.to_vec())),
        "malformed_key",
    );
    let mut p3 = [0xffu8; 32];
    p3[0] = 0xed + 3;
    p3[31] = 0x7f;
    out.invalid(
        "malformed_key_non_canonical",
        "certificate subject with y = p + 3: y = 3 is a valid key, but an encoding with y >= p \
         is refused (RFC 8032 5.1.3)",
        &base.by_authority(&[BODY_AT, 0], C::B(p3.to_vec())),
        "malformed_key",
    );
    {
        let mut t = base.cert_tree.clone();
        *at(&mut t, &[KIND_AT]) = C::U(Kind::Revocation as u64);
        *at(&mut t, &[BODY_AT]) = C::A(vec![C::B(y2.to_vec()), C::U(1)]);
        out.invalid(
            "malformed_key_revocation",
            "revocation subject with y = 2",
            &sign_bytes(&authority.seed, &enc(&t)),
            "malformed_key",
        );
    }
}

/// Invalid at verification: time, author, signature.
fn invalid_verification(out: &mut Out, base: &Base) {
    let alice = &base.k.alice;
    let bob = &base.k.bob;
    let outsider = &base.k.outsider;
    let position = &base.position;
    let pos_tree = &base.pos_tree;
    // Verification.
    {
        let r = Record::sign(
            &outsider.pair,
            env(
                outsider,
                1,
                NOW,
                60,
                Destination::Everyone,
                Body::Position(fix_zhoushan()),
            ),
        )
        .expect("sign");
        out.invalid(
            "unknown_author",
            "signed by the outsider key, which is not in the ring",
            r.bytes(),
            "unknown_author",
        );
    }
    {
        let mut b = position.bytes().to_vec();
        let n = b.len();
        b[n - 1] ^= 0x01;
        out.invalid(
            "bad_signature_flipped_bit",
            "the position vector with the last bit of s flipped",
            &b,
            "bad_signature",
        );
    }
    {
        let mut t = pos_tree.clone();
        *at(&mut t, &[SEQ_AT]) = C::U(4001);
        let sig = &position.bytes()[position.len() - 64..];
        out.invalid(
            "bad_signature_envelope_changed",
            "the position vector with seq 4001 in place of 4000, same signature",
            &[enc(&t), sig.to_vec()].concat(),
            "bad_signature",
        );
    }
    out.invalid(
        "bad_signature_other_key",
        "alice's hint, signed by bob",
        &sign_bytes(&bob.seed, &position.bytes()[..position.len() - 64]),
        "bad_signature",
    );
    out.invalid(
        "bad_signature_s_not_reduced",
        "the position vector with s replaced by s + l (same value mod l; s must be below l)",
        &unreduced_s(position.bytes()),
        "bad_signature",
    );
    out.invalid(
        "bad_signature_small_order_r",
        "R = the identity point and s = H(R || A || M)·a: satisfies [s]B = R + [k]A, but R of \
         small order is refused",
        &small_order_r_signature(&alice.seed, &position.bytes()[..position.len() - 64]),
        "bad_signature",
    );
    out.invalid(
        "bad_signature_zeros",
        "a signature of 64 zero bytes",
        &[&position.bytes()[..position.len() - 64], &[0u8; 64][..]].concat(),
        "bad_signature",
    );
    let expired_env = env(
        alice,
        4010,
        NOW - 3600,
        60,
        Destination::Everyone,
        Body::Position(fix_zhoushan()),
    );
    let expired = Record::sign(&alice.pair, expired_env).expect("sign");
    out.invalid(
        "expired",
        "created = now - 3600, ttl 60 min: expiry = now, and a record expires at its expiry",
        expired.bytes(),
        "expired",
    );
    {
        let mut b = expired.bytes().to_vec();
        let n = b.len();
        b[n - 1] ^= 0x01;
        out.invalid(
            "expired_before_bad_signature",
            "expired and badly signed: times are checked before the signature",
            &b,
            "expired",
        );
    }
    out.invalid(
        "from_future",
        "created = now + 601",
        Record::sign(
            &alice.pair,
            env(
                alice,
                4011,
                NOW + MAX_FUTURE_SKEW_S + 1,
                60,
                Destination::Everyone,
                Body::Position(fix_zhoushan()),
            ),
        )
        .expect("sign")
        .bytes(),
        "from_future",
    );
    out.invalid(
        "from_future_before_unknown_author",
        "created = now + 601 by the outsider: times are checked before the author is looked up",
        Record::sign(
            &outsider.pair,
            env(
                outsider,
                2,
                NOW + MAX_FUTURE_SKEW_S + 1,
                60,
                Destination::Everyone,
                Body::Position(fix_zhoushan()),
            ),
        )
        .expect("sign")
        .bytes(),
        "from_future",
    );
}
fn main() {
    let k = Keys::new();
    let mut ring = KeyRing::new(64);
    for key in k.ring() {
        ring.insert(key.pair.public());
    }
    let mut out = Out {
        ring,
        valid: Vec::new(),
        invalid: Vec::new(),
    };

    // ----- valid records: every kind, every destination form, the boundaries.
    let (position, distress) = valid_positions_and_distress(&mut out, &k);
    let dispute = valid_cases(&mut out, &k);
    valid_control_and_texts(&mut out, &k, [&position, &distress, &dispute]);
    valid_pairs(&mut out, &k);
    valid_duties_and_destinations(&mut out, &k);
    valid_samples(&mut out, &k);

    // ----- invalid records.
    let base = Base::new(k, position, distress);
    invalid_framing(&mut out, &base);
    invalid_non_canonical(&mut out, &base);
    invalid_malformed(&mut out, &base);
    invalid_version_and_kind(&mut out, &base);
    invalid_envelope_fields(&mut out, &base);
    invalid_fixes(&mut out, &base);
    invalid_distress_and_dispute_bodies(&mut out, &base);
    invalid_certificates(&mut out, &base);
    invalid_pairing_and_buddy(&mut out, &base);
    invalid_duties(&mut out, &base);
    invalid_keys(&mut out, &base);
    invalid_verification(&mut out, &base);

    let (keys, outsider) = (base.k.ring(), &base.k.outsider);
    let doc = json!({
        "description": "haiqiao record test vectors. Build a key ring from `keys` (not \
            `outsider`), then for each `valid` vector decode `hex`, verify it at `now`, and \
            compare with `id` and `envelope`; for each `invalid` vector expect the error \
            `error` at stage `stage` (decode: structure; verify: time, author, signature). \
            Byte strings are lowercase hex; integers may be as large as 2^64-1 (seq). Enum \
            fields hold wire codes. The format is docs/protocol.md.",
        "generator": "cargo run -p haiqiao-proto --example gen_vectors > tests/vectors/records.json",
        "now": NOW,
        "signing_context": String::from_utf8_lossy(SIGNING_CONTEXT),
        "limits": {
            "max_record_len": MAX_RECORD_LEN,
            "max_depth": MAX_DEPTH,
            "max_future_skew_s": MAX_FUTURE_SKEW_S,
            "max_ttl_min": MAX_TTL_MIN,
        },
        "keys": keys.iter().map(|k| k.json()).collect::<Vec<_>>(),
        "outsider": outsider.json(),
        "valid": out.valid,
        "invalid": out.invalid,
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("json");
    let _ = writeln!(s);
    print!("{s}");
}
