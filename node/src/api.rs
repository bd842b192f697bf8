//! The control API: HTTP/JSON on loopback, for the CLI and for scripts.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | /api/v1/status | identity, role, peers, store usage, counters |
//! | GET | /api/v1/peers | connected peers |
//! | GET | /api/v1/inbox?after=N&limit=M&kind=K | records delivered to this node |
//! | GET | /api/v1/records/{id} | one record |
//! | GET | /api/v1/positions | newest position of each vessel |
//! | POST | /api/v1/records | write a record (a `SubmitRequest`) |
//! | POST | /api/v1/peers | dial a peer: `{"addr": "/ip4/…/tcp/…/p2p/…"}` |
//! | POST | /api/v1/peers/disconnect | close the connections to a peer: `{"peer": "<node id>"}` |
//! | GET | /api/v1/timeline?after=N&limit=M | what happened: alarms, distress, cases, refusals |
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
//!
//! Workflow requests are [`crate::workflows::Request`]s; refusals (a non-party signing, an
//! uncertified mediator accepting, cancelling someone else's distress, ...) answer 422 with
//! the reason.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::daemon::Command;
use crate::json::SubmitRequest;
use crate::workflows::Request;

type Reply = (StatusCode, Json<Value>);

fn err(code: StatusCode, msg: impl Into<String>) -> Reply {
    (code, Json(json!({ "error": msg.into() })))
}

/// An error reply with the status the daemon chose; a write refused for space (507: the
/// store is full of records not yet delivered; 429: this node's share is) also carries a
/// stable `code` and the `message`.
fn status_err(status: u16, msg: String) -> Reply {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let stable = match status {
        507 => Some("store_full"),
        429 => Some("author_quota"),
        _ => None,
    };
    match stable {
        Some(c) => (
            code,
            Json(json!({ "code": c, "message": msg, "error": msg })),
        ),
        None => err(code, msg),
    }
}

async fn ask<T>(
    tx: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, Reply> {
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply))
        .await
        .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"))?;
    rx.await
        .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "node is shutting down"))
}

async fn status(State(tx): State<mpsc::Sender<Command>>) -> Result<Json<Value>, Reply> {
    Ok(Json(ask(&tx, Command::Status).await?))
}

async fn peers(State(tx): State<mpsc::Sender<Command>>) -> Result<Json<Value>, Reply> {
    Ok(Json(ask(&tx, Command::Peers).await?))
}

