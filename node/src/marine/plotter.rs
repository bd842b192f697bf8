//! The chart plotter feed: NMEA 0183 over TCP (port 10110 by default; OpenCPN: Connections →
//! Network → TCP → this node's address and port), optionally also as UDP datagrams.
//!
//! What a plotter gets (docs/marine.md has samples):
//! - every mesh vessel heard within `max_age_min` as an AIS target: `!AIVDM` type 1 (position)
//!   and type 5 (name, ship type 30 fishing), or 18 and 24 with `ais_class = "b"`; its
//!   certified MMSI, or a pseudo-MMSI (haiqiao-marine's `ident`). This node's own vessel is
//!   left out (the plotter has the boat's GPS), and so is a vessel whose MMSI the node hears
//!   on its own AIS input (it would show twice);
//! - each distress alert from the mesh as it arrives: `$CDDSC` + `$CDDSE` (the plotter's DSC
//!   alarm), and `$IIALR` for every distress incident at each refresh (active while open,
//!   acknowledged once someone answered, inactive when resolved or cancelled).
//!
//! Positions go out as soon as the daemon's feed delivers them (`Command::Subscribe`); every
//! `refresh_s` the whole picture is sent again from the daemon's views (`Request::Vessels`,
//! `Request::Distress`), which also catches up after the feed lagged. A new plotter gets the
//! whole picture (with the DSC of open distress) when it connects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haiqiao_marine::ais::{self, PositionReport, SHIP_TYPE_FISHING, StaticData};
use haiqiao_marine::dsc::{self, Alarm, DistressAlert};
use haiqiao_marine::ident::{self, Mmsi};
use haiqiao_proto::{Body, Fix, NavStatus, PublicKey, Record};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

use super::config::{AisClass, PlotterSection};
use super::{GpsShared, ask, lock};
use crate::clock::now_ms;
use crate::command::Command;
use crate::feed::Event;
use crate::workflows::Request;

/// Lines a plotter may fall behind by (it skips to the next refresh beyond that).
pub(crate) const CLIENT_CAP: usize = 1024;
/// Vessels kept as targets at most.
pub(crate) const MAX_TARGETS: usize = 10_000;
/// How long a resolved or cancelled distress keeps its (inactive) `$IIALR`, seconds.
const ALR_AFTER_END_S: u64 = 3600;
/// A plotter that takes longer than this to accept a line is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// What is known of a target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) real_mmsi: Option<Mmsi>,
    pub(crate) name: Option<String>,
    pub(crate) fix: Option<Fix>,
    /// When the fix was taken (ms).
    pub(crate) fix_ms: u64,
}

/// A fix from the API's JSON form (`json::fix_json`).
pub(crate) fn fix_from_json(v: &Value) -> Option<Fix> {
    let lat = v.get("lat")?.as_f64()?;
    let lon = v.get("lon")?.as_f64()?;
    let mut f = Fix::from_degrees(lat, lon);
    f.sog_dkn = v["sog_kn"].as_f64().map(|s| (s * 10.0).round() as u16);
    f.cog_ddeg = v["cog_deg"]
        .as_f64()
        .map(|c| (c * 10.0).round() as u16 % 3600);
    f.heading_deg = v["heading_deg"].as_u64().map(|h| h as u16);
    f.nav_status = v["nav_status"]
        .as_str()
        .and_then(|n| crate::json::parse_nav_status(n).ok())
        .unwrap_or(NavStatus::UNDEFINED);
    f.fix_age_s = None;
    Some(f)
}

/// The targets and their MMSIs.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    pub(crate) by_key: BTreeMap<PublicKey, Target>,
    mmsi: BTreeMap<PublicKey, Mmsi>,
}

impl Targets {
    /// Recomputes MMSIs: real ones as certified, pseudo ones for the rest, none shared.
    fn assign(&mut self) {
        let taken: BTreeSet<Mmsi> = self.by_key.values().filter_map(|t| t.real_mmsi).collect();
        let keys: Vec<&PublicKey> = self
            .by_key
            .iter()
            .filter(|(_, t)| t.real_mmsi.is_none())
            .map(|(k, _)| k)
            .collect();
        let mut m = ident::assign_pseudo(keys, &taken);
        for (k, t) in &self.by_key {
            if let Some(r) = t.real_mmsi {
                m.insert(*k, r);
            }
        }
        self.mmsi = m;
    }

    pub(crate) fn mmsi(&self, k: &PublicKey) -> Mmsi {
        self.mmsi
            .get(k)
            .copied()
            .unwrap_or_else(|| ident::pseudo_mmsi(k))
    }

