//! resources/tandemd.service: the directives tandemd relies on are there, and
//! `systemd-analyze verify` accepts the unit without a single complaint (it exits 0 even on
//! unknown keys, so any output fails the test). ExecStart points at the built binary in a
//! temporary copy, since /usr/sbin/tandemd need not exist on the build host.

use std::process::Command;

const UNIT: &str = include_str!("../resources/tandemd.service");
const TANDEMD: &str = env!("CARGO_BIN_EXE_tandemd");
const INSTALLED_PATH: &str = "/usr/sbin/tandemd";

#[test]
fn the_unit_has_what_tandemd_relies_on() {
    let directives: Vec<&str> = UNIT
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    for expected in [
        "Type=notify",
        "ExecStart=/usr/sbin/tandemd --config /etc/tandem/tandem.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=process",
        "Restart=on-failure",
        "WatchdogSec=10s",
        "After=network-online.target",
    ] {
        assert!(directives.contains(&expected), "{expected} is missing");
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    // Never a silent skip: tests/run.sh installs Debian's systemd package, which has it.
    assert!(
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok(),
        "systemd-analyze is not installed: apt-get install systemd (tests/run.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("tandemd.service");
    std::fs::write(&unit, UNIT.replace(INSTALLED_PATH, TANDEMD)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify rejects resources/tandemd.service ({}):\n{complaints}",
        out.status
    );
}
