//! Pairs, pair alerts and buddy watch.

use haiqiao_proto::*;

use super::*;
use crate::*;

/// Alice and Bob pair at T0 (both sign), each seeing both halves.
fn paired() -> (Node, Node, Vec<Record>) {
    let mut a = node(1);
    let mut b = node(2);
    let ra = a.sign(T0, a.fleet.pair_with(b.pk()).unwrap());
    let rb = b.sign(T0, b.fleet.pair_with(a.pk()).unwrap());
    deliver(&mut [&mut a, &mut b], T0, &[ra.clone(), rb.clone()]);
    (a, b, vec![ra, rb])
}

#[test]
fn a_pair_stands_once_both_have_signed_and_ends_when_one_leaves() {
    let mut a = node(1);
    let mut b = node(2);
    let mut shore = node(3);
    let ra = a.sign(T0, a.fleet.pair_with(b.pk()).unwrap());
    let ev = shore.see(T0, &ra);
    assert_eq!(
        ev,
        vec![Event::PairingRequested {
            from: a.pk(),
            to: b.pk()
        }]
    );
    assert!(shore.fleet.pairs().is_empty());
    let rb = b.sign(T0 + 60, b.fleet.pair_with(a.pk()).unwrap());
    let ev = shore.see(T0 + 60, &rb);
    let (x, y) = if a.pk() < b.pk() {
        (a.pk(), b.pk())
    } else {
        (b.pk(), a.pk())
    };
    assert_eq!(ev, vec![Event::Paired { a: x, b: y }]);
    assert_eq!(
        shore.fleet.pairs(),
        vec![PairView {
            a: x,
            b: y,
            since: Timestamp((T0 + 60) as u32)
        }]
    );
    // An older statement arriving late changes nothing.
    let stale = b.sign(T0 - 10, b.fleet.leave_pair(a.pk()).unwrap());
    assert!(shore.see(T0 + 61, &stale).is_empty());
    assert_eq!(shore.fleet.pairs().len(), 1);
    let leave = b.sign(T0 + 120, b.fleet.leave_pair(a.pk()).unwrap());
    assert_eq!(
        shore.see(T0 + 120, &leave),
        vec![Event::Unpaired { a: x, b: y }]
    );
    assert!(shore.fleet.pairs().is_empty());
}

#[test]
fn a_vessel_cannot_pair_with_itself_or_beyond_its_partner_limit() {
    let mut a = node(1);
    assert_eq!(a.fleet.pair_with(a.pk()), Err(FleetError::SelfPairing));
    let own = a.write(
        T0,
        Destination::Everyone,
        Body::Pairing {
            partner: a.pk(),
            paired: true,
        },
    );
    let mut shore = node(9);
    assert_eq!(refusals(&shore.see(T0, &own)), vec![Refusal::SelfPairing]);
    let cfg = FleetConfig {
        max_partners: 2,
        ..config()
    };
    let mut shore = node_with(9, cfg);
    for p in 10..12u8 {
        let r = a.sign(T0, a.fleet.pair_with(keypair(p).public()).unwrap());
        assert!(refusals(&shore.see(T0, &r)).is_empty());
    }
    let r = a.sign(T0, a.fleet.pair_with(keypair(12).public()).unwrap());
    assert_eq!(refusals(&shore.see(T0, &r)), vec![Refusal::TooManyPartners]);
}

#[test]
fn pair_alerts_reach_the_partner_and_need_a_pair() {
    let (mut a, mut b, _) = paired();
    let stranger = node(5);
    assert_eq!(
        a.fleet
            .pair_alert(stranger.pk(), PairAlertKind::GearFouled, None, "x"),
        Err(FleetError::NotPaired(stranger.pk().hint()))
    );
    let d = a
        .fleet
        .pair_alert(
            b.pk(),
            PairAlertKind::ManOverboard,
            Some(Fix::from_degrees(30.1, 122.5)),
            "有人落水",
        )
        .unwrap();
    assert_eq!(d.dest, Destination::pair(a.pk().hint(), b.pk().hint()));
    let r = a.sign(T0 + 5, d);
    let ev = b.see(T0 + 5, &r);
    assert_eq!(
        ev,
        vec![Event::PairAlert {
            from: a.pk(),
            from_partner: true,
            alert: PairAlertKind::ManOverboard,
            fix: Some(Fix::from_degrees(30.1, 122.5)),
            text: "有人落水".into(),
        }]
    );
    // The sender does not alert itself; a third node is not addressed.
    assert!(a.see(T0 + 5, &r).is_empty());
    let mut c = node(6);
    assert!(c.see(T0 + 5, &r).is_empty());
}

