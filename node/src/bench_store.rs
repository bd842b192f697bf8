//! `haiqiao bench store`: what a large store costs in memory and in opening time.
//!
//! The store is filled through the ingest path (records signed by a fleet of 1,000 vessels in
//! a shore station's mix, decoded, batch-verified and stored in batches, as `bench ingest`
//! and the engine do), closed, and then measured in a fresh process, so that the figures are
//! those of a node starting over that store, not of the filler: resident memory before and
//! after `SledStore::open`, and after the engine (`Node::new`) has built its part of the index
//! over it; the time each takes. Index bytes per record are those RSS differences divided by
//! the records held (they include sled's page cache, which is bounded by
//! `haiqiao_store::CACHE_CAPACITY` whatever the store holds).

use std::time::Instant;

use anyhow::Context;
use haiqiao_mesh::{MeshConfig, Node, Store};
use haiqiao_proto::{KeyRing, Keypair, Record, Unverified, samples, verify_batch};
use haiqiao_store::SledStore;
use serde_json::json;

use crate::bench::{NOW, fleet_keys, limits, median, rss_kib, shore_kind};

/// Options of `bench store`.
#[derive(Debug, Clone)]
pub(crate) struct StoreOpts {
    /// Records to fill the store with.
    pub(crate) records: usize,
    /// Repetitions of the open (medians are reported; RSS is the last one's).
    pub(crate) reps: usize,
    /// A store filled by an earlier run (the measuring half, run as a fresh process).
    pub(crate) store: Option<std::path::PathBuf>,
}

/// Records per ingest batch while filling (as `bench ingest`).
const FILL_BATCH: usize = 1024;

/// Fills a store at `dir` with `n` records through decode, batch verification and batched
/// durable inserts.
fn fill(dir: &std::path::Path, n: usize) -> anyhow::Result<()> {
    let authors = fleet_keys(11, 1000);
    let mut ring = KeyRing::new(2 * authors.len());
    for a in &authors {
        ring.insert(a.public());
    }
    let mut store = SledStore::open(dir, limits())?;
    let mut wire: Vec<Vec<u8>> = Vec::with_capacity(FILL_BATCH);
    for start in (0..n).step_by(FILL_BATCH) {
        wire.clear();
        for i in start..(start + FILL_BATCH).min(n) {
            let a = &authors[i % authors.len()];
            let partner = authors[(i + 1) % authors.len()].public().hint();
            let seq = (i / authors.len()) as u64;
            let env = samples::envelope(shore_kind(i), a.public().hint(), partner, seq, NOW);
            wire.push(Record::sign(a, env)?.bytes().to_vec());
        }
        let items = wire
            .iter()
            .map(|b| Unverified::decode(b))
            .collect::<Result<Vec<_>, _>>()?;
        let records = verify_batch(items, &ring, NOW)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let kept = vec![false; records.len()];
        store.insert_batch_kept(&records, &kept)?;
    }
    anyhow::ensure!(
        store.usage().records as usize == n,
        "the store holds {} of {n}",
        store.usage().records
    );
    Ok(())
}

/// Opens the store at `dir` `reps` times. Memory is the first open's (a fresh process: later
/// ones would count what the allocator kept from the earlier ones); times are medians.
fn measure(dir: &std::path::Path, reps: usize) -> anyhow::Result<serde_json::Value> {
    let key = Keypair::from_seed(&[98; 32]);
    let now_ms = (NOW + 3600) * 1000;
    let (mut open_s, mut engine_s) = (vec![], vec![]);
    let mut rss = None;
    let (mut records, mut store_bytes) = (0, 0);
    for _ in 0..reps.max(1) {
        let (rss0, _) = rss_kib();
        let t = Instant::now();
        let store = SledStore::open(dir, limits())?;
        let t_open = t.elapsed().as_secs_f64();
        let (rss1, _) = rss_kib();
        records = store.usage().records;
        store_bytes = store.usage().bytes;
        let node = Node::new(
            MeshConfig::default(),
            key.clone(),
            haiqiao_proto::Role::Shore,
            store,
            now_ms,
        )?;
        let t_engine = t.elapsed().as_secs_f64() - t_open;
        let (rss2, hwm) = rss_kib();
        open_s.push(t_open);
        engine_s.push(t_engine);
        anyhow::ensure!(node.held() as u64 == records, "the engine lost records");
        rss.get_or_insert((rss0, rss1, rss2, hwm));
    }
    let (rss0, rss1, rss2, hwm) = rss.context("no repetition ran")?;
    let per = |kib: u64| (kib as f64 * 1024.0 / records.max(1) as f64).round();
    Ok(json!({
        "records": records,
        "store_bytes": store_bytes,
        "reps": reps.max(1),
        "median_open_s": median(&mut open_s),
        "median_engine_index_s": median(&mut engine_s),
        "rss_before_open_mib": rss0 as f64 / 1024.0,
        "rss_after_open_mib": rss1 as f64 / 1024.0,
        "rss_with_engine_mib": rss2 as f64 / 1024.0,
        "peak_rss_mib": hwm as f64 / 1024.0,
        "store_index_bytes_per_record": per(rss1.saturating_sub(rss0)),
        "engine_index_bytes_per_record": per(rss2.saturating_sub(rss1)),
        "index_bytes_per_record": per(rss2.saturating_sub(rss0)),
        "statistic": "median",
    }))
}

/// `bench store`: fills a store with `records` records, then measures opening it in a fresh
/// process.
pub(crate) fn store(opts: &StoreOpts) -> anyhow::Result<serde_json::Value> {
    if let Some(dir) = &opts.store {
        return measure(dir, opts.reps);
    }
    crate::bench::fill_and_measure("store", opts.records, opts.reps, fill)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_bench_reopens_what_it_filled() {
        let dir = tempfile::tempdir().expect("tempdir");
        fill(dir.path(), 3000).expect("fill");
        let v = measure(dir.path(), 2).expect("measure");
        assert_eq!(v["records"], 3000, "{v}");
        assert!(v["store_bytes"].as_u64().expect("bytes") > 3000 * 50, "{v}");
        assert!(v["median_open_s"].as_f64().expect("time") > 0.0, "{v}");
        assert!(v["rss_after_open_mib"].as_f64().expect("rss") > 1.0, "{v}");
    }
}
