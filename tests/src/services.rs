//! Real external services for the shore tests: a mosquitto broker and a PostgreSQL server, each
//! a child process of the test on a free loopback port in a temp dir, so that a test can stop
//! and start it (a broker restart, a database outage). `.ci/run` installs the Debian packages
//! and sets `HAIQIAO_SHORE_REQUIRED=1`: then a missing binary fails the test; otherwise the
//! test prints `SKIP …` and returns.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set by `.ci/run`: the services must be there.
pub const REQUIRED_ENV: &str = "HAIQIAO_SHORE_REQUIRED";

/// Where mosquitto is (`HAIQIAO_MOSQUITTO`, else Debian's path).
fn mosquitto_bin() -> PathBuf {
    std::env::var_os("HAIQIAO_MOSQUITTO")
        .map_or_else(|| "/usr/sbin/mosquitto".into(), PathBuf::from)
}

/// Where PostgreSQL's server programs are (`HAIQIAO_PG_BIN`, else Debian's newest).
fn pg_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HAIQIAO_PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    found.sort();
    found.pop()
}

/// Skips (prints why, returns `None`) or fails, as [`REQUIRED_ENV`] says.
pub fn unavailable<T>(what: &str) -> Option<T> {
    if std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "1") {
        panic!("{what} is required ({REQUIRED_ENV}=1) but unavailable; .ci/run installs it");
    }
    println!(
        "SKIP: {what} is not installed (.ci/run installs it; {REQUIRED_ENV}=1 makes this fail)"
    );
    None
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `cmd` and waits for the program to say it is ready: a line of its stdout or stderr
/// containing `ready` (the program's own word is the event to await). Every line is copied
/// to `log` when given. Fails if the program exits, or has not said so within 30 s.
pub fn spawn_until_ready(
    cmd: &mut Command,
    ready: &'static str,
    log: Option<&Path>,
    what: &str,
) -> Child {
    use std::io::{BufRead, BufReader, Write};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let log = log.map(|p| {
        std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::File::create(p).expect("log file"),
        ))
    });
    // Bounded: one "ready" is awaited; later ones (a second stream) are dropped.
    let (said, heard) = std::sync::mpsc::sync_channel::<()>(1);
    let out = child
        .stdout
        .take()
        .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
    let err = child
        .stderr
        .take()
        .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>);
    for stream in [out, err].into_iter().flatten() {
        let (said, log) = (said.clone(), log.clone());
        // Reads to the end, so that the program never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(l) = &log {
                    let _ = writeln!(l.lock().expect("log"), "{line}");
                }
                if line.contains(ready) {
                    let _ = said.try_send(());
                }
            }
        });
    }
    drop(said);
    match heard.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => child,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let st = child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("{what} ended before saying {ready:?}: {st}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not say {ready:?} within 30 s")
        }
    }
}

fn stop_child(child: &mut Option<Child>, sig: i32) {
    if let Some(mut c) = child.take() {
        let pid = i32::try_from(c.id()).expect("pid");
        // A graceful stop (the broker saves its persistence file; postgres shuts down).
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status();
        // Its exit is the event; killed if it has not come within 20 s.
        let _ = haiqiao_node::local::wait_or_kill(&mut c, Instant::now() + Duration::from_secs(20));
    }
}

/// A mosquitto broker on 127.0.0.1, with persistence (so that a subscriber's persistent
/// session and its queued QoS 1 messages survive a restart).
#[derive(Debug)]
pub struct Mosquitto {
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts one in `dir`, or `None` (skipped) when mosquitto is not installed.
    pub fn start(dir: &Path) -> Option<Mosquitto> {
        if !mosquitto_bin().exists() {
            return unavailable("mosquitto");
        }
        std::fs::create_dir_all(dir).expect("mosquitto dir");
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nlog_dest stderr\nmax_queued_messages 100000\n",
                dir.display()
            ),
        )
        .expect("mosquitto.conf");
        let mut m = Mosquitto {
            port,
            dir: dir.to_path_buf(),
            child: None,
        };
        m.restart();
        Some(m)
    }

    /// Starts it (again) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut cmd = Command::new(mosquitto_bin());
        cmd.arg("-c").arg(self.dir.join("mosquitto.conf"));
        if is_root() {
            // mosquitto drops root to the `mosquitto` user, which must reach its files.
            chown_to(&self.dir, "mosquitto");
        }
        // "Opening … listen socket", then "mosquitto version … running": it is listening. (Its
        // log goes to stderr, which it does not buffer on a pipe as it does stdout.)
        let log = self.dir.join("mosquitto.log");
        let child = spawn_until_ready(&mut cmd, " running", Some(&log), "mosquitto");
        self.child = Some(child);
    }

    /// Stops it gracefully (SIGTERM: it saves its persistence file).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, 15);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        stop_child(&mut self.child, 9);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to(dir: &Path, user: &str) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(dir)
        .status()
        .expect("chown");
    assert!(st.success(), "chown {user} {}", dir.display());
}

