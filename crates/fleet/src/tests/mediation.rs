//! Duty announcements, cases, agreements, statistics.

use haiqiao_proto::*;

use super::*;
use crate::*;

/// Where the disputes happen: off Daishan.
fn spot() -> Fix {
    Fix::from_degrees(30.40, 122.30)
}

fn daishan_north() -> DutyArea {
    DutyArea {
        area: AreaId(31),
        bounds: GeoBox::from_degrees(30.2, 121.9, 30.6, 122.6),
    }
}

struct Sea {
    a: Node,
    b: Node,
    m1: Node,
    m2: Node,
    shore: Node,
    /// Every record written so far, for late joiners.
    log: Vec<Record>,
}

impl Sea {
    fn all(&mut self) -> [&mut Node; 5] {
        [
            &mut self.a,
            &mut self.b,
            &mut self.m1,
            &mut self.m2,
            &mut self.shore,
        ]
    }

    /// Every node sees `r`.
    fn post(&mut self, at_s: u64, r: Record) -> Vec<Vec<Event>> {
        let out = self.all().iter_mut().map(|n| n.see(at_s, &r)).collect();
        self.log.push(r);
        out
    }
}

/// Two vessels (a reports, b is the other party), two certified mediators on duty for
/// Daishan north (all categories, all day), a certified shore station.
fn sea() -> Sea {
    let mut s = Sea {
        a: node(1),
        b: node(2),
        m1: node(10),
        m2: node(11),
        shore: node(12),
        log: Vec::new(),
    };
    let certs = vec![
        cert(
            &bureau(),
            &s.m1.pk(),
            Role::Mediator,
            "海上老娘舅 1",
            T0 - 3600,
        ),
        cert(&bureau(), &s.m2.pk(), Role::Mediator, "瀛洲红帆", T0 - 3600),
        cert(&bureau(), &s.shore.pk(), Role::Shore, "岱山站", T0 - 3600),
        cert(&bureau(), &s.a.pk(), Role::Vessel, "浙岱渔03315", T0 - 3600),
    ];
    for c in certs {
        s.post(T0 - 3600, c);
    }
    for i in 0..2 {
        let m = if i == 0 { &mut s.m1 } else { &mut s.m2 };
        let d = m
            .fleet
            .announce_duty(
                ms(T0 - 1800),
                vec![daishan_north()],
                CategorySet::ALL,
                Timestamp((T0 - 1800) as u32),
                Timestamp((T0 + 30 * 86_400) as u32),
                DailyHours::ALL_DAY,
            )
            .unwrap();
        let r = m.sign(T0 - 1800, d);
        s.post(T0 - 1800, r);
    }
    s
}

fn file(s: &mut Sea, at_s: u64) -> Record {
    let parties = vec![Party {
        key: Some(s.b.pk().hint()),
        name: "浙岱渔03316".into(),
    }];
    let d =
        s.a.fleet
            .file_dispute(
                DisputeCategory::GearDamage,
                parties,
                Some(spot()),
                "流刺网被割断约300米",
                vec![[1; 32]],
            )
            .unwrap();
    s.a.sign(at_s, d)
}

fn role_of(events: &[Event]) -> Option<Option<CaseRole>> {
    events.iter().find_map(|e| match e {
        Event::DisputeFiled { my_role, .. } => Some(*my_role),
        _ => None,
    })
}

