//! The fault harness: real `haiqiao` processes in Linux network namespaces that the test
//! creates, joined by veth pairs, shaped with `tc … tbf`, cut and healed, killed with -9.
//!
//! - Every node runs in its own namespace (`ip netns exec`), listens on `0.0.0.0:4600` there
//!   and has its control API on the namespace's own `127.0.0.1:8080`. The test reaches that API
//!   through `ns-bridge` (inside the namespace, on a unix socket in the test's temporary
//!   folder) and a forwarder thread on the test's loopback; [`Proc::api`] is pointed at it, so
//!   the local-mesh harness's calls (`get`, `post`, `submit`, …) work unchanged.
//! - A link is a veth pair with `10.77.<link>.1/24` and `.2/24`, which exist only inside the
//!   two namespaces. Nothing is configured in the root namespace; no traffic leaves the
//!   namespaces but the API calls on loopback.
//! - [`Lab`] tears everything down on drop (processes killed by pid, then the namespaces
//!   deleted), including when a test panics. Names carry the test process's pid and a counter.
//! - Where namespaces cannot be made (not root, no `ip`, no `tc tbf`), [`Lab::new`] prints
//!   `SKIP …` and the test returns; with `HAIQIAO_FAULT_REQUIRED=1` (set by `.ci/run`) it fails
//!   instead.
//! - Schedules are drawn from a seed: `HAIQIAO_FAULT_SEED=<n>` replays one, otherwise a fresh
//!   one is taken and printed.
//! - Scenarios print their figures as one line, `FAULT <scenario>: key=value …`.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use haiqiao_tests::pump;
use serde_json::Value;

use crate::procs::Proc;

/// The port every node listens on for libp2p, inside its own namespace.
pub(crate) const P2P_PORT: u16 = 4600;
/// The control API's address inside every namespace.
const API_IN_NS: &str = "127.0.0.1:8080";
/// Whether a missing capability fails the test instead of skipping it (`.ci/run` sets it).
const REQUIRED_ENV: &str = "HAIQIAO_FAULT_REQUIRED";
/// The seed to replay.
pub(crate) const SEED_ENV: &str = "HAIQIAO_FAULT_SEED";

/// One scenario at a time: they measure time and bytes, so they must not share the cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// Labs made by this process (for unique names).
static LABS: AtomicUsize = AtomicUsize::new(0);

/// A node in the lab.
#[derive(Debug)]
pub(crate) struct Node {
    /// The local-mesh process handle; its `api` points at the forwarder.
    pub(crate) proc: Proc,
    /// The node's namespace.
    pub(crate) ns: String,
    /// The forwarder's address on the test's loopback.
    fwd: String,
    /// Static peers: (link, the far node), dialled by this node.
    dials: Vec<(usize, usize)>,
}

/// A veth pair between two nodes' namespaces.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) a: usize,
    pub(crate) b: usize,
    /// The device name, the same on both sides.
    pub(crate) dev: String,
    pub(crate) addr_a: String,
    pub(crate) addr_b: String,
}

/// A set of namespaces, links and nodes, torn down on drop.
#[derive(Debug)]
pub(crate) struct Lab {
    /// The scenario's name.
    pub(crate) name: String,
    tag: String,
    dir: tempfile::TempDir,
    pub(crate) nodes: Vec<Node>,
    pub(crate) links: Vec<Link>,
    bridges: Vec<Child>,
    stop: Arc<AtomicBool>,
    forwarders: Vec<String>,
    namespaces: Vec<String>,
    _turn: MutexGuard<'static, ()>,
}

