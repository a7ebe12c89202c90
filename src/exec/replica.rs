//! Replicas over SQL: tandem logs in to each replica over TCP with its credentials file,
//! reads `SHOW SLAVE STATUS` and the GTID positions, and points it at the VIP; and it reads
//! the local source's `@@gtid_binlog_pos` over the socket. Every call runs under one
//! deadline and always disconnects. Decisions (whether to configure, the state) are in
//! `crate::replica`, which these results feed.

use crate::config::credentials::Credentials;
use crate::config::Mysqld;
use crate::replica::{ReplicaRow, SourceTarget};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use std::path::Path;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// One check of one replica (connect, SHOW SLAVE STATUS, GTID positions): a replica that
/// cannot answer within this is reported unreachable; the check never waits longer.
pub const REPLICA_QUERY_TIMEOUT_MS: u64 = 3_000;
/// STOP SLAVE waits for the replica's threads to stop; a replica whose SQL thread applies a
/// long transaction may take a while, but tandem never waits on it longer than this.
pub const REPLICA_CONFIGURE_TIMEOUT_MS: u64 = 10_000;
/// Saying goodbye (COM_QUIT) to a server that stopped answering must not hold up the caller.
const DISCONNECT_TIMEOUT_MS: u64 = 500;

/// What one SQL exchange failed on, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaSqlError {
    #[error("cannot connect to {address}: {error}")]
    Connect { address: String, error: String },
    #[error("{address} refused tandem's login as {user}: {error}; check the credentials file")]
    Login {
        address: String,
        user: String,
        error: String,
    },
    #[error("`{sql}` failed on {address}: {error}")]
    Query {
        address: String,
        sql: String,
        error: String,
    },
    #[error("{operation} on {address} did not finish within {timeout_ms} ms")]
    Timeout {
        address: String,
        operation: String,
        timeout_ms: u64,
    },
}

/// MariaDB's "Access denied for user" (ER_ACCESS_DENIED_ERROR) and its variants.
const ACCESS_DENIED_CODES: [u16; 3] = [1045, 1044, 1698];

/// Where and as whom tandem reaches one replica.
#[derive(Debug, Clone)]
pub struct ReplicaEndpoint {
    pub host: String,
    pub port: u16,
    pub credentials: Credentials,
}

impl ReplicaEndpoint {
    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What one check reads from a replica.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaReading {
    /// `SHOW SLAVE STATUS`'s row as (column, value) pairs; `None` when no source is set.
    pub row: Option<ReplicaRow>,
    /// `@@gtid_slave_pos`: what the SQL thread applied from the source.
    pub gtid_slave_pos: String,
    /// `@@gtid_current_pos`: also the replica's own binlogged transactions (errant ones).
    pub gtid_current_pos: String,
    /// `@@slave_net_timeout`, seconds; `None` if it did not read as a number.
    pub net_timeout_s: Option<u64>,
}

/// Reads one replica's state.
pub async fn read(endpoint: &ReplicaEndpoint) -> Result<ReplicaReading, ReplicaSqlError> {
    let mut session = Session::open(endpoint, REPLICA_QUERY_TIMEOUT_MS).await?;
    let result = read_in(&mut session).await;
    session.close().await;
    result
}

async fn read_in(session: &mut Session) -> Result<ReplicaReading, ReplicaSqlError> {
    let rows = session.rows("SHOW SLAVE STATUS").await?;
    let row = rows.into_iter().next().map(row_pairs);
    let positions = session
        .rows(
            "SELECT @@global.gtid_slave_pos, @@global.gtid_current_pos, \
             @@global.slave_net_timeout",
        )
        .await?;
    let pairs = positions
        .into_iter()
        .next()
        .map(row_pairs)
        .unwrap_or_default();
    let value = |i: usize| {
        pairs
            .get(i)
            .and_then(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Ok(ReplicaReading {
        row,
        gtid_slave_pos: value(0),
        gtid_current_pos: value(1),
        net_timeout_s: value(2).parse().ok(),
    })
}

/// `STOP SLAVE; CHANGE MASTER TO …; START SLAVE`, pointing the replica at `target`.
pub async fn configure(
    endpoint: &ReplicaEndpoint,
    target: &SourceTarget,
) -> Result<(), ReplicaSqlError> {
    let mut session = Session::open(endpoint, REPLICA_CONFIGURE_TIMEOUT_MS).await?;
    let mut result = Ok(());
    for sql in crate::replica::configure_statements(target) {
        result = session.exec(&sql.text, &sql.shown).await;
        if result.is_err() {
            break;
        }
    }
    session.close().await;
    result
}

/// The local source's `@@gtid_binlog_pos`, as the admin user over the socket.
pub async fn source_binlog_pos(cfg: &Mysqld) -> Result<String, ReplicaSqlError> {
    let address = cfg.socket.display().to_string();
    let deadline = Instant::now() + Duration::from_millis(REPLICA_QUERY_TIMEOUT_MS);
    let timeout = |operation: &str| ReplicaSqlError::Timeout {
        address: address.clone(),
        operation: operation.into(),
        timeout_ms: REPLICA_QUERY_TIMEOUT_MS,
    };
    let socket = cfg.socket.to_string_lossy().to_string();
    let opts = OptsBuilder::default()
        .socket(Some(socket))
        .user(Some(cfg.admin_user.as_str()));
    let mut conn = match timeout_at(deadline, Conn::new(opts)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Err(ReplicaSqlError::Connect {
                address,
                error: e.to_string(),
            })
        }
        Err(_) => return Err(timeout("connect")),
    };
    let sql = "SELECT @@global.gtid_binlog_pos";
    let outcome = timeout_at(deadline, conn.query_first::<String, _>(sql)).await;
    let bound = Duration::from_millis(DISCONNECT_TIMEOUT_MS);
    let _ = tokio::time::timeout(bound, conn.disconnect()).await;
    match outcome {
        Ok(Ok(value)) => Ok(value.unwrap_or_default()),
        Ok(Err(e)) => Err(ReplicaSqlError::Query {
            address,
            sql: sql.into(),
            error: e.to_string(),
        }),
        Err(_) => Err(timeout(sql)),
    }
}

/// Creates the binlog directory when it is missing, owned by the server's user: the server
/// does not create it, and on a fresh filesystem it is not there.
pub fn prepare_binlog_dir(dir: &Path, user: &str) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let owner = nix::unistd::User::from_name(user)
        .map_err(|e| format!("cannot look up user {user}: {e}"))?
        .ok_or_else(|| format!("no user {user} to own {}", dir.display()))?;
    nix::unistd::chown(dir, Some(owner.uid), Some(owner.gid))
        .map_err(|e| format!("cannot chown {} to {user}: {e}", dir.display()))
}

/// The last error in `error`'s source chain: mysql_async wraps an I/O error twice, each
/// layer repeating "Input/output error", while the cause alone says what happened
/// ("No route to host (os error 113)").
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
}

