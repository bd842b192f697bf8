//! Ping (`/ipfs/ping/1.0.0`) that keeps answering a peer which does not answer ours.
//!
//! libp2p-ping's handler (0.48) turns itself off for good when the peer refuses our outbound
//! ping stream (`StreamUpgradeError::NegotiationFailed`): from then on its `poll` returns
//! before it reaches the inbound side, so the peer's own pings are read by nobody and never
//! answered. js-libp2p's connection monitor pings every peer whether or not the node runs a
//! ping service of its own, and closes a connection whose pings go unanswered: such a peer
//! dropped every haiqiao node after about 15 s (issue 10, item 6).
//!
//! This wrapper hides that one error from the inner handler. The inner handler then stays
//! "opening a stream" for the life of the connection (it sends no more pings of its own) but
//! keeps answering the peer's pings; the wrapper reports [`ping::Failure::Unsupported`] once,
//! as the inner handler would have. Such a connection has no ping timeout of ours: it closes
//! when its transport does, or when the idle timeout finds no stream open on it.

use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::PeerId;

use libp2p::ping;
use libp2p::swarm::handler::{
    ConnectionEvent, ConnectionHandler, ConnectionHandlerEvent, DialUpgradeError,
    StreamUpgradeError, SubstreamProtocol,
};
use libp2p::swarm::{
    ConnectionId, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};

/// libp2p-ping's connection handler.
type Inner = THandler<ping::Behaviour>;

/// See the module docs.
pub(crate) struct Behaviour {
    inner: ping::Behaviour,
}

impl Behaviour {
    pub(crate) fn new(config: ping::Config) -> Behaviour {
        Behaviour {
            inner: ping::Behaviour::new(config),
        }
    }

    /// Wraps the inner handler of an established connection (see `wrap.rs`).
    fn wrap_handler(&self, inner: Inner) -> Handler {
        Handler::new(inner)
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = ping::Event;

    crate::wrap::delegate_connections!();

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer, connection, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// Whether the peer refused our ping stream, and whether that was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    No,
    Unreported,
    Reported,
}

/// libp2p-ping's handler, minus the switch-off (see the module docs).
pub(crate) struct Handler {
    inner: Inner,
    refused: Refused,
}

impl Handler {
    fn new(inner: Inner) -> Handler {
        Handler {
            inner,
            refused: Refused::No,
        }
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = <Inner as ConnectionHandler>::FromBehaviour;
    type ToBehaviour = Result<Duration, ping::Failure>;
    type InboundProtocol = <Inner as ConnectionHandler>::InboundProtocol;
    type OutboundProtocol = <Inner as ConnectionHandler>::OutboundProtocol;
    type InboundOpenInfo = <Inner as ConnectionHandler>::InboundOpenInfo;
    type OutboundOpenInfo = <Inner as ConnectionHandler>::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        if self.refused == Refused::Unreported {
            self.refused = Refused::Reported;
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(Err(
                ping::Failure::Unsupported,
            )));
        }
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            '_,
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        if let ConnectionEvent::DialUpgradeError(DialUpgradeError {
            error: StreamUpgradeError::NegotiationFailed,
            ..
        }) = event
        {
            // Kept from the inner handler, which would stop answering the peer's pings.
            if self.refused == Refused::No {
                self.refused = Refused::Unreported;
            }
            return;
        }
        self.inner.on_connection_event(event);
    }
}
