//! The MQTT bridge (rumqttc): every record in the shore journal published QoS 1 as JSON (the
//! API's record view) and as its raw signed CBOR bytes in hex on a parallel topic; the newest
//! position of each vessel retained; a command topic through which an authorised integrator
//! may have the station sign a text or a distress acknowledgement.
//!
//! Topics (`<p>` = `topic_prefix`, `<s>` = the station's name):
//!
//! | topic | payload |
//! |---|---|
//! | `<p>/<s>/<kind>/<author>` | the record as the API shows it, plus `received_ms` and `station` (positions: retained, newest per vessel) |
//! | `<p>/<s>/raw/<kind>/<author>` | the record's signed bytes, hex |
//! | `<p>/<s>/command/<integrator>` | (to the station) `{"token", "op": "text" \| "ack_distress", ...}` |
//! | `<p>/<s>/reply/<integrator>` | (from the station) `{"ok": true, "record": {...}}` or `{"ok": false, "code", "message"}` |
//!
//! Nothing lost: the journal's cursor moves only past records whose every message the broker
//! acknowledged (PUBACK). Each connection is a fresh rumqttc event loop with a clean session;
//! when it fails, everything unacknowledged is published again on the next connection (so a
//! subscriber may see a record twice, as QoS 1 allows, never zero times). At most `window`
//! messages are unacknowledged at once, so the client's own queue never fills.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use haiqiao_proto::{Kind, PublicKey, Record};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Backoff;
use super::backlog::{Entry, Journal};
use crate::command::Command;
use crate::error::ApiError;
use crate::json::{SubmitRequest, record_json};
use crate::workflows::Request;

/// The journal cursor's name.
const SINK: &str = "mqtt";

/// Vessels whose newest position time is remembered (to retain only the newest); beyond, the
/// memory is cleared and starts again (a late older position may then be retained once).
const NEWEST_CAP: usize = 100_000;

/// Command results waiting to be published.
const REPLY_CAP: usize = 16;

/// What an integrator may do.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Op {
    /// Send a text, signed by the station.
    Text,
    /// Acknowledge a distress as the station's operator.
    AckDistress,
}

/// One integrator allowed on the command topic.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Integrator {
    /// Its name: the last level of its command topic.
    pub(crate) name: String,
    /// The secret it puts in each command (`token`); at least 16 characters.
    pub(crate) token: String,
    /// What it may do.
    pub(crate) allow: Vec<Op>,
}

/// The `[mqtt]` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MqttSection {
    /// The broker's host name or address.
    pub(crate) host: String,
    /// The broker's port. Default 1883.
    #[serde(default = "default_port")]
    pub(crate) port: u16,
    /// The MQTT client id. Default `haiqiao-<station>`.
    #[serde(default)]
    pub(crate) client_id: Option<String>,
    /// User name and password, if the broker asks for them.
    #[serde(default)]
    pub(crate) username: Option<String>,
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// The first level of every topic. Default `haiqiao`.
    #[serde(default = "default_prefix")]
    pub(crate) topic_prefix: String,
    /// Messages published and not yet acknowledged, at most. Default 64.
    #[serde(default = "default_window")]
    pub(crate) window: u16,
    /// Keep-alive, seconds. Default 15.
    #[serde(default = "default_keep_alive")]
    pub(crate) keep_alive_s: u64,
    /// Reconnection backoff, doubling from min to max, ms. Defaults 200 and 30,000.
    #[serde(default = "default_backoff_min")]
    pub(crate) reconnect_min_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub(crate) reconnect_max_ms: u64,
    /// Who may use the command topic (none: the station subscribes to no command topic).
    #[serde(default)]
    pub(crate) integrators: Vec<Integrator>,
}

fn default_port() -> u16 {
    1883
}
fn default_prefix() -> String {
    "haiqiao".to_owned()
}
fn default_window() -> u16 {
    64
}
fn default_keep_alive() -> u64 {
    15
}
fn default_backoff_min() -> u64 {
    200
}
fn default_backoff_max() -> u64 {
    30_000
}

impl MqttSection {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.host.trim().is_empty() {
            bail!("host is empty");
        }
        if self.topic_prefix.is_empty()
            || self.topic_prefix.contains(['+', '#'])
            || self.topic_prefix.starts_with('/')
        {
            bail!(
                "topic_prefix {:?} must be non-empty, without + or #, not starting with /",
                self.topic_prefix
            );
        }
        if self.window < 2 {
            bail!("window must be at least 2 (a record is two messages)");
        }
        if self.keep_alive_s < 5 {
            bail!("keep_alive_s must be at least 5");
        }
        if self.username.is_none() && self.password.is_some() {
            bail!("a password needs a username");
        }
        let mut names = std::collections::HashSet::new();
        for i in &self.integrators {
            if i.name.is_empty() || i.name.contains(['/', '+', '#']) {
                bail!("integrator name {:?} must be one topic level", i.name);
            }
            if !names.insert(&i.name) {
                bail!("integrator {:?} is listed twice", i.name);
            }
            if i.token.chars().count() < 16 {
                bail!(
                    "integrator {:?}: token must be at least 16 characters",
                    i.name
                );
            }
        }
        Ok(())
    }
}

