//! When the boat reports its own position to the mesh.
//!
//! Modelled on AIS class B "CS" reporting (ITU-R M.1371-5, Annex 7, Table 1: every 3 minutes at
//! 2 knots or less, every 30 seconds above), adapted to a mesh where every report floods to
//! every boat and a contact may be a 9,600 bit/s VHF data link or a LoRa hop:
//!
//! | band | speed (default) | interval (default) |
//! |---|---|---|
//! | slow: at anchor, moored, drifting, fishing slowly | < 2 kn (or moored / at anchor) | 180 s |
//! | cruise: steaming to or between grounds | 2–14 kn | 60 s |
//! | fast | > 14 kn | 30 s |
//!
//! A course change of more than `course_change_deg` since the last report sends one at once
//! (not sooner than `min_interval_s` after the last), as a class A transponder does when it
//! turns. Everything is capped by a link budget: a token bucket of `budget_bytes_per_hour`,
//! holding at most `burst_reports` reports' worth, so a boat turning in circles cannot flood
//! the fleet. Positions supersede one another in the mesh (only the newest per vessel is kept),
//! so a report held back by the budget is not queued: the next one carries the newer fix.
//!
//! Call order: [`ReportPolicy::poll`] whenever a fix arrives and at the time it returned in
//! [`Poll::WaitUntil`]; after sending, [`ReportPolicy::sent`] with the bytes the record took.

use haiqiao_proto::NavStatus;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::gps::OwnFix;

/// The policy's settings (the node's `[gps]` section nests them as `[gps.report]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Below this speed (knots) the boat is in the slow band. Default 2 (AIS class B).
    pub slow_below_kn: f64,
    /// Above this speed (knots) the boat is in the fast band. Default 14.
    pub fast_above_kn: f64,
    /// Seconds between reports in the slow band (also at anchor or moored). Default 180.
    pub slow_interval_s: u32,
    /// Seconds between reports in the cruise band. Default 60.
    pub cruise_interval_s: u32,
    /// Seconds between reports in the fast band. Default 30.
    pub fast_interval_s: u32,
    /// A course change larger than this (degrees) since the last report sends one at once.
    /// Default 30.
    pub course_change_deg: f64,
    /// Never two reports closer than this (seconds). Default 10.
    pub min_interval_s: u32,
    /// The link budget for automatic reports, bytes per hour. Default 14,400: the fast band's
    /// 120 reports an hour of up to 120 bytes each (a signed position record is about 100), so
    /// the cap binds only on extra reports (turns).
    pub budget_bytes_per_hour: u32,
    /// How many reports the budget may send back to back. Default 3.
    pub burst_reports: u32,
    /// The size of one report (bytes) assumed until the first is sent. Default 100.
    pub report_bytes: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            slow_below_kn: 2.0,
            fast_above_kn: 14.0,
            slow_interval_s: 180,
            cruise_interval_s: 60,
            fast_interval_s: 30,
            course_change_deg: 30.0,
            min_interval_s: 10,
            budget_bytes_per_hour: 14_400,
            burst_reports: 3,
            report_bytes: 100,
        }
    }
}

/// A setting that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportConfigError {
    /// Speeds out of order or negative.
    #[error("slow_below_kn must be at least 0 and at most fast_above_kn")]
    Speeds,
    /// An interval of zero, or intervals out of order.
    #[error("intervals must satisfy 1 <= min_interval_s <= fast <= cruise <= slow (seconds)")]
    Intervals,
    /// A course threshold outside (0, 180].
    #[error("course_change_deg must be in (0, 180]")]
    Course,
    /// A budget that cannot carry one report an hour.
    #[error("budget_bytes_per_hour must hold at least one report (report_bytes) an hour")]
    Budget,
}

