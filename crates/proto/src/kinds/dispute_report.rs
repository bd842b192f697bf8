//! Kind 4, `dispute_report`: a dispute filed with the mediators; it opens a case.

use serde_json::{Value as J, json};

use super::views::{hx, opt_fix, wire_opt_fix};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[Priority::Case];

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Case
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::DisputeReport {
        category,
        parties,
        fix,
        description,
        evidence,
    } = b
    else {
        return Err(other_kind());
    };
    if parties.len() > MAX_PARTIES {
        return Err(field_err("dispute.parties", "too many"));
    }
    if evidence.len() > MAX_EVIDENCE {
        return Err(field_err("dispute.evidence", "too many"));
    }
    let parties = parties
        .iter()
        .map(|p| {
            Ok(Item::Array(vec![
                p.key.map_or(Item::Null, |k| Item::Bytes(k.0.to_vec())),
                text(&p.name, "dispute.party.name", MAX_NAME)?,
            ]))
        })
        .collect::<Result<Vec<_>, RecordError>>()?;
    Ok(Item::Array(vec![
        uint(u64::from(category.code())),
        Item::Array(parties),
        opt_fix_item(fix)?,
        text(description, "dispute.description", MAX_DESCRIPTION)?,
        Item::Array(evidence.iter().map(|e| Item::Bytes(e.to_vec())).collect()),
    ]))
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "dispute", 5)?.into_iter();
    let category = as_code(
        &next(&mut a)?,
        "dispute.category",
        DisputeCategory::from_code,
    )?;
    let parties = as_list(next(&mut a)?, "dispute.parties", MAX_PARTIES)?
        .into_iter()
        .map(|p| {
            let mut p = as_array(p, "dispute.party", 2)?.into_iter();
            let key = as_opt(next(&mut p)?, |v| as_hint(v, "dispute.party.key"))?;
            let name = as_text(next(&mut p)?, "dispute.party.name", MAX_NAME)?;
            Ok(Party { key, name })
        })
        .collect::<Result<Vec<_>, RecordError>>()?;
    let fix = as_opt(next(&mut a)?, |v| as_fix(v, "dispute.fix"))?;
    let description = as_text(next(&mut a)?, "dispute.description", MAX_DESCRIPTION)?;
    let evidence = as_list(next(&mut a)?, "dispute.evidence", MAX_EVIDENCE)?
        .into_iter()
        .map(|e| as_bytes::<32>(e, "dispute.evidence"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Body::DisputeReport {
        category,
        parties,
        fix,
        description,
        evidence,
    })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::DisputeReport {
        category,
        parties,
        fix,
        description,
        evidence,
    } = b
    else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({
                "category": category.name(),
                "parties": parties.iter().map(|p| json!({"key": p.key.map(|k| k.to_string()), "name": p.name})).collect::<Vec<_>>(),
                "fix": opt_fix(fix),
                "description": description,
                "evidence": evidence.iter().map(hex::encode).collect::<Vec<_>>(),
            })
        }
        Form::Wire => {
            json!({
                "category": *category as u8,
                "parties": parties.iter().map(|p| json!({
                    "key": p.key.map_or(J::Null, |k| hx(k.as_bytes())), "name": p.name,
                })).collect::<Vec<_>>(),
                "fix": wire_opt_fix(fix),
                "description": description,
                "evidence": evidence.iter().map(|e| hx(e)).collect::<Vec<_>>(),
            })
        }
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(
        Destination::Shore,
        30 * 24 * 60,
        Body::DisputeReport {
            category: DisputeCategory::GearDamage,
            parties: vec![Party {
                key: Some(s.partner),
                name: "浙岱渔03315".to_owned(),
            }],
            fix: Some(s.fix()),
            description: "拖网被割断约200米 trawl net cut, about 200 m".to_owned(),
            evidence: vec![[0xe7; 32]],
        },
    )
}
