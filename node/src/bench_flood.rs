//! `haiqiao bench flood`: what a flood costs on the wire between real daemons.
//!
//! Ten `haiqiao` processes on loopback, each linked to four others (a ring with chords: node i
//! dials i+1 and i+3), so every record reaches every node over several paths and most links
//! join two nodes that already hold it. The nodes write records addressed to everyone, spread
//! over all authors, and the bench waits until every node has delivered every record it did
//! not write. It then reads each node's engine counters (`GET /api/v1/status`, `stats`) and
//! reports, per record written:
//!
//! - `full_copies`: records sent whole between nodes, against `n − 1`, the fewest that reach
//!   every node (a spanning tree);
//! - `duplicates`: records received that the receiver already held;
//! - `bytes_per_link`: every sync frame byte sent (records, announcements, acks, symbols,
//!   hellos), divided by the links, and `per_link_vs_size`, that over the record's own size;
//!   the goal is 1.2 (issue 17: a record crosses each link about once, whole one way, and
//!   costs little more than its id the other way);
//! - `vs_spanning_tree`: every byte sent over `(n − 1) ×` the record's size.
//!
//! Two phases: routine texts (relays announce them by id and send them when asked) and
//! distress calls (urgent: pushed whole at once). The figures include what the mesh sends
//! anyway while the phase runs (hellos, reconciliations): it is what a link pays.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{Value, json};

use crate::local::Proc;

/// Options of `bench flood`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloodOpts {
    /// Nodes in the mesh (at least 4).
    pub(crate) nodes: usize,
    /// Routine records written (texts to everyone).
    pub(crate) records: usize,
    /// Distress calls written.
    pub(crate) distress: usize,
}

/// The links of the mesh: node i with i+1 and i+3 (mod n), each pair once.
fn links(n: usize) -> BTreeSet<(usize, usize)> {
    let mut set = BTreeSet::new();
    for i in 0..n {
        for step in [1, 3] {
            let j = (i + step) % n;
            if i != j {
                set.insert((i.min(j), i.max(j)));
            }
        }
    }
    set
}

/// The engine counters of every node, summed.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    bytes_out: u64,
    record_bytes_out: u64,
    records_out: u64,
    frames_out: u64,
    duplicates: u64,
}

impl Counters {
    fn of(nodes: &[Proc]) -> Counters {
        let mut c = Counters::default();
        for p in nodes {
            let s = &p.get("/api/v1/status")["stats"];
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            c.bytes_out += n("bytes_out");
            c.record_bytes_out += n("record_bytes_out");
            c.records_out += n("records_out");
            c.frames_out += n("frames_out");
            c.duplicates += n("duplicates");
        }
        c
    }

    fn since(self, before: Counters) -> Counters {
        Counters {
            bytes_out: self.bytes_out - before.bytes_out,
            record_bytes_out: self.record_bytes_out - before.record_bytes_out,
            records_out: self.records_out - before.records_out,
            frames_out: self.frames_out - before.frames_out,
            duplicates: self.duplicates - before.duplicates,
        }
    }
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One phase: `count` records of `what` written round-robin by every node, awaited at every
/// node (`delivered <what> ` lines), and the counters' difference turned into figures.
fn phase(
    nodes: &mut [Proc],
    links: usize,
    what: &str,
    count: usize,
    body: impl Fn(usize) -> Value,
) -> Value {
    let n = nodes.len();
    let before = Counters::of(nodes);
    let marks: Vec<usize> = nodes.iter().map(Proc::mark).collect();
    let t = Instant::now();
    let mut written = vec![0usize; n];
    for k in 0..count {
        nodes[k % n].submit(body(k));
        written[k % n] += 1;
    }
    let needle = format!("delivered {what} ");
    for (i, p) in nodes.iter_mut().enumerate() {
        let want = count - written[i];
        let from = marks[i];
        p.wait_until(|seen| {
            seen[from.min(seen.len())..]
                .iter()
                .filter(|l| l.starts_with(&needle))
                .count()
                >= want
        });
    }
    let seconds = t.elapsed().as_secs_f64();
    let d = Counters::of(nodes).since(before);
    let c = count.max(1) as f64;
    let size = d.record_bytes_out as f64 / d.records_out.max(1) as f64;
    let per_link = d.bytes_out as f64 / c / links as f64;
    json!({
        "records": count,
        "seconds": r2(seconds),
        "record_bytes": r2(size),
        "full_copies": r2(d.records_out as f64 / c),
        "spanning_tree_copies": n - 1,
        "duplicates": r2(d.duplicates as f64 / c),
        "frames": r2(d.frames_out as f64 / c),
        "bytes_per_link": r2(per_link),
        "per_link_vs_size": r2(per_link / size.max(1.0)),
        "vs_spanning_tree": r2(d.bytes_out as f64 / c / ((n - 1) as f64 * size.max(1.0))),
    })
}

/// Runs the bench (see the module's doc).
pub(crate) fn flood(opts: FloodOpts) -> anyhow::Result<Value> {
    anyhow::ensure!(opts.nodes >= 4, "a flood needs at least 4 nodes");
    anyhow::ensure!(opts.nodes <= 200, "at most 200 nodes on 127.0.81.0/24");
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let n = opts.nodes;
    let mut nodes: Vec<Proc> = (0..n)
        .map(|i| {
            let mut p = Proc::init(
                &exe,
                dir.path(),
                &format!("f{i}"),
                "vessel",
                &format!("127.0.81.{}", i + 2),
            );
            p.configure(&[], "");
            p.start();
            p
        })
        .collect();
    let links = links(n);
    let mut degree = vec![0usize; n];
    for &(a, b) in &links {
        let addr = nodes[b].p2p.clone();
        nodes[a].dial(&addr);
        degree[a] += 1;
        degree[b] += 1;
    }
    for (p, d) in nodes.iter_mut().zip(&degree) {
        p.wait_peers(*d);
    }
    let routine = phase(
        &mut nodes,
        links.len(),
        "text",
        opts.records,
        |k| json!({"kind": "text", "dest": "everyone", "text": format!("渔情 {k}: 带鱼旺发")}),
    );
    let distress = phase(
        &mut nodes,
        links.len(),
        "distress",
        opts.distress,
        |k| json!({"kind": "distress", "nature": "flooding", "persons": 6, "text": format!("drill {k}")}),
    );
    for p in &mut nodes {
        p.stop();
    }
    Ok(json!({
        "nodes": n,
        "links": links.len(),
        "routine": routine,
        "distress": distress,
        "goal_per_link_vs_size": 1.2,
        "transport": "TCP on 127.0.81.0/24; engine sync-frame bytes (status stats)",
    }))
}

#[cfg(test)]
mod tests {
    use super::links;

    #[test]
    fn ten_nodes_have_twenty_links_and_degree_four() {
        let l = links(10);
        assert_eq!(l.len(), 20);
        for i in 0..10 {
            assert_eq!(l.iter().filter(|(a, b)| *a == i || *b == i).count(), 4);
        }
    }
}
