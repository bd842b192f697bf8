//! Gossipsub, with a peer's inbound stream read here so that a stream the codec gives up on is
//! reported instead of going quiet.
//!
//! libp2p-gossipsub (0.50) reads each peer's inbound stream inside its connection handler.
//! When a read fails — an RPC longer than `max_transmit_size`, bad protobuf — the handler
//! closes its half of the stream and drops it, with a debug log and nothing else: no event to
//! the application, no penalty. A peer that does not notice (js-libp2p keeps writing to its
//! outbound stream) is muted for the rest of the connection: every later message is lost.
//! Worse, its codec compares the whole read buffer against the limit, not the RPC being read,
//! so two RPCs of a little over half the limit sent back to back trip it too (the buffer is
//! filled 8 KiB at a time); and the handler disables itself for good after five inbound streams.
//!
//! This wrapper takes the inbound stream the handler negotiated (the same framed stream, the
//! same codec) and reads it itself, handing every decoded RPC to the gossipsub behaviour
//! exactly as the handler would. When a read fails it drops the stream and reports
//! [`Event::Broken`]; the driver then disconnects the peer. Everything else (the outbound
//! stream, the mesh, publishing, validation) is gossipsub's own. The limit itself is set well
//! above any honest RPC ([`crate::GOSSIP_MAX_TRANSMIT`]): a message that is too large for a
//! record but within it reaches the engine, which rejects it with a penalty, and the stream
//! goes on.
//!
//! The wrapper also puts a read deadline on the stream, as on the sync streams
//! ([`ReadDeadlines`]): once the first byte of an RPC has arrived, the whole RPC must arrive
//! within `frame_timeout_secs` plus its transmission time at the link rate (its length is
//! read from its varint prefix), or the stream counts as broken. Between RPCs the stream may
//! stay silent.

use std::collections::VecDeque;
use std::future::Future as _;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::StreamExt as _;
use futures::future::Either;
use libp2p::PeerId;

use libp2p::gossipsub;
use libp2p::swarm::handler::{
    ConnectionEvent, ConnectionHandler, ConnectionHandlerEvent, FullyNegotiatedInbound,
    InboundUpgradeSend, SubstreamProtocol,
};
use libp2p::swarm::{
    ConnectionId, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use tokio::time::{Instant, Sleep, sleep_until};

use crate::frame::ReadDeadlines;

/// libp2p-gossipsub's connection handler.
type Inner = THandler<gossipsub::Behaviour>;
/// What the inner handler reports to its behaviour.
type InnerOut = <Inner as ConnectionHandler>::ToBehaviour;
/// A negotiated inbound gossipsub stream: the framed stream and the peer's protocol version.
type Inbound = <<Inner as ConnectionHandler>::InboundProtocol as InboundUpgradeSend>::Output;

/// Broken inbound streams waiting to be reported. One connection reports at most one per
/// inbound stream, and the driver disconnects the peer at the first, so this stays short;
/// past it the oldest report is dropped (its peer has been reported already, or will be).
const MAX_BROKEN_QUEUED: usize = 64;

/// What the wrapped behaviour reports.
#[derive(Debug)]
pub(crate) enum Event {
    /// Gossipsub's own event.
    Gossip(gossipsub::Event),
    /// A peer's inbound gossip stream could not be read (an RPC over the size limit, or not
    /// protobuf); the stream has been dropped.
    Broken { peer: PeerId, error: String },
}

/// See the module docs. Derefs to the gossipsub behaviour for publishing and validation.
pub(crate) struct Behaviour {
    inner: gossipsub::Behaviour,
    broken: VecDeque<(PeerId, String)>,
    deadlines: ReadDeadlines,
}

impl Behaviour {
    pub(crate) fn new(inner: gossipsub::Behaviour, deadlines: ReadDeadlines) -> Behaviour {
        Behaviour {
            inner,
            broken: VecDeque::new(),
            deadlines,
        }
    }

    /// Wraps the inner handler of an established connection (see `wrap.rs`).
    fn wrap_handler(&self, inner: Inner) -> Handler {
        Handler::new(inner, self.deadlines)
    }
}

impl Deref for Behaviour {
    type Target = gossipsub::Behaviour;
    fn deref(&self) -> &gossipsub::Behaviour {
        &self.inner
    }
}

impl DerefMut for Behaviour {
    fn deref_mut(&mut self) -> &mut gossipsub::Behaviour {
        &mut self.inner
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    crate::wrap::delegate_connections!();

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            HandlerOut::Inner(event) => {
                self.inner
                    .on_connection_handler_event(peer, connection, event);
            }
            HandlerOut::Broken(error) => {
                if self.broken.len() >= MAX_BROKEN_QUEUED {
                    self.broken.pop_front();
                }
                self.broken.push_back((peer, error));
            }
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer, error)) = self.broken.pop_front() {
            return Poll::Ready(ToSwarm::GenerateEvent(Event::Broken { peer, error }));
        }
        self.inner.poll(cx).map(|e| e.map_out(Event::Gossip))
    }
}

