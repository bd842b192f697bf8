//! `haiqiao demo`: a local mesh on loopback, on embedded defaults, playing a scripted day.
//!
//! Five `haiqiao` nodes run as processes on 127.0.77.x: the paired boats 浙岱渔03315 and
//! 浙岱渔03316, 浙普渔05008 working out of their range, the mediation boat 瀛洲红帆 and the
//! Shenjiamen shore station. A fisheries-bureau key made for the demo is every node's trust
//! anchor; its certificates are handed to the shore station and spread from there. Links come
//! and go through the nodes' control API (dial and hang up), as boats meet and part; buddy
//! watch is set to 8 seconds so that the day fits in about fifteen seconds. Each step is checked against
//! what the nodes report (their printed lines, their API); the timeline is printed as it
//! happens. With `--once` the demo exits 0 only if every step happened as scripted; without
//! it, at a terminal, the nodes (and the shore station's dashboard, whose address it prints
//! first) keep running for the CLI and the browser until Ctrl-C, and then it exits 0; with no
//! terminal on stdin (a script, CI) it stops after the day as `--once` does.
//!
//! Ctrl-C (or SIGTERM) during the scripted day stops every node cleanly, removes the demo's
//! folder and exits 130 (128 + SIGINT). The nodes run in their own process groups, so the
//! terminal's Ctrl-C reaches only the demo, which stops them in order.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, ensure};
use haiqiao_proto::{Body, PublicKey, Role, Timestamp};
use serde_json::{Value, json};

use crate::json::short;
use crate::local::{Interrupt, Interrupted, Proc};

/// The exit code of a demo interrupted during its scripted day (128 + SIGINT).
pub(crate) const INTERRUPTED_EXIT: u8 = 130;

/// Buddy watch in the demo, seconds (30 minutes at sea).
const DEMO_BUDDY_WATCH_S: u32 = 8;

struct Timeline {
    start: Instant,
    steps: usize,
}

impl Timeline {
    fn say(&mut self, who: &str, what: &str) {
        self.steps += 1;
        println!(
            "[{:>6.2}s] {who:<14} {what}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

fn delivered(p: &mut Proc, kind: &str, id: &str) {
    let needle = format!("delivered {kind} {id}");
    p.wait_line(|l| l == needle);
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or("").to_owned()
}

pub(crate) fn run(once: bool) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the haiqiao binary")?;
    let dir = tempfile::tempdir()?;
    let (interrupt, signalled) = Interrupt::watch().context("watching for Ctrl-C")?;
    let played = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        play(&exe, dir.path(), once, &interrupt, &signalled)
    }));
    match played {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(_)) if interrupt.is_hit() => Ok(interrupted()),
        Ok(Err(e)) => Err(e),
        Err(p) if p.is::<Interrupted>() => Ok(interrupted()),
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn interrupted() -> ExitCode {
    println!("interrupted: every node stopped cleanly; the demo's folder is removed");
    ExitCode::from(INTERRUPTED_EXIT)
}

/// A certificate signed on the bureau's key, handed to `at` to spread.
fn certify(
    at: &Proc,
    bureau: &haiqiao_proto::Keypair,
    subject: &str,
    role: Role,
    name: &str,
) -> anyhow::Result<()> {
    let subject: PublicKey = subject.parse().map_err(|_| anyhow::anyhow!("node id"))?;
    let now = (crate::clock::now_ms() / 1000) as u32;
    let r = crate::commands::authority_record(
        bureau,
        Body::Certificate {
            subject,
            name: name.to_owned(),
            registration: name.to_owned(),
            mmsi: None,
            role,
            valid_from: Timestamp(now - 86_400),
            valid_until: Timestamp(now + 90 * 86_400),
        },
    )?;
    at.post(
        "/api/v1/records/import",
        &json!({ "author": bureau.public().to_string(), "record": hex::encode(r.bytes()) }),
    );
    Ok(())
}

