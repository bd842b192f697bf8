//! The daemon's feed: what happens at this node, broadcast to whoever listens inside the
//! process (the dashboard's live updates, the plotter and Signal K feeds, the shore bridges).
//!
//! One bounded [`tokio::sync::broadcast`] channel: the daemon never waits for a listener. A
//! listener that falls more than [`FEED_CAP`] events behind gets
//! [`broadcast::error::RecvError::Lagged`] with the number it missed, and must catch up from the
//! API or the store (both hold everything the feed carried); the daemon's loop is never slowed.

use std::sync::Arc;

use haiqiao_proto::{PublicKey, Record, RecordId};
use tokio::sync::broadcast;

/// Events a listener may fall behind by before it is told it lagged.
pub(crate) const FEED_CAP: usize = 1024;

/// One thing that happened at this node.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A record from another node delivered here (what the inbox lists), durable in the store.
    /// `at_ms` is when it arrived.
    Delivered { record: Arc<Record>, at_ms: u64 },
    /// A record this node wrote (from the API, the CLI or a fleet action), durable in the store.
    Authored { record: Arc<Record>, at_ms: u64 },
    /// This node took custody of a record for others.
    Carrying(RecordId),
    /// A shore receipt freed this node's copy of a record.
    Freed(RecordId),
    /// A record refused because its author's key is revoked.
    RefusedRevoked { id: RecordId, author: PublicKey },
    /// A peer was penalised (`offence` is the engine's name for it).
    Penalty {
        peer: PublicKey,
        offence: &'static str,
        score: u32,
    },
    /// A peer was disconnected (banned until `until_ms`).
    Disconnected { peer: PublicKey, until_ms: u64 },
    /// A peer connected (`up`) or its last connection closed.
    Peer { peer: PublicKey, up: bool },
}

/// The sending side, held by the daemon.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Event>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    /// A feed with no listeners yet.
    pub(crate) fn new() -> Self {
        Self {
            tx: broadcast::channel(FEED_CAP).0,
        }
    }

    /// A new listener: it sees the events sent from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Tells every listener; with none, the event is dropped (nothing waits for it).
    pub(crate) fn send(&self, ev: Event) {
        let _ = self.tx.send(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_listener_is_told_what_it_missed_and_the_sender_never_waits() {
        let feed = Feed::new();
        let mut rx = feed.subscribe();
        let id = RecordId([7; 16]);
        for _ in 0..FEED_CAP + 5 {
            feed.send(Event::Carrying(id));
        }
        match rx.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => assert_eq!(n, 5),
            other => panic!("expected a lag of 5, got {other:?}"),
        }
        assert!(matches!(rx.try_recv(), Ok(Event::Carrying(i)) if i == id));
    }

    #[test]
    fn a_listener_sees_only_what_follows_its_subscription() {
        let feed = Feed::new();
        feed.send(Event::Freed(RecordId([1; 16])));
        let mut rx = feed.subscribe();
        feed.send(Event::Freed(RecordId([2; 16])));
        assert!(matches!(rx.try_recv(), Ok(Event::Freed(i)) if i == RecordId([2; 16])));
        assert!(rx.try_recv().is_err());
    }
}
