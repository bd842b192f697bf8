//! What `--out DIR` writes:
//!
//! - `report.json`: the report.
//! - `summary.csv`: one row per router and class (the report's figures).
//! - `deliveries.csv`: every measured item of every router: its source, its target (`shore`,
//!   `mediation` or a node), the node it reached, creation, the oracle's arrival and the
//!   router's, in seconds from the start (empty when never).
//! - `nodes.csv`: node index, name, kind, home port, partner.
//! - `contact_plan.txt`: the contacts in the ONE simulator's connection-event format;
//!   `contact_plan_links.txt` adds each contact's link class as the interface field.
//! - `one_contacts_merged.txt`, `one_messages.txt`, `one_messages.csv`: the run for replay in
//!   the ONE, with every shore station merged into one host (the ONE has no anycast), the
//!   base traffic as message-creation events, and their classes and TTLs (see [`crate::one`]).
//! - `delivery_<class>.svg`: share of items delivered by each hour, per router and the oracle.
//! - `latency_<class>.svg`: each delivered item's latency against the oracle's (log–log).

use std::fmt::Write as _;
use std::path::Path;

use crate::SimError;
use crate::net::Log;
use crate::one;
use crate::report::Report;
use crate::scenario::Scenario;
use crate::traffic::{Class, Target};
use crate::world::World;

const COLOURS: [&str; 6] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#e6ab02", "#222222",
];

fn put(dir: &Path, name: &str, text: &str) -> Result<(), SimError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| SimError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

