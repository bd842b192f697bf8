//! Distress from the mesh, as a chart plotter's alarm: a DSC distress alert
//! (`$CDDSC` + `$CDDSE`, NMEA 0183 / ITU-R M.493) and an alarm sentence (`$IIALR`).
//!
//! These go only to the local plotter feed (TCP 10110), never to a radio: the plotter shows
//! the alert, its position and nature as if the boat's DSC VHF had received it (OpenCPN reads
//! `$CDDSC`/`$CDDSE` into a target with an alarm, `AIS_Decoder.cpp`).
//!
//! `$CDDSC,12,<MMSI>0,12,<nature>,00,<quadrant><ddmm><dddmm>,<hhmm>,,,S,E*hh`
//! - format 12 (distress), the address is the MMSI times ten, category 12 (distress);
//! - nature: the ITU code less its leading 1 (`01` flooding, `07` undesignated, ...);
//! - subsequent communications `00` (F3E/G3E all modes telephony);
//! - position: quadrant (0 NE, 1 NW, 2 SE, 3 SW), whole degrees and minutes; unknown is
//!   `9999999999`; time of the position UTC `hhmm`, unknown `8888`;
//! - `S`: end of sequence; `E`: an expansion sentence follows.
//!
//! `$CDDSE,1,1,A,<MMSI>0,00,<lat><lon>*hh` gives the position's minutes to 1/10,000
//! (expansion data set 00, enhanced position resolution: four digits for latitude, four for
//! longitude).
//!
//! `$IIALR,<hhmmss.00>,<id>,<A|V>,<A|V>,<text>*hh`: alarm `id` (3 digits) active (`A`) or
//! not (`V`), acknowledged (`A`) or not (`V`), a short text in ASCII.

use haiqiao_proto::Fix;

use crate::ident::{Mmsi, ascii_name};
use crate::sentence::frame;

/// A distress to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistressAlert {
    /// The vessel in distress (real or pseudo-MMSI).
    pub mmsi: Mmsi,
    /// Nature, ITU code without the leading 1 (0–12).
    pub nature: u8,
    /// Where, if known.
    pub fix: Option<Fix>,
    /// When the position was taken, seconds since the epoch, if known.
    pub at_s: Option<u64>,
}

fn dm(e5: i32) -> (u32, u32, u32) {
    // 1e-5 degree -> whole degrees, whole minutes, 1/10,000 minute.
    let tenk_min = (u64::from(e5.unsigned_abs()) * 6) as u32; // 1/10,000 minute
    let deg = tenk_min / 600_000;
    let rest = tenk_min % 600_000;
    (deg, rest / 10_000, rest % 10_000)
}

/// The `$CDDSC` and `$CDDSE` sentences of an alert.
pub fn distress_sentences(a: &DistressAlert) -> Vec<String> {
    let addr = format!("{:09}0", a.mmsi);
    let (pos, ext) = match &a.fix {
        Some(f) => {
            let quadrant = match (f.lat_e5 >= 0, f.lon_e5 >= 0) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            };
            let (ld, lm, lf) = dm(f.lat_e5);
            let (od, om, of) = dm(f.lon_e5);
            (
                format!("{quadrant}{ld:02}{lm:02}{od:03}{om:02}"),
                Some(format!("{lf:04}{of:04}")),
            )
        }
        None => ("9999999999".to_owned(), None),
    };
    let time = a.at_s.map_or("8888".to_owned(), |t| {
        let s = t % 86_400;
        format!("{:02}{:02}", s / 3600, (s % 3600) / 60)
    });
    let nature = a.nature.min(12);
    let expansion = if ext.is_some() { "E" } else { "" };
    let mut out = vec![frame(
        '$',
        &format!("CDDSC,12,{addr},12,{nature:02},00,{pos},{time},,,S,{expansion}"),
    )];
    if let Some(e) = ext {
        out.push(frame('$', &format!("CDDSE,1,1,A,{addr},00,{e}")));
    }
    out
}

/// An alarm for `$IIALR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Alarm number (0–999).
    pub id: u16,
    /// Whether it is active.
    pub active: bool,
    /// Whether someone acknowledged it.
    pub acknowledged: bool,
    /// What it is about (written in ASCII here; cut to fit the sentence).
    pub text: String,
    /// Now, seconds since the epoch.
    pub now_s: u64,
}

