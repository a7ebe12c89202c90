//! A mysqld this tandemd did not start: found running on the datadir after a daemon restart.
//! It is adopted, never restarted. Not being its parent, tandemd watches its pid and stops it
//! with signals.

use super::{datadir_lock, socket_answers, DatadirLock, MysqldError};
use crate::config::MysqldSettings;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;

/// How often an adopted server's pid is looked at: it cannot be waited for.
pub const ADOPTED_POLL_MS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdoptedMysqld {
    pub pid: i32,
}

impl AdoptedMysqld {
    /// The server running on `cfg`'s datadir, if one holds its InnoDB lock and answers on
    /// the socket.
    pub fn find(cfg: &MysqldSettings) -> Result<Option<AdoptedMysqld>, MysqldError> {
        match datadir_lock(&cfg.datadir)? {
            DatadirLock::Held { pid: Some(pid) } if socket_answers(&cfg.socket) => {
                Ok(Some(AdoptedMysqld { pid }))
            }
            _ => Ok(None),
        }
    }

    pub fn alive(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            // Field 3 is the state; a zombie has exited.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    /// Returns once the process is gone.
    pub async fn wait_exit(&self) {
        while self.alive() {
            tokio::time::sleep(Duration::from_millis(ADOPTED_POLL_MS)).await;
        }
    }

    /// SIGTERM, then SIGKILL after `stop_timeout`; returns whether SIGKILL was needed.
    pub async fn stop(self, stop_timeout: Duration) -> Result<bool, MysqldError> {
        let signal = |signal: Signal| {
            kill(Pid::from_raw(self.pid), signal).map_err(|e| MysqldError::Signal {
                pid: self.pid,
                signal: signal.as_str(),
                error: e.to_string(),
            })
        };
        assert!(self.pid > 1, "refusing to signal pid {}", self.pid);
        signal(Signal::SIGTERM)?;
        if tokio::time::timeout(stop_timeout, self.wait_exit())
            .await
            .is_ok()
        {
            return Ok(false);
        }
        signal(Signal::SIGKILL)?;
        self.wait_exit().await;
        Ok(true)
    }
}
