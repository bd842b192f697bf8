//! Engine behaviour, driven through the in-memory harness.

use haiqiao_proto::wire::Frame;
use haiqiao_proto::*;

use crate::events::{Input, Output};
use crate::harness::Mesh;
use crate::node::Node;
use crate::store::{MemStore, Store, StoreLimits};
use crate::test_support::{distress, text};
use crate::{MeshConfig, Offence};

const T0: u64 = 1_795_000_000_000;

fn fill(
    node_store: &mut MemStore,
    author: &Keypair,
    kinds: &[Kind],
    n: usize,
    seq0: u64,
) -> Vec<RecordId> {
    let partner = Keypair::from_seed(&[99; 32]).public().hint();
    (0..n)
        .map(|i| {
            let mut env = samples::envelope(
                kinds[i % kinds.len()],
                author.public().hint(),
                partner,
                seq0 + i as u64,
                T0 / 1000,
            );
            env.dest = Destination::Everyone;
            let r = Record::sign(author, env).unwrap();
            node_store.insert(&r).unwrap();
            r.id()
        })
        .collect()
}

fn node_over(store: MemStore, seed: u8, role: Role) -> Node<MemStore> {
    Node::new(
        MeshConfig::default(),
        Keypair::from_seed(&[seed; 32]),
        role,
        store,
        T0,
    )
    .unwrap()
}

/// Two nodes whose stores share `common` flood records (one per author) and where node 0
/// has `extra` more.
fn pair_with(common: usize, extra: usize) -> (Mesh, Vec<RecordId>) {
    let authors: Vec<Keypair> = (0..(common + extra))
        .map(|i| Keypair::from_seed(&[(i % 200) as u8 + 10; 32]))
        .collect();
    let mut a = MemStore::new(StoreLimits::default());
    let mut b = MemStore::new(StoreLimits::default());
    let mut extra_ids = Vec::new();
    for (i, k) in authors.iter().enumerate() {
        let ids = fill(&mut a, k, &[Kind::Text], 1, i as u64);
        if i < common {
            fill(&mut b, k, &[Kind::Text], 1, i as u64);
        } else {
            extra_ids.extend(ids);
        }
    }
    let mut m = Mesh::new(&[], MeshConfig::default(), T0);
    m.add(node_over(a, 1, Role::Vessel));
    m.add(node_over(b, 2, Role::Vessel));
    for k in &authors {
        m.nodes[0]
            .handle(T0, Input::Keys(vec![k.public()]))
            .unwrap();
        m.nodes[1]
            .handle(T0, Input::Keys(vec![k.public()]))
            .unwrap();
    }
    (m, extra_ids)
}

#[test]
fn equal_sets_cost_two_hellos_and_one_round_trip() {
    let (mut m, _) = pair_with(300, 0);
    m.connect(0, 1, None);
    let flights = m.run(10, 100);
    assert!(m.frame_bytes <= 64, "in sync cost {} bytes", m.frame_bytes);
    assert_eq!(flights, 1, "one flight each way at once: one round trip");
    assert!(m.nodes[0].is_idle_with(&m.key(1)));
}

#[test]
fn missing_records_cross_with_small_overhead() {
    for d in [1usize, 10, 100] {
        let (mut m, extra) = pair_with(300, d);
        m.connect(0, 1, None);
        m.run(10, 1000);
        for id in &extra {
            assert!(m.nodes[1].holds(id), "d={d}: record missing after sync");
        }
        let s0 = m.nodes[0].stats();
        let s1 = m.nodes[1].stats();
        let overhead = s0.bytes_out + s1.bytes_out - s0.record_bytes_out - s1.record_bytes_out;
        assert!(
            overhead as usize <= 24 * d + 64,
            "d={d}: overhead {overhead}"
        );
    }
}

#[test]
fn distress_crosses_a_chain_of_five_one_contact_at_a_time() {
    let mut m = Mesh::new(&[Role::Vessel; 5], MeshConfig::default(), T0);
    let body = Body::Distress {
        nature: DistressNature::Flooding,
        fix: Some(Fix::from_degrees(30.1, 122.9)),
        persons: Some(8),
        text: "flooding".into(),
    };
    let r = m.nodes[0]
        .submit(T0, Destination::Everyone, 600, body)
        .unwrap();
    m.drain(0, None);
    for i in 0..4 {
        m.connect(i, i + 1, Some(1000));
        m.run(100, 10_000);
        m.disconnect(i, i + 1);
    }
    assert!(
        m.delivered[4].iter().any(|d| d.id() == r.id()),
        "distress reached the far end"
    );
}

#[test]
fn both_sides_of_a_partition_converge_after_it_heals() {
    let mut m = Mesh::new(&[Role::Vessel; 4], MeshConfig::default(), T0);
    m.connect(0, 1, None);
    m.connect(2, 3, None);
    let mut ids = Vec::new();
    for (i, n) in [(0usize, 5u64), (3, 7)] {
        for s in 0..n {
            let r = m.nodes[i]
                .submit(
                    T0 + s,
                    Destination::Everyone,
                    600,
                    Body::Text {
                        text: format!("{i}/{s}"),
                        safety: false,
                    },
                )
                .unwrap();
            ids.push(r.id());
            m.drain(i, None);
        }
    }
    m.run(10, 1000);
    assert!(!m.nodes[0].holds(&ids[7]), "partitioned");
    m.connect(1, 2, None);
    m.run(10, 1000);
    for n in 0..4 {
        for id in &ids {
            assert!(
                m.nodes[n].holds(id),
                "node {n} lacks a record after healing"
            );
        }
    }
}

#[test]
fn a_shore_receipt_frees_the_copies_at_sea() {
    let mut m = Mesh::new(
        &[Role::Vessel, Role::Vessel, Role::Shore],
        MeshConfig::default(),
        T0,
    );
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Shore,
            600,
            Body::Text {
                text: "report".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&r.id()), "relay took a copy");
    m.disconnect(0, 1);
    m.connect(1, 2, None);
    m.run(10, 1000);
    // The shore receipts within its receipt delay.
    let t = m.now_ms + MeshConfig::default().receipt_delay_ms + 100;
    m.run_until(t, 100);
    m.run(10, 1000);
    assert!(
        m.delivered[2].iter().any(|d| d.id() == r.id()),
        "shore received it"
    );
    assert!(
        !m.nodes[1].holds(&r.id()),
        "the receipt freed the relay's copy"
    );
    m.disconnect(1, 2);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(
        !m.nodes[0].holds(&r.id()),
        "the receipt travelled back and freed the author's copy"
    );
    assert!(m.nodes[0].stats().freed_by_receipt >= 1);
}

