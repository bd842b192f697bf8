//! Writes the sync-frame test vectors (`tests/vectors/frames.json`) to stdout:
//!
//! ```text
//! cargo run -p haiqiao-net --example gen_frame_vectors > tests/vectors/frames.json
//! ```
//!
//! Every frame type, each as its CBOR bytes (`frame`), as it travels on `/haiqiao/sync/1`
//! (`wire`: the unsigned-varint length, then the frame) and as its decoded items; the
//! rateless-IBLT element checksums, index mappings and coded symbols of a small known set,
//! and the `Symbols` frame that carries them. docs/sync.md describes every item; the test
//! `vectors_frames_decode_and_encode_identically` (crates/net/tests/net.rs) checks the file.

use haiqiao_mesh::riblt::{self, Encoder, Symbol};
use haiqiao_net::frame;
use haiqiao_proto::wire::{Carried, Frame, Neighbours, TierSummary};
use haiqiao_proto::{Keypair, Kind, Record, RecordId, samples};
use serde_json::{Value, json};

/// Symbols listed for the known set.
const SYMBOLS: usize = 12;
/// Symbol indices searched for each element's mapping.
const MAPPING_SPAN: u64 = 64;

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

fn wire(f: &[u8]) -> Vec<u8> {
    let mut w = Vec::new();
    frame::encode_len(f.len(), &mut w);
    w.extend_from_slice(f);
    w
}

fn short(id: &RecordId) -> u64 {
    haiqiao_mesh::short_id(id)
}

fn short_hex(s: u64) -> String {
    hexs(&s.to_be_bytes()[1..])
}

/// The indices below [`MAPPING_SPAN`] that element `e` maps to: where a one-element encoder's
/// symbols are not zero.
fn mapping(e: u64) -> Vec<u64> {
    let mut enc = Encoder::new([e]);
    let mut out = Vec::new();
    for i in 0..MAPPING_SPAN {
        if enc.next_symbol() != Symbol::default() {
            out.push(i);
        }
    }
    out
}

fn vector(name: &str, f: &Frame, items: Value) -> Value {
    let bytes = f.encode();
    json!({
        "name": name,
        "tag": f.tag(),
        "frame": hexs(&bytes),
        "wire": hexs(&wire(&bytes)),
        "items": items,
    })
}

