//! Trust anchors, certificates, revocations, receipts.

use haiqiao_proto::*;

use super::*;
use crate::*;

#[test]
fn a_certificate_from_the_anchor_counts_and_one_from_anyone_else_does_not() {
    let mut shore = node(1);
    let m = keypair(2).public();
    let stranger = keypair(3);
    let good = cert(&bureau(), &m, Role::Mediator, "老娘舅", T0);
    let forged = cert(&stranger, &keypair(4).public(), Role::Mediator, "冒充", T0);
    let ev = shore.see(T0, &good);
    assert!(
        matches!(&ev[..], [Event::Certified { subject, role: Role::Mediator, name }] if *subject == m && name == "老娘舅")
    );
    assert!(shore.fleet.has_role(&m, Role::Mediator, ms(T0)));
    assert_eq!(
        shore.fleet.trust_of(&m, ms(T0)).name.as_deref(),
        Some("老娘舅")
    );
    let ev = shore.see(T0, &forged);
    assert_eq!(refusals(&ev), vec![Refusal::UntrustedIssuer]);
    assert!(
        !shore
            .fleet
            .has_role(&keypair(4).public(), Role::Mediator, ms(T0))
    );
    // Observing again changes nothing.
    assert!(shore.see(T0, &good).is_empty());
}

#[test]
fn an_intermediate_authority_certifies_within_the_chain_limit() {
    let mut n = node(1);
    let office = keypair(10); // Daishan fisheries office, certified by the bureau
    let sub = keypair(11); // a sub-office, certified by Daishan
    let deep = keypair(12); // certified by the sub-office: two intermediates, allowed
    let deeper = keypair(13); // certified by `deep`: three intermediates, too deep
    let v = keypair(14).public();
    let w = keypair(15).public();
    let recs = [
        cert(&bureau(), &office.public(), Role::Authority, "岱山", T0),
        cert(&office, &sub.public(), Role::Authority, "sub", T0),
        cert(&sub, &v, Role::Vessel, "浙岱渔03315", T0),
        cert(&sub, &deep.public(), Role::Authority, "deep", T0),
        cert(&deep, &deeper.public(), Role::Authority, "deeper", T0),
        cert(&deeper, &w, Role::Vessel, "浙岱渔09999", T0),
    ];
    // Delivered in reverse: trust does not depend on arrival order.
    for r in recs.iter().rev() {
        n.see(T0, r);
    }
    assert!(n.fleet.has_role(&v, Role::Vessel, ms(T0)));
    assert!(n.fleet.has_role(&deep.public(), Role::Authority, ms(T0)));
    assert!(!n.fleet.has_role(&w, Role::Vessel, ms(T0)));
    // A vessel certificate does not make an authority.
    let x = keypair(16);
    n.see(T0, &cert(&bureau(), &x.public(), Role::Vessel, "x", T0));
    n.see(T0, &cert(&x, &keypair(17).public(), Role::Vessel, "y", T0));
    assert!(
        !n.fleet
            .has_role(&keypair(17).public(), Role::Vessel, ms(T0))
    );
}

#[test]
fn certificates_count_only_within_their_validity() {
    let mut n = node(1);
    let v = keypair(2).public();
    n.see(T0, &cert(&bureau(), &v, Role::Vessel, "v", T0));
    // Valid from T0 - 1 day to T0 + 365 days.
    assert!(!n.fleet.has_role(&v, Role::Vessel, ms(T0 - 86_401)));
    assert!(n.fleet.has_role(&v, Role::Vessel, ms(T0 - 86_400)));
    assert!(!n.fleet.has_role(&v, Role::Vessel, ms(T0 + 365 * 86_400)));
}

#[test]
fn a_compromised_key_loses_everything_a_retired_one_keeps_its_past() {
    let mut n = node(1);
    let a = keypair(2).public();
    let b = keypair(3).public();
    n.see(T0, &cert(&bureau(), &a, Role::Shore, "a", T0));
    n.see(T0, &cert(&bureau(), &b, Role::Shore, "b", T0));
    let ev = n.see(
        T0 + 100,
        &revocation(&bureau(), &a, RevocationReason::Compromised, T0 + 100),
    );
    assert!(
        matches!(&ev[..], [Event::Revoked { subject, reason: RevocationReason::Compromised }] if *subject == a)
    );
    n.see(
        T0 + 100,
        &revocation(&bureau(), &b, RevocationReason::Retired, T0 + 100),
    );
    assert!(n.fleet.is_revoked(&a, Timestamp(T0 as u32)));
    assert!(!n.fleet.has_role(&a, Role::Shore, ms(T0)));
    assert!(!n.fleet.is_revoked(&b, Timestamp(T0 as u32)));
    assert!(n.fleet.has_role(&b, Role::Shore, ms(T0 + 99)));
    assert!(!n.fleet.has_role(&b, Role::Shore, ms(T0 + 100)));
    assert_eq!(n.fleet.revoked_keys(ms(T0 + 100)).len(), 2);
    assert_eq!(n.fleet.revoked_keys(ms(T0)), vec![a]);
}

