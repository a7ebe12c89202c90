//! Seeding a replica from a consistent copy of the active node's server: the pure part.
//!
//! ```text
//! active node: tandem replica add NAME --to HOST:PORT
//!   mariadb-backup --backup --stream=xbstream ─► frames ─TCP─► tandem replica receive
//!                                                    (replica host: mbstream -x, --prepare,
//!                                                     gtid_slave_pos from the binlog info)
//!   ◄──────────────────────── one reply line: "ok GTID" or "error SENTENCE" ──┘
//! ```
//! The stream is framed (a header line, then `u32` big-endian length + bytes, a zero length
//! ends it) so that the receiver tells a finished backup from a sender that died mid-way:
//! mbstream alone may accept a truncated stream.

use super::gtid::{GtidError, GtidPos};

/// The first line the sender writes: a stray connection (a port scan, a wrong address) is
/// refused before anything touches the datadir.
pub const STREAM_HEADER: &str = "tandem-seed 1\n";
/// One frame carries at most this much: bounds the receiver's buffer.
pub const MAX_FRAME_BYTES: u32 = 1 << 20;
/// The backup's binlog-position files, newest name first (MariaDB 10.11 writes the first;
/// older mariabackup and xtrabackup the second).
pub const BINLOG_INFO_FILES: [&str; 2] = ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"];

/// Where the copy stands in the source's history: the binlog file and offset, and the GTID
/// position a replica seeded from it continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogInfo {
    pub file: String,
    pub position: u64,
    pub gtid: GtidPos,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinlogInfoError {
    #[error(
        "the backup's binlog info is empty: the source has no binary log, so the copy has no \
         GTID position to continue from; enable [replication] on the pair"
    )]
    Empty,
    #[error("the backup's binlog info \"{line}\" is not `FILE<TAB>POSITION<TAB>GTID`")]
    Shape { line: String },
    #[error("the backup's binlog info has a bad GTID: {0}")]
    Gtid(#[from] GtidError),
}

/// Parses `mariadb_backup_binlog_info`: `binlog.000003<TAB>1234<TAB>0-1-42[,1-1-7]`.
/// A copy taken before the source wrote any GTID has no third column: the empty position.
pub fn parse_binlog_info(text: &str) -> Result<BinlogInfo, BinlogInfoError> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let Some(line) = line else {
        return Err(BinlogInfoError::Empty);
    };
    let shape = || BinlogInfoError::Shape {
        line: line.to_string(),
    };
    let mut fields = line.split('\t').map(str::trim);
    let file = fields.next().filter(|f| !f.is_empty()).ok_or_else(shape)?;
    let position = fields
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(shape)?;
    let gtid = fields.next().unwrap_or("").parse()?;
    if fields.next().is_some() {
        return Err(shape());
    }
    Ok(BinlogInfo {
        file: file.to_string(),
        position,
        gtid,
    })
}

/// The receiver's one-line answer once the datadir is ready (or why not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedReply {
    /// Prepared, owned by the server's user, `gtid_slave_pos` set to this position.
    Ready {
        gtid: String,
    },
    Failed {
        error: String,
    },
}

impl SeedReply {
    pub fn line(&self) -> String {
        match self {
            Self::Ready { gtid } => format!("ok {gtid}\n"),
            Self::Failed { error } => format!("error {}\n", error.replace('\n', " ")),
        }
    }

    pub fn parse(line: &str) -> SeedReply {
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(gtid) = line.strip_prefix("ok") {
            return Self::Ready {
                gtid: gtid.trim().to_string(),
            };
        }
        let error = match line.strip_prefix("error ") {
            Some(error) => error.to_string(),
            None if line.is_empty() => {
                "the receiver closed the connection without an answer (see its output)".to_string()
            }
            None => format!("the receiver answered \"{line}\", not tandem's seed protocol"),
        };
        Self::Failed { error }
    }
}

/// Why the receiver refuses a datadir, before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    #[error(
        "a server is running on {datadir} (it holds the lock on {datadir}/ibdata1); stop the \
         replica's server first"
    )]
    ServerRunning { datadir: String },
    #[error(
        "{datadir} is not empty ({entries} entries); add --force to move it aside to \
         {datadir}.before-seed-UNIXTIME (nothing is deleted) and seed a fresh copy"
    )]
    NotEmpty { datadir: String, entries: usize },
}

/// The decision on the target datadir: refuse, or whether to move the old one aside first.
pub fn check_target(
    datadir: &str,
    server_running: bool,
    entries: usize,
    force: bool,
) -> Result<bool, TargetRefusal> {
    if server_running {
        return Err(TargetRefusal::ServerRunning {
            datadir: datadir.to_string(),
        });
    }
    match (entries, force) {
        (0, _) => Ok(false),
        (_, true) => Ok(true),
        (entries, false) => Err(TargetRefusal::NotEmpty {
            datadir: datadir.to_string(),
            entries,
        }),
    }
}
