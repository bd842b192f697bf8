//! CLI commands that talk to a running daemon's control API.

use anyhow::{Context, bail};
use serde_json::Value;

/// Where the API is.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    base: String,
}

impl Api {
    pub(crate) fn new(base: &str) -> Api {
        let base = base.trim_end_matches('/');
        let base = if base.starts_with("http://") {
            base.to_owned()
        } else {
            format!("http://{base}")
        };
        Api { base }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn finish(
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> anyhow::Result<Value> {
        let mut resp =
            resp.with_context(|| format!("{what}: is the node running (haiqiao run)?"))?;
        let status = resp.status();
        let v: Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("{what}: reading the reply ({status})"))?;
        if !status.is_success() {
            // The API's errors: {"code": ..., "message": ...} (docs/protocol.md §10.4).
            bail!(
                "{} ({})",
                v["message"].as_str().unwrap_or("refused"),
                v["code"].as_str().unwrap_or(status.as_str())
            );
        }
        Ok(v)
    }

    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Value> {
        Self::finish(
            Self::agent().get(format!("{}{path}", self.base)).call(),
            path,
        )
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Self::finish(
            Self::agent()
                .post(format!("{}{path}", self.base))
                .send_json(body),
            path,
        )
    }
}
