//! The fleet's views as the API serves them: pairs, distress, duties, cases, the summary in
//! the node's status. Read-only: nothing here writes a record.

use haiqiao_fleet::{
    CaseRole, CaseStage, CaseView, DistressState, DistressView, DutyView, PartnerView,
};
use haiqiao_proto::{DistressStatus, Escalation};
use serde_json::{Value, json};

use super::Workflows;
use crate::json::{
    CATEGORIES, NATURES, area_json, case_status_name, category_names, fix_json, name_of,
};

impl Workflows {
    /// The distress list: open incidents, or every one held with `all`.
    pub(super) fn distress_list_json(&self, now: u64, all: bool) -> Value {
        let list = if all {
            self.fleet.distress_incidents(now)
        } else {
            self.fleet.open_distress(now)
        };
        json!({
            "distress": list.iter().map(|v| self.distress_json(v)).collect::<Vec<_>>()
        })
    }

    /// Mediators on duty, as announced.
    pub(super) fn duties_json(&self, now: u64) -> Value {
        json!({
            "duties": self.fleet.duties(now).iter().map(duty_json).collect::<Vec<_>>()
        })
    }

    /// Every case held.
    pub(super) fn cases_json(&self) -> Value {
        json!({
            "cases": self.fleet.cases().iter().map(|c| self.case_json(c)).collect::<Vec<_>>()
        })
    }

    /// Case statistics over the cases held.
    pub(super) fn case_stats_json(&self) -> Value {
        let s = self.fleet.case_stats();
        json!({
            "total": s.total, "open": s.open, "accepted": s.accepted,
            "closed": s.closed, "escalated": s.escalated,
            "mean_time_to_accept_s": s.mean_time_to_accept_s,
            "median_time_to_accept_s": s.median_time_to_accept_s,
            "mean_time_to_close_s": s.mean_time_to_close_s,
            "median_time_to_close_s": s.median_time_to_close_s,
            "handled_rate": s.handled_rate,
        })
    }

    /// Open distress incidents, alarms up: for `status`.
    pub(crate) fn summary(&self, now_ms: u64) -> Value {
        let alarms: Vec<String> = self
            .fleet
            .partners(now_ms)
            .iter()
            .filter(|p| p.alarm)
            .map(|p| p.partner.to_string())
            .collect();
        json!({
            "open_distress": self.fleet.open_distress(now_ms).len(),
            "buddy_alarms": alarms,
            "cases": self.fleet.cases().len(),
            "trust_enforced": self.fleet.enforces_trust(),
            "certified": self.fleet.trust_of(&self.fleet.me(), now_ms).roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
        })
    }

    pub(super) fn partner_json(&self, p: &PartnerView) -> Value {
        json!({
            "partner": p.partner.to_string(),
            "name": p.name,
            "since": p.since.0,
            "last_heard": p.last_heard.map(|t| t.0),
            "fix": p.fix.as_ref().map(fix_json),
            "due": p.due.map(|t| t.0),
            "alarm": p.alarm,
        })
    }

    pub(super) fn pairs_json(&self, now: u64) -> Value {
        json!({
            "pairs": self.fleet.pairs().iter().map(|p| json!({
                "a": p.a.to_string(), "b": p.b.to_string(), "since": p.since.0 })).collect::<Vec<_>>(),
            "partners": self.fleet.partners(now).iter().map(|p| self.partner_json(p)).collect::<Vec<_>>(),
            "buddy_reports": self.fleet.buddy_reports().iter().map(|b| json!({
                "from": b.from.to_string(), "partner": b.partner.to_string(), "overdue": b.overdue,
                "last_heard": b.last_heard.map(|t| t.0), "fix": b.fix.as_ref().map(fix_json),
                "at": b.at.0 })).collect::<Vec<_>>(),
        })
    }

    pub(super) fn distress_json(&self, v: &DistressView) -> Value {
        json!({
            "incident": v.incident.to_string(),
            "author": v.author.to_string(),
            "name": v.name,
            "certified": v.certified,
            "revoked": v.revoked,
            "nature": name_of(&NATURES, v.nature),
            "dsc_code": format!("{:02}", v.nature as u8),
            "persons": v.persons,
            "text": v.text,
            "fix": v.fix.as_ref().map(fix_json),
            "raised": v.raised.0,
            "last_alert": v.last_alert.0,
            "alerts": v.alerts,
            "state": match v.state {
                DistressState::Open => "open",
                DistressState::Answered => "answered",
                DistressState::Resolved => "resolved",
                DistressState::Cancelled => "cancelled",
            },
            "ended": v.ended.map(|(t, k)| json!({ "at": t.0, "by": k.to_string() })),
            "repeats_stopped": v.repeats_stopped,
            "acknowledged_by": v.acknowledged_by.iter().map(|a| json!({
                "key": a.key.to_string(), "name": a.name, "at": a.at.0, "text": a.text,
                "shore": a.shore, "certified": a.certified })).collect::<Vec<_>>(),
            "responders": v.responders.iter().map(|r| json!({
                "key": r.key.to_string(), "name": r.name, "at": r.at.0, "text": r.text,
                "eta_min": r.eta_min, "eta_at": r.eta_at.map(|t| t.0), "on_scene": r.on_scene,
                "distance_km": r.distance_km, "certified": r.certified })).collect::<Vec<_>>(),
            "nearest": v.nearest.iter().map(|n| json!({
                "key": n.key.to_string(), "name": n.name, "distance_km": n.distance_km,
                "fix_at": n.fix_at.0 })).collect::<Vec<_>>(),
        })
    }

