//! The shape of `tandem.toml`. Every field's doc says why it exists; docs/configuration.md is
//! the operator's reference for the same keys. Unknown keys are refused everywhere.

pub use super::address::{Address, VipAddress};
use super::words::{AfterSb0Pri, AfterSb1Pri, AfterSb2Pri, Fencing, Protocol, Storage};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names the cluster in logs, status and peer-link frames, so that two clusters sharing a
    /// network can never mistake each other's daemons for a peer.
    pub cluster: Spanned<String>,
    /// The pre-shared key that authenticates the peer link (mode 0600).
    pub peer_key_file: PathBuf,
    /// Where the DRBD handler shims of `kernel-helpers/` are installed; the rendered DRBD
    /// resource points its handlers here.
    #[serde(default = "default_helpers_dir")]
    pub helpers_dir: Spanned<PathBuf>,
    /// `drbd` (the default) or `shared-disk`. Shared-disk is a SAN LUN seen by both nodes:
    /// safe only with fencing, because nothing in the storage stops a double mount.
    #[serde(default = "default_storage")]
    pub storage: Spanned<Storage>,
    /// Exactly two `[[node]]` tables.
    #[serde(default)]
    pub node: Vec<Spanned<Node>>,
    /// The DRBD resource; required with `storage = "drbd"`, refused with shared-disk.
    #[serde(default)]
    pub drbd: Option<Drbd>,
    pub filesystem: Filesystem,
    pub mysqld: Mysqld,
    pub vip: Vip,
    #[serde(default)]
    pub timings: Timings,
    #[serde(default)]
    pub engine: Engine,
    /// The Prometheus endpoint; absent (the default) means no listener at all.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// The notification hook run on every decision and state change; absent means none.
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// The runtime values of the above, without spans: set once by `Config::parse` after
    /// validation; the daemon and the core read these.
    #[serde(skip)]
    pub settings: super::Settings,
    /// The active node as a GTID replication source (config/replica.rs); absent means none.
    #[serde(default)]
    pub replication: Option<super::replica::Replication>,
    /// MariaDB replicas fed from the active node through the VIP (config/replica.rs).
    #[serde(default)]
    pub replica: Vec<super::replica::Replica>,
    /// `tandem proxy`'s section (config/proxy.rs); absent means no proxy.
    #[serde(default)]
    pub proxy: Option<super::proxy::Proxy>,
}

/// `[metrics]`: where `GET /metrics` is served.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// `host:port` to listen on, e.g. "127.0.0.1:9942": a loopback or management address,
    /// since the endpoint has no authentication.
    pub listen: Spanned<Address>,
}

/// `[hooks]`: a program told about each decision and state change, like a Pacemaker alert
/// agent; it never delays the engine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// The program and its arguments (argv, no shell), e.g. ["/usr/local/bin/page", "db"].
    pub command: Spanned<Vec<String>>,
    /// A run still going after this long is killed (and counted as failed).
    #[serde(default = "default_hook_timeout_ms")]
    pub timeout_ms: Spanned<u64>,
}

/// How the daemon runs and decides.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    /// The operator's control socket (mode 0600, root only).
    #[serde(default = "default_control_socket")]
    pub control_socket: PathBuf,
    /// Where the journal lives.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// No automatic failover within this long of the last one (kept in the journal).
    #[serde(default = "default_flap_guard_s")]
    pub flap_guard_s: u64,
    /// mysqld is restarted in place at most this many times within the window; then the
    /// service moves to the peer.
    #[serde(default = "default_restart_limit")]
    pub mysqld_restart_limit: usize,
    #[serde(default = "default_restart_window_s")]
    pub mysqld_restart_window_s: u64,
    /// Automatic failover (a silent peer's service is taken over). Off, tandem only acts on
    /// operator commands and local restarts; `fencing = "dont-care"` needs it off.
    #[serde(default = "default_true")]
    pub automatic_failover: bool,
    /// Powers the peer off; exit 0 means it is off. Without it, a silent peer is never
    /// taken over from automatically unless DRBD proves it is not Primary.
    #[serde(default)]
    pub power_fence_command: Option<Vec<String>>,
    /// Asks whether the peer's power is on (exit 0) or off (exit 2), as fence agents' status
    /// action does; a peer that reads off is power-fenced without the fence delay.
    #[serde(default)]
    pub power_status_command: Option<Spanned<Vec<String>>>,
    /// The last resort when this node cannot demote: it must stop writing, e.g. by rebooting.
    #[serde(default)]
    pub self_fence_command: Option<Vec<String>>,
    /// Where `tandem split-brain resolve` keeps the victim's copy: a local filesystem with
    /// room for one backing device, never the DRBD filesystem itself.
    #[serde(default = "default_backup_dir")]
    pub split_brain_backup_dir: Spanned<PathBuf>,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            control_socket: default_control_socket(),
            state_dir: default_state_dir(),
            flap_guard_s: default_flap_guard_s(),
            mysqld_restart_limit: default_restart_limit(),
            mysqld_restart_window_s: default_restart_window_s(),
            automatic_failover: true,
            power_fence_command: None,
            power_status_command: None,
            self_fence_command: None,
            split_brain_backup_dir: default_backup_dir(),
        }
    }
}

