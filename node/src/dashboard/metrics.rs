//! `/metrics`: the node in Prometheus text exposition (prometheus-client), every name
//! prefixed `haiqiao_`.
//!
//! Two sources:
//! - at each scrape, the daemon's own status (what `haiqiao status` shows): the engine's
//!   counters (frames, bytes and records in and out, duplicates, refusals by reason,
//!   deliveries, custody, receipts, penalties), the store (records, bytes), peers, open
//!   distress, cases (open, accepted, closed, escalated), buddy alarms, how long the
//!   daemon's loop took to answer (`haiqiao_engine_answer_seconds`), and the engine's time per
//!   kind of input, store writes included (`haiqiao_engine_input_seconds`, `_inputs`,
//!   `_input_max_seconds`);
//! - counted from the daemon's feed since start, by label: records delivered and authored by
//!   kind and priority class, penalties by offence, peers up and down, copies carried and
//!   freed by receipts, records refused from revoked keys. A listener that fell behind the
//!   feed counts what it missed in `haiqiao_feed_lagged_events_total` (those events are then
//!   missing from the labelled counts, never from the engine's own counters).
//!
//! The metric names and labels are listed in docs/dashboard.md.

use std::sync::Arc;
use std::time::Instant;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::command::Command;
use crate::command::ask;
use crate::error::ApiError;
use crate::feed::Event;
use crate::workflows::Request;

