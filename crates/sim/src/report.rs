//! Metrics per router and class, and the report a run writes.
//!
//! Definitions (per router and class):
//! - `created`: measured items (a record and one of its targets) written during the run.
//! - `delivered`: items that reached a target before the record expired and the run ended.
//! - `oracle_deliverable`: items the oracle can deliver.
//! - `delivery_ratio` = delivered / created; `delivery_vs_oracle` = delivered among the
//!   oracle-deliverable / oracle-deliverable.
//! - `latency_*`: from creation to first arrival at a target, seconds, over delivered items;
//!   `latency_median_vs_oracle` = the router's median / the oracle's median over the same
//!   items (null when the oracle's median is 0).
//! - `relayed`: completed transfers of records of the class between any two nodes (as the ONE
//!   counts relays); `overhead_ratio` = (relayed − delivered) / delivered, as the ONE defines
//!   it. A distress's transfers count under `distress`; `distress_nearby` has none of its own.
//! - `duplicates`: of the relays, those to a node that held the record already (the
//!   baselines never start one); `relays_per_holder` = relayed / (relayed − duplicates),
//!   how many transfers each node that came to hold a record cost (a faithful epidemic's is
//!   1). For flooded classes this, not `overhead_ratio`, compares the cost of reaching the
//!   same nodes: `overhead_ratio` also moves with how many nodes a router reaches and, for
//!   positions, with how many superseded fixes it keeps forwarding.
//! - `bytes_per_delivered`: record bytes of the class carried / delivered.
//! - `beats_oracle`: items delivered that the oracle says cannot be: always 0 unless the
//!   simulator is wrong.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::net::Log;
use crate::traffic::Class;

/// Rounds for the report: four significant decimals are plenty and keep it readable.
fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The q-quantile (nearest rank) of sorted values.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[k - 1])
}

/// One router's figures for one class.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassMetrics {
    /// Items written.
    pub created: u64,
    /// Items delivered.
    pub delivered: u64,
    /// Items the oracle can deliver.
    pub oracle_deliverable: u64,
    /// delivered / created.
    pub delivery_ratio: Option<f64>,
    /// Share of the oracle-deliverable items delivered.
    pub delivery_vs_oracle: Option<f64>,
    /// Median latency, seconds.
    pub latency_median_s: Option<f64>,
    /// 95th percentile latency, seconds.
    pub latency_p95_s: Option<f64>,
    /// The oracle's median latency over the same items, seconds.
    pub oracle_latency_median_s: Option<f64>,
    /// Median latency over the oracle's, same items.
    pub latency_median_vs_oracle: Option<f64>,
    /// 95th percentile latency over the oracle's, same items.
    pub latency_p95_vs_oracle: Option<f64>,
    /// Completed transfers of the class's records.
    pub relayed: u64,
    /// (relayed − delivered) / delivered.
    pub overhead_ratio: Option<f64>,
    /// Relays to a node that held the record already.
    pub duplicates: u64,
    /// relayed / (relayed − duplicates).
    pub relays_per_holder: Option<f64>,
    /// Record bytes carried per delivered item.
    pub bytes_per_delivered: Option<f64>,
    /// Deliveries the oracle says are impossible (must be 0).
    pub beats_oracle: u64,
}

/// A router's totals.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Totals {
    /// Messages written (base traffic and answers).
    pub messages: u64,
    /// Bytes carried on all links (records, control, framing).
    pub bytes_sent: u64,
    /// Transfers of records that are not measured messages (receipts).
    pub other_records_relayed: u64,
    /// The most records any node held at a sample.
    pub peak_store_records: u64,
    /// The most bytes any node held at a sample.
    pub peak_store_bytes: u64,
    /// Mean over samples of the mean bytes held per node.
    pub mean_store_bytes: f64,
    /// Router-specific counters (penalties, contacts refused, copies freed by receipts).
    pub notes: BTreeMap<String, u64>,
}

/// Mediation: from dispute filed to accepted, and to closed (both parties' signatures at a
/// mediator or shore station).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mediation {
    /// Disputes filed.
    pub filed: u64,
    /// Accepted (reached a mediator or shore station).
    pub accepted: u64,
    /// Median time from filed to accepted, seconds.
    pub accept_median_s: Option<f64>,
    /// 95th percentile, seconds.
    pub accept_p95_s: Option<f64>,
    /// Closed within the run.
    pub closed: u64,
    /// Median time from filed to closed, seconds.
    pub close_median_s: Option<f64>,
}

