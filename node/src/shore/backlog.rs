//! The shore bridges' shared durable backlog: one journal of the records that reached this
//! station (delivered here or written here), in the order they arrived, with one cursor per
//! bridge (the MQTT bridge, the archive, each webhook).
//!
//! Why a journal and not the feed alone: the daemon's feed ([`crate::feed`]) is a bounded
//! broadcast that never waits, so a bridge whose broker or database is away would lose what
//! passes meanwhile. The journal task is the feed's only shore listener: it appends each record
//! to a sled tree in the node's data dir (`<data_dir>/shore`), and every bridge reads the
//! journal from its own cursor and moves the cursor only once the far end has the record (a
//! QoS 1 PUBACK, a committed transaction, a 2xx answer). A broker restart, a database outage,
//! a lag on the feed or a daemon restart therefore lose nothing: what the far end did not
//! confirm is sent again (at least once; the archive is idempotent by record id, MQTT QoS 1
//! subscribers see a duplicate at most).
//!
//! Lags and restarts: when the feed reports a lag, and at every start, the journal task asks
//! the daemon for the records it holds that were delivered or written here and appends those
//! it has not seen (the `seen` tree, record id → journal position). So a record that became
//! durable in the store while the journal was not listening (the daemon killed between the
//! two, a burst larger than the feed's buffer) still reaches every bridge.
//!
//! Bound: at most `backlog_records` entries are kept. Entries every bridge has confirmed are
//! removed at once; when a bridge stays away so long that the journal reaches its bound, the
//! OLDEST entries are dropped to make room for new ones, and that bridge reports how many it
//! lost (`shore backlog: <sink> lost N records ...`). New records are never
//! refused: what is newest matters most ashore (a distress now rather than a position of last
//! week), and the store itself still holds what was dropped for the API.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use haiqiao_proto::{PublicKey, Record, RecordId};
use tokio::sync::watch;

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BacklogError {
    /// sled failed (disk full, I/O error, corrupt file).
    #[error("shore backlog storage: {0}")]
    Sled(#[from] sled::Error),
    /// An entry that does not decode (written by another version, or corrupt).
    #[error("shore backlog entry {seq} is corrupt: {why}")]
    Corrupt { seq: u64, why: String },
}

/// One record in the journal.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Its position in the journal (increasing, never reused).
    pub(crate) seq: u64,
    /// When it arrived here (ms since the epoch).
    pub(crate) at_ms: u64,
    /// The record.
    pub(crate) record: Record,
}

/// The journal: shared by the journal task (the only writer of entries) and the bridges (each
/// the only writer of its cursor).
#[derive(Debug)]
pub(crate) struct Journal {
    db: sled::Db,
    log: sled::Tree,
    seen: sled::Tree,
    cursors: sled::Tree,
    sinks: Vec<String>,
    cap: u64,
    /// The next position to be written.
    next: AtomicU64,
    /// Records dropped at the bound, in total since start.
    dropped: AtomicU64,
    /// Tells the bridges that `next` moved.
    tx: watch::Sender<u64>,
    /// Counts commits: tells whoever waits for a bridge's confirmations that a cursor moved.
    commits: watch::Sender<u64>,
}

const NEXT_KEY: &[u8] = b"\0next";

