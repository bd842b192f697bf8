//! Distances on the sphere, for "nearest vessels".

use haiqiao_proto::{Fix, Timestamp};

/// Mean Earth radius, km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance between two fixes, km (haversine formula; within 0.5 % of the
/// ellipsoid, plenty for "who is closest").
pub fn distance_km(a: &Fix, b: &Fix) -> f64 {
    let (la1, lo1) = (a.lat().to_radians(), a.lon().to_radians());
    let (la2, lo2) = (b.lat().to_radians(), b.lon().to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Initial great-circle bearing from `a` to `b`, degrees true in [0, 360).
pub fn bearing_deg(a: &Fix, b: &Fix) -> f64 {
    let (la1, lo1) = (a.lat().to_radians(), a.lon().to_radians());
    let (la2, lo2) = (b.lat().to_radians(), b.lon().to_radians());
    let y = (lo2 - lo1).sin() * la2.cos();
    let x = la1.cos() * la2.sin() - la1.sin() * la2.cos() * (lo2 - lo1).cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// When a fix was taken: the record's creation time less the fix's age.
pub(crate) fn fix_time(created: Timestamp, fix: &Fix) -> Timestamp {
    Timestamp(
        created
            .0
            .saturating_sub(u32::from(fix.fix_age_s.unwrap_or(0))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let a = Fix::from_degrees(30.0, 122.0);
        let b = Fix::from_degrees(31.0, 122.0);
        assert!((distance_km(&a, &b) - 111.2).abs() < 0.1);
        assert_eq!(distance_km(&a, &a), 0.0);
        // Shenjiamen to Daishan, roughly 30 km.
        let shenjiamen = Fix::from_degrees(29.95, 122.30);
        let daishan = Fix::from_degrees(30.25, 122.20);
        let d = distance_km(&shenjiamen, &daishan);
        assert!((30.0..40.0).contains(&d), "{d}");
    }

    #[test]
    fn bearings_point_the_right_way() {
        let a = Fix::from_degrees(30.0, 122.0);
        let near = |x: f64, y: f64| (x - y).abs() < 0.5;
        assert!(near(bearing_deg(&a, &Fix::from_degrees(31.0, 122.0)), 0.0));
        assert!(near(
            bearing_deg(&a, &Fix::from_degrees(30.0, 123.0)),
            89.75
        ));
        assert!(near(
            bearing_deg(&a, &Fix::from_degrees(29.0, 122.0)),
            180.0
        ));
        assert!(near(
            bearing_deg(&a, &Fix::from_degrees(30.0, 121.0)),
            270.25
        ));
    }
}
