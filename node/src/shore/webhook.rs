//! Webhooks for people ashore: an HTTP POST per chosen event (a distress raised or resolved, a
//! case filed in chosen mediators' areas, a case step), signed with HMAC-SHA256 so the
//! receiver (the dispute platform, an SMS gateway) can tell it came from the station.
//!
//! Each `[[webhook]]` reads the shore journal from its own cursor, one event at a time in
//! arrival order; the cursor moves once the receiver answered 2xx. A failed POST (no answer,
//! 5xx, 408, 429) is retried with doubling backoff up to `max_attempts`; a 4xx that retrying
//! cannot mend, or the last attempt, gives the event up (logged) so one bad event never stalls
//! those behind it. Records of no chosen event are skipped.
//!
//! Request: `POST <url>`, `Content-Type: application/json`, headers `X-Haiqiao-Event: <event>`,
//! `X-Haiqiao-Delivery: <record id>` (the same on every retry: receivers drop duplicates by
//! it), `X-Haiqiao-Timestamp: <unix seconds>` and
//! `X-Haiqiao-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; body
//! `{"event", "station", "record": <the API's record view>, "received_ms"}`.
//!
//! Plain HTTP only (ureq without TLS, as the rest of the node): send to a receiver on the
//! station's network, or through a TLS-terminating proxy (docs/shore.md).

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use haiqiao_proto::Kind;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Backoff;
use super::backlog::{Entry, Journal};

/// What a webhook may be told of.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WebhookEvent {
    /// A distress call reached the station.
    DistressRaised,
    /// A distress was resolved or cancelled.
    DistressResolved,
    /// A dispute was filed (to the mediators of an area in `areas`, or any with none).
    CaseFiled,
    /// A step of a case: accepted, in mediation, agreement proposed or signed, escalated,
    /// closed.
    CaseStep,
}

impl WebhookEvent {
    fn name(self) -> &'static str {
        match self {
            WebhookEvent::DistressRaised => "distress_raised",
            WebhookEvent::DistressResolved => "distress_resolved",
            WebhookEvent::CaseFiled => "case_filed",
            WebhookEvent::CaseStep => "case_step",
        }
    }
}

/// One `[[webhook]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSection {
    /// Its name (its cursor in the journal; keep it when editing the rest).
    pub(crate) name: String,
    /// Where to POST: `http://host:port/path`.
    pub(crate) url: String,
    /// The HMAC key shared with the receiver; at least 16 characters.
    pub(crate) secret: String,
    /// The events to send. Default: all.
    #[serde(default = "all_events")]
    pub(crate) events: Vec<WebhookEvent>,
    /// Only cases filed within this mediator's area, `[south, west, north, east]` in degrees
    /// (none: every case). A case filed without a position is sent all the same.
    #[serde(default)]
    pub(crate) area: Option<[f64; 4]>,
    /// Seconds a POST may take. Default 10.
    #[serde(default = "default_timeout")]
    pub(crate) timeout_s: u64,
    /// Attempts per event before it is given up. Default 8.
    #[serde(default = "default_attempts")]
    pub(crate) max_attempts: u32,
    /// Retry backoff, doubling from min to max, ms. Defaults 500 and 60,000.
    #[serde(default = "default_retry_min")]
    pub(crate) retry_min_ms: u64,
    #[serde(default = "default_retry_max")]
    pub(crate) retry_max_ms: u64,
}

fn all_events() -> Vec<WebhookEvent> {
    vec![
        WebhookEvent::DistressRaised,
        WebhookEvent::DistressResolved,
        WebhookEvent::CaseFiled,
        WebhookEvent::CaseStep,
    ]
}
fn default_timeout() -> u64 {
    10
}
fn default_attempts() -> u32 {
    8
}
fn default_retry_min() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    60_000
}

