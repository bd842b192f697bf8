//! JSON views of records for the control API and the CLI, and the requests that write them.
//!
//! Names here are the ones people type: `haiqiao send distress --nature flooding`.

use anyhow::{Context, anyhow, bail};
use haiqiao_proto::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where a record goes, as the API takes it: `"everyone"`, `"shore"`, `{"node": "<hint>"}`,
/// `{"pair": ["<hint>", "<hint>"]}`, `{"mediators": 3}`, `{"group": 7}`. Hints may be given as
/// 16 hex digits or as a full 64-digit key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DestSpec {
    /// Every node.
    Everyone,
    /// Any shore station.
    Shore,
    /// One node.
    Node(String),
    /// A pair.
    Pair(String, String),
    /// An area's mediators.
    Mediators(u32),
    /// A group.
    Group(u32),
}

pub(crate) use crate::specs::PartySpec;

/// What to write.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum BodySpec {
    /// A position fix.
    Position {
        /// Degrees north.
        lat: f64,
        /// Degrees east.
        lon: f64,
        /// Speed over ground, knots.
        #[serde(default)]
        sog_kn: Option<f64>,
        /// Course over ground, degrees true.
        #[serde(default)]
        cog_deg: Option<f64>,
        /// Heading, degrees true.
        #[serde(default)]
        heading_deg: Option<u16>,
        /// AIS navigational status name (fishing, under_way, at_anchor, moored, ...).
        #[serde(default)]
        nav_status: Option<String>,
    },
    /// A pair alert.
    PairAlert {
        /// collision_risk, gear_fouled, man_overboard, engine_failure, weather, other.
        alert: String,
        /// Where.
        #[serde(default)]
        lat: Option<f64>,
        /// Where.
        #[serde(default)]
        lon: Option<f64>,
        /// Short text.
        #[serde(default)]
        text: String,
    },
    /// A distress call.
    Distress {
        /// DSC nature: fire, flooding, collision, grounding, listing, sinking, adrift,
        /// undesignated, abandoning, piracy, man_overboard, epirb (or the code, e.g. "01").
        #[serde(default = "undesignated")]
        nature: String,
        /// Where.
        #[serde(default)]
        lat: Option<f64>,
        /// Where.
        #[serde(default)]
        lon: Option<f64>,
        /// Persons on board.
        #[serde(default)]
        persons: Option<u16>,
        /// Short text.
        #[serde(default)]
        text: String,
    },
    /// An update on a distress.
    DistressUpdate {
        /// The distress record id.
        distress: String,
        /// acknowledged, responding, on_scene, resolved, cancelled.
        status: String,
        /// Minutes to arrival (responding).
        #[serde(default)]
        eta_min: Option<u16>,
        /// Short text.
        #[serde(default)]
        text: String,
    },
    /// A dispute report.
    DisputeReport {
        /// fishing_ground, gear_damage, collision, catch_or_price, other.
        category: String,
        /// The other parties.
        #[serde(default)]
        parties: Vec<PartySpec>,
        /// Where.
        #[serde(default)]
        lat: Option<f64>,
        /// Where.
        #[serde(default)]
        lon: Option<f64>,
        /// What happened.
        description: String,
        /// SHA-256 hashes of evidence, hex.
        #[serde(default)]
        evidence: Vec<String>,
    },
    /// A mediator's case update.
    CaseUpdate {
        /// The dispute report's id.
        case: String,
        /// accepted, in_mediation, agreement_proposed, escalated_coast_guard, escalated_court,
        /// closed.
        status: String,
        /// Progress, or the agreement's text.
        #[serde(default)]
        text: String,
    },
    /// A party's signature on an agreement.
    AgreementSignature {
        /// The dispute report's id.
        case: String,
        /// The agreement's text as proposed (its SHA-256 is signed).
        agreement_text: String,
    },
    /// A text message.
    Text {
        /// The text.
        text: String,
        /// A safety message.
        #[serde(default)]
        safety: bool,
    },
}

fn undesignated() -> String {
    "undesignated".to_owned()
}

/// A request to write a record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct SubmitRequest {
    /// Destination; each kind has a default.
    #[serde(default)]
    pub(crate) dest: Option<DestSpec>,
    /// Time to live in minutes; each kind has a default.
    #[serde(default)]
    pub(crate) ttl_min: Option<u32>,
    /// What to write.
    #[serde(flatten)]
    pub(crate) body: BodySpec,
}

