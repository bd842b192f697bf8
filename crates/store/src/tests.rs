//! The conformance suite on sled, and what only a durable store has: reopening, the schema
//! version, corrupt data.

use haiqiao_mesh::store::conformance::{self as c, T0};
use haiqiao_mesh::{Store, StoreError, StoreLimits, Usage};
use haiqiao_proto::{Destination, Kind, Priority, Timestamp};

use super::*;

haiqiao_mesh::store_conformance_tests!({
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0u32;
    move |limits| {
        n += 1;
        SledStore::open(dir.path().join(n.to_string()), limits).unwrap()
    }
});

/// Opens a store just dropped in this process (sled may hold its lock a moment longer:
/// [`retry_lock`]).
fn open_retrying(path: &Path, limits: StoreLimits) -> Result<SledStore, StoreError> {
    retry_lock(|| SledStore::open(path, limits.clone()))
}

fn reopen(path: &Path, limits: StoreLimits) -> SledStore {
    open_retrying(path, limits).unwrap()
}

/// Opens the store's sled database directly (see [`reopen`] for the retries).
fn raw(path: &Path) -> sled::Db {
    retry_lock(|| sled::Config::new().path(path).open().map_err(io)).unwrap()
}

fn some_records() -> Vec<Record> {
    vec![
        c::position(1, 1, T0),
        c::position(1, 2, T0 + 10),
        c::position(2, 1, T0 + 5),
        c::distress(3, 1, T0),
        c::sized(Priority::Case, 1, 3, T0, c::SIZE),
        c::text(2, 2, T0, Destination::Shore, 40),
    ]
}

#[test]
fn a_replay_that_reopens_sled_after_every_segment_rebuilds_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let limits = c::roomy(8);
    let rs = some_records();
    let (sums, latest, kept) = {
        let mut s = SledStore::open(dir.path(), limits.clone()).unwrap();
        // One change (one segment, or more) per record, and a removal naming an earlier one.
        for r in &rs {
            s.insert(r).unwrap();
        }
        assert!(s.remove(&rs[2].id()).unwrap());
        assert!(s.segments() > 3, "{}", s.segments());
        (
            s.summaries().unwrap(),
            s.latest_positions().unwrap(),
            s.track(&c::author(1)).unwrap(),
        )
    };
    let mut s = None;
    for _ in 0..400 {
        match SledStore::open_replaying(dir.path(), limits.clone(), 1) {
            Err(StoreError::Io(e)) if e.contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => {
                s = Some(other.unwrap());
                break;
            }
        }
    }
    let s = s.expect("the store reopens");
    assert_eq!(s.summaries().unwrap(), sums);
    assert_eq!(s.latest_positions().unwrap(), latest);
    assert_eq!(s.track(&c::author(1)).unwrap(), kept);
    assert_eq!(s.get(&rs[2].id()).unwrap(), None);
    assert_eq!(s.get(&rs[3].id()).unwrap(), Some(rs[3].clone()));
}

#[test]
fn reopening_keeps_records_counters_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let limits = c::roomy(8);
    let rs = some_records();
    let (sums, latest) = {
        let mut s = SledStore::open(dir.path(), limits.clone()).unwrap();
        s.insert_batch(&rs[..3]).unwrap();
        for r in &rs[3..] {
            s.insert(r).unwrap();
        }
        assert!(s.remove(&rs[0].id()).unwrap());
        (s.summaries().unwrap(), s.latest_positions().unwrap())
    };
    let s = reopen(dir.path(), limits);
    assert_eq!(s.summaries().unwrap(), sums);
    assert_eq!(s.latest_positions().unwrap(), latest);
    let bytes = |rs: &[&Record]| rs.iter().map(|r| r.len() as u64).sum::<u64>();
    assert_eq!(
        s.usage(),
        Usage {
            records: 5,
            bytes: bytes(&rs[1..].iter().collect::<Vec<_>>())
        }
    );
    assert_eq!(
        s.author_usage(&c::author(1)),
        Usage {
            records: 2,
            bytes: bytes(&[&rs[1], &rs[4]])
        }
    );
    assert_eq!(s.get(&rs[3].id()).unwrap(), Some(rs[3].clone()));
    assert_eq!(s.get(&rs[0].id()).unwrap(), None);
    assert_eq!(
        s.by_author_seq(&c::author(2), 2).unwrap(),
        Some(rs[5].clone())
    );
    assert_eq!(
        s.by_kind(Kind::Distress, Timestamp(0), Timestamp(u32::MAX), 9)
            .unwrap(),
        vec![rs[3].clone()]
    );
    assert_eq!(
        s.by_destination(&Destination::Shore, 9).unwrap(),
        vec![rs[5].clone()]
    );
    c::assert_consistent(&s);
}