#[test]
fn duty_announcements_route_disputes_by_area_category_and_hours() {
    let mut s = sea();
    let fleet = &s.shore.fleet;
    let now = ms(T0);
    let both = {
        let mut v = vec![s.m1.pk(), s.m2.pk()];
        v.sort();
        v
    };
    assert_eq!(
        fleet.mediators_for(now, DisputeCategory::GearDamage, Some(&spot())),
        both
    );
    assert!(
        fleet
            .mediators_for(
                now,
                DisputeCategory::GearDamage,
                Some(&Fix::from_degrees(29.0, 122.3))
            )
            .is_empty()
    );
    // No position: every on-duty mediator for the category.
    assert_eq!(
        fleet
            .mediators_for(now, DisputeCategory::Collision, None)
            .len(),
        2
    );
    assert_eq!(fleet.areas_at(now, &spot()), vec![daishan_north()]);
    // m2 narrows to fishing grounds, 22:00-14:00 UTC (06:00-22:00 Beijing).
    let d =
        s.m2.fleet
            .announce_duty(
                ms(T0),
                vec![daishan_north()],
                CategorySet::of(&[DisputeCategory::FishingGround]),
                Timestamp(T0 as u32),
                Timestamp((T0 + 86_400) as u32),
                DailyHours {
                    start_min: 22 * 60,
                    end_min: 14 * 60,
                },
            )
            .unwrap();
    let r = s.m2.sign(T0, d);
    s.post(T0, r);
    let fleet = &s.shore.fleet;
    assert_eq!(
        fleet.mediators_for(now, DisputeCategory::GearDamage, Some(&spot())),
        vec![s.m1.pk()]
    );
    let midnight_utc = (T0 / 86_400 + 1) * 86_400;
    let (on, off) = (ms(midnight_utc + 3600), ms(midnight_utc + 15 * 3600));
    assert!(
        fleet
            .mediators_for(on, DisputeCategory::FishingGround, Some(&spot()))
            .contains(&s.m2.pk())
    );
    assert!(
        !fleet
            .mediators_for(off, DisputeCategory::FishingGround, Some(&spot()))
            .contains(&s.m2.pk())
    );
    // Off duty: no areas.
    let d =
        s.m1.fleet
            .announce_duty(
                ms(T0 + 10),
                vec![],
                CategorySet::ALL,
                Timestamp((T0 + 10) as u32),
                Timestamp((T0 + 20) as u32),
                DailyHours::ALL_DAY,
            )
            .unwrap();
    let r = s.m1.sign(T0 + 10, d);
    s.post(T0 + 10, r);
    assert!(
        s.shore
            .fleet
            .mediators_for(ms(T0 + 11), DisputeCategory::GearDamage, Some(&spot()))
            .is_empty()
    );
    assert_eq!(s.shore.fleet.duties(ms(T0 + 11)).len(), 2);
}

#[test]
fn an_uncertified_mediators_announcement_is_refused_and_routes_nothing() {
    let mut s = sea();
    let mut fake = node(20);
    let d = fake
        .fleet
        .announce_duty(
            ms(T0),
            vec![daishan_north()],
            CategorySet::ALL,
            Timestamp(T0 as u32),
            Timestamp((T0 + 86_400) as u32),
            DailyHours::ALL_DAY,
        )
        .unwrap();
    let r = fake.sign(T0, d);
    let ev = s.shore.see(T0, &r);
    assert_eq!(refusals(&ev), vec![Refusal::UncertifiedMediator]);
    assert!(
        !s.shore
            .fleet
            .mediators_for(ms(T0), DisputeCategory::Other, Some(&spot()))
            .contains(&fake.pk())
    );
    assert_eq!(
        fake.fleet.announce_duty(
            ms(T0),
            vec![],
            CategorySet::ALL,
            Timestamp(5),
            Timestamp(5),
            DailyHours::ALL_DAY
        ),
        Err(FleetError::EmptyDuty)
    );
}

