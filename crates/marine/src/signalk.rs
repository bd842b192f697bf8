//! The Signal K data model (<https://signalk.org/specification/>), for mesh vessels and
//! distress: deltas for the WebSocket stream, the full tree for the REST API, the hello and
//! the discovery document.
//!
//! - Contexts: `vessels.urn:mrn:imo:mmsi:<mmsi>` for a vessel with a real (certified) MMSI,
//!   otherwise `vessels.urn:mrn:signalk:uuid:<uuid>`: a version 4 UUID made from the first 16
//!   bytes of the vessel's key (the version and variant bits set), so it is the same on every
//!   node. Pseudo-MMSIs are for AIS only: Signal K has a way to name a vessel without one.
//! - Units are SI: speeds m/s, angles radians; positions in degrees.
//! - A distress is a notification in the context of the vessel in distress,
//!   `notifications.<nature>` (fire, flooding, collision, grounding, listing, sinking, adrift,
//!   abandon, piracy, mob; `distress` for undesignated and EPIRB alerts), state `emergency`
//!   while open, `alarm` once answered, and `null` (cleared) when resolved or cancelled.
//! - A pair alert is a notification in the context of the vessel that raised it:
//!   `notifications.mob` for man overboard, otherwise `notifications.pair.<alertInCamelCase>`, state
//!   `alarm`.

use haiqiao_proto::{Fix, NavStatus, PublicKey};
use serde_json::{Value, json};

use crate::gps::KNOT_MS;
use crate::ident::Mmsi;

/// The Signal K version these documents follow.
pub const VERSION: &str = "1.7.0";

/// A Signal K context for a vessel.
pub fn vessel_context(mmsi: Option<Mmsi>, key: &PublicKey) -> String {
    format!("vessels.{}", vessel_urn(mmsi, key))
}

/// A vessel's URN: by MMSI, or by a UUID from its key.
pub fn vessel_urn(mmsi: Option<Mmsi>, key: &PublicKey) -> String {
    match mmsi {
        Some(m) => format!("urn:mrn:imo:mmsi:{m:09}"),
        None => format!("urn:mrn:signalk:uuid:{}", key_uuid(key)),
    }
}

/// A version 4 UUID (RFC 9562 layout) from a key's first 16 bytes.
pub fn key_uuid(key: &PublicKey) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&key.as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-11-29T02:00:00.000Z`).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let s = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60,
        ms % 1000
    )
}

/// Signal K's `navigation.state` for an AIS navigational status, if it has one.
pub fn nav_state(n: NavStatus) -> Option<&'static str> {
    Some(match n.0 {
        0 => "motoring",
        1 => "anchored",
        2 => "not under command",
        3 => "restricted manouverability",
        5 => "moored",
        6 => "aground",
        7 => "fishing",
        8 => "sailing",
        _ => return None,
    })
}

/// The source every haiqiao delta names.
pub fn source() -> Value {
    json!({ "label": "haiqiao", "type": "haiqiao" })
}

/// What is known of a mesh vessel.
#[derive(Debug, Clone, PartialEq)]
pub struct Vessel {
    /// Its key.
    pub key: PublicKey,
    /// Its real (certified) MMSI, if any.
    pub mmsi: Option<Mmsi>,
    /// Its name (UTF-8), if known.
    pub name: Option<String>,
    /// Its newest fix.
    pub fix: Fix,
    /// When that fix was taken (ms since the epoch).
    pub fix_ms: u64,
}

impl Vessel {
    /// The vessel's context.
    pub fn context(&self) -> String {
        vessel_context(self.mmsi, &self.key)
    }

    /// Path-value pairs of what is known.
    pub fn values(&self) -> Vec<(String, Value)> {
        let f = &self.fix;
        let mut v = vec![(
            "navigation.position".to_owned(),
            json!({ "latitude": f.lat(), "longitude": f.lon() }),
        )];
        if let Some(s) = f.sog_dkn {
            v.push((
                "navigation.speedOverGround".into(),
                json!(f64::from(s) / 10.0 * KNOT_MS),
            ));
        }
        if let Some(c) = f.cog_ddeg {
            v.push((
                "navigation.courseOverGroundTrue".into(),
                json!((f64::from(c) / 10.0).to_radians()),
            ));
        }
        if let Some(h) = f.heading_deg {
            v.push((
                "navigation.headingTrue".into(),
                json!(f64::from(h).to_radians()),
            ));
        }
        if let Some(s) = nav_state(f.nav_status) {
            v.push(("navigation.state".into(), json!(s)));
        }
        v.push((
            "design.aisShipType".into(),
            json!({ "id": 30, "name": "Fishing" }),
        ));
        if let Some(n) = &self.name {
            v.push((String::new(), json!({ "name": n })));
        }
        if let Some(m) = self.mmsi {
            v.push((String::new(), json!({ "mmsi": format!("{m:09}") })));
        }
        v
    }

    /// A delta carrying everything known.
    pub fn delta(&self) -> Value {
        let values: Vec<Value> = self
            .values()
            .into_iter()
            .map(|(path, value)| json!({ "path": path, "value": value }))
            .collect();
        json!({
            "context": self.context(),
            "updates": [{
                "source": source(),
                "timestamp": rfc3339(self.fix_ms),
                "values": values,
            }],
        })
    }
}

/// Notification states (Signal K `alarmState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// Informational.
    Normal,
    /// Needs attention.
    Alert,
    /// Warning.
    Warn,
    /// Alarm.
    Alarm,
    /// Emergency (distress).
    Emergency,
}

