//! Kind 12, `buddy_watch`: a vessel telling shore that its pair partner has gone silent, or is
//! heard again.

use serde_json::{Value as J, json};

use super::views::{hx, opt, opt_fix, wire_opt_fix};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, Keypair, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Safety
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::BuddyWatch {
        partner,
        overdue,
        last_heard,
        fix,
    } = b
    else {
        return Err(other_kind());
    };
    Ok(Item::Array(vec![
        Item::Bytes(partner.to_bytes().to_vec()),
        Item::Bool(*overdue),
        last_heard.map_or(Item::Null, |t| uint(t.secs())),
        opt_fix_item(fix)?,
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "buddy_watch", 4)?.into_iter();
    let partner = as_key(next(&mut a)?, "buddy_watch.partner")?;
    let overdue = as_bool(&next(&mut a)?, "buddy_watch.overdue")?;
    let last_heard = as_opt(next(&mut a)?, |v| as_time(&v, "buddy_watch.last_heard"))?;
    let fix = as_opt(next(&mut a)?, |v| as_fix(v, "buddy_watch.fix"))?;
    Ok(Body::BuddyWatch {
        partner,
        overdue,
        last_heard,
        fix,
    })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::BuddyWatch {
        partner,
        overdue,
        last_heard,
        fix,
    } = b
    else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({
            "partner": partner.to_string(), "overdue": overdue,
            "last_heard": last_heard.map(|t| t.0), "fix": opt_fix(fix) })
        }
        Form::Wire => {
            json!({
                "partner": hx(partner.as_bytes()), "overdue": overdue,
                "last_heard": opt(last_heard.map(|t| t.0)), "fix": wire_opt_fix(fix),
            })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Shore,
        24 * 60,
        Body::BuddyWatch {
            partner: Keypair::from_seed(&[0x42; 32]).public(),
            overdue: true,
            last_heard: Some(Timestamp(s.now.saturating_sub(3 * 3600) as u32)),
            fix: Some(s.fix()),
        },
    )
}