#[test]
fn a_dispute_is_mediated_agreed_co_signed_and_closed() {
    let mut s = sea();
    let report = file(&mut s, T0);
    let case = report.id();
    let ev = s.post(T0, report);
    // Everyone is told, each in its part.
    assert_eq!(role_of(&ev[0]), Some(Some(CaseRole::Reporter)));
    assert_eq!(role_of(&ev[1]), Some(Some(CaseRole::Party)));
    assert_eq!(role_of(&ev[2]), Some(Some(CaseRole::Offered)));
    assert_eq!(role_of(&ev[3]), Some(Some(CaseRole::Offered)));
    assert_eq!(role_of(&ev[4]), Some(None));
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.stage, CaseStage::Filed);
    assert_eq!(v.offered_to.len(), 2);
    assert_eq!(v.reporter_name.as_deref(), Some("浙岱渔03315"));

    // m1 accepts.
    let d = s.m1.fleet.accept_case(ms(T0 + 600), case).unwrap();
    let acc = s.m1.sign(T0 + 600, d);
    let ev = s.post(T0 + 600, acc);
    for e in &ev {
        assert!(
            e.iter().any(
                |e| matches!(e, Event::CaseAccepted { mediator, .. } if *mediator == s.m1.pk())
            ),
            "{e:?}"
        );
    }
    // m2 is told it is taken, and may not accept any more.
    assert_eq!(
        s.m2.fleet.accept_case(ms(T0 + 601), case),
        Err(FleetError::AlreadyAccepted(s.m1.pk().hint()))
    );
    // Only the mediator posts steps.
    assert_eq!(
        s.m2.fleet.case_progress(case, "x"),
        Err(FleetError::NotTheMediator)
    );
    let d = s.m1.fleet.case_progress(case, "已联系双方船长").unwrap();
    let step = s.m1.sign(T0 + 1200, d);
    let ev = s.post(T0 + 1200, step);
    assert!(ev[1].iter().any(|e| matches!(e, Event::CaseProgress { status: CaseStatus::InMediation, text, my_role: Some(CaseRole::Party), .. } if text == "已联系双方船长")));
    // Nothing to sign yet.
    assert_eq!(s.b.fleet.cosign(case), Err(FleetError::NoAgreement));
    let text = "拖网船赔偿流刺网损失人民币8000元。";
    let d = s.m1.fleet.propose_agreement(case, text).unwrap();
    let prop = s.m1.sign(T0 + 3600, d);
    let ev = s.post(T0 + 3600, prop);
    assert!(ev[0].iter().any(|e| matches!(
        e,
        Event::CaseProgress {
            status: CaseStatus::AgreementProposed,
            my_role: Some(CaseRole::Reporter),
            ..
        }
    )));
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.stage, CaseStage::AgreementProposed);
    assert_eq!(v.agreement.as_ref().unwrap().hash, agreement_hash(text));
    assert_eq!(v.agreement.as_ref().unwrap().missing, 2);
    // The mediator is no party.
    assert_eq!(s.m1.fleet.cosign(case), Err(FleetError::NotAParty));
    // b signs, then a.
    let d = s.b.fleet.cosign(case).unwrap();
    let sb = s.b.sign(T0 + 4000, d);
    let ev = s.post(T0 + 4000, sb);
    assert!(
        ev[4]
            .iter()
            .any(|e| matches!(e, Event::AgreementSigned { remaining: 1, .. })),
        "{:?}",
        ev[4]
    );
    assert_eq!(
        s.shore.fleet.case(&case).unwrap().stage,
        CaseStage::AgreementProposed
    );
    let d = s.a.fleet.cosign(case).unwrap();
    let sa = s.a.sign(T0 + 4100, d);
    let ev = s.post(T0 + 4100, sa);
    for e in &ev {
        assert!(
            e.iter().any(|e| matches!(
                e,
                Event::CaseClosed {
                    by_signatures: true,
                    ..
                }
            )),
            "{e:?}"
        );
    }
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.stage, CaseStage::Closed);
    assert_eq!(v.finished, Some(Timestamp((T0 + 4100) as u32)));
    assert!(v.reporter_signed && v.parties[0].signed);
    assert!(!v.close_posted);
    // The mediator is asked, once, to post the closing update.
    let acts = s.m1.fleet.poll(ms(T0 + 4101));
    let closing: Vec<&Action> = acts
        .iter()
        .filter(|a| matches!(a, Action::CloseCase { .. }))
        .collect();
    assert_eq!(closing.len(), 1, "{acts:?}");
    assert!(
        !s.m1
            .fleet
            .poll(ms(T0 + 4102))
            .iter()
            .any(|a| matches!(a, Action::CloseCase { .. }))
    );
    assert!(
        !s.m2
            .fleet
            .poll(ms(T0 + 4102))
            .iter()
            .any(|a| matches!(a, Action::CloseCase { .. }))
    );
    let r = s.m1.sign(T0 + 4102, closing[0].draft().unwrap().clone());
    let ev = s.post(T0 + 4102, r);
    assert!(refusals(&ev[4]).is_empty(), "{:?}", ev[4]);
    let v = s.shore.fleet.case(&case).unwrap();
    assert!(v.close_posted);
    assert_eq!(v.finished, Some(Timestamp((T0 + 4100) as u32)));
    // Nothing more after the end.
    assert_eq!(
        s.m1.fleet.case_progress(case, "x"),
        Err(FleetError::CaseFinished)
    );
    assert_eq!(s.a.fleet.cosign(case), Err(FleetError::CaseFinished));
}

