//! Kind 1, `pair_alert`: an alert between the two boats of a pair; sealed to the pair.

use serde_json::{Value as J, json};

use super::views::{opt_fix, wire_opt_fix};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[Priority::Safety];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Safety
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::PairAlert {
        alert,
        fix,
        text: t,
    } = b
    else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        uint(u64::from(alert.code())),
        opt_fix_item(fix)?,
        text(t, "pair_alert.text", MAX_SHORT_TEXT)?,
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "pair_alert", 3)?.into_iter();
    let alert = as_code(&next(&mut a)?, "pair_alert.kind", PairAlertKind::from_code)?;
    let fix = as_opt(next(&mut a)?, |v| as_fix(v, "pair_alert.fix"))?;
    let text = as_text(next(&mut a)?, "pair_alert.text", MAX_SHORT_TEXT)?;
    Ok(Body::PairAlert { alert, fix, text })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::PairAlert { alert, fix, text } = b else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({ "alert": alert.name(), "fix": opt_fix(fix), "text": text })
        }
        Form::Wire => {
            json!({ "alert": *alert as u8, "fix": wire_opt_fix(fix), "text": text })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::pair(s.author, s.partner),
        360,
        Body::PairAlert {
            alert: PairAlertKind::GearFouled,
            fix: Some(s.fix()),
            text: "网缠住了，请减速".to_owned(),
        },
    )
}
