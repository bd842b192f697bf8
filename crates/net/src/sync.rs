//! The `/haiqiao/sync/1` behaviour: hands negotiated streams to the event loop, nothing more.
//!
//! The loop asks for one outbound stream on a chosen connection ([`SyncBehaviour::open`]) and
//! is told when it is negotiated or failed; every inbound stream is handed over as it comes.
//! The framing and the reading and writing happen in the loop's stream tasks ([`crate::frame`]).
//!
//! Why not libp2p-stream (0.5.0-alpha): its inbound side hands streams over through a channel
//! with one slot and drops a stream that arrives while the previous one is still untaken
//! (`Shared::on_inbound_stream`). With twelve peers coming up at one node at once (the test
//! `star_peers_arriving_together`), that lost a peer's stream, and with it its frames, in five
//! runs out of six. Here streams travel as connection-handler events, which the swarm delivers
//! with backpressure instead of dropping them.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::{Endpoint, Multiaddr, transport::PortUse};
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
    StreamUpgradeError,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{PeerId, Stream, StreamProtocol};

use crate::SYNC_PROTOCOL;

/// Streams a connection handler holds for the behaviour; past this, new inbound streams on
/// that connection are dropped (an honest peer opens one per contact).
const HANDLER_QUEUE_CAP: usize = 8;

fn protocol() -> ReadyUpgrade<StreamProtocol> {
    ReadyUpgrade::new(StreamProtocol::new(SYNC_PROTOCOL))
}

/// What the behaviour reports to the loop.
#[derive(Debug)]
pub(crate) enum SyncEvent {
    /// The peer opened a sync stream to us.
    Inbound { peer: PeerId, stream: Stream },
    /// The stream asked for with [`SyncBehaviour::open`] is ready.
    Outbound {
        peer: PeerId,
        connection: ConnectionId,
        stream: Stream,
    },
    /// The stream asked for could not be opened (the peer does not speak the protocol, or the
    /// connection failed).
    OutboundFailed {
        peer: PeerId,
        connection: ConnectionId,
        error: String,
        /// The peer does not speak `/haiqiao/sync/1` (protocol negotiation failed), as opposed
        /// to a stream that failed or timed out.
        unsupported: bool,
    },
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SyncBehaviour {
    /// Bounded by the loop: at most one `open` per contact, one event per handler event.
    queue: VecDeque<ToSwarm<SyncEvent, Open>>,
}

impl SyncBehaviour {
    /// Asks for an outbound sync stream to `peer` on `connection`.
    pub(crate) fn open(&mut self, peer: PeerId, connection: ConnectionId) {
        self.queue.push_back(ToSwarm::NotifyHandler {
            peer_id: peer,
            handler: NotifyHandler::One(connection),
            event: Open,
        });
    }
}

impl NetworkBehaviour for SyncBehaviour {
    type ConnectionHandler = SyncHandler;
    type ToSwarm = SyncEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(SyncHandler::default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(SyncHandler::default())
    }

    fn on_swarm_event(&mut self, _event: FromSwarm<'_>) {}

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        let event = match event {
            HandlerOut::Inbound(stream) => SyncEvent::Inbound { peer, stream },
            HandlerOut::Outbound(stream) => SyncEvent::Outbound {
                peer,
                connection,
                stream,
            },
            HandlerOut::OutboundFailed { error, unsupported } => SyncEvent::OutboundFailed {
                peer,
                connection,
                error,
                unsupported,
            },
        };
        self.queue.push_back(ToSwarm::GenerateEvent(event));
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.queue.pop_front() {
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }
}

/// The loop's request for an outbound stream.
#[derive(Debug)]
pub(crate) struct Open;

/// What a handler reports to the behaviour.
#[derive(Debug)]
pub(crate) enum HandlerOut {
    Inbound(Stream),
    Outbound(Stream),
    OutboundFailed { error: String, unsupported: bool },
}

/// One connection's handler: negotiates sync streams both ways.
#[derive(Debug, Default)]
pub(crate) struct SyncHandler {
    /// Outbound streams asked for and not yet requested from the connection.
    to_open: usize,
    out: VecDeque<HandlerOut>,
}

impl ConnectionHandler for SyncHandler {
    type FromBehaviour = Open;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(protocol(), ())
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(event) = self.out.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        if self.to_open > 0 {
            self.to_open -= 1;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(protocol(), ()),
            });
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, Open: Self::FromBehaviour) {
        // The loop opens one stream per contact; more would be a bug, not a reason to grow.
        self.to_open = (self.to_open + 1).min(HANDLER_QUEUE_CAP);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<'_, Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        let out = match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => HandlerOut::Inbound(stream),
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                ..
            }) => HandlerOut::Outbound(stream),
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => {
                HandlerOut::OutboundFailed {
                    unsupported: matches!(error, StreamUpgradeError::NegotiationFailed),
                    error: error.to_string(),
                }
            }
            _ => return,
        };
        if self.out.len() >= HANDLER_QUEUE_CAP {
            tracing::debug!("sync handler queue full: stream dropped");
            return;
        }
        self.out.push_back(out);
    }
}
