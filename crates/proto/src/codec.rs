//! The CBOR codec: the only module that names `serde_cbor`.
//!
//! Decoding is strict and happens in two passes. First a hand-written scanner walks the item
//! heads (no allocation) and refuses anything outside the format's one canonical form:
//! indefinite lengths, non-shortest integer heads, maps, tags, floats, nesting deeper than
//! [`MAX_DEPTH`], and items that run past the end. Only then does `serde_cbor` build a value
//! tree, which is mapped field by field onto the record types with typed errors. The scanner
//! is what makes the id well defined: every valid envelope has exactly one byte encoding, so
//! two nodes holding the same record hold the same bytes and agree on its id.
//!
//! The byte-level format is specified in docs/protocol.md; keep the two in step.

use serde_cbor::Value;

/// A CBOR item, as the kinds' modules build and read their bodies: the library's value type,
/// named here so that no other module names the library.
pub(crate) type Item = Value;

use crate::error::RecordError;
use crate::identity::{KEY_HINT_LEN, KeyHint, PUBLIC_KEY_LEN, PublicKey};
use crate::types::*;
use crate::{Envelope, MAX_DEPTH, VERSION};

/// Longest text in a pair alert, distress, distress update, text message: bytes of UTF-8.
pub const MAX_SHORT_TEXT: usize = 280;
/// Longest dispute description or case update text (which may hold an agreement), bytes of
/// UTF-8.
pub const MAX_DESCRIPTION: usize = 1000;
/// Longest vessel or station name, bytes of UTF-8.
pub const MAX_NAME: usize = 64;
/// Most parties named in a dispute.
pub const MAX_PARTIES: usize = 8;
/// Most evidence hashes in a dispute.
pub const MAX_EVIDENCE: usize = 8;
/// Most record ids in one receipt.
pub const MAX_RECEIPT_IDS: usize = 100;
/// Longest time to live, in minutes (90 days).
pub const MAX_TTL_MIN: u32 = 90 * 24 * 60;
/// Most areas in one mediator duty announcement.
pub const MAX_DUTY_AREAS: usize = 8;
/// Length of a packed [`GeoBox`]: four big-endian i32 (south, west, north, east).
pub const GEOBOX_LEN: usize = 16;

// ---------------------------------------------------------------------------------------------
// Pass 1: the scanner.

/// Checks that `bytes` starts with one well-formed, canonical item of the allowed subset and
/// returns the offset just past it.
pub(crate) fn scan(bytes: &[u8]) -> Result<usize, RecordError> {
    let mut pos = 0;
    scan_item(bytes, &mut pos, 0)?;
    Ok(pos)
}

