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
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 4680)),
            inbox_capacity: 10_000,
        }
    }
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
        Ok(cfg)
    }

    /// Parses and checks config text.
    pub(crate) fn parse(text: &str) -> anyhow::Result<NodeConfig> {
        let cfg: NodeConfig = toml::from_str(text)?;
        cfg.role()?;
        if let Some(p) = &cfg.node.partner {
            crate::json::parse_hint(p).context("node.partner")?;
        }
        Ok(cfg)
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
# Where to listen (TCP and QUIC). Port 4600 is haiqiao's default.
listen = ["/ip4/0.0.0.0/tcp/4600", "/ip4/0.0.0.0/udp/4600/quic-v1"]
# Peers to keep dialling, as multiaddrs ending in /p2p/<node id>.
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
# The control API (HTTP/JSON), loopback only.
listen = "127.0.0.1:4680"
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
    fn unknown_fields_and_roles_are_refused() {
        let good = template(Role::Vessel, "x");
        assert!(NodeConfig::parse(&good.replace("[store]", "[store]\nmax_byte = 1")).is_err());
        assert!(
            NodeConfig::parse(&good.replace("role = \"vessel\"", "role = \"captain\"")).is_err()
        );
    }
}