fn report(m: &mut Mesh, author: usize) -> RecordId {
    let r = m.nodes[author]
        .submit(
            m.now_ms,
            Destination::Shore,
            600,
            Body::Text {
                text: "report".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(author, None);
    r.id()
}

/// Lets a shore station write its receipts (they wait `receipt_delay_ms`).
fn receipt_delay(m: &mut Mesh) {
    let t = m.now_ms + MeshConfig::default().receipt_delay_ms + 100;
    m.run_until(t, 100);
    m.run(10, 1000);
}

fn receipts_held(n: &Node<MemStore>) -> usize {
    n.store()
        .by_kind(Kind::Receipt, Timestamp(0), Timestamp(u32::MAX), 1000)
        .unwrap()
        .len()
}

#[test]
fn a_receipt_follows_the_copies_and_never_reaches_bystanders() {
    // 0 writes a report, 1 relays it to shore 2; 3 is linked to shore throughout, 4 meets
    // the author once its copy is freed.
    let roles = [
        Role::Vessel,
        Role::Vessel,
        Role::Shore,
        Role::Vessel,
        Role::Vessel,
    ];
    let mut m = Mesh::new(&roles, MeshConfig::default(), T0);
    m.connect(2, 3, None);
    m.run(10, 1000);
    let id = report(&mut m, 0);
    m.connect(0, 1, None);
    m.run(10, 1000);
    m.disconnect(0, 1);
    assert!(m.nodes[1].holds(&id), "relay took a copy");
    m.connect(1, 2, None);
    m.run(10, 1000);
    receipt_delay(&mut m);
    assert_eq!(receipts_held(&m.nodes[2]), 1, "shore wrote a receipt");
    assert!(!m.nodes[1].holds(&id), "the receipt freed the relay's copy");
    // The relay owes it to the author it took its copy from.
    m.disconnect(1, 2);
    m.connect(0, 1, None);
    m.run(10, 1000);
    receipt_delay(&mut m);
    assert!(
        !m.nodes[0].holds(&id),
        "the receipt freed the author's copy"
    );
    // The bystanders never held a copy and never see the receipt (it was flooded before).
    m.connect(0, 4, None);
    m.connect(1, 3, None);
    m.run(10, 1000);
    for b in [3, 4] {
        assert_eq!(
            receipts_held(&m.nodes[b]),
            0,
            "bystander {b} got the receipt"
        );
    }
}

#[test]
fn an_offer_of_a_receipted_record_is_answered_with_the_receipt() {
    // 0 sprays a copy to 2, then delivers its own to shore 1; later 2 meets the shore.
    let roles = [Role::Vessel, Role::Shore, Role::Vessel];
    let mut m = Mesh::new(&roles, MeshConfig::default(), T0);
    let id = report(&mut m, 0);
    m.connect(0, 2, None);
    m.run(10, 1000);
    m.disconnect(0, 2);
    assert!(m.nodes[2].holds(&id));
    m.connect(0, 1, None);
    m.run(10, 1000);
    receipt_delay(&mut m);
    m.disconnect(0, 1);
    assert!(!m.nodes[0].holds(&id));
    let sent_before = m.nodes[2].stats().records_out;
    m.connect(2, 1, None);
    m.run(10, 1000);
    assert!(
        !m.nodes[2].holds(&id),
        "the shore answered the offer with its receipt"
    );
    assert_eq!(
        m.nodes[2].stats().records_out,
        sent_before,
        "the record did not cross again"
    );
    assert!(m.nodes[2].stats().freed_by_receipt >= 1);
}

#[test]
fn expired_records_leave_the_store_and_the_index_at_the_next_sweep() {
    let mut n = node_over(MemStore::new(StoreLimits::default()), 1, Role::Vessel);
    let short = n
        .submit(
            T0,
            Destination::Everyone,
            1,
            Body::Text {
                text: "1 min".into(),
                safety: false,
            },
        )
        .unwrap();
    let long = n
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Text {
                text: "10 h".into(),
                safety: false,
            },
        )
        .unwrap();
    n.handle(T0 + 30_000, Input::Tick).unwrap();
    assert!(n.holds(&short.id()), "not yet expired");
    let sweep = MeshConfig::default().sweep_interval_ms;
    n.handle(T0 + 61_000 + sweep, Input::Tick).unwrap();
    assert!(!n.holds(&short.id()), "swept from the index");
    assert!(
        !n.store().contains(&short.id()).unwrap(),
        "swept from the store"
    );
    assert!(n.holds(&long.id()));
    assert_eq!(n.held(), 1);
}

#[test]
fn a_receipt_that_does_not_count_answers_no_offer() {
    // 2 writes a report and sprays copies to 0 and 3; 0 delivers it to shore 1 and gets the
    // receipt; then 3 offers its copy to 0. Only a receipt that counts at 0 answers it.
    for enforced in [false, true] {
        let roles = [Role::Vessel, Role::Shore, Role::Vessel, Role::Vessel];
        let mut m = Mesh::new(&roles, MeshConfig::default(), T0);
        m.nodes[0]
            .handle(
                T0,
                Input::Trust(crate::TrustPolicy {
                    enforced,
                    ..Default::default()
                }),
            )
            .unwrap();
        let id = report(&mut m, 2);
        for peer in [0, 3] {
            m.connect(2, peer, None);
            m.run(10, 1000);
            m.disconnect(2, peer);
        }
        assert!(m.nodes[0].holds(&id) && m.nodes[3].holds(&id));
        m.connect(0, 1, None);
        m.run(10, 1000);
        receipt_delay(&mut m);
        m.disconnect(0, 1);
        assert_eq!(receipts_held(&m.nodes[0]), 1);
        assert_eq!(m.nodes[0].holds(&id), enforced, "freed only if it counts");
        m.connect(3, 0, None);
        m.run(10, 1000);
        assert_eq!(
            receipts_held(&m.nodes[3]),
            usize::from(!enforced),
            "enforced={enforced}: only a counted receipt answers the offer"
        );
    }
}

#[test]
fn malformed_frames_and_forged_records_are_refused_and_penalised() {
    let mut m = Mesh::new(&[Role::Vessel; 2], MeshConfig::default(), T0);
    let mine = m.nodes[1]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Text {
                text: "keep me".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(1, None);
    m.connect(0, 1, None);
    m.run(10, 100);
    let k0 = m.key(0);
    // A frame that is not CBOR.
    m.input(
        1,
        Input::Frame {
            peer: k0,
            bytes: vec![0xff, 0x00, 0x13],
        },
    );
    // A record signed by node 0's key but altered after signing.
    let good = Record::sign(
        &Keypair::from_seed(&[1; 32]),
        samples::envelope(Kind::Text, k0.hint(), k0.hint(), 77, T0 / 1000),
    )
    .unwrap();
    let mut forged = good.bytes().to_vec();
    let n = forged.len();
    forged[n - 70] ^= 0x20;
    let frame = Frame::Records {
        seq: 0,
        items: vec![haiqiao_proto::wire::Carried {
            bytes: forged,
            copies: 0,
        }],
    };
    m.input(
        1,
        Input::Frame {
            peer: k0,
            bytes: frame.encode(),
        },
    );
    let offences: Vec<Offence> = m.events[1]
        .iter()
        .filter_map(|e| match e {
            Output::Penalty { offence, .. } => Some(*offence),
            _ => None,
        })
        .collect();
    assert!(offences.contains(&Offence::MalformedFrame), "{offences:?}");
    assert!(
        offences.contains(&Offence::BadSignature) || offences.contains(&Offence::MalformedRecord),
        "{offences:?}"
    );
    assert!(m.nodes[1].stats().malformed + m.nodes[1].stats().bad_signatures >= 2);
    // Keep going until the peer is banned: quarantined, not disconnected (see
    // `a_banned_peer_is_quarantined_and_distress_still_flows_both_ways`).
    for _ in 0..5 {
        m.input(
            1,
            Input::Frame {
                peer: k0,
                bytes: vec![0xff],
            },
        );
    }
    assert!(
        m.nodes[1].quarantined_until(&k0, m.now_ms).is_some(),
        "peer banned"
    );
    assert!(m.nodes[1].holds(&mine.id()), "nothing stored was lost");
}

#[test]
fn on_a_slow_link_distress_goes_before_positions() {
    let mut m = Mesh::new(&[Role::Vessel; 2], MeshConfig::default(), T0);
    for s in 0..40 {
        m.nodes[0]
            .submit(
                T0,
                Destination::Everyone,
                600,
                Body::Position(samples::fix(s)),
            )
            .unwrap();
    }
    // Positions from many vessels: learn them through a third node's records instead.
    let others: Vec<Keypair> = (0..60u8)
        .map(|i| Keypair::from_seed(&[i + 100; 32]))
        .collect();
    let mut store = MemStore::new(StoreLimits::default());
    for (i, k) in others.iter().enumerate() {
        let env = samples::envelope(
            Kind::Position,
            k.public().hint(),
            k.public().hint(),
            i as u64,
            T0 / 1000,
        );
        store.insert(&Record::sign(k, env).unwrap()).unwrap();
    }
    let d = Record::sign(
        &others[0],
        Envelope {
            author: others[0].public().hint(),
            seq: 1000,
            created: Timestamp((T0 / 1000) as u32),
            ttl_min: 600,
            dest: Destination::Everyone,
            body: Body::Distress {
                nature: DistressNature::Sinking,
                fix: None,
                persons: Some(5),
                text: "sinking".into(),
            },
        },
    )
    .unwrap();
    store.insert(&d).unwrap();
    let mut mm = Mesh::new(&[], MeshConfig::default(), T0);
    mm.add(node_over(store, 7, Role::Vessel));
    mm.add(node_over(
        MemStore::new(StoreLimits::default()),
        8,
        Role::Vessel,
    ));
    for k in &others {
        mm.nodes[1]
            .handle(T0, Input::Keys(vec![k.public()]))
            .unwrap();
    }
    mm.connect(0, 1, Some(1000));
    // Run until the distress arrives; by then few positions may have crossed.
    let mut positions_first = 0;
    for _ in 0..10_000 {
        mm.flight(100);
        if mm.nodes[1].holds(&d.id()) {
            break;
        }
    }
    assert!(mm.nodes[1].holds(&d.id()));
    positions_first += mm.delivered[1]
        .iter()
        .filter(|r| r.kind() == Kind::Position)
        .count();
    assert!(
        positions_first < 10,
        "{positions_first} positions crossed before the distress"
    );
    let _ = m;
}

#[test]
fn copies_handed_over_come_back_if_the_contact_drops_before_custody() {
    let mut m = Mesh::new(&[Role::Vessel; 2], MeshConfig::default(), T0);
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Shore,
            600,
            Body::Text {
                text: "to shore".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    // Run until the records frame is in transit, then cut.
    for _ in 0..10 {
        m.flight(10);
        if m.nodes[0].stats().records_out > 0 {
            break;
        }
    }
    assert!(m.nodes[0].stats().records_out > 0);
    m.disconnect(0, 1);
    assert!(!m.nodes[1].holds(&r.id()));
    // Reconnect: the copies are back, so the record is handed over again.
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&r.id()));
}

#[test]
fn a_record_written_between_contact_up_and_hello_still_crosses() {
    let mut m = Mesh::new(&[Role::Vessel; 2], MeshConfig::default(), T0);
    // Only the sync protocol can carry it.
    m.gossip = false;
    m.connect(0, 1, None);
    // The hellos are in transit when the record is written.
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Text {
                text: "just now".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&r.id()), "the record crossed by offer");
}