type Labels = Vec<(&'static str, String)>;

/// What the feed listener counts.
#[derive(Debug, Default, Clone)]
pub(crate) struct FeedCounts {
    records: Family<Labels, Counter>,
    penalties: Family<Labels, Counter>,
    peer_events: Family<Labels, Counter>,
    carrying: Counter,
    freed: Counter,
    refused_revoked: Counter,
    lagged: Counter,
}

impl FeedCounts {
    pub(crate) fn count(&self, ev: &Event) {
        match ev {
            Event::Delivered { record, .. } | Event::Authored { record, .. } => {
                let how = if matches!(ev, Event::Delivered { .. }) {
                    "delivered"
                } else {
                    "authored"
                };
                self.records
                    .get_or_create(&vec![
                        ("how", how.to_owned()),
                        ("kind", record.kind().name().to_owned()),
                        ("class", record.priority().name().to_owned()),
                    ])
                    .inc();
            }
            Event::Carrying(_) => {
                self.carrying.inc();
            }
            Event::Freed(_) => {
                self.freed.inc();
            }
            Event::RefusedRevoked { .. } => {
                self.refused_revoked.inc();
            }
            Event::Penalty { offence, .. } => {
                self.penalties
                    .get_or_create(&vec![("offence", (*offence).to_owned())])
                    .inc();
            }
            Event::Disconnected { .. } => {
                self.peer_events
                    .get_or_create(&vec![("event", "banned".to_owned())])
                    .inc();
            }
            Event::Peer { up, .. } => {
                self.peer_events
                    .get_or_create(&vec![("event", if *up { "up" } else { "down" }.to_owned())])
                    .inc();
            }
        }
    }

    /// Counts what `rx` receives until the feed closes.
    pub(crate) async fn listen(self, mut rx: broadcast::Receiver<Event>) {
        loop {
            match rx.recv().await {
                Ok(ev) => self.count(&ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.lagged.inc_by(n);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "feed_records",
            "Records delivered here or authored here since start, by kind and priority class",
            self.records.clone(),
        );
        r.register(
            "feed_penalties",
            "Penalties given to peers since start, by offence",
            self.penalties.clone(),
        );
        r.register(
            "feed_peer_events",
            "Peers up, down and banned since start",
            self.peer_events.clone(),
        );
        r.register(
            "feed_carrying",
            "Records taken into custody for others since start",
            self.carrying.clone(),
        );
        r.register(
            "feed_freed",
            "Carried copies freed by a shore receipt since start",
            self.freed.clone(),
        );
        r.register(
            "feed_refused_revoked",
            "Records refused from revoked keys since start",
            self.refused_revoked.clone(),
        );
        r.register(
            "feed_lagged_events",
            "Feed events the metrics listener fell behind on (not in the labelled counts)",
            self.lagged.clone(),
        );
    }
}

/// Starts counting the feed (in the running tokio runtime; none, e.g. in a unit test of the
/// router: nothing is counted).
pub(crate) fn start(tx: &mpsc::Sender<Command>) -> FeedCounts {
    let counts = FeedCounts::default();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let (tx, c) = (tx.clone(), counts.clone());
        rt.spawn(async move {
            if let Ok(rx) = ask(&tx, Command::Subscribe).await {
                c.listen(rx).await;
            }
        });
    }
    counts
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    r.register(name, help, c);
}

fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    r.register(name, help, g);
}

/// The exposition from a status answer, the case statistics and the feed's counts.
///
/// Long (about 170 lines) because it is the list of metrics, one registration each, in the
/// order the exposition shows them.
pub(crate) fn render(
    status: &Value,
    cases: &Value,
    answer_s: f64,
    feed: &FeedCounts,
) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("haiqiao");
    let s = &status["stats"];
    let engine: [(&str, &str, &str); 17] = [
        ("frames_out", "frames_sent", "Frames sent"),
        (
            "bytes_out",
            "bytes_sent",
            "Frame bytes sent (sync traffic out)",
        ),
        ("records_out", "records_sent", "Records sent in frames"),
        ("frames_in", "frames_received", "Frames received"),
        (
            "bytes_in",
            "bytes_received",
            "Frame bytes received (sync traffic in)",
        ),
        (
            "records_in",
            "records_received",
            "Records received in frames",
        ),
        (
            "duplicates",
            "records_duplicate",
            "Records received that were already held",
        ),
        (
            "delivered",
            "records_delivered",
            "Records delivered to this node",
        ),
        (
            "submitted",
            "records_submitted",
            "Records written at this node",
        ),
        ("custody_acked", "custody_acked", "Custody acknowledgements"),
        (
            "freed_by_receipt",
            "records_freed_by_receipt",
            "Copies freed by shore receipts",
        ),
        ("penalties", "penalties", "Penalties given to peers"),
        (
            "receipts_not_counted",
            "receipts_not_counted",
            "Receipts from uncertified shores, not counted",
        ),
        (
            "refused",
            "records_refused_policy",
            "Records refused (policy: rate, size, expiry, trust)",
        ),
        (
            "bad_signatures",
            "records_refused_bad_signature",
            "Records refused: bad signature",
        ),
        (
            "malformed",
            "frames_malformed",
            "Frames or records that did not decode",
        ),
        (
            "refused_revoked",
            "records_refused_revoked",
            "Records refused: revoked key",
        ),
    ];
    for (key, name, help) in engine {
        counter(&mut r, name, help, u(&s[key]));
    }
    gauge(
        &mut r,
        "peers",
        "Peers connected",
        u(&status["peers"]) as i64,
    );
    gauge(
        &mut r,
        "records_held",
        "Records held for the mesh",
        u(&status["held"]) as i64,
    );
    gauge(
        &mut r,
        "store_records",
        "Records in the store",
        u(&status["store"]["records"]) as i64,
    );
    gauge(
        &mut r,
        "store_bytes",
        "Bytes of records in the store",
        u(&status["store"]["bytes"]) as i64,
    );
    let f = &status["fleet"];
    gauge(
        &mut r,
        "distress_open",
        "Open distress incidents",
        u(&f["open_distress"]) as i64,
    );
    gauge(
        &mut r,
        "buddy_alarms",
        "Pair partners overdue (buddy watch alarms up)",
        f["buddy_alarms"].as_array().map_or(0, Vec::len) as i64,
    );
    let by_stage: Family<Labels, Gauge> = Family::default();
    for stage in ["open", "accepted", "closed", "escalated"] {
        by_stage
            .get_or_create(&vec![("stage", stage.to_owned())])
            .set(u(&cases[stage]) as i64);
    }
    r.register("cases", "Mediation cases known here, by stage", by_stage);
    let answer: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    answer.set(answer_s);
    r.register(
        "engine_answer_seconds",
        "How long the daemon's loop took to answer this scrape's status request",
        answer,
    );
    // The engine's time per kind of input since start (the store's writes and fsyncs
    // included): rate(seconds) / rate(inputs) is the mean, max the longest one.
    type F64Counter = Counter<f64, std::sync::atomic::AtomicU64>;
    type F64Gauge = Gauge<f64, std::sync::atomic::AtomicU64>;
    let inputs: Family<Labels, Counter> = Family::default();
    let seconds: Family<Labels, F64Counter> = Family::default();
    let longest: Family<Labels, F64Gauge> = Family::default();
    if let Some(t) = status["engine_timings"].as_object() {
        for (input, v) in t {
            let l = vec![("input", input.clone())];
            inputs.get_or_create(&l).inc_by(u(&v["count"]));
            seconds
                .get_or_create(&l)
                .inc_by(v["seconds"].as_f64().unwrap_or(0.0));
            longest
                .get_or_create(&l)
                .set(v["max_seconds"].as_f64().unwrap_or(0.0));
        }
    }
    r.register(
        "engine_inputs",
        "Inputs the engine handled since start, by kind (frame, gossip, tick, contact_up, ...)",
        inputs,
    );
    r.register(
        "engine_input_seconds",
        "Time the engine spent on inputs since start, by kind, store writes and fsyncs included",
        seconds,
    );
    r.register(
        "engine_input_max_seconds",
        "The longest one input took since start, by kind",
        longest,
    );
    feed.register(&mut r);
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(out)
}

