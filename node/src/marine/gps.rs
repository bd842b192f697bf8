//! The boat's own GPS: readers for each kind of source, and the actor that owns the fix and
//! the report policy.
//!
//! Readers only move lines: they reconnect (or reopen the port) with a backoff of 1 s doubling
//! to 30 s, and hand each line to the actor over a bounded channel ([`super::LINE_CAP`]); a
//! line longer than [`MAX_LINE`] is dropped. The actor parses (haiqiao-marine's `GpsState`),
//! asks the policy (`ReportPolicy`) and submits position records through the daemon's command
//! channel, like the API's `POST /api/v1/records` does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use haiqiao_marine::gps::Heard;
use haiqiao_marine::report::Poll;
use haiqiao_marine::{GpsState, ReportPolicy};
use haiqiao_proto::NavStatus;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{GpsSection, GpsSource};
use super::{GpsShared, LINE_CAP, ask, lock};
use crate::clock::now_ms;
use crate::command::Command;
use crate::json::{BodySpec, SubmitRequest};

/// The longest line taken from a GPS (gpsd's SKY objects run to a few KB).
pub(crate) const MAX_LINE: usize = 16 * 1024;
/// gpsd's default port.
const GPSD_DEFAULT: &str = "127.0.0.1:2947";
/// What gpsd is asked for.
const GPSD_WATCH: &str = "?WATCH={\"enable\":true,\"json\":true}\n";
/// Longest wait between reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where a source reads from, for the start-up line.
pub(super) fn describe(cfg: &GpsSection) -> String {
    match cfg.source {
        GpsSource::Serial => format!(
            "{} at {} baud",
            cfg.device
                .as_ref()
                .map_or(String::new(), |d| d.display().to_string()),
            cfg.baud
        ),
        GpsSource::Gpsd => cfg.address.clone().unwrap_or_else(|| GPSD_DEFAULT.into()),
        _ => cfg.address.clone().unwrap_or_default(),
    }
}

/// Starts the reader and the actor.
pub(super) fn spawn(
    cfg: &GpsSection,
    cmd: mpsc::Sender<Command>,
    shared: Arc<Mutex<GpsShared>>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    lock(&shared).state = Some(GpsState::new(u64::from(cfg.stale_s) * 1000));
    let (tx, rx) = mpsc::channel::<String>(LINE_CAP);
    let addr = cfg.address.clone().unwrap_or_default();
    let reader = match cfg.source {
        GpsSource::None => return Ok(Vec::new()),
        GpsSource::NmeaTcp => tokio::spawn(tcp_reader(addr, None, tx, shared.clone())),
        GpsSource::Gpsd => tokio::spawn(tcp_reader(
            cfg.address.clone().unwrap_or_else(|| GPSD_DEFAULT.into()),
            Some(GPSD_WATCH),
            tx,
            shared.clone(),
        )),
        GpsSource::NmeaUdp => {
            let sock = std::net::UdpSocket::bind(&addr)
                .map_err(|e| anyhow::anyhow!("[gps] listening on udp {addr}: {e}"))?;
            sock.set_nonblocking(true)?;
            let sock = tokio::net::UdpSocket::from_std(sock)?;
            lock(&shared).connected = true;
            tokio::spawn(udp_reader(sock, tx))
        }
        GpsSource::Serial => tokio::spawn(serial_reader(
            cfg.device.clone().unwrap_or_default(),
            cfg.baud,
            tx,
            shared.clone(),
        )),
        GpsSource::Signalk => tokio::spawn(signalk_reader(addr, tx, shared.clone())),
    };
    let actor = tokio::spawn(actor(cfg.clone(), rx, cmd, shared));
    Ok(vec![reader, actor])
}

fn set_conn(shared: &Mutex<GpsShared>, up: bool, err: Option<String>) {
    let mut s = lock(shared);
    s.connected = up;
    if let Some(e) = err {
        s.last_error = Some(e);
    }
}

