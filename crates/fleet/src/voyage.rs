//! Whether this vessel is steaming home, and when it expects to be ashore.
//!
//! The engine hands the last copy of a shore-bound record to the boat due ashore soonest
//! (haiqiao-mesh `Input::EtaShore`; measured in the simulator, simulations/README.md item
//! 11). A vessel knows it is homeward from its own position reports — speed and course over
//! ground towards one of the ports it makes for (`FleetConfig::ports`) — or from the skipper's
//! word, which stands until the skipper takes it back or the boat arrives.

use haiqiao_proto::{Fix, NavStatus};
use serde::{Deserialize, Serialize};

use crate::geo::{bearing_deg, distance_km};

/// Below this speed over ground a boat is fishing or drifting, not steaming home (trawlers
/// tow at 2–4 knots, and steam at 8–12), knots.
pub const MIN_HOMEWARD_SOG_KN: f64 = 4.5;
/// Course over ground at most this far off the bearing to a port counts as making for it,
/// degrees.
pub const MAX_OFF_COURSE_DEG: f64 = 30.0;
/// Within this distance of a port a boat has arrived, km.
pub const ARRIVED_KM: f64 = 1.0;

/// A port a vessel makes for (its home port, or a port it lands its catch at).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Name, as people say it.
    pub name: String,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

/// Where the voyage estimate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoyageSource {
    /// The boat's own position reports.
    Positions,
    /// The skipper said so.
    Skipper,
}

/// What the skipper says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipperSays {
    /// Steaming home, ashore in this many minutes (at this port, if named).
    Homeward {
        /// Minutes to arrival.
        eta_min: u32,
        /// The port, if named.
        port: Option<String>,
    },
    /// Not homeward (fishing, or bound elsewhere), whatever the positions say.
    NotHomeward,
}

/// The voyage as the node shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VoyageView {
    /// Steaming home.
    pub homeward: bool,
    /// Minutes to arrival, if homeward (at least 1 while the estimate stands).
    pub eta_min: Option<u32>,
    /// The port, if known.
    pub port: Option<String>,
    /// Where the estimate comes from; none when not homeward and the skipper said nothing.
    pub source: Option<VoyageSource>,
    /// Whether the skipper's word overrides the positions.
    pub skipper_says: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct Estimate {
    ashore_by_ms: u64,
    port: Option<String>,
}

/// The voyage state of this vessel.
#[derive(Clone, Debug, Default)]
pub(crate) struct Voyage {
    ports: Vec<Port>,
    /// From the newest own position report: (its time, the estimate if homeward).
    from_positions: Option<(u64, Option<Estimate>)>,
    /// The skipper's word: `Some(None)` for "not homeward".
    skipper: Option<Option<Estimate>>,
}

/// What one own position report says of the voyage.
enum Judged {
    /// At a port.
    Arrived,
    /// Making for a port: the one reached soonest.
    Homeward(Estimate),
    /// Neither.
    NotHomeward,
}

/// Whether `fix` is at or makes for one of `ports`, and when it gets there.
fn judge(ports: &[Port], fix: &Fix, fix_ms: u64) -> Judged {
    let mut best: Option<Estimate> = None;
    for p in ports {
        let at = Fix::from_degrees(p.lat, p.lon);
        let d = distance_km(fix, &at);
        if d <= ARRIVED_KM {
            return Judged::Arrived;
        }
        if fix.nav_status == NavStatus::FISHING {
            continue;
        }
        let (Some(sog), Some(cog)) = (fix.sog_dkn, fix.cog_ddeg) else {
            continue;
        };
        let sog_kn = f64::from(sog) / 10.0;
        let off = (f64::from(cog) / 10.0 - bearing_deg(fix, &at)).rem_euclid(360.0);
        if sog_kn < MIN_HOMEWARD_SOG_KN || off.min(360.0 - off) > MAX_OFF_COURSE_DEG {
            continue;
        }
        let ms = (d / (sog_kn * 1.852) * 3.6e6) as u64;
        let by = fix_ms.saturating_add(ms);
        if best.as_ref().is_none_or(|b| by < b.ashore_by_ms) {
            best = Some(Estimate {
                ashore_by_ms: by,
                port: Some(p.name.clone()),
            });
        }
    }
    best.map_or(Judged::NotHomeward, Judged::Homeward)
}

impl Voyage {
    pub(crate) fn new(ports: Vec<Port>) -> Voyage {
        Voyage {
            ports,
            ..Voyage::default()
        }
    }

    /// Takes in one of this vessel's own position reports, taken at `fix_ms`. Older than the
    /// newest seen: ignored. Arriving at a port ends the skipper's "homeward".
    pub(crate) fn own_fix(&mut self, fix_ms: u64, fix: &Fix) {
        if self
            .from_positions
            .as_ref()
            .is_some_and(|(t, _)| *t > fix_ms)
        {
            return;
        }
        let estimate = match judge(&self.ports, fix, fix_ms) {
            Judged::Homeward(e) => Some(e),
            Judged::NotHomeward => None,
            Judged::Arrived => {
                if matches!(self.skipper, Some(Some(_))) {
                    self.skipper = None;
                }
                None
            }
        };
        self.from_positions = Some((fix_ms, estimate));
    }

