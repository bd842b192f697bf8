//! The store conformance suite: every [`Store`] must pass all of it.
//!
//! Each check is a public function taking a factory that makes a fresh, empty store with the
//! limits the check needs (`FnMut(StoreLimits) -> S`; a check may make several stores). A store
//! crate runs the whole suite with one line:
//!
//! ```ignore
//! haiqiao_mesh::store_conformance_tests!(|limits| MemStore::new(limits));
//! ```
//!
//! which expands to one `#[test]` per check. [`model_random_ops`] drives a seeded random
//! sequence of operations against a naive model of the contract; it prints each seed, and
//! `SEED=<n>` replays one.

use std::collections::BTreeSet;

use haiqiao_proto::{
    AreaId, Body, CaseStatus, Destination, DistressNature, Envelope, Fix, GroupId, Keypair, Kind,
    NavStatus, Priority, PublicKey, Record, RecordId, Role, Timestamp,
};

use super::{InsertOutcome, Refusal, Store, StoreLimits, Summary, Usage};

/// The creation time of test records (seconds since the epoch, late 2026).
pub const T0: u32 = 1_795_000_000;

/// The length most sized test records have, in bytes.
pub const SIZE: usize = 220;

/// The test key numbered `n`.
pub fn key(n: u8) -> Keypair {
    Keypair::from_seed(&[n.wrapping_add(1); 32])
}

/// The public key of test key `n`.
pub fn author(n: u8) -> PublicKey {
    key(n).public()
}

/// Signs a record by test key `author`.
pub fn build(
    author: u8,
    seq: u64,
    created: u32,
    ttl_min: u32,
    dest: Destination,
    body: Body,
) -> Record {
    let k = key(author);
    let env = Envelope {
        author: k.public().hint(),
        seq,
        created: Timestamp(created),
        ttl_min,
        dest,
        body,
    };
    match Record::sign(&k, env) {
        Ok(r) => r,
        Err(e) => panic!("test record does not sign: {e}"),
    }
}

fn fix(n: u64) -> Fix {
    Fix {
        lat_e5: 3_010_000 + (n % 1000) as i32,
        lon_e5: 12_290_000,
        sog_dkn: Some(32),
        cog_ddeg: Some(450),
        heading_deg: Some(45),
        nav_status: NavStatus::FISHING,
        fix_age_s: Some(1),
    }
}

/// A position by `author`, created at `created`, living 4 hours.
pub fn position(author: u8, seq: u64, created: u32) -> Record {
    build(
        author,
        seq,
        created,
        240,
        Destination::Everyone,
        Body::Position(fix(seq)),
    )
}

/// A text of `len` characters to `dest`.
pub fn text(author: u8, seq: u64, created: u32, dest: Destination, len: usize) -> Record {
    let body = Body::Text {
        text: "t".repeat(len),
        safety: false,
    };
    build(author, seq, created, 240, dest, body)
}

/// A distress call.
pub fn distress(author: u8, seq: u64, created: u32) -> Record {
    sized(Priority::Distress, author, seq, created, SIZE)
}

/// A record of `class`, encoded in exactly `len` bytes (padding its text), to everyone,
/// living 4 hours. Routine and safety records are texts, case records case updates, control
/// records certificates (at least about 190 bytes), distress records distress calls.
pub fn sized(class: Priority, author: u8, seq: u64, created: u32, len: usize) -> Record {
    let make = |pad: usize| {
        let t = "p".repeat(24 + pad);
        let body = match class {
            Priority::Distress => Body::Distress {
                nature: DistressNature::Flooding,
                fix: Some(fix(seq)),
                persons: Some(9),
                text: t,
            },
            Priority::Safety | Priority::Routine => Body::Text {
                text: t,
                safety: class == Priority::Safety,
            },
            Priority::Control => Body::Certificate {
                subject: author_key_for_cert(author),
                name: "n".repeat(24 + pad.min(40)),
                registration: "r".repeat(24 + pad.saturating_sub(40)),
                mmsi: None,
                role: Role::Vessel,
                valid_from: Timestamp(T0),
                valid_until: Timestamp(T0 + 1000),
            },
            Priority::Case => Body::CaseUpdate {
                case: RecordId([7; 16]),
                status: CaseStatus::InMediation,
                text: t,
            },
        };
        build(author, seq, created, 240, Destination::Everyone, body)
    };
    let base = make(0).len();
    assert!(
        len >= base,
        "a {class:?} record is at least {base} bytes, not {len}"
    );
    let r = make(len - base);
    assert_eq!(
        r.len(),
        len,
        "cannot size a {class:?} record to {len} bytes"
    );
    assert_eq!(r.priority(), class);
    r
}

fn author_key_for_cert(n: u8) -> PublicKey {
    author(n.wrapping_add(100))
}

/// Limits with room for everything and a track of `track_len`.
pub fn roomy(track_len: usize) -> StoreLimits {
    StoreLimits {
        max_bytes: 1 << 30,
        max_author_bytes: 1 << 30,
        track_len,
    }
}

fn stored() -> InsertOutcome {
    InsertOutcome::Stored { evicted: vec![] }
}

fn evicted(rs: &[&Record]) -> InsertOutcome {
    InsertOutcome::Stored {
        evicted: rs.iter().map(|r| r.id()).collect(),
    }
}

fn ids(rs: &[Record]) -> Vec<RecordId> {
    rs.iter().map(Record::id).collect()
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("store error: {e}"),
    }
}

fn ins<S: Store>(s: &mut S, r: &Record) -> InsertOutcome {
    ok(s.insert(r))
}

fn ins_all<S: Store>(s: &mut S, rs: &[&Record]) {
    for r in rs {
        assert_eq!(ins(s, r), stored(), "inserting {:?}", r.id());
    }
}

fn held<S: Store>(s: &S) -> BTreeSet<RecordId> {
    ok(s.summaries()).into_iter().map(|x| x.id).collect()
}

