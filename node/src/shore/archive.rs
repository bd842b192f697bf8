//! The PostgreSQL archive (tokio-postgres): every record that reaches the station, written
//! idempotently by record id (many stations may write the same record), into tables a
//! monitoring centre can query with psql or Grafana (docs/shore.md has the schema).
//!
//! Records are written from the shore journal in batches, one transaction per batch; the
//! journal's cursor moves past a batch only once its transaction committed. While the
//! database is away the journal keeps the records (bounded, `[shore] backlog_records`) and
//! the bridge reconnects with backoff; after, it writes from the cursor, and
//! `ON CONFLICT DO NOTHING` makes a batch written twice (committed, then the connection lost
//! before the cursor moved) harmless.
//!
//! Schema migrations are numbered; `haiqiao_schema` records those applied. They run in one
//! transaction under an advisory lock, so stations starting together against one database
//! apply each once.

use std::sync::Arc;

use anyhow::{Context, bail};
use haiqiao_proto::Kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::{Client, NoTls, Statement, Transaction};

use super::Backoff;
use super::backlog::{Entry, Journal};
use crate::json::record_json;

/// The journal cursor's name.
const SINK: &str = "archive";

/// The advisory lock the migrations take (any fixed number; "haiqiao" in ASCII).
const MIGRATION_LOCK: i64 = 0x0068_6169_7169_616f;

/// The schema, one migration per entry, applied in order and never edited once released.
pub(crate) const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    r"
CREATE TABLE records (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    author      text NOT NULL,
    seq         bigint NOT NULL,
    created     timestamptz NOT NULL,
    expiry      timestamptz NOT NULL,
    priority    text NOT NULL,
    dest        jsonb NOT NULL,
    body        jsonb NOT NULL,
    raw         bytea NOT NULL,
    station     text NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX records_kind_created ON records (kind, created);
CREATE INDEX records_author_created ON records (author, created);

CREATE TABLE positions (
    record_id  text PRIMARY KEY REFERENCES records (id),
    author     text NOT NULL,
    at         timestamptz NOT NULL,
    lat        double precision NOT NULL,
    lon        double precision NOT NULL,
    sog_kn     double precision,
    cog_deg    double precision,
    nav_status text
);
CREATE INDEX positions_author_at ON positions (author, at);
CREATE INDEX positions_at ON positions (at);
CREATE INDEX positions_place ON positions (lat, lon);

CREATE TABLE distress (
    record_id text PRIMARY KEY REFERENCES records (id),
    author    text NOT NULL,
    at        timestamptz NOT NULL,
    nature    text NOT NULL,
    lat       double precision,
    lon       double precision,
    persons   integer,
    text      text NOT NULL
);
CREATE INDEX distress_at ON distress (at);

CREATE TABLE distress_updates (
    record_id   text PRIMARY KEY REFERENCES records (id),
    distress_id text NOT NULL,
    author      text NOT NULL,
    at          timestamptz NOT NULL,
    status      text NOT NULL,
    eta_min     integer,
    text        text NOT NULL
);
CREATE INDEX distress_updates_distress ON distress_updates (distress_id, at);

CREATE TABLE cases (
    record_id   text PRIMARY KEY REFERENCES records (id),
    author      text NOT NULL,
    at          timestamptz NOT NULL,
    category    text NOT NULL,
    parties     jsonb NOT NULL,
    lat         double precision,
    lon         double precision,
    description text NOT NULL
);
CREATE INDEX cases_at ON cases (at);

CREATE TABLE case_steps (
    record_id text PRIMARY KEY REFERENCES records (id),
    case_id   text NOT NULL,
    author    text NOT NULL,
    at        timestamptz NOT NULL,
    status    text NOT NULL,
    text      text NOT NULL
);
CREATE INDEX case_steps_case ON case_steps (case_id, at);

CREATE TABLE receipts (
    record_id   text NOT NULL REFERENCES records (id),
    receipted   text NOT NULL,
    station_key text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (record_id, receipted)
);
CREATE INDEX receipts_receipted ON receipts (receipted);
",
)];

/// The `[archive]` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArchiveSection {
    /// A libpq-style connection string: `host=127.0.0.1 port=5432 user=haiqiao
    /// dbname=haiqiao` or `postgresql://user@host:port/db`. TLS is not used: run the
    /// database on the station, on a private network or through an SSH/WireGuard tunnel.
    pub(crate) url: String,
    /// Records written per transaction, at most. Default 500.
    #[serde(default = "default_batch")]
    pub(crate) batch: usize,
    /// Reconnection backoff, doubling from min to max, ms. Defaults 200 and 30,000.
    #[serde(default = "default_backoff_min")]
    pub(crate) reconnect_min_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub(crate) reconnect_max_ms: u64,
}

