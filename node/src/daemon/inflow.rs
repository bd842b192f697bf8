//! The network's events between the channel and the engine: taken from the channel as they
//! come (at most [`INFLOW_CAP`] held here) and handed to the engine one peer at a time in
//! turn, each peer's events in their order.
//!
//! Why: the engine handles one input at a time, and a peer's `Records` frame costs it a batch
//! verification and a durable write (milliseconds), its acknowledgements and wants
//! microseconds. In arrival order, a relay taking in a burst had every frame of the boat it
//! passes records on to — the wants and acknowledgements that keep that boat's leg moving —
//! wait behind all of the sender's frames already in the channel (up to the net's
//! `EVENT_CHANNEL_CAP`): in `bench chain` the third boat sat idle until the relay had taken in
//! the whole burst. Taking peers in turn is the rust-libp2p guideline's fairness between
//! remotes; the order of one peer's events, which the sync protocol relies on, is kept.

use std::collections::VecDeque;

use haiqiao_net::NetEvent;
use haiqiao_proto::PublicKey;
use tokio::sync::mpsc;

/// Most network events held here, taken from the channel but not yet handed to the engine.
pub(crate) const INFLOW_CAP: usize = 256;

/// The peer an event belongs to (none: the node's own, such as a new listen address).
fn peer_of(ev: &NetEvent) -> Option<PublicKey> {
    match ev {
        NetEvent::Listening { .. } => None,
        NetEvent::PeerUp { peer, .. }
        | NetEvent::PeerDown { peer }
        | NetEvent::Frame { peer, .. }
        | NetEvent::Gossip { peer, .. }
        | NetEvent::Written { peer, .. }
        | NetEvent::Malformed { peer }
        | NetEvent::GossipJoined { peer } => Some(*peer),
    }
}

/// Events taken from the network's channel, per peer, served in turn. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Inflow {
    /// Each peer with events waiting, in the order they are served next.
    queues: VecDeque<(Option<PublicKey>, VecDeque<NetEvent>)>,
    len: usize,
}

impl Inflow {
    fn push(&mut self, ev: NetEvent) {
        let key = peer_of(&ev);
        self.len += 1;
        match self.queues.iter_mut().find(|(k, _)| *k == key) {
            Some((_, q)) => q.push_back(ev),
            None => self.queues.push_back((key, VecDeque::from([ev]))),
        }
    }

    /// The next event: the first waiting of the peer whose turn it is.
    fn pop(&mut self) -> Option<NetEvent> {
        let (key, mut q) = self.queues.pop_front()?;
        let ev = q.pop_front();
        if !q.is_empty() {
            self.queues.push_back((key, q));
        }
        self.len -= usize::from(ev.is_some());
        ev
    }

    /// Takes what the channel holds (up to [`INFLOW_CAP`] here) and returns the next event;
    /// waits for one when none is held. `None`: the channel closed with nothing held. Cancel
    /// safe: what was taken from the channel stays here.
    pub(crate) async fn next(&mut self, rx: &mut mpsc::Receiver<NetEvent>) -> Option<NetEvent> {
        while self.len < INFLOW_CAP {
            match rx.try_recv() {
                Ok(ev) => self.push(ev),
                Err(_) => break,
            }
        }
        match self.pop() {
            Some(ev) => Some(ev),
            None => rx.recv().await,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use haiqiao_proto::Keypair;

    fn frame(peer: PublicKey, n: u8) -> NetEvent {
        NetEvent::Frame {
            peer,
            bytes: vec![n],
        }
    }

    fn seen(ev: Option<NetEvent>) -> (PublicKey, u8) {
        match ev {
            Some(NetEvent::Frame { peer, bytes }) => (peer, bytes[0]),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn peers_are_served_in_turn_and_each_peers_events_in_order() {
        let (a, c) = (
            Keypair::from_seed(&[1; 32]).public(),
            Keypair::from_seed(&[2; 32]).public(),
        );
        let (tx, mut rx) = mpsc::channel(INFLOW_CAP * 2);
        // A sender's burst is in the channel before the third boat's want.
        for n in 0..5 {
            tx.send(frame(a, n)).await.unwrap();
        }
        tx.send(frame(c, 100)).await.unwrap();
        tx.send(frame(c, 101)).await.unwrap();
        let mut inflow = Inflow::default();
        let mut order = Vec::new();
        for _ in 0..7 {
            order.push(seen(inflow.next(&mut rx).await));
        }
        assert_eq!(
            order,
            vec![(a, 0), (c, 100), (a, 1), (c, 101), (a, 2), (a, 3), (a, 4)],
            "the third boat's frames do not wait behind the whole burst"
        );
        // Bounded: no more than the cap is taken from the channel.
        for n in 0..(INFLOW_CAP + 10) {
            tx.send(frame(a, n as u8)).await.unwrap();
        }
        let _ = inflow.next(&mut rx).await;
        assert_eq!(inflow.len, INFLOW_CAP - 1);
        assert_eq!(rx.len(), 10);
        drop(tx);
        let mut left = 0;
        while inflow.next(&mut rx).await.is_some() {
            left += 1;
        }
        assert_eq!(left, INFLOW_CAP - 1 + 10, "nothing is lost");
    }
}
