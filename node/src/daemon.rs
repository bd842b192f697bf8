//! `haiqiao run`: store, engine, swarm and the control API in one tokio runtime.
//!
//! This module starts and stops the node: it takes the data dir, opens the store and the
//! node's metadata in it (`meta`), replays the store into the fleet's views, binds the API and
//! the network, starts the boat's instruments and the shore bridges, then hands everything to
//! the engine task (`task`: the loop, the only owner of the engine and writer of the store)
//! until a signal, and flushes on the way out.

use std::path::PathBuf;

use anyhow::Context;
use haiqiao_mesh::{Input, MeshConfig, Node};
use haiqiao_proto::{KeyHint, Keypair, Role};
use haiqiao_store::SledStore;
use tokio::sync::mpsc;

use crate::command::{COMMAND_CAP, Command};
use crate::workflows::Workflows;

mod inbox;
mod inflow;
mod meta;
mod net;
mod task;
#[cfg(test)]
mod tests;

pub(crate) use inbox::{Inbox, refill_inbox};
use task::{Daemon, Ending};

/// Everything the daemon needs.
#[derive(Debug)]
pub(crate) struct DaemonSpec {
    pub(crate) key: Keypair,
    pub(crate) role: Role,
    pub(crate) name: String,
    pub(crate) partner: Option<KeyHint>,
    pub(crate) groups: Vec<u32>,
    pub(crate) data_dir: PathBuf,
    pub(crate) store: haiqiao_mesh::StoreLimits,
    pub(crate) mesh: MeshConfig,
    pub(crate) fleet: haiqiao_fleet::FleetConfig,
    pub(crate) net: haiqiao_net::NetConfig,
    pub(crate) api: crate::config::ApiSection,
    /// The boat's GPS, the plotter feed and Signal K.
    pub(crate) marine: crate::marine::MarineSpec,
    pub(crate) shore: crate::shore::ShoreSpec,
    pub(crate) mediators: Vec<crate::shore::ashore::Ashore>,
}

/// The file in the data dir that a running daemon holds locked, with its pid inside.
const LOCK_FILE: &str = "haiqiao.lock";

/// Takes the data dir for this process: one daemon per data dir. The lock (flock) goes with
/// the returned file, so it is released when the daemon exits, however it exits.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = f.take(32).read_to_string(&mut pid);
            let pid = pid.trim();
            let who = if pid.is_empty() {
                String::new()
            } else {
                format!(" (pid {pid})")
            };
            anyhow::bail!(
                "another haiqiao is running on data dir {}{who}: stop it first, or give this \
                 node its own data_dir in [node] (and its own [net] listen and [api] listen \
                 ports; see configs/two-nodes/)",
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{}", std::process::id())?;
    f.sync_all()?;
    Ok(f)
}

/// Why the network could not start, and what to do about it.
fn net_error(e: haiqiao_net::NetError) -> anyhow::Error {
    let hint = match &e {
        haiqiao_net::NetError::AddrInUse { .. } => {
            "; another program (another haiqiao node?) has this port: give this node other \
             ports in [net] listen (configs/two-nodes/ shows two nodes on one machine)"
        }
        haiqiao_net::NetError::Listen { .. } => {
            "; check the [net] listen addresses (a port in use? give this node other ports; \
             configs/two-nodes/ shows two nodes on one machine)"
        }
        _ => "",
    };
    anyhow::anyhow!("starting the network: {e}{hint}")
}

/// Refuses listen ports another program holds, before libp2p is started, so that the answer
/// is the same for TCP and QUIC: libp2p listens on TCP with SO_REUSEPORT, so a second haiqiao
/// on the same TCP port would start and silently share it (the kernel handing each incoming
/// connection to either node), and a QUIC port in use comes back from libp2p wrapped so that
/// its cause can only be read, not told. A plain bind, which never shares, tells.
fn check_ports(listen: &[String]) -> anyhow::Result<()> {
    for a in listen {
        let parts: Vec<&str> = a.split('/').collect();
        let (ip, proto, port) = match parts.as_slice() {
            ["", "ip4" | "ip6", ip, proto @ ("tcp" | "udp"), port, ..] => (*ip, *proto, *port),
            _ => continue,
        };
        let (Ok(ip), Ok(port)) = (ip.parse::<std::net::IpAddr>(), port.parse::<u16>()) else {
            continue;
        };
        if port == 0 {
            continue;
        }
        let bound = if proto == "tcp" {
            std::net::TcpListener::bind((ip, port)).map(drop)
        } else {
            std::net::UdpSocket::bind((ip, port)).map(drop)
        };
        if let Err(e) = bound
            && e.kind() == std::io::ErrorKind::AddrInUse
        {
            return Err(net_error(haiqiao_net::NetError::AddrInUse {
                addr: a.clone(),
            }));
        }
    }
    Ok(())
}

