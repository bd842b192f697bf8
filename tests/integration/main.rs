//! haiqiao's integration tests: one binary, one module per subject.
//!
//! Contents:
//! - [`store_crash`]: kill -9 while the durable store is being written loses no acknowledged
//!   record (design §4), and the store reopens cleanly.
//! - [`multiprocess`]: `haiqiao` processes on 127.0.0.x: a distress across a chain of five,
//!   a partition that heals, a relay killed and restarted, receipts freeing copies.
//! - [`newcomer`]: what a newcomer meets first: one-line errors that say what to do (port
//!   taken, data dir in use, no backtraces), arguments checked where typed, short ids,
//!   `haiqiao id` and static peers by node id, the API's error codes, raw record bytes, 413,
//!   read timeouts, inbox and timeline after a restart, Ctrl-C in the demo, and the
//!   two-nodes example.
//! - [`sealed`]: a relay process carries a sealed text it cannot read; the addressee reads it.
//! - [`dashboard`]: the dashboard in a real headless Chromium over a local mesh (map, distress,
//!   a live update), `/metrics` parsed, `/healthz`, the API's tokens, distress and case views
//!   after a restart.
//! - [`shore`]: shore bridges against a real mosquitto (a broker restart mid-stream) and a
//!   real PostgreSQL (an outage), webhooks to a local receiver; nothing lost.
//! - [`procs`]: the harness that runs and drives those processes.
//! - [`faults`]: the fault scenarios (docs/faults.md): processes in network namespaces, thin
//!   links, partitions and heals, kill -9 schedules, floods from one key and from many; each
//!   prints a `FAULT <scenario>: …` line of figures and asserts the design's goals.
//! - [`marine`]: on board — gpsd/gpsfake and NMEA over UDP in, automatic reports, the
//!   plotter feed decoded by pyais, Signal K validated against @signalk/signalk-schema, and
//!   buddy watch quiet between boats that both report (docs/marine.md).
//! - [`netlab`]: the harness those run on (namespaces, veth links, tbf, seeds); skips where
//!   it cannot run (not root).

mod dashboard;
mod faults;
mod marine;
mod multiprocess;
mod netlab;
mod newcomer;
mod procs;
mod sealed;
mod shore;
mod store_crash;
