//! The boat's own fix, from whatever the GPS speaks: NMEA 0183 sentences, gpsd's JSON or a
//! Signal K server's deltas. [`GpsState`] keeps the newest fix and counts what it was given.
//!
//! NMEA sentences are checked (framing, checksum; [`crate::sentence`]) and then parsed with
//! the `nmea` crate (RMC, GGA, GLL, VTG, HDT; any talker: GP, GN, BD and GB for BeiDou, GL,
//! GA). HDG (magnetic heading with deviation and variation) is parsed here: `nmea` 0.8 has no
//! HDG. Other sentences (GSA, GSV, ...) are counted as ignored; `!AIVDM`/`!AIVDO` lines from an
//! AIS receiver on the same input give the MMSIs heard (so that the plotter feed does not
//! show a vessel twice).
//!
//! Call order: feed lines with `handle_*` as they arrive (each with the time it arrived), then
//! read [`GpsState::fix`] (none when the receiver says it has no fix or the newest fix is older
//! than `stale_ms`) and [`GpsState::status`].

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::sentence::{Sentence, SentenceError};

/// Why an input line was not used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GpsError {
    /// Framing or checksum.
    #[error("{0}")]
    Sentence(#[from] SentenceError),
    /// A sentence we read that did not parse.
    #[error("bad {kind} sentence: {why}")]
    Parse {
        /// The sentence type.
        kind: String,
        /// What the parser said.
        why: String,
    },
    /// gpsd or Signal K JSON that does not parse.
    #[error("bad JSON: {0}")]
    Json(String),
}

/// The boat's own fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OwnFix {
    /// Degrees north.
    pub lat: f64,
    /// Degrees east.
    pub lon: f64,
    /// Speed over ground, knots.
    pub sog_kn: Option<f64>,
    /// Course over ground, degrees true, [0, 360).
    pub cog_deg: Option<f64>,
    /// Heading, degrees true, [0, 360).
    pub heading_deg: Option<f64>,
    /// When the position arrived (ms since the epoch).
    pub at_ms: u64,
}

/// What one input line gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The position moved on.
    Fix,
    /// Motion or heading only (no new position).
    Motion,
    /// The receiver says it has no fix.
    NoFix,
    /// An AIS message from this MMSI (a vessel with its own transponder).
    Ais(u32),
    /// A sentence we do not use (counted).
    Ignored,
}

/// Counters and the fix's state, for status screens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GpsStatus {
    /// Whether there is a usable fix now.
    pub has_fix: bool,
    /// Milliseconds since the newest fix, if any.
    pub fix_age_ms: Option<u64>,
    /// Lines used.
    pub good: u64,
    /// Lines refused (framing, checksum, parse); each was ignored.
    pub bad: u64,
    /// Sentences of a type we do not use.
    pub ignored: u64,
    /// Satellites used, if the receiver told.
    pub satellites: Option<u32>,
    /// The talker of the newest sentence that gave a position (GP, GN, BD, ...).
    pub talker: Option<[u8; 2]>,
}

/// The newest fix and what was counted on the way.
#[derive(Debug, Clone)]
pub struct GpsState {
    stale_ms: u64,
    fix: Option<OwnFix>,
    /// When the receiver last said it had no fix, after the newest fix.
    lost_at: Option<u64>,
    good: u64,
    bad: u64,
    ignored: u64,
    satellites: Option<u32>,
    talker: Option<[u8; 2]>,
    variation: Option<f64>,
}

/// 1 knot in m/s.
pub const KNOT_MS: f64 = 1852.0 / 3600.0;

fn norm_deg(d: f64) -> f64 {
    let r = d.rem_euclid(360.0);
    if r >= 360.0 { 0.0 } else { r }
}

