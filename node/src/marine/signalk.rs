//! A Signal K server of what the mesh knows: discovery (`GET /signalk`), the full model
//! (`GET /signalk/v1/api/`) and the delta stream (`/signalk/v1/stream?subscribe=self|all|none`,
//! a WebSocket; the server sends its hello first). See haiqiao-marine's `signalk` for the
//! contexts, paths and notifications.
//!
//! It listens apart from the control API (`[signalk] listen`): instruments on the boat's
//! network may read it without reaching the API that writes records. Each stream client
//! listens on the daemon's feed (`Command::Subscribe`) itself; a client that falls behind
//! by more than the feed's capacity is sent the whole picture again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use haiqiao_marine::signalk::{self, AlarmState, Vessel};
use haiqiao_proto::{Body, PublicKey, Record};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::ask;
use super::config::SignalkSection;
use super::plotter::{Targets, fix_time_ms};
use crate::clock::now_ms;
use crate::command::Command;
use crate::feed::Event;
use crate::workflows::Request;

#[derive(Clone)]
struct Ctx {
    cmd: mpsc::Sender<Command>,
    me: PublicKey,
    self_urn: String,
    name: String,
    clients: Arc<AtomicUsize>,
    max_clients: usize,
}

/// Serves Signal K until the daemon stops.
pub(super) async fn run(
    listener: tokio::net::TcpListener,
    cfg: SignalkSection,
    me: PublicKey,
    name: String,
    cmd: mpsc::Sender<Command>,
) {
    let ctx = Ctx {
        cmd,
        me,
        self_urn: signalk::vessel_urn(cfg.mmsi, &me),
        name,
        clients: Arc::new(AtomicUsize::new(0)),
        max_clients: cfg.max_clients,
    };
    let app = Router::new()
        .route("/signalk", get(discovery))
        .route("/signalk/", get(discovery))
        .route("/signalk/v1/api", get(full))
        .route("/signalk/v1/api/", get(full))
        .route("/signalk/v1/stream", get(stream))
        .with_state(ctx);
    let _ = axum::serve(listener, app).await;
}

async fn discovery(headers: HeaderMap) -> Response {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:3000");
    axum::Json(signalk::discovery(host)).into_response()
}

/// Vessels (with names and MMSIs) and the distress list, from the daemon's views.
async fn views(ctx: &Ctx) -> Option<(Targets, Value)> {
    let v = ask(&ctx.cmd, |tx| Command::Workflow(Request::Vessels, tx))
        .await?
        .ok()?;
    let d = ask(&ctx.cmd, |tx| {
        Command::Workflow(Request::Distress { all: true }, tx)
    })
    .await?
    .ok()?;
    let mut t = Targets::default();
    t.refresh(&v);
    Some((t, d))
}

fn vessels(ctx: &Ctx, t: &Targets) -> Vec<Vessel> {
    t.by_key
        .iter()
        .filter(|(k, _)| **k != ctx.me)
        .filter_map(|(k, x)| {
            Some(Vessel {
                key: *k,
                mmsi: x.real_mmsi,
                name: x.name.clone(),
                fix: x.fix?,
                fix_ms: x.fix_ms,
            })
        })
        .collect()
}

