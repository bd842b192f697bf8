//! The timeline: what happened at the node, for people and for scripts, bounded
//! ([`TIMELINE_CAP`]), printed as it happens and served at `/api/v1/timeline`.

use haiqiao_fleet::Event;
use haiqiao_mesh::{Input, Node, Store};
use haiqiao_proto::{CaseStatus, PublicKey, Record, RecordId};
use serde::Serialize;
use serde_json::{Value, json};

use super::Workflows;
use super::views::{distress_tag, escalation_name, role_note, status_name};
use crate::json::{ALERTS, CATEGORIES, NATURES, case_status_name, name_of, short};

/// Most entries kept in the timeline (oldest dropped first).
pub(crate) const TIMELINE_CAP: usize = 2_000;

/// One thing that happened, for people and for scripts.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Entry {
    /// Position in the timeline, from 0.
    pub(crate) index: u64,
    /// When, ms since the epoch.
    pub(crate) at_ms: u64,
    /// A stable tag: `buddy_alarm`, `distress_raised`, `case_accepted`, `refused`, ...
    pub(crate) what: &'static str,
    /// The record it is about, if any.
    pub(crate) id: Option<String>,
    /// A line for people.
    pub(crate) text: String,
}

impl Workflows {
    pub(super) fn push(
        &mut self,
        now_ms: u64,
        what: &'static str,
        id: Option<RecordId>,
        text: String,
    ) {
        if self.print {
            println!("fleet: {what} {text}");
        }
        self.timeline.push_back(Entry {
            index: self.next_index,
            at_ms: now_ms,
            what,
            id: id.map(|i| i.to_string()),
            text,
        });
        self.next_index += 1;
        while self.timeline.len() > TIMELINE_CAP {
            self.timeline.pop_front();
        }
    }

    pub(super) fn who(&self, key: &PublicKey, now_ms: u64) -> String {
        match self.fleet.trust_of(key, now_ms).name {
            Some(n) => format!("{n} ({})", key.short()),
            None => key.short(),
        }
    }

    /// Takes in a fleet event: what it changes in the engine (a certified key is learnt;
    /// trust is recomputed), and its line in the timeline.
    pub(super) fn event<S: Store>(&mut self, now: u64, node: &mut Node<S>, r: &Record, e: Event) {
        match &e {
            Event::Certified { subject, .. } => {
                if let Err(e) = node.handle(now, Input::Keys(vec![*subject])) {
                    tracing::warn!(error = %e, "engine: a certified key");
                }
                self.trust_dirty = true;
            }
            Event::Revoked { .. } => self.trust_dirty = true,
            _ => {}
        }
        let (what, id, text) = self.line(now, r, e);
        self.push(now, what, id, text);
    }

    /// `{next, entries}`: at most `limit` (≤ 1000) from index `after`.
    pub(super) fn timeline_json(&self, after: u64, limit: usize) -> Value {
        let items: Vec<&Entry> = self
            .timeline
            .iter()
            .filter(|e| e.index >= after)
            .take(limit.min(1000))
            .collect();
        json!({ "next": self.next_index, "entries": items })
    }

