//! `haiqiao bench`: measurements a skipper can run on the boat's own hardware.
//!
//! Every figure is a median over repetitions, and ratios are taken between figures measured in
//! the same run, interleaved, so that a busy machine slows both sides alike.

use std::time::Instant;

use anyhow::Context;
use haiqiao_mesh::{Store, StoreLimits};
use haiqiao_proto::{KeyRing, Keypair, Kind, Record, Unverified, samples, verify_batch};
use haiqiao_store::SledStore;
use serde_json::json;

/// A fixed "now" for reproducible records (2026-11-18T11:06:40Z).
pub(crate) const NOW: u64 = 1_795_000_000;

/// Encoded size of a typical signed record of each kind.
pub(crate) fn record_sizes() -> anyhow::Result<serde_json::Value> {
    let me = Keypair::from_seed(&[1; 32]);
    let partner = Keypair::from_seed(&[2; 32]).public().hint();
    let mut sizes = serde_json::Map::new();
    for kind in Kind::ALL {
        // seq 4000: a boat reporting every few minutes for a couple of weeks.
        let env = samples::envelope(kind, me.public().hint(), partner, 4000, NOW);
        let r = Record::sign(&me, env).with_context(|| format!("signing a {}", kind.name()))?;
        sizes.insert(kind.name().to_owned(), json!(r.len()));
    }
    Ok(json!({ "sizes": sizes }))
}

/// Options of `bench ingest`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestOpts {
    /// Records per repetition for the batch paths.
    pub(crate) records: usize,
    /// Records per batch.
    pub(crate) batch: usize,
    /// Records per repetition for the single (one fsync each) path.
    pub(crate) single_records: usize,
    /// Repetitions.
    pub(crate) reps: usize,
}

pub(crate) fn corpus(n: usize) -> anyhow::Result<(Vec<Vec<u8>>, KeyRing)> {
    let authors: Vec<Keypair> = (0..32u8)
        .map(|i| Keypair::from_seed(&[i + 10; 32]))
        .collect();
    let mut ring = KeyRing::new(1024);
    for a in &authors {
        ring.insert(a.public());
    }
    let mix = [
        Kind::Position,
        Kind::Position,
        Kind::Position,
        Kind::Position,
        Kind::Position,
        Kind::Position,
        Kind::PairAlert,
        Kind::DisputeReport,
        Kind::Text,
        Kind::Distress,
    ];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let a = &authors[i % authors.len()];
        let partner = authors[(i + 1) % authors.len()].public().hint();
        let kind = mix[i % mix.len()];
        let env = samples::envelope(kind, a.public().hint(), partner, i as u64, NOW);
        out.push(Record::sign(a, env)?.bytes().to_vec());
    }
    Ok((out, ring))
}

pub(crate) fn limits() -> StoreLimits {
    // Generous limits so that every record is really written (no superseding, no eviction).
    StoreLimits {
        max_bytes: 1 << 34,
        max_author_bytes: 1 << 34,
        track_len: 1 << 20,
    }
}

/// Two engines of one role on the in-memory harness, keys from seeds 1 and 2, not yet
/// connected: the sync benches' pair.
pub(crate) fn two_nodes(
    cfg: &haiqiao_mesh::MeshConfig,
    role: haiqiao_proto::Role,
    a: haiqiao_mesh::MemStore,
    b: haiqiao_mesh::MemStore,
    now_ms: u64,
) -> anyhow::Result<haiqiao_mesh::harness::Mesh> {
    let mut mesh = haiqiao_mesh::harness::Mesh::new(&[], cfg.clone(), now_ms);
    for (seed, store) in [(1, a), (2, b)] {
        let key = Keypair::from_seed(&[seed; 32]);
        mesh.add(haiqiao_mesh::Node::new(
            cfg.clone(),
            key,
            role,
            store,
            now_ms,
        )?);
    }
    Ok(mesh)
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Pure {
    msgs: Vec<Vec<u8>>,
    sigs: Vec<ed25519_dalek::Signature>,
    keys: Vec<ed25519_dalek::VerifyingKey>,
}

fn pure_inputs(corpus: &[Vec<u8>], ring: &KeyRing) -> anyhow::Result<Pure> {
    let mut p = Pure {
        msgs: vec![],
        sigs: vec![],
        keys: vec![],
    };
    for b in corpus {
        let u = Unverified::decode(b)?;
        let key = ring
            .lookup(u.envelope().author)
            .next()
            .context("corpus author missing")?;
        let (env, sig) = b.split_at(b.len() - 64);
        let mut m = haiqiao_proto::record::SIGNING_CONTEXT.to_vec();
        m.extend_from_slice(env);
        p.msgs.push(m);
        p.sigs.push(ed25519_dalek::Signature::from_slice(sig)?);
        p.keys
            .push(ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes())?);
    }
    Ok(p)
}

