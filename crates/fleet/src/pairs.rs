//! Pairs (对船) and buddy watch.
//!
//! A vessel signs a `pairing` naming its partner; the two form a pair while each one's newest
//! statement about the other (by `created`, then `seq`, then id) says `paired` and neither
//! key is revoked. Buddy watch runs on board each member: when the partner has written
//! nothing for [`crate::FleetConfig::buddy_watch_s`] seconds (counted from the newer of
//! its last record and the forming of the pair), the alarm sounds and a `buddy_watch` report
//! goes to shore; when the partner is heard again, both are undone.

use std::collections::{BTreeMap, BTreeSet};

use haiqiao_proto::{Fix, PublicKey, Record, RecordId, Timestamp};

use crate::event::{Event, Refusal};
use crate::trust::Trust;

#[derive(Clone, Debug)]
struct Statement {
    id: RecordId,
    created: Timestamp,
    seq: u64,
    expiry: u64,
    paired: bool,
    /// For a paired statement: the `created` of the earliest paired statement it continues
    /// (a renewal does not re-form the pair).
    since: Timestamp,
}

impl Statement {
    fn order(&self) -> (Timestamp, u64, RecordId) {
        (self.created, self.seq, self.id)
    }
}

/// A pair of vessels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairView {
    /// One vessel (the smaller key).
    pub a: PublicKey,
    /// The other.
    pub b: PublicKey,
    /// When the pair formed: the later of the two pairings.
    pub since: Timestamp,
}

/// One of our partners, with its buddy-watch state.
#[derive(Clone, Debug, PartialEq)]
pub struct PartnerView {
    /// The partner.
    pub partner: PublicKey,
    /// Its certified name.
    pub name: Option<String>,
    /// When the pair formed.
    pub since: Timestamp,
    /// When it was last heard.
    pub last_heard: Option<Timestamp>,
    /// Its last known fix.
    pub fix: Option<Fix>,
    /// When the buddy-watch alarm is due if nothing is heard (none: buddy watch off).
    pub due: Option<Timestamp>,
    /// Whether the alarm is up.
    pub alarm: bool,
}

/// A buddy-watch report as shore sees it: the newest per reporting vessel and partner.
#[derive(Clone, Debug, PartialEq)]
pub struct BuddyReportView {
    /// The reporting vessel.
    pub from: PublicKey,
    /// Its partner.
    pub partner: PublicKey,
    /// Overdue (true) or heard again (false).
    pub overdue: bool,
    /// When the partner was last heard, as the reporter knew it.
    pub last_heard: Option<Timestamp>,
    /// The partner's last known fix, as the reporter knew it.
    pub fix: Option<Fix>,
    /// When the report was written.
    pub at: Timestamp,
    /// The report's id.
    pub id: RecordId,
    /// Expiry of the report, seconds since the epoch.
    expiry: u64,
}

/// Pairing statements (bounded), our alarms, and the buddy-watch reports shore received.
#[derive(Debug)]
pub(crate) struct Pairs {
    /// Author → partner → the author's newest statement about the partner.
    statements: BTreeMap<PublicKey, BTreeMap<PublicKey, Statement>>,
    count: usize,
    max_statements: usize,
    max_partners: usize,
    /// Our partners whose alarm is up.
    pub(crate) alarms: BTreeSet<PublicKey>,
    /// Our statements already renewed (by id), so that a renewal is asked for once.
    renewed: BTreeSet<RecordId>,
    reports: BTreeMap<(PublicKey, PublicKey), BuddyReportView>,
    max_reports: usize,
}

impl Pairs {
    pub(crate) fn new(max_statements: usize, max_partners: usize, max_reports: usize) -> Pairs {
        Pairs {
            statements: BTreeMap::new(),
            count: 0,
            max_statements: max_statements.max(2),
            max_partners: max_partners.max(1),
            alarms: BTreeSet::new(),
            renewed: BTreeSet::new(),
            reports: BTreeMap::new(),
            max_reports: max_reports.max(1),
        }
    }

