//! The plain runtime settings: what the daemon and the core read while they run, made once
//! from a validated config by [`Config::parse`](super::Config::parse) (and again from the
//! merged config on a reload). Spans exist to point validation errors at the file; nothing
//! at runtime reports against the file, so nothing here carries one.

use super::{Config, Mysqld, Vip, VipAddress};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The runtime values of a validated config, without source spans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Names the cluster in logs, status and the peer link's identity checks.
    pub cluster: String,
    /// The two nodes, in file order: the first is the preferred node.
    pub nodes: Vec<NodeSettings>,
    /// `storage = "drbd"` (validation requires `[drbd]` then, and refuses it otherwise):
    /// tandem changes DRBD roles; shared-disk has none.
    pub drbd: bool,
    /// The length of the core's tick.
    pub heartbeat_interval_ms: u64,
    /// The peer is silent after this long without a heartbeat on any path.
    pub peer_timeout_ms: u64,
    /// A standby waits this long beyond the peer timeout before it power-fences.
    pub fence_delay_ms: u64,
    /// No automatic failover within this long of the last one.
    pub flap_guard_ms: u64,
    /// mysqld restarts in place allowed within the window.
    pub mysqld_restart_limit: usize,
    pub mysqld_restart_window_ms: u64,
    /// A silent peer's service is taken over automatically.
    pub automatic_failover: bool,
    /// A power-fence command is configured.
    pub power_fence: bool,
    /// `[engine] power_status_command` is set.
    pub power_status: bool,
    /// Where a split-brain victim's copy goes.
    pub split_brain_backup_dir: PathBuf,
    pub filesystem: FilesystemSettings,
    pub mysqld: MysqldSettings,
    pub vip: VipSettings,
    /// `[metrics] listen`: where `GET /metrics` is served; `None` means no listener.
    pub metrics_listen: Option<SocketAddr>,
    /// `[hooks]`: the notification hook; `None` means none.
    pub hooks: Option<HookSettings>,
}

/// The notification hook (`[hooks]`), as exec/hook runs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookSettings {
    /// argv; no shell.
    pub command: Vec<String>,
    /// A run still going after this long is killed.
    pub timeout_ms: u64,
}

/// The filesystem that holds the datadir (`[filesystem]`; docs/configuration.md says why
/// each key exists).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilesystemSettings {
    /// The configured device, or the DRBD device.
    pub device: PathBuf,
    pub mountpoint: PathBuf,
    pub fstype: String,
    /// Comma-separated, as in fstab.
    pub options: String,
    pub fsck_before_mount: bool,
}

/// The MySQL/MariaDB server (`[mysqld]`), as exec/mysqld runs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MysqldSettings {
    pub binary: PathBuf,
    pub defaults_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub datadir: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    pub user: String,
    pub admin_user: String,
    pub start_timeout_ms: u64,
    /// After this long a SIGTERM is followed by SIGKILL.
    pub stop_timeout_ms: u64,
}

/// The virtual IP (`[vip]`), as exec/vip adds and removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSettings {
    pub address: VipAddress,
    pub interface: String,
    pub gratuitous_arp_count: u32,
    pub gratuitous_arp_interval_ms: u64,
}

impl Default for VipSettings {
    /// Only for `Settings::default()` (a Config not made by `parse`): no address at all.
    fn default() -> Self {
        Self {
            address: VipAddress {
                ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
                prefix_len: 0,
            },
            interface: String::new(),
            gratuitous_arp_count: 0,
            gratuitous_arp_interval_ms: 0,
        }
    }
}

impl From<&Mysqld> for MysqldSettings {
    fn from(m: &Mysqld) -> Self {
        Self {
            binary: m.binary.clone(),
            defaults_file: m.defaults_file.clone(),
            args: m.args.clone(),
            datadir: m.datadir.get_ref().clone(),
            socket: m.socket.clone(),
            port: m.port,
            user: m.user.clone(),
            admin_user: m.admin_user.clone(),
            start_timeout_ms: *m.start_timeout_ms.get_ref(),
            stop_timeout_ms: *m.stop_timeout_ms.get_ref(),
        }
    }
}

