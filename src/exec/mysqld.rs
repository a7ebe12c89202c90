//! MariaDB/MySQL as a supervised direct child of tandemd (no systemd on these machines).
//!
//! ```text
//! start: refuse_if_busy ─► spawn ─► poll `SELECT 1` over the socket ─► MysqldProcess
//!          │ datadir not initialised, ibdata1 locked, socket answering: refused at once
//!          └ the child exits first: ExitedDuringStart + log tail; start_timeout_ms: stopped
//! stop:  SIGTERM ─► wait stop_timeout_ms ─► SIGKILL ─► always reaped ─► StopReport
//! crash: wait_exit()/try_exit() give the wait status as MysqldExit (signal 9 vs exit code)
//! ```
//!
//! Holding the child (not a pid number) is what makes signals safe: a pid is not reused until
//! its process is reaped, and only this handle reaps it.
//!
//! All file access here is synchronous on the calling thread, never on tokio's blocking pool:
//! namespaces (the host lab's mount namespace) can be per thread, and a pool thread may be
//! in another one.

mod adopted;
mod args;
mod busy;
mod exit;
mod sql;
mod warm;

pub use adopted::{AdoptedMysqld, ADOPTED_POLL_MS};
pub use args::{
    error_log_path, pid_file_path, server_args, socket_dir, stderr_path, ERROR_LOG_FILE, PID_FILE,
    STDERR_FILE,
};
pub use busy::{
    datadir_lock, refuse_if_busy, socket_answers, DatadirLock, INNODB_LOCK_FILE, SYSTEM_SCHEMA_DIR,
};
pub use exit::{MysqldExit, StopReport, MAX_LOG_TAIL_BYTES};
pub use sql::{
    health, read_only, set_read_only, ER_OPTION_PREVENTS_STATEMENT, HEALTH_TIMEOUT_MS,
    READY_PROBE_TIMEOUT_MS, READ_ONLY_TIMEOUT_MS,
};
pub use warm::{warm_up, WarmUpError, WARM_UP_TIMEOUT_MS};

use crate::config::MysqldSettings;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Readiness is polled this often. A clean start takes 0.1–0.2 s, so a finer poll would only
/// burn connection attempts; a coarser one would add to every failover.
pub const READY_POLL_INTERVAL_MS: u64 = 20;
/// After SIGKILL a process exits as soon as it leaves uninterruptible sleep. Longer than this
/// means I/O stuck in the kernel (a dead disk); it is reported instead of hanging the daemon.
pub const KILL_REAP_TIMEOUT_MS: u64 = 10_000;
/// The child's whole environment besides this PATH is cleared: variables such as
/// MYSQL_UNIX_PORT, MYSQL_TCP_PORT or MYSQL_HOME would otherwise change the server's
/// configuration behind the config file's back.
const CHILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the server could not be started, stopped or queried. The `refused:` variants are
/// checked before anything is spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MysqldError {
    #[error(
        "refused: {} holds no initialised MariaDB datadir (no {SYSTEM_SCHEMA_DIR}/ system \
         schema); is the filesystem mounted?",
        datadir.display()
    )]
    DatadirNotInitialised { datadir: PathBuf },
    #[error(
        "refused: datadir {} is in use by another mysqld ({}); stop it first",
        datadir.display(),
        holder(*pid)
    )]
    DatadirInUse { datadir: PathBuf, pid: Option<i32> },
    #[error(
        "refused: a server already answers on socket {}; stop it first",
        socket.display()
    )]
    SocketInUse { socket: PathBuf },
    #[error("cannot check the InnoDB lock on {}: {error}", path.display())]
    LockProbe { path: PathBuf, error: String },
    #[error("cannot start {}: {error}", binary.display())]
    Spawn { binary: PathBuf, error: String },
    #[error("mysqld {exit} while starting, before it answered SELECT 1:\n{log_tail}")]
    ExitedDuringStart { exit: MysqldExit, log_tail: String },
    #[error(
        "mysqld did not answer SELECT 1 within {timeout_ms} ms (last: {last_error}); it was \
         stopped so that no unsupervised server is left:\n{log_tail}"
    )]
    StartTimeout {
        timeout_ms: u64,
        last_error: String,
        log_tail: String,
    },
    #[error("cannot send {signal} to mysqld pid {pid}: {error}")]
    Signal {
        pid: i32,
        signal: &'static str,
        error: String,
    },
    #[error("cannot wait for mysqld pid {pid}: {error}")]
    Wait { pid: i32, error: String },
    #[error("mysqld pid {pid} did not exit within {timeout_ms} ms of SIGKILL (stuck I/O?)")]
    NotReaped { pid: i32, timeout_ms: u64 },
    #[error("cannot connect to mysqld on {}: {error}", socket.display())]
    Connect { socket: PathBuf, error: String },
    #[error("`{sql}` failed: {error}")]
    Query {
        sql: String,
        code: Option<u16>,
        error: String,
    },
    #[error("{operation} did not finish within {timeout_ms} ms")]
    Timeout { operation: String, timeout_ms: u64 },
    #[error("health check failed: SELECT 1 did not answer within {timeout_ms} ms")]
    HealthTimeout { timeout_ms: u64 },
    #[error("SET GLOBAL read_only={expected} was accepted but read_only is {observed}")]
    ReadOnlyNotApplied { expected: bool, observed: bool },
}