#[test]
fn a_vessel_linked_to_shore_never_passes_for_a_shore_station() {
    let mut m = Mesh::new(&[Role::Vessel, Role::Shore], MeshConfig::default(), T0);
    assert_eq!(m.nodes[0].shore_age_min(T0), 65_535, "never at shore");
    m.connect(0, 1, None);
    m.run(10, 100);
    assert_eq!(m.nodes[0].shore_age_min(m.now_ms), 1);
    assert_eq!(m.nodes[1].shore_age_min(m.now_ms), 0);
    m.disconnect(0, 1);
    assert_eq!(
        m.nodes[0].shore_age_min(m.now_ms),
        1,
        "just left shore: still not 0"
    );
}

#[test]
fn shore_stations_do_not_pass_shore_bound_records_to_each_other() {
    let mut m = Mesh::new(&[Role::Shore, Role::Shore], MeshConfig::default(), T0);
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Shore,
            600,
            Body::Text {
                text: "at shore".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(
        !m.nodes[1].holds(&r.id()),
        "the record has reached shore already"
    );
}

/// A vessel (0), a relay (1) and a shore station (2); a shore-bound report from 0 reaches
/// shore through 1 and shore's receipt comes back to 1. Returns the mesh and the report's id.
fn report_via_relay(trust: impl Fn(&Mesh) -> crate::TrustPolicy) -> (Mesh, RecordId) {
    let mut m = Mesh::new(
        &[Role::Vessel, Role::Vessel, Role::Shore],
        MeshConfig::default(),
        T0,
    );
    let policy = trust(&m);
    for n in &mut m.nodes {
        n.handle(T0, Input::Trust(policy.clone())).unwrap();
    }
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Shore,
            600,
            Body::Text {
                text: "catch log".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    m.disconnect(0, 1);
    m.connect(1, 2, None);
    m.run(10, 1000);
    let t = m.now_ms + MeshConfig::default().receipt_delay_ms + 100;
    m.run_until(t, 100);
    m.run(10, 1000);
    assert!(
        m.delivered[2].iter().any(|d| d.id() == r.id()),
        "shore received the report"
    );
    (m, r.id())
}

fn enforced() -> crate::TrustPolicy {
    crate::TrustPolicy {
        enforced: true,
        ..Default::default()
    }
}

#[test]
fn an_uncertified_shore_receipt_frees_nothing_until_its_certificate_counts() {
    let (mut m, id) = report_via_relay(|_| enforced());
    assert!(
        m.nodes[1].holds(&id),
        "a receipt from an uncertified shore station must not free the relay's copy"
    );
    assert!(m.nodes[1].stats().receipts_not_counted >= 1);
    assert_eq!(m.nodes[1].stats().freed_by_receipt, 0);
    // The certificate arrives later: the receipt already held now counts.
    let mut policy = enforced();
    policy.shore.insert(m.key(2));
    policy.trusted.insert(m.key(2).hint());
    m.nodes[0].handle(T0, Input::Trust(policy.clone())).unwrap();
    m.nodes[1].handle(T0, Input::Trust(policy)).unwrap();
    m.drain(1, None);
    assert!(!m.nodes[1].holds(&id), "the receipt counts once certified");
    assert_eq!(m.nodes[1].stats().freed_by_receipt, 1);
    // ... and it now follows the copies: the author, who handed the relay its copy, gets it
    // at their next contact and frees its own.
    assert!(m.nodes[0].holds(&id));
    m.disconnect(1, 2);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(
        !m.nodes[0].holds(&id),
        "the newly counted receipt reached the other copy"
    );
}

#[test]
fn a_revocation_purges_the_keys_records_but_its_distress() {
    let mut m = Mesh::new(&[Role::Vessel; 2], MeshConfig::default(), T0);
    let text = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Text {
                text: "before the theft".into(),
                safety: false,
            },
        )
        .unwrap();
    let sos = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Distress {
                nature: DistressNature::Fire,
                fix: None,
                persons: None,
                text: String::new(),
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&text.id()) && m.nodes[1].holds(&sos.id()));
    let mut p = enforced();
    p.revoked.insert(m.key(0));
    m.nodes[1].handle(T0, Input::Trust(p)).unwrap();
    assert!(!m.nodes[1].holds(&text.id()), "purged at the revocation");
    assert!(m.nodes[1].holds(&sos.id()), "a distress stays");
}

