//! Requests from the control API and the edges ([`Request`]): the views they read and the
//! records they write. Writes go through the fleet's builders (which refuse what every other
//! node would refuse), are sealed where the table says so, signed, submitted and observed.
//! Every refusal is a typed [`WorkflowError`].

use haiqiao_fleet::{Draft, FleetError};
use haiqiao_mesh::{Node, Store};
use haiqiao_proto::{
    CaseStatus, CategorySet, DailyHours, DutyArea, Escalation, GeoBox, Party, PublicKey, RecordId,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Workflows;
use crate::error::WorkflowError;
use crate::json::{
    ALERTS, CATEGORIES, distress_status, fix, fix_json, lookup, parse_nature, record_id,
    record_json,
};
use crate::specs::{DisputeSpec, DistressAnswerSpec, DistressSpec, PairAlertSpec};

/// An area a mediator covers, as the API takes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct AreaSpec {
    /// The area's number.
    pub(crate) area: u32,
    /// Southern edge, degrees.
    pub(crate) south: f64,
    /// Western edge, degrees.
    pub(crate) west: f64,
    /// Northern edge, degrees.
    pub(crate) north: f64,
    /// Eastern edge, degrees.
    pub(crate) east: f64,
}

/// A workflow request from the control API. Views answer JSON; writes answer the record
/// written.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Pairs, our partners with their buddy-watch state, and (at shore) buddy reports.
    Pairs,
    /// Pair with a vessel (our half; the pair stands once it signs its half), or leave.
    Pair {
        /// The partner's node id (64 hex digits; a 16-digit hint if it is known here).
        partner: String,
        /// Leave the pair instead.
        #[serde(default)]
        leave: bool,
    },
    /// An alert to a pair partner.
    PairAlert {
        /// The partner (default: our only partner).
        #[serde(default)]
        partner: Option<String>,
        /// What, where, a short text.
        #[serde(flatten)]
        what: PairAlertSpec,
    },
    /// The distress list: open incidents (or all held, with `all`).
    Distress {
        /// Also the resolved and cancelled ones.
        #[serde(default)]
        all: bool,
    },
    /// Raise a distress.
    RaiseDistress(DistressSpec),
    /// Answer a distress: acknowledged, responding (with ETA), on_scene, resolved, cancelled.
    AnswerDistress(DistressAnswerSpec),
    /// Mediators on duty, as announced.
    Duties,
    /// Announce our duty as a mediator (no areas: off duty).
    Duty {
        /// Areas covered.
        #[serde(default)]
        areas: Vec<AreaSpec>,
        /// Categories taken (default all).
        #[serde(default)]
        categories: Vec<String>,
        /// Daily hours UTC as [start minute, end minute) (default all day).
        #[serde(default)]
        daily: Option<(u16, u16)>,
        /// How many hours from now the announcement holds. Default 24.
        #[serde(default = "day")]
        hours: u32,
    },
    /// Every case held.
    Cases,
    /// One case.
    Case {
        /// The dispute report's id.
        case: String,
    },
    /// Case statistics over the cases held.
    CaseStats,
    /// File a dispute.
    FileDispute(DisputeSpec),
    /// A step in a case: accept, progress, propose, sign, escalate, close.
    CaseStep {
        /// The dispute report's id.
        case: String,
        /// accept, progress, propose, sign, escalate, close.
        step: String,
        /// Progress text, the agreement's text, or a closing note.
        #[serde(default)]
        text: String,
        /// Escalation: coast_guard (95110) or court.
        #[serde(default)]
        to: Option<String>,
    },
    /// What is known of a key.
    Trust {
        /// The key (64 hex digits).
        key: String,
    },
    /// Take in a record signed elsewhere (an authority's certificate or revocation).
    Import {
        /// The signer's key (64 hex digits).
        author: String,
        /// The signed record, hex.
        record: String,
    },
    /// The voyage: homeward or not, ETA, port, and where that comes from.
    Voyage,
    /// The skipper's word on the voyage: `home` (with `eta_min`, optionally `port`),
    /// `not_home` (fishing, or bound elsewhere), or `auto` (back to the position reports and
    /// the configured ports).
    SetVoyage {
        /// home, not_home or auto.
        says: String,
        /// Minutes to arrival, for `home`.
        #[serde(default)]
        eta_min: Option<u32>,
        /// The port, for `home`.
        #[serde(default)]
        port: Option<String>,
    },
    /// Every vessel heard, with its newest fix and what its certificate says (name,
    /// registration, MMSI): what the plotter and Signal K feeds show.
    Vessels,
    /// The timeline from an index.
    Timeline {
        /// First index wanted.
        #[serde(default)]
        after: u64,
        /// At most this many.
        #[serde(default = "hundred")]
        limit: usize,
    },
}

