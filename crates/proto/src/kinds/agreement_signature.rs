//! Kind 6, `agreement_signature`: a party's signature on a proposed agreement (the SHA-256 of
//! its text).

use serde_json::{Value as J, json};

use super::views::hx;
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[Priority::Case];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Case
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::AgreementSignature { case, agreement } = b else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        Item::Bytes(case.0.to_vec()),
        Item::Bytes(agreement.to_vec()),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "agreement_signature", 2)?.into_iter();
    let case = as_id(next(&mut a)?, "agreement_signature.case")?;
    let agreement = as_bytes::<32>(next(&mut a)?, "agreement_signature.agreement")?;
    Ok(Body::AgreementSignature { case, agreement })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::AgreementSignature { case, agreement } = b else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({ "case": case.to_string(), "agreement": hex::encode(agreement) })
        }
        Form::Wire => {
            json!({ "case": hx(case.as_bytes()), "agreement": hx(agreement) })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Shore,
        30 * 24 * 60,
        Body::AgreementSignature {
            case: RecordId([0x5a; RECORD_ID_LEN]),
            agreement: [0xa5; 32],
        },
    )
}
