//! The node's configuration file: plain serde data, one section per crate, loaded once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use haiqiao_mesh::{MeshConfig, StoreLimits};
use haiqiao_net::NetConfig;
use haiqiao_proto::Role;
use serde::{Deserialize, Serialize};

/// The whole TOML file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeConfig {
    /// Who this node is.
    pub(crate) node: NodeSection,
    /// Store limits (haiqiao-mesh's `StoreLimits`, unchanged).
    #[serde(default)]
    pub(crate) store: StoreLimits,
    /// Engine settings (haiqiao-mesh's `MeshConfig`, unchanged).
    #[serde(default)]
    pub(crate) mesh: MeshConfig,
    /// Network settings (haiqiao-net's `NetConfig`, unchanged).
    #[serde(default)]
    pub(crate) net: NetConfig,
    /// Pairs, distress, mediation and trust (haiqiao-fleet's `FleetConfig`, unchanged).
    #[serde(default)]
    pub(crate) fleet: haiqiao_fleet::FleetConfig,
    /// The control API.
    #[serde(default)]
    pub(crate) api: ApiSection,
    /// The boat's own GPS and its automatic position reports (see docs/marine.md).
    #[serde(default)]
    pub(crate) gps: crate::marine::config::GpsSection,
    /// The chart plotter feed (NMEA 0183 / AIS on TCP 10110).
    #[serde(default)]
    pub(crate) plotter: crate::marine::config::PlotterSection,
    /// The Signal K server.
    #[serde(default)]
    pub(crate) signalk: crate::marine::config::SignalkSection,
    /// The shore bridges' shared backlog (`crate::shore`).
    #[serde(default)]
    pub(crate) shore: crate::shore::ShoreSection,
    /// The MQTT bridge.
    #[serde(default)]
    pub(crate) mqtt: Option<crate::shore::mqtt::MqttSection>,
    /// The PostgreSQL archive.
    #[serde(default)]
    pub(crate) archive: Option<crate::shore::archive::ArchiveSection>,
    /// Webhooks.
    #[serde(default)]
    pub(crate) webhook: Vec<crate::shore::webhook::WebhookSection>,
    /// Mediators ashore whose keys this station holds.
    #[serde(default)]
    pub(crate) mediator: Vec<crate::shore::ashore::MediatorSection>,
}

/// The `[node]` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeSection {
    /// vessel, mediator or shore.
    pub(crate) role: String,
    /// Vessel or station name, UTF-8.
    pub(crate) name: String,
    /// The secret key file; relative to the config file's folder.
    pub(crate) key_file: PathBuf,
    /// The store's folder; relative to the config file's folder.
    pub(crate) data_dir: PathBuf,
    /// The pair partner's key or hint (default destination of pair alerts).
    #[serde(default)]
    pub(crate) partner: Option<String>,
    /// Groups this node belongs to (for group texts).
    #[serde(default)]
    pub(crate) groups: Vec<u32>,
}

/// The `[api]` section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ApiSection {
    /// Address of the control API; loopback only by default (127.0.0.1:4680).
    pub(crate) listen: SocketAddr,
    /// Records kept in the inbox (oldest dropped first). Default 10,000.
    pub(crate) inbox_capacity: usize,
    /// Seconds a client has to send a request's headers (also how long an idle connection
    /// stays open). Default 10.
    pub(crate) header_timeout_s: u64,
    /// Seconds a request may take from its headers to its answer, body included. Default 30.
    pub(crate) request_timeout_s: u64,
    /// Bearer token for writes (and, when set, reads too). Required to listen beyond loopback
    /// (docs/dashboard.md, access control). None: loopback only, no token asked.
    pub(crate) token: Option<String>,
    /// A second token that may only read (the dashboard's views, `/metrics`).
    pub(crate) read_token: Option<String>,
    /// A slippy-map tile URL (`https://…/{z}/{x}/{y}.png`) the dashboard draws under the
    /// bundled coastline, for stations with internet. None: the coastline alone.
    pub(crate) tile_url: Option<String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 4680)),
            inbox_capacity: 10_000,
            header_timeout_s: 10,
            request_timeout_s: 30,
            token: None,
            read_token: None,
            tile_url: None,
        }
    }
}

