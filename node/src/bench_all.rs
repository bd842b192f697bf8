//! `haiqiao bench all`: every `haiqiao bench` subcommand, sized to finish in a few minutes,
//! in one JSON; and `haiqiao bench compare`, which sets the headline figures of two such
//! JSONs side by side (docs/benchmarks.md: comparing two commits on the same machine).
//!
//! Each subcommand runs in a process of its own (this binary, `bench <name> --json ...`), so
//! that one's memory (`views` measures its RSS) or failure does not touch the others, and so
//! that a subcommand an older commit lacks is recorded as missing instead of failing the run:
//! the same `bench all` works on both commits being compared.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

/// The subcommands run by `bench all`, with the arguments that size them.
pub(crate) const RUNS: &[(&str, &[&str])] = &[
    ("record", &[]),
    (
        "ingest",
        &[
            "--records",
            "8192",
            "--reps",
            "3",
            "--single-records",
            "200",
        ],
    ),
    (
        "sync",
        &["--n", "20000", "--d", "1,100,1000", "--reps", "3"],
    ),
    (
        "chain",
        &["--samples", "9", "--relay-records", "20000", "--reps", "3"],
    ),
    ("marine", &["--samples", "9"]),
    (
        "fleet",
        &["--vessels", "2000", "--cases", "500", "--reps", "3"],
    ),
    ("seal", &["--ops", "1000", "--reps", "3"]),
    ("views", &["--records", "100000", "--reps", "1"]),
    ("store", &["--records", "100000"]),
    ("flood", &[]),
    (
        "shore",
        &["--records", "5000", "--reps", "3", "--catchup", "10000"],
    ),
];

/// Whether a figure is better higher or lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    Higher,
    Lower,
}

/// The headline figures: name, JSON pointer into `bench all`'s `runs`, which way is better.
pub(crate) const HEADLINE: &[(&str, &str, Better)] = &[
    (
        "position_record_bytes",
        "/record/sizes/position",
        Better::Lower,
    ),
    ("ingest_batch_per_s", "/ingest/batch_per_s", Better::Higher),
    ("ingest_ratio", "/ingest/ratio", Better::Higher),
    (
        "relay_tcp_per_s",
        "/chain/relay/tcp/records_per_s",
        Better::Higher,
    ),
    (
        "relay_tcp_ratio",
        "/chain/relay/tcp/ratio_to_ingest",
        Better::Higher,
    ),
    (
        "relay_quic_per_s",
        "/chain/relay/quic/records_per_s",
        Better::Higher,
    ),
    (
        "relay_quic_ratio",
        "/chain/relay/quic/ratio_to_ingest",
        Better::Higher,
    ),
    (
        "distress_chain_of_five_ms",
        "/chain/chain_of_five_distress_ms/median",
        Better::Lower,
    ),
    ("sync_in_sync_bytes", "/sync/in_sync/bytes", Better::Lower),
    (
        "sync_in_sync_round_trips",
        "/sync/in_sync/round_trips",
        Better::Lower,
    ),
    (
        "sync_overhead_per_missing_d1000",
        "/sync/missing/2/overhead_per_missing",
        Better::Lower,
    ),
    (
        "seal_and_sign_over_sign",
        "/seal/ratios/seal_and_sign_over_sign",
        Better::Higher,
    ),
    (
        "open_over_verify",
        "/seal/ratios/open_over_verify",
        Better::Higher,
    ),
    (
        "fix_to_plotter_ms",
        "/marine/fix_to_plotter_one_hop_ms/median",
        Better::Lower,
    ),
    (
        "fleet_observe_vs_verify",
        "/fleet/observe_vs_verify",
        Better::Higher,
    ),
    (
        "views_rebuild_s_100k",
        "/views/median_rebuild_s",
        Better::Lower,
    ),
    ("views_rss_mib_100k", "/views/rss_mib", Better::Lower),
    (
        "store_rss_after_open_mib_100k",
        "/store/rss_after_open_mib",
        Better::Lower,
    ),
    ("store_open_s_100k", "/store/median_open_s", Better::Lower),
    (
        "store_index_bytes_per_record",
        "/store/index_bytes_per_record",
        Better::Lower,
    ),
    (
        "flood_routine_per_link_vs_size",
        "/flood/routine/per_link_vs_size",
        Better::Lower,
    ),
    (
        "flood_distress_per_link_vs_size",
        "/flood/distress/per_link_vs_size",
        Better::Lower,
    ),
    (
        "flood_distress_full_copies",
        "/flood/distress/full_copies",
        Better::Lower,
    ),
    ("shore_ingest_per_s", "/shore/ingest_per_s", Better::Higher),
    (
        "shore_catchup_per_s",
        "/shore/catchup/records_per_s",
        Better::Higher,
    ),
];

