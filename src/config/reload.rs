//! What a `SIGHUP` may change in a running daemon. The new file is compared with the one in
//! force: limits and commands are taken over (they are read afresh at each use), identity
//! and placement (names, addresses, DRBD, storage, mountpoint, datadir, VIP, keys, sockets)
//! need a restart, so they are refused with a sentence that names the key.

use super::Config;

/// The outcome of comparing the running config with the file's.
#[derive(Debug, Clone, PartialEq)]
pub struct Reload {
    /// The config to run on from now: the old one with the new file's safe keys.
    pub config: Config,
    /// The keys taken over, e.g. `[timings] peer_timeout_ms`.
    pub applied: Vec<&'static str>,
    /// One sentence per key that changed but needs a restart.
    pub refused: Vec<String>,
}

/// A key that only a restart applies, and how to tell whether it changed.
type RestartOnly = (&'static str, fn(&Config, &Config) -> bool);

macro_rules! differs {
    ($($path:tt)+) => {
        |a: &Config, b: &Config| a.$($path)+ != b.$($path)+
    };
}

fn nodes_differ<T: PartialEq>(a: &Config, b: &Config, key: fn(&super::Node) -> T) -> bool {
    !a.nodes().map(key).eq(b.nodes().map(key))
}

/// Keys that identify or place the service; changing them in a running daemon would leave
/// it managing something other than what it adopted.
const RESTART_ONLY: &[RestartOnly] = &[
    ("cluster", differs!(cluster)),
    ("peer_key_file", differs!(peer_key_file)),
    ("helpers_dir", differs!(helpers_dir)),
    ("storage", differs!(storage)),
    ("[[node]] name", |a, b| {
        nodes_differ(a, b, |n| n.name.get_ref().clone())
    }),
    ("[[node]] peer_addresses", |a, b| {
        nodes_differ(a, b, |n| n.peer_addresses.clone())
    }),
    ("[[node]] replication_address", |a, b| {
        nodes_differ(a, b, |n| n.replication_address.clone())
    }),
    ("[[node]] backing_disk", |a, b| {
        nodes_differ(a, b, |n| n.backing_disk.clone())
    }),
    ("[drbd]", differs!(drbd)),
    ("[filesystem] device", differs!(filesystem.device)),
    ("[filesystem] mountpoint", differs!(filesystem.mountpoint)),
    ("[filesystem] fstype", differs!(filesystem.fstype)),
    ("[mysqld] binary", differs!(mysqld.binary)),
    ("[mysqld] defaults_file", differs!(mysqld.defaults_file)),
    ("[mysqld] args", differs!(mysqld.args)),
    ("[mysqld] datadir", differs!(mysqld.datadir)),
    ("[mysqld] socket", differs!(mysqld.socket)),
    ("[mysqld] port", differs!(mysqld.port)),
    ("[mysqld] user", differs!(mysqld.user)),
    ("[mysqld] admin_user", differs!(mysqld.admin_user)),
    ("[vip] address", differs!(vip.address)),
    ("[vip] interface", differs!(vip.interface)),
    (
        "[timings] heartbeat_interval_ms",
        differs!(timings.heartbeat_interval_ms),
    ),
    ("[engine] control_socket", differs!(engine.control_socket)),
    ("[engine] state_dir", differs!(engine.state_dir)),
    ("[metrics]", differs!(metrics)),
    ("[hooks]", differs!(hooks)),
    ("[replication]", differs!(replication)),
    ("[[replica]]", differs!(replica)),
];

/// Why a restart-only key is refused, in one sentence.
fn refusal(key: &str) -> String {
    let why = match key {
        "[timings] heartbeat_interval_ms" => " (it is the length of the core's tick)",
        "[drbd]" => " (it is rendered into the DRBD resource file)",
        "power_fence_command" => " (it changes the effective DRBD fencing policy)",
        _ => "",
    };
    format!(
        "{key} changed but is not applied to a running tandemd{why}; check the file with \
         `tandem check`, then restart tandemd to apply it"
    )
}

/// Compares the running config `old` with the file's `new`.
pub fn compare(old: &Config, new: &Config) -> Reload {
    let mut config = old.clone();
    let mut applied = Vec::new();
    macro_rules! take {
        ($name:literal, $($path:tt)+) => {
            if config.$($path)+ != new.$($path)+ {
                config.$($path)+ = new.$($path)+.clone();
                applied.push($name);
            }
        };
    }
    take!("[timings] peer_timeout_ms", timings.peer_timeout_ms);
    take!("[timings] fence_delay_ms", timings.fence_delay_ms);
    take!("[engine] flap_guard_s", engine.flap_guard_s);
    take!("[engine] mysqld_restart_limit", engine.mysqld_restart_limit);
    take!(
        "[engine] mysqld_restart_window_s",
        engine.mysqld_restart_window_s
    );
    take!("[engine] automatic_failover", engine.automatic_failover);
    take!("[engine] self_fence_command", engine.self_fence_command);
    take!("[engine] power_status_command", engine.power_status_command);
    take!(
        "[engine] split_brain_backup_dir",
        engine.split_brain_backup_dir
    );
    take!("[mysqld] start_timeout_ms", mysqld.start_timeout_ms);
    take!("[mysqld] stop_timeout_ms", mysqld.stop_timeout_ms);
    take!("[vip] gratuitous_arp_count", vip.gratuitous_arp_count);
    take!(
        "[vip] gratuitous_arp_interval_ms",
        vip.gratuitous_arp_interval_ms
    );
    take!("[filesystem] options", filesystem.options);
    take!(
        "[filesystem] fsck_before_mount",
        filesystem.fsck_before_mount
    );
    let mut refused = Vec::new();
    if config.engine.power_fence_command != new.engine.power_fence_command {
        let fencing = config.fencing();
        let before = config.engine.power_fence_command.clone();
        config.engine.power_fence_command = new.engine.power_fence_command.clone();
        if config.fencing() == fencing {
            applied.push("[engine] power_fence_command");
        } else {
            config.engine.power_fence_command = before;
            refused.push(refusal("power_fence_command"));
        }
    }
    let before_restart_only = refused.len();
    for (key, changed) in RESTART_ONLY {
        if changed(&config, new) {
            refused.push(refusal(key));
        }
    }
    config.settings = super::Settings::new(&config);
    let mut merged = config.clone();
    merged.engine.power_fence_command = new.engine.power_fence_command.clone();
    merged.settings = super::Settings::new(&merged);
    if refused.len() == before_restart_only && merged != *new {
        refused.push(refusal("another key"));
    }
    Reload {
        config,
        applied,
        refused,
    }
}

#[cfg(test)]
mod tests;
