//! `haiqiao bench marine`: the figures of docs/benchmarks.md for the marine side.
//!
//! - Latency from a GPS fix to the plotter's AIS line of a vessel one hop away: two daemons on
//!   loopback; boat A reads NMEA over UDP, boat B serves the plotter feed; the bench sends A
//!   an RMC with a new latitude and a course 60° off the last one (a turn: reported at once;
//!   the bands' intervals are set to an hour so that no interval report of the previous fix
//!   comes between) and times until B's feed carries a type 1 for A with that latitude.
//! - Bytes an hour of automatic reports at each speed band, with the size of a real signed
//!   position record.

use std::io::{BufRead, BufReader};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use haiqiao_fleet::Draft;
use haiqiao_marine::report::{self, ReportConfig};
use haiqiao_marine::sentence::{Sentence, frame};
use haiqiao_proto::{Body, Destination, Fix, Keypair, NavStatus, PublicKey, Record, Timestamp};
use serde_json::{Value, json};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Latitude (1e-5 degree) of a type 1 line from `mmsi`, if it is one.
fn type1_lat(line: &str, mmsi: u32) -> Option<i64> {
    let s = Sentence::parse(line).ok()?;
    if s.kind() != "VDM" || haiqiao_marine::ais::mmsi_of_vdm(&s)? != mmsi {
        return None;
    }
    let payload = s.fields().nth(4)?;
    if !payload.starts_with('1') {
        return None;
    }
    let mut bits: Vec<u8> = Vec::new();
    for c in payload.bytes() {
        let v = haiqiao_marine::ais::dearmour_char(c)?;
        for i in (0..6).rev() {
            bits.push((v >> i) & 1);
        }
    }
    let raw = bits
        .get(89..116)?
        .iter()
        .fold(0i64, |a, b| (a << 1) | i64::from(*b));
    let signed = if raw & (1 << 26) != 0 {
        raw - (1 << 27)
    } else {
        raw
    };
    Some(signed / 6)
}

fn dm(v: f64, w: usize) -> String {
    let a = v.abs();
    let d = a.trunc();
    format!("{:0w$}{:07.4}", d as u32, (a - d) * 60.0, w = w)
}

/// Runs the figures.
pub(crate) fn run(samples: usize) -> anyhow::Result<Value> {
    // Bytes an hour per band.
    let key = Keypair::from_seed(&[7; 32]);
    let cfg = ReportConfig::default();
    let mut bands = Vec::new();
    for (band, sog, nav) in [
        ("slow: fishing at 1 kn", 1.0, NavStatus::FISHING),
        ("slow: at anchor", 0.0, NavStatus::AT_ANCHOR),
        ("cruise: 8 kn", 8.0, NavStatus::UNDER_WAY),
        ("fast: 20 kn", 20.0, NavStatus::UNDER_WAY),
    ] {
        let mut f = Fix::from_degrees(29.95, 122.3);
        f.sog_dkn = Some((sog * 10.0) as u16);
        f.cog_ddeg = Some(1100);
        f.nav_status = nav;
        let d = Draft {
            dest: Destination::Everyone,
            ttl_min: 240,
            body: Body::Position(f),
        };
        let r = Record::sign(
            &key,
            d.envelope(key.public().hint(), 1_000, Timestamp(1_795_000_000)),
        )?;
        let size = r.len() as u32;
        let bytes = report::bytes_per_hour(&cfg, sog, nav, size);
        bands.push(json!({
            "band": band, "record_bytes": size, "reports_per_hour": bytes / u64::from(size),
            "bytes_per_hour": bytes,
        }));
    }

    // Latency, one hop on loopback.
    use crate::local::Proc;
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let udp_port = UdpSocket::bind("127.0.80.2:0")?.local_addr()?.port();
    let plot_port = std::net::TcpListener::bind("127.0.80.3:0")?
        .local_addr()?
        .port();
    let mut b = Proc::init(&exe, dir.path(), "mb", "vessel", "127.0.80.3");
    b.configure(
        &[],
        &format!(
            "\n[plotter]\nenabled = true\nlisten = \"127.0.80.3:{plot_port}\"\nrefresh_s = 3600\n"
        ),
    );
    b.start();
    let mut a = Proc::init(&exe, dir.path(), "ma", "vessel", "127.0.80.2");
    a.configure(
        &[b.p2p.clone()],
        &format!(
            "\n[gps]\nsource = \"nmea_udp\"\naddress = \"127.0.80.2:{udp_port}\"\n\
             [gps.policy]\nslow_interval_s = 3600\ncruise_interval_s = 3600\nfast_interval_s = 3600\n\
             min_interval_s = 1\ncourse_change_deg = 30.0\nbudget_bytes_per_hour = 10000000\n"
        ),
    );
    a.start();
    a.wait_peers(1);
    let a_key: PublicKey =
        a.id.parse()
            .map_err(|e| anyhow::anyhow!("node id: {e:?}"))?;
    let mmsi = haiqiao_marine::ident::pseudo_mmsi(&a_key);
    let plot = TcpStream::connect(("127.0.80.3", plot_port))?;
    plot.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut plot = BufReader::new(plot);
    let tx = UdpSocket::bind("127.0.80.2:0")?;
    let mut times = Vec::new();
    for k in 0..=samples {
        // Past the policy's 1 s minimum since the last report, so the turn is reported at once.
        std::thread::sleep(Duration::from_millis(1100));
        let lat = 29.95 + 0.001 * k as f64;
        let want = (lat * 1e5).round() as i64;
        let body = format!(
            "GNRMC,020000.00,A,{},N,{},E,6.0,{:.1},291126,,,A",
            dm(lat, 2),
            dm(122.3, 3),
            if k % 2 == 0 { 110.0 } else { 170.0 }
        );
        let t = Instant::now();
        tx.send_to(frame('$', &body).as_bytes(), ("127.0.80.2", udp_port))?;
        loop {
            let mut l = String::new();
            if plot.read_line(&mut l)? == 0 {
                anyhow::bail!("the plotter feed closed");
            }
            if type1_lat(l.trim_end(), mmsi).is_some_and(|x| (x - want).abs() <= 1) {
                break;
            }
        }
        // The first includes connection warm-up: left out.
        if k > 0 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    a.stop();
    b.stop();
    let all: Vec<f64> = times.iter().map(|t| (t * 10.0).round() / 10.0).collect();
    Ok(json!({
        "fix_to_plotter_one_hop_ms": { "median": (median(&mut times) * 10.0).round() / 10.0,
            "samples": all.len(), "all": all },
        "report_bytes_per_hour": bands,
        "policy": cfg,
        "transport": "NMEA over UDP in, TCP between the daemons and to the plotter, 127.0.0.0/8",
    }))
}
