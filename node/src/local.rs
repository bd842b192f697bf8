//! A local mesh: `haiqiao` nodes as separate processes on 127.0.0.x, driven through their
//! control API. Used by `haiqiao demo` and by the integration tests.
//!
//! Every wait is on an event: a line the daemon prints (`peer up`, `delivered`, `listening`),
//! read by a thread per child and passed through a channel; timeouts only guard against hangs.
//!
//! A harness for tests: what does not happen as expected panics. The demo makes its nodes
//! [`Proc::interruptible`]: they run in their own process groups (Ctrl-C reaches only the
//! demo), an [`Interrupt`] stops them cleanly on SIGINT or SIGTERM, and the demo's thread then
//! unwinds quietly with an [`Interrupted`] payload instead of panicking.
#![allow(clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Longest wait for any one event.
pub const WAIT: Duration = Duration::from_secs(60);

/// How long an interrupted node has to shut down before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Lines of a node's stdout read but not yet looked at, at most.
const STDOUT_LINES_CAP: usize = 1 << 16;

/// The unwind payload of a demo step cut short by Ctrl-C (see [`Interrupt`]).
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

/// SIGINT and SIGTERM for a local mesh: when one arrives, every node made
/// [`Proc::interruptible`] with this is sent SIGTERM (each shuts down cleanly), and the
/// receiver returned by [`Interrupt::watch`] gets one message.
#[derive(Debug, Clone)]
pub struct Interrupt {
    hit: Arc<AtomicBool>,
    pids: Arc<Mutex<Vec<u32>>>,
}

impl Interrupt {
    /// Takes over SIGINT and SIGTERM for this process (a thread waits for them).
    pub fn watch() -> std::io::Result<(Interrupt, mpsc::Receiver<()>)> {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (mut int, mut term) = {
            let _in = rt.enter();
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )
        };
        let me = Interrupt {
            hit: Arc::new(AtomicBool::new(false)),
            pids: Arc::new(Mutex::new(Vec::new())),
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let it = me.clone();
        std::thread::Builder::new()
            .name("interrupt".into())
            .spawn(move || {
                rt.block_on(async {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                });
                it.hit.store(true, Ordering::SeqCst);
                let pids = it.pids.lock().map(|p| p.clone()).unwrap_or_default();
                for pid in pids {
                    let _ = send_signal(pid as i32, 15);
                }
                let _ = tx.try_send(());
            })?;
        Ok((me, rx))
    }

    /// Whether a signal has arrived.
    pub fn is_hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }

    /// Counts `pid` among the nodes to stop; stops it at once if the signal came already.
    fn register(&self, pid: u32) {
        if let Ok(mut pids) = self.pids.lock() {
            pids.push(pid);
        }
        if self.is_hit() {
            let _ = send_signal(pid as i32, 15);
        }
    }
}

/// One running node.
#[derive(Debug)]
pub struct Proc {
    exe: PathBuf,
    /// The node's name.
    pub name: String,
    /// The node's folder.
    pub dir: PathBuf,
    /// The loopback address it listens on.
    pub ip: String,
    child: Option<Child>,
    lines: Option<mpsc::Receiver<String>>,
    /// Lines seen so far.
    pub seen: Vec<String>,
    /// The control API's address.
    pub api: String,
    /// The node id (hex key), as `haiqiao init` printed it.
    pub id: String,
    /// The node's full libp2p address.
    pub p2p: String,
    interrupt: Option<Interrupt>,
}

