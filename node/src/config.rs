//! The node's configuration file: plain serde data, one section per crate, loaded once.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use haiqiao_mesh::StoreLimits;
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
}

impl NodeConfig {
    /// Reads and checks a config file; relative paths are resolved against its folder.
    pub(crate) fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let mut cfg: NodeConfig =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.node.key_file = base.join(&cfg.node.key_file);
        cfg.node.data_dir = base.join(&cfg.node.data_dir);
        cfg.role()?;
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

[store]
# Most bytes of records held; when full, the lowest priority class is evicted first,
# and a distress is never evicted to make room for anything.
max_bytes = {max_bytes}
# Most bytes held per author.
max_author_bytes = {max_author_bytes}
# Positions kept per vessel: the newest and a track behind it.
track_len = {track_len}
"#,
        role = role.name(),
        name = name.replace('\\', "\\\\").replace('"', "\\\""),
        max_bytes = limits.max_bytes,
        max_author_bytes = limits.max_author_bytes,
        track_len = limits.track_len,
    )
}