fn decode_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(b)
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for these bridges, keeping at most `cap`
    /// entries. A bridge new to an existing journal starts at its oldest entry.
    pub(crate) fn open(
        dir: &Path,
        sinks: &[String],
        cap: u64,
    ) -> Result<Arc<Journal>, BacklogError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(8 * 1024 * 1024)
            .flush_every_ms(Some(200))
            .open()?;
        let log = db.open_tree("log")?;
        let seen = db.open_tree("seen")?;
        let cursors = db.open_tree("cursors")?;
        let next = match log.last()? {
            Some((k, _)) => decode_u64(&k) + 1,
            None => cursors.get(NEXT_KEY)?.map_or(0, |v| decode_u64(&v)),
        };
        let first = log.first()?.map_or(next, |(k, _)| decode_u64(&k));
        for s in sinks {
            if cursors.get(s.as_bytes())?.is_none() {
                cursors.insert(s.as_bytes(), &first.to_be_bytes())?;
            }
        }
        let (tx, _) = watch::channel(next);
        Ok(Arc::new(Journal {
            db,
            log,
            seen,
            cursors,
            sinks: sinks.to_vec(),
            cap: cap.max(1),
            next: AtomicU64::new(next),
            dropped: AtomicU64::new(0),
            tx,
            commits: watch::channel(0).0,
        }))
    }

    /// Whether a record is in the journal (or was, and every bridge had it).
    #[cfg(test)]
    pub(crate) fn has_seen(&self, id: &RecordId) -> Result<bool, BacklogError> {
        Ok(self.seen.contains_key(id.0)?)
    }

    /// Appends a record unless it was seen before; true if appended. Called by one task only.
    pub(crate) fn append(&self, r: &Record, at_ms: u64) -> Result<bool, BacklogError> {
        let id = r.id();
        if self.seen.contains_key(id.0)? {
            return Ok(false);
        }
        let seq = self.next.load(Ordering::SeqCst);
        let mut v = Vec::with_capacity(8 + 32 + r.len());
        v.extend_from_slice(&at_ms.to_be_bytes());
        v.extend_from_slice(&r.author().to_bytes());
        v.extend_from_slice(r.bytes());
        self.log.insert(seq.to_be_bytes(), v)?;
        self.seen.insert(id.0, &seq.to_be_bytes())?;
        self.cursors.insert(NEXT_KEY, &(seq + 1).to_be_bytes())?;
        self.next.store(seq + 1, Ordering::SeqCst);
        self.enforce_bound()?;
        self.tx.send_replace(seq + 1);
        Ok(true)
    }

    /// Drops the oldest entries beyond the bound.
    fn enforce_bound(&self) -> Result<(), BacklogError> {
        let next = self.next.load(Ordering::SeqCst);
        while let Some((k, _)) = self.log.first()? {
            let first = decode_u64(&k);
            if next - first <= self.cap {
                break;
            }
            self.log.remove(k)?;
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The oldest position still held (== `next` when empty).
    fn first(&self) -> Result<u64, BacklogError> {
        Ok(self
            .log
            .first()?
            .map_or(self.next.load(Ordering::SeqCst), |(k, _)| decode_u64(&k)))
    }

    /// Entries currently held.
    pub(crate) fn len(&self) -> Result<u64, BacklogError> {
        Ok(self.next.load(Ordering::SeqCst) - self.first()?)
    }

    /// Records dropped at the bound since start.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The next position `sink` has not confirmed.
    pub(crate) fn cursor(&self, sink: &str) -> Result<u64, BacklogError> {
        Ok(self
            .cursors
            .get(sink.as_bytes())?
            .map_or(0, |v| decode_u64(&v)))
    }

    /// Up to `max` entries from position `from` on. When the bound dropped entries `sink` had
    /// not confirmed, says so (they are gone) and reads from the oldest still held.
    pub(crate) fn read(
        &self,
        sink: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<Entry>, BacklogError> {
        let first = self.first()?;
        if from < first {
            println!(
                "shore backlog: {sink} lost {} records dropped at the bound (backlog_records = {})",
                first - from,
                self.cap
            );
        }
        let mut out = Vec::new();
        for kv in self.log.range(from.max(first).to_be_bytes()..).take(max) {
            let (k, v) = kv?;
            let seq = decode_u64(&k);
            if v.len() < 40 {
                return Err(BacklogError::Corrupt {
                    seq,
                    why: "shorter than its header".to_owned(),
                });
            }
            let at_ms = decode_u64(&v[..8]);
            let author = PublicKey::from_bytes(&v[8..40]).map_err(|e| BacklogError::Corrupt {
                seq,
                why: e.to_string(),
            })?;
            let record =
                Record::from_trusted(author, &v[40..]).map_err(|e| BacklogError::Corrupt {
                    seq,
                    why: e.to_string(),
                })?;
            out.push(Entry { seq, at_ms, record });
        }
        Ok(out)
    }

    /// `sink` has everything before `next`: moves its cursor and removes what every bridge
    /// has.
    pub(crate) fn commit(&self, sink: &str, next: u64) -> Result<(), BacklogError> {
        self.cursors.insert(sink.as_bytes(), &next.to_be_bytes())?;
        let mut low = u64::MAX;
        for s in &self.sinks {
            low = low.min(self.cursor(s)?);
        }
        while let Some((k, _)) = self.log.first()? {
            if decode_u64(&k) >= low {
                break;
            }
            self.log.remove(k)?;
        }
        self.commits.send_modify(|n| *n += 1);
        Ok(())
    }

    /// A watch that changes whenever a bridge's cursor moves (see [`Journal::commit`]).
    pub(crate) fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// A watch on the next position to be written: it changes when a record is appended.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// Forgets the `seen` marks of records no longer held at the node whose entries every
    /// bridge has confirmed (keeps `seen` no larger than the store plus the backlog).
    pub(crate) fn forget_gone(&self, held: &HashSet<RecordId>) -> Result<usize, BacklogError> {
        let first = self.first()?;
        let mut n = 0;
        for kv in &self.seen {
            let (k, v) = kv?;
            if decode_u64(&v) >= first || k.len() != 16 {
                continue;
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&k);
            if !held.contains(&RecordId(id)) {
                self.seen.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Writes everything to disk now (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), BacklogError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haiqiao_proto::Keypair;

    fn record(n: u64) -> Record {
        let key = Keypair::from_seed(&[3; 32]);
        crate::shore::test_record(&key, n)
    }

    #[test]
    fn each_sink_reads_from_its_cursor_and_entries_go_once_all_have_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let sinks = ["a".to_owned(), "b".to_owned()];
        let j = Journal::open(dir.path(), &sinks, 100).expect("open");
        for n in 0..5 {
            assert!(j.append(&record(n), n).expect("append"));
        }
        assert!(
            !j.append(&record(0), 9).expect("again"),
            "a record is journaled once"
        );
        let got = j.read("a", j.cursor("a").expect("c"), 3).expect("read");
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(got[1].record.id(), record(1).id());
        j.commit("a", 3).expect("commit");
        assert_eq!(j.len().expect("len"), 5, "b has confirmed nothing yet");
        j.commit("b", 2).expect("commit");
        assert_eq!(j.len().expect("len"), 3, "both have 0 and 1");
        drop(j);
        // Reopened (a daemon restart): cursors and entries are where they were.
        let j = Journal::open(dir.path(), &sinks, 100).expect("reopen");
        assert_eq!(j.cursor("a").expect("c"), 3);
        assert_eq!(j.cursor("b").expect("c"), 2);
        assert_eq!(j.read("b", 2, 10).expect("read").len(), 3);
        assert!(j.append(&record(5), 5).expect("append"));
        assert_eq!(
            j.read("a", 3, 10).expect("read").last().map(|e| e.seq),
            Some(5)
        );
    }

    #[test]
    fn at_the_bound_the_oldest_go_and_new_records_are_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let j = Journal::open(dir.path(), &["a".to_owned()], 3).expect("open");
        for n in 0..5 {
            j.append(&record(n), n).expect("append");
        }
        assert_eq!(j.len().expect("len"), 3);
        assert_eq!(j.dropped(), 2);
        let got = j.read("a", 0, 10).expect("read");
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn seen_marks_of_records_gone_from_the_store_are_forgotten_once_delivered() {
        let dir = tempfile::tempdir().expect("tmp");
        let j = Journal::open(dir.path(), &["a".to_owned()], 10).expect("open");
        j.append(&record(0), 0).expect("append");
        j.append(&record(1), 1).expect("append");
        let held: HashSet<RecordId> = [record(1).id()].into_iter().collect();
        assert_eq!(
            j.forget_gone(&held).expect("forget"),
            0,
            "not yet delivered"
        );
        j.commit("a", 2).expect("commit");
        assert_eq!(j.forget_gone(&held).expect("forget"), 1);
        assert!(!j.has_seen(&record(0).id()).expect("seen"));
        assert!(j.has_seen(&record(1).id()).expect("seen"));
    }
}
