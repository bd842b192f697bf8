//! The tasks that move frames between a peer's sync streams and the event loop: one writer
//! per outbound stream (frames in order from the peer's bounded queue) and one reader per
//! inbound stream (frames within their deadlines), each reporting to the loop as a
//! [`FromStream`].

use std::io;

use futures::io::{AsyncRead, AsyncWriteExt as _, BufReader};
use haiqiao_proto::wire::MAX_FRAME_LEN;
use libp2p::{PeerId, Stream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

use crate::frame::{self, FrameError, ReadDeadlines};

/// Read buffer of one inbound sync stream.
const READ_BUFFER_LEN: usize = 8 * 1024;

/// A task that is aborted when this is dropped.
#[derive(Debug)]
pub(crate) struct Task(pub(crate) JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a stream task tells the loop. `session` tells a live contact from a finished one.
#[derive(Debug)]
pub(crate) enum FromStream {
    /// A reader read a frame.
    Frame {
        peer: PeerId,
        session: u64,
        bytes: Vec<u8>,
    },
    /// A reader met a framing violation and closed its stream.
    Malformed { peer: PeerId, session: u64 },
    /// A writer could not write its stream.
    Failed { peer: PeerId, session: u64 },
    /// A reader gave up on a peer too slow to send a frame (see [`ReadDeadlines`]).
    TimedOut { peer: PeerId, session: u64 },
    /// A writer wrote (and flushed) this many more frames.
    Written {
        peer: PeerId,
        session: u64,
        frames: u32,
    },
}

/// Frames written between two reports of [`NetEvent::Written`] at most.
const WRITTEN_REPORT_BATCH: u32 = 8;

/// Writes every queued frame to the outbound sync stream of `peer`, in order. Ends cleanly
/// (closing the stream) when the queue's sender is dropped.
pub(crate) async fn write_frames(
    mut stream: Stream,
    peer: PeerId,
    session: u64,
    mut queue: mpsc::Receiver<Vec<u8>>,
    report: mpsc::Sender<FromStream>,
) {
    let result: io::Result<()> = async {
        let mut written = 0u32;
        while let Some(frame) = queue.recv().await {
            frame::write_frame(&mut stream, &frame).await?;
            written += 1;
            // Report in batches, and whenever the queue runs dry, so that the engine's send
            // window (which stays below the queue's capacity) never waits on a report.
            if written >= WRITTEN_REPORT_BATCH || queue.is_empty() {
                let message = FromStream::Written {
                    peer,
                    session,
                    frames: std::mem::take(&mut written),
                };
                if report.send(message).await.is_err() {
                    break;
                }
            }
        }
        stream.close().await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "sync stream write failed");
        let _ = report.send(FromStream::Failed { peer, session }).await;
    }
}

/// Reads one frame within the deadlines: the first frame of a stream must begin within
/// `frame_timeout` of the stream opening (the peer sends its hello at once); every frame must
/// end within [`ReadDeadlines::frame`] of its first byte. `Ok(None)` is a clean end.
async fn read_frame_timed<R: AsyncRead + Unpin>(
    r: &mut R,
    first: bool,
    d: ReadDeadlines,
) -> Result<Option<Vec<u8>>, FrameError> {
    let byte = if first {
        timeout(d.frame_timeout, frame::read_first_byte(r))
            .await
            .map_err(|_| FrameError::TimedOut)??
    } else {
        frame::read_first_byte(r).await?
    };
    let Some(byte) = byte else {
        return Ok(None);
    };
    let started = Instant::now();
    let len = timeout(d.frame_timeout, frame::read_len(r, byte))
        .await
        .map_err(|_| FrameError::TimedOut)??;
    let body = timeout_at(started + d.frame(len), frame::read_body(r, len))
        .await
        .map_err(|_| FrameError::TimedOut)??;
    Ok(Some(body))
}

/// Reads frames from an inbound sync stream until it ends, breaks the framing or is too slow.
pub(crate) async fn read_frames(
    stream: Stream,
    peer: PeerId,
    session: u64,
    deadlines: ReadDeadlines,
    report: mpsc::Sender<FromStream>,
) {
    let mut reader = BufReader::with_capacity(READ_BUFFER_LEN, stream);
    let mut first = true;
    loop {
        let message = match read_frame_timed(&mut reader, first, deadlines).await {
            Ok(Some(bytes)) => {
                debug_assert!(bytes.len() <= MAX_FRAME_LEN);
                FromStream::Frame {
                    peer,
                    session,
                    bytes,
                }
            }
            Ok(None) => return,
            Err(e) if e.is_malformed() => {
                tracing::debug!(%peer, error = %e, "malformed sync frame: closing the stream");
                let _ = report.send(FromStream::Malformed { peer, session }).await;
                return;
            }
            Err(FrameError::TimedOut) => {
                let _ = report.send(FromStream::TimedOut { peer, session }).await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "sync stream read ended");
                return;
            }
        };
        first = false;
        if report.send(message).await.is_err() {
            return;
        }
    }
}
