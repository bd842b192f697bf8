//! The event loop: owns the swarm, serves commands, turns swarm events into [`NetEvent`]s.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use futures::io::{AsyncRead, AsyncWriteExt as _, BufReader};
use haiqiao_proto::wire::MAX_FRAME_LEN;
use haiqiao_proto::{PublicKey, RECORD_ID_LEN, RecordId, Unverified};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{
    Multiaddr, PeerId, Stream, Swarm, SwarmBuilder, connection_limits, identify, identity, mdns,
    noise, ping, tcp, yamux,
};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use crate::config::Checked;
use crate::frame::{FrameError, ReadDeadlines};
use crate::gate::Gate;
use crate::sync::{SyncBehaviour, SyncEvent};
use crate::{
    ASSUMED_MIN_RATE_BPS, GOSSIP_MAX_IHAVE, GOSSIP_MAX_TRANSMIT, GOSSIP_QUEUE_LEN, GOSSIP_TOPIC,
    IDENTIFY_PROTOCOL, MAX_PENDING_VALIDATIONS, NetConfig, NetError, NetEvent,
    PEER_WRITE_QUEUE_CAP, PENDING_EVENTS_CAP, SHUTDOWN_GRACE, STABLE_CONTACT, STREAM_CHANNEL_CAP,
    Verdict, frame,
};

/// Read buffer of one inbound sync stream.
const READ_BUFFER_LEN: usize = 8 * 1024;
/// How often each connection is pinged.
const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Commands served in a row before the loop gives the network and the timers a turn (local
/// work goes first, but must not starve the rest).
const COMMAND_BURST: usize = 64;
/// Longest refusal honoured, so that a far-future `until_ms` cannot overflow the clock.
const MAX_REFUSAL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a [`crate::NetHandle`] asks of the loop.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        peer: PublicKey,
        frame: Vec<u8>,
    },
    Publish {
        id: RecordId,
        bytes: Arc<[u8]>,
    },
    Verdict {
        peer: PublicKey,
        id: Option<RecordId>,
        verdict: Verdict,
    },
    Disconnect {
        peer: PublicKey,
        until_ms: u64,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<(PublicKey, Vec<Multiaddr>)>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What a stream task tells the loop. `session` tells a live contact from a finished one.
#[derive(Debug)]
enum FromStream {
    /// A reader read a frame.
    Frame {
        peer: PeerId,
        session: u64,
        bytes: Vec<u8>,
    },
    /// A reader met a framing violation and closed its stream.
    Malformed { peer: PeerId, session: u64 },
    /// A writer could not write its stream.
    Failed { peer: PeerId, session: u64 },
    /// A reader gave up on a peer too slow to send a frame (see [`ReadDeadlines`]).
    TimedOut { peer: PeerId, session: u64 },
    /// A writer wrote (and flushed) this many more frames.
    Written {
        peer: PeerId,
        session: u64,
        frames: u32,
    },
}

/// All the behaviours. The gate and the limits come first so that a refused connection is
/// refused before any other behaviour builds a handler for it.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(crate) struct Behaviour {
    gate: Gate,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: crate::ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    gossipsub: crate::gossip::Behaviour,
    sync: SyncBehaviour,
}

/// A task that is aborted when this is dropped.
#[derive(Debug)]
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A peer that is up.
#[derive(Debug)]
struct Peer {
    key: PublicKey,
    /// Its connections and their remote addresses.
    conns: Vec<(ConnectionId, Multiaddr)>,
    /// Numbers this contact; frames from an earlier one are dropped.
    session: u64,
    up_since: Instant,
    /// Frames for the peer, in order; fed to the writer once the stream is open.
    frames: mpsc::Sender<Vec<u8>>,
    /// The other end of `frames` until the writer task takes it.
    queue: Option<mpsc::Receiver<Vec<u8>>>,
    writer: WriterState,
    reader_task: Option<Task>,
}

/// The outbound sync stream of a peer that is up.
#[derive(Debug)]
enum WriterState {
    /// Asked for on this connection; frames wait in the queue meanwhile.
    Opening(ConnectionId),
    /// Open on this connection: the task writes the queue to it.
    Writing(ConnectionId, Task),
    /// The peer does not speak `/haiqiao/sync/1`: kept for gossip only, with no stream, no
    /// queue and no reader; the engine has had its `PeerDown` (see [`EventLoop::keep_gossip_only`]).
    GossipOnly,
}