/// Decode + verify + durable store, single and batch, against the pure batch-verify rate.
pub(crate) fn ingest(opts: IngestOpts) -> anyhow::Result<serde_json::Value> {
    let (corpus, ring) = corpus(opts.records.max(opts.single_records))?;
    let pure = pure_inputs(&corpus, &ring)?;
    let batch = opts.batch.max(1);
    let (mut single, mut batched, mut vbatch, mut vsingle) = (vec![], vec![], vec![], vec![]);
    let (mut decode_verify, mut store_only, mut decode_only) = (vec![], vec![], vec![]);
    for _ in 0..opts.reps.max(1) {
        // Pure batch verification of the same records, in the same chunks.
        let t = Instant::now();
        for start in (0..opts.records).step_by(batch) {
            let end = (start + batch).min(opts.records);
            let refs: Vec<&[u8]> = pure.msgs[start..end].iter().map(Vec::as_slice).collect();
            ed25519_dalek::verify_batch(&refs, &pure.sigs[start..end], &pure.keys[start..end])
                .ok()
                .context("pure batch verification failed")?;
        }
        vbatch.push(opts.records as f64 / t.elapsed().as_secs_f64());

        // Pure single verification.
        let t = Instant::now();
        for i in 0..opts.records {
            pure.keys[i]
                .verify_strict(&pure.msgs[i], &pure.sigs[i])
                .ok()
                .context("pure verification failed")?;
        }
        vsingle.push(opts.records as f64 / t.elapsed().as_secs_f64());

        // Decode + batch verify + one durable batch insert per chunk.
        let dir = tempfile::tempdir()?;
        let mut store = SledStore::open(dir.path(), limits())?;
        let t = Instant::now();
        for chunk in corpus[..opts.records].chunks(batch) {
            let items = chunk
                .iter()
                .map(|b| Unverified::decode(b))
                .collect::<Result<Vec<_>, _>>()?;
            let records = verify_batch(items, &ring, NOW)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            store.insert_batch(&records)?;
        }
        batched.push(opts.records as f64 / t.elapsed().as_secs_f64());
        anyhow::ensure!(
            store.usage().records as usize == opts.records,
            "batch path lost records"
        );
        drop(store);

        // The two halves on their own: decode + batch verify, and storing verified records.
        let t = Instant::now();
        let mut verified = Vec::with_capacity(opts.records);
        for chunk in corpus[..opts.records].chunks(batch) {
            let items = chunk
                .iter()
                .map(|b| Unverified::decode(b))
                .collect::<Result<Vec<_>, _>>()?;
            for r in verify_batch(items, &ring, NOW) {
                verified.push(r?);
            }
        }
        decode_verify.push(opts.records as f64 / t.elapsed().as_secs_f64());
        // Decoding alone (the strict decode, the id's hash, the copy of the bytes).
        let t = Instant::now();
        for b in &corpus[..opts.records] {
            std::hint::black_box(Unverified::decode(b)?);
        }
        decode_only.push(opts.records as f64 / t.elapsed().as_secs_f64());
        let dir = tempfile::tempdir()?;
        let mut store = SledStore::open(dir.path(), limits())?;
        let t = Instant::now();
        for chunk in verified.chunks(batch) {
            store.insert_batch(chunk)?;
        }
        store_only.push(opts.records as f64 / t.elapsed().as_secs_f64());
        drop(store);

        // Decode + single verify + one durable insert per record.
        let dir = tempfile::tempdir()?;
        let mut store = SledStore::open(dir.path(), limits())?;
        let t = Instant::now();
        for b in &corpus[..opts.single_records] {
            let r = Unverified::decode(b)?.verify(&ring, NOW)?;
            store.insert(&r)?;
        }
        single.push(opts.single_records as f64 / t.elapsed().as_secs_f64());
    }
    let (s, b, vb, vs) = (
        median(&mut single),
        median(&mut batched),
        median(&mut vbatch),
        median(&mut vsingle),
    );
    Ok(json!({
        "single_per_s": s.round(),
        "batch_per_s": b.round(),
        "verify_batch_per_s": vb.round(),
        "verify_single_per_s": vs.round(),
        "ratio": (b / vb * 1000.0).round() / 1000.0,
        "decode_verify_batch_per_s": median(&mut decode_verify).round(),
        "decode_per_s": median(&mut decode_only).round(),
        "store_batch_per_s": median(&mut store_only).round(),
        "batch_vs_single_verify": (vb / vs * 100.0).round() / 100.0,
        "records": opts.records,
        "single_records": opts.single_records,
        "batch_size": batch,
        "reps": opts.reps,
        "statistic": "median",
    }))
}