/// (context, key, value, at) of each distress incident's notification.
fn distress_notes(t: &Targets, d: &Value) -> Vec<(String, String, Value, u64)> {
    let mut out = Vec::new();
    for x in d["distress"].as_array().into_iter().flatten() {
        let Some(author) = x["author"]
            .as_str()
            .and_then(|k| k.parse::<PublicKey>().ok())
        else {
            continue;
        };
        let mmsi = t.by_key.get(&author).and_then(|v| v.real_mmsi);
        let ctx = signalk::vessel_context(mmsi, &author);
        let code: u8 = x["dsc_code"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(7);
        let state = match x["state"].as_str() {
            Some("open") => Some(AlarmState::Emergency),
            Some("answered") => Some(AlarmState::Alarm),
            _ => None,
        };
        let at = x["last_alert"].as_u64().unwrap_or(0) * 1000;
        let msg = format!(
            "DISTRESS {}: {} {}",
            x["name"].as_str().unwrap_or(&author.short()),
            x["nature"].as_str().unwrap_or(""),
            x["text"].as_str().unwrap_or("")
        );
        let value = state.map_or(
            Value::Null,
            |s| json!({ "state": s.name(), "method": ["visual", "sound"], "message": msg.trim() }),
        );
        out.push((ctx, signalk::distress_key(code).to_owned(), value, at));
    }
    out
}

async fn full(State(ctx): State<Ctx>) -> Response {
    let Some((t, d)) = views(&ctx).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let notes = distress_notes(&t, &d);
    axum::Json(signalk::full_tree(
        &ctx.self_urn,
        &ctx.name,
        &vessels(&ctx, &t),
        &notes,
    ))
    .into_response()
}

#[derive(Deserialize)]
struct StreamQuery {
    #[serde(default)]
    subscribe: Option<String>,
}

async fn stream(
    State(ctx): State<Ctx>,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if ctx.clients.load(Ordering::SeqCst) >= ctx.max_clients {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many stream clients").into_response();
    }
    let mode = match q.subscribe.as_deref() {
        None | Some("self") => Mode::SelfOnly,
        Some("all") => Mode::All,
        Some("none") => Mode::None,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("subscribe={other:?}: expected self, all or none"),
            )
                .into_response();
        }
    };
    ctx.clients.fetch_add(1, Ordering::SeqCst);
    ws.on_upgrade(move |sock| async move {
        let clients = ctx.clients.clone();
        client(ctx, mode, sock).await;
        clients.fetch_sub(1, Ordering::SeqCst);
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SelfOnly,
    All,
    None,
}

async fn send(sock: &mut WebSocket, v: &Value) -> Option<()> {
    sock.send(Message::Text(v.to_string().into())).await.ok()
}

/// Deltas for one record, in the stream's mode.
fn record_deltas(ctx: &Ctx, t: &mut Targets, r: &Record, mode: Mode) -> Vec<Value> {
    let author = r.author();
    let mine = author == ctx.me;
    if mode == Mode::None || (mode == Mode::SelfOnly && !mine) {
        return Vec::new();
    }
    let context = if mine {
        format!("vessels.{}", ctx.self_urn)
    } else {
        signalk::vessel_context(t.by_key.get(&author).and_then(|v| v.real_mmsi), &author)
    };
    match r.body() {
        Body::Position(f) => {
            let at = fix_time_ms(r, f);
            t.position(author, *f, at);
            let x = &t.by_key[&author];
            let v = Vessel {
                key: author,
                mmsi: x.real_mmsi,
                name: x.name.clone(),
                fix: *f,
                fix_ms: at,
            };
            let mut d = v.delta();
            d["context"] = json!(context);
            vec![d]
        }
        Body::Distress {
            nature, text, fix, ..
        } => {
            let at = fix.map_or(u64::from(r.envelope().created.0) * 1000, |f| {
                fix_time_ms(r, &f)
            });
            vec![signalk::notification_delta(
                &context,
                signalk::distress_key(*nature as u8),
                Some(AlarmState::Emergency),
                &format!("DISTRESS {}", text.trim()),
                at,
            )]
        }
        Body::PairAlert { alert, text, .. } => {
            let name = crate::json::name_of(&crate::json::ALERTS, *alert);
            // Signal K keys are camelCase (the schema refuses gear_fouled).
            let key = if name == "man_overboard" {
                "mob".to_owned()
            } else {
                let mut k = String::from("pair.");
                let mut up = false;
                for c in name.chars() {
                    if c == '_' {
                        up = true;
                    } else if up {
                        k.push(c.to_ascii_uppercase());
                        up = false;
                    } else {
                        k.push(c);
                    }
                }
                k
            };
            vec![signalk::notification_delta(
                &context,
                &key,
                Some(AlarmState::Alarm),
                &format!("pair alert: {name} {}", text.trim()),
                u64::from(r.envelope().created.0) * 1000,
            )]
        }
        _ => Vec::new(),
    }
}

async fn picture(ctx: &Ctx, mode: Mode, sock: &mut WebSocket) -> Option<Targets> {
    let (t, d) = views(ctx).await?;
    if mode == Mode::All {
        for v in vessels(ctx, &t) {
            send(sock, &v.delta()).await?;
        }
        for (c, k, v, at) in distress_notes(&t, &d) {
            if v.is_null() {
                continue;
            }
            let d = json!({
                "context": c,
                "updates": [{ "source": signalk::source(), "timestamp": signalk::rfc3339(at),
                              "values": [{ "path": format!("notifications.{k}"), "value": v }] }],
            });
            send(sock, &d).await?;
        }
    }
    Some(t)
}

async fn client(ctx: Ctx, mode: Mode, mut sock: WebSocket) {
    let Some(mut events) = ask(&ctx.cmd, Command::Subscribe).await else {
        return;
    };
    if send(&mut sock, &signalk::hello(&ctx.self_urn, now_ms()))
        .await
        .is_none()
    {
        return;
    }
    let Some(mut t) = picture(&ctx, mode, &mut sock).await else {
        return;
    };
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(Event::Delivered { record, .. } | Event::Authored { record, .. }) => {
                    if let Body::DistressUpdate { .. } = record.body() {
                        // The incident's state may have changed: send its notification again.
                        if mode == Mode::All && let Some((nt, d)) = views(&ctx).await {
                            t = nt;
                            for (c, k, v, at) in distress_notes(&t, &d) {
                                let dl = json!({
                                    "context": c,
                                    "updates": [{ "source": signalk::source(), "timestamp": signalk::rfc3339(at),
                                                  "values": [{ "path": format!("notifications.{k}"), "value": v }] }],
                                });
                                if send(&mut sock, &dl).await.is_none() { return; }
                            }
                        }
                        continue;
                    }
                    if !t.by_key.contains_key(&record.author())
                        && let Some((nt, _)) = views(&ctx).await
                    {
                        t = nt;
                    }
                    for d in record_deltas(&ctx, &mut t, &record, mode) {
                        if send(&mut sock, &d).await.is_none() { return; }
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    match picture(&ctx, mode, &mut sock).await { Some(nt) => t = nt, None => return }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            m = sock.recv() => match m {
                // Subscription messages are not supported: the query string chooses.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
