//! The shore station's window: a web dashboard served by every node on the control API's
//! listener, its live updates, `/healthz`, `/metrics` and the API's access control.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | / | the dashboard (one page; its script, style and coastline below) |
//! | GET | /dashboard/app.js, /dashboard/app.css, /dashboard/coast.json | its assets, built into the binary |
//! | GET | /dashboard/config.json | what the page needs from the config (the optional tile URL) |
//! | GET | /api/v1/events | live updates: server-sent events from the daemon's feed ([`crate::feed`]) |
//! | GET | /healthz | 200 `ok` while the daemon's loop answers, 503 otherwise |
//! | GET | /metrics | Prometheus text exposition ([`metrics`]) |
//!
//! The page is plain HTML, CSS and JavaScript written for haiqiao (no framework, nothing
//! fetched from elsewhere: at sea there is no CDN). It reads the same JSON views as the CLI and
//! writes through the same API (acknowledging a distress, a case step), with the bearer token
//! when the station has one ([`access`]). The map is drawn on a canvas in an equirectangular
//! projection scaled by cos(latitude) (at 30°N, over a few tens of km, as true as Mercator),
//! over Natural Earth's 1:10m land cut to the East China Sea (`assets/coast.json`, made by
//! `tests/browser/make-coast.mjs`; public domain).
//!
//! Live updates are server-sent events rather than a WebSocket: they only flow one way, go
//! through the same bearer check as any GET, and the browser reconnects by itself. Each
//! event names what happened (`record`, `peer`, `carrying`, `freed`, `penalty`, ...); a
//! listener that fell behind the feed gets `lagged` and refetches the views, which hold
//! everything the feed carried.

pub(crate) mod access;
pub(crate) mod metrics;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::command::Command;
use crate::command::ask;
use crate::config::ApiSection;
use crate::error::ApiError;
use crate::feed::Event;
use crate::json::record_json;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const COAST_JSON: &str = include_str!("assets/coast.json");

/// How long `/healthz` waits for the daemon's loop before it answers 503.
const HEALTH_WAIT: Duration = Duration::from_secs(2);

/// Bytes of the page and its assets as served (the figure docs/dashboard.md reports).
pub(crate) fn payload_bytes() -> usize {
    INDEX_HTML.len() + APP_JS.len() + APP_CSS.len() + COAST_JSON.len()
}

/// How long ago a time (Unix seconds) was, for people: the CLI prints no raw Unix times.
pub(crate) fn ago(at_s: Option<u64>, now_s: u64) -> String {
    let Some(at) = at_s else {
        return "never".to_owned();
    };
    let d = now_s.saturating_sub(at);
    match d {
        0..60 => format!("{d} s ago"),
        60..3600 => format!("{} min ago", d / 60),
        3600..86_400 => format!("{:.1} h ago", d as f64 / 3600.0),
        _ => format!("{} d ago", d / 86_400),
    }
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// One feed event as server-sent event, or None for what the page does not show.
fn sse_event(ev: &Event) -> SseEvent {
    let (name, data) = match ev {
        Event::Delivered { record, at_ms } => (
            "record",
            json!({ "how": "delivered", "at_ms": at_ms, "record": record_json(record) }),
        ),
        Event::Authored { record, at_ms } => (
            "record",
            json!({ "how": "authored", "at_ms": at_ms, "record": record_json(record) }),
        ),
        Event::Carrying(id) => ("carrying", json!({ "id": id.to_string() })),
        Event::Freed(id) => ("freed", json!({ "id": id.to_string() })),
        Event::RefusedRevoked { id, author } => (
            "refused",
            json!({ "id": id.to_string(), "author": author.to_string() }),
        ),
        Event::Penalty {
            peer,
            offence,
            score,
        } => (
            "penalty",
            json!({ "peer": peer.to_string(), "offence": offence, "score": score }),
        ),
        Event::Disconnected { peer, until_ms } => (
            "disconnected",
            json!({ "peer": peer.to_string(), "until_ms": until_ms }),
        ),
        Event::Peer { peer, up } => ("peer", json!({ "peer": peer.to_string(), "up": up })),
    };
    SseEvent::default().event(name).data(data.to_string())
}

/// The stream of one listener: `hello` first (the page then knows it is live and fetches the
/// views), then the feed; `lagged` when it fell behind; it ends when the daemon stops.
fn feed_stream(rx: broadcast::Receiver<Event>) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let hello = SseEvent::default().event("hello").data("{}");
    futures_util::stream::unfold((Some(hello), rx), |(first, mut rx)| async move {
        if let Some(h) = first {
            return Some((Ok(h), (None, rx)));
        }
        match rx.recv().await {
            Ok(ev) => Some((Ok(sse_event(&ev)), (None, rx))),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "a dashboard fell behind the feed; it refetches");
                Some((
                    Ok(SseEvent::default()
                        .event("lagged")
                        .data(json!({ "missed": n }).to_string())),
                    (None, rx),
                ))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}

async fn events(
    State(tx): State<mpsc::Sender<Command>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let rx = ask(&tx, Command::Subscribe).await?;
    Ok(Sse::new(feed_stream(rx)).keep_alive(KeepAlive::default()))
}

async fn healthz(State(tx): State<mpsc::Sender<Command>>) -> Response {
    match tokio::time::timeout(HEALTH_WAIT, ask(&tx, Command::Status)).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n").into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon's loop does not answer\n",
        )
            .into_response(),
    }
}

