//! The node's clock: wall-clock milliseconds since the Unix epoch, the `now_ms` every
//! engine and fleet call takes.
//!
//! The daemon reads time only through a [`Clock`], so a test can run its loop on tokio's
//! paused clock (`#[tokio::test(start_paused = true)]`, `tokio::time::advance`): a
//! [`Clock::Virtual`] counts from a fixed epoch with tokio's `Instant`, which the paused
//! runtime moves only when told (or when every task waits on a timer).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, by the system clock (0 if it reads before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where the daemon reads the time.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Clock {
    /// The system clock: follows it when it is set (a boat's clock set from GPS after boot).
    System,
    /// `epoch_ms` at `start`, then tokio's monotonic time: virtual under a paused runtime.
    #[cfg_attr(not(test), allow(dead_code))]
    Virtual {
        /// The time at `start`, ms since the epoch.
        epoch_ms: u64,
        /// When the clock was made.
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A virtual clock reading `epoch_ms` now (call inside a tokio runtime).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn virtual_at(epoch_ms: u64) -> Clock {
        Clock::Virtual {
            epoch_ms,
            start: tokio::time::Instant::now(),
        }
    }

    /// Now, ms since the epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        match self {
            Clock::System => now_ms(),
            Clock::Virtual { epoch_ms, start } => epoch_ms + start.elapsed().as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_virtual_clock_moves_only_with_tokios_time() {
        let c = Clock::virtual_at(1_000);
        assert_eq!(c.now_ms(), 1_000);
        tokio::time::advance(std::time::Duration::from_millis(2_500)).await;
        assert_eq!(c.now_ms(), 3_500);
        assert!(Clock::System.now_ms() > 1_700_000_000_000);
    }
}
