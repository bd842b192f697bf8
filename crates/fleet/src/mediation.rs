//! Sea mediation (海上老娘舅): duty announcements, cases, agreements and statistics.
//!
//! The steps mirror how mediation platforms ashore run a case: filed (with parties, place,
//! time, category, description, evidence) → accepted by a mediator → in mediation, each step
//! told to the parties → agreement proposed → signed by every party → closed; or escalated to
//! the coast guard (95110) or a court.
//!
//! - A mediator announces the areas (lat/lon boxes), categories and hours it is on duty; a
//!   dispute is *offered* to the certified mediators on duty, for its category, whose areas
//!   hold its position (any area if it has none).
//! - Acceptances count only from keys certified as mediators that are not parties. The first
//!   acceptance — by `created`, then record id — wins, at every node alike; the others are
//!   told they lost. Only the winner's later updates count.
//! - The agreement is the text of the winner's newest proposal; the reporter and every party
//!   named with a key co-sign its SHA-256. When all have signed (before any later step), the
//!   case is closed by signatures; the mediator is then asked to post the closing update.
//!   Signatures by anyone else count for nothing.
//!
//! Everything is derived from the set of records held, so the order they arrive in does not
//! change any view.

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{
    Body, CaseStatus, CategorySet, DailyHours, DisputeCategory, DutyArea, Fix, KeyHint, Party,
    PublicKey, Record, RecordId, Role, Timestamp, agreement_hash,
};

use crate::event::{CaseRole, Event, Refusal, refused};
use crate::trust::Trust;

mod views;
pub use views::{AgreementView, CaseStage, CaseStats, CaseView, DutyView, PartyView, ProgressView};

#[derive(Clone, Debug)]
struct DutyRec {
    id: RecordId,
    created: Timestamp,
    seq: u64,
    expiry: u64,
    areas: Vec<DutyArea>,
    categories: CategorySet,
    from: Timestamp,
    until: Timestamp,
    daily: DailyHours,
}

impl DutyRec {
    fn on_duty(&self, at: Timestamp) -> bool {
        !self.areas.is_empty() && self.from <= at && at < self.until && self.daily.contains(at)
    }

    fn covers(&self, category: DisputeCategory, fix: Option<&Fix>, at: Timestamp) -> bool {
        self.on_duty(at)
            && self.categories.contains(category)
            && fix.is_none_or(|f| self.areas.iter().any(|a| a.bounds.contains(f)))
    }
}

#[derive(Clone, Debug)]
struct ReportRec {
    id: RecordId,
    reporter: PublicKey,
    created: Timestamp,
    expiry: u64,
    category: DisputeCategory,
    parties: Vec<Party>,
    fix: Option<Fix>,
    description: String,
    evidence: usize,
}

impl ReportRec {
    /// The reporter, or a party named by its key hint.
    fn is_party(&self, key: &PublicKey) -> bool {
        *key == self.reporter || self.parties.iter().any(|p| p.key == Some(key.hint()))
    }

