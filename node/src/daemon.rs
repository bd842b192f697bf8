//! `haiqiao run`: store, engine, swarm and the control API in one tokio runtime.
//!
//! One task owns the engine (the pattern of rust-libp2p's file-sharing example): it selects
//! over swarm events, API commands (each with a oneshot reply), the engine's next timeout and
//! the shutdown signals, feeds the engine, and turns its outputs into swarm calls and inbox
//! entries. The engine is the only writer of the store.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use haiqiao_mesh::{Input, MeshConfig, Node, Output, Store};
use haiqiao_net::{NetEvent, NetHandle};
use haiqiao_proto::{KeyHint, Keypair, PublicKey, Record, RecordId, Role};
use haiqiao_store::SledStore;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::feed::Event;
use crate::json::{BodySpec, SubmitRequest, build, record_json};
use crate::workflows::{Request, Workflows};

/// Where the daemon keeps the time of its last shore contact (ms), across restarts.
const LAST_SHORE_FILE: &str = "last_shore_ms";

/// Capacity of the API → engine command channel.
pub(crate) const COMMAND_CAP: usize = 64;

/// The control API's requests to the engine task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write a record.
    Submit(SubmitRequest, oneshot::Sender<Result<Value, ApiError>>),
    /// Node status.
    Status(oneshot::Sender<Value>),
    /// Connected peers.
    Peers(oneshot::Sender<Value>),
    /// Delivered records after an index.
    Inbox {
        after: u64,
        limit: usize,
        kind: Option<String>,
        reply: oneshot::Sender<Value>,
    },
    /// One record, by its id or a short id.
    Get(String, oneshot::Sender<Result<Record, ApiError>>),
    /// Newest position of each vessel.
    Positions(oneshot::Sender<Value>),
    /// Dial a peer's address.
    Dial(String, oneshot::Sender<Result<(), ApiError>>),
    /// Close the connections to a peer (hex node id).
    Hangup(String, oneshot::Sender<Result<(), ApiError>>),
    /// Pairs, distress, mediation, trust (see `workflows`).
    Workflow(Request, oneshot::Sender<Result<Value, ApiError>>),
    /// A listener on the daemon's feed (live views, bridges): it sees what happens from now on.
    Subscribe(oneshot::Sender<tokio::sync::broadcast::Receiver<crate::feed::Event>>),
    /// The records held that were delivered or written here, oldest first (the shore
    /// bridges' catch-up after a lag or a restart).
    ShoreHeld(oneshot::Sender<Vec<Record>>),
    /// A step by a mediator ashore, signed with their key held here.
    AshoreStep(
        crate::shore::ashore::StepCommand,
        oneshot::Sender<Result<Record, ApiError>>,
    ),
}

/// Everything the daemon needs.
#[derive(Debug)]
pub(crate) struct DaemonSpec {
    pub(crate) key: Keypair,
    pub(crate) role: Role,
    pub(crate) name: String,
    pub(crate) partner: Option<KeyHint>,
    pub(crate) groups: Vec<u32>,
    pub(crate) data_dir: PathBuf,
    pub(crate) store: haiqiao_mesh::StoreLimits,
    pub(crate) mesh: MeshConfig,
    pub(crate) fleet: haiqiao_fleet::FleetConfig,
    pub(crate) net: haiqiao_net::NetConfig,
    pub(crate) api: crate::config::ApiSection,
    /// The boat's GPS, the plotter feed and Signal K.
    pub(crate) marine: crate::marine::MarineSpec,
    pub(crate) shore: crate::shore::ShoreSpec,
    pub(crate) mediators: Vec<crate::shore::ashore::Ashore>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) struct Inbox {
    next: u64,
    items: VecDeque<(u64, u64, Record)>,
    cap: usize,
}

impl Inbox {
    /// An empty inbox that keeps at most `cap` records (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            next: 0,
            items: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Records listed.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    fn push(&mut self, now_ms: u64, r: Record) {
        self.items.push_back((self.next, now_ms, r));
        self.next += 1;
        while self.items.len() > self.cap {
            self.items.pop_front();
        }
    }
}