#[test]
fn buddy_watch_raises_the_alarm_when_the_partner_goes_silent_and_clears_it_when_heard() {
    let (mut a, mut b, _) = paired();
    let interval = u64::from(FleetConfig::default().buddy_watch_s);
    let p = position(&mut b, T0 + 100, 30.2, 122.4);
    a.see(T0 + 100, &p);
    assert!(a.fleet.poll(ms(T0 + 100)).is_empty());
    // Due: last heard + interval.
    let due = T0 + 100 + interval;
    assert!(a.fleet.next_timeout().is_some_and(|t| t <= ms(due)));
    assert!(a.fleet.poll(ms(due - 1)).is_empty());
    assert!(a.fleet.overdue_partners(ms(due - 1)).is_empty());
    let acts = a.fleet.poll(ms(due));
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(
        acts[0],
        Action::RaiseBuddyAlarm {
            partner: b.pk(),
            last_heard: Some(Timestamp((T0 + 100) as u32)),
            fix: Some(Fix::from_degrees(30.2, 122.4)),
        }
    );
    let Action::AlertShore {
        partner,
        overdue: true,
        draft,
    } = &acts[1]
    else {
        panic!("{acts:?}");
    };
    assert_eq!(*partner, b.pk());
    assert_eq!(draft.dest, Destination::Shore);
    assert_eq!(draft.body.priority(), Priority::Safety);
    assert_eq!(a.fleet.overdue_partners(ms(due)).len(), 1);
    assert!(a.fleet.partners(ms(due))[0].alarm);
    // Raised once.
    assert!(a.fleet.poll(ms(due + 600)).is_empty());
    // Shore hears about it.
    let mut shore = node(3);
    let report = a.sign(due, draft.clone());
    let ev = shore.see(due, &report);
    assert!(
        matches!(&ev[..], [Event::BuddyReport { overdue: true, .. }]),
        "{ev:?}"
    );
    assert!(shore.fleet.buddy_reports()[0].overdue);
    // A delayed old record does not clear it; a fresh one does.
    let old = position(&mut b, T0 + 200, 30.2, 122.4);
    assert!(a.see(due + 700, &old).is_empty());
    assert!(a.fleet.poll(ms(due + 700)).is_empty());
    let fresh = position(&mut b, due + 800, 30.3, 122.4);
    assert_eq!(
        a.see(due + 800, &fresh),
        vec![Event::PartnerHeard { partner: b.pk() }]
    );
    let acts = a.fleet.poll(ms(due + 800));
    assert!(
        matches!(
            &acts[..],
            [
                Action::ClearBuddyAlarm { .. },
                Action::AlertShore { overdue: false, .. }
            ]
        ),
        "{acts:?}"
    );
    let cleared = a.sign(due + 800, acts[1].draft().unwrap().clone());
    shore.see(due + 800, &cleared);
    assert!(!shore.fleet.buddy_reports()[0].overdue);
    assert!(!a.fleet.partners(ms(due + 800))[0].alarm);
}

#[test]
fn buddy_watch_counts_from_the_pairing_when_the_partner_was_never_heard() {
    let mut a = node(1);
    let b = node(2);
    let ra = a.sign(T0, a.fleet.pair_with(b.pk()).unwrap());
    // B's half arrives by way of another node: B itself is not heard otherwise.
    let mut b = b;
    let rb = b.sign(T0 + 30, b.fleet.pair_with(a.pk()).unwrap());
    a.see(T0, &ra);
    a.see(T0 + 30, &rb);
    let due = T0 + 30 + 30 * 60;
    assert!(a.fleet.poll(ms(due - 1)).is_empty());
    assert_eq!(a.fleet.poll(ms(due)).len(), 2);
}