    /// Who must co-sign: the reporter, then each party named with a key (once per hint).
    fn slots(&self) -> Vec<Slot> {
        let mut v = vec![Slot::Reporter];
        let mut seen = BTreeSet::from([self.reporter.hint()]);
        for p in &self.parties {
            if let Some(h) = p.key
                && seen.insert(h)
            {
                v.push(Slot::Party(h));
            }
        }
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Reporter,
    Party(KeyHint),
}

impl Slot {
    fn filled_by(&self, key: &PublicKey, reporter: &PublicKey) -> bool {
        match self {
            Slot::Reporter => key == reporter,
            Slot::Party(h) => key.hint() == *h && key != reporter,
        }
    }
}

#[derive(Clone, Debug)]
struct UpdRec {
    id: RecordId,
    author: PublicKey,
    created: Timestamp,
    expiry: u64,
    status: CaseStatus,
    text: String,
}

#[derive(Clone, Debug)]
struct SigRec {
    id: RecordId,
    author: PublicKey,
    created: Timestamp,
    expiry: u64,
    hash: [u8; 32],
}

/// Duty announcements, cases, updates and signatures, bounded (see `FleetConfig`).
#[derive(Debug)]
pub(crate) struct Mediation {
    duties: BTreeMap<PublicKey, DutyRec>,
    max_mediators: usize,
    reports: BTreeMap<RecordId, ReportRec>,
    max_cases: usize,
    updates: BTreeMap<RecordId, Vec<UpdRec>>,
    sigs: BTreeMap<RecordId, Vec<SigRec>>,
    record_count: usize,
    max_records: usize,
    /// Cases we mediate, to check for closing.
    pub(crate) mine: BTreeSet<RecordId>,
    /// Cases whose closing we already asked for.
    pub(crate) close_asked: BTreeSet<RecordId>,
}

impl Mediation {
    pub(crate) fn new(max_mediators: usize, max_cases: usize, max_records: usize) -> Mediation {
        Mediation {
            duties: BTreeMap::new(),
            max_mediators: max_mediators.max(1),
            reports: BTreeMap::new(),
            max_cases: max_cases.max(1),
            updates: BTreeMap::new(),
            sigs: BTreeMap::new(),
            record_count: 0,
            max_records: max_records.max(1),
            mine: BTreeSet::new(),
            close_asked: BTreeSet::new(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Duty.

    /// Stores a duty announcement (the newest per mediator counts).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe_duty(
        &mut self,
        r: &Record,
        areas: &[DutyArea],
        categories: CategorySet,
        from: Timestamp,
        until: Timestamp,
        daily: DailyHours,
        trust: &Trust,
        out: &mut Vec<Event>,
    ) {
        let author = r.author();
        let rec = DutyRec {
            id: r.id(),
            created: r.envelope().created,
            seq: r.envelope().seq,
            expiry: r.expiry(),
            areas: areas.to_vec(),
            categories,
            from,
            until,
            daily,
        };
        if self
            .duties
            .get(&author)
            .is_some_and(|d| (d.created, d.seq, d.id) >= (rec.created, rec.seq, rec.id))
        {
            return;
        }
        let created = rec.created;
        self.duties.insert(author, rec);
        while self.duties.len() > self.max_mediators {
            // Uncertified announcements go first, then the one whose period ended first.
            let victim = self
                .duties
                .iter()
                .map(|(k, d)| (trust.has_role(k, Role::Mediator, d.created), d.until, *k))
                .min();
            match victim {
                Some((_, _, k)) => {
                    self.duties.remove(&k);
                }
                None => break,
            }
        }
        if trust.revoked(&author, created) {
            out.push(refused(r, Refusal::Revoked));
        } else if !trust.has_role(&author, Role::Mediator, created) {
            out.push(refused(r, Refusal::UncertifiedMediator));
        } else {
            out.push(Event::DutyAnnounced {
                mediator: author,
                areas: areas.len(),
            });
        }
    }

    /// Certified mediators on duty at `at` for `category` whose areas hold `fix` (any area
    /// if `fix` is none).
    pub(crate) fn mediators_for(
        &self,
        category: DisputeCategory,
        fix: Option<&Fix>,
        at: Timestamp,
        trust: &Trust,
    ) -> Vec<PublicKey> {
        self.duties
            .iter()
            .filter(|(k, d)| d.covers(category, fix, at) && trust.has_role(k, Role::Mediator, at))
            .map(|(k, _)| *k)
            .collect()
    }

    /// The area numbers of on-duty certified mediators whose boxes hold `fix`.
    pub(crate) fn areas_at(&self, fix: &Fix, at: Timestamp, trust: &Trust) -> Vec<DutyArea> {
        let mut v: Vec<DutyArea> = self
            .duties
            .iter()
            .filter(|(k, d)| d.on_duty(at) && trust.has_role(k, Role::Mediator, at))
            .flat_map(|(_, d)| d.areas.iter().filter(|a| a.bounds.contains(fix)).copied())
            .collect();
        v.sort_by_key(|a| a.area);
        v.dedup_by_key(|a| a.area);
        v
    }

    /// Every announcement held.
    pub(crate) fn duties(&self, at: Timestamp, trust: &Trust) -> Vec<DutyView> {
        self.duties
            .iter()
            .map(|(k, d)| DutyView {
                mediator: *k,
                name: trust.name(k, at),
                certified: trust.has_role(k, Role::Mediator, at),
                on_duty: d.on_duty(at),
                areas: d.areas.clone(),
                categories: d.categories,
                from: d.from,
                until: d.until,
                daily: d.daily,
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // Cases.

    /// Stores a dispute report. Returns whether it is new.
    pub(crate) fn observe_report(&mut self, r: &Record) -> bool {
        let Body::DisputeReport {
            category,
            parties,
            fix,
            description,
            evidence,
        } = r.body()
        else {
            return false;
        };
        if self.reports.contains_key(&r.id()) {
            return false;
        }
        self.reports.insert(
            r.id(),
            ReportRec {
                id: r.id(),
                reporter: r.author(),
                created: r.envelope().created,
                expiry: r.expiry(),
                category: *category,
                parties: parties.clone(),
                fix: *fix,
                description: description.clone(),
                evidence: evidence.len(),
            },
        );
        true
    }

    /// Keeps the number of cases within bounds, given their stages: finished cases go first,
    /// oldest first, then the oldest open ones (never `keep`).
    pub(crate) fn evict_cases(&mut self, trust: &Trust, keep: &RecordId) {
        while self.reports.len() > self.max_cases {
            let victim = self
                .reports
                .values()
                .filter(|c| c.id != *keep)
                .map(|c| {
                    let finished = self
                        .derive(&c.id, trust)
                        .is_some_and(|d| d.stage.finished());
                    (!finished, c.created, c.id)
                })
                .min();
            match victim {
                Some((_, _, id)) => self.forget_case(&id),
                None => break,
            }
        }
    }

    fn forget_case(&mut self, id: &RecordId) {
        self.reports.remove(id);
        if let Some(u) = self.updates.remove(id) {
            self.record_count -= u.len();
        }
        if let Some(s) = self.sigs.remove(id) {
            self.record_count -= s.len();
        }
        self.mine.remove(id);
        self.close_asked.remove(id);
    }

    /// Stores a case update. Returns false if it was known.
    pub(crate) fn observe_update(
        &mut self,
        r: &Record,
        case: RecordId,
        status: &CaseStatus,
        text: &str,
    ) -> bool {
        let list = self.updates.entry(case).or_default();
        if list.iter().any(|u| u.id == r.id()) {
            return false;
        }
        list.push(UpdRec {
            id: r.id(),
            author: r.author(),
            created: r.envelope().created,
            expiry: r.expiry(),
            status: status.clone(),
            text: text.to_owned(),
        });
        self.record_count += 1;
        self.evict_records();
        true
    }

    /// Stores an agreement signature. Returns false if it was known.
    pub(crate) fn observe_signature(&mut self, r: &Record, case: RecordId, hash: [u8; 32]) -> bool {
        let list = self.sigs.entry(case).or_default();
        if list.iter().any(|s| s.id == r.id()) {
            return false;
        }
        list.push(SigRec {
            id: r.id(),
            author: r.author(),
            created: r.envelope().created,
            expiry: r.expiry(),
            hash,
        });
        self.record_count += 1;
        self.evict_records();
        true
    }

    /// Drops the oldest updates and signatures, those of unknown cases first, while there
    /// are too many.
    fn evict_records(&mut self) {
        while self.record_count > self.max_records {
            let reports = &self.reports;
            let u = self.updates.iter().flat_map(|(c, l)| {
                l.iter()
                    .map(move |u| (reports.contains_key(c), u.created, u.id, *c, true))
            });
            let s = self.sigs.iter().flat_map(|(c, l)| {
                l.iter()
                    .map(move |s| (reports.contains_key(c), s.created, s.id, *c, false))
            });
            let Some((_, _, id, case, is_update)) = u.chain(s).min() else {
                self.record_count = 0;
                break;
            };
            self.remove_record(&case, &id, is_update);
        }
    }

    fn remove_record(&mut self, case: &RecordId, id: &RecordId, is_update: bool) {
        if is_update {
            if let Some(l) = self.updates.get_mut(case) {
                l.retain(|u| u.id != *id);
                if l.is_empty() {
                    self.updates.remove(case);
                }
            }
        } else if let Some(l) = self.sigs.get_mut(case) {
            l.retain(|s| s.id != *id);
            if l.is_empty() {
                self.sigs.remove(case);
            }
        }
        self.record_count = self.record_count.saturating_sub(1);
    }

    /// Why an acceptance by `key` at `at` would not count, if it would not.
    pub(crate) fn acceptance_refusal(
        &self,
        case: &RecordId,
        key: &PublicKey,
        at: Timestamp,
        trust: &Trust,
    ) -> Option<Refusal> {
        let report = self.reports.get(case)?;
        if trust.revoked(key, at) {
            Some(Refusal::Revoked)
        } else if !trust.has_role(key, Role::Mediator, at) {
            Some(Refusal::UncertifiedMediator)
        } else if report.is_party(key) {
            Some(Refusal::MediatorIsParty)
        } else {
            None
        }
    }

    /// Whether `key` is the reporter or a named party of the case.
    pub(crate) fn is_party(&self, case: &RecordId, key: &PublicKey) -> bool {
        self.reports.get(case).is_some_and(|r| r.is_party(key))
    }

    /// The case's derived state.
    fn derive(&self, case: &RecordId, trust: &Trust) -> Option<Derived> {
        let report = self.reports.get(case)?;
        let empty = Vec::new();
        let updates = self.updates.get(case).unwrap_or(&empty);
        let sigs = self.sigs.get(case);
        let mut accepts: Vec<&UpdRec> = updates
            .iter()
            .filter(|u| u.status == CaseStatus::Accepted)
            .filter(|u| {
                self.acceptance_refusal(case, &u.author, u.created, trust)
                    .is_none()
            })
            .collect();
        accepts.sort_by_key(|u| (u.created, u.id));
        let mut d = Derived {
            stage: CaseStage::Filed,
            mediator: None,
            accepted: None,
            others: Vec::new(),
            progress: Vec::new(),
            agreement: None,
            signed: Vec::new(),
            finished: None,
            by_signatures: false,
            close_posted: false,
        };
        let Some(winner) = accepts.first() else {
            return Some(d);
        };
        let mediator = winner.author;
        d.stage = CaseStage::Accepted;
        d.mediator = Some(mediator);
        d.accepted = Some(winner.created);
        for a in &accepts[1..] {
            if a.author != mediator && !d.others.contains(&a.author) {
                d.others.push(a.author);
            }
        }
        let mut steps: Vec<&UpdRec> = updates
            .iter()
            .filter(|u| u.author == mediator && u.status != CaseStatus::Accepted)
            .filter(|u| !trust.revoked(&u.author, u.created))
            .collect();
        steps.sort_by_key(|u| (u.created, u.id));
        let slots = report.slots();
        let valid_sigs: Vec<&SigRec> = sigs
            .into_iter()
            .flatten()
            .filter(|s| report.is_party(&s.author) && !trust.revoked(&s.author, s.created))
            .collect();
        // When every slot has signed `hash`: the latest of the earliest signature per slot.
        let settled = |hash: &[u8; 32]| -> (Option<Timestamp>, Vec<PublicKey>) {
            let mut latest = Timestamp(0);
            let mut signers = Vec::new();
            let mut all = true;
            for slot in &slots {
                let first = valid_sigs
                    .iter()
                    .filter(|s| s.hash == *hash && slot.filled_by(&s.author, &report.reporter))
                    .min_by_key(|s| (s.created, s.id));
                match first {
                    Some(s) => {
                        latest = latest.max(s.created);
                        if !signers.contains(&s.author) {
                            signers.push(s.author);
                        }
                    }
                    None => all = false,
                }
            }
            (all.then_some(latest), signers)
        };
        for u in steps {
            if let Some(a) = &d.agreement
                && let (Some(t), _) = settled(&a.hash)
                && t <= u.created
            {
                d.finished = Some(t);
                d.by_signatures = true;
                d.stage = CaseStage::Closed;
                if u.status == CaseStatus::Closed {
                    d.close_posted = true;
                }
                break;
            }
            match &u.status {
                CaseStatus::Accepted => {}
                CaseStatus::InMediation => {
                    d.stage = CaseStage::InMediation;
                    d.progress.push(progress(u));
                }
                CaseStatus::AgreementProposed => {
                    d.stage = CaseStage::AgreementProposed;
                    d.agreement = Some(AgreementView {
                        text: u.text.clone(),
                        hash: agreement_hash(&u.text),
                        proposed: u.created,
                        signed_by: Vec::new(),
                        missing: slots.len(),
                    });
                    d.progress.push(progress(u));
                }
                CaseStatus::Escalated(e) => {
                    d.stage = CaseStage::Escalated(*e);
                    d.finished = Some(u.created);
                    d.progress.push(progress(u));
                    break;
                }
                CaseStatus::Closed => {
                    d.stage = CaseStage::Closed;
                    d.finished = Some(u.created);
                    d.close_posted = true;
                    d.progress.push(progress(u));
                    break;
                }
            }
        }
        if let Some(a) = &mut d.agreement {
            let (when, signers) = settled(&a.hash);
            a.missing = slots.len() - signers.len().min(slots.len());
            a.signed_by = signers.clone();
            d.signed = signers;
            if d.finished.is_none()
                && let Some(t) = when
            {
                d.finished = Some(t);
                d.by_signatures = true;
                d.stage = CaseStage::Closed;
            }
        }
        Some(d)
    }

    /// The view of a case.
    pub(crate) fn view(&self, case: &RecordId, trust: &Trust) -> Option<CaseView> {
        let report = self.reports.get(case)?;
        let d = self.derive(case, trust)?;
        let at = report.created;
        let parties = report
            .parties
            .iter()
            .map(|p| PartyView {
                name: p.name.clone(),
                key: p.key,
                signed: p.key.is_some_and(|h| {
                    d.signed
                        .iter()
                        .any(|s| s.hint() == h && *s != report.reporter)
                }),
            })
            .collect();
        Some(CaseView {
            case: *case,
            reporter: report.reporter,
            reporter_name: trust.name(&report.reporter, at),
            category: report.category,
            parties,
            reporter_signed: d.signed.contains(&report.reporter),
            fix: report.fix,
            description: report.description.clone(),
            evidence: report.evidence,
            filed: report.created,
            offered_to: self
                .mediators_for(report.category, report.fix.as_ref(), at, trust)
                .into_iter()
                .filter(|k| !report.is_party(k))
                .collect(),
            mediator: d.mediator,
            mediator_name: d
                .mediator
                .and_then(|m| trust.name(&m, d.accepted.unwrap_or(at))),
            accepted: d.accepted,
            other_acceptances: d.others,
            progress: d.progress,
            agreement: d.agreement,
            stage: d.stage,
            finished: d.finished,
            closed_by_signatures: d.by_signatures,
            close_posted: d.close_posted,
        })
    }

    /// Every case held, newest first.
    pub(crate) fn views(&self, trust: &Trust) -> Vec<CaseView> {
        let mut v: Vec<CaseView> = self
            .reports
            .keys()
            .filter_map(|c| self.view(c, trust))
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse((c.filed, c.case)));
        v
    }

    /// Statistics over the cases held.
    pub(crate) fn stats(&self, trust: &Trust) -> CaseStats {
        let mut s = CaseStats {
            total: 0,
            open: 0,
            accepted: 0,
            closed: 0,
            escalated: 0,
            mean_time_to_accept_s: None,
            median_time_to_accept_s: None,
            mean_time_to_close_s: None,
            median_time_to_close_s: None,
            handled_rate: None,
        };
        let mut to_accept = Vec::new();
        let mut to_close = Vec::new();
        for (id, report) in &self.reports {
            let Some(d) = self.derive(id, trust) else {
                continue;
            };
            s.total += 1;
            match d.stage {
                CaseStage::Filed => s.open += 1,
                CaseStage::Accepted | CaseStage::InMediation | CaseStage::AgreementProposed => {
                    s.accepted += 1
                }
                CaseStage::Closed => s.closed += 1,
                CaseStage::Escalated(_) => s.escalated += 1,
            }
            if let Some(t) = d.accepted {
                to_accept.push(t.secs().saturating_sub(report.created.secs()));
            }
            if d.stage == CaseStage::Closed
                && let Some(t) = d.finished
            {
                to_close.push(t.secs().saturating_sub(report.created.secs()));
            }
        }
        (s.mean_time_to_accept_s, s.median_time_to_accept_s) = mean_median(&mut to_accept);
        (s.mean_time_to_close_s, s.median_time_to_close_s) = mean_median(&mut to_close);
        if s.total > 0 {
            s.handled_rate = Some((s.closed + s.escalated) as f64 / s.total as f64);
        }
        s
    }

    /// Forgets what expired: announcements, cases (with their records), updates, signatures.
    pub(crate) fn expire(&mut self, now_s: u64) {
        self.duties.retain(|_, d| d.expiry > now_s);
        let gone: Vec<RecordId> = self
            .reports
            .values()
            .filter(|r| r.expiry <= now_s)
            .map(|r| r.id)
            .collect();
        for id in gone {
            self.forget_case(&id);
        }
        let mut n = 0;
        self.updates.retain(|_, l| {
            l.retain(|u| u.expiry > now_s);
            n += l.len();
            !l.is_empty()
        });
        self.sigs.retain(|_, l| {
            l.retain(|s| s.expiry > now_s);
            n += l.len();
            !l.is_empty()
        });
        self.record_count = n;
    }

    /// This node's part in a case.
    pub(crate) fn role_of(&self, v: &CaseView, me: &PublicKey) -> Option<CaseRole> {
        if v.mediator == Some(*me) {
            Some(CaseRole::Mediator)
        } else if v.reporter == *me {
            Some(CaseRole::Reporter)
        } else if v.parties.iter().any(|p| p.key == Some(me.hint())) {
            Some(CaseRole::Party)
        } else if v.offered_to.contains(me) {
            Some(CaseRole::Offered)
        } else {
            None
        }
    }
}

struct Derived {
    stage: CaseStage,
    mediator: Option<PublicKey>,
    accepted: Option<Timestamp>,
    others: Vec<PublicKey>,
    progress: Vec<ProgressView>,
    agreement: Option<AgreementView>,
    signed: Vec<PublicKey>,
    finished: Option<Timestamp>,
    by_signatures: bool,
    close_posted: bool,
}

fn progress(u: &UpdRec) -> ProgressView {
    ProgressView {
        at: u.created,
        status: u.status.clone(),
        text: u.text.clone(),
    }
}

fn mean_median(v: &mut [u64]) -> (Option<u64>, Option<u64>) {
    if v.is_empty() {
        return (None, None);
    }
    v.sort_unstable();
    let mean = v.iter().sum::<u64>() / v.len() as u64;
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2
    };
    (Some(mean), Some(median))
}