fn holder(pid: Option<i32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid} holds the InnoDB lock on {INNODB_LOCK_FILE}"),
        None => format!("a process the kernel cannot name holds the lock on {INNODB_LOCK_FILE}"),
    }
}

/// A running server that this process spawned and will reap.
///
/// Dropping it does **not** stop the server (`kill_on_drop(false)`): a tandemd restart must
/// adopt a running server, never stop it just because the daemon restarted. The server also
/// runs in its own process group, so a signal to the daemon's group (Ctrl-C in a terminal,
/// `kill -- -PGID`) does not reach it. Stop it with [`MysqldProcess::stop`].
#[derive(Debug)]
pub struct MysqldProcess {
    child: Child,
    pid: i32,
    stop_timeout_ms: u64,
    ready_after_ms: u64,
}

impl MysqldProcess {
    /// Refuses a busy datadir or socket, spawns the server, and returns once it answers
    /// `SELECT 1` as the admin user over its socket (a socket that accepts connections is not
    /// enough: the server accepts before it can run queries).
    pub async fn start(cfg: &MysqldSettings) -> Result<MysqldProcess, MysqldError> {
        refuse_if_busy(cfg)?;
        let log = error_log_path(cfg);
        let log_from = log.as_deref().map(exit::file_len).unwrap_or(0);
        let started = Instant::now();
        let mut child = spawn(cfg)?;
        let pid = child_pid(&child, cfg)?;
        let stop_timeout_ms = cfg.stop_timeout_ms;
        let start_timeout_ms = cfg.start_timeout_ms;
        let deadline = started + Duration::from_millis(start_timeout_ms);
        let mut last_error = String::from("no probe finished");
        let log_tail = || exit::start_log_tail(log.as_deref(), log_from, &stderr_path(cfg));
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| MysqldError::Wait { pid, error: e.to_string() })?;
                Err(MysqldError::ExitedDuringStart {
                    exit: MysqldExit::from_status(status),
                    log_tail: log_tail(),
                })
            }
            ready = wait_ready(cfg, deadline, &mut last_error) => {
                let mut process = MysqldProcess { child, pid, stop_timeout_ms, ready_after_ms: 0 };
                if ready {
                    process.ready_after_ms = elapsed_ms(started);
                    tracing::info!(pid, ready_after_ms = process.ready_after_ms, "mysqld ready");
                    return Ok(process);
                }
                tracing::warn!(pid, start_timeout_ms, %last_error, "mysqld start timed out; stopping it");
                if let Err(e) = process.stop().await {
                    tracing::error!(pid, error = %e, "stopping the timed-out mysqld failed");
                }
                Err(MysqldError::StartTimeout {
                    timeout_ms: start_timeout_ms,
                    last_error,
                    log_tail: log_tail(),
                })
            }
        }
    }

    /// The server's pid; valid until this handle reaps it.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// From spawn to the first answered `SELECT 1`.
    pub fn ready_after_ms(&self) -> u64 {
        self.ready_after_ms
    }

    /// Waits for the server to exit and reaps it: the crash detector. Returns at once (again)
    /// if it has already exited. Cancel-safe, so it can sit in the daemon's `select!`; it also
    /// works on another runtime than the one that started the server (tokio re-registers the
    /// child's pidfd there).
    pub async fn wait_exit(&mut self) -> Result<MysqldExit, MysqldError> {
        let status = self.child.wait().await.map_err(|e| MysqldError::Wait {
            pid: self.pid,
            error: e.to_string(),
        })?;
        Ok(MysqldExit::from_status(status))
    }

    /// The exit, reaped, if the server has exited; `None` while it runs.
    pub fn try_exit(&mut self) -> Result<Option<MysqldExit>, MysqldError> {
        let status = self.child.try_wait().map_err(|e| MysqldError::Wait {
            pid: self.pid,
            error: e.to_string(),
        })?;
        Ok(status.map(MysqldExit::from_status))
    }

    /// SIGTERM (an orderly shutdown: InnoDB flushes, the next start needs no recovery), then
    /// SIGKILL if it has not exited within `stop_timeout_ms`. Always reaps. A server that had
    /// already exited is just reaped and reported, with `killed: false`.
    pub async fn stop(mut self) -> Result<StopReport, MysqldError> {
        let started = Instant::now();
        let pid = self.pid;
        let report = move |exit: MysqldExit, killed: bool| StopReport {
            pid,
            killed,
            elapsed_ms: elapsed_ms(started),
            exit,
        };
        if let Some(exit) = self.try_exit()? {
            return Ok(report(exit, false));
        }
        self.signal(Signal::SIGTERM)?;
        let graceful = Duration::from_millis(self.stop_timeout_ms);
        if let Ok(exit) = tokio::time::timeout(graceful, self.wait_exit()).await {
            return Ok(report(exit?, false));
        }
        tracing::warn!(
            pid = self.pid,
            stop_timeout_ms = self.stop_timeout_ms,
            "mysqld ignored SIGTERM; sending SIGKILL"
        );
        self.signal(Signal::SIGKILL)?;
        let bound = Duration::from_millis(KILL_REAP_TIMEOUT_MS);
        match tokio::time::timeout(bound, self.wait_exit()).await {
            Ok(exit) => Ok(report(exit?, true)),
            Err(_) => Err(MysqldError::NotReaped {
                pid: self.pid,
                timeout_ms: KILL_REAP_TIMEOUT_MS,
            }),
        }
    }

    fn signal(&self, signal: Signal) -> Result<(), MysqldError> {
        kill(Pid::from_raw(self.pid), signal).map_err(|e| MysqldError::Signal {
            pid: self.pid,
            signal: signal.as_str(),
            error: e.to_string(),
        })
    }
}