/// A row as (column, text value) pairs; NULL is `None`.
pub(crate) fn row_pairs(row: Row) -> ReplicaRow {
    let columns: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().to_string())
        .collect();
    let values = row.unwrap_raw();
    columns
        .into_iter()
        .zip(values)
        .map(|(name, value)| (name, value.and_then(value_text)))
        .collect()
}

fn value_text(value: Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        other => Some(other.as_sql(true)),
    }
}

/// One connection to a replica with the deadline all of its steps share.
pub(crate) struct Session {
    conn: Conn,
    address: String,
    deadline: Instant,
    timeout_ms: u64,
}

impl Session {
    pub(crate) async fn open(
        endpoint: &ReplicaEndpoint,
        timeout_ms: u64,
    ) -> Result<Session, ReplicaSqlError> {
        let address = endpoint.address();
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let opts = OptsBuilder::default()
            .ip_or_hostname(endpoint.host.clone())
            .tcp_port(endpoint.port)
            .user(Some(endpoint.credentials.user.clone()))
            .pass(Some(endpoint.credentials.password.clone()))
            .prefer_socket(false);
        match timeout_at(deadline, Conn::new(opts)).await {
            Ok(Ok(conn)) => Ok(Session {
                conn,
                address,
                deadline,
                timeout_ms,
            }),
            Ok(Err(mysql_async::Error::Server(e))) if ACCESS_DENIED_CODES.contains(&e.code) => {
                Err(ReplicaSqlError::Login {
                    address,
                    user: endpoint.credentials.user.clone(),
                    error: e.message,
                })
            }
            Ok(Err(e)) => Err(ReplicaSqlError::Connect {
                address,
                error: innermost(&e),
            }),
            Err(_) => Err(ReplicaSqlError::Timeout {
                address,
                operation: "connect".into(),
                timeout_ms,
            }),
        }
    }

    fn timeout(&self, operation: &str) -> ReplicaSqlError {
        ReplicaSqlError::Timeout {
            address: self.address.clone(),
            operation: operation.into(),
            timeout_ms: self.timeout_ms,
        }
    }

    pub(crate) async fn rows(&mut self, sql: &str) -> Result<Vec<Row>, ReplicaSqlError> {
        match timeout_at(self.deadline, self.conn.query::<Row, _>(sql)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(self.query_error(sql, e)),
            Err(_) => Err(self.timeout(sql)),
        }
    }

    /// Runs `sql`; errors show `shown` instead, which hides the password.
    pub(crate) async fn exec(&mut self, sql: &str, shown: &str) -> Result<(), ReplicaSqlError> {
        match timeout_at(self.deadline, self.conn.query_drop(sql)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.query_error(shown, e)),
            Err(_) => Err(self.timeout(shown)),
        }
    }

    fn query_error(&self, sql: &str, error: mysql_async::Error) -> ReplicaSqlError {
        ReplicaSqlError::Query {
            address: self.address.clone(),
            sql: sql.into(),
            error: error.to_string(),
        }
    }

    pub(crate) async fn close(self) {
        let bound = Duration::from_millis(DISCONNECT_TIMEOUT_MS);
        let _ = tokio::time::timeout(bound, self.conn.disconnect()).await;
    }
}