    fn statement(&self, from: &PublicKey, to: &PublicKey) -> Option<&Statement> {
        self.statements.get(from)?.get(to)
    }

    fn says_paired(&self, from: &PublicKey, to: &PublicKey, trust: &Trust) -> Option<Timestamp> {
        let s = self.statement(from, to)?;
        (s.paired && !trust.revoked(from, s.created)).then_some(s.since)
    }

    /// When the pair `a`–`b` formed (the later side to sign; renewals do not count), if it
    /// stands.
    pub(crate) fn pair_since(
        &self,
        a: &PublicKey,
        b: &PublicKey,
        trust: &Trust,
    ) -> Option<Timestamp> {
        let x = self.says_paired(a, b, trust)?;
        let y = self.says_paired(b, a, trust)?;
        Some(x.max(y))
    }

    /// The partners of `key` and when each pair formed.
    pub(crate) fn partners(&self, key: &PublicKey, trust: &Trust) -> Vec<(PublicKey, Timestamp)> {
        self.statements
            .get(key)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(|to| self.pair_since(key, to, trust).map(|t| (*to, t)))
            .collect()
    }

    /// Every pair that stands.
    pub(crate) fn all(&self, trust: &Trust) -> Vec<PairView> {
        self.statements
            .iter()
            .flat_map(|(from, m)| m.keys().map(move |to| (from, to)))
            .filter(|(from, to)| from < to)
            .filter_map(|(a, b)| {
                self.pair_since(a, b, trust).map(|since| PairView {
                    a: *a,
                    b: *b,
                    since,
                })
            })
            .collect()
    }

    /// Stores a pairing statement.
    pub(crate) fn observe(
        &mut self,
        r: &Record,
        partner: PublicKey,
        paired: bool,
        trust: &Trust,
        out: &mut Vec<Event>,
    ) {
        let author = r.author();
        let created = r.envelope().created;
        let refuse = |reason| crate::event::refused(r, reason);
        if partner == author {
            out.push(refuse(Refusal::SelfPairing));
            return;
        }
        let mut stmt = Statement {
            id: r.id(),
            created,
            seq: r.envelope().seq,
            expiry: r.expiry(),
            paired,
            since: created,
        };
        if let Some(old) = self
            .statements
            .get_mut(&author)
            .and_then(|m| m.get_mut(&partner))
        {
            if old.id == stmt.id {
                return;
            }
            if old.order() > stmt.order() {
                // An older renewal arriving late still dates the pair back.
                if old.paired && paired {
                    old.since = old.since.min(created);
                }
                return;
            }
            if old.paired && paired {
                stmt.since = old.since.min(created);
            }
        }
        if paired {
            let others = self.statements.get(&author).map_or(0, |m| {
                m.iter()
                    .filter(|(to, s)| **to != partner && s.paired)
                    .count()
            });
            if others >= self.max_partners {
                out.push(refuse(Refusal::TooManyPartners));
                return;
            }
        }
        let before = self.pair_since(&author, &partner, trust);
        if self
            .statements
            .entry(author)
            .or_default()
            .insert(partner, stmt)
            .is_none()
        {
            self.count += 1;
        }
        while self.count > self.max_statements {
            // The statement that expires first goes.
            let victim = self
                .statements
                .iter()
                .flat_map(|(from, m)| m.iter().map(move |(to, s)| (s.expiry, s.id, *from, *to)))
                .min();
            match victim {
                Some((_, _, from, to)) => self.remove(&from, &to),
                None => break,
            }
        }
        if trust.revoked(&author, created) {
            out.push(refuse(Refusal::Revoked));
            return;
        }
        let after = self.pair_since(&author, &partner, trust);
        let (a, b) = if author < partner {
            (author, partner)
        } else {
            (partner, author)
        };
        match (before.is_some(), after.is_some()) {
            (false, true) => out.push(Event::Paired { a, b }),
            (true, false) => out.push(Event::Unpaired { a, b }),
            (false, false) if paired => out.push(Event::PairingRequested {
                from: author,
                to: partner,
            }),
            _ => {}
        }
    }

