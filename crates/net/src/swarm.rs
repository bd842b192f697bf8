//! The swarm: its behaviours, its transports (TCP with Noise and Yamux, QUIC) and their
//! settings. Built once by the event loop (`driver.rs`), which owns it.

use std::time::Duration;

use haiqiao_proto::{RECORD_ID_LEN, RecordId, Unverified};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Swarm, SwarmBuilder, connection_limits, identify, identity, mdns, noise, ping, tcp, yamux,
};
use sha2::{Digest as _, Sha256};

use crate::config::Checked;
use crate::frame::ReadDeadlines;
use crate::gate::Gate;
use crate::sync::SyncBehaviour;
use crate::{
    GOSSIP_MAX_IHAVE, GOSSIP_MAX_TRANSMIT, GOSSIP_QUEUE_LEN, IDENTIFY_PROTOCOL, NetConfig, NetError,
};

/// How often each connection is pinged.
const PING_INTERVAL: Duration = Duration::from_secs(15);

/// All the behaviours. The gate and the limits come first so that a refused connection is
/// refused before any other behaviour builds a handler for it.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(crate) struct Behaviour {
    pub(crate) gate: Gate,
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: crate::ping::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) gossipsub: crate::gossip::Behaviour,
    pub(crate) sync: SyncBehaviour,
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
pub(crate) fn record_of(id: &MessageId) -> Option<RecordId> {
    <[u8; RECORD_ID_LEN]>::try_from(id.0.as_slice())
        .ok()
        .map(RecordId)
}

fn setup_err(e: impl std::fmt::Display) -> NetError {
    NetError::Setup(e.to_string())
}

/// Builds the swarm and starts listening on `checked.listen`. Must run inside a tokio runtime.
pub(crate) fn build(
    keypair: identity::Keypair,
    cfg: &NetConfig,
    checked: &Checked,
    topic: &IdentTopic,
    read_deadlines: ReadDeadlines,
) -> Result<Swarm<Behaviour>, NetError> {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(cfg.max_connections))
        .with_max_established_per_peer(Some(cfg.max_connections_per_peer));
    let with_mdns = cfg.mdns;
    let ping_config = ping::Config::new()
        .with_interval(PING_INTERVAL)
        .with_timeout(checked.ping_timeout);
    let gossip_topic = topic.clone();
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
    Ok(swarm)
}
