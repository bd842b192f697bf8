//! haiqiao's integration tests: one binary, one module per subject.
//!
//! Contents:
//! - [`store_crash`]: kill -9 while the durable store is being written loses no acknowledged
//!   record (design §4), and the store reopens cleanly.

mod store_crash;