/// The dashboard's routes, `/healthz` and `/metrics` (which starts counting the feed).
pub(crate) fn routes(
    tx: &mpsc::Sender<Command>,
    cfg: &ApiSection,
) -> Router<mpsc::Sender<Command>> {
    let counts = std::sync::Arc::new(metrics::start(tx));
    let page_cfg: Value = json!({
        "tile_url": cfg.tile_url,
        "token_required": cfg.token.is_some(),
    });
    let page_cfg = page_cfg.to_string();
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/dashboard/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/dashboard/coast.json",
            get(|| async { asset("application/json", COAST_JSON) }),
        )
        .route(
            "/dashboard/config.json",
            get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], page_cfg).into_response()
            }),
        )
        .route("/api/v1/events", get(events))
        .route("/healthz", get(healthz))
        .route(
            "/metrics",
            get(move |State(tx): State<mpsc::Sender<Command>>| {
                metrics::scrape(tx, std::sync::Arc::clone(&counts))
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(ago(None, 100), "never");
        assert_eq!(ago(Some(100), 130), "30 s ago");
        assert_eq!(ago(Some(100), 100 + 12 * 60 + 5), "12 min ago");
        assert_eq!(ago(Some(0), 5400), "1.5 h ago");
        assert_eq!(ago(Some(0), 3 * 86_400 + 7), "3 d ago");
        assert_eq!(ago(Some(200), 100), "0 s ago");
    }

    #[test]
    fn the_coastline_has_zhoushan_in_detail() {
        let v: Value = serde_json::from_str(COAST_JSON).expect("coast.json parses");
        let polys = v["geometry"]["coordinates"].as_array().expect("polygons");
        // Zhoushan island itself: a polygon around 122.0-122.4 E, 29.9-30.2 N.
        let zhoushan = polys.iter().any(|p| {
            let ring = p[0].as_array().expect("ring");
            let xs: Vec<f64> = ring.iter().filter_map(|c| c[0].as_f64()).collect();
            let ys: Vec<f64> = ring.iter().filter_map(|c| c[1].as_f64()).collect();
            let (x0, x1) = (
                xs.iter().copied().fold(f64::MAX, f64::min),
                xs.iter().copied().fold(f64::MIN, f64::max),
            );
            let (y0, y1) = (
                ys.iter().copied().fold(f64::MAX, f64::min),
                ys.iter().copied().fold(f64::MIN, f64::max),
            );
            x0 > 121.8 && x1 < 122.5 && y0 > 29.8 && y1 < 30.3 && ring.len() > 30
        });
        assert!(zhoushan, "no polygon drawn as Zhoushan island");
        let islands = polys
            .iter()
            .filter(|p| {
                let c = &p[0][0];
                (121.5..123.5).contains(&c[0].as_f64().unwrap_or(0.0))
                    && (29.3..31.0).contains(&c[1].as_f64().unwrap_or(0.0))
            })
            .count();
        assert!(islands >= 10, "only {islands} islands in the archipelago");
    }

    #[tokio::test]
    async fn a_listener_gets_hello_then_the_feed_then_lagged_when_behind() {
        let feed = crate::feed::Feed::new();
        let mut s = Box::pin(feed_stream(feed.subscribe()));
        let first = format!("{:?}", s.next().await.expect("hello").expect("ok"));
        assert!(first.contains("hello"), "{first}");
        feed.send(Event::Freed(haiqiao_proto::RecordId([3; 16])));
        let e = format!("{:?}", s.next().await.expect("freed").expect("ok"));
        assert!(e.contains("freed") && e.contains("0303"), "{e}");
        for _ in 0..crate::feed::FEED_CAP + 3 {
            feed.send(Event::Carrying(haiqiao_proto::RecordId([4; 16])));
        }
        let e = format!("{:?}", s.next().await.expect("lagged").expect("ok"));
        assert!(e.contains("lagged") && e.contains("missed"), "{e}");
        drop(feed);
        // The rest of the buffered events, then the end.
        let mut n = 0;
        while s.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, crate::feed::FEED_CAP);
    }
}
