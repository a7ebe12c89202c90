//! Running a plain system tool (`wipefs`, `blkid`, `mkfs`, `systemctl`, `mariadb-install-db`,
//! `cp`): no shell, stdin closed, bounded in time, its output kept. The per-tool files call
//! this and give the results their meaning.

use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Enough of a tool's output to keep every line we parse or quote, small enough to print.
const MAX_KEPT_OUTPUT_BYTES: usize = 8192;

/// What a tool printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run `{command}`: {error}")]
    Spawn { command: String, error: String },
    #[error("`{command}` did not finish within {timeout_ms} ms and was killed")]
    Timeout { command: String, timeout_ms: u64 },
    #[error("`{command}` failed with exit code {code:?}: {stderr}")]
    Failed {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
}

/// The command line as the operator would type it, for messages.
pub fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `program args…` and returns its output whatever its exit code.
pub async fn run(program: &str, args: &[&str], timeout: Duration) -> Result<ToolOutput, ToolError> {
    let command = command_line(program, args);
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ToolError::Spawn {
            command: command.clone(),
            error: e.to_string(),
        })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            return Err(ToolError::Timeout {
                command,
                timeout_ms: timeout.as_millis() as u64,
            })
        }
        Ok(Err(e)) => {
            return Err(ToolError::Spawn {
                command,
                error: e.to_string(),
            })
        }
        Ok(Ok(output)) => output,
    };
    Ok(ToolOutput {
        code: output.status.code(),
        stdout: keep_head(&String::from_utf8_lossy(&output.stdout)),
        stderr: keep_head(&String::from_utf8_lossy(&output.stderr)),
    })
}

/// Runs `program args…`; anything but exit 0 is a [`ToolError::Failed`].
pub async fn run_ok(program: &str, args: &[&str], timeout: Duration) -> Result<String, ToolError> {
    let output = run(program, args, timeout).await?;
    if output.success() {
        Ok(output.stdout)
    } else {
        Err(ToolError::Failed {
            command: command_line(program, args),
            code: output.code,
            stderr: format!("{}{}", output.stderr.trim(), output.stdout.trim()),
        })
    }
}

fn keep_head(text: &str) -> String {
    let mut end = text.len().min(MAX_KEPT_OUTPUT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