/// Reads lines of at most [`MAX_LINE`] bytes and hands them on, until the stream ends.
async fn pump_lines<R: AsyncRead + Unpin>(r: R, tx: &mpsc::Sender<String>) -> std::io::Result<()> {
    let mut r = BufReader::new(r);
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if buf.last() != Some(&b'\n') && n == MAX_LINE {
            // Too long: skip to the end of the line.
            let mut skip = Vec::new();
            loop {
                skip.clear();
                let m = (&mut r)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut skip)
                    .await?;
                if m == 0 || skip.last() == Some(&b'\n') {
                    break;
                }
            }
            continue;
        }
        let line = String::from_utf8_lossy(&buf).trim().to_owned();
        if !line.is_empty() && tx.send(line).await.is_err() {
            return Ok(());
        }
    }
}

async fn backoff(wait: &mut Duration) {
    tokio::time::sleep(*wait).await;
    *wait = (*wait * 2).min(MAX_BACKOFF);
}

async fn tcp_reader(
    addr: String,
    hello: Option<&'static str>,
    tx: mpsc::Sender<String>,
    shared: Arc<Mutex<GpsShared>>,
) {
    let mut wait = Duration::from_secs(1);
    while !tx.is_closed() {
        match tokio::net::TcpStream::connect(&addr).await {
            Ok(mut s) => {
                if let Some(h) = hello
                    && let Err(e) = s.write_all(h.as_bytes()).await
                {
                    set_conn(&shared, false, Some(format!("{addr}: {e}")));
                    backoff(&mut wait).await;
                    continue;
                }
                set_conn(&shared, true, None);
                println!("gps: connected to {addr}");
                wait = Duration::from_secs(1);
                let r = pump_lines(s, &tx).await;
                let why = match r {
                    Ok(()) => format!("{addr}: closed"),
                    Err(e) => format!("{addr}: {e}"),
                };
                println!("gps: lost {why}");
                set_conn(&shared, false, Some(why));
            }
            Err(e) => set_conn(&shared, false, Some(format!("{addr}: {e}"))),
        }
        backoff(&mut wait).await;
    }
}

async fn udp_reader(sock: tokio::net::UdpSocket, tx: mpsc::Sender<String>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        for line in String::from_utf8_lossy(&buf[..n]).lines() {
            let line = line.trim();
            if !line.is_empty() && line.len() <= MAX_LINE && tx.send(line.to_owned()).await.is_err()
            {
                return;
            }
        }
    }
}

async fn serial_reader(
    dev: std::path::PathBuf,
    baud: u32,
    tx: mpsc::Sender<String>,
    shared: Arc<Mutex<GpsShared>>,
) {
    use tokio_serial::SerialPortBuilderExt;
    let mut wait = Duration::from_secs(1);
    let name = dev.display().to_string();
    while !tx.is_closed() {
        match tokio_serial::new(&name, baud).open_native_async() {
            Ok(port) => {
                set_conn(&shared, true, None);
                wait = Duration::from_secs(1);
                let r = pump_lines(port, &tx).await;
                set_conn(
                    &shared,
                    false,
                    Some(match r {
                        Ok(()) => format!("{name}: closed"),
                        Err(e) => format!("{name}: {e}"),
                    }),
                );
            }
            Err(e) => set_conn(&shared, false, Some(format!("{name}: {e}"))),
        }
        backoff(&mut wait).await;
    }
}

async fn signalk_reader(addr: String, tx: mpsc::Sender<String>, shared: Arc<Mutex<GpsShared>>) {
    let url = format!("ws://{addr}/signalk/v1/stream?subscribe=self");
    let mut wait = Duration::from_secs(1);
    while !tx.is_closed() {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((mut ws, _)) => {
                set_conn(&shared, true, None);
                println!("gps: connected to {addr}");
                wait = Duration::from_secs(1);
                let mut why = format!("{url}: closed");
                while let Some(m) = ws.next().await {
                    match m {
                        Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => {
                            if t.len() <= MAX_LINE && tx.send(t.to_string()).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            why = format!("{url}: {e}");
                            break;
                        }
                    }
                }
                set_conn(&shared, false, Some(why));
            }
            Err(e) => set_conn(&shared, false, Some(format!("{url}: {e}"))),
        }
        backoff(&mut wait).await;
    }
}