#[test]
fn a_peer_that_stops_reading_is_disconnected_after_the_stall_time() {
    let cfg = MeshConfig {
        send_window_frames: 2,
        send_stall_ms: 30_000,
        ..MeshConfig::default()
    };
    let peer = Keypair::from_seed(&[9; 32]).public();
    let mut a = Node::new(
        cfg,
        Keypair::from_seed(&[1; 32]),
        Role::Vessel,
        MemStore::new(StoreLimits::default()),
        T0,
    )
    .unwrap();
    a.handle(T0, Input::Keys(vec![peer])).unwrap();
    a.handle(
        T0,
        Input::ContactUp {
            peer,
            rate_bps: None,
        },
    )
    .unwrap();
    for k in 0..50 {
        a.submit(
            T0,
            Destination::Everyone,
            600,
            Body::Text {
                text: format!("note {k}"),
                safety: false,
            },
        )
        .unwrap();
    }
    let sends = |a: &mut Node<MemStore>| {
        let mut n = 0;
        let mut disconnect = false;
        while let Some(o) = a.poll_output() {
            match o {
                Output::Send { .. } => n += 1,
                Output::Disconnect { .. } => disconnect = true,
                _ => {}
            }
        }
        (n, disconnect)
    };
    let (n, d) = sends(&mut a);
    assert!(n <= 2 && !d, "{n} frames sent, disconnect {d}");
    // Nothing is reported written; the engine asks to be woken at the stall time.
    let wake = a.poll_timeout().unwrap();
    assert!(
        wake <= T0 + 30_000,
        "woken at the stall time, not later: {wake}"
    );
    a.handle(T0 + 29_000, Input::Tick).unwrap();
    assert_eq!(sends(&mut a), (0, false), "not yet");
    a.handle(T0 + 30_000, Input::Tick).unwrap();
    assert_eq!(sends(&mut a), (0, true), "disconnected at the stall time");
}

#[test]
fn a_certified_shore_receipt_frees_copies_and_a_revoked_one_does_not() {
    let (m, id) = report_via_relay(|m| {
        let mut p = enforced();
        p.shore.insert(m.key(2));
        p
    });
    assert!(!m.nodes[1].holds(&id), "certified receipt freed the copy");
    let (m, id) = report_via_relay(|m| {
        let mut p = enforced();
        p.shore.insert(m.key(2));
        p.revoked.insert(m.key(2));
        p
    });
    assert!(
        m.nodes[1].holds(&id),
        "a revoked shore station frees nothing"
    );
}

#[test]
fn records_of_a_revoked_key_are_refused_but_its_distress_is_carried() {
    let mut m = Mesh::new(&[Role::Vessel; 2], MeshConfig::default(), T0);
    let mut p = enforced();
    p.revoked.insert(m.key(0));
    m.nodes[1].handle(T0, Input::Trust(p)).unwrap();
    let text = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Text {
                text: "cheap fish".into(),
                safety: false,
            },
        )
        .unwrap();
    let sos = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::Distress {
                nature: DistressNature::Flooding,
                fix: None,
                persons: Some(6),
                text: String::new(),
            },
        )
        .unwrap();
    let update = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            600,
            Body::DistressUpdate {
                distress: sos.id(),
                status: DistressStatus::Resolved,
                text: String::new(),
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(
        m.nodes[1].holds(&sos.id()),
        "distress carried whatever its author"
    );
    assert!(
        !m.nodes[1].holds(&update.id()),
        "only distress calls, not updates, pass for a revoked key"
    );
    assert!(
        !m.nodes[1].holds(&text.id()),
        "a revoked key's text refused"
    );
    assert!(m.nodes[1].stats().refused_revoked >= 1);
    assert!(
        m.events[1]
            .iter()
            .any(|o| matches!(o, Output::RefusedRevoked { id, .. } if *id == text.id())),
        "the refusal is reported"
    );
}

#[test]
fn uncertified_authors_get_the_tighter_quota_but_distress_does_not() {
    let cfg = MeshConfig {
        uncertified_author_records_per_s: 1,
        uncertified_author_records_burst: 3,
        ..MeshConfig::default()
    };
    let mut m = Mesh::new(&[Role::Vessel; 3], cfg, T0);
    // Node 1 enforces certificates and knows node 2 is certified; node 0 is not.
    let mut p = enforced();
    p.trusted.insert(m.key(2).hint());
    m.nodes[1].handle(T0, Input::Trust(p)).unwrap();
    let texts = |m: &mut Mesh, i: usize| -> Vec<RecordId> {
        (0..10)
            .map(|k| {
                m.nodes[i]
                    .submit(
                        T0,
                        Destination::Everyone,
                        600,
                        Body::Text {
                            text: format!("note {k}"),
                            safety: false,
                        },
                    )
                    .unwrap()
                    .id()
            })
            .collect()
    };
    let from0 = texts(&mut m, 0);
    let updates: Vec<RecordId> = (0..10)
        .map(|k| {
            m.nodes[0]
                .submit(
                    T0,
                    Destination::Everyone,
                    600,
                    Body::DistressUpdate {
                        distress: RecordId([k; 16]),
                        status: DistressStatus::Acknowledged,
                        text: String::new(),
                    },
                )
                .unwrap()
                .id()
        })
        .collect();
    let from2 = texts(&mut m, 2);
    let sos: Vec<RecordId> = (0..5)
        .map(|_| {
            m.nodes[0]
                .submit(
                    T0,
                    Destination::Everyone,
                    600,
                    Body::Distress {
                        nature: DistressNature::Sinking,
                        fix: None,
                        persons: None,
                        text: String::new(),
                    },
                )
                .unwrap()
                .id()
        })
        .collect();
    m.drain(0, None);
    m.drain(2, None);
    m.connect(0, 1, None);
    m.connect(2, 1, None);
    m.run(10, 1000);
    let held = |m: &Mesh, ids: &[RecordId]| ids.iter().filter(|id| m.nodes[1].holds(id)).count();
    assert_eq!(
        held(&m, &from2),
        10,
        "a certified author has the full quota"
    );
    assert_eq!(
        held(&m, &sos),
        3,
        "an uncertified author's distress calls have a bucket of their own (burst 3)"
    );
    let n0 = held(&m, &from0) + held(&m, &updates);
    assert!(
        n0 <= 3,
        "texts and distress updates share the uncertified burst of 3, got {n0}"
    );
}

#[test]
fn a_record_signed_on_an_offline_key_is_imported_and_carried() {
    let mut m = Mesh::new(&[Role::Shore, Role::Vessel], MeshConfig::default(), T0);
    let bureau = Keypair::from_seed(&[77; 32]);
    let env = Envelope {
        author: bureau.public().hint(),
        seq: 1,
        created: Timestamp((T0 / 1000) as u32),
        ttl_min: 600,
        dest: Destination::Everyone,
        body: Body::Text {
            text: "notice to mariners".into(),
            safety: true,
        },
    };
    let r = Record::sign(&bureau, env).unwrap();
    let forged = {
        let mut b = r.bytes().to_vec();
        let n = b.len();
        b[n - 1] ^= 1;
        b
    };
    assert!(m.nodes[0].import(T0, bureau.public(), &forged).is_err());
    let got = m.nodes[0].import(T0, bureau.public(), r.bytes()).unwrap();
    assert_eq!(got.id(), r.id());
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&r.id()), "the imported record spread");
}

