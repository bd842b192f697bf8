//! The distress lifecycle.

use haiqiao_proto::*;

use super::*;
use crate::*;

const SHENJIAMEN: (f64, f64) = (29.95, 122.30);

/// A vessel in distress (1), a certified shore station (2), an uncertified vessel (3), and
/// every node knowing the shore's certificate.
fn scene() -> (Node, Node, Node) {
    let mut boat = node(1);
    let mut shore = node(2);
    let mut other = node(3);
    let c = cert(
        &bureau(),
        &shore.pk(),
        Role::Shore,
        "沈家门海岸站",
        T0 - 100,
    );
    deliver(&mut [&mut boat, &mut shore, &mut other], T0 - 100, &[c]);
    (boat, shore, other)
}

fn raise(boat: &mut Node, at_s: u64) -> Record {
    let d = boat.fleet.raise_distress(
        DistressNature::Flooding,
        Some(Fix::from_degrees(30.10, 122.60)),
        Some(9),
        "机舱进水",
    );
    let r = boat.sign(at_s, d);
    boat.see(at_s, &r);
    r
}

fn answer(n: &mut Node, at_s: u64, incident: RecordId, status: DistressStatus) -> Record {
    let d = n
        .fleet
        .answer_distress(ms(at_s), incident, status, "收到")
        .unwrap();
    n.sign(at_s, d)
}

/// Polls every second from `from_s` to `to_s`; returns the times of repeats.
fn repeats(boat: &mut Node, from_s: u64, to_s: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for t in from_s..=to_s {
        for a in boat.fleet.poll(ms(t)) {
            if let Action::RepeatDistress { draft, .. } = a {
                let r = boat.sign(t, draft);
                boat.see(t, &r);
                out.push(t);
            }
        }
    }
    out
}

#[test]
fn a_distress_repeats_every_3_5_to_4_5_minutes_until_a_certified_acknowledgement() {
    let (mut boat, mut shore, _) = scene();
    let seed = seed(1);
    boat.fleet = Fleet::new(config(), boat.pk(), seed).unwrap();
    let c = cert(
        &bureau(),
        &shore.pk(),
        Role::Shore,
        "沈家门海岸站",
        T0 - 100,
    );
    boat.see(T0 - 100, &c);
    let first = raise(&mut boat, T0);
    let times = repeats(&mut boat, T0, T0 + 3600);
    assert!(times.len() >= 13 && times.len() <= 17, "{times:?}");
    let mut prev = T0;
    let mut waits = Vec::new();
    for t in &times {
        let w = t - prev;
        assert!((210..=270).contains(&w), "wait {w} s, seed {seed}");
        waits.push(w);
        prev = *t;
    }
    waits.sort_unstable();
    waits.dedup();
    assert!(waits.len() > 3, "waits are randomised: {waits:?}");
    // The repeats are one incident.
    let open = boat.fleet.open_distress(ms(T0 + 3600));
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].incident, first.id());
    assert_eq!(open[0].alerts, times.len() + 1);
    // Shore acknowledges: no more repeats.
    shore.see(T0, &first);
    let ack = answer(
        &mut shore,
        T0 + 3601,
        first.id(),
        DistressStatus::Acknowledged,
    );
    let ev = boat.see(T0 + 3601, &ack);
    assert!(
        matches!(
            &ev[..],
            [Event::DistressUpdated {
                status: DistressStatus::Acknowledged,
                ..
            }]
        ),
        "{ev:?}"
    );
    assert!(repeats(&mut boat, T0 + 3601, T0 + 7200).is_empty());
    let v = &boat.fleet.open_distress(ms(T0 + 7200))[0];
    assert_eq!(v.state, DistressState::Answered);
    assert!(v.repeats_stopped);
    assert!(v.acknowledged_by[0].shore);
}

