//! The shore station's window (docs/dashboard.md): the dashboard in a real headless Chromium
//! over a running local mesh, `/metrics` scraped and parsed, `/healthz`, the API's tokens, and
//! the distress and case views after a restart.
//!
//! The browser test needs Debian's `chromium`, node and `npm ci` in tests/browser (`.ci/run`
//! installs them and sets `HAIQIAO_BROWSER_REQUIRED=1`, which makes a missing piece a failure);
//! elsewhere it prints `SKIP …` and returns. Screenshots go to `target/dashboard-artefacts/`
//! (or `$HAIQIAO_ARTEFACTS`), never into git.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::procs::{Proc, init};

/// Set by `.ci/run`: the browser test must run, not skip.
const REQUIRED_ENV: &str = "HAIQIAO_BROWSER_REQUIRED";
/// How long one step of the browser script may take (it bounds its own waits at 30 s).
const SCRIPT_WAIT: Duration = Duration::from_secs(120);

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_haiqiao-test-node"))
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Why the browser test cannot run here, if it cannot.
fn browser_missing() -> Option<String> {
    let chromium = std::env::var("HAIQIAO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("no {chromium} (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node on PATH".into());
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some("tests/browser/node_modules missing (npm ci in tests/browser)".into());
    }
    None
}

/// A bureau key trusted by every node, and nodes certified by it with names.
struct Mesh {
    nodes: Vec<Proc>,
    bureau_key: PathBuf,
}

impl Mesh {
    /// Starts `specs` (name, role, ip), the first being the hub every other node dials; the
    /// bureau certifies every node at the hub.
    fn start(base: &Path, specs: &[(&str, &str, &str)], extra: &str) -> Mesh {
        let bureau_key = base.join("bureau.key");
        let out = Command::new(exe())
            .args(["authority", "keygen", "--out"])
            .arg(&bureau_key)
            .output()
            .expect("keygen");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let anchor = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|w| w.len() == 64)
            .unwrap_or_else(|| panic!("keygen prints the key: {text}"))
            .to_owned();
        let mut nodes: Vec<Proc> = Vec::new();
        for (name, role, ip) in specs {
            let mut p = init(base, name, role, ip);
            p.configure(&[], extra);
            p.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
            p.start();
            nodes.push(p);
        }
        let hub = nodes[0].p2p.clone();
        for n in nodes.iter_mut().skip(1) {
            n.dial(&hub);
            n.wait_peers(1);
        }
        let m = Mesh { nodes, bureau_key };
        for (i, (name, role, _)) in specs.iter().enumerate() {
            m.certify(&m.nodes[i].id.clone(), role, name);
        }
        m
    }

    fn certify(&self, subject: &str, role: &str, name: &str) {
        let out = Command::new(exe())
            .args(["authority", "certify", "--api", &self.nodes[0].api, "--key"])
            .arg(&self.bureau_key)
            .args(["--subject", subject, "--role", role, "--name", name])
            .output()
            .expect("certify");
        assert!(
            out.status.success(),
            "certify {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(mut self) {
        for n in &mut self.nodes {
            n.stop();
        }
    }
}

/// Lines of a child's stdout, read on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout");
    // Bounded: the script prints a handful of lines.
    let (tx, rx) = mpsc::sync_channel(64);
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            eprintln!("[browser] {l}");
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_result(rx: &mpsc::Receiver<String>, want: &str) -> String {
    loop {
        match rx.recv_timeout(SCRIPT_WAIT) {
            Ok(l) if l.starts_with("FAIL") => panic!("the browser check failed: {l}"),
            Ok(l) if l.starts_with(want) => return l,
            Ok(_) => {}
            Err(e) => panic!("the browser script said nothing for {SCRIPT_WAIT:?} ({e})"),
        }
    }
}

#[test]
fn the_dashboard_shows_the_fleet_and_a_distress_and_updates_live_in_chromium() {
    if let Some(why) = browser_missing() {
        if std::env::var_os(REQUIRED_ENV).is_some() {
            panic!("{REQUIRED_ENV} is set but the browser test cannot run: {why}");
        }
        println!("SKIP dashboard browser test: {why}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = Mesh::start(
        dir.path(),
        &[
            ("沈家门岸站", "shore", "127.0.9.2"),
            ("浙岱渔03315", "vessel", "127.0.9.3"),
            ("浙普渔05008", "vessel", "127.0.9.4"),
        ],
        "",
    );
    let [s, a, c] = &mut m.nodes[..] else {
        unreachable!()
    };
    let pa = a.submit(json!({"kind": "position", "lat": 30.2412, "lon": 122.3108, "sog_kn": 3.2, "cog_deg": 85.0, "nav_status": "fishing"}));
    let pc = c.submit(json!({"kind": "position", "lat": 30.31, "lon": 122.48, "sog_kn": 0.5, "cog_deg": 200.0, "nav_status": "fishing"}));
    s.wait_line(|l| l == format!("delivered position {pa}"));
    s.wait_line(|l| l == format!("delivered position {pc}"));
    let mayday = c.post(
        "/api/v1/distress",
        &json!({"nature": "flooding", "lat": 30.31, "lon": 122.48, "persons": 9, "text": "机舱进水 engine room flooding"}),
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.wait_line(|l| l == format!("delivered distress {mayday}"));

    let artefacts = std::env::var_os("HAIQIAO_ARTEFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-artefacts")
        });
    let mut child = Command::new("node")
        .arg(browser_dir().join("check.mjs"))
        .arg(format!("http://{}/", s.api))
        .arg(&artefacts)
        .arg("浙岱渔03315,浙普渔05008")
        .arg("ETA 17 min")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let rx = lines_of(&mut child);
    next_result(&rx, "ready");
    // The live update: 03315 answers the distress while the page is open.
    a.post(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "responding", "eta_min": 17}),
    );
    let ok = next_result(&rx, "ok ");
    let status = child.wait().expect("wait");
    assert!(status.success(), "browser script: {status}");
    let figures: Value = serde_json::from_str(ok.trim_start_matches("ok ")).expect("figures");
    println!(
        "DASHBOARD figures: {figures} (screenshots in {})",
        artefacts.display()
    );
    assert!(artefacts.join("dashboard-live.png").exists());
    m.stop();
}