fn day() -> u32 {
    24
}
fn hundred() -> usize {
    100
}

impl Request {
    /// A request that only reads (the daemon saves nothing after it).
    pub(crate) fn is_view(&self) -> bool {
        matches!(
            self,
            Request::Pairs
                | Request::Distress { .. }
                | Request::Duties
                | Request::Cases
                | Request::Case { .. }
                | Request::CaseStats
                | Request::Trust { .. }
                | Request::Timeline { .. }
                | Request::Vessels
        )
    }
}

/// An escalation from its name (default: the coast guard).
fn escalation(to: Option<&str>) -> Result<Escalation, WorkflowError> {
    match to.unwrap_or("coast_guard") {
        "coast_guard" | "95110" => Ok(Escalation::CoastGuard),
        "court" => Ok(Escalation::Court),
        t => Err(WorkflowError::Invalid(format!(
            "escalate to coast_guard (95110) or court, not {t:?}"
        ))),
    }
}

/// The text of a proposed agreement, which may not be empty.
fn agreement(text: &str) -> Result<&str, WorkflowError> {
    if text.trim().is_empty() {
        return Err(WorkflowError::Invalid("an agreement needs its text".into()));
    }
    Ok(text)
}

fn invalid(e: impl std::fmt::Display) -> WorkflowError {
    WorkflowError::invalid(e)
}

impl Workflows {
    /// The draft of a mediator's step taken for `who`, a certified mediator whose key the
    /// station holds on their behalf (mediators ashore: `crate::shore::ashore`); judged as
    /// the fleet judges a mediator's own step.
    pub(crate) fn mediator_draft_as(
        &self,
        now_ms: u64,
        who: PublicKey,
        case: RecordId,
        step: &str,
        text: &str,
        to: Option<&str>,
    ) -> Result<Draft, WorkflowError> {
        let status = match step {
            "accept" => return Ok(self.fleet.accept_case_as(now_ms, case, who)?),
            "progress" => CaseStatus::InMediation,
            "propose" => {
                agreement(text)?;
                CaseStatus::AgreementProposed
            }
            "escalate" => CaseStatus::Escalated(escalation(to)?),
            "close" => CaseStatus::Closed,
            s => {
                return Err(WorkflowError::Invalid(format!(
                    "unknown step {s:?}: accept, progress, propose, escalate, close"
                )));
            }
        };
        Ok(self.fleet.mediator_step_as(case, status, text, who)?)
    }

    /// A key from 64 hex digits, or a 16-digit hint of a key known here.
    pub(super) fn key(&self, s: &str, now_ms: u64) -> Result<PublicKey, WorkflowError> {
        let s = s.trim();
        if s.len() == 64 {
            return s
                .parse::<PublicKey>()
                .map_err(|_| invalid(format!("{s:?} is not a node id (64 hex digits)")));
        }
        let hint: haiqiao_proto::KeyHint = s.parse().map_err(|_| {
            invalid(format!(
                "{s:?} is neither a node id (64 hex) nor a hint (16 hex)"
            ))
        })?;
        self.fleet
            .vessels(now_ms)
            .into_iter()
            .map(|(k, _)| k)
            .chain(self.fleet.partners(now_ms).into_iter().map(|p| p.partner))
            .find(|k| k.hint() == hint)
            .ok_or_else(|| {
                invalid(format!(
                    "no key with hint {hint} is known here: give the full node id"
                ))
            })
    }

    fn incident(&self, s: &str, now_ms: u64) -> Result<RecordId, WorkflowError> {
        let id = record_id(s).map_err(invalid)?;
        Ok(self.fleet.distress(now_ms, &id).map_or(id, |v| v.incident))
    }

