//! The baseline routers, written as simple message-level routers on the same contact plan and
//! the same capacity model as the engine (they do not use it):
//!
//! - **direct**: the author hands a message only to a target it meets.
//! - **epidemic** (Vahdat and Becker 2000): every node hands every message to every peer that
//!   lacks it, as their summary vectors tell; a node receives a message once (a transfer to a
//!   node that already holds the message, or is already receiving it over another link, is
//!   not started, as in the ONE's `ActiveRouter`).
//! - **spray_and_wait** (binary; Spyropoulos, Psounis and Raghavendra 2005): a message starts
//!   with L copies; a node with n > 1 copies hands ⌊n/2⌋ to a peer that lacks it; a node with
//!   one copy hands the message only to a target. Handing a message to a target that is its
//!   final destination (for "any shore station": any shore station) ends the giver's copies.
//! - **prophet** (RFC 6693): delivery predictabilities updated on each encounter
//!   (§2.1.1: `P = P + (1 − δ − P) × P_encounter`), aged by `γ` per time unit and made
//!   transitive by `β` (§2.1.2); a message goes to a peer whose predictability for its target
//!   is higher than the holder's (the GRTR strategy), or that is a target. A node knows only
//!   what it learns by meeting: not whether a message has been delivered elsewhere.
//!
//! Relays are counted when a message arrives at a node that lacked it, which every transfer
//! does under these rules; the bound "at most nodes − 1 relays per message" of a faithful
//! epidemic is checked by a test.
//!
//! Common rules, chosen to favour the baselines rather than the engine: summary vectors,
//! predictability exchanges and other control traffic cost nothing on the link; messages are
//! sent most urgent class first, then oldest (the engine's order); buffers are unbounded; a
//! message for "any shore station" counts any shore station as its destination (PRoPHET keeps
//! one predictability for "shore" and one for "a mediator or shore"). A node that is the final
//! destination of every item of a message keeps it and does not forward it. A message is sent
//! whole or not at all; one crossing at a time per link direction, so that a new urgent
//! message goes next.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::net::{Net, Payload, Router};
use crate::traffic::{MsgIdx, NodeIdx, NodeKind, Target};

/// Which baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Direct,
    Epidemic,
    SprayAndWait,
    Prophet,
}

/// PRoPHET parameters (RFC 6693 §3.3 defaults unless the scenario says otherwise).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProphetParams {
    pub(crate) p_encounter: f64,
    pub(crate) beta: f64,
    pub(crate) gamma: f64,
    pub(crate) unit_ms: u64,
}

/// δ of RFC 6693: keeps predictabilities below 1.
const DELTA: f64 = 0.01;
/// Predictabilities below this are forgotten (bounds the tables).
const P_FORGET: f64 = 1e-3;
/// PRoPHET's key for "any shore station".
const SHORE_KEY: u32 = u32::MAX;
/// PRoPHET's key for "any mediator or shore station".
const MEDIATION_KEY: u32 = u32::MAX - 1;

type Queued = (u8, u64, MsgIdx);

/// A baseline router.
#[derive(Debug)]
pub(crate) struct Baseline {
    kind: Kind,
    copies0: u32,
    sizes: [u32; crate::engine::VARIANTS],
    /// Per node: message → forwarding copies (spray and wait; 1 for the others).
    held: Vec<BTreeMap<MsgIdx, u32>>,
    held_bytes: Vec<u64>,
    seen: Vec<HashSet<MsgIdx>>,
    /// Per node: messages crossing a link towards it now.
    incoming: Vec<HashSet<MsgIdx>>,
    /// Per contact and direction: messages to consider sending.
    pending: BTreeMap<(u32, bool), BTreeSet<Queued>>,
    prophet: ProphetParams,
    preds: Vec<BTreeMap<u32, f64>>,
    aged_at: Vec<u64>,
}

impl Baseline {
    /// A router of this kind for `n` nodes; `sizes` gives the encoded size of each kind of
    /// message (the records the engine writes for it).
    pub(crate) fn new(
        kind: Kind,
        n: usize,
        copies: u32,
        prophet: ProphetParams,
        sizes: [u32; crate::engine::VARIANTS],
    ) -> Baseline {
        Baseline {
            kind,
            copies0: copies.max(1),
            sizes,
            held: vec![BTreeMap::new(); n],
            held_bytes: vec![0; n],
            seen: vec![HashSet::new(); n],
            incoming: vec![HashSet::new(); n],
            pending: BTreeMap::new(),
            prophet,
            preds: vec![BTreeMap::new(); n],
            aged_at: vec![0; n],
        }
    }

