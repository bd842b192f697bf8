//! On board (docs/marine.md): the boat's own GPS in, automatic position reports, the chart
//! plotter feed and Signal K — against real peers.
//!
//! - gpsd from Debian's packages, fed by `gpsfake` with a recorded NMEA log
//!   (`tests/vectors/shenjiamen.nmea`: a boat leaving Shenjiamen, GN and BD talkers), gives
//!   boat A its fix; A reports it to the mesh by itself; boat B, one hop away, shows A on its
//!   plotter feed (TCP 10110), decoded by pyais (an independent AIS decoder): MMSI, name,
//!   position, speed, ship type. A distress raised on A reaches B's plotter as `$CDDSC` +
//!   `$CDDSE` and `$IIALR`, and B's Signal K stream as `notifications.flooding`; every delta
//!   and the REST model are valid against @signalk/signalk-schema.
//! - NMEA 0183 over UDP (BeiDou talker, a corrupted sentence among good ones) and from a TCP
//!   server (GGA + VTG + HDT, a GSA ignored) drive reports; status says when there is no fix
//!   and when the GPS's server went away; a Signal K server's stream is a GPS source too.
//! - Buddy watch stays quiet between two paired boats that both report by the policy, for a
//!   day, and raises its alarm when one stops (pure, on a virtual clock).
//!
//! `.ci/run` installs gpsd, gpsd-clients, pyais and the schema package and sets
//! `HAIQIAO_MARINE_REQUIRED=1`: then a missing tool fails the test instead of skipping it.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use haiqiao_marine::ident::pseudo_mmsi;
use haiqiao_marine::sentence::{Sentence, frame};
use haiqiao_proto::PublicKey;
use serde_json::{Value, json};

use crate::procs::cli;
use crate::procs::init;

/// Set by `.ci/run`: a missing prerequisite fails instead of skipping.
const REQUIRED_ENV: &str = "HAIQIAO_MARINE_REQUIRED";

fn signalk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("signalk")
}