/// Checks that usage, per-author usage, summaries and records agree.
pub fn assert_consistent<S: Store>(s: &S) {
    let sums = ok(s.summaries());
    let mut prev: Option<RecordId> = None;
    let mut total = Usage::default();
    let mut per_author = std::collections::BTreeMap::<PublicKey, Usage>::new();
    for x in &sums {
        assert!(prev.is_none_or(|p| p < x.id), "summaries not in id order");
        prev = Some(x.id);
        let r = ok(s.get(&x.id)).unwrap_or_else(|| panic!("summarised {:?} not held", x.id));
        assert_eq!(Summary::of(&r), *x);
        assert!(ok(s.contains(&x.id)));
        total.records += 1;
        total.bytes += u64::from(x.len);
        let u = per_author.entry(x.author).or_default();
        u.records += 1;
        u.bytes += u64::from(x.len);
    }
    assert_eq!(s.usage(), total, "usage disagrees with summaries");
    for (a, u) in &per_author {
        assert_eq!(s.author_usage(a), *u, "author usage of {a:?}");
        assert!(u.bytes <= s.limits().max_author_bytes, "author over quota");
    }
    assert!(total.bytes <= s.limits().max_bytes, "store over budget");
}

/// Inserting a record twice stores it once; duplicates in a batch too.
pub fn idempotent_insert<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    let r = position(1, 1, T0);
    let r2 = text(1, 2, T0, Destination::Shore, 30);
    assert_eq!(ins(&mut s, &r), stored());
    let u = s.usage();
    assert_eq!(
        u,
        Usage {
            records: 1,
            bytes: r.len() as u64
        }
    );
    assert_eq!(ins(&mut s, &r), InsertOutcome::Duplicate);
    assert!(InsertOutcome::Duplicate.is_held());
    assert_eq!(s.usage(), u);
    assert_eq!(
        ok(s.insert_batch(&[r.clone(), r.clone()])),
        vec![InsertOutcome::Duplicate; 2]
    );
    assert_eq!(
        ok(s.insert_batch(&[r2.clone(), r2.clone(), r.clone()])),
        vec![stored(), InsertOutcome::Duplicate, InsertOutcome::Duplicate]
    );
    assert_eq!(s.usage().records, 2);
    assert_eq!(ok(s.insert_batch(&[])), vec![]);
    assert_consistent(&s);
}

/// `get` and `contains` see exactly what is held.
pub fn get_and_contains<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    let a = position(1, 1, T0);
    let b = sized(Priority::Case, 2, 1, T0, SIZE);
    assert_eq!(ok(s.get(&a.id())), None);
    assert!(!ok(s.contains(&a.id())));
    ins_all(&mut s, &[&a, &b]);
    let got = ok(s.get(&a.id())).unwrap_or_else(|| panic!("{:?} not held", a.id()));
    assert_eq!(got, a);
    assert_eq!(got.author(), a.author());
    assert_eq!(got.bytes(), a.bytes());
    assert_eq!(ok(s.get(&b.id())), Some(b.clone()));
    assert!(ok(s.contains(&b.id())));
    assert!(!ok(s.contains(&RecordId([9; 16]))));
    assert_eq!(ok(s.get(&RecordId([9; 16]))), None);
    assert_consistent(&s);
}

/// `by_author_seq` finds an author's record by number, the lowest id for a reused number.
pub fn by_author_seq<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    let a1 = position(1, 1, T0);
    let a2 = text(1, 2, T0 + 1, Destination::Shore, 10);
    let b2 = text(2, 2, T0 + 1, Destination::Shore, 10);
    let reused = [
        text(3, 5, T0, Destination::Shore, 1),
        text(3, 5, T0 + 9, Destination::Shore, 2),
    ];
    ins_all(&mut s, &[&a1, &a2, &b2, &reused[1], &reused[0]]);
    assert_eq!(ok(s.by_author_seq(&author(1), 1)), Some(a1));
    assert_eq!(ok(s.by_author_seq(&author(1), 2)), Some(a2));
    assert_eq!(ok(s.by_author_seq(&author(2), 2)), Some(b2));
    assert_eq!(ok(s.by_author_seq(&author(2), 1)), None);
    assert_eq!(ok(s.by_author_seq(&author(9), 1)), None);
    let lowest = reused.iter().min_by_key(|r| r.id()).cloned();
    assert_eq!(ok(s.by_author_seq(&author(3), 5)), lowest);
    assert_eq!(ok(s.by_author_seq(&author(3), 4)), None);
    assert_eq!(ok(s.by_author_seq(&author(3), 6)), None);
}

/// `by_kind` returns one kind in a closed time window, oldest first, at most `limit`.
pub fn by_kind_window_and_limit<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(64));
    let mut positions = Vec::new();
    for i in 0..8u32 {
        // Two authors; author 2 writes at the same times with other numbers.
        positions.push(position(1, u64::from(i), T0 + i));
        positions.push(position(2, u64::from(100 - i), T0 + i));
    }
    let texts: Vec<Record> = (0..4u32)
        .map(|i| text(3, u64::from(i), T0 + i, Destination::Everyone, 5))
        .collect();
    // Insert out of order.
    for r in positions.iter().rev().chain(&texts) {
        assert_eq!(ins(&mut s, r), stored());
    }
    let mut want: Vec<Record> = positions
        .iter()
        .filter(|r| (T0 + 2..=T0 + 5).contains(&r.envelope().created.0))
        .cloned()
        .collect();
    want.sort_by_key(|r| (r.envelope().created, r.envelope().seq, r.id()));
    let got = ok(s.by_kind(Kind::Position, Timestamp(T0 + 2), Timestamp(T0 + 5), 100));
    assert_eq!(ids(&got), ids(&want));
    let got = ok(s.by_kind(Kind::Position, Timestamp(T0 + 2), Timestamp(T0 + 5), 3));
    assert_eq!(ids(&got), ids(&want[..3]));
    let got = ok(s.by_kind(Kind::Position, Timestamp(T0 + 2), Timestamp(T0 + 5), 0));
    assert!(got.is_empty());
    let got = ok(s.by_kind(Kind::Position, Timestamp(T0 + 5), Timestamp(T0 + 2), 100));
    assert!(got.is_empty(), "an empty window");
    let got = ok(s.by_kind(Kind::Position, Timestamp(0), Timestamp(u32::MAX), 100));
    assert_eq!(got.len(), 16);
    let got = ok(s.by_kind(Kind::Text, Timestamp(T0 + 3), Timestamp(T0 + 3), 100));
    assert_eq!(ids(&got), ids(&texts[3..4]));
    assert!(ok(s.by_kind(Kind::Distress, Timestamp(0), Timestamp(u32::MAX), 100)).is_empty());
}