#[test]
fn the_first_acceptance_wins_and_the_other_is_told_even_when_it_arrives_late() {
    let mut s = sea();
    let report = file(&mut s, T0);
    let case = report.id();
    s.post(T0, report);
    let d = s.m1.fleet.accept_case(ms(T0 + 100), case).unwrap();
    let early = s.m1.sign(T0 + 100, d);
    let d = s.m2.fleet.accept_case(ms(T0 + 200), case).unwrap();
    let late = s.m2.sign(T0 + 200, d);
    // m2 sees its own acceptance first, then m1's earlier one.
    let ev = s.m2.see(T0 + 200, &late);
    assert!(ev.iter().any(|e| matches!(e, Event::CaseAccepted { mediator, my_role: Some(CaseRole::Mediator), .. } if *mediator == s.m2.pk())));
    let ev = s.m2.see(T0 + 300, &early);
    assert!(
        ev.contains(&Event::AcceptanceLost {
            case,
            winner: s.m1.pk()
        }),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::CaseAccepted { mediator, .. } if *mediator == s.m1.pk()))
    );
    // The shore, seeing them the other way round, agrees.
    s.shore.see(T0 + 100, &early);
    let ev = s.shore.see(T0 + 200, &late);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::CaseAccepted { .. })),
        "{ev:?}"
    );
    assert_eq!(s.shore.fleet.case(&case), s.m2.fleet.case(&case));
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.mediator, Some(s.m1.pk()));
    assert_eq!(v.other_acceptances, vec![s.m2.pk()]);
    // The loser's steps are refused.
    let step = s.m2.write(
        T0 + 400,
        Destination::Everyone,
        Body::CaseUpdate {
            case,
            status: CaseStatus::InMediation,
            text: "mine".into(),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 400, &step)),
        vec![Refusal::NotTheMediator]
    );
    assert!(s.shore.fleet.case(&case).unwrap().progress.is_empty());
}

#[test]
fn an_uncertified_mediator_cannot_accept() {
    let mut s = sea();
    let report = file(&mut s, T0);
    let case = report.id();
    s.post(T0, report);
    let mut fake = node(20);
    fake.see(T0, &s.log[s.log.len() - 1]);
    assert_eq!(
        fake.fleet.accept_case(ms(T0), case),
        Err(FleetError::NotCertifiedMediator)
    );
    let acc = fake.write(
        T0 + 50,
        Destination::Everyone,
        Body::CaseUpdate {
            case,
            status: CaseStatus::Accepted,
            text: String::new(),
        },
    );
    let ev = s.post(T0 + 50, acc);
    assert_eq!(refusals(&ev[4]), vec![Refusal::UncertifiedMediator]);
    assert_eq!(s.shore.fleet.case(&case).unwrap().stage, CaseStage::Filed);
    // A certified mediator who is a party may not accept either.
    let mut s = sea();
    let parties = vec![Party {
        key: Some(s.m1.pk().hint()),
        name: "调解船".into(),
    }];
    let d =
        s.a.fleet
            .file_dispute(DisputeCategory::Collision, parties, None, "撞船", vec![])
            .unwrap();
    let r = s.a.sign(T0, d);
    let case = r.id();
    s.post(T0, r);
    assert_eq!(
        s.m1.fleet.accept_case(ms(T0), case),
        Err(FleetError::MediatorIsParty)
    );
    let acc = s.m1.write(
        T0 + 5,
        Destination::Everyone,
        Body::CaseUpdate {
            case,
            status: CaseStatus::Accepted,
            text: String::new(),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 5, &acc)),
        vec![Refusal::MediatorIsParty]
    );
    assert!(
        !s.shore
            .fleet
            .case(&case)
            .unwrap()
            .offered_to
            .contains(&s.m1.pk())
    );
    // And a revoked mediator's acceptance is refused.
    let rev = revocation(&bureau(), &s.m2.pk(), RevocationReason::Compromised, T0 + 6);
    s.post(T0 + 6, rev);
    let acc = s.m2.write(
        T0 + 7,
        Destination::Everyone,
        Body::CaseUpdate {
            case,
            status: CaseStatus::Accepted,
            text: String::new(),
        },
    );
    assert_eq!(refusals(&s.shore.see(T0 + 7, &acc)), vec![Refusal::Revoked]);
}