impl ReportConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ReportConfigError> {
        if !(self.slow_below_kn >= 0.0 && self.slow_below_kn <= self.fast_above_kn) {
            return Err(ReportConfigError::Speeds);
        }
        if !(1 <= self.min_interval_s
            && self.min_interval_s <= self.fast_interval_s
            && self.fast_interval_s <= self.cruise_interval_s
            && self.cruise_interval_s <= self.slow_interval_s)
        {
            return Err(ReportConfigError::Intervals);
        }
        if !(self.course_change_deg > 0.0 && self.course_change_deg <= 180.0) {
            return Err(ReportConfigError::Course);
        }
        if self.report_bytes == 0 || self.budget_bytes_per_hour < self.report_bytes {
            return Err(ReportConfigError::Budget);
        }
        Ok(())
    }

    /// The band a fix falls in.
    pub fn band(&self, fix: &OwnFix, nav: NavStatus) -> SpeedBand {
        let sog = fix.sog_kn.unwrap_or(0.0);
        if nav == NavStatus::AT_ANCHOR || nav == NavStatus::MOORED || sog < self.slow_below_kn {
            SpeedBand::Slow
        } else if sog > self.fast_above_kn {
            SpeedBand::Fast
        } else {
            SpeedBand::Cruise
        }
    }

    /// Milliseconds between reports in a band.
    pub fn interval_ms(&self, band: SpeedBand) -> u64 {
        1000 * u64::from(match band {
            SpeedBand::Slow => self.slow_interval_s,
            SpeedBand::Cruise => self.cruise_interval_s,
            SpeedBand::Fast => self.fast_interval_s,
        })
    }
}

/// Speed bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedBand {
    /// At anchor, moored, drifting, fishing slowly.
    Slow,
    /// Steaming.
    Cruise,
    /// Fast.
    Fast,
}

/// Why a report is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The first fix since start (or since the fix came back).
    First,
    /// The band's interval has passed.
    Interval,
    /// The course changed by more than the threshold.
    CourseChange,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Send a report now.
    Send(Reason),
    /// Nothing before this time (ms), unless a new fix comes first.
    WaitUntil(u64),
    /// No fix: nothing to report (status says so).
    NoFix,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    at_ms: u64,
    cog: Option<f64>,
}

/// The policy's state.
#[derive(Debug, Clone)]
pub struct ReportPolicy {
    cfg: ReportConfig,
    last: Option<Last>,
    /// Budget left, bytes, as of `tokens_at`.
    tokens: f64,
    tokens_at: u64,
    report_bytes: u32,
    sent: u64,
    held_back: u64,
}

fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

impl ReportPolicy {
    /// A policy with a full budget at `now_ms`.
    pub fn new(cfg: ReportConfig, now_ms: u64) -> ReportPolicy {
        let report_bytes = cfg.report_bytes.max(1);
        let mut p = ReportPolicy {
            cfg,
            last: None,
            tokens: 0.0,
            tokens_at: now_ms,
            report_bytes,
            sent: 0,
            held_back: 0,
        };
        p.tokens = p.cap();
        p
    }

    /// The settings.
    pub fn config(&self) -> &ReportConfig {
        &self.cfg
    }

    fn cap(&self) -> f64 {
        f64::from(self.cfg.burst_reports.max(1)) * f64::from(self.report_bytes)
    }

    fn rate_per_ms(&self) -> f64 {
        f64::from(self.cfg.budget_bytes_per_hour) / 3_600_000.0
    }

    fn refill(&mut self, now_ms: u64) {
        if now_ms > self.tokens_at {
            let add = (now_ms - self.tokens_at) as f64 * self.rate_per_ms();
            self.tokens = (self.tokens + add).min(self.cap());
            self.tokens_at = now_ms;
        }
    }

