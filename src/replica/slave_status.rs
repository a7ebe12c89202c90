//! `SHOW SLAVE STATUS` (MariaDB 10.11), from its row as (column, value) pairs into the fields
//! tandem decides on. Pure: tested on rows captured from a real 10.11 replica.

use super::ReplicaRow;

/// A replication thread's state: `Slave_IO_Running` is Yes, No or Connecting (retrying a
/// source it cannot reach or log in to); `Slave_SQL_Running` Yes or No.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    Yes,
    No,
    Connecting,
}

/// The fields of one `SHOW SLAVE STATUS` row that tandem uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveStatus {
    pub master_host: String,
    pub master_port: u16,
    pub master_user: String,
    pub connect_retry_s: u64,
    pub io_running: Thread,
    pub sql_running: Thread,
    pub last_io_errno: u32,
    pub last_io_error: String,
    pub last_sql_errno: u32,
    pub last_sql_error: String,
    /// NULL while a thread does not run.
    pub seconds_behind_master: Option<u64>,
    /// `Slave_Pos`, `Current_Pos` or `No`.
    pub using_gtid: String,
    pub gtid_io_pos: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaveStatusError {
    #[error("SHOW SLAVE STATUS has no column {column} (not a MariaDB 10.x server?)")]
    Missing { column: &'static str },
    #[error("SHOW SLAVE STATUS column {column} = \"{value}\" is not understood")]
    Value { column: &'static str, value: String },
}

/// Parses one row.
pub fn parse(row: &ReplicaRow) -> Result<SlaveStatus, SlaveStatusError> {
    let text = |column: &'static str| -> Result<Option<&str>, SlaveStatusError> {
        row.iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value.as_deref())
            .ok_or(SlaveStatusError::Missing { column })
    };
    let string = |column| Ok(text(column)?.unwrap_or_default().to_string());
    let number = |column: &'static str| -> Result<Option<u64>, SlaveStatusError> {
        match text(column)? {
            None => Ok(None),
            Some(value) => value
                .parse()
                .map(Some)
                .map_err(|_| SlaveStatusError::Value {
                    column,
                    value: value.to_string(),
                }),
        }
    };
    let thread = |column: &'static str| match text(column)? {
        Some("Yes") => Ok(Thread::Yes),
        Some("No") => Ok(Thread::No),
        Some("Connecting") => Ok(Thread::Connecting),
        other => Err(SlaveStatusError::Value {
            column,
            value: other.unwrap_or("NULL").to_string(),
        }),
    };
    let small = |column: &'static str| -> Result<u32, SlaveStatusError> {
        let value = number(column)?.unwrap_or(0);
        u32::try_from(value).map_err(|_| SlaveStatusError::Value {
            column,
            value: value.to_string(),
        })
    };
    let port = small("Master_Port")?;
    Ok(SlaveStatus {
        master_host: string("Master_Host")?,
        master_port: u16::try_from(port).map_err(|_| SlaveStatusError::Value {
            column: "Master_Port",
            value: port.to_string(),
        })?,
        master_user: string("Master_User")?,
        connect_retry_s: number("Connect_Retry")?.unwrap_or(0),
        io_running: thread("Slave_IO_Running")?,
        sql_running: thread("Slave_SQL_Running")?,
        last_io_errno: small("Last_IO_Errno")?,
        last_io_error: string("Last_IO_Error")?,
        last_sql_errno: small("Last_SQL_Errno")?,
        last_sql_error: string("Last_SQL_Error")?,
        seconds_behind_master: number("Seconds_Behind_Master")?,
        using_gtid: string("Using_Gtid")?,
        gtid_io_pos: string("Gtid_IO_Pos")?,
    })
}
