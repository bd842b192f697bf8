//! Kind 5, `case_update`: a mediator's step on a case (accepted, in mediation, agreement
//! proposed, escalated, closed).

use serde_json::{Value as J, json};

use super::views::{hx, opt};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[Priority::Case];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Case
}

impl CaseStatus {
    /// Every step, escalations to each place.
    pub const ALL: [CaseStatus; 6] = [
        CaseStatus::Accepted,
        CaseStatus::InMediation,
        CaseStatus::AgreementProposed,
        CaseStatus::Escalated(Escalation::CoastGuard),
        CaseStatus::Escalated(Escalation::Court),
        CaseStatus::Closed,
    ];

    /// The step's code on the wire and the escalation it carries (escalated only).
    pub fn code(&self) -> (u8, Option<Escalation>) {
        match self {
            CaseStatus::Accepted => (0, None),
            CaseStatus::InMediation => (1, None),
            CaseStatus::AgreementProposed => (2, None),
            CaseStatus::Escalated(e) => (3, Some(*e)),
            CaseStatus::Closed => (4, None),
        }
    }

    /// A snake_case name (escalations name where to).
    pub fn name(&self) -> &'static str {
        match self {
            CaseStatus::Accepted => "accepted",
            CaseStatus::InMediation => "in_mediation",
            CaseStatus::AgreementProposed => "agreement_proposed",
            CaseStatus::Escalated(Escalation::CoastGuard) => "escalated_coast_guard",
            CaseStatus::Escalated(Escalation::Court) => "escalated_court",
            CaseStatus::Closed => "closed",
        }
    }

    /// The step with this name.
    pub fn from_name(s: &str) -> Option<CaseStatus> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::CaseUpdate {
        case,
        status,
        text: t,
    } = b
    else {
        return Err(other_kind());
    };
    let (code, esc) = status.code();
    Ok(Item::Array(vec![
        Item::Bytes(case.0.to_vec()),
        uint(u64::from(code)),
        esc.map_or(Item::Null, |e| uint(u64::from(e.code()))),
        text(t, "case_update.text", MAX_DESCRIPTION)?,
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "case_update", 4)?.into_iter();
    let case = as_id(next(&mut a)?, "case_update.case")?;
    let code = as_uint(&next(&mut a)?, "case_update.status", 4)?;
    let esc = next(&mut a)?;
    let status = match (code, esc) {
        (3, e) => CaseStatus::Escalated(as_code(
            &e,
            "case_update.escalation",
            Escalation::from_code,
        )?),
        (_, In::Null) => match code {
            0 => CaseStatus::Accepted,
            1 => CaseStatus::InMediation,
            2 => CaseStatus::AgreementProposed,
            _ => CaseStatus::Closed,
        },
        _ => return Err(field_err("case_update.escalation", "only when escalated")),
    };
    let text = as_text(next(&mut a)?, "case_update.text", MAX_DESCRIPTION)?;
    Ok(Body::CaseUpdate { case, status, text })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::CaseUpdate { case, status, text } = b else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({ "case": case.to_string(), "status": status.name(), "text": text })
        }
        Form::Wire => {
            let (code, esc) = status.code();
            json!({
                "case": hx(case.as_bytes()), "status": code, "escalation": opt(esc.map(|e| e as u8)),
                "text": text,
            })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Shore,
        30 * 24 * 60,
        Body::CaseUpdate {
            case: RecordId([0x5a; RECORD_ID_LEN]),
            status: CaseStatus::Accepted,
            text: "海上老娘舅 accepted, will call both skippers".to_owned(),
        },
    )
}