/// One goal of design §4, checked.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Goal {
    /// What is measured.
    pub goal: String,
    /// The measured value.
    pub value: Option<f64>,
    /// The bar.
    pub bar: String,
    /// Whether the bar is met.
    pub met: bool,
}

/// Node counts.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Nodes {
    /// Shore stations.
    pub shore: u64,
    /// Fishing vessels.
    pub vessels: u64,
    /// Mediator boats.
    pub mediators: u64,
    /// Pairs.
    pub pairs: u64,
}

/// The contact plan in figures.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Contacts {
    /// Contacts (the internet bridge included).
    pub count: u64,
    /// Contacts by link class.
    pub by_class: BTreeMap<String, u64>,
    /// Median contact duration between boats or boat and shore, seconds.
    pub median_duration_s: Option<f64>,
    /// Hours vessels spent at sea, summed.
    pub vessel_hours_at_sea: f64,
}

/// What a run reports. Serialised as JSON, it is the same bytes for the same scenario and
/// seed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Simulated hours.
    pub duration_h: f64,
    /// Node counts.
    pub nodes: Nodes,
    /// The contact plan.
    pub contacts: Contacts,
    /// Router → class → figures.
    pub routers: BTreeMap<String, BTreeMap<String, ClassMetrics>>,
    /// Router → totals.
    pub totals: BTreeMap<String, Totals>,
    /// Router → mediation figures.
    pub mediation: BTreeMap<String, Mediation>,
    /// The goals of design §4 for the shipped policy.
    pub goals: Vec<Goal>,
}

impl Report {
    /// The report as pretty JSON (the `--json` output).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Figures for one router from its log and the oracle's arrivals for its items.
pub(crate) fn class_metrics(
    log: &Log,
    oracle: &[Option<u64>],
    epoch_s: u64,
) -> BTreeMap<String, ClassMetrics> {
    let mut out = BTreeMap::new();
    for class in Class::ALL {
        let mut created = 0u64;
        let mut delivered = 0u64;
        let mut deliverable = 0u64;
        let mut both = 0u64;
        let mut beats = 0u64;
        let mut lat = Vec::new();
        let mut lat_both = Vec::new();
        let mut olat_both = Vec::new();
        for (i, item) in log.items.iter().enumerate() {
            if item.class != class {
                continue;
            }
            let m = &log.msgs[item.msg as usize];
            if log
                .revoked
                .is_some_and(|(v, t)| m.src == v && m.created_ms >= t)
            {
                continue;
            }
            created += 1;
            let _ = epoch_s;
            let d = log.delivered[i].map(|(t, _)| t - m.created_ms);
            let o = oracle[i].map(|t| t - m.created_ms);
            if let Some(d) = d {
                delivered += 1;
                lat.push(d);
            }
            if o.is_some() {
                deliverable += 1;
            }
            match (d, o) {
                (Some(d), Some(o)) => {
                    both += 1;
                    lat_both.push(d);
                    olat_both.push(o);
                }
                (Some(_), None) => beats += 1,
                _ => {}
            }
        }
        if created == 0 {
            continue;
        }
        lat.sort_unstable();
        lat_both.sort_unstable();
        olat_both.sort_unstable();
        let s = |x: Option<u64>| x.map(|v| r1(v as f64 / 1000.0));
        let ratio = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some(r4(a as f64 / b as f64)),
            _ => None,
        };
        let relayed = if class == Class::DistressNearby {
            0
        } else {
            log.relays[class as usize]
        };
        let dups = if class == Class::DistressNearby {
            0
        } else {
            log.duplicates[class as usize]
        };
        let overhead = (delivered > 0 && class != Class::DistressNearby)
            .then(|| r4((relayed as f64 - delivered as f64) / delivered as f64));
        let bytes = (delivered > 0 && class != Class::DistressNearby)
            .then(|| r1(log.record_bytes[class as usize] as f64 / delivered as f64));
        out.insert(
            class.name().to_owned(),
            ClassMetrics {
                created,
                delivered,
                oracle_deliverable: deliverable,
                delivery_ratio: Some(r4(delivered as f64 / created as f64)),
                delivery_vs_oracle: (deliverable > 0).then(|| r4(both as f64 / deliverable as f64)),
                latency_median_s: s(quantile(&lat, 0.5)),
                latency_p95_s: s(quantile(&lat, 0.95)),
                oracle_latency_median_s: s(quantile(&olat_both, 0.5)),
                latency_median_vs_oracle: ratio(
                    quantile(&lat_both, 0.5),
                    quantile(&olat_both, 0.5),
                ),
                latency_p95_vs_oracle: ratio(quantile(&lat_both, 0.95), quantile(&olat_both, 0.95)),
                relayed,
                overhead_ratio: overhead,
                duplicates: dups,
                relays_per_holder: (relayed > dups)
                    .then(|| r4(relayed as f64 / (relayed - dups) as f64)),
                bytes_per_delivered: bytes,
                beats_oracle: beats,
            },
        );
    }
    out
}

