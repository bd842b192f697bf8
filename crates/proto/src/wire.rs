//! Sync-protocol frames and their CBOR encoding (the second of proto's two codec modules; the
//! only other module that names `serde_cbor` is `codec`, for records).
//!
//! A frame is one canonical CBOR array whose first item is the frame tag. Frames travel on the
//! `/haiqiao/sync/1` stream, each behind an unsigned-varint length (added by haiqiao-net).
//! See docs/protocol.md, "Sync frames", and haiqiao-mesh's `sync` module for the exchange.

use serde_cbor::Value;

use crate::codec::scan;
use crate::error::RecordError;
use crate::identity::{KEY_HINT_LEN, KeyHint, PUBLIC_KEY_LEN, PublicKey};

/// Largest frame accepted, in bytes.
pub const MAX_FRAME_LEN: usize = 16 * 1024;
/// Bytes of a set digest in a hello.
pub const DIGEST_LEN: usize = 6;
/// Bytes of a short id (the first bytes of a record id): 56 bits, so that two of 100,000
/// records share one with probability below 1e-7.
pub const SHORT_ID_LEN: usize = 7;
/// Bytes of one coded symbol: a short id's width of XOR and a 32-bit checksum.
pub const SYMBOL_LEN: usize = 11;
/// Number of reconciliation tiers (urgent; everything else).
pub const TIERS: usize = 2;

/// What one side holds in one tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TierSummary {
    /// Number of records.
    pub count: u32,
    /// XOR of the first [`DIGEST_LEN`] bytes of their ids.
    pub digest: [u8; DIGEST_LEN],
}

/// One record as carried, with the copies handed over with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carried {
    /// The record's exact bytes.
    pub bytes: Vec<u8>,
    /// Forwarding copies handed to the receiver (0 = delivery only, no further forwarding).
    pub copies: u8,
}

/// A set of key hints in 64 bits (a Bloom filter, two bits per hint taken from the hint
/// itself: hints are SHA-256 prefixes). Eight neighbours: about 5 % false positives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbours(pub [u8; NEIGHBOURS_LEN]);

/// Bytes of a [`Neighbours`] filter.
pub const NEIGHBOURS_LEN: usize = 8;

impl Neighbours {
    fn bits(h: &KeyHint) -> [usize; 2] {
        [usize::from(h.0[0]) % 64, usize::from(h.0[1]) % 64]
    }

    /// The filter of some hints.
    pub fn of<'a>(hints: impl IntoIterator<Item = &'a KeyHint>) -> Neighbours {
        let mut n = Neighbours::default();
        for h in hints {
            for b in Self::bits(h) {
                n.0[b / 8] |= 1 << (b % 8);
            }
        }
        n
    }

    /// Whether `h` may be in the set (never false for a hint that is).
    pub fn may_contain(&self, h: &KeyHint) -> bool {
        Self::bits(h)
            .iter()
            .all(|b| self.0[b / 8] & (1 << (b % 8)) != 0)
    }
}

