//! Leftovers of a lab whose test process died without running its destructors (SIGKILL, a
//! power cut): its guests are found by their run directory, which appears on the command line
//! of every process of that lab (vng, virtme-run, qemu) and of no other process, and killed.

use std::fs;
use std::path::Path;

/// Kills the processes of run directories under `labs` whose owner is gone, then removes
/// those directories. A live owner's lab is left alone.
pub fn stale_labs(labs: &Path) {
    let Ok(entries) = fs::read_dir(labs) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let owner = fs::read_to_string(dir.join("owner")).unwrap_or_default();
        if owner_alive(owner.trim()) {
            continue;
        }
        let needle = format!("{}/", dir.display());
        for pid in processes_mentioning(&needle) {
            eprintln!("vmlab: killing pid {pid} left over from {}", dir.display());
            // SAFETY: kill(2) on a pid whose command line names the stale lab's directory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// The owner is a live vmlab test process (not a recycled pid).
fn owner_alive(pid: &str) -> bool {
    if pid.is_empty() || pid == std::process::id().to_string() {
        return pid == std::process::id().to_string();
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains("vmlab")
}

fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(proc_dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc_dir
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid > 1 && *pid != std::process::id() as i32)
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}
