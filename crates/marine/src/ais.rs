//! AIS messages as a chart plotter reads them from NMEA 0183 (`!AIVDM`, IEC 61162-1 and
//! ITU-R M.1371-5): position reports (type 1 class A, type 18 class B), static data (type 5
//! class A, type 24 parts A and B class B), in 6-bit armoured payloads split over sentences.
//!
//! Written here because no maintained Rust crate encodes AIS: the `ais` crate and others
//! decode only. The encoding is checked against an independent decoder (pyais) by the
//! integration tests (`tests/integration/marine.rs`), and against this module's own decoder of
//! the MMSI (used on the AIS input) here.
//!
//! Layouts (bits): type 1 = 168, type 5 = 424, type 18 = 168, type 24A = 160, type 24B = 168.
//! Latitude and longitude are in 1/10,000 minute: a [`Fix`]'s 1e-5 degree times 6, exactly.

use haiqiao_proto::Fix;

use crate::ident::{Mmsi, ascii_name};
use crate::sentence::{Sentence, frame};

/// Payload characters per sentence: keeps every sentence within 82 characters.
pub const MAX_PAYLOAD_CHARS: usize = 60;
/// Ship type "fishing" (ITU-R M.1371 table 53).
pub const SHIP_TYPE_FISHING: u8 = 30;

/// Bits, most significant first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits {
    bits: Vec<bool>,
}

impl Bits {
    /// No bits.
    pub fn new() -> Bits {
        Bits::default()
    }

    /// Appends the low `n` bits of `v`, most significant first.
    pub fn push(&mut self, v: u64, n: u32) -> &mut Self {
        for i in (0..n).rev() {
            self.bits.push((v >> i) & 1 == 1);
        }
        self
    }

    /// Appends a two's-complement signed value in `n` bits.
    pub fn push_signed(&mut self, v: i64, n: u32) -> &mut Self {
        let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        self.push((v as u64) & mask, n)
    }

    /// Appends text in AIS's 6-bit alphabet, padded with `@` (0) to `chars` characters.
    pub fn push_text(&mut self, s: &str, chars: usize) -> &mut Self {
        let mut n = 0;
        for c in s.chars().take(chars) {
            let u = c.to_ascii_uppercase() as u32;
            let v = match u {
                64..=95 => u - 64,
                32..=63 => u,
                _ => 32,
            };
            self.push(u64::from(v), 6);
            n += 1;
        }
        for _ in n..chars {
            self.push(0, 6);
        }
        self
    }

    /// How many bits.
    pub fn len(&self) -> usize {
        self.bits.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// The 6-bit armoured payload and its fill bits.
    pub fn armour(&self) -> (String, u8) {
        let fill = (6 - self.bits.len() % 6) % 6;
        let mut s = String::with_capacity(self.bits.len().div_ceil(6));
        for chunk in self.bits.chunks(6) {
            let mut v = 0u8;
            for i in 0..6 {
                v = (v << 1) | u8::from(chunk.get(i).copied().unwrap_or(false));
            }
            s.push(armour_char(v));
        }
        (s, fill as u8)
    }
}

/// One 6-bit value as its payload character (value + 48, + 8 more above 39).
pub fn armour_char(v: u8) -> char {
    let v = v & 0x3f;
    char::from(if v < 40 { v + 48 } else { v + 56 })
}

/// A payload character's 6-bit value.
pub fn dearmour_char(c: u8) -> Option<u8> {
    match c {
        48..=87 => Some(c - 48),
        96..=119 => Some(c - 56),
        _ => None,
    }
}

/// The sentences carrying one message. `seq` (0–9) tells the parts of a multi-sentence
/// message apart from another's; `channel` is `A` or `B`.
pub fn vdm(bits: &Bits, seq: u8, channel: char) -> Vec<String> {
    let (payload, fill) = bits.armour();
    let parts: Vec<&str> = payload
        .as_bytes()
        .chunks(MAX_PAYLOAD_CHARS)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    let count = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == count;
            let seq_field = if count > 1 {
                (seq % 10).to_string()
            } else {
                String::new()
            };
            frame(
                '!',
                &format!(
                    "AIVDM,{count},{},{seq_field},{channel},{p},{}",
                    i + 1,
                    if last { fill } else { 0 }
                ),
            )
        })
        .collect()
}