/// `by_destination` returns exactly one destination's records, oldest first.
pub fn by_destination<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    let h1 = author(1).hint();
    let h2 = author(2).hint();
    let dests = [
        Destination::Everyone,
        Destination::Shore,
        Destination::Node(h1),
        Destination::Node(h2),
        Destination::pair(h1, h2),
        Destination::Mediators(AreaId(1)),
        Destination::Mediators(AreaId(2)),
        Destination::Group(GroupId(1)),
        Destination::Group(GroupId(256)),
    ];
    let mut all = Vec::new();
    for (i, d) in dests.iter().enumerate() {
        for j in 0..3u32 {
            let seq = (i * 10) as u64 + u64::from(j);
            all.push((*d, text(3, seq, T0 + 10 - j, *d, 4)));
        }
    }
    for (_, r) in all.iter().rev() {
        assert_eq!(ins(&mut s, r), stored());
    }
    for d in &dests {
        let mut want: Vec<Record> = all
            .iter()
            .filter(|(x, _)| x == d)
            .map(|(_, r)| r.clone())
            .collect();
        want.reverse(); // created T0+10, +9, +8: oldest is the last
        assert_eq!(ids(&ok(s.by_destination(d, 100))), ids(&want), "{d:?}");
        assert_eq!(ids(&ok(s.by_destination(d, 2))), ids(&want[..2]), "{d:?}");
    }
    assert!(ok(s.by_destination(&Destination::Node(author(7).hint()), 10)).is_empty());
}

/// Positions supersede: the newest per vessel and a bounded track.
pub fn positions_supersede<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(3));
    let p: Vec<Record> = (0..6u32)
        .map(|i| position(1, u64::from(i) + 10, T0 + 10 * i))
        .collect();
    let q = position(2, 1, T0 + 5);
    let other = text(1, 99, T0, Destination::Everyone, 3);
    ins_all(&mut s, &[&p[1], &p[2], &p[3], &q, &other]);
    assert_eq!(
        ids(&ok(s.track(&author(1)))),
        ids(&[p[3].clone(), p[2].clone(), p[1].clone()])
    );
    // Older than every one in the full track: dropped, nothing changes.
    let before = held(&s);
    assert_eq!(ins(&mut s, &p[0]), InsertOutcome::Superseded);
    assert!(!InsertOutcome::Superseded.is_held());
    assert_eq!(held(&s), before);
    // Newer: the oldest of the track goes.
    assert_eq!(ins(&mut s, &p[4]), evicted(&[&p[1]]));
    // Newer than the oldest but not the newest: stored, the oldest goes.
    let mid = position(1, 31, T0 + 25);
    assert_eq!(ins(&mut s, &mid), evicted(&[&p[2]]));
    assert_eq!(
        ids(&ok(s.track(&author(1)))),
        ids(&[p[4].clone(), p[3].clone(), mid.clone()])
    );
    // Same time: the higher sequence number is newer.
    let same_time_lower_seq = position(1, 1, T0 + 25);
    assert_eq!(ins(&mut s, &same_time_lower_seq), InsertOutcome::Superseded);
    let same_time_higher_seq = position(1, 32, T0 + 25);
    assert_eq!(ins(&mut s, &same_time_higher_seq), evicted(&[&mid]));
    assert!(
        ok(s.contains(&other.id())),
        "a text is not part of the track"
    );
    assert!(ok(s.contains(&q.id())), "another vessel's track is its own");
    let mut latest = vec![p[4].clone(), q.clone()];
    latest.sort_by_key(Record::author);
    assert_eq!(ids(&ok(s.latest_positions())), ids(&latest));
    assert_eq!(ids(&ok(s.track(&author(2)))), ids(std::slice::from_ref(&q)));
    assert!(ok(s.track(&author(5))).is_empty());
    // Removing the newest makes the next one the latest.
    assert!(ok(s.remove(&p[4].id())));
    assert_eq!(
        ids(&ok(s.track(&author(1)))),
        ids(&[p[3].clone(), same_time_higher_seq.clone()])
    );
    assert!(ok(s.latest_positions()).contains(&p[3]));
    // Room in the track again: an old one is kept.
    assert_eq!(ins(&mut s, &p[0]), stored());
    assert_consistent(&s);

    // A track of one keeps only the newest; a track of none keeps nothing.
    let mut one = make(roomy(1));
    assert_eq!(ins(&mut one, &p[2]), stored());
    assert_eq!(ins(&mut one, &p[1]), InsertOutcome::Superseded);
    assert_eq!(ins(&mut one, &p[3]), evicted(&[&p[2]]));
    assert_eq!(ids(&ok(one.latest_positions())), ids(&[p[3].clone()]));
    let mut none = make(roomy(0));
    assert_eq!(ins(&mut none, &p[3]), InsertOutcome::Superseded);
    assert!(ok(none.latest_positions()).is_empty());
    assert_consistent(&one);
}

