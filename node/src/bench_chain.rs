//! `haiqiao bench chain`: `haiqiao` daemons on loopback.
//!
//! Two figures. How long a distress takes to cross a chain of five processes over TCP; and how
//! many records per second one relay passes on: a boat that wrote a burst of records while
//! alone meets a relay that is already in contact with a third boat, and the clock runs from
//! the relay's dial until the third boat has delivered every record. The relay verifies and
//! durably stores each record before it acknowledges custody and passes it on, so its rate is
//! compared with this machine's batch ingest rate (decode, batch verify, durable store) measured
//! in the same invocation, interleaved with the relay runs: the goal is a ratio of at least 0.5
//! on TCP and on QUIC (design.md §4, issue 17).

use std::path::Path;
use std::time::Instant;

use haiqiao_mesh::Store as _;
use haiqiao_proto::{Body, Destination, Envelope, Kind, Record, Timestamp, samples};
use haiqiao_store::SledStore;
use serde_json::json;

use crate::bench::{IngestOpts, fleet_keys, ingest, limits, median};
use crate::local::Proc;

/// Authors of the relayed burst: few enough that the relay's key requests fit in its
/// `max_pending_keys`, many enough that the per-author quota never holds a record back.
pub(crate) const RELAY_AUTHORS: usize = 250;

/// Records per repetition of the ingest rate the relay is compared with.
const INGEST_RECORDS: usize = 8192;

/// A transport the relay measurement runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Transport {
    /// TCP with Noise and Yamux.
    Tcp,
    /// QUIC v1.
    Quic,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
        }
    }

    /// The `[net] listen` value for a node on `ip`.
    fn listen(self, ip: &str) -> String {
        match self {
            Transport::Tcp => format!("[\"/ip4/{ip}/tcp/0\"]"),
            Transport::Quic => format!("[\"/ip4/{ip}/udp/0/quic-v1\"]"),
        }
    }
}

/// Options of `bench chain`.
#[derive(Debug, Clone)]
pub(crate) struct ChainOpts {
    /// Distress calls timed across the chain of five (0: skip the chain).
    pub(crate) samples: usize,
    /// Records in the relayed burst.
    pub(crate) relay_records: usize,
    /// Repetitions of the relay measurement per transport (medians are reported).
    pub(crate) reps: usize,
    /// Transports the relay measurement runs over.
    pub(crate) transports: Vec<Transport>,
}

/// Runs both measurements.
pub(crate) fn chain(opts: &ChainOpts) -> anyhow::Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let distress = if opts.samples > 0 {
        chain_of_five(&exe, dir.path(), opts.samples)?
    } else {
        serde_json::Value::Null
    };
    let relay = relay(&exe, dir.path(), opts)?;
    Ok(json!({
        "chain_of_five_distress_ms": distress,
        "relay": relay,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    }))
}

/// A distress across five processes on TCP, each dialling its predecessor.
fn chain_of_five(exe: &Path, base: &Path, samples: usize) -> anyhow::Result<serde_json::Value> {
    let mut nodes: Vec<Proc> = Vec::new();
    for i in 0..5 {
        let mut p = Proc::init(
            exe,
            base,
            &format!("c{i}"),
            "vessel",
            &format!("127.0.78.{}", i + 2),
        );
        p.configure(&[], "");
        p.start();
        if let Some(prev) = nodes.last() {
            p.dial(&prev.p2p);
            p.wait_peers(1);
        }
        nodes.push(p);
    }
    let mut times = Vec::new();
    for k in 0..samples {
        let t = Instant::now();
        let id = nodes[0].submit(json!({"kind": "distress", "nature": "sinking", "persons": 5, "text": format!("drill {k}")}));
        let needle = format!("delivered distress {id}");
        nodes[4].wait_line(|l| l == needle);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    for n in &mut nodes {
        n.stop();
    }
    let all: Vec<f64> = times.iter().map(|t| (t * 10.0).round() / 10.0).collect();
    Ok(json!({
        "median": (median(&mut times) * 10.0).round() / 10.0,
        "samples": all.len(),
        "all": all,
        "transport": "tcp",
    }))
}

/// The relayed burst: `n` records addressed to everyone from [`RELAY_AUTHORS`] vessels, created
/// at `now_s` — one position per vessel, then texts of varied length (one in ten a safety
/// text), distress updates and, rarely, a distress call: every one of them in the flood set, so
/// that the third boat must end with all of them.
pub(crate) fn relay_corpus(n: usize, now_s: u64) -> anyhow::Result<Vec<Record>> {
    let authors = fleet_keys(0x3c, RELAY_AUTHORS as u32);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let a = &authors[i % authors.len()];
        let round = (i / authors.len()) as u64;
        let hint = a.public().hint();
        let env = match (round, i % 100) {
            (0, _) => samples::envelope(Kind::Position, hint, hint, round, now_s),
            (_, 50) => samples::envelope(Kind::Distress, hint, hint, round, now_s),
            (_, k) if k % 10 == 3 => {
                samples::envelope(Kind::DistressUpdate, hint, hint, round, now_s)
            }
            (_, k) => Envelope {
                author: hint,
                seq: round,
                created: Timestamp(now_s as u32),
                ttl_min: 24 * 60,
                dest: Destination::Everyone,
                body: Body::Text {
                    text: format!("报平安 {i} {}", "·".repeat(k % 40)),
                    safety: k % 10 == 7,
                },
            },
        };
        out.push(Record::sign(a, env)?);
    }
    Ok(out)
}

