//! The engine task: one task owns the engine and the fleet glue (the pattern of rust-libp2p's
//! file-sharing example). Its loop selects over the network's events, the edges' commands
//! (each with a oneshot reply), the engine's and the fleet's next timeout and the shutdown
//! signal; it feeds the engine and turns its outputs into network calls, feed events and
//! inbox entries. The engine is the only writer of the store.
//!
//! Blocking: the engine writes and fsyncs the store inside `Node::handle` and `Node::submit`.
//! Every call into the engine and the fleet glue runs through [`blocking`]
//! (`tokio::task::block_in_place` on the daemon's multi-threaded runtime), so the worker
//! thread waiting on the disk hands its other tasks (the API, the network driver, the GPS,
//! the shore bridges) to another thread; ARCHITECTURE.md says why this and not a thread of
//! its own or `spawn_blocking`.
//!
//! Errors: what a command asked and could not have is answered to it (an `ApiError`, 500 for
//! a store that failed to read) and the loop carries on; a write the engine could not make
//! durable, or the network task gone, ends the daemon ([`DaemonError`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use haiqiao_mesh::{Input, Node, Output, Store, StoreError};
use haiqiao_net::{NetError, NetEvent};
use haiqiao_proto::{KeyHint, PublicKey, Record, RecordId};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::inbox::Inbox;
use super::inflow::Inflow;
use super::meta::MetaKeeper;
use super::net::NetOut;
use crate::clock::Clock;
use crate::command::Command;
use crate::error::{ApiError, WorkflowError};
use crate::feed::{Event, Feed};
use crate::json::{BodySpec, build, record_json};
use crate::specs::DistressAnswerSpec;
use crate::workflows::{Request, Workflows};

/// Longest the loop sleeps with nothing due, ms.
const IDLE_WAKE_MS: u64 = 60_000;

/// Why the engine task stopped with an error: what it could not carry on without.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    /// The store failed under the engine (a write that could not be made durable).
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// The network task refused a call (it has stopped).
    #[error("the network failed: {0}")]
    Net(#[from] NetError),
    /// The network task ended its event stream.
    #[error("the network task stopped")]
    NetStopped,
    /// The fleet glue failed outside any request (replaying the store, setting trust).
    #[error("the workflows failed: {0}")]
    Workflow(#[from] WorkflowError),
}

/// How the loop ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// SIGINT or SIGTERM.
    Signal,
    /// The control API's task ended (or panicked): the node cannot be asked anything.
    ApiStopped,
    /// Every command sender is gone.
    CommandsClosed,
}

