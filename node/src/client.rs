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

/// The API a CLI command talks to: `--api`, else the one in `--config`, else the default.
pub(crate) fn api(t: &crate::cli::Target) -> anyhow::Result<Api> {
    if let Some(a) = &t.api {
        return Ok(Api::new(a));
    }
    if let Some(c) = &t.config {
        let cfg = crate::config::NodeConfig::load(c)?;
        return Ok(Api::new(&cfg.api.listen.to_string()));
    }
    Ok(Api::new("127.0.0.1:4680"))
}

/// Prints `v` as one line of JSON with `--json`, else as `human` prints it.
pub(crate) fn print_json_or(json: bool, v: &Value, human: impl FnOnce()) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(v)?);
    } else {
        human();
    }
    Ok(())
}