/// One sample of the text exposition: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses Prometheus' text exposition strictly enough for a test: every line is a `# HELP`,
/// `# TYPE`, `# EOF` or `name{label="v",...} value` (the few lines a hand parser needs; no
/// crate for parsing it is in the workspace).
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line == "# EOF" {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment line {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((n, l)) => {
                let l = l.strip_suffix('}').expect("closing brace");
                let labels = l
                    .split(',')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("label=value");
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (n.to_owned(), labels)
            }
        };
        assert!(name.starts_with("haiqiao_"), "unprefixed metric {name}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name {name:?}"
        );
        samples.push((name, labels, value));
    }
    assert!(text.ends_with("# EOF\n"), "the exposition ends with # EOF");
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

fn get_text(api: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(format!("http://{api}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call().expect("GET");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().expect("body"))
}

fn post_status(api: &str, path: &str, token: Option<&str>, body: &Value) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(format!("http://{api}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    req.send_json(body).expect("POST").status().as_u16()
}

#[test]
fn metrics_are_scraped_and_parsed_and_agree_with_the_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = Mesh::start(
        dir.path(),
        &[
            ("沈家门岸站", "shore", "127.0.9.6"),
            ("浙岱渔03316", "vessel", "127.0.9.7"),
        ],
        "",
    );
    let [s, b] = &mut m.nodes[..] else {
        unreachable!()
    };
    let text = b.submit(json!({"kind": "text", "text": "今晚回沈家门", "dest": "everyone"}));
    s.wait_line(|l| l == format!("delivered text {text}"));
    let d = b.post(
        "/api/v1/distress",
        &json!({"nature": "fire", "lat": 30.1, "lon": 122.4, "persons": 4}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_line(|l| l == format!("delivered distress {d}"));
    let (code, body) = get_text(&s.api, "/metrics", None);
    assert_eq!(code, 200, "{body}");
    let (types, samples) = parse_exposition(&body);
    let st = s.get("/api/v1/status");
    let num = |v: &Value| v.as_f64().expect("number");
    assert_eq!(
        types.get("haiqiao_records_delivered").map(String::as_str),
        Some("counter")
    );
    assert_eq!(
        types.get("haiqiao_peers").map(String::as_str),
        Some("gauge")
    );
    assert_eq!(value(&samples, "haiqiao_peers", &[]), Some(1.0));
    // Counters only grow: the scrape came before this status, so it is at most the status.
    let delivered = value(&samples, "haiqiao_records_delivered_total", &[]).expect("delivered");
    assert!(
        delivered >= 2.0 && delivered <= num(&st["stats"]["delivered"]),
        "{delivered} vs {st}"
    );
    assert_eq!(value(&samples, "haiqiao_distress_open", &[]), Some(1.0));
    assert!(value(&samples, "haiqiao_store_records", &[]).expect("store") >= 2.0);
    assert!(value(&samples, "haiqiao_bytes_received_total", &[]).expect("bytes") > 0.0);
    // The engine's time per kind of input, as the status has it (the scrape came first).
    let frames = value(
        &samples,
        "haiqiao_engine_inputs_total",
        &[("input", "frame")],
    )
    .expect("frames");
    assert!(
        frames >= 2.0 && frames <= num(&st["engine_timings"]["frame"]["count"]),
        "{frames} vs {st}"
    );
    let spent = value(
        &samples,
        "haiqiao_engine_input_seconds_total",
        &[("input", "frame")],
    )
    .expect("seconds");
    let longest = value(
        &samples,
        "haiqiao_engine_input_max_seconds",
        &[("input", "frame")],
    )
    .expect("max");
    assert!(
        spent > 0.0 && longest > 0.0 && longest <= spent,
        "{spent} {longest}"
    );
    assert_eq!(
        value(
            &samples,
            "haiqiao_feed_records_total",
            &[("how", "delivered"), ("kind", "distress")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            &samples,
            "haiqiao_feed_records_total",
            &[("how", "delivered"), ("kind", "text")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(&samples, "haiqiao_cases", &[("stage", "open")]),
        Some(0.0)
    );
    for (name, _, _) in &samples {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(types.contains_key(family), "no TYPE for {name}");
    }
    let (code, body) = get_text(&s.api, "/healthz", None);
    assert_eq!((code, body.trim()), (200, "ok"));
    m.stop();
}

#[test]
fn with_a_token_reads_need_a_token_writes_need_the_full_one_and_the_page_stays_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (write, read) = ("w-0123456789abcdef", "r-0123456789abcdef");
    let mut n = init(dir.path(), "shore", "shore", "127.0.9.10");
    n.configure(&[], "");
    n.set("api", "token", &format!("\"{write}\""));
    n.set("api", "read_token", &format!("\"{read}\""));
    n.start();
    let api = n.api.clone();
    let (code, page) = get_text(&api, "/", None);
    assert_eq!(code, 200);
    assert!(page.contains("/dashboard/app.js"), "{page}");
    assert_eq!(get_text(&api, "/healthz", None).0, 200);
    let (code, body) = get_text(&api, "/api/v1/status", None);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("\"unauthorized\""), "{body}");
    assert_eq!(
        get_text(&api, "/api/v1/status", Some("wrong-token-123456")).0,
        401
    );
    assert_eq!(get_text(&api, "/api/v1/status", Some(read)).0, 200);
    assert_eq!(get_text(&api, "/metrics", Some(read)).0, 200);
    assert_eq!(get_text(&api, "/metrics", None).0, 401);
    let text = json!({"kind": "text", "text": "hello", "dest": "everyone"});
    assert_eq!(post_status(&api, "/api/v1/records", None, &text), 401);
    assert_eq!(post_status(&api, "/api/v1/records", Some(read), &text), 403);
    assert_eq!(
        post_status(&api, "/api/v1/records", Some(write), &text),
        201
    );
    n.stop();
}

#[test]
fn a_listen_beyond_loopback_without_a_token_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = init(dir.path(), "shore", "shore", "127.0.9.12");
    n.configure(&[], "");
    // Refused before anything is bound: no port is opened beyond loopback.
    n.set("api", "listen", "\"0.0.0.0:0\"");
    let out = Command::new(exe())
        .args(["run", "--config"])
        .arg(n.dir.join("haiqiao.toml"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[api] token is not set"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn distress_and_case_views_are_the_same_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = Mesh::start(
        dir.path(),
        &[
            ("沈家门岸站", "shore", "127.0.9.14"),
            ("浙岱渔03315", "vessel", "127.0.9.15"),
            ("瀛洲红帆", "mediator", "127.0.9.16"),
        ],
        "",
    );
    let [s, a, med] = &mut m.nodes[..] else {
        unreachable!()
    };
    let mayday = a.post(
        "/api/v1/distress",
        &json!({"nature": "flooding", "lat": 30.31, "lon": 122.48, "persons": 9}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_line(|l| l == format!("delivered distress {mayday}"));
    s.post(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "acknowledged"}),
    );
    med.wait_line(|l| l.starts_with("delivered distress_update "));
    // Case records are sealed to the mediators on duty that the reporter knows of (docs/
    // protocol.md §13.1): the mediator announces its duty first and the boat hears it.
    med.post(
        "/api/v1/duty",
        &json!({"areas": [{"area": 3, "south": 30.0, "west": 122.0, "north": 30.6, "east": 123.3}],
                "hours": 12}),
    );
    a.saw("duty", "瀛洲红帆");
    let case = a.post(
        "/api/v1/cases",
        &json!({"category": "gear_damage", "parties": [{"name": "浙普渔05008"}],
                "lat": 30.31, "lon": 122.48, "description": "net cut"}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    med.wait_line(|l| l == format!("delivered dispute_report {case}"));
    s.wait_line(|l| l == format!("delivered dispute_report {case}"));
    med.post(&format!("/api/v1/cases/{case}"), &json!({"step": "accept"}));
    s.wait_line(|l| l.starts_with("delivered case_update "));
    let views = |p: &Proc| {
        (
            p.get("/api/v1/distress?all=true"),
            p.get("/api/v1/cases"),
            p.get("/api/v1/cases/stats"),
        )
    };
    let before = views(s);
    assert_eq!(
        before.0["distress"].as_array().map(Vec::len),
        Some(1),
        "{}",
        before.0
    );
    assert_eq!(before.1["cases"][0]["stage"], "accepted", "{}", before.1);
    s.stop();
    s.start();
    let after = views(s);
    // The nearest boats are computed against the clock: compare everything else.
    let strip = |mut v: Value| {
        if let Some(list) = v["distress"].as_array_mut() {
            for d in list {
                d["nearest"] = Value::Null;
                for r in d["responders"].as_array_mut().into_iter().flatten() {
                    r["distance_km"] = Value::Null;
                }
            }
        }
        v
    };
    assert_eq!(strip(after.0), strip(before.0), "distress after a restart");
    assert_eq!(after.1, before.1, "cases after a restart");
    assert_eq!(after.2, before.2, "case statistics after a restart");
    m.stop();
}
