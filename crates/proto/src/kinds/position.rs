//! Kind 0, `position`: a vessel's position fix, packed into 12 bytes (docs/protocol.md §6).

use serde_json::{Value as J, json};

use super::views::{fix, wire_fix};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Routine
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Position(f) = b else {
        return Err(other_kind());
    };
    Ok(Item::Bytes(pack_fix(f)?.to_vec()))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    Ok(Body::Position(as_fix(v, "position")?))
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Position(f) = b else { return J::Null };
    match form {
        Form::People => fix(f),
        Form::Wire => {
            json!({ "fix": wire_fix(f) })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(Destination::Everyone, 240, Body::Position(s.fix()))
}
