//! `haiqiao bench shore`: records per second through the MQTT bridge and into the PostgreSQL
//! archive, each as a ratio to the station's own ingest rate (decode + batch verify + durable
//! store) measured in the same run, interleaved; and the catch-up of a federated station back
//! from an outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use haiqiao_mesh::Store;
use haiqiao_proto::{Record, Unverified, verify_batch};
use haiqiao_store::SledStore;
use serde_json::{Value, json};

use super::backlog::Journal;
use crate::bench::{NOW, corpus, limits, median};

/// Options of `bench shore`.
#[derive(Debug, Clone)]
pub(crate) struct ShoreBenchOpts {
    /// Records per repetition through each bridge.
    pub(crate) records: usize,
    /// Repetitions.
    pub(crate) reps: usize,
    /// An MQTT broker, `host:port` (none: not measured).
    pub(crate) mqtt: Option<String>,
    /// A PostgreSQL connection string (none: not measured). Its tables are dropped!
    pub(crate) archive: Option<String>,
    /// Records the federated station missed (none: not measured).
    pub(crate) catchup: Option<usize>,
}

/// The station's own ingest: decode + batch verify + durable batch insert, records/s.
fn ingest_rate(corpus: &[Vec<u8>], ring: &haiqiao_proto::KeyRing) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut store = SledStore::open(dir.path(), limits())?;
    let t = Instant::now();
    for chunk in corpus.chunks(1024) {
        let items = chunk
            .iter()
            .map(|b| Unverified::decode(b))
            .collect::<Result<Vec<_>, _>>()?;
        let records = verify_batch(items, ring, NOW)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        store.insert_batch(&records)?;
    }
    Ok(corpus.len() as f64 / t.elapsed().as_secs_f64())
}

/// Waits until `sink` confirmed `n` records: woken by each commit of a cursor.
async fn until_confirmed(j: &Journal, sink: &str, n: u64, limit: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut commits = j.commits();
    while j.cursor(sink)? < n {
        let moved = tokio::time::timeout_at(deadline, commits.changed()).await;
        anyhow::ensure!(
            matches!(moved, Ok(Ok(()))),
            "{sink} confirmed only {} of {n}",
            j.cursor(sink)?
        );
    }
    Ok(())
}

/// One pass of `records` through a bridge: records/s from the bridge's start to its last
/// confirmation (the journal filled beforehand, not timed).
async fn through(
    sink: &str,
    records: &[Record],
    start: impl FnOnce(Arc<Journal>) -> tokio::task::JoinHandle<()>,
) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let j = Journal::open(dir.path(), &[sink.to_owned()], records.len() as u64 + 1)?;
    for (i, r) in records.iter().enumerate() {
        j.append(r, NOW * 1000 + i as u64)?;
    }
    let t = Instant::now();
    let task = start(Arc::clone(&j));
    let res = until_confirmed(&j, sink, records.len() as u64, Duration::from_secs(600)).await;
    let rate = records.len() as f64 / t.elapsed().as_secs_f64();
    task.abort();
    res?;
    Ok(rate)
}

