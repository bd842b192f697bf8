//! The distress lifecycle, after the GMDSS/DSC discipline (ITU-R M.493 and M.541).
//!
//! A vessel in distress writes a `distress` record, and repeats it every 3.5 to 4.5 minutes,
//! drawn at random as DSC radios do, until it is acknowledged or cancelled. Each repeat is a
//! new record (with the newest fix); the records of one author form one *incident*, named by
//! its first record's id, until the incident ends: cancelled by its author (a false alert), or
//! resolved by its author, a certified shore station or an authority. A later distress from
//! the same author starts a new incident. Grouping is by time, not by arrival, so every node
//! holding the same records sees the same incidents.
//!
//! Other nodes answer with `distress_update`s naming any record of the incident:
//! acknowledged (shore first where it can), responding with an ETA, on scene. Anyone may
//! answer — help is help — but only an answer from a certified key stops the repeats (see
//! [`crate::FleetConfig::repeat_until_certified_ack`]). A distress is shown whatever its
//! author: uncertified or revoked authors are flagged, not hidden.

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{
    DistressNature, DistressStatus, Fix, PublicKey, Record, RecordId, Role, Timestamp,
};

use crate::event::Refusal;
use crate::geo::{distance_km, fix_time};
use crate::positions::Positions;
use crate::trust::Trust;

/// Distress records kept per author: about eight and a half hours of repeats. Beyond it, the
/// oldest repeats inside an incident are folded into its first record (their ids still name
/// the incident).
pub const MAX_DISTRESS_PER_AUTHOR: usize = 128;
/// Ids of folded repeats remembered per record.
pub const MAX_FOLDED_IDS: usize = 1024;

#[derive(Clone, Debug)]
pub(crate) struct DistressRec {
    pub(crate) id: RecordId,
    pub(crate) created: Timestamp,
    expiry: u64,
    pub(crate) nature: DistressNature,
    pub(crate) fix: Option<Fix>,
    pub(crate) persons: Option<u16>,
    pub(crate) text: String,
    /// Ids of repeats folded into this record.
    folded: Vec<RecordId>,
}

#[derive(Clone, Debug)]
pub(crate) struct UpdateRec {
    id: RecordId,
    target: RecordId,
    pub(crate) author: PublicKey,
    pub(crate) created: Timestamp,
    expiry: u64,
    pub(crate) status: DistressStatus,
    pub(crate) text: String,
}

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistressState {
    /// Nobody has answered.
    Open,
    /// Somebody acknowledged, is responding or is on scene.
    Answered,
    /// Resolved.
    Resolved,
    /// Cancelled by its author: a false alert.
    Cancelled,
}

/// A node that acknowledged a distress.
#[derive(Clone, Debug, PartialEq)]
pub struct Acknowledger {
    /// Its key.
    pub key: PublicKey,
    /// Its certified name.
    pub name: Option<String>,
    /// When (its first acknowledgement).
    pub at: Timestamp,
    /// What it said.
    pub text: String,
    /// A certified shore station.
    pub shore: bool,
    /// Certified in some role.
    pub certified: bool,
}

/// A vessel coming to help.
#[derive(Clone, Debug, PartialEq)]
pub struct Responder {
    /// Its key.
    pub key: PublicKey,
    /// Its certified name.
    pub name: Option<String>,
    /// When it last said so.
    pub at: Timestamp,
    /// What it said last.
    pub text: String,
    /// Minutes to arrival, as it said (none once on scene).
    pub eta_min: Option<u16>,
    /// Expected arrival: `at` plus the ETA.
    pub eta_at: Option<Timestamp>,
    /// Arrived.
    pub on_scene: bool,
    /// Its distance from the distress now, km, by last known positions.
    pub distance_km: Option<f64>,
    /// Certified in some role.
    pub certified: bool,
}

/// A vessel near a distress, by last known position.
#[derive(Clone, Debug, PartialEq)]
pub struct Nearby {
    /// Its key.
    pub key: PublicKey,
    /// Its certified name.
    pub name: Option<String>,
    /// Distance from the distress, km.
    pub distance_km: f64,
    /// When its position was taken.
    pub fix_at: Timestamp,
}

