//! Kind 8, `certificate`: an authority binding a key to a vessel or station, a role and a
//! validity.

use serde_json::{Value as J, json};

use super::views::{hx, opt};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, Keypair, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Control
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

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Certificate {
        subject,
        name,
        registration,
        mmsi,
        role,
        valid_from,
        valid_until,
    } = b
    else {
        return Err(other_kind());
    };
    check_mmsi(*mmsi)?;
    if valid_until <= valid_from {
        return Err(field_err("certificate.validity", "ends before it starts"));
    }
    Ok(Item::Array(vec![
        Item::Bytes(subject.to_bytes().to_vec()),
        text(name, "certificate.name", MAX_NAME)?,
        text(registration, "certificate.registration", MAX_NAME)?,
        mmsi.map_or(Item::Null, |m| uint(u64::from(m))),
        uint(u64::from(role.code())),
        uint(valid_from.secs()),
        uint(valid_until.secs()),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "certificate", 7)?.into_iter();
    let subject = as_key(next(&mut a)?, "certificate.subject")?;
    let name = as_text(next(&mut a)?, "certificate.name", MAX_NAME)?;
    let registration = as_text(next(&mut a)?, "certificate.registration", MAX_NAME)?;
    let mmsi = as_opt(next(&mut a)?, |v| {
        as_uint(&v, "certificate.mmsi", u64::from(u32::MAX)).map(|m| m as u32)
    })?;
    check_mmsi(mmsi)?;
    let role = as_code(&next(&mut a)?, "certificate.role", Role::from_code)?;
    let valid_from = as_time(&next(&mut a)?, "certificate.valid_from")?;
    let valid_until = as_time(&next(&mut a)?, "certificate.valid_until")?;
    if valid_until <= valid_from {
        return Err(field_err("certificate.validity", "ends before it starts"));
    }
    Ok(Body::Certificate {
        subject,
        name,
        registration,
        mmsi,
        role,
        valid_from,
        valid_until,
    })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Certificate {
        subject,
        name,
        registration,
        mmsi,
        role,
        valid_from,
        valid_until,
    } = b
    else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({
            "subject": subject.to_string(), "name": name, "registration": registration, "mmsi": mmsi,
            "role": role.name(), "valid_from": valid_from.0, "valid_until": valid_until.0 })
        }
        Form::Wire => {
            json!({
                "subject": hx(subject.as_bytes()), "name": name, "registration": registration,
                "mmsi": opt(*mmsi), "role": *role as u8, "valid_from": valid_from.0,
                "valid_until": valid_until.0,
            })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Everyone,
        30 * 24 * 60,
        Body::Certificate {
            subject: Keypair::from_seed(&[0x42; 32]).public(),
            name: "浙岱渔03315".to_owned(),
            registration: "ZHEDAIYU03315".to_owned(),
            mmsi: Some(412_345_678),
            role: Role::Vessel,
            valid_from: Timestamp(s.now as u32),
            valid_until: Timestamp((s.now + 365 * 86_400) as u32),
        },
    )
}