/// Writes every output file into `dir` (created if missing).
pub(crate) fn write(
    dir: &Path,
    sc: &Scenario,
    w: &World,
    sizes: &[u32; crate::engine::VARIANTS],
    report: &Report,
    logs: &[(String, Log)],
    oracle: &[Vec<Option<u64>>],
) -> Result<(), SimError> {
    std::fs::create_dir_all(dir).map_err(|source| SimError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    put(dir, "report.json", &report.to_json())?;

    let mut s = String::from(
        "router,class,created,delivered,oracle_deliverable,delivery_ratio,delivery_vs_oracle,\
         latency_median_s,latency_p95_s,oracle_latency_median_s,latency_median_vs_oracle,\
         latency_p95_vs_oracle,relayed,overhead_ratio,bytes_per_delivered,beats_oracle\n",
    );
    for (r, classes) in &report.routers {
        for (c, m) in classes {
            let _ = writeln!(
                s,
                "{r},{c},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                m.created,
                m.delivered,
                m.oracle_deliverable,
                opt(m.delivery_ratio),
                opt(m.delivery_vs_oracle),
                opt(m.latency_median_s),
                opt(m.latency_p95_s),
                opt(m.oracle_latency_median_s),
                opt(m.latency_median_vs_oracle),
                opt(m.latency_p95_vs_oracle),
                m.relayed,
                opt(m.overhead_ratio),
                opt(m.bytes_per_delivered),
                m.beats_oracle
            );
        }
    }
    put(dir, "summary.csv", &s)?;

    let mut s =
        String::from("router,msg,class,src,target,target_node,created_s,oracle_s,delivered_s\n");
    for ((name, log), o) in logs.iter().zip(oracle) {
        for (i, item) in log.items.iter().enumerate() {
            let m = &log.msgs[item.msg as usize];
            let f = |t: Option<u64>| t.map_or(String::new(), |t| format!("{:.3}", t as f64 / 1e3));
            let _ = writeln!(
                s,
                "{name},{},{},{},{},{},{:.3},{},{}",
                item.msg,
                item.class.name(),
                m.src,
                match item.target {
                    Target::Shore => "shore".to_owned(),
                    Target::Mediation => "mediation".to_owned(),
                    Target::Node(n) => n.to_string(),
                },
                log.delivered[i].map_or(String::new(), |(_, n)| n.to_string()),
                m.created_ms as f64 / 1e3,
                f(o[i]),
                f(log.delivered[i].map(|(t, _)| t)),
            );
        }
    }
    put(dir, "deliveries.csv", &s)?;

    let mut s = String::from("node,name,kind,home,partner\n");
    for (i, n) in w.nodes.iter().enumerate() {
        let _ = writeln!(
            s,
            "{i},{},{:?},{},{}",
            n.name,
            n.kind,
            n.home,
            n.partner.map_or(String::new(), |p| p.to_string())
        );
    }
    put(dir, "nodes.csv", &s)?;
    put(dir, "contact_plan.txt", &one::contact_plan(w))?;
    put(
        dir,
        "contact_plan_links.txt",
        &one::contact_plan_with_links(w, sc),
    )?;
    put(dir, "one_contacts_merged.txt", &one::merged_plan(w))?;
    put(dir, "one_messages.txt", &one::messages(w, sizes))?;
    put(dir, "one_messages.csv", &one::messages_csv(w, sizes))?;

    for class in Class::ALL {
        if !logs
            .iter()
            .any(|(_, l)| l.items.iter().any(|i| i.class == class))
        {
            continue;
        }
        put(
            dir,
            &format!("delivery_{}.svg", class.name()),
            &delivery_svg(class, w.duration_ms, logs, oracle),
        )?;
        put(
            dir,
            &format!("latency_{}.svg", class.name()),
            &latency_svg(class, logs, oracle),
        )?;
    }
    Ok(())
}

struct Frame {
    w: f64,
    h: f64,
    left: f64,
    bottom: f64,
    top: f64,
    right: f64,
}

impl Frame {
    fn standard() -> Frame {
        Frame {
            w: 720.0,
            h: 440.0,
            left: 70.0,
            bottom: 50.0,
            top: 40.0,
            right: 170.0,
        }
    }
    fn x(&self, f: f64) -> f64 {
        self.left + f * (self.w - self.left - self.right)
    }
    fn y(&self, f: f64) -> f64 {
        self.h - self.bottom - f * (self.h - self.bottom - self.top)
    }
    fn open(&self, title: &str, xlabel: &str, ylabel: &str) -> String {
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" font-size=\"15\">{title}</text>\n",
            self.w, self.h, self.left
        );
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\
             <line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{3}\" stroke=\"black\"/>",
            self.x(0.0),
            self.y(0.0),
            self.x(1.0),
            self.y(1.0)
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{xlabel}</text>\
             <text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">{ylabel}</text>",
            self.x(0.5),
            self.h - 12.0,
            self.y(0.5),
            self.y(0.5)
        );
        s
    }
    fn legend(&self, s: &mut String, i: usize, name: &str, colour: &str) {
        let y = self.top + 10.0 + 20.0 * i as f64;
        let x = self.w - self.right + 15.0;
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"3\"/>\
             <text x=\"{}\" y=\"{}\">{name}</text>",
            x + 24.0,
            x + 30.0,
            y + 4.0
        );
    }
    fn tick_x(&self, s: &mut String, f: f64, label: &str) {
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ccc\"/>\
             <text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{label}</text>",
            self.x(f),
            self.y(0.0),
            self.y(1.0),
            self.y(0.0) + 16.0
        );
    }
    fn tick_y(&self, s: &mut String, f: f64, label: &str) {
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#ccc\"/>\
             <text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{label}</text>",
            self.x(0.0),
            self.y(f),
            self.x(1.0),
            self.x(0.0) - 6.0,
            self.y(f) + 4.0
        );
    }
}