#[test]
fn with_a_send_window_no_more_frames_are_outstanding_than_the_transport_allows() {
    // Node 0 holds 400 flood records node 1 lacks, and may have 3 frames unwritten.
    let authors: Vec<Keypair> = (0..400)
        .map(|i| Keypair::from_seed(&[(i % 200) as u8 + 10; 32]))
        .collect();
    let mut store = MemStore::new(StoreLimits::default());
    for (i, k) in authors.iter().enumerate() {
        fill(&mut store, k, &[Kind::Text], 1, i as u64);
    }
    let window = 3;
    let cfg = MeshConfig {
        send_window_frames: window,
        ..MeshConfig::default()
    };
    let ka = Keypair::from_seed(&[1; 32]);
    let kb = Keypair::from_seed(&[2; 32]);
    let mut a = Node::new(cfg, ka.clone(), Role::Vessel, store, T0).unwrap();
    let mut b = node_over(MemStore::new(StoreLimits::default()), 2, Role::Vessel);
    for k in &authors {
        a.handle(T0, Input::Keys(vec![k.public()])).unwrap();
        b.handle(T0, Input::Keys(vec![k.public()])).unwrap();
    }
    a.handle(T0, Input::Keys(vec![kb.public()])).unwrap();
    b.handle(T0, Input::Keys(vec![ka.public()])).unwrap();
    let (pa, pb) = (ka.public(), kb.public());
    a.handle(
        T0,
        Input::ContactUp {
            peer: pb,
            rate_bps: None,
        },
    )
    .unwrap();
    b.handle(
        T0,
        Input::ContactUp {
            peer: pa,
            rate_bps: None,
        },
    )
    .unwrap();
    let mut now = T0;
    let mut max_outstanding = 0u32;
    let mut blocked_with_work = 0;
    for _ in 0..10_000 {
        now += 1;
        // A's frames: at most the window before the transport reports a write.
        let mut sent = Vec::new();
        while let Some(o) = a.poll_output() {
            if let Output::Send { frame, .. } = o {
                sent.push(frame);
            }
        }
        max_outstanding = max_outstanding.max(sent.len() as u32);
        if sent.len() as u32 == window {
            // The window is full: the engine asks for no timer on its account (a daemon
            // would otherwise spin), it waits for `Written`.
            blocked_with_work += 1;
            assert!(a.poll_timeout().is_none_or(|t| t > now), "no busy wake-up");
        }
        let mut b_sent = Vec::new();
        for f in &sent {
            b.handle(
                now,
                Input::Frame {
                    peer: pa,
                    bytes: f.clone(),
                },
            )
            .unwrap();
        }
        while let Some(o) = b.poll_output() {
            if let Output::Send { frame, .. } = o {
                b_sent.push(frame);
            }
        }
        if sent.is_empty() && b_sent.is_empty() {
            break;
        }
        for f in b_sent {
            a.handle(now, Input::Frame { peer: pb, bytes: f }).unwrap();
        }
        if !sent.is_empty() {
            a.handle(
                now,
                Input::Written {
                    peer: pb,
                    frames: sent.len() as u32,
                },
            )
            .unwrap();
        }
    }
    assert!(
        max_outstanding <= window,
        "{max_outstanding} frames outstanding"
    );
    assert!(
        blocked_with_work > 0,
        "the window was reached at least once"
    );
    assert_eq!(b.held(), 400, "everything crossed, three frames at a time");
}

