//! The engine task's loop, driven without a swarm or a disk: a `MemStore` behind a wrapper
//! that can fail its reads or hold a write (as a slow fsync would), a network that takes
//! every call, and tokio's paused clock where the test is about time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::Duration;

use haiqiao_fleet::FleetConfig;
use haiqiao_mesh::{
    InsertOutcome, MemStore, MeshConfig, Node, Store, StoreError, StoreLimits, Summary, Usage,
};
use haiqiao_net::{Multiaddr, NetError, NetEvent, Verdict};
use haiqiao_proto::{
    Body, Destination, Envelope, Keypair, Kind, PublicKey, Record, RecordId, Role, Timestamp,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::inbox::Inbox;
use super::meta::MetaKeeper;
use super::net::NetOut;
use super::task::{Daemon, DaemonError, Ending};
use crate::clock::Clock;
use crate::command::{Command, ask};
use crate::error::ApiError;
use crate::workflows::{Request, Workflows};

/// 2026-11-18T11:06:40Z.
const T0_MS: u64 = 1_795_000_000_000;

/// A write held until the test releases it: `entered` says the engine is inside it.
struct Gate {
    entered: std_mpsc::SyncSender<()>,
    release: Mutex<std_mpsc::Receiver<()>>,
}

/// A `MemStore` whose reads fail while `fail_reads` is set and whose next write waits at
/// the gate while `hold_writes` is set.
struct TestStore {
    inner: MemStore,
    fail_reads: Arc<AtomicBool>,
    hold_writes: Arc<AtomicBool>,
    gate: Option<Gate>,
}

impl TestStore {
    fn new() -> Self {
        TestStore {
            inner: MemStore::new(StoreLimits::default()),
            fail_reads: Arc::new(AtomicBool::new(false)),
            hold_writes: Arc::new(AtomicBool::new(false)),
            gate: None,
        }
    }

    fn read(&self) -> Result<(), StoreError> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(StoreError::Io("injected read failure".into()));
        }
        Ok(())
    }

    fn write(&self) {
        if let Some(g) = &self.gate
            && self.hold_writes.swap(false, Ordering::SeqCst)
        {
            g.entered.send(()).unwrap();
            let _ = g.release.lock().unwrap().recv();
        }
    }
}

impl Store for TestStore {
    fn insert(&mut self, record: &Record) -> Result<InsertOutcome, StoreError> {
        self.write();
        self.inner.insert(record)
    }
    fn insert_batch(&mut self, records: &[Record]) -> Result<Vec<InsertOutcome>, StoreError> {
        self.write();
        self.inner.insert_batch(records)
    }
    fn insert_batch_kept(
        &mut self,
        records: &[Record],
        kept: &[bool],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        self.write();
        self.inner.insert_batch_kept(records, kept)
    }
    fn set_kept(&mut self, id: &RecordId, kept: bool) -> bool {
        self.inner.set_kept(id, kept)
    }
    fn is_kept(&self, id: &RecordId) -> bool {
        self.inner.is_kept(id)
    }
    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        self.read()?;
        self.inner.get(id)
    }
    fn contains(&self, id: &RecordId) -> Result<bool, StoreError> {
        self.inner.contains(id)
    }
    fn remove(&mut self, id: &RecordId) -> Result<bool, StoreError> {
        self.inner.remove(id)
    }
    fn by_author_seq(&self, author: &PublicKey, seq: u64) -> Result<Option<Record>, StoreError> {
        self.inner.by_author_seq(author, seq)
    }
    fn by_kind(
        &self,
        kind: Kind,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.inner.by_kind(kind, from, to, limit)
    }
    fn by_destination(&self, dest: &Destination, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.inner.by_destination(dest, limit)
    }
    fn latest_positions(&self) -> Result<Vec<Record>, StoreError> {
        self.read()?;
        self.inner.latest_positions()
    }
    fn track(&self, author: &PublicKey) -> Result<Vec<Record>, StoreError> {
        self.inner.track(author)
    }
    fn sweep_expired(&mut self, now: u64) -> Result<Vec<RecordId>, StoreError> {
        self.inner.sweep_expired(now)
    }
    fn summaries(&self) -> Result<Vec<Summary>, StoreError> {
        self.inner.summaries()
    }
    fn usage(&self) -> Usage {
        self.inner.usage()
    }
    fn author_usage(&self, author: &PublicKey) -> Usage {
        self.inner.author_usage(author)
    }
    fn limits(&self) -> &StoreLimits {
        self.inner.limits()
    }
}