/// What the wrapping handler reports.
#[derive(Debug)]
pub(crate) enum HandlerOut {
    /// The inner handler's event, or an RPC read from the inbound stream.
    Inner(InnerOut),
    /// The inbound stream could not be read and was dropped.
    Broken(String),
}

/// Gossipsub's handler, but the inbound stream is read here (see the module docs).
pub(crate) struct Handler {
    inner: Inner,
    inbound: Option<Inbound>,
    deadlines: ReadDeadlines,
    /// Set while part of an RPC is buffered: when its first byte was seen, and the timer.
    partial: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl Handler {
    fn new(inner: Inner, deadlines: ReadDeadlines) -> Handler {
        Handler {
            inner,
            inbound: None,
            deadlines,
            partial: None,
        }
    }

    fn drop_inbound(&mut self) {
        self.inbound = None;
        self.partial = None;
    }

    /// Reads the next RPC from the inbound stream, if one is ready.
    fn poll_inbound(&mut self, cx: &mut Context<'_>) -> Poll<HandlerOut> {
        let Some(Either::Left((stream, _))) = self.inbound.as_mut() else {
            return Poll::Pending;
        };
        match stream.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(rpc))) => {
                self.partial = None;
                return Poll::Ready(HandlerOut::Inner(rpc));
            }
            Poll::Ready(Some(Err(e))) => {
                self.drop_inbound();
                return Poll::Ready(HandlerOut::Broken(e.to_string()));
            }
            // The peer closed its stream; it opens another when it has more to say.
            Poll::Ready(None) => {
                self.drop_inbound();
                return Poll::Pending;
            }
            Poll::Pending => {}
        }
        // Waiting for more: a partial RPC in the buffer runs against its deadline.
        let buffered = stream.read_buffer();
        if buffered.is_empty() {
            self.partial = None;
            return Poll::Pending;
        }
        let len = announced_len(buffered).map_or(0, |n| n.min(crate::GOSSIP_MAX_TRANSMIT));
        let (started, timer) = self
            .partial
            .get_or_insert_with(|| (Instant::now(), Box::pin(sleep_until(Instant::now()))));
        let deadline = *started + self.deadlines.frame(len);
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_ready() {
            self.drop_inbound();
            return Poll::Ready(HandlerOut::Broken(format!(
                "an RPC of {len} bytes did not arrive in time"
            )));
        }
        Poll::Pending
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = <Inner as ConnectionHandler>::FromBehaviour;
    type ToBehaviour = HandlerOut;
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
        if let Poll::Ready(out) = self.poll_inbound(cx) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(out));
        }
        self.inner.poll(cx).map(|e| e.map_custom(HandlerOut::Inner))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx).map(|e| e.map(HandlerOut::Inner))
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
        match event {
            // A new inbound stream replaces the old one, as in gossipsub's handler.
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => {
                self.inbound = Some(protocol);
                self.partial = None;
            }
            event => self.inner.on_connection_event(event),
        }
    }
}

/// The length an RPC's unsigned-varint prefix announces, once the prefix is complete.
fn announced_len(buf: &[u8]) -> Option<usize> {
    let mut len: usize = 0;
    for (i, b) in buf.iter().take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(len);
        }
    }
    None
}