impl WebhookSection {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.name.is_empty() {
            bail!("name is empty");
        }
        if !self.url.starts_with("http://") {
            bail!(
                "webhook {:?}: url {:?} must start with http:// (TLS: through a proxy, see \
                 docs/shore.md)",
                self.name,
                self.url
            );
        }
        self.url
            .parse::<ureq::http::Uri>()
            .map_err(|e| anyhow::anyhow!("webhook {:?}: url {:?}: {e}", self.name, self.url))?;
        if self.secret.chars().count() < 16 {
            bail!(
                "webhook {:?}: secret must be at least 16 characters",
                self.name
            );
        }
        if self.events.is_empty() {
            bail!("webhook {:?}: events is empty", self.name);
        }
        if let Some([s, w, n, e]) = self.area
            && !(s < n
                && w < e
                && (-90.0..=90.0).contains(&s)
                && (-90.0..=90.0).contains(&n)
                && (-180.0..=180.0).contains(&w)
                && (-180.0..=180.0).contains(&e))
        {
            bail!(
                "webhook {:?}: area is [south, west, north, east] in degrees",
                self.name
            );
        }
        if self.timeout_s == 0 || self.max_attempts == 0 {
            bail!(
                "webhook {:?}: timeout_s and max_attempts must be at least 1",
                self.name
            );
        }
        Ok(())
    }
}

/// The event a record stands for, if any.
pub(crate) fn event_of(v: &Value, kind: Kind) -> Option<WebhookEvent> {
    match kind {
        Kind::Distress => Some(WebhookEvent::DistressRaised),
        Kind::DistressUpdate
            if matches!(v["body"]["status"].as_str(), Some("resolved" | "cancelled")) =>
        {
            Some(WebhookEvent::DistressResolved)
        }
        Kind::DisputeReport => Some(WebhookEvent::CaseFiled),
        Kind::CaseUpdate | Kind::AgreementSignature => Some(WebhookEvent::CaseStep),
        _ => None,
    }
}

/// The signature header's value for a body sent at `ts`.
pub(crate) fn sign(secret: &str, ts: u64, body: &str) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `cfg` wants this record, and as which event.
fn wanted(cfg: &WebhookSection, e: &Entry, v: &Value) -> Option<WebhookEvent> {
    let ev = event_of(v, e.record.kind())?;
    if !cfg.events.contains(&ev) {
        return None;
    }
    if ev == WebhookEvent::CaseFiled
        && let Some([south, west, north, east]) = cfg.area
        && let (Some(lat), Some(lon)) = (
            v["body"]["fix"]["lat"].as_f64(),
            v["body"]["fix"]["lon"].as_f64(),
        )
        && !((south..=north).contains(&lat) && (west..=east).contains(&lon))
    {
        return None;
    }
    Some(ev)
}

/// How one POST went.
enum Outcome {
    Done,
    Retry(String),
    GiveUp(String),
}

