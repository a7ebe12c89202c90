//! `systemctl`, for the one unit tandem must keep from running: the distribution's own
//! MariaDB service, which would start a second server (or the wrong one) at boot.

use super::tool::{self, ToolError};
use std::path::Path;
use std::time::Duration;

/// Stopping MariaDB flushes its buffers; a big one takes a while.
const SYSTEMCTL_TIMEOUT_MS: u64 = 300_000;

/// Whether systemd runs this host (sd_booted(3): the directory exists only then).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// What systemd says about a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    /// `systemctl is-enabled` printed `enabled` (or `enabled-runtime`, `alias`, …): it starts
    /// at boot.
    pub enabled: bool,
    pub active: bool,
    /// `is-enabled` printed `not-found`: no such unit is installed.
    pub missing: bool,
}

/// Reads a unit's state: `systemctl is-enabled UNIT` and `systemctl is-active UNIT`.
pub async fn unit_state(unit: &str) -> Result<UnitState, ToolError> {
    let enabled = tool::run("systemctl", &["is-enabled", unit], timeout()).await?;
    let active = tool::run("systemctl", &["is-active", unit], timeout()).await?;
    Ok(parse_state(&enabled.stdout, &active.stdout))
}

/// Pure: the words `is-enabled` and `is-active` print.
pub fn parse_state(is_enabled: &str, is_active: &str) -> UnitState {
    let enabled_word = is_enabled.trim();
    UnitState {
        enabled: matches!(
            enabled_word,
            "enabled" | "enabled-runtime" | "alias" | "linked" | "linked-runtime"
        ),
        active: matches!(is_active.trim(), "active" | "activating" | "reloading"),
        missing: enabled_word == "not-found" || enabled_word.is_empty(),
    }
}

/// `systemctl disable --now UNIT`: stopped now and not started at boot.
pub async fn disable_now(unit: &str) -> Result<(), ToolError> {
    tool::run_ok("systemctl", &["disable", "--now", unit], timeout())
        .await
        .map(drop)
}

fn timeout() -> Duration {
    Duration::from_millis(SYSTEMCTL_TIMEOUT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemctl_words() {
        let s = parse_state("enabled\n", "active\n");
        assert!(s.enabled && s.active && !s.missing);
        let s = parse_state("disabled\n", "inactive\n");
        assert!(!s.enabled && !s.active && !s.missing);
        let s = parse_state("not-found\n", "inactive\n");
        assert!(s.missing);
        assert!(!parse_state("masked\n", "inactive\n").enabled);
    }
}