/// GET /metrics.
pub(crate) async fn scrape(
    tx: mpsc::Sender<Command>,
    feed: Arc<FeedCounts>,
) -> Result<Response, ApiError> {
    let t = Instant::now();
    let status = ask(&tx, Command::Status).await?;
    let answer_s = t.elapsed().as_secs_f64();
    let cases = ask(&tx, |r| Command::Workflow(Request::CaseStats, r)).await??;
    let body = render(&status, &cases, answer_s, &feed)
        .map_err(|e| ApiError::Internal(format!("encoding the metrics: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_proto::Keypair;
    use serde_json::json;

    #[test]
    fn the_exposition_carries_the_engine_the_cases_and_the_feed() {
        let feed = FeedCounts::default();
        feed.count(&Event::Peer {
            peer: Keypair::from_seed(&[6; 32]).public(),
            up: true,
        });
        feed.count(&Event::Freed(haiqiao_proto::RecordId([1; 16])));
        let status = json!({"peers": 3, "held": 40, "store": {"records": 41, "bytes": 9000},
            "fleet": {"open_distress": 1, "buddy_alarms": ["ab"]},
            "stats": {"bytes_in": 1234, "delivered": 17, "bad_signatures": 2}});
        let cases = json!({"open": 2, "accepted": 1, "closed": 5, "escalated": 0});
        let text = render(&status, &cases, 0.001, &feed).expect("encodes");
        for line in [
            "haiqiao_bytes_received_total 1234",
            "haiqiao_records_delivered_total 17",
            "haiqiao_records_refused_bad_signature_total 2",
            "haiqiao_peers 3",
            "haiqiao_store_records 41",
            "haiqiao_distress_open 1",
            "haiqiao_buddy_alarms 1",
            "haiqiao_cases{stage=\"closed\"} 5",
            "haiqiao_feed_peer_events_total{event=\"up\"} 1",
            "haiqiao_feed_freed_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from\n{text}"
            );
        }
        assert!(
            text.contains("# TYPE haiqiao_records_delivered counter"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