fn default_batch() -> usize {
    500
}
fn default_backoff_min() -> u64 {
    200
}
fn default_backoff_max() -> u64 {
    30_000
}

impl ArchiveSection {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        self.url
            .parse::<tokio_postgres::Config>()
            .context("url is not a PostgreSQL connection string")?;
        if self.batch == 0 || self.batch > 10_000 {
            bail!("batch must be 1 to 10,000");
        }
        Ok(())
    }
}

/// Runs the archive writer until the daemon stops (the task is dropped).
pub(crate) async fn run(cfg: ArchiveSection, station: String, j: Arc<Journal>) {
    let mut backoff = Backoff::new(cfg.reconnect_min_ms, cfg.reconnect_max_ms);
    loop {
        let (connected, e) = session(&cfg, &station, &j).await;
        if connected {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        println!("archive: {e:#}; reconnecting in {} ms", wait.as_millis());
        tokio::time::sleep(wait).await;
    }
}

/// Applies the migrations not yet applied.
pub(crate) async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS haiqiao_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let have: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM haiqiao_schema", &[])
        .await?
        .get(0);
    for (v, sql) in MIGRATIONS {
        if *v > have {
            tx.batch_execute(sql)
                .await
                .with_context(|| format!("schema migration {v}"))?;
            tx.execute("INSERT INTO haiqiao_schema (version) VALUES ($1)", &[v])
                .await?;
            println!("archive: schema migration {v} applied");
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One connection: writes from the cursor until it fails. Returns whether it connected.
async fn session(cfg: &ArchiveSection, station: &str, j: &Journal) -> (bool, anyhow::Error) {
    let (mut client, conn) = match tokio_postgres::connect(&cfg.url, NoTls).await {
        Ok(c) => c,
        Err(e) => return (false, anyhow::Error::new(e).context("connecting")),
    };
    let mut conn = tokio::spawn(conn);
    let res = async {
        migrate(&mut client).await?;
        let stmts = Stmts::prepare(&client).await?;
        println!("archive: connected");
        let mut watch = j.watch();
        let mut next = j.cursor(SINK)?;
        loop {
            watch.borrow_and_update();
            let batch = j.read(SINK, next, cfg.batch)?;
            let Some(last) = batch.last().map(|e| e.seq) else {
                tokio::select! {
                    _ = watch.changed() => {}
                    r = &mut conn => bail!("connection closed: {r:?}"),
                }
                continue;
            };
            let tx = client.transaction().await?;
            // Every record's statements at once: tokio-postgres pipelines them on the one
            // connection (one round trip per batch, not per statement).
            let writes = batch.iter().map(|e| async {
                write(&tx, &stmts, e, station)
                    .await
                    .with_context(|| format!("writing record {}", e.record.id()))
            });
            futures_util::future::try_join_all(writes).await?;
            tx.commit().await?;
            next = last + 1;
            j.commit(SINK, next)?;
            if next >= *watch.borrow() {
                println!("archive: caught up at journal position {next}");
            }
        }
    }
    .await;
    conn.abort();
    match res {
        Ok(()) => (true, anyhow::anyhow!("stopped")),
        Err(e) => (true, e),
    }
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The archive's statements, prepared once per connection.
struct Stmts {
    record: Statement,
    position: Statement,
    distress: Statement,
    update: Statement,
    case: Statement,
    step: Statement,
    receipt: Statement,
}

impl Stmts {
    async fn prepare(c: &Client) -> anyhow::Result<Stmts> {
        Ok(Stmts {
            record: c
                .prepare(
                    "INSERT INTO records (id, kind, author, seq, created, expiry, priority, dest,
                                          body, raw, station, received_at)
                     VALUES ($1, $2, $3, $4, to_timestamp($5), to_timestamp($6), $7, $8, $9,
                             $10, $11, to_timestamp($12))
                     ON CONFLICT (id) DO NOTHING",
                )
                .await?,
            position: c
                .prepare(
                    "INSERT INTO positions (record_id, author, at, lat, lon, sog_kn, cog_deg,
                                            nav_status)
                     VALUES ($1, $2, to_timestamp($3), $4, $5, $6, $7, $8)",
                )
                .await?,
            distress: c
                .prepare(
                    "INSERT INTO distress (record_id, author, at, nature, lat, lon, persons, text)
                     VALUES ($1, $2, to_timestamp($3), $4, $5, $6, $7, $8)",
                )
                .await?,
            update: c
                .prepare(
                    "INSERT INTO distress_updates (record_id, distress_id, author, at, status,
                                                   eta_min, text)
                     VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7)",
                )
                .await?,
            case: c
                .prepare(
                    "INSERT INTO cases (record_id, author, at, category, parties, lat, lon,
                                        description)
                     VALUES ($1, $2, to_timestamp($3), $4, $5, $6, $7, $8)",
                )
                .await?,
            step: c
                .prepare(
                    "INSERT INTO case_steps (record_id, case_id, author, at, status, text)
                     VALUES ($1, $2, $3, to_timestamp($4), $5, $6)",
                )
                .await?,
            receipt: c
                .prepare(
                    "INSERT INTO receipts (record_id, receipted, station_key, at)
                     SELECT $1, r, $2, to_timestamp($3) FROM unnest($4::text[]) AS r
                     ON CONFLICT DO NOTHING",
                )
                .await?,
        })
    }
}

