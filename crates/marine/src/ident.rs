//! Who a vessel is on a plotter: its MMSI (real, or a pseudo-MMSI) and its name in AIS's
//! upper-case ASCII.
//!
//! ## Pseudo-MMSIs
//!
//! Many small fishing boats have no MMSI, and a certificate may carry none; an AIS target
//! still needs one. haiqiao derives it from the vessel's key, in the block
//! **199 500 000 – 199 999 999** ([`PSEUDO_BASE`], [`PSEUDO_SPAN`]):
//!
//! - Ship station MMSIs start with a MID of 2–7 (ITU-R M.585); `0…` are group and coast
//!   station identities, `111…` SAR aircraft, `8…` handheld VHF, `9…` devices (970 AIS-SART,
//!   972 MOB, 974 EPIRB, 98/99 craft associated with a parent ship and AtoN). A number starting
//!   with `199` is none of them and never appears on a real AIS channel, so it cannot collide
//!   with a real vessel's, nor raise a rescue-device alarm.
//! - OpenCPN itself gives its own non-AIS targets numbers in 199 000 000 – 199 399 999
//!   (GpsGate, ARPA, APRS: `AIS_Decoder.cpp`), so haiqiao keeps clear of those and starts at
//!   199 500 000.
//! - The number is `PSEUDO_BASE + (first 8 bytes of the key, little-endian) mod PSEUDO_SPAN`:
//!   the same on every node and across restarts. Two keys of a node's targets that land on
//!   the same number (about 1 pair in 60 among 8,900 boats) are told apart by
//!   [`assign_pseudo`]: in key order, a later key takes the next free number.
//!
//! ## Names
//!
//! AIS text is 6-bit: `@`, `A`–`Z`, `[\]^_`, space and `!`–`?`. Chinese names are written in
//! pinyin without tones (the `pinyin` crate), upper case, as the registration is romanised:
//! 浙岱渔03315 → `ZHEDAIYU03315`.

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::PublicKey;
use pinyin::ToPinyin;

/// An MMSI (9 digits).
pub type Mmsi = u32;

/// First pseudo-MMSI.
pub const PSEUDO_BASE: Mmsi = 199_500_000;
/// How many pseudo-MMSIs there are.
pub const PSEUDO_SPAN: Mmsi = 500_000;

/// Whether `m` is a pseudo-MMSI of haiqiao's block.
pub fn is_pseudo(m: Mmsi) -> bool {
    (PSEUDO_BASE..PSEUDO_BASE + PSEUDO_SPAN).contains(&m)
}

/// Whether `m` is a ship station's MMSI (9 digits, MID 2xx–7xx).
pub fn is_ship_mmsi(m: Mmsi) -> bool {
    (200_000_000..800_000_000).contains(&m)
}

/// The pseudo-MMSI of a key, before collisions are resolved.
pub fn pseudo_mmsi(key: &PublicKey) -> Mmsi {
    let b = key.as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&b[..8]);
    PSEUDO_BASE + (u64::from_le_bytes(first) % u64::from(PSEUDO_SPAN)) as Mmsi
}

/// Pseudo-MMSIs for a set of keys, none taken by another key or by `taken` (real MMSIs of
/// the same feed): in key order, a key whose number is taken takes the next free one.
pub fn assign_pseudo<'a>(
    keys: impl IntoIterator<Item = &'a PublicKey>,
    taken: &BTreeSet<Mmsi>,
) -> BTreeMap<PublicKey, Mmsi> {
    let keys: BTreeSet<&PublicKey> = keys.into_iter().collect();
    let mut used = taken.clone();
    let mut out = BTreeMap::new();
    for k in keys {
        let mut m = pseudo_mmsi(k);
        while used.contains(&m) {
            m = PSEUDO_BASE + (m - PSEUDO_BASE + 1) % PSEUDO_SPAN;
        }
        used.insert(m);
        out.insert(*k, m);
    }
    out
}

/// A name in AIS's alphabet, at most `max` characters: ASCII upper-cased, Chinese in pinyin,
/// anything else dropped; blanks collapsed. Empty if nothing is left.
pub fn ascii_name(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii() {
            let u = c.to_ascii_uppercase();
            if (' '..='_').contains(&u) && u != '@' {
                if !(u == ' ' && (out.is_empty() || out.ends_with(' '))) {
                    out.push(u);
                }
            } else if c.is_whitespace() && !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else if let Some(p) = c.to_pinyin() {
            out.push_str(&p.plain().to_ascii_uppercase());
        } else if c.is_whitespace() && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    let mut s: String = out.trim_end().chars().take(max).collect();
    while s.ends_with(' ') {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        haiqiao_proto::Keypair::from_seed(&[n; 32]).public()
    }

    #[test]
    fn chinese_names_are_written_in_pinyin() {
        assert_eq!(ascii_name("浙岱渔03315", 20), "ZHEDAIYU03315");
        assert_eq!(ascii_name("沈家门 岸站", 20), "SHENJIAMEN ANZHAN");
        assert_eq!(ascii_name("Hai Feng 7", 20), "HAI FENG 7");
        assert_eq!(ascii_name("a@b~c", 20), "ABC");
        assert_eq!(ascii_name("浙普渔12345浙普渔12345", 20).len(), 20);
    }

    #[test]
    fn pseudo_mmsis_stay_in_their_block_and_never_collide() {
        let keys: Vec<PublicKey> = (0..200).map(key).collect();
        for k in &keys {
            let m = pseudo_mmsi(k);
            assert!(is_pseudo(m) && !is_ship_mmsi(m));
            assert!(!(970_000_000..980_000_000).contains(&m));
        }
        // Force collisions: take every key's own number for other use but one.
        let taken: BTreeSet<Mmsi> = keys[1..].iter().map(pseudo_mmsi).collect();
        let a = assign_pseudo(&keys, &taken);
        let got: BTreeSet<Mmsi> = a.values().copied().collect();
        assert_eq!(got.len(), keys.len());
        assert!(got.is_disjoint(&taken));
        assert_eq!(
            a,
            assign_pseudo(keys.iter().rev(), &taken),
            "order given does not matter"
        );
    }

    proptest! {
        #[test]
        fn names_use_only_the_ais_alphabet(s in "\\PC{0,40}") {
            let n = ascii_name(&s, 20);
            prop_assert!(n.chars().count() <= 20);
            prop_assert!(n.chars().all(|c| (' '..='_').contains(&c) && c != '@'));
        }
    }
}