fn play(
    exe: &Path,
    base: &Path,
    once: bool,
    interrupt: &Interrupt,
    signalled: &mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let mut t = Timeline {
        start: Instant::now(),
        steps: 0,
    };
    let (mut n, bureau, gps_port) = start_fleet(&mut t, exe, base, interrupt)?;
    let (b, s) = (&n[1], &n[4]);
    println!(
        "dashboard: http://{}/ (the shore station; every node serves its own, e.g. 03316 at \
         http://{}/)",
        s.api, b.api
    );

    let _gps = morning(&mut t, &mut n, gps_port)?;
    certify_fleet(&mut t, &mut n, &bureau)?;
    mediation(&mut t, &mut n)?;
    buddy_watch(&mut t, &mut n)?;
    distress(&mut t, &mut n)?;
    evening(&mut t, &mut n)?;
    println!("every step happened as scripted ({} steps)", t.steps);
    if once {
        for p in &mut n {
            p.stop();
        }
        return Ok(());
    }
    // Kept up for a person at a terminal; a script or a pipe (no terminal on stdin) gets the
    // day and an exit, as with --once.
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        println!(
            "stdin is not a terminal: stopping the nodes (run it in a terminal to keep them and the dashboard up)"
        );
        for p in &mut n {
            p.stop();
        }
        return Ok(());
    }
    let (b, s) = (&n[1], &n[4]);
    println!("the nodes keep running; the dashboard: http://{}/", s.api);
    println!("or try, in another terminal:");
    println!("  haiqiao timeline --api {}     # the shore station", s.api);
    println!("  haiqiao case stats --api {}", s.api);
    println!(
        "  haiqiao distress list --all --api {}   # 浙岱渔03316",
        b.api
    );
    println!(
        "  haiqiao pair --api {}          # its pair and buddy watch",
        b.api
    );
    println!("Ctrl-C to stop.");
    let _ = signalled.recv();
    for p in &mut n {
        p.stop();
    }
    Ok(())
}

/// The five nodes of the day, configured (trust anchor, buddy watch, ports; 05008's
/// instruments) and started: 03315, 03316, 05008, the mediator, the shore station.
fn start_fleet(
    t: &mut Timeline,
    exe: &Path,
    base: &Path,
    interrupt: &Interrupt,
) -> anyhow::Result<(Vec<Proc>, haiqiao_proto::Keypair, u16)> {
    println!(
        "haiqiao demo: a local mesh of five nodes on 127.0.77.x (data in {})",
        base.display()
    );
    let specs = [
        ("浙岱渔03315", "vessel", "127.0.77.2"),
        ("浙岱渔03316", "vessel", "127.0.77.3"),
        ("浙普渔05008", "vessel", "127.0.77.4"),
        ("瀛洲红帆", "mediator", "127.0.77.5"),
        ("沈家门岸站", "shore", "127.0.77.6"),
    ];
    let bureau = crate::keys::create(&base.join("bureau.key"))?;
    let mut n: Vec<Proc> = specs
        .iter()
        .map(|(name, role, ip)| {
            let mut p = Proc::init(exe, base, name, role, ip);
            p.interruptible(interrupt);
            p
        })
        .collect();
    for p in &n {
        p.configure(&[], "");
        p.set(
            "fleet",
            "trust_anchors",
            &format!("[\"{}\"]", bureau.public()),
        );
        p.set("fleet", "buddy_watch_s", &DEMO_BUDDY_WATCH_S.to_string());
        p.set(
            "fleet",
            "ports",
            r#"[{ name = "Shenjiamen", lat = 29.95, lon = 122.30 }]"#,
        );
    }
    // 浙普渔05008 has instruments: a GPS (a recorded track out of Shenjiamen, NMEA over UDP),
    // a chart plotter feed and a Signal K server (docs/marine.md).
    let gps_port = std::net::UdpSocket::bind("127.0.77.4:0")?
        .local_addr()?
        .port();
    n[2].configure(&[], &crate::marine::demo::sections("127.0.77.4", gps_port));
    for p in n.iter_mut() {
        p.start();
        t.say(&p.name, &format!("started, node id {}", short(&p.id)));
    }
    Ok((n, bureau, gps_port))
}