/// A case accepted by m1 with an agreement proposed: (sea, case, agreement text).
fn proposed() -> (Sea, RecordId, &'static str) {
    let mut s = sea();
    let report = file(&mut s, T0);
    let case = report.id();
    s.post(T0, report);
    let d = s.m1.fleet.accept_case(ms(T0 + 100), case).unwrap();
    let r = s.m1.sign(T0 + 100, d);
    s.post(T0 + 100, r);
    let text = "各自承担损失";
    let d = s.m1.fleet.propose_agreement(case, text).unwrap();
    let r = s.m1.sign(T0 + 200, d);
    s.post(T0 + 200, r);
    (s, case, text)
}

#[test]
fn a_non_party_cannot_sign_and_its_signature_counts_for_nothing() {
    let (mut s, case, text) = proposed();
    let mut outsider = node(30);
    outsider.see(T0, &s.log[s.log.len() - 3]);
    assert_eq!(outsider.fleet.cosign(case), Err(FleetError::NotAParty));
    let forged = outsider.write(
        T0 + 300,
        Destination::Everyone,
        Body::AgreementSignature {
            case,
            agreement: agreement_hash(text),
        },
    );
    let ev = s.post(T0 + 300, forged);
    assert_eq!(refusals(&ev[4]), vec![Refusal::NotAParty]);
    // b signs; with the outsider's it would be "everyone" if it counted: it must not.
    let d = s.b.fleet.cosign(case).unwrap();
    let r = s.b.sign(T0 + 400, d);
    s.post(T0 + 400, r);
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.stage, CaseStage::AgreementProposed);
    assert_eq!(v.agreement.unwrap().signed_by, vec![s.b.pk()]);
    // The mediator's signature does not count either.
    let m = s.m1.write(
        T0 + 500,
        Destination::Everyone,
        Body::AgreementSignature {
            case,
            agreement: agreement_hash(text),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 500, &m)),
        vec![Refusal::NotAParty]
    );
}

#[test]
fn a_signature_on_another_text_or_by_a_revoked_party_is_refused() {
    let (mut s, case, _) = proposed();
    let other = s.b.write(
        T0 + 300,
        Destination::Everyone,
        Body::AgreementSignature {
            case,
            agreement: agreement_hash("赔偿一万元"),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 300, &other)),
        vec![Refusal::NotTheProposedAgreement]
    );
    let rev = revocation(
        &bureau(),
        &s.a.pk(),
        RevocationReason::Compromised,
        T0 + 350,
    );
    s.post(T0 + 350, rev);
    let d = s.b.fleet.cosign(case).unwrap();
    let r = s.b.sign(T0 + 400, d);
    s.post(T0 + 400, r);
    let sa = s.a.write(
        T0 + 500,
        Destination::Everyone,
        Body::AgreementSignature {
            case,
            agreement: agreement_hash("各自承担损失"),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 500, &sa)),
        vec![Refusal::Revoked]
    );
    assert_eq!(
        s.shore.fleet.case(&case).unwrap().stage,
        CaseStage::AgreementProposed
    );
}

