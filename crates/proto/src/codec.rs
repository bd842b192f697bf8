//! The CBOR codec: the only module that names `serde_cbor`.
//!
//! Decoding is strict and happens in two passes. First a hand-written scanner walks the item
//! heads (no allocation) and refuses anything outside the format's one canonical form:
//! indefinite lengths, non-shortest integer heads, maps, tags, floats, nesting deeper than
//! [`MAX_DEPTH`], and items that run past the end; for records it also notes any text string
//! that is not UTF-8. Only then are the accepted bytes read in place ([`In`]: integers,
//! slices of the input, cursors over arrays; nothing allocated until a field becomes part of
//! the record) and mapped field by field onto the record types with typed errors. The scanner
//! is what makes the id well defined: every valid envelope has exactly one byte encoding, so
//! two nodes holding the same record hold the same bytes and agree on its id.
//!
//! Records were read through a `serde_cbor` value tree until issue 17 (an allocation for every
//! array, byte and text string of every record); the in-place reader refuses the same inputs
//! with the same errors in the same order (the test vectors check it). Encoding still builds a
//! `serde_cbor` value ([`Item`]) and writes it.
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
    let mut texts_utf8 = true;
    scan_item(bytes, &mut pos, 0, &mut texts_utf8)?;
    Ok(pos)
}

/// What a record's bytes must pass before they are read in place: [`scan`], and then every
/// text string UTF-8. The second is returned apart (`Err` in the pair) because it was found,
/// before issue 17, only when the value tree was built: after the check for trailing bytes,
/// before any field's own check, and callers keep that order.
pub(crate) fn scan_record(bytes: &[u8]) -> Result<(usize, Result<(), RecordError>), RecordError> {
    let mut pos = 0;
    let mut texts_utf8 = true;
    scan_item(bytes, &mut pos, 0, &mut texts_utf8)?;
    let texts = if texts_utf8 {
        Ok(())
    } else {
        Err(RecordError::Malformed(NOT_UTF8))
    };
    Ok((pos, texts))
}

/// The error of a record holding a text string that is not UTF-8 (the words of the value
/// tree's error, which reported it before issue 17).
const NOT_UTF8: &str = "invalid cbor (e.g. text that is not utf-8)";

