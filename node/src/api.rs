//! The control API: HTTP/JSON on loopback, for the CLI and for scripts.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | /api/v1/status | identity, role, peers, store usage, counters |
//! | GET | /api/v1/peers | connected peers |
//! | GET | /api/v1/inbox?after=N&limit=M&kind=K | records delivered to this node (after a restart, refilled from the store, oldest first, `received_ms` then being the record's creation) |
//! | GET | /api/v1/records/{id} | one record as JSON; `?format=cbor` (or `Accept: application/cbor`): its exact signed bytes |
//! | GET | /api/v1/positions | newest position of each vessel |
//! | POST | /api/v1/records | write a record (a `SubmitRequest`) |
//! | POST | /api/v1/peers | dial a peer: `{"addr": "/ip4/…/tcp/…/p2p/…"}` |
//! | POST | /api/v1/peers/disconnect | close the connections to a peer: `{"peer": "<node id>"}` |
//! | GET | /api/v1/timeline?after=N&limit=M | what happened: alarms, distress, cases, refusals (after a restart, rebuilt from the records held) |
//! | GET | /api/v1/pairs | pairs, our partners and their buddy watch, buddy reports (shore) |
//! | POST | /api/v1/pairs | pair (`{"partner": "<node id>"}`) or leave (`"leave": true`) |
//! | POST | /api/v1/pair-alert | an alert to the partner: `{"alert": "gear_fouled", ...}` |
//! | GET | /api/v1/distress?all=true | open distress (or all): acknowledgements, responders, nearest |
//! | POST | /api/v1/distress | raise a distress: `{"nature": "flooding", "persons": 6, ...}` |
//! | POST | /api/v1/distress/{id} | answer: `{"status": "acknowledged" \| "responding" (+ `eta_min`) \| "on_scene" \| "resolved" \| "cancelled"}` |
//! | GET | /api/v1/duties | mediators' duty announcements |
//! | POST | /api/v1/duty | announce our duty: `{"areas": [{"area": 3, "south": …, "west": …, "north": …, "east": …}], "hours": 24}` |
//! | GET | /api/v1/cases, /api/v1/cases/stats, /api/v1/cases/{id} | cases, statistics, one case |
//! | POST | /api/v1/cases | file a dispute: `{"category": "gear_damage", "parties": [...], "description": "..."}` |
//! | POST | /api/v1/cases/{id} | a step: `{"step": "accept" \| "progress" \| "propose" \| "sign" \| "escalate" \| "close", "text": ..., "to": "coast_guard" \| "court"}` |
//! | GET | /api/v1/voyage | homeward or not, ETA, port, from positions or the skipper |
//! | POST | /api/v1/voyage | the skipper's word: `{"says": "home", "eta_min": 180, "port": "Shenjiamen"}` \| `{"says": "not_home"}` \| `{"says": "auto"}` |
//! | GET | /api/v1/trust/{key} | certificates and revocation of a key |
//! | POST | /api/v1/records/import | a record signed elsewhere: `{"author": "<key>", "record": "<hex>"}` |
//! | GET | /, /api/v1/events, /healthz, /metrics | the dashboard, its live feed, health, Prometheus ([`crate::dashboard`]) |
//!
//! With `[api] token` set, requests need `Authorization: Bearer <token>`
//! ([`crate::dashboard::access`]).
//!
//! Wherever a path or a body takes a record id (`{id}` above, `distress`, `case`), the short id
//! every screen shows (the first 8 hex digits, or any prefix of at least 6) is taken too when
//! it names one record held here; an ambiguous one is refused (409 `ambiguous_id`, listing
//! candidates).
//!
//! Workflow requests are [`crate::workflows::Request`]s. Every error answers
//! `{"code": "<code>", "message": "<for people>"}` with the status of its code
//! ([`crate::error::ApiError`], docs/protocol.md §10.4): refusals (a non-party signing, an
//! uncertified mediator accepting, cancelling someone else's distress, ...) are 422 `refused`,
//! a body over 1 MiB is 413 `payload_too_large`. A client has `[api] header_timeout_s` to send
//! a request's headers and `request_timeout_s` for the whole request (408 `request_timeout`),
//! and at most [`MAX_CONNECTIONS`] connections are served at once.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request as HttpRequest, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::command::{Command, ask};
use crate::config::ApiSection;
use crate::error::ApiError;
use crate::json::{SubmitRequest, record_json};
use crate::workflows::Request;

