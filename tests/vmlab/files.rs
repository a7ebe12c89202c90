//! What the lab puts in its run directory for the guests (which see it through the shared
//! root): the host-built tandem binaries, the lab's tandem.toml in one variant per protocol,
//! and the peer key.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binaries cargo built for this test run.
const BINARIES: [(&str, &str); 3] = [
    ("tandem", env!("CARGO_BIN_EXE_tandem")),
    ("tandemd", env!("CARGO_BIN_EXE_tandemd")),
    (
        "tandem-drbd-helper",
        env!("CARGO_BIN_EXE_tandem-drbd-helper"),
    ),
];

/// The protocols a scenario can switch to.
pub const PROTOCOLS: [char; 3] = ['A', 'B', 'C'];

/// Copies the binaries into `RUN/bin` without their debug info. The guests install them into
/// RAM at boot: a debug build is ~100 MB, and running it straight off the 9p root costs ~1 s per
/// command under TCG (page faults over 9p), against ~0.1 s from RAM.
pub fn install_binaries(run_dir: &Path) -> Result<(), String> {
    let bin = run_dir.join("bin");
    fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    // This harness binary doubles as the lab's MySQL client inside a guest (`--client`).
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let me = me.to_string_lossy().into_owned();
    for (name, built) in BINARIES.into_iter().chain([("vmlab-client", me.as_str())]) {
        let target = bin.join(name);
        let stripped = Command::new("objcopy")
            .arg("--strip-debug")
            .arg(built)
            .arg(&target)
            .status()
            .is_ok_and(|status| status.success());
        if !stripped {
            fs::copy(built, &target).map_err(|e| format!("copy {built}: {e}"))?;
        }
    }
    Ok(())
}

pub fn config_path(run_dir: &Path, protocol: char) -> PathBuf {
    run_dir
        .join("config")
        .join(format!("tandem-{protocol}.toml"))
}

/// Writes `RUN/config/tandem-{A,B,C}.toml` and `RUN/peer.key` (0600, the same on both nodes).
pub fn write_configs(run_dir: &Path) -> Result<(), String> {
    fs::create_dir_all(run_dir.join("config")).map_err(|e| e.to_string())?;
    for protocol in PROTOCOLS {
        fs::write(config_path(run_dir, protocol), config_text(protocol))
            .map_err(|e| e.to_string())?;
    }
    fs::write(engine_config_path(run_dir), engine_config_text(run_dir))
        .map_err(|e| e.to_string())?;
    fs::write(replica_config_path(run_dir), replica_config_text(run_dir))
        .map_err(|e| e.to_string())?;
    let key = run_dir.join("peer.key");
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| e.to_string())?;
    fs::write(&key, bytes).map_err(|e| e.to_string())?;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())
}

/// The lab's tandem.toml. Notable choices:
/// - `fencing = "dont-care"`: tandem's fence-peer handler (`tandem helper`) comes with the
///   engine; with resource-only fencing every promotion over an unreachable peer would be
///   refused (the safe side), and the split-brain scenario could not be staged. tandem
///   accepts dont-care only with `automatic_failover = false`;
/// - DRBD pings every 1 s with a 0.5 s timeout (tandem's defaults), so a cut link is seen in
///   ~1–2 s instead of DRBD's default ~11 s;
/// - an 8 MiB/s resync rate, slow enough that sync progress can be watched on small disks.
pub fn config_text(protocol: char) -> String {
    let helpers = concat!(env!("CARGO_MANIFEST_DIR"), "/kernel-helpers");
    format!(
        r#"# The VM lab's config (tests/vmlab/files.rs); protocol {protocol}.
cluster = "vmlab"
peer_key_file = "/etc/tandem/peer.key"
helpers_dir = "{helpers}"

[[node]]
name = "vm-a"
peer_addresses = ["10.99.0.1:7800"]
replication_address = "10.99.1.1:7789"
backing_disk = "/dev/vda"

[[node]]
name = "vm-b"
peer_addresses = ["10.99.0.2:7800"]
replication_address = "10.99.1.2:7789"
backing_disk = "/dev/vda"

[drbd]
resource = "r0"
protocol = "{protocol}"
fencing = "dont-care"
resync_rate = "8M"
ping_interval_s = 1
ping_timeout_ms = 500

[filesystem]
mountpoint = "/srv/tandem"

[mysqld]
datadir = "/srv/tandem/mysql"
socket = "/run/mysqld/mysqld.sock"
args = ["--innodb-buffer-pool-size=32M"]

[vip]
address = "10.99.0.100/24"
interface = "lan0"

[engine]
automatic_failover = false
"#
    )
}

pub fn engine_config_path(run_dir: &Path) -> PathBuf {
    run_dir.join("config").join("tandem-engine.toml")
}