/// Owns the fix and the policy; submits reports.
async fn actor(
    cfg: GpsSection,
    mut rx: mpsc::Receiver<String>,
    cmd: mpsc::Sender<Command>,
    shared: Arc<Mutex<GpsShared>>,
) {
    let nav = cfg
        .nav_status
        .as_deref()
        .and_then(|n| crate::json::parse_nav_status(n).ok())
        .unwrap_or(NavStatus::UNDEFINED);
    let mut policy = ReportPolicy::new(cfg.policy.clone(), now_ms());
    let mut next: Option<u64> = None;
    loop {
        let wake = next.map(|t| Duration::from_millis(t.saturating_sub(now_ms())));
        let line = tokio::select! {
            l = rx.recv() => match l { Some(l) => Some(l), None => return },
            () = async { match wake { Some(w) => tokio::time::sleep(w).await, None => std::future::pending().await } } => None,
        };
        let now = now_ms();
        let fix = {
            let mut s = lock(&shared);
            if let Some(line) = line {
                let heard = s.state.as_mut().map(|g| match cfg.source {
                    GpsSource::Gpsd => g.handle_gpsd(now, &line),
                    GpsSource::Signalk => g.handle_signalk(now, &line),
                    _ => g.handle_nmea(now, &line),
                });
                if let Some(Ok(Heard::Ais(m))) = heard {
                    s.heard(m, now);
                }
            }
            s.state.as_ref().and_then(|g| g.fix(now))
        };
        if !cfg.report {
            next = None;
            continue;
        }
        next = match policy.poll(now, fix.as_ref(), nav) {
            Poll::NoFix => fix.map(|f| f.at_ms + u64::from(cfg.stale_s) * 1000 + 1),
            Poll::WaitUntil(t) => {
                // Also wake when the fix would go stale, so that the policy hears of it.
                Some(fix.map_or(t, |f| t.min(f.at_ms + u64::from(cfg.stale_s) * 1000 + 1)))
            }
            Poll::Send(reason) => {
                let Some(f) = fix else { continue };
                let req = SubmitRequest {
                    dest: None,
                    ttl_min: None,
                    body: BodySpec::Position {
                        lat: f.lat,
                        lon: f.lon,
                        sog_kn: f.sog_kn.map(|s| s.min(102.2)),
                        cog_deg: f.cog_deg,
                        heading_deg: f.heading_deg.map(|h| (h.round() as u16) % 360),
                        nav_status: cfg.nav_status.clone(),
                    },
                };
                match ask(&cmd, |tx| Command::Submit(req, tx)).await {
                    None => return,
                    Some(Ok(v)) => {
                        let bytes = v["size"].as_u64().unwrap_or(100) as u32;
                        println!(
                            "gps report {} {:.5} {:.5} ({reason:?}, {bytes} bytes)",
                            v["id"].as_str().unwrap_or(""),
                            f.lat,
                            f.lon
                        );
                        policy.sent(now, &f, bytes);
                        let mut s = lock(&shared);
                        s.reports_sent += 1;
                        s.last_report_ms = Some(now);
                    }
                    Some(Err(e)) => {
                        // Not sent (the store refused it, a bad value): count it as sent for
                        // the policy, so a persistent refusal is not retried every fix.
                        policy.sent(now, &f, 0);
                        lock(&shared).last_error = Some(format!("position report refused: {e}"));
                    }
                }
                let (_, held) = policy.counts();
                lock(&shared).reports_held_back = held;
                Some(now + 1)
            }
        };
    }
}
