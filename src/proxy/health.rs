//! Whether a replica serves reads, pure: both replication threads running, no error, and
//! `Seconds_Behind_Master` within the lag bound. Anything else drains it, with the reason.

use crate::replica::{SlaveStatus, Thread};

/// `Ok` when the replica may serve reads, else the reason it is drained.
pub fn assess(status: Option<&SlaveStatus>, max_lag_s: u64) -> Result<(), String> {
    let Some(s) = status else {
        return Err("not a replica (SHOW SLAVE STATUS is empty)".to_string());
    };
    if s.io_running != Thread::Yes || s.sql_running != Thread::Yes {
        return Err(format!(
            "replication threads not running (IO {:?}, SQL {:?}){}",
            s.io_running,
            s.sql_running,
            [&s.last_io_error, &s.last_sql_error]
                .iter()
                .find(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    match s.seconds_behind_master {
        None => Err("Seconds_Behind_Master is NULL".to_string()),
        Some(lag) if lag > max_lag_s => Err(format!("{lag} s behind (bound {max_lag_s} s)")),
        Some(_) => Ok(()),
    }
}
