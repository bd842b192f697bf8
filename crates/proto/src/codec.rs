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
/// Minutes in a day: the upper bound of [`DailyHours`].
const DAY_MIN: u64 = 1440;

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

fn field_err(field: &'static str, reason: &'static str) -> RecordError {
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

fn check_categories(c: CategorySet) -> Result<(), RecordError> {
    if c.0 == 0 || c.0 & !CategorySet::ALL.0 != 0 {
        return Err(field_err(
            "mediator_duty.categories",
            "must name at least one known category",
        ));
    }
    Ok(())
}

fn check_daily(d: &DailyHours) -> Result<(), RecordError> {
    if u64::from(d.start_min) >= DAY_MIN {
        return Err(field_err("mediator_duty.day_start", "must be below 1440"));
    }
    if d.end_min == 0 || u64::from(d.end_min) > DAY_MIN || d.end_min == d.start_min {
        return Err(field_err(
            "mediator_duty.day_end",
            "must be 1 to 1440 and differ from the start",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Encoding.

fn uint(n: u64) -> Value {
    Value::Integer(i128::from(n))
}

fn text(s: &str, field: &'static str, max: usize) -> Result<Value, RecordError> {
    if s.len() > max {
        return Err(field_err(field, "text too long"));
    }
    Ok(Value::Text(s.to_owned()))
}

fn opt_fix(f: &Option<Fix>) -> Result<Value, RecordError> {
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

fn body_value(b: &Body) -> Result<Value, RecordError> {
    Ok(match b {
        Body::Position(f) => Value::Bytes(pack_fix(f)?.to_vec()),
        Body::PairAlert {
            alert,
            fix,
            text: t,
        } => Value::Array(vec![
            uint(*alert as u64),
            opt_fix(fix)?,
            text(t, "pair_alert.text", MAX_SHORT_TEXT)?,
        ]),
        Body::Distress {
            nature,
            fix,
            persons,
            text: t,
        } => Value::Array(vec![
            uint(*nature as u64),
            opt_fix(fix)?,
            persons.map_or(Value::Null, |p| uint(u64::from(p))),
            text(t, "distress.text", MAX_SHORT_TEXT)?,
        ]),
        Body::DistressUpdate {
            distress,
            status,
            text: t,
        } => {
            let (code, eta) = match status {
                DistressStatus::Acknowledged => (0, Value::Null),
                DistressStatus::Responding { eta_min } => (1, uint(u64::from(*eta_min))),
                DistressStatus::OnScene => (2, Value::Null),
                DistressStatus::Resolved => (3, Value::Null),
                DistressStatus::Cancelled => (4, Value::Null),
            };
            Value::Array(vec![
                Value::Bytes(distress.0.to_vec()),
                uint(code),
                eta,
                text(t, "distress_update.text", MAX_SHORT_TEXT)?,
            ])
        }
        Body::DisputeReport {
            category,
            parties,
            fix,
            description,
            evidence,
        } => {
            if parties.len() > MAX_PARTIES {
                return Err(field_err("dispute.parties", "too many"));
            }
            if evidence.len() > MAX_EVIDENCE {
                return Err(field_err("dispute.evidence", "too many"));
            }
            let parties = parties
                .iter()
                .map(|p| {
                    Ok(Value::Array(vec![
                        p.key.map_or(Value::Null, |k| Value::Bytes(k.0.to_vec())),
                        text(&p.name, "dispute.party.name", MAX_NAME)?,
                    ]))
                })
                .collect::<Result<Vec<_>, RecordError>>()?;
            Value::Array(vec![
                uint(*category as u64),
                Value::Array(parties),
                opt_fix(fix)?,
                text(description, "dispute.description", MAX_DESCRIPTION)?,
                Value::Array(evidence.iter().map(|e| Value::Bytes(e.to_vec())).collect()),
            ])
        }
        Body::CaseUpdate {
            case,
            status,
            text: t,
        } => {
            let (code, esc) = match status {
                CaseStatus::Accepted => (0, Value::Null),
                CaseStatus::InMediation => (1, Value::Null),
                CaseStatus::AgreementProposed => (2, Value::Null),
                CaseStatus::Escalated(e) => (3, uint(*e as u64)),
                CaseStatus::Closed => (4, Value::Null),
            };
            Value::Array(vec![
                Value::Bytes(case.0.to_vec()),
                uint(code),
                esc,
                text(t, "case_update.text", MAX_DESCRIPTION)?,
            ])
        }
        Body::AgreementSignature { case, agreement } => Value::Array(vec![
            Value::Bytes(case.0.to_vec()),
            Value::Bytes(agreement.to_vec()),
        ]),
        Body::Receipt { ids } => {
            if ids.is_empty() || ids.len() > MAX_RECEIPT_IDS {
                return Err(field_err("receipt.ids", "must hold 1 to 100 ids"));
            }
            Value::Array(vec![Value::Array(
                ids.iter().map(|i| Value::Bytes(i.0.to_vec())).collect(),
            )])
        }
        Body::Certificate {
            subject,
            name,
            registration,
            mmsi,
            role,
            valid_from,
            valid_until,
        } => {
            check_mmsi(*mmsi)?;
            if valid_until <= valid_from {
                return Err(field_err("certificate.validity", "ends before it starts"));
            }
            Value::Array(vec![
                Value::Bytes(subject.to_bytes().to_vec()),
                text(name, "certificate.name", MAX_NAME)?,
                text(registration, "certificate.registration", MAX_NAME)?,
                mmsi.map_or(Value::Null, |m| uint(u64::from(m))),
                uint(*role as u64),
                uint(valid_from.secs()),
                uint(valid_until.secs()),
            ])
        }
        Body::Revocation { subject, reason } => Value::Array(vec![
            Value::Bytes(subject.to_bytes().to_vec()),
            uint(*reason as u64),
        ]),
        Body::Text { text: t, safety } => Value::Array(vec![
            text(t, "text.text", MAX_SHORT_TEXT)?,
            Value::Bool(*safety),
        ]),
        Body::Pairing { partner, paired } => Value::Array(vec![
            Value::Bytes(partner.to_bytes().to_vec()),
            Value::Bool(*paired),
        ]),
        Body::BuddyWatch {
            partner,
            overdue,
            last_heard,
            fix,
        } => Value::Array(vec![
            Value::Bytes(partner.to_bytes().to_vec()),
            Value::Bool(*overdue),
            last_heard.map_or(Value::Null, |t| uint(t.secs())),
            opt_fix(fix)?,
        ]),
        Body::Sealed(sealed) => sealed_value(sealed)?,
        Body::MediatorDuty {
            areas,
            categories,
            from,
            until,
            daily,
        } => {
            if areas.len() > MAX_DUTY_AREAS {
                return Err(field_err("mediator_duty.areas", "too many"));
            }
            let areas = areas
                .iter()
                .map(|a| {
                    Ok(Value::Array(vec![
                        uint(u64::from(a.area.0)),
                        Value::Bytes(pack_geobox(&a.bounds)?.to_vec()),
                    ]))
                })
                .collect::<Result<Vec<_>, RecordError>>()?;
            check_categories(*categories)?;
            if until <= from {
                return Err(field_err("mediator_duty.until", "must be after from"));
            }
            check_daily(daily)?;
            Value::Array(vec![
                Value::Array(areas),
                uint(u64::from(categories.0)),
                uint(from.secs()),
                uint(until.secs()),
                uint(u64::from(daily.start_min)),
                uint(u64::from(daily.end_min)),
            ])
        }
    })
}

fn check_sealed_shape(
    inner: Kind,
    priority: Priority,
    stanzas: usize,
    ct_len: usize,
) -> Result<(), RecordError> {
    if !crate::seal::sealable(inner) {
        return Err(field_err("sealed.kind", "not a sealable kind"));
    }
    if !crate::seal::priority_allowed(inner, priority) {
        return Err(field_err(
            "sealed.priority",
            "not a priority of the inner kind",
        ));
    }
    if stanzas == 0 || stanzas > crate::seal::MAX_RECIPIENTS {
        return Err(field_err("sealed.stanzas", "must hold 1 to 16 stanzas"));
    }
    if ct_len <= crate::seal::TAG_LEN {
        return Err(field_err("sealed.ciphertext", "shorter than a tag"));
    }
    Ok(())
}

fn sealed_value(s: &crate::seal::Sealed) -> Result<Value, RecordError> {
    check_sealed_shape(s.inner, s.priority, s.stanzas.len(), s.ciphertext.len())?;
    let mut stanzas = Vec::with_capacity(s.stanzas.len() * crate::seal::STANZA_LEN);
    for st in &s.stanzas {
        stanzas.extend_from_slice(&st.hint);
        stanzas.extend_from_slice(&st.wrapped);
    }
    Ok(Value::Array(vec![
        uint(s.inner as u64),
        uint(s.priority as u64),
        Value::Bytes(s.ephemeral.to_vec()),
        Value::Bytes(stanzas),
        Value::Bytes(s.ciphertext.clone()),
    ]))
}

const PRIORITIES: [(u64, Priority); 5] = [
    (0, Priority::Distress),
    (1, Priority::Safety),
    (2, Priority::Control),
    (3, Priority::Case),
    (4, Priority::Routine),
];

fn decode_sealed(v: Value) -> Result<Body, RecordError> {
    use crate::seal::{SEAL_HINT_LEN, STANZA_LEN, Sealed, Stanza, WRAPPED_LEN};
    let mut a = as_array(v, "sealed", 5)?.into_iter();
    let inner_n = as_uint(&next(&mut a)?, "sealed.kind", u64::MAX)?;
    let inner = Kind::from_u64(inner_n).ok_or(field_err("sealed.kind", "unknown kind"))?;
    let priority = enum_code(&next(&mut a)?, "sealed.priority", &PRIORITIES)?;
    let ephemeral = as_bytes::<32>(next(&mut a)?, "sealed.ephemeral")?;
    let raw = match next(&mut a)? {
        Value::Bytes(b) => b,
        _ => return Err(field_err("sealed.stanzas", "expected a byte string")),
    };
    if raw.len() % STANZA_LEN != 0 {
        return Err(field_err("sealed.stanzas", "truncated stanza"));
    }
    let ciphertext = match next(&mut a)? {
        Value::Bytes(b) => b,
        _ => return Err(field_err("sealed.ciphertext", "expected a byte string")),
    };
    check_sealed_shape(inner, priority, raw.len() / STANZA_LEN, ciphertext.len())?;
    let stanzas = raw
        .chunks_exact(STANZA_LEN)
        .map(|c| {
            let mut hint = [0u8; SEAL_HINT_LEN];
            hint.copy_from_slice(&c[..SEAL_HINT_LEN]);
            let mut wrapped = [0u8; WRAPPED_LEN];
            wrapped.copy_from_slice(&c[SEAL_HINT_LEN..]);
            Stanza { hint, wrapped }
        })
        .collect();
    Ok(Body::Sealed(Sealed {
        inner,
        priority,
        ephemeral,
        stanzas,
        ciphertext,
    }))
}

/// The canonical CBOR of a body alone: what a sealed record encrypts.
pub(crate) fn encode_body(b: &Body) -> Result<Vec<u8>, RecordError> {
    serde_cbor::to_vec(&body_value(b)?).map_err(|_| RecordError::Malformed("cbor encoding failed"))
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
    decode_body(kind, v)
}

fn check_mmsi(mmsi: Option<u32>) -> Result<(), RecordError> {
    if let Some(m) = mmsi {
        if !(100_000_000..=999_999_999).contains(&m) {
            return Err(field_err("certificate.mmsi", "must have 9 digits"));
        }
        // 970/972/974 blocks belong to real rescue devices (AIS-SART, MOB, EPIRB).
        if matches!(m / 1_000_000, 970 | 972 | 974) {
            return Err(field_err("certificate.mmsi", "reserved for rescue devices"));
        }
    }
    Ok(())
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
        body_value(&env.body)?,
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

fn as_array(v: Value, field: &'static str, len: usize) -> Result<Vec<Value>, RecordError> {
    match v {
        Value::Array(a) if a.len() == len => Ok(a),
        Value::Array(_) => Err(field_err(field, "wrong number of items")),
        _ => Err(field_err(field, "expected an array")),
    }
}

fn as_list(v: Value, field: &'static str, max: usize) -> Result<Vec<Value>, RecordError> {
    match v {
        Value::Array(a) if a.len() <= max => Ok(a),
        Value::Array(_) => Err(field_err(field, "too many items")),
        _ => Err(field_err(field, "expected an array")),
    }
}

fn as_uint(v: &Value, field: &'static str, max: u64) -> Result<u64, RecordError> {
    match v {
        Value::Integer(i) if *i >= 0 && *i <= i128::from(max) => Ok(*i as u64),
        Value::Integer(_) => Err(field_err(field, "out of range")),
        _ => Err(field_err(field, "expected an unsigned integer")),
    }
}

fn as_bytes<const N: usize>(v: Value, field: &'static str) -> Result<[u8; N], RecordError> {
    match v {
        Value::Bytes(b) => b
            .try_into()
            .map_err(|_| field_err(field, "wrong byte length")),
        _ => Err(field_err(field, "expected a byte string")),
    }
}

fn as_text(v: Value, field: &'static str, max: usize) -> Result<String, RecordError> {
    match v {
        Value::Text(s) if s.len() <= max => Ok(s),
        Value::Text(_) => Err(field_err(field, "text too long")),
        _ => Err(field_err(field, "expected a text string")),
    }
}

fn as_bool(v: &Value, field: &'static str) -> Result<bool, RecordError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(field_err(field, "expected a bool")),
    }
}

fn as_opt<T>(
    v: Value,
    f: impl FnOnce(Value) -> Result<T, RecordError>,
) -> Result<Option<T>, RecordError> {
    match v {
        Value::Null => Ok(None),
        other => f(other).map(Some),
    }
}

fn as_fix(v: Value, field: &'static str) -> Result<Fix, RecordError> {
    match v {
        Value::Bytes(b) => unpack_fix(&b),
        _ => Err(field_err(field, "expected a packed fix")),
    }
}

fn as_key(v: Value, field: &'static str) -> Result<PublicKey, RecordError> {
    let b: [u8; PUBLIC_KEY_LEN] = as_bytes(v, field)?;
    PublicKey::from_bytes(&b)
}

fn as_hint(v: Value, field: &'static str) -> Result<KeyHint, RecordError> {
    Ok(KeyHint(as_bytes::<KEY_HINT_LEN>(v, field)?))
}

fn as_id(v: Value, field: &'static str) -> Result<RecordId, RecordError> {
    Ok(RecordId(as_bytes::<RECORD_ID_LEN>(v, field)?))
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

fn enum_code<T: Copy>(
    v: &Value,
    field: &'static str,
    table: &[(u64, T)],
) -> Result<T, RecordError> {
    let n = as_uint(v, field, u64::MAX)?;
    table
        .iter()
        .find(|(c, _)| *c == n)
        .map(|(_, t)| *t)
        .ok_or(field_err(field, "unknown code"))
}

const ALERTS: [(u64, PairAlertKind); 6] = [
    (0, PairAlertKind::CollisionRisk),
    (1, PairAlertKind::GearFouled),
    (2, PairAlertKind::ManOverboard),
    (3, PairAlertKind::EngineFailure),
    (4, PairAlertKind::Weather),
    (5, PairAlertKind::Other),
];
const NATURES: [(u64, DistressNature); 12] = [
    (0, DistressNature::Fire),
    (1, DistressNature::Flooding),
    (2, DistressNature::Collision),
    (3, DistressNature::Grounding),
    (4, DistressNature::Listing),
    (5, DistressNature::Sinking),
    (6, DistressNature::Adrift),
    (7, DistressNature::Undesignated),
    (8, DistressNature::Abandoning),
    (9, DistressNature::Piracy),
    (10, DistressNature::ManOverboard),
    (12, DistressNature::Epirb),
];
const CATEGORIES: [(u64, DisputeCategory); 5] = [
    (0, DisputeCategory::FishingGround),
    (1, DisputeCategory::GearDamage),
    (2, DisputeCategory::Collision),
    (3, DisputeCategory::CatchOrPrice),
    (4, DisputeCategory::Other),
];
const ESCALATIONS: [(u64, Escalation); 2] = [(0, Escalation::CoastGuard), (1, Escalation::Court)];
const ROLES: [(u64, Role); 4] = [
    (0, Role::Vessel),
    (1, Role::Mediator),
    (2, Role::Shore),
    (3, Role::Authority),
];
const REASONS: [(u64, RevocationReason); 4] = [
    (0, RevocationReason::Unspecified),
    (1, RevocationReason::Compromised),
    (2, RevocationReason::Retired),
    (3, RevocationReason::Superseded),
];

/// Looks up a pair alert kind by wire code.
pub fn pair_alert_from_code(n: u64) -> Option<PairAlertKind> {
    ALERTS.iter().find(|(c, _)| *c == n).map(|(_, k)| *k)
}
/// Looks up a distress nature by DSC code.
pub fn nature_from_code(n: u64) -> Option<DistressNature> {
    NATURES.iter().find(|(c, _)| *c == n).map(|(_, k)| *k)
}
/// Looks up a dispute category by wire code.
pub fn category_from_code(n: u64) -> Option<DisputeCategory> {
    CATEGORIES.iter().find(|(c, _)| *c == n).map(|(_, k)| *k)
}

fn decode_body(kind: Kind, v: Value) -> Result<Body, RecordError> {
    Ok(match kind {
        Kind::Sealed => decode_sealed(v)?,
        Kind::Position => Body::Position(as_fix(v, "position")?),
        Kind::PairAlert => {
            let mut a = as_array(v, "pair_alert", 3)?.into_iter();
            let alert = enum_code(&next(&mut a)?, "pair_alert.kind", &ALERTS)?;
            let fix = as_opt(next(&mut a)?, |v| as_fix(v, "pair_alert.fix"))?;
            let text = as_text(next(&mut a)?, "pair_alert.text", MAX_SHORT_TEXT)?;
            Body::PairAlert { alert, fix, text }
        }
        Kind::Distress => {
            let mut a = as_array(v, "distress", 4)?.into_iter();
            let nature = enum_code(&next(&mut a)?, "distress.nature", &NATURES)?;
            let fix = as_opt(next(&mut a)?, |v| as_fix(v, "distress.fix"))?;
            let persons = as_opt(next(&mut a)?, |v| {
                as_uint(&v, "distress.persons", u64::from(u16::MAX)).map(|p| p as u16)
            })?;
            let text = as_text(next(&mut a)?, "distress.text", MAX_SHORT_TEXT)?;
            Body::Distress {
                nature,
                fix,
                persons,
                text,
            }
        }
        Kind::DistressUpdate => {
            let mut a = as_array(v, "distress_update", 4)?.into_iter();
            let distress = as_id(next(&mut a)?, "distress_update.distress")?;
            let code = as_uint(&next(&mut a)?, "distress_update.status", 4)?;
            let eta = next(&mut a)?;
            let status = match (code, eta) {
                (1, eta) => DistressStatus::Responding {
                    eta_min: as_uint(&eta, "distress_update.eta", u64::from(u16::MAX))? as u16,
                },
                (_, Value::Null) => match code {
                    0 => DistressStatus::Acknowledged,
                    2 => DistressStatus::OnScene,
                    3 => DistressStatus::Resolved,
                    _ => DistressStatus::Cancelled,
                },
                _ => return Err(field_err("distress_update.eta", "only when responding")),
            };
            let text = as_text(next(&mut a)?, "distress_update.text", MAX_SHORT_TEXT)?;
            Body::DistressUpdate {
                distress,
                status,
                text,
            }
        }
        Kind::DisputeReport => {
            let mut a = as_array(v, "dispute", 5)?.into_iter();
            let category = enum_code(&next(&mut a)?, "dispute.category", &CATEGORIES)?;
            let parties = as_list(next(&mut a)?, "dispute.parties", MAX_PARTIES)?
                .into_iter()
                .map(|p| {
                    let mut p = as_array(p, "dispute.party", 2)?.into_iter();
                    let key = as_opt(next(&mut p)?, |v| as_hint(v, "dispute.party.key"))?;
                    let name = as_text(next(&mut p)?, "dispute.party.name", MAX_NAME)?;
                    Ok(Party { key, name })
                })
                .collect::<Result<Vec<_>, RecordError>>()?;
            let fix = as_opt(next(&mut a)?, |v| as_fix(v, "dispute.fix"))?;
            let description = as_text(next(&mut a)?, "dispute.description", MAX_DESCRIPTION)?;
            let evidence = as_list(next(&mut a)?, "dispute.evidence", MAX_EVIDENCE)?
                .into_iter()
                .map(|e| as_bytes::<32>(e, "dispute.evidence"))
                .collect::<Result<Vec<_>, _>>()?;
            Body::DisputeReport {
                category,
                parties,
                fix,
                description,
                evidence,
            }
        }
        Kind::CaseUpdate => {
            let mut a = as_array(v, "case_update", 4)?.into_iter();
            let case = as_id(next(&mut a)?, "case_update.case")?;
            let code = as_uint(&next(&mut a)?, "case_update.status", 4)?;
            let esc = next(&mut a)?;
            let status = match (code, esc) {
                (3, e) => {
                    CaseStatus::Escalated(enum_code(&e, "case_update.escalation", &ESCALATIONS)?)
                }
                (_, Value::Null) => match code {
                    0 => CaseStatus::Accepted,
                    1 => CaseStatus::InMediation,
                    2 => CaseStatus::AgreementProposed,
                    _ => CaseStatus::Closed,
                },
                _ => return Err(field_err("case_update.escalation", "only when escalated")),
            };
            let text = as_text(next(&mut a)?, "case_update.text", MAX_DESCRIPTION)?;
            Body::CaseUpdate { case, status, text }
        }
        Kind::AgreementSignature => {
            let mut a = as_array(v, "agreement_signature", 2)?.into_iter();
            let case = as_id(next(&mut a)?, "agreement_signature.case")?;
            let agreement = as_bytes::<32>(next(&mut a)?, "agreement_signature.agreement")?;
            Body::AgreementSignature { case, agreement }
        }
        Kind::Receipt => {
            let mut a = as_array(v, "receipt", 1)?.into_iter();
            let ids = as_list(next(&mut a)?, "receipt.ids", MAX_RECEIPT_IDS)?
                .into_iter()
                .map(|i| as_id(i, "receipt.ids"))
                .collect::<Result<Vec<_>, _>>()?;
            if ids.is_empty() {
                return Err(field_err("receipt.ids", "must hold 1 to 100 ids"));
            }
            Body::Receipt { ids }
        }
        Kind::Certificate => {
            let mut a = as_array(v, "certificate", 7)?.into_iter();
            let subject = as_key(next(&mut a)?, "certificate.subject")?;
            let name = as_text(next(&mut a)?, "certificate.name", MAX_NAME)?;
            let registration = as_text(next(&mut a)?, "certificate.registration", MAX_NAME)?;
            let mmsi = as_opt(next(&mut a)?, |v| {
                as_uint(&v, "certificate.mmsi", u64::from(u32::MAX)).map(|m| m as u32)
            })?;
            check_mmsi(mmsi)?;
            let role = enum_code(&next(&mut a)?, "certificate.role", &ROLES)?;
            let max = u64::from(u32::MAX);
            let valid_from =
                Timestamp(as_uint(&next(&mut a)?, "certificate.valid_from", max)? as u32);
            let valid_until =
                Timestamp(as_uint(&next(&mut a)?, "certificate.valid_until", max)? as u32);
            if valid_until <= valid_from {
                return Err(field_err("certificate.validity", "ends before it starts"));
            }
            Body::Certificate {
                subject,
                name,
                registration,
                mmsi,
                role,
                valid_from,
                valid_until,
            }
        }
        Kind::Revocation => {
            let mut a = as_array(v, "revocation", 2)?.into_iter();
            let subject = as_key(next(&mut a)?, "revocation.subject")?;
            let reason = enum_code(&next(&mut a)?, "revocation.reason", &REASONS)?;
            Body::Revocation { subject, reason }
        }
        Kind::Text => {
            let mut a = as_array(v, "text", 2)?.into_iter();
            let text = as_text(next(&mut a)?, "text.text", MAX_SHORT_TEXT)?;
            let safety = as_bool(&next(&mut a)?, "text.safety")?;
            Body::Text { text, safety }
        }
        Kind::Pairing => {
            let mut a = as_array(v, "pairing", 2)?.into_iter();
            let partner = as_key(next(&mut a)?, "pairing.partner")?;
            let paired = as_bool(&next(&mut a)?, "pairing.paired")?;
            Body::Pairing { partner, paired }
        }
        Kind::BuddyWatch => {
            let mut a = as_array(v, "buddy_watch", 4)?.into_iter();
            let partner = as_key(next(&mut a)?, "buddy_watch.partner")?;
            let overdue = as_bool(&next(&mut a)?, "buddy_watch.overdue")?;
            let last_heard = as_opt(next(&mut a)?, |v| {
                as_uint(&v, "buddy_watch.last_heard", u64::from(u32::MAX))
                    .map(|t| Timestamp(t as u32))
            })?;
            let fix = as_opt(next(&mut a)?, |v| as_fix(v, "buddy_watch.fix"))?;
            Body::BuddyWatch {
                partner,
                overdue,
                last_heard,
                fix,
            }
        }
        Kind::MediatorDuty => {
            let mut a = as_array(v, "mediator_duty", 6)?.into_iter();
            let areas = as_list(next(&mut a)?, "mediator_duty.areas", MAX_DUTY_AREAS)?
                .into_iter()
                .map(|area| {
                    let mut p = as_array(area, "mediator_duty.area", 2)?.into_iter();
                    let id = as_uint(&next(&mut p)?, "mediator_duty.area.id", u64::from(u32::MAX))?;
                    let bounds = match next(&mut p)? {
                        Value::Bytes(b) => unpack_geobox(&b)?,
                        _ => {
                            return Err(field_err(
                                "mediator_duty.area.bounds",
                                "expected a byte string",
                            ));
                        }
                    };
                    Ok(DutyArea {
                        area: AreaId(id as u32),
                        bounds,
                    })
                })
                .collect::<Result<Vec<_>, RecordError>>()?;
            let categories = CategorySet(as_uint(
                &next(&mut a)?,
                "mediator_duty.categories",
                u64::from(u8::MAX),
            )? as u8);
            check_categories(categories)?;
            let max = u64::from(u32::MAX);
            let from = Timestamp(as_uint(&next(&mut a)?, "mediator_duty.from", max)? as u32);
            let until = Timestamp(as_uint(&next(&mut a)?, "mediator_duty.until", max)? as u32);
            if until <= from {
                return Err(field_err("mediator_duty.until", "must be after from"));
            }
            let start = as_uint(&next(&mut a)?, "mediator_duty.day_start", DAY_MIN - 1)?;
            let end = as_uint(&next(&mut a)?, "mediator_duty.day_end", DAY_MIN)?;
            let daily = DailyHours {
                start_min: start as u16,
                end_min: end as u16,
            };
            check_daily(&daily)?;
            Body::MediatorDuty {
                areas,
                categories,
                from,
                until,
                daily,
            }
        }
    })
}

fn next(it: &mut impl Iterator<Item = Value>) -> Result<Value, RecordError> {
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
    let body = decode_body(kind, next(&mut it)?)?;
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
