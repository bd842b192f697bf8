//! The pieces the kinds' JSON views share: fixes, areas and category sets for people, and the
//! raw forms the test vectors show.

use serde_json::{Value as J, json};

use crate::codec::{pack_fix, pack_geobox};
use crate::types::*;

/// A fix for people: degrees, knots, degrees true, the navigational status's name.
pub fn fix(f: &Fix) -> J {
    json!({
        "lat": f.lat(),
        "lon": f.lon(),
        "sog_kn": f.sog_dkn.map(|s| f64::from(s) / 10.0),
        "cog_deg": f.cog_ddeg.map(|c| f64::from(c) / 10.0),
        "heading_deg": f.heading_deg,
        "nav_status": f.nav_status.name(),
        "fix_age_s": f.fix_age_s,
    })
}

/// A fix if there is one, for people (`null` if not).
pub fn opt_fix(f: &Option<Fix>) -> J {
    f.as_ref().map_or(J::Null, fix)
}

/// A duty area for people: its number and its edges in degrees.
pub fn area(a: &DutyArea) -> J {
    let d = |e5: i32| f64::from(e5) / 1e5;
    json!({
        "area": a.area.0,
        "south": d(a.bounds.south_e5), "west": d(a.bounds.west_e5),
        "north": d(a.bounds.north_e5), "east": d(a.bounds.east_e5),
    })
}

/// The names of the categories in a set, in wire order.
pub fn category_names(set: CategorySet) -> Vec<&'static str> {
    DisputeCategory::NAMED
        .iter()
        .filter(|(_, c)| set.contains(*c))
        .map(|(n, _)| *n)
        .collect()
}

/// Bytes as lowercase hex.
pub fn hx(b: &[u8]) -> J {
    J::String(hex::encode(b))
}

/// A value or `null`.
pub fn opt<T: Into<J>>(v: Option<T>) -> J {
    v.map_or(J::Null, Into::into)
}

/// A fix as on the wire: its fields in their units and its 12 packed bytes.
pub fn wire_fix(f: &Fix) -> J {
    json!({
        "lat_e5": f.lat_e5,
        "lon_e5": f.lon_e5,
        "sog_dkn": opt(f.sog_dkn),
        "cog_ddeg": opt(f.cog_ddeg),
        "heading_deg": opt(f.heading_deg),
        "nav_status": f.nav_status.0,
        "fix_age_s": opt(f.fix_age_s),
        "packed": pack_fix(f).map_or(J::Null, |p| hx(&p)),
    })
}

/// A fix if there is one, as on the wire (`null` if not).
pub fn wire_opt_fix(f: &Option<Fix>) -> J {
    f.as_ref().map_or(J::Null, wire_fix)
}

/// A duty area as on the wire: its number, its edges in 1e-5 degree and its 16 packed bytes.
pub fn wire_area(a: &DutyArea) -> J {
    json!({
        "area": a.area.0,
        "south_e5": a.bounds.south_e5, "west_e5": a.bounds.west_e5,
        "north_e5": a.bounds.north_e5, "east_e5": a.bounds.east_e5,
        "packed": pack_geobox(&a.bounds).map_or(J::Null, |p| hx(&p)),
    })
}
