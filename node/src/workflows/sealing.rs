//! Private records at the node: what it writes is sealed to the readers docs/protocol.md's
//! table ("Who may read what") names, and what it stores is opened where it is a reader.
//!
//! | written | readers |
//! | --- | --- |
//! | text or pair alert to a node | the author and that node |
//! | text or pair alert to a pair | both boats |
//! | dispute report | the author, the parties with a key, the certified mediators on duty for its category and place, the certified shore stations |
//! | case update, agreement signature | the author, the reporter, the parties with a key, the accepted mediator (until acceptance: the mediators the case was offered to, those on duty for it now, and any that accepted), the certified shore stations |
//! | anything else (positions, distress, certificates, revocations, receipts, pairings, buddy watch, duty; texts to everyone, shore or a group) | public |
//!
//! A reader whose key is revoked is left out; one whose key is not known here cannot be
//! sealed to. A text or pair alert whose addressee's key is unknown (or revoked) is refused
//! (`no_reader_key`): it is never sent in clear. A case record with no reader but its author
//! is refused the same way. Where no trust anchors are configured, case records are written in
//! clear as before: without certificates there are no certified mediators or shore stations
//! to seal to (the open test mode, docs/protocol.md §13.1).

use haiqiao_mesh::{Node, Store};
use haiqiao_proto::seal::{self, MAX_RECIPIENTS};
use haiqiao_proto::{Body, Destination, KeyHint, Kind, PublicKey, Record, SealEntropy};

use super::Workflows;
use crate::error::WorkflowError;

/// Who may read a record about to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Readers {
    /// Written in clear.
    Public,
    /// Sealed to these keys (the author first).
    Sealed(Vec<PublicKey>),
}

impl Workflows {
    /// The readers of a record this node is about to write (the table above).
    pub(crate) fn readers<S: Store>(
        &self,
        now_ms: u64,
        node: &Node<S>,
        dest: &Destination,
        body: &Body,
    ) -> Result<Readers, WorkflowError> {
        let kind = body.kind();
        if !seal::sealable(kind) {
            return Ok(Readers::Public);
        }
        // Without trust anchors there are no certified mediators or shore stations to seal
        // case records to: they stay public (the open test mode).
        if kind != Kind::Text && kind != Kind::PairAlert && !self.fleet.enforces_trust() {
            return Ok(Readers::Public);
        }
        let me = node.public_key();
        let at = haiqiao_proto::Timestamp((now_ms / 1000) as u32);
        let mut out = vec![me];
        let add = |k: PublicKey, out: &mut Vec<PublicKey>| {
            if !out.contains(&k) && !self.fleet.is_revoked(&k, at) {
                out.push(k);
            }
        };
        // Keys known here: heard authors and peers (the engine's ring), certified keys and
        // vessels heard (the fleet).
        let certified = self.fleet.trusted_keys(now_ms);
        let heard = self.fleet.vessels(now_ms);
        let known = |h: &KeyHint| -> Vec<PublicKey> {
            let mut ks = node.keys_for(*h);
            for k in certified.iter().chain(heard.iter().map(|(k, _)| k)) {
                if k.hint() == *h && !ks.contains(k) {
                    ks.push(*k);
                }
            }
            ks
        };
        match kind {
            Kind::Text | Kind::PairAlert => {
                let named: Vec<KeyHint> = match dest {
                    Destination::Node(h) => vec![*h],
                    Destination::Pair(a, b) => vec![*a, *b],
                    // Broadcasts and groups (no member list exists) stay public.
                    _ => return Ok(Readers::Public),
                };
                for h in named.iter().filter(|h| **h != me.hint()) {
                    let keys = known(h);
                    let before = out.len();
                    for k in keys {
                        add(k, &mut out);
                    }
                    if out.len() == before {
                        return Err(WorkflowError::NoReaderKey(format!(
                            "no usable key for {h} is known here (never heard, or revoked): \
                             a {} to it is sealed to its key and is not sent in clear",
                            kind.name()
                        )));
                    }
                }
            }
            Kind::DisputeReport => {
                let Body::DisputeReport {
                    category,
                    parties,
                    fix,
                    ..
                } = body
                else {
                    return Ok(Readers::Public);
                };
                for p in parties.iter().filter_map(|p| p.key) {
                    for k in known(&p) {
                        add(k, &mut out);
                    }
                }
                let fix = fix.or_else(|| self.fleet.vessel(&me).and_then(|h| h.fix));
                for k in self.fleet.mediators_for(now_ms, *category, fix.as_ref()) {
                    add(k, &mut out);
                }
                for k in self.fleet.certified_shore(now_ms) {
                    add(k, &mut out);
                }
            }
            Kind::CaseUpdate | Kind::AgreementSignature => {
                let case = match body {
                    Body::CaseUpdate { case, .. } | Body::AgreementSignature { case, .. } => *case,
                    _ => return Ok(Readers::Public),
                };
                if let Some(v) = self.fleet.case(&case) {
                    add(v.reporter, &mut out);
                    for p in v.parties.iter().filter_map(|p| p.key) {
                        for k in known(&p) {
                            add(k, &mut out);
                        }
                    }
                    match v.mediator {
                        Some(m) => add(m, &mut out),
                        // Until acceptance, every mediator offered the case reads (they must
                        // see each other's acceptances).
                        None => {
                            let now_on_duty =
                                self.fleet.mediators_for(now_ms, v.category, v.fix.as_ref());
                            for k in v
                                .offered_to
                                .iter()
                                .chain(&v.other_acceptances)
                                .chain(&now_on_duty)
                            {
                                add(*k, &mut out);
                            }
                        }
                    }
                }
                for k in self.fleet.certified_shore(now_ms) {
                    add(k, &mut out);
                }
            }
            _ => return Ok(Readers::Public),
        }
        if out.len() == 1 {
            return Err(WorkflowError::NoReaderKey(format!(
                "no reader of this {} but its author is known here (no party key, certified \
                 mediator or shore station): it is not sent in clear",
                kind.name()
            )));
        }
        // More than 16 readers: the author, the parties and the mediator come first, then
        // shore stations; the rest are left out.
        out.truncate(MAX_RECIPIENTS);
        Ok(Readers::Sealed(out))
    }