impl Peer {
    /// Whether the peer is kept for gossip only (not a contact of the engine's).
    fn gossip_only(&self) -> bool {
        matches!(self.writer, WriterState::GossipOnly)
    }
}

/// A static peer's redial state.
#[derive(Debug)]
struct Redial {
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    backoff: Duration,
    /// When to dial next (none while connected or while a dial is in flight).
    next: Option<Instant>,
    /// The dial in flight.
    dialing: Option<ConnectionId>,
}

/// A gossip message awaiting the engine's verdict.
#[derive(Debug)]
struct Pending {
    message_id: MessageId,
    source: PeerId,
    record: Option<RecordId>,
}

/// The gossip message id: the record id when the data decodes as a record (16 bytes), else a
/// SHA-256 of the data (32 bytes, so the two kinds never collide).
fn message_id(message: &gossipsub::Message) -> MessageId {
    match Unverified::decode(&message.data) {
        Ok(record) => MessageId::new(&record.id().0),
        Err(_) => MessageId::new(&Sha256::digest(&message.data)),
    }
}

/// The record id a message id stands for, if it is one.
fn record_of(id: &MessageId) -> Option<RecordId> {
    <[u8; RECORD_ID_LEN]>::try_from(id.0.as_slice())
        .ok()
        .map(RecordId)
}