/// `sweep_expired` removes what expired at or before `now`, soonest first, and nothing else.
pub fn expiry_sweep<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    let body = |n: usize| Body::Text {
        text: "e".repeat(n),
        safety: false,
    };
    // Expiries T0+60*ttl.
    let r10a = build(1, 1, T0, 10, Destination::Shore, body(1));
    let r10b = build(2, 1, T0, 10, Destination::Shore, body(2));
    let r5 = build(1, 2, T0, 5, Destination::Shore, body(3));
    let r20 = build(1, 3, T0, 20, Destination::Shore, body(4));
    let pos = position(3, 1, T0); // 240 min
    ins_all(&mut s, &[&r10a, &r20, &pos, &r10b, &r5]);
    assert!(ok(s.sweep_expired(u64::from(T0) + 5 * 60 - 1)).is_empty());
    assert_eq!(ok(s.sweep_expired(u64::from(T0) + 5 * 60)), vec![r5.id()]);
    let mut ten = vec![r10a.id(), r10b.id()];
    ten.sort();
    assert_eq!(ok(s.sweep_expired(u64::from(T0) + 19 * 60)), ten);
    assert_eq!(s.usage().records, 2);
    assert!(ok(s.sweep_expired(u64::from(T0) + 19 * 60)).is_empty());
    assert_eq!(ok(s.sweep_expired(u64::MAX)), vec![r20.id(), pos.id()]);
    assert!(ok(s.latest_positions()).is_empty());
    assert!(ok(s.by_destination(&Destination::Shore, 10)).is_empty());
    assert_eq!(s.usage(), Usage::default());
    assert_eq!(s.author_usage(&author(1)), Usage::default());
    // Swept records may come back (e.g. from a peer with a fast clock): nothing remembers them.
    assert_eq!(ins(&mut s, &r5), stored());
    assert_consistent(&s);
}

/// The byte budget evicts the lowest class first, oldest first within a class, and only for
/// a higher class or a newer record of the same class.
pub fn byte_budget_eviction_order<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let lim = |max_bytes: u64| StoreLimits {
        max_bytes,
        max_author_bytes: 1 << 30,
        track_len: 8,
    };
    let mut s = make(lim(5 * SIZE as u64));
    let r = |a: u8, t: u32| sized(Priority::Routine, a, 1, T0 + t, SIZE);
    let (r1, r2) = (r(1, 1), r(2, 2));
    let c1 = sized(Priority::Case, 3, 1, T0, SIZE);
    let s1 = sized(Priority::Safety, 4, 1, T0, SIZE);
    let d1 = distress(5, 1, T0);
    ins_all(&mut s, &[&r2, &r1, &c1, &s1, &d1]);
    assert_eq!(s.usage().bytes, 5 * SIZE as u64);
    // The same class and older: no room is made.
    let before = held(&s);
    assert_eq!(
        ins(&mut s, &r(6, 0)),
        InsertOutcome::Refused(Refusal::StoreFull)
    );
    assert_eq!(held(&s), before);
    // The same class and newer: the oldest of the lowest class goes.
    let r3 = r(7, 3);
    assert_eq!(ins(&mut s, &r3), evicted(&[&r1]));
    // A higher class: the lowest class goes first, even if a higher one is older.
    let c2 = sized(Priority::Case, 8, 1, T0 + 1, SIZE);
    assert_eq!(ins(&mut s, &c2), evicted(&[&r2]));
    let s2 = sized(Priority::Safety, 9, 1, T0 + 5, SIZE);
    assert_eq!(ins(&mut s, &s2), evicted(&[&r3]));
    let x = sized(Priority::Control, 10, 1, T0, SIZE);
    assert_eq!(ins(&mut s, &x), evicted(&[&c1]));
    assert_eq!(
        held(&s),
        [&c2, &s1, &s2, &d1, &x].iter().map(|r| r.id()).collect()
    );
    assert_consistent(&s);

    // Several victims, reported lowest class first, then oldest first.
    let (small, big) = (160, 300);
    let mut s = make(lim(3 * small as u64));
    let c0 = sized(Priority::Case, 1, 1, T0, small);
    let r5 = sized(Priority::Routine, 2, 1, T0 + 5, small);
    let r6 = sized(Priority::Routine, 3, 1, T0 + 6, small);
    ins_all(&mut s, &[&c0, &r6, &r5]);
    let s9 = sized(Priority::Safety, 4, 1, T0 + 9, big);
    assert_eq!(ins(&mut s, &s9), evicted(&[&r5, &r6]));
    let s10 = sized(Priority::Safety, 5, 1, T0 + 10, big);
    assert_eq!(ins(&mut s, &s10), evicted(&[&c0, &s9]));
    assert_eq!(s.usage().bytes, big as u64);
    assert_consistent(&s);

    // Too large for the store or the author quota: refused outright.
    let mut s = make(lim(SIZE as u64 - 1));
    assert_eq!(ins(&mut s, &d1), InsertOutcome::Refused(Refusal::TooLarge));
    let mut s = make(StoreLimits {
        max_bytes: 1 << 20,
        max_author_bytes: SIZE as u64 - 1,
        track_len: 8,
    });
    assert_eq!(ins(&mut s, &d1), InsertOutcome::Refused(Refusal::TooLarge));
    assert_eq!(s.usage(), Usage::default());
}

/// Each author has a quota, enforced with the same eviction rules among its own records.
pub fn author_quota<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(StoreLimits {
        max_bytes: 1 << 30,
        max_author_bytes: 3 * SIZE as u64,
        track_len: 8,
    });
    let a = |class: Priority, seq: u64, t: u32| sized(class, 1, seq, T0 + t, SIZE);
    let b_old = sized(Priority::Routine, 2, 1, T0, SIZE);
    let (r1, r2, s1) = (
        a(Priority::Routine, 1, 1),
        a(Priority::Routine, 2, 2),
        a(Priority::Safety, 3, 1),
    );
    ins_all(&mut s, &[&b_old, &r1, &r2, &s1]);
    assert_eq!(
        s.author_usage(&author(1)),
        Usage {
            records: 3,
            bytes: 3 * SIZE as u64
        }
    );
    assert_eq!(
        ins(&mut s, &a(Priority::Routine, 4, 0)),
        InsertOutcome::Refused(Refusal::AuthorQuota)
    );
    let r3 = a(Priority::Routine, 5, 3);
    assert_eq!(
        ins(&mut s, &r3),
        evicted(&[&r1]),
        "only the author's own records make room"
    );
    let d1 = a(Priority::Distress, 6, 0);
    assert_eq!(ins(&mut s, &d1), evicted(&[&r2]));
    let d2 = a(Priority::Distress, 7, 5);
    assert_eq!(ins(&mut s, &d2), evicted(&[&r3]));
    let d3 = a(Priority::Distress, 8, 6);
    assert_eq!(ins(&mut s, &d3), evicted(&[&s1]));
    // Full of distress: nothing makes room, not even a newer distress.
    for r in [
        a(Priority::Distress, 9, 7),
        a(Priority::Safety, 10, 7),
        position(1, 11, T0 + 7),
    ] {
        assert_eq!(
            ins(&mut s, &r),
            InsertOutcome::Refused(Refusal::AuthorQuota)
        );
    }
    assert!(ok(s.contains(&b_old.id())));
    assert_eq!(
        ins(&mut s, &sized(Priority::Routine, 3, 1, T0, SIZE)),
        stored()
    );
    assert_eq!(
        s.author_usage(&author(1)),
        Usage {
            records: 3,
            bytes: 3 * SIZE as u64
        }
    );
    assert_consistent(&s);
}

