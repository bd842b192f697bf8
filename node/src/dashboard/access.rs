//! Who may use the control API.
//!
//! - No `[api] token`: the API answers everyone who can reach it, and so it must listen on
//!   loopback only ([`check_listen`] refuses anything else at start).
//! - With `token`: every write (any method but GET/HEAD) needs `Authorization: Bearer <token>`;
//!   reads need it too, or the `read_token` if one is set. The page itself (`/`, its assets)
//!   and `/healthz` stay open: the page asks for the token and keeps it in the browser.
//!   The live feed also takes the token as `?access_token=` (a browser's EventSource cannot
//!   set headers).
//!
//! Tokens are compared in constant time. Refusals are 401 `unauthorized` (no or a wrong token)
//! or 403 `forbidden` (the read-only token on a write), in the API's error shape.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::ApiSection;
use crate::error::ApiError;

/// Refuses a listen address beyond loopback without a token, with what to do about it.
pub(crate) fn check_listen(cfg: &ApiSection) -> anyhow::Result<()> {
    if !cfg.listen.ip().is_loopback() && cfg.token.as_deref().is_none_or(str::is_empty) {
        anyhow::bail!(
            "[api] listen = \"{}\" is beyond loopback and [api] token is not set: anyone on \
             that network could write records as this node. Set token = \"<a long random \
             secret>\" in [api] (and read_token for read-only viewers), or listen on \
             127.0.0.1",
            cfg.listen
        );
    }
    for (k, t) in [("token", &cfg.token), ("read_token", &cfg.read_token)] {
        if let Some(t) = t
            && t.len() < 16
        {
            anyhow::bail!("[api] {k} is {} characters: use at least 16", t.len());
        }
    }
    Ok(())
}

/// The tokens, as the middleware holds them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tokens {
    write: Option<String>,
    read: Option<String>,
}

impl Tokens {
    pub(crate) fn from_config(cfg: &ApiSection) -> Self {
        Self {
            write: cfg.token.clone().filter(|t| !t.is_empty()),
            read: cfg.read_token.clone().filter(|t| !t.is_empty()),
        }
    }
}

/// Equal bytes, in a time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Paths anyone may read: the page and its assets (they hold no data) and the health check.
fn open_path(path: &str) -> bool {
    path == "/" || path == "/healthz" || path.starts_with("/dashboard/")
}

/// The token a request carries: the bearer header, or `access_token` in the query of the
/// live feed.
fn presented(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION)
        && let Ok(v) = v.to_str()
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_owned());
    }
    if req.uri().path() == "/api/v1/events" {
        return req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("access_token="))
                .map(str::to_owned)
        });
    }
    None
}

/// The middleware.
pub(crate) async fn check(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    let Some(write) = &tokens.write else {
        return next.run(req).await;
    };
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if reads && open_path(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(t) = presented(&req) else {
        tracing::warn!(path = %req.uri().path(), "API request without a token refused");
        return ApiError::Unauthorized(
            "this station needs a token: Authorization: Bearer <token>".into(),
        )
        .into_response();
    };
    if same(t.as_bytes(), write.as_bytes()) {
        return next.run(req).await;
    }
    if tokens
        .read
        .as_ref()
        .is_some_and(|r| same(t.as_bytes(), r.as_bytes()))
    {
        if reads {
            return next.run(req).await;
        }
        return ApiError::Forbidden("the read-only token cannot write".into()).into_response();
    }
    tracing::warn!(path = %req.uri().path(), "API request with a wrong token refused");
    ApiError::Unauthorized("wrong token".into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(listen: &str, token: Option<&str>) -> ApiSection {
        ApiSection {
            listen: listen.parse().expect("addr"),
            token: token.map(str::to_owned),
            ..ApiSection::default()
        }
    }

    #[test]
    fn beyond_loopback_without_a_token_is_refused_with_what_to_do() {
        let e = check_listen(&api("0.0.0.0:4680", None)).expect_err("refused");
        assert!(e.to_string().contains("[api] token is not set"), "{e}");
        assert!(check_listen(&api("0.0.0.0:4680", Some(""))).is_err());
        assert!(check_listen(&api("127.0.0.1:4680", None)).is_ok());
        assert!(check_listen(&api("[::1]:4680", None)).is_ok());
        assert!(check_listen(&api("0.0.0.0:4680", Some("0123456789abcdef0"))).is_ok());
        let e = check_listen(&api("0.0.0.0:4680", Some("short"))).expect_err("short");
        assert!(e.to_string().contains("at least 16"), "{e}");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