    fn size(&self, net: &Net<'_>, m: MsgIdx) -> u32 {
        self.sizes[crate::engine::variant(&net.log.msgs[m as usize].what)]
    }

    fn key(m: MsgIdx, net: &Net<'_>) -> Queued {
        let msg = &net.log.msgs[m as usize];
        (msg.class().priority(), msg.created_ms, m)
    }

    /// PRoPHET: the holder's predictability of delivering `m`.
    fn p_for(&self, node: NodeIdx, m: MsgIdx, net: &Net<'_>) -> f64 {
        let (s, e) = net.log.msg_items[m as usize];
        let t = &self.preds[node as usize];
        (s..e)
            .map(|i| {
                let k = match net.log.items[i as usize].target {
                    Target::Shore => SHORE_KEY,
                    Target::Mediation => MEDIATION_KEY,
                    Target::Node(n) => n,
                };
                t.get(&k).copied().unwrap_or(0.0)
            })
            .fold(0.0, f64::max)
    }

    /// Whether `u` would hand `m` to `v` now (policy only).
    fn allows(&self, net: &Net<'_>, u: NodeIdx, v: NodeIdx, m: MsgIdx) -> bool {
        if self.seen[v as usize].contains(&m)
            || self.incoming[v as usize].contains(&m)
            || net.is_final(m, u)
        {
            return false;
        }
        let Some(&copies) = self.held[u as usize].get(&m) else {
            return false;
        };
        if net.now >= net.log.msgs[m as usize].deadline_ms(net.epoch_s) {
            return false;
        }
        let target = net.is_target_of(m, v);
        match self.kind {
            Kind::Direct => net.log.msgs[m as usize].src == u && target,
            Kind::Epidemic => true,
            Kind::SprayAndWait => copies > 1 || (copies == 1 && target),
            Kind::Prophet => target || self.p_for(v, m, net) > self.p_for(u, m, net),
        }
    }

    fn offer(&mut self, net: &mut Net<'_>, contact: u32, from: NodeIdx, m: MsgIdx) {
        let (a, b) = net.ends(contact);
        let to = if from == a { b } else { a };
        if self.allows(net, from, to, m) {
            let k = Self::key(m, net);
            self.pending
                .entry((contact, from == a))
                .or_default()
                .insert(k);
        }
    }

    /// Starts the next crossing on a direction if it is idle.
    fn pump(&mut self, net: &mut Net<'_>, contact: u32, from: NodeIdx) {
        if !net.open[contact as usize] || !net.idle(contact, from) {
            return;
        }
        let (a, b) = net.ends(contact);
        let to = if from == a { b } else { a };
        let dir = (contact, from == a);
        loop {
            let Some(q) = self.pending.get_mut(&dir).and_then(|p| p.pop_first()) else {
                return;
            };
            let m = q.2;
            if !self.allows(net, from, to, m) {
                continue;
            }
            let held = self.held[from as usize].get(&m).copied().unwrap_or(0);
            let give = match self.kind {
                Kind::SprayAndWait if held > 1 => held / 2,
                Kind::SprayAndWait => 0,
                _ => 1,
            };
            if let Some(c) = self.held[from as usize].get_mut(&m)
                && self.kind == Kind::SprayAndWait
            {
                *c -= give;
            }
            let size = self.size(net, m) as usize;
            self.incoming[to as usize].insert(m);
            net.send(contact, from, size, Payload::Msg(m, give));
            return;
        }
    }

    fn age(&mut self, node: NodeIdx, now: u64) {
        let unit = self.prophet.unit_ms.max(1);
        let k = (now - self.aged_at[node as usize]) / unit;
        if k == 0 {
            return;
        }
        self.aged_at[node as usize] += k * unit;
        let f = self.prophet.gamma.powf(k as f64);
        let t = &mut self.preds[node as usize];
        for p in t.values_mut() {
            *p *= f;
        }
        t.retain(|_, p| *p >= P_FORGET);
    }