/// Topic names for one station.
#[derive(Debug, Clone)]
struct Topics {
    base: String,
}

impl Topics {
    fn json(&self, kind: Kind, author: &PublicKey) -> String {
        format!("{}/{}/{author}", self.base, kind.name())
    }
    fn raw(&self, kind: Kind, author: &PublicKey) -> String {
        format!("{}/raw/{}/{author}", self.base, kind.name())
    }
    fn commands(&self) -> String {
        format!("{}/command/+", self.base)
    }
    fn reply(&self, integrator: &str) -> String {
        format!("{}/reply/{integrator}", self.base)
    }
}

/// The JSON payload of a record: the API's view, where and when it arrived.
pub(crate) fn payload(e: &Entry, station: &str) -> Value {
    let mut v = record_json(&e.record);
    v["received_ms"] = json!(e.at_ms);
    v["station"] = json!(station);
    v
}

/// Runs the bridge until the daemon stops.
pub(crate) async fn run(
    cfg: MqttSection,
    station: String,
    j: Arc<Journal>,
    cmd: mpsc::Sender<Command>,
) {
    let mut backoff = Backoff::new(cfg.reconnect_min_ms, cfg.reconnect_max_ms);
    let mut newest: HashMap<PublicKey, (u32, u64)> = HashMap::new();
    loop {
        let (connected, e) = session(&cfg, &station, &j, &cmd, &mut newest).await;
        if cmd.is_closed() {
            return;
        }
        if connected {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        println!(
            "mqtt: {e:#}; reconnecting to {}:{} in {} ms",
            cfg.host,
            cfg.port,
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }
}

/// What a message in flight stands for.
#[derive(Debug, Clone, Copy)]
enum Sent {
    Record(u64),
    Reply,
}

/// One connection: publishes from the cursor until the connection fails. Returns whether it
/// got as far as the broker's CONNACK, and why it ended.
async fn session(
    cfg: &MqttSection,
    station: &str,
    j: &Journal,
    cmd: &mpsc::Sender<Command>,
    newest: &mut HashMap<PublicKey, (u32, u64)>,
) -> (bool, anyhow::Error) {
    let client_id = cfg
        .client_id
        .clone()
        .unwrap_or_else(|| format!("haiqiao-{station}"));
    let mut opts = MqttOptions::new(client_id, cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(cfg.keep_alive_s));
    opts.set_clean_session(true);
    // Room for the records' window and a few replies; the request queue larger still, so
    // try_publish never finds it full.
    opts.set_inflight(cfg.window.saturating_add(REPLY_CAP as u16));
    opts.set_request_channel_capacity(usize::from(cfg.window) + 2 * REPLY_CAP + 8);
    opts.set_max_packet_size(64 * 1024, 64 * 1024);
    if let Some(u) = &cfg.username {
        opts.set_credentials(u.clone(), cfg.password.clone().unwrap_or_default());
    }
    let (client, mut el) = AsyncClient::new(opts, usize::from(cfg.window) + 2 * REPLY_CAP + 8);
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(e) => return (false, anyhow::Error::new(e).context("connecting")),
        }
    }
    println!("mqtt: connected to {}:{}", cfg.host, cfg.port);
    let topics = Topics {
        base: format!("{}/{station}", cfg.topic_prefix),
    };
    if !cfg.integrators.is_empty()
        && let Err(e) = client.try_subscribe(topics.commands(), QoS::AtLeastOnce)
    {
        return (true, anyhow::Error::new(e).context("subscribing"));
    }
    let e = publish_loop(cfg, station, j, cmd, newest, &client, &mut el, &topics).await;
    (true, e)
}

