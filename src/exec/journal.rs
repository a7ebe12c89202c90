//! The append-only, checksummed journal of what tandem did: promotions, failovers,
//! switchovers, fences. `tandem history` shows it, and the core reads the time of the last
//! automatic failover from it at startup so that a restart does not reset the anti-flapping
//! guard.
//!
//! # On-disk format
//! A sequence of records, each:
//! ```text
//! u32 LE  payload length (at most MAX_RECORD_BYTES)
//! u32 LE  crc32 of the payload (crc32fast, IEEE)
//! payload serde_json of Entry<T> { seq, unix_ms, event }
//! ```
//! There is no file header: an empty file is an empty journal.
//!
//! # Durability
//! [`Journal::append`] writes one record with `O_APPEND` and calls `fdatasync` before it
//! returns. A promotion that the core journaled must survive power loss: otherwise a node that
//! reboots right after an automatic failover would forget it and the anti-flapping guard would
//! let it fail over again at once. When a write or the sync fails, the file is cut back to the
//! last record that was complete, and the event counts as not recorded.
//!
//! # Damage policy (on open)
//! Records are read from the start. At the first record that is short, has a length above
//! [`MAX_RECORD_BYTES`], fails its CRC or is not an entry, reading stops and the file is
//! truncated to the end of the last intact record, then fsynced. Open fails only on I/O errors
//! or a lock held by another process, never because of what the file holds, and it never drops
//! a record before the damaged one; [`OpenReport::warning`] says what happened.
//! - A short record at the end is a torn write (power loss during an append): nothing that was
//!   acknowledged is lost, and the warning says so.
//! - Any other damage, or damage followed by records that still look intact (damage in the
//!   middle), drops records that were once acknowledged. The whole original file is first
//!   copied beside the journal (`journal.damaged-<unix_ms>`; if that fails, the warning says
//!   so and the repair goes on) and the warning is loud: it names the copy and how many
//!   intact-looking records were dropped. Records after the damage are
//!   not kept in place: their framing can no longer be trusted, and appends must follow a
//!   known-good end.
//! - A record whose checksum and framing are intact but whose event this build does not know
//!   (a newer tandem wrote it) is kept in the file, skipped in memory, and counted in the
//!   warning: a downgrade must not destroy history.
//!
//! The journal takes an exclusive `flock` so that two daemons never append to one file.
//! [`read_only`] reads without the lock and without repairing, for `tandem history` on a node
//! whose daemon holds the journal or is stopped.

mod repair;
mod scan;

use nix::fcntl::{Flock, FlockArg};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use scan::Scan;

/// Where the daemon keeps its state.
pub const DEFAULT_JOURNAL_DIR: &str = "/var/lib/tandem";

/// The journal's file name inside [`DEFAULT_JOURNAL_DIR`].
pub const JOURNAL_FILE_NAME: &str = "journal";

/// The largest payload a record may have. Events are a few hundred bytes; 64 KiB leaves room
/// for a long operator reason, and a length field above it is damage: it is never allocated.
pub const MAX_RECORD_BYTES: u32 = 64 * 1024;

/// How many of the newest entries stay in memory for `history` and the anti-flapping lookup.
/// The journal holds milestones (promotions, failovers, switchovers), a handful a day at worst;
/// 4096 reach back far beyond any anti-flapping window while bounding memory to ~1 MiB.
pub const MAX_RETAINED_ENTRIES: usize = 4096;

/// Length + CRC, both u32 LE.
const HEADER_BYTES: usize = 8;

/// Only the daemon's user may list or read its state.
const DIR_MODE: u32 = 0o700;

/// The journal may name operators and reasons; it is private like the directory.
const FILE_MODE: u32 = 0o600;

/// The journal at the default place.
pub fn default_path() -> PathBuf {
    Path::new(DEFAULT_JOURNAL_DIR).join(JOURNAL_FILE_NAME)
}

/// One journaled event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<T> {
    // `seq` must stay the first field: the scan for intact records after damage looks for
    // payloads that start with `{"seq":`.
    /// 1 for the first record, then one more per record: shows gaps and orders equal times.
    pub seq: u64,
    /// Wall-clock time of the append, for the operator and for anti-flapping across restarts.
    pub unix_ms: u64,
    pub event: T,
}

/// What [`Journal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Intact records kept in the file (including any of an unknown kind).
    pub records: usize,
    /// Bytes cut from the end of the file because they were damaged.
    pub truncated_bytes: u64,
    /// Intact records whose event this build cannot decode; kept in the file, not in memory.
    pub unknown_records: usize,
    /// A copy of the file as found, made before records that were once complete were dropped.
    pub damaged_copy: Option<PathBuf>,
    /// What to tell the operator, when anything was not as expected.
    pub warning: Option<String>,
}

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
    #[error("refused: the journal {path} could not be restored after a failed write ({reason}); restart tandemd to re-open it")]
    Broken { path: PathBuf, reason: String },
}