/// Share of the class's items delivered by each time, per router, and the oracle's.
fn delivery_svg(
    class: Class,
    duration_ms: u64,
    logs: &[(String, Log)],
    oracle: &[Vec<Option<u64>>],
) -> String {
    let f = Frame::standard();
    let mut s = f.open(
        &format!("{}: share delivered over time", class.name()),
        "hours from the start",
        "share of items created",
    );
    let hours = duration_ms as f64 / 3.6e6;
    let step = nice_step(hours);
    let mut h = 0.0;
    while h <= hours + 1e-9 {
        f.tick_x(&mut s, h / hours, &format!("{h}"));
        h += step;
    }
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        f.tick_y(&mut s, v, &format!("{v:.1}"));
    }
    let mut series: Vec<(String, Vec<u64>, usize)> = Vec::new();
    for (name, log) in logs {
        let times: Vec<u64> = log
            .items
            .iter()
            .zip(&log.delivered)
            .filter(|(i, _)| i.class == class)
            .filter_map(|(_, d)| d.map(|(t, _)| t))
            .collect();
        let n = log.items.iter().filter(|i| i.class == class).count();
        series.push((name.clone(), times, n));
    }
    if let (Some((_, log)), Some(o)) = (logs.last(), oracle.last()) {
        let times: Vec<u64> = log
            .items
            .iter()
            .zip(o)
            .filter(|(i, _)| i.class == class)
            .filter_map(|(_, t)| *t)
            .collect();
        let n = log.items.iter().filter(|i| i.class == class).count();
        series.push((
            format!("oracle ({})", logs.last().map_or("", |l| l.0.as_str())),
            times,
            n,
        ));
    }
    for (k, (name, mut times, n)) in series.into_iter().enumerate() {
        times.sort_unstable();
        let colour = COLOURS[k % COLOURS.len()];
        let mut pts = format!("{:.1},{:.1}", f.x(0.0), f.y(0.0));
        for (i, t) in times.iter().enumerate() {
            let x = f.x(*t as f64 / duration_ms.max(1) as f64);
            let _ = write!(
                pts,
                " {x:.1},{:.1} {x:.1},{:.1}",
                f.y(i as f64 / n.max(1) as f64),
                f.y((i + 1) as f64 / n.max(1) as f64)
            );
        }
        let _ = write!(
            pts,
            " {:.1},{:.1}",
            f.x(1.0),
            f.y(times.len() as f64 / n.max(1) as f64)
        );
        let dash = if name.starts_with("oracle") {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{pts}\"/>"
        );
        f.legend(&mut s, k, &name, colour);
    }
    s.push_str("</svg>\n");
    s
}

/// Each delivered item's latency against the oracle's, log–log, per router.
fn latency_svg(class: Class, logs: &[(String, Log)], oracle: &[Vec<Option<u64>>]) -> String {
    let f = Frame::standard();
    let mut s = f.open(
        &format!("{}: latency against the oracle's", class.name()),
        "oracle latency (s, log)",
        "router latency (s, log)",
    );
    // Seconds from 1 to 10^6, log scale; latencies under a second are drawn at 1 s.
    let (lo, hi) = (0.0f64, 6.0f64);
    let pos = |sec: f64| ((sec.max(1.0)).log10().clamp(lo, hi) - lo) / (hi - lo);
    for e in 0..=6 {
        let v = 10f64.powi(e);
        let label = format!("1e{e}");
        f.tick_x(&mut s, pos(v), &label);
        f.tick_y(&mut s, pos(v), &label);
    }
    let _ = writeln!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
        f.x(0.0),
        f.y(0.0),
        f.x(1.0),
        f.y(1.0)
    );
    for (k, ((name, log), o)) in logs.iter().zip(oracle).enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        for (i, item) in log.items.iter().enumerate() {
            if item.class != class {
                continue;
            }
            let (Some((t, _)), Some(ot)) = (log.delivered[i], o[i]) else {
                continue;
            };
            let c = log.msgs[item.msg as usize].created_ms;
            let (x, y) = ((ot - c) as f64 / 1e3, (t - c) as f64 / 1e3);
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{colour}\" fill-opacity=\"0.5\"/>",
                f.x(pos(x)),
                f.y(pos(y))
            );
        }
        f.legend(&mut s, k, name, colour);
    }
    s.push_str("</svg>\n");
    s
}

fn nice_step(hours: f64) -> f64 {
    for s in [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0] {
        if hours / s <= 12.0 {
            return s;
        }
    }
    168.0
}
