//! The journal file: creating, locking and framing it, appending a record durably, and
//! cutting a failed append back off.
//!
//! # The lock and a file that compaction replaces
//! The lock is an exclusive `flock` on the journal file itself (not on a separate lock file),
//! as in every earlier version, so that an older and a newer tandemd still exclude each other.
//! Compaction replaces the file by renaming a new one over it, and a lock belongs to an inode,
//! not to a name. So:
//! - compaction locks the new file before the rename and releases the old one only after it:
//!   whichever inode an opener finds under the name, the owner holds its lock;
//! - an opener that locked an inode and then finds that the name no longer leads to it (it
//!   opened the old file just before a rename and locked it just after the owner let go)
//!   drops it and opens the name again, where it meets the owner's lock on the new file.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{JournalError, HEADER_BYTES, MAX_FILE_RECORDS, MAX_RECORD_BYTES};

/// Only the daemon's user may list or read its state.
const DIR_MODE: u32 = 0o700;

/// The journal may name operators and reasons; it is private like the directory.
pub(super) const FILE_MODE: u32 = 0o600;

/// How often open tries again when the file was replaced between its open and its lock. Once
/// is the expected most (the owner compacted at that moment; the next try meets its lock);
/// the bound only keeps a pathological loop from spinning.
const MAX_OPEN_ATTEMPTS: usize = 3;

/// The locked journal file and what is known about its contents.
#[derive(Debug)]
pub(super) struct Disk {
    pub path: PathBuf,
    pub file: Flock<File>,
    /// Where the last intact record ends; a failed append is cut back to here.
    pub length_bytes: u64,
    /// Intact records of a kind this build knows: what the compaction bound counts.
    pub known_records: usize,
    /// Intact records of a kind this build does not know: kept, never compacted away.
    pub unknown_records: usize,
    /// Compaction runs once `known_records` is above this: [`MAX_FILE_RECORDS`], raised for
    /// a while after a compaction failed.
    pub compact_above_records: usize,
    /// Set when a failed write could not be undone: further appends would follow garbage.
    pub broken: Option<String>,
}

impl Disk {
    pub fn new(path: PathBuf, file: Flock<File>, length_bytes: u64) -> Disk {
        Disk {
            path,
            file,
            length_bytes,
            known_records: 0,
            unknown_records: 0,
            compact_above_records: MAX_FILE_RECORDS,
            broken: None,
        }
    }

    /// Intact records in the file.
    pub fn records(&self) -> usize {
        self.known_records + self.unknown_records
    }

    /// Appends one framed record (of a known kind) and `fdatasync`s; on failure cuts it back.
    pub fn append(&mut self, record: &[u8]) -> Result<(), JournalError> {
        if let Some(reason) = &self.broken {
            return Err(JournalError::Broken {
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        if let Err(error) = self.write_durably(record) {
            self.roll_back(&error);
            return Err(JournalError::Write {
                path: self.path.clone(),
                error,
            });
        }
        self.length_bytes += record.len() as u64;
        self.known_records += 1;
        Ok(())
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

/// Opens the journal (creating it and its directory if missing) and locks it, making sure the
/// locked file is the one the name leads to (see the module documentation).
pub(super) fn open_locked(path: &Path) -> Result<Flock<File>, JournalError> {
    let open_error = |error| JournalError::Open {
        path: path.to_path_buf(),
        error,
    };
    create_dir(path)?;
    for _ in 0..MAX_OPEN_ATTEMPTS {
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
            sync_dir(path).map_err(open_error)?;
        }
        let file = lock(file, path)?;
        if is_named(&file, path).map_err(open_error)? {
            return Ok(file);
        }
    }
    Err(JournalError::Locked {
        path: path.to_path_buf(),
    })
}

/// Takes the exclusive lock without waiting.
pub(super) fn lock(file: File, path: &Path) -> Result<Flock<File>, JournalError> {
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            JournalError::Locked {
                path: path.to_path_buf(),
            }
        } else {
            JournalError::Open {
                path: path.to_path_buf(),
                error: std::io::Error::from(errno),
            }
        }
    })
}

/// Whether `path` still leads to the open `file`.
fn is_named(file: &File, path: &Path) -> std::io::Result<bool> {
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(named.dev() == open.dev() && named.ino() == open.ino()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

fn create_dir(path: &Path) -> Result<(), JournalError> {
    match parent(path) {
        Some(dir) if !dir.exists() => DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|error| JournalError::CreateDir {
                dir: dir.to_path_buf(),
                error,
            }),
        _ => Ok(()),
    }
}

fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|dir| !dir.as_os_str().is_empty())
}

/// Makes the directory entries of `path`'s directory durable (a new name, a rename).
pub(super) fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(parent(path).unwrap_or(Path::new("."))).and_then(|dir| dir.sync_all())
}

/// Frames a payload: length and CRC32 (both u32 LE), then the payload.
pub(super) fn frame(payload: &[u8]) -> Result<Vec<u8>, JournalError> {
    let length = u32::try_from(payload.len())
        .ok()
        .filter(|&length| length <= MAX_RECORD_BYTES)
        .ok_or(JournalError::RecordTooLong {
            length_bytes: payload.len(),
        })?;
    let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
    record.extend_from_slice(&length.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    Ok(record)
}