/// Parses a hint from 16 hex digits or a full key.
pub(crate) fn parse_hint(s: &str) -> anyhow::Result<KeyHint> {
    let s = s.trim();
    if s.len() == 64 {
        return Ok(s.parse::<PublicKey>().map_err(|e| anyhow!("{e}"))?.hint());
    }
    s.parse::<KeyHint>()
        .map_err(|_| anyhow!("{s:?} is neither a 16-hex-digit hint nor a 64-hex-digit key"))
}

/// Latitude in degrees, -90 to 90.
pub(crate) fn check_lat(lat: f64) -> Result<f64, String> {
    if lat.is_finite() && (-90.0..=90.0).contains(&lat) {
        Ok(lat)
    } else {
        Err(format!(
            "latitude {lat} is out of range: degrees north, -90 to 90 (south is negative)"
        ))
    }
}

/// Longitude in degrees, -180 to 180.
pub(crate) fn check_lon(lon: f64) -> Result<f64, String> {
    if lon.is_finite() && (-180.0..=180.0).contains(&lon) {
        Ok(lon)
    } else {
        Err(format!(
            "longitude {lon} is out of range: degrees east, -180 to 180 (west is negative)"
        ))
    }
}

/// Fastest speed over ground a fix can carry, knots (AIS: 102.2).
pub(crate) const MAX_SOG_KN: f64 = 102.2;

/// Speed over ground in knots, 0 to [`MAX_SOG_KN`].
pub(crate) fn check_sog(sog: f64) -> Result<f64, String> {
    if sog.is_finite() && (0.0..=MAX_SOG_KN).contains(&sog) {
        Ok(sog)
    } else {
        Err(format!(
            "speed over ground {sog} is out of range: knots, 0 to {MAX_SOG_KN} (it is never negative)"
        ))
    }
}

/// Course over ground in degrees true, 0 to less than 360.
pub(crate) fn check_cog(cog: f64) -> Result<f64, String> {
    if cog.is_finite() && (0.0..360.0).contains(&cog) {
        Ok(cog)
    } else {
        Err(format!(
            "course over ground {cog} is out of range: degrees true, 0 to less than 360"
        ))
    }
}

/// Heading in whole degrees true, 0 to 359.
pub(crate) fn check_heading(h: f64) -> Result<u16, String> {
    if h.is_finite() && (0.0..360.0).contains(&h) && h.fract() == 0.0 {
        Ok(h as u16)
    } else {
        Err(format!(
            "heading {h} is out of range: whole degrees true, 0 to 359"
        ))
    }
}

/// The AIS navigational status names a position takes.
pub(crate) fn nav_status_names() -> Vec<&'static str> {
    (0u8..16)
        .map(|n| NavStatus(n).name())
        .filter(|n| *n != "reserved")
        .collect()
}

pub(crate) fn parse_nav_status(n: &str) -> anyhow::Result<NavStatus> {
    NavStatus::from_name(n).ok_or_else(|| {
        anyhow!(
            "unknown nav status {n:?}: one of {}",
            nav_status_names().join(", ")
        )
    })
}

/// A clap value parser: `$check` applied to a number.
macro_rules! arg_parser {
    ($name:ident, $check:ident, $t:ty) => {
        pub(crate) fn $name(s: &str) -> Result<$t, String> {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number"))?;
            $check(v)
        }
    };
}
arg_parser!(lat_arg, check_lat, f64);
arg_parser!(lon_arg, check_lon, f64);
arg_parser!(sog_arg, check_sog, f64);
arg_parser!(cog_arg, check_cog, f64);
arg_parser!(heading_arg, check_heading, u16);

pub(crate) fn fix(lat: Option<f64>, lon: Option<f64>) -> anyhow::Result<Option<Fix>> {
    match (lat, lon) {
        (Some(lat), Some(lon)) => Ok(Some(Fix::from_degrees(
            check_lat(lat).map_err(|e| anyhow!(e))?,
            check_lon(lon).map_err(|e| anyhow!(e))?,
        ))),
        (None, None) => Ok(None),
        _ => bail!("give both lat and lon, or neither"),
    }
}