fn default_true() -> bool {
    true
}
pub(crate) fn default_control_socket() -> PathBuf {
    PathBuf::from("/run/tandem/tandem.sock")
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/tandem")
}
fn default_backup_dir() -> Spanned<PathBuf> {
    unplaced(PathBuf::from("/var/lib/tandem/split-brain"))
}
fn default_flap_guard_s() -> u64 {
    300
}
fn default_restart_limit() -> usize {
    3
}
fn default_restart_window_s() -> u64 {
    600
}

/// One of the two machines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Matched against `uname -n` to find which node this daemon runs on; also the DRBD
    /// `on NAME` section, which DRBD matches against the same host name.
    pub name: Spanned<String>,
    /// Where the peer daemon listens for the authenticated peer link. Several addresses give
    /// independent paths: the peer counts as silent only when all of them are.
    pub peer_addresses: Vec<Spanned<Address>>,
    /// DRBD's replication endpoint on this node.
    pub replication_address: Spanned<Address>,
    /// The block device under DRBD on this node (names may differ between nodes); required
    /// with `storage = "drbd"`.
    #[serde(default)]
    pub backing_disk: Option<Spanned<PathBuf>>,
}

/// The single DRBD resource tandem manages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drbd {
    /// The DRBD resource name, as in `drbdadm up NAME`.
    pub resource: Spanned<String>,
    /// The DRBD block device; must be `/dev/drbd<minor>`.
    #[serde(default = "default_drbd_device")]
    pub device: Spanned<PathBuf>,
    /// The DRBD minor number.
    #[serde(default)]
    pub minor: u32,
    /// `internal`, or the path of an external metadata device.
    #[serde(default = "default_meta_disk")]
    pub meta_disk: String,
    /// When a write counts as complete; C unless you accept losing acknowledged writes.
    #[serde(default = "default_protocol")]
    pub protocol: Spanned<Protocol>,
    /// How DRBD guards against a peer that may still be Primary. Unset: resource-and-stonith
    /// when a power fence is configured (and the protocol allows it), else resource-only;
    /// `Config::fencing()` gives the effective policy.
    #[serde(default)]
    pub fencing: Option<Spanned<Fencing>>,
    /// Split-brain recovery policies; `disconnect` (manual) by default.
    #[serde(default = "default_after_sb_0pri")]
    pub after_sb_0pri: Spanned<AfterSb0Pri>,
    #[serde(default = "default_after_sb_1pri")]
    pub after_sb_1pri: Spanned<AfterSb1Pri>,
    #[serde(default = "default_after_sb_2pri")]
    pub after_sb_2pri: Spanned<AfterSb2Pri>,
    /// Kernel hash used by `drbdadm verify`, e.g. "sha256"; absent disables online verify.
    #[serde(default)]
    pub verify_alg: Option<Spanned<String>>,
    /// Fixed resync rate, DRBD syntax: a number with an optional K, M or G suffix (KiB/s).
    #[serde(default = "default_resync_rate")]
    pub resync_rate: Spanned<String>,
    /// DRBD `ping-int`: seconds between DRBD keep-alives. DRBD's default (10 s) makes it see
    /// a dead link only after ~11 s; tandem's peer link is faster, but DRBD must not lag far.
    #[serde(default = "default_ping_interval_s")]
    pub ping_interval_s: Spanned<u32>,
    /// DRBD `ping-timeout`, rendered in tenths of a second, so a multiple of 100 ms.
    #[serde(default = "default_ping_timeout_ms")]
    pub ping_timeout_ms: Spanned<u32>,
    /// The program tandemd makes DRBD's usermode helper (the drbd module's `usermode_helper`
    /// parameter, `/sbin/drbdadm` by default): it answers fence-peer for this resource straight
    /// from tandemd, without drbdadm and the handler shim, and hands every other call to
    /// drbdadm. Empty: DRBD keeps its own.
    #[serde(default = "default_usermode_helper")]
    pub usermode_helper: Spanned<PathBuf>,
}

/// The filesystem on the DRBD device that holds the MySQL datadir.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// Defaults to the DRBD device; required with shared-disk storage (the LUN's path).
    #[serde(default)]
    pub device: Option<PathBuf>,
    pub mountpoint: Spanned<PathBuf>,
    #[serde(default = "default_fstype")]
    pub fstype: String,
    /// Comma-separated mount options, as in fstab.
    #[serde(default = "default_mount_options")]
    pub options: String,
    /// Run `fsck -p` before mounting; slower, but catches damage before MySQL sees it.
    #[serde(default)]
    pub fsck_before_mount: bool,
}