impl AlarmState {
    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Normal => "normal",
            AlarmState::Alert => "alert",
            AlarmState::Warn => "warn",
            AlarmState::Alarm => "alarm",
            AlarmState::Emergency => "emergency",
        }
    }
}

/// The notification key for a DSC nature code (0–12).
pub fn distress_key(nature: u8) -> &'static str {
    match nature {
        0 => "fire",
        1 => "flooding",
        2 => "collision",
        3 => "grounding",
        4 => "listing",
        5 => "sinking",
        6 => "adrift",
        8 => "abandon",
        9 => "piracy",
        10 => "mob",
        _ => "distress",
    }
}

/// A delta raising (`Some(state)`) or clearing (`None`) `notifications.<key>` in `context`.
pub fn notification_delta(
    context: &str,
    key: &str,
    state: Option<AlarmState>,
    message: &str,
    at_ms: u64,
) -> Value {
    let value = match state {
        Some(s) => json!({
            "state": s.name(),
            "method": ["visual", "sound"],
            "message": message,
        }),
        None => Value::Null,
    };
    json!({
        "context": context,
        "updates": [{
            "source": source(),
            "timestamp": rfc3339(at_ms),
            "values": [{ "path": format!("notifications.{key}"), "value": value }],
        }],
    })
}

/// The hello a server sends first on a stream.
pub fn hello(self_urn: &str, now_ms: u64) -> Value {
    json!({
        "name": "haiqiao",
        "version": VERSION,
        "self": format!("vessels.{self_urn}"),
        "roles": ["master", "main"],
        "timestamp": rfc3339(now_ms),
    })
}

/// The discovery document at `/signalk` (`host` as the client reached us, e.g. `1.2.3.4:4680`).
pub fn discovery(host: &str) -> Value {
    json!({
        "endpoints": {
            "v1": {
                "version": VERSION,
                "signalk-http": format!("http://{host}/signalk/v1/api/"),
                "signalk-ws": format!("ws://{host}/signalk/v1/stream"),
            }
        },
        "server": { "id": "haiqiao", "version": env!("CARGO_PKG_VERSION") },
    })
}

/// Sets `value` at a dotted `path` under `node` (the empty path merges an object).
fn set_path(node: &mut Value, path: &str, value: Value) {
    if path.is_empty() {
        if let (Some(o), Some(v)) = (node.as_object_mut(), value.as_object()) {
            for (k, x) in v {
                o.insert(k.clone(), x.clone());
            }
        }
        return;
    }
    let mut cur = node;
    for part in path.split('.') {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(o) = cur.as_object_mut() else { return };
        cur = o.entry(part.to_owned()).or_insert_with(|| json!({}));
    }
    *cur = value;
}