/// Where other nodes can dial a node listening on `listen`: the TCP and QUIC addresses with a
/// known port, "every interface" written as loopback (the address on this machine).
pub(crate) fn dial_addrs(listen: &[String]) -> Vec<String> {
    listen
        .iter()
        .filter(|a| !a.contains("/tcp/0") && !a.contains("/udp/0/"))
        .map(|a| {
            a.replacen("/ip4/0.0.0.0/", "/ip4/127.0.0.1/", 1)
                .replacen("/ip6/::/", "/ip6/::1/", 1)
        })
        .collect()
}

/// A static peer as the daemon takes it: `…/p2p/<peer id>`, where the config may also name the
/// peer by its node id (64 hex digits, as `haiqiao id` and every screen show it).
fn static_peer(s: &str) -> anyhow::Result<String> {
    let Some((addr, id)) = s.rsplit_once("/p2p/") else {
        bail!("static peer {s:?} must end in /p2p/<peer id> or /p2p/<node id>");
    };
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let key: haiqiao_proto::PublicKey = id
            .parse()
            .map_err(|e| anyhow::anyhow!("static peer {s:?}: {e}"))?;
        let peer = haiqiao_net::peer_id(&key).with_context(|| format!("static peer {s:?}"))?;
        return Ok(format!("{addr}/p2p/{peer}"));
    }
    Ok(s.to_owned())
}

impl NodeConfig {
    /// Reads and checks a config file; relative paths are resolved against its folder.
    pub(crate) fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let mut cfg =
            Self::parse(&text).with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.node.key_file = base.join(&cfg.node.key_file);
        cfg.node.data_dir = base.join(&cfg.node.data_dir);
        for m in &mut cfg.mediator {
            m.key_file = base.join(&m.key_file);
        }
        Ok(cfg)
    }

    /// Parses and checks config text.
    pub(crate) fn parse(text: &str) -> anyhow::Result<NodeConfig> {
        let mut cfg: NodeConfig = toml::from_str(text)?;
        cfg.role()?;
        cfg.net.static_peers = cfg
            .net
            .static_peers
            .iter()
            .map(|p| static_peer(p))
            .collect::<anyhow::Result<_>>()
            .context("[net] static_peers")?;
        cfg.net.validate().context("[net]")?;
        if cfg.api.header_timeout_s == 0 || cfg.api.request_timeout_s == 0 {
            bail!("[api] header_timeout_s and request_timeout_s must be at least 1");
        }
        if let Some(p) = &cfg.node.partner {
            crate::json::parse_hint(p).context("node.partner")?;
        }
        crate::marine::config::validate(&cfg.gps, &cfg.plotter, &cfg.signalk)?;
        cfg.shore_spec().validate()?;
        let mut names = std::collections::HashSet::new();
        for m in &cfg.mediator {
            m.validate().context("[[mediator]]")?;
            if !names.insert(&m.name) {
                bail!("[[mediator]] name {:?} is used twice", m.name);
            }
        }
        Ok(cfg)
    }

    /// The shore bridges' sections.
    pub(crate) fn shore_spec(&self) -> crate::shore::ShoreSpec {
        crate::shore::ShoreSpec {
            shore: self.shore.clone(),
            mqtt: self.mqtt.clone(),
            archive: self.archive.clone(),
            webhooks: self.webhook.clone(),
        }
    }

    /// The configured role.
    pub(crate) fn role(&self) -> anyhow::Result<Role> {
        match Role::from_name(&self.node.role) {
            Some(r @ (Role::Vessel | Role::Mediator | Role::Shore)) => Ok(r),
            _ => bail!(
                "unknown role {:?}: expected vessel, mediator or shore",
                self.node.role
            ),
        }
    }
}

