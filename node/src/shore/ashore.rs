//! Sea mediators ashore: a certified mediator on land takes calls through a shore station,
//! signing with their OWN key, which the station holds on their behalf (docs/shore.md, "Sea
//! mediators ashore").
//!
//! Config: one `[[mediator]]` per mediator: `name`, `key_file` (the mediator's secret key,
//! hex, mode 0600, as `haiqiao init` writes `node.key`), and `token_sha256` (the SHA-256, hex,
//! of the secret token the mediator's desk sends; the token itself is not stored at the
//! station). API: `POST /api/v1/ashore/{name}/cases/{id}` with `Authorization: Bearer
//! <token>` and `{"step": "accept" | "progress" | "propose" | "escalate" | "close", "text",
//! "to"}`: the step is judged by the fleet exactly as the mediator's own node would judge it
//! (certified mediator, not a party, the case's mediator), signed with the mediator's key and
//! taken in as a record from them (it floods like any case update).
//!
//! Sequence numbers: the station numbers a mediator's records from the current time in
//! milliseconds (and above the last it used, kept in `<data_dir>/ashore/<name>.seq`), far
//! above the counter of the mediator's own boat node, so that the two never reuse a number
//! when the mediator also works from their boat with the same key.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use haiqiao_mesh::Node;
use haiqiao_proto::{Envelope, Keypair, Record, RecordId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::command::{AshoreStep, Command, StepRequest};
use crate::error::ApiError;
use crate::workflows::Workflows;

/// One `[[mediator]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MediatorSection {
    /// The name in the API path.
    pub(crate) name: String,
    /// The mediator's secret key file; relative to the config file's folder.
    pub(crate) key_file: PathBuf,
    /// SHA-256 of the desk's token, 64 hex digits (`printf %s "$TOKEN" | sha256sum`).
    pub(crate) token_sha256: String,
}

impl MediatorSection {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_".contains(c))
        {
            bail!(
                "mediator name {:?}: letters, digits, - and _ only",
                self.name
            );
        }
        let h = hex::decode(&self.token_sha256).unwrap_or_default();
        if h.len() != 32 {
            bail!(
                "mediator {:?}: token_sha256 must be 64 hex digits",
                self.name
            );
        }
        Ok(())
    }
}

/// A mediator whose key the station holds.
#[derive(Debug)]
pub(crate) struct Ashore {
    pub(crate) name: String,
    key: Keypair,
    token_sha256: [u8; 32],
    seq_file: PathBuf,
}

impl Ashore {
    /// Loads the mediators' keys at start.
    pub(crate) fn load(
        sections: &[MediatorSection],
        data_dir: &Path,
    ) -> anyhow::Result<Vec<Ashore>> {
        let mut out = Vec::new();
        for m in sections {
            let key = crate::keys::load(&m.key_file)
                .with_context(|| format!("[[mediator]] {:?}: its key", m.name))?;
            let mut token_sha256 = [0u8; 32];
            token_sha256.copy_from_slice(&hex::decode(&m.token_sha256)?);
            out.push(Ashore {
                name: m.name.clone(),
                key,
                token_sha256,
                seq_file: data_dir.join("ashore").join(format!("{}.seq", m.name)),
            });
        }
        Ok(out)
    }

    /// Whether `token` is this mediator's.
    fn token_ok(&self, token: &str) -> bool {
        let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        super::mqtt::same_secret(&h, &self.token_sha256)
    }

    /// The next sequence number, kept on disk before it is used.
    fn next_seq(&self, now_ms: u64) -> anyhow::Result<u64> {
        let last = std::fs::read_to_string(&self.seq_file)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let seq = now_ms.max(last + 1);
        if let Some(d) = self.seq_file.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = self.seq_file.with_extension("tmp");
        std::fs::write(&tmp, seq.to_string())?;
        std::fs::rename(&tmp, &self.seq_file)?;
        Ok(seq)
    }
}

/// Carries out a step in the daemon (the engine's task): checks the token, has the fleet
/// judge it for the mediator, signs it with their key and takes it in.
pub(crate) fn step<S: haiqiao_mesh::Store>(
    now_ms: u64,
    mediators: &[Ashore],
    node: &mut Node<S>,
    work: &mut Workflows,
    case: RecordId,
    cmd: &AshoreStep,
) -> Result<Record, ApiError> {
    let Some(m) = mediators.iter().find(|m| m.name == cmd.name) else {
        return Err(ApiError::NotFound(format!(
            "no mediator {:?} is held at this station",
            cmd.name
        )));
    };
    if !m.token_ok(&cmd.token) {
        println!("ashore: refused a step for {:?}: wrong token", m.name);
        return Err(ApiError::Refused(format!(
            "wrong token for mediator {:?}",
            m.name
        )));
    }
    let draft = work.mediator_draft_as(
        now_ms,
        m.key.public(),
        case,
        &cmd.req.step,
        &cmd.req.text,
        cmd.req.to.as_deref(),
    )?;
    let seq = m
        .next_seq(now_ms)
        .map_err(|e| ApiError::Internal(format!("the mediator's sequence file: {e}")))?;
    let r = Record::sign(
        &m.key,
        Envelope {
            author: m.key.public().hint(),
            seq,
            created: Timestamp((now_ms / 1000) as u32),
            ttl_min: draft.ttl_min,
            dest: draft.dest,
            body: draft.body,
        },
    )
    .map_err(ApiError::Record)?;
    let r = node.import(now_ms, m.key.public(), r.bytes())?;
    work.observe(now_ms, node, &r);
    println!("ashore: {} {} case {case}", m.name, cmd.req.step);
    Ok(r)
}

/// The API's route for mediators ashore.
pub(crate) fn routes() -> Router<mpsc::Sender<Command>> {
    Router::new().route(
        "/api/v1/ashore/{name}/cases/{id}",
        axum::routing::post(
            |State(tx): State<mpsc::Sender<Command>>,
             UrlPath((name, case)): UrlPath<(String, String)>,
             headers: HeaderMap,
             body: Result<Json<StepRequest>, axum::extract::rejection::JsonRejection>| async move {
                let token = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
                let cmd = AshoreStep {
                    name,
                    token,
                    case,
                    req,
                };
                let r = super::ask(&tx, |reply| Command::AshoreStep(cmd, reply))
                    .await
                    .ok_or(ApiError::Unavailable)??;
                Ok::<Json<Value>, ApiError>(Json(crate::json::record_json(&r)))
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_their_hash_and_sequence_numbers_only_grow() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = Keypair::from_seed(&[9; 32]);
        let m = Ashore {
            name: "wang".into(),
            key,
            token_sha256: Sha256::digest(b"desk-token").into(),
            seq_file: dir.path().join("ashore/wang.seq"),
        };
        assert!(m.token_ok("desk-token"));
        assert!(!m.token_ok("desk-token2"));
        let a = m.next_seq(1_000).expect("seq");
        let b = m.next_seq(1_000).expect("seq");
        let c = m.next_seq(500).expect("seq");
        assert_eq!((a, b, c), (1_000, 1_001, 1_002));
    }

    #[test]
    fn the_section_is_checked() {
        let ok = MediatorSection {
            name: "wang".into(),
            key_file: "m.key".into(),
            token_sha256: "ab".repeat(32),
        };
        assert!(ok.validate().is_ok());
        let bad = MediatorSection {
            token_sha256: "ab".into(),
            ..ok.clone()
        };
        assert!(bad.validate().is_err());
        let bad = MediatorSection {
            name: "a/b".into(),
            ..ok
        };
        assert!(bad.validate().is_err());
    }
}