/// One incident, as every node shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct DistressView {
    /// The incident: its first distress record.
    pub incident: RecordId,
    /// The vessel in distress.
    pub author: PublicKey,
    /// Its certified name.
    pub name: Option<String>,
    /// Its key is certified (or an anchor) and not revoked.
    pub certified: bool,
    /// Its key is revoked (the distress is shown all the same).
    pub revoked: bool,
    /// Nature of distress (of the newest alert).
    pub nature: DistressNature,
    /// Persons on board (of the newest alert that says).
    pub persons: Option<u16>,
    /// Text of the newest alert.
    pub text: String,
    /// The newest fix the alerts carry.
    pub fix: Option<Fix>,
    /// When it was raised.
    pub raised: Timestamp,
    /// When it was last repeated.
    pub last_alert: Timestamp,
    /// Alerts held: the first and its repeats.
    pub alerts: usize,
    /// Where it stands.
    pub state: DistressState,
    /// When and by whom it ended.
    pub ended: Option<(Timestamp, PublicKey)>,
    /// Whether an answer has stopped the repeats.
    pub repeats_stopped: bool,
    /// Who acknowledged.
    pub acknowledged_by: Vec<Acknowledger>,
    /// Who is coming or on scene.
    pub responders: Vec<Responder>,
    /// The nearest vessels by last known position.
    pub nearest: Vec<Nearby>,
}

/// What the views need besides the book.
pub(crate) struct Ctx<'a> {
    pub(crate) trust: &'a Trust,
    pub(crate) positions: &'a Positions,
    pub(crate) nearest_count: usize,
    pub(crate) nearest_max_age_s: u64,
    pub(crate) certified_ack_stops: bool,
}

/// An incident, derived.
pub(crate) struct Incident<'a> {
    pub(crate) records: Vec<&'a DistressRec>,
    pub(crate) updates: Vec<&'a UpdateRec>,
    pub(crate) end: Option<(Timestamp, PublicKey, DistressStatus)>,
}

impl Incident<'_> {
    pub(crate) fn id(&self) -> RecordId {
        self.records[0].id
    }

    pub(crate) fn newest(&self) -> &DistressRec {
        self.records[self.records.len() - 1]
    }

    fn contains(&self, id: &RecordId) -> bool {
        self.records
            .iter()
            .any(|r| r.id == *id || r.folded.contains(id))
    }
}

/// Whether `u` takes effect on a distress by `author`.
pub(crate) fn verdict(u: &UpdateRec, author: &PublicKey, trust: &Trust) -> Result<(), Refusal> {
    if trust.revoked(&u.author, u.created) {
        return Err(Refusal::Revoked);
    }
    let mine = u.author == *author;
    match u.status {
        DistressStatus::Cancelled if !mine => Err(Refusal::CancelNotByAuthor),
        DistressStatus::Resolved
            if !mine
                && !trust.has_role(&u.author, Role::Shore, u.created)
                && !trust.has_role(&u.author, Role::Authority, u.created) =>
        {
            Err(Refusal::ResolveNotAuthorised)
        }
        DistressStatus::Acknowledged
        | DistressStatus::Responding { .. }
        | DistressStatus::OnScene
            if mine =>
        {
            Err(Refusal::OwnDistress)
        }
        _ => Ok(()),
    }
}

/// Distress records and updates, bounded (see `FleetConfig`).
#[derive(Debug)]
pub(crate) struct DistressBook {
    /// Author → its distress records, by (created, id).
    by_author: BTreeMap<PublicKey, Vec<DistressRec>>,
    /// Distress id (held or folded) → author.
    author_of: BTreeMap<RecordId, PublicKey>,
    updates: BTreeMap<RecordId, UpdateRec>,
    by_target: BTreeMap<RecordId, BTreeSet<RecordId>>,
    max_authors: usize,
    max_updates: usize,
}

/// What a new distress record was.
pub(crate) enum Stored {
    /// Known already.
    Duplicate,
    /// The first alert of a new incident.
    Raised,
    /// A repeat within an incident.
    Repeat(RecordId),
}

impl DistressBook {
    pub(crate) fn new(max_authors: usize, max_updates: usize) -> DistressBook {
        DistressBook {
            by_author: BTreeMap::new(),
            author_of: BTreeMap::new(),
            updates: BTreeMap::new(),
            by_target: BTreeMap::new(),
            max_authors: max_authors.max(1),
            max_updates: max_updates.max(1),
        }
    }

