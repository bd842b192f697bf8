//! The node's typed errors and the one place that gives each its stable code and HTTP status
//! (docs/protocol.md §10.4): [`WorkflowError`] is what the workflows (`crate::workflows`)
//! refuse or fail with; [`ApiError`] is what the control API answers, and every other error
//! that reaches a client becomes one here (`From`), never by looking inside an `anyhow`.
//! Handlers return `Result<_, ApiError>`; the body of every error is
//! `{"code": "<code>", "message": "<for people>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use haiqiao_fleet::FleetError;
use haiqiao_mesh::{MeshError, Refusal, StoreError};
use haiqiao_proto::RecordError;
use serde_json::json;

/// Most candidates listed when a short id is ambiguous.
pub(crate) const MAX_CANDIDATES: usize = 8;

/// Fewest hex digits of a short record id.
pub(crate) const MIN_PREFIX: usize = 6;

/// Why a workflow (a request, a hand-written record, a mediator's step ashore) was refused or
/// failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkflowError {
    /// The request is not well formed: a value out of range, an unknown name, a bad key.
    #[error("{0}")]
    Invalid(String),
    /// The fleet refuses it as every node would (not a party, not certified, unknown case...).
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The engine refuses it (store full, quota, revoked key, a record that does not verify).
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// A record handed in does not decode or verify.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A private record whose reader's key is unknown or revoked: not written in clear.
    #[error("{0}")]
    NoReaderKey(String),
    /// Something inside the node failed (no entropy, a view that does not serialise).
    #[error("{0}")]
    Internal(String),
}

impl WorkflowError {
    /// A request that is not well formed, from a parser's message (the `crate::json` parsers
    /// report only bad input).
    pub(crate) fn invalid(e: impl std::fmt::Display) -> WorkflowError {
        WorkflowError::Invalid(format!("{e:#}"))
    }
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> ApiError {
        let message = e.to_string();
        match e {
            WorkflowError::Invalid(m) => ApiError::BadRequest(m),
            WorkflowError::Fleet(f) => ApiError::from_fleet(&f, message),
            WorkflowError::Mesh(m) => ApiError::from_mesh(&m, message),
            WorkflowError::Record(r) => ApiError::Record(r),
            WorkflowError::Store(_) | WorkflowError::Internal(_) => ApiError::Internal(message),
            WorkflowError::NoReaderKey(m) => ApiError::NoReaderKey(m),
        }
    }
}

/// Why the control API refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// The request is not well formed: bad JSON, a missing field, a value out of range.
    BadRequest(String),
    /// A record handed in does not decode or verify: the record error codes of §10.3.
    Record(RecordError),
    /// Not a record id: neither 32 hex digits nor a prefix of at least
    /// [`MIN_PREFIX`].
    InvalidId(String),
    /// No record, case or distress with this id is held here.
    NotFound(String),
    /// A short id that names more than one record.
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// Some of the ids it matches (at most [`MAX_CANDIDATES`]).
        candidates: Vec<String>,
    },
    /// The request is understood but refused: a non-party signing, an uncertified mediator
    /// accepting, cancelling someone else's distress, a revoked key, ...
    Refused(String),
    /// The body is larger than the API takes.
    PayloadTooLarge(String),
    /// A private record (docs/protocol.md, "Who may read what") whose reader's key is not
    /// known here or is revoked: it would have to go in clear, so it is not written.
    NoReaderKey(String),
    /// The request was not read (or answered) in time.
    Timeout,
    /// The store has no room for what would be acknowledged.
    StoreFull(String),
    /// Too much from one author, or from strangers together: try again later.
    RateLimited(String),
    /// No token, or a wrong one, where the station asks for one (docs/dashboard.md).
    Unauthorized(String),
    /// The read-only token on a write.
    Forbidden(String),
    /// The node is shutting down.
    Unavailable,
    /// Something failed inside the node (the store, ...).
    Internal(String),
}