#[test]
fn the_same_seed_repeats_at_the_same_times() {
    let run = |seed: u64| {
        let mut boat = node_with(1, config());
        boat.fleet = Fleet::new(config(), boat.pk(), seed).unwrap();
        raise(&mut boat, T0);
        repeats(&mut boat, T0, T0 + 1800)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn an_uncertified_acknowledgement_is_shown_but_does_not_stop_the_repeats() {
    let (mut boat, _, mut other) = scene();
    let first = raise(&mut boat, T0);
    other.see(T0, &first);
    let ack = answer(
        &mut other,
        T0 + 10,
        first.id(),
        DistressStatus::Acknowledged,
    );
    boat.see(T0 + 10, &ack);
    let v = &boat.fleet.open_distress(ms(T0 + 10))[0];
    assert_eq!(v.state, DistressState::Answered);
    assert!(!v.acknowledged_by[0].certified);
    assert!(!v.repeats_stopped);
    assert!(!repeats(&mut boat, T0 + 10, T0 + 600).is_empty());
    // With the setting off, any acknowledgement stops them.
    let cfg = FleetConfig {
        repeat_until_certified_ack: false,
        ..config()
    };
    let mut boat2 = node_with(11, cfg);
    let r2 = raise(&mut boat2, T0);
    other.see(T0, &r2);
    let ack2 = answer(&mut other, T0 + 10, r2.id(), DistressStatus::Acknowledged);
    boat2.see(T0 + 10, &ack2);
    assert!(boat2.fleet.open_distress(ms(T0 + 10))[0].repeats_stopped);
    assert!(repeats(&mut boat2, T0 + 10, T0 + 600).is_empty());
}

#[test]
fn only_its_author_cancels_a_distress() {
    let (mut boat, mut shore, mut other) = scene();
    let first = raise(&mut boat, T0);
    deliver(
        &mut [&mut shore, &mut other],
        T0,
        std::slice::from_ref(&first),
    );
    // The builder refuses; a hand-made cancellation is refused by every fleet.
    assert_eq!(
        other
            .fleet
            .answer_distress(ms(T0), first.id(), DistressStatus::Cancelled, "假"),
        Err(FleetError::NotTheAuthor)
    );
    let forged = other.write(
        T0 + 5,
        Destination::Everyone,
        Body::DistressUpdate {
            distress: first.id(),
            status: DistressStatus::Cancelled,
            text: "false alert".into(),
        },
    );
    let ev = shore.see(T0 + 5, &forged);
    assert_eq!(refusals(&ev), vec![Refusal::CancelNotByAuthor]);
    boat.see(T0 + 5, &forged);
    assert_eq!(shore.fleet.open_distress(ms(T0 + 5)).len(), 1);
    assert!(!repeats(&mut boat, T0 + 5, T0 + 300).is_empty());
    // The author's own cancellation ends it everywhere and stops the repeats.
    let cancel = answer(&mut boat, T0 + 400, first.id(), DistressStatus::Cancelled);
    boat.see(T0 + 400, &cancel);
    let ev = shore.see(T0 + 400, &cancel);
    assert!(matches!(
        &ev[..],
        [Event::DistressUpdated {
            status: DistressStatus::Cancelled,
            ..
        }]
    ));
    assert!(shore.fleet.open_distress(ms(T0 + 400)).is_empty());
    let all = shore.fleet.distress_incidents(ms(T0 + 400));
    assert_eq!(all[0].state, DistressState::Cancelled);
    assert_eq!(
        all[0].ended,
        Some((Timestamp((T0 + 400) as u32), boat.pk()))
    );
    assert!(repeats(&mut boat, T0 + 400, T0 + 1200).is_empty());
    assert_eq!(
        boat.fleet
            .answer_distress(ms(T0 + 500), first.id(), DistressStatus::Cancelled, ""),
        Err(FleetError::DistressEnded)
    );
}

#[test]
fn only_the_author_a_certified_shore_or_an_authority_resolves() {
    let (mut boat, mut shore, mut other) = scene();
    let first = raise(&mut boat, T0);
    deliver(
        &mut [&mut shore, &mut other],
        T0,
        std::slice::from_ref(&first),
    );
    assert_eq!(
        other
            .fleet
            .answer_distress(ms(T0), first.id(), DistressStatus::Resolved, ""),
        Err(FleetError::NotAuthorised)
    );
    let by_other = other.write(
        T0 + 5,
        Destination::Everyone,
        Body::DistressUpdate {
            distress: first.id(),
            status: DistressStatus::Resolved,
            text: String::new(),
        },
    );
    assert_eq!(
        refusals(&shore.see(T0 + 5, &by_other)),
        vec![Refusal::ResolveNotAuthorised]
    );
    let by_shore = answer(&mut shore, T0 + 60, first.id(), DistressStatus::Resolved);
    shore.see(T0 + 60, &by_shore);
    boat.see(T0 + 60, &by_shore);
    assert_eq!(
        boat.fleet.distress_incidents(ms(T0 + 60))[0].state,
        DistressState::Resolved
    );
    // The vessel in distress does not acknowledge itself.
    let second = raise(&mut boat, T0 + 100);
    assert_eq!(
        boat.fleet
            .answer_distress(ms(T0 + 100), second.id(), DistressStatus::Acknowledged, ""),
        Err(FleetError::OwnDistress)
    );
}

#[test]
fn a_new_distress_after_the_end_is_a_new_incident() {
    let (mut boat, mut shore, _) = scene();
    let first = raise(&mut boat, T0);
    let cancel = answer(&mut boat, T0 + 30, first.id(), DistressStatus::Cancelled);
    let second = raise(&mut boat, T0 + 600);
    // Delivered out of order.
    deliver(
        &mut [&mut shore],
        T0 + 600,
        &[second.clone(), cancel, first.clone()],
    );
    let all = shore.fleet.distress_incidents(ms(T0 + 600));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].incident, first.id());
    assert_eq!(all[0].state, DistressState::Cancelled);
    assert_eq!(all[1].incident, second.id());
    assert_eq!(all[1].state, DistressState::Open);
    assert_eq!(shore.fleet.open_distress(ms(T0 + 600)).len(), 1);
}

