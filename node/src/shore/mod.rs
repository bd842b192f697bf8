//! Shore bridges: what reaches a shore station, carried to the tools people use on land
//! (docs/shore.md).
//!
//! - [`backlog`]: the durable journal every bridge reads from its own cursor, fed from the
//!   daemon's feed (one listener: the journal task here).
//! - [`mqtt`]: an MQTT bridge (rumqttc): records published as JSON and raw CBOR, QoS 1;
//!   a command topic for authorised integrators.
//! - [`archive`]: a PostgreSQL archive (tokio-postgres), idempotent by record id.
//! - [`webhook`]: HTTP POSTs signed with HMAC-SHA256 on chosen events.
//!
//! Config sections: `[shore]`, `[mqtt]`, `[archive]`, `[[webhook]]` (see [`ShoreConfig`]).

pub(crate) mod archive;
pub(crate) mod ashore;
pub(crate) mod backlog;
pub(crate) mod bench;
pub(crate) mod mqtt;
pub(crate) mod webhook;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use haiqiao_proto::{Record, RecordId};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::command::Command;
use crate::feed::Event;
use backlog::Journal;

/// The `[shore]` section: the bridges' shared backlog.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ShoreSection {
    /// Most records held for bridges that have not confirmed them (a broker or database
    /// away). At the bound the oldest are dropped, and each bridge that lost some says how
    /// many. Default 500,000 (about 100 MB on disk).
    pub(crate) backlog_records: u64,
}

impl Default for ShoreSection {
    fn default() -> Self {
        ShoreSection {
            backlog_records: 500_000,
        }
    }
}

/// Reconnection backoff of a bridge: doubles from `min` to `max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    now: Duration,
}

impl Backoff {
    pub(crate) fn new(min_ms: u64, max_ms: u64) -> Backoff {
        let min = Duration::from_millis(min_ms.max(1));
        Backoff {
            min,
            max: Duration::from_millis(max_ms.max(min_ms.max(1))),
            now: min,
        }
    }

    /// The wait before the next attempt; doubles the one after.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let w = self.now;
        self.now = (self.now * 2).min(self.max);
        w
    }

    /// A connection worked: start again from `min`.
    pub(crate) fn reset(&mut self) {
        self.now = self.min;
    }
}

/// Everything the bridges need from the config.
#[derive(Debug, Clone)]
pub(crate) struct ShoreSpec {
    pub(crate) shore: ShoreSection,
    pub(crate) mqtt: Option<mqtt::MqttSection>,
    pub(crate) archive: Option<archive::ArchiveSection>,
    pub(crate) webhooks: Vec<webhook::WebhookSection>,
}

impl ShoreSpec {
    /// Whether any bridge is configured.
    pub(crate) fn any(&self) -> bool {
        self.mqtt.is_some() || self.archive.is_some() || !self.webhooks.is_empty()
    }

    /// Checks the sections (called when the config is parsed).
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.shore.backlog_records == 0 {
            bail!("[shore] backlog_records must be at least 1");
        }
        if let Some(m) = &self.mqtt {
            m.validate().context("[mqtt]")?;
        }
        if let Some(a) = &self.archive {
            a.validate().context("[archive]")?;
        }
        let mut names = HashSet::new();
        for w in &self.webhooks {
            w.validate().context("[[webhook]]")?;
            if !names.insert(w.name.clone()) {
                bail!("[[webhook]] name {:?} is used twice", w.name);
            }
        }
        Ok(())
    }

    /// The bridges' cursor names in the journal.
    fn sinks(&self) -> Vec<String> {
        let mut s = Vec::new();
        if self.mqtt.is_some() {
            s.push("mqtt".to_owned());
        }
        if self.archive.is_some() {
            s.push("archive".to_owned());
        }
        for w in &self.webhooks {
            s.push(format!("webhook:{}", w.name));
        }
        s
    }
}

/// A name fit for an MQTT topic level or a database column: the station name with `/`, `+`,
/// `#` and control characters replaced by `_`.
pub(crate) fn topic_level(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Sends a command to the daemon and waits for its answer; `None` once the daemon stopped.
pub(crate) async fn ask<T>(
    tx: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Option<T> {
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply)).await.ok()?;
    rx.await.ok()
}

/// The running bridges: the journal (flushed at shutdown) and the tasks (aborted then).
pub(crate) type Bridges = (Arc<Journal>, Vec<tokio::task::JoinHandle<()>>);

