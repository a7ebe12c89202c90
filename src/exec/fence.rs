//! The operator's fence commands (`power_fence_command`, `self_fence_command`): an argument
//! list run without a shell, bounded in time; exit 0 means done.

use std::time::Duration;

/// A configured fence command must finish within this long, or it counts as failed: a BMC
/// that does not answer in a minute will not answer (the core retries with backoff).
pub const FENCE_COMMAND_TIMEOUT_MS: u64 = 60_000;
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
                stderr,
            })
        }
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
}