    /// Our statements that stand and expire within `renew_before_s` of `now_s`, not yet
    /// renewed: (partner, statement id).
    pub(crate) fn due_renewals(
        &mut self,
        me: &PublicKey,
        now_s: u64,
        renew_before_s: u64,
        trust: &Trust,
    ) -> Vec<PublicKey> {
        let mut due = Vec::new();
        let mine: Vec<(PublicKey, RecordId, u64)> = self
            .statements
            .get(me)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, s)| s.paired)
            .map(|(to, s)| (*to, s.id, s.expiry))
            .collect();
        for (partner, id, expiry) in mine {
            // Renew only a pair that stands, or whose other half is still to come.
            let other = self.statement(&partner, me);
            let at = Timestamp(now_s.min(u64::from(u32::MAX)) as u32);
            let wanted = other.is_none_or(|o| o.paired) && !trust.revoked(&partner, at);
            if wanted && expiry <= now_s + renew_before_s && self.renewed.insert(id) {
                due.push(partner);
            }
        }
        // Forget renewals of statements that are gone.
        let live: BTreeSet<RecordId> = self
            .statements
            .values()
            .flat_map(|m| m.values().map(|s| s.id))
            .collect();
        self.renewed.retain(|id| live.contains(id));
        due
    }

    fn remove(&mut self, from: &PublicKey, to: &PublicKey) {
        if let Some(m) = self.statements.get_mut(from) {
            if m.remove(to).is_some() {
                self.count -= 1;
            }
            if m.is_empty() {
                self.statements.remove(from);
            }
        }
    }

    /// Stores a buddy-watch report (shore's view). Returns whether it is new.
    pub(crate) fn observe_report(&mut self, r: &Record, v: BuddyReportView) -> bool {
        let key = (v.from, v.partner);
        if self
            .reports
            .get(&key)
            .is_some_and(|old| (old.at, old.id) >= (v.at, v.id))
        {
            return false;
        }
        let v = BuddyReportView {
            expiry: r.expiry(),
            ..v
        };
        self.reports.insert(key, v);
        while self.reports.len() > self.max_reports {
            // Cleared reports go first, then the oldest.
            let victim = self
                .reports
                .iter()
                .min_by_key(|(_, v)| (v.overdue, v.at, v.id))
                .map(|(k, _)| *k);
            match victim {
                Some(k) => {
                    self.reports.remove(&k);
                }
                None => break,
            }
        }
        true
    }

    /// Buddy-watch reports, overdue ones first, then newest first.
    pub(crate) fn reports(&self) -> Vec<BuddyReportView> {
        let mut v: Vec<_> = self.reports.values().cloned().collect();
        v.sort_by_key(|r| std::cmp::Reverse((r.overdue, r.at, r.id)));
        v
    }

    /// Forgets statements and reports whose records expired.
    pub(crate) fn expire(&mut self, now_s: u64) {
        let mut count = 0;
        self.statements.retain(|_, m| {
            m.retain(|_, s| s.expiry > now_s);
            count += m.len();
            !m.is_empty()
        });
        self.count = count;
        self.reports.retain(|_, v| v.expiry > now_s);
    }
}

/// A report view before its record's expiry is known (filled in by `observe_report`).
pub(crate) fn report_view(
    from: PublicKey,
    partner: PublicKey,
    overdue: bool,
    last_heard: Option<Timestamp>,
    fix: Option<Fix>,
    at: Timestamp,
    id: RecordId,
) -> BuddyReportView {
    BuddyReportView {
        from,
        partner,
        overdue,
        last_heard,
        fix,
        at,
        id,
        expiry: 0,
    }
}
