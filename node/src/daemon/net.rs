//! What the engine task asks of the network: the calls it makes on `haiqiao_net::NetHandle`,
//! as a trait so that the loop can run in a unit test without a swarm (the tests' `NoNet`).

use std::future::Future;

use haiqiao_net::{Multiaddr, NetError, NetHandle, Verdict};
use haiqiao_proto::PublicKey;

/// The network as the engine task drives it.
pub(crate) trait NetOut {
    /// Queues a sync frame for a peer.
    fn send(
        &self,
        peer: PublicKey,
        frame: Vec<u8>,
    ) -> impl Future<Output = Result<(), NetError>> + Send;
    /// The engine's verdict on a gossip message.
    fn verdict(
        &self,
        peer: PublicKey,
        id: Option<haiqiao_proto::RecordId>,
        verdict: Verdict,
    ) -> impl Future<Output = Result<(), NetError>> + Send;
    /// Closes the connections to a peer (and keeps it away until `until_ms`).
    fn disconnect(
        &self,
        peer: PublicKey,
        until_ms: u64,
    ) -> impl Future<Output = Result<(), NetError>> + Send;
    /// Dials an address.
    fn dial(&self, addr: Multiaddr) -> impl Future<Output = Result<(), NetError>> + Send;
}

impl NetOut for NetHandle {
    fn send(
        &self,
        peer: PublicKey,
        frame: Vec<u8>,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        NetHandle::send(self, peer, frame)
    }
    fn verdict(
        &self,
        peer: PublicKey,
        id: Option<haiqiao_proto::RecordId>,
        verdict: Verdict,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        NetHandle::verdict(self, peer, id, verdict)
    }
    fn disconnect(
        &self,
        peer: PublicKey,
        until_ms: u64,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        NetHandle::disconnect(self, peer, until_ms)
    }
    fn dial(&self, addr: Multiaddr) -> impl Future<Output = Result<(), NetError>> + Send {
        NetHandle::dial(self, addr)
    }
}