/// Runs until SIGINT or SIGTERM (or the control API stops).
pub(crate) async fn run(spec: DaemonSpec) -> anyhow::Result<()> {
    crate::logs::init()?;
    std::fs::create_dir_all(&spec.data_dir)
        .with_context(|| format!("creating {}", spec.data_dir.display()))?;
    let _lock = lock_data_dir(&spec.data_dir)?;
    let store = SledStore::open(spec.data_dir.join("store"), spec.store.clone())
        .with_context(|| format!("opening the store in {}", spec.data_dir.display()))?;
    let (keeper, kept) = meta::MetaKeeper::open(&store, &spec.data_dir)
        .with_context(|| format!("the node's metadata in {}", spec.data_dir.display()))?;
    let now = crate::clock::now_ms();
    let mut mesh = spec.mesh.clone();
    // Flow control with the network driver: fewer frames outstanding than its queue holds.
    let most = (haiqiao_net::PEER_WRITE_QUEUE_CAP / 2) as u32;
    mesh.send_window_frames = match mesh.send_window_frames {
        0 => most,
        w => w.min(most),
    };
    let mut node = Node::new(mesh, spec.key.clone(), spec.role, store, now)?;
    node.handle(now, Input::Groups(spec.groups.clone()))?;
    node.handle(
        now,
        Input::Restored {
            next_seq: kept.next_seq,
            last_shore_ms: kept.last_shore_ms,
        },
    )?;
    let me = spec.key.public();
    let mut work = Workflows::new(spec.fleet.clone(), me, u64::from_le_bytes(me.hint().0))
        .context("the [fleet] settings")?;
    work.replay(now, &mut node)?;
    let mut inbox = Inbox::new(spec.api.inbox_capacity);
    refill_inbox(&node, &mut inbox)?;
    crate::dashboard::access::check_listen(&spec.api)?;
    let listener = tokio::net::TcpListener::bind(spec.api.listen)
        .await
        .with_context(|| {
            format!(
                "binding the control API on {}: another node (or program) may have this \
                 port; give this node another [api] listen address (a second node on this \
                 machine also needs its own [net] listen ports; see configs/two-nodes/)",
                spec.api.listen
            )
        })?;
    let api_addr = listener.local_addr()?;
    check_ports(&spec.net.listen)?;
    let (net, mut events) =
        haiqiao_net::spawn(spec.key.seed(), spec.net.clone()).map_err(net_error)?;
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(COMMAND_CAP);
    let marine_cmd = cmd_tx.clone();
    let bridges = crate::shore::spawn(&spec.shore, &spec.data_dir, &spec.name, cmd_tx.clone())?;
    let app = crate::api::router(cmd_tx, &spec.api);
    let (stop_api, stop_api_rx) = tokio::sync::watch::channel(false);
    let mut api_task = tokio::spawn(crate::api::serve(
        listener,
        app,
        spec.api.clone(),
        stop_api_rx,
    ));
    println!("peer id {}", haiqiao_net::peer_id(&spec.key.public())?);
    println!(
        "haiqiao {} {} ({}) node id {} — control API http://{api_addr}",
        spec.role.name(),
        spec.name,
        spec.key.public().short(),
        spec.key.public()
    );
    println!("dashboard http://{api_addr}/");
    tracing::info!(role = spec.role.name(), name = %spec.name, id = %spec.key.public(), api = %api_addr, "started");
    let mut d = Daemon::new(node, work, net, inbox, keeper);
    d.name = spec.name.clone();
    d.partner = spec.partner;
    d.mediators = spec.mediators;
    d.marine =
        Some(crate::marine::start(&spec.marine, spec.key.public(), &spec.name, marine_cmd).await?);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
    };
    let ending = d
        .run_loop(&mut events, &mut cmd_rx, &mut api_task, stop)
        .await;
    match ending {
        Ok(Ending::ApiStopped) => println!("the control API stopped: shutting down"),
        Ok(Ending::CommandsClosed) => println!("the control API stopped"),
        Ok(Ending::Signal) | Err(_) => {}
    }
    println!("shutting down: flushing the store");
    tracing::info!("shutting down");
    let _ = d.net.shutdown().await;
    let _ = stop_api.send(true);
    if !matches!(ending, Ok(Ending::ApiStopped)) {
        let _ = api_task.await;
    }
    d.save_meta();
    if let Some((journal, tasks)) = bridges {
        for t in tasks {
            t.abort();
        }
        if let Err(e) = journal.flush() {
            println!("shore backlog: {e}");
        }
    }
    drop(d);
    ending.map(drop).map_err(anyhow::Error::from)
}
