//! `haiqiao bench seal`: what sealing costs (docs/benchmarks.md, "Sealed records"): bytes added
//! per record by number of readers, and seal and open per second against sign and verify,
//! measured in the same run on the same records.

use std::time::Instant;

use haiqiao_proto::seal::{self, SealEntropy};
use haiqiao_proto::{KeyRing, Keypair, Kind, PublicKey, Record, Unverified, samples};
use serde_json::{Value, json};

/// A fixed "now" for reproducible records (2026-11-18T11:06:40Z).
const NOW: u64 = 1_795_000_000;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn entropy(i: u64) -> SealEntropy {
    let mut b = [0u8; 48];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b[8] = 1;
    b[40..48].copy_from_slice(&(!i).to_le_bytes());
    SealEntropy::from_bytes(&b)
}

/// Options of `bench seal`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealOpts {
    /// Operations per repetition.
    pub(crate) ops: usize,
    /// Repetitions (medians are reported).
    pub(crate) reps: usize,
}

/// Runs the measurement.
pub(crate) fn seal(opts: SealOpts) -> anyhow::Result<Value> {
    let me = Keypair::from_seed(&[1; 32]);
    let readers: Vec<Keypair> = (0..8u8).map(|i| Keypair::from_seed(&[i + 2; 32])).collect();
    let keys: Vec<PublicKey> = readers.iter().map(Keypair::public).collect();
    let partner = keys[0].hint();

    // Bytes added: sealed length minus the same envelope signed unsealed.
    let mut added = serde_json::Map::new();
    for kind in [
        Kind::Text,
        Kind::PairAlert,
        Kind::DisputeReport,
        Kind::CaseUpdate,
    ] {
        let env = samples::envelope(kind, me.public().hint(), partner, 4000, NOW);
        let plain = Record::sign(&me, env.clone())?;
        let mut row = serde_json::Map::new();
        row.insert("unsealed".into(), json!(plain.len()));
        for n in [1usize, 2, 8] {
            let sealed = seal::seal(&me, &env, &keys[..n], &entropy(n as u64))?;
            row.insert(format!("readers_{n}"), json!(sealed.len() - plain.len()));
        }
        added.insert(kind.name().to_owned(), Value::Object(row));
    }

    // Throughput on a text to one boat, sealed to the author and the boat (two readers).
    let env = samples::envelope(Kind::Text, me.public().hint(), partner, 4000, NOW);
    let two = [me.public(), keys[0]];
    let mut ring = KeyRing::new(16);
    ring.insert(me.public());
    let plain = Record::sign(&me, env.clone())?;
    let sealed = seal::seal(&me, &env, &two, &entropy(7))?;
    let (mut sign, mut verify, mut seal_s, mut seal_sign, mut open) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let ops = opts.ops.max(1);
    let rate = |t: Instant| ops as f64 / t.elapsed().as_secs_f64().max(1e-9);
    for _ in 0..opts.reps.max(1) {
        let t = Instant::now();
        for i in 0..ops {
            let mut e = env.clone();
            e.seq = i as u64;
            std::hint::black_box(Record::sign(&me, e)?);
        }
        sign.push(rate(t));
        let t = Instant::now();
        for _ in 0..ops {
            let u = Unverified::decode(plain.bytes())?;
            std::hint::black_box(u.verify(&ring, NOW)?);
        }
        verify.push(rate(t));
        let t = Instant::now();
        for i in 0..ops {
            std::hint::black_box(seal::seal_envelope(&env, &two, &entropy(i as u64))?);
        }
        seal_s.push(rate(t));
        let t = Instant::now();
        for i in 0..ops {
            std::hint::black_box(seal::seal(&me, &env, &two, &entropy(i as u64))?);
        }
        seal_sign.push(rate(t));
        let t = Instant::now();
        for _ in 0..ops {
            std::hint::black_box(seal::open(&sealed, &readers[0])?);
        }
        open.push(rate(t));
    }
    let (sign, verify) = (median(&mut sign), median(&mut verify));
    let (seal_m, seal_sign, open) = (
        median(&mut seal_s),
        median(&mut seal_sign),
        median(&mut open),
    );
    Ok(json!({
        "bytes_added": added,
        "per_second": {
            "sign": sign.round(),
            "verify": verify.round(),
            "seal_2_readers": seal_m.round(),
            "seal_and_sign_2_readers": seal_sign.round(),
            "open": open.round(),
        },
        "ratios": {
            "seal_and_sign_over_sign": (seal_sign / sign * 1000.0).round() / 1000.0,
            "open_over_verify": (open / verify * 1000.0).round() / 1000.0,
        },
        "ops": ops,
        "reps": opts.reps.max(1),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_bench_reports_the_bytes_sealing_adds_and_every_rate() {
        let v = seal(SealOpts { ops: 2, reps: 1 }).unwrap();
        for kind in ["text", "pair_alert", "dispute_report", "case_update"] {
            let row = &v["bytes_added"][kind];
            // docs/protocol.md §13.8: 93 for one reader, 36 more per reader, +1 head byte at 8.
            assert_eq!(
                (
                    row["readers_1"].as_u64(),
                    row["readers_2"].as_u64(),
                    row["readers_8"].as_u64()
                ),
                (Some(93), Some(129), Some(346)),
                "{kind}: {row}"
            );
        }
        for op in [
            "sign",
            "verify",
            "seal_2_readers",
            "seal_and_sign_2_readers",
            "open",
        ] {
            assert!(v["per_second"][op].as_f64().unwrap() > 0.0, "{op}: {v}");
        }
    }
}