/// The full model: `self` and every vessel, with each leaf as `{value, timestamp, $source}`,
/// and the notifications given as (context, key, value) (null values are left out).
pub fn full_tree(
    self_urn: &str,
    self_name: &str,
    vessels: &[Vessel],
    notifications: &[(String, String, Value, u64)],
) -> Value {
    let mut root = json!({
        "version": VERSION,
        "self": format!("vessels.{self_urn}"),
        "vessels": {},
    });
    // Every vessel names itself by `mmsi` or `uuid` (the schema requires one of them).
    let mut me = json!({ "name": self_name });
    match self_urn.strip_prefix("urn:mrn:imo:mmsi:") {
        Some(m) => me["mmsi"] = json!(m),
        None => me["uuid"] = json!(self_urn),
    }
    root["vessels"][self_urn] = me;
    for v in vessels {
        let urn = vessel_urn(v.mmsi, &v.key);
        let mut node = match v.mmsi {
            Some(_) => json!({}),
            None => json!({ "uuid": urn }),
        };
        for (path, value) in v.values() {
            let leaf = if path.is_empty() {
                value
            } else {
                json!({ "value": value, "timestamp": rfc3339(v.fix_ms), "$source": "haiqiao" })
            };
            set_path(&mut node, &path, leaf);
        }
        root["vessels"][&urn] = node;
    }
    for (context, key, value, at_ms) in notifications {
        if value.is_null() {
            continue;
        }
        let Some(urn) = context.strip_prefix("vessels.") else {
            continue;
        };
        let mut entry = root["vessels"]
            .get(urn)
            .cloned()
            .unwrap_or_else(|| json!({}));
        set_path(
            &mut entry,
            &format!("notifications.{key}"),
            json!({ "value": value, "timestamp": rfc3339(*at_ms), "$source": "haiqiao" }),
        );
        root["vessels"][urn] = entry;
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        haiqiao_proto::Keypair::from_seed(&[n; 32]).public()
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_917_600_123), "2026-11-29T02:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn contexts_by_mmsi_or_uuid() {
        let k = key(1);
        assert_eq!(
            vessel_context(Some(412_345_678), &k),
            "vessels.urn:mrn:imo:mmsi:412345678"
        );
        let u = key_uuid(&k);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(u, key_uuid(&k));
    }

    #[test]
    fn a_vessel_delta_in_si_units() {
        let mut fix = Fix::from_degrees(29.95, 122.3);
        fix.sog_dkn = Some(100);
        fix.cog_ddeg = Some(900);
        fix.nav_status = NavStatus::FISHING;
        let v = Vessel {
            key: key(2),
            mmsi: None,
            name: Some("浙岱渔03315".into()),
            fix,
            fix_ms: 1_795_917_600_000,
        };
        let d = v.delta();
        let vals = d["updates"][0]["values"].as_array().unwrap();
        let get = |p: &str| vals.iter().find(|x| x["path"] == p).unwrap()["value"].clone();
        assert_eq!(get("navigation.position")["latitude"], 29.95);
        assert!((get("navigation.speedOverGround").as_f64().unwrap() - 5.1444).abs() < 1e-3);
        assert!(
            (get("navigation.courseOverGroundTrue").as_f64().unwrap()
                - std::f64::consts::FRAC_PI_2)
                .abs()
                < 1e-9
        );
        assert_eq!(get("navigation.state"), "fishing");
        assert_eq!(get("")["name"], "浙岱渔03315");
        let t = full_tree(
            "urn:mrn:imo:mmsi:412000001",
            "me",
            std::slice::from_ref(&v),
            &[],
        );
        let urn = vessel_urn(None, &v.key);
        assert_eq!(
            t["vessels"][&urn]["navigation"]["position"]["value"]["longitude"],
            122.3
        );
        assert_eq!(t["vessels"][&urn]["name"], "浙岱渔03315");
        assert_eq!(t["vessels"][&urn]["uuid"], urn.as_str());
    }

    #[test]
    fn distress_notifications_raise_and_clear() {
        let c = vessel_context(Some(412_345_678), &key(3));
        let d = notification_delta(&c, distress_key(1), Some(AlarmState::Emergency), "x", 0);
        assert_eq!(
            d["updates"][0]["values"][0]["path"],
            "notifications.flooding"
        );
        assert_eq!(d["updates"][0]["values"][0]["value"]["state"], "emergency");
        let d = notification_delta(&c, distress_key(10), None, "", 0);
        assert_eq!(d["updates"][0]["values"][0]["path"], "notifications.mob");
        assert!(d["updates"][0]["values"][0]["value"].is_null());
        assert_eq!(distress_key(7), "distress");
    }

    proptest! {
        #[test]
        fn rfc3339_is_well_formed(ms in 0u64..4_102_444_800_000) {
            let s = rfc3339(ms);
            prop_assert_eq!(s.len(), 24);
            prop_assert!(s.ends_with('Z'));
        }
    }
}