    /// Takes the daemon's vessel view.
    pub(crate) fn refresh(&mut self, view: &Value) {
        let mut by_key = BTreeMap::new();
        for v in view["vessels"].as_array().into_iter().flatten() {
            let Some(k) = v["key"].as_str().and_then(|k| k.parse::<PublicKey>().ok()) else {
                continue;
            };
            if by_key.len() >= MAX_TARGETS {
                break;
            }
            let fix_ms = v["fix_at"].as_u64().unwrap_or(0) * 1000;
            by_key.insert(
                k,
                Target {
                    real_mmsi: v["mmsi"].as_u64().map(|m| m as Mmsi),
                    name: v["name"].as_str().map(str::to_owned),
                    fix: fix_from_json(&v["fix"]),
                    fix_ms,
                },
            );
        }
        self.by_key = by_key;
        self.assign();
    }

    /// Notes a position record; returns whether the key is new.
    pub(crate) fn position(&mut self, key: PublicKey, fix: Fix, fix_ms: u64) -> bool {
        let new = !self.by_key.contains_key(&key);
        if new && self.by_key.len() >= MAX_TARGETS {
            return false;
        }
        let t = self.by_key.entry(key).or_insert(Target {
            real_mmsi: None,
            name: None,
            fix: None,
            fix_ms: 0,
        });
        if fix_ms >= t.fix_ms {
            t.fix = Some(fix);
            t.fix_ms = fix_ms;
        }
        if new {
            self.assign();
        }
        new
    }
}

/// When a record's fix was taken (ms).
pub(crate) fn fix_time_ms(r: &Record, fix: &Fix) -> u64 {
    let created = u64::from(r.envelope().created.0);
    created.saturating_sub(u64::from(fix.fix_age_s.unwrap_or(0))) * 1000
}

struct Feed {
    cfg: PlotterSection,
    me: PublicKey,
    targets: Targets,
    seq: u8,
    shared: Arc<Mutex<GpsShared>>,
}

impl Feed {
    fn seq(&mut self) -> u8 {
        self.seq = (self.seq + 1) % 10;
        self.seq
    }

    fn shown(&self, k: &PublicKey, t: &Target, now: u64) -> bool {
        *k != self.me
            && t.fix.is_some()
            && now.saturating_sub(t.fix_ms) <= u64::from(self.cfg.max_age_min) * 60_000
            && !t
                .real_mmsi
                .is_some_and(|m| lock(&self.shared).hears(m, now))
    }

    fn position_lines(&mut self, k: &PublicKey, with_static: bool) -> Vec<String> {
        let Some(t) = self.targets.by_key.get(k).cloned() else {
            return Vec::new();
        };
        let Some(fix) = t.fix else { return Vec::new() };
        let mmsi = self.targets.mmsi(k);
        let r = PositionReport {
            mmsi,
            fix,
            utc_second: Some(((t.fix_ms / 1000) % 60) as u8),
        };
        let name = t
            .name
            .clone()
            .unwrap_or_else(|| format!("HQ {}", &k.to_string()[..8]));
        let s = StaticData {
            mmsi,
            name,
            callsign: String::new(),
            ship_type: SHIP_TYPE_FISHING,
            destination: String::new(),
        };
        let mut out = Vec::new();
        match self.cfg.ais_class {
            AisClass::A => {
                out.extend(ais::vdm(&ais::type1(&r), 0, 'A'));
                if with_static {
                    let q = self.seq();
                    out.extend(ais::vdm(&ais::type5(&s), q, 'A'));
                }
            }
            AisClass::B => {
                out.extend(ais::vdm(&ais::type18(&r), 0, 'B'));
                if with_static {
                    out.extend(ais::vdm(&ais::type24a(&s), 0, 'B'));
                    out.extend(ais::vdm(&ais::type24b(&s), 0, 'B'));
                }
            }
        }
        out
    }

    /// Every shown target with its static data, and the alarms; with `dsc`, the DSC of
    /// open distress too (for a plotter that just connected).
    fn picture(&mut self, distress: &Value, now: u64, with_dsc: bool) -> Vec<String> {
        let keys: Vec<PublicKey> = self
            .targets
            .by_key
            .iter()
            .filter(|(k, t)| self.shown(k, t, now))
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::new();
        for k in keys {
            out.extend(self.position_lines(&k, true));
        }
        for d in distress["distress"].as_array().into_iter().flatten() {
            out.extend(self.distress_view_lines(d, now, with_dsc));
        }
        out
    }

