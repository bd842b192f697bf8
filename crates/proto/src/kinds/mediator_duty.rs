//! Kind 13, `mediator_duty`: a mediator's announcement of the areas, dispute categories and
//! daily hours it is on duty for a period; it replaces the mediator's earlier ones.

use serde_json::{Value as J, json};

use super::views::{area, category_names, wire_area};
use super::{Form, Sample, other_kind};
use crate::codec::*;
use crate::types::*;
use crate::{Envelope, RecordError};

pub(super) const SEALED_AS: &[Priority] = &[];

/// Minutes in a day: the upper bound of [`DailyHours`].
const DAY_MIN: u64 = 1440;

pub(super) fn priority(_: &Body) -> Priority {
    Priority::Case
}

fn check_categories(c: CategorySet) -> Result<(), RecordError> {
    if c.0 == 0 || c.0 & !CategorySet::ALL.0 != 0 {
        return Err(field_err(
            "mediator_duty.categories",
            "must name at least one known category",
        ));
    }
    Ok(())
}

fn check_daily(d: &DailyHours) -> Result<(), RecordError> {
    if u64::from(d.start_min) >= DAY_MIN {
        return Err(field_err("mediator_duty.day_start", "must be below 1440"));
    }
    if d.end_min == 0 || u64::from(d.end_min) > DAY_MIN || d.end_min == d.start_min {
        return Err(field_err(
            "mediator_duty.day_end",
            "must be 1 to 1440 and differ from the start",
        ));
    }
    Ok(())
}

pub(super) fn encode(b: &Body) -> Result<Item, RecordError> {
    let Body::MediatorDuty {
        areas,
        categories,
        from,
        until,
        daily,
    } = b
    else {
        return Err(other_kind());
    };
    if areas.len() > MAX_DUTY_AREAS {
        return Err(field_err("mediator_duty.areas", "too many"));
    }
    let areas = areas
        .iter()
        .map(|a| {
            Ok(Item::Array(vec![
                uint(u64::from(a.area.0)),
                Item::Bytes(pack_geobox(&a.bounds)?.to_vec()),
            ]))
        })
        .collect::<Result<Vec<_>, RecordError>>()?;
    check_categories(*categories)?;
    if until <= from {
        return Err(field_err("mediator_duty.until", "must be after from"));
    }
    check_daily(daily)?;
    Ok(Item::Array(vec![
        Item::Array(areas),
        uint(u64::from(categories.0)),
        uint(from.secs()),
        uint(until.secs()),
        uint(u64::from(daily.start_min)),
        uint(u64::from(daily.end_min)),
    ]))
}

fn decode_area(v: In<'_>) -> Result<DutyArea, RecordError> {
    let mut p = as_array(v, "mediator_duty.area", 2)?.into_iter();
    let id = as_uint(&next(&mut p)?, "mediator_duty.area.id", u64::from(u32::MAX))?;
    let bounds = match next(&mut p)? {
        In::Bytes(b) => unpack_geobox(b)?,
        _ => {
            return Err(field_err(
                "mediator_duty.area.bounds",
                "expected a byte string",
            ));
        }
    };
    Ok(DutyArea {
        area: AreaId(id as u32),
        bounds,
    })
}

pub(super) fn decode(v: In<'_>) -> Result<Body, RecordError> {
    let mut a = as_array(v, "mediator_duty", 6)?.into_iter();
    let areas = as_list(next(&mut a)?, "mediator_duty.areas", MAX_DUTY_AREAS)?
        .into_iter()
        .map(decode_area)
        .collect::<Result<Vec<_>, RecordError>>()?;
    let categories = CategorySet(as_uint(
        &next(&mut a)?,
        "mediator_duty.categories",
        u64::from(u8::MAX),
    )? as u8);
    check_categories(categories)?;
    let from = as_time(&next(&mut a)?, "mediator_duty.from")?;
    let until = as_time(&next(&mut a)?, "mediator_duty.until")?;
    if until <= from {
        return Err(field_err("mediator_duty.until", "must be after from"));
    }
    let start = as_uint(&next(&mut a)?, "mediator_duty.day_start", DAY_MIN - 1)?;
    let end = as_uint(&next(&mut a)?, "mediator_duty.day_end", DAY_MIN)?;
    let daily = DailyHours {
        start_min: start as u16,
        end_min: end as u16,
    };
    check_daily(&daily)?;
    Ok(Body::MediatorDuty {
        areas,
        categories,
        from,
        until,
        daily,
    })
}

pub(super) fn view(b: &Body, form: Form) -> J {
    let Body::MediatorDuty {
        areas,
        categories,
        from,
        until,
        daily,
    } = b
    else {
        return J::Null;
    };
    match form {
        Form::People => {
            json!({
            "areas": areas.iter().map(area).collect::<Vec<_>>(),
            "categories": category_names(*categories),
            "from": from.0, "until": until.0,
            "daily": [daily.start_min, daily.end_min] })
        }
        Form::Wire => {
            json!({
                "areas": areas.iter().map(wire_area).collect::<Vec<_>>(),
                "categories": categories.0, "from": from.0, "until": until.0,
                "day_start_min": daily.start_min, "day_end_min": daily.end_min,
            })
        }
    }
}

/// The sample announcement's body: two areas north of Daishan and on the Shengsi grounds,
/// three categories, a week from `now`, 06:00 to 22:00 Beijing time.
fn sample_body(now: u64) -> Body {
    Body::MediatorDuty {
        areas: vec![
            DutyArea {
                area: AreaId(31),
                bounds: GeoBox::from_degrees(30.2, 121.9, 30.6, 122.6),
            },
            DutyArea {
                area: AreaId(32),
                bounds: GeoBox::from_degrees(30.5, 122.2, 31.0, 123.0),
            },
        ],
        categories: CategorySet::of(&[
            DisputeCategory::FishingGround,
            DisputeCategory::GearDamage,
            DisputeCategory::Collision,
        ]),
        from: Timestamp(now as u32),
        until: Timestamp((now + 7 * 86_400) as u32),
        daily: DailyHours {
            start_min: 22 * 60,
            end_min: 14 * 60,
        },
    }
}

pub(super) fn sample(s: &Sample) -> Envelope {
    s.envelope(Destination::Everyone, 7 * 24 * 60, sample_body(s.now))
}
