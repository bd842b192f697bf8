//! On board: the boat's own GPS in, automatic position reports out to the mesh, and the
//! mesh's vessels and distress out to the instruments a skipper already watches — a chart
//! plotter's NMEA 0183 feed (TCP 10110) and a Signal K server.
//!
//! The codecs and the report policy are pure, in haiqiao-marine; this module does the I/O:
//!
//! - `gps`: readers for NMEA over TCP, UDP and serial, gpsd and a Signal K server, each
//!   feeding lines into one actor that owns the fix and the report policy and submits position
//!   records through the daemon's command channel (`Command::Submit`, as the API does).
//! - `plotter`: the TCP 10110 server (and optional UDP): AIS targets for mesh vessels, DSC and
//!   ALR for distress, fed by the daemon's feed (`Command::Subscribe`) and its views.
//! - `signalk`: discovery, REST and the WebSocket stream on their own listener.
//!
//! Every channel is bounded: lines from a GPS ([`LINE_CAP`]), lines to each plotter
//! (`plotter::CLIENT_CAP`), and each Signal K client reads the daemon's feed itself (`feed::FEED_CAP`); a
//! plotter or Signal K client that falls behind skips to the next full picture, and the
//! daemon never waits for it.

pub(crate) mod bench;
pub(crate) mod config;
pub(crate) mod demo;
mod gps;
mod plotter;
mod signalk;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use haiqiao_marine::GpsState;
use haiqiao_proto::PublicKey;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::command::Command;
use config::{GpsSection, GpsSource, PlotterSection, SignalkSection};

/// Lines from a GPS reader waiting for the actor.
pub(crate) const LINE_CAP: usize = 256;
/// MMSIs heard on the AIS input remembered at once (the oldest forgotten first).
pub(crate) const HEARD_AIS_CAP: usize = 4096;
/// How long an MMSI heard on the AIS input hides the mesh's copy of that vessel (ms).
pub(crate) const HEARD_AIS_MS: u64 = 10 * 60 * 1000;

/// What the marine module needs from the config.
#[derive(Debug, Clone, Default)]
pub(crate) struct MarineSpec {
    pub(crate) gps: GpsSection,
    pub(crate) plotter: PlotterSection,
    pub(crate) signalk: SignalkSection,
}

/// What the GPS side shares with status screens and the feeds.
#[derive(Debug, Default)]
pub(crate) struct GpsShared {
    /// The fix and the counters (none until the GPS reader starts).
    pub(crate) state: Option<GpsState>,
    pub(crate) connected: bool,
    pub(crate) last_error: Option<String>,
    pub(crate) reports_sent: u64,
    pub(crate) reports_held_back: u64,
    pub(crate) last_report_ms: Option<u64>,
    /// MMSI -> when it was last heard on the AIS input.
    pub(crate) heard_ais: BTreeMap<u32, u64>,
}

impl GpsShared {
    pub(crate) fn heard(&mut self, mmsi: u32, now_ms: u64) {
        self.heard_ais.insert(mmsi, now_ms);
        if self.heard_ais.len() > HEARD_AIS_CAP
            && let Some((&oldest, _)) = self.heard_ais.iter().min_by_key(|(_, t)| **t)
        {
            self.heard_ais.remove(&oldest);
        }
    }

    /// Whether `mmsi` was heard on the AIS input lately.
    pub(crate) fn hears(&self, mmsi: u32, now_ms: u64) -> bool {
        self.heard_ais
            .get(&mmsi)
            .is_some_and(|t| now_ms.saturating_sub(*t) <= HEARD_AIS_MS)
    }
}

/// The running marine side; its tasks end when it is dropped.
#[derive(Debug)]
pub(crate) struct Marine {
    source: GpsSource,
    shared: Arc<Mutex<GpsShared>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Marine {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(m: &Mutex<GpsShared>) -> std::sync::MutexGuard<'_, GpsShared> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Marine {
    /// The GPS part of the node's status: whether there is a fix (and say so when not).
    pub(crate) fn status(&self, now_ms: u64) -> Value {
        let s = lock(&self.shared);
        let st = s.state.as_ref().map(|g| g.status(now_ms));
        let fix = s.state.as_ref().and_then(|g| g.fix(now_ms));
        json!({
            "source": self.source,
            "has_fix": fix.is_some(),
            "state": match (self.source, fix.is_some(), s.connected) {
                (GpsSource::None, _, _) => "no gps configured: no fix",
                (_, true, _) => "fix",
                (_, false, true) => "no fix",
                (_, false, false) => "gps not connected: no fix",
            },
            "fix": fix,
            "fix_age_ms": st.and_then(|x| x.fix_age_ms),
            "connected": s.connected,
            "sentences_good": st.map(|x| x.good),
            "sentences_bad": st.map(|x| x.bad),
            "sentences_ignored": st.map(|x| x.ignored),
            "satellites": st.and_then(|x| x.satellites),
            "talker": st.and_then(|x| x.talker).map(|t| String::from_utf8_lossy(&t).into_owned()),
            "reports_sent": s.reports_sent,
            "reports_held_back": s.reports_held_back,
            "last_report_ms": s.last_report_ms,
            "last_report_age_ms": s.last_report_ms.map(|t| now_ms.saturating_sub(t)),
            "last_error": s.last_error,
            "ais_heard": s.heard_ais.len(),
        })
    }
}

/// Asks the daemon something and waits for the answer.
pub(crate) async fn ask<T>(
    cmd: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    cmd.send(make(tx)).await.ok()?;
    rx.await.ok()
}

/// Starts what the config asks for: binds the listeners first (so a port in use is an error
/// at start, with the section to change), then spawns the tasks.
pub(crate) async fn start(
    spec: &MarineSpec,
    me: PublicKey,
    name: &str,
    cmd: mpsc::Sender<Command>,
) -> anyhow::Result<Marine> {
    let shared = Arc::new(Mutex::new(GpsShared::default()));
    let mut tasks = Vec::new();
    if spec.gps.source != GpsSource::None {
        tasks.extend(gps::spawn(&spec.gps, cmd.clone(), shared.clone())?);
        println!(
            "gps: reading {:?} {}",
            spec.gps.source,
            gps::describe(&spec.gps)
        );
    }
    if spec.plotter.enabled {
        let l = tokio::net::TcpListener::bind(spec.plotter.listen)
            .await
            .with_context(|| {
                format!(
                    "binding the plotter feed on {}: another program (another haiqiao, \
                     OpenCPN's own server?) has this port; change [plotter] listen",
                    spec.plotter.listen
                )
            })?;
        let addr = l.local_addr()?;
        println!("plotter feed (NMEA 0183: AIS, DSC, ALR) on tcp://{addr}");
        tasks.push(tokio::spawn(plotter::run(
            l,
            spec.plotter.clone(),
            me,
            cmd.clone(),
            shared.clone(),
        )));
    }
    if spec.signalk.enabled {
        let l = tokio::net::TcpListener::bind(spec.signalk.listen)
            .await
            .with_context(|| {
                format!(
                    "binding Signal K on {}: another program (signalk-server?) has this \
                     port; change [signalk] listen",
                    spec.signalk.listen
                )
            })?;
        let addr = l.local_addr()?;
        println!("signal k on http://{addr}/signalk (stream ws://{addr}/signalk/v1/stream)");
        tasks.push(tokio::spawn(signalk::run(
            l,
            spec.signalk.clone(),
            me,
            name.to_owned(),
            cmd.clone(),
        )));
    }
    Ok(Marine {
        source: spec.gps.source,
        shared,
        tasks,
    })
}