/// Morning: the links of the day, and 05008's GPS, plotter feed and Signal K (the GPS feed
/// runs while the returned feeder lives).
fn morning(
    t: &mut Timeline,
    n: &mut [Proc],
    gps_port: u16,
) -> anyhow::Result<crate::marine::demo::Feeder> {
    let [a, b, c, m, s] = n else {
        anyhow::bail!("five nodes")
    };
    // Morning: the pair fishes together; the mediation boat is within reach of 03316 and of
    // shore; 05008 is within VHF range of shore only.
    b.dial(&a.p2p);
    b.wait_peers(1);
    m.dial(&b.p2p);
    m.wait_peers(1);
    m.dial(&s.p2p);
    m.wait_peers(2);
    c.dial(&s.p2p);
    c.wait_peers(1);
    t.say(
        "links",
        "03315 ⇄ 03316 (boat WiFi) ⇄ 瀛洲红帆 ⇄ shore ⇄ 05008 (VHF data)",
    );
    let _gps = crate::marine::demo::feed("127.0.77.4", gps_port)?;
    let report = c.wait_line(|l| l.starts_with("gps report "));
    t.say(
        "05008",
        &format!(
            "its GPS (a recorded track out of Shenjiamen) reports by itself: {}",
            report.trim_start_matches("gps report ")
        ),
    );
    let plotter = c.wait_line(|l| l.starts_with("plotter feed"));
    let signalk = c.wait_line(|l| l.starts_with("signal k on"));
    let addr = plotter.rsplit("tcp://").next().unwrap_or("");
    println!(
        "  chart plotter: OpenCPN → Options → Connections → Add → Network, TCP, {} port {} \
         (the mesh's boats as AIS targets, distress as DSC alarms)",
        addr.split(':').next().unwrap_or(""),
        addr.rsplit(':').next().unwrap_or("")
    );
    println!("  {signalk}");

    Ok(_gps)
}

/// The bureau certifies every node; a first position is seen.
fn certify_fleet(
    t: &mut Timeline,
    n: &mut [Proc],
    bureau: &haiqiao_proto::Keypair,
) -> anyhow::Result<()> {
    let [a, b, c, m, s] = n else {
        anyhow::bail!("five nodes")
    };
    // The bureau's certificates, issued at the shore station, reach every node.
    let roles = [
        Role::Vessel,
        Role::Vessel,
        Role::Vessel,
        Role::Mediator,
        Role::Shore,
    ];
    for (p, role) in [&*a, &*b, &*c, &*m, &*s].into_iter().zip(roles) {
        certify(s, bureau, &p.id, role, &p.name)?;
    }
    for p in [&mut *a, &mut *b, &mut *c, &mut *m] {
        p.saw("certified", "瀛洲红帆");
        p.saw("certified", "沈家门岸站");
    }
    t.say(
        "bureau",
        "certifies the three vessels, the mediator and the shore station; every node knows",
    );

    let pos = a.submit(json!({"kind": "position", "lat": 30.2412, "lon": 122.9108, "sog_kn": 3.2, "cog_deg": 85.0, "nav_status": "fishing"}));
    delivered(b, "position", &pos);
    delivered(s, "position", &pos);
    t.say(
        "03315",
        "position 30.2412N 122.9108E, fishing: seen by 03316 and shore",
    );

    Ok(())
}

/// A dispute, mediated at sea to a co-signed agreement.
fn mediation(t: &mut Timeline, n: &mut [Proc]) -> anyhow::Result<()> {
    let [a, b, c, m, s] = n else {
        anyhow::bail!("five nodes")
    };
    // Sea mediation.
    m.post(
        "/api/v1/duty",
        &json!({"areas": [{"area": 3, "south": 30.0, "west": 122.5, "north": 30.6, "east": 123.3}],
                "hours": 12}),
    );
    s.saw("duty", "瀛洲红帆");
    // The reporter seals its report to the mediators on duty it knows of: it waits to hear one.
    b.saw("duty", "瀛洲红帆");
    t.say(
        "瀛洲红帆",
        "on duty for area 3 (岱山北 Daishan north), every category, 12 h",
    );
    let case = id_of(&b.post(
        "/api/v1/cases",
        &json!({"category": "gear_damage", "parties": [{"name": "浙普渔05008", "key": c.id}],
                "lat": 30.25, "lon": 122.93,
                "description": "拖网被割断约200米 trawl net cut, about 200 m"}),
    ));
    let cs = short(&case).to_owned();
    m.saw("dispute_filed", "[we are offered]");
    s.saw("dispute_filed", &cs);
    c.saw("dispute_filed", "[we are party]");
    t.say(
        "03316",
        "files a dispute against 05008 (net cut): offered to 瀛洲红帆, seen by shore and 05008",
    );
    a.saw("sealed_case", &cs);
    t.say(
        "03315",
        "carries the case sealed: it sees that a case exists, not what it says",
    );
    let why = c.refused(&format!("/api/v1/cases/{case}"), &json!({"step": "accept"}));
    ensure!(why.contains("not a certified mediator"), "refusal: {why}");
    t.say(
        "05008",
        &format!("tries to accept the case itself: refused ({why})"),
    );
    m.post(&format!("/api/v1/cases/{case}"), &json!({"step": "accept"}));
    b.saw("case_accepted", &cs);
    c.saw("case_accepted", &cs);
    t.say("瀛洲红帆", "accepts the case; both parties are told");
    let terms = "05008 pays 3000 yuan for 200 m of net by 12-15";
    m.post(
        &format!("/api/v1/cases/{case}"),
        &json!({"step": "propose", "text": terms}),
    );
    b.saw("agreement_proposed", &cs);
    c.saw("agreement_proposed", &cs);
    s.saw("agreement_proposed", &cs);
    t.say("瀛洲红帆", &format!("proposes: {terms}"));
    let why = s.refused(&format!("/api/v1/cases/{case}"), &json!({"step": "sign"}));
    ensure!(why.contains("not a party"), "refusal: {why}");
    t.say("shore", &format!("tries to co-sign: refused ({why})"));
    b.post(&format!("/api/v1/cases/{case}"), &json!({"step": "sign"}));
    c.post(&format!("/api/v1/cases/{case}"), &json!({"step": "sign"}));
    m.saw("case_close_sent", "");
    // The close may reach shore before the last signature does: its timeline line then
    // says "closed" alone; the statistics below count the case closed either way.
    s.saw("case_closed", &cs);
    t.say(
        "shore",
        "03316 and 05008 co-signed; 瀛洲红帆 closed the case; shore recorded it",
    );
    let st = s.get("/api/v1/cases/stats");
    ensure!(
        st["closed"] == 1 && st["handled_rate"].as_f64() == Some(1.0),
        "shore case statistics: {st}"
    );
    t.say(
        "shore",
        &format!(
            "case statistics: {} case(s), {} closed, handled rate {}, median time to close {} s",
            st["total"], st["closed"], st["handled_rate"], st["median_time_to_close_s"]
        ),
    );

    Ok(())
}

