//! Kind 11, `pairing`: a vessel's statement that it pairs with (or leaves) a partner vessel.

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
    let Body::Pairing { partner, paired } = b else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        Item::Bytes(partner.to_bytes().to_vec()),
        Item::Bool(*paired),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "pairing", 2)?.into_iter();
    let partner = as_key(next(&mut a)?, "pairing.partner")?;
    let paired = as_bool(&next(&mut a)?, "pairing.paired")?;
    Ok(Body::Pairing { partner, paired })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Pairing { partner, paired } = b else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({ "partner": partner.to_string(), "paired": paired })
        }
        Form::Wire => {
            json!({ "partner": hx(partner.as_bytes()), "paired": paired })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Everyone,
        90 * 24 * 60,
        Body::Pairing {
            partner: Keypair::from_seed(&[0x42; 32]).public(),
            paired: true,
        },
    )
}