#[test]
fn a_new_proposal_needs_new_signatures() {
    let (mut s, case, _) = proposed();
    let d = s.b.fleet.cosign(case).unwrap();
    let r = s.b.sign(T0 + 300, d);
    s.post(T0 + 300, r);
    let d =
        s.m1.fleet
            .propose_agreement(case, "改为赔偿5000元")
            .unwrap();
    let r = s.m1.sign(T0 + 400, d);
    s.post(T0 + 400, r);
    let d = s.a.fleet.cosign(case).unwrap();
    let r = s.a.sign(T0 + 500, d);
    s.post(T0 + 500, r);
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.stage, CaseStage::AgreementProposed);
    assert_eq!(v.agreement.unwrap().signed_by, vec![s.a.pk()]);
    let d = s.b.fleet.cosign(case).unwrap();
    let r = s.b.sign(T0 + 600, d);
    s.post(T0 + 600, r);
    assert_eq!(s.shore.fleet.case(&case).unwrap().stage, CaseStage::Closed);
}

#[test]
fn a_case_is_escalated_to_the_coast_guard() {
    let (mut s, case, _) = proposed();
    let d =
        s.m1.fleet
            .escalate_case(case, Escalation::CoastGuard, "双方分歧大，转海警95110")
            .unwrap();
    let r = s.m1.sign(T0 + 300, d);
    let ev = s.post(T0 + 300, r);
    assert!(ev[0].iter().any(|e| matches!(
        e,
        Event::CaseEscalated {
            to: Escalation::CoastGuard,
            my_role: Some(CaseRole::Reporter),
            ..
        }
    )));
    assert_eq!(
        s.shore.fleet.case(&case).unwrap().stage,
        CaseStage::Escalated(Escalation::CoastGuard)
    );
    // Signatures after the escalation do not close it.
    let late = s.b.write(
        T0 + 400,
        Destination::Everyone,
        Body::AgreementSignature {
            case,
            agreement: agreement_hash("各自承担损失"),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 400, &late)),
        vec![Refusal::CaseFinished]
    );
    assert_eq!(s.b.fleet.cosign(case), Err(FleetError::CaseFinished));
    let later = s.m1.write(
        T0 + 500,
        Destination::Everyone,
        Body::CaseUpdate {
            case,
            status: CaseStatus::Closed,
            text: String::new(),
        },
    );
    assert_eq!(
        refusals(&s.shore.see(T0 + 500, &later)),
        vec![Refusal::CaseFinished]
    );
}

#[test]
fn shore_reports_case_statistics() {
    let mut s = sea();
    assert_eq!(s.shore.fleet.case_stats().handled_rate, None);
    let mut cases = Vec::new();
    for i in 0..4u64 {
        let r = file(&mut s, T0 + i);
        cases.push(r.id());
        s.post(T0 + i, r);
    }
    // Case 0: accepted after 10 min, closed by signatures after 1 h.
    // Case 1: accepted after 30 min, escalated.
    // Case 2: accepted after 20 min, in mediation.
    // Case 3: open.
    let accept = |s: &mut Sea, case: RecordId, at: u64| {
        let d = s.m1.fleet.accept_case(ms(at), case).unwrap();
        let r = s.m1.sign(at, d);
        s.post(at, r);
    };
    accept(&mut s, cases[0], T0 + 600);
    accept(&mut s, cases[1], T0 + 1 + 1800);
    accept(&mut s, cases[2], T0 + 2 + 1200);
    let d = s.m1.fleet.propose_agreement(cases[0], "和解").unwrap();
    let r = s.m1.sign(T0 + 3000, d);
    s.post(T0 + 3000, r);
    for (who, at) in [(0, T0 + 3500), (1, T0 + 3600)] {
        let n = if who == 0 { &mut s.a } else { &mut s.b };
        let d = n.fleet.cosign(cases[0]).unwrap();
        let r = n.sign(at, d);
        s.post(at, r);
    }
    let d =
        s.m1.fleet
            .escalate_case(cases[1], Escalation::Court, "诉至法院")
            .unwrap();
    let r = s.m1.sign(T0 + 4000, d);
    s.post(T0 + 4000, r);
    let d = s.m1.fleet.case_progress(cases[2], "调查中").unwrap();
    let r = s.m1.sign(T0 + 4000, d);
    s.post(T0 + 4000, r);
    let st = s.shore.fleet.case_stats();
    assert_eq!(
        st,
        CaseStats {
            total: 4,
            open: 1,
            accepted: 1,
            closed: 1,
            escalated: 1,
            mean_time_to_accept_s: Some((600 + 1800 + 1200) / 3),
            median_time_to_accept_s: Some(1200),
            mean_time_to_close_s: Some(3600),
            median_time_to_close_s: Some(3600),
            handled_rate: Some(0.5),
        }
    );
    assert_eq!(s.shore.fleet.cases().len(), 4);
}

