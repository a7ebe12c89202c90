//! Compaction: once the file holds more than [`MAX_FILE_RECORDS`] records, it is rewritten
//! with the newest [`MAX_RETAINED_ENTRIES`] records, the newest record of each state key
//! ([`Compactable::state_key`]) however old, and every record of a kind this build does not
//! know (it cannot tell whether they define state). Kept records are copied byte for byte, in
//! file order: sequence numbers, times and checksums stay as they were.
//!
//! # Steps, and what a crash at each leaves
//! 1. Read the file twice: first to classify each record, then to copy the kept ones into
//!    `journal.compacting` beside it (created new, mode 0600, locked), then fsync it. A crash
//!    here leaves the journal whole and a stray temporary file, which the next open removes.
//! 2. Rename it over the journal (atomic: the name leads to the old or the new file, both
//!    complete), then fsync the directory. Until the directory is synced, a crash may bring
//!    back the old file, which is complete too.
//! 3. Swap the handle: the new file is already locked, the old one is let go (see `disk`).
//!    Appends go to the new file only once the directory sync succeeded; if it failed, the
//!    journal refuses appends (a record in a file whose name may be undone is not durable)
//!    until tandemd is restarted.

use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::disk::{self, Disk, FILE_MODE};
use super::scan::{self, Step};
use super::{Compactable, JournalError, MAX_FILE_RECORDS, MAX_RETAINED_ENTRIES};

/// Appended to the journal's name for the file compaction writes before the rename.
pub const COMPACTION_TEMP_SUFFIX: &str = ".compacting";

/// After a failed compaction (a full disk, say), how many more appends before the next try:
/// a failing rewrite must not be retried, and fail, at every append.
const COMPACTION_RETRY_RECORDS: usize = 256;

/// Test hook: where [`super::Journal::compact_crashing_at`] stops, as if the process died.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The temporary file is complete and synced; the rename has not happened.
    BeforeRename,
    /// The rename and the directory sync happened; the process never swapped its handle.
    AfterRename,
}

/// What one compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    pub records_before: usize,
    pub records_after: usize,
    pub length_bytes_before: u64,
    pub length_bytes_after: u64,
}

/// What compaction needs to know of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Written by a newer tandem: kept, because it may define state this build cannot see.
    Unknown,
    History,
    State(String),
}

/// Which records to keep: every unknown one, the newest `history` known ones, and the newest
/// of each state key. Pure.
pub(super) fn select(kinds: &[Kind], history: usize) -> Vec<bool> {
    let mut keep = vec![false; kinds.len()];
    let mut known_seen = 0;
    let mut keys_seen = HashSet::new();
    for (index, kind) in kinds.iter().enumerate().rev() {
        keep[index] = match kind {
            Kind::Unknown => true,
            Kind::History => known_seen < history,
            Kind::State(key) => keys_seen.insert(key) || known_seen < history,
        };
        if *kind != Kind::Unknown {
            known_seen += 1;
        }
    }
    keep
}

/// Compacts when the file is above its bound; `None` when it is not.
pub(super) fn compact_if_due<T: DeserializeOwned + Compactable>(
    disk: &mut Disk,
) -> Option<Result<Compaction, JournalError>> {
    (disk.known_records > disk.compact_above_records).then(|| compact::<T>(disk, None))
}

/// Rewrites the file as the module documentation describes.
pub(super) fn compact<T: DeserializeOwned + Compactable>(
    disk: &mut Disk,
    crash: Option<CrashPoint>,
) -> Result<Compaction, JournalError> {
    let result = rewrite::<T>(disk, crash);
    match &result {
        Ok(_) => disk.compact_above_records = MAX_FILE_RECORDS,
        Err(_) => disk.compact_above_records = disk.known_records + COMPACTION_RETRY_RECORDS,
    }
    result
}

fn rewrite<T: DeserializeOwned + Compactable>(
    disk: &mut Disk,
    crash: Option<CrashPoint>,
) -> Result<Compaction, JournalError> {
    let compact_error = |error| JournalError::Compact {
        path: disk.path.clone(),
        error,
    };
    let kinds = classify::<T>(disk).map_err(compact_error)?;
    let keep = select(&kinds, MAX_RETAINED_ENTRIES);
    let temp = temp_path(&disk.path);
    let (file, length_bytes) = match write_temp(disk, &temp, &keep) {
        Ok(written) => written,
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            return Err(error);
        }
    };
    let done = Compaction {
        records_before: kinds.len(),
        records_after: keep.iter().filter(|&&kept| kept).count(),
        length_bytes_before: disk.length_bytes,
        length_bytes_after: length_bytes,
    };
    if crash == Some(CrashPoint::BeforeRename) {
        return Ok(done);
    }
    if let Err(error) = std::fs::rename(&temp, &disk.path) {
        let _ = std::fs::remove_file(&temp);
        return Err(compact_error(error));
    }
    let synced = disk::sync_dir(&disk.path);
    if crash == Some(CrashPoint::AfterRename) {
        return Ok(done);
    }
    // The new file is the journal now, and it is locked: keep it, so that the lock still
    // covers the name whatever happens next.
    disk.file = file;
    disk.length_bytes = length_bytes;
    disk.known_records = done.records_after - disk.unknown_records;
    if let Err(error) = synced {
        // A crash could still bring back the old name, and with it the old file: appends to
        // the new one could then be lost. Refuse them.
        let reason = format!("the rename of the compacted file may not be durable: {error}");
        disk.broken = Some(reason.clone());
        return Err(JournalError::Broken {
            path: disk.path.clone(),
            reason,
        });
    }
    Ok(done)
}