fn take(bytes: &[u8], pos: &mut usize, n: usize) -> Result<u64, RecordError> {
    let end = pos.checked_add(n).ok_or(RecordError::Truncated)?;
    let slice = bytes.get(*pos..end).ok_or(RecordError::Truncated)?;
    *pos = end;
    Ok(slice.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn scan_item(
    bytes: &[u8],
    pos: &mut usize,
    depth: usize,
    texts_utf8: &mut bool,
) -> Result<(), RecordError> {
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
        2 => {
            let len = usize::try_from(arg).map_err(|_| RecordError::Truncated)?;
            take_slice(bytes, pos, len)
        }
        3 => {
            let len = usize::try_from(arg).map_err(|_| RecordError::Truncated)?;
            let start = *pos;
            take_slice(bytes, pos, len)?;
            if *texts_utf8
                && bytes
                    .get(start..*pos)
                    .is_some_and(|t| std::str::from_utf8(t).is_err())
            {
                *texts_utf8 = false;
            }
            Ok(())
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
                scan_item(bytes, pos, depth + 1, texts_utf8)?;
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
    let (end, texts) = scan_record(bytes)?;
    if end < bytes.len() {
        return Err(RecordError::TrailingBytes(bytes.len() - end));
    }
    texts?;
    let mut pos = 0;
    crate::kinds::decode(kind, read(bytes, &mut pos)?)
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
// Decoding (pass 2): reading the scanned bytes in place.

/// A CBOR item read in place from bytes the scanner accepted: integers as numbers, byte and
/// text strings as slices of the input, arrays as cursors over their items. Reading one
/// allocates nothing; a field allocates only when it becomes part of the record (a text, a
/// list).
#[derive(Clone, Copy, Debug)]
pub(crate) enum In<'a> {
    /// An unsigned integer (major type 0).
    Uint(u64),
    /// A negative integer (major type 1): no field takes one, so its value is not kept.
    Neg,
    /// A byte string.
    Bytes(&'a [u8]),
    /// A text string (UTF-8, checked).
    Text(&'a str),
    /// An array.
    Array(Seq<'a>),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// The items of an array, read one after another as they are asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seq<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: usize,
}

impl Seq<'_> {
    /// Items not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.left
    }
}

impl<'a> Iterator for Seq<'a> {
    type Item = In<'a>;

    fn next(&mut self) -> Option<In<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match read(self.bytes, &mut self.pos) {
            Ok(v) => Some(v),
            // Not on scanned bytes; ending the array makes its reader say it is short.
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

/// An item's head: major type, additional information, argument. The scanner has checked
/// the form; this only refuses to run past the end.
fn head(bytes: &[u8], pos: &mut usize) -> Result<(u8, u8, u64), RecordError> {
    let initial = *bytes.get(*pos).ok_or(RecordError::Truncated)?;
    *pos += 1;
    let info = initial & 0x1f;
    let arg = match info {
        0..=23 => u64::from(info),
        24..=27 => take(bytes, pos, 1usize << (info - 24))?,
        _ => return Err(RecordError::Malformed("item the scanner refuses")),
    };
    Ok((initial >> 5, info, arg))
}

fn slice<'a>(bytes: &'a [u8], pos: &mut usize, len: u64) -> Result<&'a [u8], RecordError> {
    let start = *pos;
    take_slice(
        bytes,
        pos,
        usize::try_from(len).map_err(|_| RecordError::Truncated)?,
    )?;
    bytes.get(start..*pos).ok_or(RecordError::Truncated)
}

/// Steps over one item (and all it holds).
fn skip(bytes: &[u8], pos: &mut usize) -> Result<(), RecordError> {
    let (major, _, arg) = head(bytes, pos)?;
    match major {
        2 | 3 => slice(bytes, pos, arg).map(|_| ()),
        4 => (0..arg).try_for_each(|_| skip(bytes, pos)),
        _ => Ok(()),
    }
}

/// Reads the item at `pos` and moves `pos` past it.
fn read<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<In<'a>, RecordError> {
    let (major, info, arg) = head(bytes, pos)?;
    Ok(match major {
        0 => In::Uint(arg),
        1 => In::Neg,
        2 => In::Bytes(slice(bytes, pos, arg)?),
        3 => In::Text(
            std::str::from_utf8(slice(bytes, pos, arg)?)
                .map_err(|_| RecordError::Malformed(NOT_UTF8))?,
        ),
        4 => {
            let start = *pos;
            (0..arg).try_for_each(|_| skip(bytes, pos))?;
            In::Array(Seq {
                bytes,
                pos: start,
                left: usize::try_from(arg).map_err(|_| RecordError::Truncated)?,
            })
        }
        7 if info == 20 => In::Bool(false),
        7 if info == 21 => In::Bool(true),
        7 if info == 22 => In::Null,
        _ => return Err(RecordError::Malformed("item the scanner refuses")),
    })
}

pub(crate) fn as_array<'a>(
    v: In<'a>,
    field: &'static str,
    len: usize,
) -> Result<Seq<'a>, RecordError> {
    match v {
        In::Array(a) if a.remaining() == len => Ok(a),
        In::Array(_) => Err(field_err(field, "wrong number of items")),
        _ => Err(field_err(field, "expected an array")),
    }
}

pub(crate) fn as_list<'a>(
    v: In<'a>,
    field: &'static str,
    max: usize,
) -> Result<Seq<'a>, RecordError> {
    match v {
        In::Array(a) if a.remaining() <= max => Ok(a),
        In::Array(_) => Err(field_err(field, "too many items")),
        _ => Err(field_err(field, "expected an array")),
    }
}

pub(crate) fn as_uint(v: &In<'_>, field: &'static str, max: u64) -> Result<u64, RecordError> {
    match v {
        In::Uint(i) if *i <= max => Ok(*i),
        In::Uint(_) | In::Neg => Err(field_err(field, "out of range")),
        _ => Err(field_err(field, "expected an unsigned integer")),
    }
}

pub(crate) fn as_bytes<const N: usize>(
    v: In<'_>,
    field: &'static str,
) -> Result<[u8; N], RecordError> {
    match v {
        In::Bytes(b) => b
            .try_into()
            .map_err(|_| field_err(field, "wrong byte length")),
        _ => Err(field_err(field, "expected a byte string")),
    }
}

