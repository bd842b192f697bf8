//! What people do with a node: pairs and buddy watch, distress, sea mediation, trust.
//!
//! The daemon owns one [`Workflows`]: haiqiao-fleet's pure projections plus the glue to the
//! engine. Every record the node stores for itself (delivered or written here) is observed;
//! the fleet's actions (repeat a distress, raise the buddy-watch alarm, tell shore, renew a
//! pairing, close a signed case) are signed and submitted; the engine's [`TrustPolicy`] is
//! recomputed whenever certificates change. Requests from the control API ([`Request`]) go
//! through the fleet's builders, which refuse what every other node would refuse. What
//! happened is kept in a bounded timeline, printed, and served at `/api/v1/timeline`.
//!
//! This module is the glue (observe, poll, replay, the engine's trust and voyage); the
//! requests are in `requests`, the views in `views`, the timeline in `timeline`, who reads
//! what the node writes in `sealing`. Errors are [`WorkflowError`]s, which `crate::error`
//! maps to the API's codes.

use std::collections::VecDeque;

use haiqiao_fleet::{Action, Fleet, FleetConfig, FleetError};
use haiqiao_mesh::{Input, Node, Store, TrustPolicy};
use haiqiao_proto::{Body, PublicKey, Record};

use crate::error::WorkflowError;
use crate::json::short;

mod requests;
mod sealing;
#[cfg(test)]
mod tests;
mod timeline;
mod views;

pub(crate) use requests::{AreaSpec, Request};
use timeline::Entry;

/// The fleet projections of one node and their timeline.
pub(crate) struct Workflows {
    fleet: Fleet,
    timeline: VecDeque<Entry>,
    next_index: u64,
    /// Certificates or revocations changed since the engine's policy was last set.
    trust_dirty: bool,
    /// When the policy is next recomputed anyway (certificates expire), ms.
    next_trust_ms: u64,
    /// Print each timeline entry on stdout.
    print: bool,
}

/// Recompute the engine's trust policy at least this often, ms.
const TRUST_REFRESH_MS: u64 = 60_000;

impl Workflows {
    /// Projections for the node with key `me`; `seed` varies the distress repeat intervals.
    pub(crate) fn new(cfg: FleetConfig, me: PublicKey, seed: u64) -> Result<Workflows, FleetError> {
        Ok(Workflows {
            fleet: Fleet::new(cfg, me, seed)?,
            timeline: VecDeque::new(),
            next_index: 0,
            trust_dirty: true,
            next_trust_ms: 0,
            print: true,
        })
    }

