//! haiqiao-marine: what a boat's instruments speak, as pure codecs.
//!
//! No I/O, no clock, no threads, no entropy: time comes in as `now_ms` (milliseconds since the
//! Unix epoch) and decisions come out as values, so the daemon, the tests and the bench drive
//! the same code. The daemon's `node/src/marine/` does the sockets, serial ports and timers.
//!
//! - [`sentence`]: NMEA 0183 framing and checksums (what we emit, and what we check on input).
//! - [`gps`]: the boat's own fix from NMEA 0183 (parsed with the `nmea` crate; HDG by hand),
//!   from gpsd's JSON (`TPV`) or from a Signal K server's deltas; bad input counted.
//! - [`report`]: when to send an automatic position report (AIS class B-like intervals by
//!   speed and state, at once on a large course change, capped by a link budget).
//! - [`ais`]: AIS `!AIVDM` encoding (types 1, 5, 18, 24), 6-bit armouring.
//! - [`dsc`]: DSC distress (`$CDDSC` + `$CDDSE`) and alarms (`$--ALR`) for a plotter.
//! - [`ident`]: MMSIs, the pseudo-MMSI scheme for vessels without one, and ASCII names.
//! - [`signalk`]: the Signal K data model: deltas, contexts, notifications, the full tree.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ais;
pub mod dsc;
pub mod gps;
pub mod ident;
pub mod report;
pub mod sentence;
pub mod signalk;

pub use gps::{GpsError, GpsState, OwnFix};
pub use ident::{Mmsi, ascii_name, pseudo_mmsi};
pub use report::{ReportConfig, ReportPolicy, SpeedBand};
