//! The smoke scenario (simulations/smoke.toml), as CI runs it: every router, the oracle,
//! byte-identical reports for the same seed, and the outputs of `--out`.

use std::path::{Path, PathBuf};

use haiqiao_sim::{ROUTERS, Report, run_scenario};

fn smoke() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../simulations/smoke.toml")
}

fn seed() -> u64 {
    let s = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    println!("SEED={s}");
    s
}

fn run(seed: u64, out: Option<&Path>) -> Report {
    run_scenario(&smoke(), Some(seed), out, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn smoke_runs_every_router_and_no_router_beats_the_oracle() {
    let seed = seed();
    let dir = std::env::temp_dir().join(format!("haiqiao-sim-smoke-{}", std::process::id()));
    let r = run(seed, Some(&dir));
    for name in ROUTERS {
        let classes = &r.routers[name];
        for class in ["distress", "shore_bound"] {
            let m = &classes[class];
            assert!(m.created > 0, "{name} {class}: nothing created");
            for key in [
                "delivery_ratio",
                "delivery_vs_oracle",
                "latency_median_vs_oracle",
                "overhead_ratio",
            ] {
                let v = serde_json::to_value(m).unwrap();
                assert!(v.get(key).is_some(), "{name} {class}: no {key}");
            }
        }
        for (class, m) in classes {
            assert_eq!(m.beats_oracle, 0, "{name} {class} beats the oracle");
            assert!(m.delivered <= m.created);
        }
    }
    // The oracle can deliver what flooding with unlimited capacity can: epidemic, close to it.
    let e = &r.routers["epidemic"]["distress"];
    assert!(e.oracle_deliverable > 0);
    // Every output file is there.
    for f in [
        "report.json",
        "summary.csv",
        "deliveries.csv",
        "nodes.csv",
        "contact_plan.txt",
        "delivery_distress.svg",
        "latency_distress.svg",
        "delivery_shore_bound.svg",
    ] {
        let p = dir.join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{f} missing"
        );
    }
    let plan = std::fs::read_to_string(dir.join("contact_plan.txt")).unwrap();
    let first = plan.lines().next().unwrap();
    let parts: Vec<&str> = first.split(' ').collect();
    assert_eq!(parts.len(), 5, "{first}");
    assert_eq!(parts[1], "CONN");
    assert!(parts[4] == "up");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(json["routers"]["haiqiao"]["distress"]["delivery_ratio"].is_number());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let seed = seed();
    let a = run(seed, None).to_json();
    let b = run(seed, None).to_json();
    assert!(a == b, "two runs with seed {seed} differ");
    let c = run(seed + 1, None).to_json();
    assert_ne!(a, c, "seeds {seed} and {} gave the same report", seed + 1);
}