/// Options of `bench sync`.
#[derive(Debug, Clone)]
pub(crate) struct SyncOpts {
    /// Records both sides hold.
    pub(crate) n: usize,
    /// Differences to measure.
    pub(crate) ds: Vec<usize>,
    /// Repetitions per difference (different records missing each time).
    pub(crate) reps: usize,
}

/// The real sync protocol, engine against engine over the in-memory harness: bytes beyond the
/// records themselves, and round trips, when in sync and with `d` records missing on one side.
pub(crate) fn sync(opts: &SyncOpts) -> anyhow::Result<serde_json::Value> {
    use haiqiao_mesh::{MemStore, MeshConfig};
    use haiqiao_proto::{Body, Destination, Envelope, Role, Timestamp};

    let max_d = opts.ds.iter().copied().max().unwrap_or(0);
    let total = opts.n + max_d * opts.reps.max(1);
    let authors = fleet_keys(7, 1000);
    // Flood records (addressed to everyone) from 1000 vessels: texts, with one in ten a
    // distress update so that both reconciliation tiers are exercised.
    let records: Vec<Record> = (0..total)
        .map(|i| {
            let a = &authors[i % authors.len()];
            let body = if i % 10 == 0 {
                Body::DistressUpdate {
                    distress: haiqiao_proto::RecordId([(i % 251) as u8; 16]),
                    status: haiqiao_proto::DistressStatus::Acknowledged,
                    text: String::new(),
                }
            } else {
                Body::Text {
                    text: format!("报平安 {i}"),
                    safety: false,
                }
            };
            Record::sign(
                a,
                Envelope {
                    author: a.public().hint(),
                    seq: i as u64,
                    created: Timestamp(NOW as u32),
                    ttl_min: 24 * 60,
                    dest: Destination::Everyone,
                    body,
                },
            )
        })
        .collect::<Result<_, _>>()?;
    let limits = StoreLimits {
        max_bytes: 1 << 34,
        max_author_bytes: 1 << 34,
        track_len: 64,
    };
    let cfg = MeshConfig {
        author_records_burst: 1_000_000,
        peer_records_burst: 1_000_000,
        ..MeshConfig::default()
    };
    let now_ms = NOW * 1000;
    let run = |extra: &[Record]| -> anyhow::Result<(u64, u64, u64)> {
        let mut a = MemStore::new(limits.clone());
        let mut b = MemStore::new(limits.clone());
        a.insert_batch(&records[..opts.n])?;
        b.insert_batch(&records[..opts.n])?;
        a.insert_batch(extra)?;
        let mut mesh = two_nodes(&cfg, Role::Vessel, a, b, now_ms)?;
        mesh.connect(0, 1, None);
        let flights = mesh.run(1, 100_000);
        for r in extra {
            anyhow::ensure!(
                mesh.nodes[1].holds(&r.id()),
                "a missing record did not arrive"
            );
        }
        let (s0, s1) = (mesh.nodes[0].stats(), mesh.nodes[1].stats());
        let bytes = s0.bytes_out + s1.bytes_out;
        let record_bytes = s0.record_bytes_out + s1.record_bytes_out;
        Ok((bytes - record_bytes, flights.div_ceil(2), record_bytes))
    };
    let (in_sync_bytes, in_sync_rt, _) = run(&[])?;
    let mut missing = Vec::new();
    for &d in &opts.ds {
        let (mut over, mut rts, mut recb) = (vec![], vec![], vec![]);
        for rep in 0..opts.reps.max(1) {
            let start = opts.n + rep * max_d;
            let (o, rt, rb) = run(&records[start..start + d])?;
            over.push(o as f64);
            rts.push(rt as f64);
            recb.push(rb as f64);
        }
        let o = median(&mut over);
        missing.push(json!({
            "n": opts.n,
            "d": d,
            "overhead_bytes": o,
            "overhead_per_missing": (o / d as f64 * 10.0).round() / 10.0,
            "goal_bytes": 24 * d + 64,
            "round_trips": median(&mut rts),
            "record_bytes": median(&mut recb),
            "reps": opts.reps,
        }));
    }
    Ok(json!({
        "in_sync": { "n": opts.n, "bytes": in_sync_bytes, "round_trips": in_sync_rt, "goal_bytes": 64 },
        "missing": missing,
        "statistic": "median over reps (different missing records each)",
    }))
}

