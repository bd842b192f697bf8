//! A local mesh: `haiqiao` nodes as separate processes on 127.0.0.x, driven through their
//! control API. Used by `haiqiao demo` and by the integration tests.
//!
//! Every wait is on an event: a line the daemon prints (`peer up`, `delivered`, `listening`),
//! read by a thread per child and passed through a channel; timeouts only guard against hangs.
#![allow(clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Longest wait for any one event.
pub const WAIT: Duration = Duration::from_secs(60);

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
        }
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
        let mut child = Command::new(&self.exe)
            .args(["run", "--config"])
            .arg(self.dir.join("haiqiao.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn haiqiao run");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
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
        let deadline = Instant::now() + WAIT;
        while !done(&self.seen) {
            let rx = self.lines.as_ref().expect("started");
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("{}: timed out waiting; saw {:#?}", self.name, self.seen),
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

    pub fn get(&self, path: &str) -> Value {
        let mut r = agent()
            .get(format!("http://{}{path}", self.api))
            .call()
            .expect("api get");
        r.body_mut().read_json().expect("json")
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        let mut r = agent()
            .post(format!("http://{}{path}", self.api))
            .send_json(body)
            .expect("api post");
        let v: Value = r.body_mut().read_json().expect("json");
        assert!(v.get("error").is_none(), "{}: {v}", self.name);
        v
    }

    /// POSTs a request the node must refuse; returns the reason it gives.
    pub fn refused(&self, path: &str, body: &Value) -> String {
        let mut r = agent()
            .post(format!("http://{}{path}", self.api))
            .send_json(body)
            .expect("api post");
        let status = r.status();
        let v: Value = r.body_mut().read_json().expect("json");
        assert!(
            !status.is_success(),
            "{}: {path} should have been refused, got {v}",
            self.name
        );
        v["error"].as_str().unwrap_or("").to_owned()
    }

    /// Waits for the fleet timeline line `fleet: <what> ...` that contains `text`.
    pub fn saw(&mut self, what: &str, text: &str) -> String {
        let prefix = format!("fleet: {what} ");
        self.wait_line(|l| l.starts_with(&prefix) && l.contains(text))
    }

    /// Writes a record through the API; returns its id.
    pub fn submit(&self, body: Value) -> String {
        self.post("/api/v1/records", &body)["id"]
            .as_str()
            .expect("id")
            .to_owned()
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
            let status = c.wait().expect("wait");
            assert!(
                status.success(),
                "{} did not shut down cleanly: {status}",
                self.name
            );
        }
    }
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
        self.kill9();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}