    /// Answers a request; writes are signed, submitted and observed here.
    pub(crate) fn request<S: Store>(
        &mut self,
        now: u64,
        node: &mut Node<S>,
        req: Request,
    ) -> Result<Value, WorkflowError> {
        let draft = match req {
            Request::Pairs => return Ok(self.pairs_json(now)),
            Request::Distress { all } => return Ok(self.distress_list_json(now, all)),
            Request::Duties => return Ok(self.duties_json(now)),
            Request::Cases => return Ok(self.cases_json()),
            Request::Case { case } => {
                let id = record_id(&case).map_err(invalid)?;
                let c = self.fleet.case(&id).ok_or(FleetError::UnknownCase)?;
                return Ok(self.case_json(&c));
            }
            Request::CaseStats => return Ok(self.case_stats_json()),
            Request::Trust { key } => {
                let k = self.key(&key, now)?;
                return Ok(self.trust_json(now, &k));
            }
            Request::Voyage => return self.voyage_json(now),
            Request::SetVoyage {
                says,
                eta_min,
                port,
            } => return self.set_voyage(now, node, &says, eta_min, port),
            Request::Vessels => return Ok(self.vessels_json(now)),
            Request::Timeline { after, limit } => return Ok(self.timeline_json(after, limit)),
            Request::Import { author, record } => {
                let author: PublicKey = author
                    .trim()
                    .parse()
                    .map_err(|_| invalid("author is not a node id (64 hex digits)"))?;
                let bytes = hex::decode(record.trim())
                    .map_err(|e| invalid(format!("record is not hex: {e}")))?;
                let r = node.import(now, author, &bytes)?;
                self.observe(now, node, &r);
                return Ok(record_json(&r));
            }
            Request::Pair { partner, leave } => {
                let p = self.key(&partner, now)?;
                if leave {
                    self.fleet.leave_pair(p)?
                } else {
                    self.fleet.pair_with(p)?
                }
            }
            Request::PairAlert { partner, what } => {
                let p = self.alert_partner(now, partner.as_deref())?;
                let alert = lookup(&ALERTS, &what.alert, "alert").map_err(invalid)?;
                let fix = fix(what.lat, what.lon).map_err(invalid)?;
                self.fleet.pair_alert(p, alert, fix, &what.text)?
            }
            Request::RaiseDistress(d) => {
                let nature = parse_nature(&d.nature).map_err(invalid)?;
                let fix = fix(d.lat, d.lon).map_err(invalid)?;
                self.fleet.raise_distress(nature, fix, d.persons, &d.text)
            }
            Request::AnswerDistress(d) => {
                let incident = self.incident(&d.distress, now)?;
                let status = distress_status(&d.status, d.eta_min).map_err(invalid)?;
                self.fleet.answer_distress(now, incident, status, &d.text)?
            }
            Request::Duty {
                areas,
                categories,
                daily,
                hours,
            } => self.duty_draft(now, &areas, &categories, daily, hours)?,
            Request::FileDispute(d) => self.dispute_draft(&d)?,
            Request::CaseStep {
                case,
                step,
                text,
                to,
            } => self.case_step_draft(now, &case, &step, &text, to.as_deref())?,
        };
        let r = self.write(now, node, draft.dest, draft.ttl_min, draft.body)?;
        self.observe(now, node, &r);
        let r = Self::view(node, &r);
        // The record is written: what follows must not turn the answer into an error (a
        // client would write it again).
        if let Err(e) = self.poll(now, node) {
            self.push(now, "error", None, format!("after writing: {e}"));
        }
        Ok(record_json(&r))
    }

    /// The skipper's word on the voyage.
    fn set_voyage<S: Store>(
        &mut self,
        now: u64,
        node: &mut Node<S>,
        says: &str,
        eta_min: Option<u32>,
        port: Option<String>,
    ) -> Result<Value, WorkflowError> {
        let says = match says {
            "home" => Some(haiqiao_fleet::SkipperSays::Homeward {
                eta_min: eta_min
                    .filter(|m| (1..=30 * 24 * 60).contains(m))
                    .ok_or_else(|| {
                        invalid("home needs eta_min: minutes to arrival, 1 to 43,200")
                    })?,
                port,
            }),
            "not_home" => Some(haiqiao_fleet::SkipperSays::NotHomeward),
            "auto" => None,
            s => {
                return Err(invalid(format!(
                    "unknown voyage {s:?}: home, not_home, auto"
                )));
            }
        };
        self.fleet.set_voyage(now, says);
        self.sync_voyage(now, node);
        self.voyage_json(now)
    }

    /// The partner a pair alert goes to: the one named, or our only partner.
    fn alert_partner(&self, now: u64, named: Option<&str>) -> Result<PublicKey, WorkflowError> {
        if let Some(p) = named {
            return self.key(p, now);
        }
        match self.fleet.partners(now).as_slice() {
            [one] => Ok(one.partner),
            [] => Err(invalid("not paired: pair first (haiqiao pair <node id>)")),
            _ => Err(invalid("paired with several vessels: name the partner")),
        }
    }

