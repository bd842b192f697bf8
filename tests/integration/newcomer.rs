//! What a newcomer meets first (issue 10, items 5 and 7): clear one-line errors that say what
//! to do, arguments checked where they are typed, short ids, `haiqiao id`, the API's error
//! codes, raw record bytes, body limits and read timeouts, views rebuilt after a restart, and
//! a demo that stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::procs::{Proc, init};

const EXE: &str = env!("CARGO_BIN_EXE_haiqiao-test-node");

/// Longest a command under test may run before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// What a finished command left.
#[derive(Debug)]
struct Done {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the command under test to its end (killed at [`DEADLINE`]), with extra environment.
fn run(args: &[&str], env: &[(&str, &str)]) -> Done {
    let mut child = Command::new(EXE)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn haiqiao");
    let (tx, rx) = mpsc::sync_channel(2);
    for (i, mut pipe) in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            let _ = tx.send((i, s));
        });
    }
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let deadline = Instant::now() + DEADLINE;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((0, s)) => stdout = s,
            Ok((_, s)) => stderr = s,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("haiqiao {args:?} did not finish; stdout so far {stdout:?}");
            }
        }
    }
    let status = child.wait().expect("wait");
    Done {
        status,
        stdout,
        stderr,
    }
}

/// Two free ports on loopback (TCP and UDP both free at the time of asking).
fn free_port(ip: &str) -> u16 {
    for _ in 0..50 {
        let t = std::net::TcpListener::bind((ip, 0)).expect("bind tcp");
        let port = t.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

fn config(p: &Proc) -> String {
    p.dir.join("haiqiao.toml").display().to_string()
}

#[test]
fn a_second_node_on_the_same_ports_says_the_port_is_taken_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ip = "127.0.3.2";
    let port = free_port(ip);
    let listen = format!("[\"/ip4/{ip}/tcp/{port}\", \"/ip4/{ip}/udp/{port}/quic-v1\"]");
    let mut a = init(dir.path(), "a", "vessel", ip);
    a.configure(&[], "");
    a.set("net", "listen", &listen);
    a.start();
    let b = init(dir.path(), "b", "vessel", ip);
    b.configure(&[], "");
    b.set("net", "listen", &listen);
    let done = run(&["run", "--config", &config(&b)], &[]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    let err = done.stderr.trim();
    assert!(
        err.contains("address already in use") && err.contains("[net] listen"),
        "the reason and what to do: {err}"
    );
    assert!(err.contains(&port.to_string()), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // TCP alone (libp2p listens with SO_REUSEPORT: without a check the second node would
    // start and share the port with the first), and QUIC alone.
    for listen in [
        format!("[\"/ip4/{ip}/tcp/{port}\"]"),
        format!("[\"/ip4/{ip}/udp/{port}/quic-v1\"]"),
    ] {
        b.set("net", "listen", &listen);
        let done = run(&["run", "--config", &config(&b)], &[]);
        assert_eq!(done.status.code(), Some(1), "{listen}: {done:?}");
        assert!(
            done.stderr.contains("address already in use")
                && done
                    .stderr
                    .contains("give this node other ports in [net] listen"),
            "{listen}: {}",
            done.stderr
        );
    }
    a.stop();
}

#[test]
fn a_second_daemon_on_the_same_data_dir_names_the_one_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = init(dir.path(), "a", "vessel", "127.0.3.3");
    a.configure(&[], "");
    a.start();
    let done = run(&["run", "--config", &config(&a)], &[]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    let err = done.stderr.trim();
    let pid = a.pid().expect("running").to_string();
    assert!(
        err.contains("another haiqiao is running on data dir")
            && err.contains(&format!("pid {pid}"))
            && err.contains("data_dir"),
        "{err}"
    );
    assert!(!err.contains("WouldBlock"), "{err}");
    // The first one is unharmed.
    assert_eq!(a.get("/api/v1/status")["role"], "vessel");
    a.stop();
}

#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    let done = run(
        &["id", "--config", "/nonexistent/haiqiao.toml"],
        &[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")],
    );
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    let err = done.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: reading config /nonexistent/haiqiao.toml: "),
        "{err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
}

#[test]
fn out_of_range_and_negative_values_are_refused_where_they_are_typed() {
    // Nothing listens on port 9: what parses fails only at the connection.
    let api = "127.0.0.1:9";
    let send = |extra: &[&str]| {
        let mut args = vec!["send", "--api", api, "position"];
        args.extend_from_slice(extra);
        run(&args, &[])
    };
    for (args, says) in [
        (
            &["--lat", "30", "--lon", "122", "--cog", "400"][..],
            "course over ground 400 is out of range",
        ),
        (
            &["--lat", "30", "--lon", "122", "--sog", "-5"][..],
            "speed over ground -5 is out of range",
        ),
        (
            &["--lat", "91", "--lon", "122"][..],
            "latitude 91 is out of range",
        ),
        (
            &["--lat", "30", "--lon", "-181"][..],
            "longitude -181 is out of range",
        ),
        (
            &["--lat", "30", "--lon", "122", "--heading", "360"][..],
            "heading 360 is out of range",
        ),
    ] {
        let done = send(args);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {done:?}");
        assert!(done.stderr.contains(says), "{args:?}: {}", done.stderr);
    }
    let done = send(&["--lat", "30", "--lon", "122", "--nav-status", "trawling"]);
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    for valid in ["fishing", "under_way", "at_anchor", "moored"] {
        assert!(
            done.stderr.contains(valid),
            "lists {valid}: {}",
            done.stderr
        );
    }
    // Negative latitude and longitude, and a zero speed, parse.
    let done = send(&[
        "--lat",
        "-33.9",
        "--lon",
        "-70.5",
        "--sog",
        "0",
        "--cog",
        "359.9",
        "--nav-status",
        "fishing",
    ]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr.contains("is the node running"),
        "{}",
        done.stderr
    );
}

#[test]
fn haiqiao_id_prints_the_peer_id_and_an_address_and_static_peers_take_node_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = init(dir.path(), "a", "vessel", "127.0.3.4");
    let out = run(&["id", "--config", &config(&a)], &[]);
    assert!(out.status.success(), "{out:?}");
    let line = |label: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("{label}: {}", out.stdout))
            .trim()
            .to_owned()
    };
    assert_eq!(line("node id "), a.id);
    let peer = line("peer id ");
    assert!(peer.starts_with("12D3KooW"), "{peer}");
    assert_eq!(
        line("address "),
        format!("/ip4/127.0.0.1/tcp/4600/p2p/{peer}"),
        "the default config's TCP address, ready to paste"
    );
    a.configure(&[], "");
    a.start();
    assert_eq!(a.peer_id(), peer, "the daemon's peer id");
    // b names a by its node id in hex.
    let by_hex = a.p2p.replace(&peer, &a.id);
    assert!(by_hex.ends_with(&format!("/p2p/{}", a.id)), "{by_hex}");
    let mut b = init(dir.path(), "b", "vessel", "127.0.3.5");
    b.configure(&[by_hex], "");
    b.start();
    b.wait_peers(1);
    a.wait_peers(1);
    b.stop();
    a.stop();
}