    fn distress_view_lines(&self, d: &Value, now: u64, with_dsc: bool) -> Vec<String> {
        let Some(author) = d["author"]
            .as_str()
            .and_then(|k| k.parse::<PublicKey>().ok())
        else {
            return Vec::new();
        };
        if author == self.me {
            return Vec::new();
        }
        let state = d["state"].as_str().unwrap_or("");
        let open = matches!(state, "open" | "answered");
        // A closed incident's alarm is shown inactive for an hour, then no more.
        let ended_s = d["ended"]["at"].as_u64().unwrap_or(0);
        if !open && (now / 1000).saturating_sub(ended_s) > ALR_AFTER_END_S {
            return Vec::new();
        }
        let mmsi = self.targets.mmsi(&author);
        let nature_code: u8 = d["dsc_code"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(7);
        let name = d["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HQ {}", &author.to_string()[..8]));
        let incident = d["incident"].as_str().unwrap_or("");
        let id = incident
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 1000;
        let mut out = Vec::new();
        if with_dsc && open {
            out.extend(dsc::distress_sentences(&DistressAlert {
                mmsi,
                nature: nature_code,
                fix: fix_from_json(&d["fix"]),
                at_s: d["last_alert"].as_u64(),
            }));
        }
        out.push(dsc::alr(&Alarm {
            id: id as u16,
            active: open,
            acknowledged: d["acknowledged_by"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            text: format!(
                "DISTRESS {name} {} {mmsi}",
                d["nature"].as_str().unwrap_or("")
            ),
            now_s: now / 1000,
        }));
        out
    }

    /// Lines for one record the daemon's feed carried.
    fn on_record(&mut self, r: &Record) -> Vec<String> {
        let author = r.author();
        if author == self.me {
            return Vec::new();
        }
        match r.body() {
            Body::Position(f) => {
                let new = self.targets.position(author, *f, fix_time_ms(r, f));
                let now = now_ms();
                match self.targets.by_key.get(&author) {
                    Some(t) if self.shown(&author, t, now) => self.position_lines(&author, new),
                    _ => Vec::new(),
                }
            }
            Body::Distress { nature, fix, .. } => {
                if let Some(f) = fix {
                    self.targets.position(author, *f, fix_time_ms(r, f));
                }
                let mmsi = self.targets.mmsi(&author);
                dsc::distress_sentences(&DistressAlert {
                    mmsi,
                    nature: *nature as u8,
                    fix: *fix,
                    at_s: fix.map(|f| fix_time_ms(r, &f) / 1000),
                })
            }
            _ => Vec::new(),
        }
    }
}

async fn client(
    mut sock: TcpStream,
    first: Vec<Arc<str>>,
    mut rx: broadcast::Receiver<Arc<str>>,
    count: Arc<AtomicUsize>,
) {
    let _ = sock.set_nodelay(true);
    let (mut rd, mut wr) = sock.split();
    let work = async {
        for l in &first {
            tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(l.as_bytes()))
                .await
                .ok()?
                .ok()?;
        }
        let mut sink = [0u8; 512];
        loop {
            tokio::select! {
                l = rx.recv() => match l {
                    Ok(l) => tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(l.as_bytes())).await.ok()?.ok()?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Some(()),
                },
                // A plotter may talk (OpenCPN sends nothing; others send their own NMEA):
                // read and drop it, and notice when it hangs up.
                n = rd.read(&mut sink) => if matches!(n, Ok(0) | Err(_)) { return Some(()) },
            }
        }
    };
    let _: Option<()> = work.await;
    count.fetch_sub(1, Ordering::SeqCst);
}

