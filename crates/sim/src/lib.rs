//! haiqiao-sim: a deterministic fleet simulator. It runs many haiqiao engines with in-memory
//! stores on one thread, beside the baseline routers of the DTN literature, on one contact plan
//! built from vessel mobility and radio link classes, and judges them all against an oracle.
//!
//! One run ([`run`], or [`run_scenario`] from a file):
//!
//! 1. [`world::build`]: mobility, the contact plan and the base traffic, from the scenario and
//!    the seed alone.
//! 2. Each router runs on that world in the event loop of `net` (the capacity model and the
//!    order of events are documented there): `direct`, `epidemic`, `spray_and_wait`,
//!    `prophet` (`baseline`) and `haiqiao`, the real engine (`engine`).
//! 3. [`oracle::earliest_arrivals`] computes, for every measured item of every router, the
//!    earliest possible arrival; it shares nothing with the routers but the plan.
//! 4. [`Report`]: figures per router and class (`report` documents each), the mediation
//!    figures, and the goals of design §4; with an output folder, CSV tables, SVG plots and
//!    the contact plan in the ONE simulator's format (`output`).
//!
//! No clocks, threads or unseeded randomness: the same scenario and seed give the same bytes.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod app;
mod baseline;
mod engine;
mod net;
pub mod one;
pub mod oracle;
mod output;
mod report;
pub mod rng;
pub mod scenario;
mod store;
pub mod traffic;
mod verify;
pub mod world;

use std::collections::BTreeMap;
use std::path::Path;

pub use report::{ClassMetrics, Contacts, Goal, Mediation, Nodes, Report, Totals};
pub use scenario::{MediationRecords, Scenario};

use crate::net::{Log, Net, Router};
use crate::traffic::NodeKind;

/// The routers a scenario may run, in report order.
pub const ROUTERS: [&str; 5] = ["direct", "epidemic", "spray_and_wait", "prophet", "haiqiao"];

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The scenario is not valid TOML for a scenario.
    #[error("scenario {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// The scenario's values are inconsistent.
    #[error("scenario: {0}")]
    Invalid(String),
    /// Writing the output folder failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads a scenario file.
pub fn load(path: &Path) -> Result<Scenario, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Scenario::from_toml(&text).map_err(|e| SimError::Parse {
        path: path.display().to_string(),
        source: Box::new(e),
    })
}

