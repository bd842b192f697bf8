//! How the simulator's time and memory grow with the fleet: runs simulations/zhoushan-fleet.toml
//! with the fleet scaled to each size (fleet-wide rates scaled with it), one child process per
//! size so that each peak RSS is its own, and prints a table.
//!
//! `cargo bench -p haiqiao-sim --bench scale [-- 1000 2500 5000 10000]`
//! (default sizes: 1000 2500 5000 10000). A benchmark, not a timed test. Prints, per size,
//! wall seconds (with each phase's), CPU seconds (user + system: the machine is shared) and
//! peak RSS, then the growth exponents between consecutive sizes.

use std::path::Path;
use std::time::Instant;

const CHILD: &str = "HAIQIAO_SIM_SCALE_ONE";

fn scenario(vessels: u32) -> haiqiao_sim::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../simulations/zhoushan-fleet.toml");
    let mut sc = haiqiao_sim::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let f = f64::from(vessels) / f64::from(sc.fleet.vessels);
    sc.fleet.vessels = vessels;
    sc.fleet.mediators = ((f64::from(sc.fleet.mediators) * f).round() as u32).max(1);
    sc.traffic.distress_per_day *= f;
    sc.traffic.disputes_per_day *= f;
    sc
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds this process has used (user + system), from /proc/self/stat: on a machine
/// shared with other work, wall time measures the neighbours too.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect();
    match (f.get(11), f.get(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

fn child(vessels: u32) {
    let sc = scenario(vessels);
    let start = Instant::now();
    let mut marks: Vec<(u64, f64)> = Vec::new();
    let mut phase = 0;
    let r = haiqiao_sim::run(&sc, sc.seed, None, &mut |d, t| {
        // Phases: world (first 1/(routers+2) of the units), each router, the oracle.
        let per = t / (sc.routers.run.len() as u64 + 2);
        let p = d / per.max(1);
        while phase < p {
            phase += 1;
            marks.push((phase, start.elapsed().as_secs_f64()));
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let total = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds();
    let mut last = 0.0;
    let mut phases = Vec::new();
    for (_, t) in &marks {
        phases.push(format!("{:.1}", t - last));
        last = *t;
    }
    let h = &r.routers.get("haiqiao");
    let shore = h.and_then(|m| m.get("shore_bound"));
    println!(
        "{vessels}\t{}\t{}\t{total:.1}\t{cpu:.1}\t{}\t{:.0}\t{}",
        r.contacts.count,
        r.totals.values().next().map_or(0, |t| t.messages),
        phases.join("/"),
        peak_rss_mb(),
        shore
            .and_then(|s| s.delivery_vs_oracle)
            .map_or("-".into(), |v| v.to_string()),
    );
}

fn main() {
    if let Ok(n) = std::env::var(CHILD) {
        child(n.parse().unwrap_or(1000));
        return;
    }
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 2500, 5000, 10_000]
    } else {
        sizes
    };
    println!(
        "vessels\tcontacts\tmessages\tseconds\tcpu_seconds\tphases (world/routers.../oracle)\tpeak_rss_mb\thaiqiao shore_bound vs oracle"
    );
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    // (vessels, cpu seconds, peak MB) of each size that ran.
    let mut rows: Vec<(f64, f64, f64)> = Vec::new();
    for n in sizes {
        let out = std::process::Command::new(&exe)
            .env(CHILD, n.to_string())
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() {
            println!("{n}\tfailed: {}", out.status);
            continue;
        }
        println!("{line}");
        let cols: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| cols.get(i).and_then(|c| c.parse::<f64>().ok());
        if let (Some(cpu), Some(mb)) = (num(4), num(6)) {
            rows.push((f64::from(n), cpu, mb));
        }
    }
    // Growth: the exponent k in cost ∝ vessels^k between consecutive sizes.
    for w in rows.windows(2) {
        let (a, b) = (w[0], w[1]);
        let k = |x: f64, y: f64| (y / x).ln() / (b.0 / a.0).ln();
        println!(
            "growth {:.0} → {:.0} vessels: cpu × {:.2} (exponent {:.2}), peak memory × {:.2} (exponent {:.2})",
            a.0,
            b.0,
            b.1 / a.1,
            k(a.1, b.1),
            b.2 / a.2,
            k(a.2, b.2)
        );
    }
}