#[allow(clippy::too_many_arguments)]
async fn publish_loop(
    cfg: &MqttSection,
    station: &str,
    j: &Journal,
    cmd: &mpsc::Sender<Command>,
    newest: &mut HashMap<PublicKey, (u32, u64)>,
    client: &AsyncClient,
    el: &mut rumqttc::EventLoop,
    topics: &Topics,
) -> anyhow::Error {
    let mut watch = j.watch();
    let mut next = match j.cursor(SINK) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    // Records published and not wholly acknowledged: position → messages outstanding.
    let mut pending: BTreeMap<u64, u8> = BTreeMap::new();
    // Messages handed to the client, in order, until the event loop writes them (and says
    // which packet id each got).
    let mut order: VecDeque<Sent> = VecDeque::new();
    let mut by_pkid: HashMap<u16, Sent> = HashMap::new();
    let (reply_tx, mut reply_rx) = mpsc::channel::<(String, Value)>(REPLY_CAP);
    let window = usize::from(cfg.window);
    loop {
        watch.borrow_and_update();
        let outstanding: usize = pending.values().map(|n| usize::from(*n)).sum();
        let room = window.saturating_sub(outstanding) / 2;
        if room > 0 {
            let batch = match j.read(SINK, next, room) {
                Ok(b) => b,
                Err(e) => return e.into(),
            };
            for e in &batch {
                let r = &e.record;
                let retain = r.kind() == Kind::Position && is_newest(newest, r, e.seq);
                let body = payload(e, station).to_string();
                let sends = [
                    (topics.json(r.kind(), &r.author()), body.into_bytes()),
                    (
                        topics.raw(r.kind(), &r.author()),
                        hex::encode(r.bytes()).into_bytes(),
                    ),
                ];
                for (t, p) in sends {
                    if let Err(err) = client.try_publish(t, QoS::AtLeastOnce, retain, p) {
                        return anyhow::Error::new(err).context("queueing a publish");
                    }
                    order.push_back(Sent::Record(e.seq));
                }
                pending.insert(e.seq, 2);
                next = e.seq + 1;
            }
            if batch.len() == room {
                // Maybe more: read again once the event loop has moved.
                tokio::task::yield_now().await;
            }
        }
        let caught_up = next >= *watch.borrow();
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(s) = order.pop_front() && pkid != 0 {
                        by_pkid.insert(pkid, s);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(a))) => {
                    if let Some(Sent::Record(seq)) = by_pkid.remove(&a.pkid)
                        && let Some(n) = pending.get_mut(&seq)
                    {
                        *n -= 1;
                        if *n == 0 {
                            pending.remove(&seq);
                            let done = pending.keys().next().copied().unwrap_or(next);
                            if let Err(e) = j.commit(SINK, done) {
                                return e.into();
                            }
                            if pending.is_empty() && next >= *watch.borrow() {
                                println!("mqtt: caught up at journal position {next}");
                            }
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let tx = reply_tx.clone();
                    let cmd = cmd.clone();
                    let integrators = cfg.integrators.clone();
                    let reply_topic = |name: &str| topics.reply(name);
                    let name = p.topic.rsplit('/').next().unwrap_or("").to_owned();
                    let topic = reply_topic(&name);
                    // Answered by its own task: the daemon may take a moment, and the event
                    // loop must keep turning meanwhile. A full reply queue drops the reply
                    // (the command itself is carried out, and logged).
                    tokio::spawn(async move {
                        let answer = command(&integrators, &name, &p.payload, &cmd).await;
                        let _ = tx.try_send((topic, answer));
                    });
                }
                Ok(_) => {}
                Err(e) => return anyhow::Error::new(e).context("connection lost"),
            },
            Some((topic, v)) = reply_rx.recv() => {
                if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, false, v.to_string()) {
                    return anyhow::Error::new(e).context("queueing a reply");
                }
                order.push_back(Sent::Reply);
            }
            _ = watch.changed(), if caught_up => {}
        }
    }
}

/// Whether `r` is the newest position heard from its author (by creation time, then journal
/// position).
fn is_newest(newest: &mut HashMap<PublicKey, (u32, u64)>, r: &Record, seq: u64) -> bool {
    if newest.len() >= NEWEST_CAP && !newest.contains_key(&r.author()) {
        newest.clear();
    }
    let mine = (r.envelope().created.0, seq);
    match newest.get(&r.author()) {
        Some(old) if *old > mine => false,
        _ => {
            newest.insert(r.author(), mine);
            true
        }
    }
}

/// Constant-time comparison of two secrets.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a command is refused, before it reaches the daemon.
fn check_command(
    integrators: &[Integrator],
    name: &str,
    payload: &[u8],
) -> Result<(Op, Value), ApiError> {
    let Some(who) = integrators.iter().find(|i| i.name == name) else {
        return Err(ApiError::Refused(format!("no integrator named {name:?}")));
    };
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| ApiError::BadRequest(format!("not JSON: {e}")))?;
    let token = v.get("token").and_then(Value::as_str).unwrap_or("");
    if !same_secret(token.as_bytes(), who.token.as_bytes()) {
        return Err(ApiError::Refused(format!("wrong token for {name:?}")));
    }
    let op: Op = serde_json::from_value(v.get("op").cloned().unwrap_or(Value::Null))
        .map_err(|_| ApiError::BadRequest("op must be \"text\" or \"ack_distress\"".to_owned()))?;
    if !who.allow.contains(&op) {
        return Err(ApiError::Refused(format!(
            "{name:?} may not {}",
            match op {
                Op::Text => "send texts",
                Op::AckDistress => "acknowledge distress",
            }
        )));
    }
    Ok((op, v))
}

