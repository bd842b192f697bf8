//! Writes the sealed-record test vectors (`tests/vectors/sealed.json`) to stdout:
//!
//! ```text
//! cargo run -p haiqiao-proto --example gen_sealed_vectors > tests/vectors/sealed.json
//! ```
//!
//! Deterministic: fixed seeds, fixed entropy per vector, a fixed "now". Every vector is checked
//! against this implementation as it is written; `crates/proto/tests/sealed.rs` checks the
//! committed file again, and opens every valid vector a second time with an implementation of
//! docs/protocol.md written from the primitives alone.

use std::fmt::Write as _;

use ed25519_dalek::Signer as _;
use haiqiao_proto::record::SIGNING_CONTEXT;
use haiqiao_proto::seal::{self, SealEntropy, SealError};
use haiqiao_proto::*;
use serde_json::{Value as J, json};

/// The verifier's clock for every vector: 2026-11-18T11:06:40Z (as in records.json).
const NOW: u64 = 1_795_000_000;

struct Key {
    name: &'static str,
    seed: [u8; 32],
    pair: Keypair,
}

impl Key {
    fn new(name: &'static str, byte: u8) -> Key {
        let seed = [byte; 32];
        Key {
            name,
            seed,
            pair: Keypair::from_seed(&seed),
        }
    }
    fn json(&self) -> J {
        let p = self.pair.public();
        json!({
            "name": self.name,
            "seed": hex::encode(self.seed),
            "public": hex::encode(p.as_bytes()),
            "hint": hex::encode(p.hint().as_bytes()),
            "x25519_public": hex::encode(p.x25519_public()),
            "x25519_secret": hex::encode(self.pair.x25519_secret()),
        })
    }
}

fn sign_bytes(seed: &[u8; 32], envelope: &[u8]) -> Vec<u8> {
    let sk = ed25519_dalek::SigningKey::from_bytes(seed);
    let sig = sk.sign(&[SIGNING_CONTEXT, envelope].concat()).to_bytes();
    [envelope, &sig[..]].concat()
}

fn entropy(tag: u8) -> [u8; 48] {
    let mut b = [0u8; 48];
    for (i, x) in b.iter_mut().enumerate() {
        *x = tag.wrapping_mul(31).wrapping_add(i as u8);
    }
    b
}

struct Gen<'a> {
    ring: KeyRing,
    keys: &'a [Key],
    valid: Vec<J>,
    invalid: Vec<J>,
}

impl Gen<'_> {
    fn key(&self, name: &str) -> &Key {
        self.keys.iter().find(|k| k.name == name).expect("key")
    }

    fn valid(
        &mut self,
        name: &str,
        note: &str,
        author: &str,
        readers: &[&str],
        tag: u8,
        env: Envelope,
    ) -> Record {
        let a = self.key(author);
        let pubs: Vec<PublicKey> = readers.iter().map(|r| self.key(r).pair.public()).collect();
        let ent = entropy(tag);
        let r = seal::seal(&a.pair, &env, &pubs, &SealEntropy::from_bytes(&ent)).expect("seal");
        let u = Unverified::decode(r.bytes()).expect("decode");
        let v = u.verify(&self.ring, NOW).expect("verify");
        let Body::Sealed(s) = v.body() else {
            panic!("not sealed")
        };
        for rd in readers {
            let opened = seal::open(&v, &self.key(rd).pair).expect("open");
            assert_eq!(opened, env, "{name}: {rd}");
        }
        let plain = seal::plaintext(&env.body).expect("plaintext");
        let env_len = r.len() - 64;
        let plain_record = Record::sign(&a.pair, env.clone()).expect("plain");
        self.valid.push(json!({
            "name": name,
            "note": note,
            "author": author,
            "readers": readers,
            "entropy": { "ephemeral_secret": hex::encode(&ent[..32]), "content_key": hex::encode(&ent[32..]) },
            "inner_kind": env.kind().name(),
            "inner_kind_code": env.kind() as u8,
            "priority": env.priority().name(),
            "priority_code": env.priority() as u8,
            "plaintext": hex::encode(&plain),
            "ephemeral_public": hex::encode(s.ephemeral),
            "stanza_hints": s.stanzas.iter().map(|st| hex::encode(st.hint)).collect::<Vec<_>>(),
            "aad_len": env_len - s.ciphertext.len(),
            "ciphertext": hex::encode(&s.ciphertext),
            "hex": hex::encode(r.bytes()),
            "len": r.len(),
            "id": hex::encode(r.id().as_bytes()),
            "unsealed_len": plain_record.len(),
            "unsealed_hex": hex::encode(plain_record.bytes()),
        }));
        r
    }

    /// An invalid record: `stage` decode or verify (structure, signature) or open (as
    /// `reader`), and the error code expected there.
    fn invalid(&mut self, name: &str, note: &str, bytes: &[u8], reader: Option<&str>, code: &str) {
        let (stage, got) = match Unverified::decode(bytes) {
            Err(e) => ("decode", e.code().to_owned()),
            Ok(u) => match u.verify(&self.ring, NOW) {
                Err(e) => ("verify", e.code().to_owned()),
                Ok(r) => {
                    let k = self.key(reader.expect("reader")).pair.clone();
                    match seal::open(&r, &k) {
                        Err(e) => ("open", e.code().to_owned()),
                        Ok(_) => ("open", "ok".to_owned()),
                    }
                }
            },
        };
        assert_eq!(got, code, "{name}");
        self.invalid.push(json!({
            "name": name,
            "note": note,
            "hex": hex::encode(bytes),
            "reader": reader,
            "stage": stage,
            "error": code,
        }));
    }
}