/// Options of `bench fleet`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FleetOpts {
    /// Vessels reporting positions.
    pub(crate) vessels: usize,
    /// Positions per vessel.
    pub(crate) positions: usize,
    /// Dispute cases (each filed, accepted and proposed).
    pub(crate) cases: usize,
    /// Repetitions.
    pub(crate) reps: usize,
}

/// What the fleet projections cost a shore station that hears a whole fleet: records observed
/// per second against batch verification of the same records (the ingest path's own cost), and
/// the time to answer the views people ask for.
///
/// Long (about 170 lines) because it is one script read top to bottom: build the fleet's
/// records, time each stage, report; its stages share the records and the timings.
pub(crate) fn fleet(opts: FleetOpts) -> anyhow::Result<serde_json::Value> {
    use haiqiao_fleet::{Fleet, FleetConfig};
    use haiqiao_proto::{
        Body, CaseStatus, Destination, DisputeCategory, DistressNature, Envelope, Fix, Party, Role,
        Timestamp,
    };
    let bureau = Keypair::from_seed(&[200; 32]);
    let vessels: Vec<Keypair> = (0..opts.vessels.max(1))
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Keypair::from_seed(&seed)
        })
        .collect();
    let mediator = Keypair::from_seed(&[201; 32]);
    let me = Keypair::from_seed(&[202; 32]);
    let sign = |k: &Keypair, seq: u64, at: u64, body: Body| -> anyhow::Result<Record> {
        let env = Envelope {
            author: k.public().hint(),
            seq,
            created: Timestamp(at as u32),
            ttl_min: 3 * 24 * 60,
            dest: Destination::Everyone,
            body,
        };
        Ok(Record::sign(k, env)?)
    };
    let mut corpus = Vec::new();
    corpus.push(sign(
        &bureau,
        1,
        NOW - 3600,
        Body::Certificate {
            subject: mediator.public(),
            name: "海上老娘舅".into(),
            registration: String::new(),
            mmsi: None,
            role: Role::Mediator,
            valid_from: Timestamp((NOW - 86_400) as u32),
            valid_until: Timestamp((NOW + 86_400) as u32),
        },
    )?);
    // Positions spread over the grounds east of Zhoushan, oldest first.
    for p in 0..opts.positions {
        for (i, v) in vessels.iter().enumerate() {
            let lat = 29.5 + (i % 100) as f64 * 0.015;
            let lon = 122.2 + (i / 100 % 100) as f64 * 0.015 + p as f64 * 0.001;
            corpus.push(sign(
                v,
                p as u64,
                NOW - 3600 + (p as u64) * 60,
                Body::Position(Fix::from_degrees(lat, lon)),
            )?);
        }
    }
    for c in 0..opts.cases {
        let a = &vessels[c % vessels.len()];
        let b = &vessels[(c + 1) % vessels.len()];
        let report = sign(
            a,
            1_000_000 + c as u64,
            NOW - 600,
            Body::DisputeReport {
                category: DisputeCategory::GearDamage,
                parties: vec![Party {
                    key: Some(b.public().hint()),
                    name: "浙普渔05008".into(),
                }],
                fix: Some(Fix::from_degrees(30.0, 122.8)),
                description: "拖网被割断".into(),
                evidence: vec![],
            },
        )?;
        let case = report.id();
        corpus.push(report);
        for (k, (status, text)) in [
            (CaseStatus::Accepted, ""),
            (CaseStatus::AgreementProposed, "05008 pays 3000 yuan"),
        ]
        .into_iter()
        .enumerate()
        {
            corpus.push(sign(
                &mediator,
                2 * c as u64 + k as u64,
                NOW - 300 + k as u64,
                Body::CaseUpdate {
                    case,
                    status,
                    text: text.into(),
                },
            )?);
        }
    }
    for d in 0..10u64 {
        corpus.push(sign(
            &vessels[d as usize % vessels.len()],
            2_000_000 + d,
            NOW - 120,
            Body::Distress {
                nature: DistressNature::Flooding,
                fix: Some(Fix::from_degrees(29.9, 122.6)),
                persons: Some(9),
                text: String::new(),
            },
        )?);
    }
    let mut ring = KeyRing::new(vessels.len() + 16);
    for k in vessels.iter().chain([&bureau, &mediator]) {
        ring.insert(k.public());
    }
    let cfg = FleetConfig {
        trust_anchors: vec![bureau.public().to_string()],
        ..FleetConfig::default()
    };
    let now_ms = NOW * 1000;
    let (mut observe, mut verify, mut distress_us, mut stats_us, mut poll_us) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut open = 0;
    for _ in 0..opts.reps.max(1) {
        let t = Instant::now();
        for chunk in corpus.chunks(1024) {
            let items = chunk
                .iter()
                .map(|r| Unverified::decode(r.bytes()))
                .collect::<Result<Vec<_>, _>>()?;
            for r in verify_batch(items, &ring, NOW) {
                r?;
            }
        }
        verify.push(corpus.len() as f64 / t.elapsed().as_secs_f64());
        let mut f = Fleet::new(cfg.clone(), me.public(), 1)?;
        let t = Instant::now();
        for r in &corpus {
            f.observe(now_ms, r);
        }
        observe.push(corpus.len() as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..20 {
            open = f.open_distress(now_ms).len();
        }
        distress_us.push(t.elapsed().as_secs_f64() * 1e6 / 20.0);
        let t = Instant::now();
        for _ in 0..20 {
            std::hint::black_box(f.case_stats());
        }
        stats_us.push(t.elapsed().as_secs_f64() * 1e6 / 20.0);
        let t = Instant::now();
        for i in 0..20 {
            std::hint::black_box(f.poll(now_ms + i));
        }
        poll_us.push(t.elapsed().as_secs_f64() * 1e6 / 20.0);
    }
    anyhow::ensure!(open == 10, "ten open distress incidents, got {open}");
    let (o, v) = (median(&mut observe), median(&mut verify));
    Ok(json!({
        "records": corpus.len(),
        "vessels": opts.vessels,
        "cases": opts.cases,
        "observe_per_s": o.round(),
        "verify_batch_per_s": v.round(),
        "observe_vs_verify": (o / v * 100.0).round() / 100.0,
        "open_distress_us": median(&mut distress_us).round(),
        "case_stats_us": median(&mut stats_us).round(),
        "poll_us": median(&mut poll_us).round(),
        "reps": opts.reps,
        "statistic": "median",
    }))
}