    fn encounter(&mut self, net: &Net<'_>, a: NodeIdx, b: NodeIdx) {
        let pe = self.prophet.p_encounter;
        let mut keys = vec![b];
        match net.w.kind(b) {
            NodeKind::Shore => keys.extend([SHORE_KEY, MEDIATION_KEY]),
            NodeKind::Mediator => keys.push(MEDIATION_KEY),
            NodeKind::Vessel => {}
        }
        let t = &mut self.preds[a as usize];
        for k in keys {
            let p = t.entry(k).or_insert(0.0);
            *p += (1.0 - DELTA - *p) * pe;
        }
        let pab = t.get(&b).copied().unwrap_or(0.0);
        let other: Vec<(u32, f64)> = self.preds[b as usize]
            .iter()
            .filter(|(k, _)| **k != a)
            .map(|(k, v)| (*k, *v))
            .collect();
        let t = &mut self.preds[a as usize];
        for (c, pbc) in other {
            let p = t.entry(c).or_insert(0.0);
            *p = p.max(pab * pbc * self.prophet.beta);
        }
    }

    fn take(&mut self, net: &mut Net<'_>, node: NodeIdx, m: MsgIdx, copies: u32) {
        if !self.seen[node as usize].insert(m) {
            return;
        }
        self.held[node as usize].insert(m, copies);
        self.held_bytes[node as usize] += u64::from(self.size(net, m));
        let links: Vec<u32> = net.adj[node as usize].iter().map(|(_, c)| *c).collect();
        for c in links {
            self.offer(net, c, node, m);
            self.pump(net, c, node);
        }
    }
}

impl Router for Baseline {
    fn contact_up(&mut self, net: &mut Net<'_>, contact: u32) {
        let (a, b) = net.ends(contact);
        if self.kind == Kind::Prophet {
            self.age(a, net.now);
            self.age(b, net.now);
            // Both sides update from what the other had before the encounter.
            let before_a = self.preds[a as usize].clone();
            self.encounter(net, a, b);
            let after_a = std::mem::replace(&mut self.preds[a as usize], before_a);
            self.encounter(net, b, a);
            self.preds[a as usize] = after_a;
        }
        for (from, _) in [(a, b), (b, a)] {
            let ms: Vec<MsgIdx> = self.held[from as usize].keys().copied().collect();
            for m in ms {
                self.offer(net, contact, from, m);
            }
            self.pump(net, contact, from);
        }
    }

    fn contact_down(&mut self, _net: &mut Net<'_>, contact: u32) {
        self.pending.remove(&(contact, true));
        self.pending.remove(&(contact, false));
    }

    fn arrival(
        &mut self,
        net: &mut Net<'_>,
        contact: u32,
        to_b: bool,
        payload: Payload,
        lost: bool,
    ) {
        let Payload::Msg(m, copies) = payload else {
            return;
        };
        let (a, b) = net.ends(contact);
        let (from, to) = if to_b { (a, b) } else { (b, a) };
        self.incoming[to as usize].remove(&m);
        if lost {
            if let Some(c) = self.held[from as usize].get_mut(&m) {
                *c += copies;
            }
            return;
        }
        // Handed to a final destination: the giver's copies have done their work.
        if self.kind == Kind::SprayAndWait
            && net.is_final(m, to)
            && let Some(c) = self.held[from as usize].get_mut(&m)
        {
            *c = 0;
        }
        let size = self.size(net, m);
        if !self.seen[to as usize].contains(&m) {
            net.log
                .relay(Some(net.log.msgs[m as usize].class()), u64::from(size));
        }
        if net.now < net.log.msgs[m as usize].deadline_ms(net.epoch_s) {
            let copies = match self.kind {
                Kind::SprayAndWait => copies,
                _ => 1,
            };
            if !self.seen[to as usize].contains(&m) {
                net.received(m, to);
            }
            self.take(net, to, m, copies);
        }
        self.pump(net, contact, from);
    }

    fn create(&mut self, net: &mut Net<'_>, m: MsgIdx) {
        let src = net.log.msgs[m as usize].src;
        let copies = match self.kind {
            Kind::SprayAndWait => self.copies0,
            _ => 1,
        };
        self.take(net, src, m, copies);
    }

