//! Warming the server binary where it does not run yet. A failover starts mysqld on the node
//! that stood by, often for weeks: its page cache may no longer hold the server binary and
//! the libraries it loads, and reading them back is part of the failover's critical path.
//! `mariadbd --version` loads and links all of them, prints one line and exits; tandemd runs
//! it once at start, and logs the version it found.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// `--version` answers in milliseconds on a normal host and in about a second in an
/// emulated one; past this the binary is in trouble and the caller only logs it.
pub const WARM_UP_TIMEOUT_MS: u64 = 30_000;

/// Why the server binary could not be warmed (logged, never fatal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarmUpError {
    #[error("cannot run {} --version: {error}", binary.display())]
    Spawn { binary: PathBuf, error: String },
    #[error("{} --version did not answer within {timeout_ms} ms", binary.display())]
    Timeout { binary: PathBuf, timeout_ms: u64 },
    #[error("{} --version failed ({status}): {stderr}", binary.display())]
    Failed {
        binary: PathBuf,
        status: String,
        stderr: String,
    },
}

/// Runs `binary --version` and returns its line, e.g.
/// `mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)`.
pub async fn warm_up(binary: &Path) -> Result<String, WarmUpError> {
    let mut command = Command::new(binary);
    command
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|e| WarmUpError::Spawn {
        binary: binary.to_path_buf(),
        error: e.to_string(),
    })?;
    let timeout = Duration::from_millis(WARM_UP_TIMEOUT_MS);
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            return Err(WarmUpError::Timeout {
                binary: binary.to_path_buf(),
                timeout_ms: WARM_UP_TIMEOUT_MS,
            })
        }
        Ok(Err(e)) => {
            return Err(WarmUpError::Spawn {
                binary: binary.to_path_buf(),
                error: e.to_string(),
            })
        }
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        return Err(WarmUpError::Failed {
            binary: binary.to_path_buf(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_binary_that_answers_gives_its_line_and_one_that_fails_says_why() {
        // The real server binary (mariadb-server is a test dependency, see tests/run.sh).
        let line = warm_up(Path::new("/usr/sbin/mariadbd"))
            .await
            .expect("mariadbd runs");
        assert!(line.contains("MariaDB"), "{line}");
        let missing = warm_up(Path::new("/nonexistent/mariadbd")).await;
        assert!(
            matches!(missing, Err(WarmUpError::Spawn { .. })),
            "{missing:?}"
        );
        let failing = warm_up(Path::new("/bin/false")).await;
        assert!(
            matches!(failing, Err(WarmUpError::Failed { .. })),
            "{failing:?}"
        );
    }
}
