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

fn raw(path: &Path) -> sled::Db {
    sled::Config::new().path(path).open().unwrap()
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
    let s = SledStore::open(dir.path(), limits).unwrap();
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
    let mut s = SledStore::open(dir.path(), c::roomy(1)).unwrap();
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
    match SledStore::open(dir.path(), StoreLimits::default()) {
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
        SledStore::open(dir.path(), StoreLimits::default()),
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
    }
    let corrupt = |what: &str, f: &dyn Fn(&sled::Db)| {
        let copy = tempfile::tempdir().unwrap();
        {
            let from = raw(dir.path());
            let to = raw(copy.path());
            to.import(from.export());
            f(&to);
            to.flush().unwrap();
        }
        (copy, what.to_owned())
    };
    let id = rs[3].id();
    let cases = [
        corrupt("record value truncated", &|db| {
            let v = db.get(record_key(&id)).unwrap().unwrap();
            db.insert(record_key(&id), &v[..40]).unwrap();
        }),
        corrupt("author key flipped", &|db| {
            let mut v = db.get(record_key(&id)).unwrap().unwrap().to_vec();
            v[0] ^= 1;
            db.insert(record_key(&id), v).unwrap();
        }),
        corrupt("record under another id", &|db| {
            let v = db.get(record_key(&rs[4].id())).unwrap().unwrap();
            db.insert(record_key(&id), v).unwrap();
        }),
        corrupt("empty value", &|db| {
            db.insert(record_key(&id), &[]).unwrap();
        }),
        corrupt("record lost without its counters", &|db| {
            db.remove(record_key(&id)).unwrap();
        }),
    ];
    for (dir, what) in &cases {
        match SledStore::open(dir.path(), c::roomy(8)) {
            Err(StoreError::Corrupt(e)) => println!("{what}: {e}"),
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    }
    let (dir, _) = corrupt("a stray key", &|db| {
        db.insert([P_RECORD, 1, 2], &[]).unwrap();
    });
    assert!(matches!(
        SledStore::open(dir.path(), c::roomy(8)),
        Err(StoreError::Corrupt(_))
    ));
    let (dir, _) = corrupt("counters", &|db| {
        db.insert(COUNTERS, &[1, 2, 3]).unwrap();
    });
    assert!(matches!(
        SledStore::open(dir.path(), c::roomy(8)),
        Err(StoreError::Corrupt(_))
    ));
    let (dir, _) = corrupt("counters disagree", &|db| {
        db.insert(
            COUNTERS,
            &encode_usage(Usage {
                records: 1,
                bytes: 1,
            }),
        )
        .unwrap();
    });
    assert!(matches!(
        SledStore::open(dir.path(), c::roomy(8)),
        Err(StoreError::Corrupt(_))
    ));
}
