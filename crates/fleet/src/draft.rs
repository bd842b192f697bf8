//! Drafts: records the fleet wants written, for the node to sign and submit.

use haiqiao_proto::{Body, Destination, Envelope, KeyHint, Timestamp};

/// A record to be written: where it goes, how long it lives and what it says. The node adds
/// its hint, the next sequence number and the creation time, signs it, submits it to the mesh
/// and feeds the signed record back to [`crate::Fleet::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// Where the record goes.
    pub dest: Destination,
    /// Minutes it lives.
    pub ttl_min: u32,
    /// What it says.
    pub body: Body,
}

impl Draft {
    /// The envelope for this draft, by `author`, numbered `seq`, created at `created`.
    pub fn envelope(self, author: KeyHint, seq: u64, created: Timestamp) -> Envelope {
        Envelope {
            author,
            seq,
            created,
            ttl_min: self.ttl_min.clamp(1, haiqiao_proto::MAX_TTL_MIN),
            dest: self.dest,
            body: self.body,
        }
    }
}