    /// Reports sent and reports held back by the budget, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.sent, self.held_back)
    }

    /// What to do at `now_ms` with the current fix (`None`: no fix now).
    pub fn poll(&mut self, now_ms: u64, fix: Option<&OwnFix>, nav: NavStatus) -> Poll {
        let Some(fix) = fix else {
            // The next fix after an outage is reported as a first one.
            self.last = None;
            return Poll::NoFix;
        };
        self.refill(now_ms);
        let due = match self.last {
            None => Some((Reason::First, now_ms)),
            Some(last) => {
                let band = self.cfg.band(fix, nav);
                let interval_at = last.at_ms + self.cfg.interval_ms(band);
                let turned = band != SpeedBand::Slow
                    && matches!((last.cog, fix.cog_deg), (Some(a), Some(b))
                        if angle_between(a, b) > self.cfg.course_change_deg);
                let min_at = last.at_ms + 1000 * u64::from(self.cfg.min_interval_s);
                if turned && now_ms >= min_at {
                    Some((Reason::CourseChange, now_ms))
                } else if now_ms >= interval_at {
                    Some((Reason::Interval, now_ms))
                } else if turned {
                    return Poll::WaitUntil(min_at);
                } else {
                    return Poll::WaitUntil(interval_at);
                }
            }
        };
        let Some((reason, _)) = due else {
            return Poll::NoFix;
        };
        let need = f64::from(self.report_bytes);
        if self.tokens + 1e-9 >= need {
            Poll::Send(reason)
        } else {
            self.held_back += 1;
            let wait = ((need - self.tokens) / self.rate_per_ms()).ceil() as u64;
            Poll::WaitUntil(now_ms + wait.max(1))
        }
    }

    /// A report of `fix` was sent at `now_ms`, `bytes` long.
    pub fn sent(&mut self, now_ms: u64, fix: &OwnFix, bytes: u32) {
        self.refill(now_ms);
        self.report_bytes = bytes.max(1);
        self.tokens = (self.tokens - f64::from(bytes)).max(-self.cap());
        self.last = Some(Last {
            at_ms: now_ms,
            cog: fix.cog_deg,
        });
        self.sent += 1;
    }
}

