//! `tandem split-brain resolve --keep NODE [--no-backup] [--force]`: asks the local tandemd
//! to resolve the split-brain (the cores drive both nodes: core/resolve.rs), then follows it,
//! printing each step as the daemon takes it and the resync with a progress bar and an ETA,
//! until both disks are UpToDate again.

use super::ops::{ask, core_request, socket_path};
use crate::control::{ClusterStatus, ControlRequest, ControlResponse};
use crate::core::Request;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A resync of a large device takes long; past this the command stops following (the
/// resolution goes on in the daemons) and says how to keep watching.
const FOLLOW_TIMEOUT_MS: u64 = 6 * 60 * 60 * 1000;
const POLL_MS: u64 = 500;
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Width of the progress bar in characters.
const BAR_WIDTH: usize = 30;

pub fn resolve(
    config_path: &Path,
    keep: &str,
    backup: bool,
    force: bool,
) -> Result<ExitCode, String> {
    if !force && !confirmed(keep, backup)? {
        eprintln!("not resolving");
        return Ok(ExitCode::from(3));
    }
    let request = Request::ResolveSplitBrain {
        keep: keep.to_string(),
        backup,
    };
    let code = core_request(config_path, request)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    follow(config_path)?;
    super::split_brain::status(config_path, false)
}

fn confirmed(keep: &str, backup: bool) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "resolving the split-brain discards the other node's changes and needs \
             confirmation; add --force to confirm in a script (keeping {keep})"
        ));
    }
    let copy = if backup {
        "after copying its backing device"
    } else {
        "WITHOUT keeping a copy"
    };
    eprint!("Keep {keep}'s data and discard the other node's changes, {copy}? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints every new reason and the resync progress until the split-brain is over here.
fn follow(config_path: &Path) -> Result<(), String> {
    let socket = socket_path(config_path);
    let started = Instant::now();
    let mut last_reason = String::new();
    let mut resync_began: Option<(Instant, f64)> = None;
    while started.elapsed() < Duration::from_millis(FOLLOW_TIMEOUT_MS) {
        let status = match ask(&socket, ControlRequest::Status, REQUEST_TIMEOUT_MS)? {
            ControlResponse::Status(status) => status,
            other => return Err(format!("unexpected answer {other:?}")),
        };
        if status.local.reason != last_reason {
            println!("  {}", status.local.reason);
            last_reason = status.local.reason.clone();
        }
        if let Some(percent) = status.sync_percent {
            let began = *resync_began.get_or_insert((Instant::now(), percent));
            println!("  {}", progress_line(percent, began.0.elapsed(), began.1));
        }
        if finished(&status) {
            println!(
                "resolved in {:.1} s: DRBD {} {}/{}",
                started.elapsed().as_secs_f64(),
                status.local.connection,
                status.local.disk,
                status.local.peer_disk
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
    Err(format!(
        "still resolving after {FOLLOW_TIMEOUT_MS} ms; it goes on in tandemd: follow it with \
         `tandem status` and `tandem split-brain status`"
    ))
}

fn finished(status: &ClusterStatus) -> bool {
    let local = &status.local;
    local.split_brain.is_none()
        && !local.reason.contains("resolving the split-brain")
        && local.disk == crate::drbd::DiskState::UpToDate
        && local.peer_disk == crate::drbd::DiskState::UpToDate
}

/// `[#########.....................]  30.0 %  ETA 12 s`
pub fn progress_line(percent: f64, elapsed: Duration, from_percent: f64) -> String {
    let clamped = percent.clamp(0.0, 100.0);
    let filled = ((clamped / 100.0) * BAR_WIDTH as f64).round() as usize;
    let bar = format!("{}{}", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled));
    let done = clamped - from_percent;
    let eta = if done > 0.0 {
        let secs = elapsed.as_secs_f64() / done * (100.0 - clamped);
        format!("ETA {secs:.0} s")
    } else {
        "ETA ?".to_string()
    };
    format!("resync [{bar}] {clamped:5.1} %  {eta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_bar_percent_and_eta() {
        assert_eq!(
            progress_line(50.0, Duration::from_secs(10), 0.0),
            "resync [###############...............]  50.0 %  ETA 10 s"
        );
        assert_eq!(
            progress_line(10.0, Duration::from_secs(0), 10.0),
            "resync [###...........................]  10.0 %  ETA ?"
        );
        assert!(progress_line(130.0, Duration::from_secs(1), 0.0).contains("100.0 %"));
    }
}