    /// A dispute report.
    fn dispute_draft(&self, d: &DisputeSpec) -> Result<Draft, WorkflowError> {
        let parties = d
            .parties
            .iter()
            .map(|p| {
                Ok(Party {
                    key: p
                        .key
                        .as_deref()
                        .map(crate::json::parse_hint)
                        .transpose()
                        .map_err(invalid)?,
                    name: p.name.clone(),
                })
            })
            .collect::<Result<Vec<_>, WorkflowError>>()?;
        let evidence = d.evidence_hashes().map_err(WorkflowError::Invalid)?;
        let category = lookup(&CATEGORIES, &d.category, "category").map_err(invalid)?;
        let fix = fix(d.lat, d.lon).map_err(invalid)?;
        Ok(self
            .fleet
            .file_dispute(category, parties, fix, &d.description, evidence)?)
    }

    /// A mediator's duty announcement.
    fn duty_draft(
        &self,
        now: u64,
        areas: &[AreaSpec],
        categories: &[String],
        daily: Option<(u16, u16)>,
        hours: u32,
    ) -> Result<Draft, WorkflowError> {
        let areas: Vec<DutyArea> = areas
            .iter()
            .map(|a| DutyArea {
                area: haiqiao_proto::AreaId(a.area),
                bounds: GeoBox::from_degrees(a.south, a.west, a.north, a.east),
            })
            .collect();
        let cats = if categories.is_empty() {
            CategorySet::ALL
        } else {
            let cs = categories
                .iter()
                .map(|c| lookup(&CATEGORIES, c, "category").map_err(invalid))
                .collect::<Result<Vec<_>, WorkflowError>>()?;
            CategorySet::of(&cs)
        };
        let daily = match daily {
            Some((s, e)) => DailyHours {
                start_min: s,
                end_min: e,
            },
            None => DailyHours::ALL_DAY,
        };
        let from = Timestamp((now / 1000) as u32);
        let until = Timestamp(from.0.saturating_add(hours.max(1).saturating_mul(3600)));
        Ok(self
            .fleet
            .announce_duty(now, areas, cats, from, until, daily)?)
    }

    /// A step in a case: accept, progress, propose, sign, escalate, close.
    fn case_step_draft(
        &self,
        now: u64,
        case: &str,
        step: &str,
        text: &str,
        to: Option<&str>,
    ) -> Result<Draft, WorkflowError> {
        let case = record_id(case).map_err(invalid)?;
        Ok(match step {
            "accept" => self.fleet.accept_case(now, case)?,
            "progress" => self.fleet.case_progress(case, text)?,
            "propose" => self.fleet.propose_agreement(case, agreement(text)?)?,
            "sign" => self.fleet.cosign(case)?,
            "escalate" => self.fleet.escalate_case(case, escalation(to)?, text)?,
            "close" => self.fleet.close_case(case, text)?,
            s => {
                return Err(invalid(format!(
                    "unknown step {s:?}: accept, progress, propose, sign, escalate, close"
                )));
            }
        })
    }

    /// The voyage view.
    fn voyage_json(&self, now: u64) -> Result<Value, WorkflowError> {
        serde_json::to_value(self.fleet.voyage(now))
            .map_err(|e| WorkflowError::Internal(format!("the voyage view: {e}")))
    }

    /// What is known of a key.
    fn trust_json(&self, now: u64, k: &PublicKey) -> Value {
        let t = self.fleet.trust_of(k, now);
        json!({
            "key": k.to_string(), "anchor": t.anchor, "trusted": t.is_trusted(),
            "revoked": t.revoked,
            "roles": t.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "name": t.name, "registration": t.registration, "mmsi": t.mmsi,
            "enforced": self.fleet.enforces_trust(),
        })
    }

    /// Every vessel heard, with its newest fix and certificate.
    fn vessels_json(&self, now: u64) -> Value {
        let vessels: Vec<Value> = self
            .fleet
            .vessels(now)
            .into_iter()
            .map(|(k, h)| {
                let t = self.fleet.trust_of(&k, now);
                json!({
                    "key": k.to_string(),
                    "name": t.name, "registration": t.registration, "mmsi": t.mmsi,
                    "roles": t.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                    "last_heard": h.last_heard.0,
                    "fix_at": h.fix_at.map(|t| t.0),
                    "fix": h.fix.as_ref().map(fix_json),
                })
            })
            .collect();
        json!({ "vessels": vessels })
    }
}