/// A distress-class record is never evicted to make room, whatever comes.
pub fn distress_never_evicted<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(StoreLimits {
        max_bytes: 3 * SIZE as u64,
        max_author_bytes: 1 << 30,
        track_len: 8,
    });
    let d: Vec<Record> = (0..4u8)
        .map(|i| distress(i, 1, T0 + u32::from(i)))
        .collect();
    let r9 = sized(Priority::Routine, 9, 1, T0 + 9, SIZE);
    ins_all(&mut s, &[&d[0], &r9, &d[1]]);
    assert_eq!(ins(&mut s, &d[2]), evicted(&[&r9]));
    let before = held(&s);
    for r in [
        d[3].clone(),
        sized(Priority::Safety, 10, 1, T0 + 99, SIZE),
        sized(Priority::Control, 11, 1, T0 + 99, SIZE),
        sized(Priority::Case, 12, 1, T0 + 99, SIZE),
        sized(Priority::Routine, 13, 1, T0 + 99, SIZE),
        position(14, 1, T0 + 99),
    ] {
        assert_eq!(
            ins(&mut s, &r),
            InsertOutcome::Refused(Refusal::StoreFull),
            "{:?}",
            r.kind()
        );
    }
    let outcomes = ok(s.insert_batch(&[d[3].clone(), position(14, 1, T0 + 99)]));
    assert_eq!(
        outcomes,
        vec![InsertOutcome::Refused(Refusal::StoreFull); 2]
    );
    assert_eq!(held(&s), before);
    // Distress leaves by removal or expiry only.
    assert!(ok(s.remove(&d[0].id())));
    assert_eq!(ins(&mut s, &d[3]), stored());
    assert_consistent(&s);
}

/// A kept record (not yet delivered: the node wrote it or took custody of it) makes room
/// only for a higher class; records not kept go first; a record that finds only kept records
/// of its class is refused; distress still makes room.
pub fn kept_records_make_room_only_for_a_higher_class<S: Store>(
    mut make: impl FnMut(StoreLimits) -> S,
) {
    let mut s = make(StoreLimits {
        max_bytes: 4 * SIZE as u64,
        max_author_bytes: 1 << 30,
        track_len: 8,
    });
    let r = |a: u8, t: u32| sized(Priority::Routine, a, 1, T0 + t, SIZE);
    let c = |a: u8, t: u32| sized(Priority::Case, a, 1, T0 + t, SIZE);
    let (r1, r2, c1, r4) = (r(1, 1), r(2, 2), c(3, 0), r(4, 4));
    assert_eq!(
        ok(s.insert_batch_kept(
            &[r1.clone(), r2.clone(), c1.clone(), r4.clone()],
            &[true, false, true, true]
        )),
        vec![stored(); 4]
    );
    assert!(s.is_kept(&r1.id()) && !s.is_kept(&r2.id()) && s.is_kept(&c1.id()));
    // The same class and newer: the record not kept goes, though a kept one is older.
    let r5 = r(5, 5);
    assert_eq!(ins(&mut s, &r5), evicted(&[&r2]));
    assert!(!s.is_kept(&r5.id()), "a plain insert keeps nothing");
    // Only kept records of its class and higher are left to evict: refused.
    assert_eq!(ins(&mut s, &r5), InsertOutcome::Duplicate);
    let before = held(&s);
    let r6 = r(6, 6);
    assert_eq!(ins(&mut s, &r6), evicted(&[&r5]), "r5 is not kept: it goes");
    assert_eq!(
        ins(&mut s, &r(7, 7)),
        evicted(&[&r6]),
        "again the record not kept"
    );
    assert!(s.set_kept(&r(7, 7).id(), true));
    let full = held(&s);
    assert_ne!(full, before);
    assert_eq!(
        ins(&mut s, &r(8, 8)),
        InsertOutcome::Refused(Refusal::StoreFull),
        "only kept records of the same class or higher"
    );
    assert_eq!(held(&s), full, "a refused insert evicts nothing");
    // A higher class evicts a kept record of a lower class, the oldest first.
    let c2 = c(9, 9);
    assert_eq!(ins(&mut s, &c2), evicted(&[&r1]));
    // Unmarked, a record goes as before.
    assert!(s.set_kept(&r4.id(), false));
    assert_eq!(ins(&mut s, &r(10, 10)), evicted(&[&r4]));
    assert!(!s.set_kept(&r4.id(), true), "not held any more");
    // Distress makes room among kept records of lower classes.
    assert!(s.set_kept(&c2.id(), true));
    let d = distress(11, 1, T0 + 11);
    let out = ok(s.insert_batch_kept(std::slice::from_ref(&d), &[true]));
    assert!(
        matches!(&out[0], InsertOutcome::Stored { evicted } if evicted.len() == 1),
        "{out:?}"
    );
    assert!(s.is_kept(&d.id()));
    assert_consistent(&s);

    // The author quota: the same rules among the author's own records.
    let mut s = make(StoreLimits {
        max_bytes: 1 << 30,
        max_author_bytes: 2 * SIZE as u64,
        track_len: 8,
    });
    let a = |class: Priority, seq: u64, t: u32| sized(class, 1, seq, T0 + t, SIZE);
    let (a1, a2) = (a(Priority::Routine, 1, 1), a(Priority::Routine, 2, 2));
    assert_eq!(
        ok(s.insert_batch_kept(&[a1.clone(), a2.clone()], &[true, true])),
        vec![stored(); 2]
    );
    assert_eq!(
        ins(&mut s, &a(Priority::Routine, 3, 3)),
        InsertOutcome::Refused(Refusal::AuthorQuota),
        "a fast writer is refused, not silently evicting what it wrote"
    );
    let s1 = a(Priority::Safety, 4, 4);
    assert_eq!(ins(&mut s, &s1), evicted(&[&a1]));
    // In a batch, a record marked kept is not evicted by a later one of its class.
    let mut s = make(StoreLimits {
        max_bytes: SIZE as u64,
        max_author_bytes: 1 << 30,
        track_len: 8,
    });
    let (b1, b2) = (r(1, 1), r(2, 2));
    assert_eq!(
        ok(s.insert_batch_kept(&[b1.clone(), b2.clone()], &[true, true])),
        vec![stored(), InsertOutcome::Refused(Refusal::StoreFull)]
    );
    assert!(ok(s.remove(&b1.id())));
    assert_eq!(ins(&mut s, &b1), stored());
    assert!(!s.is_kept(&b1.id()), "a mark leaves with its record");
    assert_consistent(&s);
}

