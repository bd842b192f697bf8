//! `haiqiao demo`: a local demonstration on embedded defaults.
//!
//! Stage one (foundation): two boats and a shore station get identities and durable stores;
//! the boats sign records of every kind, each record crosses to the others as bytes and is
//! verified before it is stored, the stores are closed and reopened, and everything acknowledged
//! is read back.

use anyhow::{Context, ensure};
use haiqiao_mesh::{Store, StoreLimits};
use haiqiao_proto::{KeyRing, Keypair, Kind, Record, Unverified, samples};
use haiqiao_store::SledStore;

struct Node {
    name: &'static str,
    key: Keypair,
    store: SledStore,
}

fn now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}

pub(crate) fn run(_once: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let names = ["浙岱渔03315", "浙岱渔03316", "沈家门岸站 Shenjiamen shore"];
    let mut nodes = Vec::new();
    let mut ring = KeyRing::new(64);
    for (i, name) in names.into_iter().enumerate() {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no entropy: {e}"))?;
        let key = Keypair::from_seed(&seed);
        ring.insert(key.public());
        let store = SledStore::open(dir.path().join(format!("node{i}")), StoreLimits::default())?;
        println!("[setup] {name}: node id {}", key.public().short());
        nodes.push(Node { name, key, store });
    }
    let now = now()?;
    let mut written = Vec::new();
    for (seq, kind) in Kind::ALL.into_iter().enumerate() {
        let (from, to) = if seq % 2 == 0 { (0, 1) } else { (1, 0) };
        let partner = nodes[to].key.public().hint();
        let env = samples::envelope(
            kind,
            nodes[from].key.public().hint(),
            partner,
            seq as u64,
            now,
        );
        let record = Record::sign(&nodes[from].key, env)?;
        nodes[from].store.insert(&record)?;
        // Carried as bytes: every receiver decodes and verifies before storing.
        for n in nodes
            .iter_mut()
            .filter(|n| n.key.public() != record.author())
        {
            let got = Unverified::decode(record.bytes())?.verify(&ring, now)?;
            ensure!(
                n.store.insert(&got)?.is_held(),
                "{} refused a {}",
                n.name,
                kind.name()
            );
        }
        println!(
            "[record] {} signed a {} ({} bytes, id {}), verified and stored by all",
            nodes[from].name,
            kind.name(),
            record.len(),
            &record.id().to_string()[..12]
        );
        written.push(record.id());
    }
    let paths: Vec<_> = (0..nodes.len())
        .map(|i| dir.path().join(format!("node{i}")))
        .collect();
    drop(nodes);
    for (i, p) in paths.iter().enumerate() {
        let store = SledStore::open(p, StoreLimits::default()).context("reopening a store")?;
        for id in &written {
            ensure!(
                store.contains(id)?,
                "{} lost {id} across a restart",
                names[i]
            );
        }
        println!(
            "[restart] {}: all {} records still held",
            names[i],
            written.len()
        );
    }
    println!("demo complete");
    Ok(())
}