    /// The anchors as keys, for the engine's key ring.
    pub(crate) fn anchors(&self) -> Vec<PublicKey> {
        self.fleet
            .config()
            .trust_anchors
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// Feeds every record the store holds (at start-up), rebuilding the views and the
    /// timeline entries those records make (dated by the records' creation, not printed
    /// again), then sets the engine's trust. Entries that no record carries (alarms sounded,
    /// refusals of requests) are not rebuilt.
    pub(crate) fn replay<S: Store>(
        &mut self,
        now_ms: u64,
        node: &mut Node<S>,
    ) -> Result<(), WorkflowError> {
        node.handle(now_ms, Input::Keys(self.anchors()))?;
        let mut summaries = node.store().summaries()?;
        // Creation times are in seconds: within one second, what a record answers goes
        // before it (a distress before its acknowledgement, a proposal before its
        // signatures), as it did when they arrived.
        summaries.sort_by_key(|s| (s.created, replay_rank(s.kind), s.author, s.seq));
        let me = self.fleet.me();
        for s in summaries {
            // What the running daemon shows the fleet: records delivered here and our own,
            // not the copies carried for others.
            if s.author != me && !node.is_for_me(&s.dest) {
                continue;
            }
            if let Some(r) = node.store().get(&s.id)? {
                let r = Self::view(node, &r);
                let at = u64::from(s.created.0) * 1000;
                let print = std::mem::replace(&mut self.print, false);
                for e in self.fleet.observe(now_ms, &r) {
                    self.event(at, node, &r, e);
                }
                self.print = print;
            }
        }
        // What was due while the node was off (renewals, alarms) is acted on at the first poll.
        node.handle(now_ms, Input::EtaShore(self.fleet.eta_shore_min(now_ms)))?;
        self.trust_dirty = true;
        self.sync_trust(now_ms, node)?;
        Ok(())
    }

    /// When `poll` next has work, ms.
    pub(crate) fn next_timeout(&self) -> Option<u64> {
        let t = self.next_trust_ms.max(1);
        Some(self.fleet.next_timeout().map_or(t, |f| f.min(t)))
    }

    /// Takes in a record stored here (delivered, or written by this node).
    pub(crate) fn observe<S: Store>(&mut self, now_ms: u64, node: &mut Node<S>, r: &Record) {
        // Sealed records are opened where this node is a reader (docs/protocol.md).
        let opened = Self::view(node, r);
        let r = &opened;
        if let Body::Sealed(s) = r.body()
            && s.inner == haiqiao_proto::Kind::DisputeReport
        {
            let t = format!(
                "case {} filed by {} (sealed: this node is not among its readers)",
                short(&r.id().to_string()),
                self.who(&r.author(), now_ms)
            );
            self.push(now_ms, "sealed_case", Some(r.id()), t);
        }
        let events = self.fleet.observe(now_ms, r);
        for e in events {
            self.event(now_ms, node, r, e);
        }
        if r.author() == self.fleet.me() && matches!(r.body(), Body::Position(_)) {
            self.sync_voyage(now_ms, node);
        }
    }

    /// Tells the engine the voyage (its hellos carry the ETA while homeward); a timeline entry
    /// when the boat turns for home or stops being homeward.
    pub(super) fn sync_voyage<S: Store>(&mut self, now_ms: u64, node: &mut Node<S>) {
        let eta = self.fleet.eta_shore_min(now_ms);
        let was = node.eta_shore_min(now_ms).is_some();
        if let Err(e) = node.handle(now_ms, Input::EtaShore(eta)) {
            tracing::warn!(error = %e, "engine: the ETA ashore");
        }
        if was != eta.is_some() {
            let v = self.fleet.voyage(now_ms);
            let text = match eta {
                Some(m) => format!(
                    "homeward{}, ashore in {m} min ({})",
                    v.port.map(|p| format!(" to {p}")).unwrap_or_default(),
                    if v.skipper_says {
                        "skipper"
                    } else {
                        "positions"
                    }
                ),
                None => "no longer homeward".to_owned(),
            };
            let what = if eta.is_some() {
                "homeward"
            } else {
                "not_homeward"
            };
            self.push(now_ms, what, None, text);
        }
    }

    /// Acts on what is due: signs and submits the fleet's drafts, sounds or clears alarms,
    /// and brings the engine's trust policy up to date.
    pub(crate) fn poll<S: Store>(
        &mut self,
        now_ms: u64,
        node: &mut Node<S>,
    ) -> Result<(), WorkflowError> {
        // Each submitted draft is observed, which can make more work: loop, bounded.
        for _ in 0..16 {
            let actions = self.fleet.poll(now_ms);
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match &a {
                    Action::RaiseBuddyAlarm {
                        partner,
                        last_heard,
                        ..
                    } => {
                        let t = format!(
                            "ALARM: partner {} silent since {}",
                            self.who(partner, now_ms),
                            last_heard.map_or("the pair formed".to_owned(), |t| t.0.to_string())
                        );
                        self.push(now_ms, "buddy_alarm", None, t);
                    }
                    Action::ClearBuddyAlarm { partner } => {
                        let t =
                            format!("alarm cleared: partner {} heard", self.who(partner, now_ms));
                        self.push(now_ms, "buddy_alarm_cleared", None, t);
                    }
                    // With no peer linked a repeat would only queue behind the alert already
                    // held here, and every queued copy would flood the mesh at the next
                    // contact: the store carries the alert there by itself (custody), and the
                    // fleet's next repeat, minutes later, carries the newest fix. A radio
                    // repeats because a broadcast can be missed; a held record cannot be.
                    Action::RepeatDistress { incident, .. } if node.peers().next().is_none() => {
                        self.push(
                            now_ms,
                            "distress_repeat_held",
                            Some(*incident),
                            "distress repeat held: no link (the alert waits in the store)"
                                .to_owned(),
                        );
                        continue;
                    }
                    _ => {}
                }
                if let Some(d) = a.draft() {
                    match self.write(now_ms, node, d.dest, d.ttl_min, d.body.clone()) {
                        Ok(r) => {
                            let what = match &a {
                                Action::RepeatDistress { .. } => "distress_repeat_sent",
                                Action::AlertShore { .. } => "buddy_report_sent",
                                Action::RenewPairing { .. } => "pairing_renewed",
                                _ => "case_close_sent",
                            };
                            self.push(
                                now_ms,
                                what,
                                Some(r.id()),
                                format!("sent {} {}", r.kind().name(), r.id()),
                            );
                            self.observe(now_ms, node, &r);
                        }
                        Err(e) => {
                            self.push(now_ms, "error", None, format!("could not write: {e}"));
                        }
                    }
                }
            }
        }
        self.sync_trust(now_ms, node)
    }

    fn sync_trust<S: Store>(
        &mut self,
        now_ms: u64,
        node: &mut Node<S>,
    ) -> Result<(), WorkflowError> {
        if !self.trust_dirty && now_ms < self.next_trust_ms {
            return Ok(());
        }
        self.trust_dirty = false;
        self.next_trust_ms = now_ms + TRUST_REFRESH_MS;
        let policy = TrustPolicy {
            enforced: self.fleet.enforces_trust(),
            trusted: self
                .fleet
                .trusted_keys(now_ms)
                .iter()
                .map(PublicKey::hint)
                .collect(),
            shore: self.fleet.certified_shore(now_ms).into_iter().collect(),
            anchors: self.anchors().iter().map(PublicKey::hint).collect(),
            revoked: self.fleet.revoked_keys(now_ms).into_iter().collect(),
        };
        node.handle(now_ms, Input::Trust(policy))?;
        Ok(())
    }

    /// Checks a hand-written record (`POST /api/v1/records`) the way the builders do.
    pub(crate) fn vet(
        &self,
        now_ms: u64,
        dest: haiqiao_proto::Destination,
        ttl_min: u32,
        body: &Body,
    ) -> Result<(), WorkflowError> {
        let d = haiqiao_fleet::Draft {
            dest,
            ttl_min,
            body: body.clone(),
        };
        self.fleet.vet(now_ms, &d)?;
        Ok(())
    }
}

/// Where a record of this kind goes among those created in the same second, when the store is
/// replayed: records that start something first, then those that answer them, then those that
/// answer the answers.
fn replay_rank(kind: haiqiao_proto::Kind) -> u8 {
    use haiqiao_proto::Kind;
    match kind {
        Kind::DistressUpdate | Kind::CaseUpdate | Kind::Revocation | Kind::Receipt => 1,
        Kind::AgreementSignature => 2,
        _ => 0,
    }
}
