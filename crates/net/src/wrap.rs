//! What the two wrapping behaviours share (`gossip.rs`, `ping.rs`): each keeps a libp2p
//! behaviour in its `inner` field and hands every connection to it unchanged, then wraps the
//! handler the inner behaviour built for an established connection in its own handler (built
//! by the wrapper's `wrap_handler(&self, inner)`). Only what each wrapper changes is written
//! out in its own file.

/// The connection-setup methods of a `NetworkBehaviour` whose type has an `inner` behaviour and
/// a `fn wrap_handler(&self, inner) -> Handler`; goes inside the `impl NetworkBehaviour` block.
macro_rules! delegate_connections {
    () => {
        fn handle_pending_inbound_connection(
            &mut self,
            connection_id: libp2p::swarm::ConnectionId,
            local_addr: &libp2p::core::Multiaddr,
            remote_addr: &libp2p::core::Multiaddr,
        ) -> Result<(), libp2p::swarm::ConnectionDenied> {
            self.inner
                .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
        }

        fn handle_established_inbound_connection(
            &mut self,
            connection_id: libp2p::swarm::ConnectionId,
            peer: libp2p::PeerId,
            local_addr: &libp2p::core::Multiaddr,
            remote_addr: &libp2p::core::Multiaddr,
        ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
            let inner = self.inner.handle_established_inbound_connection(
                connection_id,
                peer,
                local_addr,
                remote_addr,
            )?;
            Ok(self.wrap_handler(inner))
        }

        fn handle_pending_outbound_connection(
            &mut self,
            connection_id: libp2p::swarm::ConnectionId,
            maybe_peer: Option<libp2p::PeerId>,
            addresses: &[libp2p::core::Multiaddr],
            effective_role: libp2p::core::Endpoint,
        ) -> Result<Vec<libp2p::core::Multiaddr>, libp2p::swarm::ConnectionDenied> {
            self.inner.handle_pending_outbound_connection(
                connection_id,
                maybe_peer,
                addresses,
                effective_role,
            )
        }

        fn handle_established_outbound_connection(
            &mut self,
            connection_id: libp2p::swarm::ConnectionId,
            peer: libp2p::PeerId,
            addr: &libp2p::core::Multiaddr,
            role_override: libp2p::core::Endpoint,
            port_use: libp2p::core::transport::PortUse,
        ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
            let inner = self.inner.handle_established_outbound_connection(
                connection_id,
                peer,
                addr,
                role_override,
                port_use,
            )?;
            Ok(self.wrap_handler(inner))
        }

        fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm<'_>) {
            self.inner.on_swarm_event(event);
        }
    };
}

pub(crate) use delegate_connections;
