//! Tests of every workflow and every refusal, driven on a virtual clock.
//!
//! Each test builds a few nodes (keys from fixed seeds, one `Fleet` each), signs records as
//! the node would (drafts → envelopes → `Record::sign`) and feeds them to the fleets.
//! Randomised tests take their seed from `SEED` if set, print it, and replay from it.

mod distress;
mod mediation;
mod order;
mod pairs;
mod trust;

use haiqiao_proto::*;

use crate::*;

/// 2026-11-18T11:06:40Z, in seconds.
pub(crate) const T0: u64 = 1_795_000_000;

pub(crate) fn ms(s: u64) -> u64 {
    s * 1000
}

/// A node: its key, its fleet and its next sequence number.
pub(crate) struct Node {
    pub(crate) key: Keypair,
    pub(crate) fleet: Fleet,
    pub(crate) seq: u64,
}

impl Node {
    pub(crate) fn pk(&self) -> PublicKey {
        self.key.public()
    }

    /// Signs a draft as the node would, created at `at_s`.
    pub(crate) fn sign(&mut self, at_s: u64, d: Draft) -> Record {
        self.seq += 1;
        let env = d.envelope(self.pk().hint(), self.seq, Timestamp(at_s as u32));
        Record::sign(&self.key, env).unwrap()
    }

    /// Signs a body to a destination.
    pub(crate) fn write(&mut self, at_s: u64, dest: Destination, body: Body) -> Record {
        self.sign(
            at_s,
            Draft {
                dest,
                ttl_min: 3 * 24 * 60,
                body,
            },
        )
    }

    pub(crate) fn see(&mut self, at_s: u64, r: &Record) -> Vec<Event> {
        self.fleet.observe(ms(at_s), r)
    }
}