fn env(author: &Key, seq: u64, ttl_min: u32, dest: Destination, body: Body) -> Envelope {
    Envelope {
        author: author.pair.public().hint(),
        seq,
        created: Timestamp(NOW as u32 - 60),
        ttl_min,
        dest,
        body,
    }
}

/// Where in `bytes` the run `needle` starts (once).
fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle")
}

/// The valid vectors: texts, pair alerts and case records sealed to their readers; returns
/// the first text, which the invalid ones are made from.
fn valid_vectors(g: &mut Gen<'_>, keys: &[Key]) -> Record {
    let a = &keys[0];
    let b = &keys[1];
    let fix = Fix::from_degrees(30.1, 122.9);
    let text = g.valid(
        "text_to_node",
        "A text from boat_a to boat_b, readable by both (the author is a reader of its own records)",
        "boat_a",
        &["boat_a", "boat_b"],
        1,
        env(a, 7, 24 * 60, Destination::Node(b.pair.public().hint()), Body::Text {
            text: "今晚回沈家门 back to Shenjiamen tonight".to_owned(),
            safety: false,
        }),
    );
    g.valid(
        "text_one_reader",
        "A safety text sealed to one reader only (boat_b): the smallest sealed record",
        "boat_a",
        &["boat_b"],
        2,
        env(
            a,
            8,
            24 * 60,
            Destination::Node(b.pair.public().hint()),
            Body::Text {
                text: "雾大 fog".to_owned(),
                safety: true,
            },
        ),
    );
    g.valid(
        "pair_alert",
        "A pair alert to the pair boat_a + boat_b",
        "boat_a",
        &["boat_a", "boat_b"],
        3,
        env(
            a,
            9,
            6 * 60,
            Destination::pair(a.pair.public().hint(), b.pair.public().hint()),
            Body::PairAlert {
                alert: PairAlertKind::GearFouled,
                fix: Some(fix),
                text: "网缠住了，请减速".to_owned(),
            },
        ),
    );
    let report = g.valid(
        "dispute_report",
        "A dispute report to the mediators of area 31, readable by the reporter, the named party, the on-duty mediator and the shore station",
        "boat_a",
        &["boat_a", "boat_b", "mediator", "shore"],
        4,
        env(a, 10, 30 * 24 * 60, Destination::Mediators(AreaId(31)), Body::DisputeReport {
            category: DisputeCategory::GearDamage,
            parties: vec![Party {
                key: Some(b.pair.public().hint()),
                name: "浙岱渔03315".to_owned(),
            }],
            fix: Some(fix),
            description: "拖网被割断约200米 trawl net cut, about 200 m".to_owned(),
            evidence: vec![[0xe7; 32]],
        }),
    );
    g.valid(
        "case_update_eight_readers",
        "A case update from the mediator to eight readers",
        "mediator",
        &[
            "mediator", "boat_a", "boat_b", "shore", "boat_c", "boat_d", "boat_e", "boat_f",
        ],
        5,
        env(
            &keys[2],
            1,
            30 * 24 * 60,
            Destination::Mediators(AreaId(31)),
            Body::CaseUpdate {
                case: report.id(),
                status: CaseStatus::Accepted,
                text: "海上老娘舅 accepted, will call both skippers".to_owned(),
            },
        ),
    );
    text
}