/// Two linked nodes; `a` raises a distress that `b` receives.
fn pair_with_a_distress(base: &std::path::Path, ips: [&str; 2]) -> (Proc, Proc, String) {
    let mut a = init(base, "a", "vessel", ips[0]);
    a.configure(&[], "");
    a.start();
    let mut b = init(base, "b", "vessel", ips[1]);
    b.configure(&[a.p2p.clone()], "");
    b.start();
    b.wait_peers(1);
    let distress = a.post(
        "/api/v1/distress",
        &json!({"nature": "flooding", "lat": 30.31, "lon": 122.98, "persons": 9}),
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    b.wait_line(|l| l == format!("delivered distress {distress}"));
    (a, b, distress)
}

#[test]
fn short_ids_are_taken_wherever_they_are_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, mut b, distress) = pair_with_a_distress(dir.path(), ["127.0.3.6", "127.0.3.7"]);
    let short = &distress[..8];
    let out = run(&["distress", "ack", short, "--api", &b.api], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("acknowledged"), "{}", out.stdout);
    a.saw("distress_acknowledged", short);
    // In API paths, and in hand-written records.
    let (code, v) = b.call("GET", &format!("/api/v1/records/{short}"), None);
    assert_eq!(
        (code, v["id"].as_str()),
        (200, Some(distress.as_str())),
        "{v}"
    );
    let (code, v) = b.call(
        "POST",
        "/api/v1/records",
        Some(
            &json!({"kind": "distress_update", "distress": short, "status": "responding",
                     "eta_min": 20}),
        ),
    );
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["body"]["distress"], distress.as_str());
    // Unknown and malformed ids are refused with their codes.
    let (code, v) = b.call("GET", "/api/v1/records/00000000", None);
    assert_eq!((code, v["code"].as_str()), (404, Some("not_found")), "{v}");
    let (code, v) = b.call(
        "POST",
        "/api/v1/distress/zz",
        Some(&json!({"status": "acknowledged"})),
    );
    assert_eq!((code, v["code"].as_str()), (400, Some("invalid_id")), "{v}");
    let out = run(&["distress", "ack", "0000000000", "--api", &b.api], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("not_found"), "{}", out.stderr);
    b.stop();
    a.stop();
}