/// Carries out one command through the daemon, as the API would; the answer to publish.
async fn command(
    integrators: &[Integrator],
    name: &str,
    payload: &[u8],
    cmd: &mpsc::Sender<Command>,
) -> Value {
    let res = async {
        let (op, v) = check_command(integrators, name, payload)?;
        match op {
            Op::Text => {
                let req: SubmitRequest = serde_json::from_value(json!({
                    "kind": "text",
                    "dest": v.get("dest").cloned().unwrap_or(json!("shore")),
                    "text": v.get("text").cloned().unwrap_or(Value::Null),
                    "safety": v.get("safety").cloned().unwrap_or(json!(false)),
                }))
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                super::ask(cmd, |r| Command::Submit(req, r))
                    .await
                    .ok_or(ApiError::Unavailable)?
            }
            Op::AckDistress => {
                let Some(d) = v.get("distress").and_then(Value::as_str) else {
                    return Err(ApiError::BadRequest(
                        "distress (a record id) is missing".into(),
                    ));
                };
                let req: Request = serde_json::from_value(json!({
                    "op": "answer_distress", "distress": d, "status": "acknowledged",
                }))
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                super::ask(cmd, |r| Command::Workflow(req, r))
                    .await
                    .ok_or(ApiError::Unavailable)?
            }
        }
    }
    .await;
    match res {
        Ok(record) => {
            println!("mqtt: command from {name} carried out");
            json!({ "ok": true, "record": record })
        }
        Err(e) => {
            println!("mqtt: refused command from {name:?}: {}", e.message());
            json!({ "ok": false, "code": e.code(), "message": e.message() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integrators() -> Vec<Integrator> {
        vec![Integrator {
            name: "dispatch".to_owned(),
            token: "0123456789abcdef-secret".to_owned(),
            allow: vec![Op::Text],
        }]
    }

    #[test]
    fn commands_need_a_known_integrator_its_token_and_an_allowed_op() {
        let i = integrators();
        let ok = br#"{"token":"0123456789abcdef-secret","op":"text","text":"hi"}"#;
        assert!(matches!(
            check_command(&i, "dispatch", ok),
            Ok((Op::Text, _))
        ));
        let e = check_command(&i, "stranger", ok).expect_err("unknown");
        assert_eq!(e.code(), "refused");
        let bad = br#"{"token":"0123456789abcdef-wrong!","op":"text"}"#;
        assert_eq!(
            check_command(&i, "dispatch", bad)
                .expect_err("token")
                .code(),
            "refused"
        );
        let ack = br#"{"token":"0123456789abcdef-secret","op":"ack_distress","distress":"ab"}"#;
        assert_eq!(
            check_command(&i, "dispatch", ack)
                .expect_err("not allowed")
                .code(),
            "refused"
        );
        let op = br#"{"token":"0123456789abcdef-secret","op":"revoke"}"#;
        assert_eq!(
            check_command(&i, "dispatch", op).expect_err("op").code(),
            "bad_request"
        );
        assert_eq!(
            check_command(&i, "dispatch", b"{")
                .expect_err("json")
                .code(),
            "bad_request"
        );
    }

    #[test]
    fn only_the_newest_position_of_a_vessel_is_retained() {
        let key = haiqiao_proto::Keypair::from_seed(&[4; 32]);
        let mut newest = HashMap::new();
        let a = crate::shore::test_record(&key, 5);
        let older = crate::shore::test_record(&key, 3);
        assert!(is_newest(&mut newest, &a, 10));
        assert!(
            !is_newest(&mut newest, &older, 11),
            "an older one arriving later"
        );
        assert!(is_newest(
            &mut newest,
            &crate::shore::test_record(&key, 6),
            12
        ));
    }

    #[test]
    fn the_section_is_checked() {
        let mut m: MqttSection = toml::from_str("host = \"127.0.0.1\"").expect("parse");
        assert!(m.validate().is_ok());
        assert_eq!(
            (m.port, m.topic_prefix.as_str(), m.window),
            (1883, "haiqiao", 64)
        );
        m.topic_prefix = "a/#".into();
        assert!(m.validate().is_err());
        m.topic_prefix = "haiqiao".into();
        m.integrators = integrators();
        m.integrators[0].token = "short".into();
        assert!(m.validate().is_err());
        assert!(toml::from_str::<MqttSection>("host = \"h\"\nqos = 2").is_err());
    }
}