#[test]
fn reopening_with_other_limits_enforces_them_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let rs = some_records();
    {
        let mut s = SledStore::open(dir.path(), c::roomy(8)).unwrap();
        s.insert_batch(&rs).unwrap();
    }
    let mut s = reopen(dir.path(), c::roomy(1));
    assert_eq!(s.limits().track_len, 1);
    let newer = c::position(1, 3, T0 + 20);
    assert_eq!(
        s.insert(&newer).unwrap(),
        InsertOutcome::Stored {
            evicted: vec![rs[0].id(), rs[1].id()]
        },
        "the track shrinks to the new length"
    );
    c::assert_consistent(&s);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path(), StoreLimits::default()).unwrap());
    {
        let db = raw(dir.path());
        assert_eq!(
            db.get(META_SCHEMA).unwrap().unwrap().as_ref(),
            SCHEMA_VERSION.to_be_bytes()
        );
        db.insert(META_SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    match open_retrying(dir.path(), StoreLimits::default()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn a_sled_db_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = raw(dir.path());
        db.insert(b"hello", b"world").unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        open_retrying(dir.path(), StoreLimits::default()),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn corrupt_data_is_refused_at_open_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let rs = some_records();
    {
        let mut s = SledStore::open(dir.path(), c::roomy(8)).unwrap();
        s.insert_batch(&rs).unwrap();
        assert_eq!(s.segments(), 1);
    }
    // Copies the store, spoils the copy with `f`, and expects it not to open.
    let spoiled = |what: &str, f: &dyn Fn(&sled::Db)| {
        let copy = tempfile::tempdir().unwrap();
        {
            let from = raw(dir.path());
            let to = raw(copy.path());
            to.import(from.export());
            f(&to);
            to.flush().unwrap();
        }
        match open_retrying(copy.path(), c::roomy(8)) {
            Err(StoreError::Corrupt(e)) => println!("{what}: {e}"),
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    };
    let seg0 = segment_key(0);
    let spoil_segment = |what: &str, f: &dyn Fn(&mut Vec<u8>)| {
        spoiled(what, &|db: &sled::Db| {
            let mut v = db.get(seg0).unwrap().unwrap().to_vec();
            f(&mut v);
            db.insert(seg0, v).unwrap();
        })
    };
    // The first entry: tag 0, id 1..17, length 17..19, author 19..51, record from 51.
    spoil_segment("segment cut short", &|v| v.truncate(40));
    spoil_segment("unknown entry", &|v| v[0] = 9);
    spoil_segment("author key changed", &|v| v[19] ^= 1);
    spoil_segment("record changed", &|v| v[60] ^= 0x10);
    spoil_segment("id changed", &|v| v[3] ^= 1);
    spoil_segment("length changed", &|v| v[18] = v[18].wrapping_add(1));
    spoiled("empty segment key", &|db| {
        db.insert([P_SEGMENT, 1, 2], &[]).unwrap();
    });
    spoiled("segment lost without its counters", &|db| {
        db.remove(seg0).unwrap();
    });
    spoiled("counters cut short", &|db| {
        db.insert(COUNTERS, &[1, 2, 3]).unwrap();
    });
    spoiled("counters disagree", &|db| {
        let mut v = db.get(COUNTERS).unwrap().unwrap().to_vec();
        v[7] ^= 1;
        db.insert(COUNTERS, v).unwrap();
    });
    spoiled("a segment beyond the counter", &|db| {
        let v = db.get(seg0).unwrap().unwrap();
        db.remove(seg0).unwrap();
        db.insert(segment_key(5), v).unwrap();
    });
}

/// A store writes whole segments and collects them as records leave: the disk holds a
/// bounded number of segments however many records pass through.
#[test]
fn segments_are_collected_as_records_leave() {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreLimits {
        max_bytes: 40 * c::SIZE as u64,
        max_author_bytes: 1 << 30,
        track_len: 4,
    };
    let mut s = SledStore::open(dir.path(), limits.clone()).unwrap();
    let mut mem = haiqiao_mesh::MemStore::new(limits.clone());
    let mut most = 0;
    for round in 0..60u32 {
        // Routine texts pushing each other out, positions superseding, a few removals.
        let batch: Vec<Record> = (0..10u32)
            .map(|i| {
                let t = T0 + round * 10 + i;
                if i % 3 == 0 {
                    c::position((i % 4) as u8, u64::from(t), t)
                } else {
                    c::sized(Priority::Routine, (i % 7) as u8, u64::from(t), t, c::SIZE)
                }
            })
            .collect();
        assert_eq!(
            s.insert_batch(&batch).unwrap(),
            mem.insert_batch(&batch).unwrap()
        );
        if round % 7 == 3 {
            let id = s.summaries().unwrap()[0].id;
            assert!(s.remove(&id).unwrap());
            assert!(mem.remove(&id).unwrap());
        }
        most = most.max(s.segments());
    }
    assert!(most <= 40, "{most} segments on disk for 40 records' room");
    assert_eq!(s.summaries().unwrap(), mem.summaries().unwrap());
    drop(s);
    let s = reopen(dir.path(), limits);
    assert_eq!(s.summaries().unwrap(), mem.summaries().unwrap());
    for x in mem.summaries().unwrap() {
        assert_eq!(s.get(&x.id).unwrap(), mem.get(&x.id).unwrap());
    }
    c::assert_consistent(&s);
}

/// Seeded random changes, with the store closed and reopened now and then, give the same
/// answers as the in-memory store. Prints its seed; `SEED=<n>` replays one.
#[test]
fn reopen_random_ops() {
    let seeds: Vec<u64> = match std::env::var("SEED") {
        Ok(v) => vec![v.parse().unwrap()],
        Err(_) => (0..12)
            .map(|i| c::SplitMix::new(0x5ed0 + i).next_u64())
            .collect(),
    };
    for seed in seeds {
        println!("reopen_random_ops: SEED={seed}");
        let mut rng = c::SplitMix::new(seed);
        let limits = StoreLimits {
            max_bytes: 2000 + rng.below(6000),
            max_author_bytes: 1000 + rng.below(3000),
            track_len: 1 + rng.below(3) as usize,
        };
        let pool: Vec<Record> = (0..60)
            .map(|n| {
                let a = rng.below(4) as u8;
                let t = T0 + rng.below(20) as u32;
                match rng.below(3) {
                    0 => c::position(a, n, t),
                    _ => {
                        let class = Priority::ALL[rng.below(5) as usize];
                        let len = if class == Priority::Control {
                            200
                        } else {
                            140 + rng.below(120)
                        };
                        c::sized(class, a, n, t, len as usize)
                    }
                }
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut s = SledStore::open(dir.path(), limits.clone()).unwrap();
        let mut mem = haiqiao_mesh::MemStore::new(limits.clone());
        for step in 0..80 {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(10) {
                0..=3 => {
                    let r = &pool[rng.below(60) as usize];
                    assert_eq!(s.insert(r).unwrap(), mem.insert(r).unwrap(), "{ctx}");
                }
                4..=6 => {
                    let n = 1 + rng.below(12);
                    let b: Vec<Record> = (0..n)
                        .map(|_| pool[rng.below(60) as usize].clone())
                        .collect();
                    assert_eq!(
                        s.insert_batch(&b).unwrap(),
                        mem.insert_batch(&b).unwrap(),
                        "{ctx}"
                    );
                }
                7 => {
                    let id = pool[rng.below(60) as usize].id();
                    assert_eq!(s.remove(&id).unwrap(), mem.remove(&id).unwrap(), "{ctx}");
                }
                8 => {
                    let now = u64::from(T0) + rng.below(20 + 240 * 60);
                    assert_eq!(
                        s.sweep_expired(now).unwrap(),
                        mem.sweep_expired(now).unwrap(),
                        "{ctx}"
                    );
                }
                _ => {
                    drop(s);
                    s = reopen(dir.path(), limits.clone());
                }
            }
            assert_eq!(s.summaries().unwrap(), mem.summaries().unwrap(), "{ctx}");
        }
        drop(s);
        let s = reopen(dir.path(), limits);
        assert_eq!(s.summaries().unwrap(), mem.summaries().unwrap());
        for x in mem.summaries().unwrap() {
            assert_eq!(
                s.get(&x.id).unwrap(),
                mem.get(&x.id).unwrap(),
                "seed {seed}"
            );
        }
        c::assert_consistent(&s);
    }
}

/// Kept marks live in memory: after a restart the engine marks again what it answers for, so
/// a writer over its quota is still refused rather than evicting what it wrote.
#[test]
fn kept_marks_are_restored_by_the_engine_after_a_restart() {
    use haiqiao_mesh::{MeshConfig, MeshError, Node, Refusal};
    use haiqiao_proto::{Body, Keypair, Role};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let limits = StoreLimits {
        max_author_bytes: 1_500,
        ..StoreLimits::default()
    };
    let now = u64::from(T0) * 1000;
    let submit = |node: &mut Node<SledStore>, k: usize| {
        node.submit(
            now,
            Destination::Shore,
            600,
            Body::Text {
                text: format!("catch log {k}"),
                safety: false,
            },
        )
    };
    let key = || Keypair::from_seed(&[9; 32]);
    let mut written = Vec::new();
    {
        let store = reopen(&path, limits.clone());
        let mut node = Node::new(MeshConfig::default(), key(), Role::Vessel, store, now).unwrap();
        while let Ok(r) = submit(&mut node, written.len()) {
            written.push(r.id());
            assert!(written.len() < 1000, "never refused");
        }
    }
    let store = reopen(&path, limits.clone());
    assert!(
        written
            .iter()
            .all(|id| store.contains(id).unwrap() && !store.is_kept(id)),
        "marks are not persisted"
    );
    let mut node = Node::new(MeshConfig::default(), key(), Role::Vessel, store, now).unwrap();
    assert!(written.iter().all(|id| node.store().is_kept(id)));
    assert!(matches!(
        submit(&mut node, 9999),
        Err(MeshError::Refused(Refusal::AuthorQuota))
    ));
    assert!(written.iter().all(|id| node.holds(id)));
}