/// Largest request body taken, bytes (a record is at most 2,048 bytes; 4,096 hex digits).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// Most connections served at once; more wait in the listen backlog.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// How long to wait after a failed accept before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

type Reply = (StatusCode, Json<Value>);

/// A body that did not parse: too large (413) or not the JSON expected (400).
fn rejection(e: &JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!(
            "the request body is larger than {MAX_BODY_BYTES} bytes"
        ))
    } else {
        ApiError::BadRequest(e.body_text())
    }
}

async fn status(State(tx): State<mpsc::Sender<Command>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ask(&tx, Command::Status).await?))
}

async fn peers(State(tx): State<mpsc::Sender<Command>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ask(&tx, Command::Peers).await?))
}

async fn positions(State(tx): State<mpsc::Sender<Command>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ask(&tx, Command::Positions).await??))
}

#[derive(Debug, Deserialize)]
struct InboxQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    kind: Option<String>,
}

fn default_limit() -> usize {
    100
}

async fn inbox(
    State(tx): State<mpsc::Sender<Command>>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        ask(&tx, |reply| Command::Inbox {
            after: q.after,
            limit: q.limit,
            kind: q.kind,
            reply,
        })
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
struct RecordQuery {
    #[serde(default)]
    format: Option<String>,
}

/// The media type of a record's own bytes.
pub(crate) const CBOR: &str = "application/cbor";

async fn record(
    State(tx): State<mpsc::Sender<Command>>,
    Path(id): Path<String>,
    Query(q): Query<RecordQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let raw = match q.format.as_deref() {
        Some("cbor") => true,
        Some("json") => false,
        Some(f) => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {f:?}: json or cbor"
            )));
        }
        None => headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|m| m.split(';').next().is_some_and(|m| m.trim() == CBOR)),
    };
    let r = ask(&tx, |reply| Command::Get(id, reply)).await??;
    Ok(if raw {
        ([(header::CONTENT_TYPE, CBOR)], r.bytes().to_vec()).into_response()
    } else {
        Json(record_json(&r)).into_response()
    })
}

async fn submit(
    State(tx): State<mpsc::Sender<Command>>,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<Reply, ApiError> {
    let Json(req) = body.map_err(|e| rejection(&e))?;
    let v = ask(&tx, |r| Command::Submit(req, r)).await??;
    Ok((StatusCode::CREATED, Json(v)))
}

#[derive(Debug, Deserialize)]
struct DialRequest {
    addr: String,
}

async fn dial(
    State(tx): State<mpsc::Sender<Command>>,
    body: Result<Json<DialRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| rejection(&e))?;
    ask(&tx, |r| Command::Dial(req.addr, r)).await??;
    Ok(Json(json!({ "dialling": true })))
}

#[derive(Debug, Deserialize)]
struct HangupRequest {
    peer: String,
}

async fn hangup(
    State(tx): State<mpsc::Sender<Command>>,
    body: Result<Json<HangupRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| rejection(&e))?;
    ask(&tx, |r| Command::Hangup(req.peer, r)).await??;
    Ok(Json(json!({ "disconnected": true })))
}

async fn workflow(
    tx: &mpsc::Sender<Command>,
    req: Request,
    created: bool,
) -> Result<Reply, ApiError> {
    let v = ask(tx, |r| Command::Workflow(req, r)).await??;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(v),
    ))
}

type Body<T> = Result<Json<T>, JsonRejection>;

fn body<T>(b: Body<T>) -> Result<T, ApiError> {
    b.map(|Json(v)| v).map_err(|e| rejection(&e))
}

/// A JSON object with `op` set, parsed as a workflow request.
fn op_request(op: &str, mut v: Value, extra: &[(&str, String)]) -> Result<Request, ApiError> {
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::BadRequest("expected a JSON object".to_owned()));
    };
    obj.insert("op".into(), json!(op));
    for (k, x) in extra {
        obj.insert((*k).into(), json!(x));
    }
    serde_json::from_value(v).map_err(|e| ApiError::BadRequest(e.to_string()))
}

#[derive(Debug, Deserialize)]
struct AllQuery {
    #[serde(default)]
    all: bool,
}

#[derive(Debug, Deserialize)]
struct TimelineQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

/// `GET`: a workflow view.
fn view(req: Request) -> MethodRouter<mpsc::Sender<Command>> {
    get(move |State(tx): State<mpsc::Sender<Command>>| {
        let req = req.clone();
        async move { workflow(&tx, req, false).await }
    })
}