fn setup_err(e: impl std::fmt::Display) -> NetError {
    NetError::Setup(e.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The owner of the swarm.
pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    /// Events waiting for room in `events` (at most about [`PENDING_EVENTS_CAP`]).
    pending: VecDeque<NetEvent>,
    from_streams_tx: mpsc::Sender<FromStream>,
    from_streams: mpsc::Receiver<FromStream>,
    peers: HashMap<PeerId, Peer>,
    statics: Vec<Redial>,
    topic: IdentTopic,
    validations: VecDeque<Pending>,
    next_session: u64,
    link_rate_bps: Option<u32>,
    mdns: bool,
    redial_min: Duration,
    redial_max: Duration,
    /// Deadlines of every inbound sync stream.
    read_deadlines: ReadDeadlines,
    /// Most peers kept for gossip only ([`NetConfig::max_gossip_only_peers`]).
    max_gossip_only: usize,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("local", self.swarm.local_peer_id())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// Builds the swarm and starts listening. Must run inside a tokio runtime.
    pub(crate) fn new(
        keypair: identity::Keypair,
        cfg: &NetConfig,
        checked: Checked,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
    ) -> Result<EventLoop, NetError> {
        let topic = IdentTopic::new(GOSSIP_TOPIC);
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(cfg.max_connections))
            .with_max_established_per_peer(Some(cfg.max_connections_per_peer));
        let with_mdns = cfg.mdns;
        let ping_config = ping::Config::new()
            .with_interval(PING_INTERVAL)
            .with_timeout(checked.ping_timeout);
        let gossip_topic = topic.clone();
        let read_deadlines = ReadDeadlines {
            frame_timeout: checked.frame_timeout,
            rate_bps: cfg.link_rate_bps.unwrap_or(ASSUMED_MIN_RATE_BPS),
        };
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(setup_err)?
            .with_quic()
            .with_behaviour(
                |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                    let gossip_config = gossipsub::ConfigBuilder::default()
                        .validation_mode(gossipsub::ValidationMode::None)
                        .validate_messages()
                        .message_id_fn(message_id)
                        .max_transmit_size(GOSSIP_MAX_TRANSMIT)
                        .max_control_message_size(GOSSIP_MAX_TRANSMIT)
                        .max_control_messages_sent(GOSSIP_MAX_IHAVE)
                        .connection_handler_queue_len(GOSSIP_QUEUE_LEN)
                        .build()?;
                    let mut gossipsub =
                        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)?;
                    gossipsub.subscribe(&gossip_topic)?;
                    let gossipsub = crate::gossip::Behaviour::new(gossipsub, read_deadlines);
                    let mdns = if with_mdns {
                        Some(mdns::tokio::Behaviour::new(
                            mdns::Config::default(),
                            key.public().to_peer_id(),
                        )?)
                    } else {
                        None
                    };
                    Ok(Behaviour {
                        gate: Gate::default(),
                        limits: connection_limits::Behaviour::new(limits),
                        identify: identify::Behaviour::new(identify::Config::new(
                            IDENTIFY_PROTOCOL.to_owned(),
                            key.public(),
                        )),
                        ping: crate::ping::Behaviour::new(ping_config),
                        mdns: Toggle::from(mdns),
                        gossipsub,
                        sync: SyncBehaviour::default(),
                    })
                },
            )
            .map_err(setup_err)?
            .with_swarm_config(|c| c.with_idle_connection_timeout(checked.idle_timeout))
            .build();

        for addr in &checked.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::listen(addr, &e))?;
        }
        let now = Instant::now();
        let statics = checked
            .static_peers
            .into_iter()
            .map(|s| Redial {
                peer: s.peer,
                addrs: s.addrs,
                backoff: checked.redial_min,
                next: Some(now),
                dialing: None,
            })
            .collect();
        let (from_streams_tx, from_streams) = mpsc::channel(STREAM_CHANNEL_CAP);
        Ok(EventLoop {
            swarm,
            commands,
            events,
            pending: VecDeque::new(),
            from_streams_tx,
            from_streams,
            peers: HashMap::new(),
            statics,
            topic,
            validations: VecDeque::new(),
            next_session: 0,
            link_rate_bps: cfg.link_rate_bps,
            mdns: cfg.mdns,
            redial_min: checked.redial_min,
            redial_max: checked.redial_max,
            read_deadlines,
            max_gossip_only: cfg.max_gossip_only_peers as usize,
        })
    }

    /// Runs until shut down, or until every handle or the event receiver is dropped.
    pub(crate) async fn run(mut self) {
        let mut reply = None;
        // Commands served in a row; at COMMAND_BURST the other branches get a turn.
        let mut streak = 0;
        loop {
            let wake = self.next_wake();
            // Stop reading the network while the engine is behind (local work first).
            let reading = self.pending.len() < PENDING_EVENTS_CAP;
            let commands_turn = streak < COMMAND_BURST;
            let mut served_command = false;
            tokio::select! {
                biased;
                command = self.commands.recv(), if commands_turn => match command {
                    Some(Command::Shutdown { reply: r }) => {
                        reply = Some(r);
                        break;
                    }
                    Some(command) => {
                        self.on_command(command);
                        served_command = true;
                    }
                    None => break,
                },
                // An owned permit, so that no branch's output borrows `self`.
                permit = self.events.clone().reserve_owned(), if !self.pending.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.pending.pop_front() {
                            permit.send(event);
                        }
                    }
                    Err(_) => break,
                },
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    self.on_timer();
                }
                Some(message) = self.from_streams.recv(), if reading => self.on_stream(message),
                event = self.swarm.select_next_some(), if reading => self.on_swarm_event(event),
                // After a burst of commands, give whatever else is ready one turn, then go on.
                () = std::future::ready(()), if !commands_turn => {}
            }
            streak = if served_command { streak + 1 } else { 0 };
            if self.events.is_closed() {
                break;
            }
        }
        self.shutdown().await;
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }

    /// Queues an event for the engine, in order.
    fn emit(&mut self, event: NetEvent) {
        if self.pending.is_empty() {
            match self.events.try_send(event) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(event)) => self.pending.push_back(event),
            }
        } else {
            self.pending.push_back(event);
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let redial = self.statics.iter().filter_map(|s| s.next).min();
        let expiry = self.swarm.behaviour().gate.next_expiry();
        match (redial, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts a dial that the gate will let through.
    fn dial(&mut self, opts: DialOpts) -> Result<ConnectionId, NetError> {
        let id = opts.connection_id();
        if !self.swarm.behaviour_mut().gate.allow_dial(id) {
            return Err(NetError::Dial("too many dials in flight".to_owned()));
        }
        match self.swarm.dial(opts) {
            Ok(()) => Ok(id),
            Err(e) => {
                self.swarm.behaviour_mut().gate.forget_dial(id);
                Err(NetError::Dial(e.to_string()))
            }
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        self.swarm.behaviour_mut().gate.expire(now);
        for i in 0..self.statics.len() {
            let (peer, due) = (self.statics[i].peer, self.statics[i].next);
            if due.is_none_or(|t| t > now) {
                continue;
            }
            self.statics[i].next = None;
            if self.peers.contains_key(&peer) {
                continue;
            }
            if let Some(until) = self.swarm.behaviour().gate.blocked_until(&peer) {
                self.statics[i].next = Some(until);
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(self.statics[i].addrs.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.dial(opts) {
                Ok(id) => self.statics[i].dialing = Some(id),
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "static peer dial not started");
                    self.schedule_redial(i, now);
                }
            }
        }
    }

    /// Schedules the next dial of static peer `i` after its backoff, and grows the backoff.
    fn schedule_redial(&mut self, i: usize, now: Instant) {
        let blocked = self
            .swarm
            .behaviour()
            .gate
            .blocked_until(&self.statics[i].peer);
        let s = &mut self.statics[i];
        let at = now + s.backoff;
        s.next = Some(blocked.map_or(at, |until| until.max(at)));
        s.backoff = (s.backoff * 2).min(self.redial_max);
        s.dialing = None;
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send { peer, frame } => self.send_frame(peer, frame),
            Command::Publish { id, bytes } => {
                match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topic.clone(), bytes.to_vec())
                {
                    Ok(message_id) => {
                        if record_of(&message_id) != Some(id) {
                            tracing::warn!(%message_id, "published bytes are not the record named");
                        }
                    }
                    // No peer in the topic, or already seen: sync carries the record anyway.
                    Err(e) => tracing::debug!(error = %e, "gossip publish"),
                }
            }
            Command::Verdict { peer, id, verdict } => self.verdict(peer, id, verdict),
            Command::Disconnect { peer, until_ms } => self.refuse(peer, until_ms),
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.dial_addr(addr));
            }
            Command::Peers { reply } => {
                let peers = self
                    .peers
                    .values()
                    .filter(|p| !p.gossip_only())
                    .map(|p| (p.key, p.conns.iter().map(|(_, a)| a.clone()).collect()))
                    .collect();
                let _ = reply.send(peers);
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Shutdown { reply } => {
                // Handled in `run`; unreachable here, but harmless.
                let _ = reply.send(());
            }
        }
    }

    fn send_frame(&mut self, key: PublicKey, frame: Vec<u8>) {
        let Ok(peer) = crate::peer_id(&key) else {
            return;
        };
        let Some(p) = self.peers.get(&peer).filter(|p| !p.gossip_only()) else {
            tracing::trace!(%peer, "frame for a peer that is not up dropped");
            return;
        };
        match p.frames.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(%peer, "sync write queue full: disconnecting the stalled peer");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            // The writer has failed and reported it; the peer is being disconnected.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn verdict(&mut self, key: PublicKey, id: Option<RecordId>, verdict: Verdict) {
        let Ok(peer) = crate::peer_id(&key) else {
            return;
        };
        let found = match id {
            Some(_) => self.validations.iter().position(|p| p.record == id),
            None => self
                .validations
                .iter()
                .position(|p| p.record.is_none() && p.source == peer),
        };
        let Some(pending) = found.and_then(|i| self.validations.remove(i)) else {
            tracing::trace!(%peer, "verdict for no pending gossip message");
            return;
        };
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Ignore => MessageAcceptance::Ignore,
            Verdict::Reject => MessageAcceptance::Reject,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&pending.message_id, &pending.source, acceptance);
    }

    fn refuse(&mut self, key: PublicKey, until_ms: u64) {
        let Ok(peer) = crate::peer_id(&key) else {
            return;
        };
        let wait = Duration::from_millis(until_ms.saturating_sub(now_ms())).min(MAX_REFUSAL);
        if !wait.is_zero() {
            let until = Instant::now() + wait;
            self.swarm.behaviour_mut().gate.block(peer, until);
            if let Some(s) = self.statics.iter_mut().find(|s| s.peer == peer) {
                s.next = Some(until);
            }
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn dial_addr(&mut self, mut addr: Multiaddr) -> Result<(), NetError> {
        let opts = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => {
                addr.pop();
                DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build()
            }
            _ => DialOpts::unknown_peer_id().address(addr).build(),
        };
        self.dial(opts).map(|_| ())
    }

    fn on_stream(&mut self, message: FromStream) {
        let (peer, session) = match &message {
            FromStream::Frame { peer, session, .. }
            | FromStream::Malformed { peer, session }
            | FromStream::Failed { peer, session }
            | FromStream::TimedOut { peer, session }
            | FromStream::Written { peer, session, .. } => (*peer, *session),
        };
        let Some(p) = self.peers.get(&peer).filter(|p| p.session == session) else {
            return;
        };
        let key = p.key;
        match message {
            FromStream::Frame { bytes, .. } => self.emit(NetEvent::Frame { peer: key, bytes }),
            FromStream::Malformed { .. } => self.emit(NetEvent::Malformed { peer: key }),
            FromStream::Written { frames, .. } => {
                self.emit(NetEvent::Written { peer: key, frames })
            }
            FromStream::Failed { .. } => {
                tracing::debug!(%peer, "sync stream failed: disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            // Too slow is no fault (a link can fade), but the contact cannot go on without
            // the frame: end it, so that the engine takes back what it handed over.
            FromStream::TimedOut { .. } => {
                tracing::info!(%peer, "sync stream read timed out: disconnecting");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    fn on_sync(&mut self, event: SyncEvent) {
        match event {
            SyncEvent::Inbound { peer, stream } => self.on_inbound_stream(peer, stream),
            SyncEvent::Outbound {
                peer,
                connection,
                stream,
            } => {
                // Anything else is a stream asked for by an earlier contact: dropped.
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                if !matches!(p.writer, WriterState::Opening(c) if c == connection) {
                    return;
                }
                let Some(queue) = p.queue.take() else {
                    return;
                };
                let task =
                    write_frames(stream, peer, p.session, queue, self.from_streams_tx.clone());
                p.writer = WriterState::Writing(connection, Task(tokio::spawn(task)));
            }
            SyncEvent::OutboundFailed {
                peer,
                connection,
                error,
                unsupported,
            } => self.on_sync_refused(peer, connection, &error, unsupported),
        }
    }

    /// The outbound sync stream asked for on `connection` could not be opened. A peer that
    /// does not speak the protocol is kept for gossip only while there is room
    /// ([`NetConfig::max_gossip_only_peers`]); any other failure ends the contact.
    fn on_sync_refused(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        error: &str,
        unsupported: bool,
    ) {
        let current = self
            .peers
            .get(&peer)
            .is_some_and(|p| matches!(p.writer, WriterState::Opening(c) if c == connection));
        if !current {
            return;
        }
        let kept = self.peers.values().filter(|p| p.gossip_only()).count();
        if unsupported && kept < self.max_gossip_only {
            self.keep_gossip_only(peer);
        } else {
            tracing::debug!(%peer, %error, kept, "sync stream not opened: disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Keeps `peer`'s connections for gossip only: it is no contact of the engine's (which
    /// hears `PeerDown` now, and nothing more of the peer but its gossip), it costs no queue,
    /// no stream and no task here, and its sync streams are refused.
    fn keep_gossip_only(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        tracing::info!(%peer, "peer speaks no sync: kept for gossip only");
        p.writer = WriterState::GossipOnly;
        p.queue = None;
        p.reader_task = None;
        let key = p.key;
        self.emit(NetEvent::PeerDown { peer: key });
    }

    fn on_inbound_stream(&mut self, peer: PeerId, stream: Stream) {
        let Some(p) = self.peers.get_mut(&peer).filter(|p| !p.gossip_only()) else {
            tracing::debug!(%peer, "inbound sync stream from a peer that is not up dropped");
            return;
        };
        // One reader per peer: a new stream replaces the old (the peer reopened it).
        let reader = read_frames(
            stream,
            peer,
            p.session,
            self.read_deadlines,
            self.from_streams_tx.clone(),
        );
        p.reader_task = Some(Task(tokio::spawn(reader)));
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.emit(NetEvent::Listening { addr: address });
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => self.on_connection_established(peer_id, connection_id, &endpoint),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                ..
            } => self.on_connection_closed(peer_id, connection_id),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
                if let Some(i) = self
                    .statics
                    .iter()
                    .position(|s| s.dialing == Some(connection_id))
                {
                    self.schedule_redial(i, Instant::now());
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(ping::Failure::Timeout),
            })) => {
                tracing::debug!(%peer, "ping timed out: closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(crate::gossip::Event::Gossip(
                event,
            ))) => {
                self.on_gossip(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(crate::gossip::Event::Broken {
                peer,
                error,
            })) => self.on_gossip_broken(peer, &error),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.on_discovered(found);
            }
            _ => {}
        }
    }

    fn on_connection_established(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let addr = endpoint.get_remote_address().clone();
        if let Some(s) = self.statics.iter_mut().find(|s| s.peer == peer) {
            s.next = None;
            s.dialing = None;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.conns.push((connection, addr));
            return;
        }
        let Ok(key) = crate::public_key(&peer) else {
            // The gate refuses these; never report a peer that is not a haiqiao key.
            self.swarm.close_connection(connection);
            return;
        };
        let session = self.next_session;
        self.next_session += 1;
        let (frames, queue) = mpsc::channel(PEER_WRITE_QUEUE_CAP);
        self.swarm.behaviour_mut().sync.open(peer, connection);
        self.peers.insert(
            peer,
            Peer {
                key,
                conns: vec![(connection, addr)],
                session,
                up_since: Instant::now(),
                frames,
                queue: Some(queue),
                writer: WriterState::Opening(connection),
                reader_task: None,
            },
        );
        self.emit(NetEvent::PeerUp {
            peer: key,
            rate_bps: self.link_rate_bps,
        });
    }

    fn on_connection_closed(&mut self, peer: PeerId, connection: ConnectionId) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.conns.retain(|(c, _)| *c != connection);
        if let Some((other, _)) = p.conns.first() {
            let other = *other;
            match p.writer {
                // The stream was still being opened: nothing was written yet, so ask again on
                // a connection that is left.
                WriterState::Opening(c) if c == connection => {
                    p.writer = WriterState::Opening(other);
                    self.swarm.behaviour_mut().sync.open(peer, other);
                }
                // The stream went with its connection, and frames may have gone with it: end
                // the contact, so that the engine takes back what it handed over.
                WriterState::Writing(c, _) if c == connection => {
                    tracing::debug!(%peer, "connection of the sync stream closed: disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                _ => {}
            }
            return;
        }
        let Some(p) = self.peers.remove(&peer) else {
            return;
        };
        let now = Instant::now();
        if let Some(i) = self.statics.iter().position(|s| s.peer == peer) {
            if now.duration_since(p.up_since) >= STABLE_CONTACT {
                self.statics[i].backoff = self.redial_min;
            }
            self.schedule_redial(i, now);
        }
        // Dropping `p` aborts its reader and writer before the engine hears `PeerDown`
        // (which a peer kept for gossip only has had already).
        let (key, contact) = (p.key, !p.gossip_only());
        drop(p);
        if contact {
            self.emit(NetEvent::PeerDown { peer: key });
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let Ok(key) = crate::public_key(&propagation_source) else {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Reject,
                        );
                    return;
                };
                if self.validations.len() >= MAX_PENDING_VALIDATIONS
                    && let Some(old) = self.validations.pop_front()
                {
                    // The engine never answered: do not forward what it has not judged.
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &old.message_id,
                            &old.source,
                            MessageAcceptance::Ignore,
                        );
                }
                let record = record_of(&message_id);
                self.validations.push_back(Pending {
                    message_id,
                    source: propagation_source,
                    record,
                });
                self.emit(NetEvent::Gossip {
                    peer: key,
                    bytes: message.data,
                });
            }
            gossipsub::Event::Subscribed { peer_id, topic, .. } if topic == self.topic.hash() => {
                if let Ok(key) = crate::public_key(&peer_id) {
                    self.emit(NetEvent::GossipJoined { peer: key });
                }
            }
            _ => {}
        }
    }

    /// A peer's inbound gossip stream could not be read (see `gossip.rs`): it would be muted
    /// for the rest of the connection, so the connection ends. A contact's engine also hears
    /// of it as [`NetEvent::Malformed`] (the penalty is its call).
    fn on_gossip_broken(&mut self, peer: PeerId, error: &str) {
        tracing::info!(%peer, %error, "gossip stream unreadable: disconnecting");
        if let Some(p) = self.peers.get(&peer).filter(|p| !p.gossip_only()) {
            let key = p.key;
            self.emit(NetEvent::Malformed { peer: key });
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn on_discovered(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        if !self.mdns {
            return;
        }
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, addr) in found {
            by_peer.entry(peer).or_default().push(addr);
        }
        for (peer, addrs) in by_peer {
            if peer == *self.swarm.local_peer_id()
                || self.peers.contains_key(&peer)
                || self.swarm.behaviour().gate.blocked_until(&peer).is_some()
            {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.dial(opts) {
                tracing::debug!(%peer, error = %e, "mdns dial not started");
            }
        }
    }

    /// Lets writers flush, closes every connection, and drops the swarm.
    async fn shutdown(mut self) {
        let peers = std::mem::take(&mut self.peers);
        let mut writers = Vec::with_capacity(peers.len());
        for (_, p) in peers {
            let Peer {
                frames,
                writer,
                reader_task,
                ..
            } = p;
            drop(frames); // the writer closes its stream once its queue is empty
            drop(reader_task);
            if let WriterState::Writing(_, task) = writer {
                writers.push(task);
            }
        }
        let _ = timeout(SHUTDOWN_GRACE, async {
            for w in &mut writers {
                let _ = (&mut w.0).await;
            }
        })
        .await;
        drop(writers);
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in connected {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let _ = timeout(SHUTDOWN_GRACE, async {
            while self.swarm.connected_peers().next().is_some() {
                let _ = self.swarm.select_next_some().await;
            }
        })
        .await;
    }
}

/// Frames written between two reports of [`NetEvent::Written`] at most.
const WRITTEN_REPORT_BATCH: u32 = 8;

/// Writes every queued frame to the outbound sync stream of `peer`, in order. Ends cleanly
/// (closing the stream) when the queue's sender is dropped.
async fn write_frames(
    mut stream: Stream,
    peer: PeerId,
    session: u64,
    mut queue: mpsc::Receiver<Vec<u8>>,
    report: mpsc::Sender<FromStream>,
) {
    let result: io::Result<()> = async {
        let mut written = 0u32;
        while let Some(frame) = queue.recv().await {
            frame::write_frame(&mut stream, &frame).await?;
            written += 1;
            // Report in batches, and whenever the queue runs dry, so that the engine's send
            // window (which stays below the queue's capacity) never waits on a report.
            if written >= WRITTEN_REPORT_BATCH || queue.is_empty() {
                let message = FromStream::Written {
                    peer,
                    session,
                    frames: std::mem::take(&mut written),
                };
                if report.send(message).await.is_err() {
                    break;
                }
            }
        }
        stream.close().await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "sync stream write failed");
        let _ = report.send(FromStream::Failed { peer, session }).await;
    }
}

/// Reads one frame within the deadlines: the first frame of a stream must begin within
/// `frame_timeout` of the stream opening (the peer sends its hello at once); every frame must
/// end within [`ReadDeadlines::frame`] of its first byte. `Ok(None)` is a clean end.
async fn read_frame_timed<R: AsyncRead + Unpin>(
    r: &mut R,
    first: bool,
    d: ReadDeadlines,
) -> Result<Option<Vec<u8>>, FrameError> {
    let byte = if first {
        timeout(d.frame_timeout, frame::read_first_byte(r))
            .await
            .map_err(|_| FrameError::TimedOut)??
    } else {
        frame::read_first_byte(r).await?
    };
    let Some(byte) = byte else {
        return Ok(None);
    };
    let started = Instant::now();
    let len = timeout(d.frame_timeout, frame::read_len(r, byte))
        .await
        .map_err(|_| FrameError::TimedOut)??;
    let body = timeout_at(started + d.frame(len), frame::read_body(r, len))
        .await
        .map_err(|_| FrameError::TimedOut)??;
    Ok(Some(body))
}

/// Reads frames from an inbound sync stream until it ends, breaks the framing or is too slow.
async fn read_frames(
    stream: Stream,
    peer: PeerId,
    session: u64,
    deadlines: ReadDeadlines,
    report: mpsc::Sender<FromStream>,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER_LEN, stream);
    let mut first = true;
    loop {
        let message = match read_frame_timed(&mut reader, first, deadlines).await {
            Ok(Some(bytes)) => {
                debug_assert!(bytes.len() <= MAX_FRAME_LEN);
                FromStream::Frame {
                    peer,
                    session,
                    bytes,
                }
            }
            Ok(None) => return,
            Err(e) if e.is_malformed() => {
                tracing::debug!(%peer, error = %e, "malformed sync frame: closing the stream");
                let _ = report.send(FromStream::Malformed { peer, session }).await;
                return;
            }
            Err(FrameError::TimedOut) => {
                let _ = report.send(FromStream::TimedOut { peer, session }).await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "sync stream read ended");
                return;
            }
        };
        first = false;
        if report.send(message).await.is_err() {
            return;
        }
    }
}