/// Whether gpsfake, pyais and the Signal K schema package are here; prints why not.
fn ready(need: &[&str]) -> bool {
    let mut missing = Vec::new();
    let runs = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if need.contains(&"gpsfake") && !runs("gpsfake", &["-h"]) {
        missing.push("gpsfake (Debian gpsd-clients)");
    }
    if need.contains(&"pyais") && !runs("python3", &["-c", "import pyais"]) {
        missing.push("pyais (pip)");
    }
    if need.contains(&"signalk")
        && (!runs("node", &["--version"])
            || !signalk_dir()
                .join("node_modules/@signalk/signalk-schema")
                .exists())
    {
        missing.push("node and @signalk/signalk-schema (npm ci in tests/signalk)");
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing {}", missing.join(", "));
    if std::env::var_os(REQUIRED_ENV).is_some() {
        panic!("{REQUIRED_ENV} is set but {why}");
    }
    println!("SKIP marine: {why} (.ci/run installs them)");
    false
}

/// A child process killed (by its pid) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Decodes NMEA lines with pyais.
fn pyais(lines: &[String]) -> Vec<Value> {
    let mut child = Command::new("python3")
        .arg(signalk_dir().join("pyais_decode.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            stdin.write_all(l.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pyais failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A plotter: reads the feed line by line.
struct Plotter {
    r: BufReader<TcpStream>,
    seen: Vec<String>,
}

impl Plotter {
    fn connect(addr: &str) -> Plotter {
        let s = TcpStream::connect(addr).expect("connect to the plotter feed");
        // A bound, not a wait: the feed refreshes every second in these tests.
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Plotter {
            r: BufReader::new(s),
            seen: Vec::new(),
        }
    }

    /// Reads until `done` holds of the lines read so far; returns them.
    fn until(&mut self, done: impl Fn(&[String]) -> bool) -> &[String] {
        while !done(&self.seen) {
            let mut l = String::new();
            let n = self
                .r
                .read_line(&mut l)
                .expect("the feed went quiet for 60 s");
            assert!(n > 0, "the feed closed");
            let l = l.trim_end().to_owned();
            Sentence::parse(&l).unwrap_or_else(|e| panic!("bad sentence {l:?}: {e}"));
            assert!(l.len() + 2 <= 82, "longer than 82: {l}");
            self.seen.push(l);
        }
        &self.seen
    }
}

/// AIS lines of a message type from one MMSI (first sentence of each message).
fn ais_from(lines: &[String], mmsi: u32, first_char: char) -> usize {
    lines
        .iter()
        .filter(|l| {
            Sentence::parse(l).is_ok_and(|s| {
                s.kind() == "VDM"
                    && s.fields().nth(1) == Some("1")
                    && s.fields().nth(4).is_some_and(|p| p.starts_with(first_char))
                    && haiqiao_marine::ais::mmsi_of_vdm(&s) == Some(mmsi)
            })
        })
        .count()
}

#[test]
fn gpsfake_fixes_become_reports_that_a_plotter_and_signal_k_one_hop_away_show() {
    if !ready(&["gpsfake", "pyais", "signalk"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/shenjiamen.nmea");
    let port = free_port("127.0.0.1");
    // gpsd on a pty, fed the log (a sentence every 50 ms, looping), listening on 127.0.0.1.
    // gpsfake says "log cycle of … begins" once its gpsd is up and the log is being fed: the
    // node then finds gpsd at its first dial (a node that found it not yet listening would
    // redial after its backoff, 1 s doubling to 30 s).
    let _gpsfake = Guard(haiqiao_tests::services::spawn_until_ready(
        Command::new("gpsfake")
            .args(["-c", "0.05", "-P", &port.to_string()])
            .arg(&log),
        "log cycle of",
        None,
        "gpsfake",
    ));
    let key = dir.path().join("bureau.key");
    let key_s = key.to_str().unwrap();
    let anchor = cli(&["authority", "keygen", "--out", key_s])
        .lines()
        .find_map(|l| l.strip_prefix("trust anchor ").map(|s| s.trim().to_owned()))
        .expect("anchor");

    let mut b = init(dir.path(), "b", "vessel", "127.0.6.3");
    b.configure(
        &[],
        "\n[plotter]\nenabled = true\nlisten = \"127.0.6.3:10110\"\nrefresh_s = 1\n\
         \n[signalk]\nenabled = true\nlisten = \"127.0.6.3:3000\"\n",
    );
    b.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
    b.start();
    let mut a = init(dir.path(), "a", "vessel", "127.0.6.2");
    a.configure(
        &[b.p2p.clone()],
        &format!(
            "\n[gps]\nsource = \"gpsd\"\naddress = \"127.0.0.1:{port}\"\nnav_status = \"under_way\"\n"
        ),
    );
    a.set("fleet", "trust_anchors", &format!("[\"{anchor}\"]"));
    a.start();
    a.wait_peers(1);
    cli(&[
        "authority",
        "certify",
        "--api",
        &b.api,
        "--key",
        key_s,
        "--subject",
        &a.id,
        "--role",
        "vessel",
        "--name",
        "浙岱渔03315",
    ]);
    b.saw("certified", "浙岱渔03315");

    // A reports its own fix, from gpsd, by itself; it reaches B.
    let line = a.wait_line(|l| l.starts_with("gps report "));
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (id, lat, lon): (&str, f64, f64) = (
        parts[2],
        parts[3].parse().unwrap(),
        parts[4].parse().unwrap(),
    );
    assert!(
        (lat - 29.95).abs() < 0.02 && (lon - 122.30).abs() < 0.02,
        "{line}"
    );
    b.wait_line(|l| l == format!("delivered position {id}"));
    let st = a.get("/api/v1/status");
    assert_eq!(st["gps"]["source"], "gpsd", "{st}");
    assert!(st["gps"]["reports_sent"].as_u64() >= Some(1), "{st}");
    let st_b = b.get("/api/v1/status");
    assert_eq!(st_b["gps"]["has_fix"], false, "{st_b}");
    assert_eq!(st_b["gps"]["state"], "no gps configured: no fix");

    // B's plotter shows A: a type 1 and a type 5 with the certified name, decoded by pyais.
    let a_key: PublicKey = a.id.parse().unwrap();
    let mmsi = pseudo_mmsi(&a_key);
    let mut plotter = Plotter::connect("127.0.6.3:10110");
    let lines = plotter
        .until(|ls| {
            // Two whole type 5 messages: the first may predate the certificate (the picture
            // a plotter gets on connecting), the second comes from a refresh after it.
            ais_from(ls, mmsi, '1') >= 1
                && ais_from(ls, mmsi, '5') >= 2
                && ls.last().is_some_and(|l| l.starts_with("!AIVDM,2,2,"))
        })
        .to_vec();
    let decoded = pyais(&lines);
    let pos = decoded
        .iter()
        .find(|m| m["type"] == 1 && m["mmsi"] == mmsi)
        .unwrap_or_else(|| panic!("no type 1 from {mmsi}: {decoded:?}"));
    let (plat, plon) = (pos["lat"].as_f64().unwrap(), pos["lon"].as_f64().unwrap());
    assert!(
        (plat - 29.95).abs() < 0.02 && (plon - 122.30).abs() < 0.02,
        "{pos}"
    );
    // The first report may come from a fix without motion yet (102.3 = not available).
    let speed = pos["speed"].as_f64().unwrap();
    assert!(speed <= 8.0 + 1e-9 || (speed - 102.3).abs() < 1e-9, "{pos}");
    assert_eq!(pos["status"], 0, "under way, as configured");
    let stat = decoded
        .iter()
        .rfind(|m| m["type"] == 5 && m["mmsi"] == mmsi)
        .unwrap_or_else(|| panic!("no type 5: {decoded:?}"));
    assert_eq!(stat["shipname"], "ZHEDAIYU03315", "{stat}");
    assert_eq!(stat["ship_type"], 30, "fishing");

    // Signal K: a stream client (all) and then a distress on A.
    let sk = Command::new("node")
        .args(["check.js", "stream"])
        .arg("ws://127.0.6.3:3000/signalk/v1/stream?subscribe=all")
        .arg("navigation.position,notifications.flooding")
        .current_dir(signalk_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let v = a.post(
        "/api/v1/distress",
        &json!({ "nature": "flooding", "persons": 5, "text": "机舱进水" }),
    );
    assert!(v.get("error").is_none(), "{v}");

    // B's plotter raises the DSC alarm for A, with A's MMSI, the nature and the position.
    let lines = plotter.until(|ls| {
        ls.iter().any(|l| l.starts_with("$CDDSC"))
            && ls.iter().any(|l| l.starts_with("$CDDSE"))
            && ls
                .iter()
                .any(|l| l.starts_with("$IIALR") && l.contains(",A,"))
    });
    let dsc = lines
        .iter()
        .find(|l| l.starts_with("$CDDSC"))
        .expect("a $CDDSC line");
    let f: Vec<&str> = Sentence::parse(dsc).unwrap().fields().collect();
    assert_eq!(f[0], "12", "distress format: {dsc}");
    assert_eq!(f[1], format!("{mmsi}0"), "{dsc}");
    assert_eq!(f[2], "12");
    assert_eq!(f[3], "01", "flooding: {dsc}");
    assert_eq!(&f[5][..1], "0", "north-east quadrant: {dsc}");
    let dlat = f[5][1..3].parse::<f64>().unwrap() + f[5][3..5].parse::<f64>().unwrap() / 60.0;
    let dlon = f[5][5..8].parse::<f64>().unwrap() + f[5][8..10].parse::<f64>().unwrap() / 60.0;
    assert!(
        (dlat - 29.95).abs() < 0.03 && (dlon - 122.30).abs() < 0.03,
        "{dsc}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("$CDDSE,1,1,A,") && l.contains(&format!("{mmsi}0"))),
        "a $CDDSE follows"
    );

    println!(
        "plotter feed at B (docs/marine.md's sample):\n{}",
        lines.join("\n")
    );

    // Every delta was valid; the distress came as an emergency notification in A's context.
    let out = sk.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("check.js prints JSON");
    assert!(
        out.status.success(),
        "invalid Signal K: {}",
        report["invalid"]
    );
    assert_eq!(report["hello"]["name"], "haiqiao");
    let ctx = format!(
        "vessels.urn:mrn:signalk:uuid:{}",
        haiqiao_marine::signalk::key_uuid(&a_key)
    );
    let deltas = report["deltas"].as_array().unwrap();
    let note = deltas
        .iter()
        .filter(|d| d["context"] == ctx)
        .flat_map(|d| d["updates"][0]["values"].as_array().unwrap().clone())
        .find(|v| v["path"] == "notifications.flooding")
        .unwrap_or_else(|| panic!("no flooding notification for {ctx}: {deltas:?}"));
    assert_eq!(note["value"]["state"], "emergency");

    // The REST model is valid and names A; discovery points at the stream.
    let out = Command::new("node")
        .args(["check.js", "full", "http://127.0.6.3:3000/signalk/v1/api/"])
        .current_dir(signalk_dir())
        .output()
        .unwrap();
    let full: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(out.status.success(), "invalid model: {}", full["errors"]);
    let urn = ctx.trim_start_matches("vessels.");
    assert_eq!(full["tree"]["vessels"][urn]["name"], "浙岱渔03315");
    let disc: Value = ureq::get("http://127.0.6.3:3000/signalk")
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(
        disc["endpoints"]["v1"]["signalk-ws"],
        "ws://127.0.6.3:3000/signalk/v1/stream"
    );
    a.stop();
    b.stop();
}

#[test]
fn nmea_over_udp_drives_reports_and_bad_sentences_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = {
        let s = UdpSocket::bind("127.0.6.12:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let mut a = init(dir.path(), "a", "vessel", "127.0.6.12");
    a.configure(
        &[],
        &format!("\n[gps]\nsource = \"nmea_udp\"\naddress = \"127.0.6.12:{port}\"\nstale_s = 5\n"),
    );
    a.start();
    let st = a.get("/api/v1/status");
    assert_eq!(st["gps"]["has_fix"], false, "{st}");
    assert_eq!(st["gps"]["state"], "no fix");
    let tx = UdpSocket::bind("127.0.6.12:0").unwrap();
    let good = frame(
        '$',
        "BDRMC,020000.00,A,2957.0000,N,12218.0000,E,6.5,110.0,291126,,,A",
    );
    let mut bad = frame(
        '$',
        "BDRMC,020001.00,A,2958.0000,N,12218.0000,E,6.5,110.0,291126,,,A",
    );
    bad.replace_range(20..21, "7");
    tx.send_to(format!("{bad}{good}").as_bytes(), ("127.0.6.12", port))
        .unwrap();
    let line = a.wait_line(|l| l.starts_with("gps report "));
    assert!(line.contains(" 29.95000 122.30000 (First"), "{line}");
    let st = a.get("/api/v1/status");
    assert_eq!(st["gps"]["has_fix"], true, "{st}");
    assert_eq!(st["gps"]["talker"], "BD");
    assert_eq!(st["gps"]["sentences_bad"], 1, "{st}");
    let id = line.split_whitespace().nth(2).unwrap();
    let r = a.get(&format!("/api/v1/records/{id}"));
    assert_eq!(r["body"]["sog_kn"], 6.5, "{r}");
    assert_eq!(r["body"]["cog_deg"], 110.0);
    a.stop();
}

/// Buddy watch on a virtual clock: two paired boats report by the policy (drifting while
/// fishing: the slowest band), and neither raises the alarm over a day; when B stops, A's
/// alarm comes within the buddy-watch interval.
#[test]
fn buddy_watch_stays_quiet_between_paired_boats_that_both_report() {
    use haiqiao_fleet::{Action, Draft, Fleet, FleetConfig};
    use haiqiao_marine::OwnFix;
    use haiqiao_marine::report::{Poll, ReportConfig, ReportPolicy};
    use haiqiao_proto::{Body, Destination, Fix, Keypair, NavStatus, Record, Timestamp};

    const T0: u64 = 1_795_000_000;
    struct Boat {
        key: Keypair,
        fleet: Fleet,
        seq: u64,
        policy: ReportPolicy,
    }
    impl Boat {
        fn sign(&mut self, at_s: u64, d: Draft) -> Record {
            self.seq += 1;
            let env = d.envelope(self.key.public().hint(), self.seq, Timestamp(at_s as u32));
            Record::sign(&self.key, env).unwrap()
        }
    }
    let cfg = FleetConfig::default();
    let boat = |n: u8| {
        let key = Keypair::from_seed(&[n; 32]);
        let fleet = Fleet::new(cfg.clone(), key.public(), u64::from(n)).unwrap();
        Boat {
            key,
            fleet,
            seq: 0,
            policy: ReportPolicy::new(ReportConfig::default(), T0 * 1000),
        }
    };
    let (mut a, mut b) = (boat(1), boat(2));
    let pa = a.fleet.pair_with(b.key.public()).unwrap();
    let ra = a.sign(T0, pa);
    let pb = b.fleet.pair_with(a.key.public()).unwrap();
    let rb = b.sign(T0, pb);
    for r in [&ra, &rb] {
        a.fleet.observe(T0 * 1000, r);
        b.fleet.observe(T0 * 1000, r);
    }
    let mut alarms = 0;
    let day = 24 * 3600;
    let b_stops = T0 + day;
    for s in (T0..T0 + day + 2 * u64::from(cfg.buddy_watch_s)).step_by(5) {
        let now = s * 1000;
        let mut sent = Vec::new();
        for (i, boat) in [&mut a, &mut b].into_iter().enumerate() {
            if i == 1 && s >= b_stops {
                continue;
            }
            let fix = OwnFix {
                lat: 30.2,
                lon: 122.4 + i as f64 * 0.01,
                sog_kn: Some(0.8),
                cog_deg: Some(45.0),
                heading_deg: None,
                at_ms: now,
            };
            if let Poll::Send(_) = boat.policy.poll(now, Some(&fix), NavStatus::FISHING) {
                let mut f = Fix::from_degrees(fix.lat, fix.lon);
                f.nav_status = NavStatus::FISHING;
                let r = boat.sign(
                    s,
                    Draft {
                        dest: Destination::Everyone,
                        ttl_min: 240,
                        body: Body::Position(f),
                    },
                );
                boat.policy.sent(now, &fix, r.len() as u32);
                sent.push(r);
            }
        }
        // Linked: each hears the other's report at once.
        for r in &sent {
            a.fleet.observe(now, r);
            b.fleet.observe(now, r);
        }
        for act in a.fleet.poll(now).into_iter().chain(b.fleet.poll(now)) {
            if let Action::RaiseBuddyAlarm { partner, .. } = act {
                assert!(
                    s >= b_stops,
                    "alarm at +{} s while both report (partner {})",
                    s - T0,
                    partner.short()
                );
                assert_eq!(partner, b.key.public());
                let silent = s - b_stops;
                assert!(
                    silent <= u64::from(cfg.buddy_watch_s) + 180,
                    "alarm {silent} s after B stopped"
                );
                alarms += 1;
            }
        }
    }
    assert_eq!(
        alarms, 1,
        "A's alarm comes once B has been silent long enough"
    );
}

#[test]
fn nmea_over_tcp_is_read_from_a_server_and_status_tells_a_lost_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = std::net::TcpListener::bind("127.0.6.22:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let mut a = init(dir.path(), "a", "vessel", "127.0.6.22");
    a.configure(
        &[],
        &format!(
            "\n[gps]\nsource = \"nmea_tcp\"\naddress = \"127.0.6.22:{port}\"\nnav_status = \"fishing\"\n"
        ),
    );
    a.start();
    // The node connects to the GPS's server (a multiplexer, a WiFi gateway).
    let (mut gps, _) = server.accept().unwrap();
    let mut out = String::new();
    for body in [
        "GPGSA,A,3,01,02,03,04,,,,,,,,,1.5,0.8,1.2",
        "GNGGA,020000.00,3012.0000,N,12224.0000,E,1,09,0.9,5.0,M,9.0,M,,",
        "GNVTG,45.0,T,,M,1.2,N,2.2,K,A",
        "HEHDT,47.0,T",
    ] {
        out.push_str(&frame('$', body));
    }
    gps.write_all(out.as_bytes()).unwrap();
    let line = a.wait_line(|l| l.starts_with("gps report "));
    assert!(line.contains(" 30.20000 122.40000 (First"), "{line}");
    let id = line.split_whitespace().nth(2).unwrap();
    let r = a.get(&format!("/api/v1/records/{id}"));
    assert_eq!(r["body"]["nav_status"], "fishing", "{r}");
    let st = a.get("/api/v1/status");
    assert_eq!(st["gps"]["state"], "fix", "{st}");
    assert_eq!(st["gps"]["talker"], "GN", "{st}");
    assert!(
        st["gps"]["sentences_ignored"].as_u64() >= Some(1),
        "GSA: {st}"
    );
    // The GPS's server goes away: status says so (the reader notices the close at once).
    drop(gps);
    drop(server);
    a.wait_line(|l| l.starts_with("gps: lost "));
    let st = a.get("/api/v1/status");
    assert_eq!(st["gps"]["connected"], false, "{st}");
    a.stop();
}

/// Boat B has a GPS (NMEA over UDP) and a Signal K server; boat A takes its own fix from B's
/// Signal K stream (`[gps] source = "signalk"`, `subscribe=self`), as it would from
/// signalk-server on the same boat.
#[test]
fn a_signal_k_server_is_a_gps_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = {
        let s = UdpSocket::bind("127.0.6.32:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let mut b = init(dir.path(), "b", "vessel", "127.0.6.32");
    b.configure(
        &[],
        &format!(
            "\n[gps]\nsource = \"nmea_udp\"\naddress = \"127.0.6.32:{port}\"\n\
             \n[signalk]\nenabled = true\nlisten = \"127.0.6.32:3000\"\n"
        ),
    );
    b.start();
    let mut a = init(dir.path(), "a", "vessel", "127.0.6.33");
    a.configure(
        &[],
        "\n[gps]\nsource = \"signalk\"\naddress = \"127.0.6.32:3000\"\n",
    );
    a.start();
    a.wait_line(|l| l.starts_with("gps: connected to 127.0.6.32:3000"));
    let tx = UdpSocket::bind("127.0.6.32:0").unwrap();
    let rmc = frame(
        '$',
        "GPRMC,020000.00,A,3015.0000,N,12212.0000,E,9.0,200.0,291126,,,A",
    );
    tx.send_to(rmc.as_bytes(), ("127.0.6.32", port)).unwrap();
    b.wait_line(|l| l.starts_with("gps report "));
    let line = a.wait_line(|l| l.starts_with("gps report "));
    assert!(line.contains(" 30.25000 122.20000 (First"), "{line}");
    let id = line.split_whitespace().nth(2).unwrap();
    let r = a.get(&format!("/api/v1/records/{id}"));
    assert_eq!(
        r["body"]["sog_kn"], 9.0,
        "m/s from Signal K back to knots: {r}"
    );
    assert_eq!(r["body"]["cog_deg"], 200.0, "radians back to degrees: {r}");
    a.stop();
    b.stop();
}