    /// Writes a record: sealed to its readers where the table says so, in clear otherwise.
    pub(crate) fn write<S: Store>(
        &self,
        now_ms: u64,
        node: &mut Node<S>,
        dest: Destination,
        ttl_min: u32,
        body: Body,
    ) -> Result<Record, WorkflowError> {
        match self.readers(now_ms, node, &dest, &body)? {
            Readers::Public => Ok(node.submit(now_ms, dest, ttl_min, body)?),
            Readers::Sealed(readers) => {
                let mut e = [0u8; 48];
                getrandom::fill(&mut e)
                    .map_err(|e| WorkflowError::Internal(format!("no entropy: {e}")))?;
                let entropy = SealEntropy::from_bytes(&e);
                Ok(node.submit_sealed(now_ms, dest, ttl_min, body, &readers, &entropy)?)
            }
        }
    }

    /// The record as this node reads it: opened where it is a reader of a sealed record, as it
    /// is otherwise (public, or sealed to others).
    pub(crate) fn view<S: Store>(node: &Node<S>, r: &Record) -> Record {
        if r.kind() == Kind::Sealed
            && let Ok(o) = node.open(r)
        {
            return o;
        }
        r.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use haiqiao_fleet::FleetConfig;
    use haiqiao_mesh::{Input, MemStore};
    use haiqiao_proto::{
        AreaId, CategorySet, DailyHours, DisputeCategory, DutyArea, Fix, GeoBox, Keypair, Party,
        RevocationReason, Role, Timestamp,
    };

    use super::*;

    // The workflows' test fixtures: the tests' time, the bureau's key, a signed record.
    use crate::workflows::tests::{T0_MS, bureau, signed, vessel};

    fn cert(subject: &Keypair, role: Role) -> Record {
        let now = (T0_MS / 1000) as u32;
        signed(
            &bureau(),
            u64::from(subject.public().hint().0[0]) * 4 + role as u64,
            Body::Certificate {
                subject: subject.public(),
                name: "x".into(),
                registration: String::new(),
                mmsi: None,
                role,
                valid_from: Timestamp(now - 3600),
                valid_until: Timestamp(now + 86_400),
            },
        )
    }

    fn revocation(subject: &Keypair) -> Record {
        signed(
            &bureau(),
            1000 + u64::from(subject.public().hint().0[0]),
            Body::Revocation {
                subject: subject.public(),
                reason: RevocationReason::Compromised,
            },
        )
    }

    fn duty(mediator: &Keypair) -> Record {
        let now = (T0_MS / 1000) as u32;
        signed(
            mediator,
            1,
            Body::MediatorDuty {
                areas: vec![DutyArea {
                    area: AreaId(31),
                    bounds: GeoBox::from_degrees(29.0, 122.0, 31.0, 124.0),
                }],
                categories: CategorySet::ALL,
                from: Timestamp(now - 3600),
                until: Timestamp(now + 86_400),
                daily: DailyHours::ALL_DAY,
            },
        )
    }

    fn setup(me: &Keypair, anchors: bool) -> (Node<MemStore>, Workflows) {
        let trust_anchors = if anchors {
            vec![bureau().public().to_string()]
        } else {
            vec![]
        };
        let cfg = FleetConfig {
            trust_anchors,
            ..FleetConfig::default()
        };
        vessel(me, cfg)
    }

    /// Stores a record of another key as if it had arrived, and shows it to the fleet.
    fn arrive(node: &mut Node<MemStore>, w: &mut Workflows, author: &Keypair, r: &Record) {
        node.handle(T0_MS, Input::Keys(vec![author.public()]))
            .unwrap();
        let r = node.import(T0_MS, author.public(), r.bytes()).unwrap();
        w.observe(T0_MS, node, &r);
    }

    fn text(to: &Keypair) -> (Destination, Body) {
        (
            Destination::Node(to.public().hint()),
            Body::Text {
                text: "今晚回沈家门".into(),
                safety: false,
            },
        )
    }

    #[test]
    fn a_text_is_sealed_to_its_addressee_who_opens_it_and_nobody_else_does() {
        let me = Keypair::from_seed(&[1; 32]);
        let them = Keypair::from_seed(&[2; 32]);
        let relay = Keypair::from_seed(&[3; 32]);
        let (mut node, w) = setup(&me, false);
        let (dest, body) = text(&them);
        // Never heard: refused, not sent in clear.
        let err = w.readers(T0_MS, &node, &dest, &body).unwrap_err();
        assert!(matches!(err, WorkflowError::NoReaderKey(_)), "{err}");
        node.handle(T0_MS, Input::Keys(vec![them.public()]))
            .unwrap();
        assert_eq!(
            w.readers(T0_MS, &node, &dest, &body).unwrap(),
            Readers::Sealed(vec![me.public(), them.public()])
        );
        let r = w.write(T0_MS, &mut node, dest, 60, body.clone()).unwrap();
        assert_eq!(r.kind(), Kind::Sealed);
        // The author reads its own.
        assert_eq!(Workflows::view(&node, &r).body(), &body);
        // The addressee opens it; a relay holds it sealed.
        let (mut them_node, mut them_w) = setup(&them, false);
        arrive(&mut them_node, &mut them_w, &me, &r);
        let seen = Workflows::view(&them_node, &r);
        assert!(seen.is_opened());
        assert_eq!(seen.body(), &body);
        assert_eq!(seen.id(), r.id());
        let (mut relay_node, mut relay_w) = setup(&relay, false);
        arrive(&mut relay_node, &mut relay_w, &me, &r);
        let held = Workflows::view(&relay_node, &r);
        assert_eq!(held.kind(), Kind::Sealed);
        let j = crate::json::record_json(&held);
        assert_eq!(j["privacy"], "sealed");
        assert_eq!(j["body"]["inner_kind"], "text");
        assert!(!j.to_string().contains("沈家门"), "{j}");
        let line = crate::json::record_line(&j);
        assert!(
            line.contains("text to 2 readers (not readable here)"),
            "{line}"
        );
        assert_eq!(
            crate::json::record_json(&Workflows::view(&node, &signed(&me, 9, body.clone())))["privacy"],
            "public"
        );
        assert_eq!(crate::json::record_json(&seen)["privacy"], "opened");
        // Texts to everyone stay public.
        let public = w
            .readers(T0_MS, &node, &Destination::Everyone, &body)
            .unwrap();
        assert_eq!(public, Readers::Public);
    }

    #[test]
    fn a_revoked_key_receives_no_new_sealed_record() {
        let me = Keypair::from_seed(&[1; 32]);
        let them = Keypair::from_seed(&[2; 32]);
        let shore = Keypair::from_seed(&[4; 32]);
        let lost = Keypair::from_seed(&[5; 32]);
        let (mut node, mut w) = setup(&me, true);
        let b = bureau();
        for (k, role) in [
            (&them, Role::Vessel),
            (&shore, Role::Shore),
            (&lost, Role::Shore),
        ] {
            arrive(&mut node, &mut w, &b, &cert(k, role));
            node.handle(T0_MS, Input::Keys(vec![k.public()])).unwrap();
        }
        let (dest, body) = text(&them);
        assert!(matches!(
            w.readers(T0_MS, &node, &dest, &body).unwrap(),
            Readers::Sealed(_)
        ));
        let report = Body::DisputeReport {
            category: DisputeCategory::GearDamage,
            parties: vec![],
            fix: Some(Fix::from_degrees(30.0, 123.0)),
            description: "网被割".into(),
            evidence: vec![],
        };
        let Readers::Sealed(before) = w
            .readers(T0_MS, &node, &Destination::Everyone, &report)
            .unwrap()
        else {
            panic!("not sealed")
        };
        assert!(before.contains(&lost.public()) && before.contains(&shore.public()));
        arrive(&mut node, &mut w, &b, &revocation(&them));
        arrive(&mut node, &mut w, &b, &revocation(&lost));
        assert!(matches!(
            w.readers(T0_MS, &node, &dest, &body).unwrap_err(),
            WorkflowError::NoReaderKey(_)
        ));
        let Readers::Sealed(after) = w
            .readers(T0_MS, &node, &Destination::Everyone, &report)
            .unwrap()
        else {
            panic!("not sealed")
        };
        assert_eq!(after, vec![me.public(), shore.public()]);
        let r = w
            .write(T0_MS, &mut node, Destination::Everyone, 60, report)
            .unwrap();
        assert!(node.open(&r).is_ok());
        let lost_node = setup(&lost, true).0;
        assert_eq!(
            lost_node.open(&r).unwrap_err(),
            haiqiao_proto::SealError::NotRecipient
        );
    }

    #[test]
    fn case_records_go_to_parties_mediators_and_shore_and_after_acceptance_to_the_mediator() {
        let me = Keypair::from_seed(&[1; 32]);
        let party = Keypair::from_seed(&[2; 32]);
        let m1 = Keypair::from_seed(&[6; 32]);
        let m2 = Keypair::from_seed(&[7; 32]);
        let shore = Keypair::from_seed(&[4; 32]);
        let stranger = Keypair::from_seed(&[9; 32]);
        let b = bureau();
        let (mut node, mut w) = setup(&me, true);
        // With anchors and nobody to read: refused, never in clear.
        let report = Body::DisputeReport {
            category: DisputeCategory::GearDamage,
            parties: vec![Party {
                key: Some(party.public().hint()),
                name: "浙岱渔03315".into(),
            }],
            fix: Some(Fix::from_degrees(30.0, 123.0)),
            description: "拖网被割断".into(),
            evidence: vec![],
        };
        assert!(matches!(
            w.readers(T0_MS, &node, &Destination::Everyone, &report)
                .unwrap_err(),
            WorkflowError::NoReaderKey(_)
        ));
        // Without anchors (the open test mode) the same record is written in clear, even with
        // the party's key known.
        let (mut open_node, open_w) = setup(&me, false);
        open_node
            .handle(T0_MS, Input::Keys(vec![party.public()]))
            .unwrap();
        assert_eq!(
            open_w
                .readers(T0_MS, &open_node, &Destination::Everyone, &report)
                .unwrap(),
            Readers::Public
        );
        for (k, role) in [
            (&m1, Role::Mediator),
            (&m2, Role::Mediator),
            (&shore, Role::Shore),
        ] {
            arrive(&mut node, &mut w, &b, &cert(k, role));
        }
        arrive(&mut node, &mut w, &m1, &duty(&m1));
        arrive(&mut node, &mut w, &m2, &duty(&m2));
        node.handle(T0_MS, Input::Keys(vec![party.public()]))
            .unwrap();
        let Readers::Sealed(readers) = w
            .readers(T0_MS, &node, &Destination::Everyone, &report)
            .unwrap()
        else {
            panic!("not sealed")
        };
        let mut want = vec![
            me.public(),
            party.public(),
            m1.public(),
            m2.public(),
            shore.public(),
        ];
        let mut got = readers.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want);
        let filed = w
            .write(T0_MS, &mut node, Destination::Everyone, 600, report)
            .unwrap();
        w.observe(T0_MS, &mut node, &filed);
        assert!(
            w.fleet.case(&filed.id()).is_some(),
            "the author's fleet reads its own case"
        );
        // The mediator m1 reads it and accepts; then updates go to m1, not m2.
        let (mut m1_node, mut m1_w) = setup(&m1, true);
        for (k, role) in [
            (&m1, Role::Mediator),
            (&m2, Role::Mediator),
            (&shore, Role::Shore),
        ] {
            arrive(&mut m1_node, &mut m1_w, &b, &cert(k, role));
        }
        arrive(&mut m1_node, &mut m1_w, &m1, &duty(&m1));
        arrive(&mut m1_node, &mut m1_w, &m2, &duty(&m2));
        // The mediator has heard the party (a party whose key is unknown cannot be sealed to).
        m1_node
            .handle(T0_MS, Input::Keys(vec![party.public()]))
            .unwrap();
        arrive(&mut m1_node, &mut m1_w, &me, &filed);
        assert!(
            m1_w.fleet.case(&filed.id()).is_some(),
            "the mediator opened the report"
        );
        let accept = m1_w.fleet.accept_case(T0_MS, filed.id()).unwrap();
        let Readers::Sealed(acc_readers) = m1_w
            .readers(T0_MS, &m1_node, &accept.dest, &accept.body)
            .unwrap()
        else {
            panic!("not sealed")
        };
        assert!(
            acc_readers.contains(&m2.public()),
            "rivals see the acceptance"
        );
        let accepted = m1_w
            .write(
                T0_MS,
                &mut m1_node,
                accept.dest,
                accept.ttl_min,
                accept.body,
            )
            .unwrap();
        m1_w.observe(T0_MS, &mut m1_node, &accepted);
        let progress = m1_w.fleet.case_progress(filed.id(), "called both").unwrap();
        let Readers::Sealed(after) = m1_w
            .readers(T0_MS, &m1_node, &progress.dest, &progress.body)
            .unwrap()
        else {
            panic!("not sealed")
        };
        assert!(
            !after.contains(&m2.public()),
            "after acceptance: the mediator only"
        );
        assert!(after.contains(&me.public()) && after.contains(&party.public()));
        assert!(after.contains(&shore.public()));
        // A stranger holds the report sealed and sees that a case exists, not what it says.
        let (mut s_node, mut s_w) = setup(&stranger, true);
        arrive(&mut s_node, &mut s_w, &me, &filed);
        assert!(s_w.fleet.case(&filed.id()).is_none());
        assert!(
            s_w.timeline.iter().any(|e| e.what == "sealed_case"),
            "the stranger's timeline says a case was filed"
        );
        // The party's restarted node rebuilds the case from the sealed record in its store.
        let (mut p_node, _) = setup(&party, true);
        p_node
            .handle(T0_MS, Input::Keys(vec![me.public()]))
            .unwrap();
        p_node.import(T0_MS, me.public(), filed.bytes()).unwrap();
        let (_, mut fresh) = setup(&party, true);
        fresh.replay(T0_MS, &mut p_node).unwrap();
        assert!(
            fresh.fleet.case(&filed.id()).is_some(),
            "replayed from the sealed record"
        );
    }
}