impl Proc {
    /// Creates a node's folder (key and config) without starting it.
    pub fn init(exe: &Path, base: &Path, name: &str, role: &str, ip: &str) -> Proc {
        let dir = base.join(name);
        let out = Command::new(exe)
            .args(["init", "--role", role, "--name", name, "--dir"])
            .arg(&dir)
            .output()
            .expect("run init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("node id "))
            .expect("init prints the node id")
            .trim()
            .to_owned();
        Proc {
            exe: exe.to_path_buf(),
            name: name.to_owned(),
            dir,
            ip: ip.to_owned(),
            child: None,
            lines: None,
            seen: Vec::new(),
            api: String::new(),
            id,
            p2p: String::new(),
            interrupt: None,
        }
    }

    /// Runs this node in its own process group, stopped by `interrupt` (the demo's nodes).
    pub fn interruptible(&mut self, interrupt: &Interrupt) {
        self.interrupt = Some(interrupt.clone());
    }

    /// Gives up: quietly (an [`Interrupted`] unwind) if the run was interrupted, else a panic.
    fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        if self.interrupt.as_ref().is_some_and(Interrupt::is_hit) {
            std::panic::resume_unwind(Box::new(Interrupted));
        }
        panic!("{}: {what}", self.name);
    }

    /// Rewrites the config for loopback: listen on this node's address (TCP, port 0), no
    /// mDNS, the API on port 0, these static peers.
    pub fn configure(&self, static_peers: &[String], extra: &str) {
        let path = self.dir.join("haiqiao.toml");
        let text = std::fs::read_to_string(&path).expect("read config");
        let mut out = String::new();
        let mut section = String::new();
        for line in text.lines() {
            if line.starts_with('[') {
                section = line.to_owned();
            }
            let key = line.split('=').next().unwrap_or("").trim();
            let replaced = match (section.as_str(), key) {
                ("[net]", "listen") => Some(format!("listen = [\"/ip4/{}/tcp/0\"]", self.ip)),
                ("[net]", "static_peers") => Some(format!(
                    "static_peers = [{}]",
                    static_peers
                        .iter()
                        .map(|p| format!("\"{p}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                ("[net]", "mdns") => Some("mdns = false".to_owned()),
                ("[api]", "listen") => Some(format!("listen = \"{}:0\"", self.ip)),
                _ => None,
            };
            out.push_str(replaced.as_deref().unwrap_or(line));
            out.push('\n');
        }
        out.push_str(extra);
        std::fs::write(&path, out).expect("write config");
    }

    /// Sets `key = value` (`value` in TOML) in `[section]` of the node's config, adding the
    /// key if the section lacks it.
    pub fn set(&self, section: &str, key: &str, value: &str) {
        let path = self.dir.join("haiqiao.toml");
        let text = std::fs::read_to_string(&path).expect("read config");
        let header = format!("[{section}]");
        let mut out = Vec::new();
        let (mut inside, mut done) = (false, false);
        for line in text.lines() {
            if line.starts_with('[') {
                if inside && !done {
                    out.push(format!("{key} = {value}"));
                    done = true;
                }
                inside = line.trim() == header;
            }
            if inside && line.split('=').next().unwrap_or("").trim() == key {
                out.push(format!("{key} = {value}"));
                done = true;
                continue;
            }
            out.push(line.to_owned());
        }
        if !done {
            if !inside {
                out.push(header);
            }
            out.push(format!("{key} = {value}"));
        }
        std::fs::write(&path, out.join("\n") + "\n").expect("write config");
    }

    /// Starts the daemon and waits until its API and network are up.
    pub fn start(&mut self) {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["run", "--config"])
            .arg(self.dir.join("haiqiao.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // The operator's logs of a local mesh's nodes would interleave with the demo's timeline
        // and the tests' output on this terminal: errors only, unless RUST_LOG asks otherwise.
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "error");
        }
        if self.interrupt.is_some() {
            cmd.process_group(0);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => self.fail(format_args!("spawning haiqiao run: {e}")),
        };
        if let Some(i) = &self.interrupt {
            i.register(child.id());
        }
        let stdout = child.stdout.take().expect("stdout");
        // Bounded like every queue: past this many unread lines the reader waits, and so does
        // the node's stdout (a node prints a few lines a record; every wait here reads them).
        let (tx, rx) = mpsc::sync_channel(STDOUT_LINES_CAP);
        let name = self.name.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if std::env::var_os("HAIQIAO_LOCAL_ECHO").is_some() {
                    eprintln!("[{name}] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        self.lines = Some(rx);
        self.seen.clear();
        let api_line = self.wait_line(|l| l.contains("control API http://"));
        self.api = api_line
            .rsplit("http://")
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let listen = self.wait_line(|l| l.starts_with("listening on /ip4/"));
        let addr = listen.trim_start_matches("listening on ").trim();
        self.p2p = format!("{addr}/p2p/{}", self.peer_id());
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The node's libp2p peer id, as the daemon prints it.
    pub fn peer_id(&mut self) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.starts_with("peer id ")) {
            return l.trim_start_matches("peer id ").trim().to_owned();
        }
        let l = self.wait_line(|l| l.starts_with("peer id "));
        l.trim_start_matches("peer id ").trim().to_owned()
    }

    /// Waits until `done` holds over the lines seen so far (it is checked before each new
    /// line is read).
    pub fn wait_until(&mut self, done: impl Fn(&[String]) -> bool) {
        match self.wait_within(WAIT, done) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let last = self.seen.len().saturating_sub(20);
                self.fail(format_args!(
                    "timed out waiting; the last lines: {:#?}",
                    &self.seen[last..]
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.exit_status();
                self.fail(format_args!("the node exited ({status}) while awaited"))
            }
        }
    }

    /// Reads the node's output until `done` holds of the lines seen so far, for at most
    /// `within`: `Timeout` if it did not, `Disconnected` if the node's output ended first.
    pub fn wait_within(
        &mut self,
        within: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<(), mpsc::RecvTimeoutError> {
        let deadline = Instant::now() + within;
        while !done(&self.seen) {
            let rx = self.lines.as_ref().expect("started");
            let left = deadline.saturating_duration_since(Instant::now());
            self.seen.push(rx.recv_timeout(left)?);
        }
        Ok(())
    }

    /// Waits until `n` of the lines seen start with `prefix`, counting each line once as it
    /// comes (re-scanning every line seen for each new one is quadratic, and a relayed burst
    /// prints tens of thousands). Gives up when no line came for [`WAIT`].
    pub fn wait_count(&mut self, prefix: &str, n: usize) {
        let mut count = self.seen.iter().filter(|l| l.starts_with(prefix)).count();
        while count < n {
            let rx = self.lines.as_ref().expect("started");
            match rx.recv_timeout(WAIT) {
                Ok(line) => {
                    count += usize::from(line.starts_with(prefix));
                    self.seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.fail(format_args!(
                    "timed out with {count} of {n} lines \"{prefix}…\"; the last: {:#?}",
                    &self.seen[self.seen.len().saturating_sub(20)..]
                )),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.exit_status();
                    self.fail(format_args!("the node exited ({status}) while awaited"))
                }
            }
        }
    }

    /// Waits for a line matching `pred` (including lines already seen), returning it.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_until(|seen| seen.iter().any(|l| pred(l)));
        self.seen
            .iter()
            .find(|l| pred(l))
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `n` peers are up at once.
    pub fn wait_peers(&mut self, n: usize) {
        self.wait_until(|seen| {
            let up = seen.iter().filter(|l| l.starts_with("peer up ")).count();
            let down = seen.iter().filter(|l| l.starts_with("peer down ")).count();
            up.saturating_sub(down) >= n
        });
    }

    /// A request to the control API: its status and JSON reply.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.api);
        let r = match (method, body) {
            ("GET", _) => agent().get(&url).call(),
            (_, Some(b)) => agent().post(&url).send_json(b),
            (_, None) => agent().post(&url).send_empty(),
        };
        let mut r = match r {
            Ok(r) => r,
            Err(e) => self.fail(format_args!("{method} {path}: {e}")),
        };
        let status = r.status().as_u16();
        match r.body_mut().read_json::<Value>() {
            Ok(v) => (status, v),
            Err(e) => self.fail(format_args!("{method} {path}: {status}, not JSON: {e}")),
        }
    }

    /// GETs a path that must succeed.
    pub fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, None);
        if !(200..300).contains(&status) {
            self.fail(format_args!("GET {path}: {status} {v}"));
        }
        v
    }

    /// POSTs a request that must succeed.
    pub fn post(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self.call("POST", path, Some(body));
        if !(200..300).contains(&status) {
            self.fail(format_args!("POST {path}: {status} {v}"));
        }
        v
    }

    /// POSTs a request the node must refuse; returns the reason it gives (its `message`).
    pub fn refused(&self, path: &str, body: &Value) -> String {
        let (status, v) = self.call("POST", path, Some(body));
        if (200..300).contains(&status) {
            self.fail(format_args!("{path} should have been refused, got {v}"));
        }
        v["message"].as_str().unwrap_or("").to_owned()
    }

    /// Waits for the fleet timeline line `fleet: <what> ...` that contains `text`.
    pub fn saw(&mut self, what: &str, text: &str) -> String {
        self.saw_since(0, what, text)
    }

    /// How many lines have been seen: a mark for [`Proc::saw_since`].
    pub fn mark(&self) -> usize {
        self.seen.len()
    }

    /// As [`Proc::saw`], counting only lines seen after `mark`.
    pub fn saw_since(&mut self, mark: usize, what: &str, text: &str) -> String {
        let prefix = format!("fleet: {what} ");
        let hit = |l: &String| l.starts_with(&prefix) && l.contains(text);
        self.wait_until(|seen| seen.iter().skip(mark).any(hit));
        self.seen
            .iter()
            .skip(mark)
            .find(|l| hit(l))
            .cloned()
            .unwrap_or_default()
    }

    /// Writes a record through the API; returns its id.
    pub fn submit(&self, body: Value) -> String {
        let v = self.post("/api/v1/records", &body);
        match v["id"].as_str() {
            Some(id) => id.to_owned(),
            None => self.fail(format_args!("no id in {v}")),
        }
    }

    /// Asks the node to close its connections to a peer (a link going down).
    pub fn disconnect(&self, peer_id_hex: &str) {
        self.post("/api/v1/peers/disconnect", &json!({ "peer": peer_id_hex }));
    }

    /// Asks the node to dial an address.
    pub fn dial(&self, addr: &str) {
        self.post("/api/v1/peers", &json!({ "addr": addr }));
    }

    /// Kills the process with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.lines = None;
    }

    /// Stops the process with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id() as i32;
            let _ = send_signal(pid, 15);
            match c.wait() {
                Ok(s) if s.success() => {}
                Ok(s) => self.fail(format_args!("did not shut down cleanly: {s}")),
                Err(e) => self.fail(format_args!("waiting for it: {e}")),
            }
        }
    }

    /// How the process ended, if it did.
    fn exit_status(&mut self) -> String {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(s))) => s.to_string(),
            Some(Ok(None)) => "still running, its output closed".to_owned(),
            Some(Err(e)) => e.to_string(),
            None => "not started".to_owned(),
        }
    }

    /// After an interrupt: SIGTERM (again), and a clean exit awaited, within [`STOP_GRACE`].
    /// Its output is still read meanwhile, so its last lines never meet a closed pipe.
    fn stop_interrupted(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = send_signal(c.id() as i32, 15);
        let deadline = Instant::now() + STOP_GRACE;
        // Its output closing, then its exit, are the events awaited; killed at the deadline.
        while let Some(rx) = &self.lines {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => self.seen.push(l),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => self.lines = None,
            }
        }
        let _ = wait_or_kill(&mut c, deadline);
    }
}

/// Waits for `c` to exit (the event), killing it (SIGKILL) if it has not by `deadline`.
pub fn wait_or_kill(c: &mut Child, deadline: Instant) -> std::io::Result<std::process::ExitStatus> {
    let pid = c.id() as i32;
    let (exited, watch) = mpsc::sync_channel::<()>(1);
    let dog = std::thread::spawn(move || {
        let left = deadline.saturating_duration_since(Instant::now());
        if matches!(
            watch.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) {
            let _ = send_signal(pid, 9);
        }
    });
    let st = c.wait();
    let _ = exited.send(());
    let _ = dog.join();
    st
}

fn send_signal(pid: i32, sig: i32) -> std::io::Result<()> {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.interrupt.as_ref().is_some_and(Interrupt::is_hit) {
            self.stop_interrupted();
        } else {
            self.kill9();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}