/// A network that takes every call and sends nothing.
struct NoNet;

impl NetOut for NoNet {
    async fn send(&self, _: PublicKey, _: Vec<u8>) -> Result<(), NetError> {
        Ok(())
    }
    async fn verdict(&self, _: PublicKey, _: Option<RecordId>, _: Verdict) -> Result<(), NetError> {
        Ok(())
    }
    async fn disconnect(&self, _: PublicKey, _: u64) -> Result<(), NetError> {
        Ok(())
    }
    async fn dial(&self, _: Multiaddr) -> Result<(), NetError> {
        Ok(())
    }
}

fn me() -> Keypair {
    Keypair::from_seed(&[1; 32])
}

fn partner() -> Keypair {
    Keypair::from_seed(&[4; 32])
}

/// A vessel's daemon on `store`, its clock at `T0_MS` (virtual: call inside a runtime).
fn daemon(store: TestStore, buddy_watch_s: u32) -> Daemon<TestStore, NoNet> {
    let mut node = Node::new(MeshConfig::default(), me(), Role::Vessel, store, T0_MS).unwrap();
    let cfg = FleetConfig {
        buddy_watch_s,
        ..FleetConfig::default()
    };
    let mut work = Workflows::new(cfg, me().public(), 7).unwrap();
    work.replay(T0_MS, &mut node).unwrap();
    let mut d = Daemon::new(node, work, NoNet, Inbox::new(100), MetaKeeper::none());
    d.clock = Clock::virtual_at(T0_MS);
    d
}

/// The loop's inlets, held by a test.
struct Inlets {
    commands: mpsc::Sender<Command>,
    net: mpsc::Sender<NetEvent>,
    stop: oneshot::Sender<()>,
}

/// Their other ends, for `run_loop`.
struct Outlets {
    commands: mpsc::Receiver<Command>,
    net: mpsc::Receiver<NetEvent>,
    stop: oneshot::Receiver<()>,
}

fn channels() -> (Inlets, Outlets) {
    let (commands, cmd_rx) = mpsc::channel(8);
    let (net, net_rx) = mpsc::channel(8);
    let (stop, stop_rx) = oneshot::channel();
    (
        Inlets {
            commands,
            net,
            stop,
        },
        Outlets {
            commands: cmd_rx,
            net: net_rx,
            stop: stop_rx,
        },
    )
}

