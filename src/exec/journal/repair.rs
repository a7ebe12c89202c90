//! Cutting damage off the journal on open: tell a torn tail from lost records, keep a copy of
//! the file when acknowledged records are dropped, truncate, fsync, and word the warning.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::scan::{self, Damage, Scan};
use super::{now_unix_ms, read_error, JournalError, OpenReport};

/// Saves a copy when acknowledged records are about to be dropped, truncates to the last
/// intact record, fsyncs, and returns the warning.
pub(super) fn repair<T>(
    path: &Path,
    file: &File,
    scanned: &Scan<T>,
    damage: &Damage,
    report: &mut OpenReport,
) -> Result<String, JournalError> {
    let following = intact_records_after(path, file, scanned.good_end)?;
    let offset = scanned.good_end;
    let dropped = report.truncated_bytes;
    let kept = scanned.records;
    let torn_tail = damage.is_short() && following == 0;
    // A copy that cannot be made (a full disk, say) must not keep the daemon from starting:
    // the failure is named in the warning instead.
    let copy = match torn_tail {
        true => String::new(),
        false => match save_copy(path) {
            Ok(copy) => {
                let shown = format!("the file as found is saved as {}", copy.display());
                report.damaged_copy = Some(copy);
                shown
            }
            Err(error) => format!("no copy of the file as found could be saved ({error})"),
        },
    };
    file.set_len(offset)
        .and_then(|()| file.sync_all())
        .map_err(|error| JournalError::Truncate {
            path: path.to_path_buf(),
            length_bytes: offset,
            error,
        })?;
    let path = path.display();
    if torn_tail {
        return Ok(format!(
            "journal {path}: the last record was torn, as by a power loss during a write \
             ({damage}); dropped {dropped} bytes at offset {offset} and kept {kept} records"
        ));
    }
    Ok(format!(
        "JOURNAL DAMAGED: {path} has a bad record at offset {offset} ({damage}), followed by \
         {following} intact-looking records; kept the {kept} records before it and dropped \
         {dropped} bytes from there; {copy}. Dropped records may \
         include automatic failovers, so the anti-flapping guard may allow one sooner than it \
         should"
    ))
}

/// Reads up to [`scan::MAX_RESYNC_SCAN_BYTES`] from the damaged record on and counts the intact
/// records found there.
fn intact_records_after(path: &Path, file: &File, offset: u64) -> Result<usize, JournalError> {
    let mut reader = file;
    let mut tail = Vec::new();
    reader
        .seek(SeekFrom::Start(offset))
        .and_then(|_| {
            reader
                .take(scan::MAX_RESYNC_SCAN_BYTES as u64)
                .read_to_end(&mut tail)
        })
        .map_err(|error| read_error(path, error))?;
    Ok(scan::intact_records_after(&tail))
}

/// Copies the file as found to `<name>.damaged-<unix_ms>` beside it, durably.
fn save_copy(path: &Path) -> std::io::Result<PathBuf> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{}", now_unix_ms()));
    let copy = path.with_file_name(name);
    std::fs::copy(path, &copy)?;
    File::open(&copy)?.sync_all()?;
    Ok(copy)
}
