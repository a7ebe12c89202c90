//! What can go wrong with the journal, in sentences for the operator.

use std::path::PathBuf;

use super::{MAX_RECORD_BYTES, WRITE_QUEUE_CAPACITY};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot create the journal directory {dir}: {error}")]
    CreateDir { dir: PathBuf, error: std::io::Error },
    #[error("cannot open the journal {path}: {error}")]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "refused: the journal {path} is locked by another process; is another tandemd running?"
    )]
    Locked { path: PathBuf },
    #[error("cannot read the journal {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "cannot save a copy of the damaged journal {path} as {copy}: {error}; it was left as it is"
    )]
    SaveCopy {
        path: PathBuf,
        copy: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot cut the damaged journal {path} back to {length_bytes} bytes: {error}")]
    Truncate {
        path: PathBuf,
        length_bytes: u64,
        error: std::io::Error,
    },
    #[error("the event cannot be serialized: {0}")]
    Encode(serde_json::Error),
    #[error("refused: the event serializes to {length_bytes} bytes, above the {MAX_RECORD_BYTES}-byte record limit")]
    RecordTooLong { length_bytes: usize },
    #[error("cannot write to the journal {path}: {error}; the event was not recorded")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("refused: the journal {path} cannot be appended to safely ({reason}); restart tandemd to re-open it")]
    Broken { path: PathBuf, reason: String },
    #[error(
        "cannot compact the journal {path}: {error}; it keeps growing until a compaction succeeds"
    )]
    Compact {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot start the journal writer thread for {path}: {error}")]
    StartWriter {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "JOURNAL RECORD NOT WRITTEN: the queue to the journal {path} is full ({WRITE_QUEUE_CAPACITY} \
         records: the disk has not finished a write for a long time); the record is kept in \
         memory only and a restart will forget it ({unwritten_total} such records since start)"
    )]
    QueueFull { path: PathBuf, unwritten_total: u64 },
    #[error(
        "JOURNAL RECORD NOT WRITTEN: the journal writer thread for {path} has stopped; the \
         record is kept in memory only and a restart will forget it ({unwritten_total} such \
         records since start)"
    )]
    WriterGone { path: PathBuf, unwritten_total: u64 },
}
