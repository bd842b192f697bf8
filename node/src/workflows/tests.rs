//! The glue's tests: replay, voyage, vetting, buddy watch, pair alerts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use haiqiao_mesh::{Input, MemStore, MeshConfig, StoreLimits};
use haiqiao_proto::{Destination, Envelope, Keypair, Kind};

use haiqiao_fleet::FleetConfig;
use haiqiao_proto::{Body, CaseStatus, Record, RecordId, Role, Timestamp};
use serde_json::json;

use super::*;

/// 2026-11-18T11:06:40Z.
pub(super) const T0_MS: u64 = 1_795_000_000_000;

pub(super) fn bureau() -> Keypair {
    Keypair::from_seed(&[200; 32])
}

pub(super) fn signed(key: &Keypair, seq: u64, body: Body) -> Record {
    let env = Envelope {
        author: key.public().hint(),
        seq,
        created: Timestamp((T0_MS / 1000) as u32),
        ttl_min: 24 * 60,
        dest: Destination::Everyone,
        body,
    };
    Record::sign(key, env).unwrap()
}

fn cert(subject: &Keypair, role: Role, name: &str) -> Record {
    let now = (T0_MS / 1000) as u32;
    signed(
        &bureau(),
        u64::from(role as u8) + 10 * u64::from(subject.public().hint().0[0]),
        Body::Certificate {
            subject: subject.public(),
            name: name.into(),
            registration: String::new(),
            mmsi: None,
            role,
            valid_from: Timestamp(now - 3600),
            valid_until: Timestamp(now + 86_400),
        },
    )
}

/// A vessel's engine at `T0_MS` and its workflows under `cfg`, not printing.
pub(super) fn vessel(me: &Keypair, cfg: FleetConfig) -> (Node<MemStore>, Workflows) {
    let node = Node::new(
        MeshConfig::default(),
        me.clone(),
        Role::Vessel,
        MemStore::new(StoreLimits::default()),
        T0_MS,
    )
    .unwrap();
    let mut w = Workflows::new(cfg, me.public(), 7).unwrap();
    w.print = false;
    (node, w)
}

fn setup(me: &Keypair, buddy_watch_s: u32) -> (Node<MemStore>, Workflows) {
    let cfg = FleetConfig {
        trust_anchors: vec![bureau().public().to_string()],
        buddy_watch_s,
        ..FleetConfig::default()
    };
    vessel(me, cfg)
}

#[test]
fn a_distress_repeat_is_held_while_no_peer_is_linked() {
    let me = Keypair::from_seed(&[31; 32]);
    let (mut node, mut w) = setup(&me, 0);
    w.request(
        T0_MS,
        &mut node,
        Request::RaiseDistress(crate::specs::DistressSpec {
            nature: "flooding".to_owned(),
            lat: Some(30.2),
            lon: Some(122.9),
            persons: Some(6),
            text: String::new(),
        }),
    )
    .unwrap();
    // The fleet's repeat is due within 270 s; with no peer it is held, not written.
    let due = T0_MS + 271_000;
    w.poll(due, &mut node).unwrap();
    let tags: Vec<&str> = w.timeline.iter().map(|e| e.what).collect();
    assert!(tags.contains(&"distress_repeat_held"), "{tags:?}");
    assert!(!tags.contains(&"distress_repeat_sent"), "{tags:?}");
    let alerts = node
        .store()
        .by_kind(Kind::Distress, Timestamp(0), Timestamp(u32::MAX), 10)
        .unwrap();
    assert_eq!(alerts.len(), 1, "only the alert itself is held");
    // Still due again later: the fleet keeps repeating until someone answers.
    assert!(w.next_timeout().is_some_and(|t| t > due));
}

fn with_ports(me: &Keypair) -> (Node<MemStore>, Workflows) {
    let (node, _) = setup(me, 1800);
    let cfg = FleetConfig {
        ports: vec![haiqiao_fleet::Port {
            name: "Shenjiamen".into(),
            lat: 29.95,
            lon: 122.30,
        }],
        ..FleetConfig::default()
    };
    let mut w = Workflows::new(cfg, me.public(), 7).unwrap();
    w.print = false;
    (node, w)
}