#[test]
fn inbox_and_timeline_are_rebuilt_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, mut b, distress) = pair_with_a_distress(dir.path(), ["127.0.3.8", "127.0.3.9"]);
    let text = a.submit(json!({"kind": "text", "text": "今晚回沈家门", "dest": "everyone"}));
    b.wait_line(|l| l == format!("delivered text {text}"));
    b.post(
        &format!("/api/v1/distress/{distress}"),
        &json!({"status": "acknowledged"}),
    );
    // Compared as sets: a record's place after a restart follows its creation time, which
    // can differ from the order of arrival within a second.
    let inbox = |p: &Proc| -> Vec<String> {
        let mut v: Vec<String> = p.get("/api/v1/inbox?limit=1000")["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["id"].as_str().unwrap_or("").to_owned())
            .collect();
        v.sort();
        v
    };
    let timeline = |p: &Proc| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = p.get("/api/v1/timeline?limit=1000")["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["id"].is_string())
            .map(|e| (e["what"].to_string(), e["id"].to_string()))
            .collect();
        v.sort();
        v
    };
    let (inbox_before, timeline_before) = (inbox(&b), timeline(&b));
    assert!(inbox_before.contains(&distress) && inbox_before.contains(&text));
    assert!(
        timeline_before
            .iter()
            .any(|(w, id)| w == "\"distress_raised\"" && id.contains(&distress)),
        "{timeline_before:?}"
    );
    a.stop();
    b.stop();
    b.start();
    assert_eq!(inbox(&b), inbox_before, "the inbox after a restart");
    assert_eq!(
        timeline(&b),
        timeline_before,
        "the timeline after a restart"
    );
    b.stop();
}