/// The MMSI of the message in a `!--VDM`/`!--VDO` sentence (first part of a message only).
pub fn mmsi_of_vdm(s: &Sentence<'_>) -> Option<Mmsi> {
    let f: Vec<&str> = s.fields().collect();
    if f.len() < 6 || f[1] != "1" {
        return None;
    }
    let payload = f[4].as_bytes();
    if payload.len() < 7 {
        return None;
    }
    let mut v: u64 = 0;
    for c in &payload[..7] {
        v = (v << 6) | u64::from(dearmour_char(*c)?);
    }
    // 42 bits read: type 6, repeat 2, MMSI 30, 4 more.
    Some(((v >> 4) & 0x3fff_ffff) as Mmsi)
}

/// What a position report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionReport {
    /// The vessel.
    pub mmsi: Mmsi,
    /// Its fix.
    pub fix: Fix,
    /// UTC second of the fix (0–59), if known.
    pub utc_second: Option<u8>,
}

fn sog_field(f: &Fix) -> u64 {
    f.sog_dkn.map_or(1023, |s| u64::from(s.min(1022)))
}

fn cog_field(f: &Fix) -> u64 {
    f.cog_ddeg.map_or(3600, |c| u64::from(c % 3600))
}

fn heading_field(f: &Fix) -> u64 {
    f.heading_deg.map_or(511, |h| u64::from(h % 360))
}

fn second_field(s: Option<u8>) -> u64 {
    s.filter(|s| *s < 60).map_or(60, u64::from)
}

/// Type 1: class A position report.
pub fn type1(r: &PositionReport) -> Bits {
    let mut b = Bits::new();
    b.push(1, 6)
        .push(0, 2)
        .push(u64::from(r.mmsi), 30)
        .push(u64::from(r.fix.nav_status.0 & 0x0f), 4)
        .push(0x80, 8) // rate of turn: not available
        .push(sog_field(&r.fix), 10)
        .push(0, 1)
        .push_signed(i64::from(r.fix.lon_e5) * 6, 28)
        .push_signed(i64::from(r.fix.lat_e5) * 6, 27)
        .push(cog_field(&r.fix), 12)
        .push(heading_field(&r.fix), 9)
        .push(second_field(r.utc_second), 6)
        .push(0, 2) // manoeuvre: not available
        .push(0, 3)
        .push(0, 1) // RAIM
        .push(0, 19); // radio status
    b
}

/// Type 18: class B position report.
pub fn type18(r: &PositionReport) -> Bits {
    let mut b = Bits::new();
    b.push(18, 6)
        .push(0, 2)
        .push(u64::from(r.mmsi), 30)
        .push(0, 8)
        .push(sog_field(&r.fix), 10)
        .push(0, 1)
        .push_signed(i64::from(r.fix.lon_e5) * 6, 28)
        .push_signed(i64::from(r.fix.lat_e5) * 6, 27)
        .push(cog_field(&r.fix), 12)
        .push(heading_field(&r.fix), 9)
        .push(second_field(r.utc_second), 6)
        .push(0, 2)
        .push(1, 1) // CS unit
        .push(0, 1)
        .push(0, 1)
        .push(1, 1) // whole band
        .push(0, 1)
        .push(0, 1)
        .push(0, 1)
        .push(0, 20);
    b
}

/// What static data says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticData {
    /// The vessel.
    pub mmsi: Mmsi,
    /// Name, any script (written in AIS's alphabet here), 20 characters at most on air.
    pub name: String,
    /// Call sign (7 characters at most), possibly empty.
    pub callsign: String,
    /// Ship type (30: fishing).
    pub ship_type: u8,
    /// Destination, possibly empty.
    pub destination: String,
}

/// Type 5: class A static and voyage data (424 bits, two sentences).
pub fn type5(s: &StaticData) -> Bits {
    let mut b = Bits::new();
    b.push(5, 6)
        .push(0, 2)
        .push(u64::from(s.mmsi), 30)
        .push(0, 2) // AIS version
        .push(0, 30) // IMO number: none
        .push_text(&ascii_name(&s.callsign, 7), 7)
        .push_text(&ascii_name(&s.name, 20), 20)
        .push(u64::from(s.ship_type), 8)
        .push(0, 9)
        .push(0, 9)
        .push(0, 6)
        .push(0, 6)
        .push(1, 4) // EPFD: GPS
        .push(0, 4) // ETA month: n/a
        .push(0, 5)
        .push(24, 5)
        .push(60, 6)
        .push(0, 8)
        .push_text(&ascii_name(&s.destination, 20), 20)
        .push(1, 1) // DTE not ready
        .push(0, 1);
    b
}

/// Type 24 part A: class B name.
pub fn type24a(s: &StaticData) -> Bits {
    let mut b = Bits::new();
    b.push(24, 6)
        .push(0, 2)
        .push(u64::from(s.mmsi), 30)
        .push(0, 2)
        .push_text(&ascii_name(&s.name, 20), 20);
    b
}