/// Runs one subcommand in its own process: its JSON, or why there is none.
fn run_one(exe: &Path, name: &str, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(exe)
        .args(["bench", name, "--json"])
        .args(args)
        .output()
        .with_context(|| format!("running bench {name}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // clap's "error: unrecognized subcommand" or a panic's message, else the last line.
        let why = err
            .lines()
            .find(|l| l.starts_with("error") || l.contains("panicked"))
            .or_else(|| err.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("");
        return Ok(json!({ "error": format!("{} ({why})", out.status) }));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("bench {name} printed no JSON"))
}

/// Every subcommand of [`RUNS`] (or those named in `only`), and the headline figures.
pub(crate) fn all(only: &[String]) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let mut runs = Map::new();
    let mut seconds = Map::new();
    for (name, args) in RUNS {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("bench all: {name}");
        let t = Instant::now();
        runs.insert((*name).to_owned(), run_one(&exe, name, args)?);
        seconds.insert(
            (*name).to_owned(),
            json!((t.elapsed().as_secs_f64() * 10.0).round() / 10.0),
        );
    }
    let runs = Value::Object(runs);
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "headline": headline(&runs),
        "runs": runs,
        "seconds": seconds,
        "commands": RUNS.iter().map(|(n, a)| format!("haiqiao bench {n} --json {}", a.join(" "))).collect::<Vec<_>>(),
    }))
}

/// The headline figures found in `runs` (figures a subcommand did not report are left out).
pub(crate) fn headline(runs: &Value) -> Value {
    let mut out = Map::new();
    for (name, pointer, _) in HEADLINE {
        if let Some(v) = runs.pointer(pointer).filter(|v| v.is_number()) {
            out.insert((*name).to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// One row of a comparison: the figure, its two values, and new / old.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) old: Option<f64>,
    pub(crate) new: Option<f64>,
    /// Whether the change is for the better (none when unknown or equal).
    pub(crate) improved: Option<bool>,
}

/// The headline figures of two `bench all` JSONs side by side, in [`HEADLINE`] order, then
/// any other headline figure either has.
pub(crate) fn compare(old: &Value, new: &Value) -> Vec<Row> {
    let get = |v: &Value, name: &str| {
        v.pointer(&format!("/headline/{name}"))
            .and_then(Value::as_f64)
    };
    let mut names: Vec<(String, Option<Better>)> = HEADLINE
        .iter()
        .map(|(n, _, b)| ((*n).to_owned(), Some(*b)))
        .collect();
    for v in [old, new] {
        for k in v["headline"].as_object().into_iter().flat_map(|m| m.keys()) {
            if !names.iter().any(|(n, _)| n == k) {
                names.push((k.clone(), None));
            }
        }
    }
    names
        .into_iter()
        .filter_map(|(name, better)| {
            let (o, n) = (get(old, &name), get(new, &name));
            if o.is_none() && n.is_none() {
                return None;
            }
            let improved = match (o, n, better) {
                (Some(o), Some(n), Some(b)) if o != n => Some((n > o) == (b == Better::Higher)),
                _ => None,
            };
            Some(Row {
                name,
                old: o,
                new: n,
                improved,
            })
        })
        .collect()
}

/// `bench compare`: the table of [`compare`], as text.
pub(crate) fn compare_files(old: &Path, new: &Path) -> anyhow::Result<String> {
    let read = |p: &Path| -> anyhow::Result<Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))
    };
    let (o, n) = (read(old)?, read(new)?);
    let fmt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |x| format!("{x}"));
    let mut text = format!(
        "{:<34} {:>14} {:>14} {:>9}\n",
        "figure", "old", "new", "new/old"
    );
    for r in compare(&o, &n) {
        let ratio = match (r.old, r.new) {
            (Some(a), Some(b)) if a != 0.0 => format!("{:.3}", b / a),
            _ => "—".to_owned(),
        };
        let mark = match r.improved {
            Some(true) => "  better",
            Some(false) => "  worse",
            None => "",
        };
        text.push_str(&format!(
            "{:<34} {:>14} {:>14} {:>9}{mark}\n",
            r.name,
            fmt(r.old),
            fmt(r.new),
            ratio
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn headline_pointers_name_subcommands_that_all_runs() {
        for (name, pointer, _) in HEADLINE {
            let run = pointer.split('/').nth(1).unwrap();
            assert!(
                RUNS.iter().any(|(n, _)| *n == run),
                "{name} points into {run}, which bench all does not run"
            );
        }
    }

    #[test]
    fn compare_says_which_way_each_figure_moved() {
        let runs_old = json!({
            "ingest": { "batch_per_s": 30000.0, "ratio": 0.7 },
            "chain": { "chain_of_five_distress_ms": { "median": 4.0 } },
        });
        let runs_new = json!({
            "ingest": { "batch_per_s": 33000.0, "ratio": 0.7 },
            "chain": { "chain_of_five_distress_ms": { "median": 5.0 } },
            "store": { "error": "exit status: 2" },
        });
        let old = json!({ "headline": headline(&runs_old) });
        let mut new = json!({ "headline": headline(&runs_new) });
        new["headline"]["store_rss_mib"] = json!(150.0);
        let rows = compare(&old, &new);
        let row = |n: &str| rows.iter().find(|r| r.name == n).unwrap().clone();
        assert_eq!(row("ingest_batch_per_s").improved, Some(true));
        assert_eq!(row("ingest_ratio").improved, None, "unchanged");
        assert_eq!(row("distress_chain_of_five_ms").improved, Some(false));
        let extra = row("store_rss_mib");
        assert_eq!(
            (extra.old, extra.new, extra.improved),
            (None, Some(150.0), None)
        );
        assert!(
            rows.iter().all(|r| r.name != "relay_tcp_per_s"),
            "absent from both"
        );
    }
}