fn main() {
    let author = Keypair::from_seed(&[0x11; 32]);
    let key = author.public();
    let record = |seq: u64| {
        let env = samples::envelope(Kind::Position, key.hint(), key.hint(), seq, 1_780_000_000);
        Record::sign(&author, env).expect("sample record signs")
    };
    let (r1, r2) = (record(1), record(2));

    // The known set: the short ids of five sample records.
    let set: Vec<u64> = (1..=5).map(|s| short(&record(s).id())).collect();
    let mut enc = Encoder::new(set.iter().copied());
    let symbols: Vec<[u8; riblt::SYMBOL_LEN]> =
        (0..SYMBOLS).map(|_| enc.next_symbol().to_bytes()).collect();
    let symbols_frame = Frame::Symbols {
        tier: 1,
        start: 0,
        symbols: symbols.clone(),
    };

    let digest = |ids: &[u64]| {
        let x = ids.iter().fold(0u64, |a, b| a ^ b);
        hexs(&x.to_be_bytes()[1..7])
    };
    let tiers = [
        TierSummary {
            count: 2,
            digest: <[u8; 6]>::try_from(hex::decode(digest(&set[..2])).unwrap()).unwrap(),
        },
        TierSummary {
            count: 3,
            digest: <[u8; 6]>::try_from(hex::decode(digest(&set[2..])).unwrap()).unwrap(),
        },
    ];
    let neighbours = Neighbours::of(&[key.hint(), Keypair::from_seed(&[0x22; 32]).public().hint()]);
    let hello_items = |linked: Option<Neighbours>, eta: Option<u32>| {
        json!({
            "tier0_count": tiers[0].count, "tier0_digest": hexs(&tiers[0].digest),
            "tier1_count": tiers[1].count, "tier1_digest": hexs(&tiers[1].digest),
            "shore_age_min": 90,
            "linked": linked.map(|n| hexs(&n.0)),
            "eta_shore_min": eta,
        })
    };
    let hello = |linked, eta| Frame::Hello {
        tiers,
        shore_age_min: 90,
        eta_shore_min: eta,
        linked,
    };
    let ids: Vec<[u8; 7]> = set[..3]
        .iter()
        .map(|s| <[u8; 7]>::try_from(&s.to_be_bytes()[1..]).unwrap())
        .collect();
    let ids_hex: Vec<String> = set[..3].iter().map(|s| short_hex(*s)).collect();
    let frames = vec![
        vector("hello", &hello(None, None), hello_items(None, None)),
        vector(
            "hello_linked",
            &hello(Some(neighbours), None),
            hello_items(Some(neighbours), None),
        ),
        vector(
            "hello_eta",
            &hello(None, Some(75)),
            hello_items(None, Some(75)),
        ),
        vector(
            "hello_linked_eta",
            &hello(Some(neighbours), Some(75)),
            hello_items(Some(neighbours), Some(75)),
        ),
        vector(
            "symbols",
            &symbols_frame,
            json!({"tier": 1, "start": 0,
                   "symbols": symbols.iter().map(|s| hexs(s)).collect::<Vec<_>>()}),
        ),
        vector(
            "more",
            &Frame::More { tier: 0, count: 4 },
            json!({"tier": 0, "count": 4}),
        ),
        vector("done", &Frame::Done { tier: 1 }, json!({"tier": 1})),
        vector(
            "want",
            &Frame::Want { ids: ids.clone() },
            json!({ "ids": ids_hex }),
        ),
        vector(
            "records",
            &Frame::Records {
                seq: 2,
                items: vec![
                    Carried {
                        bytes: r1.bytes().to_vec(),
                        copies: 0,
                    },
                    Carried {
                        bytes: r2.bytes().to_vec(),
                        copies: 4,
                    },
                ],
            },
            json!({"seq": 2, "records": [
                {"copies": 0, "bytes": hexs(r1.bytes())},
                {"copies": 4, "bytes": hexs(r2.bytes())},
            ]}),
        ),
        vector(
            "ack",
            &Frame::Ack {
                upto: 2,
                refused: vec![(1, 3), (2, 0)],
            },
            json!({"upto": 2, "refused": [[1, 3], [2, 0]]}),
        ),
        vector(
            "want_keys",
            &Frame::WantKeys {
                hints: vec![key.hint()],
            },
            json!({ "hints": [hexs(&key.hint().0)] }),
        ),
        vector(
            "keys",
            &Frame::Keys { keys: vec![key] },
            json!({ "keys": [hexs(key.as_bytes())] }),
        ),
        vector(
            "offer",
            &Frame::Offer { ids },
            json!({ "ids": set[..3].iter().map(|s| short_hex(*s)).collect::<Vec<_>>() }),
        ),
    ];

    let elements: Vec<Value> = set
        .iter()
        .map(|e| {
            json!({
                "element": short_hex(*e),
                "checksum": format!("{:08x}", riblt::checksum(*e)),
                "indices_below_64": mapping(*e),
            })
        })
        .collect();
    let out = json!({
        "description": "Test vectors of the /haiqiao/sync/1 frames and of the rateless-IBLT \
            symbols (docs/sync.md). `frame` is the frame's canonical CBOR; `wire` is the same \
            behind its unsigned-varint length, as on the stream; `items` are the decoded items \
            (byte strings in hex; short ids 7 bytes, digests 6, hints 8, keys 32, symbols 11). \
            `riblt` gives, for a set of five short ids (the ids of five sample position \
            records), each element's checksum and the symbol indices below 64 it maps to, \
            and the first coded symbols of the set, which the `symbols` frame carries.",
        "generator": "cargo run -p haiqiao-net --example gen_frame_vectors > tests/vectors/frames.json",
        "frames": frames,
        "riblt": {
            "set": set.iter().map(|s| short_hex(*s)).collect::<Vec<_>>(),
            "elements": elements,
            "symbols": symbols.iter().map(|s| hexs(s)).collect::<Vec<_>>(),
        },
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("vectors serialise")
    );
}