/// A commented config for a role, as `haiqiao init` writes it.
pub(crate) fn template(role: Role, name: &str) -> String {
    let limits = StoreLimits::default();
    let mesh = MeshConfig::default();
    let fleet = haiqiao_fleet::FleetConfig::default();
    let role_note = match role {
        Role::Vessel => {
            "a fishing vessel: gossips positions and alerts, carries records for others"
        }
        Role::Mediator => "a sea mediator's boat: receives disputes in its areas while on duty",
        Role::Shore => "a shore station: receives what reaches shore and signs receipts",
        Role::Authority => "an authority",
    };
    format!(
        r#"# haiqiao node configuration.
# Role: {role_note}.
# Every section but [node] may be left out: the defaults are shown here.

[node]
# What this node is: "vessel", "mediator" or "shore".
role = "{role}"
# Vessel or station name, UTF-8 (e.g. 浙岱渔03315).
name = "{name}"
# The node's ed25519 secret key: signs every record and is its libp2p identity.
# Relative paths are relative to this file. Keep it secret (mode 0600).
key_file = "node.key"
# Where records are stored (sled).
data_dir = "data"
# The pair partner's node id or 16-digit hint: pair alerts go to the pair by default.
# partner = "0123456789abcdef"
# Groups this node belongs to, for group texts.
groups = []

[store]
# Most bytes of records held; when full, the lowest priority class is evicted first,
# and a distress is never evicted to make room for anything.
max_bytes = {max_bytes}
# Most bytes held per author.
max_author_bytes = {max_author_bytes}
# Positions kept per vessel: the newest and a track behind it.
track_len = {track_len}

[mesh]
# Copies of a shore-bound record in circulation (binary spray, then focus towards shore).
shore_copies = {shore_copies}
# Copies of a record for a node, pair, group or area's mediators.
direct_copies = {direct_copies}
# Largest frame sent, bytes: about ten seconds on a 1 kbit/s link.
max_frame_bytes = {max_frame_bytes}

[net]
# Where to listen (TCP and QUIC). Port 4600 is haiqiao's default; a second node on the same
# machine needs other ports (e.g. 4610), or it stops with "address already in use".
listen = ["/ip4/0.0.0.0/tcp/4600", "/ip4/0.0.0.0/udp/4600/quic-v1"]
# Peers to keep dialling, as multiaddrs ending in /p2p/<peer id> (12D3KooW…) or
# /p2p/<node id> (64 hex digits); `haiqiao id` prints this node's, ready to paste.
static_peers = []
# Find boats on the same harbour network.
mdns = true

[fleet]
# The fisheries bureau's keys (64 hex digits each): certificates count only if they chain
# to one of these. With none, nothing is certified: no mediator may accept a case and any
# receipt frees copies (a mesh without an authority).
trust_anchors = []
# Buddy watch: seconds of silence from the pair partner before the alarm is raised on board
# and shore is told (0: off).
buddy_watch_s = {buddy}
# A distress repeats every 3.5 to 4.5 minutes until acknowledged or cancelled.
distress_repeat_min_s = {rmin}
distress_repeat_max_s = {rmax}
# Ports this vessel makes for: steaming towards one (own position reports at 4.5 knots or
# more, course within 30 degrees) makes the node tell its peers "homeward, ashore in N min",
# and they hand it the last copy of reports for shore. `haiqiao voyage` overrides.
# ports = [{{ name = "Shenjiamen", lat = 29.95, lon = 122.30 }}]
ports = []

[api]
# The control API (HTTP/JSON), loopback only. A second node on this machine needs its own
# port here and in [net] listen (see configs/two-nodes/).
listen = "127.0.0.1:4680"
# Seconds a client has to send a request's headers, and the whole request.
header_timeout_s = 10
request_timeout_s = 30
"#,
        role = role.name(),
        name = name.replace('\\', "\\\\").replace('"', "\\\""),
        max_bytes = limits.max_bytes,
        max_author_bytes = limits.max_author_bytes,
        track_len = limits.track_len,
        shore_copies = mesh.shore_copies,
        direct_copies = mesh.direct_copies,
        max_frame_bytes = mesh.max_frame_bytes,
        buddy = fleet.buddy_watch_s,
        rmin = fleet.distress_repeat_min_s,
        rmax = fleet.distress_repeat_max_s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_configs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut roles = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("configs/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let cfg =
                    NodeConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                roles.push(cfg.role().expect("role"));
                // The anchors are keys: the daemon would refuse to start otherwise.
                haiqiao_fleet::Fleet::new(
                    cfg.fleet.clone(),
                    haiqiao_proto::Keypair::from_seed(&[1; 32]).public(),
                    0,
                )
                .unwrap_or_else(|e| panic!("{}: [fleet] {e}", path.display()));
            }
        }
        for r in [Role::Vessel, Role::Mediator, Role::Shore] {
            assert!(
                roles.contains(&r),
                "configs/ has an example for {}",
                r.name()
            );
        }
    }

    /// Configs meant to run side by side on one machine (a folder of configs/) share no port.
    #[test]
    fn example_configs_for_one_machine_do_not_clash() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/two-nodes");
        let mut ports: Vec<(String, String)> = Vec::new();
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("configs/two-nodes/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            files += 1;
            let cfg =
                NodeConfig::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            let mut mine: Vec<String> = cfg
                .net
                .listen
                .iter()
                .map(|a| {
                    let proto = if a.contains("/udp/") { "udp" } else { "tcp" };
                    let port = a.split('/').nth(4).unwrap_or("").to_owned();
                    format!("{proto}/{port}")
                })
                .collect();
            mine.push(format!("tcp/{}", cfg.api.listen.port()));
            for m in mine {
                if let Some((other, _)) = ports.iter().find(|(_, p)| *p == m) {
                    panic!("{} and {other} both use {m}", path.display());
                }
                ports.push((path.display().to_string(), m));
            }
        }
        assert_eq!(files, 2, "a.toml and b.toml");
        let default = NodeConfig::parse(&template(Role::Vessel, "x")).expect("template");
        for a in default.net.listen {
            let port = a.split('/').nth(4).unwrap_or("").to_owned();
            assert!(
                !ports.iter().any(|(_, p)| p.ends_with(&format!("/{port}"))),
                "the examples keep clear of the default port {port}"
            );
        }
    }

    #[test]
    fn init_templates_load_for_every_role() {
        for r in [Role::Vessel, Role::Mediator, Role::Shore] {
            let cfg =
                NodeConfig::parse(&template(r, "浙岱渔03315 \"quoted\"")).expect("template parses");
            assert_eq!(cfg.role().expect("role"), r);
            assert_eq!(cfg.node.name, "浙岱渔03315 \"quoted\"");
        }
    }

    #[test]
    fn static_peers_may_name_the_node_id_in_hex() {
        let key = haiqiao_proto::Keypair::from_seed(&[7; 32]).public();
        let peer = haiqiao_net::peer_id(&key).expect("peer id");
        let good = template(Role::Vessel, "x").replace(
            "static_peers = []",
            &format!(
                "static_peers = [\"/ip4/127.0.0.1/tcp/4601/p2p/{key}\", \"/ip4/127.0.0.1/tcp/4602/p2p/{peer}\"]"
            ),
        );
        let cfg = NodeConfig::parse(&good).expect("parses");
        assert_eq!(
            cfg.net.static_peers,
            [
                format!("/ip4/127.0.0.1/tcp/4601/p2p/{peer}"),
                format!("/ip4/127.0.0.1/tcp/4602/p2p/{peer}")
            ]
        );
        let bad = template(Role::Vessel, "x").replace(
            "static_peers = []",
            &format!(
                "static_peers = [\"/ip4/127.0.0.1/tcp/4601/p2p/{}\"]",
                "0".repeat(64)
            ),
        );
        let e = NodeConfig::parse(&bad).expect_err("not a key");
        assert!(format!("{e:#}").contains("static_peers"), "{e:#}");
    }

    #[test]
    fn dial_addresses_come_from_the_listen_addresses() {
        let listen = NetConfig::default().listen;
        assert_eq!(
            dial_addrs(&listen),
            ["/ip4/127.0.0.1/tcp/4600", "/ip4/127.0.0.1/udp/4600/quic-v1"]
        );
        assert!(dial_addrs(&["/ip4/127.0.0.1/tcp/0".to_owned()]).is_empty());
    }

    #[test]
    fn unknown_fields_and_roles_are_refused() {
        let good = template(Role::Vessel, "x");
        assert!(NodeConfig::parse(&good.replace("[store]", "[store]\nmax_byte = 1")).is_err());
        assert!(
            NodeConfig::parse(&good.replace("role = \"vessel\"", "role = \"captain\"")).is_err()
        );
    }
}