impl From<&Vip> for VipSettings {
    fn from(v: &Vip) -> Self {
        Self {
            address: *v.address.get_ref(),
            interface: v.interface.clone(),
            gratuitous_arp_count: *v.gratuitous_arp_count.get_ref(),
            gratuitous_arp_interval_ms: v.gratuitous_arp_interval_ms,
        }
    }
}

/// One node, as the running daemon needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSettings {
    pub name: String,
    /// Where this node's daemon listens for the peer link.
    pub peer_addresses: Vec<SocketAddr>,
    /// The block device under DRBD (a split-brain victim's copy is made from it).
    pub backing_disk: Option<PathBuf>,
}

impl Settings {
    /// The settings of `config`, which validation has accepted.
    pub fn new(config: &Config) -> Self {
        Self {
            cluster: config.cluster.get_ref().clone(),
            nodes: config
                .nodes()
                .map(|node| NodeSettings {
                    name: node.name.get_ref().clone(),
                    peer_addresses: node.peer_addresses.iter().map(|a| a.get_ref().0).collect(),
                    backing_disk: node.backing_disk.as_ref().map(|d| d.get_ref().clone()),
                })
                .collect(),
            drbd: config.drbd.is_some(),
            heartbeat_interval_ms: *config.timings.heartbeat_interval_ms.get_ref(),
            peer_timeout_ms: *config.timings.peer_timeout_ms.get_ref(),
            fence_delay_ms: *config.timings.fence_delay_ms.get_ref(),
            flap_guard_ms: config.engine.flap_guard_s.saturating_mul(1000),
            mysqld_restart_limit: config.engine.mysqld_restart_limit,
            mysqld_restart_window_ms: config.engine.mysqld_restart_window_s.saturating_mul(1000),
            automatic_failover: config.engine.automatic_failover,
            power_fence: config.engine.power_fence_command.is_some(),
            power_status: config.engine.power_status_command.is_some(),
            split_brain_backup_dir: config.engine.split_brain_backup_dir.get_ref().clone(),
            filesystem: FilesystemSettings {
                device: config.filesystem_device(),
                mountpoint: config.filesystem.mountpoint.get_ref().clone(),
                fstype: config.filesystem.fstype.clone(),
                options: config.filesystem.options.clone(),
                fsck_before_mount: config.filesystem.fsck_before_mount,
            },
            mysqld: MysqldSettings::from(&config.mysqld),
            vip: VipSettings::from(&config.vip),
            metrics_listen: config.metrics.as_ref().map(|m| m.listen.get_ref().0),
            hooks: config.hooks.as_ref().map(|h| HookSettings {
                command: h.command.get_ref().clone(),
                timeout_ms: *h.timeout_ms.get_ref(),
            }),
        }
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSettings> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node that is not `name`.
    pub fn peer_of(&self, name: &str) -> Option<&NodeSettings> {
        self.nodes.iter().find(|n| n.name != name)
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const EXAMPLE: &str = include_str!("../../resources/tandem.toml");

    #[test]
    fn validation_makes_the_plain_settings_and_a_reload_keeps_them_true() {
        let config = Config::parse(EXAMPLE, Path::new("tandem.toml")).unwrap();
        let settings = &config.settings;
        assert_eq!(*settings, Settings::new(&config));
        assert_eq!(settings.cluster, *config.cluster.get_ref());
        assert_eq!(
            (settings.heartbeat_interval_ms, settings.peer_timeout_ms),
            (200, 1_500)
        );
        assert_eq!(settings.node_names(), config.node_names());
        let changed = EXAMPLE.replace("peer_timeout_ms = 1500", "peer_timeout_ms = 3000");
        assert_ne!(changed, EXAMPLE, "the example sets peer_timeout_ms = 1500");
        let new = Config::parse(&changed, Path::new("tandem.toml")).unwrap();
        let reload = super::super::reload::compare(&config, &new);
        assert!(reload.refused.is_empty(), "{:?}", reload.refused);
        assert_eq!(reload.config.settings.peer_timeout_ms, 3_000);
        assert_eq!(reload.config.settings, new.settings);
    }
}