pub(crate) fn as_text(v: In<'_>, field: &'static str, max: usize) -> Result<String, RecordError> {
    match v {
        In::Text(s) if s.len() <= max => Ok(s.to_owned()),
        In::Text(_) => Err(field_err(field, "text too long")),
        _ => Err(field_err(field, "expected a text string")),
    }
}

pub(crate) fn as_bool(v: &In<'_>, field: &'static str) -> Result<bool, RecordError> {
    match v {
        In::Bool(b) => Ok(*b),
        _ => Err(field_err(field, "expected a bool")),
    }
}

pub(crate) fn as_opt<'a, T>(
    v: In<'a>,
    f: impl FnOnce(In<'a>) -> Result<T, RecordError>,
) -> Result<Option<T>, RecordError> {
    match v {
        In::Null => Ok(None),
        other => f(other).map(Some),
    }
}

pub(crate) fn as_fix(v: In<'_>, field: &'static str) -> Result<Fix, RecordError> {
    match v {
        In::Bytes(b) => unpack_fix(b),
        _ => Err(field_err(field, "expected a packed fix")),
    }
}

pub(crate) fn as_key(v: In<'_>, field: &'static str) -> Result<PublicKey, RecordError> {
    let b: [u8; PUBLIC_KEY_LEN] = as_bytes(v, field)?;
    PublicKey::from_bytes(&b)
}

pub(crate) fn as_hint(v: In<'_>, field: &'static str) -> Result<KeyHint, RecordError> {
    Ok(KeyHint(as_bytes::<KEY_HINT_LEN>(v, field)?))
}

pub(crate) fn as_id(v: In<'_>, field: &'static str) -> Result<RecordId, RecordError> {
    Ok(RecordId(as_bytes::<RECORD_ID_LEN>(v, field)?))
}

/// A time, seconds since the epoch in 32 bits.
pub(crate) fn as_time(v: &In<'_>, field: &'static str) -> Result<Timestamp, RecordError> {
    Ok(Timestamp(as_uint(v, field, u64::from(u32::MAX))? as u32))
}

/// A coded value, looked up by its code (`from_code` of a [`crate::types`] enum).
pub(crate) fn as_code<T>(
    v: &In<'_>,
    field: &'static str,
    from_code: fn(u64) -> Option<T>,
) -> Result<T, RecordError> {
    from_code(as_uint(v, field, u64::MAX)?).ok_or(field_err(field, "unknown code"))
}

fn decode_dest(v: In<'_>) -> Result<Destination, RecordError> {
    match v {
        In::Uint(0) => Ok(Destination::Everyone),
        In::Uint(1) => Ok(Destination::Shore),
        In::Uint(_) | In::Neg => Err(field_err("dest", "unknown destination")),
        In::Array(a) => {
            let len = a.remaining();
            // At most three items are read; a longer array is refused by its length below.
            let mut items = a.take(3);
            let first = items.next();
            let (second, third) = (items.next(), items.next());
            let tag = first.map(|t| as_uint(&t, "dest", 255)).transpose()?;
            match (tag, len, second, third) {
                (Some(2), 2, Some(h), _) => Ok(Destination::Node(as_hint(h, "dest.node")?)),
                (Some(3), 3, Some(x), Some(b)) => {
                    // The second hint is read first, as it always was.
                    let b = as_hint(b, "dest.pair")?;
                    let x = as_hint(x, "dest.pair")?;
                    if x >= b {
                        return Err(field_err("dest", "pair hints must be distinct and sorted"));
                    }
                    Ok(Destination::Pair(x, b))
                }
                (Some(4), 2, Some(area), _) => Ok(Destination::Mediators(AreaId(as_uint(
                    &area,
                    "dest.area",
                    u64::from(u32::MAX),
                )?
                    as u32))),
                (Some(5), 2, Some(group), _) => Ok(Destination::Group(GroupId(as_uint(
                    &group,
                    "dest.group",
                    u64::from(u32::MAX),
                )?
                    as u32))),
                _ => Err(field_err("dest", "unknown destination")),
            }
        }
        _ => Err(field_err("dest", "expected an integer or an array")),
    }
}

pub(crate) fn next<'a>(it: &mut impl Iterator<Item = In<'a>>) -> Result<In<'a>, RecordError> {
    it.next()
        .ok_or(RecordError::Malformed("array shorter than declared"))
}