    /// The skipper's word (`None`: back to the positions).
    pub(crate) fn skipper(&mut self, now_ms: u64, says: Option<SkipperSays>) {
        self.skipper = says.map(|s| match s {
            SkipperSays::Homeward { eta_min, port } => Some(Estimate {
                ashore_by_ms: now_ms.saturating_add(u64::from(eta_min) * 60_000),
                port,
            }),
            SkipperSays::NotHomeward => None,
        });
    }

    fn estimate(&self) -> (Option<&Estimate>, Option<VoyageSource>) {
        match &self.skipper {
            Some(e) => (e.as_ref(), Some(VoyageSource::Skipper)),
            None => match &self.from_positions {
                Some((_, Some(e))) => (Some(e), Some(VoyageSource::Positions)),
                _ => (None, None),
            },
        }
    }

    /// Minutes to arrival while homeward (at least 1, even past the estimate).
    pub(crate) fn eta_min(&self, now_ms: u64) -> Option<u32> {
        self.estimate().0.map(|e| {
            e.ashore_by_ms
                .saturating_sub(now_ms)
                .div_ceil(60_000)
                .clamp(1, u64::from(u32::MAX)) as u32
        })
    }

    pub(crate) fn view(&self, now_ms: u64) -> VoyageView {
        let (e, source) = self.estimate();
        VoyageView {
            homeward: e.is_some(),
            eta_min: self.eta_min(now_ms),
            port: e.and_then(|e| e.port.clone()),
            source,
            skipper_says: self.skipper.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_795_000_000_000;

    fn ports() -> Vec<Port> {
        vec![
            Port {
                name: "Shenjiamen".into(),
                lat: 29.95,
                lon: 122.30,
            },
            Port {
                name: "Shengsi".into(),
                lat: 30.72,
                lon: 122.45,
            },
        ]
    }

    fn fix(lat: f64, lon: f64, sog_kn: f64, cog: f64) -> Fix {
        let mut f = Fix::from_degrees(lat, lon);
        f.sog_dkn = Some((sog_kn * 10.0) as u16);
        f.cog_ddeg = Some((cog * 10.0) as u16);
        f
    }

    #[test]
    fn steaming_towards_a_port_is_homeward_with_distance_over_speed() {
        let mut v = Voyage::new(ports());
        // 0.5° due east of Shenjiamen (about 48 km), heading west at 10 knots: ~2.6 h.
        v.own_fix(T0, &fix(29.95, 122.80, 10.0, 270.0));
        let view = v.view(T0);
        assert!(view.homeward);
        assert_eq!(view.port.as_deref(), Some("Shenjiamen"));
        assert_eq!(view.source, Some(VoyageSource::Positions));
        let eta = view.eta_min.unwrap();
        assert!((150..=165).contains(&eta), "{eta}");
        // It counts down.
        assert_eq!(v.eta_min(T0 + 60 * 60_000), Some(eta - 60));
    }

    #[test]
    fn fishing_slow_or_heading_away_is_not_homeward() {
        let mut v = Voyage::new(ports());
        v.own_fix(T0, &fix(29.95, 122.80, 10.0, 90.0));
        assert!(!v.view(T0).homeward, "heading away");
        v.own_fix(T0 + 1, &fix(29.95, 122.80, 3.0, 270.0));
        assert!(!v.view(T0).homeward, "towing speed");
        let mut f = fix(29.95, 122.80, 10.0, 270.0);
        f.nav_status = NavStatus::FISHING;
        v.own_fix(T0 + 2, &f);
        assert!(!v.view(T0).homeward, "engaged in fishing");
        v.own_fix(T0 + 3, &Fix::from_degrees(29.95, 122.80));
        assert!(!v.view(T0).homeward, "no course or speed");
        // An older report does not undo a newer one.
        v.own_fix(T0, &fix(29.95, 122.80, 10.0, 270.0));
        assert!(!v.view(T0).homeward);
        // No ports configured: never homeward from positions.
        let mut none = Voyage::new(Vec::new());
        none.own_fix(T0, &fix(29.95, 122.80, 10.0, 270.0));
        assert!(!none.view(T0).homeward);
    }

    #[test]
    fn the_skipper_overrides_until_arrival_or_taken_back() {
        let mut v = Voyage::new(ports());
        v.skipper(
            T0,
            Some(SkipperSays::Homeward {
                eta_min: 300,
                port: None,
            }),
        );
        assert_eq!(v.eta_min(T0), Some(300));
        assert_eq!(v.view(T0).source, Some(VoyageSource::Skipper));
        // Positions say fishing: the skipper's word stands.
        v.own_fix(T0 + 1, &fix(30.5, 123.4, 3.0, 10.0));
        assert_eq!(v.eta_min(T0 + 60_000), Some(299));
        // Arrived at Shengsi: the word is spent.
        v.own_fix(T0 + 2, &fix(30.72, 122.45, 0.0, 0.0));
        assert!(!v.view(T0).homeward);
        assert!(!v.view(T0).skipper_says);
        // "Not homeward" holds against the positions until taken back.
        v.skipper(T0, Some(SkipperSays::NotHomeward));
        v.own_fix(T0 + 3, &fix(29.95, 122.80, 10.0, 270.0));
        assert!(!v.view(T0).homeward);
        v.skipper(T0, None);
        assert!(v.view(T0).homeward);
    }
}