/// `POST`: the JSON body as the workflow request `op`; `created` answers 201.
fn write(op: &'static str, created: bool) -> MethodRouter<mpsc::Sender<Command>> {
    post(
        move |State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
            workflow(&tx, op_request(op, body(b)?, &[])?, created).await
        },
    )
}

fn workflow_routes() -> Router<mpsc::Sender<Command>> {
    Router::new()
        .route(
            "/api/v1/timeline",
            get(
                |State(tx): State<mpsc::Sender<Command>>, Query(q): Query<TimelineQuery>| async move {
                    workflow(&tx, Request::Timeline { after: q.after, limit: q.limit }, false).await
                },
            ),
        )
        .route(
            "/api/v1/pairs",
            view(Request::Pairs).merge(write("pair", true)),
        )
        .route(
            "/api/v1/pair-alert",
            write("pair_alert", true),
        )
        .route(
            "/api/v1/distress",
            get(
                |State(tx): State<mpsc::Sender<Command>>, Query(q): Query<AllQuery>| async move {
                    workflow(&tx, Request::Distress { all: q.all }, false).await
                },
            )
            .merge(write("raise_distress", true)),
        )
        .route(
            "/api/v1/distress/{id}",
            post(
                |State(tx): State<mpsc::Sender<Command>>, Path(id): Path<String>, b: Body<Value>| async move {
                    let req = op_request("answer_distress", body(b)?, &[("distress", id)])?;
                    workflow(&tx, req, true).await
                },
            ),
        )
        .route(
            "/api/v1/voyage",
            view(Request::Voyage).merge(write("set_voyage", false)),
        )
        .route(
            "/api/v1/duties",
            view(Request::Duties),
        )
        .route(
            "/api/v1/duty",
            write("duty", true),
        )
        .route(
            "/api/v1/cases",
            view(Request::Cases).merge(write("file_dispute", true)),
        )
        .route(
            "/api/v1/cases/stats",
            view(Request::CaseStats),
        )
        .route(
            "/api/v1/cases/{id}",
            get(
                |State(tx): State<mpsc::Sender<Command>>, Path(case): Path<String>| async move {
                    workflow(&tx, Request::Case { case }, false).await
                },
            )
            .post(
                |State(tx): State<mpsc::Sender<Command>>, Path(id): Path<String>, b: Body<Value>| async move {
                    let req = op_request("case_step", body(b)?, &[("case", id)])?;
                    workflow(&tx, req, true).await
                },
            ),
        )
        .route(
            "/api/v1/trust/{key}",
            get(
                |State(tx): State<mpsc::Sender<Command>>, Path(key): Path<String>| async move {
                    workflow(&tx, Request::Trust { key }, false).await
                },
            ),
        )
        .route(
            "/api/v1/records/import",
            write("import", true),
        )
}

/// Answers 408 for a request (its body included) not done within the limit.
async fn time_limit(limit: Duration, req: HttpRequest, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// The router.
pub(crate) fn router(tx: mpsc::Sender<Command>, cfg: &ApiSection) -> Router {
    let limit = Duration::from_secs(cfg.request_timeout_s);
    let tokens = crate::dashboard::access::Tokens::from_config(cfg);
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/peers", get(peers).post(dial))
        .route("/api/v1/peers/disconnect", axum::routing::post(hangup))
        .route("/api/v1/inbox", get(inbox))
        .route("/api/v1/positions", get(positions))
        .route("/api/v1/records", axum::routing::post(submit))
        .route("/api/v1/records/{id}", get(record))
        .merge(workflow_routes())
        .merge(crate::dashboard::routes(&tx, cfg))
        .merge(crate::shore::ashore::routes())
        .fallback(|| async { ApiError::NotFound("no such API path".to_owned()) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(
            move |req: HttpRequest, next: Next| time_limit(limit, req, next),
        ))
        .layer(axum::middleware::from_fn_with_state(
            tokens,
            crate::dashboard::access::check,
        ))
        .with_state(tx)
}

/// Serves the router on `listener` until `stop` turns true: HTTP/1.1, at most
/// [`MAX_CONNECTIONS`] at once, each closed if its request headers do not arrive within
/// `header_timeout_s` (a half-sent request, or an idle keep-alive connection).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    cfg: ApiSection,
    mut stop: watch::Receiver<bool>,
) {
    let header_timeout = Duration::from_secs(cfg.header_timeout_s);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            // Out of file descriptors, or a connection reset before it was accepted: no event
            // says when to try again, so wait a moment.
            Err(_) => {
                drop(permit);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        conns.spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}
