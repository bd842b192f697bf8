//! Views depend on the set of records held, not on the order they arrived in.

use haiqiao_proto::*;

use super::*;
use crate::rng::SplitMix64;
use crate::*;

/// A day at sea as records: certificates, pairs, positions, a distress with answers and a
/// false alert, two competing acceptances, an agreement co-signed, a revocation.
fn day() -> Vec<Record> {
    let mut log: Vec<Record> = Vec::new();
    let mut a = node(1);
    let mut b = node(2);
    let mut c = node(3);
    let mut m1 = node(10);
    let mut m2 = node(11);
    let mut shore = node(12);
    let post = |r: Record, nodes: &mut [&mut Node], log: &mut Vec<Record>| {
        for n in nodes.iter_mut() {
            n.see(r.envelope().created.secs(), &r);
        }
        log.push(r);
    };
    macro_rules! all {
        () => {
            &mut [&mut a, &mut b, &mut c, &mut m1, &mut m2, &mut shore]
        };
    }
    for (k, role) in [
        (m1.pk(), Role::Mediator),
        (m2.pk(), Role::Mediator),
        (shore.pk(), Role::Shore),
    ] {
        post(cert(&bureau(), &k, role, "x", T0 - 3600), all!(), &mut log);
    }
    for m in [&mut m1, &mut m2] {
        let d = m
            .fleet
            .announce_duty(
                ms(T0 - 100),
                vec![],
                CategorySet::ALL,
                Timestamp((T0 - 100) as u32),
                Timestamp((T0 + 86_400) as u32),
                DailyHours::ALL_DAY,
            )
            .unwrap();
        let _ = d;
        let d = Draft {
            dest: Destination::Everyone,
            ttl_min: 24 * 60,
            body: Body::MediatorDuty {
                areas: vec![DutyArea {
                    area: AreaId(7),
                    bounds: GeoBox::from_degrees(29.0, 121.0, 31.0, 124.0),
                }],
                categories: CategorySet::ALL,
                from: Timestamp((T0 - 100) as u32),
                until: Timestamp((T0 + 86_400) as u32),
                daily: DailyHours::ALL_DAY,
            },
        };
        log.push(m.sign(T0 - 100, d));
    }
    let r = a.sign(T0, a.fleet.pair_with(b.pk()).unwrap());
    post(r, all!(), &mut log);
    let r = b.sign(T0 + 5, b.fleet.pair_with(a.pk()).unwrap());
    post(r, all!(), &mut log);
    for (i, n) in [&mut a, &mut b, &mut c].into_iter().enumerate() {
        let r = position(n, T0 + 10 + i as u64, 30.0 + i as f64 * 0.05, 122.5);
        log.push(r);
    }
    // c raises a distress, cancels it (false alert), raises again; shore acknowledges, a and
    // b respond; a stranger's forged cancellation.
    let d = c.fleet.raise_distress(
        DistressNature::Fire,
        Some(Fix::from_degrees(30.1, 122.5)),
        Some(4),
        "起火",
    );
    let d1 = c.sign(T0 + 100, d);
    post(d1.clone(), all!(), &mut log);
    let r = c.sign(
        T0 + 130,
        c.fleet
            .answer_distress(ms(T0 + 130), d1.id(), DistressStatus::Cancelled, "误报")
            .unwrap(),
    );
    post(r, all!(), &mut log);
    let d = c
        .fleet
        .raise_distress(DistressNature::Sinking, None, Some(4), "进水下沉");
    let d2 = c.sign(T0 + 400, d);
    post(d2.clone(), all!(), &mut log);
    let d = c
        .fleet
        .raise_distress(DistressNature::Sinking, None, Some(4), "进水下沉");
    let d3 = c.sign(T0 + 640, d);
    post(d3.clone(), all!(), &mut log);
    let r = shore.sign(
        T0 + 700,
        shore
            .fleet
            .answer_distress(ms(T0 + 700), d3.id(), DistressStatus::Acknowledged, "收到")
            .unwrap(),
    );
    post(r, all!(), &mut log);
    let r = a.sign(
        T0 + 710,
        a.fleet
            .answer_distress(
                ms(T0 + 710),
                d2.id(),
                DistressStatus::Responding { eta_min: 20 },
                "",
            )
            .unwrap(),
    );
    post(r, all!(), &mut log);
    let r = b.write(
        T0 + 720,
        Destination::Everyone,
        Body::DistressUpdate {
            distress: d2.id(),
            status: DistressStatus::Cancelled,
            text: String::new(),
        },
    );
    post(r, all!(), &mut log);
    // A dispute between a and b; both mediators accept; m1 first.
    let parties = vec![Party {
        key: Some(b.pk().hint()),
        name: "b".into(),
    }];
    let d = a
        .fleet
        .file_dispute(
            DisputeCategory::GearDamage,
            parties,
            Some(Fix::from_degrees(30.0, 122.5)),
            "网",
            vec![],
        )
        .unwrap();
    let rep = a.sign(T0 + 1000, d);
    let case = rep.id();
    post(rep, all!(), &mut log);
    let r1 = m1.sign(
        T0 + 1100,
        m1.fleet.accept_case(ms(T0 + 1100), case).unwrap(),
    );
    let r2 = m2.sign(
        T0 + 1101,
        m2.fleet.accept_case(ms(T0 + 1101), case).unwrap(),
    );
    post(r1, all!(), &mut log);
    post(r2, all!(), &mut log);
    let r = m1.sign(T0 + 1200, m1.fleet.propose_agreement(case, "和").unwrap());
    post(r, all!(), &mut log);
    let r = b.sign(T0 + 1300, b.fleet.cosign(case).unwrap());
    post(r, all!(), &mut log);
    let r = a.sign(T0 + 1400, a.fleet.cosign(case).unwrap());
    post(r, all!(), &mut log);
    // m2 is revoked after the fact (retired: its past stands).
    post(
        revocation(&bureau(), &m2.pk(), RevocationReason::Retired, T0 + 1500),
        all!(),
        &mut log,
    );
    log
}

