//! A MySQL client in the client namespace that writes a row every 10 ms through the VIP and
//! remembers every write the server acknowledged (a Jepsen-style acknowledged-write check).

use mysql_async::prelude::Queryable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The client's own patience: a write or connect that takes longer is abandoned and retried
/// on a fresh connection (the old server may be gone without a RST).
const CLIENT_TIMEOUT: Duration = Duration::from_millis(250);
const WRITE_INTERVAL: Duration = Duration::from_millis(10);
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-password";

/// Creates the table and an application user that logs in over TCP.
pub async fn setup_schema(cfg: &tandem::config::MysqldSettings) {
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(cfg.socket.display().to_string()))
        .user(Some("root"));
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    for sql in [
        "CREATE DATABASE IF NOT EXISTS lab".to_string(),
        "CREATE TABLE IF NOT EXISTS lab.writes (id BIGINT PRIMARY KEY, at DOUBLE) ENGINE=InnoDB"
            .to_string(),
        format!("CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'"),
        format!("GRANT ALL ON lab.* TO '{APP_USER}'@'%'"),
    ] {
        conn.query_drop(sql).await.unwrap();
    }
    conn.disconnect().await.unwrap();
}

/// Every id the server has.
pub async fn stored_ids(cfg: &tandem::config::MysqldSettings) -> Vec<u64> {
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(cfg.socket.display().to_string()))
        .user(Some("root"));
    let mut conn = mysql_async::Conn::new(opts).await.unwrap();
    let ids: Vec<u64> = conn
        .query("SELECT id FROM lab.writes ORDER BY id")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    ids
}

#[derive(Debug, Default)]
pub struct WriteLog {
    /// Ids whose INSERT the server acknowledged (autocommit: acknowledged = committed).
    pub acked: Vec<u64>,
    /// Writes that failed or timed out: their fate is unknown, so nothing is claimed.
    pub failed: usize,
    /// The longest time between two acknowledged writes.
    pub longest_gap: Duration,
    /// The last id tried; the next run starts after it (ids are primary keys).
    pub last_id: u64,
}

/// Writes ids after `previous_id` until `stop` is set, through `host:3306`.
pub async fn write_until(stop: &AtomicBool, host: &str, previous_id: u64) -> WriteLog {
    write_until_with(stop, host, previous_id, CLIENT_TIMEOUT).await
}

/// [`write_until`] with the client's patience for one connect or write set by the caller.
pub async fn write_until_with(
    stop: &AtomicBool,
    host: &str,
    previous_id: u64,
    client_timeout: Duration,
) -> WriteLog {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(3306)
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(Some("lab"));
    let mut log = WriteLog::default();
    let mut conn: Option<mysql_async::Conn> = None;
    let mut last_ack = Instant::now();
    let mut id = previous_id;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(WRITE_INTERVAL).await;
        if conn.is_none() {
            conn = tokio::time::timeout(client_timeout, mysql_async::Conn::new(opts.clone()))
                .await
                .ok()
                .and_then(Result::ok);
            if conn.is_none() {
                continue;
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        id += 1;
        let insert = c.exec_drop(
            "INSERT INTO writes (id, at) VALUES (?, UNIX_TIMESTAMP(NOW(6)))",
            (id,),
        );
        match tokio::time::timeout(client_timeout, insert).await {
            Ok(Ok(())) => {
                log.acked.push(id);
                log.longest_gap = log.longest_gap.max(last_ack.elapsed());
                last_ack = Instant::now();
            }
            _ => {
                log.failed += 1;
                conn = None;
            }
        }
    }
    log.last_id = id;
    log
}