/// The config the engine scenarios run tandemd with: the protocol-C lab config plus
/// - `fencing = "resource-only"`: DRBD calls tandem's fence-peer handler (kernel-helpers/)
///   when it loses the peer while Primary, and before promoting over a peer in DUnknown;
/// - mysqld listening on every address (the client connects through the VIP), with the
///   template's 8 MiB redo log, the example config's 1 MiB ibtmp1 and TCG-sized timeouts,
///   and, for this emulated 32 MiB server, no native AIO (io_uring's setup is slow under
///   TCG), no buffer-pool load, one InnoDB I/O and purge thread each and no adaptive hash
///   index: 0.55 s less in a start with a cold page cache (`--bench-mysqld`, docs/operations.md
///   "Failover speed"); and buffered data-file I/O (`innodb_flush_method = fsync`, still an
///   fsync after every write that must last): 0.6 s less in `--bench-mysqld`'s cold start,
///   0.15 s in the failover's mysqld phase (`TANDEM_VMLAB_FLUSH_METHOD=O_DIRECT` in
///   bench-vmlab.sh compares); lab settings, not advice for real servers;
/// - a 200 ms heartbeat and a 1 s peer timeout: TCG guests stall for hundreds of ms, and
///   `tandem status` reports the longest silence each run saw (bench.rs prints it);
/// - a 3 s fence delay (the default): in a partition the active node shoots first, after
///   DRBD's own detection (ping 1 s + 0.5 s), the fence-peer handler (~0.6 s under TCG) and
///   the lab's power fence (~0.2 s); a power loss does not wait for it, as the peer's power
///   then reads off (power_status_command);
/// - the metrics endpoint on each guest's loopback (the switchover scenario scrapes it);
/// - the power fence and the power status through the lab harness (power-fence.sh): a
///   peer whose qemu is gone reads off and is fenced without the fence delay;
/// - the journal in /run.
pub fn engine_config_text(run_dir: &Path) -> String {
    let fence = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vmlab/power-fence.sh");
    config_text('C')
        .replace("fencing = \"dont-care\"", "fencing = \"resource-only\"")
        .replace("\n[engine]\nautomatic_failover = false\n", "")
        .replace(
            "args = [\"--innodb-buffer-pool-size=32M\"]",
            "args = [\"--bind-address=0.0.0.0\", \"--skip-name-resolve\", \
             \"--innodb-buffer-pool-size=32M\", \"--innodb-log-file-size=8M\", \
             \"--innodb-temp-data-file-path=ibtmp1:1M:autoextend\", \
             \"--innodb-use-native-aio=OFF\", \"--innodb-buffer-pool-load-at-startup=OFF\", \
             \"--innodb-read-io-threads=1\", \"--innodb-write-io-threads=1\", \
             \"--innodb-purge-threads=1\", \"--innodb-adaptive-hash-index=OFF\", \
             \"--innodb-flush-method=fsync\"]\n\
             start_timeout_ms = 90000\nstop_timeout_ms = 30000",
        )
        + &format!(
            "\n[timings]\nheartbeat_interval_ms = 200\npeer_timeout_ms = 1000\n\
             fence_delay_ms = 3000\n\n\
             [metrics]\nlisten = \"127.0.0.1:9942\"\n\n\
             [engine]\nstate_dir = \"/run/tandem/state\"\nflap_guard_s = 60\n\
             power_fence_command = [\"/bin/sh\", \"{fence}\", \"{run}\"]\n\
             power_status_command = [\"/bin/sh\", \"{fence}\", \"{run}\", \"status\"]\n",
            run = run_dir.display()
        )
}

pub fn replica_config_path(run_dir: &Path) -> PathBuf {
    run_dir.join("config").join("tandem-replica.toml")
}

/// The replica in the VM lab: a second MariaDB server on vm-b, on its own port and a datadir
/// off DRBD (`tests/vmlab/scenarios/replica.rs`).
pub const REPLICA_PORT: u16 = 3307;
/// The accounts' credentials files, installed 0600 in the guests by the replica scenario.
pub const REPLICATION_CREDENTIALS: &str = "/etc/tandem/repl.cred";
pub const REPLICA_CREDENTIALS: &str = "/etc/tandem/replica-r1.cred";

/// The engine config with the active node as a GTID source (binlog on the DRBD filesystem,
/// a server_id per node) and one `[[replica]]`, r1, on vm-b's port [`REPLICA_PORT`].
pub fn replica_config_text(run_dir: &Path) -> String {
    engine_config_text(run_dir)
        + &format!(
            "\n[replication]\nbinlog_dir = \"/srv/tandem/binlog\"\n\
             server_ids = {{ vm-a = 1, vm-b = 2 }}\ncredentials_file = \"{REPLICATION_CREDENTIALS}\"\n\n\
             [[replica]]\nname = \"r1\"\nhost = \"10.99.0.2\"\nport = {REPLICA_PORT}\n\
             credentials_file = \"{REPLICA_CREDENTIALS}\"\n"
        )
}
