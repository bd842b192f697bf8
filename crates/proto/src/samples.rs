//! Typical records of every kind, as a boat would write them: used by `haiqiao bench`, the
//! demo and tests. Deterministic: the same arguments give the same envelope.

use crate::types::*;
use crate::{Envelope, KeyHint};

/// A typical fix off Zhoushan (30.1°N 122.9°E), engaged in fishing at 3.2 kn.
pub fn fix(seq: u64) -> Fix {
    Fix {
        lat_e5: 3_010_000 + (seq % 1000) as i32 * 7,
        lon_e5: 12_290_000 + (seq % 1000) as i32 * 11,
        sog_dkn: Some(32),
        cog_ddeg: Some(((seq * 37) % 3600) as u16),
        heading_deg: Some(((seq * 37 / 10) % 360) as u16),
        nav_status: NavStatus::FISHING,
        fix_age_s: Some(1),
    }
}

/// A typical envelope of `kind` from `author`, created at `now` (seconds since the epoch).
pub fn envelope(kind: Kind, author: KeyHint, partner: KeyHint, seq: u64, now: u64) -> Envelope {
    let case = RecordId([0x5a; RECORD_ID_LEN]);
    let (dest, ttl_min, body) = match kind {
        Kind::Position => (Destination::Everyone, 240, Body::Position(fix(seq))),
        Kind::PairAlert => (
            Destination::pair(author, partner),
            360,
            Body::PairAlert {
                alert: PairAlertKind::GearFouled,
                fix: Some(fix(seq)),
                text: "网缠住了，请减速".to_owned(),
            },
        ),
        Kind::Distress => (
            Destination::Everyone,
            7 * 24 * 60,
            Body::Distress {
                nature: DistressNature::Flooding,
                fix: Some(fix(seq)),
                persons: Some(9),
                text: "机舱进水 engine room flooding".to_owned(),
            },
        ),
        Kind::DistressUpdate => (
            Destination::Everyone,
            7 * 24 * 60,
            Body::DistressUpdate {
                distress: RecordId([0x11; RECORD_ID_LEN]),
                status: DistressStatus::Responding { eta_min: 25 },
                text: "浙岱渔03315 coming".to_owned(),
            },
        ),
        Kind::DisputeReport => (
            Destination::Shore,
            30 * 24 * 60,
            Body::DisputeReport {
                category: DisputeCategory::GearDamage,
                parties: vec![Party {
                    key: Some(partner),
                    name: "浙岱渔03315".to_owned(),
                }],
                fix: Some(fix(seq)),
                description: "拖网被割断约200米 trawl net cut, about 200 m".to_owned(),
                evidence: vec![[0xe7; 32]],
            },
        ),
        Kind::CaseUpdate => (
            Destination::Shore,
            30 * 24 * 60,
            Body::CaseUpdate {
                case,
                status: CaseStatus::Accepted,
                text: "海上老娘舅 accepted, will call both skippers".to_owned(),
            },
        ),
        Kind::AgreementSignature => (
            Destination::Shore,
            30 * 24 * 60,
            Body::AgreementSignature {
                case,
                agreement: [0xa5; 32],
            },
        ),
        Kind::Receipt => (
            Destination::Everyone,
            3 * 24 * 60,
            Body::Receipt {
                ids: (0..16u8).map(|i| RecordId([i; RECORD_ID_LEN])).collect(),
            },
        ),
        Kind::Certificate => (
            Destination::Everyone,
            30 * 24 * 60,
            Body::Certificate {
                subject: crate::Keypair::from_seed(&[0x42; 32]).public(),
                name: "浙岱渔03315".to_owned(),
                registration: "ZHEDAIYU03315".to_owned(),
                mmsi: Some(412_345_678),
                role: Role::Vessel,
                valid_from: Timestamp(now as u32),
                valid_until: Timestamp((now + 365 * 86_400) as u32),
            },
        ),
        Kind::Revocation => (
            Destination::Everyone,
            90 * 24 * 60,
            Body::Revocation {
                subject: crate::Keypair::from_seed(&[0x43; 32]).public(),
                reason: RevocationReason::Compromised,
            },
        ),
        Kind::Text => (
            Destination::Node(partner),
            24 * 60,
            Body::Text {
                text: "今晚回沈家门 back to Shenjiamen tonight".to_owned(),
                safety: false,
            },
        ),
        Kind::Pairing => (
            Destination::Everyone,
            90 * 24 * 60,
            Body::Pairing {
                partner: crate::Keypair::from_seed(&[0x42; 32]).public(),
                paired: true,
            },
        ),
        Kind::BuddyWatch => (
            Destination::Shore,
            24 * 60,
            Body::BuddyWatch {
                partner: crate::Keypair::from_seed(&[0x42; 32]).public(),
                overdue: true,
                last_heard: Some(Timestamp(now.saturating_sub(3 * 3600) as u32)),
                fix: Some(fix(seq)),
            },
        ),
        Kind::Sealed => {
            // A text to `partner` sealed to two fixed sample keys (seeds 0x51.. and 0x52..), with
            // fixed entropy: real ciphertext of the size a sealed text to one boat has.
            let plain = envelope(Kind::Text, author, partner, seq, now);
            let readers = [
                crate::Keypair::from_seed(&[0x51; 32]).public(),
                crate::Keypair::from_seed(&[0x52; 32]).public(),
            ];
            let entropy = crate::seal::SealEntropy::from_bytes(&[0x5e; 48]);
            return crate::seal::seal_envelope(&plain, &readers, &entropy).unwrap_or(plain);
        }
        Kind::MediatorDuty => (
            Destination::Everyone,
            7 * 24 * 60,
            Body::MediatorDuty {
                // North of Daishan, and the Shengsi grounds.
                areas: vec![
                    DutyArea {
                        area: AreaId(31),
                        bounds: GeoBox::from_degrees(30.2, 121.9, 30.6, 122.6),
                    },
                    DutyArea {
                        area: AreaId(32),
                        bounds: GeoBox::from_degrees(30.5, 122.2, 31.0, 123.0),
                    },
                ],
                categories: CategorySet::of(&[
                    DisputeCategory::FishingGround,
                    DisputeCategory::GearDamage,
                    DisputeCategory::Collision,
                ]),
                from: Timestamp(now as u32),
                until: Timestamp((now + 7 * 86_400) as u32),
                // 06:00 to 22:00 Beijing time.
                daily: DailyHours {
                    start_min: 22 * 60,
                    end_min: 14 * 60,
                },
            },
        ),
    };
    Envelope {
        author,
        seq,
        created: Timestamp(now as u32),
        ttl_min,
        dest,
        body,
    }
}