/// Runs the scenario in `path` with `seed` (default: the scenario's); with `out`, writes CSV
/// tables, SVG plots, `report.json` and the contact plan there. `progress(done, total)` is
/// called now and then with work units done so far (for a progress bar).
pub fn run_scenario(
    path: &Path,
    seed: Option<u64>,
    out: Option<&Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, SimError> {
    let sc = load(path)?;
    run(&sc, seed.unwrap_or(sc.seed), out, progress)
}

/// Work units per phase, for progress.
const UNITS: u64 = 1000;

/// Runs a scenario with a seed. See [`run_scenario`].
pub fn run(
    sc: &Scenario,
    seed: u64,
    out: Option<&Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, SimError> {
    sc.validate().map_err(SimError::Invalid)?;
    let routers: Vec<&str> = ROUTERS
        .iter()
        .copied()
        .filter(|r| sc.routers.run.iter().any(|x| x == r))
        .collect();
    let total = UNITS * (routers.len() as u64 + 2);
    progress(0, total);
    let w = world::build(sc, seed);
    progress(UNITS, total);
    let sizes = engine::size_table(
        sc.epoch_s,
        sc.routers.haiqiao_sealed.then(|| {
            w.nodes
                .iter()
                .filter(|n| n.kind != NodeKind::Vessel)
                .count()
        }),
    );
    let kinds: Vec<NodeKind> = w.nodes.iter().map(|n| n.kind).collect();
    let n_shore = kinds.iter().filter(|k| **k == NodeKind::Shore).count();
    let history: Vec<Option<u64>> = w.nodes.iter().map(|n| n.at_sea_for_ms).collect();
    let prophet = baseline::ProphetParams {
        p_encounter: sc.routers.prophet_p_encounter,
        beta: sc.routers.prophet_beta,
        gamma: sc.routers.prophet_gamma,
        unit_ms: u64::from(sc.routers.prophet_unit_s) * 1000,
    };
    let mut logs: Vec<(String, Log)> = Vec::new();
    for (ri, name) in routers.iter().enumerate() {
        let mut router: Box<dyn Router> = match *name {
            "haiqiao" => {
                let app = sc.routers.haiqiao_app.then(|| app::App::new(sc, &w));
                Box::new(engine::Engine::new(sc, &kinds, n_shore, &history, app))
            }
            other => {
                let kind = match other {
                    "direct" => baseline::Kind::Direct,
                    "epidemic" => baseline::Kind::Epidemic,
                    "spray_and_wait" => baseline::Kind::SprayAndWait,
                    _ => baseline::Kind::Prophet,
                };
                Box::new(baseline::Baseline::new(
                    kind,
                    w.nodes.len(),
                    sc.routers.spray_copies,
                    prophet,
                    sizes,
                ))
            }
        };
        let mut net = Net::new(&w, sc.traffic.mediation_h, sc.epoch_s);
        if *name == "haiqiao" && sc.routers.haiqiao_app {
            // The application answers (app), not the shared model; the revoked vessel's
            // later items are not measured.
            net.reactor_answers = false;
            net.log.revoked = app::revocation(&w);
        }
        let base = UNITS * (ri as u64 + 1);
        let dur = w.duration_ms.max(1);
        net.run(
            router.as_mut(),
            u64::from(sc.sample_min) * 60_000,
            &mut |t| progress(base + t * UNITS / dur, total),
        );
        drop(router);
        logs.push((name.to_string(), net.log));
    }

    // The oracle, for every router's items (the base traffic's once).
    let n_base_items = logs.first().map_or(0, |(_, l)| {
        l.msg_items
            .get(w.msgs.len().wrapping_sub(1))
            .map_or(0, |r| r.1 as usize)
    });
    let mut queries = Vec::new();
    let mut offsets = Vec::new();
    for (i, (_, log)) in logs.iter().enumerate() {
        let from = if i == 0 { 0 } else { n_base_items };
        offsets.push(queries.len() as isize - from as isize);
        for item in &log.items[from..] {
            let m = &log.msgs[item.msg as usize];
            queries.push(oracle::Query {
                src: m.src,
                t0: m.created_ms,
                deadline: m.deadline_ms(sc.epoch_s),
                target: item.target,
            });
        }
    }
    let base = UNITS * (routers.len() as u64 + 1);
    let arrivals = oracle::earliest_arrivals(&w, &queries, &mut |d, t| {
        progress(base + d * UNITS / t.max(1), total)
    });
    let mut per_router = BTreeMap::new();
    let mut totals = BTreeMap::new();
    let mut mediation = BTreeMap::new();
    let mut oracle_of: Vec<Vec<Option<u64>>> = Vec::new();
    for (i, (name, log)) in logs.iter().enumerate() {
        let o: Vec<Option<u64>> = (0..log.items.len())
            .map(|k| {
                let q = if k < n_base_items {
                    k
                } else {
                    (k as isize + offsets[i]) as usize
                };
                arrivals[q]
            })
            .collect();
        per_router.insert(name.clone(), report::class_metrics(log, &o, sc.epoch_s));
        totals.insert(name.clone(), report::totals(log));
        mediation.insert(name.clone(), report::mediation(log));
        oracle_of.push(o);
    }
    let goals = report::goals(&per_router);
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    let mut durations: Vec<u64> = Vec::new();
    for c in &w.contacts {
        let name = if c.class == world::INTERNET {
            "internet".to_owned()
        } else {
            durations.push(c.down_ms - c.up_ms);
            sc.links[c.class as usize].name.clone()
        };
        *by_class.entry(name).or_default() += 1;
    }
    durations.sort_unstable();
    let report = Report {
        scenario: sc.name.clone(),
        seed,
        duration_h: sc.duration_h,
        nodes: Nodes {
            shore: n_shore as u64,
            vessels: kinds.iter().filter(|k| **k == NodeKind::Vessel).count() as u64,
            mediators: kinds.iter().filter(|k| **k == NodeKind::Mediator).count() as u64,
            pairs: w.nodes.iter().filter(|n| n.partner.is_some()).count() as u64 / 2,
        },
        contacts: Contacts {
            count: w.contacts.len() as u64,
            by_class,
            median_duration_s: report::quantile(&durations, 0.5).map(|d| d as f64 / 1000.0),
            vessel_hours_at_sea: (w.vessel_hours_at_sea * 10.0).round() / 10.0,
        },
        routers: per_router,
        totals,
        mediation,
        goals,
    };
    if let Some(dir) = out {
        output::write(dir, sc, &w, &sizes, &report, &logs, &oracle_of)?;
    }
    progress(total, total);
    Ok(report)
}