#[test]
fn the_mediator_may_close_a_case_with_a_party_who_has_no_key() {
    let mut s = sea();
    let parties = vec![Party {
        key: None,
        name: "闽霞渔01234".into(),
    }];
    let d =
        s.a.fleet
            .file_dispute(
                DisputeCategory::FishingGround,
                parties,
                Some(spot()),
                "争渔场",
                vec![],
            )
            .unwrap();
    let r = s.a.sign(T0, d);
    let case = r.id();
    s.post(T0, r);
    let d = s.m1.fleet.accept_case(ms(T0 + 10), case).unwrap();
    let r = s.m1.sign(T0 + 10, d);
    s.post(T0 + 10, r);
    let d =
        s.m1.fleet
            .close_case(case, "当面调解成功，纸面签字")
            .unwrap();
    let r = s.m1.sign(T0 + 20, d);
    let ev = s.post(T0 + 20, r);
    assert!(ev[0].iter().any(|e| matches!(
        e,
        Event::CaseClosed {
            by_signatures: false,
            ..
        }
    )));
}

#[test]
fn the_case_table_is_bounded_finished_cases_going_first() {
    let cfg = FleetConfig {
        max_cases: 3,
        ..config()
    };
    let mut s = sea();
    s.shore = node_with(12, cfg);
    for r in s.log.clone() {
        s.shore.see(T0, &r);
    }
    let first = file(&mut s, T0);
    let first_id = first.id();
    s.post(T0, first);
    let d = s.m1.fleet.accept_case(ms(T0 + 1), first_id).unwrap();
    let r = s.m1.sign(T0 + 1, d);
    s.post(T0 + 1, r);
    let d =
        s.m1.fleet
            .escalate_case(first_id, Escalation::Court, "")
            .unwrap();
    let r = s.m1.sign(T0 + 2, d);
    s.post(T0 + 2, r);
    let mut open = Vec::new();
    for i in 0..3 {
        let r = file(&mut s, T0 + 10 + i);
        open.push(r.id());
        s.post(T0 + 10 + i, r);
    }
    let held: Vec<RecordId> = s.shore.fleet.cases().iter().map(|c| c.case).collect();
    assert_eq!(held.len(), 3);
    assert!(!held.contains(&first_id));
    assert!(open.iter().all(|c| held.contains(c)));
}

