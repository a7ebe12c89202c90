//! The lab's power-fence service, in the role fence_virtd plays on a KVM host: a guest's
//! `fence.request` (written by power-fence.sh) powers the OTHER guest off for good, then
//! `fence.done` tells the asking guest it may take over.
//!
//! It runs on its own thread, so that a request is served within [`FENCE_POLL_MS`] whatever
//! the harness is doing (one guest command takes 0.2–1 s under TCG, and the failover figures
//! must measure tandem, not the harness's polling). The harness thread reaps the killed qemu
//! later ([`crate::lab::Lab::reap_fenced`]).

use crate::lab::{Node, NODES};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the service looks for requests: well below the guest's own poll (50 ms).
const FENCE_POLL_MS: u64 = 10;
/// A SIGKILLed qemu is gone in milliseconds; this bounds the wait for it to be a zombie.
const KILL_WAIT_MS: u64 = 5_000;

/// The running service; dropping it stops the thread.
pub struct FenceService {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FenceService {
    /// `shares[node.index()]` is each guest's shared directory; `run_dir` appears on the
    /// command line of every process of this lab (and of no other), which is checked before a
    /// process group is killed.
    pub fn start(shares: [PathBuf; 2], run_dir: PathBuf) -> FenceService {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                for node in NODES {
                    serve(&shares, &run_dir, node);
                }
                std::thread::sleep(Duration::from_millis(FENCE_POLL_MS));
            }
        });
        FenceService {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FenceService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `node`'s requests, if it made any.
fn serve(shares: &[PathBuf; 2], run_dir: &std::path::Path, node: Node) {
    serve_status(shares, run_dir, node);
    serve_fence(shares, run_dir, node);
}

/// `status.request`: "on" while the other guest's qemu runs, else "off" (power-fence.sh
/// status, the lab's power_status_command).
fn serve_status(shares: &[PathBuf; 2], run_dir: &std::path::Path, node: Node) {
    let share = &shares[node.index()];
    if fs::remove_file(share.join("status.request")).is_err() {
        return;
    }
    let peer = node.peer();
    let answer = if running(&shares[peer.index()], run_dir).is_some() {
        "on"
    } else {
        "off"
    };
    let _ = fs::write(share.join("status.done.tmp"), format!("{answer}\n"));
    let _ = fs::rename(share.join("status.done.tmp"), share.join("status.done"));
    println!(
        "    the lab read {}'s power at {}'s request: {answer}",
        peer.name(),
        node.name()
    );
}

/// Serves `node`'s fence request, if it made one.
fn serve_fence(shares: &[PathBuf; 2], run_dir: &std::path::Path, node: Node) {
    let share = &shares[node.index()];
    if fs::remove_file(share.join("fence.request")).is_err() {
        return;
    }
    let victim = node.peer();
    let was_running = kill_guest(&shares[victim.index()], run_dir);
    // Atomically: the guest reads the answer as soon as the name appears.
    let _ = fs::write(share.join("fence.done.tmp"), "0\n");
    let _ = fs::rename(share.join("fence.done.tmp"), share.join("fence.done"));
    println!(
        "    the lab power-fenced {} at {}'s request ({})",
        victim.name(),
        node.name(),
        if was_running {
            "it was running"
        } else {
            "it was already off"
        }
    );
}

/// SIGKILLs the guest's process group (its pid is in `SHARE.pgid` while it runs) and waits
/// until its qemu can run no more. Returns whether it was running.
fn kill_guest(share: &std::path::Path, run_dir: &std::path::Path) -> bool {
    let Some(pgid) = running(share, run_dir) else {
        return false;
    };
    // SAFETY: kill(2) with a negative pid signals exactly that process group, which the
    // check above showed to be this lab's guest.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_millis(KILL_WAIT_MS);
    while Instant::now() < deadline && !gone(pgid) {
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// The guest's process group id while its qemu runs (not yet a zombie): its pid is in
/// `SHARE.pgid`, and its command line names this lab's run directory.
fn running(share: &std::path::Path, run_dir: &std::path::Path) -> Option<i32> {
    let pgid = fs::read_to_string(share.with_extension("pgid"))
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
        .filter(|pgid| *pgid > 1)?;
    let cmdline = fs::read(format!("/proc/{pgid}/cmdline")).unwrap_or_default();
    let needle = format!("{}/", run_dir.display());
    // Otherwise already reaped; the pid may belong to someone else now.
    (String::from_utf8_lossy(&cmdline).contains(&needle) && !gone(pgid)).then_some(pgid)
}

/// The process no longer runs: a zombie (awaiting the harness's wait) or absent.
fn gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}
