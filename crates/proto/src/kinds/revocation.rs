//! Kind 9, `revocation`: an authority withdrawing a key.

use serde_json::{Value as J, json};

use super::views::hx;
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, Keypair, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Control
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Revocation { subject, reason } = b else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        Item::Bytes(subject.to_bytes().to_vec()),
        uint(u64::from(reason.code())),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "revocation", 2)?.into_iter();
    let subject = as_key(next(&mut a)?, "revocation.subject")?;
    let reason = as_code(
        &next(&mut a)?,
        "revocation.reason",
        RevocationReason::from_code,
    )?;
    Ok(Body::Revocation { subject, reason })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Revocation { subject, reason } = b else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({ "subject": subject.to_string(), "reason": *reason as u8 })
        }
        Form::Wire => {
            json!({ "subject": hx(subject.as_bytes()), "reason": *reason as u8 })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Everyone,
        90 * 24 * 60,
        Body::Revocation {
            subject: Keypair::from_seed(&[0x43; 32]).public(),
            reason: RevocationReason::Compromised,
        },
    )
}