/// The kind of each intact record up to the known end of the file.
fn classify<T: DeserializeOwned + Compactable>(disk: &Disk) -> std::io::Result<Vec<Kind>> {
    let mut kinds = Vec::with_capacity(disk.records());
    for_each_record(disk, |payload| {
        let (_, entry) = scan::decode_payload::<T>(payload)
            .map_err(|damage| std::io::Error::other(damage.to_string()))?;
        kinds.push(match entry.map(|entry| entry.event.state_key()) {
            None => Kind::Unknown,
            Some(None) => Kind::History,
            Some(Some(key)) => Kind::State(key),
        });
        Ok(())
    })?;
    Ok(kinds)
}

/// Creates, locks and fills the temporary file with the kept records, and fsyncs it.
fn write_temp(
    disk: &Disk,
    temp: &Path,
    keep: &[bool],
) -> Result<(nix::fcntl::Flock<File>, u64), JournalError> {
    let compact_error = |error| JournalError::Compact {
        path: disk.path.clone(),
        error,
    };
    // A stray file is from a compaction that died; the journal itself is whole.
    match std::fs::remove_file(temp) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(compact_error(error))
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(temp)
        .map_err(compact_error)?;
    let file = disk::lock(file, temp)?;
    let mut out = BufWriter::new(&*file);
    let mut index = 0;
    let mut length_bytes = 0;
    for_each_record(disk, |payload| {
        if keep.get(index).copied().unwrap_or(false) {
            let record = disk::frame(payload).map_err(std::io::Error::other)?;
            out.write_all(&record)?;
            length_bytes += record.len() as u64;
        }
        index += 1;
        Ok(())
    })
    .and_then(|()| out.flush())
    .map_err(compact_error)?;
    drop(out);
    if index != keep.len() {
        let error = std::io::Error::other("the file changed between the two passes");
        return Err(compact_error(error));
    }
    file.sync_all().map_err(compact_error)?;
    Ok((file, length_bytes))
}

/// Calls `each` with the payload of every record up to the known end of the file; damage there
/// (the file changed under the daemon) is an error, and the file is left as it is.
fn for_each_record(
    disk: &Disk,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut file: &File = &disk.file;
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(file.take(disk.length_bytes));
    loop {
        match scan::read_record(&mut reader)? {
            Step::End => return Ok(()),
            Step::Record(payload) => each(&payload)?,
            Step::Damaged(damage) => {
                return Err(std::io::Error::other(format!(
                    "a record became damaged since the journal was opened ({damage})"
                )))
            }
        }
    }
}

/// The temporary file beside `path`.
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(COMPACTION_TEMP_SUFFIX);
    path.with_file_name(name)
}

/// Removes the temporary file an interrupted compaction left; says so, for the open report.
pub(super) fn remove_stray_temp(path: &Path) -> Option<String> {
    let temp = temp_path(path);
    let shown = temp.display();
    match std::fs::remove_file(&temp) {
        Ok(()) => Some(format!(
            "journal {}: removed {shown}, left by a compaction that was interrupted; the \
             journal itself is complete",
            path.display()
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => Some(format!(
            "journal {}: cannot remove {shown}, left by an interrupted compaction ({error}); \
             the journal itself is complete",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{select, Kind};

    fn state(key: &str) -> Kind {
        Kind::State(key.to_string())
    }

    #[test]
    fn keeps_the_newest_history_the_newest_state_per_key_and_every_unknown_record() {
        let kinds = [
            state("split-brain"), // superseded by the newer split-brain record
            state("stale:a"),     // the newest of its key, outside the window
            Kind::Unknown,        // cannot be classified: kept
            state("split-brain"), // the newest of its key, outside the window
            Kind::History,        // outside the window
            Kind::History,
            state("stale:a"), // inside the window anyway
            Kind::History,
        ];
        let keep = select(&kinds, 3);
        assert_eq!(
            keep,
            [false, false, true, true, false, true, true, true],
            "the newer stale:a record supersedes the older one"
        );
    }

    #[test]
    fn unknown_records_do_not_count_towards_the_window() {
        let kinds = [Kind::History, Kind::Unknown, Kind::Unknown, Kind::History];
        assert_eq!(select(&kinds, 2), [true, true, true, true]);
        assert_eq!(select(&kinds, 1), [false, true, true, true]);
        assert_eq!(select(&[], 1), Vec::<bool>::new());
    }
}
