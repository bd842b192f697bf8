//! The gossip ingress of the event loop: what light clients publish is judged by the engine
//! (`NetEvent::Gossip`, answered by `Command::Verdict`) before gossipsub forwards it, and a
//! peer whose gossip stream cannot be read is disconnected (`gossip.rs`).

use std::sync::Arc;

use haiqiao_proto::{PublicKey, RecordId};
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};

use super::EventLoop;
use crate::swarm::record_of;
use crate::{MAX_PENDING_VALIDATIONS, NetEvent, Verdict};

/// A gossip message awaiting the engine's verdict.
#[derive(Debug)]
pub(super) struct Pending {
    message_id: MessageId,
    source: PeerId,
    record: Option<RecordId>,
}

impl EventLoop {
    /// Publishes a record's bytes on the gossip topic (the engine publishes nothing today;
    /// kept for light clients' sake, see docs/gossip.md).
    pub(super) fn publish(&mut self, id: RecordId, bytes: &Arc<[u8]>) {
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

    pub(super) fn verdict(&mut self, key: PublicKey, id: Option<RecordId>, verdict: Verdict) {
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

    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
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
    pub(super) fn on_gossip_broken(&mut self, peer: PeerId, error: &str) {
        tracing::info!(%peer, %error, "gossip stream unreadable: disconnecting");
        if let Some(p) = self.peers.get(&peer).filter(|p| !p.gossip_only()) {
            let key = p.key;
            self.emit(NetEvent::Malformed { peer: key });
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }
}
