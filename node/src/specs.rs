//! What people ask for in more than one request, written once: a pair alert, a distress as
//! raised and as answered, and a dispute as filed, the same in a workflow request (`crate::workflows::Request`) and in a
//! hand-written record's JSON (`crate::json::BodySpec`, which can take these from here
//! without an import circle: this module imports nothing of the node's).

use serde::{Deserialize, Serialize};

/// A party to a dispute.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct PartySpec {
    /// The party's key or hint, if it runs haiqiao.
    #[serde(default)]
    pub(crate) key: Option<String>,
    /// Vessel name.
    pub(crate) name: String,
}

impl PartySpec {
    /// A party as people type it: `NAME` or `NAME=<node id>`.
    pub(crate) fn parse(s: &str) -> PartySpec {
        match s.split_once('=') {
            Some((n, k)) => PartySpec {
                key: Some(k.to_owned()),
                name: n.to_owned(),
            },
            None => PartySpec {
                key: None,
                name: s.to_owned(),
            },
        }
    }
}

/// A pair alert: what, where, a short text (the partner it goes to is the request's).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct PairAlertSpec {
    /// collision_risk, gear_fouled, man_overboard, engine_failure, weather, other.
    pub(crate) alert: String,
    /// Where (latitude, degrees; a workflow request defaults to our last position).
    #[serde(default)]
    pub(crate) lat: Option<f64>,
    /// Where (longitude, degrees).
    #[serde(default)]
    pub(crate) lon: Option<f64>,
    /// Short text.
    #[serde(default)]
    pub(crate) text: String,
}

fn undesignated() -> String {
    "undesignated".to_owned()
}

/// A distress: its nature, where, how many aboard, a short text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct DistressSpec {
    /// DSC nature: fire, flooding, collision, grounding, listing, sinking, adrift,
    /// undesignated, abandoning, piracy, man_overboard, epirb (or the code, e.g. "01").
    #[serde(default = "undesignated")]
    pub(crate) nature: String,
    /// Where (latitude, degrees; a workflow request defaults to our last position).
    #[serde(default)]
    pub(crate) lat: Option<f64>,
    /// Where (longitude, degrees).
    #[serde(default)]
    pub(crate) lon: Option<f64>,
    /// Persons on board.
    #[serde(default)]
    pub(crate) persons: Option<u16>,
    /// Short text.
    #[serde(default)]
    pub(crate) text: String,
}

/// An answer to a distress: acknowledged, responding (with an ETA), on_scene, resolved,
/// cancelled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct DistressAnswerSpec {
    /// The incident (or any of its alerts), full or short id.
    pub(crate) distress: String,
    /// acknowledged, responding, on_scene, resolved, cancelled.
    pub(crate) status: String,
    /// Minutes to arrival, when responding.
    #[serde(default)]
    pub(crate) eta_min: Option<u16>,
    /// Short text.
    #[serde(default)]
    pub(crate) text: String,
}

/// A dispute: what, who, where, and the hashes of the evidence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct DisputeSpec {
    /// fishing_ground, gear_damage, collision, catch_or_price, other.
    pub(crate) category: String,
    /// The other parties.
    #[serde(default)]
    pub(crate) parties: Vec<PartySpec>,
    /// Where (latitude, degrees; a workflow request defaults to our last position).
    #[serde(default)]
    pub(crate) lat: Option<f64>,
    /// Where (longitude, degrees).
    #[serde(default)]
    pub(crate) lon: Option<f64>,
    /// What happened.
    pub(crate) description: String,
    /// SHA-256 hashes of the evidence, hex.
    #[serde(default)]
    pub(crate) evidence: Vec<String>,
}

impl DisputeSpec {
    /// The evidence hashes, each 32 bytes.
    pub(crate) fn evidence_hashes(&self) -> Result<Vec<[u8; 32]>, String> {
        self.evidence
            .iter()
            .map(|h| {
                let b = hex::decode(h.trim()).map_err(|e| format!("evidence is hex: {e}"))?;
                <[u8; 32]>::try_from(b.as_slice())
                    .map_err(|_| "evidence is a SHA-256 (64 hex digits)".to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_distress_defaults_to_undesignated() {
        let d: DistressSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(d.nature, "undesignated");
        assert_eq!((d.lat, d.persons, d.text.as_str()), (None, None, ""));
    }

    #[test]
    fn evidence_is_32_bytes_of_hex_and_parties_parse_as_typed() {
        let mut d: DisputeSpec = serde_json::from_value(serde_json::json!({
            "category": "gear_damage", "description": "nets cut",
            "parties": [{"name": "Zhe Dai 1"}], "evidence": ["ab".repeat(32)]
        }))
        .unwrap();
        assert_eq!(d.evidence_hashes().unwrap(), vec![[0xab; 32]]);
        d.evidence = vec!["ab".into()];
        assert!(d.evidence_hashes().unwrap_err().contains("SHA-256"));
        d.evidence = vec!["zz".into()];
        assert!(d.evidence_hashes().unwrap_err().contains("hex"));
        assert_eq!(
            PartySpec::parse("Zhe Dai 2=00112233"),
            PartySpec {
                key: Some("00112233".into()),
                name: "Zhe Dai 2".into()
            }
        );
    }
}