#[test]
fn every_party_with_a_key_signs_and_one_cannot_sign_for_another() {
    let mut s = sea();
    let mut c = node(3);
    let parties = vec![
        Party {
            key: Some(s.b.pk().hint()),
            name: "浙岱渔03316".into(),
        },
        Party {
            key: Some(c.pk().hint()),
            name: "浙岱渔03317".into(),
        },
        Party {
            key: None,
            name: "闽霞渔01234".into(),
        },
    ];
    let d =
        s.a.fleet
            .file_dispute(
                DisputeCategory::Collision,
                parties,
                Some(spot()),
                "三船相撞",
                vec![],
            )
            .unwrap();
    let r = s.a.sign(T0, d);
    let case = r.id();
    s.post(T0, r);
    c.see(T0, s.log.last().unwrap());
    let d = s.m1.fleet.accept_case(ms(T0 + 10), case).unwrap();
    let r = s.m1.sign(T0 + 10, d);
    s.post(T0 + 10, r);
    let text = "三方各担三分之一";
    let d = s.m1.fleet.propose_agreement(case, text).unwrap();
    let r = s.m1.sign(T0 + 20, d);
    s.post(T0 + 20, r.clone());
    c.see(T0 + 20, &r);
    for (n, at) in [(&mut s.a, T0 + 30), (&mut s.b, T0 + 40)] {
        let d = n.fleet.cosign(case).unwrap();
        let r = n.sign(at, d);
        s.shore.see(at, &r);
    }
    // b signs again: it still fills only its own place.
    let again = s.b.write(
        T0 + 50,
        Destination::Everyone,
        Body::AgreementSignature {
            case,
            agreement: agreement_hash(text),
        },
    );
    s.shore.see(T0 + 50, &again);
    let v = s.shore.fleet.case(&case).unwrap();
    assert_eq!(v.stage, CaseStage::AgreementProposed);
    assert_eq!(v.agreement.as_ref().unwrap().missing, 1);
    assert!(!v.parties[1].signed);
    for r in &s.log {
        c.see(T0 + 55, r);
    }
    let d = c.fleet.cosign(case).unwrap();
    let r = c.sign(T0 + 60, d);
    let ev = s.shore.see(T0 + 60, &r);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::CaseClosed {
                by_signatures: true,
                ..
            }
        )),
        "{ev:?}"
    );
}

#[test]
fn hand_written_case_records_are_vetted_like_the_builders() {
    let (s, case, text) = proposed();
    let draft = |body: Body| Draft {
        dest: Destination::Everyone,
        ttl_min: 60,
        body,
    };
    let now = ms(T0 + 300);
    // The other mediator cannot accept, nor update, a case m1 won.
    let accept = draft(Body::CaseUpdate {
        case,
        status: CaseStatus::Accepted,
        text: String::new(),
    });
    assert!(matches!(
        s.m2.fleet.vet(now, &accept),
        Err(FleetError::AlreadyAccepted(_))
    ));
    let close = draft(Body::CaseUpdate {
        case,
        status: CaseStatus::Closed,
        text: String::new(),
    });
    assert_eq!(s.m2.fleet.vet(now, &close), Err(FleetError::NotTheMediator));
    assert_eq!(s.m1.fleet.vet(now, &close), Ok(()));
    // A vessel cannot accept.
    assert_eq!(
        s.a.fleet.vet(now, &accept),
        Err(FleetError::NotCertifiedMediator)
    );
    // Signatures: only parties, only the proposed text.
    let sign = |t: &str| {
        draft(Body::AgreementSignature {
            case,
            agreement: agreement_hash(t),
        })
    };
    assert_eq!(s.b.fleet.vet(now, &sign(text)), Ok(()));
    assert_eq!(
        s.b.fleet.vet(now, &sign("赔偿一万元")),
        Err(FleetError::NotTheProposedAgreement)
    );
    assert_eq!(s.m1.fleet.vet(now, &sign(text)), Err(FleetError::NotAParty));
    // Other kinds pass.
    let pos = draft(Body::Position(spot()));
    assert_eq!(s.m2.fleet.vet(now, &pos), Ok(()));
    // Trusted keys: the anchor and every certified key, not the uncertified party b.
    let trusted = s.shore.fleet.trusted_keys(now);
    assert!(trusted.contains(&bureau().public()));
    assert!(trusted.contains(&s.m1.pk()) && trusted.contains(&s.a.pk()));
    assert!(!trusted.contains(&s.b.pk()));
    assert!(s.shore.fleet.enforces_trust());
}