    fn timer(&mut self, _net: &mut Net<'_>, _node: NodeIdx) {}

    fn occupancy(&mut self, net: &Net<'_>) -> Vec<(u64, u64)> {
        // Expired messages leave the buffers.
        for n in 0..self.held.len() {
            let expired: Vec<MsgIdx> = self.held[n]
                .keys()
                .copied()
                .filter(|m| net.now >= net.log.msgs[*m as usize].deadline_ms(net.epoch_s))
                .collect();
            for m in expired {
                self.held[n].remove(&m);
                self.held_bytes[n] -= u64::from(self.size(net, m));
            }
        }
        self.held
            .iter()
            .zip(&self.held_bytes)
            .map(|(h, b)| (h.len() as u64, *b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Net;
    use crate::oracle::tests::world;
    use crate::traffic::{Msg, What};

    const V: NodeKind = NodeKind::Vessel;
    const S: NodeKind = NodeKind::Shore;

    fn params() -> ProphetParams {
        ProphetParams {
            p_encounter: 0.7,
            beta: 0.9,
            gamma: 0.999,
            unit_ms: 30_000,
        }
    }

    /// Runs a baseline on a world with one report from node 2 at 1 s; returns when it reached
    /// shore, and the relays.
    fn run(kind: Kind, copies: u32, contacts: &[(u32, u32, u64, u64)]) -> (Option<u64>, u64) {
        let mut w = world(&[S, V, V], contacts, 100);
        w.msgs.push(Msg {
            src: 2,
            created_ms: 1000,
            ttl_min: 60,
            what: What::Report,
        });
        let mut b = Baseline::new(kind, 3, copies, params(), [100; crate::engine::VARIANTS]);
        let mut net = Net::new(&w, 1.0, crate::scenario::DEFAULT_EPOCH_S);
        net.run(&mut b, 60_000, &mut |_| {});
        (
            net.log.delivered[0].map(|(t, _)| t),
            net.log.relays[crate::traffic::Class::ShoreBound as usize],
        )
    }

    /// Node 2 meets node 1, which later meets shore (and met it once before).
    const RELAY: &[(u32, u32, u64, u64)] = &[(0, 1, 0, 1), (1, 2, 2, 10), (0, 1, 20, 30)];

    #[test]
    fn each_baseline_follows_its_rule() {
        // 100 bytes at 1 kbit/s: 800 ms a hop.
        assert_eq!(run(Kind::Direct, 1, RELAY), (None, 0));
        assert_eq!(run(Kind::Epidemic, 1, RELAY), (Some(20_800), 2));
        assert_eq!(run(Kind::SprayAndWait, 2, RELAY), (Some(20_800), 2));
        assert_eq!(
            run(Kind::SprayAndWait, 1, RELAY),
            (None, 0),
            "one copy waits"
        );
        assert_eq!(run(Kind::Prophet, 1, RELAY), (Some(20_800), 2));
        // PRoPHET does not hand over to a node with no better predictability.
        let no_history = &[(1, 2, 2, 10), (0, 1, 20, 30)];
        assert_eq!(run(Kind::Prophet, 1, no_history), (None, 0));
        // Direct delivers when the author meets shore.
        assert_eq!(run(Kind::Direct, 1, &[(0, 2, 5, 6)]), (Some(5_800), 1));
    }

    /// Every node meets every other at once (a clique of `n`: shore 0 and vessels), from
    /// `start` s for `len` s.
    fn clique(n: u32, start: u64, len: u64) -> Vec<(u32, u32, u64, u64)> {
        let mut c = Vec::new();
        for a in 0..n {
            for b in a + 1..n {
                c.push((a, b, start, start + len));
            }
        }
        c
    }

    /// Runs `kind` on a world with shore 0 and `n - 1` vessels, with one report from the last
    /// vessel at 1 s; returns its relays.
    fn relays_of(kind: Kind, copies: u32, n: u32, contacts: &[(u32, u32, u64, u64)]) -> u64 {
        let mut kinds = vec![S];
        kinds.extend(std::iter::repeat_n(V, n as usize - 1));
        let mut w = world(&kinds, contacts, 100);
        w.msgs.push(Msg {
            src: n - 1,
            created_ms: 1000,
            ttl_min: 60,
            what: What::Report,
        });
        let mut b = Baseline::new(
            kind,
            n as usize,
            copies,
            params(),
            [100; crate::engine::VARIANTS],
        );
        let mut net = Net::new(&w, 1.0, crate::scenario::DEFAULT_EPOCH_S);
        net.run(&mut b, 60_000, &mut |_| {});
        assert!(net.log.delivered[0].is_some(), "{kind:?} delivered");
        net.log.relays[crate::traffic::Class::ShoreBound as usize]
    }

    #[test]
    fn a_faithful_epidemic_makes_each_node_a_holder_once() {
        // Six nodes all linked at once: the message reaches each of the five others once,
        // although several links could carry it to the same node at the same time.
        for n in [3, 4, 6] {
            let r = relays_of(Kind::Epidemic, 1, n, &clique(n, 2, 30));
            assert_eq!(r, u64::from(n) - 1, "clique of {n}");
        }
    }

    #[test]
    fn spray_and_wait_never_relays_more_than_its_copies_and_stops_at_the_destination() {
        // Binary spray with L copies makes at most L holders beside the author, and handing
        // the message to shore ends the giver's copies: a second shore station (node 1 here,
        // met later) gets nothing from the same carrier.
        for (n, copies) in [(6, 2), (6, 4), (8, 8)] {
            let r = relays_of(Kind::SprayAndWait, copies, n, &clique(n, 2, 30));
            assert!(
                r <= u64::from(copies),
                "clique of {n}, {copies} copies: {r}"
            );
        }
        let mut w = world(&[S, S, V], &[(0, 2, 2, 10), (1, 2, 20, 30)], 100);
        w.msgs.push(Msg {
            src: 2,
            created_ms: 1000,
            ttl_min: 60,
            what: What::Report,
        });
        let mut b = Baseline::new(
            Kind::SprayAndWait,
            3,
            4,
            params(),
            [100; crate::engine::VARIANTS],
        );
        let mut net = Net::new(&w, 1.0, crate::scenario::DEFAULT_EPOCH_S);
        net.run(&mut b, 60_000, &mut |_| {});
        assert_eq!(
            net.log.relays[crate::traffic::Class::ShoreBound as usize],
            1
        );
    }

    #[test]
    fn prophet_does_not_know_what_was_delivered_elsewhere() {
        // Vessel 1 meets shore twice (its predictability for shore grows above vessel 2's);
        // vessel 2 writes a report, delivers it to shore itself, then meets vessel 1. Knowing
        // only what it learned by meeting, vessel 2 hands it on: 2 relays, not 1.
        let contacts = &[(0, 1, 0, 1), (0, 2, 2, 3), (0, 1, 4, 5), (1, 2, 6, 10)];
        assert_eq!(relays_of(Kind::Prophet, 1, 3, contacts), 2);
    }

    #[test]
    fn a_link_carries_no_more_than_its_rate_allows_and_a_cut_loses_what_was_crossing() {
        // 20 reports of 100 bytes, a 5-second contact at 1 kbit/s: 6 cross (800 ms each),
        // the seventh is cut.
        let mut w = world(&[S, V], &[(0, 1, 10, 15)], 100);
        for i in 0..20 {
            w.msgs.push(Msg {
                src: 1,
                created_ms: i,
                ttl_min: 60,
                what: What::Report,
            });
        }
        let mut b = Baseline::new(
            Kind::Epidemic,
            2,
            1,
            params(),
            [100; crate::engine::VARIANTS],
        );
        let mut net = Net::new(&w, 1.0, crate::scenario::DEFAULT_EPOCH_S);
        net.run(&mut b, 60_000, &mut |_| {});
        let got: Vec<u64> = net
            .log
            .delivered
            .iter()
            .flatten()
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(got, vec![10_800, 11_600, 12_400, 13_200, 14_000, 14_800]);
        assert_eq!(net.log.bytes, 700, "six crossed and one was cut");
    }

    #[test]
    fn prophet_predictabilities_follow_rfc_6693() {
        let w = world(&[S, V, V], &[], 10);
        let net = Net::new(&w, 1.0, crate::scenario::DEFAULT_EPOCH_S);
        let mut b = Baseline::new(
            Kind::Prophet,
            3,
            1,
            params(),
            [100; crate::engine::VARIANTS],
        );
        b.encounter(&net, 1, 0);
        let p = b.preds[1][&0];
        assert!((p - 0.99 * 0.7).abs() < 1e-12, "{p}");
        assert!((b.preds[1][&SHORE_KEY] - p).abs() < 1e-12);
        b.encounter(&net, 2, 1);
        let p21 = b.preds[2][&1];
        assert!(
            (b.preds[2][&SHORE_KEY] - p21 * p * 0.9).abs() < 1e-12,
            "transitivity"
        );
        // Ageing: γ^k for k whole units.
        b.age(1, 95_000);
        assert!((b.preds[1][&0] - p * 0.999f64.powi(3)).abs() < 1e-12);
    }
}