#[test]
fn own_positions_towards_a_port_set_the_engines_eta_and_the_skipper_overrides() {
    let me = Keypair::from_seed(&[1; 32]);
    let (mut node, mut w) = with_ports(&me);
    // 48 km east of Shenjiamen, steaming west at 10 knots.
    let mut f = haiqiao_proto::Fix::from_degrees(29.95, 122.80);
    f.sog_dkn = Some(100);
    f.cog_ddeg = Some(2700);
    let r = node
        .submit(T0_MS, Destination::Everyone, 60, Body::Position(f))
        .unwrap();
    w.observe(T0_MS, &mut node, &r);
    let eta = node.eta_shore_min(T0_MS).expect("homeward");
    assert!((150..=165).contains(&eta), "{eta}");
    assert_eq!(w.timeline.back().unwrap().what, "homeward");
    let set = |w: &mut Workflows, node: &mut Node<MemStore>, says: &str, eta: Option<u32>| {
        w.request(
            T0_MS,
            node,
            Request::SetVoyage {
                says: says.into(),
                eta_min: eta,
                port: None,
            },
        )
    };
    let v = set(&mut w, &mut node, "not_home", None).unwrap();
    assert_eq!(v["homeward"], false);
    assert_eq!(node.eta_shore_min(T0_MS), None);
    assert_eq!(w.timeline.back().unwrap().what, "not_homeward");
    assert!(
        set(&mut w, &mut node, "home", None).is_err(),
        "needs an ETA"
    );
    assert!(set(&mut w, &mut node, "ashore", Some(5)).is_err());
    set(&mut w, &mut node, "home", Some(90)).unwrap();
    assert_eq!(node.eta_shore_min(T0_MS), Some(90));
    set(&mut w, &mut node, "auto", None).unwrap();
    assert_eq!(node.eta_shore_min(T0_MS), Some(eta), "the positions again");
    // A restart: the stored own position gives the ETA back.
    let (_, mut fresh) = with_ports(&me);
    node.handle(T0_MS, Input::EtaShore(None)).unwrap();
    fresh.replay(T0_MS, &mut node).unwrap();
    assert_eq!(node.eta_shore_min(T0_MS), Some(eta));
}

/// Stores a record of another key as if it had arrived, and shows it to the fleet.
fn arrive(node: &mut Node<MemStore>, w: &mut Workflows, author: &Keypair, r: &Record) {
    let r = node.import(T0_MS, author.public(), r.bytes()).unwrap();
    w.observe(T0_MS, node, &r);
}

#[test]
fn a_restarted_node_rebuilds_its_views_and_the_engines_trust_from_the_store() {
    let me = Keypair::from_seed(&[1; 32]);
    let shore = Keypair::from_seed(&[2; 32]);
    let (mut node, _) = setup(&me, 1800);
    // Stored while the projections were not watching (as before a restart).
    node.import(
        T0_MS,
        bureau().public(),
        cert(&shore, Role::Shore, "沈家门岸站").bytes(),
    )
    .unwrap();
    let (_, mut fresh) = setup(&me, 1800);
    assert!(!node.trust().enforced, "nothing set before the replay");
    fresh.replay(T0_MS, &mut node).unwrap();
    assert!(node.trust().enforced);
    assert!(node.trust().shore.contains(&shore.public()));
    assert!(node.trust().trusted.contains(&shore.public().hint()));
    let v = fresh
        .request(
            T0_MS,
            &mut node,
            Request::Trust {
                key: shore.public().to_string(),
            },
        )
        .unwrap();
    assert_eq!(v["roles"], json!(["shore"]));
    assert_eq!(v["name"], "沈家门岸站");
    // The timeline shows what the records held say, dated by the records.
    let cert_id = cert(&shore, Role::Shore, "沈家门岸站").id().to_string();
    let v = fresh
        .request(
            T0_MS,
            &mut node,
            Request::Timeline {
                after: 0,
                limit: 10,
            },
        )
        .unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{v}");
    assert_eq!(entries[0]["what"], "certified");
    assert_eq!(entries[0]["id"], cert_id.as_str());
}