/// An open journal: the file (locked) and the newest entries.
#[derive(Debug)]
pub struct Journal<T> {
    path: PathBuf,
    file: Flock<File>,
    /// Newest entries, oldest first, at most [`MAX_RETAINED_ENTRIES`].
    recent: VecDeque<Entry<T>>,
    /// Sequence number of the next append.
    next_seq: u64,
    /// Where the last intact record ends; a failed append is cut back to here.
    length_bytes: u64,
    /// Set when a failed append could not be undone: further appends would follow garbage.
    broken: Option<String>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (creating it and its directory, mode 0700, if missing), locks, reads every record
    /// and cuts off damage as the module documentation describes.
    pub fn open(path: impl AsRef<Path>) -> Result<(Journal<T>, OpenReport), JournalError> {
        let path = path.as_ref().to_path_buf();
        let file = open_locked(&path)?;
        let scanned: Scan<T> = scan::scan(&mut std::io::BufReader::new(&*file))
            .map_err(|error| read_error(&path, error))?;
        let file_length = file
            .metadata()
            .map_err(|error| read_error(&path, error))?
            .len();
        let mut report = OpenReport {
            records: scanned.records,
            truncated_bytes: file_length.saturating_sub(scanned.good_end),
            unknown_records: scanned.unknown,
            damaged_copy: None,
            warning: None,
        };
        let mut warnings = Vec::new();
        if let Some(damage) = &scanned.damage {
            warnings.push(repair::repair(&path, &file, &scanned, damage, &mut report)?);
        }
        if scanned.unknown > 0 {
            warnings.push(format!(
                "journal {}: {} records are of a kind this tandem does not know (written by a \
                 newer version?); they are kept in the file but not shown",
                path.display(),
                scanned.unknown
            ));
        }
        report.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        let journal = Journal {
            path,
            file,
            recent: scanned.recent,
            next_seq: scanned.last_seq + 1,
            length_bytes: scanned.good_end,
            broken: None,
        };
        Ok((journal, report))
    }

    /// Appends one event and makes it durable (`fdatasync`) before returning it as recorded.
    pub fn append(&mut self, event: T) -> Result<Entry<T>, JournalError>
    where
        T: Clone,
    {
        if let Some(reason) = &self.broken {
            return Err(JournalError::Broken {
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        let entry = Entry {
            seq: self.next_seq,
            unix_ms: now_unix_ms(),
            event,
        };
        let record = encode_record(&entry)?;
        if let Err(error) = self.write_durably(&record) {
            self.roll_back(&error);
            return Err(JournalError::Write {
                path: self.path.clone(),
                error,
            });
        }
        self.length_bytes += record.len() as u64;
        self.next_seq += 1;
        if self.recent.len() == MAX_RETAINED_ENTRIES {
            self.recent.pop_front();
        }
        self.recent.push_back(entry.clone());
        Ok(entry)
    }

    fn write_durably(&self, record: &[u8]) -> std::io::Result<()> {
        let mut file: &File = &self.file;
        file.write_all(record)?;
        file.sync_data()
    }

    /// Cuts a failed append back off; if even that fails, refuses further appends.
    fn roll_back(&mut self, cause: &std::io::Error) {
        let file: &File = &self.file;
        if let Err(error) = file
            .set_len(self.length_bytes)
            .and_then(|()| file.sync_all())
        {
            self.broken = Some(format!("write failed: {cause}; truncate failed: {error}"));
        }
    }
}

/// Reads the journal without locking or changing it. Damage is described in the returned
/// warning and left for the daemon to repair; entries up to it are returned (the newest
/// [`MAX_RETAINED_ENTRIES`], oldest first).
pub fn read_only<T: DeserializeOwned>(
    path: impl AsRef<Path>,
) -> Result<(Vec<Entry<T>>, Option<String>), JournalError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|error| JournalError::Open {
        path: path.to_path_buf(),
        error,
    })?;
    let scanned: Scan<T> =
        scan::scan(&mut std::io::BufReader::new(&file)).map_err(|error| read_error(path, error))?;
    let warning = scanned.damage.map(|damage| {
        format!(
            "journal {}: the record at offset {} is damaged ({damage}); showing the {} records \
             before it; tandemd repairs the file when it opens it",
            path.display(),
            scanned.good_end,
            scanned.records
        )
    });
    Ok((scanned.recent.into(), warning))
}

impl<T> Journal<T> {
    /// The retained entries (see [`MAX_RETAINED_ENTRIES`]), oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry<T>> + '_ {
        self.recent.iter()
    }

    /// The newest `n` retained entries, oldest first.
    pub fn last_n(&self, n: usize) -> impl DoubleEndedIterator<Item = &Entry<T>> + '_ {
        self.recent.iter().skip(self.recent.len().saturating_sub(n))
    }

    /// The newest retained entry whose event matches, e.g. the last automatic failover.
    pub fn last_matching(&self, mut predicate: impl FnMut(&T) -> bool) -> Option<&Entry<T>> {
        self.recent
            .iter()
            .rev()
            .find(|entry| predicate(&entry.event))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length as far as intact records go.
    pub fn length_bytes(&self) -> u64 {
        self.length_bytes
    }
}

fn read_error(path: &Path, error: std::io::Error) -> JournalError {
    JournalError::Read {
        path: path.to_path_buf(),
        error,
    }
}

fn open_locked(path: &Path) -> Result<Flock<File>, JournalError> {
    let open_error = |error| JournalError::Open {
        path: path.to_path_buf(),
        error,
    };
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(|error| JournalError::CreateDir {
                    dir: dir.to_path_buf(),
                    error,
                })?;
        }
    }
    let existed = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(open_error)?;
    if !existed {
        // The new directory entry must be durable too, or a power loss could lose the file.
        let dir = dir.unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(open_error)?;
    }
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            JournalError::Locked {
                path: path.to_path_buf(),
            }
        } else {
            open_error(std::io::Error::from(errno))
        }
    })
}

fn encode_record<T: Serialize>(entry: &Entry<T>) -> Result<Vec<u8>, JournalError> {
    let payload = serde_json::to_vec(entry).map_err(JournalError::Encode)?;
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|&length| length <= MAX_RECORD_BYTES)
        .ok_or(JournalError::RecordTooLong {
            length_bytes: payload.len(),
        })?;
    let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
    record.extend_from_slice(&length.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    Ok(record)
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
