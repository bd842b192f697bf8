//! What the edges ask of the daemon: one [`Command`] per request, each with a oneshot reply.
//!
//! The control API, the dashboard, the shore bridges and the boat's instruments send
//! commands; the daemon's loop answers them. This module is the only thing both sides share,
//! so neither imports the other.

use haiqiao_proto::Record;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::error::ApiError;
use crate::feed::Event;
use crate::json::SubmitRequest;
use crate::workflows::Request;

/// Capacity of the API → engine command channel.
pub(crate) const COMMAND_CAP: usize = 64;

/// The control API's requests to the engine task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write a record.
    Submit(SubmitRequest, oneshot::Sender<Result<Value, ApiError>>),
    /// Node status.
    Status(oneshot::Sender<Value>),
    /// Connected peers.
    Peers(oneshot::Sender<Value>),
    /// Delivered records after an index.
    Inbox {
        after: u64,
        limit: usize,
        kind: Option<String>,
        reply: oneshot::Sender<Value>,
    },
    /// One record, by its id or a short id.
    Get(String, oneshot::Sender<Result<Record, ApiError>>),
    /// Newest position of each vessel.
    Positions(oneshot::Sender<Result<Value, ApiError>>),
    /// Dial a peer's address.
    Dial(String, oneshot::Sender<Result<(), ApiError>>),
    /// Close the connections to a peer (hex node id).
    Hangup(String, oneshot::Sender<Result<(), ApiError>>),
    /// Pairs, distress, mediation, trust (see `workflows`).
    Workflow(Request, oneshot::Sender<Result<Value, ApiError>>),
    /// A listener on the daemon's feed (live views, bridges): it sees what happens from now on.
    Subscribe(oneshot::Sender<broadcast::Receiver<Event>>),
    /// The records held that were delivered or written here, oldest first (the shore
    /// bridges' catch-up after a lag or a restart).
    ShoreHeld(oneshot::Sender<Result<Vec<Record>, ApiError>>),
    /// A step by a mediator ashore, signed with their key held here.
    AshoreStep(AshoreStep, oneshot::Sender<Result<Record, ApiError>>),
}

/// A step by a mediator ashore, as the API takes it (`crate::shore::ashore`).
#[derive(Debug, Deserialize)]
pub(crate) struct StepRequest {
    /// accept, progress, propose, escalate, close.
    pub(crate) step: String,
    /// Progress text, the agreement's text, or a closing note.
    #[serde(default)]
    pub(crate) text: String,
    /// Escalation: coast_guard (95110) or court.
    #[serde(default)]
    pub(crate) to: Option<String>,
}

/// A step asked for a mediator whose key the station holds: who, their token, the case.
#[derive(Debug)]
pub(crate) struct AshoreStep {
    /// The mediator's name in `[[mediator]]`.
    pub(crate) name: String,
    /// The bearer token given.
    pub(crate) token: String,
    /// The case, full or short id.
    pub(crate) case: String,
    /// The step.
    pub(crate) req: StepRequest,
}

/// Sends a command and waits for its answer; `Unavailable` once the daemon has stopped.
pub(crate) async fn ask<T>(
    tx: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, ApiError> {
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply))
        .await
        .map_err(|_| ApiError::Unavailable)?;
    rx.await.map_err(|_| ApiError::Unavailable)
}
