//! The control API's errors: one typed enum, one place that gives each its stable code and
//! HTTP status (docs/protocol.md §10.4). Handlers return `Result<_, ApiError>`; the body of
//! every error is `{"code": "<code>", "message": "<for people>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use haiqiao_fleet::FleetError;
use haiqiao_mesh::{MeshError, Refusal, StoreError};
use haiqiao_proto::RecordError;
use serde_json::json;

/// Most candidates listed when a short id is ambiguous.
pub(crate) const MAX_CANDIDATES: usize = 8;

/// Why the control API refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// The request is not well formed: bad JSON, a missing field, a value out of range.
    BadRequest(String),
    /// A record handed in does not decode or verify: the record error codes of §10.3.
    Record(RecordError),
    /// Not a record id: neither 32 hex digits nor a prefix of at least
    /// [`crate::ids::MIN_PREFIX`].
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
                crate::ids::MIN_PREFIX
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

    /// Classifies an error from the workflow glue, which reports through `anyhow`: the typed
    /// errors of the libraries inside it keep their meaning, anything else is a bad request.
    /// The only place that looks inside an `anyhow::Error`.
    pub(crate) fn from_anyhow(e: &anyhow::Error) -> ApiError {
        let message = format!("{e:#}");
        for cause in e.chain() {
            if let Some(f) = cause.downcast_ref::<FleetError>() {
                return ApiError::from_fleet(f, message);
            }
            if let Some(m) = cause.downcast_ref::<MeshError>() {
                return ApiError::from_mesh(m, message);
            }
            if let Some(r) = cause.downcast_ref::<RecordError>() {
                return ApiError::Record(r.clone());
            }
            if cause.downcast_ref::<StoreError>().is_some() {
                return ApiError::Internal(message);
            }
            if let Some(a) = cause.downcast_ref::<ApiError>() {
                return a.clone();
            }
        }
        ApiError::BadRequest(message)
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
        let e = anyhow::Error::new(FleetError::UnknownCase).context("case abc");
        assert_eq!(ApiError::from_anyhow(&e).code(), "not_found");
        let e = anyhow::Error::new(MeshError::Revoked);
        assert_eq!(ApiError::from_anyhow(&e).code(), "refused");
        let e = anyhow::Error::new(MeshError::Refused(Refusal::StoreFull)).context("writing");
        assert_eq!(ApiError::from_anyhow(&e).status().as_u16(), 507);
        let e = anyhow::Error::new(MeshError::Refused(Refusal::AuthorQuota));
        assert_eq!(ApiError::from_anyhow(&e).status().as_u16(), 429);
        let e = anyhow::anyhow!("\"x\" is not a node id");
        assert_eq!(ApiError::from_anyhow(&e).code(), "bad_request");
    }
}