pub(crate) fn keypair(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

/// The fisheries bureau's key, the trust anchor of every test fleet.
pub(crate) fn bureau() -> Keypair {
    keypair(200)
}

pub(crate) fn config() -> FleetConfig {
    FleetConfig {
        trust_anchors: vec![bureau().public().to_string()],
        ..FleetConfig::default()
    }
}

pub(crate) fn node_with(n: u8, cfg: FleetConfig) -> Node {
    let key = keypair(n);
    let fleet = Fleet::new(cfg, key.public(), u64::from(n)).unwrap();
    Node { key, fleet, seq: 0 }
}

pub(crate) fn node(n: u8) -> Node {
    node_with(n, config())
}

/// A certificate for `subject` in `role`, signed by `issuer` at `at_s`, valid a year.
pub(crate) fn cert(
    issuer: &Keypair,
    subject: &PublicKey,
    role: Role,
    name: &str,
    at_s: u64,
) -> Record {
    let env = Envelope {
        author: issuer.public().hint(),
        seq: at_s,
        created: Timestamp(at_s as u32),
        ttl_min: MAX_TTL_MIN,
        dest: Destination::Everyone,
        body: Body::Certificate {
            subject: *subject,
            name: name.to_owned(),
            registration: String::new(),
            mmsi: None,
            role,
            valid_from: Timestamp((at_s - 86_400) as u32),
            valid_until: Timestamp((at_s + 365 * 86_400) as u32),
        },
    };
    Record::sign(issuer, env).unwrap()
}

/// A revocation of `subject` by `issuer` at `at_s`.
pub(crate) fn revocation(
    issuer: &Keypair,
    subject: &PublicKey,
    reason: RevocationReason,
    at_s: u64,
) -> Record {
    let env = Envelope {
        author: issuer.public().hint(),
        seq: at_s + 1,
        created: Timestamp(at_s as u32),
        ttl_min: MAX_TTL_MIN,
        dest: Destination::Everyone,
        body: Body::Revocation {
            subject: *subject,
            reason,
        },
    };
    Record::sign(issuer, env).unwrap()
}

/// A position of `n` at `at_s`.
pub(crate) fn position(n: &mut Node, at_s: u64, lat: f64, lon: f64) -> Record {
    n.write(
        at_s,
        Destination::Everyone,
        Body::Position(Fix::from_degrees(lat, lon)),
    )
}

/// Feeds every record to every node at `at_s`.
pub(crate) fn deliver(nodes: &mut [&mut Node], at_s: u64, records: &[Record]) {
    for n in nodes.iter_mut() {
        for r in records {
            n.see(at_s, r);
        }
    }
}

pub(crate) fn refusals(events: &[Event]) -> Vec<Refusal> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// The seed of a randomised test: `SEED` from the environment, else `default`. Printed so
/// that a failure can be replayed.
pub(crate) fn seed(default: u64) -> u64 {
    let s = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    println!("SEED={s}");
    s
}

#[test]
fn config_defaults_round_trip_and_refuse_unknown_fields() {
    let c = FleetConfig::default();
    let j = serde_json::to_string(&c).unwrap();
    let back: FleetConfig = serde_json::from_str(&j).unwrap();
    assert_eq!(back, c);
    let partial: FleetConfig = serde_json::from_str(r#"{"buddy_watch_s": 45}"#).unwrap();
    assert_eq!(partial.buddy_watch_s, 45);
    assert_eq!(partial.distress_repeat_min_s, 210);
    assert!(serde_json::from_str::<FleetConfig>(r#"{"buddy_watch": 45}"#).is_err());
}

#[test]
fn a_bad_trust_anchor_is_an_error() {
    let cfg = FleetConfig {
        trust_anchors: vec!["not a key".into()],
        ..FleetConfig::default()
    };
    assert_eq!(
        Fleet::new(cfg, keypair(1).public(), 0).unwrap_err(),
        FleetError::BadAnchor("not a key".into())
    );
}

#[test]
fn drafts_sign_into_valid_records() {
    let mut a = node(1);
    let d = a.fleet.raise_distress(
        DistressNature::Fire,
        Some(Fix::from_degrees(30.0, 122.0)),
        Some(5),
        "火",
    );
    let r = a.sign(T0, d);
    assert_eq!(
        r.envelope().ttl_min,
        FleetConfig::default().distress_ttl_min
    );
    assert_eq!(r.envelope().dest, Destination::Everyone);
    assert_eq!(r.priority(), Priority::Distress);
}

fn ports_config() -> FleetConfig {
    FleetConfig {
        ports: vec![crate::Port {
            name: "Shenjiamen".into(),
            lat: 29.95,
            lon: 122.30,
        }],
        ..config()
    }
}

fn steaming(n: &mut Node, at_s: u64, lat: f64, lon: f64, cog: f64) -> Record {
    let mut f = Fix::from_degrees(lat, lon);
    f.sog_dkn = Some(100);
    f.cog_ddeg = Some((cog * 10.0) as u16);
    n.write(at_s, Destination::Everyone, Body::Position(f))
}

#[test]
fn own_reports_steaming_to_a_port_make_the_vessel_homeward_others_do_not() {
    let mut a = node_with(1, ports_config());
    let mut b = node_with(2, ports_config());
    // b steams for Shenjiamen: a sees it, but that is b's voyage, not a's.
    let rb = steaming(&mut b, 1_000, 29.95, 122.80, 270.0);
    a.see(1_000, &rb);
    assert_eq!(a.fleet.eta_shore_min(ms(1_000)), None);
    b.see(1_000, &rb);
    let eta = b.fleet.eta_shore_min(ms(1_000)).expect("b is homeward");
    assert!((150..=165).contains(&eta), "{eta}");
    let v = b.fleet.voyage(ms(1_000));
    assert_eq!(v.port.as_deref(), Some("Shenjiamen"));
    assert_eq!(v.source, Some(crate::VoyageSource::Positions));
    // Turning away ends it; the skipper's word overrides.
    let away = steaming(&mut b, 1_600, 29.95, 122.78, 90.0);
    b.see(1_600, &away);
    assert_eq!(b.fleet.eta_shore_min(ms(1_600)), None);
    b.fleet.set_voyage(
        ms(1_600),
        Some(crate::SkipperSays::Homeward {
            eta_min: 240,
            port: None,
        }),
    );
    assert_eq!(b.fleet.eta_shore_min(ms(1_600)), Some(240));
}

#[test]
fn a_port_off_the_globe_is_an_error() {
    let mut cfg = ports_config();
    cfg.ports[0].lat = 95.0;
    let err = Fleet::new(cfg, keypair(1).public(), 1).err();
    assert_eq!(err, Some(FleetError::BadPort("Shenjiamen".into())));
}
