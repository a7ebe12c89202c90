//! Deployable (issue 11): a real tandemd reloads its config on SIGHUP (applies limits,
//! refuses what needs a restart, survives an invalid file) and speaks systemd's notify
//! protocol (READY once `tandem status` answers, STATUS sentences, WATCHDOG, STOPPING).

use crate::engine::{engine_config, log_of, start_daemon, start_daemon_with_env, status, wait_for};
use crate::fixture::{Lab, VIP};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Generous caps: the host is shared with other labs.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

fn signal(child: &std::process::Child, name: &str) {
    let out = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "kill -{name} {}", child.id());
}

/// The last reload as `tandem status --json` reports it, once one with `unix_ms` after
/// `since_ms` arrived.
fn wait_for_reload(lab: &Lab, config: &std::path::Path, since_ms: u64) -> serde_json::Value {
    let mut reload = serde_json::Value::Null;
    wait_for(lab, "the reload in tandem status", RELOAD_TIMEOUT, || {
        reload = status(&lab.a, config)["last_reload"].clone();
        reload["unix_ms"].as_u64().is_some_and(|ms| ms >= since_ms)
    });
    reload
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn sighup_applies_limits_refuses_identity_changes_and_survives_an_invalid_file() {
    let lab = Lab::new();
    let config = engine_config(&lab);
    let original = std::fs::read_to_string(&config).unwrap();
    // The CLI finds the control socket through a config file: an unchanging copy, since
    // the daemon's own file turns invalid below.
    let cli = lab.dir.join("cli.toml");
    std::fs::write(&cli, &original).unwrap();
    let mut daemon = start_daemon(&lab, &lab.a, &config);
    wait_for(&lab, "tandem status to answer", STARTUP_TIMEOUT, || {
        crate::engine::tandem(&lab.a, &cli, "status --json")
            .status
            .success()
    });

    // Safe: limits are taken over.
    let safe = original
        .replace("peer_timeout_ms = 600", "peer_timeout_ms = 900")
        .replace("flap_guard_s = 60", "flap_guard_s = 120");
    std::fs::write(&config, &safe).unwrap();
    let since = now_ms();
    signal(&daemon, "HUP");
    let reload = wait_for_reload(&lab, &cli, since);
    assert_eq!(
        reload["applied"],
        serde_json::json!(["[timings] peer_timeout_ms", "[engine] flap_guard_s"]),
        "{reload}"
    );
    assert_eq!(reload["refused"], serde_json::json!([]), "{reload}");
    let shown = crate::engine::tandem(&lab.a, &cli, "status");
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("last reload: applied [timings] peer_timeout_ms, [engine] flap_guard_s"),
        "{shown}"
    );

    // Unsafe: the VIP is refused with a sentence; the safe key beside it is applied.
    let unsafe_text = safe
        .replace(&format!("{VIP}/24"), "10.99.0.101/24")
        .replace("flap_guard_s = 120", "flap_guard_s = 180");
    std::fs::write(&config, &unsafe_text).unwrap();
    let since = now_ms();
    signal(&daemon, "HUP");
    let reload = wait_for_reload(&lab, &cli, since);
    assert_eq!(
        reload["applied"],
        serde_json::json!(["[engine] flap_guard_s"]),
        "{reload}"
    );
    let refused = reload["refused"].to_string();
    assert!(
        refused.contains(
            "[vip] address changed but is not applied to a running tandemd; check the file \
             with `tandem check`, then restart tandemd to apply it"
        ),
        "{reload}"
    );

    // Invalid: file:line errors, nothing applied, still running.
    let invalid = unsafe_text.replace("peer_timeout_ms = 900", "peer_timeout_ms = \"soon\"");
    let line = invalid
        .lines()
        .position(|l| l.contains("\"soon\""))
        .unwrap()
        + 1;
    std::fs::write(&config, &invalid).unwrap();
    let since = now_ms();
    signal(&daemon, "HUP");
    let reload = wait_for_reload(&lab, &cli, since);
    let first = reload["invalid"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        first.starts_with(&format!("{}:{line}:", config.display())),
        "{reload}"
    );
    assert_eq!(reload["applied"], serde_json::json!([]), "{reload}");
    assert!(daemon.try_wait().unwrap().is_none(), "tandemd exited");
    let shown = crate::engine::tandem(&lab.a, &cli, "status");
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("last reload: REFUSED, the file is invalid (running as before):"),
        "{shown}"
    );
    let log = log_of(&lab, &lab.a);
    assert!(
        log.contains("reload refused: the config file is invalid; running on as before"),
        "{log}"
    );
    assert!(log.contains("reload applied"), "{log}");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

/// Datagrams received so far, in order.
fn receive(socket: &UnixDatagram, into: &mut Vec<String>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        into.push(String::from_utf8_lossy(&buffer[..n]).to_string());
    }
}

#[test]
fn systemd_hears_ready_after_status_answers_then_status_watchdog_and_stopping() {
    let lab = Lab::new();
    let config = engine_config(&lab);
    let path = lab.dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // A watchdog of 400 ms: WATCHDOG=1 every 200 ms.
    let env = format!("NOTIFY_SOCKET={} WATCHDOG_USEC=400000", path.display());
    let mut daemon = start_daemon_with_env(&lab, &lab.a, &config, &env);
    let mut messages = Vec::new();
    let started = Instant::now();
    while !messages.iter().any(|m| m == "READY=1") {
        assert!(
            started.elapsed() < STARTUP_TIMEOUT,
            "no READY=1: {messages:?}\n{}",
            log_of(&lab, &lab.a)
        );
        receive(&socket, &mut messages);
    }
    // Ready means the control socket answers now, at the first try.
    let out = crate::engine::tandem(&lab.a, &config, "status --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(messages[0], "READY=1", "{messages:?}");

    wait_for(
        &lab,
        "STATUS= and WATCHDOG=1 datagrams",
        RELOAD_TIMEOUT,
        || {
            receive(&socket, &mut messages);
            let watchdogs = messages.iter().filter(|m| *m == "WATCHDOG=1").count();
            messages.iter().any(|m| m.starts_with("STATUS=")) && watchdogs >= 3
        },
    );
    // The last STATUS= is the decision `tandem status` shows.
    wait_for(
        &lab,
        "STATUS= to match tandem status",
        RELOAD_TIMEOUT,
        || {
            receive(&socket, &mut messages);
            let reason = status(&lab.a, &config)["local"]["reason"].clone();
            let last = messages.iter().rev().find(|m| m.starts_with("STATUS="));
            last.map(|m| m.trim_start_matches("STATUS=")) == reason.as_str()
        },
    );

    signal(&daemon, "TERM");
    wait_for(&lab, "STOPPING=1", RELOAD_TIMEOUT, || {
        receive(&socket, &mut messages);
        messages.iter().any(|m| m == "STOPPING=1")
    });
    let exit = daemon.wait().unwrap();
    assert!(exit.success(), "{exit}");
}