/// The invalid vectors, made from the first text (readers boat_a, boat_b) by `a`.
fn invalid_vectors(g: &mut Gen<'_>, a: &Key, text: &Record) {
    let tb = text.bytes().to_vec();
    let env_len = tb.len() - 64;
    let Body::Sealed(s) = text.body() else {
        panic!()
    };
    g.invalid(
        "wrong_recipient",
        "The text to boat_b, opened by a key that is not among its readers",
        &tb,
        Some("outsider"),
        "not_recipient",
    );
    let mut ct = tb[..env_len].to_vec();
    ct[env_len - 1] ^= 0x01;
    g.invalid(
        "tampered_ciphertext",
        "The text's last ciphertext byte flipped, signed again by its author: the signature verifies, the content does not authenticate",
        &sign_bytes(&a.seed, &ct),
        Some("boat_b"),
        "tampered_ciphertext",
    );
    let mut md = tb[..env_len].to_vec();
    // seq is 7 (one byte, 0x07) right after the author hint's 8 bytes.
    let at = find(&md, a.pair.public().hint().as_bytes()) + 8;
    assert_eq!(md[at], 0x07);
    md[at] = 0x08;
    g.invalid(
        "tampered_metadata",
        "The text's sequence number changed from 7 to 8, signed again by its author: the envelope is the content's associated data, so the content does not authenticate",
        &sign_bytes(&a.seed, &md),
        Some("boat_b"),
        "tampered_ciphertext",
    );
    let mut st = tb[..env_len].to_vec();
    let b_stanza = find(&st, &s.stanzas[1].wrapped);
    st[b_stanza + 3] ^= 0x80;
    g.invalid(
        "tampered_stanza",
        "boat_b's wrapped key altered, signed again: boat_b finds its stanza by the hint, and it does not authenticate",
        &sign_bytes(&a.seed, &st),
        Some("boat_b"),
        "tampered_stanza",
    );
    // Truncated stanza: the stanzas' byte string is 72 bytes (0x58 0x48); cut its last byte.
    let mut tr = tb[..env_len].to_vec();
    let start = find(&tr, &s.stanzas[0].hint);
    assert_eq!(&tr[start - 2..start], &[0x58, 0x48]);
    tr[start - 1] = 0x47;
    tr.remove(start + 71);
    g.invalid(
        "truncated_stanza",
        "The stanzas' byte string is 71 bytes, not a multiple of 36",
        &sign_bytes(&a.seed, &tr),
        None,
        "invalid_field",
    );
    // Inner kind position (0) where the sealed body's first item is 10 (text).
    let mut ik = tb[..env_len].to_vec();
    let body_at = start - 2 - 34 - 3; // 0x85, kind, priority, then the ephemeral head 0x58 0x20
    assert_eq!(&ik[body_at..body_at + 3], &[0x85, 0x0a, 0x04]);
    ik[body_at + 1] = 0x00;
    g.invalid(
        "not_sealable_kind",
        "A sealed body whose inner kind is a position (public by rule)",
        &sign_bytes(&a.seed, &ik),
        None,
        "invalid_field",
    );
    let mut pr = tb[..env_len].to_vec();
    pr[body_at + 2] = 0x00;
    g.invalid(
        "wrong_priority",
        "A sealed text declaring distress priority",
        &sign_bytes(&a.seed, &pr),
        None,
        "invalid_field",
    );
    let mut forged = tb.clone();
    forged[env_len - 2] ^= 0x01;
    g.invalid(
        "ciphertext_changed_by_a_relay",
        "A relay changed a ciphertext byte and kept the signature: every node refuses it",
        &forged,
        None,
        "bad_signature",
    );
    let _ = SealError::NotSealed;
}

fn main() {
    let keys = [
        Key::new("boat_a", 0xa1),
        Key::new("boat_b", 0xb2),
        Key::new("mediator", 0xc3),
        Key::new("shore", 0xd4),
        Key::new("boat_c", 0xe5),
        Key::new("boat_d", 0xe6),
        Key::new("boat_e", 0xe7),
        Key::new("boat_f", 0xe8),
        Key::new("outsider", 0xf9),
    ];
    let mut ring = KeyRing::new(64);
    for k in &keys {
        ring.insert(k.pair.public());
    }
    let mut g = Gen {
        ring,
        keys: &keys,
        valid: Vec::new(),
        invalid: Vec::new(),
    };
    let text = valid_vectors(&mut g, &keys);
    invalid_vectors(&mut g, &keys[0], &text);

    let doc = json!({
        "description": "haiqiao sealed-record vectors (docs/protocol.md, 'Sealed records'). Build a key ring from `keys`; each `valid` vector decodes and verifies at `now` like any record (records.json), and every name in `readers` opens it to `plaintext` (the inner body's canonical CBOR); `unsealed_hex` is the same envelope signed unsealed, for the size comparison. Each `invalid` vector fails at `stage` (decode, verify, or open by `reader`) with `error`.",
        "generator": "cargo run -p haiqiao-proto --example gen_sealed_vectors > tests/vectors/sealed.json",
        "now": NOW,
        "stanza_info": String::from_utf8_lossy(seal::STANZA_INFO),
        "payload_info": String::from_utf8_lossy(seal::PAYLOAD_INFO),
        "keys": keys.iter().map(Key::json).collect::<Vec<_>>(),
        "valid": g.valid,
        "invalid": g.invalid,
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("json");
    let _ = writeln!(out);
    print!("{out}");
}