/// `n` authors' keys for a bench: seeds `fill` bytes with the index in the first four.
pub(crate) fn fleet_keys(fill: u8, n: u32) -> Vec<Keypair> {
    (0..n)
        .map(|i| {
            let mut seed = [fill; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            Keypair::from_seed(&seed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_fleet_bench_measures_what_it_built() {
        let v = super::fleet(super::FleetOpts {
            vessels: 50,
            positions: 2,
            cases: 5,
            reps: 1,
        })
        .unwrap();
        // 1 certificate, 100 positions, 5 cases of 3 records, 10 distress calls.
        assert_eq!(v["records"], 126);
        assert!(v["observe_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["observe_vs_verify"].as_f64().unwrap() > 0.0);
    }
}

/// Options of `bench views`.
#[derive(Debug, Clone)]
pub(crate) struct ViewsOpts {
    /// Records in the store.
    pub(crate) records: usize,
    /// Repetitions of the rebuild (medians are reported).
    pub(crate) reps: usize,
    /// A store filled by an earlier run (the measuring half, run as a fresh process).
    pub(crate) store: Option<std::path::PathBuf>,
}

/// The mix of a shore station's store: of every 1,000 records, 940 positions, 30 texts,
/// 20 pair alerts, 5 dispute reports and 5 distress calls, from 1,000 vessels.
pub(crate) fn shore_kind(i: usize) -> Kind {
    match i % 1000 {
        0..=939 => Kind::Position,
        940..=969 => Kind::Text,
        970..=989 => Kind::PairAlert,
        990..=994 => Kind::DisputeReport,
        _ => Kind::Distress,
    }
}

/// Fills a store at `dir` with `n` signed records (every one really stored: generous limits).
fn fill_store(dir: &std::path::Path, n: usize) -> anyhow::Result<()> {
    let authors = fleet_keys(7, 1000);
    let mut store = SledStore::open(dir, limits())?;
    let chunk = 10_000;
    for start in (0..n).step_by(chunk) {
        let mut batch = Vec::with_capacity(chunk);
        for i in start..(start + chunk).min(n) {
            let a = &authors[i % authors.len()];
            let partner = authors[(i + 1) % authors.len()].public().hint();
            let env = samples::envelope(
                shore_kind(i),
                a.public().hint(),
                partner,
                (i / authors.len()) as u64,
                NOW,
            );
            batch.push(Record::sign(a, env)?);
        }
        store.insert_batch(&batch)?;
    }
    anyhow::ensure!(
        store.usage().records as usize == n,
        "the store holds {} of {n}",
        store.usage().records
    );
    Ok(())
}

/// This process's resident and peak resident memory, KiB (Linux).
pub(crate) fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What a shore station does at start over its store, timed: open the store, build the
/// engine's index, replay the fleet views (distress, cases, pairs, timeline) and refill the
/// inbox; then the process's RSS while it holds all of it (no network).
fn measure_views(dir: &std::path::Path, reps: usize) -> anyhow::Result<serde_json::Value> {
    use haiqiao_mesh::{MeshConfig, Node};
    let key = Keypair::from_seed(&[99; 32]);
    // Just after the records were written, so that none has expired.
    let now_ms = (NOW + 3600) * 1000;
    let (mut open, mut index, mut replay, mut inbox, mut total) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut held = (0, 0, 0);
    for rep in 0..reps.max(1) {
        let t = Instant::now();
        let store = SledStore::open(dir, limits())?;
        let t_open = t.elapsed().as_secs_f64();
        let mut node = Node::new(
            MeshConfig::default(),
            key.clone(),
            haiqiao_proto::Role::Shore,
            store,
            now_ms,
        )?;
        let t_index = t.elapsed().as_secs_f64();
        let me = key.public();
        let mut work = crate::workflows::Workflows::new(
            haiqiao_fleet::FleetConfig::default(),
            me,
            u64::from_le_bytes(me.hint().0),
        )?;
        work.replay(now_ms, &mut node)?;
        let t_replay = t.elapsed().as_secs_f64();
        let mut ib = crate::daemon::Inbox::new(10_000);
        crate::daemon::refill_inbox(&node, &mut ib)?;
        let t_all = t.elapsed().as_secs_f64();
        open.push(t_open);
        index.push(t_index - t_open);
        replay.push(t_replay - t_index);
        inbox.push(t_all - t_replay);
        total.push(t_all);
        held = (
            node.held(),
            ib.len(),
            work.summary(now_ms)["cases"].as_u64().unwrap_or(0) as usize,
        );
        if rep + 1 == reps.max(1) {
            let (rss, hwm) = rss_kib();
            return Ok(json!({
                "records": node.store().usage().records,
                "store_bytes": node.store().usage().bytes,
                "held": held.0, "inbox": held.1, "cases": held.2,
                "reps": reps.max(1),
                "median_open_s": median(&mut open),
                "median_index_s": median(&mut index),
                "median_replay_s": median(&mut replay),
                "median_inbox_s": median(&mut inbox),
                "median_rebuild_s": median(&mut total),
                "rss_mib": rss as f64 / 1024.0,
                "peak_rss_mib": hwm as f64 / 1024.0,
            }));
        }
        drop(work);
        drop(node);
    }
    anyhow::bail!("no repetition ran ({held:?})")
}

/// Runs `haiqiao bench <what> --json --reps <reps> --store <dir>` (the measuring half of a
/// bench over a store filled earlier) as a fresh process, so that its RSS is its own and not
/// the filler's; its JSON.
pub(crate) fn measure_in_fresh_process(
    what: &str,
    reps: usize,
    dir: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args([
            "bench",
            what,
            "--json",
            "--reps",
            &reps.to_string(),
            "--store",
        ])
        .arg(dir)
        .output()
        .context("running the measuring process")?;
    anyhow::ensure!(
        out.status.success(),
        "the measuring process failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// `bench views`: start-up rebuild of a shore station holding `records` records, and its RSS.
pub(crate) fn views(opts: &ViewsOpts) -> anyhow::Result<serde_json::Value> {
    if let Some(dir) = &opts.store {
        return measure_views(dir, opts.reps);
    }
    let mut v = fill_and_measure("views", opts.records, opts.reps, fill_store)?;
    v["dashboard_payload_bytes"] = json!(crate::dashboard::payload_bytes());
    Ok(v)
}

/// Fills a fresh store with `records` records by `fill`, then measures it with `bench <name>
/// --store` in a fresh process, so that its RSS is the reopened store's, not the filler's. The
/// measurement's JSON, with `fill_s` and `fill_per_s`.
pub(crate) fn fill_and_measure(
    name: &str,
    records: usize,
    reps: usize,
    fill: impl FnOnce(&std::path::Path, usize) -> anyhow::Result<()>,
) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    fill(dir.path(), records)?;
    let fill_s = t.elapsed().as_secs_f64();
    let mut v = measure_in_fresh_process(name, reps, dir.path())?;
    v["fill_s"] = json!(fill_s);
    v["fill_per_s"] = json!((records as f64 / fill_s).round());
    Ok(v)
}

#[cfg(test)]
mod views_tests {
    use super::*;

    #[test]
    fn the_views_bench_rebuilds_what_it_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        fill_store(dir.path(), 3000).expect("fill");
        let v = measure_views(dir.path(), 2).expect("measure");
        assert_eq!(v["records"], 3000, "{v}");
        assert_eq!(v["held"], 3000, "{v}");
        // 15 dispute reports among 3,000 records: each a case in the rebuilt views.
        assert_eq!(v["cases"], 15, "{v}");
        assert!(v["median_rebuild_s"].as_f64().expect("time") > 0.0, "{v}");
        assert!(v["rss_mib"].as_f64().expect("rss") > 1.0, "{v}");
    }
}