/// The MySQL/MariaDB server, run as a direct child of tandemd.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mysqld {
    #[serde(default = "default_mysqld_binary")]
    pub binary: PathBuf,
    /// Passed first as `--defaults-file=`; leave unset to start with `--no-defaults`.
    #[serde(default)]
    pub defaults_file: Option<PathBuf>,
    /// Extra arguments appended after the ones tandem builds.
    #[serde(default)]
    pub args: Vec<String>,
    pub datadir: Spanned<PathBuf>,
    pub socket: PathBuf,
    #[serde(default = "default_mysqld_port")]
    pub port: u16,
    /// The server refuses to run as root without it.
    #[serde(default = "default_mysqld_user")]
    pub user: String,
    /// The account tandem's health checks use over the socket; root authenticates by
    /// `unix_socket` (tandemd runs as root), so no password is stored anywhere.
    #[serde(default = "default_mysqld_admin_user")]
    pub admin_user: String,
    /// Crash recovery can take long on a big datadir; only then is a start declared failed.
    #[serde(default = "default_mysqld_start_timeout_ms")]
    pub start_timeout_ms: Spanned<u64>,
    /// After this long a SIGTERM is followed by SIGKILL.
    #[serde(default = "default_mysqld_stop_timeout_ms")]
    pub stop_timeout_ms: Spanned<u64>,
}

/// The virtual IP that clients connect to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vip {
    /// `ADDRESS/PREFIX`, e.g. "10.0.0.100/24".
    pub address: Spanned<VipAddress>,
    pub interface: String,
    /// Gratuitous ARPs sent after adding the address, so clients learn the new MAC at once.
    #[serde(default = "default_garp_count")]
    pub gratuitous_arp_count: Spanned<u32>,
    #[serde(default = "default_garp_interval_ms")]
    pub gratuitous_arp_interval_ms: u64,
}

/// Peer-link timing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    #[serde(default = "default_heartbeat_interval_ms")]
    pub heartbeat_interval_ms: Spanned<u64>,
    /// The peer is silent once no heartbeat arrived on any path for this long.
    #[serde(default = "default_peer_timeout_ms")]
    pub peer_timeout_ms: Spanned<u64>,
    /// A standby node waits this long after the peer timeout before it power-fences a silent
    /// peer (the preferred node waits none when neither is active), so that a partition never
    /// makes both nodes shoot each other; longer than the power-fence command takes.
    #[serde(default = "default_fence_delay_ms")]
    pub fence_delay_ms: Spanned<u64>,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: default_heartbeat_interval_ms(),
            peer_timeout_ms: default_peer_timeout_ms(),
            fence_delay_ms: default_fence_delay_ms(),
        }
    }
}

/// A default value has no place in the file, so its span is empty.
pub(super) fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn default_storage() -> Spanned<Storage> {
    unplaced(Storage::Drbd)
}
fn default_helpers_dir() -> Spanned<PathBuf> {
    unplaced(PathBuf::from("/usr/lib/tandem/kernel-helpers"))
}
fn default_drbd_device() -> Spanned<PathBuf> {
    unplaced(PathBuf::from("/dev/drbd0"))
}
fn default_meta_disk() -> String {
    "internal".into()
}
fn default_protocol() -> Spanned<Protocol> {
    unplaced(Protocol::C)
}
fn default_after_sb_0pri() -> Spanned<AfterSb0Pri> {
    unplaced(AfterSb0Pri::Disconnect)
}
fn default_after_sb_1pri() -> Spanned<AfterSb1Pri> {
    unplaced(AfterSb1Pri::Disconnect)
}
fn default_after_sb_2pri() -> Spanned<AfterSb2Pri> {
    unplaced(AfterSb2Pri::Disconnect)
}
fn default_resync_rate() -> Spanned<String> {
    unplaced("100M".into())
}
fn default_ping_interval_s() -> Spanned<u32> {
    unplaced(1)
}
fn default_ping_timeout_ms() -> Spanned<u32> {
    unplaced(500)
}
/// Where the package installs `tandem-drbd-helper`.
pub const DEFAULT_USERMODE_HELPER: &str = "/usr/lib/tandem/tandem-drbd-helper";
fn default_usermode_helper() -> Spanned<PathBuf> {
    unplaced(PathBuf::from(DEFAULT_USERMODE_HELPER))
}
fn default_fstype() -> String {
    "ext4".into()
}
fn default_mount_options() -> String {
    "noatime".into()
}
fn default_mysqld_binary() -> PathBuf {
    PathBuf::from("/usr/sbin/mariadbd")
}
fn default_mysqld_port() -> u16 {
    3306
}
fn default_mysqld_user() -> String {
    "mysql".into()
}
fn default_mysqld_admin_user() -> String {
    "root".into()
}
fn default_mysqld_start_timeout_ms() -> Spanned<u64> {
    unplaced(120_000)
}
fn default_mysqld_stop_timeout_ms() -> Spanned<u64> {
    unplaced(30_000)
}
fn default_garp_count() -> Spanned<u32> {
    unplaced(3)
}
fn default_garp_interval_ms() -> u64 {
    100
}
fn default_hook_timeout_ms() -> Spanned<u64> {
    unplaced(5_000)
}
fn default_heartbeat_interval_ms() -> Spanned<u64> {
    unplaced(200)
}
fn default_peer_timeout_ms() -> Spanned<u64> {
    unplaced(1_500)
}
fn default_fence_delay_ms() -> Spanned<u64> {
    unplaced(3_000)
}
