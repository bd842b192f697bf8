//! The oracle: the earliest time each item could reach one of its targets over the contact
//! plan, by a time-respecting path with unlimited capacity (a link passes anything instantly
//! while it is up), before the record expires and before the run ends. No router can beat it.
//!
//! It shares nothing with the routers but the plan: it is an epidemic with infinite capacity,
//! computed for 256 items at once as bit sets swept over the contact events in time order.
//! Within a connected group of open links every node holds the same bits, so a link coming up
//! merges two groups by a search over open links, and an item created at a node spreads
//! through the node's group at once. Order at equal times matches the event loop's: downs,
//! then ups, then creations.

use crate::traffic::{NodeIdx, NodeKind, Target, is_target};
use crate::world::World;

/// Items per sweep: bits per node.
const WORDS: usize = 4;
const BITS: usize = WORDS * 64;

/// One question for the oracle.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    /// Where the record is written.
    pub src: NodeIdx,
    /// When, ms since the start.
    pub t0: u64,
    /// When it expires, ms since the start (arrival must be strictly earlier).
    pub deadline: u64,
    /// Where it counts as delivered.
    pub target: Target,
}

type Bits = [u64; WORDS];

fn and_not(a: &Bits, b: &Bits, mask: &Bits) -> Bits {
    let mut o = [0; WORDS];
    for i in 0..WORDS {
        o[i] = a[i] & mask[i] & !b[i];
    }
    o
}

fn is_zero(a: &Bits) -> bool {
    a.iter().all(|w| *w == 0)
}

/// Snapshots of the open contacts, so a sweep can start near its first item.
struct Checkpoints {
    /// (index of the first event not yet applied, open contacts at that point).
    at: Vec<(usize, Vec<u32>)>,
}

impl Checkpoints {
    fn new(w: &World) -> Checkpoints {
        let every = (w.events.len() / 64).max(1024);
        let mut open: Vec<u32> = Vec::new();
        let mut pos = vec![usize::MAX; w.contacts.len()];
        let mut at = vec![(0, Vec::new())];
        for (i, e) in w.events.iter().enumerate() {
            if i > 0 && i % every == 0 {
                at.push((i, open.clone()));
            }
            let c = e.contact as usize;
            if e.up {
                pos[c] = open.len();
                open.push(e.contact);
            } else if pos[c] != usize::MAX {
                let p = pos[c];
                open.swap_remove(p);
                if p < open.len() {
                    pos[open[p] as usize] = p;
                }
                pos[c] = usize::MAX;
            }
        }
        Checkpoints { at }
    }

    /// The last checkpoint at or before event index `e`.
    fn before(&self, e: usize) -> &(usize, Vec<u32>) {
        let k = self.at.partition_point(|(i, _)| *i <= e);
        &self.at[k.saturating_sub(1)]
    }
}

