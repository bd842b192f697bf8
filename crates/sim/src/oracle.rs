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
