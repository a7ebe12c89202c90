//! The operator's fence commands (`power_fence_command`, `self_fence_command`): an argument
//! list run without a shell, bounded in time; exit 0 means done. `power_status_command`
//! reads the peer's power: exit 0 on, 2 off (the fence agents' status convention).

use crate::core::power::PeerPower;
use std::time::Duration;

/// A configured fence command must finish within this long, or it counts as failed: a BMC
/// that does not answer in a minute will not answer (the core retries with backoff).
pub const FENCE_COMMAND_TIMEOUT_MS: u64 = 60_000;
/// A power-status reading only shortens the fence delay, so it must come well within it; a
/// slower answer is "unknown" and the delay runs out as without one.
pub const POWER_STATUS_TIMEOUT_MS: u64 = 5_000;
/// The exit code of a power-status command whose target is off (fence agents: 0 on, 2 off).
pub const POWER_STATUS_OFF_EXIT: i32 = 2;
/// The command's stderr kept in an error, so a chatty agent cannot flood the journal.
const MAX_STDERR_BYTES: usize = 1_024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenceCommandError {
    #[error("no {what} command is configured")]
    NotConfigured { what: &'static str },
    #[error("{what} command timed out after {timeout_ms} ms")]
    TimedOut { what: &'static str, timeout_ms: u64 },
    #[error("cannot run {what} command {program}: {error}")]
    Spawn {
        what: &'static str,
        program: String,
        error: String,
    },
    #[error("{what} command failed ({status}): {stderr}")]
    Failed {
        what: &'static str,
        status: String,
        /// The exit code, if it exited (not killed by a signal).
        code: Option<i32>,
        stderr: String,
    },
}

/// Runs `command` (program and arguments), waiting at most [`FENCE_COMMAND_TIMEOUT_MS`].
pub async fn run(
    what: &'static str,
    command: &Option<Vec<String>>,
) -> Result<(), FenceCommandError> {
    run_within(
        what,
        command,
        Duration::from_millis(FENCE_COMMAND_TIMEOUT_MS),
    )
    .await
}

pub async fn run_within(
    what: &'static str,
    command: &Option<Vec<String>>,
    timeout: Duration,
) -> Result<(), FenceCommandError> {
    let Some((program, args)) = command.as_ref().and_then(|c| c.split_first()) else {
        return Err(FenceCommandError::NotConfigured { what });
    };
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(FenceCommandError::TimedOut {
            what,
            timeout_ms: timeout.as_millis() as u64,
        }),
        Ok(Err(e)) => Err(FenceCommandError::Spawn {
            what,
            program: program.clone(),
            error: e.to_string(),
        }),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut stderr = stderr.trim().to_string();
            if stderr.len() > MAX_STDERR_BYTES {
                let mut end = MAX_STDERR_BYTES;
                while !stderr.is_char_boundary(end) {
                    end -= 1;
                }
                stderr.truncate(end);
            }
            Err(FenceCommandError::Failed {
                what,
                status: out.status.to_string(),
                code: out.status.code(),
                stderr,
            })
        }
    }
}

/// Runs the power-status command, waiting at most [`POWER_STATUS_TIMEOUT_MS`]: exit 0 is on,
/// exit 2 is off, and anything else is unknown, with why.
pub async fn power_status(command: &Option<Vec<String>>) -> PeerPower {
    let timeout = Duration::from_millis(POWER_STATUS_TIMEOUT_MS);
    match run_within("power-status", command, timeout).await {
        Ok(()) => PeerPower::On,
        Err(FenceCommandError::Failed { code, .. }) if code == Some(POWER_STATUS_OFF_EXIT) => {
            PeerPower::Off
        }
        Err(e) => PeerPower::Unknown(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(words: &[&str]) -> Option<Vec<String>> {
        Some(words.iter().map(|w| w.to_string()).collect())
    }

    #[tokio::test]
    async fn exit_status_timeout_and_absence_are_told_apart() {
        assert_eq!(run("power-fence", &command(&["true"])).await, Ok(()));
        let failed = run(
            "power-fence",
            &command(&["sh", "-c", "echo no BMC >&2; exit 3"]),
        )
        .await;
        assert!(
            matches!(&failed, Err(FenceCommandError::Failed { stderr, .. }) if stderr == "no BMC"),
            "{failed:?}"
        );
        let slow = run_within(
            "power-fence",
            &command(&["sleep", "5"]),
            Duration::from_millis(100),
        )
        .await;
        assert!(
            matches!(slow, Err(FenceCommandError::TimedOut { .. })),
            "{slow:?}"
        );
        let missing = run("self-fence", &command(&["/nonexistent/fence"])).await;
        assert!(
            matches!(missing, Err(FenceCommandError::Spawn { .. })),
            "{missing:?}"
        );
        assert_eq!(
            run("self-fence", &None).await,
            Err(FenceCommandError::NotConfigured { what: "self-fence" })
        );
    }

    #[tokio::test]
    async fn power_status_reads_on_off_and_unknown_from_the_exit_code() {
        assert_eq!(power_status(&command(&["true"])).await, PeerPower::On);
        assert_eq!(
            power_status(&command(&["sh", "-c", "exit 2"])).await,
            PeerPower::Off
        );
        let failed = power_status(&command(&["sh", "-c", "echo BMC timeout >&2; exit 1"])).await;
        assert!(
            matches!(&failed, PeerPower::Unknown(why) if why.contains("BMC timeout")),
            "{failed:?}"
        );
        assert!(matches!(power_status(&None).await, PeerPower::Unknown(_)));
    }
}