    /// The timeline's line for a fleet event: its tag, the record it is about, the text.
    /// One arm per event (each one sentence); sea mediation's are in `case_line`.
    fn line(&self, now: u64, r: &Record, e: Event) -> (&'static str, Option<RecordId>, String) {
        let id = Some(r.id());
        match e {
            Event::Refused { author, reason, .. } => {
                let t = format!(
                    "{} from {} takes no effect: {}",
                    r.kind().name(),
                    self.who(&author, now),
                    reason.name()
                );
                ("refused", id, t)
            }
            Event::Certified {
                subject,
                role,
                name,
            } => {
                let t = format!("{name} ({}) certified as {}", subject.short(), role.name());
                ("certified", id, t)
            }
            Event::Revoked { subject, reason } => {
                let t = format!("{} revoked ({reason:?})", self.who(&subject, now));
                ("revoked", id, t)
            }
            Event::PairingRequested { from, to } => {
                let t = format!(
                    "{} asks {} to pair",
                    self.who(&from, now),
                    self.who(&to, now)
                );
                ("pairing_requested", id, t)
            }
            Event::Paired { a, b } => {
                let t = format!("{} and {} are a pair", self.who(&a, now), self.who(&b, now));
                ("paired", id, t)
            }
            Event::Unpaired { a, b } => {
                let t = format!(
                    "{} and {} no longer pair",
                    self.who(&a, now),
                    self.who(&b, now)
                );
                ("unpaired", id, t)
            }
            Event::PairAlert {
                from, alert, text, ..
            } => {
                let t = format!(
                    "PAIR ALERT {} from {} {text}",
                    name_of(&ALERTS, alert),
                    self.who(&from, now)
                );
                ("pair_alert", id, t)
            }
            Event::PartnerHeard { partner } => {
                let t = format!("partner {} heard", self.who(&partner, now));
                ("partner_heard", id, t)
            }
            Event::BuddyReport {
                from,
                partner,
                overdue,
                ..
            } => {
                let t = format!(
                    "buddy watch: {} reports partner {} {}",
                    self.who(&from, now),
                    self.who(&partner, now),
                    if overdue { "OVERDUE" } else { "heard again" }
                );
                (
                    if overdue {
                        "buddy_overdue"
                    } else {
                        "buddy_heard"
                    },
                    id,
                    t,
                )
            }
            Event::DistressRaised {
                incident,
                author,
                nature,
                persons,
                mine,
                nearest_rank,
                ..
            } => {
                let t = format!(
                    "MAYDAY {} from {}{} POB {} — incident {}{}",
                    name_of(&NATURES, nature),
                    self.who(&author, now),
                    if mine { " (us)" } else { "" },
                    persons.map_or("?".to_owned(), |p| p.to_string()),
                    short(&incident.to_string()),
                    nearest_rank.map_or(String::new(), |k| format!(
                        " — we are nearest vessel #{}",
                        k + 1
                    ))
                );
                ("distress_raised", Some(incident), t)
            }
            Event::DistressRepeated { incident, .. } => {
                let t = format!("distress {} repeated", short(&incident.to_string()));
                ("distress_repeated", Some(incident), t)
            }
            Event::DistressUpdated {
                incident,
                by,
                status,
                text,
            } => {
                let t = format!(
                    "distress {}: {} by {} {text}",
                    short(&incident.to_string()),
                    status_name(&status),
                    self.who(&by, now)
                );
                (distress_tag(&status), Some(incident), t)
            }
            e @ (Event::DutyAnnounced { .. }
            | Event::DisputeFiled { .. }
            | Event::CaseAccepted { .. }
            | Event::AcceptanceLost { .. }
            | Event::CaseProgress { .. }
            | Event::AgreementSigned { .. }
            | Event::CaseClosed { .. }
            | Event::CaseEscalated { .. }) => self.case_line(now, id, e),
        }
    }

    /// The line for an event of sea mediation (`line` hands over only those).
    fn case_line(
        &self,
        now: u64,
        id: Option<RecordId>,
        e: Event,
    ) -> (&'static str, Option<RecordId>, String) {
        match e {
            Event::DutyAnnounced { mediator, areas } => {
                let t = format!(
                    "mediator {} on duty for {areas} area(s)",
                    self.who(&mediator, now)
                );
                ("duty", id, t)
            }
            Event::DisputeFiled {
                case,
                reporter,
                category,
                my_role,
            } => {
                let t = format!(
                    "dispute {} ({}) filed by {}{}",
                    short(&case.to_string()),
                    name_of(&CATEGORIES, category),
                    self.who(&reporter, now),
                    role_note(my_role)
                );
                ("dispute_filed", Some(case), t)
            }
            Event::CaseAccepted {
                case,
                mediator,
                my_role,
            } => {
                let t = format!(
                    "case {} accepted by {}{}",
                    short(&case.to_string()),
                    self.who(&mediator, now),
                    role_note(my_role)
                );
                ("case_accepted", Some(case), t)
            }
            Event::AcceptanceLost { case, winner } => {
                let t = format!(
                    "case {}: {} accepted first; ours does not stand",
                    short(&case.to_string()),
                    self.who(&winner, now)
                );
                ("acceptance_lost", Some(case), t)
            }
            Event::CaseProgress {
                case,
                status,
                text,
                my_role,
            } => {
                let t = format!(
                    "case {} {}: {text}{}",
                    short(&case.to_string()),
                    case_status_name(&status),
                    role_note(my_role)
                );
                let tag = if matches!(status, CaseStatus::AgreementProposed) {
                    "agreement_proposed"
                } else {
                    "case_progress"
                };
                (tag, Some(case), t)
            }
            Event::AgreementSigned {
                case,
                by,
                remaining,
                ..
            } => {
                let t = format!(
                    "case {}: agreement signed by {} ({remaining} to go)",
                    short(&case.to_string()),
                    self.who(&by, now)
                );
                ("agreement_signed", Some(case), t)
            }
            Event::CaseClosed {
                case,
                by_signatures,
                my_role,
            } => {
                let t = format!(
                    "case {} closed{}{}",
                    short(&case.to_string()),
                    if by_signatures {
                        " — every party signed"
                    } else {
                        ""
                    },
                    role_note(my_role)
                );
                ("case_closed", Some(case), t)
            }
            Event::CaseEscalated { case, to, my_role } => {
                let t = format!(
                    "case {} escalated to {}{}",
                    short(&case.to_string()),
                    escalation_name(to),
                    role_note(my_role)
                );
                ("case_escalated", Some(case), t)
            }
            // Not handed over by `line`; a plain line rather than a panic.
            e => ("event", id, format!("{e:?}")),
        }
    }
}
