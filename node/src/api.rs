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

type Reply = (StatusCode, Json<Value>);

fn err(code: StatusCode, msg: impl Into<String>) -> Reply {
    (code, Json(json!({ "error": msg.into() })))
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
        Err(e) => Err(err(StatusCode::UNPROCESSABLE_ENTITY, e)),
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
        .with_state(tx)
}