/// A fishing vessel (0) holding the last copy of a report meets a vessel (1) that has not
/// been at shore for longer: it keeps the copy, unless 1's hello says it is steaming home.
fn last_copy_meets_an_older_boat(eta_min: Option<u32>) -> bool {
    let cfg = MeshConfig {
        shore_copies: 1,
        ..MeshConfig::default()
    };
    let mut m = Mesh::new(&[Role::Vessel, Role::Vessel], cfg, T0);
    m.nodes[0]
        .handle(
            T0,
            Input::Restored {
                next_seq: None,
                last_shore_ms: Some(T0 - 3 * 3_600_000),
            },
        )
        .unwrap();
    m.nodes[1]
        .handle(
            T0,
            Input::Restored {
                next_seq: None,
                last_shore_ms: Some(T0 - 40 * 3_600_000),
            },
        )
        .unwrap();
    m.nodes[1].handle(T0, Input::EtaShore(eta_min)).unwrap();
    assert_eq!(m.nodes[1].eta_shore_min(T0), eta_min);
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Shore,
            600,
            Body::Text {
                text: "catch log".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    m.nodes[1].holds(&r.id())
}

#[test]
fn the_last_copy_of_a_report_goes_to_a_boat_that_says_it_is_steaming_home() {
    assert!(!last_copy_meets_an_older_boat(None), "focus: 1 is staler");
    assert!(last_copy_meets_an_older_boat(Some(90)), "1 is due ashore");
}

#[test]
fn a_homeward_eta_counts_down_and_a_shore_station_has_none() {
    let mut m = Mesh::new(&[Role::Vessel, Role::Shore], MeshConfig::default(), T0);
    m.nodes[0].handle(T0, Input::EtaShore(Some(90))).unwrap();
    assert_eq!(m.nodes[0].eta_shore_min(T0 + 30 * 60_000), Some(60));
    assert_eq!(
        m.nodes[0].eta_shore_min(T0 + 5 * 3_600_000),
        Some(1),
        "late: still due"
    );
    m.nodes[0].handle(T0, Input::EtaShore(None)).unwrap();
    assert_eq!(m.nodes[0].eta_shore_min(T0), None);
    m.nodes[1].handle(T0, Input::EtaShore(Some(90))).unwrap();
    assert_eq!(m.nodes[1].eta_shore_min(T0), None);
}

/// A shore station (2) holds the last copy of a case update for vessel 0 and meets vessel 1,
/// which is linked to 0 (its pair partner): with `via_partner`, 0 is linked to 1 before 2 and
/// 1 meet, so 1's hello says so.
fn last_copy_for_a_boat_meets_its_partner(via_partner: bool) -> bool {
    let cfg = MeshConfig {
        direct_copies: 1,
        ..MeshConfig::default()
    };
    let mut m = Mesh::new(&[Role::Vessel, Role::Vessel, Role::Shore], cfg, T0);
    if via_partner {
        m.connect(0, 1, None);
        m.run(10, 1000);
    }
    let to = m.key(0).hint();
    let r = m.nodes[2]
        .submit(
            T0,
            Destination::Node(to),
            600,
            Body::Text {
                text: "case accepted".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(2, None);
    m.connect(2, 1, None);
    m.run(10, 1000);
    if !via_partner {
        m.connect(0, 1, None);
        m.run(10, 1000);
    }
    m.nodes[0].holds(&r.id())
}

#[test]
fn the_last_copy_for_a_boat_goes_through_a_peer_linked_to_it() {
    assert!(last_copy_for_a_boat_meets_its_partner(true));
    assert!(
        !last_copy_for_a_boat_meets_its_partner(false),
        "1 was not linked to 0 when it met 2: 2 keeps its last copy"
    );
}

#[test]
fn a_record_delivered_to_its_node_is_not_sprayed_further() {
    // 0 writes to 1 while linked to 1 and to 2: it goes to 1 only, and once 1 has it, 0's
    // forwarding copies are spent (2, met later, gets nothing).
    let mut m = Mesh::new(&[Role::Vessel; 3], MeshConfig::default(), T0);
    m.connect(0, 1, None);
    m.connect(0, 2, None);
    m.run(10, 1000);
    let to = m.key(1).hint();
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Node(to),
            600,
            Body::Text {
                text: "for 1".into(),
                safety: false,
            },
        )
        .unwrap();
    m.drain(0, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&r.id()));
    assert!(
        !m.nodes[2].holds(&r.id()),
        "no spray next to the destination"
    );
    m.disconnect(0, 2);
    m.disconnect(0, 1);
    m.connect(0, 2, None);
    m.run(10, 1000);
    assert!(
        !m.nodes[2].holds(&r.id()),
        "delivered: no copies left to spray"
    );
}

// --- records waiting for their author's key (issue 10, item 1) ------------------------------

/// A writer (0), a carrier (1), a vessel (2) and a shore station (3) that know each other, and
/// a relay (4) restarted with an empty key ring: it has never seen the writer.
fn mesh_with_a_relay_that_does_not_know_the_writer() -> Mesh {
    let roles = [Role::Vessel, Role::Vessel, Role::Vessel, Role::Shore];
    let mut m = Mesh::new(&roles, MeshConfig::default(), T0);
    let relay = node_over(MemStore::new(StoreLimits::default()), 50, Role::Vessel);
    assert_eq!(m.add_stranger(relay), 4);
    m
}

#[test]
fn shore_bound_records_cross_a_relay_that_must_first_learn_the_writers_key() {
    let mut m = mesh_with_a_relay_that_does_not_know_the_writer();
    let ids: Vec<RecordId> = (0..30).map(|_| report(&mut m, 0)).collect();
    // The writer's group: the carrier takes half the copies.
    m.connect(0, 1, None);
    m.run(10, 1000);
    m.disconnect(0, 1);
    // The heal: the carrier meets the relay, which has to ask for the writer's key.
    let acked_before = m.nodes[1].stats().custody_acked;
    m.connect(1, 4, None);
    m.run(10, 1000);
    m.disconnect(1, 4);
    assert!(
        ids.iter().all(|id| m.nodes[4].holds(id)),
        "the relay took them"
    );
    assert_eq!(
        m.nodes[1].stats().custody_acked - acked_before,
        30,
        "the relay acknowledged custody of every record once it was stored, refusing none"
    );
    assert_eq!(m.nodes[4].stats().refused, 0);
    // The relay's group: it sprays on to a vessel that then meets shore.
    m.connect(4, 2, None);
    m.run(10, 1000);
    m.disconnect(4, 2);
    m.connect(2, 3, None);
    m.run(10, 1000);
    let at_shore = ids
        .iter()
        .filter(|id| m.delivered[3].iter().any(|r| r.id() == **id))
        .count();
    assert_eq!(
        at_shore, 30,
        "every shore-bound record reached shore through the relay"
    );
}

#[test]
fn a_record_waiting_for_its_key_is_acknowledged_only_once_stored() {
    let mut m = mesh_with_a_relay_that_does_not_know_the_writer();
    let id = report(&mut m, 0);
    m.connect(0, 1, None);
    m.run(10, 1000);
    m.disconnect(0, 1);
    // Hand the relay the carrier's records frame by hand and hold back the carrier's answer
    // to its key request: the relay must not acknowledge a record it has not stored.
    let (k1, k4) = (m.key(1), m.key(4));
    m.connect(1, 4, None);
    let r = m.nodes[1].store().get(&id).unwrap().unwrap();
    let frame = Frame::Records {
        seq: 900,
        items: vec![haiqiao_proto::wire::Carried {
            bytes: r.bytes().to_vec(),
            copies: 2,
        }],
    };
    let mut relay = m.nodes.remove(4);
    relay
        .handle(
            m.now_ms,
            Input::Frame {
                peer: k1,
                bytes: frame.encode(),
            },
        )
        .unwrap();
    let mut acks = Vec::new();
    let mut want_keys = false;
    while let Some(o) = relay.poll_output() {
        if let Output::Send { frame, .. } = o {
            match Frame::decode(&frame).unwrap() {
                Frame::Ack { upto, refused } => acks.push((upto, refused)),
                Frame::WantKeys { .. } => want_keys = true,
                _ => {}
            }
        }
    }
    assert!(want_keys, "the relay asks for the key");
    assert!(
        acks.iter().all(|(upto, _)| *upto < 900),
        "no acknowledgement before the record is stored: {acks:?}"
    );
    assert!(!relay.holds(&id));
    // The key arrives: the record is stored with the copies it came with, then acknowledged.
    let writer = m.key(0);
    relay
        .handle(
            m.now_ms + 50,
            Input::Frame {
                peer: k1,
                bytes: Frame::Keys { keys: vec![writer] }.encode(),
            },
        )
        .unwrap();
    assert!(relay.holds(&id));
    assert_eq!(
        relay.copies_of(&id),
        Some(2),
        "it kept the copies it arrived with"
    );
    let mut acked = false;
    while let Some(o) = relay.poll_output() {
        if let Output::Send { frame, .. } = o
            && let Ok(Frame::Ack { upto: 900, refused }) = Frame::decode(&frame)
        {
            assert!(refused.is_empty(), "{refused:?}");
            acked = true;
        }
    }
    assert!(acked, "acknowledged once stored");
    let _ = k4;
}

#[test]
fn a_record_whose_key_never_comes_is_refused_at_the_deadline_and_the_sender_keeps_its_copies() {
    let mut m = mesh_with_a_relay_that_does_not_know_the_writer();
    let id = report(&mut m, 0);
    let k1 = m.key(1);
    m.connect(1, 4, None);
    let mut relay = m.nodes.remove(4);
    let r = m.nodes[0].store().get(&id).unwrap().unwrap();
    let records = |seq: u32| Frame::Records {
        seq,
        items: vec![haiqiao_proto::wire::Carried {
            bytes: r.bytes().to_vec(),
            copies: 2,
        }],
    };
    let t = m.now_ms;
    relay
        .handle(
            t,
            Input::Frame {
                peer: k1,
                bytes: records(0).encode(),
            },
        )
        .unwrap();
    // A later frame's acknowledgement queues behind the one that waits (acks are cumulative).
    let text = Record::sign(
        &Keypair::from_seed(&[2; 32]),
        samples::envelope(Kind::Text, k1.hint(), k1.hint(), 5, t / 1000),
    )
    .unwrap();
    let later = Frame::Records {
        seq: 1,
        items: vec![haiqiao_proto::wire::Carried {
            bytes: text.bytes().to_vec(),
            copies: 0,
        }],
    };
    relay
        .handle(
            t + 10,
            Input::Frame {
                peer: k1,
                bytes: later.encode(),
            },
        )
        .unwrap();
    let acks = |relay: &mut Node<MemStore>| {
        let mut v = Vec::new();
        while let Some(o) = relay.poll_output() {
            if let Output::Send { frame, .. } = o
                && let Ok(Frame::Ack { upto, refused }) = Frame::decode(&frame)
            {
                v.push((upto, refused));
            }
        }
        v
    };
    assert!(acks(&mut relay).is_empty(), "both acknowledgements wait");
    let deadline = relay.poll_timeout().unwrap();
    assert!(deadline <= t + MeshConfig::default().key_wait_ms);
    relay.handle(deadline, Input::Tick).unwrap();
    let got = acks(&mut relay);
    assert_eq!(
        got,
        vec![(0, vec![(0, 0)]), (1, vec![])],
        "the waiting record is refused at the deadline, then the later frame is acknowledged"
    );
    // The key comes after all: the record is kept, with no copies (the sender kept them).
    relay
        .handle(
            deadline + 10,
            Input::Frame {
                peer: k1,
                bytes: Frame::Keys {
                    keys: vec![m.key(0)],
                }
                .encode(),
            },
        )
        .unwrap();
    assert!(relay.holds(&id));
    assert_eq!(relay.copies_of(&id), Some(0));
    assert!(acks(&mut relay).is_empty(), "nothing acknowledged twice");
}

/// A boat that holds `per_author` flood records of each of `authors` writers (it knows their
/// keys), and a relay that knows none of them, with room for `max_pending_keys` records
/// waiting for keys; the two know each other's keys.
fn a_boat_and_a_relay_that_knows_no_writer(
    authors: u8,
    per_author: usize,
    cfg: &MeshConfig,
) -> (Mesh, Vec<RecordId>) {
    let mut store = MemStore::new(StoreLimits::default());
    let mut ids = Vec::new();
    for a in 0..authors {
        let writer = Keypair::from_seed(&[a.wrapping_add(100); 32]);
        ids.extend(fill(
            &mut store,
            &writer,
            &[Kind::Text, Kind::PairAlert],
            per_author,
            0,
        ));
    }
    let mut m = Mesh::new(&[], cfg.clone(), T0);
    for (seed, store) in [(1, store), (2, MemStore::new(StoreLimits::default()))] {
        let key = Keypair::from_seed(&[seed; 32]);
        m.add(Node::new(cfg.clone(), key, Role::Vessel, store, T0).unwrap());
    }
    (m, ids)
}

#[test]
fn records_refused_while_too_many_wait_for_keys_are_asked_for_again_within_the_contact() {
    // Records of 40 writers reach a relay with room for 4 records waiting for keys: most are
    // refused (the boat keeps them) until the keys come. Refused records used to be lost
    // for the rest of the contact (nothing offers a refused record again); now the relay
    // asks for each again once its writer's key is known.
    let cfg = MeshConfig {
        max_pending_keys: 4,
        ..MeshConfig::default()
    };
    let (mut m, ids) = a_boat_and_a_relay_that_knows_no_writer(40, 5, &cfg);
    m.connect(0, 1, None);
    m.run(10, 10_000);
    assert!(m.linked(0, 1), "one contact");
    assert!(
        m.nodes[1].stats().refused > 0,
        "the waiting room overflowed"
    );
    let missing = ids.iter().filter(|id| !m.nodes[1].holds(id)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} records lost in the contact",
        ids.len()
    );
    assert!(m.nodes[0].is_idle_with(&m.key(1)));
}