/// Serves the feed until the daemon stops.
pub(super) async fn run(
    listener: TcpListener,
    cfg: PlotterSection,
    me: PublicKey,
    cmd: mpsc::Sender<Command>,
    shared: Arc<Mutex<GpsShared>>,
) {
    let Some(mut events) = ask(&cmd, Command::Subscribe).await else {
        return;
    };
    let (lines, _) = broadcast::channel::<Arc<str>>(CLIENT_CAP);
    let udp = match cfg.udp_to {
        Some(_) => match tokio::net::UdpSocket::bind("0.0.0.0:0").await {
            Ok(s) => {
                let _ = s.set_broadcast(true);
                Some(s)
            }
            Err(e) => {
                eprintln!("plotter: no UDP socket: {e}");
                None
            }
        },
        None => None,
    };
    let count = Arc::new(AtomicUsize::new(0));
    let mut feed = Feed {
        cfg: cfg.clone(),
        me,
        targets: Targets::default(),
        seq: 0,
        shared,
    };
    let mut distress = Value::Null;
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(cfg.refresh_s)));
    let send = |out: Vec<String>, lines: &broadcast::Sender<Arc<str>>| {
        for l in out {
            if let (Some(u), Some(to)) = (&udp, cfg.udp_to) {
                let _ = u.try_send_to(l.as_bytes(), to);
            }
            let _ = lines.send(Arc::from(l));
        }
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let Some(Ok(v)) = ask(&cmd, |tx| Command::Workflow(Request::Vessels, tx)).await else { return };
                feed.targets.refresh(&v);
                if let Some(Ok(d)) = ask(&cmd, |tx| Command::Workflow(Request::Distress { all: true }, tx)).await {
                    distress = d;
                }
                let out = feed.picture(&distress, now_ms(), false);
                send(out, &lines);
            }
            ev = events.recv() => match ev {
                Ok(Event::Delivered { record, .. }) => {
                    let out = feed.on_record(&record);
                    send(out, &lines);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => tick.reset_immediately(),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            c = listener.accept() => {
                let Ok((sock, _)) = c else { continue };
                if count.load(Ordering::SeqCst) >= cfg.max_clients {
                    drop(sock);
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let first: Vec<Arc<str>> = feed
                    .picture(&distress, now_ms(), true)
                    .into_iter()
                    .map(Arc::from)
                    .collect();
                tokio::spawn(client(sock, first, lines.subscribe(), count.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(n: u8) -> PublicKey {
        haiqiao_proto::Keypair::from_seed(&[n; 32]).public()
    }

    fn feed(me: PublicKey, shared: Arc<Mutex<GpsShared>>) -> Feed {
        Feed {
            cfg: PlotterSection::default(),
            me,
            targets: Targets::default(),
            seq: 0,
            shared,
        }
    }

    fn view(keys: &[(PublicKey, Option<u32>)], fix_at_s: u64) -> Value {
        json!({ "vessels": keys.iter().map(|(k, m)| json!({
            "key": k.to_string(), "name": "浙岱渔03315", "mmsi": m, "fix_at": fix_at_s,
            "fix": { "lat": 29.95, "lon": 122.3, "sog_kn": 6.5, "cog_deg": 110.0,
                     "heading_deg": null, "nav_status": "fishing" },
        })).collect::<Vec<_>>() })
    }

    #[test]
    fn own_vessel_old_fixes_and_vessels_heard_on_the_ais_input_are_left_out() {
        let now = 1_795_000_000_000;
        let shared = Arc::new(Mutex::new(GpsShared::default()));
        let (me, a, b, c) = (key(1), key(2), key(3), key(4));
        let mut f = feed(me, shared.clone());
        f.targets.refresh(&{
            let mut v = view(&[(me, None), (a, None), (b, Some(412_345_678))], now / 1000);
            let old = view(&[(c, None)], now / 1000 - 31 * 60);
            v["vessels"]
                .as_array_mut()
                .unwrap()
                .extend(old["vessels"].as_array().unwrap().clone());
            v
        });
        let shown = |f: &Feed| -> Vec<PublicKey> {
            f.targets
                .by_key
                .iter()
                .filter(|(k, t)| f.shown(k, t, now))
                .map(|(k, _)| *k)
                .collect()
        };
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(shown(&f), want, "not me, not c (31 min old)");
        assert_eq!(f.targets.mmsi(&b), 412_345_678);
        assert!(ident::is_pseudo(f.targets.mmsi(&a)));
        // B's own transponder is heard on the AIS input: the mesh's copy is left out.
        lock(&shared).heard(412_345_678, now - 1000);
        assert_eq!(shown(&f), vec![a]);
        let lines = f.picture(&json!({ "distress": [] }), now, false);
        assert!(lines.iter().all(|l| l.starts_with("!AIVDM")));
        assert_eq!(
            lines.len(),
            3,
            "type 1 and two sentences of type 5: {lines:?}"
        );
    }

    #[test]
    fn a_distress_record_gives_dsc_at_once() {
        let me = key(1);
        let boat = haiqiao_proto::Keypair::from_seed(&[9; 32]);
        let mut f = feed(me, Arc::new(Mutex::new(GpsShared::default())));
        let env = haiqiao_fleet::Draft {
            dest: haiqiao_proto::Destination::Everyone,
            ttl_min: 60,
            body: Body::Distress {
                nature: haiqiao_proto::DistressNature::Flooding,
                fix: Some(Fix::from_degrees(29.95, 122.3)),
                persons: Some(5),
                text: String::new(),
            },
        }
        .envelope(
            boat.public().hint(),
            1,
            haiqiao_proto::Timestamp(1_795_000_000),
        );
        let r = Record::sign(&boat, env).unwrap();
        let lines = f.on_record(&r);
        let mmsi = f.targets.mmsi(&boat.public());
        assert!(lines[0].starts_with(&format!("$CDDSC,12,{mmsi}0,12,01,00,0295712218,")));
        assert!(lines[1].starts_with("$CDDSE,1,1,A,"));
    }
}
