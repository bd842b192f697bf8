//! The errors of this crate.

use libp2p::{Multiaddr, PeerId, TransportError};

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
    /// The port of a listen address is taken (by another program, or another node).
    #[error("listen on {addr}: address already in use")]
    AddrInUse {
        /// The address.
        addr: String,
    },
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

impl NetError {
    /// Why `listen_on(addr)` failed. libp2p's `TransportError::Other` displays as nothing, its
    /// reason being in the error's source: the reason given is the whole source chain, and a
    /// port in use is [`NetError::AddrInUse`].
    pub(crate) fn listen(addr: &Multiaddr, e: &TransportError<std::io::Error>) -> NetError {
        let addr = addr.to_string();
        match e {
            TransportError::Other(io) => {
                // The io error libp2p hands back wraps the transport's own error, which may
                // wrap the socket's: look at every layer.
                let mut chain: Vec<&(dyn std::error::Error + 'static)> = vec![io];
                while let Some(s) = chain.last().and_then(|e| inner(*e)) {
                    chain.push(s);
                    if chain.len() > 16 {
                        break;
                    }
                }
                let in_use = chain.iter().any(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
                });
                if in_use {
                    return NetError::AddrInUse { addr };
                }
                let mut reason = String::new();
                for c in chain {
                    let t = c.to_string();
                    if !t.is_empty() && !reason.contains(&t) {
                        if !reason.is_empty() {
                            reason.push_str(": ");
                        }
                        reason.push_str(&t);
                    }
                }
                NetError::Listen { addr, reason }
            }
            TransportError::MultiaddrNotSupported(a) => NetError::Listen {
                addr,
                reason: format!("no transport for {a} (TCP and QUIC over IPv4 or IPv6 are)"),
            },
        }
    }
}

/// The error under `e`: an io error's own payload (its `source` skips it), else the source.
fn inner<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        return Some(inner);
    }
    e.source()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listen_error_says_why() {
        let addr: Multiaddr = "/ip4/0.0.0.0/udp/4600/quic-v1".parse().expect("addr");
        let in_use = TransportError::Other(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        let e = NetError::listen(&addr, &in_use);
        assert!(matches!(e, NetError::AddrInUse { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "listen on /ip4/0.0.0.0/udp/4600/quic-v1: address already in use"
        );
        let denied = TransportError::Other(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "permission denied",
        ));
        let e = NetError::listen(&addr, &denied).to_string();
        assert!(e.ends_with(": permission denied"), "{e}");
        // As the boxed transport hands it back: the socket's error wrapped in another.
        let wrapped = TransportError::Other(std::io::Error::other(std::io::Error::from(
            std::io::ErrorKind::AddrInUse,
        )));
        let e = NetError::listen(&addr, &wrapped);
        assert!(matches!(e, NetError::AddrInUse { .. }), "{e:?}");
        let unsupported = TransportError::MultiaddrNotSupported(addr.clone());
        let e = NetError::listen(&addr, &unsupported).to_string();
        assert!(e.contains("no transport"), "{e}");
    }
}
