//! Logs for operators: `tracing` events on stderr, filtered by `RUST_LOG` (default `info`),
//! as text or, with `HAIQIAO_LOG_FORMAT=json`, one JSON object a line (for journald or a log
//! shipper). The daemon's stdout lines (`listening on …`, `peer up …`, `delivered <kind>
//! <id>`, …) stay as they are: scripts and the test harness read them.

use tracing_subscriber::EnvFilter;

/// The variable that asks for JSON logs.
pub(crate) const FORMAT_ENV: &str = "HAIQIAO_LOG_FORMAT";

/// Whether the logs are JSON, from the variable's value.
pub(crate) fn wants_json(v: Option<&str>) -> anyhow::Result<bool> {
    match v.map(str::trim) {
        None | Some("" | "text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => anyhow::bail!("{FORMAT_ENV}={other:?}: text or json"),
    }
}

/// Starts the logs (once; a second call does nothing).
pub(crate) fn init() -> anyhow::Result<()> {
    let json = wants_json(std::env::var(FORMAT_ENV).ok().as_deref())?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in journald or a file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    let _ = if json {
        b.json().flatten_event(true).try_init()
    } else {
        b.try_init()
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_text_or_json_and_nothing_else() {
        assert!(!wants_json(None).expect("unset"));
        assert!(!wants_json(Some("text")).expect("text"));
        assert!(wants_json(Some("json")).expect("json"));
        let e = wants_json(Some("xml")).expect_err("xml");
        assert!(e.to_string().contains("text or json"), "{e}");
    }
}