/// Runs the benchmark.
pub(crate) fn run(opts: &ShoreBenchOpts) -> anyhow::Result<Value> {
    let (corpus, ring) = corpus(opts.records)?;
    let records: Vec<Record> = verify_batch(
        corpus
            .iter()
            .map(|b| Unverified::decode(b))
            .collect::<Result<Vec<_>, _>>()?,
        &ring,
        NOW,
    )
    .into_iter()
    .collect::<Result<_, _>>()?;
    let rt = tokio::runtime::Runtime::new()?;
    let (mut ingest, mut mqtt, mut archive) = (vec![], vec![], vec![]);
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    for rep in 0..opts.reps.max(1) {
        ingest.push(ingest_rate(&corpus, &ring)?);
        if let Some(addr) = &opts.mqtt {
            let (host, port) = addr.rsplit_once(':').context("--mqtt is host:port")?;
            let cfg: super::mqtt::MqttSection = toml::from_str(&format!(
                "host = \"{host}\"\nport = {port}\nclient_id = \"haiqiao-bench-{rep}\"\nwindow = 256\n"
            ))?;
            let tx = tx.clone();
            mqtt.push(rt.block_on(through("mqtt", &records, |j| {
                tokio::spawn(super::mqtt::run(cfg, "bench".into(), j, tx))
            }))?);
        }
        if let Some(url) = &opts.archive {
            rt.block_on(async {
                let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
                let h = tokio::spawn(conn);
                c.batch_execute(
                    "DROP TABLE IF EXISTS receipts, case_steps, cases, distress_updates, distress,
                     positions, records, haiqiao_schema CASCADE",
                )
                .await?;
                drop(c);
                let _ = h.await;
                anyhow::Ok(())
            })?;
            let cfg: super::archive::ArchiveSection =
                toml::from_str(&format!("url = \"{url}\"\n"))?;
            archive.push(rt.block_on(through("archive", &records, |j| {
                tokio::spawn(super::archive::run(cfg, "bench".into(), j))
            }))?);
        }
    }
    let ing = median(&mut ingest);
    let mut out = json!({
        "records": opts.records,
        "reps": opts.reps,
        "ingest_per_s": ing.round(),
        "statistic": "median",
    });
    if !mqtt.is_empty() {
        let m = median(&mut mqtt);
        out["mqtt_per_s"] = json!(m.round());
        out["mqtt_vs_ingest"] = json!((m / ing * 1000.0).round() / 1000.0);
    }
    if !archive.is_empty() {
        let a = median(&mut archive);
        out["archive_per_s"] = json!(a.round());
        out["archive_vs_ingest"] = json!((a / ing * 1000.0).round() / 1000.0);
    }
    if let Some(n) = opts.catchup {
        out["catchup"] = catchup(n)?;
    }
    Ok(out)
}

/// A federated station back from an outage: the other holds `n` records it missed (one in
/// ten shore-bound, handed over by federation; the rest flooded, found by set
/// reconciliation). The engines run over the in-memory harness (no disk, no network): wall
/// time of the engines' work, and round trips.
fn catchup(n: usize) -> anyhow::Result<Value> {
    use haiqiao_mesh::{MemStore, MeshConfig};
    use haiqiao_proto::{Body, Destination, Envelope, Role, Timestamp};
    let authors = crate::bench::fleet_keys(9, 1000);
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let a = &authors[i % authors.len()];
            Record::sign(
                a,
                Envelope {
                    author: a.public().hint(),
                    seq: i as u64,
                    created: Timestamp(NOW as u32),
                    ttl_min: 24 * 60,
                    dest: if i % 10 == 0 {
                        Destination::Shore
                    } else {
                        Destination::Everyone
                    },
                    body: Body::Text {
                        text: format!("报平安 {i}"),
                        safety: false,
                    },
                },
            )
        })
        .collect::<Result<_, _>>()?;
    let cfg = MeshConfig {
        author_records_burst: 1_000_000,
        peer_records_burst: 1_000_000,
        shore_federation: true,
        ..MeshConfig::default()
    };
    let now_ms = NOW * 1000;
    let mut a = MemStore::new(limits());
    a.insert_batch(&records)?;
    let b = MemStore::new(limits());
    let mut mesh = crate::bench::two_nodes(&cfg, Role::Shore, a, b, now_ms)?;
    let t = Instant::now();
    mesh.connect(0, 1, None);
    let flights = mesh.run(1, 10_000_000);
    let secs = t.elapsed().as_secs_f64();
    let missing = records
        .iter()
        .filter(|r| !mesh.nodes[1].holds(&r.id()))
        .count();
    anyhow::ensure!(missing == 0, "{missing} of {n} records did not arrive");
    Ok(json!({
        "records": n,
        "seconds": (secs * 100.0).round() / 100.0,
        "records_per_s": (n as f64 / secs).round(),
        "round_trips": flights.div_ceil(2),
    }))
}
