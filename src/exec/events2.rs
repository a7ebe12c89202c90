//! A supervised `drbdsetup events2 --timestamps --statistics` child. Its lines are parsed at
//! the edge and sent, with the child's exits and restarts, into one bounded channel. The child
//! is restarted with exponential backoff, and killed when the supervisor is dropped.

use crate::drbd::events2::{parse_line, Event};
use crate::exec::drbdadm::{classify, DrbdError};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Channel depth: a resync emits a statistics line per second per object, and the initial dump
/// a handful of lines; 1024 absorbs bursts while a busy daemon loop catches up. When full, the
/// reader waits, and drbdsetup blocks on its pipe: backpressure, never loss.
pub const EVENTS_CHANNEL_CAPACITY: usize = 1024;

/// A line longer than this is not DRBD output; it is cut there and reported as unparsable.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// First restart delay; a crash-looping drbdsetup must not spin the CPU.
const INITIAL_BACKOFF_MS: u64 = 100;

/// Cap on the restart delay, so that state is followed again within seconds once DRBD is back.
const MAX_BACKOFF_MS: u64 = 5_000;

/// A child that ran this long was healthy: the next failure starts from the initial delay.
const STABLE_RUN_MS: u64 = 10_000;

/// Stderr kept from a failed child, for the report.
const MAX_STDERR_BYTES: u64 = 4096;

/// A one-shot dump (`--now`) takes milliseconds; one still running after this is stuck.
pub const SNAPSHOT_TIMEOUT_MS: u64 = 10_000;

/// What the supervisor reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Events2Message {
    /// A parsed line.
    Event(Event),
    /// A line that did not parse; it is reported, never silently dropped.
    Unparsed { line: String, error: String },
    /// The child ended (or could not start); state may be stale until the restart.
    Exited { status: String, stderr: String },
    /// The next start is delayed by this much.
    Restarting { delay_ms: u64 },
}

/// Which program to run. Production uses `drbdsetup events2 --timestamps --statistics all`.
#[derive(Debug, Clone)]
pub struct Events2Command {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Events2Command {
    pub fn drbdsetup(resource: &str) -> Self {
        Self {
            program: PathBuf::from("drbdsetup"),
            args: ["events2", resource, "--timestamps", "--statistics"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// `drbdsetup events2 RESOURCE --now --statistics`: the current state once, then exit.
    pub fn now(resource: &str) -> Self {
        Self {
            program: PathBuf::from("drbdsetup"),
            args: ["events2", resource, "--now", "--statistics"]
                .map(String::from)
                .to_vec(),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.program.display(), self.args.join(" "))
    }
}

/// Runs a one-shot events2 command (see [`Events2Command::now`]) and parses every line. A
/// failure is classified like a drbdadm failure (`ModuleMissing`, `NotConfigured`, …); a line
/// that does not parse is an `Unparsable` error, never skipped.
pub async fn snapshot(
    command: &Events2Command,
    resource: &str,
    timeout: Duration,
) -> Result<Vec<Event>, DrbdError> {
    let described = command.describe();
    let child = Command::new(&command.program)
        .args(&command.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DrbdError::Spawn {
            command: described.clone(),
            error: e.to_string(),
        })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            return Err(DrbdError::Timeout {
                command: described,
                timeout_ms: timeout.as_millis() as u64,
            })
        }
        Ok(Err(e)) => {
            return Err(DrbdError::Spawn {
                command: described,
                error: e.to_string(),
            })
        }
        Ok(Ok(output)) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let all = format!("{stderr}\n{stdout}");
        return Err(classify(&described, resource, output.status.code(), &all));
    }
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            parse_line(line).map_err(|e| DrbdError::Unparsable {
                command: described.clone(),
                output: format!("{line} ({e})"),
            })
        })
        .collect()
}

/// Owns the supervising task; dropping it aborts the task, which drops and kills the child.
pub struct Events2Supervisor {
    task: JoinHandle<()>,
}

impl Drop for Events2Supervisor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Events2Supervisor {
    /// Starts the child and returns the receiving end of the event channel.
    pub fn spawn(command: Events2Command) -> (Self, mpsc::Receiver<Events2Message>) {
        let (tx, rx) = mpsc::channel(EVENTS_CHANNEL_CAPACITY);
        let task = tokio::spawn(supervise(command, tx));
        (Self { task }, rx)
    }
}

async fn supervise(command: Events2Command, tx: mpsc::Sender<Events2Message>) {
    let mut backoff_ms = INITIAL_BACKOFF_MS;
    loop {
        let started = tokio::time::Instant::now();
        let exit = match start(&command) {
            Ok(child) => follow(child, &tx).await,
            Err(e) => Some(Events2Message::Exited {
                status: format!("cannot start {}: {e}", command.program.display()),
                stderr: String::new(),
            }),
        };
        let Some(exit) = exit else { return };
        if tx.send(exit).await.is_err() {
            return;
        }
        if started.elapsed() >= Duration::from_millis(STABLE_RUN_MS) {
            backoff_ms = INITIAL_BACKOFF_MS;
        }
        let delay_ms = backoff_ms;
        if tx
            .send(Events2Message::Restarting { delay_ms })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        backoff_ms = (backoff_ms * 2).min(MAX_BACKOFF_MS);
    }
}

fn start(command: &Events2Command) -> std::io::Result<Child> {
    Command::new(&command.program)
        .args(&command.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
}

/// Forwards the child's lines until it ends. Returns the exit report, or `None` when the
/// receiver is gone and supervision should stop.
async fn follow(mut child: Child, tx: &mpsc::Sender<Events2Message>) -> Option<Events2Message> {
    let stdout = child.stdout.take()?;
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    while let Ok(true) = read_bounded_line(&mut reader, &mut line).await {
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        let message = match parse_line(text) {
            Ok(event) => Events2Message::Event(event),
            Err(e) => Events2Message::Unparsed {
                line: text.to_string(),
                error: e.to_string(),
            },
        };
        tx.send(message).await.ok()?;
    }
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        let _ = err.take(MAX_STDERR_BYTES).read_to_string(&mut stderr).await;
    }
    let status = match child.wait().await {
        Ok(status) => status.to_string(),
        Err(e) => format!("cannot wait for the child: {e}"),
    };
    Some(Events2Message::Exited {
        status,
        stderr: stderr.trim().to_string(),
    })
}

/// Reads one line into `line` (without the newline), keeping at most [`MAX_LINE_BYTES`].
/// Returns false at end of input.
pub async fn read_bounded_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let mut saw_any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(saw_any);
        }
        saw_any = true;
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], i + 1),
            None => (buf, buf.len()),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let found_newline = done > chunk.len();
        reader.consume(done);
        if found_newline {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_lines() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let input = format!("a\n{long}\nlast");
        let mut reader = BufReader::new(input.as_bytes());
        let mut line = Vec::new();
        assert!(read_bounded_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line, b"a");
        assert!(read_bounded_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert!(read_bounded_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line, b"last");
        assert!(!read_bounded_line(&mut reader, &mut line).await.unwrap());
    }
}
