//! Helpers shared by the integration tests and their helper binaries.

pub mod services;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

/// A stream that can be shut down both ways from a shared reference (so that one direction's
/// copier can end the other's).
pub trait Closable: Read + Write {
    /// Shuts the stream down both ways.
    fn close(&self);
}

impl Closable for TcpStream {
    fn close(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Closable for UnixStream {
    fn close(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

/// Copies `from` into `to` until either ends, then shuts both down.
pub fn pump(mut from: impl Closable, mut to: impl Closable) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    to.close();
    from.close();
}
