//! How a server process ended, and what it wrote while starting: the facts a crash report or a
//! failed start needs.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

/// Enough of the error log to show why a start failed (the last few dozen lines), small enough
/// to carry in an error, a journal record and `tandem status`.
pub const MAX_LOG_TAIL_BYTES: u64 = 4096;

/// The server's wait status, typed: a crash (`kill -9`, OOM killer, abort) is a signal; a
/// refusal to start or an orderly shutdown is an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqldExit {
    /// The process called exit(); 0 after an orderly shutdown.
    Exited { code: i32 },
    /// The process was terminated by a signal: 9 is SIGKILL (kill -9, the OOM killer),
    /// 6 is SIGABRT (an assertion in the server).
    Signaled { signal: i32, core_dumped: bool },
}

impl MysqldExit {
    /// Translates a wait status. A status is always one of the two for a reaped process;
    /// anything else is kept as an exit code of the raw value, never lost.
    pub fn from_status(status: ExitStatus) -> MysqldExit {
        match (status.code(), status.signal()) {
            (Some(code), _) => MysqldExit::Exited { code },
            (None, Some(signal)) => MysqldExit::Signaled {
                signal,
                core_dumped: status.core_dumped(),
            },
            (None, None) => MysqldExit::Exited {
                code: status.into_raw(),
            },
        }
    }

    /// Whether this was SIGKILL: kill -9, the OOM killer, or tandem's own escalation.
    pub fn is_sigkill(&self) -> bool {
        matches!(self, MysqldExit::Signaled { signal, .. } if *signal == libc::SIGKILL)
    }

    /// Exit code 0: the orderly end of a shutdown.
    pub fn is_clean(&self) -> bool {
        matches!(self, MysqldExit::Exited { code: 0 })
    }
}

impl fmt::Display for MysqldExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MysqldExit::Exited { code } => write!(f, "exited with code {code}"),
            MysqldExit::Signaled {
                signal,
                core_dumped,
            } => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                let core = if *core_dumped { ", core dumped" } else { "" };
                write!(f, "was killed by signal {signal} ({name}){core}")
            }
        }
    }
}

/// What a stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    pub pid: i32,
    /// The stop timeout ran out after SIGTERM and SIGKILL was sent: the next start runs
    /// InnoDB crash recovery.
    pub killed: bool,
    /// From the first signal to the reaped exit.
    pub elapsed_ms: u64,
    pub exit: MysqldExit,
}

/// The size of a file now, or 0 if it does not exist: where "this start's" log begins.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The last [`MAX_LOG_TAIL_BYTES`] written to `path` after byte `from`, cut at a line start,
/// lossily decoded. Empty if the file is missing or unreadable: the tail explains a failure,
/// it must never replace it with another one.
pub fn tail_since(path: &Path, from: u64) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    // A log shorter than at spawn time was rotated or truncated: show its start.
    let from = if len < from { 0 } else { from };
    let start = from.max(len.saturating_sub(MAX_LOG_TAIL_BYTES));
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err()
        || file
            .take(MAX_LOG_TAIL_BYTES)
            .read_to_end(&mut bytes)
            .is_err()
    {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = if start > from {
        // Started mid-line: drop the partial first line.
        text.split_once('\n').map(|(_, rest)| rest).unwrap_or("")
    } else {
        &text
    };
    text.trim_end().to_string()
}

/// The tail of the error log since `log_from`, then whatever the server wrote to stderr
/// (`stderr_path`) before it opened the log, each under a heading when present.
pub fn start_log_tail(log: Option<&Path>, log_from: u64, stderr_path: &Path) -> String {
    let parts = [
        log.map(|p| (p, tail_since(p, log_from))),
        Some((stderr_path, tail_since(stderr_path, 0))),
    ];
    parts
        .into_iter()
        .flatten()
        .filter(|(_, text)| !text.is_empty())
        .map(|(path, text)| format!("--- {} ---\n{text}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn wait_statuses_are_typed() {
        let killed = MysqldExit::from_status(ExitStatus::from_raw(libc::SIGKILL));
        assert_eq!(
            killed,
            MysqldExit::Signaled {
                signal: 9,
                core_dumped: false
            }
        );
        assert!(killed.is_sigkill());
        assert_eq!(killed.to_string(), "was killed by signal 9 (SIGKILL)");
        let exited = MysqldExit::from_status(ExitStatus::from_raw(1 << 8));
        assert_eq!(exited, MysqldExit::Exited { code: 1 });
        assert_eq!(exited.to_string(), "exited with code 1");
        assert!(!exited.is_sigkill() && !exited.is_clean());
        assert!(MysqldExit::from_status(ExitStatus::from_raw(0)).is_clean());
        let aborted = MysqldExit::from_status(ExitStatus::from_raw(libc::SIGABRT | 0x80));
        assert_eq!(
            aborted.to_string(),
            "was killed by signal 6 (SIGABRT), core dumped"
        );
    }

    #[test]
    fn tail_shows_only_what_this_start_wrote_and_is_bounded() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"old line\n").unwrap();
        let from = file_len(file.path());
        file.write_all(b"new 1\nnew 2\n").unwrap();
        assert_eq!(tail_since(file.path(), from), "new 1\nnew 2");
        for i in 0..1000 {
            writeln!(file, "line {i}").unwrap();
        }
        let tail = tail_since(file.path(), from);
        assert!(tail.len() as u64 <= MAX_LOG_TAIL_BYTES);
        assert!(tail.starts_with("line ") && tail.ends_with("line 999"));
        assert_eq!(tail_since(Path::new("/nonexistent/log"), 0), "");
    }
}