/// Sends `head` on a fresh connection, then whatever `body` yields, and reads until the server
/// closes; returns what it answered and how long the connection stayed open.
fn raw(api: &str, head: &str, body: impl FnOnce(&mut TcpStream)) -> (String, Duration) {
    let mut s = TcpStream::connect(api).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let start = Instant::now();
    s.write_all(head.as_bytes()).expect("send");
    body(&mut s);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {:?}: {e}", start.elapsed()),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

#[test]
fn the_api_answers_with_codes_raw_bytes_413_and_closes_half_sent_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = init(dir.path(), "a", "vessel", "127.0.3.10");
    a.configure(&[], "");
    a.set("api", "header_timeout_s", "1");
    a.set("api", "request_timeout_s", "2");
    a.start();

    // Errors carry a code and a message.
    let (code, v) = a.call(
        "POST",
        "/api/v1/records",
        Some(&json!({"kind": "position", "lat": 30.0, "lon": 122.0, "cog_deg": 400.0})),
    );
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("course over ground 400")),
        "{v}"
    );
    let (code, v) = a.call(
        "POST",
        "/api/v1/records/import",
        Some(&json!({"author": a.id, "record": "00"})),
    );
    assert_eq!((code, v["code"].as_str()), (422, Some("truncated")), "{v}");

    // A record's exact bytes, by query or by Accept header.
    let id = a.submit(json!({"kind": "text", "text": "raw", "dest": "everyone"}));
    let mut r = ureq::get(format!("http://{}/api/v1/records/{id}?format=cbor", a.api))
        .call()
        .expect("get cbor");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/cbor")
    );
    let bytes = r.body_mut().read_to_vec().expect("bytes");
    let decoded = haiqiao_proto::Unverified::decode(&bytes).expect("a record");
    assert_eq!(
        decoded.id().to_string(),
        id,
        "the id is the hash of these bytes"
    );
    let mut r = ureq::get(format!("http://{}/api/v1/records/{}", a.api, &id[..8]))
        .header("Accept", "application/cbor")
        .call()
        .expect("get cbor by accept");
    assert_eq!(r.body_mut().read_to_vec().expect("bytes"), bytes);

    // A 64 MiB body: 413 with its code.
    let (answer, _) = raw(
        &a.api,
        "POST /api/v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 67108864\r\n\r\n",
        |s| {
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..1024 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        },
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");

    // Half the headers, then nothing: closed after header_timeout_s.
    let (answer, open) = raw(&a.api, "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n", |_| {});
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(open < Duration::from_secs(10), "closed after {open:?}");
    // Headers, half the body, then nothing: 408 after request_timeout_s, and closed.
    let (answer, open) = raw(
        &a.api,
        "POST /api/v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{\"kind\": ",
        |_| {},
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert!(open < Duration::from_secs(10), "closed after {open:?}");
    // The node still serves.
    assert_eq!(a.get("/api/v1/status")["role"], "vessel");
    a.stop();
}

#[test]
fn ctrl_c_during_the_demo_stops_every_node_cleanly_and_exits_130() {
    // Ctrl-C is SIGINT to the terminal's foreground process group; the demo's nodes run in
    // groups of their own, so it reaches the demo alone, as this SIGINT to its pid does.
    let mut child = Command::new(EXE)
        .args(["demo", "--once"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the demo");
    let pid = child.id();
    let (tx, rx) = mpsc::sync_channel::<Option<String>>(256);
    let out = child.stdout.take().expect("stdout");
    let tx_out = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx_out.send(Some(l)).is_err() {
                break;
            }
        }
        let _ = tx_out.send(None);
    });
    let mut err = child.stderr.take().expect("stderr");
    let (etx, erx) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        let _ = etx.send(s);
    });
    let deadline = Instant::now() + DEADLINE;
    let mut lines = Vec::new();
    let mut data = String::new();
    // Interrupt once three of the five nodes run (the day is under way).
    while lines
        .iter()
        .filter(|l: &&String| l.contains("started, node id"))
        .count()
        < 3
    {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Some(l)) => {
                if let Some(d) = l.split("(data in ").nth(1) {
                    data = d.trim_end_matches(')').to_owned();
                }
                lines.push(l);
            }
            other => panic!("the demo did not start its nodes ({other:?}): {lines:#?}"),
        }
    }
    assert!(!data.is_empty(), "the demo names its folder: {lines:#?}");
    let st = Command::new("kill")
        .args(["-s", "INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Some(l)) => lines.push(l),
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                panic!("the demo did not stop: {lines:#?}");
            }
        }
    }
    let status = child.wait().expect("wait");
    let stderr = erx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{status}: {lines:#?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("interrupted: every node stopped")),
        "{lines:#?}"
    );
    assert!(!std::path::Path::new(&data).exists(), "{data} is removed");
    // No node of the demo is left running.
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd);
            assert!(!cmd.contains(&data), "left running: {cmd}");
        }
    }
}

/// The README's two nodes on one machine, with configs/two-nodes: `haiqiao id` of the first
/// gives the address the second puts in its static peers.
#[test]
fn the_two_nodes_example_runs_two_nodes_on_one_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/two-nodes");
    let mut nodes: Vec<Proc> = Vec::new();
    for name in ["a", "b"] {
        let p = init(dir.path(), name, "vessel", "127.0.0.1");
        let text = std::fs::read_to_string(root.join(format!("{name}.toml"))).expect("example");
        for port in text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| w.len() == 4 && w.starts_with('4'))
        {
            let port: u16 = port.parse().expect("port");
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                eprintln!("skipped: port {port} of configs/two-nodes is in use on this machine");
                return;
            }
        }
        // mDNS off, so that only the static peer links them.
        std::fs::write(
            p.dir.join("haiqiao.toml"),
            text.replace("mdns = true", "mdns = false"),
        )
        .expect("write");
        nodes.push(p);
    }
    nodes[0].start();
    let id = run(&["id", "--config", &config(&nodes[0])], &[]);
    let addr = id
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("address "))
        .filter(|a| a.contains("/tcp/"))
        .expect("an address")
        .trim()
        .to_owned();
    nodes[1].set("net", "static_peers", &format!("[\"{addr}\"]"));
    nodes[1].start();
    nodes[0].wait_peers(1);
    nodes[1].wait_peers(1);
    let v: Value = nodes[1].get("/api/v1/status");
    assert_eq!(v["peers"], 1, "{v}");
    for p in &mut nodes {
        p.stop();
    }
}