/// Bytes an hour of automatic reports at a steady speed and course, `record_bytes` each: what
/// the policy sends when driven by a fix every second for an hour (for docs/benchmarks.md).
pub fn bytes_per_hour(cfg: &ReportConfig, sog_kn: f64, nav: NavStatus, record_bytes: u32) -> u64 {
    let t0 = 0u64;
    let mut p = ReportPolicy::new(cfg.clone(), t0);
    let mut total = 0u64;
    for s in 0..3600u64 {
        let now = t0 + s * 1000;
        let fix = OwnFix {
            lat: 29.9,
            lon: 122.3,
            sog_kn: Some(sog_kn),
            cog_deg: Some(90.0),
            heading_deg: None,
            at_ms: now,
        };
        if let Poll::Send(_) = p.poll(now, Some(&fix), nav) {
            p.sent(now, &fix, record_bytes);
            total += u64::from(record_bytes);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fix(at_ms: u64, sog: f64, cog: f64) -> OwnFix {
        OwnFix {
            lat: 29.95,
            lon: 122.3,
            sog_kn: Some(sog),
            cog_deg: Some(cog),
            heading_deg: None,
            at_ms,
        }
    }

    /// Drives the policy with a fix a second from `from` to `to` (s); returns the send times.
    fn drive(
        p: &mut ReportPolicy,
        from: u64,
        to: u64,
        f: impl Fn(u64) -> OwnFix,
        nav: NavStatus,
    ) -> Vec<(u64, Reason)> {
        let mut out = Vec::new();
        for s in from..to {
            let now = s * 1000;
            let x = f(now);
            if let Poll::Send(r) = p.poll(now, Some(&x), nav) {
                p.sent(now, &x, 100);
                out.push((s, r));
            }
        }
        out
    }

    #[test]
    fn intervals_follow_the_speed_band() {
        let cfg = ReportConfig::default();
        for (sog, nav, every) in [
            (0.5, NavStatus::FISHING, 180),
            (8.0, NavStatus::AT_ANCHOR, 180),
            (8.0, NavStatus::UNDER_WAY, 60),
            (20.0, NavStatus::UNDER_WAY, 30),
        ] {
            let mut p = ReportPolicy::new(cfg.clone(), 0);
            let sends = drive(&mut p, 0, 3600, |t| fix(t, sog, 90.0), nav);
            assert_eq!(sends[0], (0, Reason::First));
            let gaps: Vec<u64> = sends.windows(2).map(|w| w[1].0 - w[0].0).collect();
            assert!(
                gaps.iter().all(|g| *g == every),
                "{sog} kn {nav:?}: {gaps:?}"
            );
            assert_eq!(sends.len() as u64, 3600 / every);
        }
    }

    #[test]
    fn a_large_turn_reports_at_once_a_small_one_does_not() {
        let mut p = ReportPolicy::new(ReportConfig::default(), 0);
        let sends = drive(
            &mut p,
            0,
            59,
            |t| fix(t, 8.0, if t >= 20_000 { 125.0 } else { 90.0 }),
            NavStatus::UNDER_WAY,
        );
        assert_eq!(sends, vec![(0, Reason::First), (20, Reason::CourseChange)]);
        let mut p = ReportPolicy::new(ReportConfig::default(), 0);
        let sends = drive(
            &mut p,
            0,
            59,
            |t| fix(t, 8.0, if t >= 20_000 { 115.0 } else { 90.0 }),
            NavStatus::UNDER_WAY,
        );
        assert_eq!(sends, vec![(0, Reason::First)]);
        // Across north: 350 -> 15 is a 25 degree turn, not 335.
        assert!(angle_between(350.0, 15.0) - 25.0 < 1e-9);
    }

    #[test]
    fn a_turn_right_after_a_report_waits_for_the_minimum_interval() {
        let mut p = ReportPolicy::new(ReportConfig::default(), 0);
        let sends = drive(
            &mut p,
            0,
            30,
            |t| fix(t, 8.0, if t >= 3_000 { 180.0 } else { 90.0 }),
            NavStatus::UNDER_WAY,
        );
        assert_eq!(sends, vec![(0, Reason::First), (10, Reason::CourseChange)]);
    }

    #[test]
    fn the_budget_caps_a_boat_turning_in_circles() {
        let cfg = ReportConfig::default();
        let mut p = ReportPolicy::new(cfg.clone(), 0);
        // Turning 40 degrees every 10 seconds for an hour.
        let sends = drive(
            &mut p,
            0,
            3600,
            |t| fix(t, 8.0, ((t / 10_000) as f64 * 40.0) % 360.0),
            NavStatus::UNDER_WAY,
        );
        let bytes = sends.len() as u64 * 100;
        let cap = u64::from(cfg.budget_bytes_per_hour) + u64::from(cfg.burst_reports) * 100;
        assert!(bytes <= cap, "{bytes} > {cap}");
        assert!(
            sends.len() >= 90,
            "the budget is used, not starved: {}",
            sends.len()
        );
        assert!(p.counts().1 > 0, "some turns were held back");
    }

    #[test]
    fn no_fix_sends_nothing_and_the_next_fix_is_a_first() {
        let mut p = ReportPolicy::new(ReportConfig::default(), 0);
        let f = fix(0, 8.0, 90.0);
        assert_eq!(
            p.poll(0, Some(&f), NavStatus::UNDER_WAY),
            Poll::Send(Reason::First)
        );
        p.sent(0, &f, 100);
        assert_eq!(p.poll(5_000, None, NavStatus::UNDER_WAY), Poll::NoFix);
        assert_eq!(
            p.poll(12_000, Some(&f), NavStatus::UNDER_WAY),
            Poll::Send(Reason::First)
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(ReportConfig::default().validate().is_ok());
        let bad = ReportConfig {
            fast_interval_s: 90,
            ..ReportConfig::default()
        };
        assert_eq!(bad.validate(), Err(ReportConfigError::Intervals));
        let bad = ReportConfig {
            budget_bytes_per_hour: 10,
            ..ReportConfig::default()
        };
        assert_eq!(bad.validate(), Err(ReportConfigError::Budget));
    }

    proptest! {
        /// Whatever the fixes, reports never come closer than the minimum interval (but the
        /// first) and never exceed the budget plus its burst.
        #[test]
        fn never_too_often_never_over_budget(seed in any::<u64>()) {
            println!("seed {seed}");
            let cfg = ReportConfig::default();
            let mut p = ReportPolicy::new(cfg.clone(), 0);
            let mut x = seed | 1;
            let mut rnd = move || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let mut sends = Vec::new();
            for s in 0..3600u64 {
                let f = fix(s * 1000, (rnd() % 300) as f64 / 10.0, (rnd() % 360) as f64);
                if let Poll::Send(_) = p.poll(s * 1000, Some(&f), NavStatus::UNDER_WAY) {
                    p.sent(s * 1000, &f, 100);
                    sends.push(s);
                }
            }
            prop_assert!(sends.windows(2).all(|w| w[1] - w[0] >= u64::from(cfg.min_interval_s)));
            let cap = u64::from(cfg.budget_bytes_per_hour) / 100 + u64::from(cfg.burst_reports);
            prop_assert!(sends.len() as u64 <= cap, "{} sends", sends.len());
        }
    }
}