pub(crate) const ALERTS: [(&str, PairAlertKind); 6] = PairAlertKind::NAMED;
pub(crate) const NATURES: [(&str, DistressNature); 12] = DistressNature::NAMED;
pub(crate) const CATEGORIES: [(&str, DisputeCategory); 5] = DisputeCategory::NAMED;

pub(crate) fn lookup<T: Copy>(table: &[(&str, T)], name: &str, what: &str) -> anyhow::Result<T> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            anyhow!(
                "unknown {what} {name:?}: expected one of {}",
                names.join(", ")
            )
        })
}

pub(crate) fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|(_, t)| *t == v).map_or("?", |(n, _)| n)
}

/// A DSC nature of distress from its name or its code ("flooding" or "01").
pub(crate) fn parse_nature(s: &str) -> anyhow::Result<DistressNature> {
    match s.parse::<u64>() {
        Ok(code) => {
            DistressNature::from_code(code).ok_or_else(|| anyhow!("unknown DSC code {code}"))
        }
        Err(_) => lookup(&NATURES, s, "nature"),
    }
}

/// An answer to a distress from its name; `responding` takes the ETA.
pub(crate) fn distress_status(s: &str, eta_min: Option<u16>) -> anyhow::Result<DistressStatus> {
    Ok(match s {
        "acknowledged" | "ack" => DistressStatus::Acknowledged,
        "responding" => DistressStatus::Responding {
            eta_min: eta_min.context("responding needs an ETA in minutes")?,
        },
        "on_scene" => DistressStatus::OnScene,
        "resolved" => DistressStatus::Resolved,
        "cancelled" => DistressStatus::Cancelled,
        s => bail!(
            "unknown distress status {s:?}: acknowledged, responding, on_scene, resolved, cancelled"
        ),
    })
}

/// The name of a case update's status.
pub(crate) fn case_status_name(s: &CaseStatus) -> &'static str {
    s.name()
}

pub(crate) fn record_id(s: &str) -> anyhow::Result<RecordId> {
    s.trim()
        .parse()
        .map_err(|_| anyhow!("{s:?} is not a record id (32 hex digits)"))
}

/// A position's fix from what the API takes: degrees, knots, degrees true, a status's name.
fn position_fix(
    lat: f64,
    lon: f64,
    sog_kn: Option<f64>,
    cog_deg: Option<f64>,
    heading_deg: Option<u16>,
    nav_status: Option<&str>,
) -> anyhow::Result<Fix> {
    let Some(mut f) = fix(Some(lat), Some(lon))? else {
        bail!("a position needs lat and lon");
    };
    let sog = sog_kn.map(check_sog).transpose().map_err(|e| anyhow!(e))?;
    let cog = cog_deg.map(check_cog).transpose().map_err(|e| anyhow!(e))?;
    let heading = heading_deg
        .map(|h| check_heading(f64::from(h)))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    f.sog_dkn = sog.map(|s| (s * 10.0).round() as u16);
    // 359.96° rounds to 3600 tenths, which is 0°.
    f.cog_ddeg = cog.map(|c| (c * 10.0).round() as u16 % 3600);
    f.heading_deg = heading;
    f.nav_status = match nav_status {
        Some(n) => parse_nav_status(n)?,
        None => NavStatus::UNDEFINED,
    };
    Ok(f)
}

/// An evidence hash: 32 bytes as hex.
fn evidence_hash(e: &str) -> anyhow::Result<[u8; 32]> {
    let b = hex::decode(e).context("evidence must be hex")?;
    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| anyhow!("evidence hashes are 32 bytes"))
}