/// A sync-protocol frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Sent by both sides when a contact comes up.
    Hello {
        /// Per tier: count and digest.
        tiers: [TierSummary; TIERS],
        /// Minutes since this node was last in contact with a shore station (0 = is one).
        shore_age_min: u32,
        /// Minutes until this node expects to reach shore (a vessel steaming home: its
        /// estimated time of arrival); none when it does not say.
        eta_shore_min: Option<u32>,
        /// The nodes this node is linked to as it says hello, as a 64-bit Bloom filter of
        /// their key hints; none when it has no other link (or too many for the filter to
        /// say anything). A record for one of them can go through this node.
        linked: Option<Neighbours>,
    },
    /// Coded symbols of the sender's set in a tier, starting at index `start`.
    Symbols {
        /// Tier.
        tier: u8,
        /// Index of the first symbol.
        start: u32,
        /// The symbols.
        symbols: Vec<[u8; SYMBOL_LEN]>,
    },
    /// The decoder asks for `count` more symbols.
    More {
        /// Tier.
        tier: u8,
        /// How many.
        count: u32,
    },
    /// The decoder knows the difference in this tier: stop sending symbols.
    Done {
        /// Tier.
        tier: u8,
    },
    /// Records the sender lacks, by short id.
    Want {
        /// Short ids.
        ids: Vec<[u8; SHORT_ID_LEN]>,
    },
    /// Records, numbered so that one ack covers a whole frame.
    Records {
        /// Frame sequence number (per contact, from 0).
        seq: u32,
        /// The records.
        items: Vec<Carried>,
    },
    /// Custody: every record of frames up to `upto` is durable at the sender of the ack,
    /// except the ones listed as refused (frame seq, index in frame).
    Ack {
        /// Highest frame sequence number acknowledged.
        upto: u32,
        /// Records not taken (refused or invalid), as (frame seq, index).
        refused: Vec<(u32, u16)>,
    },
    /// The sender cannot verify records by these authors: please send their keys.
    WantKeys {
        /// Hints of unknown authors.
        hints: Vec<KeyHint>,
    },
    /// Public keys, answering a [`Frame::WantKeys`].
    Keys {
        /// Keys.
        keys: Vec<PublicKey>,
    },
    /// Records the sender would hand over (routing chose this peer), by short id; the
    /// receiver answers with a [`Frame::Want`] for those it lacks.
    Offer {
        /// Short ids.
        ids: Vec<[u8; SHORT_ID_LEN]>,
    },
}

fn uint(n: u64) -> Value {
    Value::Integer(i128::from(n))
}

fn concat<const N: usize>(items: &[[u8; N]]) -> Value {
    Value::Bytes(items.iter().flatten().copied().collect())
}