/// The `$IIALR` sentence of an alarm.
pub fn alr(a: &Alarm) -> String {
    let s = a.now_s % 86_400;
    let t = format!("{:02}{:02}{:02}.00", s / 3600, (s % 3600) / 60, s % 60);
    let head = format!(
        "IIALR,{t},{:03},{},{},",
        a.id % 1000,
        if a.active { 'A' } else { 'V' },
        if a.acknowledged { 'A' } else { 'V' }
    );
    // 82 = start + body + "*hh\r\n": the text takes what is left. Commas and '*' are
    // reserved in NMEA: none in the text.
    let room = 82 - 1 - 5 - head.len();
    let text: String = ascii_name(&a.text, room)
        .chars()
        .map(|c| {
            if matches!(c, ',' | '*' | '!' | '$' | '\\' | '^') {
                ' '
            } else {
                c
            }
        })
        .collect();
    frame('$', &format!("{head}{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentence::Sentence;
    use proptest::prelude::*;

    #[test]
    fn a_distress_off_shenjiamen() {
        // 29.95 N 122.30 E = 29 57.0000 N, 122 18.0000 E.
        let a = DistressAlert {
            mmsi: 412_345_678,
            nature: 1,
            fix: Some(Fix::from_degrees(29.95, 122.3)),
            at_s: Some(1_764_374_400 + 2 * 3600 + 5 * 60), // 02:05 UTC
        };
        let l = distress_sentences(&a);
        assert_eq!(l.len(), 2);
        let dsc = Sentence::parse(&l[0]).unwrap();
        assert_eq!(
            dsc.body,
            "CDDSC,12,4123456780,12,01,00,0295712218,0205,,,S,E"
        );
        let dse = Sentence::parse(&l[1]).unwrap();
        assert_eq!(dse.body, "CDDSE,1,1,A,4123456780,00,00000000");
    }

    #[test]
    fn southern_western_and_unknown_positions() {
        let mut f = Fix::from_degrees(-33.5, -70.25125);
        f.sog_dkn = None;
        let a = DistressAlert {
            mmsi: 199_500_001,
            nature: 7,
            fix: Some(f),
            at_s: None,
        };
        let l = distress_sentences(&a);
        let b = Sentence::parse(&l[0]).unwrap().body;
        assert!(b.contains(",3333007015,8888,"), "{b}");
        // 0.25125 deg = 15.075 min.
        assert!(Sentence::parse(&l[1]).unwrap().body.ends_with(",00000750"));
        let none = DistressAlert { fix: None, ..a };
        let l = distress_sentences(&none);
        assert_eq!(l.len(), 1);
        assert!(l[0].contains(",9999999999,8888,,,S,*"));
    }

    #[test]
    fn alarms_fit_in_a_sentence() {
        let a = Alarm {
            id: 1234,
            active: true,
            acknowledged: false,
            text: "DISTRESS 浙岱渔03315 flooding, 5 persons, taking water fast near Zhujiajian*"
                .into(),
            now_s: 3600 + 61,
        };
        let l = alr(&a);
        assert!(l.len() <= 82, "{l}");
        let s = Sentence::parse(&l).unwrap();
        assert!(
            s.body
                .starts_with("IIALR,010101.00,234,A,V,DISTRESS ZHEDAIYU03315 FLOODING")
        );
        assert_eq!(s.fields().count(), 5);
    }

    proptest! {
        #[test]
        fn dsc_positions_round_trip(lat in -8_999_999i32..8_999_999, lon in -17_999_999i32..17_999_999) {
            let fix = Fix { lat_e5: lat, lon_e5: lon, ..Fix::from_degrees(0.0, 0.0) };
            let l = distress_sentences(&DistressAlert { mmsi: 412_000_001, nature: 0, fix: Some(fix), at_s: Some(0) });
            let pos: &str = Sentence::parse(&l[0]).unwrap().body.split(',').nth(6).unwrap();
            let ext: &str = Sentence::parse(&l[1]).unwrap().body.split(',').nth(6).unwrap();
            let q: u32 = pos[..1].parse().unwrap();
            let la = pos[1..3].parse::<f64>().unwrap() + (pos[3..5].parse::<f64>().unwrap() + ext[..4].parse::<f64>().unwrap() / 1e4) / 60.0;
            let lo = pos[5..8].parse::<f64>().unwrap() + (pos[8..10].parse::<f64>().unwrap() + ext[4..].parse::<f64>().unwrap() / 1e4) / 60.0;
            let la = if q >= 2 { -la } else { la };
            let lo = if q % 2 == 1 { -lo } else { lo };
            prop_assert!((la - f64::from(lat) / 1e5).abs() < 1e-6);
            prop_assert!((lo - f64::from(lon) / 1e5).abs() < 1e-6);
        }
    }
}
