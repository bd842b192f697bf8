//! The gate: a behaviour with no protocol of its own that decides which connections may exist.
//!
//! - Only the driver dials. Every dial the driver starts registers its connection id here
//!   first; any other dial is denied. No behaviour in the swarm dials on its own today; this
//!   keeps it so (libp2p-stream, for one, redials a peer when asked for a stream after the
//!   connection closed, which against a peer that refuses us becomes a tight loop).
//! - Peers whose id is not an ed25519 key are refused (a haiqiao peer is a signing key).
//! - Peers that the engine disconnected are refused, both ways, until their time is up.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::{Endpoint, Multiaddr, transport::PortUse};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use tokio::time::Instant;

/// Most dials in flight at once.
pub(crate) const MAX_DIALS_IN_FLIGHT: usize = 64;
/// Most peers refused at once; past this the refusal that ends soonest is dropped.
pub(crate) const MAX_BLOCKED_PEERS: usize = 1024;

/// Why the gate refused a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// A dial the driver did not start.
    #[error("dial not started by haiqiao-net")]
    UnknownDial,
    /// The peer is refused until a time.
    #[error("peer refused until later")]
    Blocked,
    /// The peer's id is not an ed25519 key.
    #[error("peer id is not an ed25519 key")]
    NotEd25519,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    dials: HashSet<ConnectionId>,
    blocked: HashMap<PeerId, Instant>,
}

impl Gate {
    /// Registers a dial the driver is about to start; false if too many are in flight.
    pub(crate) fn allow_dial(&mut self, id: ConnectionId) -> bool {
        if self.dials.len() >= MAX_DIALS_IN_FLIGHT {
            return false;
        }
        self.dials.insert(id);
        true
    }

    /// Forgets a registered dial that was not started after all.
    pub(crate) fn forget_dial(&mut self, id: ConnectionId) {
        self.dials.remove(&id);
    }

    /// Refuses `peer` until `until`.
    pub(crate) fn block(&mut self, peer: PeerId, until: Instant) {
        let now = Instant::now();
        self.blocked.retain(|_, t| *t > now);
        if self.blocked.len() >= MAX_BLOCKED_PEERS
            && !self.blocked.contains_key(&peer)
            && let Some(soonest) = self
                .blocked
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(p, _)| *p)
        {
            self.blocked.remove(&soonest);
        }
        let entry = self.blocked.entry(peer).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Until when `peer` is refused, if it is now.
    pub(crate) fn blocked_until(&self, peer: &PeerId) -> Option<Instant> {
        self.blocked
            .get(peer)
            .copied()
            .filter(|t| *t > Instant::now())
    }

    /// Drops refusals that have ended.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.blocked.retain(|_, t| *t > now);
    }

    /// The soonest end of a refusal.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.blocked.values().min().copied()
    }

    fn check_peer(&self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        if crate::identity::public_key(peer).is_err() {
            return Err(ConnectionDenied::new(Refused::NotEd25519));
        }
        if self.blocked_until(peer).is_some() {
            return Err(ConnectionDenied::new(Refused::Blocked));
        }
        Ok(())
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if !self.dials.contains(&connection_id) {
            return Err(ConnectionDenied::new(Refused::UnknownDial));
        }
        if let Some(peer) = maybe_peer {
            self.check_peer(&peer)?;
        }
        Ok(Vec::new())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_peer(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check_peer(&peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.dials.remove(&e.connection_id);
            }
            FromSwarm::DialFailure(e) => {
                self.dials.remove(&e.connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