impl ApiError {
    /// The stable code (docs/protocol.md §10.3 for records, §10.4 for the API).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Record(e) => e.code(),
            ApiError::InvalidId(_) => "invalid_id",
            ApiError::NotFound(_) => "not_found",
            ApiError::AmbiguousId { .. } => "ambiguous_id",
            ApiError::Refused(_) => "refused",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::NoReaderKey(_) => "no_reader_key",
            ApiError::Timeout => "request_timeout",
            ApiError::StoreFull(_) => "store_full",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidId(_) => StatusCode::BAD_REQUEST,
            ApiError::Record(_) | ApiError::Refused(_) | ApiError::NoReaderKey(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AmbiguousId { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::StoreFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message for people.
    pub(crate) fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::NotFound(m)
            | ApiError::Refused(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::NoReaderKey(m)
            | ApiError::StoreFull(m)
            | ApiError::RateLimited(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::Internal(m) => m.clone(),
            ApiError::Record(e) => format!("the record is refused: {e}"),
            ApiError::InvalidId(s) => format!(
                "{s:?} is not a record id: give the 32 hex digits or at least the first {} \
                 (the short id shown)",
                MIN_PREFIX
            ),
            ApiError::AmbiguousId { prefix, candidates } => format!(
                "{prefix:?} names more than one record: {}{}; give more digits",
                candidates.join(", "),
                if candidates.len() >= MAX_CANDIDATES {
                    ", ..."
                } else {
                    ""
                }
            ),
            ApiError::Timeout => "the request was not received in time".to_owned(),
            ApiError::Unavailable => "the node is shutting down".to_owned(),
        }
    }

    fn from_fleet(f: &FleetError, message: String) -> ApiError {
        match f {
            FleetError::UnknownCase | FleetError::UnknownDistress => ApiError::NotFound(message),
            _ => ApiError::Refused(message),
        }
    }

    fn from_mesh(m: &MeshError, message: String) -> ApiError {
        match m {
            MeshError::Store(_) => ApiError::Internal(message),
            MeshError::Record(r) => ApiError::Record(r.clone()),
            MeshError::Refused(Refusal::StoreFull) => ApiError::StoreFull(message),
            MeshError::Refused(Refusal::AuthorQuota) => ApiError::RateLimited(message),
            MeshError::Refused(Refusal::TooLarge) | MeshError::Revoked => {
                ApiError::Refused(message)
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ApiError {}

impl From<MeshError> for ApiError {
    fn from(m: MeshError) -> ApiError {
        let message = m.to_string();
        ApiError::from_mesh(&m, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "code": self.code(), "message": self.message() });
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_code_and_a_status() {
        let all = [
            ApiError::BadRequest(String::new()),
            ApiError::Record(RecordError::BadSignature),
            ApiError::InvalidId("x".into()),
            ApiError::NotFound(String::new()),
            ApiError::AmbiguousId {
                prefix: "ab".into(),
                candidates: vec![],
            },
            ApiError::Refused(String::new()),
            ApiError::PayloadTooLarge(String::new()),
            ApiError::NoReaderKey(String::new()),
            ApiError::Timeout,
            ApiError::StoreFull(String::new()),
            ApiError::RateLimited(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::Unavailable,
            ApiError::Internal(String::new()),
        ];
        let codes: Vec<(&str, u16)> = all
            .iter()
            .map(|e| (e.code(), e.status().as_u16()))
            .collect();
        assert_eq!(
            codes,
            [
                ("bad_request", 400),
                ("bad_signature", 422),
                ("invalid_id", 400),
                ("not_found", 404),
                ("ambiguous_id", 409),
                ("refused", 422),
                ("payload_too_large", 413),
                ("no_reader_key", 422),
                ("request_timeout", 408),
                ("store_full", 507),
                ("rate_limited", 429),
                ("unauthorized", 401),
                ("forbidden", 403),
                ("unavailable", 503),
                ("internal", 500),
            ]
        );
    }

    #[test]
    fn workflow_errors_keep_their_meaning() {
        let code = |e: WorkflowError| {
            let a = ApiError::from(e);
            (a.code(), a.status().as_u16())
        };
        assert_eq!(code(FleetError::UnknownCase.into()), ("not_found", 404));
        assert_eq!(code(FleetError::UnknownDistress.into()), ("not_found", 404));
        assert_eq!(code(MeshError::Revoked.into()), ("refused", 422));
        assert_eq!(
            code(MeshError::Refused(Refusal::StoreFull).into()),
            ("store_full", 507)
        );
        assert_eq!(
            code(MeshError::Refused(Refusal::AuthorQuota).into()),
            ("rate_limited", 429)
        );
        assert_eq!(
            code(MeshError::Record(RecordError::BadSignature).into()),
            ("bad_signature", 422)
        );
        assert_eq!(
            code(StoreError::Corrupt("x".into()).into()),
            ("internal", 500)
        );
        assert_eq!(
            code(WorkflowError::invalid("\"x\" is not a node id")),
            ("bad_request", 400)
        );
        assert_eq!(
            code(WorkflowError::NoReaderKey("k".into())),
            ("no_reader_key", 422)
        );
        let m = ApiError::from(WorkflowError::invalid("no such step"));
        assert_eq!(m.message(), "no such step");
    }
}
