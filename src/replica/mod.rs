//! Replicas fed from the active node through the VIP: the pure part. `exec/replica.rs` reads
//! each replica and this module decides, from what it read:
//!
//! ```text
//! SHOW SLAVE STATUS row ─parse─► SlaveStatus ─┬─ needs_configure(target)? ─► CHANGE MASTER …
//! @@gtid_slave_pos / _current_pos ─┐          └─ assess ─► ReplicaStatus (state, lag,
//! source @@gtid_binlog_pos ────────┴─ GtidPos::behind / errant ─┘  GTID distance, sentence)
//! ```
//! tandem acts on a replica only to point it at the VIP when it is not so configured; a
//! stopped, failing or diverged replica is reported in one sentence and left alone.

pub mod gtid;
pub mod promote;
pub mod seed;
pub mod slave_status;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_promote;

pub use gtid::{Gtid, GtidPos};
pub use slave_status::{SlaveStatus, Thread};

use serde::{Deserialize, Serialize};
use std::fmt;

/// One result row as (column, value) pairs in the server's order; NULL is `None`.
pub type ReplicaRow = Vec<(String, Option<String>)>;

/// A replica whose `Seconds_Behind_Master` is above this is lagging rather than replicating.
pub const LAG_THRESHOLD_S: u64 = 10;
/// `MASTER_CONNECT_RETRY`: after a switchover the replica's IO thread reconnects to the VIP
/// this soon; MariaDB's default (60 s) would leave every replica a minute behind.
pub const CONNECT_RETRY_S: u64 = 1;
/// The replica's `slave_net_timeout`: its IO thread gives up on a silent source after this
/// and reconnects. A source that loses its power or its link sends no FIN, so after a
/// failover this timeout is how a replica learns its source is gone; with MariaDB's default
/// (60 s) every replica would sit a minute on the dead connection. (On a switchover mysqld
/// stops while the VIP is still up, and the replica sees the connection close.) The host lab
/// measured 60 s with the default when the VIP still went first; with 4 s a replica applies
/// the survivor's first write ~0.2 s after it (tests/bench-replica.sh).
pub const NET_TIMEOUT_S: u64 = 4;
/// `MASTER_HEARTBEAT_PERIOD`: the source sends a heartbeat when idle this long, so that an
/// idle but live source never trips [`NET_TIMEOUT_S`].
pub const HEARTBEAT_PERIOD_S: u64 = 1;

/// Where a replica should replicate from: the VIP, the source's port, the replication account.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl fmt::Debug for SourceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceTarget {}@{}:{}", self.user, self.host, self.port)
    }
}

/// One statement to run, and how to show it in errors and logs (never the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    pub shown: String,
}

/// True unless the replica already replicates from `target` with GTID (`Slave_Pos`),
/// tandem's connect retry and a `slave_net_timeout` of at most [`NET_TIMEOUT_S`]
/// (`net_timeout_s`, when it could be read). The password cannot be read back, so it is not
/// compared.
pub fn needs_configure(
    status: Option<&SlaveStatus>,
    net_timeout_s: Option<u64>,
    target: &SourceTarget,
) -> bool {
    if net_timeout_s.is_some_and(|t| t > NET_TIMEOUT_S) {
        return true;
    }
    match status {
        None => true,
        Some(s) => {
            s.master_host != target.host
                || s.master_port != target.port
                || s.master_user != target.user
                || !s.using_gtid.eq_ignore_ascii_case("Slave_Pos")
                || s.connect_retry_s != CONNECT_RETRY_S
        }
    }
}

/// `STOP SLAVE`, `SET GLOBAL slave_net_timeout`, `CHANGE MASTER TO …`, `START SLAVE`.
pub fn configure_statements(target: &SourceTarget) -> Vec<Statement> {
    let change = |password: &str| {
        format!(
            "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{}', \
             MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY={}, \
             MASTER_HEARTBEAT_PERIOD={}",
            sql_quote(&target.host),
            target.port,
            sql_quote(&target.user),
            password,
            CONNECT_RETRY_S,
            HEARTBEAT_PERIOD_S
        )
    };
    let plain = |sql: &str| Statement {
        text: sql.to_string(),
        shown: sql.to_string(),
    };
    vec![
        plain("STOP SLAVE"),
        plain(&format!("SET GLOBAL slave_net_timeout = {NET_TIMEOUT_S}")),
        Statement {
            text: change(&sql_quote(&target.password)),
            shown: change("<hidden>"),
        },
        plain("START SLAVE"),
    ]
}

/// Escapes a value for a single-quoted SQL string literal.
fn sql_quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Where a replica stands, in a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicaState {
    /// Both threads run and it is at most [`LAG_THRESHOLD_S`] behind.
    Replicating,
    /// Both threads run, more than [`LAG_THRESHOLD_S`] behind.
    Lagging,
    /// Both threads stopped without an error (an operator's STOP SLAVE).
    Stopped,
    /// A thread failed, it cannot reach or log in to the source, it diverged, or tandem could
    /// not log in to it.
    Error,
    /// tandem cannot reach its server.
    Unreachable,
}

impl fmt::Display for ReplicaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Replicating => "replicating",
            Self::Lagging => "lagging",
            Self::Stopped => "stopped",
            Self::Error => "error",
            Self::Unreachable => "unreachable",
        })
    }
}