/// Refills the inbox from the store at start-up: the records delivered here (addressed to this
/// node, not written by it), oldest first, as the running daemon would have listed them. Only
/// what the store still holds comes back: superseded positions and expired records do not.
pub(crate) fn refill_inbox(node: &Node<SledStore>, inbox: &mut Inbox) -> anyhow::Result<()> {
    let me = node.public_key();
    let mut held: Vec<_> = node
        .store()
        .summaries()?
        .into_iter()
        .filter(|s| s.author != me && node.is_for_me(&s.dest))
        .collect();
    held.sort_by(|a, b| {
        (a.created, a.seq, a.author.as_bytes()).cmp(&(b.created, b.seq, b.author.as_bytes()))
    });
    let skip = held.len().saturating_sub(inbox.cap);
    for s in held.into_iter().skip(skip) {
        if let Some(r) = node.store().get(&s.id)? {
            inbox.push(u64::from(s.created.0) * 1000, r);
        }
    }
    Ok(())
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

struct Daemon {
    spec_name: String,
    partner: Option<KeyHint>,
    node: Node<SledStore>,
    net: NetHandle,
    inbox: Inbox,
    peers: Vec<PublicKey>,
    seq_file: PathBuf,
    listening: Vec<String>,
    work: Workflows,
    feed: crate::feed::Feed,
    timings: EngineTimings,
    marine: Option<crate::marine::Marine>,
    mediators: Vec<crate::shore::ashore::Ashore>,
}

/// The file in the data dir that a running daemon holds locked, with its pid inside.
const LOCK_FILE: &str = "haiqiao.lock";

/// Takes the data dir for this process: one daemon per data dir. The lock (flock) goes with
/// the returned file, so it is released when the daemon exits, however it exits.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = f.take(32).read_to_string(&mut pid);
            let pid = pid.trim();
            let who = if pid.is_empty() {
                String::new()
            } else {
                format!(" (pid {pid})")
            };
            anyhow::bail!(
                "another haiqiao is running on data dir {}{who}: stop it first, or give this \
                 node its own data_dir in [node] (and its own [net] listen and [api] listen \
                 ports; see configs/two-nodes/)",
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{}", std::process::id())?;
    f.sync_all()?;
    Ok(f)
}

/// Why the network could not start, and what to do about it.
fn net_error(e: haiqiao_net::NetError) -> anyhow::Error {
    let hint = match &e {
        haiqiao_net::NetError::AddrInUse { .. } => {
            "; another program (another haiqiao node?) has this port: give this node other \
             ports in [net] listen (configs/two-nodes/ shows two nodes on one machine)"
        }
        haiqiao_net::NetError::Listen { .. } => {
            "; check the [net] listen addresses (a port in use? give this node other ports; \
             configs/two-nodes/ shows two nodes on one machine)"
        }
        _ => "",
    };
    anyhow::anyhow!("starting the network: {e}{hint}")
}

/// Refuses listen ports another program holds, before libp2p is started, so that the answer
/// is the same for TCP and QUIC: libp2p listens on TCP with SO_REUSEPORT, so a second haiqiao
/// on the same TCP port would start and silently share it (the kernel handing each incoming
/// connection to either node), and a QUIC port in use comes back from libp2p wrapped so that
/// its cause can only be read, not told. A plain bind, which never shares, tells.
fn check_ports(listen: &[String]) -> anyhow::Result<()> {
    for a in listen {
        let parts: Vec<&str> = a.split('/').collect();
        let (ip, proto, port) = match parts.as_slice() {
            ["", "ip4" | "ip6", ip, proto @ ("tcp" | "udp"), port, ..] => (*ip, *proto, *port),
            _ => continue,
        };
        let (Ok(ip), Ok(port)) = (ip.parse::<std::net::IpAddr>(), port.parse::<u16>()) else {
            continue;
        };
        if port == 0 {
            continue;
        }
        let bound = if proto == "tcp" {
            std::net::TcpListener::bind((ip, port)).map(drop)
        } else {
            std::net::UdpSocket::bind((ip, port)).map(drop)
        };
        if let Err(e) = bound
            && e.kind() == std::io::ErrorKind::AddrInUse
        {
            return Err(net_error(haiqiao_net::NetError::AddrInUse {
                addr: a.clone(),
            }));
        }
    }
    Ok(())
}

/// Runs until SIGINT or SIGTERM.
pub(crate) async fn run(spec: DaemonSpec) -> anyhow::Result<()> {
    crate::logs::init()?;
    std::fs::create_dir_all(&spec.data_dir)
        .with_context(|| format!("creating {}", spec.data_dir.display()))?;
    let _lock = lock_data_dir(&spec.data_dir)?;
    let store = SledStore::open(spec.data_dir.join("store"), spec.store.clone())
        .with_context(|| format!("opening the store in {}", spec.data_dir.display()))?;
    let now = now_ms();
    let mut mesh = spec.mesh.clone();
    // Flow control with the network driver: fewer frames outstanding than its queue holds.
    let most = (haiqiao_net::PEER_WRITE_QUEUE_CAP / 2) as u32;
    mesh.send_window_frames = match mesh.send_window_frames {
        0 => most,
        w => w.min(most),
    };
    let mut node = Node::new(mesh, spec.key.clone(), spec.role, store, now)?;
    node.set_groups(spec.groups.clone());
    let seq_file = spec.data_dir.join("next_seq");
    if let Ok(s) = std::fs::read_to_string(&seq_file)
        && let Ok(n) = s.trim().parse::<u64>()
    {
        node.ensure_next_seq(n);
    }
    if let Ok(s) = std::fs::read_to_string(spec.data_dir.join(LAST_SHORE_FILE))
        && let Ok(t) = s.trim().parse::<u64>()
    {
        node.restore_last_shore_ms(t);
    }
    let me = spec.key.public();
    let mut work = Workflows::new(spec.fleet.clone(), me, u64::from_le_bytes(me.hint().0))
        .context("the [fleet] settings")?;
    work.replay(now, &mut node)?;
    let mut inbox = Inbox::new(spec.api.inbox_capacity);
    refill_inbox(&node, &mut inbox)?;
    crate::dashboard::access::check_listen(&spec.api)?;
    let listener = tokio::net::TcpListener::bind(spec.api.listen)
        .await
        .with_context(|| {
            format!(
                "binding the control API on {}: another node (or program) may have this \
                 port; give this node another [api] listen address (a second node on this \
                 machine also needs its own [net] listen ports; see configs/two-nodes/)",
                spec.api.listen
            )
        })?;
    let api_addr = listener.local_addr()?;
    check_ports(&spec.net.listen)?;
    let (net, mut events) =
        haiqiao_net::spawn(spec.key.seed(), spec.net.clone()).map_err(net_error)?;
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(COMMAND_CAP);
    let feed = crate::feed::Feed::new();
    let marine_cmd = cmd_tx.clone();
    let bridges = crate::shore::spawn(&spec.shore, &spec.data_dir, &spec.name, cmd_tx.clone())?;
    let app = crate::api::router(cmd_tx, &spec.api);
    let (stop_api, stop_api_rx) = tokio::sync::watch::channel(false);
    let api_task = tokio::spawn(crate::api::serve(
        listener,
        app,
        spec.api.clone(),
        stop_api_rx,
    ));
    println!("peer id {}", haiqiao_net::peer_id(&spec.key.public())?);
    println!(
        "haiqiao {} {} ({}) node id {} — control API http://{api_addr}",
        spec.role.name(),
        spec.name,
        spec.key.public().short(),
        spec.key.public()
    );
    println!("dashboard http://{api_addr}/");
    tracing::info!(role = spec.role.name(), name = %spec.name, id = %spec.key.public(), api = %api_addr, "started");
    let mut d = Daemon {
        spec_name: spec.name.clone(),
        partner: spec.partner,
        node,
        net,
        inbox,
        peers: Vec::new(),
        seq_file,
        listening: Vec::new(),
        work,
        feed,
        timings: EngineTimings::default(),
        marine: None,
        mediators: spec.mediators,
    };
    d.marine =
        Some(crate::marine::start(&spec.marine, spec.key.public(), &spec.name, marine_cmd).await?);
    d.drain().await?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let due = match (d.node.poll_timeout(), d.work.next_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wake = due.map(|t| t.saturating_sub(now_ms()));
        let sleep = tokio::time::sleep(Duration::from_millis(wake.unwrap_or(60_000).min(60_000)));
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => d.on_net(ev)?,
                None => anyhow::bail!("the network task stopped"),
            },
            cmd = cmd_rx.recv() => match cmd {
                Some(cmd) => d.on_command(cmd).await?,
                // Every sender gone (the API task ended): nothing can ask anything any more;
                // stop cleanly rather than spin on a closed channel.
                None => {
                    println!("the control API stopped");
                    break;
                }
            },
            _ = sleep => d.handle(now_ms(), Input::Tick)?,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
        d.drain().await?;
    }
    println!("shutting down: flushing the store");
    tracing::info!("shutting down");
    let _ = d.net.shutdown().await;
    let _ = stop_api.send(true);
    let _ = api_task.await;
    d.save_seq();
    if let Some((journal, tasks)) = bridges {
        for t in tasks {
            t.abort();
        }
        if let Err(e) = journal.flush() {
            println!("shore backlog: {e}");
        }
    }
    drop(d);
    Ok(())
}