#[derive(Debug, PartialEq)]
struct Views {
    pairs: Vec<PairView>,
    partners: Vec<PartnerView>,
    distress: Vec<DistressView>,
    cases: Vec<CaseView>,
    stats: CaseStats,
    duties: Vec<DutyView>,
}

fn views_after(records: &[Record], me: u8) -> Views {
    let mut n = node(me);
    for r in records {
        n.see(T0 + 2000, r);
    }
    let now = ms(T0 + 2000);
    Views {
        pairs: n.fleet.pairs(),
        partners: n.fleet.partners(now),
        distress: n.fleet.distress_incidents(now),
        cases: n.fleet.cases(),
        stats: n.fleet.case_stats(),
        duties: n.fleet.duties(now),
    }
}

#[test]
fn every_order_of_arrival_gives_the_same_views() {
    let seed = seed(0x5eed);
    let log = day();
    let want = views_after(&log, 1);
    // The scenario did what it meant to.
    assert_eq!(want.pairs.len(), 1);
    assert_eq!(want.distress.len(), 2);
    assert_eq!(want.distress[0].state, DistressState::Cancelled);
    assert_eq!(want.distress[1].state, DistressState::Answered);
    assert_eq!(want.distress[1].alerts, 2);
    assert_eq!(want.cases[0].stage, CaseStage::Closed);
    assert_eq!(want.cases[0].mediator, Some(node(10).pk()));
    assert_eq!(want.cases[0].other_acceptances, vec![node(11).pk()]);
    let mut rng = SplitMix64::new(seed);
    for round in 0..40 {
        let mut shuffled = log.clone();
        // Fisher-Yates.
        for i in (1..shuffled.len()).rev() {
            let j = rng.between(0, i as u64) as usize;
            shuffled.swap(i, j);
        }
        assert_eq!(
            views_after(&shuffled, 1),
            want,
            "round {round}, SEED={seed}"
        );
    }
}