/// `remove` takes a record out of every answer, once.
pub fn remove<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    let p1 = position(1, 1, T0);
    let p2 = position(1, 2, T0 + 1);
    let t = text(2, 1, T0, Destination::Shore, 9);
    ins_all(&mut s, &[&p1, &p2, &t]);
    assert!(ok(s.remove(&p2.id())));
    assert!(!ok(s.remove(&p2.id())));
    assert!(!ok(s.remove(&RecordId([3; 16]))));
    assert_eq!(ok(s.get(&p2.id())), None);
    assert!(!ok(s.contains(&p2.id())));
    assert_eq!(ok(s.by_author_seq(&author(1), 2)), None);
    assert_eq!(
        ids(&ok(s.by_kind(
            Kind::Position,
            Timestamp(0),
            Timestamp(u32::MAX),
            9
        ))),
        vec![p1.id()]
    );
    assert_eq!(
        ids(&ok(s.by_destination(&Destination::Everyone, 9))),
        vec![p1.id()]
    );
    assert_eq!(ids(&ok(s.latest_positions())), vec![p1.id()]);
    assert_eq!(ids(&ok(s.track(&author(1)))), vec![p1.id()]);
    assert!(ok(s.remove(&t.id())));
    assert!(ok(s.by_destination(&Destination::Shore, 9)).is_empty());
    assert_eq!(s.author_usage(&author(2)), Usage::default());
    assert_eq!(ins(&mut s, &p2), stored(), "a removed record can come back");
    assert_consistent(&s);
}

/// A batch gives the same outcomes and the same state as inserting one by one.
pub fn insert_batch_equals_sequential<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let lim = StoreLimits {
        max_bytes: 8 * SIZE as u64,
        max_author_bytes: 4 * SIZE as u64,
        track_len: 2,
    };
    let mut rs = Vec::new();
    for i in 0..6u32 {
        rs.push(position(1, u64::from(i), T0 + 10 - i)); // later ones superseded
        rs.push(sized(
            Priority::ALL[i as usize % 5],
            (i % 3) as u8 + 2,
            u64::from(i),
            T0 + i,
            SIZE,
        ));
        rs.push(sized(
            Priority::Routine,
            2,
            50 + u64::from(i),
            T0 + 20 + i,
            SIZE,
        ));
    }
    rs.push(rs[3].clone());
    // Older than the routine records filling author 2's quota: refused.
    rs.push(sized(Priority::Routine, 2, 200, T0, SIZE));
    rs.push(position(1, 99, T0 + 99));
    rs.push(distress(5, 1, T0));
    rs.push(rs[1].clone());
    let mut one = make(lim.clone());
    let seq: Vec<InsertOutcome> = rs.iter().map(|r| ins(&mut one, r)).collect();
    let mut batch = make(lim);
    let got = ok(batch.insert_batch(&rs));
    assert_eq!(got, seq);
    assert!(
        got.iter()
            .any(|o| matches!(o, InsertOutcome::Stored { evicted } if !evicted.is_empty()))
    );
    assert!(got.contains(&InsertOutcome::Superseded));
    assert!(got.contains(&InsertOutcome::Duplicate));
    assert!(got.iter().any(|o| matches!(o, InsertOutcome::Refused(_))));
    assert_eq!(ok(batch.summaries()), ok(one.summaries()));
    assert_eq!(batch.usage(), one.usage());
    assert_eq!(ok(batch.latest_positions()), ok(one.latest_positions()));
    assert_consistent(&batch);
}

/// `summaries` describes every record held, in id order.
pub fn summaries<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(8));
    assert!(ok(s.summaries()).is_empty());
    let rs = [
        position(1, 1, T0),
        sized(Priority::Control, 2, 7, T0 + 3, SIZE),
        text(3, 2, T0 + 1, Destination::Group(GroupId(4)), 12),
        distress(4, 3, T0 + 2),
    ];
    for r in &rs {
        assert_eq!(ins(&mut s, r), stored());
    }
    let mut want: Vec<Summary> = rs.iter().map(Summary::of).collect();
    want.sort_by_key(|x| x.id);
    assert_eq!(ok(s.summaries()), want);
    let x = want[2];
    assert_eq!(
        x.len as usize,
        rs.iter().find(|r| r.id() == x.id).map_or(0, Record::len)
    );
    assert!(ok(s.remove(&x.id)));
    want.remove(2);
    assert_eq!(ok(s.summaries()), want);
    assert_consistent(&s);
}

