//! The errors of this crate.

use libp2p::PeerId;

/// What went wrong in the network driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A configured address is not a valid multiaddr, or is not usable where it was given.
    #[error("invalid address {addr:?}: {reason}")]
    Address {
        /// The address as written.
        addr: String,
        /// Why it is refused.
        reason: String,
    },
    /// A list in the config is longer than its named bound.
    #[error("too many {what}: {len} > {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A config value is out of range.
    #[error("invalid config: {0}")]
    Config(&'static str),
    /// `spawn` was called outside a tokio runtime.
    #[error("no tokio runtime")]
    NoRuntime,
    /// The seed is not a usable ed25519 secret key.
    #[error("bad identity seed: {0}")]
    Identity(String),
    /// Building the transports or behaviours failed.
    #[error("transport setup: {0}")]
    Setup(String),
    /// Listening on an address failed.
    #[error("listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// A dial could not be started.
    #[error("dial: {0}")]
    Dial(String),
    /// A peer id that does not name an ed25519 key (haiqiao peers are ed25519 keys).
    #[error("peer {0} is not an ed25519 key")]
    NotEd25519(PeerId),
    /// A public key that libp2p does not accept as ed25519.
    #[error("public key is not a valid ed25519 key")]
    BadKey,
    /// A sync frame longer than the protocol allows.
    #[error("frame too large: {len} > {max}")]
    FrameTooLarge {
        /// Its length.
        len: usize,
        /// The bound ([`haiqiao_proto::wire::MAX_FRAME_LEN`]).
        max: usize,
    },
    /// The network task has stopped (shut down, or its event receiver was dropped).
    #[error("network task stopped")]
    Stopped,
}
