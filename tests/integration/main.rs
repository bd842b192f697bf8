//! haiqiao's integration tests: one binary, one module per subject.
//!
//! Contents:
//! - [`store_crash`]: kill -9 while the durable store is being written loses no acknowledged
//!   record (design §4), and the store reopens cleanly.
//! - [`multiprocess`]: `haiqiao` processes on 127.0.0.x: a distress across a chain of five,
//!   a partition that heals, a relay killed and restarted, receipts freeing copies.
//! - [`procs`]: the harness that runs and drives those processes.

mod multiprocess;
mod procs;
mod store_crash;