/// Type 24 part B: class B ship type and call sign.
pub fn type24b(s: &StaticData) -> Bits {
    let mut b = Bits::new();
    b.push(24, 6)
        .push(0, 2)
        .push(u64::from(s.mmsi), 30)
        .push(1, 2)
        .push(u64::from(s.ship_type), 8)
        .push_text("HQ", 3) // vendor id
        .push(0, 4)
        .push(0, 20)
        .push_text(&ascii_name(&s.callsign, 7), 7)
        .push(0, 9)
        .push(0, 9)
        .push(0, 6)
        .push(0, 6)
        .push(0, 6);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_proto::NavStatus;
    use proptest::prelude::*;

    fn report() -> PositionReport {
        let mut fix = Fix::from_degrees(29.95, 122.30);
        fix.sog_dkn = Some(65);
        fix.cog_ddeg = Some(1205);
        fix.heading_deg = Some(121);
        fix.nav_status = NavStatus::FISHING;
        PositionReport {
            mmsi: 412_345_678,
            fix,
            utc_second: Some(30),
        }
    }

    #[test]
    fn layouts_have_their_lengths() {
        let r = report();
        assert_eq!(type1(&r).len(), 168);
        assert_eq!(type18(&r).len(), 168);
        let s = StaticData {
            mmsi: r.mmsi,
            name: "浙岱渔03315".into(),
            callsign: String::new(),
            ship_type: SHIP_TYPE_FISHING,
            destination: String::new(),
        };
        assert_eq!(type5(&s).len(), 424);
        assert_eq!(type24a(&s).len(), 160);
        assert_eq!(type24b(&s).len(), 168);
    }

    #[test]
    fn a_known_type1_encodes_as_published() {
        // gpsd's AIVDM guide, message 1: MMSI 371798000, under way, SOG 12.3, lon -123.39538,
        // lat 48.38163, COG 224.0, heading 215, second 33:
        // !AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A
        let fix = Fix {
            lat_e5: 4_838_163,
            lon_e5: -12_339_538,
            sog_dkn: Some(123),
            cog_ddeg: Some(2240),
            heading_deg: Some(215),
            nav_status: NavStatus::UNDER_WAY,
            fix_age_s: None,
        };
        let r = PositionReport {
            mmsi: 371_798_000,
            fix,
            utc_second: Some(33),
        };
        let (p, fill) = type1(&r).armour();
        assert_eq!(fill, 0);
        // The first 18 characters cover the fields up to the second (the rest is radio state,
        // which the published sentence has and a haiqiao target leaves 0).
        assert_eq!(&p[..2], "15");
        assert_eq!(&p[2..7], "RTgt0");
    }

    #[test]
    fn sentences_fit_and_multi_part_messages_carry_a_sequence() {
        let s = StaticData {
            mmsi: 199_512_345,
            name: "沈家门渔01234".into(),
            callsign: "BZHQ1".into(),
            ship_type: SHIP_TYPE_FISHING,
            destination: "SHENJIAMEN".into(),
        };
        let lines = vdm(&type5(&s), 3, 'A');
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("!AIVDM,2,1,3,A,"));
        assert!(lines[1].starts_with("!AIVDM,2,2,3,A,"));
        assert!(lines[1].ends_with(",2*") || lines[1].contains(",2*"));
        for l in &lines {
            assert!(l.len() <= 82, "{l}");
            Sentence::parse(l).unwrap();
        }
        let one = vdm(&type1(&report()), 3, 'B');
        assert_eq!(one.len(), 1);
        assert!(one[0].starts_with("!AIVDM,1,1,,B,"));
    }

    proptest! {
        #[test]
        fn the_mmsi_reads_back(mmsi in 0u32..1_000_000_000, lat in -9_000_000i32..9_000_000, lon in -18_000_000i32..18_000_000) {
            let mut r = report();
            r.mmsi = mmsi;
            r.fix.lat_e5 = lat;
            r.fix.lon_e5 = lon;
            for bits in [type1(&r), type18(&r)] {
                let l = vdm(&bits, 0, 'A');
                let s = Sentence::parse(&l[0]).unwrap();
                prop_assert_eq!(mmsi_of_vdm(&s), Some(mmsi));
            }
        }

        #[test]
        fn armouring_round_trips(v in 0u8..64) {
            prop_assert_eq!(dearmour_char(armour_char(v) as u8), Some(v));
        }
    }
}
