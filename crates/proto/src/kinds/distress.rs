//! Kind 2, `distress`: a distress or mutual-aid call, flooded to everyone at the highest class.

use serde_json::{Value as J, json};

use super::views::{opt, opt_fix, wire_opt_fix};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Distress
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::Distress {
        nature,
        fix,
        persons,
        text: t,
    } = b
    else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        uint(u64::from(nature.code())),
        opt_fix_item(fix)?,
        persons.map_or(Item::Null, |p| uint(u64::from(p))),
        text(t, "distress.text", MAX_SHORT_TEXT)?,
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "distress", 4)?.into_iter();
    let nature = as_code(&next(&mut a)?, "distress.nature", DistressNature::from_code)?;
    let fix = as_opt(next(&mut a)?, |v| as_fix(v, "distress.fix"))?;
    let persons = as_opt(next(&mut a)?, |v| {
        as_uint(&v, "distress.persons", u64::from(u16::MAX)).map(|p| p as u16)
    })?;
    let text = as_text(next(&mut a)?, "distress.text", MAX_SHORT_TEXT)?;
    Ok(Body::Distress {
        nature,
        fix,
        persons,
        text,
    })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::Distress {
        nature,
        fix,
        persons,
        text,
    } = b
    else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({
            "nature": nature.name(), "dsc_code": format!("{:02}", *nature as u8),
            "fix": opt_fix(fix), "persons": persons, "text": text })
        }
        Form::Wire => {
            json!({
                "nature": *nature as u8, "fix": wire_opt_fix(fix), "persons": opt(*persons),
                "text": text,
            })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Everyone,
        7 * 24 * 60,
        Body::Distress {
            nature: DistressNature::Flooding,
            fix: Some(s.fix()),
            persons: Some(9),
            text: "机舱进水 engine room flooding".to_owned(),
        },
    )
}