#[test]
fn the_open_list_shows_who_acknowledged_who_is_coming_and_the_nearest_vessels() {
    let (mut boat, mut shore, mut other) = scene();
    let mut near = node(4);
    let mut far = node(5);
    let mut stale = node(6);
    let at = (30.10, 122.60);
    let pos = [
        position(&mut other, T0 - 60, at.0 + 0.05, at.1), // ~5.6 km
        position(&mut near, T0 - 60, at.0 + 0.01, at.1),  // ~1.1 km
        position(&mut far, T0 - 60, SHENJIAMEN.0, SHENJIAMEN.1),
        position(&mut stale, T0 - 7 * 3600, at.0, at.1 + 0.001), // 7 h old
        position(&mut boat, T0 - 60, at.0, at.1),
    ];
    let cfg_nearest = FleetConfig::default().nearest_count;
    assert_eq!(cfg_nearest, 5);
    let first = raise(&mut boat, T0);
    deliver(&mut [&mut shore, &mut near], T0, &pos);
    let ev = near.see(T0, &first);
    assert!(
        matches!(
            &ev[..],
            [Event::DistressRaised {
                nearest_rank: Some(0),
                mine: false,
                persons: Some(9),
                ..
            }]
        ),
        "{ev:?}"
    );
    shore.see(T0, &first);
    let ack = answer(
        &mut shore,
        T0 + 20,
        first.id(),
        DistressStatus::Acknowledged,
    );
    near.see(T0, &first);
    let coming = answer(
        &mut near,
        T0 + 30,
        first.id(),
        DistressStatus::Responding { eta_min: 10 },
    );
    other.see(T0, &first);
    let coming2 = answer(
        &mut other,
        T0 + 40,
        first.id(),
        DistressStatus::Responding { eta_min: 25 },
    );
    deliver(&mut [&mut shore], T0 + 40, &[ack, coming, coming2]);
    let v = &shore.fleet.open_distress(ms(T0 + 60))[0];
    assert_eq!(v.author, boat.pk());
    assert_eq!(v.nature, DistressNature::Flooding);
    assert_eq!(v.persons, Some(9));
    assert_eq!(v.acknowledged_by.len(), 1);
    assert_eq!(v.acknowledged_by[0].key, shore.pk());
    assert_eq!(v.acknowledged_by[0].name.as_deref(), Some("沈家门海岸站"));
    assert_eq!(v.responders.len(), 2);
    assert_eq!(v.responders[0].key, near.pk());
    assert_eq!(
        v.responders[0].eta_at,
        Some(Timestamp((T0 + 30 + 600) as u32))
    );
    assert!(
        v.responders[0]
            .distance_km
            .is_some_and(|d| (1.0..1.3).contains(&d))
    );
    let nearest: Vec<PublicKey> = v.nearest.iter().map(|n| n.key).collect();
    assert_eq!(
        nearest,
        vec![near.pk(), other.pk(), far.pk()],
        "author and stale fixes left out"
    );
    assert!(
        v.nearest
            .windows(2)
            .all(|w| w[0].distance_km <= w[1].distance_km)
    );
    // On scene: first in the list.
    let here = answer(&mut other, T0 + 900, first.id(), DistressStatus::OnScene);
    shore.see(T0 + 900, &here);
    let v = &shore.fleet.open_distress(ms(T0 + 900))[0];
    assert!(v.responders[0].on_scene && v.responders[0].key == other.pk());
}