/// The earliest arrival of each query at a target (ms since the start), or None.
pub fn earliest_arrivals(
    w: &World,
    queries: &[Query],
    progress: &mut dyn FnMut(u64, u64),
) -> Vec<Option<u64>> {
    let mut out = vec![None; queries.len()];
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&i| (queries[i].t0, i));
    let cps = Checkpoints::new(w);
    let kinds: Vec<NodeKind> = w.nodes.iter().map(|n| n.kind).collect();
    let n = w.nodes.len();
    let mut bits: Vec<Bits> = vec![[0; WORDS]; n];
    let mut adj: Vec<Vec<NodeIdx>> = vec![Vec::new(); n];
    let mut stack: Vec<NodeIdx> = Vec::new();
    let chunks: Vec<&[usize]> = order.chunks(BITS).collect();
    for (ci, chunk) in chunks.iter().enumerate() {
        progress(ci as u64, chunks.len() as u64);
        let qs: Vec<Query> = chunk.iter().map(|&i| queries[i]).collect();
        let start = qs[0].t0;
        // Events at the start time are applied before the first creation.
        let first = w.events.partition_point(|e| e.t <= start);
        let (ei0, open) = cps.before(first);
        let mut ei = *ei0;
        for a in adj.iter_mut() {
            a.clear();
        }
        for b in bits.iter_mut() {
            *b = [0; WORDS];
        }
        for &c in open {
            let c = &w.contacts[c as usize];
            adj[c.a as usize].push(c.b);
            adj[c.b as usize].push(c.a);
        }
        let mut alive: Bits = [0; WORDS];
        let mut arrived: Vec<Option<u64>> = vec![None; qs.len()];
        let mut next_q = 0usize;
        let mut live = 0usize;
        // Deadlines in order, to retire items.
        let mut deadlines: Vec<(u64, usize)> = qs
            .iter()
            .enumerate()
            .map(|(k, q)| (q.deadline, k))
            .collect();
        deadlines.sort_unstable();
        let mut next_dl = 0usize;
        let horizon = w.duration_ms;
        let spread = |bits: &mut Vec<Bits>,
                      adj: &Vec<Vec<NodeIdx>>,
                      stack: &mut Vec<NodeIdx>,
                      alive: &Bits,
                      arrived: &mut Vec<Option<u64>>,
                      live: &mut usize,
                      t: u64| {
            while let Some(x) = stack.pop() {
                for &y in &adj[x as usize] {
                    let add = and_not(&bits[x as usize], &bits[y as usize], alive);
                    if is_zero(&add) {
                        continue;
                    }
                    for (wi, word) in add.iter().enumerate() {
                        bits[y as usize][wi] |= word;
                        let mut m = *word;
                        while m != 0 {
                            let b = m.trailing_zeros() as usize;
                            m &= m - 1;
                            let k = wi * 64 + b;
                            if arrived[k].is_none() && is_target(qs[k].target, y, kinds[y as usize])
                            {
                                arrived[k] = Some(t);
                                *live -= 1;
                            }
                        }
                    }
                    stack.push(y);
                }
            }
        };
        loop {
            let te = w.events.get(ei).map(|e| e.t);
            let tq = qs.get(next_q).map(|q| q.t0);
            // Retire items whose deadline has come before anything at or after it.
            let t_next = match (te, tq) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if t_next >= horizon && tq.is_none_or(|q| q >= horizon) {
                break;
            }
            while next_dl < deadlines.len() && deadlines[next_dl].0 <= t_next {
                let k = deadlines[next_dl].1;
                if alive[k / 64] & (1 << (k % 64)) != 0 {
                    alive[k / 64] &= !(1 << (k % 64));
                    if arrived[k].is_none() {
                        live -= 1;
                    }
                }
                next_dl += 1;
            }
            if next_q == qs.len() && live == 0 {
                break;
            }
            if te.is_some_and(|a| tq.is_none_or(|b| a <= b)) {
                let e = w.events[ei];
                ei += 1;
                let c = &w.contacts[e.contact as usize];
                let (a, b) = (c.a, c.b);
                if e.up {
                    adj[a as usize].push(b);
                    adj[b as usize].push(a);
                    stack.push(a);
                    stack.push(b);
                    spread(
                        &mut bits,
                        &adj,
                        &mut stack,
                        &alive,
                        &mut arrived,
                        &mut live,
                        e.t,
                    );
                } else {
                    if let Some(p) = adj[a as usize].iter().position(|x| *x == b) {
                        adj[a as usize].swap_remove(p);
                    }
                    if let Some(p) = adj[b as usize].iter().position(|x| *x == a) {
                        adj[b as usize].swap_remove(p);
                    }
                }
            } else {
                let k = next_q;
                next_q += 1;
                let q = qs[k];
                if q.t0 >= q.deadline || q.t0 >= horizon {
                    continue;
                }
                alive[k / 64] |= 1 << (k % 64);
                bits[q.src as usize][k / 64] |= 1 << (k % 64);
                live += 1;
                stack.push(q.src);
                spread(
                    &mut bits,
                    &adj,
                    &mut stack,
                    &alive,
                    &mut arrived,
                    &mut live,
                    q.t0,
                );
            }
        }
        for (k, &i) in chunk.iter().enumerate() {
            out[i] = arrived[k].filter(|t| *t < horizon);
        }
    }
    progress(chunks.len() as u64, chunks.len() as u64);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::world::{Contact, NodeInfo};

    /// A world of `kinds` with these contacts (a, b, up s, down s).
    pub(crate) fn world(
        kinds: &[NodeKind],
        contacts: &[(u32, u32, u64, u64)],
        dur_s: u64,
    ) -> World {
        let nodes = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| NodeInfo {
                kind: *k,
                name: format!("n{i}"),
                home: 0,
                partner: None,
                radios: 1,
                at_sea_for_ms: None,
            })
            .collect();
        let mut cs: Vec<Contact> = contacts
            .iter()
            .map(|&(a, b, up, down)| Contact {
                a: a.min(b),
                b: a.max(b),
                class: 0,
                rate_bps: 1000,
                up_ms: up * 1000,
                down_ms: down * 1000,
            })
            .collect();
        let events = crate::world::plan_events(&mut cs);
        World {
            nodes,
            contacts: cs,
            events,
            msgs: Vec::new(),
            duration_ms: dur_s * 1000,
            vessel_hours_at_sea: 0.0,
            homeward: Vec::new(),
        }
    }

    fn q(src: u32, t0_s: u64, deadline_s: u64, target: Target) -> Query {
        Query {
            src,
            t0: t0_s * 1000,
            deadline: deadline_s * 1000,
            target,
        }
    }

    const V: NodeKind = NodeKind::Vessel;
    const S: NodeKind = NodeKind::Shore;

    #[test]
    fn paths_respect_time_order_deadlines_and_the_horizon() {
        let w = world(
            &[V, V, V, S],
            &[(0, 1, 10, 20), (1, 2, 30, 40), (2, 3, 5, 8)],
            100,
        );
        let a = earliest_arrivals(
            &w,
            &[
                q(0, 0, 1000, Target::Node(2)),
                q(0, 0, 25, Target::Node(2)),
                q(0, 0, 1000, Target::Shore),
                q(2, 0, 1000, Target::Shore),
                q(2, 6, 1000, Target::Shore),
                q(2, 8, 1000, Target::Shore),
                q(0, 15, 31, Target::Node(2)),
                q(0, 20, 1000, Target::Node(2)),
            ],
            &mut |_, _| {},
        );
        assert_eq!(a[0], Some(30_000), "two hops, waiting at node 1");
        assert_eq!(a[1], None, "expired before the second hop");
        assert_eq!(a[2], None, "the shore link was before");
        assert_eq!(a[3], Some(5_000), "waits for the link to come up");
        assert_eq!(a[4], Some(6_000), "open link: at once");
        assert_eq!(
            a[5], None,
            "a link that goes down at the creation instant is gone"
        );
        assert_eq!(a[6], Some(30_000));
        assert_eq!(a[7], None, "created at the down instant of the first hop");
    }

    #[test]
    fn a_connected_group_is_crossed_at_once_and_anycast_takes_the_first_shore() {
        let w = world(
            &[V, V, V, S, S],
            &[
                (0, 1, 0, 100),
                (1, 2, 0, 100),
                (2, 3, 60, 100),
                (0, 4, 50, 100),
            ],
            200,
        );
        let a = earliest_arrivals(
            &w,
            &[
                q(2, 10, 1000, Target::Node(0)),
                q(2, 10, 1000, Target::Shore),
                q(0, 10, 1000, Target::Mediation),
            ],
            &mut |_, _| {},
        );
        assert_eq!(a, vec![Some(10_000), Some(50_000), Some(50_000)]);
    }

    /// Brute force: repeated relaxation over contacts until nothing changes.
    fn brute(w: &World, q: &Query) -> Option<u64> {
        let mut t = vec![u64::MAX; w.nodes.len()];
        t[q.src as usize] = q.t0;
        loop {
            let mut changed = false;
            for c in &w.contacts {
                for (x, y) in [(c.a, c.b), (c.b, c.a)] {
                    let tx = t[x as usize];
                    if tx == u64::MAX || tx >= c.down_ms || tx >= q.deadline {
                        continue;
                    }
                    let arr = tx.max(c.up_ms);
                    if arr < c.down_ms && arr < q.deadline && arr < t[y as usize] {
                        t[y as usize] = arr;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        (0..w.nodes.len())
            .filter(|&n| n as u32 != q.src && is_target(q.target, n as u32, w.nodes[n].kind))
            .map(|n| t[n])
            .filter(|t| *t < q.deadline.min(w.duration_ms))
            .min()
    }

    #[test]
    fn agrees_with_brute_force_on_random_plans() {
        let seed = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(11u64);
        println!("SEED={seed}");
        let mut r = Rng::stream(seed, 0);
        for round in 0..40 {
            let n = 3 + r.index(8);
            let kinds: Vec<NodeKind> = (0..n).map(|i| if i < 2 { S } else { V }).collect();
            let mut cs = Vec::new();
            for _ in 0..r.index(30) + 5 {
                let a = r.index(n) as u32;
                let b = r.index(n) as u32;
                if a == b {
                    continue;
                }
                let up = r.index(500) as u64;
                cs.push((a, b, up, up + 1 + r.index(60) as u64));
            }
            let w = world(&kinds, &cs, 600);
            let qs: Vec<Query> = (0..300)
                .map(|_| {
                    let src = (2 + r.index(n - 2)) as u32;
                    let t0 = r.index(500) as u64;
                    let target = match r.index(3) {
                        0 => Target::Shore,
                        1 => Target::Mediation,
                        _ => Target::Node(r.index(n) as u32),
                    };
                    q(src, t0, t0 + 1 + r.index(300) as u64, target)
                })
                .collect();
            let a = earliest_arrivals(&w, &qs, &mut |_, _| {});
            for (i, qq) in qs.iter().enumerate() {
                assert_eq!(
                    a[i],
                    brute(&w, qq),
                    "seed {seed} round {round} query {i}: {qq:?}"
                );
            }
        }
    }
}