/// A PostgreSQL server on 127.0.0.1 with a trusted role `haiqiao` and database `haiqiao`.
#[derive(Debug)]
pub struct Postgres {
    /// Its port.
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    child: Option<Child>,
}

impl Postgres {
    /// Initialises a cluster in `dir` and starts it, or `None` (skipped) when PostgreSQL is
    /// not installed. As root the server runs as the `postgres` user (initdb refuses root).
    pub fn start(dir: &Path) -> Option<Postgres> {
        let Some(bin) = pg_bin() else {
            return unavailable("PostgreSQL");
        };
        std::fs::create_dir_all(dir).expect("pg dir");
        let data = dir.join("data");
        if is_root() {
            chown_to(dir, "postgres");
            // The temp dir's parents must let the postgres user through.
            let mut p = dir.parent();
            while let Some(d) = p {
                let _ = Command::new("chmod").arg("o+x").arg(d).status();
                p = d.parent();
            }
        }
        let out = as_pg_user(Command::new(bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "haiqiao",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))
        .output()
        .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            port: free_port(),
            bin,
            data,
            child: None,
        };
        pg.restart();
        let st = Command::new(pg.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "haiqiao",
                "haiqiao",
            ])
            .status()
            .expect("createdb");
        assert!(st.success(), "createdb");
        Some(pg)
    }

    /// The connection string for `[archive] url`.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=haiqiao dbname=haiqiao connect_timeout=5",
            self.port
        )
    }

    /// Starts the server (again) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut cmd = as_pg_user(
            Command::new(self.bin.join("postgres"))
                .arg("-D")
                .arg(&self.data)
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-c", "fsync=off", "-c", "unix_socket_directories="]),
        );
        // Said once recovery after a stop is over and queries are taken (listening comes
        // earlier).
        let log = self.data.with_file_name("postgres.log");
        let child = spawn_until_ready(
            &mut cmd,
            "ready to accept connections",
            Some(&log),
            "postgres",
        );
        self.child = Some(child);
    }

    /// Stops the server (SIGINT: fast shutdown, every client cut off).
    pub fn stop(&mut self) {
        stop_child(&mut self.child, 2);
    }

    /// One value from a query, through psql.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "haiqiao",
            ])
            .args(["-d", "haiqiao", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        stop_child(&mut self.child, 3);
    }
}

/// Runs `cmd` as the `postgres` user when we are root (setpriv: it execs the program, so the
/// child's pid is the server's own and signals reach it), else as ourselves.
fn as_pg_user(cmd: &mut Command) -> Command {
    if !is_root() {
        let mut c = Command::new(cmd.get_program());
        c.args(cmd.get_args());
        return c;
    }
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ])
    .arg(cmd.get_program());
    c.args(cmd.get_args());
    c
}

/// Messages a test MQTT client received, and a way to wait for them.
type Inbox = std::sync::Arc<(std::sync::Mutex<Vec<(String, Vec<u8>)>>, std::sync::Condvar)>;

/// An MQTT client for tests (rumqttc's blocking client on its own thread): subscribes to
/// `filter` at QoS 1 with a persistent session (`clean` false), so that what the broker queued
/// for it across a restart comes through.
pub struct MqttClient {
    client: rumqttc::Client,
    inbox: Inbox,
}

impl MqttClient {
    /// Connects and subscribes; returns once the broker acknowledged the subscription.
    pub fn start(port: u16, id: &str, filter: &str, clean: bool) -> MqttClient {
        let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(clean);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut conn) = rumqttc::Client::new(opts, 64);
        client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .expect("subscribe");
        let inbox: Inbox = Default::default();
        // Bounded: only the first acknowledgement is awaited; later ones (after a reconnect) are
        // dropped when one is still unread.
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::sync_channel(1);
        let ib = std::sync::Arc::clone(&inbox);
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = subscribed_tx.try_send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let (m, cv) = &*ib;
                        m.lock()
                            .expect("lock")
                            .push((p.topic.clone(), p.payload.to_vec()));
                        cv.notify_all();
                    }
                    Ok(_) => {}
                    // The broker is away (a restart): rumqttc reconnects on the next
                    // iteration; a short pause keeps it from spinning meanwhile.
                    Err(rumqttc::ConnectionError::RequestsDone) => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        subscribed_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the broker acknowledged the subscription");
        MqttClient { client, inbox }
    }

    /// Publishes at QoS 1.
    pub fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.as_bytes())
            .expect("publish");
    }

    /// Waits (at most `within`) until `done` holds of the messages received; false if not.
    pub fn wait(&self, within: Duration, done: impl Fn(&[(String, Vec<u8>)]) -> bool) -> bool {
        let (m, cv) = &*self.inbox;
        let deadline = Instant::now() + within;
        let mut g = m.lock().expect("lock");
        while !done(&g) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = cv.wait_timeout(g, left).expect("lock").0;
        }
        true
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<(String, Vec<u8>)> {
        self.inbox.0.lock().expect("lock").clone()
    }
}

impl std::fmt::Debug for MqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttClient").finish_non_exhaustive()
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}
