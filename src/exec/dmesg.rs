//! The kernel log, through util-linux `dmesg`: where DRBD 8.4 writes its connection
//! handshakes (both sides' generation UUIDs) and its split-brain verdicts.

use std::time::Duration;

/// `dmesg` answers at once; longer means a wedged system, and a report without the kernel
/// log is better than no report.
const DMESG_TIMEOUT_MS: u64 = 5_000;

/// The whole kernel log as text (`dmesg` with its usual `[seconds]` prefixes).
pub async fn read() -> Result<String, String> {
    let run = tokio::process::Command::new("dmesg")
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_millis(DMESG_TIMEOUT_MS), run).await {
        Err(_) => Err(format!("dmesg gave no answer within {DMESG_TIMEOUT_MS} ms")),
        Ok(Err(e)) => Err(format!("cannot run dmesg: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into()),
        Ok(Ok(out)) => Err(format!(
            "dmesg failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}