    /// Stores a distress record. `keep` is never evicted (our own key).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe_distress(
        &mut self,
        r: &Record,
        nature: DistressNature,
        fix: Option<Fix>,
        persons: Option<u16>,
        text: &str,
        keep: &PublicKey,
        trust: &Trust,
    ) -> Stored {
        let author = r.author();
        if self.author_of.get(&r.id()) == Some(&author) {
            return Stored::Duplicate;
        }
        let rec = DistressRec {
            id: r.id(),
            created: r.envelope().created,
            expiry: r.expiry(),
            nature,
            fix,
            persons,
            text: text.to_owned(),
            folded: Vec::new(),
        };
        let list = self.by_author.entry(author).or_default();
        let at = list.partition_point(|x| (x.created, x.id) < (rec.created, rec.id));
        list.insert(at, rec);
        let full = list.len() > MAX_DISTRESS_PER_AUTHOR;
        self.author_of.insert(r.id(), author);
        if full {
            self.fold_one(&author, trust);
        }
        while self.by_author.len() > self.max_authors {
            let victim = self
                .by_author
                .iter()
                .filter(|(k, _)| *k != keep)
                .filter_map(|(k, l)| l.last().map(|x| (x.created, *k)))
                .min();
            match victim {
                Some((_, k)) => self.forget_author(&k),
                None => break,
            }
        }
        match self.incident_of(&author, &r.id(), trust) {
            Some(i) if i.records.len() == 1 => Stored::Raised,
            Some(i) => Stored::Repeat(i.id()),
            None => Stored::Duplicate,
        }
    }

    fn forget_author(&mut self, key: &PublicKey) {
        if let Some(list) = self.by_author.remove(key) {
            for r in list {
                self.author_of.remove(&r.id);
                for f in r.folded {
                    self.author_of.remove(&f);
                }
            }
        }
    }

    /// Folds the oldest repeat that is neither the first nor the newest of its incident into
    /// the incident's first record; if there is none, forgets the author's oldest record.
    fn fold_one(&mut self, author: &PublicKey, trust: &Trust) {
        let plan = {
            let incidents = self.incidents(author, trust);
            let mut plan = None;
            for inc in &incidents {
                if inc.records.len() > 2 {
                    plan = Some((inc.records[0].id, inc.records[1].id));
                    break;
                }
            }
            plan
        };
        let Some(list) = self.by_author.get_mut(author) else {
            return;
        };
        match plan {
            Some((first, victim)) => {
                let Some(pos) = list.iter().position(|x| x.id == victim) else {
                    return;
                };
                let gone = list.remove(pos);
                if let Some(f) = list.iter_mut().find(|x| x.id == first) {
                    f.folded.push(gone.id);
                    f.folded.extend(gone.folded);
                    let excess = f.folded.len().saturating_sub(MAX_FOLDED_IDS);
                    for old in f.folded.drain(..excess) {
                        self.author_of.remove(&old);
                    }
                }
            }
            None => {
                let gone = list.remove(0);
                self.author_of.remove(&gone.id);
                for f in gone.folded {
                    self.author_of.remove(&f);
                }
            }
        }
    }

    /// Stores a distress update. Returns the incident it names and the verdict, if the
    /// distress is known here.
    pub(crate) fn observe_update(
        &mut self,
        r: &Record,
        target: RecordId,
        status: DistressStatus,
        text: &str,
        trust: &Trust,
    ) -> Option<(RecordId, Result<(), Refusal>)> {
        if self.updates.contains_key(&r.id()) {
            return None;
        }
        let u = UpdateRec {
            id: r.id(),
            target,
            author: r.author(),
            created: r.envelope().created,
            expiry: r.expiry(),
            status,
            text: text.to_owned(),
        };
        self.by_target.entry(target).or_default().insert(u.id);
        self.updates.insert(u.id, u);
        while self.updates.len() > self.max_updates {
            let victim = self
                .updates
                .values()
                .min_by_key(|u| (u.created, u.id))
                .map(|u| u.id);
            match victim {
                Some(id) => self.remove_update(&id),
                None => break,
            }
        }
        let u = self.updates.get(&r.id())?;
        let author = *self.author_of.get(&target)?;
        let incident = self.incident_of(&author, &target, trust)?.id();
        Some((incident, verdict(u, &author, trust)))
    }

    fn remove_update(&mut self, id: &RecordId) {
        if let Some(u) = self.updates.remove(id)
            && let Some(s) = self.by_target.get_mut(&u.target)
        {
            s.remove(id);
            if s.is_empty() {
                self.by_target.remove(&u.target);
            }
        }
    }

    /// Updates naming `id`.
    fn updates_for(&self, id: &RecordId) -> impl Iterator<Item = &UpdateRec> {
        self.by_target
            .get(id)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|u| self.updates.get(u))
    }

    /// The incidents of `author`, oldest first.
    pub(crate) fn incidents(&self, author: &PublicKey, trust: &Trust) -> Vec<Incident<'_>> {
        let mut out: Vec<Incident<'_>> = Vec::new();
        let Some(list) = self.by_author.get(author) else {
            return out;
        };
        for rec in list {
            let joins = out
                .last()
                .is_some_and(|cur| cur.end.is_none_or(|(t, _, _)| t > rec.created));
            if !joins {
                out.push(Incident {
                    records: Vec::new(),
                    updates: Vec::new(),
                    end: None,
                });
            }
            let Some(cur) = out.last_mut() else {
                continue;
            };
            cur.records.push(rec);
            let ids = std::iter::once(&rec.id).chain(rec.folded.iter());
            for id in ids {
                for u in self.updates_for(id) {
                    if verdict(u, author, trust).is_err() {
                        continue;
                    }
                    cur.updates.push(u);
                    if matches!(
                        u.status,
                        DistressStatus::Cancelled | DistressStatus::Resolved
                    ) && cur.end.is_none_or(|(t, _, _)| u.created < t)
                    {
                        cur.end = Some((u.created, u.author, u.status));
                    }
                }
            }
        }
        for inc in &mut out {
            inc.updates.sort_by_key(|u| (u.created, u.id));
        }
        out
    }

    /// The incident of `author` that holds record `id`.
    pub(crate) fn incident_of(
        &self,
        author: &PublicKey,
        id: &RecordId,
        trust: &Trust,
    ) -> Option<Incident<'_>> {
        self.incidents(author, trust)
            .into_iter()
            .find(|i| i.contains(id))
    }

    /// The author of distress record `id`, if held (or folded).
    pub(crate) fn author_of(&self, id: &RecordId) -> Option<PublicKey> {
        self.author_of.get(id).copied()
    }

    /// Authors with distress records.
    pub(crate) fn authors(&self) -> impl Iterator<Item = &PublicKey> {
        self.by_author.keys()
    }

    /// Forgets records and updates whose records expired. An expired record hands its ids on
    /// to the next record of the same incident, so that updates naming it still find it.
    pub(crate) fn expire(&mut self, now_s: u64, trust: &Trust) {
        let authors: Vec<PublicKey> = self.by_author.keys().copied().collect();
        for a in authors {
            let nothing_expired = self
                .by_author
                .get(&a)
                .is_none_or(|l| l.iter().all(|r| r.expiry > now_s));
            if nothing_expired {
                continue;
            }
            // The incident of each record, in list order.
            let group: Vec<usize> = self
                .incidents(&a, trust)
                .iter()
                .enumerate()
                .flat_map(|(i, inc)| std::iter::repeat_n(i, inc.records.len()))
                .collect();
            let Some(list) = self.by_author.get_mut(&a) else {
                continue;
            };
            let mut carry: Vec<RecordId> = Vec::new();
            let mut carry_group = usize::MAX;
            let mut dropped: Vec<RecordId> = Vec::new();
            let mut kept = Vec::with_capacity(list.len());
            for (i, mut r) in list.drain(..).enumerate() {
                let g = group.get(i).copied().unwrap_or(usize::MAX);
                if g != carry_group {
                    dropped.append(&mut carry);
                }
                if r.expiry <= now_s {
                    carry.push(r.id);
                    carry.append(&mut r.folded);
                    carry_group = g;
                } else {
                    r.folded.append(&mut carry);
                    let excess = r.folded.len().saturating_sub(MAX_FOLDED_IDS);
                    dropped.extend(r.folded.drain(..excess));
                    kept.push(r);
                }
            }
            dropped.append(&mut carry);
            for id in dropped {
                self.author_of.remove(&id);
            }
            if kept.is_empty() {
                self.by_author.remove(&a);
            } else {
                *list = kept;
            }
        }
        let gone: Vec<RecordId> = self
            .updates
            .values()
            .filter(|u| u.expiry <= now_s)
            .map(|u| u.id)
            .collect();
        for id in gone {
            self.remove_update(&id);
        }
    }

    /// Whether an answer in the incident stops the repeats.
    pub(crate) fn stopped(inc: &Incident<'_>, trust: &Trust, certified_only: bool) -> bool {
        inc.updates.iter().any(|u| {
            matches!(
                u.status,
                DistressStatus::Acknowledged
                    | DistressStatus::Responding { .. }
                    | DistressStatus::OnScene
            ) && (!certified_only || trust.trusted(&u.author, u.created))
        })
    }

    /// The view of an incident.
    pub(crate) fn view(
        &self,
        author: &PublicKey,
        inc: &Incident<'_>,
        now_s: u64,
        ctx: &Ctx<'_>,
    ) -> DistressView {
        let trust = ctx.trust;
        let first = inc.records[0];
        let newest = inc.newest();
        let at = Timestamp(now_s.min(u64::from(u32::MAX)) as u32);
        let fix = inc
            .records
            .iter()
            .filter_map(|r| r.fix.map(|f| (fix_time(r.created, &f), f)))
            .max_by_key(|(t, _)| *t)
            .map(|(_, f)| f);
        let mut acks: Vec<Acknowledger> = Vec::new();
        let mut responders: BTreeMap<PublicKey, Responder> = BTreeMap::new();
        let mut answered = false;
        for u in &inc.updates {
            let certified = trust.trusted(&u.author, u.created);
            let name = || trust.name(&u.author, at);
            match u.status {
                DistressStatus::Acknowledged => {
                    answered = true;
                    if !acks.iter().any(|a| a.key == u.author) {
                        acks.push(Acknowledger {
                            key: u.author,
                            name: name(),
                            at: u.created,
                            text: u.text.clone(),
                            shore: trust.has_role(&u.author, Role::Shore, u.created),
                            certified,
                        });
                    }
                }
                DistressStatus::Responding { eta_min } => {
                    answered = true;
                    responders.insert(
                        u.author,
                        Responder {
                            key: u.author,
                            name: name(),
                            at: u.created,
                            text: u.text.clone(),
                            eta_min: Some(eta_min),
                            eta_at: Some(Timestamp(
                                u.created.0.saturating_add(u32::from(eta_min) * 60),
                            )),
                            on_scene: false,
                            distance_km: None,
                            certified,
                        },
                    );
                }
                DistressStatus::OnScene => {
                    answered = true;
                    responders.insert(
                        u.author,
                        Responder {
                            key: u.author,
                            name: name(),
                            at: u.created,
                            text: u.text.clone(),
                            eta_min: None,
                            eta_at: None,
                            on_scene: true,
                            distance_km: None,
                            certified,
                        },
                    );
                }
                DistressStatus::Resolved | DistressStatus::Cancelled => {}
            }
        }
        let mut responders: Vec<Responder> = responders.into_values().collect();
        for r in &mut responders {
            r.distance_km = fix.and_then(|d| {
                ctx.positions
                    .get(&r.key)
                    .and_then(|h| h.fix)
                    .map(|f| distance_km(&d, &f))
            });
        }
        responders.sort_by_key(|a| (!a.on_scene, a.eta_at, a.key));
        let state = match inc.end {
            Some((_, _, DistressStatus::Cancelled)) => DistressState::Cancelled,
            Some(_) => DistressState::Resolved,
            None if answered => DistressState::Answered,
            None => DistressState::Open,
        };
        DistressView {
            incident: first.id,
            author: *author,
            name: trust.name(author, at),
            certified: trust.trusted(author, at),
            revoked: trust.revoked(author, newest.created),
            nature: newest.nature,
            persons: inc.records.iter().rev().find_map(|r| r.persons),
            text: newest.text.clone(),
            fix,
            raised: first.created,
            last_alert: newest.created,
            alerts: inc.records.len() + inc.records.iter().map(|r| r.folded.len()).sum::<usize>(),
            state,
            ended: inc.end.map(|(t, by, _)| (t, by)),
            repeats_stopped: Self::stopped(inc, trust, ctx.certified_ack_stops),
            acknowledged_by: acks,
            responders,
            nearest: fix.map_or_else(Vec::new, |f| nearest(&f, author, now_s, ctx)),
        }
    }
}

/// The vessels nearest to `at` by last known position: not the author, not shore stations,
/// positions no older than the configured age.
pub(crate) fn nearest(at: &Fix, author: &PublicKey, now_s: u64, ctx: &Ctx<'_>) -> Vec<Nearby> {
    let t = Timestamp(now_s.min(u64::from(u32::MAX)) as u32);
    let oldest = now_s.saturating_sub(ctx.nearest_max_age_s);
    let mut v: Vec<Nearby> = ctx
        .positions
        .iter()
        .filter(|(k, _)| *k != author)
        .filter_map(|(k, h)| Some((k, h.fix?, h.fix_at?)))
        .filter(|(_, _, fix_at)| fix_at.secs() >= oldest)
        .filter(|(k, _, _)| !ctx.trust.has_role(k, Role::Shore, t))
        .map(|(k, f, fix_at)| Nearby {
            key: *k,
            name: None,
            distance_km: distance_km(at, &f),
            fix_at,
        })
        .collect();
    v.sort_by(|a, b| {
        a.distance_km
            .total_cmp(&b.distance_km)
            .then(a.key.cmp(&b.key))
    });
    v.truncate(ctx.nearest_count);
    for n in &mut v {
        n.name = ctx.trust.name(&n.key, t);
    }
    v
}
