//! `tandem status --watch`: asks tandemd for its status every [`POLL_INTERVAL_MS`] and redraws
//! only when the rendered text changes. On a terminal each frame replaces the last (cursor
//! home, clear screen); piped, each changed frame is printed after a `---` line, without
//! escape codes. Ctrl-C ends it (the default SIGINT action: nothing to restore, since the
//! watch changes no terminal mode).

use super::ops::{ask, socket_path};
use crate::control::{ClusterStatus, ControlRequest, ControlResponse};
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

/// One frame: the status screen plus the resync bar, or why there is no status. Pure.
pub fn frame(answer: &Result<ClusterStatus, String>) -> String {
    match answer {
        Ok(status) => {
            let mut text = super::status_view::render(status);
            if let Some(percent) = status.sync_percent {
                text.push_str(&format!("  resync {}\n", progress_bar(percent)));
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
    use super::{frame, progress_bar};

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