/// Runs `f` where it may block on the disk without stalling the runtime's other tasks:
/// `block_in_place` on a multi-threaded runtime, in place on a current-thread one (the
/// paused-clock tests, which have no other worker to hand to).
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// How long the engine took on each kind of input since start: count, total and longest.
#[derive(Debug, Default)]
struct EngineTimings(std::collections::BTreeMap<&'static str, (u64, f64, f64)>);

impl EngineTimings {
    fn add(&mut self, what: &'static str, took: Duration) {
        let s = took.as_secs_f64();
        let e = self.0.entry(what).or_default();
        e.0 += 1;
        e.1 += s;
        e.2 = e.2.max(s);
    }

    /// `{input: {count, seconds, max_seconds}}` for the status (and `/metrics`).
    fn json(&self) -> Value {
        self.0
            .iter()
            .map(|(k, (n, sum, max))| {
                (
                    (*k).to_owned(),
                    json!({ "count": n, "seconds": sum, "max_seconds": max }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// The engine, the fleet glue and what the daemon keeps beside them.
pub(crate) struct Daemon<S: Store, N: NetOut> {
    pub(crate) name: String,
    pub(crate) partner: Option<KeyHint>,
    pub(crate) node: Node<S>,
    pub(crate) net: N,
    pub(crate) clock: Clock,
    pub(crate) inbox: Inbox,
    pub(crate) peers: Vec<PublicKey>,
    pub(crate) listening: Vec<String>,
    pub(crate) work: Workflows,
    pub(crate) feed: Feed,
    timings: EngineTimings,
    pub(crate) meta: MetaKeeper,
    pub(crate) marine: Option<crate::marine::Marine>,
    pub(crate) mediators: Vec<crate::shore::ashore::Ashore>,
}

impl<S: Store, N: NetOut> Daemon<S, N> {
    /// A daemon around an engine whose workflows have replayed the store.
    pub(crate) fn new(
        node: Node<S>,
        work: Workflows,
        net: N,
        inbox: Inbox,
        meta: MetaKeeper,
    ) -> Self {
        Daemon {
            name: String::new(),
            partner: None,
            node,
            net,
            clock: Clock::System,
            inbox,
            peers: Vec::new(),
            listening: Vec::new(),
            work,
            feed: Feed::new(),
            timings: EngineTimings::default(),
            meta,
            marine: None,
            mediators: Vec::new(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The loop: until a signal (`stop`), the API task ends, or every command sender is gone.
    pub(crate) async fn run_loop(
        &mut self,
        events: &mut mpsc::Receiver<NetEvent>,
        commands: &mut mpsc::Receiver<Command>,
        api: &mut JoinHandle<()>,
        stop: impl Future<Output = ()>,
    ) -> Result<Ending, DaemonError> {
        tokio::pin!(stop);
        self.drain().await?;
        let mut inflow = Inflow::default();
        loop {
            let due = match (self.node.poll_timeout(), self.work.next_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let wake = due.map_or(IDLE_WAKE_MS, |t| t.saturating_sub(self.now()));
            let sleep = tokio::time::sleep(Duration::from_millis(wake.min(IDLE_WAKE_MS)));
            tokio::select! {
                ev = inflow.next(events) => match ev {
                    Some(ev) => blocking(|| self.on_net(ev))?,
                    None => return Err(DaemonError::NetStopped),
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd).await,
                    // Every sender gone: nothing can ask anything any more; stop cleanly
                    // rather than spin on a closed channel.
                    None => return Ok(Ending::CommandsClosed),
                },
                // The API task ended (it only ends when told to, so it failed): the other
                // senders (GPS, bridges) keep the channel open, so watch the task itself.
                r = &mut *api => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "the control API task failed");
                    }
                    return Ok(Ending::ApiStopped);
                }
                _ = sleep => {
                    let now = self.now();
                    blocking(|| self.handle(now, Input::Tick))?;
                }
                _ = &mut stop => return Ok(Ending::Signal),
            }
            self.drain().await?;
        }
    }

    fn on_net(&mut self, ev: NetEvent) -> Result<(), DaemonError> {
        let now = self.now();
        match ev {
            NetEvent::Listening { addr } => {
                println!("listening on {addr}");
                self.listening.push(addr.to_string());
            }
            NetEvent::PeerUp { peer, rate_bps } => {
                println!("peer up {}", peer.short());
                tracing::debug!(peer = %peer, rate_bps, "peer up");
                self.peers.push(peer);
                self.feed.send(Event::Peer { peer, up: true });
                self.handle(now, Input::ContactUp { peer, rate_bps })?;
            }
            NetEvent::PeerDown { peer } => {
                println!("peer down {}", peer.short());
                tracing::debug!(peer = %peer, "peer down");
                self.peers.retain(|p| *p != peer);
                self.feed.send(Event::Peer { peer, up: false });
                self.handle(now, Input::ContactDown { peer })?;
                // The last shore contact may have just ended: keep it across restarts.
                self.save_meta();
            }
            NetEvent::Frame { peer, bytes } => self.handle(now, Input::Frame { peer, bytes })?,
            NetEvent::Gossip { peer, bytes } => self.handle(now, Input::Gossip { peer, bytes })?,
            NetEvent::Malformed { peer } => {
                // An over-long or broken frame on the stream: the engine judges it like any
                // frame that does not decode.
                let bytes = vec![0xff];
                self.handle(now, Input::Frame { peer, bytes })?;
            }
            NetEvent::Written { peer, frames } => {
                self.handle(now, Input::Written { peer, frames })?
            }
            NetEvent::GossipJoined { .. } => {}
        }
        Ok(())
    }

    /// Hands an input to the engine and times it (the store's writes and fsyncs included: the
    /// engine is the store's only writer).
    fn handle(&mut self, now: u64, input: Input) -> Result<(), StoreError> {
        let what = input.name();
        let t = std::time::Instant::now();
        let r = self.node.handle(now, input);
        self.timings.add(what, t.elapsed());
        r
    }

    /// Carries out the engine's outputs and the fleet's actions until neither has more.
    pub(crate) async fn drain(&mut self) -> Result<(), DaemonError> {
        loop {
            self.drain_outputs().await?;
            let now = self.now();
            blocking(|| self.work.poll(now, &mut self.node))?;
            if !self.node.has_output() {
                return Ok(());
            }
        }
    }

    /// Carries out the engine's outputs. What it prints goes out in one write at the end (a
    /// relay delivers thousands of records a second, and a line-buffered stdout made a system
    /// call of each line: 13-18 % of a relay's CPU in `bench chain`).
    async fn drain_outputs(&mut self) -> Result<(), DaemonError> {
        let mut lines = String::new();
        let r = self.drain_outputs_into(&mut lines).await;
        if !lines.is_empty() {
            print!("{lines}");
        }
        r
    }

    async fn drain_outputs_into(&mut self, lines: &mut String) -> Result<(), DaemonError> {
        use std::fmt::Write as _;
        let now = self.now();
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Send { peer, frame } => self.net.send(peer, frame).await?,
                Output::GossipVerdict { peer, id, verdict } => {
                    let v = match verdict {
                        haiqiao_mesh::Verdict::Accept => haiqiao_net::Verdict::Accept,
                        haiqiao_mesh::Verdict::Ignore => haiqiao_net::Verdict::Ignore,
                        haiqiao_mesh::Verdict::Reject => haiqiao_net::Verdict::Reject,
                    };
                    self.net.verdict(peer, id, v).await?;
                }
                Output::Deliver(r) => blocking(|| self.delivered(now, &r, lines)),
                Output::Authored(r) => self.feed.send(Event::Authored {
                    record: Arc::new(r),
                    at_ms: now,
                }),
                Output::Carrying(id) => {
                    let _ = writeln!(lines, "carrying {id}");
                    self.feed.send(Event::Carrying(id));
                }
                Output::Freed(id) => {
                    let _ = writeln!(lines, "freed {id} (receipted by shore)");
                    self.feed.send(Event::Freed(id));
                }
                Output::RefusedRevoked { id, author } => {
                    let _ = writeln!(lines, "refused {id} from revoked key {}", author.short());
                    tracing::warn!(id = %id, author = %author, "refused: revoked key");
                    self.feed.send(Event::RefusedRevoked { id, author });
                }
                Output::Penalty {
                    peer,
                    offence,
                    score,
                } => {
                    tracing::warn!(peer = %peer, offence = offence.name(), score, "penalty");
                    let _ = writeln!(
                        lines,
                        "penalty {} for {} (score {score})",
                        offence.name(),
                        peer.short()
                    );
                    self.feed.send(Event::Penalty {
                        peer,
                        offence: offence.name(),
                        score,
                    });
                }
                Output::Disconnect { peer, until_ms } => {
                    let _ = writeln!(lines, "disconnecting {}", peer.short());
                    self.feed.send(Event::Disconnected { peer, until_ms });
                    self.net.disconnect(peer, until_ms).await?;
                }
            }
        }
        Ok(())
    }

    /// A record delivered here: opened where this node is a reader, observed by the fleet,
    /// sent on the feed and listed in the inbox.
    fn delivered(&mut self, now: u64, r: &Record, lines: &mut String) {
        use std::fmt::Write as _;
        let r = Workflows::view(&self.node, r);
        let _ = writeln!(lines, "delivered {} {}", r.kind().name(), r.id());
        if r.priority() <= haiqiao_proto::Priority::Safety {
            tracing::warn!(kind = r.kind().name(), id = %r.id(), author = %r.author(), "safety record delivered");
        } else {
            tracing::debug!(kind = r.kind().name(), id = %r.id(), "delivered");
        }
        if r.kind() != haiqiao_proto::Kind::Position {
            let _ = writeln!(lines, "  {}", crate::json::record_line(&record_json(&r)));
        }
        self.work.observe(now, &mut self.node, &r);
        self.feed.send(Event::Delivered {
            record: Arc::new(r.clone()),
            at_ms: now,
        });
        self.inbox.push(now, r);
    }

    /// Keeps `next_seq` and the last shore contact in the store (a failure is reported, not
    /// fatal: the engine's records are durable, and a lost `next_seq` is found again from
    /// them).
    pub(crate) fn save_meta(&mut self) {
        let now = self.now();
        let (seq, shore) = (self.node.next_seq(), self.node.last_shore_ms(now));
        if let Err(e) = self.meta.save(seq, shore) {
            println!("keeping the node's metadata: {e}");
            tracing::error!(error = %e, "saving the node's metadata");
        }
    }

    /// Answers a command; what fails is answered to the asker, never ends the loop.
    async fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Dial(addr, reply) => {
                let r = match addr.parse::<haiqiao_net::Multiaddr>() {
                    Ok(a) => self
                        .net
                        .dial(a)
                        .await
                        .map_err(|e| ApiError::BadRequest(e.to_string())),
                    Err(e) => Err(ApiError::BadRequest(format!(
                        "{addr:?} is not a multiaddr: {e}"
                    ))),
                };
                let _ = reply.send(r);
            }
            Command::Hangup(peer, reply) => {
                let r = match peer.parse::<PublicKey>() {
                    Ok(p) => self
                        .net
                        .disconnect(p, now)
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string())),
                    Err(_) => Err(ApiError::BadRequest(format!(
                        "{peer:?} is not a node id (64 hex digits)"
                    ))),
                };
                let _ = reply.send(r);
            }
            cmd => blocking(|| self.answer(now, cmd)),
        }
    }

    /// The commands answered from the engine, the store and the fleet (no network call).
    fn answer(&mut self, now: u64, cmd: Command) {
        match cmd {
            Command::Submit(mut req, reply) => {
                let me = self.node.public_key().hint();
                let res = self.resolve_body(&mut req.body).and_then(|()| {
                    let (dest, ttl, body) = build(&req, me, self.partner)
                        .map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
                    self.work.vet(now, dest, ttl, &body)?;
                    let r = self.work.write(now, &mut self.node, dest, ttl, body)?;
                    Ok(Workflows::view(&self.node, &r))
                });
                if let Ok(r) = &res {
                    self.work.observe(now, &mut self.node, r);
                    self.save_meta();
                }
                let _ = reply.send(res.map(|r| record_json(&r)));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status(now));
            }
            Command::Peers(reply) => {
                let peers: Vec<Value> = self
                    .peers
                    .iter()
                    .map(|p| json!({ "id": p.to_string(), "hint": p.hint().to_string(), "idle": self.node.is_idle_with(p) }))
                    .collect();
                let _ = reply.send(json!({ "peers": peers }));
            }
            Command::Inbox {
                after,
                limit,
                kind,
                reply,
            } => {
                let _ = reply.send(self.inbox.json(after, limit, kind.as_deref()));
            }
            Command::Get(id, reply) => {
                let r = self.resolve(&id).and_then(|id| {
                    self.node
                        .store()
                        .get(&id)?
                        .ok_or_else(|| ApiError::NotFound(format!("record {id} is not held here")))
                });
                // Opened where this node is a reader (its bytes stay the sealed ones).
                let _ = reply.send(r.map(|r| Workflows::view(&self.node, &r)));
            }
            Command::Positions(reply) => {
                let r = self.node.store().latest_positions().map(
                    |ps| json!({ "positions": ps.iter().map(record_json).collect::<Vec<_>>() }),
                );
                let _ = reply.send(r.map_err(ApiError::from));
            }
            Command::Subscribe(reply) => {
                let _ = reply.send(self.feed.subscribe());
            }
            Command::AshoreStep(cmd, reply) => {
                let r = self.resolve(&cmd.case).and_then(|case| {
                    crate::shore::ashore::step(
                        now,
                        &self.mediators,
                        &mut self.node,
                        &mut self.work,
                        case,
                        &cmd,
                    )
                });
                let _ = reply.send(r);
            }
            Command::ShoreHeld(reply) => {
                let _ = reply.send(self.shore_held().map_err(ApiError::from));
            }
            Command::Workflow(mut req, reply) => {
                let writes = !req.is_view();
                let res = self
                    .resolve_request(&mut req)
                    .and_then(|()| Ok(self.work.request(now, &mut self.node, req)?));
                if writes && res.is_ok() {
                    self.save_meta();
                }
                let _ = reply.send(res);
            }
            Command::Dial(_, reply) | Command::Hangup(_, reply) => {
                // Answered by `on_command`, which awaits the network.
                let _ = reply.send(Err(ApiError::Internal("not answered here".to_owned())));
            }
        }
    }

    fn status(&self, now: u64) -> Value {
        let s = self.node.stats();
        let u = self.node.store().usage();
        json!({
            "id": self.node.public_key().to_string(),
            "hint": self.node.public_key().hint().to_string(),
            "role": self.node.role().name(),
            "name": self.name,
            "peers": self.peers.len(),
            "listening": self.listening,
            "held": self.node.held(),
            "store": { "records": u.records, "bytes": u.bytes },
            "shore_age_min": self.node.shore_age_min(now),
            "eta_shore_min": self.node.eta_shore_min(now),
            "next_seq": self.node.next_seq(),
            "fleet": self.work.summary(now),
            "gps": self.marine.as_ref().map(|m| m.status(now)),
            "engine_timings": self.timings.json(),
            "stats": {
                "frames_out": s.frames_out, "bytes_out": s.bytes_out, "records_out": s.records_out,
                "record_bytes_out": s.record_bytes_out,
                "frames_in": s.frames_in, "bytes_in": s.bytes_in, "records_in": s.records_in,
                "duplicates": s.duplicates, "refused": s.refused, "bad_signatures": s.bad_signatures,
                "malformed": s.malformed, "delivered": s.delivered, "custody_acked": s.custody_acked,
                "freed_by_receipt": s.freed_by_receipt, "submitted": s.submitted, "penalties": s.penalties,
                "receipts_not_counted": s.receipts_not_counted, "refused_revoked": s.refused_revoked,
            },
        })
    }

    /// The records held that were delivered or written here, oldest first.
    fn shore_held(&self) -> Result<Vec<Record>, StoreError> {
        let me = self.node.public_key();
        let mut held: Vec<_> = self
            .node
            .store()
            .summaries()?
            .into_iter()
            .filter(|s| s.author == me || self.node.is_for_me(&s.dest))
            .collect();
        held.sort_by_key(|s| (s.created, s.seq));
        let mut out = Vec::with_capacity(held.len());
        for s in held {
            if let Some(r) = self.node.store().get(&s.id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// A record id as given (full or short) → the full id of a record held here.
    fn resolve(&self, s: &str) -> Result<RecordId, ApiError> {
        crate::ids::resolve(s, || {
            Ok(self.node.store().summaries()?.into_iter().map(|s| s.id))
        })
    }

    /// Short record ids in a hand-written record → full ids.
    fn resolve_body(&self, body: &mut BodySpec) -> Result<(), ApiError> {
        match body {
            BodySpec::DistressUpdate { distress: id, .. }
            | BodySpec::CaseUpdate { case: id, .. }
            | BodySpec::AgreementSignature { case: id, .. } => {
                *id = self.resolve(id)?.to_string();
            }
            _ => {}
        }
        Ok(())
    }

    /// Short record ids in a workflow request → full ids.
    fn resolve_request(&self, req: &mut Request) -> Result<(), ApiError> {
        match req {
            Request::AnswerDistress(DistressAnswerSpec { distress: id, .. })
            | Request::Case { case: id }
            | Request::CaseStep { case: id, .. } => {
                *id = self.resolve(id)?.to_string();
            }
            _ => {}
        }
        Ok(())
    }
}