impl Lab {
    /// A lab for scenario `name`, or `None` (after printing why) where this machine cannot
    /// make namespaces.
    pub(crate) fn new(name: &str) -> Option<Lab> {
        if let Err(why) = capable() {
            let msg = format!(
                "SKIP fault scenario {name}: {why} (the fault harness needs root, `ip netns` and \
                 `tc` with tbf; run as root, or see docs/faults.md)"
            );
            if std::env::var_os(REQUIRED_ENV).is_some_and(|v| v == "1") {
                panic!("{msg}; {REQUIRED_ENV}=1 requires it to run");
            }
            println!("{msg}");
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        Some(Lab {
            name: name.to_owned(),
            tag: format!("hqf{}x{n}", std::process::id()),
            dir: tempfile::tempdir().expect("tempdir"),
            nodes: Vec::new(),
            links: Vec::new(),
            bridges: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            forwarders: Vec::new(),
            namespaces: Vec::new(),
            _turn: turn,
        })
    }

    /// The folder of this lab's files.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Makes a namespace and a node in it (key and config, not started); returns its index.
    pub(crate) fn node(&mut self, name: &str, role: &str) -> usize {
        let i = self.nodes.len();
        let ns = format!("{}n{i}", self.tag);
        ip(&["netns", "add", &ns]);
        // Recorded at once, so that a failure below still tears it down.
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        // The command the local-mesh harness runs: the binary under test, in the namespace.
        let script = self.dir().join(format!("{name}.sh"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec ip netns exec {ns} {} \"$@\"\n",
                env!("CARGO_BIN_EXE_haiqiao-test-node")
            ),
        )
        .expect("write node script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod node script");
        let proc = Proc::init(&script, self.dir.path(), name, role, "127.0.0.1");
        // The API's bridge out of the namespace, for the whole test (the API's port is fixed,
        // so restarts of the node do not change it).
        let sock = self.dir().join(format!("{name}.api.sock"));
        let bridge = Command::new("ip")
            .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_ns-bridge")])
            .arg(&sock)
            .arg(API_IN_NS)
            .stdin(Stdio::null())
            .spawn()
            .expect("start ns-bridge");
        self.bridges.push(bridge);
        let fwd = forward(sock, self.stop.clone());
        self.forwarders.push(fwd.clone());
        self.nodes.push(Node {
            proc,
            ns,
            fwd,
            dials: Vec::new(),
        });
        i
    }

    /// Joins nodes `a` and `b` with a veth pair; `a` dials `b` (a static peer, redialled after
    /// cuts and restarts). Returns the link's index.
    pub(crate) fn link(&mut self, a: usize, b: usize) -> usize {
        let l = self.links.len();
        let dev = format!("hq{l}");
        let (na, nb) = (self.nodes[a].ns.clone(), self.nodes[b].ns.clone());
        ip(&[
            "-n", &na, "link", "add", &dev, "type", "veth", "peer", "name", &dev, "netns", &nb,
        ]);
        let addr_a = format!("10.77.{l}.1");
        let addr_b = format!("10.77.{l}.2");
        for (ns, addr) in [(&na, &addr_a), (&nb, &addr_b)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", &dev]);
            ip(&["-n", ns, "link", "set", &dev, "up"]);
        }
        self.links.push(Link {
            a,
            b,
            dev,
            addr_a,
            addr_b,
        });
        self.nodes[a].dials.push((l, b));
        l
    }

    /// Limits both directions of a link to `rate_bps` with a token bucket (`tc … tbf`).
    pub(crate) fn shape(&self, link: usize, rate_bps: u32, burst_bytes: u32, latency_ms: u32) {
        let k = &self.links[link];
        for n in [k.a, k.b] {
            tc(&[
                "-n",
                &self.nodes[n].ns,
                "qdisc",
                "replace",
                "dev",
                &k.dev,
                "root",
                "tbf",
                "rate",
                &format!("{rate_bps}bit"),
                "burst",
                &burst_bytes.to_string(),
                "latency",
                &format!("{latency_ms}ms"),
            ]);
        }
    }

    /// Cuts a link (both ends down): a partition.
    pub(crate) fn cut(&self, link: usize) {
        self.set_link(link, "down");
    }

    /// Restores a cut link.
    pub(crate) fn heal(&self, link: usize) {
        self.set_link(link, "up");
    }

    fn set_link(&self, link: usize, state: &str) {
        let k = &self.links[link];
        for n in [k.a, k.b] {
            ip(&["-n", &self.nodes[n].ns, "link", "set", &k.dev, state]);
        }
    }

    /// Bytes node `from` has sent over a link so far (its veth end's transmit counter,
    /// Ethernet frames).
    pub(crate) fn bytes_from(&self, link: usize, from: usize) -> u64 {
        let k = &self.links[link];
        tx_bytes(&self.nodes[from].ns, &k.dev)
    }

    /// Writes node `i`'s config for the lab (listen address, API, static peers, fast redial)
    /// and the `(section, key, TOML value)` settings, then starts it and points its API at the
    /// forwarder. Returns how long the start took (spawn until the API and network are up).
    pub(crate) fn start(&mut self, i: usize, settings: &[(&str, &str, &str)]) -> Duration {
        let peers: Vec<String> = self.nodes[i]
            .dials
            .iter()
            .map(|&(l, b)| {
                let k = &self.links[l];
                let addr = if k.b == b { &k.addr_b } else { &k.addr_a };
                format!(
                    "/ip4/{addr}/tcp/{P2P_PORT}/p2p/{}",
                    peer_id(&self.nodes[b].proc.id)
                )
            })
            .collect();
        let node = &mut self.nodes[i];
        let p = &mut node.proc;
        p.configure(&peers, "");
        p.set(
            "net",
            "listen",
            &format!("[\"/ip4/0.0.0.0/tcp/{P2P_PORT}\"]"),
        );
        p.set("net", "redial_min_ms", "200");
        p.set("net", "redial_max_ms", "1000");
        p.set("api", "listen", &format!("\"{API_IN_NS}\""));
        for (section, key, value) in settings {
            p.set(section, key, value);
        }
        let t = Instant::now();
        p.start();
        let took = t.elapsed();
        let printed = p.peer_id();
        assert_eq!(
            printed,
            peer_id(&p.id),
            "the harness derives peer ids right"
        );
        p.api = node.fwd.clone();
        took
    }

    /// Kills node `i` with SIGKILL.
    pub(crate) fn kill9(&mut self, i: usize) {
        self.nodes[i].proc.kill9();
    }

    /// The forwarder's address for node `i`'s API (stable across restarts).
    pub(crate) fn api(&self, i: usize) -> String {
        self.nodes[i].fwd.clone()
    }

    /// The node's process handle.
    pub(crate) fn p(&mut self, i: usize) -> &mut Proc {
        &mut self.nodes[i].proc
    }

    /// The resident set size of node `i`'s daemon, in KiB (0 if not running).
    pub(crate) fn rss_kib(&self, i: usize) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.nodes[i].ns])
            .output()
            .expect("ip netns pids");
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if !comm.starts_with("haiqiao") {
                continue;
            }
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                return kb;
            }
        }
        0
    }

    /// Prints the scenario's figures as one line (before any assertion on them).
    pub(crate) fn figures(&self, kv: &[(&str, String)]) {
        let body: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let line = format!("FAULT {}: {}", self.name, body.join(" "));
        println!("{line}");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.proc.kill9();
        }
        for b in &mut self.bridges {
            let _ = b.kill();
            let _ = b.wait();
        }
        self.stop.store(true, Ordering::SeqCst);
        for f in &self.forwarders {
            // Wakes the accept loop so that it sees the stop flag.
            let _ = TcpStream::connect(f);
        }
        for ns in &self.namespaces {
            // Anything still in the namespace was started by this lab (the node, its bridge).
            let out = Command::new("ip").args(["netns", "pids", ns]).output();
            if let Ok(out) = out {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Checks once whether namespaces, veth pairs and tbf can be made here.
fn capable() -> Result<(), String> {
    static CAPABLE: OnceLock<Result<(), String>> = OnceLock::new();
    CAPABLE
        .get_or_init(|| {
            let ns = format!("hqf{}probe", std::process::id());
            let run = |prog: &str, args: &[&str]| -> Result<(), String> {
                let out = Command::new(prog)
                    .args(args)
                    .output()
                    .map_err(|e| format!("cannot run `{prog}`: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "`{prog} {}` failed: {}",
                        args.join(" "),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
            };
            let r = run("ip", &["netns", "add", &ns]).and_then(|()| {
                run(
                    "ip",
                    &[
                        "-n", &ns, "link", "add", "hqp0", "type", "veth", "peer", "name", "hqp1",
                    ],
                )
                .and_then(|()| {
                    run(
                        "tc",
                        &[
                            "-n", &ns, "qdisc", "add", "dev", "hqp0", "root", "tbf", "rate",
                            "9600bit", "burst", "1600", "latency", "500ms",
                        ],
                    )
                })
            });
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
            r
        })
        .clone()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tc(args: &[&str]) {
    let out = Command::new("tc").args(args).output().expect("run tc");
    assert!(
        out.status.success(),
        "tc {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tx_bytes(ns: &str, dev: &str) -> u64 {
    let out = Command::new("ip")
        .args(["-n", ns, "-s", "-j", "link", "show", "dev", dev])
        .output()
        .expect("ip -s link");
    let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j json");
    v[0]["stats64"]["tx"]["bytes"]
        .as_u64()
        .expect("tx bytes in ip -s -j link")
}

/// Listens on the test's loopback and joins each connection to the namespace's bridge.
fn forward(sock: PathBuf, stop: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for conn in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(tcp) = conn else { continue };
            let sock = sock.clone();
            thread::spawn(move || {
                let Ok(unix) = UnixStream::connect(&sock) else {
                    return;
                };
                let (Ok(tcp2), Ok(unix2)) = (tcp.try_clone(), unix.try_clone()) else {
                    return;
                };
                let up = thread::spawn(move || {
                    pump(tcp2, unix2);
                });
                pump(unix, tcp);
                let _ = up.join();
            });
        }
    });
    addr
}

/// The libp2p peer id of an ed25519 node id (64 hex digits): the identity multihash of the
/// protobuf-encoded key, in base58btc.
pub(crate) fn peer_id(node_id_hex: &str) -> String {
    let key = hex::decode(node_id_hex).expect("node id is hex");
    let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    bytes.extend_from_slice(&key);
    base58(&bytes)
}

fn base58(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new();
    for &b in bytes {
        let mut carry = u32::from(b);
        for d in &mut digits {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    std::iter::repeat_n('1', zeros)
        .chain(digits.iter().rev().map(|&d| ALPHABET[d as usize] as char))
        .collect()
}

/// A small seeded generator (splitmix64): schedules replay exactly from the seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(haiqiao_sim::rng::Rng);

impl Rng {
    /// The scenario's seed (`HAIQIAO_FAULT_SEED`, or a fresh one), printed for replay.
    pub(crate) fn for_scenario(name: &str) -> (Rng, u64) {
        let seed = match std::env::var(SEED_ENV) {
            Ok(s) => s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{SEED_ENV} is not a number: {s:?}")),
            Err(_) => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                (t ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_007
            }
        };
        let line = format!("FAULT {name}: seed={seed} (replay with {SEED_ENV}={seed})");
        println!("{line}");
        (Rng(haiqiao_sim::rng::Rng::stream(seed, 0)), seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.between(lo, hi)
    }
}

/// Polls `f` every `every` until it returns `Some` or `within` has passed.
pub(crate) fn poll<T>(
    within: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(every);
    }
}

/// An API call that may fail (the node may be down): `(status, body)` or `None`.
pub(crate) fn call(
    api: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{api}{path}");
    let mut r = match (method, body) {
        ("POST", Some(b)) => agent.post(&url).send_json(b).ok()?,
        _ => agent.get(&url).call().ok()?,
    };
    let status = r.status().as_u16();
    let v: Value = r.body_mut().read_json().ok()?;
    Some((status, v))
}

/// Whether node API `api` holds record `id`.
pub(crate) fn holds(api: &str, id: &str) -> bool {
    matches!(
        call(api, "GET", &format!("/api/v1/records/{id}"), None),
        Some((200, _))
    )
}

/// The node's status, if it answers.
pub(crate) fn status(api: &str) -> Option<Value> {
    call(api, "GET", "/api/v1/status", None).map(|(_, v)| v)
}

/// Milliseconds, for the figures.
pub(crate) fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}
