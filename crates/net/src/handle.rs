//! [`NetHandle`]: the engine's side of the driver, and [`spawn`].

use std::sync::Arc;

use haiqiao_proto::{PublicKey, RecordId};
use libp2p::Multiaddr;
use tokio::sync::{mpsc, oneshot};

use crate::driver::{self, Command};
use crate::frame::MAX_FRAME_LEN;
use crate::{COMMAND_CHANNEL_CAP, EVENT_CHANNEL_CAP, NetConfig, NetError, NetEvent, Verdict};

/// Starts the network: builds the swarm for the identity `seed` (the node's record-signing
/// ed25519 seed), starts listening on `cfg.listen`, dials the static peers and spawns the event
/// loop on the current tokio runtime. Returns the handle for commands and the receiver of
/// events; the receiver must be drained (the loop stops reading the network while it is full).
pub fn spawn(
    seed: [u8; 32],
    cfg: NetConfig,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetError::NoRuntime)?;
    let checked = cfg.check()?;
    let keypair = crate::keypair_from_seed(seed)?;
    let local = crate::public_key(&keypair.public().to_peer_id())?;
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CHANNEL_CAP);
    let (events_tx, events_rx) = mpsc::channel(EVENT_CHANNEL_CAP);
    let event_loop = {
        // Transports bind their sockets on the runtime, so build inside it.
        let _guard = runtime.enter();
        driver::EventLoop::new(keypair, &cfg, checked, commands_rx, events_tx)?
    };
    runtime.spawn(event_loop.run());
    Ok((
        NetHandle {
            commands: commands_tx,
            local,
        },
        events_rx,
    ))
}

/// A cloneable handle to the network task. Every method fails with [`NetError::Stopped`] once
/// the task has ended.
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local: PublicKey,
}

impl NetHandle {
    /// This node's key (its peer id).
    pub fn local_key(&self) -> PublicKey {
        self.local
    }

    async fn command(&self, command: Command) -> Result<(), NetError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetError::Stopped)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.command(make(tx)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Queues a sync frame for a peer. A frame for a peer that is not up is dropped (the
    /// engine has had, or is about to get, its `PeerDown`); a peer whose write queue is full is
    /// disconnected (see the crate docs on backpressure). Waits only while the command channel
    /// is full.
    pub async fn send(&self, peer: PublicKey, frame: Vec<u8>) -> Result<(), NetError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(NetError::FrameTooLarge {
                len: frame.len(),
                max: MAX_FRAME_LEN,
            });
        }
        self.command(Command::Send { peer, frame }).await
    }

    /// Publishes a record by gossip. `id` is the record's id, which is also its message id.
    /// Best effort: with no peer in the topic the record simply goes out later by sync.
    pub async fn publish(&self, id: RecordId, bytes: Arc<[u8]>) -> Result<(), NetError> {
        self.command(Command::Publish { id, bytes }).await
    }

    /// The engine's verdict on a gossiped record from `peer` (the propagation source of a
    /// [`NetEvent::Gossip`]); `id` is `None` when the bytes did not decode as a record.
    pub async fn verdict(
        &self,
        peer: PublicKey,
        id: Option<RecordId>,
        verdict: Verdict,
    ) -> Result<(), NetError> {
        self.command(Command::Verdict { peer, id, verdict }).await
    }

    /// Closes every connection to `peer` and refuses it until `until_ms` (milliseconds since
    /// the Unix epoch, the engine's clock). A time in the past only disconnects.
    pub async fn disconnect(&self, peer: PublicKey, until_ms: u64) -> Result<(), NetError> {
        self.command(Command::Disconnect { peer, until_ms }).await
    }

    /// Dials an address (with or without a `/p2p/<peer id>` suffix). Returns once the dial has
    /// started; the outcome shows as a `PeerUp`, or not at all.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// The peers that are up, each with the remote addresses of its connections.
    pub async fn peers(&self) -> Result<Vec<(PublicKey, Vec<Multiaddr>)>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// The addresses the node listens on now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// Shuts the network down gracefully and waits until the task has ended (see the crate
    /// docs). Calling it again, or after the task ended, returns `Ok`.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        match self.ask(|reply| Command::Shutdown { reply }).await {
            Ok(()) | Err(NetError::Stopped) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
