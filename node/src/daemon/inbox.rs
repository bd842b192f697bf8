//! The inbox: the records delivered here, numbered, bounded, served at `/api/v1/inbox`.

use std::collections::VecDeque;

use haiqiao_mesh::{Node, Store, StoreError};
use haiqiao_proto::Record;
use serde_json::{Value, json};

use crate::json::record_json;

/// The records delivered here, each with its index and when it came; the oldest go first
/// past `cap`.
pub(crate) struct Inbox {
    next: u64,
    items: VecDeque<(u64, u64, Record)>,
    cap: usize,
}

impl Inbox {
    /// An empty inbox that keeps at most `cap` records (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            next: 0,
            items: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Records listed.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn push(&mut self, now_ms: u64, r: Record) {
        self.items.push_back((self.next, now_ms, r));
        self.next += 1;
        while self.items.len() > self.cap {
            self.items.pop_front();
        }
    }

    /// `{next, records}`: at most `limit` (≤ 1000) from index `after`, of one kind if asked.
    pub(crate) fn json(&self, after: u64, limit: usize, kind: Option<&str>) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .filter(|(i, _, _)| *i >= after)
            .filter(|(_, _, r)| kind.is_none_or(|k| r.kind().name() == k))
            .take(limit.min(1000))
            .map(|(i, t, r)| {
                let mut v = record_json(r);
                v["index"] = json!(i);
                v["received_ms"] = json!(t);
                v
            })
            .collect();
        json!({ "next": self.next, "records": items })
    }
}

/// Refills the inbox from the store at start-up: the records delivered here (addressed to this
/// node, not written by it), oldest first, as the running daemon would have listed them. Only
/// what the store still holds comes back: superseded positions and expired records do not.
pub(crate) fn refill_inbox<S: Store>(node: &Node<S>, inbox: &mut Inbox) -> Result<(), StoreError> {
    let me = node.public_key();
    let mut held: Vec<_> = node
        .store()
        .summaries()?
        .into_iter()
        .filter(|s| s.author != me && node.is_for_me(&s.dest))
        .collect();
    held.sort_by(|a, b| {
        (a.created, a.seq, a.author.as_bytes()).cmp(&(b.created, b.seq, b.author.as_bytes()))
    });
    let skip = held.len().saturating_sub(inbox.cap);
    for s in held.into_iter().skip(skip) {
        if let Some(r) = node.store().get(&s.id)? {
            inbox.push(u64::from(s.created.0) * 1000, r);
        }
    }
    Ok(())
}