/// Spawns the server with a cleared environment, cwd `/` (so it pins no mountpoint tandem may
/// need to unmount), stdin closed, stdout and stderr into [`STDERR_FILE`].
fn spawn(cfg: &MysqldSettings) -> Result<Child, MysqldError> {
    let spawn_error = |error: String| MysqldError::Spawn {
        binary: cfg.binary.clone(),
        error,
    };
    prepare_socket_dir(cfg).map_err(spawn_error)?;
    let capture_path = stderr_path(cfg);
    let capture = std::fs::File::create(&capture_path)
        .map_err(|e| spawn_error(format!("cannot create {}: {e}", capture_path.display())))?;
    let capture_copy = capture
        .try_clone()
        .map_err(|e| spawn_error(format!("cannot duplicate {}: {e}", capture_path.display())))?;
    Command::new(&cfg.binary)
        .args(server_args(cfg))
        .env_clear()
        .env("PATH", CHILD_PATH)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(capture_copy))
        .stderr(Stdio::from(capture))
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| spawn_error(e.to_string()))
}

/// Creates the socket directory when it is missing, owned by the server's user, who writes
/// its socket and pid file there. A fresh `/run` after a boot has no `/run/mysqld`, and with no
/// systemd there is no tmpfiles.d to make it. An existing directory is left as it is.
fn prepare_socket_dir(cfg: &MysqldSettings) -> Result<(), String> {
    let dir = socket_dir(cfg);
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let user = nix::unistd::User::from_name(&cfg.user)
        .map_err(|e| format!("cannot look up user {}: {e}", cfg.user))?
        .ok_or_else(|| {
            format!(
                "no user {} to own {}; set [mysqld] user",
                cfg.user,
                dir.display()
            )
        })?;
    nix::unistd::chown(&dir, Some(user.uid), Some(user.gid))
        .map_err(|e| format!("cannot chown {} to {}: {e}", dir.display(), cfg.user))
}

fn child_pid(child: &Child, cfg: &MysqldSettings) -> Result<i32, MysqldError> {
    child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| MysqldError::Spawn {
            binary: cfg.binary.clone(),
            error: "the child has no pid right after spawn".into(),
        })
}

/// Polls `SELECT 1` until it answers (true) or `deadline` passes (false), keeping the last
/// failure for the timeout report.
async fn wait_ready(cfg: &MysqldSettings, deadline: Instant, last_error: &mut String) -> bool {
    let poll = Duration::from_millis(READY_POLL_INTERVAL_MS);
    loop {
        let left_ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis();
        let probe_ms = u64::try_from(left_ms)
            .unwrap_or(u64::MAX)
            .min(READY_PROBE_TIMEOUT_MS);
        if probe_ms == 0 {
            return false;
        }
        match sql::select_one(cfg, probe_ms).await {
            Ok(()) => return true,
            Err(e) => *last_error = e.to_string(),
        }
        tokio::time::sleep_until((Instant::now() + poll).min(deadline)).await;
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
