//! Replica administration for `tandem replica promote`: read a replica's positions and
//! binlog settings, wait for it to apply what it received, make one the primary, and wait
//! for the others to reach a position. Each call opens one session (exec/replica.rs), bounded
//! by its own deadline.

use super::replica::{row_pairs, ReplicaEndpoint, ReplicaSqlError, Session};
use crate::replica::slave_status;

/// Reading a replica's positions.
pub const READ_TIMEOUT_MS: u64 = 3_000;
/// Applying the relay log a replica already received (MHA's "apply differential relay
/// logs"); a replica further behind than this is reported, not waited on.
pub const RELAY_APPLY_TIMEOUT_MS: u64 = 60_000;
/// STOP SLAVE, RESET SLAVE ALL and read_only on the new primary.
pub const PROMOTE_TIMEOUT_MS: u64 = 10_000;
/// A follower fetching and applying what the new primary has and it lacks.
pub const CATCH_UP_TIMEOUT_MS: u64 = 60_000;

/// What the promotion needs to know of one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    /// `@@gtid_current_pos`: everything it has applied or written.
    pub current_pos: String,
    /// `Gtid_IO_Pos`: what its IO thread received (none without a source).
    pub io_pos: Option<String>,
    /// Binary log on, and replicated transactions logged in it: the others can fetch from it.
    pub log_bin: bool,
    pub log_slave_updates: bool,
}

/// Reads the positions and the binlog settings.
pub async fn read_positions(endpoint: &ReplicaEndpoint) -> Result<Positions, ReplicaSqlError> {
    let mut session = Session::open(endpoint, READ_TIMEOUT_MS).await?;
    let result = read_in(&mut session).await;
    session.close().await;
    result
}

async fn read_in(session: &mut Session) -> Result<Positions, ReplicaSqlError> {
    let slave = session.rows("SHOW SLAVE STATUS").await?;
    let io_pos = slave
        .into_iter()
        .next()
        .map(row_pairs)
        .and_then(|row| slave_status::parse(&row).ok())
        .map(|s| s.gtid_io_pos);
    let sql = "SELECT @@global.gtid_current_pos, @@global.log_bin, @@global.log_slave_updates";
    let pairs = session
        .rows(sql)
        .await?
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
    Ok(Positions {
        current_pos: value(0),
        io_pos,
        log_bin: value(1) == "1",
        log_slave_updates: value(2) == "1",
    })
}

/// `SELECT MASTER_GTID_WAIT(pos, timeout)`: true when the replica's `gtid_slave_pos` reached
/// `pos` in time.
pub async fn wait_for(
    endpoint: &ReplicaEndpoint,
    pos: &str,
    timeout_ms: u64,
) -> Result<bool, ReplicaSqlError> {
    let margin_ms = READ_TIMEOUT_MS;
    let mut session = Session::open(endpoint, timeout_ms + margin_ms).await?;
    let quoted = pos.replace(['\'', '\\'], "");
    let sql = format!(
        "SELECT MASTER_GTID_WAIT('{quoted}', {})",
        timeout_ms as f64 / 1000.0
    );
    let result = session.rows(&sql).await;
    session.close().await;
    let value = result?
        .into_iter()
        .next()
        .map(row_pairs)
        .and_then(|r| r.into_iter().next())
        .and_then(|(_, v)| v);
    Ok(value.as_deref() == Some("0"))
}

/// Makes the replica a primary: its replication stopped and forgotten, writes allowed.
pub async fn make_primary(endpoint: &ReplicaEndpoint) -> Result<(), ReplicaSqlError> {
    let mut session = Session::open(endpoint, PROMOTE_TIMEOUT_MS).await?;
    let mut result = Ok(());
    for sql in [
        "STOP SLAVE",
        "RESET SLAVE ALL",
        "SET GLOBAL read_only = OFF",
    ] {
        result = session.exec(sql, sql).await;
        if result.is_err() {
            break;
        }
    }
    session.close().await;
    result
}

/// `@@global.gtid_binlog_pos` of a server reached over TCP (the old pair's VIP).
pub async fn binlog_pos(endpoint: &ReplicaEndpoint) -> Result<String, ReplicaSqlError> {
    let mut session = Session::open(endpoint, READ_TIMEOUT_MS).await?;
    let result = session.rows("SELECT @@global.gtid_binlog_pos").await;
    session.close().await;
    Ok(result?
        .into_iter()
        .next()
        .map(row_pairs)
        .and_then(|r| r.into_iter().next())
        .and_then(|(_, v)| v)
        .unwrap_or_default())
}