/// Decodes an envelope's bytes, which [`scan_record`] has already accepted as one canonical
/// item spanning exactly `bytes`, with every text UTF-8.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Envelope, RecordError> {
    let mut pos = 0;
    let a = match read(bytes, &mut pos)? {
        In::Array(a) => a,
        _ => return Err(RecordError::Malformed("envelope is not an array")),
    };
    // Version first, so that a future version with a different shape says so.
    let mut first = a;
    let version = match first.next() {
        Some(In::Uint(v)) => v,
        _ => return Err(field_err("version", "expected an unsigned integer")),
    };
    if version != VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    if a.remaining() != 8 {
        return Err(field_err("envelope", "wrong number of items"));
    }
    let mut it = a.skip(1);
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

    /// A text envelope by hand: `version`, its text's bytes, and `extra` bytes after the
    /// envelope; then 64 bytes where the signature goes (decoding does not check it).
    fn hand_record(version: u8, text: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut b = vec![0x88, version, 0x0a, 0x48];
        b.extend_from_slice(&[7; 8]);
        b.extend_from_slice(&[0x01, 0x1a, 0x6a, 0xfd, 0x86, 0x84, 0x18, 0x3c, 0x00, 0x82]);
        b.push(0x60 + text.len() as u8);
        b.extend_from_slice(text);
        b.push(0xf4);
        b.extend_from_slice(extra);
        b.extend_from_slice(&[0; 64]);
        b
    }

    /// The in-place reader refuses what the value tree refused, in the same order: text that
    /// is not UTF-8 after trailing bytes, and before any field's own check (here the version).
    #[test]
    fn text_that_is_not_utf8_is_refused_where_the_value_tree_refused_it() {
        let decode = |b: &[u8]| crate::Unverified::decode(b).map(|u| u.id());
        assert!(decode(&hand_record(1, b"ok", &[])).is_ok());
        assert_eq!(
            decode(&hand_record(1, &[0xff], &[])),
            Err(RecordError::Malformed(NOT_UTF8))
        );
        assert_eq!(
            decode(&hand_record(2, b"ok", &[])),
            Err(RecordError::UnsupportedVersion(2))
        );
        assert_eq!(
            decode(&hand_record(2, &[0xff], &[])),
            Err(RecordError::Malformed(NOT_UTF8))
        );
        assert_eq!(
            decode(&hand_record(2, &[0xff], &[0x00])),
            Err(RecordError::TrailingBytes(1))
        );
        // A sealed record's opened body is read the same way.
        assert_eq!(
            decode_body_bytes(Kind::Text, &[0x82, 0x61, 0xff, 0xf4]),
            Err(RecordError::Malformed(NOT_UTF8))
        );
        assert_eq!(
            decode_body_bytes(Kind::Text, &[0x82, 0x61, 0xff, 0xf4, 0x00]),
            Err(RecordError::TrailingBytes(1))
        );
    }

    /// Arrays are read lazily; a nested array between two fields is stepped over whole, and a
    /// destination array longer than its kind's is refused by its length.
    #[test]
    fn arrays_are_stepped_over_and_destinations_checked_by_length() {
        let mut pos = 0;
        let bytes = [0x83, 0x82, 0x01, 0x82, 0x02, 0x03, 0x41, 0xaa, 0xf6];
        let In::Array(mut a) = read(&bytes, &mut pos).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(pos, bytes.len());
        assert!(matches!(a.next(), Some(In::Array(s)) if s.remaining() == 2));
        assert!(matches!(a.next(), Some(In::Bytes([0xaa]))));
        assert!(matches!(a.next(), Some(In::Null)));
        assert!(a.next().is_none());
        let dest = |b: &[u8]| {
            let mut pos = 0;
            decode_dest(read(b, &mut pos).unwrap())
        };
        assert_eq!(
            dest(&[0x82, 0x05, 0x07]),
            Ok(Destination::Group(GroupId(7)))
        );
        assert_eq!(
            dest(&[0x83, 0x05, 0x07, 0x07]),
            Err(field_err("dest", "unknown destination"))
        );
        assert_eq!(
            dest(&[0x82, 0x19, 0x01, 0x00, 0x07]),
            Err(field_err("dest", "out of range"))
        );
        assert_eq!(dest(&[0x20]), Err(field_err("dest", "unknown destination")));
        assert_eq!(
            dest(&[0x40]),
            Err(field_err("dest", "expected an integer or an array"))
        );
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