fn take(bytes: &[u8], pos: &mut usize, n: usize) -> Result<u64, RecordError> {
    let end = pos.checked_add(n).ok_or(RecordError::Truncated)?;
    let slice = bytes.get(*pos..end).ok_or(RecordError::Truncated)?;
    *pos = end;
    Ok(slice.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn scan_item(bytes: &[u8], pos: &mut usize, depth: usize) -> Result<(), RecordError> {
    let initial = *bytes.get(*pos).ok_or(RecordError::Truncated)?;
    *pos += 1;
    let major = initial >> 5;
    let info = initial & 0x1f;
    if major == 7 {
        return match info {
            20..=22 => Ok(()), // false, true, null
            25..=27 => Err(RecordError::Malformed("floats are not allowed")),
            31 => Err(RecordError::Malformed("unexpected break")),
            _ => Err(RecordError::Malformed(
                "simple values other than bools and null",
            )),
        };
    }
    let arg = match info {
        0..=23 => u64::from(info),
        24 => {
            let v = take(bytes, pos, 1)?;
            if v < 24 {
                return Err(RecordError::NonCanonical("integer head longer than needed"));
            }
            v
        }
        25..=27 => {
            let n = 1usize << (info - 24);
            let v = take(bytes, pos, n)?;
            let min = 1u64 << (4 * n); // 2^8, 2^16, 2^32
            if v < min {
                return Err(RecordError::NonCanonical("integer head longer than needed"));
            }
            v
        }
        31 => return Err(RecordError::NonCanonical("indefinite length")),
        _ => return Err(RecordError::Malformed("reserved additional information")),
    };
    match major {
        0 | 1 => Ok(()),
        2 | 3 => {
            let len = usize::try_from(arg).map_err(|_| RecordError::Truncated)?;
            take_slice(bytes, pos, len)
        }
        4 => {
            if depth + 1 > MAX_DEPTH {
                return Err(RecordError::TooDeep { max: MAX_DEPTH });
            }
            // Each item takes at least one byte, so a count beyond what is left is truncated.
            if arg > (bytes.len() - *pos) as u64 {
                return Err(RecordError::Truncated);
            }
            for _ in 0..arg {
                scan_item(bytes, pos, depth + 1)?;
            }
            Ok(())
        }
        5 => Err(RecordError::Malformed("maps are not allowed")),
        _ => Err(RecordError::Malformed("tags are not allowed")),
    }
}

fn take_slice(bytes: &[u8], pos: &mut usize, len: usize) -> Result<(), RecordError> {
    let end = pos.checked_add(len).ok_or(RecordError::Truncated)?;
    if end > bytes.len() {
        return Err(RecordError::Truncated);
    }
    *pos = end;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Position packing.

const LAT_BITS: u32 = 25;
const LON_BITS: u32 = 26;
const SOG_BITS: u32 = 10;
const COG_BITS: u32 = 12;
const HDG_BITS: u32 = 9;
const NAV_BITS: u32 = 4;
const AGE_BITS: u32 = 10;
const SOG_NA: u16 = 1023;
const COG_NA: u16 = 4095;
const HDG_NA: u16 = 511;
const AGE_NA: u16 = 1023;
/// Length of a packed fix.
pub const FIX_LEN: usize = 12;

pub(crate) fn field_err(field: &'static str, reason: &'static str) -> RecordError {
    RecordError::InvalidField { field, reason }
}

/// Packs a fix into 96 bits, big-endian, fields in the order lat, lon, sog, cog, heading,
/// nav status, fix age.
pub fn pack_fix(f: &Fix) -> Result<[u8; FIX_LEN], RecordError> {
    validate_fix(f)?;
    let mut v: u128 = 0;
    let mut put = |val: u64, bits: u32| {
        v = (v << bits) | u128::from(val & ((1u64 << bits) - 1));
    };
    put(f.lat_e5 as u32 as u64, LAT_BITS);
    put(f.lon_e5 as u32 as u64, LON_BITS);
    put(u64::from(f.sog_dkn.unwrap_or(SOG_NA)), SOG_BITS);
    put(u64::from(f.cog_ddeg.unwrap_or(COG_NA)), COG_BITS);
    put(u64::from(f.heading_deg.unwrap_or(HDG_NA)), HDG_BITS);
    put(u64::from(f.nav_status.0), NAV_BITS);
    put(u64::from(f.fix_age_s.unwrap_or(AGE_NA)), AGE_BITS);
    let all = v.to_be_bytes();
    let mut out = [0u8; FIX_LEN];
    out.copy_from_slice(&all[16 - FIX_LEN..]);
    Ok(out)
}

/// Unpacks a fix; refuses out-of-range values.
pub fn unpack_fix(b: &[u8]) -> Result<Fix, RecordError> {
    if b.len() != FIX_LEN {
        return Err(field_err("fix", "must be 12 bytes"));
    }
    let mut all = [0u8; 16];
    all[16 - FIX_LEN..].copy_from_slice(b);
    let v = u128::from_be_bytes(all);
    let mut shift = 96u32;
    let mut get = |bits: u32| -> u64 {
        shift -= bits;
        ((v >> shift) as u64) & ((1u64 << bits) - 1)
    };
    let sign = |raw: u64, bits: u32| -> i32 {
        let s = 64 - bits;
        (((raw << s) as i64) >> s) as i32
    };
    let lat = sign(get(LAT_BITS), LAT_BITS);
    let lon = sign(get(LON_BITS), LON_BITS);
    let sog = get(SOG_BITS) as u16;
    let cog = get(COG_BITS) as u16;
    let hdg = get(HDG_BITS) as u16;
    let nav = get(NAV_BITS) as u8;
    let age = get(AGE_BITS) as u16;
    let f = Fix {
        lat_e5: lat,
        lon_e5: lon,
        sog_dkn: (sog != SOG_NA).then_some(sog),
        cog_ddeg: (cog != COG_NA).then_some(cog),
        heading_deg: (hdg != HDG_NA).then_some(hdg),
        nav_status: NavStatus(nav),
        fix_age_s: (age != AGE_NA).then_some(age),
    };
    validate_fix(&f)?;
    Ok(f)
}

fn validate_fix(f: &Fix) -> Result<(), RecordError> {
    if !(-9_000_000..=9_000_000).contains(&f.lat_e5) {
        return Err(field_err("fix.lat", "beyond ±90°"));
    }
    if !(-18_000_000..=18_000_000).contains(&f.lon_e5) {
        return Err(field_err("fix.lon", "beyond ±180°"));
    }
    if f.sog_dkn.is_some_and(|s| s >= SOG_NA) {
        return Err(field_err("fix.sog", "above 102.2 kn"));
    }
    if f.cog_ddeg.is_some_and(|c| c >= 3600) {
        return Err(field_err("fix.cog", "not below 360°"));
    }
    if f.heading_deg.is_some_and(|h| h >= 360) {
        return Err(field_err("fix.heading", "not below 360°"));
    }
    if f.nav_status.0 > 15 {
        return Err(field_err("fix.nav_status", "above 15"));
    }
    if f.fix_age_s.is_some_and(|a| a >= AGE_NA) {
        return Err(field_err("fix.age", "above 1022 s"));
    }
    Ok(())
}

/// Packs a box into 16 bytes: south, west, north, east, each a big-endian i32 in 1e-5°.
pub fn pack_geobox(b: &GeoBox) -> Result<[u8; GEOBOX_LEN], RecordError> {
    validate_geobox(b)?;
    let mut out = [0u8; GEOBOX_LEN];
    for (i, v) in [b.south_e5, b.west_e5, b.north_e5, b.east_e5]
        .into_iter()
        .enumerate()
    {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    Ok(out)
}

/// Unpacks a box; refuses edges beyond the globe and empty or inverted boxes.
pub fn unpack_geobox(b: &[u8]) -> Result<GeoBox, RecordError> {
    if b.len() != GEOBOX_LEN {
        return Err(field_err("mediator_duty.area.bounds", "must be 16 bytes"));
    }
    let v = |i: usize| i32::from_be_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
    let g = GeoBox {
        south_e5: v(0),
        west_e5: v(1),
        north_e5: v(2),
        east_e5: v(3),
    };
    validate_geobox(&g)?;
    Ok(g)
}

fn validate_geobox(b: &GeoBox) -> Result<(), RecordError> {
    let lat = -9_000_000..=9_000_000;
    let lon = -18_000_000..=18_000_000;
    if !lat.contains(&b.south_e5) || !lat.contains(&b.north_e5) {
        return Err(field_err(
            "mediator_duty.area.bounds",
            "latitude beyond ±90°",
        ));
    }
    if !lon.contains(&b.west_e5) || !lon.contains(&b.east_e5) {
        return Err(field_err(
            "mediator_duty.area.bounds",
            "longitude beyond ±180°",
        ));
    }
    if b.south_e5 >= b.north_e5 || b.west_e5 >= b.east_e5 {
        return Err(field_err(
            "mediator_duty.area.bounds",
            "south must be below north and west below east",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoding.

pub(crate) fn uint(n: u64) -> Value {
    Value::Integer(i128::from(n))
}

pub(crate) fn text(s: &str, field: &'static str, max: usize) -> Result<Value, RecordError> {
    if s.len() > max {
        return Err(field_err(field, "text too long"));
    }
    Ok(Value::Text(s.to_owned()))
}

pub(crate) fn opt_fix_item(f: &Option<Fix>) -> Result<Value, RecordError> {
    Ok(match f {
        Some(f) => Value::Bytes(pack_fix(f)?.to_vec()),
        None => Value::Null,
    })
}

fn dest_value(d: &Destination) -> Value {
    match d {
        Destination::Everyone => uint(0),
        Destination::Shore => uint(1),
        Destination::Node(h) => Value::Array(vec![uint(2), Value::Bytes(h.0.to_vec())]),
        Destination::Pair(a, b) => Value::Array(vec![
            uint(3),
            Value::Bytes(a.0.to_vec()),
            Value::Bytes(b.0.to_vec()),
        ]),
        Destination::Mediators(a) => Value::Array(vec![uint(4), uint(u64::from(a.0))]),
        Destination::Group(g) => Value::Array(vec![uint(5), uint(u64::from(g.0))]),
    }
}

/// The canonical CBOR of a body alone: what a sealed record encrypts.
pub(crate) fn encode_body(b: &Body) -> Result<Vec<u8>, RecordError> {
    serde_cbor::to_vec(&crate::kinds::encode(b)?)
        .map_err(|_| RecordError::Malformed("cbor encoding failed"))
}

/// Decodes a body of `kind` from its canonical CBOR alone (a sealed record's plaintext), as
/// strictly as an envelope: canonical form, depth, no trailing bytes. A sealed body never
/// holds another.
pub(crate) fn decode_body_bytes(kind: Kind, bytes: &[u8]) -> Result<Body, RecordError> {
    if kind == Kind::Sealed {
        return Err(field_err(
            "sealed.kind",
            "a sealed record inside a sealed record",
        ));
    }
    let end = scan(bytes)?;
    if end < bytes.len() {
        return Err(RecordError::TrailingBytes(bytes.len() - end));
    }
    let v: Value = serde_cbor::from_slice(bytes)
        .map_err(|_| RecordError::Malformed("invalid cbor (e.g. text that is not utf-8)"))?;
    crate::kinds::decode(kind, v)
}

/// Encodes an envelope to its one canonical byte form.
pub(crate) fn encode_envelope(env: &Envelope) -> Result<Vec<u8>, RecordError> {
    check_ttl(env.ttl_min)?;
    if let Destination::Pair(a, b) = env.dest
        && a >= b
    {
        return Err(field_err("dest", "pair hints must be distinct and sorted"));
    }
    let v = Value::Array(vec![
        uint(VERSION),
        uint(env.body.kind() as u64),
        Value::Bytes(env.author.0.to_vec()),
        uint(env.seq),
        uint(env.created.secs()),
        uint(u64::from(env.ttl_min)),
        dest_value(&env.dest),
        crate::kinds::encode(&env.body)?,
    ]);
    serde_cbor::to_vec(&v).map_err(|_| RecordError::Malformed("cbor encoding failed"))
}

fn check_ttl(ttl: u32) -> Result<(), RecordError> {
    if ttl == 0 || ttl > MAX_TTL_MIN {
        return Err(field_err("ttl", "must be 1 minute to 90 days"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding (pass 2).

pub(crate) fn as_array(
    v: Value,
    field: &'static str,
    len: usize,
) -> Result<Vec<Value>, RecordError> {
    match v {
        Value::Array(a) if a.len() == len => Ok(a),
        Value::Array(_) => Err(field_err(field, "wrong number of items")),
        _ => Err(field_err(field, "expected an array")),
    }
}

pub(crate) fn as_list(
    v: Value,
    field: &'static str,
    max: usize,
) -> Result<Vec<Value>, RecordError> {
    match v {
        Value::Array(a) if a.len() <= max => Ok(a),
        Value::Array(_) => Err(field_err(field, "too many items")),
        _ => Err(field_err(field, "expected an array")),
    }
}

pub(crate) fn as_uint(v: &Value, field: &'static str, max: u64) -> Result<u64, RecordError> {
    match v {
        Value::Integer(i) if *i >= 0 && *i <= i128::from(max) => Ok(*i as u64),
        Value::Integer(_) => Err(field_err(field, "out of range")),
        _ => Err(field_err(field, "expected an unsigned integer")),
    }
}

pub(crate) fn as_bytes<const N: usize>(
    v: Value,
    field: &'static str,
) -> Result<[u8; N], RecordError> {
    match v {
        Value::Bytes(b) => b
            .try_into()
            .map_err(|_| field_err(field, "wrong byte length")),
        _ => Err(field_err(field, "expected a byte string")),
    }
}

pub(crate) fn as_text(v: Value, field: &'static str, max: usize) -> Result<String, RecordError> {
    match v {
        Value::Text(s) if s.len() <= max => Ok(s),
        Value::Text(_) => Err(field_err(field, "text too long")),
        _ => Err(field_err(field, "expected a text string")),
    }
}

pub(crate) fn as_bool(v: &Value, field: &'static str) -> Result<bool, RecordError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(field_err(field, "expected a bool")),
    }
}

pub(crate) fn as_opt<T>(
    v: Value,
    f: impl FnOnce(Value) -> Result<T, RecordError>,
) -> Result<Option<T>, RecordError> {
    match v {
        Value::Null => Ok(None),
        other => f(other).map(Some),
    }
}

pub(crate) fn as_fix(v: Value, field: &'static str) -> Result<Fix, RecordError> {
    match v {
        Value::Bytes(b) => unpack_fix(&b),
        _ => Err(field_err(field, "expected a packed fix")),
    }
}

pub(crate) fn as_key(v: Value, field: &'static str) -> Result<PublicKey, RecordError> {
    let b: [u8; PUBLIC_KEY_LEN] = as_bytes(v, field)?;
    PublicKey::from_bytes(&b)
}

pub(crate) fn as_hint(v: Value, field: &'static str) -> Result<KeyHint, RecordError> {
    Ok(KeyHint(as_bytes::<KEY_HINT_LEN>(v, field)?))
}

pub(crate) fn as_id(v: Value, field: &'static str) -> Result<RecordId, RecordError> {
    Ok(RecordId(as_bytes::<RECORD_ID_LEN>(v, field)?))
}

/// A time, seconds since the epoch in 32 bits.
pub(crate) fn as_time(v: &Value, field: &'static str) -> Result<Timestamp, RecordError> {
    Ok(Timestamp(as_uint(v, field, u64::from(u32::MAX))? as u32))
}

/// A coded value, looked up by its code (`from_code` of a [`crate::types`] enum).
pub(crate) fn as_code<T>(
    v: &Value,
    field: &'static str,
    from_code: fn(u64) -> Option<T>,
) -> Result<T, RecordError> {
    from_code(as_uint(v, field, u64::MAX)?).ok_or(field_err(field, "unknown code"))
}

fn decode_dest(v: Value) -> Result<Destination, RecordError> {
    match v {
        Value::Integer(0) => Ok(Destination::Everyone),
        Value::Integer(1) => Ok(Destination::Shore),
        Value::Integer(_) => Err(field_err("dest", "unknown destination")),
        Value::Array(mut a) => {
            let tag = a.first().map(|t| as_uint(t, "dest", 255)).transpose()?;
            match (tag, a.len()) {
                (Some(2), 2) => Ok(Destination::Node(as_hint(a.remove(1), "dest.node")?)),
                (Some(3), 3) => {
                    let b = as_hint(a.remove(2), "dest.pair")?;
                    let x = as_hint(a.remove(1), "dest.pair")?;
                    if x >= b {
                        return Err(field_err("dest", "pair hints must be distinct and sorted"));
                    }
                    Ok(Destination::Pair(x, b))
                }
                (Some(4), 2) => Ok(Destination::Mediators(AreaId(as_uint(
                    &a[1],
                    "dest.area",
                    u64::from(u32::MAX),
                )? as u32))),
                (Some(5), 2) => {
                    Ok(Destination::Group(GroupId(
                        as_uint(&a[1], "dest.group", u64::from(u32::MAX))? as u32,
                    )))
                }
                _ => Err(field_err("dest", "unknown destination")),
            }
        }
        _ => Err(field_err("dest", "expected an integer or an array")),
    }
}

pub(crate) fn next(it: &mut impl Iterator<Item = Value>) -> Result<Value, RecordError> {
    it.next()
        .ok_or(RecordError::Malformed("array shorter than declared"))
}

/// Decodes an envelope's bytes, which the scanner has already accepted as one canonical item
/// spanning exactly `bytes`.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Envelope, RecordError> {
    let v: Value = serde_cbor::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            RecordError::Truncated
        } else {
            RecordError::Malformed("invalid cbor (e.g. text that is not utf-8)")
        }
    })?;
    let a = match v {
        Value::Array(a) => a,
        _ => return Err(RecordError::Malformed("envelope is not an array")),
    };
    // Version first, so that a future version with a different shape says so.
    let version = match a.first() {
        Some(Value::Integer(i)) if *i >= 0 => *i as u64,
        _ => return Err(field_err("version", "expected an unsigned integer")),
    };
    if version != VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    if a.len() != 8 {
        return Err(field_err("envelope", "wrong number of items"));
    }
    let mut it = a.into_iter().skip(1);
    let kind_n = as_uint(&next(&mut it)?, "kind", u64::MAX)?;
    let kind = Kind::from_u64(kind_n).ok_or(RecordError::UnknownKind(kind_n))?;
    let author = as_hint(next(&mut it)?, "author")?;
    let seq = as_uint(&next(&mut it)?, "seq", u64::MAX)?;
    let created = Timestamp(as_uint(&next(&mut it)?, "created", u64::from(u32::MAX))? as u32);
    let ttl_min = as_uint(&next(&mut it)?, "ttl", u64::from(u32::MAX))? as u32;
    check_ttl(ttl_min)?;
    let dest = decode_dest(next(&mut it)?)?;
    let body = crate::kinds::decode(kind, next(&mut it)?)?;
    Ok(Envelope {
        author,
        seq,
        created,
        ttl_min,
        dest,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_refuses_non_canonical_heads() {
        // 0x18 0x05: the integer 5 in a two-byte head.
        assert_eq!(
            scan(&[0x18, 0x05]),
            Err(RecordError::NonCanonical("integer head longer than needed"))
        );
        assert_eq!(
            scan(&[0x19, 0x00, 0xff]),
            Err(RecordError::NonCanonical("integer head longer than needed"))
        );
        assert_eq!(
            scan(&[0x9f, 0xff]),
            Err(RecordError::NonCanonical("indefinite length"))
        );
        assert_eq!(
            scan(&[0xa0]),
            Err(RecordError::Malformed("maps are not allowed"))
        );
        assert_eq!(
            scan(&[0xc1, 0x00]),
            Err(RecordError::Malformed("tags are not allowed"))
        );
        assert_eq!(
            scan(&[0xf9, 0, 0]),
            Err(RecordError::Malformed("floats are not allowed"))
        );
        assert_eq!(scan(&[0x82, 0x01]), Err(RecordError::Truncated));
        assert_eq!(
            scan(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(RecordError::Truncated)
        );
        assert_eq!(scan(&[0x81, 0x81, 0x81, 0x81, 0x00]), Ok(5));
        assert_eq!(
            scan(&[0x81, 0x81, 0x81, 0x81, 0x81, 0x00]),
            Err(RecordError::TooDeep { max: MAX_DEPTH })
        );
        assert_eq!(scan(&[0x18, 0x18, 0x00]), Ok(2));
    }

    #[test]
    fn fix_packs_to_twelve_bytes_and_back() {
        let f = Fix {
            lat_e5: 3_001_234,
            lon_e5: 12_245_678,
            sog_dkn: Some(83),
            cog_ddeg: Some(1234),
            heading_deg: Some(120),
            nav_status: NavStatus::FISHING,
            fix_age_s: Some(3),
        };
        let p = pack_fix(&f).unwrap();
        assert_eq!(unpack_fix(&p).unwrap(), f);
        let south_west = Fix {
            lat_e5: -9_000_000,
            lon_e5: -18_000_000,
            sog_dkn: None,
            cog_ddeg: None,
            heading_deg: None,
            nav_status: NavStatus::UNDEFINED,
            fix_age_s: None,
        };
        assert_eq!(
            unpack_fix(&pack_fix(&south_west).unwrap()).unwrap(),
            south_west
        );
        let bad = Fix {
            lat_e5: 9_000_001,
            ..f
        };
        assert!(pack_fix(&bad).is_err());
    }

    #[test]
    fn unpack_refuses_out_of_range_bits() {
        // All ones: lat = -1, lon = -1, sog n/a, cog n/a, heading n/a, nav 15, age n/a.
        assert!(unpack_fix(&[0xff; 12]).is_ok());
        // cog = 4094 (not n/a, above 3599): set cog bits to 4094.
        let f = Fix::from_degrees(30.0, 122.0);
        let mut p = pack_fix(&f).unwrap();
        // cog occupies bits 61..73 from the MSB; rewrite via u128 arithmetic.
        let mut all = [0u8; 16];
        all[4..].copy_from_slice(&p);
        let mut v = u128::from_be_bytes(all);
        let shift = 96 - 25 - 26 - 10 - 12;
        v &= !(0xfffu128 << shift);
        v |= 4094u128 << shift;
        p.copy_from_slice(&v.to_be_bytes()[4..]);
        assert!(matches!(
            unpack_fix(&p),
            Err(RecordError::InvalidField {
                field: "fix.cog",
                ..
            })
        ));
    }
}