impl Frame {
    /// The frame's tag on the wire.
    pub fn tag(&self) -> u8 {
        match self {
            Frame::Hello { .. } => 0,
            Frame::Symbols { .. } => 1,
            Frame::More { .. } => 2,
            Frame::Done { .. } => 3,
            Frame::Want { .. } => 4,
            Frame::Records { .. } => 5,
            Frame::Ack { .. } => 6,
            Frame::WantKeys { .. } => 7,
            Frame::Keys { .. } => 8,
            Frame::Offer { .. } => 9,
        }
    }

    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut items = vec![uint(u64::from(self.tag()))];
        match self {
            Frame::Hello {
                tiers,
                shore_age_min,
                eta_shore_min,
                linked,
            } => {
                for t in tiers {
                    items.push(uint(u64::from(t.count)));
                    items.push(Value::Bytes(t.digest.to_vec()));
                }
                items.push(uint(u64::from(*shore_age_min)));
                // Optional trailing items: the filter (null when only the ETA follows), then
                // the ETA; absent ones at the end are left out. The filter comes first because
                // it is the commoner: any node with other links and not too many.
                match (linked, eta_shore_min) {
                    (None, None) => {}
                    (Some(n), None) => items.push(Value::Bytes(n.0.to_vec())),
                    (n, Some(eta)) => {
                        items.push(n.map_or(Value::Null, |n| Value::Bytes(n.0.to_vec())));
                        items.push(uint(u64::from(*eta)));
                    }
                }
            }
            Frame::Symbols {
                tier,
                start,
                symbols,
            } => {
                items.push(uint(u64::from(*tier)));
                items.push(uint(u64::from(*start)));
                items.push(concat(symbols));
            }
            Frame::More { tier, count } => {
                items.push(uint(u64::from(*tier)));
                items.push(uint(u64::from(*count)));
            }
            Frame::Done { tier } => items.push(uint(u64::from(*tier))),
            Frame::Want { ids } | Frame::Offer { ids } => items.push(concat(ids)),
            Frame::Records { seq, items: recs } => {
                items.push(uint(u64::from(*seq)));
                // A record with no forwarding copies is just its bytes; otherwise the count of
                // copies comes first.
                for c in recs {
                    if c.copies > 0 {
                        items.push(uint(u64::from(c.copies)));
                    }
                    items.push(Value::Bytes(c.bytes.clone()));
                }
            }
            Frame::Ack { upto, refused } => {
                items.push(uint(u64::from(*upto)));
                for (s, i) in refused {
                    items.push(uint(u64::from(*s)));
                    items.push(uint(u64::from(*i)));
                }
            }
            Frame::WantKeys { hints } => {
                items.push(Value::Bytes(hints.iter().flat_map(|h| h.0).collect()));
            }
            Frame::Keys { keys } => {
                items.push(Value::Bytes(
                    keys.iter().flat_map(|k| k.to_bytes()).collect(),
                ));
            }
        }
        // Encoding a value tree of integers and byte strings cannot fail.
        serde_cbor::to_vec(&Value::Array(items)).unwrap_or_default()
    }

    /// Decodes a frame strictly (canonical CBOR, exact shapes, no trailing bytes).
    pub fn decode(bytes: &[u8]) -> Result<Frame, RecordError> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let end = scan(bytes)?;
        if end != bytes.len() {
            return Err(RecordError::TrailingBytes(bytes.len() - end));
        }
        let v: Value = serde_cbor::from_slice(bytes)
            .map_err(|_| RecordError::Malformed("invalid cbor in frame"))?;
        let Value::Array(items) = v else {
            return Err(RecordError::Malformed("frame is not an array"));
        };
        let mut it = items.into_iter();
        let tag = get_uint(it.next(), u64::from(u8::MAX))?;
        let rest: Vec<Value> = it.collect();
        let bad = |reason| RecordError::InvalidField {
            field: "frame",
            reason,
        };
        let frame = match (tag, rest.len()) {
            (0, 5..=7) => {
                let mut r = rest.into_iter();
                let mut tiers = [TierSummary::default(); TIERS];
                for t in &mut tiers {
                    t.count = get_uint(r.next(), u64::from(u32::MAX))? as u32;
                    t.digest = get_array::<DIGEST_LEN>(r.next())?;
                }
                let shore_age_min = get_uint(r.next(), u64::from(u32::MAX))? as u32;
                let linked = match r.next() {
                    None | Some(Value::Null) => None,
                    v => Some(Neighbours(get_array::<NEIGHBOURS_LEN>(v)?)),
                };
                let eta_shore_min = match r.next() {
                    None => None,
                    v => Some(get_uint(v, u64::from(u32::MAX))? as u32),
                };
                Frame::Hello {
                    tiers,
                    shore_age_min,
                    eta_shore_min,
                    linked,
                }
            }
            (1, 3) => {
                let mut r = rest.into_iter();
                let tier = get_tier(r.next())?;
                let start = get_uint(r.next(), u64::from(u32::MAX))? as u32;
                let symbols = get_chunks::<SYMBOL_LEN>(r.next())?;
                Frame::Symbols {
                    tier,
                    start,
                    symbols,
                }
            }
            (2, 2) => {
                let mut r = rest.into_iter();
                let tier = get_tier(r.next())?;
                let count = get_uint(r.next(), u64::from(u32::MAX))? as u32;
                Frame::More { tier, count }
            }
            (3, 1) => Frame::Done {
                tier: get_tier(rest.into_iter().next())?,
            },
            (4, 1) => Frame::Want {
                ids: get_chunks::<SHORT_ID_LEN>(rest.into_iter().next())?,
            },
            (5, n) if n >= 1 => {
                let mut r = rest.into_iter();
                let seq = get_uint(r.next(), u64::from(u32::MAX))? as u32;
                let mut items = Vec::with_capacity(n - 1);
                while let Some(v) = r.next() {
                    let (copies, b) = match v {
                        Value::Integer(k) if (1..=255).contains(&k) => (k as u8, r.next()),
                        other => (0, Some(other)),
                    };
                    let Some(Value::Bytes(bytes)) = b else {
                        return Err(bad("record is not a byte string"));
                    };
                    items.push(Carried { bytes, copies });
                }
                Frame::Records { seq, items }
            }
            (6, n) if n % 2 == 1 => {
                let mut r = rest.into_iter();
                let upto = get_uint(r.next(), u64::from(u32::MAX))? as u32;
                let mut refused = Vec::with_capacity(n / 2);
                while let Some(s) = r.next() {
                    let s = get_uint(Some(s), u64::from(u32::MAX))? as u32;
                    let i = get_uint(r.next(), u64::from(u16::MAX))? as u16;
                    refused.push((s, i));
                }
                Frame::Ack { upto, refused }
            }
            (7, 1) => Frame::WantKeys {
                hints: get_chunks::<KEY_HINT_LEN>(rest.into_iter().next())?
                    .into_iter()
                    .map(KeyHint)
                    .collect(),
            },
            (8, 1) => Frame::Keys {
                keys: get_chunks::<PUBLIC_KEY_LEN>(rest.into_iter().next())?
                    .iter()
                    .map(|k| PublicKey::from_bytes(k))
                    .collect::<Result<_, _>>()?,
            },
            (9, 1) => Frame::Offer {
                ids: get_chunks::<SHORT_ID_LEN>(rest.into_iter().next())?,
            },
            (0..=9, _) => return Err(bad("wrong number of items")),
            _ => return Err(bad("unknown frame tag")),
        };
        Ok(frame)
    }
}