impl Daemon {
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
            Request::AnswerDistress { distress: id, .. }
            | Request::Case { case: id }
            | Request::CaseStep { case: id, .. } => {
                *id = self.resolve(id)?.to_string();
            }
            _ => {}
        }
        Ok(())
    }

    fn on_net(&mut self, ev: NetEvent) -> anyhow::Result<()> {
        let now = now_ms();
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
                self.save_seq();
            }
            NetEvent::Frame { peer, bytes } => self.handle(now, Input::Frame { peer, bytes })?,
            NetEvent::Gossip { peer, bytes } => self.handle(now, Input::Gossip { peer, bytes })?,
            NetEvent::Malformed { peer } => {
                // An over-long or broken frame on the stream: the engine judges it like any
                // frame that does not decode.
                self.handle(
                    now,
                    Input::Frame {
                        peer,
                        bytes: vec![0xff],
                    },
                )?;
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
    fn handle(&mut self, now: u64, input: Input) -> Result<(), haiqiao_mesh::StoreError> {
        let what = match &input {
            Input::ContactUp { .. } => "contact_up",
            Input::ContactDown { .. } => "contact_down",
            Input::Frame { .. } => "frame",
            Input::Gossip { .. } => "gossip",
            Input::Tick => "tick",
            Input::Written { .. } => "written",
        };
        let t = std::time::Instant::now();
        let r = self.node.handle(now, input);
        self.timings.add(what, t.elapsed());
        r
    }

    /// Carries out the engine's outputs and the fleet's actions until neither has more.
    async fn drain(&mut self) -> anyhow::Result<()> {
        loop {
            self.drain_outputs().await?;
            self.work.poll(now_ms(), &mut self.node)?;
            if !self.node.has_output() {
                return Ok(());
            }
        }
    }

    /// Carries out the engine's outputs. What it prints goes out in one write at the end (a
    /// relay delivers thousands of records a second, and a line-buffered stdout would make a
    /// system call of each line).
    async fn drain_outputs(&mut self) -> anyhow::Result<()> {
        let mut lines = String::new();
        let r = self.drain_outputs_into(&mut lines).await;
        if !lines.is_empty() {
            print!("{lines}");
        }
        r
    }

    async fn drain_outputs_into(&mut self, lines: &mut String) -> anyhow::Result<()> {
        use std::fmt::Write as _;
        let now = now_ms();
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
                Output::Deliver(r) => {
                    // Opened where this node is a reader of a sealed record.
                    let r = crate::workflows::Workflows::view(&self.node, &r);
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

    fn save_seq(&self) {
        let tmp = self.seq_file.with_extension("tmp");
        if std::fs::write(&tmp, self.node.next_seq().to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &self.seq_file);
        }
        if let Some(t) = self.node.last_shore_ms(now_ms()) {
            let file = self.seq_file.with_file_name(LAST_SHORE_FILE);
            let tmp = file.with_extension("tmp");
            if std::fs::write(&tmp, t.to_string()).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
        }
    }

    async fn on_command(&mut self, cmd: Command) -> anyhow::Result<()> {
        let now = now_ms();
        match cmd {
            Command::Submit(mut req, reply) => {
                let me = self.node.public_key().hint();
                let res = self.resolve_body(&mut req.body).and_then(|()| {
                    let (dest, ttl, body) =
                        build(&req, me, self.partner).map_err(|e| ApiError::from_anyhow(&e))?;
                    self.work
                        .vet(now, dest, ttl, &body)
                        .map_err(|e| ApiError::from_anyhow(&e))?;
                    self.work
                        .write(now, &mut self.node, dest, ttl, body)
                        .map(|r| crate::workflows::Workflows::view(&self.node, &r))
                        .map_err(|e| ApiError::from_anyhow(&e))
                });
                if let Ok(r) = &res {
                    self.work.observe(now, &mut self.node, r);
                    self.save_seq();
                }
                let _ = reply.send(res.map(|r| record_json(&r)));
            }
            Command::Status(reply) => {
                let s = self.node.stats();
                let u = self.node.store().usage();
                let _ = reply.send(json!({
                    "id": self.node.public_key().to_string(),
                    "hint": self.node.public_key().hint().to_string(),
                    "role": self.node.role().name(),
                    "name": self.spec_name,
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
                        "frames_in": s.frames_in, "bytes_in": s.bytes_in, "records_in": s.records_in,
                        "duplicates": s.duplicates, "refused": s.refused, "bad_signatures": s.bad_signatures,
                        "malformed": s.malformed, "delivered": s.delivered, "custody_acked": s.custody_acked,
                        "freed_by_receipt": s.freed_by_receipt, "submitted": s.submitted, "penalties": s.penalties,
                        "receipts_not_counted": s.receipts_not_counted, "refused_revoked": s.refused_revoked,
                    },
                }));
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
                let items: Vec<Value> = self
                    .inbox
                    .items
                    .iter()
                    .filter(|(i, _, _)| *i >= after)
                    .filter(|(_, _, r)| kind.as_deref().is_none_or(|k| r.kind().name() == k))
                    .take(limit.min(1000))
                    .map(|(i, t, r)| {
                        let mut v = record_json(r);
                        v["index"] = json!(i);
                        v["received_ms"] = json!(t);
                        v
                    })
                    .collect();
                let _ = reply.send(json!({ "next": self.inbox.next, "records": items }));
            }
            Command::Get(id, reply) => {
                let r = self.resolve(&id).and_then(|id| {
                    self.node
                        .store()
                        .get(&id)?
                        .ok_or_else(|| ApiError::NotFound(format!("record {id} is not held here")))
                });
                // Opened where this node is a reader (its bytes stay the sealed ones).
                let r = r.map(|r| crate::workflows::Workflows::view(&self.node, &r));
                let _ = reply.send(r);
            }
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
                let _ = reply.send(out);
            }
            Command::Workflow(mut req, reply) => {
                let writes = !matches!(
                    req,
                    Request::Pairs
                        | Request::Distress { .. }
                        | Request::Duties
                        | Request::Cases
                        | Request::Case { .. }
                        | Request::CaseStats
                        | Request::Trust { .. }
                        | Request::Timeline { .. }
                        | Request::Vessels
                );
                let res = self.resolve_request(&mut req).and_then(|()| {
                    self.work
                        .request(now, &mut self.node, req)
                        .map_err(|e| ApiError::from_anyhow(&e))
                });
                if writes && res.is_ok() {
                    self.save_seq();
                }
                let _ = reply.send(res);
            }
            Command::Positions(reply) => {
                let ps: Vec<Value> = self
                    .node
                    .store()
                    .latest_positions()?
                    .iter()
                    .map(record_json)
                    .collect();
                let _ = reply.send(json!({ "positions": ps }));
            }
        }
        Ok(())
    }
}