/// Runs the loop until it ends; the stop signal is a `send` on `Inlets::stop` (a dropped
/// sender is no signal).
async fn run(
    d: &mut Daemon<TestStore, NoNet>,
    mut out: Outlets,
    mut api: tokio::task::JoinHandle<()>,
) -> Result<Ending, DaemonError> {
    let stop = async move {
        if out.stop.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    d.run_loop(&mut out.net, &mut out.commands, &mut api, stop)
        .await
}

/// Runs the loop of `d` beside `script` (in the same task, so nothing need be `Send`) and
/// returns how the loop ended. The network's sender stays open until both are done.
async fn run_beside<F: Future<Output = ()>>(
    mut d: Daemon<TestStore, NoNet>,
    script: impl FnOnce(mpsc::Sender<Command>, oneshot::Sender<()>) -> F,
) -> Result<Ending, DaemonError> {
    let (inlets, out) = channels();
    let Inlets {
        commands,
        net: _net,
        stop,
    } = inlets;
    // The test keeps a sender too: the script's end is no `CommandsClosed`.
    let (ending, ()) = tokio::join!(
        run(&mut d, out, api_forever()),
        script(commands.clone(), stop)
    );
    drop(commands);
    ending
}

/// An API task that runs until the test ends.
fn api_forever() -> tokio::task::JoinHandle<()> {
    tokio::spawn(std::future::pending())
}

async fn workflow(tx: &mpsc::Sender<Command>, req: Request) -> Result<Value, ApiError> {
    ask(tx, |reply| Command::Workflow(req, reply))
        .await
        .unwrap()
}

/// The partner's half of a pair with us, as it would arrive.
fn their_pairing() -> Record {
    let env = Envelope {
        author: partner().public().hint(),
        seq: 1,
        created: Timestamp((T0_MS / 1000) as u32),
        ttl_min: 24 * 60,
        dest: Destination::Everyone,
        body: Body::Pairing {
            partner: me().public(),
            paired: true,
        },
    };
    Record::sign(&partner(), env).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_buddy_watch_alarm_fires_at_its_virtual_time_through_the_loop() {
    let d = daemon(TestStore::new(), 60);
    let ending = run_beside(d, |tx, stop| async move {
        let import = Request::Import {
            author: partner().public().to_string(),
            record: hex::encode(their_pairing().bytes()),
        };
        workflow(&tx, import).await.unwrap();
        let pair = Request::Pair {
            partner: partner().public().to_string(),
            leave: false,
        };
        workflow(&tx, pair).await.unwrap();
        let pairs = workflow(&tx, Request::Pairs).await.unwrap();
        let due_ms = pairs["partners"][0]["due"].as_u64().expect("a due time") * 1000;
        assert!(due_ms > T0_MS && due_ms <= T0_MS + 61_000, "{pairs}");
        let tags = |v: &Value| -> Vec<(String, u64)> {
            v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["what"].as_str().unwrap().to_owned(),
                        e["at_ms"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let timeline = || Request::Timeline {
            after: 0,
            limit: 100,
        };
        // Just before it is due: no alarm. (The paused clock jumps; nothing waits.)
        tokio::time::sleep_until(
            tokio::time::Instant::now() + Duration::from_millis(due_ms - T0_MS - 1),
        )
        .await;
        let before = tags(&workflow(&tx, timeline()).await.unwrap());
        assert!(before.iter().all(|(w, _)| w != "buddy_alarm"), "{before:?}");
        // Past it: the loop's own timer fired at the due time, not when we asked.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let after = tags(&workflow(&tx, timeline()).await.unwrap());
        let alarm = after
            .iter()
            .find(|(w, _)| w == "buddy_alarm")
            .expect("an alarm");
        assert_eq!(alarm.1, due_ms, "{after:?}");
        assert!(
            after
                .iter()
                .any(|(w, t)| w == "buddy_report_sent" && *t == due_ms),
            "{after:?}"
        );
        let status = ask(&tx, Command::Status).await.unwrap();
        assert_eq!(
            status["fleet"]["buddy_alarms"][0],
            partner().public().to_string()
        );
        stop.send(()).unwrap();
    })
    .await;
    assert_eq!(ending.unwrap(), Ending::Signal);
}

#[tokio::test(start_paused = true)]
async fn a_failed_store_read_answers_500_and_the_daemon_carries_on() {
    let store = TestStore::new();
    let fail = store.fail_reads.clone();
    let d = daemon(store, 0);
    let ending = run_beside(d, |tx, stop| async move {
        let raise = Request::RaiseDistress(crate::specs::DistressSpec {
            nature: "sinking".into(),
            lat: Some(30.0),
            lon: Some(122.5),
            persons: Some(3),
            text: String::new(),
        });
        let written = workflow(&tx, raise).await.unwrap();
        let id = written["id"].as_str().unwrap().to_owned();
        fail.store(true, Ordering::SeqCst);
        let e = ask(&tx, |r| Command::Get(id.clone(), r))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("internal", 500), "{e}");
        let e = ask(&tx, Command::Positions).await.unwrap().unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("internal", 500), "{e}");
        assert!(e.message().contains("injected read failure"), "{e}");
        // Still answering, and reads work again once the store does.
        let status = ask(&tx, Command::Status).await.unwrap();
        assert_eq!(status["role"], "vessel");
        fail.store(false, Ordering::SeqCst);
        let r = ask(&tx, |r| Command::Get(id.clone(), r))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.id().to_string(), id);
        ask(&tx, Command::Positions).await.unwrap().unwrap();
        stop.send(()).unwrap();
    })
    .await;
    assert_eq!(ending.unwrap(), Ending::Signal);
}

#[tokio::test(start_paused = true)]
async fn the_loop_ends_when_the_api_task_ends() {
    let mut d = daemon(TestStore::new(), 0);
    let (_inlets, out) = channels();
    // The API task ends at once; the commands channel stays open (the GPS and the bridges
    // hold senders too), so only the task's end can tell.
    let ending = tokio::time::timeout(
        Duration::from_secs(3600),
        run(&mut d, out, tokio::spawn(async {})),
    )
    .await
    .expect("the loop ends");
    assert_eq!(ending.unwrap(), Ending::ApiStopped);
}

#[tokio::test(start_paused = true)]
async fn the_loop_ends_when_every_command_sender_is_gone() {
    let mut d = daemon(TestStore::new(), 0);
    let (inlets, out) = channels();
    drop(inlets.commands);
    let ending = run(&mut d, out, api_forever()).await;
    assert_eq!(ending.unwrap(), Ending::CommandsClosed);
    drop(inlets.net);
}

#[tokio::test(start_paused = true)]
async fn the_loop_ends_with_an_error_when_the_network_stops() {
    let mut d = daemon(TestStore::new(), 0);
    let (inlets, out) = channels();
    drop(inlets.net);
    let ending = run(&mut d, out, api_forever()).await;
    assert!(matches!(ending, Err(DaemonError::NetStopped)), "{ending:?}");
    drop(inlets.commands);
}

/// One worker thread: while the engine waits on the disk inside a write, another task on
/// the runtime (the API, the network driver, the GPS) still runs. Without `block_in_place`
/// the only worker would be stuck in the write and the probe would never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn other_tasks_run_while_the_engine_waits_on_the_disk() {
    let (entered_tx, entered_rx) = std_mpsc::sync_channel(1);
    let (release_tx, release_rx) = std_mpsc::sync_channel(1);
    let mut store = TestStore::new();
    store.gate = Some(Gate {
        entered: entered_tx,
        release: Mutex::new(release_rx),
    });
    let hold = store.hold_writes.clone();
    let mut d = daemon(store, 0);
    let (cmd_tx, mut cmd_rx) = mpsc::channel(8);
    let (_net_tx, mut events) = mpsc::channel::<NetEvent>(8);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let engine = tokio::spawn(async move {
        let mut api = api_forever();
        let stop = async move {
            if stop_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        d.run_loop(&mut events, &mut cmd_rx, &mut api, stop)
            .await
            .map_err(|e| e.to_string())
    });
    hold.store(true, Ordering::SeqCst);
    let tx = cmd_tx.clone();
    let write = tokio::spawn(async move {
        let raise = Request::RaiseDistress(crate::specs::DistressSpec {
            nature: "fire".into(),
            lat: Some(30.0),
            lon: Some(122.5),
            persons: None,
            text: String::new(),
        });
        workflow(&tx, raise).await
    });
    // Blocking waits on this (non-worker) thread, each bounded: the events are awaited.
    entered_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the engine reached the write");
    let (probe_tx, probe_rx) = std_mpsc::sync_channel(1);
    tokio::spawn(async move {
        probe_tx.send(()).unwrap();
    });
    let probed = probe_rx.recv_timeout(Duration::from_secs(10));
    release_tx.send(()).unwrap();
    assert!(
        probed.is_ok(),
        "another task ran while the engine was in the write"
    );
    let r = write.await.unwrap().unwrap();
    assert_eq!(r["kind"], "distress");
    stop_tx.send(()).unwrap();
    assert_eq!(engine.await.unwrap().unwrap(), Ending::Signal);
}