/// The pair forms; buddy watch raises the alarm when one drops out and clears it on return.
fn buddy_watch(t: &mut Timeline, n: &mut [Proc]) -> anyhow::Result<()> {
    let [a, b, _, m, s] = n else {
        anyhow::bail!("five nodes")
    };
    // The pair forms; buddy watch starts.
    a.post("/api/v1/pairs", &json!({"partner": b.id}));
    b.post("/api/v1/pairs", &json!({"partner": a.id}));
    a.saw("paired", "");
    b.saw("paired", "");
    t.say("03315+03316", "pair up (both signed): buddy watch on");
    a.post(
        "/api/v1/pair-alert",
        &json!({"alert": "gear_fouled", "text": "网缠住了，请减速 net fouled, slow down"}),
    );
    b.saw("pair_alert", "gear_fouled");
    t.say("03316", "pair alert from 03315: gear fouled");

    // 03315 drops out of range: after the buddy-watch interval both raise the alarm, and
    // 03316's report reaches shore through the mediation boat. Only lines printed from here
    // on count (an alarm raised earlier, on a slow machine, must not pass for this one).
    let (ma, mb, ms0) = (a.mark(), b.mark(), s.mark());
    a.disconnect(&b.id);
    b.wait_line(|l| l.starts_with("peer down "));
    t.say("links", "03315 drops out of WiFi range");
    b.saw_since(mb, "buddy_alarm", "ALARM");
    t.say(
        "03316",
        &format!("BUDDY WATCH ALARM: 03315 silent for {DEMO_BUDDY_WATCH_S} s (30 min at sea)"),
    );
    let report = b.saw_since(mb, "buddy_report_sent", "buddy_watch");
    let report_id = report.rsplit(' ').next().unwrap_or("").to_owned();
    s.saw_since(ms0, "buddy_overdue", "");
    t.say(
        "shore",
        "buddy-watch report: 03315 overdue (from 03316, carried by 瀛洲红帆)",
    );
    m.wait_line(|l| l.starts_with("freed ") && l.contains(&report_id));
    t.say(
        "瀛洲红帆",
        "shore's receipt (a certified shore station) freed its carried copy",
    );
    a.saw_since(ma, "buddy_alarm", "ALARM");
    t.say("03315", "alarm on board too: 03316 silent");
    let (ma, mb, ms0) = (a.mark(), b.mark(), s.mark());
    b.dial(&a.p2p);
    b.wait_peers(2);
    a.submit(json!({"kind": "position", "lat": 30.262, "lon": 122.951, "nav_status": "fishing"}));
    b.submit(json!({"kind": "position", "lat": 30.259, "lon": 122.947, "nav_status": "fishing"}));
    b.saw_since(mb, "buddy_alarm_cleared", "");
    a.saw_since(ma, "buddy_alarm_cleared", "");
    s.saw_since(ms0, "buddy_heard", "");
    t.say(
        "03315+03316",
        "back in range: both alarms cleared, shore told 03315 is heard again",
    );
    Ok(())
}

