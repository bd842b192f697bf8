//! crash-writer: writes signed records into a `SledStore` forever, printing the id (hex) of
//! each record once the store has acknowledged it, for the kill -9 test
//! (`tests/integration/store_crash.rs`).
//!
//! Usage: `crash-writer <store dir> <round>`. Records differ by round, so every round adds new
//! ones. Some go in one by one, some in batches of up to 8. A line is printed only after the
//! insert that stored the record returned `Ok`, which the store promises means durable.

use std::io::Write;
use std::process::ExitCode;

use haiqiao_mesh::{InsertOutcome, Store, StoreLimits};
use haiqiao_proto::{Keypair, Kind, Record, samples};
use haiqiao_store::SledStore;

/// Creation time of the first record (late 2026).
const T0: u64 = 1_795_000_000;
/// Authors writing.
const AUTHORS: u8 = 8;
/// The kinds written, in turn: every priority class.
const MIX: [Kind; 8] = [
    Kind::Position,
    Kind::Distress,
    Kind::Text,
    Kind::PairAlert,
    Kind::Receipt,
    Kind::DisputeReport,
    Kind::Position,
    Kind::DistressUpdate,
];

/// Limits under which nothing is evicted or superseded: every acknowledged record must stay.
fn limits() -> StoreLimits {
    StoreLimits {
        max_bytes: 1 << 34,
        max_author_bytes: 1 << 34,
        track_len: 1 << 20,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(round)) = (args.get(1), args.get(2).and_then(|r| r.parse::<u64>().ok()))
    else {
        eprintln!("usage: crash-writer <store dir> <round>");
        return ExitCode::from(2);
    };
    match run(dir, round) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, round: u64) -> Result<(), String> {
    let mut store = SledStore::open(dir, limits()).map_err(|e| format!("open: {e}"))?;
    let keys: Vec<Keypair> = (0..AUTHORS)
        .map(|a| Keypair::from_seed(&[a + 1; 32]))
        .collect();
    let mut stdout = std::io::stdout().lock();
    let mut i: u64 = 0;
    let mut next = || {
        let n = i;
        i += 1;
        let k = &keys[(n % u64::from(AUTHORS)) as usize];
        let partner = keys[((n + 1) % u64::from(AUTHORS)) as usize]
            .public()
            .hint();
        let kind = MIX[(n % MIX.len() as u64) as usize];
        let seq = round * 1_000_000 + n;
        let env = samples::envelope(kind, k.public().hint(), partner, seq, T0 + seq);
        Record::sign(k, env).map_err(|e| format!("sign: {e}"))
    };
    for step in 0u64.. {
        let batch: Vec<Record> = if step % 3 == 0 {
            (0..1 + step % 8)
                .map(|_| next())
                .collect::<Result<_, _>>()?
        } else {
            vec![next()?]
        };
        let outcomes = if batch.len() == 1 {
            vec![
                store
                    .insert(&batch[0])
                    .map_err(|e| format!("insert: {e}"))?,
            ]
        } else {
            store
                .insert_batch(&batch)
                .map_err(|e| format!("insert_batch: {e}"))?
        };
        // One write per acknowledgement, so that a kill never cuts a line.
        let mut lines = String::new();
        for (r, o) in batch.iter().zip(&outcomes) {
            if *o != (InsertOutcome::Stored { evicted: vec![] }) {
                return Err(format!("record {} was not simply stored: {o:?}", r.id()));
            }
            lines.push_str(&format!("{}\n", r.id()));
        }
        if stdout
            .write_all(lines.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // The reader went away: nothing left to acknowledge to.
            return Ok(());
        }
    }
    Ok(())
}