#[test]
fn a_distress_is_shown_whatever_its_author() {
    let (_, mut shore, _) = scene();
    let mut rogue = node(7);
    let mut stranger = node(8);
    shore.see(
        T0 - 50,
        &cert(&bureau(), &rogue.pk(), Role::Vessel, "rogue", T0 - 50),
    );
    shore.see(
        T0 - 40,
        &revocation(
            &bureau(),
            &rogue.pk(),
            RevocationReason::Compromised,
            T0 - 40,
        ),
    );
    let a = raise(&mut rogue, T0);
    let b = raise(&mut stranger, T0);
    let ev = shore.see(T0, &a);
    assert!(matches!(&ev[..], [Event::DistressRaised { .. }]));
    shore.see(T0, &b);
    let open = shore.fleet.open_distress(ms(T0));
    assert_eq!(open.len(), 2);
    let r = open.iter().find(|v| v.author == rogue.pk()).unwrap();
    assert!(r.revoked && !r.certified);
    let s = open.iter().find(|v| v.author == stranger.pk()).unwrap();
    assert!(!s.revoked && !s.certified);
    // But a revoked key's answers are refused.
    let ack = rogue.write(
        T0 + 1,
        Destination::Everyone,
        Body::DistressUpdate {
            distress: b.id(),
            status: DistressStatus::Acknowledged,
            text: String::new(),
        },
    );
    assert_eq!(refusals(&shore.see(T0 + 1, &ack)), vec![Refusal::Revoked]);
}

#[test]
fn updates_that_arrive_before_their_distress_take_effect_when_it_does() {
    let (mut boat, mut shore, mut other) = scene();
    let first = raise(&mut boat, T0);
    other.see(T0, &first);
    let coming = answer(
        &mut other,
        T0 + 30,
        first.id(),
        DistressStatus::Responding { eta_min: 5 },
    );
    assert!(shore.see(T0 + 30, &coming).is_empty());
    shore.see(T0 + 31, &first);
    assert_eq!(
        shore.fleet.open_distress(ms(T0 + 31))[0].responders.len(),
        1
    );
}

#[test]
fn distress_records_expire() {
    let (mut boat, mut shore, _) = scene();
    let first = raise(&mut boat, T0);
    shore.see(T0, &first);
    let ttl = u64::from(FleetConfig::default().distress_ttl_min) * 60;
    shore.fleet.poll(ms(T0 + ttl - 1));
    assert_eq!(shore.fleet.distress_incidents(ms(T0 + ttl - 1)).len(), 1);
    shore.fleet.poll(ms(T0 + ttl + 60));
    assert!(shore.fleet.distress_incidents(ms(T0 + ttl + 60)).is_empty());
}