/// Afternoon: a distress, answered and resolved.
fn distress(t: &mut Timeline, n: &mut [Proc]) -> anyhow::Result<()> {
    let [a, b, c, _, s] = n else {
        anyhow::bail!("five nodes")
    };
    // Afternoon: 05008 has an emergency.
    let mayday = id_of(&c.post(
        "/api/v1/distress",
        &json!({"nature": "flooding", "lat": 30.31, "lon": 122.98, "persons": 9,
                "text": "机舱进水 engine room flooding"}),
    ));
    let ms = short(&mayday).to_owned();
    s.saw("distress_raised", &ms);
    b.saw("distress_raised", &ms);
    a.saw("distress_raised", &ms);
    t.say(
        "浙普渔05008",
        "MAYDAY flooding, 9 POB: reached shore and, through it, the pair (ashore also call 12395)",
    );
    let why = a.refused(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "cancelled"}),
    );
    ensure!(
        why.contains("only the vessel in distress"),
        "refusal: {why}"
    );
    t.say("03315", &format!("tries to cancel it: refused ({why})"));
    s.post(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "acknowledged", "text": "沈家门岸站 acknowledges; 12395 informed"}),
    );
    c.saw("distress_acknowledged", &ms);
    t.say("shore", "acknowledges: 05008's repeats stop");
    b.post(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "responding", "eta_min": 25, "text": "浙岱渔03316 coming"}),
    );
    c.saw("distress_responding", &ms);
    t.say("03316", "responding, ETA 25 min");
    let list = s.get("/api/v1/distress");
    let open = &list["distress"][0];
    ensure!(
        open["incident"] == mayday.as_str()
            && open["acknowledged_by"][0]["shore"] == true
            && open["responders"][0]["eta_min"] == 25,
        "shore's open distress list: {list}"
    );
    let nearest: Vec<String> = open["nearest"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            format!(
                "{} {:.1} km",
                n["name"].as_str().unwrap_or("?"),
                n["distance_km"].as_f64().unwrap_or(f64::NAN)
            )
        })
        .collect();
    t.say(
        "shore",
        &format!(
            "open distress: acknowledged by shore, 03316 coming; nearest {}",
            nearest.join(", ")
        ),
    );
    b.post(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "on_scene"}),
    );
    c.saw("distress_on_scene", &ms);
    c.post(
        &format!("/api/v1/distress/{mayday}"),
        &json!({"status": "resolved", "text": "pumps holding, under tow"}),
    );
    s.saw("distress_resolved", &ms);
    let list = s.get("/api/v1/distress");
    ensure!(
        list["distress"].as_array().is_some_and(Vec::is_empty),
        "nothing open after resolution: {list}"
    );
    t.say("浙普渔05008", "03316 on scene; resolved, under tow");

    Ok(())
}

/// Evening: homeward, and what shore holds.
fn evening(t: &mut Timeline, n: &mut [Proc]) -> anyhow::Result<()> {
    let [_, b, _, _, s] = n else {
        anyhow::bail!("five nodes")
    };
    // Evening: 03316 turns for home; from its own position report it knows it is homeward.
    b.submit(
        json!({"kind": "position", "lat": 30.20, "lon": 122.80, "sog_kn": 10.0,
                    "cog_deg": 240.0, "nav_status": "under_way"}),
    );
    b.saw("homeward", "to Shenjiamen");
    let voyage = b.get("/api/v1/voyage");
    let eta = voyage["eta_min"].as_u64().unwrap_or(0);
    ensure!(
        voyage["homeward"] == true && (150..=210).contains(&eta),
        "03316 homeward: {voyage}"
    );
    let st = b.get("/api/v1/status");
    ensure!(
        st["eta_shore_min"]
            .as_u64()
            .is_some_and(|m| m.abs_diff(eta) <= 1),
        "the engine's hello carries the ETA: {st}"
    );
    t.say(
        "03316",
        &format!(
            "turns for home at 10 kn: homeward to Shenjiamen, ashore in {eta} min; its hellos \
             say so, and boats it meets hand it the last copy of their reports for shore"
        ),
    );

    let inbox: Value = s.get("/api/v1/inbox?limit=1000");
    let n_in = inbox["records"].as_array().map_or(0, Vec::len);
    ensure!(n_in >= 15, "shore inbox holds {n_in} records");
    t.say("shore", &format!("inbox holds {n_in} records"));

    Ok(())
}
