//! `tandem status --watch`: asks tandemd for its status every [`POLL_INTERVAL_MS`] and redraws
//! only when the rendered text changes. On a terminal each frame replaces the last (cursor
//! home, clear screen); piped, each changed frame is printed after a `---` line, without
//! escape codes. Ctrl-C ends it (the default SIGINT action: nothing to restore, since the
//! watch changes no terminal mode).

use super::ops::{ask, socket_path};
use crate::control::{ClusterStatus, ControlRequest, ControlResponse};
use crate::core::Mode;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// About twice a second, like `watch -n 0.5`: quick enough to follow a switchover, slow enough
/// that a status request (a snapshot of the core) costs tandemd nothing noticeable.
pub const POLL_INTERVAL_MS: u64 = 500;

/// Each poll waits at most this long for tandemd, so that a hung daemon shows as unreachable
/// within a couple of polls rather than freezing the screen.
const POLL_TIMEOUT_MS: u64 = 2_000;

/// Width of the resync progress bar, in cells.
const BAR_CELLS: usize = 30;

/// The resync bar: `[##########--------------------]  33.3%`.
pub fn progress_bar(percent: f64) -> String {
    let clamped = percent.clamp(0.0, 100.0);
    let filled = ((clamped / 100.0) * BAR_CELLS as f64).round() as usize;
    format!(
        "[{}{}] {clamped:5.1}%",
        "#".repeat(filled),
        "-".repeat(BAR_CELLS - filled)
    )
}

/// While this node's start or stop chain runs (a switchover, a failover, a demote), how far
/// it got: `starting [###############---------------] 2/4 up, running add VIP`.
pub fn chain_line(status: &ClusterStatus) -> Option<String> {
    let local = &status.local;
    let total = local.services.len();
    let up = local.services.iter().filter(|(_, up)| *up).count();
    let (verb, done, state) = match local.mode? {
        Mode::Promoting => ("starting", up, "up"),
        Mode::Demoting => ("stopping", total - up, "down"),
        _ => return None,
    };
    if total == 0 {
        return None;
    }
    let filled = done * BAR_CELLS / total;
    let running = match &local.in_flight {
        Some(step) => format!(", running {step}"),
        None => String::new(),
    };
    Some(format!(
        "{verb} [{}{}] {done}/{total} {state}{running}",
        "#".repeat(filled),
        "-".repeat(BAR_CELLS - filled)
    ))
}

/// One frame: the status screen plus the resync and chain bars, or why there is no status.
/// Pure.
pub fn frame(answer: &Result<ClusterStatus, String>) -> String {
    match answer {
        Ok(status) => {
            let mut text = super::status_view::render(status);
            if let Some(percent) = status.sync_percent {
                text.push_str(&format!("  resync {}\n", progress_bar(percent)));
            }
            if let Some(line) = chain_line(status) {
                text.push_str(&format!("  {line}\n"));
            }
            text
        }
        Err(error) => format!("{error}\n(still trying every {POLL_INTERVAL_MS} ms; Ctrl-C ends)\n"),
    }
}

fn poll(socket: &Path) -> Result<ClusterStatus, String> {
    match ask(socket, ControlRequest::Status, POLL_TIMEOUT_MS)? {
        ControlResponse::Status(status) => Ok(*status),
        other => Err(format!("unexpected answer from tandemd: {other:?}")),
    }
}

/// `tandem status --watch [--max-redraws N]`: until Ctrl-C, or after N redraws.
pub fn run(config_path: &Path, max_redraws: Option<u64>) -> Result<ExitCode, String> {
    let socket = socket_path(config_path);
    let tty = std::io::stdout().is_terminal();
    let mut last = String::new();
    let mut redraws = 0u64;
    loop {
        let text = frame(&poll(&socket));
        if text != last {
            let mut out = std::io::stdout().lock();
            let head = if tty { "\x1b[H\x1b[2J" } else { "---\n" };
            let written = write!(out, "{head}{text}").and_then(|()| out.flush());
            if written.is_err() {
                // The reader went away (a closed pipe): nothing left to show.
                return Ok(ExitCode::SUCCESS);
            }
            last = text;
            redraws += 1;
            if max_redraws.is_some_and(|max| redraws >= max) {
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::{chain_line, frame, progress_bar};
    use crate::control::ClusterStatus;
    use crate::core::Mode;

    fn status(mode: Mode, up: [bool; 4], in_flight: Option<&str>) -> ClusterStatus {
        let text = r#"{"cluster":"c","local":{"node":"a","peer":"b","role":"Primary",
            "disk":"UpToDate","peer_disk":"UpToDate","connection":"Connected","services":[],
            "in_flight":null,"peer_heard":true,"paused":false,"split_brain":null,"stale":[],
            "reason":"r"},"peer":null,"sync_percent":null}"#;
        let mut status: ClusterStatus = serde_json::from_str(text).expect("status JSON");
        let names = ["Primary", "Mount", "Vip", "Mysqld"];
        status.local.services = names.iter().map(|n| n.to_string()).zip(up).collect();
        status.local.mode = Some(mode);
        status.local.in_flight = in_flight.map(str::to_string);
        status
    }

    #[test]
    fn the_chain_bar_follows_a_start_and_a_stop() {
        let starting = status(Mode::Promoting, [true, true, false, false], Some("add VIP"));
        assert_eq!(
            chain_line(&starting).as_deref(),
            Some("starting [###############---------------] 2/4 up, running add VIP")
        );
        let stopping = status(
            Mode::Demoting,
            [true, true, true, false],
            Some("remove VIP"),
        );
        assert_eq!(
            chain_line(&stopping).as_deref(),
            Some("stopping [#######-----------------------] 1/4 down, running remove VIP")
        );
        let active = status(Mode::Active, [true; 4], None);
        assert_eq!(chain_line(&active), None);
        assert!(frame(&Ok(starting)).ends_with("2/4 up, running add VIP\n"));
    }

    #[test]
    fn the_bar_fills_with_the_resync_percent() {
        assert_eq!(progress_bar(0.0), format!("[{}]   0.0%", "-".repeat(30)));
        assert_eq!(
            progress_bar(50.0),
            format!("[{}{}]  50.0%", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(progress_bar(250.0), format!("[{}] 100.0%", "#".repeat(30)));
    }

    #[test]
    fn an_unreachable_daemon_is_a_frame_too() {
        let text = frame(&Err("cannot reach tandemd".into()));
        assert_eq!(
            text,
            "cannot reach tandemd\n(still trying every 500 ms; Ctrl-C ends)\n"
        );
    }
}
