//! The server's SQL interface, as the admin account over the local socket. One connection per
//! operation, no pool (a pool keeps connections and a background task alive between calls);
//! every step runs under one deadline, and the connection is always disconnected.
//!
//! Socket authentication: the admin account (root) authenticates by `unix_socket`, i.e. by the
//! connecting process's uid, so tandem stores no password.

use super::MysqldError;
use crate::config::MysqldSettings;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// A health check is one `SELECT 1` over the local socket; a server that cannot answer it
/// within 2 s is not serving its clients either. The caller counts consecutive failures, so
/// one slow answer under load does not fail a node over.
pub const HEALTH_TIMEOUT_MS: u64 = 2_000;
/// One readiness probe during start. While the server starts, the socket is absent and a
/// probe fails at once; the bound only matters for a server that accepted and then hangs.
pub const READY_PROBE_TIMEOUT_MS: u64 = 1_000;
/// `SET GLOBAL read_only=1` waits for running write transactions and table locks to end. A
/// switchover must not wait for a long transaction forever: after this the caller decides
/// (usually to stop the server, which rolls the transaction back). The same bound is given to
/// the server as `lock_wait_timeout`, so it gives up too and leaves no waiting statement.
pub const READ_ONLY_TIMEOUT_MS: u64 = 10_000;
/// Saying goodbye (COM_QUIT) to a server that stopped answering must not hold up the caller.
const DISCONNECT_TIMEOUT_MS: u64 = 500;

/// The MariaDB error "The MariaDB server is running with the --read-only option so it cannot
/// execute this statement" (`ER_OPTION_PREVENTS_STATEMENT`).
pub const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;

/// `SELECT 1` as the admin user, within [`HEALTH_TIMEOUT_MS`].
pub async fn health(cfg: &MysqldSettings) -> Result<(), MysqldError> {
    select_one(cfg, HEALTH_TIMEOUT_MS)
        .await
        .map_err(|e| match e {
            MysqldError::Timeout { timeout_ms, .. } => MysqldError::HealthTimeout { timeout_ms },
            other => other,
        })
}

/// Sets `read_only` and reads it back.
///
/// **`read_only` is not a fence.** Accounts with READ ONLY ADMIN can still write, and that
/// includes root and every account granted `ALL PRIVILEGES ON *.*`; only the others are
/// stopped. (On the MariaDB 10.11.19 of the lab, SUPER alone no longer bypasses it: READ ONLY
/// ADMIN was split out of SUPER. Older servers and MySQL let SUPER write too.) Use it to stop
/// ordinary clients quickly during a switchover, never as the thing that makes two writers
/// impossible: that is the job of stopping the server, DRBD roles and fencing.
pub async fn set_read_only(cfg: &MysqldSettings, on: bool) -> Result<(), MysqldError> {
    let mut session = Session::open(cfg, READ_ONLY_TIMEOUT_MS).await?;
    let result = apply_read_only(&mut session, on).await;
    session.close().await;
    result
}

/// The server's current `@@global.read_only`.
pub async fn read_only(cfg: &MysqldSettings) -> Result<bool, MysqldError> {
    let mut session = Session::open(cfg, HEALTH_TIMEOUT_MS).await?;
    let result = session.query_i64("SELECT @@global.read_only").await;
    session.close().await;
    Ok(result? != 0)
}

async fn apply_read_only(session: &mut Session, on: bool) -> Result<(), MysqldError> {
    let lock_wait_seconds = READ_ONLY_TIMEOUT_MS.div_ceil(1000);
    session
        .exec(&format!(
            "SET SESSION lock_wait_timeout = {lock_wait_seconds}"
        ))
        .await?;
    let value = if on { "ON" } else { "OFF" };
    session
        .exec(&format!("SET GLOBAL read_only = {value}"))
        .await?;
    let observed = session.query_i64("SELECT @@global.read_only").await? != 0;
    if observed != on {
        return Err(MysqldError::ReadOnlyNotApplied {
            expected: on,
            observed,
        });
    }
    Ok(())
}

/// Connects and runs `SELECT 1`, all within `timeout_ms`; the readiness test during start.
pub(super) async fn select_one(cfg: &MysqldSettings, timeout_ms: u64) -> Result<(), MysqldError> {
    let mut session = Session::open(cfg, timeout_ms).await?;
    let result = session.query_i64("SELECT 1").await;
    session.close().await;
    match result? {
        1 => Ok(()),
        other => Err(MysqldError::Query {
            sql: "SELECT 1".into(),
            code: None,
            error: format!("the server answered {other}"),
        }),
    }
}

/// One admin connection with the deadline all of its steps share.
struct Session {
    conn: Conn,
    deadline: Instant,
    timeout_ms: u64,
}

impl Session {
    async fn open(cfg: &MysqldSettings, timeout_ms: u64) -> Result<Session, MysqldError> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let connect_error = |error: String| MysqldError::Connect {
            socket: cfg.socket.clone(),
            error,
        };
        let socket = cfg
            .socket
            .to_str()
            .ok_or_else(|| connect_error("the socket path is not UTF-8".into()))?;
        let opts = OptsBuilder::default()
            .socket(Some(socket))
            .user(Some(cfg.admin_user.as_str()));
        // If the deadline cancels a half-made connection, mysql_async's Drop spawns one short
        // task that sends COM_QUIT into the socket buffer and closes it; it does not wait for
        // the server.
        match timeout_at(deadline, Conn::new(opts)).await {
            Ok(Ok(conn)) => Ok(Session {
                conn,
                deadline,
                timeout_ms,
            }),
            Ok(Err(e)) => Err(connect_error(e.to_string())),
            Err(_) => Err(MysqldError::Timeout {
                operation: format!("connect to {}", cfg.socket.display()),
                timeout_ms,
            }),
        }
    }

    async fn exec(&mut self, sql: &str) -> Result<(), MysqldError> {
        let outcome = timeout_at(self.deadline, self.conn.query_drop(sql)).await;
        self.check(sql, outcome)
    }

    async fn query_i64(&mut self, sql: &str) -> Result<i64, MysqldError> {
        let outcome = timeout_at(self.deadline, self.conn.query_first::<i64, _>(sql)).await;
        self.check(sql, outcome)?.ok_or_else(|| MysqldError::Query {
            sql: sql.into(),
            code: None,
            error: "no row returned".into(),
        })
    }

    fn check<T>(
        &self,
        sql: &str,
        outcome: Result<mysql_async::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, MysqldError> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(query_error(sql, e)),
            Err(_) => Err(MysqldError::Timeout {
                operation: sql.into(),
                timeout_ms: self.timeout_ms,
            }),
        }
    }

    /// Always called, on success and failure alike. `disconnect` marks the connection closed
    /// before its first await, so even when the bound cuts it short, dropping the connection
    /// spawns nothing: no task outlives the operation.
    async fn close(self) {
        let bound = Duration::from_millis(DISCONNECT_TIMEOUT_MS);
        let _ = tokio::time::timeout(bound, self.conn.disconnect()).await;
    }
}

fn query_error(sql: &str, error: mysql_async::Error) -> MysqldError {
    let code = match &error {
        mysql_async::Error::Server(server) => Some(server.code),
        _ => None,
    };
    MysqldError::Query {
        sql: sql.into(),
        code,
        error: error.to_string(),
    }
}
