//! Kind 7, `receipt`: a shore station's receipt for records that reached shore (1 to 100 ids).

use serde_json::{Value as J, json};

use super::views::hx;
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Control
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Receipt { ids } = b else {
        return Err(other_kind());
    };
    if ids.is_empty() || ids.len() > MAX_RECEIPT_IDS {
        return Err(field_err("receipt.ids", "must hold 1 to 100 ids"));
    }
    Ok(Item::Array(vec![Item::Array(
        ids.iter().map(|i| Item::Bytes(i.0.to_vec())).collect(),
    )]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "receipt", 1)?.into_iter();
    let ids = as_list(next(&mut a)?, "receipt.ids", MAX_RECEIPT_IDS)?
        .into_iter()
        .map(|i| as_id(i, "receipt.ids"))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(field_err("receipt.ids", "must hold 1 to 100 ids"));
    }
    Ok(Body::Receipt { ids })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Receipt { ids } = b else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({ "ids": ids.iter().map(|i| i.to_string()).collect::<Vec<_>>() })
        }
        Form::Wire => {
            json!({ "ids": ids.iter().map(|i| hx(i.as_bytes())).collect::<Vec<_>>() })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Everyone,
        3 * 24 * 60,
        Body::Receipt {
            ids: (0..16u8).map(|i| RecordId([i; RECORD_ID_LEN])).collect(),
        },
    )
}