/// Writes `records` into the store of a node that is not running (as if it wrote them alone).
fn prefill(p: &Proc, records: &[Record]) -> anyhow::Result<()> {
    let mut store = SledStore::open(p.dir.join("data").join("store"), limits())?;
    for chunk in records.chunks(1024) {
        store.insert_batch(chunk)?;
    }
    anyhow::ensure!(
        store.usage().records as usize == records.len(),
        "the sender's store kept {} of {} records",
        store.usage().records,
        records.len()
    );
    Ok(())
}

/// Settings every node of the relay measurement runs with: the per-peer record rate is a
/// defence against a flooding peer, not what this measures.
fn relay_node(exe: &Path, base: &Path, name: &str, ip: &str, t: Transport) -> Proc {
    let p = Proc::init(exe, base, name, "vessel", ip);
    p.configure(&[], "");
    p.set("net", "listen", &t.listen(ip));
    p.set("mesh", "peer_records_per_s", "1000000");
    p.set("mesh", "peer_records_burst", "1000000");
    p
}

/// One relay run: seconds from the relay's dial until the third boat delivered all records,
/// and what the relay's engine spent its time on (its status: inputs handled, their count and
/// seconds, the store's writes and fsyncs included; frames and bytes in and out).
fn relay_once(
    exe: &Path,
    base: &Path,
    records: &[Record],
    t: Transport,
    rep: usize,
) -> anyhow::Result<(f64, serde_json::Value)> {
    let tag = format!("{}{rep}", t.name());
    let mut a = relay_node(exe, base, &format!("ra-{tag}"), "127.0.79.2", t);
    let mut r = relay_node(exe, base, &format!("rr-{tag}"), "127.0.79.3", t);
    let mut b = relay_node(exe, base, &format!("rb-{tag}"), "127.0.79.4", t);
    prefill(&a, records)?;
    for p in [&mut a, &mut r, &mut b] {
        p.start();
    }
    b.dial(&r.p2p);
    b.wait_peers(1);
    let start = Instant::now();
    r.dial(&a.p2p);
    b.wait_count("delivered ", records.len());
    let secs = start.elapsed().as_secs_f64();
    let status = r.get("/api/v1/status");
    let relay = json!({
        "engine_timings": status["engine_timings"],
        "stats": status["stats"],
    });
    for p in [&mut a, &mut r, &mut b] {
        p.stop();
    }
    Ok((secs, relay))
}

/// The relay measurement on each transport, interleaved with the ingest rate it is compared
/// with.
fn relay(exe: &Path, base: &Path, opts: &ChainOpts) -> anyhow::Result<serde_json::Value> {
    let now_s = crate::clock::now_ms() / 1000;
    let records = relay_corpus(opts.relay_records, now_s)?;
    let bytes: usize = records.iter().map(Record::len).sum();
    let mut ingest_rates = Vec::new();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); opts.transports.len()];
    let mut relay_status = vec![serde_json::Value::Null; opts.transports.len()];
    for rep in 0..opts.reps.max(1) {
        let v = ingest(IngestOpts {
            records: INGEST_RECORDS,
            batch: 1024,
            single_records: 50,
            reps: 1,
        })?;
        ingest_rates.push(v["batch_per_s"].as_f64().unwrap_or(0.0));
        for (i, t) in opts.transports.iter().enumerate() {
            let (secs, status) = relay_once(exe, base, &records, *t, rep)?;
            rates[i].push(records.len() as f64 / secs);
            relay_status[i] = status;
        }
    }
    let ingest_rate = median(&mut ingest_rates);
    let mut out = serde_json::Map::new();
    out.insert("records".into(), json!(records.len()));
    out.insert("record_bytes".into(), json!(bytes));
    out.insert("authors".into(), json!(RELAY_AUTHORS));
    out.insert("reps".into(), json!(opts.reps.max(1)));
    out.insert("ingest_batch_per_s".into(), json!(ingest_rate.round()));
    for ((t, mut r), status) in opts.transports.iter().zip(rates).zip(relay_status) {
        let all: Vec<f64> = r.iter().map(|x| x.round()).collect();
        let m = median(&mut r);
        out.insert(
            t.name().into(),
            json!({
                "records_per_s": m.round(),
                "ratio_to_ingest": (m / ingest_rate * 1000.0).round() / 1000.0,
                "all": all,
                "relay_node_last_rep": status,
            }),
        );
    }
    out.insert("goal_ratio".into(), json!(0.5));
    out.insert(
        "statistic".into(),
        json!("median over reps; ingest (8,192 records, batches of 1,024) interleaved"),
    );
    Ok(serde_json::Value::Object(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_relayed_burst_is_all_flooded_and_distinct() {
        let rs = relay_corpus(3 * RELAY_AUTHORS, crate::bench::NOW).unwrap();
        let ids: std::collections::HashSet<_> = rs.iter().map(Record::id).collect();
        assert_eq!(ids.len(), rs.len());
        assert!(
            rs.iter()
                .all(|r| r.envelope().dest == Destination::Everyone)
        );
        // One position per vessel (positions supersede), then a mix of kinds.
        let positions = rs.iter().filter(|r| r.kind() == Kind::Position).count();
        assert_eq!(positions, RELAY_AUTHORS);
        for kind in [Kind::Text, Kind::DistressUpdate, Kind::Distress] {
            assert!(rs.iter().any(|r| r.kind() == kind), "{kind:?} missing");
        }
    }
}