/// An `f32` from the parser as the decimal it was written as (7.2, not 7.199999809).
fn f32_f64(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl GpsState {
    /// A state whose fix counts for `stale_ms` after it arrived.
    pub fn new(stale_ms: u64) -> GpsState {
        GpsState {
            stale_ms: stale_ms.max(1),
            fix: None,
            lost_at: None,
            good: 0,
            bad: 0,
            ignored: 0,
            satellites: None,
            talker: None,
            variation: None,
        }
    }

    /// The fix, if there is one now.
    pub fn fix(&self, now_ms: u64) -> Option<OwnFix> {
        let f = self.fix?;
        if self.lost_at.is_some() || now_ms.saturating_sub(f.at_ms) > self.stale_ms {
            return None;
        }
        Some(f)
    }

    /// Counters and whether there is a fix now.
    pub fn status(&self, now_ms: u64) -> GpsStatus {
        GpsStatus {
            has_fix: self.fix(now_ms).is_some(),
            fix_age_ms: self.fix.map(|f| now_ms.saturating_sub(f.at_ms)),
            good: self.good,
            bad: self.bad,
            ignored: self.ignored,
            satellites: self.satellites,
            talker: self.talker,
        }
    }

    fn set_position(&mut self, now_ms: u64, lat: f64, lon: f64) -> Result<Heard, String> {
        if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
            return Err(format!("position out of range: {lat}, {lon}"));
        }
        // Motion and heading carry over only while they are fresh themselves.
        let prev = self
            .fix
            .filter(|f| now_ms.saturating_sub(f.at_ms) <= self.stale_ms);
        self.fix = Some(OwnFix {
            lat,
            lon,
            sog_kn: prev.and_then(|f| f.sog_kn),
            cog_deg: prev.and_then(|f| f.cog_deg),
            heading_deg: prev.and_then(|f| f.heading_deg),
            at_ms: now_ms,
        });
        self.lost_at = None;
        Ok(Heard::Fix)
    }

    fn set_motion(&mut self, sog_kn: Option<f64>, cog_deg: Option<f64>) {
        if let Some(f) = &mut self.fix {
            if let Some(s) = sog_kn.and_then(finite).filter(|s| *s >= 0.0) {
                f.sog_kn = Some(s);
            }
            if let Some(c) = cog_deg.and_then(finite) {
                f.cog_deg = Some(norm_deg(c));
            }
        }
    }

    fn set_heading(&mut self, h: f64) {
        if let (Some(f), Some(h)) = (&mut self.fix, finite(h)) {
            f.heading_deg = Some(norm_deg(h));
        }
    }

    fn lost(&mut self, now_ms: u64) -> Heard {
        self.lost_at = Some(now_ms);
        Heard::NoFix
    }

    fn count<T>(&mut self, r: Result<T, GpsError>) -> Result<T, GpsError> {
        match &r {
            Ok(_) => self.good += 1,
            Err(_) => self.bad += 1,
        }
        r
    }

    /// One NMEA 0183 line (CR LF optional).
    pub fn handle_nmea(&mut self, now_ms: u64, line: &str) -> Result<Heard, GpsError> {
        let s = match Sentence::parse(line) {
            Ok(s) => s,
            Err(e) => {
                self.bad += 1;
                return Err(e.into());
            }
        };
        let kind = s.kind();
        if s.start == '!' {
            if kind == "VDM" {
                return match crate::ais::mmsi_of_vdm(&s) {
                    Some(m) => {
                        self.good += 1;
                        Ok(Heard::Ais(m))
                    }
                    None => {
                        self.ignored += 1;
                        Ok(Heard::Ignored)
                    }
                };
            }
            self.ignored += 1;
            return Ok(Heard::Ignored);
        }
        let r = match kind {
            "RMC" | "GGA" | "GLL" | "VTG" | "HDT" => self.parsed(now_ms, line.trim(), kind),
            "HDG" => self.hdg(&s),
            _ => {
                self.ignored += 1;
                return Ok(Heard::Ignored);
            }
        };
        let r = self.count(r);
        // The receiver's talker (GP, GN, BD, ...): from sentences with a position, not from a
        // compass's HDT or HDG.
        if r == Ok(Heard::Fix) {
            let t = s.talker().as_bytes();
            if t.len() == 2 {
                self.talker = Some([t[0], t[1]]);
            }
        }
        r
    }

    fn parsed(&mut self, now_ms: u64, line: &str, kind: &str) -> Result<Heard, GpsError> {
        let bad = |why: String| GpsError::Parse {
            kind: kind.to_owned(),
            why,
        };
        let parsed = nmea::parse_str(line).map_err(|e| bad(format!("{e:?}")))?;
        match parsed {
            nmea::ParseResult::RMC(r) => {
                if r.status_of_fix == nmea::sentences::rmc::RmcStatusOfFix::Invalid {
                    return Ok(self.lost(now_ms));
                }
                if let Some(v) = r.magnetic_variation {
                    self.variation = Some(f32_f64(v));
                }
                let (Some(lat), Some(lon)) = (r.lat, r.lon) else {
                    return Ok(self.lost(now_ms));
                };
                let h = self.set_position(now_ms, lat, lon).map_err(bad)?;
                self.set_motion(r.speed_over_ground.map(f32_f64), r.true_course.map(f32_f64));
                Ok(h)
            }
            nmea::ParseResult::GGA(g) => {
                if let Some(n) = g.fix_satellites {
                    self.satellites = Some(n);
                }
                match (g.fix_type, g.latitude, g.longitude) {
                    (Some(t), Some(lat), Some(lon)) if t.is_valid() => {
                        self.set_position(now_ms, lat, lon).map_err(bad)
                    }
                    _ => Ok(self.lost(now_ms)),
                }
            }
            nmea::ParseResult::GLL(g) => match (g.valid, g.latitude, g.longitude) {
                (true, Some(lat), Some(lon)) => self.set_position(now_ms, lat, lon).map_err(bad),
                _ => Ok(self.lost(now_ms)),
            },
            nmea::ParseResult::VTG(v) => {
                self.set_motion(v.speed_over_ground.map(f32_f64), v.true_course.map(f32_f64));
                Ok(Heard::Motion)
            }
            nmea::ParseResult::HDT(h) => {
                if let Some(h) = h.heading {
                    self.set_heading(f32_f64(h));
                }
                Ok(Heard::Motion)
            }
            _ => Ok(Heard::Ignored),
        }
    }

    /// `$--HDG,<heading magnetic>,<deviation>,<E|W>,<variation>,<E|W>`: true heading is the
    /// magnetic heading plus deviation plus variation (east positive). Without a variation (from
    /// HDG or an RMC), no true heading can be told and the sentence is used for nothing.
    fn hdg(&mut self, s: &Sentence<'_>) -> Result<Heard, GpsError> {
        let f: Vec<&str> = s.fields().collect();
        let bad = |why: &str| GpsError::Parse {
            kind: "HDG".into(),
            why: why.into(),
        };
        let signed = |v: &str, d: &str| -> Result<Option<f64>, GpsError> {
            if v.is_empty() {
                return Ok(None);
            }
            let x: f64 = v.parse().map_err(|_| bad("a number is not one"))?;
            match d {
                "E" => Ok(Some(x)),
                "W" => Ok(Some(-x)),
                _ => Err(bad("a direction is not E or W")),
            }
        };
        if f.len() < 5 {
            return Err(bad("fewer than 5 fields"));
        }
        let Some(mag) = (!f[0].is_empty())
            .then(|| f[0].parse::<f64>())
            .transpose()
            .map_err(|_| bad("heading is not a number"))?
        else {
            return Ok(Heard::Motion);
        };
        let dev = signed(f[1], f[2])?.unwrap_or(0.0);
        if let Some(v) = signed(f[3], f[4])? {
            self.variation = Some(v);
        }
        if let Some(var) = self.variation {
            self.set_heading(mag + dev + var);
        }
        Ok(Heard::Motion)
    }

    /// One line of gpsd's JSON (`?WATCH={"enable":true,"json":true}`): `TPV` with `mode` 2 or
    /// 3 gives a fix (lat and lon in degrees, `speed` in m/s, `track` in degrees true); mode 0
    /// or 1 says there is none; `SKY` gives the satellites used. Other classes are ignored.
    pub fn handle_gpsd(&mut self, now_ms: u64, line: &str) -> Result<Heard, GpsError> {
        let r = self.gpsd(now_ms, line);
        if matches!(r, Ok(Heard::Ignored)) {
            self.ignored += 1;
            return r;
        }
        self.count(r)
    }

    fn gpsd(&mut self, now_ms: u64, line: &str) -> Result<Heard, GpsError> {
        let v: Value = serde_json::from_str(line).map_err(|e| GpsError::Json(e.to_string()))?;
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        match v.get("class").and_then(Value::as_str) {
            Some("TPV") => {
                let mode = v.get("mode").and_then(Value::as_u64).unwrap_or(0);
                match (mode, num("lat"), num("lon")) {
                    (2 | 3, Some(lat), Some(lon)) => {
                        let h = self
                            .set_position(now_ms, lat, lon)
                            .map_err(GpsError::Json)?;
                        self.set_motion(num("speed").map(|s| s / KNOT_MS), num("track"));
                        Ok(h)
                    }
                    _ => Ok(self.lost(now_ms)),
                }
            }
            Some("SKY") => {
                if let Some(u) = v.get("uSat").and_then(Value::as_u64) {
                    self.satellites = Some(u as u32);
                } else if let Some(sats) = v.get("satellites").and_then(Value::as_array) {
                    let used = sats
                        .iter()
                        .filter(|s| s.get("used").and_then(Value::as_bool) == Some(true))
                        .count();
                    self.satellites = Some(used as u32);
                }
                Ok(Heard::Motion)
            }
            Some(_) => Ok(Heard::Ignored),
            None => Err(GpsError::Json("no class".into())),
        }
    }

    /// One Signal K delta from a server's stream (subscribed to `self`):
    /// `navigation.position` (degrees), `navigation.speedOverGround` (m/s),
    /// `navigation.courseOverGroundTrue` and `navigation.headingTrue` (radians). The hello and
    /// deltas without those paths are ignored.
    pub fn handle_signalk(&mut self, now_ms: u64, line: &str) -> Result<Heard, GpsError> {
        let r = self.signalk(now_ms, line);
        if matches!(r, Ok(Heard::Ignored)) {
            self.ignored += 1;
            return r;
        }
        self.count(r)
    }

    fn signalk(&mut self, now_ms: u64, line: &str) -> Result<Heard, GpsError> {
        let v: Value = serde_json::from_str(line).map_err(|e| GpsError::Json(e.to_string()))?;
        let Some(updates) = v.get("updates").and_then(Value::as_array) else {
            return Ok(Heard::Ignored);
        };
        let mut heard = Heard::Ignored;
        let (mut sog, mut cog, mut hdg) = (None, None, None);
        for u in updates {
            for val in u
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let path = val.get("path").and_then(Value::as_str).unwrap_or("");
                let value = val.get("value").unwrap_or(&Value::Null);
                match path {
                    "navigation.position" => {
                        let lat = value.get("latitude").and_then(Value::as_f64);
                        let lon = value.get("longitude").and_then(Value::as_f64);
                        match (lat, lon) {
                            (Some(lat), Some(lon)) => {
                                heard = self
                                    .set_position(now_ms, lat, lon)
                                    .map_err(GpsError::Json)?;
                            }
                            _ if value.is_null() => heard = self.lost(now_ms),
                            _ => {
                                return Err(GpsError::Json(
                                    "navigation.position without latitude and longitude".into(),
                                ));
                            }
                        }
                    }
                    "navigation.speedOverGround" => sog = value.as_f64().map(|s| s / KNOT_MS),
                    "navigation.courseOverGroundTrue" => cog = value.as_f64().map(f64::to_degrees),
                    "navigation.headingTrue" => hdg = value.as_f64().map(f64::to_degrees),
                    _ => {}
                }
            }
        }
        if sog.is_some() || cog.is_some() || hdg.is_some() {
            self.set_motion(sog, cog);
            if let Some(h) = hdg {
                self.set_heading(h);
            }
            if heard == Heard::Ignored {
                heard = Heard::Motion;
            }
        }
        Ok(heard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentence::frame;
    use proptest::prelude::*;

    const T: u64 = 1_764_000_000_000;

    fn rmc(talker: &str, lat: &str, lon: &str, sog: &str, cog: &str) -> String {
        frame(
            '$',
            &format!("{talker}RMC,020000.00,A,{lat},N,{lon},E,{sog},{cog},291126,,,A"),
        )
    }

    #[test]
    fn rmc_from_any_talker_gives_the_fix_with_motion() {
        for talker in ["GP", "GN", "BD", "GB", "GL"] {
            let mut g = GpsState::new(10_000);
            let h = g
                .handle_nmea(T, &rmc(talker, "2957.0000", "12218.0000", "6.5", "95.0"))
                .unwrap();
            assert_eq!(h, Heard::Fix);
            let f = g.fix(T).unwrap();
            assert!((f.lat - (29.0 + 57.0 / 60.0)).abs() < 1e-9, "{talker}");
            assert!((f.lon - (122.0 + 18.0 / 60.0)).abs() < 1e-9);
            assert_eq!(f.sog_kn, Some(6.5));
            assert_eq!(f.cog_deg, Some(95.0));
            assert_eq!(
                g.status(T).talker,
                Some([talker.as_bytes()[0], talker.as_bytes()[1]])
            );
        }
    }

    #[test]
    fn a_fix_goes_stale_and_a_void_rmc_says_no_fix() {
        let mut g = GpsState::new(5_000);
        g.handle_nmea(T, &rmc("GN", "2957.0000", "12218.0000", "0.0", ""))
            .unwrap();
        assert!(g.fix(T + 5_000).is_some());
        assert!(g.fix(T + 5_001).is_none());
        assert!(!g.status(T + 5_001).has_fix);
        let void = frame('$', "GNRMC,020001.00,V,,,,,,,291126,,,N");
        assert_eq!(g.handle_nmea(T + 1, &void).unwrap(), Heard::NoFix);
        assert!(g.fix(T + 1).is_none());
        // A good fix again ends the outage.
        g.handle_nmea(T + 2, &rmc("GN", "2957.0000", "12218.0000", "0.0", ""))
            .unwrap();
        assert!(g.fix(T + 2).is_some());
    }

    #[test]
    fn gga_gll_vtg_hdt_and_hdg_each_do_their_part() {
        let mut g = GpsState::new(10_000);
        let gga = frame(
            '$',
            "GPGGA,020000.00,2957.0000,N,12218.0000,E,1,09,0.9,5.0,M,9.0,M,,",
        );
        assert_eq!(g.handle_nmea(T, &gga).unwrap(), Heard::Fix);
        assert_eq!(g.status(T).satellites, Some(9));
        let vtg = frame('$', "GPVTG,84.0,T,,M,7.2,N,13.3,K,A");
        assert_eq!(g.handle_nmea(T, &vtg).unwrap(), Heard::Motion);
        let f = g.fix(T).unwrap();
        assert_eq!((f.sog_kn, f.cog_deg), (Some(7.2), Some(84.0)));
        g.handle_nmea(T, &frame('$', "HEHDT,86.5,T")).unwrap();
        assert_eq!(g.fix(T).unwrap().heading_deg, Some(86.5));
        assert_eq!(
            g.status(T).talker,
            Some(*b"GP"),
            "a compass is not the receiver"
        );
        // HDG: 80 magnetic, 1 E deviation, 5 W variation -> 76 true.
        g.handle_nmea(T, &frame('$', "HCHDG,80.0,1.0,E,5.0,W"))
            .unwrap();
        assert_eq!(g.fix(T).unwrap().heading_deg, Some(76.0));
        let gll = frame('$', "BDGLL,2958.0000,N,12219.0000,E,020001.00,A,A");
        assert_eq!(g.handle_nmea(T + 1, &gll).unwrap(), Heard::Fix);
        let f = g.fix(T + 1).unwrap();
        assert!((f.lat - (29.0 + 58.0 / 60.0)).abs() < 1e-9);
        assert_eq!(f.sog_kn, Some(7.2), "motion carries over to a new position");
        assert_eq!(g.status(T).bad, 0);
    }

    #[test]
    fn bad_sentences_are_counted_and_change_nothing() {
        let mut g = GpsState::new(10_000);
        g.handle_nmea(T, &rmc("GP", "2957.0000", "12218.0000", "1.0", "10.0"))
            .unwrap();
        let before = g.fix(T);
        let mut broken = rmc("GP", "2959.0000", "12218.0000", "1.0", "10.0");
        broken.replace_range(10..11, "9");
        assert!(g.handle_nmea(T, &broken).is_err());
        assert!(g.handle_nmea(T, "garbage").is_err());
        assert!(g.handle_nmea(T, &frame('$', "GPRMC,xx,A,1,N")).is_err());
        assert_eq!(
            g.handle_nmea(T, &frame('$', "GPGSV,1,1,00")).unwrap(),
            Heard::Ignored
        );
        assert_eq!(g.fix(T), before);
        let s = g.status(T);
        assert_eq!((s.good, s.bad, s.ignored), (1, 3, 1));
    }

    #[test]
    fn gpsd_tpv_and_sky() {
        let mut g = GpsState::new(10_000);
        let tpv = r#"{"class":"TPV","device":"/dev/x","mode":3,"lat":29.95,"lon":122.30,"speed":3.0866,"track":120.0}"#;
        assert_eq!(g.handle_gpsd(T, tpv).unwrap(), Heard::Fix);
        let f = g.fix(T).unwrap();
        assert!((f.sog_kn.unwrap() - 6.0).abs() < 0.001);
        assert_eq!(f.cog_deg, Some(120.0));
        g.handle_gpsd(T, r#"{"class":"SKY","uSat":7}"#).unwrap();
        assert_eq!(g.status(T).satellites, Some(7));
        assert_eq!(
            g.handle_gpsd(T, r#"{"class":"VERSION","release":"3.25"}"#)
                .unwrap(),
            Heard::Ignored
        );
        assert_eq!(
            g.handle_gpsd(T, r#"{"class":"TPV","mode":1}"#).unwrap(),
            Heard::NoFix
        );
        assert!(g.fix(T).is_none());
        assert!(g.handle_gpsd(T, "{not json").is_err());
    }

    #[test]
    fn signalk_delta_in_si_units() {
        let mut g = GpsState::new(10_000);
        let d = r#"{"context":"vessels.self","updates":[{"values":[
            {"path":"navigation.position","value":{"latitude":29.9,"longitude":122.3}},
            {"path":"navigation.speedOverGround","value":2.5722},
            {"path":"navigation.courseOverGroundTrue","value":1.5708}]}]}"#;
        assert_eq!(g.handle_signalk(T, d).unwrap(), Heard::Fix);
        let f = g.fix(T).unwrap();
        assert!((f.sog_kn.unwrap() - 5.0).abs() < 0.001);
        assert!((f.cog_deg.unwrap() - 90.0).abs() < 0.01);
        assert_eq!(
            g.handle_signalk(T, r#"{"name":"signalk-server","version":"2"}"#)
                .unwrap(),
            Heard::Ignored
        );
    }

    proptest! {
        #[test]
        fn any_line_is_answered_never_panics(line in "\\PC{0,100}") {
            let mut g = GpsState::new(1000);
            let _ = g.handle_nmea(T, &line);
            let _ = g.handle_gpsd(T, &line);
            let _ = g.handle_signalk(T, &line);
        }

        #[test]
        fn rmc_positions_round_trip(lat in -89.99f64..89.99, lon in -179.99f64..179.99) {
            let dm = |v: f64, w: usize| {
                let a = v.abs();
                let d = a.trunc();
                format!("{:0w$}{:07.4}", d as u32, (a - d) * 60.0, w = w)
            };
            let body = format!(
                "GNRMC,020000.00,A,{},{},{},{},0.0,,291126,,,A",
                dm(lat, 2), if lat < 0.0 { 'S' } else { 'N' },
                dm(lon, 3), if lon < 0.0 { 'W' } else { 'E' },
            );
            let mut g = GpsState::new(1000);
            g.handle_nmea(T, &frame('$', &body)).unwrap();
            let f = g.fix(T).unwrap();
            prop_assert!((f.lat - lat).abs() < 2e-6);
            prop_assert!((f.lon - lon).abs() < 2e-6);
        }
    }
}