/// One replica as the last check saw it: what `tandem status` and the metrics show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub name: String,
    /// `host:port` of the replica's server.
    pub address: String,
    pub state: ReplicaState,
    /// `Seconds_Behind_Master`; null while a thread does not run.
    pub lag_seconds: Option<u64>,
    /// Transactions the source wrote that the replica has not applied; null when unknown.
    pub gtid_behind: Option<u64>,
    /// `@@gtid_slave_pos` of the replica, as read.
    pub gtid_pos: Option<String>,
    /// The source's `@@gtid_binlog_pos` it was compared with.
    pub source_pos: Option<String>,
    pub io_running: Option<String>,
    pub sql_running: Option<String>,
    /// Replicating from (MASTER_HOST:MASTER_PORT), when a source is set.
    pub source: Option<String>,
    /// What is wrong, in one sentence; null when nothing is.
    pub error: Option<String>,
    /// The last thing tandem did to it, e.g. "pointed at 10.0.0.100:3306 (was: no source)".
    pub last_action: Option<String>,
    /// When this check ran (Unix ms).
    pub checked_unix_ms: u64,
}

impl ReplicaStatus {
    /// A replica that could not be read at all.
    pub fn unreachable(name: &str, address: &str, error: String, unix_ms: u64) -> Self {
        Self::empty(
            name,
            address,
            ReplicaState::Unreachable,
            Some(error),
            unix_ms,
        )
    }

    pub fn empty(
        name: &str,
        address: &str,
        state: ReplicaState,
        error: Option<String>,
        unix_ms: u64,
    ) -> Self {
        ReplicaStatus {
            name: name.to_string(),
            address: address.to_string(),
            state,
            lag_seconds: None,
            gtid_behind: None,
            gtid_pos: None,
            source_pos: None,
            io_running: None,
            sql_running: None,
            source: None,
            error,
            last_action: None,
            checked_unix_ms: unix_ms,
        }
    }

    /// Whether it applies the source's writes (replicating or lagging): the `up` metric.
    pub fn up(&self) -> bool {
        matches!(
            self.state,
            ReplicaState::Replicating | ReplicaState::Lagging
        )
    }
}

/// What one check read from a replica and from the source.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    pub status: Option<&'a SlaveStatus>,
    pub gtid_slave_pos: &'a str,
    pub gtid_current_pos: &'a str,
    pub source_binlog_pos: Option<&'a str>,
}

/// The state, distances and sentence of one replica from one reading.
pub fn assess(name: &str, address: &str, reading: Reading<'_>, unix_ms: u64) -> ReplicaStatus {
    let mut out = ReplicaStatus::empty(name, address, ReplicaState::Stopped, None, unix_ms);
    out.gtid_pos = Some(reading.gtid_slave_pos.to_string());
    out.source_pos = reading.source_binlog_pos.map(str::to_string);
    let Some(status) = reading.status else {
        out.error = Some("no replication source is set on it".to_string());
        return out;
    };
    out.source = Some(format!("{}:{}", status.master_host, status.master_port));
    out.io_running = Some(format!("{:?}", status.io_running));
    out.sql_running = Some(format!("{:?}", status.sql_running));
    out.lag_seconds = status.seconds_behind_master;
    let errors = thread_errors(status);
    let errant = distances(&mut out, reading);
    let running = status.io_running == Thread::Yes && status.sql_running == Thread::Yes;
    out.state = match (&errant, errors.is_empty(), running) {
        (Some(_), _, _) | (None, false, _) => ReplicaState::Error,
        (None, true, true) if out.lag_seconds.unwrap_or(0) > LAG_THRESHOLD_S => {
            ReplicaState::Lagging
        }
        (None, true, true) => ReplicaState::Replicating,
        (None, true, false) if status.io_running == Thread::Connecting => ReplicaState::Error,
        (None, true, false) => ReplicaState::Stopped,
    };
    let mut sentences: Vec<String> = errant.into_iter().chain(errors).collect();
    if sentences.is_empty() && out.state == ReplicaState::Error {
        sentences.push("the IO thread is still connecting to the source".to_string());
    }
    if sentences.is_empty() && out.state == ReplicaState::Stopped {
        sentences.push(format!(
            "replication is stopped (IO {:?}, SQL {:?}) without an error; START SLAVE on it \
             resumes it",
            status.io_running, status.sql_running
        ));
    }
    out.error = (!sentences.is_empty()).then(|| sentences.join("; "));
    out
}

/// Fills the GTID distance; returns the errant-transactions sentence, if any.
fn distances(out: &mut ReplicaStatus, reading: Reading<'_>) -> Option<String> {
    let source: GtidPos = reading.source_binlog_pos?.parse().ok()?;
    let applied: GtidPos = reading.gtid_slave_pos.parse().ok()?;
    out.gtid_behind = Some(GtidPos::behind(&source, &applied));
    let current: GtidPos = reading.gtid_current_pos.parse().ok()?;
    GtidPos::errant(&source, &current)
}

/// The threads' last errors as sentences.
fn thread_errors(status: &SlaveStatus) -> Vec<String> {
    let mut errors = Vec::new();
    if !status.last_io_error.is_empty() {
        errors.push(format!(
            "IO thread error {}: {}",
            status.last_io_errno, status.last_io_error
        ));
    }
    if !status.last_sql_error.is_empty() {
        errors.push(format!(
            "SQL thread error {}: {}",
            status.last_sql_errno, status.last_sql_error
        ));
    }
    errors
}