/// Writes one record (and its row in the table of its kind); nothing if it is there already.
async fn write(tx: &Transaction<'_>, st: &Stmts, e: &Entry, station: &str) -> anyhow::Result<()> {
    let r = &e.record;
    let v = record_json(r);
    let id = r.id().to_string();
    let author = r.author().to_string();
    let created = f64::from(r.envelope().created.0);
    let n = tx
        .execute(
            &st.record,
            &[
                &id,
                &r.kind().name(),
                &author,
                &(r.envelope().seq as i64),
                &created,
                &(r.expiry() as f64),
                &r.priority().name(),
                &v["dest"],
                &v["body"],
                &r.bytes(),
                &station,
                &(e.at_ms as f64 / 1000.0),
            ],
        )
        .await?;
    if n == 0 {
        // Written before (by this station or another): its rows are there too.
        return Ok(());
    }
    let b = &v["body"];
    match r.kind() {
        Kind::Position => {
            tx.execute(
                &st.position,
                &[
                    &id,
                    &author,
                    &created,
                    &f(&b["lat"]).unwrap_or(0.0),
                    &f(&b["lon"]).unwrap_or(0.0),
                    &f(&b["sog_kn"]),
                    &f(&b["cog_deg"]),
                    &b["nav_status"].as_str(),
                ],
            )
            .await?;
        }
        Kind::Distress => {
            tx.execute(
                &st.distress,
                &[
                    &id,
                    &author,
                    &created,
                    &s(&b["nature"]),
                    &f(&b["fix"]["lat"]),
                    &f(&b["fix"]["lon"]),
                    &b["persons"].as_i64().map(|p| p as i32),
                    &s(&b["text"]),
                ],
            )
            .await?;
        }
        Kind::DistressUpdate => {
            tx.execute(
                &st.update,
                &[
                    &id,
                    &s(&b["distress"]),
                    &author,
                    &created,
                    &s(&b["status"]),
                    &b["eta_min"].as_i64().map(|p| p as i32),
                    &s(&b["text"]),
                ],
            )
            .await?;
        }
        Kind::DisputeReport => {
            tx.execute(
                &st.case,
                &[
                    &id,
                    &author,
                    &created,
                    &s(&b["category"]),
                    &b["parties"],
                    &f(&b["fix"]["lat"]),
                    &f(&b["fix"]["lon"]),
                    &s(&b["description"]),
                ],
            )
            .await?;
        }
        Kind::CaseUpdate | Kind::AgreementSignature => {
            let status = if r.kind() == Kind::AgreementSignature {
                "signed"
            } else {
                s(&b["status"])
            };
            tx.execute(
                &st.step,
                &[
                    &id,
                    &s(&b["case"]),
                    &author,
                    &created,
                    &status,
                    &s(&b["text"]),
                ],
            )
            .await?;
        }
        Kind::Receipt => {
            let ids: Vec<&str> = b["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            tx.execute(&st.receipt, &[&id, &author, &created, &ids])
                .await?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v as usize, i + 1);
        }
    }

    #[test]
    fn the_section_is_checked() {
        let a: ArchiveSection =
            toml::from_str("url = \"host=127.0.0.1 port=5432 user=h dbname=h\"").expect("parse");
        assert!(a.validate().is_ok());
        assert_eq!(a.batch, 500);
        let bad = ArchiveSection {
            url: "host=x port=notaport".into(),
            ..a.clone()
        };
        assert!(bad.validate().is_err());
        let bad = ArchiveSection { batch: 0, ..a };
        assert!(bad.validate().is_err());
    }
}