#[test]
fn repeats_beyond_the_per_author_bound_are_folded_and_still_name_the_incident() {
    let (mut boat, mut shore, _) = scene();
    let first = raise(&mut boat, T0);
    shore.see(T0, &first);
    let mut all = vec![first.clone()];
    for i in 1..(MAX_DISTRESS_PER_AUTHOR as u64 + 40) {
        let r = raise(&mut boat, T0 + i * 240);
        shore.see(T0 + i * 240, &r);
        all.push(r);
    }
    let v = shore.fleet.open_distress(ms(T0 + 50_000));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].incident, first.id());
    assert_eq!(v[0].alerts, all.len());
    // An acknowledgement naming an early, folded repeat still reaches the incident.
    let mut s2 = node(2);
    s2.seq = 1000;
    let d = shore
        .fleet
        .answer_distress(
            ms(T0 + 50_000),
            all[3].id(),
            DistressStatus::Acknowledged,
            "",
        )
        .unwrap();
    let ack = shore.sign(T0 + 50_000, d);
    let ev = shore.see(T0 + 50_000, &ack);
    assert!(matches!(&ev[..], [Event::DistressUpdated { .. }]), "{ev:?}");
    let fold_target = Body::DistressUpdate {
        distress: all[2].id(),
        status: DistressStatus::OnScene,
        text: String::new(),
    };
    let mut helper = node(9);
    let on_scene = helper.write(T0 + 50_001, Destination::Everyone, fold_target);
    let ev = shore.see(T0 + 50_001, &on_scene);
    assert!(
        matches!(&ev[..], [Event::DistressUpdated { incident, .. }] if *incident == first.id()),
        "{ev:?}"
    );
    let _ = s2;
}

#[test]
fn the_tables_of_positions_and_distress_authors_are_bounded_and_keep_our_own() {
    let cfg = FleetConfig {
        max_vessels: 3,
        max_distress_authors: 2,
        ..config()
    };
    let mut me = node_with(1, cfg);
    let mine = raise(&mut me, T0);
    let mut others: Vec<Node> = (20..26).map(node).collect();
    for (i, o) in others.iter_mut().enumerate() {
        let t = T0 + 10 + i as u64;
        let p = position(o, t, 30.0, 122.0 + i as f64 * 0.01);
        me.see(t, &p);
        let d = raise(o, t);
        me.see(t, &d);
    }
    assert_eq!(me.fleet.vessels(ms(T0 + 100)).len(), 3);
    // The least recently heard were forgotten.
    assert!(me.fleet.vessel(&others[0].pk()).is_none());
    assert!(me.fleet.vessel(&others[5].pk()).is_some());
    let authors: Vec<PublicKey> = me
        .fleet
        .open_distress(ms(T0 + 100))
        .iter()
        .map(|d| d.author)
        .collect();
    assert_eq!(authors.len(), 2);
    assert!(
        authors.contains(&me.pk()),
        "our own distress is never evicted"
    );
    assert!(authors.contains(&others[5].pk()));
    assert_eq!(
        me.fleet.distress(ms(T0 + 100), &mine.id()).unwrap().author,
        me.pk()
    );
}

#[test]
fn next_timeout_names_the_next_repeat() {
    let mut boat = node(1);
    assert_eq!(boat.fleet.next_timeout(), None);
    raise(&mut boat, T0);
    let t = boat.fleet.next_timeout().unwrap();
    assert!((ms(T0 + 210)..=ms(T0 + 270)).contains(&t), "{t}");
    assert!(boat.fleet.poll(t - 1).is_empty());
    assert!(matches!(
        &boat.fleet.poll(t)[..],
        [Action::RepeatDistress { .. }]
    ));
}