    pub(super) fn case_json(&self, c: &CaseView) -> Value {
        json!({
            "case": c.case.to_string(),
            "reporter": c.reporter.to_string(),
            "reporter_name": c.reporter_name,
            "category": name_of(&CATEGORIES, c.category),
            "parties": c.parties.iter().map(|p| json!({
                "name": p.name, "key": p.key.map(|k| k.to_string()), "signed": p.signed })).collect::<Vec<_>>(),
            "reporter_signed": c.reporter_signed,
            "fix": c.fix.as_ref().map(fix_json),
            "description": c.description,
            "evidence": c.evidence,
            "filed": c.filed.0,
            "offered_to": c.offered_to.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "mediator": c.mediator.map(|k| k.to_string()),
            "mediator_name": c.mediator_name,
            "accepted": c.accepted.map(|t| t.0),
            "other_acceptances": c.other_acceptances.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "progress": c.progress.iter().map(|p| json!({
                "at": p.at.0, "status": case_status_name(&p.status), "text": p.text })).collect::<Vec<_>>(),
            "agreement": c.agreement.as_ref().map(|a| json!({
                "text": a.text, "hash": hex::encode(a.hash), "proposed": a.proposed.0,
                "signed_by": a.signed_by.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                "missing": a.missing })),
            "stage": stage_name(c.stage),
            "finished": c.finished.map(|t| t.0),
            "closed_by_signatures": c.closed_by_signatures,
            "my_role": self.fleet.case_role(&c.case).map(case_role_name),
        })
    }
}

fn duty_json(d: &DutyView) -> Value {
    json!({
        "mediator": d.mediator.to_string(),
        "name": d.name,
        "certified": d.certified,
        "on_duty": d.on_duty,
        "areas": d.areas.iter().map(area_json).collect::<Vec<_>>(),
        "categories": category_names(d.categories),
        "from": d.from.0,
        "until": d.until.0,
        "daily": [d.daily.start_min, d.daily.end_min],
    })
}

pub(super) fn status_name(s: &DistressStatus) -> String {
    match s {
        DistressStatus::Acknowledged => "acknowledged".into(),
        DistressStatus::Responding { eta_min } => format!("responding, ETA {eta_min} min"),
        DistressStatus::OnScene => "on scene".into(),
        DistressStatus::Resolved => "resolved".into(),
        DistressStatus::Cancelled => "cancelled (false alert)".into(),
    }
}

pub(super) fn distress_tag(s: &DistressStatus) -> &'static str {
    match s {
        DistressStatus::Acknowledged => "distress_acknowledged",
        DistressStatus::Responding { .. } => "distress_responding",
        DistressStatus::OnScene => "distress_on_scene",
        DistressStatus::Resolved => "distress_resolved",
        DistressStatus::Cancelled => "distress_cancelled",
    }
}

pub(super) fn escalation_name(e: Escalation) -> &'static str {
    match e {
        Escalation::CoastGuard => "the coast guard (95110)",
        Escalation::Court => "court",
    }
}

fn stage_name(s: CaseStage) -> &'static str {
    match s {
        CaseStage::Filed => "filed",
        CaseStage::Accepted => "accepted",
        CaseStage::InMediation => "in_mediation",
        CaseStage::AgreementProposed => "agreement_proposed",
        CaseStage::Closed => "closed",
        CaseStage::Escalated(Escalation::CoastGuard) => "escalated_coast_guard",
        CaseStage::Escalated(Escalation::Court) => "escalated_court",
    }
}

fn case_role_name(r: CaseRole) -> &'static str {
    match r {
        CaseRole::Reporter => "reporter",
        CaseRole::Party => "party",
        CaseRole::Mediator => "mediator",
        CaseRole::Offered => "offered",
    }
}

pub(super) fn role_note(r: Option<CaseRole>) -> String {
    r.map_or(String::new(), |r| {
        format!(" [we are {}]", case_role_name(r))
    })
}
