//! Kind 10, `text`: a short text message to a node, a pair or a group; a safety text travels at
//! the pair alerts' class.

use serde_json::{Value as J, json};

use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[Priority::Safety, Priority::Routine];

pub(super) fn priority(b: &Body) -> Priority {
    match b {
        Body::Text { safety: true, .. } => Priority::Safety,
        _ => Priority::Routine,
    }
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Text { text: t, safety } = b else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        text(t, "text.text", MAX_SHORT_TEXT)?,
        Item::Bool(*safety),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "text", 2)?.into_iter();
    let text = as_text(next(&mut a)?, "text.text", MAX_SHORT_TEXT)?;
    let safety = as_bool(&next(&mut a)?, "text.safety")?;
    Ok(Body::Text { text, safety })
}

/// The same for people and on the wire.
pub(super) fn view(b: &Body, _: Form) -> J {
    let Body::Text { text, safety } = b else {
        return J::Null;
    };
    json!({ "text": text, "safety": safety })
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Node(s.partner),
        24 * 60,
        Body::Text {
            text: "今晚回沈家门 back to Shenjiamen tonight".to_owned(),
            safety: false,
        },
    )
}