#[test]
fn copies_handed_with_a_record_already_held_are_added_to_ours() {
    let mut m = Mesh::new(&[Role::Vessel; 3], MeshConfig::default(), T0);
    let id = report(&mut m, 0);
    m.connect(0, 1, None);
    m.run(10, 1000);
    m.disconnect(0, 1);
    let before = m.nodes[1].copies_of(&id).unwrap();
    assert_eq!(before, 4);
    let r = m.nodes[0].store().get(&id).unwrap().unwrap();
    let k2 = m.key(2);
    m.connect(1, 2, None);
    m.run(10, 1000);
    m.input(
        1,
        Input::Frame {
            peer: k2,
            bytes: Frame::Records {
                seq: 77,
                items: vec![haiqiao_proto::wire::Carried {
                    bytes: r.bytes().to_vec(),
                    copies: 2,
                }],
            }
            .encode(),
        },
    );
    let now = m.nodes[1].copies_of(&id).unwrap();
    assert!(
        now >= 4,
        "the copies the peer handed over did not vanish (had {before}, now {now})"
    );
}

// --- backpressure and quarantine (issue 10, item 4 first half) ------------------------------

fn penalties(m: &Mesh, i: usize, offence: Offence) -> usize {
    m.events[i]
        .iter()
        .filter(|e| matches!(e, Output::Penalty { offence: o, .. } if *o == offence))
        .count()
}

#[test]
fn a_fast_writer_is_slowed_not_banned_and_distress_still_crosses() {
    let cfg = MeshConfig {
        peer_records_per_s: 20,
        peer_records_burst: 20,
        ..MeshConfig::default()
    };
    let mut m = Mesh::new(&[Role::Vessel; 3], cfg, T0);
    // A busy boat (0) has written far more than its neighbour (1) takes per second.
    let texts: Vec<RecordId> = (0..300).map(|k| text(&mut m, 0, k)).collect();
    m.connect(1, 2, None);
    m.connect(0, 1, None);
    m.run_until(m.now_ms + 2_000, 100);
    assert!(
        m.nodes[1].stats().rate_limited > 0,
        "the excess was refused"
    );
    // Meanwhile a distress is raised next to the neighbour, and one by the busy boat.
    let sos = distress(&mut m, 2);
    let own = distress(&mut m, 0);
    m.run(10, 100);
    assert!(m.nodes[0].holds(&sos), "the busy boat hears the distress");
    assert!(
        m.nodes[2].holds(&own),
        "the busy boat's own distress gets out"
    );
    // The rest follows at the neighbour's pace, in the same contact.
    m.run_until(m.now_ms + 30_000, 100);
    assert!(m.linked(0, 1), "never cut off");
    assert!(m.nodes[1].quarantined_until(&m.key(0), m.now_ms).is_none());
    assert_eq!(
        penalties(&m, 1, Offence::Flood),
        0,
        "a rate is not an offence"
    );
    let held = texts.iter().filter(|id| m.nodes[1].holds(id)).count();
    assert_eq!(
        held, 300,
        "everything refused for the rate was asked for again"
    );
}

#[test]
fn a_banned_peer_is_quarantined_and_distress_still_flows_both_ways() {
    let mut m = Mesh::new(&[Role::Vessel; 3], MeshConfig::default(), T0);
    m.gossip = false;
    m.connect(0, 1, None);
    m.connect(1, 2, None);
    m.run(10, 1000);
    let k0 = m.key(0);
    for _ in 0..10 {
        m.input(
            1,
            Input::Frame {
                peer: k0,
                bytes: vec![0xff],
            },
        );
    }
    assert!(m.nodes[1].quarantined_until(&k0, m.now_ms).is_some());
    assert!(m.nodes[1].stats().quarantined >= 1);
    assert!(m.linked(0, 1), "quarantined, not disconnected");
    assert!(
        !m.events[1]
            .iter()
            .any(|e| matches!(e, Output::Disconnect { .. })),
        "no disconnection"
    );
    // From the quarantined peer: its distress is taken, nothing else.
    let its_text = text(&mut m, 0, 1);
    let its_sos = distress(&mut m, 0);
    // To it: distress only.
    let our_text = text(&mut m, 2, 2);
    let our_sos = distress(&mut m, 2);
    m.run(10, 1000);
    assert!(
        m.nodes[1].holds(&its_sos),
        "distress from a quarantined peer is taken"
    );
    assert!(m.nodes[2].holds(&its_sos), "and relayed");
    assert!(!m.nodes[1].holds(&its_text), "its other records are not");
    assert!(
        m.nodes[0].holds(&our_sos),
        "distress reaches a quarantined peer"
    );
    assert!(!m.nodes[0].holds(&our_text), "nothing else is sent to it");
    assert!(m.nodes[1].holds(&our_text));
    // The quarantine ends.
    m.run_until(m.now_ms + MeshConfig::default().ban_ms + 1_000, 60_000);
    assert!(m.nodes[1].quarantined_until(&k0, m.now_ms).is_none());
}

// --- a full store refuses rather than evicting what it answers for (issue 10, item 4) ------

#[test]
fn a_writer_over_its_quota_is_refused_instead_of_evicting_what_it_wrote() {
    let limits = StoreLimits {
        max_author_bytes: 2_000,
        ..StoreLimits::default()
    };
    let mut m = Mesh::with_limits(
        &[Role::Vessel, Role::Shore],
        MeshConfig::default(),
        limits,
        T0,
    );
    let mut written = Vec::new();
    let refusal = loop {
        let r = m.nodes[0].submit(
            m.now_ms,
            Destination::Shore,
            600,
            Body::Text {
                text: format!("catch log {}", written.len()),
                safety: false,
            },
        );
        match r {
            Ok(r) => written.push(r.id()),
            Err(e) => break e,
        }
        assert!(written.len() < 1000, "never refused");
    };
    assert!(
        matches!(
            refusal,
            crate::MeshError::Refused(crate::Refusal::AuthorQuota)
        ),
        "{refusal}"
    );
    assert!(!written.is_empty());
    assert!(
        written.iter().all(|id| m.nodes[0].holds(id)),
        "nothing it wrote was evicted"
    );
    // Distress is never refused for space.
    assert!(
        m.nodes[0]
            .submit(
                m.now_ms,
                Destination::Everyone,
                600,
                Body::Distress {
                    nature: DistressNature::Fire,
                    fix: None,
                    persons: None,
                    text: String::new(),
                },
            )
            .is_ok()
    );
    // Once shore has them (its receipt frees them), there is room again.
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    receipt_delay(&mut m);
    assert!(written.iter().any(|id| !m.nodes[0].holds(id)));
    assert!(
        m.nodes[0]
            .submit(
                m.now_ms,
                Destination::Shore,
                600,
                Body::Text {
                    text: "room again".into(),
                    safety: false,
                },
            )
            .is_ok()
    );
}

