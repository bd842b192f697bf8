//! Kind 3, `distress_update`: acknowledged, responding (with an ETA), on scene, resolved or
//! cancelled, for a distress.

use serde_json::{Value as J, json};

use super::views::{hx, opt};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Distress
}

impl DistressStatus {
    /// The status's code on the wire and the ETA it carries (responding only).
    pub fn code(&self) -> (u8, Option<u16>) {
        match self {
            DistressStatus::Acknowledged => (0, None),
            DistressStatus::Responding { eta_min } => (1, Some(*eta_min)),
            DistressStatus::OnScene => (2, None),
            DistressStatus::Resolved => (3, None),
            DistressStatus::Cancelled => (4, None),
        }
    }

    /// A snake_case name, as used in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            DistressStatus::Acknowledged => "acknowledged",
            DistressStatus::Responding { .. } => "responding",
            DistressStatus::OnScene => "on_scene",
            DistressStatus::Resolved => "resolved",
            DistressStatus::Cancelled => "cancelled",
        }
    }
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::DistressUpdate {
        distress,
        status,
        text: t,
    } = b
    else {
        return Err(other_kind());
    };
    let (code, eta) = status.code();
    Ok(Item::Array(vec![
        Item::Bytes(distress.0.to_vec()),
        uint(u64::from(code)),
        eta.map_or(Item::Null, |e| uint(u64::from(e))),
        text(t, "distress_update.text", MAX_SHORT_TEXT)?,
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "distress_update", 4)?.into_iter();
    let distress = as_id(next(&mut a)?, "distress_update.distress")?;
    let code = as_uint(&next(&mut a)?, "distress_update.status", 4)?;
    let eta = next(&mut a)?;
    let status = match (code, eta) {
        (1, eta) => DistressStatus::Responding {
            eta_min: as_uint(&eta, "distress_update.eta", u64::from(u16::MAX))? as u16,
        },
        (_, In::Null) => match code {
            0 => DistressStatus::Acknowledged,
            2 => DistressStatus::OnScene,
            3 => DistressStatus::Resolved,
            _ => DistressStatus::Cancelled,
        },
        _ => return Err(field_err("distress_update.eta", "only when responding")),
    };
    let text = as_text(next(&mut a)?, "distress_update.text", MAX_SHORT_TEXT)?;
    Ok(Body::DistressUpdate {
        distress,
        status,
        text,
    })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::DistressUpdate {
        distress,
        status,
        text,
    } = b
    else {
        return J::Null;
    };
    match form {
        Form::People => {
            let (_, eta) = status.code();
            json!({ "distress": distress.to_string(), "status": status.name(), "eta_min": eta, "text": text })
        }
        Form::Wire => {
            let (code, eta) = status.code();
            json!({
                "distress": hx(distress.as_bytes()), "status": code, "eta_min": opt(eta),
                "text": text,
            })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Everyone,
        7 * 24 * 60,
        Body::DistressUpdate {
            distress: RecordId([0x11; RECORD_ID_LEN]),
            status: DistressStatus::Responding { eta_min: 25 },
            text: "浙岱渔03315 coming".to_owned(),
        },
    )
}