/// Starts the journal task and the configured bridges. Returns the journal (flushed by the
/// daemon at shutdown) and the tasks.
pub(crate) fn spawn(
    spec: &ShoreSpec,
    data_dir: &Path,
    station: &str,
    cmd: mpsc::Sender<Command>,
) -> anyhow::Result<Option<Bridges>> {
    if !spec.any() {
        return Ok(None);
    }
    let journal = Journal::open(
        &data_dir.join("shore"),
        &spec.sinks(),
        spec.shore.backlog_records,
    )
    .with_context(|| format!("opening the shore backlog in {}", data_dir.display()))?;
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(run_journal(Arc::clone(&journal), cmd.clone())));
    let station = topic_level(station);
    if let Some(m) = &spec.mqtt {
        tasks.push(tokio::spawn(mqtt::run(
            m.clone(),
            station.clone(),
            Arc::clone(&journal),
            cmd.clone(),
        )));
    }
    if let Some(a) = &spec.archive {
        tasks.push(tokio::spawn(archive::run(
            a.clone(),
            station.clone(),
            Arc::clone(&journal),
        )));
    }
    for w in &spec.webhooks {
        tasks.push(tokio::spawn(webhook::run(
            w.clone(),
            station.clone(),
            Arc::clone(&journal),
        )));
    }
    println!(
        "shore bridges: {} (backlog {} records held)",
        spec.sinks().join(", "),
        journal.len().unwrap_or(0)
    );
    Ok(Some((journal, tasks)))
}

/// Appends the records the daemon holds (delivered or written here) that the journal has not
/// seen; forgets the marks of records gone from the store.
async fn reconcile(j: &Journal, cmd: &mpsc::Sender<Command>) -> Option<()> {
    let held: Vec<Record> = match ask(cmd, Command::ShoreHeld).await? {
        Ok(held) => held,
        Err(e) => {
            // The store failed to read: the journal stays as it is until the next catch-up.
            println!("shore backlog: catching up from the store: {e}");
            return Some(());
        }
    };
    let now = crate::clock::now_ms();
    let mut added = 0;
    for r in &held {
        match j.append(r, now) {
            Ok(true) => added += 1,
            Ok(false) => {}
            Err(e) => println!("shore backlog: {e}"),
        }
    }
    let ids: HashSet<RecordId> = held.iter().map(Record::id).collect();
    if let Err(e) = j.forget_gone(&ids) {
        println!("shore backlog: {e}");
    }
    if added > 0 {
        println!("shore backlog: {added} held records added that the bridges had not seen");
    }
    Some(())
}

/// The feed's one shore listener: every record delivered or written here into the journal.
async fn run_journal(j: Arc<Journal>, cmd: mpsc::Sender<Command>) {
    let Some(mut rx) = ask(&cmd, Command::Subscribe).await else {
        return;
    };
    // Subscribed first, then the catch-up: nothing falls between the two.
    if reconcile(&j, &cmd).await.is_none() {
        return;
    }
    loop {
        match rx.recv().await {
            Ok(Event::Delivered { record, at_ms } | Event::Authored { record, at_ms }) => {
                if let Err(e) = j.append(&record, at_ms) {
                    println!("shore backlog: {e}");
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                println!(
                    "shore backlog: the feed ran {n} events ahead; catching up from the store"
                );
                if reconcile(&j, &cmd).await.is_none() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A signed text record for tests.
#[cfg(test)]
pub(crate) fn test_record(key: &haiqiao_proto::Keypair, n: u64) -> Record {
    use haiqiao_proto::{Body, Destination, Envelope, Timestamp};
    Record::sign(
        key,
        Envelope {
            author: key.public().hint(),
            seq: n,
            created: Timestamp(1_790_000_000 + n as u32),
            ttl_min: 24 * 60,
            dest: Destination::Shore,
            body: Body::Text {
                text: format!("text {n}"),
                safety: false,
            },
        },
    )
    .expect("sign")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling_and_resets() {
        let mut b = Backoff::new(100, 350);
        let waits: Vec<u128> = (0..4).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_wait().as_millis(), 100);
    }

    #[test]
    fn the_province_example_loads_with_its_bridges() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/province");
        let a = crate::config::NodeConfig::load(&dir.join("shenjiamen.toml")).expect("shenjiamen");
        let b = crate::config::NodeConfig::load(&dir.join("daishan.toml")).expect("daishan");
        assert!(a.mesh.shore_federation && b.mesh.shore_federation);
        let spec = a.shore_spec();
        assert!(spec.mqtt.is_some() && spec.archive.is_some() && spec.webhooks.len() == 1);
        assert_eq!(
            spec.sinks(),
            ["mqtt", "archive", "webhook:dispute-platform"]
        );
        assert!(!b.shore_spec().any());
    }

    #[test]
    fn bad_bridge_sections_are_refused_when_the_config_is_read() {
        let base = crate::config::template(haiqiao_proto::Role::Shore, "s");
        let ok = format!("{base}\n[mqtt]\nhost = \"127.0.0.1\"\n");
        assert!(crate::config::NodeConfig::parse(&ok).is_ok());
        for bad in [
            "[mqtt]\nhost = \"\"\n",
            "[archive]\nurl = \"port=notanumber\"\n",
            "[shore]\nbacklog_records = 0\n",
            "[[webhook]]\nname = \"a\"\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\n\
             [[webhook]]\nname = \"a\"\nurl = \"http://y/\"\nsecret = \"0123456789abcdef\"\n",
        ] {
            let e = crate::config::NodeConfig::parse(&format!("{base}\n{bad}")).expect_err(bad);
            assert!(!format!("{e:#}").is_empty());
        }
    }

    #[test]
    fn station_names_are_fit_for_topics() {
        assert_eq!(topic_level("沈家门/a+b#c"), "沈家门_a_b_c");
    }
}