fn get_uint(v: Option<Value>, max: u64) -> Result<u64, RecordError> {
    match v {
        Some(Value::Integer(i)) if i >= 0 && i <= i128::from(max) => Ok(i as u64),
        _ => Err(RecordError::InvalidField {
            field: "frame",
            reason: "expected an unsigned integer in range",
        }),
    }
}

fn get_tier(v: Option<Value>) -> Result<u8, RecordError> {
    Ok(get_uint(v, (TIERS - 1) as u64)? as u8)
}

fn get_array<const N: usize>(v: Option<Value>) -> Result<[u8; N], RecordError> {
    match v {
        Some(Value::Bytes(b)) => b.try_into().map_err(|_| RecordError::InvalidField {
            field: "frame",
            reason: "wrong byte length",
        }),
        _ => Err(RecordError::InvalidField {
            field: "frame",
            reason: "expected a byte string",
        }),
    }
}

fn get_chunks<const N: usize>(v: Option<Value>) -> Result<Vec<[u8; N]>, RecordError> {
    match v {
        Some(Value::Bytes(b)) if b.len() % N == 0 => Ok(b
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                a
            })
            .collect()),
        _ => Err(RecordError::InvalidField {
            field: "frame",
            reason: "expected a byte string of whole items",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        let k = crate::Keypair::from_seed(&[3; 32]).public();
        vec![
            Frame::Hello {
                tiers: [
                    TierSummary {
                        count: 3,
                        digest: [1; DIGEST_LEN],
                    },
                    TierSummary {
                        count: 100_000,
                        digest: [2; DIGEST_LEN],
                    },
                ],
                shore_age_min: 90,
                eta_shore_min: None,
                linked: None,
            },
            Frame::Hello {
                tiers: [TierSummary::default(); TIERS],
                shore_age_min: 400,
                eta_shore_min: Some(75),
                linked: None,
            },
            Frame::Hello {
                tiers: [TierSummary::default(); TIERS],
                shore_age_min: 400,
                eta_shore_min: None,
                linked: Some(Neighbours([1, 2, 3, 4, 5, 6, 7, 8])),
            },
            Frame::Hello {
                tiers: [TierSummary::default(); TIERS],
                shore_age_min: 400,
                eta_shore_min: Some(75),
                linked: Some(Neighbours([0xff; NEIGHBOURS_LEN])),
            },
            Frame::Symbols {
                tier: 1,
                start: 17,
                symbols: vec![[7; SYMBOL_LEN], [8; SYMBOL_LEN]],
            },
            Frame::More { tier: 0, count: 4 },
            Frame::Done { tier: 1 },
            Frame::Want {
                ids: vec![[9; SHORT_ID_LEN]],
            },
            Frame::Records {
                seq: 2,
                items: vec![Carried {
                    bytes: vec![1, 2, 3],
                    copies: 4,
                }],
            },
            Frame::Ack {
                upto: 2,
                refused: vec![(1, 3)],
            },
            Frame::WantKeys {
                hints: vec![k.hint()],
            },
            Frame::Keys { keys: vec![k] },
            Frame::Offer {
                ids: vec![[5; SHORT_ID_LEN], [6; SHORT_ID_LEN]],
            },
        ]
    }

    #[test]
    fn frames_round_trip() {
        for f in all_frames() {
            let b = f.encode();
            assert_eq!(Frame::decode(&b).unwrap(), f, "{f:?}");
        }
    }

    #[test]
    fn a_hello_without_an_eta_is_the_five_item_hello() {
        // Tag + two tiers (count, digest) + shore age: an array of 6; the ETA makes it 7.
        assert_eq!(all_frames()[0].encode()[0], 0x86);
        // The ETA alone follows a null in the filter's place.
        assert_eq!(all_frames()[1].encode()[0], 0x88);
        assert_eq!(all_frames()[2].encode()[0], 0x87);
        assert_eq!(all_frames()[3].encode()[0], 0x88);
    }

    #[test]
    fn the_neighbour_filter_holds_what_was_put_in_and_little_else() {
        let hints: Vec<KeyHint> = (0..8u8)
            .map(|i| crate::Keypair::from_seed(&[i; 32]).public().hint())
            .collect();
        let n = Neighbours::of(&hints);
        assert!(hints.iter().all(|h| n.may_contain(h)));
        let strangers = (100..=255u8)
            .map(|i| crate::Keypair::from_seed(&[i; 32]).public().hint())
            .filter(|h| n.may_contain(h))
            .count();
        // Eight in 64 bits, two bits each: about 5 % of 156 strangers.
        assert!(strangers <= 20, "{strangers} false positives");
        assert!(!Neighbours::default().may_contain(&hints[0]));
    }

    #[test]
    fn hellos_in_sync_fit_the_budget() {
        // Two hellos (one each way) must stay within 64 bytes for a typical store.
        let b = all_frames()[0].encode();
        assert!(2 * b.len() <= 64, "hello is {} bytes", b.len());
        // The neighbour filter costs 9 bytes a hello (docs/sync.md).
        let Frame::Hello {
            tiers,
            shore_age_min,
            ..
        } = all_frames()[0].clone()
        else {
            unreachable!()
        };
        let with = Frame::Hello {
            tiers,
            shore_age_min,
            eta_shore_min: None,
            linked: Some(Neighbours([0x5a; NEIGHBOURS_LEN])),
        };
        assert_eq!(with.encode().len(), b.len() + 9);
    }

    #[test]
    fn bad_frames_are_refused() {
        let good = all_frames()[5].encode();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Frame::decode(&trailing).unwrap_err().code(),
            "trailing_bytes"
        );
        assert_eq!(
            Frame::decode(&[0x81, 0x18, 0x63]).unwrap_err().code(),
            "invalid_field"
        );
        assert_eq!(
            Frame::decode(&[0x82, 0x03, 0x05]).unwrap_err().code(),
            "invalid_field"
        );
        assert!(Frame::decode(&[]).is_err());
        assert!(Frame::decode(&[0xff]).is_err());
    }
}