fn post(cfg: &WebhookSection, event: WebhookEvent, id: &str, body: &str) -> Outcome {
    let ts = crate::clock::now_ms() / 1000;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(cfg.timeout_s)))
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(&cfg.url)
        .header("content-type", "application/json")
        .header("x-haiqiao-event", event.name())
        .header("x-haiqiao-delivery", id)
        .header("x-haiqiao-timestamp", ts.to_string())
        .header("x-haiqiao-signature", sign(&cfg.secret, ts, body))
        .send(body);
    match resp {
        Ok(r) if r.status().is_success() => Outcome::Done,
        Ok(r) if r.status().is_server_error() || matches!(r.status().as_u16(), 408 | 429) => {
            Outcome::Retry(format!("answered {}", r.status()))
        }
        Ok(r) => Outcome::GiveUp(format!("answered {}", r.status())),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Runs one webhook until the daemon stops (the task is dropped).
pub(crate) async fn run(cfg: WebhookSection, station: String, j: Arc<Journal>) {
    let sink = format!("webhook:{}", cfg.name);
    let cfg = Arc::new(cfg);
    let mut watch = j.watch();
    loop {
        watch.borrow_and_update();
        let next = match j.cursor(&sink) {
            Ok(c) => c,
            Err(e) => {
                println!("webhook {}: {e}", cfg.name);
                return;
            }
        };
        let batch = match j.read(&sink, next, 64) {
            Ok(b) => b,
            Err(e) => {
                println!("webhook {}: {e}", cfg.name);
                return;
            }
        };
        if batch.is_empty() {
            if watch.changed().await.is_err() {
                return;
            }
            continue;
        }
        for e in batch {
            let v = super::mqtt::payload(&e, &station);
            if let Some(ev) = wanted(&cfg, &e, &v) {
                deliver(&cfg, ev, &e, &v, &station).await;
            }
            if let Err(err) = j.commit(&sink, e.seq + 1) {
                println!("webhook {}: {err}", cfg.name);
                return;
            }
        }
    }
}

/// POSTs one event until it is taken or given up.
async fn deliver(cfg: &Arc<WebhookSection>, ev: WebhookEvent, e: &Entry, v: &Value, station: &str) {
    let id = e.record.id().to_string();
    let body = json!({
        "event": ev.name(), "station": station, "record": v, "received_ms": e.at_ms,
    })
    .to_string();
    let mut backoff = Backoff::new(cfg.retry_min_ms, cfg.retry_max_ms);
    for attempt in 1..=cfg.max_attempts {
        let (c, i, b) = (Arc::clone(cfg), id.clone(), body.clone());
        let out = tokio::task::spawn_blocking(move || post(&c, ev, &i, &b))
            .await
            .unwrap_or_else(|e| Outcome::Retry(e.to_string()));
        match out {
            Outcome::Done => return,
            Outcome::GiveUp(why) => {
                println!("webhook {}: gave up {} {id}: {why}", cfg.name, ev.name());
                return;
            }
            Outcome::Retry(why) if attempt < cfg.max_attempts => {
                let wait = backoff.next_wait();
                println!(
                    "webhook {}: {} {id} attempt {attempt} failed ({why}); again in {} ms",
                    cfg.name,
                    ev.name(),
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
            }
            Outcome::Retry(why) => {
                println!(
                    "webhook {}: gave up {} {id} after {attempt} attempts: {why}",
                    cfg.name,
                    ev.name()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 shape: key "Jefe"; here checked against a value computed
        // independently (python3 -c 'import hmac,hashlib;
        // print(hmac.new(b"0123456789abcdef",b"1700000000.{}",hashlib.sha256).hexdigest())').
        assert_eq!(
            sign("0123456789abcdef", 1_700_000_000, "{}"),
            "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }

    #[test]
    fn cases_are_sent_for_the_chosen_area_and_distress_by_its_status() {
        let mut w: WebhookSection = toml::from_str(
            "name = \"p\"\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"0123456789abcdef\"\n\
             area = [29.5, 122.0, 30.5, 123.0]",
        )
        .expect("parse");
        assert!(w.validate().is_ok());
        let key = haiqiao_proto::Keypair::from_seed(&[5; 32]);
        let case = |lat: f64| {
            haiqiao_proto::Record::sign(
                &key,
                haiqiao_proto::Envelope {
                    author: key.public().hint(),
                    seq: 1,
                    created: haiqiao_proto::Timestamp(1_790_000_000),
                    ttl_min: 60,
                    dest: haiqiao_proto::Destination::Everyone,
                    body: haiqiao_proto::Body::DisputeReport {
                        category: haiqiao_proto::DisputeCategory::GearDamage,
                        parties: vec![],
                        fix: Some(haiqiao_proto::Fix::from_degrees(lat, 122.5)),
                        description: "nets".into(),
                        evidence: vec![],
                    },
                },
            )
            .expect("sign")
        };
        let entry = |r: haiqiao_proto::Record| Entry {
            seq: 0,
            at_ms: 0,
            record: r,
        };
        let inside = entry(case(30.0));
        let outside = entry(case(28.0));
        let vi = super::super::mqtt::payload(&inside, "s");
        let vo = super::super::mqtt::payload(&outside, "s");
        assert_eq!(wanted(&w, &inside, &vi), Some(WebhookEvent::CaseFiled));
        assert_eq!(wanted(&w, &outside, &vo), None);
        w.area = None;
        assert_eq!(wanted(&w, &outside, &vo), Some(WebhookEvent::CaseFiled));
        w.area = Some([30.0, 122.0, 29.0, 123.0]);
        assert!(w.validate().is_err(), "south above north");
        let text = entry(crate::shore::test_record(&key, 1));
        let vt = super::super::mqtt::payload(&text, "s");
        assert_eq!(wanted(&w, &text, &vt), None, "a text is no event");
    }

    #[test]
    fn the_section_is_checked() {
        let w: WebhookSection = toml::from_str(
            "name = \"p\"\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"0123456789abcdef\"",
        )
        .expect("parse");
        assert!(w.validate().is_ok());
        assert_eq!(w.events.len(), 4);
        let bad = WebhookSection {
            url: "https://x/".into(),
            ..w.clone()
        };
        assert!(bad.validate().is_err());
        let bad = WebhookSection {
            secret: "short".into(),
            ..w
        };
        assert!(bad.validate().is_err());
    }
}