/// Builds the destination, time to live and body of a request; `partner` is the configured
/// pair partner (default destination of pair alerts).
pub(crate) fn build(
    req: &SubmitRequest,
    me: KeyHint,
    partner: Option<KeyHint>,
) -> anyhow::Result<(Destination, u32, Body)> {
    let (default_dest, default_ttl, body) = match &req.body {
        BodySpec::Position {
            lat,
            lon,
            sog_kn,
            cog_deg,
            heading_deg,
            nav_status,
        } => (
            Some(Destination::Everyone),
            4 * 60,
            Body::Position(position_fix(
                *lat,
                *lon,
                *sog_kn,
                *cog_deg,
                *heading_deg,
                nav_status.as_deref(),
            )?),
        ),
        BodySpec::PairAlert {
            alert,
            lat,
            lon,
            text,
        } => (
            partner.map(|p| Destination::pair(me, p)),
            6 * 60,
            Body::PairAlert {
                alert: lookup(&ALERTS, alert, "alert")?,
                fix: fix(*lat, *lon)?,
                text: text.clone(),
            },
        ),
        BodySpec::Distress {
            nature,
            lat,
            lon,
            persons,
            text,
        } => {
            let nature = parse_nature(nature)?;
            (
                Some(Destination::Everyone),
                3 * 24 * 60,
                Body::Distress {
                    nature,
                    fix: fix(*lat, *lon)?,
                    persons: *persons,
                    text: text.clone(),
                },
            )
        }
        BodySpec::DistressUpdate {
            distress,
            status,
            eta_min,
            text,
        } => {
            let status = distress_status(status, *eta_min)?;
            (
                Some(Destination::Everyone),
                3 * 24 * 60,
                Body::DistressUpdate {
                    distress: record_id(distress)?,
                    status,
                    text: text.clone(),
                },
            )
        }
        BodySpec::DisputeReport {
            category,
            parties,
            lat,
            lon,
            description,
            evidence,
        } => (
            Some(Destination::Shore),
            30 * 24 * 60,
            Body::DisputeReport {
                category: lookup(&CATEGORIES, category, "category")?,
                parties: parties
                    .iter()
                    .map(|p| {
                        Ok(Party {
                            key: p.key.as_deref().map(parse_hint).transpose()?,
                            name: p.name.clone(),
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                fix: fix(*lat, *lon)?,
                description: description.clone(),
                evidence: evidence
                    .iter()
                    .map(String::as_str)
                    .map(evidence_hash)
                    .collect::<anyhow::Result<_>>()?,
            },
        ),
        BodySpec::CaseUpdate { case, status, text } => {
            let Some(status) = CaseStatus::from_name(status) else {
                bail!("unknown case status {status:?}");
            };
            (
                Some(Destination::Shore),
                30 * 24 * 60,
                Body::CaseUpdate {
                    case: record_id(case)?,
                    status,
                    text: text.clone(),
                },
            )
        }
        BodySpec::AgreementSignature {
            case,
            agreement_text,
        } => {
            use sha2::Digest;
            let h: [u8; 32] = sha2::Sha256::digest(agreement_text.as_bytes()).into();
            (
                Some(Destination::Shore),
                30 * 24 * 60,
                Body::AgreementSignature {
                    case: record_id(case)?,
                    agreement: h,
                },
            )
        }
        BodySpec::Text { text, safety } => (
            None,
            24 * 60,
            Body::Text {
                text: text.clone(),
                safety: *safety,
            },
        ),
    };
    let dest = match &req.dest {
        Some(d) => dest_from(d)?,
        None => default_dest.ok_or_else(|| {
            anyhow!("this kind needs a destination (no pair partner is configured for pair alerts)")
        })?,
    };
    Ok((dest, req.ttl_min.unwrap_or(default_ttl), body))
}

fn dest_from(d: &DestSpec) -> anyhow::Result<Destination> {
    Ok(match d {
        DestSpec::Everyone => Destination::Everyone,
        DestSpec::Shore => Destination::Shore,
        DestSpec::Node(h) => Destination::Node(parse_hint(h)?),
        DestSpec::Pair(a, b) => {
            let (a, b) = (parse_hint(a)?, parse_hint(b)?);
            if a == b {
                bail!("a pair needs two different nodes");
            }
            Destination::pair(a, b)
        }
        DestSpec::Mediators(a) => Destination::Mediators(AreaId(*a)),
        DestSpec::Group(g) => Destination::Group(GroupId(*g)),
    })
}

fn dest_json(d: &Destination) -> Value {
    match d {
        Destination::Everyone => json!("everyone"),
        Destination::Shore => json!("shore"),
        Destination::Node(h) => json!({ "node": h.to_string() }),
        Destination::Pair(a, b) => json!({ "pair": [a.to_string(), b.to_string()] }),
        Destination::Mediators(a) => json!({ "mediators": a.0 }),
        Destination::Group(g) => json!({ "group": g.0 }),
    }
}

/// A fix as JSON for people.
pub(crate) fn fix_json(f: &Fix) -> Value {
    haiqiao_proto::kinds::views::fix(f)
}

/// A duty area as JSON.
pub(crate) fn area_json(a: &DutyArea) -> Value {
    haiqiao_proto::kinds::views::area(a)
}

/// The names of the categories in a set.
pub(crate) fn category_names(set: CategorySet) -> Vec<&'static str> {
    haiqiao_proto::kinds::views::category_names(set)
}

/// A record as JSON.
pub(crate) fn record_json(r: &Record) -> Value {
    let e = r.envelope();
    let body = r.body().view();
    json!({
        "id": r.id().to_string(),
        "author": r.author().to_string(),
        "author_hint": e.author.to_string(),
        "kind": r.kind().name(),
        "priority": r.priority().name(),
        "seq": e.seq,
        "created": e.created.0,
        "expiry": r.expiry(),
        "dest": dest_json(&e.dest),
        "size": r.len(),
        // "sealed": stored and carried encrypted; "opened": sealed, read here by a reader.
        "privacy": if r.kind() == Kind::Sealed { "sealed" } else if r.is_opened() { "opened" } else { "public" },
        "body": body,
    })
}

/// One line for people.
pub(crate) fn record_line(v: &Value) -> String {
    let b = &v["body"];
    let detail = match v["kind"].as_str().unwrap_or("") {
        "position" => format!(
            "{:.5},{:.5} {}",
            b["lat"].as_f64().unwrap_or(0.0),
            b["lon"].as_f64().unwrap_or(0.0),
            b["nav_status"].as_str().unwrap_or("")
        ),
        "distress" => format!(
            "MAYDAY {} (DSC {}) POB {} {} — call 12395",
            b["nature"].as_str().unwrap_or("?"),
            b["dsc_code"].as_str().unwrap_or("?"),
            b["persons"],
            b["text"].as_str().unwrap_or("")
        ),
        "distress_update" => format!(
            "{} {} {}",
            b["status"].as_str().unwrap_or(""),
            &b["distress"].as_str().unwrap_or("")
                [..8.min(b["distress"].as_str().unwrap_or("").len())],
            b["text"].as_str().unwrap_or("")
        ),
        "pair_alert" => format!(
            "{} {}",
            b["alert"].as_str().unwrap_or(""),
            b["text"].as_str().unwrap_or("")
        ),
        "dispute_report" => format!(
            "{} {}",
            b["category"].as_str().unwrap_or(""),
            b["description"].as_str().unwrap_or("")
        ),
        "case_update" => format!(
            "{} {}",
            b["status"].as_str().unwrap_or(""),
            b["text"].as_str().unwrap_or("")
        ),
        "text" => b["text"].as_str().unwrap_or("").to_owned(),
        "pairing" => format!(
            "{} {}",
            if b["paired"] == true {
                "pair with"
            } else {
                "leave pair with"
            },
            short(b["partner"].as_str().unwrap_or(""))
        ),
        "buddy_watch" => format!(
            "partner {} {}",
            short(b["partner"].as_str().unwrap_or("")),
            if b["overdue"] == true {
                "OVERDUE"
            } else {
                "heard again"
            }
        ),
        "certificate" => format!(
            "{} {} as {}",
            short(b["subject"].as_str().unwrap_or("")),
            b["name"].as_str().unwrap_or(""),
            b["role"].as_str().unwrap_or("")
        ),
        "receipt" => format!("{} ids", b["ids"].as_array().map_or(0, Vec::len)),
        "sealed" => format!(
            "{} to {} readers (not readable here)",
            b["inner_kind"].as_str().unwrap_or("?"),
            b["readers"]
        ),
        _ => b.to_string(),
    };
    format!(
        "{} {:<19} from {} {}",
        &v["id"].as_str().unwrap_or("")[..12.min(v["id"].as_str().unwrap_or("").len())],
        v["kind"].as_str().unwrap_or(""),
        &v["author_hint"].as_str().unwrap_or("")
            [..8.min(v["author_hint"].as_str().unwrap_or("").len())],
        detail
    )
}

/// The first 8 characters of an id or key, for people.
pub(crate) fn short(s: &str) -> &str {
    &s[..8.min(s.len())]
}