#[test]
fn a_revocation_from_a_non_authority_is_refused_a_self_revocation_counts() {
    let mut n = node(1);
    let a = keypair(2);
    let mallory = keypair(3);
    n.see(T0, &cert(&bureau(), &a.public(), Role::Mediator, "a", T0));
    let ev = n.see(
        T0,
        &revocation(&mallory, &a.public(), RevocationReason::Compromised, T0),
    );
    assert_eq!(refusals(&ev), vec![Refusal::UntrustedIssuer]);
    assert!(n.fleet.has_role(&a.public(), Role::Mediator, ms(T0)));
    // A key may revoke itself (a crew that knows its key is lost).
    let ev = n.see(
        T0,
        &revocation(&a, &a.public(), RevocationReason::Compromised, T0),
    );
    assert!(matches!(&ev[..], [Event::Revoked { .. }]));
    assert!(!n.fleet.has_role(&a.public(), Role::Mediator, ms(T0)));
    // An anchor is never revoked by a record.
    n.see(
        T0,
        &revocation(
            &bureau(),
            &bureau().public(),
            RevocationReason::Compromised,
            T0,
        ),
    );
    assert!(
        n.fleet
            .has_role(&bureau().public(), Role::Authority, ms(T0))
    );
}

#[test]
fn revoking_an_authority_revokes_what_it_certified() {
    let mut n = node(1);
    let office = keypair(10);
    let v = keypair(11).public();
    n.see(
        T0,
        &cert(&bureau(), &office.public(), Role::Authority, "office", T0),
    );
    n.see(T0, &cert(&office, &v, Role::Shore, "岱山站", T0));
    assert!(n.fleet.has_role(&v, Role::Shore, ms(T0)));
    n.see(
        T0 + 10,
        &revocation(
            &bureau(),
            &office.public(),
            RevocationReason::Compromised,
            T0 + 10,
        ),
    );
    assert!(!n.fleet.has_role(&v, Role::Shore, ms(T0)));
}

#[test]
fn only_certified_shore_stations_receipts_count() {
    let mut n = node(1);
    let station = node(2);
    let mut impostor = node(3);
    let mut vessel = node(4);
    let mut revoked = node(5);
    n.see(
        T0,
        &cert(&bureau(), &station.pk(), Role::Shore, "沈家门站", T0),
    );
    n.see(
        T0,
        &cert(&bureau(), &vessel.pk(), Role::Vessel, "浙岱渔03315", T0),
    );
    n.see(T0, &cert(&bureau(), &revoked.pk(), Role::Shore, "旧站", T0));
    n.see(
        T0,
        &revocation(&bureau(), &revoked.pk(), RevocationReason::Compromised, T0),
    );
    let ids = vec![RecordId([7; 16])];
    let mut station = station;
    for (who, counts) in [
        (&mut station, true),
        (&mut impostor, false),
        (&mut vessel, false),
        (&mut revoked, false),
    ] {
        let r = who.write(
            T0 + 5,
            Destination::Everyone,
            Body::Receipt { ids: ids.clone() },
        );
        let ev = n.see(T0 + 5, &r);
        assert_eq!(n.fleet.receipt_counts(&r), counts);
        assert_eq!(refusals(&ev).is_empty(), counts, "{ev:?}");
        if !counts {
            assert_eq!(refusals(&ev), vec![Refusal::UncertifiedShore]);
        }
    }
    assert_eq!(n.fleet.certified_shore(ms(T0)), vec![station.pk()]);
    // A position is not a receipt.
    let p = position(&mut station, T0, 30.0, 122.0);
    assert!(!n.fleet.receipt_counts(&p));
}

#[test]
fn forged_certificates_do_not_push_out_a_real_one() {
    let mut n = node(1);
    let m = keypair(2).public();
    n.see(T0, &cert(&bureau(), &m, Role::Mediator, "real", T0));
    for i in 0..10u8 {
        // Newer, from strangers.
        n.see(
            T0,
            &cert(
                &keypair(100 + i),
                &m,
                Role::Vessel,
                "fake",
                T0 + 1 + u64::from(i),
            ),
        );
    }
    assert!(n.fleet.has_role(&m, Role::Mediator, ms(T0 + 20)));
    assert_eq!(
        n.fleet.trust_of(&m, ms(T0 + 20)).name.as_deref(),
        Some("real")
    );
}

#[test]
fn the_certificate_table_is_bounded() {
    let cfg = FleetConfig {
        max_certificates: 8,
        ..config()
    };
    let mut n = node_with(1, cfg);
    for i in 0..20u8 {
        n.see(
            T0,
            &cert(
                &bureau(),
                &keypair(50 + i).public(),
                Role::Vessel,
                "v",
                T0 + u64::from(i),
            ),
        );
    }
    let held = (0..20u8)
        .filter(|i| {
            n.fleet
                .has_role(&keypair(50 + i).public(), Role::Vessel, ms(T0 + 30))
        })
        .count();
    assert_eq!(held, 8);
}