pub(crate) fn totals(log: &Log) -> Totals {
    Totals {
        messages: log.msgs.len() as u64,
        bytes_sent: log.bytes,
        other_records_relayed: log.other_records,
        peak_store_records: log.peak_records,
        peak_store_bytes: log.peak_bytes,
        mean_store_bytes: r1(log.mean_bytes_sum / log.samples.max(1) as f64),
        notes: log.notes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

pub(crate) fn mediation(log: &Log) -> Mediation {
    let mut filed = 0;
    let mut acc = Vec::new();
    let mut closed = Vec::new();
    for (i, m) in log.msgs.iter().enumerate() {
        if let crate::traffic::What::Dispute { .. } = m.what {
            filed += 1;
            if let Some(c) = log.reactor.cases.get(&(i as u32)) {
                if let Some(t) = c.accepted_ms {
                    acc.push(t - m.created_ms);
                }
                if let Some(t) = c.closed_ms {
                    closed.push(t - m.created_ms);
                }
            }
        }
    }
    acc.sort_unstable();
    closed.sort_unstable();
    let s = |x: Option<u64>| x.map(|v| r1(v as f64 / 1000.0));
    Mediation {
        filed,
        accepted: acc.len() as u64,
        accept_median_s: s(quantile(&acc, 0.5)),
        accept_p95_s: s(quantile(&acc, 0.95)),
        closed: closed.len() as u64,
        close_median_s: s(quantile(&closed, 0.5)),
    }
}

/// The goals of design §4, checked on the shipped policy against the baselines.
pub(crate) fn goals(routers: &BTreeMap<String, BTreeMap<String, ClassMetrics>>) -> Vec<Goal> {
    let mut out = Vec::new();
    let Some(h) = routers.get("haiqiao") else {
        return out;
    };
    let get = |r: &str, c: &str| routers.get(r).and_then(|m| m.get(c));
    if let Some(d) = h.get("distress") {
        out.push(Goal {
            goal: "distress delivery_vs_oracle".into(),
            value: d.delivery_vs_oracle,
            bar: ">= 0.999".into(),
            met: d.delivery_vs_oracle.is_some_and(|v| v >= 0.999),
        });
        out.push(Goal {
            goal: "distress latency_median_vs_oracle".into(),
            value: d.latency_median_vs_oracle,
            bar: "<= 1.1".into(),
            met: d.latency_median_vs_oracle.is_none_or(|v| v <= 1.1),
        });
    }
    if let Some(s) = h.get("shore_bound") {
        out.push(Goal {
            goal: "shore_bound delivery_vs_oracle".into(),
            value: s.delivery_vs_oracle,
            bar: ">= 0.98".into(),
            met: s.delivery_vs_oracle.is_some_and(|v| v >= 0.98),
        });
        if let Some(e) = get("epidemic", "shore_bound").and_then(|e| e.overhead_ratio) {
            out.push(Goal {
                goal: "shore_bound overhead_ratio".into(),
                value: s.overhead_ratio,
                bar: format!("<= epidemic / 5 = {}", r4(e / 5.0)),
                met: s.overhead_ratio.is_some_and(|v| v <= e / 5.0),
            });
        }
    }
    for class in ["distress", "shore_bound", "dispute", "pair_alert", "case"] {
        let Some(hm) = h.get(class) else { continue };
        // The best baseline by delivery (then lower overhead).
        let best = ["direct", "epidemic", "spray_and_wait", "prophet"]
            .iter()
            .filter_map(|r| get(r, class).map(|m| (*r, m)))
            .max_by(|a, b| {
                a.1.delivery_ratio
                    .unwrap_or(0.0)
                    .total_cmp(&b.1.delivery_ratio.unwrap_or(0.0))
                    .then(
                        b.1.overhead_ratio
                            .unwrap_or(f64::MAX)
                            .total_cmp(&a.1.overhead_ratio.unwrap_or(f64::MAX)),
                    )
            });
        if let Some((name, b)) = best {
            let dr = hm.delivery_ratio.unwrap_or(0.0);
            let bd = b.delivery_ratio.unwrap_or(0.0);
            let ho = hm.overhead_ratio.unwrap_or(f64::MAX);
            let bo = b.overhead_ratio.unwrap_or(f64::MAX);
            out.push(Goal {
                goal: format!("{class} delivery_ratio, overhead_ratio vs best baseline"),
                value: hm.delivery_ratio,
                bar: format!(
                    ">= {name}'s {bd} at overhead below {}",
                    b.overhead_ratio.map_or("-".into(), |o| o.to_string())
                ),
                met: dr >= bd && ho < bo,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Net;
    use crate::oracle::tests::world;
    use crate::traffic::{Msg, NodeKind, What};

    #[test]
    fn quantiles_are_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7], 0.95), Some(7));
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(quantile(&(1..=100).collect::<Vec<_>>(), 0.95), Some(95));
    }

    #[test]
    fn class_figures_follow_their_definitions() {
        let mut w = world(&[NodeKind::Shore, NodeKind::Vessel], &[], 100);
        for t in [0, 1000, 2000] {
            w.msgs.push(Msg {
                src: 1,
                created_ms: t,
                ttl_min: 60,
                what: What::Report,
            });
        }
        let mut net = Net::new(&w, 1.0, crate::scenario::DEFAULT_EPOCH_S);
        // Item 0 delivered after 10 s (oracle: 5 s); item 1 delivered though the oracle says
        // it cannot be; item 2 deliverable (oracle 4 s) but not delivered.
        net.log.delivered[0] = Some((10_000, 0));
        net.log.delivered[1] = Some((3_000, 0));
        net.log.relays[Class::ShoreBound as usize] = 5;
        net.log.record_bytes[Class::ShoreBound as usize] = 500;
        net.log.duplicates[Class::ShoreBound as usize] = 1;
        let oracle = [Some(5_000), None, Some(6_000)];
        let m = &class_metrics(&net.log, &oracle, 0)["shore_bound"];
        assert_eq!((m.created, m.delivered, m.oracle_deliverable), (3, 2, 2));
        assert_eq!(m.delivery_ratio, Some(0.6667));
        assert_eq!(m.delivery_vs_oracle, Some(0.5));
        assert_eq!(m.beats_oracle, 1);
        assert_eq!(m.latency_median_vs_oracle, Some(2.0));
        assert_eq!(m.overhead_ratio, Some(1.5));
        assert_eq!((m.duplicates, m.relays_per_holder), (1, Some(1.25)));
        assert_eq!(m.bytes_per_delivered, Some(250.0));
        assert_eq!(m.latency_median_s, Some(2.0));
    }

    #[test]
    fn goals_compare_the_engine_with_the_oracle_and_the_baselines() {
        let m = |d: f64, o: f64| ClassMetrics {
            created: 10,
            delivered: 10,
            oracle_deliverable: 10,
            delivery_ratio: Some(d),
            delivery_vs_oracle: Some(d),
            latency_median_s: None,
            latency_p95_s: None,
            oracle_latency_median_s: None,
            latency_median_vs_oracle: Some(1.05),
            latency_p95_vs_oracle: None,
            relayed: 0,
            overhead_ratio: Some(o),
            duplicates: 0,
            relays_per_holder: None,
            bytes_per_delivered: None,
            beats_oracle: 0,
        };
        let mut routers = BTreeMap::new();
        for (r, d, o) in [
            ("haiqiao", 0.99, 9.0),
            ("epidemic", 1.0, 50.0),
            ("spray_and_wait", 0.9, 8.0),
        ] {
            let mut c = BTreeMap::new();
            c.insert("distress".to_owned(), m(d, o));
            c.insert("shore_bound".to_owned(), m(d, o));
            routers.insert(r.to_owned(), c);
        }
        let g = goals(&routers);
        let met = |name: &str| g.iter().find(|x| x.goal.starts_with(name)).map(|x| x.met);
        assert_eq!(met("distress delivery_vs_oracle"), Some(false));
        assert_eq!(met("distress latency_median_vs_oracle"), Some(true));
        assert_eq!(met("shore_bound delivery_vs_oracle"), Some(true));
        assert_eq!(met("shore_bound overhead_ratio"), Some(true), "9 <= 50 / 5");
        assert_eq!(
            met("shore_bound delivery_ratio, overhead_ratio vs best"),
            Some(false)
        );
    }
}