/// Removing everything brings every count back to zero.
pub fn usage_back_to_zero<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let mut s = make(roomy(4));
    let mut rs = Vec::new();
    for i in 0..5u8 {
        rs.push(position(i % 2, u64::from(i), T0 + u32::from(i)));
        rs.push(sized(Priority::ALL[usize::from(i)], i, 100, T0, SIZE));
    }
    let out = ok(s.insert_batch(&rs));
    assert!(out.iter().all(|o| *o == stored()));
    let total: u64 = rs.iter().map(|r| r.len() as u64).sum();
    assert_eq!(
        s.usage(),
        Usage {
            records: 10,
            bytes: total
        }
    );
    assert_consistent(&s);
    for x in ok(s.summaries()) {
        assert!(ok(s.remove(&x.id)));
    }
    assert_eq!(s.usage(), Usage::default());
    for i in 0..5 {
        assert_eq!(s.author_usage(&author(i)), Usage::default());
    }
    assert!(ok(s.summaries()).is_empty());
    assert!(ok(s.latest_positions()).is_empty());
    assert!(ok(s.by_kind(Kind::Position, Timestamp(0), Timestamp(u32::MAX), 99)).is_empty());
    assert!(ok(s.by_destination(&Destination::Everyone, 99)).is_empty());
    assert!(ok(s.sweep_expired(u64::MAX)).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The model.

/// The suite's deterministic generator: haiqiao-proto's SplitMix64.
pub use haiqiao_proto::rng::SplitMix64 as SplitMix;

/// The contract restated as plainly as possible: a list of records, searched and sorted on
/// every question.
#[derive(Debug)]
struct Model {
    limits: StoreLimits,
    held: Vec<Record>,
}

type ModelAge = (Timestamp, u64, RecordId);

fn model_age(r: &Record) -> ModelAge {
    (r.envelope().created, r.envelope().seq, r.id())
}

fn model_evict_order(r: &Record) -> (std::cmp::Reverse<Priority>, ModelAge) {
    (std::cmp::Reverse(r.priority()), model_age(r))
}

impl Model {
    fn insert(&mut self, r: &Record) -> InsertOutcome {
        if self.held.iter().any(|h| h.id() == r.id()) {
            return InsertOutcome::Duplicate;
        }
        let len = r.len() as u64;
        if len > self.limits.max_bytes || len > self.limits.max_author_bytes {
            return InsertOutcome::Refused(Refusal::TooLarge);
        }
        let mut victims: Vec<Record> = Vec::new();
        if r.kind() == Kind::Position {
            let mut track: Vec<&Record> = self
                .held
                .iter()
                .filter(|h| h.kind() == Kind::Position && h.author() == r.author())
                .collect();
            track.sort_by_key(|h| model_age(h));
            if track.len() >= self.limits.track_len {
                if track.first().is_none_or(|o| model_age(r) < model_age(o)) {
                    return InsertOutcome::Superseded;
                }
                let n = track.len() + 1 - self.limits.track_len;
                victims.extend(track[..n].iter().map(|h| (*h).clone()));
            }
        }
        let may_evict = |h: &Record| {
            h.priority() != Priority::Distress
                && (h.priority() > r.priority()
                    || (h.priority() == r.priority() && model_age(h) < model_age(r)))
        };
        let bytes = |rs: &[&Record]| rs.iter().map(|h| h.len() as u64).sum::<u64>();
        for (mine_only, refusal) in [(true, Refusal::AuthorQuota), (false, Refusal::StoreFull)] {
            let max = if mine_only {
                self.limits.max_author_bytes
            } else {
                self.limits.max_bytes
            };
            let pool: Vec<&Record> = self
                .held
                .iter()
                .filter(|h| !mine_only || h.author() == r.author())
                .collect();
            let used = bytes(&pool)
                - victims
                    .iter()
                    .filter(|v| !mine_only || v.author() == r.author())
                    .map(|v| v.len() as u64)
                    .sum::<u64>();
            if used + len <= max {
                continue;
            }
            let mut cands: Vec<&Record> = pool
                .into_iter()
                .filter(|h| may_evict(h) && !victims.iter().any(|v| v.id() == h.id()))
                .collect();
            cands.sort_by_key(|h| model_evict_order(h));
            let mut need = (used + len - max) as i64;
            for c in cands {
                if need <= 0 {
                    break;
                }
                need -= c.len() as i64;
                victims.push(c.clone());
            }
            if need > 0 {
                return InsertOutcome::Refused(refusal);
            }
        }
        victims.sort_by_key(model_evict_order);
        self.held
            .retain(|h| !victims.iter().any(|v| v.id() == h.id()));
        self.held.push(r.clone());
        InsertOutcome::Stored {
            evicted: victims.iter().map(Record::id).collect(),
        }
    }

    fn remove(&mut self, id: &RecordId) -> bool {
        let n = self.held.len();
        self.held.retain(|h| h.id() != *id);
        n != self.held.len()
    }

    fn sweep(&mut self, now: u64) -> Vec<RecordId> {
        let mut due: Vec<&Record> = self.held.iter().filter(|h| h.expiry() <= now).collect();
        due.sort_by_key(|h| (h.expiry(), h.id()));
        let due: Vec<RecordId> = due.iter().map(|h| h.id()).collect();
        self.held.retain(|h| !due.contains(&h.id()));
        due
    }

    fn sorted(&self, f: impl Fn(&Record) -> bool) -> Vec<Record> {
        let mut v: Vec<Record> = self.held.iter().filter(|h| f(h)).cloned().collect();
        v.sort_by_key(model_age);
        v
    }

    fn track(&self, a: &PublicKey) -> Vec<Record> {
        let mut v = self.sorted(|h| h.kind() == Kind::Position && h.author() == *a);
        v.reverse();
        v
    }
}

fn model_record(rng: &mut SplitMix, n: u64) -> Record {
    let a = rng.below(3) as u8;
    let seq = rng.below(6);
    let created = T0 + rng.below(8) as u32;
    let ttl = 1 + rng.below(4) as u32;
    match rng.below(4) {
        0 | 1 => build(
            a,
            seq,
            created,
            ttl,
            Destination::Everyone,
            Body::Position(fix(n)),
        ),
        _ => {
            let class = Priority::ALL[rng.below(5) as usize];
            let len = if class == Priority::Control {
                190 + rng.below(40)
            } else {
                130 + rng.below(100)
            };
            let r = sized(class, a, seq, created, len as usize);
            // Re-sign with a short life so sweeps matter.
            build(a, seq, created, ttl, r.envelope().dest, r.body().clone())
        }
    }
}

/// How often each outcome came up in the random sequences (to show they test something).
#[derive(Debug, Default)]
struct Tally {
    stored: usize,
    evicting: usize,
    duplicate: usize,
    superseded: usize,
    store_full: usize,
    author_quota: usize,
    swept: usize,
}

impl Tally {
    fn outcome(&mut self, o: &InsertOutcome) {
        match o {
            InsertOutcome::Stored { evicted } if evicted.is_empty() => self.stored += 1,
            InsertOutcome::Stored { .. } => self.evicting += 1,
            InsertOutcome::Duplicate => self.duplicate += 1,
            InsertOutcome::Superseded => self.superseded += 1,
            InsertOutcome::Refused(Refusal::StoreFull) => self.store_full += 1,
            InsertOutcome::Refused(Refusal::AuthorQuota) => self.author_quota += 1,
            InsertOutcome::Refused(Refusal::TooLarge) => {}
        }
    }

    fn covers_the_contract(&self) -> bool {
        [
            self.stored,
            self.evicting,
            self.duplicate,
            self.superseded,
            self.store_full,
            self.author_quota,
            self.swept,
        ]
        .iter()
        .all(|n| *n > 0)
    }
}

/// How many random sequences [`model_random_ops`] runs (unless `SEED` names one).
pub const MODEL_CASES: u64 = 24;
/// Operations per random sequence.
pub const MODEL_OPS: usize = 40;

/// A seeded random sequence of inserts, batches, removals and sweeps gives the same outcomes
/// and answers as the model. Prints each seed; `SEED=<n>` replays one.
pub fn model_random_ops<S: Store>(mut make: impl FnMut(StoreLimits) -> S) {
    let replay = std::env::var("SEED").is_ok();
    let mut seen = Tally::default();
    let seeds: Vec<u64> = match std::env::var("SEED") {
        Ok(v) => vec![
            v.parse()
                .unwrap_or_else(|_| panic!("SEED={v} is not a u64")),
        ],
        Err(_) => (0..MODEL_CASES)
            .map(|i| SplitMix::new(0x4a1_c1a0 + i).next_u64())
            .collect(),
    };
    for seed in seeds {
        println!("model_random_ops: SEED={seed}");
        let mut rng = SplitMix::new(seed);
        let limits = StoreLimits {
            max_bytes: 400 + rng.below(2000),
            max_author_bytes: 250 + rng.below(1200),
            track_len: rng.below(4) as usize,
        };
        let pool: Vec<Record> = (0..30).map(|n| model_record(&mut rng, n)).collect();
        let mut s = make(limits.clone());
        let mut m = Model {
            limits,
            held: Vec::new(),
        };
        for step in 0..MODEL_OPS {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(20) {
                0..=9 => {
                    let r = &pool[rng.below(30) as usize];
                    let want = m.insert(r);
                    seen.outcome(&want);
                    assert_eq!(ins(&mut s, r), want, "{ctx}: insert");
                }
                10..=13 => {
                    let n = 1 + rng.below(5);
                    let batch: Vec<Record> = (0..n)
                        .map(|_| pool[rng.below(30) as usize].clone())
                        .collect();
                    let want: Vec<InsertOutcome> = batch.iter().map(|r| m.insert(r)).collect();
                    want.iter().for_each(|o| seen.outcome(o));
                    assert_eq!(ok(s.insert_batch(&batch)), want, "{ctx}: batch");
                }
                14..=17 => {
                    let id = pool[rng.below(30) as usize].id();
                    assert_eq!(ok(s.remove(&id)), m.remove(&id), "{ctx}: remove");
                }
                _ => {
                    let now = u64::from(T0) + rng.below(8 + 5 * 60);
                    let want = m.sweep(now);
                    seen.swept += want.len();
                    assert_eq!(ok(s.sweep_expired(now)), want, "{ctx}: sweep");
                }
            }
            let mut want: Vec<Summary> = m.held.iter().map(Summary::of).collect();
            want.sort_by_key(|x| x.id);
            assert_eq!(ok(s.summaries()), want, "{ctx}: summaries");
            for a in 0..3 {
                let a = author(a);
                assert_eq!(ok(s.track(&a)), m.track(&a), "{ctx}: track");
                let seq = rng.below(6);
                let want = m
                    .sorted(|h| h.author() == a && h.envelope().seq == seq)
                    .into_iter()
                    .min_by_key(Record::id);
                assert_eq!(ok(s.by_author_seq(&a, seq)), want, "{ctx}: by_author_seq");
            }
            let mut latest: Vec<Record> = (0..3)
                .filter_map(|a| m.track(&author(a)).first().cloned())
                .collect();
            latest.sort_by_key(Record::author);
            assert_eq!(ok(s.latest_positions()), latest, "{ctx}: latest positions");
            let kind = Kind::ALL[rng.below(11) as usize];
            let (from, to) = (T0 + rng.below(8) as u32, T0 + rng.below(8) as u32);
            let limit = rng.below(6) as usize;
            let mut want =
                m.sorted(|h| h.kind() == kind && (from..=to).contains(&h.envelope().created.0));
            want.truncate(limit);
            assert_eq!(
                ok(s.by_kind(kind, Timestamp(from), Timestamp(to), limit)),
                want,
                "{ctx}: by_kind"
            );
            let want = m.sorted(|h| h.envelope().dest == Destination::Everyone);
            assert_eq!(
                ok(s.by_destination(&Destination::Everyone, 99)),
                want,
                "{ctx}: by_destination"
            );
            assert_consistent(&s);
        }
    }
    println!("model_random_ops: {seen:?}");
    if !replay {
        assert!(
            seen.covers_the_contract(),
            "the generator misses a case: {seen:?}"
        );
    }
}

/// Generates one `#[test]` per conformance check, each calling the check with the factory
/// expression (`FnMut(StoreLimits) -> S`), evaluated afresh for each test.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@each $make;
            idempotent_insert,
            get_and_contains,
            by_author_seq,
            by_kind_window_and_limit,
            by_destination,
            positions_supersede,
            expiry_sweep,
            byte_budget_eviction_order,
            author_quota,
            distress_never_evicted,
            kept_records_make_room_only_for_a_higher_class,
            remove,
            insert_batch_equals_sequential,
            summaries,
            usage_back_to_zero,
            model_random_ops,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::store::conformance::$check($make);
            }
        )*
    };
}
