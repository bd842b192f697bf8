//! The event loop: owns the swarm, serves commands, turns swarm events into [`NetEvent`]s.

mod ingress;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use haiqiao_proto::{PublicKey, RecordId};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::IdentTopic;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Stream, Swarm, identity, mdns, ping};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};

use crate::config::Checked;
use crate::frame::ReadDeadlines;
use crate::streams::{FromStream, Task, read_frames, write_frames};
use crate::swarm::{Behaviour, BehaviourEvent};
use crate::sync::SyncEvent;
use crate::{
    ASSUMED_MIN_RATE_BPS, GOSSIP_TOPIC, NetConfig, NetError, NetEvent, PEER_WRITE_QUEUE_CAP,
    PENDING_EVENTS_CAP, SHUTDOWN_GRACE, STABLE_CONTACT, STREAM_CHANNEL_CAP, Verdict,
};
use ingress::Pending;

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
        let read_deadlines = ReadDeadlines {
            frame_timeout: checked.frame_timeout,
            rate_bps: cfg.link_rate_bps.unwrap_or(ASSUMED_MIN_RATE_BPS),
        };
        let swarm = crate::swarm::build(keypair, cfg, &checked, &topic, read_deadlines)?;
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
            Command::Publish { id, bytes } => self.publish(id, &bytes),
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
