//! `tandem status --watch` piped (the non-terminal rendering path) against a stand-in for
//! tandemd's control socket: a frame per change, none for an unchanged status, the resync
//! progress bar, and `--max-redraws` ending it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;
use tandem::control::{ClusterStatus, ControlResponse};
use tandem::core::Status;
use tandem::drbd::{DiskState, Role};

const EXAMPLE: &str = include_str!("../resources/tandem.toml");
const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");

fn status(sync_percent: Option<f64>) -> ClusterStatus {
    ClusterStatus {
        cluster: "c".into(),
        local: Status {
            node: "db-b".into(),
            peer: "db-a".into(),
            role: Role::Secondary,
            disk: DiskState::Inconsistent,
            peer_disk: DiskState::UpToDate,
            connection: "Connected".into(),
            services: vec![],
            in_flight: None,
            peer_heard: true,
            paused: false,
            split_brain: None,
            mode: None,
            stale: vec![],
            pause: None,
            reason: "waiting for the resync".into(),
        },
        peer: None,
        sync_percent,
        last_reload: None,
        replicas_configured: 0,
        replicas: vec![],
        heartbeat_gaps: Default::default(),
    }
}

#[test]
fn piped_watch_prints_one_frame_per_change_with_the_resync_bar() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("peer.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let socket = dir.path().join("tandem.sock");
    let text = EXAMPLE.replacen("/etc/tandem/peer.key", &key.display().to_string(), 1)
        + &format!("\n[engine]\ncontrol_socket = \"{}\"\n", socket.display());
    let config = dir.path().join("tandem.toml");
    std::fs::write(&config, text).unwrap();

    // The stand-in answers 10 %, 10 % (no redraw), then 55 % from then on.
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().take(20).enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let percent = if n < 2 { 10.0 } else { 55.0 };
            let answer = ControlResponse::Status(Box::new(status(Some(percent))));
            let mut json = serde_json::to_vec(&answer).unwrap();
            json.push(b'\n');
            let _ = stream.write_all(&json);
        }
    });

    let started = std::time::Instant::now();
    let out = Command::new(TANDEM)
        .args(["--config", config.to_str().unwrap()])
        .args(["status", "--watch", "--max-redraws", "2"])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains('\x1b'),
        "escape codes in piped output: {text:?}"
    );
    let frames: Vec<&str> = text.split("---\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "{text}");
    let bar = |filled: usize, percent: &str| {
        format!(
            "  resync [{}{}] {percent}%\n",
            "#".repeat(filled),
            "-".repeat(30 - filled)
        )
    };
    assert!(frames[0].ends_with(&bar(3, " 10.0")), "{text}");
    assert!(frames[1].ends_with(&bar(17, " 55.0")), "{text}");
    assert!(frames[1].contains("resync 55.0%"), "{text}");
}