async fn positions(State(tx): State<mpsc::Sender<Command>>) -> Result<Json<Value>, Reply> {
    Ok(Json(ask(&tx, Command::Positions).await?))
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
) -> Result<Json<Value>, Reply> {
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

async fn record(
    State(tx): State<mpsc::Sender<Command>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let id = id
        .parse()
        .map_err(|_| err(StatusCode::BAD_REQUEST, "a record id is 32 hex digits"))?;
    match ask(&tx, |r| Command::Get(id, r)).await? {
        Some(v) => Ok(Json(v)),
        None => Err(err(StatusCode::NOT_FOUND, "no such record here")),
    }
}

async fn submit(
    State(tx): State<mpsc::Sender<Command>>,
    body: Result<Json<SubmitRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Reply, Reply> {
    let Json(req) = body.map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
    match ask(&tx, |r| Command::Submit(req, r)).await? {
        Ok(v) => Ok((StatusCode::CREATED, Json(v))),
        Err((status, e)) => Err(status_err(status, e)),
    }
}

#[derive(Debug, Deserialize)]
struct DialRequest {
    addr: String,
}

async fn dial(
    State(tx): State<mpsc::Sender<Command>>,
    body: Result<Json<DialRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Reply> {
    let Json(req) = body.map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
    match ask(&tx, |r| Command::Dial(req.addr, r)).await? {
        Ok(()) => Ok(Json(json!({ "dialling": true }))),
        Err(e) => Err(err(StatusCode::BAD_REQUEST, e)),
    }
}

#[derive(Debug, Deserialize)]
struct HangupRequest {
    peer: String,
}

async fn hangup(
    State(tx): State<mpsc::Sender<Command>>,
    body: Result<Json<HangupRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Reply> {
    let Json(req) = body.map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
    match ask(&tx, |r| Command::Hangup(req.peer, r)).await? {
        Ok(()) => Ok(Json(json!({ "disconnected": true }))),
        Err(e) => Err(err(StatusCode::BAD_REQUEST, e)),
    }
}

async fn workflow(tx: &mpsc::Sender<Command>, req: Request, created: bool) -> Result<Reply, Reply> {
    match ask(tx, |r| Command::Workflow(req, r)).await? {
        Ok(v) => Ok((
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            Json(v),
        )),
        Err((code, e)) => Err(status_err(code, e)),
    }
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(b: Body<T>) -> Result<T, Reply> {
    b.map(|Json(v)| v)
        .map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))
}

/// A JSON object with `op` set, parsed as a workflow request.
fn op_request(op: &str, mut v: Value, extra: &[(&str, String)]) -> Result<Request, Reply> {
    let Some(obj) = v.as_object_mut() else {
        return Err(err(StatusCode::BAD_REQUEST, "expected a JSON object"));
    };
    obj.insert("op".into(), json!(op));
    for (k, x) in extra {
        obj.insert((*k).into(), json!(x));
    }
    serde_json::from_value(v).map_err(|e| err(StatusCode::BAD_REQUEST, e.to_string()))
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

fn workflow_routes() -> Router<mpsc::Sender<Command>> {
    use axum::routing::post;
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
            get(|State(tx): State<mpsc::Sender<Command>>| async move {
                workflow(&tx, Request::Pairs, false).await
            })
            .post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("pair", body(b)?, &[])?, true).await
            }),
        )
        .route(
            "/api/v1/pair-alert",
            post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("pair_alert", body(b)?, &[])?, true).await
            }),
        )
        .route(
            "/api/v1/distress",
            get(
                |State(tx): State<mpsc::Sender<Command>>, Query(q): Query<AllQuery>| async move {
                    workflow(&tx, Request::Distress { all: q.all }, false).await
                },
            )
            .post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("raise_distress", body(b)?, &[])?, true).await
            }),
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
            get(|State(tx): State<mpsc::Sender<Command>>| async move {
                workflow(&tx, Request::Voyage, false).await
            })
            .post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("set_voyage", body(b)?, &[])?, false).await
            }),
        )
        .route(
            "/api/v1/duties",
            get(|State(tx): State<mpsc::Sender<Command>>| async move {
                workflow(&tx, Request::Duties, false).await
            }),
        )
        .route(
            "/api/v1/duty",
            post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("duty", body(b)?, &[])?, true).await
            }),
        )
        .route(
            "/api/v1/cases",
            get(|State(tx): State<mpsc::Sender<Command>>| async move {
                workflow(&tx, Request::Cases, false).await
            })
            .post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("file_dispute", body(b)?, &[])?, true).await
            }),
        )
        .route(
            "/api/v1/cases/stats",
            get(|State(tx): State<mpsc::Sender<Command>>| async move {
                workflow(&tx, Request::CaseStats, false).await
            }),
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
            post(|State(tx): State<mpsc::Sender<Command>>, b: Body<Value>| async move {
                workflow(&tx, op_request("import", body(b)?, &[])?, true).await
            }),
        )
}

/// The router.
pub(crate) fn router(tx: mpsc::Sender<Command>) -> Router {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/peers", get(peers).post(dial))
        .route("/api/v1/peers/disconnect", axum::routing::post(hangup))
        .route("/api/v1/inbox", get(inbox))
        .route("/api/v1/positions", get(positions))
        .route("/api/v1/records", axum::routing::post(submit))
        .route("/api/v1/records/{id}", get(record))
        .merge(workflow_routes())
        .with_state(tx)
}