#[test]
fn buddy_watch_is_off_at_zero_and_ends_with_the_pair() {
    let mut a = node_with(
        1,
        FleetConfig {
            buddy_watch_s: 0,
            ..config()
        },
    );
    let mut b = node(2);
    let ra = a.sign(T0, a.fleet.pair_with(b.pk()).unwrap());
    let rb = b.sign(T0, b.fleet.pair_with(a.pk()).unwrap());
    deliver(&mut [&mut a], T0, &[ra, rb]);
    assert!(a.fleet.poll(ms(T0 + 86_400)).is_empty());

    let (mut a, mut b, _) = paired();
    assert_eq!(a.fleet.poll(ms(T0 + 3600)).len(), 2);
    let leave = b.sign(T0 + 3700, b.fleet.leave_pair(a.pk()).unwrap());
    a.see(T0 + 3700, &leave);
    assert_eq!(
        a.fleet.poll(ms(T0 + 3700)),
        vec![Action::ClearBuddyAlarm { partner: b.pk() }]
    );
}

#[test]
fn our_pairing_is_renewed_before_it_expires() {
    let (mut a, _b, _) = paired();
    let ttl = u64::from(FleetConfig::default().pairing_ttl_min) * 60;
    let renew_at = T0 + ttl - 24 * 3600;
    let acts = a.fleet.poll(ms(renew_at - 1));
    assert!(
        !acts
            .iter()
            .any(|x| matches!(x, Action::RenewPairing { .. }))
    );
    let acts = a.fleet.poll(ms(renew_at));
    let renewals: Vec<_> = acts
        .iter()
        .filter(|x| matches!(x, Action::RenewPairing { .. }))
        .collect();
    assert_eq!(renewals.len(), 1, "{acts:?}");
    // Asked once.
    assert!(
        !a.fleet
            .poll(ms(renew_at + 1))
            .iter()
            .any(|x| matches!(x, Action::RenewPairing { .. }))
    );
}

#[test]
fn a_revoked_vessel_pairs_with_nobody() {
    let (mut a, b, recs) = paired();
    let mut shore = node(3);
    deliver(&mut [&mut shore], T0, &recs);
    assert_eq!(shore.fleet.pairs().len(), 1);
    let rev = revocation(&bureau(), &b.pk(), RevocationReason::Compromised, T0 + 10);
    shore.see(T0 + 10, &rev);
    a.see(T0 + 10, &rev);
    assert!(shore.fleet.pairs().is_empty());
    assert!(a.fleet.partners(ms(T0 + 10)).is_empty());
}

#[test]
fn pairings_expire_with_their_records() {
    let (mut a, _b, _) = paired();
    let ttl = u64::from(FleetConfig::default().pairing_ttl_min) * 60;
    a.fleet.poll(ms(T0 + ttl));
    assert!(a.fleet.pairs().is_empty());
}

#[test]
fn renewing_a_pairing_does_not_reset_buddy_watch() {
    let (mut a, mut b, _) = paired();
    let acts = a.fleet.poll(ms(T0 + 1800));
    assert_eq!(acts.len(), 2, "alarm raised: {acts:?}");
    let since = a.fleet.pairs()[0].since;
    // Both renew; the partner's renewal is a record from it (heard), ours is not.
    let mine = a.sign(T0 + 1900, a.fleet.pair_with(b.pk()).unwrap());
    a.see(T0 + 1900, &mine);
    assert!(
        a.fleet.poll(ms(T0 + 1900)).is_empty(),
        "our renewal is not the partner heard"
    );
    assert_eq!(a.fleet.pairs()[0].since, since);
    let theirs = b.sign(T0 + 2000, b.fleet.pair_with(a.pk()).unwrap());
    a.see(T0 + 2000, &theirs);
    assert!(matches!(
        &a.fleet.poll(ms(T0 + 2000))[..],
        [Action::ClearBuddyAlarm { .. }, _]
    ));
    assert_eq!(a.fleet.pairs()[0].since, since);
}
