//! Framing on the sync stream `/haiqiao/sync/1`: each frame is an unsigned-varint length
//! (the multiformats `unsigned-varint`: little-endian base 128, minimal, at most
//! [`MAX_PREFIX_LEN`] bytes here) followed by that many bytes of one sync frame
//! ([`haiqiao_proto::wire`]). A frame longer than [`MAX_FRAME_LEN`] is a protocol violation:
//! the reader stops before allocating anything for it.

use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
pub use haiqiao_proto::wire::MAX_FRAME_LEN;

/// Longest length prefix accepted: enough 7-bit groups for [`MAX_FRAME_LEN`] (3 for 16 KiB).
pub const MAX_PREFIX_LEN: usize =
    (usize::BITS - MAX_FRAME_LEN.leading_zeros()).div_ceil(7) as usize;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME_LEN`] bytes.
    #[error("frame too long: {len} > {MAX_FRAME_LEN}")]
    TooLong {
        /// The announced length.
        len: usize,
    },
    /// The length prefix is not a minimal varint, or runs past [`MAX_PREFIX_LEN`] bytes.
    #[error("malformed length prefix")]
    BadPrefix,
    /// The stream failed or ended inside a frame.
    #[error("stream: {0}")]
    Io(#[from] std::io::Error),
    /// The peer was too slow: a frame did not arrive whole in time, or the first frame did
    /// not begin in time (see `NetConfig::frame_timeout_secs`).
    #[error("sync stream read timed out")]
    TimedOut,
}

impl FrameError {
    /// Whether the peer broke the protocol (as opposed to the stream failing).
    pub fn is_malformed(&self) -> bool {
        matches!(self, FrameError::TooLong { .. } | FrameError::BadPrefix)
    }
}

/// Read deadlines of inbound streams (`NetConfig::frame_timeout_secs`): of sync frames, and
/// of gossip RPCs (`gossip.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadDeadlines {
    /// How long the first frame may take to begin, and the slack every frame gets.
    pub(crate) frame_timeout: Duration,
    /// The link rate a frame's transmission time is counted at, bits per second.
    pub(crate) rate_bps: u32,
}

impl ReadDeadlines {
    /// How long a frame of `len` bytes may take from its first byte to its last.
    pub(crate) fn frame(&self, len: usize) -> Duration {
        let bits = (len as u64 + MAX_PREFIX_LEN as u64) * 8;
        let ms = bits.saturating_mul(1_000) / u64::from(self.rate_bps.max(1));
        self.frame_timeout + Duration::from_millis(ms)
    }
}

/// Encodes `len` as an unsigned varint into `out`.
pub fn encode_len(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Writes one frame (prefix and bytes) and flushes. Refuses frames over [`MAX_FRAME_LEN`].
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> std::io::Result<()> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            FrameError::TooLong { len: frame.len() },
        ));
    }
    let mut buf = Vec::with_capacity(MAX_PREFIX_LEN + frame.len());
    encode_len(frame.len(), &mut buf);
    buf.extend_from_slice(frame);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames.
///
/// The same as [`read_first_byte`], then [`read_len`], then [`read_body`]; the driver calls
/// the three itself so as to put a deadline on each part.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let Some(first) = read_first_byte(r).await? else {
        return Ok(None);
    };
    let len = read_len(r, first).await?;
    Ok(Some(read_body(r, len).await?))
}

/// Reads the first byte of the next frame's length prefix; `Ok(None)` is a clean end of
/// stream between frames.
pub async fn read_first_byte<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<u8>> {
    let mut byte = [0u8; 1];
    let n = r.read(&mut byte).await?;
    Ok((n > 0).then_some(byte[0]))
}

/// Reads the rest of a length prefix whose first byte is `first`, and checks the length
/// against [`MAX_FRAME_LEN`].
pub async fn read_len<R: AsyncRead + Unpin>(r: &mut R, first: u8) -> Result<usize, FrameError> {
    let mut len: usize = 0;
    let mut i = 0;
    let mut b = first;
    loop {
        if i == MAX_PREFIX_LEN {
            return Err(FrameError::BadPrefix);
        }
        len |= usize::from(b & 0x7f) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            // A final group of zero after the first byte means a non-minimal encoding.
            if b == 0 && i > 1 {
                return Err(FrameError::BadPrefix);
            }
            break;
        }
        let mut byte = [0u8; 1];
        if r.read(&mut byte).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        b = byte[0];
    }
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { len });
    }
    Ok(len)
}

/// Reads a frame's `len` bytes (`len` as checked by [`read_len`]).
pub async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> std::io::Result<Vec<u8>> {
    let mut frame = vec![0u8; len];
    r.read_exact(&mut frame).await?;
    Ok(frame)
}