#[test]
fn a_relay_with_a_full_store_refuses_and_the_sender_keeps_its_copies() {
    let mut m = Mesh::new(&[Role::Vessel], MeshConfig::default(), T0);
    let relay = Node::new(
        MeshConfig::default(),
        Keypair::from_seed(&[2; 32]),
        Role::Vessel,
        MemStore::new(StoreLimits {
            max_bytes: 1_500,
            ..StoreLimits::default()
        }),
        T0,
    )
    .unwrap();
    m.add(relay);
    let ids: Vec<RecordId> = (0..30).map(|_| report(&mut m, 0)).collect();
    m.connect(0, 1, None);
    m.run(10, 1000);
    let held: Vec<&RecordId> = ids.iter().filter(|id| m.nodes[1].holds(id)).collect();
    assert!(!held.is_empty() && held.len() < 30, "{}", held.len());
    assert_eq!(
        m.nodes[0].stats().custody_acked,
        held.len() as u64,
        "every record the relay acknowledged is still there: none was evicted for a newer one"
    );
    for id in &ids {
        let mine = m.nodes[0].copies_of(id).unwrap();
        if m.nodes[1].holds(id) {
            assert_eq!(mine, 4, "half handed over");
        } else {
            assert_eq!(mine, 8, "refused: the sender kept its copies");
        }
    }
}

// --- strangers as a group (issue 10, item 5) -------------------------------------------------

#[test]
fn a_sybil_flood_of_fresh_keys_is_held_by_the_group_budget_and_distress_still_crosses() {
    let cfg = MeshConfig {
        uncertified_records_per_s: 10,
        uncertified_records_burst: 200,
        max_uncertified_held: 300,
        ..MeshConfig::default()
    };
    // The flooder (0) holds 20 records from each of 200 fresh keys, none certified.
    let sybils: Vec<Keypair> = (0..200u32)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            Keypair::from_seed(&seed)
        })
        .collect();
    let mut store = MemStore::new(StoreLimits::default());
    for (i, k) in sybils.iter().enumerate() {
        fill(&mut store, k, &[Kind::Text], 20, 1000 * i as u64);
    }
    let flooder = Node::new(
        cfg.clone(),
        Keypair::from_seed(&[1; 32]),
        Role::Vessel,
        store,
        T0,
    )
    .unwrap();
    let mut m = Mesh::new(&[], cfg.clone(), T0);
    m.add(flooder);
    // The node under attack (1) enforces certificates; a certified vessel (2) is beyond it.
    let guard = Node::new(
        cfg.clone(),
        Keypair::from_seed(&[2; 32]),
        Role::Vessel,
        MemStore::new(StoreLimits::default()),
        T0,
    )
    .unwrap();
    m.add(guard);
    let certified = Node::new(
        cfg,
        Keypair::from_seed(&[3; 32]),
        Role::Vessel,
        MemStore::new(StoreLimits::default()),
        T0,
    )
    .unwrap();
    m.add(certified);
    let mut p = enforced();
    p.trusted.insert(m.key(2).hint());
    m.nodes[1].handle(T0, Input::Trust(p)).unwrap();
    for k in &sybils {
        m.nodes[1]
            .handle(T0, Input::Keys(vec![k.public()]))
            .unwrap();
    }
    m.connect(0, 1, None);
    m.connect(1, 2, None);
    m.run_until(m.now_ms + 5_000, 100);
    let from_sybils = |m: &Mesh| {
        m.nodes[1]
            .store()
            .summaries()
            .unwrap()
            .iter()
            .filter(|s| sybils.iter().any(|k| k.public() == s.author))
            .count()
    };
    let held = from_sybils(&m);
    assert!(
        held <= 250,
        "4,000 stranger records, 200 + 10/s taken in 5 s, got {held}"
    );
    // Later the cap holds, however long the contact lasts.
    m.run_until(m.now_ms + 60_000, 500);
    let held = from_sybils(&m);
    assert!(held <= 300, "at most max_uncertified_held, got {held}");
    assert!(
        held >= 250,
        "the group rate still lets strangers through, got {held}"
    );
    // A stranger's distress (the flooder's own key is uncertified), and a certified vessel's,
    // still get through the guard.
    let sos = distress(&mut m, 0);
    let other = distress(&mut m, 2);
    let text_of_certified = text(&mut m, 2, 1);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&sos), "a stranger's distress is taken");
    assert!(m.nodes[2].holds(&sos), "and carried on");
    assert!(
        m.nodes[0].holds(&other),
        "a certified vessel's distress reaches the flooder"
    );
    assert!(
        m.nodes[1].holds(&text_of_certified),
        "certified authors are not held back"
    );
}

// --- what the host tells the engine (issue 12: every outside influence is an Input) ----------

#[test]
fn settings_change_what_the_engine_knows_and_send_nothing() {
    let mut m = Mesh::new(&[Role::Vessel, Role::Vessel], MeshConfig::default(), T0);
    m.connect(0, 1, Some(9_600));
    m.run(10, 1000);
    // A backlog the link's pacing holds back.
    for i in 0..20 {
        let text = Body::Text {
            text: format!("catch log {i}"),
            safety: false,
        };
        m.nodes[0]
            .submit(m.now_ms, Destination::Everyone, 600, text)
            .unwrap();
    }
    m.drain(0, None);
    let later = m.now_ms + 5_000;
    let settings = [
        Input::EtaShore(Some(90)),
        Input::Groups(vec![7]),
        Input::Keys(vec![Keypair::from_seed(&[42; 32]).public()]),
        Input::Restored {
            next_seq: Some(50),
            last_shore_ms: Some(T0 - 60_000),
        },
        Input::Trust(crate::TrustPolicy {
            enforced: true,
            ..Default::default()
        }),
    ];
    for s in settings {
        let name = s.name();
        m.nodes[0].handle(later, s).unwrap();
        assert!(!m.nodes[0].has_output(), "{name} sent something");
    }
    assert_eq!(m.nodes[0].eta_shore_min(later), Some(90));
    assert!(m.nodes[0].trust().enforced);
    m.nodes[0].handle(later, Input::Tick).unwrap();
    assert!(
        m.nodes[0].has_output(),
        "the backlog goes at the next input"
    );
}

#[test]
fn restored_counters_only_move_forward() {
    let mut m = Mesh::new(&[Role::Vessel], MeshConfig::default(), T0);
    let restored = |next_seq, last_shore_ms| Input::Restored {
        next_seq,
        last_shore_ms,
    };
    m.nodes[0]
        .handle(T0, restored(Some(50), Some(T0 - 7_200_000)))
        .unwrap();
    m.nodes[0]
        .handle(T0, restored(Some(10), Some(T0 - 9_999_999)))
        .unwrap();
    assert_eq!(m.nodes[0].next_seq(), 50, "a sequence number never repeats");
    assert_eq!(
        m.nodes[0].shore_age_min(T0),
        120,
        "the later shore contact stands"
    );
    let r = m.nodes[0]
        .submit(
            T0,
            Destination::Everyone,
            60,
            Body::Text {
                text: "报平安".into(),
                safety: false,
            },
        )
        .unwrap();
    assert_eq!(r.envelope().seq, 50);
}

#[test]
fn a_group_text_is_delivered_once_the_host_says_the_node_is_in_the_group() {
    let mut m = Mesh::new(&[Role::Vessel, Role::Vessel], MeshConfig::default(), T0);
    let dest = Destination::Group(GroupId(7));
    assert!(!m.nodes[1].is_for_me(&dest));
    m.nodes[1].handle(T0, Input::Groups(vec![3, 7])).unwrap();
    assert!(m.nodes[1].is_for_me(&dest));
    let text = Body::Text {
        text: "net at 0600".into(),
        safety: false,
    };
    let r = m.nodes[0].submit(T0, dest, 60, text).unwrap();
    m.drain(0, None);
    m.connect(0, 1, None);
    m.run(10, 1000);
    assert!(m.nodes[1].holds(&r.id()));
    assert!(
        m.delivered[1].iter().any(|d| d.id() == r.id()),
        "delivered, not only carried"
    );
}