#[test]
fn hand_written_records_are_vetted_and_a_vessel_cannot_accept_a_case() {
    let me = Keypair::from_seed(&[1; 32]);
    let other = Keypair::from_seed(&[3; 32]);
    let (mut node, mut w) = setup(&me, 1800);
    let report = signed(
        &other,
        1,
        Body::DisputeReport {
            category: haiqiao_proto::DisputeCategory::FishingGround,
            parties: vec![],
            fix: None,
            description: "抢占网位 took our spot".into(),
            evidence: vec![],
        },
    );
    arrive(&mut node, &mut w, &other, &report);
    let accept = Body::CaseUpdate {
        case: report.id(),
        status: CaseStatus::Accepted,
        text: String::new(),
    };
    let err = w
        .vet(T0_MS, Destination::Everyone, 60, &accept)
        .unwrap_err();
    assert!(
        err.to_string().contains("not a certified mediator"),
        "{err}"
    );
    let err = w
        .request(
            T0_MS,
            &mut node,
            Request::CaseStep {
                case: report.id().to_string(),
                step: "accept".into(),
                text: String::new(),
                to: None,
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("not a certified mediator"),
        "{err}"
    );
    assert_eq!(
        crate::error::ApiError::from(err).status().as_u16(),
        422,
        "a refusal"
    );
    assert_eq!(node.stats().submitted, 0, "nothing was written");
    let unknown = w
        .request(
            T0_MS,
            &mut node,
            Request::Case {
                case: RecordId([9; 16]).to_string(),
            },
        )
        .unwrap_err();
    assert_eq!(
        crate::error::ApiError::from(unknown).status().as_u16(),
        404,
        "an unknown case"
    );
    let malformed = w
        .request(
            T0_MS,
            &mut node,
            Request::Case {
                case: "not an id".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        crate::error::ApiError::from(malformed).status().as_u16(),
        400,
        "a malformed id"
    );
}

#[test]
fn buddy_watch_raises_the_alarm_tells_shore_and_clears_when_the_partner_is_heard() {
    let me = Keypair::from_seed(&[1; 32]);
    let partner = Keypair::from_seed(&[4; 32]);
    let (mut node, mut w) = setup(&me, 60);
    let theirs = signed(
        &partner,
        1,
        Body::Pairing {
            partner: me.public(),
            paired: true,
        },
    );
    arrive(&mut node, &mut w, &partner, &theirs);
    // The hint of a vessel heard here is enough to name it.
    w.request(
        T0_MS,
        &mut node,
        Request::Pair {
            partner: partner.public().hint().to_string(),
            leave: false,
        },
    )
    .unwrap();
    let pairs = w.request(T0_MS, &mut node, Request::Pairs).unwrap();
    assert_eq!(
        pairs["partners"][0]["partner"],
        partner.public().to_string()
    );
    assert_eq!(pairs["partners"][0]["alarm"], false);
    // Silence past the interval: the daemon's timer fires at next_timeout.
    let due = w.next_timeout().unwrap();
    assert!(
        due <= T0_MS + 61_000,
        "buddy watch is due within the interval"
    );
    w.poll(T0_MS + 61_000, &mut node).unwrap();
    let tags: Vec<&str> = w.timeline.iter().map(|e| e.what).collect();
    assert!(tags.contains(&"buddy_alarm"), "{tags:?}");
    assert!(tags.contains(&"buddy_report_sent"), "{tags:?}");
    let reports = node
        .store()
        .by_kind(Kind::BuddyWatch, Timestamp(0), Timestamp(u32::MAX), 10)
        .unwrap();
    assert_eq!(reports.len(), 1, "one report to shore");
    assert_eq!(reports[0].envelope().dest, Destination::Shore);
    assert_eq!(
        w.summary(T0_MS + 61_000)["buddy_alarms"][0],
        partner.public().to_string()
    );
    // The partner is heard again.
    let env = Envelope {
        author: partner.public().hint(),
        seq: 2,
        created: Timestamp(((T0_MS + 70_000) / 1000) as u32),
        ttl_min: 60,
        dest: Destination::Everyone,
        body: Body::Position(haiqiao_proto::Fix::from_degrees(30.2, 122.9)),
    };
    let pos = Record::sign(&partner, env).unwrap();
    let pos = node
        .import(T0_MS + 70_000, partner.public(), pos.bytes())
        .unwrap();
    w.observe(T0_MS + 70_000, &mut node, &pos);
    w.poll(T0_MS + 70_000, &mut node).unwrap();
    let tags: Vec<&str> = w.timeline.iter().map(|e| e.what).collect();
    assert!(tags.contains(&"buddy_alarm_cleared"), "{tags:?}");
    assert!(
        w.summary(T0_MS + 70_000)["buddy_alarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_pair_alert_needs_a_pair() {
    let me = Keypair::from_seed(&[1; 32]);
    let (mut node, mut w) = setup(&me, 60);
    let err = w
        .request(
            T0_MS,
            &mut node,
            Request::PairAlert {
                partner: None,
                what: crate::specs::PairAlertSpec {
                    alert: "gear_fouled".into(),
                    lat: None,
                    lon: None,
                    text: String::new(),
                },
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("not paired"), "{err}");
    let err = w
        .request(
            T0_MS,
            &mut node,
            Request::Pair {
                partner: "0011223344556677".into(),
                leave: false,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("give the full node id"), "{err}");
}

#[test]
fn requests_keep_their_json_shape() {
    // The fields shared with hand-written records (`crate::specs`) read as before: flat.
    let alert: Request = serde_json::from_value(json!({
        "op": "pair_alert", "alert": "gear_fouled", "lat": 30.1, "lon": 122.0, "text": "x"
    }))
    .unwrap();
    assert_eq!(
        alert,
        Request::PairAlert {
            partner: None,
            what: crate::specs::PairAlertSpec {
                alert: "gear_fouled".into(),
                lat: Some(30.1),
                lon: Some(122.0),
                text: "x".into(),
            },
        }
    );
    let raise: Request =
        serde_json::from_value(json!({"op": "raise_distress", "persons": 3})).unwrap();
    let Request::RaiseDistress(d) = &raise else {
        panic!("{raise:?}")
    };
    assert_eq!((d.nature.as_str(), d.persons), ("undesignated", Some(3)));
    let filed: Request = serde_json::from_value(json!({
        "op": "file_dispute", "category": "collision", "description": "d",
        "parties": [{"name": "n"}]
    }))
    .unwrap();
    let Request::FileDispute(d) = &filed else {
        panic!("{filed:?}")
    };
    assert_eq!((d.category.as_str(), d.parties.len()), ("collision", 1));
    let answer: Request = serde_json::from_value(json!({
        "op": "answer_distress", "distress": "abcdef12", "status": "responding", "eta_min": 25
    }))
    .unwrap();
    let Request::AnswerDistress(a) = &answer else {
        panic!("{answer:?}")
    };
    assert_eq!((a.status.as_str(), a.eta_min), ("responding", Some(25)));
    assert_eq!(
        serde_json::to_value(&filed).unwrap()["op"],
        "file_dispute",
        "written back with its op"
    );
}
